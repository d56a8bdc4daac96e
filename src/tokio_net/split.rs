//! Halves of a [`TcpStream`], like `tokio::net::tcp`'s: the read and the write direction
//! wait on separate wakers, so one task can block reading while another writes.

use super::TcpStream;
use crate::runtime::socket::StreamSocket;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The read half of a borrowed split ([`TcpStream::split`]).
#[derive(Debug)]
pub struct ReadHalf<'a>(&'a StreamSocket);

/// The write half of a borrowed split ([`TcpStream::split`]); `poll_shutdown` sends a FIN.
#[derive(Debug)]
pub struct WriteHalf<'a>(&'a StreamSocket);

/// The read half of an owned split ([`TcpStream::into_split`]).
#[derive(Debug)]
pub struct OwnedReadHalf {
    socket: Arc<StreamSocket>,
}

/// The write half of an owned split ([`TcpStream::into_split`]). Dropping it sends a FIN.
#[derive(Debug)]
pub struct OwnedWriteHalf {
    socket: Arc<StreamSocket>,
    shutdown_on_drop: bool,
}

/// The halves given to [`OwnedReadHalf::reunite`] came from different streams.
#[derive(Debug, thiserror::Error)]
#[error("the halves are not from the same stream")]
pub struct ReuniteError(pub OwnedReadHalf, pub OwnedWriteHalf);

impl TcpStream {
    /// Borrowed halves: read and write concurrently from one task (or `join!`ed futures).
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        (ReadHalf(&self.socket), WriteHalf(&self.socket))
    }

    /// Owned halves: read and write from different tasks. Dropping the write half sends a
    /// FIN, like `tokio`'s.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        let socket = self.socket;
        (
            OwnedReadHalf {
                socket: socket.clone(),
            },
            OwnedWriteHalf {
                socket,
                shutdown_on_drop: true,
            },
        )
    }
}

impl ReadHalf<'_> {
    /// Waits until a read would not block ([`TcpStream::readable`]).
    pub async fn readable(&self) -> io::Result<()> {
        self.0.readable().await
    }
    /// Reads without waiting ([`TcpStream::try_read`]).
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.0.remote)
    }
    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.0.local)
    }
}

impl WriteHalf<'_> {
    /// Waits until a write would not block ([`TcpStream::writable`]).
    pub async fn writable(&self) -> io::Result<()> {
        self.0.writable().await
    }
    /// Writes without waiting ([`TcpStream::try_write`]).
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }
    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.0.remote)
    }
    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.0.local)
    }
}

impl OwnedReadHalf {
    /// Waits until a read would not block ([`TcpStream::readable`]).
    pub async fn readable(&self) -> io::Result<()> {
        self.socket.readable().await
    }
    /// Reads without waiting ([`TcpStream::try_read`]).
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.socket.try_read(buf)
    }
    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.socket.remote)
    }
    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.socket.local)
    }
    /// Puts the stream back together, if `write` is its other half.
    pub fn reunite(self, mut write: OwnedWriteHalf) -> Result<TcpStream, ReuniteError> {
        if !Arc::ptr_eq(&self.socket, &write.socket) {
            return Err(ReuniteError(self, write));
        }
        write.shutdown_on_drop = false;
        Ok(TcpStream {
            socket: self.socket,
        })
    }
}

impl OwnedWriteHalf {
    /// Waits until a write would not block ([`TcpStream::writable`]).
    pub async fn writable(&self) -> io::Result<()> {
        self.socket.writable().await
    }
    /// Writes without waiting ([`TcpStream::try_write`]).
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.socket.try_write(buf)
    }
    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.socket.remote)
    }
    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.socket.local)
    }
    /// Puts the stream back together, if `read` is its other half.
    pub fn reunite(self, read: OwnedReadHalf) -> Result<TcpStream, ReuniteError> {
        read.reunite(self)
    }
}

impl Drop for OwnedWriteHalf {
    fn drop(&mut self) {
        if self.shutdown_on_drop {
            let _ = self.socket.shutdown_write();
        }
    }
}

impl AsyncRead for ReadHalf<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.0.poll_read_buf(cx, buf)
    }
}

impl AsyncRead for OwnedReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.socket.poll_read_buf(cx, buf)
    }
}

impl AsyncWrite for WriteHalf<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0.poll_send(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.0.shutdown_write())
    }
}

impl AsyncWrite for OwnedWriteHalf {
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
