//! ICMP echo: answers echo requests (ICMPv4 and ICMPv6) from a bounded queue of replies.
//!
//! Requests are parsed in [`Stack::handle_packet`](super::Stack::handle_packet) and their
//! replies queued here; [`Stack::poll_transmit`](super::Stack::poll_transmit) sends them before
//! any TCP segment. When the queue is full a request is dropped and counted, so a ping flood
//! cannot grow memory (STYLE R10).

use super::Counters;
use crate::wire::icmp::{self, Echo, ErrorMessage, IcmpRepr};
use crate::wire::{Checksum, IpRepr, WireError};
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::net::IpAddr;

/// Most echo replies waiting to be sent.
pub(super) const MAX_PENDING_REPLIES: usize = 64;

/// One reply to send: addresses as they go out, and the echoed fields.
#[derive(Debug)]
struct PendingReply {
    src: IpAddr,
    dst: IpAddr,
    ident: u16,
    seq_no: u16,
    data: Vec<u8>,
}

/// The queue of echo replies.
#[derive(Debug, Default)]
pub(super) struct EchoResponder {
    replies: VecDeque<PendingReply>,
}

impl EchoResponder {
    /// Handles the ICMP(v6) payload of a packet addressed to us: queues a reply to an echo
    /// request (only when `answer_echo`: the address is ours), counts everything, and hands
    /// back an error message with its quote for the stack to act on.
    pub(super) fn handle<'a>(
        &mut self,
        ip: &IpRepr,
        payload: &'a [u8],
        answer_echo: bool,
        counters: &mut Counters,
    ) -> Option<(ErrorMessage, &'a [u8])> {
        counters.icmp_in_msgs += 1;
        let repr = match icmp::parse_icmp(ip, payload, Checksum::Verify) {
            Ok(r) => r,
            Err(WireError::BadChecksum) => {
                counters.icmp_in_csum_errors += 1;
                return None;
            }
            Err(_) => {
                counters.icmp_in_errors += 1;
                return None;
            }
        };
        let echo = match repr {
            IcmpRepr::EchoRequest(echo) if answer_echo => echo,
            IcmpRepr::Error { message, quote } => return Some((message, quote)),
            // Replies, router and neighbour discovery, echo for a foreign address.
            _ => return None,
        };
        counters.icmp_in_echos += 1;
        if self.replies.len() >= MAX_PENDING_REPLIES {
            counters.icmp_out_drops += 1;
            return None;
        }
        self.replies.push_back(PendingReply {
            src: ip.dst_addr(),
            dst: ip.src_addr(),
            ident: echo.ident,
            seq_no: echo.seq_no,
            data: echo.data.to_vec(),
        });
        None
    }

    /// No reply is waiting (checked inline on every `poll_transmit` before the call).
    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.replies.is_empty()
    }

    /// Writes the next echo reply into `buf`; a reply that does not fit is dropped and counted.
    pub(super) fn poll_transmit(
        &mut self,
        hop_limit: u8,
        buf: &mut [u8],
        counters: &mut Counters,
    ) -> Option<usize> {
        while let Some(r) = self.replies.pop_front() {
            let reply = IcmpRepr::EchoReply(Echo {
                ident: r.ident,
                seq_no: r.seq_no,
                data: &r.data,
            });
            match icmp::emit_ip_icmp(r.src, r.dst, hop_limit, &reply, buf) {
                Ok(n) => {
                    counters.icmp_out_echo_reps += 1;
                    return Some(n);
                }
                Err(_) => counters.out_buffer_too_small += 1,
            }
        }
        None
    }
}
