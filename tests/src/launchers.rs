//! Launchers that put a proxy in front of a replay's mock target and scripted approver:
//! sshgate in-process, and the pass-through control.

use std::sync::Arc;
use std::time::Duration;

use scenarios::replay::{Environment, LaunchFuture, LaunchedProxy, Launcher};
use sshgate::approval::{ApprovalPath, Approver, InProcessApprover, WebSocketApprover};

use crate::passthrough::PassThrough;
use crate::stack::spawn_sshgate;

/// sshgate in this process, asking the replay's approver in-process or over its WebSocket.
pub struct InProcessSshgate {
    pub approval_timeout: Duration,
    pub over_websocket: bool,
}

impl Default for InProcessSshgate {
    fn default() -> Self {
        InProcessSshgate {
            // Short, so that the scenarios where the approver never answers end quickly.
            approval_timeout: Duration::from_secs(1),
            over_websocket: false,
        }
    }
}

impl Launcher for InProcessSshgate {
    fn launch(&self, environment: Environment) -> LaunchFuture {
        let timeout = self.approval_timeout;
        let approver: Arc<dyn Approver> = if self.over_websocket {
            Arc::new(WebSocketApprover::spawn(environment.approver_url.clone()))
        } else {
            Arc::new(InProcessApprover::new(environment.approvals.clone()))
        };
        Box::pin(async move {
            let approval = ApprovalPath::new(approver, timeout);
            let (address, stop) =
                spawn_sshgate(environment.target, &environment.target_key, approval).await;
            Ok(LaunchedProxy {
                address,
                guard: Box::new(stop),
            })
        })
    }
}

/// The control: a relay that gates nothing.
pub struct PassThroughLauncher;

impl Launcher for PassThroughLauncher {
    fn launch(&self, environment: Environment) -> LaunchFuture {
        Box::pin(async move {
            let relay = PassThrough::spawn(environment.target).await;
            Ok(LaunchedProxy {
                address: relay.addr,
                guard: Box::new(relay),
            })
        })
    }
}
