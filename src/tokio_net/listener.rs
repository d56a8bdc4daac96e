//! [`TcpListener`]: accepts connections asynchronously.

use super::TcpStream;
use crate::runtime::Handle;
use crate::runtime::socket::{ListenerSocket, each_addr};
use crate::stack::ListenerId;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};
use tokio::net::ToSocketAddrs;

/// A TCP listener on a synack stack, like `tokio::net::TcpListener`.
///
/// Dropping it stops listening; connections not yet accepted are reset.
#[derive(Debug)]
pub struct TcpListener {
    socket: ListenerSocket,
}

impl TcpListener {
    /// Listens on `addr` (an unspecified IP listens on every address of the stack; port 0
    /// picks a free port): anything `tokio::net::ToSocketAddrs` takes, each address it yields
    /// tried in turn. Fails with `AddrInUse` if something already listens there,
    /// `AddrNotAvailable` if the stack does not own the address.
    pub async fn bind(handle: &Handle, addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        let addrs = tokio::net::lookup_host(addr).await?;
        let socket = each_addr(addrs, |a| ListenerSocket::bind(handle, a))?;
        Ok(TcpListener { socket })
    }

    /// Intercepts every TCP connection that arrives on the stack's device, whatever its
    /// destination address and port (see [`Stack::intercept`](crate::stack::Stack::intercept)):
    /// the core of a tun2socks app. Each accepted stream's
    /// [`local_addr`](TcpStream::local_addr) is the destination the peer meant to reach.
    /// Listeners on exact addresses still get their own connections. At most one intercepting
    /// listener exists per stack (`AddrInUse` otherwise); `backlog` bounds the accept queue.
    pub async fn intercept(handle: &Handle, backlog: usize) -> io::Result<TcpListener> {
        let id = handle.with_stack(|s, _| s.intercept(backlog))??;
        let any = SocketAddr::from(([0, 0, 0, 0], 0));
        Self::from_stack_listener(handle, id, any)
    }

    /// Serves a listener already created on the stack (through [`Handle::with_stack`]), such
    /// as one with a custom backlog or an interception listener.
    pub fn from_stack_listener(
        handle: &Handle,
        id: ListenerId,
        local: SocketAddr,
    ) -> io::Result<TcpListener> {
        Ok(TcpListener {
            socket: ListenerSocket::adopt(handle, id, local)?,
        })
    }

    /// Waits for the next established connection and returns it with the peer's address.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for the next established connection; registers the task to be woken otherwise.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        self.socket.poll_accept(cx).map(|r| {
            r.map(|s| {
                let peer = s.remote;
                (TcpStream::from_socket(s), peer)
            })
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.socket.local)
    }

    /// The stack's id of this listener.
    pub fn id(&self) -> ListenerId {
        self.socket.id
    }
}
