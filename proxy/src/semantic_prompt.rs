//! Semantic prompt marks (OSC 133): where a shell says its prompt, its input and each command
//! begin.
//!
//! A shell configured for them (fish 4 does it by itself; bash and zsh with a few lines in
//! their prompts and hooks) writes `ESC ] 133 ; <letter> [; options] BEL` (or `ESC \` as the
//! terminator): `A` a prompt starts, `B` the prompt ends and the line editor reads, `C` a
//! command starts running, `D` it ended. A prompt mark with `k=s` or `k=c` is a continuation
//! prompt (`P` marks a prompt too). The screen ignores these sequences; [`MarkScanner`] finds
//! them in the target's output.
//!
//! Marks are trusted only where trusting them fails closed: they add doubts and alarms, never
//! certainty, since a command's output can print any of them.
//!
//! The operator's input must never carry one: a program that echoes its input raw would make
//! the target's output show marks the shell never wrote. [`OperatorMarkFilter`] removes them
//! from the keys before the gate sees them.

/// The longest mark read; a longer OSC is some other sequence.
const MARK_LIMIT: usize = 256;
/// An OSC 133 in the operator's input longer than this without its terminator is dropped all
/// the same, so that holding it back cannot hold the operator's keys for ever.
const OPERATOR_MARK_LIMIT: usize = 4096;
const ESC: u8 = 0x1b;
const BEL: u8 = 0x07;
const PREFIX: &[u8] = b"\x1b]133;";

/// Which prompt a prompt mark starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    /// The prompt for a new command.
    Primary,
    /// The prompt for another line of a command begun on earlier lines.
    Continuation,
}

/// What a mark says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// A prompt starts.
    Prompt(PromptKind),
    /// The prompt ends; the line editor reads from here.
    Input,
    /// The shell starts running a command.
    Command,
    /// A command ended.
    CommandEnd,
}

impl Mark {
    fn parse(body: &[u8]) -> Option<Mark> {
        let text = std::str::from_utf8(body.strip_prefix(b"133;")?).ok()?;
        let mut fields = text.split(';');
        let letter = fields.next()?;
        let kind = if fields.any(|option| option == "k=s" || option == "k=c") {
            PromptKind::Continuation
        } else {
            PromptKind::Primary
        };
        match letter {
            "A" | "P" | "N" => Some(Mark::Prompt(kind)),
            "B" => Some(Mark::Input),
            "C" => Some(Mark::Command),
            "D" => Some(Mark::CommandEnd),
            _ => None,
        }
    }
}

#[derive(Debug, Default)]
enum ScanState {
    #[default]
    Ground,
    Escape,
    /// Inside an OSC: its body so far (None once it is too long to be a mark).
    Osc(Option<Vec<u8>>),
    /// An ESC inside an OSC: `\` ends it.
    OscEscape(Option<Vec<u8>>),
}

/// Finds marks in the target's output, across writes.
#[derive(Debug, Default)]
pub struct MarkScanner {
    state: ScanState,
}

impl MarkScanner {
    /// The marks that end in `output`, each with the offset just past its terminator.
    pub fn scan(&mut self, output: &[u8]) -> Vec<(usize, Mark)> {
        let mut marks = Vec::new();
        for (index, &byte) in output.iter().enumerate() {
            let state = std::mem::take(&mut self.state);
            self.state = match (state, byte) {
                (ScanState::Ground, ESC) => ScanState::Escape,
                (ScanState::Ground, _) => ScanState::Ground,
                (ScanState::Escape, b']') => ScanState::Osc(Some(Vec::new())),
                (ScanState::Escape, ESC) => ScanState::Escape,
                (ScanState::Escape, _) => ScanState::Ground,
                (ScanState::Osc(body), BEL) | (ScanState::OscEscape(body), b'\\') => {
                    if let Some(mark) = body.as_deref().and_then(Mark::parse) {
                        marks.push((index + 1, mark));
                    }
                    ScanState::Ground
                }
                (ScanState::Osc(body), ESC) => ScanState::OscEscape(body),
                // Any other escape sequence ends the OSC unfinished.
                (ScanState::OscEscape(_), b']') => ScanState::Osc(Some(Vec::new())),
                (ScanState::OscEscape(_), ESC) => ScanState::Escape,
                (ScanState::OscEscape(_), _) => ScanState::Ground,
                (ScanState::Osc(body), _) => ScanState::Osc(body.and_then(|mut body| {
                    body.push(byte);
                    (body.len() <= MARK_LIMIT).then_some(body)
                })),
            };
        }
        marks
    }
}

/// Removes OSC 133 marks from the operator's input, across packets. Bytes that may begin one
/// are held back until the next byte shows whether they do, except a lone ESC at the end of a
/// packet (the Escape key must not wait for the next key): it goes on, and if a mark follows
/// after all, the rest of the mark is dropped, so the target never gets a whole one.
#[derive(Debug, Default)]
pub struct OperatorMarkFilter {
    /// The start of a possible mark (`ESC ]` and what follows), or a mark being dropped.
    held: Vec<u8>,
    /// How many bytes of `held` went on already (the lone ESC).
    sent: usize,
    /// Inside a mark: dropping until its terminator.
    in_mark: bool,
}

impl OperatorMarkFilter {
    /// `input` without marks.
    pub fn filter<'a>(&mut self, input: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        // Every keystroke passes here: without an ESC and nothing held, nothing to remove.
        if self.held.is_empty() && !input.contains(&ESC) {
            return std::borrow::Cow::Borrowed(input);
        }
        let mut out = Vec::with_capacity(input.len());
        for &byte in input {
            self.push(byte, &mut out);
        }
        if self.held == [ESC] && self.sent == 0 {
            out.push(ESC);
            self.sent = 1;
        }
        std::borrow::Cow::Owned(out)
    }

    fn push(&mut self, byte: u8, out: &mut Vec<u8>) {
        if self.in_mark {
            self.held.push(byte);
            let ended = byte == BEL || self.held.ends_with(b"\x1b\\");
            if ended || self.held.len() > OPERATOR_MARK_LIMIT {
                self.held.clear();
                self.in_mark = false;
            }
            return;
        }
        if self.held.is_empty() && byte != ESC {
            out.push(byte);
            return;
        }
        self.held.push(byte);
        if self.held == PREFIX {
            self.in_mark = true;
            self.sent = 0;
        } else if !PREFIX.starts_with(&self.held) {
            // Not a mark after all: pass it on, and look again from the last byte (an ESC
            // may begin one).
            let last = self.held.pop();
            out.extend_from_slice(&self.held[self.sent..]);
            self.held.clear();
            self.sent = 0;
            if let Some(last) = last {
                self.push(last, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marks_in(chunks: &[&[u8]]) -> Vec<Mark> {
        let mut scanner = MarkScanner::default();
        chunks
            .iter()
            .flat_map(|chunk| scanner.scan(chunk))
            .map(|(_, mark)| mark)
            .collect()
    }

    #[test]
    fn marks_are_found_with_either_terminator_and_across_writes() {
        let output: &[u8] =
            b"\x1b]133;D;0\x07\x1b]133;A\x07$ \x1b]133;B\x1b\\ls\r\n\x1b]133;C\x07a\r\n";
        let expected = vec![
            Mark::CommandEnd,
            Mark::Prompt(PromptKind::Primary),
            Mark::Input,
            Mark::Command,
        ];
        assert_eq!(marks_in(&[output]), expected);
        let bytes: Vec<&[u8]> = output.chunks(1).collect();
        assert_eq!(marks_in(&bytes), expected);
    }

    #[test]
    fn a_continuation_prompt_is_marked_with_its_kind() {
        assert_eq!(
            marks_in(&[b"\x1b]133;A;k=s\x07> ", b"\x1b]133;P;k=c\x07"]),
            vec![Mark::Prompt(PromptKind::Continuation); 2]
        );
    }

    #[test]
    fn the_offset_is_just_past_the_terminator() {
        let mut scanner = MarkScanner::default();
        assert_eq!(
            scanner.scan(b"ab\x1b]133;C\x07cd"),
            vec![(10, Mark::Command)]
        );
    }

    #[test]
    fn other_sequences_are_no_marks() {
        let output: &[u8] = b"\x1b]0;title 133;C\x07\x1b]1330;C\x07\x1b[133;C\x07\x1b]133;Z\x07";
        assert_eq!(marks_in(&[output]), vec![]);
        // An OSC cut short by another sequence, then a real mark.
        assert_eq!(
            marks_in(&[b"\x1b]133;\x1b[0m\x1b]133;B\x07"]),
            vec![Mark::Input]
        );
    }

    fn filtered(chunks: &[&[u8]]) -> Vec<u8> {
        let mut filter = OperatorMarkFilter::default();
        chunks
            .iter()
            .flat_map(|chunk| filter.filter(chunk).into_owned())
            .collect()
    }

    #[test]
    fn operator_marks_are_removed_in_any_packets() {
        let input: &[u8] = b"ls\x1b]133;C\x07 -l\x1b]133;A;k=s\x1b\\\r";
        assert_eq!(filtered(&[input]), b"ls -l\r");
        // Byte by byte, each ESC goes on alone (it may be the Escape key), the rest is dropped.
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(filtered(&bytes), b"ls\x1b -l\x1b\r");
    }

    #[test]
    fn keys_that_only_look_like_a_mark_pass_unchanged() {
        let keys: &[u8] = b"\x1b]13x\x1b\x1b[A\x1b]0;t\x07\x1b";
        assert_eq!(filtered(&[keys]), keys);
        let bytes: Vec<&[u8]> = keys.chunks(1).collect();
        assert_eq!(filtered(&bytes), keys);
    }

    #[test]
    fn a_lone_escape_at_the_end_of_a_packet_is_not_held() {
        let mut filter = OperatorMarkFilter::default();
        assert_eq!(&*filter.filter(b"ab\x1b"), b"ab\x1b");
        assert_eq!(&*filter.filter(b"[A"), b"[A");
        // When a mark follows after all, the rest of it never reaches the target.
        assert_eq!(&*filter.filter(b"\x1b"), b"\x1b");
        assert_eq!(&*filter.filter(b"]133;C\x07x"), b"x");
    }

    #[test]
    fn an_unterminated_mark_is_dropped_once_too_long() {
        let mut filter = OperatorMarkFilter::default();
        assert_eq!(&*filter.filter(b"\x1b]133;"), b"");
        let body = vec![b'x'; OPERATOR_MARK_LIMIT - PREFIX.len()];
        assert_eq!(&*filter.filter(&body), b"");
        // One more byte is too many: what comes after it passes again.
        assert_eq!(&*filter.filter(b"xok"), b"ok");
    }
}
