//! `passthrough-proxy`: the pass-through control (`sshgate_tests::passthrough`) as a process,
//! so that the conformance runner can `--launch` it. It forwards everything and gates nothing:
//! every gating case must fail against it. Test code only, never part of sshgate.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use sshgate_tests::passthrough::{announce, resolve, PassThrough};

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
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let listener = match tokio::net::TcpListener::bind(cli.listen).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!(
                "passthrough-proxy: cannot listen on {}: {error}",
                cli.listen
            );
            return ExitCode::from(1);
        }
    };
    let proxy = match PassThrough::start(listener, cli.target) {
        Ok(proxy) => proxy,
        Err(error) => {
            eprintln!("passthrough-proxy: {error}");
            return ExitCode::from(1);
        }
    };
    announce("passthrough-proxy", proxy.addr);
    std::future::pending::<()>().await;
    ExitCode::SUCCESS
}
