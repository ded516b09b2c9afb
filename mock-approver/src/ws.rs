//! The WebSocket approver server (approval protocol v1; the proxy is the client): accepts any
//! number of proxy connections, each served by its own task.
//!
//! Invariant: a connection's read loop never waits on a decision. Answers that come later
//! (delay, operator) run in their own tasks and come back through a bounded outbox, and are sent
//! only if their request is still pending, so a cancel stops them. Anything that does not parse
//! as a [`ProxyFrame`] is recorded as `Malformed` and never answered.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use sshgate_wire::{ApproverFrame, Decision, ProxyFrame};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::WebSocketStream;

use crate::log::{ApproverEvent, ApproverLog};
use crate::pending::{Answer, Pending, OUTBOX_CAPACITY};
use crate::rule::{malformed_decision_frame, Config, Plan};

/// How many proxy connections are served at once. A permit is taken before `accept`, so when
/// all are in use further connections wait in the listener's backlog until one ends.
pub const MAX_CONNECTIONS: usize = 256;

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot open the events file {}: {source}", path.display())]
    EventsFile { path: PathBuf, source: io::Error },
    #[error("cannot accept connections: {0}")]
    Accept(#[source] io::Error),
}

/// Serves approval connections on `listener` until `shutdown` completes, recording into a log
/// made from `config.events_file`.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let log = match &config.events_file {
        Some(path) => ApproverLog::open(Some(path)).map_err(|source| Error::EventsFile {
            path: path.clone(),
            source,
        })?,
        None => ApproverLog::in_memory(),
    };
    run_with_log(config, log, listener, shutdown).await
}

/// Like [`run`], recording into `log` (`config.events_file` is ignored). On shutdown every
/// connection is sent a close frame and awaited before this returns.
pub async fn run_with_log(
    config: Config,
    log: ApproverLog,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let shared = Arc::new(Shared { config, log });
    // Tells connection tasks to close; `true` once shutting down.
    let (stop, stopped) = watch::channel(false);
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    let result = loop {
        tokio::select! {
            () = &mut shutdown => break Ok(()),
            // Reap finished connections so the set does not grow without bound.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = accept(&listener, &permits) => match accepted {
                Ok((stream, peer, permit)) => {
                    tracing::info!(%peer, "proxy connected");
                    let shared = shared.clone();
                    let stopped = stopped.clone();
                    connections.spawn(async move {
                        serve_connection(stream, peer, shared, stopped).await;
                        tracing::info!(%peer, "proxy disconnected");
                        drop(permit);
                    });
                }
                Err(error) => break Err(Error::Accept(error)),
            },
        }
    };
    let _ = stop.send(true);
    while connections.join_next().await.is_some() {}
    result
}

struct Shared {
    config: Config,
    log: ApproverLog,
}

async fn accept(
    listener: &TcpListener,
    permits: &Arc<Semaphore>,
) -> io::Result<(TcpStream, SocketAddr, OwnedSemaphorePermit)> {
    let permit = permits
        .clone()
        .acquire_owned()
        .await
        .expect("the semaphore is never closed");
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => return Ok((stream, peer, permit)),
            // The peer gave up before we accepted: nothing wrong with the listener.
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::ConnectionReset
                        | io::ErrorKind::Interrupted
                ) =>
            {
                tracing::debug!(%error, "accept failed; retrying");
            }
            Err(error) => return Err(error),
        }
    }
}

/// Completes once the server is shutting down (or gone).
async fn stopping(stopped: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is dropped here: it must not live across an await.
    let _ = stopped.wait_for(|stop| *stop).await;
}

type Sink = SplitSink<WebSocketStream<TcpStream>, Message>;

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let ws = tokio::select! {
        ws = tokio_tungstenite::accept_async(stream) => match ws {
            Ok(ws) => ws,
            Err(error) => {
                tracing::debug!(%peer, %error, "WebSocket handshake failed");
                return;
            }
        },
        () = stopping(&mut stopped) => return,
    };
    if let Err(error) = Connection::new(shared).serve(ws, stopped).await {
        tracing::debug!(%peer, %error, "connection ended with an error");
    }
}

/// What the read loop does after one frame.
enum Next {
    Continue,
    Close,
}

struct Connection {
    shared: Arc<Shared>,
    pending: Pending<()>,
    outbox: mpsc::Sender<Answer>,
    answers: mpsc::Receiver<Answer>,
}

impl Connection {
    fn new(shared: Arc<Shared>) -> Self {
        let (outbox, answers) = mpsc::channel(OUTBOX_CAPACITY);
        Connection {
            shared,
            pending: Pending::new(),
            outbox,
            answers,
        }
    }

    async fn serve(
        mut self,
        ws: WebSocketStream<TcpStream>,
        mut stopped: watch::Receiver<bool>,
    ) -> Result<(), tungstenite::Error> {
        let (mut sink, mut frames) = ws.split();
        loop {
            tokio::select! {
                () = stopping(&mut stopped) => {
                    let close = CloseFrame {
                        code: CloseCode::Away,
                        reason: "approver shutting down".into(),
                    };
                    let _ = sink.send(Message::Close(Some(close))).await;
                    return Ok(());
                }
                // `self.outbox` keeps the channel open, so `recv` never yields None here.
                Some(answer) = self.answers.recv() => {
                    if self.pending.finish(&answer).is_some() {
                        self.send_decision(&mut sink, &answer.decision).await?;
                    }
                }
                frame = frames.next() => match frame {
                    None => return Ok(()),
                    Some(Err(error)) => return Err(error),
                    Some(Ok(Message::Text(text))) => {
                        if let Next::Close = self.on_text(&mut sink, text.as_str()).await? {
                            // Sends a close frame; the proxy's reply is not awaited.
                            let _ = sink.close().await;
                            return Ok(());
                        }
                    }
                    Some(Ok(Message::Binary(bytes))) => {
                        self.shared.log.record(ApproverEvent::Malformed {
                            frame: format!("<binary frame, {} bytes>", bytes.len()),
                        });
                    }
                    // Pings are answered by tungstenite; a close is answered too, and the
                    // stream then ends.
                    Some(Ok(_)) => {}
                },
            }
        }
    }

    async fn on_text(&mut self, sink: &mut Sink, text: &str) -> Result<Next, tungstenite::Error> {
        let log = &self.shared.log;
        let frame = match serde_json::from_str::<ProxyFrame>(text) {
            Ok(frame) => frame,
            Err(error) => {
                tracing::warn!(%error, "malformed frame from the proxy");
                log.record(ApproverEvent::Malformed {
                    frame: text.to_string(),
                });
                return Ok(Next::Continue);
            }
        };
        match frame {
            ProxyFrame::Hello { protocol, agent } => {
                if protocol != sshgate_wire::PROTOCOL_VERSION {
                    tracing::warn!(protocol, %agent, "proxy speaks another protocol version");
                }
                log.record(ApproverEvent::Hello { protocol, agent });
            }
            ProxyFrame::Cancel { id, reason } => {
                log.record(ApproverEvent::Cancel {
                    id: id.clone(),
                    reason,
                });
                self.pending.cancel(&id);
            }
            ProxyFrame::Alert(alert) => log.record(ApproverEvent::Alert(alert)),
            ProxyFrame::Request(request) => {
                log.record(ApproverEvent::Request(request.clone()));
                match self.shared.config.plan(&request) {
                    Plan::Now(decision) => self.send_decision(sink, &decision).await?,
                    Plan::Later(later) => {
                        self.pending
                            .spawn(request.id, later, self.outbox.clone(), ());
                    }
                    Plan::Hold => self.pending.hold(request.id, ()),
                    Plan::Close => return Ok(Next::Close),
                    Plan::Malformed => {
                        sink.send(Message::text(malformed_decision_frame(&request.id)))
                            .await?;
                    }
                }
            }
        }
        Ok(Next::Continue)
    }

    async fn send_decision(
        &self,
        sink: &mut Sink,
        decision: &Decision,
    ) -> Result<(), tungstenite::Error> {
        self.shared.log.record(ApproverEvent::from(decision));
        let frame = ApproverFrame::Decision(decision.clone()).to_json();
        sink.send(Message::text(frame)).await
    }
}

/// A WebSocket approver server on `127.0.0.1:0`, running in a background task. Dropping it also
/// stops the server (without waiting); [`WsApprover::shutdown`] stops it and waits.
pub struct WsApprover {
    pub addr: SocketAddr,
    pub log: ApproverLog,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), Error>>,
}

impl WsApprover {
    /// Binds `127.0.0.1:0` and starts serving. Fails if the events file cannot be opened or the
    /// port cannot be bound.
    pub async fn spawn(config: Config) -> io::Result<Self> {
        let log = ApproverLog::open(config.events_file.as_deref())?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stop_requested) = oneshot::channel::<()>();
        let shutdown = async move {
            // Completes on send or when the sender is dropped with the `WsApprover`.
            let _ = stop_requested.await;
        };
        let task = tokio::spawn(run_with_log(config, log.clone(), listener, shutdown));
        Ok(WsApprover {
            addr,
            log,
            stop,
            task,
        })
    }

    /// The URL a proxy connects to: `ws://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Closes every connection and stops the server.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "approver server failed"),
            Err(error) => tracing::warn!(%error, "approver server task failed"),
        }
    }
}
