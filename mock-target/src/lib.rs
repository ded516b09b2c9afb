//! mock-target: an SSH server for tests, the independent referee of what a proxy let through.
//!
//! Layout:
//! - [`events`]: [`TargetEvent`] and the shared, append-only [`EventLog`] (optionally mirrored
//!   to a JSONL file) that tests wait on;
//! - `keys`: streaming decoder from raw shell-channel bytes to keys (escape sequences, UTF-8);
//! - `line_editor`: the shell's own line buffer and its emacs-style edits;
//! - `continuation`: when a command goes on over several lines (the `> ` prompt);
//! - [`shell`]: the PTY shell (the tty in front of it: flow control, interrupt, echo; prompt,
//!   run on CR/LF, C-d, a few commands that change the terminal), pure bytes-in/bytes-out;
//! - `server`: the russh handler translating SSH requests into events and shell calls, and
//!   the execs: `<cmd>:ok`, `exit N`, and [`DIGEST_COMMAND`], which reads its input;
//! - this file: [`Config`], [`run`] (serve until a shutdown future completes) and
//!   [`MockTarget`], which runs [`run`] in a task for in-process tests.
//!
//! Invariant: the mock shares no parsing code with the proxy, so a bug in one cannot hide the
//! same bug in the other.

mod continuation;
pub mod events;
mod keys;
mod line_editor;
mod server;
pub mod shell;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::{PrivateKey, PublicKey};
use russh::server::Server as _;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

pub use events::{EventLog, TargetEvent, UserLogs};
pub use server::DIGEST_COMMAND;

/// How long [`run`] waits, after shutdown was asked, for sessions to finish disconnecting.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// How to run a mock target.
#[derive(Debug, Default, Clone)]
pub struct Config {
    /// The host key; `None` means a fresh random ed25519 key.
    pub host_key: Option<PrivateKey>,
    /// Also append every event as one JSON line to this file.
    pub events_file: Option<PathBuf>,
}

/// Why the mock target could not run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot open events file {path}: {source}")]
    EventsFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("accepting connections failed: {0}")]
    Accept(std::io::Error),
}

/// Generate a random ed25519 host key.
///
/// Built from a seed because `PrivateKey::random` wants a rand_core 0.10 RNG (russh's own rand)
/// while the workspace's `rand` is 0.9; `rand::random` draws from the thread-local CSPRNG.
pub fn random_host_key() -> PrivateKey {
    let seed: [u8; 32] = rand::random();
    PrivateKey::from(Ed25519Keypair::from_seed(&seed))
}

/// Key exchange with curve25519 only. russh prefers the ML-KEM hybrid, which costs several
/// times more per handshake, and suites open hundreds of connections to this target; none of
/// them is about the key exchange.
pub fn fast_handshake() -> russh::Preferred {
    use russh::kex;
    russh::Preferred {
        kex: std::borrow::Cow::Borrowed(&[
            kex::CURVE25519,
            kex::EXTENSION_SUPPORT_AS_CLIENT,
            kex::EXTENSION_SUPPORT_AS_SERVER,
            kex::EXTENSION_OPENSSH_STRICT_KEX_AS_CLIENT,
            kex::EXTENSION_OPENSSH_STRICT_KEX_AS_SERVER,
        ]),
        ..russh::Preferred::default()
    }
}

/// Serve on `listener` until `shutdown` completes, with a fresh event log built from `config`.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let events = match &config.events_file {
        Some(path) => EventLog::with_file(path).map_err(|source| Error::EventsFile {
            path: path.clone(),
            source,
        })?,
        None => EventLog::in_memory(),
    };
    serve(config, events, UserLogs::default(), listener, shutdown).await
}

/// Like [`run`], recording into a given `events` log (`config.events_file` is not opened here),
/// or into the log `user_logs` holds for the user who logged in.
pub async fn serve(
    config: Config,
    events: EventLog,
    user_logs: UserLogs,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let host_key = match config.host_key {
        Some(key) => key,
        None => random_host_key(),
    };
    let ssh_config = Arc::new(russh::server::Config {
        auth_rejection_time: Duration::ZERO,
        auth_rejection_time_initial: Some(Duration::ZERO),
        // Tests may sit idle on a breakpoint; do not drop their sessions.
        inactivity_timeout: None,
        nodelay: true,
        keys: vec![host_key],
        preferred: fast_handshake(),
        ..Default::default()
    });
    // Capacity 1 but never sent on: only its closing matters (every connection holds a sender).
    let (alive, mut all_done) = mpsc::channel::<()>(1);
    let result = {
        // The running server borrows the factory; both are dropped at the end of this block,
        // leaving only the connections' senders alive.
        let mut factory = server::ConnectionFactory {
            events,
            user_logs,
            alive,
        };
        let server = factory.run_on_socket(ssh_config, &listener);
        let handle = server.handle();
        tokio::pin!(server);
        tokio::pin!(shutdown);
        tokio::select! {
            result = &mut server => return result.map_err(Error::Accept),
            () = &mut shutdown => {}
        }
        tracing::debug!("shutting down");
        handle.shutdown("mock-target shutting down".to_string());
        server.await.map_err(Error::Accept)
    };
    // Returns once every connection's handler is dropped, i.e. its session has ended.
    if tokio::time::timeout(DRAIN_TIMEOUT, all_done.recv())
        .await
        .is_err()
    {
        tracing::warn!("some sessions did not end within {DRAIN_TIMEOUT:?}");
    }
    result
}

/// A mock target running in a task of the current runtime. Dropping it shuts it down too.
pub struct MockTarget {
    pub addr: SocketAddr,
    pub events: EventLog,
    /// Logs of their own for chosen users; their connections are not in `events`.
    pub user_logs: UserLogs,
    host_key: PublicKey,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), Error>>,
}

impl std::fmt::Debug for MockTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockTarget")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl MockTarget {
    /// Start on 127.0.0.1 with a random port and the default config.
    pub async fn spawn() -> std::io::Result<MockTarget> {
        Self::spawn_with(Config::default()).await
    }

    /// Start on 127.0.0.1 with a random port.
    pub async fn spawn_with(config: Config) -> std::io::Result<MockTarget> {
        Self::spawn_on(config, TcpListener::bind(("127.0.0.1", 0)).await?)
    }

    /// Start serving on `listener`.
    pub fn spawn_on(mut config: Config, listener: TcpListener) -> std::io::Result<MockTarget> {
        let key = config.host_key.take().unwrap_or_else(random_host_key);
        let host_key = key.public_key().clone();
        config.host_key = Some(key);
        let events = EventLog::open(config.events_file.as_deref())?;
        let addr = listener.local_addr()?;
        let (shutdown, shutdown_rx) = oneshot::channel();
        let user_logs = UserLogs::default();
        let serving = serve(
            config,
            events.clone(),
            user_logs.clone(),
            listener,
            async move {
                // Fires on an explicit shutdown and when the MockTarget is dropped.
                let _ = shutdown_rx.await;
            },
        );
        let task = tokio::spawn(serving);
        Ok(MockTarget {
            addr,
            events,
            user_logs,
            host_key,
            shutdown: Some(shutdown),
            task,
        })
    }

    /// The server's public host key, for clients that pin it.
    pub fn host_key(&self) -> &PublicKey {
        &self.host_key
    }

    /// Stop accepting, disconnect every session and wait for them to end.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match (&mut self.task).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("mock-target ended with an error: {e}"),
            Err(e) => tracing::warn!("mock-target task failed: {e}"),
        }
    }
}
