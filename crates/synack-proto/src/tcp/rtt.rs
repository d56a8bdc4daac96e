//! The retransmission timeout estimator of RFC 6298.

use crate::time::Duration;

/// SRTT/RTTVAR estimator with the RFC 6298 rules (α = 1/8, β = 1/4, K = 4).
///
/// Kept as whole nanoseconds in `u64`s (24 bytes rather than 80 for five `Duration`s, one of
/// them optional): the same arithmetic as on `Duration`, which is exact nanoseconds too, for
/// any time under 584 years; longer ones saturate. The configured bounds are not stored:
/// the caller passes them ([`RtoBounds`], from the connection's shared configuration) where
/// they are needed, on a sample and for a backed-off RTO.
#[derive(Clone, Copy, Debug)]
pub struct RttEstimator {
    /// SRTT in ns, [`NO_SAMPLE`] before the first sample.
    srtt: u64,
    rttvar: u64,
    /// The RTO before backoff, in ns, within the bounds.
    rto: u64,
}

/// The configured initial, minimum and maximum RTO, in ns (from the connection's
/// [`Config`](super::Config), so that no connection stores a copy).
#[derive(Clone, Copy, Debug)]
pub struct RtoBounds {
    initial: u64,
    min: u64,
    /// Never below `min`.
    max: u64,
}

impl RtoBounds {
    pub fn new(initial: Duration, min_rto: Duration, max_rto: Duration) -> Self {
        let (min, max) = (nanos(min_rto), nanos(max_rto));
        RtoBounds {
            initial: nanos(initial),
            min,
            max: max.max(min),
        }
    }
}

/// Clock granularity G of RFC 6298 §2 (our clock is in microseconds; use 1 ms), in ns.
const GRANULARITY: u64 = 1_000_000;
/// `srtt` before any sample.
const NO_SAMPLE: u64 = u64::MAX;

/// A duration in whole nanoseconds, saturating (in 64-bit arithmetic: this runs on every
/// RTO computation, where `as_nanos`'s 128 bits cost more).
fn nanos(d: Duration) -> u64 {
    d.as_secs()
        .checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(u64::from(d.subsec_nanos())))
        .unwrap_or(u64::MAX)
}

impl RttEstimator {
    /// A fresh estimator whose RTO is the initial one until the first sample (§2.1).
    pub fn new(b: RtoBounds) -> Self {
        RttEstimator {
            srtt: NO_SAMPLE,
            rttvar: 0,
            rto: b.initial.clamp(b.min, b.max),
        }
    }

    /// Feeds one RTT measurement (§2.2, §2.3). Callers follow Karn's rule and
    /// never sample a retransmitted segment.
    pub fn sample(&mut self, rtt: Duration, b: RtoBounds) {
        // One below the marker: a sample of 584 years is still a sample.
        let rtt = nanos(rtt).min(NO_SAMPLE - 1);
        if self.srtt == NO_SAMPLE {
            self.srtt = rtt;
            self.rttvar = rtt / 2;
        } else {
            let delta = self.srtt.abs_diff(rtt);
            self.rttvar = self.rttvar.saturating_mul(3).saturating_add(delta) / 4;
            self.srtt = (self.srtt.saturating_mul(7).saturating_add(rtt) / 8).min(NO_SAMPLE - 1);
        }
        // §2.2–§2.4: RTO = SRTT + max(G, K·RTTVAR), within the bounds.
        let rto = self
            .srtt
            .saturating_add(self.rttvar.saturating_mul(4).max(GRANULARITY));
        self.rto = rto.clamp(b.min, b.max);
    }

    /// The current RTO, before backoff.
    #[cfg(test)]
    pub fn rto(&self) -> Duration {
        Duration::from_nanos(self.rto)
    }

    /// The RTO after `backoff` doublings (§5.5), capped at the maximum; `bounds` is asked
    /// for only when backing off (the RTO itself is always within them).
    pub fn rto_with_backoff(&self, backoff: u32, bounds: impl FnOnce() -> RtoBounds) -> Duration {
        if backoff == 0 {
            return Duration::from_nanos(self.rto);
        }
        let factor = 1u64.checked_shl(backoff.min(16)).unwrap_or(u64::MAX);
        Duration::from_nanos(self.rto.saturating_mul(factor).min(bounds().max))
    }

    /// The smoothed RTT, once a sample has been taken.
    pub fn srtt(&self) -> Option<Duration> {
        (self.srtt != NO_SAMPLE).then(|| Duration::from_nanos(self.srtt))
    }

    #[cfg(test)]
    pub fn rttvar(&self) -> Duration {
        Duration::from_nanos(self.rttvar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn est(initial: Duration, min: Duration, max: Duration) -> (RttEstimator, RtoBounds) {
        let b = RtoBounds::new(initial, min, max);
        (RttEstimator::new(b), b)
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn rfc6298_2_1_initial_rto_is_one_second() {
        let (e, _) = est(Duration::from_secs(1), ms(200), Duration::from_secs(60));
        assert_eq!(e.rto(), Duration::from_secs(1));
        assert_eq!(e.srtt(), None);
    }

    #[test]
    fn rfc6298_2_2_first_sample_sets_srtt_and_half_rttvar() {
        let (mut e, b) = est(Duration::from_secs(1), ms(1), Duration::from_secs(60));
        e.sample(ms(100), b);
        assert_eq!(e.srtt(), Some(ms(100)));
        assert_eq!(e.rttvar(), ms(50));
        assert_eq!(e.rto(), ms(300));
    }

    #[test]
    fn rfc6298_2_3_later_samples_smooth() {
        let (mut e, b) = est(Duration::from_secs(1), ms(1), Duration::from_secs(60));
        e.sample(ms(100), b);
        e.sample(ms(200), b);
        // rttvar = 3/4*50 + 1/4*100 = 62.5; srtt = 7/8*100 + 1/8*200 = 112.5
        assert_eq!(e.rttvar(), Duration::from_micros(62_500));
        assert_eq!(e.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(e.rto(), Duration::from_micros(362_500));
    }

    #[test]
    fn rfc6298_2_4_and_5_5_min_max_and_backoff() {
        let (mut e, b) = est(Duration::from_secs(1), ms(200), Duration::from_secs(60));
        e.sample(ms(1), b);
        assert_eq!(e.rto(), ms(200), "clamped to the minimum");
        assert_eq!(e.rto_with_backoff(3, || b), ms(1600));
        assert_eq!(e.rto_with_backoff(30, || b), Duration::from_secs(60));
    }
}
