//! [`expand`]: what bash's history expansion (`!!`, `!$`, `^old^new`, ...) turns a submitted
//! line into, rebuilt from the lines the proxy itself forwarded, so an approver sees the command
//! that will run rather than the characters that were typed.
//!
//! The invariant: [`Expansion::Unchanged`] is returned only when bash 5.2 and 5.3 (and, as far
//! as this module knows, zsh with default options) run the line as typed. Whenever that is in
//! doubt the answer is [`Expansion::Expanded`] with `complete: false`; over-reporting costs an
//! approver a second look, under-reporting hides a command from them.
//!
//! The model is bash 5.2's (`lib/readline/histexpand.c` and `bash_history_inhibit_expansion` in
//! `bashhist.c`, read for behaviour only) with default `histchars` (`!^#`), extglob off, and
//! every quirk that changes the outcome kept, because the answer must be what bash does, not
//! what its manual suggests:
//! - bash scans the line twice: once to decide whether anything expands at all, then to expand,
//!   and the second scan judges each `!` against the text expanded so far rather than the typed
//!   line, so `ls [!a]* !!` expands (and fails on) the `!a]*` the first scan let pass;
//! - its "is this `!` quoted?" test restarts, unquoted, after every earlier `!`, so in
//!   `echo "a ! b 'c" !!` the final `!!` counts as single-quoted and stays as typed;
//! - word designator numbers equal to 36 (the code of `$`) mean the last word;
//! - after an unclosed single quote the first scan reads on past the end of the line (fixed in
//!   5.3), so whether the second scan runs depends on memory: the line counts as expanded
//!   (`complete: false`) if the second scan would change it.
//!
//! Verified against bash 5.2.15: every case in this file's tests and in the differential test
//! (`tests/keystroke/history_expansion.rs`) was run through
//! `bash --norc -c 'set -o history -H; history -c; history -s H1; ...; history -p LINE'`, and 46
//! of them also through an interactive `bash --norc -i` on a pty (entries loaded one
//! `history -s` per line, the line submitted, then `fc -ln -1` read back); `history -p` agreed
//! with the interactive shell on all 46, including failures and `:p`. The differential test
//! also replays 1000 random lines of quotes, `!` and designators (100,000 were run once while
//! writing this module; they found the unclosed-quote case above).
//!
//! Why the result is never certain: bash numbers and searches its whole history list, which may
//! hold a saved history file, `history -s` entries and lines dropped by `HISTCONTROL` or
//! `HISTIGNORE`; `!n` counts from an origin the proxy cannot see; an empty `!??`, `:&` or `:%`
//! reuses state left by an earlier line. `complete` only says whether this module had to guess
//! beyond that.
//!
//! Where others differ, and what this module does about it:
//! - bash 5.3 no longer expands `!` before `;&|()<>` (5.2 does, and fails): such a line is
//!   reported as 5.2 sees it, with `complete: false`.
//! - With extglob on (bash-completion turns it on), `!(...)` is a pattern, not an expansion.
//! - zsh expands `!` inside `[!...]`, `${!...}` and after `$` where bash leaves it alone, knows
//!   `!{...}`, stops all expansion for the rest of the line at `!"`, takes an event-less `!$` or
//!   `!:1` from the previous reference on the same line rather than from the previous command,
//!   treats `!#` as the words before the current one, ignores `#` comments unless
//!   `interactive_comments` is set, and has more modifiers (`:a :A :c :l :u :P :Q`). Each of
//!   these marks the answer `complete: false` (and turns `Unchanged` into `Expanded`) when the
//!   `!` could start a zsh expansion (not before a blank, newline, `=` or `(`).
//! - A line that continues a command whose quote is still open starts in that quoting state
//!   ([`LineStart`]); bash then reads its single and double quotes the other way round.

/// What history expansion does to a submitted line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expansion {
    /// Nothing in the line that history expansion acts on: the shell runs it as typed.
    Unchanged,
    /// The line will (or may) be expanded.
    Expanded {
        /// The best reconstruction from `history`; a reference that could not be resolved
        /// from it is left as typed.
        text: String,
        /// False when some reference could not be resolved from `history` (an event older
        /// than what the proxy forwarded, a search that found nothing there, state left by an
        /// earlier line) or when another shell or version would read the line differently.
        complete: bool,
        /// False when bash would not run the line: `:p` (it prints `text` and records it in
        /// its history instead) or an expansion that fails (bash prints an error and runs
        /// nothing). Like `text`, only as sure as `complete` says.
        runs: bool,
    },
}

/// The quoting the shell's parser is in when the line starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineStart {
    /// The line starts a command (or continues one outside quotes).
    Command,
    /// The line continues a single-quoted string opened on an earlier line.
    InSingleQuotes,
    /// The line continues a double-quoted string opened on an earlier line.
    InDoubleQuotes,
    /// Not known: the answer is `Unchanged` only when it is in all three states above.
    Unknown,
}

/// What bash's history expansion turns `line` into, for a line that starts a command.
/// `history`: the commands the shell ran in this session that the proxy knows of, oldest first
/// (what bash would number 1..n if nothing came before).
pub fn expand(line: &str, history: &[String]) -> Expansion {
    expand_from(line, history, LineStart::Command)
}

/// [`expand`] for a line that starts in the quoting state `start`.
pub fn expand_from(line: &str, history: &[String], start: LineStart) -> Expansion {
    let quote = match start {
        LineStart::Command => Quote::None,
        LineStart::InSingleQuotes => Quote::Single,
        LineStart::InDoubleQuotes => Quote::Double,
        LineStart::Unknown => return expand_unknown_start(line, history),
    };
    if line.contains('\0') {
        // bash reads a line as a C string; nothing after a NUL is modelled.
        return uncertain(line);
    }
    Expander::new(history, quote).run(line)
}

fn expand_unknown_start(line: &str, history: &[String]) -> Expansion {
    let fresh = expand_from(line, history, LineStart::Command);
    let others = [LineStart::InSingleQuotes, LineStart::InDoubleQuotes]
        .map(|start| expand_from(line, history, start));
    if others.iter().all(|other| *other == fresh) {
        return fresh;
    }
    match fresh {
        Expansion::Unchanged => uncertain(line),
        Expansion::Expanded { text, runs, .. } => Expansion::Expanded {
            text,
            complete: false,
            runs,
        },
    }
}

fn uncertain(line: &str) -> Expansion {
    Expansion::Expanded {
        text: line.to_owned(),
        complete: false,
        runs: true,
    }
}

use std::ops::Range;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Single,
    Double,
}

/// `!` followed by one of these is left alone by bash 5.2 (and a line's end, and `"` inside
/// double quotes).
const NO_EXPAND: &[char] = &[' ', '\t', '\n', '\r', '='];
/// Also left alone by bash 5.3; bash 5.2 tries (and fails) to expand them.
const NO_EXPAND_SINCE_5_3: &[char] = &[';', '&', '|', '(', ')', '<', '>'];
/// End a `!string` search (besides blanks and `:`).
const SEARCH_DELIMITERS: &[char] = &[';', '&', '(', ')', '|', '<', '>'];
/// End a `!string` search and start a word designator.
const EVENT_DELIMITERS: &[char] = &['^', '$', '*', '%', '-'];
/// Separate words for the tokenizer and for the `#` comment rule.
const WORD_DELIMITERS: &[char] = &[' ', '\t', '\n', ';', '&', '(', ')', '|', '<', '>'];
const QUOTES: &[char] = &['"', '\'', '`'];
/// bash compares word designators with the character code of `$`, so the number 36 means
/// "the last word" too.
const LAST: i64 = '$' as i64;

/// Why a reference produced no text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Miss {
    /// Could resolve from history the proxy does not know (or state of an earlier line).
    Unresolved,
    /// bash rejects it whatever its history holds beyond the proxy's record.
    Fails,
}

struct Expander<'h> {
    history: &'h [String],
    start: Quote,
    /// Set by `!?string?` on this line: the string and the word it matched.
    search_string: Option<Vec<char>>,
    search_match: Option<Vec<char>>,
    /// Set by `:s` on this line.
    subst_lhs: Option<Vec<char>>,
    subst_rhs: Option<Vec<char>>,
    unresolved: bool,
    fails: bool,
    print_only: bool,
    /// Another shell, version or option would read the line differently.
    differs: bool,
    /// A reference on this line named its event (other than `!!`): zsh takes a later
    /// event-less `!$` from it.
    named_event: bool,
    /// The first scan ended inside an unclosed single quote.
    ran_off_the_end: bool,
    /// References the second scan tried to expand.
    references: usize,
}

/// The character at `i`, or NUL past the end (bash's strings end in one; lines with a NUL in
/// them never get here).
fn at(s: &[char], i: usize) -> char {
    s.get(i).copied().unwrap_or('\0')
}

fn digit(c: char) -> bool {
    c.is_ascii_digit()
}

fn blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n')
}

/// Could zsh start an expansion at a `!` followed by `next`?
fn zsh_bang(next: char) -> bool {
    !matches!(next, '\0' | ' ' | '\t' | '\n' | '=' | '(')
}

/// From just after an opening single quote: the index of the closing one, or the line's end.
/// In `$'...'` a backslash escapes the next character.
fn single_quoted_end(s: &[char], mut i: usize, backslash_escapes: bool) -> usize {
    while i < s.len() && s[i] != '\'' {
        if backslash_escapes && s[i] == '\\' && i + 1 < s.len() {
            i += 1;
        }
        i += 1;
    }
    i.min(s.len())
}

impl<'h> Expander<'h> {
    fn new(history: &'h [String], start: Quote) -> Self {
        Expander {
            history,
            start,
            search_string: None,
            search_match: None,
            subst_lhs: None,
            subst_rhs: None,
            unresolved: false,
            fails: false,
            print_only: false,
            differs: false,
            named_event: false,
            ran_off_the_end: false,
            references: 0,
        }
    }

    fn run(mut self, line: &str) -> Expansion {
        let typed: Vec<char> = line.chars().collect();
        // `^old^new^...` at the very start is `!!:s^old^new^...`.
        let quick = typed.first() == Some(&'^');
        if quick && self.start == Quote::Single {
            // bash 5.2 then runs the `!!:s` it put in front as typed text; 5.3 does nothing.
            self.differs = true;
        }
        let s: Vec<char> = if quick {
            "!!:s".chars().chain(typed.iter().copied()).collect()
        } else {
            typed.clone()
        };
        if !quick && !self.finds_expansion(&s) {
            if self.ran_off_the_end {
                return self.maybe_second_pass(&s, line);
            }
            return if self.differs {
                uncertain(line)
            } else {
                Expansion::Unchanged
            };
        }
        let text: String = self
            .substitute(&s, if quick { 4 } else { 0 })
            .into_iter()
            .collect();
        Expansion::Expanded {
            text,
            complete: !self.unresolved && !self.differs,
            runs: !self.fails && !self.print_only,
        }
    }

    /// bash 5.2's first scan reads on past the end of a line whose last single quote is not
    /// closed (5.3 stops there): a `!` in whatever memory follows sends it into the second scan,
    /// which reads backslashes differently (`\\!x` expands there). So the line is left alone
    /// only if the second scan would leave it alone too.
    fn maybe_second_pass(&self, s: &[char], line: &str) -> Expansion {
        let mut probe = Expander::new(self.history, self.start);
        let text: String = probe.substitute(s, 0).into_iter().collect();
        if probe.references == 0 && !self.differs {
            return Expansion::Unchanged;
        }
        if probe.references == 0 {
            return uncertain(line);
        }
        Expansion::Expanded {
            text,
            complete: false,
            runs: !probe.fails && !probe.print_only,
        }
    }

    /// bash's first scan: is there a `!` that starts an expansion?
    fn finds_expansion(&mut self, s: &[char]) -> bool {
        let mut dquote = self.start == Quote::Double;
        let mut i = 0;
        if self.start == Quote::Single {
            i = single_quoted_end(s, 0, false) + 1;
        }
        while i < s.len() {
            let (c, next) = (s[i], at(s, i + 1));
            if c == '#' && !dquote && (i == 0 || WORD_DELIMITERS.contains(&s[i - 1])) {
                self.note_bangs_zsh_may_expand(&s[i..]);
                return false;
            } else if c == '!' {
                if self.bang_expands(s, i, next, dquote) {
                    return true;
                }
            } else if dquote && c == '\\' && next == '"' {
                i += 1;
            } else if c == '"' {
                dquote = !dquote;
            } else if !dquote && c == '\'' {
                let dollar = i > 0 && s[i - 1] == '$';
                i = single_quoted_end(s, i + 1, dollar);
                self.ran_off_the_end = i >= s.len();
            } else if c == '\\' && (next == '\'' || next == '!') {
                i += 1;
            }
            i += 1;
        }
        false
    }

    /// Does the `!` at `s[i]` start an expansion? `s` ends with the character after it in the
    /// second scan, which judges the text expanded so far.
    fn bang_expands(&mut self, s: &[char], i: usize, next: char, dquote: bool) -> bool {
        if next == '\0' || NO_EXPAND.contains(&next) || (dquote && next == '"') {
            return false;
        }
        if NO_EXPAND_SINCE_5_3.contains(&next) {
            self.differs = true;
        }
        if self.inhibited(s, i) {
            if zsh_bang(next) {
                self.differs = true;
            }
            return false;
        }
        true
    }

    fn note_bangs_zsh_may_expand(&mut self, rest: &[char]) {
        if rest
            .windows(2)
            .any(|pair| pair[0] == '!' && zsh_bang(pair[1]))
        {
            self.differs = true;
        }
    }

    /// bash's own veto (`bash_history_inhibit_expansion`): shell syntax that uses `!` itself,
    /// and quoting (including command substitution) the history library does not follow.
    fn inhibited(&mut self, s: &[char], i: usize) -> bool {
        let after = &s[(i + 1).min(s.len())..];
        if i > 0 && s[i - 1] == '[' && after.contains(&']') {
            return true;
        }
        if i > 1 && s[i - 1] == '{' && s[i - 2] == '$' && after.contains(&'}') {
            return true;
        }
        if i > 1 && s[i - 1] == '$' {
            return true;
        }
        if i > 1 && at(s, i + 1) == '(' && after[1..].contains(&')') {
            // A pattern with extglob on; bash's default (off) expands it.
            self.differs = true;
        }
        let mut from = 0;
        if self.start == Quote::Single {
            match s.iter().position(|&c| c == '\'') {
                Some(quote) if quote < i => from = quote + 1,
                _ => return true,
            }
        }
        let mut t = next_unquoted_bang(s, from);
        if t == 0 {
            return false;
        }
        while t < i {
            t = next_unquoted_bang(s, t + 1);
        }
        t > i
    }

    /// bash's second scan: the line with every reference replaced. `typed_from` is where the
    /// typed line starts in `s` (4 after the `!!:s` put in front of a quick substitution).
    fn substitute(&mut self, s: &[char], typed_from: usize) -> Vec<char> {
        let mut out: Vec<char> = Vec::with_capacity(s.len());
        let mut dquote = self.start == Quote::Double;
        let mut i = 0;
        if self.start == Quote::Single {
            let end = single_quoted_end(s, 0, false);
            i = (end + 1).min(s.len());
            out.extend_from_slice(&s[..i]);
        }
        let mut escaped = false;
        while i < s.len() {
            let c = s[i];
            if escaped {
                escaped = false;
                out.push(c);
                i += 1;
                continue;
            }
            match c {
                '\\' => {
                    escaped = true;
                    out.push(c);
                }
                '"' => {
                    dquote = !dquote;
                    out.push(c);
                }
                '\'' if !dquote => {
                    let dollar = i > 0 && s[i - 1] == '$';
                    let end = single_quoted_end(s, i + 1, dollar);
                    let stop = (end + 1).min(s.len());
                    out.extend_from_slice(&s[i..stop]);
                    i = end;
                }
                '#' if !dquote && (i == 0 || WORD_DELIMITERS.contains(&s[i - 1])) => {
                    self.note_bangs_zsh_may_expand(&s[i..]);
                    out.extend_from_slice(&s[i..]);
                    i = s.len();
                }
                '!' => {
                    let next = at(s, i + 1);
                    let mut probe = out.clone();
                    probe.extend(['!', next]);
                    if !self.bang_expands(&probe, out.len(), next, dquote) {
                        out.push(c);
                    } else {
                        self.references += 1;
                        let quote = if dquote { '"' } else { '\0' };
                        let (end, text) = self.reference(s, i, quote, &out);
                        match text {
                            Some(text) => out.extend(text),
                            None => out.extend_from_slice(&s[i.max(typed_from)..end]),
                        }
                        i = end - 1;
                    }
                }
                _ => out.push(c),
            }
            i += 1;
        }
        out
    }

    /// One reference starting at the `!` at `s[start]`: where it ends (exclusive) and its
    /// text, or `None` when it could not be expanded (the flags say why).
    fn reference(
        &mut self,
        s: &[char],
        start: usize,
        quote: char,
        so_far: &[char],
    ) -> (usize, Option<Vec<char>>) {
        let next = at(s, start + 1);
        let mut i;
        let event = if matches!(next, ':' | '$' | '*' | '%' | '^') {
            if self.named_event {
                self.differs = true;
            }
            i = start + 1;
            self.previous_command()
        } else if next == '#' {
            // zsh's `!#` stops before the current word.
            self.differs = true;
            i = start + 2;
            Ok(so_far.to_vec())
        } else {
            if next == '{' || next == '"' {
                self.differs = true;
            }
            if next != '!' {
                self.named_event = true;
            }
            let (end, event) = self.event(s, start + 1, quote);
            i = end;
            event
        };
        let event = match event {
            Ok(event) => Some(event),
            Err(miss) => {
                self.miss(miss);
                None
            }
        };
        let known = event.is_some();
        let designated = self.word_designator(s, &mut i, event.as_deref());
        let mut text = match (designated, event) {
            (Ok(Some(words)), _) => Some(words),
            (Ok(None), event) => event,
            (Err(miss), _) => {
                self.miss(miss);
                None
            }
        };
        if !known {
            // The designator was parsed only to find where the reference ends.
            text = None;
        }
        self.modifiers(s, &mut i, &mut text);
        // bash's index can step past the terminating NUL (`!!:` at the end of the line).
        (i.clamp(start + 1, s.len()), text)
    }

    fn miss(&mut self, miss: Miss) {
        match miss {
            Miss::Unresolved => self.unresolved = true,
            Miss::Fails => self.fails = true,
        }
    }

    fn previous_command(&self) -> Result<Vec<char>, Miss> {
        self.history
            .last()
            .map(|line| line.chars().collect())
            .ok_or(Miss::Unresolved)
    }

    /// An event designator from `s[i]` (just after the `!`): where it ends and the line.
    fn event(&mut self, s: &[char], mut i: usize, quote: char) -> (usize, Result<Vec<char>, Miss>) {
        if at(s, i) == '!' {
            return (i + 1, self.previous_command());
        }
        let negative = at(s, i) == '-' && digit(at(s, i + 1));
        if negative {
            i += 1;
        }
        if digit(at(s, i)) {
            let mut n: i64 = 0;
            while digit(at(s, i)) {
                n = n
                    .saturating_mul(10)
                    .saturating_add(i64::from(at(s, i) as u8 - b'0'));
                i += 1;
            }
            let len = self.history.len() as i64;
            let number = if negative { len + 1 - n } else { n };
            if !negative {
                // Absolute numbers count from the start of the shell's whole history.
                self.unresolved = true;
            }
            let entry = usize::try_from(number - 1)
                .ok()
                .and_then(|index| self.history.get(index));
            return (
                i,
                entry
                    .map(|line| line.chars().collect())
                    .ok_or(Miss::Unresolved),
            );
        }
        let substring = at(s, i) == '?';
        if substring {
            i += 1;
        }
        let from = i;
        while i < s.len() {
            let c = s[i];
            let ends_prefix = !substring
                && (blank(c)
                    || c == ':'
                    || (i > from && c == '-')
                    || (c != '-' && EVENT_DELIMITERS.contains(&c))
                    || SEARCH_DELIMITERS.contains(&c)
                    || c == quote);
            if ends_prefix || c == '\n' || (substring && c == '?') {
                break;
            }
            i += 1;
        }
        let mut needle: Vec<char> = s[from..i].to_vec();
        if substring && at(s, i) == '?' {
            i += 1;
        }
        if needle.is_empty() && substring {
            match &self.search_string {
                Some(previous) => needle = previous.clone(),
                // bash reuses the search string of an earlier line.
                None => return (i, Err(Miss::Unresolved)),
            }
        }
        if needle.is_empty() {
            // bash's history search never matches an empty string.
            return (i, Err(Miss::Fails));
        }
        (i, self.search(needle, substring).ok_or(Miss::Unresolved))
    }

    /// The newest entry starting with (or, for `substring`, containing) `needle`.
    fn search(&mut self, needle: Vec<char>, substring: bool) -> Option<Vec<char>> {
        for line in self.history.iter().rev() {
            let line: Vec<char> = line.chars().collect();
            if !substring {
                if line.starts_with(&needle) {
                    return Some(line);
                }
                continue;
            }
            // bash searches backwards, so the word remembered for `%` holds the last match.
            let found = (0..=line.len().saturating_sub(needle.len()))
                .rev()
                .find(|&at| line[at..].starts_with(&needle));
            if let Some(at) = found {
                self.search_match = word_containing(&line, at);
                self.search_string = Some(needle);
                return Some(line);
            }
        }
        None
    }

    /// A word designator at `s[*i]`: `Ok(None)` when there is none (`*i` unchanged), the words
    /// otherwise. `event` is `None` when the event is not known: the designator is still parsed.
    fn word_designator(
        &mut self,
        s: &[char],
        i: &mut usize,
        event: Option<&[char]>,
    ) -> Result<Option<Vec<char>>, Miss> {
        let mut j = *i;
        let colon = at(s, j) == ':';
        if colon {
            j += 1;
        }
        let extract = |first: i64, last: i64| event.map(|event| words_between(event, first, last));
        match at(s, j) {
            '%' => {
                *i = j + 1;
                if self.search_match.is_none() {
                    // An earlier line's `!?string?` may have set it.
                    self.unresolved = true;
                }
                return Ok(Some(self.search_match.clone().unwrap_or_default()));
            }
            '*' => {
                *i = j + 1;
                return Ok(Some(extract(1, LAST).flatten().unwrap_or_default()));
            }
            '$' => {
                *i = j + 1;
                // bash treats "no last word" (an empty event) as no designator at all.
                return Ok(extract(LAST, LAST).flatten());
            }
            _ => {}
        }
        let first = match at(s, j) {
            '-' => 0,
            '^' => {
                j += 1;
                1
            }
            c if digit(c) && colon => number(s, &mut j),
            _ => return Ok(None),
        };
        let last = match at(s, j) {
            '^' => {
                j += 1;
                1
            }
            '*' => {
                j += 1;
                LAST
            }
            '-' => {
                j += 1;
                match at(s, j) {
                    c if digit(c) => number(s, &mut j),
                    '$' => {
                        j += 1;
                        LAST
                    }
                    '^' => {
                        j += 1;
                        1
                    }
                    _ => -1,
                }
            }
            _ => first,
        };
        *i = j;
        if !(last >= first || last == LAST || last < 0) {
            return Err(Miss::Fails);
        }
        match extract(first, last) {
            Some(Some(words)) => Ok(Some(words)),
            Some(None) => Err(Miss::Fails),
            None => Err(Miss::Unresolved),
        }
    }

    /// Modifiers at `s[*i]` (`:h`, `:s/a/b/`, ...), applied to `text` when it is known.
    fn modifiers(&mut self, s: &[char], i: &mut usize, text: &mut Option<Vec<char>>) {
        let mut global = 0u32;
        let mut by_words = false;
        let mut quoting = None;
        while at(s, *i) == ':' {
            let mut c = at(s, *i + 1);
            if c == 'g' || c == 'a' {
                global = 1;
                *i += 1;
                c = at(s, *i + 1);
            } else if c == 'G' {
                by_words = true;
                *i += 1;
                c = at(s, *i + 1);
            }
            match c {
                'q' | 'x' => quoting = Some(c),
                'p' => self.print_only = true,
                't' | 'h' | 'r' | 'e' => {
                    if let Some(text) = text.as_mut() {
                        path_modifier(text, c);
                    }
                }
                's' | '&' => {
                    if c == 's' {
                        if *i + 2 >= s.len() {
                            // `:s` with no delimiter: ignored.
                            *i += 2;
                            continue;
                        }
                        let delimiter = s[*i + 2];
                        if !delimiter.is_ascii() {
                            self.differs = true;
                        }
                        *i += 3;
                        if let Some(lhs) = subst_pattern(s, i, delimiter, false) {
                            self.subst_lhs = Some(lhs);
                        } else if self.subst_lhs.is_none() {
                            // An earlier line's substitution would be reused.
                            self.unresolved = true;
                            self.subst_lhs = self.search_string.clone();
                        }
                        let mut rhs = subst_pattern(s, i, delimiter, true).unwrap_or_default();
                        if let Some(lhs) = &self.subst_lhs {
                            rhs = interpolate_lhs(&rhs, lhs);
                        }
                        self.subst_rhs = Some(rhs);
                    } else {
                        *i += 2;
                        if self.subst_lhs.is_none() {
                            self.unresolved = true;
                        }
                    }
                    let lhs = self.subst_lhs.clone().unwrap_or_default();
                    let rhs = self.subst_rhs.clone().unwrap_or_default();
                    if lhs.is_empty() {
                        // "no previous substitution" (an earlier line's would do).
                        self.unresolved = true;
                        self.fails = true;
                        *text = None;
                        continue;
                    }
                    if let Some(current) = text.as_mut() {
                        match substitute_text(current, &lhs, &rhs, global > 0, by_words) {
                            Some(done) => *current = done,
                            None => {
                                self.fails = true;
                                *text = None;
                            }
                        }
                    }
                    if global > 0 {
                        global = 0;
                    }
                    continue;
                }
                _ => {
                    // "unrecognized history modifier" (zsh has more).
                    if zsh_modifier(c) {
                        self.differs = true;
                    }
                    self.fails = true;
                    *text = None;
                    *i += 2;
                    return;
                }
            }
            *i += 2;
        }
        if let (Some(text), Some(quoting)) = (text.as_mut(), quoting) {
            *text = if quoting == 'q' {
                single_quote(text)
            } else {
                quote_words(text)
            };
        }
    }
}

fn zsh_modifier(c: char) -> bool {
    matches!(
        c,
        'a' | 'A' | 'c' | 'l' | 'u' | 'P' | 'Q' | 'f' | 'F' | 'w' | 'W'
    )
}

fn number(s: &[char], j: &mut usize) -> i64 {
    let mut n: i64 = 0;
    while digit(at(s, *j)) {
        n = n
            .saturating_mul(10)
            .saturating_add(i64::from(at(s, *j) as u8 - b'0'));
        *j += 1;
    }
    n
}

/// bash's `skip_to_histexp` from `from`: the index of the next `!` that is not quoted,
/// escaped, or inside `$(...)`'s own quotes, or the line's end. It always starts unquoted.
fn next_unquoted_bang(s: &[char], from: usize) -> usize {
    let (mut dquote, mut saved_dquote) = (false, false);
    let (mut backquote, mut substitutions, mut escaped) = (false, 0u32, false);
    let mut i = from;
    while i < s.len() {
        let c = s[i];
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if backquote && c == '`' {
            backquote = false;
            dquote = saved_dquote;
        } else if c == '`' {
            backquote = true;
            saved_dquote = dquote;
            dquote = false;
        } else if dquote && c == '!' && at(s, i + 1) == '"' {
        } else if c == '!' {
            return i;
        } else if c == '\'' && !dquote {
            i = single_quoted_end(s, i + 1, false);
        } else if c == '"' {
            dquote = !dquote;
        } else if matches!(c, '$' | '<' | '>') && at(s, i + 1) == '(' && at(s, i + 2) != '(' {
            if i + 2 >= s.len() {
                return i + 2;
            }
            i += 1;
            substitutions += 1;
            saved_dquote = dquote;
            dquote = false;
        } else if substitutions > 0 && c == ')' {
            substitutions -= 1;
            dquote = saved_dquote;
        }
        i += 1;
    }
    s.len()
}

/// The shell words of a history line, split as bash's history tokenizer does.
fn words(line: &[char]) -> Vec<&[char]> {
    word_spans(line)
        .into_iter()
        .map(|span| &line[span])
        .collect()
}

fn word_spans(line: &[char]) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let mut i = 0;
    loop {
        while i < line.len() && blank(line[i]) {
            i += 1;
        }
        // `#` (the third of bash's `histchars`) starting a word ends the line.
        if i >= line.len() || line[i] == '#' {
            return spans;
        }
        let start = i;
        i = word_end(line, start);
        if i == start {
            i += 1;
            while i < line.len() && WORD_DELIMITERS.contains(&line[i]) {
                i += 1;
            }
        }
        spans.push(start..i);
    }
}

/// The end of the word starting at `s[start]`: an operator, or text up to an unquoted
/// delimiter with quotes and `$(...)`-like groups kept whole.
fn word_end(s: &[char], start: usize) -> usize {
    let mut i = start;
    let mut closer = '\0';
    let mut depth = 0u32;
    if matches!(at(s, i), '(' | ')' | '\n') {
        return i + 1;
    }
    let mut word_from_digits = false;
    if digit(at(s, i)) {
        let mut j = i;
        while digit(at(s, j)) {
            j += 1;
        }
        if j >= s.len() {
            return j;
        }
        word_from_digits = !matches!(s[j], '<' | '>');
        i = j;
    }
    let c = at(s, i);
    if !word_from_digits && matches!(c, '<' | '>' | ';' | '&' | '|') {
        let peek = at(s, i + 1);
        if peek == c {
            if c == '<' && matches!(at(s, i + 2), '-' | '<') {
                i += 1;
            }
            return i + 2;
        } else if peek == '&' && matches!(c, '<' | '>') {
            let mut j = i + 2;
            while digit(at(s, j)) {
                j += 1;
            }
            if at(s, j) == '-' {
                j += 1;
            }
            return j;
        } else if (peek == '>' && c == '&') || (peek == '|' && c == '>') {
            return i + 2;
        } else if peek == '(' && matches!(c, '<' | '>') {
            i += 2;
            closer = ')';
            depth = 1;
        } else {
            return i + 1;
        }
    }
    if closer == '\0' && QUOTES.contains(&at(s, i)) {
        closer = s[i];
        i += 1;
    }
    while i < s.len() {
        let c = s[i];
        if c == '\\' && closer != '\'' {
            // Also covers backslash-newline.
            i += 2;
            continue;
        }
        if depth > 0 && c == '(' {
            depth += 1;
        } else if depth > 0 && c == ')' {
            depth -= 1;
            if depth == 0 {
                closer = '\0';
            }
        } else if closer != '\0' && c == closer {
            closer = '\0';
        } else if depth == 0
            && closer == '\0'
            && matches!(c, '<' | '>' | '$' | '!' | '@' | '?' | '+' | '*')
            && at(s, i + 1) == '('
        {
            // bash steps over the character after the `(` too.
            i += 3;
            closer = ')';
            depth = 1;
            continue;
        } else if closer == '\0' && WORD_DELIMITERS.contains(&c) {
            break;
        } else if closer == '\0' && QUOTES.contains(&c) {
            closer = c;
        }
        i += 1;
    }
    i.min(s.len())
}

/// The word of `line` that holds the character at `index`.
fn word_containing(line: &[char], index: usize) -> Option<Vec<char>> {
    word_spans(line)
        .into_iter()
        .find(|span| span.contains(&index))
        .map(|span| line[span].to_vec())
}

/// Words `first..=last` of `event` joined by spaces, with bash's conventions: a negative
/// `last` counts from the end (`x-` omits the last word), [`LAST`] is the last word. `None`
/// when the range does not exist.
fn words_between(event: &[char], mut first: i64, mut last: i64) -> Option<Vec<char>> {
    let words = words(event);
    let len = words.len() as i64;
    if len == 0 {
        return None;
    }
    if last < 0 {
        last += len - 1;
    }
    if first < 0 {
        first += len - 1;
    }
    if last == LAST {
        last = len - 1;
    }
    if first == LAST {
        first = len - 1;
    }
    let end = last + 1;
    if first >= len || end > len || first < 0 || end < 0 || first > end {
        return None;
    }
    let picked = &words[first as usize..end as usize];
    Some(picked.join(&' '))
}

fn path_modifier(text: &mut Vec<char>, modifier: char) {
    let separator = if matches!(modifier, 't' | 'h') {
        '/'
    } else {
        '.'
    };
    let Some(at) = text.iter().rposition(|&c| c == separator) else {
        return;
    };
    match modifier {
        't' => {
            text.drain(..=at);
        }
        'e' => {
            text.drain(..at);
        }
        _ => text.truncate(at),
    }
}

/// One side of `:s/lhs/rhs/` from `s[*i]`, up to the delimiter (which a backslash escapes);
/// `*i` ends past the delimiter. An empty left side is `None`.
fn subst_pattern(s: &[char], i: &mut usize, delimiter: char, is_rhs: bool) -> Option<Vec<char>> {
    let mut pattern = Vec::new();
    let mut j = *i;
    while j < s.len() && s[j] != delimiter {
        if s[j] == '\\' && at(s, j + 1) == delimiter {
            j += 1;
        }
        pattern.push(s[j]);
        j += 1;
    }
    *i = if j < s.len() { j + 1 } else { j };
    (is_rhs || !pattern.is_empty()).then_some(pattern)
}

/// `&` in a substitution's right side stands for the left side; `\&` is a literal `&`.
fn interpolate_lhs(rhs: &[char], lhs: &[char]) -> Vec<char> {
    let mut out = Vec::with_capacity(rhs.len());
    let mut k = 0;
    while k < rhs.len() {
        match rhs[k] {
            '&' => out.extend_from_slice(lhs),
            '\\' if at(rhs, k + 1) == '&' => {
                k += 1;
                out.push('&');
            }
            c => out.push(c),
        }
        k += 1;
    }
    out
}

/// `:s`, `:gs`, `:Gs` on `text`; `None` when nothing matched (bash: "substitution failed").
fn substitute_text(
    text: &[char],
    lhs: &[char],
    rhs: &[char],
    global: bool,
    by_words: bool,
) -> Option<Vec<char>> {
    if lhs.len() > text.len() {
        return None;
    }
    let mut text = text.to_vec();
    let mut matched = false;
    let (mut si, mut word_end_at) = (0usize, 0usize);
    while si + lhs.len() <= text.len() {
        if by_words && si > word_end_at {
            while si < text.len() && blank(text[si]) {
                si += 1;
            }
            word_end_at = word_end(&text, si);
        }
        if text[si..].starts_with(lhs) {
            text.splice(si..si + lhs.len(), rhs.iter().copied());
            matched = true;
            if global {
                si += rhs.len();
                continue;
            } else if by_words {
                si = word_end_at + 1;
                continue;
            }
            break;
        }
        si += 1;
    }
    matched.then_some(text)
}

/// `:q`: the text single-quoted for the shell.
fn single_quote(text: &[char]) -> Vec<char> {
    let mut out = vec!['\''];
    for &c in text {
        if c == '\'' {
            out.extend(['\'', '\\', '\'', '\'']);
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// `:x`: like `:q`, but every blank also ends one quoted word and starts the next.
fn quote_words(text: &[char]) -> Vec<char> {
    let mut out = vec!['\''];
    for &c in text {
        match c {
            '\'' => out.extend(['\'', '\\', '\'', '\'']),
            ' ' | '\t' | '\n' => out.extend(['\'', c, '\'']),
            _ => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    //! Every expected text here is what bash 5.2.15 printed for the same history and line
    //! (`history -p`, see the module documentation).

    use super::*;
    use rstest::rstest;

    fn history(entries: &[&str]) -> Vec<String> {
        entries.iter().map(|entry| entry.to_string()).collect()
    }

    fn expanded(text: &str, complete: bool, runs: bool) -> Expansion {
        Expansion::Expanded {
            text: text.to_owned(),
            complete,
            runs,
        }
    }

    const TWO: &[&str] = &["echo a b", "echo DE"];
    const ABC: &[&str] = &["echo a b c"];

    #[rstest]
    // Event designators.
    #[case::bang_bang(TWO, "!!NY", "echo DENY")]
    #[case::relative(TWO, "!-2 z", "echo a b z")]
    #[case::prefix_search(TWO, "!ec", "echo DE")]
    #[case::substring_search(TWO, "!?a b?", "echo a b")]
    #[case::substring_search_at_end(TWO, "!?DE", "echo DE")]
    #[case::prefix_search_ends_at_dash(TWO, "!e-", "echo")]
    #[case::search_ends_at_double_quote(TWO, "echo \"!ec\"", "echo \"echo DE\"")]
    #[case::search_ends_at_semicolon(TWO, "!ec;ls", "echo DE;ls")]
    #[case::quick_substitution(TWO, "^DE^XX", "echo XX")]
    #[case::quick_substitution_then_text(TWO, "^DE^XX^ tail", "echo XX tail")]
    // Word designators.
    #[case::words(ABC, "echo !:2 !!:0 !!:1-2 !!:2* !!:1-", "echo b echo a b b c a b")]
    #[case::shorthands(ABC, "echo !$ !^ !* !:1", "echo c a a b c a")]
    #[case::ranges(ABC, "echo !!:-2 !!:^-$ !!:1*", "echo echo a b a b c a b c")]
    #[case::thirty_six_is_dollar(ABC, "echo !!:36 !!:0-36", "echo c echo a b c")]
    #[case::digits_need_a_colon(ABC, "!!0", "echo a b c0")]
    #[case::operators_are_words(&["echo tar x.tgz; ls -l /tmp"], "echo !$ !!:2 !!:3", "echo /tmp x.tgz ;")]
    #[case::redirections(&["cat <(ls x) >>out 2>&1 | wc"], "echo !!:1 !!:2 !!:3 !!:4", "echo <(ls x) >> out 2>&1")]
    #[case::quoted_words(&["echo \"a b\" 'c d' `e f` $(g h)"], "echo !!:1 !!:4", "echo \"a b\" $(g h)")]
    #[case::comment_ends_words(&["echo a # b c"], "echo !$", "echo a")]
    #[case::search_match(TWO, "echo !?b?:%", "echo b")]
    // Modifiers.
    #[case::path_parts(&["echo /usr/lib/x.tar.gz"], "echo !$:h !$:t !$:r !$:e", "echo /usr/lib x.tar.gz /usr/lib/x.tar .gz")]
    #[case::path_parts_without_separators(&["echo plain"], "echo !$:h !$:t !$:r !$:e", "echo plain plain plain plain")]
    #[case::quote(&["echo it's"], "echo !!:q !!:x", "echo 'echo it'\\''s' 'echo' 'it'\\''s'")]
    #[case::substitute(&["echo aaa"], "!!:s/a/b/", "echo baa")]
    #[case::substitute_globally(&["echo aaa"], "!!:gs/a/b/", "echo bbb")]
    #[case::substitute_a_is_g(&["echo aaa"], "!!:as/a/b/", "echo bbb")]
    #[case::substitute_again(&["echo aaa abab"], "!!:s/a/b/:&", "echo bba abab")]
    #[case::substitute_again_globally(&["echo aaa abab"], "!!:s/a/b/:g&", "echo bbb bbbb")]
    #[case::substitute_by_words(&["echo aaa abab"], "!!:Gs/a/b/", "echo baa bbab")]
    #[case::substitute_ampersand(&["echo aaa"], "!!:s/a/[&]/", "echo [a]aa")]
    #[case::substitute_escaped_ampersand(&["echo aaa"], "!!:s/a/[\\&]/", "echo [&]aa")]
    #[case::substitute_escaped_delimiter(&["echo a/b"], "!!:s+/+\\++", "echo a+b")]
    #[case::substitute_empty(&["echo aaa"], "!!:gs/a//", "echo ")]
    #[case::substitute_unterminated(&["echo aaa"], "!!:s/a/b", "echo baa")]
    #[case::substitute_without_delimiter(&["echo x y"], "echo !!:s", "echo echo x y")]
    // Where bash expands although a reader might not expect it.
    #[case::inside_double_quotes(TWO, "echo \"x !! y\"", "echo \"x echo DE y\"")]
    #[case::single_quote_inside_double_quotes(TWO, "echo \"it's !!\"", "echo \"it's echo DE\"")]
    #[case::after_dollar_at_line_start(TWO, "$!!", "$echo DE")]
    #[case::after_dollar_parameter(TWO, "echo $! !!", "echo $! echo DE")]
    #[case::hash_inside_a_word(TWO, "echo a#!!", "echo a#echo DE")]
    #[case::after_semicolon(TWO, "echo x;!!", "echo x;echo DE")]
    fn expands_like_bash(#[case] entries: &[&str], #[case] line: &str, #[case] text: &str) {
        assert_eq!(expand(line, &history(entries)), expanded(text, true, true));
    }

    #[rstest]
    #[case::single_quotes("echo 'x !! y'")]
    #[case::dollar_single_quotes("echo $'!!'")]
    #[case::dollar_single_quotes_escaped_quote("echo $'a\\'!!'")]
    #[case::backslash("echo \\!!")]
    #[case::backslash_pair("echo \\\\!!")]
    #[case::before_space("echo ! x")]
    #[case::before_tab("echo !\tx")]
    #[case::before_equals("echo x!=y")]
    #[case::at_end("echo end!")]
    #[case::before_closing_double_quote("echo \"a!\"")]
    #[case::dollar_bang_at_end("kill $!")]
    #[case::single_quotes_in_backquotes("echo `echo '!!'`")]
    #[case::unclosed_single_quote("echo 'it!s")]
    #[case::caret_not_first(" ^DE^XX")]
    #[case::plain("echo hello")]
    fn left_alone(#[case] line: &str) {
        assert_eq!(expand(line, &history(TWO)), Expansion::Unchanged);
    }

    #[rstest]
    #[case::print_only("!!:p", "echo DE")]
    #[case::quick_print_only("^DE^XX^:p", "echo XX")]
    fn prints_without_running(#[case] line: &str, #[case] text: &str) {
        assert_eq!(expand(line, &history(TWO)), expanded(text, true, false));
    }

    #[rstest]
    #[case::substitution_fails(&["echo x y"], "!!:s/q/r/")]
    #[case::quick_substitution_fails(&["echo x y"], "^q^r")]
    #[case::no_such_word(&["echo x y"], "!!:9")]
    #[case::backwards_range(&["echo x y"], "!!:2-1")]
    #[case::unknown_modifier(&["echo x y"], "!!:z")]
    #[case::colon_at_the_end(&["echo x y"], "!!:")]
    fn fails_whatever_came_before(#[case] entries: &[&str], #[case] line: &str) {
        // bash refuses the line; the reference stays as typed.
        assert_eq!(expand(line, &history(entries)), expanded(line, true, false));
    }

    #[rstest]
    #[case::empty_history(&[], "!!", "!!")]
    #[case::empty_history_word(&[], "echo !$", "echo !$")]
    #[case::older_than_record(TWO, "!-3", "!-3")]
    #[case::search_finds_nothing(TWO, "!zz", "!zz")]
    #[case::substring_finds_nothing(TWO, "!?zz?:1", "!?zz?:1")]
    #[case::absolute_number(TWO, "!1", "echo a b")]
    #[case::absolute_number_beyond(TWO, "!9", "!9")]
    #[case::keeps_what_resolves(TWO, "!zz; !!", "!zz; echo DE")]
    #[case::earlier_substitution(TWO, "!!:&", "!!:&")]
    #[case::earlier_search_string(TWO, "!??", "!??")]
    #[case::earlier_search_word(TWO, "echo !!:%", "echo ")]
    #[case::empty_left_side(TWO, "!?a?:s//X/", "echo X b")]
    fn unresolved_from_the_record(
        #[case] entries: &[&str],
        #[case] line: &str,
        #[case] text: &str,
    ) {
        let Expansion::Expanded {
            text: got,
            complete,
            ..
        } = expand(line, &history(entries))
        else {
            panic!("{line:?} is left alone");
        };
        assert_eq!((got.as_str(), complete), (text, false));
    }

    #[rstest]
    // zsh expands these; bash leaves them alone.
    #[case::glob_bracket("ls [!a]*", "ls [!a]*")]
    #[case::indirect_parameter("echo ${!x}", "echo ${!x}")]
    #[case::dollar_bang_word(": $!ec", ": $!ec")]
    #[case::after_comment("echo a # !!", "echo a # !!")]
    #[case::bash_quoting_quirk("echo \"a ! b 'c\" !!", "echo \"a ! b 'c\" !!")]
    #[case::command_substitution_quotes("echo \"$(echo '!!')\"", "echo \"$(echo '!!')\"")]
    // zsh reads these differently from bash.
    #[case::this_line("echo a !#:1", "echo a a")]
    #[case::braces("!{!}", "!{!}")]
    #[case::eventless_after_named("echo !-2:1 !$", "echo a DE")]
    #[case::zsh_modifier("!!:u", "!!:u")]
    // bash 5.3 leaves `!` before `;&|()<>` alone; 5.2 fails on it.
    #[case::before_semicolon("echo !;", "echo !;")]
    #[case::before_ampersand("echo a !& b", "echo a !& b")]
    // bash 5.2 reads past an unclosed single quote and may run its second scan, where `\\!`
    // is not escaped; 5.3 leaves the line alone.
    #[case::unclosed_quote(r"echo \\!ec 'x", r"echo \\echo DE 'x")]
    // Without extglob bash fails on it; with extglob it is a pattern.
    #[case::extglob("ls !(x)", "ls !(x)")]
    // bash's second pass judges `[!` against the text so far and expands it.
    #[case::glob_bracket_then_reference("echo [!a] !!", "echo [!a] echo DE")]
    fn other_shells_differ(#[case] line: &str, #[case] text: &str) {
        let Expansion::Expanded {
            text: got,
            complete,
            ..
        } = expand(line, &history(TWO))
        else {
            panic!("{line:?} is left alone");
        };
        assert_eq!((got.as_str(), complete), (text, false));
    }

    /// Checked on an interactive bash 5.2: the first line opens the quote, the second is `line`.
    #[rstest]
    #[case::double_quoted_reference(
        LineStart::InDoubleQuotes,
        "y !! z\"",
        expanded("y echo DE z\"", true, true)
    )]
    #[case::double_quoted_quoted_word(
        LineStart::InDoubleQuotes,
        "a'b' !!\"",
        expanded("a'b' echo DE\"", true, true)
    )]
    // bash's quoting quirk leaves it alone (zsh would not).
    #[case::double_quoted_apostrophe(
        LineStart::InDoubleQuotes,
        "it's !!\"",
        expanded("it's !!\"", false, true)
    )]
    #[case::single_quoted(LineStart::InSingleQuotes, "y !! z'", Expansion::Unchanged)]
    #[case::single_quote_closed(
        LineStart::InSingleQuotes,
        "y' !!",
        expanded("y' echo DE", true, true)
    )]
    // bash 5.2 runs `!!:s^DE^XX'`, 5.3 the line as typed.
    #[case::quick_substitution(
        LineStart::InSingleQuotes,
        "^DE^XX'",
        expanded("!!:s^DE^XX'", false, true)
    )]
    fn continues_a_quote(#[case] start: LineStart, #[case] line: &str, #[case] want: Expansion) {
        assert_eq!(expand_from(line, &history(TWO), start), want);
    }

    #[rstest]
    #[case::plain("echo hello", Expansion::Unchanged)]
    #[case::double_quotes_change_nothing("echo \"$HOME\"", Expansion::Unchanged)]
    #[case::not_inside_single_quotes("echo !!", expanded("echo echo DE", false, true))]
    #[case::only_after_an_open_quote("echo 'y !!", expanded("echo 'y !!", false, true))]
    #[case::apostrophe_and_bang("echo 'hi!'", expanded("echo 'hi!'", false, true))]
    fn unknown_start(#[case] line: &str, #[case] want: Expansion) {
        assert_eq!(expand_from(line, &history(TWO), LineStart::Unknown), want);
    }

    #[test]
    fn nul_is_not_modelled() {
        assert_eq!(
            expand("echo a\0b", &history(TWO)),
            expanded("echo a\0b", false, true)
        );
    }

    #[rstest]
    #[case::operators("a;b&&c|d>e 2>&1 <<-x", &["a", ";", "b", "&&", "c", "|", "d", ">", "e", "2>&1", "<<-", "x"])]
    #[case::quotes("\"a b\" 'c d' `e f`", &["\"a b\"", "'c d'", "`e f`"])]
    #[case::groups("x=$(a b) <(c d) @(e|f)", &["x=$(a b)", "<(c d)", "@(e|f)"])]
    #[case::escapes("a\\ b c", &["a\\ b", "c"])]
    #[case::comment("a #b c", &["a"])]
    fn splits_words_like_bash(#[case] line: &str, #[case] want: &[&str]) {
        let line: Vec<char> = line.chars().collect();
        let got: Vec<String> = words(&line)
            .iter()
            .map(|word| word.iter().collect())
            .collect();
        assert_eq!(got, want);
    }
}
