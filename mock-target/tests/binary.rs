//! The `mock-target` binary: readiness line, host key persistence, events file, exit codes.

mod common;

use std::process::Stdio;

use common::{collect, connect, WAIT};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_mock-target");

/// Start the binary and return it with the address from its readiness line.
async fn start(args: &[&std::ffi::OsStr]) -> (Child, std::net::SocketAddr) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn mock-target");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    tokio::time::timeout(WAIT, BufReader::new(stdout).read_line(&mut line))
        .await
        .expect("readiness line in time")
        .unwrap();
    let addr = line
        .strip_prefix("mock-target listening on ")
        .and_then(|rest| rest.trim_end().parse().ok())
        .unwrap_or_else(|| panic!("unexpected readiness line {line:?}"));
    (child, addr)
}

/// Run the binary to completion; returns (exit code, stdout, stderr).
async fn run_to_end(args: &[&str]) -> (Option<i32>, String, String) {
    let out = tokio::time::timeout(WAIT, Command::new(BIN).args(args).output())
        .await
        .expect("exited in time")
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn serves_persists_its_host_key_and_writes_events() {
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("host_key");
    let events_path = dir.path().join("events.jsonl");
    let args = [
        "--listen".as_ref(),
        "127.0.0.1:0".as_ref(),
        "--events".as_ref(),
        events_path.as_os_str(),
        "--host-key".as_ref(),
        key_path.as_os_str(),
    ];

    let (mut child, addr) = start(&args).await;
    let key = russh::keys::load_secret_key(&key_path, None).expect("key written on first start");
    let handle = connect(addr, key.public_key()).await;
    let mut channel = handle.channel_open_session().await.unwrap();
    channel.exec(true, "uptime").await.unwrap();
    let out = collect(&mut channel).await;
    assert_eq!(
        (out.stdout_text().as_str(), out.status),
        ("uptime:ok\r\n", Some(0))
    );
    child.kill().await.unwrap();

    let events = std::fs::read_to_string(&events_path).unwrap();
    assert!(
        events.contains(r#"{"event":"exec","command":"uptime"}"#),
        "{events}"
    );

    // Second start: the same key is loaded, so the pinned client still connects.
    let (mut child, addr) = start(&args).await;
    let handle = connect(addr, key.public_key()).await;
    drop(handle);
    child.kill().await.unwrap();
}

#[tokio::test]
async fn bad_flag_is_a_usage_error() {
    let (code, stdout, stderr) = run_to_end(&["--listen", "127.0.0.1:0", "--bogus"]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
    assert!(stderr.contains("--bogus"), "{stderr:?}");
}

#[tokio::test]
async fn bad_listen_address_is_a_usage_error() {
    let (code, _, stderr) = run_to_end(&["--listen", "not-an-address"]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
}

#[tokio::test]
async fn unreadable_host_key_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("garbage_key");
    std::fs::write(&key_path, "not a key\n").unwrap();
    let (code, stdout, stderr) = run_to_end(&["--host-key", key_path.to_str().unwrap()]).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
    assert!(stderr.contains("--host-key"), "{stderr:?}");
    assert!(!stderr.contains("panicked"), "{stderr:?}");
}

#[tokio::test]
async fn address_in_use_is_a_runtime_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, stdout, stderr) = run_to_end(&["--listen", &addr]).await;
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
    assert!(stderr.contains("--listen"), "{stderr:?}");
}
