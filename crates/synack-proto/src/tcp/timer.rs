//! Connection timers as an enum plus a table; the next deadline is the minimum.

use crate::time::Instant;

/// The timers a connection runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TimerKind {
    /// Retransmission of SYN, SYN,ACK, data or FIN (RFC 6298).
    Retransmit,
    /// A delayed acknowledgment is due (RFC 9293 §3.8.6.3).
    DelayedAck,
    /// Zero-window probe (RFC 9293 §3.8.6.1).
    Persist,
    /// TIME-WAIT's 2×MSL.
    TimeWait,
    /// Keep-alive probing of an idle connection (RFC 9293 §3.8.4).
    KeepAlive,
    /// An orphaned connection waiting in FIN-WAIT-2 gives up (Linux's `tcp_fin_timeout`).
    FinWait2,
    /// RACK's reordering window for a segment not yet deemed lost ran out (RFC 8985 §6.2).
    Rack,
    /// Tail loss probe (RFC 8985 §7); the retransmission timer stays the backstop.
    Tlp,
    /// Buffer storage left empty for [`RECLAIM_IDLE`](super::connection::RECLAIM_IDLE) is
    /// released (so memory follows the load without reallocating on every emptying).
    Reclaim,
}

impl TimerKind {
    const COUNT: usize = 9;
    const ALL: [TimerKind; Self::COUNT] = [
        TimerKind::Retransmit,
        TimerKind::DelayedAck,
        TimerKind::Persist,
        TimerKind::TimeWait,
        TimerKind::KeepAlive,
        TimerKind::FinWait2,
        TimerKind::Rack,
        TimerKind::Tlp,
        TimerKind::Reclaim,
    ];
    const fn index(self) -> usize {
        self as usize
    }
}

/// One optional deadline per [`TimerKind`], 8 bytes each: an unarmed timer holds
/// `UNARMED` (an `Option<Instant>` would take 16).
#[derive(Clone, Copy, Debug)]
pub struct TimerTable([Instant; TimerKind::COUNT]);

/// The deadline slot of an unarmed timer: the end of time. A deadline there is stored one
/// microsecond earlier, which no clock reaches either.
const UNARMED: Instant = Instant::from_micros(u64::MAX);

impl Default for TimerTable {
    fn default() -> Self {
        TimerTable([UNARMED; TimerKind::COUNT])
    }
}

impl TimerTable {
    /// Arms (or re-arms) a timer.
    pub fn set(&mut self, kind: TimerKind, at: Instant) {
        if let Some(slot) = self.0.get_mut(kind.index()) {
            *slot = at.min(Instant::from_micros(u64::MAX - 1));
        }
    }

    /// Arms a timer only if it is not already armed.
    pub fn set_if_idle(&mut self, kind: TimerKind, at: Instant) {
        if self.get(kind).is_none() {
            self.set(kind, at);
        }
    }

    /// Disarms a timer.
    pub fn clear(&mut self, kind: TimerKind) {
        if let Some(slot) = self.0.get_mut(kind.index()) {
            *slot = UNARMED;
        }
    }

    /// Disarms every timer.
    pub fn clear_all(&mut self) {
        self.0 = [UNARMED; TimerKind::COUNT];
    }

    /// The deadline of a timer, if armed.
    pub fn get(&self, kind: TimerKind) -> Option<Instant> {
        self.0
            .get(kind.index())
            .copied()
            .filter(|&at| at != UNARMED)
    }

    /// The earliest armed deadline.
    pub fn next(&self) -> Option<Instant> {
        self.0.iter().copied().min().filter(|&at| at != UNARMED)
    }

    /// Disarms and returns the earliest timer due at `now`, if any.
    pub fn pop_expired(&mut self, now: Instant) -> Option<TimerKind> {
        let kind = TimerKind::ALL
            .into_iter()
            .filter(|k| self.get(*k).is_some_and(|at| at <= now))
            .min_by_key(|k| self.get(*k))?;
        self.clear(kind);
        Some(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_the_minimum_and_expiry_pops_in_order() {
        let mut t = TimerTable::default();
        assert_eq!(t.next(), None);
        t.set(TimerKind::Retransmit, Instant::from_millis(30));
        t.set(TimerKind::DelayedAck, Instant::from_millis(10));
        t.set_if_idle(TimerKind::DelayedAck, Instant::from_millis(99));
        assert_eq!(t.next(), Some(Instant::from_millis(10)));
        assert_eq!(t.pop_expired(Instant::from_millis(5)), None);
        let now = Instant::from_millis(40);
        assert_eq!(t.pop_expired(now), Some(TimerKind::DelayedAck));
        assert_eq!(t.pop_expired(now), Some(TimerKind::Retransmit));
        assert_eq!(t.pop_expired(now), None);
    }
}
