//! The stack: many connections, demultiplexed by 4-tuple, with listeners and ephemeral ports.
//!
//! # Sans-IO contract and call order
//!
//! [`Stack`] never reads a clock and never touches a device. A driver:
//! 1. hands every arriving IP packet to [`Stack::handle_packet`] with the current time;
//! 2. calls [`Stack::handle_timeout`] once the time reaches [`Stack::poll_timeout`];
//! 3. after either, and after any application call (`connect`, `send`, `recv`, `shutdown`…),
//!    drains [`Stack::poll_transmit`] until it returns `None`, sending each packet, then
//!    re-reads `poll_timeout`;
//! 4. if it parks application tasks, turns readiness events on ([`Stack::set_events`]) and
//!    drains [`Stack::poll_event`] after each round, waking whoever waits on the connection or
//!    listener named (as the `synack` crate's `runtime` does).

mod cookies;
mod counters;
mod demux;
mod events;
mod held;
mod icmp;
mod intercept;
mod listener;
mod snapshot;
pub mod timer_wheel;

pub use counters::Counters;
pub use events::{Event, Readiness};
pub use held::{HELD_SYN_TIMEOUT, HeldId, HeldSyn};
pub use snapshot::{ConnInfo, ListenerInfo, Snapshot};

use snapshot::AppBytes;

use crate::tcp::isn::{IsnGenerator, PortPicker};
use crate::tcp::reset::{self, Reset};
use crate::tcp::syn_cookie::SynCookies;
use crate::tcp::{self, Connection, Outcome, State};
use crate::time::Instant;
use crate::wire::{self, Checksum, IpRepr, WireError};
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::net::{IpAddr, SocketAddr};
use demux::Demux;
use events::EventKey;
use listener::Listener;
use timer_wheel::TimerWheel;

/// Stack-wide configuration.
#[derive(Clone, Debug)]
pub struct StackConfig {
    /// Settings every new connection starts from.
    pub tcp: tcp::Config,
    /// Most embryonic (SYN-RECEIVED) connections per listener.
    pub syn_backlog: usize,
    /// Most connections the stack holds at once.
    pub max_connections: usize,
    /// Ephemeral port range for `connect` (RFC 6335: 49152–65535).
    pub ephemeral_ports: (u16, u16),
    /// TTL / hop limit of outgoing packets.
    pub hop_limit: u8,
    /// Most connectionless replies (RSTs, SYN-cookie SYN,ACKs) waiting to be sent.
    pub max_pending_rsts: usize,
    /// Answer SYNs with SYN cookies when a listener's SYN queue is full (RFC 4987 §3.6).
    pub syn_cookies: bool,
    /// Most challenge ACKs per second across all connections (RFC 5961 §7).
    pub challenge_ack_limit: u32,
    /// Most connections in TIME-WAIT; beyond it a connection entering TIME-WAIT ends at once.
    pub max_time_wait: usize,
}

impl Default for StackConfig {
    fn default() -> Self {
        StackConfig {
            tcp: tcp::Config::default(),
            syn_backlog: 256,
            max_connections: 1 << 20,
            ephemeral_ports: (49152, 65535),
            hop_limit: 64,
            max_pending_rsts: 256,
            syn_cookies: true,
            challenge_ack_limit: 1000,
            max_time_wait: 65536,
        }
    }
}

/// A connection found stalled by the liveness check ([`Stack::set_liveness_checks`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("connection {conn:?} {local} → {remote} stalled at {at:?}: {stall}")]
pub struct StallReport {
    /// When it was found.
    pub at: Instant,
    /// The connection.
    pub conn: ConnId,
    /// Its local address.
    pub local: SocketAddr,
    /// Its remote address.
    pub remote: SocketAddr,
    /// What is wrong.
    pub stall: tcp::Stall,
}

/// Errors from the stack's application calls.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum StackError {
    /// The stack has no address of the remote's family to connect from.
    #[error("no local address of the right family")]
    NoLocalAddress,
    /// The address to listen on or connect from is not one of the stack's.
    #[error("address not available: the stack does not own it")]
    AddrNotAvailable,
    /// Every ephemeral port toward that destination is in use.
    #[error("no free ephemeral port")]
    PortsExhausted,
    /// Something already listens on (or is connected from) that address and port.
    #[error("address in use")]
    AddrInUse,
    /// The connection limit is reached.
    #[error("too many connections")]
    TooManyConnections,
    /// The handle names no live connection or listener.
    #[error("no such connection or listener")]
    InvalidHandle,
    /// A connection-level error.
    #[error(transparent)]
    Tcp(#[from] tcp::Error),
}

#[cfg(feature = "std")]
impl From<StackError> for std::io::Error {
    fn from(e: StackError) -> Self {
        use std::io::ErrorKind;
        match e {
            StackError::Tcp(e) => e.into(),
            StackError::AddrInUse => std::io::Error::new(ErrorKind::AddrInUse, e),
            StackError::NoLocalAddress | StackError::AddrNotAvailable => {
                std::io::Error::new(ErrorKind::AddrNotAvailable, e)
            }
            StackError::PortsExhausted => std::io::Error::new(ErrorKind::AddrNotAvailable, e),
            StackError::TooManyConnections => std::io::Error::new(ErrorKind::OutOfMemory, e),
            StackError::InvalidHandle => std::io::Error::new(ErrorKind::NotFound, e),
        }
    }
}

/// A handle to a connection. Stale handles (of a freed connection) are detected.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ConnId {
    index: u32,
    generation: u32,
}

/// A handle to a listener.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ListenerId(usize);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct FourTuple {
    local: SocketAddr,
    remote: SocketAddr,
}

/// Hashes the addresses and ports as three words (IPv4) instead of the derived field by
/// field walk, which fed SipHash a dozen small writes per lookup: demux hashing was ~18%
/// of a connection lifecycle's instructions. The hasher is still the keyed SipHash.
impl core::hash::Hash for FourTuple {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        let ports = (u32::from(self.local.port()) << 16) | u32::from(self.remote.port());
        match (self.local.ip(), self.remote.ip()) {
            (IpAddr::V4(l), IpAddr::V4(r)) => {
                state.write_u64((u64::from(l.to_bits()) << 32) | u64::from(r.to_bits()));
            }
            (l, r) => {
                state.write_u128(ip_bits(l));
                state.write_u128(ip_bits(r));
            }
        }
        state.write_u32(ports);
    }
}

/// An address as 128 bits (IPv4 in the low 32).
fn ip_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(a.to_bits()),
        IpAddr::V6(a) => a.to_bits(),
    }
}

#[derive(Debug)]
struct Entry {
    conn: Connection,
    /// The listener that owns this connection until it is accepted.
    listener: Option<ListenerId>,
    /// The user let go of the handle (close/abort): free the slot once CLOSED.
    released: bool,
    /// Still in the demux table.
    demuxed: bool,
    /// Queued in `dirty`.
    dirty: bool,
    /// The readiness last noted for the event queue.
    readiness: Readiness,
    /// Queued in `events`.
    evented: bool,
    /// Bytes the application handed to `send` and read with `recv` (for [`ConnInfo`]).
    app_bytes: AppBytes,
}

#[derive(Debug, Default)]
struct Slot {
    generation: u32,
    /// Boxed, so a free slot and the slot table's spare capacity cost 16 bytes each rather
    /// than a whole connection: the table grows by doubling.
    entry: Option<Box<Entry>>,
}

/// A segment sent without a connection: a RST for no connection, or a SYN-cookie SYN,ACK.
#[derive(Clone, Copy, Debug)]
struct Reply {
    src: SocketAddr,
    dst: SocketAddr,
    seg: crate::wire::TcpRepr<'static>,
}

/// A TCP/IP stack over any number of local addresses.
#[derive(Debug)]
pub struct Stack {
    cfg: StackConfig,
    /// `cfg.tcp`, shared by every connection made from it (one copy, not one per connection).
    tcp: Arc<tcp::Config>,
    addrs: Vec<IpAddr>,
    isn: IsnGenerator,
    slots: Vec<Slot>,
    free_slots: Vec<u32>,
    live: usize,
    demux: Demux,
    listeners: Vec<Option<Listener>>,
    listen_map: BTreeMap<SocketAddr, ListenerId>,
    /// The listener that takes every SYN nothing else does ([`Stack::intercept`]).
    intercept: Option<ListenerId>,
    /// SYNs the interceptor holds for the application ([`Stack::intercept_deferred`]).
    held: held::HeldSyns,
    /// Each connection's next deadline, keyed by slot index.
    timers: TimerWheel,
    /// Slot indices whose deadline came, reused by `handle_timeout`.
    fired: Vec<u32>,
    dirty: VecDeque<ConnId>,
    replies: VecDeque<Reply>,
    cookies: SynCookies,
    /// Start of the current one-second global challenge-ACK budget and how much is spent.
    challenge_budget: (Instant, u32),
    /// Connections now in TIME-WAIT.
    time_wait: usize,
    echo: icmp::EchoResponder,
    ports: PortPicker,
    counters: Counters,
    /// Readiness events are queued (see [`events`]).
    events_on: bool,
    /// Every connection whose output was just drained is checked for a stall.
    liveness_checks: bool,
    /// The first stall found, for [`Stack::take_stall`].
    stall: Option<StallReport>,
    /// Connections and listeners whose readiness changed, each at most once.
    events: VecDeque<EventKey>,
    /// [`Secret::fingerprint`] of the secret the stack was built with.
    secret_fingerprint: u64,
}

/// The stack's secret: it keys RFC 6528 initial sequence numbers, SYN cookies (RFC 4987),
/// the ephemeral-port offsets (RFC 6056) and the demux table's hash.
///
/// There is no default: a stack built with a key everyone knows has predictable ISNs and
/// forgeable cookies, so the caller hands one in. On a real network it must be random bytes
/// from the operating system (the `synack` runtime does this); a simulation may use a fixed
/// one to be reproducible. Its `Debug` output does not show the bytes.
#[derive(Clone)]
pub struct Secret([u8; 16]);

impl Secret {
    /// A secret from 16 bytes: random ones on a real network, fixed ones only where
    /// reproducibility matters more than secrecy (simulations, tests, captures).
    pub const fn from_bytes(bytes: [u8; 16]) -> Secret {
        Secret(bytes)
    }

    /// A digest of the secret that reveals nothing of it: tells whether two stacks share
    /// their secret (a log line, a test) without printing it.
    pub fn fingerprint(&self) -> u64 {
        use core::hash::Hasher;
        let mut h = siphasher::sip::SipHasher24::new_with_key(&self.0);
        h.write(b"synack secret fingerprint");
        h.finish()
    }

    /// A key for one use, derived from the secret so that one secret configures them all.
    fn derive(&self, mask: u8) -> [u8; 16] {
        self.0.map(|b| b ^ mask)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({:016x})", self.fingerprint())
    }
}

impl Stack {
    /// A stack owning `addrs`, keyed by `secret`.
    pub fn new(cfg: StackConfig, secret: Secret, addrs: &[IpAddr]) -> Self {
        Stack {
            isn: IsnGenerator::new(secret.derive(0)),
            // A key of its own, derived from the secret so one secret configures all.
            cookies: SynCookies::new(secret.derive(0xa5)),
            // RFC 6056: its own key, derived from the secret like the cookies'.
            ports: PortPicker::new(secret.derive(0x3c)),
            // The demux table's hash key, derived from the same secret.
            demux: Demux::new(&secret.derive(0)),
            secret_fingerprint: secret.fingerprint(),
            tcp: Arc::new(cfg.tcp),
            cfg,
            addrs: addrs.to_vec(),
            slots: Vec::new(),
            free_slots: Vec::new(),
            live: 0,
            listeners: Vec::new(),
            listen_map: BTreeMap::new(),
            intercept: None,
            held: held::HeldSyns::default(),
            timers: TimerWheel::new(),
            fired: Vec::new(),
            dirty: VecDeque::new(),
            liveness_checks: false,
            stall: None,
            replies: VecDeque::new(),
            challenge_budget: (Instant::ZERO, 0),
            time_wait: 0,
            echo: icmp::EchoResponder::default(),
            counters: Counters::default(),
            events_on: false,
            events: VecDeque::new(),
        }
    }

    /// The addresses this stack owns.
    pub fn addresses(&self) -> &[IpAddr] {
        &self.addrs
    }

    /// The [`Secret::fingerprint`] of the stack's secret (the secret itself is not kept
    /// where it could be read back).
    pub fn secret_fingerprint(&self) -> u64 {
        self.secret_fingerprint
    }

    /// The stack's configuration.
    pub fn config(&self) -> &StackConfig {
        &self.cfg
    }

    /// Changes the settings used for connections created from now on.
    pub fn set_tcp_config(&mut self, tcp: tcp::Config) {
        self.cfg.tcp = tcp;
        self.tcp = Arc::new(tcp);
    }

    /// Counters.
    ///
    /// The per-connection ones (retransmits, timeouts, probes…) are kept in each connection
    /// and added in here, and into the stack's own when a connection is freed, rather than
    /// compared before and after every call on the data path: this call costs a walk over
    /// the live connections.
    pub fn counters(&self) -> Counters {
        let mut c = self.counters;
        for e in self.slots.iter().filter_map(|s| s.entry.as_ref()) {
            c.absorb(Default::default(), e.conn.stats());
        }
        c
    }

    /// Bytes of memory the stack holds, by its own accounting: connection slots and buffers,
    /// the demux table, timer heap and queues (an estimate of the heap, not the process RSS).
    pub fn memory_usage(&self) -> usize {
        use core::mem::size_of;
        let conns: usize = self
            .slots
            .iter()
            .filter_map(|s| s.entry.as_ref())
            .map(|e| size_of::<Entry>() + e.conn.memory_usage() - size_of::<Connection>())
            .sum();
        let listeners: usize = self
            .listeners
            .iter()
            .flatten()
            .map(|l| size_of::<Listener>() + l.accept_queue.capacity() * size_of::<ConnId>())
            .sum();
        self.slots.capacity() * size_of::<Slot>()
            + conns
            + self.free_slots.capacity() * size_of::<u32>()
            + self.demux.memory_usage()
            // A B-tree node holds up to 11 entries; count each at its share of a node.
            + self.listen_map.len() * size_of::<(SocketAddr, ListenerId)>() * 3 / 2
            + listeners
            + self.timers.memory_usage()
            + self.held.memory_usage()
            + self.fired.capacity() * size_of::<u32>()
            + self.dirty.capacity() * size_of::<ConnId>()
            + self.replies.capacity() * size_of::<Reply>()
            + self.events.capacity() * size_of::<EventKey>()
    }

    /// Number of connections held (including embryonic and TIME-WAIT ones).
    pub fn connection_count(&self) -> usize {
        self.live
    }

    // ---- application calls ----

    /// LISTEN on `local` (an unspecified IP listens on every address) with an accept backlog.
    /// `local` must be one of the stack's addresses, or any address while the stack intercepts
    /// ([`intercept`](Self::intercept)); otherwise [`StackError::AddrNotAvailable`].
    pub fn listen(&mut self, local: SocketAddr, backlog: usize) -> Result<ListenerId, StackError> {
        // As std: an address the stack does not own cannot be listened on (EADDRNOTAVAIL),
        // unless it intercepts every destination (then an exact listener may pick one out).
        let owned = local.ip().is_unspecified()
            || self.addrs.contains(&local.ip())
            || self.intercept.is_some();
        if !owned {
            return Err(StackError::AddrNotAvailable);
        }
        if self.listen_map.contains_key(&local) {
            return Err(StackError::AddrInUse);
        }
        let id = self.add_listener(Listener::new(local, backlog));
        self.listen_map.insert(local, id);
        Ok(id)
    }

    /// [`listen`](Self::listen) with connection settings of its own for this listener's
    /// connections (buffer sizes, say) instead of the stack's
    /// [`StackConfig::tcp`](StackConfig::tcp).
    pub fn listen_with(
        &mut self,
        local: SocketAddr,
        backlog: usize,
        tcp: tcp::Config,
    ) -> Result<ListenerId, StackError> {
        let id = self.listen(local, backlog)?;
        if let Some(l) = self.listeners.get_mut(id.0).and_then(Option::as_mut) {
            l.tcp = Some(Arc::new(tcp));
        }
        Ok(id)
    }

    /// The connection settings of listener `lid`'s connections.
    pub(super) fn listener_tcp(&self, lid: ListenerId) -> Arc<tcp::Config> {
        self.listeners
            .get(lid.0)
            .and_then(Option::as_ref)
            .and_then(|l| l.tcp.clone())
            .unwrap_or_else(|| Arc::clone(&self.tcp))
    }

    /// Stops listening. Connections not yet accepted are reset.
    pub fn unlisten(&mut self, id: ListenerId) {
        let Some(listener) = self.listeners.get_mut(id.0).and_then(Option::take) else {
            return;
        };
        if self.intercept == Some(id) {
            self.intercept = None;
            // Undecided SYNs go unanswered, as if never received (the clients retry).
            self.held = held::HeldSyns::default();
        } else {
            self.listen_map.remove(&listener.local);
        }
        let owned: Vec<ConnId> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let e = s.entry.as_ref()?;
                (e.listener == Some(id)).then_some(ConnId {
                    index: i as u32,
                    generation: s.generation,
                })
            })
            .collect();
        for c in owned {
            self.abort(c);
        }
    }

    /// Takes the next established connection from a listener's accept queue.
    pub fn accept(&mut self, id: ListenerId) -> Option<ConnId> {
        let listener = self.listeners.get_mut(id.0)?.as_mut()?;
        let conn = listener.accept_queue.pop_front()?;
        if let Some(e) = self.entry_mut(conn) {
            e.listener = None;
        }
        Some(conn)
    }

    /// Active OPEN toward `remote` from an ephemeral port of a local address of its family.
    pub fn connect(&mut self, now: Instant, remote: SocketAddr) -> Result<ConnId, StackError> {
        self.connect_with(now, None, remote, None)
    }

    /// Active OPEN with the choices [`connect`](Self::connect) makes by itself given:
    /// `local`, an address of the stack's with port 0 for an ephemeral port, or a whole
    /// address as [`connect_from`](Self::connect_from) takes it (`None`: the stack's first
    /// address of the remote's family); `tcp`, this connection's settings instead of the
    /// stack's [`StackConfig::tcp`](StackConfig::tcp) (buffer sizes, say).
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
        let free = self
            .ports
            .candidates(ip, remote, self.cfg.ephemeral_ports)
            .map(|port| SocketAddr::new(ip, port))
            .find(|&local| {
                !self.demux.contains(&FourTuple { local, remote })
                    && !self.listen_map.contains_key(&local)
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

    fn connect_tuple(
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
    fn open(
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
            e.conn.abort();
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

    /// Every live connection handle.
    pub fn connections(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            s.entry.as_ref().map(|_| ConnId {
                index: i as u32,
                generation: s.generation,
            })
        })
    }

    // ---- sans-IO surface ----

    /// Processes one arriving IP packet.
    pub fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        self.handle_packet_with(now, packet, Checksum::Verify);
    }

    /// Processes one arriving IP packet whose TCP checksum the device may already have dealt
    /// with: [`Checksum::Ignore`] for a packet the device validated or whose checksum is still
    /// partial (a TUN device with checksum offload hands the kernel's segments over that way).
    /// The IPv4 header checksum is verified either way.
    pub fn handle_packet_with(&mut self, now: Instant, packet: &[u8], tcp_checksum: Checksum) {
        let (ip, payload) = match wire::ip::parse_ip(packet, Checksum::Verify) {
            Ok(p) => p,
            Err(WireError::BadChecksum) => {
                self.counters.in_csum_errors += 1;
                return;
            }
            Err(_) => {
                self.counters.in_errs += 1;
                return;
            }
        };
        if !self.accepts_destination(ip.dst_addr(), ip.protocol()) {
            self.counters.in_wrong_addr += 1;
            return;
        }
        match ip.protocol() {
            wire::PROTOCOL_TCP => {}
            p if p == wire::icmp::protocol_for(ip.dst_addr()) => {
                return self.echo.handle(&ip, payload, &mut self.counters);
            }
            _ => {
                self.counters.in_unknown_protos += 1;
                return;
            }
        }
        let seg = match wire::parse_tcp(&ip, payload, tcp_checksum) {
            Ok(s) => s,
            Err(WireError::BadChecksum) => {
                self.counters.in_csum_errors += 1;
                return;
            }
            Err(_) => {
                self.counters.in_errs += 1;
                return;
            }
        };
        self.counters.in_segs += 1;
        self.counters.in_rsts += u64::from(seg.flags.rst());
        let local = SocketAddr::new(ip.dst_addr(), seg.dst_port);
        let remote = SocketAddr::new(ip.src_addr(), seg.src_port);
        let found = self.demux.get(&FourTuple { local, remote });
        if let Some(id) = found {
            // RFC 5961 §7: the connection's own challenge-ACK limit, and the stack's.
            let budget = self.challenge_budget_left(now);
            if let Some(e) = self.entry_mut(id) {
                let out = e.conn.handle_segment(now, &seg, budget);
                self.challenge_budget.1 += out.challenge_acks;
                self.on_outcome(id, out);
                self.touch(id, now);
                return;
            }
        }
        match self.find_listener(local) {
            // SYN+FIN opens nothing: dropped silently, as Linux and FreeBSD drop it.
            Some(_) if seg.flags.syn() && seg.flags.fin() && !seg.flags.ack() => {
                self.counters.in_syn_fin += 1;
            }
            Some(lid) if seg.flags.syn() && !seg.flags.ack() && !seg.flags.rst() => {
                if self.held.on && self.intercept == Some(lid) {
                    self.hold_syn(now, lid, local, remote, &seg);
                } else {
                    self.on_listener_syn(now, lid, local, remote, &seg);
                }
            }
            // A bare ACK may complete a SYN-cookie handshake; otherwise (§3.10.7.2) it draws
            // <SEQ=SEG.ACK><CTL=RST>.
            Some(lid) if seg.flags.ack() && !seg.flags.syn() && !seg.flags.rst() => {
                if !self.accept_cookie(now, lid, local, remote, &seg) {
                    self.queue_reset(
                        local,
                        remote,
                        Reset {
                            seq: seg.ack,
                            ack: None,
                        },
                    );
                }
            }
            // A client whose SYN is held gave up: its SYN is forgotten.
            Some(_) if seg.flags.rst() && self.held.on && self.forget_held(local, remote) => {}
            // §3.10.7.2: in LISTEN a RST is ignored, anything else is dropped.
            Some(_) => {}
            _ => {
                if let Some(reset) = reset::reply_to(&seg) {
                    self.queue_reset(local, remote, reset);
                }
            }
        }
    }

    /// Writes the next outgoing IP packet into `buf` and returns its length.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.poll_transmit_segmented(now, buf).map(|t| t.len)
    }

    /// Like [`Stack::poll_transmit`], and also says how a device doing segmentation offload
    /// cuts the packet: a TCP segment larger than the MTU (see
    /// [`tcp::Config::tso_max`](crate::tcp::Config::tso_max)) leaves as segments of
    /// [`Transmit::segment_size`] payload bytes each.
    pub fn poll_transmit_segmented(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let hop = self.cfg.hop_limit;
        if !self.echo.is_empty()
            && let Some(n) = self.echo.poll_transmit(hop, buf, &mut self.counters)
        {
            return Some(Transmit::whole(n));
        }
        while let Some(r) = self.replies.pop_front() {
            if let Some(n) = self.emit(r.src.ip(), r.dst.ip(), &r.seg, buf) {
                self.counters.out_rsts += u64::from(r.seg.flags.rst());
                return Some(Transmit::whole(n));
            }
        }
        while let Some(&id) = self.dirty.front() {
            let hop = self.cfg.hop_limit;
            let Some(e) = self.entry_mut(id) else {
                self.dirty.pop_front();
                continue;
            };
            let (local, remote) = (e.conn.local(), e.conn.remote());
            let segment_size = e.conn.max_payload();
            let written = e.conn.poll_transmit(now).map(|seg| {
                let rst = seg.flags.rst();
                (emit_packet(local.ip(), remote.ip(), hop, &seg, buf), rst)
            });
            match written {
                Some((Some(n), rst)) => {
                    self.counters.out_segs += 1;
                    self.counters.out_rsts += u64::from(rst);
                    return Some(Transmit {
                        len: n,
                        segment_size,
                    });
                }
                Some((None, _)) => self.counters.out_buffer_too_small += 1,
                None => {
                    self.dirty.pop_front();
                    if let Some(e) = self.entry_mut(id) {
                        e.dirty = false;
                    }
                    if self.liveness_checks {
                        self.check_liveness(now, id);
                    }
                    self.schedule(id, now);
                    self.reap(id);
                }
            }
        }
        None
    }

    /// Turns the liveness check on or off (off by default): once on, every connection an
    /// event touched is checked with [`Connection::check_liveness`] as soon as its output
    /// is drained, and the first stall is kept for [`take_stall`](Self::take_stall). The
    /// simulator turns it on for its hosts.
    pub fn set_liveness_checks(&mut self, on: bool) {
        self.liveness_checks = on;
    }

    /// The first stall the liveness check found since the last call, if any.
    pub fn take_stall(&mut self) -> Option<StallReport> {
        self.stall.take()
    }

    fn check_liveness(&mut self, now: Instant, id: ConnId) {
        if self.stall.is_some() {
            return;
        }
        let Some(e) = self.entry(id) else { return };
        if let Err(stall) = e.conn.check_liveness() {
            self.stall = Some(StallReport {
                at: now,
                conn: id,
                local: e.conn.local(),
                remote: e.conn.remote(),
                stall,
            });
        }
    }

    /// The earliest time `handle_timeout` should be called. When the next deadline is more
    /// than ~64 ms away this may be earlier than it (the timer wheel's slot start); calling
    /// `handle_timeout` then does nothing but make the answer more precise.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    /// Runs every connection timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut fired = core::mem::take(&mut self.fired);
        loop {
            self.timers.expire(now, &mut fired);
            if fired.is_empty() {
                break;
            }
            for index in fired.drain(..) {
                let Some(generation) = self.slots.get(index as usize).map(|s| s.generation) else {
                    continue;
                };
                let id = ConnId { index, generation };
                let Some(e) = self.entry_mut(id) else {
                    continue;
                };
                let out = e.conn.handle_timeout(now);
                self.on_outcome(id, out);
                self.touch(id, now);
            }
        }
        self.fired = fired;
    }

    // ---- internals ----

    fn on_listener_syn(
        &mut self,
        now: Instant,
        lid: ListenerId,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &crate::wire::TcpRepr<'_>,
    ) {
        let syn_backlog = self.cfg.syn_backlog;
        let Some(l) = self.listeners.get_mut(lid.0).and_then(Option::as_mut) else {
            return;
        };
        if l.accept_queue.len() >= l.backlog {
            self.counters.listen_overflows += 1;
            return;
        }
        if l.syn_queue >= syn_backlog {
            if self.cfg.syn_cookies {
                self.send_cookie(now, lid, local, remote, seg);
            } else {
                self.counters.listen_overflows += 1;
            }
            return;
        }
        let iss = self.isn.isn(now, local, remote);
        let mut conn = Connection::listen(self.listener_tcp(lid), local, remote, iss);
        // LISTEN → SYN-RECEIVED: nothing to account for, and a SYN draws no challenge ACK.
        let _ = conn.handle_segment(now, seg, u32::MAX);
        let Ok(id) = self.insert(conn, Some(lid)) else {
            self.counters.listen_overflows += 1;
            return;
        };
        if let Some(l) = self.listeners.get_mut(lid.0).and_then(Option::as_mut) {
            l.syn_queue += 1;
        }
        self.demux.insert(FourTuple { local, remote }, id);
        self.counters.passive_opens += 1;
        self.touch(id, now);
    }

    /// Acts on what a call into connection `id` reported: the TIME-WAIT table, the
    /// counters, and, for a listener's embryonic connection whose handshake ended, the
    /// listener's queues.
    fn on_outcome(&mut self, id: ConnId, out: Outcome) {
        if out.entered_time_wait {
            self.time_wait += 1;
            if self.time_wait > self.cfg.max_time_wait {
                // The TIME-WAIT table is full: this one ends now (Linux's tw_bucket overflow).
                self.counters.tw_overflow += 1;
                if let Some(e) = self.entry_mut(id) {
                    e.conn.drop_time_wait();
                }
                self.time_wait -= 1;
            }
        } else if out.left_time_wait {
            self.time_wait = self.time_wait.saturating_sub(1);
        }
        let Some(e) = self.entry(id) else { return };
        let lid = e.listener;
        self.counters.abort_on_timeout += u64::from(out.timed_out);
        self.counters.attempt_fails += u64::from(out.attempt_failed);
        self.counters.estab_resets += u64::from(out.reset_established);
        // An embryonic connection's handshake ended: it leaves the SYN queue, for the accept
        // queue if it completed.
        if let Some(lid) = lid
            && (out.established || out.attempt_failed)
        {
            let Some(l) = self.listeners.get_mut(lid.0).and_then(Option::as_mut) else {
                return;
            };
            l.syn_queue = l.syn_queue.saturating_sub(1);
            if out.established {
                if l.accept_queue.len() < l.backlog {
                    l.accept_queue.push_back(id);
                    self.note_acceptable(lid);
                } else {
                    self.counters.listen_overflows += 1;
                    self.abort(id);
                }
            } else {
                // Never accepted: nobody holds the handle.
                self.release(id);
                if let Some(e) = self.entry_mut(id) {
                    e.listener = None;
                }
            }
        }
    }

    /// The user (or, for a connection never accepted, the stack) lets go of the handle: the
    /// slot is freed once the connection is CLOSED, and what it received is never read.
    fn release(&mut self, id: ConnId) {
        if let Some(e) = self.entry_mut(id) {
            e.released = true;
            e.conn.set_orphaned();
        }
    }

    fn insert(
        &mut self,
        conn: Connection,
        listener: Option<ListenerId>,
    ) -> Result<ConnId, StackError> {
        if self.live >= self.cfg.max_connections {
            return Err(StackError::TooManyConnections);
        }
        let entry = Entry {
            conn,
            listener,
            released: false,
            demuxed: true,
            dirty: false,
            readiness: Readiness::NONE,
            evented: false,
            app_bytes: AppBytes::default(),
        };
        let index = match self.free_slots.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot::default());
                (self.slots.len() - 1) as u32
            }
        };
        let slot = self
            .slots
            .get_mut(index as usize)
            .ok_or(StackError::TooManyConnections)?;
        slot.entry = Some(Box::new(entry));
        self.live += 1;
        Ok(ConnId {
            index,
            generation: slot.generation,
        })
    }

    fn entry(&self, id: ConnId) -> Option<&Entry> {
        let slot = self.slots.get(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.entry.as_deref()
    }

    fn entry_mut(&mut self, id: ConnId) -> Option<&mut Entry> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.entry.as_deref_mut()
    }

    fn conn_mut(&mut self, id: ConnId) -> Result<&mut Connection, StackError> {
        self.entry_mut(id)
            .map(|e| &mut e.conn)
            .ok_or(StackError::InvalidHandle)
    }

    fn mark_dirty(&mut self, id: ConnId) {
        if let Some(e) = self.entry_mut(id)
            && !e.dirty
        {
            e.dirty = true;
            self.dirty.push_back(id);
        }
    }

    /// After any event on a connection: it may have output, and its deadline may have moved.
    fn touch(&mut self, id: ConnId, now: Instant) {
        self.mark_dirty(id);
        self.schedule(id, now);
        self.note_readiness(id);
    }

    /// Puts the connection's next deadline in the timer wheel (or takes it out).
    fn schedule(&mut self, id: ConnId, _now: Instant) {
        let Some(e) = self.entry(id) else { return };
        match e.conn.poll_timeout() {
            Some(at) if self.timers.deadline(id.index) != Some(at) => {
                self.timers.insert(id.index, at);
            }
            Some(_) => {}
            None => {
                self.timers.remove(id.index);
            }
        }
    }

    /// Frees a CLOSED connection: out of the demux table at once, its slot once released.
    fn reap(&mut self, id: ConnId) {
        let Some(e) = self.entry_mut(id) else { return };
        if !e.conn.is_closed() || e.dirty {
            return;
        }
        let tuple = FourTuple {
            local: e.conn.local(),
            remote: e.conn.remote(),
        };
        let demuxed = core::mem::replace(&mut e.demuxed, false);
        let released = e.released;
        if demuxed {
            self.demux.remove_if(tuple, id);
        }
        if released && let Some(slot) = self.slots.get_mut(id.index as usize) {
            if let Some(e) = slot.entry.take() {
                self.counters.absorb(Default::default(), e.conn.stats());
            }
            slot.generation = slot.generation.wrapping_add(1);
            self.free_slots.push(id.index);
            self.live -= 1;
            self.timers.remove(id.index);
        }
    }

    /// What is left of this second's global challenge-ACK budget (RFC 5961 §7).
    fn challenge_budget_left(&mut self, now: Instant) -> u32 {
        let (start, used) = self.challenge_budget;
        if now.saturating_duration_since(start) >= crate::time::Duration::from_secs(1) {
            self.challenge_budget = (now, 0);
            return self.cfg.challenge_ack_limit;
        }
        self.cfg.challenge_ack_limit.saturating_sub(used)
    }

    fn queue_reset(&mut self, local: SocketAddr, remote: SocketAddr, reset: Reset) {
        let seg = reset.to_repr(local.port(), remote.port());
        self.queue_reply(local, remote, seg);
    }

    /// Queues a connectionless segment; the queue is bounded, overflow is counted.
    fn queue_reply(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        seg: crate::wire::TcpRepr<'static>,
    ) {
        if self.replies.len() >= self.cfg.max_pending_rsts {
            self.counters.rst_queue_full += 1;
            return;
        }
        self.replies.push_back(Reply { src, dst, seg });
    }

    fn emit(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        seg: &crate::wire::TcpRepr<'_>,
        buf: &mut [u8],
    ) -> Option<usize> {
        let n = emit_packet(src, dst, self.cfg.hop_limit, seg, buf);
        match n {
            Some(_) => self.counters.out_segs += 1,
            None => self.counters.out_buffer_too_small += 1,
        }
        n
    }
}

/// One packet written by [`Stack::poll_transmit_segmented`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The IP packet's length in `buf`.
    pub len: usize,
    /// The TCP payload per wire segment when a device segments the packet (the connection's
    /// MSS less options); `usize::MAX` for a packet that is never cut (ICMP, RST replies).
    pub segment_size: usize,
}

impl Transmit {
    fn whole(len: usize) -> Self {
        Transmit {
            len,
            segment_size: usize::MAX,
        }
    }
}

/// Writes IP + TCP into `buf`.
fn emit_packet(
    src: IpAddr,
    dst: IpAddr,
    hop_limit: u8,
    seg: &crate::wire::TcpRepr<'_>,
    buf: &mut [u8],
) -> Option<usize> {
    let tcp_len = seg.buffer_len();
    let ip = IpRepr::new(src, dst, 6, tcp_len, hop_limit).ok()?;
    wire::emit_ip_tcp(&ip, seg, buf).ok()
}

#[cfg(feature = "std")]
impl crate::sim::Endpoint for Stack {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        Stack::handle_packet(self, now, packet);
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        Stack::poll_transmit(self, now, buf)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Stack::poll_timeout(self)
    }
    fn handle_timeout(&mut self, now: Instant) {
        Stack::handle_timeout(self, now);
    }
    fn set_liveness_checks(&mut self, on: bool) {
        Stack::set_liveness_checks(self, on);
    }
    fn take_stall(&mut self) -> Option<std::string::String> {
        Stack::take_stall(self).map(|s| s.to_string())
    }
}
