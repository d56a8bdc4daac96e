//! The invoking packet an ICMP error quotes, read tolerantly.
//!
//! A quote is the start of a packet that some host or router received and threw away: RFC 792
//! promises only the IP header and the first 8 octets of its data, RFC 1812 §4.3.2.3 and
//! RFC 4443 §2.4(c) as much as fits in 576 or 1280 bytes. So nothing here depends on the
//! quoted lengths or checksums (they describe the whole original, which is gone): the IP
//! header must be there, with its options or extension headers, and every transport byte
//! after it is taken as it comes. The first 8 of them hold the ports of TCP and UDP and
//! TCP's sequence number, which is what a transport needs to find the connection the error
//! is about (RFC 9293 §3.9.2.2, RFC 5927 §4.1).

use crate::wire::field::{u16_at, u32_at};
use crate::wire::ipv4::{self, Ipv4Packet};
use crate::wire::ipv6::{self, Ipv6Packet};
use crate::wire::seq::SeqNum;
use crate::wire::{IpVersion, PROTOCOL_TCP, PROTOCOL_UDP, WireError};
use core::net::IpAddr;

/// What an ICMP error's quote says about the packet that caused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QuotedPacket<'a> {
    /// The invoking packet's source address (ours, for a packet we sent).
    pub src: IpAddr,
    /// The invoking packet's destination address.
    pub dst: IpAddr,
    /// The upper-layer protocol: IPv4's protocol field, or for IPv6 the next header after
    /// the extension headers (hop-by-hop, routing, destination options, fragment and AH are
    /// walked; ESP, 50, ends the walk).
    pub protocol: u8,
    /// The fragment offset in bytes: 0 for an unfragmented packet or a first fragment. A
    /// non-initial fragment carries no transport header, so `transport` is then empty and
    /// `ports` and `tcp_seq` are `None`.
    pub fragment_offset: u16,
    /// The quoted transport bytes, header first, as many as the quote holds (RFC 792
    /// guarantees 8); the quote's length fields are not trusted to bound them.
    pub transport: &'a [u8],
    /// (source, destination) ports, when `protocol` is TCP or UDP and the quote holds them.
    pub ports: Option<(u16, u16)>,
    /// The TCP sequence number, when `protocol` is TCP and the quote holds it (RFC 5927 §4.1
    /// checks it against the send window before believing the error).
    pub tcp_seq: Option<SeqNum>,
}

/// Reads the invoking packet quoted by an ICMP (`version` [`IpVersion::V4`]) or ICMPv6
/// ([`IpVersion::V6`]) error message.
///
/// Tolerant of truncation: only the IP header must be whole (IPv4 options included; IPv6
/// extension headers up to the transport header). The quoted total/payload length, the IPv4
/// header checksum and the transport checksum are not checked.
///
/// Errors: [`WireError::Truncated`] when the IP header (or an IPv6 extension header) is cut
/// short, [`WireError::BadVersion`] when the quote is not of `version`'s family (RFC 792 and
/// RFC 4443 §2.4(c) quote the invoking packet of the same family),
/// [`WireError::BadHeaderLength`] for an IPv4 IHL below 5,
/// [`WireError::TooManyExtensionHeaders`].
pub fn parse_quoted(version: IpVersion, quote: &[u8]) -> Result<QuotedPacket<'_>, WireError> {
    let (src, dst, protocol, fragment_offset, rest) = match version {
        IpVersion::V4 => ipv4_header(quote)?,
        IpVersion::V6 => ipv6_headers(quote)?,
    };
    let transport = if fragment_offset == 0 { rest } else { &[] };
    let ports = (matches!(protocol, PROTOCOL_TCP | PROTOCOL_UDP) && transport.len() >= 4)
        .then(|| (u16_at(transport, 0), u16_at(transport, 2)));
    let tcp_seq = (protocol == PROTOCOL_TCP && transport.len() >= 8)
        .then(|| SeqNum::new(u32_at(transport, 4)));
    Ok(QuotedPacket {
        src,
        dst,
        protocol,
        fragment_offset,
        transport,
        ports,
        tcp_seq,
    })
}

/// Addresses, protocol, fragment offset and what follows the header of a quoted IPv4 packet.
type Headers<'a> = (IpAddr, IpAddr, u8, u16, &'a [u8]);

fn ipv4_header(quote: &[u8]) -> Result<Headers<'_>, WireError> {
    if quote.len() < ipv4::HEADER_LEN {
        return Err(WireError::Truncated);
    }
    let packet = Ipv4Packet::new_unchecked(quote);
    if packet.version() != 4 {
        return Err(WireError::BadVersion);
    }
    let header_len = packet.header_len();
    if header_len < ipv4::HEADER_LEN {
        return Err(WireError::BadHeaderLength);
    }
    let rest = quote.get(header_len..).ok_or(WireError::Truncated)?;
    Ok((
        packet.src_addr().into(),
        packet.dst_addr().into(),
        packet.protocol(),
        packet.frag_offset(),
        rest,
    ))
}

fn ipv6_headers(quote: &[u8]) -> Result<Headers<'_>, WireError> {
    let after = quote.get(ipv6::HEADER_LEN..).ok_or(WireError::Truncated)?;
    let packet = Ipv6Packet::new_unchecked(quote);
    if packet.version() != 6 {
        return Err(WireError::BadVersion);
    }
    let upper = ipv6::walk_to_upper_layer(packet.next_header(), after)?;
    let rest = after.get(upper.offset..).unwrap_or(&[]);
    Ok((
        packet.src_addr().into(),
        packet.dst_addr().into(),
        upper.protocol,
        upper.frag_offset,
        rest,
    ))
}
