//! `Reconstructor::push_paste_text`, the fast path for large pastes, against `push` byte by
//! byte: the same action for every byte and the same state after (compared through `Debug`,
//! which shows every field of the tokenizer and the line model, less the scratch buffer of
//! events that `push` reuses from byte to byte).

use sshgate_keystroke::{ByteAction, Reconstructor};

/// Every action `push` returns, one per byte, and the reconstructor after.
fn byte_by_byte(bracketed: bool, input: &[u8]) -> (Vec<ByteAction>, Reconstructor) {
    let mut keys = Reconstructor::new();
    keys.set_bracketed_paste(bracketed);
    let actions = input.iter().map(|&b| step(&mut keys, b)).collect();
    (actions, keys)
}

/// The same through the fast path wherever it takes bytes.
fn fast(bracketed: bool, input: &[u8]) -> (Vec<ByteAction>, Reconstructor, usize) {
    let mut keys = Reconstructor::new();
    keys.set_bracketed_paste(bracketed);
    let mut actions = Vec::new();
    let mut taken_fast = 0;
    let mut at = 0;
    while at < input.len() {
        let run = keys.push_paste_text(&input[at..]);
        actions.extend(std::iter::repeat_n(ByteAction::Forward, run));
        taken_fast += run;
        at += run;
        if at < input.len() {
            actions.push(step(&mut keys, input[at]));
            at += 1;
        }
    }
    (actions, keys, taken_fast)
}

/// Every field but the scratch events, which only hold what the last `push` produced.
fn state(keys: &Reconstructor) -> String {
    let debug = format!("{keys:?}");
    let start = debug.find(", events: [").expect("the events field");
    let end = debug[start..].find("], ").expect("its end") + start + 1;
    format!("{}{}", &debug[..start], &debug[end..])
}

/// `push`, with every submit approved as a gate would.
fn step(keys: &mut Reconstructor, byte: u8) -> ByteAction {
    let action = keys.push(byte);
    if matches!(action, ByteAction::Submit(_)) {
        keys.accepted();
    }
    action
}

const STREAMS: &[&[u8]] = &[
    b"\x1b[200~echo one\rtwo\nthree\tfour\x1b[201~\r",
    // An end marker cut short is text; a NUL cuts the paste; Ctrl+C ends it.
    b"\x1b[200~a\x1b[20b\x1b[2c\x00d e\x1b[201~\r",
    b"\x1b[200~abc\x03def\x1b[201~ghi\r",
    // UTF-8 in the middle of a run, and split characters.
    b"\x1b[200~caf\xc3\xa9 \xe2\x82\xac x\xc3\x1b[201~\r",
    // A kill before the paste, typing after: the kill ring's joining flags.
    b"some words\x17\x1b[200~x\x1b[201~y\x17\x19\r",
    b"some words\x17\x1b[200~xy\x1b[201~z\x17\x19\r",
    // Prefixes pending when the paste starts: C-x, C-v, a char search.
    b"ab\x18\x1b[200~cd\x1b[201~\r",
    b"ab\x16\x1b[200~cd\x1b[201~\r",
    b"ab\x1d\x1b[200~cd\x1b[201~\r",
    // A paste in the middle of the line.
    b"echo end\x01\x1b[200~start \rmore\x1b[201~\r",
    // An X10 mouse report cut by the paste: an untrusted paste.
    b"\x1b[M\x1b[200~a\rb\x1b[201~\r",
    // Two pastes in a row, and a paste right after a submit.
    b"\x1b[200~one\x1b[201~\x1b[200~two\x1b[201~\rx\x1b[200~three\x1b[201~\r",
];

#[test]
fn the_fast_path_leaves_what_push_leaves() {
    for bracketed in [true, false] {
        for input in STREAMS {
            let (slow_actions, slow) = byte_by_byte(bracketed, input);
            let (fast_actions, fast, _) = fast(bracketed, input);
            let shown = String::from_utf8_lossy(input);
            assert_eq!(
                fast_actions, slow_actions,
                "{shown:?} bracketed={bracketed}"
            );
            assert_eq!(
                state(&fast),
                state(&slow),
                "{shown:?} bracketed={bracketed}"
            );
        }
    }
}

#[test]
fn the_fast_path_leaves_what_push_leaves_at_every_cut() {
    // Bytes pushed one by one up to `cut`, then the fast path: any state push can reach.
    for input in STREAMS {
        for cut in 0..=input.len() {
            let mut slow = Reconstructor::new();
            slow.set_bracketed_paste(true);
            let mut quick = slow.clone();
            for &byte in &input[..cut] {
                step(&mut slow, byte);
                step(&mut quick, byte);
            }
            let run = quick.push_paste_text(&input[cut..]);
            for &byte in &input[cut..cut + run] {
                assert_eq!(step(&mut slow, byte), ByteAction::Forward);
            }
            assert_eq!(state(&quick), state(&slow), "cut {cut}");
        }
    }
}

#[test]
fn the_fast_path_takes_a_paste_body_and_leaves_the_rest() {
    let input = b"\x1b[200~echo one\rtwo\x1b[201~\r";
    let (_, keys, taken) = fast(true, input);
    assert_eq!(taken, "echo one\rtwo".len());
    assert_eq!(keys.line(), "");
    // Outside a paste it takes nothing.
    let mut keys = Reconstructor::new();
    keys.set_bracketed_paste(true);
    assert_eq!(keys.push_paste_text(b"echo hi\r"), 0);
    // Without bracketed paste mode a newline in a paste runs the line: nothing fast.
    let (actions, _, taken) = fast(false, input);
    assert_eq!(taken, 0);
    assert!(actions.iter().any(|a| matches!(a, ByteAction::Submit(_))));
}
