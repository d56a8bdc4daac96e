//! The time-sequence graph as an SVG picture: the graph itself, the states as bands beneath
//! it, then throughput and RTT over time.
//!
//! Every mark drawn for a segment carries `data-row="N"` (its index in the ladder's rows) so
//! a page around the picture can find and highlight it. Past [`DETAILED`] bars, ACKs or
//! samples, marks that fall in the same pixel column are merged: a picture of a million
//! segments stays a few hundred kilobytes.

use super::{Band, BarKind, EventKind, RttSource, Tsg};
use crate::trace::infer::Dir;
use crate::trace::svg::{escape, state_fill};
use std::collections::HashSet;
use std::fmt::Write as _;

/// Up to this many marks of a kind are drawn one by one; past it, one per pixel column.
pub const DETAILED: usize = 3000;

const WIDTH: f64 = 1000.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 30.0;
const PLOT_W: f64 = WIDTH - LEFT - RIGHT;
const PLOT_TOP: f64 = 96.0;
const PLOT_H: f64 = 430.0;
const BAND_TOP: f64 = PLOT_TOP + PLOT_H + 34.0;
const BAND_H: f64 = 16.0;
const THRU_TOP: f64 = BAND_TOP + 2.0 * BAND_H + 40.0;
const SMALL_H: f64 = 100.0;
const RTT_TOP: f64 = THRU_TOP + SMALL_H + 40.0;
const HEIGHT: f64 = RTT_TOP + SMALL_H + 46.0;
/// With the sender's own view, one more plot beneath.
const VIEW_TOP: f64 = RTT_TOP + SMALL_H + 40.0;
const VIEW_HEIGHT: f64 = VIEW_TOP + SMALL_H + 46.0;
const CWND_COLOR: &str = "#7c3aed";
const FLIGHT_COLOR: &str = "#0891b2";
const SSTHRESH_COLOR: &str = "#64748b";

/// The colour of a bar kind, and its legend text.
pub fn bar_style(kind: BarKind) -> (&'static str, &'static str) {
    match kind {
        BarKind::New => ("#1d4ed8", "data"),
        BarKind::Retransmission => ("#dc2626", "retransmission"),
        BarKind::SpuriousRetransmission => ("#000000", "spurious"),
        BarKind::OutOfOrder => ("#d97706", "out of order"),
        BarKind::WindowProbe => ("#7c3aed", "window probe"),
        BarKind::KeepAlive => ("#64748b", "keep-alive"),
    }
}

const ACK_COLOR: &str = "#16a34a";
const WINDOW_COLOR: &str = "#ca8a04";
const SACK_COLOR: &str = "#06b6d4";
const ZERO_COLOR: &str = "#ea580c";
const RESET_COLOR: &str = "#b91c1c";
const TS_COLOR: &str = "#ea580c";

/// A step that lands on about `target` ticks over `range`: 1, 2 or 5 times a power of ten.
pub fn nice_step(range: f64, target: f64) -> f64 {
    if !(range.is_finite() && range > 0.0) {
        return 1.0;
    }
    let raw = range / target.max(1.0);
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let f = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    f * mag
}

/// A number in few characters: `950`, `12.5k`, `3.2M`, `1.07G`.
pub fn short_num(v: f64) -> String {
    let a = v.abs();
    if a < 10_000.0 {
        format!("{v:.0}")
    } else if a < 1e6 {
        format!("{:.1}k", v / 1e3)
    } else if a < 1e9 {
        format!("{:.1}M", v / 1e6)
    } else {
        format!("{:.2}G", v / 1e9)
    }
}

/// A time of `us` microseconds on an axis whose ticks are `step_us` apart.
fn time_label(us: f64, step_us: f64) -> String {
    if step_us >= 1e6 {
        format!("{:.0} s", us / 1e6)
    } else if step_us >= 1e5 {
        format!("{:.1} s", us / 1e6)
    } else if step_us >= 1e3 {
        format!("{:.0} ms", us / 1e3)
    } else if step_us >= 100.0 {
        format!("{:.1} ms", us / 1e3)
    } else {
        format!("{:.3} ms", us / 1e3)
    }
}

/// The scales of the main graph.
struct Scale {
    duration: f64,
    lo: f64,
    hi: f64,
}

impl Scale {
    fn of(g: &Tsg) -> Self {
        let data = g
            .bars
            .iter()
            .flat_map(|b| [b.start, b.end])
            .chain(g.acks.iter().map(|a| a.ack))
            .chain(g.sacks.iter().flat_map(|s| [s.start, s.end]));
        let (mut lo, mut hi) = (0i64, 0i64);
        for v in data {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        // The window's edge joins the range, but may at most double it: a 6 MB window over
        // 1 kB of data would flatten the data into one line.
        let span = hi.saturating_sub(lo).max(1);
        let edge = g.acks.iter().map(|a| a.window_edge).max().unwrap_or(hi);
        let hi = hi.max(edge.min(hi.saturating_add(span)));
        Scale {
            duration: (g.duration_us.max(1)) as f64,
            lo: lo as f64,
            hi: hi.max(lo.saturating_add(1)) as f64,
        }
    }
    fn x(&self, t_us: u64) -> f64 {
        LEFT + t_us as f64 / self.duration * PLOT_W
    }
    fn y(&self, seq: i64) -> f64 {
        PLOT_TOP + PLOT_H - (seq as f64 - self.lo) / (self.hi - self.lo) * PLOT_H
    }
}

/// Renders the graph as a standalone SVG document.
pub fn render(g: &Tsg) -> String {
    let mut o = String::with_capacity(64 * 1024);
    let height = if g.sender_view.is_some() {
        VIEW_HEIGHT
    } else {
        HEIGHT
    };
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="tsg" width="{WIDTH}" height="{height:.0}" viewBox="0 0 {WIDTH} {height:.0}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">"#
    );
    o.push_str(
        r##"<style>
.title { font-size: 16px; font-weight: bold; fill: #0f172a; }
.sub { font-size: 12px; fill: #334155; }
.axis { font-size: 11px; fill: #475569; }
.lbl { font-size: 12px; fill: #0f172a; font-weight: bold; }
.band { font-size: 10px; font-family: DejaVu Sans Mono, monospace; }
.grid { stroke: #e2e8f0; stroke-width: 1; }
</style>
<rect width="100%" height="100%" fill="white"/>
"##,
    );
    let (from, to) = match g.dir {
        Dir::AtoB => ("A", "B"),
        Dir::BtoA => ("B", "A"),
    };
    let _ = writeln!(
        o,
        r#"<text x="20" y="26" class="title">connection {}: {from} {} → {to} {}, time-sequence graph</text>"#,
        g.number,
        escape(&g.sender.to_string()),
        escape(&g.receiver.to_string()),
    );
    let _ = writeln!(
        o,
        r#"<text x="20" y="46" class="sub">relative sequence numbers (0 = {}), {} segments with data, {} ACKs, {} SACK blocks</text>"#,
        g.base,
        g.bars.iter().filter(|b| b.end != b.start).count(),
        g.acks.len(),
        g.sacks.len()
    );
    legend(&mut o);
    let s = Scale::of(g);
    axes(&mut o, &s);
    let _ = writeln!(
        o,
        r#"<clipPath id="plot"><rect x="{LEFT}" y="{PLOT_TOP}" width="{PLOT_W}" height="{PLOT_H}"/></clipPath><g clip-path="url(#plot)">"#
    );
    steps(
        &mut o,
        &s,
        g.acks.iter().map(|a| (a.t_us, a.window_edge)),
        WINDOW_COLOR,
        "window",
    );
    steps(
        &mut o,
        &s,
        g.acks.iter().map(|a| (a.t_us, a.ack)),
        ACK_COLOR,
        "ack",
    );
    sacks(&mut o, g, &s);
    bars(&mut o, g, &s);
    if g.acks.len() <= DETAILED {
        for a in &g.acks {
            let _ = writeln!(
                o,
                r#"<circle class="seg ack" data-row="{}" cx="{:.1}" cy="{:.1}" r="2.2" fill="{ACK_COLOR}"/>"#,
                a.row,
                s.x(a.t_us),
                s.y(a.ack)
            );
        }
    }
    events(&mut o, g, &s);
    o.push_str("</g>\n");
    bands(&mut o, g, &s);
    throughput(&mut o, g, &s);
    rtt(&mut o, g, &s);
    if let Some(v) = &g.sender_view {
        sender_view(&mut o, v, &s);
    }
    o.push_str("</svg>\n");
    o
}

/// The sender's own view (from its qlog): congestion window, bytes in flight and ssthresh as
/// step lines, recovery phases shaded.
fn sender_view(o: &mut String, v: &super::SenderView, s: &Scale) {
    let max = v
        .points
        .iter()
        .flat_map(|p| [p.cwnd, p.in_flight, p.ssthresh.unwrap_or(0)])
        .max()
        .unwrap_or(0);
    let top = (max as f64 * 1.1).max(1.0);
    small_frame(
        o,
        VIEW_TOP,
        "sender's view (its qlog): congestion window, in flight, ssthresh; recovery shaded",
        &short_num(top),
    );
    let y = |b: u64| VIEW_TOP + SMALL_H - b as f64 / top * SMALL_H;
    let end = LEFT + PLOT_W;
    // Recovery phases as shaded spans.
    let mut from: Option<f64> = None;
    for p in &v.points {
        let x = s.x(p.t_us).min(end);
        match (p.phase == "recovery", from) {
            (true, None) => from = Some(x),
            (false, Some(x0)) => {
                shade(o, x0, x);
                from = None;
            }
            _ => {}
        }
    }
    if let Some(x0) = from {
        shade(o, x0, end);
    }
    let series: [(&str, &str, ViewValue); 3] = [
        (SSTHRESH_COLOR, "ssthresh", |p| p.ssthresh),
        (FLIGHT_COLOR, "in flight", |p| Some(p.in_flight)),
        (CWND_COLOR, "cwnd", |p| Some(p.cwnd)),
    ];
    for (i, (color, name, value)) in series.into_iter().enumerate() {
        let mut d = String::new();
        let mut last: Option<f64> = None;
        for p in &v.points {
            let x = s.x(p.t_us).min(end);
            match (value(p), last) {
                (Some(b), None) => {
                    let _ = write!(d, "M{x:.1},{:.1}", y(b));
                    last = Some(y(b));
                }
                (Some(b), Some(_)) => {
                    let _ = write!(d, " H{x:.1} V{:.1}", y(b));
                    last = Some(y(b));
                }
                (None, _) => {}
            }
        }
        if last.is_some() {
            let _ = write!(d, " H{end:.1}");
        }
        let dash = if name == "ssthresh" {
            r#" stroke-dasharray="4 3""#
        } else {
            ""
        };
        let _ = writeln!(
            o,
            r#"<path class="view {name}" d="{d}" fill="none" stroke="{color}" stroke-width="1.4"{dash}/><text x="{:.0}" y="{:.0}" class="axis" fill="{color}">{name}</text>"#,
            end - 200.0 + 70.0 * i as f64,
            VIEW_TOP - 6.0
        );
    }
}

/// One of the sender view's figures of a point.
type ViewValue = fn(&super::ViewPoint) -> Option<u64>;

fn shade(o: &mut String, x0: f64, x1: f64) {
    let _ = writeln!(
        o,
        r##"<rect class="view recovery" x="{x0:.1}" y="{VIEW_TOP:.0}" width="{:.1}" height="{SMALL_H}" fill="#fecaca" opacity="0.6"/>"##,
        (x1 - x0).max(0.8)
    );
}

fn legend(o: &mut String) {
    let mut x = 20.0;
    let y = 70.0;
    let mut item = |o: &mut String, swatch: String, text: &str| {
        let _ = writeln!(
            o,
            r#"<g transform="translate({x:.0},{y})">{swatch}<text x="14" y="4" class="sub">{text}</text></g>"#
        );
        x += 24.0 + 6.6 * text.chars().count() as f64;
    };
    for kind in [
        BarKind::New,
        BarKind::Retransmission,
        BarKind::SpuriousRetransmission,
        BarKind::OutOfOrder,
        BarKind::WindowProbe,
        BarKind::KeepAlive,
    ] {
        let (c, t) = bar_style(kind);
        item(
            o,
            format!(r#"<path d="M4,-6 V6 M1,-6 H7 M1,6 H7" stroke="{c}" stroke-width="2"/>"#),
            t,
        );
    }
    item(
        o,
        format!(
            r#"<path d="M0,3 H5 V-3 H10" stroke="{ACK_COLOR}" fill="none" stroke-width="1.5"/>"#
        ),
        "ACK",
    );
    item(
        o,
        format!(
            r#"<path d="M0,3 H5 V-3 H10" stroke="{WINDOW_COLOR}" fill="none" stroke-width="1.5"/>"#
        ),
        "window edge",
    );
    item(
        o,
        format!(r#"<path d="M4,-6 V6" stroke="{SACK_COLOR}" stroke-width="4" opacity="0.6"/>"#),
        "SACK",
    );
    item(o, zero_mark(4.0, 0.0, None), "zero window");
    item(o, dup_mark(4.0, 0.0, None), "dup ACK");
    item(o, reset_mark(4.0, 0.0, None), "reset");
}

fn row_attr(row: Option<usize>) -> String {
    row.map_or(String::new(), |r| format!(r#" class="seg" data-row="{r}""#))
}

fn zero_mark(x: f64, y: f64, row: Option<usize>) -> String {
    format!(
        r#"<path{} d="M{:.1},{:.1} l5,5 l-5,5 l-5,-5 z" fill="{ZERO_COLOR}"/>"#,
        row_attr(row),
        x,
        y - 5.0
    )
}

fn dup_mark(x: f64, y: f64, row: Option<usize>) -> String {
    format!(
        r#"<circle{} cx="{x:.1}" cy="{y:.1}" r="2.8" fill="none" stroke="{ACK_COLOR}" stroke-width="1"/>"#,
        row_attr(row)
    )
}

fn reset_mark(x: f64, y: f64, row: Option<usize>) -> String {
    format!(
        r#"<path{} d="M{:.1},{:.1} l10,10 m0,-10 l-10,10" stroke="{RESET_COLOR}" stroke-width="2.5"/>"#,
        row_attr(row),
        x - 5.0,
        y - 5.0
    )
}

fn axes(o: &mut String, s: &Scale) {
    let _ = writeln!(
        o,
        r##"<rect x="{LEFT}" y="{PLOT_TOP}" width="{PLOT_W}" height="{PLOT_H}" fill="none" stroke="#94a3b8"/>"##
    );
    let step = nice_step(s.hi - s.lo, 8.0);
    let first = (s.lo / step).ceil();
    // Counted, not summed: far from 0 a small step could vanish in the float's precision.
    for k in 0..=64 {
        let v = (first + f64::from(k)) * step;
        if v > s.hi {
            break;
        }
        let y = s.y(v as i64);
        let _ = writeln!(
            o,
            r#"<line class="grid" x1="{LEFT}" x2="{:.0}" y1="{y:.1}" y2="{y:.1}"/><text x="{:.0}" y="{:.1}" class="axis" text-anchor="end">{}</text>"#,
            LEFT + PLOT_W,
            LEFT - 6.0,
            y + 4.0,
            short_num(v)
        );
    }
    let _ = writeln!(
        o,
        r#"<text x="16" y="{:.0}" class="lbl" transform="rotate(-90 16 {:.0})" text-anchor="middle">sequence (bytes)</text>"#,
        PLOT_TOP + PLOT_H / 2.0,
        PLOT_TOP + PLOT_H / 2.0
    );
    for top in [PLOT_TOP + PLOT_H, THRU_TOP + SMALL_H, RTT_TOP + SMALL_H] {
        time_axis(o, s, top);
    }
}

fn time_axis(o: &mut String, s: &Scale, bottom: f64) {
    let step = nice_step(s.duration, 10.0);
    for k in 0..=64 {
        let t = f64::from(k) * step;
        if t > s.duration {
            break;
        }
        let x = LEFT + t / s.duration * PLOT_W;
        let _ = writeln!(
            o,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="{bottom:.0}" y2="{:.0}" stroke="#94a3b8"/><text x="{x:.1}" y="{:.0}" class="axis" text-anchor="middle">{}</text>"##,
            bottom + 4.0,
            bottom + 16.0,
            time_label(t, step)
        );
    }
}

/// A step line through `(t, seq)` points; points in one pixel column become one step.
fn steps(
    o: &mut String,
    s: &Scale,
    points: impl Iterator<Item = (u64, i64)>,
    color: &str,
    class: &str,
) {
    let mut d = String::new();
    let mut last_x: Option<f64> = None;
    let mut pending_y: Option<f64> = None;
    for (t, v) in points {
        let x = (s.x(t) * 2.0).round() / 2.0;
        let y = s.y(v);
        match last_x {
            None => {
                let _ = write!(d, "M{x:.1},{y:.1}");
                last_x = Some(x);
            }
            Some(lx) if lx == x => pending_y = Some(y),
            Some(_) => {
                if let Some(py) = pending_y.take() {
                    let _ = write!(d, "V{py:.1}");
                }
                let _ = write!(d, "H{x:.1}V{y:.1}");
                last_x = Some(x);
            }
        }
    }
    if let Some(py) = pending_y {
        let _ = write!(d, "V{py:.1}");
    }
    if let Some(lx) = last_x {
        let _ = write!(d, "H{:.1}", lx.max(LEFT + PLOT_W));
        let _ = writeln!(
            o,
            r#"<path class="{class}" d="{d}" fill="none" stroke="{color}" stroke-width="1.3"/>"#
        );
    }
}

fn bars(o: &mut String, g: &Tsg, s: &Scale) {
    let detailed = g.bars.len() <= DETAILED;
    // Merged: per kind, the run of bars in one pixel column.
    let mut run: Option<(BarKind, f64, f64, f64, usize)> = None;
    let flush = |o: &mut String, r: (BarKind, f64, f64, f64, usize)| {
        let (kind, x, y1, y2, row) = r;
        let (c, _) = bar_style(kind);
        let _ = writeln!(
            o,
            r#"<path class="seg bar" data-row="{row}" d="M{:.1},{y1:.1}H{:.1}M{x:.1},{y1:.1}V{y2:.1}M{:.1},{y2:.1}H{:.1}" stroke="{c}" stroke-width="1.4"/>"#,
            x - 2.5,
            x + 2.5,
            x - 2.5,
            x + 2.5
        );
    };
    // New data first, so resends, reorderings and probes stay visible on top.
    let ordered = g
        .bars
        .iter()
        .filter(|b| b.kind == BarKind::New)
        .chain(g.bars.iter().filter(|b| b.kind != BarKind::New));
    for b in ordered {
        let x = s.x(b.t_us);
        let (y1, y2) = if b.start == b.end {
            // A bare probe or keep-alive: a fixed-height mark across the ACK line it sits on.
            (s.y(b.end) - 5.0, s.y(b.start) + 5.0)
        } else {
            (s.y(b.end), s.y(b.start))
        };
        if detailed {
            flush(o, (b.kind, x, y1, y2, b.row));
            continue;
        }
        let x = x.round();
        match run.as_mut() {
            Some(r) if r.0 == b.kind && r.1 == x => {
                r.2 = r.2.min(y1);
                r.3 = r.3.max(y2);
            }
            _ => {
                if let Some(r) = run.take() {
                    flush(o, r);
                }
                run = Some((b.kind, x, y1, y2, b.row));
            }
        }
    }
    if let Some(r) = run {
        flush(o, r);
    }
}

fn sacks(o: &mut String, g: &Tsg, s: &Scale) {
    let mut drawn: HashSet<(i64, i64, i64)> = HashSet::new();
    for m in &g.sacks {
        let x = s.x(m.t_us);
        let key = (
            x.round() as i64,
            s.y(m.start).round() as i64,
            s.y(m.end).round() as i64,
        );
        if g.sacks.len() > DETAILED && !drawn.insert(key) {
            continue;
        }
        let _ = writeln!(
            o,
            r#"<path class="seg sack" data-row="{}" d="M{:.1},{:.1}V{:.1}" stroke="{SACK_COLOR}" stroke-width="4" opacity="0.6"/>"#,
            m.row,
            x + 3.0,
            s.y(m.start),
            s.y(m.end)
        );
    }
}

fn events(o: &mut String, g: &Tsg, s: &Scale) {
    let mut drawn: HashSet<(EventKind, i64, i64)> = HashSet::new();
    // Thousands of duplicate ACKs would bury the ACK line; the summary counts them.
    let dups = g
        .events
        .iter()
        .filter(|e| e.kind == EventKind::DupAck)
        .count();
    for e in g
        .events
        .iter()
        .filter(|e| dups <= DETAILED || e.kind != EventKind::DupAck)
    {
        let (x, y) = (s.x(e.t_us), s.y(e.seq));
        if g.events.len() > DETAILED && !drawn.insert((e.kind, x.round() as i64, y.round() as i64))
        {
            continue;
        }
        let mark = match e.kind {
            EventKind::ZeroWindow => zero_mark(x, y, Some(e.row)),
            EventKind::DupAck => dup_mark(x, y, Some(e.row)),
            EventKind::SenderReset | EventKind::ReceiverReset => reset_mark(x, y, Some(e.row)),
        };
        o.push_str(&mark);
        o.push('\n');
    }
}

fn band_row(o: &mut String, s: &Scale, bands: &[Band], top: f64, name: &str) {
    let _ = writeln!(
        o,
        r#"<text x="{:.0}" y="{:.0}" class="axis" text-anchor="end">{name}</text>"#,
        LEFT - 6.0,
        top + 12.0
    );
    for b in bands {
        let x1 = s.x(b.start_us);
        let x2 = s.x(b.end_us).max(x1 + 1.0);
        let state = b.state.to_string();
        let (fill, ink) = state_fill(&state);
        let _ = write!(
            o,
            r#"<g><title>{} from {:.3} ms to {:.3} ms</title><rect x="{x1:.1}" y="{top:.0}" width="{:.1}" height="{BAND_H}" fill="{fill}" stroke="{ink}" stroke-width="0.5"/>"#,
            escape(&state),
            b.start_us as f64 / 1e3,
            b.end_us as f64 / 1e3,
            x2 - x1
        );
        if x2 - x1 > 7.0 * state.chars().count() as f64 + 4.0 {
            let _ = write!(
                o,
                r#"<text x="{:.1}" y="{:.0}" class="band" fill="{ink}">{}</text>"#,
                x1 + 3.0,
                top + 12.0,
                escape(&state)
            );
        }
        o.push_str("</g>\n");
    }
}

fn bands(o: &mut String, g: &Tsg, s: &Scale) {
    band_row(o, s, &g.sender_bands, BAND_TOP, "sender");
    band_row(o, s, &g.receiver_bands, BAND_TOP + BAND_H + 2.0, "receiver");
}

fn small_frame(o: &mut String, top: f64, title: &str, max_label: &str) {
    let _ = writeln!(
        o,
        r##"<rect x="{LEFT}" y="{top:.0}" width="{PLOT_W}" height="{SMALL_H}" fill="none" stroke="#94a3b8"/><text x="{LEFT}" y="{:.0}" class="lbl">{title}</text><text x="{:.0}" y="{:.0}" class="axis" text-anchor="end">{max_label}</text><text x="{:.0}" y="{:.0}" class="axis" text-anchor="end">0</text>"##,
        top - 6.0,
        LEFT - 6.0,
        top + 10.0,
        LEFT - 6.0,
        top + SMALL_H
    );
}

fn throughput(o: &mut String, g: &Tsg, s: &Scale) {
    let max = (0..g.throughput.len())
        .map(|k| g.rate(k))
        .fold(0.0f64, f64::max);
    let bits = max * 8.0;
    let label = if bits >= 1e9 {
        format!("{:.2} Gbit/s", bits / 1e9)
    } else if bits >= 1e6 {
        format!("{:.1} Mbit/s", bits / 1e6)
    } else {
        format!("{:.1} kbit/s", bits / 1e3)
    };
    small_frame(
        o,
        THRU_TOP,
        &format!(
            "throughput (new bytes per {:.3} ms)",
            g.bucket_us as f64 / 1e3
        ),
        &label,
    );
    if max <= 0.0 {
        return;
    }
    for k in 0..g.throughput.len() {
        let r = g.rate(k);
        if r <= 0.0 {
            continue;
        }
        let t0 = (k as u64).saturating_mul(g.bucket_us);
        let x1 = s.x(t0);
        let x2 = s.x(t0.saturating_add(g.bucket_us)).min(LEFT + PLOT_W);
        let h = r / max * SMALL_H;
        let _ = writeln!(
            o,
            r##"<rect x="{x1:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="#93c5fd" stroke="#1d4ed8" stroke-width="0.5"/>"##,
            THRU_TOP + SMALL_H - h,
            (x2 - x1).max(0.5)
        );
    }
}

fn rtt(o: &mut String, g: &Tsg, s: &Scale) {
    let max = g.rtt.iter().map(|r| r.rtt_us).max().unwrap_or(0);
    let top_us = (max as f64 * 1.1).max(1.0);
    small_frame(
        o,
        RTT_TOP,
        "RTT (● data→ACK, Karn's rule; ○ timestamps)",
        &format!("{:.3} ms", top_us / 1e3),
    );
    let mut drawn: HashSet<(bool, i64, i64)> = HashSet::new();
    for r in &g.rtt {
        let x = s.x(r.t_us);
        let y = RTT_TOP + SMALL_H - r.rtt_us as f64 / top_us * SMALL_H;
        let ts = r.source == RttSource::Timestamp;
        if g.rtt.len() > DETAILED && !drawn.insert((ts, x.round() as i64, y.round() as i64)) {
            continue;
        }
        let style = if ts {
            format!(r#"fill="none" stroke="{TS_COLOR}""#)
        } else {
            r##"fill="#1d4ed8""##.to_string()
        };
        let _ = writeln!(
            o,
            r#"<circle class="seg rtt" data-row="{}" cx="{x:.1}" cy="{y:.1}" r="2.2" {style}/>"#,
            r.row
        );
    }
}
