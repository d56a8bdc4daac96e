//! Test-only oracle: cross-checks a packet against `etherparse`, an independent
//! parser. Other modules' tests call [`check_with_etherparse`] on every packet
//! they emit.
#![allow(
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used
)]

use super::{
    Checksum, IpRepr, TcpOptions, parse_ip_tcp, parse_ip_udp, tcp_options::MAX_WINDOW_SCALE,
};
use crate::wire::seq::SeqNum;
use etherparse::{NetSlice, SlicedPacket, TcpOptionElement, TransportSlice};

/// Parses `packet` (an IPv4 or IPv6 packet carrying TCP) with both etherparse
/// and synack's [`parse_ip_tcp`] and panics with a descriptive message unless
/// they agree on addresses, TTL/hop limit, ports, seq, ack, flags, window,
/// urgent pointer, options and payload, and both checksums are valid according
/// to etherparse's own computation.
#[track_caller]
pub(crate) fn check_with_etherparse(packet: &[u8]) {
    let sliced = SlicedPacket::from_ip(packet)
        .unwrap_or_else(|e| panic!("etherparse rejects the packet: {e}\npacket: {packet:02x?}"));
    let fragmented = match &sliced.net {
        Some(NetSlice::Ipv4(v4)) => v4.is_payload_fragmented(),
        Some(NetSlice::Ipv6(v6)) => v6.is_payload_fragmented(),
        _ => false,
    };
    if fragmented {
        // A fragment: etherparse sliced its IP header; the datagram is checked whole by the
        // tests that reassemble it.
        if let Some(NetSlice::Ipv4(v4)) = &sliced.net {
            let h = v4.header().to_header();
            assert_eq!(
                h.header_checksum,
                h.calc_header_checksum(),
                "IPv4 header checksum"
            );
        }
        return;
    }
    if let Some(TransportSlice::Udp(_)) = &sliced.transport {
        return check_udp_with_etherparse(packet);
    }
    if let Some(TransportSlice::Icmpv4(_) | TransportSlice::Icmpv6(_)) = &sliced.transport {
        // ICMP: etherparse sliced it; synack parses it back, checksum verified.
        super::icmp::parse_ip_icmp(packet, Checksum::Verify)
            .unwrap_or_else(|e| panic!("synack rejects the ICMP packet: {e}\n{packet:02x?}"));
        return;
    }
    let (ours_ip, ours) = parse_ip_tcp(packet, Checksum::Verify)
        .unwrap_or_else(|e| panic!("synack rejects the packet: {e}\npacket: {packet:02x?}"));
    let Some(TransportSlice::Tcp(tcp)) = sliced.transport else {
        panic!("etherparse found no TCP segment in {packet:02x?}");
    };

    match (sliced.net, ours_ip) {
        (Some(NetSlice::Ipv4(v4)), IpRepr::V4(r)) => {
            let h = check_ipv4_header(&v4, &r, 6);
            let want = tcp
                .calc_checksum_ipv4(h.source, h.destination)
                .expect("segment length fits");
            assert_eq!(tcp.checksum(), want, "TCP checksum per etherparse (IPv4)");
            assert_eq!(usize::from(h.total_len), packet.len(), "IPv4 total length");
            assert!(!h.more_fragments, "IPv4 MF must be clear");
        }
        (Some(NetSlice::Ipv6(v6)), IpRepr::V6(r)) => {
            let h = v6.header();
            check_ipv6_header(&h.to_header(), &r);
            assert_eq!(
                usize::from(h.payload_length()) + 40,
                packet.len(),
                "IPv6 payload length"
            );
            let want = tcp
                .calc_checksum_ipv6(h.source(), h.destination())
                .expect("segment length fits");
            assert_eq!(tcp.checksum(), want, "TCP checksum per etherparse (IPv6)");
        }
        (net, ours) => panic!("IP version disagreement: etherparse {net:?}, synack {ours:?}"),
    }

    assert_eq!(tcp.source_port(), ours.src_port, "source port");
    assert_eq!(tcp.destination_port(), ours.dst_port, "destination port");
    assert_eq!(tcp.sequence_number(), ours.seq.get(), "sequence number");
    assert_eq!(tcp.acknowledgment_number(), ours.ack.get(), "ack number");
    let f = ours.flags;
    let flag_pairs = [
        ("FIN", tcp.fin(), f.fin()),
        ("SYN", tcp.syn(), f.syn()),
        ("RST", tcp.rst(), f.rst()),
        ("PSH", tcp.psh(), f.psh()),
        ("ACK", tcp.ack(), f.ack()),
        ("URG", tcp.urg(), f.contains(super::TcpFlags::URG)),
        ("ECE", tcp.ece(), f.contains(super::TcpFlags::ECE)),
        ("CWR", tcp.cwr(), f.contains(super::TcpFlags::CWR)),
    ];
    for (name, theirs, ours) in flag_pairs {
        assert_eq!(theirs, ours, "flag {name}");
    }
    assert_eq!(tcp.window_size(), ours.window, "window");
    assert_eq!(tcp.urgent_pointer(), ours.urgent, "urgent pointer");
    assert_eq!(tcp.payload(), ours.payload, "payload");

    let theirs = options_from_etherparse(&tcp);
    assert_eq!(
        theirs,
        ours.options,
        "options (raw bytes {:02x?})",
        tcp.options()
    );
}

/// Folds etherparse's option elements into a [`TcpOptions`] with synack's
/// semantics (later duplicates win, window scale clamped to 14).
fn options_from_etherparse(tcp: &etherparse::TcpSlice<'_>) -> TcpOptions {
    let mut out = TcpOptions::default();
    for element in tcp.options_iterator() {
        match element.unwrap_or_else(|e| panic!("etherparse option error: {e}")) {
            TcpOptionElement::Noop => {}
            TcpOptionElement::MaximumSegmentSize(mss) => out.mss = Some(mss),
            TcpOptionElement::WindowScale(s) => out.window_scale = Some(s.min(MAX_WINDOW_SCALE)),
            TcpOptionElement::SelectiveAcknowledgementPermitted => out.sack_permitted = true,
            TcpOptionElement::SelectiveAcknowledgement(first, rest) => {
                let mut blocks = super::SackBlocks::default();
                for (l, r) in core::iter::once(first).chain(rest.into_iter().flatten()) {
                    blocks.push(SeqNum::new(l), SeqNum::new(r));
                }
                out.sack_blocks = blocks;
            }
            TcpOptionElement::Timestamp(tsval, tsecr) => {
                out.timestamps = Some(super::Timestamps { tsval, tsecr });
            }
        }
    }
    out
}

/// Like [`check_with_etherparse`] for an IPv4 or IPv6 packet carrying UDP: panics unless
/// etherparse and synack's [`parse_ip_udp`] agree on addresses, TTL/hop limit, ports, length
/// and payload, and the checksum is the one etherparse computes (a computed zero sent as
/// `0xffff`; over IPv4 a zero field, "no checksum", is accepted as is).
#[track_caller]
pub(crate) fn check_udp_with_etherparse(packet: &[u8]) {
    let sliced = SlicedPacket::from_ip(packet)
        .unwrap_or_else(|e| panic!("etherparse rejects the packet: {e}\npacket: {packet:02x?}"));
    let (ours_ip, ours) = parse_ip_udp(packet, Checksum::Verify)
        .unwrap_or_else(|e| panic!("synack rejects the packet: {e}\npacket: {packet:02x?}"));
    let Some(TransportSlice::Udp(udp)) = sliced.transport else {
        panic!("etherparse found no UDP datagram in {packet:02x?}");
    };
    let header = udp.to_header();
    match (sliced.net, ours_ip) {
        (Some(NetSlice::Ipv4(v4)), IpRepr::V4(r)) => {
            let h = check_ipv4_header(&v4, &r, 17);
            if udp.checksum() != 0 {
                let want = header
                    .calc_checksum_ipv4(&h, udp.payload())
                    .expect("datagram length fits");
                assert_eq!(udp.checksum(), want, "UDP checksum per etherparse (IPv4)");
            }
        }
        (Some(NetSlice::Ipv6(v6)), IpRepr::V6(r)) => {
            let h = v6.header().to_header();
            check_ipv6_header(&h, &r);
            let want = header
                .calc_checksum_ipv6(&h, udp.payload())
                .expect("datagram length fits");
            assert_eq!(udp.checksum(), want, "UDP checksum per etherparse (IPv6)");
        }
        (net, ours) => panic!("IP version disagreement: etherparse {net:?}, synack {ours:?}"),
    }
    assert_eq!(udp.source_port(), ours.src_port, "source port");
    assert_eq!(udp.destination_port(), ours.dst_port, "destination port");
    assert_eq!(
        usize::from(udp.length()),
        8 + ours.payload.len(),
        "UDP length"
    );
    assert_eq!(udp.payload(), ours.payload, "payload");
}

/// The IPv4 header as etherparse reads it agrees with ours (addresses, TTL, `protocol`) and
/// its checksum is right; returned for the transport's own checks.
#[track_caller]
fn check_ipv4_header(
    v4: &etherparse::Ipv4Slice<'_>,
    r: &super::Ipv4Repr,
    protocol: u8,
) -> etherparse::Ipv4Header {
    let h = v4.header().to_header();
    assert_eq!(h.source, r.src.octets(), "IPv4 source");
    assert_eq!(h.destination, r.dst.octets(), "IPv4 destination");
    assert_eq!(h.time_to_live, r.ttl, "IPv4 TTL");
    assert_eq!(h.protocol.0, protocol, "IPv4 protocol");
    assert_eq!(
        h.header_checksum,
        h.calc_header_checksum(),
        "IPv4 header checksum per etherparse"
    );
    h
}

/// The IPv6 header as etherparse reads it agrees with ours (addresses, hop limit).
#[track_caller]
fn check_ipv6_header(h: &etherparse::Ipv6Header, r: &super::Ipv6Repr) {
    assert_eq!(h.source, r.src.octets(), "IPv6 source");
    assert_eq!(h.destination, r.dst.octets(), "IPv6 destination");
    assert_eq!(h.hop_limit, r.hop_limit, "IPv6 hop limit");
}
