//! sshgate: the reference SSH approval proxy.
//!
//! An operator connects to sshgate over SSH; sshgate connects to the target on their behalf
//! and holds every command (a line typed in a shell, an exec request, a subsystem) until an
//! approver decides. A denied command never reaches the target.
//!
//! Layout, from the operator inwards:
//! - [`accept`]: the accept loop: connection bounds, the login grace time, accept errors
//!   retried, and the shutdown. [`proxy_protocol`] reads the header a load balancer sends
//!   before the SSH stream.
//! - [`server`]: the SSH server the operator connects to, its authentication, and one
//!   [`bridge`] task per channel.
//! - [`bridge`]: joins an operator channel to a target channel; exec and subsystem requests
//!   wait there for their decision, shell input goes through the [`gate`], and the target
//!   shell's guard is answered (`bridge::guarded`). Its twin,
//!   [`to_operator`], carries the target's output back; both feed the channel's
//!   [`recording`].
//! - [`exec_input`]: input that reaches an exec or subsystem before its decision: held, then
//!   paused with russh's flow control, and why russh cannot pause one channel alone.
//! - [`gate`]: sans-IO; decides what of the typed input may pass, using the keystroke
//!   reconstructor of the `sshgate-keystroke` crate to find submits and the line they run.
//! - [`target_screen`]: the target's screen per shell channel; each submitted line is
//!   checked against the line it displays before the approver is asked. Its
//!   [`execution_monitor`] notices the target running what no approved submit started.
//! - [`command_lines`]: the command a shell reads across lines, asked about as a whole.
//! - [`forced_command`]: the command line for a key's `command=`, with the operator's
//!   command in `SSH_ORIGINAL_COMMAND`.
//! - [`paste_mode`]: the target's bracketed paste switch, which the gate, the screen and the
//!   monitor follow.
//! - [`semantic_prompt`]: OSC 133 marks from the target (used only to fail closed), none from
//!   the operator.
//! - [`guard`]: the shell-side guard (docs/guard.md): its files for bash and zsh, printed by
//!   `sshgate guard print`, and sshgate's half of its protocol: the sequences in both
//!   directions, which questions an approved line answers, the heartbeat.
//! - [`shell_state`]: recognises commands that change how the shell reads later input, which
//!   the approver is warned of.
//! - [`approval`]: the approver trait, its in-process and WebSocket implementations, and the
//!   fail-closed time-out.
//! - [`target`]: the SSH client connection to the target and its host-key check.
//! - [`client_keys`]: the operators' keys, from an authorized_keys file read again when it
//!   changes and from a keys command; [`authorized_keys`] parses the format and its options
//!   as sshd does, [`keys_command`] runs the command.
//! - [`credentials`]: host key, identity and the target's host-key policy, checked against
//!   [`known_hosts`] files; [`host_patterns`] holds OpenSSH's wildcard and address patterns.
//! - [`audit`]: the audit log (`--audit`): one hash-chained JSON line per login, session,
//!   request, decision, cancel, alert and exit status, and its verification.
//! - [`config`]: flags and the TOML file.
//! - [`log_text`]: outside text in log lines, quoted so that it cannot forge a line.

pub mod accept;
pub mod approval;
pub mod audit;
pub mod authorized_keys;
pub mod bridge;
pub mod client_keys;
pub mod command_lines;
pub mod config;
pub mod credentials;
#[cfg(feature = "demo")]
pub mod demo;
pub mod exec_input;
pub mod execution_monitor;
pub mod forced_command;
pub mod gate;
pub mod guard;
pub mod host_patterns;
pub mod keys_command;
pub mod known_hosts;
pub mod log_text;
pub mod paste_mode;
pub mod proxy_protocol;
pub mod recording;
pub mod semantic_prompt;
pub mod server;
pub mod shell_state;
pub mod target;
pub mod target_screen;
pub mod to_operator;

pub use server::{run, ClientAuth, Settings};

/// Sent in the approval protocol's hello frame.
pub const AGENT: &str = concat!("sshgate/", env!("CARGO_PKG_VERSION"));
/// The SSH identification string operators see.
pub const SSH_VERSION: &str = concat!("SSH-2.0-sshgate_", env!("CARGO_PKG_VERSION"));
