//! Congestion control (RFC 5681 slow start and congestion avoidance, with the
//! fast retransmit / fast recovery of RFC 6582 NewReno) and the RFC 6928 initial window.

use super::seq::SeqNum;

/// NewReno congestion state, in bytes.
#[derive(Clone, Copy, Debug)]
pub struct NewReno {
    cwnd: usize,
    ssthresh: usize,
    mss: usize,
    /// In fast recovery until this sequence number is acknowledged (RFC 6582 "recover").
    recover: Option<SeqNum>,
}

impl NewReno {
    /// Initial window per RFC 6928: min(10*MSS, max(2*MSS, 14600)).
    pub fn new(mss: usize) -> Self {
        let mss = mss.max(1);
        NewReno {
            cwnd: (10 * mss).min((2 * mss).max(14600)),
            ssthresh: usize::MAX,
            mss,
            recover: None,
        }
    }

    /// The congestion window.
    pub fn cwnd(&self) -> usize {
        self.cwnd
    }

    /// The slow-start threshold.
    pub fn ssthresh(&self) -> usize {
        self.ssthresh
    }

    /// Whether fast recovery is in progress.
    pub fn in_recovery(&self) -> bool {
        self.recover.is_some()
    }

    /// Updates the sender MSS after the handshake.
    pub fn set_mss(&mut self, mss: usize) {
        let mss = mss.max(1);
        if self.ssthresh == usize::MAX
            && self.cwnd == (10 * self.mss).min((2 * self.mss).max(14600))
        {
            self.cwnd = (10 * mss).min((2 * mss).max(14600));
        }
        self.mss = mss;
    }

    /// New data acknowledged (`acked` bytes, the cumulative ACK now at `ack`).
    /// Returns true if this is a partial ACK during recovery (retransmit the next hole).
    pub fn on_ack(&mut self, acked: usize, ack: SeqNum) -> bool {
        if let Some(recover) = self.recover {
            if ack.after_eq(recover) {
                // Full acknowledgment: leave recovery, deflate (RFC 6582 §3.2 step 3).
                self.recover = None;
                self.cwnd = self.ssthresh.max(self.mss);
                return false;
            }
            // Partial ACK: deflate by the amount acked, add back one MSS.
            self.cwnd = self.cwnd.saturating_sub(acked).saturating_add(self.mss);
            return true;
        }
        if self.cwnd < self.ssthresh {
            self.cwnd = self.cwnd.saturating_add(acked.min(self.mss));
        } else {
            let inc = (self.mss * self.mss / self.cwnd.max(1)).max(1);
            self.cwnd = self.cwnd.saturating_add(inc);
        }
        false
    }

    /// The third duplicate ACK: enter fast recovery (RFC 6582 §3.2 step 2).
    /// Returns false if already recovering (no new retransmission).
    pub fn on_triple_dupack(&mut self, flight: usize, snd_max: SeqNum) -> bool {
        if self.recover.is_some() {
            return false;
        }
        self.ssthresh = (flight / 2).max(2 * self.mss);
        self.cwnd = self.ssthresh + 3 * self.mss;
        self.recover = Some(snd_max);
        true
    }

    /// A further duplicate ACK during recovery inflates the window by one MSS.
    pub fn on_dupack_in_recovery(&mut self) {
        if self.recover.is_some() {
            self.cwnd = self.cwnd.saturating_add(self.mss);
        }
    }

    /// The retransmission timer expired (RFC 5681 §3.1, equation 4).
    pub fn on_rto(&mut self, flight: usize) {
        self.ssthresh = (flight / 2).max(2 * self.mss);
        self.cwnd = self.mss;
        self.recover = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6928_initial_window_is_ten_segments_for_1460() {
        assert_eq!(NewReno::new(1460).cwnd(), 14600);
        assert_eq!(NewReno::new(536).cwnd(), 5360);
        assert_eq!(NewReno::new(9000).cwnd(), 18000);
    }

    #[test]
    fn rfc5681_slow_start_then_avoidance_then_rto() {
        let mut cc = NewReno::new(1000);
        cc.on_ack(1000, SeqNum::new(1));
        assert_eq!(cc.cwnd(), 11_000);
        cc.on_rto(20_000);
        assert_eq!((cc.cwnd(), cc.ssthresh()), (1000, 10_000));
        for _ in 0..9 {
            cc.on_ack(1000, SeqNum::new(1));
        }
        assert_eq!(cc.cwnd(), 10_000);
        cc.on_ack(1000, SeqNum::new(1));
        assert_eq!(cc.cwnd(), 10_100, "congestion avoidance adds MSS*MSS/cwnd");
    }

    #[test]
    fn rfc6582_recovery_deflates_on_full_ack() {
        let mut cc = NewReno::new(1000);
        assert!(cc.on_triple_dupack(10_000, SeqNum::new(5000)));
        assert!(!cc.on_triple_dupack(10_000, SeqNum::new(5000)));
        assert_eq!(cc.cwnd(), 8000);
        cc.on_dupack_in_recovery();
        assert_eq!(cc.cwnd(), 9000);
        assert!(cc.on_ack(1000, SeqNum::new(2000)), "partial ACK");
        assert!(!cc.on_ack(3000, SeqNum::new(5000)));
        assert!(!cc.in_recovery());
        assert_eq!(cc.cwnd(), 5000);
    }
}
