//! The second negative control: a naive approval proxy, built on the published design that
//! `DESIGN.md` section 5 lists as bypassable.
//!
//! It is the pass-through relay (`crate::passthrough`) plus a [`NaiveGate`]: exec requests are
//! asked for before they reach the target, and a PTY shell's input is modelled by
//! [`NaiveLine`], with CR as the only submit and a deny sent as Ctrl+U. Each known bypass
//! (LF or Ctrl+O submits, Ctrl+U after a cursor move, OSC bytes in the line, Ctrl+C, pastes...)
//! works against it, so a conformance case that passes here does not detect its bypass.
//! Being naive is the point: do not make it smarter. Test code only, never part of sshgate.

use std::sync::atomic::{AtomicU64, Ordering};

use sshgate::approval::ApprovalPath;
use sshgate_wire::{ApprovalRequest, RequestKind};

use crate::passthrough::{Gate, SessionInfo, ShellGate, Step, Verdict, VerdictFuture};

const CR: u8 = 0x0d;
const ESC: u8 = 0x1b;
/// Ctrl+U: the design's deny, which kills only what is left of the cursor.
const KILL_TO_START: u8 = 0x15;

/// The naive policy: ask for every exec and every CR-submitted shell line.
pub struct NaiveGate {
    approvals: ApprovalPath,
    /// Refuse exec requests outright (a proxy without exec support).
    refuse_exec: bool,
}

impl NaiveGate {
    pub fn new(approvals: ApprovalPath, refuse_exec: bool) -> Self {
        NaiveGate {
            approvals,
            refuse_exec,
        }
    }
}

static REQUESTS: AtomicU64 = AtomicU64::new(0);

fn ask(
    approvals: &ApprovalPath,
    session: &SessionInfo,
    kind: RequestKind,
    command: String,
) -> VerdictFuture {
    let request = ApprovalRequest {
        id: format!(
            "naive-{}-{}",
            std::process::id(),
            REQUESTS.fetch_add(1, Ordering::Relaxed)
        ),
        session: session.session.clone(),
        kind,
        command,
        user: session.user.clone(),
        client: session.client.clone(),
        target: session.target.to_string(),
        certain: true,
        ..ApprovalRequest::default()
    };
    let decision = approvals.decide(request);
    Box::pin(async move {
        let decision = decision.await;
        if decision.approve {
            Ok(())
        } else {
            Err(decision.reason.unwrap_or_else(|| "denied".into()))
        }
    })
}

impl Gate for NaiveGate {
    fn exec(&self, session: &SessionInfo, command: &[u8]) -> VerdictFuture {
        let command = String::from_utf8_lossy(command).into_owned();
        ask(&self.approvals, session, RequestKind::Exec, command)
    }

    fn shell(&self, session: &SessionInfo) -> Option<Box<dyn ShellGate>> {
        Some(Box::new(NaiveShell {
            approvals: self.approvals.clone(),
            session: session.clone(),
            line: NaiveLine::default(),
            pending: false,
            held: Vec::new(),
        }))
    }

    fn takes_exec(&self) -> bool {
        !self.refuse_exec
    }
}

/// One PTY shell: forwards every byte as typed except CR, which waits for a decision.
struct NaiveShell {
    approvals: ApprovalPath,
    session: SessionInfo,
    line: NaiveLine,
    /// A CR is waiting for its verdict; input is held meanwhile.
    pending: bool,
    held: Vec<u8>,
}

impl ShellGate for NaiveShell {
    fn input(&mut self, bytes: &[u8]) -> Vec<Step> {
        if self.pending {
            self.held.extend_from_slice(bytes);
            return Vec::new();
        }
        let mut forward = Vec::with_capacity(bytes.len());
        for (index, &byte) in bytes.iter().enumerate() {
            match self.line.push(byte) {
                Action::Forward => forward.push(byte),
                Action::Submit => {
                    self.pending = true;
                    self.held.extend_from_slice(&bytes[index + 1..]);
                    let command = self.line.text();
                    let ask = ask(&self.approvals, &self.session, RequestKind::Shell, command);
                    return vec![Step::ToTarget(forward), Step::Ask(ask)];
                }
            }
        }
        vec![Step::ToTarget(forward)]
    }

    fn decided(&mut self, verdict: Verdict) -> Vec<Step> {
        let mut steps = match verdict {
            Ok(()) => vec![Step::ToTarget(vec![CR])],
            Err(reason) => vec![
                Step::ToTarget(vec![KILL_TO_START]),
                Step::ToOperator(format!("\r\ndenied: {reason}\r\n").into_bytes()),
            ],
        };
        self.line.clear();
        self.pending = false;
        let held = std::mem::take(&mut self.held);
        steps.extend(self.input(&held));
        steps
    }
}

/// What [`NaiveLine::push`] makes of one operator byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Forward the byte to the target as typed.
    Forward,
    /// The byte is a CR: the line is submitted; hold the CR until decided.
    Submit,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
enum Parse {
    #[default]
    Ground,
    /// After an ESC.
    Escape,
    /// Inside `ESC [`, with the parameter and intermediate bytes so far.
    Csi(Vec<u8>),
    /// Inside a UTF-8 sequence: the bytes so far and the length expected.
    Utf8(Vec<u8>, usize),
}

/// The naive model of the operator's line: characters and a cursor, edited by printable
/// characters, DEL and Backspace, and the CSI keys Left, Right, Home, End and Delete. Every
/// other byte is ignored by the model. Sans-IO.
#[derive(Debug, Default, Clone)]
pub struct NaiveLine {
    chars: Vec<char>,
    cursor: usize,
    parse: Parse,
}

impl NaiveLine {
    /// Feed one operator byte.
    pub fn push(&mut self, byte: u8) -> Action {
        match std::mem::take(&mut self.parse) {
            Parse::Ground => {}
            Parse::Escape if byte == b'[' => {
                self.parse = Parse::Csi(Vec::new());
                return Action::Forward;
            }
            // An ESC not followed by '[' is dropped; this byte is handled normally.
            Parse::Escape => {}
            Parse::Csi(mut params) => match byte {
                0x20..=0x3f => {
                    params.push(byte);
                    self.parse = Parse::Csi(params);
                    return Action::Forward;
                }
                0x40..=0x7e => {
                    self.csi(&params, byte);
                    return Action::Forward;
                }
                // A control byte aborts the sequence and is handled normally.
                _ => {}
            },
            Parse::Utf8(mut bytes, length) if byte & 0xc0 == 0x80 => {
                bytes.push(byte);
                if bytes.len() < length {
                    self.parse = Parse::Utf8(bytes, length);
                } else if let Some(c) = std::str::from_utf8(&bytes)
                    .ok()
                    .and_then(|s| s.chars().next())
                {
                    self.insert(c);
                }
                return Action::Forward;
            }
            // An incomplete sequence is dropped; this byte is handled normally.
            Parse::Utf8(..) => {}
        }
        match byte {
            CR => return Action::Submit,
            ESC => self.parse = Parse::Escape,
            0x7f | 0x08 if self.cursor > 0 => {
                self.cursor -= 1;
                self.chars.remove(self.cursor);
            }
            0x20..=0x7e => self.insert(char::from(byte)),
            0xc2..=0xdf => self.parse = Parse::Utf8(vec![byte], 2),
            0xe0..=0xef => self.parse = Parse::Utf8(vec![byte], 3),
            0xf0..=0xf4 => self.parse = Parse::Utf8(vec![byte], 4),
            // Other control bytes and invalid UTF-8: ignored by the model.
            _ => {}
        }
        Action::Forward
    }

    /// Feed several bytes; the actions in order.
    pub fn push_all(&mut self, bytes: &[u8]) -> Vec<Action> {
        bytes.iter().map(|&byte| self.push(byte)).collect()
    }

    /// The line as the model sees it.
    pub fn text(&self) -> String {
        self.chars.iter().collect()
    }

    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// Forget the line (after a decision).
    pub fn clear(&mut self) {
        *self = NaiveLine::default();
    }

    fn insert(&mut self, c: char) {
        self.chars.insert(self.cursor, c);
        self.cursor += 1;
    }

    fn csi(&mut self, params: &[u8], last: u8) {
        match (params, last) {
            (_, b'D') => self.cursor = self.cursor.saturating_sub(1),
            (_, b'C') => self.cursor = (self.cursor + 1).min(self.chars.len()),
            (_, b'H') => self.cursor = 0,
            (_, b'F') => self.cursor = self.chars.len(),
            (b"3", b'~') if self.cursor < self.chars.len() => {
                self.chars.remove(self.cursor);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEFT: &[u8] = b"\x1b[D";

    fn typed(bytes: &[u8]) -> (NaiveLine, Vec<Action>) {
        let mut line = NaiveLine::default();
        let actions = line.push_all(bytes);
        (line, actions)
    }

    fn submits(actions: &[Action]) -> usize {
        actions.iter().filter(|a| **a == Action::Submit).count()
    }

    #[test]
    fn left_arrows_move_the_insertion_point() {
        let input = [b"echo hi", LEFT, LEFT, b"X\r"].concat();
        let (line, actions) = typed(&input);
        assert_eq!(line.text(), "echo Xhi");
        assert_eq!(actions.last(), Some(&Action::Submit));
        assert_eq!(submits(&actions), 1);
    }

    #[test]
    fn lf_and_ctrl_o_are_not_submits() {
        let (line, actions) = typed(b"ls\n\x0f");
        assert_eq!(submits(&actions), 0);
        assert_eq!(line.text(), "ls");
    }

    #[test]
    fn an_osc_string_leaks_into_the_line() {
        let (line, actions) = typed(b"\x1b]0;x\x07");
        assert_eq!(line.text(), "]0;x");
        assert_eq!(submits(&actions), 0);
    }

    #[test]
    fn home_end_and_deletes_edit_the_line() {
        let (line, _) = typed(b"abc\x1b[H\x1b[3~\x1b[Fd\x7f\x08");
        assert_eq!(line.text(), "b");
        assert_eq!(line.cursor(), 1);
    }

    #[test]
    fn other_csis_and_control_bytes_are_ignored() {
        let (line, _) = typed(b"a\x1b[A\x1b[1;5R\x03\x15\x17\tb");
        assert_eq!(line.text(), "ab");
    }

    #[test]
    fn utf8_is_decoded_even_when_split() {
        let mut line = NaiveLine::default();
        line.push_all(&"é€".as_bytes()[..3]);
        line.push_all(&"é€".as_bytes()[3..]);
        assert_eq!(line.text(), "é€");
    }

    #[test]
    fn cr_submits_even_inside_an_escape_sequence() {
        let (_, actions) = typed(b"\x1b[1\r");
        assert_eq!(actions.last(), Some(&Action::Submit));
    }

    /// A shell gate whose verdicts the test hands in itself.
    fn shell() -> NaiveShell {
        struct Never;
        impl sshgate::approval::Approver for Never {
            fn request(&self, _: ApprovalRequest) -> sshgate::approval::DecisionFuture {
                Box::pin(std::future::pending())
            }
            fn cancel(&self, _: &str, _: &str) {}
            fn alert(&self, _: sshgate_wire::Alert) {}
        }
        let approvals = ApprovalPath::new(
            std::sync::Arc::new(Never),
            std::time::Duration::from_secs(1),
        );
        NaiveShell {
            approvals,
            session: SessionInfo {
                session: "s".into(),
                user: "u".into(),
                client: String::new(),
                target: "127.0.0.1:22".parse().unwrap(),
            },
            line: NaiveLine::default(),
            pending: false,
            held: Vec::new(),
        }
    }

    fn to_target(steps: &[Step]) -> Vec<u8> {
        steps
            .iter()
            .filter_map(|step| match step {
                Step::ToTarget(bytes) => Some(bytes.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    fn asks(steps: &[Step]) -> usize {
        steps.iter().filter(|s| matches!(s, Step::Ask(_))).count()
    }

    #[test]
    fn a_cr_holds_the_rest_until_decided_and_a_deny_sends_ctrl_u() {
        let mut shell = shell();
        let steps = shell.input(b"rm x\rls");
        assert_eq!(to_target(&steps), b"rm x");
        assert_eq!(asks(&steps), 1);
        assert!(shell.input(b"\r").is_empty());
        let steps = shell.decided(Err("blocked".into()));
        assert_eq!(to_target(&steps), b"\x15ls");
        assert!(steps.iter().any(|s| matches!(
            s,
            Step::ToOperator(bytes) if bytes == b"\r\ndenied: blocked\r\n"
        )));
        assert_eq!(asks(&steps), 1, "the held CR asks again");
        let steps = shell.decided(Ok(()));
        assert_eq!(to_target(&steps), b"\r");
        assert_eq!(asks(&steps), 0);
    }
}
