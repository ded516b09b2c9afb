//! Notices the target running something that no approved submit started.
//!
//! The gate holds every key that submits a line, but an approved command can change what
//! other keys do: a `bind -x` key runs a command, a macro types a newline, a prompt hook runs
//! at every prompt. Stopping such a command before it runs needs the target's cooperation; what
//! the proxy can do is see it run and end the session. Two signs, watched only while the line
//! editor reads a line the operator is typing:
//! - the editor switches bracketed paste off (`ESC [ ? 2004 l`), which readline, zle and fish
//!   do when they hand a line over to be run, while no submit, Ctrl+C or end of input went out;
//! - the target writes a newline and then shows its prompt again at the start of the cursor's
//!   row (bash after a `bind -x` command), while every key since the editor began reading was
//!   one the input model follows exactly (completion keys that list candidates and redraw the
//!   prompt make the model unsure).
//!
//! A C-g (the operator's, or the first of a deny's discard keys) may make the editor start over:
//! zsh's C-g (send-break) abandons the line and draws a new prompt, switching bracketed paste off
//! and on. After one, a switch-off is taken for that until the editor switches paste on again,
//! or keys go out after the target has answered the C-g.
//!
//! A submit sent while the editor was not reading (typed ahead while a command ran) is read
//! later, at the next prompt: the switch-off it causes then is expected, once per such submit.
//!
//! The editor counts as reading from a bracketed paste switch-on that follows a newline after
//! the last submit or Ctrl+C (bash interrupted switches it off, on and off again before its
//! new prompt), or the session's first switch-on. A full-screen program (alternate screen) is
//! never watched: it redraws as it likes.

use crate::paste_mode::PasteModeWatch;
use crate::semantic_prompt::Mark;

/// Why the session ended, for the operator, the approver and the log.
pub const EDITOR_STOPPED: &str = "the target's line editor handed a line over to run although \
     no approved submit went out (a key binding or macro ran it)";
pub const COMMAND_MARKED: &str = "the target's shell marked a command starting (OSC 133;C) \
     although no approved submit went out (a key binding or macro ran it)";
pub const PROMPT_REDRAWN: &str = "the target drew its prompt again after output although no \
     approved submit went out (a key binding ran a command)";
pub const PROMPT_REDRAWN_AFTER_BINDING: &str = "the target drew its prompt again after output \
     although no approved submit went out, after an approved command changed what keys do: a \
     key binding ran a command, or a completion listing, which sshgate cannot tell apart from \
     one once bindings changed";

#[derive(Default)]
pub struct ExecutionMonitor {
    paste_mode: PasteModeWatch,
    /// The line editor reads a line the operator types.
    reading: bool,
    /// A submit, Ctrl+C or end of input went out and no newline has come since.
    line_ended: bool,
    /// The target wrote a newline while the editor was reading.
    newline_while_reading: bool,
    /// Every key sent since the editor began reading was one the model follows exactly.
    keys_followed: bool,
    /// A C-g went out, and the editor has not started over since.
    after_discard: bool,
    /// The target wrote after that C-g.
    answered_discard: bool,
    /// Submits sent while the editor was not reading, not yet read by it.
    typed_ahead_ends: u32,
    /// An approved command may have bound keys to commands (`bind -x`, `source`): a key the
    /// model does not follow (Tab) may be one of them.
    bindings_changed: bool,
    alarm: Option<&'static str>,
}

impl ExecutionMonitor {
    /// The target wrote `output`, with the semantic prompt `marks` found in it (each at the
    /// offset past its end); `prompt_shown` tells whether the cursor's row now starts with the
    /// shell's prompt, `alternate` whether a full-screen program has the screen.
    pub fn output(
        &mut self,
        output: &[u8],
        marks: &[(usize, Mark)],
        prompt_shown: impl FnOnce() -> bool,
        alternate: bool,
    ) {
        let mut marks = marks.iter().peekable();
        let mut redraws = RedrawWatch::default();
        for (index, &byte) in output.iter().enumerate() {
            match redraws.feed(byte) {
                // bash clears the row before a `bind -x` command and draws the prompt again
                // after it, with no newline when the command writes nothing. The editor
                // clears rows too: only once bindings may have changed is it taken for that.
                Some(Redraw::RowCleared) if self.bindings_changed => {
                    self.newline_while_reading |= self.reading;
                }
                // Back up to the line's earlier rows: the newlines were the editor's, going
                // down a line of several rows (a pasted line break) to redraw it. A bound
                // command could move up as well: once bindings may have changed, no excuse.
                Some(Redraw::CursorUp) if !self.bindings_changed => {
                    self.newline_while_reading = false;
                }
                _ => {}
            }
            match self.paste_mode.feed(std::slice::from_ref(&byte)) {
                Some(true) => self.editor_reads(),
                Some(false) => self.editor_stops(EDITOR_STOPPED, alternate),
                _ if byte == b'\n' => {
                    self.line_ended = false;
                    self.newline_while_reading |= self.reading;
                }
                _ => {}
            }
            while let Some((_, mark)) = marks.next_if(|(end, _)| *end == index + 1) {
                match mark {
                    Mark::Input => self.editor_reads(),
                    Mark::Command => self.editor_stops(COMMAND_MARKED, alternate),
                    Mark::Prompt(_) | Mark::CommandEnd => {}
                }
            }
        }
        self.answered_discard = self.after_discard;
        let mut prompt_shown = Some(prompt_shown);
        let mut prompt = || prompt_shown.take().is_some_and(|shown| shown());
        if self.bindings_changed && !self.reading && !self.line_ended && !alternate && prompt() {
            // Without bracketed paste or marks, the prompt is the only sign the editor reads.
            self.editor_reads();
            return;
        }
        if self.reading
            && self.newline_while_reading
            && (self.keys_followed || self.bindings_changed)
            && !alternate
            && prompt()
        {
            self.raise(if self.keys_followed {
                PROMPT_REDRAWN
            } else {
                PROMPT_REDRAWN_AFTER_BINDING
            });
        }
    }

    /// An approved command may have bound keys to commands: from now on a prompt drawn again
    /// after output is a command run, whatever keys went out (a completion listing that
    /// looks the same ends the session too).
    pub fn bindings_changed(&mut self) {
        self.bindings_changed = true;
    }

    /// The line editor shows it reads: bracketed paste switched on, or the shell marked where
    /// its input starts.
    fn editor_reads(&mut self) {
        if !self.line_ended && !self.reading {
            self.after_discard = false;
            self.reading = true;
            self.newline_while_reading = false;
            self.keys_followed = true;
        }
    }

    /// The line editor shows it stopped reading: bracketed paste switched off, or the shell
    /// marked a command starting; `reason` if nothing the operator sent explains it.
    fn editor_stops(&mut self, reason: &'static str, alternate: bool) {
        let expected = self.after_discard || self.typed_ahead_ends > 0;
        if self.reading && !expected && !alternate {
            self.raise(reason);
        }
        if self.reading && !self.after_discard && self.typed_ahead_ends > 0 {
            self.typed_ahead_ends -= 1;
        }
        if self.after_discard {
            self.line_ends();
        }
        self.reading = false;
    }

    /// Keys went to the target; `followed`: the input model follows all of the line's keys.
    pub fn keys_sent(&mut self, followed: bool) {
        self.keys_followed &= followed;
        if self.answered_discard {
            self.after_discard = false;
        }
    }

    /// A C-g went to the target (a deny's discard keys start with one).
    pub fn restart_possible(&mut self) {
        self.after_discard = true;
        self.answered_discard = false;
    }

    /// A submit or the end of input went to the target: the editor stops reading with the
    /// operator's leave (now, or at its next prompt when typed ahead).
    pub fn line_ends(&mut self) {
        if !self.reading {
            self.typed_ahead_ends += 1;
        }
        self.interrupted();
    }

    /// A Ctrl+C went to the target: the editor, if reading, stops.
    pub fn interrupted(&mut self) {
        self.reading = false;
        self.line_ended = true;
    }

    /// Why the target is known to have run something no submit started, once it has.
    pub fn alarm(&self) -> Option<&'static str> {
        self.alarm
    }

    /// The run the alarm is about was the shell's guard's to ask about, and it did: watch on
    /// for the next one.
    pub fn acknowledge(&mut self) {
        self.alarm = None;
        self.newline_while_reading = false;
    }

    fn raise(&mut self, reason: &'static str) {
        self.alarm.get_or_insert(reason);
    }
}

/// What a line editor's redraw does, as far as the monitor cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Redraw {
    /// A carriage return, then "erase to the end of the line" (`CR ESC [ K`): the cursor's
    /// row emptied from its start.
    RowCleared,
    /// The cursor moved up (`ESC [ n A`, `ESC M`): back to an earlier row of the line.
    CursorUp,
}

/// Finds [`Redraw`] sequences in the target's output, within one write.
#[derive(Default)]
enum RedrawWatch {
    #[default]
    Idle,
    CarriageReturn,
    Escape {
        after_cr: bool,
    },
    Csi {
        after_cr: bool,
        params: bool,
    },
}

impl RedrawWatch {
    fn feed(&mut self, byte: u8) -> Option<Redraw> {
        let (next, found) = match (std::mem::take(self), byte) {
            (_, b'\r') => (RedrawWatch::CarriageReturn, None),
            (RedrawWatch::CarriageReturn, 0x1b) => (RedrawWatch::Escape { after_cr: true }, None),
            (_, 0x1b) => (RedrawWatch::Escape { after_cr: false }, None),
            (RedrawWatch::Escape { after_cr }, b'[') => (
                RedrawWatch::Csi {
                    after_cr,
                    params: false,
                },
                None,
            ),
            (RedrawWatch::Escape { .. }, b'M') => (RedrawWatch::Idle, Some(Redraw::CursorUp)),
            (RedrawWatch::Csi { after_cr, .. }, b'0'..=b'9' | b';') => (
                RedrawWatch::Csi {
                    after_cr,
                    params: true,
                },
                None,
            ),
            (RedrawWatch::Csi { .. }, b'A') => (RedrawWatch::Idle, Some(Redraw::CursorUp)),
            (
                RedrawWatch::Csi {
                    after_cr: true,
                    params: false,
                },
                b'K',
            ) => (RedrawWatch::Idle, Some(Redraw::RowCleared)),
            _ => (RedrawWatch::Idle, None),
        };
        *self = next;
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::semantic_prompt::MarkScanner;

    /// `output` from the target, marks and all (marks are not cut across writes here).
    fn feed(monitor: &mut ExecutionMonitor, output: &[u8], prompt_shown: bool, alternate: bool) {
        let marks = MarkScanner::default().scan(output);
        monitor.output(output, &marks, || prompt_shown, alternate);
    }

    fn watched(chunks: &[&str], prompt_shown: bool) -> Option<&'static str> {
        let mut monitor = ExecutionMonitor::default();
        for chunk in chunks {
            match *chunk {
                "<submit>" => monitor.line_ends(),
                "<tab>" => monitor.keys_sent(false),
                _ => feed(&mut monitor, chunk.as_bytes(), prompt_shown, false),
            }
        }
        monitor.alarm()
    }

    #[test]
    fn a_submitted_line_and_its_output_raise_nothing() {
        let chunks = [
            "\x1b[?2004h$ ",
            "ls",
            "<submit>",
            "\x1b[?2004l\r\n",
            "a b\r\n",
        ];
        assert_eq!(watched(&chunks, false), None);
        let next = [&chunks[..], &["\x1b[?2004h$ ", "x"]].concat();
        assert_eq!(watched(&next, true), None);
    }

    #[test]
    fn bash_interrupted_switches_paste_off_and_on_before_its_prompt() {
        let chunks = [
            "\x1b[?2004h$ ",
            "<submit>",
            "^C\x1b[?2004l\x1b[?2004h\x1b[?2004l\r\n\x1b[?2004h$ ",
        ];
        assert_eq!(watched(&chunks, true), None);
    }

    #[test]
    fn paste_off_without_a_submit_is_a_line_run_behind_the_gate() {
        let chunks = ["\x1b[?2004h$ ", "echo mac\x1b[?2004l\r\nmac\r\n"];
        assert_eq!(watched(&chunks, false), Some(EDITOR_STOPPED));
    }

    #[test]
    fn a_prompt_drawn_again_after_output_is_a_command_run_behind_the_gate() {
        let chunks = ["\x1b[?2004h$ ", "ab", "\r\x1b[Khi\r\n$ ab"];
        assert_eq!(watched(&chunks, true), Some(PROMPT_REDRAWN));
        // Output of a background job leaves no prompt under the cursor.
        assert_eq!(watched(&chunks, false), None);
        // Completion listings redraw the prompt too; the model is unsure after Tab.
        let listed = ["\x1b[?2004h$ ", "<tab>", "\r\nab  ac\r\n$ a"];
        assert_eq!(watched(&listed, true), None);
    }

    #[test]
    fn after_a_binding_change_a_listing_redraw_is_a_command_run() {
        let listed = ["\x1b[?2004h$ ", "<tab>", "\r\nab  ac\r\n$ a"];
        let mut monitor = ExecutionMonitor::default();
        monitor.bindings_changed();
        for chunk in listed {
            match chunk {
                "<tab>" => monitor.keys_sent(false),
                _ => feed(&mut monitor, chunk.as_bytes(), true, false),
            }
        }
        assert_eq!(monitor.alarm(), Some(PROMPT_REDRAWN_AFTER_BINDING));
    }

    #[test]
    fn after_a_binding_change_a_silent_bound_command_is_seen() {
        // bash runs a `bind -x` command that writes nothing: the row cleared, the prompt and
        // the line drawn again.
        let mut monitor = ExecutionMonitor::default();
        monitor.bindings_changed();
        feed(&mut monitor, b"\x1b[?2004h$ ", false, false);
        monitor.keys_sent(false);
        feed(&mut monitor, b"\r\x1b[K\r$ ab", true, false);
        assert_eq!(monitor.alarm(), Some(PROMPT_REDRAWN_AFTER_BINDING));
        // Before any binding change, the same is an editor's redraw.
        let mut before = ExecutionMonitor::default();
        feed(&mut before, b"\x1b[?2004h$ ", false, false);
        feed(&mut before, b"\r\x1b[K\r$ ab", true, false);
        assert_eq!(before.alarm(), None);
    }

    #[test]
    fn after_a_binding_change_the_prompt_starts_the_watch_without_bracketed_paste() {
        let mut monitor = ExecutionMonitor::default();
        monitor.bindings_changed();
        monitor.line_ends();
        feed(&mut monitor, b"\r\n$ ", true, false);
        monitor.keys_sent(false);
        feed(&mut monitor, b"echo mac\r\nmac\r\n$ ", true, false);
        assert_eq!(monitor.alarm(), Some(PROMPT_REDRAWN_AFTER_BINDING));
    }

    #[test]
    fn a_line_of_several_rows_redrawn_raises_nothing() {
        // A pasted line break, then C-u: readline goes down to clear the second row and back
        // up to the prompt's row.
        let mut monitor = ExecutionMonitor::default();
        feed(&mut monitor, b"\x1b[?2004h$ ", false, false);
        monitor.keys_sent(true);
        feed(&mut monitor, b"echo a\r\nb", false, false);
        monitor.keys_sent(true);
        feed(
            &mut monitor,
            b"\r$ \x1b[K\r\n\r\x1b[K\x1b[A\x1b[C\x1b[C",
            true,
            false,
        );
        assert_eq!(monitor.alarm(), None);
    }

    #[test]
    fn zsh_starting_over_after_a_deny_raises_nothing() {
        let mut monitor = ExecutionMonitor::default();
        feed(&mut monitor, b"$ \x1b[?2004h", false, false);
        monitor.keys_sent(true);
        monitor.restart_possible();
        feed(
            &mut monitor,
            b"\x07\x1b[?2004l\r\r\n$ \x1b[?2004h",
            true,
            false,
        );
        assert_eq!(monitor.alarm(), None);
        // Reading again: a switch-off after that is a line run.
        monitor.keys_sent(true);
        feed(&mut monitor, b"\x1b[?2004l\r\n", false, false);
        assert_eq!(monitor.alarm(), Some(EDITOR_STOPPED));
    }

    #[test]
    fn keys_sent_before_the_target_answered_a_c_g_keep_the_excuse() {
        let mut monitor = ExecutionMonitor::default();
        feed(&mut monitor, b"$ \x1b[?2004h", false, false);
        monitor.restart_possible();
        monitor.keys_sent(true);
        feed(&mut monitor, b"\x07", false, false);
        feed(&mut monitor, b"\x1b[?2004l\r\r\n$ \x1b[?2004h", true, false);
        assert_eq!(monitor.alarm(), None);
    }

    #[test]
    fn a_submit_typed_ahead_is_read_at_the_next_prompt() {
        let chunks = [
            "\x1b[?2004h$ ",
            "<submit>",
            "\x1b[?2004l\r\n",
            "<submit>",
            "done\r\n\x1b[?2004h$ ",
            "\x1b[?2004l\r\n\x1b[?2004h$ ",
        ];
        assert_eq!(watched(&chunks, true), None);
        // Only once per submit.
        let more = [&chunks[..], &["\x1b[?2004l\r\n"]].concat();
        assert_eq!(watched(&more, false), Some(EDITOR_STOPPED));
    }

    #[test]
    fn a_full_screen_program_is_not_watched() {
        let mut monitor = ExecutionMonitor::default();
        feed(&mut monitor, b"\x1b[?2004h$ ", false, false);
        feed(&mut monitor, b"\x1b[?2004l\r\n$ ", true, true);
        assert_eq!(monitor.alarm(), None);
    }

    #[test]
    fn a_command_marked_without_a_submit_is_a_line_run_behind_the_gate() {
        // A shell without bracketed paste, with semantic prompt marks.
        let prompt = "\x1b]133;A\x07$ \x1b]133;B\x07";
        let submitted = [
            prompt,
            "ls",
            "<submit>",
            "\r\n\x1b]133;C\x07a b\r\n",
            prompt,
        ];
        assert_eq!(watched(&submitted, false), None);
        let macro_run = [prompt, "ls", "\r\n\x1b]133;C\x07a b\r\n"];
        assert_eq!(watched(&macro_run, false), Some(COMMAND_MARKED));
        // The mark cut across two writes is found all the same.
        let mut monitor = ExecutionMonitor::default();
        let mut scanner = MarkScanner::default();
        for chunk in [prompt.as_bytes(), b"\r\n\x1b]13", b"3;C\x07"] {
            let marks = scanner.scan(chunk);
            monitor.output(chunk, &marks, || false, false);
        }
        assert_eq!(monitor.alarm(), Some(COMMAND_MARKED));
    }
}
