//! The test's own SSH client as the operator: exec requests and a PTY shell through sshgate
//! to the real sshd and bash.

use real_target::{Record, TargetOptions};
use sshgate::ClientAuth;
use sshgate_tests::operator::Shell;

use crate::Front;

async fn front(options: TargetOptions) -> Option<Front> {
    Front::start(options, ClientAuth::InsecureAcceptAny).await
}

/// Type `line` and Enter once bash shows its prompt (the output after `mark` ends a line
/// with "$ "), as a person would: keys typed before readline has the terminal arrive while
/// the tty driver still echoes, and the screen then differs from what was typed.
/// Returns the mark for the next prompt.
async fn type_at_prompt(shell: &mut Shell, mark: usize, line: &str) -> usize {
    shell.expect_after(mark, "$ ").await.unwrap();
    let next = shell.mark();
    shell.send(format!("{line}\r").as_bytes()).await.unwrap();
    next
}

#[tokio::test]
async fn approved_exec_runs_on_the_real_target_and_denied_exec_never_does() {
    let Some(front) = front(TargetOptions::default()).await else {
        return;
    };
    let operator = front.operator().await;

    let approved = operator.exec("echo hi").await.unwrap();
    assert_eq!(approved.stdout, "hi\n", "{approved:?}");
    assert_eq!(approved.exit_status, Some(0));

    let denied = operator.exec("echo DENY").await.unwrap();
    assert!(
        denied.stderr.contains("denied: blocked"),
        "stderr: {:?}",
        denied.stderr
    );
    assert_ne!(denied.exit_status, Some(0));

    // Records arrive in order: once the later command is recorded, a run of the denied one
    // would have been recorded before it.
    let after = operator.exec("echo after; exit 3").await.unwrap();
    assert_eq!(after.stdout, "after\n");
    assert_eq!(after.exit_status, Some(3), "exit status passes through");
    assert_eq!(front.target.next_exec().await.unwrap(), "echo hi");
    assert_eq!(
        front.target.next_exec().await.unwrap(),
        "echo after; exit 3"
    );
    assert!(!front.target.ran("DENY"), "{:?}", front.target.records());
    assert_eq!(
        front.requested(),
        ["echo hi", "echo DENY", "echo after; exit 3"]
    );
}

#[tokio::test]
async fn pty_shell_runs_approved_lines_and_never_denied_ones() {
    let Some(front) = front(TargetOptions::default()).await else {
        return;
    };
    let operator = front.operator().await;
    let mut shell = operator.shell().await.unwrap();
    let target = &front.target;
    assert_eq!(target.next_record().await.unwrap(), Record::Prompt);

    let mark = type_at_prompt(&mut shell, 0, "echo hello").await;
    assert_eq!(
        target.next_record().await.unwrap(),
        Record::Line("echo hello".into())
    );
    assert_eq!(target.next_record().await.unwrap(), Record::Prompt);
    shell.expect_after(mark, "\rhello\r\n").await.unwrap();

    let denied = type_at_prompt(&mut shell, mark, "echo DENY-me").await;
    shell.expect_after(denied, "denied: blocked").await.unwrap();

    // The shell stays usable, and the denied text is gone from bash's line: the next line
    // bash runs is exactly the new one. (No new prompt after a denial: bash's line is
    // emptied in place, so this types straight away.)
    let mark = shell.mark();
    shell.send(b"echo after\r").await.unwrap();
    assert_eq!(
        target.next_record().await.unwrap(),
        Record::Line("echo after".into())
    );
    assert_eq!(target.next_record().await.unwrap(), Record::Prompt);
    shell.expect_after(mark, "\rafter\r\n").await.unwrap();
    assert!(!target.ran("DENY"), "{:?}", target.records());
    assert_eq!(
        front.requested(),
        ["echo hello", "echo DENY-me", "echo after"]
    );
    for request in front.approvals.requests() {
        assert!(request.certain, "{request:?}");
    }

    shell.send(b"exit 4\r").await.unwrap();
    shell.expect_close().await.unwrap();
    assert_eq!(shell.exit_status, Some(4));
}

#[tokio::test]
async fn dry_run_records_lines_without_running_them() {
    let Some(front) = front(TargetOptions {
        dry_run: true,
        ..TargetOptions::default()
    })
    .await
    else {
        return;
    };
    let target = &front.target;
    let made = target.dir().join("made");
    let touch = format!("touch {}", made.display());
    let operator = front.operator().await;

    let exec = operator.exec(&touch).await.unwrap();
    assert_eq!(exec.exit_status, Some(0), "{exec:?}");
    assert_eq!(target.next_exec().await.unwrap(), touch);

    let mut shell = operator.shell().await.unwrap();
    assert_eq!(target.next_record().await.unwrap(), Record::Prompt);
    // A loop whose condition the trap skips would spin forever were the line not abandoned.
    let mut mark = 0;
    for line in [
        touch.as_str(),
        "while true; do echo spin; done",
        "echo $(echo substituted)",
    ] {
        mark = type_at_prompt(&mut shell, mark, line).await;
        assert_eq!(
            target.next_record().await.unwrap(),
            Record::Line(line.into())
        );
        assert_eq!(target.next_record().await.unwrap(), Record::Prompt);
    }
    shell.expect_after(mark, "$ ").await.unwrap();
    assert!(!made.exists(), "dry run created {}", made.display());
    // Nothing printed: each line's echo is followed straight by the next prompt.
    for output in ["\rspin\r\n", "\rsubstituted\r\n"] {
        assert!(!shell.text().contains(output), "{:?}", shell.text());
    }
    for request in front.approvals.requests() {
        assert!(request.certain, "{request:?}");
    }
}

/// An approved `bind -x` arms a key that makes bash run a command with no line accepted: no
/// submit for the gate to hold. The proxy cannot stop that command, but it must see it run
/// (bash clears the row, writes the output and draws its prompt again below) and end the
/// session: the operator is told, the approver gets an alert, and nothing typed afterwards
/// reaches bash. (The mock-target cases `monitor/*` show the same failing behind a proxy that
/// does not watch.)
#[tokio::test]
async fn a_bind_x_key_ends_the_session_with_an_alert() {
    let Some(front) = front(TargetOptions::default()).await else {
        return;
    };
    let mut shell = front.shell_at_prompt().await;
    let target = &front.target;
    let bind = r#"bind -x '"\C-t": "echo bound"'"#;
    let mark = type_at_prompt(&mut shell, 0, bind).await;
    assert_eq!(
        target.next_record().await.unwrap(),
        Record::Line(bind.into())
    );
    assert_eq!(target.next_record().await.unwrap(), Record::Prompt);
    let request = front.approvals.requests().remove(0);
    assert!(
        request.warnings.iter().any(|w| w.contains("what keys do")),
        "{request:?}"
    );
    shell.expect_after(mark, "$ ").await.unwrap();
    shell.send(b"ab\x14").await.unwrap();
    shell.expect_close().await.unwrap();
    assert_eq!(shell.exit_status, Some(1));
    let alerts: Vec<_> = front
        .approvals
        .snapshot()
        .into_iter()
        .filter_map(|event| match event {
            mock_approver::ApproverEvent::Alert(alert) => Some(alert),
            _ => None,
        })
        .collect();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(alerts[0].reason.contains("key binding"), "{alerts:?}");
    // The session is gone: a line typed now reaches nothing.
    let _ = shell.send(b"\x15echo after\r").await;
    let operator = front.operator().await;
    let after = operator.exec("echo next").await.unwrap();
    assert_eq!(after.stdout, "next\n");
    assert!(!target.ran("echo after"), "{:?}", target.records());
}
