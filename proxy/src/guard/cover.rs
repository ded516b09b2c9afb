//! One command line, one request: the guard asks about every command the shell runs (bash per
//! simple command, zsh per sublist), and the operator's line was already asked about as a
//! whole when it was submitted. An ask is answered from that approval only when the approver
//! saw its command, as written, as a command of the line; anything else is a request of its own.

use sshgate_keystroke::command_starts;

use super::sequence::{Ask, Origin};

/// Tokens that may follow a command in a line: operators, a newline, a closing brace, a
/// comment.
const AFTER_COMMAND: &[&str] = &[";", "&", "|", ")", "}", "#"];

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

/// Whether `command` occurs in `line` as a command of it: its tokens in a row, the first where
/// the shell itself starts a command (not in a comment, quotes, a here-document's body, `$( )`
/// or a function's body: see [`command_starts`]), and up to where that command may end.
/// Tokens, not text, because shells report a command rebuilt from its parse (bash's
/// `>/dev/null` comes back as `> /dev/null`, zsh's `a|b` as `a | b`).
fn written_as_command(line: &str, command: &str) -> bool {
    let starts = command_starts(line);
    let line = separated(tokens(&starts.read));
    let command: Vec<String> = separated(tokens(command))
        .into_iter()
        .map(|(_, token)| token)
        .collect();
    if command.is_empty() || command.len() > line.len() {
        return false;
    }
    (0..=line.len() - command.len()).any(|at| {
        starts.starts.contains(&line[at].0)
            && line[at..at + command.len()]
                .iter()
                .map(|(_, token)| token)
                .eq(command.iter())
            && line
                .get(at + command.len())
                .is_none_or(|(_, next)| AFTER_COMMAND.contains(&next.as_str()))
    })
}

/// `tokens` with the separators as a shell's rebuilt text may differ in them: a newline is a
/// `;`, and a `;` that separates nothing (at the start, after another, after a reserved word
/// or an opening brace) is dropped. zsh gives `if true; then echo; fi` as
/// `if true\nthen\n\techo\nfi`, and a function `f() { a; }` as `f () {\n\ta\n}`.
fn separated(tokens: Vec<(usize, String)>) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::with_capacity(tokens.len());
    for (at, token) in tokens {
        let token = if token == "\n" {
            ";".to_string()
        } else {
            token
        };
        let redundant = token == ";"
            && out.last().is_none_or(|(_, last)| {
                last == ";" || last == "{" || ["then", "do", "else"].contains(&last.as_str())
            });
        if !redundant {
            out.push((at, token));
        }
    }
    out
}

/// A line's words and operators with the byte offset each starts at, as a shell would split
/// them: quoted text and escaped characters stay inside their word (quotes and all), blanks
/// separate words, each of `; & | < > ( )` and a newline is a token of its own, and a comment
/// is one `#` token.
fn tokens(text: &str) -> Vec<(usize, String)> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    let mut word_at = 0;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    let mut chars = text.char_indices();
    let finish = |word: &mut String, at: usize, tokens: &mut Vec<(usize, String)>| {
        if !word.is_empty() {
            tokens.push((at, std::mem::take(word)));
        }
    };
    while let Some((at, c)) = chars.next() {
        if word.is_empty() {
            word_at = at;
        }
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
            (None, ' ' | '\t') => finish(&mut word, word_at, &mut tokens),
            (None, '#') if word.is_empty() => {
                tokens.push((at, "#".into()));
                // The comment runs to the end of its line.
                if let Some((end, _)) = chars.by_ref().find(|(_, c)| *c == '\n') {
                    tokens.push((end, "\n".into()));
                }
            }
            (None, ';' | '&' | '|' | '<' | '>' | '(' | ')' | '\n') => {
                finish(&mut word, word_at, &mut tokens);
                tokens.push((at, c.to_string()));
            }
            (None, _) => word.push(c),
        }
    }
    finish(&mut word, word_at, &mut tokens);
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
