//! Loss recovery without SACK: RFC 5681 §3.2 fast retransmit on the third duplicate ACK and
//! RFC 6582 NewReno fast recovery (the `recover` point, a retransmission per partial ACK),
//! with the window during recovery set by RFC 6937 proportional rate reduction instead of
//! dupack inflation. The congestion controller ([`cc`](super::cc)) only grows the window
//! outside recovery and picks `ssthresh`.
//!
//! Without SACK the receiver's holdings are estimated: each duplicate ACK stands for one
//! segment that left the network, and the segment at SND.UNA is presumed lost.

use super::cc::{AckSample, CongestionControl, Prr, RateSample};
use super::connection::Connection;
use super::seq::SeqNum;
use crate::time::{Duration, Instant};
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

    /// Consecutive duplicate ACKs seen.
    pub fn dupacks(&self) -> u32 {
        self.dupacks
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

impl Connection {
    /// Bytes in flight as the window sees them (PRR's `pipe` during recovery).
    pub(super) fn pipe(&self) -> usize {
        let flight = self.tcb.snd_nxt.since(self.tcb.snd_una);
        self.recovery.pipe(flight, self.max_payload())
    }

    /// SND.UNA advanced by `acked` bytes; `flight_before` were outstanding (SND.NXT − old
    /// SND.UNA) and `rtt` is this ACK's RTT sample, if any. Returns whether the retransmission
    /// timer should restart: always, except on partial ACKs after the first of a recovery
    /// (RFC 6582 §3.2 step 5 and §4, the "Impatient" variant), so a window with many holes falls back
    /// to a timeout instead of repairing one hole per round trip.
    pub(super) fn cc_on_new_ack(
        &mut self,
        now: Instant,
        acked: usize,
        flight_before: usize,
        rtt: Option<Duration>,
    ) -> bool {
        let mss = self.max_payload();
        let r = &mut self.recovery;
        r.dupacks = 0;
        if let Some(e) = r.episode.as_deref_mut() {
            e.retrans = 0;
            if self.tcb.snd_una.after_eq(r.recover) {
                // Full acknowledgment: recovery is over (RFC 6582 §3.2 step 3, RFC 6937 §3).
                r.episode = None;
                self.cc.on_recovery_end(now);
                return true;
            }
            // Partial ACK: the retransmitted segment plus some the dupacks already counted.
            let counted = e.sacked.min(acked.saturating_sub(mss));
            e.sacked -= counted;
            let first_partial = !e.timer_restarted;
            e.timer_restarted = true;
            self.prr_update(acked - counted);
            // RFC 6582 §3.2 step 5: retransmit the first unacknowledged segment at once.
            self.retransmit_head = true;
            return first_partial;
        }
        let cwnd = self.cc.cwnd();
        // Not using the window: flight plus a segment fits under cwnd; in slow start the
        // window may be up to twice the flight (it doubles per round).
        let cwnd_limited =
            flight_before + mss >= cwnd || (cwnd < self.cc.ssthresh() && 2 * flight_before > cwnd);
        let sample = AckSample {
            now,
            acked,
            flight_before,
            rtt,
            snd_una: self.tcb.snd_una,
            snd_nxt: self.tcb.snd_nxt,
            app_limited: !cwnd_limited,
        };
        self.cc.on_ack(&sample);
        true
    }

    /// A duplicate ACK (RFC 5681 §2 definition) arrived.
    pub(super) fn cc_on_duplicate_ack(&mut self, now: Instant) {
        let mss = self.max_payload();
        let r = &mut self.recovery;
        r.dupacks = r.dupacks.saturating_add(1);
        if let Some(e) = r.episode.as_deref_mut() {
            e.sacked = e.sacked.saturating_add(mss);
            self.prr_update(mss);
            return;
        }
        // RFC 6582 §3.2 step 2: only when the ACK covers more than `recover`.
        if r.dupacks != DUPACK_THRESHOLD || self.tcb.snd_una.before(r.recover) {
            return;
        }
        let flight = self.tcb.snd_max.since(self.tcb.snd_una);
        self.cc.on_congestion_event(now, flight);
        let r = &mut self.recovery;
        r.recover = self.tcb.snd_max;
        r.episode = Some(Box::new(Episode {
            prr: Prr::start(self.cc.ssthresh(), flight),
            // Each of the duplicate ACKs stands for a segment that left the network.
            sacked: DUPACK_THRESHOLD as usize * mss,
            retrans: 0,
            timer_restarted: false,
        }));
        // This ACK is the first of recovery; it delivered one segment.
        self.prr_update(mss);
        self.retransmit_head = true;
        self.stats.fast_retransmits += 1;
    }

    /// Runs PRR for an ACK in recovery that delivered `delivered` bytes: cwnd = pipe + sndcnt.
    fn prr_update(&mut self, delivered: usize) {
        let mss = self.max_payload();
        let pipe = self.pipe();
        let ssthresh = self.cc.ssthresh();
        let Some(e) = self.recovery.episode.as_deref_mut() else {
            return;
        };
        let sndcnt = e.prr.on_ack(delivered, pipe, ssthresh, mss);
        self.cc.set_cwnd(pipe.saturating_add(sndcnt));
    }

    /// The retransmission timer expired with `flight` bytes outstanding: leave fast recovery
    /// and collapse the window (RFC 5681 §3.1; ssthresh is only reduced on the first timeout
    /// of a segment, and not again if fast recovery already reduced it).
    pub(super) fn cc_on_rto(&mut self, now: Instant, flight: usize, first_timeout: bool) {
        let r = &mut self.recovery;
        let was_recovering = r.episode.take().is_some();
        r.recover = self.tcb.snd_max;
        r.dupacks = 0;
        if first_timeout && !was_recovering {
            self.cc.on_rto(now, flight);
        } else {
            self.cc.set_cwnd(self.max_payload());
        }
    }

    /// What the peer is known to hold and what was marked lost, before an ACK is
    /// processed: (SND.UNA, SACKed bytes above it, lost bytes so far).
    /// `None` when the congestion controller takes no rate samples (loss-based ones).
    pub(super) fn delivery_snapshot(&self) -> Option<(SeqNum, usize, u64)> {
        self.cc.wants_rate_samples().then(|| {
            (
                self.tcb.snd_una,
                self.loss.sb.sacked_bytes(),
                self.stats.rack_lost_bytes,
            )
        })
    }

    /// After an acceptable ACK: tells the congestion controller what it delivered
    /// (cumulatively and by SACK, net of bytes SACKed before), marked lost and left in
    /// flight, in or out of recovery. Loss-based controllers ignore it; BBR runs on it.
    pub(super) fn cc_on_rate_sample(
        &mut self,
        now: Instant,
        before: Option<(SeqNum, usize, u64)>,
        rtt: Option<Duration>,
    ) {
        let Some((una, sacked, lost)) = before else {
            return;
        };
        let cum = self.tcb.snd_una.since(una);
        let delivered = (cum + self.loss.sb.sacked_bytes()).saturating_sub(sacked);
        let lost = self.stats.rack_lost_bytes.saturating_sub(lost);
        let sample = RateSample {
            now,
            delivered,
            lost: usize::try_from(lost).unwrap_or(usize::MAX),
            inflight: self.send_pipe(),
            rtt,
            app_limited: self.unsent() == 0,
        };
        self.cc.on_rate_sample(&sample);
    }
}
