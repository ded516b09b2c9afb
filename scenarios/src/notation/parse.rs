//! Notation to bytes: a left-to-right reader that keeps each char's position for errors.

use super::keys::*;
use super::{NotationError, ESC};

/// Reads notation left to right; positions are kept per char so errors can point at a column.
pub(super) struct Parser {
    chars: Vec<char>,
    /// `(line, column)` of each char, plus one entry for the end of input.
    positions: Vec<(usize, usize)>,
    out: Vec<u8>,
}

impl Parser {
    pub(super) fn new(text: &str) -> Self {
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

    pub(super) fn run(mut self) -> Result<Vec<u8>, NotationError> {
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

    pub(super) fn error(&self, at: usize, message: impl Into<String>) -> NotationError {
        let (line, column) = self.positions.get(at).copied().unwrap_or((1, 1));
        NotationError {
            line,
            column,
            message: message.into(),
        }
    }

    pub(super) fn text(&self, from: usize, to: usize) -> String {
        self.chars
            .get(from..to)
            .unwrap_or_default()
            .iter()
            .collect()
    }

    /// Reads the escape starting with the backslash at `at`; returns where the next token starts.
    pub(super) fn escape(&mut self, at: usize) -> Result<usize, NotationError> {
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

    pub(super) fn hex_byte(&mut self, at: usize) -> Result<usize, NotationError> {
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

    pub(super) fn unicode(&mut self, at: usize) -> Result<usize, NotationError> {
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
    pub(super) fn key(&mut self, open: usize) -> Result<usize, NotationError> {
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

    pub(super) fn in_token(&self, open: usize, end: usize, message: &str) -> String {
        format!("`{}`: {message}", self.text(open, end))
    }

    /// Encodes the name (and arguments) between `start` and the `>` at `close`.
    pub(super) fn named(
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

    pub(super) fn with_args(
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

    pub(super) fn number(&self, at: usize, word: &str, max: u32) -> Result<u32, NotationError> {
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
pub(super) fn split_words(args: &str, start: usize) -> Vec<(usize, &str)> {
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

pub(super) fn single_char(c: char, mods: Mods) -> Result<Vec<u8>, String> {
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

pub(super) fn push_utf8(out: &mut Vec<u8>, c: char) {
    let mut utf8 = [0; 4];
    out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
}
