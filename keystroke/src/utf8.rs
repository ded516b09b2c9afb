//! Incremental UTF-8 decoding, one byte at a time.
//!
//! Invariant: a byte is either held as part of a sequence that can still become a valid
//! character, or reported as invalid; overlong forms, surrogates and code points above
//! U+10FFFF are rejected at the first byte that proves them wrong, so a bad sequence never
//! swallows the valid byte that follows it.

use crate::key::KeyEvent;

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Utf8Decoder {
    buf: [u8; 4],
    len: usize,
    need: usize,
}

impl Utf8Decoder {
    pub(crate) fn is_pending(&self) -> bool {
        self.len > 0
    }

    /// Reports the bytes of an unfinished sequence as invalid and forgets them.
    pub(crate) fn flush(&mut self, out: &mut Vec<KeyEvent>) {
        // Called before every ASCII byte: nothing pending is by far the common case.
        if self.len == 0 {
            return;
        }
        out.extend(self.buf[..self.len].iter().map(|&b| KeyEvent::Invalid(b)));
        self.len = 0;
    }

    /// Feeds a non-ASCII byte; returns the character it completes, if any.
    pub(crate) fn push(&mut self, byte: u8, out: &mut Vec<KeyEvent>) -> Option<char> {
        if self.len > 0 {
            if self.continues(byte) {
                self.buf[self.len] = byte;
                self.len += 1;
                if self.len < self.need {
                    return None;
                }
                let decoded = std::str::from_utf8(&self.buf[..self.len])
                    .ok()
                    .and_then(|s| s.chars().next());
                self.len = 0;
                // The range checks in `continues` make decoding infallible; stay total anyway.
                return decoded.or_else(|| {
                    out.push(KeyEvent::Invalid(byte));
                    None
                });
            }
            // The sequence is broken: its bytes are invalid, and this byte starts afresh.
            self.flush(out);
        }
        self.need = match byte {
            0xc2..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf4 => 4,
            _ => {
                out.push(KeyEvent::Invalid(byte));
                return None;
            }
        };
        self.buf[0] = byte;
        self.len = 1;
        None
    }

    /// Whether `byte` is an acceptable next byte, including the second-byte limits that rule
    /// out overlong encodings, UTF-16 surrogates and values past U+10FFFF.
    fn continues(&self, byte: u8) -> bool {
        let range = match (self.len, self.buf[0]) {
            (1, 0xe0) => 0xa0..=0xbf,
            (1, 0xed) => 0x80..=0x9f,
            (1, 0xf0) => 0x90..=0xbf,
            (1, 0xf4) => 0x80..=0x8f,
            _ => 0x80..=0xbf,
        };
        range.contains(&byte)
    }
}
