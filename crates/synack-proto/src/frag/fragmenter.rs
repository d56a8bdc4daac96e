//! Cutting a packet into fragments for a link MTU: [`fragment_ipv4`], [`fragment_ipv6`],
//! and the [`Fragments`] writer that puts them, one at a time, into the caller's buffer.

use super::FragError;
use super::arrival::{MAX_IP_LEN, upper_header_len};
use crate::wire::field::{set_bytes, set_u8};
use crate::wire::ipv4::HEADER_LEN as IPV4_HEADER_LEN;
use crate::wire::ipv6::{self, ChainSplit, HEADER_LEN as IPV6_HEADER_LEN, NEXT_HEADER_FRAGMENT};
use crate::wire::ipv6_fragment::{self, Ipv6FragmentHeader, Ipv6FragmentRepr};
use crate::wire::{Ipv4Packet, Ipv6Packet, WireError};

/// The most IPv4 option bytes (IHL 15 words less the fixed header).
const MAX_OPTIONS_LEN: usize = 40;

/// The fragments of one packet, written one at a time into the caller's buffer.
///
/// Nothing is allocated: the packet is read in place, and each fragment is written by
/// [`Fragments::write_next`] into a buffer the caller provides (and may reuse), as
/// `poll_transmit` writes a segment. Every fragment is at most the MTU asked for;
/// [`Fragments::next_len`] tells the exact length of the next.
///
/// ```
/// # use synack_proto::frag::fragment_ipv4;
/// # fn send(_: &[u8]) {}
/// # let mut packet = vec![0u8; 3000];
/// # let mut v4 = synack_proto::wire::Ipv4Packet::new_unchecked(&mut packet[..]);
/// # v4.set_version_ihl(4, 5); v4.set_total_len(3000); v4.set_ident(7); v4.fill_checksum();
/// let mut fragments = fragment_ipv4(&packet, 1500)?;
/// let mut buf = [0u8; 1500];
/// while let Some(len) = fragments.write_next(&mut buf)? {
///     send(&buf[..len]);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Fragments<'a> {
    /// The packet, up to its IP length.
    packet: &'a [u8],
    how: How,
    /// Where the fragmentable part starts in `packet`, and its length.
    data_at: usize,
    data_len: usize,
    /// Data bytes the first fragment carries, and each later one.
    first_chunk: usize,
    chunk: usize,
    /// Data bytes written so far.
    written: usize,
    count: usize,
    index: usize,
}

#[derive(Clone, Copy, Debug)]
enum How {
    /// The packet fits the MTU: it goes out unchanged.
    Whole,
    /// IPv4: the first fragment carries the whole header, later ones the fixed header and
    /// the options whose copied flag is set.
    V4 {
        header_len: usize,
        copied: [u8; MAX_OPTIONS_LEN],
        copied_len: usize,
        /// The packet's own offset (non-zero when a fragment is cut again).
        base_offset: usize,
        /// The packet's own MF: the last piece keeps it.
        more_after: bool,
    },
    /// IPv6: every fragment repeats the per-fragment headers, then a Fragment header.
    V6 { split: ChainSplit, ident: u32 },
}

/// Cuts an IPv4 packet (header checksum not checked) into fragments of at most `mtu`
/// bytes, per RFC 791: data in multiples of 8 octets, the identification of the packet,
/// MF on every fragment but the last (which keeps the packet's own MF, so a fragment can
/// be cut again), the first fragment with every option, later ones with only the options
/// whose copied flag is set (padded with End of Option List), each header checksum
/// recomputed.
///
/// A packet that fits the MTU is one fragment: itself, unchanged. Otherwise DF set is
/// [`FragError::DontFragment`], and an MTU that cannot carry a header plus 8 octets is
/// [`FragError::MtuTooSmall`]. The identification must be unique among the source's
/// recent fragmented datagrams to the same destination and protocol (RFC 6864 §4.1); it
/// is the caller's to choose.
pub fn fragment_ipv4(packet: &[u8], mtu: usize) -> Result<Fragments<'_>, FragError> {
    let p = Ipv4Packet::new_checked(packet)?;
    if p.version() != 4 {
        return Err(WireError::BadVersion.into());
    }
    let total = usize::from(p.total_len());
    let packet = packet.get(..total).ok_or(WireError::BadTotalLength)?;
    if total <= mtu {
        return Ok(Fragments::whole(packet));
    }
    if p.dont_frag() {
        return Err(FragError::DontFragment);
    }
    let header_len = p.header_len();
    let (copied, copied_len) = copied_options(p.options());
    let later_header = IPV4_HEADER_LEN + copied_len;
    if mtu < header_len.max(later_header) + 8 {
        return Err(FragError::MtuTooSmall);
    }
    let base_offset = usize::from(p.frag_offset());
    let data_len = total - header_len;
    if base_offset + data_len > MAX_IP_LEN {
        return Err(FragError::TooLong);
    }
    let how = How::V4 {
        header_len,
        copied,
        copied_len,
        base_offset,
        more_after: p.more_frags(),
    };
    Ok(Fragments::cut(
        packet,
        how,
        header_len,
        (mtu - header_len) & !7,
        (mtu - later_header) & !7,
    ))
}

/// Cuts an IPv6 packet into fragments of at most `mtu` bytes, per RFC 8200 §4.5: each
/// fragment is the per-fragment headers ([`Ipv6Packet::per_fragment_headers`]: the IPv6
/// header and the extension headers through a Routing header, else a Hop-by-Hop header),
/// their last Next Header set to 44, a Fragment header with `ident`, and a multiple of 8
/// octets of the rest (the last fragment whatever is left).
///
/// The first fragment holds the whole header chain through the upper-layer header
/// (RFC 7112 §5; the reassembler's [`FragError::IncompleteHeaderChain`]).
///
/// A packet that fits the MTU is one fragment: itself, unchanged, without a Fragment
/// header (RFC 8021 deprecates atomic fragments). An MTU that cannot carry the
/// per-fragment headers, a Fragment header and the header chain (8 octets at least) is
/// [`FragError::MtuTooSmall`];
/// a packet that already has a Fragment header is
/// [`WireError::Fragmented`](crate::wire::WireError::Fragmented). IPv6 links carry at
/// least 1280 octets (RFC 8200 §5), and a source sends fragments only when the path is
/// narrower than the packet. `ident` must be unique among the source's recent fragmented
/// packets to the destination, and hard to guess (RFC 7739).
pub fn fragment_ipv6(packet: &[u8], mtu: usize, ident: u32) -> Result<Fragments<'_>, FragError> {
    let p = Ipv6Packet::new_checked(packet)?;
    if p.version() != 6 {
        return Err(WireError::BadVersion.into());
    }
    let total = IPV6_HEADER_LEN + usize::from(p.payload_len());
    let packet = packet.get(..total).ok_or(WireError::BadTotalLength)?;
    let split = p.per_fragment_headers()?;
    if total <= mtu {
        return Ok(Fragments::whole(packet));
    }
    let per_fragment = split.unfragmentable_len();
    // RFC 7112 §5: "When a host fragments an IPv6 datagram, it MUST include the entire
    // IPv6 Header Chain in the First Fragment" (the reassembler drops it otherwise).
    let rest = packet.get(per_fragment..).unwrap_or(&[]);
    let (upper, at) = ipv6::skip_extension_headers(split.next_header, rest)?;
    let chain = (at + upper_header_len(upper)).min(rest.len()).max(8);
    if mtu < per_fragment + ipv6_fragment::HEADER_LEN + chain.next_multiple_of(8) {
        return Err(FragError::MtuTooSmall);
    }
    let chunk = (mtu - per_fragment - ipv6_fragment::HEADER_LEN) & !7;
    Ok(Fragments::cut(
        packet,
        How::V6 { split, ident },
        per_fragment,
        chunk,
        chunk,
    ))
}

/// The options of `options` whose copied flag (the type's top bit) is set, in order,
/// padded with zeros (End of Option List) to a multiple of 4 octets. A malformed option
/// ends the list: what follows it cannot be read.
fn copied_options(options: &[u8]) -> ([u8; MAX_OPTIONS_LEN], usize) {
    let mut out = [0u8; MAX_OPTIONS_LEN];
    let mut len = 0;
    let mut i = 0;
    while let Some(&kind) = options.get(i) {
        match kind {
            0 => break,
            1 => i += 1,
            _ => {
                let opt_len = options.get(i + 1).map_or(0, |&l| usize::from(l));
                let Some(option) = options.get(i..i + opt_len).filter(|_| opt_len >= 2) else {
                    break;
                };
                if kind & 0x80 != 0
                    && let Some(dst) = out.get_mut(len..len + opt_len)
                {
                    dst.copy_from_slice(option);
                    len += opt_len;
                }
                i += opt_len;
            }
        }
    }
    (out, len.div_ceil(4) * 4)
}

impl<'a> Fragments<'a> {
    fn whole(packet: &'a [u8]) -> Self {
        Fragments {
            packet,
            how: How::Whole,
            data_at: 0,
            data_len: packet.len(),
            first_chunk: packet.len(),
            chunk: packet.len(),
            written: 0,
            count: 1,
            index: 0,
        }
    }

    /// `chunk` is at least 8, and the data is more than `first_chunk` (the packet does not
    /// fit the MTU).
    fn cut(packet: &'a [u8], how: How, data_at: usize, first_chunk: usize, chunk: usize) -> Self {
        let data_len = packet.len().saturating_sub(data_at);
        let rest = data_len.saturating_sub(first_chunk);
        Fragments {
            packet,
            how,
            data_at,
            data_len,
            first_chunk,
            chunk,
            written: 0,
            count: 1 + rest.div_ceil(chunk.max(1)),
            index: 0,
        }
    }

    /// How many fragments the packet makes (1 if it fits the MTU).
    pub fn count(&self) -> usize {
        self.count
    }

    /// How many are left to write.
    pub fn remaining(&self) -> usize {
        self.count - self.index
    }

    /// The data bytes the next fragment carries.
    fn next_chunk(&self) -> usize {
        let room = if self.index == 0 {
            self.first_chunk
        } else {
            self.chunk
        };
        room.min(self.data_len - self.written)
    }

    /// The header bytes the next fragment carries.
    fn next_header_len(&self) -> usize {
        match &self.how {
            How::Whole => 0,
            How::V4 {
                header_len,
                copied_len,
                ..
            } => {
                if self.index == 0 {
                    *header_len
                } else {
                    IPV4_HEADER_LEN + copied_len
                }
            }
            How::V6 { .. } => self.data_at + ipv6_fragment::HEADER_LEN,
        }
    }

    /// The length of the next fragment, or `None` when all are written.
    pub fn next_len(&self) -> Option<usize> {
        (self.index < self.count).then(|| self.next_header_len() + self.next_chunk())
    }

    /// Writes the next fragment at the start of `buf` and returns its length, or `None`
    /// when all are written. A buffer shorter than [`Fragments::next_len`] is
    /// [`WireError::BufferTooSmall`], and nothing advances.
    pub fn write_next(&mut self, buf: &mut [u8]) -> Result<Option<usize>, WireError> {
        let Some(len) = self.next_len() else {
            return Ok(None);
        };
        let out = buf.get_mut(..len).ok_or(WireError::BufferTooSmall)?;
        let chunk = self.next_chunk();
        let start = self.data_at + self.written;
        let data = self
            .packet
            .get(start..start + chunk)
            .ok_or(WireError::Truncated)?;
        let last = self.index + 1 == self.count;
        let head = self.next_header_len();
        match &self.how {
            How::Whole => set_bytes(out, 0, self.packet),
            How::V4 {
                copied,
                copied_len,
                base_offset,
                more_after,
                ..
            } => {
                let header = if self.index == 0 {
                    self.packet.get(..head).unwrap_or(&[])
                } else {
                    self.packet.get(..IPV4_HEADER_LEN).unwrap_or(&[])
                };
                set_bytes(out, 0, header);
                if self.index > 0 {
                    set_bytes(
                        out,
                        IPV4_HEADER_LEN,
                        copied.get(..*copied_len).unwrap_or(&[]),
                    );
                }
                set_bytes(out, head, data);
                let offset = u16::try_from(base_offset + self.written)
                    .map_err(|_| WireError::PacketTooLong)?;
                let total = u16::try_from(len).map_err(|_| WireError::PacketTooLong)?;
                let mut p = Ipv4Packet::new_unchecked(&mut *out);
                p.set_version_ihl(4, (head / 4) as u8);
                p.set_total_len(total);
                p.set_flags_frag(false, !last || *more_after, offset);
                p.fill_checksum();
            }
            How::V6 { split, ident } => {
                set_bytes(out, 0, self.packet.get(..self.data_at).unwrap_or(&[]));
                let payload_len =
                    u16::try_from(len - IPV6_HEADER_LEN).map_err(|_| WireError::PacketTooLong)?;
                Ipv6Packet::new_unchecked(&mut *out).set_payload_len(payload_len);
                set_u8(out, split.next_header_field, NEXT_HEADER_FRAGMENT);
                let repr = Ipv6FragmentRepr {
                    next_header: split.next_header,
                    offset_units: u16::try_from(self.written / 8)
                        .map_err(|_| WireError::PacketTooLong)?,
                    more_frags: !last,
                    ident: *ident,
                };
                let frag_header = out.get_mut(self.data_at..).unwrap_or(&mut []);
                repr.emit(&mut Ipv6FragmentHeader::new_unchecked(frag_header))?;
                set_bytes(out, head, data);
            }
        }
        self.written += chunk;
        self.index += 1;
        Ok(Some(len))
    }
}
