//! A whole chain in one process: mock target, mock approver, and a proxy between them (sshgate
//! or the pass-through control), each on 127.0.0.1:0; and sshgate's settings for a real
//! target instead.
//!
//! Everything stops when the [`Stack`] is dropped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mock_approver::{ApproverLog, Behaviour, InProcessApprover};
use mock_target::{EventLog, MockTarget};
use real_target::RealTarget;
use sshgate::approval::{ApprovalPath, InProcessApprover as ChannelApprover};
use sshgate::credentials::{generate_host_key, TargetKeyPolicy};
use sshgate::target::TargetSettings;
use sshgate::Settings;
use sshgate_wire::{ApprovalRequest, Decision, InProcessMessage};
use tokio::sync::{mpsc, oneshot};

use crate::operator::Operator;
use crate::passthrough::PassThrough;
use crate::process::Server;

/// Which proxy sits between the operator and the mock target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyKind {
    Sshgate,
    PassThrough,
}

pub struct Stack {
    pub target: MockTarget,
    /// What the mock approver saw and answered (empty with [`Approvals::Manual`]).
    pub approvals: ApproverLog,
    /// With [`Approvals::Manual`]: the requests, for the test to answer itself.
    pub manual: Option<mpsc::Receiver<InProcessMessage>>,
    pub proxy: SocketAddr,
    /// Stops the proxy when dropped.
    _proxy: Box<dyn std::any::Any + Send>,
}

/// Who answers approval requests.
#[derive(Debug, Clone)]
pub enum Approvals {
    /// The mock approver with this behaviour.
    Mock(Behaviour),
    /// The test itself, through [`Stack::manual`].
    Manual,
}

/// Requests waiting for a manual answer; a test never has more than a few.
const MANUAL_CAPACITY: usize = 16;

impl Stack {
    pub async fn start(kind: ProxyKind) -> Stack {
        Self::with(
            kind,
            Approvals::Mock(Behaviour::Rule),
            Duration::from_secs(60),
        )
        .await
    }

    /// sshgate with the settings `adjust` makes of [`Settings::for_local_target`] (limits,
    /// keys, recordings, an audit log), the mock approver's rule deciding.
    pub async fn sshgate_with(adjust: impl FnOnce(Settings) -> Settings) -> Stack {
        let target = MockTarget::spawn().await.expect("mock target starts");
        let approver =
            InProcessApprover::spawn(mock_approver::Config::with_behaviour(Behaviour::Rule));
        let approval = ApprovalPath::new(
            Arc::new(ChannelApprover::new(approver.sender)),
            Duration::from_secs(60),
        );
        let settings =
            Settings::for_local_target(generate_host_key(), target.addr, target.host_key());
        let (proxy, stop) = serve_sshgate(adjust(settings), approval).await;
        Stack {
            target,
            approvals: approver.log,
            manual: None,
            proxy,
            _proxy: Box::new(stop),
        }
    }

    /// A stack whose requests go to `approvals` and whose proxy waits at most
    /// `approval_timeout` for a decision.
    pub async fn with(kind: ProxyKind, approvals: Approvals, approval_timeout: Duration) -> Stack {
        let target = MockTarget::spawn().await.expect("mock target starts");
        let (sender, log, manual) = match approvals {
            Approvals::Mock(behaviour) => {
                let approver =
                    InProcessApprover::spawn(mock_approver::Config::with_behaviour(behaviour));
                (approver.sender, approver.log, None)
            }
            Approvals::Manual => {
                let (sender, receiver) = mpsc::channel(MANUAL_CAPACITY);
                (sender, ApproverLog::default(), Some(receiver))
            }
        };
        let (proxy, stop) = match kind {
            ProxyKind::Sshgate => {
                let approval =
                    ApprovalPath::new(Arc::new(ChannelApprover::new(sender)), approval_timeout);
                let (address, stop) = spawn_sshgate(target.addr, target.host_key(), approval).await;
                (address, Box::new(stop) as Box<dyn std::any::Any + Send>)
            }
            ProxyKind::PassThrough => {
                let relay = PassThrough::spawn(target.addr).await;
                (relay.addr, Box::new(relay) as Box<dyn std::any::Any + Send>)
            }
        };
        Stack {
            target,
            approvals: log,
            manual,
            proxy,
            _proxy: stop,
        }
    }

    pub fn events(&self) -> &EventLog {
        &self.target.events
    }

    /// The next request to answer by hand, with its reply (dropping the reply denies).
    pub async fn manual_request(&mut self) -> (ApprovalRequest, oneshot::Sender<Decision>) {
        let receiver = self.manual.as_mut().expect("a stack with manual approvals");
        match tokio::time::timeout(crate::operator::WAIT, receiver.recv()).await {
            Ok(Some(InProcessMessage::Request { request, reply })) => (request, reply),
            other => panic!("expected an approval request, got {other:?}"),
        }
    }

    /// The next message to the manual approver, whatever it is.
    pub async fn manual_message(&mut self) -> Option<InProcessMessage> {
        let receiver = self.manual.as_mut().expect("a stack with manual approvals");
        tokio::time::timeout(crate::operator::WAIT, receiver.recv())
            .await
            .ok()
            .flatten()
    }

    pub async fn operator(&self) -> Operator {
        Operator::connect(self.proxy, "alice", None)
            .await
            .expect("operator connects to the proxy")
    }
}

/// The sshgate binary on 127.0.0.1:0 in front of `target`, its host key pinned, asking the
/// approver at `approver_url`, with `more` flags (how operators log in, what the test is
/// about).
pub fn sshgate_binary(target: &MockTarget, approver_url: &str, more: &[&str]) -> Server {
    let target_address = target.addr.to_string();
    let pinned = sshgate::credentials::fingerprint(target.host_key());
    let mut args = vec![
        "--listen",
        "127.0.0.1:0",
        "--target",
        &target_address,
        "--approver",
        approver_url,
        "--target-fingerprint",
        &pinned,
    ];
    args.extend(more);
    Server::start("sshgate", &args)
}

/// Start sshgate in-process in front of `target`, pinning the target's host key.
pub async fn spawn_sshgate(
    target: SocketAddr,
    target_key: &russh::keys::PublicKey,
    approval: ApprovalPath,
) -> (SocketAddr, oneshot::Sender<()>) {
    let settings = Settings::for_local_target(generate_host_key(), target, target_key);
    serve_sshgate(settings, approval).await
}

/// Start sshgate in-process with `settings` on 127.0.0.1:0; it stops when the sender is
/// dropped.
pub async fn serve_sshgate(
    settings: Settings,
    approval: ApprovalPath,
) -> (SocketAddr, oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(sshgate::run(settings, listener, approval, async {
        let _ = stopped.await;
    }));
    (address, stop)
}

/// sshgate's target settings for a real target: its address, host key checked against its
/// known_hosts file, its client key as the identity, its user as the target user.
pub fn real_target_settings(target: &RealTarget) -> TargetSettings {
    TargetSettings {
        address: target.addr().to_string(),
        user: Some(target.user().to_string()),
        identity: Some(Arc::new(target.client_key().clone())),
        key_policy: TargetKeyPolicy::KnownHosts(target.known_hosts_path()),
    }
}
