//! The `mock-approver` binary: parses flags, prints the readiness line and hands over to
//! [`mock_approver::run_with_log`].
//!
//! Invariant: stdout carries exactly one line of its own (the readiness line; in interactive
//! mode the operator's prompts follow it), logs go to stderr, and every failure ends with one
//! line on stderr and exit code 2 (usage or config) or 1 (runtime), never a panic.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use mock_approver::{Behaviour, Config, Operator, DEFAULT_DENY_MARKER};
use tracing_subscriber::EnvFilter;

/// A mock approver for approval protocol v1: a WebSocket server that denies any command
/// containing the deny marker and approves the rest, or asks you at this terminal.
#[derive(Debug, Parser)]
#[command(
    name = "mock-approver",
    version,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    tool: Option<Tool>,
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Commands containing this text are denied (reason "blocked").
    #[arg(long, value_name = "TEXT", default_value = DEFAULT_DENY_MARKER)]
    deny_marker: String,
    /// Ask at this terminal instead of applying the rule.
    #[arg(long, conflicts_with_all = ["behaviour", "delay_ms", "deny_marker"])]
    interactive: bool,
    /// Append one JSON object per event to this file.
    #[arg(long, value_name = "FILE.jsonl")]
    events: Option<PathBuf>,
    /// How to answer requests.
    #[arg(long, value_enum, default_value_t = BehaviourArg::Rule)]
    behaviour: BehaviourArg,
    /// The delay for `--behaviour delay`, in milliseconds (default 1000).
    #[arg(long, value_name = "N")]
    delay_ms: Option<u64>,
}

/// Commands that print something about the binary instead of serving.
#[derive(Debug, clap::Subcommand)]
enum Tool {
    /// Print a completion script for SHELL (`mock-approver completions bash`).
    Completions {
        #[arg(value_enum, value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the man page, in roff (`mock-approver man > mock-approver.1; man ./mock-approver.1`).
    Man,
}

/// Print what `tool` asks for on standard output.
fn print_tool(tool: Tool) -> ExitCode {
    use clap::CommandFactory as _;
    let mut text = Vec::new();
    let rendered = match tool {
        Tool::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "mock-approver", &mut text);
            Ok(())
        }
        Tool::Man => clap_mangen::Man::new(Cli::command()).render(&mut text),
    };
    match rendered.and_then(|()| std::io::stdout().write_all(&text)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("mock-approver: cannot write to standard output: {error}");
            ExitCode::from(1)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BehaviourArg {
    /// Answer at once with the rule.
    Rule,
    /// Answer with the rule after --delay-ms.
    Delay,
    /// Never answer.
    Never,
    /// Close the connection when a request arrives.
    Close,
    /// Answer with a frame that is not valid protocol.
    Malformed,
}

const DEFAULT_DELAY_MS: u64 = 1000;

enum Failure {
    /// Exit 2.
    Usage(anyhow::Error),
    /// Exit 1.
    Runtime(anyhow::Error),
}

fn main() -> ExitCode {
    let mut cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) if !error.use_stderr() => {
            // --help or --version.
            let _ = error.print();
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            let rendered = error.render().to_string();
            let line = rendered
                .lines()
                .find(|line| !line.trim().is_empty())
                .unwrap_or("invalid arguments");
            eprintln!("mock-approver: {}", line.trim_start_matches("error: "));
            return ExitCode::from(2);
        }
    };
    if let Some(tool) = cli.tool.take() {
        return print_tool(tool);
    }
    let default_level = if cli.interactive { "warn" } else { "info" };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        // Escape codes only for a person at a terminal, not in a log file or a pipe.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("mock-approver: cannot start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    let code = match runtime.block_on(serve(cli)) {
        Ok(()) => 0,
        Err(Failure::Usage(error)) => {
            eprintln!("mock-approver: {error:#}");
            2
        }
        Err(Failure::Runtime(error)) => {
            eprintln!("mock-approver: {error:#}");
            1
        }
    };
    // Interactive mode reads stdin on a thread that cannot be cancelled; do not wait for it.
    std::process::exit(code);
}

async fn serve(cli: Cli) -> Result<(), Failure> {
    let behaviour = behaviour(&cli).map_err(Failure::Usage)?;
    let config = Config {
        deny_marker: cli.deny_marker,
        behaviour,
        events_file: cli.events.clone(),
    };
    let log = mock_approver::ApproverLog::open(cli.events.as_deref())
        .with_context(|| match &cli.events {
            Some(path) => format!("--events {}: cannot open", path.display()),
            None => "cannot open the event log".to_string(),
        })
        .map_err(Failure::Usage)?;
    let listener = tokio::net::TcpListener::bind(cli.listen)
        .await
        .with_context(|| format!("--listen {}: cannot listen", cli.listen))
        .map_err(Failure::Runtime)?;
    let addr = listener
        .local_addr()
        .context("cannot read the listening address")
        .map_err(Failure::Runtime)?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "mock-approver listening on ws://{addr}")
            .and_then(|()| stdout.flush())
            .context("cannot write the readiness line to stdout")
            .map_err(Failure::Runtime)?;
    }
    let shutdown = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for ctrl-c; running until killed");
            std::future::pending::<()>().await;
        }
        tracing::info!("shutting down");
    };
    mock_approver::run_with_log(config, log, listener, shutdown)
        .await
        .map_err(|error| Failure::Runtime(error.into()))
}

fn behaviour(cli: &Cli) -> anyhow::Result<Behaviour> {
    if cli.interactive {
        return Ok(Behaviour::Interactive(Operator::stdio()));
    }
    if cli.deny_marker.is_empty() {
        anyhow::bail!("--deny-marker must not be empty (it would deny every command)");
    }
    if cli.delay_ms.is_some() && cli.behaviour != BehaviourArg::Delay {
        anyhow::bail!("--delay-ms only applies to --behaviour delay");
    }
    Ok(match cli.behaviour {
        BehaviourArg::Rule => Behaviour::Rule,
        BehaviourArg::Delay => Behaviour::Delay(Duration::from_millis(
            cli.delay_ms.unwrap_or(DEFAULT_DELAY_MS),
        )),
        BehaviourArg::Never => Behaviour::NeverAnswer,
        BehaviourArg::Close => Behaviour::CloseOnRequest,
        BehaviourArg::Malformed => Behaviour::Malformed,
    })
}
