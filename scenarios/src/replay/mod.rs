//! The replayer: drives one scenario through a proxy to a target, as the operator.
//!
//! A [`Harness`] sets the stage for each replay: the target's events it watches, the scripted
//! approver it answers with, and the proxy it logs in to. Either every replay gets a target,
//! an approver and a proxy of its own ([`Isolated`], for proxies that can be started in a
//! moment), or all replays share one of each and are told apart by the user name they log in
//! as ([`Shared`], for a proxy in another process). Either way replays never see each other's
//! state and can run concurrently. Waiting is event-driven: every wait selects over the
//! operator's channel, the approver, the exec output and the target's events, with a deadline
//! per step, and never sleeps to poll.

mod isolated;
mod operator;
mod session;
mod shared;

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

use mock_target::EventLog;

use crate::approver::ScriptedApprover;
use crate::format::{Chunking, Scenario};
use crate::outcome::{Failure, Outcome, Transcript};
use session::Session;

pub use isolated::Isolated;
pub use operator::{connect, AnyHostKey};
pub use shared::{Shared, SharedEnvironment};

/// What a proxy under test is started with for one replay.
pub struct Environment {
    /// The target the proxy must connect to.
    pub target: SocketAddr,
    /// The target's host key, for proxies that verify it (they should).
    pub target_key: PublicKey,
    /// Where an in-process proxy sends approval requests.
    pub approvals: mpsc::Sender<InProcessMessage>,
    /// The same approver over approval protocol v1, for a proxy in another process; there
    /// when the launcher [asked for it](Launcher::wants_websocket_approver).
    pub approver_url: Option<String>,
    /// The key the proxy must log in to the target with, for a target that accepts no other
    /// (OpenSSH's sshd with a real shell); `None` for the mock target, which takes `none`.
    pub identity: Option<Arc<PrivateKey>>,
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

/// What one replay runs against.
pub struct Stage {
    /// Where the operator logs in.
    pub proxy: SocketAddr,
    /// The user name the operator logs in as.
    pub user: String,
    /// What the target saw of this replay.
    pub events: EventLog,
    /// Answers this replay's approval requests.
    pub approver: ScriptedApprover,
    /// Keeps what the replay needs alive (and its registrations in place) until dropped.
    pub guard: Box<dyn Any + Send + Sync>,
}

pub type StageFuture<'a> = Pin<Box<dyn Future<Output = Result<Stage, Failure>> + Send + 'a>>;

/// Sets the stage for each replay.
pub trait Harness: Send + Sync {
    fn stage<'a>(&'a self, options: &'a ReplayOptions) -> StageFuture<'a>;

    /// Whether replays share one approver connection, so that a case which drops or garbles
    /// it would disturb every other replay in flight: such cases must run alone.
    fn shares_approver(&self) -> bool {
        false
    }
}

/// How the replayer logs in to the proxy and how long a step may take.
#[derive(Clone)]
pub struct ReplayOptions {
    /// The user name, where the harness does not choose one per replay.
    pub user: String,
    /// `None` tries the `none` method.
    pub key: Option<Arc<PrivateKey>>,
    pub step_timeout: Duration,
    /// Environment variables every shell sends before the scenario's own `env` (which wins
    /// for the same name), as OpenSSH's `SendEnv` does: the real-bash tier sends `LANG`.
    pub client_env: Vec<(String, String)>,
    /// Answer every request by the mock rule as it arrives, instead of as `request` steps
    /// say: for a replay that checks only that no DENY line runs, whatever the proxy asks.
    pub rule_for_every_request: bool,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            user: "operator".into(),
            key: None,
            step_timeout: Duration::from_secs(5),
            client_env: Vec::new(),
            rule_for_every_request: false,
        }
    }
}

/// Replay `scenario` under `chunking` on a stage from `harness`.
pub async fn replay(
    scenario: &Scenario,
    chunking: Chunking,
    harness: &dyn Harness,
    options: &ReplayOptions,
) -> Outcome {
    let started = Instant::now();
    let mut transcript = Transcript::default();
    let failure = match Session::start(scenario, chunking, harness, options).await {
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
