//! The target side: one SSH client connection per operator connection, made on first use.
//!
//! Invariant: no channel is opened to a target whose host key failed the configured policy.
//! The proxy logs in with its own identity key when it has one; otherwise with the password
//! the operator logged in with (password pass-through); otherwise with `none`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::cipher;
use russh::client;
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg, PublicKeyOrCertificate};

use crate::credentials::TargetKeyPolicy;
use crate::log_text::quoted;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// russh's defaults, but AES-GCM first on the leg to the target, where sshgate chooses: ring's
/// AES-GCM (AES-NI, carry-less multiply) costs a fraction of its ChaCha20-Poly1305 per byte,
/// and bulk exec relays every byte through a decryption and an encryption. A target without
/// it gets russh's usual order.
const TARGET_ALGORITHMS: russh::Preferred = russh::Preferred {
    cipher: std::borrow::Cow::Borrowed(&[
        cipher::AES_256_GCM,
        cipher::AES_128_GCM,
        cipher::CHACHA20_POLY1305,
        cipher::AES_256_CTR,
        cipher::AES_192_CTR,
        cipher::AES_128_CTR,
    ]),
    ..russh::Preferred::DEFAULT
};

/// Where and how to reach the target.
#[derive(Debug, Clone)]
pub struct TargetSettings {
    /// `host:port`.
    pub address: String,
    /// The user on the target; `None` means the operator's own user name.
    pub user: Option<String>,
    /// The proxy's key for the target; `None` tries the `none` method.
    pub identity: Option<Arc<PrivateKey>>,
    pub key_policy: TargetKeyPolicy,
}

impl TargetSettings {
    /// Split `address` into host and port (`[v6]:port` too).
    pub fn host_and_port(&self) -> Result<(String, u16), String> {
        let (host, port) = self
            .address
            .rsplit_once(':')
            .ok_or_else(|| format!("target {:?} is not HOST:PORT", self.address))?;
        let port = port
            .parse()
            .map_err(|_| format!("target {:?} has no valid port", self.address))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        Ok((host.to_string(), port))
    }
}

/// Checks the target's host key during the handshake and keeps the reason for a refusal,
/// which russh would otherwise reduce to "unknown key".
struct HostKeyCheck {
    host: String,
    port: u16,
    policy: TargetKeyPolicy,
    refusal: Arc<Mutex<Option<String>>>,
}

impl client::Handler for HostKeyCheck {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.clone(),
            PublicKeyOrCertificate::Certificate(certificate) => {
                russh::keys::PublicKey::from(certificate.public_key().clone())
            }
        };
        match self.policy.verify(&self.host, self.port, &key) {
            Ok(()) => Ok(true),
            Err(refusal) => {
                tracing::warn!(refusal = %quoted(&refusal), "target host key refused");
                *self.refusal.lock().expect("refusal lock") = Some(refusal);
                Ok(false)
            }
        }
    }
}

/// The target connection of one operator connection.
pub struct TargetLink {
    settings: Arc<TargetSettings>,
    user: String,
    password: Option<String>,
    // A tokio mutex: the first channel connects while later ones wait for the same link.
    handle: tokio::sync::Mutex<Option<Arc<client::Handle<HostKeyCheck>>>>,
}

pub type TargetChannel = russh::Channel<client::Msg>;

impl TargetLink {
    /// `password` is the one the operator logged in with, if they used a password.
    pub fn new(
        settings: Arc<TargetSettings>,
        operator_user: &str,
        password: Option<String>,
    ) -> Self {
        let user = settings
            .user
            .clone()
            .unwrap_or_else(|| operator_user.to_string());
        TargetLink {
            settings,
            user,
            password,
            handle: tokio::sync::Mutex::new(None),
        }
    }

    /// Connect and log in now (to check an operator's password against the target).
    pub async fn connect_now(&self) -> Result<(), String> {
        let mut slot = self.handle.lock().await;
        *slot = Some(Arc::new(self.connect().await?));
        Ok(())
    }

    pub fn address(&self) -> &str {
        &self.settings.address
    }

    /// Open a session channel on the target, connecting first if needed. The error is a
    /// sentence for the operator.
    pub async fn open_session(&self) -> Result<TargetChannel, String> {
        let mut slot = self.handle.lock().await;
        if slot.as_ref().is_none_or(|handle| handle.is_closed()) {
            *slot = Some(Arc::new(self.connect().await?));
        }
        let handle = slot.as_ref().expect("connected above");
        handle
            .channel_open_session()
            .await
            .map_err(|error| format!("the target refused a session channel: {error}"))
    }

    async fn connect(&self) -> Result<client::Handle<HostKeyCheck>, String> {
        let (host, port) = self.settings.host_and_port()?;
        let refusal = Arc::new(Mutex::new(None));
        let check = HostKeyCheck {
            host: host.clone(),
            port,
            policy: self.settings.key_policy.clone(),
            refusal: refusal.clone(),
        };
        let config = Arc::new(client::Config {
            nodelay: true,
            preferred: TARGET_ALGORITHMS,
            ..Default::default()
        });
        let address = self.settings.address.as_str();
        let connecting = client::connect(config, (host.as_str(), port), check);
        let mut handle = match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
            Err(_) => {
                return Err(format!(
                    "target {address} did not answer within {CONNECT_TIMEOUT:?}"
                ))
            }
            Ok(Err(error)) => {
                let refused = refusal.lock().expect("refusal lock").take();
                return Err(
                    refused.unwrap_or_else(|| format!("cannot reach target {address}: {error}"))
                );
            }
            Ok(Ok(handle)) => handle,
        };
        let user = self.user.as_str();
        let login = async {
            match (&self.settings.identity, &self.password) {
                (Some(key), _) => {
                    let hash = handle
                        .best_supported_rsa_hash()
                        .await
                        .ok()
                        .flatten()
                        .flatten();
                    handle
                        .authenticate_publickey(user, PrivateKeyWithHashAlg::new(key.clone(), hash))
                        .await
                }
                (None, Some(password)) => handle.authenticate_password(user, password).await,
                (None, None) => handle.authenticate_none(user).await,
            }
        };
        // A target that stops answering during login must not hold the operator forever.
        let outcome = tokio::time::timeout(CONNECT_TIMEOUT, login)
            .await
            .map_err(|_| {
                format!("target {address} did not finish the login within {CONNECT_TIMEOUT:?}")
            })?;
        match outcome {
            Ok(result) if result.success() => Ok(handle),
            Ok(_) => Err(format!(
                "target {address} refused authentication as {user:?}"
            )),
            Err(error) => Err(format!(
                "authentication to target {address} failed: {error}"
            )),
        }
    }
}
