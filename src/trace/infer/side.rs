//! One endpoint as the capture shows it: its inferred state, what it has sent, and the
//! other side's SYN or FIN that reached it but is not yet shown as received.

use super::Inferred;
use crate::tcp::{SeqNum, State};
use crate::trace::seen::Seen;
use std::collections::VecDeque;

/// Most hole openings remembered per side; a hole older than these is filled by a resend.
pub(super) const MAX_HOLES: usize = 64;

/// One endpoint during inference.
#[derive(Clone, Debug)]
pub(super) struct Side {
    pub(super) now: Inferred,
    pub(super) passive: bool,
    pub(super) isn: Option<SeqNum>,
    pub(super) first_seq: Option<SeqNum>,
    pub(super) fin: Option<SeqNum>,
    pub(super) snd_max: Option<SeqNum>,
    /// Where each recent hole in this side's sequence space opened (the `snd_max` a segment
    /// jumped past) and when, oldest first, at most [`MAX_HOLES`].
    pub(super) holes: VecDeque<(SeqNum, u64)>,
    pub(super) seen: Seen,
    pub(super) ws: Option<u8>,
    pub(super) window: Option<u32>,
    pub(super) last_ack: Option<(SeqNum, u16)>,
    /// The highest acknowledgment number this side has sent.
    pub(super) highest_ack: Option<SeqNum>,
    /// The byte of this side's last one-byte zero-window probe.
    pub(super) probe_byte: Option<SeqNum>,
    pub(super) dup_acks: u32,
    /// The other side's SYN/FIN reached this side in the capture but is not yet shown as
    /// received (it crossed with this side's own segment).
    pub(super) pending_syn: Option<SeqNum>,
    pub(super) pending_fin: Option<SeqNum>,
}

impl Side {
    /// A side in state `now` that has shown nothing yet.
    pub(super) fn new(now: Inferred) -> Self {
        Side {
            now,
            passive: false,
            isn: None,
            first_seq: None,
            fin: None,
            snd_max: None,
            holes: VecDeque::new(),
            seen: Seen::default(),
            ws: None,
            window: None,
            last_ack: None,
            highest_ack: None,
            probe_byte: None,
            dup_acks: 0,
            pending_syn: None,
            pending_fin: None,
        }
    }

    /// Moves to `state`; CLOSED is sure whatever came before.
    pub(super) fn set(&mut self, state: State) {
        self.now.state = Some(state);
        if state == State::Closed {
            self.now.sure = true;
        }
    }

    /// Notes that a segment starting past `snd_max` opened a hole there at time `t`.
    pub(super) fn open_hole(&mut self, snd_max: SeqNum, t: u64) {
        if self.holes.len() >= MAX_HOLES {
            self.holes.pop_front();
        }
        self.holes.push_back((snd_max, t));
    }

    /// When the hole holding `seq` opened: the latest opening at or below it (openings rise
    /// with `snd_max`, so that hole runs from it to the segment that opened it).
    pub(super) fn hole_opened(&self, seq: SeqNum) -> Option<u64> {
        self.holes
            .iter()
            .rev()
            .find(|(start, _)| start.before_eq(seq))
            .map(|&(_, t)| t)
    }

    /// Is the side in one of `states`?
    pub(super) fn is(&self, states: &[State]) -> bool {
        self.now.state.is_some_and(|s| states.contains(&s))
    }
}

/// The side receives a SYN (RFC 9293 §3.10.7.2, §3.10.7.3).
pub(super) fn receive_syn(r: &mut Side) {
    match r.now.state {
        Some(State::Listen) => {
            r.passive = true;
            r.set(State::SynReceived);
        }
        None | Some(State::SynSent) => r.set(State::SynReceived),
        _ => {}
    }
}

/// The side receives a FIN (RFC 9293 §3.10.7.4, eighth step).
pub(super) fn receive_fin(r: &mut Side) {
    match r.now.state {
        None | Some(State::Established) | Some(State::SynReceived) => r.set(State::CloseWait),
        Some(State::FinWait1) => r.set(State::Closing),
        Some(State::FinWait2) => r.set(State::TimeWait),
        _ => {}
    }
}
