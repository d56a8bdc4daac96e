//! A hierarchical timer wheel: one deadline per key (a connection slot), O(1) to set,
//! move or cancel, whatever the number of keys.
//!
//! Time is cut into ticks of 1024 µs. Level 0 has 64 slots of one tick, level 1 64 slots
//! of 64 ticks, and so on: nine levels cover every [`Instant`]. A deadline goes to the
//! lowest level whose slot tells it apart from the wheel's current tick (the level of the
//! highest bit in which the two differ, six bits per level), so every entry of level `l`
//! is due before every entry of level `l + 1`, and a bitmap per level finds the next
//! occupied slot with one `trailing_zeros`. When time reaches a slot above level 0, its
//! entries move down ("cascade"); each entry moves at most once per level.
//!
//! Deadlines keep their exact microsecond value. [`TimerWheel::next_deadline`] is exact
//! when the earliest entry is in level 0 (the slot's earliest deadline is kept), and
//! otherwise the start of the earliest occupied slot, a lower bound: a driver that
//! wakes then finds nothing due, the slot cascades, and the next answer is nearer. An
//! entry fires only when `now` reaches its exact deadline.

use crate::time::Instant;
use alloc::vec::Vec;

/// Bits of tick per level.
const SLOT_BITS: u32 = 6;
/// Slots per level.
const SLOTS: usize = 1 << SLOT_BITS;
/// Levels: 9 × 6 = 54 bits of ticks of 2^10 µs covers all of `u64` microseconds.
const LEVELS: usize = 9;
/// A tick is 2^10 µs (1.024 ms).
const TICK_SHIFT: u32 = 10;
/// `pos` of a key with no entry.
const NONE: u32 = u32::MAX;

fn tick(at: Instant) -> u64 {
    at.total_micros() >> TICK_SHIFT
}

/// Timers for keys `0..`: at most one deadline per key (see the module docs).
#[derive(Debug)]
pub struct TimerWheel {
    /// `LEVELS * SLOTS` slots of (key, exact deadline), unordered.
    slots: Vec<Vec<(u32, Instant)>>,
    /// Bit `s` of `occupied[l]`: slot `s` of level `l` holds entries.
    occupied: [u64; LEVELS],
    /// The earliest deadline in each occupied level-0 slot.
    min0: [Instant; SLOTS],
    /// Per key: (slot index, position in it), `pos == NONE` when the key has no entry.
    locs: Vec<(u16, u32)>,
    /// The current tick: every entry is due at or after its start.
    elapsed: u64,
    len: usize,
    /// A reused buffer for cascading a slot (no allocation in steady state).
    spare: Vec<(u32, Instant)>,
}

impl Default for TimerWheel {
    fn default() -> Self {
        TimerWheel {
            // A little room in every slot up front (576 × 2 entries, 18 KiB a stack), so a
            // busy connection's timer moving into a slot it never used does not allocate:
            // without it, a bulk transfer allocated once per new millisecond slot.
            slots: (0..LEVELS * SLOTS).map(|_| Vec::with_capacity(2)).collect(),
            occupied: [0; LEVELS],
            min0: [Instant::ZERO; SLOTS],
            locs: Vec::new(),
            elapsed: 0,
            len: 0,
            spare: Vec::new(),
        }
    }
}

impl TimerWheel {
    /// An empty wheel.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of keys with a deadline.
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` when no key has a deadline.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// With no deadline set, gives back the room its slots and key table grew to (a burst of
    /// many connections), keeping the small reserve each slot starts with; the wheel's time
    /// is unchanged. Does nothing while any deadline is set.
    pub fn shrink_if_empty(&mut self) {
        if self.len != 0 {
            return;
        }
        for slot in &mut self.slots {
            slot.shrink_to(2);
        }
        self.locs = Vec::new();
        self.spare = Vec::new();
    }

    /// Heap bytes held.
    pub fn memory_usage(&self) -> usize {
        let entry = size_of::<(u32, Instant)>();
        self.slots.capacity() * size_of::<Vec<(u32, Instant)>>()
            + self
                .slots
                .iter()
                .map(|s| s.capacity() * entry)
                .sum::<usize>()
            + self.locs.capacity() * size_of::<(u16, u32)>()
            + self.spare.capacity() * entry
    }

    /// The deadline set for `key`, if any.
    pub fn deadline(&self, key: u32) -> Option<Instant> {
        let &(slot, pos) = self.locs.get(key as usize)?;
        let entries = self.slots.get(usize::from(slot))?;
        entries.get(pos as usize).map(|&(_, at)| at)
    }

    /// Sets `key`'s deadline to `at`, replacing any it had. A deadline already past fires
    /// at the next [`TimerWheel::expire`].
    pub fn insert(&mut self, key: u32, at: Instant) {
        self.remove(key);
        self.place(key, at);
    }

    /// Cancels `key`'s deadline; returns it if there was one.
    pub fn remove(&mut self, key: u32) -> Option<Instant> {
        let loc = self.locs.get_mut(key as usize)?;
        let (slot, pos) = *loc;
        if pos == NONE {
            return None;
        }
        *loc = (0, NONE);
        let entries = self.slots.get_mut(usize::from(slot))?;
        let pos = pos as usize;
        if pos >= entries.len() {
            return None;
        }
        let (_, at) = entries.swap_remove(pos);
        if let Some(&(moved, _)) = entries.get(pos)
            && let Some(l) = self.locs.get_mut(moved as usize)
        {
            l.1 = pos as u32;
        }
        self.len -= 1;
        let (level, s) = (usize::from(slot) / SLOTS, usize::from(slot) % SLOTS);
        if entries.is_empty() {
            if let Some(bits) = self.occupied.get_mut(level) {
                *bits &= !(1u64 << s);
            }
        } else if level == 0
            && let Some(min) = self.min0.get_mut(s)
            && *min == at
        {
            *min = entries.iter().map(|&(_, t)| t).min().unwrap_or(at);
        }
        Some(at)
    }

    /// The earliest deadline, exact when it is less than 64 ticks ahead of the wheel's
    /// time and otherwise the start of its slot, which is earlier (see the module docs).
    pub fn next_deadline(&self) -> Option<Instant> {
        let (level, slot) = self.next_slot()?;
        if level == 0 {
            return self.min0.get(slot).copied();
        }
        let start = self.slot_start(level, slot);
        Some(Instant::from_micros(start << TICK_SHIFT))
    }

    /// Advances the wheel to `now`, appending to `fired` every key whose deadline is at or
    /// before `now` (their entries are removed), in no particular order.
    pub fn expire(&mut self, now: Instant, fired: &mut Vec<u32>) {
        let now_tick = tick(now);
        while let Some((level, slot)) = self.next_slot() {
            let start = self.slot_start(level, slot);
            if start > now_tick {
                break;
            }
            self.elapsed = self.elapsed.max(start);
            let index = level * SLOTS + slot;
            let Some(entries) = self.slots.get_mut(index) else {
                break;
            };
            let mut taken = core::mem::replace(entries, core::mem::take(&mut self.spare));
            if let Some(bits) = self.occupied.get_mut(level) {
                *bits &= !(1u64 << slot);
            }
            self.len -= taken.len();
            for (key, at) in taken.drain(..) {
                if let Some(l) = self.locs.get_mut(key as usize) {
                    *l = (0, NONE);
                }
                if at <= now {
                    fired.push(key);
                } else {
                    self.place(key, at);
                }
            }
            // Hand the emptied buffer back: whichever of the two is larger stays spare.
            if let Some(entries) = self.slots.get_mut(index)
                && entries.is_empty()
                && entries.capacity() < taken.capacity()
            {
                core::mem::swap(entries, &mut taken);
            }
            self.spare = taken;
            if level == 0 && start == now_tick {
                // What is left here is due later within this very tick.
                break;
            }
        }
        self.elapsed = self.elapsed.max(now_tick);
    }

    /// Puts an entry for `key` (which has none) in its slot.
    fn place(&mut self, key: u32, at: Instant) {
        let when = tick(at).max(self.elapsed);
        let masked = (self.elapsed ^ when) | (SLOTS as u64 - 1);
        let level = ((63 - masked.leading_zeros()) / SLOT_BITS) as usize;
        let level = level.min(LEVELS - 1);
        let slot = ((when >> (level as u32 * SLOT_BITS)) as usize) & (SLOTS - 1);
        let index = level * SLOTS + slot;
        let Some(entries) = self.slots.get_mut(index) else {
            return;
        };
        let pos = entries.len() as u32;
        entries.push((key, at));
        let k = key as usize;
        if self.locs.len() <= k {
            self.locs.resize(k + 1, (0, NONE));
        }
        if let Some(l) = self.locs.get_mut(k) {
            *l = (index as u16, pos);
        }
        self.len += 1;
        let bit = 1u64 << slot;
        let Some(bits) = self.occupied.get_mut(level) else {
            return;
        };
        let was_occupied = *bits & bit != 0;
        *bits |= bit;
        if level == 0
            && let Some(min) = self.min0.get_mut(slot)
        {
            *min = if was_occupied { (*min).min(at) } else { at };
        }
    }

    /// The earliest occupied (level, slot): the lowest level with an entry, and in it the
    /// first occupied slot from the current one on.
    fn next_slot(&self) -> Option<(usize, usize)> {
        self.occupied.iter().enumerate().find_map(|(level, &bits)| {
            let current = (self.elapsed >> (level as u32 * SLOT_BITS)) as usize & (SLOTS - 1);
            let ahead = bits >> current;
            (ahead != 0).then(|| (level, current + ahead.trailing_zeros() as usize))
        })
    }

    /// The first tick of `slot` of `level` in the wheel's current rotation of that level.
    fn slot_start(&self, level: usize, slot: usize) -> u64 {
        let shift = level as u32 * SLOT_BITS;
        let rotation = 1u64.checked_shl(shift + SLOT_BITS).unwrap_or(0);
        let base = self.elapsed & !rotation.wrapping_sub(1);
        base | ((slot as u64) << shift)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn us(t: u64) -> Instant {
        Instant::from_micros(t)
    }

    fn expire(w: &mut TimerWheel, now: u64) -> Vec<u32> {
        let mut fired = Vec::new();
        w.expire(us(now), &mut fired);
        fired.sort_unstable();
        fired
    }

    #[test]
    fn near_deadline_is_reported_exactly_and_fires_exactly_at_it() {
        let mut w = TimerWheel::new();
        w.insert(3, us(40_123));
        assert_eq!((w.len(), w.deadline(3)), (1, Some(us(40_123))));
        assert_eq!(w.next_deadline(), Some(us(40_123)));
        assert_eq!(expire(&mut w, 40_122), Vec::<u32>::new());
        assert_eq!(w.next_deadline(), Some(us(40_123)));
        assert_eq!(expire(&mut w, 40_123), vec![3]);
        assert_eq!((w.len(), w.next_deadline(), w.deadline(3)), (0, None, None));
    }

    #[test]
    fn earliest_of_several_in_one_tick_is_exact_and_survives_removal() {
        let mut w = TimerWheel::new();
        w.insert(1, us(5_000));
        w.insert(2, us(5_100));
        w.insert(3, us(5_050)); // all in tick 4 (4096..5120 µs)
        assert_eq!(w.next_deadline(), Some(us(5_000)));
        assert_eq!(w.remove(1), Some(us(5_000)));
        assert_eq!(w.next_deadline(), Some(us(5_050)));
        assert_eq!(expire(&mut w, 5_060), vec![3]);
        assert_eq!(w.next_deadline(), Some(us(5_100)));
        assert_eq!(expire(&mut w, 5_100), vec![2]);
    }

    #[test]
    fn far_deadline_gives_lower_bounds_that_converge_then_fires_exactly() {
        let mut w = TimerWheel::new();
        let at = 60_000_123; // 60 s: level 2
        w.insert(7, us(at));
        let mut wakeups = 0;
        loop {
            let t = w.next_deadline().unwrap().total_micros();
            assert!(t <= at, "never later than the deadline");
            let fired = expire(&mut w, t);
            wakeups += 1;
            if t == at {
                assert_eq!(fired, vec![7]);
                break;
            }
            assert!(fired.is_empty(), "nothing fires before its deadline");
        }
        assert!(
            wakeups <= LEVELS,
            "at most one early wakeup per level: {wakeups}"
        );
        assert!(w.is_empty());
    }

    #[test]
    fn insert_replaces_and_remove_cancels() {
        let mut w = TimerWheel::new();
        w.insert(0, us(1_000));
        w.insert(0, us(900_000));
        assert_eq!((w.len(), w.deadline(0)), (1, Some(us(900_000))));
        assert_eq!(expire(&mut w, 1_000), Vec::<u32>::new());
        w.insert(1, us(2_000));
        assert_eq!(w.remove(0), Some(us(900_000)));
        assert_eq!(w.remove(0), None);
        assert_eq!(w.remove(99), None, "unknown keys are ignored");
        assert_eq!(expire(&mut w, 10_000_000), vec![1]);
        assert!(w.is_empty());
    }

    #[test]
    fn past_deadline_fires_at_the_next_expire() {
        let mut w = TimerWheel::new();
        assert_eq!(expire(&mut w, 500_000), Vec::<u32>::new());
        w.insert(4, us(100));
        assert_eq!(w.next_deadline(), Some(us(100)));
        assert_eq!(expire(&mut w, 500_000), vec![4]);
    }

    #[test]
    fn deadlines_near_the_end_of_time_do_not_panic() {
        let mut w = TimerWheel::new();
        w.insert(1, us(u64::MAX));
        w.insert(2, us(u64::MAX - 5_000_000));
        assert!(w.next_deadline().unwrap() <= us(u64::MAX - 5_000_000));
        assert_eq!(expire(&mut w, u64::MAX), vec![1, 2]);
    }

    proptest! {
        /// A driver that always sleeps until `next_deadline` sees each key fire exactly at
        /// its deadline (the model's), never early, never late, with re-arms and cancels
        /// interleaved.
        #[test]
        fn fires_every_key_exactly_at_its_deadline(
            ops in proptest::collection::vec((0u32..40, 0u64..3_000_000_000, 0u8..8), 1..120),
        ) {
            let mut w = TimerWheel::new();
            let mut model: Vec<Option<u64>> = vec![None; 40];
            let mut now = 0u64;
            for (key, delta, op) in ops {
                match op {
                    0 => {
                        model[key as usize] = None;
                        w.remove(key);
                    }
                    1..=3 => {
                        let at = now + delta % 100_000; // near: level 0 and 1
                        model[key as usize] = Some(at);
                        w.insert(key, us(at));
                    }
                    4..=5 => {
                        let at = now + delta; // far: up to 50 minutes
                        model[key as usize] = Some(at);
                        w.insert(key, us(at));
                    }
                    _ => {
                        // Sleep until the wheel's next deadline and expire.
                        let Some(t) = w.next_deadline() else { continue };
                        let t = t.total_micros().max(now);
                        let earliest = model.iter().flatten().min().copied();
                        prop_assert!(earliest.is_some_and(|e| t <= e.max(now)));
                        now = t;
                        let fired = expire(&mut w, now);
                        let mut want: Vec<u32> = (0..40u32)
                            .filter(|&k| model[k as usize].is_some_and(|at| at <= now))
                            .collect();
                        want.sort_unstable();
                        for &k in &want {
                            model[k as usize] = None;
                        }
                        prop_assert_eq!(fired, want);
                    }
                }
                prop_assert_eq!(w.len(), model.iter().flatten().count());
                for k in 0..40u32 {
                    prop_assert_eq!(w.deadline(k), model[k as usize].map(us));
                }
            }
        }
    }
}
