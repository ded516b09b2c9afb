//! The approver's record of what it saw and did, in memory and optionally as a JSONL file.
//!
//! Invariant: the in-memory list and the file hold the same events in the same order (both are
//! written under one lock), each file line is one JSON object with an `"event"` field and is
//! flushed before `record` returns, and waiters are woken after every event.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sshgate_wire::{ApprovalRequest, Decision};
use tokio::sync::watch;

/// One thing the approver saw or did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ApproverEvent {
    /// A proxy said hello.
    Hello { protocol: u32, agent: String },
    /// A request arrived; serializes flat: `{"event":"request","id":...,"command":...}`.
    Request(ApprovalRequest),
    /// The approver answered (recorded as the answer is sent).
    Decision {
        id: String,
        approve: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The proxy withdrew a request.
    Cancel { id: String, reason: String },
    /// The proxy ended a session over a command that no approved submit started; serializes
    /// flat: `{"event":"alert","session":...,"reason":...}`.
    Alert(sshgate_wire::Alert),
    /// A frame from the proxy that did not parse as protocol v1.
    Malformed { frame: String },
}

impl From<&Decision> for ApproverEvent {
    fn from(decision: &Decision) -> Self {
        ApproverEvent::Decision {
            id: decision.id.clone(),
            approve: decision.approve,
            reason: decision.reason.clone(),
        }
    }
}

/// The approver's event log. Cloning shares it.
#[derive(Clone)]
pub struct ApproverLog {
    inner: Arc<Inner>,
}

struct Inner {
    // A std Mutex: the critical section never awaits, and holding it across the file write is
    // what keeps memory and file in the same order. Lines are small; the write is brief.
    state: Mutex<State>,
    // Counts events; `wait_for` watches it instead of polling.
    count: watch::Sender<usize>,
}

struct State {
    events: Vec<ApproverEvent>,
    file: Option<File>,
}

impl Default for ApproverLog {
    fn default() -> Self {
        Self::in_memory()
    }
}

impl std::fmt::Debug for ApproverLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApproverLog")
            .field("events", &self.inner.count.borrow().to_owned())
            .finish()
    }
}

impl ApproverLog {
    /// A log kept in memory only.
    pub fn in_memory() -> Self {
        Self::with_file(None)
    }

    /// A log kept in memory and, if `path` is given, appended to that JSONL file (created if
    /// missing).
    pub fn open(path: Option<&Path>) -> std::io::Result<Self> {
        let file = match path {
            Some(path) => Some(OpenOptions::new().create(true).append(true).open(path)?),
            None => None,
        };
        Ok(Self::with_file(file))
    }

    fn with_file(file: Option<File>) -> Self {
        ApproverLog {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    events: Vec::new(),
                    file,
                }),
                count: watch::Sender::new(0),
            }),
        }
    }

    /// Appends an event (and a line to the file, flushed), then wakes waiters.
    pub(crate) fn record(&self, event: ApproverEvent) {
        tracing::debug!(?event, "approver event");
        {
            let mut state = self.lock();
            if let Some(file) = state.file.as_mut() {
                let line = serde_json::to_string(&event).expect("events always serialize");
                if let Err(error) = writeln!(file, "{line}").and_then(|()| file.flush()) {
                    tracing::warn!(%error, "could not write to the events file");
                }
            }
            state.events.push(event);
        }
        self.inner.count.send_modify(|count| *count += 1);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves the list valid (push is the only mutation).
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every event so far, oldest first.
    pub fn snapshot(&self) -> Vec<ApproverEvent> {
        self.lock().events.clone()
    }

    /// The requests received so far, oldest first.
    pub fn requests(&self) -> Vec<ApprovalRequest> {
        self.lock()
            .events
            .iter()
            .filter_map(|event| match event {
                ApproverEvent::Request(request) => Some(request.clone()),
                _ => None,
            })
            .collect()
    }

    /// The decisions sent so far, oldest first.
    pub fn decisions(&self) -> Vec<Decision> {
        self.lock()
            .events
            .iter()
            .filter_map(|event| match event {
                ApproverEvent::Decision {
                    id,
                    approve,
                    reason,
                } => Some(Decision {
                    id: id.clone(),
                    approve: *approve,
                    reason: reason.clone(),
                }),
                _ => None,
            })
            .collect()
    }

    /// The ids of the requests cancelled so far, oldest first.
    pub fn cancels(&self) -> Vec<String> {
        self.lock()
            .events
            .iter()
            .filter_map(|event| match event {
                ApproverEvent::Cancel { id, .. } => Some(id.clone()),
                _ => None,
            })
            .collect()
    }

    /// The unparsable frames received so far, oldest first.
    pub fn malformed(&self) -> Vec<String> {
        self.lock()
            .events
            .iter()
            .filter_map(|event| match event {
                ApproverEvent::Malformed { frame } => Some(frame.clone()),
                _ => None,
            })
            .collect()
    }

    /// Waits until an event matching `pred` has been recorded (it may already be) and returns
    /// the first such event, or `None` after `timeout`.
    pub async fn wait_for(
        &self,
        pred: impl Fn(&ApproverEvent) -> bool,
        timeout: Duration,
    ) -> Option<ApproverEvent> {
        // Subscribe before looking, so an event recorded in between still wakes us.
        let mut changes = self.inner.count.subscribe();
        let search = async {
            // Each event is looked at once, outside the lock, so `pred` may use the log too.
            let mut next = 0;
            loop {
                loop {
                    // A separate statement, so the guard is dropped before `pred` runs.
                    let event = self.lock().events.get(next).cloned();
                    let Some(event) = event else { break };
                    next += 1;
                    if pred(&event) {
                        return Some(event);
                    }
                }
                // The sender lives as long as `self`, so this cannot fail while we hold it.
                changes.changed().await.ok()?;
            }
        };
        tokio::time::timeout(timeout, search).await.ok().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sshgate_wire::RequestKind;

    fn request(id: &str) -> ApprovalRequest {
        ApprovalRequest {
            id: id.into(),
            session: "s1".into(),
            kind: RequestKind::Exec,
            command: "ls".into(),
            user: "alice".into(),
            client: "127.0.0.1:5000".into(),
            target: "127.0.0.1:22".into(),
            certain: false,
            context: vec!["$ ls".into()],
            ..ApprovalRequest::default()
        }
    }

    #[test]
    fn events_serialize_with_the_documented_names() {
        let json = |e: &ApproverEvent| serde_json::to_value(e).unwrap();
        let req = json(&ApproverEvent::Request(request("r1")));
        assert_eq!(req["event"], "request");
        assert_eq!(req["id"], "r1");
        assert_eq!(req["command"], "ls");
        assert_eq!(req["kind"], "exec");
        let deny = json(&ApproverEvent::from(&Decision::deny("r1", "blocked")));
        assert_eq!(
            deny,
            serde_json::json!({"event":"decision","id":"r1","approve":false,"reason":"blocked"})
        );
        let approve = json(&ApproverEvent::from(&Decision::approve("r2")));
        assert_eq!(
            approve,
            serde_json::json!({"event":"decision","id":"r2","approve":true})
        );
        let cancel = json(&ApproverEvent::Cancel {
            id: "r3".into(),
            reason: "ctrl-c".into(),
        });
        assert_eq!(
            cancel,
            serde_json::json!({"event":"cancel","id":"r3","reason":"ctrl-c"})
        );
        let malformed = json(&ApproverEvent::Malformed { frame: "x".into() });
        assert_eq!(malformed["event"], "malformed");
    }

    #[test]
    fn file_gets_one_flushed_line_per_event_and_parses_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let log = ApproverLog::open(Some(&path)).unwrap();
        let events = vec![
            ApproverEvent::Hello {
                protocol: 1,
                agent: "t".into(),
            },
            ApproverEvent::Request(request("r1")),
            ApproverEvent::from(&Decision::approve("r1")),
        ];
        for event in &events {
            log.record(event.clone());
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let parsed: Vec<ApproverEvent> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(parsed, events);
        assert_eq!(log.snapshot(), events);
        assert_eq!(log.requests(), vec![request("r1")]);
        assert_eq!(log.decisions(), vec![Decision::approve("r1")]);
    }

    #[tokio::test(start_paused = true)]
    async fn wait_for_sees_past_and_future_events_and_times_out() {
        let log = ApproverLog::in_memory();
        log.record(ApproverEvent::Cancel {
            id: "a".into(),
            reason: "r".into(),
        });
        let past = log
            .wait_for(
                |e| matches!(e, ApproverEvent::Cancel { .. }),
                Duration::from_secs(1),
            )
            .await;
        assert!(past.is_some());

        let waiter = {
            let log = log.clone();
            tokio::spawn(async move {
                log.wait_for(
                    |e| matches!(e, ApproverEvent::Malformed { .. }),
                    Duration::from_secs(5),
                )
                .await
            })
        };
        tokio::task::yield_now().await;
        log.record(ApproverEvent::Malformed { frame: "x".into() });
        assert_eq!(
            waiter.await.unwrap(),
            Some(ApproverEvent::Malformed { frame: "x".into() })
        );

        let none = log
            .wait_for(
                |e| matches!(e, ApproverEvent::Hello { .. }),
                Duration::from_secs(1),
            )
            .await;
        assert_eq!(none, None);
        assert_eq!(log.cancels(), vec!["a".to_string()]);
    }
}
