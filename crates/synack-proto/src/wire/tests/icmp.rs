//! ICMP echo: round trips, checksums cross-checked against etherparse in both directions,
//! and malformed messages.

use super::support::{V4_DST, V4_SRC, V6_DST, V6_SRC};
use crate::wire::icmp::{
    Echo, IcmpPacket, IcmpRepr, V4_ECHO_REQUEST, V6_ECHO_REQUEST, emit_ip_icmp, parse_ip_icmp,
};
use crate::wire::{Checksum, IpRepr, WireError};
use etherparse::{
    IcmpEchoHeader, Icmpv4Type, Icmpv6Type, NetSlice, PacketBuilder, SlicedPacket, TransportSlice,
};
use proptest::prelude::*;
use std::net::IpAddr;

fn emit(src: IpAddr, dst: IpAddr, icmp: &IcmpRepr<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; 40 + icmp.buffer_len()];
    let n = emit_ip_icmp(src, dst, 64, icmp, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// etherparse's view of an echo packet: (is_reply, id, seq, payload), after checking that
/// both the IP header and the ICMP checksum are valid per etherparse's own computation.
fn etherparse_echo(packet: &[u8]) -> (bool, u16, u16, Vec<u8>) {
    let sliced = SlicedPacket::from_ip(packet).expect("etherparse parses it");
    match (sliced.net, sliced.transport) {
        (Some(NetSlice::Ipv4(v4)), Some(TransportSlice::Icmpv4(icmp))) => {
            let h = v4.header().to_header();
            assert_eq!(h.header_checksum, h.calc_header_checksum(), "IPv4 checksum");
            assert_eq!(usize::from(h.total_len), packet.len());
            assert_eq!(h.protocol.0, 1);
            let want = icmp.icmp_type().calc_checksum(icmp.payload());
            assert_eq!(icmp.checksum(), want, "ICMPv4 checksum per etherparse");
            match icmp.icmp_type() {
                Icmpv4Type::EchoRequest(e) => (false, e.id, e.seq, icmp.payload().to_vec()),
                Icmpv4Type::EchoReply(e) => (true, e.id, e.seq, icmp.payload().to_vec()),
                t => panic!("not an echo: {t:?}"),
            }
        }
        (Some(NetSlice::Ipv6(v6)), Some(TransportSlice::Icmpv6(icmp))) => {
            let h = v6.header();
            assert_eq!(usize::from(h.payload_length()) + 40, packet.len());
            assert!(
                icmp.is_checksum_valid(h.source(), h.destination()),
                "ICMPv6 checksum per etherparse"
            );
            match icmp.icmp_type() {
                Icmpv6Type::EchoRequest(e) => (false, e.id, e.seq, icmp.payload().to_vec()),
                Icmpv6Type::EchoReply(e) => (true, e.id, e.seq, icmp.payload().to_vec()),
                t => panic!("not an echo: {t:?}"),
            }
        }
        (net, t) => panic!("unexpected packet: {net:?} {t:?}"),
    }
}

fn etherparse_request(v6: bool, id: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if v6 {
        PacketBuilder::ipv6(V6_SRC.octets(), V6_DST.octets(), 64)
            .icmpv6_echo_request(id, seq)
            .write(&mut out, data)
            .unwrap();
    } else {
        PacketBuilder::ipv4(V4_SRC.octets(), V4_DST.octets(), 64)
            .icmpv4_echo_request(id, seq)
            .write(&mut out, data)
            .unwrap();
    }
    out
}

fn addrs(v6: bool) -> (IpAddr, IpAddr) {
    if v6 {
        (V6_SRC.into(), V6_DST.into())
    } else {
        (V4_SRC.into(), V4_DST.into())
    }
}

#[test]
fn echo_reply_round_trips_and_etherparse_agrees_for_both_families() {
    for v6 in [false, true] {
        let (src, dst) = addrs(v6);
        let repr = IcmpRepr::EchoReply(Echo {
            ident: 0x1234,
            seq_no: 7,
            data: b"abcdefgh-ping-data",
        });
        let bytes = emit(src, dst, &repr);
        let (ip, back) = parse_ip_icmp(&bytes, Checksum::Verify).unwrap();
        assert_eq!(back, repr);
        assert_eq!((ip.src_addr(), ip.dst_addr()), (src, dst));
        let (reply, id, seq, data) = etherparse_echo(&bytes);
        assert_eq!((reply, id, seq), (true, 0x1234, 7));
        assert_eq!(data, b"abcdefgh-ping-data");
    }
}

#[test]
fn etherparse_echo_requests_parse_as_echo_requests() {
    for v6 in [false, true] {
        let bytes = etherparse_request(v6, 99, 3, b"0123456789");
        let (_, repr) = parse_ip_icmp(&bytes, Checksum::Verify).unwrap();
        assert_eq!(
            repr,
            IcmpRepr::EchoRequest(Echo {
                ident: 99,
                seq_no: 3,
                data: b"0123456789"
            })
        );
    }
}

#[test]
fn ipv4_echo_request_has_expected_header_bytes() {
    let repr = IcmpRepr::EchoRequest(Echo {
        ident: 0x0102,
        seq_no: 0x0304,
        data: &[],
    });
    let bytes = emit(V4_SRC.into(), V4_DST.into(), &repr);
    assert_eq!(bytes.len(), 28);
    assert_eq!(bytes[9], 1, "protocol ICMP");
    assert_eq!(&bytes[20..22], &[V4_ECHO_REQUEST, 0]);
    assert_eq!(&bytes[24..28], &[1, 2, 3, 4]);
    // The checksum of type 8 and the id/seq words, folded and complemented.
    let sum = 0x0800u32 + 0x0102 + 0x0304;
    assert_eq!(u16::from_be_bytes([bytes[22], bytes[23]]), !(sum as u16));
}

#[test]
fn icmpv6_checksum_covers_the_pseudo_header() {
    let repr = IcmpRepr::EchoRequest(Echo {
        ident: 1,
        seq_no: 1,
        data: b"x",
    });
    let bytes = emit(V6_SRC.into(), V6_DST.into(), &repr);
    assert_eq!(bytes[6], 58, "next header ICMPv6");
    assert_eq!(bytes[40], V6_ECHO_REQUEST);
    let icmp = IcmpPacket::new_checked(&bytes[40..]).unwrap();
    assert!(icmp.verify_checksum(V6_SRC.into(), V6_DST.into()));
    // Same message, another destination: the pseudo-header makes it fail.
    let other: IpAddr = "2001:db8::99".parse().unwrap();
    assert!(!icmp.verify_checksum(V6_SRC.into(), other));
}

#[test]
fn bad_checksum_is_rejected_unless_ignored() {
    for v6 in [false, true] {
        let mut bytes = etherparse_request(v6, 1, 2, b"data");
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        assert_eq!(
            parse_ip_icmp(&bytes, Checksum::Verify),
            Err(WireError::BadChecksum)
        );
        assert!(parse_ip_icmp(&bytes, Checksum::Ignore).is_ok());
    }
}

#[test]
fn short_messages_are_truncated() {
    let ip = IpRepr::new(V4_SRC.into(), V4_DST.into(), 1, 0, 64).unwrap();
    // Three bytes: not even type, code and checksum.
    assert_eq!(
        crate::wire::icmp::parse_icmp(&ip, &[8, 0, 0], Checksum::Ignore),
        Err(WireError::Truncated)
    );
    // An echo request without its identifier and sequence number.
    assert_eq!(
        crate::wire::icmp::parse_icmp(&ip, &[8, 0, 0xf7, 0xff], Checksum::Verify),
        Err(WireError::Truncated)
    );
}

#[test]
fn other_types_and_nonzero_codes_parse_as_other() {
    // Redirect (5/1) with a valid checksum: an error synack does not model.
    let mut msg = [5u8, 1, 0, 0, 192, 0, 2, 1];
    let mut p = IcmpPacket::new_unchecked(&mut msg[..]);
    p.fill_checksum(V4_SRC.into(), V4_DST.into());
    let ip = IpRepr::new(V4_SRC.into(), V4_DST.into(), 1, 8, 64).unwrap();
    assert_eq!(
        crate::wire::icmp::parse_icmp(&ip, &msg, Checksum::Verify),
        Ok(IcmpRepr::Other {
            msg_type: 5,
            code: 1
        })
    );
    // An echo request with code 1 is not an echo request.
    let mut msg = [8u8, 1, 0, 0, 0, 1, 0, 1];
    IcmpPacket::new_unchecked(&mut msg[..]).fill_checksum(V4_SRC.into(), V4_DST.into());
    assert_eq!(
        crate::wire::icmp::parse_icmp(&ip, &msg, Checksum::Verify),
        Ok(IcmpRepr::Other {
            msg_type: 8,
            code: 1
        })
    );
}

#[test]
fn tcp_packets_are_not_icmp_and_mixed_families_are_refused() {
    let tcp = super::support::emit(&super::support::ip_v4(), &super::support::syn_template(&[]));
    assert_eq!(
        parse_ip_icmp(&tcp, Checksum::Verify),
        Err(WireError::UnsupportedProtocol(6))
    );
    let repr = IcmpRepr::EchoReply(Echo {
        ident: 1,
        seq_no: 1,
        data: &[],
    });
    let mut buf = [0u8; 64];
    assert_eq!(
        emit_ip_icmp(V4_SRC.into(), V6_DST.into(), 64, &repr, &mut buf),
        Err(WireError::AddressFamilyMismatch)
    );
    assert_eq!(
        emit_ip_icmp(V4_SRC.into(), V4_DST.into(), 64, &repr, &mut buf[..27]),
        Err(WireError::BufferTooSmall)
    );
}

proptest! {
    #[test]
    fn any_echo_round_trips_and_etherparse_agrees(
        v6 in any::<bool>(),
        reply in any::<bool>(),
        ident in any::<u16>(),
        seq_no in any::<u16>(),
        data in proptest::collection::vec(any::<u8>(), 0..1500),
    ) {
        let (src, dst) = addrs(v6);
        let echo = Echo { ident, seq_no, data: &data };
        let repr = if reply { IcmpRepr::EchoReply(echo) } else { IcmpRepr::EchoRequest(echo) };
        let bytes = emit(src, dst, &repr);
        let (_, back) = parse_ip_icmp(&bytes, Checksum::Verify).unwrap();
        prop_assert_eq!(back, repr);
        let (r, id, seq, payload) = etherparse_echo(&bytes);
        prop_assert_eq!((r, id, seq), (reply, ident, seq_no));
        prop_assert_eq!(payload, data.clone());
    }

    #[test]
    fn etherparse_requests_parse_identically(
        v6 in any::<bool>(),
        ident in any::<u16>(),
        seq_no in any::<u16>(),
        data in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let bytes = etherparse_request(v6, ident, seq_no, &data);
        let (_, repr) = parse_ip_icmp(&bytes, Checksum::Verify).unwrap();
        prop_assert_eq!(repr, IcmpRepr::EchoRequest(Echo { ident, seq_no, data: &data }));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
        let _ = parse_ip_icmp(&bytes, Checksum::Verify);
        let ip = IpRepr::new(V6_SRC.into(), V6_DST.into(), 58, bytes.len(), 64).unwrap();
        let _ = crate::wire::icmp::parse_icmp(&ip, &bytes, Checksum::Verify);
    }
}

#[test]
fn echo_header_type_is_exported_by_etherparse() {
    // Keep the oracle honest: etherparse's own echo header encodes id then seq.
    assert_eq!(IcmpEchoHeader { id: 1, seq: 2 }.to_bytes(), [0, 1, 0, 2]);
}
