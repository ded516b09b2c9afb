//! Text from outside in sshgate's log lines.
//!
//! Invariant: every value in a log line that an operator, a target or an approver chose (a
//! command, a user name, an environment variable's name, an approver's reason or frame, an
//! error that may quote any of them) goes through [`quoted`]. It is written between double
//! quotes with Rust's string escapes, so no input can end the log line, start a forged one, or
//! move the cursor of a person reading the log: newline, CR, ESC and every other C0 and C1
//! control, DEL, Unicode's line and paragraph separators, its format characters (the bidi
//! overrides and isolates, zero-width characters, the BOM), space characters other than the
//! plain space, and unassigned code points are all shown as escapes (`\n`, `\r`, `\u{1b}`,
//! `\u{202e}`, ...); a quote or backslash in the text is escaped too, so an escape in the log
//! never stands for itself.

use std::fmt;

/// `value`'s text, quoted and escaped for a log line: `quoted("a\nb")` shows as `"a\nb"`.
///
/// Use it with `%`: `tracing::info!(command = %quoted(&command), "...")`.
pub fn quoted<T: fmt::Display>(value: T) -> Quoted<T> {
    Quoted(value)
}

/// Whether [`quoted`] writes `c` as an escape because it could end a line, move the cursor or
/// hide text (the characters the module's invariant lists); a quote and a backslash, escaped
/// only so that an escape cannot be faked, are not among them. The audit log's JSON escapes the
/// same characters.
pub fn moves_or_hides(c: char) -> bool {
    !matches!(c, '"' | '\\' | '\'') && c.escape_debug().next() == Some('\\')
}

/// See [`quoted`].
pub struct Quoted<T>(T);

impl<T: fmt::Display> fmt::Display for Quoted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `str`'s Debug form escapes exactly what the invariant lists (checked by the tests).
        write!(f, "{:?}", self.0.to_string())
    }
}

impl<T: fmt::Display> fmt::Debug for Quoted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::quoted;

    #[test]
    fn plain_text_is_only_quoted() {
        assert_eq!(quoted("ls -la /tmp").to_string(), r#""ls -la /tmp""#);
        assert_eq!(quoted("héllo wörld ✓").to_string(), "\"héllo wörld ✓\"");
    }

    #[test]
    fn a_forged_line_stays_on_one_line() {
        let command = "true\n2030-01-01T00:00:00Z  INFO sshgate::approval: decision approve=true";
        let shown = quoted(command).to_string();
        assert!(!shown.contains('\n'), "{shown}");
        assert!(shown.contains(r"true\n2030"), "{shown}");
    }

    #[test]
    fn every_control_character_is_escaped() {
        // C0, DEL and C1 (NEL U+0085 and CSI U+009B among them).
        for c in (0u32..0x20).chain(0x7f..0xa0).filter_map(char::from_u32) {
            let shown = quoted(c).to_string();
            assert!(
                shown.chars().all(|s| !s.is_control()),
                "{:#x} reached the log raw: {shown:?}",
                c as u32
            );
        }
        assert_eq!(
            quoted("a\r\x1b[2Kb\x07").to_string(),
            r#""a\r\u{1b}[2Kb\u{7}""#
        );
    }

    #[test]
    fn unicode_that_moves_or_hides_text_is_escaped() {
        // Line and paragraph separators; bidi marks, embeddings, overrides and isolates;
        // zero-width characters and the BOM; a soft hyphen and spaces that look like others.
        let moving =
            "\u{2028}\u{2029}\u{061c}\u{200e}\u{200f}\u{202a}\u{202b}\u{202c}\u{202d}\u{202e}\
                      \u{2066}\u{2067}\u{2068}\u{2069}\u{200b}\u{200c}\u{200d}\u{2060}\u{feff}\
                      \u{00ad}\u{00a0}\u{3000}";
        for c in moving.chars() {
            let shown = quoted(c).to_string();
            assert_eq!(shown, format!("\"\\u{{{:x}}}\"", c as u32));
        }
    }

    #[test]
    fn moves_or_hides_names_what_quoted_escapes() {
        for c in (0..=0x10ffffu32).filter_map(char::from_u32) {
            if matches!(c, '"' | '\\') {
                continue;
            }
            let escaped = quoted(c).to_string() != format!("\"{c}\"");
            assert_eq!(super::moves_or_hides(c), escaped, "{:#x}", c as u32);
        }
    }

    #[test]
    fn quotes_and_backslashes_cannot_fake_an_escape_or_end_the_value() {
        assert_eq!(
            quoted(r#"echo "x" \u{1b}"#).to_string(),
            r#""echo \"x\" \\u{1b}""#
        );
    }
}
