//! ICMP for IPv4 (RFC 792) and ICMPv6 (RFC 4443): a zero-copy [`IcmpPacket`] view and an
//! owned [`IcmpRepr`] for echo and for error messages.
//!
//! Both versions share the 8-byte header: type, code, checksum and a 4-byte field whose
//! meaning depends on the message (echo identifier and sequence number, the next-hop MTU,
//! a pointer, or unused), then data. The family decides the type numbers (8/0 for ICMPv4
//! echo, 128/129 for ICMPv6) and the checksum: ICMPv4 sums the message alone, ICMPv6 adds the
//! IPv6 pseudo-header with next header 58 (RFC 4443 §2.3).
//!
//! Error messages ([`ErrorMessage`]: Destination Unreachable, Packet Too Big, Time Exceeded,
//! Parameter Problem) quote the start of the packet that caused them; [`parse_quoted`] reads
//! what a transport needs from that quote, [`emit_ip_icmp_error`] builds an error about an
//! offending packet, and [`may_send_error_about`] says whether the RFCs allow sending one.
//! Other messages parse as [`IcmpRepr::Other`] with their type and code, so a caller can
//! count and ignore them.

use super::checksum;
use super::field::{set_bytes, set_u8, set_u16, set_u32, u8_at, u16_at, u32_at};
use super::{Checksum, IpRepr, IpVersion, WireError, ip};
use core::net::IpAddr;

mod originate;
mod quote;

pub use originate::{MAX_ERROR_LEN_V4, MAX_ERROR_LEN_V6, emit_ip_icmp_error, may_send_error_about};
pub use quote::{QuotedPacket, parse_quoted};

/// The IPv4 protocol number of ICMP.
pub const PROTOCOL_ICMP: u8 = 1;
/// The IPv6 next-header number of ICMPv6.
pub const PROTOCOL_ICMPV6: u8 = 58;

/// The length of an echo header (type, code, checksum, identifier, sequence number).
pub const ECHO_HEADER_LEN: usize = 8;
/// The length of every message's header (type, code, checksum and the 4-byte field after
/// them); an error message's quote starts here.
pub const HEADER_LEN: usize = 8;

/// ICMPv4 echo reply type (RFC 792).
pub const V4_ECHO_REPLY: u8 = 0;
/// ICMPv4 echo request type (RFC 792).
pub const V4_ECHO_REQUEST: u8 = 8;
/// ICMPv6 echo request type (RFC 4443 §4.1).
pub const V6_ECHO_REQUEST: u8 = 128;
/// ICMPv6 echo reply type (RFC 4443 §4.2).
pub const V6_ECHO_REPLY: u8 = 129;

/// ICMPv4 Destination Unreachable type (RFC 792).
pub const V4_DST_UNREACHABLE: u8 = 3;
/// ICMPv4 Time Exceeded type (RFC 792).
pub const V4_TIME_EXCEEDED: u8 = 11;
/// ICMPv4 Parameter Problem type (RFC 792).
pub const V4_PARAM_PROBLEM: u8 = 12;
/// ICMPv6 Destination Unreachable type (RFC 4443 §3.1).
pub const V6_DST_UNREACHABLE: u8 = 1;
/// ICMPv6 Packet Too Big type (RFC 4443 §3.2).
pub const V6_PACKET_TOO_BIG: u8 = 2;
/// ICMPv6 Time Exceeded type (RFC 4443 §3.3).
pub const V6_TIME_EXCEEDED: u8 = 3;
/// ICMPv6 Parameter Problem type (RFC 4443 §3.4).
pub const V6_PARAM_PROBLEM: u8 = 4;

/// ICMPv4 Destination Unreachable code 0: net unreachable (RFC 792).
pub const V4_UNREACH_NET: u8 = 0;
/// ICMPv4 Destination Unreachable code 1: host unreachable (RFC 792).
pub const V4_UNREACH_HOST: u8 = 1;
/// ICMPv4 Destination Unreachable code 2: protocol unreachable (RFC 792).
pub const V4_UNREACH_PROTOCOL: u8 = 2;
/// ICMPv4 Destination Unreachable code 3: port unreachable (RFC 792).
pub const V4_UNREACH_PORT: u8 = 3;
/// ICMPv4 Destination Unreachable code 4: fragmentation needed and DF set (RFC 792); the
/// message carries the next-hop MTU (RFC 1191 §4).
pub const V4_UNREACH_FRAG_NEEDED: u8 = 4;
/// ICMPv4 Destination Unreachable code 5: source route failed (RFC 792).
pub const V4_UNREACH_SOURCE_ROUTE_FAILED: u8 = 5;
/// ICMPv4 Destination Unreachable code 6: destination network unknown (RFC 1122 §3.2.2.1).
pub const V4_UNREACH_NET_UNKNOWN: u8 = 6;
/// ICMPv4 Destination Unreachable code 7: destination host unknown (RFC 1122 §3.2.2.1).
pub const V4_UNREACH_HOST_UNKNOWN: u8 = 7;
/// ICMPv4 Destination Unreachable code 8: source host isolated (RFC 1122 §3.2.2.1).
pub const V4_UNREACH_HOST_ISOLATED: u8 = 8;
/// ICMPv4 Destination Unreachable code 9: network administratively prohibited
/// (RFC 1122 §3.2.2.1).
pub const V4_UNREACH_NET_PROHIBITED: u8 = 9;
/// ICMPv4 Destination Unreachable code 10: host administratively prohibited
/// (RFC 1122 §3.2.2.1).
pub const V4_UNREACH_HOST_PROHIBITED: u8 = 10;
/// ICMPv4 Destination Unreachable code 11: network unreachable for type of service
/// (RFC 1122 §3.2.2.1).
pub const V4_UNREACH_NET_TOS: u8 = 11;
/// ICMPv4 Destination Unreachable code 12: host unreachable for type of service
/// (RFC 1122 §3.2.2.1).
pub const V4_UNREACH_HOST_TOS: u8 = 12;
/// ICMPv4 Destination Unreachable code 13: communication administratively prohibited
/// (RFC 1812 §5.2.7.1).
pub const V4_UNREACH_ADMIN_PROHIBITED: u8 = 13;
/// ICMPv4 Destination Unreachable code 14: host precedence violation (RFC 1812 §5.2.7.1).
pub const V4_UNREACH_PRECEDENCE_VIOLATION: u8 = 14;
/// ICMPv4 Destination Unreachable code 15: precedence cutoff in effect (RFC 1812 §5.2.7.1).
pub const V4_UNREACH_PRECEDENCE_CUTOFF: u8 = 15;

/// ICMPv6 Destination Unreachable code 0: no route to destination (RFC 4443 §3.1).
pub const V6_UNREACH_NO_ROUTE: u8 = 0;
/// ICMPv6 Destination Unreachable code 1: communication administratively prohibited.
pub const V6_UNREACH_ADMIN_PROHIBITED: u8 = 1;
/// ICMPv6 Destination Unreachable code 2: beyond scope of source address.
pub const V6_UNREACH_BEYOND_SCOPE: u8 = 2;
/// ICMPv6 Destination Unreachable code 3: address unreachable.
pub const V6_UNREACH_ADDRESS: u8 = 3;
/// ICMPv6 Destination Unreachable code 4: port unreachable.
pub const V6_UNREACH_PORT: u8 = 4;
/// ICMPv6 Destination Unreachable code 5: source address failed ingress/egress policy.
pub const V6_UNREACH_SOURCE_POLICY: u8 = 5;
/// ICMPv6 Destination Unreachable code 6: reject route to destination.
pub const V6_UNREACH_REJECT_ROUTE: u8 = 6;

/// Time Exceeded code 0, both families: TTL / hop limit exceeded in transit.
pub const TIME_EXCEEDED_IN_TRANSIT: u8 = 0;
/// Time Exceeded code 1, both families: fragment reassembly time exceeded.
pub const TIME_EXCEEDED_REASSEMBLY: u8 = 1;

/// ICMPv4 Parameter Problem code 0: the pointer indicates the error (RFC 792).
pub const V4_PARAM_POINTER: u8 = 0;
/// ICMPv4 Parameter Problem code 1: a required option is missing (RFC 1122 §3.2.2.5).
pub const V4_PARAM_MISSING_OPTION: u8 = 1;
/// ICMPv4 Parameter Problem code 2: bad length (RFC 1812 §5.2.7.3).
pub const V4_PARAM_BAD_LENGTH: u8 = 2;
/// ICMPv6 Parameter Problem code 0: erroneous header field (RFC 4443 §3.4).
pub const V6_PARAM_HEADER_FIELD: u8 = 0;
/// ICMPv6 Parameter Problem code 1: unrecognized Next Header type (RFC 4443 §3.4).
pub const V6_PARAM_NEXT_HEADER: u8 = 1;
/// ICMPv6 Parameter Problem code 2: unrecognized IPv6 option (RFC 4443 §3.4); may be sent
/// about a multicast packet (§2.4(e.3)).
pub const V6_PARAM_OPTION: u8 = 2;
/// ICMPv6 Parameter Problem code 3: IPv6 first fragment has an incomplete header chain
/// (RFC 7112).
pub const V6_PARAM_INCOMPLETE_CHAIN: u8 = 3;

/// Field offsets.
mod off {
    pub(super) const TYPE: usize = 0;
    pub(super) const CODE: usize = 1;
    pub(super) const CHECKSUM: usize = 2;
    pub(super) const IDENT: usize = 4;
    pub(super) const SEQ_NO: usize = 6;
    pub(super) const REST: usize = 4;
    pub(super) const NEXT_HOP_MTU: usize = 6;
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
    /// checksum). Echo and error messages need [`HEADER_LEN`] bytes, which
    /// [`IcmpRepr::parse`] checks.
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

    /// The 4 bytes after the checksum as one big-endian word: an ICMPv6 Packet Too Big's MTU
    /// or Parameter Problem's pointer; an ICMPv4 Parameter Problem's pointer is its top
    /// octet (RFC 792, RFC 4443 §3).
    pub fn rest_of_header(&self) -> u32 {
        u32_at(self.buf(), off::REST)
    }

    /// The next-hop MTU of an ICMPv4 "fragmentation needed" (bytes 6–7, RFC 1191 §4).
    pub fn next_hop_mtu(&self) -> u16 {
        u16_at(self.buf(), off::NEXT_HOP_MTU)
    }

    /// An error message's quote of the invoking packet (everything after the 8-byte
    /// header); empty if shorter.
    pub fn quote(&self) -> &[u8] {
        self.echo_data()
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

    /// The quote with the buffer's lifetime.
    pub fn quote_slice(&self) -> &'a [u8] {
        self.buffer.get(HEADER_LEN..).unwrap_or(&[])
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

    /// Sets the 4 bytes after the checksum (see [`IcmpPacket::rest_of_header`]).
    pub fn set_rest_of_header(&mut self, v: u32) {
        set_u32(self.buf_mut(), off::REST, v);
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

/// An ICMP or ICMPv6 error message: its type, its code and the field that travels with them.
/// The quote of the invoking packet is kept apart ([`IcmpRepr::Error`]).
///
/// The same value describes the message in both families; the family (of the addresses it
/// travels between) picks the type number, and the code's meaning where the families differ
/// (the `V4_UNREACH_*` and `V6_UNREACH_*` constants).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorMessage {
    /// Destination Unreachable: ICMPv4 type 3 (RFC 792; codes 0–15, RFC 1122 §3.2.2.1,
    /// RFC 1812 §5.2.7.1) or ICMPv6 type 1 (codes 0–6, RFC 4443 §3.1).
    DstUnreachable {
        /// The code, read in the message's family.
        code: u8,
        /// ICMPv4 code 4 ("fragmentation needed and DF set") only: the next-hop MTU
        /// (RFC 1191 §4; 0 from a router that predates RFC 1191). Parsed as 0 and emitted as
        /// zero bytes for every other code and for ICMPv6, where the field is unused.
        next_hop_mtu: u16,
    },
    /// Packet Too Big: ICMPv6 type 2 with the MTU of the next-hop link (RFC 4443 §3.2). The
    /// code is ignored on parse and sent as 0. Not an ICMPv4 message: IPv4 says this with
    /// Destination Unreachable code 4.
    PacketTooBig {
        /// The MTU of the next-hop link.
        mtu: u32,
    },
    /// Time Exceeded: ICMPv4 type 11 (RFC 792) or ICMPv6 type 3 (RFC 4443 §3.3); code 0 is
    /// the hop limit exceeded in transit, 1 fragment reassembly time exceeded.
    TimeExceeded {
        /// The code.
        code: u8,
    },
    /// Parameter Problem: ICMPv4 type 12 (RFC 792) or ICMPv6 type 4 (RFC 4443 §3.4).
    ParamProblem {
        /// The code, read in the message's family.
        code: u8,
        /// The offset of the offending octet in the invoking packet. ICMPv4 carries one
        /// octet, so a pointer above 255 cannot be emitted over IPv4.
        pointer: u32,
    },
}

impl ErrorMessage {
    /// Reads an error message's header in `version`'s numbering; `None` for any other type.
    fn from_header(version: IpVersion, msg_type: u8, code: u8, rest: u32) -> Option<Self> {
        let message = match (version, msg_type) {
            (IpVersion::V4, V4_DST_UNREACHABLE) => ErrorMessage::DstUnreachable {
                code,
                next_hop_mtu: if code == V4_UNREACH_FRAG_NEEDED {
                    (rest & 0xffff) as u16
                } else {
                    0
                },
            },
            (IpVersion::V4, V4_TIME_EXCEEDED) | (IpVersion::V6, V6_TIME_EXCEEDED) => {
                ErrorMessage::TimeExceeded { code }
            }
            (IpVersion::V4, V4_PARAM_PROBLEM) => ErrorMessage::ParamProblem {
                code,
                pointer: rest >> 24,
            },
            (IpVersion::V6, V6_DST_UNREACHABLE) => ErrorMessage::DstUnreachable {
                code,
                next_hop_mtu: 0,
            },
            (IpVersion::V6, V6_PACKET_TOO_BIG) => ErrorMessage::PacketTooBig { mtu: rest },
            (IpVersion::V6, V6_PARAM_PROBLEM) => ErrorMessage::ParamProblem {
                code,
                pointer: rest,
            },
            _ => return None,
        };
        Some(message)
    }

    /// The type, code and rest-of-header this message has in `version`;
    /// [`WireError::IcmpNotRepresentable`] for Packet Too Big over IPv4 or an ICMPv4
    /// Parameter Problem pointer above 255.
    pub fn header(&self, version: IpVersion) -> Result<(u8, u8, u32), WireError> {
        let v4 = version == IpVersion::V4;
        Ok(match *self {
            ErrorMessage::DstUnreachable { code, next_hop_mtu } => {
                let rest = if v4 && code == V4_UNREACH_FRAG_NEEDED {
                    u32::from(next_hop_mtu)
                } else {
                    0
                };
                let msg_type = if v4 {
                    V4_DST_UNREACHABLE
                } else {
                    V6_DST_UNREACHABLE
                };
                (msg_type, code, rest)
            }
            ErrorMessage::PacketTooBig { mtu } if !v4 => (V6_PACKET_TOO_BIG, 0, mtu),
            ErrorMessage::PacketTooBig { .. } => return Err(WireError::IcmpNotRepresentable),
            ErrorMessage::TimeExceeded { code } => {
                let msg_type = if v4 {
                    V4_TIME_EXCEEDED
                } else {
                    V6_TIME_EXCEEDED
                };
                (msg_type, code, 0)
            }
            ErrorMessage::ParamProblem { code, pointer } if v4 => {
                let pointer = u8::try_from(pointer).map_err(|_| WireError::IcmpNotRepresentable)?;
                (V4_PARAM_PROBLEM, code, u32::from(pointer) << 24)
            }
            ErrorMessage::ParamProblem { code, pointer } => (V6_PARAM_PROBLEM, code, pointer),
        })
    }
}

/// An ICMP or ICMPv6 message, as far as synack understands it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IcmpRepr<'a> {
    /// Echo request (type 8, or 128 for ICMPv6), code 0.
    EchoRequest(Echo<'a>),
    /// Echo reply (type 0, or 129 for ICMPv6), code 0.
    EchoReply(Echo<'a>),
    /// An error message (any code of the four types [`ErrorMessage`] knows) and the start of
    /// the invoking packet it quotes; [`parse_quoted`] reads addresses and ports from it.
    Error {
        /// Which error, its code and its field.
        message: ErrorMessage,
        /// The quoted invoking packet (everything after the 8-byte header; possibly empty).
        quote: &'a [u8],
    },
    /// Any other message (or an echo with a non-zero code): only its type and code.
    Other {
        /// Message type.
        msg_type: u8,
        /// Message code.
        code: u8,
    },
}

/// The family of a message travelling from `src` to `dst`.
fn family(src: IpAddr, dst: IpAddr) -> Result<IpVersion, WireError> {
    match (src, dst) {
        (IpAddr::V4(_), IpAddr::V4(_)) => Ok(IpVersion::V4),
        (IpAddr::V6(_), IpAddr::V6(_)) => Ok(IpVersion::V6),
        _ => Err(WireError::AddressFamilyMismatch),
    }
}

impl<'a> IcmpRepr<'a> {
    /// Parses a message that travelled from `src` to `dst` (their family selects ICMPv4 or
    /// ICMPv6). With [`Checksum::Verify`] a bad checksum is [`WireError::BadChecksum`]; mixed
    /// families are [`WireError::AddressFamilyMismatch`]; an echo or an error message
    /// shorter than 8 bytes is [`WireError::Truncated`]. An error message's quote is not
    /// looked into here (see [`parse_quoted`]).
    pub fn parse(
        packet: &IcmpPacket<&'a [u8]>,
        src: IpAddr,
        dst: IpAddr,
        checksum: Checksum,
    ) -> Result<Self, WireError> {
        packet.check_len()?;
        let version = family(src, dst)?;
        if checksum.verify() && !packet.verify_checksum(src, dst) {
            return Err(WireError::BadChecksum);
        }
        let (request, reply) = match version {
            IpVersion::V4 => (V4_ECHO_REQUEST, V4_ECHO_REPLY),
            IpVersion::V6 => (V6_ECHO_REQUEST, V6_ECHO_REPLY),
        };
        let (msg_type, code) = (packet.msg_type(), packet.code());
        let is_echo = code == 0 && (msg_type == request || msg_type == reply);
        let error = ErrorMessage::from_header(version, msg_type, code, packet.rest_of_header());
        if !is_echo && error.is_none() {
            return Ok(IcmpRepr::Other { msg_type, code });
        }
        if packet.buffer.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if let Some(message) = error {
            return Ok(IcmpRepr::Error {
                message,
                quote: packet.quote_slice(),
            });
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
    /// The number of bytes [`IcmpRepr::emit`] writes: 8 plus the echo data or the quote, or
    /// 8 for [`IcmpRepr::Other`] (a header with zeroed rest-of-header).
    pub fn buffer_len(&self) -> usize {
        match self {
            IcmpRepr::EchoRequest(e) | IcmpRepr::EchoReply(e) => HEADER_LEN + e.data.len(),
            IcmpRepr::Error { quote, .. } => HEADER_LEN + quote.len(),
            IcmpRepr::Other { .. } => HEADER_LEN,
        }
    }

    /// Writes the message into `packet` (which must hold at least [`IcmpRepr::buffer_len`]
    /// bytes; only that many are written) with the checksum for `src` → `dst`. The whole
    /// quote of an error is written: [`emit_ip_icmp_error`] is the one that trims it to the
    /// RFC size limits. Errors: [`WireError::BufferTooSmall`],
    /// [`WireError::AddressFamilyMismatch`], [`WireError::IcmpNotRepresentable`] (see
    /// [`ErrorMessage::header`]).
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
        let version = family(src, dst)?;
        let v6 = version == IpVersion::V6;
        let echo_rest = |e: &Echo<'_>| (u32::from(e.ident) << 16) | u32::from(e.seq_no);
        let (msg_type, code, rest, body) = match *self {
            IcmpRepr::EchoRequest(ref e) => (
                if v6 { V6_ECHO_REQUEST } else { V4_ECHO_REQUEST },
                0,
                echo_rest(e),
                e.data,
            ),
            IcmpRepr::EchoReply(ref e) => (
                if v6 { V6_ECHO_REPLY } else { V4_ECHO_REPLY },
                0,
                echo_rest(e),
                e.data,
            ),
            IcmpRepr::Error { message, quote } => {
                let (msg_type, code, rest) = message.header(version)?;
                (msg_type, code, rest, quote)
            }
            IcmpRepr::Other { msg_type, code } => (msg_type, code, 0, &[][..]),
        };
        out.set_msg_type(msg_type);
        out.set_code(code);
        out.set_rest_of_header(rest);
        set_bytes(out.echo_data_mut(), 0, body);
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
///
/// An error's quote is written whole; to build an error about a packet, trimmed to the RFC
/// size limits and addressed to its source, use [`emit_ip_icmp_error`]. Errors as for
/// [`IcmpRepr::emit`], checked before anything is written, and
/// [`WireError::PacketTooLong`].
pub fn emit_ip_icmp(
    src: IpAddr,
    dst: IpAddr,
    hop_limit: u8,
    icmp: &IcmpRepr<'_>,
    buf: &mut [u8],
) -> Result<usize, WireError> {
    if let IcmpRepr::Error { message, .. } = icmp {
        message.header(IpVersion::of(src))?;
    }
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
