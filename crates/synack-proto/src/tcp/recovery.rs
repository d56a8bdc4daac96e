//! Loss recovery without SACK: RFC 5681 §3.2 fast retransmit on the third duplicate ACK and
//! RFC 6582 NewReno fast recovery (the `recover` point, a retransmission per partial ACK),
//! with the window during recovery set by RFC 6937 proportional rate reduction instead of
//! dupack inflation. The congestion controller ([`cc`](super::cc)) only grows the window
//! outside recovery and picks `ssthresh`.
//!
//! Without SACK the receiver's holdings are estimated: each duplicate ACK stands for one
//! segment that left the network, and the segment at SND.UNA is presumed lost.

use super::cc::{AnyCc, CongestionControl, Prr};
use super::seq::SeqNum;
use crate::time::Instant;
use alloc::boxed::Box;

/// Duplicate ACKs that trigger fast retransmit (RFC 5681 §3.2).
pub const DUPACK_THRESHOLD: u32 = 3;

/// Fast recovery bookkeeping of one connection: 16 bytes inline, the rest on the heap only
/// during a recovery episode.
#[derive(Clone, Debug)]
pub struct Recovery {
    /// RFC 6582 `recover`: SND.MAX when recovery (or the last timeout) began; recovery ends
    /// when it is acknowledged, and a new one may not begin before.
    recover: SeqNum,
    /// Consecutive duplicate ACKs.
    dupacks: u32,
    /// The fast recovery in progress, if any: allocated when it begins, freed when it ends.
    episode: Option<Box<Episode>>,
}

/// One fast recovery episode (only read while it lasts).
#[derive(Clone, Copy, Debug)]
struct Episode {
    /// PRR state.
    prr: Prr,
    /// Bytes the duplicate ACKs say the receiver holds above SND.UNA (one segment each).
    sacked: usize,
    /// Bytes retransmitted since SND.UNA last moved.
    retrans: usize,
    /// A partial ACK already restarted the retransmission timer in this recovery.
    timer_restarted: bool,
}

impl Recovery {
    /// No recovery yet; `iss` is the initial `recover` (RFC 6582 §3.2 step 1).
    pub fn new(iss: SeqNum) -> Self {
        Recovery {
            recover: iss,
            dupacks: 0,
            episode: None,
        }
    }

    /// Whether fast recovery is in progress.
    pub fn in_recovery(&self) -> bool {
        self.episode.is_some()
    }

    /// Heap bytes held: the episode while in recovery.
    pub fn allocated_bytes(&self) -> usize {
        self.episode.as_ref().map_or(0, |_| size_of::<Episode>())
    }

    /// RFC 6675 `pipe`, estimated: outside recovery the bytes between SND.UNA and SND.NXT;
    /// in recovery less what duplicate ACKs reported delivered and the presumed-lost head,
    /// plus retransmissions.
    pub fn pipe(&self, flight: usize, mss: usize) -> usize {
        match self.episode.as_deref() {
            Some(e) => (flight + e.retrans).saturating_sub(e.sacked + mss),
            None => flight,
        }
    }

    /// New data of `len` bytes went out.
    pub fn on_sent(&mut self, len: usize) {
        if let Some(e) = self.episode.as_deref_mut() {
            e.prr.on_sent(len);
        }
    }

    /// The segment at SND.UNA was retransmitted (`len` bytes).
    /// (Outside recovery the count is not needed: an episode starts from 0.)
    pub fn on_retransmit(&mut self, len: usize) {
        if let Some(e) = self.episode.as_deref_mut() {
            e.retrans = e.retrans.saturating_add(len);
        }
        self.on_sent(len);
    }
}

/// What a new cumulative ACK meant to fast recovery ([`Recovery::on_new_ack`]).
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NewAck {
    /// No recovery is in progress: the congestion controller grows the window as usual.
    Open,
    /// The ACK covered `recover`: recovery is over (RFC 6582 §3.2 step 3, RFC 6937 §3).
    Ended,
    /// A partial ACK (RFC 6582 §3.2 step 5): the first unacknowledged segment must be
    /// retransmitted at once.
    Partial {
        /// Whether the retransmission timer restarts: only on the first partial ACK of a
        /// recovery (RFC 6582 §4, the "Impatient" variant), so a window with many holes
        /// falls back to a timeout instead of repairing one hole per round trip.
        restart_timer: bool,
    },
}

impl Recovery {
    /// SND.UNA advanced to `snd_una` by `acked` data bytes; `in_flight` bytes now lie between
    /// SND.UNA and SND.NXT, and a segment carries `mss`. In recovery, PRR sets `cc`'s window.
    pub fn on_new_ack(
        &mut self,
        now: Instant,
        cc: &mut AnyCc,
        snd_una: SeqNum,
        in_flight: usize,
        acked: usize,
        mss: usize,
    ) -> NewAck {
        self.dupacks = 0;
        let Some(e) = self.episode.as_deref_mut() else {
            return NewAck::Open;
        };
        e.retrans = 0;
        if snd_una.after_eq(self.recover) {
            // Full acknowledgment: recovery is over (RFC 6582 §3.2 step 3, RFC 6937 §3).
            self.episode = None;
            cc.on_recovery_end(now);
            return NewAck::Ended;
        }
        // Partial ACK: the retransmitted segment plus some the dupacks already counted.
        let counted = e.sacked.min(acked.saturating_sub(mss));
        e.sacked -= counted;
        let first_partial = !e.timer_restarted;
        e.timer_restarted = true;
        self.prr_update(cc, acked - counted, in_flight, mss);
        NewAck::Partial {
            restart_timer: first_partial,
        }
    }

    /// A duplicate ACK (RFC 5681 §2 definition) arrived with SND.UNA at `snd_una`, SND.MAX at
    /// `snd_max` and `in_flight` bytes between SND.UNA and SND.NXT. Returns true when it
    /// starts fast retransmit: the segment at SND.UNA must go out again at once.
    /// `probe_at_head`: that segment is a path MTU probe (RFC 4821), whose loss says the
    /// path is too narrow for it, not congested: it goes again without a recovery episode,
    /// and the window is not reduced (as Linux's `tcp_mtup_probe_failed`).
    #[expect(
        clippy::too_many_arguments,
        reason = "what the connection lends, one call"
    )]
    pub fn on_duplicate_ack(
        &mut self,
        now: Instant,
        cc: &mut AnyCc,
        snd_una: SeqNum,
        snd_max: SeqNum,
        in_flight: usize,
        mss: usize,
        probe_at_head: bool,
    ) -> bool {
        self.dupacks = self.dupacks.saturating_add(1);
        if let Some(e) = self.episode.as_deref_mut() {
            e.sacked = e.sacked.saturating_add(mss);
            self.prr_update(cc, mss, in_flight, mss);
            return false;
        }
        // RFC 6582 §3.2 step 2: only when the ACK covers more than `recover`.
        if self.dupacks != DUPACK_THRESHOLD || snd_una.before(self.recover) {
            return false;
        }
        if probe_at_head {
            return true;
        }
        let flight = snd_max.since(snd_una);
        cc.on_congestion_event(now, flight);
        self.recover = snd_max;
        self.episode = Some(Box::new(Episode {
            prr: Prr::start(cc.ssthresh(), flight),
            // Each of the duplicate ACKs stands for a segment that left the network.
            sacked: DUPACK_THRESHOLD as usize * mss,
            retrans: 0,
            timer_restarted: false,
        }));
        // This ACK is the first of recovery; it delivered one segment.
        self.prr_update(cc, mss, in_flight, mss);
        true
    }

    /// Runs PRR for an ACK in recovery that delivered `delivered` bytes: cwnd = pipe + sndcnt.
    fn prr_update(&mut self, cc: &mut AnyCc, delivered: usize, in_flight: usize, mss: usize) {
        let pipe = self.pipe(in_flight, mss);
        let ssthresh = cc.ssthresh();
        let Some(e) = self.episode.as_deref_mut() else {
            return;
        };
        let sndcnt = e.prr.on_ack(delivered, pipe, ssthresh, mss);
        cc.set_cwnd(pipe.saturating_add(sndcnt));
    }

    /// The retransmission timer expired with `flight` bytes outstanding up to `snd_max`:
    /// leave fast recovery and collapse the window (RFC 5681 §3.1; ssthresh is only reduced
    /// on the `first_timeout` of a segment, and not again if fast recovery already reduced it).
    pub fn on_rto(
        &mut self,
        now: Instant,
        cc: &mut AnyCc,
        snd_max: SeqNum,
        flight: usize,
        first_timeout: bool,
        mss: usize,
    ) {
        let was_recovering = self.episode.take().is_some();
        self.recover = snd_max;
        self.dupacks = 0;
        if first_timeout && !was_recovering {
            cc.on_rto(now, flight);
        } else {
            cc.set_cwnd(mss);
        }
    }
}
