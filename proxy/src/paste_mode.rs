//! The target's bracketed paste switch (`ESC [ ? 2004 h` / `l`): line editors (readline, zle,
//! fish) switch it on as they start reading a line and off as they hand it over to run, so it
//! tells the gate how a newline in a paste is read, the screen whether the shell or a program
//! reads, and the execution monitor when the editor hands a line over.

/// Follows the target's `ESC [ ? 2004 h` / `ESC [ ? 2004 l` across chunk boundaries.
#[derive(Default)]
pub struct PasteModeWatch {
    matched: usize,
}

impl PasteModeWatch {
    const PREFIX: &'static [u8] = b"\x1b[?2004";

    /// The last switch seen in `data`, if any.
    pub fn feed(&mut self, data: &[u8]) -> Option<bool> {
        let mut last = None;
        for &byte in data {
            if self.matched == Self::PREFIX.len() {
                self.matched = 0;
                match byte {
                    b'h' => last = Some(true),
                    b'l' => last = Some(false),
                    _ => {}
                }
            }
            if byte == Self::PREFIX[self.matched] {
                self.matched += 1;
            } else {
                self.matched = usize::from(byte == 0x1b);
            }
        }
        last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paste_mode_switch_is_found_across_chunks() {
        let mut watch = PasteModeWatch::default();
        assert_eq!(watch.feed(b"$ \x1b[?20"), None);
        assert_eq!(watch.feed(b"04h"), Some(true));
        assert_eq!(watch.feed(b"\x1b\x1b[?2004l"), Some(false));
        assert_eq!(watch.feed(b"\x1b[?2005h"), None);
    }
}
