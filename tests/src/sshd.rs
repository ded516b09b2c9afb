//! A real target: a private OpenSSH `sshd` on loopback whose sessions run bash, with a
//! referee inside bash that reports every line bash accepts and runs.
//!
//! Everything lives in one temporary directory: the host key, `sshd_config`, the
//! authorized_keys file with the key the fixture generates for whoever logs in (sshgate's
//! `--identity`), a known_hosts file for `--target-known-hosts`, the login script and the
//! referee's FIFO. Nothing system-wide is touched; sshd only needs its privilege-separation
//! directory `/run/sshd`. sshd is stopped when the [`RealTarget`] is dropped.
//!
//! Every session runs `shell.sh` (sshd's `ForceCommand`):
//! - an exec request is recorded as [`Record::Exec`], then run by `bash -c`;
//! - a shell is `bash -i` with readline's own defaults (`INPUTRC=/dev/null`), `PS1='$ '`, and
//!   the referee rcfile: a DEBUG trap that reads the newest history entry and, when its number
//!   is new, records its text as a [`Record::Line`]; and a `PROMPT_COMMAND` that records a
//!   [`Record::Prompt`] each time bash is about to show its prompt (bash finished a line).
//!
//! The records travel through a FIFO, NUL-terminated, to a thread of this process that makes
//! them available to async tests ([`RealTarget::next_record`], [`RealTarget::wait_for`]):
//! tests wait on these events, not on timers.
//!
//! A line that runs no command leaves no `Line` record (an empty line, a comment, a syntax
//! error, a lone function definition), only the `Prompt` that follows.
//!
//! With [`TargetOptions::dry_run`] lines and exec commands are recorded but nothing they name
//! runs: `PATH` is empty, and the trap (with `extdebug`) skips the command and interrupts the
//! line. Only the redirections of a compound command (`{ ...; } > file`, `( ... ) > file`)
//! are applied before the trap can stop them. Dry run is for replaying the scenario corpus,
//! whose lines include `rm -rf /DENY`.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc as std_mpsc, Arc, Mutex};

use russh::keys::ssh_key::LineEnding;
use russh::keys::{PrivateKey, PublicKey};
use sshgate::credentials::{generate_host_key, TargetKeyPolicy};
use sshgate::target::TargetSettings;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::operator::WAIT;

/// Where Debian's openssh-server installs the daemon (sshd re-executes itself, so the path
/// must be absolute).
pub const SSHD: &str = "/usr/sbin/sshd";
/// sshd's privilege-separation directory, which the Debian package only creates when its
/// service starts.
pub const PRIVSEP_DIR: &str = "/run/sshd";
/// How many ports to try: another process may take the picked port before sshd binds it.
const BIND_ATTEMPTS: usize = 5;

/// How the target behaves.
#[derive(Debug, Clone, Default)]
pub struct TargetOptions {
    /// Record lines and exec commands without running them (see the module documentation).
    pub dry_run: bool,
}

/// One thing the target's bash did, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// The interactive shell accepted this line and started running it (the text as bash
    /// stored it in its history).
    Line(String),
    /// The interactive shell is about to show its prompt: the previous line is finished.
    Prompt,
    /// An exec request for this command arrived (recorded before it runs).
    Exec(String),
}

impl Record {
    /// The command text of a `Line` or `Exec`.
    pub fn text(&self) -> Option<&str> {
        match self {
            Record::Line(text) | Record::Exec(text) => Some(text),
            Record::Prompt => None,
        }
    }

    fn parse(bytes: &[u8]) -> Option<Record> {
        let text = String::from_utf8_lossy(bytes);
        let (tag, rest) = text.split_at_checked(1)?;
        match tag {
            "L" => Some(Record::Line(rest.to_string())),
            "E" => Some(Record::Exec(rest.to_string())),
            "P" => Some(Record::Prompt),
            _ => None,
        }
    }
}

/// Why the real target cannot run on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable(pub String);

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unavailable {}

/// A private sshd on 127.0.0.1 with bash behind it; see the module documentation.
pub struct RealTarget {
    dir: tempfile::TempDir,
    sshd: Child,
    addr: SocketAddr,
    user: String,
    client_key: PrivateKey,
    host_key: PublicKey,
    records: Arc<Mutex<Vec<Record>>>,
    changes: watch::Receiver<usize>,
    /// Index of the next record `next_record` returns.
    cursor: Mutex<usize>,
    /// A second handle on the FIFO, to tell the reader thread to stop.
    fifo: File,
    sshd_log: Arc<Mutex<Vec<String>>>,
}

/// The record that stops the reader thread; bash only writes L, P and E records.
const STOP: &[u8] = b"S\0";

impl RealTarget {
    /// Start sshd and wait for its readiness line. Blocks for a few milliseconds.
    ///
    /// Err when this machine lacks what sshd needs; any other failure panics with sshd's log,
    /// since it is a bug in the fixture.
    pub fn start(options: TargetOptions) -> Result<RealTarget, Unavailable> {
        available()?;
        let user = current_user();
        let dir = tempfile::Builder::new()
            .prefix("sshgate-real-target")
            .tempdir()
            .expect("create a temporary directory");
        let path = dir.path();

        let host_key = generate_host_key();
        host_key
            .write_openssh_file(path.join("host_key"), LineEnding::LF)
            .expect("write the host key");
        let client_key = generate_host_key();
        std::fs::write(
            path.join("authorized_keys"),
            client_key.public_key().to_openssh().expect("encode a key") + " sshgate-tests\n",
        )
        .expect("write authorized_keys");

        let fifo_path = path.join("records.fifo");
        let status = Command::new("mkfifo")
            .arg(&fifo_path)
            .status()
            .expect("run mkfifo");
        assert!(status.success(), "mkfifo {} failed", fifo_path.display());
        // Read and write: opening a FIFO this way never blocks, and bash's writes never block
        // on a missing reader, even before the reader thread runs.
        let fifo = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&fifo_path)
            .expect("open the FIFO");
        std::fs::write(path.join("referee.bashrc"), referee_rc(&fifo_path))
            .expect("write the rcfile");
        let shell = path.join("shell.sh");
        std::fs::write(&shell, login_script(path, &options)).expect("write shell.sh");
        std::fs::set_permissions(&shell, std::fs::Permissions::from_mode(0o755))
            .expect("make shell.sh executable");

        let (records, changes) = spawn_record_reader(fifo.try_clone().expect("clone the FIFO"));
        let (sshd, addr, sshd_log) = start_sshd(path);
        let known_hosts = format!(
            "[{}]:{} {}\n",
            addr.ip(),
            addr.port(),
            host_key.public_key().to_openssh().expect("encode a key")
        );
        std::fs::write(path.join("known_hosts"), known_hosts).expect("write known_hosts");

        Ok(RealTarget {
            host_key: host_key.public_key().clone(),
            dir,
            sshd,
            addr,
            user,
            client_key,
            records,
            changes,
            cursor: Mutex::new(0),
            fifo,
            sshd_log,
        })
    }

    /// [`start`](Self::start), or `None` after saying why the test is skipped. Where the
    /// environment variable `CI` is set, panics instead: CI installs sshd, so a missing one
    /// there is a failure.
    pub fn start_or_skip(options: TargetOptions) -> Option<RealTarget> {
        match Self::start(options) {
            Ok(target) => Some(target),
            Err(why) => {
                skip(&why.0);
                None
            }
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The user to log in as: the one running the tests (sshd cannot switch to another
    /// unless it runs as root, and then this is root).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The key authorized to log in: sshgate's `--identity` for this target.
    pub fn client_key(&self) -> &PrivateKey {
        &self.client_key
    }

    /// The target's host key.
    pub fn host_key(&self) -> &PublicKey {
        &self.host_key
    }

    /// A known_hosts file listing the target (`[127.0.0.1]:PORT ssh-ed25519 ...`).
    pub fn known_hosts_path(&self) -> PathBuf {
        self.dir.path().join("known_hosts")
    }

    /// The fixture's temporary directory, for files a test wants to look at.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// sshgate's target settings for this target: its address, host key checked against
    /// [`known_hosts_path`](Self::known_hosts_path), [`client_key`](Self::client_key) as the
    /// identity, [`user`](Self::user) as the target user.
    pub fn target_settings(&self) -> TargetSettings {
        TargetSettings {
            address: self.addr.to_string(),
            user: Some(self.user.clone()),
            identity: Some(Arc::new(self.client_key.clone())),
            key_policy: TargetKeyPolicy::KnownHosts(self.known_hosts_path()),
        }
    }

    /// Every record so far.
    pub fn records(&self) -> Vec<Record> {
        self.records.lock().expect("records lock").clone()
    }

    /// The record after the last one `next_record` or `wait_for` returned; Err after
    /// [`WAIT`] with what arrived so far.
    pub async fn next_record(&self) -> Result<Record, String> {
        self.wait_for(|_| true).await
    }

    /// The first record from the cursor on that matches `pred` (skipping the others); the
    /// cursor moves past it. Err after [`WAIT`] with what arrived so far.
    pub async fn wait_for(&self, pred: impl Fn(&Record) -> bool) -> Result<Record, String> {
        let deadline = Instant::now() + WAIT;
        let mut changes = self.changes.clone();
        loop {
            // Mark the current count seen before looking, so a record pushed in between
            // still wakes the wait below.
            changes.borrow_and_update();
            {
                let records = self.records.lock().expect("records lock");
                let mut cursor = self.cursor.lock().expect("cursor lock");
                while let Some(record) = records.get(*cursor) {
                    *cursor += 1;
                    if pred(record) {
                        return Ok(record.clone());
                    }
                }
            }
            let changed = tokio::time::timeout_at(deadline, changes.changed()).await;
            if !matches!(changed, Ok(Ok(()))) {
                return Err(format!(
                    "no matching record from the target within {WAIT:?}; records {:?}; sshd log {:?}",
                    self.records(),
                    self.sshd_log()
                ));
            }
        }
    }

    /// The next `Line` record.
    pub async fn next_line(&self) -> Result<String, String> {
        let record = self.wait_for(|r| matches!(r, Record::Line(_))).await?;
        Ok(record.text().unwrap_or_default().to_string())
    }

    /// The next `Exec` record.
    pub async fn next_exec(&self) -> Result<String, String> {
        let record = self.wait_for(|r| matches!(r, Record::Exec(_))).await?;
        Ok(record.text().unwrap_or_default().to_string())
    }

    /// True when any `Line` or `Exec` so far contains `needle`.
    pub fn ran(&self, needle: &str) -> bool {
        self.records()
            .iter()
            .any(|record| record.text().is_some_and(|text| text.contains(needle)))
    }

    /// What sshd has written to its stderr so far, for failure messages.
    pub fn sshd_log(&self) -> Vec<String> {
        self.sshd_log.lock().expect("sshd log lock").clone()
    }
}

impl Drop for RealTarget {
    fn drop(&mut self) {
        let _ = self.sshd.kill();
        let _ = self.sshd.wait();
        let _ = self.fifo.write_all(STOP);
    }
}

/// Say that a test is skipped because `why`, or panic when the variable `CI` is set.
pub fn skip(why: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{why} (CI is set: CI must provide it, so this is a failure, not a skip)");
    }
    // Straight to the process's stderr: the test harness captures `eprintln!`, and a skip
    // must show in a plain `cargo test` run.
    let _ = writeln!(std::io::stderr(), "skipped: {why}");
}

/// Err when this machine cannot run the real target.
fn available() -> Result<(), Unavailable> {
    if !Path::new(SSHD).exists() {
        return Err(Unavailable(
            "sshd not installed: apt-get install openssh-server".into(),
        ));
    }
    if !Path::new(PRIVSEP_DIR).is_dir() {
        return Err(Unavailable(format!(
            "sshd's privilege-separation directory is missing: mkdir -p {PRIVSEP_DIR}"
        )));
    }
    if Command::new("bash").arg("--version").output().is_err() {
        return Err(Unavailable("bash not installed".into()));
    }
    Ok(())
}

fn current_user() -> String {
    let output = Command::new("id").arg("-un").output().expect("run id -un");
    assert!(output.status.success(), "id -un failed");
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Single-quoted for bash; the paths quoted here are the fixture's own.
fn quoted(path: &Path) -> String {
    let text = path.to_str().expect("temporary paths are UTF-8");
    assert!(!text.contains('\''), "unexpected quote in {text:?}");
    format!("'{text}'")
}

fn login_script(dir: &Path, options: &TargetOptions) -> String {
    let dry_run = if options.dry_run {
        "export REFEREE_DRY_RUN=1\n"
    } else {
        ""
    };
    format!(
        r#"#!/bin/bash
# sshd's ForceCommand for every session of this test target (sshgate-tests' RealTarget).
# Readline's own defaults, not the distribution's /etc/inputrc.
export INPUTRC=/dev/null
{dry_run}if [[ -n ${{SSH_ORIGINAL_COMMAND+set}} ]]; then
    printf 'E%s\0' "$SSH_ORIGINAL_COMMAND" >{fifo}
    [[ -n ${{REFEREE_DRY_RUN-}} ]] && exit 0
    exec bash --norc --noprofile -c "$SSH_ORIGINAL_COMMAND"
fi
exec bash --noprofile --rcfile {rc} -i
"#,
        fifo = quoted(&dir.join("records.fifo")),
        rc = quoted(&dir.join("referee.bashrc")),
    )
}

fn referee_rc(fifo: &Path) -> String {
    REFEREE_RC.replace("@FIFO@", &quoted(fifo))
}

/// The interactive shell's rcfile. Records: `L<line>`, `P`, NUL-terminated.
const REFEREE_RC: &str = r#"# The referee (sshgate-tests' RealTarget): reports every line bash runs, and each prompt.
unset HISTFILE                  # no ~/.bash_history read or written
HISTSIZE=100000
HISTCONTROL=                    # every line goes to the history, even " cmd" and repeats
HISTIGNORE=
PS1='$ '
PS2='> '
__referee_fifo=@FIFO@
__referee_last=
__referee_record() { printf '%s\0' "$1" >"$__referee_fifo"; }
__referee_prompt() { __referee_record P; }
# Before each simple command (and for, case, [[, ((): when the newest history entry is one
# not reported yet, bash has accepted a new line; report its text.
__referee_debug() {
    # PROMPT_COMMAND's own commands, and (extdebug traces functions) the referee's functions.
    case $BASH_COMMAND in __referee_*) return 0 ;; esac
    [[ ${FUNCNAME[1]-} == __referee_* ]] && return 0
    # Bytes, not characters: in a UTF-8 locale the regex below matches no line with bytes that
    # are not UTF-8, and such lines must be reported too.
    local LC_ALL=C
    local entry
    entry=$(HISTTIMEFORMAT= history 1)
    if [[ $entry =~ ^\ *([0-9]+)\*?\ \ (.*)$ && ${BASH_REMATCH[1]} != "$__referee_last" ]]; then
        __referee_last=${BASH_REMATCH[1]}
        __referee_record "L${BASH_REMATCH[2]}"
    fi
    [[ -z ${REFEREE_DRY_RUN-} ]] && return 0
    # Dry run: abandon the whole line (a skipped `while` condition would loop forever), and
    # skip this command in case the interrupt comes late.
    kill -INT $$
    return 1
}
if [[ -n ${REFEREE_DRY_RUN-} ]]; then
    shopt -s extdebug           # a DEBUG trap returning non-zero skips the command
    PATH=
fi
PROMPT_COMMAND=__referee_prompt
trap __referee_debug DEBUG
"#;

/// The reader thread: records from the FIFO into the shared list, counted by the watch.
fn spawn_record_reader(fifo: File) -> (Arc<Mutex<Vec<Record>>>, watch::Receiver<usize>) {
    let records = Arc::new(Mutex::new(Vec::new()));
    let (count, changes) = watch::channel(0);
    let shared = records.clone();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(fifo);
        loop {
            let mut bytes = Vec::new();
            match reader.read_until(0, &mut bytes) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if bytes.last() == Some(&0) {
                bytes.pop();
            }
            if bytes == STOP[..1] {
                return;
            }
            if let Some(record) = Record::parse(&bytes) {
                let mut list = shared.lock().expect("records lock");
                list.push(record);
                count.send_replace(list.len());
            }
        }
    });
    (records, changes)
}

/// sshd runs `ForceCommand` with the user's login shell, `$SHELL -c`. When that is bash and
/// it sees it was started by sshd, it reads the user's ~/.bashrc (Debian builds bash so),
/// which would make the target depend on the machine's account (and here cost ~400 ms per
/// session: pyenv). bash skips it when `SHLVL` is already set, hence `SetEnv SHLVL=1`.
fn sshd_config(dir: &Path, port: u16) -> String {
    let path = |name: &str| {
        dir.join(name)
            .to_str()
            .expect("temporary paths are UTF-8")
            .to_string()
    };
    format!(
        "ListenAddress 127.0.0.1\n\
         Port {port}\n\
         HostKey {host_key}\n\
         AuthorizedKeysFile {authorized_keys}\n\
         PidFile none\n\
         LogLevel INFO\n\
         StrictModes no\n\
         UsePAM no\n\
         PermitRootLogin yes\n\
         PubkeyAuthentication yes\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         PrintMotd no\n\
         PrintLastLog no\n\
         ForceCommand {shell}\n\
         AcceptEnv LANG LC_*\n\
         SetEnv SHLVL=1\n",
        host_key = path("host_key"),
        authorized_keys = path("authorized_keys"),
        shell = path("shell.sh"),
    )
}

/// Start sshd on a picked port, retrying with another port when the bind fails.
fn start_sshd(dir: &Path) -> (Child, SocketAddr, Arc<Mutex<Vec<String>>>) {
    let config = dir.join("sshd_config");
    let mut failures = Vec::new();
    for _ in 0..BIND_ATTEMPTS {
        let port = portpicker::pick_unused_port().expect("a free port on 127.0.0.1");
        std::fs::write(&config, sshd_config(dir, port)).expect("write sshd_config");
        let mut child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {SSHD}: {error}"));
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = drain_stderr(&mut child, log.clone());
        let ready = format!("Server listening on 127.0.0.1 port {port}.");
        let deadline = std::time::Instant::now() + WAIT;
        let outcome = loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) if line == ready => break Ok(()),
                Ok(_) => continue,
                Err(std_mpsc::RecvTimeoutError::Timeout) => break Err("no readiness line"),
                // stderr closed: sshd exited.
                Err(std_mpsc::RecvTimeoutError::Disconnected) => break Err("sshd exited"),
            }
        };
        if outcome.is_ok() {
            return (child, SocketAddr::from(([127, 0, 0, 1], port)), log);
        }
        let _ = child.kill();
        let _ = child.wait();
        let lines = log.lock().expect("sshd log lock").clone();
        let bind_failed = lines.iter().any(|line| line.starts_with("Bind to port"));
        if !bind_failed {
            panic!(
                "sshd did not start ({}); config:\n{}\nlog: {lines:#?}",
                outcome.unwrap_err(),
                sshd_config(dir, port)
            );
        }
        failures.push(lines);
    }
    panic!("sshd could not bind a port in {BIND_ATTEMPTS} attempts: {failures:#?}");
}

/// Read sshd's stderr for as long as it runs (so it never blocks on a full pipe): every line
/// into `log`, and to the returned channel while someone listens.
fn drain_stderr(child: &mut Child, log: Arc<Mutex<Vec<String>>>) -> std_mpsc::Receiver<String> {
    let stderr = child.stderr.take().expect("piped stderr");
    let (sender, receiver) = std_mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { return };
            log.lock().expect("sshd log lock").push(line.clone());
            let _ = sender.send(line);
        }
    });
    receiver
}
