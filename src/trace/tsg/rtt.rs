//! Round-trip samples of one direction, two ways.
//!
//! * **Data → ACK** (RFC 6298 §3, Karn's rule): an ACK that advances takes one sample, the
//!   time since the last segment it covers entirely was sent, unless any segment it covers
//!   was sent more than once (the ACK could answer either copy).
//! * **Timestamps** (RFC 7323 §4): an ACK that advances echoes in TSecr the TSval of the
//!   segment that caused it; the sample is the time since that TSval was first sent. A
//!   retransmission carries a fresh TSval, so these samples stay unambiguous.
//!
//! Memory is bounded: at most [`MAX_TRACKED`] unacknowledged segments and TSvals are kept
//! (a capture of one direction only never acknowledges anything).

use std::collections::VecDeque;

/// Most outstanding segments, and most unechoed TSvals, remembered.
pub const MAX_TRACKED: usize = 1 << 16;

/// Where a sample comes from.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum RttSource {
    /// A data segment and the first ACK covering it.
    Ack,
    /// A TSval and the ACK echoing it.
    Timestamp,
}

/// One round-trip sample.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RttSample {
    /// Index of the ACK in the ladder's rows.
    pub row: usize,
    /// When the ACK was captured, µs since the connection's first segment.
    pub t_us: u64,
    /// The round trip in µs, as seen from the capture point.
    pub rtt_us: u64,
    /// How it was measured.
    pub source: RttSource,
}

#[derive(Clone, Copy, Debug)]
struct Sent {
    start: i64,
    end: i64,
    t_us: u64,
    resent: bool,
}

/// RFC 7323 §5.2: timestamps compare modulo 2^32, like sequence numbers.
fn ts_before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// The state of the sampler of one direction.
#[derive(Clone, Debug, Default)]
pub(super) struct Rtt {
    /// Segments not yet acknowledged, in order of their end.
    sent: VecDeque<Sent>,
    /// TSvals not yet echoed, each with when it was first sent, oldest first.
    tsvals: VecDeque<(u32, u64)>,
}

impl Rtt {
    /// The sender sent `[start, end)` at `t_us`; `resent` when the capture shows it was not
    /// the first copy.
    pub(super) fn sent(
        &mut self,
        start: i64,
        end: i64,
        t_us: u64,
        resent: bool,
        tsval: Option<u32>,
    ) {
        if resent {
            for s in self
                .sent
                .iter_mut()
                .filter(|s| s.start < end && start < s.end)
            {
                s.resent = true;
            }
        } else if self.sent.back().is_none_or(|b| end > b.end) {
            self.sent.push_back(Sent {
                start,
                end,
                t_us,
                resent: false,
            });
            if self.sent.len() > MAX_TRACKED {
                self.sent.pop_front();
            }
        }
        if let Some(v) = tsval
            && self.tsvals.back().is_none_or(|&(b, _)| ts_before(b, v))
        {
            self.tsvals.push_back((v, t_us));
            if self.tsvals.len() > MAX_TRACKED {
                self.tsvals.pop_front();
            }
        }
    }

    /// The receiver acknowledged up to `ack` at `t_us` (`advanced` when that is more than
    /// before), echoing `tsecr`: the samples this gives, data→ACK first.
    pub(super) fn acked(
        &mut self,
        row: usize,
        ack: i64,
        t_us: u64,
        advanced: bool,
        tsecr: Option<u32>,
    ) -> Vec<RttSample> {
        let mut out = Vec::new();
        if !advanced {
            return out;
        }
        let mut last = None;
        let mut ambiguous = false;
        while let Some(s) = self.sent.front().copied().filter(|s| s.end <= ack) {
            self.sent.pop_front();
            ambiguous |= s.resent;
            last = Some(s);
        }
        if let Some(s) = last.filter(|_| !ambiguous) {
            out.push(RttSample {
                row,
                t_us,
                rtt_us: t_us.saturating_sub(s.t_us),
                source: RttSource::Ack,
            });
        }
        if let Some(e) = tsecr.filter(|&e| e != 0) {
            while self.tsvals.front().is_some_and(|&(v, _)| ts_before(v, e)) {
                self.tsvals.pop_front();
            }
            if let Some(&(_, sent_us)) = self.tsvals.front().filter(|&&(v, _)| v == e) {
                out.push(RttSample {
                    row,
                    t_us,
                    rtt_us: t_us.saturating_sub(sent_us),
                    source: RttSource::Timestamp,
                });
            }
        }
        out
    }
}
