//! Ways around the keystroke model that sshgate closes (found in review): a shell without a
//! terminal, a second request on a running channel, signals and environment variables that
//! act behind the model's back.

use mock_target::TargetEvent;
use sshgate_tests::operator::{collect, WAIT};
use sshgate_tests::stack::{Approvals, ProxyKind, Stack};
use sshgate_wire::InProcessMessage;

#[tokio::test]
async fn a_shell_without_a_terminal_is_refused() {
    let stack = Stack::start(ProxyKind::Sshgate).await;
    let operator = stack.operator().await;
    let mut channel = operator.channel().await.unwrap();
    channel.request_shell(true).await.unwrap();
    // Without a PTY the target's shell reads these bytes literally: C-u erases nothing.
    channel.data(&b"echo DENY #\x15\n"[..]).await.unwrap();
    let outcome = collect(&mut channel).await.unwrap();
    assert_eq!(outcome.exit_status, Some(1), "{outcome:?}");
    assert!(outcome.stderr.contains("needs a terminal"), "{outcome:?}");
    assert!(stack.events().executed_lines().is_empty());
}

#[tokio::test]
async fn a_second_request_on_a_shell_channel_does_not_lift_the_gate() {
    let stack = Stack::start(ProxyKind::Sshgate).await;
    let operator = stack.operator().await;
    let mut shell = operator.shell().await.unwrap();
    shell.expect("$").await.unwrap();
    shell.channel.exec(true, "true").await.unwrap();
    shell.channel.request_shell(true).await.unwrap();
    shell.send(b"echo DENY\r").await.unwrap();
    shell
        .expect_any(&["denied: blocked", "DENY:ok"])
        .await
        .unwrap();
    shell.send(b"echo after\r").await.unwrap();
    shell.expect("echo after:ok").await.unwrap();
    let lines = stack.events().executed_lines();
    assert!(!lines.iter().any(|line| line.contains("DENY")), "{lines:?}");
    let asked: Vec<_> = stack
        .approvals
        .requests()
        .into_iter()
        .map(|r| r.command)
        .collect();
    assert_eq!(asked, ["echo DENY", "echo after"]);
}

#[tokio::test]
async fn signals_to_a_shell_and_unsafe_environment_do_not_reach_the_target() {
    let stack = Stack::start(ProxyKind::Sshgate).await;
    let operator = stack.operator().await;
    let channel = operator.channel().await.unwrap();
    channel
        .set_env(false, "BASH_ENV", "/tmp/payload")
        .await
        .unwrap();
    // A locale that does not read bytes as UTF-8 would change what the keys mean.
    channel.set_env(false, "LC_ALL", "C").await.unwrap();
    channel.set_env(false, "LANG", "C.UTF-8").await.unwrap();
    channel
        .request_pty(true, "xterm", 80, 24, 0, 0, &[(russh::Pty::VINTR, 24)])
        .await
        .unwrap();
    channel.request_shell(true).await.unwrap();
    channel.signal(russh::Sig::INT).await.unwrap();
    channel.window_change(81, 25, 0, 0).await.unwrap();
    // Messages on a channel arrive in order: once the resize is there, the rest was handled.
    let resized = stack
        .events()
        .wait_for(
            |event| matches!(event, TargetEvent::WindowChange { cols: 81, .. }),
            WAIT,
        )
        .await;
    assert!(resized.is_some());
    let events = stack.events().snapshot();
    assert!(events.contains(&TargetEvent::Env {
        name: "LANG".into(),
        value: "C.UTF-8".into()
    }));
    assert!(
        !events
            .iter()
            .any(|event| matches!(event, TargetEvent::Signal { .. })
                || matches!(event, TargetEvent::Env { name, .. }
                    if name == "BASH_ENV" || name == "LC_ALL")),
        "{events:?}"
    );
}

#[tokio::test]
async fn closing_a_channel_cancels_its_pending_request() {
    let mut stack =
        sshgate_tests::stack::Stack::with(ProxyKind::Sshgate, Approvals::Manual, WAIT).await;
    let operator = stack.operator().await;
    let channel = operator.channel().await.unwrap();
    channel.exec(true, "echo hi").await.unwrap();
    // Keep the reply open: dropping it would be an answer (a denial).
    let (request, _reply) = stack.manual_request().await;
    channel.close().await.unwrap();
    match stack.manual_message().await {
        Some(InProcessMessage::Cancel { id, .. }) => assert_eq!(id, request.id),
        other => panic!("the approver was not told: {other:?}"),
    }
    assert!(stack.events().exec_commands().is_empty());
}
