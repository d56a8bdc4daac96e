//! The application's calls on connections (RFC 9293 §3.10.1–§3.10.6): OPEN (`connect`),
//! SEND, RECEIVE, CLOSE, ABORT and STATUS.

use super::{ConnId, FourTuple, Stack, StackError};
use crate::tcp::{self, Connection, State};
use crate::time::Instant;
use alloc::sync::Arc;
use core::net::{IpAddr, SocketAddr};

impl Stack {
    /// Active OPEN toward `remote` from an ephemeral port of a local address of its family.
    pub fn connect(&mut self, now: Instant, remote: SocketAddr) -> Result<ConnId, StackError> {
        self.connect_with(now, None, remote, None)
    }

    /// Active OPEN with the choices [`connect`](Self::connect) makes by itself given:
    /// `local`, an address of the stack's with port 0 for an ephemeral port, or a whole
    /// address as [`connect_from`](Self::connect_from) takes it (`None`: the stack's first
    /// address of the remote's family); `tcp`, this connection's settings instead of the
    /// stack's [`StackConfig::tcp`](super::StackConfig::tcp) (buffer sizes, say).
    pub fn connect_with(
        &mut self,
        now: Instant,
        local: Option<SocketAddr>,
        remote: SocketAddr,
        tcp: Option<tcp::Config>,
    ) -> Result<ConnId, StackError> {
        let tcp = tcp.map(Arc::new);
        if let Some(local) = local.filter(|l| l.port() != 0) {
            return self.connect_tuple(now, local, remote, tcp);
        }
        let ip = match local {
            Some(l) if !self.addrs.contains(&l.ip()) => return Err(StackError::AddrNotAvailable),
            Some(l) => l.ip(),
            None => self
                .addrs
                .iter()
                .copied()
                .find(|a| a.is_ipv4() == remote.is_ipv4())
                .ok_or(StackError::NoLocalAddress)?,
        };
        let (demux, listen_map) = (&self.demux, &self.listen_map);
        let any = match ip {
            IpAddr::V4(_) => IpAddr::from([0u8; 4]),
            IpAddr::V6(_) => IpAddr::from([0u16; 8]),
        };
        let free = self
            .ports
            .candidates(ip, remote, self.cfg.ephemeral_ports)
            .map(|port| SocketAddr::new(ip, port))
            .find(|&local| {
                // Not a port a listener takes SYNs on, at this address or the unspecified one.
                !demux.contains(&FourTuple { local, remote })
                    && !listen_map.contains_key(&local)
                    && !listen_map.contains_key(&SocketAddr::new(any, local.port()))
            });
        match free {
            // `ip` is ours and the tuple free: what `connect_from` checks.
            Some(local) => self.open(now, FourTuple { local, remote }, tcp),
            None => Err(StackError::PortsExhausted),
        }
    }

    /// Active OPEN from an explicit local address and port.
    pub fn connect_from(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Result<ConnId, StackError> {
        self.connect_tuple(now, local, remote, None)
    }

    pub(super) fn connect_tuple(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        tcp: Option<Arc<tcp::Config>>,
    ) -> Result<ConnId, StackError> {
        if !self.addrs.contains(&local.ip()) {
            return Err(StackError::AddrNotAvailable);
        }
        let tuple = FourTuple { local, remote };
        if self.demux.contains(&tuple) {
            return Err(StackError::AddrInUse);
        }
        self.open(now, tuple, tcp)
    }

    /// Active OPEN on a free tuple from one of our addresses.
    pub(super) fn open(
        &mut self,
        now: Instant,
        tuple: FourTuple,
        tcp: Option<Arc<tcp::Config>>,
    ) -> Result<ConnId, StackError> {
        let FourTuple { local, remote } = tuple;
        let iss = self.isn.isn(now, local, remote);
        let tcp = tcp.unwrap_or_else(|| Arc::clone(&self.tcp));
        let conn = Connection::connect(tcp, local, remote, iss);
        let id = self.insert(conn, None)?;
        self.demux.insert(tuple, id);
        self.counters.active_opens += 1;
        self.touch(id, now);
        Ok(id)
    }

    /// SEND: queues data; returns how much was taken.
    pub fn send(&mut self, now: Instant, id: ConnId, data: &[u8]) -> Result<usize, StackError> {
        let r = self.conn_mut(id)?.send(data);
        if let (Ok(n), Some(e)) = (&r, self.entry_mut(id)) {
            e.app_bytes.sent += *n as u64;
        }
        self.touch(id, now);
        Ok(r?)
    }

    /// RECEIVE: `Ok(0)` is end of stream; `Err(Tcp(WouldBlock))` means nothing yet.
    pub fn recv(&mut self, now: Instant, id: ConnId, buf: &mut [u8]) -> Result<usize, StackError> {
        let r = self.conn_mut(id)?.recv(buf);
        if let (Ok(n), Some(e)) = (&r, self.entry_mut(id)) {
            e.app_bytes.read += *n as u64;
        }
        // A read that took no bytes (nothing yet, end of stream, an error) changed nothing:
        // no window update to send, no deadline or readiness moved.
        if matches!(r, Ok(n) if n > 0) {
            self.touch(id, now);
        }
        Ok(r?)
    }

    /// SEND in place (zero copy), as [`Connection::send_with`]: `f` writes into free room
    /// of the send buffer and returns how many bytes it wrote and a value.
    pub fn send_with<R>(
        &mut self,
        now: Instant,
        id: ConnId,
        f: impl FnOnce(&mut [u8]) -> (usize, R),
    ) -> Result<R, StackError> {
        let mut wrote = 0;
        let r = self.conn_mut(id)?.send_with(|buf| {
            let (n, r) = f(buf);
            wrote = n.min(buf.len());
            (n, r)
        });
        if let Some(e) = self.entry_mut(id) {
            e.app_bytes.sent += wrote as u64;
        }
        if wrote > 0 {
            self.touch(id, now);
        }
        Ok(r?)
    }

    /// RECEIVE in place (zero copy), as [`Connection::recv_with`]: `f` reads the readable
    /// bytes where they lie and returns how many it consumed and a value; `Ok(None)` is
    /// end of stream, `Err(Tcp(WouldBlock))` means nothing yet.
    pub fn recv_with<R>(
        &mut self,
        now: Instant,
        id: ConnId,
        f: impl FnOnce(&[u8], &[u8]) -> (usize, R),
    ) -> Result<Option<R>, StackError> {
        let mut read = 0;
        let r = self.conn_mut(id)?.recv_with(|a, b| {
            let (n, r) = f(a, b);
            read = n.min(a.len() + b.len());
            (n, r)
        });
        if let Some(e) = self.entry_mut(id) {
            e.app_bytes.read += read as u64;
        }
        if read > 0 {
            self.touch(id, now);
        }
        Ok(r?)
    }

    /// Like [`Stack::recv`], but the bytes stay queued (`MSG_PEEK`).
    pub fn peek(&self, id: ConnId, buf: &mut [u8]) -> Result<usize, StackError> {
        let e = self.entry(id).ok_or(StackError::InvalidHandle)?;
        Ok(e.conn.peek(buf)?)
    }

    /// Half-close (RFC CLOSE): send FIN after queued data, keep receiving.
    pub fn shutdown(&mut self, now: Instant, id: ConnId) -> Result<(), StackError> {
        self.conn_mut(id)?.close();
        self.touch(id, now);
        Ok(())
    }

    /// Close and let go of the handle, as `close(2)` on a socket does: a FIN after queued
    /// data, and the connection is freed when it reaches CLOSED. Since nothing will read
    /// again, received data left unread, or new data arriving later, resets the connection
    /// instead (RFC 1122 §4.2.2.13, RFC 2525 §2.17, as Linux): the peer learns that what it
    /// sent was not consumed. Use [`shutdown`](Self::shutdown) to half-close and keep reading.
    pub fn close(&mut self, now: Instant, id: ConnId) -> Result<(), StackError> {
        let e = self.entry_mut(id).ok_or(StackError::InvalidHandle)?;
        let resettable = matches!(
            e.conn.state(),
            State::SynReceived
                | State::Established
                | State::FinWait1
                | State::FinWait2
                | State::CloseWait
        );
        if resettable && e.conn.unread() > 0 {
            e.conn.abort();
            self.counters.abort_on_close += 1;
        } else {
            e.conn.close();
        }
        self.release(id);
        self.touch(id, now);
        Ok(())
    }

    /// Turns Nagle's algorithm off (`true`) or back on for this connection.
    pub fn set_nodelay(
        &mut self,
        now: Instant,
        id: ConnId,
        nodelay: bool,
    ) -> Result<(), StackError> {
        self.conn_mut(id)?.set_nodelay(nodelay);
        self.touch(id, now);
        Ok(())
    }

    /// ABORT: send RST (when synchronized) and free the connection.
    pub fn abort(&mut self, id: ConnId) {
        if let Some(e) = self.entry_mut(id) {
            let was_time_wait = e.conn.state() == State::TimeWait;
            e.conn.abort();
            // Leaving TIME-WAIT this way reports no outcome: count it out here, or the
            // table would fill with connections that are gone.
            if was_time_wait {
                self.time_wait = self.time_wait.saturating_sub(1);
            }
            self.release(id);
            self.mark_dirty(id);
        }
    }

    /// The connection's state; `Closed` for a freed or unknown handle.
    pub fn state(&self, id: ConnId) -> State {
        self.entry(id).map_or(State::Closed, |e| e.conn.state())
    }

    /// Why the connection failed, if it did.
    pub fn error(&self, id: ConnId) -> Option<tcp::Error> {
        self.entry(id).and_then(|e| e.conn.error())
    }

    /// The connection itself, for inspection.
    pub fn connection(&self, id: ConnId) -> Option<&Connection> {
        self.entry(id).map(|e| &e.conn)
    }
}
