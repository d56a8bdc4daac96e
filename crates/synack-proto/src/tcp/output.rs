//! What to send now: RST, SYN, SYN,ACK, data, FIN, window probe or a bare ACK.

use super::cc::CongestionControl;
use super::connection::Connection;
use super::loss::Rexmit;
use super::plpmtud::Probing;
use super::reset::Reset;
use super::send_buf::wide;
use super::seq::SeqNum;
use super::state::State;
use super::timer::TimerKind;
use crate::time::Instant;
use crate::wire::tcp::SackBlocks;
use crate::wire::{TcpFlags, TcpOptions, TcpRepr, Timestamps};

impl Connection {
    /// The next segment this connection wants to send, if any. Call until `None`.
    ///
    /// The returned segment borrows the connection; its addresses are
    /// [`local`](Self::local) → [`remote`](Self::remote).
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant) -> Option<TcpRepr<'_>> {
        if let Some(rst) = self.rare.take_rst() {
            let reset = Reset {
                seq: rst.seq,
                ack: rst.ack,
            };
            return Some(reset.to_repr(self.local().port(), self.remote().port()));
        }
        let syn_unacked = self.tcb.snd_una == self.tcb.iss;
        let kind = match self.state {
            State::Closed | State::Listen => return None,
            // Our SYN (or SYN,ACK) is due: first sent, or rewound by a timeout. This also covers
            // FIN-WAIT-1 after a CLOSE in SYN-RECEIVED.
            _ if syn_unacked && self.tcb.snd_nxt == self.tcb.iss => Some(Segment::Syn),
            State::SynSent => None,
            // A CLOSE in SYN-RECEIVED with nothing queued sends its FIN at once; data waits until
            // our SYN is acknowledged (RFC 9293 §3.10.4: "queue for processing after entering
            // ESTABLISHED state").
            State::FinWait1 if syn_unacked && self.tx.is_empty() => self.next_data_segment(now),
            _ if syn_unacked => None,
            _ if self
                .keepalive
                .as_deref_mut()
                .is_some_and(|k| core::mem::take(&mut k.now)) =>
            {
                self.stats.keepalive_probes += 1;
                Some(Segment::Probe)
            }
            _ => self.next_data_segment(now),
        };
        let kind = match kind {
            Some(k) => k,
            None if self.ack.now && self.state != State::SynSent => Segment::Ack,
            None => {
                // Nothing to send: make sure a timer covers data held back by the window.
                self.rearm_timers(now);
                return None;
            }
        };
        Some(self.build(now, kind))
    }

    /// Chooses a data, FIN or probe segment at `now` in the synchronized states (and
    /// SYN-RECEIVED, whose SYN,ACK has gone out: queued data waits for ESTABLISHED).
    fn next_data_segment(&mut self, now: Instant) -> Option<Segment> {
        if self.state == State::TimeWait {
            return None;
        }
        // SACK blocks ride on data segments too; they take room from the payload (and the
        // device could not cut a burst whose header is longer than usual: no bursts then).
        let sack_space = self.sack_space();
        let mss = self.max_payload().saturating_sub(sack_space).max(1);
        if self.rexmit.head {
            self.rexmit.head = false;
            let len = self.tx.len().min(mss);
            let fin = self.fin.seq().is_some() && !self.fin_acked() && len == self.tx.len();
            if len > 0 || fin {
                self.recovery.on_retransmit(len);
                return Some(Segment::Data {
                    seq: self.tcb.snd_una.max(self.tx_base()),
                    len,
                    fin,
                    advance: false,
                });
            }
        }
        // With SACK: a due loss probe first, then lost segments (RFC 6675 NextSeg rule 1).
        let mut tlp_new_data = false;
        if self.tcb.sack_ok {
            match self.take_tlp(mss) {
                Some(Some(r)) => return Some(self.rexmit(r, true)),
                Some(None) => tlp_new_data = true,
                None => {}
            }
            if let Some(r) = self.next_rexmit(mss) {
                return Some(self.rexmit(r, false));
            }
        }
        let unsent = self.unsent();
        let in_flight = self.tcb.snd_nxt.since(self.tcb.snd_una);
        // A path MTU probe (RFC 4821): one new segment larger than the send MSS.
        let probing = if tlp_new_data {
            Probing::No
        } else {
            self.take_mtu_probe(now, mss, unsent, in_flight)
        };
        match probing {
            Probing::No => {}
            Probing::Hold => return None,
            Probing::Send(len) => {
                self.recovery.on_sent(len);
                return Some(Segment::Data {
                    seq: self.tcb.snd_nxt,
                    len,
                    fin: false,
                    advance: true,
                });
            }
        }
        // The peer's window limits what is outstanding; cwnd limits what is in the network
        // (`pipe`: what is neither delivered, SACKed nor lost). A loss probe ignores cwnd
        // and carries one segment.
        let (cwnd_room, burst) = if tlp_new_data {
            (usize::MAX, mss)
        } else {
            let room = self.cc.cwnd().saturating_sub(self.send_pipe());
            (
                room,
                if sack_space > 0 {
                    mss
                } else {
                    self.max_burst(mss)
                },
            )
        };
        let usable = wide(self.tcb.snd_wnd)
            .saturating_sub(in_flight)
            .min(cwnd_room);
        let mut len = unsent.min(usable).min(burst);
        let fin_unsent =
            self.fin.queued && self.fin.seq().is_none_or(|f| self.tcb.snd_nxt.before_eq(f));
        // Segmentation offload: the partial last piece of a large segment would leave as a small
        // segment, so it goes only where a small segment may (below: the end of the data with
        // Nagle off, or with the FIN); otherwise it waits like any small segment.
        if len > mss
            && !len.is_multiple_of(mss)
            && !(len == unsent && (self.cfg.nodelay || fin_unsent))
        {
            len -= len % mss;
        }
        // A FIN rides on the segment that carries the last byte, or goes alone once all is sent.
        let fin = fin_unsent && len == unsent;
        // The persist timer fired: probe a zero window, or override the holds below
        // (the "override timeout" of RFC 9293 §3.8.6.2.1).
        let forced = core::mem::take(&mut self.rexmit.probe_now) || tlp_new_data;
        if forced && len == 0 && !fin && unsent > 0 {
            self.stats.window_probes += 1;
            return Some(Segment::Probe);
        }
        if len == 0 && !fin {
            return None;
        }
        // Data sent before (go-back-N after a timeout) is never held back.
        let retransmission = self.tcb.snd_nxt.before(self.tcb.snd_max);
        if len > 0 && len < mss && !fin && !forced && !retransmission {
            // Nagle (RFC 9293 §3.7.4): hold a small segment while data is unacknowledged.
            let nagle_holds = !self.cfg.nodelay && in_flight > 0;
            // Sender-side silly window avoidance (§3.8.6.2.1): don't send a small window-limited
            // segment unless it is at least half the largest window offered.
            let sws_holds = len < unsent && len < wide(self.tcb.max_snd_wnd) / 2;
            if nagle_holds || sws_holds {
                return None;
            }
        }
        self.recovery.on_sent(len);
        if tlp_new_data {
            self.tlp_sent(self.tcb.snd_nxt + len + usize::from(fin));
        }
        Some(Segment::Data {
            seq: self.tcb.snd_nxt,
            len,
            fin,
            advance: true,
        })
    }

    /// A retransmission chosen by the SACK recovery (a lost segment, or a loss probe).
    fn rexmit(&mut self, r: Rexmit, probe: bool) -> Segment {
        if probe {
            self.tlp_sent(self.tcb.snd_max);
        }
        Segment::Data {
            seq: r.seq,
            len: r.len,
            fin: r.fin,
            advance: false,
        }
    }

    /// The most payload one new segment carries: one MSS, or with segmentation offload
    /// ([`Config::tso_max`](super::Config::tso_max)) as many whole MSS as fit in it.
    fn max_burst(&self, mss: usize) -> usize {
        if self.cfg.tso_max > mss {
            self.cfg.tso_max / mss * mss
        } else {
            mss
        }
    }

    fn build(&mut self, now: Instant, kind: Segment) -> TcpRepr<'_> {
        let mut flags = TcpFlags::ACK;
        let mut options = TcpOptions::default();
        // The payload, as (sequence number, length) into the send buffer.
        let mut payload_at = None;
        let seq = match kind {
            Segment::Syn => {
                flags = if self.state == State::SynSent {
                    TcpFlags::SYN
                } else {
                    TcpFlags::SYN | TcpFlags::ACK
                };
                options.mss = Some(self.our_mss());
                // Offer timestamps on our SYN; on a SYN,ACK only if the peer offered them.
                if self.cfg.timestamps && (self.state == State::SynSent || self.tcb.ts_ok) {
                    let tsecr = if self.state == State::SynSent {
                        0
                    } else {
                        self.tcb.ts_recent
                    };
                    options.timestamps = Some(Timestamps {
                        tsval: self.ts_now(now),
                        tsecr,
                    });
                }
                // RFC 2018 §2: offer SACK-permitted on our SYN; on a SYN,ACK only if the peer did.
                options.sack_permitted =
                    self.cfg.sack && (self.state == State::SynSent || self.tcb.sack_ok);
                // Offer window scaling on our SYN; on a SYN,ACK only if the peer offered it.
                if self.cfg.window_scaling && (self.state == State::SynSent || self.tcb.wscale_ok) {
                    options.window_scale = Some(self.tcb.rcv_wscale);
                }
                self.note_sent(now, self.tcb.iss, 1);
                self.tcb.iss
            }
            Segment::Data {
                seq: at,
                len,
                fin,
                advance,
            } => {
                payload_at = Some((at, len));
                if len > 0 && len == self.unsent_from(at) {
                    flags |= TcpFlags::PSH;
                }
                if fin {
                    flags |= TcpFlags::FIN;
                    if self.fin.seq().is_none() {
                        self.fin.set_seq(at + len);
                    }
                }
                let seg_len = len + usize::from(fin);
                let retransmission = !advance || at.before(self.tcb.snd_max);
                self.mtu_on_send(now, at, seg_len, retransmission);
                self.loss_on_sent(now, at, seg_len);
                if advance {
                    self.note_sent(now, at, seg_len);
                } else {
                    self.stats.retransmits += 1;
                    self.rexmit.set_rtt_probe(None);
                    if self.timers.get(TimerKind::Retransmit).is_none() {
                        let rto = self.rto();
                        self.timers.set(TimerKind::Retransmit, now + rto);
                    }
                }
                at
            }
            Segment::Probe => {
                // Like Linux: an old sequence number (SND.UNA - 1) with no data, which the
                // receiver must answer with an ACK carrying its current window.
                self.rearm_timers(now);
                self.tcb.snd_una - 1
            }
            // After a timeout rewinds SND.NXT for go-back-N, a bare ACK must still carry a
            // sequence number the peer finds acceptable (it may already hold everything up
            // to SND.MAX); otherwise both sides can drop each other's ACKs forever.
            Segment::Ack => self.tcb.snd_max,
        };
        if self.tcb.ts_ok && !flags.syn() {
            // RFC 7323 §3.2: once negotiated, every segment carries timestamps.
            options.timestamps = Some(Timestamps {
                tsval: self.ts_now(now),
                tsecr: self.tcb.ts_recent,
            });
        }
        if flags.ack() {
            self.tcb.last_ack_sent = self.tcb.rcv_nxt;
            if self.tcb.sack_ok && !flags.syn() {
                options.sack_blocks = self.sack_blocks();
            }
        }
        // Every segment but the very first SYN carries an ACK, so the pending ACK is sent.
        self.ack.now = false;
        self.ack.segments = 0;
        self.timers.clear(TimerKind::DelayedAck);
        let window = if flags.syn() {
            // The window field of a SYN is never scaled (RFC 7323 §2.2).
            self.rcv_window().min(usize::from(u16::MAX)) as u16
        } else {
            self.advertise_window(now)
        };
        let (src_port, dst_port) = (self.local().port(), self.remote().port());
        let ack = if flags.ack() {
            self.tcb.rcv_nxt
        } else {
            SeqNum::new(0)
        };
        TcpRepr {
            src_port,
            dst_port,
            seq,
            ack,
            flags,
            window,
            urgent: 0,
            options,
            payload: payload_at.map_or(&[][..], |(at, len)| self.payload(at, len)),
        }
    }

    /// Records that `len` sequence numbers from `seq` went out for the first time (or again after
    /// a timeout rewound SND.NXT), starting the RTT measurement and the retransmission timer.
    fn note_sent(&mut self, now: Instant, seq: SeqNum, len: usize) {
        let end = seq + len;
        let retransmission = end.before_eq(self.tcb.snd_max);
        if retransmission {
            self.stats.retransmits += 1;
        } else if self.rexmit.rtt_probe().is_none() && self.rexmit.backoff == 0 {
            self.rexmit.set_rtt_probe(Some((end, now)));
        }
        if retransmission || self.rexmit.backoff > 0 {
            // Karn: no sample from anything sent around a retransmission.
            self.rexmit.set_rtt_probe(None);
        }
        self.tcb.snd_nxt = end;
        self.tcb.snd_max = self.tcb.snd_max.max(end);
        if self.timers.get(TimerKind::Retransmit).is_none() {
            let rto = self.rto();
            self.timers.set(TimerKind::Retransmit, now + rto);
        }
        if !retransmission {
            // RFC 8985 §7.2: new data (re)starts the probe timeout.
            self.arm_tlp(now);
        }
    }

    /// Option bytes the SACK blocks of our next segment will take (RFC 2018 §3: 2 + 8n,
    /// plus 2 of NOP padding).
    fn sack_space(&self) -> usize {
        if !self.tcb.sack_ok {
            return 0;
        }
        let max = if self.tcb.ts_ok { 3 } else { 4 };
        let n = (self.rx.ooo_ranges().count() + usize::from(self.rare.sack_rx().dsack_pending()))
            .min(max);
        if n == 0 { 0 } else { 4 + 8 * n }
    }

    /// The SACK blocks for an ACK we send (RFC 2018 §4): as many as fit beside the other
    /// options, 3 with timestamps and 4 without.
    fn sack_blocks(&mut self) -> SackBlocks {
        // The common case (in order, nothing to report) without building the closures: it
        // was 2% of a lossless bulk transfer's samples.
        if self.rare.sack_rx().is_empty() && self.rx.ooo_ranges().next().is_none() {
            return SackBlocks::default();
        }
        let rcv_nxt = self.tcb.rcv_nxt;
        let rx = &self.rx;
        let to_seq = |(start, end): (usize, usize)| (rcv_nxt + start, rcv_nxt + end);
        let containing = |s: SeqNum| rx.ooo_range_containing(s.since(rcv_nxt)).map(to_seq);
        let max = if self.tcb.ts_ok { 3 } else { 4 };
        self.rare
            .sack_blocks(containing, rx.ooo_ranges().rev().map(to_seq), max)
    }

    /// `len` bytes of the send buffer from sequence number `seq`, for the segment being
    /// built: borrowed straight from the ring (emitting copies them once, into the packet),
    /// or, for the one segment per trip around the ring that wraps its end, gathered into
    /// the scratch buffer.
    fn payload(&mut self, seq: SeqNum, len: usize) -> &[u8] {
        let offset = seq.since(self.tx_base());
        if self.tx.slices_at(offset, len).1.is_empty() {
            return self.tx.slices_at(offset, len).0;
        }
        let n = self.tx.read_at(offset, self.rare.scratch(len));
        self.rare.scratch_prefix(n)
    }

    fn unsent_from(&self, seq: SeqNum) -> usize {
        self.tx.len().saturating_sub(seq.since(self.tx_base()))
    }

    /// The window field for a non-SYN segment: the receive window, right edge never moved left,
    /// grown only in steps worth announcing (receiver-side SWS avoidance, §3.8.6.2.2).
    pub(super) fn advertise_window(&mut self, now: Instant) -> u16 {
        self.autotune_receive(now);
        let rcv_nxt = self.tcb.rcv_nxt;
        let potential = rcv_nxt + self.rcv_window();
        let threshold = self.window_update_threshold();
        if potential.after(self.tcb.rcv_adv) && potential.since(self.tcb.rcv_adv) >= threshold {
            self.tcb.rcv_adv = potential;
        }
        let shift = self.tcb.rcv_wscale;
        let max = usize::from(u16::MAX) << shift;
        let wnd = self.tcb.rcv_adv.since(rcv_nxt).min(max);
        // Round down to what the scaled field can say, and remember that as the edge.
        // Scaling rounds down by less than 2^shift; the edge we accept up to stays RCV.ADV.
        let field = wnd >> shift;
        u16::try_from(field).unwrap_or(u16::MAX)
    }
}

/// The kinds of segment `poll_transmit` can produce.
#[derive(Clone, Copy, Debug)]
enum Segment {
    /// SYN (SYN-SENT) or SYN,ACK (SYN-RECEIVED).
    Syn,
    /// Data and/or FIN from `seq`; `advance` is false for a fast retransmission of the head.
    Data {
        seq: SeqNum,
        len: usize,
        fin: bool,
        advance: bool,
    },
    /// A zero-window probe.
    Probe,
    /// A bare acknowledgment.
    Ack,
}
