//! SEGMENT ARRIVES (RFC 9293 §3.10.7), one function per state group, one step per RFC check.

use super::cc::CongestionControl;
use super::connection::{Connection, PendingRst};
use super::error::Error;
use super::outcome::Outcome;
use super::reset;
use super::send_buf::{narrow, wide};
use super::seq::SeqNum;
use super::state::State;
use crate::time::{Duration, Instant};
use crate::wire::TcpRepr;

/// What remains of a segment after §3.10.7.4's trimming to the receive window.
struct Trimmed<'a> {
    seq: SeqNum,
    syn: bool,
    fin: bool,
    payload: &'a [u8],
    /// The payload is the whole of a segment staged in the receive ring and verified
    /// ([`Connection::stage_segment`]): in order, it is committed there, not copied again.
    staged: bool,
}

impl Connection {
    /// Processes one arriving segment addressed to this connection, and says what came of it.
    ///
    /// `challenge_budget` is how many challenge ACKs (RFC 5961 §7) this segment may draw
    /// beyond the connection's own rate limit: what is left of a stack-wide budget, or
    /// `u32::MAX` for none. The outcome says how many it spent.
    pub fn handle_segment(
        &mut self,
        now: Instant,
        seg: &TcpRepr<'_>,
        challenge_budget: u32,
    ) -> Outcome {
        self.segment_arrives(now, seg, challenge_budget, false)
    }

    /// The receive checksum folded into the copy into the receive ring, step one: for the
    /// in-order fast path, copies `seg`'s payload into the free room at RCV.NXT *before the
    /// segment touches any state*, and returns the payload's folded checksum sum (see
    /// [`ReceiveBuffer::stage_at_front`](super::recv_buf::ReceiveBuffer::stage_at_front)). `None`,
    /// copying nothing, for anything else: the caller then verifies the checksum first and
    /// calls [`Connection::handle_segment`] as usual.
    ///
    /// The fast path: ESTABLISHED, a user still reading, a plain ACK carrying data (no SYN,
    /// FIN or RST) with SEG.SEQ = RCV.NXT, all of it inside the advertised window and the
    /// buffer's, before any out-of-order range and within the ring as allocated.
    pub(crate) fn stage_segment(&mut self, seg: &TcpRepr<'_>) -> Option<u16> {
        let f = seg.flags;
        if self.state != State::Established
            || self.orphaned
            || !f.ack()
            || f.syn()
            || f.fin()
            || f.rst()
            || seg.payload.is_empty()
            || seg.seq != self.tcb.rcv_nxt
            || seg.payload.len() > self.tcb.rcv_adv.since(self.tcb.rcv_nxt)
        {
            return None;
        }
        self.rx.stage_at_front(seg.payload)
    }

    /// Step two, once the checksum verified: [`Connection::handle_segment`] for the segment
    /// just staged by [`Connection::stage_segment`], whose text, if it is queued in order
    /// whole, is committed where it was staged instead of copied. Call nothing else on the
    /// connection in between.
    pub(crate) fn handle_staged_segment(
        &mut self,
        now: Instant,
        seg: &TcpRepr<'_>,
        challenge_budget: u32,
    ) -> Outcome {
        self.segment_arrives(now, seg, challenge_budget, true)
    }

    /// [`Connection::handle_segment`]; `staged` when the payload was staged in the ring.
    fn segment_arrives(
        &mut self,
        now: Instant,
        seg: &TcpRepr<'_>,
        challenge_budget: u32,
        staged: bool,
    ) -> Outcome {
        let before = self.state;
        let mut left = challenge_budget;
        // Anything from the peer proves it alive (keep-alive, RFC 9293 §3.8.4).
        if let Some(track) = self.keepalive.as_deref_mut() {
            track.last_rx = now;
            track.sent = 0;
        }
        match self.state {
            State::Closed => self
                .rare
                .set_rst(reset::reply_to(seg).map(PendingRst::from_reply)),
            State::Listen => self.segment_in_listen(seg),
            State::SynSent => self.segment_in_syn_sent(now, seg),
            _ => self.segment_synchronized(now, seg, &mut left, staged),
        }
        self.rearm_timers(now);
        Outcome::of(before, self.state, self.error, challenge_budget - left)
    }

    /// §3.10.7.2: LISTEN.
    fn segment_in_listen(&mut self, seg: &TcpRepr<'_>) {
        // "First, check for a RST": an incoming RST should be ignored.
        if seg.flags.rst() {
            return;
        }
        // "Second, check for an ACK": any acknowledgment is bad; reset with <SEQ=SEG.ACK><CTL=RST>
        // "and return" — still listening.
        if seg.flags.ack() {
            self.rare.set_rst(Some(PendingRst {
                seq: seg.ack,
                ack: None,
            }));
            return;
        }
        // "Third, check for a SYN." A SYN that also carries FIN is not an opening anyone
        // means (scanners and fingerprinting tools send it): dropped, as Linux and FreeBSD do.
        if seg.flags.syn() && seg.flags.fin() {
            self.stats.dropped_segments += 1;
            return;
        }
        if seg.flags.syn() {
            self.tcb.irs = seg.seq;
            self.tcb.rcv_nxt = seg.seq + 1;
            self.take_syn_options(seg);
            self.init_receive_window();
            self.state = State::SynReceived;
            // The SYN,ACK goes out at poll_transmit (SND.NXT = ISS means "not yet sent").
        }
        // "Fourth, other data or control": drop.
    }

    /// §3.10.7.3: SYN-SENT.
    fn segment_in_syn_sent(&mut self, now: Instant, seg: &TcpRepr<'_>) {
        let tcb = self.tcb;
        // "First, check the ACK bit": SEG.ACK =< ISS or SEG.ACK > SND.NXT is unacceptable.
        let ack_ok = seg.flags.ack() && seg.ack.after(tcb.iss) && seg.ack.before_eq(tcb.snd_max);
        if seg.flags.ack() && !ack_ok {
            if !seg.flags.rst() {
                self.rare.set_rst(Some(PendingRst {
                    seq: seg.ack,
                    ack: None,
                }));
            }
            return;
        }
        // "Second, check the RST bit": only with an acceptable ACK (RFC 5961 §3 for SYN-SENT).
        if seg.flags.rst() {
            if ack_ok {
                self.stats.resets_received += 1;
                self.fail(Error::Refused);
            }
            return;
        }
        // "Fourth, check the SYN bit." A SYN,FIN without an ACK (a simultaneous open that
        // closes at once) is dropped like SYN,FIN in LISTEN.
        if !seg.flags.syn() || (!ack_ok && seg.flags.fin()) {
            return;
        }
        self.tcb.irs = seg.seq;
        self.tcb.rcv_nxt = seg.seq + 1;
        self.take_syn_options(seg);
        self.init_receive_window();
        if ack_ok {
            self.tcb.snd_una = seg.ack;
            self.take_rtt_sample(now, seg.ack);
            self.rexmit.retries = 0;
            self.rexmit.backoff = 0;
        }
        if self.tcb.snd_una.after(self.tcb.iss) {
            // Our SYN is acknowledged: ESTABLISHED, and "form an ACK segment <SEQ=SND.NXT><ACK=RCV.NXT>".
            self.tcb.snd_wnd = u32::from(seg.window);
            self.tcb.max_snd_wnd = self.tcb.snd_wnd;
            self.tcb.snd_wl1 = seg.seq;
            self.tcb.snd_wl2 = seg.ack;
            self.state = State::Established;
            self.ack.now = true;
            // Data or FIN carried on the SYN,ACK is processed as in ESTABLISHED (step six on).
            let rest = Trimmed {
                seq: seg.seq + 1,
                syn: false,
                fin: seg.flags.fin(),
                payload: seg.payload,
                staged: false,
            };
            self.process_text_and_fin(now, &rest);
        } else {
            // Simultaneous open: "enter SYN-RECEIVED, form a SYN,ACK segment".
            self.state = State::SynReceived;
            self.tcb.snd_nxt = self.tcb.iss;
            self.tcb.snd_wnd = u32::from(seg.window);
            self.tcb.snd_wl1 = seg.seq;
        }
    }

    /// §3.10.7.4: SYN-RECEIVED and the synchronized states; challenge ACKs are taken from
    /// what is `left` of the budget.
    fn segment_synchronized(
        &mut self,
        now: Instant,
        seg: &TcpRepr<'_>,
        left: &mut u32,
        staged: bool,
    ) {
        // TIME-WAIT: a retransmitted FIN is acknowledged again and restarts the 2×MSL timer
        // (§3.10.7.4). Like Linux, so is anything else from a peer that evidently missed our last
        // ACK (old data it still retransmits), so TIME-WAIT does not end while the peer is still
        // trying to finish. A bare in-window ACK restarts the timer without a reply (two ends in
        // TIME-WAIT would otherwise ACK each other forever). RSTs are ignored (RFC 1337).
        if self.state == State::TimeWait && !seg.flags.rst() && !seg.flags.syn() {
            let bare_ack =
                seg.payload.is_empty() && !seg.flags.fin() && seg.seq == self.tcb.rcv_nxt;
            if !bare_ack {
                self.ack.now = true;
            }
            self.enter_time_wait(now);
            return;
        }
        // SYN-RECEIVED: the peer retransmitted its SYN because our SYN,ACK was lost; answer at once.
        if self.state != State::SynSent
            && self.tcb.snd_una == self.tcb.iss
            && seg.flags.syn()
            && !seg.flags.ack()
            && !seg.flags.rst()
            && seg.seq == self.tcb.irs
        {
            self.tcb.snd_nxt = self.tcb.iss;
            return;
        }
        // Simultaneous open (§3.5 figure 8): in SYN-RECEIVED the peer's SYN,ACK repeats its SYN
        // (SEG.SEQ = IRS, below RCV.NXT) and acknowledges ours; like Linux, let it complete the
        // handshake instead of failing the sequence check.
        //
        // After an active open, a SYN,ACK that acknowledges our ISS is authoritative even with
        // another SEG.SEQ: the "SYN" that moved us here may have been forged by a blind attacker
        // who knows the 4-tuple but not our ISS. Take the peer's real ISN from this one.
        let acks_our_syn = seg.ack.after(self.tcb.snd_una) && seg.ack.before_eq(self.tcb.snd_max);
        // SYN-RECEIVED, or FIN-WAIT-1 entered from it by a CLOSE: our SYN is unacknowledged.
        let syn_received = self.state != State::SynSent && self.tcb.snd_una == self.tcb.iss;
        if syn_received
            && seg.flags.syn()
            && seg.flags.ack()
            && !seg.flags.rst()
            && acks_our_syn
            && (seg.seq == self.tcb.irs || !self.passive)
        {
            if seg.seq != self.tcb.irs {
                self.tcb.irs = seg.seq;
                self.tcb.rcv_nxt = seg.seq + 1;
                self.take_syn_options(seg);
                self.init_receive_window();
            }
            self.tcb.snd_wnd = u32::from(seg.window);
            self.tcb.max_snd_wnd = self.tcb.snd_wnd;
            self.tcb.snd_wl1 = seg.seq;
            self.tcb.snd_wl2 = seg.ack;
            // The ordinary new-ACK path: it may also acknowledge a FIN sent from FIN-WAIT-1.
            self.on_new_ack(now, seg.ack, None);
            match self.state {
                State::SynReceived => self.state = State::Established,
                State::FinWait1 if self.fin_acked() => self.state = State::FinWait2,
                _ => {}
            }
            self.ack.now = true;
            return;
        }
        // RFC 7323 §5.3 R1 (PAWS): a timestamp older than TS.Recent marks an old duplicate.
        if let Some(ts) = seg.options.timestamps.filter(|_| self.tcb.ts_ok)
            && !seg.flags.rst()
            && ts_before(ts.tsval, self.tcb.ts_recent)
        {
            self.stats.paws_drops += 1;
            self.ack.now = true;
            return;
        }
        // "First, check sequence number."
        let Some(mut t) = self.check_sequence(seg) else {
            self.stats.dropped_segments += 1;
            self.note_old_duplicate(seg);
            if seg.flags.syn() && !seg.flags.rst() {
                // RFC 5961 §4.2: a SYN gets a (rate-limited) challenge ACK "irrespective of
                // the sequence number".
                self.challenge_ack(now, left);
            } else if !seg.flags.rst() {
                // "...an acknowledgment should be sent in reply (unless the RST bit is set)".
                self.ack.now = true;
            }
            return;
        };
        // Staged text is committed only if it is still the whole segment, at the same place.
        t.staged = staged && t.seq == seg.seq && t.payload.len() == seg.payload.len();
        // RFC 7323 §4.3 R3: "If SEG.TSval >= TS.Recent and SEG.SEQ <= Last.ACK.sent then
        // SEG.TSval is copied to TS.Recent."
        if let Some(ts) = seg.options.timestamps.filter(|_| self.tcb.ts_ok)
            && !ts_before(ts.tsval, self.tcb.ts_recent)
            && seg.seq.before_eq(self.tcb.last_ack_sent)
        {
            self.tcb.ts_recent = ts.tsval;
        }
        if t.seq != seg.seq && !seg.flags.rst() {
            self.note_old_duplicate(seg);
        }
        // The receiver's round trip for buffer autotuning: what our timestamp on data says.
        if let Some(ts) = seg
            .options
            .timestamps
            .filter(|t| self.tcb.ts_ok && t.tsecr != 0)
            && !t.payload.is_empty()
        {
            let ms = self.ts_now(now).wrapping_sub(ts.tsecr);
            if ms < 60_000 {
                self.tune.on_data_rtt(ms);
            }
        }
        // "Second, check the RST bit" (RFC 5961 §3.2).
        if seg.flags.rst() {
            if t.seq == self.tcb.rcv_nxt {
                self.accept_rst();
            } else {
                self.challenge_ack(now, left);
            }
            return;
        }
        // "Fourth, check the SYN bit" (RFC 5961 §4.2): a challenge ACK, whatever the sequence number.
        if t.syn || seg.flags.syn() {
            self.challenge_ack(now, left);
            return;
        }
        // "Fifth, check the ACK field": "if the ACK bit is off, drop the segment".
        if !seg.flags.ack() {
            return;
        }
        if !self.process_ack(now, seg, left) {
            return;
        }
        if t.payload.len() < seg.payload.len() && t.seq == self.tcb.rcv_nxt {
            // Text was cut off at the window's right edge (or all of it, with a zero window):
            // "the text is unacceptable", so say where the window stands.
            self.ack.now = true;
            self.stats.dropped_segments += 1;
        }
        // "Sixth, check the URG bit": urgent data is not supported and passes as ordinary data.
        // "Seventh, process the segment text" and "eighth, check the FIN bit".
        self.process_text_and_fin(now, &t);
    }

    /// Step one of §3.10.7.4: the acceptability test, then trimming to the window.
    fn check_sequence<'a>(&self, seg: &TcpRepr<'a>) -> Option<Trimmed<'a>> {
        let rcv_nxt = self.tcb.rcv_nxt;
        let wnd = self.tcb.rcv_adv.since(rcv_nxt);
        let rcv_end = rcv_nxt + wnd;
        let seg_len = seg.seg_len();
        let in_wnd = |s: SeqNum| s.in_window(rcv_nxt, rcv_end);
        let acceptable = match (seg_len, wnd) {
            (0, 0) => seg.seq == rcv_nxt,
            (0, _) => in_wnd(seg.seq),
            // "special allowance should be made to accept valid ACKs, URGs, and RSTs" with a
            // zero window: keep the segment for its control fields, its text is trimmed away.
            (_, 0) => seg.seq == rcv_nxt,
            (_, _) => in_wnd(seg.seq) || in_wnd(seg.seq + (seg_len - 1)),
        };
        if !acceptable {
            return None;
        }
        let mut t = Trimmed {
            seq: seg.seq,
            syn: seg.flags.syn(),
            fin: seg.flags.fin(),
            payload: seg.payload,
            staged: false,
        };
        // Trim the front: what precedes RCV.NXT is a duplicate.
        let mut excess = rcv_nxt.since(t.seq);
        if excess > 0 && t.syn {
            t.syn = false;
            t.seq += 1;
            excess -= 1;
        }
        let cut = excess.min(t.payload.len());
        t.payload = t.payload.get(cut..).unwrap_or(&[]);
        t.seq += cut;
        if excess > cut {
            // Only the FIN preceded RCV.NXT: it was received before.
            t.fin = false;
            t.seq = rcv_nxt;
        }
        // Trim the back: keep only what fits in the window.
        let room = rcv_end.since(t.seq);
        if t.payload.len() > room {
            t.payload = t.payload.get(..room).unwrap_or(&[]);
            t.fin = false;
        } else if t.fin && t.payload.len() == room && wnd > 0 && room > 0 {
            // The FIN sits just past the window: keep it; it takes no buffer space.
        }
        Some(t)
    }

    /// A RST with SEG.SEQ = RCV.NXT (step two).
    fn accept_rst(&mut self) {
        // RFC 1337: TIME-WAIT ignores RSTs, so old duplicates cannot cut it short.
        if self.state == State::TimeWait {
            return;
        }
        self.stats.resets_received += 1;
        match self.state {
            State::SynReceived if self.passive => {
                // "return this connection to LISTEN": the listener keeps listening; this
                // embryonic connection simply goes away, unseen by the user.
                self.enter_closed();
            }
            State::SynReceived => self.fail(Error::Refused),
            State::Established | State::FinWait1 | State::FinWait2 | State::CloseWait => {
                self.fail(Error::Reset)
            }
            _ => self.enter_closed(),
        }
    }

    /// Step five, the ACK field; challenge ACKs are taken from what is `left` of the budget.
    /// Returns false when the segment must be dropped.
    fn process_ack(&mut self, now: Instant, seg: &TcpRepr<'_>, left: &mut u32) -> bool {
        let ack = seg.ack;
        // Our SYN is still unacknowledged: SYN-RECEIVED, or FIN-WAIT-1 after a CLOSE issued in
        // SYN-RECEIVED. The SYN-RECEIVED rules apply to this ACK.
        if self.tcb.snd_una == self.tcb.iss {
            // "If SND.UNA < SEG.ACK =< SND.NXT, then enter ESTABLISHED state."
            if ack.after(self.tcb.snd_una) && ack.before_eq(self.tcb.snd_max) {
                if self.state == State::SynReceived {
                    self.state = State::Established;
                }
                self.tcb.snd_wl1 = seg.seq;
                self.tcb.snd_wl2 = ack;
                self.tcb.snd_wnd = u32::from(seg.window) << self.tcb.snd_wscale;
                self.tcb.max_snd_wnd = self.tcb.snd_wnd;
            } else {
                self.rare.set_rst(Some(PendingRst {
                    seq: ack,
                    ack: None,
                }));
                return false;
            }
        }
        // RFC 5961 §5.2: acceptable ACKs lie in [SND.UNA - MAX.SND.WND, SND.NXT].
        if ack.after(self.tcb.snd_max) {
            // "If the ACK acks something not yet sent ... send an ACK, drop the segment."
            self.challenge_ack(now, left);
            return false;
        }
        let oldest_ok = self.tcb.snd_una - wide(self.tcb.max_snd_wnd.max(1));
        if ack.before(oldest_ok) {
            self.challenge_ack(now, left);
            return false;
        }
        // At most 65,535 << 14 (RFC 7323 §2.3), under 2^30.
        let window = u32::from(seg.window) << self.tcb.snd_wscale;
        let una_before = self.tcb.snd_una;
        let before = self.delivery_snapshot();
        let mut rtt = None;
        if ack.after(self.tcb.snd_una) {
            // RFC 7323 §4.1: with timestamps every ACK of new data is an RTT sample, even
            // across retransmissions (TSecr names the transmission being acknowledged).
            let ts_rtt = seg
                .options
                .timestamps
                .filter(|t| self.tcb.ts_ok && t.tsecr != 0)
                .map(|t| self.ts_now(now).wrapping_sub(t.tsecr))
                .filter(|&ms| ms < 60_000);
            let ts_rtt = ts_rtt.map(|ms| Duration::from_millis(u64::from(ms)));
            if let Some(rtt) = ts_rtt {
                let bounds = self.rto_bounds();
                self.rtt.sample(rtt, bounds);
                self.rexmit.set_rtt_probe(None);
            }
            rtt = self.on_new_ack(now, ack, ts_rtt);
        }
        // RFC 5681 §2: a duplicate ACK.
        let dupack = ack == self.tcb.snd_una
            && ack == una_before
            && seg.payload.is_empty()
            && !seg.flags.fin()
            && window == self.tcb.snd_wnd
            && self.tcb.snd_max != self.tcb.snd_una;
        if self.tcb.sack_ok {
            // With SACK, RACK-TLP and the scoreboard detect losses (RFC 6675, RFC 8985).
            let delivered = self.tcb.snd_una.since(una_before);
            self.loss_on_ack(now, seg, delivered, dupack);
        } else if dupack {
            self.cc_on_duplicate_ack(now);
        }
        self.cc_on_rate_sample(now, before, rtt);
        // Window update: "If SND.WL1 < SEG.SEQ or (SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK)".
        if self.tcb.snd_wl1.before(seg.seq)
            || (self.tcb.snd_wl1 == seg.seq && self.tcb.snd_wl2.before_eq(ack))
        {
            if self.tcb.snd_wnd == 0 && window > 0 {
                // The window reopened: the persist phase is over.
                self.rexmit.retries = 0;
                self.rexmit.backoff = 0;
            }
            self.tcb.snd_wnd = window;
            self.tcb.max_snd_wnd = self.tcb.max_snd_wnd.max(window);
            self.tcb.snd_wl1 = seg.seq;
            self.tcb.snd_wl2 = ack;
        }
        if self.tcb.snd_wnd == 0 {
            // A live peer answered (e.g. a window probe): don't count toward giving up.
            self.rexmit.retries = 0;
        }
        match self.state {
            State::FinWait1 if self.fin_acked() => self.state = State::FinWait2,
            State::Closing if self.fin_acked() => self.enter_time_wait(now),
            State::LastAck if self.fin_acked() => {
                self.enter_closed();
                return false;
            }
            _ => {}
        }
        true
    }

    /// SND.UNA advances to `ack`; `ts_rtt` is the timestamp RTT sample, if any. Returns the
    /// RTT sample used.
    fn on_new_ack(
        &mut self,
        now: Instant,
        ack: SeqNum,
        ts_rtt: Option<Duration>,
    ) -> Option<Duration> {
        let acked = ack.since(self.tcb.snd_una);
        let flight_before = self.tcb.snd_nxt.since(self.tcb.snd_una);
        let syn_acked = usize::from(self.tcb.snd_una == self.tcb.iss);
        // Our FIN is covered when SND.UNA <= FIN < SEG.ACK.
        let fin_acked = self
            .fin
            .seq()
            .is_some_and(|f| f.in_window(self.tcb.snd_una, ack));
        let data_acked = acked.saturating_sub(syn_acked + usize::from(fin_acked));
        self.tx.consume(data_acked);
        self.tcb.snd_una = ack;
        if self.tcb.snd_nxt.before(ack) {
            self.tcb.snd_nxt = ack;
        }
        let rtt = self.take_rtt_sample(now, ack).or(ts_rtt);
        self.rexmit.retries = 0;
        self.rexmit.backoff = 0;
        // During SACK-based recovery PRR drives the window instead (see `loss`).
        let restart =
            self.loss.in_recovery() || self.cc_on_new_ack(now, data_acked, flight_before, rtt);
        if restart {
            // RFC 6298 §5.3: restart the timer when new data is acknowledged.
            self.timers.clear(super::timer::TimerKind::Retransmit);
        }
        self.mtu_on_ack(now);
        self.autotune_send();
        rtt
    }

    /// RFC 6298 with Karn's rule: only a segment never retransmitted is timed. Returns the
    /// sample taken, if any.
    pub(super) fn take_rtt_sample(&mut self, now: Instant, ack: SeqNum) -> Option<Duration> {
        let (end, sent) = self.rexmit.rtt_probe()?;
        if !ack.after_eq(end) {
            return None;
        }
        let rtt = now.saturating_duration_since(sent);
        let bounds = self.rto_bounds();
        self.rtt.sample(rtt, bounds);
        self.rexmit.set_rtt_probe(None);
        Some(rtt)
    }

    /// Steps seven and eight: queue the text, then the FIN.
    fn process_text_and_fin(&mut self, now: Instant, t: &Trimmed<'_>) {
        if self.orphaned && self.state.may_receive() && !t.payload.is_empty() {
            // RFC 1122 §4.2.2.13 / RFC 2525 §2.17: the user closed and will never read again,
            // so new data is answered with a RST (the peer learns it was not consumed), and
            // the connection ends (Linux's TCPAbortOnData). `t` is trimmed to the window, so
            // its text is new.
            self.stats.aborts_on_data += 1;
            self.abort();
            return;
        }
        if self.state.may_receive() && (!t.payload.is_empty() || t.fin) {
            let offset = t.seq.since(self.tcb.rcv_nxt);
            let mut stored_all = true;
            if !t.payload.is_empty() {
                let room = self.rx.window();
                stored_all = offset + t.payload.len() <= room;
                self.note_ooo_duplicate(t.seq, offset, t.payload.len());
                let advanced = if t.staged && offset == 0 {
                    self.rx.commit_staged(t.payload.len())
                } else {
                    self.rx.write_at(offset, t.payload)
                };
                self.tcb.rcv_nxt += advanced;
                self.note_ooo_received(t.seq, offset);
                if offset > 0 || advanced > t.payload.len() || !stored_all {
                    // Out of order, a hole filled, or data dropped: acknowledge at once (RFC 5681 §4.2).
                    self.ack.now = true;
                } else {
                    // RFC 9293 §3.8.6.3: an ACK for at least every second full-sized segment;
                    // a segment the sender's offload coalesced (TSO/GRO, as over TUN) counts as
                    // the segments it carries, or a 20-segment burst would wait 40 ms.
                    let mss = usize::from(self.our_mss()).max(1);
                    let carried = u16::try_from(t.payload.len().div_ceil(mss)).unwrap_or(u16::MAX);
                    self.ack.segments = self.ack.segments.saturating_add(carried.max(1));
                    if self.ack.segments >= 2 {
                        self.ack.now = true;
                    } else {
                        self.timers.set_if_idle(
                            super::timer::TimerKind::DelayedAck,
                            now + self.cfg.delayed_ack.min(Duration::from_millis(500)),
                        );
                    }
                }
            }
            if t.fin && stored_all && self.fin.remote().is_none() {
                self.fin.set_remote(t.seq + t.payload.len());
            }
            if t.fin && offset > 0 {
                // A FIN beyond a hole is out of order too: a duplicate ACK at once tells the
                // sender what is missing (it may be a loss probe for the lost tail).
                self.ack.now = true;
            }
        } else if !t.payload.is_empty() {
            // Text after the peer's FIN: ignore it, but say where we are.
            self.ack.now = true;
        }
        self.process_fin(now);
    }

    /// RFC 2883 §4: data below RCV.NXT arrived again; report the duplicated part in a D-SACK
    /// block at once. Only the last receive buffer's worth counts (older is no duplicate of
    /// ours but junk).
    fn note_old_duplicate(&mut self, seg: &TcpRepr<'_>) {
        let rcv_nxt = self.tcb.rcv_nxt;
        if !self.tcb.sack_ok
            || seg.payload.is_empty()
            || rcv_nxt.since(seg.seq) > self.rx.capacity()
        {
            return;
        }
        let end = (seg.seq + seg.payload.len()).min(rcv_nxt);
        if seg.seq.before(end) {
            self.rare.note_duplicate(seg.seq, end);
            self.ack.now = true;
        }
    }

    /// RFC 2883 §4: out-of-order data wholly inside a block we already hold is a duplicate.
    fn note_ooo_duplicate(&mut self, seq: SeqNum, offset: usize, len: usize) {
        if !self.tcb.sack_ok || offset == 0 {
            return;
        }
        if self
            .rx
            .ooo_range_containing(offset)
            .is_some_and(|(_, end)| offset + len <= end)
        {
            self.rare.note_duplicate(seq, seq + len);
        }
    }

    /// RFC 2018 §4: the block holding the segment just stored goes first in the next ACK.
    fn note_ooo_received(&mut self, seq: SeqNum, offset: usize) {
        if !self.tcb.sack_ok || offset == 0 {
            return;
        }
        if let Some((start, end)) = self.rx.ooo_range_containing(offset) {
            let rcv_nxt = self.tcb.rcv_nxt;
            self.rare
                .note_received(seq, (rcv_nxt + start, rcv_nxt + end));
        }
    }

    /// Step eight: the peer's FIN, once every byte before it has arrived.
    fn process_fin(&mut self, now: Instant) {
        let Some(fin) = self.fin.remote() else { return };
        if fin != self.tcb.rcv_nxt || !self.state.may_receive() {
            return;
        }
        self.tcb.rcv_nxt += 1;
        self.ack.now = true;
        match self.state {
            State::SynReceived | State::Established => self.state = State::CloseWait,
            State::FinWait1 if self.fin_acked() => self.enter_time_wait(now),
            State::FinWait1 => self.state = State::Closing,
            State::FinWait2 => self.enter_time_wait(now),
            _ => {}
        }
    }

    /// Reads MSS and window scale from a SYN (RFC 9293 §3.7.1, RFC 7323 §2).
    fn take_syn_options(&mut self, seg: &TcpRepr<'_>) {
        // Without the option, the default send MSS is 536 (IPv4) or 1220 (IPv6) (§3.7.1).
        let default_mss = if self.remote().is_ipv4() { 536 } else { 1220 };
        let peer_mss = seg.options.mss.map_or(default_mss, usize::from).max(1);
        self.tcb.send_mss = narrow(peer_mss.min(usize::from(self.our_mss())).max(1));
        if let Some(ts) = seg.options.timestamps.filter(|_| self.cfg.timestamps) {
            self.tcb.ts_ok = true;
            self.tcb.ts_recent = ts.tsval;
        }
        // RFC 2018 §2: SACK is in use only if both SYNs carried SACK-permitted.
        self.tcb.sack_ok = self.cfg.sack && seg.options.sack_permitted;
        self.cc.set_mss(self.max_payload());
        match seg.options.window_scale {
            Some(shift) if self.cfg.window_scaling => {
                self.tcb.snd_wscale = shift.min(14);
                self.tcb.wscale_ok = true;
            }
            _ => {
                self.tcb.snd_wscale = 0;
                self.tcb.rcv_wscale = 0;
            }
        }
    }

    /// Sets the first advertised right edge once RCV.NXT is known.
    fn init_receive_window(&mut self) {
        // The window in a SYN is never scaled (RFC 7323 §2.2).
        let wnd = self.rcv_window().min(usize::from(u16::MAX));
        self.tcb.rcv_adv = self.tcb.rcv_nxt + wnd;
        self.tune.start_receive(self.tcb.rcv_nxt);
    }
}

impl PendingRst {
    fn from_reply(r: reset::Reset) -> Self {
        PendingRst {
            seq: r.seq,
            ack: r.ack,
        }
    }
}

/// `a < b` for 32-bit timestamps, modulo 2^32 (RFC 7323 §5.2).
fn ts_before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}
