//! A connection's counters: [`ConnStats`], and [`LazyStats`], which holds them on the heap only
//! once a counter moves.
//!
//! Most connections never retransmit, probe or drop anything, so their counters stay zero;
//! an idle connection then pays one pointer instead of the whole table. Call sites keep
//! writing `self.stats.retransmits += 1`: the first mutable access allocates the table.

use alloc::boxed::Box;
use core::ops::{Deref, DerefMut};

/// Counters of one connection, for tests and introspection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnStats {
    /// Segments retransmitted (timeouts, fast retransmit).
    pub retransmits: u64,
    /// Retransmission timeouts.
    pub timeouts: u64,
    /// Fast retransmissions on three duplicate ACKs.
    pub fast_retransmits: u64,
    /// Challenge ACKs sent (RFC 5961).
    pub challenge_acks: u64,
    /// Zero-window probes sent.
    pub window_probes: u64,
    /// Segments dropped as unacceptable.
    pub dropped_segments: u64,
    /// Segments dropped by PAWS (an old timestamp, RFC 7323 §5).
    pub paws_drops: u64,
    /// RSTs accepted (the connection was reset or refused).
    pub resets_received: u64,
    /// Keep-alive probes sent.
    pub keepalive_probes: u64,
    /// SACK-based fast recoveries entered (RFC 6675).
    pub sack_recoveries: u64,
    /// Tail loss probes sent (RFC 8985 §7).
    pub tlp_probes: u64,
    /// Loss probes that repaired a tail loss (RFC 8985 §7.4).
    pub tlp_recoveries: u64,
    /// Bytes RACK marked lost by time (RFC 8985 §6.2).
    pub rack_lost_bytes: u64,
    /// D-SACK blocks received (RFC 2883).
    pub dsacks_received: u64,
    /// SACK blocks ignored for lying outside [SND.UNA, SND.MAX].
    pub sack_blocks_invalid: u64,
    /// Times the peer dropped data it had SACKed (RFC 2018 §8).
    pub sack_reneging: u64,
    /// New data arrived after the user released the connection, and was answered with a
    /// RST (RFC 1122 §4.2.2.13, RFC 2525 §2.17; Linux's `TCPAbortOnData`).
    pub aborts_on_data: u64,
    /// Path MTU probes acknowledged: the segment size grew to theirs (RFC 4821 §7.6.1;
    /// Linux's `TCPMTUPSuccess`).
    pub mtu_probes_acked: u64,
    /// Path MTU probes lost (retransmitted): the search range shrank below them (RFC 4821
    /// §7.6.2; Linux's `TCPMTUPFail`).
    pub mtu_probes_lost: u64,
}

impl ConnStats {
    /// Every counter zero.
    pub const ZERO: ConnStats = ConnStats {
        retransmits: 0,
        timeouts: 0,
        fast_retransmits: 0,
        challenge_acks: 0,
        window_probes: 0,
        dropped_segments: 0,
        paws_drops: 0,
        resets_received: 0,
        keepalive_probes: 0,
        sack_recoveries: 0,
        tlp_probes: 0,
        tlp_recoveries: 0,
        rack_lost_bytes: 0,
        dsacks_received: 0,
        sack_blocks_invalid: 0,
        sack_reneging: 0,
        aborts_on_data: 0,
        mtu_probes_acked: 0,
        mtu_probes_lost: 0,
    };
}

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
