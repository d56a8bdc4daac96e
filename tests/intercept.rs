//! `tokio_net::TcpListener::intercept` over two synack runtimes joined by an in-memory device
//! pair: host A connects to addresses host B does not own, and B's intercepting listener
//! accepts each connection with the original destination as its local address.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use synack::net::MemoryDevice;
use synack::runtime::Runtime;
use synack::tokio_net::{TcpListener, TcpStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const A: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1));
const B: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2));

fn hosts() -> (Runtime, Runtime) {
    let (da, db) = MemoryDevice::pair(1500, 4096);
    let a = Runtime::builder().address(A).build(da).unwrap();
    let b = Runtime::builder().address(B).build(db).unwrap();
    (a, b)
}

/// Where A's connections go: none of these is B's address.
fn destinations() -> Vec<SocketAddr> {
    (1..=5)
        .map(|i| {
            SocketAddr::new(
                IpAddr::V4(Ipv4Addr::new(198, 51, 100, i)),
                1000 + u16::from(i),
            )
        })
        .collect()
}

#[tokio::test]
async fn intercepted_streams_report_their_original_destination_as_local_addr() {
    let (a, b) = hosts();
    let listener = TcpListener::intercept(&b, 16).await.unwrap();
    assert_eq!(
        listener.local_addr().unwrap(),
        SocketAddr::from(([0, 0, 0, 0], 0))
    );
    // Each intercepted stream answers with the address the client meant to reach.
    let server = tokio::spawn(async move {
        let mut seen = Vec::new();
        for _ in destinations() {
            let (mut s, peer) = listener.accept().await.unwrap();
            assert_eq!(peer.ip(), A);
            let local = s.local_addr().unwrap();
            let mut request = Vec::new();
            s.read_to_end(&mut request).await.unwrap();
            s.write_all(format!("{local} got {}", request.len()).as_bytes())
                .await
                .unwrap();
            s.shutdown().await.unwrap();
            seen.push(local);
        }
        seen
    });
    let mut clients = Vec::new();
    for dst in destinations() {
        let a = a.handle().clone();
        clients.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(&a, dst).await.unwrap();
            assert_eq!(s.peer_addr().unwrap(), dst);
            s.write_all(&[7u8; 3000]).await.unwrap();
            s.shutdown().await.unwrap();
            let mut answer = String::new();
            s.read_to_string(&mut answer).await.unwrap();
            assert_eq!(answer, format!("{dst} got 3000"));
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
    let mut seen = server.await.unwrap();
    seen.sort();
    assert_eq!(seen, destinations());
}

#[tokio::test]
async fn an_exact_listener_keeps_its_connections_and_a_second_interceptor_is_addr_in_use() {
    let (a, b) = hosts();
    let interceptor = TcpListener::intercept(&b, 16).await.unwrap();
    let err = TcpListener::intercept(&b, 16).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AddrInUse);
    let exact = TcpListener::bind(&b, SocketAddr::new(B, 7)).await.unwrap();
    let _client = TcpStream::connect(&a, SocketAddr::new(B, 7)).await.unwrap();
    let (s, _) = exact.accept().await.unwrap();
    assert_eq!(s.local_addr().unwrap(), SocketAddr::new(B, 7));
    // Nothing reached the interceptor.
    let none = b.with_stack(|st, _| st.snapshot()).unwrap();
    let row = none
        .listeners
        .iter()
        .find(|l| l.id == interceptor.id())
        .unwrap();
    assert_eq!((row.local, row.syn_queue, row.accept_queue), (None, 0, 0));
    // Dropping the interceptor frees the slot for another.
    drop(interceptor);
    assert!(TcpListener::intercept(&b, 16).await.is_ok());
}

/// A deferring interceptor answers nothing until the application decides: a refused SYN
/// makes the client's connect fail with `ConnectionRefused` (a RST to its SYN, not a reset
/// after connecting), an accepted one connects and carries data, a pending connection dropped
/// undecided is refused, and `accept()` on a deferring listener completes handshakes at once.
#[tokio::test]
async fn deferred_interception_refuses_or_completes_each_handshake_as_the_application_decides() {
    let (a, b) = hosts();
    let listener = TcpListener::intercept_deferred(&b, 16).await.unwrap();
    let [refused, accepted, dropped, auto] =
        [1u8, 2, 3, 4].map(|i| SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, i)), 80));
    // Refused.
    let client = tokio::spawn({
        let a = a.handle().clone();
        async move { TcpStream::connect(&a, refused).await.map(drop) }
    });
    let pending = listener.accept_syn().await.unwrap();
    assert_eq!(
        (pending.local_addr(), pending.peer_addr().ip()),
        (refused, A)
    );
    assert_eq!(
        b.with_stack(|s, _| s.connection_count()).unwrap(),
        0,
        "nothing answered yet"
    );
    pending.refuse().unwrap();
    let err = client.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    // Accepted: data flows both ways.
    let client = tokio::spawn({
        let a = a.handle().clone();
        async move {
            let mut s = TcpStream::connect(&a, accepted).await.unwrap();
            s.write_all(b"hello").await.unwrap();
            s.shutdown().await.unwrap();
            let mut answer = Vec::new();
            s.read_to_end(&mut answer).await.unwrap();
            answer
        }
    });
    let pending = listener.accept_syn().await.unwrap();
    let mut s = pending.accept().await.unwrap();
    assert_eq!(s.local_addr().unwrap(), accepted);
    let mut got = Vec::new();
    s.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"hello");
    s.write_all(b"world").await.unwrap();
    s.shutdown().await.unwrap();
    assert_eq!(client.await.unwrap(), b"world");
    // Dropped undecided: refused.
    let client = tokio::spawn({
        let a = a.handle().clone();
        async move { TcpStream::connect(&a, dropped).await.map(drop) }
    });
    drop(listener.accept_syn().await.unwrap());
    let err = client.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    // accept() completes the handshake without asking.
    let client = tokio::spawn({
        let a = a.handle().clone();
        async move { TcpStream::connect(&a, auto).await.map(drop) }
    });
    let (s, peer) = listener.accept().await.unwrap();
    assert_eq!((s.local_addr().unwrap(), peer.ip()), (auto, A));
    client.await.unwrap().unwrap();
}

#[tokio::test]
async fn accept_syn_on_an_ordinary_listener_is_invalid_input() {
    let (_a, b) = hosts();
    let listener = TcpListener::intercept(&b, 16).await.unwrap();
    let err = listener.accept_syn().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}
