//! The in-process approver: a task answering [`InProcessMessage`]s from an mpsc channel, for
//! proxies wired to an approver without a network in between.
//!
//! Invariant: every request is recorded before it is acted on, every answer is recorded as a
//! `Decision` just before it is sent on the request's oneshot, and a cancelled request's reply is
//! dropped unanswered (which the proxy reads as deny) instead of answered.

use sshgate_wire::{Decision, InProcessMessage};
use tokio::sync::{mpsc, oneshot};

use crate::log::{ApproverEvent, ApproverLog};
use crate::pending::{Pending, OUTBOX_CAPACITY};
use crate::rule::{Config, Plan};

/// How many messages may wait for the approver. When full, the proxy's `send` waits: the proxy
/// is expected to hold the command anyway until it has an answer.
pub const CHANNEL_CAPACITY: usize = 64;

/// The in-process approver: send it [`InProcessMessage`]s, read what it did from `log`.
/// The task ends when every clone of `sender` is dropped (or on [`Behaviour::CloseOnRequest`]).
///
/// [`Behaviour::CloseOnRequest`]: crate::Behaviour::CloseOnRequest
pub struct InProcessApprover {
    pub sender: mpsc::Sender<InProcessMessage>,
    pub log: ApproverLog,
}

impl InProcessApprover {
    /// Starts the approver task. Needs a tokio runtime.
    ///
    /// # Panics
    /// If `config.events_file` cannot be opened; [`InProcessApprover::try_spawn`] returns the
    /// error instead.
    pub fn spawn(config: Config) -> Self {
        match Self::try_spawn(config) {
            Ok(approver) => approver,
            Err(error) => panic!("mock-approver: cannot open the events file: {error}"),
        }
    }

    /// Starts the approver task, or fails if the events file cannot be opened.
    pub fn try_spawn(config: Config) -> std::io::Result<Self> {
        let log = ApproverLog::open(config.events_file.as_deref())?;
        Ok(Self::spawn_with_log(config, log))
    }

    /// Starts the approver task recording into `log` (its events file, if any, is the log's;
    /// `config.events_file` is ignored).
    pub fn spawn_with_log(config: Config, log: ApproverLog) -> Self {
        let (sender, messages) = mpsc::channel(CHANNEL_CAPACITY);
        tokio::spawn(answer_messages(config, log.clone(), messages));
        InProcessApprover { sender, log }
    }
}

async fn answer_messages(
    config: Config,
    log: ApproverLog,
    mut messages: mpsc::Receiver<InProcessMessage>,
) {
    let (outbox, mut answers) = mpsc::channel(OUTBOX_CAPACITY);
    let mut pending: Pending<oneshot::Sender<Decision>> = Pending::new();
    loop {
        tokio::select! {
            message = messages.recv() => {
                let Some(message) = message else { break };
                match message {
                    InProcessMessage::Request { request, reply } => {
                        log.record(ApproverEvent::Request(request.clone()));
                        match config.plan(&request) {
                            Plan::Now(decision) => deliver(&log, reply, decision),
                            Plan::Later(later) => {
                                pending.spawn(request.id, later, outbox.clone(), reply);
                            }
                            Plan::Hold => pending.hold(request.id, reply),
                            Plan::Close => {
                                tracing::debug!(id = %request.id, "closing on request");
                                break;
                            }
                            Plan::Malformed => drop(reply),
                        }
                    }
                    InProcessMessage::Cancel { id, reason } => {
                        log.record(ApproverEvent::Cancel { id: id.clone(), reason });
                        pending.cancel(&id);
                    }
                    InProcessMessage::Alert(alert) => log.record(ApproverEvent::Alert(alert)),
                }
            }
            // `outbox` is held here too, so this never yields None.
            Some(answer) = answers.recv() => {
                if let Some(reply) = pending.finish(&answer) {
                    deliver(&log, reply, answer.decision);
                }
            }
        }
    }
    // Dropping `messages` here makes the proxy's later sends fail; dropping `pending` drops the
    // held replies (deny) and stops the answering tasks.
}

fn deliver(log: &ApproverLog, reply: oneshot::Sender<Decision>, decision: Decision) {
    log.record(ApproverEvent::from(&decision));
    if reply.send(decision).is_err() {
        tracing::debug!("the proxy stopped waiting for this decision");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::Behaviour;
    use sshgate_wire::ApprovalRequest;
    use std::time::Duration;
    use tokio::sync::oneshot::error::TryRecvError;

    fn request(id: &str, command: &str) -> ApprovalRequest {
        ApprovalRequest {
            id: id.into(),
            command: command.into(),
            certain: true,
            ..Default::default()
        }
    }

    async fn ask(
        approver: &InProcessApprover,
        id: &str,
        command: &str,
    ) -> oneshot::Receiver<Decision> {
        let (reply, answer) = oneshot::channel();
        approver
            .sender
            .send(InProcessMessage::Request {
                request: request(id, command),
                reply,
            })
            .await
            .unwrap();
        answer
    }

    async fn cancel(approver: &InProcessApprover, id: &str) {
        approver
            .sender
            .send(InProcessMessage::Cancel {
                id: id.into(),
                reason: "ctrl-c".into(),
            })
            .await
            .unwrap();
    }

    async fn wait_until_recorded(approver: &InProcessApprover, count: usize) {
        approver
            .log
            .wait_for(
                |_| approver.log.snapshot().len() >= count,
                Duration::from_secs(5),
            )
            .await
            .expect("events recorded");
    }

    #[tokio::test]
    async fn rule_approves_echo_hi_and_denies_echo_deny() {
        let approver = InProcessApprover::spawn(Config::default());
        let hi = ask(&approver, "r1", "echo hi").await.await.unwrap();
        assert_eq!(hi, Decision::approve("r1"));
        let deny = ask(&approver, "r2", "echo DENY").await.await.unwrap();
        assert_eq!(deny, Decision::deny("r2", "blocked"));
        assert_eq!(
            approver.log.snapshot(),
            vec![
                ApproverEvent::Request(request("r1", "echo hi")),
                ApproverEvent::from(&Decision::approve("r1")),
                ApproverEvent::Request(request("r2", "echo DENY")),
                ApproverEvent::from(&Decision::deny("r2", "blocked")),
            ]
        );
    }

    #[tokio::test]
    async fn custom_deny_marker() {
        let approver = InProcessApprover::spawn(Config {
            deny_marker: "rm".into(),
            ..Config::default()
        });
        let answer = ask(&approver, "r1", "rm -rf /").await.await.unwrap();
        assert_eq!(answer, Decision::deny("r1", "blocked"));
        let answer = ask(&approver, "r2", "echo DENY").await.await.unwrap();
        assert_eq!(answer, Decision::approve("r2"));
    }

    #[tokio::test(start_paused = true)]
    async fn delay_answers_later_and_concurrently() {
        let approver = InProcessApprover::spawn(Config::with_behaviour(Behaviour::Delay(
            Duration::from_secs(10),
        )));
        let start = tokio::time::Instant::now();
        let mut first = ask(&approver, "r1", "echo hi").await;
        let second = ask(&approver, "r2", "echo DENY").await;
        wait_until_recorded(&approver, 2).await;
        assert_eq!(first.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(first.await.unwrap(), Decision::approve("r1"));
        assert_eq!(second.await.unwrap(), Decision::deny("r2", "blocked"));
        // Both waited the one delay side by side, not one after the other.
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_secs(10) && waited < Duration::from_secs(11),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn cancel_stops_a_delayed_answer() {
        let approver = InProcessApprover::spawn(Config::with_behaviour(Behaviour::Delay(
            Duration::from_secs(10),
        )));
        let cancelled = ask(&approver, "r1", "echo hi").await;
        let kept = ask(&approver, "r2", "echo hi").await;
        cancel(&approver, "r1").await;
        // The cancelled reply is dropped unanswered: the proxy reads that as deny.
        assert!(cancelled.await.is_err());
        assert_eq!(kept.await.unwrap(), Decision::approve("r2"));
        assert_eq!(approver.log.cancels(), vec!["r1".to_string()]);
        assert_eq!(approver.log.decisions(), vec![Decision::approve("r2")]);
    }

    #[tokio::test(start_paused = true)]
    async fn never_answer_keeps_the_reply_open() {
        let approver = InProcessApprover::spawn(Config::with_behaviour(Behaviour::NeverAnswer));
        let mut answer = ask(&approver, "r1", "echo hi").await;
        wait_until_recorded(&approver, 1).await;
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert_eq!(answer.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(approver.log.requests(), vec![request("r1", "echo hi")]);
        // A second request is still taken while the first is held.
        let _second = ask(&approver, "r2", "ls").await;
        wait_until_recorded(&approver, 2).await;
        assert!(approver.log.decisions().is_empty());
    }

    #[tokio::test]
    async fn close_on_request_drops_the_reply_and_stops_receiving() {
        let approver = InProcessApprover::spawn(Config::with_behaviour(Behaviour::CloseOnRequest));
        let answer = ask(&approver, "r1", "echo hi").await;
        assert!(answer.await.is_err());
        approver.sender.closed().await;
        let (reply, _answer) = oneshot::channel();
        let sent = approver
            .sender
            .send(InProcessMessage::Request {
                request: request("r2", "ls"),
                reply,
            })
            .await;
        assert!(sent.is_err());
        assert_eq!(approver.log.requests(), vec![request("r1", "echo hi")]);
    }

    #[tokio::test]
    async fn malformed_drops_the_reply() {
        let approver = InProcessApprover::spawn(Config::with_behaviour(Behaviour::Malformed));
        assert!(ask(&approver, "r1", "echo hi").await.await.is_err());
        // Still running: the next request is recorded too.
        assert!(ask(&approver, "r2", "ls").await.await.is_err());
        assert_eq!(approver.log.requests().len(), 2);
        assert!(approver.log.decisions().is_empty());
    }

    #[tokio::test]
    async fn interactive_asks_the_operator() {
        let operator = crate::Operator::scripted(&["n", "looks risky", "y"]);
        let approver =
            InProcessApprover::spawn(Config::with_behaviour(Behaviour::Interactive(operator)));
        let first = ask(&approver, "r1", "echo hi").await;
        let second = ask(&approver, "r2", "echo DENY").await;
        assert_eq!(first.await.unwrap(), Decision::deny("r1", "looks risky"));
        // The operator, not the rule, decides.
        assert_eq!(second.await.unwrap(), Decision::approve("r2"));
    }
}
