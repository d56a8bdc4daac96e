//! [`Connection`]: one TCB and its buffers and timers, driven sans-IO.
//!
//! # Call order
//!
//! A driver (normally the [`Stack`](crate::stack::Stack)) owns connections and, for each:
//! 1. feeds arriving segments with [`Connection::handle_segment`], giving it its share of a
//!    challenge-ACK budget;
//! 2. feeds the time with [`Connection::handle_timeout`] when [`Connection::poll_timeout`] passes;
//!    both return an [`Outcome`]: what the owner must act on (the budget spent, a completed
//!    handshake, a failure, TIME-WAIT entered or left), so the owner never compares the
//!    connection's state before and after;
//! 3. after either, and after every user call, drains [`Connection::poll_transmit`] until `None`
//!    and re-reads `poll_timeout`.
//!
//! User calls ([`Connection::send`], [`Connection::recv`], [`Connection::close`],
//! [`Connection::abort`]) follow RFC 9293 §3.10.1–§3.10.6.

use super::autotune::Autotune;
use super::cc::{AnyCc, CongestionControl};
use super::config::Config;
use super::endpoints::Endpoints;
use super::error::Error;
use super::loss::Loss;
use super::outcome::Outcome;
use super::rare::Rare;
use super::recovery::Recovery;
use super::recv_buf::ReceiveBuffer;
use super::rtt::{RtoBounds, RttEstimator};
use super::send_buf::{SendBuffer, wide};
use super::seq::SeqNum;
use super::state::State;
/// Kept at its old path; the counters now live beside [`LazyStats`].
pub use super::stats::ConnStats;
use super::stats::LazyStats;
use super::timer::{TimerKind, TimerTable};
use crate::time::{Duration, Instant};
use alloc::boxed::Box;
use alloc::sync::Arc;
use core::net::SocketAddr;

/// How long a connection's send or receive buffer storage stays allocated while it holds
/// nothing (the `Reclaim` timer): long enough that a sender whose application keeps up
/// never frees and regrows it, short enough that an idle connection soon costs no buffer
/// memory.
pub const RECLAIM_IDLE: Duration = Duration::from_secs(1);

/// The send and receive sequence variables of RFC 9293 §3.3.1, plus what the
/// extensions need. Names follow the RFC.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tcb {
    /// Initial send sequence number.
    pub iss: SeqNum,
    /// Oldest unacknowledged sequence number.
    pub snd_una: SeqNum,
    /// Next sequence number to send.
    pub snd_nxt: SeqNum,
    /// Highest sequence number sent so far plus one (snd_nxt rewinds on a timeout; this does not).
    pub snd_max: SeqNum,
    /// Send window, in bytes (already scaled): a 16-bit field shifted by at most 14
    /// (RFC 7323 §2.3), so under 2^30 and 32 bits.
    pub snd_wnd: u32,
    /// Segment sequence number used for the last window update.
    pub snd_wl1: SeqNum,
    /// Segment acknowledgment number used for the last window update.
    pub snd_wl2: SeqNum,
    /// Largest window the peer has offered (for sender silly window avoidance).
    pub max_snd_wnd: u32,
    /// Shift applied to the peer's window field (RFC 7323), 0 when not negotiated.
    pub snd_wscale: u8,
    /// Shift we apply to our window field, 0 when not negotiated.
    pub rcv_wscale: u8,
    /// Initial receive sequence number.
    pub irs: SeqNum,
    /// Next sequence number expected.
    pub rcv_nxt: SeqNum,
    /// Right edge of the window we last advertised (RCV.NXT + RCV.WND); never moves left.
    pub rcv_adv: SeqNum,
    /// Effective send MSS: min(peer's MSS option, our own), so at most 65,535.
    pub send_mss: u32,
    /// Both sides offered window scaling on their SYNs.
    pub wscale_ok: bool,
    /// Both sides offered timestamps on their SYNs (RFC 7323 §3.2).
    pub ts_ok: bool,
    /// Both sides offered SACK-permitted on their SYNs (RFC 2018 §2).
    pub sack_ok: bool,
    /// TS.Recent: the timestamp to echo (RFC 7323 §4.3).
    pub ts_recent: u32,
    /// Last.ACK.sent: the acknowledgment number of our latest segment (RFC 7323 §4.3).
    pub last_ack_sent: SeqNum,
}

impl Tcb {
    /// The per-connection offset added to our timestamp clock (RFC 7323 §7.1): the ISS,
    /// already a keyed hash of the 4-tuple (and fixed for the connection's life, so it
    /// takes no field of its own).
    pub fn ts_offset(&self) -> u32 {
        self.iss.get()
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub(super) struct AckState {
    /// An ACK must go out at the next `poll_transmit`.
    pub now: bool,
    /// Full-sized (or any) data segments received since our last ACK, saturating: only
    /// whether it reached 2 matters, so 16 bits do.
    pub segments: u16,
}

/// A pending RST to send: sequence number and, if ACK is set, the acknowledgment number.
#[derive(Clone, Copy, Debug)]
pub(super) struct PendingRst {
    pub seq: SeqNum,
    pub ack: Option<SeqNum>,
}

/// Our FIN and the peer's: 12 bytes, where two `Option<SeqNum>` beside the flag took 20.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Fins {
    /// Our user called CLOSE: a FIN follows the queued data.
    pub queued: bool,
    /// Our FIN has been sent, occupying `seq_at`.
    sent: bool,
    /// The peer's FIN has been seen, at `remote_at`.
    seen: bool,
    seq_at: SeqNum,
    remote_at: SeqNum,
}

impl Fins {
    /// The sequence number our FIN occupies, once it has been sent.
    pub fn seq(&self) -> Option<SeqNum> {
        self.sent.then_some(self.seq_at)
    }

    /// Our FIN was sent at `seq`.
    pub fn set_seq(&mut self, seq: SeqNum) {
        (self.sent, self.seq_at) = (true, seq);
    }

    /// The sequence number of the peer's FIN, once seen (perhaps ahead of RCV.NXT).
    pub fn remote(&self) -> Option<SeqNum> {
        self.seen.then_some(self.remote_at)
    }

    /// The peer's FIN is at `seq`.
    pub fn set_remote(&mut self, seq: SeqNum) {
        (self.seen, self.remote_at) = (true, seq);
    }
}

/// Retransmission and probing state beside the timers: 16 bytes (32 with a `u32` count, a
/// `u32` exponent and the send time in an `Option`).
#[derive(Clone, Copy, Debug)]
pub(super) struct Retransmit {
    /// Retransmit the segment at SND.UNA at the next `poll_transmit` (fast retransmit).
    pub head: bool,
    /// Send a zero-window probe at the next `poll_transmit`.
    pub probe_now: bool,
    /// Consecutive retransmission timeouts (or unanswered probes) without progress,
    /// saturating at 255, which exceeds every limit (see [`Retransmit::retries_exceed`]);
    /// Linux keeps this count (`icsk_retransmits`) and its limits in 8 bits too.
    pub retries: u8,
    /// RTO backoff exponent, saturating (the RTO reaches its maximum long before).
    pub backoff: u8,
    /// The end sequence number of the segment timed for an RTT sample (see
    /// [`Retransmit::rtt_probe`]), meaningful while `probe_sent` is not [`NOT_TIMED`].
    probe_end: SeqNum,
    /// When the timed segment was sent, [`NOT_TIMED`] while none is: 8 bytes where an
    /// `Option` took 16.
    probe_sent: Instant,
}

/// `probe_sent` while no segment is timed: the end of time, which no clock reaches.
const NOT_TIMED: Instant = Instant::from_micros(u64::MAX);

impl Default for Retransmit {
    fn default() -> Self {
        Retransmit {
            head: false,
            probe_now: false,
            retries: 0,
            backoff: 0,
            probe_end: SeqNum::default(),
            probe_sent: NOT_TIMED,
        }
    }
}

impl Retransmit {
    /// The segment being timed for an RTT sample: (end sequence number, send time).
    pub fn rtt_probe(&self) -> Option<(SeqNum, Instant)> {
        (self.probe_sent != NOT_TIMED).then_some((self.probe_end, self.probe_sent))
    }
    /// Starts timing a segment, or (`None`) stops.
    pub fn set_rtt_probe(&mut self, probe: Option<(SeqNum, Instant)>) {
        match probe {
            Some((end, sent)) => {
                self.probe_end = end;
                self.probe_sent = sent;
            }
            None => self.probe_sent = NOT_TIMED,
        }
    }
    /// Whether the retries so far exceed `limit`: the saturated count exceeds any limit, so
    /// a configured limit above 254 acts as 254.
    pub fn retries_exceed(&self, limit: u32) -> bool {
        self.retries == u8::MAX || u32::from(self.retries) > limit
    }
}

/// Keep-alive bookkeeping (RFC 1122 §4.2.3.6).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct KeepaliveTrack {
    /// When a segment last arrived.
    pub last_rx: Instant,
    /// When the last keep-alive probe went out.
    pub last_sent: Instant,
    /// Probes sent since the peer was last heard.
    pub sent: u32,
    /// Send a probe at the next `poll_transmit`.
    pub now: bool,
}

/// One TCP connection: a TCB, its buffers and timers.
#[derive(Debug)]
pub struct Connection {
    pub(super) state: State,
    /// The settings, shared with every connection the stack made from the same [`Config`]
    /// (a private copy only after [`Connection::set_nodelay`] changes one).
    pub(super) cfg: Arc<Config>,
    /// The local and remote addresses (see [`local`](Self::local), [`remote`](Self::remote)).
    pub(super) addrs: Endpoints,
    /// Created by a passive OPEN (LISTEN) rather than an active one.
    pub(super) passive: bool,
    pub(super) tcb: Tcb,
    pub(super) tx: SendBuffer,
    pub(super) rx: ReceiveBuffer,
    /// The buffers' autotuned limits under the configured maxima (see [`super::autotune`]).
    pub(super) tune: Autotune,
    pub(super) timers: TimerTable,
    pub(super) rtt: RttEstimator,
    /// The congestion controller (window growth and ssthresh).
    pub(super) cc: AnyCc,
    /// Fast retransmit / fast recovery state (RFC 5681 §3.2, RFC 6582, RFC 6937).
    pub(super) recovery: Recovery,
    /// SACK scoreboard, RACK-TLP and SACK-based recovery (RFC 6675, RFC 8985).
    pub(super) loss: Loss,
    /// Our FIN and the peer's.
    pub(super) fin: Fins,
    pub(super) ack: AckState,
    /// Retransmission and probing beyond the timers themselves.
    pub(super) rexmit: Retransmit,
    pub(super) error: Option<Error>,
    /// An ICMP error said the peer could not be reached (RFC 1122 §4.2.3.9): a time-out then
    /// reports `Unreachable`.
    pub(super) soft_error: bool,
    /// Counters, on the heap only once one moves.
    pub(super) stats: LazyStats,
    /// Keep-alive bookkeeping (RFC 1122 §4.2.3.6), on the heap for a connection whose
    /// configuration has keep-alives (a connection's keep-alive setting never changes), and
    /// absent otherwise: 8 bytes rather than 24 for the default.
    pub(super) keepalive: Option<Box<KeepaliveTrack>>,
    /// The user has let go of this connection (FIN-WAIT-2 then times out).
    pub(super) orphaned: bool,
    /// What is used only now and then (see [`Rare`]): the SACK report, the send scratch
    /// buffer, a pending RST, the challenge-ACK window and the path MTU search, boxed only
    /// while in use.
    pub(super) rare: Rare,
}

impl Connection {
    fn new(
        cfg: Arc<Config>,
        state: State,
        local: SocketAddr,
        remote: SocketAddr,
        iss: SeqNum,
    ) -> Self {
        let tcb = Tcb {
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_max: iss,
            send_mss: u32::from(cfg.effective_mss(remote.is_ipv6())),
            rcv_wscale: if cfg.window_scaling {
                window_shift_for(cfg.recv_buffer)
            } else {
                0
            },
            ..Tcb::default()
        };
        let mss = usize::from(cfg.effective_mss(remote.is_ipv6()));
        let tune = Autotune::new(mss, cfg.send_buffer, cfg.recv_buffer);
        let mut tx = SendBuffer::new(cfg.send_buffer);
        tx.set_capacity(tune.snd_buf());
        Connection {
            state,
            addrs: Endpoints::new(local, remote),
            passive: state == State::Listen,
            tcb,
            tx,
            rx: ReceiveBuffer::new(cfg.recv_buffer, cfg.max_ooo_ranges),
            tune,
            timers: TimerTable::default(),
            rtt: RttEstimator::new(RtoBounds::new(cfg.initial_rto, cfg.min_rto, cfg.max_rto)),
            cc: AnyCc::new(
                cfg.congestion_control,
                usize::from(cfg.effective_mss(remote.is_ipv6())),
            ),
            recovery: Recovery::new(iss),
            loss: Loss::default(),
            fin: Fins::default(),
            ack: AckState::default(),
            rexmit: Retransmit::default(),
            error: None,
            soft_error: false,
            stats: LazyStats::default(),
            keepalive: cfg.keepalive.map(|_| Box::default()),
            orphaned: false,
            rare: Rare::default(),
            cfg,
        }
    }

    /// Active OPEN (§3.10.1): CLOSED → SYN-SENT. The SYN goes out at the next `poll_transmit`.
    /// `cfg` is a [`Config`] or an `Arc<Config>` shared with other connections.
    pub fn connect(
        cfg: impl Into<Arc<Config>>,
        local: SocketAddr,
        remote: SocketAddr,
        iss: SeqNum,
    ) -> Self {
        Self::new(cfg.into(), State::SynSent, local, remote, iss)
    }

    /// Passive OPEN (§3.10.1) for one prospective peer: a TCB in LISTEN that will
    /// move to SYN-RECEIVED on that peer's SYN. The stack's listener creates one
    /// per arriving SYN, so a single listening port serves many connections.
    /// `cfg` is a [`Config`] or an `Arc<Config>` shared with other connections.
    pub fn listen(
        cfg: impl Into<Arc<Config>>,
        local: SocketAddr,
        remote: SocketAddr,
        iss: SeqNum,
    ) -> Self {
        Self::new(cfg.into(), State::Listen, local, remote, iss)
    }

    // ---- getters ----

    /// Our timestamp clock (milliseconds plus the connection's offset), for TSval.
    pub(super) fn ts_now(&self, now: Instant) -> u32 {
        (now.total_millis() as u32).wrapping_add(self.tcb.ts_offset())
    }

    /// The most payload one segment carries: the send MSS less the timestamp option.
    pub fn max_payload(&self) -> usize {
        let options = if self.tcb.ts_ok { 12 } else { 0 };
        wide(self.tcb.send_mss).saturating_sub(options).max(1)
    }

    /// The MSS we advertise: the path MTU minus headers, capped by the configuration.
    pub fn our_mss(&self) -> u16 {
        self.cfg.effective_mss(self.remote().is_ipv6())
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The sequence variables.
    pub fn tcb(&self) -> &Tcb {
        &self.tcb
    }

    /// The local address and port.
    pub fn local(&self) -> SocketAddr {
        self.addrs.local()
    }

    /// The remote address and port.
    pub fn remote(&self) -> SocketAddr {
        self.addrs.remote()
    }

    /// Why the connection failed, if it did (refused, reset, timed out).
    pub fn error(&self) -> Option<Error> {
        self.error
    }

    /// Counters.
    pub fn stats(&self) -> ConnStats {
        self.stats.get()
    }

    /// The connection's configuration: among others the send and receive buffer maxima,
    /// which autotuning sizes the buffers below.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Bytes ready for [`recv`](Self::recv).
    pub fn recv_queue(&self) -> usize {
        self.rx.readable()
    }

    /// Bytes queued to send and not yet acknowledged.
    pub fn send_queue(&self) -> usize {
        self.tx.len()
    }

    /// Room left in the send buffer.
    pub fn send_capacity(&self) -> usize {
        if self.state.may_send() && !self.fin.queued {
            self.tx.free()
        } else {
            0
        }
    }

    /// The peer's FIN has been received and every byte before it read: `recv` returns 0.
    pub fn is_recv_finished(&self) -> bool {
        self.rx.readable() == 0 && self.peer_fin_consumed()
    }

    /// The smoothed RTT, once measured.
    pub fn srtt(&self) -> Option<Duration> {
        self.rtt.srtt()
    }

    /// The current retransmission timeout (with backoff).
    pub fn rto(&self) -> Duration {
        self.rtt
            .rto_with_backoff(u32::from(self.rexmit.backoff), || self.rto_bounds())
    }

    /// The configured RTO bounds.
    pub(super) fn rto_bounds(&self) -> RtoBounds {
        let c = &self.cfg;
        RtoBounds::new(c.initial_rto, c.min_rto, c.max_rto)
    }

    /// The congestion window in bytes.
    pub fn cwnd(&self) -> usize {
        self.cc.cwnd()
    }

    /// The slow-start threshold in bytes (`usize::MAX` until the first congestion event).
    pub fn ssthresh(&self) -> usize {
        self.cc.ssthresh()
    }

    /// The congestion control algorithm's name ("cubic", "newreno").
    pub fn cc_name(&self) -> &'static str {
        self.cc.name()
    }

    /// Whether fast recovery is in progress.
    pub fn in_recovery(&self) -> bool {
        self.recovery.in_recovery() || self.loss.in_recovery()
    }

    /// Bytes this connection occupies: the struct itself plus its heap buffers.
    pub fn memory_usage(&self) -> usize {
        core::mem::size_of::<Self>()
            + self.tx.allocated_bytes()
            + self.rx.allocated_bytes()
            + self.stats.allocated_bytes()
            + self.loss.allocated_bytes()
            + self.cc.allocated_bytes()
            + self.addrs.allocated_bytes()
            + self.recovery.allocated_bytes()
            + self.rare.allocated_bytes()
            + self
                .keepalive
                .as_ref()
                .map_or(0, |_| size_of::<KeepaliveTrack>())
    }

    /// The earliest time [`handle_timeout`](Self::handle_timeout) should be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    /// True when the connection holds no state worth keeping (CLOSED with nothing to send).
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed && !self.rare.rst_pending()
    }

    pub(super) fn peer_fin_consumed(&self) -> bool {
        self.fin.remote().is_some_and(|f| self.tcb.rcv_nxt.after(f))
    }

    // ---- user calls (§3.10.2–§3.10.6) ----

    /// SEND (§3.10.2): queues as much of `data` as fits and returns how much.
    ///
    /// Data queued in SYN-SENT or SYN-RECEIVED goes out once the connection is established.
    pub fn send(&mut self, data: &[u8]) -> Result<usize, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        match self.state {
            State::Closed | State::Listen => Err(Error::NotConnected),
            _ if self.fin.queued => Err(Error::Closing),
            State::SynSent | State::SynReceived | State::Established | State::CloseWait => {
                if data.is_empty() {
                    return Ok(0);
                }
                match self.tx.write(data) {
                    0 => Err(Error::WouldBlock),
                    n => {
                        // Busy again: the reclaim restarts from the next time it empties.
                        self.timers.clear(TimerKind::Reclaim);
                        Ok(n)
                    }
                }
            }
            _ => Err(Error::Closing),
        }
    }

    /// SEND in place (zero copy): `f` writes into free room at the end of the send buffer
    /// and returns how many bytes it wrote and a value, which comes back as `Ok(r)`. The
    /// room is one contiguous slice of at most [`send_capacity`](Self::send_capacity)
    /// bytes, possibly less (call again for more). The same rules as [`send`](Self::send):
    /// `Err(WouldBlock)` without calling `f` when the buffer is full, `Closing` after
    /// CLOSE, the connection's error once it failed.
    pub fn send_with<R>(&mut self, f: impl FnOnce(&mut [u8]) -> (usize, R)) -> Result<R, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        match self.state {
            State::Closed | State::Listen => Err(Error::NotConnected),
            _ if self.fin.queued => Err(Error::Closing),
            State::SynSent | State::SynReceived | State::Established | State::CloseWait => {
                let (n, r) = self.tx.write_with(f).ok_or(Error::WouldBlock)?;
                if n > 0 {
                    // Busy again: the reclaim restarts from the next time it empties.
                    self.timers.clear(TimerKind::Reclaim);
                }
                Ok(r)
            }
            _ => Err(Error::Closing),
        }
    }

    /// RECEIVE in place (zero copy): `f` gets the readable bytes as up to two slices, in
    /// order (the second is non-empty only when they wrap around the ring), and returns
    /// how many of them it consumed and a value. `Ok(Some(r))` after `f` ran; `Ok(None)`
    /// at the end of the stream, and `Err(WouldBlock)` while nothing is readable, both
    /// without calling `f`. Consumed bytes open the window as [`recv`](Self::recv) does.
    pub fn recv_with<R>(
        &mut self,
        f: impl FnOnce(&[u8], &[u8]) -> (usize, R),
    ) -> Result<Option<R>, Error> {
        let (a, b) = self.rx.peek_slices();
        if a.is_empty() && b.is_empty() {
            // End of stream (`Ok(0)`) or an error: nothing for `f`.
            return self.nothing_read().map(|_| None);
        }
        let (n, r) = f(a, b);
        if self.rx.discard(n) > 0 {
            self.on_window_opened();
        }
        Ok(Some(r))
    }

    /// RECEIVE (§3.10.3): copies readable bytes into `buf`. `Ok(0)` means the peer
    /// closed (end of stream); `Err(WouldBlock)` means no data yet.
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.rx.read(buf);
        if n > 0 {
            self.on_window_opened();
            return Ok(n);
        }
        self.nothing_read()
    }

    /// Like [`recv`](Self::recv), but leaves the bytes in the buffer (`MSG_PEEK`): the next
    /// `recv` or `peek` returns them again, and no window update is due.
    pub fn peek(&self, buf: &mut [u8]) -> Result<usize, Error> {
        if buf.is_empty() {
            return Ok(0);
        }
        let (a, b) = self.rx.peek_slices();
        let n = (a.len() + b.len()).min(buf.len());
        if n > 0 {
            let first = a.len().min(n);
            if let (Some(dst), Some(src)) = (buf.get_mut(..first), a.get(..first)) {
                crate::wire::field::copy_bytes(dst, src);
            }
            if let (Some(dst), Some(src)) = (buf.get_mut(first..n), b.get(..n - first)) {
                crate::wire::field::copy_bytes(dst, src);
            }
            return Ok(n);
        }
        self.nothing_read()
    }

    /// What a read that found no bytes returns: end of stream, the connection's error, or
    /// "not yet".
    fn nothing_read(&self) -> Result<usize, Error> {
        if self.peer_fin_consumed() {
            return Ok(0);
        }
        if let Some(e) = self.error {
            return Err(e);
        }
        match self.state {
            State::Closed | State::Listen => Err(Error::NotConnected),
            _ => Err(Error::WouldBlock),
        }
    }

    /// CLOSE (§3.10.4): "I have no more to send." A FIN follows any queued data;
    /// receiving continues (a half-close) until the peer's FIN.
    pub fn close(&mut self) {
        match self.state {
            State::Listen | State::SynSent => self.enter_closed(),
            State::SynReceived | State::Established => {
                self.fin.queued = true;
                self.state = State::FinWait1;
            }
            State::CloseWait => {
                self.fin.queued = true;
                self.state = State::LastAck;
            }
            // Already closing or closed: nothing more to do.
            _ => {}
        }
    }

    /// ABORT (§3.10.5): sends a RST in the synchronized states (and SYN-RECEIVED) and
    /// drops everything.
    pub fn abort(&mut self) {
        match self.state {
            State::SynReceived
            | State::Established
            | State::FinWait1
            | State::FinWait2
            | State::CloseWait => {
                // SND.MAX, not a rewound SND.NXT, so the peer finds the RST in its window.
                self.rare.set_rst(Some(PendingRst {
                    seq: self.tcb.snd_max,
                    ack: None,
                }));
            }
            _ => {}
        }
        if self.error.is_none() && self.state != State::Closed {
            self.error = Some(Error::Aborted);
        }
        self.enter_closed();
    }

    /// For a connection rebuilt from a SYN cookie: our SYN,ACK (ISS) already went out
    /// statelessly, so SND.NXT is ISS+1 without sending it again.
    pub(crate) fn mark_syn_ack_sent(&mut self) {
        if self.state == State::SynReceived && self.tcb.snd_nxt == self.tcb.iss {
            self.tcb.snd_nxt = self.tcb.iss + 1;
            self.tcb.snd_max = self.tcb.snd_nxt;
            self.tcb.last_ack_sent = self.tcb.rcv_nxt;
        }
    }

    // ---- timers ----

    /// Runs every timer due at `now`, and says what came of it (a connection that gave up,
    /// or whose TIME-WAIT ended).
    pub fn handle_timeout(&mut self, now: Instant) -> Outcome {
        let before = self.state;
        while let Some(kind) = self.timers.pop_expired(now) {
            match kind {
                TimerKind::Retransmit => self.on_retransmit_timeout(now),
                TimerKind::DelayedAck => self.ack.now = true,
                TimerKind::Persist => self.on_persist_timeout(now),
                TimerKind::TimeWait => {
                    if self.state == State::TimeWait {
                        self.enter_closed();
                    }
                }
                TimerKind::KeepAlive => self.on_keepalive_timeout(now),
                TimerKind::Rack => self.on_rack_timeout(now),
                TimerKind::Tlp => self.on_tlp_timeout(now),
                TimerKind::FinWait2 => {
                    if self.state == State::FinWait2 && self.orphaned {
                        self.enter_closed();
                    }
                }
                TimerKind::Reclaim => self.reclaim_idle_buffers(),
            }
        }
        self.rearm_timers(now);
        Outcome::of(before, self.state, self.error, 0)
    }

    fn on_retransmit_timeout(&mut self, now: Instant) {
        if self.tcb.snd_max == self.tcb.snd_una || self.state == State::Closed {
            return;
        }
        self.rexmit.retries = self.rexmit.retries.saturating_add(1);
        // While our SYN is unacknowledged (SYN-SENT, SYN-RECEIVED, or FIN-WAIT-1 after a CLOSE
        // there), the SYN retry limit applies.
        let limit = if self.tcb.snd_una == self.tcb.iss {
            self.cfg.syn_retries
        } else {
            self.cfg.max_retries
        };
        if self.rexmit.retries_exceed(limit) {
            self.fail(self.timeout_error());
            return;
        }
        self.stats.timeouts += 1;
        self.on_timeout_black_hole(now);
        // A SACK recovery in progress already reduced ssthresh for this loss.
        let first_timeout = self.rexmit.backoff == 0 && !self.loss.in_recovery();
        self.rexmit.backoff = self.rexmit.backoff.saturating_add(1);
        let flight = self.tcb.snd_max.since(self.tcb.snd_una);
        self.cc_on_rto(now, flight, first_timeout);
        // Go back N (RFC 5681 §3.1 / RFC 6298 §5.4): resend from the oldest unacknowledged byte.
        // With SACK, the transmission log marks everything unSACKed lost instead, and NextSeg
        // resends it, skipping what the peer holds.
        if !self.loss_on_rto() {
            self.tcb.snd_nxt = self.tcb.snd_una;
        }
        self.rexmit.set_rtt_probe(None);
        self.rexmit.head = false;
    }

    /// The persist timer: probe a zero window (§3.8.6.1), or send what a small window allows
    /// when silly window avoidance has held data back too long (§3.8.6.2.1).
    fn on_persist_timeout(&mut self, _now: Instant) {
        if self.tcb.snd_wnd == 0 {
            self.rexmit.retries = self.rexmit.retries.saturating_add(1);
            if self.rexmit.retries_exceed(self.cfg.max_retries) {
                self.fail(self.timeout_error());
                return;
            }
            self.rexmit.backoff = self.rexmit.backoff.saturating_add(1);
        }
        self.rexmit.probe_now = true;
    }

    fn on_keepalive_timeout(&mut self, now: Instant) {
        let (Some(ka), Some(track)) = (self.cfg.keepalive, self.keepalive.as_deref_mut()) else {
            return;
        };
        if track.sent >= ka.probes {
            self.fail(Error::TimedOut);
            return;
        }
        track.sent += 1;
        track.last_sent = now;
        track.now = true;
    }

    /// Turns Nagle's algorithm off (`true`) or back on for data sent from now on.
    /// The connection's settings become its own copy on the first change.
    pub fn set_nodelay(&mut self, nodelay: bool) {
        if self.cfg.nodelay != nodelay {
            Arc::make_mut(&mut self.cfg).nodelay = nodelay;
        }
    }

    /// Whether Nagle's algorithm is off.
    pub fn nodelay(&self) -> bool {
        self.cfg.nodelay
    }

    /// The peer's FIN has arrived (whether or not the data before it was read).
    pub fn is_peer_fin_received(&self) -> bool {
        self.fin.remote().is_some()
    }

    /// The user let go of the connection: what was received and not read is discarded, an
    /// orphan in FIN-WAIT-2 waits only
    /// [`Config::fin_wait_2_timeout`](super::Config::fin_wait_2_timeout) for the peer's FIN,
    /// and new data arriving at an orphan is answered with a RST, since nobody will read
    /// it (RFC 1122 §4.2.2.13, RFC 2525 §2.17). No byte becomes readable afterwards, so the
    /// receive window never stays closed for want of a reader.
    pub fn set_orphaned(&mut self) {
        self.orphaned = true;
        let mut sink = [0u8; 2048];
        while matches!(self.recv(&mut sink), Ok(n) if n > 0) {}
    }

    /// Bytes received in order and not yet read by the user.
    pub fn unread(&self) -> usize {
        self.rx.readable()
    }

    /// Ends a TIME-WAIT early (the stack's TIME-WAIT table is full).
    pub(crate) fn drop_time_wait(&mut self) {
        if self.state == State::TimeWait {
            self.enter_closed();
        }
    }

    /// Re-derives which timers should be armed from the connection's state.
    pub(super) fn rearm_timers(&mut self, now: Instant) {
        if self.state == State::Closed {
            self.timers.clear_all();
            return;
        }
        if self.state == State::TimeWait {
            self.timers.clear(TimerKind::Retransmit);
            self.timers.clear(TimerKind::Persist);
            self.timers.clear(TimerKind::DelayedAck);
            return;
        }
        let outstanding = self.tcb.snd_max != self.tcb.snd_una;
        if outstanding {
            // `set_if_idle`, without computing the RTO when the timer already runs.
            if self.timers.get(TimerKind::Retransmit).is_none() {
                let rto = self.rto();
                self.timers.set(TimerKind::Retransmit, now + rto);
            }
        } else {
            self.timers.clear(TimerKind::Retransmit);
            self.timers.clear(TimerKind::Tlp);
            self.timers.clear(TimerKind::Rack);
        }
        // Nothing in flight, yet data waits because the window is closed or too small to
        // send it all: without this timer nothing would ever send it if the peer's window
        // update were lost.
        let unsent = self.unsent();
        let window_blocked = self.state.is_synchronized()
            && !outstanding
            && unsent > 0
            && wide(self.tcb.snd_wnd).min(self.cc.cwnd()) < unsent.min(wide(self.tcb.send_mss));
        // Keep-alive: only an idle synchronized connection, nothing in flight or waiting.
        let idle = matches!(self.state, State::Established | State::CloseWait)
            && !outstanding
            && unsent == 0;
        let keepalive_at = match (idle, &self.cfg.keepalive, self.keepalive.as_deref()) {
            (true, Some(ka), Some(track)) => Some(if track.sent == 0 {
                track.last_rx + ka.idle
            } else {
                track.last_sent + ka.interval
            }),
            _ => None,
        };
        let fin_wait_2 = self.state == State::FinWait2 && self.orphaned;
        // Persist, KeepAlive and FinWait2 share one slot of the table, since at most one of
        // them applies (see `TimerTable`; TimeWait, the fourth, only in TIME-WAIT, handled
        // above): the slot is cleared unless the one that applies holds it, then armed.
        if window_blocked {
            self.timers.clear_shared_unless(TimerKind::Persist);
            if self.timers.get(TimerKind::Persist).is_none() {
                let rto = self.rto();
                self.timers.set(TimerKind::Persist, now + rto);
            }
        } else if let Some(at) = keepalive_at {
            self.timers.set(TimerKind::KeepAlive, at.max(now));
        } else if fin_wait_2 {
            self.timers.clear_shared_unless(TimerKind::FinWait2);
            self.timers
                .set_if_idle(TimerKind::FinWait2, now + self.cfg.fin_wait_2_timeout);
        } else {
            self.timers.clear_shared_unless(TimerKind::TimeWait);
        }
        // Storage that holds nothing is released once it has stayed empty for RECLAIM_IDLE.
        // Not at once: a bulk sender's buffer empties on every ACK that catches up with the
        // application, and freeing and regrowing it each time cost a 4 MiB sender four
        // fifths of its throughput.
        let reclaimable = (self.tx.is_empty() && self.tx.allocated_bytes() > 0)
            || (self.rx.is_empty() && self.rx.allocated_bytes() > 0);
        if reclaimable {
            self.timers
                .set_if_idle(TimerKind::Reclaim, now + RECLAIM_IDLE);
        } else {
            self.timers.clear(TimerKind::Reclaim);
        }
    }

    // ---- shared helpers ----

    /// The sequence number of the first byte in the send buffer.
    pub(super) fn tx_base(&self) -> SeqNum {
        if self.tcb.snd_una == self.tcb.iss {
            self.tcb.iss + 1
        } else {
            self.tcb.snd_una
        }
    }

    /// Bytes in the send buffer not yet sent (from SND.NXT on).
    pub(super) fn unsent(&self) -> usize {
        let sent = self.tcb.snd_nxt.since(self.tx_base());
        self.tx.len().saturating_sub(sent)
    }

    /// Our FIN has been acknowledged.
    pub(super) fn fin_acked(&self) -> bool {
        self.fin.seq().is_some_and(|f| self.tcb.snd_una.after(f))
    }

    pub(super) fn enter_closed(&mut self) {
        self.state = State::Closed;
        self.timers.clear_all();
        self.ack = AckState::default();
        self.rexmit.head = false;
        self.rexmit.probe_now = false;
        self.loss.clear();
    }

    pub(super) fn enter_time_wait(&mut self, now: Instant) {
        self.state = State::TimeWait;
        self.timers.clear_all();
        self.timers.set(TimerKind::TimeWait, now + self.cfg.msl * 2);
    }

    /// Ends the connection with an error reported to the user.
    pub(super) fn fail(&mut self, e: Error) {
        self.error = Some(e);
        self.enter_closed();
    }

    /// After the user read: send a window update if the window opened enough
    /// (RFC 9293 §3.8.6.2.2, receiver-side silly window avoidance).
    fn on_window_opened(&mut self) {
        if !self.state.may_receive() {
            return;
        }
        let potential = self.tcb.rcv_nxt + self.rcv_window();
        let threshold = self.window_update_threshold();
        if potential.after(self.tcb.rcv_adv) && potential.since(self.tcb.rcv_adv) >= threshold {
            self.ack.now = true;
        }
    }

    /// The receive window we may offer now: the room in the receive buffer, at most the
    /// autotuned limit beyond the application's read point (see [`super::autotune`]).
    pub(super) fn rcv_window(&self) -> usize {
        let room = self.tune.rcv_buf().saturating_sub(self.rx.readable());
        self.rx.window().min(room)
    }

    /// The least growth of the right edge worth announcing (receiver-side SWS avoidance,
    /// RFC 9293 §3.8.6.2.2: min(half the buffer, one MSS)).
    pub(super) fn window_update_threshold(&self) -> usize {
        (self.tune.rcv_buf() / 2)
            .min(wide(self.tcb.send_mss))
            .max(1)
    }

    /// The sequence number of the next byte the application will read.
    fn read_seq(&self) -> SeqNum {
        self.tcb.rcv_nxt - self.rx.readable()
    }

    /// Dynamic right-sizing before a window is advertised at `now` (see [`super::autotune`]).
    pub(super) fn autotune_receive(&mut self, now: Instant) {
        let rtt = self
            .tune
            .round(self.rtt.srtt().unwrap_or(self.cfg.initial_rto));
        let read_seq = self.read_seq();
        self.tune
            .on_advertise(now, read_seq, rtt, self.cfg.recv_buffer);
    }

    /// The send limit follows the congestion window (`tcp_sndbuf_expand`).
    pub(super) fn autotune_send(&mut self) {
        self.tune.on_cwnd(self.cc.cwnd(), self.cfg.send_buffer);
        self.tx.set_capacity(self.tune.snd_buf());
    }

    /// The `Reclaim` timer: a buffer that stayed empty for [`RECLAIM_IDLE`] gives back its
    /// storage, and its autotuned limit returns to the initial size.
    fn reclaim_idle_buffers(&mut self) {
        let mss = usize::from(self.our_mss());
        if self.tx.is_empty() {
            self.tx.shrink_if_empty();
            self.rare.release_scratch();
            self.tune.reset_send(mss, self.cfg.send_buffer);
            self.tx.set_capacity(self.tune.snd_buf());
        }
        if self.rx.is_empty() {
            self.rx.shrink_if_empty();
            self.tune.reset_receive(mss, self.cfg.recv_buffer);
            let read_seq = self.read_seq();
            self.tune.start_receive(read_seq);
        }
    }

    /// Takes the ring storage of `old`, a closed connection, for this new one's buffers
    /// where it fits (up to 16 KiB a ring, within this one's capacities; the old bytes are
    /// never read): the stack's connection pool, so a lifecycle in steady state allocates
    /// no rings.
    pub fn adopt_storage(&mut self, old: &mut Connection) {
        self.tx.adopt_storage(&mut old.tx);
        self.rx.adopt_storage(&mut old.rx);
    }

    /// Bytes of ring storage the send and receive buffers hold right now: what a
    /// stack-wide memory budget counts (`StackConfig::memory_pressure`).
    pub fn buffer_bytes(&self) -> usize {
        self.tx.allocated_bytes() + self.rx.allocated_bytes()
    }

    /// The stack is under memory pressure (`true`) or no longer (`false`): while it is,
    /// the autotuned limits are held at four segments and do not grow (buffer
    /// autotuning, `tcp/autotune.rs`). The stack says so on every
    /// event and frees what is empty with [`Connection::reclaim_empty_buffers`].
    pub fn set_memory_pressure(&mut self, on: bool) {
        if on {
            self.tune.set_pressure(true, usize::from(self.our_mss()));
            self.tx.set_capacity(self.tune.snd_buf());
        } else {
            self.tune.set_pressure(false, 0);
        }
    }

    /// Frees the storage of a buffer that holds nothing now, without waiting for
    /// [`RECLAIM_IDLE`] (memory pressure), its autotuned limit back at the initial size.
    pub fn reclaim_empty_buffers(&mut self) {
        let tx = self.tx.is_empty() && self.tx.allocated_bytes() > 0;
        let rx = self.rx.is_empty() && self.rx.allocated_bytes() > 0;
        if tx || rx {
            self.reclaim_idle_buffers();
            // Nothing is left empty and allocated: no idle reclaim to wait for.
            self.timers.clear(TimerKind::Reclaim);
        }
    }

    /// A challenge ACK (RFC 5961 §3.2, §4.2, §5.2), rate limited per connection and by what
    /// is `left` of the stack-wide budget (§7); one sent is taken from `left`.
    pub(super) fn challenge_ack(&mut self, now: Instant, left: &mut u32) {
        let (start, count) = self.rare.challenge_window();
        let now_ms = now.total_millis() as u32;
        let (start, count) = if now_ms.wrapping_sub(start) >= 1000 {
            (now_ms, 0)
        } else {
            (start, count)
        };
        if count < self.cfg.challenge_ack_limit && *left > 0 {
            self.ack.now = true;
            self.stats.challenge_acks += 1;
            *left -= 1;
            self.rare.set_challenge_window((start, count + 1));
        } else {
            self.rare.set_challenge_window((start, count));
        }
    }
}

/// The smallest window-scale shift that lets `buffer` bytes be advertised (RFC 7323 §2.3: at most 14).
pub(crate) fn window_shift_for(buffer: usize) -> u8 {
    let mut shift = 0u8;
    while shift < 14 && (buffer >> shift) > usize::from(u16::MAX) {
        shift += 1;
    }
    shift
}
