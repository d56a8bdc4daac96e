//! The IPv4 header (RFC 791): a zero-copy [`Ipv4Packet`] view and an owned [`Ipv4Repr`].
//!
//! synack emits 20-byte headers (no options) with DF set and identification 0
//! (RFC 6864 §4.1 allows any id for atomic datagrams). On parse, options are
//! skipped via IHL and fragments are rejected ([`WireError::Fragmented`]).

use super::field::{array_at, set_bytes, set_u8, set_u16, u8_at, u16_at};
use super::{Checksum, WireError, checksum};
use core::net::Ipv4Addr;

/// Field offsets.
mod off {
    pub(super) const VER_IHL: usize = 0;
    pub(super) const DSCP_ECN: usize = 1;
    pub(super) const TOTAL_LEN: usize = 2;
    pub(super) const IDENT: usize = 4;
    pub(super) const FLAGS_FRAG: usize = 6;
    pub(super) const TTL: usize = 8;
    pub(super) const PROTOCOL: usize = 9;
    pub(super) const CHECKSUM: usize = 10;
    pub(super) const SRC: usize = 12;
    pub(super) const DST: usize = 16;
}

/// The length of an IPv4 header without options.
pub const HEADER_LEN: usize = 20;
/// The largest IPv4 packet (the total length field is 16 bits).
pub const MAX_PACKET_LEN: usize = 65535;

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// A zero-copy view of an IPv4 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps a buffer without checking anything; accessors still never panic,
    /// but return 0 / empty slices for fields beyond the buffer.
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Wraps a buffer after [`Ipv4Packet::check_len`].
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Validates the lengths the accessors rely on: at least 20 bytes, IHL ≥ 5,
    /// header within the buffer, header ≤ total length ≤ buffer length.
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let header_len = self.header_len();
        if header_len < HEADER_LEN {
            return Err(WireError::BadHeaderLength);
        }
        if header_len > len {
            return Err(WireError::Truncated);
        }
        let total = usize::from(self.total_len());
        if total < header_len || total > len {
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

    /// The version nibble (4 for IPv4).
    pub fn version(&self) -> u8 {
        u8_at(self.buf(), off::VER_IHL) >> 4
    }

    /// The IHL field in 32-bit words.
    pub fn ihl(&self) -> u8 {
        u8_at(self.buf(), off::VER_IHL) & 0x0f
    }

    /// The header length in bytes (IHL × 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.ihl()) * 4
    }

    /// DSCP (upper six bits of byte 1).
    pub fn dscp(&self) -> u8 {
        u8_at(self.buf(), off::DSCP_ECN) >> 2
    }

    /// ECN (lower two bits of byte 1).
    pub fn ecn(&self) -> u8 {
        u8_at(self.buf(), off::DSCP_ECN) & 0x03
    }

    /// The total length field (header + payload).
    pub fn total_len(&self) -> u16 {
        u16_at(self.buf(), off::TOTAL_LEN)
    }

    /// The identification field.
    pub fn ident(&self) -> u16 {
        u16_at(self.buf(), off::IDENT)
    }

    /// DF: don't fragment.
    pub fn dont_frag(&self) -> bool {
        u16_at(self.buf(), off::FLAGS_FRAG) & FLAG_DF != 0
    }

    /// MF: more fragments.
    pub fn more_frags(&self) -> bool {
        u16_at(self.buf(), off::FLAGS_FRAG) & FLAG_MF != 0
    }

    /// The fragment offset in bytes (field × 8).
    pub fn frag_offset(&self) -> u16 {
        (u16_at(self.buf(), off::FLAGS_FRAG) & FRAG_OFFSET_MASK) << 3
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        u8_at(self.buf(), off::TTL)
    }

    /// The protocol field (6 = TCP).
    pub fn protocol(&self) -> u8 {
        u8_at(self.buf(), off::PROTOCOL)
    }

    /// The header checksum field.
    pub fn checksum(&self) -> u16 {
        u16_at(self.buf(), off::CHECKSUM)
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(array_at::<4>(self.buf(), off::SRC))
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(array_at::<4>(self.buf(), off::DST))
    }

    /// The options bytes between the fixed header and IHL × 4 (empty if out of range).
    pub fn options(&self) -> &[u8] {
        self.buf().get(HEADER_LEN..self.header_len()).unwrap_or(&[])
    }

    /// True if the header checksum verifies (sum over IHL × 4 bytes is 0xffff).
    pub fn verify_checksum(&self) -> bool {
        match self.buf().get(..self.header_len()) {
            Some(header) => checksum::verifies(checksum::sum(header)),
            None => false,
        }
    }

    /// The payload: bytes from IHL × 4 up to the total length (padding excluded);
    /// empty if the lengths are inconsistent.
    pub fn payload(&self) -> &[u8] {
        payload_of(self.buf(), self.header_len(), usize::from(self.total_len()))
    }
}

fn payload_of(buf: &[u8], header_len: usize, total: usize) -> &[u8] {
    buf.get(header_len..total).unwrap_or(&[])
}

impl<'a> Ipv4Packet<&'a [u8]> {
    /// Like [`Ipv4Packet::payload`], but borrowing from the underlying buffer
    /// rather than from the view, so it can outlive the view.
    pub fn payload_slice(&self) -> &'a [u8] {
        payload_of(
            self.buffer,
            self.header_len(),
            usize::from(self.total_len()),
        )
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    fn buf_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Sets version and IHL (in 32-bit words).
    pub fn set_version_ihl(&mut self, version: u8, ihl: u8) {
        set_u8(self.buf_mut(), off::VER_IHL, (version << 4) | (ihl & 0x0f));
    }

    /// Sets DSCP and ECN.
    pub fn set_dscp_ecn(&mut self, dscp: u8, ecn: u8) {
        set_u8(self.buf_mut(), off::DSCP_ECN, (dscp << 2) | (ecn & 0x03));
    }

    /// Sets the total length.
    pub fn set_total_len(&mut self, len: u16) {
        set_u16(self.buf_mut(), off::TOTAL_LEN, len);
    }

    /// Sets the identification.
    pub fn set_ident(&mut self, ident: u16) {
        set_u16(self.buf_mut(), off::IDENT, ident);
    }

    /// Sets DF, MF and the fragment offset (in bytes; must be a multiple of 8).
    pub fn set_flags_frag(&mut self, dont_frag: bool, more_frags: bool, frag_offset: u16) {
        let mut v = (frag_offset >> 3) & FRAG_OFFSET_MASK;
        if dont_frag {
            v |= FLAG_DF;
        }
        if more_frags {
            v |= FLAG_MF;
        }
        set_u16(self.buf_mut(), off::FLAGS_FRAG, v);
    }

    /// Sets the TTL.
    pub fn set_ttl(&mut self, ttl: u8) {
        set_u8(self.buf_mut(), off::TTL, ttl);
    }

    /// Sets the protocol.
    pub fn set_protocol(&mut self, protocol: u8) {
        set_u8(self.buf_mut(), off::PROTOCOL, protocol);
    }

    /// Sets the checksum field directly.
    pub fn set_checksum(&mut self, value: u16) {
        set_u16(self.buf_mut(), off::CHECKSUM, value);
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        set_bytes(self.buf_mut(), off::SRC, &addr.octets());
    }

    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        set_bytes(self.buf_mut(), off::DST, &addr.octets());
    }

    /// Computes and stores the header checksum over IHL × 4 bytes.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let header_len = self.header_len();
        let value = self.buf().get(..header_len).map_or(0, checksum::checksum);
        self.set_checksum(value);
    }

    /// The mutable payload (IHL × 4 up to the total length; empty if inconsistent).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let header_len = self.header_len();
        let total = usize::from(self.total_len());
        self.buf_mut().get_mut(header_len..total).unwrap_or(&mut [])
    }
}

/// The meaning of an IPv4 header, as synack uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Protocol of the payload (6 = TCP).
    pub protocol: u8,
    /// Payload length (total length minus header length).
    pub payload_len: usize,
    /// Time to live.
    pub ttl: u8,
}

impl Ipv4Repr {
    /// Parses a checked packet: version 4, checksum (if asked), no fragmentation.
    /// Options are skipped; `payload_len` is total length minus IHL × 4.
    pub fn parse<T: AsRef<[u8]>>(
        packet: &Ipv4Packet<T>,
        checksum: Checksum,
    ) -> Result<Self, WireError> {
        packet.check_len()?;
        if packet.version() != 4 {
            return Err(WireError::BadVersion);
        }
        if checksum.verify() && !packet.verify_checksum() {
            return Err(WireError::BadChecksum);
        }
        if packet.more_frags() || packet.frag_offset() != 0 {
            return Err(WireError::Fragmented);
        }
        Ok(Ipv4Repr {
            src: packet.src_addr(),
            dst: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len: usize::from(packet.total_len()).saturating_sub(packet.header_len()),
            ttl: packet.ttl(),
        })
    }

    /// The emitted header length: always 20 (synack sends no IPv4 options).
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Header plus payload.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes the 20-byte header (DF set, id 0, checksum filled) into the first
    /// 20 bytes of `packet`. Fails if the buffer is shorter than 20 bytes or the
    /// total length would exceed 65535.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Ipv4Packet<T>,
    ) -> Result<(), WireError> {
        if packet.buf().len() < HEADER_LEN {
            return Err(WireError::BufferTooSmall);
        }
        let total = u16::try_from(self.buffer_len()).map_err(|_| WireError::PacketTooLong)?;
        packet.set_version_ihl(4, 5);
        packet.set_dscp_ecn(0, 0);
        packet.set_total_len(total);
        packet.set_ident(0);
        packet.set_flags_frag(true, false, 0);
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src_addr(self.src);
        packet.set_dst_addr(self.dst);
        packet.fill_checksum();
        Ok(())
    }
}
