//! Repr → emit → parse round trips, checked against etherparse.

use super::support::*;
use crate::wire::checksum;
use crate::wire::oracle::check_with_etherparse;
use crate::wire::seq::SeqNum;
use crate::wire::{
    Checksum, IpRepr, Ipv4Packet, TcpFlags, TcpPacket, TcpRepr, WireError, emit_ip_tcp, ip_tcp_len,
    parse_ip_tcp,
};
use proptest::prelude::*;
use std::net::IpAddr;

fn assert_round_trip(ip: &IpRepr, tcp: &TcpRepr<'_>) {
    let bytes = emit(ip, tcp);
    let (ip_back, tcp_back) = parse_ip_tcp(&bytes, Checksum::Verify).unwrap();
    assert_eq!(ip_back, ip.with_payload(6, tcp.buffer_len()).unwrap());
    assert_eq!(tcp_back, expected_after_emit(tcp));
    check_with_etherparse(&bytes);
}

#[test]
fn syn_with_linux_options_round_trips_over_ipv4_and_ipv6() {
    for ip in [ip_v4(), ip_v6()] {
        assert_round_trip(&ip, &syn_template(&[]));
    }
}

#[test]
fn ipv4_syn_has_expected_header_bytes() {
    let bytes = emit(&ip_v4(), &syn_template(&[]));
    // 20 IP + 20 TCP + 20 options (MSS 4, SACK-perm+TS 12, NOP+WS 4).
    assert_eq!(bytes.len(), 60);
    assert_eq!(&bytes[..4], &[0x45, 0x00, 0x00, 60]);
    assert_eq!(
        &bytes[6..10],
        &[0x40, 0x00, 64, 6],
        "DF set, no fragment, TTL, protocol"
    );
    assert_eq!(bytes[32], 10 << 4, "data offset 10 words");
    assert_eq!(bytes[33], TcpFlags::SYN.bits());
    assert_eq!(
        checksum::sum(&bytes[..20]),
        0xffff,
        "IPv4 header sums to negative zero"
    );
}

#[test]
fn ack_field_is_zero_without_ack_flag_but_parse_keeps_what_is_there() {
    let mut tcp = syn_template(&[]);
    tcp.ack = SeqNum::new(0xdead_beef);
    let mut bytes = emit(&ip_v4(), &tcp);
    assert_eq!(&bytes[28..32], &[0, 0, 0, 0]);
    // Put a non-zero ack on the wire without ACK and fix the checksum.
    bytes[28..32].copy_from_slice(&7u32.to_be_bytes());
    TcpPacket::new_unchecked(&mut bytes[20..]).fill_checksum(V4_SRC.into(), V4_DST.into());
    let (_, parsed) = parse_ip_tcp(&bytes, Checksum::Verify).unwrap();
    assert_eq!(parsed.ack, SeqNum::new(7));
    assert!(!parsed.flags.ack());
}

#[test]
fn trailing_link_padding_beyond_ip_length_is_ignored() {
    let payload = b"hello";
    let mut tcp = syn_template(payload);
    tcp.flags = TcpFlags::ACK | TcpFlags::PSH;
    for ip in [ip_v4(), ip_v6()] {
        let mut bytes = emit(&ip, &tcp);
        bytes.extend_from_slice(&[0xee; 13]);
        let (_, parsed) = parse_ip_tcp(&bytes, Checksum::Verify).unwrap();
        assert_eq!(parsed.payload, payload);
    }
}

#[test]
fn ipv4_options_are_skipped_via_ihl() {
    let tcp = syn_template(b"data");
    let plain = emit(&ip_v4(), &tcp);
    let mut bytes = plain[..20].to_vec();
    bytes.extend_from_slice(&[1, 1, 1, 0]); // NOP NOP NOP EOL
    bytes.extend_from_slice(&plain[20..]);
    {
        let mut p = Ipv4Packet::new_unchecked(&mut bytes[..]);
        p.set_version_ihl(4, 6);
        p.set_total_len(u16::try_from(plain.len() + 4).unwrap());
        p.fill_checksum();
    }
    let (ip, parsed) = parse_ip_tcp(&bytes, Checksum::Verify).unwrap();
    assert_eq!(parsed, expected_after_emit(&tcp));
    assert_eq!(ip.payload_len(), tcp.buffer_len());
    check_with_etherparse(&bytes);
}

#[test]
fn ipv6_hop_by_hop_and_destination_options_are_walked() {
    let tcp = syn_template(b"payload");
    let plain = emit(&ip_v6(), &tcp);
    let mut bytes = plain[..40].to_vec();
    bytes[6] = 0; // hop-by-hop
    // Hop-by-hop: next = 60 (dest opts), len 0 (8 bytes), PadN of 4 + Pad1 x2.
    bytes.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]);
    // Destination options: next = 6 (TCP), len 1 (16 bytes), PadN 12 + padding.
    bytes.extend_from_slice(&[6, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    bytes.extend_from_slice(&plain[40..]);
    let payload_len = u16::try_from(bytes.len() - 40).unwrap();
    bytes[4..6].copy_from_slice(&payload_len.to_be_bytes());
    let (ip, parsed) = parse_ip_tcp(&bytes, Checksum::Verify).unwrap();
    assert_eq!(parsed, expected_after_emit(&tcp));
    assert_eq!(ip.protocol(), 6);
    assert_eq!(
        ip.payload_len(),
        tcp.buffer_len(),
        "upper-layer length, extension headers consumed"
    );
    check_with_etherparse(&bytes);
}

#[test]
fn emit_into_too_small_buffer_is_buffer_too_small() {
    let tcp = syn_template(b"abc");
    let ip = ip_v4();
    let mut buf = vec![0u8; ip_tcp_len(&ip, &tcp) - 1];
    assert_eq!(
        emit_ip_tcp(&ip, &tcp, &mut buf),
        Err(WireError::BufferTooSmall)
    );
    let mut larger = vec![0u8; 1600];
    assert_eq!(
        emit_ip_tcp(&ip, &tcp, &mut larger),
        Ok(ip_tcp_len(&ip, &tcp))
    );
}

#[test]
fn emit_of_oversized_ipv4_packet_is_packet_too_long() {
    let payload = vec![0u8; 65535];
    let tcp = syn_template(&payload);
    let mut buf = vec![0u8; 70000];
    assert_eq!(
        emit_ip_tcp(&ip_v4(), &tcp, &mut buf),
        Err(WireError::PacketTooLong)
    );
}

#[test]
fn mixed_address_families_are_rejected() {
    let v4: IpAddr = V4_SRC.into();
    let v6: IpAddr = V6_DST.into();
    assert_eq!(
        IpRepr::new(v4, v6, 6, 0, 64),
        Err(WireError::AddressFamilyMismatch)
    );
    let bytes = emit(&ip_v4(), &syn_template(&[]));
    let packet = TcpPacket::new_checked(&bytes[20..]).unwrap();
    assert_eq!(
        TcpRepr::parse(&packet, v4, v6, Checksum::Verify),
        Err(WireError::AddressFamilyMismatch)
    );
}

#[test]
fn packet_accessors_read_every_field() {
    let mut tcp = syn_template(b"xyz");
    tcp.flags = TcpFlags::ACK | TcpFlags::URG | TcpFlags::CWR;
    tcp.ack = SeqNum::new(0x0102_0304);
    tcp.urgent = 3;
    let bytes = emit(&ip_v4(), &tcp);
    let ip = Ipv4Packet::new_checked(&bytes[..]).unwrap();
    assert_eq!(
        (ip.version(), ip.header_len(), ip.ttl(), ip.protocol()),
        (4, 20, 64, 6)
    );
    assert!(ip.dont_frag() && !ip.more_frags() && ip.frag_offset() == 0);
    assert_eq!((ip.src_addr(), ip.dst_addr()), (V4_SRC, V4_DST));
    assert!(ip.verify_checksum());
    let seg = TcpPacket::new_checked(ip.payload()).unwrap();
    assert_eq!((seg.src_port(), seg.dst_port()), (40000, 80));
    assert_eq!(
        (seg.seq_number(), seg.ack_number()),
        (SeqNum::new(1000), SeqNum::new(0x0102_0304))
    );
    assert_eq!((seg.data_offset(), seg.header_len()), (10, 40));
    assert_eq!(seg.flags(), tcp.flags);
    assert_eq!((seg.window(), seg.urgent()), (64240, 3));
    assert_eq!(seg.options().len(), 20);
    assert_eq!(seg.payload(), b"xyz");
    assert!(seg.verify_checksum(V4_SRC.into(), V4_DST.into()));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_repr_round_trips_through_emit_and_parse(ip in arb_ip(), fields in arb_fields(), payload in arb_payload()) {
        let tcp = fields.repr(&payload);
        let bytes = emit(&ip, &tcp);
        let (ip_back, tcp_back) = parse_ip_tcp(&bytes, Checksum::Verify).unwrap();
        prop_assert_eq!(ip_back, ip.with_payload(6, tcp.buffer_len()).unwrap());
        prop_assert_eq!(tcp_back, expected_after_emit(&tcp));
        prop_assert_eq!(bytes.len(), ip.header_len() + tcp.buffer_len());
        prop_assert!(tcp.header_len().is_multiple_of(4) && tcp.header_len() <= 60);
    }

    /// Emit sums the payload while copying it; the field must equal the checksum computed
    /// from scratch over the finished segment.
    #[test]
    fn emitted_checksum_equals_the_checksum_recomputed_over_the_segment(ip in arb_ip(), fields in arb_fields(), payload in arb_payload()) {
        let tcp = fields.repr(&payload);
        let bytes = emit(&ip, &tcp);
        let mut seg = bytes[ip.header_len()..].to_vec();
        let emitted = TcpPacket::new_unchecked(&seg[..]).checksum();
        TcpPacket::new_unchecked(&mut seg[..]).fill_checksum(ip.src_addr(), ip.dst_addr());
        prop_assert_eq!(emitted, TcpPacket::new_unchecked(&seg[..]).checksum());
    }

    #[test]
    fn etherparse_agrees_with_every_emitted_packet(ip in arb_ip(), fields in arb_fields(), payload in arb_payload()) {
        let tcp = fields.repr(&payload);
        check_with_etherparse(&emit(&ip, &tcp));
    }
}

#[test]
fn emit_writes_exactly_ip_tcp_len_bytes_and_nothing_beyond() {
    let tcp = syn_template(b"abcdefg");
    for ip in [ip_v4(), ip_v6()] {
        let mut buf = vec![0xa5u8; 400];
        let n = emit_ip_tcp(&ip, &tcp, &mut buf).unwrap();
        assert_eq!(n, ip_tcp_len(&ip, &tcp));
        assert!(
            buf[n..].iter().all(|&b| b == 0xa5),
            "bytes past the packet untouched"
        );
        check_with_etherparse(&buf[..n]);
    }
}

#[test]
#[should_panic(expected = "synack rejects the packet: checksum mismatch")]
fn oracle_panics_on_a_packet_with_a_bad_tcp_checksum() {
    let mut bytes = emit(&ip_v4(), &syn_template(b"x"));
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    check_with_etherparse(&bytes);
}

#[test]
#[should_panic(expected = "etherparse rejects the packet")]
fn oracle_panics_on_a_packet_etherparse_cannot_slice() {
    check_with_etherparse(&[0x45, 0, 0]);
}
