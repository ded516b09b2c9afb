//! The `conformance` binary: parses the command line, then hands over to the library.
//!
//! Exit status: 0 when no required case failed, 1 when one did, 2 for usage errors.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use conformance::catalogue;
use conformance::report::{colour_wanted, Report};
use conformance::runner::{run, RunOptions};
use conformance::self_run::InProcessSshgate;
use conformance::suite::{self, Selection};
use scenarios::Scenario;

const EXIT_FAILED: u8 = 1;
const EXIT_USAGE: u8 = 2;

/// Grades an SSH approval proxy against the sshgate scenario corpus. With no command, runs the
/// whole suite against sshgate itself, in-process, and prints the report.
#[derive(Debug, Parser)]
#[command(name = "conformance", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    selection: SelectionArgs,
    #[command(flatten)]
    output: OutputArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the cases: id and the requirement each checks.
    List {
        #[command(flatten)]
        selection: SelectionArgs,
        #[arg(long, value_enum, default_value_t = ListFormat::Human)]
        format: ListFormat,
    },
}

#[derive(Debug, clap::Args)]
struct SelectionArgs {
    /// Only the cases whose id matches this glob (`bypass`, `editing/*`, `*ctrl-c*`).
    #[arg(long, value_name = "GLOB", global = true)]
    cases: Option<String>,
    /// A folder of your own scenario files to add to the built-in ones.
    #[arg(long, value_name = "DIR", global = true)]
    scenarios: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct OutputArgs {
    #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
    format: ReportFormat,
    /// Write the report here instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Replays in flight at once.
    #[arg(long, default_value_t = 64, value_name = "N")]
    jobs: usize,
    /// Seconds each waiting step may take.
    #[arg(long, default_value_t = 5, value_name = "SECONDS")]
    timeout: u64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ReportFormat {
    Human,
    Json,
    Junit,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ListFormat {
    Human,
    Markdown,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Some(Command::List { selection, format }) => {
            let cases = match select(&selection) {
                Ok(cases) => cases,
                Err(code) => return code,
            };
            print!(
                "{}",
                match format {
                    ListFormat::Human => catalogue::human(&cases),
                    ListFormat::Markdown => catalogue::markdown(&cases),
                }
            );
            ExitCode::SUCCESS
        }
        None => self_run(&cli.selection, &cli.output),
    }
}

fn usage(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("conformance: {message}");
    ExitCode::from(EXIT_USAGE)
}

fn select(args: &SelectionArgs) -> Result<Vec<Scenario>, ExitCode> {
    let selection = match &args.cases {
        Some(pattern) => Selection::parse(pattern).map_err(usage)?,
        None => Selection::all(),
    };
    let cases: Vec<Scenario> = suite::load(&args.scenarios)
        .map_err(usage)?
        .into_iter()
        .filter(|case| selection.picks(case))
        .collect();
    if cases.is_empty() {
        return Err(usage(format!(
            "--cases {:?} selects no case (see `conformance list`)",
            args.cases.as_deref().unwrap_or_default()
        )));
    }
    Ok(cases)
}

fn self_run(selection: &SelectionArgs, output: &OutputArgs) -> ExitCode {
    let cases = match select(selection) {
        Ok(cases) => cases,
        Err(code) => return code,
    };
    if output.jobs == 0 || output.timeout == 0 {
        return usage("--jobs and --timeout must be at least 1");
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => return usage(format!("cannot start the runtime: {error}")),
    };
    let launcher = InProcessSshgate::default();
    let info = launcher.info();
    let options = RunOptions {
        jobs: output.jobs,
        replay: scenarios::ReplayOptions {
            step_timeout: Duration::from_secs(output.timeout),
            ..Default::default()
        },
        ..Default::default()
    };
    let report = runtime.block_on(run(cases, Arc::new(launcher), info, &options));
    emit(&report, output)
}

fn emit(report: &Report, output: &OutputArgs) -> ExitCode {
    let text = match output.format {
        ReportFormat::Human => report.to_human(output.out.is_none() && colour_wanted()),
        ReportFormat::Json => report.to_json(),
        ReportFormat::Junit => report.to_junit(),
    };
    match &output.out {
        Some(path) => {
            if let Err(error) = std::fs::write(path, text) {
                return usage(format!("--out {}: {error}", path.display()));
            }
        }
        None => print!("{text}"),
    }
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    }
}
