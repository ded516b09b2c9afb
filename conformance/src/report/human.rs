//! The report for a person at a terminal or reading a log: failures in full (the requirement,
//! expected against actual, the chunking, the last screen), skips by reason, a table by
//! category and the verdict in one line.
//!
//! Invariant: without colour, the text holds no escape sequence of ours; with it, expected and
//! actual read as a diff (red and green, the words that differ in bold).

use std::fmt::Write as _;

use super::diff::{side_by_side, Piece};
use super::{Grade, Report};

const RED: &str = "31";
const GREEN: &str = "32";
const YELLOW: &str = "33";
const BOLD_RED: &str = "1;31";
const BOLD_GREEN: &str = "1;32";

/// Text in an SGR colour, or as it is.
struct Paint {
    colour: bool,
}

impl Paint {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// One side of the diff: all of it in `plain`, the words only it has in `strong`.
    fn side(&self, pieces: &[Piece], plain: &str, strong: &str) -> String {
        pieces
            .iter()
            .map(
                |piece| match piece.changed && !piece.text.trim().is_empty() {
                    true => self.paint(strong, piece.text),
                    false => self.paint(plain, piece.text),
                },
            )
            .collect()
    }
}

impl Report {
    /// The report for a person; `colour` for a terminal (see [`super::colour_wanted`]).
    pub fn to_human(&self, colour: bool) -> String {
        let paint = Paint { colour };
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
            let _ = writeln!(out, "\n{} {}", paint.paint(RED, "FAIL"), case.id);
            let _ = writeln!(out, "  requirement: {}", case.requirement);
            let _ = writeln!(out, "  target:      {}", case.target);
            let _ = writeln!(
                out,
                "  chunking:    {} (step {})",
                failure.chunking, failure.step
            );
            if colour {
                let sides = side_by_side(&failure.expected, &failure.actual);
                let expected = paint.side(&sides.expected, RED, BOLD_RED);
                let actual = paint.side(&sides.actual, GREEN, BOLD_GREEN);
                let _ = writeln!(out, "  {}{expected}", paint.paint(RED, "- expected:  "));
                let _ = writeln!(out, "  {}{actual}", paint.paint(GREEN, "+ actual:    "));
            } else {
                let _ = writeln!(out, "  expected:    {}", failure.expected);
                let _ = writeln!(out, "  actual:      {}", failure.actual);
            }
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
                paint.paint(YELLOW, "SKIP"),
                ids.len(),
                ids.join(", ")
            );
        }
        let verdict = self.verdict();
        if let Some(output) = self.proxy.output.as_deref().filter(|_| !verdict.ok()) {
            let lines: Vec<&str> = output.lines().collect();
            let _ = writeln!(out, "\nthe proxy's last output:");
            for line in &lines[lines.len().saturating_sub(10)..] {
                let _ = writeln!(out, "  | {line}");
            }
        }
        let row = |out: &mut String, name: &str, totals: super::Totals| {
            let _ = writeln!(
                out,
                "{name:<18} {:>5} {:>5} {:>5} {:>5}",
                totals.pass, totals.fail, totals.skip, totals.informational
            );
        };
        let _ = writeln!(
            out,
            "\n{:<18} {:>5} {:>5} {:>5} {:>5}",
            "category", "pass", "fail", "skip", "info"
        );
        for category in self.categories() {
            row(&mut out, category, self.totals_of(category));
        }
        row(&mut out, "total", self.totals());
        let colour = if verdict.ok() { GREEN } else { RED };
        let _ = writeln!(out, "{}", paint.paint(colour, &verdict.summary()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::failed_report;

    #[test]
    fn a_failure_reads_as_a_diff_in_colour_and_plainly_without() {
        let report = failed_report();
        let plain = report.to_human(false);
        assert!(!plain.contains('\x1b'), "{plain}");
        assert!(plain.contains("  expected:    the target runs \"echo hi\""));
        assert!(plain.contains("  actual:      the target ran \"echo DENY\""));
        let coloured = report.to_human(true);
        assert!(
            coloured.contains("\x1b[31m- expected:  \x1b[0m"),
            "{coloured:?}"
        );
        assert!(
            coloured.contains("\x1b[32m+ actual:    \x1b[0m"),
            "{coloured:?}"
        );
        // The words that differ stand out; those in common do not.
        assert!(coloured.contains("\x1b[1;31mhi\"\x1b[0m"), "{coloured:?}");
        assert!(coloured.contains("\x1b[1;32mDENY\"\x1b[0m"), "{coloured:?}");
        assert!(coloured.contains("\x1b[32mtarget\x1b[0m"), "{coloured:?}");
    }
}
