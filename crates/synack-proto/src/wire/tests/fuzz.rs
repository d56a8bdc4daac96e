//! Fuzz-ish properties: arbitrary and mutated input never panics.

use super::support::*;
use crate::wire::{Checksum, Ipv4Packet, Ipv6Packet, TcpOptions, TcpPacket, parse_ip_tcp};
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
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1600)) {
        let _ = parse_ip_tcp(&bytes, Checksum::Verify);
        let _ = parse_ip_tcp(&bytes, Checksum::Ignore);
        read_all_accessors(&bytes);
    }

    #[test]
    fn arbitrary_bytes_behind_a_valid_version_nibble_never_panic(
        v6 in any::<bool>(),
        mut bytes in proptest::collection::vec(any::<u8>(), 1..1600),
    ) {
        bytes[0] = (bytes[0] & 0x0f) | if v6 { 0x60 } else { 0x40 };
        let _ = parse_ip_tcp(&bytes, Checksum::Ignore);
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
    }
}
