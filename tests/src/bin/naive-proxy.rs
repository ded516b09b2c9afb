//! `naive-proxy`: the naive approval proxy (`sshgate_tests::naive`) as a process, so that the
//! conformance runner can `--launch` it. It gates exec and CR-submitted shell lines the way a
//! published, bypassable design does; each bypass case must fail against it. Test code only,
//! never part of sshgate.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use sshgate::approval::{ApprovalPath, WebSocketApprover};
use sshgate_tests::naive::NaiveGate;
use sshgate_tests::passthrough::{resolve, serve_as_process};

/// A naive SSH approval proxy (a negative control for the conformance suite).
#[derive(Debug, Parser)]
#[command(name = "naive-proxy")]
struct Cli {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0", value_parser = resolve)]
    listen: SocketAddr,
    /// The SSH server to relay to (any host key is accepted).
    #[arg(long, value_name = "HOST:PORT", value_parser = resolve)]
    target: SocketAddr,
    /// The approver, approval protocol v1 over WebSocket.
    #[arg(long, value_name = "ws://URL")]
    approver: String,
    /// Deny when the approver has not decided within this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    approval_timeout: u64,
    /// Refuse exec requests, as a proxy without exec support does (the runner then skips the
    /// cases that need exec).
    #[arg(long)]
    refuse_exec: bool,
    /// Log in to the target with this private key (OpenSSH format) rather than `none`.
    #[arg(long, value_name = "FILE")]
    identity: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let approvals = ApprovalPath::new(
        Arc::new(WebSocketApprover::spawn(cli.approver)),
        Duration::from_secs(cli.approval_timeout),
    );
    let gate = Arc::new(NaiveGate::new(approvals, cli.refuse_exec));
    let identity = cli.identity.as_deref();
    serve_as_process("naive-proxy", cli.listen, cli.target, identity, gate).await
}
