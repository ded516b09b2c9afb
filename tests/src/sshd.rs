//! A real target: a private OpenSSH `sshd` on loopback whose sessions run a real shell (bash
//! by default; zsh, fish or dash with [`TargetOptions::shell`]), with a referee inside the
//! shell that reports every line it accepts and runs, and each prompt.
//!
//! Everything lives in one temporary directory: the host key, `sshd_config`, the
//! authorized_keys file with the key the fixture generates for whoever logs in (sshgate's
//! `--identity`), a known_hosts file for `--target-known-hosts`, the login script and the
//! referee's FIFO. Nothing system-wide is touched; sshd only needs its privilege-separation
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
    /// bash and zsh only: fish and dash have no hook that can skip a command.
    pub dry_run: bool,
    /// The interactive shell behind sshd.
    pub shell: Shell,
}

/// The interactive shell a [`RealTarget`] runs for a PTY session (exec requests always run
/// with `bash -c`: only the interactive shell changes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Shell {
    #[default]
    Bash,
    Zsh,
    Fish,
    Dash,
}

impl Shell {
    pub const ALL: [Shell; 4] = [Shell::Bash, Shell::Zsh, Shell::Fish, Shell::Dash];

    /// The program's name, which is also the package that installs it.
    pub fn name(self) -> &'static str {
        match self {
            Shell::Bash => "bash",
            Shell::Zsh => "zsh",
            Shell::Fish => "fish",
            Shell::Dash => "dash",
        }
    }

    /// Whether the referee can record lines without running them.
    pub fn has_dry_run(self) -> bool {
        matches!(self, Shell::Bash | Shell::Zsh)
    }
}

impl fmt::Display for Shell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One thing the target's shell did, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// The interactive shell accepted this line and started running it: the text as bash or
    /// zsh stored it in their history (one record per line of a multi-line bash command; one
    /// for the whole buffer in zsh), the command line fish runs (comments included), or for
    /// dash each simple command as its trace shows it.
    Line(String),
    /// The interactive shell is about to show its prompt: the previous line is finished (or
    /// was interrupted). fish also reports a prompt redrawn in place (a window change).
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

/// A private sshd on 127.0.0.1 with a real shell behind it; see the module documentation.
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

/// The record that stops the reader thread; the referees only write L, P and E records.
const STOP: &[u8] = b"S\0";

impl RealTarget {
    /// Start sshd and wait for its readiness line. Blocks for a few milliseconds.
    ///
    /// Err when this machine lacks what sshd needs; any other failure panics with sshd's log,
    /// since it is a bug in the fixture.
    pub fn start(options: TargetOptions) -> Result<RealTarget, Unavailable> {
        assert!(
            !options.dry_run || options.shell.has_dry_run(),
            "the {} referee has no dry run (bash and zsh only)",
            options.shell
        );
        available(options.shell)?;
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
        write_referee(path, options.shell, &fifo_path);
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

/// Err when this machine cannot run the real target with `shell`.
fn available(shell: Shell) -> Result<(), Unavailable> {
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
    // bash runs the login script and every exec request, whatever the interactive shell.
    let mut needed = vec![("bash", "bash")];
    if shell != Shell::Bash {
        needed.push((shell.name(), shell.name()));
    }
    if shell == Shell::Dash {
        // The dash referee's filter (perl-base is Essential on Debian).
        needed.push(("perl", "perl-base"));
    }
    for (program, package) in needed {
        let probe: &[&str] = if program == "perl" {
            &["-e", "1"]
        } else {
            &["-c", "true"]
        };
        let runs = Command::new(program)
            .args(probe)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !runs {
            return Err(Unavailable(format!(
                "{program} not installed: apt-get install {package}"
            )));
        }
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
    let fifo = quoted(&dir.join("records.fifo"));
    let shell = match options.shell {
        Shell::Bash => format!(
            "exec bash --noprofile --rcfile {} -i",
            quoted(&dir.join("referee.bashrc"))
        ),
        // zsh reads $ZDOTDIR/.zshrc; --no-globalrcs skips /etc/zsh/zshrc and the rest.
        Shell::Zsh => format!(
            "export ZDOTDIR={}\nexec zsh --no-globalrcs -i",
            quoted(&dir.join("zsh"))
        ),
        Shell::Fish => format!(
            "export XDG_CONFIG_HOME={} XDG_DATA_HOME={}\nexec fish -i",
            quoted(&dir.join("fish-config")),
            quoted(&dir.join("fish-data"))
        ),
        // dash's stderr (prompts, traces, errors) goes through the referee's filter, which
        // writes the rest to the terminal (its stdout).
        Shell::Dash => format!(
            "export ENV={}\nexec dash -i 2> >(exec perl {} {fifo})",
            quoted(&dir.join("referee.dashrc")),
            quoted(&dir.join("referee-filter.pl"))
        ),
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
{shell}
"#
    )
}

/// Write `shell`'s referee files into `dir`, with `fifo` as the records' way out.
fn write_referee(dir: &Path, shell: Shell, fifo: &Path) {
    let fill = |template: &str| template.replace("@FIFO@", &quoted(fifo));
    let files: Vec<(PathBuf, String)> = match shell {
        Shell::Bash => vec![(dir.join("referee.bashrc"), fill(REFEREE_RC))],
        Shell::Zsh => vec![(dir.join("zsh/.zshrc"), fill(REFEREE_ZSHRC))],
        Shell::Fish => vec![(dir.join("fish-config/fish/config.fish"), fill(REFEREE_FISH))],
        Shell::Dash => vec![
            (dir.join("referee.dashrc"), REFEREE_DASHRC.to_string()),
            (
                dir.join("referee-filter.pl"),
                REFEREE_DASH_FILTER.to_string(),
            ),
        ],
    };
    for (path, text) in files {
        let parent = path.parent().expect("a file in the directory");
        std::fs::create_dir_all(parent).expect("create the referee's directory");
        std::fs::write(&path, text)
            .unwrap_or_else(|error| panic!("write {}: {error}", path.display()));
    }
}

/// bash's rcfile. Records: `L<line>`, `P`, NUL-terminated.
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

/// zsh's `.zshrc` (in the private `ZDOTDIR`). Records as bash's.
const REFEREE_ZSHRC: &str = r#"# The referee (sshgate-tests' RealTarget): reports every line zsh runs, and each prompt.
unset HISTFILE                  # no history read or written
HISTSIZE=100000
SAVEHIST=0
PS1='$ '
PS2='> '                        # zsh's own is '%_> ' (the open construct: "dquote> ")
setopt zle                      # on in an interactive shell on a tty; said, not assumed
bindkey -e                      # emacs keys (zsh would pick vi when $EDITOR names vi)
# zsh's default since 5.1, set in case a system file cleared it.
zle_bracketed_paste=($'\e[?2004h' $'\e[?2004l')
# As in bash, `cmd # note` ends at the comment (zsh's default reads `#` as a word); the corpus
# and the harness's own lines assume it.
setopt interactive_comments
__referee_fifo=@FIFO@
__referee_record() { printf '%s\0' "$1" >$__referee_fifo }
# preexec's $1 is the history line: as typed, after history expansion, before alias
# expansion ($3 is after it). bash's record is its history line too.
__referee_preexec() { __referee_record "L$1" }
__referee_precmd() { __referee_record P }
preexec_functions=(__referee_preexec)
precmd_functions=(__referee_precmd)
if [[ -n ${REFEREE_DRY_RUN-} ]]; then
    PATH=
    # A DEBUG trap that sets ERR_EXIT skips the command it runs before (zshbuiltins: trap);
    # the referee's own functions run.
    TRAPDEBUG() { [[ ${funcstack[2]-} == __referee_* ]] || setopt err_exit }
fi
"#;

/// fish's `config.fish` (in the private `XDG_CONFIG_HOME`). Records as bash's.
const REFEREE_FISH: &str = r#"# The referee (sshgate-tests' RealTarget): reports every line fish runs, and each prompt.
set -g __referee_fifo @FIFO@
# No greeting: the first screen holds the prompt alone.
set -g fish_greeting
# No autosuggestions: the grey text fish draws right of the cursor (from the history or the
# file system) would read, on the screen, as part of the line.
set -g fish_autosuggestion_enabled 0
# Every prompt, redraws included: fish emits its fish_prompt event for a new command line
# only, not after Ctrl+C, where bash's PROMPT_COMMAND runs too.
function fish_prompt
    printf 'P\0' >$__referee_fifo
    echo -n '$ '
end
function __referee_preexec --on-event fish_preexec
    printf 'L%s\0' $argv[1] >$__referee_fifo
end
"#;

/// dash's `ENV` file: markers for the filter in front of each trace and each PS1 (0x1E, an
/// ASCII record separator, then `X` or `P`).
const REFEREE_DASHRC: &str = r#"# The referee (sshgate-tests' RealTarget): dash's traces and prompts carry markers that
# referee-filter.pl turns into records.
PS1="$(printf '\036P')\$ "
PS2='> '
PS4="$(printf '\036X')"
set -x
"#;

/// The filter between dash's stderr and the terminal: `0x1E P` becomes a prompt record, `0x1E
/// X` up to the newline a line record; everything else goes to the terminal as it comes.
const REFEREE_DASH_FILTER: &str = r#"# The dash referee's filter (sshgate-tests' RealTarget); see referee.dashrc.
use strict;
use warnings;
# It shares dash's process group: a Ctrl+C at the prompt, or output while a job has the
# terminal, must not stop it.
$SIG{$_} = 'IGNORE' for qw(INT QUIT TSTP TTIN TTOU);
my $fifo = shift;
open(my $records, '>', $fifo) or die "referee: $fifo: $!";
my $buffer = '';
while (sysread(STDIN, $buffer, 4096, length $buffer)) {
    while (length $buffer) {
        my $at = index($buffer, "\036");
        if ($at < 0) {
            syswrite(STDOUT, $buffer);
            $buffer = '';
            last;
        }
        syswrite(STDOUT, substr($buffer, 0, $at)) if $at > 0;
        substr($buffer, 0, $at) = '';
        last if length($buffer) < 2;
        my $tag = substr($buffer, 1, 1);
        if ($tag eq 'P') {
            syswrite($records, "P\0");
            substr($buffer, 0, 2) = '';
        } elsif ($tag eq 'X') {
            my $end = index($buffer, "\n");
            last if $end < 0;
            syswrite($records, 'L' . substr($buffer, 2, $end - 2) . "\0");
            substr($buffer, 0, $end + 1) = '';
        } else {
            syswrite(STDOUT, substr($buffer, 0, 1));
            substr($buffer, 0, 1) = '';
        }
    }
}
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
