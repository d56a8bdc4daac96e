//! Inferring both endpoints' RFC 9293 states from the segments a capture saw.
//!
//! The capture is one vantage point, so the inference follows the ladder convention: after a
//! row, the sender has sent the segment and the receiver has received it. The exceptions are
//! where the capture proves otherwise: when the receiver's next segment does not acknowledge a
//! SYN or FIN it was sent (the two crossed, as in a simultaneous open or close), or the FIN sits
//! after sequence space the capture never saw, its arrival is shown later, at the receiver's
//! first segment that does acknowledge it. What the capture cannot show is not guessed: a
//! capture that starts mid-connection shows `ESTABLISHED?` (assumed), and `?` for a state with
//! no evidence at all.

use super::capture::Segment;
use super::conn::Connection;
use super::seen::Seen;
use crate::tcp::{SeqNum, State};
use crate::wire::TcpFlags;
use core::fmt;
use std::net::SocketAddr;

/// Direction of a segment.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Dir {
    /// From A (the client, when known) to B.
    AtoB,
    /// From B to A.
    BtoA,
}

impl Dir {
    fn sender(self) -> usize {
        match self {
            Dir::AtoB => 0,
            Dir::BtoA => 1,
        }
    }
    fn receiver(self) -> usize {
        1 - self.sender()
    }
}

/// A state as inferred: `None` when nothing shows it, `sure == false` when it rests on an
/// assumption (the capture started mid-connection). `Display` prints `ESTABLISHED?` or `?`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Inferred {
    /// The state, if any evidence shows it.
    pub state: Option<State>,
    /// False when the state rests on an assumption.
    pub sure: bool,
}

impl Inferred {
    /// A state known from the capture.
    pub const fn sure(state: State) -> Self {
        Inferred {
            state: Some(state),
            sure: true,
        }
    }
}

impl fmt::Display for Inferred {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match (self.state, self.sure) {
            (None, _) => "?".to_string(),
            (Some(s), true) => s.name().to_string(),
            (Some(s), false) => format!("{}?", s.name()),
        };
        f.pad(&s)
    }
}

/// Marks on a row.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Marks(u16);

impl Marks {
    /// Repeats sequence space already seen.
    pub const RETRANSMISSION: Marks = Marks(1);
    /// Fills a hole soon after later data (reordered on the way to the capture point).
    pub const OUT_OF_ORDER: Marks = Marks(1 << 1);
    /// Starts past sequence space the capture never saw.
    pub const PREVIOUS_NOT_CAPTURED: Marks = Marks(1 << 2);
    /// Acknowledges the same number with the same window while data is outstanding.
    pub const DUP_ACK: Marks = Marks(1 << 3);
    /// Advertises a zero window.
    pub const ZERO_WINDOW: Marks = Marks(1 << 4);
    /// Probes a zero window.
    pub const WINDOW_PROBE: Marks = Marks(1 << 5);
    /// A keep-alive (one byte or none, just below what was sent).
    pub const KEEP_ALIVE: Marks = Marks(1 << 6);
    /// Resets the connection.
    pub const RESET: Marks = Marks(1 << 7);
    /// A RST answering a SYN: connection refused.
    pub const REFUSED: Marks = Marks(1 << 8);
    /// Lost on the way. A capture cannot know this; `synack demo`'s simulator does.
    pub const LOST: Marks = Marks(1 << 9);
    /// Arrived damaged, and the receiver's checksum dropped it. Only a simulator knows.
    pub const CORRUPTED: Marks = Marks(1 << 10);

    /// True if every mark in `other` is set.
    pub const fn contains(self, other: Marks) -> bool {
        self.0 & other.0 == other.0
    }
    /// True when no mark is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// Sets every mark in `other`.
    pub fn insert(&mut self, other: Marks) {
        self.0 |= other.0;
    }
    /// Clears every mark in `other`.
    pub fn remove(&mut self, other: Marks) {
        self.0 &= !other.0;
    }
}

/// One row of an inferred ladder: a segment and both states after it.
#[derive(Clone, Debug)]
pub struct Row {
    /// Microseconds since the connection's first captured segment.
    pub time_us: u64,
    /// Direction.
    pub dir: Dir,
    /// Control bits.
    pub flags: TcpFlags,
    /// Absolute sequence number.
    pub seq: SeqNum,
    /// Absolute acknowledgment number.
    pub ack: SeqNum,
    /// Payload length.
    pub len: u32,
    /// Payload bytes no earlier row of this direction covered: what the row adds to
    /// [`Stats::bytes`] (less than `len` for a retransmission, even one cut differently).
    pub new_bytes: u32,
    /// Window in bytes (scaled when both SYNs negotiated window scaling, else the raw field).
    pub window: u32,
    /// Options on SYNs, e.g. `mss 1460, sack, ts, ws 7`.
    pub syn_options: Option<String>,
    /// Marks.
    pub marks: Marks,
    /// For duplicate ACKs, which one in the series (1, 2, 3…).
    pub dup_ack: u32,
    /// A's state after the row.
    pub a: Inferred,
    /// B's state after the row.
    pub b: Inferred,
}

/// How a connection ended, as far as the capture shows.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Ending {
    /// FINs both ways, both acknowledged; `first` closed first.
    Closed { first: Dir },
    /// Both sent their FIN before receiving the other's.
    SimultaneousClose,
    /// A RST answered the SYN.
    Refused,
    /// A RST from the side `from` ended it.
    Reset { from: Dir },
    /// The capture ends with the connection still open (or closing).
    Open,
}

/// The seed document's symbols for one connection (absolute values, with the index of the row
/// from which each applies; u, v and w read as x+k or y+k before that row).
#[derive(Clone, Copy, Debug, Default)]
pub struct Symbols {
    /// A's initial sequence number (or the first sequence number seen, if `primed`).
    pub x: Option<SeqNum>,
    /// B's initial sequence number (or the first seen).
    pub y: Option<SeqNum>,
    /// x and y are first-seen numbers, not ISNs: written x′ and y′.
    pub primed: bool,
    /// Who sent the first FIN.
    pub first_fin: Option<Dir>,
    /// Sequence number of the first FIN.
    pub u: Option<(SeqNum, usize)>,
    /// Sequence number of the other side's segment that acknowledges that FIN.
    pub v: Option<(SeqNum, usize)>,
    /// Sequence number of the second FIN (from the other side).
    pub w: Option<(SeqNum, usize)>,
}

/// Counters for the summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Payload bytes seen for the first time, [A→B, B→A]: the unique sequence space the
    /// capture covered (what arrived, not what was resent, however the resend was cut; SYN
    /// and FIN take sequence space but are not bytes; a RST's payload is not stream data).
    pub bytes: [u64; 2],
    /// Segments [A→B, B→A].
    pub segments: [u64; 2],
    /// Retransmitted segments [A→B, B→A].
    pub retransmissions: [u64; 2],
    /// Duplicate ACKs.
    pub dup_acks: u64,
    /// Zero-window advertisements.
    pub zero_windows: u64,
    /// Out-of-order segments.
    pub out_of_order: u64,
}

/// A connection with its inferred ladder.
#[derive(Clone, Debug)]
pub struct Ladder {
    /// 1-based connection number.
    pub number: usize,
    /// Endpoint A.
    pub a: SocketAddr,
    /// Endpoint B.
    pub b: SocketAddr,
    /// A opened the connection (its SYN was captured).
    pub a_is_client: bool,
    /// States before the first row.
    pub initial: (Inferred, Inferred),
    /// The rows.
    pub rows: Vec<Row>,
    /// Absolute time of the first segment, µs since the epoch.
    pub start_us: u64,
    /// Time of the last row.
    pub duration_us: u64,
    /// From the SYN to the ACK completing the handshake.
    pub handshake_rtt_us: Option<u64>,
    /// The symbols.
    pub symbols: Symbols,
    /// How it ended.
    pub ending: Ending,
    /// Counters.
    pub stats: Stats,
    /// The capture started after the handshake.
    pub starts_mid_connection: bool,
    /// Plain statements about what the capture does not show.
    pub notes: Vec<String>,
}

#[derive(Clone, Debug)]
struct Side {
    now: Inferred,
    passive: bool,
    isn: Option<SeqNum>,
    first_seq: Option<SeqNum>,
    fin: Option<SeqNum>,
    snd_max: Option<SeqNum>,
    /// When `snd_max` last advanced.
    advanced_at: u64,
    seen: Seen,
    ws: Option<u8>,
    window: Option<u32>,
    last_ack: Option<(SeqNum, u16)>,
    dup_acks: u32,
    /// The other side's SYN/FIN reached this side in the capture but is not yet shown as
    /// received (it crossed with this side's own segment).
    pending_syn: Option<SeqNum>,
    pending_fin: Option<SeqNum>,
}

impl Side {
    fn new(now: Inferred) -> Self {
        Side {
            now,
            passive: false,
            isn: None,
            first_seq: None,
            fin: None,
            snd_max: None,
            advanced_at: 0,
            seen: Seen::default(),
            ws: None,
            window: None,
            last_ack: None,
            dup_acks: 0,
            pending_syn: None,
            pending_fin: None,
        }
    }

    fn set(&mut self, state: State) {
        self.now.state = Some(state);
        if state == State::Closed {
            self.now.sure = true;
        }
    }

    fn is(&self, states: &[State]) -> bool {
        self.now.state.is_some_and(|s| states.contains(&s))
    }
}

fn syn_options(seg: &Segment) -> String {
    let mut o = Vec::new();
    if let Some(mss) = seg.mss {
        o.push(format!("mss {mss}"));
    }
    if seg.sack_permitted {
        o.push("sack".into());
    }
    if seg.timestamps {
        o.push("ts".into());
    }
    if let Some(ws) = seg.window_scale {
        o.push(format!("ws {ws}"));
    }
    o.join(", ")
}

/// Infers the ladder of one connection.
pub fn infer(conn: &Connection) -> Ladder {
    let segs = &conn.segments;
    let dir_of = |s: &Segment| {
        if s.src == conn.a {
            Dir::AtoB
        } else {
            Dir::BtoA
        }
    };
    // next_from[i] = index of the next segment after i in the opposite direction.
    let mut next_other: Vec<Option<usize>> = vec![None; segs.len()];
    let mut last_seen: [Option<usize>; 2] = [None, None];
    for (i, s) in segs.iter().enumerate().rev() {
        let d = dir_of(s);
        if let Some(slot) = next_other.get_mut(i) {
            *slot = last_seen.get(d.receiver()).copied().flatten();
        }
        if let Some(l) = last_seen.get_mut(d.sender()) {
            *l = Some(i);
        }
    }

    let first = segs.first();
    let a_is_client = first.is_some_and(|s| s.flags.syn() && !s.flags.ack() && s.src == conn.a);
    let syn_ack_first = first.is_some_and(|s| s.flags.syn() && s.flags.ack());
    let starts_mid = first.is_some_and(|s| !s.flags.syn() && !s.flags.rst());
    let b_first = segs.iter().find(|s| s.src == conn.b);
    let initial = if a_is_client {
        let b = match b_first {
            Some(s) if s.flags.rst() => Inferred::sure(State::Closed),
            Some(s) if s.flags.syn() && !s.flags.ack() => Inferred::sure(State::Closed),
            Some(_) => Inferred::sure(State::Listen),
            None => Inferred {
                state: Some(State::Listen),
                sure: false,
            },
        };
        (Inferred::sure(State::Closed), b)
    } else if syn_ack_first {
        let unknown = Inferred {
            state: None,
            sure: false,
        };
        (unknown, unknown)
    } else {
        let assumed = Inferred {
            state: Some(State::Established),
            sure: false,
        };
        (assumed, assumed)
    };
    let mut sides = [Side::new(initial.0), Side::new(initial.1)];
    sides[1].passive = initial.1.state == Some(State::Listen);
    let start_us = segs.iter().map(|s| s.time_us).min().unwrap_or(0);
    let mut rows = Vec::with_capacity(segs.len());
    let mut stats = Stats::default();
    let mut ending = Ending::Open;
    let mut syn_time = None;
    let mut handshake_rtt_us = None;
    let mut irtt_us: Option<u64> = None;
    let mut syn_ack_seen = false;

    for (i, seg) in segs.iter().enumerate() {
        let dir = dir_of(seg);
        let si = dir.sender();
        let t = seg.time_us.saturating_sub(start_us);
        let flags = seg.flags;
        let mut marks = Marks::default();
        let mut dup_ack = 0;
        let seg_len = seg.seg_len();
        let end = seg.seq + seg_len as usize;
        let [a_side, b_side] = &mut sides;
        let (s, r) = if si == 0 {
            (a_side, b_side)
        } else {
            (b_side, a_side)
        };

        // The sender acknowledging the other side's crossed SYN or FIN shows it arrived.
        if flags.ack() && !flags.rst() {
            if s.pending_syn.is_some_and(|p| seg.ack.after_eq(p + 1)) {
                s.pending_syn = None;
                receive_syn(s);
            }
            if s.pending_fin.is_some_and(|p| seg.ack.after_eq(p + 1)) {
                s.pending_fin = None;
                receive_fin(s);
            }
        }

        // Classify against what this direction has shown before.
        if s.first_seq.is_none() && !flags.rst() {
            s.first_seq = Some(seg.seq);
        }
        // Bytes this segment shows for the first time: its payload minus every part an earlier
        // segment already covered, however differently that one was cut.
        let mut new_bytes = 0;
        if seg_len > 0 && !flags.rst() {
            let peer_window_zero = r.window == Some(0);
            match s.snd_max {
                None => {}
                Some(max) => {
                    let small = seg.len <= 1 && !flags.intersects(TcpFlags::SYN | TcpFlags::FIN);
                    if peer_window_zero && small && seg.seq.after_eq(max - 1) {
                        marks.insert(Marks::WINDOW_PROBE);
                    } else if small && seg.seq + 1 == max && s.seen.covers(seg.seq, seg_len) {
                        marks.insert(Marks::KEEP_ALIVE);
                    } else if seg.seq.after(max) {
                        marks.insert(Marks::PREVIOUS_NOT_CAPTURED);
                    } else if seg.seq.before(max) {
                        if s.seen.overlaps(seg.seq, seg_len) {
                            // Any part shown before makes it a resend, even when the rest is
                            // new to the capture (a retransmission cut at other boundaries
                            // than the original, some of which was lost before the capture
                            // point): an original transmission never overlaps another.
                            marks.insert(Marks::RETRANSMISSION);
                        } else {
                            // Never seen: lost before the capture point and sent again, or
                            // reordered. The receiver asking for exactly this byte, or a long
                            // pause, says retransmission.
                            let asked = r.last_ack.is_some_and(|(a, _)| a == seg.seq);
                            let threshold = irtt_us.unwrap_or(3_000).min(3_000);
                            if !asked && t.saturating_sub(s.advanced_at) < threshold {
                                marks.insert(Marks::OUT_OF_ORDER);
                            } else {
                                marks.insert(Marks::RETRANSMISSION);
                            }
                        }
                    }
                }
            }
            // SYN and FIN take sequence space but are not bytes (RFC 9293 §3.4).
            let data = seg.seq + usize::from(flags.syn());
            if flags.syn() {
                s.seen.add(seg.seq, 1);
            }
            new_bytes = s.seen.add(data, seg.len);
            if flags.fin() {
                s.seen.add(data + seg.len as usize, 1);
            }
            if s.snd_max.is_none_or(|m| end.after(m)) {
                s.snd_max = Some(end);
                s.advanced_at = t;
            }
        } else if seg_len == 0 && !flags.rst() {
            match s.snd_max {
                None => {
                    s.snd_max = Some(seg.seq);
                    s.seen.anchor(seg.seq);
                }
                // One below SND.NXT with nothing in it: Linux's zero-window probe, or a
                // keep-alive when the window is open.
                Some(m) if seg.seq + 1 == m => {
                    if r.window == Some(0) {
                        marks.insert(Marks::WINDOW_PROBE);
                    } else {
                        marks.insert(Marks::KEEP_ALIVE);
                    }
                }
                Some(_) => {}
            }
        }

        // Duplicate ACKs: a bare ACK repeating the last one while the peer has data outstanding.
        let bare_ack = flags.ack() && seg_len == 0 && !flags.rst();
        let probe = Marks(Marks::WINDOW_PROBE.0 | Marks::KEEP_ALIVE.0);
        if bare_ack && (marks.0 & probe.0) == 0 {
            let outstanding = r.snd_max.is_some_and(|m| m.after(seg.ack));
            if s.last_ack == Some((seg.ack, seg.window)) && outstanding {
                s.dup_acks += 1;
                dup_ack = s.dup_acks;
                marks.insert(Marks::DUP_ACK);
            } else {
                s.dup_acks = 0;
            }
        } else if flags.ack() && s.last_ack.is_none_or(|(a, _)| seg.ack != a) {
            s.dup_acks = 0;
        }
        if flags.ack() && !flags.rst() {
            s.last_ack = Some((seg.ack, seg.window));
        }

        // Window: scaled only when both SYNs carried the option (RFC 7323 §2.2).
        if flags.syn() {
            s.ws = seg.window_scale;
        }
        let both_scale = s.ws.is_some() && r.ws.is_some();
        let window = if flags.syn() || !both_scale {
            u32::from(seg.window)
        } else {
            u32::from(seg.window)
                .checked_shl(u32::from(s.ws.unwrap_or(0).min(14)))
                .unwrap_or(u32::MAX)
        };
        if !flags.rst() {
            s.window = Some(window);
            if window == 0 {
                marks.insert(Marks::ZERO_WINDOW);
                stats.zero_windows += 1;
            }
        }

        // Sender's own transitions (RFC 9293 §3.10: OPEN, SEND SYN, CLOSE, ABORT).
        if flags.rst() {
            marks.insert(Marks::RESET);
            s.set(State::Closed);
        } else if flags.syn() {
            s.isn = Some(seg.seq);
            if flags.ack() {
                if !s.is(&[State::SynReceived]) {
                    s.passive = s.passive || !s.is(&[State::SynSent]);
                }
                s.set(State::SynReceived);
            } else if s.now.state.is_none() || s.is(&[State::Closed, State::SynSent]) {
                s.set(State::SynSent);
            }
        }
        if flags.fin() && !flags.rst() {
            s.fin = Some(seg.seq + seg.len as usize);
            match s.now.state {
                Some(State::CloseWait) => s.set(State::LastAck),
                None | Some(State::Established) | Some(State::SynReceived) => {
                    s.set(State::FinWait1)
                }
                _ => {}
            }
        }

        // Receiver's transitions (RFC 9293 §3.10.7, in its order: RST, SYN, ACK, FIN).
        let crossed = |pred: &dyn Fn(&Segment) -> bool| {
            next_other
                .get(i)
                .copied()
                .flatten()
                .and_then(|k| segs.get(k))
                .is_some_and(|n| !n.flags.rst() && pred(n))
        };
        if flags.rst() {
            let acceptable = if r.is(&[State::SynSent]) {
                flags.ack() && r.isn.is_some_and(|isn| seg.ack == isn + 1)
            } else {
                true
            };
            if acceptable {
                if r.is(&[State::SynSent]) {
                    marks.insert(Marks::REFUSED);
                    ending = Ending::Refused;
                } else {
                    ending = Ending::Reset { from: dir };
                }
                if r.passive && r.is(&[State::SynReceived]) {
                    r.set(State::Listen);
                } else {
                    r.set(State::Closed);
                }
            }
        } else {
            if flags.syn() && !flags.ack() {
                // Crossed SYNs: the receiver's next segment is its own SYN not acking ours.
                if crossed(&|n: &Segment| n.flags.syn() && !n.flags.ack()) {
                    r.pending_syn = Some(seg.seq);
                } else if r.is(&[State::Listen, State::SynSent]) || r.now.state.is_none() {
                    receive_syn(r);
                }
                if syn_time.is_none() {
                    syn_time = Some(t);
                }
            }
            if flags.ack() {
                let acks = |x: Option<SeqNum>| x.is_some_and(|v| seg.ack.after_eq(v + 1));
                if flags.syn() && r.is(&[State::SynSent]) && acks(r.isn) {
                    r.set(State::Established);
                    syn_ack_seen = true;
                    if let Some(st) = syn_time {
                        irtt_us = Some(t.saturating_sub(st));
                    }
                } else if r.is(&[State::SynReceived]) && acks(r.isn) {
                    r.set(State::Established);
                    if syn_ack_seen && handshake_rtt_us.is_none() {
                        handshake_rtt_us = syn_time.map(|st| t.saturating_sub(st));
                        if let Some(h) = handshake_rtt_us {
                            irtt_us = Some(h.max(1));
                        }
                    }
                }
                if acks(r.fin) {
                    match r.now.state {
                        Some(State::FinWait1) => r.set(State::FinWait2),
                        Some(State::Closing) => r.set(State::TimeWait),
                        Some(State::LastAck) => r.set(State::Closed),
                        _ => {}
                    }
                }
            }
            if flags.fin() {
                let fin_at = seg.seq + seg.len as usize;
                let in_order = s.seen.contig().is_some_and(|c| c.after(fin_at));
                let fin_crossed = crossed(&|n: &Segment| !n.flags.ack() || n.ack.before_eq(fin_at));
                if in_order && !fin_crossed {
                    if r.pending_fin.is_none() {
                        receive_fin(r);
                    }
                } else {
                    r.pending_fin = Some(fin_at);
                }
            }
        }

        let d = si;
        if let Some(n) = stats.segments.get_mut(d) {
            *n += 1;
        }
        if marks.contains(Marks::RETRANSMISSION)
            && let Some(n) = stats.retransmissions.get_mut(d)
        {
            *n += 1;
        }
        // Bytes the capture shows for the first time (a resend of data lost before the
        // capture point counts: its first copy never showed).
        if let Some(n) = stats.bytes.get_mut(d) {
            *n += new_bytes;
        }
        if marks.contains(Marks::DUP_ACK) {
            stats.dup_acks += 1;
        }
        if marks.contains(Marks::OUT_OF_ORDER) {
            stats.out_of_order += 1;
        }
        rows.push(Row {
            time_us: t,
            dir,
            flags,
            seq: seg.seq,
            ack: seg.ack,
            len: seg.len,
            new_bytes: u32::try_from(new_bytes).unwrap_or(seg.len),
            window,
            syn_options: flags.syn().then(|| syn_options(seg)),
            marks,
            dup_ack,
            a: sides[0].now,
            b: sides[1].now,
        });
    }

    let symbols = find_symbols(&rows, &sides, starts_mid || syn_ack_first);
    if ending == Ending::Open {
        let done = |x: &Side| x.is(&[State::TimeWait, State::Closed]);
        if done(&sides[0]) && done(&sides[1]) {
            // Either end passing CLOSING means it got the other's FIN before the ACK of its own.
            let closing = rows
                .iter()
                .any(|r| r.a.state == Some(State::Closing) || r.b.state == Some(State::Closing));
            ending = if closing {
                Ending::SimultaneousClose
            } else {
                Ending::Closed {
                    first: symbols.first_fin.unwrap_or(Dir::AtoB),
                }
            };
        }
    }
    let mut notes = Vec::new();
    if starts_mid {
        notes.push(
            "capture starts mid-connection: the handshake is not in it, so states are assumed ESTABLISHED? until a FIN or RST shows more, and x′/y′ are the first sequence numbers seen, not ISNs".into(),
        );
    } else if syn_ack_first {
        notes.push(
            "capture starts after the SYN: A's state before the SYN,ACK is unknown (?)".into(),
        );
    }
    if ending == Ending::Open {
        notes.push(format!(
            "capture ends mid-connection: last seen A {} and B {}",
            sides[0].now, sides[1].now
        ));
    }
    for (name, side) in [("A", &sides[0]), ("B", &sides[1])] {
        if side.is(&[State::TimeWait]) {
            notes.push(format!(
                "{name} stays in TIME-WAIT for 2×MSL after the last segment (not in the capture), then CLOSED"
            ));
        }
    }
    Ladder {
        number: conn.number,
        a: conn.a,
        b: conn.b,
        a_is_client,
        initial,
        duration_us: rows.last().map_or(0, |r| r.time_us),
        rows,
        start_us,
        handshake_rtt_us,
        symbols,
        ending,
        stats,
        starts_mid_connection: starts_mid,
        notes,
    }
}

fn receive_syn(r: &mut Side) {
    match r.now.state {
        Some(State::Listen) => {
            r.passive = true;
            r.set(State::SynReceived);
        }
        None | Some(State::SynSent) => r.set(State::SynReceived),
        _ => {}
    }
}

fn receive_fin(r: &mut Side) {
    match r.now.state {
        None | Some(State::Established) | Some(State::SynReceived) => r.set(State::CloseWait),
        Some(State::FinWait1) => r.set(State::Closing),
        Some(State::FinWait2) => r.set(State::TimeWait),
        _ => {}
    }
}

fn find_symbols(rows: &[Row], sides: &[Side; 2], primed: bool) -> Symbols {
    let side = |d: Dir| sides.get(d.sender());
    let base = |d: Dir| side(d).and_then(|s| s.isn.or(s.first_seq));
    let fin_row = |d: Dir| {
        rows.iter()
            .enumerate()
            .find(|(_, r)| r.dir == d && r.flags.fin() && !r.flags.rst())
            .map(|(i, r)| (r.seq + r.len as usize, i))
    };
    let fins = [fin_row(Dir::AtoB), fin_row(Dir::BtoA)];
    let first_fin = match fins {
        [Some((_, a)), Some((_, b))] => Some(if a <= b { Dir::AtoB } else { Dir::BtoA }),
        [Some(_), None] => Some(Dir::AtoB),
        [None, Some(_)] => Some(Dir::BtoA),
        [None, None] => None,
    };
    let (u, v, w) = match first_fin {
        None => (None, None, None),
        Some(d) => {
            let other = if d == Dir::AtoB { Dir::BtoA } else { Dir::AtoB };
            let u = fins.get(d.sender()).copied().flatten();
            let v = u.and_then(|(u, at)| {
                rows.iter()
                    .enumerate()
                    .skip(at)
                    .find(|(_, r)| {
                        r.dir == other && r.flags.ack() && !r.flags.rst() && r.ack == u + 1
                    })
                    .map(|(i, r)| (r.seq, i))
            });
            let w = fins.get(other.sender()).copied().flatten();
            (u, v, w)
        }
    };
    Symbols {
        x: base(Dir::AtoB),
        y: base(Dir::BtoA),
        primed,
        first_fin,
        u,
        v,
        w,
    }
}

impl Symbols {
    /// A number in the sequence space of the side that sends in direction `space`, as of
    /// row `row`: `x+1`, `u`, `v+33`, `w+1`…
    pub fn label(&self, space: Dir, n: SeqNum, row: usize) -> String {
        let from = |s: Option<(SeqNum, usize)>| s.filter(|&(_, at)| row >= at).map(|(v, _)| v);
        let closer = self.first_fin == Some(space);
        if closer {
            if let Some(u) = from(self.u) {
                if n == u {
                    return "u".into();
                }
                if n == u + 1 {
                    return "u+1".into();
                }
            }
        } else if self.first_fin.is_some() {
            if let Some(w) = from(self.w) {
                if n == w {
                    return "w".into();
                }
                if n == w + 1 {
                    return "w+1".into();
                }
            }
            if let Some(v) = from(self.v) {
                let k = n - v;
                if k == 0 {
                    return "v".into();
                }
                if k > 0 {
                    return format!("v+{k}");
                }
            }
        }
        let (name, base) = match space {
            Dir::AtoB => (if self.primed { "x′" } else { "x" }, self.x),
            Dir::BtoA => (if self.primed { "y′" } else { "y" }, self.y),
        };
        match base {
            Some(b) => match n - b {
                0 => name.to_string(),
                k if k > 0 => format!("{name}+{k}"),
                k => format!("{name}{k}"),
            },
            None => n.to_string(),
        }
    }
}
