//! The simulated network: hosts' inboxes, the links between them, and the packets in flight.
//!
//! Shared by every host's device (which sends into it from the host's stack task) and the
//! network task (which delivers what is due); both run on the simulation's one thread, so the
//! lock is never contended and its order of use is the same every run.

use crate::net::Device;
use crate::sim::{Link, LinkConfig, Transit};
use crate::time::Instant;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

/// Most packets waiting in one host's inbox (its device's receive queue); more are dropped.
const INBOX_LIMIT: usize = 4096;
/// Most packets held on one held link; more are dropped.
const HOLD_LIMIT: usize = 65536;

/// What the network did with packets, summed over all links.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Packets hosts sent.
    pub sent: u64,
    /// Packets delivered to a host's device.
    pub delivered: u64,
    /// Lost by a link's loss model.
    pub lost: u64,
    /// Duplicated by a link.
    pub duplicated: u64,
    /// Delivered with a flipped bit.
    pub corrupted: u64,
    /// Dropped by a partition.
    pub partitioned: u64,
    /// Dropped because they were larger than the link's MTU, or its buffer was full.
    pub refused: u64,
    /// Addressed to no host, to a host that was down, or to a full inbox.
    pub undeliverable: u64,
}

/// One direction between two hosts.
struct Path {
    link: Link,
    partitioned: bool,
    held: bool,
    hold: VecDeque<Vec<u8>>,
}

/// A packet on its way.
struct InFlight {
    at: Instant,
    seq: u64,
    to: usize,
    bytes: Vec<u8>,
}

impl PartialEq for InFlight {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for InFlight {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

pub(super) struct Inbox {
    pub(super) packets: VecDeque<Vec<u8>>,
    pub(super) up: bool,
}

pub(super) struct World {
    seed: u64,
    epoch: tokio::time::Instant,
    default_link: LinkConfig,
    overrides: BTreeMap<(usize, usize), LinkConfig>,
    paths: BTreeMap<(usize, usize), Path>,
    pub(super) routes: BTreeMap<IpAddr, usize>,
    pub(super) inboxes: Vec<Inbox>,
    in_flight: BinaryHeap<Reverse<InFlight>>,
    next_seq: u64,
    pub(super) stats: NetStats,
}

/// The world, its per-host wake-ups, and the network task's.
pub(super) struct Net {
    world: Mutex<World>,
    /// One per host: a packet reached its inbox.
    pub(super) host_notify: Vec<Notify>,
    /// The network task: a packet was scheduled earlier than it sleeps for.
    pub(super) net_notify: Notify,
}

impl Net {
    pub(super) fn new(
        seed: u64,
        default_link: LinkConfig,
        overrides: BTreeMap<(usize, usize), LinkConfig>,
        routes: BTreeMap<IpAddr, usize>,
        hosts: usize,
    ) -> Arc<Net> {
        Arc::new(Net {
            world: Mutex::new(World {
                seed,
                epoch: tokio::time::Instant::now(),
                default_link,
                overrides,
                paths: BTreeMap::new(),
                routes,
                inboxes: (0..hosts)
                    .map(|_| Inbox {
                        packets: VecDeque::new(),
                        up: false,
                    })
                    .collect(),
                in_flight: BinaryHeap::new(),
                next_seq: 0,
                stats: NetStats::default(),
            }),
            host_notify: (0..hosts).map(|_| Notify::new()).collect(),
            net_notify: Notify::new(),
        })
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, World> {
        // Everything runs on one thread; a poisoned lock means a task panicked mid-update,
        // and the run is reported as failed anyway.
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Delivers every packet due by now; returns when the next one is due.
    pub(super) fn deliver_due(&self) -> Option<tokio::time::Instant> {
        let mut w = self.lock();
        let now = w.now();
        while let Some(Reverse(p)) = w.in_flight.peek() {
            if p.at > now {
                let at = p.at;
                return Some(w.to_tokio(at));
            }
            let Some(Reverse(p)) = w.in_flight.pop() else {
                break;
            };
            if w.push_inbox(p.to, p.bytes)
                && let Some(n) = self.host_notify.get(p.to)
            {
                n.notify_one();
            }
        }
        None
    }
}

impl World {
    pub(super) fn now(&self) -> Instant {
        let d = tokio::time::Instant::now().saturating_duration_since(self.epoch);
        Instant::from_micros(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
    }

    fn to_tokio(&self, at: Instant) -> tokio::time::Instant {
        self.epoch + std::time::Duration::from_micros(at.total_micros())
    }

    /// Puts a packet in `to`'s inbox; whether it got there.
    fn push_inbox(&mut self, to: usize, bytes: Vec<u8>) -> bool {
        match self.inboxes.get_mut(to) {
            Some(inbox) if inbox.up && inbox.packets.len() < INBOX_LIMIT => {
                inbox.packets.push_back(bytes);
                self.stats.delivered += 1;
                true
            }
            _ => {
                self.stats.undeliverable += 1;
                false
            }
        }
    }

    fn path(&mut self, from: usize, to: usize) -> &mut Path {
        let seed = self.seed;
        let (overrides, default) = (&self.overrides, &self.default_link);
        self.paths.entry((from, to)).or_insert_with(|| {
            let cfg = overrides.get(&(from, to)).unwrap_or(default).clone();
            let mut link = Link::new(seed, from, to);
            link.cfg = cfg;
            Path {
                link,
                partitioned: false,
                held: false,
                hold: VecDeque::new(),
            }
        })
    }

    /// Sends `packet` from host `from` onto the network; returns when it is due, if it was
    /// scheduled.
    fn send(&mut self, from: usize, packet: &[u8]) -> Option<Instant> {
        self.stats.sent += 1;
        let Some(to) = dst_addr(packet).and_then(|a| self.routes.get(&a).copied()) else {
            self.stats.undeliverable += 1;
            return None;
        };
        let path = self.path(from, to);
        if path.partitioned {
            self.stats.partitioned += 1;
            return None;
        }
        if path.held {
            if path.hold.len() < HOLD_LIMIT {
                path.hold.push_back(packet.to_vec());
            } else {
                self.stats.refused += 1;
            }
            return None;
        }
        self.transmit(from, to, packet)
    }

    /// Puts `packet` on the link from `from` to `to`.
    fn transmit(&mut self, from: usize, to: usize, packet: &[u8]) -> Option<Instant> {
        let now = self.now();
        let transit = self.path(from, to).link.transmit(now, packet);
        let copies = match transit {
            Err(_) => {
                self.stats.refused += 1;
                return None;
            }
            Ok(Transit::Lost) => {
                self.stats.lost += 1;
                return None;
            }
            Ok(Transit::Delivered(a, b)) => [Some(a), b],
        };
        let mut first = None;
        for c in copies.into_iter().flatten() {
            self.stats.duplicated += u64::from(c.duplicate);
            self.stats.corrupted += u64::from(c.corrupted);
            self.path(from, to).link.delivered(c.bytes.len());
            first = Some(first.map_or(c.at, |f: Instant| f.min(c.at)));
            let seq = self.next_seq;
            self.next_seq += 1;
            self.in_flight.push(Reverse(InFlight {
                at: c.at,
                seq,
                to,
                bytes: c.bytes,
            }));
        }
        first
    }

    /// Cuts (or restores) both directions between `a` and `b`; what is in flight still arrives.
    pub(super) fn set_partitioned(&mut self, a: usize, b: usize, on: bool) {
        self.path(a, b).partitioned = on;
        self.path(b, a).partitioned = on;
    }

    /// Holds both directions between `a` and `b`: packets wait until released.
    pub(super) fn hold(&mut self, a: usize, b: usize) {
        self.path(a, b).held = true;
        self.path(b, a).held = true;
    }

    /// Releases held packets between `a` and `b` onto their links, in the order they were sent.
    pub(super) fn release(&mut self, a: usize, b: usize) -> Option<Instant> {
        let mut first: Option<Instant> = None;
        for (from, to) in [(a, b), (b, a)] {
            let path = self.path(from, to);
            path.held = false;
            let held = std::mem::take(&mut path.hold);
            for p in held {
                if let Some(at) = self.transmit(from, to, &p) {
                    first = Some(first.map_or(at, |f| f.min(at)));
                }
            }
        }
        first
    }

    /// Changes the link from `from` to `to` (its random stream and backlog carry on).
    pub(super) fn set_link(&mut self, from: usize, to: usize, cfg: LinkConfig) {
        self.overrides.insert((from, to), cfg.clone());
        self.path(from, to).link.cfg = cfg;
    }
}

/// The destination address of an IPv4 or IPv6 packet.
fn dst_addr(packet: &[u8]) -> Option<IpAddr> {
    match packet.first()? >> 4 {
        4 => {
            let b: [u8; 4] = packet.get(16..20)?.try_into().ok()?;
            Some(IpAddr::from(b))
        }
        6 => {
            let b: [u8; 16] = packet.get(24..40)?.try_into().ok()?;
            Some(IpAddr::from(b))
        }
        _ => None,
    }
}

/// One host's network interface.
pub(super) struct SimDevice {
    pub(super) net: Arc<Net>,
    pub(super) host: usize,
    pub(super) mtu: usize,
}

impl Device for SimDevice {
    fn readable(&self) -> impl Future<Output = io::Result<()>> + Send {
        let net = self.net.clone();
        let host = self.host;
        async move {
            loop {
                let Some(notify) = net.host_notify.get(host) else {
                    return Ok(());
                };
                let notified = notify.notified();
                let ready = net
                    .lock()
                    .inboxes
                    .get(host)
                    .is_some_and(|i| !i.packets.is_empty());
                if ready {
                    return Ok(());
                }
                notified.await;
            }
        }
    }

    fn try_recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let mut w = self.net.lock();
        let Some(p) = w
            .inboxes
            .get_mut(self.host)
            .and_then(|i| i.packets.pop_front())
        else {
            return Ok(None);
        };
        Ok(Some(crate::net::device::copy_packet(&p, buf)))
    }

    fn try_send(&self, packet: &[u8]) -> io::Result<bool> {
        let due = self.net.lock().send(self.host, packet);
        if due.is_some() {
            self.net.net_notify.notify_one();
        }
        Ok(true)
    }

    fn mtu(&self) -> usize {
        self.mtu
    }
}
