//! The differential test: GNU readline (real bash) as the referee of sshgate's keystroke model;
//! and zsh's line editor (zle) beside it, reported, not failed (see [`differential_zsh`]).
//!
//! Every scenario of the corpus categories in [`CATEGORIES`] is replayed, keys only, through
//! sshgate to bash (or zsh) on a dry-run [`RealTarget`] (lines are recorded, nothing runs: the
//! corpus holds `rm -rf /DENY`). Below, "bash" stands for either; what tells the replay the
//! shell's state on its screen differs between them ([`Signs`]). The approver approves every request, so every submit reaches bash,
//! and for each one the command the approver was asked about is compared with the line bash
//! really ran. A request may differ from what ran only when it says it is uncertain; anything
//! else is a silent mismatch: the approver was told something false with confidence, or a line
//! ran that nobody asked about, or a request's line never ran.
//!
//! The replay of one scenario, driven by events (bash's records, its screen, the approver's
//! log), never by sleeping until things are probably done:
//! - a PTY shell of the scenario's terminal size, `LANG=C.UTF-8` (the operator's terminal is
//!   UTF-8, as the model assumes); wait for bash's first prompt record and its prompt drawn;
//! - each `send` step's bytes in order, as one packet (one per byte where the scenario pins
//!   that chunking), after the step's own typing pause; every other step is ignored;
//! - after a step the scenario expects requests from, wait for that many decisions, then for
//!   bash to accept as many lines and draw its prompt again; likewise after a step that ends a
//!   line without a request. Typing the next keys earlier would put them through the tty
//!   driver ahead of the prompt, which is not what the scenario means. Keys the scenario types
//!   ahead while a request is pending stay as they are: sshgate holds them. After a step that
//!   ends with Ctrl+C, wait for bash to be back at its prompt. Only when readline does not take
//!   an approved key for Enter does a wait end by its bound ([`SETTLE`]) instead;
//! - at the end Ctrl+C, then the sentinel line [`SENTINEL`]; once bash has recorded it, every
//!   record and request before it is complete.
//!
//! Pairing: bash's `Line` records between two prompts are one accepted buffer (a multi-line
//! paste gives one record per line), joined with newlines; buffers that ran nothing (blank
//! lines, Ctrl+C) leave no group. Groups and requests are aligned in order (see [`align`]).
//! The texts are compared after [`normalise`].
//!
//! `DIFFERENTIAL_ONLY=<id prefix>` replays only the matching scenarios and prints their
//! transcripts (operator's screen, bash's records, the approver's log).
//!
//! Both tests share one budget of [`CONCURRENCY`] replays at a time, so running them together
//! loads the machine no more than bash's alone did.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use mock_approver::{ApproverEvent, ApproverLog};
use real_target::{RealTarget, Record, Shell, TargetOptions};
use scenarios::format::TerminalSize;
use scenarios::{Chunking, Scenario, Step};
use sshgate::ClientAuth;
use sshgate_tests::operator::{Operator, Shell as Terminal, WAIT};
use sshgate_wire::ApprovalRequest;
use tokio::sync::Semaphore;

use crate::Front;

/// The corpus categories replayed against bash.
const CATEGORIES: [&str; 5] = ["editing", "utf8", "paste", "tmux", "bypass"];
/// Scenarios replayed at once (each with its own sshd, sshgate and approver), over both tests.
const CONCURRENCY: usize = 16;
static REPLAYS: Semaphore = Semaphore::const_new(CONCURRENCY);
/// The line typed after every scenario: once bash records it, everything before is complete.
const SENTINEL: &str = ": referee-end";
/// The mock approver denies what contains its marker; no command contains this one (a NUL and
/// a noncharacter), so it approves everything.
const NEVER_IN_A_COMMAND: &str = "\u{0}\u{ffff}differential: approve all\u{ffff}\u{0}";
/// What the replay reads on a shell's screen to know its state.
#[derive(Debug, Clone, Copy)]
struct Signs {
    /// The output ends so once the shell reads its first line: the prompt drawn, the line
    /// editor set up.
    first_prompt: &'static [u8],
    /// The shell accepted a line.
    accepted: &'static [u8],
    /// The shell reads again, its prompt (PS1, or PS2 for a continuation) drawn.
    ready: [&'static [u8]; 2],
    /// The shell back at its prompt after an interrupt (also after most accepted lines: count
    /// them off).
    interrupted: &'static [u8],
}

/// Readline switches bracketed paste on each time it starts reading a line, just before the
/// prompt; after accepting a line it prints the newline, then switches it off (a Ctrl+C also
/// switches it off, after the echoed `^C`, not after a newline). bash back at its prompt after
/// an interrupt: a redraw while the interrupt is still pending has no newline before it.
const BASH: Signs = Signs {
    first_prompt: b"\x1b[?2004h$ ",
    accepted: b"\r\n\x1b[?2004l",
    ready: [b"\x1b[?2004h$ ", b"\x1b[?2004h> "],
    interrupted: b"\r\n\x1b[?2004h$ ",
};

/// zle draws its prompt (after the PROMPT_SP mark and a clear), then switches bracketed paste
/// on; on accepting a line, and on Ctrl+C, it switches it off, then moves to the next row.
const ZSH: Signs = Signs {
    first_prompt: b"$ \x1b[K\x1b[?2004h",
    accepted: b"\x1b[?2004l\r\r\n",
    ready: [b"$ \x1b[K\x1b[?2004h", b"> \x1b[K\x1b[?2004h"],
    interrupted: b"$ \x1b[K\x1b[?2004h",
};

fn signs(shell: Shell) -> Signs {
    match shell {
        Shell::Bash => BASH,
        Shell::Zsh => ZSH,
        other => panic!("the differential does not replay against {other}"),
    }
}

const CTRL_C: u8 = 0x03;
/// bash's locale.
const LOCALE: &str = "C.UTF-8";
/// How long bash may take to answer keys that it answers at once when idle (accepting a line,
/// an interrupt). Only a wait that cannot end otherwise lasts this long: readline did not take
/// an approved key for Enter, so no prompt follows.
const SETTLE: Duration = Duration::from_secs(2);
/// Ctrl+C presses at the end before giving up.
const END_ATTEMPTS: usize = 3;

/// One scenario replayed against bash.
struct Replay {
    shell: Shell,
    id: String,
    /// The keys of every `send` step, in order.
    sends: Vec<Vec<u8>>,
    /// Every request, in order, the sentinel's included.
    requests: Vec<ApprovalRequest>,
    /// bash's records up to and including the sentinel's line.
    records: Vec<Record>,
    /// Waits that did not end as expected (the replay went on).
    notes: Vec<String>,
}

/// One submit: a request and the line bash ran for it, or one of them alone.
#[derive(Debug)]
struct Submit {
    request: Option<ApprovalRequest>,
    ran: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Agree,
    /// Differs, and the request said it was uncertain.
    Flagged,
    Silent,
}

impl Submit {
    fn verdict(&self) -> Verdict {
        match (&self.request, &self.ran) {
            (Some(request), Some(ran)) if normalise(&request.command) == normalise(ran) => {
                Verdict::Agree
            }
            // Uncertain: whatever bash made of it, the approver was told not to rely on it.
            (Some(request), _) if !request.certain => Verdict::Flagged,
            _ => Verdict::Silent,
        }
    }

    fn is_sentinel(&self) -> bool {
        self.request
            .as_ref()
            .is_some_and(|request| request.command == SENTINEL)
    }

    fn describe(&self, shell: Shell) -> String {
        let ran = match &self.ran {
            Some(ran) => format!("{ran:?}"),
            None => "nothing (the request's line never ran)".into(),
        };
        match &self.request {
            Some(request) => format!(
                "approver saw {:?} certain={} typed={:?}; {shell} ran {ran}",
                request.command, request.certain, request.typed
            ),
            None => format!("no request asked about it; {shell} ran {ran}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn differential_bash_is_the_referee_of_the_keystroke_model() {
    let Some(report) = differential(Shell::Bash).await else {
        return;
    };
    assert!(
        report.failures.is_empty(),
        "replays failed: {:#?}",
        report.failures
    );
    assert!(
        report.silent == 0,
        "{} silent mismatches between the approver's requests and the lines bash ran (see above)",
        report.silent
    );
}

/// zsh's line editor is not readline: its keys differ (M-b, C-w, C-u kill the whole line,
/// C-o, C-x C-e...), and sshgate models readline's. This test replays the same keys against
/// zsh and prints the same table, for the proxy's authors; it reports silent mismatches and
/// failed replays without failing, until the proxy knows zle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn differential_zsh() {
    let Some(report) = differential(Shell::Zsh).await else {
        return;
    };
    if !report.failures.is_empty() {
        println!(
            "zsh replays that failed (reported, not failed): {:#?}",
            report.failures
        );
    }
    if report.silent > 0 {
        println!(
            "zsh: {} silent mismatches (reported, not failed: the keystroke model is readline's)",
            report.silent
        );
    }
}

/// Replay the corpus against `shell` and print the table; None when the test is skipped.
async fn differential(shell: Shell) -> Option<Report> {
    let options = TargetOptions {
        dry_run: true,
        shell,
        ..TargetOptions::default()
    };
    // One probe for the skip message, instead of one per scenario.
    let probe = sshgate_tests::skip::real_target_or_skip(options)?;
    drop(probe);
    let started = Instant::now();
    let dir = scenarios::corpus::builtin_dir();
    let mut corpus = Vec::new();
    for category in CATEGORIES {
        let scenarios = scenarios::corpus::load_matching(&dir, &format!("{category}/"))
            .expect("the corpus loads");
        assert!(!scenarios.is_empty(), "no scenarios in {category}");
        // The real-shell tier's own cases set the shell up (locale, tty modes, line editor) as
        // the keys alone cannot; `corpus.rs` replays them.
        corpus.extend(scenarios.into_iter().filter(|scenario| !scenario.on_bash()));
    }
    // DIFFERENTIAL_ONLY=<id prefix>: replay only those, and print their transcripts.
    let only = std::env::var("DIFFERENTIAL_ONLY").ok();
    if let Some(prefix) = &only {
        corpus.retain(|scenario| scenario.id.starts_with(prefix.as_str()));
    }

    let tasks: Vec<_> = corpus
        .into_iter()
        .map(|scenario| {
            tokio::spawn(async move {
                let _permit = REPLAYS.acquire().await.expect("semaphore open");
                let id = scenario.id.clone();
                replay(scenario, shell)
                    .await
                    .map_err(|error| format!("{id}: {error}"))
            })
        })
        .collect();
    let mut replays = Vec::new();
    let mut failures = Vec::new();
    for task in tasks {
        match task.await.expect("replay task") {
            Ok(replay) => replays.push(replay),
            Err(error) => failures.push(error),
        }
    }
    let elapsed = started.elapsed();
    let mut report = report(shell, &replays);
    report.failures = failures;
    println!("{}", report.text);
    println!("{shell}: wall time {elapsed:.1?}");
    Some(report)
}

/// Replay `scenario`'s keys through sshgate to bash; see the module documentation.
async fn replay(scenario: Scenario, shell: Shell) -> Result<Replay, String> {
    let approve_all = mock_approver::Config {
        deny_marker: NEVER_IN_A_COMMAND.into(),
        ..mock_approver::Config::default()
    };
    let front = Front::start_with(
        TargetOptions {
            dry_run: true,
            shell,
            ..TargetOptions::default()
        },
        ClientAuth::InsecureAcceptAny,
        approve_all,
    )
    .await
    .ok_or("sshd became unavailable")?;
    let operator = front.operator().await;
    let mut terminal = open_shell(&operator, scenario.terminal).await?;
    let mut notes = Vec::new();
    let sends = drive(&front, &mut terminal, &scenario, signs(shell), &mut notes)
        .await
        .map_err(|error| {
            format!(
                "{error}; notes {notes:?}; output {:?}; records {:?}; approver {:?}",
                terminal.text(),
                front.target.records(),
                front.approvals.snapshot()
            )
        })?;
    let mut records = front.target.records();
    let end = records
        .iter()
        .position(is_sentinel)
        .expect("the sentinel was recorded");
    records.truncate(end + 1);
    let requests = front.approvals.requests();
    let denied: Vec<_> = front
        .approvals
        .decisions()
        .into_iter()
        .filter(|decision| !decision.approve)
        .collect();
    assert!(denied.is_empty(), "the approver denied {denied:?}");
    for id in front.approvals.cancels() {
        // Only the harness's Ctrl+C cancels: a submit it did not wait for, lost to the
        // comparison.
        notes.push(format!("Ctrl+C cancelled request {id}"));
    }
    if std::env::var_os("DIFFERENTIAL_ONLY").is_some() {
        println!(
            "{} on {shell}:\n  output {:?}\n  records {records:?}\n  approver {:?}",
            scenario.id,
            terminal.text(),
            front.approvals.snapshot()
        );
    }
    Ok(Replay {
        shell,
        id: scenario.id,
        sends,
        requests,
        records,
        notes,
    })
}

/// Type the scenario's keys, then Ctrl+C and the sentinel; returns the keys sent.
async fn drive(
    front: &Front,
    shell: &mut Terminal,
    scenario: &Scenario,
    signs: Signs,
    notes: &mut Vec<String>,
) -> Result<Vec<Vec<u8>>, String> {
    let target = &front.target;
    let first = target.next_record().await?;
    if first != Record::Prompt {
        return Err(format!("bash's first record is {first:?}, not its prompt"));
    }
    shell
        .wait_until(0, WAIT, "the first prompt", |output| {
            output.ends_with(signs.first_prompt)
        })
        .await?;

    let mut sends = Vec::new();
    let mut decided = 0;
    for (index, step) in scenario.steps.iter().enumerate() {
        let Step::Send { bytes, pause_ms } = step else {
            continue;
        };
        let step_number = index + 1;
        if *pause_ms > 0 {
            // The scenario's own typing rhythm (readline's ESC timeout reads it), not a wait.
            tokio::time::sleep(Duration::from_millis(*pause_ms)).await;
        }
        sends.push(bytes.clone());
        let mark = shell.mark();
        let prompts = prompt_records(target);
        send(shell, bytes, scenario.chunking).await?;

        // What the scenario expects from these keys: requests (each approved here), or a line
        // run without one (`executed`, after a denial has emptied the line there).
        let expects: Vec<&Step> = scenario.steps[index + 1..]
            .iter()
            .take_while(|step| !matches!(step, Step::Send { .. }))
            .collect();
        let expected = expects
            .iter()
            .filter(|step| matches!(step, Step::Request { .. }))
            .count();
        let runs_a_line = expects.iter().any(|step| matches!(step, Step::Executed(_)));
        let submits = if expected == 0 {
            0
        } else {
            let now = match decisions(&front.approvals, decided + expected).await {
                Ok(now) => now,
                Err(now) => {
                    notes.push(format!(
                        "step {step_number}: the scenario expects {expected} request(s), \
                         sshgate made {}",
                        now - decided
                    ));
                    now
                }
            };
            let submits = now - decided;
            decided = now;
            submits
        };
        // Bash accepting the line(s) is the event to wait for: after the approved submits, and
        // after keys that may end a line without a request (an empty line, or one the
        // scenario expects to run after a denial emptied it; here any request for it is
        // approved too).
        let lines = if submits == 0 && (runs_a_line || may_end_a_line(bytes)) {
            1
        } else {
            submits
        };
        if lines > 0
            && shell
                .wait_until(mark, SETTLE, "bash reading again", |output| {
                    answered(output, lines, &signs)
                })
                .await
                .is_err()
            && submits > 0
        {
            // Expected when readline does not take the approved key for Enter (the request
            // then says it is unsure): bash keeps editing the line, and the next keys go to it.
            notes.push(format!(
                "step {step_number}: bash accepted fewer than {lines} line(s)"
            ));
        }
        if bytes.last() == Some(&CTRL_C) {
            // The scenario waits for Ctrl+C to take effect before typing on.
            let back = wait_records(target, SETTLE, |records| {
                count_prompts(records) > prompts + submits
            })
            .await
            .is_ok()
                && shell
                    .wait_until(mark, SETTLE, "the prompt after Ctrl+C", |output| {
                        occurrences(output, signs.interrupted).len() > submits
                    })
                    .await
                    .is_ok();
            if !back {
                notes.push(format!(
                    "step {step_number}: bash did not return to its prompt after Ctrl+C"
                ));
            }
        }
    }

    // Ctrl+C empties whatever the scenario left on the line (or a continuation). bash acts
    // on a Ctrl+C that arrives just as it starts reading only when the next key comes (and
    // eats that key): when no prompt follows, press it again.
    let mut attempts = 0;
    loop {
        attempts += 1;
        let mark = shell.mark();
        let prompts = prompt_records(target);
        shell.send(&[CTRL_C]).await?;
        let back = wait_records(target, SETTLE, |records| count_prompts(records) > prompts)
            .await
            .is_ok()
            && shell
                .wait_until(mark, SETTLE, "the prompt after Ctrl+C", |output| {
                    !occurrences(output, signs.interrupted).is_empty()
                })
                .await
                .is_ok();
        if back {
            break;
        }
        if attempts == END_ATTEMPTS {
            return Err(format!(
                "bash did not return to its prompt after {END_ATTEMPTS} Ctrl+C"
            ));
        }
        notes.push("Ctrl+C at the end brought no prompt: pressed again".into());
    }
    // Then the sentinel: once bash has run it, every record and request before it is in.
    shell.send(format!("{SENTINEL}\r").as_bytes()).await?;
    wait_records(target, WAIT, |records| records.iter().any(is_sentinel)).await?;
    Ok(sends)
}

/// A PTY shell of `size`, with the terminal type the scenario replays use.
async fn open_shell(operator: &Operator, size: TerminalSize) -> Result<Terminal, String> {
    let channel = operator.channel().await?;
    // The operator's terminal is UTF-8, as the model assumes: say so, as OpenSSH's client does
    // (`SendEnv LANG`). In the C locale readline edits bytes, not characters.
    channel
        .set_env(false, "LANG", LOCALE)
        .await
        .map_err(|error| format!("env: {error}"))?;
    Terminal::start(
        channel,
        "xterm-256color",
        u32::from(size.cols),
        u32::from(size.rows),
    )
    .await
}

/// One packet, or one per byte where the scenario pins that.
async fn send(shell: &Terminal, bytes: &[u8], chunking: Option<Chunking>) -> Result<(), String> {
    match chunking {
        Some(Chunking::ByteByByte) => {
            for byte in bytes {
                shell.send(std::slice::from_ref(byte)).await?;
            }
            Ok(())
        }
        _ => shell.send(bytes).await,
    }
}

/// Wait until the approver has decided `want` requests in all: Ok with the count, or Err with
/// the count reached after [`WAIT`].
async fn decisions(log: &ApproverLog, want: usize) -> Result<usize, usize> {
    let deadline = Instant::now() + WAIT;
    loop {
        let seen: HashSet<String> = log
            .decisions()
            .into_iter()
            .map(|decision| decision.id)
            .collect();
        if seen.len() >= want {
            return Ok(seen.len());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let new = log
            .wait_for(
                |event| matches!(event, ApproverEvent::Decision { id, .. } if !seen.contains(id)),
                left,
            )
            .await;
        if new.is_none() {
            return Err(log.decisions().len());
        }
    }
}

/// Where `needle` starts in `haystack`.
fn occurrences(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(_, window)| *window == needle)
        .map(|(at, _)| at)
        .collect()
}

/// Whether `output` shows the shell accepting `submits` lines and, after the last, reading
/// again with its prompt (PS1, or PS2 for a continuation) drawn.
fn answered(output: &[u8], submits: usize, signs: &Signs) -> bool {
    let accepted = occurrences(output, signs.accepted);
    let Some(&last) = accepted.last() else {
        return false;
    };
    let after = &output[last + signs.accepted.len()..];
    accepted.len() >= submits
        && signs
            .ready
            .iter()
            .any(|ready| !occurrences(after, ready).is_empty())
}

/// Whether `keys` hold a CR or LF that is not pasted or quoted (Ctrl+V), which readline
/// would take for Enter.
fn may_end_a_line(keys: &[u8]) -> bool {
    const PASTE_START: &[u8] = b"\x1b[200~";
    const PASTE_END: &[u8] = b"\x1b[201~";
    const QUOTE: u8 = 0x16;
    let mut pasting = false;
    let mut at = 0;
    while at < keys.len() {
        let rest = &keys[at..];
        if rest.starts_with(PASTE_START) {
            pasting = true;
            at += PASTE_START.len();
            continue;
        }
        if rest.starts_with(PASTE_END) {
            pasting = false;
            at += PASTE_END.len();
            continue;
        }
        match keys[at] {
            QUOTE => at += 1,
            b'\r' | b'\n' if !pasting => return true,
            _ => {}
        }
        at += 1;
    }
    false
}

fn count_prompts(records: &[Record]) -> usize {
    records
        .iter()
        .filter(|record| **record == Record::Prompt)
        .count()
}

fn prompt_records(target: &RealTarget) -> usize {
    count_prompts(&target.records())
}

fn is_sentinel(record: &Record) -> bool {
    matches!(record, Record::Line(line) if line.ends_with(&SENTINEL[1..]))
}

/// Wait until `done` holds for all of bash's records so far; Err after `within`.
async fn wait_records(
    target: &RealTarget,
    within: Duration,
    done: impl Fn(&[Record]) -> bool,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let records = target.records();
        if done(&records) {
            return Ok(());
        }
        // Each call returns one record not returned before, waiting for it if need be.
        match tokio::time::timeout_at(deadline, target.next_record()).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => return Err(error),
            Err(_) => return Err(format!("not within {within:?}; records {records:?}")),
        }
    }
}

/// The text compared on both sides. Only what bash's history provably does to an accepted
/// buffer is undone: each line of a multi-line buffer becomes its own history entry (its own
/// `Line` record, joined here with newlines), and an empty line becomes none (a paste ending in
/// a newline, `echo one\n`, runs as `echo one`), so empty lines are dropped on both sides.
/// Nothing else: history keeps trailing blanks as typed (`echo DENY  ` is recorded so), and a
/// compound command over several lines, which history joins with `; `, is not undone.
fn normalise(text: &str) -> String {
    text.split('\n')
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// bash's accepted buffers that ran something: the `Line` records between two prompts.
fn groups(records: &[Record]) -> Vec<String> {
    let mut groups = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for record in records {
        match record {
            Record::Line(line) => current.push(line),
            Record::Prompt => {
                if !current.is_empty() {
                    groups.push(current.join("\n"));
                }
                current.clear();
            }
            Record::Exec(_) => {}
        }
    }
    if !current.is_empty() {
        groups.push(current.join("\n"));
    }
    groups
}

/// The requests as the shell runs them: the parts of one line of several commands (a paste,
/// asked about command by command, "command 2 of 3") joined into one, and a line that
/// continues a command in place of the request before it (it carries the whole command).
fn one_per_run(requests: &[ApprovalRequest]) -> Vec<ApprovalRequest> {
    let mut runs: Vec<ApprovalRequest> = Vec::new();
    for request in requests {
        let later_part = request
            .warnings
            .iter()
            .any(|w| w.starts_with("command ") && !w.starts_with("command 1 of"));
        match runs.last_mut() {
            Some(previous) if later_part => {
                previous.command = format!("{}\n{}", previous.command, request.command);
                previous.certain &= request.certain;
            }
            Some(previous) if request.continuation.is_some() => *previous = request.clone(),
            _ => runs.push(request.clone()),
        }
    }
    runs
}

/// Pair requests with bash's groups, in order. Where the counts match this is one to one;
/// otherwise an alignment (Needleman-Wunsch) that prefers pairing texts that agree, then
/// pairing at all, over leaving a request or a group alone.
fn align(requests: &[ApprovalRequest], groups: &[String]) -> Vec<Submit> {
    let pair = |request: &ApprovalRequest, ran: &String| Submit {
        request: Some(request.clone()),
        ran: Some(ran.clone()),
    };
    if requests.len() == groups.len() {
        return requests
            .iter()
            .zip(groups)
            .map(|(r, g)| pair(r, g))
            .collect();
    }
    const SAME: i64 = 2;
    const DIFFERENT: i64 = 0;
    const ALONE: i64 = -1;
    let (n, m) = (requests.len(), groups.len());
    let score = |i: usize, j: usize| {
        if normalise(&requests[i].command) == normalise(&groups[j]) {
            SAME
        } else {
            DIFFERENT
        }
    };
    let mut best = vec![vec![0i64; m + 1]; n + 1];
    for i in 0..=n {
        for j in 0..=m {
            best[i][j] = match (i, j) {
                (0, 0) => 0,
                (0, j) => ALONE * j as i64,
                (i, 0) => ALONE * i as i64,
                (i, j) => (best[i - 1][j - 1] + score(i - 1, j - 1))
                    .max(best[i - 1][j] + ALONE)
                    .max(best[i][j - 1] + ALONE),
            };
        }
    }
    let mut submits = Vec::new();
    let (mut i, mut j) = (n, m);
    while i > 0 || j > 0 {
        if i > 0 && j > 0 && best[i][j] == best[i - 1][j - 1] + score(i - 1, j - 1) {
            submits.push(pair(&requests[i - 1], &groups[j - 1]));
            i -= 1;
            j -= 1;
        } else if i > 0 && best[i][j] == best[i - 1][j] + ALONE {
            submits.push(Submit {
                request: Some(requests[i - 1].clone()),
                ran: None,
            });
            i -= 1;
        } else {
            submits.push(Submit {
                request: None,
                ran: Some(groups[j - 1].clone()),
            });
            j -= 1;
        }
    }
    submits.reverse();
    submits
}

#[derive(Default)]
struct Row {
    scenarios: usize,
    submits: usize,
    agree: usize,
    /// Of `agree`: requests that were right but said they were uncertain (the cost of failing
    /// closed on honest lines).
    unsure: usize,
    flagged: usize,
    silent: usize,
}

struct Report {
    text: String,
    silent: usize,
    /// Replays that broke down, with why.
    failures: Vec<String>,
}

fn report(shell: Shell, replays: &[Replay]) -> Report {
    let mut rows: BTreeMap<&str, Row> = BTreeMap::new();
    let mut silent = String::new();
    let mut flagged = String::new();
    let mut unsure = String::new();
    let mut notes = String::new();
    let mut total = Row::default();
    for replay in replays {
        let category = replay.id.split('/').next().unwrap_or_default();
        let row = rows.entry(category).or_default();
        row.scenarios += 1;
        total.scenarios += 1;
        let submits = align(&one_per_run(&replay.requests), &groups(&replay.records));
        let keys: Vec<_> = replay
            .sends
            .iter()
            .map(|bytes| {
                format!(
                    "b\"{}\" ({})",
                    bytes.escape_ascii(),
                    scenarios::notation::render(bytes)
                )
            })
            .collect();
        for submit in &submits {
            let verdict = submit.verdict();
            // The sentinel only counts when something went wrong with it.
            if submit.is_sentinel() && verdict == Verdict::Agree {
                continue;
            }
            if submit.is_sentinel() && submit.ran.as_deref() == Some(&SENTINEL[1..]) {
                // The race of Ctrl+C with the next key (see `drive`), on the harness's keys.
                let _ = writeln!(
                    notes,
                    "  {}: {shell} ate the sentinel's first key",
                    replay.id
                );
                continue;
            }
            for row in [&mut *row, &mut total] {
                row.submits += 1;
                let uncertain = submit.request.as_ref().is_some_and(|r| !r.certain);
                match verdict {
                    Verdict::Agree => {
                        row.agree += 1;
                        row.unsure += usize::from(uncertain);
                    }
                    Verdict::Flagged => row.flagged += 1,
                    Verdict::Silent => row.silent += 1,
                }
            }
            let line = format!(
                "  {}: {}\n      keys: {}\n",
                replay.id,
                submit.describe(replay.shell),
                keys.join(" then ")
            );
            match verdict {
                Verdict::Agree if submit.request.as_ref().is_some_and(|r| !r.certain) => {
                    unsure += &line
                }
                Verdict::Agree => {}
                Verdict::Flagged => flagged += &line,
                Verdict::Silent => silent += &line,
            }
        }
        for note in &replay.notes {
            let _ = writeln!(notes, "  {}: {note}", replay.id);
        }
    }
    let mut text = format!(
        "differential: sshgate's requests against the lines {shell} ran\n\
         category   scenarios  submits  agree  (unsure)  flagged  silent\n",
    );
    let mut line = |name: &str, row: &Row| {
        let _ = writeln!(
            text,
            "{name:<10} {:>9}  {:>7}  {:>5}  {:>8}  {:>7}  {:>6}",
            row.scenarios, row.submits, row.agree, row.unsure, row.flagged, row.silent
        );
    };
    for (category, row) in &rows {
        line(category, row);
    }
    line("total", &total);
    if !silent.is_empty() {
        text += "\nsilent mismatches:\n";
        text += &silent;
    }
    if !flagged.is_empty() {
        text += "\nflagged (uncertain requests that differ, allowed):\n";
        text += &flagged;
    }
    if !unsure.is_empty() {
        text += "\nunsure (right, but sent as uncertain):\n";
        text += &unsure;
    }
    if !notes.is_empty() {
        text += "\nreplay notes:\n";
        text += &notes;
    }
    Report {
        text,
        silent: total.silent,
        failures: Vec::new(),
    }
}

#[test]
fn normalise_drops_only_empty_lines() {
    assert_eq!(normalise("echo one\n"), "echo one");
    assert_eq!(normalise("echo a\n\necho b"), "echo a\necho b");
    assert_eq!(normalise("echo a "), "echo a ");
}

#[test]
fn a_line_ends_on_enter_neither_pasted_nor_quoted() {
    assert!(may_end_a_line(b"echo a\r"));
    assert!(may_end_a_line(b"\x1b[200~a\rb\x1b[201~\n"));
    assert!(!may_end_a_line(b"\x1b[200~a\rb\x1b[201~"));
    assert!(!may_end_a_line(b"echo \x16\r"));
    assert!(!may_end_a_line(b"echo a"));
}

#[test]
fn groups_join_the_lines_of_one_buffer() {
    let records = [
        Record::Prompt,
        Record::Line("echo a".into()),
        Record::Line("echo b".into()),
        Record::Prompt,
        Record::Prompt,
        Record::Line("echo c".into()),
    ];
    assert_eq!(groups(&records), ["echo a\necho b", "echo c"]);
}

#[test]
fn parts_of_one_run_are_joined() {
    let part = |command: &str, warning: &str| ApprovalRequest {
        command: command.into(),
        certain: true,
        warnings: vec![warning.into()],
        ..ApprovalRequest::default()
    };
    let pasted = [
        part("echo a", "command 1 of 2 in one line"),
        part("echo b", "command 2 of 2 in one line"),
    ];
    let runs = one_per_run(&pasted);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].command, "echo a\necho b");
    let continued = ApprovalRequest {
        command: "mark DENY".into(),
        continuation: Some("NY".into()),
        ..ApprovalRequest::default()
    };
    let runs = one_per_run(&[part("mark DE\\", "x"), continued]);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].command, "mark DENY");
}

#[test]
fn alignment_leaves_alone_what_has_no_partner() {
    // From JSON, as an approver receives it: optional fields stay at their defaults.
    let request = |command: &str| -> ApprovalRequest {
        serde_json::from_value(serde_json::json!({
            "id": command, "session": "s", "kind": "shell", "command": command,
            "user": "u", "client": "c", "target": "t", "certain": true, "context": [],
        }))
        .expect("a request")
    };
    let submits = align(
        &[request("echo a"), request("echo b")],
        &["echo b".to_string()],
    );
    assert_eq!(submits.len(), 2);
    assert!(submits[0].ran.is_none());
    assert_eq!(submits[1].verdict(), Verdict::Agree);
    let submits = align(&[request("echo b")], &["x".into(), "echo b".into()]);
    assert!(submits[0].request.is_none());
    assert_eq!(submits[1].verdict(), Verdict::Agree);
}
