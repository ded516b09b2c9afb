//! The WebSocket approver server, driven by a tokio-tungstenite client the way a proxy drives it.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use mock_approver::{ApproverEvent, Behaviour, Config, WsApprover};
use sshgate_wire::{ApprovalRequest, ApproverFrame, Decision, ProxyFrame};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

const PATIENCE: Duration = Duration::from_secs(10);

fn request(id: &str, command: &str) -> ApprovalRequest {
    ApprovalRequest {
        id: id.into(),
        command: command.into(),
        certain: true,
        context: vec!["$ ".into()],
        ..Default::default()
    }
}

async fn connect(approver: &WsApprover) -> Client {
    let (client, _) = tokio_tungstenite::connect_async(approver.url())
        .await
        .expect("connect to the approver");
    client
}

async fn send(client: &mut Client, frame: ProxyFrame) {
    client.send(Message::text(frame.to_json())).await.unwrap();
}

async fn hello(client: &mut Client) {
    let hello = ProxyFrame::Hello {
        protocol: 1,
        agent: "test/0".into(),
    };
    send(client, hello).await;
}

/// The next text frame, or `None` if the connection ended (or `PATIENCE` passed) first.
async fn next_text(client: &mut Client) -> Option<String> {
    loop {
        match tokio::time::timeout(PATIENCE, client.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => return Some(text.to_string()),
            Ok(Some(Ok(Message::Close(_)))) | Ok(Some(Err(_))) | Ok(None) | Err(_) => return None,
            Ok(Some(Ok(_))) => continue,
        }
    }
}

async fn next_decision(client: &mut Client) -> Decision {
    let text = next_text(client).await.expect("a decision frame");
    let ApproverFrame::Decision(decision) =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
    decision
}

#[tokio::test]
async fn hello_and_request_get_a_decision_with_the_same_id() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let approver = WsApprover::spawn(Config {
        events_file: Some(events.clone()),
        ..Config::default()
    })
    .await
    .unwrap();
    assert!(approver.url().starts_with("ws://127.0.0.1:"));
    let mut client = connect(&approver).await;
    hello(&mut client).await;
    send(&mut client, ProxyFrame::Request(request("r1", "echo hi"))).await;
    assert_eq!(next_decision(&mut client).await, Decision::approve("r1"));
    send(&mut client, ProxyFrame::Request(request("r2", "echo DENY"))).await;
    assert_eq!(
        next_decision(&mut client).await,
        Decision::deny("r2", "blocked")
    );

    let expected = vec![
        ApproverEvent::Hello {
            protocol: 1,
            agent: "test/0".into(),
        },
        ApproverEvent::Request(request("r1", "echo hi")),
        ApproverEvent::from(&Decision::approve("r1")),
        ApproverEvent::Request(request("r2", "echo DENY")),
        ApproverEvent::from(&Decision::deny("r2", "blocked")),
    ];
    assert_eq!(approver.log.snapshot(), expected);
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&events)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[1]["event"], "request");
    assert_eq!(lines[1]["command"], "echo hi");
    assert_eq!(
        lines[4],
        serde_json::json!({"event":"decision","id":"r2","approve":false,"reason":"blocked"})
    );
    approver.shutdown().await;
}

#[tokio::test]
async fn malformed_frames_are_recorded_and_never_answered() {
    let approver = WsApprover::spawn(Config::default()).await.unwrap();
    let mut client = connect(&approver).await;
    let bad = [
        "not json",
        r#"{"type":"approve","id":"x"}"#,
        r#"{"type":"request","id":"x","command":"echo hi"}"#,
    ];
    for frame in bad {
        client.send(Message::text(frame)).await.unwrap();
    }
    client
        .send(Message::binary(b"\x00\x01".to_vec()))
        .await
        .unwrap();
    // The next frame the client gets answers the valid request: nothing answered the bad ones.
    send(&mut client, ProxyFrame::Request(request("ok", "ls"))).await;
    assert_eq!(next_decision(&mut client).await, Decision::approve("ok"));

    let malformed = approver.log.malformed();
    assert_eq!(&malformed[..3], &bad);
    assert_eq!(malformed[3], "<binary frame, 2 bytes>");
    assert_eq!(approver.log.decisions(), vec![Decision::approve("ok")]);
    approver.shutdown().await;
}

// Real time here: tokio's paused clock jumps ahead while loopback I/O is still in flight, so
// it does not mix with real sockets. The in-process tests check delays on a paused clock.
#[tokio::test]
async fn delayed_answers_run_concurrently_and_a_cancel_stops_one() {
    const DELAY: Duration = Duration::from_millis(400);
    let approver = WsApprover::spawn(Config::with_behaviour(Behaviour::Delay(DELAY)))
        .await
        .unwrap();
    let mut client = connect(&approver).await;
    hello(&mut client).await;
    let start = tokio::time::Instant::now();
    send(&mut client, ProxyFrame::Request(request("r1", "echo one"))).await;
    send(&mut client, ProxyFrame::Request(request("r2", "echo DENY"))).await;
    send(
        &mut client,
        ProxyFrame::Request(request("r3", "echo three")),
    )
    .await;
    let cancel = ProxyFrame::Cancel {
        id: "r1".into(),
        reason: "ctrl-c".into(),
    };
    send(&mut client, cancel).await;

    let mut got = vec![
        next_decision(&mut client).await,
        next_decision(&mut client).await,
    ];
    let elapsed = start.elapsed();
    got.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(
        got,
        vec![Decision::deny("r2", "blocked"), Decision::approve("r3")]
    );
    // One delay for all of them, not one after another.
    assert!(elapsed >= DELAY && elapsed < 2 * DELAY, "{elapsed:?}");
    // r1's answer would have been due before r2's; a later request's answer comes next, so r1's
    // never will.
    send(&mut client, ProxyFrame::Request(request("r4", "echo four"))).await;
    assert_eq!(next_decision(&mut client).await, Decision::approve("r4"));
    assert_eq!(approver.log.cancels(), vec!["r1".to_string()]);
    assert!(approver.log.decisions().iter().all(|d| d.id != "r1"));
    approver.shutdown().await;
}

#[tokio::test]
async fn never_answer_records_requests_and_keeps_the_socket_open() {
    let approver = WsApprover::spawn(Config::with_behaviour(Behaviour::NeverAnswer))
        .await
        .unwrap();
    let mut client = connect(&approver).await;
    send(&mut client, ProxyFrame::Request(request("r1", "echo hi"))).await;
    send(&mut client, ProxyFrame::Request(request("r2", "ls"))).await;
    let cancel = ProxyFrame::Cancel {
        id: "r2".into(),
        reason: "timed out".into(),
    };
    send(&mut client, cancel).await;
    // Frames are handled in order, so an answer to either request would come before the pong.
    client
        .send(Message::Ping(b"p".to_vec().into()))
        .await
        .unwrap();
    match tokio::time::timeout(PATIENCE, client.next()).await {
        Ok(Some(Ok(Message::Pong(_)))) => {}
        other => panic!("expected a pong, got {other:?}"),
    }
    let cancelled = approver
        .log
        .wait_for(
            |e| matches!(e, ApproverEvent::Cancel { id, reason } if id == "r2" && reason == "timed out"),
            PATIENCE,
        )
        .await;
    assert!(cancelled.is_some());
    assert_eq!(approver.log.requests().len(), 2);
    assert!(approver.log.decisions().is_empty());
    approver.shutdown().await;
}

#[tokio::test]
async fn close_on_request_closes_the_socket() {
    let approver = WsApprover::spawn(Config::with_behaviour(Behaviour::CloseOnRequest))
        .await
        .unwrap();
    let mut client = connect(&approver).await;
    hello(&mut client).await;
    send(&mut client, ProxyFrame::Request(request("r1", "echo hi"))).await;
    assert_eq!(next_text(&mut client).await, None);
    // The stream really ended (not merely a close frame followed by more).
    let rest = tokio::time::timeout(PATIENCE, client.next()).await.unwrap();
    assert!(!matches!(rest, Some(Ok(Message::Text(_)))), "{rest:?}");
    assert_eq!(approver.log.requests(), vec![request("r1", "echo hi")]);
    assert!(approver.log.decisions().is_empty());
    // The server itself keeps serving new connections.
    let mut again = connect(&approver).await;
    hello(&mut again).await;
    approver.shutdown().await;
}

#[tokio::test]
async fn malformed_behaviour_sends_a_frame_the_protocol_rejects() {
    let approver = WsApprover::spawn(Config::with_behaviour(Behaviour::Malformed))
        .await
        .unwrap();
    let mut client = connect(&approver).await;
    send(&mut client, ProxyFrame::Request(request("r1", "echo hi"))).await;
    let text = next_text(&mut client).await.expect("a frame");
    assert!(
        serde_json::from_str::<ApproverFrame>(&text).is_err(),
        "{text} parsed"
    );
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["id"], "r1");
    assert!(approver.log.decisions().is_empty());
    approver.shutdown().await;
}

#[tokio::test]
async fn connections_are_served_side_by_side() {
    let approver = WsApprover::spawn(Config::default()).await.unwrap();
    let mut first = connect(&approver).await;
    let mut second = connect(&approver).await;
    send(&mut second, ProxyFrame::Request(request("b", "echo DENY"))).await;
    send(&mut first, ProxyFrame::Request(request("a", "echo hi"))).await;
    assert_eq!(next_decision(&mut first).await, Decision::approve("a"));
    assert_eq!(
        next_decision(&mut second).await,
        Decision::deny("b", "blocked")
    );
    approver.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_connections_and_stops_listening() {
    let approver = WsApprover::spawn(Config::default()).await.unwrap();
    let url = approver.url();
    let mut client = connect(&approver).await;
    approver.shutdown().await;
    match tokio::time::timeout(PATIENCE, client.next()).await.unwrap() {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.reason, "approver shutting down"),
        other => panic!("expected a close frame, got {other:?}"),
    }
    assert!(tokio_tungstenite::connect_async(url).await.is_err());
}

#[tokio::test]
async fn interactive_operator_decides_over_websocket() {
    let operator = mock_approver::Operator::scripted(&["yes"]);
    let approver = WsApprover::spawn(Config::with_behaviour(Behaviour::Interactive(operator)))
        .await
        .unwrap();
    let mut client = connect(&approver).await;
    send(&mut client, ProxyFrame::Request(request("r1", "echo DENY"))).await;
    assert_eq!(next_decision(&mut client).await, Decision::approve("r1"));
    // Input has ended: the next request is denied as closed.
    send(&mut client, ProxyFrame::Request(request("r2", "ls"))).await;
    assert_eq!(
        next_decision(&mut client).await,
        Decision::deny("r2", mock_approver::interactive::CLOSED_REASON)
    );
    approver.shutdown().await;
}
