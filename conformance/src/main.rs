//! The `conformance` binary: parses the command line, then hands over to the library.
//!
//! Exit status: 0 when every required case that ran passed and at least one did (and none
//! was skipped, unless `--allow-skip`); 1 otherwise, with the reason in one line; 2 for usage
//! errors or a proxy that never came up. `matrix`: 0 when it graded every proxy, 1 when one
//! never came up.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use conformance::catalogue;
use conformance::external::{run_against, StartError, Target};
use conformance::matrix;
use conformance::progress::{ProgressStyle, LOG_EVERY};
use conformance::real_shell::{self, RealShellHarness};
use conformance::report::{colour_wanted, Report};
use conformance::runner::{run, RunOptions, RunTarget, SEED};
use conformance::self_run::InProcessSshgate;
use conformance::suite::{self, Selection};
use real_target::Shell;
use scenarios::format::Tier;
use scenarios::replay::Harness;
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
    /// Put SHELL behind a private OpenSSH sshd on loopback as the target, instead of the mock
    /// target: a fresh sshd and shell for every replay, whose referee records each line the
    /// shell runs. Only the real-shell cases for SHELL run (`conformance list --target-shell
    /// SHELL`); cases for the mock target are not run. Needs /usr/sbin/sshd, /run/sshd and
    /// SHELL installed. The self-run replays 4 at a time; `run` one at a time (every replay
    /// logs in as the one user sshd accepts, the user running the runner, so replays at once
    /// could not be told apart).
    #[arg(long, value_enum, value_name = "SHELL", global = true)]
    target_shell: Option<ShellArg>,
    /// With --target-shell bash or zsh: the guarded tier. The shell sources sshgate's guard
    /// (docs/guard.md), which asks before every command it runs, and the proxy is expected
    /// to answer it; cases that need the guard are required, cases whose expectations assume
    /// no guard are left out. Reports mark each case's tier.
    #[arg(long, global = true)]
    guarded: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ShellArg {
    Bash,
    Zsh,
    Fish,
    Dash,
}

impl ShellArg {
    fn shell(self) -> Shell {
        match self {
            ShellArg::Bash => Shell::Bash,
            ShellArg::Zsh => Shell::Zsh,
            ShellArg::Fish => Shell::Fish,
            ShellArg::Dash => Shell::Dash,
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print a completion script for SHELL (`conformance completions bash`).
    Completions {
        #[arg(value_enum, value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the man page, in roff (`conformance man > conformance.1; man ./conformance.1`).
    Man,
    /// List the cases: id and the requirement each checks (with --target-shell, those that
    /// run on that shell).
    List {
        #[command(flatten)]
        selection: SelectionArgs,
        #[arg(long, value_enum, default_value_t = ListFormat::Human)]
        format: ListFormat,
    },
    /// Run the suite against a proxy in another process: one you start (`--proxy`) or one the
    /// runner starts (`--launch`). The runner serves the target (the mock, or with
    /// --target-shell a relay to a real shell behind sshd) and the WebSocket approver on
    /// loopback and prints where they are.
    #[command(after_help = LAUNCH_HELP)]
    Run {
        #[command(flatten)]
        proxy: ProxyArgs,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Grade several proxies in one run, each started from its own launch command, and write
    /// a matrix of categories × proxies and a page per proxy, in Markdown and in HTML:
    /// matrix.md, matrix.html, matrix-NAME.md and matrix-NAME.html in --out.
    #[command(after_help = LAUNCH_HELP)]
    Matrix {
        /// A proxy to grade, NAME=COMMAND: COMMAND as for `run --launch`, NAME (letters,
        /// digits, `-`, `_`, `.`) heads its column. Repeat it; columns keep this order.
        #[arg(long = "proxy", value_name = "NAME=COMMAND", required = true, value_parser = named_proxy)]
        proxies: Vec<(String, String)>,
        /// The folder to write the pages into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[command(flatten)]
        launch: LaunchArgs,
        #[command(flatten)]
        replay: ReplayArgs,
    },
}

/// `NAME=COMMAND` of `matrix --proxy`.
fn named_proxy(text: &str) -> Result<(String, String), String> {
    let (name, command) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not NAME=COMMAND"))?;
    if !matrix::valid_name(name) {
        return Err(format!(
            "{name:?} cannot name a column: use letters, digits, `-`, `_` and `.`"
        ));
    }
    if command.trim().is_empty() {
        return Err(format!("{name}: the command is empty"));
    }
    Ok((name.to_string(), command.to_string()))
}

const LAUNCH_HELP: &str = "\
Placeholders in --launch, each replaced by its value quoted for sh:
  {listen}              where the proxy must listen (--proxy, else a free loopback port)
  {target}              the target, HOST:PORT
  {target_known_hosts}  a known_hosts file with the target's host key
  {target_fingerprint}  the target's host key, SHA256:...
  {target_identity}     a private key file (OpenSSH format) the target accepts
  {approver}            the approver, ws://HOST:PORT (approval protocol v1)
  {authorized_keys}     an authorized_keys file with the runner's key
  {dir}                 a scratch folder for the proxy's own files, removed at the end
  {approval_timeout}    the --approval-timeout value, in seconds

The proxy must log in to the target as the operator's user name and name that user in its
approval requests: the runner tells concurrent cases apart by it.

With --target-shell, {target} is a loopback relay to a fresh sshd with that shell for each
replay (all with the same host key, all accepting {target_identity}); the operator's user name
is the user running the runner, the one sshd accepts, and replays run one at a time.

Example (sshgate; a backslash before a line break continues the command for sh):
  conformance run --approval-timeout 1 --launch 'sshgate --listen {listen} \\
    --target {target} --target-known-hosts {target_known_hosts} \\
    --identity {target_identity} --approver {approver} \\
    --authorized-keys {authorized_keys} --host-key {dir}/host_key \\
    --approval-timeout {approval_timeout}'

The same launch line grades sshgate in front of real bash: add --target-shell bash.";

#[derive(Debug, clap::Args)]
struct ProxyArgs {
    /// Where the proxy under test listens, HOST:PORT.
    #[arg(long, value_name = "HOST:PORT", required_unless_present = "launch")]
    proxy: Option<String>,
    /// Start the proxy with this command line (run by sh; see the placeholders below) and
    /// stop it at the end.
    #[arg(long, value_name = "COMMAND")]
    launch: Option<String>,
    #[command(flatten)]
    started: LaunchArgs,
}

/// How the runner meets a proxy in another process.
#[derive(Debug, clap::Args)]
struct LaunchArgs {
    /// The proxy's approval time-out in seconds. Cases where the approver never answers wait
    /// that long for the denial; without it they are skipped.
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    approval_timeout: Option<Duration>,
    /// Seconds to wait for the proxy to accept connections.
    #[arg(long, default_value = "30", value_name = "SECONDS", value_parser = seconds)]
    startup_timeout: Duration,
    /// Where the mock target (with --target-shell, the relay to the real one) listens.
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    target_listen: SocketAddr,
    /// Where the WebSocket approver listens.
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    approver_listen: SocketAddr,
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
    #[command(flatten)]
    replay: ReplayArgs,
}

/// How the cases are replayed.
#[derive(Debug, clap::Args)]
struct ReplayArgs {
    /// Replays in flight at once [default: 64; with --target-shell 4, and `run
    /// --target-shell` takes only 1].
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Seconds each waiting step may take (fractions allowed) [default: 5; with
    /// --target-shell 10].
    #[arg(long, value_name = "SECONDS", value_parser = seconds)]
    timeout: Option<Duration>,
    /// How keys are cut into packets; cases that pin a chunking keep theirs.
    #[arg(long, value_enum, default_value_t = ChunkingArg::All)]
    chunking: ChunkingArg,
    /// Accept skipped required cases (the proxy lacks what they need): without it a skipped
    /// required case is not a pass, and the exit status is 1.
    #[arg(long)]
    allow_skip: bool,
    /// Seconds between progress lines when stderr is not a terminal [default: 5].
    #[arg(long, value_name = "SECONDS", value_parser = seconds, hide = true)]
    progress_every: Option<Duration>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ChunkingArg {
    /// All three below.
    All,
    OnePacket,
    ByteByByte,
    /// Random cuts of 1 to 8 bytes, with the suite's fixed seed.
    Random,
}

impl ChunkingArg {
    fn chunkings(self) -> Vec<scenarios::Chunking> {
        use scenarios::Chunking;
        match self {
            ChunkingArg::All => Chunking::all(SEED).to_vec(),
            ChunkingArg::OnePacket => vec![Chunking::OnePacket],
            ChunkingArg::ByteByByte => vec![Chunking::ByteByByte],
            ChunkingArg::Random => vec![Chunking::Random { seed: SEED }],
        }
    }
}

/// A positive number of seconds, fractions allowed.
fn seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(value) if value > 0.0 && value.is_finite() => Ok(Duration::from_secs_f64(value)),
        _ => Err(format!("{text:?} is not a positive number of seconds")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ReportFormat {
    Human,
    Json,
    Junit,
    /// One self-contained page: summary, filters, each case with its timeline.
    Html,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ListFormat {
    Human,
    Markdown,
    /// An array of objects: id, category, requirement, description, tags, grade, targets.
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "error".into()),
        )
        .with_writer(std::io::stderr)
        // Escape codes only for a person at a terminal, not in a log file or a pipe.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let shell = cli.target_shell.map(ShellArg::shell);
    let tier = match (cli.guarded, shell) {
        (false, _) => Tier::Unguarded,
        (true, Some(shell)) if real_shell::guard_for(shell, Tier::Guarded).is_some() => {
            Tier::Guarded
        }
        (true, _) => {
            return usage("--guarded needs --target-shell bash or zsh (the shells with a guard)")
        }
    };
    match cli.command {
        Some(Command::List { selection, format }) => {
            let cases = match select(&selection) {
                Ok(cases) => cases,
                Err(code) => return code,
            };
            let cases: Vec<Scenario> = match shell {
                Some(shell) => cases
                    .into_iter()
                    .filter(|case| real_shell::runs_on(case, shell) && case.in_tier(tier))
                    .collect(),
                None => cases,
            };
            write_stdout(&match format {
                ListFormat::Human => catalogue::human(&cases),
                ListFormat::Markdown => catalogue::markdown(&cases),
                ListFormat::Json => catalogue::json(&cases),
            });
            ExitCode::SUCCESS
        }
        Some(Command::Run { proxy, output }) => {
            run_external(&cli.selection, &proxy, &output, shell, tier)
        }
        Some(Command::Completions { shell }) => {
            let mut out = std::io::stdout();
            clap_complete::generate(shell, &mut Cli::command(), "conformance", &mut out);
            ExitCode::SUCCESS
        }
        Some(Command::Man) => {
            let mut page = Vec::new();
            let written = clap_mangen::Man::new(Cli::command())
                .render(&mut page)
                .and_then(|()| std::io::Write::write_all(&mut std::io::stdout(), &page));
            match written {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("conformance: cannot write the man page: {error}");
                    ExitCode::from(EXIT_FAILED)
                }
            }
        }
        Some(Command::Matrix {
            proxies,
            out,
            launch,
            replay,
        }) => grade_matrix(
            &cli.selection,
            &proxies,
            &out,
            &launch,
            &replay,
            shell,
            tier,
        ),
        None => self_run(&cli.selection, &cli.output, shell, tier),
    }
}

/// Standard output gets `text`; a reader that has gone (`conformance list | head`) is not an
/// error worth a panic, which `print!` would raise.
fn write_stdout(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
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

/// Where the replays of a run go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// sshgate in-process, one per replay.
    SelfRun,
    /// One proxy in another process.
    External,
}

/// The cases and run options the command line asks for, and a runtime to run them on. The
/// target decides the cases: the mock runs the mock's cases (real-shell ones are listed, never
/// run), `--target-shell` runs that shell's and no others.
fn prepare(
    selection: &SelectionArgs,
    replay: &ReplayArgs,
    shell: Option<Shell>,
    tier: Tier,
    mode: Mode,
) -> Result<(Vec<Scenario>, RunOptions, tokio::runtime::Runtime), ExitCode> {
    let cases: Vec<Scenario> = select(selection)?
        .into_iter()
        .filter(|case| match shell {
            Some(shell) => real_shell::runs_on(case, shell) && case.in_tier(tier),
            None => !case.on_bash(),
        })
        .collect();
    let pattern = selection.cases.as_deref().unwrap_or_default();
    if cases.is_empty() {
        return Err(usage(match shell {
            Some(shell) => format!(
                "--cases {pattern:?} selects no case for --target-shell {shell} (see \
                 `conformance list --target-shell {shell}`)"
            ),
            None => format!(
                "--cases {pattern:?} selects only real-shell cases, which need --target-shell"
            ),
        }));
    }
    let jobs = match (shell, mode, replay.jobs) {
        (_, _, Some(0)) => return Err(usage("--jobs must be at least 1")),
        (Some(_), Mode::External, Some(jobs)) if jobs > 1 => {
            return Err(usage(
                "--jobs: with run --target-shell replays run one at a time (one user on the \
                 target: replays at once could not be told apart)",
            ))
        }
        (_, _, Some(jobs)) => jobs,
        (None, _, None) => 64,
        (Some(_), Mode::SelfRun, None) => real_shell::CONCURRENCY,
        (Some(_), Mode::External, None) => 1,
    };
    let default_timeout = match shell {
        Some(_) => real_shell::STEP_TIMEOUT,
        None => Duration::from_secs(5),
    };
    if let Some(shell) = shell {
        // Said before the run, in one line, rather than as a failure of every case.
        if let Err(missing) = real_target::available(shell) {
            return Err(usage(format!("--target-shell {shell}: {missing}")));
        }
    }
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|error| usage(format!("cannot start the runtime: {error}")))?;
    let options = RunOptions {
        jobs,
        replay: scenarios::ReplayOptions {
            step_timeout: replay.timeout.unwrap_or(default_timeout),
            client_env: match shell {
                Some(_) => real_shell::client_env(),
                None => Vec::new(),
            },
            ..Default::default()
        },
        chunkings: replay.chunking.chunkings(),
        target: shell.map_or(RunTarget::Mock, |shell| RunTarget::Shell(shell, tier)),
        allow_skip: replay.allow_skip,
        progress: ProgressStyle::for_stderr(replay.progress_every.unwrap_or(LOG_EVERY)),
        ..Default::default()
    };
    Ok((cases, options, runtime))
}

fn self_run(
    selection: &SelectionArgs,
    output: &OutputArgs,
    shell: Option<Shell>,
    tier: Tier,
) -> ExitCode {
    let (cases, mut options, runtime) =
        match prepare(selection, &output.replay, shell, tier, Mode::SelfRun) {
            Ok(prepared) => prepared,
            Err(code) => return code,
        };
    let (info, harness): (_, Arc<dyn Harness>) = match shell {
        None => {
            let launcher = InProcessSshgate::default();
            options.approval_timeout = Some(launcher.approval_timeout);
            (
                launcher.info(),
                Arc::new(scenarios::Isolated::new(launcher)),
            )
        }
        Some(shell) => {
            let launcher = InProcessSshgate::for_real_shell();
            options.approval_timeout = Some(launcher.approval_timeout);
            let info = launcher.info();
            (
                info,
                Arc::new(RealShellHarness::in_tier(shell, tier, launcher)),
            )
        }
    };
    let report = runtime.block_on(run(cases, harness, info, &options));
    emit(&report, output)
}

fn run_external(
    selection: &SelectionArgs,
    proxy: &ProxyArgs,
    output: &OutputArgs,
    shell: Option<Shell>,
    tier: Tier,
) -> ExitCode {
    let (cases, options, runtime) =
        match prepare(selection, &output.replay, shell, tier, Mode::External) {
            Ok(prepared) => prepared,
            Err(code) => return code,
        };
    let address = match &proxy.proxy {
        Some(text) => match std::net::ToSocketAddrs::to_socket_addrs(text.as_str()) {
            Ok(mut addresses) => match addresses.next() {
                Some(address) => Some(address),
                None => return usage(format!("--proxy {text}: no address")),
            },
            Err(error) => return usage(format!("--proxy {text}: {error}")),
        },
        None => None,
    };
    let target = proxy
        .started
        .target(address, proxy.launch.clone(), shell, tier);
    match runtime.block_on(run_against(cases, &target, options)) {
        Ok(report) => emit(&report, output),
        Err(StartError::Usage(message)) => usage(message),
        Err(StartError::NeverCameUp { reason, output }) => {
            eprintln!("conformance: the proxy never came up: {reason}");
            for line in output.lines() {
                eprintln!("  | {line}");
            }
            ExitCode::from(EXIT_USAGE)
        }
    }
}

impl LaunchArgs {
    fn target(
        &self,
        proxy: Option<SocketAddr>,
        launch: Option<String>,
        shell: Option<Shell>,
        tier: Tier,
    ) -> Target {
        Target {
            proxy,
            launch,
            approval_timeout: self.approval_timeout,
            startup_timeout: self.startup_timeout,
            target_listen: self.target_listen,
            approver_listen: self.approver_listen,
            shell,
            tier,
        }
    }
}

/// `conformance matrix`: each proxy graded in turn on the same cases, then the pages written.
fn grade_matrix(
    selection: &SelectionArgs,
    proxies: &[(String, String)],
    out: &std::path::Path,
    launch: &LaunchArgs,
    replay: &ReplayArgs,
    shell: Option<Shell>,
    tier: Tier,
) -> ExitCode {
    let mut names: Vec<&str> = proxies.iter().map(|(name, _)| name.as_str()).collect();
    names.sort_unstable();
    if let Some(twice) = names.windows(2).find(|pair| pair[0] == pair[1]) {
        return usage(format!("--proxy: {} names two columns", twice[0]));
    }
    let (cases, options, runtime) = match prepare(selection, replay, shell, tier, Mode::External) {
        Ok(prepared) => prepared,
        Err(code) => return code,
    };
    let about = matrix::About {
        suite_version: conformance::suite::SUITE_VERSION.to_string(),
        target: shell.map_or_else(
            || "mock".to_string(),
            |shell| format!("{shell} behind OpenSSH sshd"),
        ),
        chunkings: options.chunkings.iter().map(ToString::to_string).collect(),
    };
    let proxies = proxies
        .iter()
        .map(|(name, command)| {
            (
                name.clone(),
                launch.target(None, Some(command.clone()), shell, tier),
            )
        })
        .collect();
    let columns = match runtime.block_on(matrix::grade(&cases, proxies, &options)) {
        Ok(columns) => columns,
        Err(message) => return usage(message),
    };
    if let Err(error) = matrix::write(out, &columns, &about) {
        return usage(format!("--out {}: {error}", out.display()));
    }
    eprintln!(
        "conformance: wrote the matrix to {}",
        out.join("matrix.md").display()
    );
    if columns.iter().all(|column| column.graded.is_ok()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    }
}

fn emit(report: &Report, output: &OutputArgs) -> ExitCode {
    let text = match output.format {
        ReportFormat::Human => report.to_human(output.out.is_none() && colour_wanted()),
        ReportFormat::Json => report.to_json(),
        ReportFormat::Junit => report.to_junit(),
        ReportFormat::Html => report.to_html(),
    };
    match &output.out {
        Some(path) => {
            if let Err(error) = std::fs::write(path, text) {
                return usage(format!("--out {}: {error}", path.display()));
            }
        }
        None => write_stdout(&text),
    }
    let verdict = report.verdict();
    // The human report on stdout ends with this line already.
    if output.format != ReportFormat::Human || output.out.is_some() {
        eprintln!("conformance: {}", verdict.summary());
    }
    if verdict.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    }
}
