//! Secrets, against real bash: text typed while the target does not echo (a `read -s`
//! prompt, `stty -echo`) never reaches the approver or sshgate's logs, and still waits for a
//! decision.

use real_target::{RealTarget, Record, TargetOptions};
use sshgate::ClientAuth;
use sshgate_tests::operator::Shell;

use crate::Front;

const SECRET: &str = "hunter2-correct-horse";

/// At bash's prompt: run a `read -s` that asks for a password, type [`SECRET`] at its prompt
/// (echo off), and wait until bash, having read it, is back at its prompt.
async fn type_password(shell: &mut Shell, target: &RealTarget) {
    let read = "read -s -p 'Password: ' pw; echo \"got ${#pw}\"";
    let mark = shell.mark();
    shell.send(format!("{read}\r").as_bytes()).await.unwrap();
    assert_eq!(target.next_line().await.unwrap(), read);
    // The prompt `read` prints, not the echo of the command line that contains it.
    shell
        .expect_after(mark, "\x1b[?2004l\rPassword: ")
        .await
        .unwrap();
    shell.send(format!("{SECRET}\r").as_bytes()).await.unwrap();
    // The password reached `read` (after a decision): bash counts its characters.
    shell
        .expect(&format!("got {}", SECRET.len()))
        .await
        .unwrap();
    assert_eq!(target.next_record().await.unwrap(), Record::Prompt);
}

#[tokio::test]
#[tracing_test::traced_test]
async fn a_password_typed_with_echo_off_reaches_neither_approver_nor_logs() {
    let Some(front) = Front::start(TargetOptions::default(), ClientAuth::InsecureAcceptAny).await
    else {
        return;
    };
    let mut shell = front.shell_at_prompt().await;
    let target = &front.target;

    type_password(&mut shell, target).await;

    let requests = front.approvals.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    let hidden = &requests[1];
    assert!(!hidden.certain, "{hidden:?}");
    assert!(hidden.command.contains("hidden"), "{hidden:?}");
    for request in &requests {
        let json = serde_json::to_string(request).unwrap();
        assert!(
            !json.contains(SECRET),
            "the approver saw the secret: {json}"
        );
    }
    // sshgate's own log lines, captured at every level this test enables.
    assert!(!logs_contain(SECRET), "the secret is in sshgate's logs");
}

#[tokio::test]
async fn echo_off_does_not_let_a_line_run_without_a_decision() {
    let Some(front) = Front::start(TargetOptions::default(), ClientAuth::InsecureAcceptAny).await
    else {
        return;
    };
    let mut shell = front.shell_at_prompt().await;
    let target = &front.target;
    shell.send(b"stty -echo\r").await.unwrap();
    assert_eq!(target.next_line().await.unwrap(), "stty -echo");
    assert_eq!(target.next_record().await.unwrap(), Record::Prompt);
    shell.expect("$ ").await.unwrap();

    // Typed blind at the shell's own prompt: the screen shows nothing of it, so the approver
    // is asked about the typed text, uncertain (a command, not a secret); the line runs only
    // once that request is decided (the rule approves it).
    shell.send(b"echo blind-line\r").await.unwrap();
    assert_eq!(target.next_line().await.unwrap(), "echo blind-line");
    let requests = front.approvals.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[1].command, "echo blind-line", "{requests:?}");
    assert!(!requests[1].certain);
}

/// sshgate and the mock approver as the processes users run, their output searched whole.
#[tokio::test]
async fn no_output_of_sshgate_or_the_mock_approver_contains_the_password() {
    use sshgate_tests::operator::Operator;
    use sshgate_tests::process::Server;

    let Some(target) = sshgate_tests::skip::real_target_or_skip(TargetOptions::default()) else {
        return;
    };
    let dir = target.dir();
    let identity = dir.join("sshgate_identity");
    target
        .client_key()
        .write_openssh_file(&identity, russh::keys::ssh_key::LineEnding::LF)
        .unwrap();
    let events = dir.join("approver-events.jsonl");
    let path = |path: &std::path::Path| path.to_str().expect("UTF-8 temp path").to_string();
    let approver = Server::start(
        "mock-approver",
        &["--listen", "127.0.0.1:0", "--events", &path(&events)],
    );
    let approver_url = format!("ws://127.0.0.1:{}", approver.port());
    let sshgate = Server::start(
        "sshgate",
        &[
            "--listen",
            "127.0.0.1:0",
            "--target",
            &target.addr().to_string(),
            "--target-known-hosts",
            &path(&target.known_hosts_path()),
            "--identity",
            &path(&identity),
            "--target-user",
            target.user(),
            "--approver",
            &approver_url,
            "--host-key",
            &path(&dir.join("sshgate_host_key")),
            "--insecure-accept-any-client",
        ],
    );
    let proxy = sshgate.address.parse().unwrap();
    let operator = Operator::connect(proxy, "operator", None).await.unwrap();
    let mut shell = crate::shell_at_prompt(&operator, &target).await;

    type_password(&mut shell, &target).await;

    let recorded = std::fs::read_to_string(&events).unwrap();
    // The search is over real output: the approver did record both requests.
    assert!(recorded.contains("read -s"), "{recorded}");
    assert!(recorded.contains("hidden"), "{recorded}");
    for (name, output) in [
        ("sshgate's output", sshgate.output()),
        ("the mock approver's output", approver.output()),
        ("the mock approver's events", recorded),
    ] {
        assert!(
            !output.contains(SECRET),
            "{name} contains the secret:\n{output}"
        );
    }
}
