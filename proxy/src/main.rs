//! The `sshgate` binary: parses flags, then hands over to the library.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{CommandFactory, Parser};
use sshgate::approval::{ApprovalPath, WebSocketApprover};
use sshgate::audit::verify::Verdict;
use sshgate::config::{AuditCommand, Cli, CliCommand, GuardCommand, ProxyConfig};
use tokio::signal::unix::SignalKind;

/// Exit status for usage and configuration errors, as documented.
const EXIT_USAGE: u8 = 2;
const EXIT_FAILURE: u8 = 1;
/// How long the start-up check of the approver waits for a connection.
const APPROVER_PROBE: std::time::Duration = std::time::Duration::from_secs(2);
/// How long, at shutdown, the approver gets to receive what is still queued for it.
const APPROVER_FLUSH: std::time::Duration = std::time::Duration::from_secs(2);
/// How long, at shutdown, the channels still ending get to send their last audit records.
const AUDIT_FLUSH: std::time::Duration = std::time::Duration::from_secs(2);

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo shares its terminal with the approval prompts: only warnings by default.
    let default_filter = if cli.command.is_some() {
        "warn"
    } else {
        "info"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        // Escape codes only for a person at a terminal, not in a log file or a pipe.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => return fail(EXIT_FAILURE, format!("cannot start the runtime: {error}")),
    };
    match cli.command {
        None => match cli.flags.resolve() {
            Ok(config) => runtime.block_on(serve(config)),
            Err(error) => fail(EXIT_USAGE, error),
        },
        #[cfg(feature = "demo")]
        Some(CliCommand::Demo { listen }) => runtime.block_on(sshgate::demo::run(&listen)),
        #[cfg(not(feature = "demo"))]
        Some(CliCommand::Demo { .. }) => fail(
            EXIT_USAGE,
            "this sshgate was built without the demo (cargo feature `demo`)",
        ),
        Some(CliCommand::Audit {
            command: AuditCommand::Verify { file },
        }) => verify_audit(&file),
        Some(CliCommand::Completions { shell }) => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "sshgate",
                &mut std::io::stdout(),
            );
            ExitCode::SUCCESS
        }
        Some(CliCommand::Man) => print_man(),
        Some(CliCommand::Guard {
            command: GuardCommand::Print { shell },
        }) => print_guard(&shell),
    }
}

/// `sshgate man`: the man page, from the same definitions as `--help`.
fn print_man() -> ExitCode {
    let mut page = Vec::new();
    match clap_mangen::Man::new(Cli::command())
        .render(&mut page)
        .and_then(|()| std::io::stdout().write_all(&page))
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(EXIT_FAILURE, format!("cannot write the man page: {error}")),
    }
}

/// `sshgate guard print SHELL`: the guard on stdout, or exit 2 for a shell without one.
fn print_guard(shell: &str) -> ExitCode {
    match sshgate::guard::script(shell) {
        Some(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        None => fail(
            EXIT_USAGE,
            format!("guard print: no guard for {shell:?} (there is one for bash and for zsh)"),
        ),
    }
}

/// `sshgate audit verify FILE`: 0 and a summary when intact, 1 naming the first bad line, 2
/// when the file cannot be read.
fn verify_audit(file: &std::path::Path) -> ExitCode {
    match sshgate::audit::verify::verify(file) {
        Ok(verdict @ Verdict::Intact { .. }) => {
            println!("{}: {verdict}", file.display());
            ExitCode::SUCCESS
        }
        Ok(verdict) => fail(EXIT_FAILURE, format!("{}: {verdict}", file.display())),
        Err(error) => fail(EXIT_USAGE, format!("{}: {error}", file.display())),
    }
}

/// Say at start when the approver cannot be reached: every request is denied until it can.
async fn warn_if_unreachable(url: String) {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let Ok(request) = url.as_str().into_client_request() else {
        return;
    };
    let host = request.uri().host().unwrap_or_default().to_string();
    let port = request.uri().port_u16().unwrap_or(80);
    let attempt = tokio::time::timeout(
        APPROVER_PROBE,
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await;
    let problem = match attempt {
        Ok(Ok(_)) => return,
        Ok(Err(error)) => error.to_string(),
        Err(_) => format!("no answer within {APPROVER_PROBE:?}"),
    };
    tracing::warn!(
        approver = %sshgate::log_text::quoted(&url),
        %problem,
        "the approver cannot be reached now: every request is denied until it can"
    );
}

fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("sshgate: {message}");
    ExitCode::from(code)
}

async fn serve(mut config: ProxyConfig) -> ExitCode {
    let listener = match tokio::net::TcpListener::bind(&config.listen).await {
        Ok(listener) => listener,
        Err(error) => return fail(EXIT_USAGE, format!("--listen {}: {error}", config.listen)),
    };
    let address = match listener.local_addr() {
        Ok(address) => address,
        Err(error) => return fail(EXIT_FAILURE, error),
    };
    // SIGTERM (a service manager) or SIGINT (Ctrl+C): stop accepting, tell the sessions, exit 0.
    // Watched before the readiness line, so that a signal sent as soon as it is read is not
    // taken by the default action (the process killed, no records drained).
    let watch = |kind: SignalKind| tokio::signal::unix::signal(kind);
    let (mut terminate, mut interrupt) = match (
        watch(SignalKind::terminate()),
        watch(SignalKind::interrupt()),
    ) {
        (Ok(terminate), Ok(interrupt)) => (terminate, interrupt),
        (Err(error), _) | (_, Err(error)) => {
            return fail(
                EXIT_FAILURE,
                format!("cannot watch for SIGTERM and SIGINT: {error}"),
            )
        }
    };
    let shutdown = async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    };
    let audit_writer = match config.audit.as_deref().map(sshgate::audit::open) {
        None => None,
        Some(Ok((log, writer))) => {
            config.settings.audit = log;
            Some(writer)
        }
        Some(Err(error)) => return fail(EXIT_USAGE, error),
    };
    println!("sshgate listening on {address}");
    let _ = std::io::stdout().flush();
    let (approver, approver_task) = WebSocketApprover::spawn_joined(config.approver.clone());
    tokio::spawn(warn_if_unreachable(config.approver.clone()));
    let approval = ApprovalPath::new(Arc::new(approver), config.approval_timeout);
    let served = sshgate::run(config.settings, listener, approval, shutdown).await;
    // The cancels of requests pending at shutdown are still queued for the approver.
    if tokio::time::timeout(APPROVER_FLUSH, approver_task)
        .await
        .is_err()
    {
        tracing::warn!("the approver was not told everything before sshgate stopped");
    }
    // Every record sent so far reaches the file, then the closing record.
    if let Some(writer) = audit_writer {
        writer.close(AUDIT_FLUSH).await;
    }
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(EXIT_FAILURE, error),
    }
}
