//! Before a run against a proxy in another process: what it says it is (its SSH version
//! string and host key) and what it does at all (exec requests, PTY shells), so that cases
//! needing what it lacks are skipped with the reason rather than failed.
//!
//! Only a refusal counts as lacking a capability: a proxy that takes an exec request without
//! asking the approver still has exec, and the cases grade what it does with it.

use std::net::SocketAddr;
use std::time::Duration;

use russh::ChannelMsg;
use scenarios::approver::ScriptedApprover;
use scenarios::format::Answer;
use scenarios::replay::{connect, AnyHostKey, Harness, ReplayOptions};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;

use crate::runner::Capabilities;

/// How long each question may take; no answer by then counts as "yes, it has it".
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// What the probe found.
#[derive(Debug, Clone)]
pub struct Facts {
    pub ssh_version: Option<String>,
    pub host_key_fingerprint: Option<String>,
    pub capabilities: Capabilities,
}

/// Ask the proxy at the harness's address; an error means the runner cannot log in at all.
pub async fn probe(
    harness: &dyn Harness,
    address: SocketAddr,
    options: &ReplayOptions,
) -> Result<Facts, String> {
    let ssh_version = read_ssh_version(address).await;
    let mut stage = harness.stage(options).await.map_err(|f| f.actual)?;
    let handler = AnyHostKey::default();
    let operator = connect(stage.proxy, &stage.user, options, handler.clone())
        .await
        .map_err(|error| format!("the runner cannot log in to the proxy: {error}"))?;
    let host_key_fingerprint = handler
        .seen
        .lock()
        .ok()
        .and_then(|key| key.as_ref().map(sshgate::credentials::fingerprint));

    let mut exec = operator
        .channel_open_session()
        .await
        .map_err(|error| format!("the proxy refuses session channels: {error}"))?;
    exec.exec(true, "true")
        .await
        .map_err(|error| error.to_string())?;
    let exec = accepted(&mut exec, 1, &mut stage.approver).await;

    let mut shell = operator
        .channel_open_session()
        .await
        .map_err(|error| format!("the proxy refuses session channels: {error}"))?;
    shell
        .request_pty(true, "xterm-256color", 80, 24, 0, 0, &[])
        .await
        .and(shell.request_shell(true).await)
        .map_err(|error| error.to_string())?;
    let shell = accepted(&mut shell, 2, &mut stage.approver).await;
    Ok(Facts {
        ssh_version,
        host_key_fingerprint,
        capabilities: Capabilities { exec, shell },
    })
}

/// Whether the proxy took what was asked on `channel` (`replies` requests wanting a reply):
/// false only on a refusal (a failure reply, or the channel closed first). Approval requests
/// on the way are approved.
async fn accepted(
    channel: &mut russh::Channel<russh::client::Msg>,
    replies: usize,
    approver: &mut ScriptedApprover,
) -> bool {
    let deadline = tokio::time::sleep(PROBE_TIMEOUT);
    tokio::pin!(deadline);
    let mut successes = 0;
    loop {
        tokio::select! {
            () = &mut deadline => return true,
            message = channel.wait() => match message {
                Some(ChannelMsg::Success) => {
                    successes += 1;
                    if successes == replies {
                        return true;
                    }
                }
                Some(ChannelMsg::Failure) | Some(ChannelMsg::Close) | None => return false,
                Some(_) => {}
            },
            Some(message) = approver.recv() => {
                approver.on_message(message);
                while let Some(pending) = approver.claim() {
                    approver.answer(pending, &Answer::Approve);
                }
            }
        }
    }
}

/// The identification line the proxy sends first (`SSH-2.0-...`; RFC 4253 allows other
/// lines before it).
async fn read_ssh_version(address: SocketAddr) -> Option<String> {
    let read = async {
        let stream = TcpStream::connect(address).await.ok()?;
        let mut lines = BufReader::new(stream).lines();
        for _ in 0..16 {
            let line = lines.next_line().await.ok()??;
            if line.starts_with("SSH-") {
                return Some(line.trim_end().to_string());
            }
        }
        None
    };
    tokio::time::timeout(PROBE_TIMEOUT, read).await.ok()?
}
