//! [`fragment_ipv4`] and [`fragment_ipv6`]: RFC 791 and RFC 8200 §4.5 from the sender's
//! side, and the round trip through the reassembler.

use super::support::*;
use crate::frag::{FragError, Fragments, fragment_ipv4, fragment_ipv6};
use crate::wire::{Ipv4Packet, Ipv6FragmentHeader, Ipv6FragmentRepr, Ipv6Packet, WireError};

/// Every fragment, each written into a fresh buffer of exactly `mtu` bytes.
pub(super) fn collect(mut f: Fragments<'_>, mtu: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let count = f.count();
    while let Some(len) = f.next_len() {
        let mut buf = vec![0u8; mtu];
        assert_eq!(f.write_next(&mut buf), Ok(Some(len)));
        buf.truncate(len);
        out.push(buf);
    }
    assert_eq!(f.write_next(&mut [0u8; 8]), Ok(None));
    assert_eq!(out.len(), count);
    out
}

#[test]
fn rfc791_fragments_fit_the_mtu_with_offsets_in_8_octet_units() {
    let data = payload(3000);
    let packet = v4_datagram(42, &[], &data);
    let frags = collect(fragment_ipv4(&packet, 1500).unwrap(), 1500);
    let lens: Vec<usize> = frags.iter().map(Vec::len).collect();
    assert_eq!(lens, [1500, 1500, 20 + 3000 - 2 * 1480]);
    let mut offset = 0;
    for (i, f) in frags.iter().enumerate() {
        let p = Ipv4Packet::new_checked(&f[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(p.ident(), 42);
        assert!(!p.dont_frag());
        assert_eq!(p.more_frags(), i + 1 < frags.len());
        assert_eq!(usize::from(p.frag_offset()), offset);
        assert_eq!(p.payload(), &data[offset..offset + p.payload().len()]);
        offset += p.payload().len();
    }
    assert_eq!(offset, data.len());
}

#[test]
fn rfc791_data_is_cut_at_8_octet_boundaries_below_the_mtu() {
    // 1000 − 20 = 980 octets of room; 976 is the largest multiple of 8.
    let packet = v4_datagram(1, &[], &payload(2000));
    let frags = collect(fragment_ipv4(&packet, 1000).unwrap(), 1000);
    assert_eq!(frags[0].len(), 20 + 976);
    assert_eq!(frags[1].len(), 20 + 976);
    assert_eq!(frags[2].len(), 20 + 2000 - 2 * 976);
}

#[test]
fn a_packet_that_fits_goes_out_unchanged() {
    let mut v4 = v4_datagram(1, &[], &payload(100));
    Ipv4Packet::new_unchecked(&mut v4[..]).set_flags_frag(true, false, 0);
    Ipv4Packet::new_unchecked(&mut v4[..]).fill_checksum();
    let frags = collect(fragment_ipv4(&v4, 120).unwrap(), 120);
    assert_eq!(frags, [v4.clone()], "even with DF set");
    let v6 = v6_datagram(UDP, &payload(100));
    let frags = collect(fragment_ipv6(&v6, 1280, 5).unwrap(), 1280);
    assert_eq!(frags, [v6], "without a Fragment header (RFC 8021)");
    // Link padding after the IP length is not sent.
    let mut padded = v4.clone();
    padded.extend([0; 4]);
    assert_eq!(collect(fragment_ipv4(&padded, 1500).unwrap(), 1500), [v4]);
}

#[test]
fn rfc791_df_set_on_a_packet_larger_than_the_mtu_is_dont_fragment() {
    let mut packet = v4_datagram(1, &[], &payload(100));
    Ipv4Packet::new_unchecked(&mut packet[..]).set_flags_frag(true, false, 0);
    assert_eq!(
        fragment_ipv4(&packet, 100).err(),
        Some(FragError::DontFragment)
    );
}

#[test]
fn an_mtu_that_cannot_carry_a_header_and_8_octets_is_refused() {
    let packet = v4_datagram(1, &[], &payload(100));
    assert_eq!(
        fragment_ipv4(&packet, 27).err(),
        Some(FragError::MtuTooSmall)
    );
    assert_eq!(collect(fragment_ipv4(&packet, 28).unwrap(), 28).len(), 13);
    let v6 = v6_datagram(UDP, &payload(100));
    assert_eq!(
        fragment_ipv6(&v6, 55, 1).err(),
        Some(FragError::MtuTooSmall)
    );
    assert_eq!(collect(fragment_ipv6(&v6, 56, 1).unwrap(), 56).len(), 13);
}

#[test]
fn rfc791_only_options_with_the_copied_flag_repeat_in_later_fragments() {
    // Record route (7: not copied), NOP, router alert (0x94: copied), then EOL padding.
    let options = [7, 7, 4, 0, 0, 0, 0, 1, 0x94, 4, 0, 0];
    let data = payload(64);
    let packet = v4_datagram(3, &options, &data);
    let frags = collect(fragment_ipv4(&packet, 64).unwrap(), 64);
    let first = Ipv4Packet::new_checked(&frags[0][..]).unwrap();
    assert_eq!(
        first.options(),
        options,
        "the first fragment has every option"
    );
    for f in &frags[1..] {
        let p = Ipv4Packet::new_checked(&f[..]).unwrap();
        assert_eq!(p.options(), [0x94, 4, 0, 0]);
        assert!(p.verify_checksum());
    }
    assert_eq!(
        Checked::default().reassemble(t(0), &frags),
        packet,
        "the first fragment's header is the datagram's"
    );
}

#[test]
fn rfc791_a_fragment_cut_again_keeps_its_offset_and_its_mf() {
    let data = payload(96);
    let middle = v4_frag(4, 32, true, &data[32..64]);
    let frags = collect(fragment_ipv4(&middle, 36).unwrap(), 36);
    let fields: Vec<(u16, bool)> = frags
        .iter()
        .map(|f| {
            let p = Ipv4Packet::new_checked(&f[..]).unwrap();
            (p.frag_offset(), p.more_frags())
        })
        .collect();
    assert_eq!(fields, [(32, true), (48, true)]);
    let mut r = Checked::default();
    for f in &frags {
        assert_eq!(r.insert(t(0), f), Ok(None));
    }
    assert_eq!(r.insert(t(0), &v4_frag(4, 0, true, &data[..32])), Ok(None));
    let out = r.insert(t(0), &v4_frag(4, 64, false, &data[64..])).unwrap();
    assert_eq!(out.unwrap().packet(), &v4_datagram(4, &[], &data)[..]);
}

#[test]
fn rfc8200_4_5_fragments_repeat_the_per_fragment_headers_and_carry_the_rest() {
    // Hop-by-hop (per-fragment), then destination options and UDP (fragmentable).
    let mut rest = ext8(UDP).to_vec();
    rest.extend(payload(200));
    let mut p = ext8(DEST_OPTS).to_vec();
    p.extend(&rest);
    let packet = v6_datagram(HOP_BY_HOP, &p);
    let frags = collect(fragment_ipv6(&packet, 120, 0xfeed).unwrap(), 120);
    let mut offset = 0;
    for (i, f) in frags.iter().enumerate() {
        assert!(f.len() <= 120);
        let v = Ipv6Packet::new_checked(&f[..]).unwrap();
        assert_eq!(usize::from(v.payload_len()) + 40, f.len());
        assert_eq!(v.next_header(), HOP_BY_HOP);
        assert_eq!(&f[..4], &packet[..4], "version, class, flow");
        assert_eq!(
            &f[6..40],
            &packet[6..40],
            "next header, hop limit, addresses"
        );
        assert_eq!(
            f[40], 44,
            "the hop-by-hop header now names the Fragment header"
        );
        assert_eq!(&f[41..48], &packet[41..48]);
        let h = Ipv6FragmentRepr::parse(&Ipv6FragmentHeader::new_checked(&f[48..]).unwrap());
        let h = h.unwrap();
        assert_eq!(h.next_header, DEST_OPTS);
        assert_eq!(h.ident, 0xfeed);
        assert_eq!(h.more_frags, i + 1 < frags.len());
        assert_eq!(h.offset_bytes(), offset);
        let data = &f[56..];
        assert_eq!(data, &rest[offset..offset + data.len()]);
        if h.more_frags {
            assert_eq!(data.len() % 8, 0);
        }
        offset += data.len();
    }
    assert_eq!(offset, rest.len());
    assert_eq!(Checked::default().reassemble(t(0), &frags), packet);
}

#[test]
fn a_packet_that_is_already_a_fragment_is_not_cut_again_in_ipv6() {
    let f = v6_frag(1, 0, true, &payload(200));
    assert_eq!(
        fragment_ipv6(&f, 100, 2).err(),
        Some(FragError::Wire(WireError::Fragmented))
    );
}

#[test]
fn write_next_into_a_short_buffer_is_buffer_too_small_and_does_not_advance() {
    let packet = v4_datagram(1, &[], &payload(100));
    let mut f = fragment_ipv4(&packet, 60).unwrap();
    assert_eq!(f.next_len(), Some(60));
    assert_eq!(f.write_next(&mut [0u8; 59]), Err(WireError::BufferTooSmall));
    assert_eq!(f.remaining(), f.count());
    let mut buf = [0u8; 60];
    assert_eq!(f.write_next(&mut buf), Ok(Some(60)));
    assert_eq!(f.remaining(), f.count() - 1);
}

#[test]
fn malformed_packets_are_wire_errors() {
    assert_eq!(
        fragment_ipv4(&[0x45, 0, 0], 1500).err(),
        Some(FragError::Wire(WireError::Truncated))
    );
    let v6 = v6_datagram(UDP, &payload(8));
    assert_eq!(
        fragment_ipv4(&v6, 1500).err(),
        Some(FragError::Wire(WireError::BadHeaderLength))
    );
    let v4 = v4_datagram(1, &[], &payload(40));
    assert_eq!(
        fragment_ipv6(&v4, 1500, 1).err(),
        Some(FragError::Wire(WireError::BadVersion))
    );
}

#[test]
fn fragmenting_then_reassembling_round_trips() {
    let mut r = Checked::default();
    for len in [1, 7, 8, 9, 1000, 1472, 1473, 8000, 65515] {
        let data = payload(len);
        let v4 = v4_datagram(len as u16, &[], &data);
        for mtu in [68, 576, 1500] {
            let frags = collect(fragment_ipv4(&v4, mtu).unwrap(), mtu);
            if frags.len() == 1 {
                assert_eq!(frags[0], v4);
                continue;
            }
            if frags.len() > 64 {
                continue;
            }
            assert_eq!(r.reassemble(t(0), &frags), v4, "len {len} mtu {mtu}");
        }
        if len <= 65535 - 8 {
            let v6 = v6_datagram(UDP, &data);
            for mtu in [1280, 1500] {
                let frags = collect(fragment_ipv6(&v6, mtu, len as u32).unwrap(), mtu);
                if frags.len() > 1 {
                    assert_eq!(r.reassemble(t(0), &frags), v6, "len {len} mtu {mtu}");
                }
            }
        }
    }
    assert!(r.r.is_empty());
}

#[test]
fn rfc8200_4_5_everything_through_the_routing_header_repeats_in_every_fragment() {
    // Hop-by-hop, destination options for the routers, routing: per-fragment. Destination
    // options for the destination, then UDP: fragmentable.
    let mut p = ext8(DEST_OPTS).to_vec();
    p.extend(ext8(ROUTING));
    p.extend(ext8(DEST_OPTS));
    p.extend(ext8(UDP));
    p.extend(payload(300));
    let packet = v6_datagram(HOP_BY_HOP, &p);
    let frags = collect(fragment_ipv6(&packet, 200, 9).unwrap(), 200);
    assert_eq!(frags.len(), 3);
    for f in &frags {
        assert_eq!(&f[6..40 + 16], &packet[6..40 + 16]);
        assert_eq!(
            f[40 + 16],
            44,
            "the routing header names the Fragment header"
        );
        assert_eq!(&f[40 + 17..40 + 24], &packet[40 + 17..40 + 24]);
        assert_eq!(
            f[64], DEST_OPTS,
            "the Fragment header names what the routing header did"
        );
    }
    assert_eq!(Checked::default().reassemble(t(0), &frags), packet);
}

#[test]
fn rfc7112_the_first_fragment_carries_the_whole_header_chain() {
    // Destination options, then a 20-octet TCP header: 28 octets, so the first fragment
    // needs 32 octets of data; 40 + 8 + 24 is too little.
    let mut p = ext8(TCP).to_vec();
    p.extend(payload(200));
    let packet = v6_datagram(DEST_OPTS, &p);
    assert_eq!(
        fragment_ipv6(&packet, 72, 1).err(),
        Some(FragError::MtuTooSmall)
    );
    let frags = collect(fragment_ipv6(&packet, 80, 1).unwrap(), 80);
    assert_eq!(frags[0].len(), 80);
    assert_eq!(Checked::default().reassemble(t(0), &frags), packet);
}
