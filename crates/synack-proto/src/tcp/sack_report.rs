//! The receiver's side of SACK: which blocks our ACKs report (RFC 2018 §4) and the
//! duplicate report of D-SACK (RFC 2883).
//!
//! The out-of-order data itself lives in the receive buffer's range table; this keeps
//! only what the table cannot say: which blocks changed most recently, and a duplicate
//! range to report once. It is a fixed 28 bytes and never allocates.

use super::seq::SeqNum;
use crate::wire::tcp::SackBlocks;

/// How many recently changed blocks are remembered (the most an option can carry).
const RECENT: usize = 4;

/// Receiver SACK bookkeeping for one connection.
#[derive(Clone, Copy, Debug, Default)]
pub struct SackReport {
    /// A sequence number inside each recently changed out-of-order block, most recent first.
    recent: [SeqNum; RECENT],
    /// How many entries of `recent` are valid.
    len: u8,
    /// A duplicate range to report in the first block of the next ACK (RFC 2883 §4).
    dsack: Option<(SeqNum, SeqNum)>,
}

impl SackReport {
    /// Nothing remembered, nothing to report.
    pub const EMPTY: SackReport = SackReport {
        recent: [SeqNum::new(0); RECENT],
        len: 0,
        dsack: None,
    };

    /// An out-of-order segment starting at `seq` was stored: its block becomes the first
    /// one reported (RFC 2018 §4: "the first SACK block MUST specify the contiguous block
    /// of data containing the segment which triggered this ACK"). `block` is the whole
    /// out-of-order block that now holds it; older entries inside it are forgotten.
    pub fn note_received(&mut self, seq: SeqNum, block: (SeqNum, SeqNum)) {
        let mut kept = [seq; RECENT];
        let mut n = 1;
        for &s in self.valid() {
            if !s.in_window(block.0, block.1)
                && let Some(slot) = kept.get_mut(n)
            {
                *slot = s;
                n += 1;
            }
        }
        self.recent = kept;
        self.len = n as u8;
    }

    /// A segment (or part of one) `[left, right)` arrived that we already hold: report it
    /// once as a D-SACK block (RFC 2883 §4).
    pub fn note_duplicate(&mut self, left: SeqNum, right: SeqNum) {
        if left.before(right) {
            self.dsack = Some((left, right));
        }
    }

    /// Whether a D-SACK report is waiting to go out.
    pub fn dsack_pending(&self) -> bool {
        self.dsack.is_some()
    }

    /// Nothing to report and nothing remembered: with no out-of-order data either, the
    /// next ACK carries no blocks and [`blocks`](Self::blocks) would change nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0 && self.dsack.is_none()
    }

    /// The blocks for our next ACK, at most `max` of them (3 with timestamps, 4 without):
    /// a pending D-SACK first (followed by the block containing it, if any), then the most
    /// recently changed blocks, then any others from `rest` (highest first). `containing`
    /// finds the out-of-order block holding a sequence number. The D-SACK is consumed.
    pub fn blocks(
        &mut self,
        containing: impl Fn(SeqNum) -> Option<(SeqNum, SeqNum)>,
        rest: impl Iterator<Item = (SeqNum, SeqNum)>,
        max: usize,
    ) -> SackBlocks {
        let mut out = SackBlocks::default();
        let max = max.min(RECENT);
        // The D-SACK block is not compared with the others: a duplicate of a whole block
        // must still be followed by that block, or the sender could not tell it is a D-SACK.
        let skip = usize::from(self.dsack.is_some());
        let push = |out: &mut SackBlocks, b: (SeqNum, SeqNum)| {
            let seen = out.as_slice().get(skip..).is_some_and(|o| o.contains(&b));
            if out.len() < max && !seen {
                out.push(b.0, b.1);
            }
        };
        if let Some((l, r)) = self.dsack.take() {
            out.push(l, r);
            if let Some(b) = containing(l) {
                push(&mut out, b);
            }
        }
        // Drop remembered blocks that are gone (RCV.NXT passed them) while reporting the rest.
        let mut kept = [SeqNum::default(); RECENT];
        let mut n = 0;
        for &s in self.valid() {
            if let Some(b) = containing(s) {
                push(&mut out, b);
                if let Some(slot) = kept.get_mut(n) {
                    *slot = s;
                    n += 1;
                }
            }
        }
        self.recent = kept;
        self.len = n as u8;
        for b in rest {
            if out.len() >= max {
                break;
            }
            push(&mut out, b);
        }
        out
    }

    fn valid(&self) -> &[SeqNum] {
        self.recent.get(..usize::from(self.len)).unwrap_or(&[])
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn s(n: u32) -> SeqNum {
        SeqNum::new(n)
    }

    fn blocks(r: &mut SackReport, ooo: &[(SeqNum, SeqNum)], max: usize) -> SackBlocks {
        let containing = |q: SeqNum| ooo.iter().copied().find(|&(l, e)| q.in_window(l, e));
        r.blocks(containing, ooo.iter().rev().copied(), max)
    }

    #[test]
    fn rfc2018_4_most_recent_block_first_then_recent_ones_then_the_rest() {
        let mut r = SackReport::default();
        r.note_received(s(300), (s(300), s(400)));
        r.note_received(s(500), (s(500), s(600)));
        r.note_received(s(100), (s(100), s(200)));
        let ooo = [
            (s(100), s(200)),
            (s(300), s(400)),
            (s(500), s(600)),
            (s(700), s(800)),
        ];
        let b = blocks(&mut r, &ooo, 4);
        assert_eq!(
            b.as_slice(),
            &[
                (s(100), s(200)),
                (s(500), s(600)),
                (s(300), s(400)),
                (s(700), s(800))
            ]
        );
        assert_eq!(blocks(&mut r, &ooo, 3).len(), 3);
    }

    #[test]
    fn rfc2018_4_a_block_that_grew_moves_to_the_front_once() {
        let mut r = SackReport::default();
        r.note_received(s(100), (s(100), s(200)));
        r.note_received(s(300), (s(300), s(400)));
        r.note_received(s(200), (s(100), s(300)));
        let ooo = [(s(100), s(300)), (s(300), s(400))];
        assert_eq!(
            blocks(&mut r, &ooo, 4).as_slice(),
            &[(s(100), s(300)), (s(300), s(400))]
        );
    }

    #[test]
    fn rfc2883_dsack_goes_first_once_with_its_containing_block_second() {
        let mut r = SackReport::default();
        r.note_received(s(500), (s(500), s(700)));
        r.note_received(s(900), (s(900), s(1000)));
        r.note_duplicate(s(600), s(700));
        let ooo = [(s(500), s(700)), (s(900), s(1000))];
        assert_eq!(
            blocks(&mut r, &ooo, 3).as_slice(),
            &[(s(600), s(700)), (s(500), s(700)), (s(900), s(1000))]
        );
        assert_eq!(
            blocks(&mut r, &ooo, 3).as_slice(),
            &[(s(900), s(1000)), (s(500), s(700))]
        );
    }

    #[test]
    fn rfc2883_a_duplicate_of_a_whole_block_is_followed_by_that_block() {
        let mut r = SackReport::default();
        r.note_received(s(500), (s(500), s(600)));
        r.note_duplicate(s(500), s(600));
        let ooo = [(s(500), s(600))];
        assert_eq!(
            blocks(&mut r, &ooo, 4).as_slice(),
            &[(s(500), s(600)), (s(500), s(600))]
        );
    }

    #[test]
    fn blocks_passed_by_rcv_nxt_are_forgotten() {
        let mut r = SackReport::default();
        r.note_received(s(100), (s(100), s(200)));
        assert!(blocks(&mut r, &[], 4).is_empty());
        assert_eq!(r.len, 0);
    }
}
