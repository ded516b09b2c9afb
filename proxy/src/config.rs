//! Configuration: command-line flags and the TOML file, merged and checked into [`ProxyConfig`].
//!
//! Every flag is also a key of the file, with the same name (`--host-key` is `host-key`);
//! a flag given on the command line wins over the file. Invariant: a `ProxyConfig` only exists
//! when every file it names has been read and every choice is unambiguous; otherwise the
//! [`ConfigError`] names the flag or key at fault, in one line.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use serde::{Deserialize, Serialize};

use crate::accept::ConnectionLimits;
use crate::client_keys::ClientKeys;
use crate::credentials::{self, CredentialError, TargetKeyPolicy};
use crate::guard::GuardMode;
use crate::keys_command::{self, KeysCommand};
use crate::proxy_protocol::Balancers;
use crate::recording::RecordingSettings;
use crate::server::{ClientAuth, Settings};
use crate::target::TargetSettings;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:2222";
pub const DEFAULT_APPROVAL_TIMEOUT_SECS: u64 = 60;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("--config {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Credential(#[from] CredentialError),
}

/// sshgate: an SSH approval proxy. Every command an operator runs through it, typed in a shell
/// or sent as an exec request, waits for an approver's decision before it reaches the target.
#[derive(Debug, Parser)]
#[command(name = "sshgate", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<CliCommand>,
    #[command(flatten)]
    pub flags: ProxyFlags,
}

#[derive(Debug, clap::Subcommand)]
pub enum CliCommand {
    /// Try sshgate in one terminal: a mock target, and you approve each command here.
    Demo {
        /// Where the demo proxy listens.
        #[arg(long, default_value = DEFAULT_LISTEN)]
        listen: String,
    },
    /// Work with an audit log written by --audit.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Print a completion script for SHELL (`sshgate completions bash > /etc/bash_completion.d/sshgate`).
    Completions {
        #[arg(value_enum, value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the man page, in roff (`sshgate man > sshgate.1; man ./sshgate.1`).
    Man,
    /// The shell-side guard for targets (docs/guard.md).
    Guard {
        #[command(subcommand)]
        command: GuardCommand,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum GuardCommand {
    /// Print the guard for SHELL (bash or zsh), to be sourced from /etc/bash.bashrc,
    /// /etc/zsh/zshrc or a user's rc file.
    Print {
        /// bash or zsh.
        #[arg(value_name = "SHELL")]
        shell: String,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Check an audit log's hash chain: exit 0 and a summary when it is intact, exit 1 naming
    /// the first line that was edited, removed, reordered or is not a record.
    Verify {
        /// The audit log.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

/// The proxy's settings, as flags and as keys of the `--config` file.
#[derive(Debug, Default, clap::Args, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ProxyFlags {
    /// A TOML file with any of these settings (flag names without the dashes).
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Which settings came from the `--config` file, and from which line.
    #[arg(skip)]
    #[serde(skip)]
    pub from_file: Option<FileKeys>,
    /// Address for operators to connect to [default: 127.0.0.1:2222].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// The SSH server behind the proxy, HOST:PORT.
    #[arg(long, value_name = "HOST:PORT")]
    pub target: Option<String>,
    /// The approver's WebSocket URL, ws://HOST:PORT.
    #[arg(long, value_name = "URL")]
    pub approver: Option<String>,
    /// The proxy's host key; generated (ed25519) and saved there if the file does not exist.
    /// Without it a new key is made at every start.
    #[arg(long, value_name = "FILE")]
    pub host_key: Option<PathBuf>,
    /// OpenSSH authorized_keys file listing the operators' keys, read as sshd reads it
    /// (options restrict, pty, no-pty, from=, expiry-time=, command= and the no-*-forwarding
    /// ones; a line with any other option lets nobody in) and read again when it changes.
    #[arg(long, value_name = "FILE")]
    pub authorized_keys: Option<PathBuf>,
    /// A program that prints authorized_keys lines for a login attempt, as sshd's
    /// AuthorizedKeysCommand; run without a shell, with the tokens %u (user), %f (key
    /// fingerprint), %k (base64 key), %t (key type) and %% expanded in each argument.
    #[arg(long, value_name = "'PROGRAM ARG...'")]
    pub authorized_keys_command: Option<String>,
    /// Seconds --authorized-keys-command may take; then it is killed and gives no key
    /// [default: 10].
    #[arg(long, value_name = "SECONDS")]
    pub authorized_keys_command_timeout: Option<u64>,
    /// Also let operators log in with a password, checked by logging in to the target with it
    /// (used for the target too, unless --identity is given).
    #[arg(long)]
    #[serde(default)]
    pub password_pass_through: bool,
    /// Let anyone log in without a key (tests and demos only).
    #[arg(long)]
    #[serde(default)]
    pub insecure_accept_any_client: bool,
    /// User name on the target [default: the operator's user name].
    #[arg(long, value_name = "NAME")]
    pub target_user: Option<String>,
    /// Private key the proxy logs in to the target with [default: the `none` method].
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// known_hosts file to verify the target's host key against.
    #[arg(long, value_name = "FILE")]
    pub target_known_hosts: Option<PathBuf>,
    /// Pinned SHA256 fingerprint of the target's host key (as `ssh-keygen -lf` prints it).
    #[arg(long, value_name = "SHA256:...")]
    pub target_fingerprint: Option<String>,
    /// Do not verify the target's host key (tests only).
    #[arg(long)]
    #[serde(default)]
    pub insecure_accept_any_target_key: bool,
    /// Seconds to wait for a decision before denying [default: 60].
    #[arg(long, value_name = "SECONDS")]
    pub approval_timeout: Option<u64>,
    /// Milliseconds a submitted shell line waits for the target to show it before it is asked
    /// about as uncertain (raise it for a slow or distant target) [default: 1000].
    #[arg(long, value_name = "MILLISECONDS")]
    pub echo_wait: Option<u64>,
    /// Connections served at once, logged in or not; more are closed at once [default: 1000].
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Connections that have not logged in yet, as sshd's MaxStartups [default: 100].
    #[arg(long, value_name = "N")]
    pub max_unauthenticated: Option<usize>,
    /// Seconds a connection may take to log in, as sshd's LoginGraceTime; 0 for no limit
    /// [default: 120].
    #[arg(long, value_name = "SECONDS")]
    pub login_grace_time: Option<u64>,
    /// Close a session with no traffic either way for this many seconds [default: never].
    #[arg(long, value_name = "SECONDS")]
    pub idle_timeout: Option<u64>,
    /// A load balancer (address or ADDRESS/BITS) whose connections start with a PROXY
    /// protocol header (v1 or v2) naming the operator's address; a connection from it without
    /// one is refused, and no other address may send one. Repeat for several.
    #[arg(long, value_name = "ADDR[/BITS]")]
    #[serde(default)]
    pub proxy_protocol_from: Vec<String>,
    /// Record every channel with a terminal (a shell, or an exec with -t) as an asciicast v2
    /// file in this folder, named SESSION-CHANNEL.cast (play with `asciinema play`; the audit
    /// log's `recording` record names it); a channel that cannot be recorded is refused.
    #[arg(long, value_name = "DIR")]
    pub record: Option<PathBuf>,
    /// Also record the operator's input: each shell line as the target's screen showed it
    /// when submitted (a line typed with echo off, such as a password, is never recorded).
    #[arg(long, requires = "record")]
    #[serde(default)]
    pub record_input: bool,
    /// Append an audit record (JSON, one per line, hash-chained) for every login, session,
    /// request, decision, cancel, alert and exit status to this file; check it with
    /// `sshgate audit verify FILE` (docs/audit.md).
    #[arg(long, value_name = "FILE")]
    pub audit: Option<PathBuf>,
    /// Answer the shell-side guard on the target (docs/guard.md), which asks before every
    /// command the shell runs: `prefer` answers it where the target has one and gates
    /// keystrokes alone where not; `require` ends a shell session without one, or whose
    /// guard goes away; `off` never wakes it [default: prefer].
    #[arg(long, value_enum, value_name = "MODE")]
    pub guard: Option<GuardMode>,
}

/// A checked configuration, ready to serve.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    pub listen: String,
    pub approver: String,
    pub approval_timeout: Duration,
    /// The audit log's file, opened by the binary once its runtime runs (`settings.audit` is
    /// off until then).
    pub audit: Option<PathBuf>,
    pub settings: Settings,
}

impl ProxyFlags {
    /// Read `--config` if given and fill in what the command line left out.
    pub fn merged_with_file(self) -> Result<ProxyFlags, ConfigError> {
        let Some(path) = self.config.clone() else {
            return Ok(self);
        };
        let text = std::fs::read_to_string(&path).map_err(|error| ConfigError::File {
            path: path.clone(),
            message: error.to_string(),
        })?;
        let mut from_file = FileKeys::of(path.clone(), &text);
        let file: ProxyFlags = toml::from_str(&text).map_err(|error| ConfigError::File {
            path: path.clone(),
            message: match error.span() {
                Some(span) => from_file.at(&text, span.start, error.message()),
                None => error.message().to_string(),
            },
        })?;
        from_file.overridden_by(&self);
        // Paths in the file are relative to its folder, not to where sshgate was started.
        let folder = path.parent().unwrap_or(Path::new("")).to_path_buf();
        let beside = |file: Option<PathBuf>| file.map(|file| folder.join(file));
        Ok(ProxyFlags {
            config: Some(path),
            from_file: Some(from_file),
            listen: self.listen.or(file.listen),
            target: self.target.or(file.target),
            approver: self.approver.or(file.approver),
            host_key: self.host_key.or(beside(file.host_key)),
            authorized_keys: self.authorized_keys.or(beside(file.authorized_keys)),
            authorized_keys_command: self
                .authorized_keys_command
                .or(file.authorized_keys_command),
            authorized_keys_command_timeout: self
                .authorized_keys_command_timeout
                .or(file.authorized_keys_command_timeout),
            password_pass_through: self.password_pass_through || file.password_pass_through,
            insecure_accept_any_client: self.insecure_accept_any_client
                || file.insecure_accept_any_client,
            target_user: self.target_user.or(file.target_user),
            identity: self.identity.or(beside(file.identity)),
            target_known_hosts: self.target_known_hosts.or(beside(file.target_known_hosts)),
            target_fingerprint: self.target_fingerprint.or(file.target_fingerprint),
            insecure_accept_any_target_key: self.insecure_accept_any_target_key
                || file.insecure_accept_any_target_key,
            approval_timeout: self.approval_timeout.or(file.approval_timeout),
            echo_wait: self.echo_wait.or(file.echo_wait),
            max_connections: self.max_connections.or(file.max_connections),
            max_unauthenticated: self.max_unauthenticated.or(file.max_unauthenticated),
            login_grace_time: self.login_grace_time.or(file.login_grace_time),
            idle_timeout: self.idle_timeout.or(file.idle_timeout),
            record: self.record.or(beside(file.record)),
            record_input: self.record_input || file.record_input,
            proxy_protocol_from: if self.proxy_protocol_from.is_empty() {
                file.proxy_protocol_from
            } else {
                self.proxy_protocol_from
            },
            audit: self.audit.or(beside(file.audit)),
            guard: self.guard.or(file.guard),
        })
    }

    /// Check the settings and load every file they name. An error about a value the
    /// `--config` file gave names the file, the key and its line.
    pub fn resolve(self) -> Result<ProxyConfig, ConfigError> {
        let mut flags = self.merged_with_file()?;
        let from_file = flags.from_file.take();
        flags.checked().map_err(|error| match from_file {
            Some(from_file) => from_file.locate(error),
            None => error,
        })
    }

    /// The settings the command line gave itself: set values, true switches, lists with items.
    fn keys_given(&self) -> Vec<String> {
        let Ok(toml::Value::Table(table)) = toml::Value::try_from(self) else {
            return Vec::new();
        };
        table
            .into_iter()
            .filter(|(_, value)| match value {
                toml::Value::Boolean(on) => *on,
                toml::Value::Array(items) => !items.is_empty(),
                _ => true,
            })
            .map(|(key, _)| key)
            .collect()
    }

    fn checked(self) -> Result<ProxyConfig, ConfigError> {
        let flags = self;
        let limits = connection_limits(&flags)?;
        let balancers = Balancers::parse(&flags.proxy_protocol_from)
            .map_err(|why| ConfigError::Invalid(format!("--proxy-protocol-from {why}")))?;
        let recording = recording_settings(flags.record.as_deref(), flags.record_input)?;
        let target = flags.target.clone().ok_or_else(|| {
            ConfigError::Invalid("--target is required: the SSH server behind the proxy".into())
        })?;
        let approver = flags.approver.clone().ok_or_else(|| {
            ConfigError::Invalid("--approver is required: the approver's ws:// URL".into())
        })?;
        check_approver_url(&approver)?;
        let approval_timeout = match flags.approval_timeout {
            Some(0) => {
                return Err(ConfigError::Invalid(
                    "--approval-timeout must be at least 1 second".into(),
                ))
            }
            Some(seconds) => Duration::from_secs(seconds),
            None => Duration::from_secs(DEFAULT_APPROVAL_TIMEOUT_SECS),
        };
        let client_auth = client_auth(&flags)?;
        let key_policy = target_key_policy(
            flags.target_known_hosts.as_deref(),
            flags.target_fingerprint.as_deref(),
            flags.insecure_accept_any_target_key,
        )?;
        if flags.password_pass_through && flags.identity.is_some() {
            // The target would be logged in to with the identity, so it would never judge
            // the operator's password.
            return Err(ConfigError::Invalid(
                "--password-pass-through and --identity exclude each other".into(),
            ));
        }
        let identity = match &flags.identity {
            Some(path) => Some(Arc::new(credentials::load_private_key(path)?)),
            None => None,
        };
        let target = TargetSettings {
            address: target,
            user: flags.target_user,
            identity,
            key_policy,
        };
        target
            .host_and_port()
            .map_err(|message| ConfigError::Invalid(format!("--target: {message}")))?;
        // Last, so that a new key file is only written for an otherwise valid configuration.
        let host_key = match &flags.host_key {
            Some(path) => credentials::load_or_generate_host_key(path)?,
            None => {
                tracing::warn!("no --host-key: using a new host key for this run only");
                credentials::generate_host_key()
            }
        };
        Ok(ProxyConfig {
            listen: flags.listen.unwrap_or_else(|| DEFAULT_LISTEN.to_string()),
            approver,
            approval_timeout,
            audit: flags.audit,
            settings: Settings {
                host_key,
                client_auth,
                password_pass_through: flags.password_pass_through,
                target,
                echo_wait: flags
                    .echo_wait
                    .map_or(crate::target_screen::ECHO_WAIT, Duration::from_millis),
                limits,
                balancers,
                recording,
                audit: crate::audit::AuditLog::off(),
                guard: flags.guard.unwrap_or_default(),
            },
        })
    }
}

/// The top-level keys of a `--config` file that are in effect, each with its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileKeys {
    path: PathBuf,
    lines: Vec<(String, usize)>,
}

impl FileKeys {
    fn of(path: PathBuf, text: &str) -> FileKeys {
        let lines = text
            .lines()
            .enumerate()
            .filter_map(|(index, line)| {
                let (key, _) = line.split_once('=')?;
                let key = key.trim();
                let bare = !key.is_empty()
                    && key
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                bare.then(|| (key.to_string(), index + 1))
            })
            .collect();
        FileKeys { path, lines }
    }

    /// Forget the keys the command line gave too: its values win.
    fn overridden_by(&mut self, command_line: &ProxyFlags) {
        let given = command_line.keys_given();
        self.lines.retain(|(key, _)| !given.contains(key));
    }

    /// `message` about the byte at `offset` of the file's `text`: its line, and its key.
    fn at(&self, text: &str, offset: usize, message: &str) -> String {
        let line = text[..offset].matches('\n').count() + 1;
        match self.lines.iter().find(|(_, at)| *at == line) {
            Some((key, _)) => format!("line {line}, key {key}: {message}"),
            None => format!("line {line}: {message}"),
        }
    }

    /// `error`, pointed at the file when it names a flag (`--key ...`) whose value the file
    /// gave.
    fn locate(&self, error: ConfigError) -> ConfigError {
        let message = error.to_string();
        let Some(flag) = message.strip_prefix("--") else {
            return error;
        };
        let key: String = flag
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        match self.lines.iter().find(|(name, _)| *name == key) {
            Some((_, line)) => ConfigError::File {
                path: self.path.clone(),
                message: format!(
                    "line {line}, key {key}: {}",
                    &flag[key.len()..].trim_start()
                ),
            },
            None => error,
        }
    }
}

/// An approver URL sshgate can connect to: `ws://`, a host, and a port if any that is a number.
fn check_approver_url(url: &str) -> Result<(), ConfigError> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let invalid = |why: &str| {
        ConfigError::Invalid(format!(
            "--approver {url:?}: {why}; expected a ws://HOST:PORT URL"
        ))
    };
    if !url.starts_with("ws://") {
        return Err(invalid("not a ws:// URL"));
    }
    let request = url
        .into_client_request()
        .map_err(|error| invalid(&error.to_string()))?;
    let Some(authority) = request.uri().authority() else {
        return Err(invalid("no host"));
    };
    if authority.host().is_empty() {
        return Err(invalid("no host"));
    }
    if authority
        .as_str()
        .rsplit_once(':')
        .is_some_and(|(_, port)| port.parse::<u16>().is_err())
        && !authority.as_str().ends_with(']')
    {
        return Err(invalid("the port is not a number"));
    }
    Ok(())
}

/// Where recordings go: a folder that exists.
fn recording_settings(
    dir: Option<&Path>,
    input: bool,
) -> Result<Option<RecordingSettings>, ConfigError> {
    match dir {
        None if input => Err(ConfigError::Invalid(
            "--record-input needs --record DIR".into(),
        )),
        None => Ok(None),
        Some(dir) if !dir.is_dir() => Err(ConfigError::Invalid(format!(
            "--record {}: not a folder",
            dir.display()
        ))),
        Some(dir) => Ok(Some(RecordingSettings {
            dir: dir.to_path_buf(),
            input,
        })),
    }
}

/// The connection bounds the flags ask for; each must be at least 1.
fn connection_limits(flags: &ProxyFlags) -> Result<ConnectionLimits, ConfigError> {
    let at_least_one = |flag: &str, value: Option<u64>| match value {
        Some(0) => Err(ConfigError::Invalid(format!("--{flag} must be at least 1"))),
        _ => Ok(value),
    };
    let count = |value: Option<usize>| value.map(|n| n as u64);
    let defaults = ConnectionLimits::default();
    Ok(ConnectionLimits {
        max_connections: at_least_one("max-connections", count(flags.max_connections))?
            .map_or(defaults.max_connections, |n| n as usize),
        max_unauthenticated: at_least_one("max-unauthenticated", count(flags.max_unauthenticated))?
            .map_or(defaults.max_unauthenticated, |n| n as usize),
        login_grace: match flags.login_grace_time {
            Some(0) => None,
            Some(seconds) => Some(Duration::from_secs(seconds)),
            None => defaults.login_grace,
        },
        idle_timeout: at_least_one("idle-timeout", flags.idle_timeout)?.map(Duration::from_secs),
    })
}

/// Who may log in: the authorized_keys file, the keys command (both when both are given), or
/// anyone under the insecure flag.
fn client_auth(flags: &ProxyFlags) -> Result<ClientAuth, ConfigError> {
    let file = flags.authorized_keys.as_deref();
    let command = flags.authorized_keys_command.as_deref();
    if flags.authorized_keys_command_timeout.is_some() && command.is_none() {
        return Err(ConfigError::Invalid(
            "--authorized-keys-command-timeout needs --authorized-keys-command".into(),
        ));
    }
    if flags.insecure_accept_any_client {
        if file.is_some() || command.is_some() {
            return Err(ConfigError::Invalid(
                "--authorized-keys (or --authorized-keys-command) and \
                 --insecure-accept-any-client exclude each other"
                    .into(),
            ));
        }
        return Ok(ClientAuth::InsecureAcceptAny);
    }
    if file.is_none() && command.is_none() {
        return Err(ConfigError::Invalid(
            "--authorized-keys or --authorized-keys-command is required \
             (or --insecure-accept-any-client for tests)"
                .into(),
        ));
    }
    let mut keys = ClientKeys::default();
    if let Some(path) = file {
        keys = keys.with_file(path)?;
    }
    if let Some(template) = command {
        let timeout = match flags.authorized_keys_command_timeout {
            Some(0) => {
                return Err(ConfigError::Invalid(
                    "--authorized-keys-command-timeout must be at least 1 second".into(),
                ))
            }
            Some(seconds) => Duration::from_secs(seconds),
            None => keys_command::DEFAULT_TIMEOUT,
        };
        let command = KeysCommand::new(template, timeout).map_err(|message| {
            ConfigError::Invalid(format!("--authorized-keys-command {template:?}: {message}"))
        })?;
        keys = keys.with_command(command);
    }
    Ok(ClientAuth::AuthorizedKeys(Arc::new(keys)))
}

fn target_key_policy(
    known_hosts: Option<&Path>,
    fingerprint: Option<&str>,
    insecure: bool,
) -> Result<TargetKeyPolicy, ConfigError> {
    match (known_hosts, fingerprint, insecure) {
        (Some(path), None, false) => {
            std::fs::read_to_string(path).map_err(|error| {
                ConfigError::Invalid(format!("--target-known-hosts {}: {error}", path.display()))
            })?;
            Ok(TargetKeyPolicy::KnownHosts(path.to_path_buf()))
        }
        (None, Some(text), false) => Ok(TargetKeyPolicy::fingerprint(text)?),
        (None, None, true) => Ok(TargetKeyPolicy::InsecureAcceptAny),
        (None, None, false) => Err(ConfigError::Invalid(
            "the target's host key must be verified: give --target-known-hosts or \
             --target-fingerprint (or --insecure-accept-any-target-key for tests)"
                .into(),
        )),
        _ => Err(ConfigError::Invalid(
            "--target-known-hosts, --target-fingerprint and --insecure-accept-any-target-key \
             exclude each other"
                .into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(args: &[&str]) -> ProxyFlags {
        let mut argv = vec!["sshgate"];
        argv.extend(args);
        Cli::try_parse_from(argv).unwrap().flags
    }

    const MINIMAL: &[&str] = &[
        "--target",
        "127.0.0.1:22",
        "--approver",
        "ws://127.0.0.1:1",
        "--insecure-accept-any-client",
        "--insecure-accept-any-target-key",
    ];

    #[test]
    fn minimal_flags_resolve_with_defaults() {
        let config = flags(MINIMAL).resolve().unwrap();
        assert_eq!(config.listen, DEFAULT_LISTEN);
        assert_eq!(config.approval_timeout, Duration::from_secs(60));
        assert_eq!(config.settings.echo_wait, Duration::from_secs(1));
    }

    #[test]
    fn connection_limits_come_from_flags_and_must_be_positive() {
        let mut args = MINIMAL.to_vec();
        args.extend(["--max-unauthenticated", "5", "--login-grace-time", "3"]);
        let limits = flags(&args).resolve().unwrap().settings.limits;
        assert_eq!(limits.max_unauthenticated, 5);
        assert_eq!(limits.login_grace, Some(Duration::from_secs(3)));
        assert_eq!(
            limits.max_connections,
            ConnectionLimits::default().max_connections
        );
        let mut zero = MINIMAL.to_vec();
        zero.extend(["--idle-timeout", "0"]);
        let error = flags(&zero).resolve().unwrap_err().to_string();
        assert!(error.contains("--idle-timeout"), "{error}");
    }

    #[test]
    fn errors_name_the_flag_at_fault() {
        let cases: &[(&[&str], &str)] = &[
            (&["--approver", "ws://x:1"], "--target"),
            (&["--target", "h:22"], "--approver"),
            (
                &["--target", "h:22", "--approver", "http://x"],
                "--approver",
            ),
            (&["--target", "h:22", "--approver", "ws://"], "--approver"),
            (
                &["--target", "h:22", "--approver", "ws://x:port"],
                "--approver",
            ),
            (
                &[
                    "--target",
                    "h:22",
                    "--approver",
                    "ws://x:1",
                    "--insecure-accept-any-client",
                    "--target-fingerprint",
                    "SHA256:not base64!",
                ],
                "--target-fingerprint",
            ),
            (
                &[
                    "--target",
                    "h",
                    "--approver",
                    "ws://x:1",
                    "--insecure-accept-any-client",
                    "--insecure-accept-any-target-key",
                ],
                "--target",
            ),
            (
                &[
                    "--target",
                    "h:22",
                    "--approver",
                    "ws://x:1",
                    "--insecure-accept-any-target-key",
                ],
                "--authorized-keys",
            ),
            (
                &[
                    "--target",
                    "h:22",
                    "--approver",
                    "ws://x:1",
                    "--insecure-accept-any-client",
                ],
                "--target-known-hosts",
            ),
        ];
        for (args, named) in cases {
            let error = flags(args).resolve().unwrap_err().to_string();
            assert!(error.contains(named), "{args:?}: {error}");
        }
    }

    #[test]
    fn keys_command_flags_are_checked_at_start() {
        let base = ["--target", "h:22", "--approver", "ws://x:1"];
        let cases: &[(&[&str], &str)] = &[
            (
                &["--authorized-keys-command", "/bin/sh %h"],
                "--authorized-keys-command \"/bin/sh %h\": unknown token %h",
            ),
            (
                &["--authorized-keys-command", "'/bin/keys"],
                "--authorized-keys-command",
            ),
            (
                &["--authorized-keys-command", "/nonexistent/keys %u"],
                "--authorized-keys-command \"/nonexistent/keys %u\": \"/nonexistent/keys\" is not",
            ),
            (
                &[
                    "--authorized-keys-command-timeout",
                    "3",
                    "--insecure-accept-any-client",
                ],
                "--authorized-keys-command-timeout needs",
            ),
            (
                &[
                    "--authorized-keys-command",
                    "/bin/sh %u",
                    "--insecure-accept-any-client",
                ],
                "exclude each other",
            ),
        ];
        for (args, expected) in cases {
            let mut argv = base.to_vec();
            argv.extend(args.iter());
            argv.push("--insecure-accept-any-target-key");
            let error = flags(&argv).resolve().unwrap_err().to_string();
            assert!(error.contains(expected), "{args:?}: {error}");
        }
        let mut argv = base.to_vec();
        argv.extend(["--authorized-keys-command", "/bin/sh %u %f"]);
        argv.push("--insecure-accept-any-target-key");
        assert!(flags(&argv).resolve().is_ok());
    }

    #[test]
    fn the_keys_command_and_its_time_out_come_from_the_file_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sshgate.toml");
        std::fs::write(
            &path,
            "target = \"h:22\"\napprover = \"ws://127.0.0.1:9\"\n\
             insecure-accept-any-target-key = true\n\
             authorized-keys-command = \"/bin/sh %x\"\n\
             authorized-keys-command-timeout = 3\n",
        )
        .unwrap();
        let error = flags(&["--config", path.to_str().unwrap()])
            .resolve()
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("line 4, key authorized-keys-command") && error.contains("%x"),
            "{error}"
        );
    }

    #[test]
    fn password_pass_through_cannot_be_combined_with_an_identity() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("id");
        crate::credentials::load_or_generate_host_key(&key).unwrap();
        let mut args = MINIMAL.to_vec();
        args.extend([
            "--password-pass-through",
            "--identity",
            key.to_str().unwrap(),
        ]);
        let error = flags(&args).resolve().unwrap_err().to_string();
        assert!(error.contains("--password-pass-through"), "{error}");
    }

    #[test]
    fn file_settings_fill_in_and_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sshgate.toml");
        std::fs::write(
            &path,
            "target = \"10.0.0.1:22\"\napprover = \"ws://127.0.0.1:9\"\n\
             insecure-accept-any-client = true\ninsecure-accept-any-target-key = true\n\
             listen = \"127.0.0.1:0\"\napproval-timeout = 5\necho-wait = 250\n",
        )
        .unwrap();
        let config = flags(&[
            "--config",
            path.to_str().unwrap(),
            "--target",
            "127.0.0.1:2200",
        ])
        .resolve()
        .unwrap();
        assert_eq!(config.settings.target.address, "127.0.0.1:2200");
        assert_eq!(config.listen, "127.0.0.1:0");
        assert_eq!(config.approval_timeout, Duration::from_secs(5));
        assert_eq!(config.settings.echo_wait, Duration::from_millis(250));
    }

    #[test]
    fn unknown_file_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sshgate.toml");
        std::fs::write(&path, "targt = \"x\"\n").unwrap();
        let error = flags(&["--config", path.to_str().unwrap()])
            .resolve()
            .unwrap_err()
            .to_string();
        assert!(error.contains("targt"), "{error}");
    }

    #[test]
    fn a_file_error_names_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sshgate.toml");
        std::fs::write(&path, "target = \"h:22\"\n\napproval-timeout = \"soon\"\n").unwrap();
        let error = flags(&["--config", path.to_str().unwrap()])
            .resolve()
            .unwrap_err()
            .to_string();
        assert!(error.contains("line 3, key approval-timeout"), "{error}");
    }

    #[test]
    fn a_bad_value_from_the_file_names_its_key_and_line_and_from_a_flag_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sshgate.toml");
        std::fs::write(
            &path,
            "target = \"h:22\"\n# the approver\napprover = \"http://a:1\"\n\
             insecure-accept-any-client = true\ninsecure-accept-any-target-key = true\n",
        )
        .unwrap();
        let config = path.to_str().unwrap();
        let error = flags(&["--config", config])
            .resolve()
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(&format!(
                "--config {config}: line 3, key approver: \"http://a:1\""
            )),
            "{error}"
        );
        let error = flags(&["--config", config, "--approver", "ws://a:b"])
            .resolve()
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("--approver \"ws://a:b\""), "{error}");
    }

    #[tokio::test]
    async fn paths_in_a_file_are_relative_to_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let key = crate::credentials::generate_host_key();
        let line = key.public_key().to_openssh().unwrap();
        std::fs::write(dir.path().join("operators"), format!("{line}\n")).unwrap();
        let path = dir.path().join("sshgate.toml");
        std::fs::write(
            &path,
            "target = \"h:22\"\napprover = \"ws://127.0.0.1:9\"\n\
             insecure-accept-any-target-key = true\nauthorized-keys = \"operators\"\n\
             audit = \"audit.jsonl\"\n",
        )
        .unwrap();
        let config = flags(&["--config", path.to_str().unwrap()])
            .resolve()
            .unwrap();
        assert_eq!(config.audit, Some(dir.path().join("audit.jsonl")));
        let ClientAuth::AuthorizedKeys(keys) = config.settings.client_auth else {
            panic!("expected authorized keys");
        };
        assert!(keys.authorize("u", key.public_key(), None).await.is_ok());
    }
}
