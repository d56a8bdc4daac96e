//! TLS over synack: a tokio-rustls client and server, each on its own synack stack, joined by
//! an in-memory device pair. The TLS crates see only AsyncRead/AsyncWrite.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod tls;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use synack::net::MemoryDevice;
use synack::runtime::Runtime;
use synack::tokio_net::{TcpListener, TcpStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::{TlsAcceptor, TlsConnector};

const A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const B: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));

#[tokio::test]
async fn tokio_rustls_handshake_and_exchange_between_two_synack_stacks() {
    let (da, db) = MemoryDevice::pair(1500, 4096);
    let a = Runtime::builder().address(A).build(da).unwrap();
    let b = Runtime::builder().address(B).build(db).unwrap();
    let (server_cfg, client_cfg) = tls::configs();
    let acceptor = TlsAcceptor::from(server_cfg);
    let listener = TcpListener::bind(&b, SocketAddr::new(B, 443))
        .await
        .unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut tls = acceptor.accept(tcp).await.unwrap();
        // Echo until the client's close_notify, then close ours.
        let mut request = Vec::new();
        tls.read_to_end(&mut request).await.unwrap();
        tls.write_all(&request).await.unwrap();
        tls.shutdown().await.unwrap();
        request.len()
    });
    let tcp = TcpStream::connect(&a, SocketAddr::new(B, 443))
        .await
        .unwrap();
    let connector = TlsConnector::from(client_cfg);
    let name = ServerName::try_from(tls::NAME).unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    let (_, session) = tls.get_ref();
    assert!(session.protocol_version().is_some());
    let message: Vec<u8> = (0..100_000).map(|i| (i % 241) as u8).collect();
    tls.write_all(&message).await.unwrap();
    tls.shutdown().await.unwrap(); // close_notify, then FIN
    let mut echo = Vec::new();
    tls.read_to_end(&mut echo).await.unwrap();
    assert_eq!(server.await.unwrap(), message.len());
    assert!(echo == message, "TLS echo differs");
}
