//! The real-shell tier of the scenario corpus: every case whose target is a real shell
//! (`target = "bash"`, `"zsh"`, `"fish"`, `"dash"`, or several in `targets`) replayed by the
//! scenario replayer through sshgate to that shell behind OpenSSH's sshd, once per shell, and
//! through the pass-through control to the same, where it must fail: a line containing its
//! DENY text runs.
//!
//! These cases mean something only with a real shell behind the proxy (a locale, tty modes, a
//! line editor, an interrupt the mock target does not have), so the conformance runner never
//! replays them against the mock target, only with `--target-shell`.
//!
//! The stage for each replay is set by the conformance runner's [`RealShellHarness`] (the same
//! one `conformance --target-shell` uses): a fresh real target running the case's shell, the
//! scripted approver, and the proxy under test in front of the target, with the shell's
//! referee records as the replayer's target events, so that every wait is on the shell's
//! records, the operator's screen or the approver, never a timer. The client sends
//! `LANG=C.UTF-8` before the scenario's own `env`.
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

use std::sync::Arc;
use std::time::Duration;

use conformance::real_shell::{
    client_env, guard_for, shell_of, RealShellHarness, CONCURRENCY, STEP_TIMEOUT,
};
use conformance::self_run::InProcessSshgate;
use real_target::{Shell, TargetOptions};
use scenarios::format::{Grade, GuardUse, Tier};
use scenarios::replay::{replay, ReplayOptions};
use scenarios::{Chunking, Outcome, Scenario, Step};
use sshgate_tests::launchers::PassThroughLauncher;
use tokio::sync::Semaphore;

/// The seed of the random chunking (the conformance runner's).
const SEED: u64 = conformance::runner::SEED;

fn options() -> ReplayOptions {
    ReplayOptions {
        step_timeout: STEP_TIMEOUT,
        client_env: client_env(),
        ..ReplayOptions::default()
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
            Shell::from_name(name.trim())
                .unwrap_or_else(|| panic!("REAL_CORPUS_SHELLS: unknown shell {name:?}"))
        })
        .collect()
}

/// Each real-shell case of `tier` (those matching the id filter, if set) with each shell it
/// names (bash and zsh only in the guarded tier), or None when the test is skipped (no sshd,
/// or one of the shells, here).
fn real_shell_cases(tier: Tier) -> Option<Vec<(Scenario, Shell)>> {
    let only = only().unwrap_or_default();
    let allowed = shells_allowed();
    let cases: Vec<(Scenario, Shell)> =
        scenarios::corpus::load_matching(&scenarios::corpus::builtin_dir(), &only)
            .expect("the corpus loads")
            .into_iter()
            .filter(|case| case.on_bash() && case.in_tier(tier) && case.id.starts_with(&only))
            .flat_map(|case| {
                case.targets
                    .iter()
                    .filter_map(|&target| shell_of(target))
                    .filter(|shell| allowed.contains(shell))
                    .filter(|shell| tier == Tier::Unguarded || guard_for(*shell, tier).is_some())
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
            drop(sshgate_tests::skip::real_target_or_skip(options)?);
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

/// The case as a proxy that asks nobody meets it: no requests to answer, cancels or alerts
/// to see, and at the end a wait for a line containing `forbidden` to run instead of its
/// `never_executed` checks.
fn without_the_gate(case: &Scenario, forbidden: &str) -> Scenario {
    let mut control = case.clone();
    control.steps.retain(|step| {
        !matches!(
            step,
            Step::Request { .. } | Step::Cancelled | Step::Alerted(_) | Step::NeverExecuted(_)
        )
    });
    control
        .steps
        .push(Step::ExecutedContaining(forbidden.to_string()));
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
    hold_through_sshgate(Tier::Unguarded).await;
}

/// The guarded tier: bash and zsh source the guard, which sshgate answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guarded_real_shell_cases_hold_through_sshgate() {
    hold_through_sshgate(Tier::Guarded).await;
}

/// Replay every real-shell case of `tier` through sshgate, under each chunking; each required
/// one must pass.
async fn hold_through_sshgate(tier: Tier) {
    let Some(cases) = real_shell_cases(tier) else {
        return;
    };
    let _alone = crate::TIMING_SENSITIVE.lock().await;
    let mut jobs = Vec::new();
    for (case, shell) in cases {
        let chunkings = match case.chunking {
            Some(pinned) => vec![pinned],
            None => Chunking::all(SEED).to_vec(),
        };
        for chunking in chunkings {
            let case = case.clone();
            jobs.push(Box::pin(async move {
                let sshgate = InProcessSshgate::for_real_shell();
                let harness = RealShellHarness::in_tier(shell, tier, sshgate);
                let outcome = replay(&case, chunking, &harness, &options()).await;
                (shell, case.grade_in(tier), outcome)
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
            "sshgate, {tier}: {} on {shell} [{}]: {verdict} ({} ms)",
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
        println!("sshgate on {shell}, {tier}: {count} replays, {time:.1?} of replay time in all");
    }
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|(_, grade, outcome)| *grade == Grade::Required && !outcome.passed())
        .map(|(shell, _, outcome)| format!("on {shell}: {outcome}"))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} real-shell replays in the {tier} tier failed through sshgate:\n{}",
        failed.len(),
        outcomes.len(),
        failed.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_shell_cases_run_deny_behind_the_pass_through() {
    let Some(cases) = real_shell_cases(Tier::Unguarded) else {
        return;
    };
    let mut jobs = Vec::new();
    // A case that needs the guard runs its DENY command where no line shows it (an alias, a
    // hook), which the referee cannot tell: its control is the guarded tier's.
    let cases = cases
        .into_iter()
        .filter(|(case, _)| case.guard != GuardUse::Needed);
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
    let [forbidden] = &never_executed(&case)[..] else {
        return Err(format!(
            "{}: the control needs exactly one never_executed step, to wait for it to run",
            case.id
        ));
    };
    let chunking = case.chunking.unwrap_or(Chunking::OnePacket);
    let harness = RealShellHarness::new(shell, PassThroughLauncher);
    let control = without_the_gate(&case, forbidden);
    let outcome = replay(&control, chunking, &harness, &options()).await;
    if verbose() && outcome.passed() {
        println!("control {outcome}\n{}", outcome.transcript.render());
    }
    if !outcome.passed() {
        return Err(format!(
            "control replay of {outcome}\n(behind a proxy that gates nothing, a line \
             containing {forbidden:?} must run)"
        ));
    }
    let events = harness.events().expect("the stage was set");
    let ran = events.executed_lines();
    let line = ran.iter().find(|line| line.contains(forbidden.as_str()));
    Ok(format!("{} [{chunking}]: {shell} ran {line:?}", case.id))
}

/// The guarded tier behind the pass-through, with the guard woken by the operator's own `env`
/// request: every case that a gate must decide fails, because the guard's first question is
/// never answered (the operator sees the line they typed and nothing more).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guarded_real_shell_cases_fail_behind_the_pass_through() {
    let Some(cases) = real_shell_cases(Tier::Guarded) else {
        return;
    };
    let mut jobs = Vec::new();
    for (case, shell) in cases {
        jobs.push(Box::pin(async move {
            let chunking = case.chunking.unwrap_or(Chunking::OnePacket);
            let harness = RealShellHarness::in_tier(shell, Tier::Guarded, PassThroughLauncher);
            let mut options = options();
            options
                .client_env
                .push((sshgate::guard::ENV_NAME.into(), "1".into()));
            // Each case fails at its first wait for the approver or the shell: no need to
            // wait the real tier's long step time for that.
            options.step_timeout = Duration::from_secs(2);
            let outcome = replay(&case, chunking, &harness, &options).await;
            (shell, outcome)
        })
            as std::pin::Pin<
                Box<dyn std::future::Future<Output = (Shell, Outcome)> + Send>,
            >);
    }
    let results = run_all(jobs).await;
    let mut passed = Vec::new();
    for (shell, outcome) in &results {
        match &outcome.failure {
            Some(failure) => println!(
                "pass-through, guarded: {} on {shell}: fails at step {}: expected {}",
                outcome.id, failure.step, failure.expected
            ),
            None => passed.push(format!("{} on {shell}", outcome.id)),
        }
    }
    assert!(
        passed.is_empty(),
        "these guarded cases pass behind a proxy that answers no guard question:\n{}",
        passed.join("\n")
    );
}

/// The cases the guarded tier leaves out (`guard = "without"`: their scripts expect what a
/// proxy without a guard does, such as a session ended over a bound command) still must not
/// run DENY with the guard installed: replayed through sshgate to a guarded shell with every
/// request answered by the rule as it comes, their `request`, `alerted` and `cancelled` steps
/// dropped and every other step kept (keys, waits, `executed`, `never_executed`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guarded_shells_run_no_deny_in_the_cases_the_tier_leaves_out() {
    let Some(cases) = real_shell_cases(Tier::Unguarded) else {
        return;
    };
    let cases: Vec<(Scenario, Shell)> = cases
        .into_iter()
        .filter(|(case, shell)| {
            case.guard == GuardUse::Without && guard_for(*shell, Tier::Guarded).is_some()
        })
        .collect();
    let _alone = crate::TIMING_SENSITIVE.lock().await;
    let mut jobs = Vec::new();
    for (case, shell) in cases {
        jobs.push(Box::pin(async move {
            let mut relaxed = case.clone();
            relaxed.steps.retain(|step| {
                !matches!(
                    step,
                    Step::Request { .. } | Step::Alerted(_) | Step::Cancelled
                )
            });
            let chunking = case.chunking.unwrap_or(Chunking::OnePacket);
            let sshgate = InProcessSshgate::for_real_shell();
            let harness = RealShellHarness::in_tier(shell, Tier::Guarded, sshgate);
            let options = ReplayOptions {
                rule_for_every_request: true,
                ..options()
            };
            let outcome = replay(&relaxed, chunking, &harness, &options).await;
            let ran = harness
                .events()
                .expect("the stage was set")
                .executed_lines();
            // A script may approve a line the rule denies (a line that only shows DENY): the
            // replay then stops at the wait for that line to run, and only the DENY check
            // stands. Any other failure is one.
            let stopped_where_the_rule_denied = outcome.failure.as_ref().is_some_and(|failure| {
                matches!(relaxed.steps.get(failure.step - 1), Some(Step::Executed(_)))
            });
            let forbidden = never_executed(&case);
            let deny_ran: Vec<String> = ran
                .into_iter()
                .filter(|line| forbidden.iter().any(|text| line.contains(text.as_str())))
                .collect();
            let verdict = match (outcome.passed(), stopped_where_the_rule_denied) {
                _ if !deny_ran.is_empty() => Err(format!("ran {deny_ran:?}")),
                (true, _) => Ok("pass"),
                (false, true) => Ok("no DENY ran; stopped where the rule denied the script's line"),
                (false, false) => Err(outcome.to_string()),
            };
            (shell, case.id.clone(), verdict)
        })
            as std::pin::Pin<
                Box<
                    dyn std::future::Future<Output = (Shell, String, Result<&'static str, String>)>
                        + Send,
                >,
            >);
    }
    let results = run_all(jobs).await;
    assert!(!results.is_empty(), "no case leaves the guarded tier");
    let mut failed = Vec::new();
    for (shell, id, verdict) in &results {
        match verdict {
            Ok(how) => {
                println!("sshgate, guarded, every request by the rule: {id} on {shell}: {how}")
            }
            Err(problem) => failed.push(format!("{id} on {shell}: {problem}")),
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}
