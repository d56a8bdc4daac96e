//! Exact state-machine tests for [`Connection`], one file per RFC topic.
//!
//! The harness follows smoltcp's shape: segments are written as struct updates of a
//! template (`TcpRepr { seq: IRS + 1, ..peer() }`), fed with [`Peer::send`], and what the
//! connection transmits is drained into owned [`Seg`]s and compared field for field
//! (flags, seq, ack, window, options, payload) with [`Peer::expect`].
//!
//! "We" are the [`Connection`] under test at [`LOCAL`] with initial send sequence
//! number [`ISS`] (the RFC's `x`); the scripted peer is at [`REMOTE`] with [`IRS`] (`y`).
//! The `*_state()` builders reach each of the eleven states by driving real segments.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod autotune;
mod data;
mod handshake;
mod icmp;
mod liveness;
mod lossy;
mod recovery;
mod reset;
mod retransmit;
mod sack;
mod teardown;
mod timestamps;
mod tso;
mod window;

use super::config::Config;
use super::connection::Connection;
use super::seq::SeqNum;
use super::state::State;
use crate::tcp::RECLAIM_IDLE;
use crate::time::{Duration, Instant};
use crate::wire::tcp::{TcpFlags, TcpOptions, TcpRepr};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

/// Our address (TEST-NET-1, RFC 5737).
pub(super) const LOCAL: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 49152));
/// The peer's address.
pub(super) const REMOTE: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), 80));

/// Our initial send sequence number (the RFC's `x`).
pub(super) const ISS: SeqNum = SeqNum::new(1_000);
/// The peer's initial sequence number (the RFC's `y`).
pub(super) const IRS: SeqNum = SeqNum::new(7_000);

/// Our receive buffer, so our advertised window is exact (no window scaling).
pub(super) const RCV_BUF: usize = 4096;
/// Our window once the peer's FIN is in: the FIN took a sequence number but no buffer space,
/// and receiver-side SWS avoidance (§3.8.6.2.2) does not move the right edge by one byte.
pub(super) const WND_AFTER_FIN: u16 = RCV_BUF as u16 - 1;
/// The window the scripted peer advertises.
pub(super) const PEER_WND: u16 = 8192;
/// The MSS both sides use unless a test says otherwise.
pub(super) const MSS: u16 = 1460;
/// The round-trip time of the scripted handshake (SYN at 0, SYN,ACK at 100 ms).
pub(super) const HANDSHAKE_RTT: Duration = Duration::from_millis(100);

/// Segments the peer sends us: ports REMOTE → LOCAL, a bare ACK by default.
pub(super) fn peer() -> TcpRepr<'static> {
    TcpRepr {
        src_port: 80,
        dst_port: 49152,
        seq: SeqNum::new(0),
        ack: SeqNum::new(0),
        flags: TcpFlags::ACK,
        window: PEER_WND,
        urgent: 0,
        options: TcpOptions::default(),
        payload: &[],
    }
}

/// Segments we send: ports LOCAL → REMOTE, a bare ACK with our full window by default.
pub(super) fn ours() -> TcpRepr<'static> {
    TcpRepr {
        src_port: 49152,
        dst_port: 80,
        seq: SeqNum::new(0),
        ack: SeqNum::new(0),
        flags: TcpFlags::ACK,
        window: RCV_BUF as u16,
        urgent: 0,
        options: TcpOptions::default(),
        payload: &[],
    }
}

/// The options on a SYN or SYN,ACK: just the MSS (window scaling is off in [`cfg`]).
pub(super) fn syn_options() -> TcpOptions {
    TcpOptions {
        mss: Some(MSS),
        ..TcpOptions::default()
    }
}

/// The configuration of every test unless it says otherwise: exact windows (no scaling),
/// no timestamps or SACK, a 1 s MSL so TIME-WAIT is 2 s, a 4 KiB receive buffer, Linux's 40 ms delayed ACK.
pub(super) fn cfg() -> Config {
    Config {
        mss: MSS,
        recv_buffer: RCV_BUF,
        send_buffer: 16 * 1024,
        msl: Duration::from_secs(1),
        window_scaling: false,
        timestamps: false,
        sack: false,
        delayed_ack: Duration::from_millis(40),
        nodelay: false,
        ..Config::default()
    }
}

pub(super) fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub(super) fn at(n_ms: u64) -> Instant {
    Instant::from_millis(n_ms)
}

/// An owned copy of a segment, so output can be collected while the connection moves on.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(super) struct Seg {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: SeqNum,
    pub ack: SeqNum,
    pub flags: TcpFlags,
    pub window: u16,
    pub options: TcpOptions,
    pub payload: Vec<u8>,
}

impl From<&TcpRepr<'_>> for Seg {
    fn from(r: &TcpRepr<'_>) -> Self {
        Seg {
            src_port: r.src_port,
            dst_port: r.dst_port,
            seq: r.seq,
            ack: r.ack,
            flags: r.flags,
            window: r.window,
            options: r.options,
            payload: r.payload.to_vec(),
        }
    }
}

impl From<TcpRepr<'_>> for Seg {
    fn from(r: TcpRepr<'_>) -> Self {
        Seg::from(&r)
    }
}

impl Seg {
    /// Borrows this segment back as a [`TcpRepr`] (to feed it to another connection).
    pub fn repr(&self) -> TcpRepr<'_> {
        TcpRepr {
            src_port: self.src_port,
            dst_port: self.dst_port,
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            window: self.window,
            urgent: 0,
            options: self.options,
            payload: &self.payload,
        }
    }
}

/// Drains `poll_transmit` (bounded, so a connection that never stops talking fails the test).
pub(super) fn drain(c: &mut Connection, now: Instant) -> Vec<Seg> {
    let mut out = Vec::new();
    let (src, dst) = (c.local().ip(), c.remote().ip());
    let mut packet = vec![0u8; 70_000];
    while let Some(r) = c.poll_transmit(now) {
        // Every segment goes onto the wire and through an independent parser too.
        let ip = crate::wire::IpRepr::new(src, dst, 6, r.buffer_len(), 64).unwrap();
        let n = crate::wire::emit_ip_tcp(&ip, &r, &mut packet).unwrap();
        crate::wire::oracle::check_with_etherparse(&packet[..n]);
        out.push(Seg::from(&r));
        assert!(out.len() < 1000, "poll_transmit never returned None");
    }
    // Every exact test also checks the liveness invariant whenever the output is drained.
    if let Err(stall) = c.check_liveness() {
        panic!("liveness invariant broken at {now:?}: {stall}");
    }
    out
}

/// The connection under test plus the scripted peer's clock.
pub(super) struct Peer {
    pub c: Connection,
    pub now: Instant,
}

impl Peer {
    pub fn new(c: Connection) -> Self {
        Peer {
            c,
            now: Instant::ZERO,
        }
    }

    /// The peer sends `seg`; it arrives now.
    pub fn send(&mut self, seg: TcpRepr<'_>) {
        let _ = self.c.handle_segment(self.now, &seg, u32::MAX);
    }

    /// Everything the connection transmits now.
    pub fn out(&mut self) -> Vec<Seg> {
        drain(&mut self.c, self.now)
    }

    /// Asserts the connection transmits exactly `want`, in order, and nothing more.
    #[track_caller]
    pub fn expect(&mut self, want: &[TcpRepr<'_>]) {
        let want: Vec<Seg> = want.iter().map(Seg::from).collect();
        assert_eq!(self.out(), want, "at {:?} in {}", self.now, self.c.state());
    }

    /// Asserts the connection transmits nothing.
    #[track_caller]
    pub fn expect_nothing(&mut self) {
        self.expect(&[]);
    }

    /// Moves the clock to `t` and runs the timers due (without draining output).
    pub fn at(&mut self, t: Instant) {
        assert!(t >= self.now, "time goes forward");
        self.now = t;
        let _ = self.c.handle_timeout(t);
    }

    /// Moves the clock forward by `d` and runs the timers due.
    pub fn advance(&mut self, d: Duration) {
        let t = self.now + d;
        self.at(t);
    }

    #[track_caller]
    pub fn state(&self, want: State) {
        assert_eq!(self.c.state(), want, "state");
    }
}

// ---- the eleven states, reached by driving segments ----

/// CLOSED: an active open abandoned by CLOSE before anything arrived.
pub(super) fn closed_state() -> Peer {
    let mut p = syn_sent_state();
    p.c.close();
    p.state(State::Closed);
    p
}

/// LISTEN for [`REMOTE`].
pub(super) fn listen_state() -> Peer {
    listen_with(cfg())
}

pub(super) fn listen_with(cfg: Config) -> Peer {
    let p = Peer::new(Connection::listen(cfg, LOCAL, REMOTE, ISS));
    p.state(State::Listen);
    p
}

/// SYN-SENT with our SYN (seq=ISS) on the wire at t=0.
pub(super) fn syn_sent_state() -> Peer {
    syn_sent_with(cfg())
}

pub(super) fn syn_sent_with(cfg: Config) -> Peer {
    let mut p = Peer::new(Connection::connect(cfg, LOCAL, REMOTE, ISS));
    p.state(State::SynSent);
    let out = p.out();
    assert_eq!(out.len(), 1, "one SYN: {out:?}");
    assert_eq!(out[0].flags, TcpFlags::SYN);
    p
}

/// SYN-RECEIVED (passive): the peer's SYN arrived and our SYN,ACK is on the wire.
pub(super) fn syn_received_state() -> Peer {
    let mut p = listen_state();
    p.send(TcpRepr {
        seq: IRS,
        flags: TcpFlags::SYN,
        options: syn_options(),
        ..peer()
    });
    p.state(State::SynReceived);
    let out = p.out();
    assert_eq!(out.len(), 1, "one SYN,ACK: {out:?}");
    p
}

/// ESTABLISHED by an active open; SYN,ACK arrived after [`HANDSHAKE_RTT`].
/// SND.NXT = ISS+1, RCV.NXT = IRS+1, the peer's window is [`PEER_WND`].
pub(super) fn established_state() -> Peer {
    established_with(cfg())
}

pub(super) fn established_with(cfg: Config) -> Peer {
    established_with_mss(cfg, MSS)
}

pub(super) fn established_with_mss(cfg: Config, peer_mss: u16) -> Peer {
    let mut p = syn_sent_with(cfg);
    p.at(Instant::ZERO + HANDSHAKE_RTT);
    p.send(TcpRepr {
        seq: IRS,
        ack: ISS + 1,
        flags: TcpFlags::SYN | TcpFlags::ACK,
        options: TcpOptions {
            mss: Some(peer_mss),
            ..TcpOptions::default()
        },
        ..peer()
    });
    p.state(State::Established);
    let out = p.out();
    assert_eq!(out.len(), 1, "the handshake's ACK: {out:?}");
    p
}

/// FIN-WAIT-1: we closed an idle ESTABLISHED connection; our FIN (seq=ISS+1) is unacknowledged.
pub(super) fn fin_wait_1_state() -> Peer {
    let mut p = established_state();
    p.c.close();
    p.state(State::FinWait1);
    p.expect(&[TcpRepr {
        seq: ISS + 1,
        ack: IRS + 1,
        flags: TcpFlags::FIN | TcpFlags::ACK,
        ..ours()
    }]);
    p
}

/// FIN-WAIT-2: our FIN is acknowledged (SND.UNA = ISS+2).
pub(super) fn fin_wait_2_state() -> Peer {
    let mut p = fin_wait_1_state();
    p.send(TcpRepr {
        seq: IRS + 1,
        ack: ISS + 2,
        ..peer()
    });
    p.state(State::FinWait2);
    p.expect_nothing();
    p
}

/// CLOSE-WAIT: the peer's FIN (seq=IRS+1) arrived and was acknowledged (RCV.NXT = IRS+2).
pub(super) fn close_wait_state() -> Peer {
    let mut p = established_state();
    p.send(TcpRepr {
        seq: IRS + 1,
        ack: ISS + 1,
        flags: TcpFlags::FIN | TcpFlags::ACK,
        ..peer()
    });
    p.state(State::CloseWait);
    p.expect(&[TcpRepr {
        seq: ISS + 1,
        ack: IRS + 2,
        window: WND_AFTER_FIN,
        ..ours()
    }]);
    p
}

/// CLOSING: both FINs crossed; ours (seq=ISS+1) is not yet acknowledged.
pub(super) fn closing_state() -> Peer {
    let mut p = fin_wait_1_state();
    p.send(TcpRepr {
        seq: IRS + 1,
        ack: ISS + 1,
        flags: TcpFlags::FIN | TcpFlags::ACK,
        ..peer()
    });
    p.state(State::Closing);
    p.expect(&[TcpRepr {
        seq: ISS + 2,
        ack: IRS + 2,
        window: WND_AFTER_FIN,
        ..ours()
    }]);
    p
}

/// LAST-ACK: CLOSE in CLOSE-WAIT; our FIN (seq=ISS+1) is unacknowledged.
pub(super) fn last_ack_state() -> Peer {
    let mut p = close_wait_state();
    p.c.close();
    p.state(State::LastAck);
    p.expect(&[TcpRepr {
        seq: ISS + 1,
        ack: IRS + 2,
        flags: TcpFlags::FIN | TcpFlags::ACK,
        window: WND_AFTER_FIN,
        ..ours()
    }]);
    p
}

/// TIME-WAIT: reached from FIN-WAIT-2 by the peer's FIN at [`Peer::now`]; its ACK is sent.
pub(super) fn time_wait_state() -> Peer {
    let mut p = fin_wait_2_state();
    p.send(TcpRepr {
        seq: IRS + 1,
        ack: ISS + 2,
        flags: TcpFlags::FIN | TcpFlags::ACK,
        ..peer()
    });
    p.state(State::TimeWait);
    p.expect(&[TcpRepr {
        seq: ISS + 2,
        ack: IRS + 2,
        window: WND_AFTER_FIN,
        ..ours()
    }]);
    p
}

// ---- two real connections piped together ----

/// Two connections, `a` (active, [`LOCAL`], ISS `x`) and `b` (passive, [`REMOTE`], ISS `y`),
/// sharing one virtual clock.
pub(super) struct Pair {
    pub a: Connection,
    pub b: Connection,
    pub now: Instant,
}

impl Pair {
    pub fn new(cfg_a: Config, cfg_b: Config) -> Self {
        Pair {
            a: Connection::connect(cfg_a, LOCAL, REMOTE, ISS),
            b: Connection::listen(cfg_b, REMOTE, LOCAL, IRS),
            now: Instant::ZERO,
        }
    }

    pub fn a_out(&mut self) -> Vec<Seg> {
        drain(&mut self.a, self.now)
    }

    pub fn b_out(&mut self) -> Vec<Seg> {
        drain(&mut self.b, self.now)
    }

    pub fn deliver_a(&mut self, segs: &[Seg]) {
        for s in segs {
            let _ = self.a.handle_segment(self.now, &s.repr(), u32::MAX);
        }
    }

    pub fn deliver_b(&mut self, segs: &[Seg]) {
        for s in segs {
            let _ = self.b.handle_segment(self.now, &s.repr(), u32::MAX);
        }
    }

    /// Moves every segment across (lossless, in order) until both are quiet.
    pub fn exchange(&mut self) {
        for _ in 0..1000 {
            let from_a = self.a_out();
            self.deliver_b(&from_a);
            let from_b = self.b_out();
            self.deliver_a(&from_b);
            if from_a.is_empty() && from_b.is_empty() {
                return;
            }
        }
        panic!("the pair never went quiet");
    }

    /// Advances the clock to the earliest timer of either side and runs it; false if none.
    pub fn next_timer(&mut self) -> bool {
        let Some(t) = [self.a.poll_timeout(), self.b.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
        else {
            return false;
        };
        self.now = self.now.max(t);
        let _ = self.a.handle_timeout(self.now);
        let _ = self.b.handle_timeout(self.now);
        true
    }
}

/// A peer segment with an ACK: `seq`, `ack`, `payload`.
pub(super) fn peer_data(seq: SeqNum, ack: SeqNum, payload: &[u8]) -> TcpRepr<'_> {
    TcpRepr {
        seq,
        ack,
        payload,
        ..peer()
    }
}

/// `n` bytes of a recognisable pattern.
pub(super) fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// Reads everything readable.
pub(super) fn read_all(c: &mut Connection) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    while let Ok(n) = c.recv(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}
