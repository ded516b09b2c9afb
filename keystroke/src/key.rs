//! The vocabulary shared by the tokenizer and the line model: one [`KeyEvent`] per key the
//! operator pressed, or per run of input bytes that is not a key at all.
//!
//! Invariant: every input byte ends up in exactly one event (or in a sequence still being
//! read), so nothing the shell receives can be silently dropped from the model. Bytes that a
//! shell might read as keys but that we cannot map to a key become [`KeyEvent::NotKey`], which
//! the line model treats as "the line is no longer known".

/// Modifier bits as xterm encodes them: the parameter on the wire is `1 + bits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Modifiers(u8);

impl Modifiers {
    pub const NONE: Modifiers = Modifiers(0);
    pub const SHIFT: Modifiers = Modifiers(1);
    pub const ALT: Modifiers = Modifiers(2);
    pub const CTRL: Modifiers = Modifiers(4);
    pub const META: Modifiers = Modifiers(8);

    /// Decodes the xterm modifier parameter (`1` or absent means none).
    pub fn from_param(param: Option<u32>) -> Modifiers {
        let bits = param.unwrap_or(1).saturating_sub(1);
        // Bits above Meta (Caps Lock, Num Lock in the kitty protocol) do not change the key.
        Modifiers((bits & 0x0f) as u8)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn ctrl(self) -> bool {
        self.0 & Self::CTRL.0 != 0
    }
}

/// Keys that terminals send as CSI or SS3 sequences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamedKey {
    Up,
    Down,
    Left,
    Right,
    Home,
    End,
    Insert,
    Delete,
    PageUp,
    PageDown,
    BackTab,
    /// Enter on the numeric keypad in application keypad mode (`ESC O M`).
    KeypadEnter,
    /// Function key F1..F12.
    F(u8),
}

/// Input that is not a keystroke. A shell reading it would still see bytes, so each of these
/// makes the reconstructed line uncertain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotKey {
    /// `ESC [ row ; col R`.
    CursorReport,
    /// `ESC [ ? ... c` or `ESC [ > ... c`.
    DeviceAttributes,
    /// `ESC ] ... BEL` or `ESC ] ... ESC \`.
    OscString,
    /// DCS, APC, PM or SOS string.
    ControlString,
    /// `ESC [ I` / `ESC [ O`.
    Focus,
    /// SGR (`ESC [ < b;x;y M`) or X10 (`ESC [ M` + 3 bytes) mouse report.
    Mouse,
    /// A complete sequence we do not recognise.
    UnknownSequence,
    /// A sequence cut short by a byte that cannot belong to it (that byte is processed next).
    Aborted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEvent {
    /// A printable character (ASCII or a complete UTF-8 sequence).
    Char(char),
    /// A C0 control byte (0x00..=0x1f except ESC) or DEL (0x7f).
    Control(u8),
    /// ESC followed by one ASCII byte: readline's Meta prefix (`ESC CR` is M-C-m).
    Meta(u8),
    /// A cursor or function key, with the xterm modifiers it carried.
    Key(NamedKey, Modifiers),
    /// A tmux/kitty extended key: `CSI code ; mod u` or `CSI 27 ; mod ; code ~`.
    Extended {
        code: u32,
        mods: Modifiers,
    },
    /// `ESC [ 200 ~`.
    PasteStart,
    /// `ESC [ 201 ~` closing a paste.
    PasteEnd,
    /// One character of a bracketed paste body, control characters included.
    Pasted(char),
    NotKey(NotKey),
    /// A byte that is not part of any valid UTF-8 sequence.
    Invalid(u8),
}

/// The bytes that make a shell run its line: CR, LF and Ctrl+O (SI).
pub(crate) const CR: u8 = 0x0d;
pub(crate) const LF: u8 = 0x0a;
pub(crate) const SI: u8 = 0x0f;
/// Ctrl+C, which the tty turns into an interrupt.
pub(crate) const CTRL_C: u8 = 0x03;
