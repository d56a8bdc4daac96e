//! Seeded impairment between a device and the stack: loss, delay, jitter (and so reordering)
//! and duplication, in both directions. It stands in for `netem` where the kernel has none.
//!
//! Every packet submitted is dropped with probability `loss`, otherwise delivered once (and a
//! second time with probability `dup`), each copy after `delay ± jitter` drawn uniformly, so
//! packets overtake each other when the jitter exceeds their spacing. All randomness comes from
//! the seed; the queue of delayed packets is bounded ([`MAX_QUEUED`]), and packets beyond it are
//! dropped and counted.

use crate::time::{Duration, Instant};
use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::str::FromStr;

/// Most packets held back at once, both directions together.
pub const MAX_QUEUED: usize = 16384;

/// What to do to packets, in each direction.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct ImpairConfig {
    /// Probability of dropping a packet, 0.0–1.0.
    pub loss: f64,
    /// Fixed one-way delay.
    pub delay: Duration,
    /// Each copy's delay varies uniformly within `delay ± jitter` (never below zero).
    pub jitter: Duration,
    /// Probability of delivering a second copy, 0.0–1.0.
    pub dup: f64,
    /// Seed of the random choices.
    pub seed: u64,
}

/// Why an impairment specification was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImpairError {
    /// A `key=value` item has an unknown key.
    #[error("unknown impairment {0:?} (use loss, delay, jitter, dup, seed)")]
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

    /// Parses `loss=2%,delay=10ms,jitter=5ms,dup=1%,seed=7` (any subset, any order).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut cfg = ImpairConfig::default();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| ImpairError::NotKeyValue(item.to_owned()))?;
            let bad = |why| ImpairError::BadValue {
                key: key.to_owned(),
                value: value.to_owned(),
                why,
            };
            match key {
                "loss" => cfg.loss = parse_percent(value).ok_or_else(|| bad("a percentage"))?,
                "dup" => cfg.dup = parse_percent(value).ok_or_else(|| bad("a percentage"))?,
                "delay" => {
                    cfg.delay = humantime::parse_duration(value).map_err(|_| bad("a duration"))?;
                }
                "jitter" => {
                    cfg.jitter = humantime::parse_duration(value).map_err(|_| bad("a duration"))?;
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
    /// Packets submitted.
    pub submitted: u64,
    /// Packets dropped on purpose.
    pub lost: u64,
    /// Extra copies made.
    pub duplicated: u64,
    /// Packets dropped because the delay queue was full.
    pub overflowed: u64,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Held {
    due: Instant,
    order: u64,
    dir: Direction,
    packet: Vec<u8>,
}

/// Applies an [`ImpairConfig`] to packets in both directions.
#[derive(Debug)]
pub struct Impairer {
    cfg: ImpairConfig,
    rng: ChaCha8Rng,
    held: BinaryHeap<Reverse<Held>>,
    order: u64,
    stats: ImpairStats,
}

impl Impairer {
    /// An impairer seeded from `cfg.seed`.
    pub fn new(cfg: ImpairConfig) -> Self {
        Impairer {
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
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
    /// (possibly twice, possibly never).
    pub fn submit(&mut self, now: Instant, dir: Direction, packet: &[u8]) {
        self.stats.submitted += 1;
        if self.chance(self.cfg.loss) {
            self.stats.lost += 1;
            return;
        }
        let copies = if self.chance(self.cfg.dup) {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            if self.held.len() >= MAX_QUEUED {
                self.stats.overflowed += 1;
                continue;
            }
            let due = now + self.draw_delay();
            self.order += 1;
            self.held.push(Reverse(Held {
                due,
                order: self.order,
                dir,
                packet: packet.to_vec(),
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
        self.held.pop().map(|Reverse(h)| (h.dir, h.packet))
    }

    fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        // 53 random bits give a uniform f64 in [0, 1).
        let u = (self.rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        u < p
    }

    fn draw_delay(&mut self) -> Duration {
        let base = self.cfg.delay.as_micros() as i128;
        let j = self.cfg.jitter.as_micros() as i128;
        let offset = if j == 0 {
            0
        } else {
            let span = (2 * j + 1) as u128;
            ((u128::from(self.rng.next_u64()) * span) >> 64) as i128 - j
        };
        Duration::from_micros(u64::try_from((base + offset).max(0)).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_form() {
        let c: ImpairConfig = "loss=2%,delay=10ms,jitter=5ms,dup=1%,seed=9"
            .parse()
            .unwrap();
        assert_eq!(
            c,
            ImpairConfig {
                loss: 0.02,
                delay: Duration::from_millis(10),
                jitter: Duration::from_millis(5),
                dup: 0.01,
                seed: 9,
            }
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
    }

    #[test]
    fn same_seed_same_fate_and_rates_are_roughly_right() {
        let cfg = ImpairConfig {
            loss: 0.1,
            dup: 0.05,
            delay: Duration::from_millis(10),
            jitter: Duration::from_millis(5),
            seed: 42,
        };
        let (a, stats) = run(cfg, 10_000);
        let (b, _) = run(cfg, 10_000);
        assert_eq!(a, b);
        assert!((800..1200).contains(&stats.lost), "{stats:?}");
        assert!((350..650).contains(&stats.duplicated), "{stats:?}");
        // Jitter of ±5 ms on packets 1 ms apart reorders some of them.
        assert!(a.windows(2).any(|w| w[1].1 < w[0].1));
        // Every delivery is 5–15 ms after submission.
        for &(t, i) in &a {
            let d = t - u64::from(i) * 1000;
            assert!((5000..=15000).contains(&d), "delay {d}");
        }
    }

    #[test]
    fn the_queue_is_bounded() {
        let mut imp = Impairer::new(ImpairConfig {
            delay: Duration::from_secs(10),
            ..ImpairConfig::default()
        });
        for _ in 0..MAX_QUEUED + 10 {
            imp.submit(Instant::ZERO, Direction::In, b"x");
        }
        assert_eq!(imp.queued(), MAX_QUEUED);
        assert_eq!(imp.stats().overflowed, 10);
    }
}
