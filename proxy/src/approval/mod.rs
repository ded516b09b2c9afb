//! The approval path: every gated command goes through [`ApprovalPath::decide`].
//!
//! An [`Approver`] is where requests go (the in-process channel or the WebSocket client);
//! [`ApprovalPath`] wraps one with the rules that make the proxy fail closed: a time-out, and
//! every error (unreachable, disconnected, malformed answer) turned into a denial whose reason
//! the operator can read. Nothing here ever returns an approval that an approver did not send.
//! Every request, decision, cancel and alert that passes here is also written to the
//! [`AuditLog`], before the approver hears of it.

mod in_process;
mod websocket;

pub use in_process::InProcessApprover;
pub use websocket::WebSocketApprover;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use sshgate_wire::{Alert, ApprovalRequest, Decision};

use crate::audit::record::{DecidedBy, DecisionRecord, Record};
use crate::audit::AuditLog;
use crate::log_text::quoted;

/// Why an approver gave no decision. Each of these denies the command.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ApprovalError {
    #[error("approver unreachable: {0}")]
    Unreachable(String),
    #[error("approver disconnected before deciding")]
    Disconnected,
    #[error("approver sent an answer that does not parse")]
    Malformed,
    #[error("no decision within {0:?}")]
    TimedOut(Duration),
}

pub type DecisionFuture = Pin<Box<dyn Future<Output = Result<Decision, ApprovalError>> + Send>>;

/// Somewhere to send approval requests.
pub trait Approver: Send + Sync {
    /// Send `request`; the future resolves with the approver's decision for it.
    fn request(&self, request: ApprovalRequest) -> DecisionFuture;
    /// Tell the approver that the request `id` no longer needs a decision.
    fn cancel(&self, id: &str, reason: &str);
    /// Tell the approver of something that needs no decision (best effort).
    fn alert(&self, alert: Alert);
}

/// The approver plus the fail-closed rules.
#[derive(Clone)]
pub struct ApprovalPath {
    approver: Arc<dyn Approver>,
    timeout: Duration,
    audit: AuditLog,
}

impl ApprovalPath {
    pub fn new(approver: Arc<dyn Approver>, timeout: Duration) -> Self {
        ApprovalPath {
            approver,
            timeout,
            audit: AuditLog::off(),
        }
    }

    /// The same path, recording to `audit`.
    pub fn audited(self, audit: AuditLog) -> Self {
        ApprovalPath { audit, ..self }
    }

    /// Ask for a decision on `request`. Always resolves, and resolves to a denial unless the
    /// approver approved this very request in time.
    pub fn decide(&self, request: ApprovalRequest) -> impl Future<Output = Decision> + Send {
        let path = self.clone();
        async move {
            let (id, session) = (request.id.clone(), request.session.clone());
            let command = request.command.clone();
            path.audit.record(Record::Request((&request).into())).await;
            let answer = path.approver.request(request);
            let outcome = match tokio::time::timeout(path.timeout, answer).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    path.cancel(&session, &id, "timed out").await;
                    Err(ApprovalError::TimedOut(path.timeout))
                }
            };
            let (decision, by) = match outcome {
                Ok(decision) if decision.id == id => (decision, DecidedBy::Approver),
                Ok(other) => (
                    Decision::deny(
                        &id,
                        format!("approver answered for another request ({})", other.id),
                    ),
                    DecidedBy::Sshgate,
                ),
                Err(error) => (Decision::deny(&id, error.to_string()), DecidedBy::Sshgate),
            };
            tracing::info!(
                id = %quoted(&id),
                command = %quoted(&command),
                approve = decision.approve,
                reason = %quoted(decision.reason.as_deref().unwrap_or("")),
                "decision"
            );
            let record = DecisionRecord::new(&session, &decision, by);
            path.audit.record(Record::Decision(record)).await;
            decision
        }
    }

    /// Deny `request` without asking: sshgate cannot tell what it would run.
    pub async fn deny_unasked(&self, request: &ApprovalRequest, reason: &str) -> Decision {
        tracing::info!(id = %quoted(&request.id), "line denied unasked: it cannot be read");
        let decision = Decision::deny(&request.id, reason);
        self.audit.record(Record::Request(request.into())).await;
        let record = DecisionRecord::new(&request.session, &decision, DecidedBy::Sshgate);
        self.audit.record(Record::Decision(record)).await;
        decision
    }

    /// Tell the approver that request `id` of `session` needs no decision any more.
    pub async fn cancel(&self, session: &str, id: &str, reason: &str) {
        let record = Record::Cancel {
            session: session.to_string(),
            id: id.to_string(),
            reason: reason.to_string(),
        };
        self.audit.record(record).await;
        self.approver.cancel(id, reason);
    }

    pub async fn alert(&self, alert: Alert) {
        self.audit.record(Record::Alert(alert.clone())).await;
        self.approver.alert(alert);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sshgate_wire::RequestKind;

    pub(crate) fn request(id: &str, command: &str) -> ApprovalRequest {
        ApprovalRequest {
            id: id.into(),
            command: command.into(),
            kind: RequestKind::Exec,
            certain: true,
            ..Default::default()
        }
    }

    struct Fixed(Result<Decision, ApprovalError>);
    impl Approver for Fixed {
        fn request(&self, _: ApprovalRequest) -> DecisionFuture {
            let answer = self.0.clone();
            Box::pin(async move { answer })
        }
        fn cancel(&self, _: &str, _: &str) {}
        fn alert(&self, _: Alert) {}
    }

    struct Silent;
    impl Approver for Silent {
        fn request(&self, _: ApprovalRequest) -> DecisionFuture {
            Box::pin(std::future::pending())
        }
        fn cancel(&self, _: &str, _: &str) {}
        fn alert(&self, _: Alert) {}
    }

    fn path(approver: impl Approver + 'static) -> ApprovalPath {
        ApprovalPath::new(Arc::new(approver), Duration::from_secs(60))
    }

    #[tokio::test]
    async fn an_approval_for_this_request_approves() {
        let decision = path(Fixed(Ok(Decision::approve("a"))))
            .decide(request("a", "ls"))
            .await;
        assert!(decision.approve);
    }

    #[tokio::test]
    async fn an_approval_for_another_request_denies() {
        let decision = path(Fixed(Ok(Decision::approve("b"))))
            .decide(request("a", "ls"))
            .await;
        assert!(!decision.approve);
    }

    #[tokio::test]
    async fn errors_deny_with_a_readable_reason() {
        let decision = path(Fixed(Err(ApprovalError::Disconnected)))
            .decide(request("a", "ls"))
            .await;
        assert!(!decision.approve);
        assert_eq!(
            decision.reason.as_deref(),
            Some("approver disconnected before deciding")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn silence_times_out_into_a_denial() {
        let decision = path(Silent).decide(request("a", "ls")).await;
        assert!(!decision.approve);
        assert!(decision.reason.unwrap().starts_with("no decision within"));
    }
}
