//! The receive buffer: in-order bytes the application has not read yet, plus
//! out-of-order bytes that arrived beyond a hole (the reassembler).
//!
//! Layout of the ring, from the oldest unread byte:
//!
//! ```text
//! | readable ... | hole | ooo | hole | ooo ... |  rest of the window  |
//!                ^ offset 0 (RCV.NXT)                                 ^ window()
//! ```
//!
//! The buffer knows nothing about sequence numbers: [`ReceiveBuffer::write_at`] takes
//! an offset relative to the first byte *after* the readable data, which is where
//! the connection's RCV.NXT points, and returns how far RCV.NXT advances.
//!
//! Out-of-order data lives inside the window (capacity − readable) and does not
//! shrink it. It is tracked as a sorted table of disjoint, non-adjacent `[start, end)`
//! ranges holding at most `max_ranges` entries (STYLE R10: every queue is bounded).
//! When the table is full, an out-of-order write that would need a new entry is
//! dropped, but a write at offset 0 (the in-order segment) is **always** accepted,
//! because it never needs an entry: it extends the readable data and swallows any
//! ranges it reaches. A full table therefore cannot stall the connection (the
//! lesson of smoltcp #452).
//!
//! Duplicates and overlaps: data is copied in wherever it lands, so where an accepted
//! write overlaps bytes already held, **the later copy wins**. In a correct stream the
//! bytes are identical, so this only matters for a misbehaving peer.
//!
//! Storage (the byte ring and the range table) is allocated on first use, the ring only
//! as large as the bytes held need (doubling up to the capacity, as the send buffer's),
//! and can be released with [`ReceiveBuffer::shrink_if_empty`], so an idle connection costs no
//! buffer memory; in steady state no operation allocates. Nothing here panics on
//! any input (STYLE R9).

use super::send_buf::{Growth, copy_into, grown, narrow, ring_slices, wide, wrap};
use crate::wire::checksum;
use alloc::boxed::Box;
use alloc::vec::Vec;

/// A bounded receive ring with an out-of-order range table (see the module docs).
#[derive(Default)]
pub struct ReceiveBuffer {
    /// Ring storage: empty until first needed, then grown by doubling as needed, never
    /// beyond `capacity` bytes.
    storage: Box<[u8]>,
    /// The most bytes the buffer will hold, readable and out-of-order together (32 bits:
    /// [`ReceiveBuffer::new`] saturates larger capacities at 4 GiB − 1; a window can
    /// advertise at most 2^30 of them anyway, RFC 7323 §2.3).
    capacity: u32,
    /// Index in `storage` of the oldest readable byte (`< storage.len() <= capacity`).
    head: u32,
    /// Contiguous in-order bytes ready for the application (`<= capacity`).
    readable: u32,
    /// The most entries `ranges` may hold (`<= capacity / 2`).
    max_ranges: u32,
    /// Out-of-order ranges as `[start, end)` offsets from RCV.NXT: sorted, disjoint,
    /// non-adjacent, `0 < start < end <= window()`. The table is boxed and its capacity
    /// reserved to `max_ranges` on the first out-of-order write (a pointer while none came),
    /// and the length never exceeds it.
    ranges: Ranges,
}

/// The out-of-order range table: no allocation, and 8 bytes, until first written.
#[derive(Default)]
#[expect(
    clippy::box_collection,
    reason = "8 bytes in every connection rather than a Vec's 24; the extra allocation is made once, on the first out-of-order segment"
)]
struct Ranges(Option<Box<Vec<(usize, usize)>>>);

impl core::ops::Deref for Ranges {
    type Target = [(usize, usize)];
    fn deref(&self) -> &[(usize, usize)] {
        self.0.as_deref().map_or(&[], |v| v.as_slice())
    }
}

impl Ranges {
    /// Entries reserved.
    fn capacity(&self) -> usize {
        self.0.as_ref().map_or(0, |v| v.capacity())
    }

    /// The table, allocated if it was not.
    fn vec_mut(&mut self) -> &mut Vec<(usize, usize)> {
        self.0.get_or_insert_with(Box::default)
    }

    /// Heap bytes held: the boxed table and its entries.
    fn allocated_bytes(&self) -> usize {
        self.0.as_ref().map_or(0, |v| {
            core::mem::size_of::<Vec<(usize, usize)>>()
                + v.capacity() * core::mem::size_of::<(usize, usize)>()
        })
    }
}

impl ReceiveBuffer {
    /// Creates an empty buffer of `capacity` bytes that tracks at most `max_ranges`
    /// disjoint out-of-order ranges (e.g. 32; 0 means out-of-order data is always
    /// dropped).
    ///
    /// `max_ranges` is clamped to `capacity / 2`, the most disjoint non-adjacent
    /// ranges that can fit beyond offset 0, and `capacity` to `u32::MAX`. Allocates nothing.
    pub fn new(capacity: usize, max_ranges: usize) -> Self {
        let capacity = narrow(capacity);
        ReceiveBuffer {
            storage: Box::default(),
            capacity,
            head: 0,
            readable: 0,
            max_ranges: narrow(max_ranges.min(wide(capacity) / 2)),
            ranges: Ranges::default(),
        }
    }

    /// Takes `other`'s byte storage for its own, as [`SendBuffer::adopt_storage`] does
    /// (same bounds); the out-of-order table is not taken. Returns whether it took it.
    ///
    /// [`SendBuffer::adopt_storage`]: super::send_buf::SendBuffer::adopt_storage
    pub fn adopt_storage(&mut self, other: &mut ReceiveBuffer) -> bool {
        let size = other.storage.len();
        if !self.storage.is_empty()
            || size == 0
            || size > super::send_buf::RECYCLE_MAX
            || size > wide(self.capacity)
        {
            return false;
        }
        self.storage = core::mem::take(&mut other.storage);
        (self.head, self.readable) = (0, 0);
        self.ranges = Ranges::default();
        (other.head, other.readable) = (0, 0);
        other.ranges = Ranges::default();
        true
    }

    /// Heap bytes held right now: the byte storage and the range table, once allocated.
    pub fn allocated_bytes(&self) -> usize {
        self.storage.len() + self.ranges.allocated_bytes()
    }

    /// The most bytes the buffer will hold.
    pub fn capacity(&self) -> usize {
        wide(self.capacity)
    }

    /// Contiguous in-order bytes ready for [`ReceiveBuffer::read`].
    pub fn readable(&self) -> usize {
        wide(self.readable)
    }

    /// Space from RCV.NXT to the end of the buffer: `capacity() - readable()`.
    ///
    /// This is the receive window to advertise. Out-of-order data sits inside it and
    /// does not reduce it.
    pub fn window(&self) -> usize {
        wide(self.capacity.saturating_sub(self.readable))
    }

    /// `true` when the buffer holds no bytes at all: nothing readable and nothing
    /// out of order. (Use `readable() == 0` for "nothing to read".)
    pub fn is_empty(&self) -> bool {
        self.readable == 0 && self.ranges.is_empty()
    }

    /// Total bytes held out of order, beyond the first hole.
    #[cfg(test)]
    pub fn ooo_bytes(&self) -> usize {
        self.ranges.iter().map(|&(s, e)| e.saturating_sub(s)).sum()
    }

    /// Stores `data` at `offset` bytes beyond the readable data (offset 0 is RCV.NXT)
    /// and returns how many bytes became readable, i.e. how far RCV.NXT advances.
    ///
    /// - Bytes that would fall at or past [`ReceiveBuffer::window`] are truncated.
    /// - A write at offset 0 is always accepted. The readable region grows by the
    ///   new run plus every out-of-order range it now reaches, and the return value
    ///   counts all of it.
    /// - A write at `offset > 0` is out of order and returns 0. It is merged with
    ///   any ranges it overlaps or touches. If it touches none and the range table is
    ///   full, it is dropped (nothing is stored); the peer will retransmit.
    /// - Overlapping bytes already held are overwritten: the later copy wins.
    pub fn write_at(&mut self, offset: usize, data: &[u8]) -> usize {
        let window = self.window();
        if offset >= window || data.is_empty() {
            return 0;
        }
        // offset < window <= capacity, so neither sum below can overflow.
        let end = offset + data.len().min(window - offset);
        let data = data.get(..end - offset).unwrap_or_default();
        if offset == 0 {
            if !self.ensure_storage(end) {
                return 0;
            }
            self.store(0, data);
            return self.advance(end);
        }
        let touches = self.ranges.iter().any(|&(s, e)| s <= end && offset <= e);
        if !touches && (self.ranges.len() >= wide(self.max_ranges) || !self.ensure_ranges()) {
            return 0; // Table full: drop; R10 keeps it bounded.
        }
        if !self.ensure_storage(end) {
            return 0;
        }
        self.store(offset, data);
        self.insert_range(offset, end);
        0
    }

    /// Copies `data` into the free room at offset 0 (RCV.NXT) *without* committing it, and
    /// returns its folded checksum sum, exactly as [`checksum::sum`] of `data` would: the
    /// receive checksum taken in the copy into the ring ([`checksum::copy_and_sum`]).
    ///
    /// Nothing the protocol sees changes: the bytes land where no held byte (readable or out of
    /// order) is, and stay invisible until [`ReceiveBuffer::commit_staged`]; if that never
    /// comes (a bad checksum) they are simply overwritten later. `None`, copying nothing,
    /// unless all of `data` fits the window and ends at or before the first out-of-order
    /// range. The ring is grown (as [`ReceiveBuffer::write_at`] would grow it for `data`)
    /// *before* the copy, so nothing moves the staged bytes before the commit; a growth
    /// that fails stages nothing.
    pub fn stage_at_front(&mut self, data: &[u8]) -> Option<u16> {
        let len = data.len();
        if len == 0
            || len > self.window()
            || self.ranges.first().is_some_and(|&(start, _)| start < len)
            || !self.ensure_storage(len)
        {
            return None;
        }
        let readable = wide(self.readable);
        // The free room starts right after the readable bytes and may wrap around the ring.
        let at = wrap(wide(self.head) + readable, self.storage.len());
        let (front, back) = self.storage.split_at_mut_checked(at)?;
        let (a, b) = data.split_at_checked(len.min(back.len()))?;
        let sum_a = checksum::copy_and_sum(back, a);
        if b.is_empty() {
            // The free room did not wrap (the common case): one part, one call.
            return Some(sum_a);
        }
        let sum_b = checksum::copy_and_sum(front, b);
        // RFC 1071 §2(B): a part that starts at an odd offset sums byte-swapped.
        let sum_b = if a.len() % 2 == 1 {
            sum_b.swap_bytes()
        } else {
            sum_b
        };
        Some(checksum::combine(&[sum_a, sum_b]))
    }

    /// Commits `len` bytes that [`ReceiveBuffer::stage_at_front`] just copied (and the caller
    /// has since verified) as the in-order write at offset 0 they are, without copying them
    /// again: the same result, return value included, as `write_at(0, data)` with the staged
    /// `data`. The caller calls it only for the bytes of the last staging, with no other
    /// call on the buffer in between.
    pub fn commit_staged(&mut self, len: usize) -> usize {
        if len == 0 || len > self.window() || wide(self.readable) + len > self.storage.len() {
            return 0;
        }
        self.advance(len)
    }

    /// Copies readable bytes into `out`, frees them (the window opens by as much),
    /// and returns the count.
    pub fn read(&mut self, out: &mut [u8]) -> usize {
        let (a, b) = self.peek_slices();
        // copy_into clamps each copy to the room left in `out`.
        copy_into(out, 0, a);
        copy_into(out, a.len(), b);
        let n = (a.len() + b.len()).min(out.len());
        self.discard(n)
    }

    /// The readable bytes, in order, as up to two borrowed slices (the second is
    /// non-empty only when they wrap around the ring). Follow with
    /// [`ReceiveBuffer::discard`] to free what was consumed.
    pub fn peek_slices(&self) -> (&[u8], &[u8]) {
        if self.readable == 0 {
            return (&[], &[]);
        }
        ring_slices(&self.storage, wide(self.head), wide(self.readable))
    }

    /// Frees `n` readable bytes (clamped to [`ReceiveBuffer::readable`]) after a
    /// [`ReceiveBuffer::peek_slices`], and returns how many were freed.
    pub fn discard(&mut self, n: usize) -> usize {
        let n = n.min(wide(self.readable));
        self.readable = narrow(wide(self.readable) - n);
        self.head = if self.is_empty() {
            // Nothing held: restart at the front so the next data is contiguous.
            0
        } else {
            narrow(wrap(wide(self.head) + n, self.storage.len()))
        };
        n
    }

    /// The out-of-order ranges as `[start, end)` offsets from RCV.NXT, in ascending
    /// order, disjoint and non-adjacent (for SACK blocks).
    pub fn ooo_ranges(&self) -> impl DoubleEndedIterator<Item = (usize, usize)> {
        self.ranges.iter().copied()
    }

    /// The out-of-order range holding the byte at `offset` from RCV.NXT, if any (SACK blocks).
    pub fn ooo_range_containing(&self, offset: usize) -> Option<(usize, usize)> {
        self.ranges
            .iter()
            .copied()
            .find(|&(s, e)| s <= offset && offset < e)
    }

    /// Releases the byte storage and the range table if the buffer holds nothing,
    /// so an idle connection costs no buffer memory. The next write allocates again.
    pub fn shrink_if_empty(&mut self) {
        if self.is_empty() {
            self.storage = Box::default();
            self.ranges = Ranges::default();
            self.head = 0;
        }
    }

    /// Makes the ring hold the readable bytes plus `end` bytes beyond them, moving what is
    /// held (readable and out of order, holes included) to the front of a larger ring if it
    /// must grow; `false` if allocation failed.
    fn ensure_storage(&mut self, end: usize) -> bool {
        let ooo_end = self.ranges.last().map_or(0, |r| r.1);
        let readable = wide(self.readable);
        let held = readable + ooo_end;
        let (a, b) = if self.storage.is_empty() {
            (&[][..], &[][..])
        } else {
            ring_slices(&self.storage, wide(self.head), held)
        };
        match grown(&self.storage, readable + end, wide(self.capacity), a, b) {
            Growth::Enough => true,
            Growth::Failed => false,
            Growth::Grown(storage) => {
                self.storage = storage;
                self.head = 0;
                true
            }
        }
    }

    /// Reserves the range table to `max_ranges` if not yet done; `false` if that failed.
    fn ensure_ranges(&mut self) -> bool {
        let max = wide(self.max_ranges);
        self.ranges.capacity() >= max || self.ranges.vec_mut().try_reserve_exact(max).is_ok()
    }

    /// Copies `data` into the ring at `offset` from RCV.NXT. The caller has clamped
    /// `offset + data.len()` to the window and allocated the storage.
    fn store(&mut self, offset: usize, data: &[u8]) {
        let cap = self.storage.len();
        // head < cap, readable <= cap, offset < cap: no overflow.
        let at = wrap(wide(self.head) + wide(self.readable) + offset, cap);
        let first = data.len().min(cap.saturating_sub(at));
        copy_into(&mut self.storage, at, data.get(..first).unwrap_or_default());
        copy_into(&mut self.storage, 0, data.get(first..).unwrap_or_default());
    }

    /// Merges `[start, end)` (with `start > 0`) into the range table. The caller has
    /// checked that this either touches an existing range or there is a free entry.
    fn insert_range(&mut self, mut start: usize, mut end: usize) {
        // Ranges are sorted and non-adjacent, so folding every range that touches the
        // growing one, in order, yields exactly the union.
        let ranges = self.ranges.vec_mut();
        ranges.retain(|&(s, e)| {
            let touches = s <= end && start <= e;
            if touches {
                start = start.min(s);
                end = end.max(e);
            }
            !touches
        });
        let at = ranges.partition_point(|&(s, _)| s < start);
        // Length is now below max_ranges <= capacity: no allocation, and at <= len.
        ranges.insert(at, (start, end));
    }

    /// In-order data now fills `[0, end)`: absorb the ranges it reaches into the
    /// readable region, rebase the rest on the new RCV.NXT, and return the advance.
    fn advance(&mut self, mut end: usize) -> usize {
        if let Some(ranges) = self.ranges.0.as_deref_mut() {
            let mut absorbed = 0;
            for &(s, e) in ranges.iter() {
                if s > end {
                    break;
                }
                end = end.max(e);
                absorbed += 1;
            }
            ranges.drain(..absorbed);
            // Every remaining range starts past `end` (sorted, non-adjacent).
            for r in ranges.iter_mut() {
                r.0 = r.0.saturating_sub(end);
                r.1 = r.1.saturating_sub(end);
            }
        }
        // end <= window = capacity - readable.
        self.readable = narrow(wide(self.readable) + end);
        end
    }
}

/// Shows sizes and ranges, not the (possibly large) storage.
impl core::fmt::Debug for ReceiveBuffer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ReceiveBuffer")
            .field("capacity", &self.capacity)
            .field("allocated", &!self.storage.is_empty())
            .field("readable", &self.readable)
            .field("ooo_ranges", &&*self.ranges)
            .field("max_ranges", &self.max_ranges)
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn read_all(b: &mut ReceiveBuffer) -> Vec<u8> {
        let mut out = vec![0; b.readable()];
        let n = b.read(&mut out);
        out.truncate(n);
        out
    }

    fn ranges(b: &ReceiveBuffer) -> Vec<(usize, usize)> {
        b.ooo_ranges().collect()
    }

    #[test]
    fn new_buffer_is_empty_unallocated_with_full_window() {
        let b = ReceiveBuffer::new(16, 4);
        assert_eq!((b.capacity(), b.readable(), b.window()), (16, 0, 16));
        assert!(b.is_empty());
        assert_eq!(b.ooo_bytes(), 0);
        assert_eq!(b.storage.len(), 0);
        assert_eq!(b.ranges.capacity(), 0);
    }

    #[test]
    fn in_order_write_becomes_readable_and_shrinks_window() {
        let mut b = ReceiveBuffer::new(16, 4);
        assert_eq!(b.write_at(0, b"hello"), 5);
        assert_eq!((b.readable(), b.window()), (5, 11));
        assert_eq!(b.peek_slices(), (&b"hello"[..], &[][..]));
        assert_eq!(read_all(&mut b), b"hello");
        assert_eq!(b.window(), 16);
    }

    #[test]
    fn out_of_order_write_returns_zero_and_keeps_window() {
        let mut b = ReceiveBuffer::new(16, 4);
        assert_eq!(b.write_at(3, b"def"), 0);
        assert_eq!((b.readable(), b.window(), b.ooo_bytes()), (0, 16, 3));
        assert_eq!(ranges(&b), [(3, 6)]);
        assert!(!b.is_empty());
        assert_eq!(b.write_at(0, b"abc"), 6, "filling the hole joins the range");
        assert_eq!(read_all(&mut b), b"abcdef");
        assert!(b.is_empty());
    }

    #[test]
    fn hole_fill_joins_several_ranges() {
        let mut b = ReceiveBuffer::new(32, 8);
        b.write_at(2, b"cd");
        b.write_at(6, b"gh");
        b.write_at(10, b"kl");
        b.write_at(20, b"uv");
        assert_eq!(ranges(&b), [(2, 4), (6, 8), (10, 12), (20, 22)]);
        // Fill the middle holes out of order: 4..6 and 8..10 join three ranges.
        assert_eq!(b.write_at(4, b"ef"), 0);
        assert_eq!(ranges(&b), [(2, 8), (10, 12), (20, 22)]);
        assert_eq!(b.write_at(8, b"ij"), 0);
        assert_eq!(ranges(&b), [(2, 12), (20, 22)]);
        assert_eq!(b.write_at(0, b"ab"), 12);
        assert_eq!(
            ranges(&b),
            [(8, 10)],
            "the rest is rebased on the new RCV.NXT"
        );
        assert_eq!(read_all(&mut b), b"abcdefghijkl");
    }

    #[test]
    fn one_write_spanning_several_holes_merges_them() {
        let mut b = ReceiveBuffer::new(32, 8);
        b.write_at(2, b"c");
        b.write_at(5, b"f");
        b.write_at(8, b"i");
        assert_eq!(b.write_at(1, b"bcdefghij"), 0);
        assert_eq!(ranges(&b), [(1, 10)]);
        assert_eq!(b.write_at(0, b"a"), 10);
        assert_eq!(read_all(&mut b), b"abcdefghij");
    }

    #[test]
    fn adjacent_out_of_order_writes_coalesce() {
        let mut b = ReceiveBuffer::new(32, 8);
        b.write_at(4, b"ef");
        b.write_at(6, b"gh");
        b.write_at(2, b"cd");
        assert_eq!(ranges(&b), [(2, 8)]);
    }

    #[test]
    fn out_of_order_fill_in_reverse_order() {
        let data = b"0123456789";
        let mut b = ReceiveBuffer::new(16, 4);
        for i in (1..10).rev() {
            assert_eq!(b.write_at(i, &data[i..i + 1]), 0);
        }
        assert_eq!(ranges(&b), [(1, 10)]);
        assert_eq!(b.write_at(0, &data[..1]), 10);
        assert_eq!(read_all(&mut b), data);
    }

    #[test]
    fn duplicates_and_overlaps_are_absorbed() {
        let mut b = ReceiveBuffer::new(32, 4);
        b.write_at(4, b"efgh");
        b.write_at(4, b"efgh");
        b.write_at(6, b"ghij");
        b.write_at(3, b"de");
        assert_eq!(ranges(&b), [(3, 10)]);
        assert_eq!(b.ooo_bytes(), 7);
        assert_eq!(b.write_at(0, b"abcdef"), 10);
        assert_eq!(b.write_at(0, b"k"), 1);
        assert_eq!(read_all(&mut b), b"abcdefghijk");
    }

    #[test]
    fn later_copy_wins_on_overlap() {
        let mut b = ReceiveBuffer::new(8, 2);
        b.write_at(2, b"XX");
        b.write_at(1, b"bcd");
        b.write_at(0, b"a");
        assert_eq!(read_all(&mut b), b"abcd");
    }

    #[test]
    fn writes_are_truncated_at_capacity() {
        let mut b = ReceiveBuffer::new(8, 4);
        assert_eq!(b.write_at(0, b"0123456789"), 8);
        assert_eq!((b.readable(), b.window()), (8, 0));
        assert_eq!(b.write_at(0, b"x"), 0, "zero window takes nothing");
        assert_eq!(read_all(&mut b), b"01234567");
        assert_eq!(b.write_at(6, b"abcdef"), 0);
        assert_eq!(
            ranges(&b),
            [(6, 8)],
            "out-of-order data is truncated at the window too"
        );
        assert_eq!(b.write_at(8, b"z"), 0);
        assert_eq!(b.write_at(usize::MAX, b"z"), 0);
        assert_eq!(ranges(&b), [(6, 8)]);
    }

    #[test]
    fn window_is_capacity_minus_readable_regardless_of_ooo() {
        let mut b = ReceiveBuffer::new(10, 4);
        b.write_at(0, b"abc");
        b.write_at(2, b"fgh");
        assert_eq!((b.readable(), b.ooo_bytes(), b.window()), (3, 3, 7));
        let mut two = [0; 2];
        assert_eq!(b.read(&mut two), 2);
        assert_eq!(&two, b"ab");
        assert_eq!(b.window(), 9);
        assert_eq!(
            ranges(&b),
            [(2, 5)],
            "reading does not move RCV.NXT-relative offsets"
        );
        assert_eq!(b.write_at(0, b"de"), 5);
        assert_eq!((b.readable(), b.window()), (6, 4));
        assert_eq!(read_all(&mut b), b"cdefgh");
    }

    #[test]
    fn full_range_table_drops_new_ooo_but_keeps_in_order() {
        let mut b = ReceiveBuffer::new(32, 2);
        b.write_at(2, b"c");
        b.write_at(4, b"e");
        assert_eq!(b.write_at(6, b"g"), 0);
        assert_eq!(
            ranges(&b),
            [(2, 3), (4, 5)],
            "third disjoint range is dropped"
        );
        // A write touching an existing range needs no new entry, so it is kept.
        b.write_at(5, b"f");
        assert_eq!(ranges(&b), [(2, 3), (4, 6)]);
        // The in-order segment is always accepted, even with the table full.
        assert_eq!(b.write_at(0, b"a"), 1);
        assert_eq!(ranges(&b), [(1, 2), (3, 5)]);
        assert_eq!(b.write_at(0, b"b"), 2, "joins c, stops at the d hole");
        assert_eq!(ranges(&b), [(1, 3)]);
        assert_eq!(b.write_at(0, b"d"), 3);
        assert_eq!(read_all(&mut b), b"abcdef");
        assert!(b.is_empty());
    }

    #[test]
    fn in_order_write_accepted_when_table_full_and_disjoint() {
        let mut b = ReceiveBuffer::new(32, 1);
        b.write_at(10, b"k");
        assert_eq!(b.write_at(0, b"ab"), 2);
        assert_eq!(ranges(&b), [(8, 9)]);
    }

    #[test]
    fn zero_max_ranges_drops_all_ooo() {
        let mut b = ReceiveBuffer::new(8, 0);
        assert_eq!(b.write_at(1, b"b"), 0);
        assert_eq!(b.ooo_bytes(), 0);
        assert_eq!(b.write_at(0, b"a"), 1);
    }

    #[test]
    fn readable_wraps_around_the_ring() {
        let mut b = ReceiveBuffer::new(8, 4);
        b.write_at(0, b"012345");
        let mut out = [0; 5];
        assert_eq!(b.read(&mut out), 5);
        b.write_at(2, b"89"); // lands across the physical end
        assert_eq!(b.write_at(0, b"67"), 4);
        assert_eq!(b.write_at(0, b"a"), 1);
        assert_eq!(b.readable(), 6);
        let (x, y) = b.peek_slices();
        assert_eq!((x, y), (&b"567"[..], &b"89a"[..]));
        assert_eq!(b.discard(2), 2);
        assert_eq!(read_all(&mut b), b"789a");
    }

    #[test]
    fn read_and_discard_are_clamped() {
        let mut b = ReceiveBuffer::new(8, 4);
        b.write_at(0, b"abc");
        let mut out = [0; 2];
        assert_eq!(b.read(&mut out), 2);
        assert_eq!(b.discard(100), 1);
        assert_eq!(b.read(&mut out), 0);
        assert_eq!(b.read(&mut []), 0);
    }

    #[test]
    fn shrink_releases_storage_only_when_empty() {
        let mut b = ReceiveBuffer::new(8, 4);
        b.write_at(2, b"c");
        b.shrink_if_empty();
        assert_eq!(b.storage.len(), 8, "out-of-order bytes keep storage alive");
        b.write_at(0, b"ab");
        assert_eq!(read_all(&mut b), b"abc");
        b.shrink_if_empty();
        assert_eq!((b.storage.len(), b.ranges.capacity()), (0, 0));
        assert_eq!(b.write_at(0, b"z"), 1);
        assert_eq!(read_all(&mut b), b"z");
    }

    #[test]
    fn zero_capacity_and_huge_capacity_do_not_panic() {
        let mut b = ReceiveBuffer::new(0, 4);
        assert_eq!(b.write_at(0, b"a"), 0);
        assert_eq!(b.window(), 0);
        let mut b = ReceiveBuffer::new(usize::MAX, usize::MAX);
        assert_eq!(
            b.write_at(usize::MAX / 2, b"a"),
            0,
            "allocation failure drops, never aborts"
        );
        assert!(b.is_empty());
        assert_eq!(
            b.write_at(0, b"a"),
            1,
            "a huge capacity allocates only what is held"
        );
        assert_eq!(b.storage.len(), super::super::send_buf::MIN_STORAGE);
    }

    #[test]
    fn ring_grows_keeping_readable_and_out_of_order_bytes_at_their_offsets() {
        use super::super::send_buf::MIN_STORAGE;
        let mut b = ReceiveBuffer::new(4 * MIN_STORAGE, 4);
        let data: Vec<u8> = (0..4 * MIN_STORAGE).map(|i| (i % 251) as u8).collect();
        assert_eq!(b.write_at(0, &data[..MIN_STORAGE - 4]), MIN_STORAGE - 4);
        assert_eq!(b.storage.len(), MIN_STORAGE);
        let mut sink = vec![0; 1000];
        assert_eq!(b.read(&mut sink), 1000); // head at 1000
        let base = MIN_STORAGE - 4; // stream offset of RCV.NXT
        // Out of order, wrapping around the ring's end, then beyond it: the ring grows.
        assert_eq!(b.write_at(100, &data[base + 100..base + 900]), 0);
        assert_eq!(b.write_at(1500, &data[base + 1500..base + 2500]), 0);
        assert!(b.storage.len() > MIN_STORAGE);
        assert_eq!(b.write_at(0, &data[base..base + 100]), 900);
        // RCV.NXT is now base + 900: the hole before the second range is at offset 0.
        assert_eq!(b.write_at(0, &data[base + 900..base + 1500]), 1600);
        let mut out = vec![0; 4 * MIN_STORAGE];
        let n = b.read(&mut out);
        assert_eq!(&out[..n], &data[1000..base + 2500]);
        assert!(b.is_empty());
    }

    #[test]
    fn staged_bytes_sum_as_sum_would_and_commit_as_write_at_would() {
        use crate::wire::checksum::sum;
        let mut b = ReceiveBuffer::new(4096, 4);
        let mut twin = ReceiveBuffer::new(4096, 4);
        let data: Vec<u8> = (0..4096u32).map(|i| (i * 7 + 3) as u8).collect();
        // Odd sizes so the free room wraps around the ring's end at odd and even offsets.
        let mut at = 0;
        for (i, len) in [1001usize, 777, 1500, 333, 1449, 64, 65, 1]
            .into_iter()
            .enumerate()
        {
            let chunk = &data[at % 2000..at % 2000 + len];
            at += len;
            assert_eq!(b.stage_at_front(chunk), Some(sum(chunk)), "step {i}");
            assert_eq!(b.commit_staged(len), twin.write_at(0, chunk), "step {i}");
            assert_eq!(b.peek_slices(), twin.peek_slices(), "step {i}");
            let mut out = vec![0; 900 + i * 50];
            assert_eq!(b.read(&mut out), twin.read(&mut out), "step {i}");
        }
    }

    #[test]
    fn staging_leaves_held_bytes_and_the_window_untouched() {
        let mut b = ReceiveBuffer::new(64, 4);
        b.write_at(0, b"readable");
        b.write_at(20, b"ooo");
        assert_eq!(
            b.stage_at_front(&[0xee; 21]),
            None,
            "would overwrite the ooo range"
        );
        assert_eq!(b.stage_at_front(&[0xee; 60]), None, "past the window");
        assert_eq!(b.stage_at_front(&[]), None);
        let sum = b.stage_at_front(b"0123456789abcdefghij");
        assert_eq!(
            sum,
            Some(crate::wire::checksum::sum(b"0123456789abcdefghij"))
        );
        // Never committed (a bad checksum): nothing moved, nothing became readable.
        assert_eq!(
            (b.readable(), b.window(), ranges(&b)),
            (8, 56, vec![(20, 23)])
        );
        assert_eq!(b.peek_slices(), (&b"readable"[..], &[][..]));
        // The retransmission lands through the ordinary path, over the staged bytes.
        assert_eq!(b.write_at(0, b"ABCDEFGHIJKLMNOPQRST"), 23);
        assert_eq!(read_all(&mut b), b"readableABCDEFGHIJKLMNOPQRSTooo");
    }

    proptest! {
        #[test]
        fn staging_then_committing_equals_write_at(
            cap in 1usize..300,
            ops in proptest::collection::vec((0usize..120, 0usize..40, any::<bool>(), any::<u8>()), 0..60),
        ) {
            let mut b = ReceiveBuffer::new(cap, 4);
            let mut twin = ReceiveBuffer::new(cap, 4);
            for (len, offset, commit, seed) in ops {
                let data: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect();
                if offset > 0 {
                    prop_assert_eq!(b.write_at(offset, &data), twin.write_at(offset, &data));
                } else if let Some(s) = b.stage_at_front(&data) {
                    prop_assert_eq!(s, crate::wire::checksum::sum(&data));
                    if commit {
                        prop_assert_eq!(b.commit_staged(len), twin.write_at(0, &data));
                    }
                } else {
                    prop_assert_eq!(b.write_at(0, &data), twin.write_at(0, &data));
                }
                prop_assert_eq!(b.readable(), twin.readable());
                prop_assert_eq!(ranges(&b), ranges(&twin));
                let (x, y) = b.peek_slices();
                let (u, v) = twin.peek_slices();
                prop_assert_eq!([x, y].concat(), [u, v].concat());
                let mut out = vec![0; usize::from(seed % 50)];
                prop_assert_eq!(b.read(&mut out), twin.read(&mut out));
            }
        }
    }

    /// Reference model for the receiver when the range table never fills: which
    /// stream bytes are held at absolute positions.
    struct Model {
        held: Vec<bool>,
        nxt: usize,
    }

    proptest! {
        #[test]
        fn reassembly_yields_exactly_the_stream_prefix(
            stream in proptest::collection::vec(any::<u8>(), 1..600),
            cap in 1usize..200,
            max_ranges in 0usize..6,
            unbounded in any::<bool>(),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..60),
            // (segment pick, read size): segments picked at random, so in random
            // order and with random duplicates, and reads interleaved.
            steps in proptest::collection::vec(
                (any::<prop::sample::Index>(), 0usize..64), 0..300),
        ) {
            let max_ranges = if unbounded { usize::MAX } else { max_ranges };
            let mut bounds: Vec<usize> = cuts.iter().map(|i| i.index(stream.len())).collect();
            bounds.extend([0, stream.len()]);
            bounds.sort_unstable();
            bounds.dedup();
            let segs: Vec<(usize, usize)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();

            let mut b = ReceiveBuffer::new(cap, max_ranges);
            let mut model = Model { held: vec![false; stream.len()], nxt: 0 };
            let mut got: Vec<u8> = Vec::new();
            let mut nxt = 0; // RCV.NXT as an absolute stream position

            let deliver = |b: &mut ReceiveBuffer, model: &mut Model, nxt: &mut usize,
                               (s, e): (usize, usize)| -> Result<(), TestCaseError> {
                // The connection trims bytes before RCV.NXT, then maps to an offset.
                let s2 = s.max(*nxt);
                if s2 >= e { return Ok(()); }
                let win = b.window();
                let adv = b.write_at(s2 - *nxt, &stream[s2..e]);
                if unbounded {
                    let win_end = (model.nxt + win).min(stream.len());
                    for p in s2..e.min(win_end) { model.held[p] = true; }
                    let before = model.nxt;
                    while model.nxt < stream.len() && model.held[model.nxt] { model.nxt += 1; }
                    prop_assert_eq!(adv, model.nxt - before);
                }
                *nxt += adv;
                let rs: Vec<(usize, usize)> = b.ooo_ranges().collect();
                for w in rs.windows(2) { prop_assert!(w[0].1 < w[1].0, "sorted, non-adjacent"); }
                for &(rs_, re) in &rs {
                    prop_assert!(0 < rs_ && rs_ < re && re <= b.window());
                }
                prop_assert!(rs.len() <= max_ranges.min(cap / 2));
                if unbounded {
                    let want = (*nxt..stream.len()).filter(|&p| model.held[p]).count();
                    prop_assert_eq!(b.ooo_bytes(), want);
                }
                prop_assert!(b.readable() + b.ooo_bytes() <= b.capacity());
                Ok(())
            };
            let read = |b: &mut ReceiveBuffer, got: &mut Vec<u8>, n: usize|
                       -> Result<(), TestCaseError> {
                let mut out = vec![0u8; n];
                let k = b.read(&mut out);
                got.extend_from_slice(&out[..k]);
                prop_assert!(got.len() <= stream.len());
                prop_assert_eq!(&got[..], &stream[..got.len()]);
                Ok(())
            };

            for (pick, rd) in &steps {
                deliver(&mut b, &mut model, &mut nxt, segs[pick.index(segs.len())])?;
                if *rd > 0 { read(&mut b, &mut got, *rd)?; }
                prop_assert_eq!(got.len() + b.readable(), nxt, "never more than delivered");
            }
            // Liveness: retransmitting in order always completes, however full the
            // range table is (the in-order segment is never dropped), as long as the
            // application reads: the steps above may have left the buffer full.
            for &seg in &segs {
                while nxt < seg.1 {
                    read(&mut b, &mut got, cap)?;
                    let before = nxt;
                    deliver(&mut b, &mut model, &mut nxt, seg)?;
                    prop_assert!(nxt > before, "an in-order retransmission must advance");
                }
            }
            read(&mut b, &mut got, cap)?;
            prop_assert_eq!(got, stream.clone());
            prop_assert!(b.is_empty());
        }
    }
}
