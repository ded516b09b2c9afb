//! Recordings (`--record`): one asciicast v2 file per channel that asciinema itself reads,
//! holding what the operator saw and, with input recording on, the keys the target echoed,
//! never a secret typed with echo off.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use mock_target::{MockTarget, TargetEvent};
use sshgate::approval::{ApprovalPath, InProcessApprover as ChannelApprover};
use sshgate::credentials::generate_host_key;
use sshgate::recording::RecordingSettings;
use sshgate::Settings;
use sshgate_tests::operator::Operator;
use sshgate_tests::skip::skip;
use sshgate_tests::stack::Stack;
use sshgate_wire::{Decision, InProcessMessage};

const SECRET: &str = "s3cret-passphrase";

/// A shell session through sshgate recording into `dir`, with input: a command approved, a
/// secret typed at a `read -s` prompt key by key and another pasted with its Enter, a window
/// change, a command denied. Returns the recording's path and the audit log's records.
async fn record_a_session(dir: &Path) -> (PathBuf, Vec<serde_json::Value>) {
    let audit_dir = tempfile::tempdir().unwrap();
    let audit_path = audit_dir.path().join("audit.jsonl");
    let (audit, audit_writer) = sshgate::audit::open(&audit_path).unwrap();
    let recording = Some(RecordingSettings {
        dir: dir.to_path_buf(),
        input: true,
    });
    let stack = Stack::sshgate_with(|settings| Settings {
        audit,
        recording,
        ..settings
    })
    .await;
    let proxy = stack.proxy;
    let operator = Operator::connect(proxy, "alice", None).await.unwrap();
    let mut shell = operator.shell().await.unwrap();
    shell.expect("$ ").await.unwrap();
    for key in "echo recorded-output".bytes() {
        shell.send(&[key]).await.unwrap();
    }
    shell.expect("echo recorded-output").await.unwrap();
    shell.send(b"\r").await.unwrap();
    shell.expect("recorded-output:ok").await.unwrap();
    for (n, typed) in [SECRET, &format!("{SECRET}\r")].iter().enumerate() {
        let mark = shell.mark();
        shell.send(b"read -s\r").await.unwrap();
        shell.expect_after(mark, "Password: ").await.unwrap();
        if n == 0 {
            for key in typed.bytes() {
                shell.send(&[key]).await.unwrap();
            }
            shell.send(b"\r").await.unwrap();
        } else {
            shell.send(typed.as_bytes()).await.unwrap();
        }
        let mark = shell.mark();
        shell.expect_after(mark, "$ ").await.unwrap();
    }
    shell.channel.window_change(100, 30, 0, 0).await.unwrap();
    shell.send(b"echo DENY-this\r").await.unwrap();
    shell.expect("denied").await.unwrap();
    drop(shell);
    drop(operator);
    assert!(stack
        .events()
        .executed_lines()
        .contains(&"echo recorded-output".to_string()));
    drop(stack);
    audit_writer.close(Duration::from_secs(5)).await;
    let audit = std::fs::read_to_string(&audit_path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let recordings: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(recordings.len(), 1, "{recordings:?}");
    (recordings[0].clone(), audit)
}

/// Each event of a recording: (kind, data), after checking the header.
fn events(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header["version"], 2);
    assert_eq!(
        (header["width"].as_u64(), header["height"].as_u64()),
        (Some(80), Some(24))
    );
    let mut last = 0.0;
    lines
        .map(|line| {
            let (at, kind, data): (f64, String, String) = serde_json::from_str(line).unwrap();
            assert!(at >= last, "events out of order at {line}");
            last = at;
            (kind, data)
        })
        .collect()
}

#[tokio::test]
async fn a_recording_holds_what_the_operator_saw_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let (path, audit) = record_a_session(dir.path()).await;
    let named: Vec<_> = audit
        .iter()
        .filter(|record| record["type"] == "recording")
        .map(|record| record["file"].as_str().unwrap_or_default())
        .collect();
    let file = path.file_name().unwrap().to_str().unwrap();
    assert_eq!(named, [file], "the audit log names the recording");
    let events = events(&path);
    let joined = |kind: &str| -> String {
        events
            .iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, data)| data.as_str())
            .collect()
    };
    let output = joined("o");
    assert!(output.contains("recorded-output:ok"), "{output}");
    assert!(
        output.contains("denied"),
        "the denial the operator saw: {output}"
    );
    assert!(joined("i").contains("echo recorded-output"), "{events:?}");
    assert!(events.contains(&("r".to_string(), "100x30".to_string())));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains(SECRET), "a secret in the recording:\n{text}");
    // Not even in part: the secret's first characters were typed one by one.
    assert!(!joined("i").contains("s3c"), "{events:?}");
}

/// The operator types a password ahead while `read -s` awaits its approval, as one does who
/// knows the prompt is coming: the keys reach the target after the command started, with
/// echo off, and the prompt `Password: ` comes after them (a recorder that took keys followed
/// by output starting like them for echoed keys recorded `Pas`). None of it is recorded: the
/// input events are the lines the approver was shown, and this one was hidden.
#[tokio::test]
async fn a_password_typed_ahead_while_its_command_awaits_approval_is_not_recorded() {
    const TYPED_AHEAD: &str = "Pasta-7";
    let dir = tempfile::tempdir().unwrap();
    let target = MockTarget::spawn().await.expect("mock target starts");
    let (sender, mut approvals) = tokio::sync::mpsc::channel(4);
    let approval = ApprovalPath::new(
        Arc::new(ChannelApprover::new(sender)),
        Duration::from_secs(60),
    );
    let settings = Settings {
        recording: Some(RecordingSettings {
            dir: dir.path().to_path_buf(),
            input: true,
        }),
        ..Settings::for_local_target(generate_host_key(), target.addr, target.host_key())
    };
    let (proxy, _stop) = sshgate_tests::stack::serve_sshgate(settings, approval).await;
    let operator = Operator::connect(proxy, "alice", None).await.unwrap();
    let mut shell = operator.shell().await.unwrap();
    shell.expect("$ ").await.unwrap();
    shell.send(b"read -s").await.unwrap();
    shell.expect("read -s").await.unwrap();
    shell.send(b"\r").await.unwrap();
    let Some(InProcessMessage::Request { request, reply }) = approvals.recv().await else {
        panic!("no approval request for read -s");
    };
    assert_eq!(request.command, "read -s");
    for key in TYPED_AHEAD.bytes() {
        shell.send(&[key]).await.unwrap();
    }
    // A window change passes while the request waits: once the target has it, sshgate has
    // taken every key typed before it.
    shell.channel.window_change(100, 30, 0, 0).await.unwrap();
    target
        .events
        .wait_for(
            |event| matches!(event, TargetEvent::WindowChange { cols: 100, .. }),
            Duration::from_secs(10),
        )
        .await
        .expect("the window change reached the target");
    reply.send(Decision::approve(&request.id)).unwrap();
    shell.expect("Password: ").await.unwrap();
    let mark = shell.mark();
    shell.send(b"\r").await.unwrap();
    if let Some(InProcessMessage::Request { request, reply }) = approvals.recv().await {
        // The Enter that ends the hidden line is asked about too.
        reply.send(Decision::approve(&request.id)).unwrap();
    }
    shell.expect_after(mark, "$ ").await.unwrap();
    assert!(
        !shell.text().contains(TYPED_AHEAD),
        "the target echoed the keys"
    );
    drop(shell);
    drop(operator);
    let path = std::fs::read_dir(dir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let inputs: String = events(&path)
        .into_iter()
        .filter(|(kind, _)| kind == "i")
        .map(|(_, data)| data)
        .collect();
    assert_eq!(inputs, "read -s\r");
}

/// A key's `command=` runs instead of what the operator asked for, as an exec with the PTY
/// the operator asked for: that channel has a terminal and is recorded like any other, not
/// left out of `--record`.
#[tokio::test]
async fn a_session_under_a_keys_forced_command_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let records = dir.path().join("records");
    std::fs::create_dir(&records).unwrap();
    let key = generate_host_key();
    let keys_file = dir.path().join("authorized_keys");
    std::fs::write(
        &keys_file,
        format!(
            "command=\"uptime --pretty\" {}\n",
            key.public_key().to_openssh().unwrap()
        ),
    )
    .unwrap();
    let keys = sshgate::client_keys::ClientKeys::default()
        .with_file(&keys_file)
        .unwrap();
    let recording = Some(RecordingSettings {
        dir: records.clone(),
        input: true,
    });
    let stack = Stack::sshgate_with(|settings| Settings {
        client_auth: sshgate::ClientAuth::AuthorizedKeys(Arc::new(keys)),
        recording,
        ..settings
    })
    .await;
    let proxy = stack.proxy;
    let operator = Operator::connect(proxy, "alice", Some(&key)).await.unwrap();
    let mut shell = operator.shell().await.unwrap();
    shell.expect("uptime --pretty:ok").await.unwrap();
    drop(shell);
    drop(operator);
    let recordings: Vec<PathBuf> = std::fs::read_dir(&records)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(recordings.len(), 1, "{recordings:?}");
    let output: String = events(&recordings[0])
        .into_iter()
        .filter(|(kind, _)| kind == "o")
        .map(|(_, data)| data)
        .collect();
    assert!(output.contains("uptime --pretty:ok"), "{output:?}");
}

#[tokio::test]
async fn asciinema_reads_the_recording() {
    if Command::new("asciinema").arg("--version").output().is_err() {
        skip("asciinema is not installed (Debian package asciinema, or pip install asciinema)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = record_a_session(dir.path()).await;
    // asciinema reads its keyboard from /dev/tty: `script` gives it a terminal.
    let played = Command::new("script")
        .args(["-q", "-e", "-c"])
        .arg(format!("asciinema cat '{}'", path.display()))
        .arg("/dev/null")
        .env("LANG", "C.UTF-8")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&played.stdout);
    assert!(played.status.success(), "asciinema cat failed: {stdout}");
    assert!(stdout.contains("recorded-output:ok"), "{stdout}");
    assert!(!stdout.contains(SECRET), "{stdout}");
}
