//! The `stack_packets` harness: one [`Stack`] driven by a sequence of [`Op`]s, with the
//! invariants checked after every step.

use crate::ops::{Anchor, Op, Seg, Setup, Target, next_op};
use arbitrary::{Arbitrary, Unstructured};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use synack::stack::{ConnId, ListenerId, Secret, Stack, StackConfig};
use synack::tcp::{self, SeqNum};
use synack::time::{Duration, Instant};
use synack::wire::{self, Checksum, IpRepr};

/// The stack's IPv4 address.
pub const LOCAL_V4: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2));
/// The stack's IPv6 address.
pub const LOCAL_V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2));
/// Remote addresses a crafted segment can come from (index modulo the length).
pub const REMOTES_V4: [IpAddr; 2] = [
    IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)),
    IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9)),
];
/// IPv6 remotes.
pub const REMOTES_V6: [IpAddr; 2] = [
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 9)),
];
/// Ports `Op::Listen` picks from.
pub const PORTS: [u16; 4] = [80, 443, 8080, 49152];
/// The ISN secret (fixed, so a recorded exchange replays exactly).
pub const ISN_KEY: [u8; 16] = [2; 16];
/// Most operations one input runs.
pub const MAX_OPS: usize = 2000;
/// Most connection handles kept.
const MAX_HANDLES: usize = 64;

impl Setup {
    /// The stack configuration this setup stands for.
    pub fn stack_config(&self) -> StackConfig {
        let mut tcp = tcp::Config {
            msl: Duration::from_millis(500),
            timestamps: !self.no_timestamps,
            window_scaling: !self.no_window_scaling,
            nodelay: self.nodelay,
            ..tcp::Config::default()
        };
        if self.small {
            tcp.mtu = 576;
            tcp.send_buffer = 4096;
            tcp.recv_buffer = 4096;
            tcp.max_ooo_ranges = 4;
        }
        StackConfig {
            tcp,
            syn_backlog: 4,
            max_connections: 16,
            max_pending_rsts: 8,
            syn_cookies: !self.no_syn_cookies,
            ..StackConfig::default()
        }
    }
}

/// The stack under test and what the harness remembers between steps.
pub struct Harness {
    /// The stack.
    pub stack: Stack,
    /// Virtual time.
    pub now: Instant,
    /// Connection handles, in the order they were handed out (stale ones kept).
    pub conns: Vec<ConnId>,
    /// Listener handles (stale ones kept).
    pub listeners: Vec<ListenerId>,
    /// What each live listener listens on (the stack does not say).
    listen_addrs: HashMap<ListenerId, SocketAddr>,
    /// The advertised right edge last seen per synchronized connection.
    rcv_adv: HashMap<ConnId, SeqNum>,
    /// Bytes the application has read / had accepted by `send`, per connection.
    read: HashMap<ConnId, u64>,
    written: HashMap<ConnId, u64>,
    /// Per remote, the last packet the stack sent there, as an anchor for replies.
    last_sent: HashMap<SocketAddr, Anchor>,
    /// Handles given back with `close`: the stack discards what arrives on them.
    released: std::collections::HashSet<ConnId>,
    memory_bound: usize,
    buf: Vec<u8>,
    /// Every packet the stack emitted, when recording.
    pub emitted: Option<Vec<Vec<u8>>>,
}

impl Harness {
    /// A fresh stack for `setup`.
    pub fn new(setup: &Setup) -> Self {
        let cfg = setup.stack_config();
        // Per connection: the struct, both buffers, out-of-order ranges, one segment of
        // scratch; plus the tables, heap and queues. Generous, but catches unbounded growth.
        let per_conn = std::mem::size_of::<tcp::Connection>()
            + cfg.tcp.send_buffer
            + cfg.tcp.recv_buffer
            + 64 * 1024;
        let memory_bound = cfg.max_connections * per_conn + (1 << 20);
        Harness {
            stack: Stack::new(cfg, Secret::from_bytes(ISN_KEY), &[LOCAL_V4, LOCAL_V6]),
            now: Instant::ZERO,
            conns: Vec::new(),
            listeners: Vec::new(),
            listen_addrs: HashMap::new(),
            rcv_adv: HashMap::new(),
            read: HashMap::new(),
            written: HashMap::new(),
            released: Default::default(),
            last_sent: HashMap::new(),
            memory_bound,
            buf: vec![0; 65536],
            emitted: None,
        }
    }

    fn conn(&self, i: u8) -> Option<ConnId> {
        self.conns
            .get(usize::from(i) % self.conns.len().max(1))
            .copied()
    }

    fn listener(&self, i: u8) -> Option<ListenerId> {
        self.listeners
            .get(usize::from(i) % self.listeners.len().max(1))
            .copied()
    }

    fn push_conn(&mut self, id: ConnId) {
        if self.conns.len() >= MAX_HANDLES {
            self.conns.remove(0);
        }
        self.conns.push(id);
    }

    /// Runs one operation (`raw` is the payload of [`Op::Raw`]) and checks the invariants.
    pub fn step(&mut self, op: &Op, raw: &[u8]) {
        let now = self.now;
        match *op {
            Op::Raw { .. } => self.stack.handle_packet(now, raw),
            Op::Segment(ref seg) => self.segment(seg),
            Op::Listen {
                port,
                v6,
                any,
                backlog,
            } => {
                let ip = match (v6, any) {
                    (false, false) => LOCAL_V4,
                    (true, false) => LOCAL_V6,
                    (false, true) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    (true, true) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                };
                let port = PORTS[usize::from(port) % PORTS.len()];
                if let Ok(id) = self
                    .stack
                    .listen(SocketAddr::new(ip, port), usize::from(backlog % 8))
                {
                    self.listeners.push(id);
                    self.listen_addrs.insert(id, SocketAddr::new(ip, port));
                }
            }
            Op::Unlisten { listener } => {
                if let Some(l) = self.listener(listener) {
                    self.stack.unlisten(l);
                    self.listen_addrs.remove(&l);
                }
            }
            Op::Connect { remote, port, v6 } => {
                let ip = remote_ip(remote, v6);
                if let Ok(id) = self.stack.connect(now, SocketAddr::new(ip, port)) {
                    self.push_conn(id);
                }
            }
            Op::Accept { listener } => {
                if let Some(l) = self.listener(listener)
                    && let Some(id) = self.stack.accept(l)
                {
                    self.push_conn(id);
                }
            }
            Op::Send { conn, len } => {
                if let Some(id) = self.conn(conn) {
                    let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
                    if let Ok(n) = self.stack.send(now, id, &data) {
                        assert!(n <= data.len());
                        *self.written.entry(id).or_default() += n as u64;
                    }
                }
            }
            Op::Recv { conn, len } => {
                if let Some(id) = self.conn(conn) {
                    let mut b = vec![0u8; usize::from(len)];
                    if let Ok(n) = self.stack.recv(now, id, &mut b) {
                        assert!(n <= b.len());
                        *self.read.entry(id).or_default() += n as u64;
                    }
                }
            }
            Op::Shutdown { conn } => {
                if let Some(id) = self.conn(conn) {
                    let _ = self.stack.shutdown(now, id);
                }
            }
            Op::Close { conn } => {
                if let Some(id) = self.conn(conn)
                    && self.stack.close(now, id).is_ok()
                {
                    self.released.insert(id);
                }
            }
            Op::Abort { conn } => {
                if let Some(id) = self.conn(conn) {
                    self.stack.abort(id);
                }
            }
            Op::Advance { micros, timers } => {
                self.now += Duration::from_micros(u64::from(micros));
                if timers {
                    self.run_timers();
                }
            }
            Op::RunTimers => self.run_timers(),
            Op::NextTimer => {
                if let Some(t) = self.stack.poll_timeout() {
                    self.now = self.now.max(t);
                }
                self.run_timers();
            }
        }
        self.drain();
        self.check();
    }

    /// Runs due timers, as a driver would, and checks none is left due: a deadline at or
    /// before `now` after the timers ran would make a driver spin.
    fn run_timers(&mut self) {
        self.stack.handle_timeout(self.now);
        self.drain();
        if let Some(t) = self.stack.poll_timeout() {
            assert!(
                t > self.now,
                "deadline {t:?} still due after handle_timeout({:?})",
                self.now
            );
        }
    }

    /// Sends a crafted segment.
    fn segment(&mut self, seg: &Seg) {
        let (local, remote, anchor) = match seg.target {
            Target::Conn(i) => {
                let Some(c) = self.conn(i).and_then(|id| self.stack.connection(id)) else {
                    return;
                };
                (c.local(), c.remote(), Anchor::of(c.tcb()))
            }
            Target::Listener { listener, remote } => {
                let Some(l) = self.listener(listener) else {
                    return;
                };
                let Some(&addr) = self.listen_addrs.get(&l) else {
                    return;
                };
                let v6 = addr.is_ipv6();
                let local = SocketAddr::new(if v6 { LOCAL_V6 } else { LOCAL_V4 }, addr.port());
                let peer = SocketAddr::new(remote_ip(remote, v6), 40000 + u16::from(remote % 8));
                (local, peer, self.reply_anchor(peer))
            }
            Target::Port { port, remote, v6 } => {
                let local = SocketAddr::new(if v6 { LOCAL_V6 } else { LOCAL_V4 }, port);
                let peer = SocketAddr::new(remote_ip(remote, v6), 40000 + u16::from(remote % 8));
                (local, peer, self.reply_anchor(peer))
            }
        };
        let payload = seg.payload();
        let repr = seg.repr(&anchor, (remote.port(), local.port()), &payload);
        let Ok(ip) = IpRepr::new(remote.ip(), local.ip(), 6, repr.buffer_len(), 64) else {
            return;
        };
        let mut pkt = vec![0u8; wire::ip_tcp_len(&ip, &repr)];
        let Ok(n) = wire::emit_ip_tcp(&ip, &repr, &mut pkt) else {
            return;
        };
        if seg.bad_checksum
            && let Some(b) = pkt.get_mut(n - 1)
        {
            *b ^= 0x5a;
        }
        self.stack.handle_packet(self.now, &pkt[..n]);
    }

    /// The anchor for a segment from `peer` that is not aimed at a known connection: taken
    /// from the last packet the stack sent to `peer` (a SYN-cookie SYN,ACK, a RST, a
    /// challenge ACK…), so the fuzzer can answer it.
    fn reply_anchor(&self, peer: SocketAddr) -> Anchor {
        self.last_sent.get(&peer).copied().unwrap_or_default()
    }

    /// Drains every packet the stack wants to send and checks each one.
    fn drain(&mut self) {
        let mut count = 0usize;
        while let Some(n) = self.stack.poll_transmit(self.now, &mut self.buf) {
            count += 1;
            assert!(count < 100_000, "poll_transmit never returns None");
            let pkt = self
                .buf
                .get(..n)
                .expect("poll_transmit length within the buffer");
            let (ip, tcp) = wire::parse_ip_tcp(pkt, Checksum::Verify)
                .unwrap_or_else(|e| panic!("the stack emitted an unparsable packet: {e:?}"));
            // What a peer answering this packet would put in its header.
            let peer = SocketAddr::new(ip.dst_addr(), tcp.dst_port);
            let next = tcp.seq + tcp.seg_len();
            self.last_sent.insert(
                peer,
                Anchor {
                    rcv_nxt: tcp.ack,
                    snd_una: tcp.seq,
                    snd_nxt: next,
                    snd_max: next,
                    ts_recent: tcp.options.timestamps.map_or(0, |t| t.tsval),
                },
            );
            assert!(
                self.stack.addresses().contains(&ip.src_addr()),
                "emitted from a foreign address {ip:?}"
            );
            if let Some(log) = &mut self.emitted {
                log.push(pkt.to_vec());
            }
        }
    }

    /// The invariants that hold after every step.
    pub fn check(&mut self) {
        let cfg = self.stack.config().tcp;
        let mut seen = HashMap::new();
        for id in self.stack.connections().collect::<Vec<_>>() {
            let Some(c) = self.stack.connection(id) else {
                panic!("connections() listed a handle connection() refuses");
            };
            let t = c.tcb();
            assert!(
                t.snd_una.before_eq(t.snd_nxt) && t.snd_nxt.before_eq(t.snd_max),
                "{id:?} in {}: SND.UNA {:?} <= SND.NXT {:?} <= SND.MAX {:?} broken",
                c.state(),
                t.snd_una,
                t.snd_nxt,
                t.snd_max
            );
            assert!(
                c.send_queue() <= cfg.send_buffer,
                "send queue {} over {}",
                c.send_queue(),
                cfg.send_buffer
            );
            assert!(
                c.recv_queue() <= cfg.recv_buffer,
                "recv queue {} over {}",
                c.recv_queue(),
                cfg.recv_buffer
            );
            self.check_accounting(id, c);
            // Every step ends with the output drained: the liveness invariant holds.
            if let Err(stall) = c.check_liveness() {
                panic!(
                    "{id:?}: liveness invariant broken at {:?}: {stall}",
                    self.now
                );
            }
            // The edge is fixed once the handshake is complete (our SYN acknowledged); before
            // that a SYN,ACK acknowledging our ISS may replace a forged IRS and its window.
            if c.state().is_synchronized() && t.snd_una != t.iss {
                if let Some(&prev) = self.rcv_adv.get(&id) {
                    assert!(
                        prev.before_eq(t.rcv_adv),
                        "{id:?} in {}: advertised right edge moved left: {prev:?} -> {:?}",
                        c.state(),
                        t.rcv_adv
                    );
                }
                seen.insert(id, t.rcv_adv);
            }
        }
        self.rcv_adv = seen;
        let mem = self.stack.memory_usage();
        assert!(
            mem <= self.memory_bound,
            "memory {mem} over bound {}",
            self.memory_bound
        );
        assert!(self.stack.connection_count() <= self.stack.config().max_connections);
    }
}

impl Harness {
    /// Nothing lost inside the stack: every byte acknowledged to the peer (RCV.NXT) was
    /// read or is waiting to be read, and every byte `send` took was acknowledged by the
    /// peer (SND.UNA) or is still queued.
    fn check_accounting(&self, id: ConnId, c: &tcp::Connection) {
        use synack::tcp::State::*;
        let t = c.tcb();
        let state = c.state();
        // RCV.NXT counts the SYN, and the FIN once the state says it arrived.
        let fin_in = match state {
            Established | FinWait1 | FinWait2 => Some(0),
            CloseWait | Closing | LastAck | TimeWait => Some(1),
            _ => None,
        };
        if let Some(fin) = fin_in
            && !self.released.contains(&id)
        {
            let acked = t.rcv_nxt.since(t.irs) as u64;
            let read = self.read.get(&id).copied().unwrap_or(0);
            assert_eq!(
                read + c.recv_queue() as u64 + 1 + fin,
                acked,
                "{id:?} in {state}: read {read} + queued {} != RCV.NXT - IRS - SYN - FIN",
                c.recv_queue()
            );
        }
        // SND.UNA counts our SYN once acknowledged (a CLOSE in SYN-RECEIVED reaches
        // FIN-WAIT-1 before that), and our FIN once acknowledged (not in these states).
        if matches!(
            state,
            Established | CloseWait | FinWait1 | Closing | LastAck
        ) {
            let written = self.written.get(&id).copied().unwrap_or(0);
            let acked = (t.snd_una.since(t.iss) as u64).saturating_sub(1);
            assert_eq!(
                written,
                acked + c.send_queue() as u64,
                "{id:?} in {state}: sent {written} != acknowledged {acked} + queued {}",
                c.send_queue()
            );
        }
    }
}

fn remote_ip(i: u8, v6: bool) -> IpAddr {
    let list = if v6 { &REMOTES_V6 } else { &REMOTES_V4 };
    list[usize::from(i) % list.len()]
}

/// The `stack_packets` entry point.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(setup) = Setup::arbitrary(&mut u) else {
        return;
    };
    let mut h = Harness::new(&setup);
    for _ in 0..MAX_OPS {
        let Some((op, raw)) = next_op(&mut u) else {
            break;
        };
        h.step(&op, raw);
    }
}
