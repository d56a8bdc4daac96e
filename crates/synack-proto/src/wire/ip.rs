//! Version-independent IP: [`IpRepr`] over [`Ipv4Repr`] and [`Ipv6Repr`].

use super::ipv4::{Ipv4Packet, Ipv4Repr};
use super::ipv6::{Ipv6Packet, Ipv6Repr};
use super::{Checksum, WireError};
use core::net::IpAddr;

/// The IP protocol number of TCP.
pub const PROTOCOL_TCP: u8 = 6;
/// The IP protocol number of UDP.
pub const PROTOCOL_UDP: u8 = 17;

/// An IP version: the family of an address, a packet or an ICMP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpVersion {
    /// IPv4 (and ICMP).
    V4,
    /// IPv6 (and ICMPv6).
    V6,
}

impl IpVersion {
    /// The family of `addr`.
    pub const fn of(addr: IpAddr) -> IpVersion {
        match addr {
            IpAddr::V4(_) => IpVersion::V4,
            IpAddr::V6(_) => IpVersion::V6,
        }
    }

    /// The family a packet's first byte (its version nibble) names, if 4 or 6.
    pub fn of_packet(bytes: &[u8]) -> Option<IpVersion> {
        match bytes.first().map(|b| b >> 4) {
            Some(4) => Some(IpVersion::V4),
            Some(6) => Some(IpVersion::V6),
            _ => None,
        }
    }
}

/// An IPv4 or IPv6 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpRepr {
    /// IPv4.
    V4(Ipv4Repr),
    /// IPv6.
    V6(Ipv6Repr),
}

impl IpRepr {
    /// Builds a header from addresses of one family; mixed families are
    /// [`WireError::AddressFamilyMismatch`].
    pub fn new(
        src: IpAddr,
        dst: IpAddr,
        protocol: u8,
        payload_len: usize,
        hop_limit: u8,
    ) -> Result<IpRepr, WireError> {
        match (src, dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => Ok(IpRepr::V4(Ipv4Repr {
                src,
                dst,
                protocol,
                payload_len,
                ttl: hop_limit,
            })),
            (IpAddr::V6(src), IpAddr::V6(dst)) => Ok(IpRepr::V6(Ipv6Repr {
                src,
                dst,
                next_header: protocol,
                payload_len,
                hop_limit,
            })),
            _ => Err(WireError::AddressFamilyMismatch),
        }
    }

    /// IPv4 or IPv6.
    pub fn version(&self) -> IpVersion {
        match self {
            IpRepr::V4(_) => IpVersion::V4,
            IpRepr::V6(_) => IpVersion::V6,
        }
    }

    /// Source address.
    pub fn src_addr(&self) -> IpAddr {
        match self {
            IpRepr::V4(r) => IpAddr::V4(r.src),
            IpRepr::V6(r) => IpAddr::V6(r.src),
        }
    }

    /// Destination address.
    pub fn dst_addr(&self) -> IpAddr {
        match self {
            IpRepr::V4(r) => IpAddr::V4(r.dst),
            IpRepr::V6(r) => IpAddr::V6(r.dst),
        }
    }

    /// TTL (IPv4) or hop limit (IPv6).
    pub fn hop_limit(&self) -> u8 {
        match self {
            IpRepr::V4(r) => r.ttl,
            IpRepr::V6(r) => r.hop_limit,
        }
    }

    /// The (upper-layer) protocol: IPv4 protocol or IPv6 final next header.
    pub fn protocol(&self) -> u8 {
        match self {
            IpRepr::V4(r) => r.protocol,
            IpRepr::V6(r) => r.next_header,
        }
    }

    /// The (upper-layer) payload length.
    pub fn payload_len(&self) -> usize {
        match self {
            IpRepr::V4(r) => r.payload_len,
            IpRepr::V6(r) => r.payload_len,
        }
    }

    /// The emitted header length: 20 or 40.
    pub fn header_len(&self) -> usize {
        match self {
            IpRepr::V4(r) => r.header_len(),
            IpRepr::V6(r) => r.header_len(),
        }
    }

    /// Header plus payload.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload_len()
    }

    /// The same header with another protocol and payload length; fails with
    /// [`WireError::PacketTooLong`] if the length field could not hold it.
    pub fn with_payload(&self, protocol: u8, payload_len: usize) -> Result<IpRepr, WireError> {
        let mut out = *self;
        match &mut out {
            IpRepr::V4(r) => {
                r.protocol = protocol;
                r.payload_len = payload_len;
                if r.buffer_len() > super::ipv4::MAX_PACKET_LEN {
                    return Err(WireError::PacketTooLong);
                }
            }
            IpRepr::V6(r) => {
                r.next_header = protocol;
                r.payload_len = payload_len;
                if payload_len > super::ipv6::MAX_PAYLOAD_LEN {
                    return Err(WireError::PacketTooLong);
                }
            }
        }
        Ok(out)
    }

    /// Writes the header into the start of `buf` (which must hold at least
    /// [`IpRepr::header_len`] bytes; the payload is not touched).
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        match self {
            IpRepr::V4(r) => r.emit(&mut Ipv4Packet::new_unchecked(buf)),
            IpRepr::V6(r) => r.emit(&mut Ipv6Packet::new_unchecked(buf)),
        }
    }
}

/// Parses an IPv4 or IPv6 header (version nibble decides) and returns it with
/// the upper-layer payload (IP length honoured, IPv6 extension headers skipped).
pub fn parse_ip(bytes: &[u8], checksum: Checksum) -> Result<(IpRepr, &[u8]), WireError> {
    let first = bytes.first().ok_or(WireError::Truncated)?;
    match first >> 4 {
        4 => {
            let packet = Ipv4Packet::new_checked(bytes)?;
            let repr = Ipv4Repr::parse(&packet, checksum)?;
            Ok((IpRepr::V4(repr), packet.payload_slice()))
        }
        6 => {
            let packet = Ipv6Packet::new_checked(bytes)?;
            let repr = Ipv6Repr::parse(&packet)?;
            let (_, offset) = packet.upper_layer()?;
            let payload = packet
                .payload_slice()
                .get(offset..)
                .ok_or(WireError::Truncated)?;
            Ok((IpRepr::V6(repr), payload))
        }
        _ => Err(WireError::BadVersion),
    }
}
