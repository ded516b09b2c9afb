//! The approver side of a replay: requests queue up until a `request` step claims them, and
//! each is answered exactly as the step says.
//!
//! Requests arrive through the in-process channel or through approval protocol v1 on a
//! WebSocket (for a proxy in another process); both end up in one queue. When many replays
//! share one proxy, an [`ApprovalRouter`] serves the WebSocket for all of them and hands each
//! request to the replay whose user it names. Invariant: nothing is approved that no step
//! approved, except requests for a line known to be blank (nothing to run), which are
//! approved on arrival so that a proxy asking about them is not failed for it. Requests
//! nobody claimed are reported at the end of the replay; a request for no known replay is
//! denied.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sshgate_wire::{Alert, ApprovalRequest, ApproverFrame, Decision, InProcessMessage, ProxyFrame};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

use crate::format::Answer;

/// Requests in flight between the proxy and this approver; a replay has a handful at most.
/// When full, the proxy's request waits (its own time-out still runs).
pub const APPROVAL_CAPACITY: usize = 64;

/// How an answer goes back to the proxy.
enum Reply {
    Channel(oneshot::Sender<Decision>),
    Socket {
        id: String,
        out: mpsc::Sender<SocketCommand>,
    },
}

enum SocketCommand {
    Frame(String),
    Close,
}

/// What reaches the approver, from the channel or a socket.
pub struct Incoming(IncomingKind);

enum IncomingKind {
    Request {
        // Boxed: a request is ten times the size of a cancel.
        request: Box<ApprovalRequest>,
        reply: Reply,
    },
    Cancel {
        id: String,
    },
    Alert(Alert),
}

impl Reply {
    fn send(self, decision: Decision) {
        match self {
            Reply::Channel(reply) => {
                let _ = reply.send(decision);
            }
            Reply::Socket { out, .. } => {
                let frame = ApproverFrame::Decision(decision).to_json();
                let _ = out.try_send(SocketCommand::Frame(frame));
            }
        }
    }

    /// An answer that does not parse; on the channel, the reply is dropped (a denial).
    fn garble(self) {
        if let Reply::Socket { id, out } = self {
            let frame = mock_approver::rule::malformed_decision_frame(&id);
            let _ = out.try_send(SocketCommand::Frame(frame));
        }
    }

    /// The approver goes away: the socket closes, the reply is dropped.
    fn hang_up(self) {
        if let Reply::Socket { out, .. } = self {
            let _ = out.try_send(SocketCommand::Close);
        }
    }
}

/// A request waiting for a step to claim it.
pub struct Pending {
    pub request: ApprovalRequest,
    reply: Reply,
}

/// Something the approver saw or did, for the transcript.
#[derive(Debug, Clone, PartialEq)]
pub enum ApprovalEvent {
    Request(ApprovalRequest),
    Answer { id: String, answer: String },
    Cancel { id: String },
    Alert { reason: String },
}

pub struct ScriptedApprover {
    receiver: mpsc::Receiver<Incoming>,
    queue: VecDeque<Pending>,
    /// Replies kept open on purpose (`never`): dropping them would deny.
    held: Vec<Reply>,
    /// The in-process forwarder and the WebSocket server; aborted with the approver.
    tasks: JoinSet<()>,
    cancelled: Vec<String>,
    /// Requests the proxy cancelled before any step claimed them: still requests the case did
    /// not expect (whether the cancel comes before the case ends is the proxy's timing).
    withdrawn: Vec<ApprovalRequest>,
    alerts: Vec<Alert>,
    /// After a `drop` answer the approver is gone: every later request is dropped too.
    gone: bool,
    /// Every request is answered by the rule as it arrives, no step claiming it (see
    /// [`ReplayOptions::rule_for_every_request`](crate::ReplayOptions)).
    rule_for_every_request: bool,
    pub events: Vec<ApprovalEvent>,
}

/// The mock approver's rule: deny (reason `blocked`) a command containing `DENY`.
fn rule(request: &ApprovalRequest) -> Decision {
    mock_approver::rule_decision(mock_approver::DEFAULT_DENY_MARKER, request)
}

/// Where a proxy under test sends its requests to a [`ScriptedApprover`].
pub struct Endpoints {
    pub channel: mpsc::Sender<InProcessMessage>,
    /// `ws://127.0.0.1:PORT`, speaking approval protocol v1, when asked for.
    pub url: Option<String>,
}

impl ScriptedApprover {
    /// An approver reachable in-process and, with `websocket`, on a loopback WebSocket too.
    /// (The socket is opened only when needed: hundreds of replays each binding a port they
    /// never use cost the kernel more than the replays themselves.)
    pub async fn start(websocket: bool) -> std::io::Result<(ScriptedApprover, Endpoints)> {
        let (incoming, receiver) = mpsc::channel(APPROVAL_CAPACITY);
        let (channel, mut messages) = mpsc::channel::<InProcessMessage>(APPROVAL_CAPACITY);
        let mut approver = ScriptedApprover::new(receiver);
        let url = if websocket {
            let listener = TcpListener::bind("127.0.0.1:0").await?;
            let url = format!("ws://{}", listener.local_addr()?);
            approver
                .tasks
                .spawn(serve_sockets(listener, Routes::One(incoming.clone())));
            Some(url)
        } else {
            None
        };
        approver.tasks.spawn(async move {
            while let Some(message) = messages.recv().await {
                let kind = match message {
                    InProcessMessage::Request { request, reply } => IncomingKind::Request {
                        request: Box::new(request),
                        reply: Reply::Channel(reply),
                    },
                    InProcessMessage::Cancel { id, .. } => IncomingKind::Cancel { id },
                    InProcessMessage::Alert(alert) => IncomingKind::Alert(alert),
                };
                if incoming.send(Incoming(kind)).await.is_err() {
                    return;
                }
            }
        });
        Ok((approver, Endpoints { channel, url }))
    }

    fn new(receiver: mpsc::Receiver<Incoming>) -> Self {
        ScriptedApprover {
            receiver,
            queue: VecDeque::new(),
            held: Vec::new(),
            tasks: JoinSet::new(),
            cancelled: Vec::new(),
            withdrawn: Vec::new(),
            alerts: Vec::new(),
            gone: false,
            rule_for_every_request: false,
            events: Vec::new(),
        }
    }

    /// The next message from the proxy.
    pub async fn recv(&mut self) -> Option<Incoming> {
        self.receiver.recv().await
    }

    pub fn on_message(&mut self, message: Incoming) {
        match message.0 {
            IncomingKind::Request { request, reply } => {
                let request = *request;
                self.events.push(ApprovalEvent::Request(request.clone()));
                if self.gone {
                    reply.hang_up();
                    return;
                }
                if self.rule_for_every_request {
                    self.answer(Pending { request, reply }, &Answer::Rule);
                    return;
                }
                if request.certain && request.command.trim().is_empty() {
                    self.record(&request.id, "approve (blank line)");
                    reply.send(Decision::approve(&request.id));
                    return;
                }
                self.queue.push_back(Pending { request, reply });
            }
            IncomingKind::Cancel { id } => {
                self.events.push(ApprovalEvent::Cancel { id: id.clone() });
                if let Some(at) = self.queue.iter().position(|p| p.request.id == id) {
                    let pending = self.queue.remove(at).expect("found above");
                    self.withdrawn.push(pending.request);
                }
                self.cancelled.push(id);
            }
            IncomingKind::Alert(alert) => {
                self.events.push(ApprovalEvent::Alert {
                    reason: alert.reason.clone(),
                });
                self.alerts.push(alert);
            }
        }
    }

    /// From now on, answer every request by the rule as it arrives.
    pub fn answer_every_request_by_rule(&mut self) {
        self.rule_for_every_request = true;
    }

    /// The oldest request no step has claimed yet.
    pub fn claim(&mut self) -> Option<Pending> {
        self.queue.pop_front()
    }

    pub fn was_cancelled(&self, id: &str) -> bool {
        self.cancelled.iter().any(|cancelled| cancelled == id)
    }

    /// Whether an alert whose reason contains `text` arrived.
    pub fn was_alerted(&self, text: &str) -> bool {
        self.alerts.iter().any(|alert| alert.reason.contains(text))
    }

    /// The requests waiting for a step to claim them.
    pub fn unclaimed(&self) -> Vec<ApprovalRequest> {
        self.queue
            .iter()
            .map(|pending| pending.request.clone())
            .collect()
    }

    /// Every request no step claimed, cancelled ones included: at the end of a case, each is
    /// one the case did not expect.
    pub fn never_claimed(&self) -> Vec<ApprovalRequest> {
        let mut requests = self.withdrawn.clone();
        requests.extend(self.unclaimed());
        requests
    }

    pub fn answer(&mut self, pending: Pending, answer: &Answer) {
        let Pending { request, reply } = pending;
        let id = request.id.as_str();
        match answer {
            Answer::Rule => {
                let decision = rule(&request);
                let how = match &decision.reason {
                    None => "approve (the rule)".to_string(),
                    Some(reason) => format!("deny (the rule): {reason}"),
                };
                self.send(reply, decision, &how)
            }
            Answer::Approve => self.send(reply, Decision::approve(id), "approve"),
            Answer::Deny(reason) => self.send(reply, Decision::deny(id, reason), "deny"),
            Answer::Delay(ms) => {
                self.record(id, &format!("rule after {ms} ms"));
                let decision = rule(&request);
                let delay = Duration::from_millis(*ms);
                self.tasks.spawn(async move {
                    tokio::time::sleep(delay).await;
                    reply.send(decision);
                });
            }
            Answer::Never => {
                self.record(id, "never");
                self.held.push(reply);
            }
            Answer::Drop => {
                self.record(id, "drop the connection");
                self.gone = true;
                reply.hang_up();
                for pending in self.queue.drain(..) {
                    pending.reply.hang_up();
                }
                for held in self.held.drain(..) {
                    held.hang_up();
                }
            }
            Answer::Malformed => {
                self.record(id, "malformed");
                reply.garble();
            }
        }
    }

    fn send(&mut self, reply: Reply, decision: Decision, how: &str) {
        self.record(&decision.id, how);
        reply.send(decision);
    }

    fn record(&mut self, id: &str, answer: &str) {
        self.events.push(ApprovalEvent::Answer {
            id: id.to_string(),
            answer: answer.to_string(),
        });
    }
}

/// One WebSocket approver for many replays at once, for a proxy that has a single approver
/// URL: each request goes to the scripted approver of the replay whose operator it names
/// (`request.user`), and a cancel to the replay that got the request.
pub struct ApprovalRouter {
    url: String,
    routes: Arc<UserRoutes>,
    server: tokio::task::AbortHandle,
}

#[derive(Default)]
struct UserRoutes(Mutex<HashMap<String, mpsc::Sender<Incoming>>>);

impl UserRoutes {
    fn get(&self, user: &str) -> Option<mpsc::Sender<Incoming>> {
        self.lock().get(user).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, mpsc::Sender<Incoming>>> {
        // A panic while holding the lock cannot leave the map half-changed.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl ApprovalRouter {
    /// Listen on `address` (port 0 picks one).
    pub async fn bind(address: SocketAddr) -> std::io::Result<ApprovalRouter> {
        let listener = TcpListener::bind(address).await?;
        let url = format!("ws://{}", listener.local_addr()?);
        let routes = Arc::new(UserRoutes::default());
        let server = tokio::spawn(serve_sockets(listener, Routes::ByUser(routes.clone())));
        Ok(ApprovalRouter {
            url,
            routes,
            server: server.abort_handle(),
        })
    }

    /// `ws://HOST:PORT`, speaking approval protocol v1.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A scripted approver for the requests that name `user`, until [`forget`](Self::forget).
    pub fn register(&self, user: &str) -> ScriptedApprover {
        let (incoming, receiver) = mpsc::channel(APPROVAL_CAPACITY);
        self.routes.lock().insert(user.to_string(), incoming);
        ScriptedApprover::new(receiver)
    }

    pub fn forget(&self, user: &str) {
        self.routes.lock().remove(user);
    }
}

impl Drop for ApprovalRouter {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Where the frames arriving on the approver's sockets go.
#[derive(Clone)]
enum Routes {
    /// All to one replay.
    One(mpsc::Sender<Incoming>),
    /// To the replay registered for the request's user.
    ByUser(Arc<UserRoutes>),
}

impl Routes {
    fn for_request(&self, request: &ApprovalRequest) -> Option<mpsc::Sender<Incoming>> {
        self.for_user(&request.user)
    }

    fn for_user(&self, user: &str) -> Option<mpsc::Sender<Incoming>> {
        match self {
            Routes::One(incoming) => Some(incoming.clone()),
            Routes::ByUser(routes) => routes.get(user),
        }
    }
}

/// Accept proxy connections and turn their frames into [`Incoming`] messages.
async fn serve_sockets(listener: TcpListener, routes: Routes) {
    let mut connections = JoinSet::new();
    while let Ok((stream, _)) = listener.accept().await {
        let routes = routes.clone();
        connections.spawn(async move {
            if let Ok(socket) = tokio_tungstenite::accept_async(stream).await {
                serve_socket(socket, routes).await;
            }
        });
    }
}

async fn serve_socket(
    socket: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    routes: Routes,
) {
    let (mut sink, mut stream) = socket.split();
    // Answers for this connection.
    let (out, mut commands) = mpsc::channel(APPROVAL_CAPACITY);
    // Which replay each request on this connection went to, for its cancel.
    let mut routed: HashMap<String, mpsc::Sender<Incoming>> = HashMap::new();
    loop {
        tokio::select! {
            command = commands.recv() => match command {
                Some(SocketCommand::Frame(text)) => {
                    if sink.send(Message::text(text)).await.is_err() {
                        return;
                    }
                }
                Some(SocketCommand::Close) | None => {
                    let _ = sink.close().await;
                    return;
                }
            },
            frame = stream.next() => {
                let Some(Ok(Message::Text(text))) = frame else {
                    match frame {
                        Some(Ok(_)) => continue,
                        _ => return,
                    }
                };
                // Frames that do not parse are the proxy's fault; the step waiting for a
                // request reports that none came.
                let (destination, kind) = match serde_json::from_str::<ProxyFrame>(text.as_str()) {
                    Ok(ProxyFrame::Request(request)) => {
                        let reply = Reply::Socket { id: request.id.clone(), out: out.clone() };
                        let Some(destination) = routes.for_request(&request) else {
                            tracing::warn!(user = %request.user, "a request for no replay: denied");
                            reply.send(Decision::deny(&request.id, "no conformance case logged in as this user"));
                            continue;
                        };
                        routed.insert(request.id.clone(), destination.clone());
                        (destination, IncomingKind::Request { reply, request: Box::new(request) })
                    }
                    Ok(ProxyFrame::Cancel { id, .. }) => match routed.remove(&id) {
                        Some(destination) => (destination, IncomingKind::Cancel { id }),
                        None => continue,
                    },
                    Ok(ProxyFrame::Alert(alert)) => match routes.for_user(&alert.user) {
                        Some(destination) => (destination, IncomingKind::Alert(alert)),
                        None => continue,
                    },
                    Ok(ProxyFrame::Hello { .. }) | Err(_) => continue,
                };
                // A replay that has ended no longer listens; the proxy's own time-out
                // handles what it asked.
                let _ = destination.send(Incoming(kind)).await;
            }
        }
    }
}
