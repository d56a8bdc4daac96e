//! The reassembler's bounds ([`FragConfig`]) and why its defaults are what they are.

use crate::time::Duration;

/// Every bound a [`Reassembler`](super::Reassembler) keeps.
///
/// The defaults follow Linux where Linux has a knob, and are chosen so a full table costs
/// what Linux lets fragments cost (4 MiB); embedded users lower `max_bytes` and
/// `max_datagram_len` to what they can spare.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FragConfig {
    /// Most datagrams in progress (abandoned ones waiting out their timer included). A new
    /// datagram beyond it evicts the oldest.
    ///
    /// Default 1024. Linux has no such count, only its byte bound; FreeBSD's
    /// `net.inet.ip.maxfragpackets` is in the hundreds to low thousands. 1024 lets 1024 peers
    /// each have a datagram in flight, and caps the bookkeeping of tiny-fragment floods at
    /// about 1024 × [`DATAGRAM_OVERHEAD`](super::DATAGRAM_OVERHEAD).
    pub max_datagrams: usize,
    /// Most bytes the reassembler holds: fragment data, indexes, headers and bookkeeping,
    /// as [`Reassembler::memory_usage`](super::Reassembler::memory_usage) counts them.
    /// Room for a fragment is made by evicting the oldest datagrams.
    ///
    /// Default 4 MiB: Linux's `ipfrag_high_thresh` (and `ip6frag_high_thresh`), the memory
    /// Linux lets fragments take before it drops them. It holds 63 maximal (64 KiB)
    /// datagrams at once, with their bookkeeping.
    pub max_bytes: usize,
    /// The largest datagram reassembled, as the IP length field counts it: IPv4 total
    /// length (header included), IPv6 payload length (extension headers included). The
    /// fields cap it at 65535 whatever this says.
    ///
    /// Default 65535: the most either field can hold (no policy limit below the protocol's).
    pub max_datagram_len: usize,
    /// Most fragments one datagram may arrive in. A datagram that reaches it without being
    /// complete is abandoned.
    ///
    /// Default 64: a maximal datagram (65535 octets) takes 45 fragments on a 1500-octet
    /// link and 54 at IPv6's minimum MTU of 1280 (RFC 8200 §5), so every datagram a real
    /// link carries fits; IPv4 paths below about 1050 octets cannot bring a maximal datagram.
    /// Linux has no such bound; FreeBSD's `maxfragsperpacket` is 16. It bounds the index of
    /// pieces (12 bytes each) and the work per fragment.
    pub max_fragments: usize,
    /// How long a datagram has to complete, from its first-arriving fragment.
    ///
    /// Default 30 s: Linux's `ipfrag_time`. RFC 8200 §4.5 makes 60 s the most an IPv6
    /// packet may wait (Linux's `ip6frag_time` is that), and RFC 1122 §3.3.2 recommended
    /// 60–120 s for the slow links of 1989; but every second a datagram waits is a second
    /// its memory is held against a flood, and at today's rates a 16-bit IPv4
    /// identification wraps in far less than a minute, after which late fragments would be
    /// glued to the wrong datagram (RFC 4963 §2). Fragments of one datagram arrive within
    /// milliseconds of each other, so 30 s loses nothing real.
    pub timeout: Duration,
}

impl Default for FragConfig {
    fn default() -> Self {
        FragConfig {
            max_datagrams: 1024,
            max_bytes: 4 << 20,
            max_datagram_len: 65535,
            max_fragments: 64,
            timeout: Duration::from_secs(30),
        }
    }
}
