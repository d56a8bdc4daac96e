//! Addresses for the tokio API: what `tokio::net::ToSocketAddrs` takes, resolved through the
//! runtime's host table first ([`Hosts`](crate::runtime::Hosts)), so a program that connects
//! to `"server:80"` reaches the simulated host `server` in a
//! [`simulation`](crate::simulation) and the DNS name `server` on a real device.

use crate::runtime::Handle;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Anything the tokio API's `connect`, `bind` and `send_to` take as an address: the types
/// `tokio::net::ToSocketAddrs` is implemented for (`"198.51.100.2:80"`, `"server:80"`,
/// `("server", 80)`, `(ip, port)`, a `SocketAddr`, a slice of them).
///
/// Names are looked up in the runtime's [`Hosts`](crate::runtime::Hosts) table first, then,
/// unless the table is closed ([`Hosts::closed`](crate::runtime::Hosts::closed), as in a
/// simulation), with the system's resolver (`tokio::net::lookup_host`).
pub trait ToSocketAddrs: sealed::ToSocketAddrsPriv {}

pub(crate) mod sealed {
    use std::net::SocketAddr;

    /// An address as given, before resolution.
    pub enum Target<'a> {
        /// One address (no allocation: `send_to` takes this path per datagram).
        One(SocketAddr),
        /// Already addresses.
        Addrs(Vec<SocketAddr>),
        /// `"host:port"` or `"ip:port"`.
        Str(&'a str),
        /// `(host, port)`.
        HostPort(&'a str, u16),
    }

    /// The private half of [`super::ToSocketAddrs`]: it cannot be named outside the crate.
    pub trait ToSocketAddrsPriv {
        /// The address as given.
        fn target(&self) -> Target<'_>;
    }
}

use sealed::{Target, ToSocketAddrsPriv};

macro_rules! addrs {
    ($($t:ty => |$s:ident| $e:expr;)*) => {$(
        impl ToSocketAddrs for $t {}
        impl ToSocketAddrsPriv for $t {
            fn target(&self) -> Target<'_> {
                let $s = self;
                $e
            }
        }
    )*};
}

addrs! {
    SocketAddr => |a| Target::One(*a);
    SocketAddrV4 => |a| Target::One(SocketAddr::V4(*a));
    SocketAddrV6 => |a| Target::One(SocketAddr::V6(*a));
    (IpAddr, u16) => |a| Target::One(SocketAddr::new(a.0, a.1));
    (Ipv4Addr, u16) => |a| Target::One(SocketAddr::new(IpAddr::V4(a.0), a.1));
    (Ipv6Addr, u16) => |a| Target::One(SocketAddr::new(IpAddr::V6(a.0), a.1));
    [SocketAddr] => |a| Target::Addrs(a.to_vec());
    Vec<SocketAddr> => |a| Target::Addrs(a.clone());
    str => |s| Target::Str(s);
    String => |s| Target::Str(s);
    (&str, u16) => |a| Target::HostPort(a.0, a.1);
    (String, u16) => |a| Target::HostPort(&a.0, a.1);
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {}
impl<T: ToSocketAddrsPriv + ?Sized> ToSocketAddrsPriv for &T {
    fn target(&self) -> Target<'_> {
        (**self).target()
    }
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("invalid socket address {what:?}: use HOST:PORT or IP:PORT"),
    )
}

/// Resolved addresses: one without allocating, or a list.
pub(crate) enum Addrs {
    /// One address, or none left.
    One(Option<SocketAddr>),
    /// Several.
    Many(std::vec::IntoIter<SocketAddr>),
}

impl Iterator for Addrs {
    type Item = SocketAddr;

    fn next(&mut self) -> Option<SocketAddr> {
        match self {
            Addrs::One(a) => a.take(),
            Addrs::Many(v) => v.next(),
        }
    }
}

/// The socket addresses `addr` names, as `tokio::net::lookup_host` gives them, the runtime's
/// host table consulted first.
pub(crate) async fn resolve(handle: &Handle, addr: impl ToSocketAddrs) -> io::Result<Addrs> {
    let many = |v: Vec<SocketAddr>| Ok(Addrs::Many(v.into_iter()));
    let (host, port) = match addr.target() {
        Target::One(a) => return Ok(Addrs::One(Some(a))),
        Target::Addrs(v) => return many(v),
        Target::Str(s) => {
            if let Ok(a) = s.parse::<SocketAddr>() {
                return Ok(Addrs::One(Some(a)));
            }
            let (host, port) = s.rsplit_once(':').ok_or_else(|| invalid(s))?;
            (host, port.parse::<u16>().map_err(|_| invalid(s))?)
        }
        Target::HostPort(host, port) => {
            if let Ok(ip) = host.parse::<IpAddr>() {
                return Ok(Addrs::One(Some(SocketAddr::new(ip, port))));
            }
            (host, port)
        }
    };
    if let Some(hosts) = handle.hosts() {
        if let Some(ips) = hosts.get(host) {
            return many(ips.iter().map(|&ip| SocketAddr::new(ip, port)).collect());
        }
        if hosts.is_closed() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no host named {host:?} in the runtime's host table"),
            ));
        }
    }
    many(tokio::net::lookup_host((host, port)).await?.collect())
}
