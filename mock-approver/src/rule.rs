//! The mock's rule and behaviours: what it answers to a request, and when.
//!
//! Invariant: the rule is the only source of automatic decisions: a command containing the deny
//! marker is denied with reason [`DENY_REASON`], every other command is approved. Behaviours only
//! change *whether and how* that decision is delivered (now, later, never, as a broken frame).

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use sshgate_wire::{ApprovalRequest, Decision};

use crate::interactive::Operator;

/// The word whose presence in a command makes the rule deny it.
pub const DEFAULT_DENY_MARKER: &str = "DENY";

/// The reason the rule gives when it denies.
pub const DENY_REASON: &str = "blocked";

/// How the mock answers requests.
#[derive(Debug, Clone, PartialEq)]
pub enum Behaviour {
    /// Answer at once with the rule.
    Rule,
    /// Answer with the rule after this delay; a cancel before then means no answer is sent.
    Delay(Duration),
    /// Record the request and never answer (the reply or socket stays open).
    NeverAnswer,
    /// Close the connection (WebSocket) or drop the reply and stop receiving (in-process) when
    /// a request arrives.
    CloseOnRequest,
    /// Answer with a frame that is not valid protocol (WebSocket); drop the reply (in-process).
    Malformed,
    /// Ask a person: each request is put to the [`Operator`], one at a time in arrival order
    /// across all connections. A cancel withdraws the question.
    Interactive(Operator),
}

/// What the mock approver is told to do.
#[derive(Debug, Clone)]
pub struct Config {
    /// Commands containing this text are denied by the rule. An empty marker denies everything.
    pub deny_marker: String,
    pub behaviour: Behaviour,
    /// Where to append the JSONL event log, if anywhere.
    pub events_file: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            deny_marker: DEFAULT_DENY_MARKER.to_string(),
            behaviour: Behaviour::Rule,
            events_file: None,
        }
    }
}

impl Config {
    /// The default config with another behaviour.
    pub fn with_behaviour(behaviour: Behaviour) -> Self {
        Config {
            behaviour,
            ..Config::default()
        }
    }
}

/// The rule: deny (reason [`DENY_REASON`]) a request whose command, or the text typed for it,
/// contains `deny_marker`; approve the rest.
pub fn rule_decision(deny_marker: &str, request: &ApprovalRequest) -> Decision {
    // What the keys typed, and what the proxy warns may run, count as much as what it says
    // will run.
    let typed = request.typed.as_deref().unwrap_or_default();
    let warned = request.warnings.iter().any(|w| w.contains(deny_marker));
    if request.command.contains(deny_marker) || typed.contains(deny_marker) || warned {
        Decision::deny(&request.id, DENY_REASON)
    } else {
        Decision::approve(&request.id)
    }
}

/// A frame that looks like a decision but is not valid protocol (`approve` is a string), so a
/// correct proxy must treat it as a deny.
pub fn malformed_decision_frame(id: &str) -> String {
    serde_json::json!({"type": "decision", "id": id, "approve": "yes"}).to_string()
}

/// A decision that will be ready later; the transport runs it in its own task.
pub(crate) type LaterDecision = Pin<Box<dyn Future<Output = Decision> + Send>>;

/// What a transport must do with one request.
pub(crate) enum Plan {
    /// Send this decision now.
    Now(Decision),
    /// Send the decision this future yields, unless the request is cancelled first.
    Later(LaterDecision),
    /// Keep the request open and never answer.
    Hold,
    /// Close the connection.
    Close,
    /// Send [`malformed_decision_frame`] (WebSocket) or drop the reply (in-process).
    Malformed,
}

impl Config {
    pub(crate) fn plan(&self, request: &ApprovalRequest) -> Plan {
        match &self.behaviour {
            Behaviour::Rule => Plan::Now(rule_decision(&self.deny_marker, request)),
            Behaviour::Delay(delay) => {
                let delay = *delay;
                let decision = rule_decision(&self.deny_marker, request);
                Plan::Later(Box::pin(async move {
                    tokio::time::sleep(delay).await;
                    decision
                }))
            }
            Behaviour::NeverAnswer => Plan::Hold,
            Behaviour::CloseOnRequest => Plan::Close,
            Behaviour::Malformed => Plan::Malformed,
            Behaviour::Interactive(operator) => {
                let operator = operator.clone();
                let request = request.clone();
                Plan::Later(Box::pin(async move { operator.ask(request).await }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sshgate_wire::ApproverFrame;

    pub(crate) fn request(id: &str, command: &str) -> ApprovalRequest {
        ApprovalRequest {
            id: id.into(),
            command: command.into(),
            certain: true,
            ..Default::default()
        }
    }

    #[test]
    fn rule_approves_plain_commands_and_denies_the_marker() {
        assert_eq!(
            rule_decision("DENY", &request("r1", "echo hi")),
            Decision::approve("r1")
        );
        assert_eq!(
            rule_decision("DENY", &request("r2", "echo DENY me")),
            Decision::deny("r2", "blocked")
        );
        assert_eq!(
            rule_decision("rm", &request("r3", "rm -rf /")),
            Decision::deny("r3", "blocked")
        );
    }

    #[test]
    fn malformed_frame_is_rejected_by_the_protocol() {
        let frame = malformed_decision_frame("r\"1");
        assert!(serde_json::from_str::<ApproverFrame>(&frame).is_err());
        let value: serde_json::Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(value["id"], "r\"1");
    }
}
