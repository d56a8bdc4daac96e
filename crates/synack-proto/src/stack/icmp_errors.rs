//! ICMP errors, both ways.
//!
//! *Sent* (RFC 792, RFC 4443): port unreachable for a datagram to one of our ports that no
//! socket holds, and Time Exceeded (fragment reassembly) when a datagram's first fragment came
//! but the rest did not in time. Never about an ICMP error, a broadcast or multicast, or a
//! fragment other than the first (`wire::icmp::may_send_error_about`), and rate-limited by a
//! token bucket (RFC 1812 §4.3.2.8, RFC 4443 §2.4(f)): a burst of [`ERROR_BURST`], refilled at
//! [`ERRORS_PER_SECOND`] (Linux's `icmp_msgs_burst` and `icmp_msgs_per_sec`). At most
//! [`MAX_PENDING_ERRORS`] wait to be sent; beyond that they are dropped and counted.
//!
//! *Received*: an error quoting one of our TCP segments goes to its connection
//! ([`tcp::IcmpError`](crate::tcp::IcmpError): believed only for an outstanding sequence
//! number; hard errors abort a connect; packet too big lowers the segment size); one quoting
//! a datagram of a connected UDP socket leaves `ConnectionRefused` (port unreachable) or
//! `Unreachable` for its next read, as Linux reports to connected sockets.

use super::Stack;
use crate::tcp::IcmpError;
use crate::time::{Duration, Instant};
use crate::wire::icmp::{self, ErrorMessage};
use crate::wire::{self, IpRepr, IpVersion};
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::net::{IpAddr, SocketAddr};

/// Most ICMP errors sent back to back before the rate limit bites.
pub const ERROR_BURST: u32 = 50;
/// ICMP errors sent per second, at most, once the burst is spent.
pub const ERRORS_PER_SECOND: u32 = 1000;
/// Most ICMP errors waiting to be sent.
pub const MAX_PENDING_ERRORS: usize = 64;

/// The token bucket and the queue of errors to send.
#[derive(Debug)]
pub(super) struct IcmpErrors {
    tokens: u32,
    refilled: Instant,
    pending: VecDeque<Vec<u8>>,
}

impl Default for IcmpErrors {
    fn default() -> Self {
        IcmpErrors {
            tokens: ERROR_BURST,
            refilled: Instant::ZERO,
            pending: VecDeque::new(),
        }
    }
}

impl IcmpErrors {
    /// Takes a token if there is one, refilling for the time since the last refill.
    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled);
        let per_token = Duration::from_micros(1_000_000 / u64::from(ERRORS_PER_SECOND));
        let new = elapsed.as_micros() / per_token.as_micros().max(1);
        if new > 0 {
            let new = u32::try_from(new).unwrap_or(u32::MAX);
            self.tokens = self.tokens.saturating_add(new).min(ERROR_BURST);
            self.refilled = now;
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }

    pub(super) fn memory_usage(&self) -> usize {
        self.pending.iter().map(Vec::capacity).sum::<usize>()
            + self.pending.capacity() * core::mem::size_of::<Vec<u8>>()
    }
}

impl Stack {
    /// Queues the ICMP error `message` about `offending` (an IP packet as it arrived), sent
    /// from the address it was aimed at, if the RFCs allow it and the rate limit does.
    pub(super) fn send_icmp_error(
        &mut self,
        now: Instant,
        message: ErrorMessage,
        offending: &[u8],
    ) {
        if !icmp::may_send_error_about(offending, &message) {
            return;
        }
        let Some(src) = offending_destination(offending) else {
            return;
        };
        if !self.icmp_errors.take(now) {
            self.counters.icmp_out_rate_limited += 1;
            return;
        }
        if self.icmp_errors.pending.len() >= MAX_PENDING_ERRORS {
            self.counters.icmp_out_drops += 1;
            return;
        }
        let limit = if src.is_ipv4() {
            icmp::MAX_ERROR_LEN_V4
        } else {
            icmp::MAX_ERROR_LEN_V6
        };
        let mut buf = alloc::vec![0u8; limit];
        match icmp::emit_ip_icmp_error(src, self.cfg.hop_limit, &message, offending, &mut buf) {
            Ok(n) => {
                buf.truncate(n);
                self.icmp_errors.pending.push_back(buf);
                match message {
                    ErrorMessage::DstUnreachable { .. } => {
                        self.counters.icmp_out_dest_unreachs += 1;
                    }
                    ErrorMessage::TimeExceeded { .. } => self.counters.icmp_out_time_excds += 1,
                    _ => {}
                }
            }
            Err(_) => self.counters.icmp_out_drops += 1,
        }
    }

    /// The next queued ICMP error, written into `buf`.
    pub(super) fn poll_icmp_error(&mut self, buf: &mut [u8]) -> Option<usize> {
        while let Some(p) = self.icmp_errors.pending.pop_front() {
            if let Some(out) = buf.get_mut(..p.len()) {
                out.copy_from_slice(&p);
                self.counters.icmp_out_errors += 1;
                return Some(p.len());
            }
            self.counters.out_buffer_too_small += 1;
        }
        None
    }

    /// An ICMP error arrived (from `ip`'s source) quoting one of our packets.
    pub(super) fn handle_icmp_error(
        &mut self,
        now: Instant,
        ip: &IpRepr,
        message: ErrorMessage,
        quote: &[u8],
    ) {
        let version = if ip.src_addr().is_ipv4() {
            IpVersion::V4
        } else {
            IpVersion::V6
        };
        let Ok(q) = icmp::parse_quoted(version, quote) else {
            self.counters.icmp_in_errors += 1;
            return;
        };
        let Some((sport, dport)) = q.ports else {
            return;
        };
        let local = SocketAddr::new(q.src, sport);
        let remote = SocketAddr::new(q.dst, dport);
        match q.protocol {
            wire::PROTOCOL_TCP => {
                let (Some(err), Some(seq)) = (tcp_error(version, &message), q.tcp_seq) else {
                    return;
                };
                let Some(id) = self.demux.get(&super::FourTuple { local, remote }) else {
                    return;
                };
                let believed = self
                    .entry_mut(id)
                    .is_some_and(|e| e.conn.handle_icmp_error(now, err, seq));
                if believed {
                    self.counters.icmp_errors_believed += 1;
                    self.touch(id, now);
                } else {
                    self.counters.icmp_errors_ignored += 1;
                }
            }
            wire::PROTOCOL_UDP => self.udp_icmp_error(local, remote, udp_error(version, &message)),
            _ => {}
        }
    }
}

/// The destination address of an IP packet (the source of an error about it), read from
/// the fixed header alone: the packet may be a quote cut short of its own length.
fn offending_destination(packet: &[u8]) -> Option<IpAddr> {
    match packet.first()? >> 4 {
        4 if packet.len() >= 20 => Some(IpAddr::V4(
            wire::Ipv4Packet::new_unchecked(packet).dst_addr(),
        )),
        6 if packet.len() >= 40 => Some(IpAddr::V6(
            wire::Ipv6Packet::new_unchecked(packet).dst_addr(),
        )),
        _ => None,
    }
}

/// What an ICMP error means for a TCP connection (RFC 1122 §4.2.3.9, RFC 5927; the hard
/// codes are those Linux treats as fatal).
fn tcp_error(version: IpVersion, m: &ErrorMessage) -> Option<IcmpError> {
    Some(match (version, *m) {
        (
            IpVersion::V4,
            ErrorMessage::DstUnreachable {
                code: icmp::V4_UNREACH_FRAG_NEEDED,
                next_hop_mtu,
            },
        ) => {
            // A router from before RFC 1191 says 0: assume the smallest IPv4 path.
            IcmpError::PacketTooBig {
                mtu: if next_hop_mtu == 0 {
                    576
                } else {
                    usize::from(next_hop_mtu)
                },
            }
        }
        (_, ErrorMessage::PacketTooBig { mtu }) => IcmpError::PacketTooBig {
            mtu: usize::try_from(mtu).unwrap_or(usize::MAX),
        },
        (IpVersion::V4, ErrorMessage::DstUnreachable { code, .. }) => IcmpError::Unreachable {
            hard: matches!(code, 2 | 3 | 6..=10 | 13..=15),
            port: code == icmp::V4_UNREACH_PORT,
        },
        (IpVersion::V6, ErrorMessage::DstUnreachable { code, .. }) => IcmpError::Unreachable {
            hard: matches!(code, 1 | 4..=6),
            port: code == icmp::V6_UNREACH_PORT,
        },
        (_, ErrorMessage::TimeExceeded { .. }) => IcmpError::Unreachable {
            hard: false,
            port: false,
        },
        (_, ErrorMessage::ParamProblem { .. }) => IcmpError::Unreachable {
            hard: true,
            port: false,
        },
    })
}

/// What an ICMP error means for a connected UDP socket; `None` for none of its business
/// (packet too big: the stack fragments).
fn udp_error(version: IpVersion, m: &ErrorMessage) -> Option<crate::udp::Error> {
    match (version, *m) {
        (
            IpVersion::V4,
            ErrorMessage::DstUnreachable {
                code: icmp::V4_UNREACH_PORT,
                ..
            },
        )
        | (
            IpVersion::V6,
            ErrorMessage::DstUnreachable {
                code: icmp::V6_UNREACH_PORT,
                ..
            },
        ) => Some(crate::udp::Error::ConnectionRefused),
        (
            IpVersion::V4,
            ErrorMessage::DstUnreachable {
                code: icmp::V4_UNREACH_FRAG_NEEDED,
                ..
            },
        ) => None,
        (_, ErrorMessage::DstUnreachable { .. }) => Some(crate::udp::Error::Unreachable),
        _ => None,
    }
}
