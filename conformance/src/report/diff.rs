//! Expected against actual, word by word, for the human and HTML reports: each side as
//! pieces marked as shared with the other side or its own.
//!
//! Invariant: the pieces of a side, joined, are that side's text exactly.

use similar::{ChangeTag, TextDiff};

/// A piece of one side of the diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece<'a> {
    pub text: &'a str,
    /// Only on this side (removed from expected, or added in actual).
    pub changed: bool,
}

/// Expected and actual, each cut into pieces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SideBySide<'a> {
    pub expected: Vec<Piece<'a>>,
    pub actual: Vec<Piece<'a>>,
}

pub fn side_by_side<'a>(expected: &'a str, actual: &'a str) -> SideBySide<'a> {
    let diff = TextDiff::from_words(expected, actual);
    let mut sides = SideBySide {
        expected: Vec::new(),
        actual: Vec::new(),
    };
    for change in diff.iter_all_changes() {
        let text = change.value();
        match change.tag() {
            ChangeTag::Equal => {
                sides.expected.push(Piece {
                    text,
                    changed: false,
                });
                sides.actual.push(Piece {
                    text,
                    changed: false,
                });
            }
            ChangeTag::Delete => sides.expected.push(Piece {
                text,
                changed: true,
            }),
            ChangeTag::Insert => sides.actual.push(Piece {
                text,
                changed: true,
            }),
        }
    }
    sides
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(pieces: &[Piece]) -> String {
        pieces.iter().map(|piece| piece.text).collect()
    }

    fn changed<'a>(pieces: &[Piece<'a>]) -> Vec<&'a str> {
        pieces
            .iter()
            .filter(|piece| piece.changed && !piece.text.trim().is_empty())
            .map(|piece| piece.text)
            .collect()
    }

    #[test]
    fn each_side_keeps_its_text_and_marks_only_what_differs() {
        let expected = "the target runs \"echo hi\"";
        let actual = "the target runs \"echo DENY\" twice";
        let sides = side_by_side(expected, actual);
        assert_eq!(joined(&sides.expected), expected);
        assert_eq!(joined(&sides.actual), actual);
        assert_eq!(changed(&sides.expected), ["hi\""]);
        assert_eq!(changed(&sides.actual), ["DENY\"", "twice"]);
    }
}
