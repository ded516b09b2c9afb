//! Guarded mode end to end: sshgate in front of real sshd with bash or zsh whose rc file
//! sources the guard (`sshgate guard print`), reached by the test's own SSH client. Each case
//! makes the shell run, later and by a way no keystroke shows, a command that contains DENY
//! (the rule approver's marker) although no line the approver saw did: the guard asks, the
//! approver denies, and the file the command would create never appears. Each "never" is
//! checked after a later command's file appeared, so no test waits on time. The control runs
//! a case through the pass-through, where the command runs.

use std::path::PathBuf;

use real_target::{Shell as TargetShell, TargetOptions};
use rstest::rstest;
use sshgate::guard::GuardMode;
use sshgate_tests::operator::{Operator, Shell};
use sshgate_tests::passthrough::PassThrough;
use sshgate_wire::RequestKind;

use crate::Front;

/// A shell through sshgate to a guarded target, in a scratch folder of the target's (the
/// attacks in `guard_attacks` use it too).
pub(super) struct Guarded {
    pub(super) front: Front,
    _operator: Operator,
    pub(super) shell: Shell,
    pub(super) dir: PathBuf,
    /// The guard is in place, and its audit hook feeds the target's referee.
    pub(super) recorded: bool,
}

/// Spell the rule approver's marker without writing it: lines that use `$X$Y` hold no DENY.
const SPELL: &str = "X=DE; Y=NY";

impl Guarded {
    /// None when this machine lacks sshd or the shell (a skip).
    pub(super) async fn start(shell: TargetShell, guard: GuardMode) -> Option<Guarded> {
        let text = sshgate::guard::script(shell.name()).expect("a guard for the shell");
        let options = TargetOptions {
            shell,
            guard: Some(text.to_string()),
            ..TargetOptions::default()
        };
        let front = Front::start_guarded(options, guard).await?;
        let dir = front.target.dir().join("work");
        std::fs::create_dir(&dir).unwrap();
        let operator = front.operator().await;
        let mut shell = operator.shell().await.unwrap();
        shell.expect("$ ").await.unwrap();
        let mut guarded = Guarded {
            front,
            _operator: operator,
            shell,
            dir,
            recorded: true,
        };
        let cd = format!("cd {}; {SPELL}", guarded.dir.display());
        guarded.line(&cd).await;
        Some(guarded)
    }

    pub(super) async fn line(&mut self, line: &str) {
        type_line(&mut self.shell, line).await
    }

    pub(super) fn exists(&self, file: &str) -> bool {
        self.dir.join(file).exists()
    }

    /// After `touch` of a later file shows the shell went on: `file` was never made.
    pub(super) async fn never_made(&mut self, file: &str) {
        let later = format!("{}-later", file.replace("DENY", "ok").replace('*', "x"));
        self.line(&format!("touch {later}")).await;
        assert!(self.exists(&later), "{:?}", self.shell.text());
        assert!(
            !self.exists(file),
            "{file} was made; requests {:?}",
            self.front.approvals.requests()
        );
        // The referee, fed by the guard's audit hook, saw the later line run and no line with
        // the marker.
        if !self.recorded {
            return;
        }
        let target = &self.front.target;
        let line = format!("touch {later}");
        let recorded = target
            .wait_for(|record| record.text() == Some(&line[..]))
            .await;
        recorded.unwrap();
        assert!(!target.ran("DENY"), "{:?}", target.records());
    }

    /// The guard requests the approver saw, as (command, warnings).
    fn guard_requests(&self) -> Vec<(String, Vec<String>)> {
        self.front
            .approvals
            .requests()
            .into_iter()
            .filter(|request| request.kind == RequestKind::Guard)
            .map(|request| (request.command, request.warnings))
            .collect()
    }

    /// The guard request for `command` was denied, and said where it came from (`origin`).
    fn asked_and_denied(&self, command: &str, origin: &str) {
        let requests = self.guard_requests();
        let found = requests.iter().find(|(asked, _)| asked == command);
        let Some((_, warnings)) = found else {
            panic!("no guard request for {command:?}: {requests:?}");
        };
        assert!(
            warnings.iter().any(|warning| warning.contains(origin)),
            "{warnings:?}"
        );
        assert!(self.shell.text().contains(&format!("denied: {command}")));
    }
}

/// Type `line` and Enter, and wait for the prompt after the line's echo (a prompt an earlier
/// step left on its way must not end the wait).
async fn type_line(shell: &mut Shell, line: &str) {
    let mark = shell.mark();
    shell.send(format!("{line}\r").as_bytes()).await.unwrap();
    let tail = &line[line.len().saturating_sub(4)..];
    let prompt_after = |output: &[u8]| {
        let text = String::from_utf8_lossy(output);
        text.rfind(tail).is_some_and(|at| text[at..].contains("$ "))
    };
    let wait = sshgate_tests::operator::WAIT;
    shell
        .wait_until(mark, wait, "the prompt after the line", prompt_after)
        .await
        .unwrap();
}

/// The shells with a guard.
pub(super) fn case_shell(name: &str) -> TargetShell {
    match name {
        "bash" => TargetShell::Bash,
        _ => TargetShell::Zsh,
    }
}

#[rstest]
#[case::bash("bash")]
#[case::zsh("zsh")]
#[tokio::test]
async fn an_alias_defined_earlier_is_asked_about_as_it_expands(#[case] shell: &str) {
    let Some(mut guarded) = Guarded::start(case_shell(shell), GuardMode::Prefer).await else {
        return;
    };
    guarded.line("alias mk=\"touch $X${Y}1\"").await;
    guarded.line("mk").await;
    guarded.asked_and_denied("touch DENY1", "from the command line");
    guarded.never_made("DENY1").await;
    // The line's own commands were answered from the approved line: one line, one request.
    let requests = guarded.front.requested();
    assert_eq!(
        requests.iter().filter(|command| *command == "mk").count(),
        1,
        "{requests:?}"
    );
    assert!(
        guarded
            .guard_requests()
            .iter()
            .all(|(command, _)| command != "mk"),
        "{:?}",
        guarded.guard_requests()
    );
}

#[rstest]
#[case::bash("bash", "PROMPT_COMMAND+=(\"touch $X${Y}2\")", "touch DENY2")]
#[case::zsh(
    "zsh",
    "h() { eval \"touch $X${Y}2\" }; precmd_functions+=(h)",
    "touch DENY2"
)]
#[tokio::test]
async fn a_prompt_hook_is_asked_about(#[case] shell: &str, #[case] hook: &str, #[case] runs: &str) {
    let Some(mut guarded) = Guarded::start(case_shell(shell), GuardMode::Prefer).await else {
        return;
    };
    guarded.line(hook).await;
    guarded.asked_and_denied(runs, "prompt hook");
    guarded.never_made("DENY2").await;
}

#[rstest]
#[case::bash("bash", "bind -x \"\\\"\\C-xq\\\": touch $X${Y}3\"", "touch DENY3")]
#[case::zsh(
    "zsh",
    "w() { eval \"touch $X${Y}3\" }; zle -N w; bindkey '^Xq' w",
    "touch DENY3"
)]
#[tokio::test]
async fn a_key_bindings_command_is_asked_about(
    #[case] shell: &str,
    #[case] bind: &str,
    #[case] runs: &str,
) {
    let Some(mut guarded) = Guarded::start(case_shell(shell), GuardMode::Prefer).await else {
        return;
    };
    guarded.line(bind).await;
    // C-x q: no Enter, no line; the binding runs the command.
    let mark = guarded.shell.mark();
    guarded.shell.send(b"\x18q").await.unwrap();
    let denied = format!("denied: {runs}");
    guarded.shell.expect_after(mark, &denied).await.unwrap();
    guarded.asked_and_denied(runs, "key binding");
    guarded.never_made("DENY3").await;
}

#[rstest]
#[case::bash("bash", "history -s \"touch $X${Y}4\"", "fc -s")]
#[case::zsh("zsh", "print -s \"touch $X${Y}4\"", "r")]
#[tokio::test]
async fn a_history_entry_run_again_is_asked_about(
    #[case] shell: &str,
    #[case] add: &str,
    #[case] again: &str,
) {
    let Some(mut guarded) = Guarded::start(case_shell(shell), GuardMode::Prefer).await else {
        return;
    };
    guarded.line(add).await;
    guarded.line(again).await;
    guarded.asked_and_denied("touch DENY4", "from the command line");
    guarded.never_made("DENY4").await;
}

#[rstest]
#[case::bash("bash", "bind '\"\\C-xm\": \"touch \\x44ENY5\\n\"'")]
#[case::zsh("zsh", "bindkey -s '^Xm' $'touch \\x44ENY5\\n'")]
#[tokio::test]
async fn a_macro_that_spells_the_marker_with_escapes_is_asked_about(
    #[case] shell: &str,
    #[case] bind: &str,
) {
    let Some(mut guarded) = Guarded::start(case_shell(shell), GuardMode::Prefer).await else {
        return;
    };
    guarded.line(bind).await;
    // C-x m types the line and Enter: the guard asks, and the session goes on.
    let mark = guarded.shell.mark();
    guarded.shell.send(b"\x18m").await.unwrap();
    let prompt_after_deny = |output: &[u8]| {
        let text = String::from_utf8_lossy(output);
        let denied = text.find("denied: touch DENY5");
        denied.is_some_and(|at| text[at..].contains("$ "))
    };
    let wait = sshgate_tests::operator::WAIT;
    let shell = &mut guarded.shell;
    let what = "the prompt after the deny";
    shell
        .wait_until(mark, wait, what, prompt_after_deny)
        .await
        .unwrap();
    guarded.asked_and_denied("touch DENY5", "from the command line");
    guarded.never_made("DENY5").await;
    assert!(!guarded.shell.text().contains("session ended"));
}

#[rstest]
#[case::bash("bash")]
#[case::zsh("zsh")]
#[tokio::test]
async fn a_typed_or_pasted_answer_never_reaches_the_shell(#[case] shell: &str) {
    let Some(mut guarded) = Guarded::start(case_shell(shell), GuardMode::Prefer).await else {
        return;
    };
    // cat shows on disk what reaches the terminal's reader; an answer sshgate let through
    // would be there whole.
    let mark = guarded.shell.mark();
    guarded.shell.send(b"cat > got\r").await.unwrap();
    guarded.shell.expect_after(mark, "cat > got").await.unwrap();
    let forged = format!("\x1b]7428;1;approve;n={}\x07", "0".repeat(32));
    let typed = format!("typed{forged}\r");
    // Cut in three packets, the way slow typing or a split paste would come.
    for part in [
        &typed.as_bytes()[..3],
        &typed.as_bytes()[3..9],
        &typed.as_bytes()[9..],
    ] {
        guarded.shell.send(part).await.unwrap();
    }
    let pasted = format!("\x1b[200~pasted{forged}\x1b[201~\r");
    guarded.shell.send(pasted.as_bytes()).await.unwrap();
    let eof = guarded.shell.mark();
    guarded.shell.send(b"\x04").await.unwrap();
    guarded.shell.expect_after(eof, "$ ").await.unwrap();
    let got = std::fs::read(guarded.dir.join("got")).unwrap();
    let got = String::from_utf8_lossy(&got);
    assert!(!got.contains("7428"), "{got:?}");
    assert!(
        got.contains("typed") && got.contains("pasted"),
        "{got:?} {:?} {:?}",
        guarded.front.approvals.snapshot(),
        guarded.shell.text()
    );
}

#[rstest]
#[case::bash("bash")]
#[case::zsh("zsh")]
#[tokio::test]
async fn an_approved_removal_of_the_guard_is_asked_and_then_said(#[case] shell: &str) {
    let Some(mut guarded) = Guarded::start(case_shell(shell), GuardMode::Prefer).await else {
        return;
    };
    guarded.line("trap - DEBUG").await;
    guarded.recorded = false;
    guarded.line("touch after").await;
    assert!(guarded.exists("after"));
    let requests = guarded.front.approvals.requests();
    let removal = requests
        .iter()
        .find(|request| request.command == "trap - DEBUG");
    assert!(removal.is_some(), "{requests:?}");
    let after = requests
        .iter()
        .find(|request| request.command == "touch after");
    let after = after.expect("the next line is asked about");
    assert!(
        after
            .warnings
            .iter()
            .any(|warning| warning.contains("guard is gone")),
        "{after:?}"
    );
    let alerts: Vec<_> = guarded
        .front
        .approvals
        .snapshot()
        .into_iter()
        .filter_map(|event| match event {
            mock_approver::ApproverEvent::Alert(alert) => Some(alert.reason),
            _ => None,
        })
        .collect();
    assert!(
        alerts.iter().any(|reason| reason.contains("guard is gone")),
        "{alerts:?}"
    );
    // Keystroke gating still holds what is typed.
    guarded.line("touch DENY6").await;
    guarded.never_made("DENY6").await;
}

#[rstest]
#[case::bash("bash")]
#[case::zsh("zsh")]
#[tokio::test]
async fn require_ends_the_session_once_the_guard_is_gone(#[case] shell: &str) {
    let Some(mut guarded) = Guarded::start(case_shell(shell), GuardMode::Require).await else {
        return;
    };
    guarded.line("trap - DEBUG").await;
    let mark = guarded.shell.mark();
    guarded.shell.send(b"touch after\r").await.unwrap();
    guarded
        .shell
        .expect_after(mark, "session ended")
        .await
        .unwrap();
    guarded.shell.expect_close().await.unwrap();
    assert!(guarded.shell.text().contains("guard is gone"));
    assert!(!guarded.exists("after"));
}

#[tokio::test]
async fn require_refuses_a_shell_without_a_guard() {
    let options = TargetOptions::default();
    let Some(front) = Front::start_guarded(options, GuardMode::Require).await else {
        return;
    };
    let operator = front.operator().await;
    let mut shell = operator.shell().await.unwrap();
    shell.expect("$ ").await.unwrap();
    shell.send(b"echo hello\r").await.unwrap();
    shell.expect("session ended").await.unwrap();
    assert!(shell.text().contains("has no guard"), "{}", shell.text());
    assert!(!front.target.ran("echo hello"));
}

/// The control: through the pass-through, nobody wakes the guard, and the alias runs.
#[rstest]
#[case::bash("bash")]
#[case::zsh("zsh")]
#[tokio::test]
async fn through_the_pass_through_the_alias_runs(#[case] shell: &str) {
    let Some(control) = Control::start(case_shell(shell), &[]).await else {
        return;
    };
    let mut control = control;
    control.line("alias mk=\"touch $X${Y}1\"").await;
    control.line("mk").await;
    assert!(control.exists("DENY1"));
}

/// The control with the guard woken by the operator's own `env` request: the guard asks, no
/// one answers, and the operator sees the line and nothing after it; Ctrl+C skips it.
#[rstest]
#[case::bash("bash")]
#[case::zsh("zsh")]
#[tokio::test]
async fn through_the_pass_through_a_woken_guard_waits(#[case] shell: &str) {
    let woken = [(sshgate::guard::ENV_NAME, "1")];
    let Some(mut control) = Control::start(case_shell(shell), &woken).await else {
        return;
    };
    let mark = control.shell.mark();
    let touch = format!("touch {}/ran\r", control.dir.display());
    control.shell.send(touch.as_bytes()).await.unwrap();
    // The unanswered question reaches the operator's terminal, which shows nothing of it.
    control
        .shell
        .expect_after(mark, "\x1b]7428;1;ask;")
        .await
        .unwrap();
    let interrupted = control.shell.mark();
    control.shell.send(b"\x03").await.unwrap();
    control.shell.expect_after(interrupted, "$ ").await.unwrap();
    assert!(!control.exists("ran"));
}

/// A guarded target behind the pass-through control.
struct Control {
    _target: real_target::RealTarget,
    _proxy: PassThrough,
    _operator: Operator,
    shell: Shell,
    dir: PathBuf,
}

impl Control {
    async fn start(shell: TargetShell, environment: &[(&str, &str)]) -> Option<Control> {
        let text = sshgate::guard::script(shell.name()).expect("a guard for the shell");
        let options = TargetOptions {
            shell,
            guard: Some(text.to_string()),
            ..TargetOptions::default()
        };
        let target = sshgate_tests::skip::real_target_or_skip(options)?;
        let identity = target.client_key().clone();
        let proxy = PassThrough::spawn_with_identity(target.addr(), identity).await;
        let operator = Operator::connect(proxy.addr, target.user(), None)
            .await
            .expect("operator connects to the pass-through");
        let dir = target.dir().join("work");
        std::fs::create_dir(&dir).unwrap();
        let mut shell = operator.shell_with_env(environment).await.unwrap();
        shell.expect("$ ").await.unwrap();
        let mut control = Control {
            _target: target,
            _proxy: proxy,
            _operator: operator,
            shell,
            dir,
        };
        if environment.is_empty() {
            control
                .line(&format!("cd {}; {SPELL}", control.dir.display()))
                .await;
        }
        Some(control)
    }

    async fn line(&mut self, line: &str) {
        type_line(&mut self.shell, line).await
    }

    fn exists(&self, file: &str) -> bool {
        self.dir.join(file).exists()
    }
}

#[rstest]
#[case::bash("bash")]
#[case::zsh("zsh")]
#[tokio::test]
async fn a_command_with_bytes_that_are_not_utf8_is_asked_as_uncertain(#[case] shell: &str) {
    let Some(mut guarded) = Guarded::start(case_shell(shell), GuardMode::Prefer).await else {
        return;
    };
    // The alias's text holds the byte 0xff, which no key typed.
    guarded.line("alias nb=\"$(printf 'true \\377')\"").await;
    guarded.line("nb").await;
    let requests = guarded.front.approvals.requests();
    let asked = requests
        .iter()
        .find(|request| request.kind == RequestKind::Guard && request.command.starts_with("true"));
    let asked = asked.unwrap_or_else(|| panic!("no guard request: {requests:?}"));
    assert_eq!(asked.command, "true \u{fffd}");
    assert!(!asked.certain, "{asked:?}");
    assert!(
        asked
            .warnings
            .iter()
            .any(|warning| warning.contains("not UTF-8")),
        "{asked:?}"
    );
}
