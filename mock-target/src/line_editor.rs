//! The mock shell's own line buffer: a tiny subset of emacs-style editing on a line of chars.
//!
//! It knows nothing about bytes, terminals or SSH; [`crate::shell`] maps keys onto these
//! operations. Invariant: `cursor <= line.len()` after every operation, and no operation panics
//! whatever the state. It deliberately shares no code with the proxy's keystroke model, so the
//! two can be checked against each other.

/// An editable line with a cursor (an index between chars).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineEditor {
    line: Vec<char>,
    cursor: usize,
}

impl LineEditor {
    pub fn new() -> Self {
        Self::default()
    }

    /// The current text.
    pub fn text(&self) -> String {
        self.line.iter().collect()
    }

    pub fn chars(&self) -> &[char] {
        &self.line
    }

    /// Cursor position, in chars from the start of the line.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    pub fn is_empty(&self) -> bool {
        self.line.is_empty()
    }

    /// Insert `c` at the cursor and move past it.
    pub fn insert(&mut self, c: char) {
        self.line.insert(self.cursor, c);
        self.cursor += 1;
    }

    /// Delete the char before the cursor (DEL, C-h).
    pub fn backspace(&mut self) {
        if self.cursor > 0 {
            self.cursor -= 1;
            self.line.remove(self.cursor);
        }
    }

    /// Delete the char under the cursor (Delete key, C-d on a non-empty line).
    pub fn delete(&mut self) {
        if self.cursor < self.line.len() {
            self.line.remove(self.cursor);
        }
    }

    pub fn left(&mut self) {
        self.cursor = self.cursor.saturating_sub(1);
    }

    pub fn right(&mut self) {
        self.cursor = (self.cursor + 1).min(self.line.len());
    }

    pub fn home(&mut self) {
        self.cursor = 0;
    }

    pub fn end(&mut self) {
        self.cursor = self.line.len();
    }

    /// C-u: remove everything before the cursor.
    pub fn kill_to_start(&mut self) {
        self.line.drain(..self.cursor);
        self.cursor = 0;
    }

    /// C-k: remove everything from the cursor on.
    pub fn kill_to_end(&mut self) {
        self.line.truncate(self.cursor);
    }

    /// C-w: remove the whitespace-delimited word before the cursor, with the whitespace that
    /// follows it (readline's `unix-word-rubout`).
    pub fn kill_word_back(&mut self) {
        let mut start = self.cursor;
        while start > 0 && self.line[start - 1].is_whitespace() {
            start -= 1;
        }
        while start > 0 && !self.line[start - 1].is_whitespace() {
            start -= 1;
        }
        self.line.drain(start..self.cursor);
        self.cursor = start;
    }

    /// Empty the line and return what it held.
    pub fn take(&mut self) -> String {
        let text = self.text();
        self.line.clear();
        self.cursor = 0;
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(text: &str, cursor: usize) -> LineEditor {
        let mut e = LineEditor::new();
        text.chars().for_each(|c| e.insert(c));
        for _ in cursor..text.chars().count() {
            e.left();
        }
        assert_eq!(e.cursor(), cursor);
        e
    }

    #[test]
    fn insert_in_the_middle() {
        let mut e = with("ecoh", 2);
        e.insert('h');
        assert_eq!((e.text().as_str(), e.cursor()), ("echoh", 3));
    }

    #[test]
    fn backspace_and_delete_at_edges_are_no_ops() {
        let mut e = with("ab", 0);
        e.backspace();
        assert_eq!(e.text(), "ab");
        e.end();
        e.delete();
        assert_eq!(e.text(), "ab");
        e.backspace();
        assert_eq!((e.text().as_str(), e.cursor()), ("a", 1));
    }

    #[test]
    fn delete_under_cursor() {
        let mut e = with("abc", 1);
        e.delete();
        assert_eq!((e.text().as_str(), e.cursor()), ("ac", 1));
    }

    #[test]
    fn kills() {
        let mut e = with("echo hello", 5);
        e.kill_to_start();
        assert_eq!((e.text().as_str(), e.cursor()), ("hello", 0));
        let mut e = with("echo hello", 4);
        e.kill_to_end();
        assert_eq!((e.text().as_str(), e.cursor()), ("echo", 4));
    }

    #[test]
    fn kill_word_back_takes_trailing_spaces_and_stops_at_whitespace() {
        let mut e = with("ls -l  /tmp/x  ", 15);
        e.kill_word_back();
        assert_eq!(e.text(), "ls -l  ");
        e.kill_word_back();
        assert_eq!(e.text(), "ls ");
        let mut e = with("echo abc", 7);
        e.kill_word_back();
        assert_eq!((e.text().as_str(), e.cursor()), ("echo c", 5));
        let mut e = with("", 0);
        e.kill_word_back();
        assert!(e.is_empty());
    }

    #[test]
    fn moves_are_clamped() {
        let mut e = with("ab", 2);
        e.right();
        assert_eq!(e.cursor(), 2);
        e.home();
        e.left();
        assert_eq!(e.cursor(), 0);
        e.end();
        assert_eq!(e.cursor(), 2);
    }

    #[test]
    fn take_empties() {
        let mut e = with("x y", 1);
        assert_eq!(e.take(), "x y");
        assert_eq!((e.text().as_str(), e.cursor()), ("", 0));
    }
}
