//! The `mock-approver` binary: readiness line, serving, events file, exit codes.

use std::process::Stdio;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sshgate_wire::{ApprovalRequest, ApproverFrame, Decision, ProxyFrame, RequestKind};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;

const BIN: &str = env!("CARGO_BIN_EXE_mock-approver");
const PATIENCE: Duration = Duration::from_secs(20);

fn request(id: &str, command: &str) -> ApprovalRequest {
    ApprovalRequest {
        id: id.into(),
        command: command.into(),
        kind: RequestKind::Exec,
        certain: true,
        ..Default::default()
    }
}

/// Starts the binary and returns it with the URL from its readiness line.
async fn start(
    args: &[&str],
    stdin: Stdio,
) -> (Child, String, BufReader<tokio::process::ChildStdout>) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn mock-approver");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    tokio::time::timeout(PATIENCE, stdout.read_line(&mut line))
        .await
        .expect("readiness line in time")
        .unwrap();
    let url = line
        .strip_prefix("mock-approver listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .trim_end()
        .to_string();
    assert!(url.starts_with("ws://127.0.0.1:"), "{line:?}");
    assert_ne!(url, "ws://127.0.0.1:0", "the actual port is printed");
    (child, url, stdout)
}

async fn decide(url: &str, request: ApprovalRequest) -> String {
    let (mut client, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    client
        .send(Message::text(ProxyFrame::Request(request).to_json()))
        .await
        .unwrap();
    loop {
        match tokio::time::timeout(PATIENCE, client.next()).await.unwrap() {
            Some(Ok(Message::Text(text))) => return text.to_string(),
            Some(Ok(_)) => continue,
            other => panic!("no decision: {other:?}"),
        }
    }
}

#[tokio::test]
async fn prints_the_readiness_line_serves_and_records_events() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.jsonl");
    let events_arg = events.to_str().unwrap();
    let (mut child, url, _stdout) = start(
        &[
            "--listen",
            "127.0.0.1:0",
            "--deny-marker",
            "rm",
            "--events",
            events_arg,
        ],
        Stdio::null(),
    )
    .await;
    let answer = decide(&url, request("r1", "rm -rf /")).await;
    assert_eq!(
        serde_json::from_str::<ApproverFrame>(&answer).unwrap(),
        ApproverFrame::Decision(Decision::deny("r1", "blocked"))
    );
    let answer = decide(&url, request("r2", "echo DENY")).await;
    assert_eq!(
        serde_json::from_str::<ApproverFrame>(&answer).unwrap(),
        ApproverFrame::Decision(Decision::approve("r2"))
    );
    // Each event is flushed as it happens, before the decision reaches the proxy.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&events)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let names: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    assert_eq!(names, ["request", "decision", "request", "decision"]);
    assert_eq!(lines[0]["command"], "rm -rf /");
    assert_eq!(lines[1]["reason"], "blocked");
    child.kill().await.unwrap();
}

#[tokio::test]
async fn malformed_behaviour_from_the_command_line() {
    let (mut child, url, _stdout) = start(&["--behaviour", "malformed"], Stdio::null()).await;
    let answer = decide(&url, request("r1", "ls")).await;
    assert!(
        serde_json::from_str::<ApproverFrame>(&answer).is_err(),
        "{answer}"
    );
    child.kill().await.unwrap();
}

#[tokio::test]
async fn interactive_asks_on_stdin_and_stdout() {
    let (mut child, url, mut stdout) = start(&["--interactive"], Stdio::piped()).await;
    let mut stdin = child.stdin.take().unwrap();
    let pending = tokio::spawn({
        let url = url.clone();
        async move { decide(&url, request("r1", "echo DENY")).await }
    });
    let mut shown = String::new();
    while !shown.contains("approve? [y/N] ") {
        let mut line = Vec::new();
        // The prompt has no newline: read up to its final space.
        tokio::time::timeout(PATIENCE, stdout.read_until(b' ', &mut line))
            .await
            .expect("prompt in time")
            .unwrap();
        assert!(!line.is_empty(), "stdout ended; shown so far: {shown}");
        shown.push_str(&String::from_utf8_lossy(&line));
    }
    assert!(shown.contains("command: echo DENY"), "{shown}");
    stdin.write_all(b"y\n").await.unwrap();
    let answer = pending.await.unwrap();
    assert_eq!(
        serde_json::from_str::<ApproverFrame>(&answer).unwrap(),
        ApproverFrame::Decision(Decision::approve("r1"))
    );
    // End of input: everything after is denied as closed.
    drop(stdin);
    let answer = decide(&url, request("r2", "ls")).await;
    assert_eq!(
        serde_json::from_str::<ApproverFrame>(&answer).unwrap(),
        ApproverFrame::Decision(Decision::deny("r2", "approver closed"))
    );
    child.kill().await.unwrap();
}

/// Runs the binary to completion; returns its exit code and stderr.
async fn fails(args: &[&str]) -> (i32, String) {
    let output = tokio::time::timeout(
        PATIENCE,
        Command::new(BIN).args(args).stdin(Stdio::null()).output(),
    )
    .await
    .expect("exits in time")
    .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.stdout.is_empty(), "{:?}", output.stdout);
    assert!(!stderr.contains("panicked"), "{stderr}");
    (output.status.code().expect("exit code"), stderr)
}

#[tokio::test]
async fn usage_and_config_errors_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/such/dir/events.jsonl");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--behaviour", "sometimes"], "--behaviour"),
        (vec!["--listen", "nowhere"], "--listen"),
        (vec!["--delay-ms", "5"], "--delay-ms"),
        (
            vec!["--interactive", "--behaviour", "never"],
            "--interactive",
        ),
        (vec!["--deny-marker", ""], "--deny-marker"),
        (vec!["--events", missing.to_str().unwrap()], "--events"),
        (vec!["--no-such-flag"], "--no-such-flag"),
    ];
    for (args, flag) in cases {
        let (code, stderr) = fails(&args).await;
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(flag), "{args:?}: {stderr}");
    }
}

#[tokio::test]
async fn a_port_in_use_is_a_runtime_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, stderr) = fails(&["--listen", &addr]).await;
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--listen"), "{stderr}");
}
