//! The shell-side guard (`sshgate guard print`) in real bash and zsh on a PTY, with the test
//! playing sshgate's part: it reads each ask from the terminal, decodes it and answers. Every
//! "does not run" is checked after the shell's next heartbeat, which it writes only once the
//! command was skipped or ran, so no test waits on time. The control runs the same shells
//! without the guard, where the command the test would deny runs.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use expectrl::session::OsSession;
use expectrl::{Expect, Regex, Session};
use sshgate_tests::process::binary;
use sshgate_tests::skip::skip;

/// One sequence from the guard: an ask or a heartbeat, with its fields.
#[derive(Debug)]
struct Event {
    kind: String,
    nonce: String,
    at: String,
    function: String,
    command: String,
}

/// A shell on a PTY, started in a scratch folder, with or without the guard sourced.
struct Shell {
    name: &'static str,
    session: OsSession,
    dir: tempfile::TempDir,
}

impl Shell {
    /// `name` ("bash" or "zsh") on a PTY with the guard sourced from `sshgate guard print`'s
    /// output when `guarded`, or `None` (a skip) when this machine has no such shell.
    fn start(name: &'static str, guarded: bool) -> Option<Shell> {
        Self::start_after(name, guarded, "")
    }

    /// [`start`](Self::start) with `before` in the rc file ahead of the guard.
    fn start_after(name: &'static str, guarded: bool, before: &str) -> Option<Shell> {
        let probe = Command::new(name).args(["-c", "true"]).status();
        if !probe.is_ok_and(|status| status.success()) {
            skip(&format!("{name} not installed: apt-get install {name}"));
            return None;
        }
        let printed = Command::new(binary("sshgate"))
            .args(["guard", "print", name])
            .output()
            .expect("sshgate runs");
        assert!(printed.status.success(), "{printed:?}");
        let dir = tempfile::tempdir().unwrap();
        let guard = dir.path().join(format!("guard.{name}"));
        std::fs::write(&guard, &printed.stdout).unwrap();
        let rc = dir
            .path()
            .join(if name == "bash" { "bashrc" } else { ".zshrc" });
        // The guard comes last in the rc file, as docs/guard.md says.
        let source = if guarded {
            format!(". {}\n", guard.display())
        } else {
            String::new()
        };
        let rc_text = format!("PS1='$ '\nHISTFILE=/dev/null\n{before}\n{source}");
        std::fs::write(&rc, rc_text).unwrap();
        let mut command = Command::new(name);
        if name == "bash" {
            command.args(["--noprofile", "--rcfile"]).arg(&rc).arg("-i");
        } else {
            // /etc/zsh/zshrc's zle widgets would be asked about at every prompt.
            command
                .args(["-o", "no_global_rcs", "-i"])
                .env("ZDOTDIR", dir.path());
        }
        command
            .current_dir(dir.path())
            .env("LC_SSHGATE_GUARD", "1")
            .env("TERM", "dumb")
            .env("HOME", dir.path());
        let mut session = Session::spawn(command).expect("the shell starts on a PTY");
        session.set_expect_timeout(Some(Duration::from_secs(30)));
        let mut shell = Shell { name, session, dir };
        if guarded {
            shell.expect_beat();
        } else {
            shell.session.expect("$ ").unwrap();
        }
        Some(shell)
    }

    fn exists(&self, file: &str) -> bool {
        Path::new(&self.dir.path().join(file)).exists()
    }

    /// The next guard sequence on the terminal; what came before it is dropped.
    fn next(&mut self) -> Event {
        let found = self
            .session
            .expect(Regex(r"(?s)\A(.*?)\x1b\]7428;1;(ask|beat);([^\x07]*)\x07"))
            .unwrap_or_else(|error| panic!("{}: no guard sequence: {error}", self.name));
        // The shell names the guard's functions only in its error messages.
        let before = String::from_utf8_lossy(found.get(1).unwrap());
        assert!(
            !before.contains("__sshgate_guard"),
            "{}: {before}",
            self.name
        );
        let kind = String::from_utf8(found.get(2).unwrap().to_vec()).unwrap();
        let fields = String::from_utf8(found.get(3).unwrap().to_vec()).unwrap();
        let field = |key: &str| {
            fields
                .split(';')
                .find_map(|field| field.strip_prefix(key)?.strip_prefix('='))
                .unwrap_or_default()
                .to_string()
        };
        let decode = |text: String| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text)
                .expect("base64");
            String::from_utf8(bytes).unwrap()
        };
        let event = Event {
            kind,
            nonce: field("n"),
            at: field("at"),
            function: decode(field("fn")),
            command: decode(field("cmd")),
        };
        assert_eq!(event.nonce.len(), 32, "{event:?}");
        assert_eq!(field("sh"), self.name, "{event:?}");
        event
    }

    fn expect_ask(&mut self) -> Event {
        let event = self.next();
        assert_eq!(event.kind, "ask", "{}: {event:?}", self.name);
        event
    }

    fn expect_beat(&mut self) -> Event {
        let event = self.next();
        assert_eq!(event.kind, "beat", "{}: {event:?}", self.name);
        event
    }

    /// Expect an ask about exactly `command`, and answer it.
    fn ask_about(&mut self, command: &str, approve: bool) -> Event {
        let ask = self.expect_ask();
        assert_eq!(ask.command, command, "{}: {ask:?}", self.name);
        let verdict = if approve { "approve" } else { "deny" };
        self.answer(&format!("{verdict};n={}", ask.nonce));
        ask
    }

    fn answer(&mut self, body: &str) {
        self.session
            .send(format!("\x1b]7428;1;{body}\x07"))
            .unwrap();
    }

    /// Type `line` and approve each of `commands`, asked about in this order, then the prompt.
    fn run_approved(&mut self, line: &str, commands: &[&str]) {
        self.session.send(format!("{line}\r")).unwrap();
        for command in commands {
            self.ask_about(command, true);
        }
        self.expect_beat();
    }
}

/// The guarded shells this machine has.
fn guarded_shells() -> Vec<Shell> {
    ["bash", "zsh"]
        .into_iter()
        .filter_map(|name| Shell::start(name, true))
        .collect()
}

#[test]
fn an_approved_command_runs_and_a_denied_one_does_not() {
    for mut shell in guarded_shells() {
        shell.run_approved("touch approved", &["touch approved"]);
        assert!(shell.exists("approved"), "{}", shell.name);
        shell.session.send("touch denied\r").unwrap();
        let ask = shell.ask_about("touch denied", false);
        assert_eq!(ask.at, "line");
        shell.expect_beat();
        assert!(!shell.exists("denied"), "{}", shell.name);
    }
}

#[test]
fn without_the_guard_the_command_the_test_would_deny_runs() {
    for name in ["bash", "zsh"] {
        let Some(mut shell) = Shell::start(name, false) else {
            continue;
        };
        // Typed `echo do''ne` is echoed as typed; only its output reads "done".
        shell.session.send("touch denied; echo do''ne\r").unwrap();
        shell.session.expect("done").unwrap();
        assert!(shell.exists("denied"), "{name}");
    }
}

#[test]
fn a_command_from_an_alias_is_asked_about_as_the_shell_runs_it() {
    for mut shell in guarded_shells() {
        shell.run_approved(
            "alias mk='touch from_alias'",
            &["alias mk='touch from_alias'"],
        );
        shell.session.send("mk\r").unwrap();
        shell.ask_about("touch from_alias", false);
        shell.expect_beat();
        assert!(!shell.exists("from_alias"), "{}", shell.name);
    }
}

#[test]
fn a_key_binding_runs_nothing_unasked() {
    for mut shell in guarded_shells() {
        if shell.name == "bash" {
            let bind = r#"bind -x '"\C-xt": touch from_key'"#;
            shell.run_approved(bind, &[bind]);
        } else {
            shell.run_approved(
                "k() { touch from_key }; zle -N k; bindkey '^Xt' k",
                &["k () {\n\ttouch from_key\n}", "zle -N k", "bindkey '^Xt' k"],
            );
        }
        shell.session.send("\x18t").unwrap();
        let ask = shell.ask_about("touch from_key", false);
        assert_eq!(ask.at, "bind", "{}: {ask:?}", shell.name);
        if shell.name == "zsh" {
            assert_eq!(ask.function, "k");
        }
        // An empty line brings the next prompt: the key's command was skipped by then.
        shell.session.send("\r").unwrap();
        shell.expect_beat();
        assert!(!shell.exists("from_key"), "{}", shell.name);
    }
}

#[test]
fn a_prompt_hook_runs_nothing_unasked() {
    for mut shell in guarded_shells() {
        if shell.name == "bash" {
            let hook = "PROMPT_COMMAND+=('touch from_hook')";
            shell.session.send(format!("{hook}\r")).unwrap();
            shell.ask_about(hook, true);
        } else {
            shell
                .session
                .send("h() { touch from_hook }; precmd_functions+=(h)\r")
                .unwrap();
            shell.ask_about("h () {\n\ttouch from_hook\n}", true);
            shell.ask_about("precmd_functions+=(h) ", true);
        }
        // The heartbeat comes first of the prompt's hooks.
        shell.expect_beat();
        let ask = shell.ask_about("touch from_hook", false);
        assert_eq!(ask.at, "prompt", "{}: {ask:?}", shell.name);
        shell.session.send("true\r").unwrap();
        shell.ask_about("true", true);
        shell.expect_beat();
        shell.ask_about("touch from_hook", false);
        assert!(!shell.exists("from_hook"), "{}", shell.name);
    }
}

#[test]
fn a_forged_or_replayed_answer_runs_nothing() {
    for mut shell in guarded_shells() {
        shell.run_approved("true", &["true"]);
        shell.session.send("touch forged\r").unwrap();
        let ask = shell.expect_ask();
        // What an operator could type without seeing the ask: any nonce but this one.
        shell.answer(&format!("approve;n={}", "0".repeat(32)));
        shell.expect_beat();
        assert!(!shell.exists("forged"), "{}", shell.name);
        // The approval of an earlier question does not carry over to a later one.
        shell.session.send("touch replayed\r").unwrap();
        shell.expect_ask();
        shell.answer(&format!("approve;n={}", ask.nonce));
        shell.expect_beat();
        assert!(!shell.exists("replayed"), "{}", shell.name);
    }
}

#[test]
fn removing_the_guard_is_asked_about_first_and_ends_the_heartbeat() {
    for mut shell in guarded_shells() {
        shell.session.send("trap - DEBUG\r").unwrap();
        shell.ask_about("trap - DEBUG", false);
        shell.expect_beat();
        shell.session.send("trap - DEBUG\r").unwrap();
        shell.ask_about("trap - DEBUG", true);
        // From now on nothing is asked and no prompt carries a heartbeat.
        shell
            .session
            .send("touch unguarded; echo do''ne\r")
            .unwrap();
        let after = shell.session.expect("done").unwrap();
        assert!(
            !String::from_utf8_lossy(after.before()).contains("\x1b]7428"),
            "{}",
            shell.name
        );
        assert!(shell.exists("unguarded"), "{}", shell.name);
    }
}

#[test]
fn each_prompt_carries_a_fresh_heartbeat() {
    for mut shell in guarded_shells() {
        let mut nonces = std::collections::HashSet::new();
        for _ in 0..3 {
            shell.session.send("\r").unwrap();
            assert!(nonces.insert(shell.expect_beat().nonce), "{}", shell.name);
        }
    }
}

#[test]
fn the_guard_is_inert_without_a_terminal() {
    for name in ["bash", "zsh"] {
        if !Command::new(name)
            .args(["-c", "true"])
            .status()
            .is_ok_and(|s| s.success())
        {
            continue;
        }
        let guard = Command::new(binary("sshgate"))
            .args(["guard", "print", name])
            .output()
            .unwrap()
            .stdout;
        let script = format!("{}\necho ran", String::from_utf8(guard).unwrap());
        let output = Command::new(name)
            .args(["-c", &script])
            .env("LC_SSHGATE_GUARD", "1")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&output.stdout), "ran\n", "{name}");
        assert!(output.stderr.is_empty(), "{name}: {output:?}");
    }
}

#[test]
fn guard_print_refuses_a_shell_without_a_guard() {
    let output = Command::new(binary("sshgate"))
        .args(["guard", "print", "fish"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn the_audit_hook_hears_of_each_approved_command_and_each_prompt() {
    // Defined before the guard, as a system's rc file would; it writes in the scratch folder.
    let hook = "sshgate_guard_hook() { printf '%s\\n' \"$*\" >>hook.log; }";
    for name in ["bash", "zsh"] {
        let Some(mut shell) = Shell::start_after(name, true, hook) else {
            continue;
        };
        shell.run_approved("touch approved", &["touch approved"]);
        shell.session.send("touch denied\r").unwrap();
        shell.ask_about("touch denied", false);
        shell.expect_beat();
        if name == "bash" {
            // bash asks nothing about a function definition; the hook is read-only.
            shell.session.send("sshgate_guard_hook() { :; }\r").unwrap();
            shell.expect_beat();
        }
        shell.run_approved("touch later", &["touch later"]);
        let log = std::fs::read_to_string(shell.dir.path().join("hook.log")).unwrap();
        let lines: Vec<&str> = log.lines().collect();
        assert!(lines.contains(&"ran touch approved"), "{name}: {log}");
        assert!(lines.contains(&"ran touch later"), "{name}: {log}");
        assert!(!log.contains("denied"), "{name}: {log}");
        assert!(lines.contains(&"prompt"), "{name}: {log}");
    }
}
