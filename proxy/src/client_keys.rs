//! Which operator keys may log in, and with what options: an authorized_keys file, read again
//! whenever it changes, and a keys command, asked at every attempt (as sshd does both).
//!
//! Invariant: a key logs in only through a line that lists it and whose `from=` and
//! `expiry-time=` allow this client now; the options of that line go with the session. Like
//! sshd, it fails closed: a file that is removed or becomes unreadable lets nobody in (so that
//! `rm authorized_keys` revokes every key at once), a line that is not UTF-8 text is refused,
//! and a key removed from the file stops working at the next attempt.

use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use russh::keys::PublicKey;

use crate::authorized_keys::{self, AuthorizedKey, KeyOptions};
use crate::credentials::CredentialError;
use crate::keys_command::KeysCommand;
use crate::log_text::quoted;

/// Where operator keys come from; every source is consulted, in order.
#[derive(Debug, Default)]
pub struct ClientKeys {
    sources: Vec<KeySource>,
}

#[derive(Debug)]
enum KeySource {
    /// Keys given in code (tests, embedding), with no options.
    Fixed(Arc<Vec<AuthorizedKey>>),
    File(WatchedFile),
    Command(KeysCommand),
}

impl ClientKeys {
    /// These keys, with no options.
    pub fn fixed(keys: Vec<PublicKey>) -> ClientKeys {
        let keys = keys
            .into_iter()
            .map(|key| AuthorizedKey {
                key,
                options: KeyOptions::unrestricted("fixed keys"),
            })
            .collect();
        ClientKeys {
            sources: vec![KeySource::Fixed(Arc::new(keys))],
        }
    }

    /// Add an authorized_keys file, which must be readable now.
    pub fn with_file(mut self, path: &Path) -> Result<ClientKeys, CredentialError> {
        self.sources.push(KeySource::File(WatchedFile::open(path)?));
        Ok(self)
    }

    pub fn with_command(mut self, command: KeysCommand) -> ClientKeys {
        self.sources.push(KeySource::Command(command));
        self
    }

    /// The options `user` logs in with when offering `key` from `client`; Err lists why each
    /// line that lists the key refused it (empty when none lists it).
    pub async fn authorize(
        &self,
        user: &str,
        key: &PublicKey,
        client: Option<IpAddr>,
    ) -> Result<KeyOptions, Vec<String>> {
        let mut refusals = Vec::new();
        for source in &self.sources {
            let keys = match source {
                KeySource::Fixed(keys) => keys.clone(),
                KeySource::File(file) => file.current(),
                KeySource::Command(command) => Arc::new(command.keys(user, key).await),
            };
            let listing = keys
                .iter()
                .filter(|entry| entry.key.key_data() == key.key_data());
            for entry in listing {
                match entry.options.permits(client, SystemTime::now()) {
                    Ok(()) => return Ok(entry.options.clone()),
                    Err(refusal) => refusals.push(refusal),
                }
            }
        }
        Err(refusals)
    }
}

/// An authorized_keys file and the keys last read from it.
#[derive(Debug)]
struct WatchedFile {
    path: PathBuf,
    loaded: Mutex<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    /// The file as it was when last looked at; None when it could not be looked at.
    stamp: Option<Stamp>,
    keys: Arc<Vec<AuthorizedKey>>,
}

/// What changes when a file is written or replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    device: u64,
    inode: u64,
    size: u64,
    modified: (i64, i64),
    changed: (i64, i64),
}

impl Stamp {
    fn of(path: &Path) -> std::io::Result<Stamp> {
        let metadata = std::fs::metadata(path)?;
        Ok(Stamp {
            device: metadata.dev(),
            inode: metadata.ino(),
            size: metadata.size(),
            modified: (metadata.mtime(), metadata.mtime_nsec()),
            changed: (metadata.ctime(), metadata.ctime_nsec()),
        })
    }
}

impl WatchedFile {
    fn open(path: &Path) -> Result<WatchedFile, CredentialError> {
        let file_error = |message: String| CredentialError::File {
            path: path.to_path_buf(),
            message,
        };
        let stamp = Stamp::of(path).map_err(|error| file_error(error.to_string()))?;
        let keys = read(path).map_err(file_error)?;
        tracing::info!(
            path = %quoted(path.display()),
            keys = keys.len(),
            "authorized keys loaded"
        );
        Ok(WatchedFile {
            path: path.to_path_buf(),
            loaded: Mutex::new(Loaded {
                stamp: Some(stamp),
                keys: Arc::new(keys),
            }),
        })
    }

    /// The keys as the file holds them now. A stat per attempt is cheap next to the
    /// handshake, and catches every change without a watcher thread or its delays; like sshd,
    /// it reads a local file in the connection's task (a small file, read only on a change).
    fn current(&self) -> Arc<Vec<AuthorizedKey>> {
        let mut loaded = self
            .loaded
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let stamp = Stamp::of(&self.path);
        let path = quoted(self.path.display());
        match stamp {
            Ok(stamp) if loaded.stamp.as_ref() == Some(&stamp) => {}
            Ok(stamp) => {
                let keys = read(&self.path).unwrap_or_else(|problem| {
                    tracing::error!(
                        %path,
                        problem = %quoted(problem),
                        "authorized keys file cannot be read: no key from it logs in"
                    );
                    Vec::new()
                });
                tracing::info!(%path, keys = keys.len(), "authorized keys reloaded");
                loaded.keys = Arc::new(keys);
                loaded.stamp = Some(stamp);
            }
            Err(error) => {
                if loaded.stamp.take().is_some() || !loaded.keys.is_empty() {
                    tracing::error!(
                        %path,
                        problem = %quoted(error),
                        "authorized keys file cannot be looked at: no key from it logs in"
                    );
                }
                loaded.keys = Arc::default();
            }
        }
        loaded.keys.clone()
    }
}

/// The keys of the file at `path`, each refused line logged with its number.
fn read(path: &Path) -> Result<Vec<AuthorizedKey>, String> {
    let bytes = std::fs::read(path).map_err(|error| error.to_string())?;
    let source = path.display().to_string();
    // A line that is not UTF-8 is refused on its own (left blank, to keep the numbers of
    // the others), not the file: a Latin-1 comment must not stop every key.
    let text: String = bytes
        .split_inclusive(|byte| *byte == b'\n')
        .enumerate()
        .map(|(index, line)| match std::str::from_utf8(line) {
            Ok(line) => line,
            Err(_) => {
                tracing::warn!(
                    path = %quoted(&source),
                    line = index + 1,
                    "authorized_keys line refused: not UTF-8 text"
                );
                "\n"
            }
        })
        .collect();
    let parsed = authorized_keys::parse(&source, &text);
    for refused in &parsed.refused {
        tracing::warn!(
            path = %quoted(&source),
            line = refused.line,
            reason = %quoted(&refused.reason),
            "authorized_keys line refused: its key cannot log in"
        );
    }
    Ok(parsed.keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::generate_host_key;
    use std::io::Write;

    fn line(key: &PublicKey) -> String {
        key.to_openssh().unwrap() + "\n"
    }

    async fn allowed(keys: &ClientKeys, key: &PublicKey) -> bool {
        keys.authorize("alice", key, None).await.is_ok()
    }

    #[tokio::test]
    async fn the_file_is_read_again_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("authorized_keys");
        let (first, second) = (
            generate_host_key().public_key().clone(),
            generate_host_key().public_key().clone(),
        );
        std::fs::write(&path, line(&first)).unwrap();
        let keys = ClientKeys::default().with_file(&path).unwrap();
        assert!(allowed(&keys, &first).await);
        assert!(!allowed(&keys, &second).await);
        // Appended: both work.
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        file.write_all(line(&second).as_bytes()).unwrap();
        drop(file);
        assert!(allowed(&keys, &second).await);
        // Replaced by a file without the first key: it stops working.
        let replacement = dir.path().join("new");
        std::fs::write(&replacement, line(&second)).unwrap();
        std::fs::rename(&replacement, &path).unwrap();
        assert!(!allowed(&keys, &first).await);
        assert!(allowed(&keys, &second).await);
    }

    #[tokio::test]
    async fn a_removed_or_unreadable_file_lets_nobody_in_and_a_line_not_utf8_only_itself_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("authorized_keys");
        let key = generate_host_key().public_key().clone();
        std::fs::write(&path, line(&key)).unwrap();
        let keys = ClientKeys::default().with_file(&path).unwrap();
        assert!(allowed(&keys, &key).await);
        // A Latin-1 comment next to the key: only that line is refused.
        std::fs::write(
            &path,
            [b"# caf\xe9\n".as_slice(), line(&key).as_bytes()].concat(),
        )
        .unwrap();
        assert!(allowed(&keys, &key).await);
        // The key's own line broken: refused.
        std::fs::write(
            &path,
            [line(&key).trim_end().as_bytes(), b" \xe9\n"].concat(),
        )
        .unwrap();
        assert!(!allowed(&keys, &key).await);
        std::fs::write(&path, line(&key)).unwrap();
        assert!(allowed(&keys, &key).await);
        // Removed: an emergency revocation.
        std::fs::remove_file(&path).unwrap();
        assert!(!allowed(&keys, &key).await);
        // Back, but a folder where the file was: unreadable.
        std::fs::create_dir(&path).unwrap();
        assert!(!allowed(&keys, &key).await);
        std::fs::remove_dir(&path).unwrap();
        std::fs::write(&path, line(&key)).unwrap();
        assert!(allowed(&keys, &key).await);
    }

    #[tokio::test]
    async fn options_decide_and_a_later_line_may_allow_what_an_earlier_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("authorized_keys");
        let key = generate_host_key().public_key().clone();
        let text = key.to_openssh().unwrap();
        std::fs::write(&path, format!("from=\"10.0.0.0/8\" {text}\n")).unwrap();
        let keys = ClientKeys::default().with_file(&path).unwrap();
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let refusals = keys
            .authorize("alice", &key, Some(local))
            .await
            .unwrap_err();
        assert_eq!(refusals.len(), 1);
        assert!(refusals[0].contains("line 1"), "{refusals:?}");
        std::fs::write(
            &path,
            format!("from=\"10.0.0.0/8\" {text}\nfrom=\"127.0.0.1\",no-pty {text}\n"),
        )
        .unwrap();
        let options = keys.authorize("alice", &key, Some(local)).await.unwrap();
        assert!(!options.pty);
        assert!(options.origin.ends_with("line 2"), "{}", options.origin);
    }
}
