//! The UDP socket APIs — `tokio_net::UdpSocket`, `blocking::UdpSocket` and
//! `tokio_net::UdpInterceptor` — over two synack runtimes joined by an in-memory device pair.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use synack::net::MemoryDevice;
use synack::runtime::Runtime;
use synack::stack::UdpInterceptConfig;
use synack::tokio_net::{UdpInterceptor, UdpSocket};

const A: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1));
const B: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2));

fn hosts() -> (Runtime, Runtime) {
    let (da, db) = MemoryDevice::pair(1500, 4096);
    let a = Runtime::builder().address(A).build(da).unwrap();
    let b = Runtime::builder().address(B).build(db).unwrap();
    (a, b)
}

#[tokio::test]
async fn send_to_and_recv_from_carry_datagrams_whole_both_ways() {
    let (a, b) = hosts();
    let server = UdpSocket::bind(&b, (B, 5353)).await.unwrap();
    let client = UdpSocket::bind(&a, (A, 0)).await.unwrap();
    let client_addr = client.local_addr().unwrap();
    assert_eq!(client_addr.ip(), A);
    assert_ne!(client_addr.port(), 0);
    let echo = tokio::spawn(async move {
        let mut buf = vec![0u8; 70_000];
        for _ in 0..3 {
            let (n, from) = server.recv_from(&mut buf).await.unwrap();
            server.send_to(&buf[..n], from).await.unwrap();
        }
    });
    // Small, empty, and larger than the MTU (fragmented and reassembled on the way).
    for len in [5usize, 0, 9000] {
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        client.send_to(&data, (B, 5353)).await.unwrap();
        let mut buf = vec![0u8; 10_000];
        let (n, from) = client.recv_from(&mut buf).await.unwrap();
        assert_eq!(from, SocketAddr::new(B, 5353));
        assert_eq!(&buf[..n], &data[..]);
    }
    echo.await.unwrap();
}

#[tokio::test]
async fn a_connected_socket_sends_to_its_peer_and_learns_of_a_closed_port() {
    let (a, b) = hosts();
    let server = UdpSocket::bind(&b, (B, 7)).await.unwrap();
    let client = UdpSocket::bind(&a, (A, 0)).await.unwrap();
    assert_eq!(
        client.peer_addr().unwrap_err().kind(),
        ErrorKind::NotConnected
    );
    assert_eq!(
        client.send(b"x").await.unwrap_err().kind(),
        ErrorKind::NotConnected
    );
    client.connect((B, 7)).await.unwrap();
    assert_eq!(client.peer_addr().unwrap(), SocketAddr::new(B, 7));
    client.send(b"ping").await.unwrap();
    let mut buf = [0u8; 16];
    let (n, from) = server.recv_from(&mut buf).await.unwrap();
    assert_eq!(
        (&buf[..n], from),
        (&b"ping"[..], client.local_addr().unwrap())
    );
    server.send_to(b"pong", from).await.unwrap();
    assert_eq!(client.recv(&mut buf).await.unwrap(), 4);
    // try_recv: nothing more.
    assert_eq!(
        client.try_recv(&mut buf).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    // B's port 8 is closed: B answers with ICMP port unreachable, which a connected socket
    // reports on its next receive.
    client.connect((B, 8)).await.unwrap();
    client.send(b"anyone?").await.unwrap();
    assert_eq!(
        client.recv(&mut buf).await.unwrap_err().kind(),
        ErrorKind::ConnectionRefused
    );
}

#[tokio::test]
async fn readiness_and_peek_behave_like_tokios() {
    let (a, b) = hosts();
    let server = Arc::new(UdpSocket::bind(&b, (B, 9)).await.unwrap());
    let client = UdpSocket::bind(&a, (A, 0)).await.unwrap();
    client.writable().await.unwrap();
    client.send_to(b"hello", (B, 9)).await.unwrap();
    server.readable().await.unwrap();
    let mut buf = [0u8; 3];
    // Peek leaves it; a short buffer truncates the datagram and the rest is gone.
    assert_eq!(server.peek_from(&mut buf).await.unwrap().0, 3);
    assert_eq!(server.try_recv_from(&mut buf).unwrap().0, 3);
    assert_eq!(&buf, b"hel");
    assert_eq!(
        server.try_recv_from(&mut buf).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
}

#[test]
fn the_blocking_socket_mirrors_std() {
    let (a, b) = hosts();
    let server = synack::blocking::UdpSocket::bind(&b, (B, 4000)).unwrap();
    let client = synack::blocking::UdpSocket::bind(&a, (A, 0)).unwrap();
    server
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(
        server.recv_from(&mut buf).unwrap_err().kind(),
        ErrorKind::TimedOut
    );
    server.set_read_timeout(None).unwrap();
    let t = std::thread::spawn(move || {
        let mut buf = [0u8; 8];
        let (n, from) = server.recv_from(&mut buf).unwrap();
        server.send_to(&buf[..n], from).unwrap();
    });
    client.connect((B, 4000)).unwrap();
    client.send(b"std").unwrap();
    assert_eq!(client.recv(&mut buf).unwrap(), 3);
    assert_eq!(&buf[..3], b"std");
    t.join().unwrap();
    client.set_nonblocking(true).unwrap();
    assert_eq!(
        client.recv(&mut buf).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
}

#[tokio::test]
async fn the_interceptor_hands_over_each_flow_with_its_original_destination() {
    let (a, b) = hosts();
    let interceptor = UdpInterceptor::new(&b, UdpInterceptConfig::default())
        .await
        .unwrap();
    // B answers every flow from the address the client meant to reach.
    let server = tokio::spawn(async move {
        let mut seen = Vec::new();
        for _ in 0..3 {
            let (session, client, original) = interceptor.accept().await.unwrap();
            assert_eq!(client.ip(), A);
            assert_eq!(session.local_addr().unwrap(), original);
            let mut buf = [0u8; 64];
            let n = session.recv(&mut buf).await.unwrap();
            let reply = format!("{original} heard {}", String::from_utf8_lossy(&buf[..n]));
            session.send(reply.as_bytes()).await.unwrap();
            seen.push(original);
            // Keep the session until the test ends.
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(5)).await;
                drop(session);
            });
        }
        seen
    });
    let client = UdpSocket::bind(&a, (A, 0)).await.unwrap();
    let destinations: Vec<SocketAddr> = (1..=3)
        .map(|i| SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, i)), 53))
        .collect();
    for d in &destinations {
        client.send_to(b"q", d).await.unwrap();
        let mut buf = [0u8; 64];
        let (n, from) = client.recv_from(&mut buf).await.unwrap();
        assert_eq!(from, *d, "the reply comes from the original destination");
        assert_eq!(String::from_utf8_lossy(&buf[..n]), format!("{d} heard q"));
    }
    let mut seen = server.await.unwrap();
    seen.sort();
    assert_eq!(seen, destinations);
}
