//! The commands a shell reads: across lines, and through its history.
//!
//! A shell runs commands, not lines.
//! After `mark DE\` the shell runs nothing and waits for more; `NY` on the next line makes it
//! run `mark DENY`. The same holds for an open quote, a here-document, an unfinished compound
//! command or a trailing `|`. So each line submitted while a command continues is asked about
//! as the whole command so far, as the shell will read it, with the new line beside it.
//!
//! Two sources say whether a command continues: the lexer of `sshgate-keystroke`
//! ([`open_construct`]) and the screen (the prompt in front of the line: the shell's primary
//! prompt, or a continuation prompt such as `> `). Where they disagree the request is
//! uncertain. A deny or a Ctrl+C sent while a command continues is meant to drop the whole
//! command; until the screen shows the primary prompt again the earlier lines are taken to be
//! still there.
//!
//! Before it parses a line, bash (and zsh) expands history references in it: after `echo DE`
//! ran, `!!NY` runs `echo DENY`. Each line is asked about as it will read after expansion,
//! rebuilt from the commands the proxy itself forwarded ([`expand_from`]); that is never certain
//! (the shell's history may hold lines from before the session).

use crate::semantic_prompt::PromptKind;
use sshgate_keystroke::{as_read, expand_from, open_construct, Expansion, LineStart, Open};

/// What a request says about a submitted line in the light of the lines before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asked {
    /// The whole command so far as the shell will read it, or the line alone.
    pub command: String,
    /// The line just submitted, when it continues a command.
    pub continuation: Option<String>,
    /// The line as typed, when history expansion changes it.
    pub typed: Option<String>,
    /// Why the proxy cannot be sure of the command.
    pub doubts: Vec<String>,
}

const PRIMARY_PROMPT_SHOWN: &str = "the command looks unfinished, but the shell shows its \
     primary prompt: it may run this line on its own";
const EXPANDED: &str = "history expansion (`!`, `^`) changes this line: the command is shown \
     as it will run, rebuilt from the commands sshgate forwarded; the shell's history may hold \
     others (from before the session, lines it drops with HISTCONTROL, multi-line commands \
     joined its own way), and then it runs something else";
const KEPT_BACKSLASH_NEWLINE: &str = "a backslash before a newline is kept as quoted text here; \
     a shell that reads the quoting otherwise runs the lines joined: ";
const CONTINUATION_PROMPT_SHOWN: &str = "the shell shows a continuation prompt although the \
     command before this line looked complete: this line may continue it";
const CONTINUATION_MARKED_UNKNOWN: &str = "the shell marks the prompt before this line as a \
     continuation prompt (OSC 133), but sshgate saw no unfinished command before it: the line \
     may continue one it did not see";
const PRIMARY_PROMPT_MARKED: &str = "the command looks unfinished, but the shell marks the \
     prompt before this line as its primary prompt (OSC 133): it may run this line on its own";
const NOT_RUN: &str = "the shell will not run this line as shown: `:p` prints it, or the \
     history reference fails";
const DISCARD_NOT_SHOWN: &str = "a deny or Ctrl+C meant to drop the earlier lines of this \
     command went out, but the shell has not shown its primary prompt since: it may still hold \
     them";

/// A command in the shell's history, as sshgate forwarded it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HistoryEntry {
    text: String,
    /// It may not be in the shell's history (see [`CommandLines::maybe_absent`]).
    maybe_absent: bool,
}

#[derive(Debug, Default)]
pub struct CommandLines {
    /// The approved lines of the command the shell is reading, as submitted.
    lines: Vec<String>,
    /// The line being asked about, after history expansion.
    asked: Option<String>,
    /// The command being asked about may never enter the shell's history: a line of it holds
    /// a history reference the lines sshgate forwarded cannot resolve (the shell may reject
    /// it), or a program, not the shell, may have read it.
    maybe_absent: bool,
    /// The commands the shell ran that the proxy forwarded, oldest first.
    history: Vec<HistoryEntry>,
    /// The prompt in front of the last line that started a command.
    primary_prompt: Option<String>,
    /// A discard of the whole command went out while it continued.
    discarding: bool,
    /// The lines of the command the last approval completed: the next line continues it if
    /// the shell shows a continuation prompt after all (a construct the lexer reads
    /// otherwise than the shell, such as zsh without `interactive_comments`).
    last_complete: Vec<String>,
}

impl CommandLines {
    /// Whether the shell is reading a command begun on earlier lines.
    pub fn continuing(&self) -> bool {
        !self.lines.is_empty()
    }

    /// The request for `line` (as checked against the screen), with `prompt` the text before it
    /// on its row, if found, and `mark` the kind of prompt the shell marked before it, if it
    /// marks them. A mark only ever adds a doubt: a command's output can print one.
    pub fn ask(&mut self, line: &str, prompt: Option<&str>, mark: Option<PromptKind>) -> Asked {
        let at_primary = prompt.is_some() && prompt == self.primary_prompt.as_deref();
        if self.discarding && at_primary {
            self.lines.clear();
            self.discarding = false;
        }
        let mut doubts = Vec::new();
        let previous = std::mem::take(&mut self.last_complete);
        let marked_continuation = mark == Some(PromptKind::Continuation);
        let continuation_prompt = marked_continuation
            || prompt.is_some_and(|prompt| {
                prompt.trim_end().ends_with('>') && Some(prompt) != self.primary_prompt.as_deref()
            });
        if self.lines.is_empty() && continuation_prompt {
            if !previous.is_empty() {
                self.lines = previous;
                doubts.push(CONTINUATION_PROMPT_SHOWN.to_string());
            } else if marked_continuation {
                doubts.push(CONTINUATION_MARKED_UNKNOWN.to_string());
            }
        } else if self.lines.is_empty() {
            doubts.extend(comment_backslash_joined(&previous, line));
        }
        if !self.lines.is_empty()
            && !self.discarding
            && !at_primary
            && mark == Some(PromptKind::Primary)
        {
            doubts.push(PRIMARY_PROMPT_MARKED.to_string());
        }
        let start = self.line_start();
        let history = self.kept_history(&Kept::ALL);
        let (expanded, typed) = match expand_from(line, &history, start) {
            Expansion::Unchanged => (line.to_string(), None),
            Expansion::Expanded {
                text,
                runs,
                complete,
            } => {
                self.maybe_absent |= !complete;
                doubts.push(EXPANDED.to_string());
                if !runs {
                    doubts.push(NOT_RUN.to_string());
                }
                doubts.extend(self.other_histories(line, start, &text));
                (text, Some(line.to_string()))
            }
        };
        self.asked = Some(expanded.clone());
        let command = self.whole_command(&expanded);
        if command.contains("\\\n") {
            // Kept as quoted by the lexer; a shell that reads the quote otherwise (zsh takes a
            // `'` inside `"${...}"` as a plain character, or `#` inside a word for a comment
            // without `interactive_comments`) joins the lines.
            doubts.push(format!(
                "{KEPT_BACKSLASH_NEWLINE}{}",
                command.replace("\\\n", "")
            ));
        }
        if self.lines.is_empty() {
            if prompt.is_some() {
                self.primary_prompt = prompt.map(str::to_string);
            }
            // A pasted block with a backslash-newline reads otherwise than it was typed.
            let typed = typed.or_else(|| (command != line).then(|| line.to_string()));
            return Asked {
                command,
                continuation: None,
                typed,
                doubts,
            };
        }
        if self.discarding {
            doubts.push(DISCARD_NOT_SHOWN.to_string());
        } else if at_primary {
            doubts.push(PRIMARY_PROMPT_SHOWN.to_string());
        }
        Asked {
            command,
            continuation: Some(expanded),
            typed,
            doubts,
        }
    }

    /// What `line` runs where the shell leaves some lines out of its history, for each common
    /// way of doing so under which it reads otherwise than `expanded`: after `echo DE`,
    /// ` echo hi` (with a space first), `!!NY` runs `echo DENY` on a stock Debian bash.
    fn other_histories(&self, line: &str, start: LineStart, expanded: &str) -> Vec<String> {
        let mut readings: Vec<String> = vec![expanded.to_string()];
        let mut doubts = Vec::new();
        for (leaves_out, filter) in HISTORY_FILTERS {
            let kept = self.kept_history(&filter);
            if kept == self.kept_history(&Kept::ALL) {
                continue;
            }
            let Expansion::Expanded {
                text, runs: true, ..
            } = expand_from(line, &kept, start)
            else {
                continue;
            };
            // A reference that names no line there is left as typed: no other reading.
            if text != line && !readings.contains(&text) {
                let command = self.whole_command(&text);
                doubts.push(format!(
                    "a shell that leaves {leaves_out} out of its history runs: {command}"
                ));
                readings.push(text);
            }
        }
        doubts
    }

    /// The history's texts, as a shell that leaves out what `kept` says keeps them.
    fn kept_history(&self, kept: &Kept) -> Vec<String> {
        let mut texts: Vec<String> = Vec::new();
        for entry in &self.history {
            let left_out = (kept.leaves_space_led && entry.text.starts_with(' '))
                || (kept.leaves_repeats && texts.last() == Some(&entry.text))
                || (kept.leaves_maybe_absent && entry.maybe_absent);
            if !left_out {
                texts.push(if kept.joins_lines {
                    joined_lines(&entry.text)
                } else {
                    entry.text.clone()
                });
            }
        }
        texts
    }

    /// The command so far with `line` as its latest line, as the shell will read it.
    fn whole_command(&self, line: &str) -> String {
        as_read(&self.source_with(line))
    }

    /// The quoting a new line starts in: inside a quote the earlier lines left open.
    fn line_start(&self) -> LineStart {
        if self.lines.is_empty() {
            return LineStart::Command;
        }
        match open_construct(&self.lines.join("\n")) {
            Some(Open::SingleQuote) => LineStart::InSingleQuotes,
            Some(Open::DoubleQuote) => LineStart::InDoubleQuotes,
            Some(Open::Backquote | Open::DollarSingleQuote) => LineStart::Unknown,
            _ => LineStart::Command,
        }
    }

    /// The line about to be asked about may be read by a program rather than the shell: it
    /// may never enter the shell's history.
    pub fn maybe_read_by_program(&mut self) {
        self.maybe_absent = true;
    }

    /// The line asked about was approved and went to the shell.
    pub fn approved(&mut self) {
        let Some(line) = self.asked.take() else {
            return;
        };
        let source = self.source_with(&line);
        self.lines.push(line);
        if open_construct(&source).is_none() {
            if !source.trim().is_empty() {
                self.history.push(HistoryEntry {
                    text: as_read(&source),
                    maybe_absent: std::mem::take(&mut self.maybe_absent),
                });
            }
            self.last_complete = std::mem::take(&mut self.lines);
            self.discarding = false;
        }
    }

    /// The line asked about was denied (with a Ctrl+C after the deny keys while a command
    /// continues).
    pub fn denied(&mut self) {
        self.asked = None;
        self.maybe_absent = false;
        self.discarded();
    }

    /// A Ctrl+C, or a deny's Ctrl+C, went to the shell: it drops the command it reads, unless
    /// it ignores the interrupt.
    pub fn discarded(&mut self) {
        if self.continuing() && !self.discarding {
            // bash and zsh keep in their history what they read of a command they drop.
            self.history.push(HistoryEntry {
                text: as_read(&self.lines.join("\n")),
                maybe_absent: std::mem::take(&mut self.maybe_absent),
            });
        }
        self.discarding = self.continuing();
    }

    fn source_with(&self, line: &str) -> String {
        let mut source = self.lines.join("\n");
        if !source.is_empty() {
            source.push('\n');
        }
        source.push_str(line);
        source
    }
}

/// Which lines a shell leaves out of its history.
struct Kept {
    leaves_space_led: bool,
    leaves_repeats: bool,
    leaves_maybe_absent: bool,
    /// Multi-line commands are kept on one line, as bash does (`cmdhist`): word numbers in
    /// references (`!!:5`) count differently.
    joins_lines: bool,
}

impl Kept {
    /// Every line sshgate forwarded.
    const ALL: Kept = Kept {
        leaves_space_led: false,
        leaves_repeats: false,
        leaves_maybe_absent: false,
        joins_lines: false,
    };
}

/// The common ways a shell's history holds other lines than those sshgate forwarded, each with
/// what it leaves out.
const HISTORY_FILTERS: [(&str, Kept); 5] = [
    (
        "lines starting with a space (HISTCONTROL=ignorespace, zsh's HIST_IGNORE_SPACE)",
        Kept {
            leaves_space_led: true,
            ..Kept::ALL
        },
    ),
    (
        "a line repeating the one before (HISTCONTROL=ignoredups, zsh's HIST_IGNORE_DUPS)",
        Kept {
            leaves_repeats: true,
            ..Kept::ALL
        },
    ),
    (
        "both (HISTCONTROL=ignoreboth, set by Debian's and Ubuntu's stock ~/.bashrc)",
        Kept {
            leaves_space_led: true,
            leaves_repeats: true,
            ..Kept::ALL
        },
    ),
    (
        "lines that may never have reached it (a history reference that failed, \"event not \
         found\"; a line a program read)",
        Kept {
            leaves_maybe_absent: true,
            ..Kept::ALL
        },
    ),
    (
        "no line breaks (bash joins a multi-line command with `; `; zsh counts a line break as \
         a word)",
        Kept {
            joins_lines: true,
            ..Kept::ALL
        },
    ),
];

/// After a command whose last line ends with a backslash that the lexer read as part of a
/// comment (`echo #DE\`), what a shell that reads no comment there (zsh without
/// `interactive_comments`) runs: that command joined with `line`.
fn comment_backslash_joined(previous: &[String], line: &str) -> Option<String> {
    let last = previous.last()?;
    let trailing = last.len() - last.trim_end_matches('\\').len();
    if trailing % 2 == 0 {
        return None;
    }
    let mut joined = previous.join("\n");
    joined.pop();
    joined.push_str(line);
    Some(format!(
        "the line before ended with a backslash that sshgate read as inside a comment; a shell \
         that reads it as joining the lines (zsh without interactive_comments) runs: {joined}"
    ))
}

/// A multi-line command on one line, as bash's history keeps it: lines joined with `; `, or
/// a space after words and operators that a command cannot end with.
fn joined_lines(text: &str) -> String {
    let mut joined = String::new();
    for (index, line) in text.split('\n').enumerate() {
        if index > 0 {
            let before = joined.trim_end();
            let open = [
                "then", "do", "else", "in", "{", "(", "|", "&&", "||", ";", "&",
            ]
            .iter()
            .any(|end| before.ends_with(end));
            joined.push_str(if open { " " } else { "; " });
        }
        joined.push_str(line);
    }
    joined
}

/// How the shell reads `typed` (the keys' line, where the screen showed another), when that
/// differs from both: a screen that indents continued lines (fish) hides a backslash-newline
/// the shell removes.
pub fn typed_reading(typed: &str, command: &str) -> Option<String> {
    let read = as_read(typed);
    (read != typed && read != command).then(|| format!("as typed, the shell reads it as: {read}"))
}

/// The commands in `text`, a line of several lines the shell reads at once (a bracketed paste
/// with newlines), in order: each ends where the shell would run what it has read. The last
/// may be unfinished.
pub fn commands(text: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut current = String::new();
    for line in text.split('\n') {
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(line);
        if !current.trim().is_empty() && open_construct(&current).is_none() {
            commands.push(std::mem::take(&mut current));
        }
    }
    if !current.trim().is_empty() {
        commands.push(current);
    }
    commands
}

#[cfg(test)]
mod tests {
    use super::*;

    const PS1: Option<&str> = Some("$ ");
    const PS2: Option<&str> = Some("> ");

    #[test]
    fn a_backslash_continuation_is_asked_about_as_the_whole_command() {
        let mut lines = CommandLines::default();
        assert_eq!(lines.ask("mark DE\\", PS1, None).continuation, None);
        lines.approved();
        assert!(lines.continuing());
        let asked = lines.ask("NY", PS2, None);
        assert_eq!(asked.command, "mark DENY");
        assert_eq!(asked.continuation.as_deref(), Some("NY"));
        assert!(asked.doubts.is_empty());
        lines.approved();
        assert!(!lines.continuing());
        assert_eq!(lines.ask("ls", PS1, None).command, "ls");
    }

    #[test]
    fn an_open_quote_joins_lines_with_a_newline() {
        let mut lines = CommandLines::default();
        lines.ask("echo 'DE", PS1, None);
        lines.approved();
        assert_eq!(lines.ask("NY'", PS2, None).command, "echo 'DE\nNY'");
    }

    #[test]
    fn a_here_document_continues_until_its_delimiter() {
        let mut lines = CommandLines::default();
        for line in ["sh <<EOF", "echo DE\\"] {
            lines.ask(line, PS1, None);
            lines.approved();
        }
        let asked = lines.ask("NY", PS2, None);
        assert_eq!(asked.command, "sh <<EOF\necho DENY");
        lines.approved();
        lines.ask("EOF", PS2, None);
        lines.approved();
        assert!(!lines.continuing());
    }

    #[test]
    fn history_expansion_shows_the_command_it_makes() {
        let mut lines = CommandLines::default();
        lines.ask("echo DE", PS1, None);
        lines.approved();
        let asked = lines.ask("!!NY", PS1, None);
        assert_eq!(asked.command, "echo DENY");
        assert_eq!(asked.typed.as_deref(), Some("!!NY"));
        assert_eq!(asked.doubts, [EXPANDED]);
        lines.denied();
        let asked = lines.ask("^DE^XX", PS1, None);
        assert_eq!(asked.command, "echo XX");
        // Nothing to expand: as typed, no doubt.
        let asked = lines.ask("echo hi! there", PS1, None);
        assert_eq!((asked.typed, asked.doubts), (None, vec![]));
    }

    #[test]
    fn lines_a_shell_may_leave_out_of_its_history_give_other_readings() {
        let mut lines = CommandLines::default();
        for line in ["echo DE", " echo hi", "ls", "ls"] {
            lines.ask(line, PS1, None);
            lines.approved();
        }
        let asked = lines.ask("!-3NY", PS1, None);
        assert_eq!(asked.command, " echo hiNY");
        assert_eq!(asked.doubts[0], EXPANDED);
        let others: Vec<&str> = asked.doubts[1..]
            .iter()
            .map(|doubt| doubt.rsplit(": ").next().unwrap_or_default())
            .collect();
        // Without the space-led line, or the repeated `ls`, `!-3` is `echo DE` (said once);
        // without both, it names no line and nothing runs.
        assert_eq!(others, ["echo DENY"]);
        assert!(asked.doubts[1].contains("lines starting with a space"));
        // Without such lines, no other reading.
        let mut plain = CommandLines::default();
        plain.ask("echo DE", PS1, None);
        plain.approved();
        assert_eq!(plain.ask("!!NY", PS1, None).doubts, [EXPANDED]);
    }

    #[test]
    fn a_line_whose_reference_may_have_failed_gives_another_reading() {
        let mut lines = CommandLines::default();
        for line in ["echo DE", "echo !nosuch"] {
            lines.ask(line, PS1, None);
            lines.approved();
        }
        let asked = lines.ask("!!NY", PS1, None);
        assert_eq!(asked.command, "echo !nosuchNY");
        assert!(
            asked.doubts.iter().any(|d| d.ends_with("runs: echo DENY")),
            "{asked:?}"
        );
    }

    #[test]
    fn a_line_a_program_may_have_read_gives_another_reading() {
        let mut lines = CommandLines::default();
        for line in ["echo DE", "head -n1"] {
            lines.ask(line, PS1, None);
            lines.approved();
        }
        lines.maybe_read_by_program();
        lines.ask("x", None, None);
        lines.approved();
        let asked = lines.ask("!-2NY", PS1, None);
        assert_eq!(asked.command, "head -n1NY");
        assert!(
            asked.doubts.iter().any(|d| d.ends_with("runs: echo DENY")),
            "{asked:?}"
        );
    }

    #[test]
    fn a_multi_line_command_is_counted_as_bash_keeps_it() {
        let mut lines = CommandLines::default();
        for line in ["if true", "then echo DE; fi"] {
            lines.ask(line, PS1, None);
            lines.approved();
        }
        let asked = lines.ask("echo !!:5NY", PS1, None);
        assert!(
            asked.doubts.iter().any(|d| d.ends_with("runs: echo DENY")),
            "{asked:?}"
        );
        assert_eq!(
            joined_lines("for x in a\ndo echo\ndone"),
            "for x in a; do echo; done"
        );
    }

    #[test]
    fn a_backslash_the_lexer_read_in_a_comment_may_join_the_next_line() {
        let mut lines = CommandLines::default();
        lines.ask("echo #DE\\", Some(""), None);
        lines.approved();
        assert!(!lines.continuing());
        let asked = lines.ask("NY", Some(""), None);
        assert_eq!(asked.command, "NY");
        assert!(asked.doubts[0].ends_with("runs: echo #DENY"), "{asked:?}");
        // A line after one that ends otherwise: no such doubt.
        lines.approved();
        assert!(lines.ask("ls", Some(""), None).doubts.is_empty());
    }

    #[test]
    fn a_pasted_backslash_newline_is_asked_about_as_read() {
        let mut lines = CommandLines::default();
        let asked = lines.ask("echo DE\\\nNY", PS1, None);
        assert_eq!(asked.command, "echo DENY");
        assert_eq!(asked.typed.as_deref(), Some("echo DE\\\nNY"));
        assert!(asked.doubts.is_empty());
        // Inside a comment the lexer keeps it, and says how a shell that reads no comment
        // there runs the lines.
        let asked = lines.ask("echo #DE\\\nNY", PS1, None);
        assert_eq!(asked.command, "echo #DE\\\nNY");
        assert!(asked.doubts[0].ends_with("echo #DENY"), "{asked:?}");
    }

    #[test]
    fn a_typed_line_is_read_as_the_shell_reads_it() {
        let warning = typed_reading("echo DE\\\nNY", "echo DE\\\n  NY");
        assert!(warning.is_some_and(|w| w.ends_with(": echo DENY")));
        assert_eq!(typed_reading("echo hi", "echo ho"), None);
    }

    #[test]
    fn a_pasted_block_splits_into_its_commands() {
        assert_eq!(
            commands("echo a\necho 'b\nc'\n\nls |\nwc"),
            ["echo a", "echo 'b\nc'", "ls |\nwc"]
        );
        assert_eq!(commands("echo a"), ["echo a"]);
        assert_eq!(commands("echo 'open\n"), ["echo 'open\n"]);
    }

    #[test]
    fn a_continuation_prompt_after_a_complete_command_continues_it() {
        let mut lines = CommandLines::default();
        // zsh without interactive_comments: `#DE\` is a word, and the backslash continues.
        lines.ask("echo #DE\\", PS1, None);
        lines.approved();
        assert!(!lines.continuing());
        let asked = lines.ask("NY", PS2, None);
        assert_eq!(asked.continuation.as_deref(), Some("NY"));
        assert!(asked.command.starts_with("echo #DE"), "{asked:?}");
        assert_eq!(asked.doubts[0], CONTINUATION_PROMPT_SHOWN);
    }

    #[test]
    fn a_backslash_newline_kept_in_quotes_is_a_doubt_with_the_joined_reading() {
        let mut lines = CommandLines::default();
        lines.ask("echo \"${x-'}\" DE\\", PS1, None);
        lines.approved();
        let asked = lines.ask("NY", PS2, None);
        assert!(
            asked.doubts.iter().any(|d| d.ends_with("DENY")),
            "{asked:?}"
        );
    }

    #[test]
    fn a_dropped_command_stays_in_the_history() {
        let mut lines = CommandLines::default();
        lines.ask("if : DE", PS1, None);
        lines.approved();
        lines.ask("DENY", PS2, None);
        lines.denied();
        lines.ask("ls", PS1, None);
        lines.approved();
        assert_eq!(lines.ask("!-2", PS1, None).command, "if : DE");
    }

    #[test]
    fn the_primary_prompt_under_a_continuation_is_a_doubt() {
        let mut lines = CommandLines::default();
        lines.ask("echo 'a", PS1, None);
        lines.approved();
        assert_eq!(lines.ask("b'", PS1, None).doubts, [PRIMARY_PROMPT_SHOWN]);
    }

    #[test]
    fn a_discarded_command_stays_until_the_primary_prompt_shows() {
        let mut lines = CommandLines::default();
        lines.ask("echo 'a", PS1, None);
        lines.approved();
        lines.ask("DENY", PS2, None);
        lines.denied();
        // Still at a continuation prompt: the shell ignored the interrupt.
        let asked = lines.ask("b'", PS2, None);
        assert_eq!(asked.doubts, [DISCARD_NOT_SHOWN]);
        assert_eq!(asked.command, "echo 'a\nb'");
        lines.denied();
        // Back at the primary prompt: the command is gone.
        let asked = lines.ask("ls", PS1, None);
        assert_eq!((asked.command.as_str(), asked.continuation), ("ls", None));
    }

    #[test]
    fn prompt_marks_add_doubts_where_the_lexer_reads_otherwise() {
        use PromptKind::{Continuation, Primary};
        // A continuation prompt that does not look like one (PS2 set to blanks), marked.
        let blank_ps2 = Some("  ");
        let mut lines = CommandLines::default();
        lines.ask("echo #DE\\", PS1, Some(Primary));
        lines.approved();
        let asked = lines.ask("NY", blank_ps2, Some(Continuation));
        assert_eq!(asked.doubts[0], CONTINUATION_PROMPT_SHOWN);
        assert!(asked.command.starts_with("echo #DE"), "{asked:?}");
        // Unmarked, that prompt passes for a primary one: only the backslash left at the end
        // of the comment says what may run.
        let mut unmarked = CommandLines::default();
        unmarked.ask("echo #DE\\", PS1, None);
        unmarked.approved();
        let asked = unmarked.ask("NY", blank_ps2, None);
        assert_eq!(asked.command, "NY");
        assert!(asked.doubts[0].ends_with("runs: echo #DENY"), "{asked:?}");
        // Marked as a continuation with nothing seen before it.
        let mut fresh = CommandLines::default();
        let asked = fresh.ask("NY", blank_ps2, Some(Continuation));
        assert_eq!(asked.doubts, [CONTINUATION_MARKED_UNKNOWN]);
        // A primary prompt marked under a command the lexer sees unfinished.
        let mut open = CommandLines::default();
        open.ask("echo 'a", PS1, Some(Primary));
        open.approved();
        assert_eq!(
            open.ask("b'", blank_ps2, Some(Primary)).doubts,
            [PRIMARY_PROMPT_MARKED]
        );
        // Marks that agree add nothing.
        let mut agreed = CommandLines::default();
        agreed.ask("echo 'a", PS1, Some(Primary));
        agreed.approved();
        assert!(agreed.ask("b'", PS2, Some(Continuation)).doubts.is_empty());
    }
}
