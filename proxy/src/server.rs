//! The operator side: the SSH server, its authentication, and the hand-off of each channel
//! to its own [`bridge`](crate::bridge) task.
//!
//! Handler methods only answer the protocol (accept, refuse, acknowledge a request) and never
//! wait for an approval; the waiting happens in the bridge task of the channel concerned.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use russh::keys::PrivateKey;
use russh::server::{Auth, Msg, PublicKeyOffer, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId, MethodKind, MethodSet};

use crate::accept::{self, Admission, ConnectionLimits};
use crate::approval::ApprovalPath;
use crate::audit::record::{Login, LoginMethod, Record};
use crate::audit::AuditLog;
use crate::authorized_keys::KeyOptions;
use crate::bridge::{self, ChannelContext};
use crate::client_keys::ClientKeys;
use crate::credentials::fingerprint;
use crate::exec_input::ConnectionChannels;
use crate::guard::GuardMode;
use crate::log_text::quoted;
use crate::proxy_protocol::Balancers;
use crate::recording::RecordingSettings;
use crate::target::{TargetLink, TargetSettings};

/// Who may connect to the proxy.
#[derive(Debug, Clone)]
pub enum ClientAuth {
    /// Keys from an authorized_keys file and/or a keys command, with their options.
    AuthorizedKeys(Arc<ClientKeys>),
    /// Any client, any method: for tests and demos only, and logged as such.
    InsecureAcceptAny,
}

/// Everything the proxy needs to serve, already loaded and checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub host_key: PrivateKey,
    pub client_auth: ClientAuth,
    /// Also let operators log in with a password, which the target checks: the proxy logs in
    /// to the target with it and accepts the operator only if the target does.
    pub password_pass_through: bool,
    pub target: TargetSettings,
    /// How long a submitted shell line waits for the target to show it.
    pub echo_wait: Duration,
    /// Connections served at once and how long they may take to log in.
    pub limits: ConnectionLimits,
    /// Load balancers that send a PROXY header with the operator's address.
    pub balancers: Balancers,
    /// Where shell and exec channels are recorded (asciicast); None: not recorded.
    pub recording: Option<RecordingSettings>,
    /// Where logins, sessions, requests and decisions are recorded (`--audit`).
    pub audit: AuditLog,
    /// Whether a shell's guard on the target is woken and answered (`--guard`).
    pub guard: GuardMode,
}

impl Settings {
    /// A proxy in front of a local target pinned by its host key, letting any operator in:
    /// the demo, the self-run and tests.
    pub fn for_local_target(
        host_key: PrivateKey,
        target: SocketAddr,
        target_key: &russh::keys::PublicKey,
    ) -> Settings {
        Settings {
            host_key,
            client_auth: ClientAuth::InsecureAcceptAny,
            password_pass_through: false,
            target: TargetSettings {
                address: target.to_string(),
                user: None,
                identity: None,
                key_policy: crate::credentials::TargetKeyPolicy::Fingerprint(fingerprint(
                    target_key,
                )),
            },
            echo_wait: crate::target_screen::ECHO_WAIT,
            // No login grace time: tests replay on a paused clock, which would jump to it.
            limits: ConnectionLimits {
                login_grace: None,
                ..ConnectionLimits::default()
            },
            balancers: Balancers::default(),
            recording: None,
            audit: AuditLog::off(),
            guard: GuardMode::default(),
        }
    }
}

/// The note of a login let in by `--insecure-accept-any-client`.
const INSECURE: &str = "any client accepted (--insecure-accept-any-client)";
const NOT_AUTHORIZED: &str = "key not in --authorized-keys";

struct Shared {
    settings: Settings,
    target: Arc<TargetSettings>,
    approval: ApprovalPath,
}

impl Shared {
    /// The handler for a connection from `peer`, admitted with `admission`.
    fn connection(self: &Arc<Self>, peer: SocketAddr, admission: Admission) -> ClientConnection {
        ClientConnection {
            shared: self.clone(),
            admission,
            peer: Some(peer),
            session: random_id(),
            user: String::new(),
            password: None,
            key_options: Arc::new(KeyOptions::unrestricted("no key")),
            target: None,
            request_ids: Arc::new(AtomicU64::new(1)),
            started: HashSet::new(),
            channels: ConnectionChannels::default(),
        }
    }
}

fn random_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// One operator connection.
pub struct ClientConnection {
    shared: Arc<Shared>,
    /// Its place among the connections served; given back when it ends.
    admission: Admission,
    peer: Option<SocketAddr>,
    session: String,
    user: String,
    /// The password the operator logged in with, passed through to the target.
    password: Option<String>,
    /// What the options of the key the operator logged in with allow (all, without a key).
    key_options: Arc<KeyOptions>,
    target: Option<Arc<TargetLink>>,
    request_ids: Arc<AtomicU64>,
    /// Channels that already had their shell, exec or subsystem: there is one per channel.
    started: HashSet<ChannelId>,
    /// The channels being served, each counted until its bridge ends.
    channels: ConnectionChannels,
}

impl ClientConnection {
    fn accept_any(&self) -> bool {
        matches!(
            self.shared.settings.client_auth,
            ClientAuth::InsecureAcceptAny
        )
    }

    /// The options `key` logs in with; None when no line lets it in. A key listed only on
    /// lines whose from= or expiry-time= refuse it is logged with their reasons, whether it is
    /// offered or used.
    async fn key_options(&self, user: &str, key: &russh::keys::PublicKey) -> Option<KeyOptions> {
        let keys = match &self.shared.settings.client_auth {
            ClientAuth::InsecureAcceptAny => {
                return Some(KeyOptions::unrestricted("--insecure-accept-any-client"))
            }
            ClientAuth::AuthorizedKeys(keys) => keys,
        };
        match keys
            .authorize(user, key, self.peer.map(|peer| peer.ip()))
            .await
        {
            Ok(options) => Some(options),
            Err(refusals) => {
                if !refusals.is_empty() {
                    tracing::warn!(
                        user = %quoted(user),
                        key = %fingerprint(key),
                        peer = ?self.peer,
                        refusals = %quoted(refusals.join("; ")),
                        "key refused by the options of the lines listing it"
                    );
                }
                None
            }
        }
    }

    /// Acknowledge the first shell, exec or subsystem of a channel; refuse any later one.
    fn start(&mut self, channel: ChannelId, session: &mut Session) -> Result<(), russh::Error> {
        if self.started.insert(channel) {
            session.channel_success(channel)
        } else {
            session.channel_failure(channel)
        }
    }

    /// The operator's address, `ip:port`.
    fn client(&self) -> String {
        self.peer.map(|peer| peer.to_string()).unwrap_or_default()
    }

    /// Accept the login of `user`, and record it; `note` says why when a test-only setting
    /// let it in.
    async fn authenticated(
        &mut self,
        user: &str,
        method: LoginMethod,
        key: Option<String>,
        note: Option<&str>,
    ) -> Auth {
        tracing::info!(
            session = %self.session,
            user = %quoted(user),
            ?method,
            key = key.as_deref().unwrap_or(""),
            note = note.unwrap_or(""),
            peer = ?self.peer,
            "operator authenticated"
        );
        self.record_login(user, method, key, true, note).await;
        self.user = user.to_string();
        self.admission.authenticated();
        Auth::Accept
    }

    /// Refuse a login of `user`, and record why.
    async fn refused(
        &self,
        user: &str,
        method: LoginMethod,
        key: Option<String>,
        why: &str,
    ) -> Auth {
        tracing::warn!(
            session = %self.session,
            user = %quoted(user),
            ?method,
            key = key.as_deref().unwrap_or(""),
            why = %quoted(why),
            peer = ?self.peer,
            "login refused"
        );
        self.record_login(user, method, key, false, Some(why)).await;
        Auth::reject()
    }

    async fn record_login(
        &self,
        user: &str,
        method: LoginMethod,
        key: Option<String>,
        success: bool,
        note: Option<&str>,
    ) {
        let login = Login {
            session: self.session.clone(),
            user: user.to_string(),
            method,
            key,
            client: self.client(),
            success,
            note: note.map(str::to_string),
        };
        self.shared
            .settings
            .audit
            .record(Record::Login(login))
            .await;
    }
}

impl russh::server::Handler for ClientConnection {
    type Error = russh::Error;

    // A refused `none` is not recorded: every client asks with it first, to learn the methods.
    async fn auth_none(&mut self, user: &str) -> Result<Auth, Self::Error> {
        if self.accept_any() {
            let note = Some(INSECURE);
            return Ok(self
                .authenticated(user, LoginMethod::None, None, note)
                .await);
        }
        Ok(Auth::reject())
    }

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        if self.accept_any() {
            self.password = Some(password.to_string());
            let note = Some(INSECURE);
            return Ok(self
                .authenticated(user, LoginMethod::Password, None, note)
                .await);
        }
        if !self.shared.settings.password_pass_through {
            let why = "password logins are off (no --password-pass-through)";
            return Ok(self.refused(user, LoginMethod::Password, None, why).await);
        }
        // The target is the judge of the password: log in there with it, and keep that
        // connection for this operator's channels.
        let link = TargetLink::new(self.shared.target.clone(), user, Some(password.to_string()));
        match link.connect_now().await {
            Ok(()) => {
                self.target = Some(Arc::new(link));
                let note = Some("checked by the target (--password-pass-through)");
                Ok(self
                    .authenticated(user, LoginMethod::Password, None, note)
                    .await)
            }
            Err(refusal) => {
                let why = format!("the target refused it: {refusal}");
                Ok(self.refused(user, LoginMethod::Password, None, &why).await)
            }
        }
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        match self.key_options(user, offer.public_key).await {
            Some(_) => Ok(Auth::Accept),
            None => {
                let key = Some(fingerprint(offer.public_key));
                let why = NOT_AUTHORIZED;
                Ok(self.refused(user, LoginMethod::Publickey, key, why).await)
            }
        }
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        let offered = fingerprint(key.public_key);
        match self.key_options(user, key.public_key).await {
            Some(options) => {
                // Which line let it in, or the test-only setting that did.
                let note = match self.accept_any() {
                    true => INSECURE.to_string(),
                    false => format!("authorized by {}", options.origin),
                };
                self.key_options = Arc::new(options);
                Ok(self
                    .authenticated(user, LoginMethod::Publickey, Some(offered), Some(&note))
                    .await)
            }
            None => {
                let why = NOT_AUTHORIZED;
                Ok(self
                    .refused(user, LoginMethod::Publickey, Some(offered), why)
                    .await)
            }
        }
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let target = self
            .target
            .get_or_insert_with(|| {
                Arc::new(TargetLink::new(
                    self.shared.target.clone(),
                    &self.user,
                    self.password.clone(),
                ))
            })
            .clone();
        let context = ChannelContext {
            session: self.session.clone(),
            user: self.user.clone(),
            client: self.client(),
            approval: self.shared.approval.clone(),
            target,
            server: session.handle(),
            request_ids: self.request_ids.clone(),
            echo_wait: self.shared.settings.echo_wait,
            key_options: self.key_options.clone(),
            stopping: self.admission.stopping(),
            recording: self.shared.settings.recording.clone(),
            audit: self.shared.settings.audit.clone(),
            presence: self.channels.enter(),
            guard: self.shared.settings.guard,
        };
        reply.accept().await;
        tokio::spawn(bridge::run(context, channel));
        Ok(())
    }

    // Requests the bridge carries out are acknowledged at once: the answer to an exec or a
    // subsystem comes later as output and exit status, never by stalling the connection.
    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _term: &str,
        _cols: u32,
        _rows: u32,
        _pix_width: u32,
        _pix_height: u32,
        _modes: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if !self.key_options.pty {
            tracing::info!(
                session = %self.session,
                key = %quoted(&self.key_options.origin),
                "PTY refused: no-pty or restrict"
            );
            return session.channel_failure(channel);
        }
        session.channel_success(channel)
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        _value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.start(channel, session)
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _command: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.start(channel, session)
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        _name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.start(channel, session)
    }

    async fn x11_request(
        &mut self,
        channel: ChannelId,
        _single_connection: bool,
        _protocol: &str,
        _cookie: &str,
        _screen: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        tracing::info!(session = %self.session, "X11 forwarding refused");
        session.channel_failure(channel)
    }

    async fn tcpip_forward(
        &mut self,
        address: &str,
        port: &mut u32,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        tracing::info!(
            session = %self.session,
            address = %quoted(address),
            port = *port,
            "remote port forwarding refused"
        );
        Ok(false)
    }

    async fn channel_open_direct_tcpip(
        &mut self,
        _channel: Channel<Msg>,
        host: &str,
        port: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: russh::server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        tracing::info!(
            session = %self.session,
            host = %quoted(host),
            port,
            "local port forwarding refused"
        );
        reply
            .reject(russh::ChannelOpenFailure::AdministrativelyProhibited)
            .await;
        Ok(())
    }
}

/// Serve operators on `listener` until `shutdown` completes.
pub async fn run(
    settings: Settings,
    listener: tokio::net::TcpListener,
    approval: ApprovalPath,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let accept_any = matches!(settings.client_auth, ClientAuth::InsecureAcceptAny);
    if accept_any {
        tracing::warn!("--insecure-accept-any-client: any client can log in without a key");
    }
    tracing::info!(
        fingerprint = %fingerprint(settings.host_key.public_key()),
        "host key"
    );
    let mut methods = vec![MethodKind::PublicKey];
    if accept_any {
        methods.push(MethodKind::None);
    }
    if accept_any || settings.password_pass_through {
        methods.push(MethodKind::Password);
    }
    let config = Arc::new(russh::server::Config {
        server_id: russh::SshId::Standard(crate::SSH_VERSION.into()),
        methods: MethodSet::from(&methods[..]),
        keys: vec![settings.host_key.clone()],
        auth_rejection_time: Duration::from_millis(200),
        auth_rejection_time_initial: Some(Duration::ZERO),
        inactivity_timeout: settings.limits.idle_timeout,
        nodelay: true,
        ..Default::default()
    });
    let target = Arc::new(settings.target.clone());
    let limits = settings.limits.clone();
    let listening = accept::Listening {
        listener,
        balancers: settings.balancers.clone(),
    };
    let approval = approval.audited(settings.audit.clone());
    let shared = Arc::new(Shared {
        settings,
        target,
        approval,
    });
    accept::serve(
        listening,
        config,
        limits,
        move |client, admission| shared.connection(client, admission),
        shutdown,
    )
    .await;
    Ok(())
}
