//! The key notation scenarios are written in: readable text such as `echo hi<Left><C-w><Enter>`
//! that stands for the exact bytes a terminal would send. [`parse`] turns notation into bytes and
//! [`render`] turns any bytes back into notation. Invariant: `parse(&render(bytes)) == Ok(bytes)`
//! for every byte string, so a captured input stream can be pasted into a scenario and replays
//! byte for byte; `render` only writes a `<Name>` for a sequence after checking that parsing the
//! name gives back exactly those bytes.

use std::sync::OnceLock;

const ESC: u8 = 0x1b;

/// Where and why a piece of notation could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct NotationError {
    /// 1-based line of the character where the problem starts.
    pub line: usize,
    /// 1-based column of that character, counted in chars rather than bytes.
    pub column: usize,
    pub message: String,
}

/// Turn notation into the bytes a terminal would send.
pub fn parse(text: &str) -> Result<Vec<u8>, NotationError> {
    Parser::new(text).run()
}

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

/// Modifiers written as `C-`, `M-` and `S-` prefixes inside `<...>`.
#[derive(Debug, Clone, Copy, Default)]
struct Mods {
    ctrl: bool,
    meta: bool,
    shift: bool,
}

impl Mods {
    fn is_empty(self) -> bool {
        !(self.ctrl || self.meta || self.shift)
    }

    /// The xterm modifier parameter: 1 + (shift 1, alt 2, ctrl 4).
    fn xterm_param(self) -> u8 {
        1 + u8::from(self.shift) + 2 * u8::from(self.meta) + 4 * u8::from(self.ctrl)
    }

    /// Records the modifier named by `c`, or says it names none.
    fn add(&mut self, c: char) -> bool {
        match c.to_ascii_uppercase() {
            'C' => self.ctrl = true,
            'M' => self.meta = true,
            'S' => self.shift = true,
            _ => return false,
        }
        true
    }

    /// The prefix `render` writes, in the fixed order C, M, S.
    fn prefix(self) -> String {
        [(self.ctrl, "C-"), (self.meta, "M-"), (self.shift, "S-")]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, text)| *text)
            .collect()
    }
}

/// A named key and the family of encodings it belongs to.
#[derive(Debug, Clone, Copy)]
enum Key {
    /// Sends one byte; Meta puts ESC in front.
    Byte(u8),
    /// Arrow keys: `CSI x`, `SS3 x` in application mode, `CSI 1;m x` with modifiers.
    Cursor(u8),
    /// Home and End: like arrows, plus the tmux/screen and rxvt `CSI n ~` forms.
    HomeEnd { letter: u8, tmux: u8, rxvt: u8 },
    /// Editing and function keys sent as `CSI n ~`, `CSI n;m ~` with modifiers.
    Tilde(u8),
    /// F1..F4: `SS3 x`, `CSI 1;m x` with modifiers.
    Ss3(u8),
    /// A fixed sequence that takes no modifiers.
    Fixed(&'static [u8]),
}

/// Canonical names of the keys `render` recognises inside escape sequences.
const RENDERED_KEYS: [&str; 27] = [
    "Up", "Down", "Right", "Left", "Home", "End", "Ins", "Del", "PgUp", "PgDn", "F1", "F2", "F3",
    "F4", "F5", "F6", "F7", "F8", "F9", "F10", "F11", "F12", "BackTab", "Paste", "/Paste",
    "FocusIn", "FocusOut",
];

impl Key {
    fn from_name(name: &str) -> Option<Key> {
        let key = match name.to_ascii_lowercase().as_str() {
            "enter" | "return" => Key::Byte(b'\r'),
            "lf" => Key::Byte(b'\n'),
            "tab" => Key::Byte(b'\t'),
            "esc" => Key::Byte(ESC),
            "bs" => Key::Byte(0x7f),
            "space" => Key::Byte(b' '),
            "lt" => Key::Byte(b'<'),
            "nul" => Key::Byte(0),
            "up" => Key::Cursor(b'A'),
            "down" => Key::Cursor(b'B'),
            "right" => Key::Cursor(b'C'),
            "left" => Key::Cursor(b'D'),
            "home" => Key::HomeEnd {
                letter: b'H',
                tmux: 1,
                rxvt: 7,
            },
            "end" => Key::HomeEnd {
                letter: b'F',
                tmux: 4,
                rxvt: 8,
            },
            "ins" | "insert" => Key::Tilde(2),
            "del" | "delete" => Key::Tilde(3),
            "pgup" | "pageup" => Key::Tilde(5),
            "pgdn" | "pagedown" => Key::Tilde(6),
            "f1" => Key::Ss3(b'P'),
            "f2" => Key::Ss3(b'Q'),
            "f3" => Key::Ss3(b'R'),
            "f4" => Key::Ss3(b'S'),
            "f5" => Key::Tilde(15),
            "f6" => Key::Tilde(17),
            "f7" => Key::Tilde(18),
            "f8" => Key::Tilde(19),
            "f9" => Key::Tilde(20),
            "f10" => Key::Tilde(21),
            "f11" => Key::Tilde(23),
            "f12" => Key::Tilde(24),
            "backtab" => Key::Fixed(b"\x1b[Z"),
            "paste" => Key::Fixed(b"\x1b[200~"),
            "/paste" => Key::Fixed(b"\x1b[201~"),
            "focusin" => Key::Fixed(b"\x1b[I"),
            "focusout" => Key::Fixed(b"\x1b[O"),
            _ => return None,
        };
        Some(key)
    }

    /// The bytes for this key; the error message says why the combination has no encoding.
    fn encode(self, mods: Mods, encoding: Option<&str>) -> Result<Vec<u8>, String> {
        if let Some(encoding) = encoding {
            return self.encode_variant(mods, encoding);
        }
        let param = mods.xterm_param();
        match self {
            Key::Byte(byte) => encode_byte_key(byte, mods),
            Key::Cursor(letter) | Key::HomeEnd { letter, .. } | Key::Ss3(letter) if param > 1 => {
                Ok(format!("\x1b[1;{param}{}", char::from(letter)).into_bytes())
            }
            Key::Cursor(letter) | Key::HomeEnd { letter, .. } => Ok(vec![ESC, b'[', letter]),
            Key::Ss3(letter) => Ok(vec![ESC, b'O', letter]),
            Key::Tilde(code) => Ok(tilde(code, param)),
            Key::Fixed(bytes) if mods.is_empty() => Ok(bytes.to_vec()),
            Key::Fixed(_) => Err("this key takes no modifiers".to_owned()),
        }
    }

    /// The `:app`, `:tmux` and `:rxvt` encodings other terminals and modes use.
    fn encode_variant(self, mods: Mods, encoding: &str) -> Result<Vec<u8>, String> {
        if !mods.is_empty() {
            return Err("an encoding suffix cannot be combined with modifiers".to_owned());
        }
        match (self, encoding.to_ascii_lowercase().as_str()) {
            (Key::Cursor(letter) | Key::HomeEnd { letter, .. }, "app") => {
                Ok(vec![ESC, b'O', letter])
            }
            (Key::HomeEnd { tmux, .. }, "tmux") => Ok(tilde(tmux, 1)),
            (Key::HomeEnd { rxvt, .. }, "rxvt") => Ok(tilde(rxvt, 1)),
            (_, "app") => Err("`:app` applies to Up, Down, Right, Left, Home and End".to_owned()),
            (_, "tmux" | "rxvt") => Err(format!("`:{encoding}` applies to Home and End")),
            _ => Err(format!(
                "unknown encoding `:{encoding}`; expected `:app`, `:tmux` or `:rxvt`"
            )),
        }
    }
}

fn tilde(code: u8, param: u8) -> Vec<u8> {
    if param > 1 {
        format!("\x1b[{code};{param}~").into_bytes()
    } else {
        format!("\x1b[{code}~").into_bytes()
    }
}

fn encode_byte_key(byte: u8, mods: Mods) -> Result<Vec<u8>, String> {
    if mods.shift {
        // Shift-Tab is the one single-byte key terminals encode differently when shifted.
        return if byte == b'\t' && !mods.ctrl && !mods.meta {
            Ok(b"\x1b[Z".to_vec())
        } else {
            Err("Shift applies to Tab and to named keys such as Left".to_owned())
        };
    }
    let byte = match (mods.ctrl, byte) {
        (false, _) => byte,
        (true, b' ') => 0,
        (true, _) => {
            return Err("Ctrl applies to Space and to single characters, as in `<C-a>`".to_owned())
        }
    };
    Ok(meta_prefixed(mods.meta, &[byte]))
}

fn meta_prefixed(meta: bool, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 1);
    if meta {
        out.push(ESC);
    }
    out.extend_from_slice(bytes);
    out
}

/// The byte Ctrl plus `c` sends, as in the ASCII control-key convention.
fn control_byte(c: char) -> Option<u8> {
    match c.to_ascii_lowercase() {
        letter @ 'a'..='z' => u8::try_from(letter).ok().map(|b| b & 0x1f),
        '@' => Some(0),
        '[' => Some(0x1b),
        '\\' => Some(0x1c),
        ']' => Some(0x1d),
        '^' => Some(0x1e),
        '_' => Some(0x1f),
        '?' => Some(0x7f),
        _ => None,
    }
}

/// The keys whose `<Name ...>` carries arguments: extended keys and terminal replies.
#[derive(Debug, Clone, Copy)]
enum ArgKey {
    CsiU,
    Key27,
    Cpr,
    Da1,
    Da2,
    Osc,
    OscSt,
    SgrMouse,
    X10Mouse,
}

impl ArgKey {
    fn from_name(name: &str) -> Option<ArgKey> {
        let key = match name.to_ascii_lowercase().as_str() {
            "csiu" => ArgKey::CsiU,
            "key27" => ArgKey::Key27,
            "cpr" => ArgKey::Cpr,
            "da1" => ArgKey::Da1,
            "da2" => ArgKey::Da2,
            "osc" => ArgKey::Osc,
            "osc-st" => ArgKey::OscSt,
            "sgrmouse" => ArgKey::SgrMouse,
            "x10mouse" => ArgKey::X10Mouse,
            _ => return None,
        };
        Some(key)
    }

    fn usage(self) -> &'static str {
        match self {
            ArgKey::CsiU => "`<CSIu codepoint>` or `<CSIu codepoint modifier>`",
            ArgKey::Key27 => "`<Key27 modifier codepoint>`",
            ArgKey::Cpr => "`<CPR row column>`",
            ArgKey::Da1 => "`<DA1 64;1;2>`",
            ArgKey::Da2 => "`<DA2 41;354;0>`",
            ArgKey::Osc => "`<OSC 11;rgb:0000/0000/0000>`",
            ArgKey::OscSt => "`<OSC-ST 11;rgb:0000/0000/0000>`",
            ArgKey::SgrMouse => "`<SGRMouse button x y M>` (or `m` for a release)",
            ArgKey::X10Mouse => "`<X10Mouse button x y>`",
        }
    }
}

/// Reads notation left to right; positions are kept per char so errors can point at a column.
struct Parser {
    chars: Vec<char>,
    /// `(line, column)` of each char, plus one entry for the end of input.
    positions: Vec<(usize, usize)>,
    out: Vec<u8>,
}

impl Parser {
    fn new(text: &str) -> Self {
        let chars: Vec<char> = text.chars().collect();
        let mut positions = Vec::with_capacity(chars.len() + 1);
        let (mut line, mut column) = (1, 1);
        for &c in &chars {
            positions.push((line, column));
            if c == '\n' {
                (line, column) = (line + 1, 1);
            } else {
                column += 1;
            }
        }
        positions.push((line, column));
        Self {
            chars,
            positions,
            out: Vec::new(),
        }
    }

    fn run(mut self) -> Result<Vec<u8>, NotationError> {
        let mut i = 0;
        while let Some(&c) = self.chars.get(i) {
            i = match c {
                '\\' => self.escape(i)?,
                '<' => self.key(i)?,
                _ => {
                    push_utf8(&mut self.out, c);
                    i + 1
                }
            };
        }
        Ok(self.out)
    }

    fn error(&self, at: usize, message: impl Into<String>) -> NotationError {
        let (line, column) = self.positions.get(at).copied().unwrap_or((1, 1));
        NotationError {
            line,
            column,
            message: message.into(),
        }
    }

    fn text(&self, from: usize, to: usize) -> String {
        self.chars
            .get(from..to)
            .unwrap_or_default()
            .iter()
            .collect()
    }

    /// Reads the escape starting with the backslash at `at`; returns where the next token starts.
    fn escape(&mut self, at: usize) -> Result<usize, NotationError> {
        let Some(&c) = self.chars.get(at + 1) else {
            return Err(self.error(at, "lone `\\` at the end; write `\\\\` for a backslash"));
        };
        let byte = match c {
            '\\' => b'\\',
            '<' => b'<',
            'r' => b'\r',
            'n' => b'\n',
            't' => b'\t',
            'e' => ESC,
            'x' => return self.hex_byte(at),
            'u' => return self.unicode(at),
            other => {
                let message = format!("unknown escape `\\{other}`; write `\\\\` for a backslash");
                return Err(self.error(at, message));
            }
        };
        self.out.push(byte);
        Ok(at + 2)
    }

    fn hex_byte(&mut self, at: usize) -> Result<usize, NotationError> {
        let digits = (self.chars.get(at + 2), self.chars.get(at + 3));
        let byte = match digits {
            (Some(high), Some(low)) => high.to_digit(16).zip(low.to_digit(16)),
            _ => None,
        };
        match byte.and_then(|(high, low)| u8::try_from(high * 16 + low).ok()) {
            Some(byte) => {
                self.out.push(byte);
                Ok(at + 4)
            }
            None => Err(self.error(at, "`\\x` needs exactly two hex digits, as in `\\x1b`")),
        }
    }

    fn unicode(&mut self, at: usize) -> Result<usize, NotationError> {
        let bad = || {
            self.error(
                at,
                "`\\u` needs a Unicode scalar value in hex, as in `\\u{1F600}`",
            )
        };
        if self.chars.get(at + 2) != Some(&'{') {
            return Err(bad());
        }
        let digits_start = at + 3;
        let close = (digits_start..self.chars.len())
            .take(7)
            .find(|&i| self.chars.get(i) == Some(&'}'))
            .ok_or_else(bad)?;
        let digits = self.text(digits_start, close);
        let c = u32::from_str_radix(&digits, 16)
            .ok()
            .filter(|_| !digits.is_empty() && digits.chars().all(|d| d.is_ascii_hexdigit()))
            .and_then(char::from_u32)
            .ok_or_else(bad)?;
        push_utf8(&mut self.out, c);
        Ok(close + 1)
    }

    /// Reads the `<...>` starting at `open`; returns where the next token starts.
    fn key(&mut self, open: usize) -> Result<usize, NotationError> {
        let mut mods = Mods::default();
        let mut i = open + 1;
        loop {
            // After a modifier, one char right before `>` is the key itself, whatever it is:
            // this is what lets `<M->>`, `<C-\>` and `<M-<>` be written.
            if !mods.is_empty() && self.chars.get(i + 1) == Some(&'>') {
                if let Some(&c) = self.chars.get(i) {
                    let bytes = single_char(c, mods).map_err(|message| {
                        self.error(open, self.in_token(open, i + 2, &message))
                    })?;
                    self.out.extend_from_slice(&bytes);
                    return Ok(i + 2);
                }
            }
            match (self.chars.get(i), self.chars.get(i + 1)) {
                (Some(&m), Some('-')) if mods.add(m) => i += 2,
                _ => break,
            }
        }
        let close = (i..self.chars.len())
            .find(|&j| matches!(self.chars.get(j), Some('>' | '\n')))
            .filter(|&j| self.chars.get(j) == Some(&'>'))
            .ok_or_else(|| {
                self.error(
                    open,
                    "unterminated `<` (no `>` on this line); write `\\<` for a literal `<`",
                )
            })?;
        let bytes = self.named(open, i, close, mods)?;
        self.out.extend_from_slice(&bytes);
        Ok(close + 1)
    }

    fn in_token(&self, open: usize, end: usize, message: &str) -> String {
        format!("`{}`: {message}", self.text(open, end))
    }

    /// Encodes the name (and arguments) between `start` and the `>` at `close`.
    fn named(
        &self,
        open: usize,
        start: usize,
        close: usize,
        mods: Mods,
    ) -> Result<Vec<u8>, NotationError> {
        let content = self.text(start, close);
        let token_error = |message: &str| self.error(open, self.in_token(open, close + 1, message));
        let (word, args) = match content.split_once(' ') {
            Some((word, args)) => (word, Some(args)),
            None => (content.as_str(), None),
        };
        if let Some(kind) = ArgKey::from_name(word) {
            if !mods.is_empty() {
                return Err(token_error("modifiers do not apply to this key"));
            }
            let Some(args) = args else {
                return Err(token_error(&format!(
                    "needs arguments, as in {}",
                    kind.usage()
                )));
            };
            let args_start = start + word.chars().count() + 1;
            return self.with_args(open, close, kind, args, args_start);
        }
        let (name, encoding) = match word.split_once(':') {
            Some((name, encoding)) => (name, Some(encoding)),
            None => (word, None),
        };
        let Some(key) = Key::from_name(name) else {
            let message = format!(
                "unknown key `{}`; write `\\<` for a literal `<`",
                self.text(open, close + 1)
            );
            return Err(self.error(open, message));
        };
        if args.is_some() {
            return Err(token_error("this key takes no arguments"));
        }
        key.encode(mods, encoding)
            .map_err(|message| token_error(&message))
    }

    fn with_args(
        &self,
        open: usize,
        close: usize,
        kind: ArgKey,
        args: &str,
        args_start: usize,
    ) -> Result<Vec<u8>, NotationError> {
        let usage_error = || {
            let message = format!("expected {}", kind.usage());
            self.error(open, self.in_token(open, close + 1, &message))
        };
        let words = split_words(args, args_start);
        let numbers = |count: usize, max: u32| -> Result<Vec<u32>, NotationError> {
            let words = words.get(..count).ok_or_else(usage_error)?;
            words
                .iter()
                .map(|&(at, word)| self.number(at, word, max))
                .collect()
        };
        let bytes = match kind {
            ArgKey::CsiU => match numbers(words.len(), u32::MAX)?.as_slice() {
                [code] => format!("\x1b[{code}u"),
                [code, modifier] => format!("\x1b[{code};{modifier}u"),
                _ => return Err(usage_error()),
            },
            ArgKey::Key27 if words.len() == 2 => match numbers(2, u32::MAX)?.as_slice() {
                [modifier, code] => format!("\x1b[27;{modifier};{code}~"),
                _ => return Err(usage_error()),
            },
            ArgKey::Cpr if words.len() == 2 => match numbers(2, u32::MAX)?.as_slice() {
                [row, column] => format!("\x1b[{row};{column}R"),
                _ => return Err(usage_error()),
            },
            ArgKey::Da1 | ArgKey::Da2 => {
                if !args.chars().all(|c| c.is_ascii_digit() || c == ';') {
                    let message = format!("parameters `{args}` may hold only digits and `;`");
                    return Err(self.error(args_start, message));
                }
                let prefix = if matches!(kind, ArgKey::Da1) {
                    '?'
                } else {
                    '>'
                };
                format!("\x1b[{prefix}{args}c")
            }
            ArgKey::Osc => format!("\x1b]{args}\x07"),
            ArgKey::OscSt => format!("\x1b]{args}\x1b\\"),
            ArgKey::SgrMouse if words.len() == 4 => {
                let action = match words.get(3) {
                    Some(&(_, action @ ("M" | "m"))) => action,
                    Some(&(at, other)) => {
                        let message =
                            format!("expected `M` (press) or `m` (release), not `{other}`");
                        return Err(self.error(at, message));
                    }
                    None => return Err(usage_error()),
                };
                match numbers(3, u32::MAX)?.as_slice() {
                    [button, x, y] => format!("\x1b[<{button};{x};{y}{action}"),
                    _ => return Err(usage_error()),
                }
            }
            ArgKey::X10Mouse if words.len() == 3 => {
                // X10 sends each value plus 32 as one raw byte, so 223 is the largest it can carry.
                let mut bytes = b"\x1b[M".to_vec();
                for value in numbers(3, 223)? {
                    bytes.extend(u8::try_from(value + 32).ok());
                }
                return Ok(bytes);
            }
            _ => return Err(usage_error()),
        };
        Ok(bytes.into_bytes())
    }

    fn number(&self, at: usize, word: &str, max: u32) -> Result<u32, NotationError> {
        word.parse::<u32>()
            .ok()
            .filter(|&n| n <= max && word.chars().all(|c| c.is_ascii_digit()))
            .ok_or_else(|| {
                self.error(
                    at,
                    format!("bad number `{word}`: expected a decimal number up to {max}"),
                )
            })
    }
}

/// Space-separated words of `args` with the index of their first char (`start` is the index of
/// the first char of `args`).
fn split_words(args: &str, start: usize) -> Vec<(usize, &str)> {
    let mut at = start;
    let mut words = Vec::new();
    for word in args.split(' ') {
        if !word.is_empty() {
            words.push((at, word));
        }
        at += word.chars().count() + 1;
    }
    words
}

fn single_char(c: char, mods: Mods) -> Result<Vec<u8>, String> {
    if mods.shift {
        return Err(
            "Shift applies to named keys such as `<S-Left>`; write the shifted character itself"
                .to_owned(),
        );
    }
    if mods.ctrl {
        let byte = control_byte(c).ok_or("no control code for this character")?;
        return Ok(meta_prefixed(mods.meta, &[byte]));
    }
    let mut utf8 = [0; 4];
    Ok(meta_prefixed(
        mods.meta,
        c.encode_utf8(&mut utf8).as_bytes(),
    ))
}

fn push_utf8(out: &mut Vec<u8>, c: char) {
    let mut utf8 = [0; 4];
    out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
}

/// Renders the first char of `bytes` (or its first byte, if that starts no valid UTF-8 char);
/// returns how many bytes it used.
fn render_char(bytes: &[u8], out: &mut String) -> usize {
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
fn control_name(c: char) -> Option<String> {
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
fn is_invisible(c: char) -> bool {
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
fn escape_sequence(bytes: &[u8]) -> Option<(String, usize)> {
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
fn key_table() -> &'static [(String, Vec<u8>)] {
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

fn table_key(bytes: &[u8]) -> Option<(String, usize)> {
    key_table()
        .iter()
        .filter(|(_, sequence)| bytes.starts_with(sequence))
        .max_by_key(|(_, sequence)| sequence.len())
        .map(|(token, sequence)| (token.clone(), sequence.len()))
}

/// Extended keys and terminal replies: `CSI [?><] params final`.
fn csi_reply(bytes: &[u8]) -> Option<(String, usize)> {
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
fn osc(bytes: &[u8]) -> Option<(String, usize)> {
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

fn x10_mouse(bytes: &[u8]) -> Option<(String, usize)> {
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
fn meta(bytes: &[u8]) -> Option<(String, usize)> {
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
