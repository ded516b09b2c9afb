//! The text of one command line and its cursor, with readline's cursor and word arithmetic.
//!
//! Invariant: `cursor <= text.len()` after every operation, whatever the input; operations that
//! readline refuses (moving past an end, transposing at the start) leave the buffer unchanged,
//! as readline does after ringing the bell.

/// Characters readline's emacs word commands (M-b, M-f, M-d, M-DEL) treat as word characters:
/// alphanumerics only, so `-`, `_`, `/` and `.` end a word.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
}

/// Characters shown with no width (combining marks, joiners, variation selectors): readline's
/// character motions and deletions skip them together with the character they attach to.
fn is_zero_width(c: char) -> bool {
    unicode_width::UnicodeWidthChar::width(c) == Some(0)
}

/// Whitespace as readline's `unix-word-rubout` (C-w) sees it.
fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LineBuffer {
    text: Vec<char>,
    cursor: usize,
}

impl LineBuffer {
    pub(crate) fn text(&self) -> String {
        self.text.iter().collect()
    }

    pub(crate) fn cursor(&self) -> usize {
        self.cursor
    }

    pub(crate) fn len(&self) -> usize {
        self.text.len()
    }

    pub(crate) fn clear(&mut self) {
        self.text.clear();
        self.cursor = 0;
    }

    pub(crate) fn insert(&mut self, chars: &[char]) {
        match chars {
            // Typing and pasting append at the end almost always: no splice to build and drop.
            _ if self.cursor == self.text.len() => self.text.extend_from_slice(chars),
            [c] => self.text.insert(self.cursor, *c),
            _ => {
                self.text
                    .splice(self.cursor..self.cursor, chars.iter().copied());
            }
        }
        self.cursor += chars.len();
    }

    /// Inserts pasted ASCII text at the cursor, CR read as LF (readline's bracketed paste).
    pub(crate) fn insert_ascii(&mut self, text: &[u8]) {
        let chars = text
            .iter()
            .map(|&b| if b == b'\r' { '\n' } else { char::from(b) });
        if self.cursor == self.text.len() {
            self.text.extend(chars);
        } else {
            self.text.splice(self.cursor..self.cursor, chars);
        }
        self.cursor += text.len();
    }

    pub(crate) fn move_to(&mut self, pos: usize) {
        self.cursor = pos.min(self.text.len());
    }

    pub(crate) fn left(&mut self) {
        self.cursor = self.char_start_before();
    }

    pub(crate) fn right(&mut self) {
        self.cursor = self.char_end_after();
    }

    /// Where the character before the cursor starts: back to the nearest character with a
    /// width, so a base letter and its combining marks go together (readline's
    /// `MB_FIND_NONZERO`).
    pub(crate) fn char_start_before(&self) -> usize {
        let mut pos = self.cursor;
        while pos > 0 {
            pos -= 1;
            if !is_zero_width(self.text[pos]) {
                break;
            }
        }
        pos
    }

    /// Where the character at the cursor ends, with the zero-width characters that follow it.
    pub(crate) fn char_end_after(&self) -> usize {
        let mut pos = (self.cursor + 1).min(self.text.len());
        while pos < self.text.len() && is_zero_width(self.text[pos]) {
            pos += 1;
        }
        pos
    }

    /// Whether the line holds a zero-width character, whose pairing with its neighbours the
    /// model only approximates for some commands.
    pub(crate) fn has_zero_width(&self) -> bool {
        self.text.iter().copied().any(is_zero_width)
    }

    /// Removes `from..to` (in either order), leaving the cursor at the start of the gap.
    pub(crate) fn remove(&mut self, from: usize, to: usize) -> Vec<char> {
        let (start, end) = (from.min(to), from.max(to).min(self.text.len()));
        let start = start.min(end);
        self.cursor = start;
        self.text.drain(start..end).collect()
    }

    /// Where `forward-word` (M-f) lands: past any non-word characters, then past a word.
    pub(crate) fn word_end(&self) -> usize {
        let mut pos = self.cursor;
        while pos < self.text.len() && !is_word_char(self.text[pos]) {
            pos += 1;
        }
        while pos < self.text.len() && is_word_char(self.text[pos]) {
            pos += 1;
        }
        pos
    }

    /// Where `backward-word` (M-b) lands: back over non-word characters, then over a word.
    pub(crate) fn word_start(&self) -> usize {
        let mut pos = self.cursor;
        while pos > 0 && !is_word_char(self.text[pos - 1]) {
            pos -= 1;
        }
        while pos > 0 && is_word_char(self.text[pos - 1]) {
            pos -= 1;
        }
        pos
    }

    /// Where `unix-word-rubout` (C-w) stops: back over blanks, then over non-blanks.
    pub(crate) fn blank_word_start(&self) -> usize {
        let mut pos = self.cursor;
        while pos > 0 && is_blank(self.text[pos - 1]) {
            pos -= 1;
        }
        while pos > 0 && !is_blank(self.text[pos - 1]) {
            pos -= 1;
        }
        pos
    }

    /// readline's `transpose-chars` (C-t): swaps the characters before and at the cursor and
    /// moves right; at the end of the line it swaps the last two and stays at the end.
    pub(crate) fn transpose(&mut self) {
        if self.cursor == 0 || self.text.len() < 2 {
            return;
        }
        if self.cursor == self.text.len() {
            self.cursor -= 1;
        }
        self.text.swap(self.cursor - 1, self.cursor);
        self.cursor += 1;
    }
}
