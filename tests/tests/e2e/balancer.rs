//! Several sshgate instances behind HAProxy (Debian's `haproxy`), which puts a PROXY v2 header
//! before each connection: the approver sees the operator's address, not the balancer's, and
//! an instance that does not list the balancer refuses the header.

use std::process::Command;

use mock_approver::{Behaviour, WsApprover};
use mock_target::MockTarget;
use sshgate_tests::operator::{Operator, WAIT};
use sshgate_tests::process::Server;
use sshgate_tests::skip::skip;
use sshgate_tests::stack::sshgate_binary;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Where the operator connects from: a loopback address that is neither HAProxy's nor
/// sshgate's, so that the address a request names tells whose it is.
const OPERATOR_ADDRESS: &str = "127.0.0.2";

/// sshgate in front of `target`, asking `approver`, reading a PROXY header from `balancer`.
fn sshgate_behind(target: &MockTarget, approver: &WsApprover, balancer: &str) -> Server {
    let flags = [
        "--insecure-accept-any-client",
        "--proxy-protocol-from",
        balancer,
    ];
    sshgate_binary(target, &approver.url(), &flags)
}

/// HAProxy balancing round-robin over `backends`, sending each a PROXY v2 header; None when
/// this machine has no haproxy (see [`skip`]).
fn haproxy(dir: &std::path::Path, backends: &[&Server]) -> Option<Server> {
    if Command::new("haproxy").arg("-v").output().is_err() {
        skip("haproxy is not installed (Debian package haproxy)");
        return None;
    }
    let port = portpicker::pick_unused_port().expect("a free port");
    let servers: String = backends
        .iter()
        .enumerate()
        .map(|(n, gate)| format!("    server gate{n} {} send-proxy-v2\n", gate.address))
        .collect();
    let config = dir.join("haproxy.cfg");
    std::fs::write(
        &config,
        format!(
            "defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 1m\n    \
             timeout server 1m\nfrontend ssh\n    bind 127.0.0.1:{port}\n    \
             default_backend gates\nbackend gates\n    balance roundrobin\n{servers}"
        ),
    )
    .unwrap();
    // Master-worker mode prints "Loading success." once it listens; the worker ends with the
    // master when the test drops it.
    let mut command = Command::new("haproxy");
    command.arg("-W").arg("-db").arg("-f").arg(&config);
    let balancer = Server::start_program(
        command,
        "Loading success.",
        format!("127.0.0.1:{port}"),
        WAIT,
    )
    .unwrap_or_else(|why| panic!("haproxy did not start: {why}"));
    Some(balancer)
}

/// A TCP connection to `to` from [`OPERATOR_ADDRESS`].
async fn connect_as_operator(to: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(format!("{OPERATOR_ADDRESS}:0").parse().unwrap())
        .unwrap();
    socket.connect(to.parse().unwrap()).await.unwrap()
}

#[tokio::test]
async fn behind_haproxy_each_request_names_the_operators_address() {
    let target = MockTarget::spawn().await.expect("mock target starts");
    let approver = WsApprover::spawn(mock_approver::Config::with_behaviour(Behaviour::Rule))
        .await
        .unwrap();
    let gates = [
        sshgate_behind(&target, &approver, "127.0.0.1"),
        sshgate_behind(&target, &approver, "127.0.0.1"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let Some(balancer) = haproxy(dir.path(), &[&gates[0], &gates[1]]) else {
        return;
    };
    let mut operators = Vec::new();
    for n in 0..2 {
        let stream = connect_as_operator(&balancer.address).await;
        let operator_address = stream.local_addr().unwrap();
        let operator = Operator::connect_stream(stream, "alice", None)
            .await
            .unwrap();
        let outcome = operator.exec(&format!("echo via {n}")).await.unwrap();
        assert_eq!(outcome.stdout, format!("echo via {n}:ok\r\n"));
        operators.push(operator_address.to_string());
    }
    let clients: Vec<String> = approver
        .log
        .requests()
        .into_iter()
        .map(|request| request.client)
        .collect();
    assert_eq!(clients, operators, "requests name the operator's address");
    // Round-robin: each instance logged in one of them, under the operator's address.
    for (gate, operator) in gates.iter().zip(&operators) {
        gate.wait_for_output(|log| log.contains(operator.as_str()), WAIT)
            .unwrap_or_else(|log| panic!("an instance never served {operator}: {log}"));
    }
    drop(balancer);
}

#[tokio::test]
async fn an_instance_that_does_not_list_the_balancer_refuses_its_header() {
    let target = MockTarget::spawn().await.expect("mock target starts");
    let approver = WsApprover::spawn(mock_approver::Config::with_behaviour(Behaviour::Rule))
        .await
        .unwrap();
    // The only balancer this instance trusts is elsewhere: HAProxy (127.0.0.1) is not it.
    let gate = sshgate_behind(&target, &approver, "127.0.0.3");
    let dir = tempfile::tempdir().unwrap();
    let Some(balancer) = haproxy(dir.path(), &[&gate]) else {
        return;
    };
    let stream = connect_as_operator(&balancer.address).await;
    let refused = tokio::time::timeout(WAIT, Operator::connect_stream(stream, "alice", None))
        .await
        .expect("an answer in time");
    assert!(refused.is_err(), "logged in through an untrusted header");
    assert!(approver.log.requests().is_empty());
}

#[tokio::test]
async fn a_header_sent_straight_from_an_operator_is_refused() {
    let target = MockTarget::spawn().await.expect("mock target starts");
    let approver = WsApprover::spawn(mock_approver::Config::with_behaviour(Behaviour::Rule))
        .await
        .unwrap();
    let gate = sshgate_behind(&target, &approver, "127.0.0.3");
    let mut stream = connect_as_operator(&gate.address).await;
    // A forged address, then a valid identification: the connection must end at the header.
    stream
        .write_all(b"PROXY TCP4 203.0.113.9 127.0.0.1 40000 22\r\nSSH-2.0-forger\r\n")
        .await
        .unwrap();
    let mut received = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut received))
        .await
        .expect("closed in time")
        .unwrap();
    let received = String::from_utf8_lossy(&received);
    assert!(received.starts_with("SSH-2.0-sshgate"), "{received:?}");
    let log = gate.output();
    assert!(!log.contains("operator authenticated"), "{log}");
    assert!(approver.log.requests().is_empty());
}
