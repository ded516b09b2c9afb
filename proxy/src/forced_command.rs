//! The command line that runs a key's forced command (`command=`) on the target, with the
//! operator's own command in `SSH_ORIGINAL_COMMAND` as sshd sets it.
//!
//! The variable is set by the command line, not by an env request, which a target's sshd
//! refuses unless its AcceptEnv lists it. The target user's login shell reads that line, so
//! the operator's text is quoted to be one word, read back unchanged, in POSIX shells (sh,
//! bash, dash, zsh, ksh) and in fish: whatever the operator sends is data, never code.

/// `export SSH_ORIGINAL_COMMAND='...'; <forced>`, or the forced command alone when the
/// operator asked for a shell (as in sshd, which then sets no variable).
pub fn command_line(original: Option<&str>, forced: &str) -> String {
    match original {
        Some(original) => format!("export SSH_ORIGINAL_COMMAND={}; {forced}", quoted(original)),
        None => forced.to_string(),
    }
}

/// `text` in single quotes, each `'` and `\` written as `"'"` and `"\\"` between them. A
/// single-quoted string ends only at `'` in POSIX shells, but fish also reads `\'` and `\\`
/// in it: `'\'` does not end there, and the rest of the operator's text would run as code.
/// Inside double quotes both shells read `\\` as one backslash and `'` as itself.
fn quoted(text: &str) -> String {
    let mut quoted = String::from("'");
    for c in text.chars() {
        match c {
            '\'' => quoted.push_str("'\"'\"'"),
            '\\' => quoted.push_str("'\"\\\\\"'"),
            c => quoted.push(c),
        }
    }
    quoted.push('\'');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Operator commands that end a quoted word early in one shell or another.
    const HOSTILE: &[&str] = &[
        "ls -l /etc",
        "it's",
        "\\'; echo INJECTED; #",
        "a\\",
        "\\\\'; echo INJECTED #",
        "\"; echo INJECTED; #",
        "$(echo INJECTED) `echo INJECTED` $HOME",
        "first\necho INJECTED\n",
        "caf\u{e9} \u{2018}quoted\u{2019}",
        "",
    ];

    /// Each login shell a target may have, run on the command line as sshd runs it
    /// (`SHELL -c LINE`), gets back exactly the operator's command and runs nothing else.
    #[test]
    fn every_shell_reads_the_operators_command_back_as_data() {
        let forced = "printf '[%s]' \"$SSH_ORIGINAL_COMMAND\"";
        for shell in ["sh", "bash", "dash", "zsh", "fish"] {
            for original in HOSTILE {
                let line = command_line(Some(original), forced);
                let output = match Command::new(shell).arg("-c").arg(&line).output() {
                    Ok(output) => output,
                    Err(_) if std::env::var_os("CI").is_none() => continue,
                    Err(error) => panic!("{shell} cannot run here: {error}"),
                };
                let stdout = String::from_utf8_lossy(&output.stdout);
                assert_eq!(
                    stdout,
                    format!("[{original}]"),
                    "{shell} -c {line:?}; stderr {}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
        }
    }

    #[test]
    fn a_shell_request_runs_the_forced_command_alone() {
        assert_eq!(command_line(None, "uptime"), "uptime");
    }
}
