//! Blocking sockets mirroring `std::net`: [`TcpListener`], [`TcpStream`] and [`UdpSocket`] over a synack
//! [`Runtime`](crate::runtime::Runtime).
//!
//! The stack runs on the runtime's background thread; a blocked call sleeps on a condition
//! variable until the stack reports the connection ready (no polling), or until its timeout.
//! Errors carry the [`io::ErrorKind`] that `std` gives for the same situation:
//!
//! | situation | kind |
//! |---|---|
//! | RST in answer to our SYN | `ConnectionRefused` |
//! | RST on an open connection | `ConnectionReset` |
//! | retransmissions or `connect_timeout` / read / write timeout ran out | `TimedOut` |
//! | `bind` to an address and port already listened on | `AddrInUse` |
//! | a call on a connection that is no longer open | `NotConnected` |
//! | `write` after `shutdown(Write)` or once the connection closed | `BrokenPipe` |
//! | nothing ready in non-blocking mode | `WouldBlock` |

use crate::runtime::Handle;
use crate::runtime::socket::{ListenerSocket, StreamSocket, each_addr};
use crate::stack::{ConnId, ListenerId};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// A TCP listener on a synack stack, like `std::net::TcpListener`.
///
/// Dropping it stops listening; connections not yet accepted are reset.
#[derive(Debug)]
pub struct TcpListener {
    socket: ListenerSocket,
    nonblocking: AtomicBool,
}

impl TcpListener {
    /// Listens on `addr` (an unspecified IP listens on every address of the stack; port 0
    /// picks a free port): anything `std::net::ToSocketAddrs` takes (`"198.51.100.2:80"`,
    /// `(ip, 80)`, a `SocketAddr`), trying each address it yields as std does. Fails with
    /// `AddrInUse` if something already listens there, `AddrNotAvailable` if the stack does
    /// not own the address.
    ///
    /// On a [`Sharded`](crate::runtime::Sharded) runtime's own handle it fails with
    /// `Unsupported` (a blocking accept waits on one stack): bind one listener on each shard's
    /// handle ([`Sharded::shard`](crate::runtime::Sharded::shard)), or use
    /// [`tokio_net::TcpListener`](crate::tokio_net::TcpListener), which listens on every shard.
    pub fn bind(handle: &Handle, addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        if handle.shard_handles().len() > 1 {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "a blocking listener serves one stack: bind one on each shard's handle \
                 (Sharded::shard(i)), or use synack::tokio_net::TcpListener on the sharded handle",
            ));
        }
        let socket = each_addr(addr.to_socket_addrs()?, |a| ListenerSocket::bind(handle, a))?;
        Ok(TcpListener {
            socket,
            nonblocking: AtomicBool::new(false),
        })
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
            nonblocking: AtomicBool::new(false),
        })
    }

    /// Waits for the next established connection and returns it with the peer's address;
    /// `WouldBlock` at once in non-blocking mode if none is waiting.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let nonblocking = self.nonblocking.load(Ordering::Relaxed);
        let s = self.socket.accept_blocking(nonblocking)?;
        let peer = s.remote;
        Ok((TcpStream::from_socket(s), peer))
    }

    /// An iterator of accepted connections ([`accept`](Self::accept) without the addresses).
    /// It ends once the runtime has stopped (dropped, or its device failed): nothing can
    /// arrive any more, so it does not spin on errors.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.socket.local)
    }

    /// In non-blocking mode `accept` returns `WouldBlock` instead of waiting.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.nonblocking.store(nonblocking, Ordering::Relaxed);
        Ok(())
    }

    /// The stack's id of this listener.
    pub fn id(&self) -> ListenerId {
        self.socket.id
    }
}

/// The iterator of [`TcpListener::incoming`]; it ends when the runtime stops.
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<TcpStream>;
    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        match self.listener.accept() {
            Ok((s, _)) => Some(Ok(s)),
            Err(_) if self.listener.socket.handle.shared.lock().is_stopped() => None,
            Err(e) => Some(Err(e)),
        }
    }
}

/// Per-socket options, shared by the clones of a [`TcpStream`] (as `std`'s are: they are the
/// kernel socket's).
#[derive(Debug, Default)]
struct Options {
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    nonblocking: bool,
    /// `shutdown(Read)`: reads return end of stream.
    read_shut: bool,
}

impl Options {
    /// When a read gives up (from its timeout), and whether it may wait at all.
    fn read_deadline(&self) -> (Option<std::time::Instant>, bool) {
        (
            self.read_timeout.map(|t| std::time::Instant::now() + t),
            self.nonblocking,
        )
    }

    /// When a write gives up, and whether it may wait at all.
    fn write_deadline(&self) -> (Option<std::time::Instant>, bool) {
        (
            self.write_timeout.map(|t| std::time::Instant::now() + t),
            self.nonblocking,
        )
    }
}

/// What the clones of one stream share.
#[derive(Debug)]
struct Inner {
    socket: StreamSocket,
    options: Mutex<Options>,
}

/// A TCP connection on a synack stack, like `std::net::TcpStream`.
///
/// Dropping the last clone closes the connection as closing a kernel socket does: gracefully
/// (a FIN after the data still queued), or with a RST if received data was left unread or
/// the linger is zero ([`set_linger`](Self::set_linger)); [`abort`](Self::abort) resets at
/// once.
#[derive(Debug)]
pub struct TcpStream {
    inner: Arc<Inner>,
}

impl TcpStream {
    fn from_socket(socket: StreamSocket) -> TcpStream {
        TcpStream {
            inner: Arc::new(Inner {
                socket,
                options: Mutex::new(Options::default()),
            }),
        }
    }

    /// Opens a connection to `addr` and waits for the handshake: `ConnectionRefused` if the
    /// peer answers with a RST, `TimedOut` once the SYN retries are spent. `addr` is anything
    /// `std::net::ToSocketAddrs` takes; each address it yields is tried in turn, as std does.
    pub fn connect(handle: &Handle, addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        each_addr(addr.to_socket_addrs()?, |a| {
            let socket = StreamSocket::open(handle, a)?;
            socket.connect_blocking(None)?;
            Ok(TcpStream::from_socket(socket))
        })
    }

    /// [`connect`](Self::connect), giving up with `TimedOut` after `timeout` (the attempt is
    /// abandoned). A zero timeout is `InvalidInput`, as in `std`.
    pub fn connect_timeout(
        handle: &Handle,
        addr: SocketAddr,
        timeout: Duration,
    ) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            return Err(zero_timeout());
        }
        let deadline = std::time::Instant::now() + timeout;
        let socket = StreamSocket::open(handle, addr)?;
        socket.connect_blocking(Some(deadline))?;
        Ok(TcpStream::from_socket(socket))
    }

    fn options(&self) -> MutexGuard<'_, Options> {
        self.inner.options.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.inner.socket.remote)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.inner.socket.local)
    }

    /// `Write` sends a FIN after the queued data (a half-close: the peer reads end of stream,
    /// and reading goes on here); `Read` makes reads return end of stream; `Both` does both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        if matches!(how, Shutdown::Read | Shutdown::Both) {
            self.options().read_shut = true;
        }
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            self.inner.socket.shutdown_write()?;
        }
        Ok(())
    }

    /// Turns Nagle's algorithm off (`true`: small writes go out at once) or back on.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.socket.set_nodelay(nodelay)
    }

    /// Whether Nagle's algorithm is off.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.socket.nodelay()
    }

    /// Reads give up with `TimedOut` (`std` on Unix says `WouldBlock`; synack says what
    /// happened) after waiting this long; `None` waits forever. Zero is `InvalidInput`.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        set_timeout(&mut self.options().read_timeout, timeout)
    }

    /// The read timeout.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.options().read_timeout)
    }

    /// Writes give up with `TimedOut` after waiting this long for send space; `None` waits
    /// forever. Zero is `InvalidInput`.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        set_timeout(&mut self.options().write_timeout, timeout)
    }

    /// The write timeout.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.options().write_timeout)
    }

    /// In non-blocking mode reads and writes return `WouldBlock` instead of waiting.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.options().nonblocking = nonblocking;
        Ok(())
    }

    /// Another handle to the same connection (options included), e.g. to read in one thread
    /// and write in another.
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        Ok(TcpStream {
            inner: self.inner.clone(),
        })
    }

    /// The stack's id of this connection (for [`Handle::with_stack`]).
    pub fn id(&self) -> ConnId {
        self.inner.socket.id
    }

    /// Resets the connection now (RFC 9293 ABORT): a RST goes to the peer, and queued and
    /// unread data is discarded. Reads and writes fail afterwards, on every clone.
    pub fn abort(&self) -> io::Result<()> {
        self.inner.socket.abort()
    }

    /// `SO_LINGER`: `Some(Duration::ZERO)` makes dropping the last clone reset the connection
    /// instead of closing it with a FIN. Any other value closes gracefully, like `None`;
    /// dropping never blocks (the stack goes on sending what is queued).
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        self.inner.socket.set_linger(linger);
        Ok(())
    }

    /// The linger set by [`set_linger`](Self::set_linger).
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        Ok(self.inner.socket.linger())
    }

    /// Copies what is readable into `buf` without consuming it, as `std`'s `peek`
    /// (`MSG_PEEK`): waits for data (subject to the read timeout and non-blocking mode) and
    /// returns `Ok(0)` at the end of the stream.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_with(buf, StreamSocket::peek_blocking)
    }

    fn read_impl(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_with(buf, StreamSocket::recv_blocking)
    }

    /// A read or peek with this stream's read timeout, non-blocking mode and read shutdown.
    fn read_with(
        &self,
        buf: &mut [u8],
        op: fn(&StreamSocket, &mut [u8], Option<std::time::Instant>, bool) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let ((deadline, nonblocking), shut) = {
            let o = self.options();
            (o.read_deadline(), o.read_shut)
        };
        if shut {
            return Ok(0);
        }
        op(&self.inner.socket, buf, deadline, nonblocking)
    }

    fn write_impl(&self, buf: &[u8]) -> io::Result<usize> {
        let (deadline, nonblocking) = self.options().write_deadline();
        self.inner.socket.send_blocking(buf, deadline, nonblocking)
    }
}

/// Sets a read or write timeout; zero is `InvalidInput`, as std says.
fn set_timeout(slot: &mut Option<Duration>, timeout: Option<Duration>) -> io::Result<()> {
    if timeout.is_some_and(|t| t.is_zero()) {
        return Err(zero_timeout());
    }
    *slot = timeout;
    Ok(())
}

fn zero_timeout() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "cannot set a 0 duration timeout",
    )
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_impl(buf)
    }
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_impl(buf)
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_impl(buf)
    }
    /// Nothing to do: a write hands its bytes to the stack, which sends them at once.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_impl(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A UDP socket on a synack stack, like `std::net::UdpSocket`: `bind`, then `send_to` and
/// `recv_from`, or `connect` and `send`/`recv`. Clones (`try_clone`) share the socket and its
/// options; dropping the last one closes it.
#[derive(Debug, Clone)]
pub struct UdpSocket {
    inner: Arc<UdpInner>,
}

#[derive(Debug)]
struct UdpInner {
    socket: crate::runtime::udp::UdpSocketInner,
    options: Mutex<Options>,
}

impl UdpSocket {
    /// Binds a socket to `addr` on the stack (port 0: an ephemeral port; the unspecified
    /// address: all of the stack's addresses of its family). Each address `addr` yields is
    /// tried in turn, as std does.
    pub fn bind(handle: &Handle, addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        each_addr(addr.to_socket_addrs()?, |a| {
            Ok(UdpSocket {
                inner: Arc::new(UdpInner {
                    socket: crate::runtime::udp::UdpSocketInner::bind(handle, a)?,
                    options: Mutex::new(Options::default()),
                }),
            })
        })
    }

    fn options(&self) -> MutexGuard<'_, Options> {
        self.inner.options.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The stack's id of this socket (for [`Handle::with_stack`]).
    pub fn id(&self) -> crate::stack::UdpId {
        self.inner.socket.id
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.socket.local_addr()
    }

    /// The peer set by [`connect`](Self::connect); `NotConnected` before.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.socket.peer_addr()
    }

    /// Sets the default peer: `send` goes to it and only its datagrams are received; an ICMP
    /// port unreachable for it makes the next receive fail with `ConnectionRefused`.
    pub fn connect(&self, addr: impl ToSocketAddrs) -> io::Result<()> {
        let a = addr
            .to_socket_addrs()?
            .next()
            .ok_or_else(crate::runtime::socket::no_addresses)?;
        self.inner.socket.connect(a)
    }

    /// Sends `buf` as one datagram to the peer.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.send_impl(buf, None)
    }

    /// Sends `buf` as one datagram to `addr` (the first address it yields).
    pub fn send_to(&self, buf: &[u8], addr: impl ToSocketAddrs) -> io::Result<usize> {
        let a = addr
            .to_socket_addrs()?
            .next()
            .ok_or_else(crate::runtime::socket::no_addresses)?;
        self.send_impl(buf, Some(a))
    }

    /// Receives one datagram from the peer (truncated to `buf`, the rest discarded).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv_impl(buf, false).map(|(n, _)| n)
    }

    /// Receives one datagram, with its sender.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.recv_impl(buf, false)
    }

    /// Like [`recv_from`](Self::recv_from), but the datagram stays queued.
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.recv_impl(buf, true)
    }

    /// Receives give up with `TimedOut` after waiting this long; `None` waits forever. Zero
    /// is `InvalidInput`.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        set_timeout(&mut self.options().read_timeout, timeout)
    }

    /// The read timeout.
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.options().read_timeout)
    }

    /// Sends give up with `TimedOut` after waiting this long for room in the stack's send
    /// queue; `None` waits forever. Zero is `InvalidInput`.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        set_timeout(&mut self.options().write_timeout, timeout)
    }

    /// The write timeout.
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.options().write_timeout)
    }

    /// In non-blocking mode sends and receives return `WouldBlock` instead of waiting.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.options().nonblocking = nonblocking;
        Ok(())
    }

    /// Another handle to the same socket.
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        Ok(self.clone())
    }

    /// Takes the error an ICMP message left on the socket (`SO_ERROR`).
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.socket.take_error()
    }

    fn send_impl(&self, buf: &[u8], to: Option<SocketAddr>) -> io::Result<usize> {
        let (deadline, nonblocking) = self.options().write_deadline();
        self.inner
            .socket
            .send_blocking(buf, to, deadline, nonblocking)
    }

    fn recv_impl(&self, buf: &mut [u8], peek: bool) -> io::Result<(usize, SocketAddr)> {
        let (deadline, nonblocking) = self.options().read_deadline();
        self.inner
            .socket
            .recv_blocking(buf, peek, deadline, nonblocking)
            .map(|(n, from, _)| (n, from))
    }
}
