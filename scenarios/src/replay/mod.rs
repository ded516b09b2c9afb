//! The replayer: drives one scenario through a proxy to a fresh mock target, as the operator.
//!
//! Each replay gets its own mock target and scripted approver, and asks a [`Launcher`] for a
//! proxy in front of them, so replays never share state and can run concurrently. Waiting is
//! event-driven: every wait selects over the operator's channel, the approver, the exec
//! output and the target's events, with a deadline per step, and never sleeps to poll.

mod operator;
mod session;

use std::any::Any;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use russh::keys::{PrivateKey, PublicKey};
use sshgate_wire::InProcessMessage;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::format::{Chunking, Scenario};
use crate::outcome::{Outcome, Transcript};
use session::Session;

/// What a proxy under test is started with for one replay.
pub struct Environment {
    /// The mock target the proxy must connect to.
    pub target: SocketAddr,
    /// The mock target's host key, for proxies that verify it (they should).
    pub target_key: PublicKey,
    /// Where an in-process proxy sends approval requests.
    pub approvals: mpsc::Sender<InProcessMessage>,
    /// The same approver over approval protocol v1, for a proxy in another process; there
    /// when the launcher [asked for it](Launcher::wants_websocket_approver).
    pub approver_url: Option<String>,
}

/// A proxy started for one replay; dropping `guard` stops it.
pub struct LaunchedProxy {
    pub address: SocketAddr,
    pub guard: Box<dyn Any + Send + Sync>,
}

pub type LaunchFuture = Pin<Box<dyn Future<Output = Result<LaunchedProxy, String>> + Send>>;

/// Starts the proxy under test in front of a replay's target and approver.
pub trait Launcher: Send + Sync {
    fn launch(&self, environment: Environment) -> LaunchFuture;

    /// Whether the proxy will ask over approval protocol v1 rather than in-process.
    fn wants_websocket_approver(&self) -> bool {
        false
    }
}

/// How the replayer logs in to the proxy and how long a step may take.
#[derive(Clone)]
pub struct ReplayOptions {
    pub user: String,
    /// `None` tries the `none` method.
    pub key: Option<Arc<PrivateKey>>,
    pub step_timeout: Duration,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            user: "operator".into(),
            key: None,
            step_timeout: Duration::from_secs(5),
        }
    }
}

/// Replay `scenario` under `chunking` against a proxy from `launcher`.
pub async fn replay(
    scenario: &Scenario,
    chunking: Chunking,
    launcher: &dyn Launcher,
    options: &ReplayOptions,
) -> Outcome {
    let started = Instant::now();
    let mut transcript = Transcript::default();
    let failure = match Session::start(scenario, chunking, launcher, options).await {
        Ok(mut session) => {
            let failure = session.run(scenario).await.err();
            session.fill(&mut transcript);
            failure
        }
        Err(failure) => Some(failure),
    };
    Outcome {
        id: scenario.id.clone(),
        chunking,
        failure,
        transcript,
        elapsed: started.elapsed(),
    }
}
