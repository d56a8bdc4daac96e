//! The stack answers ICMP and ICMPv6 echo requests, bounds its reply queue, and ignores
//! protocols it does not speak.

use super::*;
use crate::stack::{Secret, StackConfig};
use crate::wire::icmp::{Echo, IcmpRepr, emit_ip_icmp, parse_ip_icmp};
use crate::wire::{Checksum, IpRepr, Ipv4Packet};

const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 9));
const PEER6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 9));

fn stack() -> Stack {
    Stack::new(
        StackConfig::default(),
        Secret::from_bytes(TEST_SECRET),
        &[IP_A, IP6_A],
    )
}

fn request(src: IpAddr, dst: IpAddr, seq_no: u16, data: &[u8]) -> Vec<u8> {
    let repr = IcmpRepr::EchoRequest(Echo {
        ident: 0x4242,
        seq_no,
        data,
    });
    let mut buf = vec![0u8; 1600];
    let n = emit_ip_icmp(src, dst, 64, &repr, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

fn drain(s: &mut Stack) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 2048];
    while let Some(n) = s.poll_transmit(Instant::ZERO, &mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

#[test]
fn echo_request_gets_a_reply_with_the_same_fields_for_both_families() {
    for (peer, ours) in [(PEER, IP_A), (PEER6, IP6_A)] {
        let mut s = stack();
        s.handle_packet(Instant::ZERO, &request(peer, ours, 5, b"ping payload"));
        let out = drain(&mut s);
        assert_eq!(out.len(), 1);
        let (ip, repr) = parse_ip_icmp(&out[0], Checksum::Verify).unwrap();
        assert_eq!((ip.src_addr(), ip.dst_addr()), (ours, peer));
        assert_eq!(ip.hop_limit(), 64);
        assert_eq!(
            repr,
            IcmpRepr::EchoReply(Echo {
                ident: 0x4242,
                seq_no: 5,
                data: b"ping payload"
            })
        );
        let c = s.counters();
        assert_eq!((c.icmp_in_echos, c.icmp_out_echo_reps), (1, 1));
        assert_eq!((c.in_errs, c.in_segs), (0, 0));
    }
}

#[test]
fn requests_for_other_addresses_are_not_answered() {
    let mut s = stack();
    s.handle_packet(Instant::ZERO, &request(PEER, IP_B, 1, b""));
    assert!(drain(&mut s).is_empty());
    assert_eq!(s.counters().in_wrong_addr, 1);
}

#[test]
fn replies_and_other_icmp_messages_are_counted_not_answered() {
    let mut s = stack();
    let reply = IcmpRepr::EchoReply(Echo {
        ident: 1,
        seq_no: 1,
        data: &[],
    });
    let mut buf = [0u8; 64];
    let n = emit_ip_icmp(PEER, IP_A, 64, &reply, &mut buf).unwrap();
    s.handle_packet(Instant::ZERO, &buf[..n]);
    assert!(drain(&mut s).is_empty());
    assert_eq!(s.counters().icmp_in_msgs, 1);
    assert_eq!(s.counters().icmp_in_echos, 0);
}

#[test]
fn bad_icmp_checksum_is_counted_and_dropped() {
    let mut s = stack();
    let mut pkt = request(PEER, IP_A, 1, b"abcd");
    let last = pkt.len() - 1;
    pkt[last] ^= 1;
    s.handle_packet(Instant::ZERO, &pkt);
    assert!(drain(&mut s).is_empty());
    assert_eq!(s.counters().icmp_in_csum_errors, 1);
}

#[test]
fn reply_queue_is_bounded_and_overflow_is_counted() {
    let mut s = stack();
    for i in 0..100u16 {
        s.handle_packet(Instant::ZERO, &request(PEER, IP_A, i, b"flood"));
    }
    let out = drain(&mut s);
    assert_eq!(out.len(), 64);
    assert_eq!(s.counters().icmp_out_drops, 36);
    // The queue drained, so the next request is answered again.
    s.handle_packet(Instant::ZERO, &request(PEER, IP_A, 500, b""));
    assert_eq!(drain(&mut s).len(), 1);
}

#[test]
fn unknown_protocols_are_counted_apart_from_errors() {
    let mut s = stack();
    // An SCTP (132) packet with an 8-byte payload.
    let ip = IpRepr::new(PEER, IP_A, 132, 8, 64).unwrap();
    let mut pkt = vec![0u8; 28];
    ip.emit(&mut pkt).unwrap();
    assert!(Ipv4Packet::new_checked(&pkt[..]).is_ok());
    s.handle_packet(Instant::ZERO, &pkt);
    assert!(drain(&mut s).is_empty());
    let c = s.counters();
    assert_eq!((c.in_unknown_protos, c.in_errs, c.icmp_in_msgs), (1, 0, 0));
}
