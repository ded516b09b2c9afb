//! `passthrough-proxy`: the pass-through control (`sshgate_tests::passthrough`) as a process,
//! so that the conformance runner can `--launch` it. It forwards everything and gates nothing:
//! every gating case must fail against it. Test code only, never part of sshgate.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use sshgate_tests::passthrough::{resolve, serve_as_process, Open};

/// An SSH relay that gates nothing (a negative control for the conformance suite).
#[derive(Debug, Parser)]
#[command(name = "passthrough-proxy")]
struct Cli {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0", value_parser = resolve)]
    listen: SocketAddr,
    /// The SSH server to relay to (any host key is accepted).
    #[arg(long, value_name = "HOST:PORT", value_parser = resolve)]
    target: SocketAddr,
    /// Accepted and ignored, so that both controls share one launch template.
    #[arg(long, value_name = "URL")]
    approver: Option<String>,
    /// Log in to the target with this private key (OpenSSH format) rather than `none`.
    #[arg(long, value_name = "FILE")]
    identity: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let identity = cli.identity.as_deref();
    serve_as_process(
        "passthrough-proxy",
        cli.listen,
        cli.target,
        identity,
        Arc::new(Open),
    )
    .await
}
