//! Runs the selected cases against a proxy, concurrently, and grades them into a [`Report`].
//!
//! Every case runs under each chunking it allows; cases that wait on purpose (a time-out, a
//! slow approver) start first so that their waiting overlaps with the rest. A case that needs
//! what the proxy lacks, or another target than the run's, is skipped with the reason. When
//! replays share one approver connection, cases that drop or garble it run last, one at a
//! time. Progress goes to stderr (see [`crate::progress`]), so that a report on stdout stays
//! clean.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use real_target::Shell;
use scenarios::format::Tier;
use scenarios::replay::{replay, Harness, ReplayOptions};
use scenarios::{Chunking, Outcome, Scenario};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::progress::{Progress, ProgressStyle};
use crate::real_shell::runs_on;
use crate::report::{grade, skipped, ProxyInfo, Report};
use crate::suite::SUITE_VERSION;

/// The seed of the random chunking; failure reports name it.
pub const SEED: u64 = 0x5eed;

/// How a run goes.
#[derive(Clone)]
pub struct RunOptions {
    /// Replays in flight at once.
    pub jobs: usize,
    pub replay: ReplayOptions,
    /// How progress shows on stderr (by default not at all: the binary chooses).
    pub progress: ProgressStyle,
    /// The proxy's approval time-out, when known: cases where the approver never answers
    /// wait that much longer. Unknown, they are skipped.
    pub approval_timeout: Option<Duration>,
    pub capabilities: Capabilities,
    /// The chunkings every case runs under, unless it pins its own.
    pub chunkings: Vec<Chunking>,
    /// What the harness puts behind the proxy; cases for another target are skipped.
    pub target: RunTarget,
    /// Whether skipped required cases are acceptable (`--allow-skip`); the report keeps it.
    pub allow_skip: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            jobs: 64,
            replay: ReplayOptions::default(),
            progress: ProgressStyle::Off,
            approval_timeout: None,
            capabilities: Capabilities::default(),
            chunkings: Chunking::all(SEED).to_vec(),
            target: RunTarget::Mock,
            allow_skip: false,
        }
    }
}

/// What the proxy under test connects to in a run; reports name it as it displays (`mock`,
/// `bash behind OpenSSH sshd`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RunTarget {
    /// The mock target (`mock-target`).
    #[default]
    Mock,
    /// A real shell behind a private OpenSSH sshd (`--target-shell`), with sshgate's guard
    /// installed in the guarded tier (`--guarded`).
    Shell(Shell, Tier),
}

impl RunTarget {
    /// Whether the shell behind the proxy has the guard installed.
    pub fn tier(self) -> Tier {
        match self {
            RunTarget::Mock => Tier::Unguarded,
            RunTarget::Shell(_, tier) => tier,
        }
    }

    /// Why `case` is not replayed against this target, if it is not.
    fn refuses(self, case: &Scenario) -> Option<String> {
        match self {
            RunTarget::Mock if case.on_bash() => Some(REAL_SHELL_ONLY.into()),
            RunTarget::Shell(_, Tier::Guarded) if !case.in_tier(Tier::Guarded) => Some(
                "a case whose expectations assume no guard on the target (guard = \"without\")"
                    .into(),
            ),
            RunTarget::Shell(shell, _) if !runs_on(case, shell) => {
                let targets: Vec<String> = case.targets.iter().map(|t| t.to_string()).collect();
                Some(format!(
                    "a case for {}, not {shell} (see `conformance list`)",
                    targets.join(", ")
                ))
            }
            _ => None,
        }
    }
}

impl std::fmt::Display for RunTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunTarget::Mock => f.write_str("mock"),
            RunTarget::Shell(shell, Tier::Unguarded) => write!(f, "{shell} behind OpenSSH sshd"),
            RunTarget::Shell(shell, Tier::Guarded) => {
                write!(f, "{shell} with sshgate's guard behind OpenSSH sshd")
            }
        }
    }
}

/// What the proxy under test does at all; a case needing what it lacks is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    pub exec: bool,
    pub shell: bool,
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities {
            exec: true,
            shell: true,
        }
    }
}

/// The chunkings a case runs under: its own pinned one, else those asked for.
fn chunkings(scenario: &Scenario, options: &RunOptions) -> Vec<Chunking> {
    match scenario.chunking {
        Some(pinned) => vec![pinned],
        None => options.chunkings.clone(),
    }
}

/// Why a real-shell case is not replayed against the mock target.
pub const REAL_SHELL_ONLY: &str = "a real-shell case: it needs a real shell behind OpenSSH's \
                                   sshd, not the mock target (run it with --target-shell)";

/// Why `case` cannot be graded against this proxy, if it cannot.
fn skip_reason(case: &Scenario, options: &RunOptions) -> Option<String> {
    if let Some(reason) = options.target.refuses(case) {
        return Some(reason);
    }
    let capabilities = options.capabilities;
    if case.uses_exec() && !capabilities.exec {
        return Some("the proxy refuses exec requests".into());
    }
    if case.uses_shell() && !capabilities.shell {
        return Some("the proxy refuses interactive shells with a PTY".into());
    }
    if case.waits_for_approval_timeout() && options.approval_timeout.is_none() {
        return Some(
            "the proxy's approval time-out is not known (give it with --approval-timeout)".into(),
        );
    }
    None
}

/// Run `cases` on stages from `harness` and grade them.
pub async fn run(
    cases: Vec<Scenario>,
    harness: Arc<dyn Harness>,
    proxy: ProxyInfo,
    options: &RunOptions,
) -> Report {
    let started = Instant::now();
    let date = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let skips: Vec<Option<String>> = cases.iter().map(|c| skip_reason(c, options)).collect();
    let runnable = |index: &usize| skips[*index].is_none();
    let alone = |index: &usize| harness.shares_approver() && cases[*index].disturbs_approver();
    let mut together: Vec<usize> = (0..cases.len())
        .filter(|i| runnable(i) && !alone(i))
        .collect();
    together.sort_by_key(|&index| !cases[index].waits_on_purpose());
    let by_itself: Vec<usize> = (0..cases.len())
        .filter(|i| runnable(i) && alone(i))
        .collect();

    let cases = Arc::new(cases);
    let replays_of: Vec<usize> = (0..cases.len())
        .map(|index| match skips[index] {
            Some(_) => 0,
            None => chunkings(&cases[index], options).len(),
        })
        .collect();
    let progress = Progress::start(options.progress, &cases, replays_of);
    let mut outcomes: Vec<Vec<Outcome>> = vec![Vec::new(); cases.len()];
    for (batch, jobs) in [(together, options.jobs.max(1)), (by_itself, 1)] {
        let running = Arc::new(Semaphore::new(jobs));
        let mut replays = JoinSet::new();
        for index in batch {
            for chunking in chunkings(&cases[index], options) {
                let (cases, harness, running, progress) = (
                    cases.clone(),
                    harness.clone(),
                    running.clone(),
                    progress.clone(),
                );
                let replay_options = replay_options(&cases[index], options);
                replays.spawn(async move {
                    let _permit = running.acquire_owned().await.expect("never closed");
                    let case = &cases[index];
                    let outcome = replay(case, chunking, harness.as_ref(), &replay_options).await;
                    progress.done(index, outcome.passed());
                    (index, outcome)
                });
            }
        }
        for (index, outcome) in replays.join_all().await {
            outcomes[index].push(outcome);
        }
    }
    // In the order asked for, whatever order they finished in: the report then names the
    // same failed chunking from one run to the next.
    for (case, outcomes) in cases.iter().zip(&mut outcomes) {
        let order = chunkings(case, options);
        outcomes.sort_by_key(|outcome| order.iter().position(|c| *c == outcome.chunking));
    }
    progress.finish();
    let target = options.target.to_string();
    let tier = options.target.tier();
    Report {
        suite_version: SUITE_VERSION.to_string(),
        proxy,
        target: target.clone(),
        date,
        total_ms: started.elapsed().as_millis(),
        allow_skip: options.allow_skip,
        cases: cases
            .iter()
            .zip(outcomes)
            .zip(skips)
            .map(|((case, outcomes), skip)| match skip {
                Some(reason) => skipped(case, reason, &target, tier),
                None => grade(case, &outcomes, &target, tier),
            })
            .collect(),
    }
}

/// The replay options for `case`: steps of a case that waits for the proxy's approval
/// time-out may take that much longer.
fn replay_options(case: &Scenario, options: &RunOptions) -> ReplayOptions {
    let mut replay = options.replay.clone();
    if case.waits_for_approval_timeout() {
        replay.step_timeout += options.approval_timeout.unwrap_or_default();
    }
    replay
}
