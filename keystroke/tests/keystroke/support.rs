//! Key notation and replay helpers.
//!
//! Notation: plain text is typed as is; `<name>` is a key: `<C-a>`..`<C-z>`, `<C-_>`, `<C-]>`,
//! `<M-x>` (ESC then x), `<M-DEL>`, `<M-C-h>`, `<DEL>`, `<ESC>`, `<CR>`, `<LF>`, `<Tab>`,
//! cursor keys `<Left>` `<Right>` `<Up>` `<Down>` `<Home>` `<End>` `<Delete>` `<CtrlDelete>` `<Insert>`,
//! application-mode `<OLeft>` `<ORight>` `<OHome>` `<OEnd>`, `<CtrlLeft>` `<CtrlRight>`,
//! `<AltLeft>` `<AltRight>`, `<PasteStart>` `<PasteEnd>`. `<<`, or a `<` that opens no known
//! key name, is a literal `<`.

use sshgate_keystroke::{ByteAction, Reconstructor, Submit};

pub fn keys(notation: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = notation;
    while let Some(start) = rest.find('<') {
        out.extend_from_slice(&rest.as_bytes()[..start]);
        rest = &rest[start + 1..];
        if let Some(after) = rest.strip_prefix('<') {
            out.push(b'<');
            rest = after;
            continue;
        }
        // A `<` that does not open a known key name is typed as itself (e.g. `ESC [ <`).
        match rest
            .find('>')
            .and_then(|end| Some((end, key(&rest[..end])?)))
        {
            Some((end, bytes)) => {
                out.extend_from_slice(&bytes);
                rest = &rest[end + 1..];
            }
            None => out.push(b'<'),
        }
    }
    out.extend_from_slice(rest.as_bytes());
    out
}

fn key(name: &str) -> Option<Vec<u8>> {
    let fixed: &[u8] = match name {
        "DEL" => b"\x7f",
        "ESC" => b"\x1b",
        "CR" => b"\r",
        "LF" => b"\n",
        "Tab" => b"\t",
        "M-DEL" => b"\x1b\x7f",
        "M-C-h" => b"\x1b\x08",
        "M-CR" => b"\x1b\r",
        "M-LF" => b"\x1b\n",
        "Left" => b"\x1b[D",
        "Right" => b"\x1b[C",
        "Up" => b"\x1b[A",
        "Down" => b"\x1b[B",
        "Home" => b"\x1b[H",
        "End" => b"\x1b[F",
        "Delete" => b"\x1b[3~",
        "CtrlDelete" => b"\x1b[3;5~",
        "Insert" => b"\x1b[2~",
        "OLeft" => b"\x1bOD",
        "ORight" => b"\x1bOC",
        "OHome" => b"\x1bOH",
        "OEnd" => b"\x1bOF",
        "CtrlLeft" => b"\x1b[1;5D",
        "CtrlRight" => b"\x1b[1;5C",
        "AltLeft" => b"\x1b[1;3D",
        "AltRight" => b"\x1b[1;3C",
        "PasteStart" => b"\x1b[200~",
        "PasteEnd" => b"\x1b[201~",
        _ => b"",
    };
    if !fixed.is_empty() {
        return Some(fixed.to_vec());
    }
    if let Some(&[c]) = name.strip_prefix("C-").map(str::as_bytes) {
        return Some(vec![c.to_ascii_uppercase() ^ 0x40]);
    }
    if let Some(&[c]) = name.strip_prefix("M-").map(str::as_bytes) {
        return Some(vec![0x1b, c]);
    }
    None
}

/// Everything a replay observed.
#[derive(Debug)]
pub struct Replay {
    pub submits: Vec<Submit>,
    pub interrupts: usize,
    pub line: String,
    pub certain: bool,
    pub reconstructor: Reconstructor,
}

/// Feeds `bytes` to `r`, accepting every submit.
pub fn replay_into(mut r: Reconstructor, bytes: &[u8]) -> Replay {
    let mut submits = Vec::new();
    let mut interrupts = 0;
    for &b in bytes {
        match r.push(b) {
            ByteAction::Forward | ByteAction::Discard => {}
            ByteAction::Interrupt => interrupts += 1,
            ByteAction::Submit(s) => {
                submits.push(s);
                r.accepted();
            }
        }
    }
    Replay {
        submits,
        interrupts,
        line: r.line(),
        certain: r.certain(),
        reconstructor: r,
    }
}

pub fn replay(notation: &str) -> Replay {
    replay_into(Reconstructor::new(), &keys(notation))
}

/// Types `notation` (which must not submit) and returns the line and its certainty.
pub fn edit(notation: &str) -> (String, bool) {
    let r = replay(notation);
    assert!(
        r.submits.is_empty(),
        "{notation:?} submitted {:?}",
        r.submits
    );
    (r.line, r.certain)
}
