//! What a blocking or async UDP socket holds: a socket id on a [`Handle`], closed when the
//! last owner goes. Both socket APIs are thin layers over this.

use super::Handle;
use super::core::{OpResult, Slot};
use crate::stack::{Stack, StackError, UdpId};
use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};

/// A UDP socket on the stack.
#[derive(Debug)]
pub(crate) struct UdpSocketInner {
    pub(crate) handle: Handle,
    pub(crate) id: UdpId,
}

impl UdpSocketInner {
    /// Binds `addr` (port 0 picks an ephemeral port).
    /// On a sharded runtime, on the first shard, where all UDP is routed.
    pub(crate) fn bind(handle: &Handle, addr: SocketAddr) -> io::Result<UdpSocketInner> {
        let handle = &handle.udp_home();
        let id = handle.shared.call(|s, _| s.udp_bind(addr))??;
        handle.shared.lock().add_udp(id);
        Ok(UdpSocketInner {
            handle: handle.clone(),
            id,
        })
    }

    /// The bound address (its IP is the peer-facing one once connected).
    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        let core = self.handle.shared.lock();
        core.stack()
            .udp_local_addr(self.id)
            .ok_or_else(|| StackError::InvalidHandle.into())
    }

    /// The peer, once connected; `NotConnected` otherwise.
    pub(crate) fn peer_addr(&self) -> io::Result<SocketAddr> {
        let core = self.handle.shared.lock();
        core.stack()
            .udp_peer_addr(self.id)
            .ok_or_else(|| io::ErrorKind::NotConnected.into())
    }

    /// Sets the peer.
    pub(crate) fn connect(&self, remote: SocketAddr) -> io::Result<()> {
        let id = self.id;
        self.handle
            .shared
            .call(|s, _| s.udp_connect(id, remote))??;
        Ok(())
    }

    /// Takes the error an ICMP message left (`SO_ERROR`).
    pub(crate) fn take_error(&self) -> io::Result<Option<io::Error>> {
        let id = self.id;
        let e = self.handle.shared.call(|s, _| s.udp_take_error(id))?;
        Ok(e.map(io::Error::from))
    }

    fn send_op(
        stack: &mut Stack,
        now: crate::time::Instant,
        id: UdpId,
        buf: &[u8],
        to: Option<SocketAddr>,
    ) -> OpResult<usize> {
        match to {
            Some(to) => stack.udp_send_to(now, id, buf, to),
            None => stack.udp_send(now, id, buf),
        }
    }

    /// Sends one datagram (async), to `to` or to the peer.
    pub(crate) fn poll_send(
        &self,
        cx: &Context<'_>,
        buf: &[u8],
        to: Option<SocketAddr>,
    ) -> Poll<io::Result<usize>> {
        let id = self.id;
        self.handle
            .shared
            .poll_op(cx, Slot::UdpWrite(id), |s, now| {
                Self::send_op(s, now, id, buf, to)
            })
    }

    /// Receives one datagram (async): its length as read, its sender and the address it was
    /// sent to; with `peek` it stays queued.
    pub(crate) fn poll_recv(
        &self,
        cx: &Context<'_>,
        buf: &mut [u8],
        peek: bool,
    ) -> Poll<io::Result<(usize, SocketAddr, SocketAddr)>> {
        let id = self.id;
        self.handle
            .shared
            .poll_op(cx, Slot::UdpRead(id), |s, _| recv_op(s, id, buf, peek))
    }

    /// Sends one datagram (blocking).
    pub(crate) fn send_blocking(
        &self,
        buf: &[u8],
        to: Option<SocketAddr>,
        deadline: Option<std::time::Instant>,
        nonblocking: bool,
    ) -> io::Result<usize> {
        let id = self.id;
        self.handle
            .shared
            .block_op(Slot::UdpWrite(id), deadline, nonblocking, |s, now| {
                Self::send_op(s, now, id, buf, to)
            })
    }

    /// Receives one datagram (blocking).
    pub(crate) fn recv_blocking(
        &self,
        buf: &mut [u8],
        peek: bool,
        deadline: Option<std::time::Instant>,
        nonblocking: bool,
    ) -> io::Result<(usize, SocketAddr, SocketAddr)> {
        let id = self.id;
        self.handle
            .shared
            .block_op(Slot::UdpRead(id), deadline, nonblocking, |s, _| {
                recv_op(s, id, buf, peek)
            })
    }

    /// Waits until a datagram (or an error) is queued.
    pub(crate) fn poll_read_ready(&self, cx: &Context<'_>) -> Poll<io::Result<()>> {
        let id = self.id;
        self.handle.shared.poll_op(cx, Slot::UdpRead(id), |s, _| {
            if s.udp_readiness(id).is_readable() {
                Ok(())
            } else {
                Err(crate::udp::Error::WouldBlock.into())
            }
        })
    }

    /// Waits until the send queue has room.
    pub(crate) fn poll_write_ready(&self, cx: &Context<'_>) -> Poll<io::Result<()>> {
        let id = self.id;
        self.handle.shared.poll_op(cx, Slot::UdpWrite(id), |s, _| {
            if s.udp_readiness(id).is_writable() {
                Ok(())
            } else {
                Err(crate::udp::Error::WouldBlock.into())
            }
        })
    }
}

/// One receive attempt: the next datagram, its sender and its destination.
fn recv_op(
    stack: &mut Stack,
    id: UdpId,
    buf: &mut [u8],
    peek: bool,
) -> OpResult<(usize, SocketAddr, SocketAddr)> {
    if peek {
        let (n, from) = stack.udp_peek_from(id, buf)?;
        let local = stack.udp_local_addr(id).ok_or(StackError::InvalidHandle)?;
        Ok((n, from, local))
    } else {
        stack.udp_recv_msg(id, buf)
    }
}

/// Turns UDP interception on (see `stack::UdpInterceptConfig`).
pub(crate) fn intercept(handle: &Handle, cfg: crate::stack::UdpInterceptConfig) -> io::Result<()> {
    handle.shared.call(|s, _| s.udp_intercept(cfg))
}

/// Waits for the next intercepted flow's session.
pub(crate) fn poll_accept(handle: &Handle, cx: &Context<'_>) -> Poll<io::Result<UdpSocketInner>> {
    let r = handle.shared.poll_op(cx, Slot::UdpAccept, |s, _| {
        s.udp_accept()
            .ok_or(StackError::Udp(crate::udp::Error::WouldBlock))
    });
    match r {
        Poll::Ready(Ok(id)) => {
            handle.shared.lock().add_udp(id);
            Poll::Ready(Ok(UdpSocketInner {
                handle: handle.clone(),
                id,
            }))
        }
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => Poll::Pending,
    }
}

impl Drop for UdpSocketInner {
    fn drop(&mut self) {
        let id = self.id;
        let waiters = self.handle.shared.lock().remove_udp(id);
        drop(waiters);
        let _ = self.handle.shared.call(|s, _| s.udp_close(id));
    }
}
