//! UDP in the stack: the socket table, demultiplexing by port and address, the bounded queue
//! of datagrams to send, the readiness events of UDP sockets, and the interception of every
//! UDP flow (sessions).
//!
//! Demultiplexing follows Linux's order of preference: a socket connected to the sender and
//! bound to the destination address, then one bound to the destination address, then one bound
//! to the unspecified address. Ephemeral ports come from the same range and the same keyed
//! picker as TCP's (RFC 6056), in a namespace of their own (a UDP port does not block a TCP
//! port, as on every kernel).

use super::{Stack, StackError};
use crate::time::{Duration, Instant};
use crate::udp::{self, Datagram, Socket};
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::net::{IpAddr, SocketAddr};

/// A handle to a UDP socket of the stack (stale after `udp_close`: the slot's generation
/// moves on).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct UdpId {
    index: u32,
    generation: u32,
}

/// Stack-wide UDP settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpConfig {
    /// Settings of every new socket.
    pub socket: udp::Config,
    /// Most datagrams queued for sending across all sockets (they leave at the next
    /// `poll_transmit`; a full queue makes `send` return `WouldBlock`).
    pub send_queue: usize,
    /// Most payload bytes queued for sending across all sockets.
    pub send_bytes: usize,
    /// Most UDP sockets at once (intercepted sessions included).
    pub max_sockets: usize,
}

impl Default for UdpConfig {
    fn default() -> Self {
        UdpConfig {
            socket: udp::Config::default(),
            send_queue: 1024,
            send_bytes: 1 << 20,
            max_sockets: 1 << 17,
        }
    }
}

/// Interception of every UDP flow entering the device, whatever its destination (the UDP
/// half of a tun2socks core): each new flow — a (client, original destination) pair no socket
/// takes — becomes a *session*, a UDP socket connected to the client and bound to the original
/// destination, so the application reads the client's datagrams from it and its replies leave
/// *from* the original destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpInterceptConfig {
    /// Most sessions at once; a new flow beyond it is dropped (`SynackUdpSessionOverflows`).
    pub max_sessions: usize,
    /// Most new sessions waiting for the application to take them; beyond it a new flow's
    /// datagram is dropped (the client's next one tries again).
    pub backlog: usize,
    /// A session with no datagram either way for this long ends: the application's socket
    /// reports `TimedOut` and the flow's next datagram starts a new session. Linux's
    /// conntrack keeps an unanswered UDP flow 30 s and an answered one 120 s; one minute sits
    /// between, long enough for DNS and short enough to reclaim abandoned flows.
    pub idle_timeout: Duration,
}

impl Default for UdpInterceptConfig {
    fn default() -> Self {
        UdpInterceptConfig {
            max_sessions: 65_536,
            backlog: 1024,
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// What the stack keeps of an intercepted flow beside its socket.
#[derive(Clone, Copy, Debug)]
struct Session {
    last_active: Instant,
    accepted: bool,
}

/// The interception state.
#[derive(Debug)]
struct Intercept {
    cfg: UdpInterceptConfig,
    /// Sessions not yet taken by the application.
    backlog: VecDeque<UdpId>,
    /// Live sessions (in the demux).
    sessions: usize,
    /// Sessions by when they may expire, oldest first. A session's real deadline moves with
    /// its traffic, so an entry is checked when due and pushed back if the session was busy:
    /// every session has one entry, and the idle timeout is the same for all, so the queue
    /// stays in order.
    expiry: VecDeque<(Instant, UdpId)>,
}

/// A datagram waiting to be sent.
#[derive(Debug)]
pub(super) struct Outgoing {
    pub(super) src: SocketAddr,
    pub(super) dst: SocketAddr,
    pub(super) data: Box<[u8]>,
}

#[derive(Debug, Default)]
struct UdpSlot {
    generation: u32,
    socket: Option<Socket>,
    /// Set for an intercepted flow's socket.
    session: Option<Session>,
    /// The socket is out of the demux (its session expired) but its owner still holds it.
    detached: bool,
    /// An event is queued for this socket.
    evented: bool,
}

/// The stack's UDP state.
#[derive(Debug, Default)]
pub(super) struct UdpTable {
    slots: Vec<UdpSlot>,
    free: Vec<u32>,
    live: usize,
    /// Sockets by local port (few per port: a wildcard one, per-address ones, connected ones,
    /// sessions).
    by_port: BTreeMap<u16, Vec<u32>>,
    tx: VecDeque<Outgoing>,
    tx_bytes: usize,
    /// A send found the queue full: every socket is told when it drains.
    tx_blocked: bool,
    /// Sockets whose readiness may have changed, for the events.
    pub(super) events: VecDeque<UdpId>,
    intercept: Option<Intercept>,
    /// The interceptor has new sessions to take (an event is due).
    pub(super) acceptable_event: bool,
}

impl UdpTable {
    fn slot(&self, id: UdpId) -> Option<&UdpSlot> {
        self.slots
            .get(id.index as usize)
            .filter(|s| s.generation == id.generation)
    }

    fn slot_mut(&mut self, id: UdpId) -> Option<&mut UdpSlot> {
        self.slots
            .get_mut(id.index as usize)
            .filter(|s| s.generation == id.generation)
    }

    fn get(&self, id: UdpId) -> Option<&Socket> {
        self.slot(id).and_then(|s| s.socket.as_ref())
    }

    fn get_mut(&mut self, id: UdpId) -> Option<&mut Socket> {
        self.slot_mut(id).and_then(|s| s.socket.as_mut())
    }

    fn id_of(&self, index: u32) -> Option<UdpId> {
        let s = self.slots.get(index as usize)?;
        s.socket.as_ref()?;
        Some(UdpId {
            index,
            generation: s.generation,
        })
    }

    /// Whether `local` (an address and port) is free to bind: no socket on the port has the
    /// same address, and a wildcard and a specific address of one family do not overlap.
    fn is_free(&self, local: SocketAddr) -> bool {
        let Some(on_port) = self.by_port.get(&local.port()) else {
            return true;
        };
        !on_port
            .iter()
            .filter_map(|&i| self.slots.get(i as usize))
            .filter(|s| s.session.is_none())
            .filter_map(|s| s.socket.as_ref())
            .any(|o| {
                let a = o.local().ip();
                a.is_ipv4() == local.ip().is_ipv4()
                    && (a == local.ip() || a.is_unspecified() || local.ip().is_unspecified())
            })
    }

    fn insert(&mut self, socket: Socket, session: Option<Session>) -> UdpId {
        let port = socket.local().port();
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(UdpSlot::default());
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        };
        let generation = match self.slots.get_mut(index as usize) {
            Some(s) => {
                s.socket = Some(socket);
                s.session = session;
                s.detached = false;
                s.evented = false;
                s.generation
            }
            None => 0,
        };
        self.by_port.entry(port).or_default().push(index);
        self.live += 1;
        UdpId { index, generation }
    }

    fn remove(&mut self, id: UdpId) -> Option<Socket> {
        let slot = self.slot_mut(id)?;
        let socket = slot.socket.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        let was_session = slot.session.take().is_some();
        let detached = core::mem::replace(&mut slot.detached, false);
        if !detached {
            self.unlist(id.index, socket.local().port());
            if was_session && let Some(i) = self.intercept.as_mut() {
                i.sessions = i.sessions.saturating_sub(1);
            }
        }
        self.free.push(id.index);
        self.live -= 1;
        Some(socket)
    }

    /// Takes socket `index` out of the demux.
    fn unlist(&mut self, index: u32, port: u16) {
        if let Some(v) = self.by_port.get_mut(&port) {
            v.retain(|&i| i != index);
            if v.is_empty() {
                self.by_port.remove(&port);
            }
        }
    }

    /// The socket a datagram from `src` to `dst` is for, by Linux's preference. A socket
    /// bound to the unspecified address takes only datagrams to the stack's own addresses
    /// (`owned`): an intercepted flow to a foreign address is not its business.
    fn lookup(&self, src: SocketAddr, dst: SocketAddr, owned: bool) -> Option<UdpId> {
        let on_port = self.by_port.get(&dst.port())?;
        let mut best: Option<(u8, u32)> = None;
        for &i in on_port {
            let Some(s) = self.slots.get(i as usize).and_then(|s| s.socket.as_ref()) else {
                continue;
            };
            if s.local().is_ipv4() != dst.is_ipv4()
                || !s.accepts(src, dst)
                || (s.local().ip().is_unspecified() && !owned)
            {
                continue;
            }
            let score =
                u8::from(s.remote().is_some()) * 2 + u8::from(!s.local().ip().is_unspecified());
            if best.is_none_or(|(b, _)| score > b) {
                best = Some((score, i));
            }
        }
        best.and_then(|(_, i)| self.id_of(i))
    }

    fn note(&mut self, id: UdpId) {
        if let Some(s) = self.slot_mut(id)
            && !s.evented
        {
            s.evented = true;
            self.events.push_back(id);
        }
    }

    fn tx_has_room(&self, len: usize, cfg: &UdpConfig) -> bool {
        self.tx.len() < cfg.send_queue && self.tx_bytes + len <= cfg.send_bytes
    }

    /// Heap bytes the UDP sockets and queues hold.
    fn memory_usage(&self) -> usize {
        use core::mem::size_of;
        let sockets: usize = self
            .slots
            .iter()
            .filter_map(|s| s.socket.as_ref())
            .map(|s| s.memory_usage() - size_of::<Socket>())
            .sum();
        let ports: usize = self
            .by_port
            .values()
            .map(|v| v.capacity() * size_of::<u32>() + size_of::<(u16, Vec<u32>)>() * 3 / 2)
            .sum();
        let intercept = self.intercept.as_ref().map_or(0, |i| {
            i.backlog.capacity() * size_of::<UdpId>()
                + i.expiry.capacity() * size_of::<(Instant, UdpId)>()
        });
        sockets
            + ports
            + intercept
            + self.tx_bytes
            + self.tx.capacity() * size_of::<Outgoing>()
            + self.slots.capacity() * size_of::<UdpSlot>()
            + self.free.capacity() * size_of::<u32>()
            + self.events.capacity() * size_of::<UdpId>()
    }
}

/// What an application may do on a UDP socket without waiting: readable (a datagram or an
/// error is queued), writable (the send queue has room).
fn readiness_of(socket: &Socket, tx_room: bool) -> super::Readiness {
    let mut r = super::Readiness::NONE;
    if socket.is_readable() {
        r = r | super::Readiness::READABLE;
    }
    if tx_room {
        r = r | super::Readiness::WRITABLE;
    }
    r
}

impl Stack {
    /// Binds a UDP socket to `local`. Port 0 picks a free ephemeral port; the unspecified
    /// address receives on all of the stack's addresses of its family. Fails with
    /// `AddrNotAvailable` for an address the stack does not own and `AddrInUse` when the
    /// address and port are taken (a wildcard and a specific address on one port overlap).
    pub fn udp_bind(&mut self, local: SocketAddr) -> Result<UdpId, StackError> {
        if !local.ip().is_unspecified() && !self.addrs.contains(&local.ip()) {
            return Err(StackError::AddrNotAvailable);
        }
        if self.udp.live >= self.cfg.udp.max_sockets {
            return Err(StackError::TooManyConnections);
        }
        let local = if local.port() != 0 {
            if !self.udp.is_free(local) {
                return Err(StackError::AddrInUse);
            }
            local
        } else {
            self.udp_ephemeral(local)?
        };
        Ok(self
            .udp
            .insert(Socket::new(local, self.cfg.udp.socket), None))
    }

    /// A free ephemeral port for a socket bound to `local`'s address, from the same keyed
    /// picker as TCP's ports (RFC 6056).
    fn udp_ephemeral(&mut self, local: SocketAddr) -> Result<SocketAddr, StackError> {
        let range = self.cfg.ephemeral_ports;
        // No destination yet: the picker is keyed by the local address alone.
        let nowhere = SocketAddr::new(local.ip(), 0);
        for port in self.ports.candidates(local.ip(), nowhere, range) {
            let candidate = SocketAddr::new(local.ip(), port);
            if self.udp.is_free(candidate) {
                return Ok(candidate);
            }
        }
        Err(StackError::PortsExhausted)
    }

    /// Sets the UDP socket's peer (`connect(2)` on a datagram socket): `send` goes to it, and
    /// only its datagrams are received. A socket bound to the unspecified address takes the
    /// stack's first address of the peer's family as its own.
    pub fn udp_connect(&mut self, id: UdpId, remote: SocketAddr) -> Result<(), StackError> {
        let local_ip = self
            .udp
            .get(id)
            .ok_or(StackError::InvalidHandle)?
            .local()
            .ip();
        if local_ip.is_ipv4() != remote.is_ipv4() {
            return Err(udp::Error::FamilyMismatch.into());
        }
        let pick = if local_ip.is_unspecified() {
            Some(self.source_for(remote.ip())?)
        } else {
            None
        };
        if let Some(s) = self.udp.get_mut(id) {
            s.connect(Some(remote), pick);
        }
        Ok(())
    }

    /// The stack's address to send from toward `dst`: its first of the same family.
    fn source_for(&self, dst: IpAddr) -> Result<IpAddr, StackError> {
        self.addrs
            .iter()
            .copied()
            .find(|a| a.is_ipv4() == dst.is_ipv4())
            .ok_or(StackError::NoLocalAddress)
    }

    /// Queues one datagram from the socket to `remote`; returns its length. `WouldBlock`
    /// when the stack's send queue is full, `MessageTooLong` beyond one IP datagram's
    /// payload.
    pub fn udp_send_to(
        &mut self,
        now: Instant,
        id: UdpId,
        data: &[u8],
        remote: SocketAddr,
    ) -> Result<usize, StackError> {
        let slot = self.udp.slot(id).ok_or(StackError::InvalidHandle)?;
        let local = slot
            .socket
            .as_ref()
            .ok_or(StackError::InvalidHandle)?
            .local();
        if slot.detached {
            return Err(udp::Error::SessionExpired.into());
        }
        if local.is_ipv4() != remote.is_ipv4() {
            return Err(udp::Error::FamilyMismatch.into());
        }
        if data.len() > udp::max_payload(remote) {
            return Err(udp::Error::MessageTooLong.into());
        }
        let src_ip = if local.ip().is_unspecified() {
            self.source_for(remote.ip())?
        } else {
            local.ip()
        };
        self.udp_queue(SocketAddr::new(src_ip, local.port()), remote, data)?;
        self.counters.udp_out_datagrams += 1;
        self.udp_touch(id, now);
        Ok(data.len())
    }

    /// Queues a datagram to send, or says the queue is full.
    fn udp_queue(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        data: &[u8],
    ) -> Result<(), StackError> {
        if !self.udp.tx_has_room(data.len(), &self.cfg.udp) {
            self.udp.tx_blocked = true;
            self.counters.udp_sndbuf_errors += 1;
            return Err(udp::Error::WouldBlock.into());
        }
        let mut v = Vec::new();
        if v.try_reserve_exact(data.len()).is_err() {
            return Err(udp::Error::WouldBlock.into());
        }
        v.extend_from_slice(data);
        self.udp.tx_bytes += data.len();
        self.udp.tx.push_back(Outgoing {
            src,
            dst,
            data: v.into_boxed_slice(),
        });
        Ok(())
    }

    /// The next datagram queued to send (for `poll_transmit`).
    pub(super) fn udp_pop_tx(&mut self) -> Option<Outgoing> {
        let d = self.udp.tx.pop_front()?;
        self.udp.tx_bytes -= d.data.len();
        if self.udp.tx_blocked && self.udp.tx.is_empty() {
            // Room again: every socket may write (a send found the queue full).
            self.udp.tx_blocked = false;
            if self.events_on {
                for i in 0..u32::try_from(self.udp.slots.len()).unwrap_or(u32::MAX) {
                    if let Some(id) = self.udp.id_of(i) {
                        self.udp.note(id);
                    }
                }
            }
        }
        Some(d)
    }

    /// Writes the next UDP datagram to send into `buf` and returns its length; one larger
    /// than the MTU leaves in fragments (the first written now, the rest queued).
    pub(super) fn udp_poll_transmit(&mut self, buf: &mut [u8]) -> Option<usize> {
        use crate::wire::{self, IpRepr, udp::UdpRepr};
        loop {
            let d = self.udp_pop_tx()?;
            let Ok(ip) = IpRepr::new(
                d.src.ip(),
                d.dst.ip(),
                wire::PROTOCOL_UDP,
                0,
                self.cfg.hop_limit,
            ) else {
                continue;
            };
            let repr = UdpRepr {
                src_port: d.src.port(),
                dst_port: d.dst.port(),
                payload: &d.data,
            };
            let total = ip.header_len() + wire::udp::HEADER_LEN + d.data.len();
            if total <= self.cfg.mtu {
                match wire::udp::emit_ip_udp(&ip, &repr, buf) {
                    Ok(n) => return Some(n),
                    Err(_) => {
                        self.counters.out_buffer_too_small += 1;
                        continue;
                    }
                }
            }
            let mut whole = alloc::vec![0u8; total];
            if wire::udp::emit_ip_udp(&ip, &repr, &mut whole).is_err() {
                continue;
            }
            if let Some(n) = self.send_fragmented(whole, buf) {
                return Some(n);
            }
        }
    }

    /// Queues one datagram to the socket's peer (see [`udp_connect`](Self::udp_connect)).
    pub fn udp_send(&mut self, now: Instant, id: UdpId, data: &[u8]) -> Result<usize, StackError> {
        let remote = self
            .udp
            .get(id)
            .ok_or(StackError::InvalidHandle)?
            .remote()
            .ok_or(udp::Error::NotConnected)?;
        self.udp_send_to(now, id, data, remote)
    }

    /// Reads the next datagram into `buf` (a longer datagram is truncated to `buf`, the rest
    /// discarded): its length and its sender. `WouldBlock` when none is queued; an error an
    /// ICMP message reported to a connected socket comes first, once.
    pub fn udp_recv_from(
        &mut self,
        id: UdpId,
        buf: &mut [u8],
    ) -> Result<(usize, SocketAddr), StackError> {
        self.udp_recv_msg(id, buf).map(|(n, src, _)| (n, src))
    }

    /// Like [`udp_recv_from`](Self::udp_recv_from), and also the address the datagram was
    /// sent to (`IP_PKTINFO`): the original destination of an intercepted flow.
    pub fn udp_recv_msg(
        &mut self,
        id: UdpId,
        buf: &mut [u8],
    ) -> Result<(usize, SocketAddr, SocketAddr), StackError> {
        let s = self.udp.get_mut(id).ok_or(StackError::InvalidHandle)?;
        let r = s.recv_from(buf);
        Ok(r?)
    }

    /// Like [`udp_recv_from`](Self::udp_recv_from), but the datagram stays queued.
    pub fn udp_peek_from(
        &self,
        id: UdpId,
        buf: &mut [u8],
    ) -> Result<(usize, SocketAddr), StackError> {
        let s = self.udp.get(id).ok_or(StackError::InvalidHandle)?;
        Ok(s.peek_from(buf)?)
    }

    /// Closes the UDP socket: datagrams queued to read are dropped (those queued to send
    /// still go), and the port is free again.
    pub fn udp_close(&mut self, id: UdpId) {
        self.udp.remove(id);
    }

    /// The UDP socket's local address (an intercepted session's: the flow's original
    /// destination).
    pub fn udp_local_addr(&self, id: UdpId) -> Option<SocketAddr> {
        self.udp.get(id).map(Socket::local)
    }

    /// The UDP socket's peer, if connected (an intercepted session's: the client).
    pub fn udp_peer_addr(&self, id: UdpId) -> Option<SocketAddr> {
        self.udp.get(id).and_then(Socket::remote)
    }

    /// Takes the error an ICMP message (or the end of a session) left on the socket
    /// (`SO_ERROR`).
    pub fn udp_take_error(&mut self, id: UdpId) -> Option<udp::Error> {
        self.udp.get_mut(id).and_then(Socket::take_error)
    }

    /// The UDP socket, to inspect its queue.
    pub fn udp_socket(&self, id: UdpId) -> Option<&Socket> {
        self.udp.get(id)
    }

    /// Number of UDP sockets (intercepted sessions included).
    pub fn udp_socket_count(&self) -> usize {
        self.udp.live
    }

    /// What the application may do on the UDP socket now without waiting.
    pub fn udp_readiness(&self, id: UdpId) -> super::Readiness {
        match self.udp.get(id) {
            Some(s) => readiness_of(s, !self.udp.tx_blocked),
            // A closed handle: every call fails at once.
            None => super::Readiness::READABLE | super::Readiness::WRITABLE,
        }
    }

    /// Queues a readiness event for the socket if events are on.
    fn udp_note(&mut self, id: UdpId) {
        if self.events_on {
            self.udp.note(id);
        }
    }

    /// Resolves a queued UDP readiness event.
    pub(super) fn udp_event(&mut self, id: UdpId) -> Option<(UdpId, super::Readiness)> {
        let room = !self.udp.tx_blocked;
        let slot = self.udp.slot_mut(id)?;
        slot.evented = false;
        let r = readiness_of(slot.socket.as_ref()?, room);
        Some((id, r))
    }

    /// Heap bytes of UDP state.
    pub(super) fn udp_memory_usage(&self) -> usize {
        self.udp.memory_usage()
    }

    /// An arriving datagram (already checked) from `src` to `dst`: queued on its socket (a new
    /// intercepted flow gets a session), or `false` if no socket takes it (the caller answers
    /// with ICMP port unreachable).
    pub(super) fn udp_deliver(
        &mut self,
        now: Instant,
        src: SocketAddr,
        dst: SocketAddr,
        payload: &[u8],
    ) -> bool {
        let owned = self.addrs.contains(&dst.ip());
        let id = match self.udp.lookup(src, dst, owned) {
            Some(id) => id,
            None if !owned && self.udp.intercept.is_some() => {
                match self.udp_new_session(now, src, dst) {
                    Some(id) => id,
                    // Over a bound: dropped and counted, but the flow was ours to take.
                    None => return true,
                }
            }
            None => return false,
        };
        let mut v = Vec::new();
        if v.try_reserve_exact(payload.len()).is_err() {
            self.counters.udp_rcvbuf_errors += 1;
            return true;
        }
        v.extend_from_slice(payload);
        let d = Datagram {
            src,
            dst,
            data: v.into_boxed_slice(),
        };
        let queued = self.udp.get_mut(id).is_some_and(|s| s.enqueue(d));
        if queued {
            self.counters.udp_in_datagrams += 1;
            self.udp_note(id);
        } else {
            self.counters.udp_rcvbuf_errors += 1;
        }
        self.udp_touch(id, now);
        true
    }

    /// A session for a new intercepted flow, or `None` (counted) over a bound.
    fn udp_new_session(
        &mut self,
        now: Instant,
        client: SocketAddr,
        dst: SocketAddr,
    ) -> Option<UdpId> {
        let intercept = self.udp.intercept.as_ref()?;
        if !super::intercept::is_unicast(dst.ip()) {
            return None;
        }
        if intercept.sessions >= intercept.cfg.max_sessions
            || intercept.backlog.len() >= intercept.cfg.backlog
            || self.udp.live >= self.cfg.udp.max_sockets
        {
            self.counters.udp_session_overflows += 1;
            return None;
        }
        let idle = intercept.cfg.idle_timeout;
        let mut socket = Socket::new(dst, self.cfg.udp.socket);
        socket.connect(Some(client), None);
        let session = Session {
            last_active: now,
            accepted: false,
        };
        let id = self.udp.insert(socket, Some(session));
        if let Some(i) = self.udp.intercept.as_mut() {
            i.sessions += 1;
            i.backlog.push_back(id);
            i.expiry.push_back((now + idle, id));
        }
        self.counters.udp_sessions += 1;
        if self.events_on {
            self.udp.acceptable_event = true;
        }
        Some(id)
    }

    /// A datagram went either way on socket `id`: its session (if it is one) is busy.
    fn udp_touch(&mut self, id: UdpId, now: Instant) {
        if let Some(session) = self.udp.slot_mut(id).and_then(|s| s.session.as_mut()) {
            session.last_active = now;
        }
    }

    /// Intercepts every UDP flow entering the device whatever its destination (see
    /// [`UdpInterceptConfig`]); take the sessions with [`udp_accept`](Self::udp_accept).
    /// Datagrams to the stack's own addresses still go to the sockets bound there.
    pub fn udp_intercept(&mut self, cfg: UdpInterceptConfig) {
        self.udp.intercept = Some(Intercept {
            cfg,
            backlog: VecDeque::new(),
            sessions: 0,
            expiry: VecDeque::new(),
        });
    }

    /// Whether UDP interception is on.
    pub fn is_udp_intercepting(&self) -> bool {
        self.udp.intercept.is_some()
    }

    /// The next intercepted flow's session: a socket bound to the flow's original
    /// destination and connected to its client, holding the flow's first datagram. `None`
    /// when no new flow waits (or interception is off).
    pub fn udp_accept(&mut self) -> Option<UdpId> {
        loop {
            let id = self.udp.intercept.as_mut()?.backlog.pop_front()?;
            if let Some(session) = self.udp.slot_mut(id).and_then(|s| s.session.as_mut()) {
                session.accepted = true;
                return Some(id);
            }
        }
    }

    /// Live intercepted sessions.
    pub fn udp_session_count(&self) -> usize {
        self.udp.intercept.as_ref().map_or(0, |i| i.sessions)
    }

    /// When the next session may expire.
    pub(super) fn udp_next_deadline(&self) -> Option<Instant> {
        self.udp
            .intercept
            .as_ref()?
            .expiry
            .front()
            .map(|&(at, _)| at)
    }

    /// Ends the sessions idle for the timeout: one the application holds reports
    /// [`udp::Error::SessionExpired`] and leaves the demux (the flow's next datagram starts a
    /// new session); one it never took is dropped.
    pub(super) fn udp_expire(&mut self, now: Instant) {
        let Some(idle) = self.udp.intercept.as_ref().map(|i| i.cfg.idle_timeout) else {
            return;
        };
        while let Some(&(at, id)) = self.udp.intercept.as_ref().and_then(|i| i.expiry.front()) {
            if at > now {
                return;
            }
            if let Some(i) = self.udp.intercept.as_mut() {
                i.expiry.pop_front();
            }
            let Some(slot) = self.udp.slot_mut(id).filter(|s| !s.detached) else {
                continue;
            };
            let Some(session) = slot.session else {
                continue;
            };
            let due = session.last_active + idle;
            if due > now {
                if let Some(i) = self.udp.intercept.as_mut() {
                    i.expiry.push_back((due, id));
                }
                continue;
            }
            self.counters.udp_session_timeouts += 1;
            if !session.accepted {
                self.udp.remove(id);
                continue;
            }
            slot.detached = true;
            let port = slot.socket.as_ref().map(|s| s.local().port());
            if let Some(s) = slot.socket.as_mut() {
                s.set_error(udp::Error::SessionExpired);
            }
            if let Some(port) = port {
                self.udp.unlist(id.index, port);
            }
            if let Some(i) = self.udp.intercept.as_mut() {
                i.sessions = i.sessions.saturating_sub(1);
            }
            self.udp_note(id);
        }
    }
}

impl Stack {
    /// An ICMP error about a datagram from `local` to `remote`: a socket connected to
    /// `remote` reports `err` on its next read (unconnected ones hear nothing, as on Linux).
    pub(super) fn udp_icmp_error(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        err: Option<udp::Error>,
    ) {
        let Some(err) = err else { return };
        let owned = self.addrs.contains(&local.ip());
        let Some(id) = self.udp.lookup(remote, local, owned) else {
            return;
        };
        if let Some(s) = self.udp.get_mut(id)
            && s.remote() == Some(remote)
        {
            s.set_error(err);
            self.udp_note(id);
        }
    }
}
