//! The graded report: one result per case, the totals and the verdict, and the report's forms
//! (human, JSON, JUnit XML, HTML), one module each.
//!
//! Invariant: a case passes only if every chunking it ran under passed; a failure keeps what a
//! reader needs to act on it (the requirement, expected and actual, the chunking and seed, the
//! timeline and the last screen); an informational case never counts as a failure; and a run
//! is a pass only when it graded at least one required case and every required case passed (a
//! skipped one too unless skips are allowed).

mod diff;
pub(crate) mod html;
mod human;
mod json;
mod junit;

use std::io::IsTerminal;
use std::time::Duration;

use scenarios::format::{Grade as CaseKind, Tier};
use scenarios::outcome::Moment;
use scenarios::{Outcome, Scenario};
use serde::Serialize;

/// How a case was graded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Grade {
    Pass,
    Fail,
    /// The proxy lacks a capability the case needs.
    Skip,
    /// A documented limit: reported, never a failure.
    Informational,
}

impl Grade {
    /// The name the JSON report and the HTML filters use.
    pub fn name(self) -> &'static str {
        match self {
            Grade::Pass => "pass",
            Grade::Fail => "fail",
            Grade::Skip => "skip",
            Grade::Informational => "informational",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub id: String,
    pub category: String,
    pub requirement: String,
    /// Whether the case counts towards the verdict (informational cases do not).
    pub required: bool,
    pub grade: Grade,
    /// What the proxy had behind it: `mock`, or e.g. `bash behind OpenSSH sshd`.
    pub target: String,
    /// `guarded` when the target's shell had sshgate's guard installed (docs/guard.md), else
    /// `unguarded`: a case can be required in one tier and informational in the other.
    pub tier: String,
    /// For informational cases: whether the behaviour described held.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held: Option<bool>,
    pub time_ms: u128,
    /// The outcome under each chunking it ran under (none for a skipped case).
    pub chunkings: Vec<ChunkingResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureDetail>,
    /// For skipped cases: the capability the proxy lacks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<String>,
}

/// One replay of a case.
#[derive(Debug, Clone, Serialize)]
pub struct ChunkingResult {
    pub chunking: String,
    /// Whether every step held under this chunking.
    pub passed: bool,
    pub time_ms: u128,
}

/// The first failed replay of a failed case.
#[derive(Debug, Clone, Serialize)]
pub struct FailureDetail {
    pub chunking: String,
    pub step: usize,
    pub expected: String,
    pub actual: String,
    pub screen: String,
    /// What happened in that replay, in order: keys sent, output, requests, decisions, what
    /// the target ran.
    pub transcript: Vec<Moment>,
}

/// What the report says about the proxy under test.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProxyInfo {
    pub description: String,
    /// The SSH identification string it sent, e.g. `SSH-2.0-sshgate_0.1.0`.
    pub ssh_version: Option<String>,
    pub host_key_fingerprint: Option<String>,
    /// What a proxy the runner launched printed on stdout and stderr (the end of it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub suite_version: String,
    pub proxy: ProxyInfo,
    /// What the proxy had behind it in this run (each case says it too).
    pub target: String,
    /// When the run started, RFC 3339 in UTC.
    pub date: String,
    pub total_ms: u128,
    /// Whether a skipped required case is acceptable (`--allow-skip`).
    pub allow_skip: bool,
    pub cases: Vec<CaseResult>,
}

/// Cases by grade.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub pass: usize,
    pub fail: usize,
    pub skip: usize,
    pub informational: usize,
}

impl Totals {
    /// How many cases got `grade`.
    pub fn count(&self, grade: Grade) -> usize {
        match grade {
            Grade::Pass => self.pass,
            Grade::Fail => self.fail,
            Grade::Skip => self.skip,
            Grade::Informational => self.informational,
        }
    }

    fn of<'a>(cases: impl IntoIterator<Item = &'a CaseResult>) -> Totals {
        let mut totals = Totals::default();
        for case in cases {
            *match case.grade {
                Grade::Pass => &mut totals.pass,
                Grade::Fail => &mut totals.fail,
                Grade::Skip => &mut totals.skip,
                Grade::Informational => &mut totals.informational,
            } += 1;
        }
        totals
    }
}

/// What a run amounts to; only [`Verdict::Passed`] exits 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every required case passed (`skipped` more were skipped, with `--allow-skip`).
    Passed {
        graded: usize,
        skipped: usize,
    },
    Failed {
        failed: usize,
    },
    /// Required cases were skipped, and skips were not allowed.
    Skipped {
        skipped: usize,
    },
    /// Not one required case was graded; the text says why.
    NothingGraded(String),
}

impl Verdict {
    pub fn ok(&self) -> bool {
        matches!(self, Verdict::Passed { .. })
    }

    /// The verdict in one line.
    pub fn summary(&self) -> String {
        match self {
            Verdict::Passed { graded, skipped: 0 } => {
                format!("every required case passed ({graded} graded)")
            }
            Verdict::Passed { graded, skipped } => format!(
                "every required case graded passed ({graded} graded; {skipped} skipped, \
                 accepted by --allow-skip)"
            ),
            Verdict::Failed { failed } => format!("{failed} required case(s) failed"),
            Verdict::Skipped { skipped } => format!(
                "{skipped} required case(s) skipped: not graded, so not a pass (--allow-skip \
                 accepts skips)"
            ),
            Verdict::NothingGraded(why) => format!("no required case was graded: {why}"),
        }
    }
}

/// Grade one case from its replays (one per chunking) against `target`.
pub fn grade(scenario: &Scenario, outcomes: &[Outcome], target: &str, tier: Tier) -> CaseResult {
    let failed = outcomes.iter().find(|outcome| !outcome.passed());
    let time: Duration = outcomes.iter().map(|outcome| outcome.elapsed).sum();
    let informational = scenario.grade_in(tier) == CaseKind::Informational;
    let grade = match (informational, failed) {
        (true, _) => Grade::Informational,
        (false, None) => Grade::Pass,
        (false, Some(_)) => Grade::Fail,
    };
    let failure = failed.filter(|_| !informational).map(|outcome| {
        let failure = outcome
            .failure
            .as_ref()
            .expect("a failed outcome has a failure");
        FailureDetail {
            chunking: outcome.chunking.to_string(),
            step: failure.step,
            expected: failure.expected.clone(),
            actual: failure.actual.clone(),
            screen: outcome.transcript.screen.trim_end().to_string(),
            transcript: outcome.transcript.timeline.clone(),
        }
    });
    CaseResult {
        id: scenario.id.clone(),
        category: scenario.category().to_string(),
        requirement: scenario.requirement.clone(),
        required: !informational,
        grade,
        target: target.to_string(),
        tier: tier.to_string(),
        held: informational.then_some(failed.is_none()),
        time_ms: time.as_millis(),
        chunkings: outcomes
            .iter()
            .map(|outcome| ChunkingResult {
                chunking: outcome.chunking.to_string(),
                passed: outcome.passed(),
                time_ms: outcome.elapsed.as_millis(),
            })
            .collect(),
        failure,
        skip_reason: None,
    }
}

/// A case not run against `target`: the proxy lacks what it needs, or the case is for another
/// target.
pub fn skipped(scenario: &Scenario, reason: String, target: &str, tier: Tier) -> CaseResult {
    CaseResult {
        id: scenario.id.clone(),
        category: scenario.category().to_string(),
        requirement: scenario.requirement.clone(),
        required: scenario.grade_in(tier) != CaseKind::Informational,
        grade: Grade::Skip,
        target: target.to_string(),
        tier: tier.to_string(),
        held: None,
        time_ms: 0,
        chunkings: Vec::new(),
        failure: None,
        skip_reason: Some(reason),
    }
}

impl Report {
    /// Whether the run passed: its verdict is [`Verdict::Passed`] (the exit status is 0 then).
    pub fn passed(&self) -> bool {
        self.verdict().ok()
    }

    pub fn totals(&self) -> Totals {
        Totals::of(&self.cases)
    }

    /// The cases' categories, in the order of the report, each once.
    pub fn categories(&self) -> Vec<&str> {
        let mut categories: Vec<&str> = Vec::new();
        for case in &self.cases {
            if !categories.contains(&case.category.as_str()) {
                categories.push(&case.category);
            }
        }
        categories
    }

    pub fn totals_of(&self, category: &str) -> Totals {
        Totals::of(self.cases.iter().filter(|case| case.category == category))
    }

    /// Failures first, then a run that graded no required case, then skips not allowed.
    pub fn verdict(&self) -> Verdict {
        let required = || self.cases.iter().filter(|case| case.required);
        let failed = required().filter(|c| c.grade == Grade::Fail).count();
        let skipped: Vec<&CaseResult> = required().filter(|c| c.grade == Grade::Skip).collect();
        let graded = required().count() - skipped.len();
        if failed > 0 {
            return Verdict::Failed { failed };
        }
        if graded == 0 {
            return Verdict::NothingGraded(self.why_nothing_graded(&skipped));
        }
        match skipped.len() {
            0 => Verdict::Passed { graded, skipped: 0 },
            skipped if self.allow_skip => Verdict::Passed { graded, skipped },
            skipped => Verdict::Skipped { skipped },
        }
    }

    fn why_nothing_graded(&self, skipped: &[&CaseResult]) -> String {
        if self.cases.is_empty() {
            return "the run selected no case".into();
        }
        if skipped.is_empty() {
            return format!(
                "the {} case(s) selected are all informational",
                self.cases.len()
            );
        }
        let mut reasons: Vec<&str> = skipped
            .iter()
            .filter_map(|case| case.skip_reason.as_deref())
            .collect();
        reasons.sort_unstable();
        reasons.dedup();
        format!(
            "all {} required case(s) were skipped ({})",
            skipped.len(),
            reasons.join("; ")
        )
    }
}

/// Colour on a terminal, never with `NO_COLOR` set (https://no-color.org).
pub fn colour_wanted() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

#[cfg(test)]
pub(crate) mod tests {
    use scenarios::outcome::{Event, Moment};

    use super::*;

    fn case(id: &str, grade: Grade, required: bool) -> CaseResult {
        CaseResult {
            id: id.into(),
            category: id.split('/').next().unwrap_or_default().into(),
            requirement: "A denied line MUST NOT run.".into(),
            required,
            grade,
            target: "mock".into(),
            tier: "unguarded".into(),
            held: (!required).then_some(true),
            time_ms: 3,
            chunkings: Vec::new(),
            failure: None,
            skip_reason: (grade == Grade::Skip).then(|| "the proxy refuses exec requests".into()),
        }
    }

    fn report(cases: Vec<CaseResult>) -> Report {
        Report {
            suite_version: "0.1.0".into(),
            proxy: ProxyInfo::default(),
            target: "mock".into(),
            date: "2026-01-01T00:00:00Z".into(),
            total_ms: 10,
            allow_skip: false,
            cases,
        }
    }

    /// One passing case and one failed one, with a timeline.
    pub(crate) fn failed_report() -> Report {
        let mut failed = case("basic/deny", Grade::Fail, true);
        failed.failure = Some(FailureDetail {
            chunking: "one-packet".into(),
            step: 2,
            expected: "the target runs \"echo hi\"".into(),
            actual: "the target ran \"echo DENY\"".into(),
            screen: "$ echo DENY".into(),
            transcript: vec![Moment {
                step: 1,
                at_ms: 4,
                event: Event::Sent("echo DENY<Enter>".into()),
            }],
        });
        report(vec![case("basic/approve", Grade::Pass, true), failed])
    }

    #[test]
    fn a_skipped_required_case_is_not_a_pass_unless_skips_are_allowed() {
        let mut run = report(vec![
            case("basic/a", Grade::Pass, true),
            case("exec/b", Grade::Skip, true),
            case("secrets/c", Grade::Skip, false),
        ]);
        assert_eq!(run.verdict(), Verdict::Skipped { skipped: 1 });
        assert!(!run.passed());
        run.allow_skip = true;
        assert_eq!(
            run.verdict(),
            Verdict::Passed {
                graded: 1,
                skipped: 1
            }
        );
        assert!(run.passed());
        // A skipped informational case does not count either way.
        run.cases.truncate(1);
        run.allow_skip = false;
        assert_eq!(
            run.verdict(),
            Verdict::Passed {
                graded: 1,
                skipped: 0
            }
        );
    }

    #[test]
    fn a_run_that_graded_no_required_case_does_not_pass_and_says_why() {
        let mut run = report(vec![case("exec/b", Grade::Skip, true)]);
        run.allow_skip = true;
        let verdict = run.verdict();
        assert!(!verdict.ok());
        assert_eq!(
            verdict.summary(),
            "no required case was graded: all 1 required case(s) were skipped (the proxy \
             refuses exec requests)"
        );
        let only_info = report(vec![case("secrets/c", Grade::Informational, false)]);
        assert!(only_info.verdict().summary().contains("all informational"));
        assert!(!report(Vec::new()).passed());
    }

    #[test]
    fn failures_come_first_in_the_verdict() {
        let run = report(vec![
            case("basic/a", Grade::Fail, true),
            case("exec/b", Grade::Skip, true),
        ]);
        assert_eq!(run.verdict(), Verdict::Failed { failed: 1 });
        assert_eq!(
            run.totals(),
            Totals {
                pass: 0,
                fail: 1,
                skip: 1,
                informational: 0
            }
        );
    }
}
