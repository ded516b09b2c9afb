//! The named keys and terminal replies of the notation, and the bytes each one stands for.

use super::ESC;

/// Modifiers written as `C-`, `M-` and `S-` prefixes inside `<...>`.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Mods {
    pub(super) ctrl: bool,
    pub(super) meta: bool,
    pub(super) shift: bool,
}

impl Mods {
    pub(super) fn is_empty(self) -> bool {
        !(self.ctrl || self.meta || self.shift)
    }

    /// The xterm modifier parameter: 1 + (shift 1, alt 2, ctrl 4).
    pub(super) fn xterm_param(self) -> u8 {
        1 + u8::from(self.shift) + 2 * u8::from(self.meta) + 4 * u8::from(self.ctrl)
    }

    /// Records the modifier named by `c`, or says it names none.
    pub(super) fn add(&mut self, c: char) -> bool {
        match c.to_ascii_uppercase() {
            'C' => self.ctrl = true,
            'M' => self.meta = true,
            'S' => self.shift = true,
            _ => return false,
        }
        true
    }

    /// The prefix `render` writes, in the fixed order C, M, S.
    pub(super) fn prefix(self) -> String {
        [(self.ctrl, "C-"), (self.meta, "M-"), (self.shift, "S-")]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, text)| *text)
            .collect()
    }
}

/// A named key and the family of encodings it belongs to.
#[derive(Debug, Clone, Copy)]
pub(super) enum Key {
    /// Sends one byte; Meta puts ESC in front.
    Byte(u8),
    /// Arrow keys: `CSI x`, `SS3 x` in application mode, `CSI 1;m x` with modifiers.
    Cursor(u8),
    /// Home and End: like arrows, plus the tmux/screen and rxvt `CSI n ~` forms.
    HomeEnd { letter: u8, tmux: u8, rxvt: u8 },
    /// Editing and function keys sent as `CSI n ~`, `CSI n;m ~` with modifiers.
    Tilde(u8),
    /// F1..F4: `SS3 x`, `CSI 1;m x` with modifiers.
    Ss3(u8),
    /// A fixed sequence that takes no modifiers.
    Fixed(&'static [u8]),
}

/// Canonical names of the keys `render` recognises inside escape sequences.
pub(super) const RENDERED_KEYS: [&str; 27] = [
    "Up", "Down", "Right", "Left", "Home", "End", "Ins", "Del", "PgUp", "PgDn", "F1", "F2", "F3",
    "F4", "F5", "F6", "F7", "F8", "F9", "F10", "F11", "F12", "BackTab", "Paste", "/Paste",
    "FocusIn", "FocusOut",
];

impl Key {
    pub(super) fn from_name(name: &str) -> Option<Key> {
        let key = match name.to_ascii_lowercase().as_str() {
            "enter" | "return" => Key::Byte(b'\r'),
            "lf" => Key::Byte(b'\n'),
            "tab" => Key::Byte(b'\t'),
            "esc" => Key::Byte(ESC),
            "bs" => Key::Byte(0x7f),
            "space" => Key::Byte(b' '),
            "lt" => Key::Byte(b'<'),
            "nul" => Key::Byte(0),
            "up" => Key::Cursor(b'A'),
            "down" => Key::Cursor(b'B'),
            "right" => Key::Cursor(b'C'),
            "left" => Key::Cursor(b'D'),
            "home" => Key::HomeEnd {
                letter: b'H',
                tmux: 1,
                rxvt: 7,
            },
            "end" => Key::HomeEnd {
                letter: b'F',
                tmux: 4,
                rxvt: 8,
            },
            "ins" | "insert" => Key::Tilde(2),
            "del" | "delete" => Key::Tilde(3),
            "pgup" | "pageup" => Key::Tilde(5),
            "pgdn" | "pagedown" => Key::Tilde(6),
            "f1" => Key::Ss3(b'P'),
            "f2" => Key::Ss3(b'Q'),
            "f3" => Key::Ss3(b'R'),
            "f4" => Key::Ss3(b'S'),
            "f5" => Key::Tilde(15),
            "f6" => Key::Tilde(17),
            "f7" => Key::Tilde(18),
            "f8" => Key::Tilde(19),
            "f9" => Key::Tilde(20),
            "f10" => Key::Tilde(21),
            "f11" => Key::Tilde(23),
            "f12" => Key::Tilde(24),
            "backtab" => Key::Fixed(b"\x1b[Z"),
            "paste" => Key::Fixed(b"\x1b[200~"),
            "/paste" => Key::Fixed(b"\x1b[201~"),
            "focusin" => Key::Fixed(b"\x1b[I"),
            "focusout" => Key::Fixed(b"\x1b[O"),
            _ => return None,
        };
        Some(key)
    }

    /// The bytes for this key; the error message says why the combination has no encoding.
    pub(super) fn encode(self, mods: Mods, encoding: Option<&str>) -> Result<Vec<u8>, String> {
        if let Some(encoding) = encoding {
            return self.encode_variant(mods, encoding);
        }
        let param = mods.xterm_param();
        match self {
            Key::Byte(byte) => encode_byte_key(byte, mods),
            Key::Cursor(letter) | Key::HomeEnd { letter, .. } | Key::Ss3(letter) if param > 1 => {
                Ok(format!("\x1b[1;{param}{}", char::from(letter)).into_bytes())
            }
            Key::Cursor(letter) | Key::HomeEnd { letter, .. } => Ok(vec![ESC, b'[', letter]),
            Key::Ss3(letter) => Ok(vec![ESC, b'O', letter]),
            Key::Tilde(code) => Ok(tilde(code, param)),
            Key::Fixed(bytes) if mods.is_empty() => Ok(bytes.to_vec()),
            Key::Fixed(_) => Err("this key takes no modifiers".to_owned()),
        }
    }

    /// The `:app`, `:tmux` and `:rxvt` encodings other terminals and modes use.
    pub(super) fn encode_variant(self, mods: Mods, encoding: &str) -> Result<Vec<u8>, String> {
        if !mods.is_empty() {
            return Err("an encoding suffix cannot be combined with modifiers".to_owned());
        }
        match (self, encoding.to_ascii_lowercase().as_str()) {
            (Key::Cursor(letter) | Key::HomeEnd { letter, .. }, "app") => {
                Ok(vec![ESC, b'O', letter])
            }
            (Key::HomeEnd { tmux, .. }, "tmux") => Ok(tilde(tmux, 1)),
            (Key::HomeEnd { rxvt, .. }, "rxvt") => Ok(tilde(rxvt, 1)),
            (_, "app") => Err("`:app` applies to Up, Down, Right, Left, Home and End".to_owned()),
            (_, "tmux" | "rxvt") => Err(format!("`:{encoding}` applies to Home and End")),
            _ => Err(format!(
                "unknown encoding `:{encoding}`; expected `:app`, `:tmux` or `:rxvt`"
            )),
        }
    }
}

pub(super) fn tilde(code: u8, param: u8) -> Vec<u8> {
    if param > 1 {
        format!("\x1b[{code};{param}~").into_bytes()
    } else {
        format!("\x1b[{code}~").into_bytes()
    }
}

pub(super) fn encode_byte_key(byte: u8, mods: Mods) -> Result<Vec<u8>, String> {
    if mods.shift {
        // Shift-Tab is the one single-byte key terminals encode differently when shifted.
        return if byte == b'\t' && !mods.ctrl && !mods.meta {
            Ok(b"\x1b[Z".to_vec())
        } else {
            Err("Shift applies to Tab and to named keys such as Left".to_owned())
        };
    }
    let byte = match (mods.ctrl, byte) {
        (false, _) => byte,
        (true, b' ') => 0,
        (true, _) => {
            return Err("Ctrl applies to Space and to single characters, as in `<C-a>`".to_owned())
        }
    };
    Ok(meta_prefixed(mods.meta, &[byte]))
}

pub(super) fn meta_prefixed(meta: bool, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 1);
    if meta {
        out.push(ESC);
    }
    out.extend_from_slice(bytes);
    out
}

/// The byte Ctrl plus `c` sends, as in the ASCII control-key convention.
pub(super) fn control_byte(c: char) -> Option<u8> {
    match c.to_ascii_lowercase() {
        letter @ 'a'..='z' => u8::try_from(letter).ok().map(|b| b & 0x1f),
        '@' => Some(0),
        '[' => Some(0x1b),
        '\\' => Some(0x1c),
        ']' => Some(0x1d),
        '^' => Some(0x1e),
        '_' => Some(0x1f),
        '?' => Some(0x7f),
        _ => None,
    }
}

/// The keys whose `<Name ...>` carries arguments: extended keys and terminal replies.
#[derive(Debug, Clone, Copy)]
pub(super) enum ArgKey {
    CsiU,
    Key27,
    Cpr,
    Da1,
    Da2,
    Osc,
    OscSt,
    SgrMouse,
    X10Mouse,
}

impl ArgKey {
    pub(super) fn from_name(name: &str) -> Option<ArgKey> {
        let key = match name.to_ascii_lowercase().as_str() {
            "csiu" => ArgKey::CsiU,
            "key27" => ArgKey::Key27,
            "cpr" => ArgKey::Cpr,
            "da1" => ArgKey::Da1,
            "da2" => ArgKey::Da2,
            "osc" => ArgKey::Osc,
            "osc-st" => ArgKey::OscSt,
            "sgrmouse" => ArgKey::SgrMouse,
            "x10mouse" => ArgKey::X10Mouse,
            _ => return None,
        };
        Some(key)
    }

    pub(super) fn usage(self) -> &'static str {
        match self {
            ArgKey::CsiU => "`<CSIu codepoint>` or `<CSIu codepoint modifier>`",
            ArgKey::Key27 => "`<Key27 modifier codepoint>`",
            ArgKey::Cpr => "`<CPR row column>`",
            ArgKey::Da1 => "`<DA1 64;1;2>`",
            ArgKey::Da2 => "`<DA2 41;354;0>`",
            ArgKey::Osc => "`<OSC 11;rgb:0000/0000/0000>`",
            ArgKey::OscSt => "`<OSC-ST 11;rgb:0000/0000/0000>`",
            ArgKey::SgrMouse => "`<SGRMouse button x y M>` (or `m` for a release)",
            ArgKey::X10Mouse => "`<X10Mouse button x y>`",
        }
    }
}
