//! One self-contained HTML page for one connection: the ladder, the time-sequence graph and
//! a segment list, all linked. Clicking a segment anywhere (list, ladder arrow, graph mark)
//! highlights it everywhere and shows its headers and both ends' states before and after it;
//! arrow keys or `j`/`k` step through the segments.
//!
//! Everything is inline (CSS, script, the two SVG pictures and the segments as JSON): the
//! page loads no network resource. Opened with `#test` in its URL, the page clicks a graph
//! mark and steps with `j` and `k` on load, and writes what happened as JSON into
//! `<pre id="test-result">`, which a headless browser's `--dump-dom` shows.

use super::capture::Segment;
use super::conn::Connection;
use super::diagram::{self, Diagram, Item};
use super::infer::{Dir, Inferred, Ladder, Row};
use super::tsg::{self, Tsg, Unwrap};
use std::fmt::Write as _;

/// The segment list holds at most this many segments (the first ones); the graph and the
/// folded ladder still show the whole connection.
pub const MAX_LISTED: usize = 20_000;

/// Escapes text for a JSON string (without the quotes), safe inside `<script>` too.
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

fn options_text(seg: &Segment, unwrap_other: &Unwrap) -> String {
    let mut o = Vec::new();
    if let Some(m) = seg.mss {
        o.push(format!("MSS {m}"));
    }
    if let Some(w) = seg.window_scale {
        o.push(format!("window scale {w}"));
    }
    if seg.sack_permitted {
        o.push("SACK permitted".into());
    }
    if let Some(t) = seg.timestamps {
        o.push(format!("TSval {} TSecr {}", t.tsval, t.tsecr));
    }
    for &(l, r) in seg.sack_blocks.as_slice() {
        let rl = unwrap_other.peek(l);
        o.push(format!(
            "SACK {l}–{r} (relative {rl}–{})",
            rl.saturating_add(i64::from(r - l))
        ));
    }
    o.join("; ")
}

fn state(s: Inferred) -> String {
    s.to_string()
}

/// The page's data: one JSON object per listed segment.
fn segments_json(conn: &Connection, l: &Ladder) -> String {
    let labels: Vec<Option<String>> = {
        let mut v = vec![None; l.rows.len().min(MAX_LISTED)];
        let cut = Ladder {
            rows: l.rows.iter().take(MAX_LISTED).cloned().collect(),
            ..l.clone()
        };
        for (row, item) in diagram::items_with_rows(&cut, false, &[]) {
            if let (Some(r), Item::Segment { label, marks, .. }) = (row, item)
                && let Some(slot) = v.get_mut(r)
            {
                let m: Vec<String> = marks.into_iter().map(|m| m.text).collect();
                *slot = Some(format!("{label}\u{1}{}", m.join("; ")));
            }
        }
        v
    };
    let base = |who| {
        conn.segments
            .iter()
            .find(|s| s.src == who && !s.flags.rst())
            .map(|s| s.seq)
            .unwrap_or_default()
    };
    // Relative numbers of A's and B's sequence spaces.
    let mut spaces = [Unwrap::new(base(conn.a)), Unwrap::new(base(conn.b))];
    let mut out = String::from("[");
    let mut before = l.initial;
    for (i, (seg, row)) in conn
        .segments
        .iter()
        .zip(&l.rows)
        .enumerate()
        .take(MAX_LISTED)
    {
        let (own, other) = match row.dir {
            Dir::AtoB => (0, 1),
            Dir::BtoA => (1, 0),
        };
        let rel_seq = spaces.get_mut(own).map_or(0, |u| u.step(seg.seq));
        let rel_ack = if seg.flags.ack() {
            spaces.get_mut(other).map_or(0, |u| u.step(seg.ack))
        } else {
            0
        };
        let opts = spaces
            .get(other)
            .map_or(String::new(), |u| options_text(seg, u));
        let (label, marks) = labels
            .get(i)
            .cloned()
            .flatten()
            .and_then(|s| {
                s.split_once('\u{1}')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
            })
            .unwrap_or_default();
        if i > 0 {
            out.push(',');
        }
        let _ = write!(
            out,
            r#"{{"t":{:.3},"d":"{}","src":"{}","dst":"{}","f":"{}","seq":{},"ack":{},"rs":{rel_seq},"ra":{},"len":{},"win":{},"wraw":{},"opt":"{}","label":"{}","marks":"{}","ab":"{}","aa":"{}","bb":"{}","ba":"{}"}}"#,
            row.time_us as f64 / 1e3,
            match row.dir {
                Dir::AtoB => "A→B",
                Dir::BtoA => "B→A",
            },
            json_str(&seg.src.to_string()),
            json_str(&seg.dst.to_string()),
            json_str(&seg.flags.to_string()),
            seg.seq,
            if seg.flags.ack() {
                seg.ack.to_string()
            } else {
                "null".into()
            },
            if seg.flags.ack() {
                rel_ack.to_string()
            } else {
                "null".into()
            },
            seg.len,
            row.window,
            seg.window,
            json_str(&opts),
            json_str(&label),
            json_str(&marks),
            json_str(&state(before.0)),
            json_str(&state(row.a)),
            json_str(&state(before.1)),
            json_str(&state(row.b)),
        );
        before = after(row);
    }
    out.push(']');
    out
}

fn after(row: &Row) -> (Inferred, Inferred) {
    (row.a, row.b)
}

/// The page for connection `conn` (whose ladder is `l`), its graph drawn for `dir`; with
/// `fold`, long data phases of the ladder fold into one row.
pub fn render(conn: &Connection, l: &Ladder, dir: Dir, fold: bool) -> String {
    let g: Tsg = tsg::build(conn, l, dir);
    let rows: Vec<Option<usize>> = diagram::items_with_rows(l, fold, &[])
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    let d = Diagram::from_ladder(l, fold);
    let ladder_svg = super::svg::render_rows(&d, &rows);
    let tsg_svg = tsg::svg::render(&g);
    let title = super::svg::escape(&d.title);
    // One line each (escaping drops control characters, newlines too).
    let summary: Vec<String> = d.summary.iter().map(|l| super::svg::escape(l)).collect();
    let summary = summary.join("\n");
    let listed = if l.rows.len() > MAX_LISTED {
        format!(
            "the first {MAX_LISTED} of {} segments (the graph and ladder show all)",
            l.rows.len()
        )
    } else {
        format!("{} segments", l.rows.len())
    };
    let mut o = String::with_capacity(ladder_svg.len() + tsg_svg.len() + 64 * 1024);
    let _ = write!(
        o,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>synack trace: {title}</title>
<style>{CSS}</style></head>
<body>
<header><h1>{title}</h1><pre class="summary">{summary}</pre>
<p class="help">Click a segment in the list, the ladder or the graph; step with ↑/↓ or k/j.</p></header>
<main>
<section id="ladder" class="pane"><h2>ladder</h2>{ladder_svg}</section>
<section id="right">
<section id="graph" class="pane"><h2>time-sequence graph</h2>{tsg_svg}</section>
<section id="detail" class="pane"><h2>segment</h2><div id="detail-body">nothing selected</div></section>
</section>
</main>
<section id="list" class="pane"><h2>segments: {listed}</h2>
<table><thead><tr><th>#</th><th>time (ms)</th><th>dir</th><th>segment</th><th>A after</th><th>B after</th><th>marks</th></tr></thead><tbody id="rows"></tbody></table></section>
<pre id="test-result"></pre>
<script id="data" type="application/json">{}</script>
<script>{JS}</script>
</body></html>
"#,
        segments_json(conn, l)
    );
    o
}

const CSS: &str = r##"
body { font-family: DejaVu Sans, Helvetica, Arial, sans-serif; margin: 0 16px 16px; color: #0f172a; }
h1 { font-size: 18px; margin: 12px 0 4px; }
h2 { font-size: 13px; margin: 0 0 6px; color: #475569; text-transform: uppercase; letter-spacing: .04em; }
.summary { font-size: 12px; margin: 0; white-space: pre-wrap; color: #334155; }
.help { font-size: 12px; color: #64748b; margin: 4px 0 8px; }
main { display: flex; gap: 12px; align-items: flex-start; }
.pane { border: 1px solid #cbd5e1; border-radius: 6px; padding: 8px; background: #fff; }
#ladder { flex: 1 1 45%; max-height: 82vh; overflow: auto; }
#ladder svg { width: 100%; height: auto; }
#right { flex: 1 1 55%; display: flex; flex-direction: column; gap: 12px; }
#graph svg { width: 100%; height: auto; }
#detail-body { font-size: 13px; font-family: DejaVu Sans Mono, monospace; white-space: pre-wrap; }
#list { margin-top: 12px; max-height: 40vh; overflow: auto; }
table { border-collapse: collapse; font-size: 12px; font-family: DejaVu Sans Mono, monospace; width: 100%; }
th, td { text-align: left; padding: 2px 8px; border-bottom: 1px solid #e2e8f0; white-space: nowrap; }
th { position: sticky; top: 0; background: #f8fafc; }
tr[data-row] { cursor: pointer; }
tr.hl { background: #fde68a; }
[data-row] { cursor: pointer; }
g.hl line { stroke: #db2777 !important; stroke-width: 3.5 !important; }
g.hl text { fill: #db2777 !important; }
path.hl, circle.hl { stroke: #db2777 !important; stroke-width: 4 !important; }
.mark-bad { color: #dc2626; }
#test-result { display: none; }
"##;

const JS: &str = r##"
"use strict";
const S = JSON.parse(document.getElementById("data").textContent);
let cur = -1;
const tbody = document.getElementById("rows");
const frag = document.createDocumentFragment();
S.forEach((s, i) => {
  const tr = document.createElement("tr");
  tr.dataset.row = i;
  for (const v of [i + 1, s.t.toFixed(3), s.d, s.label || (s.f + " len=" + s.len), s.aa, s.ba, s.marks]) {
    const td = document.createElement("td");
    td.textContent = v;
    tr.appendChild(td);
  }
  frag.appendChild(tr);
});
tbody.appendChild(frag);

function detail(i) {
  const s = S[i];
  const lines = [
    "#" + (i + 1) + " at " + s.t.toFixed(3) + " ms, " + s.d + " (" + s.src + " → " + s.dst + ")",
    "flags   " + s.f,
    "seq     " + s.seq + " (relative " + s.rs + ")",
    "ack     " + (s.ack === null ? "-" : s.ack + " (relative " + s.ra + ")"),
    "len     " + s.len,
    "window  " + s.win + " bytes (field " + s.wraw + ")",
    "options " + (s.opt || "-"),
    "marks   " + (s.marks || "-"),
    "",
    "A       " + s.ab + " → " + s.aa,
    "B       " + s.bb + " → " + s.ba,
  ];
  document.getElementById("detail-body").textContent = lines.join("\n");
}

function select(i, scroll) {
  if (!(i >= 0 && i < S.length)) return;
  document.querySelectorAll(".hl").forEach((e) => e.classList.remove("hl"));
  const els = document.querySelectorAll('[data-row="' + i + '"]');
  els.forEach((e) => e.classList.add("hl"));
  cur = i;
  detail(i);
  if (scroll) {
    els.forEach((e) => {
      if (e.tagName === "TR" || e.closest("#ladder")) e.scrollIntoView({ block: "nearest" });
    });
  }
}

document.addEventListener("click", (e) => {
  const el = e.target.closest("[data-row]");
  if (el) select(Number(el.dataset.row), true);
});
document.addEventListener("keydown", (e) => {
  if (e.key === "ArrowDown" || e.key === "j") { select(cur + 1, true); e.preventDefault(); }
  else if (e.key === "ArrowUp" || e.key === "k") { select(Math.max(cur - 1, 0), true); e.preventDefault(); }
});

if (location.hash.startsWith("#test")) {
  const want = location.hash.slice(6);
  const mark = want
    ? document.querySelector('#graph [data-row="' + want + '"]')
    : document.querySelector("#graph path.bar[data-row]");
  const out = { segments: S.length };
  if (mark) {
    mark.dispatchEvent(new MouseEvent("click", { bubbles: true }));
    out.clicked = Number(mark.dataset.row);
    out.selected = cur;
    out.highlighted = {
      ladder: document.querySelectorAll("#ladder .hl").length,
      graph: document.querySelectorAll("#graph .hl").length,
      list: document.querySelectorAll("#list .hl").length,
    };
    out.detail = document.getElementById("detail-body").textContent;
    document.dispatchEvent(new KeyboardEvent("keydown", { key: "j", bubbles: true }));
    out.after_j = cur;
    document.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowDown", bubbles: true }));
    out.after_down = cur;
    document.dispatchEvent(new KeyboardEvent("keydown", { key: "k", bubbles: true }));
    out.after_k = cur;
    out.list_highlight = (document.querySelector("#list tr.hl") || {}).dataset?.row ?? null;
  }
  document.getElementById("test-result").textContent = JSON.stringify(out);
}
"##;
