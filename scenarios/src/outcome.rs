//! What one replay produced: pass or fail, where and why, and everything needed to debug it.

use std::fmt::Write as _;
use std::time::Duration;

use mock_target::TargetEvent;
use serde::Serialize;
use sshgate_wire::ApprovalRequest;

use crate::approver::ApprovalEvent;
use crate::format::Chunking;
use crate::notation;

/// The result of replaying one scenario under one chunking.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub id: String,
    pub chunking: Chunking,
    pub failure: Option<Failure>,
    pub transcript: Transcript,
    pub elapsed: Duration,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

/// Where a replay went wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// 1-based; 0 for problems before the first step or after the last one.
    pub step: usize,
    pub expected: String,
    pub actual: String,
}

/// Everything that crossed the wire during a replay, in the order the replayer saw it.
#[derive(Debug, Clone, Default)]
pub struct Transcript {
    pub timeline: Vec<Moment>,
    /// The operator's screen at the end.
    pub screen: String,
}

/// One thing in a replay's timeline, serialized flat: `{"step":3,"at_ms":12,"sent":"ls<Enter>"}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Moment {
    /// The step under way when the replayer saw it (1-based; 0 before the first step).
    pub step: usize,
    /// Milliseconds since the replay started.
    pub at_ms: u64,
    #[serde(flatten)]
    pub event: Event,
}

/// What happened. Bytes are in the key notation (`echo hi<Enter>`), so that control bytes from
/// the proxy or the target never reach a terminal or a page raw.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// One packet of keys the operator sent.
    Sent(String),
    /// Output the operator received (consecutive pieces within a step are joined).
    Received(String),
    /// A request the approver got.
    Request(ApprovalRequest),
    /// How the approver answered a request.
    Decision { id: String, answer: String },
    /// The proxy withdrew a request.
    Cancel { id: String },
    /// The proxy told the approver that something ran unapproved.
    Alert { reason: String },
    /// A line the target's shell ran.
    Executed(String),
    /// An exec request the target ran.
    Exec(String),
    /// Bytes the target received on a shell channel.
    TargetInput(String),
    /// Anything else the target saw (login, PTY, environment, window size, EOF, close).
    Target(TargetEvent),
}

/// One line: `step  3     12 ms  sent         ls<Enter>`.
impl std::fmt::Display for Moment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (kind, what) = self.event.describe();
        write!(
            f,
            "step {:>2} {:>6} ms  {kind:<12} {what}",
            self.step, self.at_ms
        )
    }
}

impl Event {
    /// The moment for what the approver saw or did.
    pub fn from_approval(event: &ApprovalEvent) -> Event {
        match event {
            ApprovalEvent::Request(request) => Event::Request(request.clone()),
            ApprovalEvent::Answer { id, answer } => Event::Decision {
                id: id.clone(),
                answer: answer.clone(),
            },
            ApprovalEvent::Cancel { id } => Event::Cancel { id: id.clone() },
            ApprovalEvent::Alert { reason } => Event::Alert {
                reason: reason.clone(),
            },
        }
    }

    /// The moment for what the target saw or did.
    pub fn from_target(event: &TargetEvent) -> Event {
        match event {
            TargetEvent::Executed { line } => Event::Executed(line.clone()),
            TargetEvent::Exec { command } => Event::Exec(command.clone()),
            TargetEvent::Input { .. } => {
                Event::TargetInput(notation::render(&event.input_data().unwrap_or_default()))
            }
            other => Event::Target(other.clone()),
        }
    }

    /// One line for a person: what kind of moment, and what.
    pub fn describe(&self) -> (&'static str, String) {
        match self {
            Event::Sent(keys) => ("sent", keys.clone()),
            Event::Received(output) => ("received", output.clone()),
            Event::Request(request) => {
                let mut text = format!(
                    "{} {:?} (certain {})",
                    request.kind, request.command, request.certain
                );
                if let Some(typed) = &request.typed {
                    let _ = write!(text, ", typed {typed:?}");
                }
                for warning in &request.warnings {
                    let _ = write!(text, "; warning: {warning}");
                }
                ("request", text)
            }
            Event::Decision { id, answer } => ("decision", format!("{answer} ({id})")),
            Event::Cancel { id } => ("cancel", id.clone()),
            Event::Alert { reason } => ("alert", reason.clone()),
            Event::Executed(line) => ("executed", format!("{line:?}")),
            Event::Exec(command) => ("exec", format!("{command:?}")),
            Event::TargetInput(bytes) => ("target input", bytes.clone()),
            Event::Target(event) => ("target", serde_json::to_string(event).unwrap_or_default()),
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Some(failure) = &self.failure else {
            return write!(f, "{} [{}]: pass", self.id, self.chunking);
        };
        writeln!(
            f,
            "{} [{}]: fail at step {}",
            self.id, self.chunking, failure.step
        )?;
        writeln!(f, "  expected: {}", failure.expected)?;
        writeln!(f, "  actual:   {}", failure.actual)?;
        f.write_str(&self.transcript.render())
    }
}

impl Transcript {
    /// A readable dump for failure reports: the timeline, one moment a line, then the screen.
    pub fn render(&self) -> String {
        let mut text = String::new();
        for moment in &self.timeline {
            let _ = writeln!(text, "  {moment}");
        }
        let _ = writeln!(text, "  screen:");
        for line in self.screen.trim_end().lines() {
            let _ = writeln!(text, "  | {line}");
        }
        text
    }
}
