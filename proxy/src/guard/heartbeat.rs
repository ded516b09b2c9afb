//! Whether the target's shell still has its guard. A guarded shell writes a heartbeat as it
//! starts to draw each prompt; a prompt that comes back with none since the last approved line
//! ran means the guard is gone (`trap - DEBUG`, `exec` of another program, a shell started
//! without it), and sshgate falls back to keystroke gating alone.

/// What the heartbeat says at a submit, before the line is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardState {
    /// The shell drew this prompt with its guard.
    Present,
    /// No heartbeat was ever seen: the target has no guard (or sshgate does not wake it).
    Absent,
    /// The guard was there and is gone since the last approved line: news for the approver.
    JustLost,
    /// The guard went away earlier in the session.
    Lost,
}

/// The heartbeat of one shell channel.
#[derive(Debug, Default)]
pub struct Heartbeat {
    /// A heartbeat came since the last approved line was sent to the shell.
    since_submit: bool,
    /// Any heartbeat came on this channel.
    ever: bool,
    /// The guard was found gone.
    lost: bool,
}

impl Heartbeat {
    /// The guard wrote a heartbeat.
    pub fn beat(&mut self) {
        self.since_submit = true;
        self.ever = true;
        // A shell with the guard again (an approved `exec bash` that sources it) is guarded.
        self.lost = false;
    }

    /// The shell has a guard, as far as sshgate knows: a heartbeat came, and none was missed.
    pub fn guarded(&self) -> bool {
        self.ever && !self.lost
    }

    /// An approved line went to the shell: the next prompt must bring a heartbeat.
    pub fn submitted(&mut self) {
        self.since_submit = false;
    }

    /// The state at a submit. `prompt_back`: the shell's own prompt came back since the last
    /// approved line (not a program it runs reading the line, not the shell's continuation
    /// prompt in the middle of a command).
    pub fn at_submit(&mut self, prompt_back: bool) -> GuardState {
        if !self.ever {
            return GuardState::Absent;
        }
        if self.lost {
            return GuardState::Lost;
        }
        if prompt_back && !self.since_submit {
            self.lost = true;
            return GuardState::JustLost;
        }
        GuardState::Present
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prompt_without_a_heartbeat_means_the_guard_is_gone() {
        let mut heart = Heartbeat::default();
        assert_eq!(heart.at_submit(true), GuardState::Absent);
        heart.beat();
        assert_eq!(heart.at_submit(true), GuardState::Present);
        heart.submitted();
        // A program reads the next line: no prompt yet, no verdict.
        assert_eq!(heart.at_submit(false), GuardState::Present);
        heart.beat();
        assert_eq!(heart.at_submit(true), GuardState::Present);
        heart.submitted();
        assert_eq!(heart.at_submit(true), GuardState::JustLost);
        assert_eq!(heart.at_submit(true), GuardState::Lost);
        heart.beat();
        assert_eq!(heart.at_submit(true), GuardState::Present);
    }
}
