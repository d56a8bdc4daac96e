//! The send buffer: bytes the application wrote that the peer has not yet acknowledged.
//!
//! Layout, from the oldest held byte (SND.UNA, kept by the connection):
//!
//! ```text
//! | unacknowledged (sent) ... | unsent ... |  free  |
//! ^ offset 0                                ^ len()
//! ```
//!
//! The buffer knows nothing about sequence numbers or about how much has been sent:
//! offsets are plain `usize` counted from the oldest held byte, and the connection
//! maps them to sequence numbers. It is a fixed-capacity ring (STYLE R10: every queue
//! is bounded). Its storage is allocated on the first non-empty write, only as large as
//! what is held needs (at least [`MIN_STORAGE`], doubling up to the capacity, so a
//! connection that sends a few bytes never pays for, or zeroes, a 64 KiB ring), and can
//! be released with [`SendBuffer::shrink_if_empty`], so an idle connection costs no
//! buffer memory; in steady state no operation allocates.
//!
//! Nothing here panics on any input (STYLE R9): out-of-range offsets and counts are
//! clamped, and an allocation failure makes [`SendBuffer::write`] take 0 bytes.

use alloc::boxed::Box;
use alloc::vec::Vec;

/// A bounded ring buffer of bytes awaiting acknowledgement (see the module docs).
#[derive(Default)]
pub struct SendBuffer {
    /// Ring storage: empty until the first write, then grown by doubling as needed, never
    /// beyond `capacity` bytes.
    storage: Box<[u8]>,
    /// The most bytes the buffer will ever hold (32 bits: larger capacities saturate at
    /// 4 GiB − 1, see [`SendBuffer::set_capacity`]).
    capacity: u32,
    /// Index in `storage` of the oldest held byte (offset 0). Always `< storage.len()`
    /// when storage is allocated, 0 otherwise.
    head: u32,
    /// Number of bytes held (`<= storage.len()`, which never exceeds a capacity).
    len: u32,
}

/// A count the invariants keep under the 32-bit capacity, narrowed (saturating, never
/// wrapping, should one ever not be).
pub(super) fn narrow(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A 32-bit count widened for arithmetic with offsets and lengths.
pub(super) fn wide(n: u32) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

impl SendBuffer {
    /// Creates an empty buffer that will hold at most `capacity` bytes (at most
    /// `u32::MAX`: a larger one saturates there).
    ///
    /// Allocates nothing; storage is allocated on the first non-empty write.
    pub fn new(capacity: usize) -> Self {
        SendBuffer {
            storage: Box::default(),
            capacity: narrow(capacity),
            head: 0,
            len: 0,
        }
    }

    /// Sets the most bytes the buffer will hold from now on (the autotuned send limit).
    /// Bytes already held beyond it stay; [`SendBuffer::free`] is 0 until they drain. At
    /// most `u32::MAX`, as in [`SendBuffer::new`].
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = narrow(capacity);
    }

    /// Takes `other`'s ring storage for its own if this buffer has none yet and the storage
    /// is no larger than [`RECYCLE_MAX`] and this buffer's capacity (a closed connection's
    /// storage handed to a new one: no allocation, no zeroing). Its old bytes are never
    /// read: the buffer holds nothing until written. Returns whether it took it.
    pub fn adopt_storage(&mut self, other: &mut SendBuffer) -> bool {
        let size = other.storage.len();
        if !self.storage.is_empty() || size == 0 || size > RECYCLE_MAX || size > wide(self.capacity)
        {
            return false;
        }
        self.storage = core::mem::take(&mut other.storage);
        (self.head, self.len) = (0, 0);
        (other.head, other.len) = (0, 0);
        true
    }

    /// Heap bytes held right now (0 until the first write, and again after `shrink_if_empty`).
    pub fn allocated_bytes(&self) -> usize {
        self.storage.len()
    }

    /// The most bytes the buffer will hold.
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        wide(self.capacity)
    }

    /// Bytes held: unacknowledged plus unsent.
    pub fn len(&self) -> usize {
        wide(self.len)
    }

    /// Room left for [`SendBuffer::write`]: `capacity() - len()`.
    pub fn free(&self) -> usize {
        wide(self.capacity).saturating_sub(wide(self.len))
    }

    /// `true` when no bytes are held.
    pub fn is_empty(&self) -> bool {
        wide(self.len) == 0
    }

    /// Appends as much of `data` as fits and returns how many bytes were taken
    /// (0 when full, when `data` is empty, or if the storage could not be allocated).
    pub fn write(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        if n == 0 || !self.ensure_room(wide(self.len) + n) {
            return 0;
        }
        let cap = self.storage.len();
        // head < cap and len <= cap, so this cannot overflow an allocated size.
        let tail = wrap(wide(self.head) + wide(self.len), cap);
        let first = n.min(cap - tail);
        copy_into(
            &mut self.storage,
            tail,
            data.get(..first).unwrap_or_default(),
        );
        copy_into(&mut self.storage, 0, data.get(first..n).unwrap_or_default());
        self.len = narrow(wide(self.len) + n);
        n
    }

    /// Appends in place: `f` gets free room at the end of the ring as one contiguous slice
    /// (zero copy: read from a socket or file straight into it), returns how many bytes it
    /// wrote there (clamped to the slice) and a value passed back. Returns `None`, without
    /// calling `f`, when the buffer is full or the storage could not be allocated.
    ///
    /// The slice is at most [`SendBuffer::free`] bytes; it is shorter when the free room
    /// wraps around the end of the ring (call again for the rest) or while the storage is
    /// still growing: it grows as [`SendBuffer::write`] does, by doubling, but offers at
    /// least [`WRITE_WITH_MIN`] bytes (or what is free), since a caller that writes in place
    /// is moving bulk data.
    pub fn write_with<R>(&mut self, f: impl FnOnce(&mut [u8]) -> (usize, R)) -> Option<(usize, R)> {
        let free = self.free();
        if free == 0 {
            return None;
        }
        let want = free.min(self.storage.len().max(WRITE_WITH_MIN));
        if !self.ensure_room(wide(self.len) + want) {
            return None;
        }
        let cap = self.storage.len();
        let tail = wrap(wide(self.head) + wide(self.len), cap);
        // The free room from the tail: to the end of the ring, or to the head if it wrapped.
        let end = if tail >= wide(self.head) && wide(self.len) < cap {
            cap
        } else {
            wide(self.head)
        };
        let room = end.saturating_sub(tail).min(free);
        let slot = self.storage.get_mut(tail..tail + room).unwrap_or_default();
        let (n, r) = f(slot);
        let n = n.min(room);
        self.len = narrow(wide(self.len) + n);
        Some((n, r))
    }

    /// Copies the held bytes starting `offset` bytes after the oldest one into `out`,
    /// as many as fit in `out` and are held, and returns the count.
    ///
    /// An `offset` at or past [`SendBuffer::len`] returns 0.
    pub fn read_at(&self, offset: usize, out: &mut [u8]) -> usize {
        let (a, b) = self.slices_at(offset, out.len());
        copy_into(out, 0, a);
        copy_into(out, a.len(), b);
        a.len() + b.len()
    }

    /// The held bytes `offset..offset + len` (clamped to what is held) as up to two
    /// borrowed slices, in order; the second is non-empty only when the range wraps
    /// around the end of the ring. Zero copy: hand them to a vectored write or a
    /// checksum directly.
    pub fn slices_at(&self, offset: usize, len: usize) -> (&[u8], &[u8]) {
        let Some(avail) = wide(self.len).checked_sub(offset) else {
            return (&[], &[]);
        };
        let n = len.min(avail);
        let cap = self.storage.len();
        if n == 0 || cap == 0 {
            return (&[], &[]);
        }
        // offset < len <= cap and head < cap.
        ring_slices(&self.storage, wrap(wide(self.head) + offset, cap), n)
    }

    /// Drops `n` bytes from the front (they were acknowledged), clamped to
    /// [`SendBuffer::len`], and returns how many were dropped. Never frees storage;
    /// see [`SendBuffer::shrink_if_empty`].
    pub fn consume(&mut self, n: usize) -> usize {
        let n = n.min(wide(self.len));
        let cap = self.storage.len();
        self.len = narrow(wide(self.len) - n);
        self.head = if self.len == 0 || cap == 0 {
            // Restart at the front so the next burst is one contiguous slice.
            0
        } else {
            narrow(wrap(wide(self.head) + n, cap))
        };
        n
    }

    /// Releases the storage if no bytes are held, so an idle connection costs no
    /// buffer memory. The next write allocates again.
    pub fn shrink_if_empty(&mut self) {
        if wide(self.len) == 0 {
            self.storage = Box::default();
            self.head = 0;
        }
    }

    /// Makes the storage hold at least `need` bytes (`need <= capacity`), moving what is
    /// held to the front of a larger ring if it must grow; `false` if allocation failed.
    fn ensure_room(&mut self, need: usize) -> bool {
        let (a, b) = self.slices_at(0, wide(self.len));
        match grown(&self.storage, need, wide(self.capacity), a, b) {
            Growth::Enough => true,
            Growth::Failed => false,
            Growth::Grown(storage) => {
                self.storage = storage;
                self.head = 0;
                true
            }
        }
    }
}

/// The smallest ring a buffer allocates: one MTU-1500 segment fits without regrowing.
pub const MIN_STORAGE: usize = 2048;

/// The largest ring storage a closed connection hands to a new one (through the stack's
/// connection pool, `StackConfig::connection_pool`): the sizes a short exchange grows to,
/// so that a pool of a few dozen closed connections holds at most a few megabytes.
pub const RECYCLE_MAX: usize = 16 * 1024;

/// The least room [`SendBuffer::write_with`] offers when the capacity allows: reading
/// from a socket 2 KiB at a time would cost a system call per segment.
pub const WRITE_WITH_MIN: usize = 64 * 1024;

/// The outcome of [`grown`].
pub(super) enum Growth {
    /// The storage already holds enough.
    Enough,
    /// The allocation failed.
    Failed,
    /// A new, larger ring, starting with the given held bytes.
    Grown(Box<[u8]>),
}

/// A ring of at least `need` bytes for a buffer of at most `capacity` whose `storage`
/// holds the bytes `a` then `b` (in order from the head): the next power of two at or
/// above `need` and [`MIN_STORAGE`], clamped to `capacity`, starting with `a` and `b`.
pub(super) fn grown(storage: &[u8], need: usize, capacity: usize, a: &[u8], b: &[u8]) -> Growth {
    if storage.len() >= need {
        return Growth::Enough;
    }
    let size = need
        .max(MIN_STORAGE)
        .checked_next_power_of_two()
        .unwrap_or(usize::MAX)
        .min(capacity)
        .max(need);
    let mut v = Vec::new();
    if v.try_reserve_exact(size).is_err() {
        return Growth::Failed;
    }
    v.extend_from_slice(a);
    v.extend_from_slice(b);
    v.resize(size, 0);
    Growth::Grown(v.into_boxed_slice())
}

/// `i` reduced into `0..cap` (a physical ring index); 0 when `cap == 0`.
pub(super) fn wrap(i: usize, cap: usize) -> usize {
    i.checked_rem(cap).unwrap_or(0)
}

/// `len` bytes of the ring `storage` starting at physical index `start`, as two slices.
/// Clamped rather than panicking if the arguments are out of range.
pub(super) fn ring_slices(storage: &[u8], start: usize, len: usize) -> (&[u8], &[u8]) {
    let cap = storage.len();
    let len = len.min(cap);
    let first = len.min(cap.saturating_sub(start));
    let a = storage
        .get(start..start.saturating_add(first))
        .unwrap_or_default();
    let b = storage.get(..len - first).unwrap_or_default();
    (a, b)
}

/// Copies `src` into `dst` at `at`, clamped to the room in `dst`.
pub(super) fn copy_into(dst: &mut [u8], at: usize, src: &[u8]) {
    let room = dst.len().saturating_sub(at);
    let n = src.len().min(room);
    if let (Some(d), Some(s)) = (dst.get_mut(at..at + n), src.get(..n)) {
        crate::wire::field::copy_bytes(d, s);
    }
}

/// Shows sizes, not the (possibly large) storage.
impl core::fmt::Debug for SendBuffer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SendBuffer")
            .field("capacity", &self.capacity)
            .field("allocated", &!self.storage.is_empty())
            .field("len", &self.len)
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use alloc::collections::VecDeque;
    use proptest::prelude::*;

    fn held(b: &SendBuffer) -> Vec<u8> {
        let mut out = vec![0; b.len()];
        assert_eq!(b.read_at(0, &mut out), b.len());
        out
    }

    #[test]
    fn write_with_offers_contiguous_room_and_keeps_only_what_was_written() {
        let mut b = SendBuffer::new(1 << 20);
        // A fresh buffer offers WRITE_WITH_MIN at once, not MIN_STORAGE.
        let offered = b.write_with(|buf| {
            buf[..3].copy_from_slice(b"abc");
            (3, buf.len())
        });
        assert_eq!(offered, Some((3, WRITE_WITH_MIN)));
        assert_eq!(held(&b), b"abc");
        // Claiming more than offered is clamped to the slice.
        let (n, len) = b.write_with(|buf| (usize::MAX, buf.len())).unwrap();
        assert_eq!(n, len);
        assert_eq!(b.len(), 3 + len);
    }

    #[test]
    fn write_with_wraps_around_the_ring_in_two_calls() {
        let mut b = SendBuffer::new(WRITE_WITH_MIN);
        assert_eq!(b.write(&vec![1; WRITE_WITH_MIN - 10]), WRITE_WITH_MIN - 10);
        assert_eq!(b.consume(100), 100);
        // 10 bytes to the end of the ring, then the 100 freed at the front.
        assert_eq!(
            b.write_with(|buf| {
                buf.fill(2);
                (buf.len(), buf.len())
            }),
            Some((10, 10))
        );
        assert_eq!(
            b.write_with(|buf| {
                buf.fill(3);
                (buf.len(), buf.len())
            }),
            Some((100, 100))
        );
        assert_eq!(b.free(), 0);
        assert_eq!(
            b.write_with(|_| -> (usize, ()) { unreachable!("full") }),
            None
        );
        let h = held(&b);
        assert_eq!(h.len(), WRITE_WITH_MIN);
        assert!(h[..WRITE_WITH_MIN - 110].iter().all(|&x| x == 1));
        assert!(
            h[WRITE_WITH_MIN - 110..WRITE_WITH_MIN - 100]
                .iter()
                .all(|&x| x == 2)
        );
        assert!(h[WRITE_WITH_MIN - 100..].iter().all(|&x| x == 3));
    }

    #[test]
    fn write_with_on_a_small_capacity_offers_all_of_it() {
        let mut b = SendBuffer::new(100);
        assert_eq!(b.write_with(|buf| (0, buf.len())), Some((0, 100)));
        assert!(b.is_empty());
    }

    #[test]
    fn new_buffer_is_empty_and_unallocated() {
        let b = SendBuffer::new(8);
        assert_eq!(
            (b.capacity(), b.len(), b.free(), b.is_empty()),
            (8, 0, 8, true)
        );
        assert_eq!(b.storage.len(), 0);
    }

    #[test]
    fn first_write_allocates_and_shrink_releases_only_when_empty() {
        let mut b = SendBuffer::new(8);
        assert_eq!(b.write(&[]), 0);
        assert_eq!(b.storage.len(), 0, "an empty write must not allocate");
        assert_eq!(b.write(b"abc"), 3);
        assert_eq!(b.storage.len(), 8);
        b.shrink_if_empty();
        assert_eq!(b.storage.len(), 8, "must keep storage while holding bytes");
        assert_eq!(b.consume(3), 3);
        b.shrink_if_empty();
        assert_eq!(b.storage.len(), 0);
        assert_eq!(b.write(b"xy"), 2);
        assert_eq!(held(&b), b"xy");
    }

    #[test]
    fn write_is_partial_when_nearly_full_and_zero_when_full() {
        let mut b = SendBuffer::new(5);
        assert_eq!(b.write(b"abc"), 3);
        assert_eq!(b.write(b"defg"), 2);
        assert_eq!((b.len(), b.free()), (5, 0));
        assert_eq!(b.write(b"h"), 0);
        assert_eq!(held(&b), b"abcde");
    }

    #[test]
    fn zero_capacity_takes_nothing_and_never_allocates() {
        let mut b = SendBuffer::new(0);
        assert_eq!(b.write(b"a"), 0);
        assert_eq!(b.consume(1), 0);
        assert_eq!(b.slices_at(0, 1), (&[][..], &[][..]));
        assert_eq!(b.storage.len(), 0);
    }

    #[test]
    fn huge_capacity_allocates_only_what_is_held() {
        let mut b = SendBuffer::new(usize::MAX);
        assert_eq!(b.write(b"abc"), 3);
        assert_eq!((b.len(), b.storage.len()), (3, MIN_STORAGE));
        assert_eq!(held(&b), b"abc");
    }

    #[test]
    fn storage_doubles_as_needed_up_to_capacity_keeping_wrapped_bytes_in_order() {
        let mut b = SendBuffer::new(3 * MIN_STORAGE);
        let data: Vec<u8> = (0..MIN_STORAGE).map(|i| i as u8).collect();
        assert_eq!(b.write(&data[..MIN_STORAGE - 10]), MIN_STORAGE - 10);
        assert_eq!(b.storage.len(), MIN_STORAGE);
        assert_eq!(b.consume(100), 100); // head at 100
        assert_eq!(b.write(&data[..100]), 100); // fills the ring, the tail wraps
        assert_eq!((b.len(), b.storage.len()), (MIN_STORAGE - 10, MIN_STORAGE));
        assert_eq!(b.write(&data[..20]), 20); // needs more: grows, unwrapped
        assert_eq!((b.storage.len(), b.head), (2 * MIN_STORAGE, 0));
        let mut want = data[100..MIN_STORAGE - 10].to_vec();
        want.extend_from_slice(&data[..100]);
        want.extend_from_slice(&data[..20]);
        assert_eq!(held(&b), want);
        assert_eq!(b.write(&vec![7; 2 * MIN_STORAGE]), 2 * MIN_STORAGE - 10);
        assert_eq!(b.storage.len(), 3 * MIN_STORAGE, "clamped to the capacity");
        assert_eq!(b.free(), 0);
    }

    #[test]
    fn consume_past_len_is_clamped() {
        let mut b = SendBuffer::new(8);
        b.write(b"abc");
        assert_eq!(b.consume(10), 3);
        assert_eq!(b.consume(1), 0);
        assert!(b.is_empty());
        assert_eq!(b.free(), 8);
    }

    #[test]
    fn write_and_read_wrap_around_the_end_of_the_ring() {
        let mut b = SendBuffer::new(8);
        assert_eq!(b.write(b"012345"), 6);
        assert_eq!(b.consume(4), 4); // head at 4, holds "45"
        assert_eq!(b.write(b"6789ab"), 6); // tail wraps
        assert_eq!(b.len(), 8);
        assert_eq!(held(&b), b"456789ab");
        let (x, y) = b.slices_at(0, 8);
        assert_eq!((x, y), (&b"4567"[..], &b"89ab"[..]));
        let (x, y) = b.slices_at(3, 3);
        assert_eq!((x, y), (&b"7"[..], &b"89"[..]));
        let (x, y) = b.slices_at(5, 10);
        assert_eq!((x, y), (&b"9ab"[..], &[][..]));
        let mut out = [0u8; 3];
        assert_eq!(b.read_at(2, &mut out), 3);
        assert_eq!(&out, b"678");
    }

    #[test]
    fn read_at_offset_at_or_past_end_returns_zero() {
        let mut b = SendBuffer::new(8);
        b.write(b"abc");
        let mut out = [0u8; 4];
        assert_eq!(b.read_at(3, &mut out), 0);
        assert_eq!(b.read_at(usize::MAX, &mut out), 0);
        assert_eq!(b.slices_at(usize::MAX, usize::MAX), (&[][..], &[][..]));
        assert_eq!(b.read_at(1, &mut out), 2);
        assert_eq!(&out[..2], b"bc");
    }

    #[test]
    fn read_at_is_limited_by_out_len() {
        let mut b = SendBuffer::new(8);
        b.write(b"abcdef");
        let mut out = [0u8; 2];
        assert_eq!(b.read_at(1, &mut out), 2);
        assert_eq!(&out, b"bc");
        assert_eq!(b.read_at(0, &mut []), 0);
    }

    #[test]
    fn consuming_everything_restarts_at_the_front() {
        let mut b = SendBuffer::new(4);
        b.write(b"abc");
        b.consume(3);
        b.write(b"wxyz");
        let (x, y) = b.slices_at(0, 4);
        assert_eq!((x, y), (&b"wxyz"[..], &[][..]));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Write(Vec<u8>),
        Consume(usize),
        ReadAt(usize, usize),
        Shrink,
        /// `write_with`, writing up to this many bytes (of a running pattern) in place.
        WriteWith(usize, u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => proptest::collection::vec(any::<u8>(), 0..40).prop_map(Op::Write),
            2 => (0usize..50).prop_map(Op::Consume),
            3 => (0usize..60, 0usize..60).prop_map(|(o, l)| Op::ReadAt(o, l)),
            1 => Just(Op::Shrink),
            2 => (0usize..40, any::<u8>()).prop_map(|(n, x)| Op::WriteWith(n, x)),
        ]
    }

    proptest! {
        #[test]
        fn send_buffer_matches_vecdeque_model(
            cap in 0usize..48,
            ops in proptest::collection::vec(op(), 0..200),
        ) {
            let mut b = SendBuffer::new(cap);
            let mut model: VecDeque<u8> = VecDeque::new();
            for op in ops {
                match op {
                    Op::Write(data) => {
                        let want = data.len().min(cap - model.len());
                        prop_assert_eq!(b.write(&data), want);
                        model.extend(&data[..want]);
                    }
                    Op::Consume(n) => {
                        let want = n.min(model.len());
                        prop_assert_eq!(b.consume(n), want);
                        model.drain(..want);
                    }
                    Op::ReadAt(off, len) => {
                        let want: Vec<u8> = model.iter().skip(off).take(len).copied().collect();
                        let mut out = vec![0xEE; len];
                        let n = b.read_at(off, &mut out);
                        prop_assert_eq!(&out[..n], &want[..]);
                        let (x, y) = b.slices_at(off, len);
                        prop_assert_eq!([x, y].concat(), want);
                    }
                    Op::Shrink => b.shrink_if_empty(),
                    Op::WriteWith(n, x) => {
                        let free = cap - model.len();
                        let r = b.write_with(|buf| {
                            let k = n.min(buf.len());
                            buf[..k].fill(x);
                            (k, buf.len())
                        });
                        match r {
                            None => prop_assert_eq!(free, 0),
                            Some((k, offered)) => {
                                prop_assert!(offered > 0 && offered <= free);
                                model.extend(core::iter::repeat_n(x, k));
                            }
                        }
                    }
                }
                prop_assert_eq!(b.len(), model.len());
                prop_assert_eq!(b.free(), cap - model.len());
                prop_assert_eq!(b.is_empty(), model.is_empty());
                prop_assert_eq!(held(&b), model.iter().copied().collect::<Vec<u8>>());
            }
        }
    }
}
