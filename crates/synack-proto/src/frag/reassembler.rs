//! The [`Reassembler`]: datagrams in progress by key and by deadline, the bounds and the
//! eviction that keeps them, timeouts.

use super::arrival::{self, Arrival, Fragment};
use super::datagram::{Collecting, Fit};
use super::{FragConfig, FragCounters, FragError, Key};
use crate::time::Instant;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::mem::size_of;
use core::net::IpAddr;

/// The bookkeeping bytes one datagram in progress is charged, whatever it holds: its
/// entries in the two ordered maps (by key, by deadline), plus half again for the maps'
/// nodes (360 bytes on 64-bit targets). An abandoned datagram waiting out its timer costs
/// just this.
pub const DATAGRAM_OVERHEAD: usize =
    (size_of::<Key>() + size_of::<Datagram>() + size_of::<(Instant, u64)>() + size_of::<Key>()) * 3
        / 2;

/// The most bytes of the first fragment a [`TimeExceeded`] quotes for IPv4: what fits in a
/// 576-octet ICMP error (RFC 1812 §4.3.2.3: "as much of the original datagram as possible
/// without the length of the ICMP datagram exceeding 576 bytes"; 576 − 20 − 8). RFC 792
/// asks for the header and 64 bits of data at least.
pub const QUOTE_LEN_V4: usize = 548;
/// The most bytes of the first fragment a [`TimeExceeded`] quotes for IPv6: what fits in an
/// ICMPv6 error of the minimum MTU (RFC 4443 §2.4 (c): "as much of invoking packet as
/// possible without the ICMPv6 packet exceeding the minimum IPv6 MTU"; 1280 − 40 − 8).
pub const QUOTE_LEN_V6: usize = 1232;

/// A whole datagram, put back together (or an IPv6 atomic fragment without its Fragment
/// header): parse it as an unfragmented packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reassembled {
    packet: Vec<u8>,
}

impl Reassembled {
    /// The datagram: the first fragment's IP header (IPv4 with MF and the offset cleared,
    /// total length and checksum recomputed; IPv6 with its Fragment header removed and the
    /// payload length recomputed), then the whole payload.
    pub fn packet(&self) -> &[u8] {
        &self.packet
    }

    /// The datagram's buffer.
    pub fn into_vec(self) -> Vec<u8> {
        self.packet
    }
}

impl AsRef<[u8]> for Reassembled {
    fn as_ref(&self) -> &[u8] {
        &self.packet
    }
}

/// A datagram that timed out after its first fragment arrived: the caller owes its source
/// an ICMP Time Exceeded, code 1 (RFC 792; RFC 8200 §4.5 and RFC 4443 §3.3 for IPv6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeExceeded {
    /// The fragments' source: where the ICMP error goes.
    pub src: IpAddr,
    /// The fragments' destination: the ICMP error's source address.
    pub dst: IpAddr,
    /// The first fragment as it arrived (IP header, for IPv6 the extension headers through
    /// the Fragment header, then its data), cut at [`QUOTE_LEN_V4`] or [`QUOTE_LEN_V6`]
    /// bytes: what the ICMP error quotes.
    pub invoking_packet: Vec<u8>,
}

/// One datagram in the table.
#[derive(Debug)]
struct Datagram {
    /// When it times out: its first fragment's arrival plus the timeout.
    deadline: Instant,
    /// Tells datagrams with the same deadline apart in the deadline map.
    serial: u64,
    state: State,
}

#[derive(Debug)]
enum State {
    Collecting(Collecting),
    /// Given up (overlap, disagreement, too many fragments): its fragments are dropped
    /// until the deadline (RFC 5722 §4: "including those not yet received").
    Abandoned,
}

impl Datagram {
    /// What it is charged against [`FragConfig::max_bytes`].
    fn cost(&self) -> usize {
        DATAGRAM_OVERHEAD
            + match &self.state {
                State::Collecting(c) => c.heap_bytes(),
                State::Abandoned => 0,
            }
    }
}

/// Reassembles IPv4 and IPv6 fragments within the bounds of a [`FragConfig`].
///
/// Sans-IO: [`Reassembler::insert`] each fragment with the current time, and drain
/// [`Reassembler::expire`] once the time reaches [`Reassembler::poll_timeout`]; the module
/// documentation ([`crate::frag`]) gives the rules.
///
/// Invariants after every call: at most [`FragConfig::max_datagrams`] datagrams held, and
/// [`Reassembler::memory_usage`] at most [`FragConfig::max_bytes`].
#[derive(Debug)]
pub struct Reassembler {
    cfg: FragConfig,
    datagrams: BTreeMap<Key, Datagram>,
    /// The same datagrams by (deadline, serial): the first is the oldest.
    deadlines: BTreeMap<(Instant, u64), Key>,
    next_serial: u64,
    /// The sum of every datagram's [`Datagram::cost`].
    bytes: usize,
    counters: FragCounters,
}

impl Default for Reassembler {
    fn default() -> Self {
        Reassembler::new(FragConfig::default())
    }
}

impl Reassembler {
    /// An empty reassembler with these bounds.
    pub fn new(cfg: FragConfig) -> Self {
        Reassembler {
            cfg,
            datagrams: BTreeMap::new(),
            deadlines: BTreeMap::new(),
            next_serial: 0,
            bytes: 0,
            counters: FragCounters::default(),
        }
    }

    /// Its bounds.
    pub fn config(&self) -> &FragConfig {
        &self.cfg
    }

    /// What it has counted.
    pub fn counters(&self) -> &FragCounters {
        &self.counters
    }

    /// The bytes charged against [`FragConfig::max_bytes`]: [`DATAGRAM_OVERHEAD`] per
    /// datagram held, plus the capacity of every buffer it holds.
    pub fn memory_usage(&self) -> usize {
        self.bytes
    }

    /// How many datagrams it holds, abandoned ones waiting out their timer included.
    pub fn len(&self) -> usize {
        self.datagrams.len()
    }

    /// It holds no datagram.
    pub fn is_empty(&self) -> bool {
        self.datagrams.is_empty()
    }

    /// When [`Reassembler::expire`] next has work: the oldest datagram's deadline.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.first_key_value().map(|((at, _), _)| *at)
    }

    /// Takes one arriving fragment (an IPv4 or IPv6 packet, link padding allowed after the
    /// IP length).
    ///
    /// `Ok(Some(datagram))` when it completes a datagram (or is an IPv6 atomic fragment),
    /// `Ok(None)` when it is kept, `Err` when it is dropped ([`FragError`] says why; every
    /// drop is counted). A datagram whose deadline has passed and that [`Reassembler::expire`]
    /// has not collected yet is timed out here, without a [`TimeExceeded`].
    pub fn insert(
        &mut self,
        now: Instant,
        packet: &[u8],
    ) -> Result<Option<Reassembled>, FragError> {
        let result = self.insert_inner(now, packet);
        match &result {
            Ok(Some(_)) => self.counters.reasm_oks += 1,
            Ok(None) | Err(FragError::NotFragmented) => {}
            Err(e) => self.count_drop(*e),
        }
        if !matches!(result, Err(FragError::NotFragmented)) {
            self.counters.reasm_reqds += 1;
        }
        result
    }

    fn insert_inner(
        &mut self,
        now: Instant,
        packet: &[u8],
    ) -> Result<Option<Reassembled>, FragError> {
        let f = match arrival::read(packet, self.max_len())? {
            Arrival::Atomic(packet) => {
                self.counters.reasm_atomic += 1;
                return Ok(Some(Reassembled { packet }));
            }
            Arrival::Fragment(f) => f,
        };
        self.time_out_stale(now, &f.key);
        if !self.datagrams.contains_key(&f.key) {
            self.create(now, f.key)?;
        }
        self.add(&f)
    }

    /// Counts a dropped fragment under its reason, and as a failure unless it is a
    /// duplicate or belongs to a datagram already given up.
    fn count_drop(&mut self, e: FragError) {
        let c = &mut self.counters;
        match e {
            FragError::Duplicate => c.reasm_duplicates += 1,
            FragError::Abandoned => c.reasm_abandoned_drops += 1,
            FragError::NotFragmented | FragError::DontFragment | FragError::MtuTooSmall => {}
            FragError::Wire(_)
            | FragError::BadLength
            | FragError::Empty
            | FragError::IncompleteHeaderChain => c.in_hdr_errors += 1,
            FragError::TooLong => c.reasm_too_long += 1,
            FragError::Overlap => c.reasm_overlaps += 1,
            FragError::Inconsistent => c.reasm_inconsistent += 1,
            FragError::TooManyFragments => c.reasm_too_many_fragments += 1,
            FragError::NoRoom => c.reasm_no_room += 1,
        }
        if !matches!(
            e,
            FragError::Duplicate | FragError::Abandoned | FragError::NotFragmented
        ) {
            c.reasm_fails += 1;
        }
    }

    /// The largest datagram, as the IP length field counts it.
    fn max_len(&self) -> usize {
        self.cfg.max_datagram_len.min(arrival::MAX_IP_LEN)
    }

    /// Places `f` in its datagram, which exists.
    fn add(&mut self, f: &Fragment<'_>) -> Result<Option<Reassembled>, FragError> {
        let max_len = self.max_len();
        let max_fragments = self.cfg.max_fragments;
        let Some(dg) = self.datagrams.get(&f.key) else {
            return Err(FragError::NoRoom);
        };
        let State::Collecting(c) = &dg.state else {
            return Err(FragError::Abandoned);
        };
        let fit = c.fit(f);
        let held = c.fragments();
        let growth = c.growth(f, max_fragments, max_len);
        let extra = c.extra_bytes(&growth);
        let index = match fit {
            Fit::Hole { index } => index,
            Fit::Duplicate => return Err(FragError::Duplicate),
            Fit::Overlap => return Err(self.abandon(&f.key, FragError::Overlap)),
            Fit::Inconsistent => return Err(self.abandon(&f.key, FragError::Inconsistent)),
        };
        if held >= max_fragments {
            return Err(self.abandon(&f.key, FragError::TooManyFragments));
        }
        if !self.make_room(extra, Some(&f.key)) {
            return Err(self.no_room(&f.key, held));
        }
        let Some(Datagram {
            state: State::Collecting(c),
            ..
        }) = self.datagrams.get_mut(&f.key)
        else {
            return Err(FragError::NoRoom);
        };
        let before = c.heap_bytes();
        let stored = c.store(f, index, &growth);
        let after = c.heap_bytes();
        let complete = c.is_complete();
        self.bytes = self.bytes.saturating_sub(before) + after;
        if let Err(e) = stored {
            self.no_room(&f.key, held);
            return Err(e);
        }
        if self.bytes > self.cfg.max_bytes && !self.make_room(0, Some(&f.key)) {
            // The allocator gave more than asked and nothing else can go: this one goes.
            self.remove(&f.key);
            return Err(FragError::NoRoom);
        }
        if !complete {
            return Ok(None);
        }
        let Some(Datagram {
            state: State::Collecting(c),
            ..
        }) = self.remove(&f.key)
        else {
            return Err(FragError::NoRoom);
        };
        let packet = c.assemble(max_len)?;
        Ok(Some(Reassembled { packet }))
    }

    /// A fragment found no room: a datagram it would have started is forgotten.
    fn no_room(&mut self, key: &Key, held: usize) -> FragError {
        if held == 0 {
            self.remove(key);
        }
        FragError::NoRoom
    }

    /// Gives a datagram up: its buffers go, a record stays until its deadline so its later
    /// fragments are dropped too. Returns `why`.
    fn abandon(&mut self, key: &Key, why: FragError) -> FragError {
        if let Some(dg) = self.datagrams.get_mut(key) {
            let before = dg.cost();
            dg.state = State::Abandoned;
            self.bytes = self.bytes.saturating_sub(before.saturating_sub(dg.cost()));
        }
        why
    }

    /// Starts a datagram for `key`, evicting the oldest if the table is full.
    fn create(&mut self, now: Instant, key: Key) -> Result<(), FragError> {
        while self.datagrams.len() >= self.cfg.max_datagrams {
            if !self.evict_oldest(None) {
                return Err(FragError::NoRoom);
            }
        }
        if !self.make_room(DATAGRAM_OVERHEAD, None) {
            return Err(FragError::NoRoom);
        }
        let serial = self.next_serial;
        self.next_serial += 1;
        let deadline = now + self.cfg.timeout;
        self.datagrams.insert(
            key,
            Datagram {
                deadline,
                serial,
                state: State::Collecting(Collecting::default()),
            },
        );
        self.deadlines.insert((deadline, serial), key);
        self.bytes += DATAGRAM_OVERHEAD;
        Ok(())
    }

    /// Evicts the oldest datagrams other than `keep` until `extra` more bytes fit; false if
    /// they cannot.
    fn make_room(&mut self, extra: usize, keep: Option<&Key>) -> bool {
        while self.bytes + extra > self.cfg.max_bytes {
            if !self.evict_oldest(keep) {
                return false;
            }
        }
        true
    }

    /// Evicts the datagram that would time out first, other than `keep`; false if there is
    /// none.
    fn evict_oldest(&mut self, keep: Option<&Key>) -> bool {
        let Some(key) = self.deadlines.values().find(|k| Some(*k) != keep).copied() else {
            return false;
        };
        if let Some(dg) = self.remove(&key) {
            self.counters.reasm_evicted += 1;
            if matches!(dg.state, State::Collecting(_)) {
                self.counters.reasm_fails += 1;
            }
        }
        true
    }

    /// Takes a datagram out of both maps and the byte count.
    fn remove(&mut self, key: &Key) -> Option<Datagram> {
        let dg = self.datagrams.remove(key)?;
        self.deadlines.remove(&(dg.deadline, dg.serial));
        self.bytes = self.bytes.saturating_sub(dg.cost());
        Some(dg)
    }

    /// A datagram for `key` whose deadline has passed times out now.
    fn time_out_stale(&mut self, now: Instant, key: &Key) {
        if self.datagrams.get(key).is_some_and(|dg| dg.deadline <= now)
            && let Some(dg) = self.remove(key)
        {
            self.count_timeout(&dg);
        }
    }

    fn count_timeout(&mut self, dg: &Datagram) {
        if matches!(dg.state, State::Collecting(_)) {
            self.counters.reasm_timeout += 1;
            self.counters.reasm_fails += 1;
        }
    }

    /// Times out the datagrams whose deadline is at or before `now`, oldest first, and
    /// returns the next that had its first fragment: the caller sends ICMP Time Exceeded,
    /// code 1, quoting it. Call until it returns `None`. Datagrams without their first
    /// fragment, and abandoned ones, go silently (RFC 792, RFC 8200 §4.5: "If the first
    /// fragment (i.e., the one with a Fragment Offset of zero) has not been received, an
    /// ICMP Time Exceeded message should not be sent").
    #[must_use]
    pub fn expire(&mut self, now: Instant) -> Option<TimeExceeded> {
        while let Some((&(deadline, _), &key)) = self.deadlines.first_key_value() {
            if deadline > now {
                return None;
            }
            self.deadlines.pop_first();
            let Some(dg) = self.datagrams.remove(&key) else {
                continue;
            };
            self.bytes = self.bytes.saturating_sub(dg.cost());
            self.count_timeout(&dg);
            if let State::Collecting(c) = &dg.state {
                let max = match key {
                    Key::V4 { .. } => QUOTE_LEN_V4,
                    Key::V6 { .. } => QUOTE_LEN_V6,
                };
                if let Some(invoking_packet) = c.quote(max) {
                    return Some(TimeExceeded {
                        src: key.src(),
                        dst: key.dst(),
                        invoking_packet,
                    });
                }
            }
        }
        None
    }
}
