//! Shared helpers for the mock-target integration tests: a russh client pinned to the target's
//! host key, and bounded-time readers for channel output.

#![allow(dead_code)] // each test binary uses a different subset

use std::sync::Arc;
use std::time::Duration;

use russh::client::{self, Handle, Msg};
use russh::keys::{PublicKey, PublicKeyOrCertificate};
use russh::{Channel, ChannelMsg};

/// Generous upper bound for anything a test waits for; a passing test never gets near it.
pub const WAIT: Duration = Duration::from_secs(10);

/// Client handler that accepts exactly one host key.
pub struct Pinned(pub PublicKey);

impl client::Handler for Pinned {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(matches!(server, PublicKeyOrCertificate::PublicKey { key, .. } if key == &self.0))
    }
}

/// Connect and authenticate with the `none` method as `alice`.
pub async fn connect(addr: std::net::SocketAddr, host_key: &PublicKey) -> Handle<Pinned> {
    let config = Arc::new(client::Config::default());
    let mut handle = client::connect(config, addr, Pinned(host_key.clone()))
        .await
        .expect("connect");
    let auth = handle.authenticate_none("alice").await.expect("auth");
    assert!(auth.success(), "none auth refused");
    handle
}

/// Everything a channel produced until it closed.
#[derive(Debug, Default)]
pub struct Outcome {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub status: Option<u32>,
    pub eof: bool,
}

impl Outcome {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// Read until the channel closes (or the connection ends).
pub async fn collect(channel: &mut Channel<Msg>) -> Outcome {
    let mut out = Outcome::default();
    let reading = async {
        while let Some(msg) = channel.wait().await {
            match msg {
                ChannelMsg::Data { data } => out.stdout.extend_from_slice(&data),
                ChannelMsg::ExtendedData { data, ext: 1 } => out.stderr.extend_from_slice(&data),
                ChannelMsg::ExitStatus { exit_status } => out.status = Some(exit_status),
                ChannelMsg::Eof => out.eof = true,
                ChannelMsg::Close => break,
                _ => {}
            }
        }
    };
    tokio::time::timeout(WAIT, reading)
        .await
        .expect("channel did not close in time");
    out
}

/// Read stdout into `seen` until it contains `needle`; returns everything read so far.
pub async fn read_until(channel: &mut Channel<Msg>, seen: &mut Vec<u8>, needle: &str) -> String {
    let reading = async {
        loop {
            if String::from_utf8_lossy(seen).contains(needle) {
                return;
            }
            match channel.wait().await {
                Some(ChannelMsg::Data { data }) => seen.extend_from_slice(&data),
                Some(_) => {}
                None => panic!(
                    "channel ended before {needle:?}; got {:?}",
                    String::from_utf8_lossy(seen)
                ),
            }
        }
    };
    if tokio::time::timeout(WAIT, reading).await.is_err() {
        panic!(
            "no {needle:?} in time; got {:?}",
            String::from_utf8_lossy(seen)
        );
    }
    String::from_utf8_lossy(seen).into_owned()
}
