//! The sequence space one direction of a capture has shown, whatever the segmentation.
//!
//! A capture sees data cut in many ways: GSO super-segments, retransmissions that the sender
//! collapsed or split at other boundaries than the original, window probes later resent with
//! more data, copies lost before the capture point. Counting and classifying segments by
//! their own boundaries counts bytes twice; this tracks the *coverage* instead, as sorted,
//! disjoint ranges that merge as they meet, so a segment's new bytes are exactly the part of
//! it no earlier segment covered.
//!
//! Sequence numbers wrap modulo 2^32 (RFC 9293 §3.4), so ranges are kept as 64-bit offsets
//! from the first number seen (the ISN when the SYN was captured, or wherever a capture that
//! starts mid-connection begins). Each number is unwrapped to the offset nearest the front
//! (the furthest end seen so far), as a receiver would; data before the first number seen
//! gets a negative offset and still counts. Memory is bounded: past [`MAX_RANGES`] ranges the
//! lowest hole is treated as seen, so a hostile capture of scattered one-byte segments costs
//! at most a few kilobytes, and only an old hole filled afterwards goes uncounted.

use crate::tcp::SeqNum;

/// Most disjoint ranges kept per direction.
pub const MAX_RANGES: usize = 256;

/// Sequence space of one direction that the capture has shown.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    /// The first sequence number seen; offset 0.
    origin: Option<SeqNum>,
    /// The furthest end seen, as a sequence number and as its unwrapped offset.
    front: (SeqNum, i64),
    /// `[start, end)` offsets: sorted, disjoint and not touching, none empty.
    ranges: Vec<(i64, i64)>,
}

impl Seen {
    /// Takes `n` as offset 0 if nothing was seen yet (e.g. from a bare ACK's sequence number).
    pub fn anchor(&mut self, n: SeqNum) {
        if self.origin.is_none() {
            self.origin = Some(n);
            self.front = (n, 0);
        }
    }

    /// `[lo, lo + len)` as offsets, anchoring at `lo` if nothing was seen yet.
    fn unwrap(&mut self, lo: SeqNum, len: u32) -> (i64, i64) {
        self.anchor(lo);
        let start = self.front.1.saturating_add(i64::from(lo - self.front.0));
        (start, start.saturating_add(i64::from(len)))
    }

    /// `[lo, lo + len)` as offsets, without anchoring; `None` before anything was seen.
    fn offsets(&self, lo: SeqNum, len: u32) -> Option<(i64, i64)> {
        self.origin?;
        let start = self.front.1.saturating_add(i64::from(lo - self.front.0));
        Some((start, start.saturating_add(i64::from(len))))
    }

    /// Ranges that overlap or touch `[start, end)`, as an index range into `ranges`.
    fn around(&self, start: i64, end: i64) -> (usize, usize) {
        let i = self.ranges.partition_point(|&(_, e)| e < start);
        let j = self.ranges.partition_point(|&(s, _)| s <= end);
        (i, j.max(i))
    }

    /// How much of `[start, end)` is already covered.
    fn covered(&self, start: i64, end: i64) -> u64 {
        let (i, j) = self.around(start, end);
        self.ranges
            .get(i..j)
            .unwrap_or(&[])
            .iter()
            .map(|&(s, e)| u64::try_from(e.min(end) - s.max(start)).unwrap_or(0))
            .sum()
    }

    /// Is all of `[lo, lo + len)` already seen? (Trivially true when `len` is 0.)
    pub fn covers(&self, lo: SeqNum, len: u32) -> bool {
        match self.offsets(lo, len) {
            _ if len == 0 => true,
            Some((start, end)) => self.covered(start, end) == u64::from(len),
            None => false,
        }
    }

    /// Was any of `[lo, lo + len)` seen before?
    pub fn overlaps(&self, lo: SeqNum, len: u32) -> bool {
        self.offsets(lo, len)
            .is_some_and(|(start, end)| self.covered(start, end) > 0)
    }

    /// Records `[lo, lo + len)` as seen and returns how many of its numbers are new.
    pub fn add(&mut self, lo: SeqNum, len: u32) -> u64 {
        let (start, end) = self.unwrap(lo, len);
        if end > self.front.1 {
            self.front = (lo + len as usize, end);
        }
        if len == 0 {
            return 0;
        }
        let new = u64::from(len).saturating_sub(self.covered(start, end));
        let (i, j) = self.around(start, end);
        let merged = match (
            self.ranges.get(i),
            j.checked_sub(1).and_then(|k| self.ranges.get(k)),
        ) {
            (Some(&(first, _)), Some(&(_, last))) if i < j => (first.min(start), last.max(end)),
            _ => (start, end),
        };
        self.ranges.splice(i..j, [merged]);
        if self.ranges.len() > MAX_RANGES {
            // Forget the lowest hole: the oldest one, the least likely to be filled later.
            let second_end = self.ranges.get(1).map(|&(_, e)| e);
            if let (Some(first), Some(e)) = (self.ranges.first_mut(), second_end) {
                first.1 = e;
                self.ranges.remove(1);
            }
        }
        new
    }

    /// The end of the contiguous run through the first number seen (that number itself when
    /// only a bare segment anchored it); `None` before anything was seen.
    pub fn contig(&self) -> Option<SeqNum> {
        let origin = self.origin?;
        let end = self
            .ranges
            .iter()
            .find(|&&(s, e)| s <= 0 && 0 <= e)
            .map_or(0, |&(_, e)| e);
        Some(origin + (end as u64 as usize))
    }

    /// How many disjoint ranges are kept (for tests of the memory bound).
    #[cfg(test)]
    pub fn ranges(&self) -> usize {
        self.ranges.len()
    }
}
