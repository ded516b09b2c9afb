//! The in-process approver: requests go through a bounded mpsc channel to a task in the same
//! process (the mock approver in tests, the terminal approver in the demo).
//!
//! Each request carries its own oneshot for the answer, so a dropped oneshot or a closed
//! channel is a disconnect, which denies.

use sshgate_wire::{Alert, ApprovalRequest, InProcessMessage};
use tokio::sync::{mpsc, oneshot};

use super::{ApprovalError, Approver, DecisionFuture};

pub struct InProcessApprover {
    sender: mpsc::Sender<InProcessMessage>,
}

impl InProcessApprover {
    /// `sender` is bounded by whoever made it; when it is full a request waits for room, and
    /// the approval time-out still applies.
    pub fn new(sender: mpsc::Sender<InProcessMessage>) -> Self {
        InProcessApprover { sender }
    }
}

impl Approver for InProcessApprover {
    fn request(&self, request: ApprovalRequest) -> DecisionFuture {
        let sender = self.sender.clone();
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            sender
                .send(InProcessMessage::Request { request, reply })
                .await
                .map_err(|_| ApprovalError::Unreachable("in-process approver stopped".into()))?;
            answer.await.map_err(|_| ApprovalError::Disconnected)
        })
    }

    fn cancel(&self, id: &str, reason: &str) {
        // Best effort: a full or closed channel only means the approver will not hear of it.
        let _ = self.sender.try_send(InProcessMessage::Cancel {
            id: id.to_string(),
            reason: reason.to_string(),
        });
    }

    fn alert(&self, alert: Alert) {
        let _ = self.sender.try_send(InProcessMessage::Alert(alert));
    }
}
