//! Run-time failures: an unreachable target or approver, or a target with the wrong host key,
//! is explained to the operator and nothing hangs.

use std::sync::Arc;
use std::time::Duration;

use mock_approver::{ApproverEvent, Behaviour, WsApprover};
use sshgate::approval::{ApprovalPath, WebSocketApprover};
use sshgate_tests::operator::Operator;
use sshgate_tests::stack::spawn_sshgate;

/// A loopback port with nothing listening on it.
/// A loopback address that refuses connections. The socket stays bound but never listens,
/// so that no other test can take the port meanwhile; keep it alive for the test.
fn closed_port() -> (std::net::SocketAddr, tokio::net::TcpSocket) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    (socket.local_addr().unwrap(), socket)
}

#[tokio::test]
async fn unreachable_target_is_explained_to_the_operator() {
    let (target, _reserved) = closed_port();
    let approval = ApprovalPath::new(
        Arc::new(WebSocketApprover::spawn("ws://127.0.0.1:1".into())),
        Duration::from_secs(5),
    );
    let key = sshgate::credentials::generate_host_key();
    let (proxy, _stop) = spawn_sshgate(target, key.public_key(), approval).await;
    let operator = Operator::connect(proxy, "alice", None).await.unwrap();
    let outcome = operator.exec("echo hi").await.unwrap();
    assert_eq!(outcome.exit_status, Some(1));
    assert!(
        outcome.stderr.contains("cannot reach target"),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn unreachable_approver_denies_with_a_reason() {
    let target = mock_target::MockTarget::spawn().await.unwrap();
    let (approver, _reserved) = closed_port();
    let approval = ApprovalPath::new(
        Arc::new(WebSocketApprover::spawn(format!("ws://{approver}"))),
        Duration::from_secs(5),
    );
    let (proxy, _stop) = spawn_sshgate(target.addr, target.host_key(), approval).await;
    let operator = Operator::connect(proxy, "alice", None).await.unwrap();
    let outcome = operator.exec("echo hi").await.unwrap();
    assert_eq!(outcome.exit_status, Some(1));
    assert!(
        outcome.stderr.contains("approver unreachable"),
        "{outcome:?}"
    );
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
    assert!(
        outcome.stderr.contains("does not match the pinned"),
        "{outcome:?}"
    );
}

/// The WebSocket path end to end: sshgate's client against the mock WebSocket approver.
#[rstest::rstest]
#[case::rule_approves(Behaviour::Rule, "echo hi", None)]
#[case::rule_denies(Behaviour::Rule, "echo DENY", Some("denied: blocked"))]
#[case::malformed_answer(Behaviour::Malformed, "echo hi", Some("does not parse"))]
#[case::connection_closed(Behaviour::CloseOnRequest, "echo hi", Some("disconnected"))]
#[case::no_answer(Behaviour::NeverAnswer, "echo hi", Some("no decision within"))]
#[tokio::test]
async fn websocket_approver(
    #[case] behaviour: Behaviour,
    #[case] command: &str,
    #[case] denial: Option<&str>,
) {
    let target = mock_target::MockTarget::spawn().await.unwrap();
    let approver = WsApprover::spawn(mock_approver::Config::with_behaviour(behaviour))
        .await
        .unwrap();
    let approval = ApprovalPath::new(
        Arc::new(WebSocketApprover::spawn(approver.url())),
        Duration::from_millis(500),
    );
    let (proxy, _stop) = spawn_sshgate(target.addr, target.host_key(), approval).await;
    let operator = Operator::connect(proxy, "alice", None).await.unwrap();
    let outcome = operator.exec(command).await.unwrap();
    let requests = approver.log.requests();
    assert_eq!(requests.len(), 1, "{:?}", approver.log.snapshot());
    assert_eq!(
        (requests[0].user.as_str(), requests[0].command.as_str()),
        ("alice", command)
    );
    assert!(approver
        .log
        .snapshot()
        .iter()
        .any(|event| matches!(event, ApproverEvent::Hello { protocol: 1, .. })));
    match denial {
        None => {
            assert_eq!(outcome.exit_status, Some(0), "{outcome:?}");
            assert_eq!(target.events.exec_commands(), [command]);
        }
        Some(reason) => {
            assert_eq!(outcome.exit_status, Some(1), "{outcome:?}");
            assert!(outcome.stderr.contains(reason), "{outcome:?}");
            assert!(target.events.exec_commands().is_empty());
        }
    }
}

#[tokio::test]
async fn websocket_approver_hears_of_a_time_out() {
    let target = mock_target::MockTarget::spawn().await.unwrap();
    let approver = WsApprover::spawn(mock_approver::Config::with_behaviour(
        Behaviour::NeverAnswer,
    ))
    .await
    .unwrap();
    let approval = ApprovalPath::new(
        Arc::new(WebSocketApprover::spawn(approver.url())),
        Duration::from_millis(200),
    );
    let (proxy, _stop) = spawn_sshgate(target.addr, target.host_key(), approval).await;
    let operator = Operator::connect(proxy, "alice", None).await.unwrap();
    operator.exec("echo hi").await.unwrap();
    let cancel = approver
        .log
        .wait_for(
            |event| matches!(event, ApproverEvent::Cancel { .. }),
            Duration::from_secs(10),
        )
        .await;
    assert!(cancel.is_some(), "{:?}", approver.log.snapshot());
}
