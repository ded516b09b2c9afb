//! The operator's SSH client: logging in to the proxy, and cutting keys into packets as a
//! scenario's chunking says.

use std::net::SocketAddr;
use std::sync::Arc;

use rand::RngExt;
use russh::client;
use russh::keys::{PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};

use super::ReplayOptions;
use crate::format::Chunking;

/// The operator's client handler: any host key will do (the suite is not about the proxy's
/// key), but the last one seen is kept for the report.
#[derive(Default, Clone)]
pub struct AnyHostKey {
    pub seen: Arc<std::sync::Mutex<Option<PublicKey>>>,
}

impl client::Handler for AnyHostKey {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        if let PublicKeyOrCertificate::PublicKey { key, .. } = key {
            if let Ok(mut seen) = self.seen.lock() {
                *seen = Some(key.clone());
            }
        }
        Ok(true)
    }
}

/// Cut `bytes` into packets as `chunking` says.
pub(super) fn cut(bytes: &[u8], chunking: Chunking, rng: &mut rand::rngs::StdRng) -> Vec<Vec<u8>> {
    match chunking {
        Chunking::OnePacket => vec![bytes.to_vec()],
        Chunking::ByteByByte => bytes.iter().map(|&byte| vec![byte]).collect(),
        Chunking::Random { .. } => {
            let mut packets = Vec::new();
            let mut rest = bytes;
            while !rest.is_empty() {
                let take = rng.random_range(1..=rest.len().min(8));
                packets.push(rest[..take].to_vec());
                rest = &rest[take..];
            }
            packets
        }
    }
}

/// Log in to the proxy at `address` as `user`, with the options' key (or `none`).
pub async fn connect(
    address: SocketAddr,
    user: &str,
    options: &ReplayOptions,
    handler: AnyHostKey,
) -> Result<client::Handle<AnyHostKey>, String> {
    let config = Arc::new(client::Config {
        nodelay: true,
        // A replay is about keystrokes, not key exchange: take the cheap one when offered.
        preferred: mock_target::fast_handshake(),
        ..Default::default()
    });
    let mut handle = client::connect(config, address, handler)
        .await
        .map_err(|error| format!("cannot connect to {address}: {error}"))?;
    let result = match &options.key {
        Some(key) => {
            let key = PrivateKeyWithHashAlg::new(key.clone(), None);
            handle.authenticate_publickey(user, key).await
        }
        None => handle.authenticate_none(user).await,
    }
    .map_err(|error| format!("authentication failed: {error}"))?;
    if result.success() {
        Ok(handle)
    } else {
        Err(format!("the proxy refused {user:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn every_chunking_delivers_every_byte_in_order() {
        let bytes: Vec<u8> = (0..=255).collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for chunking in Chunking::all(7) {
            let packets = cut(&bytes, chunking, &mut rng);
            assert_eq!(packets.concat(), bytes, "{chunking}");
            assert!(packets.iter().all(|packet| !packet.is_empty()));
        }
        assert_eq!(cut(&bytes, Chunking::ByteByByte, &mut rng).len(), 256);
        assert_eq!(cut(&bytes, Chunking::OnePacket, &mut rng).len(), 1);
    }
}
