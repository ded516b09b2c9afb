//! Every modelled editing key, in each of its encodings, and the keys that must make the
//! line uncertain.

use crate::support::{edit, replay};
use rstest::rstest;
use sshgate_keystroke::SubmitKey;

#[rstest]
// Character motion: C-b/C-f, CSI and SS3 arrows.
#[case::csi_left("echo hi<Left><Left>X", "echo Xhi")]
#[case::ss3_left("echo hi<OLeft><OLeft>X", "echo Xhi")]
#[case::ctrl_b_f("abc<C-b><C-b>X<C-f>Y", "aXbYc")]
#[case::csi_right("abc<Left><Left><Left><Right>X", "aXbc")]
#[case::ss3_right("abc<Home><ORight>X", "aXbc")]
#[case::left_at_start_stays("a<Left><Left><Left>X", "Xa")]
#[case::right_at_end_stays("a<Right><Right>X", "aX")]
// Line start and end in every encoding.
#[case::ctrl_a("bc<C-a>a", "abc")]
#[case::csi_home("bc<Home>a", "abc")]
#[case::ss3_home("bc<OHome>a", "abc")]
#[case::tilde1_home("bc\x1b[1~a", "abc")]
#[case::tilde7_home("bc\x1b[7~a", "abc")]
#[case::ctrl_e("ab<C-a><C-e>c", "abc")]
#[case::csi_end("ab<Home><End>c", "abc")]
#[case::ss3_end("ab<Home><OEnd>c", "abc")]
#[case::tilde4_end("ab<Home>\x1b[4~c", "abc")]
#[case::tilde8_end("ab<Home>\x1b[8~c", "abc")]
// Word motion: alphanumeric words, punctuation ends a word.
#[case::meta_b_punct("cd /usr/local-bin<M-b>X", "cd /usr/local-Xbin")]
#[case::meta_b_twice("cd /usr/local-bin<M-b><M-b>X", "cd /usr/Xlocal-bin")]
#[case::meta_upper_b("cd /usr/local-bin<M-B>X", "cd /usr/local-Xbin")]
#[case::meta_f_punct("a.b-c<Home><M-f>X", "aX.b-c")]
#[case::meta_f_twice("a.b-c<Home><M-f><M-f>X", "a.bX-c")]
#[case::meta_f_skips_leading("  ..foo bar<Home><M-f>X", "  ..fooX bar")]
#[case::ctrl_left("foo bar<CtrlLeft>X", "foo Xbar")]
#[case::alt_left("foo bar<AltLeft>X", "foo Xbar")]
#[case::ctrl_right("foo bar<Home><CtrlRight>X", "fooX bar")]
#[case::alt_right("foo bar<Home><AltRight>X", "fooX bar")]
// Deletion.
#[case::delete_key("abc<Home><Delete>", "bc")]
#[case::ctrl_d_empty_is_eof("<C-d>", "")]
#[case::del("abc<DEL>", "ab")]
#[case::ctrl_h("abc<C-h>", "ab")]
#[case::del_middle("abc<Left><DEL>", "ac")]
#[case::del_at_start("abc<Home><DEL>", "abc")]
// Kills.
#[case::ctrl_k_middle("echo hello world<M-b><C-k>", "echo hello ")]
#[case::ctrl_u_middle("echo hello world<M-b><C-u>", "world")]
#[case::ctrl_w_middle("echo hello-there world<Left><Left><C-w>", "echo hello-there ld")]
#[case::ctrl_w_trailing_blanks("echo hello-there  <C-w>", "echo ")]
#[case::ctrl_w_tabs("a<C-v>\tb<C-w>", "a\t")]
#[case::meta_del("echo hello-there<M-DEL>", "echo hello-")]
#[case::meta_ctrl_h("echo hello-there<M-C-h>", "echo hello-")]
#[case::meta_del_middle("echo hello there<M-b><Left><M-DEL>", "echo  there")]
#[case::meta_d("echo hello world<Home><M-d>", " hello world")]
#[case::meta_d_middle("echo hello world<Home><M-f><M-d>", "echo world")]
// Transpose, readline style.
#[case::ctrl_t_end("abc<C-t>", "acb")]
#[case::ctrl_t_end_stays_at_end("abc<C-t>X", "acbX")]
#[case::ctrl_t_middle("abcd<Left><Left><C-t>", "acbd")]
#[case::ctrl_t_middle_advances("abcd<Left><Left><C-t>X", "acbXd")]
#[case::ctrl_t_start("abc<Home><C-t>", "abc")]
#[case::ctrl_t_one_char("a<C-t>", "a")]
// Yank after kills, with readline's appending of consecutive kills.
#[case::yank_after_ctrl_w("echo foo<C-w>bar <C-y>", "echo bar foo")]
#[case::yank_consecutive_backward("one two three<C-w><C-w><C-y>", "one two three")]
#[case::yank_consecutive_forward("abc def<Home><M-d><M-d>X<C-y>", "Xabc def")]
#[case::yank_twice("ab<C-u><C-y><C-y>", "abab")]
#[case::kill_chain_broken("ab cd<C-w><Left><C-w><C-e><C-y>", " ab")]
#[case::kill_line_then_unix_line("abcd<Left><Left><C-k><C-u><C-y>", "abcd")]
// Quoted insert takes the next byte literally.
#[case::ctrl_v_control("a<C-v><C-w>b", "a\u{17}b")]
#[case::ctrl_v_escape("a<C-v><ESC>[Ab", "a\u{1b}[Ab")]
#[case::ctrl_v_del("a<C-v><DEL>", "a\u{7f}")]
#[case::ctrl_v_utf8("a<C-v>é", "aé")]
// Keys that change nothing.
#[case::ctrl_l("abc<C-l>", "abc")]
#[case::ctrl_g("abc<C-g>", "abc")]
#[case::set_mark("abc\0", "abc")]
#[case::ctrl_x_ctrl_g("abc<C-x><C-g>d", "abcd")]
// Bracketed paste with mode off is still text, but uncertain (tested below); here mode-free
// items: Ctrl+C discards the line.
#[case::ctrl_c("old stuff<C-c>new", "new")]
// Combining marks go with the letter before them, as readline moves over non-zero-width chars.
#[case::backspace_over_combining_mark("cafe\u{301}<DEL>s", "cafs")]
#[case::left_over_combining_mark("cafe\u{301}<Left>X", "cafXe\u{301}")]
#[case::right_over_combining_mark("e\u{301}x<Home><Right>Y", "e\u{301}Yx")]
// Ctrl-Delete is kill-word in readline's default bindings.
#[case::ctrl_delete_kill_word("echo rm-me.txt<C-a><M-f><C-f><CtrlDelete>", "echo -me.txt")]
fn editing_keys(#[case] input: &str, #[case] expected: &str) {
    assert_eq!(edit(input), (expected.to_string(), true), "{input:?}");
}

#[rstest]
#[case::yank_empty_ring("abc<C-y>", "abc")]
#[case::yank_pop("ab<C-w>x<C-y><M-y>", "xab")]
#[case::undo("abc<C-_>", "abc")]
#[case::ctrl_x_undo("abc<C-x><C-u>", "abc")]
#[case::tab("ls /us<Tab>", "ls /us")]
#[case::meta_question("ls<M-?>", "ls")]
#[case::meta_star("ls *<M-*>", "ls *")]
#[case::meta_equals("ls<M-=>", "ls")]
#[case::meta_escape("ls<ESC><ESC>", "ls")]
#[case::reverse_search("<C-r>ssh", "ssh")]
#[case::ctrl_p("<C-p>", "")]
#[case::ctrl_n("<C-n>", "")]
#[case::up("<Up>", "")]
#[case::down("<Down>", "")]
#[case::meta_lt("\x1b<", "")]
#[case::meta_gt("\x1b>", "")]
#[case::meta_dot("ls <M-.>", "ls ")]
#[case::meta_underscore("ls <M-_>", "ls ")]
#[case::numeric_argument("<M-3>x", "x")]
#[case::char_search("abc<C-]>a", "abc")]
#[case::insert_key("ab<Insert>", "ab")]
#[case::shift_left("ab\x1b[1;2D", "ab")]
#[case::f5("ab\x1b[15~", "ab")]
#[case::unknown_ctrl_x("ab<C-x>(", "ab")]
#[case::unbound_meta("ab<M-z>", "ab")]
#[case::cursor_report("ab\x1b[12;40Rc", "abc")]
#[case::da1("ab\x1b[?1;2cc", "abc")]
#[case::da2("ab\x1b[>0;95;0cc", "abc")]
#[case::osc_bel("ab\x1b]11;rgb:0000/0000/0000\x07c", "abc")]
#[case::osc_st("ab\x1b]11;rgb:0000/0000/0000\x1b\\c", "abc")]
#[case::dcs("ab\x1bP1$r0m\x1b\\c", "abc")]
#[case::apc("ab\x1b_Gi=1;OK\x1b\\c", "abc")]
#[case::pm("ab\x1b^hello\x1b\\c", "abc")]
#[case::focus_in("ab\x1b[Ic", "abc")]
#[case::focus_out("ab\x1b[Oc", "abc")]
#[case::sgr_mouse("ab\x1b[<0;12;5Mc", "abc")]
#[case::sgr_mouse_release("ab\x1b[<0;12;5mc", "abc")]
#[case::x10_mouse("ab\x1b[M !!c", "abc")]
#[case::unknown_csi("ab\x1b[99xc", "abc")]
#[case::extended_key_letter("ab\x1b[97;5uc", "abc")]
#[case::stray_paste_end("ab<PasteEnd>c", "abc")]
#[case::paste_without_mode("<PasteStart>ls<PasteEnd>", "ls")]
fn uncertain_keys(#[case] input: &str, #[case] expected: &str) {
    assert_eq!(edit(input), (expected.to_string(), false), "{input:?}");
}

#[test]
fn bracketed_paste_inserts_text_with_newlines() {
    let mut r = sshgate_keystroke::Reconstructor::new();
    r.set_bracketed_paste(true);
    let r = crate::support::replay_into(
        r,
        &crate::support::keys("x<Left><PasteStart>a\rb\nc\td<PasteEnd>"),
    );
    assert!(r.submits.is_empty());
    assert_eq!((r.line.as_str(), r.certain), ("a\nb\nc\tdx", true));
}

#[test]
fn bracketed_paste_keeps_escape_sequences_as_text() {
    let mut r = sshgate_keystroke::Reconstructor::new();
    r.set_bracketed_paste(true);
    let r = crate::support::replay_into(r, b"\x1b[200~a\x1b[D\x1b[20b\x1b[201~");
    assert_eq!((r.line.as_str(), r.certain), ("a\x1b[D\x1b[20b", true));
}

#[test]
fn uncertainty_lasts_until_reset_then_clears() {
    let r = replay("<C-p>x<CR>ls");
    assert!(!r.submits[0].certain);
    assert_eq!((r.line.as_str(), r.certain), ("ls", true));
}

#[test]
fn completion_doubt_survives_accept_until_interrupt() {
    // A completion prompt can swallow Enter, so the next line is not known either.
    let r = replay("ls<Tab><CR>pwd");
    assert!(!r.certain);
    let r = replay("ls<Tab><CR>pwd<C-c>id");
    assert_eq!((r.line.as_str(), r.certain), ("id", true));
}

#[test]
fn vi_mode_switch_is_sticky() {
    let r = replay("ls<M-CR>pwd<CR><C-c>id");
    assert_eq!(r.submits[0].key, sshgate_keystroke::SubmitKey::MetaEnter);
    assert!(!r.certain);
}

/// C-d on a non-empty line deletes a character in readline, but is the tty's end-of-file to a
/// shell without a line editor, which runs the line: held and asked about, then applied as
/// readline does.
#[rstest]
#[case::ctrl_d("abc<Home><C-d>", "bc")]
#[case::ctrl_d_at_end("abc<C-d>", "abc")]
#[case::delete_with_combining_mark("cafe\u{301}s<Left><Left><C-d>", "cafs")]
fn ctrl_d_on_a_non_empty_line_is_held_then_deletes(#[case] input: &str, #[case] expected: &str) {
    let r = replay(input);
    assert_eq!(r.submits.len(), 1, "{:?}", r.submits);
    assert_eq!(r.submits[0].key, SubmitKey::EndOfFile);
    assert!(!r.submits[0].certain);
    assert_eq!(r.line, expected);
}

/// C-s and C-q are the tty's STOP and START characters (IXON at the target's default): they
/// never reach readline.
#[test]
fn ctrl_s_and_ctrl_q_stop_and_restart_output_and_leave_the_line_certain() {
    assert_eq!(edit("<C-s>ssh"), ("ssh".to_string(), true));
    assert_eq!(edit("a<C-q>b"), ("ab".to_string(), true));
}
