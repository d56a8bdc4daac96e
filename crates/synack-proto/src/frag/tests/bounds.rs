//! Every bound of [`FragConfig`]: reaching one evicts the oldest datagram or drops the
//! fragment, counts it, and never grows past it.

use super::support::*;
use crate::frag::{DATAGRAM_OVERHEAD, FragConfig, FragError};

#[test]
fn the_defaults_are_linux_s_where_linux_has_a_knob() {
    let cfg = FragConfig::default();
    assert_eq!(cfg.max_bytes, 4 * 1024 * 1024, "ipfrag_high_thresh");
    assert_eq!(cfg.max_datagram_len, 65535);
    assert!(
        cfg.max_fragments >= 65535_usize.div_ceil(1232),
        "a maximal datagram at 1280"
    );
}

#[test]
fn datagram_overhead_is_what_an_abandoned_datagram_costs() {
    let mut r = Checked::default();
    let data = payload(32);
    assert_eq!(r.insert(t(0), &v4_frag(1, 0, true, &data[..16])), Ok(None));
    assert!(r.r.memory_usage() >= DATAGRAM_OVERHEAD + 16);
    assert_eq!(
        r.insert(t(0), &v4_frag(1, 8, true, &data[8..16])),
        Err(FragError::Overlap)
    );
    assert_eq!(r.r.memory_usage(), DATAGRAM_OVERHEAD);
    const { assert!(DATAGRAM_OVERHEAD < 512) };
}

#[test]
fn max_datagrams_evicts_the_oldest_datagram() {
    let data = payload(16);
    let mut r = Checked::new(FragConfig {
        max_datagrams: 3,
        ..FragConfig::default()
    });
    for ident in 1..=4u16 {
        let at = t(u64::from(ident));
        assert_eq!(r.insert(at, &v4_frag(ident, 0, true, &data[..8])), Ok(None));
    }
    assert_eq!(r.r.len(), 3);
    assert_eq!(r.r.counters().reasm_evicted, 1);
    assert_eq!(r.r.counters().reasm_fails, 1);
    // Ident 2 survived and completes; ident 1 was the oldest and is gone, so its last
    // fragment starts over (and evicts ident 3, now the oldest).
    let done = r.insert(t(5), &v4_frag(2, 8, false, &data[8..])).unwrap();
    assert_eq!(done.unwrap().packet(), &v4_datagram(2, &[], &data)[..]);
    assert_eq!(r.insert(t(6), &v4_frag(1, 8, false, &data[8..])), Ok(None));
    assert_eq!(r.r.len(), 3);
    assert_eq!(
        r.r.counters().reasm_evicted,
        1,
        "there was room after ident 2 completed"
    );
}

#[test]
fn max_bytes_evicts_the_oldest_datagrams_to_make_room() {
    let data = payload(4096);
    let mut r = Checked::new(FragConfig {
        max_bytes: 10_000,
        ..FragConfig::default()
    });
    assert_eq!(
        r.insert(t(0), &v4_frag(1, 0, true, &data[..4000])),
        Ok(None)
    );
    assert_eq!(
        r.insert(t(1), &v6_frag(2, 0, true, &data[..4000])),
        Ok(None)
    );
    assert_eq!(r.r.len(), 2);
    assert_eq!(
        r.insert(t(2), &v4_frag(3, 0, true, &data[..4000])),
        Ok(None)
    );
    assert_eq!(r.r.len(), 2, "ident 1 made room");
    assert_eq!(r.r.counters().reasm_evicted, 1);
    // Ident 2 is still there: its last fragment completes it.
    let done = r
        .insert(t(3), &v6_frag(2, 4000, false, &data[4000..]))
        .unwrap();
    assert_eq!(done.unwrap().packet(), &v6_datagram(UDP, &data)[..]);
}

#[test]
fn a_datagram_never_evicts_itself_and_a_fragment_that_cannot_fit_is_dropped() {
    let data = payload(4096);
    let mut r = Checked::new(FragConfig {
        max_bytes: 3000,
        ..FragConfig::default()
    });
    assert_eq!(
        r.insert(t(0), &v4_frag(9, 0, true, &data[..1024])),
        Ok(None)
    );
    assert_eq!(
        r.insert(t(1), &v4_frag(1, 0, true, &data[..2048])),
        Ok(None)
    );
    assert_eq!(r.r.len(), 1, "the older datagram was evicted");
    assert_eq!(
        r.insert(t(2), &v4_frag(1, 2048, true, &data[2048..4000])),
        Err(FragError::NoRoom)
    );
    assert_eq!(r.r.len(), 1, "the datagram itself stays");
    assert_eq!(
        r.insert(t(2), &v4_frag(2, 0, true, &data[..4000])),
        Err(FragError::NoRoom)
    );
    assert_eq!(
        r.r.len(),
        0,
        "a new datagram that cannot fit leaves nothing behind"
    );
    let c = r.r.counters();
    assert_eq!((c.reasm_no_room, c.reasm_evicted), (2, 2));
}

#[test]
fn flood_of_distinct_idents_stays_within_the_byte_bound_and_a_quick_datagram_still_completes() {
    let cfg = FragConfig {
        max_bytes: 64 * 1024,
        max_datagrams: 100_000,
        ..FragConfig::default()
    };
    let mut r = Checked::new(cfg.clone());
    let junk = payload(1480);
    let data = payload(2000);
    let mut peak = 0;
    for i in 0..20_000u32 {
        // First fragments that never complete, from one source, every ident.
        let f = v6_frag(i, 0, true, &junk);
        assert_eq!(r.insert(t(u64::from(i)), &f), Ok(None));
        peak = peak.max(r.r.memory_usage());
        if i == 10_000 {
            // A real datagram whose fragments arrive back to back in the middle of it.
            let frags = v6_split(u32::MAX, &data, 1232);
            let out = r.reassemble(t(u64::from(i)), &frags);
            assert_eq!(out, v6_datagram(UDP, &data));
        }
    }
    assert!(peak <= cfg.max_bytes);
    assert!(
        peak > cfg.max_bytes - 2 * (1480 + 512),
        "the bound is used: {peak}"
    );
    let c = r.r.counters();
    assert_eq!(c.reasm_oks, 1);
    assert_eq!(c.reasm_evicted as usize, 20_000 - r.r.len());
}

#[test]
fn max_fragments_abandons_a_datagram_that_needs_more() {
    let data = payload(40);
    let mut r = Checked::new(FragConfig {
        max_fragments: 4,
        ..FragConfig::default()
    });
    let five = v4_split(1, &data, 8);
    for f in &five[..4] {
        assert_eq!(r.insert(t(0), f), Ok(None));
    }
    assert_eq!(r.insert(t(0), &five[4]), Err(FragError::TooManyFragments));
    assert_eq!(r.r.memory_usage(), DATAGRAM_OVERHEAD);
    assert_eq!(r.insert(t(0), &five[0]), Err(FragError::Abandoned));
    // Four fragments are allowed.
    let four = v4_split(2, &data[..32], 8);
    assert_eq!(four.len(), 4);
    assert_eq!(r.reassemble(t(0), &four), v4_datagram(2, &[], &data[..32]));
    assert_eq!(r.r.counters().reasm_too_many_fragments, 1);
}

#[test]
fn the_fragment_index_never_outgrows_max_fragments() {
    // 64 fragments of 8 octets in reverse order: the index grows to exactly 64 pieces.
    let data = payload(512);
    let mut frags = v4_split(1, &data, 8);
    frags.reverse();
    let mut r = Checked::default();
    let mut peak = 0;
    for f in &frags[..63] {
        assert_eq!(r.insert(t(0), f), Ok(None));
        peak = peak.max(r.r.memory_usage());
    }
    // 512 octets of data at most doubled, 64 pieces of 12 bytes, a 20-byte header.
    assert!(peak <= DATAGRAM_OVERHEAD + 512 + 64 * 12 + 20, "{peak}");
    let out = r.insert(t(0), &frags[63]).unwrap().unwrap();
    assert_eq!(out.packet(), &v4_datagram(1, &[], &data)[..]);
}

#[test]
fn zero_bounds_keep_nothing_and_never_panic() {
    for cfg in [
        FragConfig {
            max_datagrams: 0,
            ..FragConfig::default()
        },
        FragConfig {
            max_bytes: 0,
            ..FragConfig::default()
        },
        FragConfig {
            max_fragments: 0,
            ..FragConfig::default()
        },
        FragConfig {
            max_datagram_len: 0,
            ..FragConfig::default()
        },
    ] {
        let mut r = Checked::new(cfg);
        let out = r.insert(t(0), &v4_frag(1, 0, true, &payload(8)));
        assert!(out.is_err(), "{out:?}");
        assert!(r.r.len() <= 1);
    }
}
