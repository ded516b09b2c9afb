//! The mock shell's own line buffer: the subset of GNU readline's emacs-mode editing that the
//! mock shell binds, written from readline's documented behaviour (bash 5.2, readline 8.2).
//!
//! It knows nothing about bytes, terminals or SSH; [`crate::shell`] maps keys onto these
//! operations. Invariant: `cursor <= line.len()` after every operation, and no operation panics
//! whatever the state. It deliberately shares no code with the proxy's keystroke model, so the
//! two can be checked against each other.
//!
//! Like readline in a UTF-8 locale, the cursor moves and deletes by display character: a
//! character the terminal shows with zero width (a combining mark, a zero-width joiner) goes
//! with the character before it. Words, for the word commands (`M-f`, `M-b`, `M-d`, `M-DEL`),
//! are runs of letters and digits; `C-w` alone splits at spaces and tabs. Text removed by a kill
//! command goes to the kill ring, and kills in a row build one entry (appended for forward
//! kills, prepended for backward ones), which `C-y` yanks and `M-y` rotates.

use unicode_width::UnicodeWidthChar;

/// How many kills the ring remembers (readline's default `kill-ring` size).
const KILL_RING_MAX: usize = 10;

/// What the previous command was, for the commands whose effect depends on it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Last {
    #[default]
    Other,
    /// A command that killed text: the next kill joins its kill-ring entry.
    Kill,
    /// `C-y` or `M-y`: the next `M-y` may replace the yanked text.
    Yank,
}

/// An editable line with a cursor (an index between chars) and a kill ring.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineEditor {
    line: Vec<char>,
    cursor: usize,
    /// Oldest kill first; at most [`KILL_RING_MAX`] entries. Kept across lines, like readline's.
    kill_ring: Vec<Vec<char>>,
    /// The entry `C-y` yanks (the last kill, or where `M-y` rotated to).
    kill_index: usize,
    last: Last,
}

/// Whether the terminal shows `c` with no width of its own (it joins the character before).
/// Control characters are shown in caret notation, so they have a width.
fn zero_width(c: char) -> bool {
    c.width() == Some(0)
}

/// A word character for the word commands: readline's `iswalnum`.
fn word_char(c: char) -> bool {
    c.is_alphanumeric()
}

/// A word separator for `C-w` (`unix-word-rubout`): readline's `whitespace`, space and tab only.
fn blank(c: char) -> bool {
    c == ' ' || c == '\t'
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

    /// The start of the display character before `point`: the last char before it that has a
    /// width, or 0 (readline's `MB_PREVCHAR` with `MB_FIND_NONZERO`).
    fn prev_char(&self, point: usize) -> usize {
        (0..point.min(self.line.len()))
            .rev()
            .find(|&i| !zero_width(self.line[i]))
            .unwrap_or(0)
    }

    /// The end of the display character at `point`: past one char with a width and the
    /// zero-width chars after it (readline's `MB_NEXTCHAR` with `MB_FIND_NONZERO`).
    fn next_char(&self, point: usize) -> usize {
        let len = self.line.len();
        let mut p = point;
        while p < len {
            p += 1;
            if !zero_width(self.line[p - 1]) {
                break;
            }
        }
        while p < len && zero_width(self.line[p]) {
            p += 1;
        }
        p
    }

    /// Mark the end of a command that neither killed nor yanked: the next kill starts a new
    /// kill-ring entry, and `M-y` does nothing. Every key the shell does not otherwise act on
    /// (readline rings the bell or runs a command the mock does not have) ends this way.
    pub fn other(&mut self) {
        self.last = Last::Other;
    }

    /// Insert `c` at the cursor and move past it.
    pub fn insert(&mut self, c: char) {
        self.insert_str(&[c]);
    }

    /// Insert a typed character (`self-insert`). readline inserts a run of typed characters
    /// as one command, reading ahead while input is waiting; when the run ends at a key that is
    /// already waiting (`key_waiting`: it came in the same chunk), that key is pushed back as
    /// pending input, and then readline does not end a run of kills. So in one chunk,
    /// `C-w x M-DEL` joins both kills in one entry; with `M-DEL` arriving later, they are two.
    pub fn type_char(&mut self, c: char, key_waiting: bool) {
        let last = self.last;
        self.insert(c);
        if key_waiting && last == Last::Kill {
            self.last = Last::Kill;
        }
    }

    /// Insert `text` at the cursor and move past it.
    pub fn insert_str(&mut self, text: &[char]) {
        self.line
            .splice(self.cursor..self.cursor, text.iter().copied());
        self.cursor += text.len();
        self.last = Last::Other;
    }

    /// Delete the display character before the cursor (DEL, C-h: `backward-delete-char`).
    pub fn backspace(&mut self) {
        if self.cursor > 0 {
            let start = self.prev_char(self.cursor);
            self.line.drain(start..self.cursor);
            self.cursor = start;
        }
        self.last = Last::Other;
    }

    /// Delete the display character under the cursor (Delete key, C-d on a non-empty line).
    pub fn delete(&mut self) {
        let end = self.next_char(self.cursor);
        self.line.drain(self.cursor..end);
        self.last = Last::Other;
    }

    pub fn left(&mut self) {
        self.cursor = self.prev_char(self.cursor);
        self.last = Last::Other;
    }

    pub fn right(&mut self) {
        self.cursor = self.next_char(self.cursor);
        self.last = Last::Other;
    }

    pub fn home(&mut self) {
        self.cursor = 0;
        self.last = Last::Other;
    }

    pub fn end(&mut self) {
        self.cursor = self.line.len();
        self.last = Last::Other;
    }

    /// The cursor after `forward-word`: past any non-word characters, then past the word.
    fn word_end(&self) -> usize {
        let len = self.line.len();
        let mut p = self.cursor;
        while p < len && !word_char(self.line[p]) {
            p = self.next_char(p);
        }
        while p < len && word_char(self.line[p]) {
            p = self.next_char(p);
        }
        p
    }

    /// The cursor after `backward-word`: back over any non-word characters, then to the start
    /// of the word.
    fn word_start(&self) -> usize {
        let mut p = self.cursor;
        while p > 0 && !word_char(self.line[self.prev_char(p)]) {
            p = self.prev_char(p);
        }
        while p > 0 && word_char(self.line[self.prev_char(p)]) {
            p = self.prev_char(p);
        }
        p
    }

    /// M-f, C-Right, M-Right: `forward-word`.
    pub fn forward_word(&mut self) {
        self.cursor = self.word_end();
        self.last = Last::Other;
    }

    /// M-b, C-Left, M-Left: `backward-word`.
    pub fn backward_word(&mut self) {
        self.cursor = self.word_start();
        self.last = Last::Other;
    }

    /// Remove `from..to` into the kill ring (`forward`: the text was after the cursor, so a
    /// kill in a row appends it; else it prepends it) and leave the cursor at `from`.
    fn kill(&mut self, from: usize, to: usize, forward: bool) {
        let text: Vec<char> = self.line.drain(from..to).collect();
        self.cursor = from;
        if self.last == Last::Kill && !self.kill_ring.is_empty() {
            let entry = self.kill_ring.last_mut().expect("not empty");
            if forward {
                entry.extend(text);
            } else {
                entry.splice(0..0, text);
            }
        } else {
            if self.kill_ring.len() == KILL_RING_MAX {
                self.kill_ring.remove(0);
            }
            self.kill_ring.push(text);
        }
        self.kill_index = self.kill_ring.len() - 1;
        self.last = Last::Kill;
    }

    /// C-u: `unix-line-discard`, everything before the cursor.
    pub fn kill_to_start(&mut self) {
        if self.cursor == 0 {
            self.last = Last::Other;
        } else {
            self.kill(0, self.cursor, false);
        }
    }

    /// C-k: `kill-line`, everything from the cursor on.
    pub fn kill_to_end(&mut self) {
        if self.cursor == self.line.len() {
            self.last = Last::Other;
        } else {
            let cursor = self.cursor;
            self.kill(cursor, self.line.len(), true);
        }
    }

    /// C-w: `unix-word-rubout`, the blank-delimited word before the cursor with the blanks
    /// that follow it. Only space and tab are blanks here, not other Unicode white space.
    pub fn kill_word_back(&mut self) {
        let mut start = self.cursor;
        while start > 0 && blank(self.line[start - 1]) {
            start -= 1;
        }
        while start > 0 && !blank(self.line[start - 1]) {
            start -= 1;
        }
        if start == self.cursor {
            self.last = Last::Other;
        } else {
            self.kill(start, self.cursor, false);
        }
    }

    /// M-d, C-Delete: `kill-word`, to the end of the next word.
    pub fn kill_word(&mut self) {
        let end = self.word_end();
        if end == self.cursor {
            self.last = Last::Other;
        } else {
            self.kill(self.cursor, end, true);
        }
    }

    /// M-DEL, M-C-h: `backward-kill-word`, back to the start of the word before the cursor.
    pub fn backward_kill_word(&mut self) {
        let start = self.word_start();
        if start == self.cursor {
            self.last = Last::Other;
        } else {
            self.kill(start, self.cursor, false);
        }
    }

    /// C-y: `yank`, insert the current kill-ring entry (nothing when the ring is empty).
    pub fn yank(&mut self) {
        match self.kill_ring.get(self.kill_index).cloned() {
            Some(text) => {
                self.insert_str(&text);
                self.last = Last::Yank;
            }
            None => self.last = Last::Other,
        }
    }

    /// M-y: `yank-pop`. Right after a yank, replace the yanked text with the previous
    /// kill-ring entry (cycling round); otherwise nothing.
    pub fn yank_pop(&mut self) {
        if self.last != Last::Yank {
            self.last = Last::Other;
            return;
        }
        let yanked = &self.kill_ring[self.kill_index];
        let start = self.cursor.wrapping_sub(yanked.len());
        if self.cursor < yanked.len() || self.line[start..self.cursor] != yanked[..] {
            self.last = Last::Other;
            return;
        }
        self.line.drain(start..self.cursor);
        self.cursor = start;
        self.kill_index = match self.kill_index {
            0 => self.kill_ring.len() - 1,
            i => i - 1,
        };
        self.yank();
    }

    /// C-t: `transpose-chars`. Swap the display characters before and at the cursor and move
    /// past both; at the end of the line, swap the last two. Nothing at the start of the line.
    pub fn transpose_chars(&mut self) {
        self.last = Last::Other;
        if self.line.is_empty() || self.cursor == 0 {
            return;
        }
        if self.cursor == self.line.len() {
            self.cursor = self.prev_char(self.cursor);
        }
        let start = self.prev_char(self.cursor);
        let moved: Vec<char> = self.line.drain(start..self.cursor).collect();
        self.cursor = self.next_char(start);
        self.line
            .splice(self.cursor..self.cursor, moved.iter().copied());
        self.cursor += moved.len();
    }

    /// Empty the line and return what it held. The kill ring stays.
    pub fn take(&mut self) -> String {
        let text = self.text();
        self.line.clear();
        self.cursor = 0;
        self.last = Last::Other;
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(text: &str, cursor: usize) -> LineEditor {
        let mut e = LineEditor::new();
        text.chars().for_each(|c| e.insert(c));
        e.cursor = cursor;
        e
    }

    fn state(e: &LineEditor) -> (String, usize) {
        (e.text(), e.cursor())
    }

    fn is(text: &str, cursor: usize) -> (String, usize) {
        (text.to_string(), cursor)
    }

    #[test]
    fn insert_in_the_middle() {
        let mut e = with("ecoh", 2);
        e.insert('h');
        assert_eq!(state(&e), is("echoh", 3));
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
        assert_eq!(state(&e), is("a", 1));
    }

    #[test]
    fn delete_under_cursor() {
        let mut e = with("abc", 1);
        e.delete();
        assert_eq!(state(&e), is("ac", 1));
    }

    #[test]
    fn combining_marks_go_with_the_character_before() {
        // "cafe" + U+0301: one DEL removes the e and its accent.
        let mut e = with("echo cafe\u{301}", 10);
        e.backspace();
        assert_eq!(state(&e), is("echo caf", 8));
        // Left skips the pair, Delete removes it, Right steps over it.
        let mut e = with("e\u{301}x", 3);
        e.left();
        assert_eq!(e.cursor(), 2);
        e.left();
        assert_eq!(e.cursor(), 0);
        e.right();
        assert_eq!(e.cursor(), 2);
        e.home();
        e.delete();
        assert_eq!(state(&e), is("x", 0));
        // A ZWJ emoji sequence: each visible emoji is one step, the joiners go with the one
        // before them.
        let mut e = with("\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}", 5);
        e.backspace();
        assert_eq!(state(&e), is("\u{1F468}\u{200D}\u{1F469}\u{200D}", 4));
        e.left();
        assert_eq!(e.cursor(), 2);
    }

    #[test]
    fn kills() {
        let mut e = with("echo hello", 5);
        e.kill_to_start();
        assert_eq!(state(&e), is("hello", 0));
        let mut e = with("echo hello", 4);
        e.kill_to_end();
        assert_eq!(state(&e), is("echo", 4));
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
        assert_eq!(state(&e), is("echo c", 5));
        let mut e = with("", 0);
        e.kill_word_back();
        assert!(e.is_empty());
    }

    #[test]
    fn kill_word_back_splits_only_at_space_and_tab() {
        // U+3000 (ideographic space) is white space to Unicode but not to `unix-word-rubout`.
        let mut e = with("echo 你好\u{3000}世界", 10);
        e.kill_word_back();
        assert_eq!(state(&e), is("echo ", 5));
        let mut e = with("a\tb", 3);
        e.kill_word_back();
        assert_eq!(state(&e), is("a\t", 2));
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
    fn forward_word_ends_after_alphanumeric_runs() {
        let mut e = with("echo one-two", 0);
        e.forward_word();
        assert_eq!(e.cursor(), 4);
        e.forward_word();
        assert_eq!(e.cursor(), 8);
        e.forward_word();
        assert_eq!(e.cursor(), 12);
        e.forward_word();
        assert_eq!(e.cursor(), 12);
        // Underscore and dot are not word characters; letters of any script are.
        let mut e = with("a_b.你好 x", 0);
        e.forward_word();
        assert_eq!(e.cursor(), 1);
        e.forward_word();
        assert_eq!(e.cursor(), 3);
        e.forward_word();
        assert_eq!(e.cursor(), 6);
        // Trailing non-word characters: to the end.
        let mut e = with("a ..", 1);
        e.forward_word();
        assert_eq!(e.cursor(), 4);
    }

    #[test]
    fn backward_word_stops_at_alphanumeric_word_starts() {
        let mut e = with("echo a/b.c", 10);
        e.backward_word();
        assert_eq!(e.cursor(), 9);
        e.backward_word();
        assert_eq!(e.cursor(), 7);
        e.backward_word();
        assert_eq!(e.cursor(), 5);
        e.backward_word();
        assert_eq!(e.cursor(), 0);
        e.backward_word();
        assert_eq!(e.cursor(), 0);
        let mut e = with("echo foo_bar", 12);
        e.backward_word();
        assert_eq!(e.cursor(), 9);
        // A combining mark belongs to its word.
        let mut e = with("x cafe\u{301}", 7);
        e.backward_word();
        assert_eq!(e.cursor(), 2);
        e.forward_word();
        assert_eq!(e.cursor(), 7);
    }

    #[test]
    fn kill_word_and_backward_kill_word() {
        let mut e = with("echo foo.bar baz", 4);
        e.kill_word();
        assert_eq!(state(&e), is("echo.bar baz", 4));
        let mut e = with("echo a/b.c", 10);
        e.backward_kill_word();
        assert_eq!(state(&e), is("echo a/b.", 9));
        let mut e = with("echo x-y", 8);
        e.backward_kill_word();
        e.backward_kill_word();
        assert_eq!(state(&e), is("echo ", 5));
        // Nothing to kill: no-ops.
        let mut e = with("ab", 2);
        e.kill_word();
        assert_eq!(state(&e), is("ab", 2));
        e.home();
        e.backward_kill_word();
        assert_eq!(state(&e), is("ab", 0));
    }

    #[test]
    fn yank_inserts_the_last_kill_and_nothing_when_the_ring_is_empty() {
        let mut e = with("echo DE", 7);
        e.yank();
        assert_eq!(state(&e), is("echo DE", 7));
        let mut e = with("NY", 2);
        e.home();
        e.kill_to_end();
        "echo DE".chars().for_each(|c| e.insert(c));
        e.yank();
        assert_eq!(state(&e), is("echo DENY", 9));
        // The ring outlives the line.
        e.take();
        e.yank();
        assert_eq!(state(&e), is("NY", 2));
    }

    #[test]
    fn consecutive_kills_build_one_entry() {
        // Backward kills prepend.
        let mut e = with("rm x", 4);
        e.kill_word_back();
        e.kill_word_back();
        assert!(e.is_empty());
        "echo ".chars().for_each(|c| e.insert(c));
        e.yank();
        assert_eq!(e.text(), "echo rm x");
        // Forward kills append; a backward kill then prepends to the same entry.
        let mut e = with("a b c", 2);
        e.kill_word();
        e.kill_word();
        e.kill_to_start();
        assert!(e.is_empty());
        e.yank();
        assert_eq!(e.text(), "a b c");
        // C-w, C-u in a row: one entry.
        let mut e = with("echo one", 8);
        e.kill_word_back();
        e.kill_to_start();
        e.yank();
        assert_eq!(e.text(), "echo one");
    }

    #[test]
    fn any_other_command_or_a_kill_of_nothing_starts_a_new_entry() {
        let mut e = with("a b", 3);
        e.kill_word_back();
        e.kill_to_end(); // at the end: kills nothing, ends the run
        e.kill_word_back();
        e.yank();
        assert_eq!(e.text(), "a ");
        let mut e = with("a b", 3);
        e.kill_word_back();
        e.other();
        e.kill_word_back();
        e.yank();
        assert_eq!(e.text(), "a ");
        let mut e = with("ab", 1);
        e.kill_to_end();
        e.left();
        e.kill_to_end();
        e.yank();
        assert_eq!(e.text(), "a");
    }

    #[test]
    fn typing_with_a_key_waiting_does_not_end_a_run_of_kills() {
        let mut e = with("echo zz", 7);
        e.kill_word_back();
        e.type_char('x', true);
        e.backward_kill_word();
        e.yank();
        assert_eq!(e.text(), "echo xzz");
        let mut e = with("echo zz", 7);
        e.kill_word_back();
        e.type_char('x', false);
        e.backward_kill_word();
        e.yank();
        assert_eq!(e.text(), "echo x");
        // It does not make a yank last: M-y after typing does nothing.
        let mut e = with("a", 1);
        e.kill_to_start();
        e.yank();
        e.type_char('b', true);
        e.yank_pop();
        assert_eq!(e.text(), "ab");
    }

    #[test]
    fn yank_pop_cycles_through_the_ring() {
        let mut e = with("one two three", 13);
        e.kill_word_back();
        e.other();
        e.kill_word_back();
        e.other();
        e.kill_word_back();
        assert!(e.is_empty());
        e.yank();
        assert_eq!(e.text(), "one ");
        e.yank_pop();
        assert_eq!(state(&e), is("two ", 4));
        e.yank_pop();
        assert_eq!(e.text(), "three");
        e.yank_pop();
        assert_eq!(e.text(), "one ");
        // Not right after a yank: nothing.
        e.left();
        e.yank_pop();
        assert_eq!(state(&e), is("one ", 3));
        // C-y now yanks where M-y left the ring.
        e.end();
        e.yank();
        assert_eq!(e.text(), "one one ");
    }

    #[test]
    fn the_ring_keeps_the_last_ten_kills() {
        let mut e = LineEditor::new();
        for i in 0..12 {
            e.insert(char::from(b'a' + i));
            e.kill_to_start();
            e.other();
        }
        assert_eq!(e.kill_ring.len(), KILL_RING_MAX);
        e.yank();
        assert_eq!(e.text(), "l");
        for _ in 0..KILL_RING_MAX - 1 {
            e.yank_pop();
        }
        assert_eq!(e.text(), "c");
    }

    #[test]
    fn transpose_chars() {
        // At the end: the last two.
        let mut e = with("echo DEYN", 9);
        e.transpose_chars();
        assert_eq!(state(&e), is("echo DENY", 9));
        // In the middle: before and at the cursor, then past both.
        let mut e = with("echo DNEY", 7);
        e.transpose_chars();
        assert_eq!(state(&e), is("echo DENY", 8));
        // At the start, on an empty line, on a one-character line: nothing changes.
        let mut e = with("ab", 0);
        e.transpose_chars();
        assert_eq!(state(&e), is("ab", 0));
        let mut e = with("", 0);
        e.transpose_chars();
        assert_eq!(state(&e), is("", 0));
        let mut e = with("x", 1);
        e.transpose_chars();
        assert_eq!(state(&e), is("x", 1));
        // Display characters move whole.
        let mut e = with("echo e\u{301}t", 5);
        e.transpose_chars();
        assert_eq!(state(&e), is("echoe\u{301} t", 7));
        let mut e = with("a你", 2);
        e.transpose_chars();
        assert_eq!(state(&e), is("你a", 2));
    }

    #[test]
    fn take_empties() {
        let mut e = with("x y", 1);
        assert_eq!(e.take(), "x y");
        assert_eq!(state(&e), is("", 0));
    }
}
