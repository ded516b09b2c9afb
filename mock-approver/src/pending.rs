//! Answers still to come, per connection: each is a task that yields a decision later, or a
//! request held open forever.
//!
//! Invariant: an answer is delivered only if its request is still pending under the same id and
//! sequence number, so a cancelled (or superseded) request never gets its answer sent, even when
//! the answering task finished just before the cancel. Dropping `Pending` aborts every task.

use std::collections::HashMap;

use sshgate_wire::Decision;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::rule::LaterDecision;

/// How many finished answers may wait for their connection loop to deliver them. When full, the
/// answering tasks wait (their answer is simply later); the connection loop drains it whenever
/// it is not writing.
pub(crate) const OUTBOX_CAPACITY: usize = 64;

/// A decision that a task produced, on its way back to the connection loop.
pub(crate) struct Answer {
    id: String,
    seq: u64,
    pub(crate) decision: Decision,
}

struct Entry<T> {
    seq: u64,
    task: Option<AbortHandle>,
    value: T,
}

/// The pending requests of one connection, each with a value the transport needs to deliver
/// the answer (the in-process reply sender; nothing for WebSocket).
pub(crate) struct Pending<T> {
    next_seq: u64,
    entries: HashMap<String, Entry<T>>,
}

impl<T> Pending<T> {
    pub(crate) fn new() -> Self {
        Pending {
            next_seq: 0,
            entries: HashMap::new(),
        }
    }

    /// Runs `later` in its own task; its decision comes back through `outbox`.
    pub(crate) fn spawn(
        &mut self,
        id: String,
        later: LaterDecision,
        outbox: mpsc::Sender<Answer>,
        value: T,
    ) {
        let seq = self.next_seq();
        let task_id = id.clone();
        let task = tokio::spawn(async move {
            let decision = later.await;
            // Fails only when the connection is gone, and then nobody wants the answer.
            let _ = outbox
                .send(Answer {
                    id: task_id,
                    seq,
                    decision,
                })
                .await;
        });
        self.insert(id, seq, Some(task.abort_handle()), value);
    }

    /// Keeps a request open with no answer to come.
    pub(crate) fn hold(&mut self, id: String, value: T) {
        let seq = self.next_seq();
        self.insert(id, seq, None, value);
    }

    /// Takes the entry `answer` belongs to, or `None` if its request was cancelled or replaced.
    pub(crate) fn finish(&mut self, answer: &Answer) -> Option<T> {
        match self.entries.get(&answer.id) {
            Some(entry) if entry.seq == answer.seq => {
                self.entries.remove(&answer.id).map(|entry| entry.value)
            }
            _ => None,
        }
    }

    /// Forgets the request and stops its task. Returns whether it was pending.
    pub(crate) fn cancel(&mut self, id: &str) -> bool {
        match self.entries.remove(id) {
            Some(entry) => {
                if let Some(task) = entry.task {
                    task.abort();
                }
                true
            }
            None => false,
        }
    }

    fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    fn insert(&mut self, id: String, seq: u64, task: Option<AbortHandle>, value: T) {
        // A proxy should never reuse an id while it is pending; if one does, the newer request
        // wins and the older one's answer is never sent.
        if let Some(old) = self.entries.insert(id, Entry { seq, task, value }) {
            if let Some(task) = old.task {
                task.abort();
            }
        }
    }
}

impl<T> Drop for Pending<T> {
    fn drop(&mut self) {
        for entry in self.entries.values() {
            if let Some(task) = &entry.task {
                task.abort();
            }
        }
    }
}
