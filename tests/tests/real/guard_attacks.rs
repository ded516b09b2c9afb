//! Attacks on guarded mode, end to end: sshgate in front of real sshd with bash or zsh that
//! sources the guard, the test's SSH client typing as the operator, and the mock approver's
//! rule (deny what contains DENY). Each attack tries to make the shell run a command whose
//! text, as the shell holds it, contains DENY, with no line or question the approver saw
//! holding DENY: the guard should ask about that command as it runs, and the approver deny
//! it. A test fails when the attack worked (the DENY file exists, or a question was answered
//! without the approver seeing its command). The comment above each test says how the
//! attack works; tests for attacks that sshgate resists stay for coverage.
//!
//! Lines spell the marker with `$X$Y` (X=DE, Y=NY, set at the start), so that no line the
//! approver sees holds DENY; the guard's question about the command that runs does, once the
//! shell has expanded the line (an `eval`'s argument, a history entry).

use real_target::Shell as TargetShell;
use rstest::rstest;
use sshgate::guard::GuardMode;
use sshgate_wire::RequestKind;

use crate::guarded::{case_shell, Guarded};

/// A guarded shell to attack (`guarded::Guarded`). Its referee's records are not looked at:
/// the attacks tamper with the shell state that the guard's hook runs in.
async fn attacked(shell: TargetShell) -> Option<Guarded> {
    let mut guarded = Guarded::start(shell, GuardMode::Prefer).await?;
    guarded.recorded = false;
    Some(guarded)
}

impl Guarded {
    /// The prompt after the line that would make `file` is back: `file` was not made. (For
    /// attacks after which a later line may not get through.)
    fn not_made(&self, file: &str) {
        assert!(
            !self.exists(file),
            "{file} was made; the approver saw {:#?}",
            self.requested()
        );
    }

    /// What the approver was asked about, as (kind, command).
    fn requested(&self) -> Vec<(RequestKind, String)> {
        self.front
            .approvals
            .requests()
            .into_iter()
            .map(|request| (request.kind, request.command))
            .collect()
    }

    /// The guard questions the approver was asked about.
    fn guard_questions(&self) -> Vec<String> {
        self.requested()
            .into_iter()
            .filter(|(kind, _)| *kind == RequestKind::Guard)
            .map(|(_, command)| command)
            .collect()
    }
}

/// HOLE (bash). The bash guard's base64 function starts `builtin local LC_ALL=C in=$1 ...`.
/// Behind `builtin`, `local`'s arguments are ordinary words: `in=$1` is not an assignment
/// word, so the command text in it goes through pathname expansion (IFS is empty there, so
/// only globbing bites). A command that holds `[`, `*` or `?` is a pattern: a file in the
/// current directory named `in=<text>` that it matches replaces it, and the guard asks about
/// `<text>`. Here `touch "[" DENY "]"` (an eval's argument, which the guard asks about on
/// its own) is the pattern `in=touch "[" DENY "]"`, whose bracket expression matches the
/// one character `E` of a file named `in=touch "E"` made by an earlier harmless line: the
/// approver is asked about `touch "E"`, approves, and bash runs `touch "[" DENY "]"`.
/// Fix: quote it, `in="$1"` (guard.bash, `__sshgate_guard_b64`).
#[tokio::test]
async fn bash_a_file_named_like_the_question_replaces_its_command() {
    let Some(mut guarded) = attacked(TargetShell::Bash).await else {
        return;
    };
    guarded.line("touch 'in=touch \"E\"'").await;
    guarded.line(r#"eval "touch \"[\" $X${Y}1 \"]\"""#).await;
    guarded.never_made("DENY1").await;
}

/// HOLE (bash), the same unquoted `in=$1`, with no file planted: under `shopt -s nullglob`
/// a command holding a glob character that matches no file makes the word `in=...` vanish,
/// `local` then declares no `in`, and the base64 function reads the caller's, that is the
/// global variable `in`, which the operator set: every such question shows the approver
/// the value of `$in` (`true`) instead of the command.
#[tokio::test]
async fn bash_nullglob_makes_the_question_show_a_variable_of_the_operators() {
    let Some(mut guarded) = attacked(TargetShell::Bash).await else {
        return;
    };
    guarded.line("in=true; shopt -s nullglob").await;
    guarded.line("eval \"touch $X${Y}2'*'\"").await;
    guarded.never_made("DENY2*").await;
}

/// HOLE (bash and zsh). The guard lets every command inside a function whose name starts
/// with `__sshgate_guard_` run unasked (bash: `case ${FUNCNAME[1]} in __sshgate_guard_*)
/// return 0`; zsh: the same on `funcstack[2]`), meaning its own helpers, but any function
/// the operator names so is let through too. bash does not ask about function definitions
/// at all, and zsh's question about the definition shows only its body (`eval "$1"`, `r
/// touch`), not what it will run. bash: `eval "$1"` inside it runs `touch DENY3` unasked.
/// zsh puts `(eval)` on funcstack, so `r touch` (run the last history entry that starts
/// with touch, which `print -s` made) runs it unasked there.
/// Fix: name the guard's own functions exactly (bash: only `__sshgate_guard_prompt`, whose
/// body is `:`; zsh: `__sshgate_guard_precmd` and `__sshgate_guard_preexec`, whose bodies the
/// trap already checks), and in bash compare without `[[ == ]]`/`case`, which `shopt -s
/// nocasematch` makes match `__SSHGATE_GUARD_PROMPT` too (see the next test).
#[rstest]
#[case::bash(
    "bash",
    &["__sshgate_guard_x() { eval \"$1\"; }", "__sshgate_guard_x \"touch $X${Y}3\""]
)]
#[case::zsh(
    "zsh",
    &["print -s \"touch $X${Y}3\"", "__sshgate_guard_x() { r touch }", "__sshgate_guard_x"]
)]
#[tokio::test]
async fn a_function_named_like_the_guards_own_runs_unasked(
    #[case] shell: &str,
    #[case] lines: &[&str],
) {
    let Some(mut guarded) = attacked(case_shell(shell)).await else {
        return;
    };
    for line in lines {
        guarded.line(line).await;
    }
    guarded.never_made("DENY3").await;
}

/// HOLE (bash), the same through `shopt -s nocasematch`, which makes `case` and `[[ == ]]`
/// ignore case: a function `__SSHGATE_GUARD_X` matches the guard's pattern. Kept apart so
/// that a fix naming the functions exactly is also checked against it.
#[tokio::test]
async fn bash_nocasematch_makes_an_upper_case_name_the_guards_own() {
    let Some(mut guarded) = attacked(TargetShell::Bash).await else {
        return;
    };
    guarded.line("shopt -s nocasematch").await;
    guarded
        .line("__SSHGATE_GUARD_PROMPT() { eval \"$1\"; }")
        .await;
    guarded
        .line("__SSHGATE_GUARD_PROMPT \"touch $X${Y}4\"")
        .await;
    guarded.never_made("DENY4").await;
}

/// HOLE (bash and zsh). The guard's helpers hand their results back in the global `REPLY`
/// (`REPLY=$out`; `nonce=$REPLY`, `cmd=$REPLY`). The operator may give that global an
/// attribute first: lowercase (`declare -l` / `typeset -gl`) turns the base64 of every
/// command into other base64, which decodes to bytes that are no command at all. The
/// nonce is lowercase hex already, so answers still match: the approver is asked about
/// garbage, with no DENY in it, and the shell runs what it asked about. (Where the lowered
/// base64 is not canonical, sshgate's strict decoder calls the question unreadable and the
/// shell waits, so the commands here are 21 and 12 bytes long: base64 without padding.)
/// Fix: declare `REPLY` local in the function that calls the helpers (bash
/// `__sshgate_guard_debug`, zsh `__sshgate_guard_ask`), so that they assign a fresh local,
/// and in bash refuse to ask (skip the command) while `localvar_inherit` is on (next test).
#[rstest]
#[case::bash("bash", "declare -l REPLY")]
#[case::zsh("zsh", "typeset -gl REPLY")]
#[tokio::test]
async fn an_attribute_on_reply_garbles_every_question(
    #[case] shell: &str,
    #[case] attribute: &str,
) {
    let Some(mut guarded) = attacked(case_shell(shell)).await else {
        return;
    };
    guarded.line(attribute).await;
    guarded.line("eval \"touch $X${Y}55\"").await;
    guarded.not_made("DENY55");
}

/// HOLE (bash). With `shopt -s localvar_inherit` (bash 5.0+) a `local` variable starts with
/// the value and attributes of the variable it shadows: `declare -l cmd` at top level makes
/// the guard's own `local ... cmd` lowercase, and the question garbled, as above.
#[tokio::test]
async fn bash_localvar_inherit_garbles_the_guards_own_locals() {
    let Some(mut guarded) = attacked(TargetShell::Bash).await else {
        return;
    };
    guarded
        .line("shopt -s localvar_inherit; declare -l cmd")
        .await;
    guarded.line("eval \"touch $X${Y}66\"").await;
    guarded.not_made("DENY66");
}

/// WEAKNESS (no DENY runs by itself: the answer needs the open question's nonce). The
/// operator's input filter strips `ESC ] 7428 ;` as bytes, but the terminal's line
/// discipline, which sits between sshgate and every reader on the target, removes bytes
/// before a reader sees them: with IXON (on by default, and left on by the guard's `read`)
/// Ctrl+Q (0x11) is the START character and never reaches the reader. Typed as
/// `ESC ] 7 4 Ctrl+Q 2 8 ; 1 ; approve ; n=... BEL`, an answer passes the filter whole and
/// reaches the reader (here `cat`) as the guard's answer sequence. The same goes for
/// `stty istrip` with 0x9b in place of ESC. So docs/guard.md's argument point 3 ("a typed
/// or pasted answer never reaches the shell") does not hold; only the nonce's secrecy does.
/// Fix: match the prefix in `InputFilter` on `byte & 0x7f`, skipping the bytes a tty may
/// swallow (C0 controls other than ESC and BEL, at least ^Q and ^S), and drop the ESC too.
#[tokio::test]
async fn a_typed_answer_with_a_byte_the_tty_swallows_reaches_the_reader() {
    let Some(mut guarded) = attacked(TargetShell::Bash).await else {
        return;
    };
    let mark = guarded.shell.mark();
    guarded.shell.send(b"cat > got\r").await.unwrap();
    guarded.shell.expect_after(mark, "cat > got").await.unwrap();
    let forged = format!("\x1b]74\x1128;1;approve;n={}\x07", "0".repeat(32));
    guarded
        .shell
        .send(format!("typed{forged}\r").as_bytes())
        .await
        .unwrap();
    let eof = guarded.shell.mark();
    guarded.shell.send(b"\x04").await.unwrap();
    guarded.shell.expect_after(eof, "$ ").await.unwrap();
    let got = std::fs::read(guarded.dir.join("got")).unwrap();
    let got = String::from_utf8_lossy(&got);
    assert!(got.contains("typed"), "{got:?}");
    assert!(!got.contains("\x1b]7428;"), "{got:?}");
}

/// WEAKNESS (sshgate, cover.rs). A question is answered from the approved line when its
/// command occurs in the line between command boundaries, found as text: a comment, a
/// quoted string or a here-document's body count. Here the command that `eval` runs from a
/// file is answered from the line's comment, and the approver is never asked about it as a
/// command. Not a DENY run (the approver did see the text), but the promise "answered only
/// when the approver saw its command as a command of the line" does not hold.
/// Fix: match commands on the line's words as the shell reads them (skip comments, quotes
/// and here-document bodies), e.g. with the tokenizer `command_lines` uses for open
/// constructs.
/// (bash: zsh reads `#` as a comment only with INTERACTIVE_COMMENTS.)
#[tokio::test]
async fn a_command_that_occurs_only_in_a_comment_is_answered_unasked() {
    let Some(mut guarded) = attacked(TargetShell::Bash).await else {
        return;
    };
    guarded.line("echo 'touch pwned' > f").await;
    guarded
        .line("eval \"$(cat f)\" # f is checked; touch pwned")
        .await;
    assert!(guarded.exists("pwned"));
    let questions = guarded.guard_questions();
    assert!(
        questions.iter().any(|command| command == "touch pwned"),
        "{questions:?}"
    );
}

/// HOLE (zsh), the most direct: the trap skips a command by setting `options[errexit]=on`,
/// an assignment to the special parameter `options`. Inside a function, `local -hA options`
/// hides that parameter behind a plain local one (`-h`: "a local parameter with the name of
/// a special one does not keep its special effect"), and the trap's assignment lands there:
/// the approver is asked about `touch DENY20` and denies it, and it runs all the same.
/// Fix: skip by an error no parameter can hide, `: ${:?...}` (a parameter expansion of the
/// empty name, which aborts the command line; `$((1/0))` is no error under FORCE_FLOAT), when
/// `${(t)options}` is not the special parameter's own type; see the next tests for the rest.
#[tokio::test]
async fn zsh_a_local_options_lets_a_denied_command_run() {
    let Some(mut guarded) = attacked(TargetShell::Zsh).await else {
        return;
    };
    guarded
        .line("hide_options() { local -hA options; eval \"touch $X${Y}20\" }")
        .await;
    guarded.line("hide_options").await;
    guarded.never_made("DENY20").await;
}

/// HOLE (zsh). The same hiding on `funcstack`, which the guard reads to tell its own hooks'
/// commands (run unasked) from the operator's: a function that sets a local `funcstack`
/// whose second entry is `__sshgate_guard_preexec` has every later command of it run
/// unasked. Fix: check in the trap that `${(t)funcstack}` (and `${(t)functions}`,
/// `${(t)options}`) is the special parameter's type, as the guard found it when sourced.
#[tokio::test]
async fn zsh_a_local_funcstack_makes_any_command_the_guards_own() {
    let Some(mut guarded) = attacked(TargetShell::Zsh).await else {
        return;
    };
    guarded
        .line(concat!(
            "hide_funcstack() { local -ha funcstack=(hide_funcstack __sshgate_guard_preexec); ",
            "eval \"touch $X${Y}21\" }"
        ))
        .await;
    guarded.line("hide_funcstack").await;
    guarded.never_made("DENY21").await;
}

/// HOLE (zsh). The trap checks that the guard's functions are the ones it defined by
/// comparing `${functions[...]}` with `$__sshgate_guard_src`: both are parameters a
/// function's locals can hide. A function saves the real `__sshgate_guard_ask`, hides
/// `functions` behind a local one that matches `$__sshgate_guard_src`, replaces
/// `__sshgate_guard_ask` with `return 0` (asked about once, as a definition, and approved:
/// it holds no DENY), runs what it likes unasked, and puts the real one back with `eval`,
/// which makes the very same text: the next prompt's heartbeat comes as always, and sshgate
/// never hears the guard was away. Fix: compare against text embedded in the trap string
/// itself when the guard is sourced (no parameter), after checking `${(t)functions}`.
#[tokio::test]
async fn zsh_a_local_functions_hides_a_replaced_guard() {
    let Some(mut guarded) = attacked(TargetShell::Zsh).await else {
        return;
    };
    guarded
        .line(concat!(
            "hide_functions() { local orig=${functions[__sshgate_guard_ask]}; ",
            "local -hA functions=([__sshgate_guard_b64]=$__sshgate_guard_src); ",
            "__sshgate_guard_ask() { return 0 }; eval \"touch $X${Y}22\"; ",
            "eval \"__sshgate_guard_ask() { $orig }\" }"
        ))
        .await;
    guarded.line("hide_functions").await;
    guarded.never_made("DENY22").await;
    // The guard came back whole: the heartbeat went on, and no line was told it was gone.
    let warned = guarded
        .front
        .approvals
        .requests()
        .into_iter()
        .any(|request| {
            request
                .warnings
                .iter()
                .any(|warning| warning.contains("guard is gone"))
        });
    assert!(!warned);
}

/// HOLE (zsh). The base64 helper reads its alphabet from the global
/// `__sshgate_guard_b64_digits`, read-only, but zsh lets a function's `local` hide a
/// read-only global (bash does not): with a shuffled alphabet every question asked inside
/// that function reaches the approver garbled. (The function's name has 6 letters and the
/// commands are 21 and 12 bytes, so that the base64, `fn=(eval)gggggg` included, has no
/// padding that a shuffled alphabet would make non-canonical.) Fix: the alphabet as a
/// literal inside `__sshgate_guard_b64`.
#[tokio::test]
async fn zsh_a_local_base64_alphabet_garbles_the_question() {
    let Some(mut guarded) = attacked(TargetShell::Zsh).await else {
        return;
    };
    let shuffled = "BADCFEHGJILKNMPORQTSVUXWZYbadcfehgjilknmporqtsvuxwzy1032547698/+";
    guarded
        .line(&format!(
            "gggggg() {{ local __sshgate_guard_b64_digits={shuffled}; eval \"touch $X${{Y}}11\" }}"
        ))
        .await;
    guarded.line("gggggg").await;
    guarded.never_made("DENY11").await;
}

/// HOLE (zsh). zsh sets `$ZSH_DEBUG_CMD` before each trap in the current scope: a local of
/// that name with an attribute (here lowercase, from inside an `eval`, so that it holds for
/// the eval's next command) changes the text the guard asks about: the approver is asked
/// about `touch deny14`, and zsh runs `touch DENY14`. `-L 5` would cut every question to
/// its first five characters. Fix: check in the trap that `${(t)ZSH_DEBUG_CMD}` is `scalar`.
#[tokio::test]
async fn zsh_a_local_attribute_on_the_debug_command_changes_what_is_asked() {
    let Some(mut guarded) = attacked(TargetShell::Zsh).await else {
        return;
    };
    guarded
        .line("lower_cmd() { eval \"local -l ZSH_DEBUG_CMD; touch $X${Y}14\" }")
        .await;
    guarded.line("lower_cmd").await;
    guarded.never_made("DENY14").await;
}

/// HOLE (zsh, also after the guard names its hooks exactly). The guard tells its own hooks'
/// commands by `funcstack[2]`, but zsh puts a sourced file's name on funcstack too, as it was
/// given to `source`: the commands of a file named `__sshgate_guard_preexec` in the current
/// directory run unasked (`touch DENY30`), where another file's are asked about (`touch
/// DENY31`, denied). Fix: exempt a hook's commands only when the context before the trap is a
/// function (`${zsh_eval_context[-3]} == shfunc`; a sourced file's is `file`), and check
/// `zsh_eval_context`'s type in the trap like the others.
#[tokio::test]
async fn zsh_a_sourced_file_named_like_a_guard_hook_runs_unasked() {
    let Some(mut guarded) = attacked(TargetShell::Zsh).await else {
        return;
    };
    guarded
        .line("print -r -- \"touch $X${Y}31\" > f31; source f31")
        .await;
    assert!(!guarded.exists("DENY31"));
    guarded
        .line("print -r -- \"touch $X${Y}30\" > __sshgate_guard_preexec")
        .await;
    guarded.line("source __sshgate_guard_preexec").await;
    guarded.never_made("DENY30").await;
}
