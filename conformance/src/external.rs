//! `conformance run`: the suite against a proxy in another process, started by hand
//! (`--proxy`) or by the runner (`--launch`).
//!
//! One mock target and one WebSocket approver on loopback serve every replay (see
//! `scenarios::replay::Shared`); with `--target-shell`, the target is a relay to a fresh sshd
//! and shell per replay, and replays run one at a time (see [`crate::real_shell`]). The
//! runner logs in with a key it generates, whose public half it writes where
//! `{authorized_keys}` points. Files for the proxy live in a temporary folder that is removed
//! at the end.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use real_target::Shell;
use russh::keys::ssh_key::LineEnding;
use russh::keys::{PrivateKey, PublicKey};
use scenarios::format::Tier;
use scenarios::replay::{Harness, Shared, SharedEnvironment};
use scenarios::Scenario;

use crate::launch::{fill, wait_for_listener, ProxyProcess};
use crate::probe::probe;
use crate::real_shell::{RealShellEnvironment, RelayedRealShell};
use crate::report::{ProxyInfo, Report};
use crate::runner::{run, RunOptions, RunTarget};

/// Where the proxy under test is and how to reach it.
#[derive(Debug, Clone)]
pub struct Target {
    /// Where the proxy listens; with `launch` and no address, the runner picks one.
    pub proxy: Option<SocketAddr>,
    /// The command line that starts the proxy, with placeholders.
    pub launch: Option<String>,
    /// The proxy's approval time-out, when the user told it.
    pub approval_timeout: Option<Duration>,
    /// How long the proxy may take to accept connections.
    pub startup_timeout: Duration,
    /// Where the mock target (or the relay to the real one) and the approver listen (port 0
    /// picks one).
    pub target_listen: SocketAddr,
    pub approver_listen: SocketAddr,
    /// A real shell behind sshd instead of the mock target.
    pub shell: Option<Shell>,
    /// Whether that shell sources sshgate's guard (`--guarded`).
    pub tier: Tier,
}

/// The target and approver the proxy is started with.
// One per run: the size of its variants does not matter.
#[allow(clippy::large_enum_variant)]
enum RunEnvironment {
    Mock {
        shared: SharedEnvironment,
        /// `{target_identity}`: the mock target takes any key, so any key does.
        identity: PrivateKey,
    },
    RealShell(RealShellEnvironment),
}

impl RunEnvironment {
    async fn start(target: &Target) -> std::io::Result<RunEnvironment> {
        Ok(match target.shell {
            None => RunEnvironment::Mock {
                shared: SharedEnvironment::start(target.target_listen, target.approver_listen)
                    .await?,
                identity: sshgate::credentials::generate_host_key(),
            },
            Some(shell) => RunEnvironment::RealShell(
                RealShellEnvironment::start(
                    shell,
                    target.tier,
                    target.target_listen,
                    target.approver_listen,
                )
                .await?,
            ),
        })
    }

    fn target_address(&self) -> SocketAddr {
        match self {
            RunEnvironment::Mock { shared, .. } => shared.target_address(),
            RunEnvironment::RealShell(real) => real.target_address(),
        }
    }

    fn target_key(&self) -> &PublicKey {
        match self {
            RunEnvironment::Mock { shared, .. } => shared.target_key(),
            RunEnvironment::RealShell(real) => real.target_key(),
        }
    }

    fn identity(&self) -> &PrivateKey {
        match self {
            RunEnvironment::Mock { identity, .. } => identity,
            RunEnvironment::RealShell(real) => real.identity(),
        }
    }

    fn approver_url(&self) -> &str {
        match self {
            RunEnvironment::Mock { shared, .. } => shared.approver_url(),
            RunEnvironment::RealShell(real) => real.approver_url(),
        }
    }

    fn run_target(&self) -> RunTarget {
        match self {
            RunEnvironment::Mock { .. } => RunTarget::Mock,
            RunEnvironment::RealShell(real) => RunTarget::Shell(real.shell(), real.tier()),
        }
    }

    /// The harness for replays through the proxy at `proxy`.
    fn into_harness(self, proxy: SocketAddr) -> Arc<dyn Harness> {
        match self {
            RunEnvironment::Mock { shared, .. } => Arc::new(Shared::new(shared, proxy)),
            RunEnvironment::RealShell(real) => Arc::new(RelayedRealShell::new(real, proxy)),
        }
    }
}

/// Why a run could not start; the binary exits with status 2.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Usage(String),
    #[error("the proxy never came up: {reason}")]
    NeverCameUp { reason: String, output: String },
}

/// The placeholders `--launch` may use, with their values (`None`: needs a flag).
fn placeholders(
    listen: SocketAddr,
    environment: &RunEnvironment,
    files: &Files,
    approval_timeout: Option<Duration>,
) -> Vec<(&'static str, Option<String>)> {
    let path = |path: &Path| Some(path.display().to_string());
    vec![
        ("listen", Some(listen.to_string())),
        ("target", Some(environment.target_address().to_string())),
        ("approver", Some(environment.approver_url().to_string())),
        ("authorized_keys", path(&files.authorized_keys)),
        ("target_known_hosts", path(&files.target_known_hosts)),
        ("target_identity", path(&files.target_identity)),
        (
            "target_fingerprint",
            Some(sshgate::credentials::fingerprint(environment.target_key())),
        ),
        ("dir", path(files.dir.path())),
        (
            "approval_timeout",
            approval_timeout.map(|t| t.as_secs_f64().to_string()),
        ),
    ]
}

/// The files the runner writes for the proxy.
struct Files {
    dir: tempfile::TempDir,
    authorized_keys: PathBuf,
    target_known_hosts: PathBuf,
    target_identity: PathBuf,
}

impl Files {
    fn write(client_key: &PrivateKey, environment: &RunEnvironment) -> std::io::Result<Files> {
        let dir = tempfile::Builder::new().prefix("conformance-").tempdir()?;
        let authorized_keys = dir.path().join("authorized_keys");
        let line = client_key
            .public_key()
            .to_openssh()
            .map_err(std::io::Error::other)?;
        std::fs::write(&authorized_keys, format!("{line}\n"))?;
        let target_known_hosts = dir.path().join("target_known_hosts");
        let target = environment.target_address();
        russh::keys::known_hosts::learn_known_hosts_path(
            &target.ip().to_string(),
            target.port(),
            environment.target_key(),
            &target_known_hosts,
        )
        .map_err(std::io::Error::other)?;
        // OpenSSH's private key format; ssh-key writes it readable by its owner only, as ssh
        // wants.
        let target_identity = dir.path().join("target_identity");
        environment
            .identity()
            .write_openssh_file(&target_identity, LineEnding::LF)
            .map_err(std::io::Error::other)?;
        Ok(Files {
            dir,
            authorized_keys,
            target_known_hosts,
            target_identity,
        })
    }
}

/// Start the environment, bring up (or wait for) the proxy, probe it, run `cases` and stop it.
pub async fn run_against(
    cases: Vec<Scenario>,
    target: &Target,
    mut options: RunOptions,
) -> Result<Report, StartError> {
    let environment = RunEnvironment::start(target)
        .await
        .map_err(|error| StartError::Usage(format!("cannot listen on loopback: {error}")))?;
    let client_key = sshgate::credentials::generate_host_key();
    let files = Files::write(&client_key, &environment)
        .map_err(|error| StartError::Usage(format!("cannot write the proxy's files: {error}")))?;
    let listen = match target.proxy {
        Some(address) => address,
        None => {
            let port = portpicker::pick_unused_port()
                .ok_or_else(|| StartError::Usage("no free port on loopback".into()))?;
            SocketAddr::from(([127, 0, 0, 1], port))
        }
    };
    let values = placeholders(listen, &environment, &files, target.approval_timeout);
    let process = match &target.launch {
        Some(template) => {
            let command_line = fill(template, &values).map_err(StartError::Usage)?;
            eprintln!("conformance: starting the proxy: {command_line}");
            let mut process = ProxyProcess::spawn(&command_line)
                .map_err(|error| StartError::Usage(format!("--launch: cannot run sh: {error}")))?;
            if let Err(reason) = process
                .wait_until_accepting(listen, target.startup_timeout)
                .await
            {
                let output = process.stop().await;
                return Err(StartError::NeverCameUp { reason, output });
            }
            Some(process)
        }
        None => {
            eprintln!("conformance: start the proxy under test with:");
            for (name, value) in &values {
                if let Some(value) = value {
                    eprintln!("  {name:<20} {value}");
                }
            }
            eprintln!(
                "conformance: waiting up to {:?} for it on {listen}",
                target.startup_timeout
            );
            wait_for_listener(listen, target.startup_timeout)
                .await
                .map_err(|reason| StartError::NeverCameUp {
                    reason,
                    output: String::new(),
                })?;
            None
        }
    };

    options.replay.key = Some(Arc::new(client_key));
    options.approval_timeout = target.approval_timeout;
    options.target = environment.run_target();
    let harness = environment.into_harness(listen);
    let facts = match probe(harness.as_ref(), listen, &options.replay).await {
        Ok(facts) => facts,
        Err(reason) => {
            let output = match process {
                Some(process) => process.stop().await,
                None => String::new(),
            };
            return Err(StartError::NeverCameUp { reason, output });
        }
    };
    options.capabilities = facts.capabilities;
    let proxy = ProxyInfo {
        description: match &target.launch {
            Some(template) => format!("`{template}` on {listen}"),
            None => format!("the proxy on {listen}"),
        },
        ssh_version: facts.ssh_version,
        host_key_fingerprint: facts.host_key_fingerprint,
        output: None,
    };
    let mut report = run(cases, harness, proxy, &options).await;
    if let Some(process) = process {
        report.proxy.output = Some(process.stop().await);
    }
    drop(files);
    Ok(report)
}
