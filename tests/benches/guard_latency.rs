//! The latency guarded mode adds to each command: sshgate in-process in front of two real bash
//! shells behind OpenSSH's sshd, one without the guard (keystroke gating alone) and one that
//! sources it (keystroke gating, then the guard's question, answered from the approved line).
//! For each command (`:`, the null command) the time runs from the Enter leaving the
//! operator's client to the next prompt on its screen; the two shells take turns, command by
//! command, so that both see the same machine. Prints the median and quartiles of each, and
//! the median's ratio and difference.
//!
//!     cargo bench -p sshgate-tests --bench guard_latency -- [--commands 200] [--shell bash|zsh]
//!
//! Needs OpenSSH's sshd and the shell.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mock_approver::{Behaviour, InProcessApprover};
use real_target::{RealTarget, Shell as TargetShell, TargetOptions};
use sshgate::approval::{ApprovalPath, InProcessApprover as ChannelApprover};
use sshgate::guard::GuardMode;
use sshgate::{ClientAuth, Settings};
use sshgate_tests::operator::{Operator, Shell};
use tokio::sync::oneshot;

/// One shell through its own sshgate, at its prompt.
struct Session {
    _target: RealTarget,
    _stop: oneshot::Sender<()>,
    _operator: Operator,
    shell: Shell,
}

impl Session {
    async fn start(shell: TargetShell, guarded: bool) -> Session {
        let guard = guarded.then(|| sshgate::guard::script(shell.name()).unwrap().to_string());
        let options = TargetOptions {
            shell,
            guard,
            ..TargetOptions::default()
        };
        let target = RealTarget::start(options).expect("sshd and the shell start");
        let approver =
            InProcessApprover::spawn(mock_approver::Config::with_behaviour(Behaviour::Rule));
        let approval = ApprovalPath::new(
            Arc::new(ChannelApprover::new(approver.sender)),
            Duration::from_secs(60),
        );
        let settings = Settings {
            client_auth: ClientAuth::InsecureAcceptAny,
            target: sshgate_tests::stack::real_target_settings(&target),
            guard: GuardMode::Prefer,
            ..Settings::for_local_target(
                sshgate::credentials::generate_host_key(),
                target.addr(),
                target.host_key(),
            )
        };
        let (proxy, stop) = sshgate_tests::stack::serve_sshgate(settings, approval).await;
        let operator = Operator::connect(proxy, "operator", None).await.unwrap();
        let mut shell = operator.shell().await.unwrap();
        shell.expect("$ ").await.unwrap();
        Session {
            _target: target,
            _stop: stop,
            _operator: operator,
            shell,
        }
    }

    /// Run `:` and return the time from the Enter to the next prompt.
    async fn command(&mut self) -> Duration {
        let typed = self.shell.mark();
        self.shell.send(b":").await.unwrap();
        self.shell.expect_after(typed, ":").await.unwrap();
        let mark = self.shell.mark();
        let start = Instant::now();
        self.shell.send(b"\r").await.unwrap();
        self.shell
            .wait_until(mark, Duration::from_secs(30), "the prompt", |output| {
                String::from_utf8_lossy(output).contains("$ ")
            })
            .await
            .unwrap();
        start.elapsed()
    }
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn summary(name: &str, times: &mut [Duration]) -> Duration {
    times.sort();
    let (q1, median, q3) = (
        quantile(times, 0.25),
        quantile(times, 0.5),
        quantile(times, 0.75),
    );
    println!(
        "{name:<28} median {median:>9.2?}   quartiles {q1:.2?} .. {q3:.2?}   ({} commands)",
        times.len()
    );
    median
}

#[tokio::main]
async fn main() {
    let mut commands = 200;
    let mut shell = TargetShell::Bash;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--commands" => {
                commands = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n: &usize| n > 0)
                    .expect("--commands needs a number above 0")
            }
            "--shell" => {
                let name = args.next().unwrap_or_default();
                shell = TargetShell::from_name(&name).expect("--shell bash or zsh");
            }
            // cargo bench passes --bench.
            _ => {}
        }
    }
    let mut keystroke = Session::start(shell, false).await;
    let mut guarded = Session::start(shell, true).await;
    // A few rounds first, so that neither side pays for a cold start.
    for _ in 0..5 {
        keystroke.command().await;
        guarded.command().await;
    }
    let (mut plain, mut with_guard) = (Vec::new(), Vec::new());
    for _ in 0..commands {
        plain.push(keystroke.command().await);
        with_guard.push(guarded.command().await);
    }
    println!("{shell} behind sshd, through sshgate in-process, `:` then Enter, to the prompt:");
    let base = summary("keystroke gating", &mut plain);
    let added = summary("guarded (keystroke + guard)", &mut with_guard);
    println!(
        "guarded / keystroke: {:.2}x; added per command: {:.2?}",
        added.as_secs_f64() / base.as_secs_f64(),
        added.saturating_sub(base)
    );
}
