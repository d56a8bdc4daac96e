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

    /// The slot holding this kind's deadline: its own, or [`SHARED`] for the four that are
    /// never armed together (see [`TimerTable`]).
    const fn slot(self) -> usize {
        match self {
            TimerKind::Retransmit => 0,
            TimerKind::DelayedAck => 1,
            TimerKind::Rack => 2,
            TimerKind::Tlp => 3,
            TimerKind::Reclaim => 4,
            TimerKind::Persist
            | TimerKind::TimeWait
            | TimerKind::KeepAlive
            | TimerKind::FinWait2 => SHARED,
        }
    }

    /// The tag that tells which kind holds the shared slot (0 for the kinds with a slot of
    /// their own, which holds only them).
    const fn tag(self) -> u64 {
        match self {
            TimerKind::Persist => 0,
            TimerKind::TimeWait => 1,
            TimerKind::KeepAlive => 2,
            TimerKind::FinWait2 => 3,
            _ => 0,
        }
    }
}

/// The slot that Persist, TimeWait, KeepAlive and FinWait2 share.
const SHARED: usize = 5;
/// Deadline slots: one per kind, less the three the shared slot saves.
const SLOTS: usize = SHARED + 1;

/// One optional deadline per [`TimerKind`], 8 bytes each: an unarmed timer holds
/// `UNARMED` (an `Option<Instant>` would take 16).
///
/// Persist, TimeWait, KeepAlive and FinWait2 share one slot, tagged with the kind that
/// holds it (48 bytes rather than 72), because no state arms two of them:
/// - TimeWait is armed only on entering TIME-WAIT, after every timer was cleared, and in
///   TIME-WAIT [`rearm_timers`](super::Connection) arms none of the other three; TIME-WAIT
///   is left only for CLOSED, which clears every timer.
/// - `rearm_timers` alone arms the other three, each only where it applies, and clears those
///   that do not apply before it arms the one that does: KeepAlive only in ESTABLISHED or
///   CLOSE-WAIT with nothing unsent, Persist only with data unsent (so never beside
///   KeepAlive, nor in FIN-WAIT-2, where our FIN and all before it were acknowledged),
///   FinWait2 only in FIN-WAIT-2.
///
/// So a kind reads and clears as if it had a slot of its own: [`TimerTable::get`] of a
/// shared kind that does not hold the slot is `None`, and clearing it leaves the slot alone.
///
/// The tag takes each deadline's two low bits, below its microseconds (a byte of its own
/// beside the six deadlines would pad the table to 56 bytes; in the low bits the earliest
/// deadline is still the smallest slot, so [`TimerTable::next`] is one minimum and a
/// shift). Deadlines are therefore held to [`LATEST`], 2^62 µs (146,000 years) after the
/// driver's epoch — clocks count from a driver's start — as before they were held just
/// below the end of time.
#[derive(Clone, Copy, Debug)]
pub struct TimerTable {
    /// Per slot, the deadline's microseconds shifted left by [`TAG_BITS`] with the
    /// [`TimerKind::tag`] of the kind holding it below, or [`UNARMED`].
    at: [u64; SLOTS],
}

/// Bits of a slot below the deadline, holding the kind's tag.
const TAG_BITS: u32 = 2;
const TAG_MASK: u64 = (1 << TAG_BITS) - 1;
/// The latest deadline a slot holds, in microseconds after the epoch: one below what the
/// bits left over reach, so that no armed slot reads as [`UNARMED`].
const LATEST: u64 = (u64::MAX >> TAG_BITS) - 1;
/// An unarmed slot: past every deadline.
const UNARMED: u64 = u64::MAX;

impl Default for TimerTable {
    fn default() -> Self {
        TimerTable {
            at: [UNARMED; SLOTS],
        }
    }
}

impl TimerTable {
    /// Arms (or re-arms) a timer.
    pub fn set(&mut self, kind: TimerKind, at: Instant) {
        let slot = kind.slot();
        // The exclusivity the shared slot rests on, checked wherever this crate's tests
        // drive connections (the state-machine, property and simulation tests).
        #[cfg(test)]
        assert!(
            slot != SHARED
                || self
                    .at
                    .get(SHARED)
                    .is_some_and(|&s| s == UNARMED || s & TAG_MASK == kind.tag()),
            "{kind:?} armed while tag {:?} holds the shared timer slot",
            self.at.get(SHARED).map(|s| s & TAG_MASK)
        );
        if let Some(deadline) = self.at.get_mut(slot) {
            *deadline = at.total_micros().min(LATEST) << TAG_BITS | kind.tag();
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
        let slot = kind.slot();
        // An unarmed slot reads as tag 3; setting it unarmed again changes nothing. A slot
        // of a kind's own holds only it.
        if let Some(deadline) = self.at.get_mut(slot)
            && (slot != SHARED || *deadline & TAG_MASK == kind.tag())
        {
            *deadline = UNARMED;
        }
    }

    /// Disarms the shared slot unless `kind` holds it (for `rearm_timers`, which arms at most
    /// one of the kinds that share it).
    pub fn clear_shared_unless(&mut self, kind: TimerKind) {
        if let Some(deadline) = self.at.get_mut(SHARED)
            && *deadline & TAG_MASK != kind.tag()
        {
            *deadline = UNARMED;
        }
    }

    /// Disarms every timer.
    pub fn clear_all(&mut self) {
        self.at = [UNARMED; SLOTS];
    }

    /// The deadline of a timer, if armed.
    pub fn get(&self, kind: TimerKind) -> Option<Instant> {
        let slot = kind.slot();
        self.at
            .get(slot)
            .copied()
            .filter(|&at| at != UNARMED && (slot != SHARED || at & TAG_MASK == kind.tag()))
            .map(|at| Instant::from_micros(at >> TAG_BITS))
    }

    /// The earliest armed deadline.
    pub fn next(&self) -> Option<Instant> {
        match self.at.iter().min() {
            Some(&at) if at != UNARMED => Some(Instant::from_micros(at >> TAG_BITS)),
            _ => None,
        }
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

    #[test]
    fn a_shared_kind_reads_and_clears_as_if_it_had_its_own_slot() {
        let mut t = TimerTable::default();
        t.set(TimerKind::KeepAlive, Instant::from_millis(50));
        assert_eq!(t.get(TimerKind::Persist), None);
        assert_eq!(t.get(TimerKind::FinWait2), None);
        t.clear(TimerKind::FinWait2);
        assert_eq!(t.get(TimerKind::KeepAlive), Some(Instant::from_millis(50)));
        assert_eq!(t.next(), Some(Instant::from_millis(50)));
        t.clear(TimerKind::KeepAlive);
        assert_eq!(t.next(), None);
        t.set_if_idle(TimerKind::Persist, Instant::from_millis(70));
        assert_eq!(
            t.pop_expired(Instant::from_millis(80)),
            Some(TimerKind::Persist)
        );
        assert_eq!(t.get(TimerKind::Persist), None);
    }

    #[test]
    fn the_shared_slot_keeps_its_deadline_exact_and_its_kind_in_48_bytes() {
        assert!(size_of::<TimerTable>() <= 48, "{}", size_of::<TimerTable>());
        for kind in [
            TimerKind::Persist,
            TimerKind::TimeWait,
            TimerKind::KeepAlive,
            TimerKind::FinWait2,
        ] {
            let mut t = TimerTable::default();
            let at = Instant::from_micros(123_456_789_012);
            t.set(kind, at);
            assert_eq!(t.get(kind), Some(at));
            assert_eq!(t.next(), Some(at));
            for other in TimerKind::ALL.into_iter().filter(|&k| k != kind) {
                assert_eq!(
                    t.get(other),
                    None,
                    "{other:?} while {kind:?} holds the slot"
                );
            }
            t.set(TimerKind::Retransmit, Instant::from_micros(5));
            assert_eq!(t.next(), Some(Instant::from_micros(5)));
            assert_eq!(t.pop_expired(at), Some(TimerKind::Retransmit));
            assert_eq!(t.pop_expired(at), Some(kind));
            assert_eq!(t.next(), None);
        }
    }

    #[test]
    fn a_deadline_past_2_62_microseconds_is_held_there_and_stays_armed() {
        let mut t = TimerTable::default();
        t.set(TimerKind::FinWait2, Instant::from_micros(u64::MAX));
        let held = Instant::from_micros(LATEST);
        assert_eq!(t.get(TimerKind::FinWait2), Some(held));
        assert_eq!(t.next(), Some(held));
        t.clear_shared_unless(TimerKind::FinWait2);
        assert_eq!(t.get(TimerKind::FinWait2), Some(held));
        t.clear_shared_unless(TimerKind::KeepAlive);
        assert_eq!(t.next(), None);
    }
}
