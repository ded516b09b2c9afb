//! End-to-end tests of the mock target through a real russh client: exec, shell, subsystem,
//! request recording, the events file and shutdown.

mod common;

use common::{collect, connect, read_until, WAIT};
use mock_target::{Config, MockTarget, TargetEvent};
use russh::{Pty, Sig};

async fn open_shell(
    target: &MockTarget,
) -> (
    russh::client::Handle<common::Pinned>,
    russh::Channel<russh::client::Msg>,
) {
    let handle = connect(target.addr, target.host_key()).await;
    let mut channel = handle.channel_open_session().await.unwrap();
    channel
        .request_pty(true, "xterm-256color", 80, 24, 0, 0, &[])
        .await
        .unwrap();
    channel.request_shell(true).await.unwrap();
    let mut seen = Vec::new();
    let greeting = read_until(&mut channel, &mut seen, "$ ").await;
    assert_eq!(greeting, "\x1b[?2004h$ ");
    (handle, channel)
}

async fn wait_executed(target: &MockTarget, line: &str) {
    let found = target
        .events
        .wait_for(
            |e| matches!(e, TargetEvent::Executed { line: l } if l == line),
            WAIT,
        )
        .await;
    assert!(
        found.is_some(),
        "{line:?} was not executed; events: {:?}",
        target.events.snapshot()
    );
}

#[tokio::test]
async fn exec_echoes_the_command_and_exits_zero() {
    let target = MockTarget::spawn().await.unwrap();
    let handle = connect(target.addr, target.host_key()).await;
    let mut channel = handle.channel_open_session().await.unwrap();
    channel.exec(true, "echo hi").await.unwrap();
    let out = collect(&mut channel).await;
    assert_eq!(out.stdout_text(), "echo hi:ok\r\n");
    assert_eq!(out.status, Some(0));
    assert!(out.stderr.is_empty());
    assert!(out.eof);
    assert_eq!(target.events.exec_commands(), ["echo hi"]);
    assert_eq!(
        target.events.snapshot()[0],
        TargetEvent::Auth {
            user: "alice".into(),
            method: "none".into()
        }
    );
    target.shutdown().await;
}

#[tokio::test]
async fn exec_exit_n_gives_status_n_and_stderr() {
    let target = MockTarget::spawn().await.unwrap();
    let handle = connect(target.addr, target.host_key()).await;
    let mut channel = handle.channel_open_session().await.unwrap();
    channel.exec(true, "exit 3").await.unwrap();
    let out = collect(&mut channel).await;
    assert_eq!(out.status, Some(3));
    assert_eq!(out.stdout_text(), "exit 3:ok\r\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "exit 3:err\r\n");
    target.shutdown().await;
}

#[tokio::test]
async fn password_and_publickey_auth_are_accepted_and_recorded() {
    let target = MockTarget::spawn().await.unwrap();
    let config = std::sync::Arc::new(russh::client::Config::default());
    let pinned = || common::Pinned(target.host_key().clone());

    let mut handle = russh::client::connect(config.clone(), target.addr, pinned())
        .await
        .unwrap();
    assert!(handle
        .authenticate_password("bob", "pw")
        .await
        .unwrap()
        .success());

    let key = mock_target::random_host_key();
    let mut handle2 = russh::client::connect(config, target.addr, pinned())
        .await
        .unwrap();
    let key = russh::keys::PrivateKeyWithHashAlg::new(std::sync::Arc::new(key), None);
    assert!(handle2
        .authenticate_publickey("carol", key)
        .await
        .unwrap()
        .success());

    let mut handle3 = russh::client::connect(
        std::sync::Arc::new(russh::client::Config::default()),
        target.addr,
        pinned(),
    )
    .await
    .unwrap();
    let reply = handle3
        .authenticate_keyboard_interactive_start("dave", None::<String>)
        .await
        .unwrap();
    assert!(
        matches!(
            reply,
            russh::client::KeyboardInteractiveAuthResponse::Success
        ),
        "{reply:?}"
    );

    let auths: Vec<_> = target
        .events
        .snapshot()
        .into_iter()
        .filter(|e| matches!(e, TargetEvent::Auth { .. }))
        .collect();
    assert_eq!(
        auths,
        [
            TargetEvent::Auth {
                user: "bob".into(),
                method: "password".into()
            },
            TargetEvent::Auth {
                user: "carol".into(),
                method: "publickey".into()
            },
            TargetEvent::Auth {
                user: "dave".into(),
                method: "keyboard-interactive".into()
            },
        ]
    );
    target.shutdown().await;
}

#[tokio::test]
async fn pty_shell_runs_a_typed_line() {
    let target = MockTarget::spawn().await.unwrap();
    let (_handle, mut channel) = open_shell(&target).await;
    channel.data_bytes(&b"echo hi\r"[..]).await.unwrap();
    wait_executed(&target, "echo hi").await;
    let mut seen = Vec::new();
    let out = read_until(&mut channel, &mut seen, "echo hi:ok\r\n\x1b[?2004h$ ").await;
    assert!(out.starts_with("echo hi"), "{out:?}");
    assert_eq!(target.events.input_bytes(), b"echo hi\r");
    assert!(target.events.snapshot().contains(&TargetEvent::Pty {
        term: "xterm-256color".into(),
        cols: 80,
        rows: 24
    }));
    target.shutdown().await;
}

#[tokio::test]
async fn editing_keys_split_across_packets_produce_the_edited_line() {
    let target = MockTarget::spawn().await.unwrap();
    let (_handle, mut channel) = open_shell(&target).await;
    // "ecoh hi": Home, Right, Right, Delete drops the 'o', Right, 'o' -> "echo hi"; then End,
    // C-w, "there", and a paste holding a CR.
    for chunk in [
        &b"ecoh hi"[..],
        b"\x01\x1b",
        b"[C\x1bO",
        b"C\x1b[3",
        b"~\x1b[Co\x05\x17there",
        b"\x1b[200~ p\rq\x1b[201~",
        b"\r",
    ] {
        channel.data_bytes(chunk).await.unwrap();
    }
    wait_executed(&target, "echo there p\nq").await;
    assert_eq!(target.events.executed_lines(), ["echo there p\nq"]);
    let mut seen = Vec::new();
    read_until(&mut channel, &mut seen, "echo there p\r\nq:ok\r\n").await;
    target.shutdown().await;
}

#[tokio::test]
async fn ctrl_c_discards_the_line() {
    let target = MockTarget::spawn().await.unwrap();
    let (_handle, mut channel) = open_shell(&target).await;
    channel.data_bytes(&b"rm -rf /"[..]).await.unwrap();
    channel.data_bytes(&b"\x03"[..]).await.unwrap();
    channel.data_bytes(&b"\r"[..]).await.unwrap();
    channel.data_bytes(&b"echo ok\r"[..]).await.unwrap();
    wait_executed(&target, "echo ok").await;
    assert_eq!(target.events.executed_lines(), ["", "echo ok"]);
    let mut seen = Vec::new();
    read_until(&mut channel, &mut seen, "^C\r\n$ ").await;
    target.shutdown().await;
}

#[tokio::test]
async fn ctrl_d_on_an_empty_line_exits_zero() {
    let target = MockTarget::spawn().await.unwrap();
    let (_handle, mut channel) = open_shell(&target).await;
    channel.data_bytes(&b"x\x7f\x04"[..]).await.unwrap();
    let out = collect(&mut channel).await;
    assert_eq!(out.status, Some(0));
    assert!(out.eof);
    assert!(target.events.executed_lines().is_empty());
    target.shutdown().await;
}

#[tokio::test]
async fn shell_without_pty_works_and_ends_on_eof() {
    let target = MockTarget::spawn().await.unwrap();
    let handle = connect(target.addr, target.host_key()).await;
    let mut channel = handle.channel_open_session().await.unwrap();
    channel.request_shell(true).await.unwrap();
    channel.data_bytes(&b"ls\n"[..]).await.unwrap();
    channel.eof().await.unwrap();
    let out = collect(&mut channel).await;
    assert_eq!(out.status, Some(0));
    assert!(
        out.stdout_text().contains("ls:ok\r\n"),
        "{:?}",
        out.stdout_text()
    );
    assert_eq!(target.events.executed_lines(), ["ls"]);
    assert!(target.events.snapshot().contains(&TargetEvent::Eof));
    target.shutdown().await;
}

#[tokio::test]
async fn env_window_change_and_signal_are_recorded() {
    let target = MockTarget::spawn().await.unwrap();
    let (_handle, channel) = open_shell(&target).await;
    channel.set_env(true, "LANG", "C.UTF-8").await.unwrap();
    channel.window_change(100, 40, 0, 0).await.unwrap();
    channel.signal(Sig::INT).await.unwrap();
    channel.signal(Sig::Custom("WINCH".into())).await.unwrap();
    target
        .events
        .wait_for(
            |e| matches!(e, TargetEvent::Signal { name } if name == "WINCH"),
            WAIT,
        )
        .await
        .expect("signals recorded");
    let events = target.events.snapshot();
    for expected in [
        TargetEvent::Env {
            name: "LANG".into(),
            value: "C.UTF-8".into(),
        },
        TargetEvent::WindowChange {
            cols: 100,
            rows: 40,
        },
        TargetEvent::Signal { name: "INT".into() },
        TargetEvent::Shell,
    ] {
        assert!(
            events.contains(&expected),
            "{expected:?} missing from {events:?}"
        );
    }
    target.shutdown().await;
}

#[tokio::test]
async fn subsystem_echoes_until_eof() {
    let target = MockTarget::spawn().await.unwrap();
    let handle = connect(target.addr, target.host_key()).await;
    let mut channel = handle.channel_open_session().await.unwrap();
    channel.request_subsystem(true, "sftp").await.unwrap();
    channel
        .data_bytes(&b"\x00\x00\x00\x05\x01ping"[..])
        .await
        .unwrap();
    channel.eof().await.unwrap();
    let out = collect(&mut channel).await;
    assert_eq!(out.stdout, b"\x00\x00\x00\x05\x01ping");
    assert_eq!(out.status, Some(0));
    let events = target.events.snapshot();
    assert!(events.contains(&TargetEvent::Subsystem {
        name: "sftp".into()
    }));
    // Subsystem bytes are not shell input.
    assert!(target.events.input_bytes().is_empty());
    target.shutdown().await;
}

#[tokio::test]
async fn channel_close_is_recorded() {
    let target = MockTarget::spawn().await.unwrap();
    let handle = connect(target.addr, target.host_key()).await;
    let channel = handle.channel_open_session().await.unwrap();
    channel.close().await.unwrap();
    let close = target
        .events
        .wait_for(|e| *e == TargetEvent::Close, WAIT)
        .await;
    assert_eq!(close, Some(TargetEvent::Close));
    target.shutdown().await;
}

#[tokio::test]
async fn events_file_and_given_host_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    let key = mock_target::random_host_key();
    let public = key.public_key().clone();
    let target = MockTarget::spawn_with(Config {
        host_key: Some(key),
        events_file: Some(path.clone()),
    })
    .await
    .unwrap();
    assert_eq!(target.host_key(), &public);
    let (_handle, channel) = open_shell(&target).await;
    channel.data_bytes(&b"echo hi\r"[..]).await.unwrap();
    wait_executed(&target, "echo hi").await;
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.iter().all(|v| v["event"].is_string()), "{text}");
    assert!(
        lines.contains(&serde_json::json!({"event": "executed", "line": "echo hi"})),
        "{text}"
    );
    assert!(
        lines.contains(&serde_json::json!({"event": "input", "data_b64": "ZWNobyBoaQ0="})),
        "{text}"
    );
    target.shutdown().await;
}

#[tokio::test]
async fn shutdown_disconnects_sessions_and_stops_listening() {
    let target = MockTarget::spawn().await.unwrap();
    let addr = target.addr;
    let (_handle, mut channel) = open_shell(&target).await;
    tokio::time::timeout(WAIT, target.shutdown())
        .await
        .expect("shutdown finished");
    // The open session was ended by the server...
    let ended = tokio::time::timeout(WAIT, async { while channel.wait().await.is_some() {} }).await;
    assert!(ended.is_ok(), "session still open after shutdown");
    // ...and nobody listens any more.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

/// Log in as `user` with the `none` method and run `command` as an exec request.
async fn exec_as(target: &MockTarget, user: &str, command: &str) {
    let config = std::sync::Arc::new(russh::client::Config::default());
    let pinned = common::Pinned(target.host_key().clone());
    let mut handle = russh::client::connect(config, target.addr, pinned)
        .await
        .unwrap();
    assert!(handle.authenticate_none(user).await.unwrap().success());
    let mut channel = handle.channel_open_session().await.unwrap();
    channel.exec(true, command).await.unwrap();
    collect(&mut channel).await;
}

#[tokio::test]
async fn a_user_with_a_log_of_their_own_is_recorded_there_only() {
    let target = MockTarget::spawn().await.unwrap();
    let bob_log = target.user_logs.register("bob");
    exec_as(&target, "bob", "echo bob").await;
    exec_as(&target, "alice", "echo alice").await;
    assert_eq!(bob_log.exec_commands(), ["echo bob"]);
    assert_eq!(target.events.exec_commands(), ["echo alice"]);

    // Once forgotten, the user's new connections go to the main log again.
    target.user_logs.forget("bob");
    exec_as(&target, "bob", "echo again").await;
    assert_eq!(target.events.exec_commands(), ["echo alice", "echo again"]);
    assert_eq!(bob_log.exec_commands(), ["echo bob"]);
    target.shutdown().await;
}

#[tokio::test]
async fn slow_echo_writes_later_output_late_and_in_order() {
    let target = MockTarget::spawn().await.unwrap();
    let (_handle, mut channel) = open_shell(&target).await;
    channel.data_bytes(&b"slow-echo 300\r"[..]).await.unwrap();
    let mut seen = Vec::new();
    read_until(&mut channel, &mut seen, "slow-echo 300:ok\r\n\x1b[?2004h$ ").await;
    let sent = std::time::Instant::now();
    // The echo of `ab` and everything after it is late; `slow-echo 0` does not let later
    // output overtake it; the line runs at once all the same.
    channel.data_bytes(&b"ab"[..]).await.unwrap();
    channel.data_bytes(&b"\x7fc\r"[..]).await.unwrap();
    wait_executed(&target, "ac").await;
    channel.data_bytes(&b"slow-echo 0\r"[..]).await.unwrap();
    channel.data_bytes(&b"x\x7f\x04"[..]).await.unwrap();
    let mut seen = Vec::new();
    read_until(&mut channel, &mut seen, "ab").await;
    assert!(sent.elapsed() >= std::time::Duration::from_millis(300));
    let out = collect(&mut channel).await;
    let all = [seen, out.stdout].concat();
    let text = String::from_utf8_lossy(&all);
    let order = ["ab", "ac:ok", "slow-echo 0:ok", "x"];
    let at: Vec<usize> = order.iter().map(|s| text.find(s).unwrap()).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{text:?}");
    assert_eq!(out.status, Some(0));
    target.shutdown().await;
}

#[tokio::test]
async fn the_pty_requests_echo_intr_and_noflsh_modes_set_the_shells_tty() {
    let target = MockTarget::spawn().await.unwrap();
    let handle = connect(target.addr, target.host_key()).await;
    let mut channel = handle.channel_open_session().await.unwrap();
    channel
        .request_pty(
            true,
            "xterm",
            80,
            24,
            0,
            0,
            &[(Pty::ECHO, 0), (Pty::VINTR, 255), (Pty::NOFLSH, 1)],
        )
        .await
        .unwrap();
    channel.request_shell(true).await.unwrap();
    // Echo off; C-c is no interrupt (a key readline rings the bell for).
    channel.data_bytes(&b"echo DENY"[..]).await.unwrap();
    channel.data_bytes(&b"\x03\r"[..]).await.unwrap();
    wait_executed(&target, "echo DENY").await;
    let mut seen = Vec::new();
    let out = read_until(&mut channel, &mut seen, ":ok\r\n\x1b[?2004h$ ").await;
    assert_eq!(
        out,
        "\x1b[?2004h$ \x07\x1b[?2004l\r\r\necho DENY:ok\r\n\x1b[?2004h$ "
    );
    target.shutdown().await;
}
