//! The JUnit XML report, for CI systems: one test suite per category, one test case per case;
//! a failure carries the requirement, expected and actual in its message and the timeline in
//! its description, and a skip its reason.

use std::time::Duration;

use scenarios::outcome::Moment;

use super::{Grade, Report};

/// The timeline as text, one moment a line.
fn transcript(moments: &[Moment]) -> String {
    moments.iter().map(|moment| format!("{moment}\n")).collect()
}

impl Report {
    pub fn to_junit(&self) -> String {
        use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};
        let mut report = quick_junit::Report::new("sshgate-conformance");
        for category in self.categories() {
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
                        status.set_description(transcript(&failure.transcript));
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
}
