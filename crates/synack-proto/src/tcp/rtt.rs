//! The retransmission timeout estimator of RFC 6298.

use crate::time::Duration;

/// SRTT/RTTVAR estimator with the RFC 6298 rules (α = 1/8, β = 1/4, K = 4).
///
/// Kept as whole nanoseconds in `u64`s (40 bytes rather than 80 for five `Duration`s, one of
/// them optional): the same arithmetic as on `Duration`, which is exact nanoseconds too, for
/// any time under 584 years; longer ones saturate.
#[derive(Clone, Copy, Debug)]
pub struct RttEstimator {
    /// SRTT in ns, [`NO_SAMPLE`] before the first sample.
    srtt: u64,
    rttvar: u64,
    rto: u64,
    min_rto: u64,
    max_rto: u64,
}

/// Clock granularity G of RFC 6298 §2 (our clock is in microseconds; use 1 ms), in ns.
const GRANULARITY: u64 = 1_000_000;
/// `srtt` before any sample.
const NO_SAMPLE: u64 = u64::MAX;

/// A duration in whole nanoseconds, saturating.
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl RttEstimator {
    /// A fresh estimator whose RTO is `initial` until the first sample (§2.1).
    pub fn new(initial: Duration, min_rto: Duration, max_rto: Duration) -> Self {
        let (min_rto, max_rto) = (nanos(min_rto), nanos(max_rto));
        RttEstimator {
            srtt: NO_SAMPLE,
            rttvar: 0,
            rto: nanos(initial).clamp(min_rto, max_rto.max(min_rto)),
            min_rto,
            max_rto: max_rto.max(min_rto),
        }
    }

    /// Feeds one RTT measurement (§2.2, §2.3). Callers follow Karn's rule and
    /// never sample a retransmitted segment.
    pub fn sample(&mut self, rtt: Duration) {
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
        let rto = self
            .srtt
            .saturating_add(self.rttvar.saturating_mul(4).max(GRANULARITY));
        self.rto = rto.clamp(self.min_rto, self.max_rto);
    }

    /// The current RTO, before backoff.
    #[cfg(test)]
    pub fn rto(&self) -> Duration {
        Duration::from_nanos(self.rto)
    }

    /// The RTO after `backoff` doublings (§5.5), capped at the maximum.
    pub fn rto_with_backoff(&self, backoff: u32) -> Duration {
        let factor = 1u64.checked_shl(backoff.min(16)).unwrap_or(u64::MAX);
        Duration::from_nanos(self.rto.saturating_mul(factor).min(self.max_rto))
    }

    /// The smoothed RTT, once a sample has been taken.
    pub fn srtt(&self) -> Option<Duration> {
        (self.srtt != NO_SAMPLE).then(|| Duration::from_nanos(self.srtt))
    }

    /// The RTT variation.
    #[cfg(test)]
    pub fn rttvar(&self) -> Duration {
        Duration::from_nanos(self.rttvar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn rfc6298_2_1_initial_rto_is_one_second() {
        let e = RttEstimator::new(Duration::from_secs(1), ms(200), Duration::from_secs(60));
        assert_eq!(e.rto(), Duration::from_secs(1));
        assert_eq!(e.srtt(), None);
    }

    #[test]
    fn rfc6298_2_2_first_sample_sets_srtt_and_half_rttvar() {
        let mut e = RttEstimator::new(Duration::from_secs(1), ms(1), Duration::from_secs(60));
        e.sample(ms(100));
        assert_eq!(e.srtt(), Some(ms(100)));
        assert_eq!(e.rttvar(), ms(50));
        assert_eq!(e.rto(), ms(300));
    }

    #[test]
    fn rfc6298_2_3_later_samples_smooth() {
        let mut e = RttEstimator::new(Duration::from_secs(1), ms(1), Duration::from_secs(60));
        e.sample(ms(100));
        e.sample(ms(200));
        // rttvar = 3/4*50 + 1/4*100 = 62.5; srtt = 7/8*100 + 1/8*200 = 112.5
        assert_eq!(e.rttvar(), Duration::from_micros(62_500));
        assert_eq!(e.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(e.rto(), Duration::from_micros(362_500));
    }

    #[test]
    fn rfc6298_2_4_and_5_5_min_max_and_backoff() {
        let mut e = RttEstimator::new(Duration::from_secs(1), ms(200), Duration::from_secs(60));
        e.sample(ms(1));
        assert_eq!(e.rto(), ms(200), "clamped to the minimum");
        assert_eq!(e.rto_with_backoff(3), ms(1600));
        assert_eq!(e.rto_with_backoff(30), Duration::from_secs(60));
    }
}
