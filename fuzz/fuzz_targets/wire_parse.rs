//! `wire_parse`: arbitrary bytes through every parser in `synack::wire`.
//!
//! Checks, beyond "nothing panics":
//! * every `new_checked` view's accessors can be read;
//! * a packet that parses (checksums ignored) re-emits into a packet that parses with
//!   checksums verified, to the same meaning: parse(emit(x)) == normalise(x), where
//!   normalise is what emit is documented to change (ack zeroed without ACK, SACK
//!   blocks that don't fit dropped, IP payload length recomputed);
//! * emitting twice gives the same bytes (emit is a function of the Repr);
//! * the same for the TCP options area on its own;
//! * the same round trip for UDP (`parse_ip_udp`, and a bare datagram in both families) and
//!   ICMP (`parse_ip_icmp`, error messages included);
//! * the bytes as an ICMP error's quote (`parse_quoted`) and as an offending packet
//!   (`may_send_error_about`, `emit_ip_icmp_error`: the error parses, quotes a prefix of the
//!   packet and stays within 576/1280 bytes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use synack::tcp::SeqNum;
use synack::wire::icmp::{self, ErrorMessage, IcmpRepr};
use synack::wire::{
    self, Checksum, IpRepr, IpVersion, Ipv4Packet, Ipv6Packet, TcpOptions, TcpPacket, TcpRepr,
    UdpPacket, UdpRepr,
};

fuzz_target!(|data: &[u8]| {
    whole_packet(data);
    views(data);
    bare_segment(data);
    options(data);
    udp_packet(data);
    bare_datagram(data);
    icmp_packet(data);
    quoted(data);
    offending(data);
});

fn v4_pair() -> (IpAddr, IpAddr) {
    (
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
    )
}

fn v6_pair() -> (IpAddr, IpAddr) {
    (
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
        IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2)),
    )
}

/// `parse_ip_tcp` in both checksum modes, and the emit round-trip.
fn whole_packet(data: &[u8]) {
    let verified = wire::parse_ip_tcp(data, Checksum::Verify);
    let Ok((ip, tcp)) = wire::parse_ip_tcp(data, Checksum::Ignore) else {
        assert!(verified.is_err(), "verify accepted what ignore rejected");
        return;
    };
    if let Ok(v) = verified {
        assert_eq!(v, (ip, tcp), "checksum mode changed the meaning");
    }
    let mut out = vec![0u8; 65535 + 60];
    let Ok(n) = wire::emit_ip_tcp(&ip, &tcp, &mut out) else {
        // Only a segment that grew past the IP length field may fail to emit (it can't:
        // emit never grows the header), so any failure is a bug.
        panic!("a parsed packet failed to re-emit: {ip:?} {tcp:?}");
    };
    assert_eq!(n, wire::ip_tcp_len(&ip, &tcp));
    let emitted = &out[..n];
    let (ip2, tcp2) = wire::parse_ip_tcp(emitted, Checksum::Verify)
        .unwrap_or_else(|e| panic!("re-emitted packet does not parse: {e:?}"));
    assert_eq!(ip2.src_addr(), ip.src_addr());
    assert_eq!(ip2.dst_addr(), ip.dst_addr());
    assert_eq!(ip2.hop_limit(), ip.hop_limit());
    assert_eq!(ip2.protocol(), wire::PROTOCOL_TCP);
    assert_eq!(ip2.payload_len(), tcp.buffer_len());
    assert_eq!(tcp2, normalise(&tcp), "parse(emit(x)) != x");
    // Emit is a function of the Repr: the re-parsed Repr emits the same bytes.
    let mut again = vec![0u8; n];
    assert_eq!(wire::emit_ip_tcp(&ip2, &tcp2, &mut again), Ok(n));
    assert_eq!(again, emitted, "emit is not idempotent");
}

/// What emit keeps of a parsed segment.
fn normalise<'a>(tcp: &TcpRepr<'a>) -> TcpRepr<'a> {
    TcpRepr {
        ack: if tcp.flags.ack() {
            tcp.ack
        } else {
            SeqNum::new(0)
        },
        options: tcp.options.fitted(),
        ..*tcp
    }
}

/// Every accessor of every checked view.
fn views(data: &[u8]) {
    if let Ok(p) = Ipv4Packet::new_checked(data) {
        let _ = (p.version(), p.ihl(), p.header_len(), p.dscp(), p.ecn());
        let _ = (p.total_len(), p.ident(), p.dont_frag(), p.more_frags());
        let _ = (p.frag_offset(), p.ttl(), p.protocol(), p.checksum());
        let _ = (p.src_addr(), p.dst_addr(), p.verify_checksum());
        let _ = (
            p.options().len(),
            p.payload().len(),
            p.payload_slice().len(),
        );
        assert!(p.header_len() <= data.len());
    }
    if let Ok(p) = Ipv6Packet::new_checked(data) {
        let _ = (
            p.version(),
            p.traffic_class(),
            p.flow_label(),
            p.payload_len(),
        );
        let _ = (p.next_header(), p.hop_limit(), p.src_addr(), p.dst_addr());
        let _ = (p.payload().len(), p.payload_slice().len());
        if let Ok((_, offset)) = p.upper_layer() {
            assert!(offset <= p.payload().len());
        }
    }
}

/// The bytes as a bare TCP segment between fixed addresses of both families.
fn bare_segment(data: &[u8]) {
    let Ok(p) = TcpPacket::new_checked(data) else {
        return;
    };
    let _ = (p.src_port(), p.dst_port(), p.seq_number(), p.ack_number());
    let _ = (
        p.data_offset(),
        p.flags(),
        p.window(),
        p.checksum(),
        p.urgent(),
    );
    assert!(p.header_len() <= data.len());
    assert_eq!(p.options().len() + 20, p.header_len());
    assert_eq!(p.header_len() + p.payload().len(), data.len());
    let (v4, v6) = (v4_pair(), v6_pair());
    for (src, dst) in [v4, v6] {
        let _ = p.verify_checksum(src, dst);
        let _ = TcpRepr::parse(&p, src, dst, Checksum::Verify);
        if let Ok(repr) = TcpRepr::parse(&p, src, dst, Checksum::Ignore) {
            let mut out = vec![0u8; repr.buffer_len()];
            repr.emit(&mut TcpPacket::new_unchecked(&mut out[..]), src, dst);
            let back = TcpPacket::new_checked(&out[..]).expect("emitted segment is checked");
            assert!(back.verify_checksum(src, dst), "emit left a bad checksum");
            let parsed =
                TcpRepr::parse(&back, src, dst, Checksum::Verify).expect("emitted segment parses");
            assert_eq!(parsed, normalise(&repr));
        }
    }
    // Mixed families are a typed error, never a panic.
    let _ = TcpRepr::parse(&p, v4.0, v6.1, Checksum::Verify);
}

/// The bytes as a TCP options area.
fn options(data: &[u8]) {
    let Ok(opts) = TcpOptions::parse(data) else {
        return;
    };
    let fitted = opts.fitted();
    let len = opts.emitted_len();
    assert!(len <= 40 && len % 4 == 0, "emitted_len {len}");
    let mut buf = [0u8; 40];
    assert_eq!(opts.emit(&mut buf), Ok(len));
    let back = TcpOptions::parse(&buf[..len]).expect("emitted options parse");
    assert_eq!(back, fitted, "options parse(emit(x)) != fitted(x)");
    // Too small a buffer is an error, not a panic.
    if len > 0 {
        assert!(opts.emit(&mut buf[..len - 1]).is_err());
    }
    let _ = IpRepr::new(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
        6,
        data.len(),
        64,
    );
}

/// `parse_ip_udp` in both checksum modes, and the emit round trip.
fn udp_packet(data: &[u8]) {
    let verified = wire::parse_ip_udp(data, Checksum::Verify);
    let Ok((ip, udp)) = wire::parse_ip_udp(data, Checksum::Ignore) else {
        assert!(verified.is_err(), "verify accepted what ignore rejected");
        return;
    };
    if let Ok(v) = verified {
        assert_eq!(v, (ip, udp), "checksum mode changed the meaning");
    }
    assert!(
        udp.buffer_len() <= ip.payload_len(),
        "UDP length past the IP payload"
    );
    let mut out = vec![0u8; 65535 + 60];
    let n = wire::emit_ip_udp(&ip, &udp, &mut out)
        .unwrap_or_else(|e| panic!("a parsed datagram failed to re-emit: {e:?} {ip:?} {udp:?}"));
    assert_eq!(n, wire::ip_udp_len(&ip, &udp));
    let (ip2, udp2) = wire::parse_ip_udp(&out[..n], Checksum::Verify)
        .unwrap_or_else(|e| panic!("re-emitted datagram does not parse: {e:?}"));
    assert_eq!(udp2, udp, "parse(emit(x)) != x");
    assert_eq!(
        (ip2.src_addr(), ip2.dst_addr()),
        (ip.src_addr(), ip.dst_addr())
    );
    assert_eq!(ip2.protocol(), wire::PROTOCOL_UDP);
    let mut again = vec![0u8; n];
    assert_eq!(wire::emit_ip_udp(&ip2, &udp2, &mut again), Ok(n));
    assert_eq!(again, &out[..n], "emit is not idempotent");
}

/// The bytes as a bare UDP datagram between fixed addresses of both families.
fn bare_datagram(data: &[u8]) {
    let Ok(p) = UdpPacket::new_checked(data) else {
        return;
    };
    let _ = (p.src_port(), p.dst_port(), p.checksum());
    assert_eq!(8 + p.payload().len(), usize::from(p.len()));
    for (src, dst) in [v4_pair(), v6_pair()] {
        let _ = p.verify_checksum(src, dst);
        let _ = UdpRepr::parse(&p, src, dst, Checksum::Verify);
        if let Ok(repr) = UdpRepr::parse(&p, src, dst, Checksum::Ignore) {
            let mut out = vec![0u8; repr.buffer_len()];
            repr.emit(&mut UdpPacket::new_unchecked(&mut out[..]), src, dst)
                .expect("a parsed datagram re-emits");
            let back = UdpPacket::new_checked(&out[..]).expect("emitted datagram is checked");
            assert_ne!(back.checksum(), 0, "emit sent no checksum");
            let parsed =
                UdpRepr::parse(&back, src, dst, Checksum::Verify).expect("emitted datagram parses");
            assert_eq!(parsed, repr);
        }
    }
    let _ = UdpRepr::parse(&p, v4_pair().0, v6_pair().1, Checksum::Verify);
}

/// `parse_ip_icmp` in both checksum modes, and the emit round trip (echo and errors alike).
fn icmp_packet(data: &[u8]) {
    let verified = icmp::parse_ip_icmp(data, Checksum::Verify);
    let Ok((ip, repr)) = icmp::parse_ip_icmp(data, Checksum::Ignore) else {
        assert!(verified.is_err(), "verify accepted what ignore rejected");
        return;
    };
    if let Ok(v) = verified {
        assert_eq!(v, (ip, repr), "checksum mode changed the meaning");
    }
    if let IcmpRepr::Error { quote, .. } = repr {
        let _ = icmp::parse_quoted(ip.version(), quote);
    }
    let mut out = vec![0u8; 65535 + 60];
    let n = icmp::emit_ip_icmp(
        ip.src_addr(),
        ip.dst_addr(),
        ip.hop_limit(),
        &repr,
        &mut out,
    )
    .unwrap_or_else(|e| panic!("a parsed message failed to re-emit: {e:?} {repr:?}"));
    let (_, back) = icmp::parse_ip_icmp(&out[..n], Checksum::Verify)
        .unwrap_or_else(|e| panic!("re-emitted message does not parse: {e:?}"));
    assert_eq!(back, repr, "parse(emit(x)) != x");
}

/// The bytes as the quote of an ICMP error, in both families.
fn quoted(data: &[u8]) {
    for version in [IpVersion::V4, IpVersion::V6] {
        let Ok(q) = icmp::parse_quoted(version, data) else {
            continue;
        };
        assert!(
            data.ends_with(q.transport),
            "transport is not the quote's tail"
        );
        let has_ports = matches!(q.protocol, 6 | 17) && q.fragment_offset == 0;
        assert_eq!(q.ports.is_some(), has_ports && q.transport.len() >= 4);
        assert_eq!(
            q.tcp_seq.is_some(),
            q.protocol == 6 && q.fragment_offset == 0 && q.transport.len() >= 8
        );
    }
}

/// The bytes as a packet we received and may answer with an error.
fn offending(data: &[u8]) {
    let messages = [
        ErrorMessage::DstUnreachable {
            code: icmp::V4_UNREACH_PORT,
            next_hop_mtu: 0,
        },
        ErrorMessage::DstUnreachable {
            code: icmp::V4_UNREACH_FRAG_NEEDED,
            next_hop_mtu: 1400,
        },
        ErrorMessage::PacketTooBig { mtu: 1280 },
        ErrorMessage::TimeExceeded { code: 0 },
        ErrorMessage::ParamProblem {
            code: icmp::V6_PARAM_OPTION,
            pointer: 300,
        },
    ];
    let mut out = [0u8; 1280];
    for message in &messages {
        let _ = icmp::may_send_error_about(data, message);
        for (src, limit) in [
            (v4_pair().0, icmp::MAX_ERROR_LEN_V4),
            (v6_pair().0, icmp::MAX_ERROR_LEN_V6),
        ] {
            let Ok(n) = icmp::emit_ip_icmp_error(src, 64, message, data, &mut out) else {
                continue;
            };
            assert!(n <= limit, "error of {n} bytes over the {limit}-byte limit");
            let (ip, repr) = icmp::parse_ip_icmp(&out[..n], Checksum::Verify)
                .unwrap_or_else(|e| panic!("emitted error does not parse: {e:?}"));
            assert_eq!(ip.src_addr(), src);
            let IcmpRepr::Error { quote, .. } = repr else {
                panic!("emitted error parses as {repr:?}");
            };
            assert!(
                data.starts_with(quote),
                "the quote is not a prefix of the packet"
            );
        }
    }
}
