//! What the audit log records: one [`Record`] per event, each written as one line.
//!
//! Invariant: no record holds a secret. Login records name the method and the key's
//! fingerprint, never a password; a shell line typed with echo off reaches the approver, and so
//! this log, only as [`HIDDEN`](crate::target_screen::HIDDEN); private keys are never recorded.

use serde::Serialize;
use sshgate_wire::{Alert, ApprovalRequest, Decision, RequestKind};

/// One event of the audit log. The `type` field of its line names the variant.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Record {
    /// sshgate opened the log: a new file (`continued` false) or one it appends to.
    AuditOpen {
        agent: String,
        continued: bool,
    },
    /// sshgate stopped gracefully: nothing follows until it starts again.
    AuditClose,
    Login(Login),
    SessionStart(SessionStart),
    SessionEnd {
        session: String,
        channel: u32,
    },
    /// The channel's terminal is recorded from here on, in `file` of the `--record` folder.
    Recording {
        session: String,
        channel: u32,
        file: String,
    },
    Request(Request),
    Decision(DecisionRecord),
    Cancel {
        session: String,
        id: String,
        reason: String,
    },
    /// The session ended because the target ran what no approved command started.
    Alert(Alert),
    /// The target's exit status or signal for a channel (an exec's result).
    Exit(Exit),
}

/// A login attempt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Login {
    /// The connection's id, which its channels' records and requests carry.
    pub session: String,
    pub user: String,
    pub method: LoginMethod,
    /// The SHA256 fingerprint of the public key offered, for the `publickey` method.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The operator's address, `ip:port`.
    pub client: String,
    pub success: bool,
    /// Why it was refused, or that the login is allowed by a test-only setting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoginMethod {
    None,
    Password,
    Publickey,
}

/// A session channel opened by a logged-in operator (a shell, an exec or a subsystem follows).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionStart {
    pub session: String,
    /// The channel's number in the operator's connection; `session` and `channel` together
    /// name one channel.
    pub channel: u32,
    pub user: String,
    pub client: String,
    pub target: String,
}

/// A request sent to the approver, as the approver saw it (less the screen context).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Request {
    pub session: String,
    pub id: String,
    pub kind: RequestKind,
    pub command: String,
    pub user: String,
    pub certain: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub typed: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continuation: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl From<&ApprovalRequest> for Request {
    fn from(request: &ApprovalRequest) -> Self {
        Request {
            session: request.session.clone(),
            id: request.id.clone(),
            kind: request.kind,
            command: request.command.clone(),
            user: request.user.clone(),
            certain: request.certain,
            typed: request.typed.clone(),
            continuation: request.continuation.clone(),
            warnings: request.warnings.clone(),
        }
    }
}

/// The decision a request got, and who made it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DecisionRecord {
    pub session: String,
    pub id: String,
    pub approve: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub by: DecidedBy,
}

impl DecisionRecord {
    pub fn new(session: &str, decision: &Decision, by: DecidedBy) -> Self {
        DecisionRecord {
            session: session.to_string(),
            id: decision.id.clone(),
            approve: decision.approve,
            reason: decision.reason.clone(),
            by,
        }
    }
}

/// Who decided: the approver's answer, or sshgate failing closed (a time-out, an unreachable
/// approver, a line it cannot read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DecidedBy {
    Approver,
    Sshgate,
}

/// How a channel's command ended on the target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Exit {
    pub session: String,
    pub channel: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
}
