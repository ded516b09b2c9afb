//! [`Reconstructor`]: the seam the proxy's gate uses, one input byte at a time.
//!
//! It feeds each byte through the [`Tokenizer`] into the [`LineModel`] and tells the gate what
//! to do with that byte. The safety invariant lives here, independent of both: every CR (0x0d),
//! LF (0x0a) and Ctrl+O (0x0f) is a [`ByteAction::Submit`], whatever state the tokenizer or the
//! model is in, except as text inside a bracketed paste while the target has bracketed paste
//! mode enabled, or as part of the rest of a paste whose line was denied, which is dropped
//! ([`ByteAction::Discard`]). An invalid byte whose low seven bits are one of them (or `#`, for
//! M-#) is held too. The model may recognise more submits (C-x C-e, M-#, extended Enter keys) but
//! can never turn one of these bytes into a plain forward.

use crate::key::{KeyEvent, CR, CTRL_C, LF, SI};

const ESC: u8 = 0x1b;
/// The end marker of a bracketed paste.
const PASTE_END: &[u8] = b"\x1b[201~";
/// C-q: the tty's START character, which restarts output stopped with C-s (IXON is among the
/// terminal modes the proxy leaves at the target's default).
const XON: u8 = 0x11;
use crate::line_model::LineModel;
use crate::tokenizer::Tokenizer;

/// What the gate must do with one input byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ByteAction {
    /// Forward the byte to the target now.
    Forward,
    /// Drop the byte: the rest of a paste whose line was denied (the deny already ended the
    /// paste on the target).
    Discard,
    /// This byte makes the target run its line (or may): hold it, and all input after it,
    /// until an approver decides.
    Submit(Submit),
    /// Ctrl+C (0x03) outside a paste: forward it; the line is discarded.
    Interrupt,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submit {
    /// The line the model believes will run (the whole line, regardless of cursor position).
    pub line: String,
    /// False when the model cannot be sure `line` is what runs.
    pub certain: bool,
    pub key: SubmitKey,
}

/// Which key made the submit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmitKey {
    /// CR (Enter, C-m).
    CarriageReturn,
    /// LF (C-j).
    LineFeed,
    /// C-o: runs the line and prefills the next one from history.
    OperateAndGetNext,
    /// CR or LF inside a paste to a shell without bracketed paste mode.
    PasteNewline,
    /// C-x C-e: the line goes through $EDITOR and then runs.
    EditAndExecute,
    /// C-x e: a keyboard macro, which may contain anything.
    CallMacro,
    /// M-#: the line runs as a comment.
    InsertComment,
    /// Enter, C-m, C-j or C-o as a tmux/kitty extended key, or keypad Enter.
    ExtendedEnter,
    /// M-C-m / M-C-j (ESC CR, ESC LF): readline switches to vi mode.
    MetaEnter,
    /// CR, LF or C-o after C-v / C-q: inserted into the line if the quote took effect.
    QuotedControl,
    /// A byte with the eighth bit set whose low seven bits are CR, LF, C-o or `#`: a shell
    /// reading bytes as Meta plus their 7-bit value (readline's convert-meta, outside a UTF-8
    /// locale) or a tty stripping the eighth bit (ISTRIP) runs the line on it.
    EightBitSubmit,
    /// C-d on a non-empty line: the tty's end-of-file, which hands the line over to a shell
    /// that has no line editor.
    EndOfFile,
}

impl SubmitKey {
    /// The key a bare CR, LF or C-o byte stands for.
    pub fn for_byte(byte: u8) -> SubmitKey {
        match byte {
            0x0a => SubmitKey::LineFeed,
            0x0f => SubmitKey::OperateAndGetNext,
            _ => SubmitKey::CarriageReturn,
        }
    }
}

/// Rebuilds the shell's command line from the raw bytes of a PTY session.
#[derive(Debug, Clone, Default)]
pub struct Reconstructor {
    tokenizer: Tokenizer,
    model: LineModel,
    /// Reused across bytes so the hot path does not allocate.
    events: Vec<KeyEvent>,
    /// The line was denied inside a paste: the operator's paste goes on, up to its end marker,
    /// but none of it may reach the target's fresh line.
    discarding_paste: bool,
    /// The last ESC arrived with no sequence half read.
    escape_from_idle: bool,
    /// The current paste began with an ESC that arrived with no sequence half read. One that
    /// cut a sequence short (an X10 mouse report takes the next three bytes raw, ESC included)
    /// may not have started a paste on the target, whose reading of the cut-off bytes the model
    /// cannot know: its newlines may run the line, so they are held.
    paste_trusted: bool,
    /// Raw bytes of an X10 mouse report the target may still be waiting for before the
    /// last byte (which, withheld as a submit, never reached it).
    mouse_bytes_owed: u8,
}

impl Reconstructor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Classifies one input byte and applies it to the model.
    pub fn push(&mut self, byte: u8) -> ByteAction {
        let in_paste = self.tokenizer.in_paste();
        if byte == ESC && !in_paste {
            self.escape_from_idle = self.tokenizer.is_idle();
        }
        self.mouse_bytes_owed = self.tokenizer.mouse_bytes_owed();
        let mut events = std::mem::take(&mut self.events);
        events.clear();
        if byte == CTRL_C {
            // The tty turns it into SIGINT whatever readline was in the middle of, a paste
            // included: the line, any cut-off sequence and the paste itself are gone.
            self.events = events;
            self.interrupted();
            return ByteAction::Interrupt;
        }
        if self.discarding_paste {
            self.tokenizer.push(byte, &mut events);
            self.discarding_paste = self.tokenizer.in_paste();
            self.events = events;
            return ByteAction::Discard;
        }
        let mut submit = None;
        if self.model.quoted_pending() && self.tokenizer.is_idle() && byte < 0x80 {
            // Quoted insert takes the raw byte, so an ESC must not start a sequence.
            submit = self.model.quoted_byte(byte);
        } else {
            self.tokenizer.push(byte, &mut events);
            for event in &events {
                if let Some(found) = self.model.apply(event) {
                    submit = Some(found);
                }
            }
        }
        // A byte that completes a UTF-8 character is that character to a UTF-8 shell.
        let completes_character = events
            .iter()
            .any(|event| matches!(event, KeyEvent::Char(c) | KeyEvent::Pasted(c) if !c.is_ascii()));
        if events.contains(&KeyEvent::PasteStart) {
            self.paste_trusted = self.escape_from_idle;
        }
        self.events = events;
        let pasted_text = in_paste && self.model.bracketed_paste() && self.paste_trusted;
        let must_hold = matches!(byte, LF | CR | SI) && !pasted_text;
        // Invalid as UTF-8 (neither completing nor continuing a character): what the target
        // makes of it depends on a locale the model cannot see.
        let invalid = byte >= 0x80 && !completes_character && self.tokenizer.is_idle();
        let may_submit = invalid && matches!(byte & 0x7f, LF | CR | SI | b'#') && !pasted_text;
        match submit {
            Some(submit) => ByteAction::Submit(submit),
            None if must_hold => {
                ByteAction::Submit(self.model.force_submit(SubmitKey::for_byte(byte)))
            }
            None if may_submit => {
                ByteAction::Submit(self.model.possible_submit(SubmitKey::EightBitSubmit))
            }
            None => ByteAction::Forward,
        }
    }

    /// Takes the longest start of `bytes` that is plain text inside a bracketed paste (tab,
    /// LF, CR and printable ASCII, to a shell that enabled bracketed paste mode, in a paste
    /// the model trusts), applies it at once and returns its length: every one of those bytes
    /// is a [`ByteAction::Forward`], and the state after is the state [`Reconstructor::push`]
    /// of each would leave. Returns 0 when the next byte must go through `push` (outside a
    /// paste, an ESC that may start the end marker, a Ctrl+C, a NUL, a non-ASCII byte...).
    ///
    /// The fast path for large pastes: a gate forwards the returned bytes, then pushes the
    /// next byte on its own.
    pub fn push_paste_text(&mut self, bytes: &[u8]) -> usize {
        if self.discarding_paste
            || !self.paste_trusted
            || !self.tokenizer.in_paste_text()
            || !self.model.bracketed_paste()
        {
            return 0;
        }
        let run = bytes
            .iter()
            .position(|&b| !matches!(b, b'\t' | b'\n' | b'\r' | 0x20..=0x7e))
            .unwrap_or(bytes.len());
        if run == 0 || !self.model.paste_text(&bytes[..run]) {
            return 0;
        }
        // As `push` leaves it for a byte read inside a paste.
        self.mouse_bytes_owed = 0;
        run
    }

    /// The target enabled (true) or disabled (false) bracketed paste mode (it printed
    /// `ESC[?2004h` / `ESC[?2004l`). Default false.
    pub fn set_bracketed_paste(&mut self, enabled: bool) {
        self.model.set_bracketed_paste(enabled);
    }

    /// The pending submit was approved and its byte forwarded: apply the key as the shell
    /// would.
    pub fn accepted(&mut self) {
        self.model.accept();
        // readline turns bracketed paste off while the line runs; until the target says it is
        // on again (with its next prompt), a newline in a paste may run a line.
        self.model.set_bracketed_paste(false);
    }

    /// The pending submit was denied and its byte dropped. Returns the bytes the gate must send
    /// so the target discards the whole line wherever the cursor is, whatever state its input
    /// is in: a paste's end marker when the withheld byte was inside a paste (inside it, the
    /// discard keys would be pasted text); XON (C-q), which the tty takes to restart output
    /// stopped with C-s (a shell blocked writing reads only the first discard key); spaces
    /// for any raw bytes an X10 mouse report cut short by the withheld byte may still take
    /// (such a reader would swallow the discard keys; a shell inserts the spaces, and the
    /// discard kills them); then `C-g C-e C-u` (C-g ends whatever key sequence or terminal
    /// string the withheld byte left open). The model applies the discard keys too, so the
    /// killed text is in its kill ring as in readline; the rest of the operator's paste is
    /// dropped.
    pub fn denied(&mut self) -> Vec<u8> {
        let mut bytes = Vec::new();
        if self.tokenizer.in_paste() {
            bytes.extend_from_slice(PASTE_END);
            self.discarding_paste = true;
        }
        bytes.push(XON);
        let owed = usize::from(std::mem::take(&mut self.mouse_bytes_owed));
        bytes.resize(bytes.len() + owed, b' ');
        bytes.extend_from_slice(self.model.deny());
        bytes
    }

    /// The pending submit was denied, and a Ctrl+C goes to the target in place of the discard
    /// keys: the line is gone, and the rest of the operator's paste is dropped.
    pub fn interrupted_for_deny(&mut self) {
        self.discarding_paste = self.tokenizer.in_paste();
        self.interrupted();
    }

    /// Ctrl+C was forwarded while a submit was pending: the line is gone (empty, certain).
    pub fn interrupted(&mut self) {
        self.tokenizer = Tokenizer::new();
        self.model.interrupt();
    }

    pub fn line(&self) -> String {
        self.model.line()
    }

    /// False while an escape sequence is half read, since the shell may already have acted on
    /// its first bytes.
    pub fn certain(&self) -> bool {
        self.model.certain() && !self.tokenizer.mid_sequence()
    }

    /// The cursor position in characters, for diagnostics and tests.
    pub fn cursor(&self) -> usize {
        self.model.cursor()
    }
}
