//! Reading an arriving fragment, either family, into what reassembly needs; the checks a
//! fragment must pass on its own (lengths, RFC 7112's header chain); atomic fragments.

use super::{FragError, Key};
use crate::wire::ipv6::{self, HEADER_LEN as IPV6_HEADER_LEN};
use crate::wire::ipv6_fragment::{self, Ipv6FragmentHeader, Ipv6FragmentRepr};
use crate::wire::{Ipv4Packet, Ipv6Packet, WireError};
use alloc::vec::Vec;

/// The IP length fields' limit: IPv4 total length, IPv6 payload length.
pub(super) const MAX_IP_LEN: usize = 65535;

/// What a packet handed to the reassembler turned out to be.
pub(super) enum Arrival<'a> {
    /// One fragment of a datagram.
    Fragment(Fragment<'a>),
    /// An IPv6 atomic fragment (RFC 6946): the whole packet, its Fragment header removed.
    Atomic(Vec<u8>),
}

/// How the first fragment's header becomes the reassembled datagram's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Layout {
    /// The IPv4 header (options included) is the datagram's, with MF, the offset, the total
    /// length and the checksum rewritten.
    V4,
    /// The IPv6 header and the unfragmentable extension headers are the datagram's; the
    /// Fragment header at `frag_header_at` goes, and the Next Header field at
    /// `next_header_field` takes its Next Header (RFC 8200 §4.5).
    V6 {
        frag_header_at: usize,
        next_header_field: usize,
    },
}

/// One fragment, read but not yet placed.
#[derive(Debug)]
pub(super) struct Fragment<'a> {
    /// The datagram it belongs to.
    pub(super) key: Key,
    /// Where its data goes in the fragmentable part, in bytes.
    pub(super) offset: usize,
    /// M / MF: more fragments follow.
    pub(super) more: bool,
    /// Its part of the fragmentable data.
    pub(super) data: &'a [u8],
    /// The packet's bytes before `data`: the IPv4 header, or the IPv6 header, the
    /// unfragmentable extension headers and the Fragment header.
    pub(super) header: &'a [u8],
    /// What the IP length field counts besides the fragmentable part: the IPv4 header
    /// (total length counts it) or the IPv6 unfragmentable extension headers.
    pub(super) length_base: usize,
    /// How its header would become the datagram's, were it the first fragment.
    pub(super) layout: Layout,
}

impl Fragment<'_> {
    /// The end of its data in the fragmentable part.
    pub(super) fn end(&self) -> usize {
        self.offset + self.data.len()
    }
}

/// Reads `packet` (an IPv4 or IPv6 packet, by its version nibble) and checks what can be
/// checked of one fragment on its own; `max_len` is the largest datagram as the IP length
/// field counts it (at most [`MAX_IP_LEN`]).
pub(super) fn read(packet: &[u8], max_len: usize) -> Result<Arrival<'_>, FragError> {
    let first = packet.first().ok_or(WireError::Truncated)?;
    let arrival = match first >> 4 {
        4 => read_v4(packet)?,
        6 => read_v6(packet)?,
        _ => return Err(WireError::BadVersion.into()),
    };
    if let Arrival::Fragment(f) = &arrival {
        check_alone(f, max_len.min(MAX_IP_LEN))?;
    }
    Ok(arrival)
}

/// RFC 791 and RFC 8200 §4.5, the checks that need no other fragment.
fn check_alone(f: &Fragment<'_>, max_len: usize) -> Result<(), FragError> {
    if f.data.is_empty() {
        return Err(FragError::Empty);
    }
    // RFC 8200 §4.5: "If the length of a fragment, as derived from the fragment packet's
    // Payload Length field, is not a multiple of 8 octets and the M flag of that fragment
    // is 1, then that fragment must be discarded". RFC 791 cuts at 8-octet boundaries too.
    if f.more && !f.data.len().is_multiple_of(8) {
        return Err(FragError::BadLength);
    }
    // RFC 8200 §4.5: "If the length and offset of a fragment are such that the Payload
    // Length of the packet reassembled from that fragment would exceed 65,535 octets, then
    // that fragment must be discarded". IPv4's total length is bounded the same way.
    if f.length_base + f.end() > max_len {
        return Err(FragError::TooLong);
    }
    Ok(())
}

/// An IPv4 fragment: MF set or a non-zero offset.
fn read_v4(packet: &[u8]) -> Result<Arrival<'_>, FragError> {
    let p = Ipv4Packet::new_checked(packet)?;
    if p.version() != 4 {
        return Err(WireError::BadVersion.into());
    }
    if !p.verify_checksum() {
        return Err(WireError::BadChecksum.into());
    }
    if !p.more_frags() && p.frag_offset() == 0 {
        return Err(FragError::NotFragmented);
    }
    let header_len = p.header_len();
    let header = packet.get(..header_len).ok_or(WireError::Truncated)?;
    Ok(Arrival::Fragment(Fragment {
        key: Key::V4 {
            src: p.src_addr(),
            dst: p.dst_addr(),
            protocol: p.protocol(),
            ident: p.ident(),
        },
        offset: usize::from(p.frag_offset()),
        more: p.more_frags(),
        data: p.payload_slice(),
        header,
        length_base: header_len,
        layout: Layout::V4,
    }))
}

/// An IPv6 packet with a Fragment header: an atomic fragment or a real one.
fn read_v6(packet: &[u8]) -> Result<Arrival<'_>, FragError> {
    let p = Ipv6Packet::new_checked(packet)?;
    if p.version() != 6 {
        return Err(WireError::BadVersion.into());
    }
    let at = p.fragment_header()?.ok_or(FragError::NotFragmented)?;
    let frag_header_at = at.unfragmentable_len();
    let data_at = frag_header_at + ipv6_fragment::HEADER_LEN;
    let end = IPV6_HEADER_LEN + usize::from(p.payload_len());
    let frag_header = packet
        .get(frag_header_at..data_at)
        .ok_or(WireError::Truncated)?;
    let repr = Ipv6FragmentRepr::parse(&Ipv6FragmentHeader::new_checked(frag_header)?)?;
    let header = packet.get(..data_at).ok_or(WireError::Truncated)?;
    let data = packet.get(data_at..end).ok_or(WireError::Truncated)?;
    let layout = Layout::V6 {
        frag_header_at,
        next_header_field: at.next_header_field,
    };
    if repr.is_atomic() {
        // RFC 6946 §4: "A host that receives an IPv6 packet that includes a Fragment
        // Header with the "Fragment Offset" equal to 0 and the "M" flag equal to 0 MUST
        // process such packet in isolation from any other packets/fragments".
        let packet = whole_v6(header, data, frag_header_at, at.next_header_field)?;
        return Ok(Arrival::Atomic(packet));
    }
    if repr.offset_units == 0 {
        check_header_chain(repr.next_header, data)?;
    }
    Ok(Arrival::Fragment(Fragment {
        key: Key::V6 {
            src: p.src_addr(),
            dst: p.dst_addr(),
            ident: repr.ident,
        },
        offset: repr.offset_bytes(),
        more: repr.more_frags,
        data,
        header,
        length_base: at.offset,
        layout,
    }))
}

/// RFC 8200 §4.5: "If the first fragment does not include all headers through an
/// Upper-Layer header, then that fragment should be discarded"; RFC 7112 §5 likewise. The
/// upper-layer header must be there too ([`upper_header_len`]).
fn check_header_chain(next_header: u8, data: &[u8]) -> Result<(), FragError> {
    let (upper, at) = match ipv6::skip_extension_headers(next_header, data) {
        Ok(found) => found,
        Err(WireError::Truncated) => return Err(FragError::IncompleteHeaderChain),
        Err(e) => return Err(e.into()),
    };
    if at + upper_header_len(upper) > data.len() {
        return Err(FragError::IncompleteHeaderChain);
    }
    Ok(())
}

/// How much of an upper-layer header a first fragment must hold (RFC 7112, Linux's
/// `ipv6frag_thdr_truncated`): TCP 20 octets, UDP 8, ICMPv6 8, nothing after No Next
/// Header, at least one octet of anything else.
pub(super) fn upper_header_len(protocol: u8) -> usize {
    match protocol {
        6 => 20,
        17 | 58 => 8,
        ipv6::NEXT_HEADER_NONE => 0,
        _ => 1,
    }
}

/// The packet a Fragment header was put into, taken back out: the unfragmentable part
/// with its last Next Header restored and the Payload Length fixed, then `data`.
fn whole_v6(
    header: &[u8],
    data: &[u8],
    frag_header_at: usize,
    next_header_field: usize,
) -> Result<Vec<u8>, FragError> {
    let unfragmentable = header.get(..frag_header_at).ok_or(WireError::Truncated)?;
    let next_header = header
        .get(frag_header_at)
        .copied()
        .ok_or(WireError::Truncated)?;
    let mut out = Vec::new();
    out.try_reserve_exact(unfragmentable.len() + data.len())
        .map_err(|_| FragError::NoRoom)?;
    out.extend_from_slice(unfragmentable);
    out.extend_from_slice(data);
    finish_v6(&mut out, next_header_field, next_header)?;
    Ok(out)
}

/// Fixes up the header of a reassembled IPv6 packet: the Payload Length for its length,
/// the Next Header field that named the Fragment header.
pub(super) fn finish_v6(
    packet: &mut [u8],
    next_header_field: usize,
    next_header: u8,
) -> Result<(), FragError> {
    let payload_len = packet.len().saturating_sub(IPV6_HEADER_LEN);
    let payload_len = u16::try_from(payload_len).map_err(|_| FragError::TooLong)?;
    Ipv6Packet::new_unchecked(&mut *packet).set_payload_len(payload_len);
    let field = packet
        .get_mut(next_header_field)
        .ok_or(WireError::Truncated)?;
    *field = next_header;
    Ok(())
}

/// Fixes up the header of a reassembled IPv4 datagram: total length, MF and offset
/// cleared (DF as the first fragment had it), checksum.
pub(super) fn finish_v4(packet: &mut [u8]) -> Result<(), FragError> {
    let total = u16::try_from(packet.len()).map_err(|_| FragError::TooLong)?;
    let mut p = Ipv4Packet::new_unchecked(packet);
    let dont_frag = p.dont_frag();
    p.set_total_len(total);
    p.set_flags_frag(dont_frag, false, 0);
    p.fill_checksum();
    Ok(())
}
