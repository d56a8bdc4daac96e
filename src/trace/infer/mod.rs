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
//!
//! [`infer`] takes each segment through named steps, one file each: the crossed SYN or FIN
//! it shows arrived and the sender's and receiver's transitions (`transitions.rs`), the marks
//! its sequence space, ACK and window earn (`classify.rs`), both endpoints' running state
//! (`side.rs`); then the symbols (`symbols.rs`) and the ladder (`model.rs`).

mod classify;
mod model;
mod side;
mod stream;
mod symbols;
mod transitions;

pub use model::{Dir, Ending, Inferred, Ladder, Marks, Row, Stats};
pub use stream::{MAX_PENDING, StreamInference};
pub use symbols::Symbols;

use super::capture::Segment;
use super::conn::Connection;
use crate::tcp::State;
use crate::wire::TcpFlags;
use side::Side;
use std::borrow::Cow;
use std::net::SocketAddr;
use symbols::find_symbols;
use transitions::{Arrival, Handshake};

/// Infers the ladder of one connection.
pub fn infer(conn: &Connection) -> Ladder {
    let next = next_replies(conn);
    let mut inference = Inference::new(conn);
    for (i, seg) in conn.segments.iter().enumerate() {
        let reply = next
            .get(i)
            .copied()
            .flatten()
            .and_then(|k| conn.segments.get(k));
        inference.step(seg, reply);
    }
    inference.finish()
}

/// How the capture begins, which decides both sides' states before the first row.
#[derive(Clone, Copy, Debug)]
struct Opening {
    /// A's SYN is the first segment.
    a_is_client: bool,
    /// The first segment is a SYN,ACK: the SYN was not captured.
    syn_ack_first: bool,
    /// The first segment is neither SYN nor RST: the handshake was not captured.
    starts_mid: bool,
    /// Both states before the first row.
    initial: (Inferred, Inferred),
}

impl Opening {
    fn of(conn: &Connection) -> Self {
        let first = conn.segments.first();
        let a_is_client = first.is_some_and(|s| s.flags.syn() && !s.flags.ack() && s.src == conn.a);
        let syn_ack_first = first.is_some_and(|s| s.flags.syn() && s.flags.ack());
        let starts_mid = first.is_some_and(|s| !s.flags.syn() && !s.flags.rst());
        let b_first = conn.segments.iter().find(|s| s.src == conn.b);
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
        Opening {
            a_is_client,
            syn_ack_first,
            starts_mid,
            initial,
        }
    }
}

/// For each segment, the index of the next segment in the opposite direction.
fn next_replies(conn: &Connection) -> Vec<Option<usize>> {
    let mut next_other: Vec<Option<usize>> = vec![None; conn.segments.len()];
    let mut last_seen: [Option<usize>; 2] = [None, None];
    for (i, s) in conn.segments.iter().enumerate().rev() {
        let d = dir_of(conn, s);
        if let Some(slot) = next_other.get_mut(i) {
            *slot = last_seen.get(d.receiver()).copied().flatten();
        }
        if let Some(l) = last_seen.get_mut(d.sender()) {
            *l = Some(i);
        }
    }
    next_other
}

fn dir_of(conn: &Connection, s: &Segment) -> Dir {
    if s.src == conn.a {
        Dir::AtoB
    } else {
        Dir::BtoA
    }
}

/// Inference one segment at a time, as a live capture delivers them.
///
/// The batch [`infer`] looks ahead in two places, and here nothing can: whether B's first
/// segment shows it was listening (so B starts as `LISTEN?`, assumed, until it answers), and
/// whether a SYN or FIN crossed with the receiver's next segment (so a simultaneous open or
/// close shows its arrival one row later than the batch ladder does).
#[derive(Clone, Debug)]
pub struct LiveInference {
    inner: Inference<'static>,
    /// Rows forgotten from the front ([`LiveInference::forget_before`]).
    dropped: usize,
    /// B has sent a segment.
    b_seen: bool,
    /// Forgotten rows the symbols need: SYNs, FINs, RSTs, and each first ACK of a FIN.
    kept: Vec<Row>,
}

impl LiveInference {
    /// Starts connection `number` between `a` and `b` at its `first` segment (not yet
    /// inferred: pass it to [`LiveInference::push`] too).
    pub fn new(number: usize, a: SocketAddr, b: SocketAddr, first: &Segment) -> Self {
        let opening = Opening::of(&Connection {
            number,
            a,
            b,
            segments: vec![first.clone()],
        });
        let head = Connection {
            number,
            a,
            b,
            segments: Vec::new(),
        };
        let mut inner = Inference::with_opening(Cow::Owned(head), opening);
        inner.start_us = first.time_us;
        LiveInference {
            inner,
            dropped: 0,
            b_seen: false,
            kept: Vec::new(),
        }
    }

    /// Infers the next segment and returns its row.
    pub fn push(&mut self, seg: &Segment) -> Option<&Row> {
        // B's first segment settles what the batch inference learns by looking ahead: a
        // RST or a SYN of its own means B was CLOSED, anything else that it was listening.
        let b_first = seg.src == self.inner.conn.b && !self.b_seen;
        self.b_seen |= b_first;
        if b_first && self.inner.opening.a_is_client {
            let b = &mut self.inner.sides[1];
            if seg.flags.rst() || (seg.flags.syn() && !seg.flags.ack()) {
                b.now = Inferred::sure(State::Closed);
                b.passive = false;
            } else {
                b.now.sure = true;
            }
        }
        self.inner.step(seg, None);
        self.inner.rows.last()
    }

    /// How many segments were pushed.
    pub fn pushed(&self) -> usize {
        self.dropped + self.inner.rows.len()
    }

    /// The rows kept, from row `from` (counting every row pushed) on.
    pub fn rows_from(&self, from: usize) -> &[Row] {
        self.inner
            .rows
            .get(from.saturating_sub(self.dropped)..)
            .unwrap_or(&[])
    }

    /// Forgets the rows before row `n` (counting every row pushed), to keep memory bounded
    /// on a long stream. The counters stay whole; only the symbols u, v and w, which
    /// [`LiveInference::finish`] finds among the rows kept, may go missing.
    pub fn forget_before(&mut self, n: usize) {
        let k = n.saturating_sub(self.dropped).min(self.inner.rows.len());
        for r in self.inner.rows.drain(..k) {
            let fin_end = |f: &Row| f.seq + f.len as usize + 1;
            let first_ack_of_fin = r.flags.ack()
                && self
                    .kept
                    .iter()
                    .any(|f| f.dir != r.dir && f.flags.fin() && r.ack == fin_end(f))
                && !self
                    .kept
                    .iter()
                    .any(|o| o.dir == r.dir && !o.flags.fin() && o.flags.ack() && o.ack == r.ack);
            let control = r
                .flags
                .intersects(TcpFlags::SYN | TcpFlags::FIN | TcpFlags::RST);
            if (control || first_ack_of_fin) && self.kept.len() < 64 {
                self.kept.push(r);
            }
        }
        self.dropped += k;
    }

    /// Both states before the first row.
    pub fn initial(&self) -> (Inferred, Inferred) {
        self.inner.opening.initial
    }

    /// The ladder so far, as [`LiveInference::finish`] would give it, while the inference
    /// goes on.
    pub fn ladder(&self) -> Ladder {
        self.clone().finish()
    }

    /// The ladder of everything pushed (of the rows forgotten, only those the symbols need).
    pub fn finish(mut self) -> Ladder {
        if !self.kept.is_empty() {
            let rest = std::mem::take(&mut self.inner.rows);
            self.inner.rows = self.kept;
            self.inner.rows.extend(rest);
        }
        self.inner.finish()
    }
}

/// The inference of one connection, one segment at a time.
#[derive(Clone, Debug)]
struct Inference<'a> {
    conn: Cow<'a, Connection>,
    opening: Opening,
    /// Time of the last row.
    last_us: u64,
    /// A, then B.
    sides: [Side; 2],
    start_us: u64,
    rows: Vec<Row>,
    stats: Stats,
    ending: Ending,
    handshake: Handshake,
    /// Either end passed CLOSING.
    closing_seen: bool,
}

impl<'a> Inference<'a> {
    fn new(conn: &'a Connection) -> Self {
        let mut i = Self::with_opening(Cow::Borrowed(conn), Opening::of(conn));
        i.start_us = conn.segments.iter().map(|s| s.time_us).min().unwrap_or(0);
        i.rows.reserve(conn.segments.len());
        i
    }

    fn with_opening(conn: Cow<'a, Connection>, opening: Opening) -> Self {
        let mut sides = [Side::new(opening.initial.0), Side::new(opening.initial.1)];
        sides[1].passive = opening.initial.1.state == Some(State::Listen);
        Inference {
            conn,
            opening,
            sides,
            last_us: 0,
            start_us: 0,
            rows: Vec::new(),
            stats: Stats::default(),
            ending: Ending::Open,
            handshake: Handshake::default(),
            closing_seen: false,
        }
    }

    /// A segment, and the next one its receiver sent (if any): its marks, both sides'
    /// transitions, the counters, and its row.
    fn step(&mut self, seg: &Segment, next_reply: Option<&Segment>) {
        let dir = dir_of(&self.conn, seg);
        let t = seg.time_us.saturating_sub(self.start_us);
        let mut marks = Marks::default();
        let [a_side, b_side] = &mut self.sides;
        let (s, r) = if dir.sender() == 0 {
            (a_side, b_side)
        } else {
            (b_side, a_side)
        };
        transitions::show_crossed_arrivals(s, seg);
        let new_bytes = classify::sequence(s, r, seg, t, self.handshake.irtt_us, &mut marks);
        let dup_ack = classify::dup_ack(s, r, seg, &mut marks);
        let window = classify::window(s, r, seg, &mut marks);
        transitions::send(s, seg, &mut marks);
        let arrival = Arrival {
            dir,
            t,
            next_reply: next_reply.filter(|n| !n.flags.rst()),
        };
        transitions::receive(
            r,
            s,
            seg,
            &arrival,
            &mut marks,
            &mut self.ending,
            &mut self.handshake,
        );
        self.count(dir, marks, new_bytes);
        self.last_us = t;
        self.closing_seen |= self
            .sides
            .iter()
            .any(|x| x.now.state == Some(State::Closing));
        self.rows.push(Row {
            time_us: t,
            dir,
            flags: seg.flags,
            seq: seg.seq,
            ack: seg.ack,
            len: seg.len,
            new_bytes: u32::try_from(new_bytes).unwrap_or(seg.len),
            window,
            syn_options: seg.flags.syn().then(|| syn_options(seg)),
            marks,
            dup_ack,
            a: self.sides[0].now,
            b: self.sides[1].now,
        });
    }

    /// Adds a row's segment, marks and new bytes to the counters.
    fn count(&mut self, dir: Dir, marks: Marks, new_bytes: u64) {
        let stats = &mut self.stats;
        let d = dir.sender();
        if let Some(n) = stats.segments.get_mut(d) {
            *n += 1;
        }
        if marks.contains(Marks::RETRANSMISSION)
            && let Some(n) = stats.retransmissions.get_mut(d)
        {
            *n += 1;
        }
        if marks.contains(Marks::SPURIOUS)
            && let Some(n) = stats.spurious.get_mut(d)
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
        if marks.contains(Marks::ZERO_WINDOW) {
            stats.zero_windows += 1;
        }
    }

    /// The ladder: symbols, how it ended, and notes on what the capture does not show.
    fn finish(self) -> Ladder {
        let symbols = self.symbols_of(self.rows.iter().enumerate());
        self.finish_with(symbols)
    }

    /// The symbols, found among `rows` (each with its index among all rows).
    fn symbols_of<'r>(&self, rows: impl Iterator<Item = (usize, &'r Row)> + Clone) -> Symbols {
        let o = self.opening;
        find_symbols(rows, &self.sides, o.starts_mid || o.syn_ack_first)
    }

    /// The ladder with these symbols.
    fn finish_with(self, symbols: Symbols) -> Ladder {
        let o = self.opening;
        let ending = self.ending_seen(&symbols);
        let notes = self.notes(ending);
        Ladder {
            number: self.conn.number,
            a: self.conn.a,
            b: self.conn.b,
            a_is_client: o.a_is_client,
            initial: o.initial,
            duration_us: self.last_us,
            rows: self.rows,
            start_us: self.start_us,
            handshake_rtt_us: self.handshake.rtt_us,
            symbols,
            ending,
            stats: self.stats,
            starts_mid_connection: o.starts_mid,
            notes,
        }
    }

    /// The ending a RST already decided, else a close when both sides are done.
    fn ending_seen(&self, symbols: &Symbols) -> Ending {
        if self.ending != Ending::Open {
            return self.ending;
        }
        let done = |x: &Side| x.is(&[State::TimeWait, State::Closed]);
        if !(done(&self.sides[0]) && done(&self.sides[1])) {
            return Ending::Open;
        }
        // Either end passing CLOSING means it got the other's FIN before the ACK of its own.
        if self.closing_seen {
            Ending::SimultaneousClose
        } else {
            Ending::Closed {
                first: symbols.first_fin.unwrap_or(Dir::AtoB),
            }
        }
    }

    /// Plain statements about what the capture does not show.
    fn notes(&self, ending: Ending) -> Vec<String> {
        let sides = &self.sides;
        let mut notes = Vec::new();
        if self.opening.starts_mid {
            notes.push(
                "capture starts mid-connection: the handshake is not in it, so states are assumed ESTABLISHED? until a FIN or RST shows more, and x′/y′ are the first sequence numbers seen, not ISNs".into(),
            );
        } else if self.opening.syn_ack_first {
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
        notes
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
    if seg.timestamps.is_some() {
        o.push("ts".into());
    }
    if let Some(ws) = seg.window_scale {
        o.push(format!("ws {ws}"));
    }
    o.join(", ")
}
