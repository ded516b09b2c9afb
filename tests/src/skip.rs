//! Tests that need what a machine may lack (OpenSSH's sshd, a shell, tmux) are skipped there
//! with a message, except where the environment variable `CI` is set: CI installs them, so a
//! missing one is a failure there.

use std::io::Write;

use real_target::{RealTarget, Shell, StartError, TargetOptions};

/// Say that a test is skipped because `why`, or panic when the variable `CI` is set.
pub fn skip(why: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{why} (CI is set: CI must provide it, so this is a failure, not a skip)");
    }
    // Straight to the process's stderr: the test harness captures `eprintln!`, and a skip
    // must show in a plain `cargo test` run.
    let _ = writeln!(std::io::stderr(), "skipped: {why}");
}

/// A started [`RealTarget`], or `None` after saying why the test is skipped (see [`skip`]).
/// Any other failure to start panics with its message (sshd's log): a bug in the fixture or
/// a broken machine, not a reason to skip.
pub fn real_target_or_skip(options: TargetOptions) -> Option<RealTarget> {
    match RealTarget::start(options) {
        Ok(target) => Some(target),
        Err(StartError::Unavailable(why)) => {
            skip(&why.0);
            None
        }
        Err(StartError::Failed(why)) => panic!("the real target did not start: {why}"),
    }
}

/// Whether this machine can run a real target with `shell`; when not, says why the test is
/// skipped (see [`skip`]).
pub fn real_shell_or_skip(shell: Shell) -> bool {
    match real_target::available(shell) {
        Ok(()) => true,
        Err(why) => {
            skip(&why.0);
            false
        }
    }
}
