//! Real peers: sshgate in-process in front of OpenSSH's `sshd` with bash behind it (the
//! [`RealTarget`] fixture, whose referee reports every line bash runs), reached by the test's
//! own SSH client (`shell`) or by OpenSSH's `ssh` running inside tmux (`tmux`); bash as
//! the referee of the keystroke model over the scenario corpus (`differential`); the
//! corpus's real-shell tier, its real-shell cases replayed through sshgate and through the
//! pass-through control (`corpus`); and the conformance runner's `--target-shell`, as a third
//! party runs it (`target_shell`); and bulk input through the sshgate binary into an
//! approved exec, by OpenSSH's `ssh` (`bulk_input`); and the shell-side guard in real bash and
//! zsh on a PTY, with the test answering its questions (`guard`, no sshd).
//!
//! Each test starts its own sshd, sshgate and approver. Without sshd installed they are
//! skipped with a message; where `CI` is set that is a failure instead.

mod bulk_input;
mod corpus;
mod differential;
mod guard;
mod guard_attacks;
mod guarded;
mod keys;
mod screen;
mod secrets;
mod shell;
mod target_shell;
mod tmux;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mock_approver::{ApproverLog, Behaviour, InProcessApprover};
use real_target::{RealTarget, TargetOptions};
use sshgate::approval::{ApprovalPath, InProcessApprover as ChannelApprover};
use sshgate::credentials::generate_host_key;
use sshgate::guard::GuardMode;
use sshgate::{ClientAuth, Settings};
use sshgate_tests::operator::Operator;
use tokio::sync::oneshot;

/// Held by the corpus replays and by the bulk streams, which must not share this machine's
/// cores: a shell starved by a 64 MiB stream echoes a paste later than sshgate's echo wait,
/// and sshgate then rightly denies the line unasked (seen in CI on zsh).
static TIMING_SENSITIVE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// sshgate in front of a real target, with the mock approver's rule (deny what contains DENY)
/// unless started with another configuration.
struct Front {
    target: RealTarget,
    approvals: ApproverLog,
    proxy: SocketAddr,
    /// sshgate's host key, for a known_hosts file.
    proxy_key: russh::keys::PrivateKey,
    _stop: oneshot::Sender<()>,
}

impl Front {
    /// None when the test is skipped (no sshd here).
    async fn start(options: TargetOptions, client_auth: ClientAuth) -> Option<Front> {
        let rule = mock_approver::Config::with_behaviour(Behaviour::Rule);
        Self::start_with(options, client_auth, rule).await
    }

    /// [`start`](Self::start) with another approver configuration.
    async fn start_with(
        options: TargetOptions,
        client_auth: ClientAuth,
        approver: mock_approver::Config,
    ) -> Option<Front> {
        Self::launch(options, client_auth, approver, GuardMode::default()).await
    }

    /// [`start`](Self::start) with sshgate's `--guard` set to `guard`.
    async fn start_guarded(options: TargetOptions, guard: GuardMode) -> Option<Front> {
        let rule = mock_approver::Config::with_behaviour(Behaviour::Rule);
        Self::launch(options, ClientAuth::InsecureAcceptAny, rule, guard).await
    }

    async fn launch(
        options: TargetOptions,
        client_auth: ClientAuth,
        approver: mock_approver::Config,
        guard: GuardMode,
    ) -> Option<Front> {
        let target = sshgate_tests::skip::real_target_or_skip(options)?;
        let approver = InProcessApprover::spawn(approver);
        let approval = ApprovalPath::new(
            Arc::new(ChannelApprover::new(approver.sender)),
            Duration::from_secs(60),
        );
        let proxy_key = generate_host_key();
        let settings = Settings {
            host_key: proxy_key.clone(),
            client_auth,
            password_pass_through: false,
            // Host key checked against the target's known_hosts file, identity key, user.
            target: sshgate_tests::stack::real_target_settings(&target),
            echo_wait: sshgate::target_screen::ECHO_WAIT,
            limits: sshgate::accept::ConnectionLimits::default(),
            balancers: Default::default(),
            recording: None,
            audit: sshgate::audit::AuditLog::off(),
            guard,
        };
        let (proxy, stop) = sshgate_tests::stack::serve_sshgate(settings, approval).await;
        Some(Front {
            target,
            approvals: approver.log,
            proxy,
            proxy_key,
            _stop: stop,
        })
    }

    /// A PTY shell through sshgate to bash, once bash has drawn its first prompt.
    async fn shell_at_prompt(&self) -> sshgate_tests::operator::Shell {
        shell_at_prompt(&self.operator().await, &self.target).await
    }

    async fn operator(&self) -> Operator {
        Operator::connect(self.proxy, "operator", None)
            .await
            .expect("operator connects to sshgate")
    }

    /// The commands the approver was asked about, in order.
    fn requested(&self) -> Vec<String> {
        self.approvals
            .requests()
            .into_iter()
            .map(|request| request.command)
            .collect()
    }
}

/// A PTY shell opened by `operator`, once `target`'s bash has drawn its first prompt.
async fn shell_at_prompt(
    operator: &Operator,
    target: &RealTarget,
) -> sshgate_tests::operator::Shell {
    let mut shell = operator.shell().await.unwrap();
    let first = target.next_record().await.unwrap();
    assert_eq!(first, real_target::Record::Prompt);
    shell.expect("$ ").await.unwrap();
    shell
}
