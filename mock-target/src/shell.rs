//! The mock shell: keys from [`crate::keys`] drive a [`LineEditor`], lines run on CR/LF.
//!
//! Pure and synchronous (bytes in, a [`Reaction`] out), so the SSH handler stays a thin
//! translation layer and this logic is unit-tested without a network. Invariant: the terminal
//! output always leaves the screen showing `$ ` followed by exactly the editor's line, with the
//! terminal cursor at the editor's cursor; a line is reported in `executed` before its `:ok`
//! output, and nothing is reported or written after the shell has exited.

use crate::keys::{Key, KeyDecoder};
use crate::line_editor::LineEditor;

/// The prompt the shell prints before each line.
pub const PROMPT: &str = "$ ";
/// Sent once when the shell starts: enable bracketed paste, then the first prompt.
pub const GREETING: &str = "\x1b[?2004h$ ";
/// Column count assumed without a PTY or with a PTY that reports 0 columns.
const DEFAULT_COLS: usize = 80;

/// What one chunk of input made the shell do.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reaction {
    /// Bytes to write back on the channel's stdout.
    pub output: Vec<u8>,
    /// Lines run, in order.
    pub executed: Vec<String>,
    /// Set when the shell ended (C-d on an empty line) with this exit status.
    pub exit: Option<u32>,
}

/// One interactive shell on one channel.
#[derive(Debug, Clone)]
pub struct Shell {
    decoder: KeyDecoder,
    editor: LineEditor,
    in_paste: bool,
    cols: usize,
    /// The line as last drawn on the terminal, and the cursor drawn with it.
    shown: Vec<char>,
    shown_cursor: usize,
    exited: bool,
}

impl Shell {
    /// A shell for a terminal `cols` wide (0 means unknown: 80).
    pub fn new(cols: u32) -> Self {
        let mut shell = Shell {
            decoder: KeyDecoder::new(),
            editor: LineEditor::new(),
            in_paste: false,
            cols: DEFAULT_COLS,
            shown: Vec::new(),
            shown_cursor: 0,
            exited: false,
        };
        shell.set_cols(cols);
        shell
    }

    /// Follow a window change (affects only how long lines are redrawn).
    pub fn set_cols(&mut self, cols: u32) {
        self.cols = match cols {
            0 => DEFAULT_COLS,
            n => n as usize,
        };
    }

    pub fn has_exited(&self) -> bool {
        self.exited
    }

    /// The line being edited (not yet run).
    pub fn pending_line(&self) -> String {
        self.editor.text()
    }

    /// Process one chunk of input as received from the channel.
    pub fn feed(&mut self, bytes: &[u8]) -> Reaction {
        let mut reaction = Reaction::default();
        if self.exited {
            return reaction;
        }
        let mut keys = Vec::new();
        self.decoder.feed(bytes, &mut keys);
        for key in keys {
            self.key(key, &mut reaction);
            if self.exited {
                break;
            }
            self.refresh(&mut reaction.output);
        }
        reaction
    }

    fn key(&mut self, key: Key, reaction: &mut Reaction) {
        if self.in_paste {
            match key {
                Key::PasteEnd => self.in_paste = false,
                Key::Char(c) => self.editor.insert(c),
                Key::Control(b'\r' | b'\n') => self.editor.insert('\n'),
                Key::Control(b'\t') => self.editor.insert('\t'),
                _ => {}
            }
            return;
        }
        let e = &mut self.editor;
        match key {
            Key::Char(c) => e.insert(c),
            Key::PasteStart => self.in_paste = true,
            Key::PasteEnd => {}
            Key::Home | Key::Control(0x01) => e.home(),
            Key::End | Key::Control(0x05) => e.end(),
            Key::Left | Key::Control(0x02) => e.left(),
            Key::Right | Key::Control(0x06) => e.right(),
            Key::Delete => e.delete(),
            Key::Control(0x7f | 0x08) => e.backspace(),
            Key::Control(0x15) => e.kill_to_start(),
            Key::Control(0x0b) => e.kill_to_end(),
            Key::Control(0x17) => e.kill_word_back(),
            Key::Control(b'\r' | b'\n') => {
                self.move_to_end(&mut reaction.output);
                let line = self.editor.take();
                let shown = line.replace('\n', "\r\n");
                // Like bash: bracketed paste is off while the line runs, on again with the
                // next prompt.
                let output = format!("\x1b[?2004l\r\n{shown}:ok\r\n\x1b[?2004h{PROMPT}");
                push(&mut reaction.output, &output);
                reaction.executed.push(line);
                self.forget_drawn();
            }
            Key::Control(0x03) => {
                self.move_to_end(&mut reaction.output);
                self.editor.take();
                push(&mut reaction.output, &format!("^C\r\n{PROMPT}"));
                self.forget_drawn();
            }
            Key::Control(0x04) => {
                if e.is_empty() {
                    push(&mut reaction.output, "\x1b[?2004lexit\r\n");
                    reaction.exit = Some(0);
                    self.exited = true;
                } else {
                    e.delete();
                }
            }
            Key::Control(_) => {}
        }
    }

    /// After a line ran or was discarded: a fresh prompt is on screen with nothing after it.
    fn forget_drawn(&mut self) {
        self.shown.clear();
        self.shown_cursor = 0;
    }

    fn move_to_end(&mut self, out: &mut Vec<u8>) {
        let from = self.column_of(&self.shown[..self.shown_cursor]);
        let to = self.column_of(&self.shown);
        self.move_between(from, to, out);
    }

    /// Make the screen match the editor: append when only typing at the end, else redraw.
    fn refresh(&mut self, out: &mut Vec<u8>) {
        let line = self.editor.chars();
        let cursor = self.editor.cursor();
        if line == self.shown.as_slice() && cursor == self.shown_cursor {
            return;
        }
        let appended = self.shown_cursor == self.shown.len()
            && cursor == line.len()
            && line.starts_with(&self.shown)
            && line[self.shown.len()..].iter().all(|c| !c.is_control());
        if appended {
            let suffix: String = line[self.shown.len()..].iter().collect();
            push(out, &suffix);
            self.wrap_if_at_margin(self.column_of(line), out);
        } else {
            let from = self.column_of(&self.shown[..self.shown_cursor]);
            self.move_between(from, 0, out);
            push(out, "\x1b[J");
            push(out, PROMPT);
            push(out, &display(line));
            let end = self.column_of(line);
            self.wrap_if_at_margin(end, out);
            self.move_between(end, self.column_of(&line[..cursor]), out);
        }
        self.shown = line.to_vec();
        self.shown_cursor = cursor;
    }

    /// Offset in screen cells from the start of the prompt to just after `chars`.
    fn column_of(&self, chars: &[char]) -> usize {
        PROMPT.len()
            + chars
                .iter()
                .map(|&c| if c.is_control() { 2 } else { 1 })
                .sum::<usize>()
    }

    /// A terminal that just filled the last column has not moved to the next row yet; writing a
    /// space and CR puts the cursor where our arithmetic (offset / cols) says it is.
    fn wrap_if_at_margin(&self, offset: usize, out: &mut Vec<u8>) {
        if offset % self.cols == 0 {
            push(out, " \r");
        }
    }

    fn move_between(&self, from: usize, to: usize, out: &mut Vec<u8>) {
        if from == to {
            return;
        }
        let (from_row, to_row) = (from / self.cols, to / self.cols);
        if to_row < from_row {
            push(out, &format!("\x1b[{}A", from_row - to_row));
        } else if to_row > from_row {
            push(out, &format!("\x1b[{}B", to_row - from_row));
        }
        push(out, "\r");
        let col = to % self.cols;
        if col > 0 {
            push(out, &format!("\x1b[{col}C"));
        }
    }
}

/// How a line is drawn: control chars (a pasted newline or tab) in caret notation.
fn display(chars: &[char]) -> String {
    let mut s = String::new();
    for &c in chars {
        if c.is_control() && (c as u32) < 0x20 {
            s.push('^');
            s.push(char::from(b'@' + c as u8));
        } else if c.is_control() {
            s.push_str("^?");
        } else {
            s.push(c);
        }
    }
    s
}

fn push(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `input` in one chunk and byte by byte; both must run the same lines.
    fn run(input: &[u8]) -> Vec<String> {
        let whole = Shell::new(80).feed(input).executed;
        let mut shell = Shell::new(80);
        let mut bytewise = Vec::new();
        for b in input {
            bytewise.extend(shell.feed(std::slice::from_ref(b)).executed);
        }
        assert_eq!(whole, bytewise, "chunking changed the executed lines");
        whole
    }

    #[test]
    fn typing_and_enter() {
        let r = Shell::new(80).feed(b"echo hi\r");
        assert_eq!(r.executed, ["echo hi"]);
        let out = String::from_utf8(r.output).unwrap();
        assert_eq!(out, "echo hi\x1b[?2004l\r\necho hi:ok\r\n\x1b[?2004h$ ");
    }

    #[test]
    fn lf_runs_too_and_empty_lines_run() {
        assert_eq!(run(b"a\nb\r\r"), ["a", "b", ""]);
    }

    #[test]
    fn editing_keys() {
        assert_eq!(run(b"ecoh\x1b[D\x1b[D\x7fch\x05 hi\r"), ["echoh hi"]);
        assert_eq!(run(b"xecho\x01\x1b[3~\x05 ok\r"), ["echo ok"]);
        assert_eq!(run(b"rm -rf /\x15echo safe\r"), ["echo safe"]);
        assert_eq!(
            run(b"echo hi; rm x\x1b[D\x1b[D\x1b[D\x1b[D\x1b[D\x0b\r"),
            ["echo hi;"]
        );
        assert_eq!(run(b"echo one two\x17\x17three\r"), ["echo three"]);
        assert_eq!(run(b"ab\x08c\r"), ["ac"]);
        assert_eq!(run(b"bc\x1bOHa\x1bOFd\x1bODX\x1bOCY\r"), ["abcXdY"]);
        assert_eq!(run(b"bc\x1b[1~a\x1b[4~d\x1b[7~>\x1b[8~<\r"), [">abcd<"]);
        assert_eq!(run(b"ac\x1b[Hx\x1b[F\x02b\x06!\r"), ["xabc!"]);
    }

    #[test]
    fn deny_style_ctrl_u_after_moving_left_leaves_the_rest() {
        // C-u kills only left of the cursor, so the right part survives and runs later.
        assert_eq!(run(b"rm -rf /tmp\x1b[D\x1b[D\x15\r"), ["mp"]);
    }

    #[test]
    fn ctrl_c_discards_the_line() {
        let mut shell = Shell::new(80);
        let r = shell.feed(b"rm -rf /\x03echo ok\r");
        assert_eq!(r.executed, ["echo ok"]);
        let out = String::from_utf8(r.output).unwrap();
        assert!(out.contains("^C\r\n$ "), "{out:?}");
    }

    #[test]
    fn ctrl_d_exits_only_on_an_empty_line() {
        let mut shell = Shell::new(80);
        let r = shell.feed(b"ab\x01\x04\r");
        assert_eq!((r.executed, r.exit), (vec!["b".to_string()], None));
        let r = shell.feed(b"\x04echo after\r");
        assert_eq!(r.exit, Some(0));
        assert!(r.executed.is_empty());
        assert!(shell.has_exited());
        assert_eq!(shell.feed(b"x\r"), Reaction::default());
    }

    #[test]
    fn bracketed_paste_inserts_newlines_as_text() {
        assert_eq!(run(b"echo \x1b[200~a\rb\nc\x1b[201~\r"), ["echo a\nb\nc"]);
        // Controls inside a paste do not edit or cancel.
        assert_eq!(run(b"\x1b[200~x\x03\x15y\x1b[201~\r"), ["xy"]);
    }

    #[test]
    fn escape_noise_does_not_reach_the_line() {
        assert_eq!(
            run(b"ec\x1b]0;title\x07ho\x1b[M !!\x1b[<0;1;1m \x1b[1;5Dhi\x1b[O\t\r"),
            ["echo hi"]
        );
    }

    #[test]
    fn utf8_split_across_chunks() {
        assert_eq!(run("echo héllo €\r".as_bytes()), ["echo héllo €"]);
    }

    #[test]
    fn redraw_keeps_screen_consistent_on_wrapped_lines() {
        // 10 columns: "$ " + 20 chars spans three rows; editing in the middle redraws from the
        // prompt row, so the output must move up before clearing.
        let mut shell = Shell::new(10);
        let r = shell.feed(b"abcdefghijklmnopqrst\x01X");
        let out = String::from_utf8(r.output).unwrap();
        assert!(out.contains("h \ri"), "{out:?}");
        assert!(
            out.contains("\x1b[2A\r\x1b[J$ abcdefghijklmnopqrst\x1b[2A\r\x1b[2C"),
            "{out:?}"
        );
        assert!(
            out.ends_with("\r\x1b[J$ Xabcdefghijklmnopqrst\x1b[2A\r\x1b[3C"),
            "{out:?}"
        );
        assert_eq!(shell.pending_line(), "Xabcdefghijklmnopqrst");
    }
}
