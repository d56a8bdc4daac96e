//! What the reassembler counted ([`FragCounters`]), named after the RFC 4293 IP-MIB or
//! Linux's `/proc/net/snmp` where one exists.

/// What the reassembler has seen and dropped, and why.
///
/// Every packet handed to [`Reassembler::insert`](super::Reassembler::insert) counts in
/// `reasm_reqds`, except one that is no fragment at all
/// ([`FragError::NotFragmented`](super::FragError::NotFragmented)); every one dropped counts
/// in exactly one of the reasons below; every datagram given up counts in `reasm_fails`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FragCounters {
    /// `ReasmReqds` (RFC 4293 `ipSystemStatsReasmReqds`): fragments received that needed
    /// reassembly, atomic ones included (as Linux counts them).
    pub reasm_reqds: u64,
    /// `ReasmOKs`: datagrams reassembled, atomic fragments included.
    pub reasm_oks: u64,
    /// `ReasmFails`: failures of reassembly: each datagram given up (timed out, overlapping,
    /// disagreeing, too many fragments, too long, evicted) and each fragment dropped as
    /// malformed or for want of room. Duplicates and fragments of a datagram already given
    /// up are not failures (they are counted below).
    pub reasm_fails: u64,
    /// `ReasmTimeout` (Linux): datagrams whose timer ran out before they were complete.
    pub reasm_timeout: u64,
    /// `ReasmOverlaps` (Linux): datagrams abandoned because a fragment overlapped another
    /// (RFC 5722).
    pub reasm_overlaps: u64,
    /// Exact duplicates, dropped alone.
    pub reasm_duplicates: u64,
    /// Datagrams abandoned because a fragment disagreed with the end another set.
    pub reasm_inconsistent: u64,
    /// Fragments dropped because their datagram had been abandoned (RFC 5722: "including
    /// those not yet received").
    pub reasm_abandoned_drops: u64,
    /// `InHdrErrors` (RFC 4293 `ipSystemStatsInHdrErrors`), for fragments: malformed
    /// headers, a length not a multiple of 8 with M set, an empty fragment, an IPv6 first
    /// fragment without the whole header chain.
    pub in_hdr_errors: u64,
    /// Fragments that would make a datagram longer than 65535 octets or
    /// [`FragConfig::max_datagram_len`](super::FragConfig::max_datagram_len), and datagrams
    /// found too long when complete.
    pub reasm_too_long: u64,
    /// Datagrams abandoned for reaching
    /// [`FragConfig::max_fragments`](super::FragConfig::max_fragments).
    pub reasm_too_many_fragments: u64,
    /// Datagrams evicted, oldest first, to make room for a newer one under
    /// [`FragConfig::max_datagrams`](super::FragConfig::max_datagrams) or
    /// [`FragConfig::max_bytes`](super::FragConfig::max_bytes).
    pub reasm_evicted: u64,
    /// Fragments dropped because no eviction could make room for them.
    pub reasm_no_room: u64,
    /// IPv6 atomic fragments (offset 0, M clear) returned at once (RFC 6946).
    pub reasm_atomic: u64,
}

impl FragCounters {
    /// Every counter with its name, in a fixed order (for printing).
    pub fn named(&self) -> [(&'static str, u64); 14] {
        [
            ("ReasmReqds", self.reasm_reqds),
            ("ReasmOKs", self.reasm_oks),
            ("ReasmFails", self.reasm_fails),
            ("ReasmTimeout", self.reasm_timeout),
            ("ReasmOverlaps", self.reasm_overlaps),
            ("SynackReasmDuplicates", self.reasm_duplicates),
            ("SynackReasmInconsistent", self.reasm_inconsistent),
            ("SynackReasmAbandonedDrops", self.reasm_abandoned_drops),
            ("InHdrErrors", self.in_hdr_errors),
            ("SynackReasmTooLong", self.reasm_too_long),
            ("SynackReasmTooManyFragments", self.reasm_too_many_fragments),
            ("SynackReasmEvicted", self.reasm_evicted),
            ("SynackReasmNoRoom", self.reasm_no_room),
            ("SynackReasmAtomic", self.reasm_atomic),
        ]
    }

    /// The counters that are not zero, with their names.
    pub fn nonzero(&self) -> impl Iterator<Item = (&'static str, u64)> {
        self.named().into_iter().filter(|(_, v)| *v != 0)
    }
}
