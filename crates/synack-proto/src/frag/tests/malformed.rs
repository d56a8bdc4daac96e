//! Fragments refused on their own: lengths, the largest datagram, RFC 7112's header chain,
//! broken headers. Each is dropped alone and counted.

use super::support::*;
use crate::frag::{FragConfig, FragError};
use crate::wire::{Ipv4Packet, WireError};

#[test]
fn rfc8200_4_5_length_not_a_multiple_of_8_with_m_set_is_dropped() {
    let mut r = Checked::default();
    assert_eq!(
        r.insert(t(0), &v6_frag(1, 0, true, &payload(12))),
        Err(FragError::BadLength)
    );
    assert_eq!(
        r.insert(t(0), &v4_frag(1, 8, true, &payload(9))),
        Err(FragError::BadLength)
    );
    assert!(r.r.is_empty(), "nothing is kept of a bad fragment");
    let c = r.r.counters();
    assert_eq!((c.reasm_reqds, c.in_hdr_errors, c.reasm_fails), (2, 2, 2));
}

#[test]
fn rfc791_the_last_fragment_may_have_any_length() {
    let data = payload(21);
    let out = Checked::default().reassemble(
        t(0),
        &[
            v4_frag(1, 16, false, &data[16..]),
            v4_frag(1, 0, true, &data[..16]),
        ],
    );
    assert_eq!(out, v4_datagram(1, &[], &data));
}

#[test]
fn rfc8200_4_5_offset_plus_length_past_65535_is_dropped() {
    let mut r = Checked::default();
    // The largest offset (8191 × 8 = 65528) with 8 octets ends at 65536.
    assert_eq!(
        r.insert(t(0), &v6_frag(1, 65528, false, &payload(8))),
        Err(FragError::TooLong)
    );
    // 65528 + 7 = 65535 is the largest payload length there is.
    assert_eq!(
        r.insert(t(0), &v6_frag(1, 65528, false, &payload(7))),
        Ok(None)
    );
    // For IPv4 the total length counts the header too: 20 + 65512 + 8 > 65535.
    assert_eq!(
        r.insert(t(0), &v4_frag(1, 65512, false, &payload(8))),
        Err(FragError::TooLong)
    );
    assert_eq!(
        r.insert(t(0), &v4_frag(1, 65504, false, &payload(8))),
        Ok(None)
    );
    assert_eq!(r.r.counters().reasm_too_long, 2);
}

#[test]
fn rfc8200_4_5_unfragmentable_headers_count_toward_the_payload_length() {
    // A hop-by-hop header (8 octets) before the Fragment header: 8 + 65528 + 7 > 65535.
    let mut p = ext8(44).to_vec();
    p.extend(frag_header(UDP, 65528, false, 1));
    p.extend(payload(7));
    let packet = v6_datagram(HOP_BY_HOP, &p);
    assert_eq!(
        Checked::default().insert(t(0), &packet),
        Err(FragError::TooLong)
    );
}

#[test]
fn max_datagram_len_drops_fragments_that_end_past_it() {
    let mut r = Checked::new(FragConfig {
        max_datagram_len: 1000,
        ..FragConfig::default()
    });
    assert_eq!(
        r.insert(t(0), &v4_frag(1, 976, false, &payload(8))),
        Err(FragError::TooLong),
        "20 + 976 + 8 = 1004"
    );
    assert_eq!(
        r.insert(t(0), &v4_frag(1, 968, false, &payload(8))),
        Ok(None)
    );
    assert_eq!(
        r.insert(t(0), &v6_frag(1, 992, false, &payload(9))),
        Err(FragError::TooLong)
    );
}

#[test]
fn a_first_fragment_with_longer_options_can_make_the_datagram_too_long() {
    // Later fragments carry no options, so they pass; the first one's 40 octets of options
    // make the whole 40 octets longer than allowed.
    let mut r = Checked::new(FragConfig {
        max_datagram_len: 100,
        ..FragConfig::default()
    });
    let options = [1u8; 40];
    assert_eq!(
        r.insert(t(0), &v4_frag(1, 16, false, &payload(64))),
        Ok(None)
    );
    assert_eq!(
        r.insert(t(0), &v4_frag_opts(1, &options, 0, true, &payload(16))),
        Err(FragError::TooLong)
    );
    assert!(r.r.is_empty());
    assert_eq!(r.r.counters().reasm_too_long, 1);
}

#[test]
fn an_empty_fragment_is_dropped() {
    let mut r = Checked::default();
    assert_eq!(
        r.insert(t(0), &v4_frag(1, 8, true, &[])),
        Err(FragError::Empty)
    );
    assert_eq!(
        r.insert(t(0), &v6_frag(1, 8, false, &[])),
        Err(FragError::Empty)
    );
    assert!(r.r.is_empty());
}

#[test]
fn rfc7112_tiny_first_fragment_without_the_transport_header_is_dropped() {
    // 8 octets of a TCP header: the ports and the sequence number, not the flags.
    let mut r = Checked::default();
    let tcp = payload(40);
    assert_eq!(
        r.insert(t(0), &v6_frag_of(TCP, 1, 0, true, &tcp[..8])),
        Err(FragError::IncompleteHeaderChain)
    );
    assert_eq!(
        r.insert(t(0), &v6_frag_of(TCP, 1, 0, true, &tcp[..16])),
        Err(FragError::IncompleteHeaderChain)
    );
    assert!(r.r.is_empty());
    assert_eq!(r.r.counters().in_hdr_errors, 2);
    // With the whole 20-octet header it is taken.
    assert_eq!(
        r.insert(t(0), &v6_frag_of(TCP, 1, 0, true, &tcp[..24])),
        Ok(None)
    );
    let out = r
        .insert(t(0), &v6_frag_of(TCP, 1, 24, false, &tcp[24..]))
        .unwrap();
    assert_eq!(out.unwrap().packet(), &v6_datagram(TCP, &tcp)[..]);
}

#[test]
fn rfc7112_first_fragment_whose_extension_headers_are_cut_is_dropped() {
    // Destination options of 16 octets, of which the first fragment has 8.
    let mut headers = vec![UDP, 1];
    headers.extend([0u8; 14]);
    headers.extend(payload(16));
    let mut r = Checked::default();
    assert_eq!(
        r.insert(t(0), &v6_frag_of(DEST_OPTS, 1, 0, true, &headers[..8])),
        Err(FragError::IncompleteHeaderChain)
    );
    assert_eq!(
        r.insert(t(0), &v6_frag_of(DEST_OPTS, 1, 0, true, &headers[..16])),
        Err(FragError::IncompleteHeaderChain),
        "the options are there, the UDP header is not"
    );
    assert_eq!(
        r.insert(t(0), &v6_frag_of(DEST_OPTS, 1, 0, true, &headers[..24])),
        Ok(None)
    );
}

#[test]
fn rfc7112_later_fragments_need_no_upper_layer_header() {
    let mut r = Checked::default();
    let tcp = payload(48);
    assert_eq!(
        r.insert(t(0), &v6_frag_of(TCP, 1, 40, false, &tcp[40..])),
        Ok(None)
    );
    assert_eq!(
        r.insert(t(0), &v6_frag_of(TCP, 1, 24, true, &tcp[24..32])),
        Ok(None)
    );
}

#[test]
fn rfc7112_no_next_header_needs_nothing_after_it() {
    let mut r = Checked::default();
    assert_eq!(
        r.insert(t(0), &v6_frag_of(59, 1, 0, true, &payload(8))),
        Ok(None)
    );
}

#[test]
fn broken_headers_are_wire_errors() {
    let mut r = Checked::default();
    let mut bad_sum = v4_frag(1, 0, true, &payload(8));
    bad_sum[10] ^= 0xff;
    assert_eq!(
        r.insert(t(0), &bad_sum),
        Err(FragError::Wire(WireError::BadChecksum))
    );
    let mut short = v4_frag(1, 0, true, &payload(8));
    Ipv4Packet::new_unchecked(&mut short[..]).set_total_len(60);
    Ipv4Packet::new_unchecked(&mut short[..]).fill_checksum();
    assert_eq!(
        r.insert(t(0), &short),
        Err(FragError::Wire(WireError::BadTotalLength))
    );
    let mut cut = v6_frag(1, 0, true, &payload(8));
    cut.truncate(44);
    assert_eq!(
        r.insert(t(0), &cut),
        Err(FragError::Wire(WireError::BadTotalLength))
    );
    assert_eq!(
        r.insert(t(0), &[]),
        Err(FragError::Wire(WireError::Truncated))
    );
    assert_eq!(
        r.insert(t(0), &[0x50; 40]),
        Err(FragError::Wire(WireError::BadVersion))
    );
    assert!(r.r.is_empty());
    let c = r.r.counters();
    assert_eq!((c.reasm_reqds, c.in_hdr_errors, c.reasm_fails), (5, 5, 5));
}
