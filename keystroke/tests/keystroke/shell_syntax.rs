//! Differential test: `open_construct` says "open" exactly when real bash (and, outside bash-only
//! syntax, dash) prints its continuation prompt after a snippet's last line.
//!
//! Each shell runs interactively on the snippet from a pipe, with distinct PS1 and PS2, and the
//! prompt it prints after the last line is the answer. `bash -n` cannot ask this: it drops a
//! backslash at the end of input silently and only warns about an unended here-document. An
//! interactive shell ignores `-n`, so the snippets really run: every one is harmless (builtins,
//! no loop that spins, nothing reading stdin). `setsid` keeps the shell away from the test's
//! terminal, whose job control an interactive shell would otherwise take over.

use sshgate_keystroke::open_construct;
use std::io::Write;
use std::process::{Command, Stdio};

/// `(snippet, dash agrees with bash)`. Where it does not, the lexer follows bash on purpose:
/// the proxy fronts bash, and dash only lacks the syntax (`$'...'`, `[[`, arrays, `<( )`, `|&`,
/// `function`, `select`, `$[ ]`, `for ((`) or ends a here-document differently.
const SNIPPETS: &[(&str, bool)] = &[
    ("echo a", true),
    ("mark DE\\", true),
    ("mark DE\\\nNY", true),
    ("echo a\\\\", true),
    ("echo a\\\\\\", true),
    ("echo a\\ ", true),
    ("echo 'a", true),
    ("echo 'a\\'", true),
    ("echo 'a\nb'", true),
    ("echo \"a\\\"", true),
    ("echo \"a\\", true),
    ("echo $'a\\'b", false),
    ("echo $'\\''", false),
    ("echo `echo \\`echo\\``", true),
    ("echo `echo \"`", true),
    ("echo `a\\`", true),
    ("echo a#b\\", true),
    ("echo a #b\\", true),
    ("echo a #'", true),
    ("echo a;#\\", true),
    ("echo $#\\", true),
    ("echo $( # )\n)", true),
    ("echo $(echo \")\")", true),
    ("echo \"$(echo \"", true),
    ("echo ${a:-\"}\"", true),
    ("echo \"${a:-'}\"", false),
    ("echo $(( (1", true),
    ("x=$((echo a); (echo b))", false),
    ("((1+", true),
    ("echo $[1+", false),
    ("a=(1 2", false),
    ("cat <(echo", false),
    ("[[ a =~ (a|b) ]]", false),
    ("[[ a &&\nb ]]", false),
    ("cat <<EOF", true),
    ("cat <<EOF\nx\nEOF", true),
    ("cat <<EOF\nEOF ", true),
    ("cat <<-EOF\n\tEOF", true),
    ("cat <<EOF\n\tEOF", true),
    ("cat <<'EOF'\nEOF", true),
    ("cat <<\"E\"OF\nEOF", true),
    ("cat <<\\EOF\nEOF", true),
    ("cat <<EOF <<END\nEOF", true),
    ("cat <<EOF\na\\\nEOF", true),
    ("cat <<\"EOF\"\na\\\nEOF", true),
    ("cat <<EOF\n$(\nEOF", false),
    ("cat <<EOF; echo \"a\nb\"", true),
    ("cat <<EOF $(echo\n)", true),
    ("echo $(cat <<EOF)", false),
    ("cat <<<EOF", true),
    ("if true", true),
    ("if true; then echo; fi", true),
    ("if true; then :; elif", true),
    ("echo if", true),
    ("x=1 if", true),
    ("i\\\nf true", true),
    ("echo a&if", true),
    ("time if", false),
    ("while true; do", true),
    ("for i in a b", true),
    ("for i do :; done", true),
    ("for ((i=0;", false),
    ("select x in a; do", false),
    ("{ echo }", true),
    ("{echo;", true),
    ("case a in a) echo;;", true),
    ("case a in (a|b) echo;; (c) ;; esac", true),
    ("case a in a) echo esac", true),
    ("case a in a) case b in b) ;; esac", true),
    ("echo $(case a in a) echo;; esac)", true),
    ("echo $(case a in a) echo", true),
    ("f() {", true),
    ("f()\n{", true),
    ("f ( )", true),
    ("function f", false),
    ("f() { echo; } |", true),
    ("echo a |", true),
    ("echo a | # c", true),
    ("echo a &&\nb", true),
    ("echo ||", true),
    ("echo a |&", false),
    ("echo a;", true),
    ("echo a &", true),
];

struct Shell {
    name: &'static str,
    args: &'static [&'static str],
}

const BASH: Shell = Shell {
    name: "bash",
    args: &["--norc", "--noprofile", "--noediting", "+H", "-i"],
};
const DASH: Shell = Shell {
    name: "dash",
    args: &["-i"],
};

/// Whether `shell` and `setsid` can run here; without them the test skips, unless under CI.
fn available(shell: &Shell) -> bool {
    let runs = |program: &str| {
        Command::new(program)
            .arg("true")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    let present = runs("setsid") && Command::new(shell.name).arg("-c").arg(":").status().is_ok();
    if !present && std::env::var_os("CI").is_some() {
        panic!("{} and setsid are required under CI", shell.name);
    }
    if !present {
        eprintln!("skipping: {} or setsid is not installed", shell.name);
    }
    present
}

/// Whether `shell` prints its continuation prompt after the snippet's last line.
fn shell_keeps_reading(shell: &Shell, snippet: &str) -> bool {
    let mut child = Command::new("setsid")
        .arg(shell.name)
        .args(shell.args)
        .env_clear()
        .env("PS1", "<P1>")
        .env("PS2", "<P2>")
        .env("HISTFILE", "")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the shell");
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin
        .write_all(format!("{snippet}\n").as_bytes())
        .expect("write the snippet");
    drop(stdin);
    let output = child.wait_with_output().expect("wait for the shell");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let prompts: Vec<&str> = stderr
        .match_indices("<P")
        .map(|(at, _)| &stderr[at + 2..at + 3])
        .collect();
    // bash prints no prompt for a line it joins to a here-document body line ending in a
    // backslash, so there the count below runs short; its end-of-input warning says "open".
    if stderr.contains("delimited by end-of-file") {
        return true;
    }
    // One prompt before each line of the snippet, then the one this test asks about.
    let lines = snippet.split('\n').count();
    match prompts.get(lines) {
        Some(&prompt) => prompt == "2",
        None => panic!(
            "{}: no prompt after {snippet:?}; stderr:\n{stderr}",
            shell.name
        ),
    }
}

fn disagreements(shell: &Shell, snippets: impl Iterator<Item = &'static str>) -> Vec<String> {
    snippets
        .filter_map(|snippet| {
            let shell_open = shell_keeps_reading(shell, snippet);
            let lexer = open_construct(snippet);
            (shell_open != lexer.is_some()).then(|| {
                format!(
                    "{snippet:?}: {} open = {shell_open}, lexer = {lexer:?}",
                    shell.name
                )
            })
        })
        .collect()
}

#[test]
fn lexer_agrees_with_bash() {
    if !available(&BASH) {
        return;
    }
    let wrong = disagreements(&BASH, SNIPPETS.iter().map(|&(snippet, _)| snippet));
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn lexer_agrees_with_dash_outside_bash_syntax() {
    if !available(&DASH) {
        return;
    }
    let portable = SNIPPETS
        .iter()
        .filter(|&&(_, dash)| dash)
        .map(|&(snippet, _)| snippet);
    let wrong = disagreements(&DASH, portable);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
