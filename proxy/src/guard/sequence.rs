//! Guard sequences on the wire (docs/guard.md, "The protocol, byte by byte"): found and
//! stripped in the target's output at any packet split ([`OutputScanner`]), and stripped from
//! the operator's input ([`InputFilter`]), so that neither a nonce reaches the operator nor a
//! typed or pasted answer reaches the shell.

use std::borrow::Cow;

use base64::Engine;

use super::PROTOCOL;

/// Every guard sequence starts with these bytes: `ESC ] 7428 ;`.
const PREFIX: &[u8] = b"\x1b]7428;";
const ESC: u8 = 0x1b;
const BEL: u8 = 0x07;
/// A sequence longer than this is not a guard's (a command line of a few hundred KiB, in
/// base64, fits): it is dropped unread, and a guard that wrote it waits unanswered.
pub const LONGEST: usize = 4 << 20;

/// Where a command the guard asks about comes from (the ask's `at`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The command line read at the prompt, or anything it runs.
    Line,
    /// A prompt hook (`PROMPT_COMMAND`, precmd).
    Prompt,
    /// A key binding (`bind -x`, a zle widget).
    Bind,
    /// A completion function.
    Complete,
    /// An `at` this proxy does not know.
    Other,
}

impl Origin {
    fn parse(text: &str) -> Origin {
        match text {
            "line" => Origin::Line,
            "prompt" => Origin::Prompt,
            "bind" => Origin::Bind,
            "complete" => Origin::Complete,
            _ => Origin::Other,
        }
    }

    /// For the approver: where the shell runs this command from.
    pub fn describe(self) -> &'static str {
        match self {
            Origin::Line => "from the command line",
            Origin::Prompt => "from a prompt hook (PROMPT_COMMAND or precmd), which no key started",
            Origin::Bind => "from a key binding (bind -x or a zle widget)",
            Origin::Complete => "from a completion function",
            Origin::Other => "from a place this sshgate does not know",
        }
    }
}

/// A question from the guard: run this command?
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    /// The question's nonce, which the answer must carry.
    pub nonce: String,
    /// `bash` or `zsh`, as the guard said.
    pub shell: String,
    pub origin: Origin,
    /// The shell functions it runs inside, innermost first (empty at top level).
    pub functions: String,
    /// The subshell depth (0: the shell itself).
    pub subshell: u32,
    /// The command as the shell reported it; bytes that are not UTF-8 as U+FFFD.
    pub command: String,
}

/// What the guard wrote into the target's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Ask(Ask),
    /// A heartbeat: a guarded shell is drawing its prompt.
    Beat,
    /// A guard sequence this proxy cannot answer (another protocol version, a field missing
    /// or malformed): the guard waits, and the operator is told.
    Unreadable(String),
}

/// Finds guard sequences in the target's output, hands them out as [`Event`]s and passes on
/// everything else. A sequence split across packets is held until it ends; so is a packet's
/// tail that could begin one.
#[derive(Debug, Default)]
pub struct OutputScanner {
    /// Bytes held: a prefix of [`PREFIX`], or a whole sequence's start once it matched.
    held: Vec<u8>,
    /// The held sequence is over [`LONGEST`]: the rest of it is dropped.
    dropping: bool,
}

impl OutputScanner {
    /// Feed the target's next bytes: returns what passes to the operator, and the sequences
    /// that ended in them.
    pub fn feed<'a>(&mut self, data: &'a [u8]) -> (Cow<'a, [u8]>, Vec<Event>) {
        // Most output holds no ESC and starts no sequence: it passes as it is, uncopied.
        if self.held.is_empty() && !self.dropping && !data.contains(&ESC) {
            return (Cow::Borrowed(data), Vec::new());
        }
        let mut out = Vec::with_capacity(data.len());
        let mut events = Vec::new();
        for &byte in data {
            self.byte(byte, &mut out, &mut events);
        }
        (Cow::Owned(out), events)
    }

    fn byte(&mut self, byte: u8, out: &mut Vec<u8>, events: &mut Vec<Event>) {
        if self.held.len() >= PREFIX.len() || self.dropping {
            // Inside a sequence: BEL ends it; ESC ends it too (as ST's first byte, or as the
            // start of another sequence, which is how terminals abandon an OSC).
            match byte {
                BEL => {
                    if !self.dropping {
                        events.push(parse(&self.held[PREFIX.len()..]));
                    }
                    self.held.clear();
                    self.dropping = false;
                }
                ESC => {
                    self.held.clear();
                    self.dropping = false;
                    self.held.push(ESC);
                }
                _ if self.dropping => {}
                _ if self.held.len() >= LONGEST => {
                    self.held = Vec::new();
                    self.dropping = true;
                    events.push(Event::Unreadable(format!(
                        "a guard sequence longer than {} MiB",
                        LONGEST >> 20
                    )));
                }
                _ => self.held.push(byte),
            }
            return;
        }
        if byte == PREFIX[self.held.len()] {
            self.held.push(byte);
            return;
        }
        // Not a guard sequence after all: what was held passes, and this byte starts afresh.
        // `\\` after a held ESC is a terminator left from an OSC ended by ESC: it passes too.
        out.append(&mut self.held);
        if byte == ESC {
            self.held.push(ESC);
        } else {
            out.push(byte);
        }
    }
}

/// One sequence's text after `ESC ] 7428 ;`, up to its BEL.
fn parse(body: &[u8]) -> Event {
    let Ok(text) = std::str::from_utf8(body) else {
        return Event::Unreadable("a guard sequence that is not text".into());
    };
    let mut parts = text.split(';');
    let version = parts.next().unwrap_or_default();
    if version != PROTOCOL.to_string() {
        return Event::Unreadable(format!(
            "a guard speaking protocol {version:?}, where this sshgate speaks {PROTOCOL}"
        ));
    }
    let kind = parts.next().unwrap_or_default();
    let fields: Vec<(&str, &str)> = parts.filter_map(|field| field.split_once('=')).collect();
    let field = |key: &str| {
        fields
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(_, value)| *value)
    };
    match kind {
        "beat" => Event::Beat,
        "ask" => read_ask(&field).unwrap_or_else(Event::Unreadable),
        other => Event::Unreadable(format!("a guard sequence of unknown kind {other:?}")),
    }
}

fn read_ask<'a>(field: &dyn Fn(&str) -> Option<&'a str>) -> Result<Event, String> {
    let nonce = field("n").unwrap_or_default();
    if nonce.len() != 32 || !nonce.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err(format!("a guard question with a malformed nonce {nonce:?}"));
    }
    let decode = |key: &str| -> Result<String, String> {
        let text = field(key).unwrap_or_default();
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .map_err(|_| format!("a guard question whose {key} is not base64"))
    };
    let command = decode("cmd")?;
    let functions = decode("fn")?;
    let subshell = field("sub")
        .unwrap_or("0")
        .parse()
        .map_err(|_| "a guard question whose subshell depth is not a number".to_string())?;
    Ok(Event::Ask(Ask {
        nonce: nonce.to_ascii_lowercase(),
        shell: field("sh").unwrap_or_default().to_string(),
        origin: Origin::parse(field("at").unwrap_or_default()),
        functions,
        subshell,
        command,
    }))
}

/// The answer to the question with `nonce`, as the guard reads it from the terminal.
pub fn answer(nonce: &str, approve: bool) -> Vec<u8> {
    let verdict = if approve { "approve" } else { "deny" };
    format!("\x1b]7428;{PROTOCOL};{verdict};n={nonce}\x07").into_bytes()
}

/// The bytes a guard sequence's fields are made of (docs/guard.md): what an answer's tail can
/// hold.
fn in_sequence(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b";=+/._-".contains(&byte)
}

/// Strips guard sequences from the operator's input, so that no typed or pasted answer reaches
/// the shell. Input is never held back across packets (a lone ESC is a key of its own): a
/// sequence's start that came in an earlier packet has passed already, and the rest of it is
/// dropped, which leaves the guard nothing an answer could end with.
#[derive(Debug, Default)]
pub struct InputFilter {
    /// How much of [`PREFIX`] the bytes passed last matched.
    matched: usize,
    /// Inside a sequence: its bytes are dropped up to its end.
    dropping: bool,
}

/// A byte of the operator's as the terminal's line discipline on the target may hand it to a
/// reader, such as the guard's `read` (non-canonical, echo off): `None` for a byte it may
/// swallow, the low seven bits for the others. With IXON (on by default) Ctrl+Q and Ctrl+S
/// never reach a reader, with ISIG neither do the signal keys, with IGNCR a CR does not, and
/// `stty` can make any C0 control one of these; with ISTRIP (`stty istrip`) 0x9b reaches it as
/// ESC. A filter that matched raw bytes let `ESC ] 7 4 Ctrl+Q 2 8 ;` through, which the
/// reader gets as the guard's prefix. (`stty start X` makes a printable X such a byte too: the
/// nonce, never the filter, is what a forged answer cannot get past.)
fn as_read(byte: u8) -> Option<u8> {
    let low = byte & 0x7f;
    let swallowed = (low < 0x20 && low != ESC && low != BEL) || low == 0x7f;
    (!swallowed).then_some(low)
}

impl InputFilter {
    /// The operator's bytes without any guard sequence.
    pub fn filter<'a>(&mut self, data: &'a [u8]) -> Cow<'a, [u8]> {
        // Keys with no byte a reader could take for ESC, and no sequence under way, pass as
        // they are, uncopied.
        if self.matched == 0 && !self.dropping && !data.iter().any(|&byte| byte & 0x7f == ESC) {
            return Cow::Borrowed(data);
        }
        let mut out = Vec::with_capacity(data.len());
        // Where the sequence being matched began in `out` (0: in an earlier packet).
        let mut start = (self.matched > 0).then_some(0);
        for &byte in data {
            // As a reader on the target may get it: see [`as_read`].
            let Some(seen) = as_read(byte) else {
                // Passes, and leaves the match where it was.
                if !self.dropping {
                    out.push(byte);
                }
                continue;
            };
            if self.dropping {
                if seen == BEL {
                    self.dropping = false;
                    continue;
                }
                if in_sequence(seen) {
                    continue;
                }
                self.dropping = false;
            }
            if seen == PREFIX[self.matched] {
                if self.matched == 0 {
                    start = Some(out.len());
                }
                self.matched += 1;
            } else if seen == ESC {
                start = Some(out.len());
                self.matched = 1;
            } else {
                self.matched = 0;
                start = None;
            }
            out.push(byte);
            if self.matched == PREFIX.len() {
                out.truncate(start.unwrap_or(0));
                self.matched = 0;
                self.dropping = true;
            }
        }
        Cow::Owned(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ask_bytes(nonce: &str, command: &str) -> Vec<u8> {
        let cmd = base64::engine::general_purpose::STANDARD.encode(command);
        let fun = base64::engine::general_purpose::STANDARD.encode("f g");
        format!("\x1b]7428;1;ask;n={nonce};sh=bash;at=bind;fn={fun};sub=2;cmd={cmd}\x07")
            .into_bytes()
    }

    const NONCE: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn an_ask_is_read_and_stripped() {
        let mut stream = b"before".to_vec();
        stream.extend(ask_bytes(NONCE, "touch x"));
        stream.extend(b"after\x1b]7428;1;beat;n=00;sh=bash;pid=7\x07$ ");
        let (out, events) = OutputScanner::default().feed(&stream);
        assert_eq!(&out[..], b"beforeafter$ ");
        assert_eq!(
            events,
            [
                Event::Ask(Ask {
                    nonce: NONCE.into(),
                    shell: "bash".into(),
                    origin: Origin::Bind,
                    functions: "f g".into(),
                    subshell: 2,
                    command: "touch x".into(),
                }),
                Event::Beat
            ]
        );
    }

    #[test]
    fn other_escapes_pass_and_unreadable_sequences_are_stripped_and_said() {
        let stream = b"\x1b[1m\x1b]0;title\x07\x1b]7428;2;ask;n=1\x07\x1b]742x\x1b";
        let mut scanner = OutputScanner::default();
        let (out, events) = scanner.feed(stream);
        assert_eq!(&out[..], b"\x1b[1m\x1b]0;title\x07\x1b]742x");
        assert!(matches!(&events[..], [Event::Unreadable(why)] if why.contains("protocol \"2\"")));
        // The trailing ESC is held: the next packet tells whether it starts a sequence.
        assert_eq!(&scanner.feed(b"[0m").0[..], b"\x1b[0m");
    }

    #[test]
    fn a_malformed_ask_is_unreadable() {
        for body in [
            "1;ask;n=short;cmd=",
            "1;ask;n=0123456789abcdef0123456789abcdef;cmd=%%%",
        ] {
            let stream = format!("\x1b]7428;{body}\x07");
            let (out, events) = OutputScanner::default().feed(stream.as_bytes());
            assert!(out.is_empty());
            assert!(matches!(&events[..], [Event::Unreadable(_)]), "{body}");
        }
    }

    #[test]
    fn an_oversized_sequence_is_dropped_whole() {
        let mut scanner = OutputScanner::default();
        let mut stream = b"\x1b]7428;1;ask;n=".to_vec();
        stream.resize(LONGEST + 10, b'a');
        stream.extend(b"\x07visible");
        let (out, events) = scanner.feed(&stream);
        assert_eq!(&out[..], b"visible");
        assert!(matches!(&events[..], [Event::Unreadable(_)]));
    }

    #[test]
    fn the_answer_is_the_sequence_the_guard_waits_for() {
        assert_eq!(
            answer(NONCE, true),
            format!("\x1b]7428;1;approve;n={NONCE}\x07").into_bytes()
        );
        assert!(String::from_utf8(answer(NONCE, false))
            .unwrap()
            .contains(";deny;"));
    }

    #[test]
    fn a_typed_answer_is_stripped_whole_within_a_packet() {
        let mut typed = b"ls".to_vec();
        typed.extend(answer(NONCE, true));
        typed.extend(b"\r");
        assert_eq!(&InputFilter::default().filter(&typed)[..], b"ls\r");
        // ESC ] alone and other escapes are keys like any other.
        let keys = b"\x1b]x\x1b[A\x1b";
        assert_eq!(&InputFilter::default().filter(keys)[..], keys);
    }

    #[test]
    fn an_answer_with_bytes_the_tty_swallows_or_strips_is_stripped_too() {
        let answer = format!("\x1b]74\x1128;1;approve;n={NONCE}\x07");
        let mut typed = b"ls".to_vec();
        typed.extend(answer.as_bytes());
        assert_eq!(&InputFilter::default().filter(&typed)[..], b"ls");
        // ISTRIP: 0x9b is ESC to the reader, 0xb7 is 7.
        let mut stripped = b"\x9b]\xb7428;\x13".to_vec();
        stripped.extend(format!("1;approve;n={NONCE}").as_bytes());
        stripped.extend(b"\x87x");
        assert_eq!(&InputFilter::default().filter(&stripped)[..], b"x");
        // Control keys on their own pass as they are.
        let keys = b"\x11\x13\x03\x7f";
        assert_eq!(&InputFilter::default().filter(keys)[..], keys);
    }

    /// The guard runs a command only when what it read up to a BEL ends with this.
    fn reaches_the_guard_as_an_answer(passed: &[u8]) -> bool {
        let tail = format!("\x1b]7428;1;approve;n={NONCE}");
        // Through the terminal's line discipline: bytes it swallows gone, the eighth bit off.
        let read: Vec<u8> = passed.iter().filter_map(|&byte| as_read(byte)).collect();
        read.split(|&byte| byte == BEL)
            .any(|read| read.ends_with(tail.as_bytes()))
    }

    proptest! {
        /// However the operator's bytes are cut into packets, and whatever surrounds it, an
        /// answer never reaches the shell, and bytes with no ESC pass unchanged.
        #[test]
        fn no_cut_lets_an_answer_through(
            before in proptest::collection::vec(any::<u8>(), 0..12),
            after in proptest::collection::vec(any::<u8>(), 0..12),
            cuts in proptest::collection::vec(0usize..80, 0..6),
            swallowed in proptest::collection::vec((0usize..60, prop_oneof![Just(0x11u8), Just(0x13), Just(0x0d), Just(0x80)]), 0..3),
            high in any::<bool>(),
        ) {
            // The answer, with bytes the tty swallows put in it, or its eighth bits set
            // (ISTRIP takes them off again).
            let mut forged = answer(NONCE, true);
            if high {
                forged.iter_mut().for_each(|byte| *byte |= 0x80);
            }
            for (at, byte) in swallowed {
                let at = at % (forged.len() + 1);
                if byte == 0x80 {
                    if let Some(one) = forged.get_mut(at) {
                        *one |= 0x80;
                    }
                } else {
                    forged.insert(at, byte);
                }
            }
            let mut stream = before.clone();
            stream.extend(forged);
            stream.extend(&after);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|cut| cut % (stream.len() + 1)).collect();
            cuts.sort_unstable();
            let mut filter = InputFilter::default();
            let (mut passed, mut from) = (Vec::new(), 0);
            for cut in cuts.into_iter().chain([stream.len()]) {
                passed.extend_from_slice(&filter.filter(&stream[from..cut]));
                from = cut;
            }
            prop_assert!(!reaches_the_guard_as_an_answer(&passed), "{:?}", passed);
        }

        #[test]
        fn input_without_escape_passes_unchanged(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let data: Vec<u8> = data.into_iter().filter(|&byte| byte & 0x7f != ESC).collect();
            prop_assert_eq!(&InputFilter::default().filter(&data)[..], &data[..]);
        }

        /// The scanner finds the same events and passes the same bytes at every packet split.
        #[test]
        fn output_scanning_ignores_packet_splits(
            text in "[a-z\\x1b\\]\\x07;0-9 ]{0,20}",
            cut in 0usize..200,
        ) {
            let mut stream = text.as_bytes().to_vec();
            stream.extend(ask_bytes(NONCE, "echo hi"));
            stream.extend(text.as_bytes());
            let whole = OutputScanner::default().feed(&stream);
            let cut = cut % (stream.len() + 1);
            let mut scanner = OutputScanner::default();
            let (first, mut events) = scanner.feed(&stream[..cut]);
            let mut out = first.into_owned();
            let (rest, more) = scanner.feed(&stream[cut..]);
            out.extend_from_slice(&rest);
            events.extend(more);
            // What a split leaves held at the very end is the only difference allowed.
            prop_assert_eq!(&out[..], &whole.0[..]);
            prop_assert_eq!(events, whole.1);
        }
    }
}
