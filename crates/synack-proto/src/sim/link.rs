//! One direction of a simulated link: its configuration, its impairments and
//! its counters.
//!
//! Every impairment decision for a direction is drawn from that direction's own
//! ChaCha stream (seed = the network seed, stream = `from << 32 | to`), so
//! reconfiguring one link never perturbs the randomness of another.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use crate::time::{Duration, Instant};

/// Impairments for one direction of a link (`from` → `to`).
///
/// Probabilities are clamped into `0.0..=1.0` when the configuration is
/// installed with [`Network::set_link`](super::Network::set_link); `NaN`
/// becomes `0.0`. Use [`LinkConfig::validate`] to reject bad values instead.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkConfig {
    /// Fixed one-way propagation delay.
    pub delay: Duration,
    /// Extra per-packet delay, uniform in `[0, jitter]` (microsecond
    /// granularity); packets may therefore be reordered.
    pub jitter: Duration,
    /// Probability that a packet is lost in transit.
    pub loss: f64,
    /// Probability that a packet that survived is delivered twice; the extra
    /// copy gets its own jitter and its own corruption roll.
    pub duplicate: f64,
    /// Probability that one random bit of a delivered copy is flipped.
    pub corrupt: f64,
    /// Probability that a delivered copy is cut short: only its first `n` bytes arrive,
    /// `n` uniform in `0..len`. Each copy rolls separately; a truncated copy is not also
    /// corrupted. A receiver must reject every such packet (its IP length field no
    /// longer fits).
    pub truncate: f64,
    /// Bottleneck rate in bits per second; `None` is infinitely fast.
    /// `Some(0)` is a link that serialises nothing: every packet is
    /// dropped as [`Fate::QueueFull`](super::Fate::QueueFull).
    pub bandwidth_bps: Option<u64>,
    /// Largest packet (IP header included) the link carries; larger ones are
    /// dropped as [`Fate::TooBig`](super::Fate::TooBig).
    pub mtu: usize,
    /// Buffer size of the link. With a bandwidth limit it bounds the bytes
    /// waiting to be serialised (drop-tail). Without one it bounds all bytes
    /// in flight on the link. Either way the in-flight memory is bounded.
    pub queue_limit_bytes: usize,
}

/// Default buffer per link direction: 16 MiB.
pub const DEFAULT_QUEUE_LIMIT_BYTES: usize = 16 << 20;

impl Default for LinkConfig {
    /// An ideal link: 1 ms delay, no jitter, loss, duplication, corruption or truncation,
    /// MTU 1500, no bandwidth limit, a 16 MiB buffer.
    fn default() -> Self {
        LinkConfig {
            delay: Duration::from_millis(1),
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
            corrupt: 0.0,
            truncate: 0.0,
            bandwidth_bps: None,
            mtu: 1500,
            queue_limit_bytes: DEFAULT_QUEUE_LIMIT_BYTES,
        }
    }
}

/// A [`LinkConfig`] field holds a value outside its valid range.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("link config field `{field}` must be in 0..=1, got {value}")]
pub struct InvalidProbability {
    /// Name of the offending field.
    pub field: &'static str,
    /// The value found.
    pub value: f64,
}

impl LinkConfig {
    /// Sets the fixed one-way delay.
    #[must_use]
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Sets the maximum extra random delay.
    #[must_use]
    pub fn with_jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets the loss probability.
    #[must_use]
    pub fn with_loss(mut self, p: f64) -> Self {
        self.loss = p;
        self
    }

    /// Sets the duplication probability.
    #[must_use]
    pub fn with_duplicate(mut self, p: f64) -> Self {
        self.duplicate = p;
        self
    }

    /// Sets the corruption probability.
    #[must_use]
    pub fn with_corrupt(mut self, p: f64) -> Self {
        self.corrupt = p;
        self
    }

    /// Sets the truncation probability.
    #[must_use]
    pub fn with_truncate(mut self, p: f64) -> Self {
        self.truncate = p;
        self
    }

    /// Sets the bottleneck rate in bits per second.
    #[must_use]
    pub fn with_bandwidth(mut self, bps: u64) -> Self {
        self.bandwidth_bps = Some(bps);
        self
    }

    /// Sets the MTU.
    #[must_use]
    pub fn with_mtu(mut self, mtu: usize) -> Self {
        self.mtu = mtu;
        self
    }

    /// Sets the buffer size in bytes.
    #[must_use]
    pub fn with_queue_limit(mut self, bytes: usize) -> Self {
        self.queue_limit_bytes = bytes;
        self
    }

    /// Checks that every probability is in `0.0..=1.0` (and not `NaN`).
    pub fn validate(&self) -> Result<(), InvalidProbability> {
        for (field, value) in [
            ("loss", self.loss),
            ("duplicate", self.duplicate),
            ("corrupt", self.corrupt),
            ("truncate", self.truncate),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(InvalidProbability { field, value });
            }
        }
        Ok(())
    }

    /// This configuration with every probability clamped into `0.0..=1.0`
    /// (`NaN` becomes `0.0`).
    #[must_use]
    pub fn clamped(mut self) -> Self {
        for p in [
            &mut self.loss,
            &mut self.duplicate,
            &mut self.corrupt,
            &mut self.truncate,
        ] {
            *p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
        }
        self
    }
}

/// Packet counters, for one direction or for the whole network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Packets handed to the network by hosts (per direction: offered to the link).
    pub sent: u64,
    /// Copies handed to a destination host, duplicates and corrupted ones included.
    pub delivered: u64,
    /// Packets dropped by the loss impairment.
    pub lost: u64,
    /// Extra copies created by the duplicate impairment.
    pub duplicated: u64,
    /// Copies that had a bit flipped.
    pub corrupted: u64,
    /// Copies cut short by the truncate impairment (never also counted as corrupted).
    pub truncated: u64,
    /// Packets dropped for exceeding the link MTU.
    pub too_big: u64,
    /// Packets dropped because the link buffer was full.
    pub queue_full: u64,
    /// Packets with no parsable or known destination (network-wide only).
    pub unroutable: u64,
}

impl LinkStats {
    pub(super) fn add(&mut self, o: &LinkStats) {
        self.sent += o.sent;
        self.delivered += o.delivered;
        self.lost += o.lost;
        self.duplicated += o.duplicated;
        self.corrupted += o.corrupted;
        self.truncated += o.truncated;
        self.too_big += o.too_big;
        self.queue_full += o.queue_full;
        self.unroutable += o.unroutable;
    }
}

/// Why a link refused a packet at the sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Larger than the link's MTU.
    TooBig,
    /// The link's buffer is full.
    QueueFull,
}

/// One copy of a packet the link will deliver.
#[derive(Debug)]
pub struct InFlight {
    /// When it arrives.
    pub at: Instant,
    /// What arrives (damaged if `corrupted` or `truncated`).
    pub bytes: Vec<u8>,
    /// One bit was flipped.
    pub corrupted: bool,
    /// It was cut short.
    pub truncated: bool,
    /// The second copy of a duplicated packet.
    pub duplicate: bool,
}

/// What the link did with a packet that it accepted onto the wire.
#[derive(Debug)]
pub enum Transit {
    /// Lost in transit.
    Lost,
    /// Delivered as these copies (one, or two when duplicated).
    Delivered(InFlight, Option<InFlight>),
}

/// One direction of a link: the impairment model that [`Network`](super::Network) applies
/// between hosts, and that the `synack` runtime applies between a device and its stack. Pure
/// and seeded: it decides each packet's fate and arrival time; the caller holds the copies
/// until then and reports each arrival with [`delivered`](Self::delivered).
pub struct Link {
    /// What the link does to packets.
    pub cfg: LinkConfig,
    rng: ChaCha8Rng,
    /// When the bottleneck finishes serialising its backlog, in nanoseconds.
    busy_until_ns: u64,
    /// The fraction of a nanosecond past `busy_until_ns`, in units of 1/bps ns.
    busy_rem: u64,
    /// Bytes scheduled for delivery and not yet delivered.
    pub in_flight_bytes: usize,
    /// What the link did so far.
    pub stats: LinkStats,
}

impl core::fmt::Debug for Link {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Link")
            .field("cfg", &self.cfg)
            .field("in_flight_bytes", &self.in_flight_bytes)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Link {
    /// An ideal link ([`LinkConfig::default`]) from host index `from` to `to`; its random
    /// choices come from `seed`, on a stream of their own for each (from, to) pair.
    pub fn new(seed: u64, from: usize, to: usize) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // Truncating host indices above 2^32 only merges streams; still deterministic.
        rng.set_stream(((from as u64) << 32) | (to as u64 & 0xffff_ffff));
        Link {
            cfg: LinkConfig::default(),
            rng,
            busy_until_ns: 0,
            busy_rem: 0,
            in_flight_bytes: 0,
            stats: LinkStats::default(),
        }
    }

    /// A copy of `len` bytes arrived: it no longer counts against the link's buffer.
    pub fn delivered(&mut self, len: usize) {
        self.in_flight_bytes = self.in_flight_bytes.saturating_sub(len);
    }

    /// Puts `packet`, sent at `now`, onto this link. MTU and buffer checks
    /// come first (the packet never reaches the wire), then loss,
    /// duplication, corruption and truncation.
    pub fn transmit(&mut self, now: Instant, packet: &[u8]) -> Result<Transit, Refused> {
        self.stats.sent += 1;
        let len = packet.len();
        if len > self.cfg.mtu {
            self.stats.too_big += 1;
            return Err(Refused::TooBig);
        }
        let departs = match self.serialise(now, len) {
            Some(t) => t,
            None => {
                self.stats.queue_full += 1;
                return Err(Refused::QueueFull);
            }
        };
        if self.chance(self.cfg.loss) {
            self.stats.lost += 1;
            return Ok(Transit::Lost);
        }
        let first = self.copy(departs, packet, false);
        let second = if self.chance(self.cfg.duplicate) && self.room_for(len) {
            self.stats.duplicated += 1;
            Some(self.copy(departs, packet, true))
        } else {
            None
        };
        Ok(Transit::Delivered(first, second))
    }

    /// A copy leaving the bottleneck at `departs`: jitter, corruption,
    /// truncation, and in-flight accounting.
    fn copy(&mut self, departs: Instant, packet: &[u8], duplicate: bool) -> InFlight {
        let jitter = self.below_inclusive(duration_micros(self.cfg.jitter));
        let at = departs + self.cfg.delay + Duration::from_micros(jitter);
        let mut bytes = packet.to_vec();
        // A truncated copy is not also corrupted (the cut is its damage), so the two
        // counters count disjoint copies. With truncation off this draws nothing.
        let truncated = self.chance(self.cfg.truncate) && self.cut(&mut bytes);
        let corrupted = !truncated && self.chance(self.cfg.corrupt) && self.flip_bit(&mut bytes);
        if truncated {
            self.stats.truncated += 1;
        }
        if corrupted {
            self.stats.corrupted += 1;
        }
        self.in_flight_bytes = self.in_flight_bytes.saturating_add(bytes.len());
        InFlight {
            at,
            bytes,
            corrupted,
            truncated,
            duplicate,
        }
    }

    /// Admits `len` bytes into the bottleneck at `now` and returns when the
    /// last bit leaves it, or `None` if the buffer is full.
    fn serialise(&mut self, now: Instant, len: usize) -> Option<Instant> {
        let Some(bps) = self.cfg.bandwidth_bps else {
            return self.room_for(len).then_some(now);
        };
        if bps == 0 {
            return None;
        }
        let now_ns = now.total_micros().saturating_mul(1000);
        if self.busy_rem >= bps || self.busy_until_ns < now_ns {
            // Idle, or the rate changed: the fraction no longer means anything.
            self.busy_rem = 0;
        }
        let start_ns = self.busy_until_ns.max(now_ns);
        // Bytes still waiting in the bottleneck, rounded up.
        let backlog_bits = u128::from(start_ns - now_ns) * u128::from(bps);
        let backlog = backlog_bits.div_ceil(8_000_000_000);
        if backlog.saturating_add(len as u128) > self.cfg.queue_limit_bytes as u128 {
            return None;
        }
        // Exact arithmetic: whole nanoseconds plus a remainder in 1/bps ns,
        // so a run of packets never drifts from len*8/bw.
        let bits_ns = len as u128 * 8 * 1_000_000_000 + u128::from(self.busy_rem);
        let tx_ns = bits_ns / u128::from(bps);
        self.busy_rem = u64::try_from(bits_ns % u128::from(bps)).unwrap_or(0);
        let end_ns = u128::from(start_ns).saturating_add(tx_ns);
        self.busy_until_ns = u64::try_from(end_ns).unwrap_or(u64::MAX);
        let last_bit_ns = self.busy_until_ns + u64::from(self.busy_rem > 0);
        Some(Instant::from_micros(last_bit_ns.div_ceil(1000)))
    }

    /// Whether an unlimited-bandwidth link has buffer room for `len` more
    /// bytes in flight. Bandwidth-limited links bound the backlog instead.
    fn room_for(&self, len: usize) -> bool {
        self.cfg.bandwidth_bps.is_some()
            || self.in_flight_bytes.saturating_add(len) <= self.cfg.queue_limit_bytes
    }

    /// Flips one uniformly chosen bit anywhere in `bytes`; false if empty.
    fn flip_bit(&mut self, bytes: &mut [u8]) -> bool {
        let bits = (bytes.len() as u64).saturating_mul(8);
        if bits == 0 {
            return false;
        }
        let bit = self.below_inclusive(bits - 1);
        let index = usize::try_from(bit / 8).unwrap_or(usize::MAX);
        match bytes.get_mut(index) {
            Some(b) => {
                *b ^= 1 << (bit % 8);
                true
            }
            None => false,
        }
    }

    /// Keeps only the first `n` bytes, `n` uniform in `0..len`; false if empty.
    fn cut(&mut self, bytes: &mut Vec<u8>) -> bool {
        let Some(max) = (bytes.len() as u64).checked_sub(1) else {
            return false;
        };
        let keep = self.below_inclusive(max);
        bytes.truncate(usize::try_from(keep).unwrap_or(0));
        true
    }

    /// True with probability `p`. Draws nothing when `p` is zero, so an ideal
    /// link consumes no randomness.
    fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        // 53 random bits give a uniform f64 in [0, 1).
        let u = (self.rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        u < p
    }

    /// A uniform integer in `[0, max]`; draws nothing when `max` is zero.
    fn below_inclusive(&mut self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        let range = u128::from(max) + 1;
        // Multiply-shift: bias below 2^-64 per draw, and deterministic.
        ((u128::from(self.rng.next_u64()) * range) >> 64) as u64
    }
}

fn duration_micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
