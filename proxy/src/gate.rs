//! The shell gate: decides, byte by byte, what of the operator's input may reach the target.
//!
//! Sans-IO: the bridge feeds it client input, target output and decisions, and carries out the
//! [`GateAction`]s it returns. Invariant: a byte the reconstructor calls a submit never reaches
//! the target before an approval for that line; while a decision is pending, no input reaches
//! the target at all except the Ctrl+C that cancels it.

use std::collections::VecDeque;

use crate::semantic_prompt::OperatorMarkFilter;
use sshgate_keystroke::{ByteAction, Reconstructor, Submit, SubmitKey};

/// Input held while a decision is pending. Beyond this, keys are dropped and the operator
/// hears a bell: a person typing ahead never gets near it, a runaway paste does.
pub const HELD_INPUT_LIMIT: usize = 64 * 1024;

const CTRL_C: u8 = 0x03;
/// C-d: on an empty line, the end of input.
const EOT: u8 = 0x04;
/// The tty's STOP and START characters (C-s, C-q), with IXON at the target's default.
const XOFF: u8 = 0x13;
const XON: u8 = 0x11;
const BELL: &[u8] = b"\x07";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateAction {
    /// Send these bytes to the target's shell.
    ToTarget(Vec<u8>),
    /// Show these bytes to the operator.
    ToClient(Vec<u8>),
    /// Ask about this line; call [`ShellGate::decided`] with the answer. A line the model
    /// holds as certainly blank is asked about too: only the screen can confirm that nothing
    /// is left on it (a Ctrl+C the shell ignored, deny keys its editing mode does not know).
    /// `discarded` is the text that Ctrl+C or a deny was to discard since the last approved
    /// submit: it may still be on the line where the screen does not show the line as the
    /// keys left it, or has not answered since (a slow target, output stopped with C-s).
    /// `interrupted` is the part of it that Ctrl+C was to discard: a shell ignoring Ctrl+C
    /// (`trap '' INT`, `stty intr undef`) keeps it, which only the screen can show.
    Ask {
        submit: Submit,
        discarded: String,
        interrupted: String,
        /// A Ctrl+C reached the target while its output was stopped: the tty threw away
        /// whatever input the shell had not read yet, an approved Enter included, so what the
        /// line holds is known only if the screen shows it.
        line_unknown: bool,
    },
    /// An approved submit goes to the target next: a program may start reading.
    Submitted,
    /// A key that ends the line editor's reading goes to the target next: an approved submit
    /// (a blank line's too) or the end of input (C-d on an empty line).
    LineEnds,
    /// A Ctrl+C goes to the target next.
    Interrupted,
    /// The keys that discard a denied line go to the target next.
    Denied,
    /// The pending request was cancelled (Ctrl+C); tell the approver.
    Cancel,
    /// The first key of a new line comes next: the prompt is on the target's screen now.
    LineStarts,
}

/// A submit held until its decision: the byte that would run the line, and the line.
struct Pending {
    byte: u8,
    line: String,
    /// The key runs the line where the shell reads it as the model does (not C-d on a
    /// non-empty line, a stray eighth-bit byte, or a quoted control character).
    runs_the_line: bool,
}

pub struct ShellGate {
    reconstructor: Reconstructor,
    pending: Option<Pending>,
    held: VecDeque<u8>,
    /// Whether a key of the current line has gone out since the last submit or interrupt.
    line_open: bool,
    /// The current line began in the same packet as a Ctrl+C before it. Bash, interrupted,
    /// may lose the first key after the Ctrl+C while still showing it (found by the
    /// differential test against bash 5.2: `^Cecho safe` in one packet runs `cho safe`), so
    /// neither the keys nor the screen can be sure of that line.
    after_interrupt: bool,
    /// What Ctrl+C and denies were to discard since the last approved submit.
    discarded: String,
    /// What Ctrl+C alone was to discard since the last approved submit.
    interrupted: String,
    /// The operator stopped the target's output (C-s) and has not restarted it: the target
    /// cannot show whether a discard took effect.
    output_stopped: bool,
    /// A Ctrl+C went out while the output was stopped, and no decision since.
    line_unknown: bool,
    /// A deny went out: input is held until the target's answer to it has settled
    /// ([`ShellGate::release`]). Keys arriving while bash handles the interrupt that drops a
    /// command make it keep the line and lose a key; zsh answers the discard keys by starting
    /// its editor over, which must not be taken for keys of the next line.
    deny_hold: bool,
    /// Semantic prompt marks never pass from the operator's side (see [`crate::semantic_prompt`]).
    operator_marks: OperatorMarkFilter,
}

impl Default for ShellGate {
    fn default() -> Self {
        Self::new()
    }
}

impl ShellGate {
    pub fn new() -> Self {
        ShellGate {
            reconstructor: Reconstructor::new(),
            pending: None,
            held: VecDeque::new(),
            line_open: false,
            after_interrupt: false,
            discarded: String::new(),
            interrupted: String::new(),
            output_stopped: false,
            line_unknown: false,
            deny_hold: false,
            operator_marks: OperatorMarkFilter::default(),
        }
    }

    pub fn is_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// The line waiting for a decision holds a line break (a paste): an editor that edits
    /// such a buffer line by line (fish) clears only the last of them with the discard keys.
    pub fn pending_spans_lines(&self) -> bool {
        self.pending
            .as_ref()
            .is_some_and(|pending| pending.line.contains('\n'))
    }

    /// Input is held until the target's answer to a deny has settled; then call
    /// [`ShellGate::release`].
    pub fn holds_after_deny(&self) -> bool {
        self.deny_hold
    }

    /// The target's answer to the deny has settled (or the wait for it is over): held input
    /// goes on.
    /// With `discard_line`, the discard keys go first: the Ctrl+C a deny sent instead of them
    /// was not answered, so the shell may not take it as an interrupt (`stty intr undef`) and
    /// still shows the denied line.
    pub fn release(&mut self, discard_line: bool) -> Vec<GateAction> {
        let mut actions = Vec::new();
        self.deny_hold = false;
        if discard_line {
            actions.push(GateAction::Denied);
            actions.push(GateAction::ToTarget(self.reconstructor.denied()));
        }
        let held: Vec<u8> = self.held.drain(..).collect();
        self.input(&held, &mut actions);
        actions
    }

    /// Whether the input model follows every key of the current line exactly.
    pub fn line_certain(&self) -> bool {
        self.reconstructor.certain()
    }

    /// Bytes the operator typed.
    pub fn client_input(&mut self, data: &[u8]) -> Vec<GateAction> {
        let mut actions = Vec::new();
        let data = self.operator_marks.filter(data);
        self.input(&data, &mut actions);
        actions
    }

    /// The target enabled or disabled bracketed paste mode, which decides whether a newline
    /// inside a paste runs the line.
    pub fn set_bracketed_paste(&mut self, enabled: bool) {
        self.reconstructor.set_bracketed_paste(enabled);
    }

    /// The approver's answer to the last [`GateAction::Ask`]. With `drop_command`, a deny
    /// interrupts the shell (Ctrl+C) instead of sending the discard keys: that drops the whole
    /// command it is reading, where the discard keys would clear only the last of its lines.
    /// Input held while the decision was pending, taken back instead of being replayed by
    /// [`decided`](Self::decided): a caller that must hold it longer feeds it back later.
    pub fn take_held(&mut self) -> Vec<u8> {
        self.held.drain(..).collect()
    }

    pub fn decided(&mut self, approve: bool, reason: &str, drop_command: bool) -> Vec<GateAction> {
        let mut actions = Vec::new();
        let Some(pending) = self.pending.take() else {
            return actions;
        };
        self.line_open = false;
        self.after_interrupt = false;
        self.line_unknown = false;
        if approve {
            self.discarded.clear();
            self.interrupted.clear();
            // An empty line starts no program, and a key that only a target reading it
            // otherwise would take as a submit leaves the line being edited.
            if !is_blank(&pending.line) && pending.runs_the_line {
                actions.push(GateAction::Submitted);
            }
            actions.push(GateAction::LineEnds);
            actions.push(GateAction::ToTarget(vec![pending.byte]));
            self.reconstructor.accepted();
        } else {
            // The deny keys restart the output.
            self.output_stopped = false;
            self.discarded.push_str(&pending.line);
            actions.push(GateAction::ToClient(
                format!("\r\n[sshgate] denied: {reason}\r\n").into_bytes(),
            ));
            actions.push(GateAction::Denied);
            if drop_command {
                // Ctrl+C alone: the tty throws away input the shell has not read when it takes
                // the interrupt (discard keys ahead of it may never be read), and keys right
                // behind it find bash busy with the signal, which then keeps the line and loses
                // a key of the next one. A shell ignoring the interrupt keeps the line, which
                // the screen shows at the next submit.
                self.reconstructor.interrupted_for_deny();
                self.stopped_output_interrupted();
                actions.push(GateAction::Interrupted);
                actions.push(GateAction::ToTarget(vec![CTRL_C]));
            } else {
                actions.push(GateAction::ToTarget(self.reconstructor.denied()));
            }
            self.deny_hold = true;
        }
        let held: Vec<u8> = self.held.drain(..).collect();
        self.input(&held, &mut actions);
        actions
    }

    fn input(&mut self, data: &[u8], actions: &mut Vec<GateAction>) {
        if self.pending.is_some() || self.deny_hold {
            self.hold(data, actions);
            return;
        }
        let mut forward = Vec::new();
        for (index, &byte) in data.iter().enumerate() {
            if !self.line_open {
                if !forward.is_empty() {
                    actions.push(GateAction::ToTarget(std::mem::take(&mut forward)));
                }
                actions.push(GateAction::LineStarts);
                self.line_open = true;
            }
            if byte == CTRL_C {
                let line = self.reconstructor.line();
                self.discarded.push_str(&line);
                self.interrupted.push_str(&line);
                self.stopped_output_interrupted();
            }
            let ends_input = byte == EOT && self.reconstructor.line().is_empty();
            match self.reconstructor.push(byte) {
                ByteAction::Forward => {
                    match byte {
                        XOFF => self.output_stopped = true,
                        XON => self.output_stopped = false,
                        _ if ends_input => actions.push(GateAction::LineEnds),
                        _ => {}
                    }
                    forward.push(byte)
                }
                ByteAction::Discard => {}
                ByteAction::Interrupt => {
                    // Ahead of the bytes it goes out with, which stay one packet: split, they
                    // would reach the target's tty as two reads.
                    actions.push(GateAction::Interrupted);
                    forward.push(byte);
                    self.line_open = false;
                    self.after_interrupt = index + 1 < data.len();
                }
                ByteAction::Submit(mut submit) => {
                    let after_interrupt = std::mem::take(&mut self.after_interrupt);
                    // Losing a key of a blank line after a Ctrl+C only ever leaves less on it.
                    submit.certain &= !after_interrupt || is_blank(&submit.line);
                    if !forward.is_empty() {
                        actions.push(GateAction::ToTarget(std::mem::take(&mut forward)));
                    }
                    let possible_only = matches!(
                        submit.key,
                        SubmitKey::EndOfFile | SubmitKey::EightBitSubmit | SubmitKey::QuotedControl
                    );
                    self.pending = Some(Pending {
                        byte,
                        line: submit.line.clone(),
                        runs_the_line: !possible_only,
                    });
                    actions.push(GateAction::Ask {
                        submit,
                        discarded: self.discarded.clone(),
                        interrupted: self.interrupted.clone(),
                        line_unknown: self.line_unknown,
                    });
                    self.hold(&data[index + 1..], actions);
                    return;
                }
            }
        }
        if !forward.is_empty() {
            actions.push(GateAction::ToTarget(forward));
        }
    }

    /// A Ctrl+C is going out: with the output stopped, the tty restarts it and throws away
    /// the input not read yet.
    fn stopped_output_interrupted(&mut self) {
        if self.output_stopped {
            self.output_stopped = false;
            self.line_unknown = true;
        }
    }

    /// Input while a decision is pending: held, except that Ctrl+C cancels the request and
    /// discards the line together with everything typed since the submit.
    fn hold(&mut self, data: &[u8], actions: &mut Vec<GateAction>) {
        if let Some(position) = data.iter().position(|&byte| byte == CTRL_C) {
            if let Some(pending) = self.pending.take() {
                self.discarded.push_str(&pending.line);
                self.interrupted.push_str(&pending.line);
            }
            self.stopped_output_interrupted();
            self.held.clear();
            self.reconstructor.interrupted();
            self.line_open = false;
            self.after_interrupt = position + 1 < data.len();
            actions.push(GateAction::Cancel);
            actions.push(GateAction::Interrupted);
            actions.push(GateAction::ToTarget(vec![CTRL_C]));
            self.input(&data[position + 1..], actions);
            return;
        }
        let room = HELD_INPUT_LIMIT.saturating_sub(self.held.len());
        self.held.extend(&data[..data.len().min(room)]);
        if data.len() > room {
            actions.push(GateAction::ToClient(BELL.to_vec()));
        }
    }
}

/// Blank as a shell sees it: spaces and tabs only (a no-break space is a command name).
pub fn is_blank(line: &str) -> bool {
    line.chars().all(|c| c == ' ' || c == '\t')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_target(actions: &[GateAction]) -> Vec<u8> {
        actions
            .iter()
            .flat_map(|action| match action {
                GateAction::ToTarget(bytes) => bytes.clone(),
                _ => vec![],
            })
            .collect()
    }

    fn asked(actions: &[GateAction]) -> Vec<String> {
        actions
            .iter()
            .filter_map(|action| match action {
                GateAction::Ask { submit, .. } => Some(submit.line.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn submit_is_held_until_approved() {
        let mut gate = ShellGate::new();
        let actions = gate.client_input(b"echo hi\r");
        assert_eq!(to_target(&actions), b"echo hi");
        assert_eq!(asked(&actions), ["echo hi"]);
        assert_eq!(to_target(&gate.decided(true, "", false)), b"\r");
        assert!(!gate.is_pending());
    }

    #[test]
    fn semantic_prompt_marks_never_reach_the_target_from_the_operator() {
        let mut gate = ShellGate::new();
        let actions = gate.client_input(b"cat\x1b]133;C\x07 -v\x1b]133;A;k=s\x1b\\\r");
        assert_eq!(to_target(&actions), b"cat -v");
        assert_eq!(asked(&actions), ["cat -v"]);
    }

    #[test]
    fn input_while_pending_is_held_then_replayed() {
        let mut gate = ShellGate::new();
        let first = gate.client_input(b"echo a\recho b");
        assert_eq!(to_target(&first), b"echo a");
        assert!(to_target(&gate.client_input(b"\r")).is_empty());
        let after = gate.decided(true, "", false);
        assert_eq!(to_target(&after), b"\recho b");
        assert_eq!(asked(&after), ["echo b"]);
    }

    #[test]
    fn deny_discards_the_whole_line_and_tells_the_operator() {
        let mut gate = ShellGate::new();
        gate.client_input(b"echo DENY\x1b[D\x1b[D\r");
        let actions = gate.decided(false, "blocked", false);
        assert_eq!(to_target(&actions), b"\x11\x07\x05\x15");
        assert!(actions.iter().any(|action| matches!(action,
            GateAction::ToClient(bytes) if String::from_utf8_lossy(bytes).contains("denied: blocked"))));
    }

    #[test]
    fn an_empty_line_after_a_deny_is_held_like_any_other() {
        // Only the screen can confirm that the deny keys left nothing on the line.
        let mut gate = ShellGate::new();
        gate.client_input(b"echo DENY\r");
        gate.decided(false, "blocked", false);
        // Held until the target's answer to the deny has settled.
        assert!(gate.client_input(b"\r").is_empty());
        let actions = gate.release(false);
        assert!(to_target(&actions).is_empty());
        assert_eq!(asked(&actions), [""]);
        let approved = gate.decided(true, "", false);
        assert!(!approved.contains(&GateAction::Submitted));
        assert_eq!(to_target(&approved), b"\r");
    }

    #[test]
    fn a_deny_that_drops_a_command_interrupts_instead_of_the_discard_keys() {
        let mut gate = ShellGate::new();
        gate.client_input(b"NY\r");
        let actions = gate.decided(false, "blocked", true);
        assert_eq!(to_target(&actions), b"\x03");
        let interrupted = actions.iter().position(|a| *a == GateAction::Interrupted);
        let sent = actions
            .iter()
            .position(|a| matches!(a, GateAction::ToTarget(_)));
        assert!(interrupted < sent, "{actions:?}");
        // Nothing races the shell's answer to the interrupt.
        assert!(to_target(&gate.client_input(b"ls")).is_empty());
        assert!(gate.holds_after_deny());
        assert_eq!(to_target(&gate.release(false)), b"ls");
    }

    #[test]
    fn a_deny_inside_a_paste_ends_it_and_drops_the_rest() {
        let mut gate = ShellGate::new();
        gate.client_input(b"echo DENY\x1b[200~\r");
        let denied = gate.decided(false, "blocked", false);
        assert_eq!(to_target(&denied), b"\x1b[201~\x11\x07\x05\x15");
        assert!(to_target(&gate.client_input(b"more\x1b[201~ls")).is_empty());
        assert_eq!(to_target(&gate.release(false)), b"ls");
    }

    #[test]
    fn ctrl_c_cancels_the_pending_request_and_drops_held_input() {
        let mut gate = ShellGate::new();
        gate.client_input(b"echo DENY\r");
        let actions = gate.client_input(b"junk\x03ls\r");
        assert!(actions.contains(&GateAction::Cancel));
        assert_eq!(to_target(&actions), b"\x03ls");
        assert_eq!(asked(&actions), ["ls"]);
    }

    #[test]
    fn held_input_is_bounded_with_a_bell() {
        let mut gate = ShellGate::new();
        gate.client_input(b"x\r");
        let actions = gate.client_input(&vec![b'a'; HELD_INPUT_LIMIT + 1]);
        assert!(actions.contains(&GateAction::ToClient(BELL.to_vec())));
        assert_eq!(gate.held.len(), HELD_INPUT_LIMIT);
    }

    #[test]
    fn each_line_start_is_announced_before_its_first_key() {
        let mut gate = ShellGate::new();
        let actions = gate.client_input(b"ls\r");
        assert_eq!(actions[0], GateAction::LineStarts);
        assert_eq!(actions[1], GateAction::ToTarget(b"ls".to_vec()));
        let after = gate.decided(true, "", false);
        assert!(!after.contains(&GateAction::LineStarts));
        let count_starts = |actions: &[GateAction]| {
            actions
                .iter()
                .filter(|a| **a == GateAction::LineStarts)
                .count()
        };
        // The empty line is held, and the Ctrl+C cancels it: `p` starts another line.
        let next = gate.client_input(b"\r\x03p");
        assert!(next.contains(&GateAction::Cancel));
        assert_eq!(count_starts(&next), 2, "{next:?}");
    }

    #[test]
    fn a_line_typed_after_ctrl_c_in_the_same_packet_is_uncertain() {
        let certainty = |actions: &[GateAction]| -> Vec<bool> {
            actions
                .iter()
                .filter_map(|action| match action {
                    GateAction::Ask { submit, .. } => Some(submit.certain),
                    _ => None,
                })
                .collect()
        };
        let mut gate = ShellGate::new();
        assert_eq!(
            certainty(&gate.client_input(b"rm x\x03echo safe\r")),
            [false]
        );
        gate.decided(true, "", false);
        // Ctrl+C alone in its packet: the next line is as certain as its keys.
        let mut gate = ShellGate::new();
        gate.client_input(b"rm x\x03");
        assert_eq!(certainty(&gate.client_input(b"echo safe\r")), [true]);
        // Ctrl+C cancelling a pending request, with a line after it in the packet.
        let mut gate = ShellGate::new();
        gate.client_input(b"echo a\r");
        assert_eq!(certainty(&gate.client_input(b"\x03echo b\r")), [false]);
    }

    #[test]
    fn pasted_newline_runs_only_without_bracketed_paste_mode() {
        let paste = b"\x1b[200~echo a\recho b\x1b[201~";
        let mut plain = ShellGate::new();
        assert_eq!(asked(&plain.client_input(paste)), ["echo a"]);

        let mut bracketed = ShellGate::new();
        bracketed.set_bracketed_paste(true);
        assert!(asked(&bracketed.client_input(paste)).is_empty());
    }
}
