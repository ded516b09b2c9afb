//! Approval protocol v1: the messages a proxy and an approver exchange.
//!
//! This crate is the seam between the proxy and its approvers, so that neither depends on the
//! other. The same [`ApprovalRequest`] and [`Decision`] travel as JSON text frames over a
//! WebSocket (see `DESIGN.md` section 6) or, in-process, through an mpsc channel as
//! [`InProcessMessage`]. Unknown fields are ignored when parsing; anything that does not parse is
//! never an approval.

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

/// The protocol version this crate speaks, sent in [`ProxyFrame::Hello`].
pub const PROTOCOL_VERSION: u32 = 1;

/// What the operator asked the target to do.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestKind {
    /// A line submitted in an interactive shell.
    #[default]
    Shell,
    /// An exec request (`ssh host 'cmd'`).
    Exec,
    /// A subsystem request such as `sftp`.
    Subsystem,
    /// A command the shell-side guard on the target asked about, as the shell reported it
    /// just before running it (docs/guard.md): a command no approved line showed as its own
    /// (an alias's expansion, a function's body, a key binding's or a prompt hook's).
    Guard,
}

impl std::fmt::Display for RequestKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RequestKind::Shell => "shell",
            RequestKind::Exec => "exec",
            RequestKind::Subsystem => "subsystem",
            RequestKind::Guard => "guard",
        })
    }
}

/// One command held by the proxy until an approver decides. `Default` gives empty fields and
/// `certain: false`, for building requests field by field.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    /// Unique per request; the decision and any cancel name it.
    pub id: String,
    /// The proxy's id for the SSH connection the command came from.
    pub session: String,
    pub kind: RequestKind,
    /// The command as the proxy reconstructed it.
    pub command: String,
    /// The user the operator authenticated as.
    pub user: String,
    /// The operator's address, `ip:port`.
    pub client: String,
    /// The target, `host:port`.
    pub target: String,
    /// False when the proxy cannot be sure that `command` is what will run (TAB completion,
    /// history recall, keys it cannot model): the approver must not treat it as exact.
    pub certain: bool,
    /// Recent lines of the target's screen as the operator sees it, oldest first, ending with
    /// the line being submitted.
    #[serde(default)]
    pub context: Vec<String>,
    /// What the proxy's input model made of the keys, when `command` is something else: the
    /// line the target displays differed from it (TAB completion, history recall), so
    /// `command` is the displayed line and `certain` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typed: Option<String>,
    /// What the approver should know beyond the command, one sentence each: the command
    /// changes how the shell reads later input (key bindings, hooks, aliases, tty modes), or
    /// such a command was approved earlier in the session, so that keys may now do what the
    /// proxy cannot see.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// Set when the line continues a command begun on earlier lines (after a trailing
    /// backslash, in an open quote, a here-document, an unfinished compound command): the
    /// line just submitted. `command` is then the whole command so far, as the shell will
    /// read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continuation: Option<String>,
}

/// An approver's answer to one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub id: String,
    pub approve: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Decision {
    pub fn approve(id: impl Into<String>) -> Self {
        Decision {
            id: id.into(),
            approve: true,
            reason: None,
        }
    }

    pub fn deny(id: impl Into<String>, reason: impl Into<String>) -> Self {
        Decision {
            id: id.into(),
            approve: false,
            reason: Some(reason.into()),
        }
    }
}

/// Something an approver must hear of that asks for no decision: the proxy saw the target run
/// a command that no approved submit started (a key binding, a macro, a prompt hook) and ended
/// the session. Approvers that do not know this frame ignore it.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    /// The session it happened in, as in its requests.
    pub session: String,
    pub user: String,
    pub client: String,
    pub target: String,
    /// What the proxy saw, for a person.
    pub reason: String,
}

/// Frames the proxy sends to the approver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ProxyFrame {
    Hello { protocol: u32, agent: String },
    Request(ApprovalRequest),
    Cancel { id: String, reason: String },
    Alert(Alert),
}

/// Frames the approver sends to the proxy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ApproverFrame {
    Decision(Decision),
}

impl ProxyFrame {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("wire frames always serialize")
    }
}

impl ApproverFrame {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("wire frames always serialize")
    }
}

/// What travels through the in-process approver channel: the same request and cancel as on
/// the wire, with a oneshot in place of the request id for the answer. Dropping `reply`
/// unanswered means deny.
#[derive(Debug)]
pub enum InProcessMessage {
    Request {
        request: ApprovalRequest,
        reply: oneshot::Sender<Decision>,
    },
    Cancel {
        id: String,
        reason: String,
    },
    Alert(Alert),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> ApprovalRequest {
        ApprovalRequest {
            id: "r1".into(),
            session: "s1".into(),
            kind: RequestKind::Shell,
            command: "echo hi".into(),
            user: "alice".into(),
            client: "127.0.0.1:5000".into(),
            target: "127.0.0.1:22".into(),
            certain: true,
            context: vec![],
            typed: None,
            warnings: vec![],
            continuation: None,
        }
    }

    #[test]
    fn request_frame_matches_the_documented_shape() {
        let json: serde_json::Value =
            serde_json::from_str(&ProxyFrame::Request(request()).to_json()).unwrap();
        assert_eq!(json["type"], "request");
        assert_eq!(json["kind"], "shell");
        assert_eq!(json["command"], "echo hi");
        assert_eq!(json["certain"], true);
    }

    #[test]
    fn alert_frame_matches_the_documented_shape() {
        let alert = Alert {
            session: "s1".into(),
            reason: "ran without a submit".into(),
            ..Alert::default()
        };
        let json: serde_json::Value =
            serde_json::from_str(&ProxyFrame::Alert(alert).to_json()).unwrap();
        assert_eq!(json["type"], "alert");
        assert_eq!(json["session"], "s1");
        assert_eq!(json["reason"], "ran without a submit");
    }

    #[test]
    fn decision_parses_with_unknown_fields_and_without_reason() {
        let frame: ApproverFrame =
            serde_json::from_str(r#"{"type":"decision","id":"r1","approve":true,"extra":{"x":1}}"#)
                .unwrap();
        assert_eq!(frame, ApproverFrame::Decision(Decision::approve("r1")));
    }

    #[test]
    fn unknown_type_and_missing_approve_do_not_parse() {
        assert!(serde_json::from_str::<ApproverFrame>(r#"{"type":"approve","id":"r1"}"#).is_err());
        assert!(serde_json::from_str::<ApproverFrame>(r#"{"type":"decision","id":"r1"}"#).is_err());
    }
}
