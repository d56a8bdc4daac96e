//! SACK-based loss recovery (RFC 6675) driven by RACK-TLP loss detection (RFC 8985), for
//! connections that negotiated SACK; without SACK, [`recovery`](super::recovery) runs
//! RFC 6582 NewReno on duplicate ACKs.
//!
//! - Every ACK updates the [`Scoreboard`] from its SACK blocks and the [`Rack`] log, then
//!   RACK marks lost what was sent before the most recently delivered segment by more than
//!   the reordering window; until reordering is seen, RFC 6675 `IsLost(SND.UNA)` does too.
//! - The first loss starts recovery: the congestion controller picks `ssthresh`,
//!   RecoveryPoint = SND.MAX, and RFC 6937 PRR sets `cwnd = pipe + sndcnt` on each ACK.
//!   Lost segments go out first (NextSeg rule 1), rebuilt from the send buffer, then new
//!   data. Recovery ends when the cumulative ACK reaches RecoveryPoint.
//! - A tail loss probe (§7) fires 2·SRTT after the last transmission or ACK: it sends new
//!   data, or the last segment again, so a lost tail is repaired by RACK instead of an RTO.
//! - An RTO marks everything unSACKed lost (RFC 8985 §6.3) and retransmits it, skipping
//!   SACKed data, under slow start; a head that was SACKed yet unacknowledged means the
//!   peer reneged (RFC 2018 §8) and the SACK marks are dropped.

use super::cc::{CongestionControl, Prr};
use super::connection::Connection;
use super::rack::{Rack, RackMemory};
use super::sack::{DUP_THRESH, Scoreboard};
use super::seq::SeqNum;
use super::timer::TimerKind;
use crate::time::{Duration, Instant};
use crate::wire::TcpRepr;
use alloc::boxed::Box;
use core::ops::{Deref, DerefMut};

/// RFC 8985 §7.2 WCDelAckT: the worst-case delayed-ACK time a lone segment's probe allows.
const WC_DEL_ACK: Duration = Duration::from_millis(200);
/// What a probe of more than one segment waits beyond 2·SRTT for the ACK: Linux's
/// TCP_TIMEOUT_MIN (2 ms, `tcp_schedule_loss_probe`). Over a link with a round trip of
/// microseconds (TUN, loopback, a LAN) 2·SRTT alone is shorter than the time either end
/// takes to be scheduled, and the probe would go out before any ACK could come back.
const PTO_MIN_EXTRA: Duration = Duration::from_millis(2);

/// SACK recovery state of one connection: a [`Flight`] on the heap while data is
/// outstanding, and only [`RackMemory`] (8 bytes) while idle.
///
/// It dereferences to the flight state; reading an idle one sees an empty flight, and
/// writing allocates one (restoring what RACK remembered). [`Loss::release_if_idle`] frees it.
#[derive(Debug, Default)]
pub struct Loss {
    active: Option<Box<Flight>>,
    memory: RackMemory,
}

static IDLE: Flight = Flight::EMPTY;

impl Deref for Loss {
    type Target = Flight;
    fn deref(&self) -> &Flight {
        self.active.as_deref().unwrap_or(&IDLE)
    }
}

impl DerefMut for Loss {
    fn deref_mut(&mut self) -> &mut Flight {
        let memory = self.memory;
        self.active.get_or_insert_with(|| {
            Box::new(Flight {
                rack: Rack::with_memory(memory),
                ..Flight::EMPTY
            })
        })
    }
}

impl Loss {
    /// Whether a flight is allocated.
    pub fn is_active(&self) -> bool {
        self.active.is_some()
    }

    /// Heap bytes held: the flight and its two tables.
    pub fn allocated_bytes(&self) -> usize {
        self.active.as_ref().map_or(0, |f| {
            core::mem::size_of::<Flight>() + f.sb.allocated_bytes() + f.rack.allocated_bytes()
        })
    }

    /// Frees the flight once nothing is outstanding, no recovery or probe is pending.
    pub fn release_if_idle(&mut self) {
        if let Some(f) = self.active.as_deref()
            && f.is_idle()
        {
            self.memory = f.rack.memory();
            self.active = None;
        }
    }

    /// Forgets everything (the connection closed).
    pub fn clear(&mut self) {
        *self = Loss::default();
    }
}

/// SACK recovery state while data is outstanding.
#[derive(Clone, Debug)]
pub struct Flight {
    /// What the peer SACKed.
    pub(super) sb: Scoreboard,
    /// What we sent, when, and what is lost.
    pub(super) rack: Rack,
    /// RFC 6675 RecoveryPoint, set by fast recovery or an RTO: no new recovery begins
    /// until the cumulative ACK reaches it.
    point: Option<SeqNum>,
    /// PRR while in fast recovery.
    prr: Option<Prr>,
    /// TLP.end_seq: a loss probe is outstanding up to here.
    tlp_end: Option<SeqNum>,
    /// The outstanding probe was a retransmission (TLP.is_retrans).
    tlp_retrans: bool,
    /// A D-SACK arrived while the probe was outstanding: it repaired nothing.
    tlp_dsack: bool,
    /// Send a loss probe at the next `poll_transmit`.
    tlp_now: bool,
    /// Consecutive duplicate ACKs (RFC 5681 §2).
    dupacks: u8,
}

impl Flight {
    const EMPTY: Flight = Flight {
        sb: Scoreboard::EMPTY,
        rack: Rack::EMPTY,
        point: None,
        prr: None,
        tlp_end: None,
        tlp_retrans: false,
        tlp_dsack: false,
        tlp_now: false,
        dupacks: 0,
    };

    /// Whether SACK-based fast recovery is in progress.
    pub fn in_recovery(&self) -> bool {
        self.prr.is_some()
    }

    fn is_idle(&self) -> bool {
        self.rack.log().is_empty()
            && self.sb.is_empty()
            && self.point.is_none()
            && self.prr.is_none()
            && self.tlp_end.is_none()
            && !self.tlp_now
    }
}

/// A retransmission chosen by NextSeg: `len` data bytes from `seq`, plus the FIN if `fin`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Rexmit {
    pub seq: SeqNum,
    pub len: usize,
    pub fin: bool,
}

impl Connection {
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
        let (snd_una, snd_max) = (self.tcb.snd_una, self.tcb.snd_max);
        if !self.loss.is_active() && seg.options.sack_blocks.is_empty() {
            return;
        }
        let l = &mut *self.loss;
        l.dupacks = if delivered > 0 {
            0
        } else {
            l.dupacks.saturating_add(u8::from(dupack))
        };
        let up =
            l.sb.update(seg.options.sack_blocks.as_slice(), snd_una, snd_max);
        l.sb.ack(snd_una);
        self.stats.sack_blocks_invalid += up.invalid as u64;
        if up.dsack.is_some() {
            self.stats.dsacks_received += 1;
            l.rack.on_dsack(snd_una, snd_max);
            l.tlp_dsack |= l.tlp_end.is_some();
        }
        l.rack.on_ack(snd_una, &l.sb, now);
        self.end_tlp_episode(now);
        if self.loss.point.is_some_and(|p| snd_una.after_eq(p)) {
            self.end_sack_recovery(now);
        }
        self.detect_losses(now);
        let mss = self.max_payload();
        let pipe = self.loss.rack.pipe();
        let ssthresh = self.cc.ssthresh();
        if let Some(prr) = self.loss.prr.as_mut() {
            let sndcnt = prr.on_ack(delivered + up.newly_sacked, pipe, ssthresh, mss);
            self.cc.set_cwnd(pipe.saturating_add(sndcnt));
        }
        self.prr_kick();
        self.arm_tlp(now);
        // Only a connection with nothing more to send goes idle: freeing the flight whenever
        // an ACK empties the pipe would allocate it again for the next burst, once per round
        // trip of a bulk transfer whose window drains (tests/steady_alloc.rs).
        if self.tx.is_empty() {
            self.loss.release_if_idle();
        }
    }

    /// RACK (and, before any reordering is seen, RFC 6675 `IsLost(SND.UNA)`) marks losses;
    /// the first starts recovery. Arms or clears the RACK reordering timer.
    fn detect_losses(&mut self, now: Instant) {
        let in_recovery = self.loss.in_recovery();
        let reo_wnd = self.loss.rack.reo_wnd(in_recovery, self.rtt.srtt());
        let (lost, recheck) = self.loss.rack.detect_loss(now, reo_wnd);
        // RFC 6675 §5: IsLost(SND.UNA), or DupThresh duplicate ACKs from a peer that sends
        // no SACK blocks; both only until reordering has been seen (then RACK decides).
        let dupacks = self.loss.sb.is_empty() && usize::from(self.loss.dupacks) >= DUP_THRESH;
        let head_lost = !self.loss.rack.reordering_seen()
            && (dupacks || self.loss.sb.is_lost(self.tcb.snd_una, self.max_payload()))
            && self.loss.rack.mark_head_lost();
        match recheck {
            Some(at) => self.timers.set(TimerKind::Rack, at),
            None => self.timers.clear(TimerKind::Rack),
        }
        if lost > 0 || head_lost {
            self.stats.rack_lost_bytes += lost as u64;
            self.enter_sack_recovery(now);
        }
    }

    /// The RACK reordering timer expired: check again whether the segments it waited for
    /// are now lost.
    pub(super) fn on_rack_timeout(&mut self, now: Instant) {
        if !self.tcb.sack_ok {
            return;
        }
        self.detect_losses(now);
        self.prr_kick();
    }

    /// RFC 6675 §5 with RFC 6937: enter fast recovery unless already in it or an RTO's
    /// RecoveryPoint is still ahead.
    fn enter_sack_recovery(&mut self, now: Instant) {
        if self.loss.in_recovery() || self.loss.point.is_some() {
            return;
        }
        let flight = self.tcb.snd_max.since(self.tcb.snd_una);
        self.cc.on_congestion_event(now, flight);
        self.loss.point = Some(self.tcb.snd_max);
        self.loss.prr = Some(Prr::start(self.cc.ssthresh(), flight));
        self.loss.tlp_end = None;
        self.timers.clear(TimerKind::Tlp);
        self.stats.sack_recoveries += 1;
        self.stats.fast_retransmits += 1;
    }

    /// When PRR has not sent anything yet this recovery, let one segment go now (Linux's
    /// "at least one segment on entering recovery"), so a lost head is retransmitted at once.
    fn prr_kick(&mut self) {
        let Some(prr) = self.loss.prr else { return };
        let want = self.loss.rack.pipe() + self.max_payload();
        if prr.out() == 0 && self.cc.cwnd() < want {
            self.cc.set_cwnd(want);
        }
    }

    /// The cumulative ACK reached RecoveryPoint.
    fn end_sack_recovery(&mut self, now: Instant) {
        self.loss.point = None;
        if self.loss.prr.take().is_some() {
            self.cc.on_recovery_end(now);
            self.loss.rack.on_recovery_end();
        }
    }

    /// RFC 8985 §7.4: the probe is acknowledged. If it was a retransmission that repaired a
    /// loss (no D-SACK says the original arrived), the window is reduced as a recovery would.
    fn end_tlp_episode(&mut self, now: Instant) {
        let Some(end) = self.loss.tlp_end else { return };
        if self.tcb.snd_una.before(end) {
            return;
        }
        self.loss.tlp_end = None;
        if self.loss.tlp_retrans && !self.loss.tlp_dsack && !self.loss.in_recovery() {
            self.stats.tlp_recoveries += 1;
            let flight = self.tcb.snd_max.since(self.tcb.snd_una);
            self.cc.on_congestion_event(now, flight.max(self.cc.cwnd()));
            self.cc.on_recovery_end(now);
        }
    }

    /// RFC 8985 §7.2: (re)arms the probe timeout after a transmission or an ACK, when data
    /// is outstanding, no probe is out, and no recovery is running.
    pub(super) fn arm_tlp(&mut self, now: Instant) {
        let outstanding = self.tcb.snd_max != self.tcb.snd_una;
        let eligible = self.tcb.sack_ok
            && self.state.is_synchronized()
            && outstanding
            && self.loss.tlp_end.is_none()
            && self.loss.point.is_none()
            && self.backoff == 0;
        if !eligible {
            self.timers.clear(TimerKind::Tlp);
            return;
        }
        let one_segment = self.tcb.snd_max.since(self.tcb.snd_una) <= self.max_payload();
        let pto = match self.rtt.srtt() {
            None => Duration::from_secs(1),
            Some(srtt) if one_segment => srtt * 2 + WC_DEL_ACK,
            Some(srtt) => srtt * 2 + PTO_MIN_EXTRA,
        };
        let mut at = now + pto;
        if let Some(rto) = self.timers.get(TimerKind::Retransmit) {
            at = at.min(rto);
        }
        self.timers.set(TimerKind::Tlp, at);
    }

    /// The probe timeout expired: send a probe at the next `poll_transmit`, then let the RTO
    /// cover it (RFC 8985 §7.3).
    pub(super) fn on_tlp_timeout(&mut self, now: Instant) {
        let outstanding = self.tcb.snd_max != self.tcb.snd_una;
        if !self.tcb.sack_ok || !outstanding || self.loss.point.is_some() {
            return;
        }
        self.loss.tlp_now = true;
        self.stats.tlp_probes += 1;
        let rto = self.rtt.rto_with_backoff(self.backoff);
        self.timers.set(TimerKind::Retransmit, now + rto);
    }

    /// A loss probe is due: returns whether it should carry new data (`None` for new data,
    /// which the caller sends ignoring cwnd) or retransmit the last segment.
    pub(super) fn take_tlp(&mut self, mss: usize) -> Option<Option<Rexmit>> {
        if !self.loss.tlp_now {
            return None;
        }
        self.loss.tlp_now = false;
        let in_flight = self.tcb.snd_nxt.since(self.tcb.snd_una);
        let new_data = self.unsent() > 0 && in_flight + self.unsent().min(mss) <= self.tcb.snd_wnd;
        self.loss.tlp_retrans = !new_data;
        self.loss.tlp_dsack = false;
        if new_data {
            return Some(None);
        }
        let last = self.loss.rack.last_unsacked()?;
        // The last segment's final MSS, with the FIN if it ends there: when the data before
        // the FIN filled a whole MSS the FIN has a record of its own, and a probe of the FIN
        // alone would repair nothing if the data before it was lost.
        let fin = usize::from(self.fin_seq.is_some_and(|f| f + 1 == last.end));
        let start = self.tcb.snd_una.max(last.end - (mss.max(1) + fin));
        self.rexmit_from(start, last.end, mss).map(Some)
    }

    /// Notes that a loss probe went out, ending at `end`.
    pub(super) fn tlp_sent(&mut self, end: SeqNum) {
        self.loss.tlp_end = Some(end);
        self.timers.clear(TimerKind::Tlp);
    }

    /// RFC 6675 NextSeg rule 1: the first lost segment, if `pipe` leaves room for it under
    /// cwnd (PRR set cwnd during recovery).
    pub(super) fn next_rexmit(&mut self, mss: usize) -> Option<Rexmit> {
        if !self.loss.rack.any_lost() {
            return None;
        }
        let r = self
            .loss
            .rack
            .log()
            .iter()
            .filter(|x| x.lost() && !x.sacked())
            .find_map(|x| self.rexmit_from(x.start, x.end, mss))?;
        // The FIN takes sequence space but no room in the network: a lost last segment with
        // the FIN on it must fit a one-MSS window after a timeout. With nothing in the pipe,
        // one segment always goes (RFC 6675 NextSeg under any cwnd), so a retransmission can
        // never be held back for good.
        let pipe = self.loss.rack.pipe();
        let room = self.cc.cwnd().saturating_sub(pipe);
        (pipe == 0 || room >= r.len.max(1)).then_some(r)
    }

    /// Up to `mss` bytes of the first hole in `[start, end)` (SACKed data is skipped); the
    /// FIN rides along when the range reaches it. `None` when nothing there needs sending.
    fn rexmit_from(&self, start: SeqNum, end: SeqNum, mss: usize) -> Option<Rexmit> {
        let start = start.max(self.tcb.snd_una);
        let (start, end) = self.loss.sb.first_hole(start, end)?;
        let end = end.min(start + mss.max(1));
        let r = match self.fin_seq.filter(|f| f.in_window(start, end + 1)) {
            Some(f) => Rexmit {
                seq: start,
                len: f.since(start),
                fin: true,
            },
            None => Rexmit {
                seq: start,
                len: end.since(start),
                fin: false,
            },
        };
        (r.len > 0 || r.fin).then_some(r)
    }

    /// A data segment `[seq, seq + len)` (FIN included) went out at `now`, new or again.
    /// A segmentation-offload burst is logged one MSS per record, as the peer will SACK it.
    pub(super) fn loss_on_sent(&mut self, now: Instant, seq: SeqNum, len: usize) {
        if !self.tcb.sack_ok || len == 0 {
            return;
        }
        let (mss, end) = (self.max_payload().max(1), seq + len);
        let mut at = seq;
        while at.before(end) {
            let next = (at + mss).min(end);
            self.loss.rack.on_sent(at, next, now);
            at = next;
        }
        if let Some(prr) = self.loss.prr.as_mut() {
            prr.on_sent(len);
        }
    }

    /// The retransmission timer expired on a SACK connection with a transmission log:
    /// everything unSACKed is lost, and no fast recovery starts until SND.MAX is
    /// acknowledged (RFC 6675 §5.1). Returns false when go-back-N should be used instead.
    pub(super) fn loss_on_rto(&mut self) -> bool {
        let syn_acked = self.tcb.snd_una != self.tcb.iss;
        if !self.tcb.sack_ok || !syn_acked || self.loss.rack.log().is_empty() {
            return false;
        }
        if self.loss.rack.on_rto() {
            self.loss.sb.clear();
            self.stats.sack_reneging += 1;
        }
        self.loss.prr = None;
        self.loss.point = Some(self.tcb.snd_max);
        self.loss.tlp_end = None;
        self.loss.tlp_now = false;
        self.timers.clear(TimerKind::Tlp);
        self.timers.clear(TimerKind::Rack);
        true
    }

    /// RFC 6675 `pipe` on a SACK connection, else the NewReno estimate.
    pub(super) fn send_pipe(&self) -> usize {
        if self.tcb.sack_ok {
            self.loss.rack.pipe()
        } else {
            self.pipe()
        }
    }
}
