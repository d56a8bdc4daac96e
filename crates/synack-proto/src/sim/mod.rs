//! A seeded, simulated network on virtual time.
//!
//! A [`Network`] holds several hosts, each an [`Endpoint`] (the sans-IO
//! surface the stack implements), joined by per-direction links with
//! configurable impairments ([`LinkConfig`]). Time is virtual: it jumps
//! straight to the next event. All randomness comes from the seed, so the same
//! seed and the same hosts give the same packets byte for byte, the same
//! [`PacketEvent`] log and the same pcap file.
//!
//! # Driving
//!
//! [`Network::step`] performs one event:
//! 1. every host's [`Endpoint::poll_transmit`] is drained onto the links;
//! 2. time advances to the earliest pending delivery or host deadline;
//! 3. that one event happens: a packet is handed to its destination's
//!    [`Endpoint::handle_packet`], or every host whose
//!    [`Endpoint::poll_timeout`] has come gets [`Endpoint::handle_timeout`];
//! 4. every host is drained again.
//!
//! Ties are deterministic: deliveries due at the same instant go in the order
//! they were scheduled, and deliveries go before timers due at that instant
//! (an ACK that arrives exactly at the RTO deadline is seen first). Hosts are
//! always visited in [`HostId`] order.
//!
//! A host whose deadline is still at or before `now` after
//! `handle_timeout(now)` is fired again at the same instant, forever: time
//! cannot advance past a deadline the host refuses to clear.
//!
//! # Example
//!
//! ```
//! use synack_proto::sim::{Endpoint, LinkConfig, Network};
//! use synack_proto::time::{Duration, Instant};
//!
//! /// Sends one 20-byte IPv4 header to 10.0.0.2, counts what it receives.
//! #[derive(Default)]
//! struct Host { to_send: Option<[u8; 20]>, got: usize }
//!
//! impl Endpoint for Host {
//!     fn handle_packet(&mut self, _: Instant, _: &[u8]) { self.got += 1 }
//!     fn poll_transmit(&mut self, _: Instant, buf: &mut [u8]) -> Option<usize> {
//!         let p = self.to_send.take()?;
//!         buf.get_mut(..20)?.copy_from_slice(&p);
//!         Some(20)
//!     }
//!     fn poll_timeout(&self) -> Option<Instant> { None }
//!     fn handle_timeout(&mut self, _: Instant) {}
//! }
//!
//! let mut ip = [0u8; 20];
//! ip[0] = 0x45;
//! ip[16..20].copy_from_slice(&[10, 0, 0, 2]);
//! let mut net = Network::new(7);
//! let a = net.add_host(&["10.0.0.1".parse().unwrap()], Host { to_send: Some(ip), got: 0 });
//! let b = net.add_host(&["10.0.0.2".parse().unwrap()], Host::default());
//! net.set_link(a, b, LinkConfig::default().with_delay(Duration::from_millis(20)));
//! assert!(net.run_until(Instant::from_millis(1000), |n| n.host(b).got == 1));
//! assert_eq!(net.now(), Instant::from_millis(20));
//! ```
//!
//! # Files
//! - `link.rs`: one link direction, its impairments and counters;
//! - `route.rs`: reading the destination address;
//! - `event.rs`: the packet log;

#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod event;
mod link;
mod route;
mod stack;
#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;

use crate::pcap::PcapWriter;
pub use crate::pcap::SNAPLEN;
use event::Scheduled;
pub use event::{Fate, PacketEvent};
pub use link::{
    DEFAULT_QUEUE_LIMIT_BYTES, InFlight, InvalidProbability, Link, LinkConfig, LinkStats, Refused,
    Transit,
};
pub use route::destination;

use crate::time::Instant;

/// The sans-IO surface a simulated host exposes (the stack implements it).
pub trait Endpoint {
    /// Hand the host one IP packet that arrived at time `now`.
    fn handle_packet(&mut self, now: Instant, packet: &[u8]);
    /// Take the next IP packet the host wants to send, written into `buf`;
    /// returns its length. Called repeatedly until `None` (the network stops
    /// after [`MAX_TRANSMITS_PER_DRAIN`] packets and polls again later).
    /// A length larger than `buf` is a host bug: the packet is counted as
    /// unroutable.
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize>;
    /// The earliest time the host wants `handle_timeout` called, if any.
    fn poll_timeout(&self) -> Option<Instant>;
    /// Time has reached (or passed) a deadline.
    fn handle_timeout(&mut self, now: Instant);
    /// Turns the host's liveness check on or off (see [`Network::set_liveness_checks`]).
    /// Hosts without one ignore it.
    fn set_liveness_checks(&mut self, _on: bool) {}
    /// The first stall the host's liveness check found since the last call: a connection
    /// waiting with no timer armed, or a timeout that resent nothing (for a [`Stack`](crate::stack::Stack),
    /// [`crate::tcp::Stall`]).
    fn take_stall(&mut self) -> Option<String> {
        None
    }
}

/// Identifies a host within its [`Network`]: the index in the order hosts were added.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostId(pub usize);

/// A callback shown every packet a host emits: the sender and the bytes,
/// before routing or impairment.
pub type Observer = Box<dyn FnMut(HostId, &[u8])>;

/// Errors from the simulator's capture output.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The pcap encoder rejected a header or packet, or its writer failed.
    #[error(transparent)]
    Pcap(#[from] crate::pcap::PcapError),
    /// Creating or flushing the capture file failed.
    #[error("pcap I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// Size of the scratch buffer handed to [`Endpoint::poll_transmit`]: the
/// largest IPv4 packet.
pub const SCRATCH_LEN: usize = 65535;

/// How many packets one drain takes from one host before moving on, so a
/// host that never returns `None` cannot hang [`Network::step`].
pub const MAX_TRANSMITS_PER_DRAIN: usize = 1 << 16;

/// Several hosts on virtual time, joined by seeded, impaired links.
pub struct Network<H: Endpoint> {
    hosts: Vec<H>,
    /// Hosts check their connections for stalls; see [`Network::set_liveness_checks`].
    liveness_checks: bool,
    /// Reused for every `poll_transmit`.
    scratch: Vec<u8>,
    fabric: Fabric,
}

/// Everything but the hosts, so a host and the fabric can be borrowed at once.
struct Fabric {
    now: Instant,
    seed: u64,
    routes: HashMap<IpAddr, HostId>,
    /// Link directions, created on first use; keyed by (from, to).
    links: HashMap<(usize, usize), Link>,
    /// Copies on the wire, earliest first.
    wire: BinaryHeap<Reverse<Scheduled>>,
    /// Scheduling counter; breaks delivery-time ties.
    next_seq: u64,
    unroutable: u64,
    recording: bool,
    events: Vec<PacketEvent>,
    observer: Option<Observer>,
    pcap: Option<PcapWriter>,
    pcap_error: Option<SimError>,
}

/// A host broke the liveness invariant: fail now, where it happened.
#[expect(
    clippy::panic,
    reason = "the simulator is a test harness: a stall is a stack bug"
)]
fn liveness_failed(seed: u64, host: HostId, stall: &str) -> ! {
    panic!(
        "liveness invariant broken on host {} (network seed {seed}): {stall}",
        host.0
    )
}

/// What [`Network::step`] would do next.
enum Next {
    Deliver(Instant),
    Timeout(Instant),
}

impl Next {
    fn at(&self) -> Instant {
        match *self {
            Next::Deliver(t) | Next::Timeout(t) => t,
        }
    }
}

impl<H: Endpoint> Network<H> {
    /// An empty network at [`Instant::ZERO`] whose randomness derives from `seed`.
    pub fn new(seed: u64) -> Self {
        Network {
            hosts: Vec::new(),
            liveness_checks: true,
            scratch: vec![0; SCRATCH_LEN],
            fabric: Fabric {
                now: Instant::ZERO,
                seed,
                routes: HashMap::new(),
                links: HashMap::new(),
                wire: BinaryHeap::new(),
                next_seq: 0,
                unroutable: 0,
                recording: false,
                events: Vec::new(),
                observer: None,
                pcap: None,
                pcap_error: None,
            },
        }
    }

    /// Adds `host`, owning `addrs`. Packets to those addresses are routed to
    /// it; if an address is already owned, the newer host takes it over.
    pub fn add_host(&mut self, addrs: &[IpAddr], mut host: H) -> HostId {
        let id = HostId(self.hosts.len());
        host.set_liveness_checks(self.liveness_checks);
        self.hosts.push(host);
        for addr in addrs {
            self.fabric.routes.insert(*addr, id);
        }
        id
    }

    /// The host `id`.
    ///
    /// # Panics
    /// If `id` was not returned by this network's [`add_host`](Self::add_host).
    #[expect(clippy::indexing_slicing, reason = "a foreign HostId is a caller bug")]
    pub fn host(&self, id: HostId) -> &H {
        &self.hosts[id.0]
    }

    /// The host `id`, mutably (for example to open a connection).
    ///
    /// # Panics
    /// If `id` was not returned by this network's [`add_host`](Self::add_host).
    #[expect(clippy::indexing_slicing, reason = "a foreign HostId is a caller bug")]
    pub fn host_mut(&mut self, id: HostId) -> &mut H {
        &mut self.hosts[id.0]
    }

    /// Turns the hosts' liveness checks on (the default) or off. While on, every host that
    /// supports it checks each connection an event touched once its output is drained, and
    /// the network panics at the first stall, naming the host, the time, the connection and
    /// its state: a connection waiting with no timer armed, or a timeout that resent nothing,
    /// is a bug in the stack that would otherwise surface much later as a transfer that
    /// never ends. The check walks only the touched connections.
    pub fn set_liveness_checks(&mut self, on: bool) {
        self.liveness_checks = on;
        for h in &mut self.hosts {
            h.set_liveness_checks(on);
        }
    }

    /// Sets the impairments of the direction `from` → `to`. Probabilities
    /// are clamped into `0.0..=1.0` ([`LinkConfig::clamped`]). Packets
    /// already on the wire keep their schedule; the bottleneck's backlog is
    /// kept.
    pub fn set_link(&mut self, from: HostId, to: HostId, cfg: LinkConfig) {
        self.fabric.link(from.0, to.0).cfg = cfg.clamped();
    }

    /// Sets the same impairments on both directions between `a` and `b`.
    pub fn set_links(&mut self, a: HostId, b: HostId, cfg: LinkConfig) {
        self.set_link(a, b, cfg.clone());
        self.set_link(b, a, cfg);
    }

    /// The configuration of the direction `from` → `to`.
    pub fn link_config(&self, from: HostId, to: HostId) -> LinkConfig {
        self.fabric
            .links
            .get(&(from.0, to.0))
            .map(|l| l.cfg.clone())
            .unwrap_or_default()
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.fabric.now
    }

    /// Starts or stops recording [`PacketEvent`]s. Recorded events are kept
    /// until [`take_events`](Self::take_events); the log is unbounded while
    /// recording, so take it regularly in long runs.
    pub fn set_recording(&mut self, on: bool) {
        self.fabric.recording = on;
    }

    /// Takes the recorded events, oldest first.
    pub fn take_events(&mut self) -> Vec<PacketEvent> {
        std::mem::take(&mut self.fabric.events)
    }

    /// Calls `f` with every packet a host emits, before routing or impairment.
    pub fn set_observer(&mut self, f: Observer) {
        self.fabric.observer = Some(f);
    }

    /// Captures to `w` in pcap format (see the `pcap` module docs: link type
    /// RAW, virtual-time timestamps), replacing any previous capture.
    ///
    /// A packet is written once when it goes onto the wire, at its send time
    /// and with the bytes that will be delivered (after corruption). A packet
    /// lost in transit is still written, since it was sent; a duplicated one
    /// is written twice. Packets refused at the sender (too big, queue full,
    /// unroutable) never reach a wire and are not written. If a write fails,
    /// capturing stops and [`take_pcap_error`](Self::take_pcap_error) returns
    /// the error.
    pub fn set_pcap(&mut self, w: impl Write + Send + 'static) -> Result<(), SimError> {
        self.fabric.pcap = Some(PcapWriter::new(Box::new(w))?);
        Ok(())
    }

    /// Captures to a new file at `path` (buffered; see [`set_pcap`](Self::set_pcap)).
    pub fn pcap_to_file(&mut self, path: impl AsRef<Path>) -> Result<(), SimError> {
        let file = std::fs::File::create(path)?;
        self.set_pcap(std::io::BufWriter::new(file))
    }

    /// Flushes the capture writer, if any.
    pub fn flush_pcap(&mut self) -> Result<(), SimError> {
        match &mut self.fabric.pcap {
            Some(sink) => Ok(sink.flush()?),
            None => Ok(()),
        }
    }

    /// Flushes and closes the capture, if any.
    pub fn stop_pcap(&mut self) -> Result<(), SimError> {
        let result = self.flush_pcap();
        self.fabric.pcap = None;
        result
    }

    /// The error that stopped the capture, if one did.
    pub fn take_pcap_error(&mut self) -> Option<SimError> {
        self.fabric.pcap_error.take()
    }

    /// Copies on the wire now (scheduled, not yet delivered). Bounded by the
    /// links' buffers (see [`LinkConfig::queue_limit_bytes`]).
    pub fn in_flight(&self) -> usize {
        self.fabric.wire.len()
    }

    /// Network-wide counters.
    pub fn stats(&self) -> LinkStats {
        let mut total = LinkStats::default();
        for link in self.fabric.links.values() {
            total.add(&link.stats);
        }
        total.sent += self.fabric.unroutable;
        total.unroutable = self.fabric.unroutable;
        total
    }

    /// Counters of the direction `from` → `to` (all zero if it never carried anything).
    pub fn link_stats(&self, from: HostId, to: HostId) -> LinkStats {
        self.fabric
            .links
            .get(&(from.0, to.0))
            .map(|l| l.stats)
            .unwrap_or_default()
    }

    /// Drains transmits, then performs the next event (see the module docs).
    /// Returns false, doing nothing else, when nothing is scheduled at all.
    pub fn step(&mut self) -> bool {
        self.drain();
        let Some(next) = self.next_event() else {
            return false;
        };
        self.fabric.now = self.fabric.now.max(next.at());
        match next {
            Next::Deliver(_) => self.deliver(),
            Next::Timeout(_) => self.fire_timers(),
        }
        self.drain();
        true
    }

    /// Steps until `done(self)` is true (checked before and after every
    /// step) and returns true. Stops and returns false if the next event lies
    /// after `limit`, with the clock set to `limit` (never moved backwards).
    /// If the network goes idle, returns `done(self)` with the clock unchanged.
    pub fn run_until(&mut self, limit: Instant, mut done: impl FnMut(&mut Self) -> bool) -> bool {
        loop {
            if done(self) {
                return true;
            }
            self.drain();
            match self.next_event() {
                None => return done(self),
                Some(next) if next.at() > limit => {
                    self.fabric.now = self.fabric.now.max(limit);
                    return false;
                }
                Some(_) => {
                    self.step();
                }
            }
        }
    }

    /// Performs every event due at or before `t`, then sets the clock to `t`
    /// (or leaves it if already later).
    pub fn advance_to(&mut self, t: Instant) {
        loop {
            self.drain();
            match self.next_event() {
                Some(next) if next.at() <= t => {
                    self.step();
                }
                _ => break,
            }
        }
        self.fabric.now = self.fabric.now.max(t);
    }

    /// The earliest pending event; deliveries win ties with timers.
    fn next_event(&self) -> Option<Next> {
        let delivery = self.fabric.wire.peek().map(|Reverse(s)| s.at);
        let timeout = self.hosts.iter().filter_map(|h| h.poll_timeout()).min();
        match (delivery, timeout) {
            (Some(d), Some(t)) if t < d => Some(Next::Timeout(t)),
            (Some(d), _) => Some(Next::Deliver(d)),
            (None, Some(t)) => Some(Next::Timeout(t)),
            (None, None) => None,
        }
    }

    /// Moves every packet the hosts want to send onto the links.
    fn drain(&mut self) {
        let now = self.fabric.now;
        for (i, host) in self.hosts.iter_mut().enumerate() {
            for _ in 0..MAX_TRANSMITS_PER_DRAIN {
                let Some(len) = host.poll_transmit(now, &mut self.scratch) else {
                    break;
                };
                self.fabric.send(HostId(i), self.scratch.get(..len));
            }
            if self.liveness_checks
                && let Some(stall) = host.take_stall()
            {
                liveness_failed(self.fabric.seed, HostId(i), &stall);
            }
        }
    }

    /// Hands the earliest copy on the wire to its destination.
    fn deliver(&mut self) {
        let Some(Reverse(s)) = self.fabric.wire.pop() else {
            return;
        };
        let now = self.fabric.now;
        if let Some(link) = self.fabric.links.get_mut(&(s.from, s.to)) {
            link.in_flight_bytes = link.in_flight_bytes.saturating_sub(s.bytes.len());
            link.stats.delivered += 1;
        }
        if let Some(host) = self.hosts.get_mut(s.to) {
            host.handle_packet(now, &s.bytes);
        }
        if self.fabric.recording {
            self.fabric.events.push(PacketEvent {
                sent_at: s.sent_at,
                time: now,
                from: HostId(s.from),
                to: Some(HostId(s.to)),
                bytes: s.bytes,
                fate: s.fate,
            });
        }
    }

    /// Fires `handle_timeout` on every host whose deadline has come.
    fn fire_timers(&mut self) {
        let now = self.fabric.now;
        for host in &mut self.hosts {
            if host.poll_timeout().is_some_and(|t| t <= now) {
                host.handle_timeout(now);
            }
        }
    }
}

impl Fabric {
    /// The direction `from` → `to`, created with the default config on first use.
    fn link(&mut self, from: usize, to: usize) -> &mut Link {
        let seed = self.seed;
        self.links
            .entry((from, to))
            .or_insert_with(|| Link::new(seed, from, to))
    }

    /// Routes and impairs one packet `from` emitted; `None` means the host
    /// claimed a length longer than the buffer.
    fn send(&mut self, from: HostId, packet: Option<&[u8]>) {
        let packet = packet.unwrap_or(&[]);
        if let Some(observer) = &mut self.observer {
            observer(from, packet);
        }
        let Some(to) = destination(packet).and_then(|a| self.routes.get(&a).copied()) else {
            self.unroutable += 1;
            self.record(from, None, packet, Fate::Unroutable);
            return;
        };
        let now = self.now;
        match self.link(from.0, to.0).transmit(now, packet) {
            Err(Refused::TooBig) => self.record(from, Some(to), packet, Fate::TooBig),
            Err(Refused::QueueFull) => self.record(from, Some(to), packet, Fate::QueueFull),
            Ok(Transit::Lost) => {
                self.capture(packet);
                self.record(from, Some(to), packet, Fate::Lost);
            }
            Ok(Transit::Delivered(first, second)) => {
                self.schedule(from, to, first);
                if let Some(second) = second {
                    self.schedule(from, to, second);
                }
            }
        }
    }

    /// Captures a copy and puts it on the wire.
    fn schedule(&mut self, from: HostId, to: HostId, copy: InFlight) {
        self.capture(&copy.bytes);
        let fate = match (copy.truncated, copy.corrupted, copy.duplicate) {
            (true, _, _) => Fate::Truncated,
            (false, true, _) => Fate::Corrupted,
            (false, false, true) => Fate::Duplicate,
            (false, false, false) => Fate::Delivered,
        };
        self.wire.push(Reverse(Scheduled {
            at: copy.at,
            seq: self.next_seq,
            sent_at: self.now,
            from: from.0,
            to: to.0,
            bytes: copy.bytes,
            fate,
        }));
        self.next_seq += 1;
    }

    /// Logs a packet dropped at send time.
    fn record(&mut self, from: HostId, to: Option<HostId>, packet: &[u8], fate: Fate) {
        if self.recording {
            self.events.push(PacketEvent {
                sent_at: self.now,
                time: self.now,
                from,
                to,
                bytes: packet.to_vec(),
                fate,
            });
        }
    }

    /// Writes a packet going onto the wire to the capture, if any.
    fn capture(&mut self, packet: &[u8]) {
        // Virtual time since the epoch, so a seed gives the same file byte for byte.
        let ts = std::time::Duration::from_micros(self.now.total_micros());
        if let Some(sink) = &mut self.pcap
            && let Err(e) = sink.write(ts, packet)
        {
            self.pcap = None;
            self.pcap_error = Some(e.into());
        }
    }
}
