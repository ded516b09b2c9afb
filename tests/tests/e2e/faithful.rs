//! What passes through sshgate must arrive as it was sent: exit status, stderr, EOF, window
//! size, environment.

use mock_target::TargetEvent;
use sshgate_tests::operator::WAIT;
use sshgate_tests::stack::{ProxyKind, Stack};

#[tokio::test]
async fn exec_exit_status_and_stderr_pass_through() {
    let stack = Stack::start(ProxyKind::Sshgate).await;
    let outcome = stack.operator().await.exec("exit 3").await.unwrap();
    assert_eq!(outcome.exit_status, Some(3));
    assert_eq!(outcome.stdout, "exit 3:ok\r\n");
    assert_eq!(outcome.stderr, "exit 3:err\r\n");
}

#[tokio::test]
async fn shell_session_ends_with_the_target_exit_status() {
    let stack = Stack::start(ProxyKind::Sshgate).await;
    let operator = stack.operator().await;
    let mut shell = operator.shell().await.unwrap();
    shell.expect("$ ").await.unwrap();
    shell.send(b"\x04").await.unwrap();
    shell.expect_close().await.unwrap();
    assert_eq!(shell.exit_status, Some(0));
}

#[tokio::test]
async fn pty_size_environment_and_resize_reach_the_target() {
    let stack = Stack::start(ProxyKind::Sshgate).await;
    let operator = stack.operator().await;
    let channel = operator.channel().await.unwrap();
    channel.set_env(false, "LANG", "C.UTF-8").await.unwrap();
    channel
        .request_pty(true, "xterm-256color", 120, 40, 0, 0, &[])
        .await
        .unwrap();
    channel.request_shell(true).await.unwrap();
    channel.window_change(90, 33, 0, 0).await.unwrap();
    let events = stack.events();
    let seen = |wanted: TargetEvent| async move {
        events
            .wait_for(|event| *event == wanted, WAIT)
            .await
            .unwrap_or_else(|| panic!("target never saw {wanted:?}: {:?}", events.snapshot()))
    };
    seen(TargetEvent::Env {
        name: "LANG".into(),
        value: "C.UTF-8".into(),
    })
    .await;
    seen(TargetEvent::Pty {
        term: "xterm-256color".into(),
        cols: 120,
        rows: 40,
    })
    .await;
    seen(TargetEvent::WindowChange { cols: 90, rows: 33 }).await;
}

#[tokio::test]
async fn several_commands_in_a_row_each_ask_once() {
    let stack = Stack::start(ProxyKind::Sshgate).await;
    let operator = stack.operator().await;
    let mut shell = operator.shell().await.unwrap();
    shell.expect("$ ").await.unwrap();
    shell
        .send(b"echo one\recho two\r\recho three\r")
        .await
        .unwrap();
    shell.expect("echo three:ok").await.unwrap();
    assert_eq!(
        stack.events().executed_lines(),
        ["echo one", "echo two", "", "echo three"]
    );
    let asked: Vec<_> = stack
        .approvals
        .requests()
        .into_iter()
        .map(|r| r.command)
        .collect();
    assert_eq!(asked, ["echo one", "echo two", "echo three"]);
}

#[tokio::test]
async fn operator_password_is_passed_through_to_the_target() {
    let target = mock_target::MockTarget::spawn().await.unwrap();
    let approver = mock_approver::InProcessApprover::spawn(mock_approver::Config::default());
    let approval = sshgate::approval::ApprovalPath::new(
        std::sync::Arc::new(sshgate::approval::InProcessApprover::new(approver.sender)),
        WAIT,
    );
    let (proxy, _stop) =
        sshgate_tests::stack::spawn_sshgate(target.addr, target.host_key(), approval).await;
    let mut client = russh::client::connect(
        std::sync::Arc::new(russh::client::Config::default()),
        proxy,
        sshgate_tests::operator::AnyHostKey,
    )
    .await
    .unwrap();
    let result = client.authenticate_password("bob", "secret").await.unwrap();
    assert!(result.success());
    let channel = client.channel_open_session().await.unwrap();
    channel.exec(true, "echo hi").await.unwrap();
    let logged_in = target
        .events
        .wait_for(|event| matches!(event, TargetEvent::Auth { .. }), WAIT)
        .await;
    assert_eq!(
        logged_in,
        Some(TargetEvent::Auth {
            user: "bob".into(),
            method: "password".into()
        })
    );
}
