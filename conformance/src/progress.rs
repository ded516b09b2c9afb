//! How far a run is, on stderr, so that a report on stdout stays clean: on a terminal, one
//! line rewritten after every replay; in a log (CI), a line every few seconds with the counts
//! so far, and one at the end.
//!
//! Invariant: a case counts as done when its last replay is; until then it is in none of the
//! counts, so passed + failed + informational + skipped only grows to the number of cases.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use scenarios::format::Grade as CaseKind;
use scenarios::Scenario;

/// How often a log gets a progress line.
pub const LOG_EVERY: Duration = Duration::from_secs(5);

/// How progress shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressStyle {
    Off,
    /// One line, rewritten in place (stderr is a terminal).
    Overwrite,
    /// A line this often, for a log.
    Lines(Duration),
}

impl ProgressStyle {
    /// One rewritten line when stderr is a terminal, else a line `every` so often.
    pub fn for_stderr(every: Duration) -> ProgressStyle {
        match std::io::stderr().is_terminal() {
            true => ProgressStyle::Overwrite,
            false => ProgressStyle::Lines(every),
        }
    }
}

/// The progress of one run; clones share it.
#[derive(Clone)]
pub struct Progress {
    inner: Arc<Inner>,
}

struct Inner {
    style: ProgressStyle,
    started: Instant,
    total_replays: usize,
    cases: usize,
    /// Cases run not at all (they need what the proxy lacks).
    skipped: usize,
    informational: Vec<bool>,
    counts: Mutex<Counts>,
    ticker: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

#[derive(Default)]
struct Counts {
    replays: usize,
    /// Per case: replays still to come, and whether one failed.
    remaining: Vec<usize>,
    failed_replay: Vec<bool>,
    passed: usize,
    failed: usize,
    informational: usize,
}

impl Progress {
    /// Progress over `cases`, of which the `index`th has `replays[index]` replays (0: skipped).
    /// For [`ProgressStyle::Lines`], starts a task on the current runtime that prints them.
    pub fn start(style: ProgressStyle, cases: &[Scenario], replays: Vec<usize>) -> Progress {
        let progress = Progress {
            inner: Arc::new(Inner {
                style,
                started: Instant::now(),
                total_replays: replays.iter().sum(),
                cases: cases.len(),
                skipped: replays.iter().filter(|&&count| count == 0).count(),
                informational: cases
                    .iter()
                    .map(|case| case.grade == CaseKind::Informational)
                    .collect(),
                counts: Mutex::new(Counts {
                    failed_replay: vec![false; replays.len()],
                    remaining: replays,
                    ..Counts::default()
                }),
                ticker: Mutex::new(None),
            }),
        };
        if let ProgressStyle::Lines(every) = style {
            let shared = progress.clone();
            let ticker = tokio::spawn(async move {
                let mut ticks = tokio::time::interval(every);
                ticks.tick().await; // the first tick is at once
                loop {
                    ticks.tick().await;
                    shared.print_line("");
                }
            });
            *progress.inner.ticker.lock().expect("not poisoned") = Some(ticker);
        }
        progress
    }

    /// One replay of the `index`th case finished.
    pub fn done(&self, index: usize, passed: bool) {
        let inner = &self.inner;
        let replays = {
            let mut counts = inner.counts.lock().expect("not poisoned");
            counts.replays += 1;
            counts.failed_replay[index] |= !passed;
            counts.remaining[index] = counts.remaining[index].saturating_sub(1);
            if counts.remaining[index] == 0 {
                match (inner.informational[index], counts.failed_replay[index]) {
                    (true, _) => counts.informational += 1,
                    (false, false) => counts.passed += 1,
                    (false, true) => counts.failed += 1,
                }
            }
            counts.replays
        };
        if inner.style == ProgressStyle::Overwrite {
            eprint!(
                "\r[{replays}/{}] {:<60}",
                inner.total_replays,
                self.summary()
            );
            let _ = std::io::stderr().flush();
        }
    }

    /// The run is over: clear the terminal's line, or say the final counts in a log.
    pub fn finish(&self) {
        if let Some(ticker) = self.inner.ticker.lock().expect("not poisoned").take() {
            ticker.abort();
        }
        match self.inner.style {
            ProgressStyle::Off => {}
            ProgressStyle::Overwrite => eprint!("\r{:<80}\r", ""),
            ProgressStyle::Lines(_) => self.print_line("finished: "),
        }
    }

    fn print_line(&self, prefix: &str) {
        let replays = self.inner.counts.lock().expect("not poisoned").replays;
        eprintln!(
            "conformance: {prefix}{:.0} s, {replays}/{} replays; {}",
            self.inner.started.elapsed().as_secs_f64(),
            self.inner.total_replays,
            self.summary()
        );
    }

    /// `130/190 cases done: 120 passed, 8 failed, 2 informational, 27 skipped`.
    fn summary(&self) -> String {
        let inner = &self.inner;
        let counts = inner.counts.lock().expect("not poisoned");
        let done = counts.passed + counts.failed + counts.informational + inner.skipped;
        format!(
            "{done}/{} cases done: {} passed, {} failed, {} informational, {} skipped",
            inner.cases, counts.passed, counts.failed, counts.informational, inner.skipped
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(id: &str, informational: bool) -> Scenario {
        let grade = if informational {
            "\ngrade = \"informational\""
        } else {
            ""
        };
        let text = format!(
            "id = \"{id}\"\ndescription = \"d\"\nrequirement = \"r\"{grade}\n\n[[steps]]\n\
             screen_contains = \"$\"\n"
        );
        scenarios::format::parse(id, &text).expect("a valid scenario")
    }

    #[tokio::test]
    async fn a_case_counts_once_its_last_replay_is_done() {
        let cases = [
            case("a/pass", false),
            case("a/fail", false),
            case("a/info", true),
        ];
        let progress = Progress::start(ProgressStyle::Off, &cases, vec![2, 2, 1]);
        progress.done(0, true);
        progress.done(1, false);
        assert_eq!(
            progress.summary(),
            "0/3 cases done: 0 passed, 0 failed, 0 informational, 0 skipped"
        );
        progress.done(0, true);
        progress.done(1, true);
        progress.done(2, false);
        assert_eq!(
            progress.summary(),
            "3/3 cases done: 1 passed, 1 failed, 1 informational, 0 skipped"
        );
    }
}
