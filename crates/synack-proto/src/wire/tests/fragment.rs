//! The IPv6 header chain around a Fragment header: finding it, where a sender cuts, the
//! chain a first fragment must hold; and the Fragment header against etherparse.

use super::support::{V6_DST, V6_SRC};
use crate::wire::ipv6::{self, ChainSplit, HEADER_LEN, NEXT_HEADER_FRAGMENT};
use crate::wire::ipv6_fragment::MAX_OFFSET_UNITS;
use crate::wire::{Ipv6FragmentHeader, Ipv6FragmentRepr, Ipv6Packet, WireError};
use proptest::prelude::*;

const HOP_BY_HOP: u8 = 0;
const ROUTING: u8 = 43;
const AH: u8 = 51;
const DEST_OPTS: u8 = 60;
const TCP: u8 = 6;

/// One extension header of `kind` naming `next`: 8 bytes, routing 16 (Hdr Ext Len 1), AH 12
/// (Payload Len 1), Fragment 8 (offset 0, M set, identification 1).
fn ext_header(kind: u8, next: u8) -> Vec<u8> {
    match kind {
        ROUTING => [vec![next, 1], vec![0; 14]].concat(),
        AH => [vec![next, 1], vec![0; 10]].concat(),
        NEXT_HEADER_FRAGMENT => vec![next, 0, 0, 1, 0, 0, 0, 1],
        _ => [vec![next, 0], vec![0; 6]].concat(),
    }
}

/// An IPv6 packet whose payload is the chain `kinds`, then `upper` bytes of protocol `proto`.
fn chain(kinds: &[u8], proto: u8, upper: &[u8]) -> Vec<u8> {
    let mut payload = Vec::new();
    for (i, &kind) in kinds.iter().enumerate() {
        let next = kinds.get(i + 1).copied().unwrap_or(proto);
        payload.extend(ext_header(kind, next));
    }
    payload.extend_from_slice(upper);
    let mut packet = vec![0u8; HEADER_LEN + payload.len()];
    let mut view = Ipv6Packet::new_unchecked(&mut packet[..]);
    view.set_version_tc_flow(6, 0, 0);
    view.set_payload_len(u16::try_from(payload.len()).unwrap());
    view.set_next_header(kinds.first().copied().unwrap_or(proto));
    view.set_hop_limit(64);
    view.set_src_addr(V6_SRC);
    view.set_dst_addr(V6_DST);
    view.payload_mut().copy_from_slice(&payload);
    packet
}

fn view(bytes: &[u8]) -> Ipv6Packet<&[u8]> {
    Ipv6Packet::new_checked(bytes).unwrap()
}

#[test]
fn rfc8200_4_5_fragment_header_right_after_the_fixed_header() {
    let bytes = chain(&[NEXT_HEADER_FRAGMENT], TCP, &[0; 20]);
    let at = view(&bytes).fragment_header().unwrap();
    assert_eq!(
        at,
        Some(ChainSplit {
            offset: 0,
            next_header_field: 6,
            next_header: NEXT_HEADER_FRAGMENT,
        })
    );
}

#[test]
fn rfc8200_4_5_fragment_header_is_found_behind_hop_by_hop_and_routing() {
    let bytes = chain(&[HOP_BY_HOP, ROUTING, NEXT_HEADER_FRAGMENT], TCP, &[0; 20]);
    let at = view(&bytes).fragment_header().unwrap().unwrap();
    // The unfragmentable part: 40 + 8 (hop-by-hop) + 16 (routing); the routing header's
    // first byte names the Fragment header.
    assert_eq!(at.offset, 24);
    assert_eq!(at.unfragmentable_len(), HEADER_LEN + 24);
    assert_eq!(at.next_header_field, HEADER_LEN + 8);
    assert_eq!(bytes[at.next_header_field], NEXT_HEADER_FRAGMENT);
    let frag = &bytes[HEADER_LEN + at.offset..];
    let repr = Ipv6FragmentRepr::parse(&Ipv6FragmentHeader::new_checked(frag).unwrap()).unwrap();
    assert_eq!(repr.next_header, TCP);
    // Existing callers still see a fragment as an error.
    assert_eq!(view(&bytes).upper_layer(), Err(WireError::Fragmented));
}

#[test]
fn a_packet_without_fragment_header_has_none() {
    let bytes = chain(&[HOP_BY_HOP, DEST_OPTS], TCP, &[0; 20]);
    assert_eq!(view(&bytes).fragment_header(), Ok(None));
    assert_eq!(view(&bytes).upper_layer(), Ok((TCP, 16)));
}

#[test]
fn a_fragment_header_cut_short_is_truncated() {
    let mut bytes = chain(&[HOP_BY_HOP], NEXT_HEADER_FRAGMENT, &[6, 0, 0, 0]);
    assert_eq!(view(&bytes).fragment_header(), Err(WireError::Truncated));
    bytes.truncate(HEADER_LEN + 8);
    Ipv6Packet::new_unchecked(&mut bytes[..]).set_payload_len(8);
    assert_eq!(view(&bytes).fragment_header(), Err(WireError::Truncated));
}

#[test]
fn ah_before_a_fragment_header_is_unsupported_as_for_upper_layer() {
    let bytes = chain(&[AH, NEXT_HEADER_FRAGMENT], TCP, &[0; 20]);
    assert_eq!(
        view(&bytes).fragment_header(),
        Err(WireError::UnsupportedExtensionHeader(AH))
    );
}

#[test]
fn too_long_a_chain_is_refused() {
    let kinds = [DEST_OPTS; ipv6::MAX_EXTENSION_HEADERS + 1];
    let bytes = chain(&kinds, TCP, &[0; 20]);
    assert_eq!(
        view(&bytes).fragment_header(),
        Err(WireError::TooManyExtensionHeaders)
    );
    assert_eq!(
        view(&bytes).per_fragment_headers(),
        Err(WireError::TooManyExtensionHeaders)
    );
}

#[test]
fn rfc8200_4_5_per_fragment_headers_end_after_the_routing_header() {
    // Destination options before the routing header are for the nodes it lists, so they
    // travel in every fragment; those after it are for the destination: fragmentable.
    let bytes = chain(&[HOP_BY_HOP, DEST_OPTS, ROUTING, DEST_OPTS], TCP, &[0; 20]);
    let cut = view(&bytes).per_fragment_headers().unwrap();
    assert_eq!(
        cut,
        ChainSplit {
            offset: 8 + 8 + 16,
            next_header_field: HEADER_LEN + 16,
            next_header: DEST_OPTS,
        }
    );
}

#[test]
fn rfc8200_4_5_per_fragment_headers_without_routing_end_after_hop_by_hop() {
    let bytes = chain(&[HOP_BY_HOP, DEST_OPTS], TCP, &[0; 20]);
    let cut = view(&bytes).per_fragment_headers().unwrap();
    assert_eq!(
        cut,
        ChainSplit {
            offset: 8,
            next_header_field: HEADER_LEN,
            next_header: DEST_OPTS,
        }
    );
}

#[test]
fn rfc8200_4_5_per_fragment_headers_of_a_plain_packet_are_the_fixed_header() {
    for kinds in [&[][..], &[DEST_OPTS][..]] {
        let bytes = chain(kinds, TCP, &[0; 20]);
        let cut = view(&bytes).per_fragment_headers().unwrap();
        assert_eq!(
            cut,
            ChainSplit {
                offset: 0,
                next_header_field: 6,
                next_header: kinds.first().copied().unwrap_or(TCP),
            }
        );
    }
}

#[test]
fn a_packet_that_is_already_a_fragment_has_no_per_fragment_cut() {
    let bytes = chain(&[HOP_BY_HOP, NEXT_HEADER_FRAGMENT], TCP, &[0; 20]);
    assert_eq!(
        view(&bytes).per_fragment_headers(),
        Err(WireError::Fragmented)
    );
}

#[test]
fn rfc7112_skip_extension_headers_walks_fragment_and_ah_to_the_upper_layer() {
    let mut headers = ext_header(DEST_OPTS, NEXT_HEADER_FRAGMENT);
    headers.extend(ext_header(NEXT_HEADER_FRAGMENT, AH));
    headers.extend(ext_header(AH, TCP));
    headers.extend([0u8; 20]);
    assert_eq!(
        ipv6::skip_extension_headers(DEST_OPTS, &headers),
        Ok((TCP, 8 + 8 + 12))
    );
    // A header chain cut inside the AH header is truncated.
    assert_eq!(
        ipv6::skip_extension_headers(DEST_OPTS, &headers[..8 + 8 + 6]),
        Err(WireError::Truncated)
    );
    // ESP and No Next Header end the walk like an upper layer.
    assert_eq!(ipv6::skip_extension_headers(50, &[]), Ok((50, 0)));
    assert_eq!(ipv6::skip_extension_headers(59, &[]), Ok((59, 0)));
}

proptest! {
    /// Every Fragment header synack emits reads the same in etherparse, and every 8 bytes
    /// read the same in both.
    #[test]
    fn fragment_header_agrees_with_etherparse(
        next_header: u8,
        offset_units in 0u16..=MAX_OFFSET_UNITS,
        more_frags: bool,
        ident: u32,
        raw: [u8; 8],
    ) {
        let repr = Ipv6FragmentRepr { next_header, offset_units, more_frags, ident };
        let mut buf = [0u8; 8];
        repr.emit(&mut Ipv6FragmentHeader::new_unchecked(&mut buf[..])).unwrap();
        let (theirs, rest) = etherparse::Ipv6FragmentHeader::from_slice(&buf).unwrap();
        prop_assert!(rest.is_empty());
        prop_assert_eq!(theirs.next_header.0, next_header);
        prop_assert_eq!(theirs.fragment_offset.value(), offset_units);
        prop_assert_eq!(theirs.more_fragments, more_frags);
        prop_assert_eq!(theirs.identification, ident);
        prop_assert_eq!(theirs.to_bytes(), buf);

        let ours = Ipv6FragmentRepr::parse(&Ipv6FragmentHeader::new_checked(&raw[..]).unwrap()).unwrap();
        let (theirs, _) = etherparse::Ipv6FragmentHeader::from_slice(&raw).unwrap();
        prop_assert_eq!(ours.next_header, theirs.next_header.0);
        prop_assert_eq!(ours.offset_units, theirs.fragment_offset.value());
        prop_assert_eq!(ours.more_frags, theirs.more_fragments);
        prop_assert_eq!(ours.ident, theirs.identification);
    }
}
