//! Every gating behaviour, checked against sshgate (it must hold) and against the pass-through
//! control (it must fail: a check that a plain relay passes proves nothing).
//!
//! A check returns `Err` with what went wrong. Checks are written to fail fast on a relay:
//! they wait for whichever comes first, the proxy's answer or the target running the line.

use std::time::Duration;

use mock_approver::{ApproverEvent, Behaviour};
use mock_target::TargetEvent;
use rstest::rstest;
use sshgate_tests::operator::{Shell, WAIT};
use sshgate_tests::stack::{Approvals, ProxyKind, Stack};
use sshgate_wire::{Decision, InProcessMessage, RequestKind};

#[derive(Debug, Clone, Copy)]
enum Gate {
    ExecDenied,
    ShellDeniedByCarriageReturn,
    ShellDeniedByLineFeed,
    ShellDeniedByCtrlO,
    DenyWithCursorMovedLeftLeavesNothing,
    DenyThenEmptyEnterRunsNothing,
    DenyWordAssembledByEditing,
    ApproverTimeoutDenies,
    ApproverDisconnectDenies,
    ApproverMalformedAnswerDenies,
    CtrlCCancelsPending,
    InputHeldWhilePending,
    SubsystemGated,
    PortForwardingRefused,
}

/// Each gate against each proxy: sshgate must hold it, the pass-through must fail it.
#[rstest]
#[tokio::test]
async fn each_gate_against_each_proxy(
    #[values(
        Gate::ExecDenied,
        Gate::ShellDeniedByCarriageReturn,
        Gate::ShellDeniedByLineFeed,
        Gate::ShellDeniedByCtrlO,
        Gate::DenyWithCursorMovedLeftLeavesNothing,
        Gate::DenyThenEmptyEnterRunsNothing,
        Gate::DenyWordAssembledByEditing,
        Gate::ApproverTimeoutDenies,
        Gate::ApproverDisconnectDenies,
        Gate::ApproverMalformedAnswerDenies,
        Gate::CtrlCCancelsPending,
        Gate::InputHeldWhilePending,
        Gate::SubsystemGated,
        Gate::PortForwardingRefused
    )]
    gate: Gate,
    #[values(ProxyKind::Sshgate, ProxyKind::PassThrough)] kind: ProxyKind,
) {
    let outcome = gate.check(kind).await;
    match kind {
        ProxyKind::Sshgate => {
            if let Err(failure) = outcome {
                panic!("{gate:?} against sshgate: {failure}");
            }
        }
        ProxyKind::PassThrough => assert!(
            outcome.is_err(),
            "{gate:?} passed against a proxy that gates nothing: the check cannot fail"
        ),
    }
}

type Check = Result<(), String>;

fn ensure(condition: bool, failure: impl FnOnce() -> String) -> Check {
    if condition {
        Ok(())
    } else {
        Err(failure())
    }
}

impl Gate {
    async fn check(self, kind: ProxyKind) -> Check {
        match self {
            Gate::ExecDenied => exec_denied(kind).await,
            Gate::ShellDeniedByCarriageReturn => shell_denied(kind, b"echo DENY\r").await,
            Gate::ShellDeniedByLineFeed => shell_denied(kind, b"echo DENY\n").await,
            // The mock target ignores Ctrl+O, so the CR after it is what a relay would let run;
            // sshgate holds the CR with the pending line and then finds the line empty.
            Gate::ShellDeniedByCtrlO => shell_denied(kind, b"echo DENY\x0f\r").await,
            Gate::DenyWithCursorMovedLeftLeavesNothing => {
                deny_then(kind, b"echo DENY\x1b[D\x1b[D\x1b[D\r", b"\r").await
            }
            Gate::DenyThenEmptyEnterRunsNothing => deny_then(kind, b"echo DENY\r", b"\r").await,
            Gate::DenyWordAssembledByEditing => {
                shell_denied(kind, b"echo DNY\x1b[D\x1b[DE\r").await
            }
            Gate::ApproverTimeoutDenies => {
                failing_approver(kind, Behaviour::NeverAnswer, "no decision within").await
            }
            Gate::ApproverDisconnectDenies => {
                failing_approver(kind, Behaviour::CloseOnRequest, "disconnected").await
            }
            Gate::ApproverMalformedAnswerDenies => {
                failing_approver(kind, Behaviour::Malformed, "disconnected").await
            }
            Gate::CtrlCCancelsPending => ctrl_c_cancels(kind).await,
            Gate::InputHeldWhilePending => input_held_while_pending(kind).await,
            Gate::SubsystemGated => subsystem_gated(kind).await,
            Gate::PortForwardingRefused => port_forwarding_refused(kind).await,
        }
    }
}

async fn exec_denied(kind: ProxyKind) -> Check {
    let stack = Stack::start(kind).await;
    let outcome = stack.operator().await.exec("echo DENY").await?;
    ensure(
        outcome.exit_status.is_some_and(|status| status != 0),
        || format!("exit status {:?}, want non-zero", outcome.exit_status),
    )?;
    ensure(outcome.stderr.contains("denied: blocked"), || {
        format!("stderr {:?} does not give the reason", outcome.stderr)
    })?;
    let ran = stack.events().exec_commands();
    ensure(ran.is_empty(), || format!("the target ran {ran:?}"))
}

/// Wait until the operator sees the denial, failing at once if the target ran the line.
async fn expect_denied(shell: &mut Shell) -> Check {
    shell.expect_any(&["denied: blocked", "DENY:ok"]).await?;
    ensure(!shell.text().contains("DENY:ok"), || {
        format!("the denied line ran: {:?}", shell.text())
    })
}

/// Run one more line and wait for it, so that anything the target would still run of the
/// denied line has run by then.
async fn settle(stack: &Stack, shell: &Shell) -> Check {
    shell.send(b"echo settled\r").await?;
    executed(stack, "echo settled").await
}

/// Wait until the target's shell ran `line`.
async fn executed(stack: &Stack, line: &str) -> Check {
    let ran =
        |event: &TargetEvent| matches!(event, TargetEvent::Executed { line: ran } if ran == line);
    match stack.events().wait_for(ran, WAIT).await {
        Some(_) => Ok(()),
        None => Err(format!("the target never ran {line:?}")),
    }
}

fn nothing_denied_ran(stack: &Stack) -> Check {
    let lines = stack.events().executed_lines();
    ensure(!lines.iter().any(|line| line.contains("DENY")), || {
        format!("the target executed {lines:?}")
    })
}

async fn shell_denied(kind: ProxyKind, keys: &[u8]) -> Check {
    let stack = Stack::start(kind).await;
    let operator = stack.operator().await;
    let mut shell = operator.shell().await?;
    shell.expect("$ ").await?;
    shell.send(keys).await?;
    expect_denied(&mut shell).await?;
    settle(&stack, &shell).await?;
    nothing_denied_ran(&stack)?;
    // The denied line's submit never reached the target: between the start of the line and
    // the kill that discarded it, no CR or LF arrived.
    let input = stack.events().input_bytes();
    let start = input.windows(4).position(|w| w == b"echo").unwrap_or(0);
    let kill = input.iter().position(|&b| b == 0x15).unwrap_or(input.len());
    let submitted = input[start..kill]
        .iter()
        .any(|b| matches!(b, b'\r' | b'\n'));
    ensure(!submitted, || {
        format!("the target received a submit for the denied line: {input:?}")
    })
}

async fn deny_then(kind: ProxyKind, keys: &[u8], then: &[u8]) -> Check {
    let stack = Stack::start(kind).await;
    let operator = stack.operator().await;
    let mut shell = operator.shell().await?;
    shell.expect("$ ").await?;
    shell.send(keys).await?;
    expect_denied(&mut shell).await?;
    shell.send(then).await?;
    settle(&stack, &shell).await?;
    nothing_denied_ran(&stack)
}

async fn failing_approver(kind: ProxyKind, behaviour: Behaviour, reason: &str) -> Check {
    let stack = Stack::with(kind, Approvals::Mock(behaviour), Duration::from_millis(500)).await;
    let outcome = stack.operator().await.exec("echo hi").await?;
    ensure(
        outcome.exit_status.is_some_and(|status| status != 0),
        || format!("exit status {:?}, want non-zero", outcome.exit_status),
    )?;
    ensure(outcome.stderr.contains(reason), || {
        format!("stderr {:?} does not say {reason:?}", outcome.stderr)
    })?;
    let ran = stack.events().exec_commands();
    ensure(ran.is_empty(), || format!("the target ran {ran:?}"))
}

/// The next request the test must answer, unless the target ran `line` first.
async fn next_request(
    stack: &mut Stack,
    line: &str,
) -> Result<
    (
        sshgate_wire::ApprovalRequest,
        tokio::sync::oneshot::Sender<Decision>,
    ),
    String,
> {
    let events = stack.target.events.clone();
    let receiver = stack.manual.as_mut().expect("a manual stack");
    tokio::select! {
        message = tokio::time::timeout(WAIT, receiver.recv()) => match message {
            Ok(Some(InProcessMessage::Request { request, reply })) => Ok((request, reply)),
            other => Err(format!("no approval request: {other:?}")),
        },
        ran = events.wait_for(|event| match event {
            TargetEvent::Executed { line: ran } => ran == line,
            TargetEvent::Exec { command } => command == line,
            TargetEvent::Subsystem { name } => name == line,
            _ => false,
        }, WAIT) => Err(format!("the target ran {line:?} without a decision: {ran:?}")),
    }
}

async fn ctrl_c_cancels(kind: ProxyKind) -> Check {
    let mut stack = Stack::with(kind, Approvals::Manual, WAIT).await;
    let operator = stack.operator().await;
    let mut shell = operator.shell().await?;
    shell.expect("$ ").await?;
    shell.send(b"echo hi\r").await?;
    let (request, _reply) = next_request(&mut stack, "echo hi").await?;
    shell.send(b"\x03").await?;
    match stack.manual_message().await {
        Some(InProcessMessage::Cancel { id, .. }) if id == request.id => {}
        other => {
            return Err(format!(
                "the approver was not told of the cancel: {other:?}"
            ))
        }
    }
    shell.send(b"echo settled\r").await?;
    let (request, reply) = next_request(&mut stack, "echo settled").await?;
    let _ = reply.send(Decision::approve(&request.id));
    shell.expect("echo settled:ok").await?;
    let lines = stack.events().executed_lines();
    ensure(!lines.contains(&"echo hi".to_string()), || {
        format!("the cancelled line ran: {lines:?}")
    })
}

async fn input_held_while_pending(kind: ProxyKind) -> Check {
    let mut stack = Stack::with(kind, Approvals::Manual, WAIT).await;
    let operator = stack.operator().await;
    let mut shell = operator.shell().await?;
    shell.expect("$ ").await?;
    shell.send(b"echo first\r").await?;
    let (request, reply) = next_request(&mut stack, "echo first").await?;
    ensure(
        request.kind == RequestKind::Shell && request.command == "echo first",
        || format!("asked about {request:?}"),
    )?;
    // Typed ahead while pending, then a resize: the resize must pass, and because the
    // channel is ordered, by the time the target sees it the proxy has the typed bytes.
    shell.send(b"typed-ahead").await?;
    shell
        .channel
        .window_change(100, 30, 0, 0)
        .await
        .map_err(|e| e.to_string())?;
    stack
        .events()
        .wait_for(
            |event| {
                matches!(
                    event,
                    TargetEvent::WindowChange {
                        cols: 100,
                        rows: 30
                    }
                )
            },
            WAIT,
        )
        .await
        .ok_or("the window change did not pass while pending")?;
    let input = String::from_utf8_lossy(&stack.events().input_bytes()).into_owned();
    ensure(!input.contains("typed-ahead"), || {
        format!("input reached the target while pending: {input:?}")
    })?;
    let _ = reply.send(Decision::approve(&request.id));
    executed(&stack, "echo first").await?;
    shell.expect("echo first:ok").await?;
    shell.send(b"\x15echo done\r").await?;
    let (request, reply) = next_request(&mut stack, "echo done").await?;
    let _ = reply.send(Decision::approve(&request.id));
    let input = String::from_utf8_lossy(&stack.events().input_bytes()).into_owned();
    ensure(input.contains("typed-ahead"), || {
        format!("input held while pending was lost: {input:?}")
    })
}

async fn subsystem_gated(kind: ProxyKind) -> Check {
    let mut stack = Stack::with(kind, Approvals::Manual, WAIT).await;
    let operator = stack.operator().await;
    let mut channel = operator.subsystem("sftp").await?;
    let (request, reply) = next_request(&mut stack, "sftp").await?;
    ensure(
        request.kind == RequestKind::Subsystem && request.command == "sftp",
        || format!("asked about {request:?}"),
    )?;
    let _ = reply.send(Decision::deny(&request.id, "no file transfer"));
    let outcome = sshgate_tests::operator::collect(&mut channel).await?;
    ensure(outcome.stderr.contains("no file transfer"), || {
        format!("stderr {:?} does not give the reason", outcome.stderr)
    })?;
    let events = stack.events().snapshot();
    ensure(
        !events
            .iter()
            .any(|event| matches!(event, TargetEvent::Subsystem { .. })),
        || format!("the target started a subsystem: {events:?}"),
    )
}

async fn port_forwarding_refused(kind: ProxyKind) -> Check {
    let stack = Stack::start(kind).await;
    let operator = stack.operator().await;
    // Forward to the mock target's own port: something that certainly listens.
    let port = u32::from(stack.target.addr.port());
    ensure(operator.forward("127.0.0.1", port).await.is_err(), || {
        "a direct-tcpip channel was opened".to_string()
    })
}

#[tokio::test]
async fn approved_commands_run() {
    let stack = Stack::start(ProxyKind::Sshgate).await;
    let operator = stack.operator().await;
    let outcome = operator.exec("echo hi").await.unwrap();
    assert_eq!(outcome.stdout, "echo hi:ok\r\n");
    assert_eq!(outcome.exit_status, Some(0));

    let mut shell = operator.shell().await.unwrap();
    shell.expect("$ ").await.unwrap();
    shell.send(b"echo hi\r").await.unwrap();
    shell.expect("echo hi:ok").await.unwrap();
    let requests = stack.approvals.requests();
    let kinds: Vec<_> = requests
        .iter()
        .map(|r| (r.kind, r.command.as_str(), r.certain))
        .collect();
    assert_eq!(
        kinds,
        [
            (RequestKind::Exec, "echo hi", true),
            (RequestKind::Shell, "echo hi", true)
        ]
    );
    assert!(stack
        .approvals
        .snapshot()
        .iter()
        .any(|event| matches!(event, ApproverEvent::Decision { approve: true, .. })));
}
