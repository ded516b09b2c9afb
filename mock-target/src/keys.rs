//! Input decoder for the mock shell: turns the bytes the shell reads into [`Key`]s.
//!
//! Bytes arrive in arbitrary chunks, so the decoder is a state machine: a partial escape
//! sequence or a partial UTF-8 character at the end of a chunk is kept and completed by the next
//! chunk ("need more bytes" is a state, not an error). Invariant: every byte fed in is either part
//! of exactly one emitted key or consumed as noise; nothing is ever replayed twice. This decoder
//! is written independently of the proxy's tokenizer on purpose: the mock target is the referee.
//!
//! It sees only what reaches readline: the tty's own characters (the interrupt, flow control,
//! suspend and quit) are taken out before, by the shell's terminal ([`crate::shell`]). Inside a
//! bracketed paste readline reads raw text up to `ESC [ 201 ~`, so there every byte is text:
//! control bytes (ESC included) come out as [`Key::Control`], never as keys.

/// One decoded keystroke (or a marker) as the mock shell understands it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A printable character (any non-control Unicode scalar).
    Char(char),
    /// A C0 control byte (0x00..=0x1f) or DEL (0x7f), as received.
    Control(u8),
    Home,
    End,
    Left,
    Right,
    Delete,
    /// `ESC [ 1 ; 5 D`
    CtrlLeft,
    /// `ESC [ 1 ; 5 C`
    CtrlRight,
    /// `ESC [ 1 ; 3 D`
    AltLeft,
    /// `ESC [ 1 ; 3 C`
    AltRight,
    /// `ESC [ 3 ; 5 ~`
    CtrlDelete,
    /// ESC followed by this byte (a Meta key: `M-b` is `Meta(b'b')`, `M-DEL` is
    /// `Meta(0x7f)`), unless the byte starts a sequence (`[`, `O`, a string introducer).
    Meta(u8),
    /// `ESC [ 200 ~`: after it, bytes are pasted text until [`Key::PasteEnd`].
    PasteStart,
    /// `ESC [ 201 ~`
    PasteEnd,
}

/// The end of a bracketed paste.
const PASTE_END: &[u8] = b"\x1b[201~";

/// Upper bound on the parameter bytes kept for one CSI sequence; longer ones are still consumed
/// to their final byte but cannot match any key we know.
const MAX_CSI_PARAMS: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Ground,
    /// Inside a UTF-8 sequence: bytes gathered so far and the total length expected.
    Utf8 {
        buf: [u8; 4],
        len: usize,
        need: usize,
    },
    /// After a lone ESC.
    Escape,
    /// After `ESC [`: parameter and intermediate bytes so far.
    Csi(Vec<u8>),
    /// After `ESC O`.
    Ss3,
    /// Inside an OSC/DCS/SOS/PM/APC string, waiting for BEL or `ESC \`.
    String,
    /// Inside a string, just after an ESC (possible start of ST).
    StringEscape,
    /// X10 mouse report: `ESC [ M` followed by this many raw bytes still to swallow.
    Mouse(u8),
}

/// Streaming byte-to-key decoder. See the module documentation.
#[derive(Debug, Clone)]
pub struct KeyDecoder {
    state: State,
    /// Inside a bracketed paste: how many bytes of [`PASTE_END`] have matched so far.
    paste: Option<usize>,
}

impl Default for KeyDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyDecoder {
    pub fn new() -> Self {
        KeyDecoder {
            state: State::Ground,
            paste: None,
        }
    }

    /// Whether the bytes fed so far end inside an escape sequence (outside a paste): a key
    /// has begun to arrive.
    pub fn in_escape(&self) -> bool {
        self.paste.is_none() && !matches!(self.state, State::Ground | State::Utf8 { .. })
    }

    /// Decode one chunk, appending the keys it completes to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Key>) {
        for &b in bytes {
            self.byte(b, out);
        }
    }

    fn byte(&mut self, b: u8, out: &mut Vec<Key>) {
        if let Some(matched) = self.paste {
            return self.paste_byte(matched, b, out);
        }
        match std::mem::replace(&mut self.state, State::Ground) {
            State::Ground => self.ground(b, out),
            State::Utf8 { buf, len, need } => {
                if !self.utf8(buf, len, need, b, out) {
                    // Truncated sequence: drop it and read this byte afresh.
                    self.ground(b, out);
                }
            }
            State::Escape => match b {
                b'[' => self.state = State::Csi(Vec::new()),
                b'O' => self.state = State::Ss3,
                b']' | b'P' | b'X' | b'^' | b'_' => self.state = State::String,
                0x1b => self.state = State::Escape,
                0x00..=0x7f => out.push(Key::Meta(b)),
                // ESC before a non-ASCII byte: dropped with it.
                _ => {}
            },
            State::Csi(mut params) => match b {
                0x20..=0x3f => {
                    if params.len() < MAX_CSI_PARAMS {
                        params.push(b);
                    } else {
                        params.push(0); // poison: matches no known key
                        params.truncate(MAX_CSI_PARAMS);
                    }
                    self.state = State::Csi(params);
                }
                0x40..=0x7e => {
                    if b == b'M' && params.is_empty() {
                        self.state = State::Mouse(3);
                    } else if let Some(key) = csi_key(&params, b) {
                        out.push(key);
                        if key == Key::PasteStart {
                            self.paste = Some(0);
                        }
                    }
                }
                // A control byte aborts the sequence and is read on its own.
                _ => self.ground(b, out),
            },
            State::Ss3 => match b {
                b'H' => out.push(Key::Home),
                b'F' => out.push(Key::End),
                b'C' => out.push(Key::Right),
                b'D' => out.push(Key::Left),
                0x20..=0x7e => {}
                _ => self.ground(b, out),
            },
            State::String => match b {
                0x07 => {}
                0x1b => self.state = State::StringEscape,
                _ => self.state = State::String,
            },
            State::StringEscape => {
                if b != b'\\' {
                    // ESC not followed by '\': the string ended; this ESC starts something new.
                    self.state = State::Escape;
                    self.byte(b, out);
                }
            }
            State::Mouse(left) => {
                if left > 1 {
                    self.state = State::Mouse(left - 1);
                }
            }
        }
    }

    /// Continue a UTF-8 sequence with `b`; false (and nothing done) if `b` cannot continue it.
    fn utf8(
        &mut self,
        mut buf: [u8; 4],
        len: usize,
        need: usize,
        b: u8,
        out: &mut Vec<Key>,
    ) -> bool {
        if !(0x80..0xc0).contains(&b) {
            return false;
        }
        buf[len] = b;
        if len + 1 == need {
            // from_utf8 rejects overlong forms and surrogates; those are dropped.
            if let Ok(s) = std::str::from_utf8(&buf[..need]) {
                out.extend(s.chars().map(Key::Char));
            }
        } else {
            self.state = State::Utf8 {
                buf,
                len: len + 1,
                need,
            };
        }
        true
    }

    /// One byte of a bracketed paste, `matched` bytes of [`PASTE_END`] already seen.
    fn paste_byte(&mut self, matched: usize, b: u8, out: &mut Vec<Key>) {
        if matched > 0 || b == PASTE_END[0] {
            self.state = State::Ground;
            if b == PASTE_END[matched] {
                if matched + 1 == PASTE_END.len() {
                    self.paste = None;
                    out.push(Key::PasteEnd);
                } else {
                    self.paste = Some(matched + 1);
                }
                return;
            }
            // Not the end after all: what matched was text (ESC a control byte in it).
            self.paste = Some(0);
            out.push(Key::Control(PASTE_END[0]));
            out.extend(
                PASTE_END[1..matched]
                    .iter()
                    .map(|&c| Key::Char(char::from(c))),
            );
            return self.paste_byte(0, b, out);
        }
        if let State::Utf8 { buf, len, need } = std::mem::replace(&mut self.state, State::Ground) {
            if self.utf8(buf, len, need, b, out) {
                return;
            }
        }
        match b {
            0x00..=0x1f | 0x7f => out.push(Key::Control(b)),
            _ => self.ground(b, out),
        }
    }

    fn ground(&mut self, b: u8, out: &mut Vec<Key>) {
        match b {
            0x1b => self.state = State::Escape,
            0x00..=0x1f | 0x7f => out.push(Key::Control(b)),
            0x20..=0x7e => out.push(Key::Char(b as char)),
            0xc2..=0xdf => self.start_utf8(b, 2),
            0xe0..=0xef => self.start_utf8(b, 3),
            0xf0..=0xf4 => self.start_utf8(b, 4),
            // Stray continuation bytes and impossible lead bytes are noise.
            _ => {}
        }
    }

    fn start_utf8(&mut self, b: u8, need: usize) {
        let mut buf = [0u8; 4];
        buf[0] = b;
        self.state = State::Utf8 { buf, len: 1, need };
    }
}

/// The key named by a complete CSI sequence, if it is one the mock shell acts on.
fn csi_key(params: &[u8], fin: u8) -> Option<Key> {
    match (params, fin) {
        (b"" | b"1", b'H') => Some(Key::Home),
        (b"" | b"1", b'F') => Some(Key::End),
        (b"" | b"1", b'C') => Some(Key::Right),
        (b"" | b"1", b'D') => Some(Key::Left),
        (b"1" | b"7", b'~') => Some(Key::Home),
        (b"4" | b"8", b'~') => Some(Key::End),
        (b"3", b'~') => Some(Key::Delete),
        (b"1;5", b'D') => Some(Key::CtrlLeft),
        (b"1;5", b'C') => Some(Key::CtrlRight),
        (b"1;3", b'D') => Some(Key::AltLeft),
        (b"1;3", b'C') => Some(Key::AltRight),
        (b"3;5", b'~') => Some(Key::CtrlDelete),
        (b"200", b'~') => Some(Key::PasteStart),
        (b"201", b'~') => Some(Key::PasteEnd),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> Vec<Key> {
        let mut d = KeyDecoder::new();
        let mut out = Vec::new();
        d.feed(bytes, &mut out);
        out
    }

    /// The same keys whatever the chunking: feed one byte at a time.
    fn decode_bytewise(bytes: &[u8]) -> Vec<Key> {
        let mut d = KeyDecoder::new();
        let mut out = Vec::new();
        for b in bytes {
            d.feed(std::slice::from_ref(b), &mut out);
        }
        out
    }

    fn both(bytes: &[u8]) -> Vec<Key> {
        let a = decode(bytes);
        assert_eq!(a, decode_bytewise(bytes), "chunking changed the keys");
        a
    }

    #[test]
    fn printable_and_controls() {
        assert_eq!(
            both(b"a\x7f\r"),
            vec![Key::Char('a'), Key::Control(0x7f), Key::Control(b'\r')]
        );
    }

    #[test]
    fn utf8_split_and_invalid() {
        assert_eq!(
            both("é€😀".as_bytes()),
            vec![Key::Char('é'), Key::Char('€'), Key::Char('😀')]
        );
        // overlong '/' (C0 AF), a stray continuation byte, a truncated sequence before 'x'
        assert_eq!(both(b"\xc0\xaf\x80\xe2\x82x"), vec![Key::Char('x')]);
    }

    #[test]
    fn cursor_keys_all_encodings() {
        for (seq, key) in [
            (&b"\x1b[H"[..], Key::Home),
            (b"\x1bOH", Key::Home),
            (b"\x1b[1~", Key::Home),
            (b"\x1b[7~", Key::Home),
            (b"\x1b[F", Key::End),
            (b"\x1bOF", Key::End),
            (b"\x1b[4~", Key::End),
            (b"\x1b[8~", Key::End),
            (b"\x1b[D", Key::Left),
            (b"\x1bOD", Key::Left),
            (b"\x1b[C", Key::Right),
            (b"\x1bOC", Key::Right),
            (b"\x1b[3~", Key::Delete),
            (b"\x1b[200~", Key::PasteStart),
            (b"\x1b[201~", Key::PasteEnd),
        ] {
            assert_eq!(both(seq), vec![key], "{seq:?}");
        }
    }

    #[test]
    fn noise_is_swallowed() {
        // OSC with BEL, OSC with ST, SGR mouse, X10 mouse (raw bytes include 'x' and ESC-free junk),
        // cursor position report, focus event, Shift-Left, DCS.
        let input = b"\x1b]11;rgb:0/0/0\x07\x1b]0;t\x1b\\\x1b[<0;3;4M\x1b[M xy\x1b[12;40R\x1b[I\x1b[1;2D\x1bPq\x1b\\k";
        assert_eq!(both(input), vec![Key::Char('k')]);
    }

    #[test]
    fn word_keys_in_xterm_modifier_form() {
        for (seq, key) in [
            (&b"\x1b[1;5D"[..], Key::CtrlLeft),
            (b"\x1b[1;5C", Key::CtrlRight),
            (b"\x1b[1;3D", Key::AltLeft),
            (b"\x1b[1;3C", Key::AltRight),
            (b"\x1b[3;5~", Key::CtrlDelete),
        ] {
            assert_eq!(both(seq), vec![key], "{seq:?}");
        }
    }

    #[test]
    fn meta_keys_are_esc_and_a_byte() {
        assert_eq!(
            both(b"\x1bb\x1bF\x1b\x7f\x1b\x08\x1b\x1bd\x1b\r"),
            vec![
                Key::Meta(b'b'),
                Key::Meta(b'F'),
                Key::Meta(0x7f),
                Key::Meta(0x08),
                Key::Meta(b'd'),
                Key::Meta(b'\r'),
            ]
        );
        // ESC before a non-ASCII character drops the character's first byte; the rest is noise.
        assert_eq!(both("\x1bé!".as_bytes()), vec![Key::Char('!')]);
    }

    #[test]
    fn a_paste_is_raw_text_up_to_its_end_marker() {
        assert_eq!(
            both("\x1b[200~a\r\x7f\x1b[D\x1b[20x\x1b\x1b[201~é\x1b[201~b".as_bytes()),
            vec![
                Key::PasteStart,
                Key::Char('a'),
                Key::Control(b'\r'),
                Key::Control(0x7f),
                Key::Control(0x1b),
                Key::Char('['),
                Key::Char('D'),
                Key::Control(0x1b),
                Key::Char('['),
                Key::Char('2'),
                Key::Char('0'),
                Key::Char('x'),
                Key::Control(0x1b),
                Key::PasteEnd,
                Key::Char('é'),
                Key::PasteEnd,
                Key::Char('b'),
            ]
        );
        // A UTF-8 character inside a paste, and one cut short by the end marker.
        assert_eq!(
            both(b"\x1b[200~\xc3\xa9\xc3\x1b[201~"),
            vec![Key::PasteStart, Key::Char('\u{e9}'), Key::PasteEnd]
        );
    }

    #[test]
    fn in_escape_while_a_sequence_is_incomplete() {
        let mut d = KeyDecoder::new();
        let mut out = Vec::new();
        for (bytes, inside) in [
            (&b"a"[..], false),
            (b"\x1b", true),
            (b"[1;", true),
            (b"5D", false),
            (b"\xe4", false),
            (b"\xbd\xa0\x1b]0;t", true),
            (b"\x07\x1b[200~\x1b[20", false),
        ] {
            d.feed(bytes, &mut out);
            assert_eq!(d.in_escape(), inside, "after {bytes:?}");
        }
    }

    #[test]
    fn control_byte_aborts_a_sequence() {
        assert_eq!(both(b"\x1b[1\r"), vec![Key::Control(b'\r')]);
    }
}
