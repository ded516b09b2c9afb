//! [`RealTarget`]: a private OpenSSH `sshd` on loopback whose sessions run a real shell (bash
//! by default; zsh, fish or dash with [`TargetOptions::shell`]), with a referee inside the
//! shell that reports every line it accepts and runs, and each prompt.
//!
//! Everything lives in one temporary directory: the host key, `sshd_config`, the
//! authorized_keys file with the key it generates (or is given, [`TargetOptions::client_key`])
//! for whoever logs in (a proxy's `--identity`), a known_hosts file for
//! `--target-known-hosts`, the login script and the referee's FIFO. Nothing system-wide is touched; sshd only needs its privilege-separation
//! directory `/run/sshd`. sshd is stopped when the [`RealTarget`] is dropped.
//!
//! Every session runs `shell.sh` (sshd's `ForceCommand`):
//! - an exec request is recorded as [`Record::Exec`], then run by `bash -c`;
//! - a shell is, by [`Shell`]:
//!   - bash: `bash -i` with readline's own defaults (`INPUTRC=/dev/null`), `PS1='$ '`, and the
//!     referee rcfile: a DEBUG trap that reads the newest history entry and, when its number
//!     is new, records its text as a [`Record::Line`]; and a `PROMPT_COMMAND` that records a
//!     [`Record::Prompt`] each time bash is about to show its prompt (bash finished a line);
//!   - zsh: `zsh -i` without the system's rc files (`--no-globalrcs`; only `/etc/zsh/zshenv`,
//!     which zsh always reads) and a private `ZDOTDIR` whose `.zshrc` is the referee: emacs
//!     keymap, zle and bracketed paste on, history expansion on (zsh's default),
//!     `PS1='$ '`, `PS2='> '`; a `preexec` hook records its `$1` (the history line: as typed,
//!     after history expansion, before alias expansion, as bash's record) and `precmd` the
//!     prompt;
//!   - fish: `fish -i` with a private `XDG_CONFIG_HOME` (no user config; fish's own defaults
//!     from `/usr/share/fish` still load, which is where it turns bracketed paste on) and
//!     `XDG_DATA_HOME` (an empty history); the referee `config.fish` prints `$ ` as its
//!     prompt, records a prompt each time `fish_prompt` runs and a line on `fish_preexec`;
//!   - dash: `dash -i` with `PS1='$ '` and no line editor (Debian's dash has no libedit: the
//!     tty driver edits the line). dash has no hook, so the referee rides on its stderr: an
//!     `ENV` file sets `set -x` with a marker as `PS4` and a marker in front of `PS1`, and a
//!     filter (`referee-filter.pl`, perl) between dash's stderr and the terminal takes the
//!     markers out: each traced command becomes a [`Record::Line`] (the command as dash traces
//!     it: after expansion, words joined by spaces, one record per simple command), each PS1 a
//!     [`Record::Prompt`]. Everything else on stderr reaches the terminal unchanged, but
//!     through the filter, so it may land after stdout written later (seen with type-ahead:
//!     a PS2 drawn after the output of the command it continued).
//!
//! The records travel through a FIFO, NUL-terminated, to a thread of this process that makes
//! them available to async code ([`RealTarget::next_record`], [`RealTarget::wait_for`]):
//! callers wait on these events, not on timers.
//!
//! A line that runs no command leaves no `Line` record (an empty line, a comment, a syntax
//! error, a lone function definition), only the `Prompt` that follows.
//!
//! With [`TargetOptions::dry_run`] lines and exec commands are recorded but nothing they name
//! runs: `PATH` is empty, and the trap (with `extdebug`) skips the command and interrupts the
//! line. Only the redirections of a compound command (`{ ...; } > file`, `( ... ) > file`)
//! are applied before the trap can stop them. Dry run is for replaying the scenario corpus,
//! whose lines include `rm -rf /DENY`.

use std::fs::OpenOptions;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use russh::keys::ssh_key::LineEnding;
use russh::keys::{Algorithm, PrivateKey, PublicKey};

use crate::records::{Record, RecordLog};
use crate::referee;
use crate::shell::{available, Shell, Unavailable};
use crate::sshd::{self, SshdLog};

/// How long [`RealTarget::wait_for`] and the waits built on it wait for a matching record.
pub const RECORD_WAIT: Duration = Duration::from_secs(10);

/// How the target behaves.
#[derive(Debug, Clone, Default)]
pub struct TargetOptions {
    /// Record lines and exec commands without running them (see the module documentation).
    /// bash and zsh only: fish and dash have no hook that can skip a command.
    pub dry_run: bool,
    /// The interactive shell behind sshd.
    pub shell: Shell,
    /// The host key sshd serves; a new ed25519 key when `None`. Targets started one after
    /// another behind one address share it, so that one known_hosts entry holds for all.
    pub host_key: Option<PrivateKey>,
    /// The key sshd accepts for [`RealTarget::user`]; a new ed25519 key when `None`.
    pub client_key: Option<PrivateKey>,
    /// The shell-side guard's text (`sshgate guard print SHELL`), bash and zsh only: the
    /// shell's rc file sources it last, and the referee records through the guard's audit
    /// hook instead of hooks of its own (which the guard would ask about): a line is recorded
    /// when its first command the guard let run runs, a prompt at each heartbeat.
    pub guard: Option<String>,
}

/// Why a target did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// This machine lacks what the target needs: sshd, the shell, sshd's privilege-separation
    /// directory.
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
    /// Anything else, in one line; when sshd failed, with its log.
    #[error("{0}")]
    Failed(String),
}

fn failed(what: &str, error: impl std::fmt::Display) -> StartError {
    StartError::Failed(format!("cannot {what}: {error}"))
}

/// A private sshd on 127.0.0.1 with a real shell behind it; see the module documentation.
pub struct RealTarget {
    // Dropped in this order: sshd is killed (by Drop) before its directory goes.
    sshd: Child,
    records: RecordLog,
    sshd_log: SshdLog,
    addr: SocketAddr,
    user: String,
    client_key: PrivateKey,
    host_key: PublicKey,
    dir: tempfile::TempDir,
}

impl RealTarget {
    /// Start sshd and wait for its readiness line. Blocks for a few milliseconds.
    pub fn start(options: TargetOptions) -> Result<RealTarget, StartError> {
        if options.guard.is_some() && !matches!(options.shell, Shell::Bash | Shell::Zsh) {
            return Err(StartError::Failed(format!(
                "there is no guard for {} (bash and zsh only)",
                options.shell
            )));
        }
        if options.dry_run && !options.shell.has_dry_run() {
            return Err(StartError::Failed(format!(
                "the {} referee has no dry run (bash and zsh only)",
                options.shell
            )));
        }
        available(options.shell)?;
        let user = current_user()?;
        let dir = tempfile::Builder::new()
            .prefix("real-target")
            .tempdir()
            .map_err(|error| failed("create a temporary directory", error))?;
        let path = dir.path();

        let host_key = match &options.host_key {
            Some(key) => key.clone(),
            None => new_key()?,
        };
        host_key
            .write_openssh_file(path.join("host_key"), LineEnding::LF)
            .map_err(|error| failed("write the host key", error))?;
        let client_key = match &options.client_key {
            Some(key) => key.clone(),
            None => new_key()?,
        };
        let authorized = openssh(client_key.public_key())? + " real-target\n";
        std::fs::write(path.join("authorized_keys"), authorized)
            .map_err(|error| failed("write authorized_keys", error))?;

        let fifo_path = path.join("records.fifo");
        let made = Command::new("mkfifo")
            .arg(&fifo_path)
            .status()
            .map_err(|error| failed("run mkfifo", error))?;
        if !made.success() {
            return Err(StartError::Failed(format!(
                "mkfifo {} failed ({made})",
                fifo_path.display()
            )));
        }
        // Read and write: opening a FIFO this way never blocks, and the shell's writes never
        // block on a missing reader, even before the reader thread runs.
        let fifo = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&fifo_path)
            .map_err(|error| failed("open the records FIFO", error))?;
        referee::write_referee(path, &options, &fifo_path)?;
        let shell = path.join("shell.sh");
        std::fs::write(&shell, referee::login_script(path, &options)?)
            .and_then(|()| std::fs::set_permissions(&shell, std::fs::Permissions::from_mode(0o755)))
            .map_err(|error| failed("write shell.sh", error))?;

        let records =
            RecordLog::read(fifo).map_err(|error| failed("read the records FIFO", error))?;
        let sshd = sshd::start(path)?;
        let known_hosts = format!(
            "[{}]:{} {}\n",
            sshd.addr.ip(),
            sshd.addr.port(),
            openssh(host_key.public_key())?
        );
        std::fs::write(path.join("known_hosts"), known_hosts)
            .map_err(|error| failed("write known_hosts", error))?;

        Ok(RealTarget {
            sshd: sshd.child,
            records,
            sshd_log: sshd.log,
            addr: sshd.addr,
            user,
            client_key,
            host_key: host_key.public_key().clone(),
            dir,
        })
    }

    /// sshd's process id, for a benchmark that reads its CPU time (its sessions' included
    /// once it has reaped them).
    pub fn sshd_pid(&self) -> u32 {
        self.sshd.id()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The user to log in as: the one running this process (sshd cannot switch to another
    /// unless it runs as root, and then this is root).
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The key authorized to log in: a proxy's `--identity` for this target.
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

    /// The target's temporary directory, for files a caller wants to look at.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Every record so far.
    pub fn records(&self) -> Vec<Record> {
        self.records.all()
    }

    /// The record after the last one `next_record` or `wait_for` returned; Err after
    /// [`RECORD_WAIT`] with what arrived so far.
    pub async fn next_record(&self) -> Result<Record, String> {
        self.wait_for(|_| true).await
    }

    /// The first record from the cursor on that matches `pred` (skipping the others); the
    /// cursor moves past it. Err after [`RECORD_WAIT`] with what arrived so far.
    pub async fn wait_for(&self, pred: impl Fn(&Record) -> bool) -> Result<Record, String> {
        match self.records.wait_for(pred, RECORD_WAIT).await {
            Some(record) => Ok(record),
            None => Err(format!(
                "no matching record from the target within {RECORD_WAIT:?}; records {:?}; \
                 sshd log {:?}",
                self.records(),
                self.sshd_log()
            )),
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
        self.sshd_log
            .lock()
            .map(|lines| lines.clone())
            .unwrap_or_default()
    }
}

impl Drop for RealTarget {
    fn drop(&mut self) {
        let _ = self.sshd.kill();
        let _ = self.sshd.wait();
    }
}

fn new_key() -> Result<PrivateKey, StartError> {
    PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519)
        .map_err(|error| failed("generate a key", error))
}

fn openssh(key: &PublicKey) -> Result<String, StartError> {
    key.to_openssh()
        .map_err(|error| failed("encode a key", error))
}

fn current_user() -> Result<String, StartError> {
    let output = Command::new("id")
        .arg("-un")
        .output()
        .map_err(|error| failed("run id -un", error))?;
    if !output.status.success() {
        return Err(StartError::Failed(format!(
            "id -un failed ({})",
            output.status
        )));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}
