//! Fragments in any order become the datagram, with the header fixed up so upper layers
//! parse it as an unfragmented packet.

use super::support::*;
use crate::frag::{FragCounters, FragError};
use crate::wire::ip::parse_ip;
use crate::wire::{Checksum, Ipv4Packet};

#[test]
fn rfc815_in_order_fragments_reassemble() {
    let data = payload(3000);
    let mut r = Checked::default();
    let v4 = r.reassemble(t(0), &v4_split(7, &data, 1480));
    assert_eq!(v4, v4_datagram(7, &[], &data));
    let v6 = r.reassemble(t(0), &v6_split(7, &data, 1232));
    assert_eq!(v6, v6_datagram(UDP, &data));
    assert!(r.r.is_empty());
    assert_eq!(r.r.memory_usage(), 0);
    assert_eq!(
        *r.r.counters(),
        FragCounters {
            reasm_reqds: 3 + 3,
            reasm_oks: 2,
            ..FragCounters::default()
        }
    );
}

#[test]
fn rfc815_reverse_order_fragments_reassemble() {
    let data = payload(4000);
    let mut r = Checked::default();
    let mut v4 = v4_split(1, &data, 800);
    v4.reverse();
    assert_eq!(r.reassemble(t(0), &v4), v4_datagram(1, &[], &data));
    let mut v6 = v6_split(1, &data, 800);
    v6.reverse();
    assert_eq!(r.reassemble(t(0), &v6), v6_datagram(UDP, &data));
}

#[test]
fn rfc815_out_of_order_fragments_reassemble() {
    // Holes open and close in every way: the last fragment first, one in the middle of a
    // hole, one closing a hole from each side, the first fragment last but one.
    let data = payload(56);
    let order = [6, 3, 5, 0, 1, 4, 2];
    let mut r = Checked::default();
    let v4 = v4_split(9, &data, 8);
    let v4: Vec<_> = order.iter().map(|&i| v4[i].clone()).collect();
    assert_eq!(r.reassemble(t(0), &v4), v4_datagram(9, &[], &data));
    let v6 = v6_split(9, &data, 8);
    let v6: Vec<_> = order.iter().map(|&i| v6[i].clone()).collect();
    assert_eq!(r.reassemble(t(0), &v6), v6_datagram(UDP, &data));
}

#[test]
fn rfc791_fragments_of_unequal_sizes_reassemble() {
    let data = payload(100);
    let frags = [
        v4_frag(3, 48, true, &data[48..96]),
        v4_frag(3, 0, true, &data[..16]),
        v4_frag(3, 96, false, &data[96..]),
        v4_frag(3, 16, true, &data[16..48]),
    ];
    assert_eq!(
        Checked::default().reassemble(t(0), &frags),
        v4_datagram(3, &[], &data)
    );
}

#[test]
fn rfc791_reassembled_header_clears_mf_and_offset_and_fixes_length_and_checksum() {
    let data = payload(24);
    let out = Checked::default().reassemble(t(0), &v4_split(5, &data, 16));
    let p = Ipv4Packet::new_checked(&out[..]).unwrap();
    assert!(!p.more_frags());
    assert_eq!(p.frag_offset(), 0);
    assert_eq!(usize::from(p.total_len()), 20 + 24);
    assert!(p.verify_checksum());
    assert_eq!(p.ident(), 5);
    let (ip, upper) = parse_ip(&out, Checksum::Verify).unwrap();
    assert_eq!(ip.protocol(), UDP);
    assert_eq!(upper, &data[..]);
}

#[test]
fn rfc791_the_first_fragments_header_and_options_become_the_datagrams() {
    // Record route (7, not copied) then a copied option (0x94, router alert), then EOL.
    let options = [7, 7, 4, 0, 0, 0, 0, 0x94, 4, 0, 0, 0];
    let data = payload(32);
    let frags = [
        v4_frag(8, 16, false, &data[16..]),
        v4_frag_opts(8, &options, 0, true, &data[..16]),
    ];
    let out = Checked::default().reassemble(t(0), &frags);
    assert_eq!(out, v4_datagram(8, &options, &data));
}

#[test]
fn rfc8200_4_5_unfragmentable_headers_are_kept_and_the_next_header_restored() {
    // Hop-by-hop, then the Fragment header, then destination options in the fragmentable
    // part, then UDP.
    let mut fragmentable = ext8(UDP).to_vec();
    fragmentable.extend(payload(40));
    let frag = |offset: usize, more: bool| {
        let end = (offset + 24).min(fragmentable.len());
        let mut p = ext8(44).to_vec();
        p.extend(frag_header(DEST_OPTS, offset, more, 77));
        p.extend_from_slice(&fragmentable[offset..end]);
        v6_datagram(HOP_BY_HOP, &p)
    };
    let out = Checked::default().reassemble(t(0), &[frag(24, false), frag(0, true)]);
    let mut want = ext8(DEST_OPTS).to_vec();
    want.extend(&fragmentable);
    assert_eq!(out, v6_datagram(HOP_BY_HOP, &want));
    let (ip, upper) = parse_ip(&out, Checksum::Verify).unwrap();
    assert_eq!(ip.protocol(), UDP);
    assert_eq!(upper, &payload(40)[..]);
}

#[test]
fn rfc6946_atomic_fragment_is_returned_at_once_without_state() {
    let data = payload(30);
    let mut r = Checked::default();
    let out = r
        .insert(t(0), &v6_frag(1, 0, false, &data))
        .unwrap()
        .unwrap();
    assert_eq!(out.packet(), &v6_datagram(UDP, &data)[..]);
    assert!(r.r.is_empty());
    assert_eq!(r.r.poll_timeout(), None);
    let c = r.r.counters();
    assert_eq!((c.reasm_reqds, c.reasm_oks, c.reasm_atomic), (1, 1, 1));
}

#[test]
fn rfc6946_atomic_fragment_leaves_a_datagram_with_the_same_ident_alone() {
    let data = payload(32);
    let mut r = Checked::default();
    assert_eq!(r.insert(t(0), &v6_frag(4, 0, true, &data[..16])), Ok(None));
    // Same source, destination and identification, and even overlapping offset 0.
    let atomic = r.insert(t(1), &v6_frag(4, 0, false, b"alone")).unwrap();
    assert_eq!(atomic.unwrap().packet(), &v6_datagram(UDP, b"alone")[..]);
    let out = r.insert(t(2), &v6_frag(4, 16, false, &data[16..])).unwrap();
    assert_eq!(out.unwrap().packet(), &v6_datagram(UDP, &data)[..]);
}

#[test]
fn rfc791_fragments_are_told_apart_by_protocol_and_addresses_too() {
    let data = payload(16);
    let mut r = Checked::default();
    let first = v4_frag(2, 0, true, &data[..8]);
    let mut other_proto = v4_frag(2, 8, false, &data[8..]);
    Ipv4Packet::new_unchecked(&mut other_proto[..]).set_protocol(TCP);
    Ipv4Packet::new_unchecked(&mut other_proto[..]).fill_checksum();
    let mut other_src = v4_frag(2, 8, false, &data[8..]);
    Ipv4Packet::new_unchecked(&mut other_src[..]).set_src_addr([192, 0, 2, 99].into());
    Ipv4Packet::new_unchecked(&mut other_src[..]).fill_checksum();
    assert_eq!(r.insert(t(0), &first), Ok(None));
    assert_eq!(r.insert(t(0), &other_proto), Ok(None));
    assert_eq!(r.insert(t(0), &other_src), Ok(None));
    assert_eq!(r.r.len(), 3);
    let done = r.insert(t(0), &v4_frag(2, 8, false, &data[8..])).unwrap();
    assert_eq!(done.unwrap().packet(), &v4_datagram(2, &[], &data)[..]);
}

#[test]
fn rfc8200_4_5_fragments_of_different_identifications_do_not_mix() {
    let data = payload(16);
    let mut r = Checked::default();
    assert_eq!(r.insert(t(0), &v6_frag(1, 0, true, &data[..8])), Ok(None));
    assert_eq!(r.insert(t(0), &v6_frag(2, 8, false, &data[8..])), Ok(None));
    assert_eq!(r.r.len(), 2);
}

#[test]
fn link_padding_after_the_ip_length_is_ignored() {
    let data = payload(16);
    let mut frags = v4_split(6, &data, 8);
    frags[0].extend([0xee; 6]);
    let mut v6 = v6_split(6, &data, 8);
    v6[1].extend([0xee; 6]);
    let mut r = Checked::default();
    assert_eq!(r.reassemble(t(0), &frags), v4_datagram(6, &[], &data));
    assert_eq!(r.reassemble(t(0), &v6), v6_datagram(UDP, &data));
}

#[test]
fn whole_packets_are_not_fragments_and_are_not_counted() {
    let mut r = Checked::default();
    assert_eq!(
        r.insert(t(0), &v4_datagram(1, &[], b"whole")),
        Err(FragError::NotFragmented)
    );
    assert_eq!(
        r.insert(t(0), &v6_datagram(UDP, b"whole")),
        Err(FragError::NotFragmented)
    );
    assert_eq!(*r.r.counters(), FragCounters::default());
}

#[test]
fn a_completed_datagram_frees_everything_and_its_ident_can_be_used_again() {
    let data = payload(64);
    let mut r = Checked::default();
    for round in 0..3 {
        let out = r.reassemble(t(round), &v4_split(11, &data, 16));
        assert_eq!(out, v4_datagram(11, &[], &data));
        assert!(r.r.is_empty());
    }
}
