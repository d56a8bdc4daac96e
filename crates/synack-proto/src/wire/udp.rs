//! The UDP header (RFC 768): a zero-copy [`UdpPacket`] view and an owned [`UdpRepr`].
//!
//! The datagram is what the UDP length field says: a length below the 8-byte header or past
//! the end of the IP payload is [`WireError::BadUdpLength`], and bytes beyond it (IP padding)
//! are ignored. The checksum covers the pseudo-header (RFC 768 for IPv4, RFC 8200 §8.1 for
//! IPv6), the header and the data, with the UDP length as the pseudo-header's length.
//!
//! A checksum field of zero means "no checksum" over IPv4 (RFC 768) and is accepted; over
//! IPv6 the checksum is mandatory and a zero field is [`WireError::ZeroUdpChecksum`] (RFC 8200
//! §8.1). A computed checksum of zero is sent as `0xffff` in both families (RFC 768, RFC 8200
//! §8.1), so an emitted datagram never claims to have no checksum.

use super::field::{set_bytes, set_u16, u16_at};
use super::ip::PROTOCOL_UDP;
use super::{Checksum, IpRepr, WireError, checksum, ip};
use core::net::IpAddr;

/// The length of the UDP header.
pub const HEADER_LEN: usize = 8;
/// The largest datagram the 16-bit length field can describe (header included).
pub const MAX_DATAGRAM_LEN: usize = 65535;

/// Field offsets.
mod off {
    pub(super) const SRC_PORT: usize = 0;
    pub(super) const DST_PORT: usize = 2;
    pub(super) const LENGTH: usize = 4;
    pub(super) const CHECKSUM: usize = 6;
}

/// A zero-copy view of a UDP datagram (header and data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Wraps a buffer without checking anything; accessors still never panic,
    /// but return 0 / empty slices for fields beyond the buffer.
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }

    /// Wraps a buffer after [`UdpPacket::check_len`].
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Validates the lengths the accessors rely on: at least the 8-byte header
    /// ([`WireError::Truncated`]), and a length field of at least 8 that does not point past
    /// the end of the buffer ([`WireError::BadUdpLength`]).
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buf().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let datagram = usize::from(self.len());
        if datagram < HEADER_LEN || datagram > len {
            return Err(WireError::BadUdpLength);
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

    /// Source port.
    pub fn src_port(&self) -> u16 {
        u16_at(self.buf(), off::SRC_PORT)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        u16_at(self.buf(), off::DST_PORT)
    }

    /// The length field: header plus data, in bytes.
    pub fn len(&self) -> u16 {
        u16_at(self.buf(), off::LENGTH)
    }

    /// True when the length field is zero (never the case for a checked datagram).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The checksum field (0: none was computed, allowed over IPv4 only).
    pub fn checksum(&self) -> u16 {
        u16_at(self.buf(), off::CHECKSUM)
    }

    /// The datagram as the length field bounds it (trailing bytes excluded); `None` when the
    /// length field is below 8 or past the end of the buffer.
    fn datagram(&self) -> Option<&[u8]> {
        let len = usize::from(self.len());
        if len < HEADER_LEN {
            return None;
        }
        self.buf().get(..len)
    }

    /// The data: bytes 8 up to the length field (empty if the length field is inconsistent).
    pub fn payload(&self) -> &[u8] {
        payload_of(self.buf(), self.len())
    }

    /// True when the checksum verifies with the pseudo-header for `src` → `dst` over the
    /// datagram as the length field bounds it.
    ///
    /// A zero field over IPv4 means "no checksum" and verifies (RFC 768); over IPv6 it never
    /// does (RFC 8200 §8.1). Mixed families and an inconsistent length field never verify.
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr) -> bool {
        if self.checksum() == 0 {
            return matches!((src, dst), (IpAddr::V4(_), IpAddr::V4(_)));
        }
        let Some(datagram) = self.datagram() else {
            return false;
        };
        pseudo_header(src, dst, self.len()).is_some_and(|pseudo| {
            checksum::verifies(checksum::combine(&[pseudo, checksum::sum(datagram)]))
        })
    }
}

fn payload_of(buf: &[u8], len: u16) -> &[u8] {
    buf.get(HEADER_LEN..usize::from(len)).unwrap_or(&[])
}

/// The folded pseudo-header sum for a datagram whose length field is `len`; `None` for
/// mixed families.
fn pseudo_header(src: IpAddr, dst: IpAddr, len: u16) -> Option<u16> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => Some(checksum::pseudo_header_v4(s, d, PROTOCOL_UDP, len)),
        (IpAddr::V6(s), IpAddr::V6(d)) => Some(checksum::pseudo_header_v6(
            &s,
            &d,
            PROTOCOL_UDP,
            u32::from(len),
        )),
        _ => None,
    }
}

impl<'a> UdpPacket<&'a [u8]> {
    /// Like [`UdpPacket::payload`], but borrowing from the underlying buffer.
    pub fn payload_slice(&self) -> &'a [u8] {
        payload_of(self.buffer, self.len())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    fn buf_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Sets the source port.
    pub fn set_src_port(&mut self, port: u16) {
        set_u16(self.buf_mut(), off::SRC_PORT, port);
    }

    /// Sets the destination port.
    pub fn set_dst_port(&mut self, port: u16) {
        set_u16(self.buf_mut(), off::DST_PORT, port);
    }

    /// Sets the length field (header plus data).
    pub fn set_len(&mut self, len: u16) {
        set_u16(self.buf_mut(), off::LENGTH, len);
    }

    /// Sets the checksum field directly.
    pub fn set_checksum(&mut self, value: u16) {
        set_u16(self.buf_mut(), off::CHECKSUM, value);
    }

    /// The mutable data (bytes 8 up to the length field; empty if inconsistent).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        self.buf_mut().get_mut(HEADER_LEN..end).unwrap_or(&mut [])
    }

    /// Computes and stores the checksum over the datagram (as the length field bounds it)
    /// with the pseudo-header for `src` → `dst`; a computed zero is stored as `0xffff`
    /// (RFC 768, RFC 8200 §8.1). Writes 0 for mixed families or an inconsistent length field.
    pub fn fill_checksum(&mut self, src: IpAddr, dst: IpAddr) {
        self.set_checksum(0);
        let pseudo = pseudo_header(src, dst, self.len());
        let value = match (pseudo, self.datagram()) {
            (Some(pseudo), Some(datagram)) => {
                match checksum::finish(checksum::combine(&[pseudo, checksum::sum(datagram)])) {
                    0 => 0xffff,
                    v => v,
                }
            }
            _ => 0,
        };
        self.set_checksum(value);
    }
}

/// An owned, high-level view of a UDP datagram: the ports plus a borrowed payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpRepr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// The data, as the length field bounds it.
    pub payload: &'a [u8],
}

impl<'a> UdpRepr<'a> {
    /// Parses a datagram that travelled from `src` to `dst` (pass exactly the IP payload:
    /// bytes beyond the UDP length are ignored as padding).
    ///
    /// Errors: [`WireError::Truncated`] under 8 bytes; [`WireError::BadUdpLength`] for a
    /// length field below 8 or past the buffer; [`WireError::AddressFamilyMismatch`] for mixed
    /// families; [`WireError::ZeroUdpChecksum`] for a zero checksum over IPv6 (RFC 8200 §8.1:
    /// the receiver must discard it, so this holds in both checksum modes); with
    /// [`Checksum::Verify`], [`WireError::BadChecksum`] when a non-zero checksum does not
    /// verify. A zero checksum over IPv4 means "none" and is accepted (RFC 768).
    pub fn parse(
        packet: &UdpPacket<&'a [u8]>,
        src: IpAddr,
        dst: IpAddr,
        checksum: Checksum,
    ) -> Result<UdpRepr<'a>, WireError> {
        packet.check_len()?;
        let v6 = match (src, dst) {
            (IpAddr::V4(_), IpAddr::V4(_)) => false,
            (IpAddr::V6(_), IpAddr::V6(_)) => true,
            _ => return Err(WireError::AddressFamilyMismatch),
        };
        // RFC 8200 §8.1: "IPv6 receivers must discard UDP packets containing a zero
        // checksum and should log the error."
        if v6 && packet.checksum() == 0 {
            return Err(WireError::ZeroUdpChecksum);
        }
        if checksum.verify() && !packet.verify_checksum(src, dst) {
            return Err(WireError::BadChecksum);
        }
        Ok(UdpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            payload: packet.payload_slice(),
        })
    }
}

impl UdpRepr<'_> {
    /// Header plus payload: what [`UdpRepr::emit`] writes and the length field it sets.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }

    /// Writes header, payload and checksum (for `src` → `dst`; a computed zero is sent as
    /// `0xffff`) into the first [`UdpRepr::buffer_len`] bytes of `packet`; nothing beyond is
    /// touched. Errors: [`WireError::BufferTooSmall`], [`WireError::PacketTooLong`] when the
    /// datagram would not fit the 16-bit length field, [`WireError::AddressFamilyMismatch`].
    pub fn emit(
        &self,
        packet: &mut UdpPacket<&mut [u8]>,
        src: IpAddr,
        dst: IpAddr,
    ) -> Result<(), WireError> {
        let len = self.buffer_len();
        let len_field = u16::try_from(len).map_err(|_| WireError::PacketTooLong)?;
        if src.is_ipv4() != dst.is_ipv4() {
            return Err(WireError::AddressFamilyMismatch);
        }
        let buf = packet
            .buffer
            .get_mut(..len)
            .ok_or(WireError::BufferTooSmall)?;
        let mut out = UdpPacket::new_unchecked(buf);
        out.set_src_port(self.src_port);
        out.set_dst_port(self.dst_port);
        out.set_len(len_field);
        set_bytes(out.payload_mut(), 0, self.payload);
        out.fill_checksum(src, dst);
        Ok(())
    }
}

/// Parses an IPv4 or IPv6 packet carrying UDP (the version nibble decides); see
/// [`super::parse_ip_tcp`] for the IP rules (length honoured, IPv6 extension headers
/// skipped, fragments refused) and [`UdpRepr::parse`] for UDP's.
pub fn parse_ip_udp(bytes: &[u8], checksum: Checksum) -> Result<(IpRepr, UdpRepr<'_>), WireError> {
    let (ip, payload) = ip::parse_ip(bytes, checksum)?;
    let udp = parse_udp(&ip, payload, checksum)?;
    Ok((ip, udp))
}

/// Parses the UDP datagram carried by an already parsed IP header (see [`ip::parse_ip`]); a
/// protocol other than UDP is [`WireError::UnsupportedProtocol`].
pub fn parse_udp<'a>(
    ip: &IpRepr,
    payload: &'a [u8],
    checksum: Checksum,
) -> Result<UdpRepr<'a>, WireError> {
    if ip.protocol() != PROTOCOL_UDP {
        return Err(WireError::UnsupportedProtocol(ip.protocol()));
    }
    let packet = UdpPacket::new_checked(payload)?;
    UdpRepr::parse(&packet, ip.src_addr(), ip.dst_addr(), checksum)
}

/// The number of bytes [`emit_ip_udp`] writes: IP header + UDP header + payload.
pub fn ip_udp_len(ip: &IpRepr, udp: &UdpRepr<'_>) -> usize {
    ip.header_len() + udp.buffer_len()
}

/// Writes an IP header, UDP header and payload into `buf`, with the IPv4 header checksum and
/// the UDP checksum filled in; returns the length written ([`ip_udp_len`]).
///
/// Only the addresses and TTL/hop limit of `ip` are used: the protocol is always UDP and the
/// payload length is computed from `udp`.
pub fn emit_ip_udp(ip: &IpRepr, udp: &UdpRepr<'_>, buf: &mut [u8]) -> Result<usize, WireError> {
    let len = udp.buffer_len();
    if len > MAX_DATAGRAM_LEN {
        return Err(WireError::PacketTooLong);
    }
    let ip = ip.with_payload(PROTOCOL_UDP, len)?;
    let header_len = ip.header_len();
    let total = header_len + len;
    let out = buf.get_mut(..total).ok_or(WireError::BufferTooSmall)?;
    let (ip_buf, udp_buf) = out.split_at_mut(header_len);
    ip.emit(ip_buf)?;
    udp.emit(
        &mut UdpPacket::new_unchecked(udp_buf),
        ip.src_addr(),
        ip.dst_addr(),
    )?;
    Ok(total)
}
