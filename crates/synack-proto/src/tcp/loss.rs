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

use super::cc::{AnyCc, CongestionControl, Prr};
use super::rack::{Rack, RackMemory};
use super::sack::{DUP_THRESH, Scoreboard};
use super::seq::SeqNum;
use super::stats::LazyStats;
use super::timer::{TimerKind, TimerTable};
use crate::time::{Duration, Instant};
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

/// What SACK recovery reads of its connection at one event, and the parts of the connection
/// it steers (the congestion controller, the timers, the counters), lent for one call.
#[derive(Debug)]
pub(super) struct Ctx<'a> {
    /// The time of the event.
    pub now: Instant,
    /// SND.UNA, after this ACK (if it moved it).
    pub snd_una: SeqNum,
    /// SND.MAX: the highest sequence number sent, plus one.
    pub snd_max: SeqNum,
    /// The most payload one segment carries.
    pub mss: usize,
    /// The smoothed round-trip time, once measured.
    pub srtt: Option<Duration>,
    /// A loss probe may be armed at all: SACK in use, the connection synchronized, and no
    /// retransmission timeout backing off (RFC 8985 §7.2).
    pub tlp_allowed: bool,
    /// The path MTU probe in flight, `[start, end)` (RFC 4821): its loss alone starts no
    /// recovery, since it says the path is too narrow for it, not congested.
    pub probe: Option<(SeqNum, SeqNum)>,
    /// The congestion controller, whose window recovery sets.
    pub cc: &'a mut AnyCc,
    /// The connection's timers: RACK's reordering timer and the loss probe's are recovery's.
    pub timers: &'a mut TimerTable,
    /// The connection's counters.
    pub stats: &'a mut LazyStats,
}

impl Loss {
    /// An acceptable ACK arrived on a SACK connection (after SND.UNA moved, if it did), with
    /// these SACK `blocks`: `delivered` bytes were newly acknowledged cumulatively; `dupack`
    /// says it was a duplicate ACK (RFC 5681 §2); `nothing_queued` that the send buffer is
    /// empty.
    pub(super) fn on_ack(
        &mut self,
        cx: &mut Ctx<'_>,
        blocks: &[(SeqNum, SeqNum)],
        delivered: usize,
        dupack: bool,
        nothing_queued: bool,
    ) {
        let (now, snd_una, snd_max) = (cx.now, cx.snd_una, cx.snd_max);
        if !self.is_active() && blocks.is_empty() {
            return;
        }
        let l = &mut **self;
        l.dupacks = if delivered > 0 {
            0
        } else {
            l.dupacks.saturating_add(u8::from(dupack))
        };
        let up = l.sb.update(blocks, snd_una, snd_max);
        l.sb.ack(snd_una);
        cx.stats.sack_blocks_invalid += up.invalid as u64;
        if up.dsack.is_some() {
            cx.stats.dsacks_received += 1;
            l.rack.on_dsack(snd_una, snd_max);
            l.tlp_dsack |= l.tlp_end.is_some();
        }
        l.rack.on_ack(snd_una, &l.sb, now);
        self.end_tlp_episode(cx);
        if self.point.is_some_and(|p| snd_una.after_eq(p)) {
            self.end_sack_recovery(cx);
        }
        self.detect_losses(cx);
        let pipe = self.rack.pipe();
        let ssthresh = cx.cc.ssthresh();
        if let Some(prr) = self.prr.as_mut() {
            let sndcnt = prr.on_ack(delivered + up.newly_sacked, pipe, ssthresh, cx.mss);
            cx.cc.set_cwnd(pipe.saturating_add(sndcnt));
        }
        self.prr_kick(cx);
        self.arm_tlp(cx);
        // Only a connection with nothing more to send goes idle: freeing the flight whenever
        // an ACK empties the pipe would allocate it again for the next burst, once per round
        // trip of a bulk transfer whose window drains (tests/steady_alloc.rs).
        if nothing_queued {
            self.release_if_idle();
        }
    }

    /// RACK (and, before any reordering is seen, RFC 6675 `IsLost(SND.UNA)`) marks losses;
    /// the first starts recovery. Arms or clears the RACK reordering timer.
    fn detect_losses(&mut self, cx: &mut Ctx<'_>) {
        let in_recovery = self.in_recovery();
        let reo_wnd = self.rack.reo_wnd(in_recovery, cx.srtt);
        let (lost, recheck) = self.rack.detect_loss(cx.now, reo_wnd);
        // RFC 6675 §5: IsLost(SND.UNA), or DupThresh duplicate ACKs from a peer that sends
        // no SACK blocks; both only until reordering has been seen (then RACK decides).
        let dupacks = self.sb.is_empty() && usize::from(self.dupacks) >= DUP_THRESH;
        let head_lost = !self.rack.reordering_seen()
            && (dupacks || self.sb.is_lost(cx.snd_una, cx.mss))
            && self.rack.mark_head_lost();
        match recheck {
            Some(at) => cx.timers.set(TimerKind::Rack, at),
            None => cx.timers.clear(TimerKind::Rack),
        }
        if lost > 0 || head_lost {
            cx.stats.rack_lost_bytes += lost as u64;
            if !self.only_probe_lost(cx.probe) {
                self.enter_sack_recovery(cx);
            }
        }
    }

    /// Whether every segment marked lost (and not yet resent) lies in the path MTU `probe`:
    /// then NextSeg resends it without a recovery episode or a window reduction (as Linux's
    /// `tcp_mtup_probe_failed`).
    fn only_probe_lost(&self, probe: Option<(SeqNum, SeqNum)>) -> bool {
        let Some((start, end)) = probe else {
            return false;
        };
        self.rack
            .log()
            .iter()
            .filter(|r| r.lost())
            .all(|r| r.start.after_eq(start) && r.end.before_eq(end))
    }

    /// The RACK reordering timer expired (on a SACK connection): check again whether the
    /// segments it waited for are now lost.
    pub(super) fn on_rack_timeout(&mut self, cx: &mut Ctx<'_>) {
        self.detect_losses(cx);
        self.prr_kick(cx);
    }

    /// RFC 6675 §5 with RFC 6937: enter fast recovery unless already in it or an RTO's
    /// RecoveryPoint is still ahead.
    fn enter_sack_recovery(&mut self, cx: &mut Ctx<'_>) {
        if self.in_recovery() || self.point.is_some() {
            return;
        }
        let flight = cx.snd_max.since(cx.snd_una);
        cx.cc.on_congestion_event(cx.now, flight);
        self.point = Some(cx.snd_max);
        self.prr = Some(Prr::start(cx.cc.ssthresh(), flight));
        self.tlp_end = None;
        cx.timers.clear(TimerKind::Tlp);
        cx.stats.sack_recoveries += 1;
        cx.stats.fast_retransmits += 1;
    }

    /// When PRR has not sent anything yet this recovery, let one segment go now (Linux's
    /// "at least one segment on entering recovery"), so a lost head is retransmitted at once.
    fn prr_kick(&mut self, cx: &mut Ctx<'_>) {
        let Some(prr) = self.prr else { return };
        let want = self.rack.pipe() + cx.mss;
        if prr.out() == 0 && cx.cc.cwnd() < want {
            cx.cc.set_cwnd(want);
        }
    }

    /// The cumulative ACK reached RecoveryPoint.
    fn end_sack_recovery(&mut self, cx: &mut Ctx<'_>) {
        self.point = None;
        if self.prr.take().is_some() {
            cx.cc.on_recovery_end(cx.now);
            self.rack.on_recovery_end();
        }
    }

    /// RFC 8985 §7.4: the probe is acknowledged. If it was a retransmission that repaired a
    /// loss (no D-SACK says the original arrived), the window is reduced as a recovery would.
    fn end_tlp_episode(&mut self, cx: &mut Ctx<'_>) {
        let Some(end) = self.tlp_end else { return };
        if cx.snd_una.before(end) {
            return;
        }
        self.tlp_end = None;
        if self.tlp_retrans && !self.tlp_dsack && !self.in_recovery() {
            cx.stats.tlp_recoveries += 1;
            let flight = cx.snd_max.since(cx.snd_una);
            cx.cc.on_congestion_event(cx.now, flight.max(cx.cc.cwnd()));
            cx.cc.on_recovery_end(cx.now);
        }
    }

    /// RFC 8985 §7.2: (re)arms the probe timeout after a transmission or an ACK, when data
    /// is outstanding, no probe is out, and no recovery is running.
    pub(super) fn arm_tlp(&self, cx: &mut Ctx<'_>) {
        let outstanding = cx.snd_max != cx.snd_una;
        let eligible =
            cx.tlp_allowed && outstanding && self.tlp_end.is_none() && self.point.is_none();
        if !eligible {
            cx.timers.clear(TimerKind::Tlp);
            return;
        }
        let one_segment = cx.snd_max.since(cx.snd_una) <= cx.mss;
        let pto = match cx.srtt {
            None => Duration::from_secs(1),
            Some(srtt) if one_segment => srtt * 2 + WC_DEL_ACK,
            Some(srtt) => srtt * 2 + PTO_MIN_EXTRA,
        };
        let mut at = cx.now + pto;
        if let Some(rto) = cx.timers.get(TimerKind::Retransmit) {
            at = at.min(rto);
        }
        cx.timers.set(TimerKind::Tlp, at);
    }

    /// The probe timeout expired (on a SACK connection): send a probe at the next
    /// `poll_transmit`, then let the RTO, `rto` from now, cover it (RFC 8985 §7.3).
    pub(super) fn on_tlp_timeout(&mut self, cx: &mut Ctx<'_>, rto: Duration) {
        let outstanding = cx.snd_max != cx.snd_una;
        if !outstanding || self.point.is_some() {
            return;
        }
        self.tlp_now = true;
        cx.stats.tlp_probes += 1;
        cx.timers.set(TimerKind::Retransmit, cx.now + rto);
    }

    /// A loss probe is due: returns whether it should carry new data (`None` for new data,
    /// which the caller sends ignoring cwnd) or retransmit the last segment of at most
    /// `mss` bytes. `unsent` bytes wait beyond SND.NXT, `in_flight` lie between SND.UNA and
    /// SND.NXT, the peer's window is `snd_wnd`, and our FIN, once sent, is at `fin_seq`.
    pub(super) fn take_tlp(
        &mut self,
        mss: usize,
        snd_una: SeqNum,
        unsent: usize,
        in_flight: usize,
        snd_wnd: usize,
        fin_seq: Option<SeqNum>,
    ) -> Option<Option<Rexmit>> {
        if !self.tlp_now {
            return None;
        }
        self.tlp_now = false;
        let new_data = unsent > 0 && in_flight + unsent.min(mss) <= snd_wnd;
        self.tlp_retrans = !new_data;
        self.tlp_dsack = false;
        if new_data {
            return Some(None);
        }
        let last = self.rack.last_unsacked()?;
        // The last segment's final MSS, with the FIN if it ends there: when the data before
        // the FIN filled a whole MSS the FIN has a record of its own, and a probe of the FIN
        // alone would repair nothing if the data before it was lost.
        let fin = usize::from(fin_seq.is_some_and(|f| f + 1 == last.end));
        let start = snd_una.max(last.end - (mss.max(1) + fin));
        self.rexmit_from(start, last.end, mss, snd_una, fin_seq)
            .map(Some)
    }

    /// Notes that a loss probe went out, ending at `end`.
    pub(super) fn tlp_sent(&mut self, end: SeqNum, timers: &mut TimerTable) {
        self.tlp_end = Some(end);
        timers.clear(TimerKind::Tlp);
    }

    /// RFC 6675 NextSeg rule 1: the first lost segment (of at most `mss` bytes from
    /// `snd_una` on, our FIN at `fin_seq`), if `pipe` leaves room for it under `cwnd` (PRR
    /// set cwnd during recovery).
    pub(super) fn next_rexmit(
        &self,
        mss: usize,
        snd_una: SeqNum,
        fin_seq: Option<SeqNum>,
        cwnd: usize,
    ) -> Option<Rexmit> {
        if !self.rack.any_lost() {
            return None;
        }
        let r = self
            .rack
            .log()
            .iter()
            .filter(|x| x.lost() && !x.sacked())
            .find_map(|x| self.rexmit_from(x.start, x.end, mss, snd_una, fin_seq))?;
        // The FIN takes sequence space but no room in the network: a lost last segment with
        // the FIN on it must fit a one-MSS window after a timeout. With nothing in the pipe,
        // one segment always goes (RFC 6675 NextSeg under any cwnd), so a retransmission can
        // never be held back for good.
        let pipe = self.rack.pipe();
        let room = cwnd.saturating_sub(pipe);
        (pipe == 0 || room >= r.len.max(1)).then_some(r)
    }

    /// Up to `mss` bytes of the first hole in `[start, end)` (SACKed data is skipped); the
    /// FIN rides along when the range reaches it. `None` when nothing there needs sending.
    fn rexmit_from(
        &self,
        start: SeqNum,
        end: SeqNum,
        mss: usize,
        snd_una: SeqNum,
        fin_seq: Option<SeqNum>,
    ) -> Option<Rexmit> {
        let start = start.max(snd_una);
        let (start, end) = self.sb.first_hole(start, end)?;
        let end = end.min(start + mss.max(1));
        let r = match fin_seq.filter(|f| f.in_window(start, end + 1)) {
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

    /// A data segment `[seq, seq + len)` (FIN included) went out at `now`, new or again, on
    /// a SACK connection. A segmentation-offload burst is logged one `mss` per record, as
    /// the peer will SACK it.
    pub(super) fn on_sent(&mut self, now: Instant, seq: SeqNum, len: usize, mss: usize) {
        if len == 0 {
            return;
        }
        let (mss, end) = (mss.max(1), seq + len);
        let mut at = seq;
        while at.before(end) {
            let next = (at + mss).min(end);
            self.rack.on_sent(at, next, now);
            at = next;
        }
        if let Some(prr) = self.prr.as_mut() {
            prr.on_sent(len);
        }
    }

    /// The retransmission timer expired on a SACK connection whose SYN is acknowledged:
    /// with a transmission log, everything unSACKed is lost, and no fast recovery starts
    /// until `snd_max` is acknowledged (RFC 6675 §5.1). Returns false when go-back-N should
    /// be used instead.
    pub(super) fn on_rto(
        &mut self,
        snd_max: SeqNum,
        timers: &mut TimerTable,
        stats: &mut LazyStats,
    ) -> bool {
        if self.rack.log().is_empty() {
            return false;
        }
        if self.rack.on_rto() {
            self.sb.clear();
            stats.sack_reneging += 1;
        }
        self.prr = None;
        self.point = Some(snd_max);
        self.tlp_end = None;
        self.tlp_now = false;
        timers.clear(TimerKind::Tlp);
        timers.clear(TimerKind::Rack);
        true
    }
}
