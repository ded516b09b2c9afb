//! OpenSSH's host patterns: `*` and `?` wildcards, comma lists with `!` negation, and, for
//! an authorized_keys `from=`, addresses and CIDR networks.
//!
//! Invariant: a negated entry that matches decides the whole list (no later entry can undo
//! it), and a list matches only when some entry matches; as in OpenSSH's match.c and
//! addrmatch.c. sshgate does no DNS lookups: the client is known by its address only, so a
//! host name in `from=` matches nothing unless it is written as that address.

use std::net::IpAddr;

/// Whether `text` matches `pattern`, where `*` matches any run of bytes and `?` any one byte.
pub fn wildcard(text: &str, pattern: &str) -> bool {
    let (text, pattern) = (text.as_bytes(), pattern.as_bytes());
    let (mut t, mut p) = (0, 0);
    // Where the last `*` was and the text position it now swallows up to.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            t += 1;
            p += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((star_at, swallowed)) = star {
            // Let the last `*` take one more byte and try again from there.
            star = Some((star_at, swallowed + 1));
            p = star_at + 1;
            t = swallowed + 1;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&byte| byte == b'*')
}

/// How a comma-separated pattern list matched a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListMatch {
    /// A `!` entry matched: the name is excluded whatever else matches.
    Negated,
    Matched,
    NoMatch,
}

/// Match `name` against a comma-separated list of patterns, case-insensitively (host names).
pub fn match_list(name: &str, list: &str) -> ListMatch {
    let name = name.to_ascii_lowercase();
    let mut matched = false;
    for entry in list.split(',') {
        let (negated, pattern) = split_negation(entry);
        if wildcard(&name, &pattern.to_ascii_lowercase()) {
            if negated {
                return ListMatch::Negated;
            }
            matched = true;
        }
    }
    if matched {
        ListMatch::Matched
    } else {
        ListMatch::NoMatch
    }
}

fn split_negation(entry: &str) -> (bool, &str) {
    match entry.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, entry),
    }
}

/// Whether a client at `address` passes an authorized_keys `from="list"`: entries are
/// addresses, CIDR networks or wildcard patterns over the address as text. Err for a list
/// OpenSSH also rejects (an empty entry, a network with bits set beyond its mask).
pub fn address_allowed(address: IpAddr, list: &str) -> Result<bool, String> {
    let address = address.to_canonical();
    let text = address.to_string();
    let mut matched = false;
    for entry in list.split(',') {
        let (negated, pattern) = split_negation(entry);
        if pattern.is_empty() {
            return Err(format!("empty entry in the pattern list {list:?}"));
        }
        let hit = match network(pattern)? {
            Some((network, bits)) => in_network(address, network, bits),
            None => wildcard(&text, &pattern.to_ascii_lowercase()),
        };
        if hit {
            if negated {
                return Ok(false);
            }
            matched = true;
        }
    }
    Ok(matched)
}

/// `pattern` as an address or a CIDR network, or None when it is neither (a wildcard).
fn network(pattern: &str) -> Result<Option<(IpAddr, u32)>, String> {
    let (address, bits) = match pattern.split_once('/') {
        Some((address, bits)) => (address, Some(bits)),
        None => (pattern, None),
    };
    let Ok(address) = address.parse::<IpAddr>() else {
        return Ok(None);
    };
    let width = if address.is_ipv4() { 32 } else { 128 };
    let bits = match bits.map(str::parse::<u32>) {
        None => width,
        Some(Ok(bits)) if bits <= width => bits,
        Some(_) => return Ok(None),
    };
    if masked(address, bits) != address {
        return Err(format!(
            "{pattern:?} has address bits set beyond its /{bits} mask"
        ));
    }
    Ok(Some((address, bits)))
}

fn in_network(address: IpAddr, network: IpAddr, bits: u32) -> bool {
    address.is_ipv4() == network.is_ipv4() && masked(address, bits) == network
}

fn masked(address: IpAddr, bits: u32) -> IpAddr {
    match address {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            IpAddr::V4((u32::from(v4) & mask).into())
        }
        IpAddr::V6(v6) => {
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            IpAddr::V6((u128::from(v6) & mask).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    #[rstest]
    #[case("host.example.com", "*.example.com", true)]
    #[case("example.com", "*.example.com", false)]
    #[case("web1", "web?", true)]
    #[case("web10", "web?", false)]
    #[case("abc", "a*b*c", true)]
    #[case("abxc", "a*b*c", true)]
    #[case("acb", "a*b*c", false)]
    #[case("", "*", true)]
    #[case("", "", true)]
    #[case("a", "", false)]
    #[case("aaa", "a*a*a*a", false)]
    fn wildcards(#[case] text: &str, #[case] pattern: &str, #[case] expected: bool) {
        assert_eq!(wildcard(text, pattern), expected);
    }

    #[rstest]
    #[case("db.example.com", "*.example.com", ListMatch::Matched)]
    #[case("DB.Example.com", "*.EXAMPLE.com", ListMatch::Matched)]
    #[case("db.example.com", "*.example.com,!db.example.com", ListMatch::Negated)]
    #[case("db.example.com", "!db.example.com,*.example.com", ListMatch::Negated)]
    #[case("web.example.com", "*.example.com,!db.example.com", ListMatch::Matched)]
    #[case("other.org", "*.example.com,!db.example.com", ListMatch::NoMatch)]
    #[case("other.org", "!db.example.com", ListMatch::NoMatch)]
    fn lists(#[case] name: &str, #[case] list: &str, #[case] expected: ListMatch) {
        assert_eq!(match_list(name, list), expected);
    }

    #[rstest]
    #[case("192.168.1.7", "192.168.1.7", Ok(true))]
    #[case("192.168.1.7", "192.168.1.0/24", Ok(true))]
    #[case("192.168.2.7", "192.168.1.0/24", Ok(false))]
    #[case("192.168.1.7", "192.168.1.*", Ok(true))]
    #[case("192.168.1.7", "10.0.0.0/8,192.168.1.?", Ok(true))]
    #[case("192.168.1.7", "192.168.0.0/16,!192.168.1.7", Ok(false))]
    #[case("192.168.1.7", "!192.168.1.0/24,*", Ok(false))]
    #[case("192.168.1.8", "!192.168.1.7,*", Ok(true))]
    #[case("::ffff:127.0.0.1", "127.0.0.1", Ok(true))]
    #[case("2001:db8::1", "2001:db8::/32", Ok(true))]
    #[case("127.0.0.1", "::/0", Ok(false))]
    #[case("127.0.0.1", "localhost", Ok(false))]
    #[case("127.0.0.1", "127.0.0.0/33", Ok(false))]
    #[case("192.168.1.7", "192.168.1.1/24", Err(()))]
    #[case("192.168.1.7", "10.0.0.1,", Err(()))]
    fn addresses(#[case] address: &str, #[case] list: &str, #[case] expected: Result<bool, ()>) {
        let address: IpAddr = address.parse().unwrap();
        assert_eq!(address_allowed(address, list).map_err(drop), expected);
    }

    proptest! {
        /// A literal pattern (no wildcards) matches exactly itself.
        #[test]
        fn literal_patterns_match_only_themselves(text in "[a-z.]{0,12}", other in "[a-z.]{0,12}") {
            prop_assert!(wildcard(&text, &text));
            prop_assert_eq!(wildcard(&text, &other), text == other);
        }

        /// `*` around any part of a name still matches it; a negated copy excludes it.
        #[test]
        fn stars_and_negation(prefix in "[a-z]{0,5}", middle in "[a-z]{0,5}", suffix in "[a-z]{0,5}") {
            let name = format!("{prefix}{middle}{suffix}");
            let pattern = format!("*{middle}*");
            prop_assert!(wildcard(&name, &pattern));
            let list = format!("*,!{name}");
            prop_assert_eq!(match_list(&name, &list), ListMatch::Negated);
        }
    }
}
