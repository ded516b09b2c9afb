//! Differential test: [`expand`] against the bash on this machine.
//!
//! bash expands with `history -p` in a non-interactive shell with history on
//! (`set -o history -H`), its history list cleared and refilled with `history -s`. On bash 5.2
//! this gave the same text as an interactive `bash -i` on a pty for 46 lines (failures and `:p`
//! included), so it stands in for the interactive shell here.
//!
//! Rules checked on every pair: `expand` never says `Unchanged` when bash changes the line or
//! rejects it, and whenever it says `complete: true` it agrees with bash: the same text when
//! the line runs, a failure or the same printed text when it does not. Without bash the test
//! skips, unless the environment variable `CI` is set.

use std::process::Command;

use sshgate_keystroke::{expand, Expansion};

/// (history, oldest first; line).
const CASES: &[(&[&str], &str)] = &[
    (&["echo a b", "echo DE"], "!!NY"),
    (&["echo a b", "echo DE"], "^DE^XX"),
    (&["echo a b", "echo DE"], "^DE^XX^ tail"),
    (&["echo a b", "echo DE"], "^DE^XX^:p"),
    (&["echo a b", "echo DE"], "^QQ^XX"),
    (&["echo a b", "echo DE"], "!-2 z"),
    (&["echo a b", "echo DE"], "!-3"),
    (&["echo a b", "echo DE"], "!1"),
    (&["echo a b", "echo DE"], "!ec"),
    (&["echo a b", "echo DE"], "!zz"),
    (&["echo a b", "echo DE"], "!?a b?"),
    (&["echo a b", "echo DE"], "!?DE"),
    (&["echo a b", "echo DE"], "!e-"),
    (&["echo a b", "echo DE"], "echo !#"),
    (&["echo a b", "echo DE"], "echo a !#:1"),
    (&["echo a b c"], "echo !:2 !!:0 !!:1-2 !!:2* !!:1-"),
    (&["echo a b c"], "echo !$ !^ !* !:1"),
    (&["echo a b c"], "echo !!:-2 !!:^-$ !!:1*"),
    (&["echo a b c"], "echo !!:36 !!:0-36"),
    (&["echo /usr/lib/x.tar.gz"], "echo !$:h !$:t !$:r !$:e"),
    (&["echo plain"], "echo !$:h !$:t !$:r !$:e"),
    (&["echo a b"], "!!:p"),
    (&["echo a b"], "echo !!:q"),
    (&["echo it's"], "echo !!:q !!:x"),
    (&["echo aaa"], "!!:s/a/b/"),
    (&["echo aaa"], "!!:gs/a/b/"),
    (&["echo aaa"], "!!:as/a/b/"),
    (&["echo aaa abab"], "!!:s/a/b/:&"),
    (&["echo aaa abab"], "!!:s/a/b/:g&"),
    (&["echo aaa abab"], "!!:Gs/a/b/"),
    (&["echo aaa"], "!!:s/a/[&]/"),
    (&["echo aaa"], "!!:s/a/[\\&]/"),
    (&["echo a/b"], "!!:s+/+\\++"),
    (&["echo aaa"], "!!:gs/a//"),
    (&["echo aaa"], "!!:s/a/b"),
    (&["echo x y"], "!!:s/q/r/"),
    (&["echo x y"], "!!:9"),
    (&["echo x y"], "!!:z"),
    (&["echo x y"], "!!:2-1"),
    (&["echo tar x.tgz; ls -l /tmp"], "echo !$ !!:2 !!:3 !!:4"),
    (
        &["cat <(ls x) >>out 2>&1 | wc"],
        "echo !!:1 !!:2 !!:3 !!:4 !!:5",
    ),
    (
        &["echo \"a b\" 'c d' `e f` $(g h)"],
        "echo !!:1 !!:2 !!:3 !!:4",
    ),
    (&["echo a # b c"], "echo !$"),
    (&["echo a b"], "echo 'x !! y'"),
    (&["echo a b"], "echo \"x !! y\""),
    (&["echo a b"], "echo \"a!\""),
    (&["echo a b"], "echo \\!!"),
    (&["echo a b"], "echo \\\\!!"),
    (&["echo a b"], "echo $'!!'"),
    (&["echo a b"], "echo $'a\\'!!'"),
    (&["echo a b"], "echo ! x"),
    (&["echo a b"], "echo x!=y"),
    (&["echo a b"], "echo end!"),
    (&["echo a b"], "echo \"!\\\"\""),
    (&["echo a b"], "echo [!a]"),
    (&["echo a b"], "echo [!a] !!"),
    (&["echo a b"], "echo ${!x}"),
    (&["echo a b"], "echo $!"),
    (&["echo a b"], "$!!"),
    (&["echo a b"], "echo $! !!"),
    (&["echo a b"], "echo !(x)"),
    (&["echo a b"], "echo a # !!"),
    (&["echo a b"], "echo a#!!"),
    (&["echo a b"], "echo \"a ! b 'c\" !!"),
    (&["echo a b"], "echo \"$(echo '!!')\""),
    (&["echo a b"], "echo `echo '!!'`"),
    (&["echo a b"], "echo \"it's !!\""),
    (&["echo a b"], "echo !!;"),
    (&["echo a b"], "echo !;"),
    (&["echo a b"], "echo x;!!"),
    (&["echo a b"], "echo \"!ec\""),
    (&["echo a b"], "echo !?b?:%"),
    (&["echo a b"], "echo !?b?:s//X/"),
    // bash 5.2 reads past the end of an unclosed single quote, and its second pass expands `!'`
    // after `\\` (found by `random_lines_agree_with_bash`).
    (&["echo a"], "{#)c\\\\!'$\\$ #{!:"),
    (&["echo a"], "\\\\!'a' !!"),
    (&["echo a"], "echo 'it!s"),
    (&[], "!!"),
    (&[], "echo hello"),
];

/// Lines from these characters (more `!` than the others), 1 to 30 of them, after
/// [`RANDOM_HISTORY`].
const RANDOM_ALPHABET: &str = "!!!!^'\"\\$[]{}()#:; aeDE?-*&|=`<>sg/%";
const RANDOM_HISTORY: &[&str] = &["echo a b", "echo DE's \"q\" x/y.z"];

/// bash's expansion of `line` after `history`, or `None` when bash rejects the line.
fn bash_expand(history: &[&str], line: &str) -> Option<String> {
    // One line: bash records each line it reads once history is on, and `history -s` replaces
    // only the newest entry, so a second line of script would stay in the list.
    let script = concat!(
        "set -o history -H; history -c; ",
        r#"for entry in "${@:1:$#-1}"; do history -s "$entry"; done; "#,
        r#"history -p -- "${@: -1}""#,
    );
    let output = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", script, "bash"])
        .args(history)
        .arg(line)
        .env_remove("BASH_ENV")
        .env("LC_ALL", "C")
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8(output.stdout).expect("bash prints UTF-8");
    output
        .status
        .success()
        .then(|| stdout.strip_suffix('\n').unwrap_or(&stdout).to_owned())
}

fn bash_available() -> bool {
    Command::new("bash")
        .args(["--norc", "--noprofile", "-c", "true"])
        .status()
        .is_ok_and(|status| status.success())
}

/// What is wrong with `ours` given bash's answer, if anything.
fn disagreement(line: &str, bash: &Option<String>, ours: &Expansion) -> Option<String> {
    let bash_changes = bash.as_deref() != Some(line);
    match ours {
        Expansion::Unchanged if bash_changes => Some("Unchanged, but bash expands it".into()),
        Expansion::Expanded {
            text,
            complete: true,
            runs,
        } => {
            let agrees = match bash {
                Some(bash) => bash == text,
                None => !runs,
            };
            (!agrees).then(|| "complete, but not what bash does".into())
        }
        _ => None,
    }
}

#[test]
fn expand_agrees_with_bash() {
    if !bash_available() {
        assert!(
            std::env::var_os("CI").is_none(),
            "bash is required when CI is set"
        );
        eprintln!("skipped: no bash on this machine");
        return;
    }
    let mut compared = 0;
    let mut failures = Vec::new();
    for (history, line) in CASES {
        let bash = bash_expand(history, line);
        let owned: Vec<String> = history.iter().map(|entry| entry.to_string()).collect();
        let ours = expand(line, &owned);
        if std::env::var_os("SSHGATE_SHOW_EXPANSIONS").is_some() {
            eprintln!("{line:?}\n  bash: {bash:?}\n  ours: {ours:?}");
        }
        if matches!(
            ours,
            Expansion::Unchanged | Expansion::Expanded { complete: true, .. }
        ) {
            compared += 1;
        }
        if let Some(why) = disagreement(line, &bash, &ours) {
            failures.push(format!(
                "{why}\n  history: {history:?}\n  line:    {line:?}\n  bash:    {bash:?}\n  ours:    {ours:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    // Most cases must be ones `expand` is sure of, or agreement proves little.
    assert!(
        compared * 3 >= CASES.len() * 2,
        "only {compared} of {} compared",
        CASES.len()
    );
}

/// xorshift64: the same lines on every run.
fn random_lines(count: usize) -> Vec<String> {
    let alphabet: Vec<char> = RANDOM_ALPHABET.chars().collect();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count)
        .map(|_| {
            let len = next() % 30 + 1;
            (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect()
        })
        .collect()
}

/// One bash for all lines: each `history -p` runs in its own subshell, so no line sees the
/// search or substitution an earlier one left behind.
fn bash_expand_each(history: &[&str], lines: &[String]) -> Vec<Option<String>> {
    let script = concat!(
        "set -o history -H; history -c; ",
        r#"for entry in "${@:2:$1}"; do history -s "$entry"; done; shift $(($1 + 1)); "#,
        r#"for line in "$@"; do "#,
        r#"out=$(history -p -- "$line" 2>/dev/null) && printf 'ok %s\0' "$out" || printf 'failed\0'; "#,
        "done",
    );
    let output = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", script, "bash"])
        .arg(history.len().to_string())
        .args(history)
        .args(lines)
        .env_remove("BASH_ENV")
        .env("LC_ALL", "C")
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8(output.stdout).expect("bash prints UTF-8");
    let results: Vec<Option<String>> = stdout
        .split_terminator('\0')
        .map(|result| result.strip_prefix("ok ").map(str::to_owned))
        .collect();
    assert_eq!(results.len(), lines.len(), "one answer per line from bash");
    results
}

#[test]
fn random_lines_agree_with_bash() {
    if !bash_available() {
        assert!(
            std::env::var_os("CI").is_none(),
            "bash is required when CI is set"
        );
        return;
    }
    let lines = random_lines(1000);
    let bash = bash_expand_each(RANDOM_HISTORY, &lines);
    let history: Vec<String> = RANDOM_HISTORY
        .iter()
        .map(|entry| entry.to_string())
        .collect();
    let failures: Vec<String> = lines
        .iter()
        .zip(&bash)
        .filter_map(|(line, bash)| {
            let ours = expand(line, &history);
            disagreement(line, bash, &ours)
                .map(|why| format!("{why}\n  line: {line:?}\n  bash: {bash:?}\n  ours: {ours:?}"))
        })
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
