//! Operator keys the OpenSSH way, shown by real logins: authorized_keys options (`from=`,
//! `expiry-time=`, `no-pty`, `command=`), the file read again while sshgate runs, and
//! `--authorized-keys-command` through the built binary.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mock_approver::{ApproverLog, Behaviour, InProcessApprover, WsApprover};
use mock_target::events::TargetEvent;
use mock_target::MockTarget;
use russh::keys::PrivateKey;
use russh::ChannelMsg;
use sshgate::approval::{ApprovalPath, InProcessApprover as ChannelApprover};
use sshgate::client_keys::ClientKeys;
use sshgate::credentials::{fingerprint, generate_host_key};
use sshgate::{ClientAuth, Settings};
use sshgate_tests::operator::{Operator, Shell, WAIT};
use sshgate_tests::process::Server;

/// sshgate in-process with an authorized_keys file, the mock approver's rule deciding.
struct Keyed {
    target: MockTarget,
    approvals: ApproverLog,
    proxy: SocketAddr,
    file: PathBuf,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Keyed {
    async fn start(authorized_keys: &str) -> Keyed {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("authorized_keys");
        std::fs::write(&file, authorized_keys).unwrap();
        let keys = ClientKeys::default().with_file(&file).unwrap();
        let target = MockTarget::spawn().await.expect("mock target starts");
        let approver =
            InProcessApprover::spawn(mock_approver::Config::with_behaviour(Behaviour::Rule));
        let approval = ApprovalPath::new(
            Arc::new(ChannelApprover::new(approver.sender)),
            Duration::from_secs(60),
        );
        let settings = Settings {
            client_auth: ClientAuth::AuthorizedKeys(Arc::new(keys)),
            ..Settings::for_local_target(generate_host_key(), target.addr, target.host_key())
        };
        let (proxy, stop) = sshgate_tests::stack::serve_sshgate(settings, approval).await;
        Keyed {
            target,
            approvals: approver.log,
            proxy,
            file,
            _dir: dir,
            _stop: stop,
        }
    }

    async fn login(&self, key: &PrivateKey) -> Result<Operator, String> {
        Operator::connect(self.proxy, "alice", Some(key)).await
    }
}

fn line(options: &str, key: &PrivateKey) -> String {
    let public = key.public_key().to_openssh().unwrap();
    if options.is_empty() {
        format!("{public} operator\n")
    } else {
        format!("{options} {public} operator\n")
    }
}

#[tokio::test]
async fn from_lets_in_only_the_addresses_it_lists() {
    let (outside, inside, negated, plain) = (
        generate_host_key(),
        generate_host_key(),
        generate_host_key(),
        generate_host_key(),
    );
    let proxy = Keyed::start(
        &(line(r#"from="10.0.0.0/8,192.168.*""#, &outside)
            + &line(r#"  from="10.1.2.3,127.0.0.0/8""#, &inside)
            + &line(r#"from="127.0.0.*,!127.0.0.1""#, &negated)
            + &line("", &plain)),
    )
    .await;
    let error = proxy.login(&outside).await.err().expect("refused");
    assert!(error.contains("refused"), "{error}");
    assert!(proxy.login(&negated).await.is_err());
    let operator = proxy
        .login(&inside)
        .await
        .expect("127.0.0.1 is in 127.0.0.0/8");
    assert_eq!(
        operator.exec("echo hi").await.unwrap().stdout,
        "echo hi:ok\r\n"
    );
    // The control: a key without from= logs in from the same address.
    assert!(proxy.login(&plain).await.is_ok());
}

#[tokio::test]
async fn a_key_past_its_expiry_time_is_refused() {
    let (expired, valid) = (generate_host_key(), generate_host_key());
    let proxy = Keyed::start(
        &(line(r#"expiry-time="20000101""#, &expired)
            + &line(r#"expiry-time="29991231235959""#, &valid)),
    )
    .await;
    assert!(proxy.login(&expired).await.is_err());
    assert!(proxy.login(&valid).await.is_ok());
}

/// Asks for a PTY and a shell on a new channel; what came back until the channel closed or
/// `until` showed in the output.
async fn pty_then_shell(operator: &Operator) -> (Vec<ChannelMsg>, String) {
    let mut channel = operator.channel().await.unwrap();
    channel
        .request_pty(true, "xterm", 80, 24, 0, 0, &[])
        .await
        .unwrap();
    channel.request_shell(true).await.unwrap();
    let (mut messages, mut output) = (Vec::new(), String::new());
    let deadline = tokio::time::Instant::now() + WAIT;
    while let Ok(Some(message)) = tokio::time::timeout_at(deadline, channel.wait()).await {
        if let ChannelMsg::Data { data } | ChannelMsg::ExtendedData { data, .. } = &message {
            output += &String::from_utf8_lossy(data);
        }
        let prompt = output.contains('$');
        messages.push(message);
        if prompt {
            break;
        }
    }
    (messages, output)
}

#[tokio::test]
async fn no_pty_refuses_a_terminal_and_restrict_pty_gives_it_back() {
    let (no_pty, restrict_pty) = (generate_host_key(), generate_host_key());
    let proxy =
        Keyed::start(&(line("no-pty", &no_pty) + &line("restrict,pty", &restrict_pty))).await;

    let operator = proxy.login(&no_pty).await.unwrap();
    let (messages, output) = pty_then_shell(&operator).await;
    assert!(
        matches!(messages.first(), Some(ChannelMsg::Failure)),
        "the PTY request is refused: {messages:?}"
    );
    assert!(output.contains("needs a terminal"), "{output:?}");
    let pty_seen = |events: Vec<TargetEvent>| {
        events
            .iter()
            .any(|event| matches!(event, TargetEvent::Pty { .. }))
    };
    assert!(!pty_seen(proxy.target.events.snapshot()));

    let operator = proxy.login(&restrict_pty).await.unwrap();
    let (_, output) = pty_then_shell(&operator).await;
    assert!(output.contains('$'), "a shell prompt: {output:?}");
    assert!(pty_seen(proxy.target.events.snapshot()));
}

#[tokio::test]
async fn command_runs_the_forced_command_which_the_approver_is_asked_about() {
    let (forced, denied) = (generate_host_key(), generate_host_key());
    let proxy = Keyed::start(
        &(line(r#"command="uptime --pretty",no-pty"#, &forced)
            + &line(r#"command="echo DENY""#, &denied)),
    )
    .await;
    let operator = proxy.login(&forced).await.unwrap();
    let outcome = operator.exec("ls -l /etc").await.unwrap();
    let sent = "export SSH_ORIGINAL_COMMAND='ls -l /etc'; uptime --pretty";
    assert_eq!(outcome.stdout, format!("{sent}:ok\r\n"));
    assert_eq!(proxy.target.events.exec_commands(), vec![sent.to_string()]);
    let requests = proxy.approvals.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].command, "uptime --pretty");
    assert!(
        requests[0]
            .warnings
            .iter()
            .any(|warning| warning.contains("\"ls -l /etc\"") && warning.contains("line 1")),
        "{:?}",
        requests[0].warnings
    );

    // A shell request runs the forced command too, with no SSH_ORIGINAL_COMMAND.
    let mut shell = Shell::start(operator.channel().await.unwrap(), "xterm", 80, 24)
        .await
        .unwrap();
    shell.expect("uptime --pretty:ok").await.unwrap();
    assert_eq!(
        proxy
            .target
            .events
            .exec_commands()
            .last()
            .map(String::as_str),
        Some("uptime --pretty")
    );

    // A command holding a line break is denied unasked: under a csh login shell on the
    // target, the lines after it would run as code.
    let asked = proxy.approvals.requests().len();
    let outcome = operator.exec("x\necho INJECTED #").await.unwrap();
    assert!(outcome.stderr.contains("line break"), "{outcome:?}");
    assert_eq!(proxy.approvals.requests().len(), asked, "not asked");
    assert_eq!(proxy.target.events.exec_commands().len(), 2);

    // A denied forced command never reaches the target, whatever the operator asked for.
    let operator = proxy.login(&denied).await.unwrap();
    let outcome = operator.exec("harmless").await.unwrap();
    assert!(outcome.stderr.contains("denied"), "{outcome:?}");
    assert_eq!(proxy.target.events.exec_commands().len(), 2);
}

#[tokio::test]
async fn keys_added_while_running_log_in_and_removed_ones_no_longer_do() {
    let (first, second) = (generate_host_key(), generate_host_key());
    let proxy = Keyed::start(&line("", &first)).await;
    assert!(proxy.login(&second).await.is_err());
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&proxy.file)
        .unwrap();
    std::io::Write::write_all(&mut file, line("", &second).as_bytes()).unwrap();
    drop(file);
    assert!(proxy.login(&second).await.is_ok());
    std::fs::write(&proxy.file, line("", &second)).unwrap();
    assert!(proxy.login(&first).await.is_err());
    assert!(proxy.login(&second).await.is_ok());
}

/// The sshgate binary in front of a mock target, the mock approver's rule deciding, with
/// `client_auth` flags.
struct Binary {
    proxy: Server,
    address: SocketAddr,
    _target: MockTarget,
    _approver: WsApprover,
}

impl Binary {
    async fn start(client_auth: &[&str]) -> Binary {
        let target = MockTarget::spawn().await.expect("mock target starts");
        let approver = WsApprover::spawn(mock_approver::Config::with_behaviour(Behaviour::Rule))
            .await
            .unwrap();
        let (target_address, approver_url) = (target.addr.to_string(), approver.url());
        let target_key = fingerprint(target.host_key());
        let mut args = vec![
            "--listen",
            "127.0.0.1:0",
            "--target",
            &target_address,
            "--approver",
            &approver_url,
            "--target-fingerprint",
            &target_key,
        ];
        args.extend(client_auth);
        let proxy = Server::start("sshgate", &args);
        let address = proxy.address.parse().unwrap();
        Binary {
            proxy,
            address,
            _target: target,
            _approver: approver,
        }
    }
}

#[tokio::test]
async fn environment_and_unknown_options_refuse_their_line_loudly_and_only_it() {
    let dir = tempfile::tempdir().unwrap();
    let (environment, unknown, plain, expired) = (
        generate_host_key(),
        generate_host_key(),
        generate_host_key(),
        generate_host_key(),
    );
    let file = dir.path().join("authorized_keys");
    std::fs::write(
        &file,
        line(r#"environment="LD_PRELOAD=/tmp/x.so""#, &environment)
            + &line("frobnicate", &unknown)
            + &line("", &plain)
            + &line(r#"expiry-time="20000101""#, &expired),
    )
    .unwrap();
    let binary = Binary::start(&["--authorized-keys", file.to_str().unwrap()]).await;
    assert!(
        Operator::connect(binary.address, "alice", Some(&environment))
            .await
            .is_err()
    );
    assert!(Operator::connect(binary.address, "alice", Some(&unknown))
        .await
        .is_err());
    assert!(Operator::connect(binary.address, "alice", Some(&plain))
        .await
        .is_ok());
    let output = binary.proxy.output();
    let refusal = |number: usize, reason: &str| {
        output.lines().any(|record| {
            record.contains("authorized_keys line refused")
                && record.contains(&format!("line={number}"))
                && record.contains(file.to_str().unwrap())
                && record.contains(reason)
        })
    };
    assert!(refusal(1, "environment= is refused"), "{output}");
    assert!(refusal(2, "frobnicate"), "{output}");
    // A key whose line is good but whose expiry-time has passed: refused, and the log says
    // which line refused it.
    assert!(Operator::connect(binary.address, "alice", Some(&expired))
        .await
        .is_err());
    let output = binary
        .proxy
        .wait_for_output(|output| output.contains("key refused by the options"), WAIT)
        .unwrap();
    assert!(
        output.contains("line 4: the key's expiry-time has passed"),
        "{output}"
    );
}

fn write_script(dir: &Path, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("keys-for");
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[tokio::test]
async fn authorized_keys_command_gives_keys_for_the_user_and_fingerprint_it_is_asked_about() {
    let dir = tempfile::tempdir().unwrap();
    let (listed, other) = (generate_host_key(), generate_host_key());
    // Prints the key only for alice offering it, and says what it was asked.
    let script = write_script(
        dir.path(),
        &format!(
            "echo \"$@\" >> {log}\n[ \"$1\" = alice ] && [ \"$2\" = '{fingerprint}' ] && \
             echo 'no-pty {key}'",
            log = dir.path().join("asked").display(),
            fingerprint = fingerprint(listed.public_key()),
            key = listed.public_key().to_openssh().unwrap(),
        ),
    );
    let command = format!("'{}' %u %f %t", script.display());
    let binary = Binary::start(&["--authorized-keys-command", &command]).await;
    let address = binary.address;
    let operator = Operator::connect(address, "alice", Some(&listed))
        .await
        .expect("the command lists alice's key");
    assert_eq!(
        operator.exec("echo hi").await.unwrap().stdout,
        "echo hi:ok\r\n"
    );
    assert!(Operator::connect(address, "bob", Some(&listed))
        .await
        .is_err());
    assert!(Operator::connect(address, "alice", Some(&other))
        .await
        .is_err());
    let asked = std::fs::read_to_string(dir.path().join("asked")).unwrap();
    assert!(
        asked.contains(&format!(
            "alice {} ssh-ed25519",
            fingerprint(listed.public_key())
        )),
        "{asked}"
    );
}

/// The target's key against known_hosts lines: patterns, negation and revocation decide.
#[rstest::rstest]
#[case::wildcard_and_port("[127.0.0.*]:{port},!other {key}", None)]
#[case::negated("*,![127.0.0.1]:{port} {key}", Some("is not in"))]
#[case::other_port("[127.0.0.1]:1 {key}", Some("is not in"))]
#[case::revoked_elsewhere(
    "[127.0.0.1]:{port} {key}\n@revoked nowhere.example {key}",
    Some("revoked")
)]
#[tokio::test]
async fn the_targets_key_is_checked_as_openssh_reads_known_hosts(
    #[case] known_hosts: &str,
    #[case] refusal: Option<&str>,
) {
    let target = MockTarget::spawn().await.expect("mock target starts");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("known_hosts");
    let text = known_hosts
        .replace("{port}", &target.addr.port().to_string())
        .replace("{key}", &target.host_key().to_openssh().unwrap());
    std::fs::write(&file, text + "\n").unwrap();
    let approver = InProcessApprover::spawn(mock_approver::Config::with_behaviour(Behaviour::Rule));
    let approval = ApprovalPath::new(
        Arc::new(ChannelApprover::new(approver.sender)),
        Duration::from_secs(60),
    );
    let mut settings =
        Settings::for_local_target(generate_host_key(), target.addr, target.host_key());
    settings.target.key_policy = sshgate::credentials::TargetKeyPolicy::KnownHosts(file);
    let (proxy, _stop) = sshgate_tests::stack::serve_sshgate(settings, approval).await;
    let operator = Operator::connect(proxy, "alice", None).await.unwrap();
    let outcome = operator.exec("echo hi").await.unwrap();
    match refusal {
        None => assert_eq!(outcome.stdout, "echo hi:ok\r\n", "{outcome:?}"),
        Some(reason) => {
            assert!(outcome.stderr.contains(reason), "{outcome:?}");
            assert!(target.events.exec_commands().is_empty());
        }
    }
}
