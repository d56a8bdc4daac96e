//! [`LazyStats`]: a connection's [`ConnStats`] on the heap only once a counter moves.
//!
//! Most connections never retransmit, probe or drop anything, so their counters stay zero;
//! an idle connection then pays one pointer instead of the whole table. Call sites keep
//! writing `self.stats.retransmits += 1`: the first mutable access allocates the table.

use super::connection::ConnStats;
use alloc::boxed::Box;
use core::ops::{Deref, DerefMut};

/// The counters of one connection, allocated on the first increment (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct LazyStats(Option<Box<ConnStats>>);

impl LazyStats {
    /// A copy of the counters (all zero before the first increment).
    pub fn get(&self) -> ConnStats {
        self.0.as_deref().copied().unwrap_or_default()
    }

    /// Heap bytes held: the table once allocated, else nothing.
    pub fn allocated_bytes(&self) -> usize {
        self.0.as_ref().map_or(0, |_| size_of::<ConnStats>())
    }
}

impl Deref for LazyStats {
    type Target = ConnStats;

    fn deref(&self) -> &ConnStats {
        static ZERO: ConnStats = ConnStats::ZERO;
        match self.0.as_deref() {
            Some(stats) => stats,
            None => &ZERO,
        }
    }
}

impl DerefMut for LazyStats {
    fn deref_mut(&mut self) -> &mut ConnStats {
        self.0.get_or_insert_with(Box::default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_take_no_heap_until_one_moves() {
        let mut s = LazyStats::default();
        assert_eq!(s.allocated_bytes(), 0);
        assert_eq!(s.retransmits, 0);
        assert_eq!(s.get(), ConnStats::default());
        assert_eq!(s.allocated_bytes(), 0, "reading allocates nothing");
        s.retransmits += 1;
        assert_eq!(s.get().retransmits, 1);
        assert_eq!(s.allocated_bytes(), size_of::<ConnStats>());
    }
}
