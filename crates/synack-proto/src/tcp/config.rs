//! Per-connection tunables.

use super::cc::CcAlgorithm;
use crate::time::Duration;

/// Per-connection configuration. `Default` gives Linux-like values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Config {
    /// The path MTU. The MSS we advertise and the largest payload we send is this minus
    /// the IP and TCP headers: 1460 for IPv4 and 1440 for IPv6 at MTU 1500.
    pub mtu: usize,
    /// An upper bound on the MSS below what the MTU allows (RFC 9293 §3.7.1); the default
    /// (65495) adds no limit.
    pub mss: u16,
    /// Send buffer capacity in bytes (unacknowledged plus unsent data); at most
    /// `u32::MAX` is used (a larger value saturates there, as autotuning always did).
    pub send_buffer: usize,
    /// Receive buffer capacity in bytes (bounds the advertised window); at most `u32::MAX`
    /// is used, as for `send_buffer` (a window can advertise under 2^30 anyway).
    pub recv_buffer: usize,
    /// Maximum number of disjoint out-of-order ranges held for reassembly.
    pub max_ooo_ranges: usize,
    /// Maximum segment lifetime; TIME-WAIT lasts twice this.
    pub msl: Duration,
    /// The RTO before any RTT sample (RFC 6298 §2.1: 1 s).
    pub initial_rto: Duration,
    /// Lower bound on the RTO (RFC 6298 §2.4 says 1 s; Linux uses 200 ms).
    pub min_rto: Duration,
    /// Upper bound on the RTO after backoff.
    pub max_rto: Duration,
    /// Retransmissions of SYN or SYN,ACK before giving up with `TimedOut` (at most 254: the
    /// count is kept in 8 bits, as Linux's, and a larger limit acts as 254).
    pub syn_retries: u32,
    /// Retransmissions of data or FIN before giving up with `TimedOut` (at most 254, as
    /// `syn_retries`).
    pub max_retries: u32,
    /// Disable Nagle's algorithm (send small segments at once).
    pub nodelay: bool,
    /// Segmentation offload (TSO/GSO): the most payload handed to the device in one segment,
    /// which the device cuts into MSS-sized segments on the wire. A large segment carries
    /// whole MSS multiples, plus a partial last piece only where a small segment could go
    /// (the end of the data with Nagle off or a FIN). 0 (the default), or anything up to the
    /// MSS, sends no segment larger than the MSS.
    pub tso_max: usize,
    /// Longest an ACK may be delayed. RFC 9293 §3.8.6.3 requires under 0.5 s, so larger
    /// values are treated as 500 ms.
    pub delayed_ack: Duration,
    /// Offer window scaling (RFC 7323 §2).
    pub window_scaling: bool,
    /// Offer timestamps (RFC 7323 §3): RTT measurement on every ACK and PAWS.
    pub timestamps: bool,
    /// Offer selective acknowledgments (RFC 2018): SACK blocks, SACK-based loss recovery
    /// (RFC 6675) and RACK-TLP (RFC 8985) when the peer agrees.
    pub sack: bool,
    /// Most challenge ACKs sent per second on one connection (RFC 5961 §7).
    pub challenge_ack_limit: u32,
    /// Keep-alive probing of idle connections (RFC 9293 §3.8.4); off by default, as the RFC asks.
    pub keepalive: Option<Keepalive>,
    /// ICMP black-hole detection (RFC 4821 §7.7, as Linux's `tcp_mtu_probing=1`): when the
    /// retransmission timer fires for the third time in a row with a full-sized segment
    /// outstanding, the path may be dropping large packets while its ICMP errors are
    /// filtered, so the segment size halves, down to [`BLACK_HOLE_MSS_V4`] or
    /// [`BLACK_HOLE_MSS_V6`]. On by default: without it such a path stalls a connection.
    /// The size grows back later: see [`Config::mtu_probe_interval`].
    pub black_hole_detection: bool,
    /// How long a segment size lowered by black-hole detection or a packet-too-big error
    /// stays lowered before the connection tries larger ones again (RFC 4821 §7.3,
    /// packetization-layer path MTU discovery; RFC 8201 §4 asks for at least 5 minutes
    /// after a packet-too-big and recommends 10), and how long it rests between such
    /// searches. A search sends one new-data segment at a larger size, a probe, and
    /// keeps that size once the probe is acknowledged; it starts at the negotiated MSS,
    /// then halves the range left until it is narrower than 8 bytes. 600 s by default,
    /// Linux's `tcp_probe_interval`; `Duration::MAX` never searches.
    pub mtu_probe_interval: Duration,
    /// How long a connection whose user has let go waits in FIN-WAIT-2 for the peer's FIN.
    pub fin_wait_2_timeout: Duration,
    /// The congestion control algorithm (CUBIC by default, as in Linux).
    pub congestion_control: CcAlgorithm,
}

/// Keep-alive settings: after `idle` without hearing from the peer, send up to `probes` probes
/// `interval` apart; if none is answered the connection fails with `TimedOut`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keepalive {
    /// Silence before the first probe (RFC 9293 §3.8.4: at least two hours by default).
    pub idle: Duration,
    /// Time between unanswered probes.
    pub interval: Duration,
    /// Unanswered probes before giving up.
    pub probes: u32,
}

impl Default for Keepalive {
    /// Linux's defaults: 2 hours idle, 75 s between probes, 9 probes.
    fn default() -> Self {
        Keepalive {
            idle: Duration::from_secs(7200),
            interval: Duration::from_secs(75),
            probes: 9,
        }
    }
}

impl Config {
    /// The MSS for a connection of the given address family: MTU minus IP and TCP headers,
    /// capped by [`Config::mss`], never below the RFC minimums (536 / 1220) unless capped.
    pub fn effective_mss(&self, ipv6: bool) -> u16 {
        let headers = if ipv6 { 40 + 20 } else { 20 + 20 };
        let from_mtu = self
            .mtu
            .saturating_sub(headers)
            .clamp(1, usize::from(u16::MAX));
        (from_mtu as u16).min(self.mss).max(1)
    }
}

/// The smallest segment size black-hole detection falls to over IPv4: Linux's `tcp_base_mss`
/// (RFC 4821 §7.2 suggests 1024-byte packets as a search base).
pub const BLACK_HOLE_MSS_V4: usize = 1024;
/// Over IPv6: the minimum MTU (1280) less the IPv6 and TCP headers.
pub const BLACK_HOLE_MSS_V6: usize = 1220;

impl Default for Config {
    fn default() -> Self {
        Config {
            mtu: 1500,
            mss: 65495,
            send_buffer: 64 * 1024,
            recv_buffer: 64 * 1024,
            max_ooo_ranges: 32,
            msl: Duration::from_secs(30),
            initial_rto: Duration::from_secs(1),
            min_rto: Duration::from_millis(200),
            max_rto: Duration::from_secs(60),
            syn_retries: 6,
            max_retries: 15,
            nodelay: false,
            tso_max: 0,
            delayed_ack: Duration::from_millis(40),
            window_scaling: true,
            timestamps: true,
            sack: true,
            challenge_ack_limit: 10,
            keepalive: None,
            black_hole_detection: true,
            mtu_probe_interval: Duration::from_secs(600),
            fin_wait_2_timeout: Duration::from_secs(60),
            congestion_control: CcAlgorithm::Cubic,
        }
    }
}
