//! [`LineModel`]: GNU readline's default emacs key semantics applied to [`KeyEvent`]s.
//!
//! The model keeps the line the shell is editing, its cursor, the top of the kill ring, and a
//! `certain` flag. Invariant: the model is never silently wrong. Every key it does not model
//! exactly clears `certain`, and uncertainty lasts until the line is reset (accepted, denied,
//! interrupted). Keys that can put the shell into a sub-mode where later keys lose their usual
//! meaning (completion prompts and pagers, an editor, an unknown binding) also set `doubt`,
//! which survives accepts and denies because the model can no longer tell whether the next
//! Enter runs a line at all; only an interrupt (SIGINT resets readline) clears it. Switching to
//! vi mode (M-C-j, M-C-m) makes everything uncertain for the rest of the session.

use crate::key::{KeyEvent, Modifiers, NamedKey, CR, LF, SI};
use crate::line_buffer::LineBuffer;
use crate::reconstructor::{Submit, SubmitKey};

/// How a denied line is discarded: C-g, then C-e C-u (to the end, kill back to the start,
/// wherever the cursor was). C-g comes first because the target may be in the middle of
/// something when the submit is withheld: a key prefix (C-x, C-v, C-], an ESC whose final
/// byte was the submit) where C-x C-e would *execute* the line, or an unterminated OSC/DCS
/// string that would swallow the C-e C-u. C-g (BEL) aborts a prefix and ends such a string;
/// after C-v it is inserted literally and then killed with the rest.
const ABORT_AND_DISCARD: &[u8] = b"\x07\x05\x15";

/// A key that changes how the next key is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prefix {
    None,
    /// C-x: the next key selects a command from the C-x keymap.
    CtrlX,
    /// C-v / C-q: the next byte is inserted literally.
    Quoted,
    /// C-]: the next character is searched for.
    CharSearch,
}

/// What accepting the held submit does to the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterAccept {
    /// The line ran; an empty line follows.
    Ran,
    /// The line ran and the next one is prefilled from history (C-o).
    RanPrefilled,
    /// A pending prefix consumed the key; the line stays.
    Kept,
    /// A quoted control byte was inserted, not run.
    Inserted(char),
    /// Something beyond the model took over: an editor, a macro, a key the shell may not know.
    Lost,
    /// readline switched to vi editing mode.
    ViMode,
    /// C-d on a non-empty line: readline deletes the character under the cursor (a shell
    /// without a line editor would have taken the line as it was).
    DeleteChar,
}

#[derive(Debug, Clone, Copy)]
struct Held {
    after: AfterAccept,
}

/// The most recent kill, as readline's `C-y` would yank it.
#[derive(Debug, Clone)]
struct Kill {
    text: Vec<char>,
    /// False when the text was killed from an uncertain line or the ring was rotated (M-y).
    certain: bool,
}

#[derive(Debug, Clone)]
pub struct LineModel {
    buf: LineBuffer,
    kill: Option<Kill>,
    /// Consecutive kills grow one kill-ring entry, as in readline.
    last_was_kill: bool,
    /// Only typed characters came since the last kill. readline inserts characters that
    /// arrive together in one go, without ending the run of kills, so a kill after them may
    /// join the earlier one (`x` then C-u in one read) or not (read apart): the model cannot
    /// know which.
    typed_since_kill: bool,
    /// `typed_since_kill` as it stood before the key being applied.
    kill_may_join: bool,
    certain: bool,
    doubt: bool,
    vi_mode: bool,
    prefix: Prefix,
    held: Option<Held>,
    bracketed_paste: bool,
    /// A NUL arrived inside the current bracketed paste: readline inserts the pasted text as
    /// a C string, so nothing after the NUL reaches the line.
    paste_cut: bool,
}

impl Default for LineModel {
    fn default() -> Self {
        Self::new()
    }
}

impl LineModel {
    pub fn new() -> LineModel {
        LineModel {
            buf: LineBuffer::default(),
            kill: None,
            last_was_kill: false,
            typed_since_kill: false,
            kill_may_join: false,
            certain: true,
            doubt: false,
            vi_mode: false,
            prefix: Prefix::None,
            held: None,
            bracketed_paste: false,
            paste_cut: false,
        }
    }

    /// The whole line, regardless of the cursor.
    pub fn line(&self) -> String {
        self.buf.text()
    }

    pub fn cursor(&self) -> usize {
        self.buf.cursor()
    }

    pub fn certain(&self) -> bool {
        self.certain && !self.doubt && !self.vi_mode
    }

    pub fn bracketed_paste(&self) -> bool {
        self.bracketed_paste
    }

    pub fn set_bracketed_paste(&mut self, enabled: bool) {
        self.bracketed_paste = enabled;
    }

    /// True after C-v / C-q: the next byte must reach [`LineModel::quoted_byte`] raw, before
    /// the tokenizer can read an ESC in it as the start of a sequence.
    pub fn quoted_pending(&self) -> bool {
        self.prefix == Prefix::Quoted
    }

    /// Applies one key. Returns the submit to hold when the key makes the shell run its line.
    pub fn apply(&mut self, event: &KeyEvent) -> Option<Submit> {
        let was_kill = std::mem::take(&mut self.last_was_kill);
        // Read by `kill_to` for this key; a typed character carries it on.
        self.kill_may_join = self.typed_since_kill;
        self.typed_since_kill = matches!(event, KeyEvent::Char(_))
            && self.prefix == Prefix::None
            && (was_kill || self.kill_may_join);
        let prefix = std::mem::replace(&mut self.prefix, Prefix::None);
        let submit = match prefix {
            Prefix::None => self.unprefixed(event, was_kill),
            Prefix::CtrlX => self.ctrl_x(event),
            Prefix::Quoted => self.quoted(event),
            Prefix::CharSearch => match event {
                KeyEvent::Control(b @ (CR | LF | SI)) => Some(self.hold_key(*b, AfterAccept::Kept)),
                _ => None,
            },
        };
        if submit.is_some() {
            // The withheld byte never reaches the shell, which is still inside the prefix.
            self.prefix = prefix;
        }
        submit
    }

    /// Applies a run of `KeyEvent::Pasted` characters at once, exactly as [`LineModel::apply`]
    /// would one after another, when it can: inside a bracketed paste to a shell with bracketed
    /// paste mode, no prefix pending, nothing cut. `text` holds only tab, LF, CR and printable
    /// ASCII (CR is inserted as LF, as readline does). Returns false, applying nothing, when
    /// the run must go key by key.
    pub fn paste_text(&mut self, text: &[u8]) -> bool {
        if !self.bracketed_paste || self.paste_cut || self.prefix != Prefix::None {
            return false;
        }
        debug_assert!(text
            .iter()
            .all(|&b| matches!(b, b'\t' | b'\n' | b'\r' | 0x20..=0x7e)));
        if text.is_empty() {
            return true;
        }
        // What `apply` leaves after each pasted character: no kill just made, nothing typed
        // since one; only the first character reads the flag the key before it set.
        self.last_was_kill = false;
        self.kill_may_join = text.len() == 1 && self.typed_since_kill;
        self.typed_since_kill = false;
        self.buf.insert_ascii(text);
        true
    }

    /// The byte following C-v / C-q, taken raw. CR, LF and C-o are still held: if the shell
    /// did not see the quote the way the model did, they would run the line.
    pub fn quoted_byte(&mut self, byte: u8) -> Option<Submit> {
        self.last_was_kill = false;
        if matches!(byte, CR | LF | SI) {
            let after = AfterAccept::Inserted(byte as char);
            return Some(self.hold(SubmitKey::QuotedControl, false, after));
        }
        self.prefix = Prefix::None;
        self.buf.insert(&[byte as char]);
        None
    }

    /// Holds a byte that only a target reading it differently from the model would take as a
    /// submit (a byte with the eighth bit set, read as Meta plus a submit key in a locale that
    /// is not UTF-8): the line stays, no longer certain.
    pub fn possible_submit(&mut self, key: SubmitKey) -> Submit {
        self.unsure();
        self.hold(key, false, AfterAccept::Kept)
    }

    /// Holds a CR, LF or C-o that no key binding claimed (for instance M-C-o): the shell may
    /// still run the line, and the model no longer knows what it holds.
    pub fn force_submit(&mut self, key: SubmitKey) -> Submit {
        self.lost();
        self.hold(key, false, AfterAccept::Lost)
    }

    /// The held submit was approved and its byte forwarded.
    pub fn accept(&mut self) {
        let after = self.held.take().map_or(AfterAccept::Ran, |h| h.after);
        self.prefix = Prefix::None;
        match after {
            AfterAccept::Ran => self.reset(),
            AfterAccept::RanPrefilled => {
                self.reset();
                self.certain = false;
            }
            AfterAccept::Kept => self.certain = false,
            AfterAccept::Inserted(c) => {
                self.buf.insert(&[c]);
                self.certain = false;
            }
            AfterAccept::Lost => {
                self.doubt = true;
                self.reset();
            }
            AfterAccept::ViMode => self.vi_mode = true,
            // Were the line taken instead, the screen shows it gone at the next submit.
            AfterAccept::DeleteChar => self.delete_at_cursor(),
        }
    }

    /// The held submit was denied and its byte dropped. Applies and returns the bytes that
    /// discard the whole line on the shell; the killed text lands in the kill ring.
    pub fn deny(&mut self) -> &'static [u8] {
        self.paste_cut = false;
        self.held = None;
        let bytes = ABORT_AND_DISCARD;
        for &byte in bytes {
            // None of these bytes is a submit, so nothing new is held.
            if self.quoted_pending() {
                self.quoted_byte(byte);
            } else {
                self.apply(&KeyEvent::Control(byte));
            }
        }
        self.certain = !self.doubt && !self.vi_mode;
        bytes
    }

    /// Ctrl+C reached the shell: readline dropped the line and any sub-mode it was in.
    pub fn interrupt(&mut self) {
        self.held = None;
        self.doubt = false;
        self.reset();
    }

    fn reset(&mut self) {
        self.buf.clear();
        self.prefix = Prefix::None;
        self.last_was_kill = false;
        self.certain = !self.doubt && !self.vi_mode;
    }

    /// The text is no longer known.
    fn unsure(&mut self) {
        self.certain = false;
    }

    /// The text, and the meaning of the keys that follow, are no longer known.
    fn lost(&mut self) {
        self.certain = false;
        self.doubt = true;
    }

    fn hold(&mut self, key: SubmitKey, certain: bool, after: AfterAccept) -> Submit {
        self.held = Some(Held { after });
        Submit {
            line: self.line(),
            certain: certain && self.certain(),
            key,
        }
    }

    /// Holds CR, LF or C-o read as themselves.
    fn hold_key(&mut self, byte: u8, after: AfterAccept) -> Submit {
        let key = SubmitKey::for_byte(byte);
        let plain = after == AfterAccept::Ran && byte != SI;
        self.hold(key, plain, after)
    }

    fn insert(&mut self, c: char) {
        self.buf.insert(&[c]);
    }

    /// Kills the text between the cursor and `target` into the kill ring.
    fn kill_to(&mut self, target: usize, was_kill: bool) {
        // readline keeps a run of kills together even when one of them kills nothing.
        self.last_was_kill = true;
        let cursor = self.buf.cursor();
        if target == cursor {
            return;
        }
        let text = self.buf.remove(cursor, target);
        let certain = self.certain();
        match &mut self.kill {
            Some(kill) if was_kill => {
                if target < cursor {
                    kill.text.splice(0..0, text);
                } else {
                    kill.text.extend(text);
                }
                kill.certain &= certain;
            }
            // A kill after typing that followed a kill may have joined it in readline.
            _ => {
                let joinable = self.kill.is_some() && self.kill_may_join;
                self.kill = Some(Kill {
                    text,
                    certain: certain && !joinable,
                })
            }
        }
    }

    fn yank(&mut self) {
        match &self.kill {
            Some(kill) => {
                let (text, certain) = (kill.text.clone(), kill.certain);
                self.buf.insert(&text);
                self.certain &= certain;
            }
            // The shell may hold kills the model never saw.
            None => self.unsure(),
        }
    }

    fn delete_at_cursor(&mut self) {
        let at = self.buf.cursor();
        if at < self.buf.len() {
            self.buf.remove(at, self.buf.char_end_after());
        }
    }

    fn unprefixed(&mut self, event: &KeyEvent, was_kill: bool) -> Option<Submit> {
        match *event {
            KeyEvent::Char(c) => self.insert(c),
            KeyEvent::Control(byte) => return self.control(byte, was_kill),
            KeyEvent::Meta(byte) => return self.meta(byte, was_kill),
            KeyEvent::Key(key, mods) => return self.named(key, mods, was_kill),
            KeyEvent::Extended { code, mods } => {
                let enter = matches!(code, 10 | 13)
                    || (mods.ctrl() && matches!(code, 74 | 77 | 79 | 106 | 109 | 111));
                if enter {
                    return Some(self.hold(SubmitKey::ExtendedEnter, false, AfterAccept::Lost));
                }
                // readline does not decode these; it reads them as an unbound sequence.
                self.unsure();
            }
            KeyEvent::PasteStart | KeyEvent::PasteEnd => {
                self.paste_cut = false;
                if !self.bracketed_paste {
                    self.unsure();
                }
            }
            KeyEvent::Pasted(c) => return self.pasted(c),
            KeyEvent::NotKey(_) => self.unsure(),
            KeyEvent::Invalid(_) => {
                self.insert(char::REPLACEMENT_CHARACTER);
                self.unsure();
            }
        }
        None
    }

    fn control(&mut self, byte: u8, was_kill: bool) -> Option<Submit> {
        let end = self.buf.len();
        match byte {
            // C-@ sets the mark, C-g aborts, C-l redraws: none changes the line.
            0x00 | 0x07 | 0x0c => {}
            0x01 => self.buf.move_to(0),
            0x02 => self.buf.left(),
            0x03 => self.interrupt(),
            // On an empty line C-d is EOF, which runs nothing. On a non-empty one it deletes a
            // character in readline, but hands the line over where there is no line editor
            // (`set +o emacs`): held, and asked about.
            0x04 if end > 0 => {
                return Some(self.hold(SubmitKey::EndOfFile, false, AfterAccept::DeleteChar))
            }
            0x04 => {}
            0x05 => self.buf.move_to(end),
            0x06 => self.buf.right(),
            0x08 | 0x7f => {
                let at = self.buf.cursor();
                self.buf.remove(self.buf.char_start_before(), at);
            }
            // Completion may open a "Display all?" prompt or a pager that eats Enter.
            0x09 => self.lost(),
            CR | LF => return Some(self.hold_key(byte, AfterAccept::Ran)),
            SI => return Some(self.hold_key(byte, AfterAccept::RanPrefilled)),
            0x0b => self.kill_to(end, was_kill),
            // C-s and C-q are the tty's STOP and START characters (IXON stays at the target's
            // default, on, and readline leaves it on): they pause and restart output and never
            // reach the line.
            0x11 | 0x13 => {}
            // C-n, C-p history; C-r search; C-_ undo; C-z, C-\ are taken by the tty.
            0x0e | 0x10 | 0x12 | 0x1f | 0x1a | 0x1c => self.unsure(),
            0x14 => {
                // readline transposes whole characters with their combining marks; the model
                // swaps code points, which is only right without zero-width characters.
                if self.buf.has_zero_width() {
                    self.unsure();
                }
                self.buf.transpose();
            }
            0x15 => self.kill_to(0, was_kill),
            0x16 => self.prefix = Prefix::Quoted,
            0x17 => self.kill_to(self.buf.blank_word_start(), was_kill),
            0x18 => self.prefix = Prefix::CtrlX,
            0x19 => self.yank(),
            0x1d => {
                self.unsure();
                self.prefix = Prefix::CharSearch;
            }
            _ => self.lost(),
        }
        None
    }

    fn meta(&mut self, byte: u8, was_kill: bool) -> Option<Submit> {
        // readline binds M-A..M-Z to their lowercase versions.
        match byte.to_ascii_lowercase() {
            b'b' => self.buf.move_to(self.buf.word_start()),
            b'f' => self.buf.move_to(self.buf.word_end()),
            b'd' => self.kill_to(self.buf.word_end(), was_kill),
            0x7f | 0x08 => self.kill_to(self.buf.word_start(), was_kill),
            b'y' => {
                // yank-pop rotates a ring whose older entries the model does not track.
                self.unsure();
                if let Some(kill) = &mut self.kill {
                    kill.certain = false;
                }
            }
            b'#' => return Some(self.hold(SubmitKey::InsertComment, false, AfterAccept::Ran)),
            CR | LF => return Some(self.hold(SubmitKey::MetaEnter, false, AfterAccept::ViMode)),
            // History (M-< M-> M-. M-_), revert-line, numeric arguments.
            b'<' | b'>' | b'.' | b'_' | b'r' | b'-' | b'0'..=b'9' => self.unsure(),
            // Completions (M-? M-* M-= M-TAB M-ESC ...) and everything unmodelled.
            _ => self.lost(),
        }
        None
    }

    fn named(&mut self, key: NamedKey, mods: Modifiers, was_kill: bool) -> Option<Submit> {
        let word = mods == Modifiers::CTRL || mods == Modifiers::ALT;
        match (key, mods.is_empty()) {
            (NamedKey::Left, true) => self.buf.left(),
            (NamedKey::Right, true) => self.buf.right(),
            (NamedKey::Left, false) if word => self.buf.move_to(self.buf.word_start()),
            (NamedKey::Right, false) if word => self.buf.move_to(self.buf.word_end()),
            (NamedKey::Home, true) => self.buf.move_to(0),
            (NamedKey::End, true) => self.buf.move_to(self.buf.len()),
            (NamedKey::Delete, true) => self.delete_at_cursor(),
            // readline binds Ctrl-Delete (`ESC [ 3 ; 5 ~`) to kill-word, beside Ctrl-Left/Right.
            (NamedKey::Delete, false) if mods == Modifiers::CTRL => {
                self.kill_to(self.buf.word_end(), was_kill)
            }
            (NamedKey::KeypadEnter, _) => {
                return Some(self.hold(SubmitKey::ExtendedEnter, false, AfterAccept::Lost))
            }
            // Insert toggles overwrite mode, which changes every later insertion.
            (NamedKey::Insert, _) => self.lost(),
            // History keys, and sequences readline has no binding for.
            _ => self.unsure(),
        }
        None
    }

    fn ctrl_x(&mut self, event: &KeyEvent) -> Option<Submit> {
        match *event {
            KeyEvent::Control(0x05) => {
                return Some(self.hold(SubmitKey::EditAndExecute, false, AfterAccept::Lost))
            }
            KeyEvent::Char('e') => {
                return Some(self.hold(SubmitKey::CallMacro, false, AfterAccept::Lost))
            }
            // readline aborts an unbound C-x sequence, so the line is not run.
            KeyEvent::Control(b @ (CR | LF | SI)) => {
                return Some(self.hold_key(b, AfterAccept::Kept))
            }
            KeyEvent::Control(0x07) => {}
            // C-x C-u undo, C-x C-x exchange point and mark.
            KeyEvent::Control(0x15 | 0x18) => self.unsure(),
            _ => self.lost(),
        }
        None
    }

    fn quoted(&mut self, event: &KeyEvent) -> Option<Submit> {
        match *event {
            KeyEvent::Char(c) => self.insert(c),
            KeyEvent::Control(byte) => return self.quoted_byte(byte),
            KeyEvent::Invalid(_) => {
                self.insert(char::REPLACEMENT_CHARACTER);
                self.unsure();
            }
            _ => self.lost(),
        }
        None
    }

    fn pasted(&mut self, c: char) -> Option<Submit> {
        if self.bracketed_paste {
            match c {
                _ if self.paste_cut => {}
                '\0' => self.paste_cut = true,
                // The tty turns a pasted Ctrl+C into SIGINT before readline reads the paste.
                '\u{3}' => self.lost(),
                // readline's bracketed paste turns CR into newline.
                '\r' => self.insert('\n'),
                _ => self.insert(c),
            }
            return None;
        }
        // Without bracketed paste mode the shell reads the paste as keystrokes.
        match c {
            '\r' | '\n' => Some(self.hold(SubmitKey::PasteNewline, false, AfterAccept::Ran)),
            '\u{f}' => Some(self.hold_key(SI, AfterAccept::RanPrefilled)),
            c if c.is_control() => {
                self.lost();
                None
            }
            c => {
                self.insert(c);
                self.unsure();
                None
            }
        }
    }
}
