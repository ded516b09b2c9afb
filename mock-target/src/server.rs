//! The russh side of the mock target: one [`Connection`] handler per client.
//!
//! Handler methods only translate SSH callbacks into [`TargetEvent`]s and calls on the pure
//! [`Shell`]; they never wait on anything but russh itself. Output the shell wants written late
//! (`slow-echo`) goes, from then on, through a task of its own that writes it in order, each
//! piece at its time. Invariant: every request is recorded in the [`EventLog`] before its
//! effect (output, exit status) is sent, so a client that saw the effect can rely on the event
//! being there.

use std::collections::HashMap;
use std::time::Duration;

use russh::keys::ssh_key::Certificate;
use russh::server::{Auth, ChannelOpenHandle, Handle, Msg, Response, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId, Pty, Sig};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::events::{EventLog, TargetEvent, UserLogs};
use crate::shell::{Shell, GREETING};

/// Creates one [`Connection`] per accepted client.
pub(crate) struct ConnectionFactory {
    pub(crate) events: EventLog,
    pub(crate) user_logs: UserLogs,
    /// Cloned into every connection; see [`Connection::_alive`].
    pub(crate) alive: mpsc::Sender<()>,
}

impl russh::server::Server for ConnectionFactory {
    type Handler = Connection;

    fn new_client(&mut self, peer: Option<std::net::SocketAddr>) -> Connection {
        tracing::debug!(?peer, "client connected");
        Connection {
            events: self.events.clone(),
            user_logs: self.user_logs.clone(),
            channels: HashMap::new(),
            _alive: self.alive.clone(),
        }
    }

    fn handle_session_error(&mut self, error: russh::Error) {
        tracing::debug!("session ended with an error: {error}");
    }
}

/// What a session channel has become.
enum ChannelMode {
    /// Opened; no shell, exec or subsystem yet.
    Idle,
    Shell(Box<Shell>),
    /// Echoes data until EOF.
    Subsystem,
    /// The exec `sha256sum`: digests its input until EOF.
    Digest(Box<Sha256>),
    /// Exec finished or the shell exited; further input is ignored.
    Done,
}

struct ChannelState {
    /// Terminal width from the last pty-req or window-change (0 until then).
    cols: u32,
    /// The PTY request's terminal modes.
    modes: Vec<(Pty, u32)>,
    mode: ChannelMode,
    /// Once the shell has written late: where all its later output goes, to keep the order.
    late: Option<mpsc::UnboundedSender<Late>>,
}

/// What the late writer of a channel does, in order.
enum Late {
    /// Write these bytes, not before this time.
    Data(Instant, Vec<u8>),
    /// The shell exited: exit status, EOF and close.
    Finish(u32),
}

/// Write a channel's late output in order, each piece at its time (tokio timers: nothing
/// blocks), then end the channel if the shell exited.
fn spawn_late_writer(handle: Handle, channel: ChannelId) -> mpsc::UnboundedSender<Late> {
    let (sender, mut queue) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(item) = queue.recv().await {
            match item {
                Late::Data(at, data) => {
                    tokio::time::sleep_until(at).await;
                    if handle.data(channel, data).await.is_err() {
                        return;
                    }
                }
                Late::Finish(status) => {
                    let _ = handle.exit_status_request(channel, status).await;
                    let _ = handle.eof(channel).await;
                    let _ = handle.close(channel).await;
                    return;
                }
            }
        }
    });
    sender
}

/// The handler for one SSH connection.
pub(crate) struct Connection {
    /// Where this connection's events go: the target's log, or the log of the user who
    /// logged in if that user [has one of their own](UserLogs).
    events: EventLog,
    user_logs: UserLogs,
    channels: HashMap<ChannelId, ChannelState>,
    /// Never sends: `run` waits for every clone of this sender to drop, which tells it that every
    /// connection has ended (russh drops the handler when its session task finishes).
    _alive: mpsc::Sender<()>,
}

impl Connection {
    fn auth(&mut self, user: &str, method: &str) -> Auth {
        if let Some(log) = self.user_logs.get(user) {
            self.events = log;
        }
        self.events.push(TargetEvent::Auth {
            user: user.to_string(),
            method: method.to_string(),
        });
        Auth::Accept
    }

    /// Exit status, EOF and close: how every command on this target ends.
    fn finish(
        &mut self,
        channel: ChannelId,
        status: u32,
        session: &mut Session,
    ) -> Result<(), russh::Error> {
        if let Some(state) = self.channels.get_mut(&channel) {
            state.mode = ChannelMode::Done;
        }
        session.exit_status_request(channel, status)?;
        session.eof(channel)?;
        session.close(channel)
    }
}

/// sshd sets the tty's modes from the PTY request; those the shell models take effect. (ISIG
/// is not one: readline turns it on while it reads a line.)
fn apply_pty_modes(shell: &mut Shell, modes: &[(Pty, u32)]) {
    for &(mode, value) in modes {
        match mode {
            Pty::ECHO => shell.set_echo(value != 0),
            Pty::NOFLSH => shell.set_noflsh(value != 0),
            // 255 is how the request says "disabled".
            Pty::VINTR => shell.set_intr(u8::try_from(value).ok().filter(|&c| c != 255)),
            _ => {}
        }
    }
}

/// The exec that reads its input: like coreutils' `sha256sum` with no file, it prints the
/// SHA-256 of everything received until EOF, then exits 0.
pub const DIGEST_COMMAND: &str = "sha256sum";

/// `exit N` (N a u32): the exec convention for a non-zero exit status.
fn exit_code(command: &str) -> Option<u32> {
    command.strip_prefix("exit ")?.trim().parse().ok()
}

fn signal_name(sig: &Sig) -> String {
    match sig {
        Sig::ABRT => "ABRT",
        Sig::ALRM => "ALRM",
        Sig::FPE => "FPE",
        Sig::HUP => "HUP",
        Sig::ILL => "ILL",
        Sig::INT => "INT",
        Sig::KILL => "KILL",
        Sig::PIPE => "PIPE",
        Sig::QUIT => "QUIT",
        Sig::SEGV => "SEGV",
        Sig::TERM => "TERM",
        Sig::USR1 => "USR1",
        Sig::Custom(name) => name,
    }
    .to_string()
}

impl russh::server::Handler for Connection {
    type Error = russh::Error;

    async fn auth_none(&mut self, user: &str) -> Result<Auth, Self::Error> {
        Ok(self.auth(user, "none"))
    }

    async fn auth_password(&mut self, user: &str, _password: &str) -> Result<Auth, Self::Error> {
        Ok(self.auth(user, "password"))
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        _key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(self.auth(user, "publickey"))
    }

    async fn auth_openssh_certificate(
        &mut self,
        user: &str,
        _certificate: &Certificate,
    ) -> Result<Auth, Self::Error> {
        Ok(self.auth(user, "publickey"))
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        _response: Option<Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        Ok(self.auth(user, "keyboard-interactive"))
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.channels.insert(
            channel.id(),
            ChannelState {
                cols: 0,
                modes: Vec::new(),
                mode: ChannelMode::Idle,
                late: None,
            },
        );
        reply.accept().await;
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        term: &str,
        cols: u32,
        rows: u32,
        _pix_width: u32,
        _pix_height: u32,
        modes: &[(Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.events.push(TargetEvent::Pty {
            term: term.to_string(),
            cols,
            rows,
        });
        if let Some(state) = self.channels.get_mut(&channel) {
            state.cols = cols;
            state.modes = modes.to_vec();
        }
        session.channel_success(channel)
    }

    async fn window_change_request(
        &mut self,
        channel: ChannelId,
        cols: u32,
        rows: u32,
        _pix_width: u32,
        _pix_height: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.events.push(TargetEvent::WindowChange { cols, rows });
        if let Some(state) = self.channels.get_mut(&channel) {
            state.cols = cols;
            if let ChannelMode::Shell(shell) = &mut state.mode {
                shell.set_cols(cols);
            }
        }
        session.channel_success(channel)
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.events.push(TargetEvent::Env {
            name: name.to_string(),
            value: value.to_string(),
        });
        session.channel_success(channel)
    }

    async fn signal(
        &mut self,
        _channel: ChannelId,
        signal: Sig,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.events.push(TargetEvent::Signal {
            name: signal_name(&signal),
        });
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.events.push(TargetEvent::Shell);
        let Some(state) = self.channels.get_mut(&channel) else {
            return session.channel_failure(channel);
        };
        let mut shell = Shell::new(state.cols);
        apply_pty_modes(&mut shell, &state.modes);
        state.mode = ChannelMode::Shell(Box::new(shell));
        session.channel_success(channel)?;
        session.data(channel, GREETING.as_bytes().to_vec())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let command = String::from_utf8_lossy(data).into_owned();
        self.events.push(TargetEvent::Exec {
            command: command.clone(),
        });
        session.channel_success(channel)?;
        if command == DIGEST_COMMAND {
            if let Some(state) = self.channels.get_mut(&channel) {
                state.mode = ChannelMode::Digest(Box::default());
            }
            return Ok(());
        }
        session.data(channel, format!("{command}:ok\r\n").into_bytes())?;
        let status = match exit_code(&command) {
            Some(code) => {
                session.extended_data(channel, 1, format!("{command}:err\r\n").into_bytes())?;
                code
            }
            None => 0,
        };
        self.finish(channel, status, session)
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.events.push(TargetEvent::Subsystem {
            name: name.to_string(),
        });
        match self.channels.get_mut(&channel) {
            Some(state) => {
                state.mode = ChannelMode::Subsystem;
                session.channel_success(channel)
            }
            None => session.channel_failure(channel),
        }
    }

    async fn data(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(state) = self.channels.get_mut(&channel) else {
            return Ok(());
        };
        match &mut state.mode {
            ChannelMode::Shell(shell) => {
                self.events.push(TargetEvent::input(data));
                let reaction = shell.feed(data);
                for line in reaction.executed {
                    self.events.push(TargetEvent::Executed { line });
                }
                if reaction.delay_ms > 0 && state.late.is_none() {
                    state.late = Some(spawn_late_writer(session.handle(), channel));
                }
                if let Some(late) = &state.late {
                    let at = Instant::now() + Duration::from_millis(reaction.delay_ms);
                    if !reaction.output.is_empty() {
                        let _ = late.send(Late::Data(at, reaction.output));
                    }
                    if let Some(status) = reaction.exit {
                        state.mode = ChannelMode::Done;
                        let _ = late.send(Late::Finish(status));
                    }
                    return Ok(());
                }
                if !reaction.output.is_empty() {
                    session.data(channel, reaction.output)?;
                }
                if let Some(status) = reaction.exit {
                    self.finish(channel, status, session)?;
                }
                Ok(())
            }
            ChannelMode::Subsystem => session.data(channel, data.to_vec()),
            ChannelMode::Digest(digest) => {
                digest.update(data);
                Ok(())
            }
            ChannelMode::Idle | ChannelMode::Done => Ok(()),
        }
    }

    async fn channel_eof(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.events.push(TargetEvent::Eof);
        if let Some(state) = self.channels.get_mut(&channel) {
            if let ChannelMode::Digest(digest) = &mut state.mode {
                // As coreutils prints it for standard input.
                let line = format!("{}  -\n", hex::encode(std::mem::take(digest).finalize()));
                session.data(channel, line.into_bytes())?;
                return self.finish(channel, 0, session);
            }
        }
        let ends = matches!(
            self.channels.get(&channel).map(|s| &s.mode),
            Some(ChannelMode::Shell(_) | ChannelMode::Subsystem)
        );
        if ends {
            // Like a shell reading a closed stdin, or a subsystem whose input is done; after
            // any output still to be written late.
            if let Some(state) = self.channels.get_mut(&channel) {
                if let Some(late) = &state.late {
                    state.mode = ChannelMode::Done;
                    let _ = late.send(Late::Finish(0));
                    return Ok(());
                }
            }
            self.finish(channel, 0, session)?;
        }
        Ok(())
    }

    async fn channel_close(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.events.push(TargetEvent::Close);
        self.channels.remove(&channel);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_convention() {
        assert_eq!(exit_code("exit 3"), Some(3));
        assert_eq!(exit_code("exit 0"), Some(0));
        assert_eq!(exit_code("exit"), None);
        assert_eq!(exit_code("exit -1"), None);
        assert_eq!(exit_code("echo exit 3"), None);
    }
}
