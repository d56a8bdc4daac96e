//! RFC 6937 Proportional Rate Reduction: how much the sender may send on each ACK during
//! loss recovery, so that the amount in flight falls smoothly to `ssthresh` (pipe above it)
//! or climbs back to it no faster than slow start (PRR-SSRB, pipe below it).
//!
//! The struct is pure bookkeeping; the recovery code feeds it delivered and sent bytes and
//! sets `cwnd = pipe + sndcnt`.

/// PRR state for one recovery episode (RFC 6937 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prr {
    /// Bytes in flight when recovery began ("RecoverFS = snd.nxt - snd.una").
    recover_fs: usize,
    /// Bytes delivered to the receiver since recovery began.
    prr_delivered: usize,
    /// Bytes sent (new or retransmitted) since recovery began.
    prr_out: usize,
}

impl Prr {
    /// Starts recovery. `ssthresh` is accepted for symmetry with the RFC's initialisation
    /// (the algorithm has just chosen it); `recover_fs` is the flight size at this point.
    pub fn start(ssthresh: usize, recover_fs: usize) -> Self {
        let _ = ssthresh;
        Prr {
            recover_fs: recover_fs.max(1),
            prr_delivered: 0,
            prr_out: 0,
        }
    }

    /// An ACK delivered `delivered` bytes (cumulatively or by SACK) and left `pipe` bytes in
    /// flight: returns `sndcnt`, how many bytes may be sent now (RFC 6937 §3, PRR-SSRB).
    pub fn on_ack(&mut self, delivered: usize, pipe: usize, ssthresh: usize, mss: usize) -> usize {
        self.prr_delivered = self.prr_delivered.saturating_add(delivered);
        let sndcnt = self.sndcnt(delivered, pipe, ssthresh, mss);
        if self.prr_out == 0 && sndcnt == 0 {
            // Nothing sent yet in this recovery: the fast retransmission goes out regardless
            // (RFC 9937, which obsoletes RFC 6937, makes this explicit).
            return mss;
        }
        sndcnt
    }

    fn sndcnt(&self, delivered: usize, pipe: usize, ssthresh: usize, mss: usize) -> usize {
        if pipe > ssthresh {
            // Proportional rate reduction: sndcnt = CEIL(prr_delivered * ssthresh / RecoverFS)
            // - prr_out, with CEIL taken in whole segments as in the RFC's examples (and
            // Linux), so a segment may leave on the first ACK rather than a fragment.
            let mss = mss.max(1) as u128;
            let segments = (self.prr_delivered as u128 * ssthresh as u128)
                .div_ceil(self.recover_fs as u128 * mss);
            usize::try_from(segments * mss)
                .unwrap_or(usize::MAX)
                .saturating_sub(self.prr_out)
        } else {
            // Slow-start reduction bound: limit = MAX(prr_delivered - prr_out, DeliveredData) + MSS.
            let limit = self
                .prr_delivered
                .saturating_sub(self.prr_out)
                .max(delivered)
                .saturating_add(mss);
            (ssthresh - pipe).min(limit)
        }
    }

    /// Bytes were sent (new data or a retransmission) during recovery: `prr_out += sent`.
    pub fn on_sent(&mut self, sent: usize) {
        self.prr_out = self.prr_out.saturating_add(sent);
    }

    /// Bytes delivered since recovery began.
    pub fn delivered(&self) -> usize {
        self.prr_delivered
    }

    /// Bytes sent since recovery began.
    pub fn out(&self) -> usize {
        self.prr_out
    }
}
