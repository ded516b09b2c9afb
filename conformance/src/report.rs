//! The graded report: one result per case, and its three forms (human, JSON, JUnit XML).
//!
//! Invariant: a case passes only if every chunking it ran under passed; a failure keeps what a
//! reader needs to act on it (the requirement, expected and actual, the chunking and seed, the
//! last screen), and an informational case never counts as a failure.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::time::Duration;

use scenarios::format::Grade as CaseKind;
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

#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub id: String,
    pub category: String,
    pub requirement: String,
    pub grade: Grade,
    /// What the proxy had behind it: `mock`, or e.g. `bash behind OpenSSH sshd`.
    pub target: String,
    /// For informational cases: whether the behaviour described held.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held: Option<bool>,
    pub time_ms: u128,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureDetail>,
    /// For skipped cases: the capability the proxy lacks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FailureDetail {
    pub chunking: String,
    pub step: usize,
    pub expected: String,
    pub actual: String,
    pub screen: String,
    pub transcript: String,
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
    pub cases: Vec<CaseResult>,
}

/// Grade one case from its replays (one per chunking) against `target`.
pub fn grade(scenario: &Scenario, outcomes: &[Outcome], target: &str) -> CaseResult {
    let failed = outcomes.iter().find(|outcome| !outcome.passed());
    let time: Duration = outcomes.iter().map(|outcome| outcome.elapsed).sum();
    let informational = scenario.grade == CaseKind::Informational;
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
            transcript: outcome.transcript.render(),
        }
    });
    CaseResult {
        id: scenario.id.clone(),
        category: scenario.category().to_string(),
        requirement: scenario.requirement.clone(),
        grade,
        target: target.to_string(),
        held: informational.then_some(failed.is_none()),
        time_ms: time.as_millis(),
        failure,
        skip_reason: None,
    }
}

/// A case not run against `target`: the proxy lacks what it needs, or the case is for another
/// target.
pub fn skipped(scenario: &Scenario, reason: String, target: &str) -> CaseResult {
    CaseResult {
        id: scenario.id.clone(),
        category: scenario.category().to_string(),
        requirement: scenario.requirement.clone(),
        grade: Grade::Skip,
        target: target.to_string(),
        held: None,
        time_ms: 0,
        failure: None,
        skip_reason: Some(reason),
    }
}

impl Report {
    /// Whether every required case passed (the exit status is 0 then).
    pub fn passed(&self) -> bool {
        self.cases.iter().all(|case| case.grade != Grade::Fail)
    }

    pub fn count(&self, grade: Grade) -> usize {
        self.cases.iter().filter(|case| case.grade == grade).count()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serializes")
    }

    pub fn to_junit(&self) -> String {
        use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};
        let mut report = quick_junit::Report::new("sshgate-conformance");
        let mut categories: Vec<&str> = self.cases.iter().map(|c| c.category.as_str()).collect();
        categories.dedup();
        for category in categories {
            let mut suite = TestSuite::new(category);
            suite.add_property(Property::new("target", self.target.as_str()));
            for case in self.cases.iter().filter(|case| case.category == category) {
                let status = match (&case.grade, &case.failure) {
                    (Grade::Fail, Some(failure)) => {
                        let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                        status.set_message(format!(
                            "{} (expected {}; actual {}; chunking {}, step {})",
                            case.requirement,
                            failure.expected,
                            failure.actual,
                            failure.chunking,
                            failure.step
                        ));
                        status.set_description(failure.transcript.clone());
                        status
                    }
                    (Grade::Skip, _) => {
                        let mut status = TestCaseStatus::skipped();
                        if let Some(reason) = &case.skip_reason {
                            status.set_message(reason.as_str());
                        }
                        status
                    }
                    _ => TestCaseStatus::success(),
                };
                let mut test = TestCase::new(case.id.as_str(), status);
                test.set_classname(category);
                test.set_time(Duration::from_millis(case.time_ms as u64));
                test.add_property(Property::new("target", case.target.as_str()));
                suite.add_test_case(test);
            }
            report.add_test_suite(suite);
        }
        report
            .to_string()
            .expect("a JUnit report always serializes")
    }

    /// The report for a person: failures in full, then a table by category.
    pub fn to_human(&self, colour: bool) -> String {
        let paint = |code: &str, text: &str| {
            if colour {
                format!("\x1b[{code}m{text}\x1b[0m")
            } else {
                text.to_string()
            }
        };
        let mut out = String::new();
        let _ = writeln!(
            out,
            "sshgate conformance suite {} against {}",
            self.suite_version, self.proxy.description
        );
        let _ = writeln!(out, "target: {}", self.target);
        let _ = writeln!(
            out,
            "proxy: {} | host key {} | {} | {:.2} s",
            self.proxy
                .ssh_version
                .as_deref()
                .unwrap_or("(unknown version)"),
            self.proxy
                .host_key_fingerprint
                .as_deref()
                .unwrap_or("(unknown)"),
            self.date,
            self.total_ms as f64 / 1000.0
        );
        for case in self.cases.iter().filter(|case| case.grade == Grade::Fail) {
            let Some(failure) = &case.failure else {
                continue;
            };
            let _ = writeln!(out, "\n{} {}", paint("31", "FAIL"), case.id);
            let _ = writeln!(out, "  requirement: {}", case.requirement);
            let _ = writeln!(out, "  target:      {}", case.target);
            let _ = writeln!(
                out,
                "  chunking:    {} (step {})",
                failure.chunking, failure.step
            );
            let _ = writeln!(out, "  expected:    {}", failure.expected);
            let _ = writeln!(out, "  actual:      {}", failure.actual);
            let _ = writeln!(out, "  last screen:");
            for line in failure.screen.lines() {
                let _ = writeln!(out, "  | {line}");
            }
        }
        let mut reasons: Vec<&str> = self
            .cases
            .iter()
            .filter_map(|case| case.skip_reason.as_deref())
            .collect();
        reasons.sort_unstable();
        reasons.dedup();
        for reason in reasons {
            let ids: Vec<&str> = self
                .cases
                .iter()
                .filter(|case| case.skip_reason.as_deref() == Some(reason))
                .map(|case| case.id.as_str())
                .collect();
            let _ = writeln!(
                out,
                "\n{} {} case(s): {reason}\n  {}",
                paint("33", "SKIP"),
                ids.len(),
                ids.join(", ")
            );
        }
        if let Some(output) = self.proxy.output.as_deref().filter(|_| !self.passed()) {
            let lines: Vec<&str> = output.lines().collect();
            let _ = writeln!(out, "\nthe proxy's last output:");
            for line in &lines[lines.len().saturating_sub(10)..] {
                let _ = writeln!(out, "  | {line}");
            }
        }
        let _ = writeln!(
            out,
            "\n{:<18} {:>5} {:>5} {:>5} {:>5}",
            "category", "pass", "fail", "skip", "info"
        );
        let mut categories: Vec<&str> = self.cases.iter().map(|c| c.category.as_str()).collect();
        categories.dedup();
        for category in categories {
            let count = |grade| {
                self.cases
                    .iter()
                    .filter(|case| case.category == category && case.grade == grade)
                    .count()
            };
            let _ = writeln!(
                out,
                "{:<18} {:>5} {:>5} {:>5} {:>5}",
                category,
                count(Grade::Pass),
                count(Grade::Fail),
                count(Grade::Skip),
                count(Grade::Informational)
            );
        }
        let verdict = if self.passed() {
            paint("32", "every required case passed")
        } else {
            paint(
                "31",
                &format!("{} required case(s) failed", self.count(Grade::Fail)),
            )
        };
        let _ = writeln!(
            out,
            "{:<18} {:>5} {:>5} {:>5} {:>5}\n{verdict}",
            "total",
            self.count(Grade::Pass),
            self.count(Grade::Fail),
            self.count(Grade::Skip),
            self.count(Grade::Informational)
        );
        out
    }
}

/// Colour on a terminal, never with `NO_COLOR` set (https://no-color.org).
pub fn colour_wanted() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}
