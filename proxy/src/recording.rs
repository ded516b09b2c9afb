//! Recordings of what the operator saw, one asciicast v2 file per channel (`--record DIR`):
//! a header line, then one JSON array per event: `[seconds, "o", text]` for output (the
//! target's and sshgate's own notices), `[seconds, "r", "COLSxROWS"]` for a window change and,
//! with `--record-input`, `[seconds, "i", text]` for input.
//!
//! Invariant: input typed with echo off is never recorded. sshgate cannot read the target's
//! terminal modes, and matching keys against the output that follows them (an echo?) leaks a
//! secret that happens to start like a prompt or like unrelated output. So the recording's
//! input is what the approver was shown: each shell line as the target's screen displayed it
//! when it was submitted, with its Enter. A line the screen did not show (typed with echo
//! off: the approver sees it as hidden) is not recorded, nor are single keys, edits, or what a
//! full-screen program reads. Nothing in the input events is more than the audit log's
//! requests already hold.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Where recordings go, and whether they hold input events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingSettings {
    pub dir: PathBuf,
    pub input: bool,
}

/// The terminal a recording starts with.
#[derive(Debug, Clone)]
pub struct Terminal {
    pub cols: u32,
    pub rows: u32,
    pub term: Option<String>,
}

impl Default for Terminal {
    fn default() -> Self {
        Terminal {
            cols: 80,
            rows: 24,
            term: None,
        }
    }
}

#[derive(Serialize)]
struct Header<'a> {
    version: u8,
    width: u32,
    height: u32,
    timestamp: u64,
    title: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    env: Option<Env<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "UPPERCASE")]
struct Env<'a> {
    term: &'a str,
}

/// One channel's recording, shared by the two pumps; records nothing until started.
#[derive(Clone, Default)]
pub struct SharedRecording(Arc<Mutex<Option<Recording>>>);

impl SharedRecording {
    /// Start recording into `settings.dir/name` (a new file). Err: why it cannot be created.
    pub fn start(
        &self,
        settings: &RecordingSettings,
        name: &str,
        terminal: &Terminal,
        title: &str,
    ) -> Result<PathBuf, String> {
        let path = settings.dir.join(name);
        let recording = Recording::create(&path, settings.input, terminal, title)
            .map_err(|error| format!("cannot create the recording {}: {error}", path.display()))?;
        *self.lock() = Some(recording);
        Ok(path)
    }

    /// What the operator's terminal was sent.
    pub fn output(&self, bytes: &[u8]) {
        self.with(|recording| recording.output(bytes));
    }

    /// A shell line the operator submitted, as the target's screen showed it (never a line
    /// the screen did not show: see the module's invariant).
    pub fn submitted(&self, line: &str) {
        self.with(|recording| recording.submitted(line));
    }

    pub fn resize(&self, cols: u32, rows: u32) {
        self.with(|recording| recording.event("r", &format!("{cols}x{rows}")));
    }

    fn with(&self, write: impl FnOnce(&mut Recording) -> std::io::Result<()>) {
        let mut recording = self.lock();
        let Some(open) = recording.as_mut() else {
            return;
        };
        if let Err(error) = write(open) {
            tracing::error!(path = %open.path.display(), %error, "recording stopped: cannot write");
            *recording = None;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Recording>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

struct Recording {
    path: PathBuf,
    file: BufWriter<File>,
    started: Instant,
    /// Input events are wanted.
    input: bool,
    /// The end of the last output when it stopped inside a UTF-8 character.
    partial: Vec<u8>,
}

impl Recording {
    fn create(
        path: &Path,
        input: bool,
        terminal: &Terminal,
        title: &str,
    ) -> std::io::Result<Recording> {
        // Only sshgate's user reads it: the output of a session holds whatever the operator
        // saw (files, keys, tokens), which other users of the bastion must not read.
        let file = File::options()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        let mut recording = Recording {
            path: path.to_path_buf(),
            file: BufWriter::new(file),
            started: Instant::now(),
            input,
            partial: Vec::new(),
        };
        let header = Header {
            version: 2,
            width: terminal.cols,
            height: terminal.rows,
            timestamp: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |since| since.as_secs()),
            title,
            env: terminal.term.as_deref().map(|term| Env { term }),
        };
        recording.line(&header)?;
        Ok(recording)
    }

    fn seconds(&self) -> f64 {
        // Microseconds are as fine as any player resolves.
        self.started.elapsed().as_micros() as f64 / 1e6
    }

    fn output(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.partial.extend_from_slice(bytes);
        let text = take_utf8(&mut self.partial);
        if text.is_empty() {
            return Ok(());
        }
        self.event("o", &text)
    }

    fn submitted(&mut self, line: &str) -> std::io::Result<()> {
        if !self.input {
            return Ok(());
        }
        self.event("i", &format!("{line}\r"))
    }

    fn event(&mut self, kind: &str, data: &str) -> std::io::Result<()> {
        let at = self.seconds();
        self.line(&(at, kind, data))
    }

    /// One JSON line, flushed: a crash loses no event already written.
    fn line(&mut self, value: &impl Serialize) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.file, value)?;
        self.file.write_all(b"\n")?;
        self.file.flush()
    }
}

/// The complete UTF-8 text at the start of `pending`, leaving an incomplete character's
/// bytes there for the next output; bytes that are not UTF-8 become U+FFFD.
fn take_utf8(pending: &mut Vec<u8>) -> String {
    let mut text = String::new();
    let mut rest = &pending[..];
    loop {
        match std::str::from_utf8(rest) {
            Ok(valid) => {
                text.push_str(valid);
                rest = &[];
                break;
            }
            Err(error) => {
                let (valid, after) = rest.split_at(error.valid_up_to());
                text.push_str(std::str::from_utf8(valid).unwrap_or_default());
                match error.error_len() {
                    Some(bad) => {
                        text.push(char::REPLACEMENT_CHARACTER);
                        rest = &after[bad..];
                    }
                    // Cut inside a character: the rest comes with the next output.
                    None => {
                        rest = after;
                        break;
                    }
                }
            }
        }
    }
    let kept = rest.to_vec();
    *pending = kept;
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recording(input: bool) -> (tempfile::TempDir, SharedRecording, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let settings = RecordingSettings {
            dir: dir.path().to_path_buf(),
            input,
        };
        let shared = SharedRecording::default();
        let terminal = Terminal {
            cols: 100,
            rows: 30,
            term: Some("xterm-256color".into()),
        };
        let path = shared
            .start(&settings, "s-0.cast", &terminal, "alice@target")
            .unwrap();
        (dir, shared, path)
    }

    fn events(path: &Path) -> (serde_json::Value, Vec<(String, String)>) {
        let text = std::fs::read_to_string(path).unwrap();
        let mut lines = text.lines();
        let header = serde_json::from_str(lines.next().unwrap()).unwrap();
        let events = lines
            .map(|line| {
                let (at, kind, data): (f64, String, String) = serde_json::from_str(line).unwrap();
                assert!(at >= 0.0);
                (kind, data)
            })
            .collect();
        (header, events)
    }

    fn event(kind: &str, data: &str) -> (String, String) {
        (kind.to_string(), data.to_string())
    }

    #[test]
    fn the_header_says_the_terminal_and_output_and_resizes_follow_in_order() {
        let (_dir, shared, path) = recording(false);
        shared.output(b"$ ");
        shared.resize(120, 40);
        shared.output("caf\u{e9}\r\n".as_bytes());
        let (header, events) = events(&path);
        assert_eq!(header["version"], 2);
        assert_eq!(header["width"], 100);
        assert_eq!(header["height"], 30);
        assert_eq!(header["env"]["TERM"], "xterm-256color");
        assert_eq!(
            events,
            [
                event("o", "$ "),
                event("r", "120x40"),
                event("o", "café\r\n")
            ]
        );
    }

    #[test]
    fn a_character_cut_between_two_outputs_is_written_whole() {
        let (_dir, shared, path) = recording(false);
        let bytes = "é!".as_bytes();
        shared.output(&bytes[..1]);
        shared.output(&bytes[1..]);
        shared.output(b"\xff");
        assert_eq!(events(&path).1, [event("o", "é!"), event("o", "\u{fffd}")]);
    }

    #[test]
    fn without_input_recording_no_input_is_written() {
        let (_dir, shared, path) = recording(false);
        shared.submitted("ls");
        shared.output(b"ls");
        assert_eq!(events(&path).1, [event("o", "ls")]);
    }

    #[test]
    fn a_submitted_line_is_recorded_with_its_enter_between_the_output() {
        let (_dir, shared, path) = recording(true);
        shared.output(b"$ ls");
        shared.submitted("ls");
        shared.output(b"\r\nfile\r\n");
        assert_eq!(
            events(&path).1,
            [
                event("o", "$ ls"),
                event("i", "ls\r"),
                event("o", "\r\nfile\r\n")
            ]
        );
    }

    #[test]
    fn only_sshgates_user_can_read_a_recording() {
        use std::os::unix::fs::PermissionsExt;
        let (_dir, _shared, path) = recording(false);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }

    #[test]
    fn a_recording_never_overwrites_a_file() {
        let (dir, _shared, _path) = recording(false);
        let settings = RecordingSettings {
            dir: dir.path().to_path_buf(),
            input: false,
        };
        let error = SharedRecording::default()
            .start(&settings, "s-0.cast", &Terminal::default(), "")
            .unwrap_err();
        assert!(error.contains("s-0.cast"), "{error}");
    }
}
