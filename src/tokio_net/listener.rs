//! [`TcpListener`]: accepts connections asynchronously.

use super::TcpStream;
use super::addr::{ToSocketAddrs, resolve};
use crate::runtime::Handle;
use crate::runtime::socket::{ListenerSocket, StreamSocket, each_addr};
use crate::stack::{HeldId, ListenerId, StackError};
use crate::tcp;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

/// A TCP listener on a synack stack, like `tokio::net::TcpListener`.
///
/// Dropping it stops listening; connections not yet accepted are reset.
///
/// On a [`Sharded`](crate::runtime::Sharded) runtime's handle it is one listener per shard
/// (on the same address), and accepting takes a connection from whichever shard has one,
/// each shard in turn; on one shard's handle it listens on that shard alone.
#[derive(Debug)]
pub struct TcpListener {
    /// One per shard (one on an unsharded runtime); never empty.
    sockets: Vec<ListenerSocket>,
    /// The first socket's listener id.
    id: ListenerId,
    /// The shard whose accept queue is tried first next time, so none is starved.
    next: AtomicUsize,
    /// Made by [`intercept_deferred`](Self::intercept_deferred): handshakes wait for
    /// [`accept_syn`](Self::accept_syn).
    deferred: bool,
}

impl TcpListener {
    /// Listens on `addr` (an unspecified IP listens on every address of the stack; port 0
    /// picks a free port): anything [`ToSocketAddrs`] takes (names found in the runtime's [`Hosts`](crate::runtime::Hosts) table first), each address it yields
    /// tried in turn. Fails with `AddrInUse` if something already listens there,
    /// `AddrNotAvailable` if the stack does not own the address.
    pub async fn bind(handle: &Handle, addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        let addrs = resolve(handle, addr).await?;
        let sockets = each_addr(addrs, |a| ListenerSocket::bind_all(handle, a))?;
        Self::from_sockets(sockets, false)
    }

    /// Intercepts every TCP connection that arrives on the stack's device, whatever its
    /// destination address and port (see [`Stack::intercept`](crate::stack::Stack::intercept)):
    /// the core of a tun2socks app. Each accepted stream's
    /// [`local_addr`](TcpStream::local_addr) is the destination the peer meant to reach.
    /// Listeners on exact addresses still get their own connections. At most one intercepting
    /// listener exists per stack (`AddrInUse` otherwise); `backlog` bounds the accept queue.
    pub async fn intercept(handle: &Handle, backlog: usize) -> io::Result<TcpListener> {
        Self::intercept_on_every_shard(handle, false, |s| s.intercept(backlog))
    }

    /// One interceptor per shard `handle` stands for, made by `make`.
    fn intercept_on_every_shard(
        handle: &Handle,
        deferred: bool,
        make: impl Fn(&mut crate::stack::Stack) -> Result<ListenerId, StackError>,
    ) -> io::Result<TcpListener> {
        let any = SocketAddr::from(([0, 0, 0, 0], 0));
        let mut sockets = Vec::new();
        for h in handle.shard_handles() {
            let id = h.with_stack(|s, _| make(s))??;
            sockets.push(ListenerSocket::adopt(&h, id, any)?);
        }
        Self::from_sockets(sockets, deferred)
    }

    /// Intercepts like [`intercept`](Self::intercept), but each handshake waits for the
    /// application (see [`Stack::intercept_deferred`](crate::stack::Stack::intercept_deferred)):
    /// [`accept_syn`](Self::accept_syn) hands over each client's SYN unanswered, so a
    /// forwarder can dial the original destination first and then
    /// [`accept`](PendingConnection::accept) the client (the SYN,ACK goes out then) or
    /// [`refuse`](PendingConnection::refuse) it (a RST to the SYN: the client sees
    /// "connection refused", as it would from the destination itself).
    /// [`accept`](Self::accept) still works and completes each handshake at once.
    pub async fn intercept_deferred(handle: &Handle, backlog: usize) -> io::Result<TcpListener> {
        Self::intercept_on_every_shard(handle, true, |s| s.intercept_deferred(backlog))
    }

    /// Waits for the next client's SYN on a deferring interceptor
    /// ([`intercept_deferred`](Self::intercept_deferred)); nothing has been answered yet.
    /// `InvalidInput` on any other listener.
    pub async fn accept_syn(&self) -> io::Result<PendingConnection> {
        if !self.deferred {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "accept_syn needs a listener from TcpListener::intercept_deferred",
            ));
        }
        let (handle, held) = poll_fn(|cx| {
            self.poll_each(cx, |socket, cx| {
                let id = socket.id;
                socket
                    .handle
                    .shared
                    .poll_op(cx, crate::runtime::socket::accept_slot(id), |s, now| {
                        s.next_held(now)
                            .ok_or(StackError::Tcp(tcp::Error::WouldBlock))
                    })
                    .map_ok(|held| (socket.handle.clone(), held))
            })
        })
        .await?;
        Ok(PendingConnection {
            handle,
            id: held.id,
            local: held.local,
            remote: held.remote,
            decided: false,
        })
    }

    /// Polls `f` on each shard's listener in turn, starting after the one that last
    /// answered: the first ready answer, else pending (the task is registered on every
    /// shard's accept queue).
    fn poll_each<T>(
        &self,
        cx: &mut Context<'_>,
        mut f: impl FnMut(&ListenerSocket, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        let n = self.sockets.len();
        let start = self.next.load(Ordering::Relaxed);
        for k in 0..n {
            let i = (start + k) % n;
            let Some(socket) = self.sockets.get(i) else {
                continue;
            };
            if let Poll::Ready(r) = f(socket, cx) {
                self.next.store((i + 1) % n, Ordering::Relaxed);
                return Poll::Ready(r);
            }
        }
        Poll::Pending
    }

    /// A listener over `sockets` (one per shard; `InvalidInput` if empty).
    pub(super) fn from_sockets(
        sockets: Vec<ListenerSocket>,
        deferred: bool,
    ) -> io::Result<TcpListener> {
        let Some(id) = sockets.first().map(|s| s.id) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a listener needs at least one stack",
            ));
        };
        Ok(TcpListener {
            sockets,
            id,
            next: AtomicUsize::new(0),
            deferred,
        })
    }

    /// Serves a listener already created on the stack (through [`Handle::with_stack`]), such
    /// as one with a custom backlog or an interception listener.
    pub fn from_stack_listener(
        handle: &Handle,
        id: ListenerId,
        local: SocketAddr,
    ) -> io::Result<TcpListener> {
        Self::from_sockets(vec![ListenerSocket::adopt(handle, id, local)?], false)
    }

    /// Waits for the next established connection and returns it with the peer's address.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for the next established connection; registers the task to be woken otherwise.
    /// On a deferring interceptor, takes the next held SYN and completes its handshake at
    /// once (the stream may still be finishing it: reads and writes wait for it).
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        if self.deferred {
            return self.poll_each(cx, |socket, cx| {
                let (handle, id) = (&socket.handle, socket.id);
                let held = std::task::ready!(handle.shared.poll_op(
                    cx,
                    crate::runtime::socket::accept_slot(id),
                    |s, now| {
                        let h = s
                            .next_held(now)
                            .ok_or(StackError::Tcp(tcp::Error::WouldBlock))?;
                        s.complete_held(now, h.id).map(|c| (c, h.remote))
                    },
                ))?;
                let (conn, peer) = held;
                Poll::Ready(
                    StreamSocket::adopt(handle, conn).map(|s| (TcpStream::from_socket(s), peer)),
                )
            });
        }
        self.poll_each(cx, |socket, cx| {
            socket.poll_accept(cx).map(|r| {
                r.map(|s| {
                    let peer = s.remote;
                    (TcpStream::from_socket(s), peer)
                })
            })
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sockets
            .first()
            .map(|s| s.local)
            .ok_or_else(|| io::ErrorKind::NotConnected.into())
    }

    /// The stack's id of this listener (on a sharded runtime, the first shard's listener;
    /// [`ids`](Self::ids) has them all).
    pub fn id(&self) -> ListenerId {
        self.id
    }

    /// The id of this listener on each shard's stack, in shard order (one, unless sharded).
    pub fn ids(&self) -> Vec<ListenerId> {
        self.sockets.iter().map(|s| s.id).collect()
    }
}

/// A client's SYN held by a deferring interceptor ([`TcpListener::accept_syn`]), not yet
/// answered. [`accept`](Self::accept) completes the handshake, [`refuse`](Self::refuse)
/// answers with a RST; dropping it undecided refuses it.
#[derive(Debug)]
pub struct PendingConnection {
    handle: Handle,
    id: HeldId,
    local: SocketAddr,
    remote: SocketAddr,
    decided: bool,
}

impl PendingConnection {
    /// Where the client meant to go (its SYN's destination).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The client.
    pub fn peer_addr(&self) -> SocketAddr {
        self.remote
    }

    /// Completes the handshake (the SYN,ACK goes out now) and waits for the client's ACK.
    /// Fails with `NotFound` if the SYN is no longer held (the client gave up and reset it,
    /// or it waited longer than [`HELD_SYN_TIMEOUT`](crate::stack::HELD_SYN_TIMEOUT)), and
    /// with the connection's error if the handshake fails.
    pub async fn accept(mut self) -> io::Result<TcpStream> {
        self.decided = true;
        let id = self.id;
        let conn = self
            .handle
            .with_stack(|s, now| s.complete_held(now, id))?
            .map_err(held_gone)?;
        let socket = StreamSocket::adopt(&self.handle, conn)?;
        poll_fn(|cx| socket.poll_connect(cx)).await?;
        Ok(TcpStream::from_socket(socket))
    }

    /// Refuses the connection: `<SEQ=0><ACK=SYN+1><CTL=RST,ACK>` to the client, which reports
    /// "connection refused". `NotFound` if the SYN is no longer held.
    pub fn refuse(mut self) -> io::Result<()> {
        self.decided = true;
        let id = self.id;
        self.handle
            .with_stack(|s, _| s.refuse_held(id))?
            .map_err(held_gone)
    }
}

/// The error for a held SYN that is gone.
fn held_gone(e: StackError) -> io::Error {
    match e {
        StackError::InvalidHandle => io::Error::new(
            io::ErrorKind::NotFound,
            "the client's SYN is no longer held (it reset or the wait timed out)",
        ),
        e => e.into(),
    }
}

impl Drop for PendingConnection {
    fn drop(&mut self) {
        if !self.decided {
            let id = self.id;
            let _ = self.handle.with_stack(|s, _| s.refuse_held(id));
        }
    }
}
