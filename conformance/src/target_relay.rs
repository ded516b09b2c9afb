//! `{target}` for `run --target-shell`: a loopback TCP relay that forwards each connection the
//! proxy under test opens to the sshd of the replay on stage. The proxy is started once, with
//! one target address, while every replay gets a fresh sshd and shell.
//!
//! Invariant: a connection goes to the target on stage when it is accepted and stays with it;
//! with none on stage it is closed at once. Connections still open when the relay is dropped
//! are cut.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinSet};

/// How long the relay waits after a failed accept (out of file descriptors, say) before the
/// next, so that a lasting failure does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Where connections go: the sshd of the replay on stage, if any.
type Upstream = Arc<Mutex<Option<SocketAddr>>>;

fn lock(upstream: &Upstream) -> MutexGuard<'_, Option<SocketAddr>> {
    // A plain value: a panic while it was held cannot have left it half-changed.
    upstream.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The relay, serving until dropped.
pub struct TargetRelay {
    address: SocketAddr,
    upstream: Upstream,
    server: AbortHandle,
}

impl TargetRelay {
    /// Listen on `address` (port 0 picks one).
    pub async fn bind(address: SocketAddr) -> std::io::Result<TargetRelay> {
        let listener = TcpListener::bind(address).await?;
        let address = listener.local_addr()?;
        let upstream = Upstream::default();
        let server = tokio::spawn(serve(listener, upstream.clone())).abort_handle();
        Ok(TargetRelay {
            address,
            upstream,
            server,
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Send new connections to `target` from now on.
    pub fn stage(&self, target: SocketAddr) {
        *lock(&self.upstream) = Some(target);
    }

    /// Close new connections from now on, if `target` is still the one on stage.
    pub fn clear(&self, target: SocketAddr) {
        let mut upstream = lock(&self.upstream);
        if *upstream == Some(target) {
            *upstream = None;
        }
    }
}

impl Drop for TargetRelay {
    fn drop(&mut self) {
        // The accept task owns the connections' tasks: aborting it cuts them too.
        self.server.abort();
    }
}

async fn serve(listener: TcpListener, upstream: Upstream) {
    let mut connections = JoinSet::new();
    loop {
        let client = match listener.accept().await {
            Ok((client, _)) => client,
            Err(error) => {
                tracing::warn!(%error, "the target relay could not accept a connection");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        // Nothing on stage: dropping the connection closes it.
        let Some(target) = *lock(&upstream) else {
            continue;
        };
        connections.spawn(forward(client, target));
    }
}

async fn forward(mut client: TcpStream, target: SocketAddr) {
    let Ok(mut server) = TcpStream::connect(target).await else {
        return;
    };
    // An interactive session: keystrokes and echoes go as they come.
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A server that answers each connection with `greeting` and then closes it.
    async fn greeter(greeting: &'static [u8]) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let _ = stream.write_all(greeting).await;
            }
        });
        address
    }

    async fn read_all(address: SocketAddr) -> Vec<u8> {
        let mut stream = TcpStream::connect(address).await.unwrap();
        let mut bytes = Vec::new();
        stream.read_to_end(&mut bytes).await.unwrap();
        bytes
    }

    #[tokio::test]
    async fn connections_go_to_the_target_on_stage_and_are_closed_without_one() {
        let relay = TargetRelay::bind("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        assert_eq!(read_all(relay.address()).await, b"");
        let first = greeter(b"first").await;
        relay.stage(first);
        assert_eq!(read_all(relay.address()).await, b"first");
        let second = greeter(b"second").await;
        relay.stage(second);
        // Clearing a target no longer on stage changes nothing.
        relay.clear(first);
        assert_eq!(read_all(relay.address()).await, b"second");
        relay.clear(second);
        assert_eq!(read_all(relay.address()).await, b"");
    }
}
