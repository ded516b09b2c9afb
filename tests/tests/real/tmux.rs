//! tmux as the operator's terminal: OpenSSH's `ssh` (key file, strict host-key checking
//! against a known_hosts file for sshgate's key) runs inside a tmux server on a private
//! socket; the test types with `send-keys`, pastes with `paste-buffer -p` and reads the pane
//! with `capture-pane`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use mock_approver::ApproverEvent;
use real_target::{Record, TargetOptions};
use russh::keys::ssh_key::LineEnding;
use sshgate::client_keys::ClientKeys;
use sshgate::credentials::generate_host_key;
use sshgate::ClientAuth;
use sshgate_tests::operator::WAIT;
use sshgate_tests::skip::skip;
use tokio::time::Instant;

use crate::Front;

/// A tmux server on its own socket, stopped on drop.
struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    /// A server whose one session (120x30) runs `command`; the pane stays after the command
    /// exits, so that a failing `ssh` leaves its message to read.
    fn start(dir: &Path, command: &str) -> Tmux {
        let tmux = Tmux {
            socket: dir.join("tmux.sock"),
        };
        tmux.run(&[
            "start-server",
            ";",
            "set-option",
            "-g",
            "remain-on-exit",
            "on",
            ";",
            "new-session",
            "-d",
            "-x",
            "120",
            "-y",
            "30",
            command,
        ]);
        tmux
    }

    /// Run a tmux command on this server; its stdout.
    fn run(&self, args: &[&str]) -> String {
        let output = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(["-f", "/dev/null"])
            .args(args)
            .output()
            .expect("run tmux");
        assert!(
            output.status.success(),
            "tmux {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Type `text` literally.
    fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-l", text]);
    }

    /// Press keys by tmux name (`Left`, `Home`, `C-a`, `Enter`...).
    fn press(&self, keys: &[&str]) {
        let mut args = vec!["send-keys"];
        args.extend_from_slice(keys);
        self.run(&args);
    }

    /// Paste `text`, bracketed when the application asked for bracketed paste (bash does).
    fn paste(&self, text: &str) {
        self.run(&["set-buffer", "-b", "test", text]);
        self.run(&["paste-buffer", "-p", "-d", "-b", "test"]);
    }

    /// The visible pane, one string per line (tmux trims trailing spaces).
    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p"])
    }

    /// The pane's line at the cursor, and the cursor's column.
    fn cursor_line(&self) -> (String, usize) {
        let position = self.run(&["display-message", "-p", "#{cursor_x} #{cursor_y}"]);
        let mut numbers = position.split_whitespace().map(|n| n.parse().unwrap());
        let (x, y): (usize, usize) = (numbers.next().unwrap(), numbers.next().unwrap());
        let screen = self.screen();
        let line = screen.lines().nth(y).unwrap_or_default().to_string();
        (line, x)
    }

    /// Wait until `ready` holds. tmux has no event for "the pane now shows this", so this
    /// polls capture-pane briefly, with a deadline; tests call it after an event that means
    /// the output is on its way (a referee record, an approver decision).
    async fn wait_until(&self, what: &str, ready: impl Fn(&Tmux) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !ready(self) {
            assert!(
                Instant::now() < deadline,
                "the pane never showed {what}; pane:\n{}",
                self.screen()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Wait until some line of the pane is exactly `line`.
    async fn wait_for_line(&self, line: &str) {
        self.wait_until(&format!("the line {line:?}"), |tmux| {
            tmux.screen().lines().any(|shown| shown == line)
        })
        .await
    }

    /// Wait until the pane shows `text` anywhere.
    async fn wait_for_text(&self, text: &str) {
        self.wait_until(&format!("{text:?}"), |tmux| tmux.screen().contains(text))
            .await
    }

    /// Wait until bash's empty prompt is on the cursor line with the cursor after it. The
    /// prompt follows readline's request for bracketed paste in the same stream, so tmux
    /// then knows to bracket a paste.
    async fn wait_for_prompt(&self) {
        self.wait_until("an empty prompt at the cursor", |tmux| {
            tmux.cursor_line() == ("$".to_string(), 2)
        })
        .await
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

/// The `ssh` command line for the pane, as one shell string (the paths are tempfile's,
/// without spaces or quotes).
fn ssh_command(dir: &Path, port: u16) -> String {
    let mut words = sshgate_tests::process::ssh_options(dir, port);
    words.insert(0, "ssh".into());
    words.extend(["-o", "LogLevel=ERROR", "operator@127.0.0.1"].map(str::to_string));
    words.join(" ")
}

/// Whether `tool` runs here; skips (or fails under CI) when not.
fn have(tool: &str, install: &str) -> bool {
    if Command::new(tool).arg("-V").output().is_ok() {
        return true;
    }
    skip(&format!("{tool} not installed: apt-get install {install}"));
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tmux_operator_edits_pastes_and_is_denied() {
    if !have("tmux", "tmux") || !have("ssh", "openssh-client") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let operator_key = generate_host_key();
    operator_key
        .write_openssh_file(dir.path().join("operator_key"), LineEnding::LF)
        .unwrap();
    let client_auth =
        ClientAuth::AuthorizedKeys(std::sync::Arc::new(ClientKeys::fixed(vec![operator_key
            .public_key()
            .clone()])));
    let Some(front) = Front::start(TargetOptions::default(), client_auth).await else {
        return;
    };
    std::fs::write(
        dir.path().join("known_hosts"),
        format!(
            "[127.0.0.1]:{} {}\n",
            front.proxy.port(),
            front.proxy_key.public_key().to_openssh().unwrap()
        ),
    )
    .unwrap();
    let tmux = Tmux::start(dir.path(), &ssh_command(dir.path(), front.proxy.port()));
    let target = &front.target;
    assert_eq!(
        target.next_record().await.unwrap(),
        Record::Prompt,
        "pane:\n{}",
        tmux.screen()
    );
    tmux.wait_for_prompt().await;

    // An approved line built with editing keys runs exactly as edited.
    tmux.type_text("junk to discard");
    tmux.press(&["C-u"]);
    tmux.type_text("ell wrld");
    tmux.press(&["C-a"]);
    tmux.type_text("h"); // hell wrld
    tmux.press(&["Right", "Right", "Right"]);
    tmux.type_text("o"); // hello wrld
    tmux.press(&["Home"]);
    tmux.type_text("echo "); // echo hello wrld
    tmux.press(&["End", "Left", "Left", "Left"]);
    tmux.type_text("o"); // echo hello world
    tmux.press(&["C-e"]);
    tmux.type_text(" extra");
    tmux.press(&["C-w", "BSpace", "Enter"]);
    assert_eq!(
        target.next_record().await.unwrap(),
        Record::Line("echo hello world".into())
    );
    assert_eq!(target.next_record().await.unwrap(), Record::Prompt);
    let request = &front.approvals.requests()[0];
    assert_eq!(request.command, "echo hello world");
    assert!(request.certain, "{request:?}");
    tmux.wait_for_line("hello world").await;
    tmux.wait_for_prompt().await;

    // A denied line, its DENY assembled by editing, never runs; the pane says why.
    tmux.type_text("echo DY");
    tmux.press(&["Left"]);
    tmux.type_text("EN");
    tmux.press(&["Enter"]);
    let decided = front
        .approvals
        .wait_for(
            |event| matches!(event, ApproverEvent::Decision { approve: false, .. }),
            WAIT,
        )
        .await;
    assert!(
        decided.is_some(),
        "no denial; {:?}",
        front.approvals.snapshot()
    );
    assert_eq!(front.requested()[1], "echo DENY");
    tmux.wait_for_text("denied: blocked").await;

    // A pasted line runs after Enter, and only then; the denied text is gone from the line.
    tmux.paste("echo pasted line");
    tmux.wait_for_text("echo pasted line").await;
    assert!(!target.ran("pasted"), "{:?}", target.records());
    tmux.press(&["Enter"]);
    assert_eq!(
        target.next_record().await.unwrap(),
        Record::Line("echo pasted line".into())
    );
    assert_eq!(target.next_record().await.unwrap(), Record::Prompt);
    tmux.wait_for_line("pasted line").await;
    assert!(!target.ran("DENY"), "{:?}", target.records());
    assert_eq!(
        front.requested(),
        ["echo hello world", "echo DENY", "echo pasted line"]
    );
}
