//! Originating an ICMP or ICMPv6 error about a packet we received: whether the RFCs allow
//! it ([`may_send_error_about`]) and the message itself ([`emit_ip_icmp_error`]).

use super::{ErrorMessage, HEADER_LEN, IcmpRepr, PROTOCOL_ICMP, PROTOCOL_ICMPV6, emit_ip_icmp};
use crate::wire::ipv4::{self, Ipv4Packet};
use crate::wire::ipv6::{self, Ipv6Packet};
use crate::wire::{IpVersion, WireError};
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The largest ICMPv4 error datagram, IP header included: RFC 1812 §4.3.2.3 quotes "as much
/// of the original datagram as possible without the length of the ICMP datagram exceeding
/// 576 bytes".
pub const MAX_ERROR_LEN_V4: usize = 576;
/// The largest ICMPv6 error packet, IPv6 header included: RFC 4443 §2.4(c) quotes "as much of
/// invoking packet as possible without the ICMPv6 packet exceeding the minimum IPv6 MTU"
/// (1280, RFC 8200 §5).
pub const MAX_ERROR_LEN_V6: usize = 1280;

/// ICMPv6 Redirect (RFC 4861 §4.5): informational by number, but RFC 4443 §2.4(e.2) forbids
/// errors about it.
const V6_REDIRECT: u8 = 137;

/// Writes an IP packet from `src` carrying the error `message` about `offending` (the IP
/// packet that caused it, as received) back to `offending`'s source, and returns its length.
///
/// The quote is as much of `offending` as fits without the whole packet exceeding
/// [`MAX_ERROR_LEN_V4`] or [`MAX_ERROR_LEN_V6`]; bytes past `offending`'s own IP length (link
/// padding) are left out when that length is consistent. The checksum is filled (with the
/// IPv6 pseudo-header for ICMPv6). TTL/hop limit is `hop_limit`.
///
/// This does not ask whether the error may be sent: call [`may_send_error_about`] first (and
/// rate-limit, RFC 1812 §4.3.2.8, RFC 4443 §2.4(f)).
///
/// Errors: [`WireError::Truncated`] when `offending` is shorter than its fixed IP header,
/// [`WireError::BadVersion`] when its version nibble is neither 4 nor 6,
/// [`WireError::AddressFamilyMismatch`] when it is not of `src`'s family,
/// [`WireError::IcmpNotRepresentable`] (see [`ErrorMessage::header`]),
/// [`WireError::BufferTooSmall`].
pub fn emit_ip_icmp_error(
    src: IpAddr,
    hop_limit: u8,
    message: &ErrorMessage,
    offending: &[u8],
    buf: &mut [u8],
) -> Result<usize, WireError> {
    let version = IpVersion::of(src);
    message.header(version)?;
    let (dst, packet, limit, header_len) = match IpVersion::of_packet(offending) {
        None if offending.is_empty() => return Err(WireError::Truncated),
        None => return Err(WireError::BadVersion),
        Some(v) if v != version => return Err(WireError::AddressFamilyMismatch),
        Some(IpVersion::V4) => {
            if offending.len() < ipv4::HEADER_LEN {
                return Err(WireError::Truncated);
            }
            let p = Ipv4Packet::new_unchecked(offending);
            let total = usize::from(p.total_len());
            let packet = if total >= ipv4::HEADER_LEN {
                offending.get(..total).unwrap_or(offending)
            } else {
                offending
            };
            let dst = IpAddr::V4(p.src_addr());
            (dst, packet, MAX_ERROR_LEN_V4, ipv4::HEADER_LEN)
        }
        Some(IpVersion::V6) => {
            if offending.len() < ipv6::HEADER_LEN {
                return Err(WireError::Truncated);
            }
            let p = Ipv6Packet::new_unchecked(offending);
            let total = ipv6::HEADER_LEN + usize::from(p.payload_len());
            let packet = offending.get(..total).unwrap_or(offending);
            let dst = IpAddr::V6(p.src_addr());
            (dst, packet, MAX_ERROR_LEN_V6, ipv6::HEADER_LEN)
        }
    };
    let room = limit - header_len - HEADER_LEN;
    let quote = packet.get(..room).unwrap_or(packet);
    let repr = IcmpRepr::Error {
        message: *message,
        quote,
    };
    emit_ip_icmp(src, dst, hop_limit, &repr, buf)
}

/// True when the RFCs allow sending the error `message` about `offending` (an IP packet as
/// received, addressed to us, already accepted by the IP layer: checksum verified).
///
/// The rules, each from the clause that states it:
///
/// | never about a packet… | IPv4 | IPv6 |
/// |---|---|---|
/// | that is itself an ICMP error (informational messages such as echo are fine) | RFC 1122 §3.2.2, RFC 1812 §4.3.2.7 | RFC 4443 §2.4(e.1) |
/// | that is an ICMPv6 Redirect | | RFC 4443 §2.4(e.2) |
/// | destined to a broadcast (255.255.255.255) or multicast (224/4, ff00::/8) address | RFC 1122 §3.2.2, RFC 1812 §4.3.2.7 | RFC 4443 §2.4(e.3), except Packet Too Big and Parameter Problem code 2 |
/// | that is a fragment other than the first | RFC 1122 §3.2.2, RFC 1812 §4.3.2.7 | its bytes hold no transport header to report on (RFC 8200 §4.5); synack does not reassemble, so never sends the reassembly errors RFC 8200 §4.5 allows about fragments |
/// | whose source does not name a single host: unspecified or "this network" (0/8), multicast, broadcast, Class E (240/4) | RFC 1122 §3.2.2, RFC 1812 §4.3.2.7 | RFC 4443 §2.4(e.6) (`::`, ff00::/8) |
/// | whose source is loopback but whose destination is not (it came from outside the host) | RFC 1122 §3.2.1.3(g), §3.2.2 | RFC 4291 §2.5.3 |
///
/// Unknown ICMPv4 types count as errors (as in Linux: answering an error that is not
/// recognised as one risks an error loop); the ICMPv4 informational types are 0, 8, 9, 10
/// and 13–18 (RFC 792, RFC 1256, RFC 950). ICMPv6 types below 128 are errors (RFC 4443
/// §2.1). An ICMP(v6) packet whose type is not in the buffer is refused. An IPv6 extension
/// header chain that cannot be walked does not refuse: reporting such a chain is Parameter
/// Problem's job.
///
/// What the packet alone cannot tell is left to the caller: a packet that arrived as a
/// link-layer broadcast or multicast (RFC 1122 §3.2.2, RFC 4443 §2.4(e.4–5)), a directed
/// broadcast of one of our subnets, an anycast source, and rate limiting (RFC 1812 §4.3.2.8,
/// RFC 4443 §2.4(f)). A message the family cannot carry ([`ErrorMessage::header`]) and a
/// buffer too short for the fixed IP header are refused.
pub fn may_send_error_about(offending: &[u8], message: &ErrorMessage) -> bool {
    match IpVersion::of_packet(offending) {
        Some(IpVersion::V4) => may_send_v4(offending, message),
        Some(IpVersion::V6) => may_send_v6(offending, message),
        None => false,
    }
}

fn may_send_v4(packet: &[u8], message: &ErrorMessage) -> bool {
    if message.header(IpVersion::V4).is_err() || packet.len() < ipv4::HEADER_LEN {
        return false;
    }
    let p = Ipv4Packet::new_unchecked(packet);
    let (src, dst) = (p.src_addr(), p.dst_addr());
    // RFC 1122 §3.2.2: "An ICMP error message MUST NOT be sent as the result of receiving:
    // … a datagram destined to an IP broadcast or IP multicast address".
    if dst.is_broadcast() || dst.is_multicast() {
        return false;
    }
    // RFC 1122 §3.2.2: "… a datagram whose source address does not define a single host".
    if !v4_source_is_single_host(src, dst) {
        return false;
    }
    // RFC 1122 §3.2.2: "… a non-initial fragment".
    if p.frag_offset() != 0 {
        return false;
    }
    // RFC 1122 §3.2.2: "… an ICMP error message".
    if p.protocol() == PROTOCOL_ICMP {
        let header_len = p.header_len();
        if header_len < ipv4::HEADER_LEN {
            return false;
        }
        return packet
            .get(header_len)
            .is_some_and(|&t| v4_is_informational(t));
    }
    true
}

/// RFC 1122 §3.2.2 and RFC 1812 §4.3.2.7: "a zero address, a loopback address, a broadcast
/// address, a multicast address, or a Class E address" (RFC 1812: "a network prefix of
/// zero"). Loopback is refused only from outside the host (RFC 1122 §3.2.1.3(g)): a packet
/// between loopback addresses never left it.
fn v4_source_is_single_host(src: Ipv4Addr, dst: Ipv4Addr) -> bool {
    let first = src.octets()[0];
    let this_network = first == 0;
    let class_e = first >= 240; // 240/4, 255.255.255.255 included
    let loopback_from_outside = src.is_loopback() && !dst.is_loopback();
    !(this_network || class_e || src.is_multicast() || loopback_from_outside)
}

/// The ICMPv4 types that are queries or replies rather than errors: echo reply and request
/// (0, 8; RFC 792), router advertisement and solicitation (9, 10; RFC 1256), timestamp
/// (13, 14), information (15, 16; RFC 792) and address mask (17, 18; RFC 950).
fn v4_is_informational(msg_type: u8) -> bool {
    matches!(msg_type, 0 | 8 | 9 | 10 | 13..=18)
}

fn may_send_v6(packet: &[u8], message: &ErrorMessage) -> bool {
    let Some(after) = packet.get(ipv6::HEADER_LEN..) else {
        return false;
    };
    let p = Ipv6Packet::new_unchecked(packet);
    let (src, dst) = (p.src_addr(), p.dst_addr());
    // RFC 4443 §2.4(e.3): not about "a packet destined to an IPv6 multicast address", except
    // Packet Too Big and Parameter Problem code 2 (unrecognized option).
    let multicast_exception = matches!(
        message,
        ErrorMessage::PacketTooBig { .. }
            | ErrorMessage::ParamProblem {
                code: super::V6_PARAM_OPTION,
                ..
            }
    );
    if dst.is_multicast() && !multicast_exception {
        return false;
    }
    // RFC 4443 §2.4(e.6): not about "a packet whose source address does not uniquely
    // identify a single node -- e.g., the IPv6 Unspecified Address, an IPv6 multicast
    // address"; RFC 4291 §2.5.3: the loopback address never comes from outside the node.
    if !v6_source_is_single_node(src, dst) {
        return false;
    }
    match ipv6::walk_to_upper_layer(p.next_header(), after) {
        // A non-initial fragment: no transport header to report on (RFC 8200 §4.5).
        Ok(upper) if upper.frag_offset != 0 => false,
        // RFC 4443 §2.4(e.1) "An ICMPv6 error message" (types 0–127, §2.1) and (e.2) "An
        // ICMPv6 redirect message".
        Ok(upper) if upper.protocol == PROTOCOL_ICMPV6 => after
            .get(upper.offset)
            .is_some_and(|&t| t >= 128 && t != V6_REDIRECT),
        Ok(_) => true,
        // A chain that cannot be walked is what Parameter Problem reports.
        Err(_) => true,
    }
}

fn v6_source_is_single_node(src: Ipv6Addr, dst: Ipv6Addr) -> bool {
    let loopback_from_outside = src.is_loopback() && !dst.is_loopback();
    !(src.is_unspecified() || src.is_multicast() || loopback_from_outside)
}
