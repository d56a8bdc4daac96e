//! ICMP echo for IPv4 (RFC 792) and IPv6 (RFC 4443 §4): a zero-copy [`IcmpPacket`] view and
//! an owned [`IcmpRepr`].
//!
//! Both versions share the 8-byte echo layout: type, code, checksum, identifier, sequence
//! number, then data. The family decides the type numbers (8/0 for ICMPv4, 128/129 for ICMPv6)
//! and the checksum: ICMPv4 sums the message alone, ICMPv6 adds the IPv6 pseudo-header with
//! next header 58 (RFC 4443 §2.3). Messages other than echo request and reply parse as
//! [`IcmpRepr::Other`] with their type and code, so a caller can count and ignore them.

use super::checksum;
use super::field::{set_u8, set_u16, u8_at, u16_at};
use super::{Checksum, IpRepr, WireError, ip};
use core::net::IpAddr;

/// The IPv4 protocol number of ICMP.
pub const PROTOCOL_ICMP: u8 = 1;
/// The IPv6 next-header number of ICMPv6.
pub const PROTOCOL_ICMPV6: u8 = 58;

/// The length of an echo header (type, code, checksum, identifier, sequence number).
pub const ECHO_HEADER_LEN: usize = 8;

/// ICMPv4 echo reply type (RFC 792).
pub const V4_ECHO_REPLY: u8 = 0;
/// ICMPv4 echo request type (RFC 792).
pub const V4_ECHO_REQUEST: u8 = 8;
/// ICMPv6 echo request type (RFC 4443 §4.1).
pub const V6_ECHO_REQUEST: u8 = 128;
/// ICMPv6 echo reply type (RFC 4443 §4.2).
pub const V6_ECHO_REPLY: u8 = 129;

/// Field offsets.
mod off {
    pub(super) const TYPE: usize = 0;
    pub(super) const CODE: usize = 1;
    pub(super) const CHECKSUM: usize = 2;
    pub(super) const IDENT: usize = 4;
    pub(super) const SEQ_NO: usize = 6;
}

/// A zero-copy view of an ICMP or ICMPv6 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> IcmpPacket<T> {
    /// Wraps a buffer without checking anything; accessors still never panic,
    /// but return 0 / empty slices for fields beyond the buffer.
    pub const fn new_unchecked(buffer: T) -> Self {
        IcmpPacket { buffer }
    }

    /// Wraps a buffer after [`IcmpPacket::check_len`].
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Validates that the buffer holds at least the 4-byte common header (type, code,
    /// checksum). Echo fields need [`ECHO_HEADER_LEN`] bytes, which [`IcmpRepr::parse`] checks.
    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < 4 {
            return Err(WireError::Truncated);
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

    /// The message type.
    pub fn msg_type(&self) -> u8 {
        u8_at(self.buf(), off::TYPE)
    }

    /// The message code.
    pub fn code(&self) -> u8 {
        u8_at(self.buf(), off::CODE)
    }

    /// The checksum field.
    pub fn checksum(&self) -> u16 {
        u16_at(self.buf(), off::CHECKSUM)
    }

    /// The echo identifier.
    pub fn ident(&self) -> u16 {
        u16_at(self.buf(), off::IDENT)
    }

    /// The echo sequence number.
    pub fn seq_no(&self) -> u16 {
        u16_at(self.buf(), off::SEQ_NO)
    }

    /// The echo data (everything after the 8-byte header); empty if shorter.
    pub fn echo_data(&self) -> &[u8] {
        self.buf().get(ECHO_HEADER_LEN..).unwrap_or(&[])
    }

    /// True when the checksum verifies: the plain sum for ICMPv4, with the IPv6
    /// pseudo-header for ICMPv6. Mixed families never verify.
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr) -> bool {
        pseudo_sum(src, dst, self.buf().len())
            .is_some_and(|p| checksum::verifies(checksum::combine(&[p, checksum::sum(self.buf())])))
    }
}

impl<'a> IcmpPacket<&'a [u8]> {
    /// The echo data with the buffer's lifetime.
    pub fn echo_data_slice(&self) -> &'a [u8] {
        self.buffer.get(ECHO_HEADER_LEN..).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IcmpPacket<T> {
    fn buf_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Sets the message type.
    pub fn set_msg_type(&mut self, v: u8) {
        set_u8(self.buf_mut(), off::TYPE, v);
    }

    /// Sets the message code.
    pub fn set_code(&mut self, v: u8) {
        set_u8(self.buf_mut(), off::CODE, v);
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        set_u16(self.buf_mut(), off::CHECKSUM, v);
    }

    /// Sets the echo identifier.
    pub fn set_ident(&mut self, v: u16) {
        set_u16(self.buf_mut(), off::IDENT, v);
    }

    /// Sets the echo sequence number.
    pub fn set_seq_no(&mut self, v: u16) {
        set_u16(self.buf_mut(), off::SEQ_NO, v);
    }

    /// The echo data, writable.
    pub fn echo_data_mut(&mut self) -> &mut [u8] {
        self.buf_mut().get_mut(ECHO_HEADER_LEN..).unwrap_or(&mut [])
    }

    /// Computes and writes the checksum over the whole buffer (pseudo-header for ICMPv6).
    /// Mixed families write nothing.
    pub fn fill_checksum(&mut self, src: IpAddr, dst: IpAddr) {
        self.set_checksum(0);
        let Some(p) = pseudo_sum(src, dst, self.buf().len()) else {
            return;
        };
        let sum = checksum::combine(&[p, checksum::sum(self.buf())]);
        self.set_checksum(checksum::finish(sum));
    }
}

/// The pseudo-header part of the checksum: 0 for ICMPv4, the IPv6 pseudo-header for ICMPv6,
/// `None` for mixed families.
fn pseudo_sum(src: IpAddr, dst: IpAddr, len: usize) -> Option<u16> {
    match (src, dst) {
        (IpAddr::V4(_), IpAddr::V4(_)) => Some(0),
        (IpAddr::V6(s), IpAddr::V6(d)) => Some(checksum::pseudo_header_v6(
            &s,
            &d,
            PROTOCOL_ICMPV6,
            u32::try_from(len).unwrap_or(u32::MAX),
        )),
        _ => None,
    }
}

/// An echo request or reply's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Echo<'a> {
    /// Identifier (ping uses it to match replies to its process).
    pub ident: u16,
    /// Sequence number.
    pub seq_no: u16,
    /// Data, echoed back unchanged.
    pub data: &'a [u8],
}

/// An ICMP or ICMPv6 message, as far as synack understands it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IcmpRepr<'a> {
    /// Echo request (type 8, or 128 for ICMPv6), code 0.
    EchoRequest(Echo<'a>),
    /// Echo reply (type 0, or 129 for ICMPv6), code 0.
    EchoReply(Echo<'a>),
    /// Any other message (or an echo with a non-zero code): only its type and code.
    Other {
        /// Message type.
        msg_type: u8,
        /// Message code.
        code: u8,
    },
}

impl<'a> IcmpRepr<'a> {
    /// Parses a message that travelled from `src` to `dst` (their family selects ICMPv4 or
    /// ICMPv6). With [`Checksum::Verify`] a bad checksum is [`WireError::BadChecksum`]; mixed
    /// families are [`WireError::AddressFamilyMismatch`]; an echo shorter than 8 bytes is
    /// [`WireError::Truncated`].
    pub fn parse(
        packet: &IcmpPacket<&'a [u8]>,
        src: IpAddr,
        dst: IpAddr,
        checksum: Checksum,
    ) -> Result<Self, WireError> {
        packet.check_len()?;
        let v6 = match (src, dst) {
            (IpAddr::V4(_), IpAddr::V4(_)) => false,
            (IpAddr::V6(_), IpAddr::V6(_)) => true,
            _ => return Err(WireError::AddressFamilyMismatch),
        };
        if checksum.verify() && !packet.verify_checksum(src, dst) {
            return Err(WireError::BadChecksum);
        }
        let (request, reply) = if v6 {
            (V6_ECHO_REQUEST, V6_ECHO_REPLY)
        } else {
            (V4_ECHO_REQUEST, V4_ECHO_REPLY)
        };
        let (msg_type, code) = (packet.msg_type(), packet.code());
        let is_echo = code == 0 && (msg_type == request || msg_type == reply);
        if !is_echo {
            return Ok(IcmpRepr::Other { msg_type, code });
        }
        if packet.buffer.len() < ECHO_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let echo = Echo {
            ident: packet.ident(),
            seq_no: packet.seq_no(),
            data: packet.echo_data_slice(),
        };
        Ok(if msg_type == request {
            IcmpRepr::EchoRequest(echo)
        } else {
            IcmpRepr::EchoReply(echo)
        })
    }
}

impl IcmpRepr<'_> {
    /// The number of bytes [`IcmpRepr::emit`] writes: 8 plus the echo data, or 8 for
    /// [`IcmpRepr::Other`] (a header with zeroed rest-of-header).
    pub fn buffer_len(&self) -> usize {
        match self {
            IcmpRepr::EchoRequest(e) | IcmpRepr::EchoReply(e) => ECHO_HEADER_LEN + e.data.len(),
            IcmpRepr::Other { .. } => ECHO_HEADER_LEN,
        }
    }

    /// Writes the message into `packet` (which must hold at least [`IcmpRepr::buffer_len`]
    /// bytes; only that many are written) with the checksum for `src` → `dst`.
    pub fn emit(
        &self,
        packet: &mut IcmpPacket<&mut [u8]>,
        src: IpAddr,
        dst: IpAddr,
    ) -> Result<(), WireError> {
        let len = self.buffer_len();
        let buf = packet
            .buffer
            .get_mut(..len)
            .ok_or(WireError::BufferTooSmall)?;
        let mut out = IcmpPacket::new_unchecked(buf);
        let v6 = match (src, dst) {
            (IpAddr::V4(_), IpAddr::V4(_)) => false,
            (IpAddr::V6(_), IpAddr::V6(_)) => true,
            _ => return Err(WireError::AddressFamilyMismatch),
        };
        let (msg_type, code, echo) = match *self {
            IcmpRepr::EchoRequest(e) => (if v6 { V6_ECHO_REQUEST } else { V4_ECHO_REQUEST }, 0, e),
            IcmpRepr::EchoReply(e) => (if v6 { V6_ECHO_REPLY } else { V4_ECHO_REPLY }, 0, e),
            IcmpRepr::Other { msg_type, code } => (
                msg_type,
                code,
                Echo {
                    ident: 0,
                    seq_no: 0,
                    data: &[],
                },
            ),
        };
        out.set_msg_type(msg_type);
        out.set_code(code);
        out.set_ident(echo.ident);
        out.set_seq_no(echo.seq_no);
        out.echo_data_mut().copy_from_slice(echo.data);
        out.fill_checksum(src, dst);
        Ok(())
    }
}

/// The ICMP protocol number for an address family: 1 for IPv4, 58 for IPv6.
pub fn protocol_for(addr: IpAddr) -> u8 {
    if addr.is_ipv4() {
        PROTOCOL_ICMP
    } else {
        PROTOCOL_ICMPV6
    }
}

/// Parses an IPv4 packet carrying ICMP or an IPv6 packet carrying ICMPv6.
pub fn parse_ip_icmp(
    bytes: &[u8],
    checksum: Checksum,
) -> Result<(IpRepr, IcmpRepr<'_>), WireError> {
    let (ip, payload) = ip::parse_ip(bytes, checksum)?;
    if ip.protocol() != protocol_for(ip.src_addr()) {
        return Err(WireError::UnsupportedProtocol(ip.protocol()));
    }
    let icmp = parse_icmp(&ip, payload, checksum)?;
    Ok((ip, icmp))
}

/// Parses the ICMP payload of an already parsed IP header.
pub fn parse_icmp<'a>(
    ip: &IpRepr,
    payload: &'a [u8],
    checksum: Checksum,
) -> Result<IcmpRepr<'a>, WireError> {
    let packet = IcmpPacket::new_checked(payload)?;
    IcmpRepr::parse(&packet, ip.src_addr(), ip.dst_addr(), checksum)
}

/// Writes an IP header (protocol 1 or 58 by family, TTL/hop limit `hop_limit`) and the ICMP
/// message into `buf`, checksums filled in; returns the length written.
pub fn emit_ip_icmp(
    src: IpAddr,
    dst: IpAddr,
    hop_limit: u8,
    icmp: &IcmpRepr<'_>,
    buf: &mut [u8],
) -> Result<usize, WireError> {
    let len = icmp.buffer_len();
    let ip = IpRepr::new(src, dst, protocol_for(src), len, hop_limit)?;
    let ip = ip.with_payload(protocol_for(src), len)?;
    let header_len = ip.header_len();
    let total = header_len + len;
    let out = buf.get_mut(..total).ok_or(WireError::BufferTooSmall)?;
    let (ip_buf, icmp_buf) = out.split_at_mut(header_len);
    ip.emit(ip_buf)?;
    icmp.emit(&mut IcmpPacket::new_unchecked(icmp_buf), src, dst)?;
    Ok(total)
}
