//! Congestion control behind one trait: RFC 5681 NewReno and RFC 9438 CUBIC, both starting
//! with RFC 9406 HyStart++ slow start, a model-based BBR ([`Bbr`], fed every ACK through
//! [`CongestionControl::on_rate_sample`]), plus RFC 6937 proportional rate reduction for the
//! recovery code to drive `cwnd` while it repairs losses.
//!
//! Division of labour: an algorithm only grows the window ([`CongestionControl::on_ack`],
//! called outside loss recovery) and picks `ssthresh` when congestion is detected. Loss
//! detection and the recovery state machine live in the connection (`tcp::recovery`),
//! which writes `cwnd` through [`CongestionControl::set_cwnd`] during recovery (using
//! [`Prr`]) and calls [`CongestionControl::on_recovery_end`] when recovery completes.
//! The model-based [`Bbr`] is the exception: it takes a [`RateSample`] from every ACK, in
//! recovery too, keeps `cwnd` at its model, and ignores PRR's `set_cwnd` (random loss is
//! not congestion to it).
//!
//! All windows are in bytes; time comes only from the arguments.

pub mod bbr;
#[cfg(test)]
mod bbr_tests;
pub mod cubic;
pub mod hystart;
mod newreno;
mod prr;
#[cfg(test)]
mod tests;

pub use bbr::Bbr;
pub use cubic::Cubic;
pub use hystart::{HyStart, Phase};
pub use newreno::NewReno;
pub use prr::Prr;

use super::send_buf::{narrow, wide};
use super::seq::SeqNum;
use crate::time::{Duration, Instant};
use alloc::boxed::Box;

/// RFC 3465 §2.2 Appropriate Byte Counting limit in slow start: at most L = 2 SMSS of growth
/// per ACK.
pub const ABC_L: usize = 2;

/// What the congestion controller learns from one ACK that advanced delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckSample {
    /// When the ACK arrived.
    pub now: Instant,
    /// Bytes newly delivered by this ACK (cumulatively or by SACK).
    pub acked: usize,
    /// Bytes in flight just before this ACK arrived.
    pub flight_before: usize,
    /// The round-trip time sample this ACK gave, if any.
    pub rtt: Option<Duration>,
    /// SND.UNA after the ACK was processed.
    pub snd_una: SeqNum,
    /// SND.NXT when the ACK arrived.
    pub snd_nxt: SeqNum,
    /// The sender was not using the whole window (limited by the application or the peer's
    /// receive window), so the window has not been tested and must not grow.
    pub app_limited: bool,
}

/// What one acceptable ACK told about delivery, in or out of loss recovery: the input of a
/// model-based controller ([`Bbr`]), which measures the delivery rate from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateSample {
    /// When the ACK arrived.
    pub now: Instant,
    /// Bytes newly delivered: newly acknowledged cumulatively or newly SACKed (bytes SACKed
    /// earlier and now cumulatively acknowledged are not counted twice).
    pub delivered: usize,
    /// Bytes newly marked lost by this ACK.
    pub lost: usize,
    /// Bytes in flight after the ACK (RFC 6675 `pipe` on a SACK connection).
    pub inflight: usize,
    /// The round-trip time sample this ACK gave, if any.
    pub rtt: Option<Duration>,
    /// The sender had nothing more to send: the rate measured is the application's.
    pub app_limited: bool,
}

/// A congestion control algorithm. Windows are in bytes.
pub trait CongestionControl: core::fmt::Debug + Send {
    /// The algorithm's short name ("newreno", "cubic").
    fn name(&self) -> &'static str;
    /// The congestion window.
    fn cwnd(&self) -> usize;
    /// The slow-start threshold (`usize::MAX` until the first congestion event).
    fn ssthresh(&self) -> usize;
    /// Sets the sender MSS after the handshake; an untouched initial window is recomputed
    /// for it (RFC 6928).
    fn set_mss(&mut self, mss: usize);
    /// Window growth for one ACK; only called outside loss recovery.
    fn on_ack(&mut self, s: &AckSample);
    /// Loss recovery begins: choose `ssthresh` (the multiplicative decrease) and remember
    /// what is needed for later growth and undo. `cwnd` is then driven by the recovery code.
    fn on_congestion_event(&mut self, now: Instant, flight: usize);
    /// The recovery code (PRR) sets the window.
    fn set_cwnd(&mut self, cwnd: usize);
    /// Loss recovery completed: `cwnd = ssthresh` (RFC 6937 §3), a new growth epoch begins.
    fn on_recovery_end(&mut self, now: Instant);
    /// The retransmission timer expired (RFC 5681 §3.1 equation 4, RFC 9438 §4.8).
    fn on_rto(&mut self, now: Instant, flight: usize);
    /// The last congestion event turned out spurious: restore the state before it
    /// (RFC 9438 §4.9). The default does nothing.
    fn on_spurious_congestion(&mut self) {}
    /// Every acceptable ACK, in or out of recovery, with what it delivered. Loss-based
    /// algorithms ignore it (the default); a model-based one is driven by it.
    fn on_rate_sample(&mut self, _s: &RateSample) {}
    /// Whether [`CongestionControl::on_rate_sample`] is used, so the connection can skip
    /// building samples for loss-based algorithms. The default is no.
    fn wants_rate_samples(&self) -> bool {
        false
    }
}

/// Which congestion control algorithm a connection uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CcAlgorithm {
    /// RFC 5681 / RFC 6582 NewReno (β = 0.5).
    NewReno,
    /// RFC 9438 CUBIC (β = 0.7), the default as in Linux.
    #[default]
    Cubic,
    /// BBR-style model-based control (draft-ietf-ccwg-bbr): random loss does not shrink
    /// the window; the best choice on a lossy long-fat path.
    Bbr,
}

/// One of the built-in algorithms, dispatched statically. BBR's model (136 bytes) is boxed
/// once when the connection is made, so the enum stays the size of CUBIC (56) for
/// the default algorithm; no call allocates.
#[derive(Clone, Debug)]
pub enum AnyCc {
    /// NewReno.
    NewReno(NewReno),
    /// CUBIC.
    Cubic(Cubic),
    /// BBR.
    Bbr(Box<Bbr>),
}

impl AnyCc {
    /// A fresh controller of the given kind for a sender MSS of `mss`.
    pub fn new(algorithm: CcAlgorithm, mss: usize) -> Self {
        match algorithm {
            CcAlgorithm::NewReno => AnyCc::NewReno(NewReno::new(mss)),
            CcAlgorithm::Cubic => AnyCc::Cubic(Cubic::new(mss)),
            CcAlgorithm::Bbr => AnyCc::Bbr(Box::new(Bbr::new(mss))),
        }
    }

    /// Heap bytes held: BBR's boxed model, CUBIC's avoidance state once allocated.
    pub fn allocated_bytes(&self) -> usize {
        match self {
            AnyCc::NewReno(c) => c.allocated_bytes(),
            AnyCc::Cubic(c) => c.allocated_bytes(),
            AnyCc::Bbr(_) => size_of::<Bbr>(),
        }
    }
}

/// Forwards one trait method to whichever algorithm `AnyCc` holds (static dispatch).
macro_rules! delegate {
    ($self:ident, $c:ident => $call:expr) => {
        match $self {
            AnyCc::NewReno($c) => $call,
            AnyCc::Cubic($c) => $call,
            AnyCc::Bbr($c) => $call,
        }
    };
}

impl CongestionControl for AnyCc {
    fn name(&self) -> &'static str {
        delegate!(self, c => c.name())
    }
    fn cwnd(&self) -> usize {
        delegate!(self, c => c.cwnd())
    }
    fn ssthresh(&self) -> usize {
        delegate!(self, c => c.ssthresh())
    }
    fn set_mss(&mut self, mss: usize) {
        delegate!(self, c => c.set_mss(mss))
    }
    fn on_ack(&mut self, s: &AckSample) {
        delegate!(self, c => c.on_ack(s))
    }
    fn on_congestion_event(&mut self, now: Instant, flight: usize) {
        delegate!(self, c => c.on_congestion_event(now, flight))
    }
    fn set_cwnd(&mut self, cwnd: usize) {
        delegate!(self, c => c.set_cwnd(cwnd))
    }
    fn on_recovery_end(&mut self, now: Instant) {
        delegate!(self, c => c.on_recovery_end(now))
    }
    fn on_rto(&mut self, now: Instant, flight: usize) {
        delegate!(self, c => c.on_rto(now, flight))
    }
    fn on_spurious_congestion(&mut self) {
        delegate!(self, c => c.on_spurious_congestion())
    }
    fn on_rate_sample(&mut self, s: &RateSample) {
        delegate!(self, c => c.on_rate_sample(s))
    }
    fn wants_rate_samples(&self) -> bool {
        delegate!(self, c => c.wants_rate_samples())
    }
}

/// The initial window of RFC 6928 §2: min(10·MSS, max(2·MSS, 14600)).
pub fn initial_window(mss: usize) -> usize {
    (10 * mss).min((2 * mss).max(14600))
}

/// [`initial_window`] of a 32-bit MSS, in 32 bits (computed in `usize`, where ten of them
/// cannot overflow, then saturating).
fn initial_window_u32(mss: u32) -> u32 {
    narrow(initial_window(wide(mss)))
}

/// `ssthresh` before the first congestion event: "arbitrarily high" (RFC 5681 §3.1),
/// reported as `usize::MAX`.
const NO_SSTHRESH: u32 = u32::MAX;

/// The window state every algorithm shares: cwnd, ssthresh, MSS and the slow start. The
/// three byte counts are 32 bits each, saturating (no window reaches 4 GiB: the peer's is
/// under 2^30, RFC 7323 §2.3), so with HyStart++'s 20 bytes the window is 32 where
/// `usize`s made it 48 (it lives in every connection). The algorithms read and write it in
/// `usize` through the accessors.
#[derive(Clone, Debug)]
pub(crate) struct Window {
    cwnd: u32,
    /// [`NO_SSTHRESH`] until the first congestion event; a finite one saturates just below.
    ssthresh: u32,
    /// Never 0.
    mss: u32,
    pub hystart: HyStart,
}

impl Window {
    pub fn new(mss: usize) -> Self {
        let mss = narrow(mss).max(1);
        Window {
            cwnd: initial_window_u32(mss),
            ssthresh: NO_SSTHRESH,
            mss,
            hystart: HyStart::new(),
        }
    }

    /// The congestion window in bytes.
    pub fn cwnd(&self) -> usize {
        wide(self.cwnd)
    }

    /// Sets the congestion window (saturating at 4 GiB).
    pub fn set_cwnd(&mut self, cwnd: usize) {
        self.cwnd = narrow(cwnd);
    }

    /// Grows the congestion window by `bytes`, saturating.
    pub fn grow(&mut self, bytes: usize) {
        self.cwnd = self.cwnd.saturating_add(narrow(bytes));
    }

    /// The slow-start threshold, `usize::MAX` before the first congestion event.
    pub fn ssthresh(&self) -> usize {
        if self.ssthresh == NO_SSTHRESH {
            usize::MAX
        } else {
            wide(self.ssthresh)
        }
    }

    /// Sets the slow-start threshold; `usize::MAX` is "none yet" again (an undo), any other
    /// value saturates below it.
    pub fn set_ssthresh(&mut self, ssthresh: usize) {
        self.ssthresh = if ssthresh == usize::MAX {
            NO_SSTHRESH
        } else {
            narrow(ssthresh).min(NO_SSTHRESH - 1)
        };
    }

    /// The sender MSS in bytes (at least 1).
    pub fn mss(&self) -> usize {
        wide(self.mss)
    }

    /// RFC 6928: the initial window follows the MSS learned in the handshake if untouched.
    pub fn set_mss(&mut self, mss: usize) {
        let mss = narrow(mss).max(1);
        if self.ssthresh == NO_SSTHRESH && self.cwnd == initial_window_u32(self.mss) {
            self.cwnd = initial_window_u32(mss);
        }
        self.mss = mss;
    }

    /// Whether the window is below ssthresh (RFC 5681 §3.1).
    pub fn in_slow_start(&self) -> bool {
        self.cwnd < self.ssthresh
    }

    /// Slow-start growth for one ACK: RFC 5681 §3.1 with RFC 3465 byte counting (L = 2), and
    /// HyStart++ (RFC 9406) in the initial slow start only (§4.3: "SHOULD use HyStart++ only
    /// for the initial slow start").
    pub fn slow_start(&mut self, s: &AckSample) {
        let phase = if self.ssthresh == NO_SSTHRESH {
            self.hystart.on_ack(s)
        } else {
            Phase::SlowStart
        };
        let increase = s.acked.min(ABC_L * self.mss());
        match phase {
            Phase::SlowStart => self.grow(increase),
            Phase::Css => self.grow(increase / hystart::CSS_GROWTH_DIVISOR),
            // CSS_ROUNDS of conservative slow start done: "enter congestion avoidance by
            // setting the ssthresh to the current cwnd" (RFC 9406 §4.2).
            Phase::Done => self.ssthresh = self.cwnd.min(NO_SSTHRESH - 1),
        }
    }

    /// ssthresh = max(`base` · num / den, 2·SMSS): the multiplicative decrease.
    pub fn decreased(&self, base: usize, num: usize, den: usize) -> usize {
        let scaled = (base as u128 * num as u128 / den.max(1) as u128) as usize;
        scaled.max(2 * self.mss())
    }
}
