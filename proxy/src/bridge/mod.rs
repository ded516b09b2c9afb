//! The target bridge: joins one operator channel to a channel on the target.
//!
//! The russh handler only accepts the channel and hands it here. Two tasks serve it: this
//! module's inbound pump (operator to target: requests, approvals, shell input through the
//! gate) and the [`to_operator`](crate::to_operator) outbound pump (target to operator), so
//! that each direction keeps draining while the other waits. Everything that waits (the
//! target connection, approvals, window space) waits in these tasks; what russh does when one
//! of them stops reading is in [`exec_input`](crate::exec_input). Invariant: nothing the
//! operator sends reaches the target before the channel's kind is known, exec and subsystem
//! requests reach it only after an approval, and shell input passes through the
//! [`ShellGate`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use russh::server::Msg;
use russh::{Channel, ChannelMsg, ChannelWriteHalf, Pty};
use sshgate_wire::{Alert, ApprovalRequest, Decision, RequestKind};
use tokio::sync::{mpsc, watch};

use crate::approval::ApprovalPath;
use crate::audit::record::{Record, SessionStart};
use crate::audit::AuditLog;
use crate::authorized_keys::KeyOptions;
use crate::command_lines::{self, CommandLines};
use crate::exec_input::{Arrival, ChannelPresence, HeldInput};
use crate::forced_command;
use crate::gate::{is_blank, GateAction, ShellGate, HELD_INPUT_LIMIT};
use crate::guard::{self, GuardMode};
use crate::log_text::quoted;
use crate::recording::{RecordingSettings, SharedRecording, Terminal};
use crate::shell_state;
use crate::target::TargetLink;
use crate::target_screen::{Checked, SharedScreen, HIDDEN};
use crate::to_operator::{refuse, Notice, OutboundPump, NOTICE_CAPACITY};

mod guarded;
use guarded::GuardLink;

/// Who is on the other end, for approval requests.
pub struct ChannelContext {
    pub session: String,
    pub user: String,
    pub client: String,
    pub approval: ApprovalPath,
    pub target: Arc<TargetLink>,
    pub server: russh::server::Handle,
    pub request_ids: Arc<std::sync::atomic::AtomicU64>,
    /// How long a submitted line waits for the target to show it.
    pub echo_wait: std::time::Duration,
    /// What the options of the operator's key allow this channel (PTY, forced command).
    pub key_options: Arc<KeyOptions>,
    /// Becomes true when sshgate shuts down: the reason a pending request is cancelled then.
    pub stopping: watch::Receiver<bool>,
    /// Where shell and exec channels are recorded; None: not recorded.
    pub recording: Option<RecordingSettings>,
    /// Where the channel's start, end and exit status are recorded.
    pub audit: AuditLog,
    /// This channel among its connection's channels: whether pausing its input stalls others.
    pub presence: ChannelPresence,
    /// Whether a shell's guard on the target is woken and answered (`--guard`).
    pub guard: GuardMode,
}

type PendingDecision = Pin<Box<dyn Future<Output = Decision> + Send>>;
/// The id of the request the approver is deciding now (a line may be asked about in parts).
type AskedId = Arc<std::sync::Mutex<String>>;

/// What the operator's channel has asked for so far.
enum Mode {
    /// No shell, exec or subsystem yet: input is held.
    Opening,
    /// An exec or subsystem waiting for its decision: input is held.
    Awaiting(Held),
    /// An interactive shell: input goes through the gate.
    Shell(Box<ShellGate>),
    /// An approved exec or subsystem: input flows as it is.
    Open,
    /// Denied: the channel is closing.
    Closed,
}

enum Held {
    Exec(Vec<u8>),
    Subsystem(String),
}

struct Bridge {
    context: ChannelContext,
    target: ChannelWriteHalf<russh::client::Msg>,
    /// To the outbound pump, which alone writes to the operator.
    notices: mpsc::Sender<Notice>,
    bracketed_paste: watch::Receiver<bool>,
    mode: Mode,
    /// Input held until the mode is known or a decision arrives.
    held_input: HeldInput,
    /// The held input is full: the operator's channel is not read until the decision.
    input_paused: bool,
    client_eof: bool,
    /// Whether the operator asked for a PTY: the keystroke model only applies to a terminal.
    pty: bool,
    decision: Option<(AskedId, PendingDecision)>,
    /// The target's screen, fed by the outbound pump.
    screen: SharedScreen,
    /// Approved commands of this shell that changed how it reads later input, each with what
    /// it changed: every later request is uncertain and says so.
    state_changes: Arc<std::sync::Mutex<Vec<String>>>,
    /// The command the shell is reading across lines.
    command_lines: Arc<std::sync::Mutex<CommandLines>>,
    /// Resolves when the target's answer to a deny has settled (the gate holds input until
    /// then), false when a Ctrl+C it sent was not answered.
    deny_wait: Option<Pin<Box<dyn Future<Output = bool> + Send>>>,
    /// The operator's channel, which names its recording.
    channel: russh::ChannelId,
    /// The operator's terminal as the pty request gave it, for the recording's header.
    terminal: Terminal,
    recording: SharedRecording,
    /// The target's guard, on a shell channel.
    guard: GuardLink,
    /// The last shell line asked about, as the approver saw it (none for a secret), and
    /// whether the shell itself reads it (not a program the shell runs).
    asked_line: Arc<std::sync::Mutex<Option<(String, bool)>>>,
    /// Why the session must end, when a line's check found it must.
    ending: Arc<std::sync::Mutex<Option<String>>>,
}

/// The only terminal modes of the operator's pty request passed to the target: line speeds
/// and output processing, which change what the screen shows both the operator and the proxy
/// alike. Every other mode changes how the target reads keys (which keys interrupt, erase,
/// quote or end a line, whether it echoes, whether it strips the eighth bit) and is left at
/// the target's default, which is what the keystroke model assumes.
const MODES_PASSED: &[Pty] = &[
    Pty::TTY_OP_ISPEED,
    Pty::TTY_OP_OSPEED,
    Pty::OPOST,
    Pty::ONLCR,
];

/// Environment variables passed to the target; others could change what an approved command
/// does (`BASH_ENV`, `LD_PRELOAD`, `PROMPT_COMMAND`) without the approver seeing them. A
/// locale passes only when it reads bytes as UTF-8, as the keystroke model does: in another
/// one readline reads a byte with the eighth bit set as Meta plus a key (`0xa3` is M-#, which
/// runs the line).
fn passes_environment(name: &str, value: &str) -> bool {
    let locale = name == "LANG" || name.starts_with("LC_");
    let utf8 = {
        let value = value.to_ascii_lowercase();
        value.contains("utf-8") || value.contains("utf8")
    };
    name == "TERM" || name == "COLORTERM" || (locale && utf8)
}

/// Serve one operator channel until either side closes it, recording its start and end.
pub async fn run(context: ChannelContext, client: Channel<Msg>) {
    let audit = context.audit.clone();
    let (session, channel) = (context.session.clone(), client.id().number());
    let start = SessionStart {
        session: session.clone(),
        channel,
        user: context.user.clone(),
        client: context.client.clone(),
        target: context.target.address().to_string(),
    };
    audit.record(Record::SessionStart(start)).await;
    serve(context, client).await;
    audit.record(Record::SessionEnd { session, channel }).await;
}

async fn serve(context: ChannelContext, client: Channel<Msg>) {
    let client_id = client.id();
    let (mut client_rx, client_tx) = client.split();
    let target = match context.target.open_session().await {
        Ok(target) => target,
        Err(reason) => {
            tracing::warn!(reason = %quoted(&reason), "cannot open a target channel");
            refuse(&client_tx, &format!("sshgate: {reason}")).await;
            return;
        }
    };
    let (target_rx, target_tx) = target.split();
    let (notices, notices_rx) = mpsc::channel(NOTICE_CAPACITY);
    let (paste_tx, bracketed_paste) = watch::channel(false);
    let (guard_tx, mut guard_events) = mpsc::unbounded_channel();
    let guard_mode = context.guard;
    let screen = SharedScreen::new(24, 80, context.echo_wait);
    let recording = SharedRecording::default();
    let outbound = tokio::spawn(
        OutboundPump {
            target: target_rx,
            client: client_tx,
            client_id,
            server: context.server.clone(),
            notices: notices_rx,
            bracketed_paste: paste_tx,
            screen: screen.clone(),
            recording: recording.clone(),
            audit: context.audit.clone(),
            session: context.session.clone(),
            guard: (guard_mode != GuardMode::Off).then_some(guard_tx),
        }
        .run(),
    );
    let mut output = screen.changes();
    let mut bridge = Bridge {
        context,
        target: target_tx,
        notices,
        bracketed_paste,
        mode: Mode::Opening,
        held_input: HeldInput::default(),
        input_paused: false,
        client_eof: false,
        pty: false,
        decision: None,
        screen,
        state_changes: Arc::default(),
        command_lines: Arc::default(),
        deny_wait: None,
        channel: client_id,
        terminal: Terminal::default(),
        recording,
        guard: GuardLink::new(guard_mode),
        asked_line: Arc::default(),
        ending: Arc::default(),
    };
    loop {
        let guard_deadline = bridge.guard.next_deadline();
        let result = tokio::select! {
            message = client_rx.wait(), if !bridge.input_paused => match message {
                Some(message) => bridge.on_client_message(message).await,
                None => Err(()),
            },
            decision = next_decision(&mut bridge.decision) => bridge.decided(decision).await,
            Ok(()) = output.changed() => bridge.watch_execution().await,
            answered = next_wait(&mut bridge.deny_wait) => bridge.deny_settled(answered).await,
            Some(event) = guard_events.recv() => bridge.guard_event(event).await,
            decision = guarded::next_answer(&mut bridge.guard) => bridge.guard_decided(decision).await,
            () = guarded::deadline(guard_deadline) => bridge.deadline_passed().await,
        };
        if result.is_err() || matches!(bridge.mode, Mode::Closed) {
            break;
        }
    }
    // A paused channel's queue may be full, and russh waiting to add to it reads nothing else
    // of the connection: let go of it now rather than once the outbound pump is done.
    drop(client_rx);
    // A request still pending will never be needed: tell the approver, not just drop it.
    if let Some((asked, _)) = bridge.decision.take() {
        let id = lock(&asked).clone();
        let reason = if *bridge.context.stopping.borrow() {
            crate::accept::SHUTTING_DOWN
        } else {
            "the channel closed"
        };
        let session = &bridge.context.session;
        bridge.context.approval.cancel(session, &id, reason).await;
    }
    bridge.guard_closed().await;
    // Closing the target ends the outbound pump, which then closes the operator's channel.
    let _ = bridge.target.close().await;
    drop(bridge);
    let _ = outbound.await;
}

/// Mints request ids for one session.
struct RequestIds {
    session: String,
    counter: Arc<std::sync::atomic::AtomicU64>,
}

impl RequestIds {
    fn next(&self) -> String {
        let number = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("{}-{number}", self.session)
    }
}

/// The approver's decisions on a line that holds several commands (a pasted block), asked
/// about one by one, in order, each with a request of its own: approved only when every one
/// is. `asked` follows the request being decided, for a cancel.
async fn ask_each(
    approval: ApprovalPath,
    line: ApprovalRequest,
    commands: Vec<String>,
    ids: RequestIds,
    asked: &AskedId,
) -> Decision {
    let total = commands.len();
    for (index, command) in commands.into_iter().enumerate() {
        let mut part = line.clone();
        part.id = ids.next();
        part.command = command;
        part.warnings.push(format!(
            "command {} of {total} in one line of several lines (a paste): the shell runs \
             them all, in order, on this Enter; each is asked about on its own",
            index + 1
        ));
        *lock(asked) = part.id.clone();
        let decision = ask(approval.clone(), part).await;
        if !decision.approve {
            return Decision {
                id: line.id,
                ..decision
            };
        }
    }
    Decision::approve(line.id)
}

/// The approver's decision on `request`.
async fn ask(approval: ApprovalPath, request: ApprovalRequest) -> Decision {
    tracing::info!(
        id = %request.id,
        kind = %request.kind,
        command = %quoted(&request.command),
        certain = request.certain,
        typed = request.typed.as_deref().map(|typed| tracing::field::display(quoted(typed))),
        "asking approver"
    );
    approval.decide(request).await
}

/// The screen's rows and columns from the SSH request's, bounded to what a screen can be. A
/// 0 is a size the client did not say (`ssh -tt` from a pipe): programs on the target then
/// take the terminal's own default, 24 rows of 80 columns, and so does the screen.
fn screen_size(rows: u32, cols: u32) -> (u16, u16) {
    let side = |value: u32, unsaid: u16| match u16::try_from(value) {
        Ok(0) => unsaid,
        Ok(size) => size.min(1000),
        Err(_) => 1000,
    };
    (side(rows, 24), side(cols, 80))
}

/// Text that Ctrl+C or a deny was to discard since the last approved submit, which the screen
/// may not show gone.
struct Leftovers {
    /// All of it: may still be on the line when the screen shows it otherwise than the keys,
    /// or has not answered since.
    discarded: String,
    /// What Ctrl+C was to discard: may still be there when the screen does not show the line.
    interrupted: String,
    /// Input since may have been thrown away unread (see [`GateAction::Ask`]).
    line_unknown: bool,
}

impl Leftovers {
    /// Text was to be discarded: only a screen that answered the keys since (which a target
    /// with its output stopped cannot do) shows that the discard happened.
    fn to_confirm(&self) -> bool {
        !self.discarded.is_empty()
    }

    /// After input the tty may have thrown away, only a line the screen shows as the keys
    /// left it is known; a shell busy when the Ctrl+C came keeps a line it does not show, so
    /// an empty-looking one is not known either.
    fn unknown(&self, blank: bool, checked: &Checked) -> bool {
        self.line_unknown && (blank || !(checked.certain && checked.seen))
    }

    /// Put in front of the request's command the text that may still be on the line.
    fn add_to(&self, line: &str, checked: &mut Checked) {
        if self.to_confirm() && !checked.discard_answered && checked.command != HIDDEN {
            // The target has not written since the discard went out: it may not have happened
            // (a slow target, output stopped with C-s, keys a program swallowed). A secret
            // stays hidden: it runs nothing, whatever it was typed after.
            checked.command = format!("{}{line}", self.discarded);
            checked.certain = false;
            checked.typed = Some(line.to_string());
        } else if checked.typed.is_some()
            && !self.discarded.is_empty()
            && !checked.command.starts_with(&self.discarded)
        {
            // The line is not what the keys left: the discard may not have happened.
            checked.command.insert_str(0, &self.discarded);
        } else if !checked.seen && !self.interrupted.is_empty() {
            // The screen does not show the line (echo off): a Ctrl+C the shell ignored would
            // have left its text there.
            checked.command.insert_str(0, &self.interrupted);
            checked.certain = false;
        }
    }
}

/// Resolves with the pending decision, or never when there is none.
async fn next_decision(pending: &mut Option<(AskedId, PendingDecision)>) -> Decision {
    match pending {
        Some((_, future)) => {
            let decision = future.await;
            *pending = None;
            decision
        }
        None => std::future::pending().await,
    }
}

/// Tells the execution monitor when operator keys are among `actions`, and whether the input
/// model follows the line they leave (`followed`).
fn keys_going_out(screen: &SharedScreen, actions: &[GateAction], followed: bool) {
    let sent = actions.iter().filter_map(|action| match action {
        GateAction::ToTarget(bytes) => Some(bytes),
        _ => None,
    });
    let (mut any, mut abort) = (false, false);
    for bytes in sent {
        any = true;
        abort |= bytes.contains(&CTRL_G);
    }
    if any {
        screen.lock().keys_sent(followed, abort);
    }
}

/// Resolves when `wait` does, or never when there is none.
async fn next_wait(wait: &mut Option<Pin<Box<dyn Future<Output = bool> + Send>>>) -> bool {
    match wait {
        Some(future) => {
            let answered = future.await;
            *wait = None;
            answered
        }
        None => std::future::pending().await,
    }
}

type Step = Result<(), ()>;

/// C-g: readline's abort, zsh's send-break (which abandons the line).
const CTRL_G: u8 = 0x07;

/// State shared with decision futures; a panic while holding it leaves at worst a stale entry.
fn lock<T>(shared: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Bridge {
    async fn on_client_message(&mut self, message: ChannelMsg) -> Step {
        match message {
            ChannelMsg::Data { data } => self.client_data(data).await,
            ChannelMsg::RequestPty {
                term,
                col_width,
                row_height,
                pix_width,
                pix_height,
                terminal_modes,
                ..
            } => {
                if !self.context.key_options.pty {
                    // The handler refused it (no-pty): the target never hears of it.
                    return Ok(());
                }
                self.pty = true;
                self.terminal = Terminal {
                    cols: col_width,
                    rows: row_height,
                    term: Some(term.clone()),
                };
                let (rows, cols) = screen_size(row_height, col_width);
                self.screen.lock().resize(rows, cols);
                let modes: Vec<(Pty, u32)> = terminal_modes
                    .into_iter()
                    .filter(|(mode, _)| MODES_PASSED.contains(mode))
                    .collect();
                self.target
                    .request_pty(
                        false, &term, col_width, row_height, pix_width, pix_height, &modes,
                    )
                    .await
                    .map_err(drop)
            }
            ChannelMsg::SetEnv {
                variable_name,
                variable_value,
                ..
            } => {
                if !passes_environment(&variable_name, &variable_value)
                    || guard::reserved_env(&variable_name)
                {
                    tracing::info!(
                        name = %quoted(&variable_name),
                        "environment variable not passed"
                    );
                    return Ok(());
                }
                self.target
                    .set_env(false, variable_name, variable_value)
                    .await
                    .map_err(drop)
            }
            ChannelMsg::WindowChange {
                col_width,
                row_height,
                pix_width,
                pix_height,
            } => {
                let (rows, cols) = screen_size(row_height, col_width);
                self.screen.lock().resize(rows, cols);
                self.recording.resize(col_width, row_height);
                self.target
                    .window_change(col_width, row_height, pix_width, pix_height)
                    .await
                    .map_err(drop)
            }
            // In a PTY shell Ctrl+C travels as a byte through the gate; a signal request would
            // discard the target's line behind the model's back.
            ChannelMsg::Signal { .. } if matches!(self.mode, Mode::Shell(_)) => {
                tracing::info!("signal request to a shell not passed");
                Ok(())
            }
            ChannelMsg::Signal { signal } => self.target.signal(signal).await.map_err(drop),
            // One shell, exec or subsystem per channel: a second one would reset or lift the
            // gate while the first keeps running (the handler answers it with a failure).
            ChannelMsg::RequestShell { .. }
            | ChannelMsg::Exec { .. }
            | ChannelMsg::RequestSubsystem { .. }
                if !matches!(self.mode, Mode::Opening) =>
            {
                tracing::warn!("second shell/exec/subsystem request on a channel ignored");
                Ok(())
            }
            // A key's command= runs instead of whatever the operator asked for, as in sshd.
            ChannelMsg::RequestShell { .. } if self.context.key_options.command.is_some() => {
                self.ask_forced(None, "a shell".into()).await
            }
            ChannelMsg::Exec { command, .. } if self.context.key_options.command.is_some() => {
                let text = String::from_utf8_lossy(&command).into_owned();
                self.ask_forced(Some(&text), format!("the command {text:?}"))
                    .await
            }
            ChannelMsg::RequestSubsystem { name, .. }
                if self.context.key_options.command.is_some() =>
            {
                self.ask_forced(Some(&name), format!("the subsystem {name:?}"))
                    .await
            }
            ChannelMsg::RequestShell { .. } if !self.pty => {
                self.mode = Mode::Closed;
                let refusal = Notice::Refuse(
                    "sshgate: a shell needs a terminal here (ssh -t); send single commands as \
                     exec requests (ssh host 'command')"
                        .into(),
                );
                self.notices.send(refusal).await.map_err(drop)
            }
            ChannelMsg::RequestShell { .. } => {
                if !self.start_recording("shell").await? {
                    return Ok(());
                }
                self.start_shell().await
            }
            ChannelMsg::Exec { command, .. } => {
                let text = String::from_utf8_lossy(&command).into_owned();
                if !self.start_recording(&text).await? {
                    return Ok(());
                }
                // Bytes that are not UTF-8 reach the target as they are, not as shown.
                let certain = std::str::from_utf8(&command).is_ok();
                let mut request = self.request(RequestKind::Exec, text, certain);
                request.warnings = shell_state::warnings(&request.command);
                self.ask(request);
                self.mode = Mode::Awaiting(Held::Exec(command));
                Ok(())
            }
            ChannelMsg::RequestSubsystem { name, .. } => {
                self.ask(self.request(RequestKind::Subsystem, name.clone(), true));
                self.mode = Mode::Awaiting(Held::Subsystem(name));
                Ok(())
            }
            ChannelMsg::Eof => {
                self.client_eof = true;
                self.forward_eof_when_idle().await
            }
            ChannelMsg::Close => Err(()),
            // X11 and agent forwarding are refused by the handler; nothing else is expected.
            _ => Ok(()),
        }
    }

    async fn client_data(&mut self, data: Bytes) -> Step {
        match &mut self.mode {
            Mode::Shell(_) => self.shell_input(&data).await,
            // As it came (one SSH packet), not copied and cut into smaller ones.
            Mode::Open => self.target.data_bytes(data).await.map_err(drop),
            Mode::Opening => {
                let arrival = self.held_input.before_request(&data);
                self.hold(arrival, "before the channel asked for a command")
                    .await
            }
            Mode::Awaiting(_) => {
                let arrival = self
                    .held_input
                    .awaiting(&data, self.context.presence.alone());
                self.hold(
                    arrival,
                    "before the command was approved, beside other channels of \
                    this connection, which pausing it would stall (run it on a connection of \
                    its own: ssh -S none)",
                )
                .await
            }
            Mode::Closed => Ok(()),
        }
    }

    /// Shell input, guard sequences stripped, through the gate.
    async fn through_gate(&mut self, data: &[u8]) -> Step {
        let Mode::Shell(gate) = &mut self.mode else {
            return Ok(());
        };
        if self.bracketed_paste.has_changed().unwrap_or(false) {
            gate.set_bracketed_paste(*self.bracketed_paste.borrow_and_update());
        }
        let actions = gate.client_input(data);
        keys_going_out(&self.screen, &actions, gate.line_certain());
        self.carry_out(actions).await
    }

    /// Start this channel's recording of `what` (a command, or "shell") when sshgate records
    /// and the channel has a terminal (the output of one without is data, not a screen). A
    /// channel that should be recorded and cannot be is refused, not served unrecorded:
    /// Ok(false).
    async fn start_recording(&mut self, what: &str) -> Result<bool, ()> {
        let Some(settings) = self.context.recording.as_ref().filter(|_| self.pty) else {
            return Ok(true);
        };
        let (session, channel) = (self.context.session.clone(), self.channel.number());
        let file = format!("{session}-{channel}.cast");
        let title = format!(
            "{}@{}: {what}",
            self.context.user,
            self.context.target.address()
        );
        match self
            .recording
            .start(settings, &file, &self.terminal, &title)
        {
            Ok(path) => {
                tracing::info!(%session, path = %quoted(path.display()), "recording");
                let record = Record::Recording {
                    session,
                    channel,
                    file,
                };
                self.context.audit.record(record).await;
                Ok(true)
            }
            Err(why) => {
                tracing::error!(%session, why = %quoted(&why), "channel refused");
                self.mode = Mode::Closed;
                let refusal = Notice::Refuse("sshgate: cannot record this session".into());
                self.notices.send(refusal).await.map_err(drop)?;
                Ok(false)
            }
        }
    }

    /// Carry out what became of input held before the decision; `when` says, in a refusal,
    /// when it arrived.
    async fn hold(&mut self, arrival: Arrival, when: &str) -> Step {
        match arrival {
            Arrival::Held => Ok(()),
            Arrival::Pause => {
                tracing::info!(
                    session = %self.context.session,
                    "input paused until the decision: the operator's writes wait"
                );
                self.input_paused = true;
                Ok(())
            }
            Arrival::Refuse => {
                // Cutting the input short would run the command on part of it: refuse.
                self.mode = Mode::Closed;
                let refusal = Notice::Refuse(format!(
                    "sshgate: more than {} KiB of input arrived {when}; nothing was run",
                    HELD_INPUT_LIMIT / 1024
                ));
                self.notices.send(refusal).await.map_err(drop)
            }
        }
    }

    async fn start_shell(&mut self) -> Step {
        self.screen.start();
        if self.guard.mode != GuardMode::Off {
            // Wakes the target's guard, if it has one (docs/guard.md).
            self.target
                .set_env(false, guard::ENV_NAME, "1")
                .await
                .map_err(drop)?;
        }
        self.target.request_shell(true).await.map_err(drop)?;
        self.mode = Mode::Shell(Box::default());
        let early = self.held_input.take();
        self.shell_input(&early).await
    }

    /// A request with a fresh id and this channel's particulars.
    fn request(&self, kind: RequestKind, command: String, certain: bool) -> ApprovalRequest {
        ApprovalRequest {
            id: self.ids().next(),
            session: self.context.session.clone(),
            kind,
            command,
            user: self.context.user.clone(),
            client: self.context.client.clone(),
            target: self.context.target.address().to_string(),
            certain,
            ..ApprovalRequest::default()
        }
    }

    fn ids(&self) -> RequestIds {
        RequestIds {
            session: self.context.session.clone(),
            counter: self.context.request_ids.clone(),
        }
    }

    /// Send a request to the approver; its decision arrives in [`Bridge::decided`].
    fn ask(&mut self, request: ApprovalRequest) {
        let id = request.id.clone();
        let approval = self.context.approval.clone();
        self.decision = Some((Arc::new(id.into()), Box::pin(ask(approval, request))));
    }

    /// Ask about the forced command of the operator's key instead of `asked_for`; approved, it
    /// runs on the target as an exec, with the operator's command (`original`) in
    /// `SSH_ORIGINAL_COMMAND` as sshd sets it (see [`forced_command`]). With a terminal it is
    /// recorded like any exec, whatever the operator asked for.
    async fn ask_forced(&mut self, original: Option<&str>, asked_for: String) -> Step {
        let forced = self.context.key_options.command.clone().unwrap_or_default();
        if !self.start_recording(&forced).await? {
            return Ok(());
        }
        let options = &self.context.key_options;
        let mut request = self.request(RequestKind::Exec, forced.clone(), true);
        let handed_over = match original {
            Some(_) => ", which the forced command gets in SSH_ORIGINAL_COMMAND",
            None => "",
        };
        request.warnings.push(format!(
            "command= of the operator's key ({}) runs this instead of what the operator \
             asked for: {asked_for}{handed_over}",
            options.origin
        ));
        request.warnings.extend(shell_state::warnings(&forced));
        let sent = forced_command::command_line(original, &forced);
        if original.is_some_and(|text| text.contains(['\n', '\r'])) {
            // A login shell of the csh family reads each line of the command line as code, and
            // which shell the target has is not known here: fail closed.
            let reason = "under this key's command=, the command asked for cannot hold a line \
                          break (a csh or tcsh login shell on the target would run its lines)";
            let approval = self.context.approval.clone();
            let id = request.id.clone();
            let denied = async move { approval.deny_unasked(&request, reason).await };
            self.decision = Some((Arc::new(id.into()), Box::pin(denied)));
        } else {
            self.ask(request);
        }
        self.mode = Mode::Awaiting(Held::Exec(sent.into_bytes()));
        Ok(())
    }

    /// Ask about a submitted shell line once it is checked against the target's screen,
    /// with what may be left on the line of text that was to be discarded.
    fn ask_about_line(&mut self, line: String, certain: bool, leftovers: Leftovers) {
        let mut request = self.request(RequestKind::Shell, String::new(), false);
        let id = request.id.clone();
        let (approval, screen) = (self.context.approval.clone(), self.screen.clone());
        let state_changes = self.state_changes.clone();
        let command_lines = self.command_lines.clone();
        let recording = self.recording.clone();
        let continuing = lock(&self.command_lines).continuing();
        let asked_id: AskedId = Arc::new(id.clone().into());
        let asked = asked_id.clone();
        let ids = self.ids();
        let blank = certain && is_blank(&line);
        let guard = self.guard_check();
        let asked_line = self.asked_line.clone();
        *lock(&asked_line) = None;
        let decision = async move {
            let answered = blank || leftovers.to_confirm();
            let mut checked = screen
                .check_when_settled(&line, certain, answered, continuing)
                .await;
            if checked.blind || leftovers.unknown(blank, &checked) {
                request.command = checked.command;
                let reason = "sshgate cannot tell what this line is: it was typed before the \
                              target answered the last command, or in a window under 20 \
                              columns or resized while it was typed; type it again at the prompt";
                return approval.deny_unasked(&request, reason).await;
            }
            // A blank line ends some continued commands (after a backslash): never a no-op then.
            if blank && checked.certain && checked.fresh && !continuing {
                // Nothing to run, and the screen shows nothing left on the line.
                return Decision::approve(request.id);
            }
            leftovers.add_to(&line, &mut checked);
            request.command = checked.command;
            request.certain = checked.certain;
            request.typed = checked.typed;
            request.context = checked.context;
            if request.command != HIDDEN {
                // The line as the approver sees it, never a secret: see `recording`.
                recording.submitted(&request.command);
                let mut lines = lock(&command_lines);
                if checked.program_may_read {
                    lines.maybe_read_by_program();
                }
                let asked = lines.ask(
                    &request.command,
                    checked.prompt.as_deref(),
                    checked.prompt_mark,
                );
                request.command = asked.command;
                request.continuation = asked.continuation;
                request.typed = request.typed.or(asked.typed);
                request.certain &= asked.doubts.is_empty();
                request.warnings.extend(asked.doubts);
                if let Some(typed) = &request.typed {
                    let reading = command_lines::typed_reading(typed, &request.command);
                    request.warnings.extend(reading);
                }
            }
            // A prompt of the shell's own, come back since the last approved line.
            let prompt_back = !checked.program_may_read && !continuing;
            let prompt = checked.prompt.as_deref();
            if let Some(denied) = guard.check(&mut request, prompt_back, prompt).await {
                return denied;
            }
            if request.command.contains(char::REPLACEMENT_CHARACTER) {
                // Bytes that are not UTF-8, shown as U+FFFD: a shell may drop them.
                request.certain = false;
                request.warnings.push(format!(
                    "the line holds bytes that are not UTF-8 (shown as U+FFFD); a shell that \
                     drops them runs: {}",
                    request.command.replace(char::REPLACEMENT_CHARACTER, "")
                ));
            }
            let changes = shell_state::warnings(&request.command);
            let earlier = lock(&state_changes).clone();
            request.certain &= earlier.is_empty();
            request.warnings.extend(changes.iter().cloned());
            request.warnings.extend(earlier);
            let command = request.command.clone();
            let parts = match request.continuation {
                None if request.command != HIDDEN => command_lines::commands(&request.command),
                _ => Vec::new(),
            };
            if request.command != HIDDEN {
                *lock(&asked_line) = Some((request.command.clone(), !checked.program_may_read));
            }
            let decision = if parts.len() > 1 {
                ask_each(approval, request, parts, ids, &asked).await
            } else {
                ask(approval, request).await
            };
            if decision.approve && shell_state::may_bind_keys(&changes) {
                screen.lock().bindings_changed();
            }
            if decision.approve && !changes.is_empty() {
                lock(&state_changes).extend(changes.iter().map(|change| {
                    format!("`{command}` was approved earlier in this session: it {change}")
                }));
            }
            decision
        };
        self.decision = Some((asked_id, Box::pin(decision)));
    }

    async fn decided(&mut self, decision: Decision) -> Step {
        let reason = decision.reason.clone().unwrap_or_default();
        match std::mem::replace(&mut self.mode, Mode::Open) {
            Mode::Shell(mut gate) => {
                let drop_command = {
                    let mut lines = lock(&self.command_lines);
                    let continuing = lines.continuing();
                    if decision.approve {
                        lines.approved();
                    } else {
                        lines.denied();
                    }
                    // Ctrl+C drops the whole buffer where the discard keys clear one line.
                    !decision.approve && (continuing || gate.pending_spans_lines())
                };
                if decision.approve {
                    if let Some((line, shell_reads)) = lock(&self.asked_line).take() {
                        self.guard
                            .line_sent(&line, shell_reads, self.context.echo_wait);
                    }
                    // Keys typed behind the line wait for the guard's first question too.
                    self.guard.hold_first(gate.take_held());
                }
                let actions = gate.decided(decision.approve, &reason, drop_command);
                if gate.holds_after_deny() {
                    let screen = self.screen.clone();
                    self.deny_wait = Some(Box::pin(async move {
                        if drop_command {
                            screen.interrupt_answered().await
                        } else {
                            screen.discard_settled().await;
                            true
                        }
                    }));
                }
                self.mode = Mode::Shell(gate);
                self.carry_out(actions).await?;
                // Keys held behind the line go on now, unless the guard holds them.
                self.next_question().await?;
                let ending = lock(&self.ending).take();
                if let Some(reason) = ending {
                    return self.end_session(&reason).await;
                }
                self.forward_eof_when_idle().await
            }
            Mode::Awaiting(held) if decision.approve => {
                match held {
                    Held::Exec(command) => self.target.exec(true, command).await,
                    Held::Subsystem(name) => self.target.request_subsystem(true, name).await,
                }
                .map_err(drop)?;
                let early = self.held_input.take();
                self.target.data_bytes(early).await.map_err(drop)?;
                self.input_paused = false;
                self.forward_eof_when_idle().await
            }
            Mode::Awaiting(_) => {
                self.mode = Mode::Closed;
                let refusal = Notice::Refuse(format!("sshgate: denied: {reason}"));
                self.notices.send(refusal).await.map_err(drop)
            }
            other => {
                self.mode = other;
                Ok(())
            }
        }
    }

    /// The target's answer to a deny has settled: the keys held meanwhile go on, behind the
    /// discard keys when the shell did not answer the Ctrl+C sent in their place.
    async fn deny_settled(&mut self, answered: bool) -> Step {
        let Mode::Shell(gate) = &mut self.mode else {
            return Ok(());
        };
        let actions = gate.release(!answered);
        keys_going_out(&self.screen, &actions, gate.line_certain());
        self.carry_out(actions).await?;
        self.forward_eof_when_idle().await
    }

    /// Ends the session once the target has run something no approved submit started.
    async fn watch_execution(&mut self) -> Step {
        self.editor_reads().await?;
        let Some(reason) = self.screen.lock().unprompted_run() else {
            return Ok(());
        };
        if self.guard_vouches_for_run() {
            return Ok(());
        }
        self.end_session(reason).await
    }

    /// Ends the session for `reason`: the operator is told why, the approver gets an alert, a
    /// pending request is cancelled.
    async fn end_session(&mut self, reason: &str) -> Step {
        tracing::warn!(session = %self.context.session, reason, "session ended");
        self.context
            .approval
            .alert(Alert {
                session: self.context.session.clone(),
                user: self.context.user.clone(),
                client: self.context.client.clone(),
                target: self.context.target.address().to_string(),
                reason: reason.to_string(),
            })
            .await;
        if let Some((asked, _)) = self.decision.take() {
            let id = lock(&asked).clone();
            let session = &self.context.session;
            let reason = "the session ended";
            self.context.approval.cancel(session, &id, reason).await;
        }
        self.mode = Mode::Closed;
        let notice = Notice::Refuse(format!("\r\n[sshgate] session ended: {reason}"));
        self.notices.send(notice).await.map_err(drop)
    }

    async fn carry_out(&mut self, actions: Vec<GateAction>) -> Step {
        for action in actions {
            match action {
                GateAction::ToTarget(bytes) => {
                    let ending = {
                        let mut screen = self.screen.lock();
                        screen.input_sent();
                        screen.unprompted_run().is_some()
                    };
                    if ending && !self.guarded() {
                        // The target ran what no submit started: nothing more reaches it.
                        // (A guarded shell asked first: see `guard_vouches_for_run`.)
                        return Err(());
                    }
                    self.target.data(&bytes[..]).await.map_err(drop)?
                }
                GateAction::ToClient(bytes) => {
                    self.notices.send(Notice::Show(bytes)).await.map_err(drop)?
                }
                GateAction::Ask {
                    submit,
                    discarded,
                    interrupted,
                    line_unknown,
                } => {
                    let leftovers = Leftovers {
                        discarded,
                        interrupted,
                        line_unknown,
                    };
                    self.ask_about_line(submit.line, submit.certain, leftovers)
                }
                GateAction::LineStarts => self.screen.lock().line_starts(),
                GateAction::Submitted => self.screen.lock().submit_sent(),
                GateAction::LineEnds => self.screen.lock().line_ends(),
                GateAction::Interrupted => {
                    lock(&self.command_lines).discarded();
                    self.screen.lock().interrupt_sent()
                }
                GateAction::Denied => self.screen.lock().discard_sent(),
                GateAction::Cancel => {
                    if let Some((asked, _)) = self.decision.take() {
                        let id = lock(&asked).clone();
                        tracing::info!(id = %quoted(&id), "cancelled by Ctrl+C");
                        let session = &self.context.session;
                        let reason = "cancelled by the operator (Ctrl+C)";
                        self.context.approval.cancel(session, &id, reason).await;
                    }
                }
            }
        }
        Ok(())
    }

    /// The operator's EOF reaches the target only once nothing is held back, so it cannot
    /// overtake input still waiting for a decision.
    async fn forward_eof_when_idle(&mut self) -> Step {
        let idle = match &self.mode {
            Mode::Shell(gate) => !gate.is_pending() && !gate.holds_after_deny(),
            Mode::Open => true,
            _ => false,
        };
        if self.client_eof && idle {
            self.client_eof = false;
            self.target.eof().await.map_err(drop)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::screen_size;

    #[test]
    fn the_screen_takes_the_clients_size_within_bounds() {
        assert_eq!(screen_size(40, 120), (40, 120));
        assert_eq!(screen_size(0, 0), (24, 80), "unsaid: a terminal's default");
        assert_eq!(screen_size(0, 132), (24, 132));
        assert_eq!(screen_size(5000, u32::MAX), (1000, 1000));
    }
}
