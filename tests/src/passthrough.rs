//! The negative control: an SSH proxy that forwards everything and gates nothing.
//!
//! Every gating test must fail against it; a test that passes here cannot tell a gating
//! proxy from a plain relay. Test code only, never part of sshgate.

use std::net::SocketAddr;
use std::sync::Arc;

use russh::server::{Auth, Msg, Server as _, Session};
use russh::{Channel, ChannelId, ChannelMsg};
use tokio::sync::oneshot;

use crate::operator::AnyHostKey;

/// A running pass-through proxy; dropping it stops it.
pub struct PassThrough {
    pub addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

impl PassThrough {
    pub async fn spawn(target: SocketAddr) -> PassThrough {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let config = Arc::new(russh::server::Config {
            keys: vec![sshgate::credentials::generate_host_key()],
            auth_rejection_time: std::time::Duration::ZERO,
            nodelay: true,
            ..Default::default()
        });
        tokio::spawn(async move {
            let mut server = Relay { target };
            let running = server.run_on_socket(config, &listener);
            let handle = running.handle();
            tokio::select! {
                _ = running => {}
                _ = stopped => handle.shutdown("stopped".into()),
            }
        });
        PassThrough { addr, _stop: stop }
    }
}

#[derive(Clone)]
struct Relay {
    target: SocketAddr,
}

impl russh::server::Server for Relay {
    type Handler = Relay;
    fn new_client(&mut self, _: Option<SocketAddr>) -> Relay {
        self.clone()
    }
}

impl russh::server::Handler for Relay {
    type Error = russh::Error;

    async fn auth_none(&mut self, _: &str) -> Result<Auth, Self::Error> {
        Ok(Auth::Accept)
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: russh::server::ChannelOpenHandle,
        _: &mut Session,
    ) -> Result<(), Self::Error> {
        let config = Arc::new(russh::client::Config::default());
        let mut target = russh::client::connect(config, self.target, AnyHostKey).await?;
        target.authenticate_none("relay").await?;
        let target_channel = target.channel_open_session().await?;
        reply.accept().await;
        tokio::spawn(async move {
            relay(channel, target_channel).await;
            drop(target);
        });
        Ok(())
    }

    /// A relay forwards ports too: the control for sshgate's refusal.
    async fn channel_open_direct_tcpip(
        &mut self,
        channel: Channel<Msg>,
        host: &str,
        port: u32,
        _: &str,
        _: u32,
        reply: russh::server::ChannelOpenHandle,
        _: &mut Session,
    ) -> Result<(), Self::Error> {
        let port = u16::try_from(port).unwrap_or(0);
        if let Ok(mut stream) = tokio::net::TcpStream::connect((host, port)).await {
            reply.accept().await;
            tokio::spawn(async move {
                let mut channel = channel.into_stream();
                let _ = tokio::io::copy_bidirectional(&mut channel, &mut stream).await;
            });
        }
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        _: &str,
        _: u32,
        _: u32,
        _: u32,
        _: u32,
        _: &[(russh::Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        _: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)
    }
}

async fn relay(client: Channel<Msg>, target: Channel<russh::client::Msg>) {
    let (mut from_client, to_client) = client.split();
    let (mut from_target, to_target) = target.split();
    loop {
        tokio::select! {
            message = from_client.wait() => {
                let sent = match message {
                    Some(ChannelMsg::Data { data }) => to_target.data(&data[..]).await,
                    Some(ChannelMsg::RequestPty { term, col_width, row_height, .. }) => {
                        to_target.request_pty(false, &term, col_width, row_height, 0, 0, &[]).await
                    }
                    Some(ChannelMsg::RequestShell { .. }) => to_target.request_shell(true).await,
                    Some(ChannelMsg::Exec { command, .. }) => to_target.exec(true, command).await,
                    Some(ChannelMsg::RequestSubsystem { name, .. }) => {
                        to_target.request_subsystem(true, name).await
                    }
                    Some(ChannelMsg::WindowChange { col_width, row_height, .. }) => {
                        to_target.window_change(col_width, row_height, 0, 0).await
                    }
                    Some(ChannelMsg::Eof) => to_target.eof().await,
                    Some(ChannelMsg::Close) | None => break,
                    Some(_) => Ok(()),
                };
                if sent.is_err() {
                    break;
                }
            }
            message = from_target.wait() => {
                let sent = match message {
                    Some(ChannelMsg::Data { data }) => to_client.data(&data[..]).await,
                    Some(ChannelMsg::ExtendedData { data, ext }) => {
                        to_client.extended_data(ext, &data[..]).await
                    }
                    Some(ChannelMsg::ExitStatus { exit_status }) => {
                        to_client.exit_status(exit_status).await
                    }
                    Some(ChannelMsg::Eof) => to_client.eof().await,
                    Some(ChannelMsg::Close) | None => break,
                    Some(_) => Ok(()),
                };
                if sent.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to_client.close().await;
    let _ = to_target.close().await;
}
