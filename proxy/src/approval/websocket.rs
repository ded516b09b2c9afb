//! The WebSocket approver client (approval protocol v1; the proxy is the client).
//!
//! One task owns the connection and every pending request; callers talk to it through a
//! bounded channel. Invariant: a request is answered only by a decision frame carrying its id;
//! when the connection drops, or a frame does not parse, every request it could concern is
//! denied. Reconnection is lazy, on the next request, with a doubling back-off so that a dead
//! approver costs one quick failure per request rather than a hang.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sshgate_wire::{Alert, ApprovalRequest, ApproverFrame, Decision, ProxyFrame, PROTOCOL_VERSION};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::{ApprovalError, Approver, DecisionFuture};
use crate::log_text::quoted;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Requests and cancels waiting for the connection task. When full, callers wait (and the
/// approval time-out still runs).
const COMMAND_CAPACITY: usize = 256;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Reply = oneshot::Sender<Result<Decision, ApprovalError>>;

enum Command {
    Request {
        request: ApprovalRequest,
        reply: Reply,
    },
    Cancel {
        id: String,
        reason: String,
    },
    Alert(Alert),
}

pub struct WebSocketApprover {
    commands: mpsc::Sender<Command>,
}

impl WebSocketApprover {
    /// Start the connection task for `url` (`ws://host:port[/path]`). Nothing connects until
    /// the first request.
    pub fn spawn(url: String) -> Self {
        Self::spawn_joined(url).0
    }

    /// [`spawn`](Self::spawn), with the connection task: it ends once every handle on the
    /// approver is dropped and what they queued (a cancel at shutdown) has been sent.
    pub fn spawn_joined(url: String) -> (Self, tokio::task::JoinHandle<()>) {
        let (commands, receiver) = mpsc::channel(COMMAND_CAPACITY);
        let task = tokio::spawn(ConnectionTask::new(url).run(receiver));
        (WebSocketApprover { commands }, task)
    }
}

impl Approver for WebSocketApprover {
    fn request(&self, request: ApprovalRequest) -> DecisionFuture {
        let commands = self.commands.clone();
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            commands
                .send(Command::Request { request, reply })
                .await
                .map_err(|_| ApprovalError::Unreachable("approver client stopped".into()))?;
            answer.await.map_err(|_| ApprovalError::Disconnected)?
        })
    }

    fn cancel(&self, id: &str, reason: &str) {
        // Best effort: if the queue is full the approver only misses the notice; the request
        // is already treated as denied on our side.
        let _ = self.commands.try_send(Command::Cancel {
            id: id.to_string(),
            reason: reason.to_string(),
        });
    }

    fn alert(&self, alert: Alert) {
        let _ = self.commands.try_send(Command::Alert(alert));
    }
}

struct ConnectionTask {
    url: String,
    backoff: Duration,
    next_attempt: Instant,
    last_error: String,
}

impl ConnectionTask {
    fn new(url: String) -> Self {
        ConnectionTask {
            url,
            backoff: FIRST_BACKOFF,
            next_attempt: Instant::now(),
            last_error: String::new(),
        }
    }

    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        while let Some(command) = commands.recv().await {
            if let Command::Cancel { .. } = command {
                continue; // nothing is pending while disconnected
            }
            match self.connect().await {
                Ok(socket) => Connected::new(socket).serve(command, &mut commands).await,
                Err(error) => match command {
                    Command::Request { reply, .. } => {
                        let _ = reply.send(Err(error));
                    }
                    _ => tracing::warn!(error = %quoted(&error), "alert not delivered"),
                },
            }
        }
    }

    async fn connect(&mut self) -> Result<Socket, ApprovalError> {
        if Instant::now() < self.next_attempt {
            return Err(ApprovalError::Unreachable(self.last_error.clone()));
        }
        let attempt = tokio::time::timeout(
            CONNECT_TIMEOUT,
            // No Nagle delay: a decision is a small frame that must not wait for an ACK.
            tokio_tungstenite::connect_async_with_config(self.url.as_str(), None, true),
        )
        .await;
        let result = match attempt {
            Ok(Ok((mut socket, _response))) => {
                let hello = ProxyFrame::Hello {
                    protocol: PROTOCOL_VERSION,
                    agent: crate::AGENT.to_string(),
                };
                match socket.send(Message::text(hello.to_json())).await {
                    Ok(()) => Ok(socket),
                    Err(error) => Err(format!("{}: {error}", self.url)),
                }
            }
            Ok(Err(error)) => Err(format!("{}: {error}", self.url)),
            Err(_) => Err(format!(
                "{}: no answer within {CONNECT_TIMEOUT:?}",
                self.url
            )),
        };
        match result {
            Ok(socket) => {
                tracing::info!(url = %quoted(&self.url), "connected to approver");
                self.backoff = FIRST_BACKOFF;
                Ok(socket)
            }
            Err(error) => {
                tracing::warn!(
                    error = %quoted(&error),
                    retry_in = ?self.backoff,
                    "approver unreachable"
                );
                self.next_attempt = Instant::now() + self.backoff;
                self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                self.last_error = error.clone();
                Err(ApprovalError::Unreachable(error))
            }
        }
    }
}

/// One live connection and the requests waiting on it.
struct Connected {
    socket: Socket,
    pending: HashMap<String, Reply>,
}

impl Connected {
    fn new(socket: Socket) -> Self {
        Connected {
            socket,
            pending: HashMap::new(),
        }
    }

    /// Serve until the connection ends; every request still pending then is denied (its
    /// reply is dropped, which the caller reads as a disconnect).
    async fn serve(mut self, first: Command, commands: &mut mpsc::Receiver<Command>) {
        if self.send(first).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                command = commands.recv() => {
                    let Some(command) = command else { return };
                    if self.send(command).await.is_err() {
                        return;
                    }
                }
                frame = self.socket.next() => match frame {
                    Some(Ok(Message::Text(text))) => self.on_text(text.as_str()),
                    Some(Ok(Message::Binary(_))) => self.deny_all(ApprovalError::Malformed),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                        tracing::warn!("approver connection closed");
                        return;
                    }
                    Some(Ok(_)) => {} // ping, pong: tungstenite answers pings itself
                },
            }
        }
    }

    async fn send(
        &mut self,
        command: Command,
    ) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        match command {
            Command::Request { request, reply } => self.send_request(request, reply).await,
            Command::Cancel { id, reason } => self.send_cancel(id, reason).await,
            Command::Alert(alert) => {
                let frame = ProxyFrame::Alert(alert).to_json();
                self.socket.send(Message::text(frame)).await
            }
        }
    }

    async fn send_request(
        &mut self,
        request: ApprovalRequest,
        reply: Reply,
    ) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        let id = request.id.clone();
        let frame = ProxyFrame::Request(request).to_json();
        match self.socket.send(Message::text(frame)).await {
            Ok(()) => {
                self.pending.insert(id, reply);
                Ok(())
            }
            Err(error) => {
                let _ = reply.send(Err(ApprovalError::Disconnected));
                Err(error)
            }
        }
    }

    async fn send_cancel(
        &mut self,
        id: String,
        reason: String,
    ) -> Result<(), tokio_tungstenite::tungstenite::Error> {
        self.pending.remove(&id);
        let frame = ProxyFrame::Cancel { id, reason }.to_json();
        self.socket.send(Message::text(frame)).await
    }

    fn on_text(&mut self, text: &str) {
        match serde_json::from_str::<ApproverFrame>(text) {
            Ok(ApproverFrame::Decision(decision)) => match self.pending.remove(&decision.id) {
                Some(reply) => {
                    let _ = reply.send(Ok(decision));
                }
                None => tracing::warn!(
                    id = %quoted(&decision.id),
                    "decision for no pending request"
                ),
            },
            Err(error) => {
                tracing::warn!(
                    error = %quoted(&error),
                    frame = %quoted(text),
                    "malformed frame from approver"
                );
                // Deny the request the frame names if it names one, else every pending one:
                // a garbled answer must never leave a request to be approved by a later frame.
                let named = serde_json::from_str::<serde_json::Value>(text)
                    .ok()
                    .and_then(|value| value.get("id")?.as_str().map(str::to_string))
                    .and_then(|id| self.pending.remove(&id));
                match named {
                    Some(reply) => {
                        let _ = reply.send(Err(ApprovalError::Malformed));
                    }
                    None => self.deny_all(ApprovalError::Malformed),
                }
            }
        }
    }

    fn deny_all(&mut self, error: ApprovalError) {
        for (_, reply) in self.pending.drain() {
            let _ = reply.send(Err(error.clone()));
        }
    }
}
