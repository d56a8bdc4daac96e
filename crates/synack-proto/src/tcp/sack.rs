//! The sender's SACK scoreboard (RFC 6675 §3): which bytes above SND.UNA the peer has
//! reported holding, from the SACK blocks on its ACKs (RFC 2018).
//!
//! Every block is hostile input: one that does not lie within `[SND.UNA, SND.MAX]` is
//! ignored (counted by the caller), and the table keeps at most [`MAX_RANGES`] ranges,
//! dropping the highest when full (losing SACK information only makes the sender more
//! conservative). The table is a `Vec` that is released whenever no hole remains, so an
//! idle connection or one without loss holds no scoreboard memory.
//!
//! What was retransmitted and when lives in [`super::rack`]'s transmission log; the two
//! together give RFC 6675's `IsLost`, `pipe` and `NextSeg`.

use super::seq::SeqNum;
use alloc::vec::Vec;

/// The most disjoint SACKed ranges remembered.
pub const MAX_RANGES: usize = 32;
/// RFC 6675 §2 DupThresh.
pub const DUP_THRESH: usize = 3;

/// What one ACK's SACK blocks told us.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SackUpdate {
    /// Bytes newly marked SACKed.
    pub newly_sacked: usize,
    /// The first block was a D-SACK (RFC 2883 §4): below the cumulative ACK or inside the
    /// second block. It reports a duplicate, so it is not added to the scoreboard.
    pub dsack: Option<(SeqNum, SeqNum)>,
    /// Blocks ignored because they were not within `[SND.UNA, SND.MAX]`.
    pub invalid: usize,
}

/// SACKed ranges above SND.UNA: sorted, disjoint, non-adjacent `[left, right)`.
#[derive(Clone, Debug, Default)]
pub struct Scoreboard {
    ranges: Vec<(SeqNum, SeqNum)>,
}

impl Scoreboard {
    /// No ranges.
    pub const EMPTY: Scoreboard = Scoreboard { ranges: Vec::new() };

    /// Heap bytes held.
    pub fn allocated_bytes(&self) -> usize {
        self.ranges.capacity() * core::mem::size_of::<(SeqNum, SeqNum)>()
    }

    /// No SACK information is held.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The SACKed ranges, ascending.
    #[cfg(test)]
    pub fn ranges(&self) -> &[(SeqNum, SeqNum)] {
        &self.ranges
    }

    /// Takes the SACK blocks of an ACK whose cumulative acknowledgment is `snd_una`
    /// (already applied), with `snd_max` the highest sequence number sent.
    pub fn update(
        &mut self,
        blocks: &[(SeqNum, SeqNum)],
        snd_una: SeqNum,
        snd_max: SeqNum,
    ) -> SackUpdate {
        let mut out = SackUpdate::default();
        let before = self.sacked_bytes();
        for (i, &(left, right)) in blocks.iter().enumerate() {
            if i == 0 && is_dsack(left, right, snd_una, blocks.get(1).copied()) {
                out.dsack = Some((left, right));
                continue;
            }
            let valid = left.before(right)
                && left.after_eq(snd_una)
                && right.before_eq(snd_max)
                && right.since(left) <= snd_max.since(snd_una);
            if !valid {
                out.invalid += 1;
                continue;
            }
            self.insert(left, right);
        }
        out.newly_sacked = self.sacked_bytes().saturating_sub(before);
        out
    }

    /// The cumulative ACK reached `snd_una`: forget what lies below it, and release the
    /// table once empty.
    pub fn ack(&mut self, snd_una: SeqNum) {
        self.ranges.retain(|&(_, r)| r.after(snd_una));
        if let Some(first) = self.ranges.first_mut() {
            first.0 = first.0.max(snd_una);
        }
        if self.ranges.is_empty() {
            self.clear();
        }
    }

    /// Forgets everything and releases the memory (reneging, or the connection ended).
    pub fn clear(&mut self) {
        self.ranges = Vec::new();
    }

    /// Total bytes SACKed.
    pub fn sacked_bytes(&self) -> usize {
        self.ranges.iter().map(|&(l, r)| r.since(l)).sum()
    }

    /// Whether the whole of `[left, right)` is SACKed.
    pub fn covers(&self, left: SeqNum, right: SeqNum) -> bool {
        self.ranges
            .iter()
            .any(|&(l, r)| l.before_eq(left) && right.before_eq(r))
    }

    /// The first SACKed byte at or above `seq`: where a hole starting at `seq` ends.
    pub fn next_sacked(&self, seq: SeqNum) -> Option<SeqNum> {
        self.ranges
            .iter()
            .find(|&&(_, r)| r.after(seq))
            .map(|&(l, _)| l.max(seq))
    }

    /// The first hole (unSACKed run) within `[from, to)`, if any.
    pub fn first_hole(&self, from: SeqNum, to: SeqNum) -> Option<(SeqNum, SeqNum)> {
        let mut start = from;
        for &(l, r) in &self.ranges {
            if r.before_eq(start) {
                continue;
            }
            if l.after(start) {
                break;
            }
            start = r;
        }
        if !start.before(to) {
            return None;
        }
        let end = self.next_sacked(start).map_or(to, |s| s.min(to));
        Some((start, end))
    }

    /// RFC 6675 §4 `IsLost(seq)`: DupThresh discontiguous SACKed ranges lie above `seq`,
    /// or more than (DupThresh − 1) · SMSS SACKed bytes do.
    pub fn is_lost(&self, seq: SeqNum, smss: usize) -> bool {
        let mut ranges = 0;
        let mut bytes = 0;
        for &(l, r) in self.ranges.iter().rev() {
            if r.before_eq(seq) {
                break;
            }
            ranges += 1;
            bytes += r.since(l.max(seq));
        }
        ranges >= DUP_THRESH || bytes > (DUP_THRESH - 1) * smss
    }

    /// Adds `[left, right)`, merging with what it overlaps or touches.
    fn insert(&mut self, left: SeqNum, right: SeqNum) {
        let (mut l, mut r) = (left, right);
        self.ranges.retain(|&(a, b)| {
            let touches = a.before_eq(r) && l.before_eq(b);
            if touches {
                l = l.min(a);
                r = r.max(b);
            }
            !touches
        });
        let at = self
            .ranges
            .iter()
            .position(|&(a, _)| a.after(l))
            .unwrap_or(self.ranges.len());
        if self.ranges.len() >= MAX_RANGES {
            // Full (STYLE R10): keep the lowest ranges, which matter most for recovery.
            if at >= self.ranges.len() {
                return;
            }
            self.ranges.pop();
        }
        self.ranges.insert(at, (l, r));
    }
}

/// RFC 2883 §4: the first block is a D-SACK when it lies below the cumulative ACK, or
/// within the second block.
fn is_dsack(
    left: SeqNum,
    right: SeqNum,
    snd_una: SeqNum,
    second: Option<(SeqNum, SeqNum)>,
) -> bool {
    if !left.before(right) {
        return false;
    }
    right.before_eq(snd_una) || second.is_some_and(|(l, r)| l.before_eq(left) && right.before_eq(r))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn s(n: u32) -> SeqNum {
        SeqNum::new(n)
    }

    const UNA: SeqNum = SeqNum::new(1000);
    const MAX: SeqNum = SeqNum::new(9000);

    #[test]
    fn rfc6675_blocks_merge_into_sorted_disjoint_ranges() {
        let mut sb = Scoreboard::default();
        let u = sb.update(&[(s(3000), s(4000)), (s(5000), s(6000))], UNA, MAX);
        assert_eq!(u.newly_sacked, 2000);
        let u = sb.update(&[(s(4000), s(5000)), (s(2000), s(2500))], UNA, MAX);
        assert_eq!(u.newly_sacked, 1500);
        assert_eq!(sb.ranges(), &[(s(2000), s(2500)), (s(3000), s(6000))]);
        assert_eq!(sb.next_sacked(s(1000)), Some(s(2000)));
        assert_eq!(sb.next_sacked(s(2600)), Some(s(3000)));
        assert_eq!(sb.next_sacked(s(6000)), None);
        assert!(sb.covers(s(3500), s(5500)));
        assert_eq!(sb.first_hole(s(2000), s(7000)), Some((s(2500), s(3000))));
        assert_eq!(sb.first_hole(s(3000), s(7000)), Some((s(6000), s(7000))));
        assert_eq!(sb.first_hole(s(3000), s(6000)), None);
        assert!(!sb.covers(s(2400), s(3100)));
    }

    #[test]
    fn rfc2018_blocks_outside_snd_una_snd_max_are_rejected() {
        let mut sb = Scoreboard::default();
        let u = sb.update(
            &[
                (s(9000), s(9500)),
                (s(500), s(1500)),
                (s(4000), s(3000)),
                (s(2000), s(2000 + (1 << 31))),
            ],
            UNA,
            MAX,
        );
        assert_eq!(u.invalid, 4);
        assert!(sb.is_empty());
        assert_eq!(sb.allocated_bytes(), 0);
    }

    #[test]
    fn rfc2883_first_block_below_ack_or_inside_the_second_is_a_dsack() {
        let mut sb = Scoreboard::default();
        let u = sb.update(&[(s(500), s(1000))], UNA, MAX);
        assert_eq!(u.dsack, Some((s(500), s(1000))));
        let u = sb.update(&[(s(3000), s(3500)), (s(3000), s(4000))], UNA, MAX);
        assert_eq!(u.dsack, Some((s(3000), s(3500))));
        assert_eq!(sb.ranges(), &[(s(3000), s(4000))]);
    }

    #[test]
    fn rfc6675_4_is_lost_after_dupthresh_ranges_or_bytes_above() {
        let mut sb = Scoreboard::default();
        sb.update(&[(s(2000), s(3000)), (s(4000), s(5000))], UNA, MAX);
        assert!(!sb.is_lost(UNA, 1000), "two ranges, 2000 bytes = 2 SMSS");
        sb.update(&[(s(6000), s(6100))], UNA, MAX);
        assert!(sb.is_lost(UNA, 1000), "three discontiguous ranges above");
        assert!(!sb.is_lost(s(3000), 1000));
        let mut sb = Scoreboard::default();
        sb.update(&[(s(2000), s(5001))], UNA, MAX);
        assert!(sb.is_lost(UNA, 1000), "more than 2 SMSS SACKed above");
        assert!(sb.is_lost(s(3000), 1000));
        assert!(!sb.is_lost(s(3001), 1000), "exactly 2 SMSS above");
    }

    #[test]
    fn cumulative_ack_trims_and_frees_the_table() {
        let mut sb = Scoreboard::default();
        sb.update(&[(s(2000), s(3000)), (s(4000), s(5000))], UNA, MAX);
        sb.ack(s(2500));
        assert_eq!(sb.ranges(), &[(s(2500), s(3000)), (s(4000), s(5000))]);
        sb.ack(s(5000));
        assert!(sb.is_empty());
        assert_eq!(sb.allocated_bytes(), 0);
    }

    #[test]
    fn the_table_is_bounded_and_keeps_the_lowest_ranges() {
        let mut sb = Scoreboard::default();
        for i in (0..40u32).rev() {
            sb.update(&[(s(2000 + 100 * i), s(2050 + 100 * i))], UNA, MAX);
        }
        assert_eq!(sb.ranges().len(), MAX_RANGES);
        assert_eq!(sb.ranges()[0], (s(2000), s(2050)));
    }
}
