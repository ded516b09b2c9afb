//! One command line, one request: the guard asks about every command the shell runs (bash per
//! simple command, zsh per sublist), and the operator's line was already asked about as a
//! whole when it was submitted. An ask is answered from that approval only when the approver
//! saw its command, as written, as a command of the line; anything else is a request of its own.

use super::sequence::{Ask, Origin};

/// Tokens after which a word is in command position: operators, a newline, braces.
const BEFORE_COMMAND: &[&str] = &[";", "&", "|", "(", ")", "{", "}", "\n"];
/// Tokens that may follow a command in a line: operators, a newline, a closing brace, a
/// comment.
const AFTER_COMMAND: &[&str] = &[";", "&", "|", ")", "}", "\n", "#"];
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

/// Whether `command` occurs in `line` as a command: its tokens, in a row, with a command
/// boundary on both sides. Tokens, not text, because shells report a command rebuilt from
/// its parse (bash's `>/dev/null` comes back as `> /dev/null`, zsh's `a|b` as `a | b`).
fn written_as_command(line: &str, command: &str) -> bool {
    let (line, command) = (separated(tokens(line)), separated(tokens(command)));
    if command.is_empty() || command.len() > line.len() {
        return false;
    }
    (0..=line.len() - command.len()).any(|at| {
        line[at..at + command.len()] == command[..]
            && command_position(&line[..at])
            && line
                .get(at + command.len())
                .is_none_or(|next| AFTER_COMMAND.contains(&next.as_str()))
    })
}

/// Whether a word after `before` is in command position: at the start, after an operator, or
/// after a reserved word that is itself in command position (`if ! cmd`, `; then cmd`).
fn command_position(before: &[String]) -> bool {
    match before.split_last() {
        None => true,
        Some((last, rest)) => {
            BEFORE_COMMAND.contains(&last.as_str())
                || (KEYWORDS.contains(&last.as_str()) && command_position(rest))
        }
    }
}

/// `tokens` with the separators as a shell's rebuilt text may differ in them: a newline is a
/// `;`, and a `;` that separates nothing (at the start, after another, after a reserved word
/// or an opening brace) is dropped. zsh gives `if true; then echo; fi` as
/// `if true\nthen\n\techo\nfi`, and a function `f() { a; }` as `f () {\n\ta\n}`.
fn separated(tokens: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(tokens.len());
    for token in tokens {
        let token = if token == "\n" {
            ";".to_string()
        } else {
            token
        };
        let redundant = token == ";"
            && out.last().is_none_or(|last| {
                last == ";" || last == "{" || ["then", "do", "else"].contains(&last.as_str())
            });
        if !redundant {
            out.push(token);
        }
    }
    out
}

/// A line's words and operators, as a shell would split them: quoted text and escaped
/// characters stay inside their word (quotes and all), blanks separate words, each of
/// `; & | < > ( )` and a newline is a token of its own, and a comment is one `#` token.
fn tokens(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut chars = text.chars();
    let finish = |word: &mut String, tokens: &mut Vec<String>| {
        if !word.is_empty() {
            tokens.push(std::mem::take(word));
        }
    };
    while let Some(c) = chars.next() {
        if escaped {
            word.push(c);
            escaped = false;
            continue;
        }
        match (quote, c) {
            (Some('\''), '\'') | (Some('"'), '"') => {
                word.push(c);
                quote = None;
            }
            (Some('"'), '\\') | (None, '\\') => {
                word.push(c);
                escaped = true;
            }
            (Some(_), _) => word.push(c),
            (None, '\'' | '"') => {
                word.push(c);
                quote = Some(c);
            }
            (None, ' ' | '\t') => finish(&mut word, &mut tokens),
            (None, '#') if word.is_empty() => {
                finish(&mut word, &mut tokens);
                tokens.push("#".into());
                // The comment runs to the end of its line.
                if chars.by_ref().any(|c| c == '\n') {
                    tokens.push("\n".into());
                }
            }
            (None, ';' | '&' | '|' | '<' | '>' | '(' | ')' | '\n') => {
                finish(&mut word, &mut tokens);
                tokens.push(c.to_string());
            }
            (None, _) => word.push(c),
        }
    }
    finish(&mut word, &mut tokens);
    tokens
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
        // Shells give the command rebuilt from its parse.
        assert!(covered("head -n1 >/dev/null", "head -n1 > /dev/null"));
        assert!(covered("echo a|cat&&echo b", "echo a | cat && echo b"));
        assert!(covered("echo \"a  b\" 2>&1", "echo \"a  b\" 2>&1"));
        assert!(covered(
            "if true\nthen echo DE; fi",
            "if true\nthen\n\techo DE\nfi"
        ));
        assert!(covered(
            "w() { eval \"x\"; }; zle -N w",
            "w () {\n\teval \"x\"\n}"
        ));
    }

    #[test]
    fn text_that_is_not_a_command_of_the_line_is_not_covered() {
        // An alias `ls='rm -rf /'` runs text that the line holds only as an argument.
        assert!(!covered("ls; echo rm -rf /", "rm -rf /"));
        assert!(!covered("echo \"rm -rf /\"", "rm -rf /"));
        // Operators inside quotes are text, not boundaries.
        assert!(!covered("ls; echo \"; rm -rf / ;\"", "rm -rf /"));
        assert!(!covered("ls; echo '; rm -rf / ;'", "rm -rf /"));
        assert!(!covered("ls; echo \\; rm -rf /", "rm -rf /"));
        assert!(!covered("echo \"a b\"", "echo \"a  b\""));
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
