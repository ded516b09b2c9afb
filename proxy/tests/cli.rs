//! The binary's edges: bad input gives one clear line and exit status 2, never a panic or a
//! backtrace; `--help` explains every flag.

use std::process::Command;

use rstest::rstest;

const SSHGATE: &str = env!("CARGO_BIN_EXE_sshgate");

const BASE: &[&str] = &["--target", "127.0.0.1:22", "--approver", "ws://127.0.0.1:1"];

#[rstest]
#[case::unknown_flag(&["--bogus"], "--bogus")]
#[case::missing_target(&["--approver", "ws://127.0.0.1:1"], "--target")]
#[case::missing_authorized_keys(&[BASE, &["--insecure-accept-any-target-key"]].concat(), "--authorized-keys")]
#[case::unreadable_authorized_keys(
    &[BASE, &["--authorized-keys", "/nonexistent/keys", "--insecure-accept-any-target-key"]].concat(),
    "/nonexistent/keys"
)]
#[case::unreadable_identity(
    &[BASE, &["--insecure-accept-any-client", "--insecure-accept-any-target-key", "--identity", "/nonexistent/id"]].concat(),
    "/nonexistent/id"
)]
#[case::unverified_target(&[BASE, &["--insecure-accept-any-client"]].concat(), "--target-known-hosts")]
#[case::missing_config(&["--config", "/nonexistent/sshgate.toml"], "/nonexistent/sshgate.toml")]
fn sshgate_usage_errors_exit_2_with_one_line(#[case] args: &[&str], #[case] named: &str) {
    let output = Command::new(SSHGATE).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    let first = stderr.lines().next().unwrap_or_default();
    assert!(
        first.contains(named),
        "first line {first:?} does not name {named:?}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn help_explains_every_flag() {
    let output = Command::new(SSHGATE).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--config",
        "--listen",
        "--target",
        "--approver",
        "--host-key",
        "--authorized-keys",
        "--insecure-accept-any-client",
        "--password-pass-through",
        "--target-user",
        "--identity",
        "--target-known-hosts",
        "--target-fingerprint",
        "--insecure-accept-any-target-key",
        "--approval-timeout",
        "demo",
    ] {
        assert!(help.contains(flag), "--help does not mention {flag}");
    }
}
