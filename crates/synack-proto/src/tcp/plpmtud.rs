//! Packetization-layer path MTU discovery's search back up (RFC 4821 §7), as Linux does it
//! with `tcp_mtu_probing` (`tcp_mtu_probe`, `tcp_mtup_probe_success`, `tcp_mtup_probe_failed`).
//!
//! A segment size lowered by a packet-too-big error or by black-hole detection
//! ([`icmp`](super::icmp)) would otherwise stay lowered for the connection's life, though the
//! route that shrank, or the black hole, may be gone a minute later. So the first reduction
//! starts a [`Search`] over the sizes between the send MSS (`search_low`: known to cross the
//! path) and `search_high` (not known to fail; at most the MSS the handshake negotiated):
//!
//! - **Rest.** Right after a reduction, and after each search, nothing larger is tried for
//!   [`Config::mtu_probe_interval`](super::Config::mtu_probe_interval) (600 s). That is a
//!   deadline, not a timer: nothing is due when it passes. The next new-data segment after it
//!   is the probe, so an idle connection is not woken for it.
//! - **Probe.** A round resets `search_high` to the negotiated MSS. Its first probe goes at
//!   that size (one probe is enough when the route came back), and after a loss at the
//!   midpoint of what is left, rounded up. A probe is one new-data segment of that size; it
//!   goes only outside loss recovery and timeout backoff, with a segment's worth of data
//!   queued behind it at least (a SACK of that is enough for RACK to find the probe lost; a
//!   bulk sender refills its buffer as ACKs come), and when the peer's window and cwnd take
//!   it and three segments after it, whose duplicate ACKs report its loss without SACK.
//!   While ACKs of what is in flight will make that room, nothing new is sent (as Linux
//!   does); otherwise the segment goes at the usual size and the probe waits for a later one.
//! - **Acknowledged** (SND.UNA passes its end, and it was never retransmitted): the send MSS
//!   becomes the probe's size (RFC 4821 §7.6.1). **Lost** (any of its bytes retransmitted,
//!   however the loss was found): `search_high` becomes the probe's size less one (§7.6.2).
//!   The send MSS never moved, so the probe's bytes are resent at the old size.
//! - While the range stays [`PROBE_THRESHOLD`] bytes or wider, the next segment that may be a
//!   probe is one; once it is narrower the round ends and the connection rests again.
//!   Reaching the negotiated MSS ends the search until the next reduction.
//!
//! A lost probe is not a congestion signal: the path is too narrow for it, not full (Linux:
//! "MTU probe failure: don't reduce cwnd"). When duplicate ACKs without SACK find the probe
//! lost at SND.UNA, or RACK with SACK finds nothing but the probe lost, no recovery starts
//! and the window is not reduced; the probe's bytes are resent one segment at a time (with
//! SACK by NextSeg, without it one segment per ACK until SND.UNA passes them). A probe lost
//! to a retransmission timeout keeps the timeout's response: then everything in flight
//! went missing, not only the probe.
//!
//! Sizes here are MSS values, like [`Tcb::send_mss`](super::Tcb::send_mss): the payload of a
//! segment is its MSS less the options it carries.

use super::cc::CongestionControl;
use super::connection::Connection;
use super::recovery::DUPACK_THRESHOLD;
use super::send_buf::{narrow, wide};
use super::seq::SeqNum;
use crate::time::Instant;

/// Linux's `tcp_probe_threshold`: a search range narrower than this many bytes is done.
pub const PROBE_THRESHOLD: usize = 8;

/// The search of a connection whose segment size was lowered (kept on the heap: most
/// connections never need one).
#[derive(Clone, Copy, Debug)]
pub(super) struct Search {
    /// The send MSS the handshake negotiated (Linux's `mss_clamp`): each round's top.
    top: usize,
    /// `search_high`: the largest size not known to fail (`search_low` is the send MSS).
    high: usize,
    /// Resting until then: no probe before it.
    rest_until: Option<Instant>,
    /// The probe in flight.
    probe: Option<Probe>,
    /// Without SACK, a lost probe's bytes before this are resent one segment per ACK.
    repair_until: Option<SeqNum>,
    /// The data segment built last was the probe (a segmenting device must not cut it).
    probe_sent_last: bool,
}

/// What the next new-data segment is ([`Connection::take_mtu_probe`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Probing {
    /// No probe: an ordinary segment.
    No,
    /// A probe is due, but the window or cwnd has no room for it and the three segments
    /// after it: nothing goes until ACKs make room.
    Hold,
    /// The probe, with this much payload.
    Send(usize),
}

/// A probe in flight: its sequence range and its size (an MSS).
#[derive(Clone, Copy, Debug)]
struct Probe {
    start: SeqNum,
    end: SeqNum,
    mss: usize,
}

impl Search {
    /// The size of the next probe for a send MSS of `mss`, starting a round if the rest is
    /// over at `now`; `None` while resting or while a probe is out.
    fn next_size(&mut self, now: Instant, mss: usize) -> Option<usize> {
        if self.probe.is_some() {
            return None;
        }
        if let Some(until) = self.rest_until {
            if now < until {
                return None;
            }
            self.rest_until = None;
            self.high = self.top;
        }
        // `high` is the top only until a probe there is lost: the top goes first.
        let size = if self.high == self.top {
            self.top
        } else {
            mss + self.high.saturating_sub(mss).div_ceil(2)
        };
        (size > mss).then_some(size)
    }
}

impl Connection {
    /// Lowers the send MSS to `mss` at `now` (a packet-too-big error, black-hole detection):
    /// the search back up rests for the probe interval first.
    pub(super) fn lower_send_mss(&mut self, now: Instant, mss: usize) {
        let negotiated = wide(self.tcb.send_mss);
        self.tcb.send_mss = narrow(mss);
        // Before our SYN is acknowledged the handshake has yet to settle the MSS.
        if self.tcb.snd_una == self.tcb.iss {
            return;
        }
        let rest_until = Some(now + self.cfg.mtu_probe_interval);
        let s = self.rare.plpmtud_or_insert_with(|| Search {
            top: negotiated,
            high: mss,
            rest_until,
            probe: None,
            repair_until: None,
            probe_sent_last: false,
        });
        s.high = mss;
        s.rest_until = rest_until;
        // A probe still out was larger still: whatever became of it, it decides nothing now.
        s.probe = None;
    }

    /// A packet-too-big error said the path carries segments of `mss` but the send MSS is no
    /// larger: nothing above `mss` is worth probing in this round.
    pub(super) fn mtu_search_cap(&mut self, now: Instant, mss: usize) {
        let (send_mss, interval) = (wide(self.tcb.send_mss), self.cfg.mtu_probe_interval);
        if let Some(s) = self.rare.plpmtud_mut() {
            s.high = s.high.min(mss);
            rest_if_narrow(s, now, send_mss, interval);
        }
    }

    /// Whether the next new-data segment is a probe ([`Probing::Send`], then recorded as sent
    /// from SND.NXT), waits for room to be one, or is an ordinary segment. `mss` is the
    /// payload of an ordinary segment; `unsent` bytes wait and `in_flight` lie between SND.UNA
    /// and SND.NXT.
    pub(super) fn take_mtu_probe(
        &mut self,
        now: Instant,
        mss: usize,
        unsent: usize,
        in_flight: usize,
    ) -> Probing {
        if self.rare.plpmtud().is_none()
            || self.tcb.snd_nxt != self.tcb.snd_max
            || self.rexmit.backoff > 0
            || self.in_recovery()
        {
            return Probing::No;
        }
        let (send_mss, snd_nxt, snd_wnd) = (
            wide(self.tcb.send_mss),
            self.tcb.snd_nxt,
            wide(self.tcb.snd_wnd),
        );
        let (cwnd, pipe) = (self.cc.cwnd(), self.send_pipe());
        let Some(s) = self.rare.plpmtud_mut() else {
            return Probing::No;
        };
        let Some(size) = s.next_size(now, send_mss) else {
            return Probing::No;
        };
        let len = mss + size.saturating_sub(send_mss);
        // Data queued behind it, so that ACKs of what follows report its loss: one segment
        // at least (a SACK of it is enough for RACK); a bulk sender refills its buffer.
        if unsent < len + mss {
            return Probing::No;
        }
        // Room in the peer's window and cwnd for three segments after it, whose duplicate
        // ACKs report its loss without SACK.
        let need = len + DUPACK_THRESHOLD as usize * mss;
        if snd_wnd < need || cwnd < need {
            return Probing::No;
        }
        if snd_wnd.saturating_sub(in_flight) < need || cwnd.saturating_sub(pipe) < need {
            // The ACKs of what is in flight make the room: Linux waits for them too
            // (`tcp_mtu_probe` returning 0). With nothing in the network none would come.
            return if pipe > 0 { Probing::Hold } else { Probing::No };
        }
        s.probe = Some(Probe {
            start: snd_nxt,
            end: snd_nxt + len,
            mss: size,
        });
        Probing::Send(len)
    }

    /// A data segment `[at, at + len)` (FIN included) is being sent at `now`,
    /// `retransmission` if any of it was sent before: notes whether it is the probe, and
    /// takes a retransmission of any of the probe's bytes for its loss (RFC 4821 §7.6.2).
    pub(super) fn mtu_on_send(
        &mut self,
        now: Instant,
        at: SeqNum,
        len: usize,
        retransmission: bool,
    ) {
        let Some(s) = self.rare.plpmtud_mut() else {
            return;
        };
        let Some(p) = s.probe else {
            s.probe_sent_last = false;
            return;
        };
        s.probe_sent_last = !retransmission && at == p.start;
        if !(retransmission && at.before(p.end) && p.start.before(at + len)) {
            return;
        }
        s.probe = None;
        s.high = s.high.min(p.mss.saturating_sub(1));
        if !self.tcb.sack_ok {
            s.repair_until = Some(p.end);
        }
        rest_if_narrow(s, now, wide(self.tcb.send_mss), self.cfg.mtu_probe_interval);
        self.stats.mtu_probes_lost += 1;
    }

    /// After SND.UNA advanced at `now`: a probe it passed was acknowledged, so its size
    /// crosses the path (RFC 4821 §7.6.1); without SACK a lost probe's next segment is due.
    pub(super) fn mtu_on_ack(&mut self, now: Instant) {
        let (una, go_back_n) = (self.tcb.snd_una, self.tcb.snd_nxt != self.tcb.snd_max);
        let Some(s) = self.rare.plpmtud_mut() else {
            return;
        };
        if let Some(end) = s.repair_until {
            if !una.before(end) {
                s.repair_until = None;
            } else if !go_back_n {
                // Like a NewReno partial ACK: the rest of the lost probe goes at once.
                self.rexmit.head = true;
            }
        }
        let Some(p) = s.probe.filter(|p| una.after_eq(p.end)) else {
            return;
        };
        s.probe = None;
        self.stats.mtu_probes_acked += 1;
        self.tcb.send_mss = narrow(p.mss);
        let (send_mss, interval) = (wide(self.tcb.send_mss), self.cfg.mtu_probe_interval);
        match self.rare.plpmtud_mut() {
            // Back at the negotiated size: nothing left to search.
            Some(s) if send_mss >= s.top => self.rare.clear_plpmtud(),
            Some(s) => rest_if_narrow(s, now, send_mss, interval),
            None => {}
        }
    }

    /// Whether the path MTU probe in flight starts at `seq` (so its loss is no congestion).
    pub(super) fn mtu_probe_at(&self, seq: SeqNum) -> bool {
        self.mtu_probe_range()
            .is_some_and(|(start, _)| start == seq)
    }

    /// The path MTU probe in flight, `[start, end)`.
    pub(super) fn mtu_probe_range(&self) -> Option<(SeqNum, SeqNum)> {
        let p = self.rare.plpmtud()?.probe?;
        Some((p.start, p.end))
    }

    /// The payload per wire segment of the segment [`poll_transmit`](Self::poll_transmit)
    /// returned last, for a device that cuts large segments (TSO/GSO): the
    /// [`max_payload`](Self::max_payload), except for a path MTU probe, which is larger and
    /// must reach the wire whole.
    pub fn segment_size(&self) -> usize {
        match self.rare.plpmtud() {
            Some(Search {
                probe: Some(p),
                probe_sent_last: true,
                ..
            }) => p.end.since(p.start),
            _ => self.max_payload(),
        }
    }
}

/// Ends the round of `s` (the send MSS being `mss`) once its range is narrower than
/// [`PROBE_THRESHOLD`]: the next starts `interval` after `now`.
fn rest_if_narrow(s: &mut Search, now: Instant, mss: usize, interval: crate::time::Duration) {
    if s.rest_until.is_none() && s.high.saturating_sub(mss) < PROBE_THRESHOLD {
        s.rest_until = Some(now + interval);
    }
}
