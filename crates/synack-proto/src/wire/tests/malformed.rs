//! Malformed input: every case is a typed error, never a panic.

use super::support::*;
use crate::wire::{Checksum, TcpFlags, TcpPacket, WireError, parse_ip_tcp};

fn v4_packet() -> Vec<u8> {
    let mut tcp = syn_template(b"0123456789");
    tcp.flags = TcpFlags::ACK;
    emit(&ip_v4(), &tcp)
}

fn v6_packet() -> Vec<u8> {
    emit(&ip_v6(), &syn_template(b"0123456789"))
}

/// Re-fills the IPv4 header checksum after a deliberate edit.
fn fix_ipv4_checksum(bytes: &mut [u8]) {
    crate::wire::Ipv4Packet::new_unchecked(&mut bytes[..]).fill_checksum();
}

/// Re-fills the TCP checksum after a deliberate edit (IPv4, fixed 20-byte header).
fn fix_tcp_checksum_v4(bytes: &mut [u8]) {
    TcpPacket::new_unchecked(&mut bytes[20..]).fill_checksum(V4_SRC.into(), V4_DST.into());
}

fn parse(bytes: &[u8]) -> Result<(), WireError> {
    parse_ip_tcp(bytes, Checksum::Verify).map(|_| ())
}

#[test]
fn empty_buffer_is_truncated() {
    assert_eq!(parse(&[]), Err(WireError::Truncated));
}

#[test]
fn unknown_ip_version_is_bad_version() {
    let mut bytes = v4_packet();
    bytes[0] = 0x55;
    assert_eq!(parse(&bytes), Err(WireError::BadVersion));
}

#[test]
fn truncated_ipv4_header_is_truncated() {
    let bytes = v4_packet();
    for len in 1..20 {
        assert_eq!(parse(&bytes[..len]), Err(WireError::Truncated), "len {len}");
    }
}

#[test]
fn truncated_ipv6_header_is_truncated() {
    let bytes = v6_packet();
    for len in 1..40 {
        assert_eq!(parse(&bytes[..len]), Err(WireError::Truncated), "len {len}");
    }
}

#[test]
fn ipv4_ihl_below_5_is_bad_header_length() {
    let mut bytes = v4_packet();
    bytes[0] = 0x44;
    fix_ipv4_checksum(&mut bytes);
    assert_eq!(parse(&bytes), Err(WireError::BadHeaderLength));
}

#[test]
fn ipv4_ihl_past_buffer_is_truncated() {
    let mut bytes = v4_packet();
    bytes.truncate(30);
    bytes[0] = 0x4f; // 60-byte header in a 30-byte buffer
    assert_eq!(parse(&bytes), Err(WireError::Truncated));
}

#[test]
fn ipv4_total_length_larger_than_buffer_is_bad_total_length() {
    let mut bytes = v4_packet();
    let len = u16::try_from(bytes.len() + 1).unwrap();
    bytes[2..4].copy_from_slice(&len.to_be_bytes());
    fix_ipv4_checksum(&mut bytes);
    assert_eq!(parse(&bytes), Err(WireError::BadTotalLength));
}

#[test]
fn ipv4_total_length_smaller_than_header_is_bad_total_length() {
    let mut bytes = v4_packet();
    bytes[2..4].copy_from_slice(&19u16.to_be_bytes());
    fix_ipv4_checksum(&mut bytes);
    assert_eq!(parse(&bytes), Err(WireError::BadTotalLength));
}

#[test]
fn ipv6_payload_length_larger_than_buffer_is_bad_total_length() {
    let mut bytes = v6_packet();
    let len = u16::try_from(bytes.len() - 40 + 1).unwrap();
    bytes[4..6].copy_from_slice(&len.to_be_bytes());
    assert_eq!(parse(&bytes), Err(WireError::BadTotalLength));
}

#[test]
fn ip_length_cutting_into_tcp_header_is_truncated() {
    let mut bytes = v4_packet();
    bytes[2..4].copy_from_slice(&30u16.to_be_bytes());
    fix_ipv4_checksum(&mut bytes);
    assert_eq!(parse(&bytes), Err(WireError::Truncated));
}

#[test]
fn bad_ipv4_header_checksum_is_bad_checksum_unless_ignored() {
    let mut bytes = v4_packet();
    bytes[8] ^= 0x01; // TTL changed, checksum not updated
    assert_eq!(parse(&bytes), Err(WireError::BadChecksum));
    assert!(parse_ip_tcp(&bytes, Checksum::Ignore).is_ok());
}

#[test]
fn bad_tcp_checksum_is_bad_checksum_for_both_families() {
    for mut bytes in [v4_packet(), v6_packet()] {
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        assert_eq!(parse(&bytes), Err(WireError::BadChecksum));
        assert!(parse_ip_tcp(&bytes, Checksum::Ignore).is_ok());
    }
}

#[test]
fn ipv4_more_fragments_is_fragmented() {
    let mut bytes = v4_packet();
    bytes[6] = 0x20; // MF, offset 0
    fix_ipv4_checksum(&mut bytes);
    assert_eq!(parse(&bytes), Err(WireError::Fragmented));
}

#[test]
fn ipv4_nonzero_fragment_offset_is_fragmented() {
    let mut bytes = v4_packet();
    bytes[6..8].copy_from_slice(&1u16.to_be_bytes()); // offset 8 bytes, last fragment
    fix_ipv4_checksum(&mut bytes);
    assert_eq!(parse(&bytes), Err(WireError::Fragmented));
}

#[test]
fn ipv6_fragment_header_is_fragmented() {
    let mut bytes = v6_packet();
    bytes[6] = 44;
    assert_eq!(parse(&bytes), Err(WireError::Fragmented));
}

#[test]
fn ipv6_authentication_header_is_unsupported_extension_header() {
    let mut bytes = v6_packet();
    bytes[6] = 51;
    assert_eq!(
        parse(&bytes),
        Err(WireError::UnsupportedExtensionHeader(51))
    );
}

#[test]
fn ipv6_extension_header_past_payload_is_truncated() {
    let mut bytes = v6_packet();
    bytes[6] = 60;
    bytes[41] = 200; // destination options claiming 1608 bytes
    assert_eq!(parse(&bytes), Err(WireError::Truncated));
}

#[test]
fn ipv6_extension_header_chain_too_long_is_rejected() {
    let mut bytes = v6_packet()[..40].to_vec();
    bytes[6] = 60;
    for _ in 0..20 {
        bytes.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]);
    }
    let len = u16::try_from(bytes.len() - 40).unwrap();
    bytes[4..6].copy_from_slice(&len.to_be_bytes());
    assert_eq!(parse(&bytes), Err(WireError::TooManyExtensionHeaders));
}

#[test]
fn non_tcp_protocol_is_unsupported_protocol() {
    let mut bytes = v4_packet();
    bytes[9] = 17;
    fix_ipv4_checksum(&mut bytes);
    assert_eq!(parse(&bytes), Err(WireError::UnsupportedProtocol(17)));
    let mut bytes = v6_packet();
    bytes[6] = 58;
    assert_eq!(parse(&bytes), Err(WireError::UnsupportedProtocol(58)));
}

#[test]
fn truncated_tcp_header_is_truncated() {
    let mut bytes = v4_packet();
    bytes.truncate(20 + 19);
    bytes[2..4].copy_from_slice(&39u16.to_be_bytes());
    fix_ipv4_checksum(&mut bytes);
    assert_eq!(parse(&bytes), Err(WireError::Truncated));
    assert_eq!(
        TcpPacket::new_checked(&[0u8; 19][..]),
        Err(WireError::Truncated)
    );
}

#[test]
fn tcp_data_offset_below_5_is_bad_header_length() {
    let mut bytes = v4_packet();
    bytes[32] = 4 << 4;
    fix_tcp_checksum_v4(&mut bytes);
    assert_eq!(parse(&bytes), Err(WireError::BadHeaderLength));
}

#[test]
fn tcp_data_offset_past_end_is_data_offset_past_end() {
    let mut bytes = v4_packet();
    bytes.truncate(20 + 40);
    bytes[2..4].copy_from_slice(&60u16.to_be_bytes());
    fix_ipv4_checksum(&mut bytes);
    bytes[32] = 15 << 4; // 60-byte header in a 40-byte segment
    fix_tcp_checksum_v4(&mut bytes);
    assert_eq!(parse(&bytes), Err(WireError::DataOffsetPastEnd));
}

/// A v4 packet whose TCP header carries exactly `options` (padded with EOL to 4).
fn with_options(options: &[u8]) -> Vec<u8> {
    let base = v4_packet();
    let mut padded = options.to_vec();
    while !padded.len().is_multiple_of(4) {
        padded.push(0);
    }
    let mut bytes = base[..40].to_vec();
    bytes.extend_from_slice(&padded);
    bytes[32] = u8::try_from((20 + padded.len()) / 4).unwrap() << 4;
    let total = u16::try_from(bytes.len()).unwrap();
    bytes[2..4].copy_from_slice(&total.to_be_bytes());
    fix_ipv4_checksum(&mut bytes);
    fix_tcp_checksum_v4(&mut bytes);
    bytes
}

#[test]
fn option_with_length_0_is_bad_option_length() {
    assert_eq!(
        parse(&with_options(&[1, 1, 30, 0])),
        Err(WireError::BadOptionLength)
    );
}

#[test]
fn option_with_length_1_is_bad_option_length() {
    assert_eq!(
        parse(&with_options(&[1, 1, 30, 1])),
        Err(WireError::BadOptionLength)
    );
}

#[test]
fn option_running_past_the_header_is_bad_option_length() {
    // Timestamps claiming 10 bytes with only 6 left in the header.
    assert_eq!(
        parse(&with_options(&[1, 1, 8, 10, 0, 0, 0, 0])),
        Err(WireError::BadOptionLength)
    );
    // A kind byte with no room for its length byte.
    assert_eq!(
        parse(&with_options(&[1, 1, 1, 2])),
        Err(WireError::BadOptionLength)
    );
}

#[test]
fn mss_option_with_wrong_length_is_bad_option_length() {
    assert_eq!(
        parse(&with_options(&[2, 3, 5, 1])),
        Err(WireError::BadOptionLength)
    );
}

#[test]
fn well_formed_hand_built_options_parse() {
    let bytes = with_options(&[2, 4, 0x05, 0xb4, 1, 3, 3, 20]);
    let (_, tcp) = parse_ip_tcp(&bytes, Checksum::Verify).unwrap();
    assert_eq!(tcp.options.mss, Some(1460));
    assert_eq!(
        tcp.options.window_scale,
        Some(14),
        "clamped per RFC 7323 §2.3"
    );
}
