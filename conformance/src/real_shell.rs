//! Real shells as the replays' target (sshgate's real-shell tests): a fresh [`RealTarget`]
//! (OpenSSH's sshd with bash, zsh, fish or dash behind it, with a referee) for every replay,
//! whose records become the replayer's target events (each `Line` an `executed` line, each
//! `Exec` an `exec`), so that every wait is on the shell's records, the operator's screen or
//! the approver, never a timer. The target is not a dry run: `stty` and `trap` must really
//! act.
//!
//! [`RealShellHarness`] gives each replay a proxy of its own from a [`Launcher`] (sshgate
//! in-process, or the pass-through control in sshgate's tests); replays run concurrently.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mock_target::{EventLog, TargetEvent};
use real_target::{RealTarget, Record, Shell, TargetOptions};
use scenarios::approver::ScriptedApprover;
use scenarios::format::Target;
use scenarios::outcome::Failure;
use scenarios::replay::{Environment, Harness, Launcher, ReplayOptions, Stage, StageFuture};
use scenarios::Scenario;
use tokio::task::JoinHandle;

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
    launcher: Arc<dyn Launcher>,
    events: Mutex<Option<EventLog>>,
}

impl RealShellHarness {
    pub fn new(shell: Shell, launcher: impl Launcher + 'static) -> RealShellHarness {
        RealShellHarness {
            shell,
            launcher: Arc::new(launcher),
            events: Mutex::new(None),
        }
    }

    pub fn shell(&self) -> Shell {
        self.shell
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
