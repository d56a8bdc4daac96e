//! [`TcpSocket`]: a connection or listener configured before it exists, like
//! `tokio::net::TcpSocket`.

use super::{TcpListener, TcpStream};
use crate::runtime::Handle;
use crate::runtime::socket::{BACKLOG, ListenerSocket, StreamSocket};
use crate::tcp;
use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

/// A TCP socket not yet connected or listening, whose buffer sizes and local address are
/// set first; [`connect`](Self::connect) makes it a [`TcpStream`], [`listen`](Self::listen)
/// a [`TcpListener`] whose connections all get its settings.
///
/// Buffer sizes are per connection: a proxy can give its bulk upstream connections megabytes
/// and its many idle client connections the stack's default (64 KiB), and pay for either only
/// while data is held (storage grows with what is queued and is released after a second
/// empty). Unlike a kernel socket the size is taken as given, not doubled.
///
/// ```no_run
/// # async fn f(handle: &synack::runtime::Handle) -> std::io::Result<()> {
/// use synack::tokio_net::TcpSocket;
/// let socket = TcpSocket::new_v4(handle)?;
/// socket.set_send_buffer_size(4 << 20)?;
/// socket.set_recv_buffer_size(4 << 20)?;
/// let stream = socket.connect("192.0.2.2:5001".parse().unwrap()).await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TcpSocket {
    handle: Handle,
    v6: bool,
    settings: Mutex<Settings>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Settings {
    send_buffer: Option<usize>,
    recv_buffer: Option<usize>,
    nodelay: bool,
    local: Option<SocketAddr>,
}

impl TcpSocket {
    /// A socket for IPv4.
    pub fn new_v4(handle: &Handle) -> io::Result<TcpSocket> {
        Self::new(handle, false)
    }

    /// A socket for IPv6.
    pub fn new_v6(handle: &Handle) -> io::Result<TcpSocket> {
        Self::new(handle, true)
    }

    fn new(handle: &Handle, v6: bool) -> io::Result<TcpSocket> {
        Ok(TcpSocket {
            handle: handle.clone(),
            v6,
            settings: Mutex::new(Settings::default()),
        })
    }

    fn settings(&self) -> std::sync::MutexGuard<'_, Settings> {
        self.settings.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the send buffer: the most bytes queued and not yet acknowledged. At least 1.
    pub fn set_send_buffer_size(&self, size: u32) -> io::Result<()> {
        self.settings().send_buffer = Some(checked_size(size)?);
        Ok(())
    }

    /// The send buffer size the connection will get.
    pub fn send_buffer_size(&self) -> io::Result<u32> {
        let size = self.settings().send_buffer;
        Ok(clamp_u32(size.unwrap_or(self.defaults()?.send_buffer)))
    }

    /// Sets the receive buffer: bounds the advertised window. At least 1.
    pub fn set_recv_buffer_size(&self, size: u32) -> io::Result<()> {
        self.settings().recv_buffer = Some(checked_size(size)?);
        Ok(())
    }

    /// The receive buffer size the connection will get.
    pub fn recv_buffer_size(&self) -> io::Result<u32> {
        let size = self.settings().recv_buffer;
        Ok(clamp_u32(size.unwrap_or(self.defaults()?.recv_buffer)))
    }

    /// Turns Nagle's algorithm off (`true`) for the connection from the start.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.settings().nodelay = nodelay;
        Ok(())
    }

    /// Whether Nagle's algorithm will be off.
    pub fn nodelay(&self) -> io::Result<bool> {
        Ok(self.settings().nodelay)
    }

    /// Binds the local address: one of the stack's (`AddrNotAvailable` otherwise; port 0
    /// picks an ephemeral port when connecting), or the address to listen on.
    pub fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        if addr.is_ipv6() != self.v6 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the address family differs from the socket's",
            ));
        }
        let owned = addr.ip().is_unspecified() || self.handle.addresses().contains(&addr.ip());
        if !owned {
            return Err(io::ErrorKind::AddrNotAvailable.into());
        }
        self.settings().local = Some(addr);
        Ok(())
    }

    /// The bound address, if [`bind`](Self::bind) was called.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.settings()
            .local
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "not bound"))
    }

    /// The stack's connection settings with this socket's changes.
    fn tcp_config(&self) -> io::Result<tcp::Config> {
        let s = *self.settings();
        let mut cfg = self.defaults()?;
        if let Some(n) = s.send_buffer {
            cfg.send_buffer = n;
        }
        if let Some(n) = s.recv_buffer {
            cfg.recv_buffer = n;
        }
        Ok(cfg)
    }

    fn defaults(&self) -> io::Result<tcp::Config> {
        self.handle.with_stack(|s, _| s.config().tcp)
    }

    /// Opens a connection to `addr` with this socket's settings and waits for the handshake.
    pub async fn connect(self, addr: SocketAddr) -> io::Result<TcpStream> {
        let cfg = self.tcp_config()?;
        let s = *self.settings();
        let local = s
            .local
            .filter(|l| !l.ip().is_unspecified() || l.port() != 0)
            .map(|l| {
                if l.ip().is_unspecified() {
                    // An unspecified IP with a port: the stack's first address of the family.
                    let ip = self
                        .handle
                        .addresses()
                        .into_iter()
                        .find(|a| a.is_ipv6() == self.v6);
                    ip.map_or(l, |ip: IpAddr| SocketAddr::new(ip, l.port()))
                } else {
                    l
                }
            });
        // On a sharded runtime, on the shard that owns the connection.
        let (owner, id) = self.handle.open_connection(local, addr, Some(cfg))?;
        let socket = StreamSocket::adopt(&owner, id)?;
        if s.nodelay {
            socket.set_nodelay(true)?;
        }
        poll_fn(|cx| socket.poll_connect(cx)).await?;
        Ok(TcpStream::from_socket(socket))
    }

    /// Listens on the bound address (`InvalidInput` if [`bind`](Self::bind) was not called);
    /// every connection it accepts gets this socket's buffer sizes. `backlog` bounds the
    /// accept queue.
    pub fn listen(self, backlog: u32) -> io::Result<TcpListener> {
        let cfg = self.tcp_config()?;
        let local = self.settings().local.ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "bind the socket before listen")
        })?;
        let backlog = usize::try_from(backlog).unwrap_or(BACKLOG).max(1);
        // One listener on each shard the handle stands for (one, unless sharded).
        let mut sockets = Vec::new();
        for h in self.handle.shard_handles() {
            let id = h.with_stack(|st, _| st.listen_with(local, backlog, cfg))??;
            sockets.push(ListenerSocket::adopt(&h, id, local)?);
        }
        TcpListener::from_sockets(sockets, false)
    }
}

fn checked_size(size: u32) -> io::Result<usize> {
    if size == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a buffer size must be at least 1",
        ));
    }
    Ok(size as usize)
}

fn clamp_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
