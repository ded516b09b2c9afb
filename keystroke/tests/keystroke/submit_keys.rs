//! Multi-byte submit keys, reported on their final byte, and what accepting or denying them
//! does to the model.

use crate::support::{keys, replay};
use rstest::rstest;
use sshgate_keystroke::{ByteAction, Reconstructor, SubmitKey};

#[rstest]
#[case::edit_and_execute("ls<C-x><C-e>", SubmitKey::EditAndExecute)]
#[case::call_macro("ls<C-x>e", SubmitKey::CallMacro)]
#[case::insert_comment("ls<M-#>", SubmitKey::InsertComment)]
#[case::meta_cr("ls<M-CR>", SubmitKey::MetaEnter)]
#[case::meta_lf("ls<M-LF>", SubmitKey::MetaEnter)]
#[case::csi_u_enter("ls\x1b[13u", SubmitKey::ExtendedEnter)]
#[case::csi_u_shift_enter("ls\x1b[13;2u", SubmitKey::ExtendedEnter)]
#[case::csi_u_lf("ls\x1b[10;5u", SubmitKey::ExtendedEnter)]
#[case::csi_u_ctrl_j("ls\x1b[106;5u", SubmitKey::ExtendedEnter)]
#[case::csi_u_ctrl_m("ls\x1b[109;5u", SubmitKey::ExtendedEnter)]
#[case::csi_u_ctrl_o("ls\x1b[111;5u", SubmitKey::ExtendedEnter)]
#[case::tilde_ctrl_enter("ls\x1b[27;5;13~", SubmitKey::ExtendedEnter)]
#[case::tilde_shift_enter("ls\x1b[27;2;13~", SubmitKey::ExtendedEnter)]
#[case::tilde_ctrl_j("ls\x1b[27;5;106~", SubmitKey::ExtendedEnter)]
#[case::keypad_enter("ls\x1bOM", SubmitKey::ExtendedEnter)]
#[case::quoted_cr("ls<C-v><CR>", SubmitKey::QuotedControl)]
#[case::quoted_lf("ls<C-v><LF>", SubmitKey::QuotedControl)]
#[case::quoted_ctrl_o("ls<C-v><C-o>", SubmitKey::QuotedControl)]
#[case::ctrl_x_cr("ls<C-x><CR>", SubmitKey::CarriageReturn)]
#[case::char_search_cr("ls<C-]><CR>", SubmitKey::CarriageReturn)]
#[case::meta_ctrl_o("ls<ESC><C-o>", SubmitKey::OperateAndGetNext)]
fn multi_byte_submits_are_held_on_their_last_byte(#[case] input: &str, #[case] key: SubmitKey) {
    let bytes = keys(input);
    let mut r = Reconstructor::new();
    let (last, init) = bytes.split_last().unwrap();
    for &b in init {
        assert_eq!(r.push(b), ByteAction::Forward, "{input:?} byte {b:#04x}");
    }
    match r.push(*last) {
        ByteAction::Submit(s) => {
            assert_eq!(
                (s.line.as_str(), s.certain, s.key),
                ("ls", false, key),
                "{input:?}"
            );
        }
        other => panic!("{input:?}: {other:?}"),
    }
}

#[test]
fn accepted_quoted_control_is_inserted_not_run() {
    let r = replay("ls<C-v><CR>x");
    assert_eq!((r.line.as_str(), r.certain), ("ls\rx", false));
}

#[test]
fn accepted_ctrl_x_enter_keeps_the_line() {
    let r = replay("ls<C-x><CR>x");
    assert_eq!((r.line.as_str(), r.certain), ("lsx", false));
}

#[test]
fn accepted_edit_and_execute_loses_track() {
    let r = replay("ls<C-x><C-e>pwd<CR>");
    assert!(r.submits.iter().all(|s| !s.certain));
}

#[rstest]
#[case::plain("ls<Left>\r", b"\x11\x07\x05\x15")]
#[case::after_ctrl_x("ls<C-x>\r", b"\x11\x07\x05\x15")]
#[case::after_quote("ls<C-v>\r", b"\x11\x07\x05\x15")]
#[case::edit_and_execute("ls<C-x><C-e>", b"\x11\x07\x05\x15")]
#[case::meta_enter("ls<M-CR>", b"\x11\x07\x05\x15")]
#[case::insert_comment("ls<M-#>", b"\x11\x07\x05\x15")]
#[case::extended("ls\x1b[13u", b"\x11\x07\x05\x15")]
fn denied_aborts_whatever_is_pending_then_discards_the_line(
    #[case] input: &str,
    #[case] expected: &[u8],
) {
    let mut r = Reconstructor::new();
    let mut denied = None;
    for &b in &keys(input) {
        if let ByteAction::Submit(_) = r.push(b) {
            denied = Some(r.denied());
        }
    }
    assert_eq!(denied.as_deref(), Some(expected));
    assert_eq!(r.line(), "");
    // The next line is modelled from scratch (the prefix was aborted).
    let mut r = crate::support::replay_into(r, b"id");
    assert_eq!(r.line, "id");
    assert!(matches!(r.reconstructor.push(b'\r'), ByteAction::Submit(s) if s.line == "id"));
}
