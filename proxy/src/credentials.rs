//! Keys and trust: the proxy's host key, the identity the proxy presents to the target, and
//! how the target's host key is verified (the operators' keys are in
//! [`client_keys`](crate::client_keys)).
//!
//! Invariant: nothing here trusts by default: the target's key is checked against a
//! known_hosts file or a pinned fingerprint unless the operator asked for the insecure mode.

use std::path::{Path, PathBuf};

use russh::keys::ssh_key::LineEnding;
use russh::keys::{Algorithm, HashAlg, PrivateKey, PublicKey};

use crate::known_hosts::{self, Verdict};
use crate::log_text::quoted;

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("--target-fingerprint {0:?}: expected SHA256:<base64>, as printed by ssh-keygen -lf")]
    Fingerprint(String),
}

fn file_error(path: &Path, message: impl std::fmt::Display) -> CredentialError {
    CredentialError::File {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

/// Load the host key at `path`, or generate an ed25519 key and save it there when the file
/// does not exist yet (so clients see the same key on every start).
pub fn load_or_generate_host_key(path: &Path) -> Result<PrivateKey, CredentialError> {
    if path.exists() {
        return load_private_key(path);
    }
    let key = generate_host_key();
    key.write_openssh_file(path, LineEnding::LF)
        .map_err(|error| file_error(path, format!("cannot write a new host key: {error}")))?;
    tracing::info!(path = %quoted(path.display()), "generated a new host key");
    Ok(key)
}

pub fn generate_host_key() -> PrivateKey {
    PrivateKey::random(&mut rand::rng(), Algorithm::Ed25519)
        .expect("ed25519 key generation does not fail")
}

/// Load an unencrypted OpenSSH private key.
pub fn load_private_key(path: &Path) -> Result<PrivateKey, CredentialError> {
    russh::keys::load_secret_key(path, None).map_err(|error| match error {
        russh::keys::Error::KeyIsEncrypted => file_error(
            path,
            "the key is encrypted; sshgate needs an unencrypted key",
        ),
        other => file_error(path, format!("cannot load the key: {other}")),
    })
}

pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// How the target's host key is checked.
#[derive(Debug, Clone)]
pub enum TargetKeyPolicy {
    KnownHosts(PathBuf),
    /// `SHA256:<base64>` as printed by `ssh-keygen -lf`.
    Fingerprint(String),
    InsecureAcceptAny,
}

impl TargetKeyPolicy {
    pub fn fingerprint(text: &str) -> Result<Self, CredentialError> {
        // `SHA256:` and the unpadded base64 of 32 bytes, as `ssh-keygen -lf` prints it.
        let valid = text.starts_with("SHA256:")
            && text.parse::<russh::keys::ssh_key::Fingerprint>().is_ok();
        if valid {
            Ok(TargetKeyPolicy::Fingerprint(text.to_string()))
        } else {
            Err(CredentialError::Fingerprint(text.to_string()))
        }
    }

    /// Ok when `key` is the target's key under this policy; Err says why not.
    pub fn verify(&self, host: &str, port: u16, key: &PublicKey) -> Result<(), String> {
        match self {
            TargetKeyPolicy::InsecureAcceptAny => Ok(()),
            TargetKeyPolicy::Fingerprint(expected) => {
                let actual = fingerprint(key);
                if &actual == expected {
                    Ok(())
                } else {
                    Err(format!(
                        "target host key {actual} does not match the pinned {expected}"
                    ))
                }
            }
            TargetKeyPolicy::KnownHosts(path) => {
                // Read at every connection, so an edit takes effect without a restart.
                let text = std::fs::read_to_string(path).map_err(|error| {
                    format!("cannot read known hosts {}: {error}", path.display())
                })?;
                let (path, key_fingerprint) = (path.display(), fingerprint(key));
                match known_hosts::check(&text, host, port, key) {
                    Verdict::Trusted => Ok(()),
                    Verdict::Revoked(line) => Err(format!(
                        "target {host}:{port} offered the key {key_fingerprint}, revoked in \
                         {path} line {line}"
                    )),
                    Verdict::KeyChanged => Err(format!(
                        "target {host}:{port} offered the key {key_fingerprint}, not the one \
                         {path} lists for it"
                    )),
                    Verdict::NotListed => Err(format!(
                        "target {host}:{port} is not in {path} (its key is {key_fingerprint})"
                    )),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn known_hosts_file(lines: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(lines.as_bytes()).unwrap();
        file
    }

    fn public_line(key: &PrivateKey) -> String {
        key.public_key().to_openssh().unwrap() + " operator@example"
    }

    #[test]
    fn host_key_is_generated_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host_key");
        let first = load_or_generate_host_key(&path).unwrap();
        let second = load_or_generate_host_key(&path).unwrap();
        assert_eq!(first.public_key(), second.public_key());
    }

    #[test]
    fn pinned_fingerprint_accepts_only_that_key() {
        let key = generate_host_key();
        let other = generate_host_key();
        let policy = TargetKeyPolicy::fingerprint(&fingerprint(key.public_key())).unwrap();
        assert!(policy.verify("h", 22, key.public_key()).is_ok());
        assert!(policy.verify("h", 22, other.public_key()).is_err());
        assert!(TargetKeyPolicy::fingerprint("MD5:aa").is_err());
    }

    #[test]
    fn known_hosts_accepts_only_the_listed_host_and_key() {
        let key = generate_host_key();
        let other = generate_host_key();
        let file = known_hosts_file(&format!("[127.0.0.1]:2200 {}\n", public_line(&key)));
        let policy = TargetKeyPolicy::KnownHosts(file.path().to_path_buf());
        assert!(policy.verify("127.0.0.1", 2200, key.public_key()).is_ok());
        assert!(policy
            .verify("127.0.0.1", 2200, other.public_key())
            .is_err());
        assert!(policy.verify("127.0.0.1", 2201, key.public_key()).is_err());
    }
}
