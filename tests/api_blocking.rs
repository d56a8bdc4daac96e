//! The blocking API over two synack runtimes joined by an in-memory device pair: std::net's
//! calls, and for each failure the io::ErrorKind std gives.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr};
use std::thread;
use std::time::Duration;
use synack::blocking::{TcpListener, TcpStream};
use synack::net::{ImpairConfig, MemoryDevice};
use synack::runtime::Runtime;
use synack::stack::StackConfig;
use synack::tcp;

const A: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
const B: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2));

fn hosts() -> (Runtime, Runtime) {
    let (da, db) = MemoryDevice::pair(1500, 4096);
    let a = Runtime::builder().address(A).build(da).unwrap();
    let b = Runtime::builder().address(B).build(db).unwrap();
    (a, b)
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 13 % 251) as u8).collect()
}

#[test]
fn blocking_echo_with_half_close_over_incoming() {
    let (a, b) = hosts();
    let listener = TcpListener::bind(&b, SocketAddr::new(B, 7)).unwrap();
    assert_eq!(listener.local_addr().unwrap(), SocketAddr::new(B, 7));
    let server = thread::spawn(move || {
        let mut s = listener.incoming().next().unwrap().unwrap();
        let mut buf = [0u8; 4096];
        let mut total = 0;
        loop {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            s.write_all(&buf[..n]).unwrap();
            total += n;
        }
        s.shutdown(Shutdown::Write).unwrap();
        total
    });
    let mut s = TcpStream::connect(&a, SocketAddr::new(B, 7)).unwrap();
    assert_eq!(s.peer_addr().unwrap(), SocketAddr::new(B, 7));
    assert_eq!(s.local_addr().unwrap().ip(), A);
    s.set_nodelay(true).unwrap();
    let data = pattern(200_000);
    let mut reader = s.try_clone().unwrap();
    let echo = thread::spawn(move || {
        let mut got = Vec::new();
        reader.read_to_end(&mut got).unwrap();
        got
    });
    s.write_all(&data).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let err = s.write(b"x").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BrokenPipe);
    assert!(echo.join().unwrap() == data);
    assert_eq!(server.join().unwrap(), data.len());
}

#[test]
fn connect_to_a_closed_port_is_connection_refused() {
    let (a, _b) = hosts();
    let err = TcpStream::connect(&a, SocketAddr::new(B, 1)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
}

#[test]
fn binding_a_listened_port_is_addr_in_use() {
    let (_a, b) = hosts();
    let _l = TcpListener::bind(&b, SocketAddr::new(B, 7)).unwrap();
    let err = TcpListener::bind(&b, SocketAddr::new(B, 7)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AddrInUse);
}

#[test]
fn non_blocking_accept_and_read_are_would_block() {
    let (a, b) = hosts();
    let listener = TcpListener::bind(&b, SocketAddr::new(B, 7)).unwrap();
    listener.set_nonblocking(true).unwrap();
    assert_eq!(listener.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
    let c = TcpStream::connect(&a, SocketAddr::new(B, 7)).unwrap();
    c.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(
        (&c).read(&mut buf).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    listener.set_nonblocking(false).unwrap();
    let (s, peer) = listener.accept().unwrap();
    assert_eq!(peer, c.local_addr().unwrap());
    assert_eq!(s.peer_addr().unwrap(), peer);
}

#[test]
fn read_timeout_is_timed_out_and_zero_timeouts_are_invalid() {
    let (a, b) = hosts();
    let listener = TcpListener::bind(&b, SocketAddr::new(B, 7)).unwrap();
    let mut c = TcpStream::connect(&a, SocketAddr::new(B, 7)).unwrap();
    let _s = listener.accept().unwrap();
    c.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    assert_eq!(c.read_timeout().unwrap(), Some(Duration::from_millis(20)));
    let mut buf = [0u8; 8];
    assert_eq!(c.read(&mut buf).unwrap_err().kind(), ErrorKind::TimedOut);
    let zero = Some(Duration::ZERO);
    assert_eq!(
        c.set_read_timeout(zero).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(
        c.set_write_timeout(zero).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
}

#[test]
fn write_timeout_is_timed_out_when_the_peer_never_reads() {
    let (a, b) = hosts();
    let listener = TcpListener::bind(&b, SocketAddr::new(B, 7)).unwrap();
    let mut c = TcpStream::connect(&a, SocketAddr::new(B, 7)).unwrap();
    let _s = listener.accept().unwrap();
    c.set_write_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let chunk = vec![0u8; 65536];
    let err = loop {
        if let Err(e) = c.write(&chunk) {
            break e;
        }
    };
    assert_eq!(err.kind(), ErrorKind::TimedOut);
}

#[test]
fn connect_timeout_to_a_black_hole_is_timed_out() {
    let (da, _db) = MemoryDevice::pair(1500, 64);
    let impair = ImpairConfig {
        link: ImpairConfig::default().link.with_loss(1.0),
        ..ImpairConfig::default()
    };
    let a = Runtime::builder()
        .address(A)
        .impair(impair)
        .build(da)
        .unwrap();
    let err = TcpStream::connect_timeout(&a, SocketAddr::new(B, 7), Duration::from_millis(30))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
}

#[test]
fn syn_retries_spent_is_timed_out() {
    let (da, _db) = MemoryDevice::pair(1500, 64);
    let cfg = StackConfig {
        tcp: tcp::Config {
            syn_retries: 1,
            initial_rto: synack::time::Duration::from_millis(10),
            min_rto: synack::time::Duration::from_millis(10),
            ..tcp::Config::default()
        },
        ..StackConfig::default()
    };
    // Nobody reads B's end: every SYN is lost.
    let a = Runtime::builder()
        .address(A)
        .stack_config(cfg)
        .build(da)
        .unwrap();
    let err = TcpStream::connect(&a, SocketAddr::new(B, 7)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
}

#[test]
fn peer_reset_is_connection_reset_and_reset_after_peer_close_is_broken_pipe() {
    let (a, b) = hosts();
    let listener = TcpListener::bind(&b, SocketAddr::new(B, 7)).unwrap();
    // Reset on an open connection.
    let mut c = TcpStream::connect(&a, SocketAddr::new(B, 7)).unwrap();
    let (s, _) = listener.accept().unwrap();
    let id = s.id();
    b.with_stack(|stack, _| stack.abort(id)).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(
        c.read(&mut buf).unwrap_err().kind(),
        ErrorKind::ConnectionReset
    );
    // The peer closed (we are in CLOSE-WAIT), then reset our late write.
    let mut c = TcpStream::connect(&a, SocketAddr::new(B, 7)).unwrap();
    let (s, _) = listener.accept().unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    assert_eq!(c.read(&mut buf).unwrap(), 0);
    let id = s.id();
    b.with_stack(|stack, _| stack.abort(id)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let err = loop {
        match c.write_all(b"late") {
            Ok(_) => thread::sleep(Duration::from_millis(5)),
            Err(e) => break e,
        }
    };
    assert_eq!(err.kind(), ErrorKind::BrokenPipe);
}

#[test]
fn binding_an_address_the_stack_does_not_own_is_addr_not_available() {
    let (_a, b) = hosts();
    let err = TcpListener::bind(&b, SocketAddr::new(A, 7)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AddrNotAvailable);
    // The unspecified address listens on every address the stack has.
    let any = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 7);
    TcpListener::bind(&b, any).unwrap();
}

#[test]
fn incoming_ends_once_the_runtime_is_dropped() {
    let (_a, b) = hosts();
    let listener = TcpListener::bind(&b, SocketAddr::new(B, 7)).unwrap();
    let waiting = thread::spawn(move || listener.incoming().count());
    thread::sleep(Duration::from_millis(20));
    drop(b);
    assert_eq!(
        waiting.join().unwrap(),
        0,
        "ended, without spinning on errors"
    );
}

#[test]
fn calls_after_the_runtime_stopped_are_not_connected() {
    let (a, b) = hosts();
    let listener = TcpListener::bind(&b, SocketAddr::new(B, 7)).unwrap();
    let mut c = TcpStream::connect(&a, SocketAddr::new(B, 7)).unwrap();
    let _s = listener.accept().unwrap();
    let reader = c.try_clone().unwrap();
    let blocked = thread::spawn(move || {
        let mut buf = [0u8; 8];
        (&reader).read(&mut buf).unwrap_err().kind()
    });
    thread::sleep(Duration::from_millis(20));
    drop(a);
    assert_eq!(blocked.join().unwrap(), ErrorKind::NotConnected);
    assert_eq!(c.write(b"x").unwrap_err().kind(), ErrorKind::NotConnected);
}

#[test]
fn an_idle_blocked_reader_costs_no_wakeups_until_data_arrives() {
    let (a, b) = hosts();
    let listener = TcpListener::bind(&b, SocketAddr::new(B, 7)).unwrap();
    let mut c = TcpStream::connect(&a, SocketAddr::new(B, 7)).unwrap();
    let (s, _) = listener.accept().unwrap();
    let reader = thread::spawn(move || {
        let mut buf = [0u8; 8];
        let n = (&s).read(&mut buf).unwrap();
        buf[..n].to_vec()
    });
    // Let the handshake's last ACK and any delayed ACK settle, then stay idle a while: the
    // blocked reader parks, and neither runtime thread runs (no polling, no idle timer).
    thread::sleep(Duration::from_millis(100));
    let before = (a.stats().wakeups, b.stats().wakeups);
    thread::sleep(Duration::from_millis(300));
    let after = (a.stats().wakeups, b.stats().wakeups);
    assert_eq!(after, before, "runtime threads woke while idle");
    c.write_all(b"wake").unwrap();
    assert_eq!(reader.join().unwrap(), b"wake");
    assert!(b.stats().wakeups > before.1, "B's runtime read the packet");
    assert!(b.stats().device.packets_in > 0);
}

#[test]
fn abort_resets_the_peer_and_zero_linger_makes_drop_reset() {
    let (a, b) = hosts();
    let listener = TcpListener::bind(&b, SocketAddr::new(B, 7)).unwrap();
    let mut buf = [0u8; 8];
    // abort(): the peer's read fails with a reset.
    let mut c = TcpStream::connect(&a, SocketAddr::new(B, 7)).unwrap();
    let (s, _) = listener.accept().unwrap();
    s.abort().unwrap();
    assert_eq!(
        c.read(&mut buf).unwrap_err().kind(),
        ErrorKind::ConnectionReset
    );
    // A zero linger: dropping resets instead of closing with a FIN.
    let mut c = TcpStream::connect(&a, SocketAddr::new(B, 7)).unwrap();
    let (s, _) = listener.accept().unwrap();
    s.set_linger(Some(Duration::ZERO)).unwrap();
    assert_eq!(s.linger().unwrap(), Some(Duration::ZERO));
    drop(s);
    assert_eq!(
        c.read(&mut buf).unwrap_err().kind(),
        ErrorKind::ConnectionReset
    );
    // The default: a FIN, read as end of stream.
    let mut c = TcpStream::connect(&a, SocketAddr::new(B, 7)).unwrap();
    let (s, _) = listener.accept().unwrap();
    assert_eq!(s.linger().unwrap(), None);
    drop(s);
    assert_eq!(c.read(&mut buf).unwrap(), 0);
}

#[test]
fn addresses_are_taken_as_std_takes_them() {
    let (a, b) = hosts();
    // A string, a tuple, a slice: whatever std::net::ToSocketAddrs accepts.
    let listener = TcpListener::bind(&b, "198.51.100.2:7").unwrap();
    assert_eq!(listener.local_addr().unwrap(), SocketAddr::new(B, 7));
    let c = TcpStream::connect(&a, (B, 7)).unwrap();
    assert_eq!(c.peer_addr().unwrap(), SocketAddr::new(B, 7));
    // Each address in turn: the first (not ours) fails, the second is used.
    let two = [SocketAddr::new(A, 8), SocketAddr::new(B, 8)];
    let l = TcpListener::bind(&b, &two[..]).unwrap();
    assert_eq!(l.local_addr().unwrap(), SocketAddr::new(B, 8));
    let none: &[SocketAddr] = &[];
    let err = TcpStream::connect(&a, none).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

/// `peek` as std's: blocks until data, leaves it for `read`, honours non-blocking mode.
#[test]
fn peek_blocks_for_data_leaves_it_for_read_and_honours_nonblocking() {
    let (a, b) = hosts();
    let listener = TcpListener::bind(&b, SocketAddr::new(B, 11)).unwrap();
    let mut client = TcpStream::connect(&a, SocketAddr::new(B, 11)).unwrap();
    let (mut server, _) = listener.accept().unwrap();
    server.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(
        server.peek(&mut buf).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    server.set_nonblocking(false).unwrap();
    let writer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        client.write_all(b"abc").unwrap();
        client
    });
    assert_eq!(server.peek(&mut buf).unwrap(), 3);
    assert_eq!(&buf[..3], b"abc");
    assert_eq!(server.read(&mut buf).unwrap(), 3);
    assert_eq!(&buf[..3], b"abc");
    drop(writer.join().unwrap());
}

/// RFC 6528 requires a secret key for ISNs, and SYN cookies are forgeable with a known one:
/// the core has no default key, and a runtime built without `Builder::secret` draws its
/// own from the OS, so two default-built runtimes never share one.
#[test]
fn two_default_built_runtimes_key_their_stacks_with_different_secrets() {
    let (a, b) = hosts();
    let fingerprint = |rt: &Runtime| rt.with_stack(|s, _| s.secret_fingerprint()).unwrap();
    assert_ne!(fingerprint(&a), fingerprint(&b));
    // A secret set on purpose (for a reproducible capture) is the one used.
    let secret = synack::stack::Secret::from_bytes([9; 16]);
    let (link, _peer) = MemoryDevice::pair(1500, 64);
    let c = Runtime::builder()
        .address(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 3)))
        .secret(secret.clone())
        .build(link)
        .unwrap();
    assert_eq!(fingerprint(&c), secret.fingerprint());
}
