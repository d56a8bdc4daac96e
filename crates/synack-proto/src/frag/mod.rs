//! IP fragmentation and reassembly: IPv4 (RFC 791, RFC 815) and IPv6 (RFC 8200 §4.5).
//!
//! # Reassembly
//!
//! A [`Reassembler`] holds the datagrams whose fragments are arriving. Like the rest of the
//! core it never reads a clock: the time comes in with every call.
//!
//! 1. A packet the whole-packet parsers refuse with [`WireError::Fragmented`] goes to
//!    [`Reassembler::insert`]. `Ok(Some(datagram))` is the whole datagram: handle
//!    [`Reassembled::packet`] as if it had just arrived (its IPv4 header has MF and the
//!    offset cleared, or its Fragment header is gone, and its length field covers the whole
//!    datagram). `Ok(None)`: the fragment is kept. `Err(e)`: the fragment was dropped and
//!    counted; [`FragError`] says which errors call for an ICMPv6 Parameter Problem.
//! 2. When the time reaches [`Reassembler::poll_timeout`], drain [`Reassembler::expire`]:
//!    each [`TimeExceeded`] is one ICMP Time Exceeded, code 1 ("fragment reassembly time
//!    exceeded", RFC 792, RFC 4443 §3.3), to send, quoting the first fragment.
//!
//! A datagram has [`FragConfig::timeout`] from its first-arriving fragment to complete
//! (RFC 8200 §4.5: "within 60 seconds of the reception of the first-arriving fragment"; the
//! timer is not restarted by later fragments, as RFC 1122 §3.3.2 asks: "a fixed value").
//! Fragments belong together when they share source, destination, protocol and
//! identification (IPv4, RFC 791) or source, destination and identification (IPv6).
//!
//! ## What is refused
//!
//! * **Overlaps.** RFC 5722 §4 and RFC 8200 §4.5: "if one or more of its constituent
//!   fragments is determined to be an overlapping fragment, the entire datagram (and any
//!   constituent fragments, including those not yet received) MUST be silently
//!   discarded". The datagram's buffers are freed at once; a small record of it stays
//!   until its timer runs out, so its later fragments are dropped too
//!   ([`FragError::Abandoned`]). IPv4 gets the same rule, as Linux gives it since 2018:
//!   overlapping fragments are how reassembly is used to slip past filters (RFC 1858 §4).
//! * **Exact duplicates** (the same offset, length and bytes as a fragment already held)
//!   are dropped alone: RFC 8200 §4.5 allows it, and the network does duplicate packets.
//!   Anything else that touches bytes already held is an overlap.
//! * **Disagreeing ends**: a second last fragment (M clear) with another end, or data
//!   past the end a last fragment set, abandons the datagram like an overlap.
//! * **Malformed fragments**, dropped alone: a length not a multiple of 8 octets with M
//!   set, data past the largest datagram (65535 octets, or [`FragConfig::max_datagram_len`]),
//!   an empty fragment, and (IPv6) a first fragment without every header through the
//!   upper-layer header (RFC 8200 §4.5, RFC 7112).
//! * An IPv6 **atomic fragment** (offset 0, M clear) is a whole packet: it comes back at
//!   once, without touching any state (RFC 6946 §4).
//!
//! ## Bounds and memory
//!
//! Every bound is in [`FragConfig`]: datagrams in progress, bytes buffered, fragments per
//! datagram, the largest datagram, the timeout. Reaching the datagram or byte bound evicts
//! the *oldest* datagram (the one that would time out first) rather than refusing the
//! newcomer, as FreeBSD's `ip_reass` does: a sender that keeps the table full with
//! fragments that never complete then delays everyone by at most the time it takes to
//! send a tableful, instead of locking reassembly out for a whole timeout (which is what
//! refusing new datagrams does; Linux refuses, and its `ipfrag_high_thresh` is why).
//!
//! A datagram in progress costs [`DATAGRAM_OVERHEAD`] bytes of bookkeeping, plus the
//! fragment data it holds (stored back to back in arrival order in one buffer whose
//! capacity at most doubles, capped at the datagram's size), plus 12 bytes per fragment
//! for the sorted index of pieces, plus the first fragment's header. All of it is counted
//! against [`FragConfig::max_bytes`] by allocated capacity, so
//! [`Reassembler::memory_usage`] never exceeds it. A fragment that would need more room
//! than evicting every other datagram can make is dropped ([`FragError::NoRoom`]).
//! Completing a datagram allocates its packet (header plus data) once, which then belongs
//! to the caller.
//!
//! ## The hole algorithm
//!
//! RFC 815 tracks the holes of a datagram instead of a bitmap: each arriving fragment
//! fills part of a hole, and the datagram is complete when no hole is left. Since any
//! overlap abandons the datagram, every fragment kept fills part of exactly one hole, so
//! the holes are the gaps between consecutive pieces of the index, sorted by offset; a
//! fragment that would not fit inside one gap is an overlap (or a duplicate). The datagram
//! is complete when the last fragment (M clear) has set its end and the pieces' lengths add
//! up to it: no gap is left.
//!
//! # Fragmentation
//!
//! [`fragment_ipv4`] and [`fragment_ipv6`] cut a packet for a link MTU. They return a
//! [`Fragments`] writer that puts one fragment at a time into the caller's buffer
//! ([`Fragments::write_next`]), as `poll_transmit` does: nothing is allocated, and the
//! packet is read in place.
//!
//! # Files
//!
//! | what | file |
//! |---|---|
//! | [`FragError`], this overview | `mod.rs` |
//! | [`FragConfig`] and why its defaults | `config` |
//! | [`FragCounters`] | `counters` |
//! | reading an arriving fragment (both families), atomic fragments, RFC 7112 | `arrival` |
//! | one datagram in progress: pieces, overlaps, assembly | `datagram` |
//! | [`Reassembler`]: the table, bounds, eviction, timeouts | `reassembler` |
//! | [`fragment_ipv4`], [`fragment_ipv6`], [`Fragments`] | `fragmenter` |
#![deny(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod arrival;
mod config;
mod counters;
mod datagram;
mod fragmenter;
mod reassembler;

#[cfg(test)]
mod tests;

pub use config::FragConfig;
pub use counters::FragCounters;
pub use fragmenter::{Fragments, fragment_ipv4, fragment_ipv6};
pub use reassembler::{
    DATAGRAM_OVERHEAD, QUOTE_LEN_V4, QUOTE_LEN_V6, Reassembled, Reassembler, TimeExceeded,
};

use crate::wire::WireError;

/// Why a fragment was dropped, or a packet could not be fragmented.
///
/// Reassembly drops every fragment it returns an error for, and counts it in
/// [`FragCounters`]. RFC 8200 §4.5 asks for an ICMPv6 Parameter Problem for three of them
/// (noted below); the caller sends it, quoting the fragment it handed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FragError {
    /// Not a fragment (IPv4 with MF clear and offset 0, IPv6 without a Fragment header):
    /// parse it as a whole packet. Not counted.
    #[error("not a fragment")]
    NotFragmented,
    /// The IP header is malformed: too short, lengths that disagree, a bad IPv4 header
    /// checksum, an IPv6 header chain that cannot be walked.
    #[error("malformed fragment: {0}")]
    Wire(#[from] WireError),
    /// M is set but the length is not a multiple of 8 octets (RFC 791; RFC 8200 §4.5:
    /// ICMPv6 Parameter Problem code 0 pointing at the Payload Length field).
    #[error("fragment with more to follow is not a multiple of 8 octets")]
    BadLength,
    /// A fragment without data that is not a whole packet: it fills no hole.
    #[error("empty fragment")]
    Empty,
    /// The fragment ends past the largest datagram: 65535 octets of IPv4 total length or
    /// IPv6 payload length, or [`FragConfig::max_datagram_len`] (RFC 8200 §4.5: ICMPv6
    /// Parameter Problem code 0 pointing at the Fragment Offset field). Also a datagram
    /// found too long once its first fragment's headers are known; it is abandoned.
    #[error("fragment ends past the largest datagram")]
    TooLong,
    /// An IPv6 first fragment that does not hold every header through the upper-layer
    /// header (RFC 8200 §4.5, RFC 7112 §5: ICMPv6 Parameter Problem code 3, pointer 0).
    #[error("first fragment does not hold the whole header chain")]
    IncompleteHeaderChain,
    /// The same offset, length and bytes as a fragment already held: dropped alone.
    #[error("duplicate fragment")]
    Duplicate,
    /// The fragment overlaps data already held: the whole datagram is abandoned (RFC 5722).
    #[error("overlapping fragment: datagram abandoned")]
    Overlap,
    /// The fragment disagrees with the datagram's end (a second last fragment with another
    /// end, or data past the end): the whole datagram is abandoned.
    #[error("fragment disagrees with the datagram's end: datagram abandoned")]
    Inconsistent,
    /// The datagram was abandoned (overlap, disagreement, too many fragments); its
    /// fragments are dropped until its timer would have run out.
    #[error("fragment of an abandoned datagram")]
    Abandoned,
    /// The datagram already holds [`FragConfig::max_fragments`] fragments and is not
    /// complete: it is abandoned.
    #[error("too many fragments: datagram abandoned")]
    TooManyFragments,
    /// No room for the fragment within [`FragConfig::max_bytes`] or
    /// [`FragConfig::max_datagrams`], even after evicting every other datagram (or the
    /// allocator refused).
    #[error("no room for the fragment")]
    NoRoom,
    /// Fragmentation: the packet is larger than the MTU and its IPv4 DF bit is set (the
    /// sender of a forwarded packet is owed an ICMP "fragmentation needed").
    #[error("packet larger than the MTU has DF set")]
    DontFragment,
    /// Fragmentation: the MTU cannot carry the headers every fragment repeats plus 8 octets
    /// of data.
    #[error("MTU too small to carry a fragment")]
    MtuTooSmall,
}

/// Which datagram a fragment belongs to: RFC 791's (source, destination, protocol,
/// identification), RFC 8200's (source, destination, identification).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Key {
    /// An IPv4 datagram.
    V4 {
        src: core::net::Ipv4Addr,
        dst: core::net::Ipv4Addr,
        protocol: u8,
        ident: u16,
    },
    /// An IPv6 packet.
    V6 {
        src: core::net::Ipv6Addr,
        dst: core::net::Ipv6Addr,
        ident: u32,
    },
}

impl Key {
    /// The source address.
    fn src(&self) -> core::net::IpAddr {
        match self {
            Key::V4 { src, .. } => (*src).into(),
            Key::V6 { src, .. } => (*src).into(),
        }
    }

    /// The destination address.
    fn dst(&self) -> core::net::IpAddr {
        match self {
            Key::V4 { dst, .. } => (*dst).into(),
            Key::V6 { dst, .. } => (*dst).into(),
        }
    }
}
