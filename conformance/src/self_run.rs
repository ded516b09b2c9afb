//! The self-run: the suite against sshgate itself, started in-process for each replay with the
//! replay's target (the mock, or a real shell behind sshd with `--target-shell`) and approver.
//!
//! Every replay's sshgate uses the same host key, so the report names one fingerprint.

use std::sync::Arc;
use std::time::Duration;

use russh::keys::PrivateKey;
use scenarios::replay::{Environment, LaunchFuture, LaunchedProxy, Launcher};
use sshgate::approval::{ApprovalPath, Approver, InProcessApprover, WebSocketApprover};
use sshgate::credentials::{fingerprint, generate_host_key};
use sshgate::Settings;
use tokio::sync::oneshot;

use crate::report::ProxyInfo;

/// sshgate in this process, one instance per replay.
pub struct InProcessSshgate {
    host_key: PrivateKey,
    /// Short, so that cases where the approver never answers end quickly.
    pub approval_timeout: Duration,
    /// Short too: the mock target on loopback echoes in a few milliseconds, and cases whose
    /// lines are never shown (echo off, output stopped) wait this long for each of them.
    pub echo_wait: Duration,
    /// Ask the replay's approver over approval protocol v1 (sshgate's WebSocket client), as a
    /// proxy in another process would, rather than through the in-process channel.
    pub over_websocket: bool,
}

impl Default for InProcessSshgate {
    fn default() -> Self {
        InProcessSshgate {
            host_key: generate_host_key(),
            approval_timeout: Duration::from_secs(1),
            echo_wait: Duration::from_millis(500),
            over_websocket: false,
        }
    }
}

impl InProcessSshgate {
    /// The same, asking over approval protocol v1 instead of the in-process channel.
    pub fn over_websocket() -> Self {
        InProcessSshgate {
            over_websocket: true,
            ..Self::default()
        }
    }

    /// In front of a real shell behind sshd (`--target-shell`, and sshgate's real-shell
    /// tests): sshgate's own echo wait, since a shell behind sshd echoes later than the mock,
    /// and the approval time-out of the real-shell tier, which no case of it waits for.
    pub fn for_real_shell() -> Self {
        InProcessSshgate {
            approval_timeout: crate::real_shell::APPROVAL_TIMEOUT,
            echo_wait: sshgate::target_screen::ECHO_WAIT,
            ..Self::default()
        }
    }

    pub fn info(&self) -> ProxyInfo {
        ProxyInfo {
            description: "sshgate (in-process)".into(),
            ssh_version: Some(sshgate::SSH_VERSION.into()),
            host_key_fingerprint: Some(fingerprint(self.host_key.public_key())),
            output: None,
        }
    }
}

impl Launcher for InProcessSshgate {
    fn wants_websocket_approver(&self) -> bool {
        self.over_websocket
    }

    fn launch(&self, environment: Environment) -> LaunchFuture {
        let mut settings = Settings {
            echo_wait: self.echo_wait,
            ..Settings::for_local_target(
                self.host_key.clone(),
                environment.target,
                &environment.target_key,
            )
        };
        // The target user stays the operator's: the replay logs in as the user sshd takes.
        settings.target.identity = environment.identity;
        let approver: Arc<dyn Approver> = match environment.approver_url {
            Some(url) => Arc::new(WebSocketApprover::spawn(url)),
            None => Arc::new(InProcessApprover::new(environment.approvals)),
        };
        let approval = ApprovalPath::new(approver, self.approval_timeout);
        Box::pin(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|error| error.to_string())?;
            let address = listener.local_addr().map_err(|error| error.to_string())?;
            let (stop, stopped) = oneshot::channel::<()>();
            tokio::spawn(sshgate::run(settings, listener, approval, async {
                let _ = stopped.await;
            }));
            Ok(LaunchedProxy {
                address,
                guard: Box::new(stop),
            })
        })
    }
}
