//! The accept loop: connections over the bounds are closed, a connection that never logs in
//! is closed after the login grace time, and running out of file descriptors does not stop
//! the server.

use std::sync::Arc;
use std::time::Duration;

use mock_approver::{ApproverEvent, Behaviour, WsApprover};
use mock_target::MockTarget;
use sshgate::accept::ConnectionLimits;
use sshgate::client_keys::ClientKeys;
use sshgate::credentials::generate_host_key;
use sshgate::{ClientAuth, Settings};
use sshgate_tests::operator::{Operator, WAIT};
use sshgate_tests::process::Server;
use sshgate_tests::stack::{sshgate_binary, Stack};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// sshgate in-process in front of a mock target with `limits`, the mock approver's rule
/// deciding; the target and the proxy stop when the returned stack is dropped.
async fn sshgate_with(limits: ConnectionLimits) -> Stack {
    Stack::sshgate_with(|settings| Settings { limits, ..settings }).await
}

/// The sshgate binary in front of `target`, asking `approver`, any operator let in.
fn sshgate_process(target: &MockTarget, approver: &WsApprover) -> Server {
    sshgate_binary(target, &approver.url(), &["--insecure-accept-any-client"])
}

/// Everything the server sends on `stream` until it closes the connection; Err if it is
/// still open after [`WAIT`].
async fn read_until_closed(stream: &mut TcpStream) -> Result<Vec<u8>, String> {
    let mut received = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut received))
        .await
        .map_err(|_| format!("still open after {WAIT:?}; received {received:?}"))?
        .map_err(|error| error.to_string())?;
    Ok(received)
}

#[tokio::test]
async fn a_connection_that_never_logs_in_is_closed_after_the_grace_time() {
    let limits = ConnectionLimits {
        login_grace: Some(Duration::from_millis(300)),
        ..ConnectionLimits::default()
    };
    let stack = sshgate_with(limits).await;
    let proxy = stack.proxy;
    // Sends its identification, then nothing.
    let mut idle = TcpStream::connect(proxy).await.unwrap();
    let received = read_until_closed(&mut idle).await.unwrap();
    assert!(
        received.starts_with(b"SSH-2.0-sshgate"),
        "{:?}",
        String::from_utf8_lossy(&received)
    );
    // An operator who logs in is served.
    let operator = Operator::connect(proxy, "alice", None).await.unwrap();
    assert_eq!(
        operator.exec("echo hi").await.unwrap().stdout,
        "echo hi:ok\r\n"
    );
}

#[tokio::test]
async fn connections_over_the_unauthenticated_bound_are_closed_at_once() {
    let limits = ConnectionLimits {
        max_unauthenticated: 2,
        ..ConnectionLimits::default()
    };
    let stack = sshgate_with(limits).await;
    let proxy = stack.proxy;
    let mut admitted = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(proxy).await.unwrap();
        // Admitted: the server's identification comes.
        let mut first = [0u8; 4];
        tokio::time::timeout(WAIT, stream.read_exact(&mut first))
            .await
            .expect("identification in time")
            .unwrap();
        assert_eq!(&first, b"SSH-");
        admitted.push(stream);
    }
    let mut third = TcpStream::connect(proxy).await.unwrap();
    assert_eq!(read_until_closed(&mut third).await.unwrap(), b"");
}

#[tokio::test]
async fn an_exhausted_descriptor_limit_does_not_stop_the_server() {
    let target = MockTarget::spawn().await.expect("mock target starts");
    let approver = WsApprover::spawn(mock_approver::Config::with_behaviour(Behaviour::Rule))
        .await
        .unwrap();
    let proxy = sshgate_process(&target, &approver);
    // A few descriptors more than it holds now.
    let open = std::fs::read_dir(format!("/proc/{}/fd", proxy.pid()))
        .unwrap()
        .count();
    let limit = open + 4;
    let status = std::process::Command::new("prlimit")
        .arg(format!("--pid={}", proxy.pid()))
        .arg(format!("--nofile={limit}:{limit}"))
        .status()
        .expect("run prlimit (util-linux)");
    assert!(status.success());
    let address = proxy.address.parse::<std::net::SocketAddr>().unwrap();
    let mut idle = Vec::new();
    for _ in 0..20 {
        idle.push(TcpStream::connect(address).await.unwrap());
    }
    proxy
        .wait_for_output(|output| output.contains("cannot accept a connection"), WAIT)
        .unwrap();
    drop(idle);
    // Still serving, once the idle connections have given their descriptors back.
    let operator = Operator::connect(address, "alice", None).await.unwrap();
    assert_eq!(
        operator.exec("echo hi").await.unwrap().stdout,
        "echo hi:ok\r\n"
    );
}

#[tokio::test]
async fn sigterm_tells_the_sessions_cancels_pending_requests_and_exits_zero() {
    let target = MockTarget::spawn().await.expect("mock target starts");
    let approver = WsApprover::spawn(mock_approver::Config::with_behaviour(
        Behaviour::NeverAnswer,
    ))
    .await
    .unwrap();
    let proxy = sshgate_process(&target, &approver);
    let address = proxy.address.parse::<std::net::SocketAddr>().unwrap();
    let operator = Operator::connect(address, "alice", None).await.unwrap();
    let mut shell = operator.shell().await.unwrap();
    shell.expect("$").await.unwrap();
    shell.send(b"echo pending\r").await.unwrap();
    approver
        .log
        .wait_for(|event| matches!(event, ApproverEvent::Request(_)), WAIT)
        .await
        .expect("the request reaches the approver");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &proxy.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    shell.expect_close().await.unwrap();
    let cancel = approver
        .log
        .wait_for(|event| matches!(event, ApproverEvent::Cancel { .. }), WAIT)
        .await;
    assert!(
        matches!(&cancel, Some(ApproverEvent::Cancel { reason, .. }) if reason.contains("shutting down")),
        "{cancel:?}"
    );
    let output = proxy.output();
    let exit = tokio::task::spawn_blocking(move || proxy.wait_for_exit(WAIT))
        .await
        .unwrap()
        .unwrap();
    assert!(exit.success(), "{exit:?}; output:\n{output}");
    assert!(!target
        .events
        .executed_lines()
        .contains(&"echo pending".to_string()));
}

#[tokio::test]
async fn a_wrong_key_then_the_right_one_on_one_connection_logs_in() {
    let right = generate_host_key();
    let wrong = generate_host_key();
    let authorized = ClientKeys::fixed(vec![right.public_key().clone()]);
    let stack = Stack::sshgate_with(|settings| Settings {
        client_auth: ClientAuth::AuthorizedKeys(Arc::new(authorized)),
        ..settings
    })
    .await;
    let proxy = stack.proxy;
    let (operator, accepted) = tokio::time::timeout(
        WAIT,
        Operator::connect_trying_keys(proxy, "alice", &[wrong.clone(), wrong, right]),
    )
    .await
    .expect("every attempt answered")
    .unwrap();
    assert_eq!(accepted, [false, false, true]);
    let outcome = operator.exec("echo in").await.unwrap();
    assert_eq!(outcome.stdout, "echo in:ok\r\n");
}
