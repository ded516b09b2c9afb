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
    /// What stood left of the line at a submit the guard's heartbeat had come before: the
    /// guarded shell's prompt.
    guarded_prompt: Option<String>,
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
    /// approved line, as far as the screen tells (not a program it runs reading the line, not
    /// the shell's continuation prompt in the middle of a command); `prompt`: what stands
    /// left of the line on its row. Only the prompt the guarded shell drew before, back with
    /// no heartbeat, is taken for a lost guard: an empty continuation prompt (`PS2=`) or a
    /// program's prompt looks like no prompt at all to the screen.
    pub fn at_submit(&mut self, prompt_back: bool, prompt: Option<&str>) -> GuardState {
        if !self.ever {
            return GuardState::Absent;
        }
        if self.lost {
            return GuardState::Lost;
        }
        if self.since_submit {
            if prompt_back && prompt.is_some() {
                self.guarded_prompt = prompt.map(str::to_string);
            }
            return GuardState::Present;
        }
        let same_prompt = prompt.is_some() && prompt == self.guarded_prompt.as_deref();
        if prompt_back && same_prompt {
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
        let prompt = Some("$ ");
        let mut heart = Heartbeat::default();
        assert_eq!(heart.at_submit(true, prompt), GuardState::Absent);
        heart.beat();
        assert_eq!(heart.at_submit(true, prompt), GuardState::Present);
        heart.submitted();
        // A program reads the next line: no prompt yet, no verdict.
        assert_eq!(heart.at_submit(false, None), GuardState::Present);
        // A prompt of another look (an empty PS2, a program's): no verdict either.
        assert_eq!(heart.at_submit(true, Some("")), GuardState::Present);
        assert_eq!(heart.at_submit(true, Some(">>> ")), GuardState::Present);
        heart.beat();
        assert_eq!(heart.at_submit(true, prompt), GuardState::Present);
        heart.submitted();
        assert_eq!(heart.at_submit(true, prompt), GuardState::JustLost);
        assert_eq!(heart.at_submit(true, prompt), GuardState::Lost);
        heart.beat();
        assert_eq!(heart.at_submit(true, prompt), GuardState::Present);
    }
}
