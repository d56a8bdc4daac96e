//! UDP in the stack (RFC 768, RFC 8085): binding and ports, demultiplexing, bounded queues,
//! fragments both ways, interception of every flow, and two stacks exchanging datagrams on
//! the simulated network. Packets going in are built by etherparse, an independent
//! implementation; packets coming out are checked by it.

use super::*;
use crate::stack::{Secret, StackConfig, StackError, UdpInterceptConfig};
use crate::udp;
use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};

const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 9));
const PEER6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 9));
const FOREIGN: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 53));

fn stack_with(cfg: StackConfig) -> Stack {
    Stack::new(cfg, Secret::from_bytes(TEST_SECRET), &[IP_A, IP6_A])
}

fn stack() -> Stack {
    stack_with(StackConfig::default())
}

fn sa(ip: IpAddr, port: u16) -> SocketAddr {
    SocketAddr::new(ip, port)
}

/// A UDP datagram from `src` to `dst`, built by etherparse.
fn datagram(src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Vec<u8> {
    let builder = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => PacketBuilder::ipv4(s.octets(), d.octets(), 64),
        (IpAddr::V6(s), IpAddr::V6(d)) => PacketBuilder::ipv6(s.octets(), d.octets(), 64),
        _ => unreachable!("one family"),
    }
    .udp(src.port(), dst.port());
    let mut out = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut out, payload).unwrap();
    out
}

fn drain(s: &mut Stack) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 2048];
    while let Some(n) = s.poll_transmit(Instant::ZERO, &mut buf) {
        crate::wire::oracle::check_with_etherparse(&buf[..n]);
        out.push(buf[..n].to_vec());
    }
    out
}

/// The UDP datagram in `packet` as etherparse reads it: source, destination, payload.
fn read_udp(packet: &[u8]) -> (SocketAddr, SocketAddr, Vec<u8>) {
    let sliced = SlicedPacket::from_ip(packet).unwrap();
    let (src, dst) = match sliced.net.unwrap() {
        NetSlice::Ipv4(v4) => (
            IpAddr::from(v4.header().source()),
            IpAddr::from(v4.header().destination()),
        ),
        NetSlice::Ipv6(v6) => (
            IpAddr::from(v6.header().source()),
            IpAddr::from(v6.header().destination()),
        ),
        NetSlice::Arp(_) => unreachable!(),
    };
    let Some(TransportSlice::Udp(u)) = sliced.transport else {
        panic!("not UDP: {packet:02x?}")
    };
    (
        sa(src, u.source_port()),
        sa(dst, u.destination_port()),
        u.payload().to_vec(),
    )
}

#[test]
fn rfc768_a_datagram_reaches_the_socket_bound_to_its_port() {
    let mut s = stack();
    let id = s.udp_bind(sa(IP_A, 53)).unwrap();
    s.handle_packet(
        Instant::ZERO,
        &datagram(sa(PEER, 4000), sa(IP_A, 53), b"query"),
    );
    let mut buf = [0u8; 64];
    assert_eq!(s.udp_recv_from(id, &mut buf), Ok((5, sa(PEER, 4000))));
    assert_eq!(&buf[..5], b"query");
    assert_eq!(
        s.udp_recv_from(id, &mut buf),
        Err(StackError::Udp(udp::Error::WouldBlock))
    );
    assert_eq!(s.counters().udp_in_datagrams, 1);
}

#[test]
fn rfc768_send_to_emits_a_datagram_from_the_bound_port_with_a_checksum() {
    let mut s = stack();
    let id = s
        .udp_bind(sa(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 5353))
        .unwrap();
    assert_eq!(
        s.udp_send_to(Instant::ZERO, id, b"answer", sa(PEER, 4000)),
        Ok(6)
    );
    let out = drain(&mut s);
    assert_eq!(out.len(), 1);
    // The unspecified address sends from the stack's own address of the family.
    assert_eq!(
        read_udp(&out[0]),
        (sa(IP_A, 5353), sa(PEER, 4000), b"answer".to_vec())
    );
}

#[test]
fn rfc8200_8_1_ipv6_datagrams_both_ways() {
    let mut s = stack();
    let id = s.udp_bind(sa(IP6_A, 9)).unwrap();
    s.handle_packet(Instant::ZERO, &datagram(sa(PEER6, 7), sa(IP6_A, 9), b"v6"));
    let mut buf = [0u8; 8];
    assert_eq!(s.udp_recv_from(id, &mut buf), Ok((2, sa(PEER6, 7))));
    s.udp_send_to(Instant::ZERO, id, b"back", sa(PEER6, 7))
        .unwrap();
    let out = drain(&mut s);
    assert_eq!(
        read_udp(&out[0]),
        (sa(IP6_A, 9), sa(PEER6, 7), b"back".to_vec())
    );
}

#[test]
fn rfc768_zero_checksum_means_none_over_ipv4_but_is_refused_over_ipv6() {
    let mut s = stack();
    let v4 = s.udp_bind(sa(IP_A, 9)).unwrap();
    let v6 = s.udp_bind(sa(IP6_A, 9)).unwrap();
    for (src, dst) in [(sa(PEER, 1), sa(IP_A, 9)), (sa(PEER6, 1), sa(IP6_A, 9))] {
        let mut p = datagram(src, dst, b"x");
        let at = p.len() - 1 - 2; // the checksum field: 2 bytes before the 1-byte payload
        p[at] = 0;
        p[at + 1] = 0;
        s.handle_packet(Instant::ZERO, &p);
    }
    let mut buf = [0u8; 8];
    assert_eq!(s.udp_recv_from(v4, &mut buf).map(|r| r.0), Ok(1));
    assert!(s.udp_recv_from(v6, &mut buf).is_err());
    assert_eq!(s.counters().udp_in_errors, 1);
}

#[test]
fn a_bad_checksum_is_dropped_and_counted() {
    let mut s = stack();
    let id = s.udp_bind(sa(IP_A, 9)).unwrap();
    let mut p = datagram(sa(PEER, 1), sa(IP_A, 9), b"abc");
    *p.last_mut().unwrap() ^= 1;
    s.handle_packet(Instant::ZERO, &p);
    let mut buf = [0u8; 8];
    assert!(s.udp_recv_from(id, &mut buf).is_err());
    let c = s.counters();
    assert_eq!((c.udp_in_errors, c.udp_in_csum_errors), (1, 1));
}

#[test]
fn binding_follows_the_kernel_rules() {
    let mut s = stack();
    assert_eq!(
        s.udp_bind(sa(FOREIGN, 53)),
        Err(StackError::AddrNotAvailable)
    );
    let a = s.udp_bind(sa(IP_A, 53)).unwrap();
    assert_eq!(s.udp_bind(sa(IP_A, 53)), Err(StackError::AddrInUse));
    // A wildcard and a specific address of one family overlap; the other family does not.
    assert_eq!(
        s.udp_bind(sa(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 53)),
        Err(StackError::AddrInUse)
    );
    assert!(
        s.udp_bind(sa(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 53))
            .is_ok()
    );
    // Port 0 picks one from the ephemeral range; closing frees the port.
    let e = s.udp_bind(sa(IP_A, 0)).unwrap();
    let port = s.udp_local_addr(e).unwrap().port();
    let (lo, hi) = StackConfig::default().ephemeral_ports;
    assert!((lo..=hi).contains(&port));
    s.udp_close(a);
    assert!(s.udp_bind(sa(IP_A, 53)).is_ok());
    assert_eq!(s.udp_local_addr(a), None, "a closed handle is stale");
}

#[test]
fn a_connected_socket_hears_only_its_peer_and_a_wildcard_one_hears_everyone() {
    let mut s = stack();
    let conn = s.udp_bind(sa(IP_A, 7000)).unwrap();
    s.udp_connect(conn, sa(PEER, 1)).unwrap();
    let wild6 = s
        .udp_bind(sa(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 7000))
        .unwrap();
    let wild = s
        .udp_bind(sa(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 7001))
        .unwrap();
    s.handle_packet(
        Instant::ZERO,
        &datagram(sa(PEER, 1), sa(IP_A, 7000), b"mine"),
    );
    s.handle_packet(
        Instant::ZERO,
        &datagram(sa(PEER, 2), sa(IP_A, 7000), b"other"),
    );
    s.handle_packet(
        Instant::ZERO,
        &datagram(sa(PEER, 2), sa(IP_A, 7001), b"other"),
    );
    let mut buf = [0u8; 8];
    assert_eq!(s.udp_recv_from(conn, &mut buf), Ok((4, sa(PEER, 1))));
    assert!(
        s.udp_recv_from(conn, &mut buf).is_err(),
        "PEER:2 is not its peer"
    );
    assert!(s.udp_recv_from(wild6, &mut buf).is_err(), "another family");
    assert_eq!(s.udp_recv_from(wild, &mut buf), Ok((5, sa(PEER, 2))));
    assert_eq!(
        s.counters().udp_no_ports,
        1,
        "PEER:2 to :7000 found no socket"
    );
}

#[test]
fn the_receive_queue_is_bounded_and_drops_are_counted() {
    let mut cfg = StackConfig::default();
    cfg.udp.socket = udp::Config {
        recv_buffer: 1000,
        recv_datagrams: 4,
    };
    let mut s = stack_with(cfg);
    let id = s.udp_bind(sa(IP_A, 9)).unwrap();
    for i in 0..10u8 {
        s.handle_packet(
            Instant::ZERO,
            &datagram(sa(PEER, 1), sa(IP_A, 9), &[i; 100]),
        );
    }
    let c = s.counters();
    assert_eq!((c.udp_in_datagrams, c.udp_rcvbuf_errors), (4, 6));
    assert_eq!(s.udp_socket(id).unwrap().recv_queue(), 4);
}

#[test]
fn the_send_queue_is_bounded_and_writable_again_once_drained() {
    let mut cfg = StackConfig::default();
    cfg.udp.send_queue = 3;
    let mut s = stack_with(cfg);
    s.set_events(true);
    let id = s.udp_bind(sa(IP_A, 9)).unwrap();
    for _ in 0..3 {
        s.udp_send_to(Instant::ZERO, id, b"x", sa(PEER, 1)).unwrap();
    }
    assert_eq!(
        s.udp_send_to(Instant::ZERO, id, b"x", sa(PEER, 1)),
        Err(StackError::Udp(udp::Error::WouldBlock))
    );
    assert!(!s.udp_readiness(id).is_writable());
    while s.poll_event().is_some() {}
    assert_eq!(drain(&mut s).len(), 3);
    assert!(s.udp_readiness(id).is_writable());
    let events: Vec<_> = core::iter::from_fn(|| s.poll_event()).collect();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, crate::stack::Event::Udp(i, r) if *i == id && r.is_writable())),
        "{events:?}"
    );
    assert_eq!(s.counters().udp_sndbuf_errors, 1);
}

#[test]
fn too_long_a_datagram_is_message_too_long() {
    let mut s = stack();
    let id = s.udp_bind(sa(IP_A, 9)).unwrap();
    let big = vec![0u8; udp::MAX_PAYLOAD_V4 + 1];
    assert_eq!(
        s.udp_send_to(Instant::ZERO, id, &big, sa(PEER, 1)),
        Err(StackError::Udp(udp::Error::MessageTooLong))
    );
}

/// Etherparse's own defragmenter puts our fragments back together.
fn reassemble_with_etherparse(fragments: &[Vec<u8>]) -> Vec<u8> {
    let mut pool: etherparse::defrag::IpDefragPool = etherparse::defrag::IpDefragPool::new();
    let mut whole = None;
    for f in fragments {
        let sliced = SlicedPacket::from_ip(f).unwrap();
        if let Some(done) = pool.process_sliced_packet(&sliced, (), ()).unwrap() {
            whole = Some(done.payload);
        }
    }
    whole.expect("etherparse reassembles the datagram")
}

#[test]
fn rfc791_a_datagram_larger_than_the_mtu_leaves_in_fragments() {
    let mut s = stack();
    let id = s.udp_bind(sa(IP_A, 9)).unwrap();
    let data: Vec<u8> = (0..4000u32).map(|i| (i % 251) as u8).collect();
    s.udp_send_to(Instant::ZERO, id, &data, sa(PEER, 1))
        .unwrap();
    let out = drain(&mut s);
    assert_eq!(out.len(), 3, "4008 bytes of UDP in 1480-byte pieces");
    assert!(out.iter().all(|f| f.len() <= 1500));
    let udp_bytes = reassemble_with_etherparse(&out);
    assert_eq!(&udp_bytes[8..], &data[..]);
    assert_eq!((s.counters().frag_oks, s.counters().frag_creates), (1, 3));
}

#[test]
fn rfc791_fragments_arriving_out_of_order_are_delivered_whole() {
    // Our own fragmenter cuts a 3000-byte datagram (etherparse's oracle checks the cut
    // elsewhere); they arrive last piece first.
    let mut s = stack();
    let id = s.udp_bind(sa(IP_A, 9)).unwrap();
    let data: Vec<u8> = (0..3000u32).map(|i| (i % 253) as u8).collect();
    let mut whole = datagram(sa(PEER, 1), sa(IP_A, 9), &data);
    {
        let mut p = crate::wire::Ipv4Packet::new_unchecked(&mut whole[..]);
        p.set_ident(0x1234);
        p.set_flags_frag(false, false, 0);
        p.fill_checksum();
    }
    let mut frags = crate::frag::fragment_ipv4(&whole, 1280).unwrap();
    let mut pieces = Vec::new();
    let mut buf = [0u8; 1500];
    while let Some(n) = frags.write_next(&mut buf).unwrap() {
        pieces.push(buf[..n].to_vec());
    }
    assert!(pieces.len() >= 3);
    for p in pieces.iter().rev() {
        s.handle_packet(Instant::ZERO, p);
    }
    let mut got = vec![0u8; 4000];
    let (n, from) = s.udp_recv_from(id, &mut got).unwrap();
    assert_eq!((n, from), (3000, sa(PEER, 1)));
    assert_eq!(&got[..n], &data[..]);
    assert_eq!(s.frag_counters().reasm_oks, 1);
}

#[test]
fn intercepted_flows_become_sessions_that_answer_from_the_original_destination() {
    let mut s = stack();
    s.set_events(true);
    s.udp_intercept(UdpInterceptConfig::default());
    let client = sa(PEER, 33000);
    let dns = sa(FOREIGN, 53);
    s.handle_packet(Instant::ZERO, &datagram(client, dns, b"q1"));
    s.handle_packet(Instant::ZERO, &datagram(client, dns, b"q2"));
    assert!(
        core::iter::from_fn(|| s.poll_event())
            .any(|e| matches!(e, crate::stack::Event::UdpAcceptable))
    );
    let id = s.udp_accept().expect("one session");
    assert_eq!(s.udp_accept(), None, "both datagrams are one flow");
    assert_eq!(s.udp_local_addr(id), Some(dns));
    assert_eq!(s.udp_peer_addr(id), Some(client));
    let mut buf = [0u8; 8];
    assert_eq!(s.udp_recv_from(id, &mut buf), Ok((2, client)));
    assert_eq!(s.udp_recv_from(id, &mut buf), Ok((2, client)));
    s.udp_send(Instant::ZERO, id, b"a1").unwrap();
    let out = drain(&mut s);
    assert_eq!(read_udp(&out[0]), (dns, client, b"a1".to_vec()));
    // Another client, or another destination, is another flow.
    s.handle_packet(Instant::ZERO, &datagram(sa(PEER, 33001), dns, b"q"));
    s.handle_packet(Instant::ZERO, &datagram(client, sa(FOREIGN, 54), b"q"));
    assert!(s.udp_accept().is_some() && s.udp_accept().is_some());
    assert_eq!(s.udp_session_count(), 3);
}

#[test]
fn an_idle_session_ends_and_the_flows_next_datagram_starts_a_new_one() {
    let mut s = stack();
    let idle = Duration::from_secs(60);
    s.udp_intercept(UdpInterceptConfig {
        idle_timeout: idle,
        ..UdpInterceptConfig::default()
    });
    let (client, dst) = (sa(PEER, 40000), sa(FOREIGN, 123));
    let t0 = Instant::ZERO;
    s.handle_packet(t0, &datagram(client, dst, b"a"));
    let id = s.udp_accept().unwrap();
    // Traffic at 50 s keeps it alive past 60 s.
    s.udp_send(t0 + Duration::from_secs(50), id, b"r").unwrap();
    assert_eq!(s.poll_timeout(), Some(t0 + idle));
    s.handle_timeout(t0 + idle);
    assert_eq!(s.udp_session_count(), 1);
    s.handle_timeout(t0 + Duration::from_secs(110));
    assert_eq!(s.udp_session_count(), 0);
    let mut buf = [0u8; 8];
    // The end is reported first (as a pending socket error is), then what was queued.
    assert_eq!(
        s.udp_recv_from(id, &mut buf),
        Err(StackError::Udp(udp::Error::SessionExpired))
    );
    assert_eq!(s.udp_recv_from(id, &mut buf), Ok((1, client)));
    assert_eq!(
        s.udp_send(t0 + Duration::from_secs(110), id, b"late"),
        Err(StackError::Udp(udp::Error::SessionExpired)),
        "an ended session sends nothing"
    );
    s.handle_packet(t0 + Duration::from_secs(111), &datagram(client, dst, b"b"));
    let again = s.udp_accept().expect("a new session");
    assert_ne!(again, id);
    s.udp_close(id);
    assert_eq!(s.udp_session_count(), 1);
    assert_eq!(s.counters().udp_session_timeouts, 1);
}

#[test]
fn sessions_are_bounded_and_a_session_never_taken_is_dropped_when_idle() {
    let mut s = stack();
    s.udp_intercept(UdpInterceptConfig {
        max_sessions: 100,
        backlog: 50,
        idle_timeout: Duration::from_secs(5),
    });
    for port in 0..200u16 {
        s.handle_packet(
            Instant::ZERO,
            &datagram(sa(PEER, 10_000 + port), sa(FOREIGN, 53), b"q"),
        );
    }
    assert_eq!(
        s.udp_session_count(),
        50,
        "the backlog bounds untaken sessions"
    );
    assert_eq!(s.counters().udp_session_overflows, 150);
    s.handle_timeout(Instant::ZERO + Duration::from_secs(5));
    assert_eq!((s.udp_session_count(), s.udp_socket_count()), (0, 0));
}

#[test]
fn memory_per_idle_session_is_bounded() {
    let mut s = stack();
    s.udp_intercept(UdpInterceptConfig {
        backlog: 20_000,
        ..UdpInterceptConfig::default()
    });
    let before = s.memory_usage();
    let n = 10_000u16;
    for i in 0..n {
        s.handle_packet(
            Instant::ZERO,
            &datagram(sa(PEER, 1024 + i), sa(FOREIGN, 53), b""),
        );
        let id = s.udp_accept().unwrap();
        let mut buf = [0u8; 1];
        let _ = s.udp_recv_from(id, &mut buf);
    }
    let per = (s.memory_usage() - before) / usize::from(n);
    eprintln!("bytes per idle UDP session: {per}");
    assert!(per <= 320, "{per} bytes per idle session");
}

#[test]
fn two_stacks_exchange_datagrams_over_a_lossy_link_and_the_loss_shows() {
    let link = LinkConfig::default()
        .with_delay(Duration::from_millis(5))
        .with_loss(0.2);
    let mut net = pair(7, tcp::Config::default(), link);
    let a = net.host_mut(A).udp_bind(sa(IP_A, 5000)).unwrap();
    let b = net.host_mut(B).udp_bind(sa(IP_B, 6000)).unwrap();
    for i in 0..200u16 {
        let now = net.now();
        net.host_mut(A)
            .udp_send_to(now, a, &i.to_be_bytes(), sa(IP_B, 6000))
            .unwrap();
        let t = net.now() + Duration::from_millis(1);
        net.run_until(t, |_| false);
    }
    let t = net.now() + Duration::from_secs(1);
    net.run_until(t, |_| false);
    let mut got = Vec::new();
    let mut buf = [0u8; 4];
    while let Ok((n, from)) = net.host_mut(B).udp_recv_from(b, &mut buf) {
        assert_eq!((n, from), (2, sa(IP_A, 5000)));
        got.push(u16::from_be_bytes([buf[0], buf[1]]));
    }
    // UDP does not retransmit: about 80 % arrive, in order, each once.
    assert!((120..=190).contains(&got.len()), "{} arrived", got.len());
    assert!(got.windows(2).all(|w| w[0] < w[1]));
}
