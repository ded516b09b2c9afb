//! The scenario file format: one TOML file, one requirement, an ordered list of steps.
//!
//! Parsing checks everything a replay would otherwise trip over late: the id's shape, that
//! each step does exactly one thing, and that every key string parses. Invariant: a
//! [`Scenario`] that exists can be replayed; its errors name the file and the step.

use std::collections::BTreeMap;
use std::path::Path;

use russh::Pty;
use serde::Deserialize;
use sshgate_wire::RequestKind;

use crate::notation::{self, NotationError};

/// One scenario, as read from its file.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// `category/name`.
    pub id: String,
    pub description: String,
    /// The sentence a failure quotes.
    pub requirement: String,
    pub tags: Vec<String>,
    pub terminal: TerminalSize,
    /// `None`: run under every chunking.
    pub chunking: Option<Chunking>,
    /// The outcome when the scenario fails: `fail` for required cases, `informational` for
    /// documented limits.
    pub grade: Grade,
    /// What sits behind the proxy: the mock target (the conformance runner's), or a real shell
    /// behind OpenSSH's sshd (the real-shell tier of sshgate's own tests). With `targets`, the
    /// first of them.
    pub target: Target,
    /// Every target the case is replayed against: `[target]`, or the file's `targets` list
    /// (real shells only, each once).
    pub targets: Vec<Target>,
    /// Environment variables the operator's client sends (`env` requests, as OpenSSH's
    /// `SendEnv` does) before it asks for the PTY, sorted by name.
    pub env: Vec<(String, String)>,
    /// Terminal modes the operator's client asks for in its PTY request.
    pub pty_modes: Vec<(Pty, u32)>,
    /// How the case stands towards the shell-side guard (the file's `guard`).
    pub guard: GuardUse,
    pub steps: Vec<Step>,
}

impl Scenario {
    /// Whether the case is replayed in `tier`: the unguarded tier has every case; the guarded
    /// tier has the real-shell cases on bash or zsh (the shells with a guard) whose
    /// expectations do not assume that no guard is there.
    pub fn in_tier(&self, tier: Tier) -> bool {
        match tier {
            Tier::Unguarded => true,
            Tier::Guarded => {
                self.guard != GuardUse::Without
                    && self
                        .targets
                        .iter()
                        .any(|target| matches!(target, Target::Bash | Target::Zsh))
            }
        }
    }

    /// The grade the case counts with in `tier`: a case that needs the guard is
    /// informational without it.
    pub fn grade_in(&self, tier: Tier) -> Grade {
        match (tier, self.guard) {
            (Tier::Unguarded, GuardUse::Needed) => Grade::Informational,
            _ => self.grade,
        }
    }

    pub fn category(&self) -> &str {
        self.id.split('/').next().unwrap_or_default()
    }

    /// Whether the case belongs to the real-shell tier (bash, zsh, fish or dash; the name is
    /// older than all but bash): it means something only with a real shell behind the proxy,
    /// so replaying it against the mock target would prove nothing.
    pub fn on_bash(&self) -> bool {
        self.target.is_real_shell()
    }

    /// Whether the case runs exec requests.
    pub fn uses_exec(&self) -> bool {
        self.steps
            .iter()
            .any(|step| matches!(step, Step::Exec { .. }))
    }

    /// Whether the case opens an interactive shell with a PTY (every step that touches the
    /// shell or its screen opens it).
    pub fn uses_shell(&self) -> bool {
        self.steps.iter().any(|step| {
            matches!(
                step,
                Step::Send { .. }
                    | Step::Resize { .. }
                    | Step::ScreenContains(_)
                    | Step::ScreenRow { .. }
                    | Step::Cursor { .. }
                    | Step::PasteMode(_)
            )
        })
    }

    fn answers(&self) -> impl Iterator<Item = &Answer> {
        self.steps.iter().filter_map(|step| match step {
            Step::Request { answer, .. } => Some(answer),
            _ => None,
        })
    }

    /// Whether a request goes unanswered, so that the proxy's approval time-out decides it.
    pub fn waits_for_approval_timeout(&self) -> bool {
        self.answers().any(|answer| matches!(answer, Answer::Never))
    }

    /// Whether the approver drops its connection or answers with garbage: on a connection
    /// shared with other replays, that would disturb them too.
    pub fn disturbs_approver(&self) -> bool {
        self.answers()
            .any(|answer| matches!(answer, Answer::Drop | Answer::Malformed))
    }

    /// Whether the case waits on purpose (a time-out, a slow approver, a pause in typing, or
    /// a secret: a proxy may wait a while for the echo that never comes before it asks).
    pub fn waits_on_purpose(&self) -> bool {
        self.steps.iter().any(|step| match step {
            Step::Request {
                answer, excludes, ..
            } => excludes.is_some() || matches!(answer, Answer::Never | Answer::Delay(_)),
            Step::Send { pause_ms, .. } => *pause_ms > 0,
            _ => false,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct TerminalSize {
    pub rows: u16,
    pub cols: u16,
}

impl Default for TerminalSize {
    fn default() -> Self {
        TerminalSize { rows: 24, cols: 80 }
    }
}

/// How the bytes of each `send` step are cut into SSH data packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Chunking {
    /// All bytes of a step in one packet.
    OnePacket,
    /// One packet per byte.
    ByteByByte,
    /// Cut at random offsets drawn from the seed.
    Random { seed: u64 },
}

impl Chunking {
    /// The three ways every scenario runs unless it pins one.
    pub fn all(seed: u64) -> [Chunking; 3] {
        [
            Chunking::OnePacket,
            Chunking::ByteByByte,
            Chunking::Random { seed },
        ]
    }
}

impl std::fmt::Display for Chunking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Chunking::OnePacket => f.write_str("one-packet"),
            Chunking::ByteByByte => f.write_str("byte-by-byte"),
            Chunking::Random { seed } => write!(f, "random (seed {seed})"),
        }
    }
}

/// What sits behind the proxy during a replay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// The mock target (`mock-target`): what the conformance runner replays against.
    #[default]
    Mock,
    /// GNU bash behind OpenSSH's sshd, with a referee that reports each line bash runs: the
    /// real-bash tier (`tests/tests/real/corpus.rs`). Only what that referee and the
    /// operator's screen can show is checked there: no `received`, `never_received` or
    /// `target_window` steps. The same holds for the other real shells below.
    Bash,
    /// zsh (emacs keymap, zle) behind OpenSSH's sshd, with a referee like bash's.
    Zsh,
    /// fish behind OpenSSH's sshd, with a referee like bash's.
    Fish,
    /// dash (no line editor: the tty driver edits the line) behind OpenSSH's sshd; its
    /// referee records each command dash runs as dash traces it.
    Dash,
}

impl Target {
    /// Whether this is a real shell behind OpenSSH's sshd rather than the mock target.
    pub fn is_real_shell(self) -> bool {
        self != Target::Mock
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Target::Mock => "mock",
            Target::Bash => "bash",
            Target::Zsh => "zsh",
            Target::Fish => "fish",
            Target::Dash => "dash",
        })
    }
}

/// The terminal modes a `pty_modes` table may name (RFC 4254 section 8), as OpenSSH encodes
/// them in a PTY request.
const PTY_MODES: &[(&str, Pty)] = &[
    ("VINTR", Pty::VINTR),
    ("VQUIT", Pty::VQUIT),
    ("VERASE", Pty::VERASE),
    ("VKILL", Pty::VKILL),
    ("VEOF", Pty::VEOF),
    ("VEOL", Pty::VEOL),
    ("VEOL2", Pty::VEOL2),
    ("VSTART", Pty::VSTART),
    ("VSTOP", Pty::VSTOP),
    ("VSUSP", Pty::VSUSP),
    ("VDSUSP", Pty::VDSUSP),
    ("VREPRINT", Pty::VREPRINT),
    ("VWERASE", Pty::VWERASE),
    ("VLNEXT", Pty::VLNEXT),
    ("VFLUSH", Pty::VFLUSH),
    ("VSWTCH", Pty::VSWTCH),
    ("VSTATUS", Pty::VSTATUS),
    ("VDISCARD", Pty::VDISCARD),
    ("IGNPAR", Pty::IGNPAR),
    ("PARMRK", Pty::PARMRK),
    ("INPCK", Pty::INPCK),
    ("ISTRIP", Pty::ISTRIP),
    ("INLCR", Pty::INLCR),
    ("IGNCR", Pty::IGNCR),
    ("ICRNL", Pty::ICRNL),
    ("IUCLC", Pty::IUCLC),
    ("IXON", Pty::IXON),
    ("IXANY", Pty::IXANY),
    ("IXOFF", Pty::IXOFF),
    ("IMAXBEL", Pty::IMAXBEL),
    ("IUTF8", Pty::IUTF8),
    ("ISIG", Pty::ISIG),
    ("ICANON", Pty::ICANON),
    ("XCASE", Pty::XCASE),
    ("ECHO", Pty::ECHO),
    ("ECHOE", Pty::ECHOE),
    ("ECHOK", Pty::ECHOK),
    ("ECHONL", Pty::ECHONL),
    ("NOFLSH", Pty::NOFLSH),
    ("TOSTOP", Pty::TOSTOP),
    ("IEXTEN", Pty::IEXTEN),
    ("ECHOCTL", Pty::ECHOCTL),
    ("ECHOKE", Pty::ECHOKE),
    ("PENDIN", Pty::PENDIN),
    ("OPOST", Pty::OPOST),
    ("OLCUC", Pty::OLCUC),
    ("ONLCR", Pty::ONLCR),
    ("OCRNL", Pty::OCRNL),
    ("ONOCR", Pty::ONOCR),
    ("ONLRET", Pty::ONLRET),
    ("CS7", Pty::CS7),
    ("CS8", Pty::CS8),
    ("PARENB", Pty::PARENB),
    ("PARODD", Pty::PARODD),
    ("TTY_OP_ISPEED", Pty::TTY_OP_ISPEED),
    ("TTY_OP_OSPEED", Pty::TTY_OP_OSPEED),
];

/// The name a `pty_modes` table gives `mode`.
pub fn pty_mode_name(mode: Pty) -> &'static str {
    PTY_MODES
        .iter()
        .find(|(_, known)| *known == mode)
        .map_or("?", |(name, _)| name)
}

/// A case's standing towards the shell-side guard (docs/guard.md), the file's `guard` key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GuardUse {
    /// Replayed in both tiers (on bash and zsh), with the same expectations.
    #[default]
    Either,
    /// Its expectations assume no guard on the target (a proxy ending the session over a
    /// command that a guard would have asked about): the unguarded tier only.
    Without,
    /// Proxy-only gating cannot pass it (a command no keystroke shows: a key binding, a
    /// prompt hook, an alias defined earlier): required in the guarded tier, informational in
    /// the unguarded one.
    Needed,
}

/// Whether the target's shell has the guard installed in a replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tier {
    /// No guard: keystroke gating alone (the mock target, and real shells as installed).
    Unguarded,
    /// bash or zsh that sources the guard, which the proxy is expected to answer.
    Guarded,
}

impl std::fmt::Display for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Tier::Unguarded => "unguarded",
            Tier::Guarded => "guarded",
        })
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Grade {
    #[default]
    Required,
    Informational,
}

/// What the scripted approver answers to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The mock rule: deny (reason `blocked`) when the command contains `DENY`, else approve.
    Rule,
    Approve,
    Deny(String),
    /// Answer with the rule after this many milliseconds.
    Delay(u64),
    /// Never answer.
    Never,
    /// Drop the approver connection instead of answering.
    Drop,
    /// Answer with a frame that does not parse (WebSocket), or drop the reply (in-process).
    Malformed,
}

/// One step: send keys, or expect something.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Keys for the PTY shell (opened on first use), already turned into bytes.
    Send { bytes: Vec<u8>, pause_ms: u64 },
    /// Resize the operator's terminal.
    Resize { rows: u16, cols: u16 },
    /// Run an exec request (a channel of its own) and collect its output.
    Exec { command: String },
    /// The next approval request, with what it must say and what the approver answers.
    Request {
        command: Option<String>,
        kind: Option<RequestKind>,
        certain: Option<bool>,
        /// Text that no field of the request may contain (a secret typed with echo off).
        excludes: Option<String>,
        /// Text that one of the request's warnings must contain.
        warning: Option<String>,
        answer: Answer,
    },
    /// A request for this id was cancelled (the approver was told).
    Cancelled,
    /// The approver received an alert (the proxy saw the target run something no approved
    /// submit started) whose reason contains this text (waits).
    Alerted(String),
    /// The target's shell ran this line (waits for it).
    Executed(String),
    /// The target's shell ran a line containing this (waits for it).
    ExecutedContaining(String),
    /// The target's shell never runs a line containing this (checked now and at the end).
    NeverExecuted(String),
    /// The target never receives these bytes (checked now and at the end).
    NeverReceived(Vec<u8>),
    /// The target has received these bytes, in one run, on the shell channel (waits).
    Received(Vec<u8>),
    /// The target was told the window is this size (waits).
    TargetWindow { rows: u16, cols: u16 },
    /// The target ran this exec request (waits for it).
    ExecRan(String),
    /// The operator's screen contains this text (waits for it).
    ScreenContains(String),
    /// A row of the operator's screen, trailing blanks trimmed, is exactly this (waits).
    ScreenRow { row: u16, text: String },
    /// The cursor of the operator's screen is here (waits).
    Cursor { row: u16, col: u16 },
    /// The operator's terminal has bracketed paste switched on or off (waits). A real terminal
    /// brackets a paste only once the shell has switched it on, which can come a moment after
    /// the prompt's text.
    PasteMode(bool),
    /// The last exec request's output on stdout or stderr contains this.
    Output(String),
    /// The session (the last exec, or the shell) ended with this exit status.
    ExitStatus(u32),
}

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("{file}: {message}")]
    Toml { file: String, message: String },
    #[error("{file}: step {step}: {message}")]
    Step {
        file: String,
        step: usize,
        message: String,
    },
    #[error("{file}: step {step}: {error}")]
    Notation {
        file: String,
        step: usize,
        error: NotationError,
    },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
}

/// The file as written; turned into a [`Scenario`] by [`parse`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    id: String,
    description: String,
    requirement: String,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    terminal: Option<TerminalSize>,
    #[serde(default)]
    chunking: Option<Chunking>,
    #[serde(default)]
    grade: Grade,
    #[serde(default)]
    target: Option<Target>,
    /// Several real shells instead of one `target`.
    #[serde(default)]
    targets: Option<Vec<Target>>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    pty_modes: BTreeMap<String, u32>,
    #[serde(default)]
    guard: GuardUse,
    steps: Vec<RawStep>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    send: Option<String>,
    pause_ms: Option<u64>,
    resize: Option<TerminalSize>,
    exec: Option<String>,
    request: Option<RawRequest>,
    cancelled: Option<bool>,
    alerted: Option<String>,
    executed: Option<String>,
    executed_containing: Option<String>,
    never_executed: Option<String>,
    never_received: Option<String>,
    received: Option<String>,
    target_window: Option<[u16; 2]>,
    exec_ran: Option<String>,
    screen_contains: Option<String>,
    screen_row: Option<RawScreenRow>,
    cursor: Option<[u16; 2]>,
    paste_mode: Option<bool>,
    output: Option<String>,
    exit_status: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequest {
    command: Option<String>,
    kind: Option<RequestKind>,
    certain: Option<bool>,
    excludes: Option<String>,
    warning: Option<String>,
    /// `rule` (default), `approve`, `deny`, `delay`, `never`, `drop`, `malformed`.
    #[serde(default)]
    answer: Option<String>,
    reason: Option<String>,
    delay_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScreenRow {
    row: u16,
    text: String,
}

/// Read and check one scenario file.
pub fn load(path: &Path) -> Result<Scenario, FormatError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| FormatError::Toml {
        file: file.clone(),
        message: error.to_string(),
    })?;
    parse(&file, &text)
}

/// Parse one scenario; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Scenario, FormatError> {
    let raw: RawScenario = toml::from_str(text).map_err(|error| FormatError::Toml {
        file: file.to_string(),
        message: error.to_string(),
    })?;
    let invalid = |message: String| FormatError::Invalid {
        file: file.to_string(),
        message,
    };
    let (category, name) = raw
        .id
        .split_once('/')
        .ok_or_else(|| invalid(format!("id {:?} is not category/name", raw.id)))?;
    if category.is_empty() || name.is_empty() || name.contains('/') {
        return Err(invalid(format!("id {:?} is not category/name", raw.id)));
    }
    if raw.requirement.trim().is_empty() {
        return Err(invalid("requirement is empty".into()));
    }
    for name in raw.env.keys() {
        if name.is_empty() || name.contains(['=', '\0']) {
            return Err(invalid(format!("env: {name:?} is not a variable name")));
        }
    }
    let pty_modes = raw
        .pty_modes
        .iter()
        .map(|(name, &value)| {
            PTY_MODES
                .iter()
                .find(|(known, _)| known == name)
                .map(|&(_, mode)| (mode, value))
                .ok_or_else(|| {
                    invalid(format!(
                        "pty_modes: unknown terminal mode {name:?} (modes are named as in \
                         RFC 4254 section 8: ISTRIP, ECHO, VINTR...)"
                    ))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let steps = raw
        .steps
        .into_iter()
        .enumerate()
        .map(|(index, step)| convert_step(file, index + 1, step))
        .collect::<Result<Vec<_>, _>>()?;
    let targets = match (raw.target, raw.targets) {
        (Some(_), Some(_)) => return Err(invalid("give target or targets, not both".into())),
        (target, None) => vec![target.unwrap_or_default()],
        (None, Some(targets)) => {
            if targets.is_empty() {
                return Err(invalid("targets is empty".into()));
            }
            for (at, target) in targets.iter().enumerate() {
                if !target.is_real_shell() {
                    return Err(invalid(format!(
                        "targets lists real shells only, not \"{target}\""
                    )));
                }
                if targets[..at].contains(target) {
                    return Err(invalid(format!("targets names \"{target}\" twice")));
                }
            }
            targets
        }
    };
    let guarded_shell = targets
        .iter()
        .any(|target| matches!(target, Target::Bash | Target::Zsh));
    if raw.guard != GuardUse::Either && !guarded_shell {
        return Err(invalid(
            "guard applies to cases on bash or zsh, the shells with a guard".into(),
        ));
    }
    if let Some(shell) = targets.iter().find(|target| target.is_real_shell()) {
        for (index, step) in steps.iter().enumerate() {
            if let Some(what) = unobservable_on_bash(step) {
                return Err(FormatError::Step {
                    file: file.to_string(),
                    step: index + 1,
                    message: format!(
                        "`{what}` cannot be checked on target = \"{shell}\" (only the lines \
                         the shell runs and the operator's screen are seen there)"
                    ),
                });
            }
        }
    }
    Ok(Scenario {
        id: raw.id,
        description: raw.description,
        requirement: raw.requirement,
        tags: raw.tags,
        terminal: raw.terminal.unwrap_or_default(),
        chunking: raw.chunking,
        grade: raw.grade,
        target: targets[0],
        targets,
        env: raw.env.into_iter().collect(),
        pty_modes,
        guard: raw.guard,
        steps,
    })
}

/// The key of a step the real-bash tier cannot check, if `step` is one.
fn unobservable_on_bash(step: &Step) -> Option<&'static str> {
    match step {
        Step::Received(_) => Some("received"),
        Step::NeverReceived(_) => Some("never_received"),
        Step::TargetWindow { .. } => Some("target_window"),
        _ => None,
    }
}

fn convert_step(file: &str, step: usize, raw: RawStep) -> Result<Step, FormatError> {
    let error = |message: String| FormatError::Step {
        file: file.to_string(),
        step,
        message,
    };
    let keys = |text: &str| {
        notation::parse(text).map_err(|error| FormatError::Notation {
            file: file.to_string(),
            step,
            error,
        })
    };
    let RawStep {
        send,
        pause_ms,
        resize,
        exec,
        request,
        cancelled,
        alerted,
        executed,
        executed_containing,
        never_executed,
        never_received,
        received,
        target_window,
        exec_ran,
        screen_contains,
        screen_row,
        cursor,
        paste_mode,
        output,
        exit_status,
    } = raw;
    let mut found: Vec<Step> = Vec::new();
    if let Some(text) = send {
        found.push(Step::Send {
            bytes: keys(&text)?,
            pause_ms: pause_ms.unwrap_or(0),
        });
    } else if pause_ms.is_some() {
        return Err(error("pause_ms goes with send".into()));
    }
    if let Some(size) = resize {
        found.push(Step::Resize {
            rows: size.rows,
            cols: size.cols,
        });
    }
    if let Some(command) = exec {
        found.push(Step::Exec { command });
    }
    if let Some(request) = request {
        found.push(convert_request(request).map_err(error)?);
    }
    if cancelled == Some(true) {
        found.push(Step::Cancelled);
    }
    found.extend(alerted.map(Step::Alerted));
    found.extend(executed.map(Step::Executed));
    found.extend(executed_containing.map(Step::ExecutedContaining));
    found.extend(never_executed.map(Step::NeverExecuted));
    if let Some(text) = never_received {
        found.push(Step::NeverReceived(keys(&text)?));
    }
    if let Some(text) = received {
        found.push(Step::Received(keys(&text)?));
    }
    found.extend(target_window.map(|[rows, cols]| Step::TargetWindow { rows, cols }));
    found.extend(exec_ran.map(Step::ExecRan));
    found.extend(screen_contains.map(Step::ScreenContains));
    found.extend(screen_row.map(|row| Step::ScreenRow {
        row: row.row,
        text: row.text,
    }));
    found.extend(cursor.map(|[row, col]| Step::Cursor { row, col }));
    found.extend(paste_mode.map(Step::PasteMode));
    found.extend(output.map(Step::Output));
    found.extend(exit_status.map(Step::ExitStatus));
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(error("the step does nothing".into())),
        _ => Err(error("a step does one thing; split it".into())),
    }
}

fn convert_request(raw: RawRequest) -> Result<Step, String> {
    let answer = match raw.answer.as_deref().unwrap_or("rule") {
        "rule" => Answer::Rule,
        "approve" => Answer::Approve,
        "deny" => Answer::Deny(raw.reason.clone().unwrap_or_else(|| "denied".into())),
        "delay" => Answer::Delay(raw.delay_ms.ok_or("answer = \"delay\" needs delay_ms")?),
        "never" => Answer::Never,
        "drop" => Answer::Drop,
        "malformed" => Answer::Malformed,
        other => return Err(format!("unknown answer {other:?}")),
    };
    if raw.reason.is_some() && !matches!(answer, Answer::Deny(_)) {
        return Err("reason goes with answer = \"deny\"".into());
    }
    if raw.delay_ms.is_some() && !matches!(answer, Answer::Delay(_)) {
        return Err("delay_ms goes with answer = \"delay\"".into());
    }
    Ok(Step::Request {
        command: raw.command,
        kind: raw.kind,
        certain: raw.certain,
        excludes: raw.excludes,
        warning: raw.warning,
        answer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const HEAD: &str = "id = \"basic/x\"\ndescription = \"d\"\nrequirement = \"r MUST hold\"\n";

    fn with_steps(steps: &str) -> Result<Scenario, FormatError> {
        parse("x.toml", &format!("{HEAD}{steps}"))
    }

    #[test]
    fn a_full_scenario_parses_with_defaults() {
        let scenario = with_steps(
            "[[steps]]\nsend = \"echo hi<Enter>\"\n\
             [[steps]]\nrequest = { command = \"echo hi\", kind = \"shell\", certain = true }\n\
             [[steps]]\nexecuted = \"echo hi\"\n",
        )
        .unwrap();
        assert_eq!(scenario.category(), "basic");
        assert_eq!(scenario.terminal, TerminalSize { rows: 24, cols: 80 });
        assert_eq!(scenario.chunking, None);
        assert_eq!(scenario.grade, Grade::Required);
        assert_eq!(scenario.target, Target::Mock);
        assert_eq!(scenario.targets, [Target::Mock]);
        assert!(!scenario.on_bash());
        assert!(scenario.env.is_empty());
        assert!(scenario.pty_modes.is_empty());
        assert_eq!(
            scenario.steps,
            [
                Step::Send {
                    bytes: b"echo hi\r".to_vec(),
                    pause_ms: 0
                },
                Step::Request {
                    command: Some("echo hi".into()),
                    kind: Some(RequestKind::Shell),
                    certain: Some(true),
                    excludes: None,
                    warning: None,
                    answer: Answer::Rule
                },
                Step::Executed("echo hi".into()),
            ]
        );
    }

    #[rstest]
    #[case::approve("answer = \"approve\"", Answer::Approve)]
    #[case::deny("answer = \"deny\", reason = \"no\"", Answer::Deny("no".into()))]
    #[case::delay("answer = \"delay\", delay_ms = 5", Answer::Delay(5))]
    #[case::never("answer = \"never\"", Answer::Never)]
    #[case::drop("answer = \"drop\"", Answer::Drop)]
    #[case::malformed("answer = \"malformed\"", Answer::Malformed)]
    fn answers(#[case] fields: &str, #[case] expected: Answer) {
        let scenario = with_steps(&format!("[[steps]]\nrequest = {{ {fields} }}\n")).unwrap();
        assert!(matches!(&scenario.steps[0], Step::Request { answer, .. } if *answer == expected));
    }

    #[rstest]
    #[case::bad_id(
        "id = \"nocategory\"\ndescription = \"d\"\nrequirement = \"r\"\nsteps = []",
        "category/name"
    )]
    #[case::two_things(
        "[[steps]]\nsend = \"a\"\nexecuted = \"a\"\n",
        "step 1: a step does one thing"
    )]
    #[case::nothing(
        "[[steps]]\npause_ms = 3\nsend = \"a\"\n[[steps]]\n",
        "step 2: the step does nothing"
    )]
    #[case::unknown_key("[[steps]]\nsned = \"a\"\n", "sned")]
    #[case::bad_notation("[[steps]]\nsend = \"a<Bogus>\"\n", "step 1: line 1, column 2")]
    #[case::reason_without_deny("[[steps]]\nrequest = { reason = \"x\" }\n", "reason goes with")]
    #[case::delay_without_ms("[[steps]]\nrequest = { answer = \"delay\" }\n", "needs delay_ms")]
    fn errors_name_the_file_and_step(#[case] text: &str, #[case] expected: &str) {
        let text = if text.starts_with("id =") {
            text.to_string()
        } else {
            format!("{HEAD}{text}")
        };
        let error = parse("x.toml", &text).unwrap_err().to_string();
        assert!(error.starts_with("x.toml"), "{error}");
        assert!(error.contains(expected), "{error:?} lacks {expected:?}");
    }

    #[test]
    fn a_bash_case_with_client_environment_and_pty_modes() {
        let scenario = parse(
            "x.toml",
            &format!(
                "{HEAD}target = \"bash\"\nenv = {{ LC_ALL = \"C\", LANG = \"C.UTF-8\" }}\n\
                 pty_modes = {{ ISTRIP = 1, ECHO = 0 }}\n[[steps]]\nsend = \"a\"\n"
            ),
        )
        .unwrap();
        assert_eq!(scenario.target, Target::Bash);
        assert!(scenario.on_bash());
        assert_eq!(
            scenario.env,
            [
                ("LANG".to_string(), "C.UTF-8".to_string()),
                ("LC_ALL".to_string(), "C".to_string())
            ]
        );
        assert_eq!(scenario.pty_modes, [(Pty::ECHO, 0), (Pty::ISTRIP, 1)]);
        assert_eq!(pty_mode_name(Pty::ISTRIP), "ISTRIP");
        let mock = parse("x.toml", &format!("{HEAD}target = \"mock\"\nsteps = []\n")).unwrap();
        assert_eq!(mock.target, Target::Mock);
        assert_eq!(mock.targets, [Target::Mock]);
    }

    #[rstest]
    #[case::zsh("zsh", Target::Zsh)]
    #[case::fish("fish", Target::Fish)]
    #[case::dash("dash", Target::Dash)]
    fn other_real_shells_are_targets(#[case] name: &str, #[case] expected: Target) {
        let scenario = with_steps(&format!("target = \"{name}\"\nsteps = []\n")).unwrap();
        assert_eq!(scenario.target, expected);
        assert_eq!(scenario.targets, [expected]);
        assert!(
            scenario.on_bash(),
            "a real-shell case is in the real-shell tier"
        );
        assert_eq!(expected.to_string(), name);
    }

    #[test]
    fn paste_mode_is_a_wait_on_the_shell() {
        let scenario =
            with_steps("[[steps]]\npaste_mode = true\n[[steps]]\npaste_mode = false\n").unwrap();
        assert_eq!(
            scenario.steps,
            [Step::PasteMode(true), Step::PasteMode(false)]
        );
        assert!(scenario.uses_shell());
    }

    #[test]
    fn targets_name_several_shells() {
        let scenario = with_steps("targets = [\"bash\", \"zsh\", \"dash\"]\nsteps = []\n").unwrap();
        assert_eq!(scenario.target, Target::Bash);
        assert_eq!(scenario.targets, [Target::Bash, Target::Zsh, Target::Dash]);
        assert!(scenario.on_bash());
    }

    #[rstest]
    #[case::unknown_target("target = \"ksh\"\nsteps = []\n", "ksh")]
    #[case::target_and_targets("target = \"bash\"\ntargets = [\"zsh\"]\nsteps = []\n", "not both")]
    #[case::no_targets("targets = []\nsteps = []\n", "targets is empty")]
    #[case::mock_in_targets("targets = [\"bash\", \"mock\"]\nsteps = []\n", "real shells only")]
    #[case::target_twice("targets = [\"zsh\", \"zsh\"]\nsteps = []\n", "twice")]
    #[case::received_on_several_shells(
        "targets = [\"bash\", \"zsh\"]\n[[steps]]\nreceived = \"a\"\n",
        "step 1: `received` cannot be checked on target = \"bash\""
    )]
    #[case::unknown_mode("pty_modes = { ISTRIPE = 1 }\nsteps = []\n", "ISTRIPE")]
    #[case::mode_not_a_number("pty_modes = { ISTRIP = \"on\" }\nsteps = []\n", "pty_modes")]
    #[case::bad_env_name("env = { \"A=B\" = \"x\" }\nsteps = []\n", "not a variable name")]
    #[case::env_not_a_string("env = { LC_ALL = 1 }\nsteps = []\n", "env")]
    #[case::received_on_bash(
        "target = \"bash\"\n[[steps]]\nsend = \"a\"\n[[steps]]\nreceived = \"a\"\n",
        "step 2: `received` cannot be checked on target = \"bash\""
    )]
    #[case::never_received_on_bash(
        "target = \"bash\"\n[[steps]]\nnever_received = \"a\"\n",
        "step 1: `never_received`"
    )]
    #[case::window_on_bash(
        "target = \"bash\"\n[[steps]]\ntarget_window = [2, 3]\n",
        "step 1: `target_window`"
    )]
    fn new_keys_are_checked(#[case] text: &str, #[case] expected: &str) {
        let error = parse("x.toml", &format!("{HEAD}{text}"))
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("x.toml"), "{error}");
        assert!(error.contains(expected), "{error:?} lacks {expected:?}");
    }
}
