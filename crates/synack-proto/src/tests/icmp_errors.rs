//! ICMP errors through the stack, both ways: port unreachable for a closed UDP port (rate
//! limited), Time Exceeded for a datagram whose fragments did not all come, and errors that
//! arrive acted on by the TCP connection or the connected UDP socket they quote.

use super::*;
use crate::stack::{Secret, StackConfig, StackError};
use crate::udp;
use crate::wire::Checksum;
use crate::wire::icmp::{self, ErrorMessage, IcmpRepr};
use etherparse::PacketBuilder;

const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 9));
const PEER6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 9));

fn stack() -> Stack {
    Stack::new(
        StackConfig::default(),
        Secret::from_bytes(TEST_SECRET),
        &[IP_A, IP6_A],
    )
}

fn sa(ip: IpAddr, port: u16) -> SocketAddr {
    SocketAddr::new(ip, port)
}

fn datagram(src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Vec<u8> {
    let builder = match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => PacketBuilder::ipv4(s.octets(), d.octets(), 64),
        (IpAddr::V6(s), IpAddr::V6(d)) => PacketBuilder::ipv6(s.octets(), d.octets(), 64),
        _ => unreachable!(),
    }
    .udp(src.port(), dst.port());
    let mut out = Vec::new();
    builder.write(&mut out, payload).unwrap();
    out
}

fn drain_at(s: &mut Stack, now: Instant) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 2048];
    while let Some(n) = s.poll_transmit(now, &mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

/// The ICMP error in `packet`: its source, message and quote.
fn read_error(packet: &[u8]) -> (IpAddr, ErrorMessage, Vec<u8>) {
    let (ip, repr) = icmp::parse_ip_icmp(packet, Checksum::Verify).unwrap();
    let IcmpRepr::Error { message, quote } = repr else {
        panic!("not an ICMP error: {repr:?}")
    };
    (ip.src_addr(), message, quote.to_vec())
}

/// An ICMP error `message` from `from` about `offending` (a packet the stack sent).
fn error_about(from: IpAddr, message: ErrorMessage, offending: &[u8]) -> Vec<u8> {
    // Built as the peer would: from its address, back to the offending packet's source.
    let mut buf = vec![0u8; 1500];
    let n = icmp::emit_ip_icmp_error(from, 64, &message, offending, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

#[test]
fn rfc1122_4_1_3_1_a_datagram_for_a_closed_port_draws_port_unreachable() {
    let mut s = stack();
    for (src, dst, code) in [
        (sa(PEER, 4000), sa(IP_A, 9999), icmp::V4_UNREACH_PORT),
        (sa(PEER6, 4000), sa(IP6_A, 9999), icmp::V6_UNREACH_PORT),
    ] {
        let d = datagram(src, dst, b"anyone?");
        s.handle_packet(Instant::ZERO, &d);
        let out = drain_at(&mut s, Instant::ZERO);
        assert_eq!(out.len(), 1);
        let (from, message, quote) = read_error(&out[0]);
        assert_eq!(
            from,
            dst.ip(),
            "sent from the address the datagram was aimed at"
        );
        assert_eq!(
            message,
            ErrorMessage::DstUnreachable {
                code,
                next_hop_mtu: 0
            }
        );
        assert_eq!(quote, d, "the whole small datagram is quoted");
    }
    let c = s.counters();
    assert_eq!(
        (c.udp_no_ports, c.icmp_out_errors, c.icmp_out_dest_unreachs),
        (2, 2, 2)
    );
}

#[test]
fn rfc4443_2_4_f_errors_are_rate_limited_by_a_token_bucket() {
    let mut s = stack();
    for i in 0..200u16 {
        s.handle_packet(
            Instant::ZERO,
            &datagram(sa(PEER, 1000 + i), sa(IP_A, 9999), b"x"),
        );
    }
    let first = drain_at(&mut s, Instant::ZERO).len();
    assert_eq!(first, crate::stack::ERROR_BURST as usize);
    assert_eq!(s.counters().icmp_out_rate_limited, 200 - first as u64);
    // 10 ms later, 10 more tokens (1,000 a second).
    let later = Instant::ZERO + Duration::from_millis(10);
    for i in 0..50u16 {
        s.handle_packet(later, &datagram(sa(PEER, 2000 + i), sa(IP_A, 9999), b"x"));
    }
    assert_eq!(drain_at(&mut s, later).len(), 10);
}

#[test]
fn rfc1122_3_2_2_no_error_about_a_datagram_to_a_broadcast_address() {
    let mut s = stack();
    let bcast = IpAddr::V4(Ipv4Addr::BROADCAST);
    s.handle_packet(
        Instant::ZERO,
        &datagram(sa(PEER, 68), sa(bcast, 67), b"dhcp?"),
    );
    assert!(drain_at(&mut s, Instant::ZERO).is_empty());
}

#[test]
fn rfc792_a_datagram_whose_fragments_never_all_come_draws_time_exceeded() {
    let mut s = stack();
    let _id = s.udp_bind(sa(IP_A, 9)).unwrap();
    let data = vec![7u8; 3000];
    let mut whole = datagram(sa(PEER, 1), sa(IP_A, 9), &data);
    {
        let mut p = crate::wire::Ipv4Packet::new_unchecked(&mut whole[..]);
        p.set_ident(77);
        p.set_flags_frag(false, false, 0);
        p.fill_checksum();
    }
    let mut frags = crate::frag::fragment_ipv4(&whole, 1500).unwrap();
    let mut first = vec![0u8; 1500];
    let n = frags.write_next(&mut first).unwrap().unwrap();
    first.truncate(n);
    s.handle_packet(Instant::ZERO, &first);
    let deadline = s.poll_timeout().expect("the reassembly deadline");
    assert_eq!(deadline, Instant::ZERO + Duration::from_secs(30));
    s.handle_timeout(deadline);
    let out = drain_at(&mut s, deadline);
    assert_eq!(out.len(), 1);
    let (from, message, quote) = read_error(&out[0]);
    assert_eq!(from, IP_A);
    assert_eq!(
        message,
        ErrorMessage::TimeExceeded {
            code: icmp::TIME_EXCEEDED_REASSEMBLY
        }
    );
    assert_eq!(&quote[..28], &first[..28], "the first fragment is quoted");
    let c = s.counters();
    assert_eq!(
        (c.ip_reasm_reqds, c.ip_reasm_timeout, c.icmp_out_time_excds),
        (1, 1, 1)
    );
}

#[test]
fn a_connected_udp_socket_hears_port_unreachable_as_connection_refused() {
    let mut s = stack();
    let id = s.udp_bind(sa(IP_A, 0)).unwrap();
    s.udp_connect(id, sa(PEER, 53)).unwrap();
    s.udp_send(Instant::ZERO, id, b"query").unwrap();
    let sent = drain_at(&mut s, Instant::ZERO).remove(0);
    let unreachable = ErrorMessage::DstUnreachable {
        code: icmp::V4_UNREACH_PORT,
        next_hop_mtu: 0,
    };
    s.handle_packet(Instant::ZERO, &error_about(PEER, unreachable, &sent));
    let mut buf = [0u8; 8];
    assert_eq!(
        s.udp_recv_from(id, &mut buf),
        Err(StackError::Udp(udp::Error::ConnectionRefused))
    );
    // Reported once; an unconnected socket hears nothing.
    assert_eq!(
        s.udp_recv_from(id, &mut buf),
        Err(StackError::Udp(udp::Error::WouldBlock))
    );
    let other = s.udp_bind(sa(IP_A, 0)).unwrap();
    s.udp_send_to(Instant::ZERO, other, b"q", sa(PEER, 53))
        .unwrap();
    let sent = drain_at(&mut s, Instant::ZERO).remove(0);
    s.handle_packet(Instant::ZERO, &error_about(PEER, unreachable, &sent));
    assert_eq!(
        s.udp_recv_from(other, &mut buf),
        Err(StackError::Udp(udp::Error::WouldBlock))
    );
}

#[test]
fn rfc5927_a_port_unreachable_about_our_syn_refuses_the_connect() {
    let mut s = stack();
    let c = s.connect(Instant::ZERO, sa(PEER, 80)).unwrap();
    let syn = drain_at(&mut s, Instant::ZERO).remove(0);
    let unreachable = ErrorMessage::DstUnreachable {
        code: icmp::V4_UNREACH_PORT,
        next_hop_mtu: 0,
    };
    // A forged error quoting another sequence number is ignored.
    let mut forged = syn.clone();
    forged[24] ^= 0x80; // the sequence number's first byte
    s.handle_packet(Instant::ZERO, &error_about(PEER, unreachable, &forged));
    assert_eq!(s.state(c), State::SynSent);
    assert_eq!(s.counters().icmp_errors_ignored, 1);
    s.handle_packet(Instant::ZERO, &error_about(PEER, unreachable, &syn));
    assert_eq!(s.state(c), State::Closed);
    assert_eq!(s.error(c), Some(tcp::Error::Refused));
}

#[test]
fn rfc1191_fragmentation_needed_shrinks_the_connections_segments() {
    let mut net = pair(5, tcp::Config::default(), LinkConfig::default());
    let lid = net.host_mut(B).listen(sa(IP_B, 80), 4).unwrap();
    let now = net.now();
    let c = net.host_mut(A).connect(now, sa(IP_B, 80)).unwrap();
    let t = net.now() + Duration::from_millis(100);
    net.run_until(t, |_| false);
    let _server = net.host_mut(B).accept(lid).unwrap();
    // A segment A would send, as a router in the middle saw it.
    let now = net.now();
    net.host_mut(A).send(now, c, &[1u8; 4000]).unwrap();
    let mut buf = vec![0u8; 65_536];
    let n = net.host_mut(A).poll_transmit(now, &mut buf).unwrap();
    let segment = buf[..n].to_vec();
    let mss = |net: &Network<Stack>| net.host(A).connection(c).unwrap().tcb().send_mss;
    assert_eq!(mss(&net), 1460);
    let too_big = ErrorMessage::DstUnreachable {
        code: icmp::V4_UNREACH_FRAG_NEEDED,
        next_hop_mtu: 1280,
    };
    let router = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 254));
    net.host_mut(A)
        .handle_packet(now, &error_about(router, too_big, &segment));
    assert_eq!(mss(&net), 1240);
    assert_eq!(net.host(A).counters().icmp_errors_believed, 1);
    // The oldest segment goes again at once, cut to the new size.
    let n = net.host_mut(A).poll_transmit(now, &mut buf).unwrap();
    let (_, tcp) = crate::wire::parse_ip_tcp(&buf[..n], Checksum::Verify).unwrap();
    let options = 1460 - 1448; // timestamps
    assert_eq!(tcp.payload.len(), 1240 - options);
}

#[test]
fn two_stacks_a_udp_client_of_a_closed_port_learns_it_is_refused() {
    let mut net = pair(9, tcp::Config::default(), LinkConfig::default());
    let id = net.host_mut(A).udp_bind(sa(IP_A, 0)).unwrap();
    net.host_mut(A).udp_connect(id, sa(IP_B, 4444)).unwrap();
    let now = net.now();
    net.host_mut(A).udp_send(now, id, b"hello?").unwrap();
    let t = net.now() + Duration::from_millis(100);
    net.run_until(t, |_| false);
    let mut buf = [0u8; 16];
    assert_eq!(
        net.host_mut(A).udp_recv_from(id, &mut buf),
        Err(StackError::Udp(udp::Error::ConnectionRefused))
    );
    assert_eq!(net.host(B).counters().icmp_out_errors, 1);
}

/// A path MTU black hole that comes and goes (RFC 4821): one second into a 4 MiB upload
/// over 1 Mbit/s, the path starts dropping A's packets above 1200 bytes without a word; at
/// 20 s it carries 1500 again. Black-hole detection shrinks A's segments to 1024; the search
/// after the probe interval (10 s here) finds larger ones that fit, its probes lost on the
/// way costing no timeout; the next search, after the path healed, grows them back to the
/// full size; the stream arrives intact.
#[test]
fn rfc4821_segments_shrink_into_a_black_hole_and_grow_back_once_it_is_gone() {
    let interval = Duration::from_secs(10);
    let cfg = tcp::Config {
        mtu_probe_interval: interval,
        ..tcp::Config::default()
    };
    let link = LinkConfig::default()
        .with_delay(Duration::from_millis(10))
        .with_bandwidth(1_000_000);
    let net = pair(11, cfg, link.clone());
    let narrow = Instant::ZERO + Duration::from_secs(1);
    let healed = Instant::ZERO + Duration::from_secs(20);
    // A's send MSS each time it changed, and when.
    let mut sizes: Vec<(Instant, u32)> = Vec::new();
    // A's retransmission timeouts when the search began, a probe interval after black-hole
    // detection shrank its segments, and the last count seen.
    let (mut timeouts_at_search, mut timeouts) = (None, 0);
    let x = exchange_with(
        net,
        sa(IP_B, 80),
        stream(4 << 20, 11),
        Vec::new(),
        Duration::from_secs(120),
        |net, a, _| {
            let now = net.now();
            let mtu = if now >= narrow && now < healed {
                1200
            } else {
                1500
            };
            if net.link_config(A, B).mtu != mtu {
                net.set_link(A, B, link.clone().with_mtu(mtu));
            }
            let conn = a.conn.and_then(|id| net.host(A).connection(id));
            if let Some(c) = conn {
                timeouts = c.stats().timeouts;
                if sizes.last().map(|&(_, mss)| mss) != Some(c.tcb().send_mss) {
                    sizes.push((now, c.tcb().send_mss));
                }
                if let Some(&(shrunk, _)) = sizes.get(1)
                    && now >= shrunk + interval
                    && timeouts_at_search.is_none()
                {
                    timeouts_at_search = Some(timeouts);
                }
            }
        },
    );
    assert_clean(&x, "black hole from 1 s to 20 s");
    let mss: Vec<u32> = sizes.iter().map(|&(_, mss)| mss).collect();
    assert_eq!(mss[..2], [1460, 1024], "{sizes:?}");
    // Whatever the search adopted inside the black hole fits through it (MSS + 40 bytes of
    // IPv4 and TCP headers), and it did find more than 1024 there.
    let inside: Vec<u32> = sizes[2..]
        .iter()
        .filter(|&&(t, _)| t < healed)
        .map(|&(_, mss)| mss)
        .collect();
    assert!(!inside.is_empty(), "{sizes:?}");
    assert!(
        inside.iter().all(|&mss| mss > 1024 && mss + 40 <= 1200),
        "{sizes:?}"
    );
    assert_eq!(mss.last(), Some(&1460), "{sizes:?}");
    let c = x.net.host(A).counters();
    assert!(c.mtup_fail >= 1 && c.mtup_success >= 2, "{c}");
    // The probes lost in the black hole were resent as SACK found them, none by a timeout.
    assert_eq!(Some(timeouts), timeouts_at_search, "{c}");
}
