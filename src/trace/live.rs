//! `synack trace -`: a pcap stream (`tcpdump -U -w - | synack trace -`) drawn as it
//! arrives, one ladder row per segment, each line flushed as soon as its record is complete.
//!
//! Records are read with blocking exact reads, so a pipe that delivers a record in pieces
//! only delays its row. Long data phases fold as they go: the first [`SHOWN_IN_RUN`] rows of
//! a run show, the rest become one `⋮` line when the run ends, or every [`FOLD_EVERY`] rows
//! while it lasts. Rows use relative sequence numbers (the symbols x, y, u… need the whole
//! connection), and states come from [`LiveInference`], which cannot look ahead. When the
//! stream ends each connection's summary follows, as in the batch ladder.
//!
//! A pcapng stream has no fixed record layout to read live: it is read to its end and drawn
//! as a whole, as `synack trace FILE` would.

use super::TraceError;
use super::capture::{self, Segment};
use super::conn::Grouper;
use super::diagram::{self, Diagram, Item};
use super::infer::{Dir, LiveInference, Row};
use super::ladder;
use super::tsg::Unwrap;
use crate::tcp::State;
use std::collections::{HashMap, VecDeque};
use std::io::{Read, Write};
use std::net::SocketAddr;

/// Plain rows of a run shown before the rest fold.
pub const SHOWN_IN_RUN: usize = 3;
/// While a run lasts, a fold line every this many folded rows.
pub const FOLD_EVERY: usize = 1000;
/// Largest record accepted (tcpdump's default snap length is 262144).
pub const MAX_RECORD: usize = 1 << 20;

/// Width of the arrow column of live rows.
const ARROW_WIDTH: usize = 62;

/// A classic pcap stream, one record at a time.
#[derive(Debug)]
pub struct PcapStream<R> {
    reader: R,
    big_endian: bool,
    nanos: bool,
    link: u32,
    packets: usize,
}

/// Reads until `buf` is full or the stream ends; returns how much was read.
fn fill<R: Read>(reader: &mut R, buf: &mut [u8]) -> Result<usize, TraceError> {
    let mut got = 0;
    while let Some(rest) = buf.get_mut(got..).filter(|r| !r.is_empty()) {
        match reader.read(rest) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(TraceError::Io(e.to_string())),
        }
    }
    Ok(got)
}

fn u32_at(b: &[u8], off: usize, big: bool) -> u32 {
    let mut w = [0u8; 4];
    if let Some(s) = b.get(off..off + 4) {
        w.copy_from_slice(s);
    }
    if big {
        u32::from_be_bytes(w)
    } else {
        u32::from_le_bytes(w)
    }
}

impl<R: Read> PcapStream<R> {
    /// Reads the 24-byte file header whose first 4 bytes, `magic`, were already read.
    pub fn new(mut reader: R, magic: [u8; 4]) -> Result<Self, TraceError> {
        let (big_endian, nanos) = match magic {
            [0xd4, 0xc3, 0xb2, 0xa1] => (false, false),
            [0xa1, 0xb2, 0xc3, 0xd4] => (true, false),
            [0x4d, 0x3c, 0xb2, 0xa1] => (false, true),
            [0xa1, 0xb2, 0x3c, 0x4d] => (true, true),
            _ => return Err(TraceError::NotACapture),
        };
        let mut rest = [0u8; 20];
        if fill(&mut reader, &mut rest)? < rest.len() {
            return Err(TraceError::Truncated { packets: 0 });
        }
        // Link type: the low 28 bits of the last field (the top bits carry FCS flags).
        let link = u32_at(&rest, 16, big_endian) & 0x0fff_ffff;
        Ok(PcapStream {
            reader,
            big_endian,
            nanos,
            link,
            packets: 0,
        })
    }

    /// The link type.
    pub fn link(&self) -> u32 {
        self.link
    }

    /// The next record into `buf`: its time in µs and original length, or `None` at a clean
    /// end of the stream.
    pub fn next_record(&mut self, buf: &mut Vec<u8>) -> Result<Option<(u64, u32)>, TraceError> {
        let mut head = [0u8; 16];
        match fill(&mut self.reader, &mut head)? {
            0 => return Ok(None),
            16 => {}
            _ => {
                return Err(TraceError::Truncated {
                    packets: self.packets,
                });
            }
        }
        let big = self.big_endian;
        let (sec, frac) = (u32_at(&head, 0, big), u32_at(&head, 4, big));
        let incl = usize::try_from(u32_at(&head, 8, big)).unwrap_or(usize::MAX);
        let orig = u32_at(&head, 12, big);
        if incl > MAX_RECORD {
            return Err(TraceError::RecordTooLarge {
                packet: self.packets + 1,
                len: incl,
                max: MAX_RECORD,
            });
        }
        buf.resize(incl, 0);
        if fill(&mut self.reader, buf)? < incl {
            return Err(TraceError::Truncated {
                packets: self.packets,
            });
        }
        self.packets += 1;
        let frac_us = if self.nanos { frac / 1000 } else { frac };
        let t = u64::from(sec)
            .saturating_mul(1_000_000)
            .saturating_add(u64::from(frac_us));
        Ok(Some((t, orig)))
    }
}

/// What `synack trace -` shows.
#[derive(Clone, Copy, Debug)]
pub struct LiveOptions {
    /// ANSI colours.
    pub color: bool,
    /// Fold long data phases.
    pub fold: bool,
    /// Only this connection (1-based).
    pub conn: Option<usize>,
}

/// What a live run saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveSummary {
    /// Packets read.
    pub packets: usize,
    /// TCP segments among them.
    pub segments: usize,
    /// Connections.
    pub connections: usize,
    /// Lines of rows and folds written.
    pub lines: usize,
    /// The stream ended in the middle of a record (a capture cut off); what came before
    /// was drawn.
    pub cut_short: bool,
}

/// One connection being drawn.
struct LiveConn {
    inf: LiveInference,
    /// Relative numbers of A's and B's sequence spaces, once each has shown one.
    spaces: [Option<Unwrap>; 2],
    /// Plain rows in the current run.
    run: usize,
    /// First row not yet shown nor folded.
    pending_from: Option<usize>,
    shown: bool,
    /// Its summary was given out when it ended ([`LiveLadder::retire_ended`]).
    summarized: bool,
    /// Its two ends, A and B.
    ends: (SocketAddr, SocketAddr),
}

struct Writer<'w, W: Write> {
    out: &'w mut W,
    closed: bool,
}

impl<W: Write> Writer<'_, W> {
    /// Writes `line` and a newline, and flushes; a reader that went away (EPIPE) ends the
    /// output quietly.
    fn put(&mut self, line: &str) -> Result<(), TraceError> {
        if self.closed {
            return Ok(());
        }
        match self
            .out
            .write_all(line.as_bytes())
            .and_then(|()| self.out.write_all(b"\n"))
            .and_then(|()| self.out.flush())
        {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            Err(e) => Err(TraceError::Io(e.to_string())),
        }
    }
}

fn rel(spaces: &mut [Option<Unwrap>; 2], side: usize, n: crate::tcp::SeqNum) -> String {
    match spaces.get_mut(side) {
        Some(Some(u)) => u.step(n).to_string(),
        Some(slot) => {
            let mut u = Unwrap::new(n);
            let v = u.step(n);
            *slot = Some(u);
            v.to_string()
        }
        None => n.to_string(),
    }
}

impl LiveConn {
    /// The row's line, with sequence numbers relative to each side's first.
    fn item(&mut self, seg: &Segment, row: &Row) -> Item {
        let (own, other) = match row.dir {
            Dir::AtoB => (0, 1),
            Dir::BtoA => (1, 0),
        };
        let seq = rel(&mut self.spaces, own, seg.seq);
        let ack = seg
            .flags
            .ack()
            .then(|| rel(&mut self.spaces, other, seg.ack));
        let mut absolute = format!("seq={}", seg.seq);
        if seg.flags.ack() {
            absolute.push_str(&format!(" ack={}", seg.ack));
        }
        Item::Segment {
            time_ms: row.time_us as f64 / 1e3,
            dir: row.dir,
            label: diagram::label(row.flags, &seq, ack.as_deref(), row.len, row.window),
            lost: false,
            marks: diagram::marks_of(row),
            absolute,
            a: row.a.to_string(),
            b: row.b.to_string(),
        }
    }

    /// The fold line for rows `from..to`, if any.
    fn fold(&mut self, to: usize) -> Option<Item> {
        let from = self.pending_from.take()?;
        let rows = self
            .inf
            .rows_from(from)
            .get(..to.saturating_sub(from))
            .filter(|r| !r.is_empty())?;
        let first = rows.first()?;
        Some(Item::Fold {
            text: diagram::fold_text(rows),
            a: first.a.to_string(),
            b: first.b.to_string(),
        })
    }
}

/// An item's line, without its newline.
fn line(number: usize, item: &Item, color: bool) -> String {
    let text = ladder::item_line(item, color, ladder::STATE_WIDTH, ARROW_WIDTH);
    format!("[{number}] {}", text.strip_suffix('\n').unwrap_or(&text))
}

/// Ended connections a [`LiveLadder`] that retires them still keeps, for the stray segments
/// that may follow (a FIN resent to a peer in TIME-WAIT); the oldest beyond are forgotten.
pub const KEPT_ENDED: usize = 256;

/// The live ladder itself: segments in, one at a time, and the lines `synack trace -` prints
/// for them out, without the capture around them. `synack trace -` feeds it a pcap stream;
/// [`LadderTap`](super::tap::LadderTap) the packets a driver sees.
///
/// Each line goes to a sink as it is made, without its newline: a connection's header when
/// its first row shows, then its rows (folding long data phases as
/// [`LiveOptions::fold`] asks), and its summary at [`LiveLadder::finish`], or as soon as it
/// ends with [`LiveLadder::retire_ended`]. A sink's error stops the ladder and is returned.
pub struct LiveLadder {
    opts: LiveOptions,
    grouper: Grouper,
    /// The connections being drawn, by index (0-based; the number is one more).
    conns: HashMap<usize, LiveConn>,
    connections: usize,
    segments: usize,
    lines: usize,
    /// Summarize and (past [`KEPT_ENDED`]) forget connections once they end.
    retire: bool,
    /// Ended connections still kept, oldest first.
    ended: VecDeque<usize>,
}

impl std::fmt::Debug for LiveLadder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveLadder")
            .field("opts", &self.opts)
            .field("connections", &self.connections)
            .field("drawn", &self.conns.len())
            .field("segments", &self.segments)
            .field("lines", &self.lines)
            .finish()
    }
}

impl LiveLadder {
    /// A ladder that has seen nothing yet.
    pub fn new(opts: LiveOptions) -> Self {
        LiveLadder {
            opts,
            grouper: Grouper::default(),
            conns: HashMap::new(),
            connections: 0,
            segments: 0,
            lines: 0,
            retire: false,
            ended: VecDeque::new(),
        }
    }

    /// Gives each connection's summary as soon as it ends (both ends CLOSED or in
    /// TIME-WAIT, or reset), and keeps only the last [`KEPT_ENDED`] ended ones: for a
    /// long-running server, whose connections come and go. Memory then grows with the open
    /// connections only.
    pub fn retire_ended(mut self) -> Self {
        self.retire = true;
        self
    }

    /// Connections seen so far.
    pub fn connections(&self) -> usize {
        self.connections
    }

    /// TCP segments pushed so far.
    pub fn segments(&self) -> usize {
        self.segments
    }

    /// Connections kept: those open, and the last [`KEPT_ENDED`] ended ones.
    pub fn kept(&self) -> usize {
        self.conns.len()
    }

    /// Rows and fold lines given out so far.
    pub fn lines(&self) -> usize {
        self.lines
    }

    /// The next segment, stamped with its capture time (`time_us`); its lines go to `out`.
    pub fn push<E>(
        &mut self,
        seg: &Segment,
        out: &mut dyn FnMut(&str) -> Result<(), E>,
    ) -> Result<(), E> {
        self.segments += 1;
        let at = self.grouper.assign(seg);
        if at.new {
            self.connections += 1;
            self.conns.insert(
                at.index,
                LiveConn {
                    inf: LiveInference::new(at.index + 1, at.a, at.b, seg),
                    spaces: [None, None],
                    run: 0,
                    pending_from: None,
                    shown: false,
                    summarized: false,
                    ends: (at.a, at.b),
                },
            );
        }
        let number = at.index + 1;
        let opts = self.opts;
        let Some(c) = self.conns.get_mut(&at.index) else {
            return Ok(());
        };
        let Some(row) = c.inf.push(seg).cloned() else {
            return Ok(());
        };
        if opts.conn.is_some_and(|n| n != number) {
            return Ok(());
        }
        if !c.shown {
            c.shown = true;
            let (a, b) = c.inf.initial();
            out(&format!("connection {number}: A {} ⇄ B {}", at.a, at.b))?;
            let head = ladder::header(opts.color, (&a.to_string(), &b.to_string()), ARROW_WIDTH);
            for l in head.lines() {
                out(&format!("[{number}] {l}"))?;
            }
        }
        let i = c.inf.pushed().saturating_sub(1);
        // Keep only the rows a fold line still needs, and the previous row.
        c.inf
            .forget_before(c.pending_from.unwrap_or(i).min(i.saturating_sub(1)));
        let prev = i.checked_sub(1).and_then(|p| c.inf.rows_from(p).first());
        let plain = opts.fold && diagram::plain(&row, prev);
        if plain {
            c.run += 1;
        } else {
            c.run = 0;
            if let Some(f) = c.fold(i) {
                self.lines += 1;
                out(&line(number, &f, opts.color))?;
            }
        }
        if c.run > SHOWN_IN_RUN {
            let from = *c.pending_from.get_or_insert(i);
            if i + 1 - from >= FOLD_EVERY
                && let Some(f) = c.fold(i + 1)
            {
                self.lines += 1;
                out(&line(number, &f, opts.color))?;
            }
        } else {
            let item = c.item(seg, &row);
            self.lines += 1;
            out(&line(number, &item, opts.color))?;
        }
        let done = |s: &super::Inferred| {
            s.state
                .is_some_and(|s| matches!(s, State::Closed | State::TimeWait))
        };
        if self.retire && !c.summarized && done(&row.a) && done(&row.b) {
            self.end(at.index, out)?;
        }
        Ok(())
    }

    /// Connection `index` ended: its last fold line and its summary; past [`KEPT_ENDED`]
    /// ended connections, the oldest is forgotten.
    fn end<E>(
        &mut self,
        index: usize,
        out: &mut dyn FnMut(&str) -> Result<(), E>,
    ) -> Result<(), E> {
        let Some(c) = self.conns.get_mut(&index) else {
            return Ok(());
        };
        c.summarized = true;
        summarize(index + 1, c, self.opts.color, &mut self.lines, out)?;
        self.ended.push_back(index);
        if self.ended.len() > KEPT_ENDED
            && let Some(old) = self.ended.pop_front()
            && let Some(gone) = self.conns.remove(&old)
        {
            self.grouper.forget(gone.ends.0, gone.ends.1, old);
        }
        Ok(())
    }

    /// The stream ended: every shown connection's last fold line and summary (those not
    /// given out already). The ladder is empty afterwards.
    pub fn finish<E>(&mut self, out: &mut dyn FnMut(&str) -> Result<(), E>) -> Result<(), E> {
        let mut indices: Vec<usize> = self.conns.keys().copied().collect();
        indices.sort_unstable();
        for index in indices {
            let Some(mut c) = self.conns.remove(&index) else {
                continue;
            };
            if !c.shown || c.summarized {
                continue;
            }
            summarize(index + 1, &mut c, self.opts.color, &mut self.lines, out)?;
        }
        self.ended.clear();
        Ok(())
    }
}

/// A connection's last fold line, then its summary.
fn summarize<E>(
    number: usize,
    c: &mut LiveConn,
    color: bool,
    lines: &mut usize,
    out: &mut dyn FnMut(&str) -> Result<(), E>,
) -> Result<(), E> {
    let end = c.inf.pushed();
    if let Some(f) = c.fold(end) {
        *lines += 1;
        out(&line(number, &f, color))?;
    }
    let l = c.inf.ladder();
    out(&format!("[{number}] end of connection {number}"))?;
    for s in super::diagram::summary_lines(&l) {
        out(&format!("[{number}] {s}"))?;
    }
    Ok(())
}

/// Reads a capture stream to its end, writing rows to `out` as segments arrive.
pub fn run<R: Read, W: Write>(
    mut reader: R,
    out: &mut W,
    opts: LiveOptions,
) -> Result<LiveSummary, TraceError> {
    let mut magic = [0u8; 4];
    match fill(&mut reader, &mut magic)? {
        0 => return Err(TraceError::Empty),
        4 => {}
        _ => return Err(TraceError::Truncated { packets: 0 }),
    }
    let mut w = Writer { out, closed: false };
    if magic == [0x0a, 0x0d, 0x0d, 0x0a] {
        return whole_pcapng(std::io::Cursor::new(magic).chain(reader), &mut w, opts);
    }
    let mut stream = PcapStream::new(reader, magic)?;
    let link = stream.link();
    let mut summary = LiveSummary::default();
    let mut ladder = LiveLadder::new(opts);
    let mut put = |l: &str| w.put(l);
    let mut buf = Vec::with_capacity(2048);
    loop {
        let (t, orig) = match stream.next_record(&mut buf) {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(TraceError::Truncated { .. }) if summary.packets > 0 => {
                summary.cut_short = true;
                break;
            }
            Err(e) => return Err(e),
        };
        summary.packets += 1;
        let Some(mut seg) = capture::decode(link, &buf, orig) else {
            continue;
        };
        seg.time_us = t;
        ladder.push(&seg, &mut put)?;
    }
    ladder.finish(&mut put)?;
    summary.segments = ladder.segments();
    summary.connections = ladder.connections();
    summary.lines = ladder.lines();
    if summary.cut_short {
        put("(the stream ended in the middle of a record; everything before it is shown)")?;
    }
    Ok(summary)
}

/// A pcapng stream: read whole, then drawn as `synack trace FILE` draws it.
fn whole_pcapng<R: Read, W: Write>(
    reader: R,
    w: &mut Writer<'_, W>,
    opts: LiveOptions,
) -> Result<LiveSummary, TraceError> {
    let t = super::trace_reader(reader)?;
    let mut summary = LiveSummary {
        packets: t.packets,
        connections: t.ladders.len(),
        ..LiveSummary::default()
    };
    for l in &t.ladders {
        summary.segments += l.rows.len();
        if opts.conn.is_some_and(|n| n != l.number) {
            continue;
        }
        let text = ladder::render(&Diagram::from_ladder(l, opts.fold), opts.color);
        summary.lines += text.lines().count();
        w.put(text.strip_suffix('\n').unwrap_or(&text))?;
    }
    Ok(summary)
}
