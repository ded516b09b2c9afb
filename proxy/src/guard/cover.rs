//! One command line, one request: the guard asks about every command the shell runs (bash per
//! simple command, zsh per sublist), and the operator's line was already asked about as a
//! whole when it was submitted. An ask is answered from that approval only when the approver
//! saw its command, as written, as a command of the line; anything else is a request of its own.

use super::sequence::{Ask, Origin};

/// Where a command may start in a line: after these, a word is in command position.
const BEFORE_COMMAND: &[char] = &[';', '&', '|', '(', ')', '{', '\n'];
/// What may follow a command in a line: its end, an operator, a comment.
const AFTER_COMMAND: &[char] = &[';', '&', '|', ')', '}', '\n', '#'];
/// Reserved words after which a word is in command position.
const KEYWORDS: &[&str] = &["then", "do", "else", "elif", "if", "while", "until", "!"];

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

/// Whether `command` occurs in `line` with a command boundary on both sides.
fn written_as_command(line: &str, command: &str) -> bool {
    if command.is_empty() {
        return false;
    }
    line.match_indices(command).any(|(at, _)| {
        let after = line[at + command.len()..].trim_start_matches([' ', '\t']);
        command_position(&line[..at]) && (after.is_empty() || after.starts_with(AFTER_COMMAND))
    })
}

/// Whether a word after `before` is in command position: at the start, after an operator, or
/// after a reserved word that is itself in command position (`if ! cmd`, `; then cmd`).
fn command_position(before: &str) -> bool {
    let before = before.trim_end_matches([' ', '\t']);
    before.is_empty()
        || before.ends_with(BEFORE_COMMAND)
        || KEYWORDS.iter().any(|keyword| {
            before.strip_suffix(keyword).is_some_and(|rest| {
                let word_ends = rest.is_empty() || rest.ends_with([' ', '\t', ';', '\n']);
                word_ends && command_position(rest)
            })
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
