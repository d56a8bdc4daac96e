//! UDP sockets (RFC 768, with RFC 8085's guidance): what one socket holds — its addresses and
//! a bounded queue of received datagrams. The stack ([`crate::stack`]) demultiplexes arriving
//! datagrams to sockets, queues and sends outgoing ones, and answers datagrams for closed
//! ports with ICMP port unreachable.
//!
//! Every queue is bounded (STYLE R10): a datagram that arrives when its socket's queue is
//! full is dropped and counted (`RcvbufErrors`, as Linux counts it), never queued beyond the
//! bound.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use core::net::SocketAddr;

/// Per-socket settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Most payload bytes queued for reading (Linux's `rmem_default` is 212,992 bytes of
    /// buffer accounting, which holds about this much payload of small datagrams).
    pub recv_buffer: usize,
    /// Most datagrams queued for reading, whatever their size: a flood of empty datagrams
    /// must not grow the queue's bookkeeping without bound either.
    pub recv_datagrams: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            recv_buffer: 212_992,
            recv_datagrams: 1024,
        }
    }
}

/// Why a UDP socket operation failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum Error {
    /// Nothing to read yet, or no room to queue the datagram for sending.
    #[error("operation would block")]
    WouldBlock,
    /// `send` on a socket with no peer (`connect` it, or use `send_to`).
    #[error("no peer: connect the socket or use send_to")]
    NotConnected,
    /// The datagram does not fit in one IP datagram (65,507 bytes of payload over IPv4,
    /// 65,527 over IPv6).
    #[error("datagram too long")]
    MessageTooLong,
    /// The peer answered an earlier datagram with ICMP port unreachable (connected sockets
    /// only, as Linux reports it).
    #[error("connection refused: the peer's port is closed")]
    ConnectionRefused,
    /// An ICMP error other than port unreachable said the peer cannot be reached.
    #[error("peer unreachable")]
    Unreachable,
    /// The address families of the socket and the destination differ.
    #[error("address family mismatch")]
    FamilyMismatch,
    /// An intercepted flow's session ended: no datagram either way for the idle timeout.
    #[error("the intercepted flow went idle and its session ended")]
    SessionExpired,
}

#[cfg(feature = "std")]
impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        use std::io::ErrorKind;
        let kind = match e {
            Error::WouldBlock => ErrorKind::WouldBlock,
            Error::NotConnected => ErrorKind::NotConnected,
            Error::MessageTooLong => ErrorKind::InvalidInput,
            Error::ConnectionRefused => ErrorKind::ConnectionRefused,
            Error::Unreachable => ErrorKind::HostUnreachable,
            Error::FamilyMismatch => ErrorKind::InvalidInput,
            Error::SessionExpired => ErrorKind::TimedOut,
        };
        std::io::Error::new(kind, e)
    }
}

/// The most payload one UDP datagram carries over IPv4: 65,535 − 20 (IP) − 8 (UDP).
pub const MAX_PAYLOAD_V4: usize = 65_507;
/// The most payload one UDP datagram carries over IPv6 without jumbograms: 65,535 − 8.
pub const MAX_PAYLOAD_V6: usize = 65_527;

/// The most payload a datagram toward `dst` may carry.
pub fn max_payload(dst: SocketAddr) -> usize {
    match dst {
        SocketAddr::V4(_) => MAX_PAYLOAD_V4,
        SocketAddr::V6(_) => MAX_PAYLOAD_V6,
    }
}

/// A received datagram: who sent it, to which address (the original destination, for an
/// intercepted flow), and its payload.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Datagram {
    /// The sender.
    pub src: SocketAddr,
    /// The address it was sent to.
    pub dst: SocketAddr,
    /// The payload.
    pub data: Box<[u8]>,
}

/// One UDP socket: its addresses, its receive queue and a pending error.
#[derive(Debug)]
pub struct Socket {
    local: SocketAddr,
    remote: Option<SocketAddr>,
    cfg: Config,
    rx: VecDeque<Datagram>,
    rx_bytes: usize,
    error: Option<Error>,
    /// Datagrams dropped because the receive queue was full.
    pub rcvbuf_errors: u64,
}

impl Socket {
    /// A socket bound to `local` (its IP may be unspecified: any of the stack's addresses).
    pub fn new(local: SocketAddr, cfg: Config) -> Socket {
        Socket {
            local,
            remote: None,
            cfg,
            rx: VecDeque::new(),
            rx_bytes: 0,
            error: None,
            rcvbuf_errors: 0,
        }
    }

    /// The address the socket is bound to.
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// The peer set by `connect`, if any.
    pub fn remote(&self) -> Option<SocketAddr> {
        self.remote
    }

    /// Sets (or clears) the peer: only its datagrams are received from now on, and `send`
    /// goes to it. Datagrams already queued from others are dropped, as Linux drops them.
    pub fn connect(&mut self, remote: Option<SocketAddr>, local_ip: Option<core::net::IpAddr>) {
        self.remote = remote;
        if let Some(ip) = local_ip {
            self.local.set_ip(ip);
        }
        self.error = None;
        if let Some(r) = remote {
            let before = self.rx.len();
            self.rx.retain(|d| d.src == r);
            if self.rx.len() != before {
                self.rx_bytes = self.rx.iter().map(|d| d.data.len()).sum();
            }
        }
    }

    /// Whether a datagram from `src` to `dst` is for this socket (the port matched already).
    pub fn accepts(&self, src: SocketAddr, dst: SocketAddr) -> bool {
        (self.local.ip().is_unspecified() || self.local.ip() == dst.ip())
            && self.remote.is_none_or(|r| r == src)
    }

    /// Queues a received datagram; `false` (dropped, counted) if the queue is full.
    pub fn enqueue(&mut self, d: Datagram) -> bool {
        if self.rx.len() >= self.cfg.recv_datagrams
            || self.rx_bytes + d.data.len() > self.cfg.recv_buffer
        {
            self.rcvbuf_errors += 1;
            return false;
        }
        self.rx_bytes += d.data.len();
        self.rx.push_back(d);
        true
    }

    /// Whether a read would not block: a datagram is queued or an error is pending.
    pub fn is_readable(&self) -> bool {
        !self.rx.is_empty() || self.error.is_some()
    }

    /// Datagrams queued for reading.
    pub fn recv_queue(&self) -> usize {
        self.rx.len()
    }

    /// Payload bytes queued for reading.
    pub fn recv_bytes(&self) -> usize {
        self.rx_bytes
    }

    /// Reads the next datagram into `buf`: its length as read (the rest of a datagram longer
    /// than `buf` is discarded, as UDP's `recv` does), its sender and the address it was sent
    /// to. A pending error (ICMP) is reported first, once.
    pub fn recv_from(&mut self, buf: &mut [u8]) -> Result<(usize, SocketAddr, SocketAddr), Error> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let d = self.rx.pop_front().ok_or(Error::WouldBlock)?;
        self.rx_bytes -= d.data.len();
        if self.rx.is_empty() {
            // An idle socket holds no queue storage (a session that saw one query and its
            // answer costs only its bookkeeping).
            self.rx = VecDeque::new();
        }
        let n = d.data.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), d.data.get(..n)) {
            dst.copy_from_slice(src);
        }
        Ok((n, d.src, d.dst))
    }

    /// Like [`recv_from`](Self::recv_from), but the datagram stays queued (`MSG_PEEK`).
    pub fn peek_from(&self, buf: &mut [u8]) -> Result<(usize, SocketAddr), Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let d = self.rx.front().ok_or(Error::WouldBlock)?;
        let n = d.data.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), d.data.get(..n)) {
            dst.copy_from_slice(src);
        }
        Ok((n, d.src))
    }

    /// Records an error an ICMP message reported, for the next read.
    pub fn set_error(&mut self, e: Error) {
        self.error = Some(e);
    }

    /// Takes the pending error (`SO_ERROR`).
    pub fn take_error(&mut self) -> Option<Error> {
        self.error.take()
    }

    /// Heap bytes the socket holds: the queued payloads and the queue itself.
    pub fn memory_usage(&self) -> usize {
        core::mem::size_of::<Socket>()
            + self.rx_bytes
            + self.rx.capacity() * core::mem::size_of::<Datagram>()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use alloc::vec;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn dgram(src: &str, len: usize) -> Datagram {
        Datagram {
            src: addr(src),
            dst: addr("192.0.2.1:53"),
            data: vec![7u8; len].into_boxed_slice(),
        }
    }

    #[test]
    fn the_receive_queue_is_bounded_by_bytes_and_by_datagrams() {
        let cfg = Config {
            recv_buffer: 100,
            recv_datagrams: 3,
        };
        let mut s = Socket::new(addr("0.0.0.0:53"), cfg);
        assert!(s.enqueue(dgram("192.0.2.9:1", 60)));
        assert!(!s.enqueue(dgram("192.0.2.9:1", 41)), "60 + 41 > 100 bytes");
        assert!(s.enqueue(dgram("192.0.2.9:1", 40)));
        assert!(s.enqueue(dgram("192.0.2.9:1", 0)));
        assert!(!s.enqueue(dgram("192.0.2.9:1", 0)), "a fourth datagram");
        assert_eq!(
            (s.recv_queue(), s.recv_bytes(), s.rcvbuf_errors),
            (3, 100, 2)
        );
    }

    #[test]
    fn a_short_buffer_truncates_the_datagram_and_the_rest_is_gone() {
        let mut s = Socket::new(addr("0.0.0.0:53"), Config::default());
        assert!(s.enqueue(dgram("192.0.2.9:1", 10)));
        assert!(s.enqueue(dgram("192.0.2.9:2", 3)));
        let mut buf = [0u8; 4];
        assert_eq!(s.peek_from(&mut buf), Ok((4, addr("192.0.2.9:1"))));
        assert_eq!(
            s.recv_from(&mut buf),
            Ok((4, addr("192.0.2.9:1"), addr("192.0.2.1:53")))
        );
        assert_eq!(s.recv_from(&mut buf).map(|r| r.0), Ok(3));
        assert_eq!(s.recv_from(&mut buf), Err(Error::WouldBlock));
        assert_eq!(s.recv_bytes(), 0);
    }

    #[test]
    fn connecting_filters_senders_and_drops_what_others_sent() {
        let mut s = Socket::new(addr("0.0.0.0:5000"), Config::default());
        assert!(s.enqueue(dgram("192.0.2.9:1", 5)));
        assert!(s.enqueue(dgram("192.0.2.8:1", 6)));
        s.connect(Some(addr("192.0.2.8:1")), None);
        assert_eq!((s.recv_queue(), s.recv_bytes()), (1, 6));
        assert!(s.accepts(addr("192.0.2.8:1"), addr("192.0.2.1:5000")));
        assert!(!s.accepts(addr("192.0.2.9:1"), addr("192.0.2.1:5000")));
    }

    #[test]
    fn a_pending_error_is_reported_once_before_the_data() {
        let mut s = Socket::new(addr("0.0.0.0:5000"), Config::default());
        assert!(s.enqueue(dgram("192.0.2.9:1", 5)));
        s.set_error(Error::ConnectionRefused);
        assert!(s.is_readable());
        let mut buf = [0u8; 8];
        assert_eq!(s.recv_from(&mut buf), Err(Error::ConnectionRefused));
        assert_eq!(s.recv_from(&mut buf).map(|r| r.0), Ok(5));
    }
}
