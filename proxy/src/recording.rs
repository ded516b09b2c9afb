//! Recordings of what the operator saw, one asciicast v2 file per channel (`--record DIR`):
//! a header line, then one JSON array per event: `[seconds, "o", text]` for output (the
//! target's and sshgate's own notices), `[seconds, "r", "COLSxROWS"]` for a window change and,
//! with `--record-input`, `[seconds, "i", text]` for input.
//!
//! Invariant: input typed with echo off is never recorded. sshgate cannot read the target's
//! terminal modes, so an input event is written only once the target has echoed it: printable
//! input waits for the next output, which must start with it (after control bytes and escape
//! sequences). Left out: input that the next output does not start with, and all typed after
//! it; input still waiting when a line is submitted; printable input typed after a submit
//! before any printable output, which goes to what the line runs, and that may read it with
//! echo off and print its prompt after it (`Password: ` is no echo of a password starting
//! `Pas`). Keys with nothing printable (Enter, arrows, Ctrl+C) are kept, in order. The record
//! of input is therefore incomplete (type-ahead on a slow link, keys a full-screen program
//! does not echo), never a secret.

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

    /// What the operator typed (recorded only once echoed: see the module's invariant).
    pub fn input(&self, bytes: &[u8]) {
        self.with(|recording| recording.input(bytes));
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
    /// Input not written yet, in order, each with when it was typed.
    waiting: Vec<(f64, Vec<u8>)>,
    /// The time of the last event written.
    last: f64,
    /// A line was submitted and no printable output has come since: keys typed now go to
    /// what the line runs, which may read them with echo off and show its prompt only after
    /// they were typed, so a prompt starting like them would pass for their echo.
    typed_ahead: bool,
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
            waiting: Vec::new(),
            last: 0.0,
            typed_ahead: false,
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
        self.release_echoed(bytes)?;
        if !printable(bytes).is_empty() {
            self.typed_ahead = false;
        }
        self.partial.extend_from_slice(bytes);
        let text = take_utf8(&mut self.partial);
        if text.is_empty() {
            return Ok(());
        }
        self.event("o", &text)
    }

    fn input(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if !self.input || bytes.is_empty() {
            return Ok(());
        }
        if self.typed_ahead && !printable(bytes).is_empty() {
            // Possibly a secret typed ahead of its prompt: left out.
            return Ok(());
        }
        let submit = submits(bytes);
        if submit {
            // Typed before this submit and never echoed: possibly a secret.
            self.waiting
                .retain(|(_, waiting)| printable(waiting).is_empty());
        }
        self.waiting.push((self.seconds(), bytes.to_vec()));
        self.typed_ahead |= submit;
        self.release_unprintable()
    }

    /// Write the waiting input up to the first that still waits for its echo.
    fn release_unprintable(&mut self) -> std::io::Result<()> {
        while let Some((_, bytes)) = self.waiting.first() {
            if !printable(bytes).is_empty() {
                break;
            }
            let (at, bytes) = self.waiting.remove(0);
            self.timed_event(at, "i", &String::from_utf8_lossy(&bytes))?;
        }
        Ok(())
    }

    /// Write the waiting input that `output` echoes, and forget the input it does not.
    fn release_echoed(&mut self, output: &[u8]) -> std::io::Result<()> {
        if self.waiting.is_empty() {
            return Ok(());
        }
        let mut shown = printable(output);
        let mut waiting = std::mem::take(&mut self.waiting).into_iter();
        for (at, bytes) in waiting.by_ref() {
            let typed = printable(&bytes);
            if let Some(rest) = shown.strip_prefix(typed.as_str()) {
                shown = rest.to_string();
                self.timed_event(at, "i", &String::from_utf8_lossy(&bytes))?;
            } else if shown.is_empty() {
                // Typed ahead of its echo: it waits for the next output.
                self.waiting.push((at, bytes));
                break;
            } else {
                // Shown without this input: not echoed, and nor is what was typed after it
                // (echo is off, or this output is not an echo), even where a later key
                // happens to match the rest of it.
                return Ok(());
            }
        }
        self.waiting.extend(waiting);
        Ok(())
    }

    fn event(&mut self, kind: &str, data: &str) -> std::io::Result<()> {
        let at = self.seconds();
        self.timed_event(at, kind, data)
    }

    /// An event at `at`, or at the last event's time if that is later: input written once
    /// echoed may have been typed before the output written meanwhile, and players expect
    /// times that never go back.
    fn timed_event(&mut self, at: f64, kind: &str, data: &str) -> std::io::Result<()> {
        self.last = self.last.max(at);
        self.line(&(self.last, kind, data))
    }

    /// One JSON line, flushed: a crash loses no event already written.
    fn line(&mut self, value: &impl Serialize) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.file, value)?;
        self.file.write_all(b"\n")?;
        self.file.flush()
    }
}

/// The text of `bytes` that a terminal prints: without control bytes and escape sequences.
fn printable(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut shown = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => skip_escape(&mut chars),
            c if c.is_control() => {}
            c => shown.push(c),
        }
    }
    shown
}

/// Skip the rest of an escape sequence: CSI up to its final byte, OSC up to BEL or ST, or the
/// one character after ESC.
fn skip_escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match chars.next() {
        Some('[') => {
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        }
        Some(']') => {
            while let Some(c) = chars.next() {
                if c == '\u{7}' || (c == '\u{1b}' && chars.peek() == Some(&'\\')) {
                    chars.next_if_eq(&'\\');
                    break;
                }
            }
        }
        _ => {}
    }
}

/// Whether typed `bytes` end a line (Enter, Ctrl+J, Ctrl+O).
fn submits(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .any(|byte| matches!(byte, b'\r' | b'\n' | 0x0f))
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
        shared.input(b"ls");
        shared.output(b"ls");
        assert_eq!(events(&path).1, [event("o", "ls")]);
    }

    #[test]
    fn echoed_input_is_recorded_before_its_echo() {
        let (_dir, shared, path) = recording(true);
        shared.input(b"l");
        shared.input(b"s");
        shared.output(b"\x1b[32mls\x1b[0m");
        shared.input(b"\r");
        shared.output(b"\r\nfile\r\n");
        assert_eq!(
            events(&path).1,
            [
                event("i", "l"),
                event("i", "s"),
                event("o", "\u{1b}[32mls\u{1b}[0m"),
                event("i", "\r"),
                event("o", "\r\nfile\r\n"),
            ]
        );
    }

    #[test]
    fn input_typed_with_echo_off_is_never_recorded() {
        let (_dir, shared, path) = recording(true);
        shared.output(b"[sudo] password for alice: ");
        for key in [b"s", b"3", b"c"] {
            shared.input(key);
        }
        shared.input(b"\r");
        // The reply starts with the password's first letter: still not an echo.
        shared.output(b"\r\nsorry, try again.\r\n");
        shared.input(b"hunter2\r");
        shared.output(b"\r\nsudo: 2 incorrect password attempts\r\n");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("s3c") && !text.contains("hunter2"), "{text}");
        let inputs: Vec<_> = events(&path)
            .1
            .into_iter()
            .filter(|(kind, _)| kind == "i")
            .collect();
        assert_eq!(inputs, [event("i", "\r")]);
    }

    /// Keys typed ahead while a command awaits its approval reach the target after it started:
    /// at a password prompt they are a secret, and the prompt comes after them. A password
    /// that starts like the prompt ("Pas" of "Password: ") is no echo of it.
    #[test]
    fn a_secret_typed_ahead_of_its_prompt_is_not_recorded_when_the_prompt_starts_like_it() {
        let (_dir, shared, path) = recording(true);
        for key in b"su" {
            shared.input(&[*key]);
        }
        shared.output(b"su");
        shared.input(b"\r");
        for key in b"Pasta-7" {
            shared.input(&[*key]);
        }
        shared.output(b"\r\n");
        shared.output(b"Password: ");
        shared.input(b"\r");
        shared.output(b"\r\n$ ");
        let inputs: String = events(&path)
            .1
            .into_iter()
            .filter(|(kind, _)| kind == "i")
            .map(|(_, data)| data)
            .collect();
        assert_eq!(inputs, "su\r\r");
    }

    /// Output that arrives while a secret is typed with echo off (a background job's line)
    /// echoes none of it, even where a later key happens to match it.
    #[test]
    fn keys_after_one_the_output_did_not_echo_are_not_recorded_either() {
        let (_dir, shared, path) = recording(true);
        shared.output(b"Password: ");
        for key in b"sec" {
            shared.input(&[*key]);
        }
        shared.output(b"ecstatic job done\r\n");
        shared.input(b"\r");
        let text = std::fs::read_to_string(&path).unwrap();
        let inputs: Vec<_> = events(&path)
            .1
            .into_iter()
            .filter(|(kind, _)| kind == "i")
            .collect();
        assert_eq!(inputs, [event("i", "\r")], "{text}");
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
