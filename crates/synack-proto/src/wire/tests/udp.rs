//! UDP (RFC 768): round trips checked against etherparse, the zero-checksum rules of both
//! families, lying length fields and every truncation.

use super::support::{V4_DST, V4_SRC, V6_DST, V6_SRC};
use crate::wire::oracle::check_udp_with_etherparse;
use crate::wire::udp::{MAX_DATAGRAM_LEN, parse_udp};
use crate::wire::{
    Checksum, IpRepr, Ipv4Packet, PROTOCOL_UDP, UdpPacket, UdpRepr, WireError, emit_ip_udp,
    ip_udp_len, parse_ip_udp,
};
use etherparse::PacketBuilder;
use proptest::prelude::*;
use std::net::IpAddr;

fn ip(v6: bool) -> IpRepr {
    if v6 {
        IpRepr::new(V6_SRC.into(), V6_DST.into(), PROTOCOL_UDP, 0, 64).unwrap()
    } else {
        IpRepr::new(V4_SRC.into(), V4_DST.into(), PROTOCOL_UDP, 0, 64).unwrap()
    }
}

fn dns(payload: &[u8]) -> UdpRepr<'_> {
    UdpRepr {
        src_port: 53000,
        dst_port: 53,
        payload,
    }
}

fn emit(ip: &IpRepr, udp: &UdpRepr<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; ip_udp_len(ip, udp)];
    assert_eq!(emit_ip_udp(ip, udp, &mut buf), Ok(buf.len()));
    buf
}

fn header_len(v6: bool) -> usize {
    if v6 { 40 } else { 20 }
}

/// Sets the UDP checksum field of an emitted packet to `value` (no IPv6 extension headers).
fn set_udp_checksum(bytes: &mut [u8], v6: bool, value: u16) {
    let at = header_len(v6);
    UdpPacket::new_unchecked(&mut bytes[at..]).set_checksum(value);
}

fn etherparse_udp(v6: bool, src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if v6 {
        PacketBuilder::ipv6(V6_SRC.octets(), V6_DST.octets(), 64)
            .udp(src_port, dst_port)
            .write(&mut out, payload)
            .unwrap();
    } else {
        PacketBuilder::ipv4(V4_SRC.octets(), V4_DST.octets(), 64)
            .udp(src_port, dst_port)
            .write(&mut out, payload)
            .unwrap();
    }
    out
}

#[test]
fn rfc768_datagram_round_trips_over_ipv4_and_ipv6_and_etherparse_agrees() {
    for v6 in [false, true] {
        let udp = dns(b"\x12\x34\x01\x00 query");
        let bytes = emit(&ip(v6), &udp);
        let (ip_back, udp_back) = parse_ip_udp(&bytes, Checksum::Verify).unwrap();
        assert_eq!(udp_back, udp);
        assert_eq!(ip_back, ip(v6).with_payload(17, udp.buffer_len()).unwrap());
        check_udp_with_etherparse(&bytes);
    }
}

#[test]
fn rfc768_header_is_ports_length_checksum() {
    let bytes = emit(&ip(false), &dns(b"abc"));
    assert_eq!(bytes.len(), 20 + 8 + 3);
    assert_eq!(bytes[9], 17, "IPv4 protocol UDP");
    assert_eq!(&bytes[20..26], &[0xcf, 0x08, 0, 53, 0, 11]);
    let p = UdpPacket::new_checked(&bytes[20..]).unwrap();
    assert_eq!((p.src_port(), p.dst_port(), p.len()), (53000, 53, 11));
    assert_eq!(p.payload(), b"abc");
    assert!(p.verify_checksum(V4_SRC.into(), V4_DST.into()));
}

#[test]
fn rfc768_zero_checksum_on_ipv4_means_none() {
    let mut bytes = emit(&ip(false), &dns(b"no checksum here"));
    set_udp_checksum(&mut bytes, false, 0);
    let (_, udp) = parse_ip_udp(&bytes, Checksum::Verify).unwrap();
    assert_eq!(udp, dns(b"no checksum here"));
    let p = UdpPacket::new_checked(&bytes[20..]).unwrap();
    assert!(p.verify_checksum(V4_SRC.into(), V4_DST.into()));
    check_udp_with_etherparse(&bytes);
}

#[test]
fn rfc8200_8_1_zero_udp_checksum_on_ipv6_is_rejected() {
    let mut bytes = emit(&ip(true), &dns(b"must be checksummed"));
    set_udp_checksum(&mut bytes, true, 0);
    for mode in [Checksum::Verify, Checksum::Ignore] {
        assert_eq!(
            parse_ip_udp(&bytes, mode),
            Err(WireError::ZeroUdpChecksum),
            "{mode:?}"
        );
    }
    let p = UdpPacket::new_checked(&bytes[40..]).unwrap();
    assert!(!p.verify_checksum(V6_SRC.into(), V6_DST.into()));
}

#[test]
fn rfc768_computed_zero_checksum_is_sent_as_ffff() {
    for v6 in [false, true] {
        // With a zero data word the checksum is c; data word c then makes the one's-complement
        // sum 0xffff, so the computed checksum is zero and must go out as 0xffff.
        let first = emit(&ip(v6), &dns(&[0, 0]));
        let at = header_len(v6);
        let c = UdpPacket::new_checked(&first[at..]).unwrap().checksum();
        let payload = c.to_be_bytes();
        let bytes = emit(&ip(v6), &dns(&payload));
        let p = UdpPacket::new_checked(&bytes[at..]).unwrap();
        assert_eq!(p.checksum(), 0xffff, "v6={v6}");
        assert!(p.verify_checksum(ip(v6).src_addr(), ip(v6).dst_addr()));
        assert_eq!(
            parse_ip_udp(&bytes, Checksum::Verify).unwrap().1.payload,
            payload
        );
        check_udp_with_etherparse(&bytes);
    }
}

#[test]
fn rfc768_bytes_beyond_the_udp_length_are_ignored() {
    for v6 in [false, true] {
        let udp = dns(b"payload");
        let mut bytes = emit(&ip(v6), &udp);
        // Grow the IP payload by 5 bytes the UDP length does not cover (IP-level padding).
        bytes.extend_from_slice(&[0xee; 5]);
        if v6 {
            let len = u16::try_from(bytes.len() - 40).unwrap();
            bytes[4..6].copy_from_slice(&len.to_be_bytes());
        } else {
            let total = u16::try_from(bytes.len()).unwrap();
            let mut p = Ipv4Packet::new_unchecked(&mut bytes[..]);
            p.set_total_len(total);
            p.fill_checksum();
        }
        let (ip_back, udp_back) = parse_ip_udp(&bytes, Checksum::Verify).unwrap();
        assert_eq!(udp_back, udp, "checksum and payload per the UDP length");
        assert_eq!(ip_back.payload_len(), udp.buffer_len() + 5);
        // And link padding beyond the IP length too.
        bytes.extend_from_slice(&[0xdd; 7]);
        assert_eq!(parse_ip_udp(&bytes, Checksum::Verify).unwrap().1, udp);
    }
}

#[test]
fn rfc768_length_field_below_8_is_bad_udp_length() {
    for v6 in [false, true] {
        for lie in 0..8u16 {
            let mut bytes = emit(&ip(v6), &dns(b"abcdefgh"));
            let at = header_len(v6);
            UdpPacket::new_unchecked(&mut bytes[at..]).set_len(lie);
            for mode in [Checksum::Verify, Checksum::Ignore] {
                assert_eq!(
                    parse_ip_udp(&bytes, mode),
                    Err(WireError::BadUdpLength),
                    "v6={v6} len={lie}"
                );
            }
        }
    }
}

#[test]
fn rfc768_length_field_past_the_ip_payload_is_bad_udp_length() {
    for v6 in [false, true] {
        let mut bytes = emit(&ip(v6), &dns(b"abcdefgh"));
        let at = header_len(v6);
        for lie in [17u16, 100, u16::MAX] {
            UdpPacket::new_unchecked(&mut bytes[at..]).set_len(lie);
            assert_eq!(
                parse_ip_udp(&bytes, Checksum::Ignore),
                Err(WireError::BadUdpLength),
                "v6={v6} len={lie}"
            );
        }
        // Link padding after the IP packet does not make a longer UDP length acceptable.
        UdpPacket::new_unchecked(&mut bytes[at..]).set_len(17);
        bytes.extend_from_slice(&[0; 4]);
        assert_eq!(
            parse_ip_udp(&bytes, Checksum::Ignore),
            Err(WireError::BadUdpLength)
        );
    }
}

#[test]
fn a_shorter_length_field_that_was_checksummed_parses_to_the_shorter_datagram() {
    // A sender whose UDP length is below the IP payload: the checksum covers the UDP length.
    let mut bytes = emit(&ip(false), &dns(b"abcdefgh"));
    let mut p = UdpPacket::new_unchecked(&mut bytes[20..]);
    p.set_len(8 + 3);
    p.fill_checksum(V4_SRC.into(), V4_DST.into());
    let (_, udp) = parse_ip_udp(&bytes, Checksum::Verify).unwrap();
    assert_eq!(udp.payload, b"abc");
}

#[test]
fn every_truncation_of_a_udp_packet_is_a_typed_error() {
    for v6 in [false, true] {
        let bytes = emit(&ip(v6), &dns(b"0123456789"));
        for len in 0..bytes.len() {
            let got = parse_ip_udp(&bytes[..len], Checksum::Verify);
            // The IP layer notices first: the header is cut, or its length field now lies.
            let want = if len < header_len(v6) {
                WireError::Truncated
            } else {
                WireError::BadTotalLength
            };
            assert_eq!(got, Err(want), "v6={v6} len={len}");
        }
        let datagram = &bytes[header_len(v6)..];
        for len in 0..datagram.len() {
            let want = if len < 8 {
                WireError::Truncated
            } else {
                WireError::BadUdpLength
            };
            assert_eq!(
                UdpPacket::new_checked(&datagram[..len]),
                Err(want),
                "v6={v6} len={len}"
            );
        }
    }
}

#[test]
fn ip_length_cutting_into_the_udp_header_is_truncated() {
    let mut bytes = emit(&ip(false), &dns(b"x"));
    bytes[2..4].copy_from_slice(&27u16.to_be_bytes());
    Ipv4Packet::new_unchecked(&mut bytes[..]).fill_checksum();
    assert_eq!(
        parse_ip_udp(&bytes, Checksum::Ignore),
        Err(WireError::Truncated)
    );
}

#[test]
fn bad_udp_checksum_is_rejected_unless_ignored() {
    for v6 in [false, true] {
        let mut bytes = emit(&ip(v6), &dns(b"data"));
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        assert_eq!(
            parse_ip_udp(&bytes, Checksum::Verify),
            Err(WireError::BadChecksum)
        );
        assert!(parse_ip_udp(&bytes, Checksum::Ignore).is_ok());
    }
}

#[test]
fn udp_checksum_covers_the_pseudo_header() {
    for v6 in [false, true] {
        let bytes = emit(&ip(v6), &dns(b"data"));
        let p = UdpPacket::new_checked(&bytes[header_len(v6)..]).unwrap();
        let (src, dst) = (ip(v6).src_addr(), ip(v6).dst_addr());
        assert!(p.verify_checksum(src, dst));
        let elsewhere: IpAddr = if v6 {
            "2001:db8::99".parse().unwrap()
        } else {
            "192.0.2.99".parse().unwrap()
        };
        assert!(!p.verify_checksum(src, elsewhere));
        let other_family: IpAddr = if v6 { V4_DST.into() } else { V6_DST.into() };
        assert!(!p.verify_checksum(src, other_family));
    }
}

#[test]
fn non_udp_protocols_and_mixed_families_are_typed_errors() {
    let tcp = super::support::emit(&super::support::ip_v4(), &super::support::syn_template(&[]));
    assert_eq!(
        parse_ip_udp(&tcp, Checksum::Verify),
        Err(WireError::UnsupportedProtocol(6))
    );
    let bytes = emit(&ip(false), &dns(b"x"));
    let p = UdpPacket::new_checked(&bytes[20..]).unwrap();
    assert_eq!(
        UdpRepr::parse(&p, V4_SRC.into(), V6_DST.into(), Checksum::Ignore),
        Err(WireError::AddressFamilyMismatch)
    );
    let mut out = [0u8; 16];
    assert_eq!(
        dns(b"x").emit(
            &mut UdpPacket::new_unchecked(&mut out[..]),
            V4_SRC.into(),
            V6_DST.into()
        ),
        Err(WireError::AddressFamilyMismatch)
    );
    let v4 = ip(false);
    assert_eq!(
        parse_udp(&v4, &[0u8; 7], Checksum::Ignore),
        Err(WireError::Truncated)
    );
}

#[test]
fn emit_checks_the_buffer_and_the_length_field() {
    let udp = dns(b"abc");
    for v6 in [false, true] {
        let mut buf = vec![0xa5u8; 200];
        let n = emit_ip_udp(&ip(v6), &udp, &mut buf).unwrap();
        assert_eq!(n, ip_udp_len(&ip(v6), &udp));
        assert!(
            buf[n..].iter().all(|&b| b == 0xa5),
            "bytes past the packet untouched"
        );
        assert_eq!(
            emit_ip_udp(&ip(v6), &udp, &mut buf[..n - 1]),
            Err(WireError::BufferTooSmall)
        );
    }
    // The UDP length field is 16 bits, in both families.
    let big = vec![0u8; MAX_DATAGRAM_LEN - 8 + 1];
    let mut buf = vec![0u8; 70000];
    for v6 in [false, true] {
        assert_eq!(
            emit_ip_udp(&ip(v6), &dns(&big), &mut buf),
            Err(WireError::PacketTooLong)
        );
    }
    let mut out = vec![0u8; 70000];
    assert_eq!(
        dns(&big).emit(
            &mut UdpPacket::new_unchecked(&mut out[..]),
            V6_SRC.into(),
            V6_DST.into()
        ),
        Err(WireError::PacketTooLong)
    );
    // The largest datagram fits over IPv6 (payload length 65535), not over IPv4 (total 65535).
    let largest = vec![0u8; MAX_DATAGRAM_LEN - 8];
    assert_eq!(
        emit_ip_udp(&ip(true), &dns(&largest), &mut buf),
        Ok(40 + MAX_DATAGRAM_LEN)
    );
    assert_eq!(
        emit_ip_udp(&ip(false), &dns(&largest), &mut buf),
        Err(WireError::PacketTooLong)
    );
}

#[test]
fn setters_and_accessors_agree() {
    let mut buf = [0u8; 12];
    let mut p = UdpPacket::new_unchecked(&mut buf[..]);
    p.set_src_port(1);
    p.set_dst_port(2);
    p.set_len(12);
    p.payload_mut().copy_from_slice(b"wxyz");
    p.fill_checksum(V4_SRC.into(), V4_DST.into());
    let p = UdpPacket::new_checked(&buf[..]).unwrap();
    assert_eq!((p.src_port(), p.dst_port(), p.len()), (1, 2, 12));
    assert!(!p.is_empty());
    assert_eq!(p.payload_slice(), b"wxyz");
    assert!(p.verify_checksum(V4_SRC.into(), V4_DST.into()));
    // On a view whose length field lies, fill writes 0 and nothing verifies.
    let mut lying = [0u8; 12];
    let mut p = UdpPacket::new_unchecked(&mut lying[..]);
    p.set_len(13);
    p.fill_checksum(V6_SRC.into(), V6_DST.into());
    assert_eq!(p.checksum(), 0);
    assert!(p.payload().is_empty());
    assert!(!p.verify_checksum(V6_SRC.into(), V6_DST.into()));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_udp_repr_round_trips_and_etherparse_agrees(
        v6 in any::<bool>(),
        src_port in any::<u16>(),
        dst_port in any::<u16>(),
        ttl in any::<u8>(),
        payload in proptest::collection::vec(any::<u8>(), 0..2000),
    ) {
        let udp = UdpRepr { src_port, dst_port, payload: &payload };
        let ip = IpRepr::new(ip(v6).src_addr(), ip(v6).dst_addr(), 17, 0, ttl).unwrap();
        let bytes = emit(&ip, &udp);
        let (ip_back, udp_back) = parse_ip_udp(&bytes, Checksum::Verify).unwrap();
        prop_assert_eq!(udp_back, udp);
        prop_assert_eq!(ip_back, ip.with_payload(17, udp.buffer_len()).unwrap());
        prop_assert_ne!(UdpPacket::new_checked(&bytes[header_len(v6)..]).unwrap().checksum(), 0);
        check_udp_with_etherparse(&bytes);
    }

    #[test]
    fn etherparse_datagrams_parse_identically(
        v6 in any::<bool>(),
        src_port in any::<u16>(),
        dst_port in any::<u16>(),
        payload in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let bytes = etherparse_udp(v6, src_port, dst_port, &payload);
        let (_, udp) = parse_ip_udp(&bytes, Checksum::Verify).unwrap();
        prop_assert_eq!(udp, UdpRepr { src_port, dst_port, payload: &payload });
    }

    #[test]
    fn mutated_udp_packets_are_errors_or_parse_with_a_consistent_length(
        v6 in any::<bool>(),
        payload in proptest::collection::vec(any::<u8>(), 0..200),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut bytes = emit(&ip(v6), &dns(&payload));
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        if let Ok((ip, udp)) = parse_ip_udp(&bytes, Checksum::Ignore) {
            prop_assert!(udp.buffer_len() <= ip.payload_len());
        }
        if let Ok((_, verified)) = parse_ip_udp(&bytes, Checksum::Verify) {
            prop_assert_eq!(Ok(verified), parse_ip_udp(&bytes, Checksum::Ignore).map(|r| r.1));
        }
    }
}
