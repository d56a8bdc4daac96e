//! Interception: one listener that takes every inbound SYN on the device, whatever its
//! destination address and port (like Linux TPROXY or tun2socks).
//!
//! An intercepted connection is an ordinary connection whose local address is the SYN's
//! original destination, so [`Connection::local`](crate::tcp::Connection::local) tells the
//! application where the peer meant to go. The stack's own address list need not contain that
//! destination.
//!
//! Precedence for a SYN that matches no connection:
//! 1. a listener on exactly the destination address and port (the address may be foreign);
//! 2. a wildcard listener (`0.0.0.0:port`, `[::]:port`), only for the stack's own addresses;
//! 3. the intercepting listener.
//!
//! The intercepting listener is a normal [`Listener`]: the same bounded SYN queue
//! ([`StackConfig::syn_backlog`](super::StackConfig::syn_backlog)), SYN cookies beyond it, and
//! accept backlog. Only TCP to unicast addresses is intercepted: ICMP echo and other protocols
//! to foreign addresses, and anything to a multicast, broadcast or unspecified one, are dropped
//! and counted (`in_wrong_addr`). A segment to a foreign address that is neither a SYN nor a
//! cookie's ACK draws the RST that RFC 9293 §3.10.7.1 prescribes, sent from that foreign address.

use super::listener::Listener;
use super::{ListenerId, Stack, StackError};
use crate::wire;
use core::net::{IpAddr, SocketAddr};

impl Stack {
    /// Starts intercepting every inbound TCP connection, with an accept backlog. Accept from
    /// the returned listener with [`Stack::accept`]; [`Stack::unlisten`] stops intercepting.
    /// Only one intercepting listener exists at a time: a second call is `AddrInUse`.
    pub fn intercept(&mut self, backlog: usize) -> Result<ListenerId, StackError> {
        if self.intercept.is_some() {
            return Err(StackError::AddrInUse);
        }
        let any = SocketAddr::new(IpAddr::from([0u8; 4]), 0);
        let id = self.add_listener(Listener::new(any, backlog));
        self.intercept = Some(id);
        Ok(id)
    }

    /// The intercepting listener, if [`Stack::intercept`] was called.
    pub fn intercepting(&self) -> Option<ListenerId> {
        self.intercept
    }

    /// Whether a packet to `dst` carrying `protocol` is for this stack: one of its addresses,
    /// or any unicast address for TCP while intercepting.
    pub(super) fn accepts_destination(&self, dst: IpAddr, protocol: u8) -> bool {
        let intercepting = self.intercept.is_some() || self.is_udp_intercepting();
        self.addrs.contains(&dst)
            || (is_unicast(dst)
                && ((self.intercept.is_some() && protocol == wire::PROTOCOL_TCP)
                    || (self.is_udp_intercepting() && protocol == wire::PROTOCOL_UDP)
                    // ICMP errors about what intercepted flows sent from foreign addresses
                    // (echo requests to them are not answered).
                    || (intercepting && protocol == wire::icmp::protocol_for(dst))))
    }
}

/// Not unspecified, multicast or the IPv4 limited broadcast. RFC 1122 §4.2.3.10 (RFC 9293
/// MUST-57): a SYN addressed to a broadcast or multicast address MUST be silently discarded,
/// and nothing may be answered from such an address either.
pub(super) fn is_unicast(ip: IpAddr) -> bool {
    let broadcast = matches!(ip, IpAddr::V4(v4) if v4.is_broadcast());
    !ip.is_unspecified() && !ip.is_multicast() && !broadcast
}

#[cfg(test)]
mod tests;
