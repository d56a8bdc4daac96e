//! Leaving packets: connectionless replies (RSTs, SYN-cookie SYN,ACKs) and echo replies
//! first, then every connection with output queued, and the liveness check made when a
//! connection's output is drained.

use super::{ConnId, Stack, StallReport};
use crate::time::Instant;
use crate::wire::{self, IpRepr};
use core::net::{IpAddr, SocketAddr};

/// A segment sent without a connection: a RST for no connection, or a SYN-cookie SYN,ACK.
#[derive(Clone, Copy, Debug)]
pub(super) struct Reply {
    pub(super) src: SocketAddr,
    pub(super) dst: SocketAddr,
    pub(super) seg: crate::wire::TcpRepr<'static>,
}

impl Stack {
    /// Writes the next outgoing IP packet into `buf` and returns its length.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.poll_transmit_segmented(now, buf).map(|t| t.len)
    }

    /// Like [`Stack::poll_transmit`], and also says how a device doing segmentation offload
    /// cuts the packet: a TCP segment larger than the MTU (see
    /// [`tcp::Config::tso_max`](crate::tcp::Config::tso_max)) leaves as segments of
    /// [`Transmit::segment_size`] payload bytes each.
    pub fn poll_transmit_segmented(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if let Some(n) = self.poll_fragment(buf) {
            return Some(Transmit::whole(n));
        }
        let hop = self.cfg.hop_limit;
        if !self.echo.is_empty()
            && let Some(n) = self.echo.poll_transmit(hop, buf, &mut self.counters)
        {
            if n <= self.cfg.mtu {
                return Some(Transmit::whole(n));
            }
            // A reply to a request larger than the MTU (it arrived in fragments): it leaves
            // in fragments too.
            let whole = buf.get(..n)?.to_vec();
            if let Some(n) = self.send_fragmented(whole, buf) {
                return Some(Transmit::whole(n));
            }
        }
        if let Some(n) = self.poll_icmp_error(buf) {
            return Some(Transmit::whole(n));
        }
        while let Some(r) = self.replies.pop_front() {
            if let Some(n) = self.emit(r.src.ip(), r.dst.ip(), &r.seg, buf) {
                self.counters.out_rsts += u64::from(r.seg.flags.rst());
                return Some(Transmit::whole(n));
            }
        }
        if let Some(n) = self.udp_poll_transmit(buf) {
            return Some(Transmit::whole(n));
        }
        while let Some(&id) = self.dirty.front() {
            let hop = self.cfg.hop_limit;
            let Some(e) = self.entry_mut(id) else {
                self.dirty.pop_front();
                continue;
            };
            let (local, remote) = (e.conn.local(), e.conn.remote());
            let written = e.conn.poll_transmit(now).map(|seg| {
                let rst = seg.flags.rst();
                (emit_packet(local.ip(), remote.ip(), hop, &seg, buf), rst)
            });
            // Read after: a path MTU probe is one larger segment, not to be cut.
            let segment_size = e.conn.segment_size();
            match written {
                Some((Some(n), rst)) => {
                    self.counters.out_segs += 1;
                    self.counters.out_rsts += u64::from(rst);
                    return Some(Transmit {
                        len: n,
                        segment_size,
                    });
                }
                Some((None, _)) => self.counters.out_buffer_too_small += 1,
                None => {
                    self.dirty.pop_front();
                    if let Some(e) = self.entry_mut(id) {
                        e.dirty = false;
                        if e.marks.take(super::slots::Marks::END_TIME_WAIT) {
                            e.conn.drop_time_wait();
                        }
                    }
                    if self.liveness_checks {
                        self.check_liveness(now, id);
                    }
                    self.record(now, id);
                    self.schedule(id, now);
                    self.reap(id);
                }
            }
        }
        None
    }

    /// Turns the liveness check on or off (off by default): once on, every connection an
    /// event touched is checked with [`Connection::check_liveness`](crate::tcp::Connection::check_liveness) as soon as its output
    /// is drained, and the first stall is kept for [`take_stall`](Self::take_stall). The
    /// simulator turns it on for its hosts.
    pub fn set_liveness_checks(&mut self, on: bool) {
        self.liveness_checks = on;
    }

    /// The first stall the liveness check found since the last call, if any.
    pub fn take_stall(&mut self) -> Option<StallReport> {
        self.stall.take()
    }

    pub(super) fn check_liveness(&mut self, now: Instant, id: ConnId) {
        if self.stall.is_some() {
            return;
        }
        let Some(e) = self.entry(id) else { return };
        if let Err(stall) = e.conn.check_liveness() {
            self.stall = Some(StallReport {
                at: now,
                conn: id,
                local: e.conn.local(),
                remote: e.conn.remote(),
                stall,
            });
        }
    }

    pub(super) fn mark_dirty(&mut self, id: ConnId) {
        if let Some(e) = self.entry_mut(id)
            && !e.dirty
        {
            e.dirty = true;
            self.dirty.push_back(id);
        }
    }

    /// Queues a connectionless segment; the queue is bounded, overflow is counted.
    pub(super) fn queue_reply(
        &mut self,
        src: SocketAddr,
        dst: SocketAddr,
        seg: crate::wire::TcpRepr<'static>,
    ) {
        if self.replies.len() >= self.cfg.max_pending_rsts {
            self.counters.rst_queue_full += 1;
            return;
        }
        self.replies.push_back(Reply { src, dst, seg });
    }

    pub(super) fn emit(
        &mut self,
        src: IpAddr,
        dst: IpAddr,
        seg: &crate::wire::TcpRepr<'_>,
        buf: &mut [u8],
    ) -> Option<usize> {
        let n = emit_packet(src, dst, self.cfg.hop_limit, seg, buf);
        match n {
            Some(_) => self.counters.out_segs += 1,
            None => self.counters.out_buffer_too_small += 1,
        }
        n
    }
}

/// One packet written by [`Stack::poll_transmit_segmented`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// The IP packet's length in `buf`.
    pub len: usize,
    /// The TCP payload per wire segment when a device segments the packet (the connection's
    /// MSS less options); `usize::MAX` for a packet that is never cut (ICMP, RST replies).
    pub segment_size: usize,
}

impl Transmit {
    pub(super) fn whole(len: usize) -> Self {
        Transmit {
            len,
            segment_size: usize::MAX,
        }
    }
}

/// Writes IP + TCP into `buf`.
fn emit_packet(
    src: IpAddr,
    dst: IpAddr,
    hop_limit: u8,
    seg: &crate::wire::TcpRepr<'_>,
    buf: &mut [u8],
) -> Option<usize> {
    let tcp_len = seg.buffer_len();
    let ip = IpRepr::new(src, dst, 6, tcp_len, hop_limit).ok()?;
    wire::emit_ip_tcp(&ip, seg, buf).ok()
}

/// Packets the stack sends in fragments: the pieces of one packet still to go, and the next
/// identification.
#[derive(Debug, Default)]
pub(super) struct OutFragments {
    queue: alloc::collections::VecDeque<alloc::vec::Vec<u8>>,
    /// RFC 7739: fragment identifications must not be predictable from outside, so the
    /// counter starts from the stack's secret.
    next_ident: u32,
}

impl OutFragments {
    /// A queue whose identifications start at `seed`.
    pub(super) fn new(seed: u32) -> Self {
        OutFragments {
            queue: alloc::collections::VecDeque::new(),
            next_ident: seed,
        }
    }
}

impl Stack {
    /// The next queued fragment, written into `buf`.
    fn poll_fragment(&mut self, buf: &mut [u8]) -> Option<usize> {
        while let Some(f) = self.out_frags.queue.pop_front() {
            match buf.get_mut(..f.len()) {
                Some(out) => {
                    out.copy_from_slice(&f);
                    return Some(f.len());
                }
                None => self.counters.out_buffer_too_small += 1,
            }
        }
        None
    }

    /// Sends `whole`, an IP packet larger than the MTU, in fragments (RFC 791 §2.3, RFC 8200
    /// §4.5) under a fresh identification: the first is written into `buf` (its length
    /// returned), the rest queued for the next calls. `None` (counted) if it cannot be cut.
    pub(super) fn send_fragmented(
        &mut self,
        mut whole: alloc::vec::Vec<u8>,
        buf: &mut [u8],
    ) -> Option<usize> {
        let ident = self.out_frags.next_ident;
        self.out_frags.next_ident = ident.wrapping_add(1);
        let v4 = whole.first().is_some_and(|b| b >> 4 == 4);
        let fragments = if v4 {
            // Sent with DF clear and its own identification (RFC 6864: an atomic datagram
            // may carry id 0, a fragmented one may not).
            let mut p = wire::Ipv4Packet::new_unchecked(&mut whole[..]);
            p.set_ident(ident as u16);
            p.set_flags_frag(false, false, 0);
            p.fill_checksum();
            crate::frag::fragment_ipv4(&whole, self.cfg.mtu)
        } else {
            crate::frag::fragment_ipv6(&whole, self.cfg.mtu, ident)
        };
        let Ok(mut fragments) = fragments else {
            self.counters.frag_fails += 1;
            return None;
        };
        let mut pieces = alloc::collections::VecDeque::new();
        while let Some(len) = fragments.next_len() {
            let mut f = alloc::vec![0u8; len];
            if !matches!(fragments.write_next(&mut f), Ok(Some(_))) {
                self.counters.frag_fails += 1;
                return None;
            }
            pieces.push_back(f);
        }
        self.counters.frag_creates += pieces.len() as u64;
        self.counters.frag_oks += 1;
        self.out_frags.queue.extend(pieces);
        self.poll_fragment(buf)
    }
}
