//! RFC 5722 and RFC 8200 §4.5: an overlap abandons the whole datagram, fragments not yet
//! received included; an exact duplicate is dropped alone. IPv4 gets the same rule.

use super::support::*;
use crate::frag::{FragConfig, FragCounters, FragError};
use crate::time::Duration;

/// Two fragments held of a 24-byte datagram: [0, 8) and [16, 24) (last); hole [8, 16).
fn two_held(r: &mut Checked, data: &[u8]) {
    assert_eq!(r.insert(t(0), &v4_frag(1, 0, true, &data[..8])), Ok(None));
    assert_eq!(
        r.insert(t(0), &v4_frag(1, 16, false, &data[16..])),
        Ok(None)
    );
}

#[test]
fn rfc5722_overlapping_fragment_abandons_the_datagram() {
    let data = payload(24);
    for overlapping in [
        v4_frag(1, 0, true, &data[..16]),   // covers the first and the hole
        v4_frag(1, 8, false, &data[8..24]), // covers the hole and the last
        v4_frag(1, 0, true, &data[..24]),   // covers everything
    ] {
        let mut r = Checked::default();
        two_held(&mut r, &data);
        let before = r.r.memory_usage();
        assert_eq!(r.insert(t(1), &overlapping), Err(FragError::Overlap));
        assert!(r.r.memory_usage() < before, "the buffers are freed at once");
        // The fragment that would have completed it is dropped too.
        assert_eq!(
            r.insert(t(2), &v4_frag(1, 8, true, &data[8..16])),
            Err(FragError::Abandoned)
        );
        let c = r.r.counters();
        assert_eq!((c.reasm_overlaps, c.reasm_fails), (1, 1));
        assert_eq!((c.reasm_abandoned_drops, c.reasm_oks), (1, 0));
    }
}

#[test]
fn rfc5722_overlapping_ipv6_fragment_abandons_the_datagram() {
    let data = payload(24);
    let mut r = Checked::default();
    assert_eq!(r.insert(t(0), &v6_frag(3, 0, true, &data[..16])), Ok(None));
    assert_eq!(
        r.insert(t(0), &v6_frag(3, 8, false, &data[8..])),
        Err(FragError::Overlap)
    );
    assert_eq!(
        r.insert(t(0), &v6_frag(3, 16, false, &data[16..])),
        Err(FragError::Abandoned)
    );
    assert_eq!(r.r.counters().reasm_overlaps, 1);
}

#[test]
fn rfc5722_fragments_of_an_abandoned_datagram_are_dropped_until_it_would_time_out() {
    let data = payload(24);
    let mut r = Checked::default();
    two_held(&mut r, &data);
    assert_eq!(
        r.insert(t(5), &v4_frag(1, 0, true, &data[..16])),
        Err(FragError::Overlap)
    );
    let timeout = FragConfig::default().timeout;
    let deadline = t(0) + timeout;
    assert_eq!(r.r.poll_timeout(), Some(deadline));
    let late = t(0) + timeout - Duration::from_millis(1);
    for f in v4_split(1, &data, 8) {
        assert_eq!(r.insert(late, &f), Err(FragError::Abandoned));
    }
    // The record goes silently (RFC 8200 §4.5: no ICMP for an overlap)...
    assert!(r.expire_all(deadline).is_empty());
    assert!(r.r.is_empty());
    // ...and then the same identification may start afresh.
    assert_eq!(
        r.reassemble(deadline, &v4_split(1, &data, 8)),
        v4_datagram(1, &[], &data)
    );
    assert_eq!(
        r.r.counters().reasm_timeout,
        0,
        "an abandoned datagram does not time out"
    );
}

#[test]
fn rfc8200_4_5_exact_duplicate_is_dropped_alone() {
    let data = payload(24);
    let mut r = Checked::default();
    two_held(&mut r, &data);
    let before = r.r.memory_usage();
    for dup in [
        v4_frag(1, 0, true, &data[..8]),
        v4_frag(1, 16, false, &data[16..]),
    ] {
        assert_eq!(r.insert(t(1), &dup), Err(FragError::Duplicate));
    }
    assert_eq!(r.r.memory_usage(), before);
    let out = r.insert(t(2), &v4_frag(1, 8, true, &data[8..16])).unwrap();
    assert_eq!(out.unwrap().packet(), &v4_datagram(1, &[], &data)[..]);
    assert_eq!(
        *r.r.counters(),
        FragCounters {
            reasm_reqds: 5,
            reasm_oks: 1,
            reasm_duplicates: 2,
            ..FragCounters::default()
        }
    );
}

#[test]
fn rfc8200_4_5_exact_duplicate_of_an_ipv6_fragment_is_dropped_alone() {
    let data = payload(16);
    let mut r = Checked::default();
    let first = v6_frag(8, 0, true, &data[..8]);
    assert_eq!(r.insert(t(0), &first), Ok(None));
    assert_eq!(r.insert(t(0), &first), Err(FragError::Duplicate));
    let out = r.insert(t(0), &v6_frag(8, 8, false, &data[8..])).unwrap();
    assert_eq!(out.unwrap().packet(), &v6_datagram(UDP, &data)[..]);
}

#[test]
fn rfc5722_same_place_with_other_bytes_is_an_overlap_not_a_duplicate() {
    let data = payload(24);
    let mut r = Checked::default();
    two_held(&mut r, &data);
    assert_eq!(
        r.insert(t(1), &v4_frag(1, 0, true, &[0xaa; 8])),
        Err(FragError::Overlap)
    );
}

#[test]
fn rfc5722_a_fragment_inside_data_held_is_an_overlap_unless_it_is_one_exact_piece() {
    let data = payload(40);
    let mut r = Checked::default();
    assert_eq!(r.insert(t(0), &v4_frag(1, 0, true, &data[..32])), Ok(None));
    // The same bytes, but not the same fragment: a re-cut of data held.
    assert_eq!(
        r.insert(t(0), &v4_frag(1, 8, true, &data[8..16])),
        Err(FragError::Overlap)
    );
}

#[test]
fn rfc1858_tiny_fragment_rewriting_the_tcp_header_abandons_the_datagram() {
    // RFC 1858 §4: a fragment at offset 8 (FO=1) that would overwrite the TCP flags of a
    // first fragment already received.
    let mut r = Checked::default();
    let tcp_header = payload(24);
    assert_eq!(r.insert(t(0), &v4_frag(1, 0, true, &tcp_header)), Ok(None));
    let mut evil = tcp_header[8..16].to_vec();
    evil[5] = 0x02; // SYN
    assert_eq!(
        r.insert(t(0), &v4_frag(1, 8, true, &evil)),
        Err(FragError::Overlap)
    );
}

#[test]
fn a_second_end_abandons_the_datagram() {
    let data = payload(32);
    let mut r = Checked::default();
    assert_eq!(
        r.insert(t(0), &v4_frag(1, 16, false, &data[16..24])),
        Ok(None)
    );
    assert_eq!(
        r.insert(t(0), &v4_frag(1, 24, false, &data[24..32])),
        Err(FragError::Inconsistent)
    );
    assert_eq!(
        r.insert(t(0), &v4_frag(1, 0, true, &data[..16])),
        Err(FragError::Abandoned)
    );
    let c = r.r.counters();
    assert_eq!((c.reasm_inconsistent, c.reasm_fails), (1, 1));
}

#[test]
fn data_past_the_end_abandons_the_datagram() {
    let data = payload(32);
    let mut r = Checked::default();
    assert_eq!(
        r.insert(t(0), &v6_frag(1, 8, false, &data[8..16])),
        Ok(None)
    );
    assert_eq!(
        r.insert(t(0), &v6_frag(1, 16, true, &data[16..24])),
        Err(FragError::Inconsistent)
    );
}

#[test]
fn an_end_before_data_held_abandons_the_datagram() {
    let data = payload(32);
    let mut r = Checked::default();
    assert_eq!(
        r.insert(t(0), &v4_frag(1, 16, true, &data[16..24])),
        Ok(None)
    );
    assert_eq!(
        r.insert(t(0), &v4_frag(1, 8, false, &data[8..16])),
        Err(FragError::Inconsistent)
    );
}
