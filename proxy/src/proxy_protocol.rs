//! The PROXY protocol header (v1 text or v2 binary) that a load balancer such as HAProxy sends
//! before the SSH stream, so that sshgate knows the operator's address and not the balancer's.
//!
//! Invariant: a header is read only from a configured balancer, and from one it is required.
//! Trusting a header from anyone would let any client claim any address (and pass `from=`);
//! a header from any other address is never read as one: russh refuses a connection whose
//! first line is not an SSH identification, so such a header ends the connection.
//!
//! The header is read exactly, byte for byte where its length is not known yet, so that not a
//! byte of the SSH stream behind it is consumed here.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use ppp::v1;
use ppp::v2;
use tokio::io::{AsyncRead, AsyncReadExt};

/// How a v1 header starts; six bytes, as many as tell it from v2's signature.
const V1_START: &[u8] = b"PROXY ";
/// The longest v1 header, `\r\n` included (the specification's bound).
const V1_LONGEST: usize = 107;
/// A v2 header's fixed part: signature, version and command, family, length.
const V2_FIXED: usize = 16;

/// The balancers whose connections start with a PROXY header; empty: none (the default).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Balancers(Vec<IpNet>);

#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    /// Closed before its first byte: a balancer's TCP health check.
    #[error("it closed before sending anything")]
    Closed,
    #[error("it did not start with a PROXY protocol header")]
    Missing,
    #[error("its PROXY protocol header is malformed: {0}")]
    Malformed(String),
    #[error("reading its PROXY protocol header: {0}")]
    Io(#[from] std::io::Error),
}

impl Balancers {
    /// Balancers from addresses (`10.0.0.5`, `::1`) and prefixes (`10.0.0.0/24`).
    pub fn parse<S: AsRef<str>>(list: &[S]) -> Result<Balancers, String> {
        list.iter()
            .map(|entry| {
                let entry = entry.as_ref();
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{entry:?} is not an address or ADDRESS/BITS"))
            })
            .collect::<Result<_, _>>()
            .map(Balancers)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a connection from `address` comes from one of the balancers.
    pub fn contains(&self, address: IpAddr) -> bool {
        // An IPv4 balancer seen on a dual-stack socket arrives as ::ffff:a.b.c.d.
        let address = match address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
            v4 => v4,
        };
        self.0.iter().any(|net| net.contains(&address))
    }
}

/// Read the PROXY header at the start of `stream`, from the balancer at `balancer`, and return
/// the operator's address it names. A header that names no address (a v2 `LOCAL` health check,
/// v1 `UNKNOWN`, a Unix socket) leaves the balancer's own address.
pub async fn read_client_address<S: AsyncRead + Unpin>(
    stream: &mut S,
    balancer: SocketAddr,
) -> Result<SocketAddr, HeaderError> {
    let header = read_header(stream).await?;
    let address = match ppp::HeaderResult::parse(&header) {
        ppp::HeaderResult::V1(Ok(header)) => match header.addresses {
            v1::Addresses::Tcp4(ip) => {
                Some(SocketAddr::new(ip.source_address.into(), ip.source_port))
            }
            v1::Addresses::Tcp6(ip) => {
                Some(SocketAddr::new(ip.source_address.into(), ip.source_port))
            }
            v1::Addresses::Unknown => None,
        },
        ppp::HeaderResult::V2(Ok(header)) => match (header.command, header.addresses) {
            (v2::Command::Proxy, v2::Addresses::IPv4(ip)) => {
                Some(SocketAddr::new(ip.source_address.into(), ip.source_port))
            }
            (v2::Command::Proxy, v2::Addresses::IPv6(ip)) => {
                Some(SocketAddr::new(ip.source_address.into(), ip.source_port))
            }
            _ => None,
        },
        ppp::HeaderResult::V1(Err(error)) => return Err(HeaderError::Malformed(error.to_string())),
        ppp::HeaderResult::V2(Err(error)) => return Err(HeaderError::Malformed(error.to_string())),
    };
    Ok(address.unwrap_or(balancer))
}

/// The header's bytes, and not one byte more.
async fn read_header<S: AsyncRead + Unpin>(stream: &mut S) -> Result<Vec<u8>, HeaderError> {
    let first = match stream.read_u8().await {
        Ok(byte) => byte,
        Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => {
            return Err(HeaderError::Closed)
        }
        Err(error) => return Err(error.into()),
    };
    let mut header = vec![first; V1_START.len()];
    stream.read_exact(&mut header[1..]).await?;
    if header == V1_START {
        while !header.ends_with(v1::PROTOCOL_SUFFIX.as_bytes()) {
            if header.len() == V1_LONGEST {
                return Err(HeaderError::Malformed(format!(
                    "a v1 header longer than {V1_LONGEST} bytes"
                )));
            }
            header.push(stream.read_u8().await?);
        }
        return Ok(header);
    }
    if !v2::PROTOCOL_PREFIX.starts_with(&header) {
        return Err(HeaderError::Missing);
    }
    header.resize(V2_FIXED, 0);
    stream.read_exact(&mut header[V1_START.len()..]).await?;
    if !header.starts_with(v2::PROTOCOL_PREFIX) {
        return Err(HeaderError::Missing);
    }
    let length = usize::from(u16::from_be_bytes([header[14], header[15]]));
    header.resize(V2_FIXED + length, 0);
    stream.read_exact(&mut header[V2_FIXED..]).await?;
    Ok(header)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const BALANCER: &str = "10.0.0.9:40000";

    async fn client_address(bytes: &[u8]) -> (Result<SocketAddr, String>, Vec<u8>) {
        let mut stream = bytes;
        let address = read_client_address(&mut stream, BALANCER.parse().unwrap())
            .await
            .map_err(|error| error.to_string());
        (address, stream.to_vec())
    }

    fn v2_header(command: u8, addresses: impl Into<v2::Addresses>) -> Vec<u8> {
        v2::Builder::with_addresses(command, v2::Protocol::Stream, addresses)
            .write_tlv(v2::Type::NoOp, b"padding")
            .unwrap()
            .build()
            .unwrap()
    }

    #[rstest]
    #[case::v1_tcp4("PROXY TCP4 192.0.2.7 10.0.0.1 51000 22\r\n", "192.0.2.7:51000")]
    #[case::v1_tcp6(
        "PROXY TCP6 2001:db8::7 2001:db8::1 51000 22\r\n",
        "[2001:db8::7]:51000"
    )]
    #[case::v1_unknown("PROXY UNKNOWN\r\n", BALANCER)]
    #[tokio::test]
    async fn a_v1_header_names_the_client_and_the_ssh_stream_is_left_whole(
        #[case] header: &str,
        #[case] expected: &str,
    ) {
        let bytes = [header.as_bytes(), b"SSH-2.0-client\r\n"].concat();
        let (address, rest) = client_address(&bytes).await;
        assert_eq!(address, Ok(expected.parse().unwrap()));
        assert_eq!(rest, b"SSH-2.0-client\r\n");
    }

    #[tokio::test]
    async fn a_v2_header_names_the_client_and_the_ssh_stream_is_left_whole() {
        let source: SocketAddr = "198.51.100.4:40222".parse().unwrap();
        let destination: SocketAddr = "10.0.0.1:22".parse().unwrap();
        let command = v2::Version::Two as u8 | v2::Command::Proxy as u8;
        let bytes = [
            v2_header(command, (source, destination)).as_slice(),
            b"SSH-2.0-x\r\n",
        ]
        .concat();
        let (address, rest) = client_address(&bytes).await;
        assert_eq!(address, Ok(source));
        assert_eq!(rest, b"SSH-2.0-x\r\n");
    }

    #[tokio::test]
    async fn a_v2_local_header_a_health_check_keeps_the_balancers_address() {
        let command = v2::Version::Two as u8 | v2::Command::Local as u8;
        let bytes = v2_header(command, v2::Addresses::Unspecified);
        assert_eq!(
            client_address(&bytes).await.0,
            Ok(BALANCER.parse().unwrap())
        );
    }

    #[rstest]
    #[case::plain_ssh(b"SSH-2.0-OpenSSH_9.2\r\n".as_slice(), "did not start with")]
    #[case::v1_without_end(&[b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2".as_slice(), &[b' '; 100]].concat(), "longer than 107")]
    #[case::v1_garbled(b"PROXY TCP9 x y z w\r\nSSH-2.0-x\r\n".as_slice(), "malformed")]
    #[case::v2_bad_signature(b"\r\n\r\n\0\r\nQUIX\n\x21\x11\x00\x00".as_slice(), "did not start with")]
    #[case::cut_short(b"PROXY TCP4 1.2".as_slice(), "reading")]
    #[case::health_check(b"".as_slice(), "closed before sending anything")]
    #[tokio::test]
    async fn a_connection_without_a_valid_header_is_refused(
        #[case] bytes: &[u8],
        #[case] why: &str,
    ) {
        let (address, _) = client_address(bytes).await;
        let error = address.expect_err("refused");
        assert!(error.contains(why), "{error}");
    }

    #[rstest]
    #[case("10.0.0.9", true)]
    #[case("10.0.0.10", false)]
    #[case("192.168.4.200", true)]
    #[case("192.168.5.1", false)]
    #[case("::ffff:10.0.0.9", true)]
    #[case("::1", true)]
    fn balancers_match_addresses_and_prefixes(#[case] address: &str, #[case] listed: bool) {
        let balancers = Balancers::parse(&["10.0.0.9", "192.168.4.0/24", "::1"]).unwrap();
        assert_eq!(balancers.contains(address.parse().unwrap()), listed);
    }

    #[test]
    fn a_balancer_that_is_not_an_address_is_refused() {
        let error = Balancers::parse(&["10.0.0.0/33"]).unwrap_err();
        assert!(error.contains("10.0.0.0/33"), "{error}");
        assert!(Balancers::parse(&["haproxy.local"]).is_err());
    }
}
