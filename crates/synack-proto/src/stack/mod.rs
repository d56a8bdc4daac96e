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
//!
//! # Files
//!
//! | what | file |
//! |---|---|
//! | [`Stack`], its handles and errors; memory and counters | `mod.rs` |
//! | [`StackConfig`], [`Secret`] | `config` |
//! | the connection table: slots, generation-checked [`ConnId`]s, freeing | `slots` |
//! | 4-tuple demultiplexing | `demux` |
//! | arriving packets, and acting on a connection's [`Outcome`](crate::tcp::Outcome) | `input` |
//! | leaving packets ([`Stack::poll_transmit`]), connectionless replies, liveness checks | `output` |
//! | per-connection deadlines ([`Stack::handle_timeout`]) | `timers`, [`timer_wheel`] |
//! | the application's calls: `connect`, `send`, `recv`, `close`… | `user` |
//! | listeners: `listen`, SYN and accept queues, `accept` | `listener` |
//! | SYN cookies (RFC 4987) | `cookies` |
//! | interception of every destination, and SYNs held for the application | `intercept`, `held` |
//! | ICMP echo, readiness events, introspection, counters | `icmp`, `events`, `snapshot`, `counters` |
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod config;
mod cookies;
mod counters;
mod demux;
mod events;
mod held;
mod icmp;
mod icmp_errors;
mod input;
mod intercept;
mod listener;
mod output;
pub mod recorder;
mod slots;
mod snapshot;
pub mod timer_wheel;
mod timers;
mod udp;
mod user;

pub use config::{DEFAULT_MEMORY_PRESSURE, Secret, StackConfig};
pub use counters::Counters;
pub use events::{Event, Readiness};
pub use held::{HELD_SYN_TIMEOUT, HeldId, HeldSyn};
pub use icmp_errors::{ERROR_BURST, ERRORS_PER_SECOND, MAX_PENDING_ERRORS};
pub use output::Transmit;
pub use snapshot::{ConnInfo, ListenerInfo, Snapshot};
pub use udp::{UdpConfig, UdpId, UdpInterceptConfig};

use crate::tcp::isn::{IsnGenerator, PortPicker};
use crate::tcp::syn_cookie::SynCookies;
use crate::tcp::{self, Connection};
use crate::time::Instant;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::net::{IpAddr, SocketAddr};
use demux::{Demux, FourTuple};
use events::EventKey;
use listener::Listener;
use output::Reply;
use slots::{Entry, Slot};
use timer_wheel::TimerWheel;

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
    /// A UDP socket's error.
    #[error(transparent)]
    Udp(#[from] crate::udp::Error),
}

#[cfg(feature = "std")]
impl From<StackError> for std::io::Error {
    fn from(e: StackError) -> Self {
        use std::io::ErrorKind;
        match e {
            StackError::Tcp(e) => e.into(),
            StackError::Udp(e) => e.into(),
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
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct ConnId {
    index: u32,
    generation: u32,
}

/// A handle to a listener.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ListenerId(usize);

/// A TCP/IP stack over any number of local addresses.
#[derive(Debug)]
pub struct Stack {
    cfg: StackConfig,
    /// `cfg.tcp`, shared by every connection made from it (one copy, not one per connection).
    tcp: Arc<tcp::Config>,
    addrs: Vec<IpAddr>,
    isn: IsnGenerator,
    slots: Vec<Slot>,
    /// Free slots and the generation each gives its next connection.
    free_slots: Vec<(u32, u32)>,
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
    /// UDP sockets and the datagrams queued to send.
    udp: udp::UdpTable,
    /// IP fragments waiting for the rest of their datagram.
    frag: crate::frag::Reassembler,
    /// Fragments of a packet larger than the MTU still to send.
    out_frags: output::OutFragments,
    /// ICMP errors to send, and their rate limit.
    icmp_errors: icmp_errors::IcmpErrors,
    /// [`Secret::fingerprint`] of the secret the stack was built with.
    secret_fingerprint: u64,
    /// The sender recorder's log, when on ([`Stack::set_recorder`]).
    recorder: Option<alloc::boxed::Box<recorder::Recorder>>,
    /// Every connection's ring storage as last counted (the sum of the entries' `buffers`).
    buffer_bytes: usize,
    /// Over the memory budget and not yet back below three quarters of it.
    pressure: bool,
    /// The generation a slot made anew starts at: past every generation of the slots given
    /// back when the stack last emptied (see `slots`).
    generation_floor: u32,
    /// Closed connections' entries kept for reuse ([`StackConfig::connection_pool`]):
    /// boxed, since the box itself is what a new connection reuses.
    #[expect(
        clippy::vec_box,
        reason = "the boxes are the allocations the pool recycles"
    )]
    pool: Vec<alloc::boxed::Box<Entry>>,
    /// Bytes the pool holds, entries and what their connections still own.
    pool_bytes: usize,
}

impl Stack {
    /// A stack owning `addrs`, keyed by `secret`.
    pub fn new(cfg: StackConfig, secret: Secret, addrs: &[IpAddr]) -> Self {
        let frag_cfg = cfg.frag.clone();
        let seed = secret.derive(0x5f);
        let ident_seed = u32::from_le_bytes([seed[0], seed[5], seed[10], seed[15]]);
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
            udp: udp::UdpTable::default(),
            frag: crate::frag::Reassembler::new(frag_cfg),
            out_frags: output::OutFragments::new(ident_seed),
            icmp_errors: icmp_errors::IcmpErrors::default(),
            recorder: None,
            buffer_bytes: 0,
            pressure: false,
            generation_floor: 0,
            pool: Vec::new(),
            pool_bytes: 0,
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
        let f = self.frag.counters();
        c.ip_reasm_reqds = f.reasm_reqds;
        c.ip_reasm_oks = f.reasm_oks;
        c.ip_reasm_fails = f.reasm_fails;
        c.ip_reasm_timeout = f.reasm_timeout;
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
            + self.free_slots.capacity() * size_of::<(u32, u32)>()
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
            + self.udp_memory_usage()
            + self.frag.memory_usage()
            + self.icmp_errors.memory_usage()
            + self.pool_bytes
            + self.pool.capacity() * core::mem::size_of::<alloc::boxed::Box<Entry>>()
    }

    /// Sets the device's MTU (see [`StackConfig::mtu`]): drivers call it with their device's.
    pub fn set_mtu(&mut self, mtu: usize) {
        self.cfg.mtu = mtu;
    }

    /// What fragment reassembly counted (`ReasmReqds`, `ReasmOKs`, `ReasmFails`, …).
    pub fn frag_counters(&self) -> &crate::frag::FragCounters {
        self.frag.counters()
    }

    /// Number of connections held (including embryonic and TIME-WAIT ones).
    pub fn connection_count(&self) -> usize {
        self.live
    }

    /// After any event on a connection: it may have output, its buffers may have grown or
    /// shrunk, and its deadline may have moved.
    fn touch(&mut self, id: ConnId, now: Instant) {
        self.mark_dirty(id);
        self.account(id);
        self.schedule(id, now);
        self.note_readiness(id);
    }

    /// Counts the connection's buffers into the stack-wide total after an event, and applies
    /// the memory budget ([`StackConfig::memory_pressure`]): under pressure, what is empty is
    /// freed now and nothing grows.
    fn account(&mut self, id: ConnId) {
        let pressure = self.pressure;
        let Some(e) = self.entry_mut(id) else { return };
        if pressure {
            e.conn.reclaim_empty_buffers();
        }
        e.conn.set_memory_pressure(pressure);
        let now = u32::try_from(e.conn.buffer_bytes()).unwrap_or(u32::MAX);
        let before = core::mem::replace(&mut e.buffers, now);
        self.buffer_bytes = (self.buffer_bytes + now as usize).saturating_sub(before as usize);
        let Some(budget) = self.cfg.memory_pressure else {
            return;
        };
        if !self.pressure && self.buffer_bytes > budget {
            self.pressure = true;
            self.counters.memory_pressure += 1;
            self.release_pool();
        } else if self.pressure && self.buffer_bytes < budget / 4 * 3 {
            self.pressure = false;
        }
    }

    /// Bytes of send and receive ring storage all connections hold, as counted after each
    /// one's latest event: what [`StackConfig::memory_pressure`] budgets. Kept as events
    /// happen, so reading it costs nothing (unlike [`Stack::memory_usage`]).
    pub fn buffer_bytes(&self) -> usize {
        self.buffer_bytes
    }

    /// Changes the memory budget ([`StackConfig::memory_pressure`]) from now on; `None`
    /// lifts it (and any pressure at once).
    pub fn set_memory_pressure(&mut self, budget: Option<usize>) {
        self.cfg.memory_pressure = budget;
        if budget.is_none_or(|b| self.buffer_bytes < b / 4 * 3) {
            self.pressure = false;
        }
    }

    /// Whether the stack is under memory pressure: its buffers passed
    /// [`StackConfig::memory_pressure`] and have not yet fallen below three quarters of it.
    pub fn under_memory_pressure(&self) -> bool {
        self.pressure
    }
}
