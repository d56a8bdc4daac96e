//! The time-sequence graph of one direction (Stevens, tcptrace): what the sender sent, as
//! bars at their sequence range against time, and what the receiver said back, as the ACK
//! line and the right edge of its window. Beneath it, the inferred states as bands, and
//! throughput and RTT over time.
//!
//! [`Tsg`] is the model: pure data, exact to the byte and microsecond, built from a
//! [`Connection`] and its inferred [`Ladder`] by [`build`]; [`svg::render`] draws it.
//!
//! Sequence numbers are relative to the sender's first number seen (its ISN when the SYN was
//! captured, so the first data byte is 1, as Wireshark shows it) and unwrapped to 64 bits
//! through [`SeqNum`]'s modulo-2^32 difference, one step at a time: a transfer of more than
//! 4 GiB keeps climbing instead of falling back to 0.

mod rtt;
pub mod svg;

pub use rtt::{RttSample, RttSource};

use super::capture::Segment;
use super::conn::Connection;
use super::infer::{Dir, Inferred, Ladder, Marks, Row};
use crate::tcp::SeqNum;
use std::net::SocketAddr;

/// How many buckets the throughput plot splits the connection's duration into.
pub const THROUGHPUT_BUCKETS: u64 = 100;

/// What a data bar shows.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum BarKind {
    /// Sequence space sent for the first time (in order).
    New,
    /// Sequence space sent again.
    Retransmission,
    /// Sequence space sent again although the receiver had acknowledged all of it.
    SpuriousRetransmission,
    /// A hole filled soon after later data: reordered on the way to the capture point.
    OutOfOrder,
    /// A zero-window probe.
    WindowProbe,
    /// A keep-alive.
    KeepAlive,
}

/// One segment of the graphed direction that takes sequence space, or a bare window probe
/// or keep-alive (then `start == end`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Bar {
    /// Index of the segment in the ladder's rows (and the connection's segments).
    pub row: usize,
    /// Microseconds since the connection's first segment.
    pub t_us: u64,
    /// Relative sequence number of the first octet (the SYN's own number for a SYN).
    pub start: i64,
    /// Relative sequence number just past the segment (SYN and FIN count one each).
    pub end: i64,
    /// What it is.
    pub kind: BarKind,
    /// Carries SYN.
    pub syn: bool,
    /// Carries FIN.
    pub fin: bool,
}

/// One acknowledgment from the receiver: a step of the ACK line and of the window line.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct AckPoint {
    /// Index of the segment in the ladder's rows.
    pub row: usize,
    /// Microseconds since the connection's first segment.
    pub t_us: u64,
    /// Relative acknowledgment number.
    pub ack: i64,
    /// Window in bytes, scaled as the SYNs negotiated (RFC 7323 §2.2).
    pub window: u32,
    /// `ack + window`: the right edge the sender may fill.
    pub window_edge: i64,
}

/// One SACK block the receiver reported (RFC 2018).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SackMark {
    /// Index of the segment in the ladder's rows.
    pub row: usize,
    /// Microseconds since the connection's first segment.
    pub t_us: u64,
    /// Relative left edge.
    pub start: i64,
    /// Relative right edge (exclusive).
    pub end: i64,
}

/// Events drawn as points.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum EventKind {
    /// The receiver advertised a zero window.
    ZeroWindow,
    /// The receiver repeated its ACK while data was outstanding.
    DupAck,
    /// The sender reset the connection.
    SenderReset,
    /// The receiver reset the connection.
    ReceiverReset,
}

/// An event at a point of the graph.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Event {
    /// Index of the segment in the ladder's rows.
    pub row: usize,
    /// Microseconds since the connection's first segment.
    pub t_us: u64,
    /// Relative sequence number it sits at.
    pub seq: i64,
    /// What happened.
    pub kind: EventKind,
}

/// A span of time one end spent in one inferred state.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Band {
    /// Start, microseconds since the connection's first segment.
    pub start_us: u64,
    /// End (exclusive; the last band ends at the last segment).
    pub end_us: u64,
    /// The state.
    pub state: Inferred,
}

/// The time-sequence graph of one direction of one connection.
#[derive(Clone, Debug, PartialEq)]
pub struct Tsg {
    /// Connection number.
    pub number: usize,
    /// The direction graphed.
    pub dir: Dir,
    /// Sends the data graphed.
    pub sender: SocketAddr,
    /// Receives it and acknowledges.
    pub receiver: SocketAddr,
    /// Relative sequence number 0.
    pub base: SeqNum,
    /// From the first to the last segment.
    pub duration_us: u64,
    /// The sender's segments that take sequence space.
    pub bars: Vec<Bar>,
    /// The receiver's acknowledgments.
    pub acks: Vec<AckPoint>,
    /// The receiver's SACK blocks.
    pub sacks: Vec<SackMark>,
    /// Zero windows, duplicate ACKs and resets.
    pub events: Vec<Event>,
    /// The sender's inferred states over time.
    pub sender_bands: Vec<Band>,
    /// The receiver's inferred states over time.
    pub receiver_bands: Vec<Band>,
    /// Width of a throughput bucket in microseconds.
    pub bucket_us: u64,
    /// Payload bytes the sender showed for the first time, per bucket.
    pub throughput: Vec<u64>,
    /// Round-trip samples.
    pub rtt: Vec<RttSample>,
    /// Unix time of the first segment (time 0 of the graph), microseconds.
    pub start_unix_us: u64,
    /// The sender's own record of its window, when one was given
    /// ([`attach_sender_view`](Tsg::attach_sender_view)).
    pub sender_view: Option<SenderView>,
}

/// The sender's inside view over the graph's time, from its qlog
/// ([`crate::qlog`]): what the capture cannot show.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SenderView {
    /// The samples within the graph's time, in order.
    pub points: Vec<ViewPoint>,
}

/// One sample of a [`SenderView`].
#[derive(Clone, Debug, PartialEq)]
pub struct ViewPoint {
    /// Microseconds since the graph's first segment.
    pub t_us: u64,
    /// Congestion window, bytes.
    pub cwnd: u64,
    /// Bytes in flight.
    pub in_flight: u64,
    /// Slow-start threshold, once set.
    pub ssthresh: Option<u64>,
    /// The congestion phase then (qlog's name: `slow_start`, `congestion_avoidance`,
    /// `recovery`).
    pub phase: String,
}

impl Tsg {
    /// Attaches the sender's series from a qlog file (`synack::qlog::read_series`): the one
    /// recorded by this graph's sender for this connection, placed on the graph's clock.
    /// Returns whether one matched. Samples outside the graph's time are left out.
    pub fn attach_sender_view(&mut self, series: &[crate::qlog::SenderSeries]) -> bool {
        let name = format!("{}-{}", self.sender, self.receiver);
        let Some(s) = series.iter().find(|s| s.conn == name) else {
            return false;
        };
        let start = self.start_unix_us as f64;
        let end = self.duration_us as f64;
        let points = s
            .points
            .iter()
            .filter_map(|p| {
                let t = (s.reference_time_ms + p.time_ms) * 1000.0 - start;
                (t.is_finite() && (0.0..=end).contains(&t)).then(|| ViewPoint {
                    t_us: t.round() as u64,
                    cwnd: p.cwnd,
                    in_flight: p.in_flight,
                    ssthresh: p.ssthresh,
                    phase: p.phase.clone(),
                })
            })
            .collect();
        self.sender_view = Some(SenderView { points });
        true
    }
}

/// The direction that carried more payload (A→B on a tie).
pub fn busiest(ladder: &Ladder) -> Dir {
    if ladder.stats.bytes[1] > ladder.stats.bytes[0] {
        Dir::BtoA
    } else {
        Dir::AtoB
    }
}

/// Unwraps 32-bit sequence numbers to 64-bit offsets from a base, one step at a time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Unwrap {
    last_raw: SeqNum,
    last: i64,
}

impl Unwrap {
    /// Offset 0 is `base`.
    pub(crate) fn new(base: SeqNum) -> Self {
        Unwrap {
            last_raw: base,
            last: 0,
        }
    }
    /// The offset of `n`, nearest the last number seen, which it then becomes.
    pub(crate) fn step(&mut self, n: SeqNum) -> i64 {
        let v = self.peek(n);
        self.last_raw = n;
        self.last = v;
        v
    }
    /// The offset of `n` nearest the last number seen, without moving.
    pub(crate) fn peek(&self, n: SeqNum) -> i64 {
        self.last.saturating_add(i64::from(n - self.last_raw))
    }
}

/// Builds the graph of direction `dir` of `conn`, whose ladder `ladder` is (`infer(conn)`).
pub fn build(conn: &Connection, ladder: &Ladder, dir: Dir) -> Tsg {
    let mut b = TsgBuilder::new(ladder.number, conn.a, conn.b, dir);
    let (sender, receiver) = (b.g.sender, b.g.receiver);
    b.base = conn
        .segments
        .iter()
        .find(|s| s.src == sender && !s.flags.rst())
        .map(|s| s.seq)
        .or_else(|| {
            conn.segments
                .iter()
                .find(|s| s.src == receiver && s.flags.ack())
                .map(|s| s.ack)
        });
    for (i, (seg, row)) in conn.segments.iter().zip(&ladder.rows).enumerate() {
        b.push(i, seg, row);
    }
    b.finish(ladder.duration_us)
}

/// The graph of one direction built one segment (and its inferred row) at a time, as a
/// capture is read: what [`build`] does with the whole connection. Without the whole
/// connection, sequence number 0 is the first the sender shows, or the first the receiver
/// acknowledges if that comes first.
#[derive(Clone, Debug)]
pub struct TsgBuilder {
    g: Tsg,
    base: Option<SeqNum>,
    unwrap: Option<Unwrap>,
    rtt: rtt::Rtt,
    last_ack: Option<i64>,
    /// (time, new payload bytes) of each data segment, bucketed once the duration is known.
    sent_bytes: Vec<(u64, u32)>,
}

impl TsgBuilder {
    /// The graph of direction `dir` of connection `number` between `a` and `b`.
    pub fn new(number: usize, a: SocketAddr, b: SocketAddr, dir: Dir) -> Self {
        let (sender, receiver) = match dir {
            Dir::AtoB => (a, b),
            Dir::BtoA => (b, a),
        };
        TsgBuilder {
            g: Tsg {
                number,
                dir,
                sender,
                receiver,
                base: SeqNum::default(),
                duration_us: 0,
                bars: Vec::new(),
                acks: Vec::new(),
                sacks: Vec::new(),
                events: Vec::new(),
                sender_bands: Vec::new(),
                receiver_bands: Vec::new(),
                bucket_us: 1,
                throughput: Vec::new(),
                rtt: Vec::new(),
                start_unix_us: 0,
                sender_view: None,
            },
            base: None,
            unwrap: None,
            rtt: rtt::Rtt::default(),
            last_ack: None,
            sent_bytes: Vec::new(),
        }
    }

    /// Segment `i` of the connection, with its row.
    pub fn push(&mut self, i: usize, seg: &Segment, row: &Row) {
        let dir = self.g.dir;
        if i == 0 {
            self.g.start_unix_us = seg.time_us.saturating_sub(row.time_us);
        }
        if self.unwrap.is_none() {
            let first = if row.dir == dir {
                (!seg.flags.rst()).then_some(seg.seq)
            } else {
                seg.flags.ack().then_some(seg.ack)
            };
            if let Some(base) = self.base.or(first) {
                self.g.base = base;
                self.unwrap = Some(Unwrap::new(base));
            }
        }
        // Until a base is known, numbers are drawn as they are.
        let mut unwrap = self.unwrap.unwrap_or(Unwrap::new(SeqNum::default()));
        if row.dir == dir {
            if let Some(n) = self
                .g
                .sent(i, seg, row, &mut unwrap, &mut self.rtt, self.last_ack)
            {
                self.sent_bytes.push((row.time_us, n));
            }
        } else {
            self.g
                .received(i, seg, row, &mut unwrap, &mut self.rtt, &mut self.last_ack);
        }
        if self.unwrap.is_some() {
            self.unwrap = Some(unwrap);
        }
        let (s, r) = match dir {
            Dir::AtoB => (row.a, row.b),
            Dir::BtoA => (row.b, row.a),
        };
        extend_band(&mut self.g.sender_bands, row.time_us, s);
        extend_band(&mut self.g.receiver_bands, row.time_us, r);
    }

    /// The graph of a connection that lasted `duration_us`.
    pub fn finish(mut self, duration_us: u64) -> Tsg {
        let g = &mut self.g;
        g.duration_us = duration_us;
        g.bucket_us = duration_us
            .saturating_add(1)
            .div_ceil(THROUGHPUT_BUCKETS)
            .max(1);
        g.throughput = vec![0; usize::try_from(THROUGHPUT_BUCKETS).unwrap_or(100)];
        for &(t, n) in &self.sent_bytes {
            if let Some(b) = usize::try_from(t / g.bucket_us)
                .ok()
                .and_then(|k| g.throughput.get_mut(k))
            {
                *b += u64::from(n);
            }
        }
        close_bands(&mut g.sender_bands, duration_us);
        close_bands(&mut g.receiver_bands, duration_us);
        self.g
    }
}

/// The state after a row holds from the row's time: start a band when it changes.
fn extend_band(bands: &mut Vec<Band>, t: u64, state: Inferred) {
    if let Some(last) = bands.last_mut() {
        if last.state == state {
            return;
        }
        last.end_us = t;
    }
    bands.push(Band {
        start_us: t,
        end_us: t,
        state,
    });
}

/// Each band ends where the next starts; the last at the end of the connection.
fn close_bands(bands: &mut [Band], duration_us: u64) {
    let starts: Vec<u64> = bands.iter().skip(1).map(|b| b.start_us).collect();
    for (b, next) in bands.iter_mut().zip(starts.iter().map(Some).chain([None])) {
        b.end_us = next.copied().unwrap_or(duration_us);
    }
}

impl Tsg {
    /// A segment of the graphed direction: a bar if it takes sequence space (returning its
    /// new payload bytes) or probes, a reset event.
    fn sent(
        &mut self,
        i: usize,
        seg: &Segment,
        row: &Row,
        unwrap: &mut Unwrap,
        rtt: &mut rtt::Rtt,
        last_ack: Option<i64>,
    ) -> Option<u32> {
        let start = unwrap.step(seg.seq);
        if seg.flags.rst() {
            self.events.push(Event {
                row: i,
                t_us: row.time_us,
                seq: start,
                kind: EventKind::SenderReset,
            });
            return None;
        }
        let end = start.saturating_add(i64::from(seg.seg_len()));
        let m = row.marks;
        // A bare probe or keep-alive (Linux sends no byte) takes no sequence space, but is
        // drawn at its number all the same.
        let probe = m.contains(Marks::WINDOW_PROBE) || m.contains(Marks::KEEP_ALIVE);
        if end == start && !probe {
            return None;
        }
        let kind = if m.contains(Marks::WINDOW_PROBE) {
            BarKind::WindowProbe
        } else if m.contains(Marks::KEEP_ALIVE) {
            BarKind::KeepAlive
        } else if m.contains(Marks::SPURIOUS) {
            BarKind::SpuriousRetransmission
        } else if m.contains(Marks::RETRANSMISSION) {
            BarKind::Retransmission
        } else if m.contains(Marks::OUT_OF_ORDER) {
            BarKind::OutOfOrder
        } else {
            BarKind::New
        };
        self.bars.push(Bar {
            row: i,
            t_us: row.time_us,
            start,
            end,
            kind,
            syn: seg.flags.syn(),
            fin: seg.flags.fin(),
        });
        if end == start {
            return None;
        }
        let resent = kind != BarKind::New || last_ack.is_some_and(|a| start < a);
        rtt.sent(
            start,
            end,
            row.time_us,
            resent,
            seg.timestamps.map(|t| t.tsval),
        );
        Some(row.new_bytes)
    }

    /// A segment of the other direction: its ACK, window, SACK blocks and events.
    fn received(
        &mut self,
        i: usize,
        seg: &Segment,
        row: &Row,
        unwrap: &mut Unwrap,
        rtt: &mut rtt::Rtt,
        last_ack: &mut Option<i64>,
    ) {
        let t = row.time_us;
        if seg.flags.rst() {
            let seq = if seg.flags.ack() {
                unwrap.peek(seg.ack)
            } else {
                last_ack.unwrap_or(0)
            };
            self.events.push(Event {
                row: i,
                t_us: t,
                seq,
                kind: EventKind::ReceiverReset,
            });
            return;
        }
        if !seg.flags.ack() {
            return;
        }
        let ack = unwrap.step(seg.ack);
        self.acks.push(AckPoint {
            row: i,
            t_us: t,
            ack,
            window: row.window,
            window_edge: ack.saturating_add(i64::from(row.window)),
        });
        for &(l, r) in seg.sack_blocks.as_slice() {
            let start = unwrap.peek(l);
            self.sacks.push(SackMark {
                row: i,
                t_us: t,
                start,
                end: start.saturating_add(i64::from(r - l).max(0)),
            });
        }
        for (mark, kind) in [
            (Marks::ZERO_WINDOW, EventKind::ZeroWindow),
            (Marks::DUP_ACK, EventKind::DupAck),
        ] {
            if row.marks.contains(mark) {
                self.events.push(Event {
                    row: i,
                    t_us: t,
                    seq: ack,
                    kind,
                });
            }
        }
        let advanced = last_ack.is_none_or(|a| ack > a);
        if advanced {
            *last_ack = Some(ack);
        }
        self.rtt
            .extend(rtt.acked(i, ack, t, advanced, seg.timestamps.map(|ts| ts.tsecr)));
    }

    /// Throughput of bucket `k` in bytes per second.
    pub fn rate(&self, k: usize) -> f64 {
        let bytes = self.throughput.get(k).copied().unwrap_or(0);
        bytes as f64 * 1e6 / self.bucket_us.max(1) as f64
    }
}
