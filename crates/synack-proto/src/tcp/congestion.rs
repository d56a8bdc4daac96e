//! The connection's side of congestion control and loss recovery: it lends the congestion
//! controller ([`cc`](super::cc)), NewReno fast recovery ([`recovery`](super::recovery)) and
//! SACK recovery ([`loss`](super::loss)) what they read of the connection, and carries out
//! what they decide (retransmit the head, restart the retransmission timer).
//!
//! Those modules know nothing of [`Connection`]: the arrows run from here to them.

use super::cc::{AckSample, CongestionControl, RateSample};
use super::connection::Connection;
use super::loss::{self, Loss, Rexmit};
use super::recovery::NewAck;
use super::send_buf::wide;
use super::seq::SeqNum;
use crate::time::{Duration, Instant};
use crate::wire::TcpRepr;

impl Connection {
    /// Bytes in flight as the window sees them (PRR's `pipe` during recovery).
    pub(super) fn pipe(&self) -> usize {
        let flight = self.tcb.snd_nxt.since(self.tcb.snd_una);
        self.recovery.pipe(flight, self.max_payload())
    }

    /// RFC 6675 `pipe` on a SACK connection, else the NewReno estimate.
    pub(super) fn send_pipe(&self) -> usize {
        if self.tcb.sack_ok {
            self.loss.rack.pipe()
        } else {
            self.pipe()
        }
    }

    /// SND.UNA advanced by `acked` bytes; `flight_before` were outstanding (SND.NXT − old
    /// SND.UNA) and `rtt` is this ACK's RTT sample, if any. Returns whether the retransmission
    /// timer should restart: always, except on partial ACKs after the first of a recovery
    /// (RFC 6582 §3.2 step 5 and §4, the "Impatient" variant), so a window with many holes
    /// falls back to a timeout instead of repairing one hole per round trip.
    pub(super) fn cc_on_new_ack(
        &mut self,
        now: Instant,
        acked: usize,
        flight_before: usize,
        rtt: Option<Duration>,
    ) -> bool {
        let mss = self.max_payload();
        let (snd_una, in_flight) = (self.tcb.snd_una, self.tcb.snd_nxt.since(self.tcb.snd_una));
        match self
            .recovery
            .on_new_ack(now, &mut self.cc, snd_una, in_flight, acked, mss)
        {
            NewAck::Ended => return true,
            NewAck::Partial { restart_timer } => {
                // RFC 6582 §3.2 step 5: retransmit the first unacknowledged segment at once.
                self.rexmit.head = true;
                return restart_timer;
            }
            NewAck::Open => {}
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

    /// A duplicate ACK (RFC 5681 §2 definition) arrived on a connection without SACK.
    pub(super) fn cc_on_duplicate_ack(&mut self, now: Instant) {
        let mss = self.max_payload();
        let (snd_una, snd_max) = (self.tcb.snd_una, self.tcb.snd_max);
        let in_flight = self.tcb.snd_nxt.since(snd_una);
        let probe_at_head = self.mtu_probe_at(snd_una);
        let fast_retransmit = self.recovery.on_duplicate_ack(
            now,
            &mut self.cc,
            snd_una,
            snd_max,
            in_flight,
            mss,
            probe_at_head,
        );
        if fast_retransmit {
            self.rexmit.head = true;
            // A lost path MTU probe is resent without a fast recovery (see `plpmtud`).
            if !probe_at_head {
                self.stats.fast_retransmits += 1;
            }
        }
    }

    /// The retransmission timer expired with `flight` bytes outstanding: leave fast recovery
    /// and collapse the window (see [`Recovery::on_rto`](super::recovery::Recovery::on_rto)).
    pub(super) fn cc_on_rto(&mut self, now: Instant, flight: usize, first_timeout: bool) {
        let mss = self.max_payload();
        let snd_max = self.tcb.snd_max;
        self.recovery
            .on_rto(now, &mut self.cc, snd_max, flight, first_timeout, mss);
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

    /// The SACK recovery state, and what it may read and steer of the connection at `now`.
    fn loss_parts(&mut self, now: Instant) -> (&mut Loss, loss::Ctx<'_>) {
        let probe = self.mtu_probe_range();
        let cx = loss::Ctx {
            now,
            snd_una: self.tcb.snd_una,
            snd_max: self.tcb.snd_max,
            mss: self.max_payload(),
            srtt: self.rtt.srtt(),
            tlp_allowed: self.tcb.sack_ok
                && self.state.is_synchronized()
                && self.rexmit.backoff == 0,
            probe,
            cc: &mut self.cc,
            timers: &mut self.timers,
            stats: &mut self.stats,
        };
        (&mut self.loss, cx)
    }

    /// An acceptable ACK arrived on a SACK connection (after SND.UNA moved, if it did):
    /// `delivered` bytes were newly acknowledged cumulatively; `dupack` says it was a
    /// duplicate ACK (RFC 5681 §2).
    pub(super) fn loss_on_ack(
        &mut self,
        now: Instant,
        seg: &TcpRepr<'_>,
        delivered: usize,
        dupack: bool,
    ) {
        let nothing_queued = self.tx.is_empty();
        let (loss, mut cx) = self.loss_parts(now);
        let blocks = seg.options.sack_blocks.as_slice();
        loss.on_ack(&mut cx, blocks, delivered, dupack, nothing_queued);
    }

    /// The RACK reordering timer expired.
    pub(super) fn on_rack_timeout(&mut self, now: Instant) {
        if !self.tcb.sack_ok {
            return;
        }
        let (loss, mut cx) = self.loss_parts(now);
        loss.on_rack_timeout(&mut cx);
    }

    /// RFC 8985 §7.2: (re)arms the probe timeout after a transmission or an ACK.
    pub(super) fn arm_tlp(&mut self, now: Instant) {
        let (loss, mut cx) = self.loss_parts(now);
        loss.arm_tlp(&mut cx);
    }

    /// The probe timeout expired: a probe goes out at the next `poll_transmit`.
    pub(super) fn on_tlp_timeout(&mut self, now: Instant) {
        if !self.tcb.sack_ok {
            return;
        }
        let rto = self.rto();
        let (loss, mut cx) = self.loss_parts(now);
        loss.on_tlp_timeout(&mut cx, rto);
    }

    /// A loss probe is due: `Some(None)` for new data (sent ignoring cwnd), `Some(Some(r))`
    /// to retransmit the last segment, `None` when no probe is due.
    pub(super) fn take_tlp(&mut self, mss: usize) -> Option<Option<Rexmit>> {
        let in_flight = self.tcb.snd_nxt.since(self.tcb.snd_una);
        let unsent = self.unsent();
        let (snd_una, snd_wnd, fin_seq) =
            (self.tcb.snd_una, wide(self.tcb.snd_wnd), self.fin.seq());
        self.loss
            .take_tlp(mss, snd_una, unsent, in_flight, snd_wnd, fin_seq)
    }

    /// Notes that a loss probe went out, ending at `end`.
    pub(super) fn tlp_sent(&mut self, end: SeqNum) {
        self.loss.tlp_sent(end, &mut self.timers);
    }

    /// RFC 6675 NextSeg rule 1: the first lost segment, if cwnd leaves room for it.
    pub(super) fn next_rexmit(&self, mss: usize) -> Option<Rexmit> {
        self.loss
            .next_rexmit(mss, self.tcb.snd_una, self.fin.seq(), self.cc.cwnd())
    }

    /// A data segment `[seq, seq + len)` (FIN included) went out at `now`, new or again.
    pub(super) fn loss_on_sent(&mut self, now: Instant, seq: SeqNum, len: usize) {
        if !self.tcb.sack_ok || len == 0 {
            return;
        }
        let mss = self.max_payload();
        self.loss.on_sent(now, seq, len, mss);
    }

    /// The retransmission timer expired: on a SACK connection with a transmission log,
    /// everything unSACKed is marked lost. Returns false when go-back-N should be used
    /// instead.
    pub(super) fn loss_on_rto(&mut self) -> bool {
        let syn_acked = self.tcb.snd_una != self.tcb.iss;
        if !self.tcb.sack_ok || !syn_acked {
            return false;
        }
        self.loss
            .on_rto(self.tcb.snd_max, &mut self.timers, &mut self.stats)
    }
}
