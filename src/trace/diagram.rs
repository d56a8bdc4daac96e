//! The drawing model shared by the terminal ladder, the SVG picture and `synack demo`:
//! two endpoints, rows of labelled arrows, both states after each row, folds and notes.

use super::infer::{Dir, Ladder, Marks, Row, Symbols};
use crate::tcp::SeqNum;
use crate::wire::TcpFlags;

/// How loud a mark is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Tone {
    /// Information (options on SYNs).
    Info,
    /// Worth a look (duplicate ACK, zero window, out of order, probe).
    Warn,
    /// Something went wrong (retransmission, loss, reset).
    Bad,
}

/// A mark beside an arrow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mark {
    /// Text, e.g. `retransmission`.
    pub text: String,
    /// Tone.
    pub tone: Tone,
}

/// One row of a diagram.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// A segment.
    Segment {
        /// Time in milliseconds since the start.
        time_ms: f64,
        /// Direction.
        dir: Dir,
        /// The seed-style label: `SYN,ACK seq=y ack=x+1 win=65535`.
        label: String,
        /// Lost on the way (the demo knows; a capture does not).
        lost: bool,
        /// Marks.
        marks: Vec<Mark>,
        /// Absolute numbers, e.g. `seq=1451733311 ack=2079924618`.
        absolute: String,
        /// A's state after the row.
        a: String,
        /// B's state after the row.
        b: String,
    },
    /// A folded run of data segments.
    Fold {
        /// The summary, e.g. `812 data segments (1 MB) …`.
        text: String,
        /// A's state through the run.
        a: String,
        /// B's state through the run.
        b: String,
    },
    /// A state change with no segment (a timer).
    Event {
        /// Time in milliseconds since the start.
        time_ms: f64,
        /// What happened.
        note: String,
        /// A's state after it.
        a: String,
        /// B's state after it.
        b: String,
    },
}

/// A ladder ready to draw.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagram {
    /// Heading.
    pub title: String,
    /// Left endpoint, e.g. `A 198.18.0.1:40000 (client)`.
    pub a_name: String,
    /// Right endpoint.
    pub b_name: String,
    /// States before the first row.
    pub initial: (String, String),
    /// Rows.
    pub items: Vec<Item>,
    /// Lines under the ladder.
    pub summary: Vec<String>,
}

/// Runs of plain data rows longer than this are folded into one summary row.
pub const FOLD_AFTER: usize = 8;

/// The seed-style label of a segment, e.g. `FIN,ACK seq=u ack=y+13 win=32761`.
pub fn label(flags: TcpFlags, seq: &str, ack: Option<&str>, len: u32, window: u32) -> String {
    let mut l = format!("{flags} seq={seq}");
    if let Some(ack) = ack {
        l.push_str(" ack=");
        l.push_str(ack);
    }
    if len > 0 {
        l.push_str(&format!(" len={len}"));
    }
    l.push_str(&format!(" win={window}"));
    l
}

pub(crate) fn marks_of(row: &Row) -> Vec<Mark> {
    let m = row.marks;
    let mut out = Vec::new();
    let mut push = |cond: bool, text: String, tone: Tone| {
        if cond {
            out.push(Mark { text, tone });
        }
    };
    push(
        m.contains(Marks::RETRANSMISSION) && !m.contains(Marks::SPURIOUS),
        "retransmission".into(),
        Tone::Bad,
    );
    push(
        m.contains(Marks::RETRANSMISSION) && m.contains(Marks::SPURIOUS),
        "spurious retransmission (already acknowledged)".into(),
        Tone::Warn,
    );
    push(m.contains(Marks::LOST), "lost".into(), Tone::Bad);
    push(
        m.contains(Marks::CORRUPTED),
        "corrupted: dropped by checksum".into(),
        Tone::Bad,
    );
    push(
        m.contains(Marks::OUT_OF_ORDER),
        "out of order".into(),
        Tone::Warn,
    );
    push(
        m.contains(Marks::PREVIOUS_NOT_CAPTURED),
        "previous segment not captured".into(),
        Tone::Warn,
    );
    push(
        m.contains(Marks::DUP_ACK),
        format!("duplicate ACK #{}", row.dup_ack),
        Tone::Warn,
    );
    push(
        m.contains(Marks::ZERO_WINDOW),
        "zero window".into(),
        Tone::Warn,
    );
    push(
        m.contains(Marks::WINDOW_PROBE),
        "window probe".into(),
        Tone::Warn,
    );
    push(
        m.contains(Marks::KEEP_ALIVE),
        "keep-alive".into(),
        Tone::Info,
    );
    push(
        m.contains(Marks::REFUSED),
        "connection refused".into(),
        Tone::Bad,
    );
    push(
        m.contains(Marks::RESET) && !m.contains(Marks::REFUSED),
        "reset".into(),
        Tone::Bad,
    );
    if let Some(o) = row.syn_options.as_ref().filter(|o| !o.is_empty()) {
        out.push(Mark {
            text: o.clone(),
            tone: Tone::Info,
        });
    }
    out
}

pub(crate) fn plain(row: &Row, prev: Option<&Row>) -> bool {
    !row.flags
        .intersects(TcpFlags::SYN | TcpFlags::FIN | TcpFlags::RST)
        && prev.is_some_and(|p| p.a == row.a && p.b == row.b)
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn human_bytes(n: u64) -> String {
    match n {
        0..1_000 => format!("{n} B"),
        1_000..1_000_000 => format!("{n} B ({:.1} kB)", n as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{n} B ({:.1} MB)", n as f64 / 1e6),
        _ => format!("{n} B ({:.2} GB)", n as f64 / 1e9),
    }
}

fn endpoint_name(side: &str, addr: std::net::SocketAddr, role: Option<&str>) -> String {
    match role {
        Some(r) => format!("{side} {addr} ({r})"),
        None => format!("{side} {addr}"),
    }
}

impl Diagram {
    /// The diagram of an inferred connection; with `fold`, long data phases become one row.
    pub fn from_ladder(l: &Ladder, fold: bool) -> Diagram {
        Diagram::from_parts(l, l.rows.len(), items(l, fold, &[]))
    }

    /// The diagram of a connection of `rows` segments whose rows went to an [`ItemStream`]
    /// (`l` is the ladder without them) and came out as `items`.
    pub fn from_parts(l: &Ladder, rows: usize, items: Vec<Item>) -> Diagram {
        let (ra, rb) = if l.a_is_client {
            (Some("client"), Some("server"))
        } else {
            (None, None)
        };
        Diagram {
            title: format!(
                "connection {}: {} ⇄ {}, {} segments",
                l.number, l.a, l.b, rows
            ),
            a_name: endpoint_name("A", l.a, ra),
            b_name: endpoint_name("B", l.b, rb),
            initial: (l.initial.0.to_string(), l.initial.1.to_string()),
            items,
            summary: summary(l),
        }
    }
}

/// The rows of a ladder as diagram items; with `fold`, long data phases become one row.
///
/// `events` are rows no segment makes, such as a timer that changes a state, which a
/// simulator knows of and a capture never shows: each is `(n, item)`, drawn after the
/// ladder's first `n` rows, in the order given. No fold hides one.
pub fn items(l: &Ladder, fold: bool, events: &[(usize, Item)]) -> Vec<Item> {
    items_with_rows(l, fold, events)
        .into_iter()
        .map(|(_, item)| item)
        .collect()
}

/// [`items`], each with the index of the ladder row it draws (`None` for folds and events).
pub fn items_with_rows(
    l: &Ladder,
    fold: bool,
    events: &[(usize, Item)],
) -> Vec<(Option<usize>, Item)> {
    let mut items = Vec::new();
    let rows = &l.rows;
    let mut events = events.iter().peekable();
    let mut i = 0;
    while i < rows.len() {
        while let Some((_, event)) = events.next_if(|(at, _)| *at <= i) {
            items.push((None, event.clone()));
        }
        let next_event = events.peek().map_or(usize::MAX, |(at, _)| at - i);
        let run = if fold { plain_run(rows, i) } else { 0 }.min(next_event);
        if run > FOLD_AFTER {
            for k in i..i + 3 {
                items.extend(rows.get(k).map(|r| (Some(k), segment_item(l, k, r))));
            }
            let middle = rows.get(i + 3..i + run - 2).unwrap_or(&[]);
            if let Some(first) = middle.first() {
                items.push((
                    None,
                    Item::Fold {
                        text: fold_text(middle),
                        a: first.a.to_string(),
                        b: first.b.to_string(),
                    },
                ));
            }
            for k in i + run - 2..i + run {
                items.extend(rows.get(k).map(|r| (Some(k), segment_item(l, k, r))));
            }
            i += run;
        } else {
            items.extend(rows.get(i).map(|r| (Some(i), segment_item(l, i, r))));
            i += 1;
        }
    }
    items.extend(events.map(|(_, event)| (None, event.clone())));
    items
}

/// Length of the run of foldable rows starting at `start` (0 if that row is not foldable).
fn plain_run(rows: &[Row], start: usize) -> usize {
    let mut n = 0;
    while let Some(r) = rows.get(start + n) {
        let prev = (start + n).checked_sub(1).and_then(|p| rows.get(p));
        if !plain(r, prev) {
            break;
        }
        n += 1;
    }
    n
}

pub(crate) fn fold_text(rows: &[Row]) -> String {
    let mut f = FoldAcc::default();
    for r in rows {
        f.add(r);
    }
    f.text()
}

/// The counts behind a fold's text, gathered one row at a time.
#[derive(Clone, Debug, Default)]
struct FoldAcc {
    rows: u64,
    segs: [u64; 2],
    bytes: [u64; 2],
    rexmit: u64,
    dup: u64,
    zero: u64,
    ooo: u64,
    undelivered: u64,
    t0: Option<u64>,
    t1: u64,
}

impl FoldAcc {
    fn add(&mut self, r: &Row) {
        let d = match r.dir {
            Dir::AtoB => 0,
            Dir::BtoA => 1,
        };
        self.rows += 1;
        if r.len > 0 {
            if let Some(s) = self.segs.get_mut(d) {
                *s += 1;
            }
            if let Some(b) = self.bytes.get_mut(d) {
                *b += u64::from(r.new_bytes);
            }
        }
        let m = r.marks;
        self.rexmit += u64::from(m.contains(Marks::RETRANSMISSION));
        self.dup += u64::from(m.contains(Marks::DUP_ACK));
        self.zero += u64::from(m.contains(Marks::ZERO_WINDOW));
        self.ooo += u64::from(m.contains(Marks::OUT_OF_ORDER));
        self.undelivered += u64::from(m.contains(Marks::LOST) || m.contains(Marks::CORRUPTED));
        self.t0.get_or_insert(r.time_us);
        self.t1 = r.time_us;
    }

    fn text(&self) -> String {
        let data: u64 = self.segs.iter().sum();
        let acks = self.rows.saturating_sub(data);
        let mut parts = vec![format!(
            "{data} data segments (A→B {}, B→A {}), {acks} ACKs",
            human_bytes(self.bytes[0]),
            human_bytes(self.bytes[1])
        )];
        for (n, what) in [
            (self.rexmit, "retransmitted"),
            (self.dup, "duplicate ACKs"),
            (self.ooo, "out of order"),
            (self.zero, "zero windows"),
            (self.undelivered, "not delivered"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        format!(
            "{} over {:.3} ms",
            parts.join(", "),
            ms(self.t1.saturating_sub(self.t0.unwrap_or(0)))
        )
    }
}

/// The items of a ladder built one row at a time, as [`items`] builds them from a whole
/// ladder: what a capture read with bounded memory draws. Rows in the middle of a folded run
/// are counted, not kept, and only rows shown are labelled.
#[derive(Clone, Debug)]
pub struct ItemStream {
    fold: bool,
    items: Vec<Item>,
    prev: Option<Row>,
    /// The current run of plain rows while it is short enough to show whole.
    buf: Vec<Pending>,
    /// The run is longer than [`FOLD_AFTER`]: its first 3 rows are out, the rest go through
    /// `tail` (the last 2) into `middle`.
    folding: bool,
    tail: std::collections::VecDeque<Pending>,
    middle: FoldAcc,
    middle_states: Option<(String, String)>,
}

/// A row not yet drawn, with its index and the symbols known when it came.
#[derive(Clone, Debug)]
struct Pending(usize, Row, Symbols);

impl Pending {
    fn item(&self) -> Item {
        segment_item_with(&self.2, self.0, &self.1)
    }
}

impl ItemStream {
    /// An empty ladder; with `fold`, long data phases fold into one row.
    pub fn new(fold: bool) -> Self {
        ItemStream {
            fold,
            items: Vec::new(),
            prev: None,
            buf: Vec::new(),
            folding: false,
            tail: std::collections::VecDeque::new(),
            middle: FoldAcc::default(),
            middle_states: None,
        }
    }

    /// Row `index`, labelled with the symbols known so far.
    pub fn push(&mut self, index: usize, row: &Row, symbols: &Symbols) {
        let is_plain = self.fold && plain(row, self.prev.as_ref());
        self.prev = Some(row.clone());
        if !is_plain {
            self.close_run();
            self.items.push(segment_item_with(symbols, index, row));
            return;
        }
        let p = Pending(index, row.clone(), *symbols);
        if self.folding {
            self.push_tail(p);
            return;
        }
        self.buf.push(p);
        if self.buf.len() > FOLD_AFTER {
            self.folding = true;
            let rest = self.buf.split_off(3.min(self.buf.len()));
            let head: Vec<Item> = self.buf.drain(..).map(|p| p.item()).collect();
            self.items.extend(head);
            for p in rest {
                self.push_tail(p);
            }
        }
    }

    /// Keeps the last 2 rows of a folding run; older ones are counted into the fold.
    fn push_tail(&mut self, p: Pending) {
        self.tail.push_back(p);
        if self.tail.len() > 2
            && let Some(Pending(_, r, _)) = self.tail.pop_front()
        {
            self.middle_states
                .get_or_insert_with(|| (r.a.to_string(), r.b.to_string()));
            self.middle.add(&r);
        }
    }

    /// Ends the current run: a fold and its last 2 rows, or the short run whole.
    fn close_run(&mut self) {
        if self.folding {
            if let Some((a, b)) = self.middle_states.take() {
                self.items.push(Item::Fold {
                    text: self.middle.text(),
                    a,
                    b,
                });
            }
            let tail: Vec<Item> = self.tail.drain(..).map(|p| p.item()).collect();
            self.items.extend(tail);
            self.middle = FoldAcc::default();
            self.folding = false;
        }
        let short: Vec<Item> = self.buf.drain(..).map(|p| p.item()).collect();
        self.items.extend(short);
    }

    /// The items.
    pub fn finish(mut self) -> Vec<Item> {
        self.close_run();
        self.items
    }
}

fn segment_item(l: &Ladder, index: usize, r: &Row) -> Item {
    segment_item_with(&l.symbols, index, r)
}

fn segment_item_with(symbols: &Symbols, index: usize, r: &Row) -> Item {
    let (seq_space, ack_space) = match r.dir {
        Dir::AtoB => (Dir::AtoB, Dir::BtoA),
        Dir::BtoA => (Dir::BtoA, Dir::AtoB),
    };
    let seq = symbols.label(seq_space, r.seq, index);
    let ack = r
        .flags
        .ack()
        .then(|| symbols.label(ack_space, r.ack, index));
    let mut absolute = format!("seq={}", r.seq);
    if r.flags.ack() {
        absolute.push_str(&format!(" ack={}", r.ack));
    }
    Item::Segment {
        time_ms: ms(r.time_us),
        dir: r.dir,
        label: label(r.flags, &seq, ack.as_deref(), r.len, r.window),
        lost: r.marks.contains(Marks::LOST) || r.marks.contains(Marks::CORRUPTED),
        marks: marks_of(r),
        absolute,
        a: r.a.to_string(),
        b: r.b.to_string(),
    }
}

/// The summary line naming the ladder's symbols: `symbols: x=… y=… u=… v=… w=…`,
/// with `x′` and `y′` when they are first-seen numbers rather than ISNs.
pub fn symbols_line(s: &Symbols) -> String {
    let sym = |v: Option<(SeqNum, usize)>| v.map_or("-".into(), |(n, _)| n.to_string());
    let xy = |v: Option<SeqNum>| v.map_or("-".into(), |n| n.to_string());
    let (x, y) = if s.primed {
        ("x′", "y′")
    } else {
        ("x", "y")
    };
    format!(
        "symbols: {x}={} {y}={} u={} v={} w={}",
        xy(s.x),
        xy(s.y),
        sym(s.u),
        sym(s.v),
        sym(s.w)
    )
}

/// The lines under a ladder: symbols, duration and bytes, counters, how it ended, notes.
pub fn summary_lines(l: &Ladder) -> Vec<String> {
    summary(l)
}

fn summary(l: &Ladder) -> Vec<String> {
    let s = &l.symbols;
    let mut out = vec![symbols_line(s)];
    let rtt = l
        .handshake_rtt_us
        .map_or("not captured".into(), |u| format!("{:.3} ms", ms(u)));
    out.push(format!(
        "duration {:.3} ms; handshake RTT {rtt}; A→B {} in {} segments, B→A {} in {} segments",
        ms(l.duration_us),
        human_bytes(l.stats.bytes[0]),
        l.stats.segments[0],
        human_bytes(l.stats.bytes[1]),
        l.stats.segments[1],
    ));
    let spurious = if l.stats.spurious.iter().any(|&n| n > 0) {
        format!(
            " (spurious: A→B {}, B→A {})",
            l.stats.spurious[0], l.stats.spurious[1]
        )
    } else {
        String::new()
    };
    out.push(format!(
        "retransmissions: A→B {}, B→A {}{spurious}; duplicate ACKs {}; out of order {}; zero windows {}",
        l.stats.retransmissions[0],
        l.stats.retransmissions[1],
        l.stats.dup_acks,
        l.stats.out_of_order,
        l.stats.zero_windows
    ));
    let side = |d: Dir| match d {
        Dir::AtoB => "A",
        Dir::BtoA => "B",
    };
    let closed_first = match (s.first_fin, l.ending) {
        (_, super::Ending::Reset { from }) => format!("{} reset the connection", side(from)),
        (Some(_), super::Ending::SimultaneousClose) => "both closed at once".into(),
        (Some(d), _) => format!("{} closed first", side(d)),
        (None, super::Ending::Refused) => "nobody: it never opened".into(),
        (None, _) => "nobody closed".into(),
    };
    let ending = match l.ending {
        super::Ending::Closed { .. } => "closed normally, FIN and ACK both ways".to_string(),
        super::Ending::SimultaneousClose => "simultaneous close: the FINs crossed (CLOSING)".into(),
        super::Ending::Refused => "refused: B answered the SYN with RST".into(),
        super::Ending::Reset { from } => format!("reset by {}", side(from)),
        super::Ending::Open => "still open when the capture ends".into(),
    };
    out.push(format!("{closed_first}; ended: {ending}"));
    out.extend(l.notes.iter().map(|n| format!("note: {n}")));
    out
}
