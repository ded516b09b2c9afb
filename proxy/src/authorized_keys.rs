//! The authorized_keys format as sshd reads it (sshd(8), AUTHORIZED_KEYS FILE FORMAT): one key
//! a line, blank lines and `#` comments skipped, leading whitespace ignored, and options
//! before the key type, separated by commas, whose quoted values may hold spaces, commas and
//! `\"`.
//!
//! Invariant: a line is either a key with options sshgate honours in full, or refused with a
//! reason naming its line; a refused line lets nobody in (as sshd, which skips a line it
//! cannot obey) and never stops the other lines from working. Nothing here does I/O.

use std::net::IpAddr;
use std::str::FromStr;
use std::time::SystemTime;

use base64::Engine;
use russh::keys::{Algorithm, PublicKey};

use crate::host_patterns;

/// One usable line: a key and what its options allow.
#[derive(Debug, Clone)]
pub struct AuthorizedKey {
    pub key: PublicKey,
    pub options: KeyOptions,
}

/// What a key's options allow the session it authenticates. The default (no options) is
/// what sshgate allows any session.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyOptions {
    /// Where the key was read, `FILE line N`, for logs and the approver.
    pub origin: String,
    /// A PTY may be requested (`no-pty`, `restrict`; `pty` allows it again).
    pub pty: bool,
    /// `from="pattern-list"`: the client addresses the key is accepted from.
    pub from: Option<String>,
    /// `expiry-time=`: the key is refused from this moment on.
    pub expires: Option<SystemTime>,
    /// `command="..."`: what runs instead of whatever the operator asks for.
    pub command: Option<String>,
}

impl KeyOptions {
    pub fn unrestricted(origin: impl Into<String>) -> Self {
        KeyOptions {
            origin: origin.into(),
            pty: true,
            from: None,
            expires: None,
            command: None,
        }
    }

    /// Ok when a client at `client` may use the key at `now`; Err says why not.
    pub fn permits(&self, client: Option<IpAddr>, now: SystemTime) -> Result<(), String> {
        if let Some(expires) = self.expires {
            if now >= expires {
                return Err(format!("{}: the key's expiry-time has passed", self.origin));
            }
        }
        let Some(list) = &self.from else {
            return Ok(());
        };
        let Some(client) = client else {
            return Err(format!(
                "{}: from= and the client address is unknown",
                self.origin
            ));
        };
        match host_patterns::address_allowed(client, list) {
            Ok(true) => Ok(()),
            Ok(false) => Err(format!(
                "{}: the client address {client} is not allowed by from={list:?}",
                self.origin
            )),
            Err(error) => Err(format!("{}: from=: {error}", self.origin)),
        }
    }
}

/// A line that lets nobody in, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedLine {
    pub line: usize,
    pub reason: String,
}

/// What a whole authorized_keys text gives.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    pub keys: Vec<AuthorizedKey>,
    pub refused: Vec<RefusedLine>,
}

/// Parse authorized_keys `text` read from `source` (a path, or the keys command).
pub fn parse(source: &str, text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    for (index, line) in text.lines().enumerate() {
        let origin = format!("{source} line {}", index + 1);
        match parse_line(line, &origin) {
            Ok(Some(key)) => parsed.keys.push(key),
            Ok(None) => {}
            Err(reason) => parsed.refused.push(RefusedLine {
                line: index + 1,
                reason,
            }),
        }
    }
    parsed
}

/// One line: None for a blank line or a comment.
fn parse_line(line: &str, origin: &str) -> Result<Option<AuthorizedKey>, String> {
    let line = line.trim_start_matches([' ', '\t']).trim_end_matches('\r');
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let (first, rest) = split_first_field(line)?;
    let (options, key_text) = if is_key_type(first) {
        (KeyOptions::unrestricted(origin), line)
    } else {
        (
            parse_options(first, origin)?,
            rest.trim_start_matches([' ', '\t']),
        )
    };
    Ok(Some(AuthorizedKey {
        key: parse_key(key_text)?,
        options,
    }))
}

/// A key type name: what sshd tries first, before reading the field as options.
fn is_key_type(field: &str) -> bool {
    !field.contains(['=', '"', ',']) && Algorithm::from_str(field).is_ok()
}

/// The line's first field, which ends at whitespace outside double quotes, and the rest.
fn split_first_field(line: &str) -> Result<(&str, &str), String> {
    let mut quoted = false;
    let mut chars = line.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            // `\"` is never a quote, inside quotes or out (as sshd skips it).
            '\\' if matches!(chars.peek(), Some((_, '"'))) => {
                chars.next();
            }
            '"' => quoted = !quoted,
            ' ' | '\t' if !quoted => return Ok((&line[..at], &line[at..])),
            _ => {}
        }
    }
    if quoted {
        return Err("an option's quoted value has no closing quote".into());
    }
    Ok((line, ""))
}

/// `type base64 [comment]`.
fn parse_key(text: &str) -> Result<PublicKey, String> {
    let mut fields = text.split([' ', '\t']).filter(|field| !field.is_empty());
    let (Some(kind), Some(blob)) = (fields.next(), fields.next()) else {
        return Err("no key after the options".into());
    };
    if !is_key_type(kind) {
        return Err(format!("unknown key type {kind:?}"));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .map_err(|error| format!("the key is not base64: {error}"))?;
    let key = PublicKey::from_bytes(&bytes)
        .map_err(|error| format!("the key does not parse: {error}"))?;
    if key.algorithm().as_str() != kind {
        return Err(format!(
            "the key is {} but the line says {kind}",
            key.algorithm().as_str()
        ));
    }
    Ok(key)
}

/// Comma-separated options, each `name` or `name="value"`; names ignore case, as in sshd.
fn parse_options(text: &str, origin: &str) -> Result<KeyOptions, String> {
    let mut options = KeyOptions::unrestricted(origin);
    let mut rest = text;
    while !rest.is_empty() {
        let name_end = rest.find(['=', ',']).unwrap_or(rest.len());
        let name = rest[..name_end].to_ascii_lowercase();
        rest = &rest[name_end..];
        let value = match rest.strip_prefix('=') {
            Some(after) => {
                let (value, after) = quoted_value(after)
                    .ok_or_else(|| format!("option {name}= needs a value in double quotes"))?;
                rest = after;
                Some(value)
            }
            None => None,
        };
        apply_option(&mut options, &name, value)?;
        rest = match rest.strip_prefix(',') {
            Some(after) if !after.is_empty() => after,
            Some(_) => return Err("a comma ends the options".into()),
            None if rest.is_empty() => rest,
            None => return Err(format!("unexpected text after option {name}: {rest:?}")),
        };
    }
    Ok(options)
}

/// `"..."` at the start of `text`, with `\"` read as `"` (other backslashes stay), and the
/// text after the closing quote.
fn quoted_value(text: &str) -> Option<(String, &str)> {
    let inner = text.strip_prefix('"')?;
    let mut value = String::new();
    let mut chars = inner.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return Some((value, &inner[at + 1..])),
            '\\' if inner[at + 1..].starts_with('"') => {
                chars.next();
                value.push('"');
            }
            c => value.push(c),
        }
    }
    None
}

fn apply_option(options: &mut KeyOptions, name: &str, value: Option<String>) -> Result<(), String> {
    let flag = |value: &Option<String>| match value {
        None => Ok(()),
        Some(_) => Err(format!("option {name} takes no value")),
    };
    let valued =
        |value: Option<String>| value.ok_or_else(|| format!("option {name} needs a value"));
    match name {
        "restrict" => {
            flag(&value)?;
            // sshgate never forwards ports, agents or X11, and runs no rc: only the PTY is
            // left to take away.
            options.pty = false;
        }
        "no-pty" => {
            flag(&value)?;
            options.pty = false;
        }
        "pty" => {
            flag(&value)?;
            options.pty = true;
        }
        // Forwarding is refused for every session anyway; the target's sshd runs the user's
        // rc file, which sshgate does not ask for.
        "no-port-forwarding" | "no-agent-forwarding" | "no-x11-forwarding" | "no-user-rc" => {
            flag(&value)?;
        }
        "from" => {
            if options.from.is_some() {
                return Err("more than one from= option".into());
            }
            options.from = Some(valued(value)?);
        }
        "command" => {
            if options.command.is_some() {
                return Err("more than one command= option".into());
            }
            options.command = Some(valued(value)?);
        }
        "expiry-time" => {
            let expires = expiry_time(&valued(value)?)?;
            // Several: the earliest wins, as in sshd.
            options.expires = Some(options.expires.map_or(expires, |other| other.min(expires)));
        }
        "environment" => {
            return Err(
                "environment= is refused: sshgate sets no variables on the target for a key".into(),
            )
        }
        other => return Err(format!("option {other:?} is not supported by sshgate")),
    }
    Ok(())
}

/// `YYYYMMDD[HHMM[SS]]` in local time, or with a trailing `Z` in UTC, as sshd reads it.
fn expiry_time(text: &str) -> Result<SystemTime, String> {
    use chrono::{NaiveDate, NaiveDateTime, TimeZone};
    let bad = || format!("expiry-time={text:?}: expected YYYYMMDD[HHMM[SS]][Z]");
    let (digits, utc) = match text.strip_suffix(['Z', 'z']) {
        Some(digits) => (digits, true),
        None => (text, false),
    };
    if !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(bad());
    }
    if ![8, 12, 14].contains(&digits.len()) {
        return Err(bad());
    }
    // Missing time fields are zero; the digits were checked, so every field parses.
    let field = |at: usize, width: usize| -> u32 {
        digits
            .get(at..at + width)
            .map_or(0, |text| text.parse().unwrap_or(0))
    };
    let time: NaiveDateTime = NaiveDate::from_ymd_opt(field(0, 4) as i32, field(4, 2), field(6, 2))
        .and_then(|date| date.and_hms_opt(field(8, 2), field(10, 2), field(12, 2)))
        .ok_or_else(bad)?;
    let instant = if utc {
        chrono::Utc.from_utc_datetime(&time).into()
    } else {
        // A local time skipped by a clock change has no instant; one repeated takes the first.
        chrono::Local
            .from_local_datetime(&time)
            .earliest()
            .ok_or_else(bad)?
            .into()
    };
    Ok(instant)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::generate_host_key;
    use rstest::rstest;
    use std::time::Duration;

    fn key_text() -> (PublicKey, String) {
        let key = generate_host_key().public_key().clone();
        let text = key.to_openssh().unwrap();
        (key, text)
    }

    fn one(line: &str) -> Result<KeyOptions, String> {
        let parsed = parse("keys", line);
        match (parsed.keys.as_slice(), parsed.refused.as_slice()) {
            ([key], []) => Ok(key.options.clone()),
            ([], [refused]) => Err(refused.reason.clone()),
            other => panic!("expected one key or one refusal: {other:?}"),
        }
    }

    #[test]
    fn blank_lines_comments_and_leading_whitespace_are_as_sshd_reads_them() {
        let (key, text) = key_text();
        let parsed = parse(
            "keys",
            &format!("# operators\n\n   \t\n  {text} alice@laptop\n\t# {text}\n"),
        );
        assert!(parsed.refused.is_empty(), "{:?}", parsed.refused);
        assert_eq!(parsed.keys.len(), 1);
        assert_eq!(parsed.keys[0].key, key);
        assert_eq!(parsed.keys[0].options.origin, "keys line 4");
    }

    #[test]
    fn quoted_values_hold_spaces_commas_and_escaped_quotes() {
        let (_, text) = key_text();
        let options = one(&format!(
            r#"  no-pty,command="echo \"a, b\" c",from="10.0.0.0/8,127.0.0.1" {text} c"#
        ))
        .unwrap();
        assert_eq!(options.command.as_deref(), Some(r#"echo "a, b" c"#));
        assert_eq!(options.from.as_deref(), Some("10.0.0.0/8,127.0.0.1"));
        assert!(!options.pty);
    }

    proptest::proptest! {
        /// Any printable value without a backslash, quoted with its `"` escaped, reads back
        /// as itself: spaces, commas and quotes included.
        #[test]
        fn quoted_values_read_back(value in "[ -\\[\\]-~]{0,40}") {
            let (_, text) = key_text();
            let escaped = value.replace('"', "\\\"");
            let options = one(&format!("command=\"{escaped}\",no-pty {text}")).unwrap();
            proptest::prop_assert_eq!(options.command.as_deref(), Some(value.as_str()));
            proptest::prop_assert!(!options.pty);
        }
    }

    #[test]
    fn a_backslash_before_a_quote_escapes_it_and_others_stay() {
        let (_, text) = key_text();
        let options = one(&format!(r#"command="a\b \"c\"" {text}"#)).unwrap();
        assert_eq!(options.command.as_deref(), Some(r#"a\b "c""#));
    }

    #[rstest]
    #[case("restrict", false)]
    #[case("restrict,pty", true)]
    #[case("RESTRICT,PTY", true)]
    #[case("pty,restrict", false)]
    #[case("no-pty", false)]
    #[case(
        "no-port-forwarding,no-agent-forwarding,no-X11-forwarding,no-user-rc",
        true
    )]
    fn pty_options(#[case] options: &str, #[case] pty: bool) {
        let (_, text) = key_text();
        assert_eq!(one(&format!("{options} {text}")).unwrap().pty, pty);
    }

    #[rstest]
    #[case(r#"environment="PATH=/x""#, "environment= is refused")]
    #[case("cert-authority", "not supported")]
    #[case("port-forwarding", "not supported")]
    #[case(r#"command="unterminated"#, "closing quote")]
    #[case("command=bare", "double quotes")]
    #[case("no-pty=\"x\"", "takes no value")]
    #[case("no-pty,", "comma ends")]
    #[case(r#"command="a"x"#, "unexpected text")]
    #[case(r#"command="a",command="b""#, "more than one command=")]
    #[case(r#"expiry-time="2026""#, "expiry-time")]
    #[case(r#"expiry-time="20261301""#, "expiry-time")]
    fn refused_options(#[case] options: &str, #[case] reason: &str) {
        let (_, text) = key_text();
        let error = one(&format!("{options} {text}")).unwrap_err();
        assert!(error.contains(reason), "{error}");
    }

    #[rstest]
    #[case("ssh-ed25519 AAAA-not-base64")]
    #[case("ssh-ed25519")]
    #[case("no-pty")]
    #[case("nonsense words here")]
    fn broken_lines_are_refused(#[case] line: &str) {
        assert!(one(line).is_err());
    }

    #[test]
    fn a_key_type_that_does_not_match_the_blob_is_refused() {
        let (_, text) = key_text();
        let blob = text.split(' ').nth(1).unwrap();
        let error = one(&format!("ssh-rsa {blob}")).unwrap_err();
        assert!(error.contains("ssh-ed25519"), "{error}");
    }

    #[test]
    fn a_refused_line_does_not_stop_the_others() {
        let (key, text) = key_text();
        let parsed = parse("keys", &format!("frobnicate {text}\n{text}\n"));
        assert_eq!(parsed.refused.len(), 1);
        assert_eq!(parsed.refused[0].line, 1);
        assert_eq!(parsed.keys[0].key, key);
        assert_eq!(parsed.keys[0].options.origin, "keys line 2");
    }

    #[rstest]
    #[case("19991231", true)]
    #[case("199912312359", true)]
    #[case("19991231235959Z", true)]
    #[case("29991231", false)]
    fn expiry(#[case] when: &str, #[case] expired: bool) {
        let (_, text) = key_text();
        let options = one(&format!("expiry-time=\"{when}\" {text}")).unwrap();
        assert_eq!(options.permits(None, SystemTime::now()).is_err(), expired);
    }

    #[test]
    fn expiry_in_utc_is_exact_to_the_second() {
        let at = expiry_time("20000101000010Z").unwrap();
        assert_eq!(
            at.duration_since(SystemTime::UNIX_EPOCH).unwrap(),
            Duration::from_secs(946_684_810)
        );
        let (_, text) = key_text();
        let options = one(&format!(
            r#"expiry-time="20000101000010Z",expiry-time="20000101000005Z" {text}"#
        ))
        .unwrap();
        assert_eq!(
            options.expires,
            Some(expiry_time("20000101000005Z").unwrap())
        );
    }

    #[rstest]
    #[case("127.0.0.1", Some("127.0.0.1"), true)]
    #[case("127.0.0.1", Some("10.0.0.0/8"), false)]
    #[case("127.0.0.1", None, true)]
    fn from_option(#[case] client: &str, #[case] from: Option<&str>, #[case] allowed: bool) {
        let (_, text) = key_text();
        let line = match from {
            Some(list) => format!("from=\"{list}\" {text}"),
            None => text,
        };
        let options = one(&line).unwrap();
        let client: IpAddr = client.parse().unwrap();
        assert_eq!(
            options.permits(Some(client), SystemTime::now()).is_ok(),
            allowed
        );
        if from.is_some() {
            assert!(options.permits(None, SystemTime::now()).is_err());
        }
    }
}
