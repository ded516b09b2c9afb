//! sshgate's log as the binary writes it: text an operator chose (an exec command, a user
//! name, an environment variable's name) reaches it quoted and escaped, so no input can forge a
//! log record or move the cursor of a person reading the log.

use std::time::Duration;

use sshgate_tests::operator::{collect, Operator};
use sshgate_tests::process::Server;

/// A log record, as the fmt subscriber writes one, that no real record starts with.
const FORGED: &str = "2030-01-01T00:00:00.000000Z  INFO sshgate::approval::mod: decision \
                      id=1 command=\"rm -rf /\" approve=true reason=\"\"";

const PATIENCE: Duration = Duration::from_secs(20);

#[tokio::test]
async fn control_characters_an_operator_types_cannot_forge_a_log_line() {
    let target = Server::start("mock-target", &["--listen", "127.0.0.1:0"]);
    let approver = Server::start("mock-approver", &["--listen", "127.0.0.1:0"]);
    let approver_url = format!("ws://127.0.0.1:{}", approver.port());
    let sshgate = Server::start(
        "sshgate",
        &[
            "--listen",
            "127.0.0.1:0",
            "--target",
            &target.address,
            "--approver",
            &approver_url,
            "--insecure-accept-any-client",
            "--insecure-accept-any-target-key",
        ],
    );
    let proxy = sshgate.address.parse().unwrap();
    // Newline, CR and an erase-line sequence, in each place an operator chooses text.
    let user = format!("alice\r\x1b[2K\n{FORGED}");
    let denied = format!("echo DENY\n{FORGED}\r\x1b[2K");
    let variable = format!("EVIL\r\x1b[2K\n{FORGED}");

    let operator = Operator::connect(proxy, &user, None).await.unwrap();
    let outcome = operator.exec(&denied).await.unwrap();
    assert_ne!(outcome.exit_status, Some(0), "{outcome:?}");
    let mut channel = operator.channel().await.unwrap();
    channel
        .set_env(false, variable.as_str(), "x")
        .await
        .unwrap();
    channel.exec(true, "echo last-request").await.unwrap();
    let outcome = collect(&mut channel).await.unwrap();
    assert_eq!(outcome.exit_status, Some(0), "{outcome:?}");

    // sshgate logs a decision before it acts on it: once the last one is there, all are.
    let last_decision = |log: &str| {
        log.lines()
            .any(|line| line.contains(" decision ") && line.contains("echo last-request"))
    };
    let log = sshgate.wait_for_output(last_decision, PATIENCE).unwrap();
    for raw in ['\r', '\x1b'] {
        assert!(!log.contains(raw), "{raw:?} reached the log raw:\n{log}");
    }
    assert!(
        log.chars().all(|c| c == '\n' || !c.is_control()),
        "a control character reached the log raw:\n{log:?}"
    );
    let forged_start = &FORGED[..20];
    for line in log.lines() {
        assert!(
            !line.starts_with(forged_start),
            "a forged record:\n{line}\nin the log:\n{log}"
        );
    }
    // Each text did reach the log, escaped, on its real record's line.
    for (record, escaped) in [
        (
            "operator authenticated",
            r#"user="alice\r\u{1b}[2K\n2030-01-01"#,
        ),
        ("asking approver", r#"command="echo DENY\n2030-01-01"#),
        (
            "decision",
            r#"approve=true reason=\"\"\r\u{1b}[2K" approve=false"#,
        ),
        (
            "environment variable not passed",
            r#"name="EVIL\r\u{1b}[2K\n2030-01-01"#,
        ),
    ] {
        assert!(
            log.lines()
                .any(|line| line.contains(record) && line.contains(escaped)),
            "no {record:?} line holding {escaped}:\n{log}"
        );
    }
}
