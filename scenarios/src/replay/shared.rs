//! The shared harness: one mock target and one WebSocket approver for every replay, in front
//! of one proxy (a proxy in another process has a single target and approver URL).
//!
//! Replays are told apart by the user name each logs in as: the target keeps a log per user
//! and the approver routes each request by the user it names. A proxy graded this way must
//! therefore log in to the target as the operator's user and name that user in its requests,
//! as DESIGN.md asks.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use mock_target::MockTarget;
use russh::keys::PublicKey;
use tokio::net::TcpListener;

use super::{Harness, ReplayOptions, Stage, StageFuture};
use crate::approver::ApprovalRouter;

/// The mock target and the approver, on loopback, before the proxy is known.
pub struct SharedEnvironment {
    target: MockTarget,
    approver: ApprovalRouter,
}

impl SharedEnvironment {
    /// Start the target on `target` and the approver on `approver` (port 0 picks one).
    pub async fn start(
        target: SocketAddr,
        approver: SocketAddr,
    ) -> std::io::Result<SharedEnvironment> {
        let listener = TcpListener::bind(target).await?;
        Ok(SharedEnvironment {
            target: MockTarget::spawn_on(mock_target::Config::default(), listener)?,
            approver: ApprovalRouter::bind(approver).await?,
        })
    }

    pub fn target_address(&self) -> SocketAddr {
        self.target.addr
    }

    pub fn target_key(&self) -> &PublicKey {
        self.target.host_key()
    }

    pub fn approver_url(&self) -> &str {
        self.approver.url()
    }
}

/// Every replay through the proxy at `proxy`, in a [`SharedEnvironment`].
pub struct Shared {
    environment: Arc<SharedEnvironment>,
    proxy: SocketAddr,
    next_user: AtomicU64,
}

impl Shared {
    pub fn new(environment: SharedEnvironment, proxy: SocketAddr) -> Shared {
        Shared {
            environment: Arc::new(environment),
            proxy,
            next_user: AtomicU64::new(1),
        }
    }

    pub fn environment(&self) -> &SharedEnvironment {
        &self.environment
    }
}

/// A replay's user, registered with the target and the approver until dropped.
struct Registration {
    environment: Arc<SharedEnvironment>,
    user: String,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.environment.target.user_logs.forget(&self.user);
        self.environment.approver.forget(&self.user);
    }
}

impl Harness for Shared {
    fn stage<'a>(&'a self, _options: &'a ReplayOptions) -> StageFuture<'a> {
        Box::pin(async move {
            let user = format!("case{}", self.next_user.fetch_add(1, Ordering::Relaxed));
            let environment = &self.environment;
            let events = environment.target.user_logs.register(&user);
            let approver = environment.approver.register(&user);
            Ok(Stage {
                proxy: self.proxy,
                user: user.clone(),
                events,
                approver,
                guard: Box::new(Registration {
                    environment: environment.clone(),
                    user,
                }),
            })
        })
    }

    fn shares_approver(&self) -> bool {
        true
    }
}
