//! ICMP errors about a connection's segments (RFC 1122 §4.2.3.9, RFC 5927, RFC 1191/8201).
//!
//! The stack finds the connection from the quoted headers and hands the error here with the
//! quoted sequence number. An error is believed only when that number lies in
//! SND.UNA..SND.NXT (RFC 5927 §4.1): a blind attacker must guess it, as for a RST. Then:
//!
//! * a *hard* error (protocol or port unreachable, administratively prohibited, …) aborts the
//!   connection only while it is still in SYN-SENT (RFC 5927 §4.1's recommendation, which is
//!   what Linux does); later it counts as soft, since a route may come back;
//! * a *soft* error is remembered and reported if the connection then times out, instead of a
//!   bare "timed out" (RFC 1122 §4.2.3.9: "SHOULD make the information available");
//! * *packet too big* (ICMPv4 fragmentation needed, ICMPv6 packet too big) lowers the segment
//!   size to the reported path MTU, never below 552 bytes (IPv4, Linux's `min_pmtu`) or 1280
//!   (IPv6, RFC 8200 §5), and resends the oldest segment at the new size at once (RFC 1191 §6.5).
//!
//! Without any error, RFC 4821 §7.7's black-hole detection lowers the segment size too: the
//! third retransmission timeout in a row with a full-sized segment outstanding halves it.
//!
//! Either way the size grows back: once
//! [`Config::mtu_probe_interval`](super::Config::mtu_probe_interval) (600 s) has passed, a
//! new-data segment goes at the negotiated MSS as a probe, and if it is lost, later ones
//! halve the range left; the send MSS takes the size of each probe acknowledged (see
//! `plpmtud.rs`). A packet-too-big error about a probe caps that search.

use super::send_buf::wide;
use super::{Connection, Error, State};
use crate::time::Instant;
use crate::wire::SeqNum;

/// What an ICMP error said about one of our segments.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum IcmpError {
    /// Destination unreachable. `hard`: the peer itself refused (protocol or port
    /// unreachable, administratively prohibited); otherwise the network could not reach it.
    Unreachable {
        /// Protocol/port unreachable or prohibited: aborts a connection in SYN-SENT.
        hard: bool,
        /// Port unreachable (the peer answered, nothing listens): `Refused` rather than
        /// `Unreachable` when it aborts.
        port: bool,
    },
    /// The path cannot carry packets larger than `mtu` bytes.
    PacketTooBig {
        /// The next-hop MTU the error reported.
        mtu: usize,
    },
}

/// The smallest IPv4 path MTU believed (Linux's `min_pmtu`): an error claiming less is
/// treated as this much, so a forged one cannot shrink segments to nothing.
pub const MIN_PMTU_V4: usize = 552;
/// The IPv6 minimum link MTU (RFC 8200 §5).
pub const MIN_PMTU_V6: usize = 1280;

impl Connection {
    /// Acts on an ICMP error that arrived at `now` about the segment that started at
    /// `quoted_seq`; returns whether it was believed (its sequence number was in
    /// SND.UNA..SND.NXT).
    pub fn handle_icmp_error(&mut self, now: Instant, err: IcmpError, quoted_seq: SeqNum) -> bool {
        if matches!(self.state, State::Closed | State::Listen | State::TimeWait) {
            return false;
        }
        let (una, nxt) = (self.tcb.snd_una, self.tcb.snd_max);
        if !(quoted_seq.after_eq(una) && quoted_seq.before(nxt)) {
            return false;
        }
        match err {
            IcmpError::Unreachable { hard, port } => {
                if hard && self.state == State::SynSent {
                    self.fail(if port {
                        Error::Refused
                    } else {
                        Error::Unreachable
                    });
                } else {
                    self.soft_error = true;
                }
            }
            IcmpError::PacketTooBig { mtu } => self.on_packet_too_big(now, mtu),
        }
        true
    }

    /// Path MTU discovery: segments shrink to what the path carries. A larger size is tried
    /// again after the probe interval (RFC 8201 §4).
    fn on_packet_too_big(&mut self, now: Instant, mtu: usize) {
        let v6 = self.remote().is_ipv6();
        let (floor, headers) = if v6 {
            (MIN_PMTU_V6, 40 + 20)
        } else {
            (MIN_PMTU_V4, 20 + 20)
        };
        let mss = mtu.max(floor).saturating_sub(headers).max(1);
        if mss >= wide(self.tcb.send_mss) {
            // About a probe, most likely: the search need not go above this.
            self.mtu_search_cap(now, mss);
            return;
        }
        self.lower_send_mss(now, mss);
        // The segment the router dropped goes again now, cut to the new size; the rest of the
        // flight is resent by loss detection, at the new size too.
        if self.tcb.snd_max.after(self.tcb.snd_una) {
            self.rexmit.head = true;
        }
    }

    /// RFC 4821 §7.7 black-hole detection, on a retransmission timeout at `now`: the third in
    /// a row with a full-sized segment outstanding halves the segment size (to the floor of
    /// [`Config::black_hole_detection`](super::Config::black_hole_detection)), until the
    /// search back up tries larger sizes again.
    pub(super) fn on_timeout_black_hole(&mut self, now: Instant) {
        if !self.cfg.black_hole_detection
            || self.rexmit.retries != 3
            || self.tcb.snd_una == self.tcb.iss
        {
            return;
        }
        let floor = if self.remote().is_ipv6() {
            super::config::BLACK_HOLE_MSS_V6
        } else {
            super::config::BLACK_HOLE_MSS_V4
        };
        let mss = wide(self.tcb.send_mss);
        if mss <= floor || self.tcb.snd_max.since(self.tcb.snd_una) < mss {
            return;
        }
        self.lower_send_mss(now, (mss / 2).max(floor));
    }

    /// The error a connection that gave up reports: what an ICMP error said, if one did,
    /// else a plain time-out.
    pub(super) fn timeout_error(&self) -> Error {
        if self.soft_error {
            Error::Unreachable
        } else {
            Error::TimedOut
        }
    }
}
