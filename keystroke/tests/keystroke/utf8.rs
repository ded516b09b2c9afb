//! UTF-8 input: characters split across packets at every byte, and bytes that are not UTF-8.

use crate::support::replay_into;
use rstest::rstest;
use sshgate_keystroke::{ByteAction, Reconstructor, Submit};

/// Feeds `first`, then `second`, as two packets; returns every submit and the final line.
fn two_packets(first: &[u8], second: &[u8]) -> (Vec<Submit>, String) {
    let r = replay_into(Reconstructor::new(), first);
    let r2 = replay_into(r.reconstructor, second);
    let mut submits = r.submits;
    submits.extend(r2.submits);
    (submits, r2.line)
}

#[rstest]
#[case::cjk("echo 日本語")]
#[case::accent("echo héllo")]
#[case::emoji("echo 👍🏽 ok")]
#[case::combining("echo e\u{301}")]
#[case::four_byte("echo 𝄞")]
fn split_at_every_byte_gives_the_same_line(#[case] text: &str) {
    let bytes = text.as_bytes();
    let whole = replay_into(Reconstructor::new(), bytes);
    assert_eq!((whole.line.as_str(), whole.certain), (text, true));
    for cut in 0..=bytes.len() {
        let (submits, line) = two_packets(&bytes[..cut], &bytes[cut..]);
        assert!(submits.is_empty());
        assert_eq!(line, text, "cut at {cut}");
    }
}

#[rstest]
#[case::words("echo 日本<M-b>x\r")]
#[case::paste("\x1b[200~a\rb\x1b[201~\r")]
#[case::sequences("ls\x1b[D\x1b]11;x\x07\x1b[1;5D\x1bOHz\r")]
#[case::many_lines("a\rb\nc\x0fd\x1b[13u")]
fn chunking_never_changes_the_submits(#[case] input: &str) {
    let bytes = input.as_bytes();
    let whole = replay_into(Reconstructor::new(), bytes);
    for cut in 0..=bytes.len() {
        let (submits, line) = two_packets(&bytes[..cut], &bytes[cut..]);
        assert_eq!(submits, whole.submits, "cut at {cut}");
        assert_eq!(line, whole.line, "cut at {cut}");
    }
}

#[rstest]
#[case::lone_continuation(b"a\x80b", "a\u{fffd}b")]
#[case::invalid_lead(b"a\xffb", "a\u{fffd}b")]
#[case::overlong_slash(b"a\xc0\xafb", "a\u{fffd}\u{fffd}b")]
#[case::overlong_three(b"a\xe0\x80\xafb", "a\u{fffd}\u{fffd}\u{fffd}b")]
#[case::surrogate(b"a\xed\xa0\x80b", "a\u{fffd}\u{fffd}\u{fffd}b")]
#[case::above_max(b"a\xf4\x90\x80\x80b", "a\u{fffd}\u{fffd}\u{fffd}\u{fffd}b")]
#[case::truncated(b"a\xe6\x97b", "a\u{fffd}\u{fffd}b")]
#[case::truncated_then_valid(b"\xe6\xe6\x97\xa5", "\u{fffd}日")]
#[case::nul(b"a\0b", "ab")]
fn invalid_bytes_are_replaced_and_uncertain(#[case] input: &[u8], #[case] expected: &str) {
    let r = replay_into(Reconstructor::new(), input);
    assert_eq!(r.line, expected);
    // NUL is set-mark in readline: a real key, so the line stays certain.
    assert_eq!(r.certain, input.iter().all(|&b| b < 0x80));
}

#[test]
fn every_byte_after_every_byte_is_safe() {
    for a in 0..=255u8 {
        for b in 0..=255u8 {
            let mut r = Reconstructor::new();
            for byte in [a, b, b'x'] {
                if let ByteAction::Submit(_) = r.push(byte) {
                    r.accepted();
                }
            }
            assert!(r.cursor() <= r.line().chars().count());
        }
    }
}
