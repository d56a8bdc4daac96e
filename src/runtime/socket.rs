//! What a blocking or async socket holds: a connection or listener id on a [`Handle`], released
//! when the last owner goes. Both socket APIs are thin layers over these.

use super::Handle;
use super::core::{OpResult, Slot};
use crate::stack::{ConnId, ListenerId, Stack, StackError};
use crate::tcp::{self, State};
use crate::time::Instant;
use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};

/// What a task waiting on listener `id` waits for (a connection or a held SYN).
pub(crate) fn accept_slot(id: ListenerId) -> Slot {
    Slot::Accept(id)
}

/// Backlog of listeners bound through the socket APIs (Linux's default `somaxconn`).
pub(crate) const BACKLOG: usize = 4096;

/// A listener on the stack; unlistens when dropped.
#[derive(Debug)]
pub(crate) struct ListenerSocket {
    pub(crate) handle: Handle,
    pub(crate) id: ListenerId,
    pub(crate) local: SocketAddr,
}

impl ListenerSocket {
    /// LISTEN on `addr` on every shard `handle` stands for (one listener each, on the same
    /// port); port 0 picks a port of the stack's ephemeral range free on every shard (the
    /// first shard's pick, then the same on the others; if one of them holds it, the first
    /// shard's next pick).
    pub(crate) fn bind_all(handle: &Handle, addr: SocketAddr) -> io::Result<Vec<ListenerSocket>> {
        let shards = handle.shard_handles();
        let mut from = 0;
        'pick: loop {
            let mut sockets: Vec<ListenerSocket> = Vec::with_capacity(shards.len());
            for h in &shards {
                let bound = match sockets.first() {
                    None => Self::bind_from(h, addr, from),
                    Some(first) => Self::bind(h, first.local),
                };
                match bound {
                    Ok(s) => sockets.push(s),
                    // Another shard holds the first's pick: let go of it, pick the next.
                    Err(e) if addr.port() == 0 && e.kind() == io::ErrorKind::AddrInUse => {
                        let Some(first) = sockets.first() else {
                            return Err(e);
                        };
                        from = first.local.port().saturating_add(1);
                        if from == 0 || first.local.port() == u16::MAX {
                            return Err(e);
                        }
                        continue 'pick;
                    }
                    Err(e) => return Err(e),
                }
            }
            return Ok(sockets);
        }
    }

    /// LISTEN on `addr`; port 0 picks a free port from the stack's ephemeral range.
    pub(crate) fn bind(handle: &Handle, addr: SocketAddr) -> io::Result<ListenerSocket> {
        Self::bind_from(handle, addr, 0)
    }

    /// Like [`bind`](Self::bind), port 0 picking the first free port at or after `from`.
    fn bind_from(handle: &Handle, addr: SocketAddr, from: u16) -> io::Result<ListenerSocket> {
        let (id, local) = handle.shared.call(|stack, _| listen(stack, addr, from))??;
        Self::adopt(handle, id, local)
    }

    /// Takes over a listener already created on the stack (for example an interception
    /// listener): its accept queue is served by this socket from now on.
    pub(crate) fn adopt(
        handle: &Handle,
        id: ListenerId,
        local: SocketAddr,
    ) -> io::Result<ListenerSocket> {
        handle.shared.lock().add_listener(id);
        Ok(ListenerSocket {
            handle: handle.clone(),
            id,
            local,
        })
    }

    /// One accept attempt: `WouldBlock` if the accept queue is empty.
    pub(crate) fn accept_op(stack: &mut Stack, id: ListenerId) -> OpResult<ConnId> {
        stack
            .accept(id)
            .ok_or(StackError::Tcp(tcp::Error::WouldBlock))
    }

    /// Wraps an accepted connection.
    pub(crate) fn adopt_conn(&self, conn: ConnId) -> io::Result<StreamSocket> {
        StreamSocket::adopt(&self.handle, conn)
    }

    /// Waits for a connection (async).
    pub(crate) fn poll_accept(&self, cx: &Context<'_>) -> Poll<io::Result<StreamSocket>> {
        let id = self.id;
        match self
            .handle
            .shared
            .poll_op(cx, Slot::Accept(id), |s, _| Self::accept_op(s, id))
        {
            Poll::Ready(Ok(c)) => Poll::Ready(self.adopt_conn(c)),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Waits for a connection (blocking), or `WouldBlock` at once if `nonblocking`.
    pub(crate) fn accept_blocking(&self, nonblocking: bool) -> io::Result<StreamSocket> {
        let id = self.id;
        let c = self
            .handle
            .shared
            .block_op(Slot::Accept(id), None, nonblocking, |s, _| {
                Self::accept_op(s, id)
            })?;
        self.adopt_conn(c)
    }
}

impl Drop for ListenerSocket {
    fn drop(&mut self) {
        let id = self.id;
        let waiters = self.handle.shared.lock().remove_listener(id);
        drop(waiters);
        let _ = self.handle.shared.call(|s, _| s.unlisten(id));
    }
}

/// Listens on `addr`, picking a free port at or after `from` in the ephemeral range when it
/// is 0.
fn listen(stack: &mut Stack, addr: SocketAddr, from: u16) -> io::Result<(ListenerId, SocketAddr)> {
    if addr.port() != 0 {
        return Ok((stack.listen(addr, BACKLOG)?, addr));
    }
    let (lo, hi) = stack.config().ephemeral_ports;
    for port in lo.max(from)..=hi {
        let local = SocketAddr::new(addr.ip(), port);
        match stack.listen(local, BACKLOG) {
            Ok(id) => return Ok((id, local)),
            Err(StackError::AddrInUse) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        "no free port to listen on",
    ))
}

/// SEND, with the errors a kernel socket gives: writing once the connection closed, or after
/// the peer closed and then reset it (Linux's EPIPE for a RST in CLOSE-WAIT), is a broken pipe.
fn send_op(stack: &mut Stack, now: Instant, id: ConnId, buf: &[u8]) -> OpResult<usize> {
    let r = stack.send(now, id, buf);
    map_send_error(stack, id, r)
}

/// The errors a kernel socket gives for a write (see [`send_op`]).
fn map_send_error<T>(stack: &Stack, id: ConnId, r: Result<T, StackError>) -> OpResult<T> {
    r.map_err(|e| match e {
        StackError::Tcp(tcp::Error::NotConnected) => tcp::Error::Closing.into(),
        StackError::Tcp(tcp::Error::Reset)
            if stack
                .connection(id)
                .is_some_and(|c| c.is_peer_fin_received()) =>
        {
            tcp::Error::Closing.into()
        }
        e => e,
    })
}

/// The bytes an in-place callback says it moved: 0 unless it is `Ready(Ok(n))`.
fn ready_count(r: &Poll<io::Result<usize>>) -> usize {
    match r {
        Poll::Ready(Ok(n)) => *n,
        _ => 0,
    }
}

/// Tries `f` on each address in turn, as `std::net` does for `ToSocketAddrs` arguments: the
/// first success, else the last error, else `InvalidInput` when there was no address at all.
pub(crate) fn each_addr<T>(
    addrs: impl IntoIterator<Item = SocketAddr>,
    mut f: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for addr in addrs {
        match f(addr) {
            Ok(t) => return Ok(t),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(no_addresses))
}

/// The error for an address argument that resolved to nothing (std's wording).
pub(crate) fn no_addresses() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "could not resolve to any addresses",
    )
}

/// A connection on the stack; closed when dropped (FIN after queued data, or a RST with data
/// left unread or with a zero linger).
#[derive(Debug)]
pub(crate) struct StreamSocket {
    pub(crate) handle: Handle,
    pub(crate) id: ConnId,
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
    /// `SO_LINGER` as set by the user: `Some(ZERO)` resets the connection on drop.
    linger: std::sync::Mutex<Option<std::time::Duration>>,
    /// This connection's `tracing` span (`tcp{conn local remote}`, debug level: disabled, and
    /// free, unless a subscriber asks for it).
    span: tracing::Span,
}

impl StreamSocket {
    /// Wraps a connection the stack already holds.
    pub(crate) fn adopt(handle: &Handle, id: ConnId) -> io::Result<StreamSocket> {
        let mut core = handle.shared.lock();
        let conn = core
            .stack()
            .connection(id)
            .ok_or_else(|| io::Error::from(StackError::InvalidHandle))?;
        let (local, remote) = (conn.local(), conn.remote());
        let state = conn.state();
        core.add_conn(id);
        drop(core);
        let span = tracing::debug_span!("tcp", conn = ?id, %local, %remote);
        span.in_scope(|| tracing::debug!(%state, "socket opened"));
        Ok(StreamSocket {
            handle: handle.clone(),
            id,
            local,
            remote,
            linger: std::sync::Mutex::new(None),
            span,
        })
    }

    /// Active OPEN toward `remote`; the handshake is still to be waited for
    /// ([`connect_op`](Self::connect_op)).
    /// On a sharded runtime the connection is opened on the shard that owns it.
    pub(crate) fn open(handle: &Handle, remote: SocketAddr) -> io::Result<StreamSocket> {
        let (owner, id) = handle.open_connection(None, remote, None)?;
        Self::adopt(&owner, id)
    }

    /// `Ok` once the handshake completed, the connection's error if it failed.
    fn connect_op(stack: &mut Stack, id: ConnId) -> OpResult<()> {
        let state = stack.state(id);
        if state.is_synchronized() {
            return Ok(());
        }
        match stack.error(id) {
            Some(e) => Err(e.into()),
            None if state == State::Closed => Err(tcp::Error::NotConnected.into()),
            None => Err(tcp::Error::WouldBlock.into()),
        }
    }

    /// Waits for the handshake (async).
    pub(crate) fn poll_connect(&self, cx: &Context<'_>) -> Poll<io::Result<()>> {
        let id = self.id;
        let done = self
            .handle
            .shared
            .poll_op(cx, Slot::Write(id), |s, _| Self::connect_op(s, id));
        if let Poll::Ready(r) = &done {
            self.log_connect(r);
        }
        done
    }

    /// A debug line for the end of a handshake.
    fn log_connect(&self, r: &io::Result<()>) {
        let _span = self.span.enter();
        match r {
            Ok(()) => tracing::debug!("connected"),
            Err(e) => tracing::debug!(error = %e, "connect failed"),
        }
    }

    /// Waits for the handshake (blocking), until `deadline` if given.
    pub(crate) fn connect_blocking(&self, deadline: Option<std::time::Instant>) -> io::Result<()> {
        let id = self.id;
        let done = self
            .handle
            .shared
            .block_op(Slot::Write(id), deadline, false, |s, _| {
                Self::connect_op(s, id)
            });
        self.log_connect(&done);
        done
    }

    /// RECEIVE into `buf` (async); `Ok(0)` is end of stream.
    pub(crate) fn poll_recv(&self, cx: &Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let id = self.id;
        self.handle
            .shared
            .poll_op(cx, Slot::Read(id), |s, now| s.recv(now, id, buf))
    }

    /// Copies what is readable into `buf` without consuming it (async); `Ok(0)` is end of
    /// stream.
    pub(crate) fn poll_peek(&self, cx: &Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let id = self.id;
        self.handle
            .shared
            .poll_op(cx, Slot::Read(id), |s, _| s.peek(id, buf))
    }

    /// Like [`recv_blocking`](Self::recv_blocking), without consuming the bytes.
    pub(crate) fn peek_blocking(
        &self,
        buf: &mut [u8],
        deadline: Option<std::time::Instant>,
        nonblocking: bool,
    ) -> io::Result<usize> {
        let id = self.id;
        self.handle
            .shared
            .block_op(Slot::Read(id), deadline, nonblocking, |s, _| {
                s.peek(id, buf)
            })
    }

    /// SEND from `buf` (async): at least one byte, as much as fits.
    pub(crate) fn poll_send(&self, cx: &Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let id = self.id;
        self.handle
            .shared
            .poll_op(cx, Slot::Write(id), |s, now| send_op(s, now, id, buf))
    }

    /// RECEIVE in place (async): `f` gets the readable bytes (up to two slices, in order)
    /// under the stack's lock and answers how many it consumed, or `Pending` (it registered
    /// `cx` elsewhere: nothing consumed), or an error of its own. `Ok(0)` is end of stream.
    pub(crate) fn poll_recv_with(
        &self,
        cx: &Context<'_>,
        f: impl FnOnce(&mut Context<'_>, &[u8], &[u8]) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        let id = self.id;
        // `f` gets a context of its own for the same task (`poll_op` holds `cx`).
        let mut inner = Context::from_waker(cx.waker());
        self.handle
            .shared
            .poll_op_in_place(cx, Slot::Read(id), id, |s, now| {
                let r = s.recv_with(now, id, |a, b| {
                    let r = f(&mut inner, a, b);
                    (ready_count(&r), r)
                })?;
                // The end of the stream.
                Ok(r.unwrap_or(Poll::Ready(Ok(0))))
            })
    }

    /// SEND in place (async): `f` fills free room of the send buffer under the stack's lock
    /// and answers how many bytes it wrote (`Ok(0)`: it had nothing more, e.g. its source
    /// ended), or `Pending` (it registered `cx` elsewhere), or an error of its own.
    pub(crate) fn poll_send_with(
        &self,
        cx: &Context<'_>,
        f: impl FnOnce(&mut Context<'_>, &mut [u8]) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        let id = self.id;
        let mut inner = Context::from_waker(cx.waker());
        self.handle
            .shared
            .poll_op_in_place(cx, Slot::Write(id), id, |s, now| {
                let r = s.send_with(now, id, |buf| {
                    let r = f(&mut inner, buf);
                    (ready_count(&r), r)
                });
                map_send_error(s, id, r)
            })
    }

    /// RECEIVE into `buf` (blocking).
    pub(crate) fn recv_blocking(
        &self,
        buf: &mut [u8],
        deadline: Option<std::time::Instant>,
        nonblocking: bool,
    ) -> io::Result<usize> {
        let id = self.id;
        self.handle
            .shared
            .block_op(Slot::Read(id), deadline, nonblocking, |s, now| {
                s.recv(now, id, buf)
            })
    }

    /// SEND from `buf` (blocking): at least one byte, as much as fits.
    pub(crate) fn send_blocking(
        &self,
        buf: &[u8],
        deadline: Option<std::time::Instant>,
        nonblocking: bool,
    ) -> io::Result<usize> {
        let id = self.id;
        self.handle
            .shared
            .block_op(Slot::Write(id), deadline, nonblocking, |s, now| {
                send_op(s, now, id, buf)
            })
    }

    /// Ready to read: bytes are readable, the peer's FIN is reached, or the connection failed
    /// or is gone (a read then returns at once). `WouldBlock` otherwise.
    fn read_ready_op(stack: &mut Stack, id: ConnId) -> OpResult<()> {
        match stack.connection(id) {
            Some(c)
                if c.recv_queue() == 0
                    && !c.is_recv_finished()
                    && c.error().is_none()
                    && c.state() != State::Closed =>
            {
                Err(tcp::Error::WouldBlock.into())
            }
            _ => Ok(()),
        }
    }

    /// Ready to write: there is room in the send buffer of an open connection, or writing
    /// fails at once (closed, failed, or after our FIN). `WouldBlock` while the handshake is
    /// under way or the buffer is full.
    fn write_ready_op(stack: &mut Stack, id: ConnId) -> OpResult<()> {
        match stack.connection(id) {
            Some(c)
                if c.error().is_none()
                    && c.state() != State::Closed
                    && (matches!(c.state(), State::SynSent | State::SynReceived)
                        || (c.state().may_send() && c.send_capacity() == 0)) =>
            {
                Err(tcp::Error::WouldBlock.into())
            }
            _ => Ok(()),
        }
    }

    /// Waits until a read would not block (async).
    pub(crate) fn poll_read_ready(&self, cx: &Context<'_>) -> Poll<io::Result<()>> {
        let id = self.id;
        self.handle
            .shared
            .poll_op(cx, Slot::Read(id), |s, _| Self::read_ready_op(s, id))
    }

    /// Waits until a write would not block (async).
    pub(crate) fn poll_write_ready(&self, cx: &Context<'_>) -> Poll<io::Result<()>> {
        let id = self.id;
        self.handle
            .shared
            .poll_op(cx, Slot::Write(id), |s, _| Self::write_ready_op(s, id))
    }

    /// Half-close: FIN after queued data.
    pub(crate) fn shutdown_write(&self) -> io::Result<()> {
        self.span
            .in_scope(|| tracing::debug!("shutdown: FIN after the queued data"));
        let id = self.id;
        self.handle.shared.call(|s, now| s.shutdown(now, id))??;
        Ok(())
    }

    /// Turns Nagle's algorithm off or on.
    pub(crate) fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        let id = self.id;
        self.handle
            .shared
            .call(|s, now| s.set_nodelay(now, id, nodelay))??;
        Ok(())
    }

    /// Whether Nagle's algorithm is off.
    pub(crate) fn nodelay(&self) -> io::Result<bool> {
        let core = self.handle.shared.lock();
        let conn = core
            .stack()
            .connection(self.id)
            .ok_or_else(|| io::Error::from(StackError::InvalidHandle))?;
        Ok(conn.nodelay())
    }
}

/// The async operations a stream and each of its halves share.
impl StreamSocket {
    /// Waits until a read would not block (`readable`).
    pub(crate) async fn readable(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_read_ready(cx)).await
    }

    /// Waits until a write would not block (`writable`).
    pub(crate) async fn writable(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_write_ready(cx)).await
    }

    /// Reads without waiting (`try_read`): `Err(WouldBlock)` if nothing is there.
    pub(crate) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv_blocking(buf, None, true)
    }

    /// Writes without waiting (`try_write`): `Err(WouldBlock)` if the buffer is full.
    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.send_blocking(buf, None, true)
    }

    /// `AsyncRead::poll_read`: reads into `buf` or registers the task for readability.
    pub(crate) fn poll_read_buf(
        &self,
        cx: &Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = std::task::ready!(self.poll_recv(cx, buf.initialize_unfilled()))?;
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl StreamSocket {
    /// ABORT: a RST now, and the connection is gone (queued and unread data discarded).
    pub(crate) fn abort(&self) -> io::Result<()> {
        self.span.in_scope(|| tracing::debug!("abort: RST"));
        let id = self.id;
        self.handle.shared.call(|s, _| s.abort(id))?;
        Ok(())
    }

    /// `SO_LINGER`: `Some(Duration::ZERO)` makes dropping the socket reset the connection.
    /// Any other value, like `None`, closes gracefully; the close never blocks (the stack
    /// goes on sending what is queued after the socket is gone).
    pub(crate) fn set_linger(&self, linger: Option<std::time::Duration>) {
        if let Ok(mut l) = self.linger.lock() {
            *l = linger;
        }
    }

    /// The linger set by [`set_linger`](Self::set_linger).
    pub(crate) fn linger(&self) -> Option<std::time::Duration> {
        self.linger.lock().map_or(None, |l| *l)
    }
}

impl Drop for StreamSocket {
    fn drop(&mut self) {
        let id = self.id;
        let waiters = self.handle.shared.lock().remove_conn(id);
        drop(waiters);
        let reset = self.linger() == Some(std::time::Duration::ZERO);
        self.span
            .in_scope(|| tracing::debug!(reset, "socket dropped: the stack closes it"));
        if reset {
            let _ = self.handle.shared.call(|s, _| s.abort(id));
        } else {
            let _ = self.handle.shared.call(|s, now| s.close(now, id));
        }
    }
}
