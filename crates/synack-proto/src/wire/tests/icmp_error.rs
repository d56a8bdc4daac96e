//! ICMP and ICMPv6 error messages: the typed repr checked against etherparse in both
//! directions, the tolerant reader of the quoted packet, the 576/1280-byte quoting limits,
//! and every "never send an error about" rule.

use super::support::{V4_DST, V4_SRC, V6_DST, V6_SRC};
use crate::wire::icmp::{
    self, ErrorMessage, IcmpPacket, IcmpRepr, MAX_ERROR_LEN_V4, MAX_ERROR_LEN_V6, QuotedPacket,
    emit_ip_icmp, emit_ip_icmp_error, may_send_error_about, parse_icmp, parse_ip_icmp,
    parse_quoted,
};
use crate::wire::seq::SeqNum;
use crate::wire::{Checksum, IpRepr, IpVersion, Ipv4Packet, WireError};
use etherparse::{
    Icmpv4Type, Icmpv6Type, NetSlice, PacketBuilder, SlicedPacket, TransportSlice, icmpv4, icmpv6,
};
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

// ---------------------------------------------------------------------------------------
// Builders and the etherparse view.

fn addrs(v6: bool) -> (IpAddr, IpAddr) {
    if v6 {
        (V6_SRC.into(), V6_DST.into())
    } else {
        (V4_SRC.into(), V4_DST.into())
    }
}

fn version(v6: bool) -> IpVersion {
    if v6 { IpVersion::V6 } else { IpVersion::V4 }
}

fn ip_header_len(v6: bool) -> usize {
    if v6 { 40 } else { 20 }
}

/// A UDP packet from `src` to `dst`, built by etherparse (an independent encoder).
fn udp_between(src: IpAddr, dst: IpAddr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => PacketBuilder::ipv4(s.octets(), d.octets(), 64)
            .udp(sport, dport)
            .write(&mut out, payload)
            .unwrap(),
        (IpAddr::V6(s), IpAddr::V6(d)) => PacketBuilder::ipv6(s.octets(), d.octets(), 64)
            .udp(sport, dport)
            .write(&mut out, payload)
            .unwrap(),
        _ => unreachable!("mixed families"),
    }
    out
}

/// A UDP packet between the test addresses (our peer sent it to us).
fn udp_packet(v6: bool, payload_len: usize) -> Vec<u8> {
    let (ours, peer) = addrs(v6);
    let payload: Vec<u8> = (0..payload_len).map(|i| i as u8).collect();
    udp_between(peer, ours, 5353, 9, &payload)
}

/// A TCP segment built by etherparse.
fn tcp_packet(v6: bool, sport: u16, dport: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
    let (src, dst) = addrs(v6);
    let mut out = Vec::new();
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => PacketBuilder::ipv4(s.octets(), d.octets(), 64)
            .tcp(sport, dport, seq, 1000)
            .write(&mut out, payload)
            .unwrap(),
        (IpAddr::V6(s), IpAddr::V6(d)) => PacketBuilder::ipv6(s.octets(), d.octets(), 64)
            .tcp(sport, dport, seq, 1000)
            .write(&mut out, payload)
            .unwrap(),
        _ => unreachable!(),
    }
    out
}

/// An ICMP(v6) message of `msg_type` from the peer to us, built by etherparse.
fn icmp_packet(v6: bool, msg_type: u8, code: u8) -> Vec<u8> {
    let (ours, peer) = addrs(v6);
    let mut out = Vec::new();
    match (peer, ours) {
        (IpAddr::V4(s), IpAddr::V4(d)) => PacketBuilder::ipv4(s.octets(), d.octets(), 64)
            .icmpv4_raw(msg_type, code, [0; 4])
            .write(&mut out, &[0x45; 28])
            .unwrap(),
        (IpAddr::V6(s), IpAddr::V6(d)) => PacketBuilder::ipv6(s.octets(), d.octets(), 64)
            .icmpv6_raw(msg_type, code, [0; 4])
            .write(&mut out, &[0x60; 48])
            .unwrap(),
        _ => unreachable!(),
    }
    out
}

/// Emits `repr` between the test addresses with synack's encoder.
fn emit(v6: bool, repr: &IcmpRepr<'_>) -> Vec<u8> {
    let (src, dst) = addrs(v6);
    let mut buf = vec![0u8; 40 + repr.buffer_len()];
    let n = emit_ip_icmp(src, dst, 64, repr, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// etherparse's reading of an ICMP(v6) error packet, as an [`ErrorMessage`] and the quote,
/// after checking the IP header and the ICMP checksum by etherparse's own computation.
fn etherparse_error(packet: &[u8]) -> (ErrorMessage, Vec<u8>) {
    let sliced = SlicedPacket::from_ip(packet).expect("etherparse parses it");
    match (sliced.net, sliced.transport) {
        (Some(NetSlice::Ipv4(v4)), Some(TransportSlice::Icmpv4(icmp))) => {
            let h = v4.header().to_header();
            assert_eq!(h.header_checksum, h.calc_header_checksum(), "IPv4 checksum");
            assert_eq!(usize::from(h.total_len), packet.len());
            assert_eq!(h.protocol.0, 1);
            let want = icmp.icmp_type().calc_checksum(icmp.payload());
            assert_eq!(icmp.checksum(), want, "ICMPv4 checksum per etherparse");
            let message = match icmp.icmp_type() {
                Icmpv4Type::DestinationUnreachable(d) => ErrorMessage::DstUnreachable {
                    code: d.code_u8(),
                    next_hop_mtu: match d {
                        icmpv4::DestUnreachableHeader::FragmentationNeeded { next_hop_mtu } => {
                            next_hop_mtu
                        }
                        _ => 0,
                    },
                },
                Icmpv4Type::TimeExceeded(c) => ErrorMessage::TimeExceeded { code: c.code_u8() },
                Icmpv4Type::ParameterProblem(p) => match p {
                    icmpv4::ParameterProblemHeader::PointerIndicatesError(pointer) => {
                        ErrorMessage::ParamProblem {
                            code: 0,
                            pointer: u32::from(pointer),
                        }
                    }
                    icmpv4::ParameterProblemHeader::MissingRequiredOption => {
                        ErrorMessage::ParamProblem {
                            code: 1,
                            pointer: 0,
                        }
                    }
                    icmpv4::ParameterProblemHeader::BadLength => ErrorMessage::ParamProblem {
                        code: 2,
                        pointer: 0,
                    },
                },
                t => panic!("not an error etherparse knows: {t:?}"),
            };
            (message, icmp.payload().to_vec())
        }
        (Some(NetSlice::Ipv6(v6)), Some(TransportSlice::Icmpv6(icmp))) => {
            let h = v6.header();
            assert_eq!(usize::from(h.payload_length()) + 40, packet.len());
            assert!(
                icmp.is_checksum_valid(h.source(), h.destination()),
                "ICMPv6 checksum per etherparse"
            );
            let message = match icmp.icmp_type() {
                Icmpv6Type::DestinationUnreachable(c) => ErrorMessage::DstUnreachable {
                    code: c.code_u8(),
                    next_hop_mtu: 0,
                },
                Icmpv6Type::PacketTooBig { mtu } => ErrorMessage::PacketTooBig { mtu },
                Icmpv6Type::TimeExceeded(c) => ErrorMessage::TimeExceeded { code: c.code_u8() },
                Icmpv6Type::ParameterProblem(p) => ErrorMessage::ParamProblem {
                    code: p.code.code_u8(),
                    pointer: p.pointer,
                },
                t => panic!("not an error etherparse knows: {t:?}"),
            };
            (message, icmp.payload().to_vec())
        }
        (net, t) => panic!("unexpected packet: {net:?} {t:?}"),
    }
}

/// Every error message synack models, in codes etherparse also knows, for one family.
fn known_messages(v6: bool) -> Vec<ErrorMessage> {
    let mut out = Vec::new();
    let unreachable_codes = if v6 { 0..=6 } else { 0..=15 };
    for code in unreachable_codes {
        let next_hop_mtu = if !v6 && code == icmp::V4_UNREACH_FRAG_NEEDED {
            1400
        } else {
            0
        };
        out.push(ErrorMessage::DstUnreachable { code, next_hop_mtu });
    }
    for code in [
        icmp::TIME_EXCEEDED_IN_TRANSIT,
        icmp::TIME_EXCEEDED_REASSEMBLY,
    ] {
        out.push(ErrorMessage::TimeExceeded { code });
    }
    if v6 {
        out.push(ErrorMessage::PacketTooBig { mtu: 1280 });
        out.push(ErrorMessage::PacketTooBig { mtu: u32::MAX });
        for code in 0..=3 {
            out.push(ErrorMessage::ParamProblem {
                code,
                pointer: 0x0001_0203 + u32::from(code),
            });
        }
    } else {
        out.push(ErrorMessage::ParamProblem {
            code: icmp::V4_PARAM_POINTER,
            pointer: 9,
        });
        for code in [icmp::V4_PARAM_MISSING_OPTION, icmp::V4_PARAM_BAD_LENGTH] {
            out.push(ErrorMessage::ParamProblem { code, pointer: 0 });
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// The typed repr.

#[test]
fn every_error_message_round_trips_and_etherparse_agrees_in_both_families() {
    for v6 in [false, true] {
        let quote = udp_packet(v6, 12);
        for message in known_messages(v6) {
            let repr = IcmpRepr::Error {
                message,
                quote: &quote,
            };
            let bytes = emit(v6, &repr);
            let (ip, back) = parse_ip_icmp(&bytes, Checksum::Verify).unwrap();
            assert_eq!(back, repr, "v6={v6}");
            assert_eq!(ip.dst_addr(), addrs(v6).1);
            assert_eq!(
                etherparse_error(&bytes),
                (message, quote.clone()),
                "v6={v6}"
            );
        }
    }
}

#[test]
fn rfc792_icmpv4_error_header_bytes() {
    let quote = udp_packet(false, 0);
    let bytes = emit(
        false,
        &IcmpRepr::Error {
            message: ErrorMessage::DstUnreachable {
                code: icmp::V4_UNREACH_PORT,
                next_hop_mtu: 0,
            },
            quote: &quote,
        },
    );
    assert_eq!(bytes[9], 1, "protocol ICMP");
    assert_eq!(&bytes[20..22], &[3, 3]);
    assert_eq!(&bytes[24..28], &[0, 0, 0, 0], "unused");
    assert_eq!(&bytes[28..], &quote[..]);
    let bytes = emit(
        false,
        &IcmpRepr::Error {
            message: ErrorMessage::ParamProblem {
                code: 0,
                pointer: 0xab,
            },
            quote: &quote,
        },
    );
    assert_eq!(&bytes[20..22], &[12, 0]);
    assert_eq!(
        &bytes[24..28],
        &[0xab, 0, 0, 0],
        "pointer is the first octet"
    );
}

#[test]
fn rfc1191_fragmentation_needed_carries_the_next_hop_mtu_in_bytes_6_and_7() {
    let quote = udp_packet(false, 0);
    let message = ErrorMessage::DstUnreachable {
        code: icmp::V4_UNREACH_FRAG_NEEDED,
        next_hop_mtu: 1492,
    };
    let bytes = emit(
        false,
        &IcmpRepr::Error {
            message,
            quote: &quote,
        },
    );
    assert_eq!(
        &bytes[20..28],
        &[3, 4, bytes[22], bytes[23], 0, 0, 0x05, 0xd4]
    );
    let packet = IcmpPacket::new_checked(&bytes[20..]).unwrap();
    assert_eq!(packet.next_hop_mtu(), 1492);
    assert_eq!(etherparse_error(&bytes).0, message);
}

#[test]
fn rfc4443_3_2_packet_too_big_carries_the_mtu_in_bytes_4_to_7() {
    let quote = udp_packet(true, 0);
    let message = ErrorMessage::PacketTooBig { mtu: 0x0102_0304 };
    let bytes = emit(
        true,
        &IcmpRepr::Error {
            message,
            quote: &quote,
        },
    );
    assert_eq!(bytes[6], 58, "next header ICMPv6");
    assert_eq!(&bytes[40..42], &[2, 0]);
    assert_eq!(&bytes[44..48], &[1, 2, 3, 4]);
    assert_eq!(
        IcmpPacket::new_checked(&bytes[40..])
            .unwrap()
            .rest_of_header(),
        0x0102_0304
    );
    // RFC 4443 §3.2: the code is "ignored by the receiver".
    let mut odd = bytes.clone();
    odd[41] = 7;
    IcmpPacket::new_unchecked(&mut odd[40..]).fill_checksum(V6_SRC.into(), V6_DST.into());
    assert_eq!(
        parse_ip_icmp(&odd, Checksum::Verify).unwrap().1,
        IcmpRepr::Error {
            message,
            quote: &quote
        }
    );
}

#[test]
fn rfc4443_3_4_parameter_problem_pointer_is_32_bits() {
    let quote = udp_packet(true, 0);
    let message = ErrorMessage::ParamProblem {
        code: icmp::V6_PARAM_NEXT_HEADER,
        pointer: 0xdead_beef,
    };
    let bytes = emit(
        true,
        &IcmpRepr::Error {
            message,
            quote: &quote,
        },
    );
    assert_eq!(&bytes[40..42], &[4, 1]);
    assert_eq!(&bytes[44..48], &[0xde, 0xad, 0xbe, 0xef]);
}

#[test]
fn the_unused_field_is_sent_as_zero_and_parsed_as_zero() {
    // next_hop_mtu only means something for ICMPv4 code 4.
    for v6 in [false, true] {
        let quote = udp_packet(v6, 0);
        let code = if v6 {
            icmp::V6_UNREACH_PORT
        } else {
            icmp::V4_UNREACH_PORT
        };
        let sent = ErrorMessage::DstUnreachable {
            code,
            next_hop_mtu: 999,
        };
        let bytes = emit(
            v6,
            &IcmpRepr::Error {
                message: sent,
                quote: &quote,
            },
        );
        let at = ip_header_len(v6);
        assert_eq!(&bytes[at + 4..at + 8], &[0, 0, 0, 0], "v6={v6}");
        let (_, back) = parse_ip_icmp(&bytes, Checksum::Verify).unwrap();
        assert_eq!(
            back,
            IcmpRepr::Error {
                message: ErrorMessage::DstUnreachable {
                    code,
                    next_hop_mtu: 0
                },
                quote: &quote
            }
        );
    }
    // ICMPv6 code 4 is "port unreachable", not "fragmentation needed": no MTU there either.
    let quote = udp_packet(true, 0);
    let bytes = emit(
        true,
        &IcmpRepr::Error {
            message: ErrorMessage::DstUnreachable {
                code: 4,
                next_hop_mtu: 1400,
            },
            quote: &quote,
        },
    );
    assert_eq!(&bytes[44..48], &[0, 0, 0, 0]);
}

#[test]
fn unknown_codes_of_known_error_types_still_parse_as_errors() {
    for v6 in [false, true] {
        let quote = udp_packet(v6, 0);
        for message in [
            ErrorMessage::DstUnreachable {
                code: 200,
                next_hop_mtu: 0,
            },
            ErrorMessage::TimeExceeded { code: 9 },
            ErrorMessage::ParamProblem {
                code: 77,
                pointer: 3,
            },
        ] {
            let repr = IcmpRepr::Error {
                message,
                quote: &quote,
            };
            assert_eq!(
                parse_ip_icmp(&emit(v6, &repr), Checksum::Verify).unwrap().1,
                repr
            );
        }
    }
}

#[test]
fn messages_the_family_cannot_carry_are_not_representable() {
    let quote = udp_packet(false, 0);
    let mut buf = [0u8; 200];
    for message in [
        ErrorMessage::PacketTooBig { mtu: 1280 },
        ErrorMessage::ParamProblem {
            code: 0,
            pointer: 256,
        },
    ] {
        let repr = IcmpRepr::Error {
            message,
            quote: &quote,
        };
        assert_eq!(
            emit_ip_icmp(V4_SRC.into(), V4_DST.into(), 64, &repr, &mut buf),
            Err(WireError::IcmpNotRepresentable)
        );
        assert_eq!(
            emit_ip_icmp_error(V4_DST.into(), 64, &message, &quote, &mut buf),
            Err(WireError::IcmpNotRepresentable)
        );
        assert_eq!(
            message.header(IpVersion::V4),
            Err(WireError::IcmpNotRepresentable)
        );
    }
    assert_eq!(
        ErrorMessage::ParamProblem {
            code: 0,
            pointer: 255
        }
        .header(IpVersion::V4),
        Ok((12, 0, 0xff00_0000))
    );
}

#[test]
fn error_messages_shorter_than_8_bytes_are_truncated() {
    for v6 in [false, true] {
        let (src, dst) = addrs(v6);
        let ip = IpRepr::new(src, dst, icmp::protocol_for(src), 0, 64).unwrap();
        let msg_type = if v6 { 1 } else { 3 };
        for len in 0..8 {
            let mut msg = vec![0u8; len];
            if len > 0 {
                msg[0] = msg_type;
            }
            assert_eq!(
                parse_icmp(&ip, &msg, Checksum::Ignore),
                Err(WireError::Truncated),
                "v6={v6} len={len}"
            );
        }
        // Exactly the header: an error with an empty quote.
        let msg = [msg_type, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            parse_icmp(&ip, &msg, Checksum::Ignore),
            Ok(IcmpRepr::Error {
                message: ErrorMessage::DstUnreachable {
                    code: 0,
                    next_hop_mtu: 0
                },
                quote: &[]
            })
        );
    }
}

#[test]
fn a_bad_error_checksum_is_rejected_and_icmpv6_covers_the_pseudo_header() {
    for v6 in [false, true] {
        let quote = udp_packet(v6, 4);
        let mut bytes = emit(
            v6,
            &IcmpRepr::Error {
                message: ErrorMessage::TimeExceeded { code: 0 },
                quote: &quote,
            },
        );
        let at = ip_header_len(v6);
        let icmp = IcmpPacket::new_checked(&bytes[at..]).unwrap();
        let (src, dst) = addrs(v6);
        assert!(icmp.verify_checksum(src, dst));
        if v6 {
            let other: IpAddr = "2001:db8::77".parse().unwrap();
            assert!(!icmp.verify_checksum(src, other));
        }
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(
            parse_ip_icmp(&bytes, Checksum::Verify),
            Err(WireError::BadChecksum)
        );
        assert!(parse_ip_icmp(&bytes, Checksum::Ignore).is_ok());
    }
}

#[test]
fn etherparse_built_errors_parse_identically() {
    let quote = udp_packet(false, 3);
    let mut out = Vec::new();
    PacketBuilder::ipv4(V4_DST.octets(), V4_SRC.octets(), 64)
        .icmpv4(Icmpv4Type::DestinationUnreachable(
            icmpv4::DestUnreachableHeader::FragmentationNeeded { next_hop_mtu: 576 },
        ))
        .write(&mut out, &quote)
        .unwrap();
    assert_eq!(
        parse_ip_icmp(&out, Checksum::Verify).unwrap().1,
        IcmpRepr::Error {
            message: ErrorMessage::DstUnreachable {
                code: 4,
                next_hop_mtu: 576
            },
            quote: &quote
        }
    );
    let quote = udp_packet(true, 3);
    let mut out = Vec::new();
    PacketBuilder::ipv6(V6_DST.octets(), V6_SRC.octets(), 64)
        .icmpv6(Icmpv6Type::ParameterProblem(
            icmpv6::ParameterProblemHeader {
                code: icmpv6::ParameterProblemCode::UnrecognizedIpv6Option,
                pointer: 42,
            },
        ))
        .write(&mut out, &quote)
        .unwrap();
    assert_eq!(
        parse_ip_icmp(&out, Checksum::Verify).unwrap().1,
        IcmpRepr::Error {
            message: ErrorMessage::ParamProblem {
                code: icmp::V6_PARAM_OPTION,
                pointer: 42
            },
            quote: &quote
        }
    );
}

// ---------------------------------------------------------------------------------------
// The quoted packet.

#[test]
fn rfc792_a_quote_of_the_ip_header_and_8_bytes_gives_ports_and_tcp_seq() {
    for v6 in [false, true] {
        let segment = tcp_packet(v6, 40000, 443, 0xfeed_f00d, b"some data");
        let h = ip_header_len(v6);
        let quote = &segment[..h + 8];
        let q = parse_quoted(version(v6), quote).unwrap();
        let (src, dst) = addrs(v6);
        assert_eq!(
            q,
            QuotedPacket {
                src,
                dst,
                protocol: 6,
                fragment_offset: 0,
                transport: &segment[h..h + 8],
                ports: Some((40000, 443)),
                tcp_seq: Some(SeqNum::new(0xfeed_f00d)),
            }
        );
    }
}

#[test]
fn a_udp_quote_gives_ports_and_no_sequence_number() {
    for v6 in [false, true] {
        let packet = udp_packet(v6, 100);
        let q = parse_quoted(version(v6), &packet).unwrap();
        assert_eq!(
            (q.protocol, q.ports, q.tcp_seq),
            (17, Some((5353, 9)), None)
        );
        assert_eq!(q.transport.len(), 108);
    }
}

#[test]
fn a_quote_is_read_without_trusting_its_lengths_or_checksums() {
    // The original was 1500 bytes; the quote holds 28 of them, with a bad IPv4 header
    // checksum and a TCP checksum that cannot verify.
    let mut segment = tcp_packet(false, 1, 2, 3, &[0u8; 1460]);
    segment[10] ^= 0xff;
    let q = parse_quoted(IpVersion::V4, &segment[..28]).unwrap();
    assert_eq!((q.ports, q.tcp_seq), (Some((1, 2)), Some(SeqNum::new(3))));
    // An IPv6 quote whose payload length says 1460.
    let segment = tcp_packet(true, 1, 2, 3, &[0u8; 1420]);
    let q = parse_quoted(IpVersion::V6, &segment[..48]).unwrap();
    assert_eq!((q.ports, q.tcp_seq), (Some((1, 2)), Some(SeqNum::new(3))));
    // A total length smaller than the header is no obstacle either.
    let mut short = udp_packet(false, 0);
    short[2..4].copy_from_slice(&3u16.to_be_bytes());
    assert_eq!(
        parse_quoted(IpVersion::V4, &short).unwrap().ports,
        Some((5353, 9))
    );
}

#[test]
fn every_truncation_of_a_quote_is_read_once_the_ip_header_is_whole() {
    for v6 in [false, true] {
        let segment = tcp_packet(v6, 7, 8, 9, b"abcdefgh");
        let h = ip_header_len(v6);
        for len in 0..=segment.len() {
            let got = parse_quoted(version(v6), &segment[..len]);
            if len < h {
                assert_eq!(got, Err(WireError::Truncated), "v6={v6} len={len}");
                continue;
            }
            let q = got.unwrap();
            assert_eq!(q.transport, &segment[h..len]);
            assert_eq!(q.ports.is_some(), len >= h + 4, "v6={v6} len={len}");
            assert_eq!(q.tcp_seq.is_some(), len >= h + 8, "v6={v6} len={len}");
        }
    }
}

#[test]
fn ipv4_options_in_the_quote_are_skipped_by_ihl() {
    let plain = udp_packet(false, 0);
    let mut quote = plain[..20].to_vec();
    quote.extend_from_slice(&[1, 1, 1, 0]); // NOP NOP NOP EOL
    quote.extend_from_slice(&plain[20..]);
    Ipv4Packet::new_unchecked(&mut quote[..]).set_version_ihl(4, 6);
    let q = parse_quoted(IpVersion::V4, &quote).unwrap();
    assert_eq!(q.ports, Some((5353, 9)));
    // IHL below 5, or pointing past the quote.
    quote[0] = 0x44;
    assert_eq!(
        parse_quoted(IpVersion::V4, &quote),
        Err(WireError::BadHeaderLength)
    );
    quote[0] = 0x4f;
    assert_eq!(
        parse_quoted(IpVersion::V4, &quote),
        Err(WireError::Truncated)
    );
}

/// An IPv6 UDP packet with `ext` (a chain of extension headers ending in next header 17)
/// spliced in after the fixed header; `first` is the fixed header's next header.
fn with_extension_headers(first: u8, ext: &[u8]) -> Vec<u8> {
    let plain = udp_packet(true, 4);
    let mut bytes = plain[..40].to_vec();
    bytes[6] = first;
    bytes.extend_from_slice(ext);
    bytes.extend_from_slice(&plain[40..]);
    let len = u16::try_from(bytes.len() - 40).unwrap();
    bytes[4..6].copy_from_slice(&len.to_be_bytes());
    bytes
}

#[test]
fn ipv6_quote_walks_hop_by_hop_routing_destination_fragment_and_ah_headers() {
    let chain = [
        // Hop-by-hop → routing: 8 bytes.
        &[43, 0, 1, 4, 0, 0, 0, 0][..],
        // Routing → destination options: 8 bytes.
        &[60, 0, 0, 0, 0, 0, 0, 0][..],
        // Destination options → fragment: 16 bytes.
        &[44, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0][..],
        // Fragment → AH: offset 0 with M set (a first fragment).
        &[51, 0, 0, 1, 0, 0, 0, 42][..],
        // AH → UDP: payload len 2 → (2 + 2) × 4 = 16 bytes.
        &[17, 2, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0][..],
    ]
    .concat();
    let bytes = with_extension_headers(0, &chain);
    let q = parse_quoted(IpVersion::V6, &bytes).unwrap();
    assert_eq!((q.protocol, q.fragment_offset), (17, 0));
    assert_eq!(q.ports, Some((5353, 9)));
    assert_eq!(q.transport.len(), 12);
    // Cut inside the chain: the transport header's place is unknown.
    assert_eq!(
        parse_quoted(IpVersion::V6, &bytes[..40 + 20]),
        Err(WireError::Truncated)
    );
}

#[test]
fn ipv6_quote_with_too_many_extension_headers_is_refused() {
    let chain: Vec<u8> = (0..20).flat_map(|_| [60, 0, 1, 4, 0, 0, 0, 0]).collect();
    let bytes = with_extension_headers(60, &chain);
    assert_eq!(
        parse_quoted(IpVersion::V6, &bytes),
        Err(WireError::TooManyExtensionHeaders)
    );
}

#[test]
fn a_quoted_non_initial_fragment_has_no_ports() {
    let mut v4 = udp_packet(false, 16);
    v4[6..8].copy_from_slice(&2u16.to_be_bytes()); // offset 16 bytes
    let q = parse_quoted(IpVersion::V4, &v4).unwrap();
    assert_eq!(
        (q.fragment_offset, q.ports, q.transport),
        (16, None, &[][..])
    );
    assert_eq!(q.protocol, 17);
    // IPv6: fragment header with offset 24 (3 × 8), M clear.
    let v6 = with_extension_headers(44, &[17, 0, 0, 24, 0, 0, 0, 9]);
    let q = parse_quoted(IpVersion::V6, &v6).unwrap();
    assert_eq!((q.fragment_offset, q.ports, q.tcp_seq), (24, None, None));
    assert_eq!(q.protocol, 17);
}

#[test]
fn a_quote_of_the_other_family_is_bad_version() {
    assert_eq!(
        parse_quoted(IpVersion::V4, &udp_packet(true, 0)),
        Err(WireError::BadVersion)
    );
    assert_eq!(
        parse_quoted(IpVersion::V6, &[0x45; 60]),
        Err(WireError::BadVersion)
    );
    assert_eq!(parse_quoted(IpVersion::V4, &[]), Err(WireError::Truncated));
}

#[test]
fn an_esp_quote_names_esp_and_gives_no_ports() {
    let bytes = with_extension_headers(50, &[0, 0, 0, 1, 0, 0, 0, 1]);
    let q = parse_quoted(IpVersion::V6, &bytes).unwrap();
    assert_eq!((q.protocol, q.ports), (50, None));
}

// ---------------------------------------------------------------------------------------
// Building an error about an offending packet.

fn emit_error(v6: bool, message: ErrorMessage, offending: &[u8]) -> Vec<u8> {
    let (ours, _) = addrs(v6);
    let mut buf = vec![0u8; 2000];
    let n = emit_ip_icmp_error(ours, 64, &message, offending, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

#[test]
fn rfc1812_4_3_2_3_icmpv4_error_quotes_as_much_as_fits_in_576_bytes() {
    let offending = udp_packet(false, 1472); // a 1500-byte packet
    let port = ErrorMessage::DstUnreachable {
        code: icmp::V4_UNREACH_PORT,
        next_hop_mtu: 0,
    };
    let bytes = emit_error(false, port, &offending);
    assert_eq!(bytes.len(), MAX_ERROR_LEN_V4);
    let (message, quote) = etherparse_error(&bytes);
    assert_eq!(message, port);
    assert_eq!(quote, &offending[..576 - 20 - 8]);
    // A small packet is quoted whole.
    let small = udp_packet(false, 32);
    let bytes = emit_error(false, port, &small);
    assert_eq!(bytes.len(), 20 + 8 + small.len());
    assert_eq!(etherparse_error(&bytes).1, small);
    // The boundary: a packet of exactly 548 bytes fits; one more byte is cut.
    for (len, want) in [(548, 576), (549, 576), (547, 575)] {
        let p = udp_packet(false, len - 28);
        assert_eq!(emit_error(false, port, &p).len(), want, "offending {len}");
    }
}

#[test]
fn rfc4443_2_4_c_icmpv6_error_quotes_as_much_as_fits_in_1280_bytes() {
    let offending = udp_packet(true, 1452); // a 1500-byte packet
    let too_big = ErrorMessage::PacketTooBig { mtu: 1400 };
    let bytes = emit_error(true, too_big, &offending);
    assert_eq!(bytes.len(), MAX_ERROR_LEN_V6);
    let (message, quote) = etherparse_error(&bytes);
    assert_eq!(message, too_big);
    assert_eq!(quote, &offending[..1280 - 40 - 8]);
    for (len, want) in [(1232, 1280), (1233, 1280), (1231, 1279)] {
        let p = udp_packet(true, len - 48);
        assert_eq!(emit_error(true, too_big, &p).len(), want, "offending {len}");
    }
}

#[test]
fn the_error_goes_from_us_back_to_the_offending_source_and_parses_as_sent() {
    for v6 in [false, true] {
        let (ours, peer) = addrs(v6);
        let offending = udp_packet(v6, 8); // peer → us
        let message = ErrorMessage::TimeExceeded { code: 0 };
        let bytes = emit_error(v6, message, &offending);
        let (ip, repr) = parse_ip_icmp(&bytes, Checksum::Verify).unwrap();
        assert_eq!((ip.src_addr(), ip.dst_addr()), (ours, peer));
        assert_eq!(ip.hop_limit(), 64);
        assert_eq!(
            repr,
            IcmpRepr::Error {
                message,
                quote: &offending
            }
        );
    }
}

#[test]
fn link_padding_after_the_offending_packet_is_not_quoted() {
    for v6 in [false, true] {
        let offending = udp_packet(v6, 2);
        let mut padded = offending.clone();
        padded.extend_from_slice(&[0xcc; 10]);
        let bytes = emit_error(v6, ErrorMessage::TimeExceeded { code: 0 }, &padded);
        assert_eq!(etherparse_error(&bytes).1, offending, "v6={v6}");
    }
}

#[test]
fn emitting_an_error_about_a_malformed_packet_is_a_typed_error() {
    let message = ErrorMessage::ParamProblem {
        code: 0,
        pointer: 0,
    };
    let mut buf = [0u8; 1280];
    let v4: IpAddr = V4_SRC.into();
    let v6: IpAddr = V6_SRC.into();
    let cases: [(IpAddr, &[u8], WireError); 5] = [
        (v4, &[], WireError::Truncated),
        (v4, &[0x45; 19], WireError::Truncated),
        (v6, &[0x60; 39], WireError::Truncated),
        (v4, &[0x55; 40], WireError::BadVersion),
        (v4, &udp_packet(true, 0), WireError::AddressFamilyMismatch),
    ];
    for (src, offending, want) in cases {
        assert_eq!(
            emit_ip_icmp_error(src, 64, &message, offending, &mut buf),
            Err(want)
        );
    }
    let offending = udp_packet(false, 100);
    assert_eq!(
        emit_ip_icmp_error(v4, 64, &message, &offending, &mut buf[..20 + 8 + 127]),
        Err(WireError::BufferTooSmall)
    );
    // A header whose own length fields lie is still quoted (what fits of it).
    let mut lying = udp_packet(false, 10);
    lying[2..4].copy_from_slice(&9000u16.to_be_bytes());
    lying[0] = 0x4f;
    let n = emit_ip_icmp_error(v4, 64, &message, &lying, &mut buf).unwrap();
    assert_eq!(n, 20 + 8 + lying.len());
}

// ---------------------------------------------------------------------------------------
// May an error be sent?

fn port_unreachable(v6: bool) -> ErrorMessage {
    ErrorMessage::DstUnreachable {
        code: if v6 {
            icmp::V6_UNREACH_PORT
        } else {
            icmp::V4_UNREACH_PORT
        },
        next_hop_mtu: 0,
    }
}

#[test]
fn errors_about_ordinary_unicast_packets_are_allowed() {
    for v6 in [false, true] {
        let packets = [
            udp_packet(v6, 10),
            tcp_packet(v6, 1, 2, 3, b""),
            icmp_packet(v6, if v6 { 128 } else { 8 }, 0),
        ];
        for packet in &packets {
            for message in known_messages(v6) {
                assert!(
                    may_send_error_about(packet, &message),
                    "v6={v6} {message:?}"
                );
            }
        }
    }
}

#[test]
fn rfc1122_3_2_2_no_error_about_an_icmp_error() {
    for error_type in [3, 4, 5, 11, 12] {
        let packet = icmp_packet(false, error_type, 0);
        assert!(
            !may_send_error_about(&packet, &port_unreachable(false)),
            "type {error_type}"
        );
    }
    // Informational messages are fine; types no RFC defines count as errors.
    for info in [0, 8, 9, 10, 13, 14, 15, 16, 17, 18] {
        assert!(
            may_send_error_about(&icmp_packet(false, info, 0), &port_unreachable(false)),
            "type {info}"
        );
    }
    for unknown in [1, 2, 6, 7, 19, 42, 255] {
        assert!(
            !may_send_error_about(&icmp_packet(false, unknown, 0), &port_unreachable(false)),
            "type {unknown}"
        );
    }
    // An ICMP packet cut before its type byte.
    let packet = icmp_packet(false, 8, 0);
    assert!(!may_send_error_about(
        &packet[..20],
        &port_unreachable(false)
    ));
}

#[test]
fn rfc4443_2_4_e_1_no_error_about_an_icmpv6_error() {
    for error_type in [1, 2, 3, 4, 100, 127] {
        let packet = icmp_packet(true, error_type, 0);
        for message in known_messages(true) {
            assert!(
                !may_send_error_about(&packet, &message),
                "type {error_type}"
            );
        }
    }
    for info in [128, 129, 133, 135, 200] {
        assert!(
            may_send_error_about(&icmp_packet(true, info, 0), &port_unreachable(true)),
            "type {info}"
        );
    }
    let packet = icmp_packet(true, 128, 0);
    assert!(!may_send_error_about(
        &packet[..40],
        &port_unreachable(true)
    ));
}

#[test]
fn rfc4443_2_4_e_2_no_error_about_a_redirect() {
    let packet = icmp_packet(true, 137, 0);
    assert!(!may_send_error_about(&packet, &port_unreachable(true)));
}

#[test]
fn rfc1122_3_2_2_no_error_about_a_broadcast_or_multicast_destination() {
    let peer: IpAddr = V4_DST.into();
    for dst in ["255.255.255.255", "224.0.0.1", "239.255.255.250"] {
        let dst: IpAddr = dst.parse().unwrap();
        let packet = udp_between(peer, dst, 1, 2, b"x");
        for message in known_messages(false) {
            assert!(
                !may_send_error_about(&packet, &message),
                "{dst} {message:?}"
            );
        }
    }
}

#[test]
fn rfc4443_2_4_e_3_no_error_about_a_multicast_destination_except_too_big_and_unknown_option() {
    let peer: IpAddr = V6_DST.into();
    let dst: IpAddr = "ff02::fb".parse().unwrap();
    let packet = udp_between(peer, dst, 1, 2, b"x");
    for message in known_messages(true) {
        let exception = matches!(
            message,
            ErrorMessage::PacketTooBig { .. } | ErrorMessage::ParamProblem { code: 2, .. }
        );
        assert_eq!(
            may_send_error_about(&packet, &message),
            exception,
            "{message:?}"
        );
    }
}

#[test]
fn rfc1122_3_2_2_no_error_about_a_non_initial_fragment() {
    let mut packet = udp_packet(false, 16);
    packet[6..8].copy_from_slice(&0x2001u16.to_be_bytes()); // MF, offset 8
    assert!(!may_send_error_about(&packet, &port_unreachable(false)));
    packet[6..8].copy_from_slice(&0x2000u16.to_be_bytes()); // MF, offset 0: the first
    assert!(may_send_error_about(&packet, &port_unreachable(false)));
}

#[test]
fn no_error_about_a_non_initial_ipv6_fragment() {
    let later = with_extension_headers(44, &[17, 0, 0, 8, 0, 0, 0, 1]);
    let first = with_extension_headers(44, &[17, 0, 0, 1, 0, 0, 0, 1]);
    for message in known_messages(true) {
        assert!(!may_send_error_about(&later, &message), "{message:?}");
        assert!(may_send_error_about(&first, &message), "{message:?}");
    }
    // A first fragment carrying an ICMPv6 error is still an ICMPv6 error.
    let plain = icmp_packet(true, 1, 0);
    let mut frag = plain[..40].to_vec();
    frag[6] = 44;
    frag.extend_from_slice(&[58, 0, 0, 1, 0, 0, 0, 1]);
    frag.extend_from_slice(&plain[40..]);
    assert!(!may_send_error_about(&frag, &port_unreachable(true)));
}

#[test]
fn rfc1122_3_2_2_no_error_when_the_source_is_not_a_single_host() {
    let us: IpAddr = V4_SRC.into();
    for src in [
        "0.0.0.0",
        "0.1.2.3",
        "224.0.0.5",
        "255.255.255.255",
        "240.0.0.1",
        "127.0.0.1",
        "127.9.9.9",
    ] {
        let src: IpAddr = src.parse().unwrap();
        let packet = udp_between(src, us, 1, 2, b"x");
        for message in known_messages(false) {
            assert!(
                !may_send_error_about(&packet, &message),
                "{src} {message:?}"
            );
        }
    }
    // Loopback to loopback never left the host (RFC 1122 §3.2.1.3(g)).
    let lo: IpAddr = Ipv4Addr::LOCALHOST.into();
    let packet = udp_between(lo, lo, 1, 2, b"x");
    assert!(may_send_error_about(&packet, &port_unreachable(false)));
}

#[test]
fn rfc4443_2_4_e_6_no_error_when_the_source_is_not_a_single_node() {
    let us: IpAddr = V6_SRC.into();
    for src in ["::", "ff02::1", "ff05::2", "::1"] {
        let src: IpAddr = src.parse().unwrap();
        let packet = udp_between(src, us, 1, 2, b"x");
        for message in known_messages(true) {
            assert!(
                !may_send_error_about(&packet, &message),
                "{src} {message:?}"
            );
        }
    }
    let lo: IpAddr = Ipv6Addr::LOCALHOST.into();
    let packet = udp_between(lo, lo, 1, 2, b"x");
    assert!(may_send_error_about(&packet, &port_unreachable(true)));
}

#[test]
fn an_ipv6_chain_that_cannot_be_walked_does_not_forbid_a_parameter_problem() {
    // A destination-options header that claims 2 KiB: Parameter Problem is how it is reported.
    let mut bytes = with_extension_headers(60, &[17, 0, 1, 4, 0, 0, 0, 0]);
    bytes[41] = 255;
    let problem = ErrorMessage::ParamProblem {
        code: icmp::V6_PARAM_HEADER_FIELD,
        pointer: 41,
    };
    assert!(may_send_error_about(&bytes, &problem));
}

#[test]
fn short_unknown_or_unsendable_packets_are_never_allowed() {
    assert!(!may_send_error_about(&[], &port_unreachable(false)));
    assert!(!may_send_error_about(&[0x45; 19], &port_unreachable(false)));
    assert!(!may_send_error_about(&[0x60; 39], &port_unreachable(true)));
    assert!(!may_send_error_about(&[0x55; 60], &port_unreachable(false)));
    // Packet Too Big is not an ICMPv4 message.
    let packet = udp_packet(false, 0);
    assert!(!may_send_error_about(
        &packet,
        &ErrorMessage::PacketTooBig { mtu: 1280 }
    ));
}

// ---------------------------------------------------------------------------------------
// Properties.

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The emitter's quote, read back by etherparse and by parse_quoted, gives the ports and
    /// sequence number etherparse reads from the offending packet itself.
    #[test]
    fn quoted_ports_and_seq_agree_with_etherparse_for_any_size(
        v6 in any::<bool>(),
        tcp in any::<bool>(),
        sport in any::<u16>(),
        dport in any::<u16>(),
        seq in any::<u32>(),
        payload in proptest::collection::vec(any::<u8>(), 0..1600),
        message_index in any::<prop::sample::Index>(),
    ) {
        let offending = if tcp {
            tcp_packet(v6, sport, dport, seq, &payload)
        } else {
            let (src, dst) = addrs(v6);
            udp_between(src, dst, sport, dport, &payload)
        };
        let messages = known_messages(v6);
        let message = messages[message_index.index(messages.len())];
        let bytes = emit_error(v6, message, &offending);
        let limit = if v6 { MAX_ERROR_LEN_V6 } else { MAX_ERROR_LEN_V4 };
        prop_assert!(bytes.len() <= limit);
        prop_assert_eq!(bytes.len(), (ip_header_len(v6) + 8 + offending.len()).min(limit));
        let (their_message, their_quote) = etherparse_error(&bytes);
        prop_assert_eq!(their_message, message);
        prop_assert!(offending.starts_with(&their_quote));
        let (_, repr) = parse_ip_icmp(&bytes, Checksum::Verify).unwrap();
        let IcmpRepr::Error { message: ours, quote } = repr else {
            panic!("not an error: {repr:?}");
        };
        prop_assert_eq!(ours, message);
        let q = parse_quoted(version(v6), quote).unwrap();
        let original = SlicedPacket::from_ip(&offending).unwrap();
        let (want_ports, want_seq) = match original.transport {
            Some(TransportSlice::Tcp(t)) => (
                (t.source_port(), t.destination_port()),
                Some(SeqNum::new(t.sequence_number())),
            ),
            Some(TransportSlice::Udp(u)) => ((u.source_port(), u.destination_port()), None),
            t => panic!("unexpected transport {t:?}"),
        };
        prop_assert_eq!(q.ports, Some(want_ports));
        prop_assert_eq!(q.tcp_seq, want_seq);
        let (src, dst) = addrs(v6);
        prop_assert_eq!((q.src, q.dst), (src, dst));
    }

    #[test]
    fn any_error_repr_round_trips(
        v6 in any::<bool>(),
        kind in 0u8..4,
        code in any::<u8>(),
        field in any::<u32>(),
        quote in proptest::collection::vec(any::<u8>(), 0..1400),
    ) {
        let message = match kind {
            0 => ErrorMessage::DstUnreachable {
                code,
                next_hop_mtu: if !v6 && code == 4 { field as u16 } else { 0 },
            },
            1 => ErrorMessage::TimeExceeded { code },
            2 if v6 => ErrorMessage::PacketTooBig { mtu: field },
            2 => ErrorMessage::TimeExceeded { code },
            _ => ErrorMessage::ParamProblem {
                code,
                pointer: if v6 { field } else { field & 0xff },
            },
        };
        let repr = IcmpRepr::Error { message, quote: &quote };
        let bytes = emit(v6, &repr);
        let (_, back) = parse_ip_icmp(&bytes, Checksum::Verify).unwrap();
        prop_assert_eq!(back, repr);
    }

    #[test]
    fn arbitrary_quotes_and_offending_packets_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
        v6 in any::<bool>(),
        message_index in any::<prop::sample::Index>(),
    ) {
        let _ = parse_quoted(IpVersion::V4, &bytes);
        let _ = parse_quoted(IpVersion::V6, &bytes);
        let messages = known_messages(v6);
        let message = messages[message_index.index(messages.len())];
        let _ = may_send_error_about(&bytes, &message);
        let mut buf = [0u8; 1280];
        let (ours, _) = addrs(v6);
        if let Ok(n) = emit_ip_icmp_error(ours, 64, &message, &bytes, &mut buf) {
            prop_assert!(parse_ip_icmp(&buf[..n], Checksum::Verify).is_ok());
        }
    }
}
