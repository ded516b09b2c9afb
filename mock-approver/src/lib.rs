//! Mock approvers for testing approval proxies: they answer approval protocol v1 requests by a
//! fixed rule (deny any command containing the deny marker, approve the rest), with a chosen
//! misbehaviour, or by asking a person at a terminal, and record everything they see.
//!
//! Invariant: every request, decision, cancel and unparsable frame the mock sees is recorded in
//! its [`ApproverLog`] before (or as) it acts on it, so tests can assert on exactly what happened.
//!
//! Layout:
//! - [`rule`]: the rule, the [`Behaviour`] choices and the [`Config`]; turns a request into a plan.
//! - [`log`]: the [`ApproverEvent`]s and the [`ApproverLog`] (memory plus optional JSONL file).
//! - `pending`: answers still to come, so a cancel can stop one from being sent.
//! - [`in_process`]: the [`InProcessApprover`] answering [`sshgate_wire::InProcessMessage`]s.
//! - [`ws`]: the WebSocket approver server ([`run`], [`WsApprover`]).
//! - [`interactive`]: a person decides at a terminal ([`Operator`]).
//!
//! The binary (`src/main.rs`) only parses flags and calls [`run_with_log`].

pub mod in_process;
pub mod interactive;
pub mod log;
mod pending;
pub mod rule;
pub mod ws;

pub use in_process::InProcessApprover;
pub use interactive::Operator;
pub use log::{ApproverEvent, ApproverLog};
pub use rule::{rule_decision, Behaviour, Config, DEFAULT_DENY_MARKER, DENY_REASON};
pub use ws::{run, run_with_log, Error, WsApprover};
