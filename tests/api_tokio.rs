//! The tokio API over two synack runtimes joined by an in-memory device pair: tokio's own I/O
//! utilities, half-close, split halves, and the error kinds tokio::net users expect.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use synack::net::{ImpairConfig, MemoryDevice};
use synack::runtime::Runtime;
use synack::tokio_net::{TcpListener, TcpStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const A: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1));
const B: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2));

/// Host A and host B, on either end of a memory link.
fn hosts() -> (Runtime, Runtime) {
    let (da, db) = MemoryDevice::pair(1500, 4096);
    let a = Runtime::builder().address(A).build(da).unwrap();
    let b = Runtime::builder().address(B).build(db).unwrap();
    (a, b)
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

#[tokio::test]
async fn tokio_io_copy_echoes_a_stream_through_split_halves() {
    let (a, b) = hosts();
    let listener = TcpListener::bind(&b, SocketAddr::new(B, 7)).await.unwrap();
    let server = tokio::spawn(async move {
        let (mut s, peer) = listener.accept().await.unwrap();
        assert_eq!(peer.ip(), A);
        let (mut r, mut w) = s.split();
        let n = tokio::io::copy(&mut r, &mut w).await.unwrap();
        w.shutdown().await.unwrap();
        n
    });
    let data = pattern(300_000);
    let s = TcpStream::connect(&a, SocketAddr::new(B, 7)).await.unwrap();
    assert_eq!(s.peer_addr().unwrap(), SocketAddr::new(B, 7));
    assert_eq!(s.local_addr().unwrap().ip(), A);
    let (mut r, mut w) = s.into_split();
    let to_send = data.clone();
    let writer = tokio::spawn(async move {
        w.write_all(&to_send).await.unwrap();
        w.shutdown().await.unwrap();
        w
    });
    let mut got = Vec::new();
    r.read_to_end(&mut got).await.unwrap();
    let w = writer.await.unwrap();
    assert_eq!(server.await.unwrap(), data.len() as u64);
    assert!(got == data, "echo differs");
    // The halves are one stream again.
    let s = r.reunite(w).unwrap();
    assert_eq!(s.peer_addr().unwrap(), SocketAddr::new(B, 7));
}

#[tokio::test]
async fn poll_shutdown_half_closes_and_the_peer_can_still_answer() {
    let (a, b) = hosts();
    let listener = TcpListener::bind(&b, SocketAddr::new(B, 80)).await.unwrap();
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        // read_to_end returns only once the client's FIN arrived.
        s.read_to_end(&mut request).await.unwrap();
        s.write_all(b"answer after your FIN: ").await.unwrap();
        s.write_all(&request).await.unwrap();
        s.shutdown().await.unwrap();
    });
    let mut s = TcpStream::connect(&a, SocketAddr::new(B, 80))
        .await
        .unwrap();
    s.set_nodelay(true).unwrap();
    assert!(s.nodelay().unwrap());
    s.write_all(b"question").await.unwrap();
    s.shutdown().await.unwrap();
    let err = s.write_all(b"more").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BrokenPipe);
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.unwrap();
    assert_eq!(answer, "answer after your FIN: question");
    server.await.unwrap();
}

#[tokio::test]
async fn owned_halves_read_and_write_concurrently_from_two_tasks() {
    let (a, b) = hosts();
    let listener = TcpListener::bind(&b, SocketAddr::new(B, 9000))
        .await
        .unwrap();
    // B streams 200 kB to A while A streams 200 kB to B, both at once.
    let server = tokio::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        let (mut r, mut w) = s.into_split();
        let send = tokio::spawn(async move {
            w.write_all(&pattern(200_000)).await.unwrap();
            drop(w); // dropping the owned write half sends FIN
        });
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.unwrap();
        send.await.unwrap();
        got
    });
    let s = TcpStream::connect(&a, SocketAddr::new(B, 9000))
        .await
        .unwrap();
    let (mut r, mut w) = s.into_split();
    let send = tokio::spawn(async move {
        w.write_all(&pattern(200_000)).await.unwrap();
        w.shutdown().await.unwrap();
    });
    let mut got = Vec::new();
    r.read_to_end(&mut got).await.unwrap();
    send.await.unwrap();
    assert!(got == pattern(200_000));
    assert!(server.await.unwrap() == pattern(200_000));
}

#[tokio::test]
async fn connect_to_a_closed_port_is_connection_refused() {
    let (a, _b) = hosts();
    let err = TcpStream::connect(&a, SocketAddr::new(B, 1))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
}

#[tokio::test]
async fn binding_a_port_twice_is_addr_in_use_and_port_zero_picks_one() {
    let (_a, b) = hosts();
    let first = TcpListener::bind(&b, SocketAddr::new(B, 7)).await.unwrap();
    let err = TcpListener::bind(&b, SocketAddr::new(B, 7))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AddrInUse);
    let any = TcpListener::bind(&b, SocketAddr::new(B, 0)).await.unwrap();
    assert_ne!(any.local_addr().unwrap().port(), 0);
    drop(first);
    // Dropping the listener frees the port.
    TcpListener::bind(&b, SocketAddr::new(B, 7)).await.unwrap();
}

#[tokio::test]
async fn peer_reset_is_connection_reset_on_read() {
    let (a, b) = hosts();
    let listener = TcpListener::bind(&b, SocketAddr::new(B, 7)).await.unwrap();
    let mut s = TcpStream::connect(&a, SocketAddr::new(B, 7)).await.unwrap();
    let (server, _) = listener.accept().await.unwrap();
    server.abort().unwrap();
    let mut buf = [0u8; 16];
    let err = s.read(&mut buf).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
    // A zero linger: dropping resets instead of closing with a FIN.
    let mut s = TcpStream::connect(&a, SocketAddr::new(B, 7)).await.unwrap();
    let (server, _) = listener.accept().await.unwrap();
    server.set_linger(Some(std::time::Duration::ZERO)).unwrap();
    drop(server);
    let err = s.read(&mut buf).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset);
}

#[tokio::test]
async fn sockets_fail_with_not_connected_once_the_runtime_is_dropped() {
    let (a, b) = hosts();
    let listener = TcpListener::bind(&b, SocketAddr::new(B, 7)).await.unwrap();
    let mut s = TcpStream::connect(&a, SocketAddr::new(B, 7)).await.unwrap();
    let _server = listener.accept().await.unwrap();
    let reader = tokio::spawn(async move {
        let mut buf = [0u8; 16];
        s.read(&mut buf).await
    });
    tokio::task::yield_now().await;
    drop(a);
    let err = reader.await.unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotConnected);
}

#[tokio::test]
async fn echo_survives_a_lossy_reordering_link_between_two_runtimes() {
    // The simulated network in real time: a memory link with a seeded impairer on A's side
    // (both directions): loss, delay, jitter (reordering) and duplication.
    let (da, db) = MemoryDevice::pair(1500, 4096);
    let impair = ImpairConfig {
        link: ImpairConfig::default()
            .link
            .with_loss(0.03)
            .with_delay(std::time::Duration::from_millis(2))
            .with_jitter(std::time::Duration::from_millis(1))
            .with_duplicate(0.01),
        seed: 7,
    };
    let a = Runtime::builder()
        .address(A)
        .impair(impair)
        .build(da)
        .unwrap();
    let b = Runtime::builder().address(B).build(db).unwrap();
    let listener = TcpListener::bind(&b, SocketAddr::new(B, 7)).await.unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let (mut r, mut w) = s.split();
        tokio::io::copy(&mut r, &mut w).await.unwrap();
        w.shutdown().await.unwrap();
    });
    let data = pattern(100_000);
    let s = TcpStream::connect(&a, SocketAddr::new(B, 7)).await.unwrap();
    let (mut r, mut w) = s.into_split();
    let to_send = data.clone();
    tokio::spawn(async move {
        w.write_all(&to_send).await.unwrap();
        w.shutdown().await.unwrap();
    });
    let mut got = Vec::new();
    r.read_to_end(&mut got).await.unwrap();
    assert!(got == data, "echo differs");
    // Either side may have lost data (the impairer works both ways); with SACK and RACK,
    // reordering and duplicates alone no longer cost retransmissions.
    let retrans = |rt: &Runtime| rt.with_stack(|s, _| s.counters().retrans_segs).unwrap();
    let lost = retrans(&a) + retrans(&b);
    assert!(lost > 0, "the impairer should have cost retransmissions");
}

#[tokio::test]
async fn addresses_are_taken_as_tokio_takes_them() {
    let (a, b) = hosts();
    let listener = TcpListener::bind(&b, "198.18.0.2:7").await.unwrap();
    let c = TcpStream::connect(&a, (B, 7)).await.unwrap();
    let (_s, peer) = listener.accept().await.unwrap();
    assert_eq!(peer, c.local_addr().unwrap());
    let err = TcpListener::bind(&b, "198.18.0.1:7").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AddrNotAvailable);
}

/// `Builder::spawn` runs each stack as a task on the test's own single-threaded runtime (no
/// thread of its own): a 1 MB echo goes through, and dropping a runtime ends its task, after
/// which its sockets fail with `NotConnected`.
#[tokio::test(flavor = "current_thread")]
async fn stacks_spawned_on_the_applications_runtime_echo_and_stop_when_dropped() {
    let (da, db) = MemoryDevice::pair(1500, 4096);
    let a = Runtime::builder().address(A).spawn(da).unwrap();
    let b = Runtime::builder().address(B).spawn(db).unwrap();
    let listener = TcpListener::bind(&b, (B, 7)).await.unwrap();
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let (mut r, mut w) = s.split();
        tokio::io::copy(&mut r, &mut w).await.unwrap();
        w.shutdown().await.unwrap();
    });
    let data = pattern(1_000_000);
    let s = TcpStream::connect(&a, (B, 7)).await.unwrap();
    let (mut r, mut w) = s.into_split();
    let to_send = data.clone();
    let writer = tokio::spawn(async move {
        w.write_all(&to_send).await.unwrap();
        w.shutdown().await.unwrap();
    });
    let mut got = Vec::new();
    r.read_to_end(&mut got).await.unwrap();
    writer.await.unwrap();
    server.await.unwrap();
    assert!(got == data, "echo differs");
    let handle = a.handle().clone();
    drop(a);
    let e = TcpStream::connect(&handle, (B, 7)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotConnected);
}

#[test]
fn spawning_a_stack_outside_a_tokio_runtime_says_so() {
    let (da, _db) = MemoryDevice::pair(1500, 16);
    let e = Runtime::builder().address(A).spawn(da).unwrap_err();
    assert!(e.to_string().contains("within a Tokio runtime"), "{e}");
}

/// `readable`/`try_read` and `writable`/`try_write`, as tokio's: readiness waits, the
/// `try_` calls never do (`WouldBlock` when they would), and the end of the stream is
/// readable with `try_read` returning 0. Also on owned halves.
#[tokio::test]
async fn readiness_and_try_calls_behave_like_tokios() {
    let (a, b) = hosts();
    let listener = TcpListener::bind(&b, (B, 9)).await.unwrap();
    let client = TcpStream::connect(&a, (B, 9)).await.unwrap();
    let (server, _) = listener.accept().await.unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(
        server.try_read(&mut buf).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    // Not readable until data arrives.
    let early = tokio::time::timeout(std::time::Duration::from_millis(50), server.readable()).await;
    assert!(early.is_err(), "readable before any data");
    client.writable().await.unwrap();
    assert_eq!(client.try_write(b"ping").unwrap(), 4);
    server.readable().await.unwrap();
    let mut got = Vec::new();
    while got.len() < 4 {
        match server.try_read(&mut buf) {
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => server.readable().await.unwrap(),
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(got, b"ping");
    // A full send buffer: try_write says WouldBlock, and writable waits until the peer reads.
    let (r, w) = client.into_split();
    let chunk = vec![1u8; 64 * 1024];
    let mut queued = 0;
    loop {
        match w.try_write(&chunk) {
            Ok(n) => queued += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(queued > 0);
    let (mut sr, mut sw) = server.into_split();
    let drain = tokio::spawn(async move {
        let mut sink = vec![0u8; 1 << 20];
        let mut total = 0;
        while total < queued {
            total += sr.read(&mut sink).await.unwrap();
        }
        sr
    });
    w.writable().await.unwrap();
    assert!(w.try_write(b"x").unwrap() == 1);
    let _sr = drain.await.unwrap();
    // The end of the stream is readable, and try_read returns 0 there.
    sw.shutdown().await.unwrap();
    r.readable().await.unwrap();
    loop {
        match r.try_read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => r.readable().await.unwrap(),
            Err(e) => panic!("{e}"),
        }
    }
}

/// `peek` waits for data and leaves it for the next read, as tokio's does.
#[tokio::test]
async fn peek_waits_for_data_and_leaves_it_for_the_next_read() {
    let (a, b) = hosts();
    let listener = TcpListener::bind(&b, (B, 10)).await.unwrap();
    let mut client = TcpStream::connect(&a, (B, 10)).await.unwrap();
    let (mut server, _) = listener.accept().await.unwrap();
    let writer = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        client.write_all(b"peekaboo").await.unwrap();
        client.shutdown().await.unwrap();
        client
    });
    let mut buf = [0u8; 4];
    assert_eq!(server.peek(&mut buf).await.unwrap(), 4);
    assert_eq!(&buf, b"peek");
    let mut all = Vec::new();
    server.read_to_end(&mut all).await.unwrap();
    assert_eq!(all, b"peekaboo");
    assert_eq!(server.peek(&mut buf).await.unwrap(), 0, "end of stream");
    drop(writer.await.unwrap());
}

/// `TcpSocket` sets buffers per connection: the client's and the listener's connections get
/// theirs, other connections keep the stack's 64 KiB; binding a foreign address is
/// `AddrNotAvailable`, listening unbound is `InvalidInput`.
#[tokio::test]
async fn tcp_socket_sets_buffers_per_connection_and_checks_its_address() {
    use synack::tokio_net::TcpSocket;
    let (a, b) = hosts();
    let ls = TcpSocket::new_v4(&b).unwrap();
    ls.set_send_buffer_size(256 * 1024).unwrap();
    ls.bind(SocketAddr::new(B, 12)).unwrap();
    let listener = ls.listen(16).unwrap();
    let cs = TcpSocket::new_v4(&a).unwrap();
    assert_eq!(
        cs.send_buffer_size().unwrap(),
        64 * 1024,
        "the stack's default"
    );
    cs.set_send_buffer_size(1 << 20).unwrap();
    cs.set_recv_buffer_size(1 << 20).unwrap();
    cs.set_nodelay(true).unwrap();
    assert_eq!(cs.send_buffer_size().unwrap(), 1 << 20);
    cs.bind(SocketAddr::new(A, 0)).unwrap();
    let mut client = cs.connect(SocketAddr::new(B, 12)).await.unwrap();
    assert!(client.nodelay().unwrap());
    let (mut server, _) = listener.accept().await.unwrap();
    let plain = TcpStream::connect(&a, (B, 12)).await.unwrap();
    // The maxima each connection got (autotuning sizes the buffers below them, so the room
    // left to write starts smaller).
    let max = |rt: &Runtime, id| {
        rt.with_stack(|s, _| {
            let c = s.connection(id).unwrap();
            assert!(c.send_capacity() <= c.config().send_buffer);
            c.config().send_buffer
        })
        .unwrap()
    };
    assert_eq!(max(&a, client.id()), 1 << 20);
    assert_eq!(max(&b, server.id()), 256 * 1024);
    assert_eq!(max(&a, plain.id()), 64 * 1024);
    let data = pattern(3 << 20);
    let to_send = data.clone();
    let writer = tokio::spawn(async move {
        client.write_all(&to_send).await.unwrap();
        client.shutdown().await.unwrap();
        client
    });
    let mut got = Vec::new();
    server.read_to_end(&mut got).await.unwrap();
    assert!(got == data, "stream differs");
    drop(writer.await.unwrap());
    let foreign = TcpSocket::new_v4(&a).unwrap();
    let e = foreign.bind(SocketAddr::new(B, 0)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AddrNotAvailable);
    let e = TcpSocket::new_v4(&a).unwrap().listen(4).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}
