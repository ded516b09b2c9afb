//! The referee's records: the shell writes each, NUL-terminated (`L<line>`, `P`,
//! `E<command>`), to a FIFO; a thread of this process reads them into a list that async code
//! waits on ([`RecordLog::wait_for`]). Invariant: records keep the order the shell wrote them
//! in, and every wait wakes on a new record rather than on a timer.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// One thing the target's shell did, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// The interactive shell accepted this line and started running it: the text as bash or
    /// zsh stored it in their history (one record per line of a multi-line bash command; one
    /// for the whole buffer in zsh), the command line fish runs (comments included), or for
    /// dash each simple command as its trace shows it.
    Line(String),
    /// The interactive shell is about to show its prompt: the previous line is finished (or
    /// was interrupted). fish also reports a prompt redrawn in place (a window change).
    Prompt,
    /// An exec request for this command arrived (recorded before it runs).
    Exec(String),
}

impl Record {
    /// The command text of a `Line` or `Exec`.
    pub fn text(&self) -> Option<&str> {
        match self {
            Record::Line(text) | Record::Exec(text) => Some(text),
            Record::Prompt => None,
        }
    }

    fn parse(bytes: &[u8]) -> Option<Record> {
        let text = String::from_utf8_lossy(bytes);
        let (tag, rest) = text.split_at_checked(1)?;
        match tag {
            "L" => Some(Record::Line(rest.to_string())),
            "E" => Some(Record::Exec(rest.to_string())),
            "P" => Some(Record::Prompt),
            _ => None,
        }
    }
}

/// The record that stops the reader thread; the referees only write L, P and E records.
const STOP: &[u8] = b"S\0";

/// The records read so far, and a cursor for the waits.
pub(crate) struct RecordLog {
    records: Arc<Mutex<Vec<Record>>>,
    changes: watch::Receiver<usize>,
    /// Index of the next record a wait looks at.
    cursor: Mutex<usize>,
    /// A second handle on the FIFO, to tell the reader thread to stop.
    fifo: File,
}

/// A lock whose holder panicked still guards a whole list: the pushes below cannot leave it
/// half-changed.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl RecordLog {
    /// Read records from `fifo` (opened for reading and writing) until dropped.
    pub(crate) fn read(fifo: File) -> std::io::Result<RecordLog> {
        let records = Arc::new(Mutex::new(Vec::new()));
        let (count, changes) = watch::channel(0);
        let shared = records.clone();
        let mut reader = BufReader::new(fifo.try_clone()?);
        std::thread::spawn(move || loop {
            let mut bytes = Vec::new();
            match reader.read_until(0, &mut bytes) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if bytes.last() == Some(&0) {
                bytes.pop();
            }
            if bytes == STOP[..1] {
                return;
            }
            if let Some(record) = Record::parse(&bytes) {
                let mut list = lock(&shared);
                list.push(record);
                count.send_replace(list.len());
            }
        });
        Ok(RecordLog {
            records,
            changes,
            cursor: Mutex::new(0),
            fifo,
        })
    }

    pub(crate) fn all(&self) -> Vec<Record> {
        lock(&self.records).clone()
    }

    /// The first record from the cursor on that matches `pred` (skipping the others); the
    /// cursor moves past it. None after `patience` with no match.
    pub(crate) async fn wait_for(
        &self,
        pred: impl Fn(&Record) -> bool,
        patience: Duration,
    ) -> Option<Record> {
        let deadline = Instant::now() + patience;
        let mut changes = self.changes.clone();
        loop {
            // Mark the current count seen before looking, so a record pushed in between
            // still wakes the wait below.
            changes.borrow_and_update();
            {
                let records = lock(&self.records);
                let mut cursor = lock(&self.cursor);
                while let Some(record) = records.get(*cursor) {
                    *cursor += 1;
                    if pred(record) {
                        return Some(record.clone());
                    }
                }
            }
            let changed = tokio::time::timeout_at(deadline, changes.changed()).await;
            if !matches!(changed, Ok(Ok(()))) {
                return None;
            }
        }
    }
}

impl Drop for RecordLog {
    fn drop(&mut self) {
        let _ = self.fifo.write_all(STOP);
    }
}
