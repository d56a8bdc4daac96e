//! RACK-TLP (RFC 8985): time-based loss detection from a log of transmissions, plus the
//! per-segment state RFC 6675's `pipe` and `NextSeg` need.
//!
//! The log holds one record per segment sent and not yet cumulatively acknowledged:
//! its sequence range, when it was (last) sent, and whether it was retransmitted, is
//! SACKed, or is marked lost. Records are contiguous and ascending from SND.UNA. The log
//! is bounded by [`MAX_RECORDS`] (beyond that, new data extends the last record) and is
//! a `Vec` released when nothing is outstanding, so idle connections hold none of it.

use super::sack::Scoreboard;
use super::seq::SeqNum;
use crate::time::{Duration, Instant};
use alloc::collections::VecDeque;

/// The most transmission records kept.
pub const MAX_RECORDS: usize = 4096;

const RETRANSMITTED: u8 = 1;
const LOST: u8 = 2;
const SACKED: u8 = 4;

/// One transmission: `[start, end)` last sent at `xmit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sent {
    /// First sequence number.
    pub start: SeqNum,
    /// One past the last sequence number.
    pub end: SeqNum,
    /// When it was last sent.
    pub xmit: Instant,
    flags: u8,
}

impl Sent {
    /// Sent more than once (Karn: no RTT sample from it).
    pub fn retransmitted(&self) -> bool {
        self.flags & RETRANSMITTED != 0
    }
    /// Marked lost and not retransmitted since.
    pub fn lost(&self) -> bool {
        self.flags & LOST != 0
    }
    /// Wholly SACKed.
    pub fn sacked(&self) -> bool {
        self.flags & SACKED != 0
    }
    fn len(&self) -> usize {
        self.end.since(self.start)
    }
}

/// What RACK keeps about the path across idle periods, when the rest is released.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RackMemory {
    min_rtt_us: u32,
    reo_wnd_mult: u8,
    reo_wnd_persist: u8,
    reordering_seen: bool,
}

/// RACK state (RFC 8985 §6.1) and the transmission log.
#[derive(Clone, Debug, Default)]
pub struct Rack {
    log: VecDeque<Sent>,
    /// Records carrying any mark (retransmitted, lost, SACKed). Zero in the common case of
    /// cumulative ACKs only: then an ACK touches just the acknowledged prefix, `pipe` is
    /// the log's span, and no record can be lost.
    flagged: usize,
    /// RACK.xmit_ts / RACK.end_seq: the most recently sent segment known delivered.
    xmit_ts: Instant,
    end_seq: SeqNum,
    /// RACK.rtt: its round-trip time, in microseconds.
    rtt_us: u32,
    /// RACK.min_RTT in microseconds (0: none yet).
    min_rtt_us: u32,
    /// RACK.fack: the highest end of any delivered segment.
    fack: SeqNum,
    /// RACK.dsack_round: SND.NXT when the last D-SACK widened the window.
    dsack_round: Option<SeqNum>,
    /// RACK.reo_wnd_mult − 1, and RACK.reo_wnd_persist.
    reo_wnd_mult: u8,
    reo_wnd_persist: u8,
    /// RACK.reordering_seen.
    reordering_seen: bool,
    /// Something has been delivered (RACK.xmit_ts is meaningful).
    have_delivered: bool,
}

impl Rack {
    /// No log, nothing measured.
    pub const EMPTY: Rack = Rack {
        log: VecDeque::new(),
        flagged: 0,
        xmit_ts: Instant::ZERO,
        end_seq: SeqNum::new(0),
        rtt_us: 0,
        min_rtt_us: 0,
        fack: SeqNum::new(0),
        dsack_round: None,
        reo_wnd_mult: 0,
        reo_wnd_persist: 0,
        reordering_seen: false,
        have_delivered: false,
    };

    /// A fresh RACK that remembers what an earlier one learned about the path.
    pub fn with_memory(m: RackMemory) -> Self {
        Rack {
            min_rtt_us: m.min_rtt_us,
            reo_wnd_mult: m.reo_wnd_mult,
            reo_wnd_persist: m.reo_wnd_persist,
            reordering_seen: m.reordering_seen,
            ..Rack::EMPTY
        }
    }

    /// What is worth keeping across an idle period.
    pub fn memory(&self) -> RackMemory {
        RackMemory {
            min_rtt_us: self.min_rtt_us,
            reo_wnd_mult: self.reo_wnd_mult,
            reo_wnd_persist: self.reo_wnd_persist,
            reordering_seen: self.reordering_seen,
        }
    }

    /// Heap bytes held.
    pub fn allocated_bytes(&self) -> usize {
        self.log.capacity() * core::mem::size_of::<Sent>()
    }

    /// The log, ascending.
    pub fn log(&self) -> &VecDeque<Sent> {
        &self.log
    }

    /// RACK.min_RTT, once measured.
    #[cfg(test)]
    pub fn min_rtt(&self) -> Option<Duration> {
        (self.min_rtt_us > 0).then(|| Duration::from_micros(u64::from(self.min_rtt_us)))
    }

    /// Whether reordering has been observed on this connection.
    pub fn reordering_seen(&self) -> bool {
        self.reordering_seen
    }

    /// `[start, end)` went out at `now`: new data is appended, a retransmission updates the
    /// records it covers (clearing their lost mark).
    pub fn on_sent(&mut self, start: SeqNum, end: SeqNum, now: Instant) {
        if !start.before(end) {
            return;
        }
        let new_from = match self.log.back().map(|last| last.end) {
            Some(last_end) if start.before(last_end) => {
                for r in self.log.iter_mut() {
                    if r.start.before(end) && start.before(r.end) {
                        self.flagged += usize::from(r.flags == 0);
                        r.xmit = now;
                        r.flags = (r.flags | RETRANSMITTED) & !LOST;
                    }
                }
                last_end
            }
            _ => start,
        };
        if !new_from.before(end) {
            return;
        }
        if self.log.len() >= MAX_RECORDS
            && let Some(last) = self.log.back_mut()
        {
            // Full (STYLE R10): the last record grows instead.
            last.end = end;
            last.xmit = now;
            return;
        }
        self.log.push_back(Sent {
            start: new_from,
            end,
            xmit: now,
            flags: 0,
        });
    }

    /// The cumulative ACK is `snd_una` and `sb` holds the SACKed ranges: marks deliveries
    /// (RFC 8985 §6.2 steps 2 and 3) and drops acknowledged records.
    pub fn on_ack(&mut self, snd_una: SeqNum, sb: &Scoreboard, now: Instant) {
        if self.flagged == 0 && sb.is_empty() {
            // Only the acknowledged prefix was delivered, in order: its last record is the
            // most recently sent and gives the smallest RTT.
            let mut last = None;
            while self.log.front().is_some_and(|r| r.end.before_eq(snd_una)) {
                last = self.log.pop_front();
            }
            if let Some(r) = last {
                self.update_delivered(&r, now);
            }
        } else {
            for i in 0..self.log.len() {
                let Some(r) = self.log.get_mut(i) else { break };
                let acked = r.end.before_eq(snd_una);
                if acked || (!r.sacked() && sb.covers(r.start, r.end)) {
                    self.flagged += usize::from(r.flags == 0);
                    r.flags |= SACKED;
                    let r = *r;
                    self.update_delivered(&r, now);
                }
            }
            while self.log.front().is_some_and(|r| r.end.before_eq(snd_una)) {
                if self.log.pop_front().is_some_and(|r| r.flags != 0) {
                    self.flagged = self.flagged.saturating_sub(1);
                }
            }
        }
        if let Some(first) = self.log.front_mut() {
            first.start = first.start.max(snd_una);
        }
        if self.log.is_empty() {
            // The capacity stays for the next burst (no allocation per round trip); the whole
            // log goes when the connection has nothing left to send (`Loss::release_if_idle`).
            self.flagged = 0;
        }
    }

    /// RFC 8985 §6.2 steps 2 and 3 for one newly delivered segment.
    fn update_delivered(&mut self, r: &Sent, now: Instant) {
        let rtt = now.saturating_duration_since(r.xmit);
        let rtt_us = u32::try_from(rtt.as_micros()).unwrap_or(u32::MAX).max(1);
        // Step 3: delivered below the highest delivered end, never retransmitted: reordering.
        if !r.retransmitted() && r.end.before(self.fack) {
            self.reordering_seen = true;
        }
        self.fack = if self.have_delivered {
            self.fack.max(r.end)
        } else {
            r.end
        };
        // Step 2: an ambiguous sample from a retransmission faster than min_RTT is ignored.
        if r.retransmitted() && self.min_rtt_us > 0 && rtt_us < self.min_rtt_us {
            return;
        }
        if self.min_rtt_us == 0 || rtt_us < self.min_rtt_us {
            self.min_rtt_us = rtt_us;
        }
        if !self.have_delivered || sent_after(r.xmit, r.end, self.xmit_ts, self.end_seq) {
            self.rtt_us = rtt_us;
            self.xmit_ts = r.xmit;
            self.end_seq = r.end;
            self.have_delivered = true;
        }
    }

    /// RFC 8985 §6.2 step 4: a D-SACK widens the reordering window for 16 recoveries.
    pub fn on_dsack(&mut self, snd_una: SeqNum, snd_nxt: SeqNum) {
        if self.dsack_round.is_some_and(|r| snd_una.after_eq(r)) {
            self.dsack_round = None;
        }
        if self.dsack_round.is_none() {
            self.dsack_round = Some(snd_nxt);
            self.reo_wnd_mult = self.reo_wnd_mult.saturating_add(1);
            self.reo_wnd_persist = 16;
        }
    }

    /// Loss recovery ended (RFC 8985 §6.2 step 4's persistence count).
    pub fn on_recovery_end(&mut self) {
        self.reo_wnd_persist = self.reo_wnd_persist.saturating_sub(1);
        if self.reo_wnd_persist == 0 {
            self.reo_wnd_mult = 0;
        }
    }

    /// RACK.reo_wnd (RFC 8985 §6.2 step 4): zero until reordering is seen when recovering
    /// or once DupThresh segments are SACKed, else min_RTT/4 (times the D-SACK multiplier),
    /// capped at SRTT.
    pub fn reo_wnd(&self, in_recovery: bool, srtt: Option<Duration>) -> Duration {
        if !self.reordering_seen {
            let sacked = match self.flagged {
                0 => 0,
                _ => self.log.iter().filter(|r| r.sacked()).count(),
            };
            if in_recovery || sacked >= super::sack::DUP_THRESH {
                return Duration::ZERO;
            }
        }
        let mult = 1 + u32::from(self.reo_wnd_mult);
        let wnd = Duration::from_micros(u64::from(self.min_rtt_us / 4) * u64::from(mult));
        srtt.map_or(wnd, |s| wnd.min(s))
    }

    /// RFC 8985 §6.2 step 5: marks lost every unSACKed record sent before the most
    /// recently delivered one by more than `reo_wnd`. Returns the bytes newly marked
    /// lost and when to check again for records not yet old enough (the RACK timer).
    pub fn detect_loss(&mut self, now: Instant, reo_wnd: Duration) -> (usize, Option<Instant>) {
        if !self.have_delivered || self.flagged == 0 {
            // Unmarked records are original transmissions sent after everything delivered.
            return (0, None);
        }
        let rtt = Duration::from_micros(u64::from(self.rtt_us));
        let (xmit_ts, end_seq) = (self.xmit_ts, self.end_seq);
        let mut lost = 0;
        let mut timeout: Option<Instant> = None;
        for r in self.log.iter_mut() {
            if r.sacked() || r.lost() || !sent_after(xmit_ts, end_seq, r.xmit, r.end) {
                continue;
            }
            let deadline = r.xmit + rtt + reo_wnd;
            if deadline <= now {
                self.flagged += usize::from(r.flags == 0);
                r.flags |= LOST;
                lost += r.len();
            } else {
                timeout = Some(timeout.map_or(deadline, |t| t.min(deadline)));
            }
        }
        (lost, timeout)
    }

    /// Marks the record at SND.UNA lost (RFC 6675 `IsLost(SND.UNA)`), if it is neither
    /// SACKed nor already retransmitted (NextSeg only resends above HighRxt; a lost
    /// retransmission is RACK's or the RTO's to find). Returns whether that changed anything.
    pub fn mark_head_lost(&mut self) -> bool {
        match self.log.front_mut() {
            Some(r) if !r.sacked() && !r.lost() && !r.retransmitted() => {
                self.flagged += usize::from(r.flags == 0);
                r.flags |= LOST;
                true
            }
            _ => false,
        }
    }

    /// A retransmission timeout: every unSACKed record is lost (RFC 8985 §6.3). If the peer
    /// had SACKed the head but still not acknowledged it, it reneged (RFC 2018 §8): the
    /// SACK marks are dropped too. Returns whether it reneged.
    pub fn on_rto(&mut self) -> bool {
        let reneged = self.log.front().is_some_and(|r| r.sacked());
        for r in self.log.iter_mut() {
            if reneged {
                r.flags &= !SACKED;
            }
            if !r.sacked() {
                self.flagged += usize::from(r.flags == 0);
                r.flags |= LOST;
            }
        }
        reneged
    }

    /// RFC 6675 `pipe`: bytes believed in flight, i.e. neither SACKed nor lost (a lost
    /// record counts again once retransmitted).
    pub fn pipe(&self) -> usize {
        if self.flagged == 0 {
            return match (self.log.front(), self.log.back()) {
                (Some(first), Some(last)) => last.end.since(first.start),
                _ => 0,
            };
        }
        self.log
            .iter()
            .filter(|r| !r.sacked() && !r.lost())
            .map(Sent::len)
            .sum()
    }

    /// RFC 6675 `NextSeg` rule 1: the first record marked lost and not yet retransmitted.
    #[cfg(test)]
    pub fn next_lost(&self) -> Option<Sent> {
        if self.flagged == 0 {
            return None;
        }
        self.log.iter().find(|r| r.lost() && !r.sacked()).copied()
    }

    /// Whether any record is marked lost and awaiting retransmission.
    pub fn any_lost(&self) -> bool {
        self.flagged > 0 && self.log.iter().any(|r| r.lost() && !r.sacked())
    }

    /// The highest record not SACKed (what a tail loss probe retransmits).
    pub fn last_unsacked(&self) -> Option<Sent> {
        self.log.iter().rev().find(|r| !r.sacked()).copied()
    }
}

/// RFC 8985 `RACK_sent_after(t1, seq1, t2, seq2)`.
fn sent_after(t1: Instant, seq1: SeqNum, t2: Instant, seq2: SeqNum) -> bool {
    t1 > t2 || (t1 == t2 && seq1.after(seq2))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn s(n: u32) -> SeqNum {
        SeqNum::new(n)
    }
    fn t(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    /// Five 100-byte segments sent at 0, 1, 2, 3, 4 ms.
    fn five() -> Rack {
        let mut r = Rack::default();
        for i in 0..5u32 {
            r.on_sent(s(100 * i), s(100 * i + 100), t(u64::from(i)));
        }
        r
    }

    fn sacked(blocks: &[(u32, u32)]) -> Scoreboard {
        let mut sb = Scoreboard::default();
        let b: Vec<_> = blocks.iter().map(|&(l, r)| (s(l), s(r))).collect();
        sb.update(&b, s(0), s(500));
        sb
    }

    #[test]
    fn rfc8985_6_2_a_segment_sent_before_a_delivered_one_is_lost_after_rtt_plus_reo_wnd() {
        let mut r = five();
        r.on_ack(s(0), &sacked(&[(100, 200)]), t(50));
        assert_eq!(r.min_rtt(), Some(Duration::from_millis(49)));
        // First segment sent at 0: lost once 0 + 49 ms + reo_wnd has passed.
        let reo = Duration::from_millis(5);
        assert_eq!(r.detect_loss(t(50), reo), (0, Some(t(54))));
        assert_eq!(r.detect_loss(t(54), reo), (100, None));
        assert_eq!(r.next_lost().map(|x| x.start), Some(s(0)));
        assert_eq!(r.pipe(), 300, "one SACKed, one lost");
        // Retransmitting it clears the mark; it counts in flight again.
        r.on_sent(s(0), s(100), t(55));
        assert!(r.next_lost().is_none());
        assert_eq!(r.pipe(), 400);
        assert!(r.log()[0].retransmitted());
    }

    #[test]
    fn rfc8985_6_2_reo_wnd_is_zero_until_reordering_then_a_quarter_min_rtt() {
        let mut r = five();
        r.on_ack(s(0), &sacked(&[(300, 400)]), t(40));
        assert!(!r.reordering_seen());
        assert_eq!(r.reo_wnd(true, None), Duration::ZERO);
        assert_eq!(
            r.reo_wnd(false, None),
            Duration::from_micros(37_000 / 4),
            "fewer than DupThresh SACKed"
        );
        // The segment at 100 arrives after 300 was delivered: reordering.
        r.on_ack(s(0), &sacked(&[(100, 200), (300, 400)]), t(41));
        assert!(r.reordering_seen());
        assert_eq!(r.reo_wnd(true, None), Duration::from_micros(37_000 / 4));
        assert_eq!(
            r.reo_wnd(true, Some(Duration::from_millis(2))),
            Duration::from_millis(2),
            "capped at SRTT"
        );
        r.on_dsack(s(0), s(500));
        assert_eq!(
            r.reo_wnd(true, None),
            Duration::from_micros(2 * (37_000 / 4))
        );
    }

    #[test]
    fn cumulative_ack_drops_records_and_keeps_the_log_for_the_next_burst() {
        let mut r = five();
        assert_eq!(r.pipe(), 500);
        r.on_ack(s(250), &Scoreboard::default(), t(30));
        assert_eq!(r.log().len(), 3);
        assert_eq!(r.log()[0].start, s(250));
        assert_eq!(r.pipe(), 250, "the span of an unmarked log");
        assert_eq!(
            r.min_rtt(),
            Some(Duration::from_millis(29)),
            "from the last delivered"
        );
        r.on_ack(s(500), &Scoreboard::default(), t(31));
        assert!(r.log().is_empty());
        // The capacity stays (no allocation per round trip); `Loss::release_if_idle` frees
        // the whole flight once the connection has nothing left to send.
        assert!(r.allocated_bytes() > 0);
    }

    #[test]
    fn rfc8985_6_3_rto_marks_everything_lost_and_detects_reneging() {
        let mut r = five();
        r.on_ack(s(0), &sacked(&[(200, 300)]), t(30));
        assert!(!r.on_rto());
        assert_eq!(r.pipe(), 0);
        assert_eq!(r.log().iter().filter(|x| x.lost()).count(), 4);
        let mut r = five();
        r.on_ack(s(0), &sacked(&[(0, 100)]), t(30));
        assert!(r.on_rto(), "SND.UNA's segment SACKed yet unacknowledged");
        assert_eq!(r.log().iter().filter(|x| x.lost()).count(), 5);
    }

    #[test]
    fn the_log_is_bounded() {
        let mut r = Rack::default();
        for i in 0..(MAX_RECORDS as u32 + 10) {
            r.on_sent(s(i), s(i + 1), t(0));
        }
        assert_eq!(r.log().len(), MAX_RECORDS);
        assert_eq!(r.log().back().unwrap().end, s(MAX_RECORDS as u32 + 10));
    }
}
