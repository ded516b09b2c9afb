//! One record as one line of the audit file, and the hash chain that links the lines.
//!
//! A line is a JSON object: `seq` (0 for the first line of a file, one more on each line),
//! `time` (RFC 3339, UTC), `prev` (the SHA-256, in hex, of the previous line's bytes without
//! its newline; 64 zeros on the first line), then the record's `type` and fields.
//!
//! Invariant: a line holds no character that can end it or move a terminal's cursor. JSON
//! strings escape only U+0000 to U+001F, so every other character that
//! [`log_text`](crate::log_text) escapes (DEL, the C1 controls such as U+009B, the bidi
//! overrides, zero-width and line-separator characters) is written as `\uXXXX` too.

use std::io;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::record::Record;
use crate::log_text::moves_or_hides;

/// `prev` on the first line of a file.
pub const CHAIN_START: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Where the chain stands: what the next line carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: u64,
    pub prev: String,
}

impl ChainHead {
    /// The head of an empty file.
    pub fn start() -> Self {
        ChainHead {
            seq: 0,
            prev: CHAIN_START.to_string(),
        }
    }

    /// The head after `line` (without its newline), read back from a file; Err says why it is
    /// not a line of the chain.
    pub fn after(line: &[u8]) -> Result<Self, String> {
        let fields = LinkFields::parse(line)?;
        Ok(ChainHead {
            seq: fields.seq + 1,
            prev: sha256_hex(line),
        })
    }

    /// `record` as the next line (without its newline), and the head after it.
    pub fn encode(&self, record: &Record, time: std::time::SystemTime) -> (Vec<u8>, ChainHead) {
        let line = Line {
            seq: self.seq,
            time: humantime::format_rfc3339_micros(time).to_string(),
            prev: &self.prev,
            record,
        };
        let mut bytes = Vec::new();
        let mut serializer = serde_json::Serializer::with_formatter(&mut bytes, TerminalSafe);
        line.serialize(&mut serializer)
            .expect("a record always serializes: string keys, no maps, no floats");
        let next = ChainHead {
            seq: self.seq + 1,
            prev: sha256_hex(&bytes),
        };
        (bytes, next)
    }
}

#[derive(Serialize)]
struct Line<'a> {
    seq: u64,
    time: String,
    prev: &'a str,
    #[serde(flatten)]
    record: &'a Record,
}

/// The fields of a line that the chain uses, as read back.
#[derive(Debug, Deserialize)]
pub struct LinkFields {
    pub seq: u64,
    pub prev: String,
    #[serde(rename = "type")]
    pub kind: String,
}

impl LinkFields {
    /// The chain fields of `line`, or what is wrong with it.
    pub fn parse(line: &[u8]) -> Result<Self, String> {
        let fields: LinkFields = serde_json::from_slice(line)
            .map_err(|error| format!("not a JSON audit record ({error})"))?;
        let hex = fields.prev.len() == 64
            && fields
                .prev
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hex {
            return Err("its prev is not a SHA-256 in lowercase hex".into());
        }
        Ok(fields)
    }
}

/// The SHA-256 of `bytes`, in lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// serde_json's compact output, with every character that moves or hides text escaped as
/// `\uXXXX` (a surrogate pair above U+FFFF), as JSON allows for any character.
struct TerminalSafe;

impl serde_json::ser::Formatter for TerminalSafe {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut plain = 0;
        for (at, c) in fragment.char_indices() {
            if moves_or_hides(c) {
                writer.write_all(&fragment.as_bytes()[plain..at])?;
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(writer, "\\u{unit:04x}")?;
                }
                plain = at + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[plain..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::record::Login;
    use crate::audit::record::LoginMethod;

    fn login(user: &str) -> Record {
        Record::Login(Login {
            session: "s1".into(),
            user: user.into(),
            method: LoginMethod::Publickey,
            key: Some("SHA256:abc".into()),
            client: "127.0.0.1:5000".into(),
            success: true,
            note: None,
        })
    }

    fn encode(head: &ChainHead, record: &Record) -> (String, ChainHead) {
        let (bytes, next) = head.encode(record, std::time::SystemTime::UNIX_EPOCH);
        (String::from_utf8(bytes).unwrap(), next)
    }

    #[test]
    fn a_line_carries_seq_time_prev_then_the_record() {
        let (line, next) = encode(&ChainHead::start(), &login("alice"));
        assert_eq!(
            line,
            format!(
                "{{\"seq\":0,\"time\":\"1970-01-01T00:00:00.000000Z\",\"prev\":\"{CHAIN_START}\",\
                 \"type\":\"login\",\"session\":\"s1\",\"user\":\"alice\",\"method\":\"publickey\",\
                 \"key\":\"SHA256:abc\",\"client\":\"127.0.0.1:5000\",\"success\":true}}"
            )
        );
        assert_eq!(next.seq, 1);
        assert_eq!(next.prev, sha256_hex(line.as_bytes()));
        assert_eq!(ChainHead::after(line.as_bytes()).unwrap(), next);
    }

    #[test]
    fn the_hash_is_sha256_in_hex() {
        // echo -n abc | sha256sum
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn no_character_that_moves_the_cursor_reaches_the_line_raw() {
        // Every character there is, in one user name: the line must still read back exactly.
        let every: String = (0..=0x10ffffu32).filter_map(char::from_u32).collect();
        let (line, _) = encode(&ChainHead::start(), &login(&every));
        for c in line.chars() {
            assert!(
                !moves_or_hides(c) || c == '\\',
                "{:#x} written raw",
                c as u32
            );
            assert!(!c.is_control(), "{:#x} written raw", c as u32);
        }
        let back: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back["user"], every.as_str());
    }

    #[test]
    fn a_forged_line_and_terminal_controls_are_escaped() {
        let user = "eve\n{\"seq\":9}\x1b[2J\u{9b}31m\u{7f}\u{202e}\u{1f600}";
        let (line, _) = encode(&ChainHead::start(), &login(user));
        assert!(
            line.contains(r#""user":"eve\n{\"seq\":9}\u001b[2J\u009b31m\u007f\u202e😀""#),
            "{line}"
        );
        // Above U+FFFF, a character that hides text is written as a surrogate pair.
        let (line, _) = encode(&ChainHead::start(), &login("\u{e0001}"));
        assert!(line.contains(r#""user":"\udb40\udc01""#), "{line}");
    }

    #[test]
    fn a_line_that_is_not_a_record_is_named() {
        assert!(ChainHead::after(b"{\"seq\":1").is_err());
        assert!(ChainHead::after(b"[1,2]").is_err());
        let short = br#"{"seq":1,"prev":"abc","type":"login"}"#;
        assert!(ChainHead::after(short).unwrap_err().contains("prev"));
    }
}
