//! The whole scenario corpus, replayed end to end: every scenario under every chunking against
//! sshgate (all must pass), and against the pass-through control (every gating scenario must
//! fail there, or it proves nothing).

use std::sync::Arc;

use conformance::self_run::InProcessSshgate;
use scenarios::format::{Answer, Grade};
use scenarios::replay::{replay, Launcher, ReplayOptions};
use scenarios::{Chunking, Outcome, Scenario, Step};
use sshgate_tests::launchers::PassThroughLauncher;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// The seed of the random chunking; a failure report names it.
const SEED: u64 = 0x5eed;
/// Replays in flight at once.
const CONCURRENT_REPLAYS: usize = 64;

/// The corpus, or the part of it whose ids start with `$SCENARIO_FILTER` (for working on
/// one category).
fn corpus() -> Vec<Scenario> {
    let filter = std::env::var("SCENARIO_FILTER").unwrap_or_default();
    scenarios::corpus::load_matching(&scenarios::corpus::builtin_dir(), &filter)
        .unwrap_or_else(|error| panic!("the corpus does not load: {error}"))
}

/// Replay every (scenario, chunking) pair concurrently.
async fn replay_all(
    scenarios: &[Scenario],
    chunkings: impl Fn(&Scenario) -> Vec<Chunking>,
    launcher: Arc<dyn Launcher>,
    options: ReplayOptions,
) -> Vec<Outcome> {
    let mut replays = JoinSet::new();
    // Scenarios that wait on purpose (for a time-out or a slow approver) start first, so that
    // their waiting overlaps with everything else instead of coming last; and only so many
    // run at once, so that the first ones are not slowed by hundreds of handshakes at once.
    let mut scenarios: Vec<&Scenario> = scenarios.iter().collect();
    scenarios.sort_by_key(|scenario| !waits_on_purpose(scenario));
    let running = Arc::new(Semaphore::new(CONCURRENT_REPLAYS));
    for scenario in scenarios {
        for chunking in chunkings(scenario) {
            let scenario = scenario.clone();
            let launcher = launcher.clone();
            let options = options.clone();
            let running = running.clone();
            replays.spawn(async move {
                let _permit = running.acquire_owned().await.expect("never closed");
                replay(&scenario, chunking, launcher.as_ref(), &options).await
            });
        }
    }
    replays.join_all().await
}

fn waits_on_purpose(scenario: &Scenario) -> bool {
    scenario.steps.iter().any(|step| match step {
        Step::Request { answer, .. } => matches!(answer, Answer::Never | Answer::Delay(_)),
        Step::Send { pause_ms, .. } => *pause_ms > 0,
        _ => false,
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn corpus_passes_against_sshgate() {
    let scenarios = corpus();
    let outcomes = replay_all(
        &scenarios,
        |scenario| match scenario.chunking {
            Some(pinned) => vec![pinned],
            None => Chunking::all(SEED).to_vec(),
        },
        Arc::new(InProcessSshgate::default()),
        ReplayOptions::default(),
    )
    .await;
    assert_required_pass(&scenarios, &outcomes);
}

fn assert_required_pass(scenarios: &[Scenario], outcomes: &[Outcome]) {
    let mut slowest: Vec<&Outcome> = outcomes.iter().collect();
    slowest.sort_by_key(|outcome| std::cmp::Reverse(outcome.elapsed));
    for outcome in slowest.iter().take(5) {
        println!(
            "slow: {} [{}] {:?}",
            outcome.id, outcome.chunking, outcome.elapsed
        );
    }
    let failures: Vec<String> = outcomes
        .iter()
        .filter(|outcome| !outcome.passed())
        .filter(|outcome| {
            let scenario = scenarios.iter().find(|s| s.id == outcome.id);
            scenario.is_some_and(|s| s.grade == Grade::Required)
        })
        .map(|outcome| outcome.to_string())
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} replays failed:\n{}",
        failures.len(),
        outcomes.len(),
        failures.join("\n")
    );
}

/// The same corpus with sshgate asking over approval protocol v1 (its WebSocket client and the
/// replay's WebSocket approver), as a proxy in another process would; one chunking suffices.
#[tokio::test(flavor = "multi_thread")]
async fn corpus_passes_with_the_websocket_approver() {
    let scenarios = corpus();
    let launcher = InProcessSshgate::over_websocket();
    let outcomes = replay_all(
        &scenarios,
        |_| vec![Chunking::OnePacket],
        Arc::new(launcher),
        ReplayOptions::default(),
    )
    .await;
    assert_required_pass(&scenarios, &outcomes);
}

#[tokio::test(flavor = "multi_thread")]
async fn gating_scenarios_fail_against_the_pass_through() {
    let scenarios: Vec<Scenario> = corpus()
        .into_iter()
        .filter(|scenario| scenario.grade == Grade::Required)
        .collect();
    let outcomes = replay_all(
        &scenarios,
        |_| vec![Chunking::OnePacket],
        Arc::new(PassThroughLauncher),
        // Every step that waits for a request times out against a relay: keep it short.
        ReplayOptions {
            step_timeout: std::time::Duration::from_secs(1),
            ..ReplayOptions::default()
        },
    )
    .await;
    let passed: Vec<&str> = outcomes
        .iter()
        .filter(|outcome| outcome.passed())
        .map(|outcome| outcome.id.as_str())
        .collect();
    assert!(
        passed.is_empty(),
        "these scenarios pass against a proxy that gates nothing, so they cannot fail: {passed:?}"
    );
}
