//! RFC 9406 HyStart++: leave the initial slow start when the round-trip time starts to grow,
//! through a conservative slow start (CSS) that returns to slow start if the rise was jitter.
//!
//! A round begins when SND.UNA passes `window_end`, the SND.NXT recorded at the start of the
//! previous round (§4.2). The controller only reports the [`Phase`] each ACK falls in; the
//! caller applies the growth (full in slow start, divided by [`CSS_GROWTH_DIVISOR`] in CSS).

use super::AckSample;
use crate::tcp::seq::SeqNum;
use crate::time::Duration;

/// RFC 9406 §4.3: RTT samples a round needs before its minimum is trusted.
pub const N_RTT_SAMPLE: u32 = 8;
/// RFC 9406 §4.3: lower clamp of the RTT increase that ends slow start.
pub const MIN_RTT_THRESH: Duration = Duration::from_millis(4);
/// RFC 9406 §4.3: upper clamp of the RTT increase that ends slow start.
pub const MAX_RTT_THRESH: Duration = Duration::from_millis(16);
/// RFC 9406 §4.3: the threshold is the last round's minimum RTT divided by this.
pub const MIN_RTT_DIVISOR: u32 = 8;
/// RFC 9406 §4.3: CSS grows the window this many times slower than slow start.
pub const CSS_GROWTH_DIVISOR: usize = 4;
/// RFC 9406 §4.3: rounds of CSS before congestion avoidance begins.
pub const CSS_ROUNDS: u32 = 5;

/// Which growth an ACK gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Standard slow start.
    SlowStart,
    /// Conservative slow start: growth divided by `CSS_GROWTH_DIVISOR`.
    Css,
    /// CSS lasted `CSS_ROUNDS` rounds: enter congestion avoidance (ssthresh = cwnd).
    Done,
}

/// An RTT in microseconds; [`INFINITY`] is the RFC's "infinity" (no sample yet).
type Micros = u32;
const INFINITY: Micros = Micros::MAX;

fn micros(d: Duration) -> Micros {
    // Saturates just below INFINITY: a sample of over an hour is still a sample.
    Micros::try_from(d.as_micros()).map_or(INFINITY - 1, |m| m.min(INFINITY - 1))
}

/// Where a slow start stands (one byte, where `window_end`'s `Option` and two flags took
/// eight).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// No ACK yet: no round has begun, `window_end` is not set.
    Fresh,
    /// Standard slow start, in a round that ends at `window_end`.
    SlowStart,
    /// Conservative slow start.
    Css,
    /// CSS lasted `CSS_ROUNDS` rounds: slow start is over.
    Done,
}

/// HyStart++ state for one slow start: 20 bytes (compact: it lives in every connection).
#[derive(Clone, Copy, Debug)]
pub struct HyStart {
    /// SND.NXT at the start of the current round (meaningful once `stage` is past `Fresh`).
    window_end: SeqNum,
    last_round_min_rtt: Micros,
    current_round_min_rtt: Micros,
    /// In CSS: the minimum RTT of the round that triggered it (`cssBaselineMinRtt`).
    css_baseline: Micros,
    rtt_sample_count: u8,
    /// Round boundaries passed in CSS.
    css_rounds: u8,
    stage: Stage,
}

impl Default for HyStart {
    fn default() -> Self {
        Self::new()
    }
}

impl HyStart {
    /// A fresh slow start.
    pub const fn new() -> Self {
        HyStart {
            window_end: SeqNum::new(0),
            last_round_min_rtt: INFINITY,
            current_round_min_rtt: INFINITY,
            css_baseline: INFINITY,
            rtt_sample_count: 0,
            css_rounds: 0,
            stage: Stage::Fresh,
        }
    }

    /// Whether conservative slow start is in progress.
    pub fn in_css(&self) -> bool {
        self.stage == Stage::Css
    }

    /// Accounts one ACK in slow start and returns the phase its growth belongs to.
    pub fn on_ack(&mut self, s: &AckSample) -> Phase {
        if self.stage == Stage::Done {
            return Phase::Done;
        }
        if self.stage == Stage::Fresh || s.snd_una.after_eq(self.window_end) {
            self.start_round(s.snd_nxt);
            if self.stage == Stage::Css {
                self.css_rounds = self.css_rounds.saturating_add(1);
                if u32::from(self.css_rounds) >= CSS_ROUNDS {
                    self.stage = Stage::Done;
                    return Phase::Done;
                }
            }
        }
        if let Some(rtt) = s.rtt {
            self.current_round_min_rtt = self.current_round_min_rtt.min(micros(rtt));
            self.rtt_sample_count = self.rtt_sample_count.saturating_add(1);
        }
        self.check_rtt();
        if self.stage == Stage::Css {
            Phase::Css
        } else {
            Phase::SlowStart
        }
    }

    /// §4.2: "windowEnd = SND.NXT; lastRoundMinRTT = currentRoundMinRTT; currentRoundMinRTT = infinity".
    fn start_round(&mut self, snd_nxt: SeqNum) {
        self.window_end = snd_nxt;
        if self.stage == Stage::Fresh {
            self.stage = Stage::SlowStart;
        }
        self.last_round_min_rtt = self.current_round_min_rtt;
        self.current_round_min_rtt = INFINITY;
        self.rtt_sample_count = 0;
    }

    /// The delay checks of §4.2, once the round has N_RTT_SAMPLE samples.
    fn check_rtt(&mut self) {
        let current = self.current_round_min_rtt;
        if u32::from(self.rtt_sample_count) < N_RTT_SAMPLE || current == INFINITY {
            return;
        }
        if self.stage == Stage::Css {
            // "If currentRoundMinRTT < cssBaselineMinRtt ... resume slow start".
            if current < self.css_baseline {
                self.stage = Stage::SlowStart;
                self.css_baseline = INFINITY;
                self.css_rounds = 0;
            }
            return;
        }
        let last = self.last_round_min_rtt;
        if last == INFINITY {
            return;
        }
        let thresh = (last / MIN_RTT_DIVISOR).clamp(micros(MIN_RTT_THRESH), micros(MAX_RTT_THRESH));
        if current >= last.saturating_add(thresh) {
            self.stage = Stage::Css;
            self.css_baseline = current;
            self.css_rounds = 0;
        }
    }
}
