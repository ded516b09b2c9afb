//! Runs the selected cases against a proxy, concurrently, and grades them into a [`Report`].
//!
//! Every case runs under each chunking it allows; cases that wait on purpose (a time-out, a
//! slow approver) start first so that their waiting overlaps with the rest.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use scenarios::format::Answer;
use scenarios::replay::{replay, Launcher, ReplayOptions};
use scenarios::{Chunking, Scenario, Step};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::report::{grade, ProxyInfo, Report};
use crate::suite::SUITE_VERSION;

/// The seed of the random chunking; failure reports name it.
pub const SEED: u64 = 0x5eed;

/// How a run goes.
#[derive(Clone)]
pub struct RunOptions {
    /// Replays in flight at once.
    pub jobs: usize,
    pub replay: ReplayOptions,
    /// Show a progress line on stderr (only when it is a terminal).
    pub progress: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            jobs: 64,
            replay: ReplayOptions::default(),
            progress: std::io::stderr().is_terminal(),
        }
    }
}

/// The chunkings a case runs under.
pub fn chunkings(scenario: &Scenario) -> Vec<Chunking> {
    match scenario.chunking {
        Some(pinned) => vec![pinned],
        None => Chunking::all(SEED).to_vec(),
    }
}

fn waits_on_purpose(scenario: &Scenario) -> bool {
    scenario.steps.iter().any(|step| match step {
        Step::Request { answer, .. } => matches!(answer, Answer::Never | Answer::Delay(_)),
        Step::Send { pause_ms, .. } => *pause_ms > 0,
        _ => false,
    })
}

/// Run `cases` against proxies from `launcher` and grade them.
pub async fn run(
    cases: Vec<Scenario>,
    launcher: Arc<dyn Launcher>,
    proxy: ProxyInfo,
    options: &RunOptions,
) -> Report {
    let started = Instant::now();
    let date = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let mut order: Vec<usize> = (0..cases.len()).collect();
    order.sort_by_key(|&index| !waits_on_purpose(&cases[index]));
    let cases = Arc::new(cases);
    let total: usize = cases.iter().map(|case| chunkings(case).len()).sum();
    let done = Arc::new(AtomicUsize::new(0));
    let running = Arc::new(Semaphore::new(options.jobs.max(1)));
    let mut replays = JoinSet::new();
    for index in order {
        for chunking in chunkings(&cases[index]) {
            let (cases, launcher, running, done) = (
                cases.clone(),
                launcher.clone(),
                running.clone(),
                done.clone(),
            );
            let (replay_options, progress) = (options.replay.clone(), options.progress);
            replays.spawn(async move {
                let _permit = running.acquire_owned().await.expect("never closed");
                let outcome =
                    replay(&cases[index], chunking, launcher.as_ref(), &replay_options).await;
                let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
                if progress {
                    eprint!("\r[{finished}/{total}] {:<60}", cases[index].id);
                    let _ = std::io::stderr().flush();
                }
                (index, outcome)
            });
        }
    }
    let mut outcomes: Vec<Vec<scenarios::Outcome>> = vec![Vec::new(); cases.len()];
    for (index, outcome) in replays.join_all().await {
        outcomes[index].push(outcome);
    }
    if options.progress {
        eprint!("\r{:<80}\r", "");
    }
    Report {
        suite_version: SUITE_VERSION.to_string(),
        proxy,
        date,
        total_ms: started.elapsed().as_millis(),
        cases: cases
            .iter()
            .zip(&outcomes)
            .map(|(case, outcomes)| grade(case, outcomes))
            .collect(),
    }
}
