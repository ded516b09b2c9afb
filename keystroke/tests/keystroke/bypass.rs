//! One regression test per published bypass of approval proxies (DESIGN.md section 5).

use crate::support::{keys, replay, replay_into};
use rstest::rstest;
use sshgate_keystroke::{ByteAction, Reconstructor, Submit, SubmitKey};

fn submit(line: &str, certain: bool, key: SubmitKey) -> Submit {
    Submit {
        line: line.to_string(),
        certain,
        key,
    }
}

#[rstest]
#[case::carriage_return("ls\r", SubmitKey::CarriageReturn)]
#[case::line_feed("ls\n", SubmitKey::LineFeed)]
#[case::ctrl_m("ls<C-m>", SubmitKey::CarriageReturn)]
#[case::ctrl_j("ls<C-j>", SubmitKey::LineFeed)]
fn enter_keys_submit_the_line(#[case] input: &str, #[case] key: SubmitKey) {
    assert_eq!(replay(input).submits, vec![submit("ls", true, key)]);
}

#[test]
fn ctrl_o_submits_and_prefills_an_uncertain_line() {
    let r = replay("ls<C-o>");
    assert_eq!(
        r.submits,
        vec![submit("ls", false, SubmitKey::OperateAndGetNext)]
    );
    assert_eq!((r.line.as_str(), r.certain), ("", false));
}

#[test]
fn command_and_enter_in_one_packet() {
    // The whole packet arrives at once; each line is held separately.
    let r = replay("rm -rf /\rpwd\r");
    let lines: Vec<_> = r.submits.iter().map(|s| s.line.as_str()).collect();
    assert_eq!(lines, ["rm -rf /", "pwd"]);
}

#[test]
fn enter_inside_a_paste_without_bracketed_mode_submits() {
    let r = replay("<PasteStart>echo a\recho b\n<PasteEnd>");
    let keys: Vec<_> = r.submits.iter().map(|s| (s.line.as_str(), s.key)).collect();
    assert_eq!(
        keys,
        [
            ("echo a", SubmitKey::PasteNewline),
            ("echo b", SubmitKey::PasteNewline)
        ]
    );
    assert!(r.submits.iter().all(|s| !s.certain));
}

#[test]
fn enter_inside_a_bracketed_paste_is_text() {
    let mut r = Reconstructor::new();
    r.set_bracketed_paste(true);
    let r = replay_into(r, &keys("<PasteStart>echo a\recho b<PasteEnd>\r"));
    assert_eq!(
        r.submits,
        vec![submit("echo a\necho b", true, SubmitKey::CarriageReturn)]
    );
}

#[rstest]
#[case::osc("ls\x1b]11;rgb:0/0/0\r")]
#[case::osc_after_st_escape("ls\x1b]11;rgb:0/0/0\x1b\r")]
#[case::dcs("ls\x1bP$q\r")]
#[case::x10_first_byte("ls\x1b[M\r")]
#[case::x10_second_byte("ls\x1b[M \r")]
#[case::x10_third_byte("ls\x1b[M !\r")]
#[case::csi_params("ls\x1b[1;\r")]
#[case::sgr_mouse("ls\x1b[<0;1\r")]
fn enter_inside_a_sequence_still_submits(#[case] input: &str) {
    let r = replay(input);
    assert_eq!(r.submits.len(), 1, "{input:?}");
    let s = &r.submits[0];
    assert!(!s.certain, "the cut-off sequence reached the shell too");
    assert!(s.line.starts_with("ls"), "{s:?}");
    assert!(
        !s.line.contains('\u{1b}') && !s.line.contains("rgb"),
        "{s:?}"
    );
}

#[test]
fn deny_after_cursor_moved_left_discards_the_whole_line() {
    let mut r = Reconstructor::new();
    let mut held = None;
    for &b in &keys("rm -rf /tmp/x<Left><Left><Left>\r") {
        if let ByteAction::Submit(s) = r.push(b) {
            held = Some(s);
        }
    }
    assert_eq!(
        held,
        Some(submit("rm -rf /tmp/x", true, SubmitKey::CarriageReturn))
    );
    assert_eq!(r.denied(), b"\x11\x07\x05\x15");
    assert_eq!((r.line(), r.certain()), (String::new(), true));
    // The kill ring holds the whole denied line, so an Enter after C-y is gated with it.
    let after = replay_into(r, &keys("<C-y>\r"));
    assert_eq!(
        after.submits,
        vec![submit("rm -rf /tmp/x", true, SubmitKey::CarriageReturn)]
    );
}

#[test]
fn deny_then_empty_enter_runs_nothing_hidden() {
    let mut r = Reconstructor::new();
    for &b in &keys("secret<Home>\r") {
        if let ByteAction::Submit(_) = r.push(b) {
            r.denied();
        }
    }
    assert_eq!(
        r.push(b'\r'),
        ByteAction::Submit(submit("", true, SubmitKey::CarriageReturn))
    );
}

#[test]
fn ctrl_c_then_new_line_holds_only_the_new_line() {
    let r = replay("evil<Left><Left><C-c>ls\r");
    assert_eq!(r.interrupts, 1);
    assert_eq!(
        r.submits,
        vec![submit("ls", true, SubmitKey::CarriageReturn)]
    );
}

#[test]
fn interrupted_pending_submit_forgets_the_line() {
    let mut r = Reconstructor::new();
    for &b in b"evil\r" {
        if let ByteAction::Submit(_) = r.push(b) {
            r.interrupted();
        }
    }
    let r = replay_into(r, b"ls\r");
    assert_eq!(
        r.submits,
        vec![submit("ls", true, SubmitKey::CarriageReturn)]
    );
}

#[test]
fn ctrl_c_inside_a_sequence_still_interrupts() {
    let r = replay("evil\x1b[1\x03ls\r");
    assert_eq!(r.interrupts, 1);
    assert_eq!(
        r.submits,
        vec![submit("ls", true, SubmitKey::CarriageReturn)]
    );
}

#[rstest]
#[case::insert_in_middle("DN<Left>E<End>Y")]
#[case::insert_twice_left("DNY<Left><Left>E")]
#[case::insert_before_last("DEY<Left>N")]
#[case::arrows_both_ways("DY<Left>E<Right><Left>N")]
#[case::ss3_arrows("DEY<OLeft>N")]
#[case::kill_and_yank("NY<C-a><C-k>DE<C-y>")]
#[case::delete_char("YDEN<C-a><C-d><C-e>Y")]
#[case::delete_key("echo DXNY<Left><Left><Left><Delete>E")]
#[case::transpose("DEYN<C-t>")]
#[case::word_kill_and_yank("NY DE<C-w><C-a><C-y>")]
#[case::meta_b("NY<M-b>DE")]
#[case::ctrl_left("NY<CtrlLeft>DE")]
#[case::home("NY<Home>DE")]
#[case::backspace("DEXNY<Left><Left><DEL>")]
#[case::unix_line_discard_yank("NY<C-u>DE<C-y>")]
#[case::terminal_reply_between("DE\x1b[12;1RNY")]
fn deny_word_assembled_by_editing_keys(#[case] input: &str) {
    let r = replay(&format!("{input}\r"));
    let last = r.submits.last().expect("the CR submits");
    assert_eq!(last.key, SubmitKey::CarriageReturn, "{input:?}");
    assert!(last.line.contains("DENY"), "{input:?} gave {last:?}");
}

#[test]
fn deny_word_in_bracketed_paste() {
    let mut r = Reconstructor::new();
    r.set_bracketed_paste(true);
    let r = replay_into(r, &keys("<PasteStart>DE<PasteEnd>NY\r"));
    assert_eq!(
        r.submits,
        vec![submit("DENY", true, SubmitKey::CarriageReturn)]
    );
}

/// In a locale that is not UTF-8, readline reads `0xb1 0xa3` as M-1 M-#, which uncomments the
/// line and runs it; a tty with ISTRIP turns `0x8d` into CR. Invalid bytes like these are held.
#[rstest]
#[case::meta_hash(b"#echo DENY\xb1\xa3")]
#[case::stripped_cr(b"echo DENY\x8d")]
#[case::stripped_lf(b"echo DENY\x8a")]
#[case::stripped_ctrl_o(b"echo DENY\x8f")]
fn an_invalid_byte_that_may_submit_is_held(#[case] input: &[u8]) {
    let r = replay_into(Reconstructor::new(), input);
    let last = r.submits.last().expect("held");
    assert_eq!(last.key, SubmitKey::EightBitSubmit);
    assert!(!last.certain);
    assert!(last.line.contains("DENY"));
}

/// The same bytes inside valid UTF-8 characters are those characters (`ã` is `c3 a3`).
#[test]
fn valid_characters_with_such_bytes_are_not_held() {
    let r = replay_into(Reconstructor::new(), "echo ã č 👍🏽".as_bytes());
    assert!(r.submits.is_empty(), "{:?}", r.submits);
    assert!(r.certain);
}

/// readline inserts a paste as a C string: nothing after a NUL reaches the line.
#[test]
fn a_nul_inside_a_bracketed_paste_cuts_the_rest_of_it() {
    let mut r = Reconstructor::new();
    r.set_bracketed_paste(true);
    let r = replay_into(r, b"echo DE\x1b[200~\x00Z\x1b[201~NY");
    assert_eq!(r.line, "echo DENY");
}

/// A line denied inside a paste: the paste is ended first (inside it, the discard keys would be
/// pasted text), and the rest of the operator's paste is dropped.
#[test]
fn a_deny_inside_a_paste_ends_it_and_drops_the_rest() {
    let mut r = Reconstructor::new();
    let mut denied = Vec::new();
    let mut forwarded = Vec::new();
    for &byte in b"DENY\x1b[200~\rmore\r\x1b[201~ls" {
        match r.push(byte) {
            ByteAction::Submit(_) => denied = r.denied(),
            ByteAction::Forward => forwarded.push(byte),
            ByteAction::Discard | ByteAction::Interrupt => {}
        }
    }
    assert_eq!(denied, b"\x1b[201~\x11\x07\x05\x15");
    assert_eq!(forwarded, b"DENY\x1b[200~ls");
    assert_eq!(r.line(), "ls");
}

/// A submit that cuts an X10 mouse report short never reaches the target, which (reading such
/// reports raw, as the mock target and full-screen programs do) still waits for the report's
/// bytes: the deny pays them with spaces, or it would swallow the discard keys and leave the
/// denied text on the line. A shell that inserts the spaces kills them with the line.
#[rstest::rstest]
#[case::no_report_byte_sent(b"DE\x1b[M\r".as_slice(), b"\x11   \x07\x05\x15".as_slice())]
#[case::one_report_byte_sent(b"DE\x1b[M!\r".as_slice(), b"\x11  \x07\x05\x15".as_slice())]
#[case::report_complete(b"DE\x1b[M!!!\r".as_slice(), b"\x11\x07\x05\x15".as_slice())]
fn a_deny_completes_a_mouse_report_the_submit_cut_short(
    #[case] stream: &[u8],
    #[case] expected: &[u8],
) {
    let mut r = Reconstructor::new();
    let mut denied = Vec::new();
    for &byte in stream {
        if let ByteAction::Submit(_) = r.push(byte) {
            denied = r.denied();
        }
    }
    assert_eq!(denied, expected);
}

/// kills: `x` and C-u in one read join the earlier kill. Whether they came together is not
/// known, so a yank of such a kill is uncertain.
#[test]
fn a_kill_after_typing_that_followed_a_kill_makes_its_yank_uncertain() {
    let r = replay_into(Reconstructor::new(), b"echo DENY\x15x\x15\x19");
    assert_eq!(r.line, "x");
    assert!(!r.certain);
    // Kills with other keys between them stay apart, as in readline.
    let r = replay_into(Reconstructor::new(), b"echo DENY\x15x\x02\x06\x15\x19");
    assert_eq!(r.line, "x");
    assert!(r.certain);
}

/// An X10 mouse report takes the next three bytes raw on the target: `ESC [ M` before
/// `ESC [ 200 ~` swallows part of the paste start there, while the model, whose sequences
/// never swallow ESC, sees a paste. A newline in such a paste is held, as it may run the line.
#[test]
fn a_newline_in_a_paste_that_began_by_cutting_a_sequence_short_is_held() {
    let mut r = Reconstructor::new();
    r.set_bracketed_paste(true);
    let r = replay_into(r, b"\x1b[M\x1b[200~echo DENY\r");
    assert_eq!(r.submits.len(), 1, "{:?}", r.submits);
    assert!(!r.submits[0].certain);
    // A paste that began cleanly keeps its newlines as text.
    let mut r = Reconstructor::new();
    r.set_bracketed_paste(true);
    let r = replay_into(r, b"\x1b[200~echo a\recho b\x1b[201~");
    assert!(r.submits.is_empty());
}
