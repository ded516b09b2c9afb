//! What one replay produced: pass or fail, where and why, and everything needed to debug it.

use std::fmt::Write as _;
use std::time::Duration;

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

/// Everything that crossed the wire during a replay.
#[derive(Debug, Clone, Default)]
pub struct Transcript {
    /// Bytes the operator sent, one entry per packet.
    pub sent: Vec<Vec<u8>>,
    /// Bytes the operator received.
    pub received: Vec<u8>,
    pub approvals: Vec<ApprovalEvent>,
    /// The mock target's events as JSON lines.
    pub target_events: Vec<String>,
    /// The operator's screen at the end.
    pub screen: String,
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
    /// A readable dump for failure reports.
    pub fn render(&self) -> String {
        let mut text = String::new();
        let sent: Vec<String> = self
            .sent
            .iter()
            .map(|bytes| notation::render(bytes))
            .collect();
        let _ = writeln!(text, "  sent packets: {sent:?}");
        let _ = writeln!(
            text,
            "  received: {:?}",
            String::from_utf8_lossy(&self.received)
        );
        for event in &self.approvals {
            let _ = writeln!(text, "  approver: {event:?}");
        }
        for event in &self.target_events {
            let _ = writeln!(text, "  target: {event}");
        }
        let _ = writeln!(text, "  screen:");
        for line in self.screen.trim_end().lines() {
            let _ = writeln!(text, "  | {line}");
        }
        text
    }
}
