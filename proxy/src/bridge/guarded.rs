//! The bridge's half of the guard protocol (docs/guard.md) on a shell channel: each question
//! the target's guard asks is answered from the line the approver approved when that line
//! holds the command, and otherwise asked about as a request of kind `guard`; the answer goes
//! into the channel while the operator's input waits, so that no key lands in the guard's
//! read. The heartbeat is checked at each submit (see `Bridge::ask_about_line`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use sshgate_wire::{Alert, Decision, RequestKind};
use tokio::time::Instant;

use super::{ask, lock, Bridge, PendingDecision, Step};
use crate::approval::ApprovalPath;
use crate::gate::HELD_INPUT_LIMIT;
use crate::guard::cover::ApprovedLines;
use crate::guard::heartbeat::{GuardState, Heartbeat};
use crate::guard::sequence::{answer, Ask, Event, InputFilter};
use crate::guard::GuardMode;
use crate::log_text::quoted;
use crate::to_operator::Notice;

/// Ctrl+C: the operator gives up on the question open (the guard then skips the command).
const CTRL_C: u8 = 0x03;
/// After an answer, input still waits this long for the line's next question (the next
/// command of `a; b` is asked about a moment after the first is answered), unless the next
/// question or the heartbeat comes first: a key sent in between would land in the guard's
/// read and be lost. A program the command starts gets its keys this much later.
const NEXT_QUESTION_WAIT: std::time::Duration = std::time::Duration::from_millis(150);

/// One shell channel's guard state.
pub(super) struct GuardLink {
    pub mode: GuardMode,
    input: InputFilter,
    /// Lines approved since the shell's last prompt.
    pub approved: Arc<Mutex<ApprovedLines>>,
    pub heartbeat: Arc<Mutex<Heartbeat>>,
    /// Questions waiting for the one open to be answered.
    queue: VecDeque<Ask>,
    /// The question the approver is deciding, with its request id.
    open: Option<(Ask, String, PendingDecision)>,
    /// The operator's input, held (before the gate sees it) while a question is open or
    /// about to come.
    held: Vec<u8>,
    /// Until then, input is held for the guard's next question (or its heartbeat), which may
    /// come any moment: after an approved submit to a guarded shell, and after an answer.
    expecting_until: Option<Instant>,
    /// A heartbeat came, and the line editor has not shown it reads since.
    before_editor: bool,
    /// When the guard last asked.
    last_ask: Option<Instant>,
    /// The execution monitor saw the shell run what no submit started: unless the guard asks
    /// by then, the session ends.
    run_unasked_until: Option<Instant>,
}

impl GuardLink {
    pub fn new(mode: GuardMode) -> GuardLink {
        GuardLink {
            mode,
            input: InputFilter::default(),
            approved: Arc::default(),
            heartbeat: Arc::default(),
            queue: VecDeque::new(),
            open: None,
            held: Vec::new(),
            expecting_until: None,
            before_editor: false,
            last_ask: None,
            run_unasked_until: None,
        }
    }

    /// Keys the gate held behind an approved line: they go through the gate again, ahead of
    /// any held here since (they came first), once nothing holds them; while the line's first
    /// question may come, they wait for it.
    pub fn hold_first(&mut self, keys: Vec<u8>) {
        self.held.splice(0..0, keys);
    }

    /// The operator's bytes without guard sequences.
    pub fn filter<'a>(&mut self, data: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        self.input.filter(data)
    }

    /// The next moment something is due: the end of the wait for a guarded line's first
    /// question, or for a question about a run the execution monitor saw.
    pub fn next_deadline(&self) -> Option<Instant> {
        match (self.expecting_until, self.run_unasked_until) {
            (Some(one), Some(other)) => Some(one.min(other)),
            (one, other) => one.or(other),
        }
    }

    fn holding(&self) -> bool {
        self.open.is_some() || !self.queue.is_empty() || self.expecting_until.is_some()
    }

    /// An approved line goes to the target. When the shell reads it (`shell_reads`, as far
    /// as the screen tells: not a program it runs), its first question comes soon, if the
    /// shell is guarded, and the next prompt must bring a heartbeat.
    pub fn line_sent(&mut self, line: &str, shell_reads: bool, echo_wait: std::time::Duration) {
        lock(&self.approved).approved(line);
        if !shell_reads {
            return;
        }
        let mut heartbeat = lock(&self.heartbeat);
        if heartbeat.guarded() {
            self.expecting_until = Some(Instant::now() + echo_wait);
        }
        heartbeat.submitted();
    }
}

/// Resolves with the open question's decision, or never when none is open.
pub(super) async fn next_answer(link: &mut GuardLink) -> Decision {
    match &mut link.open {
        Some((_, _, future)) => future.await,
        None => std::future::pending().await,
    }
}

/// Resolves at `deadline`, or never.
pub(super) async fn deadline(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// What a line's check needs of the guard, carried into the decision's future.
pub(super) struct GuardCheck {
    mode: GuardMode,
    heartbeat: Arc<Mutex<Heartbeat>>,
    approval: ApprovalPath,
    /// The session, for an alert.
    alert: Alert,
    /// Set to why the session must end.
    ending: Arc<Mutex<Option<String>>>,
}

/// Said to the approver and the operator when a guard goes away.
const LOST: &str = "the shell's guard is gone: its prompt came back without a heartbeat (an \
                    approved `trap - DEBUG`, `exec`, or a shell started without it); sshgate now \
                    gates keystrokes alone, and a command no keystroke shows runs unasked";

impl GuardCheck {
    /// Before `request` (a submitted line) is asked about: what the heartbeat says. A request
    /// the guard's state forbids is denied unasked (Some), and the session ends.
    pub async fn check(
        &self,
        request: &mut sshgate_wire::ApprovalRequest,
        prompt_back: bool,
        prompt: Option<&str>,
    ) -> Option<Decision> {
        if self.mode == GuardMode::Off {
            return None;
        }
        let state = lock(&self.heartbeat).at_submit(prompt_back, prompt);
        let refusal = match (state, self.mode) {
            (GuardState::Present, _) => return None,
            (GuardState::Absent, GuardMode::Require) => {
                "sshgate --guard require: the target's shell has no guard (no heartbeat at its \
                 prompt; docs/guard.md says how to install it)"
                    .to_string()
            }
            (GuardState::Absent, _) => return None,
            (GuardState::JustLost, GuardMode::Require) => {
                format!("sshgate --guard require: {LOST}")
            }
            (GuardState::JustLost, _) => {
                tracing::warn!(session = %self.alert.session, "guard lost");
                let alert = Alert {
                    reason: LOST.into(),
                    ..self.alert.clone()
                };
                self.approval.alert(alert).await;
                request.warnings.push(LOST.into());
                return None;
            }
            (GuardState::Lost, _) => {
                request
                    .warnings
                    .push(format!("earlier in this session, {LOST}"));
                return None;
            }
        };
        *lock(&self.ending) = Some(refusal.clone());
        Some(self.approval.deny_unasked(request, &refusal).await)
    }
}

impl Bridge {
    /// The guard's part of a line's check.
    pub(super) fn guard_check(&self) -> GuardCheck {
        GuardCheck {
            mode: self.guard.mode,
            heartbeat: self.guard.heartbeat.clone(),
            approval: self.context.approval.clone(),
            alert: Alert {
                session: self.context.session.clone(),
                user: self.context.user.clone(),
                client: self.context.client.clone(),
                target: self.context.target.address().to_string(),
                reason: String::new(),
            },
            ending: self.ending.clone(),
        }
    }

    /// The channel closes: a question still open is cancelled, not left to time out.
    pub(super) async fn guard_closed(&mut self) {
        if let Some((_, id, _)) = self.guard.open.take() {
            let session = &self.context.session;
            self.context
                .approval
                .cancel(session, &id, "the channel closed")
                .await;
        }
    }

    /// Operator input on a shell channel: guard sequences stripped, then held while the guard
    /// waits for an answer, or through the gate.
    pub(super) async fn shell_input(&mut self, data: &[u8]) -> Step {
        let data = self.guard.filter(data);
        if !self.guard.holding() {
            return self.through_gate(&data).await;
        }
        if data.contains(&CTRL_C) {
            if let Some((ask, id, _)) = self.guard.open.take() {
                tracing::info!(id = %quoted(&id), "guard question cancelled by Ctrl+C");
                let session = &self.context.session;
                let reason = "cancelled by the operator (Ctrl+C)";
                self.context.approval.cancel(session, &id, reason).await;
                self.target
                    .data(&answer(&ask.nonce, false)[..])
                    .await
                    .map_err(drop)?;
            }
        }
        self.guard.held.extend_from_slice(&data);
        if self.guard.held.len() > HELD_INPUT_LIMIT {
            // Until the answer: the operator's writes wait in SSH's flow control.
            self.input_paused = true;
        }
        self.next_question().await
    }

    /// What the target's guard wrote.
    pub(super) async fn guard_event(&mut self, event: Event) -> Step {
        match event {
            Event::Beat => {
                lock(&self.guard.heartbeat).beat();
                lock(&self.guard.approved).prompt();
                // The shell draws its prompt next; keys sent before its line editor reads
                // would be echoed by the tty, and then again by the editor. Input waits
                // until the editor switches bracketed paste on (see `editor_reads`).
                self.guard.expecting_until = Some(Instant::now() + NEXT_QUESTION_WAIT);
                self.guard.before_editor = true;
                self.next_question().await
            }
            Event::Ask(ask) => {
                self.guard.expecting_until = None;
                self.guard.before_editor = false;
                self.guard.last_ask = Some(Instant::now());
                if self.guard.run_unasked_until.take().is_some() {
                    self.screen.lock().acknowledge_run();
                }
                self.guard.queue.push_back(ask);
                self.next_question().await
            }
            Event::Unreadable(what) => {
                tracing::warn!(session = %self.context.session, what = %quoted(&what), "guard");
                let notice = format!(
                    "\r\n[sshgate] the target's guard wrote {what}; it waits for an answer \
                     sshgate cannot give (Ctrl+C skips the command)\r\n"
                );
                self.notices
                    .send(Notice::Show(notice.into_bytes()))
                    .await
                    .map_err(drop)
            }
        }
    }

    /// Take up the next question when none is open: answered at once when an approved line
    /// covers it, else asked about. With no question left, the held input goes on.
    pub(super) async fn next_question(&mut self) -> Step {
        while self.guard.open.is_none() {
            let Some(question) = self.guard.queue.pop_front() else {
                if !self.guard.holding() {
                    return self.release_held().await;
                }
                return Ok(());
            };
            if lock(&self.guard.approved).cover(&question) {
                tracing::info!(
                    command = %quoted(&question.command),
                    "guard question answered by the approved line"
                );
                self.answer_guard(&question, true).await?;
                continue;
            }
            let request = self.guard_request(&question);
            let id = request.id.clone();
            let decision = Box::pin(ask(self.context.approval.clone(), request));
            self.guard.open = Some((question, id, decision));
        }
        Ok(())
    }

    fn guard_request(&self, ask: &Ask) -> sshgate_wire::ApprovalRequest {
        let mut request = self.request(RequestKind::Guard, ask.command.clone(), true);
        request.context = self.screen.lock().context();
        request.warnings.push(format!(
            "the shell on the target is about to run this command {}; no line the approver \
             approved holds it as written",
            ask.origin.describe()
        ));
        if !ask.functions.is_empty() {
            request.warnings.push(format!(
                "it runs inside the shell function(s) {}, innermost first",
                ask.functions
            ));
        }
        if ask.subshell > 0 {
            request.warnings.push(format!(
                "it runs in a subshell ($(...), ( ... ) or a pipeline), {} deep",
                ask.subshell
            ));
        }
        request.warnings.push(
            "the guard asks before word expansion: variables, $(...) and quotes in it are \
             expanded only when it runs"
                .into(),
        );
        if ask.command.contains(char::REPLACEMENT_CHARACTER) {
            // The guard sends bytes; U+FFFD stands for those that are not UTF-8.
            request.certain = false;
            request.warnings.push(
                "the command holds bytes that are not UTF-8 (shown as U+FFFD): what runs is \
                 not what is shown"
                    .into(),
            );
        }
        request
    }

    /// The approver decided the open question.
    pub(super) async fn guard_decided(&mut self, decision: Decision) -> Step {
        let Some((ask, _, _)) = self.guard.open.take() else {
            return Ok(());
        };
        self.answer_guard(&ask, decision.approve).await?;
        if !decision.approve {
            let reason = decision.reason.unwrap_or_default();
            let notice = format!("\r\n[sshgate] denied: {}: {reason}\r\n", ask.command);
            self.notices
                .send(Notice::Show(notice.into_bytes()))
                .await
                .map_err(drop)?;
        }
        self.next_question().await
    }

    /// A deadline of [`GuardLink::next_deadline`] came.
    pub(super) async fn deadline_passed(&mut self) -> Step {
        let now = Instant::now();
        if self
            .guard
            .run_unasked_until
            .is_some_and(|until| until <= now)
        {
            self.guard.run_unasked_until = None;
            let reason = self.screen.lock().unprompted_run();
            if let Some(reason) = reason {
                return self.end_session(reason).await;
            }
        }
        if self.guard.expecting_until.is_some_and(|until| until <= now) {
            self.guard.expecting_until = None;
            self.guard.before_editor = false;
            return self.next_question().await;
        }
        Ok(())
    }

    /// The execution monitor saw the shell run something no approved submit started (a key
    /// binding, a macro): in a guarded shell that is the guard's to ask about, and it asks
    /// before the shell runs anything. True when the guard asked just before, or may still
    /// ask (within the echo wait); false when the shell has no guard (the session ends).
    pub(super) fn guard_vouches_for_run(&mut self) -> bool {
        if !lock(&self.guard.heartbeat).guarded() {
            return false;
        }
        let window = self.context.echo_wait;
        if self.guard.last_ask.is_some_and(|at| at.elapsed() <= window) {
            self.screen.lock().acknowledge_run();
            self.guard.run_unasked_until = None;
        } else if self.guard.run_unasked_until.is_none() {
            self.guard.run_unasked_until = Some(Instant::now() + window);
        }
        true
    }

    /// The target's output changed: once the line editor reads after a heartbeat (bracketed
    /// paste switched on), the input held for the prompt goes on.
    pub(super) async fn editor_reads(&mut self) -> Step {
        if self.guard.before_editor && *self.bracketed_paste.borrow() {
            self.guard.before_editor = false;
            self.guard.expecting_until = None;
            return self.next_question().await;
        }
        Ok(())
    }

    /// Whether the shell has its guard, as far as the heartbeat tells.
    pub(super) fn guarded(&self) -> bool {
        lock(&self.guard.heartbeat).guarded()
    }

    async fn answer_guard(&mut self, ask: &Ask, approve: bool) -> Step {
        tracing::debug!(command = %quoted(&ask.command), approve, "guard answered");
        self.guard.expecting_until = Some(Instant::now() + NEXT_QUESTION_WAIT);
        self.target
            .data(&answer(&ask.nonce, approve)[..])
            .await
            .map_err(drop)
    }

    /// Input held for the guard goes through the gate, in the order it came.
    async fn release_held(&mut self) -> Step {
        tracing::debug!(held = self.guard.held.len(), "guard releases input");
        if self.guard.held.is_empty() {
            return Ok(());
        }
        let held = std::mem::take(&mut self.guard.held);
        self.input_paused = false;
        self.through_gate(&held).await
    }
}
