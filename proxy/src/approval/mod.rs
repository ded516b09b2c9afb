//! The approval path: every gated command goes through [`ApprovalPath::decide`].
//!
//! An [`Approver`] is where requests go (the in-process channel or the WebSocket client);
//! [`ApprovalPath`] wraps one with the rules that make the proxy fail closed: a time-out, and
//! every error (unreachable, disconnected, malformed answer) turned into a denial whose reason
//! the operator can read. Nothing here ever returns an approval that an approver did not send.

mod in_process;
mod websocket;

pub use in_process::InProcessApprover;
pub use websocket::WebSocketApprover;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use sshgate_wire::{Alert, ApprovalRequest, Decision};

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
}

impl ApprovalPath {
    pub fn new(approver: Arc<dyn Approver>, timeout: Duration) -> Self {
        ApprovalPath { approver, timeout }
    }

    /// Ask for a decision on `request`. Always resolves, and resolves to a denial unless the
    /// approver approved this very request in time.
    pub fn decide(&self, request: ApprovalRequest) -> impl Future<Output = Decision> + Send {
        let id = request.id.clone();
        let command = request.command.clone();
        let timeout = self.timeout;
        let answer = self.approver.request(request);
        let approver = self.approver.clone();
        async move {
            let outcome = match tokio::time::timeout(timeout, answer).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    approver.cancel(&id, "timed out");
                    Err(ApprovalError::TimedOut(timeout))
                }
            };
            let decision = match outcome {
                Ok(decision) if decision.id == id => decision,
                Ok(other) => Decision::deny(
                    &id,
                    format!("approver answered for another request ({})", other.id),
                ),
                Err(error) => Decision::deny(&id, error.to_string()),
            };
            tracing::info!(
                id = %id,
                command = %quoted(&command),
                approve = decision.approve,
                reason = %quoted(decision.reason.as_deref().unwrap_or("")),
                "decision"
            );
            decision
        }
    }

    pub fn cancel(&self, id: &str, reason: &str) {
        self.approver.cancel(id, reason);
    }

    pub fn alert(&self, alert: Alert) {
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
