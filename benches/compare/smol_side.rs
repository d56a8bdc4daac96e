//! smoltcp 0.14 on the harness: an `Interface` over the same links, checksums on (its
//! default), sockets driven through its public API the way its own examples do.

use crate::harness::{Clock, Flow, Host, Link, Pkt, Rig, pool_get, pool_put, pool_reset};
use crate::{IP_A, IP_B, Lifecycles, Setup, WALL_LIMIT};
use smoltcp::iface::{Config, Interface, PollResult, SocketHandle, SocketSet, SocketStorage};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp::{self, CongestionControl, State};
use smoltcp::time::Instant as SmolInstant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};
use std::collections::VecDeque;
use std::net::IpAddr;
use synack::time::Instant;

fn smol(t: Instant) -> SmolInstant {
    SmolInstant::from_micros(t.total_micros() as i64)
}

fn ours(t: SmolInstant) -> Instant {
    Instant::from_micros(u64::try_from(t.total_micros()).unwrap_or(0))
}

/// The device: packets that arrived, packets smoltcp sent; buffers come from the pool.
struct Dev {
    rx: VecDeque<Pkt>,
    tx: VecDeque<Pkt>,
    mtu: usize,
}

struct Rx(Pkt);

struct Tx<'a>(&'a mut VecDeque<Pkt>);

impl phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let r = f(self.0.bytes());
        pool_put(self.0.buf);
        r
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = pool_get();
        if buf.len() < len {
            buf.resize(len, 0);
        }
        let r = f(&mut buf[..len]);
        self.0.push_back(Pkt { buf, len });
        r
    }
}

impl Device for Dev {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;

    fn receive(&mut self, _: SmolInstant) -> Option<(Rx, Tx<'_>)> {
        let p = self.rx.pop_front()?;
        Some((Rx(p), Tx(&mut self.tx)))
    }

    fn transmit(&mut self, _: SmolInstant) -> Option<Tx<'_>> {
        Some(Tx(&mut self.tx))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = self.mtu;
        caps
    }
}

/// A smoltcp host: interface, device and socket set.
pub struct SmolHost {
    iface: Interface,
    dev: Dev,
    pub sockets: SocketSet<'static>,
}

impl SmolHost {
    fn new(ip: IpAddr, mtu: usize, seed: u64) -> Self {
        let mut dev = Dev {
            rx: VecDeque::new(),
            tx: VecDeque::new(),
            mtu,
        };
        let mut config = Config::new(HardwareAddress::Ip);
        config.random_seed = seed;
        let mut iface = Interface::new(config, &mut dev, SmolInstant::ZERO);
        iface.update_ip_addrs(|ips| {
            ips.push(IpCidr::new(IpAddress::from(ip), 24))
                .expect("address");
        });
        SmolHost {
            iface,
            dev,
            sockets: SocketSet::new(Vec::new()),
        }
    }

    /// A socket with `buffer` bytes each way.
    ///
    /// Delayed ACKs off: with them (smoltcp's default, 10 ms) a 64 KiB window at MTU 65535
    /// holds one segment and every segment waits out the ACK delay (3 MB/s instead of GB/s).
    pub fn socket(buffer: usize) -> tcp::Socket<'static> {
        let mut s = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; buffer]),
            tcp::SocketBuffer::new(vec![0; buffer]),
        );
        s.set_ack_delay(None);
        s
    }

    /// The TCP socket behind `h`.
    pub fn tcp(&mut self, h: SocketHandle) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(h)
    }

    fn connect(&mut self, h: SocketHandle, remote: (IpAddr, u16), local_port: u16) {
        let cx = self.iface.context();
        let remote = (IpAddress::from(remote.0), remote.1);
        let s = self.sockets.get_mut::<tcp::Socket>(h);
        s.connect(cx, remote, local_port).expect("connect");
    }
}

impl Host for SmolHost {
    fn step(&mut self, now: Instant, rx: &mut Link, tx: &mut Link) -> bool {
        let mut any = false;
        while let Some(p) = rx.recv(now) {
            self.dev.rx.push_back(p);
            any = true;
        }
        let r = self.iface.poll(smol(now), &mut self.dev, &mut self.sockets);
        any |= r == PollResult::SocketStateChanged;
        while let Some(p) = self.dev.tx.pop_front() {
            tx.send(now, p);
            any = true;
        }
        any
    }

    fn deadline(&mut self, now: Instant) -> Option<Instant> {
        self.iface.poll_at(smol(now), &self.sockets).map(ours)
    }
}

fn rig(s: &Setup, links: (Link, Link), clock: Clock) -> Rig<SmolHost> {
    pool_reset(s.mtu);
    Rig {
        a: SmolHost::new(IP_A, s.mtu, 1),
        b: SmolHost::new(IP_B, s.mtu, 2),
        ab: links.0,
        ba: links.1,
        clock,
    }
}

/// Adds a connected socket pair A → B:`port` (B listening) and runs until both are
/// established; returns (A's handle, B's handle).
fn establish(r: &mut Rig<SmolHost>, s: &Setup, port: u16) -> (SocketHandle, SocketHandle) {
    let (mut sa, mut sb) = (SmolHost::socket(s.buffer), SmolHost::socket(s.buffer));
    if s.path.is_some() {
        sa.set_congestion_control(CongestionControl::Cubic);
        sb.set_congestion_control(CongestionControl::Cubic);
    }
    sb.listen(port).expect("listen");
    let (ha, hb) = (r.a.sockets.add(sa), r.b.sockets.add(sb));
    r.a.connect(ha, (IP_B, port), 49152);
    r.drive(WALL_LIMIT, |a, b, _| {
        let done =
            a.tcp(ha).state() == State::Established && b.tcp(hb).state() == State::Established;
        (if done { Flow::Done } else { Flow::Go }, false)
    });
    (ha, hb)
}

/// A → B bulk transfer for `s.duration`; returns (bytes delivered, seconds).
pub fn bulk(s: &Setup) -> (u64, f64) {
    let clock = match s.path {
        Some(_) => Clock::Virtual(Instant::ZERO),
        None => Clock::real(),
    };
    let mut r = rig(s, s.links(), clock);
    let (ha, hb) = establish(&mut r, s, 80);
    let payload = vec![0x5au8; 256 * 1024];
    let mut got = 0u64;
    let start = r.clock.now();
    let end = start + s.duration;
    r.drive(WALL_LIMIT, |a, b, now| {
        let done = match s.count {
            Some(mib) => got >= mib << 20,
            None => now >= end,
        };
        if done {
            return (Flow::Done, false);
        }
        let mut busy = false;
        while let Ok(k) = a.tcp(ha).send_slice(&payload)
            && k > 0
        {
            busy = true;
        }
        // Each stack's fastest receive: consumed where it lies in the ring (`recv` with a
        // closure), as a discard server or a splice reads.
        while let Ok(k) = b.tcp(hb).recv(|data| (data.len(), data.len()))
            && k > 0
        {
            got += k as u64;
            busy = true;
        }
        (Flow::Go, busy)
    });
    let secs = r.clock.now().saturating_duration_since(start).as_secs_f64();
    (got, secs)
}

/// Opens `n` idle established connections A → B with sockets of `buffer` bytes each way.
///
/// `SocketSet::add` scans for a free slot and every packet is matched against the sockets in
/// order, so the handshakes run in batches of 1000 in a staging set whose established sockets
/// are then moved into the hosts' own sets: the same end state, without an O(n²) setup.
fn open_idle(r: &mut Rig<SmolHost>, n: usize, buffer: usize) {
    let mut opened = 0;
    while opened < n {
        let batch = (n - opened).min(1000);
        let main_a = std::mem::replace(&mut r.a.sockets, SocketSet::new(Vec::new()));
        let main_b = std::mem::replace(&mut r.b.sockets, SocketSet::new(Vec::new()));
        let mut pairs = Vec::with_capacity(batch);
        for i in opened..opened + batch {
            let port = 1000 + (i / 60_000) as u16;
            let mut sb = SmolHost::socket(buffer);
            sb.listen(port).expect("listen");
            let hb = r.b.sockets.add(sb);
            let ha = r.a.sockets.add(SmolHost::socket(buffer));
            r.a.connect(ha, (IP_B, port), 1024 + (i % 60_000) as u16);
            pairs.push((ha, hb));
        }
        r.drive(WALL_LIMIT, |a, b, _| {
            let done = pairs.iter().all(|&(ha, hb)| {
                a.tcp(ha).state() == State::Established && b.tcp(hb).state() == State::Established
            });
            (if done { Flow::Done } else { Flow::Go }, false)
        });
        let staged_a = std::mem::replace(&mut r.a.sockets, main_a);
        let staged_b = std::mem::replace(&mut r.b.sockets, main_b);
        move_sockets(staged_a, &mut r.a.sockets, pairs.iter().map(|p| p.0));
        move_sockets(staged_b, &mut r.b.sockets, pairs.iter().map(|p| p.1));
        opened += batch;
    }
}

fn move_sockets(
    mut from: SocketSet<'static>,
    to: &mut SocketSet<'static>,
    handles: impl Iterator<Item = SocketHandle>,
) {
    for h in handles {
        // Only TCP sockets are enabled (and staged).
        let smoltcp::socket::Socket::Tcp(s) = from.remove(h);
        to.add(s);
    }
}

/// Lifecycles in smoltcp's fastest mode: one socket pair, reused (the server socket listens
/// again once closed; the client is aborted in TIME-WAIT, which sends nothing), for
/// `s.duration` of wall time with `idle` idle established connections in both sets.
pub fn lifecycles(s: &Setup, idle: usize, idle_buffer: usize) -> Lifecycles {
    let mut r = rig(s, s.links(), Clock::real());
    // The lifecycle pair first: packets are matched against sockets in order.
    let ha = r.a.sockets.add(SmolHost::socket(s.buffer));
    let hb = r.b.sockets.add(SmolHost::socket(s.buffer));
    open_idle(&mut r, idle, idle_buffer);
    let mut count = 0u64;
    let mut phase = 0u8;
    let mut byte = [0u8; 16];
    let mut port = 62_000u16;
    let started = std::time::Instant::now();
    r.drive(WALL_LIMIT, |a, b, _| {
        let (ca, sb) = (a.tcp(ha).state(), b.tcp(hb).state());
        match phase {
            0 => {
                if s.count
                    .map_or(started.elapsed() >= s.duration, |n| count >= n)
                {
                    return (Flow::Done, false);
                }
                b.tcp(hb).listen(80).expect("listen");
                port = if port >= 65_000 { 62_000 } else { port + 1 };
                a.connect(ha, (IP_B, 80), port);
                phase = 1;
            }
            1 if ca == State::Established => {
                a.tcp(ha).send_slice(b"x").expect("send");
                a.tcp(ha).close();
                phase = 2;
            }
            2 => {
                let mut busy = false;
                while let Ok(k) = b.tcp(hb).recv_slice(&mut byte)
                    && k > 0
                {
                    busy = true;
                }
                if sb == State::CloseWait && !b.tcp(hb).can_recv() {
                    b.tcp(hb).close();
                    phase = 3;
                    busy = true;
                }
                return (Flow::Go, busy);
            }
            3 if sb == State::Closed && matches!(ca, State::TimeWait | State::Closed) => {
                a.tcp(ha).abort();
                count += 1;
                phase = 0;
            }
            _ => return (Flow::Go, false),
        }
        (Flow::Go, true)
    });
    Lifecycles {
        count,
        secs: started.elapsed().as_secs_f64(),
    }
}

/// Bytes one idle established smoltcp connection holds with `buffer` bytes each way: its
/// slot in the socket set (the socket lives inline in it) plus the two buffers.
pub fn bytes_per_conn(buffer: usize) -> usize {
    size_of::<SocketStorage<'static>>() + 2 * buffer
}
