//! The safety invariant, checked exhaustively: every CR, LF and Ctrl+O byte is a submit in
//! every reachable state, except as text inside a bracketed paste with the mode enabled.

use crate::support::keys;
use rstest::rstest;
use sshgate_keystroke::{ByteAction, Reconstructor};

const SUBMIT_BYTES: [u8; 3] = [0x0d, 0x0a, 0x0f];

/// States reached by typing these prefixes (mode off unless the name says paste-on).
const STATES: &[&str] = &[
    "",
    "ls",
    "<ESC>",
    "<ESC>[",
    "<ESC>[1;",
    "<ESC>[1;5",
    "<ESC>[<",
    "<ESC>[?",
    "<ESC>[ ",
    "<ESC>O",
    "<ESC>O5",
    "<ESC>]",
    "<ESC>]11;rgb:0/0/0",
    "<ESC>]11;<ESC>",
    "<ESC>P",
    "<ESC>P<ESC>",
    "<ESC>_",
    "<ESC>^",
    "<ESC>X",
    "<ESC>[M",
    "<ESC>[M ",
    "<ESC>[M !",
    "<ESC>[27;5;",
    "<C-v>",
    "<C-q>",
    "<C-x>",
    "<C-]>",
    "<Tab>",
    "<C-r>",
    "<M-3>",
    "ls<M-CR>",
    "<PasteStart>",
    "<PasteStart>ls",
    "<PasteStart><ESC>[20",
    "<PasteStart><ESC>[201",
];

/// States that need bytes the notation cannot spell: UTF-8 sequences cut short.
const RAW_STATES: &[&[u8]] = &[b"\xe6", b"\xe6\x97", b"\xf0\x9f\x91", b"\x1b[200~\xe6"];

fn all_states() -> impl Iterator<Item = (String, Vec<u8>)> {
    let typed = STATES.iter().map(|s| (s.to_string(), keys(s)));
    let raw = RAW_STATES.iter().map(|b| (format!("{b:x?}"), b.to_vec()));
    typed.chain(raw)
}

/// Feeds `bytes`, resolving every submit with `decide`, and returns the last action.
fn feed(r: &mut Reconstructor, bytes: &[u8], decide: fn(&mut Reconstructor)) -> ByteAction {
    let mut last = ByteAction::Forward;
    for &b in bytes {
        last = r.push(b);
        if matches!(last, ByteAction::Submit(_)) {
            decide(r);
        }
    }
    last
}

fn accept(r: &mut Reconstructor) {
    r.accepted();
}

fn deny(r: &mut Reconstructor) {
    r.denied();
}

fn interrupt(r: &mut Reconstructor) {
    r.interrupted();
}

#[rstest]
fn submit_bytes_always_submit(#[values(accept, deny, interrupt)] decide: fn(&mut Reconstructor)) {
    for (state, prefix) in all_states() {
        for middle in 0..=255u8 {
            for submit in SUBMIT_BYTES {
                let mut r = Reconstructor::new();
                let mut input = prefix.clone();
                input.push(middle);
                feed(&mut r, &input, decide);
                let action = r.push(submit);
                // Dropped (the rest of a denied paste) is as safe as held.
                assert!(
                    matches!(action, ByteAction::Submit(_) | ByteAction::Discard),
                    "state {state:?} + {middle:#04x} + {submit:#04x} gave {action:?}"
                );
            }
        }
    }
}

#[test]
fn submit_bytes_submit_right_after_the_state() {
    for (state, prefix) in all_states() {
        for submit in SUBMIT_BYTES {
            let mut r = Reconstructor::new();
            feed(&mut r, &prefix, accept);
            let action = r.push(submit);
            assert!(
                matches!(action, ByteAction::Submit(_)),
                "{state:?} + {submit:#04x}: {action:?}"
            );
        }
    }
}

#[test]
fn submit_bytes_in_a_bracketed_paste_are_text() {
    // ESC may end the paste and Ctrl+C interrupts it (tested below).
    for middle in (0..=255u8).filter(|&b| b != 0x1b && b != 0x03) {
        for submit in SUBMIT_BYTES {
            let mut r = Reconstructor::new();
            r.set_bracketed_paste(true);
            feed(&mut r, &keys("<PasteStart>a"), accept);
            assert_eq!(r.push(middle), ByteAction::Forward, "{middle:#04x}");
            assert_eq!(
                r.push(submit),
                ByteAction::Forward,
                "{middle:#04x} {submit:#04x}"
            );
            // After the paste ends, the bytes submit again.
            feed(&mut r, &keys("<PasteEnd>"), accept);
            assert!(matches!(r.push(submit), ByteAction::Submit(_)));
        }
    }
}

/// A small deterministic generator, so the fuzz test needs no dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u8 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 24) as u8
    }
}

#[test]
fn random_input_never_panics_and_keeps_the_invariant() {
    // Bias towards the bytes that drive the state machines.
    const INTERESTING: &[u8] =
        b"\x1b[]OPM;0123456789~u\r\n\x0f\x03\x16\x18\x07\\\xe6\x97\xa5\x80\xff";
    let mut rng = XorShift(0x5eed_1234_abcd_ef01);
    for round in 0..2000 {
        let mut r = Reconstructor::new();
        r.set_bracketed_paste(round % 2 == 0);
        for _ in 0..200 {
            let pick = rng.next();
            let byte = if pick < 160 {
                INTERESTING[usize::from(rng.next()) % INTERESTING.len()]
            } else {
                rng.next()
            };
            let in_paste_before = {
                let mut probe = r.clone();
                // The probe shows whether a CR now would be paste text.
                !matches!(probe.push(b'\r'), ByteAction::Submit(_))
            };
            let action = r.push(byte);
            if SUBMIT_BYTES.contains(&byte) && !in_paste_before {
                assert!(
                    matches!(action, ByteAction::Submit(_)),
                    "round {round}: {action:?}"
                );
            }
            match action {
                ByteAction::Submit(_) => match rng.next() % 3 {
                    0 => r.accepted(),
                    1 => {
                        r.denied();
                    }
                    _ => r.interrupted(),
                },
                ByteAction::Interrupt => assert_eq!(r.line(), ""),
                ByteAction::Forward | ByteAction::Discard => {}
            }
            assert!(r.cursor() <= r.line().chars().count());
        }
    }
}

/// A Ctrl+C inside a paste is still an interrupt (the tty sends SIGINT): the paste is over,
/// so a later CR must be held again (a bypass when the model stayed "in paste").
#[test]
fn ctrl_c_ends_a_paste() {
    for submit in SUBMIT_BYTES {
        let mut r = Reconstructor::new();
        r.set_bracketed_paste(true);
        feed(&mut r, &keys("<PasteStart>rm -rf x"), accept);
        assert_eq!(r.push(0x03), ByteAction::Interrupt);
        feed(&mut r, &keys("rm -rf y"), accept);
        match r.push(submit) {
            ByteAction::Submit(s) => assert_eq!(s.line, "rm -rf y"),
            other => panic!("{submit:#04x} after Ctrl+C in a paste: {other:?}"),
        }
    }
}
