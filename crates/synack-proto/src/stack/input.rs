//! Arriving packets: parsing, demultiplexing to a connection or a listener, the RSTs for
//! segments that match nothing, and what the stack does with a connection's [`Outcome`].

use super::slots::Owner;
use super::{ConnId, FourTuple, Stack};
use crate::tcp::Outcome;
use crate::tcp::reset::{self, Reset};
use crate::time::Instant;
use crate::wire::{self, Checksum, WireError};
use core::net::SocketAddr;

impl Stack {
    /// Processes one arriving IP packet.
    pub fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        self.handle_packet_with(now, packet, Checksum::Verify);
    }

    /// Counts a packet dropped as malformed: a bad checksum (`InCsumErrors`) or any other
    /// parse error (`InErrs`), as Linux counts them.
    fn count_malformed(&mut self, e: &WireError) {
        match e {
            WireError::BadChecksum => self.counters.in_csum_errors += 1,
            _ => self.counters.in_errs += 1,
        }
    }

    /// Processes one arriving IP packet whose TCP checksum the device may already have dealt
    /// with: [`Checksum::Ignore`] for a packet the device validated or whose checksum is still
    /// partial (a TUN device with checksum offload hands the kernel's segments over that way).
    /// The IPv4 header checksum is verified either way.
    ///
    /// A segment the stack verifies that carries in-order data for an established
    /// connection has its checksum taken as its payload is copied into the receive ring
    /// (the counter [`Counters::in_csum_folded`](super::Counters::in_csum_folded)), one pass
    /// over the bytes instead of two.
    pub fn handle_packet_with(&mut self, now: Instant, packet: &[u8], tcp_checksum: Checksum) {
        self.handle_ip(now, packet, tcp_checksum, true);
    }

    /// [`Stack::handle_packet_with`]; `fold` lets a TCP checksum be taken in the copy into
    /// the receive ring (not for a reassembled datagram, which keeps the plain path).
    fn handle_ip(&mut self, now: Instant, packet: &[u8], tcp_checksum: Checksum, fold: bool) {
        let (ip, payload) = match wire::ip::parse_ip(packet, Checksum::Verify) {
            Ok(p) => p,
            Err(WireError::Fragmented) => return self.handle_fragment(now, packet),
            Err(e) => return self.count_malformed(&e),
        };
        if !self.accepts_destination(ip.dst_addr(), ip.protocol()) {
            self.counters.in_wrong_addr += 1;
            return;
        }
        match ip.protocol() {
            wire::PROTOCOL_TCP => {}
            wire::PROTOCOL_UDP => return self.handle_udp(now, &ip, payload, packet, tcp_checksum),
            p if p == wire::icmp::protocol_for(ip.dst_addr()) => {
                let ours = self.addrs.contains(&ip.dst_addr());
                if let Some((message, quote)) =
                    self.echo.handle(&ip, payload, ours, &mut self.counters)
                {
                    self.handle_icmp_error(now, &ip, message, quote);
                }
                return;
            }
            _ => {
                self.counters.in_unknown_protos += 1;
                return;
            }
        }
        let folded = fold && tcp_checksum.verify();
        let (seg, staged) = match self.parse_tcp_folded(&ip, payload, tcp_checksum, folded) {
            Ok(s) => s,
            Err(e) => return self.count_malformed(&e),
        };
        self.counters.in_segs += 1;
        self.counters.in_rsts += u64::from(seg.flags.rst());
        let local = SocketAddr::new(ip.dst_addr(), seg.dst_port);
        let remote = SocketAddr::new(ip.src_addr(), seg.src_port);
        let found = staged.or_else(|| self.demux.get(&FourTuple { local, remote }));
        if let Some(id) = found {
            // RFC 5961 §7: the connection's own challenge-ACK limit, and the stack's.
            let budget = self.challenge_budget_left(now);
            if let Some(e) = self.entry_mut(id) {
                let out = if staged.is_some() {
                    e.conn.handle_staged_segment(now, &seg, budget)
                } else {
                    e.conn.handle_segment(now, &seg, budget)
                };
                self.challenge_budget.1 += out.challenge_acks;
                self.on_outcome(id, out);
                self.touch(id, now);
                return;
            }
        }
        match self.find_listener(local) {
            // SYN+FIN opens nothing: dropped silently, as Linux and FreeBSD drop it.
            Some(_) if seg.flags.syn() && seg.flags.fin() && !seg.flags.ack() => {
                self.counters.in_syn_fin += 1;
            }
            Some(lid) if seg.flags.syn() && !seg.flags.ack() && !seg.flags.rst() => {
                if self.held.on && self.intercept == Some(lid) {
                    self.hold_syn(now, lid, local, remote, &seg);
                } else {
                    self.on_listener_syn(now, lid, local, remote, &seg);
                }
            }
            // A bare ACK may complete a SYN-cookie handshake; otherwise (§3.10.7.2) it draws
            // <SEQ=SEG.ACK><CTL=RST>.
            Some(lid) if seg.flags.ack() && !seg.flags.syn() && !seg.flags.rst() => {
                if !self.accept_cookie(now, lid, local, remote, &seg) {
                    self.queue_reset(
                        local,
                        remote,
                        Reset {
                            seq: seg.ack,
                            ack: None,
                        },
                    );
                }
            }
            // A client whose SYN is held gave up: its SYN is forgotten.
            Some(_) if seg.flags.rst() && self.held.on && self.forget_held(local, remote) => {}
            // §3.10.7.2: in LISTEN a RST is ignored, anything else is dropped.
            Some(_) => {}
            _ => {
                if let Some(reset) = reset::reply_to(&seg) {
                    self.queue_reset(local, remote, reset);
                }
            }
        }
    }

    /// Parses the TCP segment in `payload`, verifying its checksum as `tcp_checksum` says,
    /// and says which connection's receive ring its payload was staged in, if any.
    ///
    /// With `fold`, the checksum of a segment on the in-order fast path
    /// ([`Connection::stage_segment`](crate::tcp::Connection::stage_segment)) is taken while
    /// its payload is copied into the free room of the receive ring, before the segment
    /// touches any state; only if it then verifies is the segment processed (and the staged
    /// bytes committed, not copied again). A bad checksum is [`WireError::BadChecksum`]
    /// exactly as without folding, and the staged bytes stay uncommitted in free room.
    /// Anything else takes the plain path: [`wire::parse_tcp`], which verifies first.
    fn parse_tcp_folded<'a>(
        &mut self,
        ip: &wire::IpRepr,
        payload: &'a [u8],
        tcp_checksum: Checksum,
        fold: bool,
    ) -> Result<(wire::TcpRepr<'a>, Option<ConnId>), WireError> {
        if fold && let Ok((seg, partial)) = wire::parse_tcp_deferred(ip, payload) {
            let mut staged = None;
            // Segments without text (pure ACKs) have nothing to stage: no lookup for them.
            if !seg.payload.is_empty() {
                let local = SocketAddr::new(ip.dst_addr(), seg.dst_port);
                let remote = SocketAddr::new(ip.src_addr(), seg.src_port);
                if let Some(id) = self.demux.get(&FourTuple { local, remote })
                    && let Some(e) = self.entry_mut(id)
                {
                    staged = e.conn.stage_segment(&seg).map(|sum| (id, sum));
                }
            }
            // Not staged: the payload is summed here instead (the same verdict as
            // `parse_tcp`'s, whose only other errors the deferred parse already passed).
            let payload_sum = staged.map_or_else(|| wire::checksum::sum(seg.payload), |s| s.1);
            if !wire::checksum::verifies(wire::checksum::combine(&[partial, payload_sum])) {
                return Err(WireError::BadChecksum);
            }
            self.counters.in_csum_folded += u64::from(staged.is_some());
            return Ok((seg, staged.map(|s| s.0)));
        }
        wire::parse_tcp(ip, payload, tcp_checksum).map(|seg| (seg, None))
    }

    /// A UDP datagram (RFC 768): to its socket, to a new intercepted session, or, for a port
    /// of ours no socket holds, an ICMP port unreachable.
    fn handle_udp(
        &mut self,
        now: Instant,
        ip: &wire::IpRepr,
        payload: &[u8],
        packet: &[u8],
        checksum: Checksum,
    ) {
        let udp = match wire::udp::parse_udp(ip, payload, checksum) {
            Ok(p) => p,
            Err(e) => {
                self.counters.udp_in_errors += 1;
                self.counters.udp_in_csum_errors += u64::from(e == WireError::BadChecksum);
                return;
            }
        };
        let src = SocketAddr::new(ip.src_addr(), udp.src_port);
        let dst = SocketAddr::new(ip.dst_addr(), udp.dst_port);
        if !self.udp_deliver(now, src, dst, udp.payload) {
            self.counters.udp_no_ports += 1;
            // RFC 1122 §4.1.3.1: a datagram for a port of ours no socket holds draws ICMP
            // port unreachable (not for an intercepted destination: that flow was dropped
            // over a bound, and the client will retry).
            if self.addrs.contains(&dst.ip()) {
                let code = if dst.is_ipv4() {
                    wire::icmp::V4_UNREACH_PORT
                } else {
                    wire::icmp::V6_UNREACH_PORT
                };
                let message = wire::ErrorMessage::DstUnreachable {
                    code,
                    next_hop_mtu: 0,
                };
                self.send_icmp_error(now, message, packet);
            }
        }
    }

    /// An IP fragment: held until its datagram is whole (RFC 791, RFC 8200 §4.5), which is
    /// then processed as if it had arrived in one piece. Fragments for addresses the stack
    /// does not take are dropped before they cost memory; the reassembler counts its drops.
    fn handle_fragment(&mut self, now: Instant, packet: &[u8]) {
        let Some((dst, protocol)) = fragment_destination(packet) else {
            self.counters.in_errs += 1;
            return;
        };
        if !self.accepts_destination(dst, protocol) {
            self.counters.in_wrong_addr += 1;
            return;
        }
        if let Ok(Some(whole)) = self.frag.insert(now, packet) {
            // Whole now: no longer a fragment, so this does not come back here. Checksums
            // are verified: an offload's word covers one fragment at most.
            self.handle_ip(now, whole.packet(), Checksum::Verify, false);
        }
    }

    /// A datagram's fragments did not all arrive in time, its first among them: ICMP Time
    /// Exceeded, fragment reassembly time exceeded (RFC 792, RFC 8200 §4.5), quoting it.
    pub(super) fn on_reassembly_timeout(
        &mut self,
        now: Instant,
        expired: crate::frag::TimeExceeded,
    ) {
        let message = wire::ErrorMessage::TimeExceeded {
            code: wire::icmp::TIME_EXCEEDED_REASSEMBLY,
        };
        self.send_icmp_error(now, message, &expired.invoking_packet);
    }

    /// Acts on what a call into connection `id` reported: the TIME-WAIT table, the
    /// counters, and, for a listener's embryonic connection whose handshake ended, the
    /// listener's queues.
    pub(super) fn on_outcome(&mut self, id: ConnId, out: Outcome) {
        if out.entered_time_wait {
            self.time_wait += 1;
            if self.time_wait > self.cfg.max_time_wait {
                // The TIME-WAIT table is full: this one ends (Linux's tw_bucket overflow) as
                // soon as its output is drained, since the ACK of the peer's FIN may still
                // be queued and without it the peer stays in LAST-ACK until a RST.
                self.counters.tw_overflow += 1;
                if let Some(e) = self.entry_mut(id) {
                    e.marks.set(super::slots::Marks::END_TIME_WAIT);
                }
                self.mark_dirty(id);
                self.time_wait -= 1;
            }
        } else if out.left_time_wait {
            self.time_wait = self.time_wait.saturating_sub(1);
        }
        let Some(e) = self.entry(id) else { return };
        let lid = e.listener.map(Owner::id);
        self.counters.abort_on_timeout += u64::from(out.timed_out);
        self.counters.attempt_fails += u64::from(out.attempt_failed);
        self.counters.estab_resets += u64::from(out.reset_established);
        if let Some(lid) = lid
            && (out.established || out.attempt_failed)
        {
            self.handshake_ended(lid, id, out.established);
        }
    }

    /// What is left of this second's global challenge-ACK budget (RFC 5961 §7).
    pub(super) fn challenge_budget_left(&mut self, now: Instant) -> u32 {
        let (start, used) = self.challenge_budget;
        if now.saturating_duration_since(start) >= crate::time::Duration::from_secs(1) {
            self.challenge_budget = (now, 0);
            return self.cfg.challenge_ack_limit;
        }
        self.cfg.challenge_ack_limit.saturating_sub(used)
    }

    pub(super) fn queue_reset(&mut self, local: SocketAddr, remote: SocketAddr, reset: Reset) {
        let seg = reset.to_repr(local.port(), remote.port());
        self.queue_reply(local, remote, seg);
    }
}

/// The destination address and upper-layer protocol of an IP fragment (IPv6: the next header
/// after the fragment header), read without reassembling; `None` if the header is broken.
fn fragment_destination(packet: &[u8]) -> Option<(core::net::IpAddr, u8)> {
    match packet.first()? >> 4 {
        4 => {
            let p = wire::Ipv4Packet::new_checked(packet).ok()?;
            p.verify_checksum()
                .then(|| (core::net::IpAddr::V4(p.dst_addr()), p.protocol()))
        }
        6 => {
            let p = wire::Ipv6Packet::new_checked(packet).ok()?;
            let split = p.fragment_header().ok()??;
            let header = p.payload().get(split.offset..)?;
            let frag = wire::ipv6_fragment::Ipv6FragmentHeader::new_checked(header).ok()?;
            Some((core::net::IpAddr::V6(p.dst_addr()), frag.next_header()))
        }
        _ => None,
    }
}
