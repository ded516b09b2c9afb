//! known_hosts files as OpenSSH reads them (sshd(8), SSH_KNOWN_HOSTS FILE FORMAT): host
//! patterns with `*`, `?` and `!`, comma lists, `[host]:port` for a port other than 22,
//! hashed `|1|salt|hash` names, and the `@revoked` and `@cert-authority` markers.
//!
//! Invariant: a key is trusted only by a line without a marker whose host field names the
//! target and whose key is the one offered; a key on any `@revoked` line is refused whatever
//! the hosts (stricter than OpenSSH, which checks the host too). `@cert-authority` lines vouch
//! for nothing: sshgate does not accept host certificates. Unreadable lines are skipped, as in
//! OpenSSH, since they cannot vouch for a key either.

use base64::Engine;
use hmac::{KeyInit, Mac};
use russh::keys::PublicKey;

use crate::host_patterns::{self, ListMatch};

/// What a known_hosts text says about a host's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Trusted,
    /// The key is on a `@revoked` line (this line number).
    Revoked(usize),
    /// The host is listed, with other keys only.
    KeyChanged,
    NotListed,
}

/// Look up `key` for `host` on `port` in known_hosts `text`.
pub fn check(text: &str, host: &str, port: u16, key: &PublicKey) -> Verdict {
    let name = if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    };
    let entries: Vec<(usize, Entry)> = text
        .lines()
        .enumerate()
        .filter_map(|(index, line)| Some((index + 1, Entry::parse(line)?)))
        .collect();
    let same_key = |entry: &Entry| entry.key.key_data() == key.key_data();
    // Revocation first: a line trusting the key elsewhere in the file does not undo it.
    let revoked = entries
        .iter()
        .find(|(_, entry)| entry.marker == Some("@revoked") && same_key(entry));
    if let Some((line, _)) = revoked {
        return Verdict::Revoked(*line);
    }
    let mut host_listed = false;
    for (_, entry) in entries.iter().filter(|(_, entry)| entry.marker.is_none()) {
        if entry.names(&name) {
            if same_key(entry) {
                return Verdict::Trusted;
            }
            host_listed = true;
        }
    }
    if host_listed {
        Verdict::KeyChanged
    } else {
        Verdict::NotListed
    }
}

/// Markers a line may start with; any other `@word` makes the line unreadable.
const MARKERS: &[&str] = &["@revoked", "@cert-authority"];

struct Entry<'a> {
    marker: Option<&'a str>,
    hosts: &'a str,
    key: PublicKey,
}

impl<'a> Entry<'a> {
    fn parse(line: &'a str) -> Option<Entry<'a>> {
        let line = line.trim_start_matches([' ', '\t']);
        if line.is_empty() || line.starts_with('#') {
            return None;
        }
        let mut fields = line.split([' ', '\t']).filter(|field| !field.is_empty());
        let mut first = fields.next()?;
        let marker = if first.starts_with('@') {
            let marker = MARKERS
                .iter()
                .find(|known| known.eq_ignore_ascii_case(first))?;
            first = fields.next()?;
            Some(*marker)
        } else {
            None
        };
        let (kind, blob) = (fields.next()?, fields.next()?);
        let key = PublicKey::from_openssh(&format!("{kind} {blob}")).ok()?;
        Some(Entry {
            marker,
            hosts: first,
            key,
        })
    }

    /// Whether the host field names `name` (`host` or `[host]:port`).
    fn names(&self, name: &str) -> bool {
        match self.hosts.strip_prefix("|1|") {
            Some(hashed) => hashed_name_matches(hashed, name),
            None => host_patterns::match_list(name, self.hosts) == ListMatch::Matched,
        }
    }
}

/// `salt|hash` (base64 each): the hash is HMAC-SHA1 of the name, keyed with the salt.
fn hashed_name_matches(hashed: &str, name: &str) -> bool {
    let engine = base64::engine::general_purpose::STANDARD;
    let Some((salt, hash)) = hashed.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (engine.decode(salt), engine.decode(hash)) else {
        return false;
    };
    let Ok(mut mac) = hmac::Hmac::<sha1::Sha1>::new_from_slice(&salt) else {
        return false;
    };
    mac.update(name.as_bytes());
    mac.verify_slice(&hash).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::generate_host_key;
    use rstest::rstest;

    fn key() -> (PublicKey, String) {
        let key = generate_host_key().public_key().clone();
        let text = key.to_openssh().unwrap();
        (key, text)
    }

    #[rstest]
    #[case("target.example.com", 22, "target.example.com", Verdict::Trusted)]
    #[case("target.example.com", 2222, "target.example.com", Verdict::NotListed)]
    #[case(
        "target.example.com",
        2222,
        "[target.example.com]:2222",
        Verdict::Trusted
    )]
    #[case("10.0.0.5", 22, "other,10.0.0.5", Verdict::Trusted)]
    #[case("web3.example.com", 22, "web?.example.com", Verdict::Trusted)]
    #[case(
        "db.example.com",
        22,
        "*.example.com,!db.example.com",
        Verdict::NotListed
    )]
    #[case(
        "app.example.com",
        22,
        "*.example.com,!db.example.com",
        Verdict::Trusted
    )]
    #[case("127.0.0.1", 2200, "[127.0.0.*]:2200", Verdict::Trusted)]
    #[case("TARGET.example.com", 22, "target.EXAMPLE.com", Verdict::Trusted)]
    fn host_patterns_as_openssh(
        #[case] host: &str,
        #[case] port: u16,
        #[case] hosts: &str,
        #[case] verdict: Verdict,
    ) {
        let (key, text) = key();
        assert_eq!(
            check(&format!("{hosts} {text}\n"), host, port, &key),
            verdict
        );
    }

    #[test]
    fn another_key_for_a_listed_host_is_a_changed_key() {
        let (key, _) = key();
        let (_, other) = self::key();
        assert_eq!(
            check(&format!("# c\n\n  h {other}\n"), "h", 22, &key),
            Verdict::KeyChanged
        );
    }

    #[test]
    fn a_revoked_key_is_refused_even_when_listed_and_whatever_the_host() {
        let (key, text) = key();
        let known = format!("h {text}\n@revoked other.example {text}\n");
        assert_eq!(check(&known, "h", 22, &key), Verdict::Revoked(2));
    }

    #[test]
    fn cert_authority_and_unknown_markers_vouch_for_nothing() {
        let (key, text) = key();
        assert_eq!(
            check(
                &format!("@cert-authority h {text}\n@trusted h {text}\n"),
                "h",
                22,
                &key
            ),
            Verdict::NotListed
        );
    }

    /// Written by `ssh-keygen -H` from `[127.0.0.1]:2200 ssh-ed25519 AAAA...`.
    const HASHED: &str = "|1|By7ayZgJ2Q0vNUK0KIIVFdGIoLA=|wSZdf1EF805EBqs7+GNQx+4B7ig= \
        ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJiVcvyKqmBeWpT9imPN5AbB/3BPxT93+6wDukl0EG5n\n";

    #[rstest]
    #[case("127.0.0.1", 2200, Verdict::Trusted)]
    #[case("127.0.0.1", 2201, Verdict::NotListed)]
    #[case("127.0.0.2", 2200, Verdict::NotListed)]
    fn hashed_names_match_only_their_host(
        #[case] host: &str,
        #[case] port: u16,
        #[case] verdict: Verdict,
    ) {
        let key_text = HASHED.split(' ').skip(1).collect::<Vec<_>>().join(" ");
        let key = PublicKey::from_openssh(key_text.trim()).unwrap();
        assert_eq!(check(HASHED, host, port, &key), verdict);
    }
}
