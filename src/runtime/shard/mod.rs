//! More than one core: N stacks on N threads, each on one queue of a multi-queue device, and the
//! rule that keeps every connection on one of them.
//!
//! [`Builder::build_sharded`] starts one thread per device (typically the queues of an
//! `IFF_MULTI_QUEUE` TUN device, [`TunDevice::open_queues`](crate::net::TunDevice::open_queues)),
//! each running a current-thread Tokio runtime with a stack of its own. The stacks share
//! nothing but a keyed hash: a connection belongs to shard `owner(local, remote)`
//! ([`Sharded::owner`]), a SipHash of its 4-tuple modulo the number of shards. A packet read
//! on a shard that does not own its flow is handed to the owner through a bounded queue
//! (counted; dropped and counted when full, as a full device queue drops), so it is never
//! answered with a RST by a stack that does not know the connection.
//!
//! Why the hand-over is needed: Linux's tun driver picks the queue of a packet it transmits
//! toward userspace (`tun_automq_select_queue` in `drivers/net/tun.c`) from a flow table that
//! `tun_flow_update` fills whenever userspace writes a packet of that flow on a queue, so a
//! flow's packets follow the queue its replies were last written from; entries expire after
//! `TUN_FLOW_EXPIRE` (3 s) idle, the table holds at most `MAX_TAP_FLOWS` (4096), and without
//! an entry the queue is `reciprocal_scale(__skb_get_hash_symmetric(skb), numqueues)`, a hash
//! seeded at random at boot. So a new connection's SYN, and any packet of a connection idle
//! for more than 3 s (or beyond 4096 flows), lands on a queue we cannot predict; once its owner
//! has written a packet of the flow, the kernel keeps the flow on the owner's queue.
//!
//! What is routed where: TCP by its 4-tuple (an ICMP error by the TCP header it quotes);
//! IP fragments (whose later pieces carry no ports) are put together by the router first,
//! and the whole datagram is routed like any packet; UDP and ICMP errors about UDP go to
//! shard 0, which holds the sharded runtime's UDP sockets and UDP interceptor (they are
//! created on the first shard's stack); anything else (ICMP echo, say) is answered by the
//! shard that read it.

use super::core::Shared;
use super::{Builder, Handle, RuntimeStats, run};
use crate::net::{Device, DriverOptions};
use crate::stack::StackError;
use crate::wire::Checksum;
use siphasher::sip::SipHasher13;
use std::collections::VecDeque;
use std::future::Future;
use std::hash::Hasher;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use synack_proto::frag::{FragConfig, FragCounters, Reassembler};
use tokio::sync::Notify;

/// Packets one shard's hand-over queue holds; beyond it a handed-over packet is dropped and
/// counted ([`ShardStats::handover_drops`]), and TCP retransmits it.
pub const HANDOVER_QUEUE: usize = 1024;

/// Most misdirected packets one device read passes on before it returns, so a flood of them
/// cannot keep a shard from its own work.
const HANDOVERS_PER_READ: usize = 256;

/// Counters of one shard of a [`Sharded`] runtime.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShardStats {
    /// The shard's runtime counters (wake-ups, packets and bytes through its device).
    pub runtime: RuntimeStats,
    /// Packets read on another shard's device that belonged to this shard and were handed
    /// over to it.
    pub handed_over: u64,
    /// Packets handed to this shard that its full queue dropped.
    pub handover_drops: u64,
}

/// One shard's queue of packets handed over by the others.
#[derive(Debug, Default)]
struct Inbox {
    packets: Mutex<VecDeque<(Vec<u8>, Checksum)>>,
    notify: Notify,
    handed_over: AtomicU64,
    drops: AtomicU64,
}

impl Inbox {
    fn lock(&self) -> MutexGuard<'_, VecDeque<(Vec<u8>, Checksum)>> {
        // Poisoned only by a panic mid-push; the queue itself is intact.
        self.packets.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The owner function, every shard's hand-over queue, and the reassembly of IP fragments,
/// shared by all shards.
#[derive(Debug)]
pub(crate) struct Router {
    key: [u8; 16],
    inboxes: Vec<Inbox>,
    /// Fragments carry no ports past the first, so their datagram's owner is known only once
    /// it is whole: the router puts datagrams together (from whichever queues their pieces
    /// arrive on) and routes the result, so no shard's stack sees a fragment.
    frag: Mutex<Reassembly>,
}

#[derive(Debug)]
struct Reassembly {
    reassembler: Reassembler,
    /// The reassembler's clock: microseconds since the router was made.
    start: std::time::Instant,
}

impl Router {
    fn new(key: [u8; 16], shards: usize, frag: FragConfig) -> Router {
        Router {
            key,
            inboxes: (0..shards.max(1)).map(|_| Inbox::default()).collect(),
            frag: Mutex::new(Reassembly {
                reassembler: Reassembler::new(frag),
                start: std::time::Instant::now(),
            }),
        }
    }

    /// Takes a fragment: the whole datagram once this completes it. Datagrams that waited
    /// too long are dropped (a sharded runtime sends no Time Exceeded for them).
    fn reassemble(&self, fragment: &[u8]) -> Option<Vec<u8>> {
        let mut r = self.frag.lock().unwrap_or_else(|e| e.into_inner());
        let micros = u64::try_from(r.start.elapsed().as_micros()).unwrap_or(u64::MAX);
        let now = crate::time::Instant::from_micros(micros);
        while r.reassembler.expire(now).is_some() {}
        r.reassembler
            .insert(now, fragment)
            .ok()
            .flatten()
            .map(|w| w.into_vec())
    }

    /// What reassembly counted (datagrams put together, fragments dropped and why).
    pub(crate) fn frag_counters(&self) -> FragCounters {
        let r = self.frag.lock().unwrap_or_else(|e| e.into_inner());
        *r.reassembler.counters()
    }

    /// The number of shards.
    pub(crate) fn shards(&self) -> usize {
        self.inboxes.len()
    }

    /// The shard that owns the TCP connection `local` ⇄ `remote` (local: the stack's side).
    pub(crate) fn owner(&self, local: SocketAddr, remote: SocketAddr) -> usize {
        let n = self.inboxes.len();
        if n <= 1 {
            return 0;
        }
        let mut h = SipHasher13::new_with_key(&self.key);
        write_addr(&mut h, local);
        write_addr(&mut h, remote);
        // Multiply-shift onto 0..n (the kernel's reciprocal_scale), no division.
        ((u128::from(h.finish()) * n as u128) >> 64) as usize
    }

    /// The shard a whole packet read from the device belongs to, if not whichever read it.
    fn route(&self, packet: &[u8]) -> Option<usize> {
        match classify(packet)? {
            Flow::Tcp { local, remote } => Some(self.owner(local, remote)),
            Flow::First | Flow::Fragment => Some(0),
        }
    }

    /// Queues `packet` for shard `to` and wakes it; drops and counts it if the queue is full.
    fn hand_over(&self, to: usize, packet: &[u8], checksum: Checksum) {
        let Some(inbox) = self.inboxes.get(to) else {
            return;
        };
        let mut q = inbox.lock();
        if q.len() >= HANDOVER_QUEUE {
            drop(q);
            inbox.drops.fetch_add(1, Ordering::Relaxed);
            return;
        }
        q.push_back((packet.to_vec(), checksum));
        drop(q);
        inbox.handed_over.fetch_add(1, Ordering::Relaxed);
        inbox.notify.notify_one();
    }
}

fn write_addr(h: &mut SipHasher13, a: SocketAddr) {
    match a.ip() {
        IpAddr::V4(ip) => h.write(&ip.octets()),
        IpAddr::V6(ip) => h.write(&ip.octets()),
    }
    h.write(&a.port().to_be_bytes());
}

/// Where a packet from the device goes.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    /// A TCP segment (or an ICMP error about one) of this connection.
    Tcp {
        local: SocketAddr,
        remote: SocketAddr,
    },
    /// UDP, or an ICMP error about UDP: the first shard's.
    First,
    /// A piece of a fragmented datagram: its owner is known once it is whole.
    Fragment,
}

/// What [`Router::route`] needs of a packet read from the device: `None` for packets any
/// shard may handle (ICMP echo, unknown protocols, anything malformed: the reading shard's
/// stack drops and counts those). Never panics on input.
fn classify(packet: &[u8]) -> Option<Flow> {
    match packet.first()? >> 4 {
        4 => classify_v4(packet, false),
        6 => classify_v6(packet, false),
        _ => None,
    }
}

/// Protocol numbers (IANA).
const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;
const ICMPV6: u8 = 58;
const FRAGMENT: u8 = 44;

/// An IPv4 packet. `quoted`: the header an ICMP error carries (a packet we sent: its source is
/// our side), whose payload may be cut to 8 bytes.
fn classify_v4(p: &[u8], quoted: bool) -> Option<Flow> {
    let ihl = usize::from(p.first()? & 0x0f) * 4;
    let flags_frag = u16::from_be_bytes([*p.get(6)?, *p.get(7)?]);
    let fragment = flags_frag & 0x3fff != 0; // MF or an offset
    let proto = *p.get(9)?;
    let src = Ipv4Addr::from(<[u8; 4]>::try_from(p.get(12..16)?).ok()?);
    let dst = Ipv4Addr::from(<[u8; 4]>::try_from(p.get(16..20)?).ok()?);
    if ihl < 20 {
        return None;
    }
    if fragment {
        return Some(if quoted { Flow::First } else { Flow::Fragment });
    }
    let l4 = p.get(ihl..)?;
    transport(proto, IpAddr::V4(src), IpAddr::V4(dst), l4, quoted)
}

/// An IPv6 packet (see [`classify_v4`]); walks the common extension headers.
fn classify_v6(p: &[u8], quoted: bool) -> Option<Flow> {
    let src = Ipv6Addr::from(<[u8; 16]>::try_from(p.get(8..24)?).ok()?);
    let dst = Ipv6Addr::from(<[u8; 16]>::try_from(p.get(24..40)?).ok()?);
    let mut next = *p.get(6)?;
    let mut at = 40usize;
    // Hop-by-hop, routing, destination options: skip (at most a few).
    for _ in 0..4 {
        match next {
            0 | 43 | 60 => {
                let len = (usize::from(*p.get(at + 1)?) + 1) * 8;
                next = *p.get(at)?;
                at = at.checked_add(len)?;
            }
            _ => break,
        }
    }
    if next == FRAGMENT {
        return Some(if quoted { Flow::First } else { Flow::Fragment });
    }
    transport(next, IpAddr::V6(src), IpAddr::V6(dst), p.get(at..)?, quoted)
}

/// The flow of a transport header `l4` between `src` and `dst`.
fn transport(proto: u8, src: IpAddr, dst: IpAddr, l4: &[u8], quoted: bool) -> Option<Flow> {
    match proto {
        TCP => {
            let sport = u16::from_be_bytes([*l4.first()?, *l4.get(1)?]);
            let dport = u16::from_be_bytes([*l4.get(2)?, *l4.get(3)?]);
            let (s, d) = (SocketAddr::new(src, sport), SocketAddr::new(dst, dport));
            // A packet from the device comes from the peer; a quoted one went to it.
            let (local, remote) = if quoted { (s, d) } else { (d, s) };
            Some(Flow::Tcp { local, remote })
        }
        UDP => Some(Flow::First),
        // An ICMP error quotes the packet that caused it: route by that packet's flow.
        ICMP if !quoted => match *l4.first()? {
            3 | 4 | 5 | 11 | 12 => classify_v4(l4.get(8..)?, true),
            _ => None,
        },
        ICMPV6 if !quoted => match *l4.first()? {
            1..=4 => classify_v6(l4.get(8..)?, true),
            _ => None,
        },
        _ => None,
    }
}

/// One shard's device: the queue it was given, plus the packets other shards handed over.
/// Misdirected packets read from the queue are handed to their owner, never to this stack.
#[derive(Debug)]
pub(crate) struct ShardDevice<D> {
    inner: D,
    index: usize,
    router: Arc<Router>,
}

impl<D: Device> ShardDevice<D> {
    fn inbox(&self) -> Option<&Inbox> {
        self.router.inboxes.get(self.index)
    }

    /// The next packet for this shard: handed over first, then from the queue.
    fn next(&self, buf: &mut [u8], offload: bool) -> io::Result<Option<(usize, Checksum)>> {
        if let Some(inbox) = self.inbox()
            && let Some((p, checksum)) = inbox.lock().pop_front()
        {
            return Ok(Some((crate::net::device::copy_packet(&p, buf), checksum)));
        }
        for _ in 0..HANDOVERS_PER_READ {
            let read = if offload {
                self.inner.try_recv_offload(buf)?
            } else {
                self.inner.try_recv(buf)?.map(|n| (n, Checksum::Verify))
            };
            let Some((n, checksum)) = read else {
                return Ok(None);
            };
            let packet = buf.get(..n).unwrap_or_default();
            if classify(packet) == Some(Flow::Fragment) {
                // Kept until its datagram is whole; then routed like any packet.
                let Some(whole) = self.router.reassemble(packet) else {
                    continue;
                };
                match self.router.route(&whole) {
                    Some(owner) if owner != self.index => {
                        self.router.hand_over(owner, &whole, Checksum::Verify);
                        continue;
                    }
                    _ => {
                        let n = crate::net::device::copy_packet(&whole, buf);
                        return Ok(Some((n, Checksum::Verify)));
                    }
                }
            }
            match self.router.route(packet) {
                Some(owner) if owner != self.index => {
                    self.router.hand_over(owner, packet, checksum);
                }
                _ => return Ok(Some((n, checksum))),
            }
        }
        // More to read: the device stays readable, so the runtime comes back at once.
        Ok(None)
    }
}

impl<D: Device + Sync> Device for ShardDevice<D> {
    async fn readable(&self) -> io::Result<()> {
        let Some(inbox) = self.inbox() else {
            return self.inner.readable().await;
        };
        let notified = inbox.notify.notified();
        if !inbox.lock().is_empty() {
            return Ok(());
        }
        tokio::select! {
            r = self.inner.readable() => r,
            () = notified => Ok(()),
        }
    }
    fn try_recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        Ok(self.next(buf, false)?.map(|(n, _)| n))
    }
    fn try_recv_offload(&self, buf: &mut [u8]) -> io::Result<Option<(usize, Checksum)>> {
        self.next(buf, true)
    }
    fn try_send(&self, packet: &[u8]) -> io::Result<bool> {
        self.inner.try_send(packet)
    }
    fn try_send_segmented(&self, packet: &[u8], segment_size: usize) -> io::Result<bool> {
        self.inner.try_send_segmented(packet, segment_size)
    }
    fn mtu(&self) -> usize {
        self.inner.mtu()
    }
    fn max_packet(&self) -> usize {
        self.inner.max_packet()
    }
}

/// What a [`Handle`] of a sharded runtime knows of the others.
pub(crate) struct ShardGroup {
    pub(crate) router: Arc<Router>,
    shareds: Vec<Arc<Shared>>,
    /// Spreads connections opened from the runtime's own handle over the shards, and where
    /// each one's port search starts.
    next: AtomicUsize,
}

impl std::fmt::Debug for ShardGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardGroup")
            .field("shards", &self.shareds.len())
            .finish_non_exhaustive()
    }
}

/// Which shard(s) a [`Handle`] stands for.
#[derive(Clone, Debug)]
pub(crate) struct ShardRef {
    pub(crate) group: Arc<ShardGroup>,
    /// `Some(i)`: shard `i` alone ([`Sharded::shard`]); `None`: all of them ([`Sharded`]'s
    /// own handle).
    pub(crate) index: Option<usize>,
}

impl ShardGroup {
    /// The handle of shard `i`.
    pub(crate) fn handle(self: &Arc<Self>, i: usize) -> Option<Handle> {
        let shared = self.shareds.get(i)?.clone();
        Some(Handle {
            shared,
            shard: Some(ShardRef {
                group: self.clone(),
                index: Some(i),
            }),
        })
    }
}

impl Handle {
    /// The handles of the shards this handle stands for: every shard for a [`Sharded`]
    /// runtime's own handle, just itself otherwise (one shard, or an unsharded runtime).
    /// Listeners made from a handle listen on each of these.
    pub fn shard_handles(&self) -> Vec<Handle> {
        match &self.shard {
            Some(ShardRef { group, index: None }) => (0..group.shareds.len())
                .filter_map(|i| group.handle(i))
                .collect(),
            _ => vec![self.clone()],
        }
    }

    /// Where this handle's UDP sockets live: the first shard on a sharded runtime (all UDP
    /// is routed there), else the handle itself.
    pub(crate) fn udp_home(&self) -> Handle {
        match &self.shard {
            Some(ShardRef { group, .. }) => group.handle(0).unwrap_or_else(|| self.clone()),
            None => self.clone(),
        }
    }

    /// Opens a connection to `remote` on the shard that owns it: from `local` if its port is
    /// given, else from a port chosen so that the connection's 4-tuple is owned by this
    /// handle's shard (any shard, in turn, for a [`Sharded`] runtime's own handle). Returns
    /// that shard's handle and the connection. On an unsharded runtime, plain
    /// `Stack::connect_with`.
    pub(crate) fn open_connection(
        &self,
        local: Option<SocketAddr>,
        remote: SocketAddr,
        tcp: Option<crate::tcp::Config>,
    ) -> io::Result<(Handle, crate::stack::ConnId)> {
        let Some(ShardRef { group, index }) = &self.shard else {
            let id = self.with_stack(|s, now| s.connect_with(now, local, remote, tcp))??;
            return Ok((self.clone(), id));
        };
        let router = &group.router;
        let n = router.shards();
        let turn = group.next.fetch_add(1, Ordering::Relaxed);
        let target = index.unwrap_or(turn % n);
        let ip = match local {
            Some(l) if !l.ip().is_unspecified() => l.ip(),
            _ => self
                .addresses()
                .into_iter()
                .find(|a| a.is_ipv4() == remote.is_ipv4())
                .ok_or_else(|| io::Error::from(StackError::NoLocalAddress))?,
        };
        if let Some(l) = local.filter(|l| l.port() != 0) {
            let l = SocketAddr::new(ip, l.port());
            let owner = group
                .handle(router.owner(l, remote))
                .ok_or_else(|| io::Error::from(StackError::InvalidHandle))?;
            let id = owner.with_stack(|s, now| s.connect_with(now, Some(l), remote, tcp))??;
            return Ok((owner, id));
        }
        let owner = group
            .handle(target)
            .ok_or_else(|| io::Error::from(StackError::InvalidHandle))?;
        let (lo, hi) = owner.with_stack(|s, _| s.config().ephemeral_ports)?;
        let span = usize::from(hi.saturating_sub(lo)) + 1;
        // Start somewhere different each time (keyed, so not guessable from outside).
        let start = {
            let mut h = SipHasher13::new_with_key(&router.key);
            h.write(&turn.to_le_bytes());
            write_addr(&mut h, remote);
            (h.finish() % span as u64) as usize
        };
        for k in 0..span {
            let port = lo.saturating_add(((start + k) % span) as u16);
            let l = SocketAddr::new(ip, port);
            if router.owner(l, remote) != target {
                continue;
            }
            // As the stack's own pick does: never a port a listener there takes SYNs on.
            let opened = owner.with_stack(|s, now| {
                if s.is_listening(l) {
                    return Err(StackError::AddrInUse);
                }
                s.connect_with(now, Some(l), remote, tcp)
            })?;
            match opened {
                Ok(id) => return Ok((owner, id)),
                Err(StackError::AddrInUse) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(StackError::PortsExhausted.into())
    }
}

/// One shard: its handle, the Tokio runtime its thread runs, and the thread.
#[derive(Debug)]
struct Shard {
    handle: Handle,
    tokio: tokio::runtime::Handle,
    thread: Option<JoinHandle<()>>,
}

/// N stacks on N threads, one per device queue, connections never crossing between them
/// ([`Builder::build_sharded`]).
///
/// A TCP connection belongs to the shard its 4-tuple hashes to ([`owner`](Self::owner)). A
/// packet read on another shard's queue (Linux's tun keeps a flow on the queue its replies
/// were last written from only for 3 s of silence and up to 4,096 flows, then picks a queue by
/// a hash of its own) is handed to the owner through a bounded queue ([`HANDOVER_QUEUE`]
/// packets; counted in [`stats`](Self::stats)), never answered with a RST; an ICMP error goes
/// to the owner of the connection it quotes. IP fragments are put together by the router,
/// whichever queues they arrive on, and the whole datagram is routed like any packet (no
/// Time Exceeded is sent for one that never completes). UDP and ICMP errors about UDP go to
/// the first shard; other packets (ICMP echo) are answered where they arrive.
///
/// It dereferences to a [`Handle`] that stands for every shard: a
/// [`TcpListener`](crate::tokio_net::TcpListener) bound or intercepting on it listens on every
/// shard and accepts from all, and [`TcpStream::connect`](crate::tokio_net::TcpStream::connect)
/// opens each connection on a shard in turn, from a port that shard owns. Each shard's own
/// handle ([`shard`](Self::shard)) does the same on that shard alone; an application that
/// runs its tasks on the shards' threads ([`spawn_on`](Self::spawn_on)) with one listener
/// per shard keeps every connection's work on one core. UDP sockets and the UDP interceptor
/// live on the first shard whichever of these handles makes them (all UDP is routed there);
/// [`Handle::with_stack`] on this handle runs on the first shard, and the blocking API's
/// listener needs one shard's handle.
///
/// Dropping it stops every shard and joins its thread; sockets still open then fail with
/// `NotConnected`.
#[derive(Debug)]
pub struct Sharded {
    handle: Handle,
    shards: Vec<Shard>,
}

impl Sharded {
    /// The number of shards.
    pub fn len(&self) -> usize {
        self.shards.len()
    }

    /// Whether there are no shards (never: [`Builder::build_sharded`] needs one device).
    pub fn is_empty(&self) -> bool {
        self.shards.is_empty()
    }

    /// The handle of every shard together (what `&sharded` dereferences to).
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Shard `i`'s own handle (`None` past the last): sockets made from it live on that
    /// shard alone.
    pub fn shard(&self, i: usize) -> Option<&Handle> {
        self.shards.get(i).map(|s| &s.handle)
    }

    /// Runs `future` as a task on shard `i`'s thread, beside its stack (`None` past the
    /// last shard): waking it from the stack is then a push onto that thread's run queue.
    pub fn spawn_on<F>(&self, i: usize, future: F) -> Option<tokio::task::JoinHandle<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.shards.get(i).map(|s| s.tokio.spawn(future))
    }

    /// The shard that owns the TCP connection between the stack's `local` and `remote`
    /// addresses: a keyed SipHash of the 4-tuple, mapped onto the shards.
    pub fn owner(&self, local: SocketAddr, remote: SocketAddr) -> usize {
        match &self.handle.shard {
            Some(s) => s.group.router.owner(local, remote),
            None => 0,
        }
    }

    /// Each shard's counters, in shard order.
    pub fn stats(&self) -> Vec<ShardStats> {
        self.shards
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let inbox = self
                    .handle
                    .shard
                    .as_ref()
                    .and_then(|r| r.group.router.inboxes.get(i));
                ShardStats {
                    runtime: s.handle.stats(),
                    handed_over: inbox.map_or(0, |b| b.handed_over.load(Ordering::Relaxed)),
                    handover_drops: inbox.map_or(0, |b| b.drops.load(Ordering::Relaxed)),
                }
            })
            .collect()
    }

    /// What the reassembly of IP fragments counted: on a sharded runtime the router puts
    /// datagrams together before any shard's stack sees them (their owner is known only once
    /// they are whole), so the stacks' own fragment counters stay at zero.
    pub fn frag_counters(&self) -> FragCounters {
        match &self.handle.shard {
            Some(s) => s.group.router.frag_counters(),
            None => FragCounters::default(),
        }
    }
}

impl std::ops::Deref for Sharded {
    type Target = Handle;
    fn deref(&self) -> &Handle {
        &self.handle
    }
}

impl Drop for Sharded {
    fn drop(&mut self) {
        for s in &self.shards {
            let shared = &s.handle.shared;
            let mut core = shared.lock();
            core.stop("the Sharded runtime was dropped".into());
            shared.release(core);
        }
        // Every shard's thread but the one this runs on, if it is one of them (a task given
        // to `spawn_on` may own the `Sharded`): a thread cannot wait for itself, and it ends
        // by itself once this returns and its loop sees the stop.
        let me = std::thread::current().id();
        for s in &mut self.shards {
            if let Some(t) = s.thread.take()
                && t.thread().id() != me
            {
                let _ = t.join();
            }
        }
    }
}

impl Builder {
    /// Starts one stack per device, each on a thread of its own: a sharded runtime for a
    /// multi-queue device, one queue per shard (see [`Sharded`]).
    ///
    /// `opens` yields one closure per shard; closure `i` runs on shard `i`'s thread inside its
    /// Tokio runtime and returns its device, as devices registered with a reactor must be
    /// opened (for a TUN device: `move || queue.register().map_err(io::Error::other)` for each
    /// queue of [`TunDevice::open_queues`](crate::net::TunDevice::open_queues)). Every shard
    /// gets this builder's configuration, addresses and host table; each its own secret
    /// (the one [`secret`](Self::secret) set, else random), clock, and impairment seed
    /// (`seed + i`). A capture ([`pcap`](Self::pcap)) is one file of one device and is
    /// refused here (`InvalidInput`), as is an empty `opens`. If any device fails to open,
    /// the shards already started are stopped and its error is returned.
    pub fn build_sharded<D, F, I>(self, opens: I) -> io::Result<Sharded>
    where
        D: Device + Send + Sync + 'static,
        F: FnOnce() -> io::Result<D> + Send + 'static,
        I: IntoIterator<Item = F>,
    {
        let opens: Vec<F> = opens.into_iter().collect();
        if opens.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "build_sharded needs at least one device (one per shard)",
            ));
        }
        if self.options.pcap.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a pcap capture records one device; capture each queue's stack apart, \
                 or build an unsharded Runtime to capture",
            ));
        }
        if self.options.qlog.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a qlog stream records one stack; build an unsharded Runtime to record",
            ));
        }
        let key = match &self.secret {
            // Reproducible with a fixed secret: the owner key is derived from it.
            Some(s) => {
                let f = s.fingerprint();
                let mut k = [0u8; 16];
                k[..8].copy_from_slice(&f.to_le_bytes());
                k[8..].copy_from_slice(&(!f).rotate_left(17).to_le_bytes());
                k
            }
            None => {
                let mut k = [0u8; 16];
                getrandom::fill(&mut k).map_err(|e| {
                    io::Error::other(format!("no random bytes from the operating system: {e}"))
                })?;
                k
            }
        };
        let router = Arc::new(Router::new(key, opens.len(), self.cfg.frag.clone()));
        let mut started: Vec<(Arc<Shared>, tokio::runtime::Handle, JoinHandle<()>)> = Vec::new();
        let mut failure = None;
        for (i, open) in opens.into_iter().enumerate() {
            let builder = self.for_shard(i);
            match start_shard(i, builder, open, router.clone()) {
                Ok(s) => started.push(s),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = failure {
            for (shared, _, thread) in started {
                let mut core = shared.lock();
                core.stop("another shard failed to start".into());
                shared.release(core);
                let _ = thread.join();
            }
            return Err(e);
        }
        let group = Arc::new(ShardGroup {
            router,
            shareds: started.iter().map(|(s, _, _)| s.clone()).collect(),
            next: AtomicUsize::new(0),
        });
        let shards = started
            .into_iter()
            .enumerate()
            .map(|(i, (shared, tokio, thread))| Shard {
                handle: group.handle(i).unwrap_or(Handle {
                    shared,
                    shard: None,
                }),
                tokio,
                thread: Some(thread),
            })
            .collect();
        let first = group.shareds.first().cloned().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "build_sharded needs a device")
        })?;
        Ok(Sharded {
            handle: Handle {
                shared: first,
                shard: Some(ShardRef { group, index: None }),
            },
            shards,
        })
    }

    /// This builder's settings for shard `i` (no capture or qlog: refused before).
    fn for_shard(&self, i: usize) -> Builder {
        let mut impair = self.options.impair.clone();
        if let Some(c) = &mut impair {
            c.seed = c.seed.wrapping_add(i as u64);
        }
        Builder {
            cfg: self.cfg.clone(),
            addrs: self.addrs.clone(),
            options: DriverOptions {
                impair,
                pcap: None,
                clock: self.options.clock,
                qlog: None,
            },
            secret: self.secret.clone(),
            hosts: self.hosts.clone(),
        }
    }
}

/// Starts shard `i`'s thread: its runtime, its device (`open`, run there), its stack.
fn start_shard<D, F>(
    i: usize,
    builder: Builder,
    open: F,
    router: Arc<Router>,
) -> io::Result<(Arc<Shared>, tokio::runtime::Handle, JoinHandle<()>)>
where
    D: Device + Send + Sync + 'static,
    F: FnOnce() -> io::Result<D> + Send + 'static,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let tokio = rt.handle().clone();
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let thread = std::thread::Builder::new()
        .name(format!("synack-shard-{i}"))
        .spawn(move || {
            let opened = {
                let _context = rt.enter();
                open()
            };
            let device = match opened {
                Ok(inner) => Arc::new(ShardDevice {
                    inner,
                    index: i,
                    router,
                }),
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            let shared = {
                let _context = rt.enter();
                builder.shared(device.clone())
            };
            match shared {
                Ok(s) => {
                    if tx.send(Ok(s.clone())).is_ok() {
                        // The application's tasks spawned here (`Sharded::spawn_on`) run while
                        // the stack's loop does; they are dropped with the runtime once it ends.
                        rt.block_on(run(s, device));
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        })?;
    match rx.recv() {
        Ok(Ok(shared)) => Ok((shared, tokio, thread)),
        Ok(Err(e)) => {
            let _ = thread.join();
            Err(e)
        }
        Err(_) => {
            let _ = thread.join();
            Err(io::Error::other(format!(
                "the thread of synack shard {i} failed to start"
            )))
        }
    }
}

#[cfg(test)]
mod tests;
