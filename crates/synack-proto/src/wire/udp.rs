//! The UDP header (RFC 768): a zero-copy [`UdpPacket`] view and an owned [`UdpRepr`].
//!
//! ```text
//!  0      7 8     15 16    23 24    31
//! +--------+--------+--------+--------+
//! |   Source Port   |   Dest. Port    |
//! +--------+--------+--------+--------+
//! |     Length      |    Checksum     |
//! +--------+--------+--------+--------+
//! |          data octets ...
//! ```
//!
//! The length covers header and data; bytes after it (link padding) are not the datagram's.
//! The checksum covers the IP pseudo-header, the header and the data. Over IPv4 a zero
//! checksum means the sender computed none (RFC 768), and a computed zero is sent as
//! `0xffff`; over IPv6 the checksum is mandatory and a zero one is an error (RFC 8200 §8.1).

use super::field::{set_u16, u16_at};
use super::{Checksum, IpRepr, WireError, checksum};
use core::net::IpAddr;

/// The IPv4 protocol / IPv6 next-header number of UDP.
pub const PROTOCOL_UDP: u8 = 17;

/// The length of the UDP header.
pub const HEADER_LEN: usize = 8;

mod off {
    pub(super) const SRC_PORT: usize = 0;
    pub(super) const DST_PORT: usize = 2;
    pub(super) const LENGTH: usize = 4;
    pub(super) const CHECKSUM: usize = 6;
}

/// A zero-copy view of a UDP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Wraps a buffer without checking anything; accessors still never panic.
    pub const fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }

    /// Wraps a buffer after [`UdpPacket::check_len`].
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Validates the header and the length field: at least 8, at most the buffer.
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buf().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let field = usize::from(self.len());
        if field < HEADER_LEN || field > len {
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

    /// The source port.
    pub fn src_port(&self) -> u16 {
        u16_at(self.buf(), off::SRC_PORT)
    }

    /// The destination port.
    pub fn dst_port(&self) -> u16 {
        u16_at(self.buf(), off::DST_PORT)
    }

    /// The length field: header plus data.
    pub fn len(&self) -> u16 {
        u16_at(self.buf(), off::LENGTH)
    }

    /// Whether the length field says there is no data.
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) <= HEADER_LEN
    }

    /// The checksum field.
    pub fn checksum(&self) -> u16 {
        u16_at(self.buf(), off::CHECKSUM)
    }

    /// The datagram as its length field bounds it (empty if the field lies).
    fn datagram(&self) -> &[u8] {
        self.buf().get(..usize::from(self.len())).unwrap_or(&[])
    }

    /// The data (empty if the length field lies).
    pub fn payload(&self) -> &[u8] {
        self.datagram().get(HEADER_LEN..).unwrap_or(&[])
    }

    /// True when the checksum verifies over the pseudo-header of `src` → `dst`. A zero
    /// field is "no checksum" over IPv4 (true) and an error over IPv6 (false).
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr) -> bool {
        if self.checksum() == 0 {
            return src.is_ipv4();
        }
        let data = self.datagram();
        pseudo_header(src, dst, data.len())
            .is_some_and(|p| checksum::verifies(checksum::combine(&[p, checksum::sum(data)])))
    }
}

impl<'a> UdpPacket<&'a [u8]> {
    /// Like [`UdpPacket::payload`], but borrowing from the underlying buffer.
    pub fn payload_slice(&self) -> &'a [u8] {
        self.buffer
            .get(..usize::from(u16_at(self.buffer, off::LENGTH)))
            .and_then(|d| d.get(HEADER_LEN..))
            .unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    /// Sets the source port.
    pub fn set_src_port(&mut self, port: u16) {
        set_u16(self.buffer.as_mut(), off::SRC_PORT, port);
    }

    /// Sets the destination port.
    pub fn set_dst_port(&mut self, port: u16) {
        set_u16(self.buffer.as_mut(), off::DST_PORT, port);
    }

    /// Sets the length field.
    pub fn set_len(&mut self, len: u16) {
        set_u16(self.buffer.as_mut(), off::LENGTH, len);
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), off::CHECKSUM, value);
    }

    /// The data, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        self.buffer
            .as_mut()
            .get_mut(HEADER_LEN..)
            .unwrap_or(&mut [])
    }

    /// Computes and writes the checksum over the pseudo-header of `src` → `dst` and the
    /// datagram as the length field bounds it; a computed zero is written as `0xffff`
    /// (RFC 768: zero means "none").
    pub fn fill_checksum(&mut self, src: IpAddr, dst: IpAddr) {
        self.set_checksum(0);
        let data = self.datagram();
        let value = pseudo_header(src, dst, data.len()).map_or(0, |p| {
            checksum::finish(checksum::combine(&[p, checksum::sum(data)]))
        });
        self.set_checksum(if value == 0 { 0xffff } else { value });
    }
}

/// The folded pseudo-header sum for a UDP datagram of `len` bytes; `None` for mixed
/// families or a length that does not fit.
fn pseudo_header(src: IpAddr, dst: IpAddr, len: usize) -> Option<u16> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let len = u16::try_from(len).ok()?;
            Some(checksum::pseudo_header_v4(s, d, PROTOCOL_UDP, len))
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let len = u32::try_from(len).ok()?;
            Some(checksum::pseudo_header_v6(&s, &d, PROTOCOL_UDP, len))
        }
        _ => None,
    }
}

/// An owned UDP header: the ports and how much data follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpRepr {
    /// The source port.
    pub src_port: u16,
    /// The destination port.
    pub dst_port: u16,
}

impl UdpRepr {
    /// Parses a checked datagram from `src` to `dst`. With [`Checksum::Verify`] the checksum
    /// is verified (a zero one is accepted over IPv4 and is [`WireError::BadChecksum`] over
    /// IPv6); a destination port of 0 is malformed (no socket can hold it).
    pub fn parse<T: AsRef<[u8]>>(
        packet: &UdpPacket<T>,
        src: IpAddr,
        dst: IpAddr,
        checksum: Checksum,
    ) -> Result<UdpRepr, WireError> {
        packet.check_len()?;
        if packet.checksum() == 0 && dst.is_ipv6() {
            return Err(WireError::BadChecksum);
        }
        if checksum.verify() && !packet.verify_checksum(src, dst) {
            return Err(WireError::BadChecksum);
        }
        if packet.dst_port() == 0 {
            return Err(WireError::BadPort);
        }
        Ok(UdpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
        })
    }

    /// Writes the header for `payload_len` bytes of data already in place after it, and the
    /// checksum over them. `BufferTooSmall` if `buf` is shorter than the datagram,
    /// `PacketTooLong` beyond a 16-bit length.
    pub fn emit(
        &self,
        buf: &mut [u8],
        payload_len: usize,
        src: IpAddr,
        dst: IpAddr,
    ) -> Result<usize, WireError> {
        let total = HEADER_LEN + payload_len;
        let len = u16::try_from(total).map_err(|_| WireError::PacketTooLong)?;
        let out = buf.get_mut(..total).ok_or(WireError::BufferTooSmall)?;
        let mut p = UdpPacket::new_unchecked(out);
        p.set_src_port(self.src_port);
        p.set_dst_port(self.dst_port);
        p.set_len(len);
        p.fill_checksum(src, dst);
        Ok(total)
    }
}

/// Parses an IP packet carrying UDP: the IP header, the UDP header and the data.
pub fn parse_ip_udp(
    bytes: &[u8],
    checksum: Checksum,
) -> Result<(IpRepr, UdpRepr, &[u8]), WireError> {
    let (ip, payload) = super::ip::parse_ip(bytes, checksum)?;
    let (udp, data) = parse_udp(&ip, payload, checksum)?;
    Ok((ip, udp, data))
}

/// Parses the UDP datagram carried by an already parsed IP header; a protocol other than
/// UDP is [`WireError::UnsupportedProtocol`].
pub fn parse_udp<'a>(
    ip: &IpRepr,
    datagram: &'a [u8],
    checksum: Checksum,
) -> Result<(UdpRepr, &'a [u8]), WireError> {
    if ip.protocol() != PROTOCOL_UDP {
        return Err(WireError::UnsupportedProtocol(ip.protocol()));
    }
    let packet = UdpPacket::new_checked(datagram)?;
    let repr = UdpRepr::parse(&packet, ip.src_addr(), ip.dst_addr(), checksum)?;
    Ok((repr, packet.payload_slice()))
}

/// Writes an IP packet carrying one UDP datagram with `payload` (`ip`'s protocol and length
/// are set here) and returns its length.
pub fn emit_ip_udp(
    ip: &IpRepr,
    udp: &UdpRepr,
    payload: &[u8],
    buf: &mut [u8],
) -> Result<usize, WireError> {
    let dgram_len = HEADER_LEN + payload.len();
    let ip = ip.with_payload(PROTOCOL_UDP, dgram_len)?;
    let header_len = ip.header_len();
    let out = buf
        .get_mut(..header_len + dgram_len)
        .ok_or(WireError::BufferTooSmall)?;
    let (ip_buf, udp_buf) = out.split_at_mut(header_len);
    ip.emit(ip_buf)?;
    udp_buf
        .get_mut(HEADER_LEN..)
        .ok_or(WireError::BufferTooSmall)?
        .copy_from_slice(payload);
    udp.emit(udp_buf, payload.len(), ip.src_addr(), ip.dst_addr())?;
    Ok(header_len + dgram_len)
}
