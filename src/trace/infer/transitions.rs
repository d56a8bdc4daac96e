//! Both ends' RFC 9293 state transitions as a segment shows them: the sender's own (it sent
//! a SYN, FIN or RST) and the receiver's (RFC 9293 §3.10.7, in its order: RST, SYN, ACK,
//! FIN), and the handshake's timing learned on the way.

use super::side::{Side, receive_fin, receive_syn};
use super::{Dir, Ending, Marks};
use crate::tcp::{SeqNum, State};
use crate::trace::capture::Segment;

/// The handshake's timing, learned as its segments go by (µs since the first segment).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Handshake {
    /// When the first SYN was seen.
    pub(super) syn_time: Option<u64>,
    /// A SYN,ACK moved its receiver to ESTABLISHED.
    pub(super) syn_ack_seen: bool,
    /// From the SYN to the ACK completing the handshake.
    pub(super) rtt_us: Option<u64>,
    /// The best round-trip estimate so far (SYN to SYN,ACK, then the whole handshake).
    pub(super) irtt_us: Option<u64>,
}

/// The sender acknowledging the other side's crossed SYN or FIN shows it arrived.
pub(super) fn show_crossed_arrivals(s: &mut Side, seg: &Segment) {
    let flags = seg.flags;
    if flags.ack() && !flags.rst() {
        if s.pending_syn.is_some_and(|p| seg.ack.after_eq(p + 1)) {
            s.pending_syn = None;
            receive_syn(s);
        }
        if s.pending_fin.is_some_and(|p| seg.ack.after_eq(p + 1)) {
            s.pending_fin = None;
            receive_fin(s);
        }
    }
}

/// The sender's own transitions (RFC 9293 §3.10: OPEN, SEND SYN, CLOSE, ABORT).
pub(super) fn send(s: &mut Side, seg: &Segment, marks: &mut Marks) {
    let flags = seg.flags;
    if flags.rst() {
        marks.insert(Marks::RESET);
        s.set(State::Closed);
    } else if flags.syn() {
        s.isn = Some(seg.seq);
        if flags.ack() {
            if !s.is(&[State::SynReceived]) {
                s.passive = s.passive || !s.is(&[State::SynSent]);
            }
            s.set(State::SynReceived);
        } else if s.now.state.is_none() || s.is(&[State::Closed, State::SynSent]) {
            s.set(State::SynSent);
        }
    }
    if flags.fin() && !flags.rst() {
        s.fin = Some(seg.seq + seg.len as usize);
        match s.now.state {
            Some(State::CloseWait) => s.set(State::LastAck),
            None | Some(State::Established) | Some(State::SynReceived) => s.set(State::FinWait1),
            _ => {}
        }
    }
}

/// What the receiver's transitions need besides both sides and the segment.
pub(super) struct Arrival<'a> {
    /// Direction of the segment.
    pub(super) dir: Dir,
    /// Its time, µs since the first segment.
    pub(super) t: u64,
    /// The receiver's next segment, unless it is a RST: if it does not acknowledge our SYN
    /// or FIN, the two crossed.
    pub(super) next_reply: Option<&'a Segment>,
}

/// The receiver's transitions (RFC 9293 §3.10.7, in its order: RST, SYN, ACK, FIN).
pub(super) fn receive(
    r: &mut Side,
    s: &Side,
    seg: &Segment,
    at: &Arrival<'_>,
    marks: &mut Marks,
    ending: &mut Ending,
    handshake: &mut Handshake,
) {
    let flags = seg.flags;
    if flags.rst() {
        receive_rst(r, seg, at.dir, marks, ending);
        return;
    }
    if flags.syn() && !flags.ack() {
        receive_syn_segment(r, seg, at, handshake);
    }
    if flags.ack() {
        receive_ack(r, seg, at.t, handshake);
    }
    if flags.fin() {
        receive_fin_segment(r, s, seg, at);
    }
}

/// RFC 9293 §3.10.7.3 and the second step of §3.10.7.4: an acceptable RST closes the
/// receiver, or returns a passive open to LISTEN; one answering a SYN is a refusal.
fn receive_rst(r: &mut Side, seg: &Segment, dir: Dir, marks: &mut Marks, ending: &mut Ending) {
    let acceptable = if r.is(&[State::SynSent]) {
        seg.flags.ack() && r.isn.is_some_and(|isn| seg.ack == isn + 1)
    } else {
        true
    };
    if acceptable {
        if r.is(&[State::SynSent]) {
            marks.insert(Marks::REFUSED);
            *ending = Ending::Refused;
        } else {
            *ending = Ending::Reset { from: dir };
        }
        if r.passive && r.is(&[State::SynReceived]) {
            r.set(State::Listen);
        } else {
            r.set(State::Closed);
        }
    }
}

/// A SYN without ACK: received now, or later if it crossed the receiver's own SYN.
fn receive_syn_segment(r: &mut Side, seg: &Segment, at: &Arrival<'_>, handshake: &mut Handshake) {
    // Crossed SYNs: the receiver's next segment is its own SYN not acking ours.
    if at
        .next_reply
        .is_some_and(|n| n.flags.syn() && !n.flags.ack())
    {
        r.pending_syn = Some(seg.seq);
    } else if r.is(&[State::Listen, State::SynSent]) || r.now.state.is_none() {
        receive_syn(r);
    }
    if handshake.syn_time.is_none() {
        handshake.syn_time = Some(at.t);
    }
}

/// An ACK: it may complete the handshake (timing it) or acknowledge the receiver's FIN.
fn receive_ack(r: &mut Side, seg: &Segment, t: u64, handshake: &mut Handshake) {
    let acks = |x: Option<SeqNum>| x.is_some_and(|v| seg.ack.after_eq(v + 1));
    if seg.flags.syn() && r.is(&[State::SynSent]) && acks(r.isn) {
        r.set(State::Established);
        handshake.syn_ack_seen = true;
        if let Some(st) = handshake.syn_time {
            handshake.irtt_us = Some(t.saturating_sub(st));
        }
    } else if r.is(&[State::SynReceived]) && acks(r.isn) {
        r.set(State::Established);
        if handshake.syn_ack_seen && handshake.rtt_us.is_none() {
            handshake.rtt_us = handshake.syn_time.map(|st| t.saturating_sub(st));
            if let Some(h) = handshake.rtt_us {
                handshake.irtt_us = Some(h.max(1));
            }
        }
    }
    if acks(r.fin) {
        match r.now.state {
            Some(State::FinWait1) => r.set(State::FinWait2),
            Some(State::Closing) => r.set(State::TimeWait),
            Some(State::LastAck) => r.set(State::Closed),
            _ => {}
        }
    }
}

/// A FIN: received now if it follows everything its sender `s` showed and did not cross the
/// receiver's own segment; else shown later, when the receiver acknowledges it.
fn receive_fin_segment(r: &mut Side, s: &Side, seg: &Segment, at: &Arrival<'_>) {
    let fin_at = seg.seq + seg.len as usize;
    let in_order = s.seen.contig().is_some_and(|c| c.after(fin_at));
    let fin_crossed = at
        .next_reply
        .is_some_and(|n| !n.flags.ack() || n.ack.before_eq(fin_at));
    if in_order && !fin_crossed {
        if r.pending_fin.is_none() {
            receive_fin(r);
        }
    } else {
        r.pending_fin = Some(fin_at);
    }
}
