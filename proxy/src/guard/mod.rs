//! The shell-side guard (docs/guard.md): a file that bash or zsh on the target sources, which
//! asks on the session's terminal before every command the shell runs, and sshgate's half of
//! its protocol.
//!
//! - this module: the guard's files, which `sshgate guard print SHELL` prints, and
//!   [`GuardMode`], the `--guard` setting;
//! - [`sequence`]: the guard's sequences found and stripped in the target's output, and
//!   stripped from the operator's input;
//! - [`cover`]: which questions the line the approver approved already answers;
//! - [`heartbeat`]: whether the shell still has its guard.
//!
//! The bridge carries them out: it sets [`ENV_NAME`] on the target's shell channel, asks the
//! approver about each question no approved line covers, and writes the answer.

pub mod cover;
pub mod heartbeat;
pub mod sequence;

/// The variable that wakes the guard on the target (an `LC_` name, which the usual sshd
/// `AcceptEnv LANG LC_*` passes).
pub const ENV_NAME: &str = "LC_SSHGATE_GUARD";

/// `--guard`: whether sshgate answers a guard on the target, and whether it insists on one.
#[derive(
    Debug,
    Default,
    Clone,
    Copy,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum GuardMode {
    /// A shell session without a guard (no heartbeat at its prompt) is refused its first
    /// line and ended; so is one whose guard goes away.
    Require,
    /// Answer the guard where the target has one; where it has none, or loses it, keystroke
    /// gating alone decides, and the approver is told.
    #[default]
    Prefer,
    /// Never wake a guard: keystroke gating alone.
    Off,
}

/// An environment variable the operator may not set on the target: it would wake or silence
/// the guard behind sshgate's back.
pub fn reserved_env(name: &str) -> bool {
    name.to_ascii_uppercase().contains("SSHGATE")
}

/// The guard protocol version the files below speak (the `1` after the OSC number).
pub const PROTOCOL: u32 = 1;

/// The private OSC number of every guard sequence, chosen to clash with no known terminal's.
pub const OSC_NUMBER: u32 = 7428;

/// The guard for `shell` ("bash" or "zsh"), or `None` for a shell without one.
pub fn script(shell: &str) -> Option<&'static str> {
    match shell {
        "bash" => Some(include_str!("../../guard/guard.bash")),
        "zsh" => Some(include_str!("../../guard/guard.zsh")),
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
