//! One command line, one request: the guard asks about every command the shell runs (bash per
//! simple command, zsh per sublist), and the operator's line was already asked about as a
//! whole when it was submitted. An ask is answered from that approval only when the approver
//! saw its command, as written, as a command of the line; anything else is a request of its own.

use sshgate_keystroke::command_starts;

use super::sequence::{Ask, Origin};

/// What may follow a command in a line: its end, an operator, a comment.
const AFTER_COMMAND: &[char] = &[';', '&', '|', ')', '}', '\n', '#'];

/// The lines approved since the shell last drew a prompt (its heartbeat): the commands the
/// approver has seen as the operator's.
#[derive(Debug, Default)]
pub struct ApprovedLines {
    lines: Vec<String>,
}

impl ApprovedLines {
    /// The approver approved `line`, submitted at the shell's prompt.
    pub fn approved(&mut self, line: &str) {
        self.lines.push(line.to_string());
    }

    /// A prompt: the lines before it have run.
    pub fn prompt(&mut self) {
        self.lines.clear();
    }

    /// Whether `ask` runs a command of an approved line, as the approver saw it there: from the
    /// line itself (not a hook, binding or function), in the shell itself (not a subshell,
    /// whose commands the line may show inside `$(...)` but not as commands), and written in
    /// the line in command position.
    pub fn cover(&self, ask: &Ask) -> bool {
        ask.origin == Origin::Line
            && ask.functions.is_empty()
            && ask.subshell == 0
            && self
                .lines
                .iter()
                .any(|line| written_as_command(line, ask.command.trim_end()))
    }
}

/// Whether `command` occurs in `line`, as the shell reads it, starting where the shell starts
/// a command it runs itself (not in a comment, quotes, a here-document's body, `$( )` or a
/// function's body: see [`command_starts`]) and ending where that command may end.
fn written_as_command(line: &str, command: &str) -> bool {
    if command.is_empty() {
        return false;
    }
    let line = command_starts(line);
    let read = &line.read;
    read.match_indices(command).any(|(at, _)| {
        let after = read[at + command.len()..].trim_start_matches([' ', '\t']);
        line.starts.contains(&at) && (after.is_empty() || after.starts_with(AFTER_COMMAND))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(command: &str) -> Ask {
        Ask {
            nonce: String::new(),
            shell: "bash".into(),
            origin: Origin::Line,
            functions: String::new(),
            subshell: 0,
            command: command.into(),
        }
    }

    fn covered(line: &str, command: &str) -> bool {
        let mut lines = ApprovedLines::default();
        lines.approved(line);
        lines.cover(&ask(command))
    }

    #[test]
    fn the_commands_of_the_line_are_covered() {
        assert!(covered("touch x", "touch x"));
        assert!(covered("a && b; c | d", "b"));
        assert!(covered("a && b; c | d", "c"));
        assert!(covered("a && b; c | d", "d"));
        assert!(covered("if true; then touch x; fi", "touch x"));
        assert!(covered("for i in 1 2; do echo $i; done", "echo $i"));
        assert!(covered(
            "echo a | cat && echo b ",
            "echo a | cat && echo b "
        ));
        assert!(covered("ls # list", "ls"));
    }

    #[test]
    fn text_that_is_not_a_command_of_the_line_is_not_covered() {
        // An alias `ls='rm -rf /'` runs text that the line holds only as an argument.
        assert!(!covered("ls; echo rm -rf /", "rm -rf /"));
        assert!(!covered("echo \"rm -rf /\"", "rm -rf /"));
        assert!(!covered("mk", "touch x"));
        assert!(!covered("touch xy", "touch x"));
        assert!(!covered("echo then touch x", "touch x"));
        assert!(!covered("echo if ! touch x", "touch x"));
        assert!(covered("if ! touch x; then :; fi", "touch x"));
        assert!(!covered("anything", ""));
        // Text where the shell reads no command: a comment, quotes, a here-document's body,
        // a function's body (run later, and asked about then with fn= its name).
        assert!(!covered("eval \"$(cat f)\" # checked; touch x", "touch x"));
        assert!(!covered("echo '\ntouch x\n'", "touch x"));
        assert!(!covered("cat <<E\ntouch x\nE", "touch x"));
        assert!(!covered("f() { touch x; }", "touch x"));
        // A line joined by backslash-newline is the command the shell runs.
        assert!(covered("touch \\\nx", "touch x"));
    }

    #[test]
    fn only_the_lines_own_commands_at_top_level_are_covered() {
        let mut lines = ApprovedLines::default();
        lines.approved("f; touch x");
        for (origin, functions, subshell) in [
            (Origin::Prompt, "", 0),
            (Origin::Bind, "", 0),
            (Origin::Line, "f", 0),
            (Origin::Line, "", 1),
        ] {
            let ask = Ask {
                origin,
                functions: functions.into(),
                subshell,
                ..ask("touch x")
            };
            assert!(!lines.cover(&ask), "{ask:?}");
        }
        assert!(lines.cover(&ask("touch x")));
        lines.prompt();
        assert!(!lines.cover(&ask("touch x")), "a new prompt, a new line");
    }
}
