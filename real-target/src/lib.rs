//! A real target for SSH approval proxies: a private OpenSSH `sshd` on loopback whose sessions
//! run a real shell (bash, zsh, fish or dash), with a referee inside the shell that reports
//! every line the shell accepts and runs, and each prompt. sshgate's real-peer tests use it,
//! and so does the conformance runner's `--target-shell`.
//!
//! Layout:
//! - [`target`]: [`RealTarget`], starting and stopping one sshd with its files, and why a start
//!   failed ([`StartError`], [`Unavailable`] when this machine lacks sshd or the shell).
//! - [`shell`]: the shells a target can run, and whether this machine has them.
//! - [`records`]: the referee's records, read from a FIFO and waited on without timers.
//! - `referee`: the login script and each shell's referee files.
//! - `sshd`: sshd's configuration, its start and its log.
//!
//! Invariant: a start never panics; every failure is one line, quoting sshd's log when sshd is
//! what failed. Nothing outside the target's temporary directory is touched, except that sshd
//! needs its privilege-separation directory `/run/sshd`.

pub mod records;
mod referee;
pub mod shell;
mod sshd;
pub mod target;

pub use records::Record;
pub use shell::{available, Shell, Unavailable};
pub use sshd::{PRIVSEP_DIR, SSHD};
pub use target::{RealTarget, StartError, TargetOptions, RECORD_WAIT};
