//! The binaries' edges: bad input gives one clear line and exit status 2, never a panic; an
//! unreachable target or approver is explained to the operator and nothing hangs.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use rstest::rstest;
use sshgate::approval::{ApprovalPath, WebSocketApprover};
use sshgate_tests::operator::Operator;
use sshgate_tests::process::binary;
use sshgate_tests::stack::spawn_sshgate;

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
    let output = Command::new(binary("sshgate")).args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    let first = stderr.lines().next().unwrap_or_default();
    assert!(first.contains(named), "first line {first:?} does not name {named:?}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[rstest]
#[case::mock_target("mock-target")]
#[case::mock_approver("mock-approver")]
fn mock_usage_errors_exit_2(#[case] name: &str) {
    let output = Command::new(binary(name)).arg("--bogus").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn help_explains_every_flag() {
    let output = Command::new(binary("sshgate")).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    for flag in [
        "--config", "--listen", "--target", "--approver", "--host-key", "--authorized-keys",
        "--insecure-accept-any-client", "--target-user", "--identity", "--target-known-hosts",
        "--target-fingerprint", "--insecure-accept-any-target-key", "--approval-timeout", "demo",
    ] {
        assert!(help.contains(flag), "--help does not mention {flag}");
    }
}

/// A loopback port with nothing listening on it.
async fn closed_port() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

#[tokio::test]
async fn unreachable_target_is_explained_to_the_operator() {
    let target = closed_port().await;
    let approval = ApprovalPath::new(
        Arc::new(WebSocketApprover::spawn("ws://127.0.0.1:1".into())),
        Duration::from_secs(5),
    );
    let key = sshgate::credentials::generate_host_key();
    let (proxy, _stop) = spawn_sshgate(target, key.public_key(), approval).await;
    let operator = Operator::connect(proxy, "alice", None).await.unwrap();
    let outcome = operator.exec("echo hi").await.unwrap();
    assert_eq!(outcome.exit_status, Some(1));
    assert!(outcome.stderr.contains("cannot reach target"), "{outcome:?}");
}

#[tokio::test]
async fn unreachable_approver_denies_with_a_reason() {
    let target = mock_target::MockTarget::spawn().await.unwrap();
    let approver = closed_port().await;
    let approval = ApprovalPath::new(
        Arc::new(WebSocketApprover::spawn(format!("ws://{approver}"))),
        Duration::from_secs(5),
    );
    let (proxy, _stop) = spawn_sshgate(target.addr, target.host_key(), approval).await;
    let operator = Operator::connect(proxy, "alice", None).await.unwrap();
    let outcome = operator.exec("echo hi").await.unwrap();
    assert_eq!(outcome.exit_status, Some(1));
    assert!(outcome.stderr.contains("approver unreachable"), "{outcome:?}");
    assert!(target.events.exec_commands().is_empty());
}

#[tokio::test]
async fn target_with_another_host_key_is_refused() {
    let target = mock_target::MockTarget::spawn().await.unwrap();
    let approval = ApprovalPath::new(
        Arc::new(WebSocketApprover::spawn("ws://127.0.0.1:1".into())),
        Duration::from_secs(5),
    );
    let impostor = sshgate::credentials::generate_host_key();
    let (proxy, _stop) = spawn_sshgate(target.addr, impostor.public_key(), approval).await;
    let operator = Operator::connect(proxy, "alice", None).await.unwrap();
    let outcome = operator.exec("echo hi").await.unwrap();
    assert_eq!(outcome.exit_status, Some(1));
    assert!(outcome.stderr.contains("does not match the pinned"), "{outcome:?}");
}
