//! `run --launch`: the proxy under test started from a command line with placeholders, waited
//! for until it accepts connections, and stopped at the end with its output kept.
//!
//! The command runs under `sh -c` in a process group of its own, so that stopping it stops
//! whatever it started too.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::sync::Notify;

/// How much of the proxy's output the report keeps: its first lines (how it started) and
/// the end of it (how it finished).
const OUTPUT_HEAD: usize = 8 * 1024;
const OUTPUT_TAIL: usize = 56 * 1024;
/// A proxy that prints nothing when ready is still found, at this pace.
const SILENT_RECHECK: Duration = Duration::from_millis(50);
/// How long a stopped proxy gets to exit before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Replace each `{name}` in `template` by its value, quoted for the shell. A `{word}` that is
/// not a known name is an error (a typo would otherwise reach the proxy's command line).
pub fn fill(template: &str, values: &[(&str, Option<String>)]) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(after.len());
        let is_placeholder =
            name_len > 0 && after[name_len..].starts_with('}') && !out.ends_with('$');
        if !is_placeholder {
            out.push('{');
            rest = after;
            continue;
        }
        let name = &after[..name_len];
        match values.iter().find(|(known, _)| *known == name) {
            Some((_, Some(value))) => out.push_str(&shell_words::quote(value)),
            Some((_, None)) => {
                return Err(format!(
                    "--launch uses {{{name}}}, which needs --{}",
                    name.replace('_', "-")
                ))
            }
            None => {
                let known: Vec<String> = values.iter().map(|(n, _)| format!("{{{n}}}")).collect();
                return Err(format!(
                    "--launch: unknown placeholder {{{name}}} (known: {})",
                    known.join(" ")
                ));
            }
        }
        rest = &after[name_len + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// What the proxy printed, stdout and stderr interleaved by line: the head and the tail,
/// with what lies between counted.
#[derive(Default)]
struct Output {
    head: String,
    tail: String,
    left_out: usize,
}

impl Output {
    fn push_line(&mut self, line: &str) {
        if self.tail.is_empty() && self.head.len() + line.len() < OUTPUT_HEAD {
            self.head.push_str(line);
            self.head.push('\n');
            return;
        }
        self.tail.push_str(line);
        self.tail.push('\n');
        if self.tail.len() > OUTPUT_TAIL {
            let mut cut = self.tail.len() - OUTPUT_TAIL;
            while !self.tail.is_char_boundary(cut) {
                cut += 1;
            }
            self.tail.drain(..cut);
            self.left_out += cut;
        }
    }

    fn text(&self) -> String {
        match self.left_out {
            0 => format!("{}{}", self.head, self.tail),
            n => format!("{}[... {n} bytes left out ...]\n{}", self.head, self.tail),
        }
    }
}

/// A proxy process started by the runner.
pub struct ProxyProcess {
    child: Child,
    output: Arc<Mutex<Output>>,
    /// Told of every line the proxy prints: a cue to check whether it is ready.
    printed: Arc<Notify>,
}

impl ProxyProcess {
    /// Start `command_line` with `sh -c`.
    pub fn spawn(command_line: &str) -> std::io::Result<ProxyProcess> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(command_line)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()?;
        let output = Arc::new(Mutex::new(Output::default()));
        let printed = Arc::new(Notify::new());
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(collect(stdout, output.clone(), printed.clone()));
        }
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(collect(stderr, output.clone(), printed.clone()));
        }
        Ok(ProxyProcess {
            child,
            output,
            printed,
        })
    }

    /// Wait until `address` accepts connections, the process exits, or `within` passes.
    pub async fn wait_until_accepting(
        &mut self,
        address: SocketAddr,
        within: Duration,
    ) -> Result<(), String> {
        let deadline = tokio::time::sleep(within);
        tokio::pin!(deadline);
        loop {
            if TcpStream::connect(address).await.is_ok() {
                return Ok(());
            }
            tokio::select! {
                status = self.child.wait() => {
                    let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
                    return Err(format!("it exited ({status}) before accepting connections on {address}"));
                }
                () = &mut deadline => {
                    return Err(format!("nothing accepted connections on {address} within {within:?}"));
                }
                () = self.printed.notified() => {}
                () = tokio::time::sleep(SILENT_RECHECK) => {}
            }
        }
    }

    /// The end of what it printed so far.
    pub fn output(&self) -> String {
        self.output
            .lock()
            .map(|output| output.text())
            .unwrap_or_default()
    }

    /// Stop it (SIGTERM to its process group, SIGKILL after a grace period) and return the
    /// end of what it printed.
    pub async fn stop(mut self) -> String {
        if let Some(pid) = self.child.id().and_then(|id| i32::try_from(id).ok()) {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGTERM);
            if tokio::time::timeout(STOP_GRACE, self.child.wait())
                .await
                .is_err()
            {
                let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        let _ = self.child.wait().await;
        self.output()
    }
}

/// Wait until something accepts connections on `address`, or `within` passes (a proxy the
/// user starts by hand).
pub async fn wait_for_listener(address: SocketAddr, within: Duration) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if TcpStream::connect(address).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(SILENT_RECHECK).await;
    }
    Err(format!(
        "nothing accepted connections on {address} within {within:?}"
    ))
}

async fn collect(stream: impl AsyncRead + Unpin, output: Arc<Mutex<Output>>, printed: Arc<Notify>) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Ok(mut output) = output.lock() {
            output.push_line(&line);
        }
        printed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Vec<(&'static str, Option<String>)> {
        vec![
            ("listen", Some("127.0.0.1:2222".into())),
            ("dir", Some("/tmp/a b".into())),
            ("approval_timeout", None),
        ]
    }

    #[test]
    fn placeholders_are_filled_and_quoted() {
        let filled = fill("proxy --listen {listen} --key {dir}/key", &values()).unwrap();
        assert_eq!(filled, "proxy --listen 127.0.0.1:2222 --key '/tmp/a b'/key");
    }

    #[test]
    fn shell_braces_are_left_alone() {
        let filled = fill("echo ${listen} {} {Name} x{", &values()).unwrap();
        assert_eq!(filled, "echo ${listen} {} {Name} x{");
    }

    #[test]
    fn an_unknown_placeholder_is_an_error_naming_it() {
        let error = fill("proxy {listne}", &values()).unwrap_err();
        assert!(
            error.contains("{listne}") && error.contains("{listen}"),
            "{error}"
        );
    }

    #[test]
    fn a_placeholder_without_its_value_names_the_flag() {
        let error = fill("proxy --t {approval_timeout}", &values()).unwrap_err();
        assert!(error.contains("--approval-timeout"), "{error}");
    }

    #[test]
    fn output_keeps_the_start_and_the_end() {
        let mut output = Output::default();
        for n in 0..20_000 {
            output.push_line(&format!("line {n}"));
        }
        let text = output.text();
        assert!(
            text.len() <= OUTPUT_HEAD + OUTPUT_TAIL + 40,
            "{}",
            text.len()
        );
        assert!(text.starts_with("line 0\nline 1\n"));
        assert!(text.ends_with("line 19999\n"));
        assert!(text.contains("bytes left out"));
    }

    #[test]
    fn short_output_is_kept_whole() {
        let mut output = Output::default();
        output.push_line("ready");
        output.push_line("bye");
        assert_eq!(output.text(), "ready\nbye\n");
    }
}
