//! The pass-through control as a replay launcher (sshgate's own launcher is the conformance
//! runner's `InProcessSshgate`).

use scenarios::replay::{Environment, LaunchFuture, LaunchedProxy, Launcher};

use crate::passthrough::PassThrough;

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
