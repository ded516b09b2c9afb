//! The launch lines of this workspace's proxies for `conformance run --launch` and
//! `conformance matrix --proxy`, shared by the tests that grade them as processes.

use crate::process::binary;

/// The naive proxy's flags after `template`'s.
pub const NAIVE_FLAGS: &str = "--approval-timeout {approval_timeout}";

/// The launch template for a proxy binary of this workspace.
pub fn template(name: &str, extra: &str) -> String {
    format!(
        "{} --listen {{listen}} --target {{target}} --approver {{approver}} {extra}",
        binary(name).display()
    )
}

/// sshgate's launch line: with the identity the runner offers (the mock target takes any key)
/// and the self-run's echo wait (the slow-echo cases are timed against it).
pub fn sshgate(approval_timeout: &str) -> String {
    template(
        "sshgate",
        &format!(
            "--authorized-keys {{authorized_keys}} --target-known-hosts {{target_known_hosts}} \
             --identity {{target_identity}} --host-key {{dir}}/host_key \
             --approval-timeout {approval_timeout} --echo-wait 500"
        ),
    )
}

/// The bypasses DESIGN.md section 5 lists for published designs, as cases, that a proxy with
/// CR as its only submit, Ctrl+U as its deny and only CSI sequences parsed must fail.
pub const NAIVE_BYPASSES: &[&str] = &[
    // LF or Ctrl+O as a submit
    "bypass/lf-submits",
    "bypass/ctrl-o-submits",
    // a CR inside a paste
    "bypass/cr-inside-paste",
    // deny as Ctrl+U after the cursor moved left: a later empty Enter runs the rest
    "bypass/deny-after-cursor-left-then-empty-enter",
    "bypass/deny-after-home-then-empty-enter",
    // Ctrl+C, then a new line while the model still holds the old one
    "bypass/ctrl-c-then-new-line",
    // OSC strings and X10 mouse bytes in the command text
    "bypass/osc-string-in-line",
    "bypass/x10-mouse-bytes-spell-text",
    // a DENY word assembled by editing keys
    "bypass/assemble-deny-kill-and-yank",
    "bypass/assemble-deny-transpose",
];
