//! The pass-through control as a replay launcher (sshgate's own launcher is the conformance
//! runner's `InProcessSshgate`).

use scenarios::replay::{Environment, LaunchFuture, LaunchedProxy, Launcher};

use crate::passthrough::PassThrough;

/// The control: a relay that gates nothing.
pub struct PassThroughLauncher;

impl Launcher for PassThroughLauncher {
    fn launch(&self, environment: Environment) -> LaunchFuture {
        Box::pin(async move {
            let relay = match environment.identity {
                Some(identity) => {
                    PassThrough::spawn_with_identity(environment.target, (*identity).clone()).await
                }
                None => PassThrough::spawn(environment.target).await,
            };
            Ok(LaunchedProxy {
                address: relay.addr,
                // Nobody asks the approver; its channel stays open all the same, as a proxy
                // that never asks keeps it, or the replay would take the approver's end for
                // the proxy dropping it.
                guard: Box::new((relay, environment.approvals)),
            })
        })
    }
}
