//! The shared harness: pooled packet buffers, a link (in-memory, or a modelled path with
//! serialization delay, propagation delay and seeded loss), the clock, and the loop that
//! drives two hosts of either stack identically.

use std::cell::RefCell;
use std::collections::VecDeque;
use synack::time::{Duration, Instant};

/// One packet: a pooled buffer and the bytes of it in use.
pub struct Pkt {
    pub buf: Vec<u8>,
    pub len: usize,
}

impl Pkt {
    /// The packet's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

thread_local! {
    static POOL: RefCell<(usize, Vec<Vec<u8>>)> = const { RefCell::new((1500, Vec::new())) };
}

/// Sets the size of pooled buffers (the MTU of the next run) and empties the pool.
pub fn pool_reset(mtu: usize) {
    POOL.with(|p| *p.borrow_mut() = (mtu, Vec::new()));
}

/// A buffer of the pool's size, reused when one is free: the harness allocates nothing in
/// steady state, so what the timings show is the stacks' own cost.
pub fn pool_get() -> Vec<u8> {
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        let size = p.0;
        p.1.pop().unwrap_or_else(|| vec![0; size])
    })
}

/// Gives a buffer back to the pool.
pub fn pool_put(buf: Vec<u8>) {
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        if buf.len() == p.0 {
            p.1.push(buf);
        }
    })
}

/// The lossy row's path: a bottleneck of `bits_per_sec`, a one-way propagation delay, seeded
/// random loss and a drop-tail queue of `queue_bytes` in front of the bottleneck.
#[derive(Clone, Copy)]
pub struct PathModel {
    pub bits_per_sec: u64,
    pub one_way: Duration,
    pub loss_per_million: u32,
    pub queue_bytes: usize,
    pub seed: u64,
}

/// One direction of a link.
pub struct Link {
    q: VecDeque<(Instant, Pkt)>,
    path: Option<PathModel>,
    rng: u64,
    /// When the bottleneck has finished serializing everything it holds.
    busy_until: Instant,
}

impl Link {
    /// A link that delivers at once (the in-memory link).
    pub fn instant() -> Self {
        Self::new(None)
    }

    /// A link following `path`.
    pub fn modelled(path: PathModel) -> Self {
        Self::new(Some(path))
    }

    fn new(path: Option<PathModel>) -> Self {
        Link {
            q: VecDeque::new(),
            rng: path.map_or(1, |p| p.seed | 1),
            path,
            busy_until: Instant::ZERO,
        }
    }

    /// xorshift64*: seeded, so both stacks see the same loss pattern for the same sends.
    fn random(&mut self) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Puts a packet on the link at `now`.
    pub fn send(&mut self, now: Instant, pkt: Pkt) {
        let Some(path) = self.path else {
            self.q.push_back((now, pkt));
            return;
        };
        let backlog = self.busy_until.saturating_duration_since(now);
        let queued = (backlog.as_nanos() * u128::from(path.bits_per_sec) / 8_000_000_000) as usize;
        let lost = (self.random() % 1_000_000) < u64::from(path.loss_per_million);
        if lost || queued + pkt.len > path.queue_bytes {
            pool_put(pkt.buf);
            return;
        }
        let ser_ns = (pkt.len as u64 * 8_000_000_000).div_ceil(path.bits_per_sec);
        self.busy_until = self.busy_until.max(now) + Duration::from_nanos(ser_ns);
        self.q.push_back((self.busy_until + path.one_way, pkt));
    }

    /// The next packet that has arrived by `now`.
    pub fn recv(&mut self, now: Instant) -> Option<Pkt> {
        if self.q.front()?.0 <= now {
            return self.q.pop_front().map(|(_, p)| p);
        }
        None
    }

    /// When the next packet arrives.
    pub fn next_at(&self) -> Option<Instant> {
        self.q.front().map(|(t, _)| *t)
    }
}

/// A host of either stack, as the harness drives it.
pub trait Host {
    /// Takes in every packet that has arrived on `rx`, runs due timers, and puts everything
    /// the host wants to send on `tx`. Returns whether anything happened.
    fn step(&mut self, now: Instant, rx: &mut Link, tx: &mut Link) -> bool;
    /// When the host next wants `step` called with nothing arriving.
    fn deadline(&mut self, now: Instant) -> Option<Instant>;
}

/// The clock both stacks get their time from.
///
/// `Real` follows a `std::time::Instant`, and when neither host has anything to do until a
/// timer, jumps ahead to it instead of spinning; the jump still counts as elapsed time, so a
/// stack that stalls on a timer is charged for it. `Virtual` only jumps (the lossy row, whose
/// time is the modelled path's and not the CPU's).
pub enum Clock {
    Real {
        start: std::time::Instant,
        skipped: Duration,
    },
    Virtual(Instant),
}

impl Clock {
    /// A real-time clock starting now.
    pub fn real() -> Self {
        Clock::Real {
            start: std::time::Instant::now(),
            skipped: Duration::ZERO,
        }
    }

    /// The current time.
    pub fn now(&self) -> Instant {
        match self {
            Clock::Real { start, skipped } => Instant::ZERO + start.elapsed() + *skipped,
            Clock::Virtual(t) => *t,
        }
    }

    /// Moves the clock from `now` (read earlier this round) on to `t`.
    fn jump(&mut self, now: Instant, t: Instant) {
        match self {
            Clock::Real { skipped, .. } => *skipped += t.saturating_duration_since(now),
            Clock::Virtual(v) => *v = t.max(now),
        }
    }
}

/// What the application step of [`Rig::drive`] reports.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// It made progress or waits for the network.
    Go,
    /// The run is over.
    Done,
}

/// Two hosts, the link each way, and the clock.
pub struct Rig<H> {
    pub a: H,
    pub b: H,
    pub ab: Link,
    pub ba: Link,
    pub clock: Clock,
}

impl<H: Host> Rig<H> {
    /// Calls `app`, then both hosts, round after round, until `app` returns [`Flow::Done`].
    ///
    /// A host is stepped only when something may have changed for it: the application acted
    /// (`app` reported progress), a packet arrived, or its deadline passed. Deadlines are read
    /// when a round changed nothing (the clock then jumps to the next arrival or deadline) and
    /// every 64 busy rounds. Panics if nothing at all is scheduled (a deadlock) or after
    /// `wall_limit`.
    pub fn drive(
        &mut self,
        wall_limit: std::time::Duration,
        mut app: impl FnMut(&mut H, &mut H, Instant) -> (Flow, bool),
    ) {
        let started = std::time::Instant::now();
        let mut rounds = 0u64;
        let (mut due_a, mut due_b) = (true, true);
        loop {
            let now = self.clock.now();
            let (flow, app_busy) = app(&mut self.a, &mut self.b, now);
            if flow == Flow::Done {
                return;
            }
            let mut busy = app_busy;
            if app_busy || due_a || self.ba.next_at().is_some_and(|t| t <= now) {
                busy |= self.a.step(now, &mut self.ba, &mut self.ab);
            }
            if app_busy || due_b || self.ab.next_at().is_some_and(|t| t <= now) {
                busy |= self.b.step(now, &mut self.ab, &mut self.ba);
            }
            rounds += 1;
            if rounds.is_multiple_of(1024) && started.elapsed() > wall_limit {
                panic!("harness: run did not finish within {wall_limit:?}");
            }
            if busy && !rounds.is_multiple_of(64) {
                (due_a, due_b) = (false, false);
                continue;
            }
            let (da, db) = (self.a.deadline(now), self.b.deadline(now));
            let mut at = now;
            if !busy {
                let next = [self.ab.next_at(), self.ba.next_at(), da, db]
                    .into_iter()
                    .flatten()
                    .min()
                    .expect("harness: both stacks idle with nothing scheduled");
                // A host asking to be polled now and doing nothing when polled: a
                // microsecond later.
                at = next.max(now + Duration::from_micros(1));
                self.clock.jump(now, at);
            }
            due_a = da.is_some_and(|t| t <= at);
            due_b = db.is_some_and(|t| t <= at);
        }
    }
}

/// Bytes the pool holds for reuse (excluded from memory measurements).
pub fn pool_held_bytes() -> usize {
    POOL.with(|p| {
        let p = p.borrow();
        p.1.len() * p.0 + p.1.capacity() * size_of::<Vec<u8>>()
    })
}
