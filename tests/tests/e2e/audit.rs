//! The audit log (`--audit`): the sshgate binary in front of the mock target and the mock
//! approver records logins, sessions, requests, decisions and exit statuses; `sshgate audit
//! verify` accepts the file it wrote and names the first line of an edited, shortened or
//! reordered copy; text an operator chose cannot forge a line or reach a terminal raw.

use std::path::Path;
use std::process::Command;

use mock_approver::{ApproverEvent, Behaviour, WsApprover};
use mock_target::MockTarget;
use serde_json::Value;
use sshgate::credentials::{fingerprint, generate_host_key};
use sshgate_tests::operator::{AnyHostKey, Operator, Shell, WAIT};
use sshgate_tests::process::{binary, Server};
use sshgate_tests::stack::sshgate_binary;

/// A user name and a command that try to end the line, clear the screen, start a CSI with the
/// one-byte U+009B and turn the rest of the line around with U+202E.
const HOSTILE_USER: &str = "eve\n{\"seq\":0}\x1b[2J\u{9b}2J\u{202e}";
const HOSTILE_COMMAND: &str = "echo x\n\x1b]0;owned\x07\u{9b}31m\u{202e}cba";

/// sshgate with `--audit audit`, letting in the key whose public half is in `authorized_keys`.
fn sshgate(dir: &Path, target: &MockTarget, approver: &WsApprover) -> Server {
    let path = |name: &str| dir.join(name).display().to_string();
    let flags = [
        "--authorized-keys",
        &path("authorized_keys"),
        "--audit",
        &path("audit"),
    ];
    sshgate_binary(target, &approver.url(), &flags)
}

/// SIGTERM, and the exit status it ends with.
async fn stop(proxy: Server) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &proxy.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    tokio::task::spawn_blocking(move || proxy.wait_for_exit(WAIT))
        .await
        .unwrap()
        .unwrap()
}

fn records(file: &Path) -> Vec<Value> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}")))
        .collect()
}

/// The records of `kind` whose fields include every one of `fields`.
fn find<'a>(records: &'a [Value], kind: &str, fields: &[(&str, Value)]) -> Vec<&'a Value> {
    records
        .iter()
        .filter(|record| record["type"] == kind)
        .filter(|record| fields.iter().all(|(name, value)| record[*name] == *value))
        .collect()
}

/// `sshgate audit verify file`: its exit code and what it printed.
fn verify(file: &Path) -> (i32, String) {
    let output = Command::new(binary("sshgate"))
        .args(["audit", "verify"])
        .arg(file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.code().unwrap_or(-1), text)
}

/// A copy of `file` with its lines changed by `change`.
fn tampered(file: &Path, name: &str, change: impl FnOnce(&mut Vec<String>)) -> std::path::PathBuf {
    let mut lines: Vec<String> = std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    change(&mut lines);
    let copy = file.with_file_name(name);
    let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
    std::fs::write(&copy, text).unwrap();
    copy
}

struct Session {
    dir: tempfile::TempDir,
    target: MockTarget,
    approver: WsApprover,
}

impl Session {
    /// A scratch folder with an operator key in `authorized_keys`, the mock target, and the
    /// mock approver answering as `behaviour` says.
    async fn new(behaviour: Behaviour) -> (Session, russh::keys::PrivateKey) {
        let dir = tempfile::tempdir().unwrap();
        let key = generate_host_key();
        let authorized = key.public_key().to_openssh().unwrap() + "\n";
        std::fs::write(dir.path().join("authorized_keys"), authorized).unwrap();
        let target = MockTarget::spawn().await.expect("mock target starts");
        let approver = WsApprover::spawn(mock_approver::Config::with_behaviour(behaviour))
            .await
            .unwrap();
        let session = Session {
            dir,
            target,
            approver,
        };
        (session, key)
    }

    fn start(&self) -> Server {
        sshgate(self.dir.path(), &self.target, &self.approver)
    }

    fn audit(&self) -> std::path::PathBuf {
        self.dir.path().join("audit")
    }
}

#[tokio::test]
async fn logins_sessions_requests_decisions_and_exits_are_recorded_and_verified() {
    let (session, key) = Session::new(Behaviour::Rule).await;
    let proxy = session.start();
    let address = proxy.address.parse().unwrap();
    let stranger = generate_host_key();
    assert!(Operator::connect(address, "mallory", Some(&stranger))
        .await
        .is_err());
    assert!(Operator::connect(address, HOSTILE_USER, Some(&stranger))
        .await
        .is_err());
    let operator = Operator::connect(address, "alice", Some(&key))
        .await
        .unwrap();
    let approved = operator.exec("echo hi").await.unwrap();
    assert_eq!(approved.stdout, "echo hi:ok\r\n");
    let denied = operator.exec("echo DENY").await.unwrap();
    assert!(denied.stderr.contains("denied: blocked"), "{denied:?}");
    operator.exec(HOSTILE_COMMAND).await.unwrap();
    let mut shell = operator.shell().await.unwrap();
    shell.expect("$").await.unwrap();
    shell.send(b"echo DENY\r").await.unwrap();
    shell.expect("denied: blocked").await.unwrap();
    drop(shell);
    drop(operator);
    let exit = stop(proxy).await;
    assert!(exit.success(), "{exit:?}");

    let file = session.audit();
    let all = records(&file);
    let kinds: Vec<&str> = all.iter().map(|r| r["type"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"audit-open"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"audit-close"), "{kinds:?}");
    for (seq, record) in all.iter().enumerate() {
        assert_eq!(record["seq"], seq, "{record}");
    }

    // Logins: both refusals with the key offered, then alice's success with hers.
    let stranger_key = Value::from(fingerprint(stranger.public_key()));
    let refused = find(&all, "login", &[("success", false.into())]);
    let users: Vec<&Value> = refused.iter().map(|r| &r["user"]).collect();
    assert!(users.contains(&&Value::from("mallory")), "{refused:?}");
    assert!(users.contains(&&Value::from(HOSTILE_USER)), "{refused:?}");
    assert!(refused
        .iter()
        .all(|r| r["key"] == stranger_key && r["method"] == "publickey"));
    let login = find(&all, "login", &[("success", true.into())]);
    assert_eq!(login.len(), 1, "{login:?}");
    assert_eq!(login[0]["user"], "alice");
    assert_eq!(login[0]["key"], fingerprint(key.public_key()).as_str());
    assert!(login[0]["client"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
    let id = login[0]["session"].clone();

    // Each request with its decision; each channel with its start and end.
    let decision = |kind: &str, command: &str| {
        let request = find(
            &all,
            "request",
            &[("kind", kind.into()), ("command", command.into())],
        );
        assert_eq!(request.len(), 1, "{command:?}: {request:?}");
        assert_eq!(request[0]["session"], id);
        let decided = find(&all, "decision", &[("id", request[0]["id"].clone())]);
        assert_eq!(decided.len(), 1, "{command:?}: {decided:?}");
        (request[0].clone(), decided[0].clone())
    };
    let (asked, approved) = decision("exec", "echo hi");
    assert_eq!(approved["approve"], true);
    assert_eq!(approved["by"], "approver");
    let (_, denied) = decision("exec", "echo DENY");
    assert_eq!(denied["approve"], false);
    assert_eq!(denied["reason"], "blocked");
    let (_, shell_denied) = decision("shell", "echo DENY");
    assert_eq!(shell_denied["approve"], false);
    decision("exec", HOSTILE_COMMAND);
    let starts = find(&all, "session-start", &[("session", id.clone())]);
    let ends = find(&all, "session-end", &[("session", id.clone())]);
    assert_eq!((starts.len(), ends.len()), (4, 4), "{starts:?} {ends:?}");
    assert!(starts
        .iter()
        .all(|r| r["user"] == "alice" && r.get("recording").is_none()));
    let exits = find(&all, "exit", &[("session", id.clone())]);
    assert!(exits.iter().any(|r| r["status"] == 0), "{exits:?}");
    let position = |record: &Value| all.iter().position(|r| r == record).unwrap();
    assert!(position(&approved) > position(&asked));

    // The user name and the command are there, escaped: nothing raw that moves a cursor.
    let text = std::fs::read_to_string(&file).unwrap();
    for raw in ['\x1b', '\u{9b}', '\u{202e}', '\x07'] {
        assert!(!text.contains(raw), "{raw:?} written raw");
    }
    assert!(
        text.contains(r#""user":"eve\n{\"seq\":0}\u001b[2J\u009b2J\u202e""#),
        "{text}"
    );
    assert!(
        text.contains(r#""command":"echo x\n\u001b]0;owned\u0007\u009b31m\u202ecba""#),
        "{text}"
    );

    // Intact as written; each kind of tampering is found at its first line.
    let (code, said) = verify(&file);
    assert_eq!(code, 0, "{said}");
    assert!(
        said.contains(&format!("intact: {} records", all.len())),
        "{said}"
    );
    let line_of = |record: &Value| position(record) + 1;
    let edited_line = line_of(&approved);
    let edited = tampered(&file, "edited", |lines| {
        lines[edited_line - 1] =
            lines[edited_line - 1].replace("\"approve\":true", "\"approve\":false");
    });
    let (code, said) = verify(&edited);
    assert_eq!(code, 1, "{said}");
    assert!(
        said.contains(&format!("line {edited_line}: edited")),
        "{said}"
    );
    let removed_line = line_of(&denied);
    let removed = tampered(&file, "removed", |lines| {
        lines.remove(removed_line - 1);
    });
    let (code, said) = verify(&removed);
    assert_eq!(code, 1, "{said}");
    assert!(
        said.contains(&format!("line {removed_line}: 1 record removed")),
        "{said}"
    );
    let swapped = tampered(&file, "swapped", |lines| lines.swap(3, 4));
    let (code, said) = verify(&swapped);
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("line 4: reordered"), "{said}");
    let not_json = tampered(&file, "not-json", |lines| lines[2].push('}'));
    let (code, said) = verify(&not_json);
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("line 3: not a JSON audit record"), "{said}");
}

#[tokio::test]
async fn a_restart_continues_the_chain_and_a_damaged_end_stops_the_start() {
    let (session, _key) = Session::new(Behaviour::Rule).await;
    assert!(stop(session.start()).await.success());
    assert!(stop(session.start()).await.success());
    let file = session.audit();
    let all = records(&file);
    let kinds: Vec<&str> = all.iter().map(|r| r["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["audit-open", "audit-close", "audit-open", "audit-close"]
    );
    assert_eq!(all[0]["continued"], false);
    assert_eq!(all[2]["continued"], true);
    let (code, said) = verify(&file);
    assert_eq!(code, 0, "{said}");

    // A record cut short at the end: sshgate refuses to start rather than begin a new chain.
    let mut text = std::fs::read(&file).unwrap();
    text.truncate(text.len() - 5);
    std::fs::write(&file, &text).unwrap();
    let path = |name: &str| session.dir.path().join(name).display().to_string();
    let refused = tokio::process::Command::new(binary("sshgate"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--target",
            &session.target.addr.to_string(),
            "--approver",
            &session.approver.url(),
            "--authorized-keys",
            &path("authorized_keys"),
            "--target-fingerprint",
            &fingerprint(session.target.host_key()),
            "--audit",
            &path("audit"),
        ])
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(WAIT, refused)
        .await
        .expect("sshgate exits at start instead of serving")
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("sshgate: --audit"), "{stderr}");
    assert!(stderr.contains("no newline"), "{stderr}");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        text,
        "the file was written to"
    );
    let (code, said) = verify(&file);
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("line 4: cut short"), "{said}");
}

#[tokio::test]
async fn passwords_and_input_read_with_echo_off_are_never_written() {
    const PASSWORD: &str = "login-pw-7f3a";
    const SECRET: &str = "typed-secret-91c2";
    let (session, _key) = Session::new(Behaviour::Rule).await;
    let audit = session.audit().display().to_string();
    let flags = ["--insecure-accept-any-client", "--audit", &audit];
    let proxy = sshgate_binary(&session.target, &session.approver.url(), &flags);
    let address: std::net::SocketAddr = proxy.address.parse().unwrap();
    let config = std::sync::Arc::new(russh::client::Config::default());
    let mut client = russh::client::connect(config, address, AnyHostKey)
        .await
        .unwrap();
    let login = client.authenticate_password("bob", PASSWORD).await.unwrap();
    assert!(login.success());
    let channel = client.channel_open_session().await.unwrap();
    let mut shell = Shell::start(channel, "xterm", 80, 24).await.unwrap();
    shell.expect("$").await.unwrap();
    shell.send(b"read -s p\r").await.unwrap();
    shell.expect("Password: ").await.unwrap();
    shell.send(format!("{SECRET}\r").as_bytes()).await.unwrap();
    let hidden = session
        .approver
        .log
        .wait_for(
            |event| matches!(event, ApproverEvent::Request(r) if r.command.starts_with("(hidden")),
            WAIT,
        )
        .await;
    assert!(hidden.is_some(), "the secret line was never asked about");
    drop(shell);
    drop(client);
    assert!(stop(proxy).await.success());

    let text = std::fs::read_to_string(session.audit()).unwrap();
    assert!(!text.contains(PASSWORD), "{text}");
    assert!(!text.contains(SECRET), "{text}");
    let all = records(&session.audit());
    let login = find(&all, "login", &[("user", "bob".into())]);
    assert_eq!(login.len(), 1, "{login:?}");
    assert_eq!(login[0]["method"], "password");
    assert_eq!(login[0]["success"], true);
    let requests = find(&all, "request", &[("kind", "shell".into())]);
    let commands: Vec<&str> = requests
        .iter()
        .map(|r| r["command"].as_str().unwrap())
        .collect();
    assert_eq!(commands.len(), 2, "{commands:?}");
    assert_eq!(commands[0], "read -s p");
    assert!(commands[1].starts_with("(hidden:"), "{commands:?}");
}

#[tokio::test]
async fn a_cancel_and_an_alert_are_recorded() {
    // Slow enough that the Ctrl+C comes first; the binding is then approved after the delay.
    let delay = std::time::Duration::from_secs(5);
    let (session, key) = Session::new(Behaviour::Delay(delay)).await;
    let proxy = session.start();
    let address = proxy.address.parse().unwrap();
    let operator = Operator::connect(address, "alice", Some(&key))
        .await
        .unwrap();
    let mut shell = operator.shell().await.unwrap();
    shell.expect("$").await.unwrap();
    shell.send(b"echo pending\r").await.unwrap();
    let log = &session.approver.log;
    let asked = |event: &ApproverEvent| matches!(event, ApproverEvent::Request(_));
    log.wait_for(asked, WAIT)
        .await
        .expect("the request is sent");
    shell.send(b"\x03").await.unwrap();
    let cancelled = |event: &ApproverEvent| matches!(event, ApproverEvent::Cancel { .. });
    log.wait_for(cancelled, WAIT)
        .await
        .expect("the cancel is sent");
    shell.send(b"bind -x ^T 'echo bound'\r").await.unwrap();
    shell.expect("'echo bound':ok").await.unwrap();
    shell.send(b"ab\x14").await.unwrap();
    shell.expect("session ended").await.unwrap();
    drop(shell);
    drop(operator);
    assert!(stop(proxy).await.success());

    let all = records(&session.audit());
    let pending = find(&all, "request", &[("command", "echo pending".into())]);
    assert_eq!(pending.len(), 1, "{pending:?}");
    let cancel = find(&all, "cancel", &[("id", pending[0]["id"].clone())]);
    assert_eq!(cancel.len(), 1, "{all:?}");
    assert_eq!(cancel[0]["reason"], "cancelled by the operator (Ctrl+C)");
    assert_eq!(cancel[0]["session"], pending[0]["session"]);
    let alert = find(&all, "alert", &[("session", pending[0]["session"].clone())]);
    assert_eq!(alert.len(), 1, "{all:?}");
    assert!(alert[0]["reason"].as_str().unwrap().contains("key binding"));
    assert_eq!(alert[0]["user"], "alice");
}
