//! The accept loop: which connections are served, for how long before they authenticate, and
//! how the server stops.
//!
//! russh's own loop ends the whole server on the first accept error, so a burst of connections
//! under a low descriptor limit (`EMFILE`) would stop sshgate. Here an accept error is logged and
//! retried after a back-off; a connection over [`ConnectionLimits`] is closed at once; one that
//! has not authenticated within the login grace time is closed (as sshd's `MaxStartups` and
//! `LoginGraceTime` do). On shutdown every session is told why and given a moment to end.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use russh::server::{run_stream, Handler};

use crate::proxy_protocol::{self, Balancers};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::log_text::quoted;

/// What an operator's client is told when sshgate stops.
pub const SHUTTING_DOWN: &str = "sshgate is shutting down";
/// How long sessions get to end after they were told sshgate is stopping.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(5);
/// The first and the longest pause after an accept error.
const BACKOFF_FIRST: Duration = Duration::from_millis(10);
const BACKOFF_MOST: Duration = Duration::from_secs(1);

/// Bounds on the connections served at once, and on how long they may take to log in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections served at once, logged in or not.
    pub max_connections: usize,
    /// Connections that have not authenticated yet (sshd's `MaxStartups`).
    pub max_unauthenticated: usize,
    /// How long a connection may take to authenticate (sshd's `LoginGraceTime`); None: for
    /// ever.
    pub login_grace: Option<Duration>,
    /// A session with no traffic either way for this long is closed.
    pub idle_timeout: Option<Duration>,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 1000,
            max_unauthenticated: 100,
            login_grace: Some(Duration::from_secs(120)),
            idle_timeout: None,
        }
    }
}

/// How many connections are open, and how many of them have not authenticated.
#[derive(Debug, Default)]
struct Counts {
    open: AtomicUsize,
    unauthenticated: AtomicUsize,
}

/// One admitted connection's place in the counts; its handler holds it, so it is given back
/// when the connection ends.
pub struct Admission {
    counts: Arc<Counts>,
    authenticated: watch::Sender<bool>,
    stopping: watch::Receiver<bool>,
}

impl Admission {
    /// The connection has authenticated: it no longer counts against the unauthenticated
    /// bound, and its grace time stops.
    pub fn authenticated(&self) {
        if !self.authenticated.send_replace(true) {
            self.counts.unauthenticated.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Becomes true when sshgate starts shutting down.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stopping.clone()
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        if !*self.authenticated.borrow() {
            self.counts.unauthenticated.fetch_sub(1, Ordering::Relaxed);
        }
        self.counts.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Where connections come from and how they are told apart.
pub struct Listening {
    pub listener: TcpListener,
    /// Peers that put a PROXY header before the SSH stream (see [`proxy_protocol`]).
    pub balancers: Balancers,
}

/// Serve connections on `listening` until `shutdown` completes, each with the handler
/// `handler` makes for it from the operator's address. Returns once every session has ended
/// or the shutdown deadline has passed.
pub async fn serve<H, F>(
    listening: Listening,
    config: Arc<russh::server::Config>,
    limits: ConnectionLimits,
    handler: F,
    shutdown: impl std::future::Future<Output = ()>,
) where
    H: Handler<Error = russh::Error> + Send + 'static,
    F: Fn(SocketAddr, Admission) -> H + Send + Sync + 'static,
{
    let Listening {
        listener,
        balancers,
    } = listening;
    let balancers = Arc::new(balancers);
    let handler = Arc::new(handler);
    let counts = Arc::new(Counts::default());
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut backoff = BACKOFF_FIRST;
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
            // Finished connection tasks are reaped as they end.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                backoff = BACKOFF_FIRST;
                accepted
            }
            Err(error) => {
                // Out of descriptors or memory, or a connection reset before it was taken:
                // never a reason to stop serving the others.
                tracing::warn!(%error, retry_in = ?backoff, "cannot accept a connection");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MOST);
                continue;
            }
        };
        let Some(admission) = admit(&counts, &limits, peer, &stopping) else {
            continue;
        };
        let authenticated = admission.authenticated.subscribe();
        let connection = Connection {
            peer,
            from_balancer: balancers.contains(peer.ip()),
            grace: limits.login_grace,
            authenticated,
            stopping: stopping.clone(),
        };
        let handler = handler.clone();
        connections.spawn(connection.serve(stream, config.clone(), move |client| {
            handler(client, admission)
        }));
    }
    drop(listener);
    let open = connections.len();
    tracing::info!(
        open,
        "shutting down: no new connections; telling the open ones"
    );
    let _ = stop.send(true);
    let ended = tokio::time::timeout(SHUTDOWN_DEADLINE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if ended.is_err() {
        tracing::warn!(
            left = connections.len(),
            "sessions still open at the shutdown deadline: closed"
        );
    }
}

/// A place for a new connection from `peer`, or None (the connection is closed) when it would
/// exceed `limits`.
fn admit(
    counts: &Arc<Counts>,
    limits: &ConnectionLimits,
    peer: SocketAddr,
    stopping: &watch::Receiver<bool>,
) -> Option<Admission> {
    let open = counts.open.load(Ordering::Relaxed);
    let unauthenticated = counts.unauthenticated.load(Ordering::Relaxed);
    if open >= limits.max_connections || unauthenticated >= limits.max_unauthenticated {
        tracing::warn!(
            %peer,
            open,
            unauthenticated,
            "connection refused: too many connections (--max-connections, --max-unauthenticated)"
        );
        return None;
    }
    counts.open.fetch_add(1, Ordering::Relaxed);
    counts.unauthenticated.fetch_add(1, Ordering::Relaxed);
    Some(Admission {
        counts: counts.clone(),
        authenticated: watch::channel(false).0,
        stopping: stopping.clone(),
    })
}

/// One accepted connection, and what decides how long it is served.
struct Connection {
    /// The TCP peer: the operator, or the balancer in front of them.
    peer: SocketAddr,
    /// The peer is a balancer, which starts with a PROXY header.
    from_balancer: bool,
    grace: Option<Duration>,
    authenticated: watch::Receiver<bool>,
    stopping: watch::Receiver<bool>,
}

impl Connection {
    /// From the PROXY header or the SSH identification to the connection's end: closed when
    /// it has not authenticated within the grace time, told why and closed when sshgate stops.
    /// `handler` makes the SSH handler for the operator's address.
    async fn serve<H>(
        mut self,
        mut stream: TcpStream,
        config: Arc<russh::server::Config>,
        handler: impl FnOnce(SocketAddr) -> H,
    ) where
        H: Handler<Error = russh::Error> + Send + 'static,
    {
        let peer = self.peer;
        // Keystrokes and echoes are small packets: no Nagle delay (russh's own loop sets this).
        if let Err(error) = stream.set_nodelay(config.nodelay) {
            tracing::debug!(%peer, %error, "cannot set TCP_NODELAY");
        }
        let deadline = self.grace.map(|grace| tokio::time::Instant::now() + grace);
        let client = if self.from_balancer {
            let header = proxy_protocol::read_client_address(&mut stream, peer);
            let read = tokio::select! {
                read = by(deadline, header) => read,
                () = wait_for_stop(&mut self.stopping) => return,
            };
            match read {
                Ok(Ok(client)) => {
                    tracing::debug!(%peer, %client, "PROXY header: the operator's address");
                    client
                }
                Ok(Err(proxy_protocol::HeaderError::Closed)) => {
                    tracing::debug!(%peer, "a balancer's health check");
                    return;
                }
                Ok(Err(error)) => {
                    tracing::warn!(%peer, %error, "connection from a balancer (--proxy-protocol-from) refused");
                    return;
                }
                Err(_) => {
                    tracing::info!(%peer, "connection closed: no PROXY header within the login grace time");
                    return;
                }
            }
        } else {
            peer
        };
        // The identification exchange: a client that never sends its own is dropped here.
        let started = tokio::select! {
            started = by(deadline, run_stream(config, stream, handler(client))) => started,
            () = wait_for_stop(&mut self.stopping) => return,
        };
        let running = match started {
            Ok(Ok(running)) => running,
            Ok(Err(error)) => {
                tracing::debug!(%client, error = %quoted(&error), "connection ended before its session began");
                return;
            }
            Err(_) => {
                tracing::info!(%client, grace = ?self.grace, "connection closed: no SSH identification within the login grace time");
                return;
            }
        };
        // The session runs in a task of its own: it ends when told to, not when dropped.
        let handle = running.handle();
        tokio::pin!(running);
        let authenticated = &mut self.authenticated;
        let grace_over = async {
            let in_time = by(deadline, authenticated.wait_for(|done| *done))
                .await
                .is_ok();
            if in_time {
                // Authenticated (or the handler is gone): the grace time no longer applies.
                std::future::pending::<()>().await;
            }
        };
        let reason = tokio::select! {
            result = &mut running => {
                if let Err(error) = result {
                    tracing::debug!(%client, error = %quoted(&error), "connection ended");
                }
                return;
            }
            () = grace_over => {
                tracing::info!(%client, grace = ?self.grace, "connection closed: not authenticated within the login grace time");
                "not authenticated within the login grace time"
            }
            () = wait_for_stop(&mut self.stopping) => SHUTTING_DOWN,
        };
        let _ = handle
            .disconnect(
                russh::Disconnect::ByApplication,
                reason.into(),
                String::new(),
            )
            .await;
        let _ = running.await;
    }
}

/// `future`'s output, or Err once `deadline` has passed; with no deadline no timer is set
/// (a paused test clock would jump to any timer, however far).
async fn by<F: std::future::Future>(
    deadline: Option<tokio::time::Instant>,
    future: F,
) -> Result<F::Output, tokio::time::error::Elapsed> {
    match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, future).await,
        None => Ok(future.await),
    }
}

/// Resolves once sshgate is stopping.
async fn wait_for_stop(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await.map(drop);
}
