//! One datagram in progress: the fragment data it holds, the index of its pieces sorted by
//! offset (RFC 815's holes are the gaps between them), where a new fragment fits, and the
//! whole datagram once no hole is left.

use super::FragError;
use super::arrival::{self, Fragment, Layout};
use crate::wire::ipv6::HEADER_LEN as IPV6_HEADER_LEN;
use alloc::vec::Vec;

/// One fragment kept: bytes `[offset, offset + len)` of the fragmentable part, stored at
/// `at` in the datagram's data buffer. 12 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Piece {
    offset: u32,
    len: u32,
    at: u32,
}

impl Piece {
    fn offset(&self) -> usize {
        self.offset as usize
    }

    fn len(&self) -> usize {
        self.len as usize
    }

    fn end(&self) -> usize {
        self.offset() + self.len()
    }

    fn at(&self) -> usize {
        self.at as usize
    }
}

/// The bytes of a piece in the index.
pub(super) const PIECE_LEN: usize = core::mem::size_of::<Piece>();

/// The first fragment's header, kept to become the datagram's and to be quoted.
#[derive(Debug)]
struct First {
    /// The first fragment's bytes before its data (for IPv6, through the Fragment header).
    header: Vec<u8>,
    layout: Layout,
}

/// Where a fragment goes in a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Fit {
    /// Inside one hole: it becomes piece number `index`.
    Hole {
        /// Its place in the index.
        index: usize,
    },
    /// The same offset, length and bytes as a piece held.
    Duplicate,
    /// It touches bytes held, and is not a duplicate of one piece.
    Overlap,
    /// It disagrees with the datagram's end.
    Inconsistent,
}

/// The capacities storing a fragment needs: the data buffer, the index, the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Growth {
    data: usize,
    pieces: usize,
    header: usize,
}

/// A datagram whose fragments are arriving.
#[derive(Debug, Default)]
pub(super) struct Collecting {
    /// Fragment data, back to back in arrival order.
    data: Vec<u8>,
    /// The pieces, sorted by offset, never overlapping.
    pieces: Vec<Piece>,
    /// The sum of the pieces' lengths.
    received: usize,
    /// The length of the fragmentable part, once the last fragment (M clear) set it.
    end: Option<usize>,
    /// The largest end of a piece so far.
    highest_end: usize,
    /// The first fragment's header, once it has arrived.
    first: Option<First>,
}

impl Collecting {
    /// How many fragments it holds.
    pub(super) fn fragments(&self) -> usize {
        self.pieces.len()
    }

    /// The bytes of one piece.
    fn bytes(&self, p: &Piece) -> Option<&[u8]> {
        self.data.get(p.at()..p.at() + p.len())
    }

    /// Where `f` would go. RFC 5722 §4 and RFC 8200 §4.5: a fragment that overlaps another
    /// abandons the datagram; an exact duplicate may be dropped alone.
    pub(super) fn fit(&self, f: &Fragment<'_>) -> Fit {
        let (start, end) = (f.offset, f.end());
        let disagrees = match (f.more, self.end) {
            // Data past the end the last fragment set.
            (true, Some(last)) => end > last,
            (true, None) => false,
            // A second end, or an end before data already held.
            (false, Some(last)) => end != last,
            (false, None) => self.highest_end > end,
        };
        if disagrees {
            return Fit::Inconsistent;
        }
        // The first piece that ends after `start`: the only one `f` can start inside, and
        // the one after the hole `f` would fill.
        let index = self.pieces.partition_point(|p| p.end() <= start);
        match self.pieces.get(index) {
            Some(p) if p.offset() < end => {
                if p.offset() == start && p.len() == f.data.len() && self.bytes(p) == Some(f.data) {
                    Fit::Duplicate
                } else {
                    Fit::Overlap
                }
            }
            _ => Fit::Hole { index },
        }
    }

    /// The capacities storing `f` needs. The data buffer at most doubles, capped at the
    /// datagram's length once known (else at `max_len`), so it never holds more than twice
    /// what arrived nor more than the datagram; the index at most doubles, capped at
    /// `max_fragments`; the header is stored at its exact length.
    pub(super) fn growth(&self, f: &Fragment<'_>, max_fragments: usize, max_len: usize) -> Growth {
        let cap_data = match (self.end, f.more) {
            (Some(end), _) => end,
            (None, false) => f.end(),
            (None, true) => max_len,
        };
        let data = grown(
            self.data.capacity(),
            self.data.len() + f.data.len(),
            cap_data,
        );
        let pieces = grown(self.pieces.capacity(), self.pieces.len() + 1, max_fragments);
        let header = if f.offset == 0 {
            f.header.len()
        } else {
            self.header_capacity()
        };
        Growth {
            data,
            pieces,
            header,
        }
    }

    /// The bytes `growth` adds to [`Collecting::heap_bytes`].
    pub(super) fn extra_bytes(&self, g: &Growth) -> usize {
        g.data.saturating_sub(self.data.capacity())
            + g.pieces.saturating_sub(self.pieces.capacity()) * PIECE_LEN
            + g.header.saturating_sub(self.header_capacity())
    }

    fn header_capacity(&self) -> usize {
        self.first.as_ref().map_or(0, |f| f.header.capacity())
    }

    /// The heap bytes it holds: data buffer, index and header, by capacity.
    pub(super) fn heap_bytes(&self) -> usize {
        self.data.capacity() + self.pieces.capacity() * PIECE_LEN + self.header_capacity()
    }

    /// Stores `f` as piece number `index` (from [`Collecting::fit`]) with the capacities
    /// of `growth` (from [`Collecting::growth`]). Fails only if the allocator does.
    pub(super) fn store(
        &mut self,
        f: &Fragment<'_>,
        index: usize,
        g: &Growth,
    ) -> Result<(), FragError> {
        let piece = Piece {
            offset: u32::try_from(f.offset).map_err(|_| FragError::TooLong)?,
            len: u32::try_from(f.data.len()).map_err(|_| FragError::TooLong)?,
            at: u32::try_from(self.data.len()).map_err(|_| FragError::TooLong)?,
        };
        let no_room = |_| FragError::NoRoom;
        self.data
            .try_reserve_exact(g.data.saturating_sub(self.data.len()))
            .map_err(no_room)?;
        self.pieces
            .try_reserve_exact(g.pieces.saturating_sub(self.pieces.len()))
            .map_err(no_room)?;
        if f.offset == 0 {
            let mut header = Vec::new();
            header.try_reserve_exact(f.header.len()).map_err(no_room)?;
            header.extend_from_slice(f.header);
            self.first = Some(First {
                header,
                layout: f.layout,
            });
        }
        self.data.extend_from_slice(f.data);
        self.pieces.insert(index.min(self.pieces.len()), piece);
        self.received += f.data.len();
        self.highest_end = self.highest_end.max(f.end());
        if !f.more {
            self.end = Some(f.end());
        }
        Ok(())
    }

    /// No hole is left: the last fragment set the end, and the pieces (which never
    /// overlap and all lie before the end) add up to it.
    pub(super) fn is_complete(&self) -> bool {
        self.end == Some(self.received)
    }

    /// The whole datagram: the first fragment's header made the datagram's, then the
    /// pieces in order. A datagram longer than `max_len` (as its IP length field counts)
    /// is [`FragError::TooLong`]; only a complete datagram assembles.
    pub(super) fn assemble(&self, max_len: usize) -> Result<Vec<u8>, FragError> {
        let first = self.first.as_ref().ok_or(FragError::Abandoned)?;
        if !self.is_complete() {
            return Err(FragError::Abandoned);
        }
        let (head_len, counted) = match first.layout {
            Layout::V4 => (first.header.len(), first.header.len()),
            Layout::V6 { frag_header_at, .. } => (
                frag_header_at,
                frag_header_at.saturating_sub(IPV6_HEADER_LEN),
            ),
        };
        if counted + self.received > max_len.min(arrival::MAX_IP_LEN) {
            return Err(FragError::TooLong);
        }
        let head = first.header.get(..head_len).ok_or(FragError::TooLong)?;
        let mut out = Vec::new();
        out.try_reserve_exact(head_len + self.received)
            .map_err(|_| FragError::NoRoom)?;
        out.extend_from_slice(head);
        for p in &self.pieces {
            out.extend_from_slice(self.bytes(p).ok_or(FragError::Abandoned)?);
        }
        match first.layout {
            Layout::V4 => arrival::finish_v4(&mut out)?,
            Layout::V6 {
                frag_header_at,
                next_header_field,
            } => {
                let next_header = first.header.get(frag_header_at).copied().unwrap_or(0);
                arrival::finish_v6(&mut out, next_header_field, next_header)?;
            }
        }
        Ok(out)
    }

    /// The first fragment as it arrived (its header, then its data), cut at `max` bytes;
    /// `None` if it has not arrived.
    pub(super) fn quote(&self, max: usize) -> Option<Vec<u8>> {
        let first = self.first.as_ref()?;
        let piece = self.pieces.first().filter(|p| p.offset == 0)?;
        let data = self.bytes(piece)?;
        let len = (first.header.len() + data.len()).min(max);
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(&first.header);
        out.extend_from_slice(data);
        out.truncate(len);
        Some(out)
    }
}

/// The capacity for `needed` elements, from `capacity`: unchanged if it suffices, else
/// doubled (at least to `needed`, and to 4), capped at `cap` (unless `needed` is more).
fn grown(capacity: usize, needed: usize, cap: usize) -> usize {
    if needed <= capacity {
        capacity
    } else {
        needed
            .max(capacity.saturating_mul(2))
            .max(4)
            .min(cap.max(needed))
    }
}
