//! Decoding tables for complete CSI and SS3 sequences: which bytes mean which key.
//!
//! The tokenizer collects a sequence's bytes into a [`SeqBuf`]; this module only maps a finished
//! sequence to a [`KeyEvent`]. Invariant: every sequence maps to some event, and anything not in
//! these tables is [`NotKey::UnknownSequence`], never a guessed key.

use crate::key::{KeyEvent, Modifiers, NamedKey, NotKey};

/// Longest parameter string kept; longer sequences are still consumed but decode as unknown,
/// so a hostile stream cannot make the tokenizer allocate.
const MAX_PARAMS: usize = 32;

/// The parameter and intermediate bytes of a CSI or SS3 sequence being read.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SeqBuf {
    params: [u8; MAX_PARAMS],
    len: usize,
    intermediates: usize,
    malformed: bool,
}

impl SeqBuf {
    pub(crate) fn new() -> SeqBuf {
        SeqBuf {
            params: [0; MAX_PARAMS],
            len: 0,
            intermediates: 0,
            malformed: false,
        }
    }

    /// A parameter byte (0x30..=0x3f).
    pub(crate) fn param(&mut self, byte: u8) {
        // A parameter after an intermediate byte is not a well-formed sequence.
        self.malformed |= self.intermediates > 0;
        if self.len < MAX_PARAMS {
            self.params[self.len] = byte;
            self.len += 1;
        } else {
            self.malformed = true;
        }
    }

    /// An intermediate byte (0x20..=0x2f); no key we decode uses one.
    pub(crate) fn intermediate(&mut self) {
        self.intermediates += 1;
    }

    fn raw(&self) -> &[u8] {
        &self.params[..self.len]
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0 && self.intermediates == 0 && !self.malformed
    }

    /// The private marker (`<`, `=`, `>`, `?`) leading the parameters, if any.
    fn private(&self) -> Option<u8> {
        self.raw()
            .first()
            .copied()
            .filter(|b| (0x3c..=0x3f).contains(b))
    }

    /// Numeric fields split on `;`; a field's sub-parameters after `:` are ignored. `None` when
    /// the fields are not plain numbers (or the sequence is malformed).
    fn numbers(&self) -> Option<Vec<Option<u32>>> {
        if self.malformed || self.intermediates > 0 {
            return None;
        }
        let raw = match self.private() {
            Some(_) => &self.raw()[1..],
            None => self.raw(),
        };
        if raw.is_empty() {
            return Some(Vec::new());
        }
        raw.split(|&b| b == b';')
            .map(|field| {
                let main = field.split(|&b| b == b':').next().unwrap_or(&[]);
                if main.is_empty() {
                    return Some(None);
                }
                if !main.iter().all(u8::is_ascii_digit) {
                    return None;
                }
                std::str::from_utf8(main).ok()?.parse().ok().map(Some)
            })
            .collect()
    }

    /// True for `ESC [ 200 ~` once the final byte `~` arrives.
    pub(crate) fn is_paste_start(&self) -> bool {
        self.raw() == b"200" && self.intermediates == 0 && !self.malformed
    }

    /// True for `ESC [ 201 ~` once the final byte `~` arrives.
    pub(crate) fn is_paste_end(&self) -> bool {
        self.raw() == b"201" && self.intermediates == 0 && !self.malformed
    }
}

const UNKNOWN: KeyEvent = KeyEvent::NotKey(NotKey::UnknownSequence);

/// Maps a complete `ESC [ ... final` sequence.
pub(crate) fn decode_csi(seq: &SeqBuf, final_byte: u8) -> KeyEvent {
    let Some(nums) = seq.numbers() else {
        return UNKNOWN;
    };
    let field = |i: usize| nums.get(i).copied().flatten();
    match (seq.private(), final_byte) {
        (Some(b'<'), b'M' | b'm') => KeyEvent::NotKey(NotKey::Mouse),
        (Some(b'?' | b'>'), b'c') => KeyEvent::NotKey(NotKey::DeviceAttributes),
        (Some(_), _) => UNKNOWN,
        (None, b'R') => KeyEvent::NotKey(NotKey::CursorReport),
        (None, b'I' | b'O') if nums.is_empty() => KeyEvent::NotKey(NotKey::Focus),
        (None, b'u') => match field(0) {
            Some(code) if nums.len() <= 3 => KeyEvent::Extended {
                code,
                mods: Modifiers::from_param(field(1)),
            },
            _ => UNKNOWN,
        },
        (None, b'~') => decode_tilde(&nums),
        (None, b'Z') if nums.is_empty() => KeyEvent::Key(NamedKey::BackTab, Modifiers::NONE),
        (None, letter) => decode_letter(letter, &nums),
    }
}

/// Maps a complete `ESC O ... final` sequence (application cursor and keypad mode).
pub(crate) fn decode_ss3(seq: &SeqBuf, final_byte: u8) -> KeyEvent {
    let Some(nums) = seq.numbers() else {
        return UNKNOWN;
    };
    if seq.private().is_some() {
        return UNKNOWN;
    }
    if final_byte == b'M' {
        return match nums.as_slice() {
            [] => KeyEvent::Key(NamedKey::KeypadEnter, Modifiers::NONE),
            [m] => KeyEvent::Key(NamedKey::KeypadEnter, Modifiers::from_param(*m)),
            _ => UNKNOWN,
        };
    }
    // Some terminals send the modifier as the only SS3 parameter (`ESC O 5 D`).
    match nums.as_slice() {
        [] | [_] => letter_key(final_byte)
            .map(|key| KeyEvent::Key(key, Modifiers::from_param(nums.first().copied().flatten())))
            .unwrap_or(UNKNOWN),
        _ => UNKNOWN,
    }
}

/// Cursor keys and F1..F4 in the `CSI [1 ; mod] letter` form.
fn decode_letter(letter: u8, nums: &[Option<u32>]) -> KeyEvent {
    let Some(key) = letter_key(letter) else {
        return UNKNOWN;
    };
    match nums {
        [] => KeyEvent::Key(key, Modifiers::NONE),
        [None | Some(1)] => KeyEvent::Key(key, Modifiers::NONE),
        [None | Some(1), m] => KeyEvent::Key(key, Modifiers::from_param(*m)),
        _ => UNKNOWN,
    }
}

fn letter_key(letter: u8) -> Option<NamedKey> {
    Some(match letter {
        b'A' => NamedKey::Up,
        b'B' => NamedKey::Down,
        b'C' => NamedKey::Right,
        b'D' => NamedKey::Left,
        b'H' => NamedKey::Home,
        b'F' => NamedKey::End,
        b'P' => NamedKey::F(1),
        b'Q' => NamedKey::F(2),
        // `R` is F3 for SS3 only: with CSI it is a cursor position report.
        b'R' => NamedKey::F(3),
        b'S' => NamedKey::F(4),
        _ => return None,
    })
}

/// The `CSI number [; mod] ~` family, plus tmux's `CSI 27 ; mod ; code ~`.
fn decode_tilde(nums: &[Option<u32>]) -> KeyEvent {
    if let [Some(27), mods, Some(code)] = nums {
        return KeyEvent::Extended {
            code: *code,
            mods: Modifiers::from_param(*mods),
        };
    }
    let mods = match nums {
        [_] => Modifiers::NONE,
        [_, m] => Modifiers::from_param(*m),
        _ => return UNKNOWN,
    };
    let key = match nums.first().copied().flatten() {
        Some(1 | 7) => NamedKey::Home,
        Some(4 | 8) => NamedKey::End,
        Some(2) => NamedKey::Insert,
        Some(3) => NamedKey::Delete,
        Some(5) => NamedKey::PageUp,
        Some(6) => NamedKey::PageDown,
        Some(n @ 11..=15) => NamedKey::F((n - 10) as u8),
        Some(n @ 17..=21) => NamedKey::F((n - 11) as u8),
        Some(n @ 23..=24) => NamedKey::F((n - 12) as u8),
        _ => return UNKNOWN,
    };
    KeyEvent::Key(key, mods)
}
