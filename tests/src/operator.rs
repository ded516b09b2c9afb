//! The operator's side in tests: a russh client that connects to a proxy, runs exec requests
//! and drives an interactive PTY shell.
//!
//! Reads wait on the channel with a deadline, never with sleeps; a time-out is an error that
//! shows what arrived so far.

use std::sync::Arc;
use std::time::Duration;

use russh::client::{self, Msg};
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::{Channel, ChannelMsg};
use tokio::time::Instant;

/// How long any single wait in a test may take before it fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// Accepts any host key: these tests check the proxy's gating, and the OpenSSH test checks
/// host-key verification with a real known_hosts file.
pub struct AnyHostKey;

impl client::Handler for AnyHostKey {
    type Error = russh::Error;

    async fn check_server_key(&mut self, _: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

pub struct Operator {
    handle: client::Handle<AnyHostKey>,
}

/// What an exec request produced.
#[derive(Debug, Default)]
pub struct ExecOutcome {
    pub stdout: String,
    pub stderr: String,
    pub exit_status: Option<u32>,
}

impl Operator {
    /// Connect as `user`, with `key` if given, else with the `none` method.
    pub async fn connect(
        address: std::net::SocketAddr,
        user: &str,
        key: Option<&PrivateKey>,
    ) -> Result<Operator, String> {
        let stream = tokio::net::TcpStream::connect(address)
            .await
            .map_err(|error| format!("connect to {address}: {error}"))?;
        Operator::connect_stream(stream, user, key).await
    }

    /// Log in over `stream`, already connected (from an address of the test's choice), as
    /// [`Operator::connect`] does.
    pub async fn connect_stream(
        stream: tokio::net::TcpStream,
        user: &str,
        key: Option<&PrivateKey>,
    ) -> Result<Operator, String> {
        let address = stream.peer_addr().map_err(|error| error.to_string())?;
        let config = Arc::new(client::Config::default());
        let mut handle = client::connect_stream(config, stream, AnyHostKey)
            .await
            .map_err(|error| format!("connect to {address}: {error}"))?;
        let result = match key {
            Some(key) => {
                let key = PrivateKeyWithHashAlg::new(Arc::new(key.clone()), None);
                handle.authenticate_publickey(user, key).await
            }
            None => handle.authenticate_none(user).await,
        }
        .map_err(|error| format!("authenticate: {error}"))?;
        if !result.success() {
            return Err(format!("authentication refused: {result:?}"));
        }
        Ok(Operator { handle })
    }

    /// Connect as `user` and offer `keys` one after another on the same connection, each with
    /// its signature, until one is accepted; whether each offered key was accepted.
    pub async fn connect_trying_keys(
        address: std::net::SocketAddr,
        user: &str,
        keys: &[PrivateKey],
    ) -> Result<(Operator, Vec<bool>), String> {
        let config = Arc::new(client::Config::default());
        let mut handle = client::connect(config, address, AnyHostKey)
            .await
            .map_err(|error| format!("connect to {address}: {error}"))?;
        let mut accepted = Vec::new();
        for key in keys {
            let key = PrivateKeyWithHashAlg::new(Arc::new(key.clone()), None);
            let result = handle
                .authenticate_publickey(user, key)
                .await
                .map_err(|error| format!("authenticate, after {accepted:?}: {error}"))?;
            accepted.push(result.success());
            if result.success() {
                return Ok((Operator { handle }, accepted));
            }
        }
        Err(format!("every key refused: {accepted:?}"))
    }

    pub async fn channel(&self) -> Result<Channel<Msg>, String> {
        self.handle
            .channel_open_session()
            .await
            .map_err(|error| format!("open session: {error}"))
    }

    /// Run `command` as an exec request and collect everything until the channel closes.
    pub async fn exec(&self, command: &str) -> Result<ExecOutcome, String> {
        let mut channel = self.channel().await?;
        channel
            .exec(true, command)
            .await
            .map_err(|error| format!("exec: {error}"))?;
        collect(&mut channel).await
    }

    /// Open a PTY shell of 80x24.
    pub async fn shell(&self) -> Result<Shell, String> {
        Shell::start(self.channel().await?, "xterm", 80, 24).await
    }

    /// Open a PTY shell of 80x24 after asking for each of `environment` (name, value).
    pub async fn shell_with_env(&self, environment: &[(&str, &str)]) -> Result<Shell, String> {
        let channel = self.channel().await?;
        for (name, value) in environment {
            channel
                .set_env(true, *name, *value)
                .await
                .map_err(|error| format!("env: {error}"))?;
        }
        Shell::start(channel, "xterm", 80, 24).await
    }

    /// Request a subsystem and return its channel.
    pub async fn subsystem(&self, name: &str) -> Result<Channel<Msg>, String> {
        let channel = self.channel().await?;
        channel
            .request_subsystem(true, name)
            .await
            .map_err(|error| format!("subsystem: {error}"))?;
        Ok(channel)
    }

    /// Ask for a direct-tcpip channel (local port forwarding).
    pub async fn forward(&self, host: &str, port: u32) -> Result<Channel<Msg>, russh::Error> {
        self.handle
            .channel_open_direct_tcpip(host, port, "127.0.0.1", 40000)
            .await
    }
}

/// Read an exec-like channel to its end.
pub async fn collect(channel: &mut Channel<Msg>) -> Result<ExecOutcome, String> {
    collect_within(channel, WAIT).await
}

/// [`collect`] for a channel that may take up to `patience` (a long stream).
pub async fn collect_within(
    channel: &mut Channel<Msg>,
    patience: Duration,
) -> Result<ExecOutcome, String> {
    let mut outcome = ExecOutcome::default();
    let deadline = Instant::now() + patience;
    loop {
        let message = tokio::time::timeout_at(deadline, channel.wait())
            .await
            .map_err(|_| format!("channel did not close in time; so far {outcome:?}"))?;
        match message {
            Some(ChannelMsg::Data { data }) => outcome.stdout += &String::from_utf8_lossy(&data),
            Some(ChannelMsg::ExtendedData { data, .. }) => {
                outcome.stderr += &String::from_utf8_lossy(&data)
            }
            Some(ChannelMsg::ExitStatus { exit_status }) => outcome.exit_status = Some(exit_status),
            Some(ChannelMsg::Close) | None => return Ok(outcome),
            Some(_) => {}
        }
    }
}

/// An interactive shell channel and everything it has shown so far.
pub struct Shell {
    pub channel: Channel<Msg>,
    pub output: Vec<u8>,
    pub exit_status: Option<u32>,
    pub closed: bool,
}

impl Shell {
    /// Ask for a PTY (`term`, `cols` x `rows`) and a shell on `channel`.
    pub async fn start(
        channel: Channel<Msg>,
        term: &str,
        cols: u32,
        rows: u32,
    ) -> Result<Shell, String> {
        channel
            .request_pty(true, term, cols, rows, 0, 0, &[])
            .await
            .map_err(|error| format!("pty: {error}"))?;
        channel
            .request_shell(true)
            .await
            .map_err(|error| format!("shell: {error}"))?;
        Ok(Shell {
            channel,
            output: Vec::new(),
            exit_status: None,
            closed: false,
        })
    }

    pub async fn send(&self, bytes: &[u8]) -> Result<(), String> {
        self.channel
            .data(bytes)
            .await
            .map_err(|error| format!("send: {error}"))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.output).into_owned()
    }

    /// Read until the output contains `needle` (anywhere since the shell opened).
    pub async fn expect(&mut self, needle: &str) -> Result<(), String> {
        self.expect_any(&[needle]).await.map(drop)
    }

    /// How much output has arrived so far: a mark for [`expect_after`](Self::expect_after).
    pub fn mark(&self) -> usize {
        self.output.len()
    }

    /// Read until the output after `mark` contains `needle`.
    pub async fn expect_after(&mut self, mark: usize, needle: &str) -> Result<(), String> {
        let deadline = Instant::now() + WAIT;
        loop {
            let since = String::from_utf8_lossy(&self.output[mark.min(self.output.len())..]);
            if since.contains(needle) {
                return Ok(());
            }
            if !self.read_one(deadline).await? {
                return Err(format!(
                    "closed before {needle:?} appeared after byte {mark}; output {:?}",
                    self.text()
                ));
            }
        }
    }

    /// Read until `done` holds for the output after `mark`, for at most `within`; `what` names
    /// the wait in the error.
    pub async fn wait_until(
        &mut self,
        mark: usize,
        within: Duration,
        what: &str,
        done: impl Fn(&[u8]) -> bool,
    ) -> Result<(), String> {
        let deadline = Instant::now() + within;
        loop {
            if done(&self.output[mark.min(self.output.len())..]) {
                return Ok(());
            }
            if !self.read_one(deadline).await? {
                return Err(format!(
                    "closed before {what} after byte {mark}; output {:?}",
                    self.text()
                ));
            }
        }
    }

    /// Read until the output contains one of `needles`; returns which.
    pub async fn expect_any(&mut self, needles: &[&str]) -> Result<usize, String> {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = self.text();
            if let Some(found) = needles.iter().position(|needle| text.contains(needle)) {
                return Ok(found);
            }
            if !self.read_one(deadline).await? {
                return Err(format!(
                    "closed before any of {needles:?} appeared; output {text:?}"
                ));
            }
        }
    }

    /// Read until the channel closes.
    pub async fn expect_close(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + WAIT;
        while self.read_one(deadline).await? {}
        Ok(())
    }

    /// One message; false once the channel is closed.
    async fn read_one(&mut self, deadline: Instant) -> Result<bool, String> {
        if self.closed {
            return Ok(false);
        }
        let message = tokio::time::timeout_at(deadline, self.channel.wait())
            .await
            .map_err(|_| format!("timed out; output so far {:?}", self.text()))?;
        match message {
            Some(ChannelMsg::Data { data }) | Some(ChannelMsg::ExtendedData { data, .. }) => {
                self.output.extend_from_slice(&data)
            }
            Some(ChannelMsg::ExitStatus { exit_status }) => self.exit_status = Some(exit_status),
            Some(ChannelMsg::Close) | None => self.closed = true,
            Some(_) => {}
        }
        Ok(!self.closed)
    }
}
