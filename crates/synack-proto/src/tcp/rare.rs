//! State a connection needs only now and then, on the heap only while it is in use: the
//! SACK report of the blocks our ACKs carry (while out-of-order data or a duplicate is to be
//! reported), the scratch buffer for the one segment per trip around the send ring that
//! wraps its end, a RST waiting to be sent, the challenge-ACK budget once one was sent, and
//! the path MTU search back up after the segment size was lowered (RFC 4821). An idle
//! connection pays one pointer (8 bytes) instead of 72.

use super::connection::PendingRst;
use super::plpmtud::Search;
use super::sack_report::SackReport;
use super::seq::SeqNum;
use crate::wire::tcp::SackBlocks;
use alloc::boxed::Box;

/// The boxed part of [`Rare`].
#[derive(Debug, Default)]
struct Parts {
    /// Which SACK blocks our ACKs report (RFC 2018 §4, RFC 2883).
    sack_rx: SackReport,
    /// Reused buffer for the payload of a segment that wraps around the send ring (others
    /// are borrowed from the ring directly); freed with the send buffer's storage.
    scratch: Box<[u8]>,
    /// A RST to send at the next `poll_transmit`.
    rst: Option<PendingRst>,
    /// Start of the current one-second challenge-ACK budget and how much of it is spent
    /// (see `Connection::challenge_ack`); the start is in milliseconds of `Instant`, modulo
    /// 2^32. Kept once it has left its initial `(0, 0)`, which reads the same.
    challenge_window: (u32, u32),
    /// The search back up after the segment size was lowered (RFC 4821), once it was.
    plpmtud: Option<Search>,
}

/// See the module docs: `None` reads as an empty report and no scratch.
#[derive(Debug, Default)]
pub struct Rare(Option<Box<Parts>>);

static EMPTY_REPORT: SackReport = SackReport::EMPTY;

impl Rare {
    /// The SACK report (an empty one when none is allocated).
    pub fn sack_rx(&self) -> &SackReport {
        self.0.as_ref().map_or(&EMPTY_REPORT, |p| &p.sack_rx)
    }

    fn parts(&mut self) -> &mut Parts {
        self.0.get_or_insert_with(Box::default)
    }

    /// Whether a RST waits to be sent.
    pub fn rst_pending(&self) -> bool {
        self.0.as_ref().is_some_and(|p| p.rst.is_some())
    }

    /// Sets (or with `None` drops) the RST to send next.
    pub fn set_rst(&mut self, rst: Option<PendingRst>) {
        if rst.is_some() || self.0.is_some() {
            self.parts().rst = rst;
            self.release_if_unused();
        }
    }

    /// Takes the RST to send, if one waits.
    pub fn take_rst(&mut self) -> Option<PendingRst> {
        let rst = self.0.as_deref_mut()?.rst.take()?;
        self.release_if_unused();
        Some(rst)
    }

    /// The challenge-ACK window: `(start, spent)`.
    pub fn challenge_window(&self) -> (u32, u32) {
        self.0.as_ref().map_or((0, 0), |p| p.challenge_window)
    }

    /// Sets the challenge-ACK window.
    pub fn set_challenge_window(&mut self, window: (u32, u32)) {
        if window != (0, 0) || self.0.is_some() {
            self.parts().challenge_window = window;
            self.release_if_unused();
        }
    }

    /// The path MTU search (RFC 4821), if one runs.
    pub fn plpmtud(&self) -> Option<&Search> {
        self.0.as_ref()?.plpmtud.as_ref()
    }

    /// The path MTU search, mutably, if one runs.
    pub fn plpmtud_mut(&mut self) -> Option<&mut Search> {
        self.0.as_deref_mut()?.plpmtud.as_mut()
    }

    /// The path MTU search, started with `start()` if none runs.
    pub fn plpmtud_or_insert_with(&mut self, start: impl FnOnce() -> Search) -> &mut Search {
        self.parts().plpmtud.get_or_insert_with(start)
    }

    /// Ends the path MTU search.
    pub fn clear_plpmtud(&mut self) {
        if let Some(p) = self.0.as_deref_mut() {
            p.plpmtud = None;
        }
        self.release_if_unused();
    }

    /// [`SackReport::note_received`], allocating the report.
    pub fn note_received(&mut self, seq: SeqNum, block: (SeqNum, SeqNum)) {
        self.parts().sack_rx.note_received(seq, block);
    }

    /// [`SackReport::note_duplicate`], allocating the report.
    pub fn note_duplicate(&mut self, left: SeqNum, right: SeqNum) {
        if left.before(right) {
            self.parts().sack_rx.note_duplicate(left, right);
        }
    }

    /// [`SackReport::blocks`]; frees the box once nothing is left in it.
    pub fn sack_blocks(
        &mut self,
        containing: impl Fn(SeqNum) -> Option<(SeqNum, SeqNum)>,
        rest: impl Iterator<Item = (SeqNum, SeqNum)>,
        max: usize,
    ) -> SackBlocks {
        let Some(p) = self.0.as_deref_mut() else {
            let mut empty = SackReport::EMPTY;
            return empty.blocks(containing, rest, max);
        };
        let out = p.sack_rx.blocks(containing, rest, max);
        self.release_if_unused();
        out
    }

    /// A scratch buffer of at least `len` bytes (its first `len` returned).
    pub fn scratch(&mut self, len: usize) -> &mut [u8] {
        let p = self.parts();
        if p.scratch.len() < len {
            p.scratch = alloc::vec![0; len].into_boxed_slice();
        }
        p.scratch.get_mut(..len).unwrap_or_default()
    }

    /// The first `n` bytes of the scratch buffer.
    pub fn scratch_prefix(&self, n: usize) -> &[u8] {
        self.0
            .as_ref()
            .and_then(|p| p.scratch.get(..n))
            .unwrap_or_default()
    }

    /// Frees the scratch buffer (the send buffer gave back its storage), and the box if
    /// the report is empty too.
    pub fn release_scratch(&mut self) {
        if let Some(p) = self.0.as_deref_mut() {
            p.scratch = Box::default();
        }
        self.release_if_unused();
    }

    fn release_if_unused(&mut self) {
        if self.0.as_ref().is_some_and(|p| {
            p.sack_rx.is_empty()
                && p.scratch.is_empty()
                && p.rst.is_none()
                && p.challenge_window == (0, 0)
                && p.plpmtud.is_none()
        }) {
            self.0 = None;
        }
    }

    /// Heap bytes held: the box and the scratch buffer.
    pub fn allocated_bytes(&self) -> usize {
        self.0
            .as_ref()
            .map_or(0, |p| size_of::<Parts>() + p.scratch.len())
    }
}
