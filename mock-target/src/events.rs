//! What the mock target saw: [`TargetEvent`]s in arrival order, shared by every session.
//!
//! Invariant: an event is in the in-memory log (and, with an events file, written and flushed as
//! one JSON line) before any waiter is woken, and the log only ever grows, so a
//! [`EventLog::wait_for`] that saw an event will see it again.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// One thing the target received or did. Serialized as `{"event":"<snake_case>", ...fields}`.
/// Also `Deserialize`, so tools can read an events file back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TargetEvent {
    /// A successful authentication (`none`, `password`, `publickey`, `keyboard-interactive`).
    Auth {
        user: String,
        method: String,
    },
    /// An exec request it ran.
    Exec {
        command: String,
    },
    /// A line its shell ran.
    Executed {
        line: String,
    },
    /// Raw bytes received on a shell channel (standard base64).
    Input {
        data_b64: String,
    },
    Pty {
        term: String,
        cols: u32,
        rows: u32,
    },
    WindowChange {
        cols: u32,
        rows: u32,
    },
    Env {
        name: String,
        value: String,
    },
    Signal {
        name: String,
    },
    Subsystem {
        name: String,
    },
    Shell,
    /// The client sent EOF on a channel.
    Eof,
    /// The client closed a channel. (russh does not report a close that only answers the
    /// target's own close, e.g. after an exec finished.)
    Close,
}

impl TargetEvent {
    /// An `Input` event carrying `data`.
    pub fn input(data: &[u8]) -> Self {
        TargetEvent::Input {
            data_b64: base64::engine::general_purpose::STANDARD.encode(data),
        }
    }

    /// The bytes of an `Input` event; `None` for other events.
    pub fn input_data(&self) -> Option<Vec<u8>> {
        match self {
            // We encoded these ourselves, so decoding cannot fail.
            TargetEvent::Input { data_b64 } => base64::engine::general_purpose::STANDARD
                .decode(data_b64)
                .ok(),
            _ => None,
        }
    }
}

/// The shared, append-only event log. Cheap to clone; clones share one log.
#[derive(Clone)]
pub struct EventLog {
    inner: Arc<Inner>,
}

struct Inner {
    // A std Mutex: it is held only to push or copy, never across an await, and pushes come from
    // russh callbacks that must not wait on an async lock.
    state: Mutex<State>,
    // Carries the event count; waiters re-check the log whenever it changes. A watch holds
    // one value, so it never fills up: a burst of pushes wakes a waiter once.
    count: watch::Sender<usize>,
}

struct State {
    events: Vec<TargetEvent>,
    file: Option<File>,
}

impl Default for EventLog {
    fn default() -> Self {
        Self::in_memory()
    }
}

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLog")
            .field("events", &self.lock().events.len())
            .finish()
    }
}

impl EventLog {
    /// A log kept in memory only.
    pub fn in_memory() -> Self {
        EventLog {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    events: Vec::new(),
                    file: None,
                }),
                count: watch::Sender::new(0),
            }),
        }
    }

    /// A log that also appends each event as a JSON line to `path` (created if missing).
    pub fn with_file(path: &Path) -> io::Result<Self> {
        let file = File::options().create(true).append(true).open(path)?;
        let log = Self::in_memory();
        log.lock().file = Some(file);
        Ok(log)
    }

    /// `with_file` when a path is given, else `in_memory`.
    pub fn open(path: Option<&Path>) -> io::Result<Self> {
        match path {
            Some(path) => Self::with_file(path),
            None => Ok(Self::in_memory()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the Vec half-pushed; keep going.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Append an event, write it to the events file if any, and wake waiters.
    pub fn push(&self, event: TargetEvent) {
        tracing::debug!(?event, "target event");
        let count = {
            let mut state = self.lock();
            if let Some(file) = state.file.as_mut() {
                let written = serde_json::to_string(&event)
                    .map_err(io::Error::other)
                    .and_then(|line| {
                        file.write_all(format!("{line}\n").as_bytes())?;
                        file.flush()
                    });
                if let Err(e) = written {
                    tracing::warn!("cannot write to the events file: {e}");
                }
            }
            state.events.push(event);
            state.events.len()
        };
        self.inner.count.send_replace(count);
    }

    /// A copy of every event so far.
    pub fn snapshot(&self) -> Vec<TargetEvent> {
        self.lock().events.clone()
    }

    /// The events from the `first`th on (none when there are not that many yet).
    pub fn snapshot_from(&self, first: usize) -> Vec<TargetEvent> {
        self.lock().events.get(first..).unwrap_or_default().to_vec()
    }

    /// The lines the shell ran, in order.
    pub fn executed_lines(&self) -> Vec<String> {
        self.lock()
            .events
            .iter()
            .filter_map(|e| match e {
                TargetEvent::Executed { line } => Some(line.clone()),
                _ => None,
            })
            .collect()
    }

    /// The exec requests run, in order.
    pub fn exec_commands(&self) -> Vec<String> {
        self.lock()
            .events
            .iter()
            .filter_map(|e| match e {
                TargetEvent::Exec { command } => Some(command.clone()),
                _ => None,
            })
            .collect()
    }

    /// Every byte received on shell channels, concatenated in arrival order.
    pub fn input_bytes(&self) -> Vec<u8> {
        self.lock()
            .events
            .iter()
            .filter_map(TargetEvent::input_data)
            .flatten()
            .collect()
    }

    /// The number of events so far, as a watch that changes whenever one is pushed: for
    /// callers that wait on several things at once.
    pub fn subscribe(&self) -> watch::Receiver<usize> {
        self.inner.count.subscribe()
    }

    /// The first event (oldest first) matching `pred`, waiting up to `timeout` for one to arrive.
    pub async fn wait_for(
        &self,
        pred: impl Fn(&TargetEvent) -> bool,
        timeout: Duration,
    ) -> Option<TargetEvent> {
        // Subscribe before looking, so a push between the look and the wait still wakes us.
        let mut count = self.inner.count.subscribe();
        let search = async {
            loop {
                if let Some(found) = self.lock().events.iter().find(|e| pred(e)).cloned() {
                    return Some(found);
                }
                // The sender lives in `self`, so this cannot fail while we hold `self`.
                count.changed().await.ok()?;
            }
        };
        tokio::time::timeout(timeout, search).await.ok().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_with_event_tag() {
        let json = serde_json::to_string(&TargetEvent::Executed {
            line: "echo hi".into(),
        })
        .unwrap();
        assert_eq!(json, r#"{"event":"executed","line":"echo hi"}"#);
        let json =
            serde_json::to_string(&TargetEvent::WindowChange { cols: 80, rows: 24 }).unwrap();
        assert_eq!(json, r#"{"event":"window_change","cols":80,"rows":24}"#);
        assert_eq!(
            serde_json::to_string(&TargetEvent::Eof).unwrap(),
            r#"{"event":"eof"}"#
        );
    }

    #[test]
    fn accessors_filter_and_decode() {
        let log = EventLog::in_memory();
        log.push(TargetEvent::input(b"ec"));
        log.push(TargetEvent::Exec {
            command: "ls".into(),
        });
        log.push(TargetEvent::input(b"ho\r"));
        log.push(TargetEvent::Executed {
            line: "echo".into(),
        });
        assert_eq!(log.input_bytes(), b"echo\r");
        assert_eq!(log.exec_commands(), ["ls"]);
        assert_eq!(log.executed_lines(), ["echo"]);
        assert_eq!(log.snapshot().len(), 4);
    }

    #[test]
    fn events_file_gets_one_json_line_per_event() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let log = EventLog::with_file(&path).unwrap();
        log.push(TargetEvent::Shell);
        log.push(TargetEvent::Executed {
            line: "echo hi".into(),
        });
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "{\"event\":\"shell\"}\n{\"event\":\"executed\",\"line\":\"echo hi\"}\n"
        );
    }

    #[tokio::test]
    async fn wait_for_wakes_on_push_and_times_out() {
        let log = EventLog::in_memory();
        let pusher = log.clone();
        let task = tokio::spawn(async move {
            pusher.push(TargetEvent::Shell);
            pusher.push(TargetEvent::Executed { line: "x".into() });
        });
        let found = log
            .wait_for(
                |e| matches!(e, TargetEvent::Executed { .. }),
                Duration::from_secs(5),
            )
            .await;
        assert_eq!(found, Some(TargetEvent::Executed { line: "x".into() }));
        task.await.unwrap();
        tokio::time::pause();
        let none = log
            .wait_for(|e| *e == TargetEvent::Close, Duration::from_secs(30))
            .await;
        assert_eq!(none, None);
    }
}

/// Event logs of their own for chosen user names, so that many clients can share one target
/// and still be told apart (the conformance runner logs each replay in as its own user).
/// A connection whose user has no log here records into the target's main log.
#[derive(Clone, Default)]
pub struct UserLogs {
    logs: Arc<Mutex<HashMap<String, EventLog>>>,
}

impl UserLogs {
    /// A fresh log for `user`'s connections from now on.
    pub fn register(&self, user: &str) -> EventLog {
        let log = EventLog::in_memory();
        self.lock().insert(user.to_string(), log.clone());
        log
    }

    pub fn forget(&self, user: &str) {
        self.lock().remove(user);
    }

    pub(crate) fn get(&self, user: &str) -> Option<EventLog> {
        self.lock().get(user).cloned()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, EventLog>> {
        // A panic while holding the lock cannot leave the map half-changed.
        self.logs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
