//! [`Seen`]: bytes are unique sequence space, whatever the segmentation, modulo 2^32, in
//! bounded memory.

use crate::tcp::SeqNum;
use crate::trace::seen::{MAX_RANGES, Seen};
use proptest::prelude::*;
use std::collections::HashSet;

fn n(raw: u32) -> SeqNum {
    SeqNum::new(raw)
}

#[test]
fn a_retransmission_straddling_two_originals_adds_only_the_lost_part() {
    let mut s = Seen::default();
    assert_eq!(s.add(n(1000), 1000), 1000); // [1000, 2000)
    // [2000, 3000) lost before the capture point.
    assert_eq!(s.add(n(3000), 1000), 1000);
    assert_eq!(s.add(n(4000), 1000), 1000);
    // Resent collapsed into one segment: only [2000, 3000) is new.
    assert_eq!(s.add(n(2000), 3000), 1000);
    assert!(s.covers(n(1000), 4000));
    assert_eq!(s.ranges(), 1);
}

#[test]
fn partial_overlaps_at_either_end_add_only_the_uncovered_part() {
    let mut s = Seen::default();
    assert_eq!(s.add(n(100), 100), 100); // [100, 200)
    assert_eq!(s.add(n(150), 100), 50); // [150, 250): 200..250 new
    assert_eq!(s.add(n(50), 100), 50); // [50, 150): 50..100 new, before the first seen
    assert_eq!(s.add(n(50), 200), 0);
    assert!(s.covers(n(50), 200));
    assert!(!s.covers(n(50), 201));
    assert!(s.overlaps(n(249), 10) && !s.overlaps(n(250), 10));
}

#[test]
fn a_segment_spanning_several_holes_counts_each_hole_once() {
    let mut s = Seen::default();
    for k in 0..5u32 {
        assert_eq!(s.add(n(k * 200), 100), 100); // [0,100) [200,300) … [800,900)
    }
    assert_eq!(s.ranges(), 5);
    assert_eq!(s.add(n(50), 800), 400); // four holes of 100
    assert_eq!(s.ranges(), 1);
    assert_eq!(s.add(n(0), 900), 0);
}

#[test]
fn sequence_numbers_wrapping_past_2_to_32_still_merge() {
    let isn = n(u32::MAX - 99);
    let mut s = Seen::default();
    assert_eq!(s.add(isn, 1), 1); // the SYN
    assert_eq!(s.add(isn + 1, 50), 50); // up to 2^32 - 49
    assert_eq!(s.add(n(10), 40), 40); // [10, 50) after the wrap: a hole [2^32-49, 10)
    assert_eq!(s.ranges(), 2);
    assert_eq!(s.add(isn + 40, 100), 59); // straddles the wrap and both ranges
    assert_eq!(s.ranges(), 1);
    assert_eq!(s.contig(), Some(n(50)));
}

#[test]
fn data_before_the_first_number_seen_counts_once() {
    // A capture that starts mid-connection: the first segment is not the lowest.
    let mut s = Seen::default();
    assert_eq!(s.add(n(5000), 1000), 1000);
    assert_eq!(s.add(n(3000), 1500), 1500);
    assert_eq!(s.add(n(3000), 3000), 500);
    assert_eq!(s.contig(), Some(n(6000)));
}

#[test]
fn contig_is_the_run_through_the_first_number_seen() {
    let mut s = Seen::default();
    assert_eq!(s.contig(), None);
    s.anchor(n(7));
    assert_eq!(s.contig(), Some(n(7)));
    s.add(n(7), 10);
    s.add(n(30), 10);
    assert_eq!(s.contig(), Some(n(17)));
    s.add(n(17), 13);
    assert_eq!(s.contig(), Some(n(40)));
}

#[test]
fn zero_length_adds_nothing_and_covers_trivially() {
    let mut s = Seen::default();
    assert_eq!(s.add(n(1), 0), 0);
    assert!(s.covers(n(1), 0));
    assert!(!s.overlaps(n(1), 0));
    assert_eq!(s.ranges(), 0);
}

#[test]
fn scattered_one_byte_segments_keep_memory_bounded_and_never_count_twice() {
    let mut s = Seen::default();
    let mut total = 0;
    for k in 0..10_000u32 {
        total += s.add(n(k * 2), 1);
        assert!(s.ranges() <= MAX_RANGES);
    }
    assert_eq!(total, 10_000);
    // Everything again, and every hole: the forgotten holes are counted as seen, so the
    // total never exceeds the unique coverage.
    for k in 0..10_000u32 {
        total += s.add(n(k * 2), 2);
    }
    assert!((10_000..=20_000).contains(&total), "{total}");
    assert_eq!(s.ranges(), 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any cuts and order near any ISN, wrap included: the sum of what `add` calls new is
    /// the number of distinct sequence numbers, and `covers`/`overlaps` agree with a set.
    #[test]
    fn new_bytes_sum_to_the_distinct_sequence_numbers(
        isn in any::<u32>(),
        segs in proptest::collection::vec((0u32..4000, 0u32..1500), 1..60),
    ) {
        let mut s = Seen::default();
        let mut set = HashSet::new();
        let mut total = 0;
        for (off, len) in segs {
            let lo = n(isn) + off as usize;
            let covered = (0..len).all(|k| set.contains(&off.wrapping_add(k)));
            let overlapped = (0..len).any(|k| set.contains(&off.wrapping_add(k)));
            prop_assert_eq!(s.covers(lo, len), covered);
            prop_assert_eq!(s.overlaps(lo, len), overlapped);
            total += s.add(lo, len);
            set.extend((0..len).map(|k| off.wrapping_add(k)));
            prop_assert_eq!(total, set.len() as u64);
        }
    }
}
