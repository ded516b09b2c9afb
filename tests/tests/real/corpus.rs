//! The real-shell tier of the scenario corpus: every case whose target is a real shell
//! (`target = "bash"`, `"zsh"`, `"fish"`, `"dash"`, or several in `targets`) replayed by the
//! scenario replayer through sshgate to that shell behind OpenSSH's sshd, once per shell, and
//! through the pass-through control to the same, where it must fail: a line containing its
//! DENY text runs.
//!
//! These cases mean something only with a real shell behind the proxy (a locale, tty modes, a
//! line editor, an interrupt the mock target does not have), so the conformance runner lists
//! them and never replays them.
//!
//! A [`RealShellHarness`] sets the stage for each replay: a fresh [`RealTarget`] running the
//! case's shell (not a dry run: `stty` and `trap` must really act), the scripted approver, and
//! the proxy under test in front of the target. The shell's referee records become the
//! replayer's target events (each `Line` an `executed` line), so every wait is on the shell's
//! records, the operator's screen or the approver, never a timer. The client sends
//! `LANG=C.UTF-8` (as OpenSSH's `SendEnv LANG` does for a UTF-8 terminal) before the scenario's
//! own `env`.
//!
//! A case graded `informational` (a documented limit) that fails through sshgate is
//! reported, not failed; its control replay must still run the DENY line.
//!
//! The control replay drops what only a gate can satisfy (`request`, `cancelled`) and the
//! `never_executed` checks; once its steps are done, a line containing one of those texts must
//! have run. The cases end with a line run after the risky keys, so that a DENY line run late
//! is recorded before that line, on sshgate (where it fails the case) as on the control.
//!
//! `REAL_CORPUS_ONLY=<id prefix>` (or its older name `BASH_CORPUS_ONLY`) replays only the
//! matching cases and prints every outcome with its transcript; `REAL_CORPUS_SHELLS=zsh,dash`
//! replays only on those shells.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mock_target::{EventLog, TargetEvent};
use scenarios::approver::ScriptedApprover;
use scenarios::format::{Grade, Target};
use scenarios::outcome::Failure;
use scenarios::replay::{replay, Harness, ReplayOptions, Stage, StageFuture};
use scenarios::{Chunking, Outcome, Scenario, Step};
use sshgate::approval::{ApprovalPath, InProcessApprover as ChannelApprover};
use sshgate::credentials::generate_host_key;
use sshgate::{ClientAuth, Settings};
use sshgate_tests::operator::WAIT;
use sshgate_tests::passthrough::PassThrough;
use sshgate_tests::sshd::{RealTarget, Record, Shell, TargetOptions};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// Replays at once: each has its own sshd, shell and proxy, and the machine may have two cores.
const CONCURRENCY: usize = 4;
/// How long one step may wait: a shell behind sshd is slower than the mock target, and some
/// cases run `sleep 1`.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);
/// sshgate's approval time-out here; no case leaves a request unanswered.
const APPROVAL_TIMEOUT: Duration = Duration::from_secs(30);
/// The seed of the random chunking (the conformance runner's).
const SEED: u64 = conformance::runner::SEED;

/// Which proxy stands between the operator and the shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proxy {
    Sshgate,
    PassThrough,
}

/// Sets the stage for one replay; keeps the target's events for a look after the replay.
struct RealShellHarness {
    proxy: Proxy,
    shell: Shell,
    events: Mutex<Option<EventLog>>,
}

impl RealShellHarness {
    fn new(proxy: Proxy, shell: Shell) -> RealShellHarness {
        RealShellHarness {
            proxy,
            shell,
            events: Mutex::new(None),
        }
    }

    /// The events of the last stage set.
    fn events(&self) -> Option<EventLog> {
        self.events.lock().expect("events lock").clone()
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn setup(expected: &str, actual: impl ToString) -> Failure {
    Failure {
        step: 0,
        expected: expected.to_string(),
        actual: actual.to_string(),
    }
}

impl Harness for RealShellHarness {
    fn stage<'a>(&'a self, _options: &'a ReplayOptions) -> StageFuture<'a> {
        Box::pin(async move {
            let options = TargetOptions {
                shell: self.shell,
                ..TargetOptions::default()
            };
            let target = tokio::task::spawn_blocking(move || RealTarget::start(options))
                .await
                .map_err(|error| setup("a real target", error))?
                .map_err(|error| setup("a real target", error))?;
            let target = Arc::new(target);
            let events = EventLog::in_memory();
            let bridge = AbortOnDrop(tokio::spawn(bridge(target.clone(), events.clone())));
            let (approver, endpoints) = ScriptedApprover::start(false)
                .await
                .map_err(|error| setup("an approver", error))?;
            let (proxy, proxy_guard): (_, Box<dyn std::any::Any + Send + Sync>) = match self.proxy {
                Proxy::Sshgate => {
                    let settings = Settings {
                        host_key: generate_host_key(),
                        client_auth: ClientAuth::InsecureAcceptAny,
                        password_pass_through: false,
                        target: target.target_settings(),
                        echo_wait: sshgate::target_screen::ECHO_WAIT,
                    };
                    let approval = ApprovalPath::new(
                        Arc::new(ChannelApprover::new(endpoints.channel)),
                        APPROVAL_TIMEOUT,
                    );
                    let (address, stop) =
                        sshgate_tests::stack::serve_sshgate(settings, approval).await;
                    (address, Box::new(stop))
                }
                Proxy::PassThrough => {
                    let relay = PassThrough::spawn_with_identity(
                        target.addr(),
                        target.client_key().clone(),
                    )
                    .await;
                    // Nobody asks the approver; its channel stays open all the same, or the
                    // replay would take the approver's end for the proxy dropping it.
                    (relay.addr, Box::new((relay, endpoints.channel)))
                }
            };
            *self.events.lock().expect("events lock") = Some(events.clone());
            Ok(Stage {
                proxy,
                // The pass-through logs in to the target as the operator's user.
                user: target.user().to_string(),
                events,
                approver,
                // The bridge first: it holds the target too.
                guard: Box::new((bridge, proxy_guard, target)),
            })
        })
    }
}

/// The shell's records as the replayer's target events, in order.
async fn bridge(target: Arc<RealTarget>, events: EventLog) {
    loop {
        // An Err is a quiet spell of WAIT: keep listening.
        match target.next_record().await {
            Ok(Record::Line(line)) => events.push(TargetEvent::Executed { line }),
            Ok(Record::Exec(command)) => events.push(TargetEvent::Exec { command }),
            Ok(Record::Prompt) | Err(_) => {}
        }
    }
}

fn options() -> ReplayOptions {
    ReplayOptions {
        step_timeout: STEP_TIMEOUT,
        client_env: vec![("LANG".into(), "C.UTF-8".into())],
        ..ReplayOptions::default()
    }
}

/// The shell a real-shell target names (None for the mock target).
fn shell_of(target: Target) -> Option<Shell> {
    match target {
        Target::Mock => None,
        Target::Bash => Some(Shell::Bash),
        Target::Zsh => Some(Shell::Zsh),
        Target::Fish => Some(Shell::Fish),
        Target::Dash => Some(Shell::Dash),
    }
}

/// The id prefix of `REAL_CORPUS_ONLY`, or of its older name `BASH_CORPUS_ONLY`.
fn only() -> Option<String> {
    std::env::var("REAL_CORPUS_ONLY")
        .or_else(|_| std::env::var("BASH_CORPUS_ONLY"))
        .ok()
}

/// The shells `REAL_CORPUS_SHELLS` (comma-separated names) allows; all when unset.
fn shells_allowed() -> Vec<Shell> {
    let Ok(names) = std::env::var("REAL_CORPUS_SHELLS") else {
        return Shell::ALL.to_vec();
    };
    names
        .split(',')
        .map(|name| {
            Shell::ALL
                .into_iter()
                .find(|shell| shell.name() == name.trim())
                .unwrap_or_else(|| panic!("REAL_CORPUS_SHELLS: unknown shell {name:?}"))
        })
        .collect()
}

/// Each real-shell case (those matching the id filter, if set) with each shell it names, or
/// None when the test is skipped (no sshd, or one of the shells, here).
fn real_shell_cases() -> Option<Vec<(Scenario, Shell)>> {
    let only = only().unwrap_or_default();
    let allowed = shells_allowed();
    let cases: Vec<(Scenario, Shell)> =
        scenarios::corpus::load_matching(&scenarios::corpus::builtin_dir(), &only)
            .expect("the corpus loads")
            .into_iter()
            .filter(|case| case.on_bash() && case.id.starts_with(&only))
            .flat_map(|case| {
                case.targets
                    .iter()
                    .filter_map(|&target| shell_of(target))
                    .filter(|shell| allowed.contains(shell))
                    .map(|shell| (case.clone(), shell))
                    .collect::<Vec<_>>()
            })
            .collect();
    assert!(
        !cases.is_empty(),
        "no real-shell case matches {only:?} on {allowed:?}"
    );
    // One probe per shell for the skip message, instead of one per case.
    let mut probed: Vec<Shell> = Vec::new();
    for (_, shell) in &cases {
        if !probed.contains(shell) {
            probed.push(*shell);
            let options = TargetOptions {
                shell: *shell,
                ..TargetOptions::default()
            };
            drop(RealTarget::start_or_skip(options)?);
        }
    }
    Some(cases)
}

fn verbose() -> bool {
    only().is_some()
}

/// What a case must never run: its `never_executed` texts.
fn never_executed(case: &Scenario) -> Vec<String> {
    case.steps
        .iter()
        .filter_map(|step| match step {
            Step::NeverExecuted(text) => Some(text.clone()),
            _ => None,
        })
        .collect()
}

/// The case as a proxy that asks nobody meets it: no requests to answer or cancels to see,
/// and its `never_executed` checks left to the control test.
fn without_the_gate(case: &Scenario) -> Scenario {
    let mut control = case.clone();
    control.steps.retain(|step| {
        !matches!(
            step,
            Step::Request { .. } | Step::Cancelled | Step::Alerted(_) | Step::NeverExecuted(_)
        )
    });
    control
}

/// Run `jobs` at most [`CONCURRENCY`] at a time; results in order.
async fn run_all<T: Send + 'static>(
    jobs: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>>,
) -> Vec<T> {
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let tasks: Vec<_> = jobs
        .into_iter()
        .map(|job| {
            let permits = permits.clone();
            tokio::spawn(async move {
                let _permit = permits.acquire_owned().await.expect("semaphore open");
                job.await
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("replay task"));
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_shell_cases_hold_through_sshgate() {
    let Some(cases) = real_shell_cases() else {
        return;
    };
    let mut jobs = Vec::new();
    for (case, shell) in cases {
        let chunkings = match case.chunking {
            Some(pinned) => vec![pinned],
            None => Chunking::all(SEED).to_vec(),
        };
        for chunking in chunkings {
            let case = case.clone();
            jobs.push(Box::pin(async move {
                let harness = RealShellHarness::new(Proxy::Sshgate, shell);
                let outcome = replay(&case, chunking, &harness, &options()).await;
                (shell, case.grade, outcome)
            })
                as std::pin::Pin<
                    Box<dyn std::future::Future<Output = (Shell, Grade, Outcome)> + Send>,
                >);
        }
    }
    let outcomes = run_all(jobs).await;
    let mut per_shell: Vec<(Shell, usize, Duration)> = Vec::new();
    for (shell, grade, outcome) in &outcomes {
        let verdict = match (outcome.passed(), grade) {
            (true, _) => "pass",
            (false, Grade::Required) => "FAIL",
            (false, Grade::Informational) => "fails (informational: reported, not failed)",
        };
        println!(
            "sshgate: {} on {shell} [{}]: {verdict} ({} ms)",
            outcome.id,
            outcome.chunking,
            outcome.elapsed.as_millis()
        );
        match per_shell.iter_mut().find(|(known, ..)| known == shell) {
            Some((_, count, time)) => {
                *count += 1;
                *time += outcome.elapsed;
            }
            None => per_shell.push((*shell, 1, outcome.elapsed)),
        }
        if verbose() {
            // A failure's own text ends with its transcript.
            if outcome.passed() {
                println!("{outcome}\n{}", outcome.transcript.render());
            } else {
                println!("{outcome}");
            }
        }
    }
    for (shell, count, time) in per_shell {
        println!("sshgate on {shell}: {count} replays, {time:.1?} of replay time in all");
    }
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|(_, grade, outcome)| *grade == Grade::Required && !outcome.passed())
        .map(|(shell, _, outcome)| format!("on {shell}: {outcome}"))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} real-shell replays failed through sshgate:\n{}",
        failed.len(),
        outcomes.len(),
        failed.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_shell_cases_run_deny_behind_the_pass_through() {
    let Some(cases) = real_shell_cases() else {
        return;
    };
    let mut jobs = Vec::new();
    for (case, shell) in cases {
        jobs.push(Box::pin(async move { control(case, shell).await })
            as std::pin::Pin<
                Box<dyn std::future::Future<Output = Result<String, String>> + Send>,
            >);
    }
    let results = run_all(jobs).await;
    let mut problems = Vec::new();
    for result in results {
        match result {
            Ok(line) => println!("pass-through: {line}"),
            Err(problem) => problems.push(problem),
        }
    }
    assert!(
        problems.is_empty(),
        "these cases cannot fail, or their keys do not replay, behind a proxy that gates \
         nothing:\n{}",
        problems.join("\n")
    );
}

/// Replay `case` on `shell` through the pass-through: Ok with the line that ran DENY, or Err
/// saying why the case proves nothing (nothing forbidden ran) or the replay broke down.
async fn control(case: Scenario, shell: Shell) -> Result<String, String> {
    let forbidden = never_executed(&case);
    if forbidden.is_empty() {
        return Err(format!(
            "{}: no never_executed step, so nothing shows it failing",
            case.id
        ));
    }
    let chunking = case.chunking.unwrap_or(Chunking::OnePacket);
    let harness = RealShellHarness::new(Proxy::PassThrough, shell);
    let outcome = replay(&without_the_gate(&case), chunking, &harness, &options()).await;
    if verbose() && outcome.passed() {
        println!("control {outcome}\n{}", outcome.transcript.render());
    }
    if !outcome.passed() {
        return Err(format!("control replay of {outcome}"));
    }
    let events = harness.events().expect("the stage was set");
    // The replay is over, but the target's records are complete up to the case's last line;
    // a forbidden line ran before it, so it is in already. Waiting covers the rest.
    let ran = events
        .wait_for(
            |event| {
                matches!(event, TargetEvent::Executed { line }
                    if forbidden.iter().any(|text| line.contains(text.as_str())))
            },
            WAIT,
        )
        .await;
    match ran {
        Some(TargetEvent::Executed { line }) => {
            Ok(format!("{} [{chunking}]: {shell} ran {line:?}", case.id))
        }
        _ => Err(format!(
            "{} [{chunking}]: no line containing {forbidden:?} ran; {shell} ran {:?} (the shell \
             is hung up when the last step is done: a case ends with a line run after its risky \
             keys, `executed` waiting for it)",
            case.id,
            events.executed_lines()
        )),
    }
}
