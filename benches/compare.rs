//! `cargo bench --bench compare [-- --quick]`: synack and smoltcp side by side on one harness.
//!
//! Both stacks run in this thread, two hosts each, over the same in-memory link (or the same
//! modelled lossy path), with the same MTU, buffer sizes and checksums (on), taking their time
//! from the same clock. Prints one table, ratio = synack / smoltcp oriented so that higher is
//! better for synack, and writes it to `compare.json` in the target directory
//! (`CARGO_TARGET_DIR`, or wherever cargo built this benchmark). Without `--bench` (as
//! `cargo test --all-targets` runs it) it does a tiny smoke run that only checks everything
//! still works. No figure is asserted.

#[path = "compare/alloc.rs"]
mod alloc;
#[path = "compare/harness.rs"]
mod harness;
#[path = "compare/smol_side.rs"]
mod smol_side;
#[path = "compare/synack_side.rs"]
mod synack_side;

use harness::{Link, PathModel};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use synack::time::Duration;

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

/// Host A (client side) and host B (server side).
pub const IP_A: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1));
/// See [`IP_A`].
pub const IP_B: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2));
/// Longest any single run may take before the harness gives up.
pub const WALL_LIMIT: std::time::Duration = std::time::Duration::from_secs(900);

/// One run's parameters, identical for both stacks.
#[derive(Clone, Copy)]
pub struct Setup {
    pub mtu: usize,
    /// Send and receive buffer, each.
    pub buffer: usize,
    /// How long to run (bulk: on the rig's clock; lifecycles: wall time).
    pub duration: Duration,
    /// Run exactly this much instead (`--count N`, for instruction profiles): lifecycles, or
    /// for bulk rows MiB delivered.
    pub count: Option<u64>,
    /// The modelled path, or `None` for the in-memory link.
    pub path: Option<PathModel>,
}

impl Setup {
    /// The lifecycle rows' setup: MTU 1500, 64 KiB buffers, in-memory link.
    pub fn lifecycle() -> Self {
        Setup {
            mtu: 1500,
            buffer: 64 * 1024,
            duration: Duration::ZERO,
            count: None,
            path: None,
        }
    }

    /// The links A → B and B → A.
    pub fn links(&self) -> (Link, Link) {
        match self.path {
            Some(p) => (
                Link::modelled(p),
                Link::modelled(PathModel { seed: !p.seed, ..p }),
            ),
            None => (Link::instant(), Link::instant()),
        }
    }
}

/// Completed lifecycles over some wall time.
pub struct Lifecycles {
    pub count: u64,
    pub secs: f64,
}

impl Lifecycles {
    fn rate(&self) -> f64 {
        self.count as f64 / self.secs
    }
}

/// How long and how large the runs are.
struct Scale {
    label: &'static str,
    /// `--only NAME[,NAME...]`: run only these rows (for profiling).
    only: Option<String>,
    /// `--stack synack|smoltcp`: run only that stack's side (for profiling).
    stack: Option<String>,
    /// `--count N`: lifecycle rows run N lifecycles, bulk rows deliver N MiB, instead of
    /// running for a time.
    count: Option<u64>,
    bulk: Duration,
    life: Duration,
    idle_small: usize,
    idle_large: usize,
    idle_mem: usize,
    lossy: Duration,
}

impl Scale {
    fn from_args() -> Self {
        let args: Vec<String> = std::env::args().collect();
        let has = |a: &str| args.iter().any(|x| x == a);
        let ms = Duration::from_millis;
        let value = |flag: &str| {
            let i = args.iter().position(|a| a == flag)?;
            args.get(i + 1).cloned()
        };
        let (only, stack) = (value("--only"), value("--stack"));
        let count = value("--count").and_then(|n| n.parse().ok());
        if !has("--bench") {
            return Scale {
                only,
                stack,
                count,
                label: "smoke (no --bench: checks that every row runs, figures meaningless)",
                bulk: ms(20),
                life: ms(20),
                idle_small: 100,
                idle_large: 200,
                idle_mem: 1000,
                lossy: ms(300),
            };
        }
        if has("--quick") {
            return Scale {
                only,
                stack,
                count,
                label: "quick",
                bulk: ms(400),
                life: ms(400),
                idle_small: 10_000,
                idle_large: 20_000,
                idle_mem: 100_000,
                lossy: ms(2000),
            };
        }
        Scale {
            only,
            stack,
            count,
            label: "full",
            bulk: ms(2000),
            life: ms(2000),
            idle_small: 10_000,
            idle_large: 100_000,
            idle_mem: 1_000_000,
            lossy: ms(10_000),
        }
    }
}

impl Scale {
    /// Whether the row `name` is to be run.
    fn wants(&self, name: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|o| o.split(',').any(|n| n == name))
    }

    /// Runs `f` if `stack` is to be run, else gives NaN (shown as "null").
    fn side(&self, stack: &str, f: impl FnOnce() -> f64) -> f64 {
        match &self.stack {
            Some(s) if s != stack => f64::NAN,
            _ => f(),
        }
    }
}

/// One row of the table and of the JSON.
struct Row {
    name: &'static str,
    unit: &'static str,
    synack: f64,
    smoltcp: Option<f64>,
    /// Higher is better for synack.
    ratio: Option<f64>,
    note: String,
}

impl Row {
    /// A row where more is better.
    fn more(name: &'static str, unit: &'static str, synack: f64, smoltcp: f64) -> Self {
        Row {
            name,
            unit,
            synack,
            smoltcp: Some(smoltcp),
            ratio: Some(synack / smoltcp),
            note: String::new(),
        }
    }

    fn note(mut self, note: impl Into<String>) -> Self {
        self.note = note.into();
        self
    }
}

const KIB: usize = 1024;
/// Buffers of the idle smoltcp sockets (its sockets need preallocated buffers; 64 KiB each
/// way times 100,000 sockets times two hosts would not fit in memory).
const SMOL_IDLE_BUFFER: usize = KIB;

fn bulk_rows(sc: &Scale, rows: &mut Vec<Row>) {
    for (name, mtu, buffer) in [
        ("bulk_mtu1500_64k", 1500, 64 * KIB),
        ("bulk_mtu1500_1m", 1500, 1024 * KIB),
        ("bulk_mtu65535_64k", 65535, 64 * KIB),
        ("bulk_mtu65535_1m", 65535, 1024 * KIB),
    ] {
        if !sc.wants(name) {
            continue;
        }
        let s = Setup {
            mtu,
            buffer,
            duration: sc.bulk,
            count: sc.count,
            path: None,
        };
        let mbps = |(bytes, secs): (u64, f64)| bytes as f64 / secs / 1e6;
        let syn = sc.side("synack", || mbps(synack_side::bulk(&s)));
        let smo = sc.side("smoltcp", || mbps(smol_side::bulk(&s)));
        rows.push(Row::more(name, "MB/s", syn, smo));
    }
}

fn lifecycle_rows(sc: &Scale, rows: &mut Vec<Row>) {
    if !["lifecycles", "lifecycles_idle_10k", "lifecycles_idle_100k"]
        .iter()
        .any(|n| sc.wants(n))
    {
        return;
    }
    let s = Setup {
        duration: sc.life,
        count: sc.count,
        ..Setup::lifecycle()
    };
    let syn0 = sc.side("synack", || synack_side::lifecycles(&s, 0).rate());
    let smo0 = sc.side("smoltcp", || {
        smol_side::lifecycles(&s, 0, SMOL_IDLE_BUFFER).rate()
    });
    rows.push(
        Row::more("lifecycles", "lifecycles/s", syn0, smo0)
            .note("synack: fresh connections via listener; smoltcp: one reused socket pair"),
    );
    for (name, idle) in [
        ("lifecycles_idle_10k", sc.idle_small),
        ("lifecycles_idle_100k", sc.idle_large),
    ] {
        if !sc.wants(name) {
            continue;
        }
        let syn = sc.side("synack", || synack_side::lifecycles(&s, idle).rate());
        let mut smo_count = 0;
        let smo = sc.side("smoltcp", || {
            let l = smol_side::lifecycles(&s, idle, SMOL_IDLE_BUFFER);
            smo_count = l.count;
            l.rate()
        });
        let note = format!(
            "{idle} idle; synack {:.0}% of no-idle rate; smoltcp {smo_count} lifecycles measured",
            100.0 * syn / syn0,
        );
        rows.push(Row::more(name, "lifecycles/s", syn, smo).note(note));
    }
}

fn memory_rows(sc: &Scale, rows: &mut Vec<Row>) {
    if !["bytes_per_idle_conn", "bytes_idle_1m"]
        .iter()
        .any(|n| sc.wants(n))
    {
        return;
    }
    let n = sc.idle_small;
    let (heap, acct) = synack_side::idle_memory(n);
    let smo = smol_side::bytes_per_conn(64 * KIB) as f64;
    rows.push(Row {
        name: "bytes_per_idle_conn",
        unit: "bytes",
        synack: heap,
        smoltcp: Some(smo),
        ratio: Some(smo / heap),
        note: format!(
            "synack: heap delta over {n} idle (stack's own accounting {acct:.0}); \
             smoltcp: socket slot + 2x64 KiB buffers"
        ),
    });
    let m = sc.idle_mem;
    let (heap_m, _) = synack_side::idle_memory(m);
    let total = heap_m * 1_000_000.0;
    let note = if m == 1_000_000 {
        "measured with 1,000,000 idle".to_string()
    } else {
        format!("extrapolated from {m} idle")
    };
    rows.push(Row {
        name: "bytes_idle_1m",
        unit: "bytes",
        synack: total,
        smoltcp: None,
        ratio: None,
        note,
    });
}

fn lossy_rows(sc: &Scale, rows: &mut Vec<Row>) {
    if !["lossy_goodput", "lossy_goodput_vs_capacity"]
        .iter()
        .any(|n| sc.wants(n))
    {
        return;
    }
    let path = PathModel {
        bits_per_sec: 1_000_000_000,
        one_way: Duration::from_millis(5),
        loss_per_million: 10_000,
        queue_bytes: 1_250_000,
        seed: 0x5eed,
    };
    let s = Setup {
        mtu: 1500,
        buffer: 4096 * KIB,
        duration: sc.lossy,
        count: None,
        path: Some(path),
    };
    let mbps = |(bytes, secs): (u64, f64)| bytes as f64 / secs / 1e6;
    let syn = sc.side("synack", || mbps(synack_side::bulk(&s)));
    let smo = sc.side("smoltcp", || mbps(smol_side::bulk(&s)));
    // The most payload the path carries: link rate times 1460 payload bytes per 1500.
    let capacity = path.bits_per_sec as f64 / 8.0 / 1e6 * 1460.0 / 1500.0;
    let secs = sc.lossy.as_secs_f64();
    rows.push(Row::more("lossy_goodput", "MB/s", syn, smo).note(format!(
        "1 Gbit/s, 10 ms RTT, 1% loss each way, {secs} s; each its best: synack BBR, smoltcp CUBIC"
    )));
    rows.push(
        Row::more(
            "lossy_goodput_vs_capacity",
            "%",
            100.0 * syn / capacity,
            100.0 * smo / capacity,
        )
        .note(format!("path payload capacity {capacity:.1} MB/s")),
    );
}

fn num(x: Option<f64>) -> String {
    match x {
        Some(v) if v.is_finite() => format!("{v:.4}"),
        _ => "null".to_string(),
    }
}

fn json(rows: &[Row]) -> String {
    let mut out = String::from("{\"rows\": [\n");
    for (i, r) in rows.iter().enumerate() {
        let sep = if i + 1 < rows.len() { "," } else { "" };
        let _ = writeln!(
            out,
            "  {{\"name\": \"{}\", \"unit\": \"{}\", \"synack\": {}, \"smoltcp\": {}, \"ratio\": {}}}{sep}",
            r.name,
            r.unit,
            num(Some(r.synack)),
            num(r.smoltcp),
            num(r.ratio)
        );
    }
    out.push_str("]}\n");
    out
}

fn fmt(x: Option<f64>) -> String {
    match x {
        Some(v) if v >= 1e6 => format!("{:.3e}", v),
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.2}"),
        None => "-".to_string(),
    }
}

fn table(rows: &[Row]) -> String {
    let mut out = format!(
        "{:<27} {:>13} {:>12} {:>12} {:>7}  note\n",
        "row", "unit", "synack", "smoltcp", "ratio"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:<27} {:>13} {:>12} {:>12} {:>7}  {}",
            r.name,
            r.unit,
            fmt(Some(r.synack)),
            fmt(r.smoltcp),
            r.ratio.map_or("-".to_string(), |x| format!("{x:.2}x")),
            r.note
        );
    }
    out
}

fn main() {
    let sc = Scale::from_args();
    println!("synack vs smoltcp 0.14, {} run", sc.label);
    let started = std::time::Instant::now();
    let mut rows = Vec::new();
    bulk_rows(&sc, &mut rows);
    lifecycle_rows(&sc, &mut rows);
    memory_rows(&sc, &mut rows);
    lossy_rows(&sc, &mut rows);
    print!("{}", table(&rows));
    println!("({:.1} s)", started.elapsed().as_secs_f64());
    if sc.label.starts_with("smoke") || sc.only.is_some() || sc.stack.is_some() {
        return;
    }
    let path = target_dir().join("compare.json");
    match std::fs::write(&path, json(&rows)) {
        Ok(()) => println!("wrote {}", path.display()),
        Err(e) => eprintln!("could not write {}: {e}", path.display()),
    }
}

/// Where cargo builds: `CARGO_TARGET_DIR` if set, else the directory above the profile
/// directory this benchmark runs from (`<target>/release/deps/compare-…`), which also finds a
/// target directory set in cargo's configuration; `target/` in the crate as a last resort.
fn target_dir() -> std::path::PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return dir.into();
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            let deps = exe.parent()?;
            (deps.file_name()? == "deps").then(|| deps.parent()?.parent().map(Into::into))?
        })
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}
