//! sshd itself: its configuration for a target's directory, its start on a free loopback port
//! (waiting for its readiness line, not a timer), and its log.
//!
//! Invariant: a failed start kills what it started and says why in one line, with sshd's log.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::time::Duration;

use crate::target::StartError;

/// Where Debian's openssh-server installs the daemon (sshd re-executes itself, so the path
/// must be absolute).
pub const SSHD: &str = "/usr/sbin/sshd";
/// sshd's privilege-separation directory, which the Debian package only creates when its
/// service starts.
pub const PRIVSEP_DIR: &str = "/run/sshd";
/// How many ports to try: another process may take the picked port before sshd binds it.
const BIND_ATTEMPTS: usize = 5;
/// How long sshd may take to print its readiness line.
const READY_WAIT: Duration = Duration::from_secs(10);

/// What sshd wrote to its stderr, line by line.
pub(crate) type SshdLog = Arc<Mutex<Vec<String>>>;

/// A running sshd.
pub(crate) struct Sshd {
    pub(crate) child: Child,
    pub(crate) addr: SocketAddr,
    pub(crate) log: SshdLog,
}

/// The lines of `log`, for an error message: one line, lines joined by ` | `.
pub(crate) fn log_text(log: &SshdLog) -> String {
    let lines = log.lock().map(|lines| lines.clone()).unwrap_or_default();
    if lines.is_empty() {
        "(empty)".into()
    } else {
        lines.join(" | ")
    }
}

/// sshd runs `ForceCommand` with the user's login shell, `$SHELL -c`. When that is bash and
/// it sees it was started by sshd, it reads the user's ~/.bashrc (Debian builds bash so),
/// which would make the target depend on the machine's account (and here cost ~400 ms per
/// session: pyenv). bash skips it when `SHLVL` is already set, hence `SetEnv SHLVL=1`.
fn sshd_config(dir: &Path, port: u16) -> Result<String, StartError> {
    let path = |name: &str| {
        dir.join(name)
            .to_str()
            .map(str::to_string)
            .ok_or_else(|| StartError::Failed(format!("{}: not UTF-8", dir.display())))
    };
    Ok(format!(
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
        host_key = path("host_key")?,
        authorized_keys = path("authorized_keys")?,
        shell = path("shell.sh")?,
    ))
}

/// Start sshd for the target in `dir` on a picked port, retrying with another port when the
/// bind fails.
pub(crate) fn start(dir: &Path) -> Result<Sshd, StartError> {
    let config = dir.join("sshd_config");
    let mut last_log = String::new();
    for _ in 0..BIND_ATTEMPTS {
        let port = portpicker::pick_unused_port()
            .ok_or_else(|| StartError::Failed("no free port on 127.0.0.1 for sshd".into()))?;
        std::fs::write(&config, sshd_config(dir, port)?).map_err(|error| {
            StartError::Failed(format!("cannot write {}: {error}", config.display()))
        })?;
        let mut child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| StartError::Failed(format!("cannot start {SSHD}: {error}")))?;
        let log = SshdLog::default();
        let lines = drain_stderr(&mut child, log.clone());
        let ready = format!("Server listening on 127.0.0.1 port {port}.");
        let deadline = std::time::Instant::now() + READY_WAIT;
        let outcome = loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) if line == ready => break Ok(()),
                Ok(_) => continue,
                Err(std_mpsc::RecvTimeoutError::Timeout) => {
                    break Err(format!("no readiness line within {READY_WAIT:?}"))
                }
                // stderr closed: sshd exited.
                Err(std_mpsc::RecvTimeoutError::Disconnected) => break Err("it exited".into()),
            }
        };
        if outcome.is_ok() {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            return Ok(Sshd { child, addr, log });
        }
        let _ = child.kill();
        let _ = child.wait();
        let bind_failed = log
            .lock()
            .map(|lines| lines.iter().any(|line| line.starts_with("Bind to port")))
            .unwrap_or(false);
        last_log = log_text(&log);
        if !bind_failed {
            return Err(StartError::Failed(format!(
                "sshd -f {} did not start ({}); its log: {last_log}",
                config.display(),
                outcome.unwrap_err()
            )));
        }
    }
    Err(StartError::Failed(format!(
        "sshd could not bind a port in {BIND_ATTEMPTS} attempts; its last log: {last_log}"
    )))
}

/// Read sshd's stderr for as long as it runs (so it never blocks on a full pipe): every line
/// into `log`, and to the returned channel while someone listens.
fn drain_stderr(child: &mut Child, log: SshdLog) -> std_mpsc::Receiver<String> {
    let (sender, receiver) = std_mpsc::channel();
    let Some(stderr) = child.stderr.take() else {
        // Not piped: nothing will come, and the readiness wait says so.
        return receiver;
    };
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { return };
            if let Ok(mut lines) = log.lock() {
                lines.push(line.clone());
            }
            let _ = sender.send(line);
        }
    });
    receiver
}
