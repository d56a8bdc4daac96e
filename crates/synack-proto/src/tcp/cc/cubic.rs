//! RFC 9438 CUBIC: after a congestion event the window follows
//! `W_cubic(t) = C·(t − K)³ + W_max` (concave below `W_max`, convex above it), never slower
//! than a Reno flow would grow (the Reno-friendly region, §4.3), with β = 0.7, fast
//! convergence (§4.7) and the timeout response of §4.8.
//!
//! The cubic arithmetic is done in `f64` segments and seconds (deterministic for the same
//! inputs); the window itself is kept in whole bytes. Time comes only from the arguments.

use super::{AckSample, CongestionControl, Window};
use crate::time::{Duration, Instant};
use alloc::boxed::Box;

/// RFC 9438 §5: C = 0.4 (segments / s³).
pub const C: f64 = 0.4;
/// RFC 9438 §4.6: β_cubic = 0.7.
pub const BETA: f64 = 0.7;
/// RFC 9438 §4.3: α_cubic = 3·(1 − β)/(1 + β), Reno's average growth at CUBIC's β.
pub const ALPHA: f64 = 3.0 * (1.0 - BETA) / (1.0 + BETA);

/// RFC 9438 equation 2: K = ∛((W_max − cwnd_epoch) / C), in seconds (0 if the window
/// starts at or above `w_max`).
pub fn k(w_max: f64, cwnd_epoch: f64) -> f64 {
    cbrt((w_max - cwnd_epoch).max(0.0) / C)
}

/// ∛x: std's where there is one, else libm's (`no_std`).
#[cfg(feature = "std")]
fn cbrt(x: f64) -> f64 {
    x.cbrt()
}

/// ∛x: std's where there is one, else libm's (`no_std`).
#[cfg(not(feature = "std"))]
fn cbrt(x: f64) -> f64 {
    libm::cbrt(x)
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

/// What CUBIC keeps from its first congestion avoidance stage or congestion event on. It
/// lives on the heap, allocated then and kept: a connection that never leaves its initial
/// slow start (most short or idle ones) pays one pointer for it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Avoidance {
    /// W_max: the window (segments) just before the last reduction; 0 before any.
    w_max: f64,
    /// cwnd (bytes) when ssthresh was last set (§4.3 `cwnd_prior`).
    cwnd_prior: usize,
    epoch: Option<Epoch>,
    /// Fractional bytes of growth not yet added to cwnd.
    frac: f64,
    saved: Option<Saved>,
}

/// `srtt` before any sample.
const NO_SRTT: u64 = u64::MAX;
/// `app_limited_since` while the sender is not application limited.
const NOT_LIMITED: Instant = Instant::from_micros(u64::MAX);

/// CUBIC congestion control.
#[derive(Clone, Debug)]
pub struct Cubic {
    w: Window,
    /// Smoothed RTT from the samples in ns ([`NO_SRTT`] before any), for `W_cubic(t + RTT)`.
    srtt: u64,
    /// Since when the sender has been application limited (that time does not count in t);
    /// [`NOT_LIMITED`] when it is not.
    app_limited_since: Instant,
    /// Congestion avoidance state, allocated on first use.
    ca: Option<Box<Avoidance>>,
}

impl Cubic {
    /// A fresh controller with the RFC 6928 initial window for `mss`.
    pub fn new(mss: usize) -> Self {
        Cubic {
            w: Window::new(mss),
            srtt: NO_SRTT,
            app_limited_since: NOT_LIMITED,
            ca: None,
        }
    }

    /// Heap bytes held: the avoidance state, once allocated.
    pub fn allocated_bytes(&self) -> usize {
        self.ca.as_ref().map_or(0, |_| size_of::<Avoidance>())
    }

    /// W_max in segments (0 before the first congestion event).
    pub fn w_max(&self) -> f64 {
        self.ca.as_ref().map_or(0.0, |c| c.w_max)
    }

    /// K of the current epoch in seconds, once congestion avoidance has begun.
    pub fn k(&self) -> Option<f64> {
        self.ca.as_ref().and_then(|c| c.epoch).map(|e| e.k)
    }

    /// The congestion avoidance state, allocated (all zero, as a fresh controller has it)
    /// on first use.
    fn ca(&mut self) -> &mut Avoidance {
        self.ca.get_or_insert_with(Box::default)
    }

    fn segments(&self, bytes: usize) -> f64 {
        bytes as f64 / self.w.mss() as f64
    }

    /// Begins a congestion avoidance stage at `now` from the current window (§4.2). When the
    /// window is above W_max — after a timeout (§4.8) or a slow start that HyStart++ ended
    /// without a reduction — W_max is the current window and K = 0.
    fn start_epoch(&mut self, now: Instant) -> Epoch {
        let cwnd_epoch = self.segments(self.w.cwnd());
        let ca = self.ca();
        if ca.w_max < cwnd_epoch {
            ca.w_max = cwnd_epoch;
        }
        let epoch = Epoch {
            start: now,
            k: k(ca.w_max, cwnd_epoch),
            w_est: cwnd_epoch,
        };
        ca.epoch = Some(epoch);
        ca.frac = 0.0;
        epoch
    }

    fn update_srtt(&mut self, rtt: Option<Duration>) {
        if let Some(r) = rtt {
            let r = u64::try_from(r.as_nanos())
                .unwrap_or(u64::MAX)
                .min(NO_SRTT - 1);
            self.srtt = if self.srtt == NO_SRTT {
                r
            } else {
                self.srtt.saturating_mul(7).saturating_add(r) / 8
            };
        }
    }

    /// Congestion avoidance for one ACK (§4.2–§4.5).
    fn avoid(&mut self, s: &AckSample) {
        let mut epoch = match self.ca.as_ref().and_then(|c| c.epoch) {
            Some(e) => e,
            None => self.start_epoch(s.now),
        };
        let cwnd = self.segments(self.w.cwnd());
        let acked = self.segments(s.acked);
        let t = s.now.saturating_duration_since(epoch.start).as_secs_f64();
        let rtt = if self.srtt == NO_SRTT {
            0.0
        } else {
            Duration::from_nanos(self.srtt).as_secs_f64()
        };
        let (w_max, cwnd_prior) = {
            let ca = self.ca();
            (ca.w_max, ca.cwnd_prior)
        };
        // §4.3: Reno-friendly estimate; α becomes 1 once W_est reaches cwnd_prior.
        let alpha = if epoch.w_est >= self.segments(cwnd_prior) {
            1.0
        } else {
            ALPHA
        };
        epoch.w_est += alpha * acked / cwnd;
        self.ca().epoch = Some(epoch);
        let next = if w_cubic(t, epoch.k, w_max) < epoch.w_est {
            // §4.3: the Reno-friendly region.
            epoch.w_est
        } else {
            // §4.4/§4.5: concave or convex region; target clamped to [cwnd, 1.5·cwnd] (§4.2).
            let target = w_cubic(t + rtt, epoch.k, w_max).clamp(cwnd, 1.5 * cwnd);
            cwnd + (target - cwnd) / cwnd * acked
        };
        self.grow_to(next);
    }

    /// Raises cwnd to `segments` (never lowers it), carrying fractional bytes forward.
    fn grow_to(&mut self, segments: f64) {
        let base = segments * self.w.mss() as f64 - self.w.cwnd() as f64;
        let ca = self.ca();
        let want = base + ca.frac;
        if want <= 0.0 {
            return;
        }
        // `want` > 0, so truncating is the floor (`as` saturates), and needs no libm.
        let whole = want as u64 as f64;
        ca.frac = want - whole;
        // `whole` is finite and non-negative; `as` saturates.
        self.w.grow(whole as usize);
    }

    fn save(&mut self) {
        let (cwnd, ssthresh) = (self.w.cwnd(), self.w.ssthresh());
        let ca = self.ca();
        ca.saved = Some(Saved {
            cwnd,
            ssthresh,
            w_max: ca.w_max,
            cwnd_prior: ca.cwnd_prior,
        });
    }

    /// §4.6 and §4.7: ssthresh = max(flight·β, 2·SMSS), W_max with fast convergence.
    fn reduce(&mut self, flight: usize) {
        self.save();
        let cwnd_bytes = self.w.cwnd();
        let cwnd = self.segments(cwnd_bytes);
        let ca = self.ca();
        ca.w_max = if cwnd < ca.w_max {
            // Fast convergence: the path's capacity shrank; release bandwidth sooner.
            cwnd * (1.0 + BETA) / 2.0
        } else {
            cwnd
        };
        ca.cwnd_prior = cwnd_bytes;
        ca.epoch = None;
        self.w.set_ssthresh(self.w.decreased(flight, 7, 10));
        self.app_limited_since = NOT_LIMITED;
    }
}

impl CongestionControl for Cubic {
    fn name(&self) -> &'static str {
        "cubic"
    }

    fn cwnd(&self) -> usize {
        self.w.cwnd()
    }

    fn ssthresh(&self) -> usize {
        self.w.ssthresh()
    }

    fn set_mss(&mut self, mss: usize) {
        self.w.set_mss(mss);
    }

    fn on_ack(&mut self, s: &AckSample) {
        self.update_srtt(s.rtt);
        if s.app_limited {
            // §5.8: no growth while application limited, and that time does not count in t.
            if self.app_limited_since == NOT_LIMITED {
                self.app_limited_since = s.now;
            }
            return;
        }
        let since = core::mem::replace(&mut self.app_limited_since, NOT_LIMITED);
        if since != NOT_LIMITED
            && let Some(e) = self.ca.as_mut().and_then(|c| c.epoch.as_mut())
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
        self.w.set_cwnd(cwnd.max(self.w.mss()));
    }

    fn on_recovery_end(&mut self, now: Instant) {
        self.w.set_cwnd(self.w.ssthresh().max(self.w.mss()));
        self.start_epoch(now);
    }

    fn on_rto(&mut self, _now: Instant, flight: usize) {
        self.reduce(flight);
        // §4.8: the first congestion avoidance after a timeout uses K = 0 and W_max = the
        // window at its start, which `start_epoch` does when W_max is below that window.
        self.ca().w_max = 0.0;
        self.w.set_cwnd(self.w.mss());
    }

    fn on_spurious_congestion(&mut self) {
        // §4.9: restore the state from before the reduction.
        if let Some(ca) = self.ca.as_deref_mut()
            && let Some(saved) = ca.saved.take()
        {
            self.w.set_cwnd(self.w.cwnd().max(saved.cwnd));
            self.w.set_ssthresh(saved.ssthresh);
            ca.w_max = saved.w_max;
            ca.cwnd_prior = saved.cwnd_prior;
            ca.epoch = None;
        }
    }
}
