//! synack on the harness: two `Stack`s, driven through the public sans-IO API.

use crate::harness::{Clock, Flow, Host, Link, Pkt, Rig, pool_get, pool_put, pool_reset};
use crate::{IP_A, IP_B, Lifecycles, Setup, WALL_LIMIT};
use std::net::SocketAddr;
use synack::stack::{ConnId, ListenerId, Secret, Stack, StackConfig};
use synack::tcp::cc::CcAlgorithm;
use synack::tcp::{self, State};
use synack::time::Instant;

/// A synack stack as a harness host.
pub struct SynHost {
    pub stack: Stack,
    /// A pooled buffer kept for the next `poll_transmit`, so the pool is touched only when
    /// a packet is produced (as smoltcp's transmit token does).
    spare: Option<Vec<u8>>,
}

impl Host for SynHost {
    fn step(&mut self, now: Instant, rx: &mut Link, tx: &mut Link) -> bool {
        let mut any = false;
        while let Some(p) = rx.recv(now) {
            self.stack.handle_packet(now, p.bytes());
            pool_put(p.buf);
            any = true;
        }
        if self.stack.poll_timeout().is_some_and(|t| t <= now) {
            self.stack.handle_timeout(now);
            any = true;
        }
        loop {
            let mut buf = self.spare.take().unwrap_or_else(pool_get);
            match self.stack.poll_transmit(now, &mut buf) {
                Some(len) => {
                    tx.send(now, Pkt { buf, len });
                    any = true;
                }
                None => {
                    self.spare = Some(buf);
                    return any;
                }
            }
        }
    }

    fn deadline(&mut self, _now: Instant) -> Option<Instant> {
        self.stack.poll_timeout()
    }
}

fn rig(s: &Setup, links: (Link, Link), clock: Clock) -> Rig<SynHost> {
    pool_reset(s.mtu);
    let host = |ip, key| {
        let cfg = StackConfig {
            tcp: tcp::Config {
                mtu: s.mtu,
                send_buffer: s.buffer,
                recv_buffer: s.buffer,
                // Its best on the lossy path: BBR, whose window random loss does not shrink;
                // elsewhere its default, CUBIC with HyStart++ and PRR.
                congestion_control: if s.path.is_some() {
                    CcAlgorithm::Bbr
                } else {
                    CcAlgorithm::Cubic
                },
                ..tcp::Config::default()
            },
            // The idle population's handshakes arrive in batches of 1000.
            syn_backlog: 1024,
            // TIME-WAIT ends at once (the smoltcp client is aborted in TIME-WAIT likewise).
            max_time_wait: 0,
            ..StackConfig::default()
        };
        SynHost {
            stack: Stack::new(cfg, Secret::from_bytes([key; 16]), &[ip]),
            spare: None,
        }
    };
    Rig {
        a: host(IP_A, 1),
        b: host(IP_B, 2),
        ab: links.0,
        ba: links.1,
        clock,
    }
}

/// Connects A to a listener of B on `port`; returns both ends once established.
fn establish(r: &mut Rig<SynHost>, port: u16) -> (ConnId, ConnId) {
    let server = SocketAddr::new(IP_B, port);
    let lid = r.b.stack.listen(server, 16).expect("listen");
    let ca = r.a.stack.connect(r.clock.now(), server).expect("connect");
    let mut cb = None;
    r.drive(WALL_LIMIT, |a, b, _| {
        cb = cb.or_else(|| b.stack.accept(lid));
        let done = cb.is_some() && a.stack.state(ca) == State::Established;
        (if done { Flow::Done } else { Flow::Go }, false)
    });
    (ca, cb.expect("accepted"))
}

/// A → B bulk transfer for `s.duration` of the rig's clock (real, or virtual with a path
/// model); returns (bytes delivered to B's application, seconds).
pub fn bulk(s: &Setup) -> (u64, f64) {
    let clock = match s.path {
        Some(_) => Clock::Virtual(Instant::ZERO),
        None => Clock::real(),
    };
    let mut r = rig(s, s.links(), clock);
    let (ca, cb) = establish(&mut r, 80);
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
        while let Ok(k) = a.stack.send(now, ca, &payload)
            && k > 0
        {
            busy = true;
        }
        // Each stack's fastest receive: consumed where it lies in the ring (`recv_with`), as
        // a discard server or a splice reads.
        while let Ok(Some(k)) = b
            .stack
            .recv_with(now, cb, |x, y| (x.len() + y.len(), x.len() + y.len()))
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

/// Opens `n` idle established connections A → B: B listens on ports 1000.. (one per 60,000
/// connections), A connects from explicit ports 1024..61023, in batches of 1000.
fn open_idle(r: &mut Rig<SynHost>, n: usize) {
    let mut listeners: Vec<ListenerId> = Vec::new();
    let mut opened = 0;
    while opened < n {
        let batch = (n - opened).min(1000);
        let now = r.clock.now();
        for i in opened..opened + batch {
            let port = 1000 + (i / 60_000) as u16;
            if listeners.len() <= i / 60_000 {
                let lid = r.b.stack.listen(SocketAddr::new(IP_B, port), 1024);
                listeners.push(lid.expect("listen"));
            }
            let local = SocketAddr::new(IP_A, 1024 + (i % 60_000) as u16);
            let remote = SocketAddr::new(IP_B, port);
            r.a.stack.connect_from(now, local, remote).expect("connect");
        }
        let mut accepted = 0;
        r.drive(WALL_LIMIT, |_, b, _| {
            for &lid in &listeners {
                while b.stack.accept(lid).is_some() {
                    accepted += 1;
                }
            }
            let flow = if accepted == batch {
                Flow::Done
            } else {
                Flow::Go
            };
            (flow, false)
        });
        opened += batch;
    }
}

/// Lifecycles (connect, 1 byte, close both ways; fresh connections through B's listener)
/// for `s.duration` of wall time, with `idle` idle established connections in both stacks.
pub fn lifecycles(s: &Setup, idle: usize) -> Lifecycles {
    let mut r = rig(s, s.links(), Clock::real());
    open_idle(&mut r, idle);
    let server = SocketAddr::new(IP_B, 80);
    let lid = r.b.stack.listen(server, 64).expect("listen");
    let mut count = 0u64;
    // The client's handle, and whether it has sent its byte and closed.
    let mut client: Option<(ConnId, bool)> = None;
    // The server's handle, and whether it has seen end of stream and closed.
    let mut srv: Option<(ConnId, bool)> = None;
    let mut byte = [0u8; 16];
    let started = std::time::Instant::now();
    r.drive(WALL_LIMIT, |a, b, now| {
        let Some((c, sent)) = &mut client else {
            if s.count
                .map_or(started.elapsed() >= s.duration, |n| count >= n)
            {
                return (Flow::Done, false);
            }
            client = Some((a.stack.connect(now, server).expect("connect"), false));
            return (Flow::Go, true);
        };
        let mut busy = false;
        if !*sent && a.stack.state(*c) == State::Established {
            a.stack.send(now, *c, b"x").expect("send");
            a.stack.close(now, *c).expect("close");
            *sent = true;
            busy = true;
        }
        if srv.is_none()
            && let Some(id) = b.stack.accept(lid)
        {
            srv = Some((id, false));
            busy = true;
        }
        if let Some((id, eof)) = &mut srv
            && !*eof
        {
            while let Ok(k) = b.stack.recv(now, *id, &mut byte) {
                if k == 0 {
                    *eof = true;
                    b.stack.close(now, *id).expect("close");
                    break;
                }
                busy = true;
            }
        }
        if let Some((id, true)) = srv
            && b.stack.state(id) == State::Closed
            && a.stack.state(*c) == State::Closed
        {
            count += 1;
            (client, srv) = (None, None);
            busy = true;
        }
        (Flow::Go, busy)
    });
    Lifecycles {
        count,
        secs: started.elapsed().as_secs_f64(),
    }
}

/// Heap bytes per idle established connection: measured by the counting allocator while
/// `n` connections are opened (both stacks hold `n` ends, so the delta is over `2n`), and the
/// stack's own accounting (`Stack::memory_usage`, B's delta over `n`).
pub fn idle_memory(n: usize) -> (f64, f64) {
    let s = Setup::lifecycle();
    let mut r = rig(&s, s.links(), Clock::real());
    let (heap0, acct0) = (crate::alloc::stack_bytes(), r.b.stack.memory_usage());
    open_idle(&mut r, n);
    let spares = [&r.a, &r.b].map(|h| h.spare.as_ref().map_or(0, Vec::capacity));
    let heap1 = crate::alloc::stack_bytes() - spares.iter().sum::<usize>();
    let acct1 = r.b.stack.memory_usage();
    let heap = heap1.saturating_sub(heap0) as f64 / (2 * n) as f64;
    let acct = acct1.saturating_sub(acct0) as f64 / n as f64;
    (heap, acct)
}
