//! The test's own SSH client as the operator: exec requests and a PTY shell through sshgate
//! to the real sshd and bash.

use sshgate::ClientAuth;
use sshgate_tests::operator::Shell;
use sshgate_tests::sshd::{Record, TargetOptions};

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
