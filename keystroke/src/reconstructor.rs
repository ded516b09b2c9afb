//! [`Reconstructor`]: the seam the proxy's gate uses, one input byte at a time.
//!
//! It feeds each byte through the [`Tokenizer`] into the [`LineModel`] and tells the gate what
//! to do with that byte. The safety invariant lives here, independent of both: every CR (0x0d),
//! LF (0x0a) and Ctrl+O (0x0f) is a [`ByteAction::Submit`], whatever state the tokenizer or the
//! model is in, except as text inside a bracketed paste while the target has bracketed paste
//! mode enabled. The model may recognise more submits (C-x C-e, M-#, extended Enter keys) but
//! can never turn one of these bytes into a plain forward.

use crate::key::{KeyEvent, CR, CTRL_C, LF, SI};
use crate::line_model::LineModel;
use crate::tokenizer::Tokenizer;

/// What the gate must do with one input byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ByteAction {
    /// Forward the byte to the target now.
    Forward,
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
}

impl Reconstructor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Classifies one input byte and applies it to the model.
    pub fn push(&mut self, byte: u8) -> ByteAction {
        let in_paste = self.tokenizer.in_paste();
        let mut events = std::mem::take(&mut self.events);
        events.clear();
        if byte == CTRL_C {
            // The tty turns it into SIGINT whatever readline was in the middle of, a paste
            // included: the line, any cut-off sequence and the paste itself are gone.
            self.events = events;
            self.interrupted();
            return ByteAction::Interrupt;
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
        self.events = events;
        let must_hold = matches!(byte, LF | CR | SI) && !(in_paste && self.model.bracketed_paste());
        match submit {
            Some(submit) => ByteAction::Submit(submit),
            None if must_hold => {
                ByteAction::Submit(self.model.force_submit(SubmitKey::for_byte(byte)))
            }
            None => ByteAction::Forward,
        }
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
    /// so the target discards the whole line wherever the cursor is: `C-g C-e C-u` (C-g ends
    /// whatever key sequence or terminal string the withheld byte left open). The model
    /// applies them too, so the killed text is in its kill ring as in readline.
    pub fn denied(&mut self) -> &'static [u8] {
        self.model.deny()
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
