//! `sshgate audit verify FILE`: walks the chain from the first line and names the first line
//! that breaks it, and how.
//!
//! Invariant: a file is reported intact only when its first line starts the chain (`seq` 0,
//! `prev` all zeros) and every later line has the next `seq` and the SHA-256 of the line before
//! it as `prev`. An edit shows as a line whose hash is not the next line's `prev`, a removal as
//! a gap in `seq`, a reordering as a `seq` out of turn. An edit of the very last line, or lines
//! cut from the end, leave no trace in the file itself: the summary's last hash, kept
//! elsewhere, shows them (docs/audit.md).

use std::io::{self, BufRead, BufReader};
use std::path::Path;

use super::line::{sha256_hex, LinkFields, CHAIN_START};

/// What `audit verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Intact {
        records: u64,
        /// The SHA-256 of the last line: what the next record's `prev` will be.
        last_hash: String,
    },
    Broken {
        /// 1-based number of the first line that is not what the chain says it should be.
        line: u64,
        problem: String,
    },
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Verdict::Intact { records, last_hash } => write!(
                f,
                "intact: {records} records, the chain unbroken; last line's SHA-256 {last_hash}"
            ),
            Verdict::Broken { line, problem } => write!(f, "line {line}: {problem}"),
        }
    }
}

/// Check the chain of the audit file at `path`. Err only when it cannot be read.
pub fn verify(path: &Path) -> io::Result<Verdict> {
    let mut lines = BufReader::new(std::fs::File::open(path)?);
    let mut expected_seq = 0u64;
    let mut expected_prev = CHAIN_START.to_string();
    let mut number = 0u64;
    let mut line = Vec::new();
    loop {
        line.clear();
        if lines.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        number += 1;
        let broken = |problem: String| Verdict::Broken {
            line: number,
            problem,
        };
        if line.pop() != Some(b'\n') {
            return Ok(broken("cut short: no newline at its end".into()));
        }
        let fields = match LinkFields::parse(&line) {
            Ok(fields) => fields,
            Err(why) => return Ok(broken(why)),
        };
        if fields.seq != expected_seq {
            return out_of_turn(path, number, fields.seq, expected_seq);
        }
        if fields.prev != expected_prev {
            return Ok(if number == 1 {
                broken("edited: the first line's prev must be 64 zeros, the chain's start".into())
            } else {
                Verdict::Broken {
                    line: number - 1,
                    problem: format!(
                        "edited: its SHA-256 is not the prev that line {number} holds"
                    ),
                }
            });
        }
        expected_seq += 1;
        expected_prev = sha256_hex(&line);
    }
    Ok(Verdict::Intact {
        records: number,
        last_hash: expected_prev,
    })
}

/// Line `number` holds `seq` where `expected` belongs: reordered when `expected` is found on
/// a later line or `seq` went back, removed otherwise.
fn out_of_turn(path: &Path, number: u64, seq: u64, expected: u64) -> io::Result<Verdict> {
    let problem = if seq < expected {
        format!("reordered: seq {seq} where seq {expected} belongs")
    } else {
        match line_holding(path, expected, number)? {
            Some(later) => format!(
                "reordered: seq {seq} where seq {expected} belongs, which is on line {later}"
            ),
            None => {
                let missing = seq - expected;
                let records = if missing == 1 { "record" } else { "records" };
                format!(
                    "{missing} {records} removed before it (seq {seq} where seq {expected} \
                     belongs)"
                )
            }
        }
    };
    Ok(Verdict::Broken {
        line: number,
        problem,
    })
}

/// The number of the first line after line `after` whose seq is `seq`.
fn line_holding(path: &Path, seq: u64, after: u64) -> io::Result<Option<u64>> {
    let lines = BufReader::new(std::fs::File::open(path)?).split(b'\n');
    for (index, line) in lines.enumerate().skip(after as usize) {
        if LinkFields::parse(&line?).is_ok_and(|fields| fields.seq == seq) {
            return Ok(Some(index as u64 + 1));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::line::ChainHead;
    use crate::audit::record::Record;

    /// A chain of `count` records, as the writer would write it.
    fn chain(count: usize) -> Vec<String> {
        let mut head = ChainHead::start();
        (0..count)
            .map(|n| {
                let record = Record::Cancel {
                    session: "s".into(),
                    id: format!("s-{n}"),
                    reason: "test".into(),
                };
                let (line, next) = head.encode(&record, std::time::SystemTime::UNIX_EPOCH);
                head = next;
                String::from_utf8(line).unwrap()
            })
            .collect()
    }

    fn verdict_of(lines: &[String]) -> Verdict {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
        std::fs::write(&path, text).unwrap();
        verify(&path).unwrap()
    }

    fn broken(line: u64, problem: &str) -> impl Fn(&Verdict) -> bool + '_ {
        move |verdict| {
            matches!(verdict, Verdict::Broken { line: at, problem: what }
                if *at == line && what.contains(problem))
        }
    }

    #[test]
    fn an_untouched_chain_is_intact() {
        let lines = chain(5);
        let verdict = verdict_of(&lines);
        assert_eq!(
            verdict,
            Verdict::Intact {
                records: 5,
                last_hash: sha256_hex(lines[4].as_bytes())
            }
        );
        assert!(matches!(
            verdict_of(&[]),
            Verdict::Intact { records: 0, .. }
        ));
    }

    #[test]
    fn an_edited_record_is_named() {
        let mut lines = chain(5);
        lines[2] = lines[2].replace("\"test\"", "\"tost\"");
        let verdict = verdict_of(&lines);
        assert!(broken(3, "edited")(&verdict), "{verdict}");
    }

    #[test]
    fn an_edited_first_prev_is_named() {
        let mut lines = chain(3);
        lines[0] = lines[0].replace(CHAIN_START, &"1".repeat(64));
        let verdict = verdict_of(&lines);
        assert!(broken(1, "64 zeros")(&verdict), "{verdict}");
    }

    #[test]
    fn a_removed_record_is_named() {
        let mut lines = chain(5);
        lines.remove(2);
        let verdict = verdict_of(&lines);
        assert!(
            broken(3, "1 record removed before it")(&verdict),
            "{verdict}"
        );
        let mut lines = chain(5);
        lines.drain(0..2);
        let verdict = verdict_of(&lines);
        assert!(broken(1, "2 records removed")(&verdict), "{verdict}");
    }

    #[test]
    fn reordered_records_are_named() {
        let mut lines = chain(6);
        lines.swap(1, 2);
        let verdict = verdict_of(&lines);
        assert!(broken(2, "reordered")(&verdict), "{verdict}");
        assert!(verdict.to_string().contains("on line 3"), "{verdict}");
        let mut lines = chain(6);
        lines.swap(1, 4);
        let verdict = verdict_of(&lines);
        assert!(broken(2, "on line 5")(&verdict), "{verdict}");
    }

    #[test]
    fn a_line_that_is_not_a_record_is_named() {
        let mut lines = chain(4);
        lines[1] = "hello".into();
        let verdict = verdict_of(&lines);
        assert!(broken(2, "not a JSON audit record")(&verdict), "{verdict}");
        let mut lines = chain(2);
        lines.insert(1, String::new());
        let verdict = verdict_of(&lines);
        assert!(broken(2, "not a JSON audit record")(&verdict), "{verdict}");
    }

    #[test]
    fn a_record_cut_short_is_named() {
        let lines = chain(3);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let text = format!("{}\n{}\n{}", lines[0], lines[1], &lines[2][..10]);
        std::fs::write(&path, text).unwrap();
        let verdict = verify(&path).unwrap();
        assert!(broken(3, "cut short")(&verdict), "{verdict}");
    }
}
