//! The mock shell: keys from [`crate::keys`] drive a [`LineEditor`], lines run on CR/LF.
//!
//! Pure and synchronous (bytes in, a [`Reaction`] out), so the SSH handler stays a thin
//! translation layer and this logic is unit-tested without a network. Invariant: the terminal
//! output always leaves the screen showing `$ ` followed by exactly the editor's line, drawn as
//! readline draws it (control characters in caret notation, tabs as blanks, double-width
//! characters in two cells, zero-width ones on the cell before), with the terminal cursor at the
//! editor's cursor; a line is reported in `executed` before its `:ok` output, and nothing is
//! reported or written after the shell has exited.

use unicode_width::UnicodeWidthChar;

use crate::keys::{Key, KeyDecoder};
use crate::line_editor::LineEditor;

/// The prompt the shell prints before each line.
pub const PROMPT: &str = "$ ";
/// Sent once when the shell starts: enable bracketed paste, then the first prompt.
pub const GREETING: &str = "\x1b[?2004h$ ";
/// What the shell prints after `read -s`, before reading a secret with echo off.
pub const SECRET_PROMPT: &str = "Password: ";
/// Column count assumed without a PTY or with a PTY that reports 0 columns.
const DEFAULT_COLS: usize = 80;

/// Whether `line` reads a secret: bash's `read` with `-s` (echo off), the way a script asks
/// for a password.
fn reads_secret(line: &str) -> bool {
    let mut words = line.split_whitespace();
    words.next() == Some("read")
        && words.any(|word| word.starts_with('-') && !word.starts_with("--") && word.contains('s'))
}

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
    /// Inside a bracketed paste: the text so far. Like readline, the shell reads the whole
    /// paste before it inserts (and shows) any of it.
    paste: Option<Vec<char>>,
    cols: usize,
    /// The line as last drawn on the terminal, and the cursor drawn with it.
    shown: Vec<char>,
    shown_cursor: usize,
    exited: bool,
    /// After a `read -s` line: the next line is a secret, read with echo off (what a password
    /// prompt does), and not run.
    reading_secret: bool,
}

impl Shell {
    /// A shell for a terminal `cols` wide (0 means unknown: 80).
    pub fn new(cols: u32) -> Self {
        let mut shell = Shell {
            decoder: KeyDecoder::new(),
            editor: LineEditor::new(),
            paste: None,
            cols: DEFAULT_COLS,
            shown: Vec::new(),
            shown_cursor: 0,
            exited: false,
            reading_secret: false,
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
        // Whether a key other than a typed character follows key i in this chunk (see
        // `LineEditor::type_char`): the input readline would find already waiting.
        // An escape sequence begun at the end of the chunk is such a key too.
        let mut waiting = vec![self.decoder.in_escape(); keys.len()];
        for i in (0..keys.len().saturating_sub(1)).rev() {
            waiting[i] = waiting[i + 1] || !matches!(keys[i + 1], Key::Char(_));
        }
        for (key, waiting) in keys.into_iter().zip(waiting) {
            self.key(key, waiting, &mut reaction);
            if self.exited {
                break;
            }
            self.refresh(&mut reaction.output);
        }
        reaction
    }

    /// Act on one key; `waiting`: another kind of key already follows it in the input.
    fn key(&mut self, key: Key, waiting: bool, reaction: &mut Reaction) {
        if self.reading_secret {
            self.secret_key(key, reaction);
            return;
        }
        if key == Key::Control(0x03) {
            // The tty's interrupt: bash abandons the line, and a paste in progress with it.
            self.paste = None;
            self.move_to_end(&mut reaction.output);
            self.editor.take();
            push(&mut reaction.output, &format!("^C\r\n{PROMPT}"));
            self.forget_drawn();
            return;
        }
        if let Some(text) = &mut self.paste {
            match key {
                Key::PasteEnd => {
                    // readline inserts the paste as a C string: a NUL ends it.
                    let mut text = self.paste.take().unwrap_or_default();
                    if let Some(nul) = text.iter().position(|&c| c == '\0') {
                        text.truncate(nul);
                    }
                    self.editor.insert_str(&text);
                }
                Key::Char(c) => text.push(c),
                // readline turns a pasted CR into a newline and keeps every other byte.
                Key::Control(b'\r') => text.push('\n'),
                Key::Control(b) => text.push(char::from(b)),
                // The decoder reads a paste as raw text: no other key comes out inside one.
                _ => {}
            }
            return;
        }
        let e = &mut self.editor;
        match key {
            Key::Char(c) => e.type_char(c, waiting),
            Key::PasteStart => {
                e.other();
                self.paste = Some(Vec::new());
            }
            Key::Home | Key::Control(0x01) => e.home(),
            Key::End | Key::Control(0x05) => e.end(),
            Key::Left | Key::Control(0x02) => e.left(),
            Key::Right | Key::Control(0x06) => e.right(),
            Key::Delete => e.delete(),
            Key::CtrlLeft | Key::AltLeft => e.backward_word(),
            Key::CtrlRight | Key::AltRight => e.forward_word(),
            Key::CtrlDelete => e.kill_word(),
            // readline runs an upper-case Meta key as its lower-case version.
            Key::Meta(b) => match b.to_ascii_lowercase() {
                b'b' => e.backward_word(),
                b'f' => e.forward_word(),
                b'd' => e.kill_word(),
                0x7f | 0x08 => e.backward_kill_word(),
                b'y' => e.yank_pop(),
                _ => e.other(),
            },
            Key::Control(0x7f | 0x08) => e.backspace(),
            Key::Control(0x15) => e.kill_to_start(),
            Key::Control(0x0b) => e.kill_to_end(),
            Key::Control(0x17) => e.kill_word_back(),
            Key::Control(0x19) => e.yank(),
            Key::Control(0x14) => e.transpose_chars(),
            Key::Control(b'\r' | b'\n') => {
                self.move_to_end(&mut reaction.output);
                let line = self.editor.take();
                let shown = line.replace('\n', "\r\n");
                // Like bash: bracketed paste is off while the line runs, on again with the
                // next prompt.
                let output = if reads_secret(&line) {
                    self.reading_secret = true;
                    format!("\x1b[?2004l\r\n{SECRET_PROMPT}")
                } else {
                    format!("\x1b[?2004l\r\n{shown}:ok\r\n\x1b[?2004h{PROMPT}")
                };
                push(&mut reaction.output, &output);
                reaction.executed.push(line);
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
            Key::PasteEnd | Key::Control(_) => e.other(),
        }
    }

    /// A key while a secret is read with echo off: nothing is shown; Enter ends the secret
    /// (it is not run), Ctrl+C abandons it.
    fn secret_key(&mut self, key: Key, reaction: &mut Reaction) {
        match key {
            Key::Control(b'\r' | b'\n') => {
                self.reading_secret = false;
                push(&mut reaction.output, &format!("\r\n\x1b[?2004h{PROMPT}"));
            }
            Key::Control(0x03) => {
                self.reading_secret = false;
                push(&mut reaction.output, &format!("^C\r\n\x1b[?2004h{PROMPT}"));
            }
            _ => {}
        }
    }

    /// After a line ran or was discarded: a fresh prompt is on screen with nothing after it.
    fn forget_drawn(&mut self) {
        self.shown.clear();
        self.shown_cursor = 0;
    }

    fn move_to_end(&mut self, out: &mut Vec<u8>) {
        let drawn = self.layout(PROMPT.len(), &self.shown);
        let from = drawn.cell_of(self.shown_cursor);
        self.move_between(from, drawn.end, out);
    }

    /// Make the screen match the editor: append when only typing at the end, else redraw.
    fn refresh(&mut self, out: &mut Vec<u8>) {
        let line = self.editor.chars();
        let cursor = self.editor.cursor();
        if line == self.shown.as_slice() && cursor == self.shown_cursor {
            return;
        }
        let drawn = self.layout(PROMPT.len(), &self.shown);
        let appended = self.shown_cursor == self.shown.len()
            && cursor == line.len()
            && line.starts_with(&self.shown)
            // A zero-width character after a full row would land on the next row, away from
            // the character it belongs to; a redraw writes the two together.
            && !(drawn.end % self.cols == 0 && line[self.shown.len()..].first().is_some_and(|&c| c.width() == Some(0)));
        if appended {
            let suffix = self.layout(drawn.end, &line[self.shown.len()..]);
            push(out, &suffix.text);
            self.wrap_if_at_margin(suffix.end, out);
        } else {
            self.move_between(drawn.cell_of(self.shown_cursor), 0, out);
            push(out, "\x1b[J");
            push(out, PROMPT);
            let now = self.layout(PROMPT.len(), line);
            push(out, &now.text);
            self.wrap_if_at_margin(now.end, out);
            self.move_between(now.end, now.cell_of(cursor), out);
        }
        self.shown = line.to_vec();
        self.shown_cursor = cursor;
    }

    /// How `chars` is drawn from cell `start` (cells counted from the start of the prompt's
    /// row, row after row), as readline draws a line: control characters in caret notation, a
    /// tab as blanks up to the next tab stop, a double-width character that does not fit in
    /// the last column of a row after a blank there, on the next row.
    fn layout(&self, start: usize, chars: &[char]) -> Layout {
        let mut drawn = Layout {
            text: String::new(),
            starts: Vec::with_capacity(chars.len()),
            end: start,
        };
        for &c in chars {
            let col = drawn.end % self.cols;
            if c == '\t' {
                drawn.starts.push(drawn.end);
                let blanks = 8 - col % 8;
                drawn.text.extend(std::iter::repeat_n(' ', blanks));
                drawn.end += blanks;
            } else if c.is_control() {
                drawn.starts.push(drawn.end);
                drawn.text.push_str(&caret(c));
                drawn.end += 2;
            } else {
                // vt100 and terminals draw no character wider than two cells.
                let width = c.width().unwrap_or(1).min(2);
                if width == 2 && col + 1 == self.cols && self.cols > 1 {
                    drawn.text.push(' ');
                    drawn.end += 1;
                }
                drawn.starts.push(drawn.end);
                drawn.text.push(c);
                drawn.end += width;
            }
        }
        drawn
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

/// A line as drawn: the text to write, the cell each char starts at, the cell after the last.
struct Layout {
    text: String,
    starts: Vec<usize>,
    end: usize,
}

impl Layout {
    /// Where the terminal cursor stands with the editor's cursor before char `index`: on that
    /// char (past a blank that pushed it to the next row), or after the line.
    fn cell_of(&self, index: usize) -> usize {
        self.starts.get(index).copied().unwrap_or(self.end)
    }
}

/// A control character in caret notation, as readline shows it (`^J`, `^?`).
fn caret(c: char) -> String {
    match u8::try_from(c) {
        Ok(b @ 0..0x20) => format!("^{}", char::from(b'@' + b)),
        _ => "^?".to_string(),
    }
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
        shell.feed(b"rm -rf /");
        let r = shell.feed(b"\x03echo ok\r");
        assert_eq!(r.executed, ["echo ok"]);
        let out = String::from_utf8(r.output).unwrap();
        assert!(out.starts_with("^C\r\n$ "), "{out:?}");
    }

    #[test]
    fn ctrl_c_flushes_what_came_before_it_in_the_same_chunk() {
        // As the tty does: the shell never reads the keys before C-c in the same write, not
        // even an Enter, nor the C-u that would have filled the kill ring.
        let mut shell = Shell::new(80);
        let r = shell.feed(b"echo hi\r\x03");
        assert!(r.executed.is_empty());
        assert_eq!(String::from_utf8(r.output).unwrap(), "^C\r\n$ ");
        let r = shell.feed(b"echo x\x15\x03");
        assert_eq!(String::from_utf8(r.output).unwrap(), "^C\r\n$ ");
        assert_eq!(shell.feed(b"\x19\r").executed, [""]);
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
        // Controls and escape sequences inside a paste are text, not edits; a NUL ends the
        // pasted text, as readline inserts the paste as a C string.
        assert_eq!(
            run(b"\x1b[200~x\x15\x1b[Dy\x1b[201~\r"),
            ["x\u{15}\u{1b}[Dy"]
        );
        assert_eq!(run(b"\x1b[200~ab\0cd\x1b[201~!\r"), ["ab!"]);
    }

    #[test]
    fn a_paste_shows_only_once_it_ends() {
        let mut shell = Shell::new(80);
        let r = shell.feed(b"echo \x1b[200~one\ntwo");
        assert_eq!(String::from_utf8(r.output).unwrap(), "echo ");
        let r = shell.feed(b"\x1b[201~");
        assert_eq!(String::from_utf8(r.output).unwrap(), "one^Jtwo");
        // A tab is drawn as blanks to the next tab stop.
        let r = shell.feed(b"\x1b[200~\tx\x1b[201~");
        assert_eq!(String::from_utf8(r.output).unwrap(), " x");
        assert_eq!(shell.pending_line(), "echo one\ntwo\tx");
    }

    #[test]
    fn ctrl_c_inside_a_paste_abandons_the_line() {
        // The tty interrupts bash whatever readline is reading: paste and line are gone.
        assert_eq!(run(b"ls \x1b[200~rm -rf x\x03echo ok\r"), ["echo ok"]);
        let mut shell = Shell::new(80);
        shell.feed(b"ls \x1b[200~rm -rf x");
        let r = shell.feed(b"\x03");
        assert_eq!(String::from_utf8(r.output).unwrap(), "^C\r\n$ ");
        assert_eq!(shell.pending_line(), "");
    }

    #[test]
    fn word_moves() {
        // M-b, M-f (and their upper-case forms), C-Left/Right, M-Left/Right: alphanumeric words.
        assert_eq!(run(b"echo NY\x1bbDE\r"), ["echo DENY"]);
        assert_eq!(run(b"echo a/b.c\x1bb\x1bBX\r"), ["echo a/Xb.c"]);
        assert_eq!(run(b"echo one-two\x01\x1bf\x1bFX\r"), ["echo oneX-two"]);
        assert_eq!(run(b"echo foo_bar\x1b[1;5DX\r"), ["echo foo_Xbar"]);
        assert_eq!(run(b"echo a.b\x01\x1b[1;5C\x1b[1;5CX\r"), ["echo aX.b"]);
        assert_eq!(run(b"echo x.y.z\x1b[1;3D\x1b[1;3DW\r"), ["echo x.Wy.z"]);
        assert_eq!(run(b"echo x.y\x01\x1b[1;3CW\r"), ["echoW x.y"]);
        // Meta keys the shell does not bind change nothing.
        assert_eq!(run(b"ab\x1bq\x1b.c\r"), ["abc"]);
    }

    #[test]
    fn word_kills() {
        assert_eq!(run(b"echo foo.bar baz\x01\x1bf\x1bd\r"), ["echo.bar baz"]);
        assert_eq!(
            run(b"echo rm-me.txt\x01\x1bf\x06\x1b[3;5~\r"),
            ["echo -me.txt"]
        );
        assert_eq!(run(b"echo a/b.c\x1b\x7fx\r"), ["echo a/b.x"]);
        assert_eq!(run(b"echo x-y\x1b\x08\x1b\x08z\r"), ["echo z"]);
        assert_eq!(
            run(b"echo safe; rm -rf x\x01\x1bf\x1bf\x0b\r"),
            ["echo safe"]
        );
    }

    #[test]
    fn kill_and_yank() {
        assert_eq!(run(b"NY\x01\x0becho DE\x19\r"), ["echo DENY"]);
        assert_eq!(run(b"rm x\x17\x17echo \x19\r"), ["echo rm x"]);
        assert_eq!(
            run(b"DENYecho\x1b[D\x1b[D\x1b[D\x1b[D\x15\x05 \x19\r"),
            ["echo DENY"]
        );
        // The kill ring outlives the line: a line killed with C-e C-u comes back with C-y.
        assert_eq!(run(b"echo DENY\x05\x15\x19 --now\r"), ["echo DENY --now"]);
        // M-y right after C-y swaps in the kill before (two kills: "two" ended its chunk).
        let mut shell = Shell::new(80);
        shell.feed(b"one\x15two");
        assert_eq!(shell.feed(b"\x15\x19\x1by\r").executed, ["one"]);
        // An empty kill ring yanks nothing.
        assert_eq!(run(b"a\x19\x1byb\r"), ["ab"]);
    }

    #[test]
    fn kills_around_typing_join_when_they_come_in_one_chunk() {
        // As in bash: with the whole input at once, typing between two kills does not end the
        // run of kills; with the second kill in a later chunk, it does.
        let whole = Shell::new(80).feed(b"echo zz\x17x\x1b\x7f\x19\r").executed;
        assert_eq!(whole, ["echo xzz"]);
        let mut shell = Shell::new(80);
        shell.feed(b"echo zz\x17x");
        assert_eq!(shell.feed(b"\x1b\x7f\x19\r").executed, ["echo x"]);
        // The second kill's ESC in the first chunk is waiting already.
        let mut shell = Shell::new(80);
        shell.feed(b"echo zz\x17x\x1b");
        assert_eq!(shell.feed(b"\x7f\x19\r").executed, ["echo xzz"]);
    }

    #[test]
    fn transpose_chars() {
        assert_eq!(run(b"echo DEYN\x14\r"), ["echo DENY"]);
        assert_eq!(run(b"echo DNEY\x1b[D\x1b[D\x14\r"), ["echo DENY"]);
        assert_eq!(run(b"x\x14y\r"), ["xy"]);
    }

    #[test]
    fn display_characters() {
        // Backspace takes a combining mark with its base; C-w splits only at space and tab.
        assert_eq!(run("echo cafe\u{301}\x7fs\r".as_bytes()), ["echo cafs"]);
        assert_eq!(run("echo 你好\u{3000}世界\x17ok\r".as_bytes()), ["echo ok"]);
    }

    #[test]
    fn tty_signal_and_flow_control_bytes_do_nothing() {
        assert_eq!(run(b"a\x1a\x1c\x11\x13b\r"), ["ab"]);
    }

    #[test]
    fn escape_noise_does_not_reach_the_line() {
        assert_eq!(
            run(b"ec\x1b]0;title\x07ho\x1b[M !!\x1b[<0;1;1m \x1b[1;2Dhi\x1b[O\t\r"),
            ["echo hi"]
        );
    }

    #[test]
    fn utf8_split_across_chunks() {
        assert_eq!(run("echo héllo €\r".as_bytes()), ["echo héllo €"]);
    }

    #[test]
    fn read_s_reads_the_next_line_as_a_secret_without_echo() {
        let mut shell = Shell::new(80);
        let first = shell.feed(b"read -s pw\r");
        assert_eq!(first.executed, ["read -s pw"]);
        assert!(String::from_utf8_lossy(&first.output).ends_with(SECRET_PROMPT));
        let secret = shell.feed(b"hunter2\r");
        assert!(secret.executed.is_empty());
        let shown = String::from_utf8_lossy(&secret.output).to_string();
        assert!(!shown.contains("hunter2"), "{shown:?}");
        assert!(shown.ends_with(PROMPT));
        assert_eq!(shell.feed(b"echo hi\r").executed, ["echo hi"]);
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

    #[test]
    fn wide_characters_take_two_cells() {
        // "$ 你好" ends at column 6; moving left once puts the cursor on 好, at column 4.
        let mut shell = Shell::new(80);
        shell.feed("你好".as_bytes());
        let r = shell.feed(b"\x1b[D");
        let out = String::from_utf8(r.output).unwrap();
        assert!(out.ends_with("\r\x1b[4C"), "{out:?}");
        // A combining mark takes none: "$ e\u{301}x" puts the cursor before x at column 3.
        let mut shell = Shell::new(80);
        shell.feed("e\u{301}x".as_bytes());
        let out = String::from_utf8(shell.feed(b"\x1b[D").output).unwrap();
        assert!(out.ends_with("\r\x1b[3C"), "{out:?}");
    }

    #[test]
    fn a_wide_character_that_does_not_fit_goes_to_the_next_row_after_a_blank() {
        // 10 columns: "$ abcdefg" fills nine; 你 does not fit in the last one, so a blank goes
        // there (marking the row as wrapped, as readline's does) and 你 starts the next row.
        let mut shell = Shell::new(10);
        let r = shell.feed("abcdefg你".as_bytes());
        let out = String::from_utf8(r.output).unwrap();
        assert!(out.ends_with("g 你"), "{out:?}");
        // Left puts the cursor on 你, at the start of the second row, as readline does.
        let r = shell.feed(b"\x1b[D");
        let out = String::from_utf8(r.output).unwrap();
        assert!(out.ends_with("$ abcdefg 你\r"), "{out:?}");
    }

    #[test]
    fn a_combining_mark_after_a_full_row_is_redrawn_with_its_base() {
        // 10 columns: "$ abcdefgh" fills the row; the accent must be written right after the
        // h, not on the next row.
        let mut shell = Shell::new(10);
        shell.feed(b"abcdefgh");
        let r = shell.feed("\u{301}".as_bytes());
        let out = String::from_utf8(r.output).unwrap();
        assert!(out.contains("$ abcdefgh\u{301} \r"), "{out:?}");
    }
}
