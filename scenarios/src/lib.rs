//! Scenarios: keystroke cases for SSH approval proxies, as data anyone can read, add and replay.
//!
//! Layout:
//! - [`format`]: the TOML scenario file, checked on load.
//! - [`notation`]: the key notation of `send` steps (`echo hi<Left><C-w><Enter>`), both ways.
//! - [`terminal`]: the operator's screen, a vt100 terminal that also answers queries.
//! - [`approver`]: the scripted approver a replay answers requests with.
//! - [`replay`]: drives one scenario through a proxy to a mock target, on a stage of its own or
//!   shared with other replays.
//! - [`outcome`]: pass or fail, where, and the transcript.
//! - [`corpus`]: loading the shipped corpus (`scenarios/corpus/<category>/<name>.toml`).

pub mod approver;
pub mod corpus;
pub mod format;
pub mod notation;
pub mod outcome;
pub mod replay;
pub mod terminal;

pub use format::{Chunking, Scenario, Step};
pub use outcome::Outcome;
pub use replay::{
    replay, Environment, Harness, Isolated, LaunchedProxy, Launcher, ReplayOptions, Shared,
};
