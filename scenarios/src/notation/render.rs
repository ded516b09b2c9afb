//! Bytes to notation: text as text, known sequences as `<Name>`, the rest escaped; every
//! name is parsed back before use so that rendering never breaks the round trip.

use std::sync::OnceLock;

use super::keys::*;
use super::{parse, ESC};

/// A canonical notation for `bytes`: text as text, control bytes and known key sequences as
/// `<Name>`, bytes that are not UTF-8 as `\xNN`.
pub fn render(bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut rest = bytes;
    while let Some(&first) = rest.first() {
        let sequence = if first == ESC {
            escape_sequence(rest)
        } else {
            None
        };
        let used = match sequence {
            Some((token, used)) => {
                out.push_str(&token);
                used
            }
            None => render_char(rest, &mut out),
        };
        rest = rest.get(used..).unwrap_or_default();
    }
    out
}

/// Renders the first char of `bytes` (or its first byte, if that starts no valid UTF-8 char);
/// returns how many bytes it used.
pub(super) fn render_char(bytes: &[u8], out: &mut String) -> usize {
    let decoded = (1..=bytes.len().min(4)).find_map(|width| {
        std::str::from_utf8(bytes.get(..width)?)
            .ok()?
            .chars()
            .next()
    });
    let Some(c) = decoded else {
        let byte = bytes.first().copied().unwrap_or_default();
        out.push_str(&format!("\\x{byte:02x}"));
        return 1;
    };
    match (c, control_name(c)) {
        (_, Some(name)) => out.push_str(&format!("<{name}>")),
        ('<', None) => out.push_str("<lt>"),
        ('\\', None) => out.push_str("\\\\"),
        _ if is_invisible(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
        _ => out.push(c),
    }
    c.len_utf8()
}

/// The name inside `<...>` for a C0 control or DEL.
pub(super) fn control_name(c: char) -> Option<String> {
    let name = match c {
        '\r' => "Enter".to_owned(),
        '\n' => "LF".to_owned(),
        '\t' => "Tab".to_owned(),
        '\x1b' => "Esc".to_owned(),
        '\x7f' => "BS".to_owned(),
        '\0' => "NUL".to_owned(),
        '\x01'..='\x1f' => {
            let key = char::from_u32(u32::from(c) + 0x60).filter(char::is_ascii_lowercase);
            // 0x1c..0x1f have punctuation names rather than letters.
            let key = key.unwrap_or(match c {
                '\x1c' => '\\',
                '\x1d' => ']',
                '\x1e' => '^',
                _ => '_',
            });
            format!("C-{key}")
        }
        _ => return None,
    };
    Some(name)
}

/// Characters that would be invisible or misleading as text in a scenario file, including the
/// bidirectional overrides used to hide code ("Trojan Source").
pub(super) fn is_invisible(c: char) -> bool {
    c.is_control()
        || (c.is_whitespace() && c != ' ')
        || matches!(
            c,
            '\u{ad}'
                | '\u{34f}'
                | '\u{61c}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2060}'..='\u{206f}'
                | '\u{fe00}'..='\u{fe0f}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
        )
}

/// The best `<Name>` for the escape sequence at the start of `bytes`, with the number of bytes it
/// stands for. Every candidate is parsed back and kept only if it gives exactly those bytes.
pub(super) fn escape_sequence(bytes: &[u8]) -> Option<(String, usize)> {
    let candidates = [
        csi_reply(bytes),
        osc(bytes),
        x10_mouse(bytes),
        table_key(bytes),
        meta(bytes),
    ];
    let mut best: Option<(String, usize)> = None;
    for (token, used) in candidates.into_iter().flatten() {
        let exact = parse(&token).ok().as_deref() == bytes.get(..used);
        if exact && best.as_ref().is_none_or(|(_, best_used)| used > *best_used) {
            best = Some((token, used));
        }
    }
    best
}

/// Every named-key sequence `render` knows, built once with the same encoder `parse` uses.
pub(super) fn key_table() -> &'static [(String, Vec<u8>)] {
    static TABLE: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = Vec::new();
        for name in RENDERED_KEYS {
            let Some(key) = Key::from_name(name) else {
                continue;
            };
            for bits in 0..8u8 {
                let mods = Mods {
                    ctrl: bits & 4 != 0,
                    meta: bits & 2 != 0,
                    shift: bits & 1 != 0,
                };
                if let Ok(bytes) = key.encode(mods, None) {
                    table.push((format!("<{}{name}>", mods.prefix()), bytes));
                }
            }
            for encoding in ["app", "tmux", "rxvt"] {
                if let Ok(bytes) = key.encode(Mods::default(), Some(encoding)) {
                    table.push((format!("<{name}:{encoding}>"), bytes));
                }
            }
        }
        table
    })
}

pub(super) fn table_key(bytes: &[u8]) -> Option<(String, usize)> {
    key_table()
        .iter()
        .filter(|(_, sequence)| bytes.starts_with(sequence))
        .max_by_key(|(_, sequence)| sequence.len())
        .map(|(token, sequence)| (token.clone(), sequence.len()))
}

/// Extended keys and terminal replies: `CSI [?><] params final`.
pub(super) fn csi_reply(bytes: &[u8]) -> Option<(String, usize)> {
    let body = bytes.strip_prefix(b"\x1b[")?;
    let prefix = body.first().copied().filter(|b| b"?><".contains(b));
    let params_start = usize::from(prefix.is_some());
    let params_len = body
        .get(params_start..)?
        .iter()
        .take_while(|b| b.is_ascii_digit() || **b == b';')
        .count();
    let params = std::str::from_utf8(body.get(params_start..params_start + params_len)?).ok()?;
    let final_byte = *body.get(params_start + params_len)?;
    let fields: Vec<&str> = params.split(';').collect();
    let token = match (prefix, final_byte, fields.as_slice()) {
        (None, b'R', [row, column]) => format!("<CPR {row} {column}>"),
        (None, b'u', [code]) => format!("<CSIu {code}>"),
        (None, b'u', [code, modifier]) => format!("<CSIu {code} {modifier}>"),
        (None, b'~', ["27", modifier, code]) => format!("<Key27 {modifier} {code}>"),
        (Some(b'?'), b'c', _) if !params.is_empty() => format!("<DA1 {params}>"),
        (Some(b'>'), b'c', _) if !params.is_empty() => format!("<DA2 {params}>"),
        (Some(b'<'), b'M' | b'm', [button, x, y]) => {
            format!("<SGRMouse {button} {x} {y} {}>", char::from(final_byte))
        }
        _ => return None,
    };
    Some((token, 2 + params_start + params_len + 1))
}

/// `ESC ] payload BEL` or `ESC ] payload ESC \`, when the payload is plain ASCII without `>`.
pub(super) fn osc(bytes: &[u8]) -> Option<(String, usize)> {
    let body = bytes.strip_prefix(b"\x1b]")?;
    let len = body
        .iter()
        .take_while(|&&b| (b' '..=b'~').contains(&b) && b != b'>')
        .count();
    let payload = std::str::from_utf8(body.get(..len)?).ok()?;
    let rest = body.get(len..)?;
    if rest.starts_with(b"\x07") {
        Some((format!("<OSC {payload}>"), 2 + len + 1))
    } else if rest.starts_with(b"\x1b\\") {
        Some((format!("<OSC-ST {payload}>"), 2 + len + 2))
    } else {
        None
    }
}

pub(super) fn x10_mouse(bytes: &[u8]) -> Option<(String, usize)> {
    match bytes {
        [ESC, b'[', b'M', button, x, y, ..] => {
            let [button, x, y] = [button, x, y].map(|b| b.checked_sub(32));
            Some((format!("<X10Mouse {} {} {}>", button?, x?, y?), 6))
        }
        _ => None,
    }
}

/// ESC followed by a key is how terminals send Meta; ESC followed by a byte that introduces a
/// control sequence is left as `<Esc>` so the sequence stays recognisable.
pub(super) fn meta(bytes: &[u8]) -> Option<(String, usize)> {
    let &next = bytes.get(1)?;
    let c = char::from(next);
    let name = match next {
        ESC => return None,
        0x00..=0x1f | 0x7f => control_name(c)?,
        b' ' => "Space".to_owned(),
        b'[' | b']' | b'O' | b'P' | b'X' | b'\\' | b'^' | b'_' => return None,
        b'!'..=b'~' => c.to_string(),
        _ => return None,
    };
    Some((format!("<M-{name}>"), 2))
}
