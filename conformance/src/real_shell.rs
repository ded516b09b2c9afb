//! Real shells as the replays' target (`--target-shell`, and sshgate's real-shell tests): a
//! fresh [`RealTarget`] (OpenSSH's sshd with bash, zsh, fish or dash behind it, with a
//! referee) for every replay, whose records become the replayer's target events (each `Line`
//! an `executed` line, each `Exec` an `exec`), so that every wait is on the shell's records,
//! the operator's screen or the approver, never a timer. The target is not a dry run: `stty`
//! and `trap` must really act.
//!
//! Two harnesses:
//! - [`RealShellHarness`]: a proxy of its own for each replay, from a [`Launcher`] (sshgate
//!   in-process, or the pass-through control in sshgate's tests); replays run concurrently.
//! - [`RelayedRealShell`]: one proxy in another process for all replays (`conformance run`),
//!   whose `{target}` is a [`TargetRelay`] to the sshd of the replay on stage. Every target
//!   serves the same host key and accepts the same key, so the proxy's known_hosts and
//!   identity hold throughout. Replays run one at a time: each logs in as the one user sshd
//!   accepts, so neither the approver nor the shell's records could tell two apart.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mock_target::{EventLog, TargetEvent};
use real_target::{RealTarget, Record, Shell, TargetOptions};
use russh::keys::{PrivateKey, PublicKey};
use scenarios::approver::{ApprovalRouter, ScriptedApprover};
use scenarios::format::{Target, Tier};
use scenarios::outcome::Failure;
use scenarios::replay::{Environment, Harness, Launcher, ReplayOptions, Stage, StageFuture};
use scenarios::Scenario;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use crate::target_relay::TargetRelay;

/// Replays at once against in-process proxies: each has its own sshd, shell and proxy, and the
/// machine may have two cores.
pub const CONCURRENCY: usize = 4;
/// How long one step may wait: a shell behind sshd is slower than the mock target, and some
/// cases run `sleep 1`.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(10);
/// sshgate's approval time-out in front of a real shell; no case of the tier leaves a request
/// unanswered.
pub const APPROVAL_TIMEOUT: Duration = Duration::from_secs(30);

/// What the operator's client sends before a scenario's own `env`: `LANG=C.UTF-8`, as
/// OpenSSH's `SendEnv LANG` does for a UTF-8 terminal (sshd accepts `LANG` and `LC_*`).
pub fn client_env() -> Vec<(String, String)> {
    vec![("LANG".into(), "C.UTF-8".into())]
}

/// The shell a case's target names (None for the mock target).
pub fn shell_of(target: Target) -> Option<Shell> {
    match target {
        Target::Mock => None,
        Target::Bash => Some(Shell::Bash),
        Target::Zsh => Some(Shell::Zsh),
        Target::Fish => Some(Shell::Fish),
        Target::Dash => Some(Shell::Dash),
    }
}

/// The guard `shell` sources in `tier` (sshgate's own, the protocol the tier grades).
pub fn guard_for(shell: Shell, tier: Tier) -> Option<String> {
    match tier {
        Tier::Unguarded => None,
        Tier::Guarded => sshgate::guard::script(shell.name()).map(str::to_string),
    }
}

/// Whether `case` is replayed on `shell` (one of its targets).
pub fn runs_on(case: &Scenario, shell: Shell) -> bool {
    case.targets
        .iter()
        .any(|&target| shell_of(target) == Some(shell))
}

fn setup(expected: &str, actual: impl ToString) -> Failure {
    Failure {
        step: 0,
        expected: expected.to_string(),
        actual: actual.to_string(),
    }
}

/// Start a target without blocking the runtime (sshd takes a few milliseconds to come up).
async fn start_target(options: TargetOptions) -> Result<RealTarget, Failure> {
    let expected = format!("{} behind a fresh sshd", options.shell);
    tokio::task::spawn_blocking(move || RealTarget::start(options))
        .await
        .map_err(|error| setup(&expected, error))?
        .map_err(|error| setup(&expected, error))
}

/// Aborts a task when dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The shell's records as the replayer's target events, in order, until aborted.
fn bridge(target: Arc<RealTarget>, events: EventLog) -> AbortOnDrop {
    AbortOnDrop(tokio::spawn(async move {
        loop {
            // An Err is a quiet spell: keep listening.
            match target.next_record().await {
                Ok(Record::Line(line)) => events.push(TargetEvent::Executed { line }),
                Ok(Record::Exec(command)) => events.push(TargetEvent::Exec { command }),
                Ok(Record::Prompt) | Err(_) => {}
            }
        }
    }))
}

/// Every replay on a stage of its own: a fresh target running `shell`, a scripted approver,
/// and a proxy from the launcher in front of them. Keeps the last stage's events for a look
/// after the replay.
pub struct RealShellHarness {
    shell: Shell,
    /// Guarded: the shell sources sshgate's guard, and the referee records through its hook.
    tier: Tier,
    launcher: Arc<dyn Launcher>,
    events: Mutex<Option<EventLog>>,
}

impl RealShellHarness {
    pub fn new(shell: Shell, launcher: impl Launcher + 'static) -> RealShellHarness {
        Self::in_tier(shell, Tier::Unguarded, launcher)
    }

    /// In `tier`: with the guard installed when guarded (bash and zsh only; another shell
    /// fails each replay's setup).
    pub fn in_tier(
        shell: Shell,
        tier: Tier,
        launcher: impl Launcher + 'static,
    ) -> RealShellHarness {
        RealShellHarness {
            shell,
            tier,
            launcher: Arc::new(launcher),
            events: Mutex::new(None),
        }
    }

    pub fn shell(&self) -> Shell {
        self.shell
    }

    pub fn tier(&self) -> Tier {
        self.tier
    }

    /// The target events of the last stage set.
    pub fn events(&self) -> Option<EventLog> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Harness for RealShellHarness {
    fn stage<'a>(&'a self, _options: &'a ReplayOptions) -> StageFuture<'a> {
        Box::pin(async move {
            let options = TargetOptions {
                shell: self.shell,
                guard: guard_for(self.shell, self.tier),
                ..TargetOptions::default()
            };
            let target = Arc::new(start_target(options).await?);
            let events = EventLog::in_memory();
            let bridge = bridge(target.clone(), events.clone());
            let websocket = self.launcher.wants_websocket_approver();
            let (approver, endpoints) = ScriptedApprover::start(websocket)
                .await
                .map_err(|error| setup("an approver on loopback", error))?;
            let proxy = self
                .launcher
                .launch(Environment {
                    target: target.addr(),
                    target_key: target.host_key().clone(),
                    approvals: endpoints.channel,
                    approver_url: endpoints.url,
                    identity: Some(Arc::new(target.client_key().clone())),
                })
                .await
                .map_err(|error| setup("the proxy starts", error))?;
            *self.events.lock().unwrap_or_else(PoisonError::into_inner) = Some(events.clone());
            Ok(Stage {
                proxy: proxy.address,
                // sshd takes only the user running it; a proxy logs in as the operator's user.
                user: target.user().to_string(),
                events,
                approver,
                // The bridge first: it holds the target too.
                guard: Box::new((bridge, proxy, target)),
            })
        })
    }
}

/// What a proxy in another process is started with, before it is known: the relay that is
/// its target, the key every target serves and the key every target accepts, and the
/// approver.
pub struct RealShellEnvironment {
    shell: Shell,
    tier: Tier,
    host_key: PrivateKey,
    identity: PrivateKey,
    relay: TargetRelay,
    approver: ApprovalRouter,
}

impl RealShellEnvironment {
    /// The relay on `target` and the approver on `approver` (port 0 picks one).
    pub async fn start(
        shell: Shell,
        tier: Tier,
        target: SocketAddr,
        approver: SocketAddr,
    ) -> std::io::Result<RealShellEnvironment> {
        Ok(RealShellEnvironment {
            shell,
            tier,
            host_key: sshgate::credentials::generate_host_key(),
            identity: sshgate::credentials::generate_host_key(),
            relay: TargetRelay::bind(target).await?,
            approver: ApprovalRouter::bind(approver).await?,
        })
    }

    pub fn shell(&self) -> Shell {
        self.shell
    }

    pub fn tier(&self) -> Tier {
        self.tier
    }

    /// The proxy's target: the relay.
    pub fn target_address(&self) -> SocketAddr {
        self.relay.address()
    }

    /// The host key every target serves.
    pub fn target_key(&self) -> &PublicKey {
        self.host_key.public_key()
    }

    /// The key every target accepts, for the proxy's `--identity`.
    pub fn identity(&self) -> &PrivateKey {
        &self.identity
    }

    pub fn approver_url(&self) -> &str {
        self.approver.url()
    }
}

/// Every replay through the proxy at `proxy`, in a [`RealShellEnvironment`], one at a time.
pub struct RelayedRealShell {
    environment: Arc<RealShellEnvironment>,
    proxy: SocketAddr,
    /// One permit: the replay on stage holds it.
    turn: Arc<Semaphore>,
}

impl RelayedRealShell {
    pub fn new(environment: RealShellEnvironment, proxy: SocketAddr) -> RelayedRealShell {
        RelayedRealShell {
            environment: Arc::new(environment),
            proxy,
            turn: Arc::new(Semaphore::new(1)),
        }
    }
}

/// The replay on stage: its target behind the relay and its user with the approver, until
/// dropped.
struct OnStage {
    environment: Arc<RealShellEnvironment>,
    user: String,
    address: SocketAddr,
    _bridge: AbortOnDrop,
    _target: Arc<RealTarget>,
    /// Last: the next replay's stage waits until this one is gone.
    _turn: OwnedSemaphorePermit,
}

impl Drop for OnStage {
    fn drop(&mut self) {
        self.environment.relay.clear(self.address);
        self.environment.approver.forget(&self.user);
    }
}

impl Harness for RelayedRealShell {
    fn stage<'a>(&'a self, _options: &'a ReplayOptions) -> StageFuture<'a> {
        Box::pin(async move {
            let turn = self
                .turn
                .clone()
                .acquire_owned()
                .await
                .map_err(|error| setup("a turn on the target", error))?;
            let environment = &self.environment;
            let options = TargetOptions {
                shell: environment.shell,
                guard: guard_for(environment.shell, environment.tier),
                host_key: Some(environment.host_key.clone()),
                client_key: Some(environment.identity.clone()),
                ..TargetOptions::default()
            };
            let target = Arc::new(start_target(options).await?);
            let events = EventLog::in_memory();
            let bridge = bridge(target.clone(), events.clone());
            let user = target.user().to_string();
            let approver = environment.approver.register(&user);
            environment.relay.stage(target.addr());
            Ok(Stage {
                proxy: self.proxy,
                user: user.clone(),
                events,
                approver,
                guard: Box::new(OnStage {
                    environment: environment.clone(),
                    user,
                    address: target.addr(),
                    _bridge: bridge,
                    _target: target,
                    _turn: turn,
                }),
            })
        })
    }

    fn shares_approver(&self) -> bool {
        true
    }
}
