//! The mock shell: a terminal (the tty between the SSH channel and bash) in front of a line
//! editor modelled on readline; lines run on CR/LF.
//!
//! Pure and synchronous (bytes in, a [`Reaction`] out), so the SSH handler stays a thin
//! translation layer and this logic is unit-tested without a network. Invariant: while echo is
//! on and output flows, the terminal output leaves the screen showing `$ ` followed by exactly
//! the editor's line, drawn as readline draws it (control characters in caret notation, tabs as
//! blanks, double-width characters in two cells, zero-width ones on the cell before), with the
//! terminal cursor at the editor's cursor; a line is reported in `executed` before its `:ok`
//! output, and nothing is reported or written after the shell has exited.
//!
//! The terminal does what a Linux tty with its default settings does to the bytes before the
//! shell reads them (each chunk arrives in one write, so the tty takes in all of it first):
//! - C-s and C-q (`IXON`) stop and restart the output. While it is stopped, the shell's next
//!   write blocks: it reads one key (with the typed characters already waiting, which readline
//!   inserts together), cannot draw it, and reads nothing more until the output restarts; the
//!   keys after it wait in the tty. An Enter read then waits in its newline: the line runs only
//!   when the output restarts.
//! - C-c (`VINTR`) restarts the output, flushes the input the shell has not read (`NOFLSH` off)
//!   and interrupts the shell. Waiting idle for input, bash abandons the line (`^C`, a new
//!   prompt). Busy instead (blocked writing, or with unread input under `stty noflsh`), as bash
//!   5.2 does: readline prints `^C`, the line stays, the write that blocked is lost, and the
//!   next line bash runs loses its first character. Under `trap '' INT` the shell does nothing.
//! - C-z and C-\ are signals an interactive bash ignores.
//!
//! Commands the shell acts on (every line also prints `<line>:ok`, except where said):
//! - `read -s ...`: reads the next line as a secret with echo off after `Password: ` (not run,
//!   no `:ok`). Like bash's `read`, it ends at a newline: a CR typed ahead in the same chunk as
//!   the `read` reached the tty while readline had turned `ICRNL` off, so it stays a CR in the
//!   secret and the read goes on.
//! - `read-stars`: reads a secret showing one `*` per character (sudo's `pwfeedback`); CR or LF
//!   ends it.
//! - `pinentry`: reads a secret on the alternate screen after `Passphrase: `, showing nothing.
//! - `stty -echo` / `stty echo` (`ECHO`: with it off the prompt still shows but readline draws
//!   nothing of the line), `stty noflsh` / `stty -noflsh`, `stty intr undef` / `stty intr ^X`
//!   (with no interrupt character C-c is a key readline does not bind: a bell), `stty sane`.
//! - `trap '' INT` ignores C-c's interrupt; `trap - INT` restores it.
//! - `slow-echo MS`: from the next chunk of input on, every output is written MS ms late (the
//!   [`Reaction::delay_ms`]): a loaded or distant host.
//! - `bg-printf FORMAT`: a background job that writes FORMAT (escapes `\r \n \t \e \a \\`) to
//!   the terminal once the shell has read the next chunk of input, behind readline's back.
//! - `bind -x ^K COMMAND` (bash's `bind -x` with a simpler key syntax): the control key runs
//!   COMMAND with no line accepted: readline clears the prompt row, COMMAND runs (reported in
//!   `executed`, `:ok`) and the prompt is drawn again below with the line as it was.
//! - `bind ^K TEXT`: the control key types TEXT (escapes as for `bg-printf`), as a readline
//!   macro does; a newline in it accepts the line.

use std::collections::VecDeque;

use unicode_width::UnicodeWidthChar;

use crate::continuation;
use crate::keys::{Key, KeyDecoder};
use crate::line_editor::LineEditor;

/// The prompt the shell prints before each line.
pub const PROMPT: &str = "$ ";
/// The prompt while a command continues on the next line (bash's default `PS2`).
pub const CONTINUATION_PROMPT: &str = "> ";
/// Sent once when the shell starts: enable bracketed paste, then the first prompt.
pub const GREETING: &str = "\x1b[?2004h$ ";
/// What the shell prints after `read -s` and `read-stars`, before reading a secret.
pub const SECRET_PROMPT: &str = "Password: ";
/// What `pinentry` shows on the alternate screen, before reading a secret.
pub const PINENTRY_PROMPT: &str = "Passphrase: ";
/// Column count assumed without a PTY or with a PTY that reports 0 columns.
const DEFAULT_COLS: usize = 80;

/// The tty's special characters (Linux defaults).
const VINTR: u8 = 0x03;
const VSTART: u8 = 0x11;
const VSTOP: u8 = 0x13;
const VSUSP: u8 = 0x1a;
const VQUIT: u8 = 0x1c;
/// What readline writes when it hands the terminal back to bash (bracketed paste off; the CR
/// is readline's), and when it takes it again.
const PASTE_OFF: &str = "\x1b[?2004l";
const PASTE_ON: &str = "\x1b[?2004h";
const BELL: &str = "\x07";
const ALT_SCREEN_ON: &str = "\x1b[?1049h\x1b[H\x1b[2J";
const ALT_SCREEN_OFF: &str = "\x1b[?1049l";

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
    /// Write `output` this many milliseconds late (after `slow-echo`), and after any output
    /// still waiting from before.
    pub delay_ms: u64,
}

/// The terminal settings that commands change, as a Linux tty starts (and bash's SIGINT).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Tty {
    /// `ECHO`: readline draws the line only while it is on.
    echo: bool,
    /// `VINTR`; `None` after `stty intr undef`.
    intr: Option<u8>,
    /// `NOFLSH`: an interrupt keeps the input the shell has not read.
    noflsh: bool,
    /// `trap '' INT`: the shell ignores the interrupt (the tty still flushes).
    int_ignored: bool,
}

impl Default for Tty {
    fn default() -> Self {
        Tty {
            echo: true,
            intr: Some(VINTR),
            noflsh: false,
            int_ignored: false,
        }
    }
}

/// A program other than readline reading a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Secret {
    /// bash's `read -s`: echo off, ends at a newline.
    ReadS,
    /// A password prompt that shows a `*` per character; so many shown.
    Stars(usize),
    /// A full-screen passphrase dialog on the alternate screen, showing nothing.
    Pinentry,
}

/// A write the shell is stuck in while the output is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Blocked {
    /// Drawing after a key; the terminal cursor was on cell `from` before it.
    Redisplay { from: usize },
    /// The newline of an accepted line, before the line runs.
    Accept,
}

/// One stretch of a chunk as the tty passes it on: bytes for the shell, or an interrupt.
enum Received {
    Bytes(Vec<u8>),
    /// The interrupt character; `busy`: the shell was not waiting idle for input.
    Interrupt {
        busy: bool,
    },
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
    /// The line as last drawn on the terminal (as far as the shell knows), and its cursor.
    shown: Vec<char>,
    shown_cursor: usize,
    /// Where the terminal cursor really is, when not at `shown_cursor` (readline's interrupt
    /// handling moved it behind the line's back).
    physical: Option<usize>,
    exited: bool,
    /// A program reading a secret: the keys go to it, not to the line editor.
    secret: Option<Secret>,
    /// The chunk being read reached the tty while readline had it (`ICRNL` off).
    raw_cr: bool,
    tty: Tty,
    /// The output is stopped (C-s) until C-q.
    stopped: bool,
    blocked: Option<Blocked>,
    /// Output not yet written: the blocked write, and a background job's.
    held: Vec<u8>,
    /// Keys the tty holds that the shell has not read, and how many are not typed characters.
    unread: VecDeque<Key>,
    unread_other: usize,
    /// bash took an interrupt away from its top level: the next line it runs loses its first
    /// character.
    drop_first: bool,
    /// `slow-echo`: how late output is written.
    delay_ms: u64,
    /// `bg-printf`: what the background job writes after the next chunk of input.
    job: Option<Vec<u8>>,
    /// The lines of a command that continues on the next line (see [`continuation`]).
    continued: Option<String>,
    /// Control keys bound with `bind`.
    bindings: Vec<(u8, Binding)>,
}

/// What a bound control key does.
#[derive(Debug, Clone)]
enum Binding {
    /// Runs this command without accepting the line.
    Command(String),
    /// Types these bytes.
    Macro(Vec<u8>),
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
            physical: None,
            exited: false,
            secret: None,
            raw_cr: true,
            tty: Tty::default(),
            stopped: false,
            blocked: None,
            held: Vec::new(),
            unread: VecDeque::new(),
            unread_other: 0,
            drop_first: false,
            delay_ms: 0,
            job: None,
            continued: None,
            bindings: Vec::new(),
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

    /// Start with the tty's echo off or on, as the PTY request's modes ask (`ECHO`).
    pub fn set_echo(&mut self, echo: bool) {
        self.tty.echo = echo;
    }

    /// The tty's interrupt character (`VINTR`; `None`: disabled), as the PTY request asks.
    pub fn set_intr(&mut self, intr: Option<u8>) {
        self.tty.intr = intr;
    }

    /// Whether an interrupt keeps the input not yet read (`NOFLSH`), as the PTY request asks.
    pub fn set_noflsh(&mut self, noflsh: bool) {
        self.tty.noflsh = noflsh;
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
        let mut reaction = Reaction {
            delay_ms: self.delay_ms,
            ..Reaction::default()
        };
        if self.exited {
            return reaction;
        }
        self.raw_cr = self.secret.is_none();
        let job = self.job.take();
        for part in self.receive(bytes) {
            match part {
                Received::Bytes(bytes) => {
                    let mut keys = Vec::new();
                    self.decoder.feed(&bytes, &mut keys);
                    for key in keys {
                        self.unread_other += usize::from(!matches!(key, Key::Char(_)));
                        self.unread.push_back(key);
                    }
                }
                Received::Interrupt { busy } => self.interrupt(busy, &mut reaction),
            }
        }
        self.read(&mut reaction);
        if let Some(text) = job {
            if !self.exited {
                // Another process writing to the terminal: readline does not know.
                self.write_raw(text, &mut reaction);
            }
        }
        reaction
    }

    /// The tty takes in a whole chunk before the shell reads any of it: flow control, and the
    /// interrupt with its flush, act on arrival.
    fn receive(&mut self, bytes: &[u8]) -> Vec<Received> {
        let mut parts = Vec::new();
        let mut run = Vec::with_capacity(bytes.len());
        for &b in bytes {
            if Some(b) == self.tty.intr {
                let unread = !run.is_empty() || !self.unread.is_empty();
                let busy = self.blocked.is_some() || (self.tty.noflsh && unread);
                if self.tty.noflsh {
                    parts.push(Received::Bytes(std::mem::take(&mut run)));
                } else {
                    // What the shell has not read is gone, a sequence begun in it with it.
                    run.clear();
                    if self.blocked.is_some() || !self.unread.is_empty() {
                        self.decoder = KeyDecoder::new();
                    }
                    self.unread.clear();
                    self.unread_other = 0;
                }
                self.stopped = false;
                parts.push(Received::Interrupt { busy });
                continue;
            }
            match b {
                VSTOP => self.stopped = true,
                VSTART => self.stopped = false,
                // Suspend and quit: signals an interactive bash ignores.
                VSUSP | VQUIT => {}
                _ => run.push(b),
            }
        }
        parts.push(Received::Bytes(run));
        parts
    }

    /// The shell takes the interrupt.
    fn interrupt(&mut self, busy: bool, reaction: &mut Reaction) {
        if self.tty.int_ignored {
            return;
        }
        // Whatever readline was in the middle of (a key sequence, a paste) is abandoned.
        self.decoder = KeyDecoder::new();
        self.paste = None;
        let mut out = Vec::new();
        let cell = self.cursor_cell();
        if let Some(secret) = self.secret.take() {
            self.held.clear();
            self.blocked = None;
            if secret == Secret::Pinentry {
                push(&mut out, ALT_SCREEN_OFF);
            }
            push(&mut out, &format!("^C\r\n{PASTE_ON}{PROMPT}"));
            self.drop_first = false;
        } else if busy {
            // bash 5.2 takes the signal outside its wait for input: readline prints ^C and
            // hands the terminal back and forth, and the line stays. A blocked write is lost.
            let blocked = self.blocked.take();
            self.held.clear();
            let from = match blocked {
                Some(Blocked::Redisplay { from }) => from,
                _ => cell,
            };
            push(&mut out, &format!("^C{PASTE_OFF}\r{PASTE_ON}"));
            self.physical = Some(from - from % self.cols);
            self.drop_first = true;
            if blocked == Some(Blocked::Accept) {
                self.accept(&mut out, reaction);
            }
        } else {
            self.move_to_end(&mut out);
            self.editor.take();
            // bash drops a command it was reading over several lines too.
            self.continued = None;
            push(&mut out, &format!("^C\r\n{PROMPT}"));
            self.forget_drawn();
            self.drop_first = false;
        }
        self.write(out, cell, reaction);
    }

    /// Read keys until none is left or a write blocks.
    fn read(&mut self, reaction: &mut Reaction) {
        while !self.exited {
            if !self.stopped {
                // The output restarted: what was held is written, a blocked write completes.
                reaction.output.append(&mut self.held);
                if self.blocked.take() == Some(Blocked::Accept) {
                    let mut out = Vec::new();
                    let from = self.cursor_cell();
                    self.accept(&mut out, reaction);
                    self.write(out, from, reaction);
                    continue;
                }
            }
            if self.blocked.is_some() {
                return;
            }
            let Some(key) = self.next_key() else {
                return;
            };
            self.read_key(key, reaction);
        }
    }

    fn next_key(&mut self) -> Option<Key> {
        let key = self.unread.pop_front()?;
        self.unread_other -= usize::from(!matches!(key, Key::Char(_)));
        Some(key)
    }

    /// Whether another kind of key than a typed character is already waiting (see
    /// `LineEditor::type_char`): an escape sequence begun counts.
    fn key_waiting(&self) -> bool {
        self.unread_other > 0 || self.decoder.in_escape()
    }

    fn read_key(&mut self, key: Key, reaction: &mut Reaction) {
        let editing = self.secret.is_none() && self.paste.is_none();
        if self.stopped && editing && matches!(key, Key::Control(b'\r' | b'\n')) {
            // readline accepts the line, and its newline cannot be written: the line runs
            // when the output restarts.
            self.blocked = Some(Blocked::Accept);
            return;
        }
        let mut out = Vec::new();
        let from = self.cursor_cell();
        let waiting = self.key_waiting();
        self.key(key, waiting, &mut out, reaction);
        if self.stopped && editing && matches!(key, Key::Char(_)) {
            // readline inserts the typed characters already waiting before it draws.
            while let Some(&Key::Char(c)) = self.unread.front() {
                self.next_key();
                let waiting = self.key_waiting();
                self.editor.type_char(c, waiting);
            }
        }
        if !self.exited {
            self.refresh(&mut out);
        }
        self.write(out, from, reaction);
    }

    /// The shell writes `out`: now, or, with the output stopped, not before it restarts (and
    /// the shell blocks in the write).
    /// `from`: the cell the terminal cursor was on before `out`.
    fn write(&mut self, out: Vec<u8>, from: usize, reaction: &mut Reaction) {
        if out.is_empty() {
            return;
        }
        if self.stopped {
            if self.blocked.is_none() {
                self.blocked = Some(Blocked::Redisplay { from });
            }
            self.held.extend(out);
        } else {
            reaction.output.extend(out);
        }
    }

    /// Another process writes `out` to the terminal.
    fn write_raw(&mut self, out: Vec<u8>, reaction: &mut Reaction) {
        if self.stopped {
            self.held.extend(out);
        } else {
            reaction.output.extend(out);
        }
    }

    /// Act on one key; `waiting`: another kind of key already follows it in the input.
    fn key(&mut self, key: Key, waiting: bool, out: &mut Vec<u8>, reaction: &mut Reaction) {
        if self.secret.is_some() {
            self.secret_key(key, out);
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
        if let Key::Control(byte) = key {
            if let Some((_, binding)) = self.bindings.iter().find(|(bound, _)| *bound == byte) {
                return self.bound(binding.clone(), out, reaction);
            }
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
            // C-g (`abort`) rings the bell; so does C-c when it is no longer the tty's
            // interrupt character (readline does not bind it).
            Key::Control(0x07 | 0x03) => {
                e.other();
                push(out, BELL);
            }
            Key::Control(b'\r' | b'\n') => self.accept(out, reaction),
            Key::Control(0x04) => {
                if e.is_empty() {
                    push(out, "\x1b[?2004lexit\r\n");
                    reaction.exit = Some(0);
                    self.exited = true;
                } else {
                    e.delete();
                }
            }
            Key::PasteEnd | Key::Control(_) => e.other(),
        }
    }

    /// The prompt in front of the line being edited.
    fn prompt(&self) -> &'static str {
        if self.continued.is_some() {
            CONTINUATION_PROMPT
        } else {
            PROMPT
        }
    }

    /// A key bound with `bind` was read.
    fn bound(&mut self, binding: Binding, out: &mut Vec<u8>, reaction: &mut Reaction) {
        match binding {
            Binding::Command(command) => {
                self.move_to_end(out);
                push(out, "\r\x1b[K");
                reaction.executed.push(command.clone());
                push(out, &format!("{command}:ok\r\n{PROMPT}"));
                self.forget_drawn();
                self.refresh(out);
            }
            Binding::Macro(bytes) => {
                let mut keys = Vec::new();
                KeyDecoder::new().feed(&bytes, &mut keys);
                // Keys of a macro are not looked up again: a macro typing its own key would
                // never end.
                let bindings = std::mem::take(&mut self.bindings);
                for key in keys {
                    self.key(key, false, out, reaction);
                    self.refresh(out);
                }
                self.bindings = bindings;
            }
        }
    }

    /// readline accepts the line; bash runs it.
    fn accept(&mut self, out: &mut Vec<u8>, reaction: &mut Reaction) {
        self.move_to_end(out);
        let mut line = self.editor.take();
        if std::mem::take(&mut self.drop_first) {
            line = line.chars().skip(1).collect();
        }
        // Like bash: bracketed paste is off while the line runs, on again with the next
        // prompt. With echo off readline writes no newline of its own; bash's comes after
        // readline's CR.
        push(out, PASTE_OFF);
        push(out, if self.tty.echo { "\r\n" } else { "\r\r\n" });
        self.forget_drawn();
        let source = match self.continued.take() {
            Some(earlier) => format!("{earlier}\n{line}"),
            None => line,
        };
        if continuation::continues(&source) {
            self.continued = Some(source);
            push(out, &format!("{PASTE_ON}{CONTINUATION_PROMPT}"));
            return;
        }
        let line = continuation::joined(&source);
        reaction.executed.push(line.clone());
        if self.run(&line, out) {
            let shown = line.replace('\n', "\r\n");
            push(out, &format!("{shown}:ok\r\n{PASTE_ON}{PROMPT}"));
        }
    }

    /// What running `line` changes; false when a program took over the terminal (no `:ok`,
    /// no prompt yet).
    fn run(&mut self, line: &str, out: &mut Vec<u8>) -> bool {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or_default();
        let args: Vec<&str> = words.collect();
        if reads_secret(line) {
            self.secret = Some(Secret::ReadS);
            push(out, SECRET_PROMPT);
            return false;
        }
        match first {
            "read-stars" => {
                self.secret = Some(Secret::Stars(0));
                push(out, SECRET_PROMPT);
                return false;
            }
            "pinentry" => {
                self.secret = Some(Secret::Pinentry);
                push(out, ALT_SCREEN_ON);
                push(out, PINENTRY_PROMPT);
                return false;
            }
            "stty" => self.stty(&args),
            "trap" => self.trap(&args),
            "slow-echo" => {
                if let Some(ms) = args.first().and_then(|ms| ms.parse().ok()) {
                    self.delay_ms = ms;
                }
            }
            "bg-printf" => {
                let format = line.trim_start()["bg-printf".len()..].trim();
                self.job = Some(printf(unquote(format)));
            }
            "bind" => {
                let rest = line.trim_start()["bind".len()..].trim_start();
                let (runs, rest) = match rest.strip_prefix("-x ") {
                    Some(rest) => (true, rest.trim_start()),
                    None => (false, rest),
                };
                let (key, text) = rest.split_once(' ').unwrap_or((rest, ""));
                if let Some(byte) = caret_key(key) {
                    let text = unquote(text.trim());
                    let binding = if runs {
                        Binding::Command(text.to_string())
                    } else {
                        Binding::Macro(printf(text))
                    };
                    self.bindings.retain(|(bound, _)| *bound != byte);
                    self.bindings.push((byte, binding));
                }
            }
            _ => {}
        }
        true
    }

    fn stty(&mut self, args: &[&str]) {
        let mut args = args.iter();
        while let Some(&arg) = args.next() {
            match arg {
                "echo" => self.tty.echo = true,
                "-echo" => self.tty.echo = false,
                "noflsh" => self.tty.noflsh = true,
                "-noflsh" => self.tty.noflsh = false,
                "sane" => {
                    let int_ignored = self.tty.int_ignored;
                    self.tty = Tty {
                        int_ignored,
                        ..Tty::default()
                    };
                }
                "intr" => match args.next().copied() {
                    Some("undef" | "^-") => self.tty.intr = None,
                    Some(caret) => {
                        if let Some(c) = caret.strip_prefix('^').and_then(|c| c.bytes().next()) {
                            if caret.len() == 2 && c.is_ascii_alphabetic() {
                                self.tty.intr = Some(c.to_ascii_uppercase() & 0x1f);
                            }
                        }
                    }
                    None => {}
                },
                _ => {}
            }
        }
    }

    /// `trap '' INT` (ignore), `trap - INT` and `trap INT` (restore); handlers are not modelled.
    fn trap(&mut self, args: &[&str]) {
        let interrupt = |name: &&str| {
            let name = name.to_ascii_uppercase();
            matches!(name.as_str(), "INT" | "SIGINT" | "2")
        };
        let (action, signals) = match args {
            [action, signals @ ..] if !signals.is_empty() => (Some(*action), signals),
            signals => (None, signals),
        };
        if !signals.iter().any(interrupt) {
            return;
        }
        match action {
            Some("''" | "\"\"") => self.tty.int_ignored = true,
            Some("-") | None => self.tty.int_ignored = false,
            Some(_) => {}
        }
    }

    /// A key while a program reads a secret: nothing of it is shown (or a `*`); the end of
    /// the line ends the secret, which is not run.
    fn secret_key(&mut self, key: Key, out: &mut Vec<u8>) {
        let Some(secret) = self.secret else {
            return;
        };
        let ends = match key {
            Key::Control(b'\n') => true,
            // bash's `read` waits for a newline; a CR is one only once the tty translates it.
            Key::Control(b'\r') => secret != Secret::ReadS || !self.raw_cr,
            _ => false,
        };
        if ends {
            self.secret = None;
            if secret == Secret::Pinentry {
                push(out, ALT_SCREEN_OFF);
            } else {
                push(out, "\r\n");
            }
            push(out, &format!("{PASTE_ON}{PROMPT}"));
            return;
        }
        if let Secret::Stars(shown) = secret {
            match key {
                Key::Char(_) => {
                    push(out, "*");
                    self.secret = Some(Secret::Stars(shown + 1));
                }
                Key::Control(0x7f | 0x08) if shown > 0 => {
                    push(out, "\x08 \x08");
                    self.secret = Some(Secret::Stars(shown - 1));
                }
                _ => {}
            }
        }
    }

    /// The cell the terminal cursor is on.
    fn cursor_cell(&self) -> usize {
        self.physical.unwrap_or_else(|| {
            self.layout(self.prompt().len(), &self.shown)
                .cell_of(self.shown_cursor)
        })
    }

    /// After a line ran or was discarded: a fresh prompt is on screen with nothing after it.
    fn forget_drawn(&mut self) {
        self.shown.clear();
        self.shown_cursor = 0;
        self.physical = None;
    }

    fn move_to_end(&mut self, out: &mut Vec<u8>) {
        let from = self.cursor_cell();
        let drawn = self.layout(self.prompt().len(), &self.shown);
        self.move_between(from, drawn.end, out);
        self.physical = None;
        self.shown_cursor = self.shown.len();
    }

    /// Make the screen match the editor: append when only typing at the end, else redraw.
    /// With the tty's echo off readline draws nothing.
    fn refresh(&mut self, out: &mut Vec<u8>) {
        let line = self.editor.chars();
        let cursor = self.editor.cursor();
        if !self.tty.echo || (line == self.shown.as_slice() && cursor == self.shown_cursor) {
            return;
        }
        let drawn = self.layout(self.prompt().len(), &self.shown);
        if let Some(physical) = self.physical.take() {
            // First back to where readline believes the cursor is.
            self.move_between(physical, drawn.cell_of(self.shown_cursor), out);
        }
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
            push(out, self.prompt());
            let now = self.layout(self.prompt().len(), line);
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

/// The control byte `^X` names (`^T` is 0x14).
fn caret_key(name: &str) -> Option<u8> {
    match name.as_bytes() {
        [b'^', letter @ b'@'..=b'_'] => Some(letter - b'@'),
        [b'^', letter @ b'a'..=b'z'] => Some(letter - b'a' + 1),
        _ => None,
    }
}

fn push(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
}

/// `text` without one pair of enclosing quotes, as the shell would pass it.
fn unquote(text: &str) -> &str {
    for quote in ['\'', '"'] {
        if let Some(inner) = text
            .strip_prefix(quote)
            .and_then(|rest| rest.strip_suffix(quote))
        {
            return inner;
        }
    }
    text
}

/// The bytes `printf` writes for `format`: the escapes `\r \n \t \e \a \\`, the rest as it is.
fn printf(format: &str) -> Vec<u8> {
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('e') => out.push('\x1b'),
            Some('a') => out.push('\x07'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out.into_bytes()
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
    fn a_bind_x_key_runs_its_command_and_keeps_the_line() {
        let mut shell = Shell::new(80);
        shell.feed(b"bind -x ^T 'echo DENY'\r");
        let r = shell.feed(b"ab\x14");
        assert_eq!(r.executed, ["echo DENY"]);
        let out = String::from_utf8(r.output).unwrap();
        assert!(out.ends_with("\r\x1b[Kecho DENY:ok\r\n$ ab"), "{out:?}");
        assert!(!out.contains("2004l"), "{out:?}");
        assert_eq!(shell.pending_line(), "ab");
    }

    #[test]
    fn a_macro_with_a_newline_accepts_the_line() {
        let mut shell = Shell::new(80);
        shell.feed(b"bind ^Y 'echo DENY\\n'\r");
        let r = shell.feed(b"\x19");
        assert_eq!(r.executed, ["echo DENY"]);
        assert!(String::from_utf8(r.output).unwrap().contains("2004l"));
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
    fn ctrl_c_cuts_through_any_key_sequence() {
        // In the middle of a Meta key, a CSI sequence, an OSC string, a UTF-8 character and a
        // paste, whichever way the bytes come.
        for input in [
            &b"\x1b\x03b\r"[..],
            b"\x1b[1;\x03b\r",
            b"\x1b]0;x\x03b\r",
            b"\xe4\xbd\x03b\r",
            b"\x1b[200~x\x1b[20\x03b\r",
        ] {
            assert_eq!(run(input), ["b"], "{input:?}");
        }
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
    fn tty_signal_and_flow_control_bytes_do_not_reach_the_line() {
        assert_eq!(run(b"a\x1a\x1c\x13\x11b\r"), ["ab"]);
    }

    /// The output of each chunk, as text.
    fn outputs(shell: &mut Shell, chunks: &[&[u8]]) -> Vec<String> {
        chunks
            .iter()
            .map(|chunk| String::from_utf8(shell.feed(chunk).output).unwrap())
            .collect()
    }

    /// The lines run by each chunk, fed in turn.
    fn lines(shell: &mut Shell, chunks: &[&[u8]]) -> Vec<Vec<String>> {
        chunks
            .iter()
            .map(|chunk| shell.feed(chunk).executed)
            .collect()
    }

    #[test]
    fn stty_minus_echo_keeps_the_prompt_and_draws_nothing_of_the_line() {
        // As bash 5.2 with readline: the prompt is printed, the line is edited and runs, and
        // nothing of it is drawn; readline writes no newline of its own, bash's follows.
        let mut shell = Shell::new(80);
        assert_eq!(shell.feed(b"stty -echo\r").executed, ["stty -echo"]);
        let r = shell.feed(b"echo DENY");
        assert_eq!(r.output, b"");
        let r = shell.feed(b"\x7f\x7fNO\x01#\r");
        assert_eq!(r.executed, ["#echo DENO"]);
        let out = String::from_utf8(r.output).unwrap();
        assert_eq!(out, "\x1b[?2004l\r\r\n#echo DENO:ok\r\n\x1b[?2004h$ ");
        shell.feed(b"stty echo\r");
        let out = String::from_utf8(shell.feed(b"ls\r").output).unwrap();
        assert!(out.starts_with("ls\x1b[?2004l\r\n"), "{out:?}");
    }

    #[test]
    fn ctrl_s_holds_the_output_and_the_line_until_ctrl_q() {
        let mut shell = Shell::new(80);
        // Stopped: the first keys are read (typed characters together) and their drawing
        // waits; the Enter waits in the tty, so nothing runs.
        assert_eq!(
            outputs(&mut shell, &[b"\x13", b"echo DENY", b"\r"]),
            ["", "", ""]
        );
        assert_eq!(shell.pending_line(), "echo DENY");
        let r = shell.feed(b"\x11");
        assert_eq!(r.executed, ["echo DENY"]);
        let out = String::from_utf8(r.output).unwrap();
        assert_eq!(out, "echo DENY\x1b[?2004l\r\necho DENY:ok\r\n\x1b[?2004h$ ");
        // Only the state at the end of a chunk counts: the tty takes a chunk in at once.
        let mut shell = Shell::new(80);
        assert_eq!(outputs(&mut shell, &[b"ab\x13cd\x11ef"]), ["abcdef"]);
        assert_eq!(
            outputs(&mut shell, &[b"x\x13", b"y", b"\x11"]),
            ["", "", "xy"]
        );
        // While the shell is blocked, later keys are not read.
        let mut shell = Shell::new(80);
        shell.feed(b"\x13e");
        shell.feed(b"cho");
        assert_eq!(shell.pending_line(), "e");
        shell.feed(b"\x11");
        assert_eq!(shell.pending_line(), "echo");
    }

    #[test]
    fn ctrl_c_while_the_output_is_stopped_keeps_the_line() {
        // Checked on bash 5.2.15 (each chunk written separately to a pty): the interrupt
        // reaches bash while it is blocked writing, not waiting for input, so the line is not
        // abandoned; the keys it had not read are flushed; the next line it runs loses its
        // first character.
        let mut shell = Shell::new(80);
        let out = outputs(&mut shell, &[b"\x13", b"xecho DENY", b"\x03"]);
        assert_eq!(out, ["", "", "^C\x1b[?2004l\r\x1b[?2004h"]);
        assert_eq!(shell.pending_line(), "xecho DENY");
        assert_eq!(shell.feed(b"\r").executed, ["echo DENY"]);
        assert_eq!(shell.feed(b"echo ok\r").executed, ["echo ok"]);
        // The deny keys a proxy sends (C-g C-e C-u): the bell blocks, the rest is flushed.
        let mut shell = Shell::new(80);
        let ran = lines(
            &mut shell,
            &[b"\x13", b"xecho DENY", b"\x07\x05\x15", b"\x03", b"\r"],
        );
        assert_eq!(ran.concat(), ["echo DENY"]);
        // Typed before the output stopped, denied after: the same.
        let mut shell = Shell::new(80);
        let ran = lines(
            &mut shell,
            &[b"xecho DENY", b"\x13", b"\x07\x05\x15", b"\x03", b"\r"],
        );
        assert_eq!(ran.concat(), ["echo DENY"]);
        // Keys the shell had not read are gone; the next line loses its first character.
        let mut shell = Shell::new(80);
        shell.feed(b"\x13");
        shell.feed(b"e");
        shell.feed(b"cho DENY");
        shell.feed(b"\x03");
        assert_eq!(shell.pending_line(), "e");
        assert_eq!(shell.feed(b"\x15echo hi\r").executed, ["cho hi"]);
        // An Enter read while stopped: the interrupt lets the line run at once.
        let mut shell = Shell::new(80);
        let ran = lines(&mut shell, &[b"xecho DENY", b"\x13", b"\r", b"\x03"]);
        assert_eq!(ran.concat(), ["echo DENY"]);
        // Output restarted first: an ordinary interrupt.
        let mut shell = Shell::new(80);
        let ran = lines(
            &mut shell,
            &[b"\x13", b"echo DENY", b"\x11", b"\x03", b"\r"],
        );
        assert_eq!(ran.concat(), [""]);
    }

    #[test]
    fn after_a_kept_line_readline_draws_from_where_the_cursor_really_is() {
        // The ^C and readline's CR left the cursor at the start of the prompt's row; readline
        // still believes its line is drawn there and moves right before appending.
        let mut shell = Shell::new(80);
        outputs(&mut shell, &[b"\x13", b"ls", b"\x03"]);
        let out = outputs(&mut shell, &[b"x"]);
        assert_eq!(out, ["\r\x1b[4Cx"]);
    }

    #[test]
    fn stty_noflsh_keeps_what_came_before_ctrl_c() {
        // bash 5.2.15: the keys before C-c are read after the interrupt, into the same line.
        let mut shell = Shell::new(80);
        shell.feed(b"stty noflsh\r");
        let out = outputs(&mut shell, &[b"echo DENY\x03"]);
        assert_eq!(out, ["^C\x1b[?2004l\r\x1b[?2004h\r\x1b[2Cecho DENY"]);
        assert_eq!(shell.feed(b"\r").executed, ["cho DENY"]);
        // With nothing unread, an ordinary interrupt.
        shell.feed(b"ls");
        assert_eq!(lines(&mut shell, &[b"\x03", b"\r"]).concat(), [""]);
    }

    #[test]
    fn without_an_interrupt_character_ctrl_c_is_a_key_that_rings_the_bell() {
        let mut shell = Shell::new(80);
        shell.feed(b"stty intr undef\r");
        shell.feed(b"echo DENY");
        assert_eq!(outputs(&mut shell, &[b"\x03"]), ["\x07"]);
        assert_eq!(shell.feed(b"\r").executed, ["echo DENY"]);
        // Another interrupt character takes its place.
        shell.feed(b"stty intr ^X\r");
        shell.feed(b"echo x");
        assert_eq!(outputs(&mut shell, &[b"\x18"]), ["^C\r\n$ "]);
        shell.feed(b"stty sane\r");
        shell.feed(b"echo y");
        assert_eq!(outputs(&mut shell, &[b"\x03"]), ["^C\r\n$ "]);
    }

    #[test]
    fn under_trap_ignore_int_ctrl_c_changes_nothing_but_the_tty_still_flushes() {
        // bash 5.2.15: nothing is printed and the line stays; keys in the same chunk before
        // the C-c were never read.
        let mut shell = Shell::new(80);
        shell.feed(b"trap '' INT\r");
        shell.feed(b"echo DENY");
        assert_eq!(outputs(&mut shell, &[b"\x03"]), [""]);
        assert_eq!(shell.feed(b"\r").executed, ["echo DENY"]);
        assert_eq!(
            lines(&mut shell, &[b"echo DENY\x03", b"X\r"]).concat(),
            ["X"]
        );
        shell.feed(b"trap - INT\r");
        shell.feed(b"ls");
        assert_eq!(lines(&mut shell, &[b"\x03", b"\r"]).concat(), [""]);
        for trap in ["trap \"\" SIGINT", "trap '' 2", "trap '' TERM int"] {
            let mut shell = Shell::new(80);
            shell.feed(format!("{trap}\r").as_bytes());
            assert_eq!(
                lines(&mut shell, &[b"ls", b"\x03", b"\r"]).concat(),
                ["ls"],
                "{trap}"
            );
        }
    }

    #[test]
    fn ctrl_g_rings_the_bell() {
        let mut shell = Shell::new(80);
        shell.feed(b"ls");
        assert_eq!(outputs(&mut shell, &[b"\x07"]), ["\x07"]);
        assert_eq!(shell.pending_line(), "ls");
    }

    #[test]
    fn slow_echo_delays_the_output_of_later_chunks() {
        let mut shell = Shell::new(80);
        let r = shell.feed(b"slow-echo 1500\rec");
        assert_eq!(r.delay_ms, 0);
        assert_eq!(r.executed, ["slow-echo 1500"]);
        let r = shell.feed(b"ho DENY\r");
        assert_eq!(
            (r.delay_ms, r.executed),
            (1500, vec!["echo DENY".to_string()])
        );
        assert_eq!(shell.feed(b"slow-echo 0\r").delay_ms, 1500);
        assert_eq!(shell.feed(b"x").delay_ms, 0);
    }

    #[test]
    fn a_background_job_writes_after_the_next_chunk_behind_readlines_back() {
        let mut shell = Shell::new(80);
        let out = outputs(
            &mut shell,
            &[b"bg-printf '\\r$ \\e[K'\r", b"echo DENY", b"!"],
        );
        assert!(out[0].ends_with(":ok\r\n\x1b[?2004h$ "), "{out:?}");
        assert_eq!(out[1], "echo DENY\r$ \x1b[K");
        // readline goes on from where it believes the cursor is: the job's output stays.
        assert_eq!(out[2], "!");
        assert_eq!(shell.feed(b"\r").executed, ["echo DENY!"]);
        assert_eq!(printf("a\\tb\\\\\\n\\a\\q\\"), b"a\tb\\\n\x07\\q\\");
        assert_eq!(unquote("\"x y\""), "x y");
        assert_eq!(unquote("'x"), "'x");
    }

    #[test]
    fn a_secret_typed_ahead_of_read_s_is_read_and_its_cr_does_not_end_it() {
        // bash 5.2.15: typed ahead in the same write, `hunter2` goes to `read`, not to the
        // shell; its CR reached the tty while readline had ICRNL off, so `read` (waiting for
        // a newline) goes on until the next Enter.
        let mut shell = Shell::new(80);
        let r = shell.feed(b"read -s pw\rhunter2\r");
        assert_eq!(r.executed, ["read -s pw"]);
        let out = String::from_utf8(r.output).unwrap();
        assert!(
            !out.contains("hunter2") && out.ends_with(SECRET_PROMPT),
            "{out:?}"
        );
        let r = shell.feed(b"\r");
        assert!(r.executed.is_empty());
        assert_eq!(String::from_utf8(r.output).unwrap(), "\r\n\x1b[?2004h$ ");
        assert_eq!(shell.feed(b"ls\r").executed, ["ls"]);
        // A LF ends it even typed ahead.
        let mut shell = Shell::new(80);
        let r = shell.feed(b"read -s pw\rhunter2\nls\r");
        assert_eq!(r.executed, ["read -s pw", "ls"]);
    }

    #[test]
    fn read_stars_shows_a_star_per_character() {
        let mut shell = Shell::new(80);
        shell.feed(b"read-stars\r");
        let out = outputs(&mut shell, &[b"hunter2x\x7f", b"\r"]);
        assert_eq!(out[0], "********\x08 \x08");
        assert_eq!(out[1], "\r\n\x1b[?2004h$ ");
        // CR typed ahead ends it too; the secret never runs.
        let r = Shell::new(80).feed(b"read-stars\rhunter2\rls\r");
        assert_eq!(r.executed, ["read-stars", "ls"]);
    }

    #[test]
    fn pinentry_reads_a_secret_on_the_alternate_screen() {
        let mut shell = Shell::new(80);
        let out = outputs(&mut shell, &[b"pinentry\r", b"hunter2", b"\r"]);
        assert!(
            out[0].ends_with("\x1b[?1049h\x1b[H\x1b[2JPassphrase: "),
            "{out:?}"
        );
        assert_eq!(out[1], "");
        assert_eq!(out[2], "\x1b[?1049l\x1b[?2004h$ ");
        assert!(shell.feed(b"ls\r").executed == ["ls"]);
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
