//! A model-based congestion controller after draft-ietf-ccwg-bbr (the BBRv1 core with
//! BBRv3's loss-rate bound): instead of reading every loss as congestion, it estimates the
//! path's bottleneck bandwidth (a windowed max of delivery-rate samples) and its round-trip
//! propagation time (a windowed min of RTT samples) and keeps `cwnd` at a gain times their
//! product, the bandwidth-delay product (BDP). Random loss leaves the model, and so the
//! window, untouched; only a loss rate above [`LOSS_THRESH`] in a round bounds it.
//!
//! State machine (draft §4.3): Startup (gain 2/ln2, doubling per round) until the bandwidth
//! stops growing by 25% over three rounds, Drain until the queue Startup built is gone,
//! then ProbeBW cycling its gain (1.25, 0.75, then six phases of 1, a min RTT each), with ProbeRTT (cwnd = 4 segments for 200 ms) when
//! the min-RTT estimate is 10 s old.
//!
//! Input: one [`RateSample`] per acceptable ACK, in or out of loss recovery, carrying the
//! bytes newly delivered (cumulatively or by SACK) and newly marked lost. Delivery rate is
//! measured per round trip (draft §4.5's "delivery rate estimation" simplified to
//! per-round counters instead of per-packet state): bytes delivered since the round began
//! over the time since it began. A round ends once the bytes in flight at its start have been delivered or
//! marked lost and at least one min RTT has elapsed, so a burst of compressed ACKs cannot
//! inflate a sample.
//!
//! Pacing: the stack does not pace. [`Bbr::pacing_rate`] is computed, but only `cwnd`
//! limits sending, so the gain cycle acts on the window instead: in ProbeBW `cwnd` is
//! (pacing gain + [`UNPACED_HEADROOM`]) × BDP + quanta — 1.5 BDP while probing, 1.0 while
//! draining the probe, 1.25 cruising — capped at the draft's 2 BDP. With pacing, `cwnd =
//! 2·BDP` is only a cap and about one BDP is in flight; unpaced, the window *is* the
//! flight, and 2 BDP would keep a full BDP standing in the bottleneck's queue (on the
//! benchmark's path, whose queue is one BDP, that overflowed at every burst: 12% loss
//! instead of 1%). 1.25 BDP keeps the bottleneck busy with a quarter BDP of queue. Drain,
//! lacking a pacing gain below 1, holds `cwnd` at one BDP until the flight falls to it.

use super::{AckSample, CongestionControl, RateSample, initial_window};
use crate::time::{Duration, Instant};

/// Startup's pacing and cwnd gain, 2/ln 2 (draft §4.6.1), in thousandths.
pub const STARTUP_GAIN: u64 = 2885;
/// ProbeBW's cwnd gain (draft §4.6.3), in thousandths: the cap of the unpaced window.
pub const CWND_GAIN: u64 = 2000;
/// Without pacing, ProbeBW's window gain is its pacing gain plus this (capped at
/// [`CWND_GAIN`]): 1.5, 1.0 and 1.25 BDP, in thousandths.
pub const UNPACED_HEADROOM: u64 = 250;
/// ProbeBW's pacing gain cycle (BBRv1): probe up, drain the probe's queue, six cruising
/// phases; in thousandths.
pub const GAIN_CYCLE: [u64; 8] = [1250, 750, 1000, 1000, 1000, 1000, 1000, 1000];
/// Rounds over which the bandwidth filter keeps its max (draft: BBRBtlBwFilterLen).
pub const BW_WINDOW_ROUNDS: u32 = 10;
/// How long a min-RTT estimate lasts before ProbeRTT (draft: MinRTTFilterLen).
pub const MIN_RTT_WINDOW: Duration = Duration::from_secs(10);
/// How long ProbeRTT holds the window at [`MIN_CWND_SEGMENTS`] (draft: ProbeRTTDuration).
pub const PROBE_RTT_TIME: Duration = Duration::from_millis(200);
/// The smallest window, in segments (draft: BBRMinPipeCwnd).
pub const MIN_CWND_SEGMENTS: usize = 4;
/// Segments added to the BDP target for ACK aggregation and delayed ACKs (the "quanta").
pub const QUANTA_SEGMENTS: usize = 3;
/// Loss rate per round above which the window is bounded (BBRv3 BBRLossThresh 2%), in
/// thousandths.
pub const LOSS_THRESH: u64 = 20;
/// The bound a lossy round sets, as a fraction of the window (BBRv3 BBRBeta 0.7), in
/// thousandths; never below one BDP.
pub const LOSS_BETA: u64 = 700;

/// The phase of the model's state machine (draft §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Exponential search for the bottleneck bandwidth.
    Startup,
    /// Emptying the queue Startup built.
    Drain,
    /// Steady state: cycling the pacing gain around the estimated bandwidth.
    ProbeBw,
    /// Briefly a tiny window, to measure the propagation delay afresh.
    ProbeRtt,
}

/// A windowed max over round numbers: the best, second best and third best values of the
/// window with their rounds (Kathleen Nichols' algorithm, as Linux `win_minmax`), so the
/// max can expire without storing every sample.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MaxFilter {
    val: [u64; 3],
    round: [u32; 3],
}

impl MaxFilter {
    /// The current maximum (0 before any sample).
    pub fn get(&self) -> u64 {
        self.val[0]
    }

    fn reset(&mut self, round: u32, v: u64) {
        self.val = [v; 3];
        self.round = [round; 3];
    }

    /// Adds sample `v` taken in `round`; samples older than `window` rounds expire.
    pub fn update(&mut self, round: u32, v: u64, window: u32) {
        if v >= self.val[0] || round.wrapping_sub(self.round[2]) > window {
            self.reset(round, v);
            return;
        }
        if v >= self.val[1] {
            self.val[1..].fill(v);
            self.round[1..].fill(round);
        } else if v >= self.val[2] {
            self.val[2] = v;
            self.round[2] = round;
        }
        // Expire the best sample, then maybe the second, promoting the later ones.
        let age = round.wrapping_sub(self.round[0]);
        if age > window {
            self.val = [self.val[1], self.val[2], v];
            self.round = [self.round[1], self.round[2], round];
            if round.wrapping_sub(self.round[0]) > window {
                self.val = [self.val[1], self.val[2], v];
                self.round = [self.round[1], self.round[2], round];
            }
        } else if self.val[1] == self.val[0] && age > window / 4 {
            // A quarter of the window passed with no better sample: take a fresh second.
            self.val[1..].fill(v);
            self.round[1..].fill(round);
        } else if self.val[2] == self.val[1] && age > window / 2 {
            self.val[2] = v;
            self.round[2] = round;
        }
    }
}

/// The bookkeeping of the current round trip, for the round count and the rate sample.
#[derive(Clone, Copy, Debug)]
struct Round {
    /// When the round began.
    start: Instant,
    /// Bytes delivered in it so far.
    delivered: u32,
    /// Bytes marked lost in it so far.
    lost: u32,
    /// Bytes of the flight at its start not yet delivered or lost; it ends at 0.
    remaining: u32,
    /// Some ACK in it was application limited.
    app_limited: bool,
}

/// BBR congestion control.
#[derive(Clone, Debug)]
pub struct Bbr {
    mss: u32,
    cwnd: u32,
    mode: Mode,
    /// ProbeBW phase index into [`GAIN_CYCLE`].
    cycle: u8,
    /// Rounds in a row without 25% bandwidth growth.
    full_bw_count: u8,
    /// Startup found the bottleneck bandwidth.
    filled_pipe: bool,
    /// ProbeRTT's hold reached its round (only after the flight fell to 4 segments).
    probe_rtt_round_done: bool,
    /// Rounds counted since the start.
    rounds: u32,
    /// The window before ProbeRTT or an RTO, restored after.
    prior_cwnd: u32,
    /// After an RTO: a slow-start window that grows per ACK until it meets the model.
    rto_cap: Option<u32>,
    /// BBRv3 `inflight_hi`-like bound set by a round whose loss rate exceeded 2%.
    loss_bound: Option<u32>,
    /// Min RTT in microseconds (`u32::MAX` before any sample).
    min_rtt_us: u32,
    /// When `min_rtt_us` was last set.
    min_rtt_stamp: Instant,
    /// ProbeBW: when this phase began. ProbeRTT: when the hold ends.
    phase_stamp: Instant,
    /// Something was delivered or lost: the rounds have begun.
    started: bool,
    /// The bandwidth at the last 25% growth (Startup's plateau test), bytes/s.
    full_bw: u64,
    /// Max delivery rate, bytes/s, over [`BW_WINDOW_ROUNDS`].
    bw: MaxFilter,
    round: Round,
}

impl Bbr {
    /// A fresh controller with the RFC 6928 initial window for `mss`.
    pub fn new(mss: usize) -> Self {
        let mss = to_u32(mss.max(1));
        Bbr {
            mss,
            cwnd: to_u32(initial_window(mss as usize)),
            mode: Mode::Startup,
            cycle: 0,
            full_bw_count: 0,
            filled_pipe: false,
            probe_rtt_round_done: false,
            rounds: 0,
            prior_cwnd: 0,
            rto_cap: None,
            loss_bound: None,
            min_rtt_us: u32::MAX,
            min_rtt_stamp: Instant::ZERO,
            phase_stamp: Instant::ZERO,
            started: false,
            full_bw: 0,
            bw: MaxFilter::default(),
            round: Round {
                start: Instant::ZERO,
                delivered: 0,
                lost: 0,
                remaining: 0,
                app_limited: false,
            },
        }
    }

    /// The state machine's current mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The bottleneck bandwidth estimate, bytes per second (0 before the first round).
    pub fn bandwidth(&self) -> u64 {
        self.bw.get()
    }

    /// The propagation delay estimate, once an RTT was sampled.
    pub fn min_rtt(&self) -> Option<Duration> {
        (self.min_rtt_us != u32::MAX).then(|| Duration::from_micros(u64::from(self.min_rtt_us)))
    }

    /// Round trips counted so far.
    pub fn rounds(&self) -> u32 {
        self.rounds
    }

    /// The bandwidth-delay product, bytes, once both estimates exist.
    pub fn bdp(&self) -> Option<usize> {
        let rtt = self.min_rtt()?;
        (self.bw.get() > 0).then(|| {
            let b = u128::from(self.bw.get()) * rtt.as_micros() / 1_000_000;
            usize::try_from(b).unwrap_or(usize::MAX)
        })
    }

    /// The sending rate the model asks for, bytes per second: pacing gain × bandwidth.
    /// Computed for inspection; the stack does not pace (see the module docs).
    pub fn pacing_rate(&self) -> u64 {
        self.bw.get().saturating_mul(self.pacing_gain()) / 1000
    }

    /// The pacing gain of the current mode and phase, in thousandths.
    pub fn pacing_gain(&self) -> u64 {
        match self.mode {
            Mode::Startup => STARTUP_GAIN,
            Mode::Drain => 1_000_000 / STARTUP_GAIN,
            Mode::ProbeBw => GAIN_CYCLE
                .get(usize::from(self.cycle))
                .copied()
                .unwrap_or(1000),
            Mode::ProbeRtt => 1000,
        }
    }

    /// The window the model asks for: gain × BDP + quanta, at least 4 segments; `None`
    /// until there is a BDP (Startup then grows like slow start).
    pub fn target_cwnd(&self) -> Option<usize> {
        let gain = match self.mode {
            Mode::Startup => STARTUP_GAIN,
            // Without pacing, Drain must drain through the window.
            Mode::Drain => 1000,
            // Without pacing, the gain cycle acts on the window (see the module docs).
            Mode::ProbeBw => CWND_GAIN.min(self.pacing_gain() + UNPACED_HEADROOM),
            Mode::ProbeRtt => return Some(self.min_cwnd()),
        };
        let bdp = self.bdp()?;
        let t = (bdp as u128 * u128::from(gain) / 1000) as usize;
        let quanta = QUANTA_SEGMENTS * self.mss as usize;
        Some(t.saturating_add(quanta).max(self.min_cwnd()))
    }

    fn min_cwnd(&self) -> usize {
        MIN_CWND_SEGMENTS * self.mss as usize
    }

    /// One ACK's worth of model update: round, bandwidth, min RTT, mode, window.
    fn update(&mut self, s: &RateSample) {
        let first = !self.started;
        self.started |= s.delivered > 0 || s.lost > 0;
        let r = &mut self.round;
        r.delivered = r.delivered.saturating_add(to_u32(s.delivered));
        r.lost = r.lost.saturating_add(to_u32(s.lost));
        r.remaining = r
            .remaining
            .saturating_sub(to_u32(s.delivered.saturating_add(s.lost)));
        r.app_limited |= s.app_limited;
        // Draft §4.6.4.3: the estimate's expiry is judged before this sample refreshes it.
        let expired = self.min_rtt().is_some()
            && s.now.saturating_duration_since(self.min_rtt_stamp) > MIN_RTT_WINDOW;
        if let Some(rtt) = s.rtt {
            self.update_min_rtt(s.now, rtt, expired);
        }
        if first && self.started {
            // The first delivery begins the first round; there is no interval to measure yet.
            self.begin_round(s);
        } else if self.round_ended(s.now) {
            self.end_round(s);
        }
        self.update_mode(s, expired);
        self.update_cwnd(s);
    }

    fn update_min_rtt(&mut self, now: Instant, rtt: Duration, expired: bool) {
        let us = u32::try_from(rtt.as_micros()).unwrap_or(u32::MAX - 1);
        if us < self.min_rtt_us || expired {
            self.min_rtt_us = us;
            self.min_rtt_stamp = now;
        }
    }

    fn begin_round(&mut self, s: &RateSample) {
        self.round = Round {
            start: s.now,
            delivered: 0,
            lost: 0,
            remaining: to_u32(s.inflight),
            app_limited: false,
        };
    }

    /// Whether the flight at the round's start has been delivered or lost, and at least a
    /// min RTT passed.
    fn round_ended(&self, now: Instant) -> bool {
        let fate_known = self.round.remaining == 0;
        let long_enough = self
            .min_rtt()
            .is_none_or(|r| now.saturating_duration_since(self.round.start) >= r);
        fate_known && long_enough
    }

    /// A round trip ended: take its rate sample, check for loss and for a full pipe, and
    /// begin the next.
    fn end_round(&mut self, s: &RateSample) {
        let r = self.round;
        self.rounds = self.rounds.wrapping_add(1);
        let (delivered, lost) = (u64::from(r.delivered), u64::from(r.lost));
        let us = s.now.saturating_duration_since(r.start).as_micros();
        if us > 0 && delivered > 0 {
            let rate = u128::from(delivered) * 1_000_000 / us;
            let rate = u64::try_from(rate).unwrap_or(u64::MAX);
            // An application-limited sample only counts if it raises the estimate.
            if !r.app_limited || rate > self.bw.get() {
                self.bw.update(self.rounds, rate, BW_WINDOW_ROUNDS);
            }
        }
        self.on_round_loss(delivered, lost);
        if !r.app_limited {
            self.check_full_pipe();
        }
        self.begin_round(s);
        if self.mode == Mode::ProbeRtt && self.phase_stamp != Instant::ZERO {
            self.probe_rtt_round_done = true;
        }
    }

    /// BBRv3's loss-rate response: a round losing more than 2% of its bytes bounds the
    /// window to 0.7 of itself (never below one BDP) and ends Startup; clean rounds lift
    /// the bound by an eighth until it no longer binds.
    fn on_round_loss(&mut self, delivered: u64, lost: u64) {
        let total = delivered + lost;
        if total > 0 && lost * 1000 > total * LOSS_THRESH {
            let bdp = self.bdp().unwrap_or(0);
            let bound = (self.cwnd as u64 * LOSS_BETA / 1000) as usize;
            self.loss_bound = Some(to_u32(bound.max(bdp).max(self.min_cwnd())));
            if self.mode == Mode::Startup && self.bw.get() > 0 {
                self.filled_pipe = true;
            }
        } else if let Some(b) = self.loss_bound {
            let grown = b.saturating_add((b / 8).max(self.mss));
            self.loss_bound = (usize::try_from(grown).unwrap_or(usize::MAX)
                < self.target_cwnd().unwrap_or(usize::MAX))
            .then_some(grown);
        }
    }

    /// Draft §4.6.1.2: the pipe is full once the bandwidth grew less than 25% for three
    /// rounds in a row.
    fn check_full_pipe(&mut self) {
        if self.filled_pipe {
            return;
        }
        let bw = self.bw.get();
        if bw.saturating_mul(4) >= self.full_bw.saturating_mul(5) {
            self.full_bw = bw;
            self.full_bw_count = 0;
            return;
        }
        self.full_bw_count += 1;
        if self.full_bw_count >= 3 {
            self.filled_pipe = true;
        }
    }

    fn update_mode(&mut self, s: &RateSample, min_rtt_expired: bool) {
        let bdp = self.bdp();
        match self.mode {
            Mode::Startup if self.filled_pipe => self.mode = Mode::Drain,
            Mode::Drain if bdp.is_some_and(|b| s.inflight <= b) => self.enter_probe_bw(s.now, 2),
            Mode::ProbeBw => self.advance_cycle(s, bdp),
            Mode::ProbeRtt => self.probe_rtt(s),
            _ => {}
        }
        if min_rtt_expired && self.mode != Mode::ProbeRtt {
            self.prior_cwnd = self.prior_cwnd.max(self.cwnd);
            self.mode = Mode::ProbeRtt;
            self.phase_stamp = Instant::ZERO;
            self.probe_rtt_round_done = false;
        }
    }

    fn enter_probe_bw(&mut self, now: Instant, phase: u8) {
        self.mode = Mode::ProbeBw;
        self.cycle = phase;
        self.phase_stamp = now;
    }

    /// Draft §4.6.3 (BBRv1): each phase lasts a min RTT; the probe phase may not end before
    /// the flight reached 1.25 BDP unless a loss happened, the drain phase ends as soon as
    /// the flight is back to one BDP.
    fn advance_cycle(&mut self, s: &RateSample, bdp: Option<usize>) {
        let Some(rtt) = self.min_rtt() else { return };
        let Some(bdp) = bdp else { return };
        let elapsed = s.now.saturating_duration_since(self.phase_stamp) >= rtt;
        let gain = self.pacing_gain();
        let go = if gain > 1000 {
            elapsed && (s.lost > 0 || s.inflight as u128 * 1000 >= bdp as u128 * u128::from(gain))
        } else if gain < 1000 {
            elapsed || s.inflight <= bdp
        } else {
            elapsed
        };
        if go {
            self.cycle = (self.cycle + 1) % GAIN_CYCLE.len() as u8;
            self.phase_stamp = s.now;
        }
    }

    /// Draft §4.6.4: once the flight fell to 4 segments, hold 200 ms and a round, then
    /// take the min RTT as fresh and go back to ProbeBW (or Startup).
    fn probe_rtt(&mut self, s: &RateSample) {
        if self.phase_stamp == Instant::ZERO {
            if s.inflight <= self.min_cwnd() {
                self.phase_stamp = s.now + PROBE_RTT_TIME;
                self.probe_rtt_round_done = false;
                self.round.remaining = to_u32(s.inflight);
            }
            return;
        }
        if self.probe_rtt_round_done && s.now >= self.phase_stamp {
            self.min_rtt_stamp = s.now;
            self.cwnd = self.cwnd.max(self.prior_cwnd);
            self.prior_cwnd = 0;
            if self.filled_pipe {
                self.enter_probe_bw(s.now, 2);
            } else {
                self.mode = Mode::Startup;
            }
        }
    }

    /// Draft §4.6.4.4: move the window toward the target — up by what this ACK delivered,
    /// down at once — then apply the loss bound and the post-RTO cap.
    fn update_cwnd(&mut self, s: &RateSample) {
        let cwnd = self.cwnd as usize;
        let grown = cwnd.saturating_add(s.delivered);
        let next = match self.target_cwnd() {
            Some(t) if self.filled_pipe || self.mode == Mode::ProbeRtt => grown.min(t),
            Some(t) if cwnd < t => grown,
            Some(_) => cwnd,
            None => grown,
        };
        let mut next = next.max(self.min_cwnd());
        if self.mode == Mode::ProbeRtt {
            next = next.min(self.min_cwnd());
        }
        self.cwnd = to_u32(next);
        if let Some(cap) = self.rto_cap {
            let cap = cap.saturating_add(to_u32(s.delivered));
            self.rto_cap = (cap < self.cwnd).then_some(cap);
        }
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl CongestionControl for Bbr {
    fn name(&self) -> &'static str {
        "bbr"
    }

    fn cwnd(&self) -> usize {
        let mut c = self.cwnd;
        if let Some(b) = self.loss_bound {
            c = c.min(b);
        }
        if let Some(cap) = self.rto_cap {
            c = c.min(cap);
        }
        c as usize
    }

    /// BBR keeps no slow-start threshold: `usize::MAX` in Startup, the window after it
    /// (what PRR is told to aim at; BBR then ignores PRR's window).
    fn ssthresh(&self) -> usize {
        if self.filled_pipe {
            self.cwnd()
        } else {
            usize::MAX
        }
    }

    fn set_mss(&mut self, mss: usize) {
        let mss = to_u32(mss.max(1));
        if !self.started && self.cwnd == to_u32(initial_window(self.mss as usize)) {
            self.cwnd = to_u32(initial_window(mss as usize));
        }
        self.mss = mss;
    }

    /// The model is fed by [`CongestionControl::on_rate_sample`], for every ACK.
    fn on_ack(&mut self, _s: &AckSample) {}

    fn on_rate_sample(&mut self, s: &RateSample) {
        self.update(s);
    }

    fn wants_rate_samples(&self) -> bool {
        true
    }

    /// Loss is not congestion to the model: the window stays where the model put it (a
    /// loss rate above 2% in a round bounds it, see [`LOSS_THRESH`]).
    fn on_congestion_event(&mut self, _now: Instant, _flight: usize) {}

    /// PRR's window is ignored, except after an RTO, where it lowers the slow-start cap.
    fn set_cwnd(&mut self, cwnd: usize) {
        if let Some(cap) = self.rto_cap.as_mut() {
            *cap = to_u32(cwnd.max(self.mss as usize));
        }
    }

    fn on_recovery_end(&mut self, _now: Instant) {
        self.rto_cap = None;
    }

    /// A timeout says the model may be stale: restart from one segment, growing like slow
    /// start until the model's window is reached (draft §4.6.4.5).
    fn on_rto(&mut self, _now: Instant, _flight: usize) {
        self.rto_cap = Some(self.mss);
    }
}
