//! The isolated harness: a fresh mock target, scripted approver and proxy for every replay.

use std::sync::Arc;

use mock_target::MockTarget;

use super::{Environment, Harness, Launcher, ReplayOptions, Stage, StageFuture};
use crate::approver::ScriptedApprover;
use crate::outcome::Failure;

/// Every replay on a stage of its own, with a proxy from `launcher`.
pub struct Isolated {
    pub launcher: Arc<dyn Launcher>,
}

impl Isolated {
    pub fn new(launcher: impl Launcher + 'static) -> Isolated {
        Isolated {
            launcher: Arc::new(launcher),
        }
    }
}

fn setup(expected: &str, actual: impl ToString) -> Failure {
    Failure {
        step: 0,
        expected: expected.to_string(),
        actual: actual.to_string(),
    }
}

impl Harness for Isolated {
    fn stage<'a>(&'a self, options: &'a ReplayOptions) -> StageFuture<'a> {
        Box::pin(async move {
            let target = MockTarget::spawn()
                .await
                .map_err(|error| setup("a mock target", error))?;
            let websocket = self.launcher.wants_websocket_approver();
            let (approver, endpoints) = ScriptedApprover::start(websocket)
                .await
                .map_err(|error| setup("an approver on loopback", error))?;
            let proxy = self
                .launcher
                .launch(Environment {
                    target: target.addr,
                    target_key: target.host_key().clone(),
                    approvals: endpoints.channel,
                    approver_url: endpoints.url,
                    identity: None,
                })
                .await
                .map_err(|error| setup("the proxy starts", error))?;
            Ok(Stage {
                proxy: proxy.address,
                user: options.user.clone(),
                events: target.events.clone(),
                approver,
                guard: Box::new((target, proxy)),
            })
        })
    }
}
