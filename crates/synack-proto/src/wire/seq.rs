//! Sequence-number arithmetic (RFC 9293 §3.4): a `u32` space compared modulo 2^32.
//!
//! [`SeqNum`] deliberately has no `PartialOrd`: the "order" of sequence numbers is
//! not transitive, so comparisons are the explicit [`SeqNum::before`] /
//! [`SeqNum::after`] family, like Linux's `before()`/`after()`. Nothing here panics.

use core::fmt;
use core::ops::{Add, AddAssign, Sub};

/// A TCP sequence number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNum(u32);

impl SeqNum {
    /// Wraps a raw 32-bit value taken from (or destined for) the wire.
    pub const fn new(raw: u32) -> Self {
        SeqNum(raw)
    }

    /// The raw 32-bit value, for the wire.
    pub const fn get(self) -> u32 {
        self.0
    }

    /// `self < other` modulo 2^32 (the signed distance from `other` to `self` is negative).
    pub fn before(self, other: SeqNum) -> bool {
        (self - other) < 0
    }

    /// `self <= other` modulo 2^32.
    pub fn before_eq(self, other: SeqNum) -> bool {
        (self - other) <= 0
    }

    /// `self > other` modulo 2^32.
    pub fn after(self, other: SeqNum) -> bool {
        (self - other) > 0
    }

    /// `self >= other` modulo 2^32.
    pub fn after_eq(self, other: SeqNum) -> bool {
        (self - other) >= 0
    }

    /// `lo <= self < hi` modulo 2^32, measured as offsets from `lo`
    /// (correct for any half-open window of size below 2^31, including an empty one).
    pub fn in_window(self, lo: SeqNum, hi: SeqNum) -> bool {
        self.0.wrapping_sub(lo.0) < hi.0.wrapping_sub(lo.0)
    }

    /// The later of two sequence numbers.
    pub fn max(self, other: SeqNum) -> SeqNum {
        if self.after(other) { self } else { other }
    }

    /// The earlier of two sequence numbers.
    pub fn min(self, other: SeqNum) -> SeqNum {
        if self.before(other) { self } else { other }
    }

    /// The non-negative distance from `earlier` to `self`, or 0 when `self` is before it.
    pub fn since(self, earlier: SeqNum) -> usize {
        usize::try_from((self - earlier).max(0)).unwrap_or(0)
    }
}

impl Add<usize> for SeqNum {
    type Output = SeqNum;
    /// Advances by `rhs` modulo 2^32 (only the low 32 bits of `rhs` matter).
    fn add(self, rhs: usize) -> SeqNum {
        SeqNum(self.0.wrapping_add(rhs as u32))
    }
}

impl AddAssign<usize> for SeqNum {
    fn add_assign(&mut self, rhs: usize) {
        *self = *self + rhs;
    }
}

impl Sub<usize> for SeqNum {
    type Output = SeqNum;
    fn sub(self, rhs: usize) -> SeqNum {
        SeqNum(self.0.wrapping_sub(rhs as u32))
    }
}

impl Sub for SeqNum {
    type Output = i32;
    /// The signed distance from `rhs` to `self`, modulo 2^32.
    fn sub(self, rhs: SeqNum) -> i32 {
        self.0.wrapping_sub(rhs.0) as i32
    }
}

impl fmt::Debug for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SeqNum({})", self.0)
    }
}

impl fmt::Display for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc9293_3_4_comparison_wraps_around_zero() {
        let a = SeqNum::new(u32::MAX - 1);
        let b = SeqNum::new(3);
        assert!(a.before(b));
        assert!(b.after(a));
        assert_eq!(b - a, 5);
        assert_eq!(a + 5, b);
        assert!(SeqNum::new(4).in_window(a, b + 2));
        assert!(!b.in_window(a, b));
        assert!(!a.in_window(a, a), "an empty window holds nothing");
    }

    proptest! {
        #[test]
        fn ordering_is_antisymmetric_and_consistent(x: u32, d in 1u32..(1 << 31)) {
            let a = SeqNum::new(x);
            let b = a + d as usize;
            prop_assert!(a.before(b));
            prop_assert!(!b.before(a));
            prop_assert!(b.after(a));
            prop_assert!(a.before_eq(a) && a.after_eq(a));
            prop_assert_eq!(b - a, d as i32);
            prop_assert_eq!(b.since(a), d as usize);
            prop_assert_eq!(a.since(b), 0);
        }

        #[test]
        fn ordering_is_transitive_within_half_the_space(x: u32, d1 in 1u32..(1 << 29), d2 in 1u32..(1 << 29)) {
            let a = SeqNum::new(x);
            let b = a + d1 as usize;
            let c = b + d2 as usize;
            prop_assert!(a.before(b) && b.before(c) && a.before(c));
            prop_assert!(b.in_window(a, c));
        }
    }
}
