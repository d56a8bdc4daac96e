//! [`Endpoints`]: a connection's local and remote socket addresses in 16 bytes.
//!
//! Two `SocketAddr`s take 64 bytes (each is sized for IPv6 with flow label and scope).
//! An all-IPv4 pair needs 12; anything else (IPv6, or mixed) is boxed whole, so it is kept
//! exactly, flow info and scope id included.

use alloc::boxed::Box;
use core::net::{SocketAddr, SocketAddrV4};

/// The local and remote addresses of one connection (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoints {
    /// Both IPv4: inline.
    V4 {
        /// Local address and port.
        local: SocketAddrV4,
        /// Remote address and port.
        remote: SocketAddrV4,
    },
    /// Any other pair: on the heap.
    Other(Box<(SocketAddr, SocketAddr)>),
}

impl Endpoints {
    /// Packs `local` and `remote`.
    pub fn new(local: SocketAddr, remote: SocketAddr) -> Self {
        match (local, remote) {
            (SocketAddr::V4(local), SocketAddr::V4(remote)) => Endpoints::V4 { local, remote },
            pair => Endpoints::Other(Box::new(pair)),
        }
    }

    /// The local address and port.
    pub fn local(&self) -> SocketAddr {
        match self {
            Endpoints::V4 { local, .. } => SocketAddr::V4(*local),
            Endpoints::Other(pair) => pair.0,
        }
    }

    /// The remote address and port.
    pub fn remote(&self) -> SocketAddr {
        match self {
            Endpoints::V4 { remote, .. } => SocketAddr::V4(*remote),
            Endpoints::Other(pair) => pair.1,
        }
    }

    /// Heap bytes held: the boxed pair for anything but IPv4.
    pub fn allocated_bytes(&self) -> usize {
        match self {
            Endpoints::V4 { .. } => 0,
            Endpoints::Other(_) => size_of::<(SocketAddr, SocketAddr)>(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr, SocketAddrV6};

    #[test]
    fn both_families_round_trip_exactly_and_ipv4_takes_no_heap() {
        assert!(size_of::<Endpoints>() <= 16);
        let l4 = SocketAddr::new(Ipv4Addr::new(192, 0, 2, 1).into(), 80);
        let r4 = SocketAddr::new(Ipv4Addr::new(192, 0, 2, 2).into(), 4000);
        let e = Endpoints::new(l4, r4);
        assert_eq!((e.local(), e.remote(), e.allocated_bytes()), (l4, r4, 0));
        let ip6 = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
        let l6 = SocketAddr::V6(SocketAddrV6::new(ip6, 80, 5, 7));
        let e = Endpoints::new(l6, r4);
        assert_eq!((e.local(), e.remote()), (l6, r4));
        assert!(e.allocated_bytes() > 0);
    }
}
