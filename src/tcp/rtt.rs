//! The retransmission timeout estimator of RFC 6298.

use crate::time::Duration;

/// SRTT/RTTVAR estimator with the RFC 6298 rules (α = 1/8, β = 1/4, K = 4).
#[derive(Clone, Copy, Debug)]
pub struct RttEstimator {
    srtt: Option<Duration>,
    rttvar: Duration,
    rto: Duration,
    min_rto: Duration,
    max_rto: Duration,
}

/// Clock granularity G of RFC 6298 §2 (our clock is in microseconds; use 1 ms).
const GRANULARITY: Duration = Duration::from_millis(1);

impl RttEstimator {
    /// A fresh estimator whose RTO is `initial` until the first sample (§2.1).
    pub fn new(initial: Duration, min_rto: Duration, max_rto: Duration) -> Self {
        RttEstimator {
            srtt: None,
            rttvar: Duration::ZERO,
            rto: initial.clamp(min_rto, max_rto.max(min_rto)),
            min_rto,
            max_rto: max_rto.max(min_rto),
        }
    }

    /// Feeds one RTT measurement (§2.2, §2.3). Callers follow Karn's rule and
    /// never sample a retransmitted segment.
    pub fn sample(&mut self, rtt: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                let delta = srtt.abs_diff(rtt);
                self.rttvar = (self.rttvar * 3 + delta) / 4;
                self.srtt = Some((srtt * 7 + rtt) / 8);
            }
        }
        let srtt = self.srtt.unwrap_or(rtt);
        let rto = srtt + (self.rttvar * 4).max(GRANULARITY);
        self.rto = rto.clamp(self.min_rto, self.max_rto);
    }

    /// The current RTO, before backoff.
    pub fn rto(&self) -> Duration {
        self.rto
    }

    /// The RTO after `backoff` doublings (§5.5), capped at the maximum.
    pub fn rto_with_backoff(&self, backoff: u32) -> Duration {
        let factor = 1u32.checked_shl(backoff.min(16)).unwrap_or(u32::MAX);
        self.rto.saturating_mul(factor).min(self.max_rto)
    }

    /// The smoothed RTT, once a sample has been taken.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// The RTT variation.
    pub fn rttvar(&self) -> Duration {
        self.rttvar
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
