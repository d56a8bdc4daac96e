//! RFC 5681 NewReno window growth: slow start with RFC 3465 byte counting (and RFC 9406
//! HyStart++ in the initial slow start), congestion avoidance of one SMSS per window of
//! acknowledged bytes, and β = 0.5. The RFC 6582 recovery state machine lives in
//! `tcp::recovery`.

use super::{AckSample, CongestionControl, Window};
use crate::time::Instant;
use alloc::boxed::Box;

/// NewReno congestion control.
#[derive(Clone, Debug)]
pub struct NewReno {
    w: Window,
    /// RFC 3465 §2.1 `bytes_acked` in congestion avoidance.
    bytes_acked: usize,
    /// (cwnd, ssthresh) before the last congestion event, for undo: boxed at the first
    /// congestion event and kept (one allocation per connection at most), so that a NewReno
    /// controller is no larger than a CUBIC one and [`AnyCc`](super::AnyCc) stays at 56 bytes.
    prior: Option<Box<Option<(usize, usize)>>>,
}

impl NewReno {
    /// A fresh controller with the RFC 6928 initial window for `mss`.
    pub fn new(mss: usize) -> Self {
        NewReno {
            w: Window::new(mss),
            bytes_acked: 0,
            prior: None,
        }
    }

    /// Remembers (cwnd, ssthresh) for undo.
    fn save_prior(&mut self) {
        let now = Some((self.w.cwnd(), self.w.ssthresh()));
        match self.prior.as_deref_mut() {
            Some(p) => *p = now,
            None => self.prior = Some(Box::new(now)),
        }
    }

    /// Heap bytes held: the undo record, once a congestion event allocated it.
    pub fn allocated_bytes(&self) -> usize {
        self.prior
            .as_ref()
            .map_or(0, |_| size_of::<Option<(usize, usize)>>())
    }

    /// RFC 5681 equation 4: ssthresh = max(FlightSize / 2, 2·SMSS).
    fn halved(&self, flight: usize) -> usize {
        self.w.decreased(flight, 1, 2)
    }
}

impl CongestionControl for NewReno {
    fn name(&self) -> &'static str {
        "newreno"
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
        // RFC 7661 spirit: a window the sender did not fill has not been validated.
        if s.app_limited || s.acked == 0 {
            return;
        }
        if self.w.in_slow_start() {
            self.w.slow_start(s);
            return;
        }
        // RFC 3465 §2.1: once a full cwnd of bytes is acknowledged, cwnd += SMSS.
        self.bytes_acked = self.bytes_acked.saturating_add(s.acked);
        if self.bytes_acked >= self.w.cwnd() {
            self.bytes_acked -= self.w.cwnd();
            self.w.grow(self.w.mss());
        }
    }

    fn on_congestion_event(&mut self, _now: Instant, flight: usize) {
        self.save_prior();
        self.w.set_ssthresh(self.halved(flight));
        self.bytes_acked = 0;
    }

    fn set_cwnd(&mut self, cwnd: usize) {
        self.w.set_cwnd(cwnd.max(self.w.mss()));
    }

    fn on_recovery_end(&mut self, _now: Instant) {
        self.w.set_cwnd(self.w.ssthresh().max(self.w.mss()));
        self.bytes_acked = 0;
    }

    fn on_rto(&mut self, _now: Instant, flight: usize) {
        self.save_prior();
        self.w.set_ssthresh(self.halved(flight));
        // The loss window: one segment (RFC 5681 §3.1).
        self.w.set_cwnd(self.w.mss());
        self.bytes_acked = 0;
    }

    fn on_spurious_congestion(&mut self) {
        if let Some((cwnd, ssthresh)) = self.prior.as_deref_mut().and_then(Option::take) {
            self.w.set_cwnd(self.w.cwnd().max(cwnd));
            self.w.set_ssthresh(ssthresh);
        }
    }
}
