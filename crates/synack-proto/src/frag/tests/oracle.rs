//! etherparse as an independent oracle: it reads the fragments synack writes and its own
//! defragmenter puts them back together; fragments etherparse writes reassemble here.

use super::fragmenter::collect;
use super::support::*;
use crate::frag::{fragment_ipv4, fragment_ipv6};
use etherparse::defrag::IpDefragPool;
use etherparse::{IpFragOffset, IpNumber, Ipv4Header, Ipv6FlowLabel, Ipv6Header, NetSlice};
use etherparse::{Ipv6FragmentHeader as TheirFragmentHeader, SlicedPacket};

/// A UDP datagram of `len` octets (at least 8) whose length field is right, so etherparse
/// can slice the reassembled packet down to it.
fn udp(len: usize) -> Vec<u8> {
    let mut out = vec![0x30, 0x39, 0x00, 0x35];
    out.extend((len as u16).to_be_bytes());
    out.extend([0, 0]);
    out.extend(payload(len - 8));
    out
}

/// Feeds `frags` to etherparse's defragmenter; returns the reassembled payload and checks
/// every fragment's header as etherparse reads it.
fn etherparse_defrag(frags: &[Vec<u8>], ident: u32) -> Vec<u8> {
    let mut pool: IpDefragPool = IpDefragPool::new();
    let mut done = None;
    for (i, f) in frags.iter().enumerate() {
        let sliced = SlicedPacket::from_ip(f).unwrap_or_else(|e| panic!("fragment {i}: {e}"));
        match &sliced.net {
            Some(NetSlice::Ipv4(v4)) => {
                let h = v4.header().to_header();
                assert_eq!(h.header_checksum, h.calc_header_checksum(), "checksum");
                assert_eq!(u32::from(h.identification), ident);
                assert_eq!(h.more_fragments, i + 1 < frags.len());
                assert!(v4.is_payload_fragmented());
                assert_eq!(usize::from(h.total_len), f.len());
            }
            Some(NetSlice::Ipv6(v6)) => {
                assert!(v6.is_payload_fragmented());
                assert_eq!(usize::from(v6.header().payload_length()) + 40, f.len());
            }
            other => panic!("fragment {i}: {other:?}"),
        }
        let out = pool.process_sliced_packet(&sliced, (), ()).unwrap();
        if let Some(out) = out {
            assert_eq!(i + 1, frags.len(), "complete only with the last fragment");
            done = Some(out.payload);
        }
    }
    done.expect("etherparse reassembled the fragments")
}

#[test]
fn etherparse_reads_our_ipv4_fragments_and_reassembles_them() {
    for (len, mtu) in [(3000, 1500), (100, 68), (9000, 576)] {
        let data = udp(len);
        let packet = v4_datagram(0x1234, &[], &data);
        let frags = collect(fragment_ipv4(&packet, mtu).unwrap(), mtu);
        assert!(frags.len() > 1);
        assert_eq!(
            etherparse_defrag(&frags, 0x1234),
            data,
            "len {len} mtu {mtu}"
        );
    }
}

#[test]
fn etherparse_reads_our_ipv6_fragments_and_reassembles_them() {
    for (len, mtu) in [(3000, 1280), (100, 64), (9000, 1500)] {
        let data = udp(len);
        let packet = v6_datagram(UDP, &data);
        let frags = collect(fragment_ipv6(&packet, mtu, 0xdead_beef).unwrap(), mtu);
        assert!(frags.len() > 1);
        for f in &frags {
            let sliced = SlicedPacket::from_ip(f).unwrap();
            let Some(NetSlice::Ipv6(v6)) = &sliced.net else {
                panic!("not IPv6");
            };
            let frag = v6
                .extensions()
                .clone()
                .into_iter()
                .find_map(|e| match e {
                    etherparse::Ipv6ExtensionSlice::Fragment(f) => Some(f.to_header()),
                    _ => None,
                })
                .expect("a Fragment header");
            assert_eq!(frag.identification, 0xdead_beef);
            assert_eq!(frag.next_header, IpNumber::UDP);
        }
        assert_eq!(
            etherparse_defrag(&frags, 0xdead_beef),
            data,
            "len {len} mtu {mtu}"
        );
    }
}

/// An IPv4 fragment written by etherparse.
fn their_v4_frag(ident: u16, offset: usize, more: bool, data: &[u8]) -> Vec<u8> {
    let mut h = Ipv4Header::new(
        data.len() as u16,
        64,
        IpNumber::UDP,
        V4_SRC.octets(),
        V4_DST.octets(),
    )
    .unwrap();
    h.identification = ident;
    h.dont_fragment = false;
    h.more_fragments = more;
    h.fragment_offset = IpFragOffset::try_new((offset / 8) as u16).unwrap();
    h.header_checksum = h.calc_header_checksum();
    let mut out = h.to_bytes().to_vec();
    out.extend_from_slice(data);
    out
}

/// An IPv6 fragment written by etherparse.
fn their_v6_frag(ident: u32, offset: usize, more: bool, data: &[u8]) -> Vec<u8> {
    let frag = TheirFragmentHeader::new(
        IpNumber::UDP,
        IpFragOffset::try_new((offset / 8) as u16).unwrap(),
        more,
        ident,
    );
    let h = Ipv6Header {
        traffic_class: 0,
        flow_label: Ipv6FlowLabel::ZERO,
        payload_length: (8 + data.len()) as u16,
        next_header: IpNumber::IPV6_FRAGMENTATION_HEADER,
        hop_limit: 64,
        source: V6_SRC.octets(),
        destination: V6_DST.octets(),
    };
    let mut out = h.to_bytes().to_vec();
    out.extend(frag.to_bytes());
    out.extend_from_slice(data);
    out
}

#[test]
fn fragments_written_by_etherparse_reassemble_here() {
    let data = udp(2500);
    let cuts = [(1200, 2500), (0, 600), (600, 1200)];
    let v4: Vec<Vec<u8>> = cuts
        .iter()
        .map(|&(a, b)| their_v4_frag(77, a, b < data.len(), &data[a..b]))
        .collect();
    let v6: Vec<Vec<u8>> = cuts
        .iter()
        .map(|&(a, b)| their_v6_frag(77, a, b < data.len(), &data[a..b]))
        .collect();
    let mut r = Checked::default();
    assert_eq!(r.reassemble(t(0), &v4), v4_datagram(77, &[], &data));
    assert_eq!(r.reassemble(t(0), &v6), v6_datagram(UDP, &data));
}

#[test]
fn etherparse_reads_what_we_reassemble_as_an_unfragmented_packet() {
    let data = udp(2000);
    let mut r = Checked::default();
    for out in [
        r.reassemble(t(0), &v4_split(5, &data, 512)),
        r.reassemble(t(0), &v6_split(5, &data, 512)),
    ] {
        let sliced = SlicedPacket::from_ip(&out).unwrap();
        match &sliced.net {
            Some(NetSlice::Ipv4(v4)) => {
                assert!(!v4.is_payload_fragmented());
                let h = v4.header().to_header();
                assert_eq!(h.header_checksum, h.calc_header_checksum());
                assert_eq!(v4.payload().payload, &data[..]);
            }
            Some(NetSlice::Ipv6(v6)) => {
                assert!(!v6.is_payload_fragmented());
                assert_eq!(v6.payload().payload, &data[..]);
            }
            other => panic!("{other:?}"),
        }
    }
}
