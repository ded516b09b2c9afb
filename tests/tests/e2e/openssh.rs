//! Black box: the three built binaries on `:0`, ports read from their readiness lines, and
//! OpenSSH's own `ssh` as the operator, with a generated key listed in `--authorized-keys`
//! and the proxy's host key checked against a known_hosts file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use expectrl::{Eof, Expect, Session};
use russh::keys::ssh_key::LineEnding;
use sshgate::credentials::{fingerprint, generate_host_key};
use sshgate_tests::process::Server;

/// Files and processes of one black-box run.
struct BlackBox {
    dir: tempfile::TempDir,
    target: Server,
    _approver: Server,
    proxy: Server,
}

fn write_key(dir: &Path, name: &str) -> (PathBuf, russh::keys::PrivateKey) {
    let key = generate_host_key();
    let path = dir.join(name);
    key.write_openssh_file(&path, LineEnding::LF).unwrap();
    (path, key)
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

impl BlackBox {
    fn start() -> BlackBox {
        let dir = tempfile::tempdir().unwrap();
        let (target_key_path, target_key) = write_key(dir.path(), "target_host_key");
        let (proxy_key_path, proxy_key) = write_key(dir.path(), "proxy_host_key");
        let (_, operator_key) = write_key(dir.path(), "operator_key");
        std::fs::write(
            dir.path().join("authorized_keys"),
            operator_key.public_key().to_openssh().unwrap() + "\n",
        )
        .unwrap();
        let target_events = dir.path().join("target.jsonl");
        let approver_events = dir.path().join("approver.jsonl");

        let target = Server::start(
            "mock-target",
            &[
                "--listen",
                "127.0.0.1:0",
                "--host-key",
                path_str(&target_key_path),
                "--events",
                path_str(&target_events),
            ],
        );
        let approver = Server::start(
            "mock-approver",
            &[
                "--listen",
                "127.0.0.1:0",
                "--events",
                path_str(&approver_events),
            ],
        );
        let approver_url = format!("ws://127.0.0.1:{}", approver.port());
        let target_fingerprint = fingerprint(target_key.public_key());
        let proxy = Server::start(
            "sshgate",
            &[
                "--listen",
                "127.0.0.1:0",
                "--target",
                &target.address,
                "--approver",
                &approver_url,
                "--host-key",
                path_str(&proxy_key_path),
                "--authorized-keys",
                path_str(&dir.path().join("authorized_keys")),
                "--target-fingerprint",
                &target_fingerprint,
            ],
        );
        std::fs::write(
            dir.path().join("known_hosts"),
            format!(
                "[127.0.0.1]:{} {}\n",
                proxy.port(),
                proxy_key.public_key().to_openssh().unwrap()
            ),
        )
        .unwrap();
        BlackBox {
            dir,
            target,
            _approver: approver,
            proxy,
        }
    }

    /// `ssh` with this run's key and known_hosts, strict host-key checking, no user config.
    fn ssh(&self, extra: &[&str]) -> Command {
        let dir = self.dir.path();
        let mut command = Command::new("ssh");
        command.args(sshgate_tests::process::ssh_options(dir, self.proxy.port()));
        command.args(extra);
        command.arg("operator@127.0.0.1");
        command
    }

    fn exec(&self, remote: &str) -> Output {
        self.ssh(&[]).arg(remote).output().expect("ssh runs")
    }

    fn target_events(&self) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(self.dir.path().join("target.jsonl")).unwrap();
        text.lines()
            .map(|line| serde_json::from_str(line).expect("each event line is JSON"))
            .collect()
    }

    fn target_ran(&self, event: &str, field: &str, needle: &str) -> bool {
        self.target_events().iter().any(|value| {
            value["event"] == event
                && value[field]
                    .as_str()
                    .is_some_and(|text| text.contains(needle))
        })
    }
}

#[test]
fn openssh_exec_through_the_binaries() {
    let run = BlackBox::start();
    let approved = run.exec("echo hi");
    assert_eq!(
        String::from_utf8_lossy(&approved.stdout),
        "echo hi:ok\r\n",
        "stderr: {}",
        String::from_utf8_lossy(&approved.stderr)
    );
    assert_eq!(approved.status.code(), Some(0));

    let denied = run.exec("echo DENY");
    let stderr = String::from_utf8_lossy(&denied.stderr);
    assert_ne!(denied.status.code(), Some(0));
    assert!(stderr.contains("denied: blocked"), "stderr: {stderr}");
    assert!(!run.target_ran("exec", "command", "DENY"));
    assert!(run.target_ran("exec", "command", "echo hi"));
    drop(run.target);
}

#[test]
fn openssh_interactive_session_through_the_binaries() {
    let run = BlackBox::start();
    let mut ssh = Session::spawn(run.ssh(&["-tt"])).expect("ssh starts in a pty");
    ssh.set_expect_timeout(Some(Duration::from_secs(10)));
    ssh.expect("$ ").unwrap();
    ssh.send("echo hi\r").unwrap();
    ssh.expect("echo hi:ok").unwrap();
    for submit in ["\r", "\n", "\x0f"] {
        ssh.send(format!("echo DENY{submit}")).unwrap();
        ssh.expect("denied: blocked").unwrap();
    }
    ssh.send("echo after\r").unwrap();
    ssh.expect("echo after:ok").unwrap();
    ssh.send("\x04").unwrap();
    ssh.expect(Eof).unwrap();
    assert!(run.target_ran("executed", "line", "echo after"));
    assert!(!run.target_ran("executed", "line", "DENY"));
}

#[test]
fn openssh_refuses_a_proxy_whose_host_key_is_not_known() {
    let run = BlackBox::start();
    std::fs::write(run.dir.path().join("known_hosts"), "").unwrap();
    let output = run.exec("echo hi");
    assert_eq!(output.status.code(), Some(255));
    assert!(!run.target_ran("exec", "command", "echo hi"));
}
