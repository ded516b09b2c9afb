//! The line the target shows: a vt100 screen of one shell channel's output, read at each
//! submit and cross-checked with the input model.
//!
//! The input model only sees keys. What the shell will run is what its line editor holds, and
//! that is on the screen: TAB completion, history recall and reverse search put text there
//! that no key spelled. At a submit the displayed line (the logical line under the cursor,
//! with the prompt stripped, read back into the scrollback when it is longer than the window)
//! is compared with the model's line. The proxy is certain only of what it has seen:
//! - they agree on a screen that can be trusted: the request carries the line, as certain as
//!   the model is;
//! - they differ, or the model is unsure: the request carries the displayed line, marked
//!   uncertain, with the model's text beside it;
//! - the screen cannot be trusted (the window was resized while the line was typed, it is too
//!   narrow to read, the line cannot be found on it): the model's line, uncertain;
//! - nothing of a non-empty line is displayed: a *secret* only on positive evidence that a
//!   program other than the shell reads it (a submit went out and the reader's prompt has not
//!   come back since); then its text appears nowhere in the request. At the shell's own prompt
//!   an unechoed line (output paused with Ctrl+S, `stty -echo`, a slow target) is a command:
//!   the model's line, uncertain.
//!
//! While a program may be reading a secret, model text the screen has not shown is never put in
//! a request. The prompt is learned from the screen: what stood left of the cursor when the
//! session's first line began, then what stood before the last line that agreed; the snapshot
//! taken when the current line began (only once the target has answered the previous submit)
//! serves when that prompt is no longer on the line (it changed).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::execution_monitor::ExecutionMonitor;
use crate::paste_mode::PasteModeWatch;
use crate::semantic_prompt::{Mark, MarkScanner, PromptKind};

/// Screen rows given to the approver as context, ending with the cursor's row.
const CONTEXT_ROWS: usize = 5;
/// How long a submit waits, by default, for the screen to show the model's line (the target's
/// echo of the last keys may still be on its way). Only a line that never shows costs the
/// whole wait: a password typed with echo off, or a line the model got wrong.
pub const ECHO_WAIT: Duration = Duration::from_secs(1);
/// When the model is unsure, the screen counts as settled once the target's output pauses
/// this long after it has answered the submit's keys.
const QUIET: Duration = Duration::from_millis(60);
/// A line the model is sure of counts as drawn once neither the keys nor the target's output
/// have moved for this long: a shell draws a packet of keys within a few milliseconds.
const SETTLE: Duration = Duration::from_millis(20);

/// What a request says about a submitted shell line after the cross-check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checked {
    pub command: String,
    pub certain: bool,
    /// The input model's text, when the request carries something else.
    pub typed: Option<String>,
    pub context: Vec<String>,
    /// The target wrote after the operator's last keys went out: the screen answers them
    /// (not so while the target's output is stopped with Ctrl+S, or a key drew nothing).
    pub fresh: bool,
    /// Neither the keys nor the screen tell what the line holds (keys the model cannot follow,
    /// in a window too narrow to read or resized while they were typed), or whether it is a
    /// command or a secret (typed ahead of a submit the target has not answered within the
    /// echo wait): nothing an approver could be shown would be the line.
    pub blind: bool,
    /// The screen showed the line (as the model has it, or otherwise).
    pub seen: bool,
    /// The target wrote after the last discard (a deny's keys, a Ctrl+C) went out: it read
    /// them, and what it drew since shows what they did.
    pub discard_answered: bool,
    /// What stands left of the line on its row (the shell's prompt, or its continuation
    /// prompt), when the line was found.
    pub prompt: Option<String>,
    /// The kind of the last prompt the shell marked (OSC 133) since the last submit or
    /// Ctrl+C, if it marks its prompts.
    pub prompt_mark: Option<PromptKind>,
    /// A submit went out and the shell's prompt has not come back since: a program it
    /// started may be what reads this line, not the shell.
    pub program_may_read: bool,
}

/// Shown to the approver in place of a line that a program other than the shell read with
/// echo off.
pub const HIDDEN: &str =
    "(hidden: a program started by an approved command read this input with echo off, as at a password prompt)";
/// Rows kept above the window, so that a line longer than the window stays readable.
const SCROLLBACK_ROWS: usize = 1000;
/// Below this many columns the screen's wrapping cannot be trusted to match the shell's
/// redisplay (seen with bash: a one- or two-column window showed `DNY` while `DENY` ran).
const NARROWEST_READABLE: u16 = 20;

/// The target's screen for one shell channel.
pub struct TargetScreen {
    parser: vt100::Parser,
    /// The prompt as it stood when the current line's first key went to the target; `None`
    /// when that key went out before the target answered the previous submit.
    prompt_at_start: Option<String>,
    /// The prompt before the last line the screen and the model agreed on: the prompt of
    /// whatever reads lines here (the shell, or a program that echoes).
    learned_prompt: Option<String>,
    /// A submit went out and the reader's prompt has not been seen since: a program started
    /// by it may be reading (a password, with echo off).
    awaiting_prompt: bool,
    /// The target wrote a newline since the last submit went out (it answered the submit).
    answered: bool,
    /// Follows the target's bracketed paste switch: a line editor (readline, zle, fish)
    /// turns it on as it starts reading a line, which is positive evidence that the shell,
    /// not a program it started, reads what comes next.
    paste_mode: PasteModeWatch,
    /// The window changed size while the current line was typed: the shell redrew it in a way
    /// the screen may not follow.
    resized_during_line: bool,
    /// A Ctrl+C went out and the reader's prompt has not come back on a new line since (bash
    /// busy when it arrives switches bracketed paste on again without a new prompt, and keeps
    /// the line).
    interrupt_unanswered: bool,
    /// The target wrote a newline since the last Ctrl+C went out.
    newline_since_interrupt: bool,
    /// The current line's first key went out before the target answered a Ctrl+C: bash may
    /// drop that key while still showing it (seen with bash 5.2: `echo next` ran `cho next`),
    /// so neither the keys nor the screen can be sure of the line.
    raced_interrupt: bool,
    /// When the operator's last keys went to the target, when the last discard did (a deny's
    /// keys, a Ctrl+C), and when the target last wrote.
    last_input: Option<Instant>,
    last_discard: Option<Instant>,
    last_output: Option<Instant>,
    monitor: ExecutionMonitor,
    marks: MarkScanner,
    /// See [`Checked::prompt_mark`].
    prompt_mark: Option<PromptKind>,
}

impl TargetScreen {
    pub fn new(rows: u16, cols: u16) -> Self {
        TargetScreen {
            parser: vt100::Parser::new(dimension(rows), dimension(cols), SCROLLBACK_ROWS),
            prompt_at_start: None,
            learned_prompt: None,
            awaiting_prompt: false,
            answered: false,
            paste_mode: PasteModeWatch::default(),
            resized_during_line: false,
            interrupt_unanswered: false,
            newline_since_interrupt: false,
            raced_interrupt: false,
            last_input: None,
            last_discard: None,
            last_output: None,
            monitor: ExecutionMonitor::default(),
            marks: MarkScanner::default(),
            prompt_mark: None,
        }
    }

    pub fn resize(&mut self, rows: u16, cols: u16) {
        if self.parser.screen().size() != (dimension(rows), dimension(cols)) {
            self.resized_during_line = true;
        }
        self.parser
            .screen_mut()
            .set_size(dimension(rows), dimension(cols));
    }

    pub fn feed(&mut self, output: &[u8]) {
        self.parser.process(output);
        self.last_output = Some(Instant::now());
        let alternate = self.parser.screen().alternate_screen();
        let marks = self.marks.scan(output);
        for (_, mark) in &marks {
            if let Mark::Prompt(kind) = mark {
                self.prompt_mark = Some(*kind);
            }
        }
        let mut monitor = std::mem::take(&mut self.monitor);
        monitor.output(output, &marks, || self.reader_prompt_shown(), alternate);
        self.monitor = monitor;
        let editor_reading = self.paste_mode.feed(output) == Some(true);
        let newline = output.contains(&b'\n');
        if self.awaiting_prompt {
            self.answered |= newline;
            if editor_reading || (self.answered && self.reader_prompt_shown()) {
                self.awaiting_prompt = false;
            }
        }
        if self.interrupt_unanswered {
            self.newline_since_interrupt |= newline;
            if self.newline_since_interrupt && self.reader_prompt_shown() {
                self.interrupt_unanswered = false;
            }
        }
    }

    /// The operator's keys went to the target just now.
    pub fn input_sent(&mut self) {
        self.last_input = Some(Instant::now());
    }

    /// An approved submit is going to the target: until the reader's prompt comes back, a
    /// program it started may be what reads the next line.
    pub fn submit_sent(&mut self) {
        self.prompt_mark = None;
        self.awaiting_prompt = true;
        self.answered = false;
    }

    /// A Ctrl+C is going to the target: the next line counts only once its prompt is back.
    /// (It starts no program: a Ctrl+C the shell ignores leaves it reading.)
    pub fn interrupt_sent(&mut self) {
        self.prompt_mark = None;
        self.discard_sent();
        self.monitor.interrupted();
        self.interrupt_unanswered = true;
        self.newline_since_interrupt = false;
    }

    /// A key that ends the line editor's reading is going to the target: an approved submit
    /// (of a blank line too) or the end of input.
    pub fn line_ends(&mut self) {
        self.monitor.line_ends();
    }

    /// Keys went to the target; `followed`: the input model follows every key of the line;
    /// `abort`: they hold a C-g, which makes zsh start its editor over.
    pub fn keys_sent(&mut self, followed: bool, abort: bool) {
        self.monitor.keys_sent(followed);
        if abort {
            self.monitor.restart_possible();
        }
    }

    /// An approved command may have bound keys to commands (see
    /// [`ExecutionMonitor::bindings_changed`]).
    pub fn bindings_changed(&mut self) {
        self.monitor.bindings_changed();
    }

    /// Why the target is known to have run something no approved submit started, if it has.
    pub fn unprompted_run(&self) -> Option<&'static str> {
        self.monitor.alarm()
    }

    /// The run [`unprompted_run`](Self::unprompted_run) tells of was asked about by the
    /// shell's guard.
    pub fn acknowledge_run(&mut self) {
        self.monitor.acknowledge();
    }

    /// Keys that discard the line (a deny's) are going to the target.
    pub fn discard_sent(&mut self) {
        self.last_discard = Some(Instant::now());
        self.monitor.restart_possible();
    }

    /// Whether the line under the cursor starts with the learned prompt.
    fn reader_prompt_shown(&mut self) -> bool {
        let Some(prompt) = self.learned_prompt.clone() else {
            return false;
        };
        !prompt.trim().is_empty()
            && self
                .cursor_line()
                .is_some_and(|line| line.starts_with(prompt.as_str()))
    }

    /// When neither side has been busy for a moment ([`SETTLE`] after the later of the last
    /// keys and the target's last write).
    fn settles_at(&self) -> Instant {
        let last = self.last_input.max(self.last_output);
        last.map_or_else(Instant::now, |last| last + SETTLE)
    }

    /// When the target's answer to the last discard counts as settled: a moment after it last
    /// wrote, once it has written since the discard went out.
    fn quiet_after_discard(&self) -> Option<Instant> {
        let (output, discard) = (self.last_output?, self.last_discard?);
        (output >= discard).then_some(output + QUIET)
    }

    /// When the screen counts as settled for a line the model is unsure of: a moment after
    /// the target last wrote, once it has written since the last keys went out.
    fn quiet_from(&self) -> Option<Instant> {
        let output = self.last_output?;
        (self.last_input.is_none_or(|input| output >= input)).then_some(output + QUIET)
    }

    /// The operator's first key of a new line is about to go out: what stands left of the
    /// cursor now is the prompt, once the target has answered the previous submit.
    pub fn line_starts(&mut self) {
        self.resized_during_line = false;
        self.raced_interrupt = self.interrupt_unanswered;
        if self.awaiting_prompt && !self.answered {
            // Typed ahead: the screen still shows the last line, not this one's prompt.
            self.prompt_at_start = None;
            return;
        }
        let screen = self.parser.screen();
        let (row, col) = screen.cursor_position();
        let prompt = screen.contents_between(row, 0, row, col);
        // The session's first line starts at a fresh prompt: the best first guess.
        if self.learned_prompt.is_none() {
            self.learned_prompt = Some(prompt.clone());
        }
        self.prompt_at_start = Some(prompt);
    }

    /// The logical line under the cursor (wrapped rows joined, back into the scrollback when
    /// it began above the window); `None` on the alternate screen, or when it began before the
    /// oldest row kept.
    fn cursor_line(&mut self) -> Option<String> {
        let screen = self.parser.screen();
        if screen.alternate_screen() {
            return None;
        }
        let (cursor_row, _) = screen.cursor_position();
        let (rows, cols) = screen.size();
        let mut first = cursor_row;
        while first > 0 && screen.row_wrapped(first - 1) {
            first -= 1;
        }
        let mut last = cursor_row;
        while last + 1 < rows.get() && screen.row_wrapped(last) {
            last += 1;
        }
        let mut text: String = screen
            .rows(0, cols.get())
            .skip(usize::from(first))
            .take(usize::from(last - first) + 1)
            .collect();
        if first == 0 {
            text.insert_str(0, &self.scrolled_off_part()?);
        }
        Some(text)
    }

    /// The rows above the window that wrap into its first row, oldest first; `None` when the
    /// line began before the oldest row kept.
    fn scrolled_off_part(&mut self) -> Option<String> {
        let screen = self.parser.screen_mut();
        screen.set_scrollback(usize::MAX);
        let kept = screen.scrollback();
        let cols = screen.size().1.get();
        let mut part = Vec::new();
        for back in 1..=kept {
            screen.set_scrollback(back);
            // With `back` rows of scrollback in view, row 0 is the `back`-th row above.
            if !screen.row_wrapped(0) {
                break;
            }
            part.push(screen.rows(0, cols).next().unwrap_or_default());
        }
        screen.set_scrollback(0);
        // Every row kept continues the line, and older rows were dropped: its start is gone.
        let start_lost = part.len() == kept && kept == SCROLLBACK_ROWS;
        (!start_lost).then(|| part.into_iter().rev().collect())
    }

    /// The line after the prompt, if a known prompt starts the cursor's line, or one of the
    /// `rows_above` logical lines above it (a line holding that many newlines); in readline's
    /// incremental search, the line found.
    fn displayed(&mut self, rows_above: usize) -> Option<(String, String)> {
        let line = self.cursor_line()?;
        if let Some(found) = search_prompt(&line) {
            return Some((
                found.to_string(),
                line[found.len()..].trim_end().to_string(),
            ));
        }
        if let Some(found) = self.after_prompt(&line) {
            return Some(found);
        }
        // A line holding newlines (a multi-line paste) is drawn over several rows: the
        // prompt starts the first of them.
        let mut text = line;
        for above in self
            .logical_lines_above_cursor()
            .into_iter()
            .take(rows_above)
        {
            text = format!("{above}\n{text}");
            if let Some(found) = self.after_prompt(&text) {
                return Some(found);
            }
        }
        None
    }

    /// `line` without a known prompt at its start, and that prompt.
    fn after_prompt(&self, line: &str) -> Option<(String, String)> {
        // The learned prompt first: a snapshot taken at a line's start may hold text that a
        // line the shell did not run (an Enter it did not take) left behind, and stripping
        // that would hide it from the approver. The snapshot serves when the prompt changed.
        [&self.learned_prompt, &self.prompt_at_start]
            .into_iter()
            .flatten()
            .find_map(|prompt| {
                let after = match line.strip_prefix(prompt.as_str()) {
                    Some(after) => after,
                    // A prompt ending in blanks with nothing typed after it.
                    None if line.trim_end() == prompt.trim_end() => "",
                    None => return None,
                };
                Some((
                    prompt.clone(),
                    after.trim_end_matches([' ', '\t']).to_string(),
                ))
            })
    }

    /// The logical lines of the window above the cursor's, nearest first (at most a window's
    /// worth: a paste longer than that is not read).
    fn logical_lines_above_cursor(&self) -> Vec<String> {
        let screen = self.parser.screen();
        let (cursor_row, _) = screen.cursor_position();
        let cols = screen.size().1.get();
        let rows: Vec<String> = screen.rows(0, cols).collect();
        let mut first = cursor_row;
        while first > 0 && screen.row_wrapped(first - 1) {
            first -= 1;
        }
        let mut lines = Vec::new();
        let mut end = first;
        while end > 0 {
            let mut start = end - 1;
            while start > 0 && screen.row_wrapped(start - 1) {
                start -= 1;
            }
            lines.push(rows[usize::from(start)..usize::from(end)].concat());
            end = start;
        }
        lines
    }

    /// Whether the screen can be read at all for the current line.
    fn readable(&self) -> bool {
        !self.resized_during_line && self.parser.screen().size().1.get() >= NARROWEST_READABLE
    }

    fn agrees(&mut self, line: &str) -> bool {
        self.readable()
            && self
                .displayed(newlines(line))
                .is_some_and(|(prompt, displayed)| shows(&prompt, line, &displayed))
    }

    pub fn context(&self) -> Vec<String> {
        let screen = self.parser.screen();
        let (cursor_row, _) = screen.cursor_position();
        let rows: Vec<String> = screen
            .rows(0, screen.size().1.get())
            .take(usize::from(cursor_row) + 1)
            .map(|row| row.trim_end().to_string())
            .collect();
        let from = rows.len().saturating_sub(CONTEXT_ROWS);
        rows[from..].to_vec()
    }

    /// Whether `text` stands anywhere in the window: shown to the operator, so not a secret.
    /// Only its printable start is looked for: a control character or an invalid byte may be
    /// drawn in another way (the tty echoes a stray `0x8d` as it is).
    fn on_screen(&self, text: &str) -> bool {
        let printable = text
            .split(|c: char| c.is_control() || c == char::REPLACEMENT_CHARACTER)
            .next()
            .unwrap_or_default()
            .trim();
        !printable.is_empty() && self.parser.screen().contents().contains(printable)
    }

    /// Cross-check the model's `line` (and whether the model is `certain` of it);
    /// `continuing`: the line continues a command begun on earlier lines, so the prompt before
    /// it is a continuation prompt.
    pub fn check(&mut self, line: &str, certain: bool, continuing: bool) -> Checked {
        // Losing the first key of a blank line only ever leaves less on it.
        let raced = self.raced_interrupt && !line.trim().is_empty();
        let mut checked = self.cross_check(line, certain && !raced, continuing);
        checked.fresh = self.fresh();
        checked.prompt_mark = self.prompt_mark;
        checked.program_may_read = self.awaiting_prompt;
        checked.discard_answered = match (self.last_discard, self.last_output) {
            (Some(discard), Some(output)) => output >= discard,
            (discard, _) => discard.is_none(),
        };
        // Typed ahead of a submit the target has not answered yet: whether the shell or a
        // program it started reads it (a command, or a secret) is not known.
        let unanswered = self.awaiting_prompt && !self.answered && !line.trim().is_empty();
        let alternate = self.parser.screen().alternate_screen();
        let unreadable = !certain && !self.readable() && !alternate;
        // Keys the model cannot follow, and a screen that shows nothing of the line (echo off):
        // the model's text would be a guess.
        let unshown_guess = !certain
            && !checked.seen
            && !alternate
            && !line.trim().is_empty()
            && checked.command != HIDDEN
            && !self.on_screen(line);
        checked.blind = unanswered || unreadable || unshown_guess;
        checked
    }

    /// Whether the target wrote after the operator's last keys went out.
    fn fresh(&self) -> bool {
        match (self.last_input, self.last_output) {
            (Some(input), Some(output)) => output >= input,
            (input, _) => input.is_none(),
        }
    }

    fn cross_check(&mut self, line: &str, certain: bool, continuing: bool) -> Checked {
        let context = self.context();
        // A program other than the shell may be reading: what it did not show may be secret.
        let program_reading = self.awaiting_prompt;
        let model = |certain: bool| Checked {
            command: line.to_string(),
            certain,
            context: context.clone(),
            ..Checked::default()
        };
        let hidden = || Checked {
            command: HIDDEN.to_string(),
            context: context.clone(),
            ..Checked::default()
        };
        let readable = self.readable();
        let Some((prompt, displayed)) = self.displayed(newlines(line)) else {
            // The line cannot be found: the keys are all there is, and never certain.
            if program_reading && !line.trim().is_empty() && !self.on_screen(line) {
                return hidden();
            }
            return model(false);
        };
        if !readable {
            return model(false);
        }
        let found = Some(prompt.clone());
        if shows(&prompt, line, &displayed) {
            // A search prompt stands in for the shell's only while the search is on; a blank
            // line shows nothing of where the prompt ends (it may not have been drawn yet); a
            // continuation prompt is not the reader's, nor what a program shows before the
            // line it reads.
            if search_prompt(&prompt).is_none()
                && !line.trim().is_empty()
                && !continuing
                && !program_reading
            {
                self.learned_prompt = Some(prompt);
            }
            return Checked {
                seen: true,
                prompt: found,
                ..model(certain)
            };
        }
        if displayed.is_empty() && !line.trim().is_empty() {
            // Not echoed. Read by a program with echo off: a secret, which neither the
            // command nor the context may carry (the context cannot: the screen never showed
            // it). At the shell's prompt: a command the screen did not show.
            return if program_reading {
                hidden()
            } else {
                Checked {
                    prompt: found,
                    ..model(false)
                }
            };
        }
        Checked {
            prompt: found,
            command: displayed,
            certain: false,
            // What a program reading a secret did not show stays out (a prompt echoing `*`).
            typed: (!program_reading || self.on_screen(line)).then(|| line.to_string()),
            context,
            seen: true,
            ..Checked::default()
        }
    }
}

/// Readline's incremental search prompt at the start of `line` (`(reverse-i-search)`ls': `),
/// which stands in for the shell's prompt while a search is on; Enter runs the line found.
fn search_prompt(line: &str) -> Option<&str> {
    const SEARCHES: &[&str] = &[
        "(reverse-i-search)`",
        "(i-search)`",
        "(failed reverse-i-search)`",
        "(failed i-search)`",
    ];
    SEARCHES.iter().find(|search| line.starts_with(**search))?;
    let end = line.find("': ")? + "': ".len();
    Some(&line[..end])
}

/// Whether `displayed` (after `prompt`) is how a line editor shows `line`: control
/// characters in caret notation (`^J`), a tab as `^I` or as blanks up to the next tab stop.
fn shows(prompt: &str, line: &str, displayed: &str) -> bool {
    // Trailing blanks do not show; a trailing newline does (`^J`, or a row break). Leading
    // blanks change nothing the shell runs, and cells a redraw left blank may show as such
    // (seen with bash after clearing a line longer than the window).
    let line = line.trim_matches([' ', '\t']);
    let displayed = displayed.trim_start_matches([' ', '\t']);
    if !line.chars().any(char::is_control) || displayed == line {
        return displayed == line;
    }
    let caret = |c: char| match c {
        '\u{7f}' => "^?".to_string(),
        c if (c as u32) < 0x20 => format!("^{}", char::from(b'@' + c as u8)),
        c => c.to_string(),
    };
    let in_carets: String = line.chars().map(caret).collect();
    let mut with_tabs = String::new();
    // Tab stops count from the start of the row; wide characters are rare enough next to a
    // tab that counting chars is close enough (a miss only marks the line uncertain).
    let mut column = prompt.chars().count();
    for c in line.chars() {
        let shown = match c {
            '\t' => " ".repeat(8 - column % 8),
            c => caret(c),
        };
        column += shown.chars().count();
        with_tabs.push_str(&shown);
    }
    displayed == in_carets || displayed == with_tabs.trim_end()
}

/// How many rows a line's newlines start.
fn newlines(line: &str) -> usize {
    line.matches('\n').count()
}

/// A screen dimension: at least one.
fn dimension(value: u16) -> std::num::NonZeroU16 {
    std::num::NonZeroU16::new(value).unwrap_or(std::num::NonZeroU16::MIN)
}

/// A [`TargetScreen`] shared by a channel's two pumps: the outbound pump feeds it, the inbound
/// pump reads it at each submit.
#[derive(Clone)]
pub struct SharedScreen {
    screen: Arc<Mutex<TargetScreen>>,
    /// Counts the target's output chunks, so that a submit can wait for the echo.
    output: watch::Sender<u64>,
    /// Set once the channel is a PTY shell; other channels' output is not kept.
    shell: Arc<AtomicBool>,
    /// How long a submit waits for the screen to settle, at most.
    echo_wait: Duration,
}

impl SharedScreen {
    pub fn new(rows: u16, cols: u16, echo_wait: Duration) -> Self {
        SharedScreen {
            echo_wait,
            screen: Arc::new(Mutex::new(TargetScreen::new(rows, cols))),
            output: watch::Sender::new(0),
            shell: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Ticks with every chunk of the target's output.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.output.subscribe()
    }

    /// The channel became a PTY shell: keep its screen from now on.
    pub fn start(&self) {
        self.shell.store(true, Ordering::Relaxed);
    }

    pub fn lock(&self) -> MutexGuard<'_, TargetScreen> {
        // A panic while holding the lock leaves at worst a half-fed screen: keep going.
        self.screen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The target's output, on its way to the operator.
    /// Whether the channel is a PTY shell, whose output sshgate reads.
    pub fn is_shell(&self) -> bool {
        self.shell.load(Ordering::Relaxed)
    }

    pub fn feed(&self, output: &[u8]) {
        if !self.is_shell() {
            return;
        }
        self.lock().feed(output);
        self.output.send_modify(|count| *count += 1);
    }

    /// Resolves once the target has answered the last Ctrl+C (the reader's prompt back on a
    /// new row), or when the echo wait is over.
    /// True when it did: false means the shell may not take C-c as an interrupt (`stty intr
    /// undef`, `trap '' INT`).
    pub async fn interrupt_answered(&self) -> bool {
        let deadline = Instant::now() + self.echo_wait;
        let mut output = self.output.subscribe();
        loop {
            output.mark_unchanged();
            if !self.lock().interrupt_unanswered {
                return true;
            }
            if tokio::time::timeout_at(deadline, output.changed())
                .await
                .is_err()
            {
                return false;
            }
        }
    }

    /// Resolves once the target's answer to the last discard keys has settled (it wrote after
    /// them, then paused), or when the echo wait is over.
    pub async fn discard_settled(&self) {
        let deadline = Instant::now() + self.echo_wait;
        let mut output = self.output.subscribe();
        loop {
            output.mark_unchanged();
            let wait = match self.lock().quiet_after_discard() {
                Some(quiet) if quiet <= Instant::now() => return,
                Some(quiet) => quiet.min(deadline),
                None => deadline,
            };
            let changed = tokio::time::timeout_at(wait, output.changed()).await;
            if changed.is_err() && Instant::now() >= deadline {
                return;
            }
        }
    }

    /// Cross-check a submitted line once the screen has settled: it shows the model's line
    /// (when the model is sure of it; with `answered`, only once the target has written after
    /// the last keys, so that a line left as it was by keys the target has not answered yet
    /// does not count), or the target's output has paused after answering the last keys (when
    /// the model is unsure), or the longest wait is over.
    pub async fn check_when_settled(
        &self,
        line: &str,
        certain: bool,
        answered: bool,
        continuing: bool,
    ) -> Checked {
        let deadline = Instant::now() + self.echo_wait;
        let mut output = self.output.subscribe();
        loop {
            output.mark_unchanged();
            let wait = {
                let mut screen = self.lock();
                if certain {
                    // Agreeing is not enough while the target is still drawing the keys: a
                    // packet of keys is drawn key by key, and the line may agree on the way
                    // (bash shows `echo DENY` before it inserts the `~` of an End key it does
                    // not bind).
                    let settles = screen.settles_at();
                    let settled = settles <= Instant::now();
                    if screen.agrees(line) && (!answered || screen.fresh()) && settled {
                        break;
                    }
                    if settled {
                        deadline
                    } else {
                        deadline.min(settles)
                    }
                } else {
                    // Unsure lines wait for the target's answer to the keys even when the
                    // screen already agrees: a recalled line is drawn only after the key.
                    match screen.quiet_from() {
                        Some(quiet) if quiet <= Instant::now() => break,
                        Some(quiet) => deadline.min(quiet),
                        None => deadline,
                    }
                }
            };
            let timed_out = tokio::time::timeout_at(wait, output.changed())
                .await
                .is_err();
            // A sure line looks again once the keys have settled; out of time, or an unsure
            // line settled, the screen is what it shows.
            if timed_out && (!certain || Instant::now() >= deadline) {
                break;
            }
        }
        self.lock().check(line, certain, continuing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn screen_after(output: &str) -> TargetScreen {
        let mut screen = TargetScreen::new(24, 80);
        screen.feed(output.as_bytes());
        screen
    }

    #[test]
    fn an_agreeing_line_keeps_the_models_certainty() {
        let mut screen = screen_after("$ ");
        screen.line_starts();
        screen.feed(b"echo hi");
        let checked = screen.check("echo hi", true, false);
        assert_eq!(checked.command, "echo hi");
        assert!(checked.certain);
        assert_eq!(checked.typed, None);
    }

    #[test]
    fn a_completed_line_is_shown_as_displayed_and_uncertain() {
        let mut screen = screen_after("user@host:~$ ");
        screen.line_starts();
        screen.feed(b"echo hi");
        let checked = screen.check("ech\t hi", false, false);
        assert_eq!(checked.command, "echo hi");
        assert!(!checked.certain);
        assert_eq!(checked.typed.as_deref(), Some("ech\t hi"));
    }

    #[test]
    fn a_line_the_model_got_wrong_is_not_certain() {
        let mut screen = screen_after("$ ");
        screen.line_starts();
        screen.feed(b"rm -rf /tmp/x; echo hi");
        let checked = screen.check("echo hi", true, false);
        assert_eq!(checked.command, "rm -rf /tmp/x; echo hi");
        assert!(!checked.certain);
    }

    #[test]
    fn a_line_not_echoed_is_hidden_entirely() {
        let mut screen = screen_after("$ ");
        screen.line_starts();
        screen.feed(b"read -s");
        assert!(screen.check("read -s", true, false).certain);
        screen.submit_sent();
        screen.feed(b"\r\nPassword: ");
        screen.line_starts();
        let checked = screen.check("hunter2", true, false);
        assert_eq!(checked.command, HIDDEN);
        assert!(!checked.certain);
        assert_eq!(checked.typed, None);
        assert!(!format!("{checked:?}").contains("hunter2"));
    }

    #[test]
    fn a_wrapped_line_is_read_whole() {
        let mut screen = TargetScreen::new(24, 20);
        screen.feed(b"$ ");
        screen.line_starts();
        let line = format!("echo {}", "0123456789".repeat(3));
        screen.feed(line.as_bytes());
        let checked = screen.check(&line, true, false);
        assert_eq!(checked.command, line);
        assert!(checked.certain);
    }

    #[test]
    fn a_line_longer_than_the_window_is_read_back_from_the_scrollback() {
        let mut screen = TargetScreen::new(5, 20);
        screen.feed(b"$ ");
        screen.line_starts();
        let line = format!("echo {} DENY", "x".repeat(300));
        screen.feed(line.as_bytes());
        let checked = screen.check(&line, true, false);
        assert_eq!(checked.command, line);
        assert!(checked.certain);
        // The model got it wrong: the screen's whole line is what the approver sees.
        let checked = screen.check(&format!("echo {} DE", "x".repeat(300)), true, false);
        assert_eq!(checked.command, line);
        assert!(!checked.certain);
    }

    #[test]
    fn a_line_beyond_the_scrollback_is_uncertain() {
        let mut screen = TargetScreen::new(5, 20);
        screen.feed(b"$ ");
        screen.line_starts();
        let line = format!("echo {}", "x".repeat(20 * (SCROLLBACK_ROWS + 10)));
        screen.feed(line.as_bytes());
        let checked = screen.check(&line, true, false);
        assert_eq!(checked.command, line);
        assert!(!checked.certain);
    }

    #[test]
    fn a_narrow_or_resized_window_is_not_trusted() {
        let mut narrow = TargetScreen::new(24, 2);
        narrow.feed(b"$ ");
        narrow.line_starts();
        narrow.feed(b"echo DENY");
        assert!(!narrow.check("echo DENY", true, false).certain);
        assert!(!narrow.check("echo DENY", true, false).blind);
        // Keys the model cannot follow, on a screen that cannot be read: nothing to show.
        assert!(narrow.check("echo DENY", false, false).blind);

        let mut resized = screen_after("$ ");
        resized.line_starts();
        resized.feed(b"echo DENY");
        resized.resize(24, 40);
        assert!(!resized.check("echo DENY", true, false).certain);
        // The next line is read again.
        resized.feed(b"\r\n$ ");
        resized.line_starts();
        resized.feed(b"ls");
        assert!(resized.check("ls", true, false).certain);
    }

    #[test]
    fn a_line_not_echoed_at_the_shells_prompt_is_a_command() {
        // Output paused (Ctrl+S), `stty -echo`, a slow target: the keys are all there is.
        let mut screen = screen_after("$ ");
        screen.line_starts();
        let checked = screen.check("echo DENY xoff", true, false);
        assert_eq!(checked.command, "echo DENY xoff");
        assert!(!checked.certain);
        // The same after a command ran and the shell's prompt came back.
        screen.feed(b"ls");
        screen.check("ls", true, false);
        screen.submit_sent();
        screen.feed(b"\r\nfile\r\n$ ");
        screen.line_starts();
        assert_eq!(screen.check("echo DENY", true, false).command, "echo DENY");
    }

    #[test]
    fn a_line_begun_before_the_shell_answered_ctrl_c_is_uncertain() {
        let mut screen = screen_after("$ ");
        screen.line_starts();
        screen.feed(b"rm x");
        screen.interrupt_sent();
        screen.line_starts();
        screen.feed(b"^C\r\n$ echo next");
        assert!(!screen.check("echo next", true, false).certain);
        // Typed once the prompt is back, the next line is as certain as its keys.
        screen.interrupt_sent();
        screen.feed(b"^C\r\n$ ");
        screen.line_starts();
        screen.feed(b"ls");
        assert!(screen.check("ls", true, false).certain);
    }

    #[test]
    fn a_pasted_line_drawn_over_several_rows_is_read_whole() {
        let mut screen = screen_after("out\r\n$ ");
        screen.line_starts();
        screen.feed(b"echo a\r\necho b\r\n");
        let checked = screen.check("echo a\necho b\n", true, false);
        assert_eq!(checked.command, "echo a\necho b\n");
        assert!(checked.certain);
        // No more rows than the line has newlines: `out` is not part of it.
        assert!(!screen.check("echo b\n", true, false).certain);
    }

    #[test]
    fn a_line_editor_reading_again_is_the_shell_whatever_its_prompt() {
        // `echo -n hi` leaves `hi` before the next prompt; a counter in PS1 changes it.
        let mut screen = screen_after("\x1b[?2004h$ ");
        screen.line_starts();
        screen.feed(b"echo -n hi");
        screen.check("echo -n hi", true, false);
        screen.submit_sent();
        screen.feed(b"\r\n\x1b[?2004lhi\x1b[?2004h$ ");
        screen.line_starts();
        let checked = screen.check("echo DENY", true, false);
        assert_eq!(checked.command, "echo DENY");
        assert!(!checked.certain);
    }

    #[test]
    fn a_line_typed_ahead_of_an_unanswered_submit_is_blind() {
        // `stty -echo` on a slow target, then a line: the shell's, or a program's secret?
        let mut screen = screen_after("$ ");
        screen.line_starts();
        screen.feed(b"stty -echo");
        screen.check("stty -echo", true, false);
        screen.submit_sent();
        screen.line_starts();
        let checked = screen.check("echo DENY", true, false);
        assert!(checked.blind);
        assert!(!format!("{checked:?}").contains("DENY"));
    }

    #[test]
    fn a_secret_typed_ahead_of_its_program_stays_hidden() {
        // `read -s pw<CR>hunter2<CR>` in one packet: hunter2's line starts before bash answers.
        let mut screen = screen_after("$ ");
        screen.line_starts();
        screen.feed(b"read -s pw");
        screen.check("read -s pw", true, false);
        screen.submit_sent();
        screen.line_starts();
        screen.feed(b"\r\n");
        let checked = screen.check("hunter2", true, false);
        assert_eq!(checked.command, HIDDEN);
        assert!(!format!("{checked:?}").contains("hunter2"));
    }

    #[test]
    fn what_a_program_shows_instead_of_a_secret_keeps_the_secret_out() {
        let mut screen = screen_after("$ ");
        screen.line_starts();
        screen.feed(b"askpass");
        screen.check("askpass", true, false);
        screen.submit_sent();
        screen.feed(b"\r\nPIN: ");
        screen.line_starts();
        screen.feed(b"*******");
        let checked = screen.check("hunter2", true, false);
        assert_eq!(checked.command, "*******");
        assert!(!checked.certain);
        assert!(!format!("{checked:?}").contains("hunter2"));
    }

    #[test]
    fn the_prompt_is_learned_from_an_agreeing_line() {
        // The next line's first key went out before its prompt arrived.
        let mut screen = screen_after("$ ");
        screen.line_starts();
        screen.feed(b"ls");
        assert!(screen.check("ls", true, false).certain);
        screen.feed(b"\r\nfile\r\n");
        screen.line_starts();
        screen.feed(b"$ pwd");
        let checked = screen.check("pwd", true, false);
        assert_eq!(checked.command, "pwd");
        assert!(checked.certain);
    }

    #[test]
    fn text_left_on_the_line_by_an_enter_not_taken_is_shown() {
        let mut screen = screen_after("$ ");
        screen.line_starts();
        // The shell did not take the "Enter" after this; the next line's snapshot of the
        // prompt includes it.
        screen.feed(b"rm -rf /x;");
        screen.line_starts();
        screen.feed(b"echo next");
        let checked = screen.check("echo next", false, false);
        assert_eq!(checked.command, "rm -rf /x;echo next");
    }

    #[test]
    fn a_full_screen_program_leaves_the_models_line_uncertain() {
        let mut screen = screen_after("$ ");
        screen.line_starts();
        screen.feed(b"\x1b[?1049hsomething else");
        let checked = screen.check(":q", true, false);
        assert_eq!(checked.command, ":q");
        assert!(!checked.certain);
    }

    #[test]
    fn control_characters_agree_in_caret_notation_and_tabs_as_blanks() {
        assert!(shows("$ ", "echo a\necho b", "echo a^Jecho b"));
        assert!(shows("$ ", "printf \"a\tb\"", "printf \"a^Ib\""));
        assert!(shows("$ ", "printf \"a\tb\"", "printf \"a     b\""));
        assert!(!shows("$ ", "echo a\necho b", "echo aecho b"));
        assert!(shows("$ ", "echo hi ", "echo hi"));
        assert!(shows("$ ", "echo one\n", "echo one^J"));
    }

    #[test]
    fn a_reverse_search_shows_the_line_found() {
        let mut screen = screen_after("$ ");
        screen.line_starts();
        screen.feed(b"\r(reverse-i-search)`firs': echo first");
        let checked = screen.check("firs", false, false);
        assert_eq!(checked.command, "echo first");
        assert!(!checked.certain);
    }

    #[test]
    fn context_ends_with_the_cursor_row() {
        let mut screen = screen_after("a\r\nb\r\n$ ");
        screen.line_starts();
        screen.feed(b"ls");
        assert_eq!(screen.check("ls", true, false).context, ["a", "b", "$ ls"]);
    }

    #[tokio::test]
    async fn a_submit_waits_for_the_echo() {
        let shared = SharedScreen::new(24, 80, ECHO_WAIT);
        shared.start();
        shared.feed(b"$ ");
        shared.lock().line_starts();
        let echo = shared.clone();
        tokio::spawn(async move {
            tokio::task::yield_now().await;
            echo.feed(b"echo hi");
        });
        let checked = shared
            .check_when_settled("echo hi", true, false, false)
            .await;
        assert_eq!(checked.command, "echo hi");
        assert!(checked.certain);
    }
}
