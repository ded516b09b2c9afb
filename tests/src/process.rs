//! The built binaries as separate processes: start one, wait for its readiness line, and
//! stop it when the handle is dropped.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Path of a binary of this workspace, built by `cargo test --workspace`.
pub fn binary(name: &str) -> PathBuf {
    let path = assert_cmd::cargo::cargo_bin(name);
    assert!(
        path.exists(),
        "{} is not built; run `cargo test --workspace` (or `cargo build --workspace`) first",
        path.display()
    );
    path
}

/// A running server process.
pub struct Server {
    child: Child,
    /// What followed "listening on " in its readiness line.
    pub address: String,
    /// Everything it printed after the readiness line, stdout and stderr.
    output: Arc<Output>,
}

/// What a server printed, and a signal for each time it printed more.
#[derive(Default)]
struct Output {
    bytes: Mutex<Vec<u8>>,
    grew: Condvar,
}

impl Server {
    /// Start `name` with `args` and wait for the line `<name> listening on ADDRESS`.
    pub fn start(name: &str, args: &[&str]) -> Server {
        let mut child = Command::new(binary(name))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {name}: {error}"));
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("read the readiness line");
        let prefix = format!("{name} listening on ");
        let Some(address) = line.trim_end().strip_prefix(&prefix) else {
            let mut stderr = String::new();
            let _ = child
                .stderr
                .take()
                .map(|mut e| e.read_to_string(&mut stderr));
            panic!("{name} printed {line:?} instead of its readiness line; stderr: {stderr}");
        };
        let address = address.to_string();
        // Keep draining both pipes, so that the server never blocks on a full one, and keep
        // what they carry for tests that search it.
        let output = Arc::new(Output::default());
        let stderr = child.stderr.take().expect("piped stderr");
        keep(stdout, output.clone());
        keep(stderr, output.clone());
        Server {
            child,
            address,
            output,
        }
    }

    /// Start a program that is not ours (`haproxy`) and wait, at most `patience`, until what it
    /// prints contains `ready`; `address` is where it serves.
    pub fn start_program(
        mut command: Command,
        ready: &str,
        address: String,
        patience: Duration,
    ) -> Result<Server, String> {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| format!("cannot start {command:?}: {error}"))?;
        let output = Arc::new(Output::default());
        keep(child.stdout.take().expect("piped stdout"), output.clone());
        keep(child.stderr.take().expect("piped stderr"), output.clone());
        let server = Server {
            child,
            address,
            output,
        };
        server.wait_for_output(|text| text.contains(ready), patience)?;
        Ok(server)
    }

    /// What it printed so far after its readiness line (stdout and stderr).
    pub fn output(&self) -> String {
        let output = self.output.bytes.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&output).into_owned()
    }

    /// Waits (at most `patience`) until what it printed so far makes `done` true; returns it.
    pub fn wait_for_output(
        &self,
        done: impl Fn(&str) -> bool,
        patience: Duration,
    ) -> Result<String, String> {
        let deadline = Instant::now() + patience;
        let mut output = self.output.bytes.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let text = String::from_utf8_lossy(&output).into_owned();
            if done(&text) {
                return Ok(text);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("not printed in {patience:?}; printed:\n{text}"));
            }
            output = self
                .output
                .grew
                .wait_timeout(output, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// The process id, for tools that act on the process (`prlimit`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits (at most `patience`) for the process to exit by itself; its exit status.
    pub fn wait_for_exit(mut self, patience: Duration) -> Result<std::process::ExitStatus, String> {
        let deadline = Instant::now() + patience;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) if Instant::now() < deadline => {
                    // Woken by its output closing, or every few milliseconds.
                    let output = self.output.bytes.lock().unwrap_or_else(|e| e.into_inner());
                    let _ = self
                        .output
                        .grew
                        .wait_timeout(output, Duration::from_millis(20));
                }
                Ok(None) => return Err(format!("still running after {patience:?}")),
                Err(error) => return Err(error.to_string()),
            }
        }
    }

    /// The port of the address, for `ws://HOST:PORT` too.
    pub fn port(&self) -> u16 {
        let port = self.address.rsplit(':').next().unwrap_or_default();
        port.parse()
            .unwrap_or_else(|_| panic!("no port in {:?}", self.address))
    }
}

/// Append everything `from` yields to `into`, in a thread of its own.
fn keep(mut from: impl Read + Send + 'static, into: Arc<Output>) {
    std::thread::spawn(move || {
        let mut buffer = [0; 8192];
        while let Ok(read @ 1..) = from.read(&mut buffer) {
            let mut kept = into.bytes.lock().unwrap_or_else(|e| e.into_inner());
            kept.extend_from_slice(&buffer[..read]);
            into.grew.notify_all();
        }
    });
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Options for OpenSSH's `ssh` as an operator in a test: the key `dir/operator_key` only,
/// strict host-key checking against `dir/known_hosts`, no user or system configuration, port
/// `port`. The destination and any command follow them.
pub fn ssh_options(dir: &std::path::Path, port: u16) -> Vec<String> {
    let path = |name: &str| dir.join(name).display().to_string();
    [
        "-F",
        "/dev/null",
        "-i",
        &path("operator_key"),
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        &format!("UserKnownHostsFile={}", path("known_hosts")),
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-p",
        &port.to_string(),
    ]
    .map(str::to_string)
    .to_vec()
}
