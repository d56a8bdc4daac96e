//! The IPv6 header (RFC 8200): a zero-copy [`Ipv6Packet`] view and an owned [`Ipv6Repr`].
//!
//! On parse, hop-by-hop (0), routing (43) and destination-options (60)
//! extension headers are walked (at most [`MAX_EXTENSION_HEADERS`]); a fragment
//! header (44) is [`WireError::Fragmented`]; AH (51) and ESP (50) are
//! [`WireError::UnsupportedExtensionHeader`]; any other value is taken as the
//! upper-layer protocol.
//! Jumbograms (RFC 2675) are not supported. synack emits no extension headers.
//!
//! Reassembly and fragmentation ([`crate::frag`]) find the Fragment header with
//! [`Ipv6Packet::fragment_header`], split a packet for sending with
//! [`Ipv6Packet::per_fragment_headers`], and check a first fragment's header chain with
//! [`skip_extension_headers`]; the Fragment header itself is
//! [`ipv6_fragment`](super::ipv6_fragment).

use super::WireError;
use super::field::{array_at, set_bytes, set_u8, set_u16, u8_at, u16_at, u32_at};
use core::net::Ipv6Addr;

mod off {
    pub(super) const VER_TC_FLOW: usize = 0;
    pub(super) const PAYLOAD_LEN: usize = 4;
    pub(super) const NEXT_HEADER: usize = 6;
    pub(super) const HOP_LIMIT: usize = 7;
    pub(super) const SRC: usize = 8;
    pub(super) const DST: usize = 24;
}

/// The length of the fixed IPv6 header.
pub const HEADER_LEN: usize = 40;
/// The most extension headers [`Ipv6Packet::upper_layer`] walks before giving up.
pub const MAX_EXTENSION_HEADERS: usize = 8;
/// The largest payload the 16-bit payload length field can describe.
pub const MAX_PAYLOAD_LEN: usize = 65535;

/// Hop-by-hop options header.
const NH_HOP_BY_HOP: u8 = 0;
/// Routing header.
const NH_ROUTING: u8 = 43;
/// Fragment header.
const NH_FRAGMENT: u8 = NEXT_HEADER_FRAGMENT;
/// Encapsulating security payload.
const NH_ESP: u8 = 50;
/// Authentication header.
const NH_AH: u8 = 51;

/// The Next Header value of the Fragment header (RFC 8200 §4.5).
pub const NEXT_HEADER_FRAGMENT: u8 = 44;
/// The Next Header value that says nothing follows (RFC 8200 §4.7).
pub const NEXT_HEADER_NONE: u8 = 59;

/// A point in an IPv6 packet's header chain: where one header starts, and the Next Header
/// field that names it.
///
/// [`Ipv6Packet::fragment_header`] returns the point where the Fragment header starts (its
/// `offset` is then the length of the unfragmentable part's extension headers);
/// [`Ipv6Packet::per_fragment_headers`] the point where a sender cuts a packet into
/// fragments. Rewriting the byte at `next_header_field` is how a Fragment header is
/// inserted (set it to 44) or removed (set it to the Fragment header's Next Header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainSplit {
    /// Where the header at the split starts, counted from the start of the payload (just
    /// after the 40-byte fixed header): the bytes of extension headers before it.
    pub offset: usize,
    /// Where the Next Header field that names the header at the split is, counted from the
    /// start of the packet: 6 for the fixed header's, or the first byte of the extension
    /// header just before the split.
    pub next_header_field: usize,
    /// The value of that field: what the header at the split is.
    pub next_header: u8,
}

impl ChainSplit {
    /// The bytes before the split, the fixed header included: for the Fragment header,
    /// the length of the unfragmentable part; for a sender's cut, of the per-fragment
    /// headers.
    pub const fn unfragmentable_len(&self) -> usize {
        HEADER_LEN + self.offset
    }
}
/// Destination options header.
const NH_DEST_OPTS: u8 = 60;

/// A zero-copy view of an IPv6 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wraps a buffer without checking; accessors still never panic.
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv6Packet { buffer }
    }

    /// Wraps a buffer after [`Ipv6Packet::check_len`].
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// At least 40 bytes, and 40 + payload length within the buffer.
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buf().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if HEADER_LEN + usize::from(self.payload_len()) > len {
            return Err(WireError::BadTotalLength);
        }
        Ok(())
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn buf(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// The version nibble (6).
    pub fn version(&self) -> u8 {
        u8_at(self.buf(), off::VER_TC_FLOW) >> 4
    }

    /// The traffic class byte.
    pub fn traffic_class(&self) -> u8 {
        ((u32_at(self.buf(), off::VER_TC_FLOW) >> 20) & 0xff) as u8
    }

    /// The 20-bit flow label.
    pub fn flow_label(&self) -> u32 {
        u32_at(self.buf(), off::VER_TC_FLOW) & 0x000f_ffff
    }

    /// The payload length field (everything after the fixed header).
    pub fn payload_len(&self) -> u16 {
        u16_at(self.buf(), off::PAYLOAD_LEN)
    }

    /// The next header field of the fixed header.
    pub fn next_header(&self) -> u8 {
        u8_at(self.buf(), off::NEXT_HEADER)
    }

    /// The hop limit.
    pub fn hop_limit(&self) -> u8 {
        u8_at(self.buf(), off::HOP_LIMIT)
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(array_at::<16>(self.buf(), off::SRC))
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(array_at::<16>(self.buf(), off::DST))
    }

    /// The payload (after the fixed header, up to the payload length; padding
    /// excluded), extension headers included. Empty if inconsistent.
    pub fn payload(&self) -> &[u8] {
        payload_of(self.buf(), self.payload_len())
    }

    /// Walks the extension headers: returns the upper-layer protocol and the
    /// offset of its header within [`Ipv6Packet::payload`].
    pub fn upper_layer(&self) -> Result<(u8, usize), WireError> {
        walk_extension_headers(self.next_header(), self.payload())
    }

    /// Finds the Fragment header (RFC 8200 §4.5) behind the hop-by-hop, routing and
    /// destination-options headers that may precede it: `Some` with where it starts, so
    /// the unfragmentable part is the first `HEADER_LEN + offset` bytes; `None` when the
    /// chain reaches an upper-layer header without one. AH and ESP before a Fragment header
    /// are [`WireError::UnsupportedExtensionHeader`], as in [`Ipv6Packet::upper_layer`]; a
    /// Fragment header cut short by the payload length is [`WireError::Truncated`].
    pub fn fragment_header(&self) -> Result<Option<ChainSplit>, WireError> {
        let payload = self.payload();
        let mut at = ChainSplit {
            offset: 0,
            next_header_field: off::NEXT_HEADER,
            next_header: self.next_header(),
        };
        for _ in 0..=MAX_EXTENSION_HEADERS {
            match at.next_header {
                NH_FRAGMENT => {
                    if at.offset + super::ipv6_fragment::HEADER_LEN > payload.len() {
                        return Err(WireError::Truncated);
                    }
                    return Ok(Some(at));
                }
                NH_HOP_BY_HOP | NH_ROUTING | NH_DEST_OPTS => at = next_split(at, payload)?,
                NH_AH | NH_ESP => {
                    return Err(WireError::UnsupportedExtensionHeader(at.next_header));
                }
                _ => return Ok(None),
            }
        }
        Err(WireError::TooManyExtensionHeaders)
    }

    /// Where a source cuts this unfragmented packet into fragments (RFC 8200 §4.5): the
    /// per-fragment headers are "the IPv6 header plus any extension headers that must be
    /// processed by nodes en route to the destination, that is, all headers up to and
    /// including the Routing header if present, else the Hop-by-Hop Options header if
    /// present, else no extension headers". A packet that already has a Fragment header is
    /// [`WireError::Fragmented`].
    pub fn per_fragment_headers(&self) -> Result<ChainSplit, WireError> {
        let payload = self.payload();
        let mut at = ChainSplit {
            offset: 0,
            next_header_field: off::NEXT_HEADER,
            next_header: self.next_header(),
        };
        let mut cut = at;
        for _ in 0..=MAX_EXTENSION_HEADERS {
            match at.next_header {
                NH_HOP_BY_HOP | NH_ROUTING | NH_DEST_OPTS => {
                    let kind = at.next_header;
                    at = next_split(at, payload)?;
                    if kind != NH_DEST_OPTS {
                        cut = at;
                    }
                }
                NH_FRAGMENT => return Err(WireError::Fragmented),
                _ => return Ok(cut),
            }
        }
        Err(WireError::TooManyExtensionHeaders)
    }
}

/// The split just after the extension header that starts at `at`.
fn next_split(at: ChainSplit, payload: &[u8]) -> Result<ChainSplit, WireError> {
    let (next_header, len) = extension_header_at(at.next_header, payload, at.offset)?;
    Ok(ChainSplit {
        offset: at.offset + len,
        next_header_field: HEADER_LEN + at.offset,
        next_header,
    })
}

/// The Next Header and length of the extension header of type `kind` at `offset` in
/// `payload`. RFC 8200 §4.3–4.6: Hdr Ext Len counts 8-octet units beyond the first 8; §4.5:
/// the Fragment header is 8 bytes; RFC 4302 §2.2: AH's Payload Len counts 4-octet units,
/// minus 2. A header running past `payload` is [`WireError::Truncated`].
fn extension_header_at(kind: u8, payload: &[u8], offset: usize) -> Result<(u8, usize), WireError> {
    let (next_header, units) = match payload.get(offset..offset + 2) {
        Some(&[nh, units]) => (nh, usize::from(units)),
        _ => return Err(WireError::Truncated),
    };
    let len = match kind {
        NH_FRAGMENT => super::ipv6_fragment::HEADER_LEN,
        NH_AH => (units + 2) * 4,
        _ => (units + 1) * 8,
    };
    if offset + len > payload.len() {
        return Err(WireError::Truncated);
    }
    Ok((next_header, len))
}

/// Walks every extension header at the start of `headers`, the first of type
/// `next_header`: hop-by-hop, routing, destination options, Fragment and AH (what a
/// fragment's data may start with). Returns the first other header's type (an upper-layer
/// protocol, ESP, or No Next Header) and where it starts in `headers`.
///
/// Reassembly uses it to check that a first fragment holds the whole header chain
/// (RFC 8200 §4.5, RFC 7112): a header cut short is [`WireError::Truncated`], more than
/// [`MAX_EXTENSION_HEADERS`] is [`WireError::TooManyExtensionHeaders`].
pub fn skip_extension_headers(
    mut next_header: u8,
    headers: &[u8],
) -> Result<(u8, usize), WireError> {
    let mut offset = 0usize;
    for _ in 0..=MAX_EXTENSION_HEADERS {
        match next_header {
            NH_HOP_BY_HOP | NH_ROUTING | NH_DEST_OPTS | NH_FRAGMENT | NH_AH => {
                let (nh, len) = extension_header_at(next_header, headers, offset)?;
                next_header = nh;
                offset += len;
            }
            other => return Ok((other, offset)),
        }
    }
    Err(WireError::TooManyExtensionHeaders)
}

fn payload_of(buf: &[u8], payload_len: u16) -> &[u8] {
    buf.get(HEADER_LEN..HEADER_LEN + usize::from(payload_len))
        .unwrap_or(&[])
}

/// Skips hop-by-hop, routing and destination-options headers in `payload`.
fn walk_extension_headers(mut next_header: u8, payload: &[u8]) -> Result<(u8, usize), WireError> {
    let mut offset = 0usize;
    for _ in 0..=MAX_EXTENSION_HEADERS {
        match next_header {
            NH_HOP_BY_HOP | NH_ROUTING | NH_DEST_OPTS => {
                let (nh, len) = extension_header_at(next_header, payload, offset)?;
                next_header = nh;
                offset += len;
            }
            NH_FRAGMENT => return Err(WireError::Fragmented),
            NH_AH | NH_ESP => return Err(WireError::UnsupportedExtensionHeader(next_header)),
            upper => return Ok((upper, offset)),
        }
    }
    Err(WireError::TooManyExtensionHeaders)
}

/// Where [`walk_to_upper_layer`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UpperLayer {
    /// The first next-header value that is not an extension header walked: the upper-layer
    /// protocol (ESP, 50, ends the walk too: what follows is encrypted).
    pub(crate) protocol: u8,
    /// The offset of that protocol's header within the walked bytes.
    pub(crate) offset: usize,
    /// The fragment offset in bytes of a fragment header crossed on the way (0 for a first
    /// fragment or an unfragmented packet). When non-zero the walk stops at the fragment
    /// header: what follows is the middle of the payload, not a header.
    pub(crate) frag_offset: u16,
}

/// Walks the extension headers of a packet that synack does not deliver but only reads (an
/// ICMP error's quote, or a packet it may report an error about): like
/// [`Ipv6Packet::upper_layer`], but fragment (44) and authentication (51) headers are walked
/// too, and a non-initial fragment stops the walk (RFC 8200 §4.5). Errors:
/// [`WireError::Truncated`] when a header runs past `bytes`,
/// [`WireError::TooManyExtensionHeaders`].
pub(crate) fn walk_to_upper_layer(
    mut next_header: u8,
    bytes: &[u8],
) -> Result<UpperLayer, WireError> {
    let mut offset = 0usize;
    let mut frag_offset = 0u16;
    for _ in 0..=MAX_EXTENSION_HEADERS {
        let head = |len: usize| bytes.get(offset..offset + len).ok_or(WireError::Truncated);
        let len = match next_header {
            // RFC 8200 §4.3–4.6: Hdr Ext Len in 8-octet units, not counting the first 8.
            NH_HOP_BY_HOP | NH_ROUTING | NH_DEST_OPTS => (usize::from(u8_at(head(2)?, 1)) + 1) * 8,
            // RFC 8200 §4.5: 8 octets; Fragment Offset in 8-octet units, the top 13 bits
            // of octets 2–3.
            NH_FRAGMENT => {
                frag_offset = u16_at(head(8)?, 2) & !0x7;
                8
            }
            // RFC 4302 §2.2: Payload Len in 4-octet units, minus 2.
            NH_AH => (usize::from(u8_at(head(2)?, 1)) + 2) * 4,
            upper => {
                return Ok(UpperLayer {
                    protocol: upper,
                    offset,
                    frag_offset,
                });
            }
        };
        let header = head(len)?;
        next_header = u8_at(header, 0);
        offset += len;
        if frag_offset != 0 {
            return Ok(UpperLayer {
                protocol: next_header,
                offset,
                frag_offset,
            });
        }
    }
    Err(WireError::TooManyExtensionHeaders)
}

impl<'a> Ipv6Packet<&'a [u8]> {
    /// Like [`Ipv6Packet::payload`], but borrowing from the underlying buffer.
    pub fn payload_slice(&self) -> &'a [u8] {
        payload_of(self.buffer, self.payload_len())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    fn buf_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Sets version, traffic class and flow label (20 bits).
    pub fn set_version_tc_flow(&mut self, version: u8, traffic_class: u8, flow_label: u32) {
        let v = (u32::from(version) << 28)
            | (u32::from(traffic_class) << 20)
            | (flow_label & 0x000f_ffff);
        set_bytes(self.buf_mut(), off::VER_TC_FLOW, &v.to_be_bytes());
    }

    /// Sets the payload length.
    pub fn set_payload_len(&mut self, len: u16) {
        set_u16(self.buf_mut(), off::PAYLOAD_LEN, len);
    }

    /// Sets the next header.
    pub fn set_next_header(&mut self, next_header: u8) {
        set_u8(self.buf_mut(), off::NEXT_HEADER, next_header);
    }

    /// Sets the hop limit.
    pub fn set_hop_limit(&mut self, hop_limit: u8) {
        set_u8(self.buf_mut(), off::HOP_LIMIT, hop_limit);
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, addr: Ipv6Addr) {
        set_bytes(self.buf_mut(), off::SRC, &addr.octets());
    }

    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, addr: Ipv6Addr) {
        set_bytes(self.buf_mut(), off::DST, &addr.octets());
    }

    /// The mutable payload (empty if inconsistent).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = HEADER_LEN + usize::from(self.payload_len());
        self.buf_mut().get_mut(HEADER_LEN..end).unwrap_or(&mut [])
    }
}

/// The meaning of an IPv6 header, as synack uses it.
///
/// After [`Ipv6Repr::parse`], `next_header` is the upper-layer protocol and
/// `payload_len` the upper-layer length: walked extension headers are consumed
/// (this is also the length that goes into the pseudo-header, RFC 8200 §8.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Repr {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// The upper-layer protocol (6 = TCP).
    pub next_header: u8,
    /// The upper-layer payload length.
    pub payload_len: usize,
    /// Hop limit.
    pub hop_limit: u8,
}

impl Ipv6Repr {
    /// Parses a packet: version 6, lengths consistent, extension headers walked.
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv6Packet<T>) -> Result<Self, WireError> {
        packet.check_len()?;
        if packet.version() != 6 {
            return Err(WireError::BadVersion);
        }
        let (next_header, offset) = packet.upper_layer()?;
        Ok(Ipv6Repr {
            src: packet.src_addr(),
            dst: packet.dst_addr(),
            next_header,
            payload_len: usize::from(packet.payload_len()).saturating_sub(offset),
            hop_limit: packet.hop_limit(),
        })
    }

    /// The emitted header length: always 40 (no extension headers).
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Header plus payload.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes the 40-byte header (traffic class and flow label 0).
    /// Fails if the buffer is shorter than 40 bytes or the payload exceeds 65535.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Ipv6Packet<T>,
    ) -> Result<(), WireError> {
        if packet.buf().len() < HEADER_LEN {
            return Err(WireError::BufferTooSmall);
        }
        let len = u16::try_from(self.payload_len).map_err(|_| WireError::PacketTooLong)?;
        packet.set_version_tc_flow(6, 0, 0);
        packet.set_payload_len(len);
        packet.set_next_header(self.next_header);
        packet.set_hop_limit(self.hop_limit);
        packet.set_src_addr(self.src);
        packet.set_dst_addr(self.dst);
        Ok(())
    }
}
