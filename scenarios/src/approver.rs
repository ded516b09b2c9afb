//! The approver side of a replay: requests queue up until a `request` step claims them, and
//! each is answered exactly as the step says.
//!
//! Invariant: nothing is approved that no step approved, except requests for a blank line
//! (nothing to run), which are approved on arrival so that a proxy asking about them is not
//! failed for it. Requests nobody claimed are reported at the end of the replay.

use std::collections::VecDeque;
use std::time::Duration;

use sshgate_wire::{ApprovalRequest, Decision, InProcessMessage};
use tokio::sync::{mpsc, oneshot};

use crate::format::Answer;

/// Requests in flight between the proxy and this approver; a replay has a handful at most.
pub const APPROVAL_CAPACITY: usize = 64;
/// The mock rule's marker and reason.
pub const DENY_MARKER: &str = "DENY";
pub const DENY_REASON: &str = "blocked";

/// A request waiting for a step to claim it.
pub struct Pending {
    pub request: ApprovalRequest,
    reply: oneshot::Sender<Decision>,
}

/// Something the approver saw or did, for the transcript.
#[derive(Debug, Clone, PartialEq)]
pub enum ApprovalEvent {
    Request(ApprovalRequest),
    Answer { id: String, answer: String },
    Cancel { id: String },
}

pub struct ScriptedApprover {
    receiver: mpsc::Receiver<InProcessMessage>,
    queue: VecDeque<Pending>,
    /// Replies kept open on purpose (`never`): dropping them would deny.
    held: Vec<oneshot::Sender<Decision>>,
    cancelled: Vec<String>,
    /// After a `drop` answer the approver is gone: every later request is dropped too.
    gone: bool,
    pub events: Vec<ApprovalEvent>,
}

/// What the mock approver's rule decides.
pub fn rule(request: &ApprovalRequest) -> Decision {
    if request.command.contains(DENY_MARKER) {
        Decision::deny(&request.id, DENY_REASON)
    } else {
        Decision::approve(&request.id)
    }
}

impl ScriptedApprover {
    pub fn new() -> (ScriptedApprover, mpsc::Sender<InProcessMessage>) {
        let (sender, receiver) = mpsc::channel(APPROVAL_CAPACITY);
        let approver = ScriptedApprover {
            receiver,
            queue: VecDeque::new(),
            held: Vec::new(),
            cancelled: Vec::new(),
            gone: false,
            events: Vec::new(),
        };
        (approver, sender)
    }

    /// The next message from the proxy; `None` once every sender is gone.
    pub async fn recv(&mut self) -> Option<InProcessMessage> {
        self.receiver.recv().await
    }

    pub fn on_message(&mut self, message: InProcessMessage) {
        match message {
            InProcessMessage::Request { request, reply } => {
                self.events.push(ApprovalEvent::Request(request.clone()));
                if self.gone {
                    return; // reply dropped: the proxy sees a disconnect
                }
                if request.command.trim().is_empty() {
                    self.send(
                        reply,
                        Decision::approve(&request.id),
                        "approve (blank line)",
                    );
                    return;
                }
                self.queue.push_back(Pending { request, reply });
            }
            InProcessMessage::Cancel { id, .. } => {
                self.events.push(ApprovalEvent::Cancel { id: id.clone() });
                self.queue.retain(|pending| pending.request.id != id);
                self.cancelled.push(id);
            }
        }
    }

    /// The oldest request no step has claimed yet.
    pub fn claim(&mut self) -> Option<Pending> {
        self.queue.pop_front()
    }

    pub fn was_cancelled(&self, id: &str) -> bool {
        self.cancelled.iter().any(|cancelled| cancelled == id)
    }

    pub fn unclaimed(&self) -> Vec<ApprovalRequest> {
        self.queue
            .iter()
            .map(|pending| pending.request.clone())
            .collect()
    }

    pub fn answer(&mut self, pending: Pending, answer: &Answer) {
        let Pending { request, reply } = pending;
        match answer {
            Answer::Rule => self.send(reply, rule(&request), "rule"),
            Answer::Approve => self.send(reply, Decision::approve(&request.id), "approve"),
            Answer::Deny(reason) => self.send(reply, Decision::deny(&request.id, reason), "deny"),
            Answer::Delay(ms) => {
                self.record(&request.id, &format!("rule after {ms} ms"));
                let decision = rule(&request);
                let delay = Duration::from_millis(*ms);
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let _ = reply.send(decision);
                });
            }
            Answer::Never => {
                self.record(&request.id, "never");
                self.held.push(reply);
            }
            Answer::Drop => {
                self.record(&request.id, "drop the connection");
                self.gone = true;
                self.queue.clear();
                self.held.clear();
            }
            // The in-process channel carries typed decisions: the nearest thing to a garbled
            // answer is one that never comes back, which the proxy must treat as a denial.
            Answer::Malformed => self.record(&request.id, "malformed (reply dropped)"),
        }
    }

    fn send(&mut self, reply: oneshot::Sender<Decision>, decision: Decision, how: &str) {
        self.record(&decision.id, how);
        let _ = reply.send(decision);
    }

    fn record(&mut self, id: &str, answer: &str) {
        self.events.push(ApprovalEvent::Answer {
            id: id.to_string(),
            answer: answer.to_string(),
        });
    }
}
