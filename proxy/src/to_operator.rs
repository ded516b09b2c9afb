//! The outbound pump: everything the target sends, and the proxy's own notices, on their way
//! to the operator.
//!
//! It runs as its own task, apart from the inbound pump in [`bridge`](crate::bridge), so that
//! neither direction waits on the other: russh stops reading a connection while one of its
//! channels' buffers is full, and a single task writing one way while the other way fills up
//! would never drain it. It also watches the target's output for the bracketed paste mode
//! switch, which decides whether a newline inside a paste runs the line, and keeps the
//! target's screen that each submit is checked against.

use russh::server::Msg;
use russh::{ChannelId, ChannelMsg, ChannelReadHalf, ChannelWriteHalf};
use tokio::sync::{mpsc, watch};

use crate::audit::record::{Exit, Record};
use crate::audit::AuditLog;
use crate::guard::sequence::{Event as GuardEvent, OutputScanner};
use crate::paste_mode::PasteModeWatch;
use crate::recording::SharedRecording;
use crate::target_screen::SharedScreen;

/// Notices waiting for the operator: deny reasons, bells. A handful per decision at most; when
/// full, the inbound pump waits for room.
pub const NOTICE_CAPACITY: usize = 64;

/// What the inbound pump has the operator told.
#[derive(Debug)]
pub enum Notice {
    /// Bytes for the operator's terminal.
    Show(Vec<u8>),
    /// End the channel: this message on stderr, exit status 1.
    Refuse(String),
}

pub struct OutboundPump {
    pub target: ChannelReadHalf,
    pub client: ChannelWriteHalf<Msg>,
    pub client_id: ChannelId,
    pub server: russh::server::Handle,
    pub notices: mpsc::Receiver<Notice>,
    /// Tells the inbound pump whether the target enabled bracketed paste.
    pub bracketed_paste: watch::Sender<bool>,
    /// The target's screen, read by the inbound pump at each submit.
    pub screen: SharedScreen,
    /// Everything the operator is shown is recorded there (when sshgate records).
    pub recording: SharedRecording,
    /// Where the target's exit status for the channel is recorded.
    pub audit: AuditLog,
    pub session: String,
    /// Where the shell's guard sequences go (`--guard` not off): they are stripped from what
    /// the operator sees.
    pub guard: Option<mpsc::UnboundedSender<GuardEvent>>,
}

impl OutboundPump {
    /// Pump until the target channel ends or a refusal closes the operator's channel.
    pub async fn run(mut self) {
        let mut paste_mode = PasteModeWatch::default();
        let mut guard_scanner = OutputScanner::default();
        let mut inbound_open = true;
        loop {
            tokio::select! {
                message = self.target.wait() => {
                    let Some(mut message) = message else { break };
                    if let (true, Some(guard), ChannelMsg::Data { data }) =
                        (self.screen.is_shell(), &self.guard, &mut message)
                    {
                        let (passed, events) = guard_scanner.feed(data);
                        for event in events {
                            // The inbound pump gone, the channel is closing anyway.
                            let _ = guard.send(event);
                        }
                        if let std::borrow::Cow::Owned(passed) = passed {
                            *data = passed.into();
                        }
                        if data.is_empty() {
                            continue;
                        }
                    }
                    // Only a shell's output is read; an exec's is passed on unread (a scan
                    // of each byte cost a third of sshgate's CPU on a bulk download).
                    if let (true, ChannelMsg::Data { data }) = (self.screen.is_shell(), &message) {
                        if let Some(enabled) = paste_mode.feed(data) {
                            self.bracketed_paste.send_replace(enabled);
                        }
                        self.screen.feed(data);
                    }
                    if let ChannelMsg::Data { data } | ChannelMsg::ExtendedData { data, .. } = &message {
                        self.recording.output(data);
                    }
                    if self.forward(message).await.is_err() {
                        break;
                    }
                }
                notice = self.notices.recv(), if inbound_open => match notice {
                    Some(Notice::Show(bytes)) => {
                        self.recording.output(&bytes);
                        if self.client.data(&bytes[..]).await.is_err() {
                            break;
                        }
                    }
                    Some(Notice::Refuse(message)) => {
                        self.recording.output(format!("{message}\r\n").as_bytes());
                        refuse(&self.client, &message).await;
                        return;
                    }
                    None => inbound_open = false,
                },
            }
        }
        let _ = self.client.close().await;
    }

    async fn forward(&self, message: ChannelMsg) -> Result<(), ()> {
        match message {
            ChannelMsg::Data { data } => self.client.data(&data[..]).await.map_err(drop),
            ChannelMsg::ExtendedData { data, ext } => self
                .client
                .extended_data(ext, &data[..])
                .await
                .map_err(drop),
            ChannelMsg::Eof => self.client.eof().await.map_err(drop),
            ChannelMsg::ExitStatus { exit_status } => {
                self.record_exit(Some(exit_status), None).await;
                self.client.exit_status(exit_status).await.map_err(drop)
            }
            ChannelMsg::ExitSignal {
                signal_name,
                core_dumped,
                error_message,
                lang_tag,
            } => {
                self.record_exit(None, Some(signal_text(&signal_name)))
                    .await;
                self.server
                    .exit_signal_request(
                        self.client_id,
                        signal_name,
                        core_dumped,
                        error_message,
                        lang_tag,
                    )
                    .await
            }
            ChannelMsg::Close => Err(()),
            _ => Ok(()),
        }
    }

    async fn record_exit(&self, status: Option<u32>, signal: Option<String>) {
        let exit = Exit {
            session: self.session.clone(),
            channel: self.client_id.number(),
            status,
            signal,
        };
        self.audit.record(Record::Exit(exit)).await;
    }
}

/// A signal's name as SSH sends it, without the `SIG` prefix (`TERM`).
fn signal_text(signal: &russh::Sig) -> String {
    match signal {
        russh::Sig::Custom(name) => name.clone(),
        known => format!("{known:?}"),
    }
}

/// End a channel with a message on stderr and a failing exit status.
pub async fn refuse(client: &ChannelWriteHalf<Msg>, message: &str) {
    let _ = client
        .extended_data(1, format!("{message}\r\n").as_bytes())
        .await;
    let _ = client.exit_status(1).await;
    let _ = client.eof().await;
    let _ = client.close().await;
}
