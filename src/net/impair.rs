//! Seeded impairment between a device and the stack, in both directions: the simulator's link
//! model ([`LinkConfig`]: loss, delay, jitter and so reordering, duplication, corruption,
//! truncation, a bottleneck rate and its buffer), applied to real packets in real time. It
//! stands in for `netem` where the kernel has none.
//!
//! One model serves both: each direction is a [`Link`] from the simulator, seeded from
//! [`ImpairConfig::seed`], so the same settings mean the same thing on the simulated network and
//! on a TUN device, and carry the same names. The queue of delayed packets is bounded
//! ([`MAX_QUEUED`]); packets beyond it, or refused by the link (too big, its buffer full), are
//! dropped and counted.

use crate::sim::{Link, LinkConfig, Transit};
use crate::time::{Duration, Instant};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::str::FromStr;

/// Most packets held back at once, both directions together.
pub const MAX_QUEUED: usize = 16384;

/// What to do to packets, the same in each direction.
#[derive(Clone, Debug, PartialEq)]
pub struct ImpairConfig {
    /// The simulator's link model. [`ImpairConfig::default`] makes it transparent but for
    /// its buffer: no delay, no loss, no MTU of its own (the device has one), and the
    /// simulator's 16 MiB of packets in flight per direction (`limit=`). Building it from
    /// `LinkConfig::default()` instead brings the simulator's 1 ms delay and 1500-byte MTU.
    pub link: LinkConfig,
    /// Seed of the random choices (each direction draws from its own stream).
    pub seed: u64,
}

impl Default for ImpairConfig {
    fn default() -> Self {
        ImpairConfig {
            link: LinkConfig {
                delay: Duration::ZERO,
                mtu: usize::MAX,
                ..LinkConfig::default()
            },
            seed: 0,
        }
    }
}

/// Why an impairment specification was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImpairError {
    /// A `key=value` item has an unknown key.
    #[error(
        "unknown impairment {0:?} (use loss, delay, jitter, duplicate, corrupt, truncate, rate, \
         limit, seed)"
    )]
    UnknownKey(String),
    /// An item is not `key=value`.
    #[error("expected key=value, got {0:?}")]
    NotKeyValue(String),
    /// A value does not parse or is out of range.
    #[error("bad value for {key}: {value:?} ({why})")]
    BadValue {
        /// The key.
        key: String,
        /// The value as written.
        value: String,
        /// What was expected.
        why: &'static str,
    },
}

impl FromStr for ImpairConfig {
    type Err = ImpairError;

    /// Parses `loss=2%,delay=10ms,jitter=5ms,duplicate=1%,corrupt=0.1%,truncate=0.1%,
    /// rate=100mbit,limit=1048576,seed=7` (any subset, any order; `dup` is accepted for
    /// `duplicate`; `limit` is the link's buffer in bytes).
    /// Jitter adds a uniform `[0, jitter]` to the delay, as on the simulator.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut cfg = ImpairConfig::default();
        let link = &mut cfg.link;
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| ImpairError::NotKeyValue(item.to_owned()))?;
            let bad = |why| ImpairError::BadValue {
                key: key.to_owned(),
                value: value.to_owned(),
                why,
            };
            let percent = || parse_percent(value).ok_or_else(|| bad("a percentage"));
            let duration = || humantime::parse_duration(value).map_err(|_| bad("a duration"));
            match key {
                "loss" => link.loss = percent()?,
                "duplicate" | "dup" => link.duplicate = percent()?,
                "corrupt" => link.corrupt = percent()?,
                "truncate" => link.truncate = percent()?,
                "delay" => link.delay = duration()?,
                "jitter" => link.jitter = duration()?,
                "rate" => {
                    link.bandwidth_bps =
                        Some(parse_rate(value).ok_or_else(|| bad("a rate such as 10mbit"))?);
                }
                "limit" => {
                    link.queue_limit_bytes = value.parse().map_err(|_| bad("bytes"))?;
                }
                "seed" => cfg.seed = value.parse().map_err(|_| bad("an integer"))?,
                _ => return Err(ImpairError::UnknownKey(key.to_owned())),
            }
        }
        Ok(cfg)
    }
}

/// `2%` or `2` → 0.02; `0.5%` → 0.005. Must lie in 0–100.
fn parse_percent(v: &str) -> Option<f64> {
    let n: f64 = v.strip_suffix('%').unwrap_or(v).trim().parse().ok()?;
    (0.0..=100.0).contains(&n).then_some(n / 100.0)
}

/// `100mbit`, `1gbit`, `500kbit` or plain bits per second → bits per second (at least 1).
fn parse_rate(v: &str) -> Option<u64> {
    let v = v.trim().to_ascii_lowercase();
    let (digits, unit) = match v.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => v.split_at(i),
        None => (v.as_str(), ""),
    };
    let scale = match unit {
        "" | "bit" => 1.0,
        "kbit" => 1e3,
        "mbit" => 1e6,
        "gbit" => 1e9,
        _ => return None,
    };
    let bps = digits.parse::<f64>().ok()? * scale;
    (bps >= 1.0 && bps.is_finite()).then_some(bps as u64)
}

/// Which way a packet travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    /// From the device to the stack.
    In,
    /// From the stack to the device.
    Out,
}

/// What happened to packets so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImpairStats {
    /// Packets handed to the impairer.
    pub submitted: u64,
    /// Packets lost on purpose.
    pub lost: u64,
    /// Packets delivered a second time.
    pub duplicated: u64,
    /// Copies with one bit flipped.
    pub corrupted: u64,
    /// Copies cut short.
    pub truncated: u64,
    /// Packets dropped because the queue was full ([`MAX_QUEUED`]), the link's buffer was
    /// full, or the packet exceeded the link's MTU.
    pub overflowed: u64,
}

/// A packet waiting for its delivery time.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Held {
    due: Instant,
    /// Tie-break: packets due at the same time leave in submission order.
    order: u64,
    dir: Direction,
    packet: Vec<u8>,
}

/// Applies an [`ImpairConfig`] to packets in both directions.
#[derive(Debug)]
pub struct Impairer {
    cfg: ImpairConfig,
    /// Device to stack, and stack to device.
    links: [Link; 2],
    held: BinaryHeap<Reverse<Held>>,
    order: u64,
    stats: ImpairStats,
}

impl Impairer {
    /// An impairer seeded from `cfg.seed`.
    pub fn new(cfg: ImpairConfig) -> Self {
        let link = |from, to| {
            let mut l = Link::new(cfg.seed, from, to);
            l.cfg = cfg.link.clone().clamped();
            l
        };
        Impairer {
            links: [link(0, 1), link(1, 0)],
            cfg,
            held: BinaryHeap::new(),
            order: 0,
            stats: ImpairStats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ImpairConfig {
        &self.cfg
    }

    /// Counters.
    pub fn stats(&self) -> ImpairStats {
        self.stats
    }

    /// Packets held back right now.
    pub fn queued(&self) -> usize {
        self.held.len()
    }

    /// Takes a packet travelling `dir` at `now`; it comes out of [`Impairer::pop_due`] later
    /// (possibly twice, possibly damaged, possibly never).
    pub fn submit(&mut self, now: Instant, dir: Direction, packet: &[u8]) {
        self.stats.submitted += 1;
        let link = &mut self.links[dir as usize];
        let copies = match link.transmit(now, packet) {
            Err(_) => {
                self.stats.overflowed += 1;
                return;
            }
            Ok(Transit::Lost) => {
                self.stats.lost += 1;
                return;
            }
            Ok(Transit::Delivered(first, second)) => [Some(first), second],
        };
        for copy in copies.into_iter().flatten() {
            if self.held.len() >= MAX_QUEUED {
                // Never delivered: it no longer occupies the link's buffer either.
                self.stats.overflowed += 1;
                self.links[dir as usize].delivered(copy.bytes.len());
                continue;
            }
            self.stats.duplicated += u64::from(copy.duplicate);
            self.stats.corrupted += u64::from(copy.corrupted);
            self.stats.truncated += u64::from(copy.truncated);
            self.order += 1;
            self.held.push(Reverse(Held {
                due: copy.at,
                order: self.order,
                dir,
                packet: copy.bytes,
            }));
        }
    }

    /// When the next held packet is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.held.peek().map(|Reverse(h)| h.due)
    }

    /// The next packet due at or before `now`, with its direction.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Direction, Vec<u8>)> {
        if self.next_due()? > now {
            return None;
        }
        let Reverse(h) = self.held.pop()?;
        self.links[h.dir as usize].delivered(h.packet.len());
        Some((h.dir, h.packet))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_form() {
        let c: ImpairConfig =
            "loss=2%,delay=10ms,jitter=5ms,duplicate=1%,corrupt=0.5%,truncate=0.1%,rate=10mbit,seed=9"
                .parse()
                .unwrap();
        let want = ImpairConfig {
            link: LinkConfig {
                loss: 0.02,
                delay: Duration::from_millis(10),
                jitter: Duration::from_millis(5),
                duplicate: 0.01,
                corrupt: 0.005,
                truncate: 0.001,
                bandwidth_bps: Some(10_000_000),
                ..ImpairConfig::default().link
            },
            seed: 9,
        };
        assert_eq!(c, want);
        // The runtime's old name for duplication still parses.
        assert_eq!(
            "dup=1%".parse::<ImpairConfig>().unwrap().link.duplicate,
            0.01
        );
        assert_eq!("".parse::<ImpairConfig>().unwrap(), ImpairConfig::default());
    }

    #[test]
    fn rejects_bad_specifications() {
        assert!(matches!(
            "lose=2%".parse::<ImpairConfig>(),
            Err(ImpairError::UnknownKey(_))
        ));
        assert!(matches!(
            "loss".parse::<ImpairConfig>(),
            Err(ImpairError::NotKeyValue(_))
        ));
        assert!(matches!(
            "loss=150%".parse::<ImpairConfig>(),
            Err(ImpairError::BadValue { .. })
        ));
        assert!(matches!(
            "delay=fast".parse::<ImpairConfig>(),
            Err(ImpairError::BadValue { .. })
        ));
        assert!(matches!(
            "rate=fast".parse::<ImpairConfig>(),
            Err(ImpairError::BadValue { .. })
        ));
    }

    fn run(cfg: ImpairConfig, n: u16) -> (Vec<(u64, u16)>, ImpairStats) {
        let mut imp = Impairer::new(cfg);
        for i in 0..n {
            imp.submit(
                Instant::from_millis(u64::from(i)),
                Direction::Out,
                &i.to_be_bytes(),
            );
        }
        let mut out = Vec::new();
        while let Some(t) = imp.next_due() {
            let (_, p) = imp.pop_due(t).unwrap();
            out.push((t.total_micros(), u16::from_be_bytes([p[0], p[1]])));
        }
        (out, imp.stats())
    }

    #[test]
    fn no_impairment_delivers_everything_in_order_at_once() {
        let (out, stats) = run(ImpairConfig::default(), 100);
        let want: Vec<_> = (0..100u16).map(|i| (u64::from(i) * 1000, i)).collect();
        assert_eq!(out, want);
        assert_eq!(stats.lost + stats.duplicated + stats.overflowed, 0);
        assert_eq!(stats.corrupted + stats.truncated, 0);
    }

    #[test]
    fn same_seed_same_fate_and_rates_are_roughly_right() {
        let cfg = ImpairConfig {
            link: LinkConfig {
                loss: 0.1,
                duplicate: 0.05,
                delay: Duration::from_millis(10),
                jitter: Duration::from_millis(5),
                ..ImpairConfig::default().link
            },
            seed: 42,
        };
        let (a, stats) = run(cfg.clone(), 10_000);
        let (b, _) = run(cfg, 10_000);
        assert_eq!(a, b);
        assert!((800..1200).contains(&stats.lost), "{stats:?}");
        // 5% of the ~9,000 survivors.
        assert!((300..600).contains(&stats.duplicated), "{stats:?}");
        // Jitter of up to 5 ms on packets 1 ms apart reorders some of them.
        assert!(a.windows(2).any(|w| w[1].1 < w[0].1));
        // Every delivery is 10–15 ms after submission (delay + [0, jitter]).
        for &(t, i) in &a {
            let d = t - u64::from(i) * 1000;
            assert!((10_000..=15_000).contains(&d), "delay {d}");
        }
    }

    #[test]
    fn the_queue_is_bounded() {
        let mut imp = Impairer::new(ImpairConfig {
            link: LinkConfig {
                delay: Duration::from_secs(10),
                ..ImpairConfig::default().link
            },
            ..ImpairConfig::default()
        });
        for _ in 0..MAX_QUEUED + 10 {
            imp.submit(Instant::ZERO, Direction::In, b"x");
        }
        assert_eq!(imp.queued(), MAX_QUEUED);
        assert_eq!(imp.stats().overflowed, 10);
    }

    /// Corruption and truncation damage copies as on the simulator (the counters match what
    /// arrives), and a rate spaces packets by their serialisation time.
    #[test]
    fn corrupt_truncate_and_rate_come_from_the_simulators_model() {
        let cfg: ImpairConfig = "corrupt=20%,truncate=20%,seed=3".parse().unwrap();
        let mut imp = Impairer::new(cfg);
        let packet = [0xa5u8; 100];
        for i in 0..2000 {
            imp.submit(Instant::from_micros(i), Direction::In, &packet);
        }
        let (mut damaged, mut short) = (0, 0);
        while let Some(t) = imp.next_due() {
            let (_, p) = imp.pop_due(t).unwrap();
            short += u64::from(p.len() < packet.len());
            damaged += u64::from(p.len() == packet.len() && p[..] != packet[..]);
        }
        let s = imp.stats();
        assert_eq!((s.corrupted, s.truncated), (damaged, short), "{s:?}");
        assert!((300..500).contains(&s.truncated) && (200..450).contains(&s.corrupted));

        // 1 Mbit/s: a 1,250-byte packet takes 10 ms on the wire.
        let mut imp = Impairer::new("rate=1mbit".parse().unwrap());
        for _ in 0..3 {
            imp.submit(Instant::ZERO, Direction::Out, &[0u8; 1250]);
        }
        let mut due = Vec::new();
        while let Some(t) = imp.next_due() {
            imp.pop_due(t).unwrap();
            due.push(t.total_micros());
        }
        assert_eq!(due, [10_000, 20_000, 30_000]);
    }

    /// A copy dropped because the queue is full gives its bytes back to the link's buffer,
    /// so the link keeps accepting packets once the queue drains.
    #[test]
    fn copies_dropped_for_a_full_queue_free_the_links_buffer() {
        let cfg: ImpairConfig = "delay=1s,limit=4000000".parse().unwrap();
        let mut imp = Impairer::new(cfg);
        for _ in 0..MAX_QUEUED + 100 {
            imp.submit(Instant::ZERO, Direction::In, &[0u8; 200]);
        }
        assert_eq!(imp.stats().overflowed, 100);
        while imp.pop_due(Instant::from_millis(1000)).is_some() {}
        // 16,384 held copies of 200 bytes used 3.3 MB of the 4 MB buffer; with the dropped
        // ones counted as well it would have refused these.
        for _ in 0..1000 {
            imp.submit(Instant::from_millis(1000), Direction::In, &[0u8; 200]);
        }
        assert_eq!(imp.stats().overflowed, 100);
        assert_eq!(imp.queued(), 1000);
    }
}
