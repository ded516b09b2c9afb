//! `mock-target` binary: parse flags, load or create the host key, bind, print the readiness
//! line, and hand over to [`mock_target::run`] until Ctrl-C or SIGTERM.
//!
//! Invariant: every failure ends with one line on stderr and exit code 2 (usage or config) or
//! 1 (runtime), never a panic.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use russh::keys::ssh_key::LineEnding;
use russh::keys::{HashAlg, PrivateKey};

/// An SSH server for testing approval proxies: exec echoes `<cmd>:ok` (exec `sha256sum` digests
/// its input instead), a PTY gets a small shell, and everything received is recorded.
#[derive(Debug, Parser)]
#[command(name = "mock-target", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    tool: Option<Tool>,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Append every event as one JSON object per line to this file.
    #[arg(long, value_name = "FILE.jsonl")]
    events: Option<PathBuf>,
    /// Host key file (OpenSSH format); generated (ed25519) and written there if it does not exist.
    #[arg(long, value_name = "FILE")]
    host_key: Option<PathBuf>,
}

/// Commands that print something about the binary instead of serving.
#[derive(Debug, clap::Subcommand)]
enum Tool {
    /// Print a completion script for SHELL (`mock-target completions bash`).
    Completions {
        #[arg(value_enum, value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the man page, in roff (`mock-target man > mock-target.1; man ./mock-target.1`).
    Man,
}

/// Print what `tool` asks for on standard output.
fn print_tool(tool: Tool) -> ExitCode {
    use clap::CommandFactory as _;
    let mut text = Vec::new();
    let rendered = match tool {
        Tool::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "mock-target", &mut text);
            Ok(())
        }
        Tool::Man => clap_mangen::Man::new(Cli::command()).render(&mut text),
    };
    match rendered.and_then(|()| std::io::stdout().write_all(&text)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("mock-target: cannot write to standard output: {error}");
            ExitCode::from(1)
        }
    }
}

/// A failure and the exit code it maps to.
struct Failure {
    code: u8,
    error: anyhow::Error,
}

fn config_error(error: anyhow::Error) -> Failure {
    Failure { code: 2, error }
}

fn runtime_error(error: anyhow::Error) -> Failure {
    Failure { code: 1, error }
}

fn main() -> ExitCode {
    let mut cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help or --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let rendered = e.render().to_string();
            let first = rendered.lines().next().unwrap_or("invalid arguments");
            eprintln!("mock-target: {}", first.trim_start_matches("error: "));
            return ExitCode::from(2);
        }
    };
    if let Some(tool) = cli.tool.take() {
        return print_tool(tool);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        // Escape codes only for a person at a terminal, not in a log file or a pipe.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mock-target: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(serve(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure { code, error }) => {
            eprintln!("mock-target: {error:#}");
            ExitCode::from(code)
        }
    }
}

async fn serve(cli: Cli) -> Result<(), Failure> {
    let host_key = match &cli.host_key {
        Some(path) => Some(load_or_create_key(path).map_err(config_error)?),
        None => None,
    };
    if let Some(key) = &host_key {
        tracing::info!("host key {}", key.public_key().fingerprint(HashAlg::Sha256));
    }
    let events = match &cli.events {
        Some(path) => Some(
            mock_target::EventLog::with_file(path)
                .with_context(|| format!("--events {}: cannot open", path.display()))
                .map_err(config_error)?,
        ),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(cli.listen)
        .await
        .with_context(|| format!("--listen {}: cannot bind", cli.listen))
        .map_err(runtime_error)?;
    let addr = listener
        .local_addr()
        .context("cannot read the bound address")
        .map_err(runtime_error)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "mock-target listening on {addr}")
        .and_then(|()| stdout.flush())
        .context("cannot write the readiness line")
        .map_err(runtime_error)?;
    drop(stdout);

    let config = mock_target::Config {
        host_key,
        events_file: cli.events.clone(),
    };
    let events = events.unwrap_or_default();
    let user_logs = mock_target::UserLogs::default();
    mock_target::serve(config, events, user_logs, listener, shutdown_signal())
        .await
        .map_err(|e| runtime_error(e.into()))
}

fn load_or_create_key(path: &Path) -> anyhow::Result<PrivateKey> {
    if path.exists() {
        return russh::keys::load_secret_key(path, None)
            .with_context(|| format!("--host-key {}: cannot load", path.display()));
    }
    let key = mock_target::random_host_key();
    key.write_openssh_file(path, LineEnding::LF)
        .with_context(|| format!("--host-key {}: cannot write a new key", path.display()))?;
    Ok(key)
}

/// Completes on Ctrl-C or, on Unix, SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
