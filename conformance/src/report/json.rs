//! The JSON report: the [`Report`] as it is, plus its totals and verdict, so that a reader
//! need not recount. Its shape is `docs/report.schema.json`; a test validates real reports
//! against it.

use serde::Serialize;

use super::{Report, Totals};

#[derive(Serialize)]
struct JsonReport<'a> {
    #[serde(flatten)]
    report: &'a Report,
    totals: Totals,
    verdict: JsonVerdict,
}

#[derive(Serialize)]
struct JsonVerdict {
    /// Whether the run passed (the exit status is 0 then).
    ok: bool,
    summary: String,
}

impl Report {
    pub fn to_json(&self) -> String {
        let verdict = self.verdict();
        let report = JsonReport {
            report: self,
            totals: self.totals(),
            verdict: JsonVerdict {
                ok: verdict.ok(),
                summary: verdict.summary(),
            },
        };
        serde_json::to_string_pretty(&report).expect("a report always serializes")
    }
}
