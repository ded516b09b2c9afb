//! sshgate's throughput and memory against OpenSSH's own, side by side in one run:
//! - bulk exec, download (`head -c N /dev/zero`) and upload (`cat > /dev/null`): straight to
//!   sshd, through an OpenSSH jump host (`ssh -J`, which also decrypts and re-encrypts once),
//!   and through sshgate; with the CPU seconds per GiB the jump host's sshd and sshgate spent;
//! - PTY output (lines of text, `yes ... | head -c N` under `ssh -tt`): straight and through
//!   sshgate, which keeps a screen of it;
//! - memory: sshgate's resident size per idle shell session.
//!
//! Every path serves the same bytes on this machine; the paths take turns within each round,
//! and each figure is the median of the rounds. Run it on an otherwise idle machine:
//!
//!     cargo build --release --workspace
//!     cargo bench -p sshgate-tests --bench throughput -- [--mib 1024] [--rounds 3] [--sessions 40]
//!         [--only download|upload|pty|memory] [--sshgate PATH-OF-ANOTHER-BUILD]
//!
//! Needs OpenSSH's sshd and ssh (Debian's openssh-server and openssh-client).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use real_target::{RealTarget, TargetOptions};
use russh::keys::ssh_key::LineEnding;
use sshgate_tests::operator::Operator;
use sshgate_tests::process::Server;

const MIB: u64 = 1024 * 1024;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

struct Options {
    mib: u64,
    rounds: usize,
    sessions: usize,
    /// Only this measurement (download, upload, pty, memory), to profile one at a time.
    only: Option<String>,
    /// Another sshgate binary to measure (an older build, for a before-and-after figure).
    sshgate: Option<String>,
}

impl Options {
    fn runs(&self, measurement: &str) -> bool {
        self.only.as_deref().is_none_or(|only| only == measurement)
    }
}

fn options() -> Options {
    let mut options = Options {
        mib: 1024,
        rounds: 3,
        sessions: 40,
        only: None,
        sshgate: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> usize {
            args.next()
                .and_then(|value| value.parse().ok())
                .unwrap_or_else(|| panic!("{name} needs a number"))
        };
        match arg.as_str() {
            "--mib" => options.mib = value("--mib") as u64,
            "--rounds" => options.rounds = value("--rounds"),
            "--sessions" => options.sessions = value("--sessions"),
            "--only" => options.only = args.next(),
            "--sshgate" => options.sshgate = args.next(),
            // cargo bench passes --bench; anything else is a mistake worth saying.
            "--bench" => {}
            other => panic!(
                "unknown argument {other:?}: --mib N, --rounds N, --sessions N, \
                 --only download|upload|pty|memory, --sshgate PATH"
            ),
        }
    }
    options
}

/// The machinery of one run: a target sshd, a jump sshd, sshgate with an approver that
/// approves everything but DENY, and the files `ssh` needs for each.
struct Paths {
    dir: tempfile::TempDir,
    target: RealTarget,
    jump: RealTarget,
    sshgate: Server,
    _approver: Server,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Path3 {
    Direct,
    Jump,
    Sshgate,
}

impl Path3 {
    fn name(self) -> &'static str {
        match self {
            Path3::Direct => "direct sshd",
            Path3::Jump => "ssh -J (OpenSSH jump)",
            Path3::Sshgate => "through sshgate",
        }
    }
}

impl Paths {
    fn start(binary: Option<&str>) -> Paths {
        let key = sshgate::credentials::generate_host_key();
        let start = |what: &str| {
            RealTarget::start(TargetOptions {
                client_key: Some(key.clone()),
                ..TargetOptions::default()
            })
            .unwrap_or_else(|error| panic!("the {what} sshd did not start: {error}"))
        };
        let target = start("target");
        let jump = start("jump");
        let dir = tempfile::tempdir().unwrap();
        let key_path = dir.path().join("operator_key");
        key.write_openssh_file(&key_path, LineEnding::LF).unwrap();
        let public = key.public_key().to_openssh().unwrap();
        std::fs::write(dir.path().join("authorized_keys"), format!("{public}\n")).unwrap();
        let approver = Server::start("mock-approver", &["--listen", "127.0.0.1:0"]);
        let host_key = dir.path().join("sshgate_host_key");
        let port = portpicker::pick_unused_port().expect("a free port");
        let flags = [
            "--listen".to_string(),
            format!("127.0.0.1:{port}"),
            "--target".to_string(),
            target.addr().to_string(),
            "--target-user".to_string(),
            target.user().to_string(),
            "--identity".to_string(),
            key_path.display().to_string(),
            "--target-known-hosts".to_string(),
            target.known_hosts_path().display().to_string(),
            "--authorized-keys".to_string(),
            dir.path().join("authorized_keys").display().to_string(),
            "--host-key".to_string(),
            host_key.display().to_string(),
            "--approver".to_string(),
            approver.address.clone(),
        ];
        let mut command = Command::new(match binary {
            Some(path) => PathBuf::from(path),
            None => sshgate_tests::process::binary("sshgate"),
        });
        command.args(&flags);
        let ready = format!("sshgate listening on 127.0.0.1:{port}");
        let address = format!("127.0.0.1:{port}");
        let sshgate = Server::start_program(command, &ready, address, Duration::from_secs(10))
            .unwrap_or_else(|why| panic!("sshgate did not start: {why}"));
        let gate_key = russh::keys::load_secret_key(&host_key, None).unwrap();
        let mut known_hosts = String::new();
        for known in [target.known_hosts_path(), jump.known_hosts_path()] {
            known_hosts += &std::fs::read_to_string(known).unwrap();
        }
        known_hosts += &format!(
            "[127.0.0.1]:{} {}\n",
            sshgate.port(),
            gate_key.public_key().to_openssh().unwrap()
        );
        std::fs::write(dir.path().join("known_hosts"), known_hosts).unwrap();
        let file = |name: &str| dir.path().join(name).display().to_string();
        std::fs::write(
            dir.path().join("ssh_config"),
            format!(
                "Host *\n  IdentityFile {}\n  IdentitiesOnly yes\n  BatchMode yes\n  \
                 StrictHostKeyChecking yes\n  UserKnownHostsFile {}\n  \
                 GlobalKnownHostsFile /dev/null\n  Compression no\n  LogLevel ERROR\n",
                file("operator_key"),
                file("known_hosts")
            ),
        )
        .unwrap();
        Paths {
            dir,
            target,
            jump,
            sshgate,
            _approver: approver,
        }
    }

    /// `ssh` to the target by `path` with `options`, running `command` (None: a shell).
    fn ssh(&self, path: Path3, options: &[&str], command: Option<&str>) -> Command {
        let remote = command;
        let mut command = Command::new("ssh");
        // A config file rather than -o: the jump hop reads the file, not the command line.
        command.arg("-F").arg(self.dir.path().join("ssh_config"));
        let user = self.target.user();
        let port = match path {
            Path3::Sshgate => self.sshgate.port(),
            _ => self.target.addr().port(),
        };
        if path == Path3::Jump {
            // The jump hop reads the same config file (ssh passes -F on to it).
            command.args([
                "-J",
                &format!("{user}@127.0.0.1:{}", self.jump.addr().port()),
            ]);
        }
        command.args(["-p", &port.to_string()]);
        command.args(options);
        command.arg(format!("{user}@127.0.0.1"));
        command.args(remote);
        command
    }

    /// Process ids whose CPU time a path adds: the jump host's sshd, or sshgate.
    fn relay_pid(&self, path: Path3) -> Option<u32> {
        match path {
            Path3::Direct => None,
            Path3::Jump => Some(self.jump.sshd_pid()),
            Path3::Sshgate => Some(self.sshgate.pid()),
        }
    }
}

/// CPU seconds a process and its reaped children have used (user and system).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command's closing parenthesis; utime is the 14th field overall.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<u64> = after
        .split(' ')
        .skip(11)
        .take(4)
        .map(|field| field.parse().unwrap())
        .collect();
    let ticks = 100.0; // USER_HZ on Linux
    fields.iter().sum::<u64>() as f64 / ticks
}

fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches(" kB").parse().ok())
        .unwrap()
}

/// One transfer's wall time and the relay's CPU seconds.
struct Measure {
    seconds: f64,
    relay_cpu: Option<f64>,
}

/// Run `command`, feeding it `upload` bytes of zeros on stdin if any, and count what it
/// prints; panics unless it printed `expect_out` bytes and exited 0.
fn transfer(
    paths: &Paths,
    path: Path3,
    mut command: Command,
    upload: u64,
    expect_out: u64,
) -> Measure {
    let relay = paths.relay_pid(path);
    let cpu_before = relay.map(cpu_seconds);
    let started = Instant::now();
    let mut child = command
        .stdin(if upload > 0 {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ssh starts");
    let feeder = child.stdin.take().map(|mut stdin| {
        std::thread::spawn(move || {
            let block = vec![0u8; MIB as usize];
            for _ in 0..upload / MIB {
                if stdin.write_all(&block).is_err() {
                    break;
                }
            }
        })
    });
    let mut stdout = child.stdout.take().unwrap();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut received = 0u64;
    loop {
        match stdout.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => received += n as u64,
        }
    }
    if let Some(feeder) = feeder {
        feeder.join().unwrap();
    }
    let status = child.wait().unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let mut stderr = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
    assert!(
        status.success() && received >= expect_out,
        "{} failed ({status}, {received} bytes): {stderr}",
        path.name()
    );
    // The jump's sshd reaps its session process after the client has gone.
    let relay_cpu = relay.map(|pid| {
        if path == Path3::Jump {
            wait_for_reaped_children(pid);
        }
        cpu_seconds(pid) - cpu_before.unwrap_or_default()
    });
    Measure { seconds, relay_cpu }
}

/// Wait until sshd `pid` has no child left: its session processes' CPU time is then counted
/// in its own.
fn wait_for_reaped_children(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let children = format!("/proc/{pid}/task/{pid}/children");
    while Instant::now() < deadline {
        let left = std::fs::read_to_string(&children).unwrap_or_default();
        if left.trim().is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

/// Medians per path of `rounds` rounds of `run`, the paths taking turns in each.
fn rounds(
    which: &[Path3],
    rounds: usize,
    run: impl Fn(Path3) -> Measure,
) -> Vec<(Path3, f64, Option<f64>)> {
    let mut seen: Vec<(Vec<f64>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); which.len()];
    for _ in 0..rounds {
        for (index, path) in which.iter().enumerate() {
            let measure = run(*path);
            seen[index].0.push(measure.seconds);
            if let Some(cpu) = measure.relay_cpu {
                seen[index].1.push(cpu);
            }
        }
    }
    which
        .iter()
        .zip(seen)
        .map(|(path, (seconds, cpu))| {
            let cpu = (!cpu.is_empty()).then(|| median(cpu));
            (*path, median(seconds), cpu)
        })
        .collect()
}

fn report(title: &str, mib: u64, results: &[(Path3, f64, Option<f64>)], baseline: Path3) {
    let base = results
        .iter()
        .find(|(path, ..)| *path == baseline)
        .unwrap()
        .1;
    println!("\n{title} ({mib} MiB, median wall time)");
    for (path, seconds, cpu) in results {
        let rate = mib as f64 / seconds;
        let cpu = cpu
            .map(|cpu| format!("{:6.2} CPU s/GiB", cpu * GIB / (mib * MIB) as f64))
            .unwrap_or_default();
        println!(
            "  {:<24} {seconds:7.2} s {rate:8.1} MiB/s  {:5.2}x {} {cpu}",
            path.name(),
            base / seconds,
            baseline_word(baseline),
        );
    }
}

fn baseline_word(baseline: Path3) -> &'static str {
    match baseline {
        Path3::Jump => "of ssh -J",
        _ => "of direct",
    }
}

/// sshgate's resident size with `count` idle shells open, against none; per session. Each
/// has an 80x24 terminal, as a real one does (`ssh -tt` from a pipe asks for 0x0).
fn memory_per_session(paths: &Paths, count: usize) -> (u64, u64) {
    let pid = paths.sshgate.pid();
    let before = resident_kib(pid);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let key = russh::keys::load_secret_key(paths.dir.path().join("operator_key"), None).unwrap();
    let address = paths.sshgate.address.parse().unwrap();
    let user = paths.target.user().to_string();
    let sessions = runtime.block_on(async {
        let mut sessions = Vec::new();
        for n in 0..count {
            let operator = Operator::connect(address, &user, Some(&key)).await.unwrap();
            let mut shell = operator.shell().await.unwrap();
            // Up and idle once it has run a command: its output, not the echo of the keys.
            let marker = 1000 + n;
            let command = format!("echo idle-$(({n} + 1000))\r");
            shell.send(command.as_bytes()).await.unwrap();
            shell.expect(&format!("idle-{marker}")).await.unwrap();
            sessions.push((operator, shell));
        }
        sessions
    });
    let after = resident_kib(pid);
    runtime.block_on(async move { drop(sessions) });
    (before, after)
}

fn main() {
    let options = options();
    let paths = Paths::start(options.sshgate.as_deref());
    let bytes = options.mib * MIB;
    let all = [Path3::Direct, Path3::Jump, Path3::Sshgate];
    println!(
        "sshgate throughput: {} MiB per transfer, {} rounds, {} cores",
        options.mib,
        options.rounds,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let download = format!("head -c {bytes} /dev/zero");
    if options.runs("download") {
        let results = rounds(&all, options.rounds, |path| {
            transfer(
                &paths,
                path,
                paths.ssh(path, &[], Some(&download)),
                0,
                bytes,
            )
        });
        report("exec download", options.mib, &results, Path3::Jump);
    }
    if options.runs("upload") {
        let results = rounds(&all, options.rounds, |path| {
            transfer(
                &paths,
                path,
                paths.ssh(path, &[], Some("cat > /dev/null")),
                bytes,
                0,
            )
        });
        report("exec upload", options.mib, &results, Path3::Jump);
    }
    if options.runs("pty") {
        // A quarter of the bulk size: a terminal's output is slower to relay.
        let pty_mib = (options.mib / 4).max(1);
        let pty = format!(
            "yes 'the quick brown fox jumps over the lazy dog 0123456789' | head -c {}",
            pty_mib * MIB
        );
        let results = rounds(&[Path3::Direct, Path3::Sshgate], options.rounds, |path| {
            transfer(
                &paths,
                path,
                paths.ssh(path, &["-tt"], Some(&pty)),
                0,
                pty_mib * MIB,
            )
        });
        report("PTY output", pty_mib, &results, Path3::Direct);
    }
    if options.runs("memory") {
        let (before, after) = memory_per_session(&paths, options.sessions);
        println!(
        "\nmemory: sshgate resident {before} KiB idle, {after} KiB with {} idle shells: {} KiB per session",
        options.sessions,
        (after.saturating_sub(before)) / options.sessions as u64
    );
    }
}
