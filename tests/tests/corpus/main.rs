//! The whole scenario corpus, replayed end to end through the conformance runner: every
//! scenario under every chunking against sshgate (all must pass), through sshgate's WebSocket
//! approver client, and against the pass-through control (every gating scenario must fail
//! there, or it proves nothing). `launched` does the same through the runner's third-party
//! path, with each proxy a separate process, and `html_report` reads the HTML report in a
//! browser.

mod html_report;
mod launched;

use std::sync::Arc;
use std::time::Duration;

use conformance::progress::ProgressStyle;
use conformance::report::{Grade, ProxyInfo, Report};
use conformance::runner::{run, RunOptions};
use conformance::self_run::InProcessSshgate;
use scenarios::replay::{Isolated, Launcher, ReplayOptions};
use scenarios::Scenario;
use sshgate_tests::launchers::PassThroughLauncher;

/// The corpus, or the part of it whose ids start with `$SCENARIO_FILTER` (for working on
/// one category); without the real-bash tier, which `tests/tests/real/corpus.rs` replays.
fn corpus() -> Vec<Scenario> {
    let filter = std::env::var("SCENARIO_FILTER").unwrap_or_default();
    scenarios::corpus::load_matching(&scenarios::corpus::builtin_dir(), &filter)
        .unwrap_or_else(|error| panic!("the corpus does not load: {error}"))
        .into_iter()
        .filter(|case| !case.on_bash())
        .collect()
}

/// The cases pinned to one chunking, for runs where chunking is not what is tested.
fn one_packet(cases: Vec<Scenario>) -> Vec<Scenario> {
    cases
        .into_iter()
        .map(|mut case| {
            case.chunking = Some(scenarios::Chunking::OnePacket);
            case
        })
        .collect()
}

async fn grade(
    cases: Vec<Scenario>,
    launcher: impl Launcher + 'static,
    options: RunOptions,
) -> Report {
    let harness = Arc::new(Isolated::new(launcher));
    run(cases, harness, ProxyInfo::default(), &options).await
}

/// Options for a run against in-process sshgate, whose approval time-out is known.
fn quiet() -> RunOptions {
    RunOptions {
        progress: ProgressStyle::Off,
        approval_timeout: Some(InProcessSshgate::default().approval_timeout),
        ..RunOptions::default()
    }
}

fn assert_required_pass(report: &Report) {
    let mut slowest: Vec<_> = report.cases.iter().collect();
    slowest.sort_by_key(|case| std::cmp::Reverse(case.time_ms));
    for case in slowest.iter().take(3) {
        println!("slow: {} {} ms (all chunkings)", case.id, case.time_ms);
    }
    assert!(report.passed(), "{}", report.to_human(false));
}

#[tokio::test(flavor = "multi_thread")]
async fn corpus_passes_against_sshgate() {
    let report = grade(corpus(), InProcessSshgate::default(), quiet()).await;
    assert_required_pass(&report);
}

/// sshgate asking over approval protocol v1 (its WebSocket client and the replay's WebSocket
/// approver), as a proxy in another process would.
#[tokio::test(flavor = "multi_thread")]
async fn corpus_passes_with_the_websocket_approver() {
    // One chunking suffices: the approval path is what differs.
    let report = grade(
        one_packet(corpus()),
        InProcessSshgate::over_websocket(),
        quiet(),
    )
    .await;
    assert_required_pass(&report);
}

#[tokio::test(flavor = "multi_thread")]
async fn gating_scenarios_fail_against_the_pass_through() {
    let cases = one_packet(corpus());
    let options = RunOptions {
        // Against a relay every step waiting for a request times out: keep it short, and let
        // many wait at once.
        jobs: 512,
        replay: ReplayOptions {
            step_timeout: Duration::from_secs(1),
            ..ReplayOptions::default()
        },
        ..quiet()
    };
    let report = grade(cases, PassThroughLauncher, options).await;
    let passed: Vec<&str> = report
        .cases
        .iter()
        .filter(|case| case.grade == Grade::Pass)
        .map(|case| case.id.as_str())
        .collect();
    assert!(
        passed.is_empty(),
        "these scenarios pass against a proxy that gates nothing, so they cannot fail: {passed:?}"
    );
    assert!(report.cases.iter().any(|case| case.grade == Grade::Fail));
}
