//! Bytes to [`KeyEvent`]s, one byte at a time.
//!
//! The tokenizer is a state machine fed a single byte per call, so how the input was chunked
//! into packets can never change the result; "need more bytes" is simply a state, and a lone
//! ESC waits for the next byte (there are no timers). Invariants:
//! - C0 control bytes are never swallowed by an escape sequence or string: one arriving in the
//!   middle of a sequence aborts it (reported as [`NotKey::Aborted`]) and is then processed as a
//!   key. This is what keeps CR, LF and Ctrl+O visible to the gate wherever they appear. The only
//!   exceptions are BEL and ESC `\` ending a string, and ESC itself right after ESC (`M-ESC`).
//! - Inside a bracketed paste every byte up to `ESC [ 201 ~` is paste text, CR and LF included.
//! - No input can panic or make the tokenizer allocate without bound.

use crate::key::{KeyEvent, NotKey};
use crate::sequence::{decode_csi, decode_ss3, SeqBuf};
use crate::utf8::Utf8Decoder;

const ESC: u8 = 0x1b;
const BEL: u8 = 0x07;
const PASTE_END: &[u8] = b"\x1b[201~";

/// Which kind of string (terminated by BEL or ESC `\`) is being skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StringKind {
    Osc,
    Control,
}

#[derive(Debug, Clone, Copy)]
enum State {
    Ground,
    /// After ESC.
    Escape,
    /// After `ESC [`.
    Csi(SeqBuf),
    /// After `ESC O`.
    Ss3(SeqBuf),
    /// Inside an OSC/DCS/APC/PM/SOS string; `esc` when the last byte was ESC (maybe ST).
    String {
        kind: StringKind,
        esc: bool,
    },
    /// After `ESC [ M`: this many raw mouse bytes still to come.
    X10Mouse {
        left: u8,
    },
    /// Inside a bracketed paste; `matched` bytes of `ESC [ 201 ~` seen so far.
    Paste {
        matched: usize,
    },
}

/// Turns raw input bytes into key events.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    state: State,
    utf8: Utf8Decoder,
}

impl Default for Tokenizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Tokenizer {
    pub fn new() -> Tokenizer {
        Tokenizer {
            state: State::Ground,
            utf8: Utf8Decoder::default(),
        }
    }

    /// True between `ESC [ 200 ~` and `ESC [ 201 ~`.
    pub fn in_paste(&self) -> bool {
        matches!(self.state, State::Paste { .. })
    }

    /// True inside a bracketed paste's body with nothing partly read (no byte of the end
    /// marker, no part of a UTF-8 character): a plain ASCII byte other than ESC is then one
    /// `Pasted` character and leaves this state as it is.
    pub fn in_paste_text(&self) -> bool {
        matches!(self.state, State::Paste { matched: 0 }) && !self.utf8.is_pending()
    }

    /// True when no sequence or character is partly read.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Ground) && !self.utf8.is_pending()
    }

    /// True while an escape sequence or string is partly read: its bytes have reached the
    /// shell, but what they mean is not known yet.
    pub fn mid_sequence(&self) -> bool {
        !matches!(self.state, State::Ground | State::Paste { .. })
    }

    /// How many raw bytes of an X10 mouse report (`ESC [ M` and three bytes) are still to
    /// come: a target that reads such reports takes that many next bytes, controls included.
    pub fn mouse_bytes_owed(&self) -> u8 {
        match self.state {
            State::X10Mouse { left } => left,
            _ => 0,
        }
    }

    /// Feeds one byte, appending the events it completes (often none, at most a handful).
    pub fn push(&mut self, byte: u8, out: &mut Vec<KeyEvent>) {
        self.state = match self.state {
            State::Ground => self.ground(byte, out),
            State::Escape => self.escape(byte, out),
            State::Csi(seq) => self.csi(seq, byte, out),
            State::Ss3(seq) => self.ss3(seq, byte, out),
            State::String { kind, esc } => self.string(kind, esc, byte, out),
            State::X10Mouse { left } => self.x10_mouse(left, byte, out),
            State::Paste { matched } => self.paste(matched, byte, out),
        };
    }

    fn ground(&mut self, byte: u8, out: &mut Vec<KeyEvent>) -> State {
        if byte < 0x80 {
            self.utf8.flush(out);
        }
        match byte {
            ESC => return State::Escape,
            0x00..=0x1f | 0x7f => out.push(KeyEvent::Control(byte)),
            0x20..=0x7e => out.push(KeyEvent::Char(byte as char)),
            _ => {
                if let Some(c) = self.utf8.push(byte, out) {
                    out.push(KeyEvent::Char(c));
                }
            }
        }
        State::Ground
    }

    /// Ends the current sequence as garbage and processes `byte` as fresh input.
    fn abort(&mut self, byte: u8, out: &mut Vec<KeyEvent>) -> State {
        out.push(KeyEvent::NotKey(NotKey::Aborted));
        self.ground(byte, out)
    }

    fn escape(&mut self, byte: u8, out: &mut Vec<KeyEvent>) -> State {
        match byte {
            b'[' => State::Csi(SeqBuf::new()),
            b'O' => State::Ss3(SeqBuf::new()),
            b']' => State::String {
                kind: StringKind::Osc,
                esc: false,
            },
            b'P' | b'_' | b'^' | b'X' => State::String {
                kind: StringKind::Control,
                esc: false,
            },
            // Any other ASCII byte, controls included, is a Meta key: ESC CR is M-C-m.
            0x00..=0x7f => {
                out.push(KeyEvent::Meta(byte));
                State::Ground
            }
            _ => self.abort(byte, out),
        }
    }

    fn csi(&mut self, mut seq: SeqBuf, byte: u8, out: &mut Vec<KeyEvent>) -> State {
        match byte {
            0x30..=0x3f => seq.param(byte),
            0x20..=0x2f => seq.intermediate(),
            b'~' if seq.is_paste_start() => {
                out.push(KeyEvent::PasteStart);
                return State::Paste { matched: 0 };
            }
            b'M' if seq.is_empty() => return State::X10Mouse { left: 3 },
            0x40..=0x7e => {
                // A paste end with no paste open is not a key for anyone.
                let event = if byte == b'~' && seq.is_paste_end() {
                    KeyEvent::NotKey(NotKey::UnknownSequence)
                } else {
                    decode_csi(&seq, byte)
                };
                out.push(event);
                return State::Ground;
            }
            _ => return self.abort(byte, out),
        }
        State::Csi(seq)
    }

    fn ss3(&mut self, mut seq: SeqBuf, byte: u8, out: &mut Vec<KeyEvent>) -> State {
        match byte {
            0x30..=0x3f => {
                seq.param(byte);
                State::Ss3(seq)
            }
            0x40..=0x7e => {
                out.push(decode_ss3(&seq, byte));
                State::Ground
            }
            _ => self.abort(byte, out),
        }
    }

    fn string(&mut self, kind: StringKind, esc: bool, byte: u8, out: &mut Vec<KeyEvent>) -> State {
        let done = KeyEvent::NotKey(match kind {
            StringKind::Osc => NotKey::OscString,
            StringKind::Control => NotKey::ControlString,
        });
        if esc {
            if byte == b'\\' {
                out.push(done);
                return State::Ground;
            }
            // ESC not followed by `\` starts a new sequence and cuts this string short.
            out.push(KeyEvent::NotKey(NotKey::Aborted));
            return self.escape(byte, out);
        }
        match byte {
            BEL => {
                out.push(done);
                State::Ground
            }
            ESC => State::String { kind, esc: true },
            0x00..=0x1f => self.abort(byte, out),
            _ => State::String { kind, esc: false },
        }
    }

    fn x10_mouse(&mut self, left: u8, byte: u8, out: &mut Vec<KeyEvent>) -> State {
        // Real X10 reports encode 32 + value, so a control byte here was typed, not reported.
        if byte < 0x20 {
            return self.abort(byte, out);
        }
        if left > 1 {
            return State::X10Mouse { left: left - 1 };
        }
        out.push(KeyEvent::NotKey(NotKey::Mouse));
        State::Ground
    }

    fn paste(&mut self, matched: usize, byte: u8, out: &mut Vec<KeyEvent>) -> State {
        if PASTE_END.get(matched) == Some(&byte) {
            if matched == 0 {
                self.utf8.flush(out);
            }
            if matched + 1 == PASTE_END.len() {
                out.push(KeyEvent::PasteEnd);
                return State::Ground;
            }
            return State::Paste {
                matched: matched + 1,
            };
        }
        // A partial end marker turned out to be text: deliver it as such.
        out.extend(
            PASTE_END[..matched]
                .iter()
                .map(|&b| KeyEvent::Pasted(b as char)),
        );
        if byte == ESC {
            self.utf8.flush(out);
            return State::Paste { matched: 1 };
        }
        if byte < 0x80 {
            self.utf8.flush(out);
            out.push(KeyEvent::Pasted(byte as char));
        } else if let Some(c) = self.utf8.push(byte, out) {
            out.push(KeyEvent::Pasted(c));
        }
        State::Paste { matched: 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::{Modifiers as M, NamedKey as K};
    use rstest::rstest;

    fn tokenize(bytes: &[u8]) -> Vec<KeyEvent> {
        let mut t = Tokenizer::new();
        let mut out = Vec::new();
        for &b in bytes {
            t.push(b, &mut out);
        }
        out
    }

    fn key(k: K) -> KeyEvent {
        KeyEvent::Key(k, M::NONE)
    }

    const ABORTED: KeyEvent = KeyEvent::NotKey(NotKey::Aborted);

    #[rstest]
    #[case::printable(b"a~", vec![KeyEvent::Char('a'), KeyEvent::Char('~')])]
    #[case::controls(b"\x00\x01\x7f", vec![KeyEvent::Control(0), KeyEvent::Control(1), KeyEvent::Control(0x7f)])]
    #[case::utf8(b"\xc3\xa9", vec![KeyEvent::Char('é')])]
    #[case::meta(b"\x1bb\x1b\x7f\x1b\r", vec![KeyEvent::Meta(b'b'), KeyEvent::Meta(0x7f), KeyEvent::Meta(b'\r')])]
    #[case::meta_escape(b"\x1b\x1b", vec![KeyEvent::Meta(0x1b)])]
    #[case::lone_escape_waits(b"\x1b", vec![])]
    #[case::arrows(b"\x1b[A\x1b[B\x1b[C\x1b[D", vec![key(K::Up), key(K::Down), key(K::Right), key(K::Left)])]
    #[case::app_arrows(b"\x1bOA\x1bOD", vec![key(K::Up), key(K::Left)])]
    #[case::home_end(b"\x1b[H\x1b[F\x1bOH\x1bOF", vec![key(K::Home), key(K::End), key(K::Home), key(K::End)])]
    #[case::tilde_home_end(b"\x1b[1~\x1b[4~\x1b[7~\x1b[8~", vec![key(K::Home), key(K::End), key(K::Home), key(K::End)])]
    #[case::editing_block(b"\x1b[2~\x1b[3~\x1b[5~\x1b[6~", vec![key(K::Insert), key(K::Delete), key(K::PageUp), key(K::PageDown)])]
    #[case::function_keys(b"\x1bOP\x1b[15~\x1b[24~", vec![key(K::F(1)), key(K::F(5)), key(K::F(12))])]
    #[case::ctrl_left(b"\x1b[1;5D", vec![KeyEvent::Key(K::Left, M::CTRL)])]
    #[case::alt_right(b"\x1b[1;3C", vec![KeyEvent::Key(K::Right, M::ALT)])]
    #[case::ctrl_delete(b"\x1b[3;5~", vec![KeyEvent::Key(K::Delete, M::CTRL)])]
    #[case::back_tab(b"\x1b[Z", vec![key(K::BackTab)])]
    #[case::csi_u(b"\x1b[13;2u", vec![KeyEvent::Extended { code: 13, mods: M::SHIFT }])]
    #[case::csi_u_plain(b"\x1b[13u", vec![KeyEvent::Extended { code: 13, mods: M::NONE }])]
    #[case::tilde_27(b"\x1b[27;5;106~", vec![KeyEvent::Extended { code: 106, mods: M::CTRL }])]
    #[case::cursor_report(b"\x1b[24;80R", vec![KeyEvent::NotKey(NotKey::CursorReport)])]
    #[case::da1(b"\x1b[?64;1;2c", vec![KeyEvent::NotKey(NotKey::DeviceAttributes)])]
    #[case::da2(b"\x1b[>41;354;0c", vec![KeyEvent::NotKey(NotKey::DeviceAttributes)])]
    #[case::osc_bel(b"\x1b]10;rgb:ffff/ffff/ffff\x07", vec![KeyEvent::NotKey(NotKey::OscString)])]
    #[case::osc_st(b"\x1b]10;x\x1b\\", vec![KeyEvent::NotKey(NotKey::OscString)])]
    #[case::dcs(b"\x1bP1+r\x1b\\", vec![KeyEvent::NotKey(NotKey::ControlString)])]
    #[case::focus(b"\x1b[I\x1b[O", vec![KeyEvent::NotKey(NotKey::Focus); 2])]
    #[case::sgr_mouse(b"\x1b[<35;10;4M", vec![KeyEvent::NotKey(NotKey::Mouse)])]
    #[case::x10_mouse(b"\x1b[M\x20\x7f\xffa", vec![KeyEvent::NotKey(NotKey::Mouse), KeyEvent::Char('a')])]
    #[case::unknown(b"\x1b[5x", vec![KeyEvent::NotKey(NotKey::UnknownSequence)])]
    #[case::overlong_params(&[b"\x1b[".as_slice(), &[b'1'; 100], b"A"].concat(), vec![KeyEvent::NotKey(NotKey::UnknownSequence)])]
    #[case::cr_aborts_csi(b"\x1b[1;\r", vec![ABORTED, KeyEvent::Control(b'\r')])]
    #[case::lf_aborts_ss3(b"\x1bO\n", vec![ABORTED, KeyEvent::Control(b'\n')])]
    #[case::si_aborts_osc(b"\x1b]11;\x0f", vec![ABORTED, KeyEvent::Control(0x0f)])]
    #[case::cr_aborts_x10(b"\x1b[M \r", vec![ABORTED, KeyEvent::Control(b'\r')])]
    #[case::escape_restarts_string(b"\x1b]1\x1b[A", vec![ABORTED, key(K::Up)])]
    #[case::escape_restarts_csi(b"\x1b[1\x1b[A", vec![ABORTED, key(K::Up)])]
    #[case::high_byte_after_escape(b"\x1b\xc3\xa9", vec![ABORTED, KeyEvent::Char('é')])]
    #[case::paste(b"\x1b[200~a\r\x1b[201~", vec![KeyEvent::PasteStart, KeyEvent::Pasted('a'), KeyEvent::Pasted('\r'), KeyEvent::PasteEnd])]
    #[case::paste_partial_marker(b"\x1b[200~\x1b[20x\x1b[201~", vec![
        KeyEvent::PasteStart,
        KeyEvent::Pasted('\x1b'), KeyEvent::Pasted('['), KeyEvent::Pasted('2'), KeyEvent::Pasted('0'), KeyEvent::Pasted('x'),
        KeyEvent::PasteEnd,
    ])]
    #[case::paste_utf8(b"\x1b[200~\xe6\x97\xa5\xe6\x1b[201~", vec![KeyEvent::PasteStart, KeyEvent::Pasted('日'), KeyEvent::Invalid(0xe6), KeyEvent::PasteEnd])]
    #[case::stray_paste_end(b"\x1b[201~", vec![KeyEvent::NotKey(NotKey::UnknownSequence)])]
    #[case::invalid_utf8(b"\xc3a", vec![KeyEvent::Invalid(0xc3), KeyEvent::Char('a')])]
    fn tokenizes(#[case] input: &[u8], #[case] expected: Vec<KeyEvent>) {
        assert_eq!(tokenize(input), expected, "{input:x?}");
    }

    #[test]
    fn state_reports() {
        let mut t = Tokenizer::new();
        let mut out = Vec::new();
        t.push(0x1b, &mut out);
        assert!(t.mid_sequence() && !t.is_idle());
        for &b in b"[200~" {
            t.push(b, &mut out);
        }
        assert!(t.in_paste() && !t.mid_sequence());
    }
}
