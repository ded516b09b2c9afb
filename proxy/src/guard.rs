//! The shell-side guard (docs/guard.md): a file that bash or zsh on the target sources, which
//! asks on the session's terminal before every command the shell runs. sshgate carries the
//! files so that `sshgate guard print SHELL` can install the copy that matches its protocol;
//! the proxy's half of the protocol (answering, stripping, the heartbeat) is not built yet.

/// The guard protocol version the files below speak (the `1` after the OSC number).
pub const PROTOCOL: u32 = 1;

/// The private OSC number of every guard sequence, chosen to clash with no known terminal's.
pub const OSC_NUMBER: u32 = 7428;

/// The guard for `shell` ("bash" or "zsh"), or `None` for a shell without one.
pub fn script(shell: &str) -> Option<&'static str> {
    match shell {
        "bash" => Some(include_str!("../guard/guard.bash")),
        "zsh" => Some(include_str!("../guard/guard.zsh")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_guard_names_the_protocol_it_speaks() {
        for shell in ["bash", "zsh"] {
            let text = script(shell).unwrap();
            let ask = format!("\\033]{OSC_NUMBER};{PROTOCOL};ask;");
            let ask_zsh = format!("\\e]{OSC_NUMBER};{PROTOCOL};ask;");
            assert!(text.contains(&ask) || text.contains(&ask_zsh), "{shell}");
            assert!(
                text.contains(&format!("guard protocol {PROTOCOL}")),
                "{shell}"
            );
        }
        assert_eq!(script("fish"), None);
    }
}
