//! `sshgate demo`: sshgate in front of an in-process mock target, with the person at this
//! terminal as the approver. For a first try, with no key files to prepare.
//!
//! The demo accepts any operator without a key (it listens on loopback only by default), but
//! the operator still verifies sshgate's host key: the printed `ssh` command points at a
//! known_hosts file written for this run.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use mock_approver::Operator;
use sshgate_wire::{Alert, ApprovalRequest};

use crate::approval::{ApprovalPath, Approver, DecisionFuture};
use crate::credentials::{fingerprint, generate_host_key};
use crate::server::Settings;

/// A person at this terminal decides. Dropping a request's future (a cancel) withdraws the
/// question.
struct TerminalApprover(Operator);

impl Approver for TerminalApprover {
    fn request(&self, request: ApprovalRequest) -> DecisionFuture {
        let operator = self.0.clone();
        Box::pin(async move { Ok(operator.ask(request).await) })
    }

    fn cancel(&self, _id: &str, _reason: &str) {}

    fn alert(&self, alert: Alert) {
        println!("\nALERT (session {}): {}", alert.session, alert.reason);
    }
}

/// Run the demo until Ctrl+C.
pub async fn run(listen: &str) -> ExitCode {
    match serve(listen).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("sshgate demo: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(listen: &str) -> Result<(), String> {
    let target = mock_target::MockTarget::spawn()
        .await
        .map_err(|error| format!("cannot start the mock target: {error}"))?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|error| format!("--listen {listen}: {error} (try --listen 127.0.0.1:0)"))?;
    let address = listener.local_addr().map_err(|error| error.to_string())?;
    let host_key = generate_host_key();
    let known_hosts = write_known_hosts(address, &host_key)?;

    println!("sshgate demo: a mock target behind sshgate, and you approve every command here.");
    println!("In a second terminal, run:\n");
    println!(
        "    ssh -p {} -o UserKnownHostsFile={} demo@{}\n",
        address.port(),
        known_hosts.display(),
        address.ip()
    );
    println!(
        "then try `echo hi` (answer y here) and `echo DENY` (answer n). Ctrl+C stops the demo."
    );
    println!("sshgate host key: {}", fingerprint(host_key.public_key()));
    let _ = std::io::stdout().flush();

    let settings = Settings::for_local_target(host_key, target.addr, target.host_key());
    let approval = ApprovalPath::new(
        Arc::new(TerminalApprover(Operator::stdio())),
        Duration::from_secs(crate::config::DEFAULT_APPROVAL_TIMEOUT_SECS),
    );
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let result = crate::run(settings, listener, approval, shutdown).await;
    let _ = std::fs::remove_dir_all(known_hosts.parent().unwrap_or(&known_hosts));
    result.map_err(|error| error.to_string())?;
    // Reading stdin blocks a thread the runtime cannot cancel: leave without waiting for it.
    std::process::exit(0)
}

/// A known_hosts file naming this run's host key, in a directory of its own.
fn write_known_hosts(
    address: std::net::SocketAddr,
    key: &russh::keys::PrivateKey,
) -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("sshgate-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|error| format!("{}: {error}", dir.display()))?;
    let path = dir.join("known_hosts");
    let public = key
        .public_key()
        .to_openssh()
        .map_err(|error| error.to_string())?;
    std::fs::write(
        &path,
        format!("[{}]:{} {public}\n", address.ip(), address.port()),
    )
    .map_err(|error| format!("{}: {error}", path.display()))?;
    Ok(path)
}
