//! No allocation per segment in steady state: once a bulk transfer has warmed up (rings grown,
//! records sized), moving many more megabytes through two stacks allocates nothing at all.
//!
//! A counting global allocator (this test binary only) counts every `alloc`/`realloc`; the
//! driver itself moves packets through buffers it allocated before counting starts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use synack::stack::{ConnId, Secret, Stack, StackConfig};
use synack::tcp::{self, State};
use synack::time::{Duration, Instant};

/// The system allocator, counting allocation calls per thread (tests run in parallel).
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    /// Bytes allocated minus bytes freed by this thread.
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn live(delta: isize) {
    let _ = LIVE.try_with(|n| n.set(n.get() + delta));
}

fn live_bytes() -> isize {
    LIVE.with(Cell::get)
}

fn count() {
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: every call is forwarded to `System` unchanged; only a counter is updated besides.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        live(layout.size() as isize);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        live(-(layout.size() as isize));
        // SAFETY: `ptr` came from this allocator with this layout (caller's contract).
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        live(new_size as isize - layout.size() as isize);
        // SAFETY: as for `dealloc`; `new_size` is the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const IP_A: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
const IP_B: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2));
/// Packets a direction may hold in flight; far above any window here.
const SLOTS: usize = 8192;

/// One direction of the link: packets in order, in buffers allocated up front.
struct Wire {
    queue: VecDeque<(Vec<u8>, usize)>,
    free: Vec<Vec<u8>>,
}

impl Wire {
    fn new(mtu: usize) -> Wire {
        Wire {
            queue: VecDeque::with_capacity(SLOTS),
            free: (0..SLOTS).map(|_| vec![0u8; mtu]).collect(),
        }
    }

    /// Moves everything `from` has to send onto the wire.
    fn transmit(&mut self, now: Instant, from: &mut Stack) {
        while let Some(mut buf) = self.free.pop() {
            match from.poll_transmit(now, &mut buf) {
                Some(len) => self.queue.push_back((buf, len)),
                None => {
                    self.free.push(buf);
                    return;
                }
            }
        }
        panic!("more than {SLOTS} packets in flight");
    }

    /// Hands every queued packet to `to`.
    fn deliver(&mut self, now: Instant, to: &mut Stack) {
        while let Some((buf, len)) = self.queue.pop_front() {
            to.handle_packet(now, &buf[..len]);
            self.free.push(buf);
        }
    }
}

struct Rig {
    a: Stack,
    b: Stack,
    ab: Wire,
    ba: Wire,
    now: Instant,
}

impl Rig {
    /// Two stacks, A connected to B; returns the rig and both ends once established.
    fn new(mtu: usize, buffer: usize) -> (Rig, ConnId, ConnId) {
        Rig::with_time_wait(mtu, buffer, StackConfig::default().max_time_wait)
    }

    /// As [`Rig::new`], with at most `max_time_wait` connections in TIME-WAIT.
    fn with_time_wait(mtu: usize, buffer: usize, max_time_wait: usize) -> (Rig, ConnId, ConnId) {
        let host = |ip, key| {
            let cfg = StackConfig {
                tcp: tcp::Config {
                    mtu,
                    send_buffer: buffer,
                    recv_buffer: buffer,
                    ..tcp::Config::default()
                },
                max_time_wait,
                ..StackConfig::default()
            };
            Stack::new(cfg, Secret::from_bytes([key; 16]), &[ip])
        };
        let mut r = Rig {
            a: host(IP_A, 1),
            b: host(IP_B, 2),
            ab: Wire::new(mtu),
            ba: Wire::new(mtu),
            now: Instant::ZERO,
        };
        let server = SocketAddr::new(IP_B, 80);
        let lid = r.b.listen(server, 8).unwrap();
        let ca = r.a.connect(r.now, server).unwrap();
        let mut cb = None;
        for _ in 0..100 {
            r.step();
            cb = cb.or_else(|| r.b.accept(lid));
            if let Some(cb) = cb
                && r.a.state(ca) == State::Established
            {
                return (r, ca, cb);
            }
        }
        panic!("no connection");
    }

    /// One round: each side's output crosses the wire (50 µs each way), timers run.
    fn step(&mut self) {
        self.now += Duration::from_micros(50);
        for s in [&mut self.a, &mut self.b] {
            if s.poll_timeout().is_some_and(|t| t <= self.now) {
                s.handle_timeout(self.now);
            }
        }
        self.ab.transmit(self.now, &mut self.a);
        self.ab.deliver(self.now, &mut self.b);
        self.ba.transmit(self.now, &mut self.b);
        self.ba.deliver(self.now, &mut self.a);
    }
}

/// Moves `bytes` from A to B.
fn transfer(r: &mut Rig, ca: ConnId, cb: ConnId, data: &[u8], sink: &mut [u8], bytes: usize) {
    let mut got = 0;
    let mut rounds = 0;
    while got < bytes {
        while r.a.send(r.now, ca, data).is_ok_and(|k| k > 0) {}
        r.step();
        while let Ok(k) = r.b.recv(r.now, cb, sink)
            && k > 0
        {
            got += k;
        }
        rounds += 1;
        assert!(rounds < 1_000_000, "transfer stalled at {got} of {bytes}");
    }
}

fn steady_bulk_allocates_nothing(mtu: usize, buffer: usize) {
    let (mut r, ca, cb) = Rig::new(mtu, buffer);
    let data = vec![0x5a; 64 * 1024];
    let mut sink = vec![0u8; 64 * 1024];
    // Warm-up: rings grow to their capacity, congestion control leaves slow start.
    transfer(&mut r, ca, cb, &data, &mut sink, 8 << 20);
    let segments_before = r.a.counters().out_segs;
    let before = allocations();
    transfer(&mut r, ca, cb, &data, &mut sink, 32 << 20);
    let allocations = allocations() - before;
    let segments = r.a.counters().out_segs - segments_before;
    assert!(segments > 400, "MTU {mtu}: only {segments} segments sent");
    assert_eq!(
        allocations, 0,
        "MTU {mtu}, {buffer} B buffers: {allocations} allocations for {segments} segments"
    );
}

#[test]
fn steady_state_bulk_allocates_nothing_per_segment_at_mtu_1500() {
    steady_bulk_allocates_nothing(1500, 256 * 1024);
}

#[test]
fn steady_state_bulk_allocates_nothing_per_segment_at_mtu_65535() {
    steady_bulk_allocates_nothing(65535, 1 << 20);
}

/// A thousand connection lifecycles through a listener (connect, a 64-byte request each way,
/// close from both ends; no TIME-WAIT, as in the compare bench) leave the heap exactly as
/// they found it: every connection gives back everything it took (entry, rings, flight
/// record, demux and timer entries; the pool of closed connections stays at its bound), so
/// memory follows the load down as well as up. Also counts the allocation calls per
/// lifecycle (the README's lifecycle figures) and pins them.
#[test]
fn lifecycles_leave_the_heap_as_they_found_it() {
    let (mut r, _, _) = Rig::with_time_wait(1500, 64 * 1024, 0);
    let server = SocketAddr::new(IP_B, 81);
    let lid = r.b.listen(server, 64).unwrap();
    let request = [0x5a; 64];
    let mut sink = [0u8; 256];
    let mut lifecycle = |r: &mut Rig| {
        let ca = r.a.connect(r.now, server).unwrap();
        let mut cb = None;
        for _ in 0..100 {
            r.step();
            cb = cb.or_else(|| r.b.accept(lid));
            if cb.is_some() && r.a.state(ca) == State::Established {
                break;
            }
        }
        let cb = cb.expect("accepted");
        assert_eq!(r.a.send(r.now, ca, &request).unwrap(), request.len());
        r.step();
        assert_eq!(r.b.recv(r.now, cb, &mut sink).unwrap(), request.len());
        assert_eq!(r.b.send(r.now, cb, &request).unwrap(), request.len());
        r.step();
        assert_eq!(r.a.recv(r.now, ca, &mut sink).unwrap(), request.len());
        r.a.close(r.now, ca).unwrap();
        r.b.close(r.now, cb).unwrap();
        for _ in 0..100 {
            r.step();
            if r.a.connections().count() == 1 && r.b.connections().count() == 1 {
                return;
            }
        }
        panic!(
            "lifecycle did not end: a {:?} b {:?}",
            r.a.connections().map(|c| r.a.state(c)).collect::<Vec<_>>(),
            r.b.connections().map(|c| r.b.state(c)).collect::<Vec<_>>()
        );
    };
    // Warm-up: tables and queues reach their working size.
    for _ in 0..200 {
        lifecycle(&mut r);
    }
    let (calls, bytes) = (allocations(), live_bytes());
    const N: usize = 1000;
    for _ in 0..N {
        lifecycle(&mut r);
    }
    assert_eq!(
        live_bytes() - bytes,
        0,
        "heap bytes kept after {N} lifecycles"
    );
    assert_eq!(r.a.counters().out_rsts + r.b.counters().out_rsts, 0);
    let per_lifecycle = (allocations() - calls) / N;
    eprintln!("allocation calls per lifecycle (both ends): {per_lifecycle}");
    // 16 before the connection pool (StackConfig::connection_pool): the boxed entry and two
    // rings at each end now come from the connection that closed before. Left: at each end
    // two SACK/RACK flight records (the handshake's and the data's: 160 bytes and a
    // 96-byte log each, freed when the flight goes idle) and, at one, the per-connection
    // counters (152 bytes, boxed on first use).
    assert!(
        per_lifecycle <= 10,
        "{per_lifecycle} allocation calls per lifecycle (10 with the pool)"
    );
}
