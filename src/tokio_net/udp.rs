//! [`UdpSocket`]: an async UDP socket, like `tokio::net::UdpSocket`.

use super::addr::{ToSocketAddrs, resolve};
use crate::runtime::Handle;
use crate::runtime::socket::{each_addr, no_addresses};
use crate::runtime::udp::UdpSocketInner;
use crate::stack::UdpId;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};
use tokio::io::ReadBuf;

/// A UDP socket on a synack stack, like `tokio::net::UdpSocket`: `bind`, then `send_to` and
/// `recv_from`, or `connect` and `send`/`recv`. Methods take `&self`, so one socket may be
/// shared by tasks (in an `Arc`) as tokio's is. Dropping it closes the socket.
///
/// Received datagrams wait in a bounded queue per socket (`stack::UdpConfig::socket`); beyond
/// it they are dropped and counted, as a kernel drops them.
#[derive(Debug)]
pub struct UdpSocket {
    inner: UdpSocketInner,
}

impl UdpSocket {
    /// Binds a socket to `addr` on the stack. Port 0 picks an ephemeral port; the unspecified
    /// address receives on all of the stack's addresses of its family. `AddrNotAvailable` for
    /// an address the stack does not own, `AddrInUse` for a taken one. Each address `addr`
    /// yields is tried in turn.
    pub async fn bind(handle: &Handle, addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        let addrs = resolve(handle, addr).await?;
        each_addr(addrs, |a| {
            Ok(UdpSocket {
                inner: UdpSocketInner::bind(handle, a)?,
            })
        })
    }

    /// The stack's id of this socket (for [`Handle::with_stack`]).
    pub fn id(&self) -> UdpId {
        self.inner.id
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// The peer set by [`connect`](Self::connect); `NotConnected` before.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// Sets the default peer: [`send`](Self::send) goes to it and only its datagrams are
    /// received. An ICMP port unreachable for a datagram sent to it makes the next
    /// receive fail with `ConnectionRefused`, as on Linux. The first address `addr` yields is
    /// used.
    pub async fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        let mut addrs = resolve(&self.inner.handle, addr).await?;
        let a = addrs.next().ok_or_else(no_addresses)?;
        self.inner.connect(a)
    }

    /// Sends `buf` as one datagram to the peer; returns its length.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.inner.poll_send(cx, buf, None)).await
    }

    /// Sends `buf` as one datagram to `target` (the first address it yields).
    pub async fn send_to(&self, buf: &[u8], target: impl ToSocketAddrs) -> io::Result<usize> {
        let mut addrs = resolve(&self.inner.handle, target).await?;
        let to = addrs.next().ok_or_else(no_addresses)?;
        poll_fn(|cx| self.inner.poll_send(cx, buf, Some(to))).await
    }

    /// Receives one datagram from the peer into `buf` (a longer one is truncated, the rest
    /// discarded, as UDP's `recv` does).
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.inner.poll_recv(cx, buf, false))
            .await
            .map(|(n, _, _)| n)
    }

    /// Receives one datagram into `buf`, with its sender.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        poll_fn(|cx| self.inner.poll_recv(cx, buf, false))
            .await
            .map(|(n, from, _)| (n, from))
    }

    /// Like [`recv_from`](Self::recv_from), and also the address the datagram was sent to
    /// (Linux's `IP_PKTINFO`): for an intercepted flow, its original destination.
    pub async fn recv_msg(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr, SocketAddr)> {
        poll_fn(|cx| self.inner.poll_recv(cx, buf, false)).await
    }

    /// Like [`recv_from`](Self::recv_from), but the datagram stays queued.
    pub async fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        poll_fn(|cx| self.inner.poll_recv(cx, buf, true))
            .await
            .map(|(n, from, _)| (n, from))
    }

    /// Sends without waiting: `WouldBlock` if the stack's send queue is full.
    pub fn try_send(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.send_blocking(buf, None, None, true)
    }

    /// Sends to `target` without waiting.
    pub fn try_send_to(&self, buf: &[u8], target: SocketAddr) -> io::Result<usize> {
        self.inner.send_blocking(buf, Some(target), None, true)
    }

    /// Receives without waiting: `WouldBlock` if no datagram is queued.
    pub fn try_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner
            .recv_blocking(buf, false, None, true)
            .map(|(n, _, _)| n)
    }

    /// Receives with the sender, without waiting.
    pub fn try_recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.inner
            .recv_blocking(buf, false, None, true)
            .map(|(n, from, _)| (n, from))
    }

    /// Waits until a datagram (or an error) is queued.
    pub async fn readable(&self) -> io::Result<()> {
        poll_fn(|cx| self.inner.poll_read_ready(cx)).await
    }

    /// Waits until a datagram may be sent without waiting.
    pub async fn writable(&self) -> io::Result<()> {
        poll_fn(|cx| self.inner.poll_write_ready(cx)).await
    }

    /// `poll_recv_from` as tokio has it: fills `buf` with one datagram.
    pub fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<SocketAddr>> {
        let (n, from, _) =
            std::task::ready!(self.inner.poll_recv(cx, buf.initialize_unfilled(), false))?;
        buf.advance(n);
        Poll::Ready(Ok(from))
    }

    /// `poll_send_to` as tokio has it.
    pub fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        target: SocketAddr,
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_send(cx, buf, Some(target))
    }

    /// Takes the error an ICMP message left on the socket (`SO_ERROR`).
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.take_error()
    }
}

/// Interception of every UDP flow entering the device whatever its destination: the UDP half
/// of a tun2socks core, beside [`TcpListener::intercept`](super::TcpListener::intercept).
/// Each new flow (a client and an original destination no socket takes) arrives as a
/// [`UdpSocket`] bound to the original destination and connected to the client, holding the
/// flow's first datagram: read the client's datagrams with `recv`, answer with `send` (the
/// replies leave *from* the original destination). A session idle for the configured timeout
/// ends: its socket's reads fail with `TimedOut`, and the flow's next datagram starts a new
/// session. Sessions and new flows waiting to be taken are bounded
/// ([`UdpInterceptConfig`](crate::stack::UdpInterceptConfig)).
#[derive(Debug)]
pub struct UdpInterceptor {
    handle: Handle,
}

impl UdpInterceptor {
    /// Turns UDP interception on for the stack (on a sharded runtime, for the first shard's,
    /// which gets every UDP packet whichever handle is given).
    pub async fn new(
        handle: &Handle,
        cfg: crate::stack::UdpInterceptConfig,
    ) -> io::Result<UdpInterceptor> {
        // On a sharded runtime, the first shard's stack: all UDP is routed there.
        let handle = handle.udp_home();
        crate::runtime::udp::intercept(&handle, cfg)?;
        Ok(UdpInterceptor { handle })
    }

    /// Waits for the next new flow: its socket, the client, and the original destination.
    pub async fn accept(&self) -> io::Result<(UdpSocket, SocketAddr, SocketAddr)> {
        let inner = poll_fn(|cx| crate::runtime::udp::poll_accept(&self.handle, cx)).await?;
        let client = inner.peer_addr()?;
        let destination = inner.local_addr()?;
        Ok((UdpSocket { inner }, client, destination))
    }
}
