//! Arriving packets: parsing, demultiplexing to a connection or a listener, the RSTs for
//! segments that match nothing, and what the stack does with a connection's [`Outcome`].

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
    pub fn handle_packet_with(&mut self, now: Instant, packet: &[u8], tcp_checksum: Checksum) {
        let (ip, payload) = match wire::ip::parse_ip(packet, Checksum::Verify) {
            Ok(p) => p,
            Err(e) => return self.count_malformed(&e),
        };
        if !self.accepts_destination(ip.dst_addr(), ip.protocol()) {
            self.counters.in_wrong_addr += 1;
            return;
        }
        match ip.protocol() {
            wire::PROTOCOL_TCP => {}
            p if p == wire::icmp::protocol_for(ip.dst_addr()) => {
                return self.echo.handle(&ip, payload, &mut self.counters);
            }
            _ => {
                self.counters.in_unknown_protos += 1;
                return;
            }
        }
        let seg = match wire::parse_tcp(&ip, payload, tcp_checksum) {
            Ok(s) => s,
            Err(e) => return self.count_malformed(&e),
        };
        self.counters.in_segs += 1;
        self.counters.in_rsts += u64::from(seg.flags.rst());
        let local = SocketAddr::new(ip.dst_addr(), seg.dst_port);
        let remote = SocketAddr::new(ip.src_addr(), seg.src_port);
        let found = self.demux.get(&FourTuple { local, remote });
        if let Some(id) = found {
            // RFC 5961 §7: the connection's own challenge-ACK limit, and the stack's.
            let budget = self.challenge_budget_left(now);
            if let Some(e) = self.entry_mut(id) {
                let out = e.conn.handle_segment(now, &seg, budget);
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

    /// Acts on what a call into connection `id` reported: the TIME-WAIT table, the
    /// counters, and, for a listener's embryonic connection whose handshake ended, the
    /// listener's queues.
    pub(super) fn on_outcome(&mut self, id: ConnId, out: Outcome) {
        if out.entered_time_wait {
            self.time_wait += 1;
            if self.time_wait > self.cfg.max_time_wait {
                // The TIME-WAIT table is full: this one ends now (Linux's tw_bucket overflow).
                self.counters.tw_overflow += 1;
                if let Some(e) = self.entry_mut(id) {
                    e.conn.drop_time_wait();
                }
                self.time_wait -= 1;
            }
        } else if out.left_time_wait {
            self.time_wait = self.time_wait.saturating_sub(1);
        }
        let Some(e) = self.entry(id) else { return };
        let lid = e.listener;
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
