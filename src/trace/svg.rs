//! The ladder as an SVG picture: two vertical timelines, slanted arrows labelled like the
//! handshake ladder (`SYN seq=x`, `ACK ack=x+1` …), and each side's state written beside its
//! timeline where it changes.

use super::diagram::{Diagram, Item, Tone};
use super::infer::Dir;
use std::fmt::Write as _;

const WIDTH: f64 = 1000.0;
const XA: f64 = 300.0;
const XB: f64 = 700.0;
const TOP: f64 = 130.0;
const PITCH: f64 = 58.0;
const SLANT: f64 = 26.0;
const LINE: f64 = 18.0;

/// Escapes text for XML.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

pub(crate) fn state_fill(state: &str) -> (&'static str, &'static str) {
    if state.ends_with('?') {
        return ("#f3e8ff", "#6b21a8");
    }
    match state {
        "ESTABLISHED" => ("#dcfce7", "#166534"),
        "CLOSED" | "LISTEN" => ("#f1f5f9", "#334155"),
        "TIME-WAIT" => ("#cffafe", "#155e75"),
        _ => ("#fef3c7", "#92400e"),
    }
}

/// A state in a rounded box; `right` aligns the box's right edge at `x`.
fn state_box(out: &mut String, x: f64, y: f64, state: &str, right: bool) {
    let w = 9.0 + 7.6 * state.chars().count() as f64;
    let left = if right { x - w } else { x };
    let (fill, ink) = state_fill(state);
    let _ = writeln!(
        out,
        r#"<rect x="{left:.1}" y="{:.1}" width="{w:.1}" height="20" rx="5" fill="{fill}" stroke="{ink}" stroke-width="0.8"/><text x="{:.1}" y="{:.1}" class="state" fill="{ink}">{}</text>"#,
        y - 14.0,
        left + w / 2.0,
        y,
        escape(state)
    );
}

fn tone_color(t: Tone) -> &'static str {
    match t {
        Tone::Info => "#64748b",
        Tone::Warn => "#b45309",
        Tone::Bad => "#dc2626",
    }
}

/// Renders the diagram as a standalone SVG document.
pub fn render(d: &Diagram) -> String {
    render_rows(d, &[])
}

/// [`render`], and each segment's group gets `class="seg" data-row="N"` from `rows`, the
/// ladder row of each item (as [`super::diagram::items_with_rows`] gives them), so a page
/// around the picture can find it.
pub fn render_rows(d: &Diagram, rows: &[Option<usize>]) -> String {
    let n_items = d.items.len() as f64;
    let bottom = TOP + n_items * PITCH + 20.0;
    let height = bottom + 30.0 + d.summary.len() as f64 * LINE + 20.0;
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0}" viewBox="0 0 {WIDTH} {height:.0}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">"#
    );
    let _ = writeln!(
        o,
        r##"<style>
.title {{ font-size: 17px; font-weight: bold; fill: #0f172a; }}
.end {{ font-size: 14px; font-weight: bold; fill: #0f172a; text-anchor: middle; }}
.state {{ font-size: 12px; font-weight: bold; text-anchor: middle; font-family: DejaVu Sans Mono, monospace; }}
.label {{ font-size: 13px; fill: #0f172a; text-anchor: middle; font-family: DejaVu Sans Mono, monospace; }}
.mark {{ font-size: 11px; font-style: italic; text-anchor: middle; }}
.time {{ font-size: 11px; fill: #64748b; text-anchor: end; font-family: DejaVu Sans Mono, monospace; }}
.fold {{ font-size: 12px; fill: #475569; font-style: italic; text-anchor: middle; }}
.sum {{ font-size: 12px; fill: #334155; font-family: DejaVu Sans Mono, monospace; }}
</style>
<defs><marker id="head" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" markerHeight="9" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#1e293b"/></marker>
<marker id="headlost" viewBox="0 0 10 10" refX="5" refY="5" markerWidth="10" markerHeight="10" orient="auto"><path d="M1,1 L9,9 M9,1 L1,9" stroke="#dc2626" stroke-width="2"/></marker></defs>
<rect width="100%" height="100%" fill="white"/>"##
    );
    let _ = writeln!(
        o,
        r#"<text x="20" y="32" class="title">{}</text>"#,
        escape(&d.title)
    );
    let _ = writeln!(
        o,
        r#"<text x="{XA}" y="72" class="end">{}</text><text x="{XB}" y="72" class="end">{}</text>"#,
        escape(&d.a_name),
        escape(&d.b_name)
    );
    let _ = writeln!(o, r#"<text x="80" y="72" class="time">time (ms)</text>"#);
    for x in [XA, XB] {
        let _ = writeln!(
            o,
            r##"<line x1="{x}" y1="84" x2="{x}" y2="{bottom:.1}" stroke="#334155" stroke-width="2.5"/>"##
        );
    }
    state_box(&mut o, XA - 10.0, 110.0, &d.initial.0, true);
    state_box(&mut o, XB + 10.0, 110.0, &d.initial.1, false);
    let mut last = d.initial.clone();
    let angle = (SLANT / (XB - XA)).atan().to_degrees();
    for (i, item) in d.items.iter().enumerate() {
        let y = TOP + i as f64 * PITCH;
        let y_end = y + SLANT;
        let (a, b) = match item {
            Item::Segment {
                time_ms,
                dir,
                label,
                lost,
                marks,
                absolute,
                a,
                b,
            } => {
                let (x1, x2, rot) = match dir {
                    Dir::AtoB => (XA, XB, angle),
                    Dir::BtoA => (XB, XA, -angle),
                };
                let _ = writeln!(
                    o,
                    r#"<text x="80" y="{:.1}" class="time">{time_ms:.3}</text>"#,
                    y + 4.0
                );
                let (xe, ye) = if *lost {
                    (x1 + (x2 - x1) * 0.72, y + SLANT * 0.72)
                } else {
                    (x2, y_end)
                };
                let (stroke, dash, head) = if *lost {
                    ("#dc2626", r#" stroke-dasharray="6 4""#, "headlost")
                } else {
                    ("#1e293b", "", "head")
                };
                let _ = writeln!(
                    o,
                    r#"<g{}><title>{}</title><line x1="{x1}" y1="{y:.1}" x2="{xe:.1}" y2="{ye:.1}" stroke="{stroke}" stroke-width="1.6"{dash} marker-end="url(#{head})"/>"#,
                    rows.get(i)
                        .copied()
                        .flatten()
                        .map_or(String::new(), |r| format!(r#" class="seg" data-row="{r}""#)),
                    escape(absolute)
                );
                let (mx, my) = ((XA + XB) / 2.0, y + SLANT / 2.0);
                let _ = writeln!(
                    o,
                    r#"<text x="{mx}" y="{:.1}" class="label" transform="rotate({rot:.2} {mx} {my:.1})">{}</text>"#,
                    my - 6.0,
                    escape(label)
                );
                if !marks.is_empty() {
                    let worst = marks
                        .iter()
                        .map(|m| m.tone)
                        .max_by_key(|t| match t {
                            Tone::Info => 0,
                            Tone::Warn => 1,
                            Tone::Bad => 2,
                        })
                        .unwrap_or(Tone::Info);
                    let text: Vec<&str> = marks.iter().map(|m| m.text.as_str()).collect();
                    let _ = writeln!(
                        o,
                        r#"<text x="{mx}" y="{:.1}" class="mark" fill="{}" transform="rotate({rot:.2} {mx} {my:.1})">{}</text>"#,
                        my + 15.0,
                        tone_color(worst),
                        escape(&text.join(" · "))
                    );
                }
                o.push_str("</g>\n");
                (a, b)
            }
            Item::Fold { text, a, b } => {
                let _ = writeln!(
                    o,
                    r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="#f8fafc" stroke="#94a3b8" stroke-dasharray="4 3" rx="6"/><text x="{:.1}" y="{:.1}" class="fold">⋮ {}</text>"##,
                    XA + 6.0,
                    y - 8.0,
                    XB - XA - 12.0,
                    SLANT + 16.0,
                    (XA + XB) / 2.0,
                    y + SLANT / 2.0 + 4.0,
                    escape(&shorten(text, 58))
                );
                (a, b)
            }
            Item::Event {
                time_ms,
                note,
                a,
                b,
            } => {
                let _ = writeln!(
                    o,
                    r#"<text x="80" y="{:.1}" class="time">{time_ms:.3}</text><text x="{:.1}" y="{:.1}" class="fold">({})</text>"#,
                    y + 4.0,
                    (XA + XB) / 2.0,
                    y + SLANT / 2.0,
                    escape(note)
                );
                (a, b)
            }
        };
        if *a != last.0 {
            state_box(&mut o, XA - 10.0, y_end + 5.0, a, true);
        }
        if *b != last.1 {
            state_box(&mut o, XB + 10.0, y_end + 5.0, b, false);
        }
        last = (a.clone(), b.clone());
    }
    for (k, line) in d.summary.iter().enumerate() {
        let _ = writeln!(
            o,
            r#"<text x="20" y="{:.1}" class="sum">{}</text>"#,
            bottom + 30.0 + k as f64 * LINE,
            escape(&shorten(line, 130))
        );
    }
    o.push_str("</svg>\n");
    o
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}
