//! The audit log (`--audit FILE`): logins, sessions, requests, decisions, cancels, alerts and
//! exit statuses, one JSON object per line, each line chained to the one before by its hash.
//!
//! One writer owns the file: every part of sshgate sends its [`Record`]s to it through an
//! [`AuditLog`] handle, so the lines are written in the order they were sent and the chain is
//! never forked. The writer writes each line with one `write` call and `fdatasync`s it before it
//! takes the next, so a crash loses no record sent before it. A restart appends and continues
//! the chain from the file's last line; a last line that is not a record stops the start (see
//! [`open`]). Tampering is found by [`verify`]. The format is documented in docs/audit.md.

pub mod line;
pub mod record;
pub mod verify;

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use tokio::sync::mpsc;

use line::ChainHead;
pub use record::Record;

/// Records waiting for the writer. Records come at the pace of logins and commands, a few a
/// second; when the queue is full (a stalled disk) the senders wait: sessions slow down, and no
/// record is dropped.
const QUEUE_CAPACITY: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("--audit {}: {message}", path.display())]
    Open { path: PathBuf, message: String },
}

/// Where records go: cheap to clone; a handle made by [`AuditLog::off`] drops them. The file is
/// closed once every handle is dropped (or by [`AuditWriter::close`]).
#[derive(Debug, Clone, Default)]
pub struct AuditLog {
    queue: Option<mpsc::Sender<Entry>>,
}

#[derive(Debug)]
enum Entry {
    Record(Record),
    /// Write the closing record and stop.
    Close,
}

impl AuditLog {
    /// No audit log: records are dropped.
    pub fn off() -> Self {
        AuditLog::default()
    }

    /// Queue `record` for the file, after every record queued before it.
    pub async fn record(&self, record: Record) {
        if let Some(queue) = &self.queue {
            // Err only once the writer has stopped, at shutdown.
            let _ = queue.send(Entry::Record(record)).await;
        }
    }
}

/// The writer's task; [`AuditWriter::close`] drains it.
pub struct AuditWriter {
    /// Weak, so that the writer ends by itself once every [`AuditLog`] handle is gone.
    queue: mpsc::WeakSender<Entry>,
    task: tokio::task::JoinHandle<()>,
}

impl AuditWriter {
    /// Returns once every record sent is on disk, followed by the closing record: when every
    /// [`AuditLog`] handle has been dropped, or after `patience` (what handles still held
    /// send after that is dropped).
    pub async fn close(self, patience: std::time::Duration) {
        let mut task = self.task;
        if tokio::time::timeout(patience, &mut task).await.is_ok() {
            return;
        }
        tracing::warn!("audit log: records still coming at shutdown; closing it now");
        if let Some(queue) = self.queue.upgrade() {
            let _ = queue.send(Entry::Close).await;
        }
        let _ = task.await;
    }
}

/// Open `path` for appending (created, mode 0600, if it does not exist) and start its writer.
/// Its first record says that sshgate started; the chain continues from the file's last line.
/// Err when the file cannot be opened or its last line is not a whole record (an edit, or a
/// crash in the middle of a write): sshgate must not start a second chain in the same file
/// unnoticed. Must be called within a tokio runtime.
pub fn open(path: &Path) -> Result<(AuditLog, AuditWriter), AuditError> {
    let failed = |message: String| AuditError::Open {
        path: path.to_path_buf(),
        message,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(|error| failed(error.to_string()))?;
    let head = match last_line(&mut file).map_err(|error| failed(error.to_string()))? {
        None => ChainHead::start(),
        Some(Err(message)) => return Err(failed(message)),
        Some(Ok(line)) => ChainHead::after(&line).map_err(|why| {
            failed(format!(
                "its last line is damaged ({why}); `sshgate audit verify` tells more; move the \
                 file aside to start a new one"
            ))
        })?,
    };
    let continued = head.seq > 0;
    let (queue, entries) = mpsc::channel(QUEUE_CAPACITY);
    let task = tokio::task::spawn_blocking(move || write_entries(file, head, entries));
    let opened = Record::AuditOpen {
        agent: crate::AGENT.to_string(),
        continued,
    };
    // The queue is empty: the first record never waits.
    let _ = queue.try_send(Entry::Record(opened));
    let writer = AuditWriter {
        queue: queue.downgrade(),
        task,
    };
    let log = AuditLog { queue: Some(queue) };
    Ok((log, writer))
}

/// The writer: one line per record, each on disk before the next is taken; the closing record
/// last, when told to close or when every handle is gone.
fn write_entries(mut file: File, mut head: ChainHead, mut entries: mpsc::Receiver<Entry>) {
    loop {
        let (record, last) = match entries.blocking_recv() {
            Some(Entry::Record(record)) => (record, false),
            Some(Entry::Close) | None => (Record::AuditClose, true),
        };
        let (mut line, next) = head.encode(&record, std::time::SystemTime::now());
        line.push(b'\n');
        // A record that could not be written leaves a gap that `audit verify` reports as a
        // removed record, which is what the file then lacks.
        if let Err(error) = file.write_all(&line).and_then(|()| file.sync_data()) {
            tracing::error!(%error, "cannot write to the audit log");
        }
        head = next;
        if last {
            return;
        }
    }
}

/// The file's last line without its newline: None for an empty file, Err (a message) when
/// the file does not end with a newline.
fn last_line(file: &mut File) -> std::io::Result<Option<Result<Vec<u8>, String>>> {
    const STEP: u64 = 8192;
    let end = file.seek(SeekFrom::End(0))?;
    if end == 0 {
        return Ok(None);
    }
    // Read backwards until the newline before the last one (or the start of the file).
    let mut tail = Vec::new();
    let mut start = end;
    while start > 0 && tail.iter().filter(|&&b| b == b'\n').count() < 2 {
        let from = start.saturating_sub(STEP);
        let mut chunk = vec![0; (start - from) as usize];
        file.seek(SeekFrom::Start(from))?;
        file.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&tail);
        tail = chunk;
        start = from;
    }
    if tail.last() != Some(&b'\n') {
        return Ok(Some(Err(
            "its last line has no newline at its end: a record cut short; \
             `sshgate audit verify` tells more; move the file aside to start a new one"
                .into(),
        )));
    }
    tail.pop();
    let line_start = tail
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |at| at + 1);
    Ok(Some(Ok(tail[line_start..].to_vec())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::verify::{verify, Verdict};
    use std::time::Duration;

    const PATIENCE: Duration = Duration::from_secs(5);

    fn cancel(id: &str) -> Record {
        Record::Cancel {
            session: "s".into(),
            id: id.into(),
            reason: "test".into(),
        }
    }

    /// Open `path`, write `records`, close; the file's lines.
    async fn write(path: &Path, records: &[Record]) -> Vec<String> {
        let (log, writer) = open(path).unwrap();
        for record in records {
            log.record(record.clone()).await;
        }
        drop(log);
        writer.close(PATIENCE).await;
        lines(path)
    }

    fn lines(path: &Path) -> Vec<String> {
        let text = std::fs::read_to_string(path).unwrap();
        text.lines().map(str::to_string).collect()
    }

    fn field(line: &str, name: &str) -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(line).unwrap()[name].clone()
    }

    #[tokio::test]
    async fn a_new_file_starts_the_chain_and_a_restart_continues_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let first = write(&path, &[cancel("a")]).await;
        let types: Vec<_> = first.iter().map(|line| field(line, "type")).collect();
        assert_eq!(types, ["audit-open", "cancel", "audit-close"]);
        assert_eq!(field(&first[0], "prev"), line::CHAIN_START);
        assert_eq!(field(&first[0], "continued"), false);
        let both = write(&path, &[cancel("b")]).await;
        assert_eq!(both.len(), 6);
        assert_eq!(field(&both[3], "seq"), 3);
        assert_eq!(field(&both[3], "continued"), true);
        assert_eq!(
            field(&both[3], "prev"),
            line::sha256_hex(both[2].as_bytes())
        );
        assert!(matches!(
            verify(&path).unwrap(),
            Verdict::Intact { records: 6, .. }
        ));
    }

    #[tokio::test]
    async fn records_from_many_tasks_keep_one_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let (log, writer) = open(&path).unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for task in 0..8 {
            let log = log.clone();
            tasks.spawn(async move {
                for n in 0..50 {
                    log.record(cancel(&format!("{task}-{n}"))).await;
                }
            });
        }
        tasks.join_all().await;
        drop(log);
        writer.close(PATIENCE).await;
        assert!(matches!(
            verify(&path).unwrap(),
            Verdict::Intact { records: 402, .. }
        ));
    }

    #[tokio::test]
    async fn close_does_not_wait_for_a_handle_held_for_ever() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let (log, writer) = open(&path).unwrap();
        log.record(cancel("a")).await;
        writer.close(Duration::from_millis(50)).await;
        let written = lines(&path);
        assert_eq!(field(written.last().unwrap(), "type"), "audit-close");
        // Sent after the close: dropped, never a second chain.
        log.record(cancel("late")).await;
        assert_eq!(lines(&path).len(), written.len());
    }

    #[tokio::test]
    async fn a_damaged_last_line_stops_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        write(&path, &[cancel("a")]).await;
        let text = std::fs::read_to_string(&path).unwrap();
        let cases = [
            (format!("{text}{{\"seq\":3,\"prev\":"), "no newline"),
            (format!("{text}not json\n"), "not a JSON audit record"),
            (
                format!("{text}{{\"seq\":3,\"type\":\"x\",\"prev\":\"00\"}}\n"),
                "prev",
            ),
        ];
        for (damaged, why) in cases {
            std::fs::write(&path, &damaged).unwrap();
            let error = open(&path).map(drop).unwrap_err().to_string();
            assert!(error.starts_with("--audit "), "{error}");
            assert!(error.contains(why), "{error}");
            assert_eq!(std::fs::read_to_string(&path).unwrap(), damaged);
        }
    }

    #[tokio::test]
    async fn a_last_line_longer_than_a_read_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let long = "x".repeat(20_000);
        write(&path, &[cancel(&long)]).await;
        write(&path, &[cancel(&long)]).await;
        assert!(matches!(
            verify(&path).unwrap(),
            Verdict::Intact { records: 6, .. }
        ));
    }

    #[test]
    fn the_file_is_private_to_its_owner() {
        use std::os::unix::fs::PermissionsExt;
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        runtime.block_on(write(&path, &[]));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
