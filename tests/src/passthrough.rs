//! The negative control: an SSH proxy that forwards everything and gates nothing, plus the
//! relay it is built on.
//!
//! Every gating test must fail against the pass-through; a test that passes here cannot tell a
//! gating proxy from a plain relay. The relay takes a [`Gate`] so that the other control, the
//! naive approval proxy (`crate::naive`), is this same relay with a gate on exec and on the
//! operator's shell input rather than a copy of it. Test code only, never part of sshgate.
//!
//! The relay accepts any client (`none`, `password`, any public key), accepts any target host
//! key, and logs in to the target as the user the operator gave, with the `none` method or
//! with a key of its own ([`PassThrough::spawn_with_identity`], for OpenSSH's sshd). It passes
//! on everything an operator's client asks for: environment variables and terminal modes too.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use russh::keys::{PrivateKey, PrivateKeyWithHashAlg};
use russh::server::{
    Auth, ChannelOpenHandle, Msg, PublicKeyOffer, Server as _, Session, VerifiedPublicKey,
};
use russh::{Channel, ChannelId, ChannelMsg, MethodKind, MethodSet};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::operator::AnyHostKey;

/// A gate's answer: `Ok(())` lets the command through, `Err(reason)` refuses it.
pub type Verdict = Result<(), String>;

/// A verdict still being decided.
pub type VerdictFuture = Pin<Box<dyn Future<Output = Verdict> + Send>>;

/// What the relay knows about the operator's connection, for a gate's requests.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    /// Unique per connection within this process (prefixed with the process id).
    pub session: String,
    /// The user the operator authenticated as; also the user at the target.
    pub user: String,
    /// The operator's address, `ip:port` (empty if unknown).
    pub client: String,
    pub target: SocketAddr,
}

/// One thing for the relay to do with the operator's shell input.
pub enum Step {
    /// Send these bytes to the target's shell.
    ToTarget(Vec<u8>),
    /// Send these bytes to the operator's terminal.
    ToOperator(Vec<u8>),
    /// Wait for this verdict, then hand it to [`ShellGate::decided`]. The relay keeps relaying
    /// target output and window changes meanwhile; holding the operator's later input is the
    /// gate's job. At most one `Ask` is pending at a time, and it is the last step of a batch.
    Ask(VerdictFuture),
}

/// A policy on what the relay forwards. One instance serves the whole proxy.
pub trait Gate: Send + Sync + 'static {
    /// Decide an exec request before it reaches the target.
    fn exec(&self, session: &SessionInfo, command: &[u8]) -> VerdictFuture;
    /// A shell started on a channel with a PTY: `None` forwards its input untouched, `Some`
    /// routes every operator byte through the returned gate.
    fn shell(&self, session: &SessionInfo) -> Option<Box<dyn ShellGate>>;
    /// Whether exec requests are taken at all; a refused one gets a failure reply.
    fn takes_exec(&self) -> bool {
        true
    }
}

/// The gate on one PTY shell's operator-to-target bytes.
pub trait ShellGate: Send {
    /// Operator bytes arrived (in order, in arbitrary chunks).
    fn input(&mut self, bytes: &[u8]) -> Vec<Step>;
    /// The verdict of the pending [`Step::Ask`].
    fn decided(&mut self, verdict: Verdict) -> Vec<Step>;
}

/// The gate that gates nothing.
pub struct Open;

impl Gate for Open {
    fn exec(&self, _: &SessionInfo, _: &[u8]) -> VerdictFuture {
        Box::pin(std::future::ready(Ok(())))
    }

    fn shell(&self, _: &SessionInfo) -> Option<Box<dyn ShellGate>> {
        None
    }
}

/// A running relay proxy; dropping it stops it and disconnects its sessions.
pub struct RelayProxy {
    pub addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

impl RelayProxy {
    /// Serve on `listener`, relaying each operator to `target` through `gate`.
    pub fn start(
        listener: TcpListener,
        target: SocketAddr,
        gate: Arc<dyn Gate>,
    ) -> std::io::Result<RelayProxy> {
        Self::start_logging_in(listener, target, gate, None)
    }

    /// [`start`](Self::start), logging in to the target with `identity` (public key) rather
    /// than `none` when given.
    pub fn start_logging_in(
        listener: TcpListener,
        target: SocketAddr,
        gate: Arc<dyn Gate>,
        identity: Option<Arc<PrivateKey>>,
    ) -> std::io::Result<RelayProxy> {
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let mut methods = MethodSet::empty();
        methods.push(MethodKind::None);
        methods.push(MethodKind::Password);
        methods.push(MethodKind::PublicKey);
        let config = Arc::new(russh::server::Config {
            keys: vec![sshgate::credentials::generate_host_key()],
            methods,
            auth_rejection_time: std::time::Duration::ZERO,
            nodelay: true,
            ..Default::default()
        });
        tokio::spawn(async move {
            let mut server = Relay {
                target,
                gate,
                identity,
                client: None,
                user: String::new(),
            };
            let running = server.run_on_socket(config, &listener);
            let handle = running.handle();
            tokio::select! {
                _ = running => {}
                _ = stopped => handle.shutdown("stopped".into()),
            }
        });
        Ok(RelayProxy { addr, _stop: stop })
    }
}

/// A running pass-through proxy; dropping it stops it.
pub struct PassThrough {
    pub addr: SocketAddr,
    _relay: RelayProxy,
}

impl PassThrough {
    /// Listen on a free port of 127.0.0.1.
    pub async fn spawn(target: SocketAddr) -> PassThrough {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        PassThrough::start(listener, target).unwrap()
    }

    pub fn start(listener: TcpListener, target: SocketAddr) -> std::io::Result<PassThrough> {
        let relay = RelayProxy::start(listener, target, Arc::new(Open))?;
        Ok(PassThrough {
            addr: relay.addr,
            _relay: relay,
        })
    }

    /// On a free port of 127.0.0.1, logging in to the target with `identity` (a target that
    /// wants a public key, such as OpenSSH's sshd in `real_target`).
    pub async fn spawn_with_identity(target: SocketAddr, identity: PrivateKey) -> PassThrough {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let relay = RelayProxy::start_logging_in(
            listener,
            target,
            Arc::new(Open),
            Some(Arc::new(identity)),
        )
        .unwrap();
        PassThrough {
            addr: relay.addr,
            _relay: relay,
        }
    }
}

static SESSIONS: AtomicU64 = AtomicU64::new(0);

/// The server, and one handler per connection.
#[derive(Clone)]
struct Relay {
    target: SocketAddr,
    gate: Arc<dyn Gate>,
    /// The key to log in to the target with; `none` without one.
    identity: Option<Arc<PrivateKey>>,
    client: Option<SocketAddr>,
    /// The user of the last accepted authentication.
    user: String,
}

impl russh::server::Server for Relay {
    type Handler = Relay;
    fn new_client(&mut self, client: Option<SocketAddr>) -> Relay {
        Relay {
            client,
            ..self.clone()
        }
    }
}

impl Relay {
    fn accept(&mut self, user: &str) -> Result<Auth, russh::Error> {
        self.user = user.to_string();
        Ok(Auth::Accept)
    }
}

impl russh::server::Handler for Relay {
    type Error = russh::Error;

    async fn auth_none(&mut self, user: &str) -> Result<Auth, Self::Error> {
        self.accept(user)
    }

    async fn auth_password(&mut self, user: &str, _: &str) -> Result<Auth, Self::Error> {
        self.accept(user)
    }

    async fn auth_publickey_offered(
        &mut self,
        _: &str,
        _: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(Auth::Accept)
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        _: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        self.accept(user)
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _: &mut Session,
    ) -> Result<(), Self::Error> {
        let config = Arc::new(russh::client::Config {
            nodelay: true,
            ..Default::default()
        });
        let mut target = russh::client::connect(config, self.target, AnyHostKey).await?;
        let login = match &self.identity {
            Some(key) => {
                let key = PrivateKeyWithHashAlg::new(key.clone(), None);
                target.authenticate_publickey(&self.user, key).await?
            }
            None => target.authenticate_none(&self.user).await?,
        };
        if !login.success() {
            return Err(russh::Error::NotAuthenticated);
        }
        let target_channel = target.channel_open_session().await?;
        reply.accept().await;
        let session = SessionInfo {
            session: format!(
                "{}-{}",
                std::process::id(),
                SESSIONS.fetch_add(1, Ordering::Relaxed)
            ),
            user: self.user.clone(),
            client: self.client.map(|a| a.to_string()).unwrap_or_default(),
            target: self.target,
        };
        let gate = self.gate.clone();
        tokio::spawn(async move {
            relay(channel, target_channel, &*gate, &session).await;
            drop(target);
        });
        Ok(())
    }

    /// A relay forwards ports too: the control for sshgate's refusal.
    async fn channel_open_direct_tcpip(
        &mut self,
        channel: Channel<Msg>,
        host: &str,
        port: u32,
        _: &str,
        _: u32,
        reply: ChannelOpenHandle,
        _: &mut Session,
    ) -> Result<(), Self::Error> {
        let port = u16::try_from(port).unwrap_or(0);
        if let Ok(mut stream) = tokio::net::TcpStream::connect((host, port)).await {
            reply.accept().await;
            tokio::spawn(async move {
                let mut channel = channel.into_stream();
                let _ = tokio::io::copy_bidirectional(&mut channel, &mut stream).await;
            });
        }
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _: &str,
        _: u32,
        _: u32,
        _: u32,
        _: u32,
        _: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.gate.takes_exec() {
            session.channel_success(channel)
        } else {
            session.channel_failure(channel)
        }
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        _: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }
}

type ToTarget = russh::ChannelWriteHalf<russh::client::Msg>;
type ToOperator = russh::ChannelWriteHalf<Msg>;

/// Relay one session channel until either side closes it.
async fn relay(
    client: Channel<Msg>,
    target: Channel<russh::client::Msg>,
    gate: &dyn Gate,
    session: &SessionInfo,
) {
    let (mut from_client, to_client) = client.split();
    let (mut from_target, to_target) = target.split();
    let mut pty = false;
    let mut shell: Option<Box<dyn ShellGate>> = None;
    let mut pending: Option<VerdictFuture> = None;
    loop {
        tokio::select! {
            verdict = async { pending.as_mut().expect("guarded").await }, if pending.is_some() => {
                pending = None;
                let steps = match shell.as_mut() {
                    Some(shell) => shell.decided(verdict),
                    None => Vec::new(),
                };
                if run(steps, &to_target, &to_client, &mut pending).await.is_err() {
                    break;
                }
            }
            message = from_client.wait() => {
                let sent = match message {
                    Some(ChannelMsg::Data { data }) => match shell.as_mut() {
                        Some(gate) => {
                            let steps = gate.input(&data);
                            run(steps, &to_target, &to_client, &mut pending).await
                        }
                        None => to_target.data(&data[..]).await,
                    },
                    Some(ChannelMsg::RequestPty {
                        term, col_width, row_height, pix_width, pix_height, terminal_modes, ..
                    }) => {
                        pty = true;
                        to_target
                            .request_pty(
                                false, &term, col_width, row_height, pix_width, pix_height,
                                &terminal_modes,
                            )
                            .await
                    }
                    Some(ChannelMsg::SetEnv { variable_name, variable_value, .. }) => {
                        to_target.set_env(false, variable_name, variable_value).await
                    }
                    Some(ChannelMsg::RequestShell { .. }) => {
                        if pty {
                            shell = gate.shell(session);
                        }
                        to_target.request_shell(true).await
                    }
                    // Refused with a failure reply by the handler.
                    Some(ChannelMsg::Exec { .. }) if !gate.takes_exec() => Ok(()),
                    Some(ChannelMsg::Exec { command, .. }) => {
                        match gate.exec(session, &command).await {
                            Ok(()) => to_target.exec(true, command).await,
                            Err(reason) => {
                                refuse_exec(&to_client, &reason).await;
                                break;
                            }
                        }
                    }
                    Some(ChannelMsg::RequestSubsystem { name, .. }) => {
                        to_target.request_subsystem(true, name).await
                    }
                    Some(ChannelMsg::WindowChange { col_width, row_height, .. }) => {
                        to_target.window_change(col_width, row_height, 0, 0).await
                    }
                    Some(ChannelMsg::Eof) => to_target.eof().await,
                    Some(ChannelMsg::Close) | None => break,
                    Some(_) => Ok(()),
                };
                if sent.is_err() {
                    break;
                }
            }
            message = from_target.wait() => {
                let sent = match message {
                    Some(ChannelMsg::Data { data }) => to_client.data(&data[..]).await,
                    Some(ChannelMsg::ExtendedData { data, ext }) => {
                        to_client.extended_data(ext, &data[..]).await
                    }
                    Some(ChannelMsg::ExitStatus { exit_status }) => {
                        to_client.exit_status(exit_status).await
                    }
                    Some(ChannelMsg::Eof) => to_client.eof().await,
                    Some(ChannelMsg::Close) | None => break,
                    Some(_) => Ok(()),
                };
                if sent.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to_client.close().await;
    let _ = to_target.close().await;
}

/// Carry out a gate's steps in order; an `Ask` becomes the pending verdict.
async fn run(
    steps: Vec<Step>,
    to_target: &ToTarget,
    to_client: &ToOperator,
    pending: &mut Option<VerdictFuture>,
) -> Result<(), russh::Error> {
    for step in steps {
        match step {
            Step::ToTarget(bytes) if bytes.is_empty() => {}
            Step::ToTarget(bytes) => to_target.data(&bytes[..]).await?,
            Step::ToOperator(bytes) => to_client.data(&bytes[..]).await?,
            Step::Ask(verdict) => *pending = Some(verdict),
        }
    }
    Ok(())
}

/// A refused exec: the reason on stderr, exit status 1, end of the channel.
async fn refuse_exec(to_client: &ToOperator, reason: &str) {
    let message = format!("denied: {reason}\r\n");
    let _ = to_client.extended_data(1, message.as_bytes()).await;
    let _ = to_client.exit_status(1).await;
    let _ = to_client.eof().await;
}

/// For the control binaries' `--listen` and `--target`: `HOST:PORT`, resolved now (the first
/// address wins).
pub fn resolve(text: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    text.to_socket_addrs()
        .map_err(|error| format!("{text}: {error}"))?
        .next()
        .ok_or_else(|| format!("{text}: no address"))
}

/// A control proxy as a process: listen on `listen`, relay to `target` through `gate`
/// (logging in with the key in the file `identity`, else with `none`), print the readiness
/// line `<name> listening on ADDR`, and serve until killed. Failing to start is one line on
/// stderr and exit status 1.
pub async fn serve_as_process(
    name: &str,
    listen: SocketAddr,
    target: SocketAddr,
    identity: Option<&std::path::Path>,
    gate: Arc<dyn Gate>,
) -> std::process::ExitCode {
    use std::io::Write;
    let identity = match identity.map(sshgate::credentials::load_private_key) {
        None => None,
        Some(Ok(key)) => Some(Arc::new(key)),
        Some(Err(error)) => {
            eprintln!("{name}: --identity: {error}");
            return std::process::ExitCode::from(1);
        }
    };
    let started = match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => RelayProxy::start_logging_in(listener, target, gate, identity),
        Err(error) => Err(error),
    };
    let proxy = match started {
        Ok(proxy) => proxy,
        Err(error) => {
            eprintln!("{name}: cannot listen on {listen}: {error}");
            return std::process::ExitCode::from(1);
        }
    };
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{name} listening on {}", proxy.addr);
    let _ = stdout.flush();
    drop(stdout);
    std::future::pending::<()>().await;
    drop(proxy);
    std::process::ExitCode::SUCCESS
}
