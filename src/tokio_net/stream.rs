//! [`TcpStream`]: an async TCP connection.

use super::addr::{ToSocketAddrs, resolve};
use crate::runtime::Handle;
use crate::runtime::socket::{StreamSocket, no_addresses};
use crate::stack::ConnId;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A TCP connection on a synack stack, like `tokio::net::TcpStream`.
///
/// Dropping it closes the connection as dropping a kernel socket does: gracefully (a FIN
/// after the data still queued), or with a RST if received data was left unread or the
/// linger is zero ([`set_linger`](Self::set_linger)); [`abort`](Self::abort) resets at once.
#[derive(Debug)]
pub struct TcpStream {
    pub(super) socket: Arc<StreamSocket>,
}

impl TcpStream {
    pub(super) fn from_socket(socket: StreamSocket) -> TcpStream {
        TcpStream {
            socket: Arc::new(socket),
        }
    }

    /// Opens a connection to `addr` and waits for the handshake. Fails with
    /// `ConnectionRefused` if the peer answers with a RST, `TimedOut` if it never answers.
    /// `addr` is anything [`ToSocketAddrs`] takes (names found in the runtime's [`Hosts`](crate::runtime::Hosts) table first); each address it yields is tried
    /// in turn, as tokio does.
    pub async fn connect(handle: &Handle, addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let mut last = None;
        for a in resolve(handle, addr).await? {
            let attempt = async {
                let socket = StreamSocket::open(handle, a)?;
                poll_fn(|cx| socket.poll_connect(cx)).await?;
                Ok::<_, io::Error>(TcpStream::from_socket(socket))
            };
            match attempt.await {
                Ok(s) => return Ok(s),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(no_addresses))
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.socket.remote)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.socket.local)
    }

    /// Turns Nagle's algorithm off (`true`: small writes go out at once) or back on.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.socket.set_nodelay(nodelay)
    }

    /// Whether Nagle's algorithm is off.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.socket.nodelay()
    }

    /// The stack's id of this connection (for [`Handle::with_stack`]).
    pub fn id(&self) -> ConnId {
        self.socket.id
    }

    /// Resets the connection now (RFC 9293 ABORT): a RST goes to the peer, and queued and
    /// unread data is discarded. Reads and writes fail afterwards.
    pub fn abort(&self) -> io::Result<()> {
        self.socket.abort()
    }

    /// `SO_LINGER`, as `tokio::net::TcpStream::set_linger`: `Some(Duration::ZERO)` makes
    /// dropping the stream reset the connection instead of closing it with a FIN. Any other
    /// value closes gracefully, like `None`; dropping never blocks.
    pub fn set_linger(&self, linger: Option<std::time::Duration>) -> io::Result<()> {
        self.socket.set_linger(linger);
        Ok(())
    }

    /// The linger set by [`set_linger`](Self::set_linger).
    pub fn linger(&self) -> io::Result<Option<std::time::Duration>> {
        Ok(self.socket.linger())
    }

    /// Waits until the stream may be read without blocking, as `tokio`'s `readable`: data
    /// arrived, the peer's FIN is reached, or the connection failed. Usually followed by
    /// [`try_read`](Self::try_read), which may still return `WouldBlock` if another reader
    /// took the data first.
    pub async fn readable(&self) -> io::Result<()> {
        self.socket.readable().await
    }

    /// Waits until the stream may be written without blocking: the handshake is done and the
    /// send buffer has room (or writing would fail at once).
    pub async fn writable(&self) -> io::Result<()> {
        self.socket.writable().await
    }

    /// Reads what is readable into `buf` without waiting: `Ok(0)` at the end of the stream,
    /// `Err(WouldBlock)` if nothing is there yet.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.socket.try_read(buf)
    }

    /// Queues as much of `buf` as the send buffer takes without waiting, and returns how much
    /// it took; `Err(WouldBlock)` if it is full.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.socket.try_write(buf)
    }

    /// Waits for data and copies it into `buf` without consuming it, as `tokio`'s `peek`
    /// (`MSG_PEEK`): the next read returns the same bytes. `Ok(0)` at the end of the stream.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.socket.poll_peek(cx, buf)).await
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.socket.poll_read_buf(cx, buf)
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.socket.poll_send(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.socket.shutdown_write())
    }
}
