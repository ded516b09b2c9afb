//! One replay in progress: the operator's channels and screen, the scripted approver and the
//! mock target, and the steps carried out against them.

use std::time::{Duration, Instant};

use mock_target::{EventLog, TargetEvent};
use rand::SeedableRng;
use russh::client::{self, Msg};
use russh::{Channel, ChannelMsg, ChannelReadHalf, ChannelWriteHalf};
use tokio::sync::watch;

use super::operator::{connect, cut, AnyHostKey};
use super::{Harness, ReplayOptions};
use crate::approver::ScriptedApprover;
use crate::format::{Chunking, Scenario, Step};
use crate::outcome::{Event, Failure, Moment, Transcript};
use crate::terminal::OperatorTerminal;

/// The interactive shell, opened by the first step that needs it.
struct Shell {
    reader: ChannelReadHalf,
    writer: ChannelWriteHalf<Msg>,
    exit_status: Option<u32>,
    closed: bool,
}

/// What the last exec request produced, filled in by its reader task.
#[derive(Debug, Default, Clone)]
struct ExecOutput {
    stdout: String,
    stderr: String,
    exit_status: Option<u32>,
}

/// One replay in progress.
pub(super) struct Session {
    chunking: Chunking,
    rng: rand::rngs::StdRng,
    step_timeout: Duration,
    rows: u16,
    cols: u16,
    /// The `env` requests and terminal modes the shell's channel asks for.
    env: Vec<(String, String)>,
    pty_modes: Vec<(russh::Pty, u32)>,
    /// What the target saw of this replay.
    events: EventLog,
    approver: ScriptedApprover,
    /// Kept so that the stage lives as long as the replay.
    _stage: Box<dyn std::any::Any + Send + Sync>,
    operator: client::Handle<AnyHostKey>,
    shell: Option<Shell>,
    terminal: OperatorTerminal,
    exec: Option<watch::Receiver<ExecOutput>>,
    /// The id of the last request a step answered.
    last_request: Option<String>,
    never_executed: Vec<String>,
    never_received: Vec<Vec<u8>>,
    /// What happened so far, in the order seen, each at the step under way then.
    timeline: Vec<Moment>,
    started: Instant,
    current_step: usize,
    /// How many of the approver's and the target's events the timeline holds.
    noted_approvals: usize,
    noted_target: usize,
}

fn failure(step: usize, expected: impl Into<String>, actual: impl Into<String>) -> Failure {
    Failure {
        step,
        expected: expected.into(),
        actual: actual.into(),
    }
}

/// What a wait is waiting for, besides the operator's channel and the approver.
type Condition<'a> = &'a (dyn Fn(&Session) -> bool + Sync);

impl Session {
    pub(super) async fn start(
        scenario: &Scenario,
        chunking: Chunking,
        harness: &dyn Harness,
        options: &ReplayOptions,
    ) -> Result<Session, Failure> {
        let stage = harness.stage(options).await?;
        let operator = connect(stage.proxy, &stage.user, options, AnyHostKey::default())
            .await
            .map_err(|error| failure(0, "the operator logs in to the proxy", error))?;
        let seed = match chunking {
            Chunking::Random { seed } => seed,
            _ => 0,
        };
        Ok(Session {
            chunking,
            rng: rand::rngs::StdRng::seed_from_u64(seed),
            step_timeout: options.step_timeout,
            rows: scenario.terminal.rows,
            cols: scenario.terminal.cols,
            env: client_env(&options.client_env, &scenario.env),
            pty_modes: scenario.pty_modes.clone(),
            events: stage.events,
            approver: {
                let mut approver = stage.approver;
                if options.rule_for_every_request {
                    approver.answer_every_request_by_rule();
                }
                approver
            },
            _stage: stage.guard,
            operator,
            shell: None,
            terminal: OperatorTerminal::new(scenario.terminal.rows, scenario.terminal.cols),
            exec: None,
            last_request: None,
            never_executed: Vec::new(),
            never_received: Vec::new(),
            timeline: Vec::new(),
            started: Instant::now(),
            current_step: 0,
            noted_approvals: 0,
            noted_target: 0,
        })
    }

    pub(super) async fn run(&mut self, scenario: &Scenario) -> Result<(), Failure> {
        for (index, step) in scenario.steps.iter().enumerate() {
            self.current_step = index + 1;
            let done = self.step(index + 1, step).await;
            self.note_events();
            done?;
        }
        self.check_invariants(0)?;
        let unclaimed = self.approver.never_claimed();
        if !unclaimed.is_empty() {
            let commands: Vec<_> = unclaimed.iter().map(|r| r.command.as_str()).collect();
            return Err(failure(
                0,
                "no approval request left unclaimed",
                format!("{commands:?}"),
            ));
        }
        Ok(())
    }

    async fn step(&mut self, step: usize, what: &Step) -> Result<(), Failure> {
        match what {
            Step::Send { bytes, pause_ms } => {
                if *pause_ms > 0 {
                    // A scenario's own timing (a person pausing), not a wait for a server.
                    tokio::time::sleep(Duration::from_millis(*pause_ms)).await;
                }
                self.send(step, bytes).await
            }
            Step::Resize { rows, cols } => {
                self.rows = *rows;
                self.cols = *cols;
                self.terminal.resize(*rows, *cols);
                let shell = self.shell(step).await?;
                shell
                    .writer
                    .window_change(u32::from(*cols), u32::from(*rows), 0, 0)
                    .await
                    .map_err(|error| failure(step, "a window change", error.to_string()))
            }
            Step::Exec { command } => self.exec(step, command).await,
            Step::Request {
                command,
                kind,
                certain,
                excludes,
                warning,
                answer,
            } => {
                let pending = self
                    .wait_for(step, "an approval request", &|session| {
                        !session.approver.unclaimed().is_empty()
                    })
                    .await
                    .and_then(|()| {
                        self.approver
                            .claim()
                            .ok_or_else(|| failure(step, "an approval request", "none"))
                    })?;
                let request = &pending.request;
                let mut wrong = Vec::new();
                if command.as_ref().is_some_and(|c| c != &request.command) {
                    wrong.push(format!(
                        "command {:?}",
                        command.as_deref().unwrap_or_default()
                    ));
                }
                if kind.is_some_and(|k| k != request.kind) {
                    wrong.push(format!(
                        "kind {}",
                        kind.map(|k| k.to_string()).unwrap_or_default()
                    ));
                }
                if certain.is_some_and(|c| c != request.certain) {
                    wrong.push(format!("certain {}", certain.unwrap_or_default()));
                }
                if let Some(text) = warning {
                    if !request
                        .warnings
                        .iter()
                        .any(|found| found.contains(text.as_str()))
                    {
                        wrong.push(format!("a warning that says {text:?}"));
                    }
                }
                if let Some(secret) = excludes {
                    let whole = serde_json::to_string(request).unwrap_or_default();
                    if whole.contains(secret.as_str()) {
                        wrong.push(format!("nothing that contains {secret:?}"));
                    }
                }
                if !wrong.is_empty() {
                    return Err(failure(
                        step,
                        format!("a request with {}", wrong.join(", ")),
                        format!(
                            "command {:?}, kind {}, certain {}, warnings {:?}",
                            request.command, request.kind, request.certain, request.warnings
                        ),
                    ));
                }
                self.last_request = Some(request.id.clone());
                self.approver.answer(pending, answer);
                self.note_events();
                Ok(())
            }
            Step::Cancelled => {
                let id = self.last_request.clone().unwrap_or_default();
                self.wait_for(step, "the approver told of a cancel", &|session| {
                    session.approver.was_cancelled(&id)
                })
                .await
            }
            Step::Alerted(text) => {
                let wanted = text.clone();
                let expected = format!("an alert to the approver that says {text:?}");
                self.wait_for(step, &expected, &|session| {
                    session.approver.was_alerted(&wanted)
                })
                .await
            }
            Step::Executed(line) => {
                let wanted = line.clone();
                self.wait_for(step, &format!("the target runs {line:?}"), &|session| {
                    session.events.executed_lines().contains(&wanted)
                })
                .await
            }
            Step::ExecutedContaining(text) => {
                let wanted = text.clone();
                self.wait_for(
                    step,
                    &format!("the target runs a line containing {text:?}"),
                    &|session| {
                        (session.events.executed_lines().iter())
                            .any(|line| line.contains(wanted.as_str()))
                    },
                )
                .await
            }
            Step::ExecRan(command) => {
                let wanted = command.clone();
                self.wait_for(
                    step,
                    &format!("the target runs exec {command:?}"),
                    &|session| session.events.exec_commands().contains(&wanted),
                )
                .await
            }
            Step::NeverExecuted(text) => {
                self.never_executed.push(text.clone());
                self.check_invariants(step)
            }
            Step::NeverReceived(bytes) => {
                self.never_received.push(bytes.clone());
                self.check_invariants(step)
            }
            Step::Received(bytes) => {
                let wanted = bytes.clone();
                let expected = format!("the target receives {}", crate::notation::render(bytes));
                self.wait_for(step, &expected, &|session| {
                    let input = session.events.input_bytes();
                    input.windows(wanted.len()).any(|window| window == wanted)
                })
                .await
            }
            Step::TargetWindow { rows, cols } => {
                let wanted = TargetEvent::WindowChange {
                    cols: u32::from(*cols),
                    rows: u32::from(*rows),
                };
                let expected = format!("the target told of a {rows}x{cols} window");
                self.wait_for(step, &expected, &|session| {
                    session.events.snapshot().contains(&wanted)
                })
                .await
            }
            Step::ScreenContains(text) => {
                self.shell(step).await?;
                let wanted = text.clone();
                self.wait_for(step, &format!("the screen shows {text:?}"), &|session| {
                    session.terminal.contents().contains(&wanted)
                })
                .await
            }
            Step::ScreenRow { row, text } => {
                self.shell(step).await?;
                let (row, wanted) = (*row, text.clone());
                self.wait_for(step, &format!("row {row} reads {text:?}"), &|session| {
                    session.terminal.row(row) == wanted
                })
                .await
            }
            Step::Cursor { row, col } => {
                self.shell(step).await?;
                let wanted = (*row, *col);
                self.wait_for(step, &format!("the cursor at {wanted:?}"), &|session| {
                    session.terminal.cursor() == wanted
                })
                .await
            }
            Step::PasteMode(on) => {
                self.shell(step).await?;
                let (on, state) = (*on, if *on { "on" } else { "off" });
                self.wait_for(step, &format!("bracketed paste {state}"), &|session| {
                    session.terminal.bracketed_paste() == on
                })
                .await
            }
            Step::Output(text) => {
                let wanted = text.clone();
                self.wait_for(step, &format!("exec output with {text:?}"), &|session| {
                    session.exec_output().is_some_and(|output| {
                        output.stdout.contains(&wanted) || output.stderr.contains(&wanted)
                    })
                })
                .await
            }
            Step::ExitStatus(status) => {
                let wanted = Some(*status);
                self.wait_for(step, &format!("exit status {status}"), &|session| {
                    session.exit_status() == wanted
                })
                .await
            }
        }
    }

    fn exec_output(&self) -> Option<ExecOutput> {
        self.exec.as_ref().map(|exec| exec.borrow().clone())
    }

    fn exit_status(&self) -> Option<u32> {
        match &self.exec {
            Some(exec) => exec.borrow().exit_status,
            None => self.shell.as_ref().and_then(|shell| shell.exit_status),
        }
    }

    fn check_invariants(&self, step: usize) -> Result<(), Failure> {
        let lines = self.events.executed_lines();
        for text in &self.never_executed {
            if let Some(line) = lines.iter().find(|line| line.contains(text.as_str())) {
                return Err(failure(
                    step,
                    format!("no line with {text:?} runs on the target"),
                    format!("the target ran {line:?}"),
                ));
            }
        }
        let input = self.events.input_bytes();
        for bytes in &self.never_received {
            if !bytes.is_empty() && input.windows(bytes.len()).any(|window| window == bytes) {
                return Err(failure(
                    step,
                    format!(
                        "the target never receives {}",
                        crate::notation::render(bytes)
                    ),
                    format!("it received {}", crate::notation::render(&input)),
                ));
            }
        }
        Ok(())
    }

    async fn shell(&mut self, step: usize) -> Result<&mut Shell, Failure> {
        if self.shell.is_none() {
            let channel = self.open_channel(step).await?;
            for (name, value) in &self.env {
                channel
                    .set_env(false, name.as_str(), value.as_str())
                    .await
                    .map_err(|error| failure(step, format!("env {name}"), error.to_string()))?;
            }
            channel
                .request_pty(
                    true,
                    "xterm-256color",
                    u32::from(self.cols),
                    u32::from(self.rows),
                    0,
                    0,
                    &self.pty_modes,
                )
                .await
                .and(channel.request_shell(true).await)
                .map_err(|error| failure(step, "a PTY shell", error.to_string()))?;
            let (reader, writer) = channel.split();
            self.shell = Some(Shell {
                reader,
                writer,
                exit_status: None,
                closed: false,
            });
        }
        Ok(self.shell.as_mut().expect("opened above"))
    }

    async fn open_channel(&self, step: usize) -> Result<Channel<Msg>, Failure> {
        self.operator
            .channel_open_session()
            .await
            .map_err(|error| failure(step, "a session channel", error.to_string()))
    }

    /// Send `bytes` as the scenario's chunking cuts them. The screen is read while each packet
    /// is written, as a terminal does: a proxy blocked on writing to the operator must not
    /// stall the keys.
    async fn send(&mut self, step: usize, bytes: &[u8]) -> Result<(), Failure> {
        let packets = cut(bytes, self.chunking, &mut self.rng);
        self.shell(step).await?;
        for packet in &packets {
            let mut arrived = Vec::new();
            {
                let shell = self.shell.as_mut().expect("opened above");
                let write = shell.writer.data(&packet[..]);
                tokio::pin!(write);
                let mut reading = !shell.closed;
                loop {
                    tokio::select! {
                        written = &mut write => {
                            written.map_err(|e| failure(step, "keys sent", e.to_string()))?;
                            break;
                        }
                        message = shell.reader.wait(), if reading => {
                            reading = matches!(&message, Some(m) if !matches!(m, ChannelMsg::Close));
                            arrived.push(message);
                        }
                    }
                }
            }
            self.record(Event::Sent(crate::notation::render(packet)));
            for message in arrived {
                self.on_shell_message(message).await;
            }
        }
        Ok(())
    }

    async fn exec(&mut self, step: usize, command: &str) -> Result<(), Failure> {
        let mut channel = self.open_channel(step).await?;
        channel
            .exec(true, command)
            .await
            .map_err(|error| failure(step, "an exec request", error.to_string()))?;
        let (output, receiver) = watch::channel(ExecOutput::default());
        self.exec = Some(receiver);
        tokio::spawn(async move {
            while let Some(message) = channel.wait().await {
                output.send_modify(|output| match message {
                    ChannelMsg::Data { data } => output.stdout += &String::from_utf8_lossy(&data),
                    ChannelMsg::ExtendedData { data, .. } => {
                        output.stderr += &String::from_utf8_lossy(&data)
                    }
                    ChannelMsg::ExitStatus { exit_status } => {
                        output.exit_status = Some(exit_status)
                    }
                    _ => {}
                });
            }
        });
        Ok(())
    }

    /// Pump the operator's channel, the approver and exec output until `condition` holds.
    async fn wait_for(
        &mut self,
        step: usize,
        expected: &str,
        condition: Condition<'_>,
    ) -> Result<(), Failure> {
        let deadline = tokio::time::sleep(self.step_timeout);
        tokio::pin!(deadline);
        // Subscribed before the first look, so an event between look and wait still wakes us.
        let mut target_events = self.events.subscribe();
        loop {
            self.note_events();
            if condition(self) {
                return Ok(());
            }
            // What the condition just saw counts as seen, so only new output wakes us.
            if let Some(exec) = self.exec.as_mut() {
                exec.mark_unchanged();
            }
            let exec = self.exec.clone();
            let exec_changed = async move {
                if let Some(mut exec) = exec {
                    if exec.changed().await.is_ok() {
                        return;
                    }
                }
                std::future::pending::<()>().await
            };
            tokio::select! {
                () = &mut deadline => {
                    return Err(failure(step, expected, self.observed()));
                }
                message = self.approver.recv() => match message {
                    Some(message) => self.approver.on_message(message),
                    None => return Err(failure(step, expected, "the proxy dropped its approver")),
                },
                message = next_shell_message(&mut self.shell) => self.on_shell_message(message).await,
                () = exec_changed => {}
                _ = target_events.changed() => {}
            }
        }
    }

    async fn on_shell_message(&mut self, message: Option<ChannelMsg>) {
        let Some(shell) = self.shell.as_mut() else {
            return;
        };
        match message {
            Some(ChannelMsg::Data { data }) | Some(ChannelMsg::ExtendedData { data, .. }) => {
                let replies = self.terminal.feed(&data);
                if !replies.is_empty() {
                    let _ = shell.writer.data(&replies[..]).await;
                }
                self.record_received(&data);
                if !replies.is_empty() {
                    self.record(Event::Sent(crate::notation::render(&replies)));
                }
            }
            Some(ChannelMsg::ExitStatus { exit_status }) => shell.exit_status = Some(exit_status),
            Some(ChannelMsg::Close) | None => shell.closed = true,
            Some(_) => {}
        }
    }

    /// A short account of the state, for a failure's "actual".
    fn observed(&self) -> String {
        let requests: Vec<String> = self
            .approver
            .unclaimed()
            .into_iter()
            .map(|request| format!("{:?} (certain {})", request.command, request.certain))
            .collect();
        format!(
            "after {:?}: executed {:?}, unclaimed requests {requests:?}, screen {:?}",
            self.step_timeout,
            self.events.executed_lines(),
            self.terminal.contents().trim_end(),
        )
    }

    /// Add `event` to the timeline at the step under way.
    fn record(&mut self, event: Event) {
        self.timeline.push(Moment {
            step: self.current_step,
            at_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            event,
        });
    }

    /// Output the operator received: joined to the previous moment when that was output of
    /// the same step too, so that a screenful is one moment rather than one per packet.
    fn record_received(&mut self, data: &[u8]) {
        let text = crate::notation::render(data);
        match self.timeline.last_mut() {
            Some(Moment {
                step,
                event: Event::Received(output),
                ..
            }) if *step == self.current_step => output.push_str(&text),
            _ => self.record(Event::Received(text)),
        }
    }

    /// Add what the approver and the target did since the last call to the timeline.
    fn note_events(&mut self) {
        let approvals: Vec<Event> = self.approver.events[self.noted_approvals..]
            .iter()
            .map(Event::from_approval)
            .collect();
        self.noted_approvals += approvals.len();
        let target = self.events.snapshot_from(self.noted_target);
        self.noted_target += target.len();
        for event in approvals
            .into_iter()
            .chain(target.iter().map(Event::from_target))
        {
            self.record(event);
        }
    }

    pub(super) fn fill(&mut self, transcript: &mut Transcript) {
        self.note_events();
        transcript.timeline = std::mem::take(&mut self.timeline);
        transcript.screen = self.terminal.contents();
    }
}

/// The variables a shell sends: `base`, then the scenario's `own`, one entry per name (the
/// scenario's value wins).
fn client_env(base: &[(String, String)], own: &[(String, String)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = base
        .iter()
        .filter(|(name, _)| !own.iter().any(|(other, _)| other == name))
        .cloned()
        .collect();
    env.extend(own.iter().cloned());
    env
}

/// The shell's next message, or never when there is no open shell.
async fn next_shell_message(shell: &mut Option<Shell>) -> Option<ChannelMsg> {
    match shell {
        Some(shell) if !shell.closed => shell.reader.wait().await,
        _ => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::client_env;

    #[test]
    fn the_scenario_environment_wins_over_the_base() {
        let pair = |name: &str, value: &str| (name.to_string(), value.to_string());
        let base = [pair("LANG", "C.UTF-8"), pair("LC_ALL", "C.UTF-8")];
        let own = [pair("LC_ALL", "C")];
        assert_eq!(
            client_env(&base, &own),
            [pair("LANG", "C.UTF-8"), pair("LC_ALL", "C")]
        );
        assert_eq!(client_env(&[], &own), own);
    }
}
