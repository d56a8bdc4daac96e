//! Fuzz-ish properties: arbitrary and mutated input never panics.

use super::support::*;
use crate::wire::icmp::{
    self, ErrorMessage, IcmpPacket, emit_ip_icmp_error, may_send_error_about, parse_ip_icmp,
    parse_quoted,
};
use crate::wire::{
    Checksum, IpVersion, Ipv4Packet, Ipv6Packet, TcpOptions, TcpPacket, UdpPacket, parse_ip_tcp,
    parse_ip_udp,
};
use proptest::prelude::*;

/// Touches every accessor of every view; they must not panic on any buffer.
fn read_all_accessors(bytes: &[u8]) {
    let v4 = Ipv4Packet::new_unchecked(bytes);
    let _ = (
        v4.version(),
        v4.header_len(),
        v4.dscp(),
        v4.ecn(),
        v4.total_len(),
        v4.ident(),
    );
    let _ = (
        v4.dont_frag(),
        v4.more_frags(),
        v4.frag_offset(),
        v4.ttl(),
        v4.protocol(),
    );
    let _ = (
        v4.checksum(),
        v4.src_addr(),
        v4.dst_addr(),
        v4.options(),
        v4.payload(),
    );
    let _ = v4.verify_checksum();
    let v6 = Ipv6Packet::new_unchecked(bytes);
    let _ = (
        v6.version(),
        v6.traffic_class(),
        v6.flow_label(),
        v6.payload_len(),
    );
    let _ = (
        v6.next_header(),
        v6.hop_limit(),
        v6.src_addr(),
        v6.dst_addr(),
        v6.payload(),
    );
    let _ = v6.upper_layer();
    let tcp = TcpPacket::new_unchecked(bytes);
    let _ = (
        tcp.src_port(),
        tcp.dst_port(),
        tcp.seq_number(),
        tcp.ack_number(),
    );
    let _ = (
        tcp.header_len(),
        tcp.flags(),
        tcp.window(),
        tcp.checksum(),
        tcp.urgent(),
    );
    let _ = (tcp.options(), tcp.payload());
    let _ = TcpOptions::parse(bytes);
    let udp = UdpPacket::new_unchecked(bytes);
    let _ = (udp.src_port(), udp.dst_port(), udp.len(), udp.checksum());
    let _ = (udp.payload(), udp.payload_slice());
    let _ = udp.verify_checksum(V4_SRC.into(), V4_DST.into());
    let _ = udp.verify_checksum(V6_SRC.into(), V6_DST.into());
    let icmp = IcmpPacket::new_unchecked(bytes);
    let _ = (
        icmp.msg_type(),
        icmp.code(),
        icmp.checksum(),
        icmp.rest_of_header(),
    );
    let _ = (
        icmp.ident(),
        icmp.seq_no(),
        icmp.next_hop_mtu(),
        icmp.quote(),
    );
    let _ = (icmp.quote_slice(), icmp.echo_data_slice());
    let _ = icmp.verify_checksum(V6_SRC.into(), V6_DST.into());
}

/// Every parser of packets synack does not deliver but reads or answers: the quote of an ICMP
/// error in both families, the "may an error be sent" rules and the error emitter.
fn read_as_offending_or_quoted(bytes: &[u8]) {
    for version in [IpVersion::V4, IpVersion::V6] {
        if let Ok(q) = parse_quoted(version, bytes) {
            assert!(q.transport.len() <= bytes.len());
        }
    }
    let messages = [
        ErrorMessage::DstUnreachable {
            code: icmp::V4_UNREACH_FRAG_NEEDED,
            next_hop_mtu: 1280,
        },
        ErrorMessage::PacketTooBig { mtu: 1280 },
        ErrorMessage::ParamProblem {
            code: icmp::V6_PARAM_OPTION,
            pointer: 7,
        },
    ];
    let mut out = [0u8; 1280];
    for message in &messages {
        let _ = may_send_error_about(bytes, message);
        for src in [V4_SRC.into(), V6_SRC.into()] {
            if let Ok(n) = emit_ip_icmp_error(src, 64, message, bytes, &mut out) {
                assert!(parse_ip_icmp(&out[..n], Checksum::Verify).is_ok());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1600)) {
        let _ = parse_ip_tcp(&bytes, Checksum::Verify);
        let _ = parse_ip_tcp(&bytes, Checksum::Ignore);
        let _ = parse_ip_udp(&bytes, Checksum::Ignore);
        let _ = parse_ip_icmp(&bytes, Checksum::Ignore);
        read_all_accessors(&bytes);
        read_as_offending_or_quoted(&bytes);
    }

    #[test]
    fn arbitrary_bytes_behind_a_valid_version_nibble_never_panic(
        v6 in any::<bool>(),
        mut bytes in proptest::collection::vec(any::<u8>(), 1..1600),
    ) {
        bytes[0] = (bytes[0] & 0x0f) | if v6 { 0x60 } else { 0x40 };
        let _ = parse_ip_tcp(&bytes, Checksum::Ignore);
        let _ = parse_ip_udp(&bytes, Checksum::Ignore);
        let _ = parse_ip_icmp(&bytes, Checksum::Ignore);
        read_as_offending_or_quoted(&bytes);
    }

    #[test]
    fn mutated_valid_packets_never_panic(
        ip in arb_ip(),
        fields in arb_fields(),
        payload in proptest::collection::vec(any::<u8>(), 0..200),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = emit(&ip, &fields.repr(&payload));
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        let _ = parse_ip_tcp(&bytes, Checksum::Verify);
        // Structural checks only: checksums would reject almost every mutation.
        let _ = parse_ip_tcp(&bytes, Checksum::Ignore);
        let cut = cut.index(bytes.len() + 1);
        let _ = parse_ip_tcp(&bytes[..cut], Checksum::Ignore);
        read_all_accessors(&bytes);
        read_as_offending_or_quoted(&bytes[..cut]);
    }
}
