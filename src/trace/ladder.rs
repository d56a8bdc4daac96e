//! The terminal ladder: one line per row, both states beside the arrow, ANSI colour optional.

use super::diagram::{Diagram, Item, Mark, Tone};
use super::infer::Dir;
use std::fmt::Write as _;

const RESET: &str = "\x1b[0m";

fn paint(color: bool, code: &str, text: &str) -> String {
    if color && !text.is_empty() {
        format!("\x1b[{code}m{text}{RESET}")
    } else {
        text.to_string()
    }
}

/// Pads `text` to `width` characters (display width is taken as the char count).
fn pad(text: &str, width: usize) -> String {
    let n = text.chars().count();
    format!("{text}{}", " ".repeat(width.saturating_sub(n)))
}

fn state_color(state: &str) -> &'static str {
    if state.ends_with('?') {
        "35"
    } else {
        match state {
            "ESTABLISHED" => "32",
            "CLOSED" | "LISTEN" => "2",
            "TIME-WAIT" => "36",
            _ => "33",
        }
    }
}

fn state(color: bool, s: &str, width: usize) -> String {
    paint(color, state_color(s), &pad(s, width))
}

fn marks(color: bool, marks: &[Mark]) -> String {
    if marks.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = marks
        .iter()
        .map(|m| match m.tone {
            Tone::Info => m.text.clone(),
            Tone::Warn => paint(color, "33", &m.text),
            Tone::Bad => paint(color, "1;31", &m.text),
        })
        .collect();
    format!("  [{}]", parts.join("; "))
}

fn arrow(dir: Dir, lost: bool, label: &str) -> String {
    match (dir, lost) {
        (Dir::AtoB, false) => format!("── {label} ──▶"),
        (Dir::AtoB, true) => format!("── {label} ──✗"),
        (Dir::BtoA, false) => format!("◀── {label} ──"),
        (Dir::BtoA, true) => format!("✗── {label} ──"),
    }
}

/// Renders the diagram for a terminal; `color` adds ANSI colours.
pub fn render(d: &Diagram, color: bool) -> String {
    let sw = STATE_WIDTH;
    let aw = d
        .items
        .iter()
        .map(|i| match i {
            Item::Segment {
                dir, lost, label, ..
            } => arrow(*dir, *lost, label).chars().count(),
            _ => 0,
        })
        .max()
        .unwrap_or(0)
        .max(30);
    let mut out = String::new();
    let _ = writeln!(out, "{}", paint(color, "1", &d.title));
    let _ = writeln!(out, "  {}  ⇄  {}", d.a_name, d.b_name);
    out.push_str(&header(color, (&d.initial.0, &d.initial.1), aw));
    for item in &d.items {
        out.push_str(&item_line(item, color, sw, aw));
    }
    let _ = writeln!(out);
    for line in &d.summary {
        let _ = writeln!(out, "{line}");
    }
    out
}

/// Width of the state columns.
pub const STATE_WIDTH: usize = 13;

/// The header lines above the rows, with `aw` the arrow column's width.
pub fn header(color: bool, initial: (&str, &str), aw: usize) -> String {
    let sw = STATE_WIDTH;
    format!(
        "{:>10}  {} {} {} absolute numbers, marks\n{:>10}  {} {} {}\n",
        "time (ms)",
        pad("A", sw),
        pad("", aw),
        pad("B", sw),
        "",
        state(color, initial.0, sw),
        pad("", aw),
        state(color, initial.1, sw)
    )
}

/// One item as a terminal line (with its newline): `sw` and `aw` are the widths of the state
/// and arrow columns.
pub fn item_line(item: &Item, color: bool, sw: usize, aw: usize) -> String {
    match item {
        Item::Segment {
            time_ms,
            dir,
            label,
            lost,
            marks: m,
            absolute,
            a,
            b,
        } => {
            let arr = pad(&arrow(*dir, *lost, label), aw);
            let arr = paint(
                color,
                match dir {
                    Dir::AtoB => "36",
                    Dir::BtoA => "34",
                },
                &arr,
            );
            format!(
                "{:>10.3}  {} {} {} {}{}\n",
                time_ms,
                state(color, a, sw),
                arr,
                state(color, b, sw),
                paint(color, "2", absolute),
                marks(color, m)
            )
        }
        Item::Fold { text, a, b } => format!(
            "{:>10}  {} {} {}\n",
            "⋮",
            state(color, a, sw),
            pad(&format!("   ⋮ {text}"), aw),
            state(color, b, sw)
        ),
        Item::Event {
            time_ms,
            note,
            a,
            b,
        } => format!(
            "{:>10.3}  {} {} {}\n",
            time_ms,
            state(color, a, sw),
            pad(&format!("   ({note})"), aw),
            state(color, b, sw)
        ),
    }
}
