//! RFC 9438 CUBIC: after a congestion event the window follows
//! `W_cubic(t) = C·(t − K)³ + W_max` (concave below `W_max`, convex above it), never slower
//! than a Reno flow would grow (the Reno-friendly region, §4.3), with β = 0.7, fast
//! convergence (§4.7) and the timeout response of §4.8.
//!
//! The cubic arithmetic is done in `f64` segments and seconds (deterministic for the same
//! inputs); the window itself is kept in whole bytes. Time comes only from the arguments.

use super::{AckSample, CongestionControl, Window};
use crate::time::{Duration, Instant};

/// RFC 9438 §5: C = 0.4 (segments / s³).
pub const C: f64 = 0.4;
/// RFC 9438 §4.6: β_cubic = 0.7.
pub const BETA: f64 = 0.7;
/// RFC 9438 §4.3: α_cubic = 3·(1 − β)/(1 + β), Reno's average growth at CUBIC's β.
pub const ALPHA: f64 = 3.0 * (1.0 - BETA) / (1.0 + BETA);

/// RFC 9438 equation 2: K = ∛((W_max − cwnd_epoch) / C), in seconds (0 if the window
/// starts at or above `w_max`).
pub fn k(w_max: f64, cwnd_epoch: f64) -> f64 {
    ((w_max - cwnd_epoch).max(0.0) / C).cbrt()
}

/// RFC 9438 equation 1: W_cubic(t) = C·(t − K)³ + W_max, in segments, `t` in seconds.
pub fn w_cubic(t: f64, k: f64, w_max: f64) -> f64 {
    let d = t - k;
    C * d * d * d + w_max
}

/// The growth epoch: one congestion avoidance stage.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Epoch {
    start: Instant,
    /// K of this epoch, seconds.
    k: f64,
    /// W_est of the Reno-friendly region (§4.3), segments.
    w_est: f64,
}

/// What a congestion event changed, kept for §4.9 undo.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Saved {
    cwnd: usize,
    ssthresh: usize,
    w_max: f64,
    cwnd_prior: usize,
}

/// CUBIC congestion control.
#[derive(Clone, Debug)]
pub struct Cubic {
    w: Window,
    /// W_max: the window (segments) just before the last reduction; 0 before any.
    w_max: f64,
    /// cwnd (bytes) when ssthresh was last set (§4.3 `cwnd_prior`).
    cwnd_prior: usize,
    epoch: Option<Epoch>,
    /// Smoothed RTT from the samples, for `W_cubic(t + RTT)`.
    srtt: Option<Duration>,
    /// Since when the sender has been application limited (that time does not count in t).
    app_limited_since: Option<Instant>,
    /// Fractional bytes of growth not yet added to cwnd.
    frac: f64,
    saved: Option<Saved>,
}

impl Cubic {
    /// A fresh controller with the RFC 6928 initial window for `mss`.
    pub fn new(mss: usize) -> Self {
        Cubic {
            w: Window::new(mss),
            w_max: 0.0,
            cwnd_prior: 0,
            epoch: None,
            srtt: None,
            app_limited_since: None,
            frac: 0.0,
            saved: None,
        }
    }

    /// W_max in segments (0 before the first congestion event).
    pub fn w_max(&self) -> f64 {
        self.w_max
    }

    /// K of the current epoch in seconds, once congestion avoidance has begun.
    pub fn k(&self) -> Option<f64> {
        self.epoch.map(|e| e.k)
    }

    fn segments(&self, bytes: usize) -> f64 {
        bytes as f64 / self.w.mss as f64
    }

    /// Begins a congestion avoidance stage at `now` from the current window (§4.2). When the
    /// window is above W_max — after a timeout (§4.8) or a slow start that HyStart++ ended
    /// without a reduction — W_max is the current window and K = 0.
    fn start_epoch(&mut self, now: Instant) -> Epoch {
        let cwnd_epoch = self.segments(self.w.cwnd);
        if self.w_max < cwnd_epoch {
            self.w_max = cwnd_epoch;
        }
        let epoch = Epoch {
            start: now,
            k: k(self.w_max, cwnd_epoch),
            w_est: cwnd_epoch,
        };
        self.epoch = Some(epoch);
        self.frac = 0.0;
        epoch
    }

    fn update_srtt(&mut self, rtt: Option<Duration>) {
        if let Some(r) = rtt {
            self.srtt = Some(
                self.srtt
                    .map_or(r, |s| s.saturating_mul(7).saturating_add(r) / 8),
            );
        }
    }

    /// Congestion avoidance for one ACK (§4.2–§4.5).
    fn avoid(&mut self, s: &AckSample) {
        let mut epoch = match self.epoch {
            Some(e) => e,
            None => self.start_epoch(s.now),
        };
        let cwnd = self.segments(self.w.cwnd);
        let acked = self.segments(s.acked);
        let t = s.now.saturating_duration_since(epoch.start).as_secs_f64();
        let rtt = self.srtt.map_or(0.0, |d| d.as_secs_f64());
        // §4.3: Reno-friendly estimate; α becomes 1 once W_est reaches cwnd_prior.
        let alpha = if epoch.w_est >= self.segments(self.cwnd_prior) {
            1.0
        } else {
            ALPHA
        };
        epoch.w_est += alpha * acked / cwnd;
        self.epoch = Some(epoch);
        let next = if w_cubic(t, epoch.k, self.w_max) < epoch.w_est {
            // §4.3: the Reno-friendly region.
            epoch.w_est
        } else {
            // §4.4/§4.5: concave or convex region; target clamped to [cwnd, 1.5·cwnd] (§4.2).
            let target = w_cubic(t + rtt, epoch.k, self.w_max).clamp(cwnd, 1.5 * cwnd);
            cwnd + (target - cwnd) / cwnd * acked
        };
        self.grow_to(next);
    }

    /// Raises cwnd to `segments` (never lowers it), carrying fractional bytes forward.
    fn grow_to(&mut self, segments: f64) {
        let want = segments * self.w.mss as f64 - self.w.cwnd as f64 + self.frac;
        if want <= 0.0 {
            return;
        }
        let whole = want.floor();
        self.frac = want - whole;
        // `whole` is finite and non-negative; `as` saturates.
        self.w.cwnd = self.w.cwnd.saturating_add(whole as usize);
    }

    fn save(&mut self) {
        self.saved = Some(Saved {
            cwnd: self.w.cwnd,
            ssthresh: self.w.ssthresh,
            w_max: self.w_max,
            cwnd_prior: self.cwnd_prior,
        });
    }

    /// §4.6 and §4.7: ssthresh = max(flight·β, 2·SMSS), W_max with fast convergence.
    fn reduce(&mut self, flight: usize) {
        self.save();
        let cwnd = self.segments(self.w.cwnd);
        self.w_max = if cwnd < self.w_max {
            // Fast convergence: the path's capacity shrank; release bandwidth sooner.
            cwnd * (1.0 + BETA) / 2.0
        } else {
            cwnd
        };
        self.cwnd_prior = self.w.cwnd;
        self.w.ssthresh = self.w.decreased(flight, 7, 10);
        self.epoch = None;
        self.app_limited_since = None;
    }
}

impl CongestionControl for Cubic {
    fn name(&self) -> &'static str {
        "cubic"
    }

    fn cwnd(&self) -> usize {
        self.w.cwnd
    }

    fn ssthresh(&self) -> usize {
        self.w.ssthresh
    }

    fn set_mss(&mut self, mss: usize) {
        self.w.set_mss(mss);
    }

    fn on_ack(&mut self, s: &AckSample) {
        self.update_srtt(s.rtt);
        if s.app_limited {
            // §5.8: no growth while application limited, and that time does not count in t.
            self.app_limited_since.get_or_insert(s.now);
            return;
        }
        if let Some(since) = self.app_limited_since.take()
            && let Some(e) = self.epoch.as_mut()
        {
            e.start += s.now.saturating_duration_since(since);
        }
        if s.acked == 0 {
            return;
        }
        if self.w.in_slow_start() {
            self.w.slow_start(s);
        } else {
            self.avoid(s);
        }
    }

    fn on_congestion_event(&mut self, _now: Instant, flight: usize) {
        self.reduce(flight);
    }

    fn set_cwnd(&mut self, cwnd: usize) {
        self.w.cwnd = cwnd.max(self.w.mss);
    }

    fn on_recovery_end(&mut self, now: Instant) {
        self.w.cwnd = self.w.ssthresh.max(self.w.mss);
        self.start_epoch(now);
    }

    fn on_rto(&mut self, _now: Instant, flight: usize) {
        self.reduce(flight);
        // §4.8: the first congestion avoidance after a timeout uses K = 0 and W_max = the
        // window at its start, which `start_epoch` does when W_max is below that window.
        self.w_max = 0.0;
        self.w.cwnd = self.w.mss;
    }

    fn on_spurious_congestion(&mut self) {
        // §4.9: restore the state from before the reduction.
        if let Some(saved) = self.saved.take() {
            self.w.cwnd = self.w.cwnd.max(saved.cwnd);
            self.w.ssthresh = saved.ssthresh;
            self.w_max = saved.w_max;
            self.cwnd_prior = saved.cwnd_prior;
            self.epoch = None;
        }
    }
}
