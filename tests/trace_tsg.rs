//! `synack trace --tsg`: the time-sequence graph of the fixtures under tests/fixtures/trace/
//! and of a lossy capture the demo writes, checked against the ladder's own counts, and
//! rendered in headless Chromium (skipped without it unless `SYNACK_REQUIRE_BROWSER=1`).

use std::path::{Path, PathBuf};
use std::process::Command;
use synack::trace::tsg::{self, BarKind, EventKind, RttSource};
use synack::trace::{self, Dir};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures/trace").join(name)
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("synack-tsg-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn synack(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(args)
        .output()
        .expect("synack runs")
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// The graph of the only connection of `pcap` in direction `dir`, and its ladder's counts.
fn graph(pcap: &Path, dir: Dir) -> (tsg::Tsg, trace::Ladder) {
    let t = trace::trace_file_keeping(pcap).expect("traces");
    let (l, c) = (t.ladders.first().expect("a ladder"), &t.connections[0]);
    (tsg::build(c, l, dir), l.clone())
}

#[test]
fn every_fixture_draws_a_complete_graph_both_ways() {
    let dir = temp_dir("fixtures");
    let mut names: Vec<String> = std::fs::read_dir(root().join("tests/fixtures/trace"))
        .expect("fixtures")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".pcap") || n.ends_with(".pcapng"))
        .collect();
    names.sort();
    assert!(names.len() >= 9, "{names:?}");
    for name in &names {
        for d in ["a2b", "b2a"] {
            let out = dir.join(format!("{name}-{d}.svg"));
            let r = synack(&[
                "trace",
                path(&fixture(name)),
                "--tsg",
                path(&out),
                "--dir",
                d,
            ]);
            assert!(r.status.success(), "{name} {d}: {r:?}");
            let svg = std::fs::read_to_string(&out).expect("svg written");
            assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
            assert!(svg.contains(">retransmission<") && svg.contains(">window edge<"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// tests/fixtures/trace/partial-overlap.pcap: one resend over a hole, after two duplicate
/// ACKs, and no SACK (the receiver did not offer it).
#[test]
fn partial_overlap_fixture_graph_is_exact() {
    let (g, l) = graph(&fixture("partial-overlap.pcap"), Dir::AtoB);
    assert_eq!(tsg::busiest(&l), Dir::AtoB);
    let odd: Vec<(usize, BarKind)> = g
        .bars
        .iter()
        .filter(|b| b.kind != BarKind::New)
        .map(|b| (b.row, b.kind))
        .collect();
    assert_eq!(odd, [(9, BarKind::Retransmission)]);
    let dups: Vec<(usize, i64)> = g
        .events
        .iter()
        .filter(|e| e.kind == EventKind::DupAck)
        .map(|e| (e.row, e.seq))
        .collect();
    assert_eq!(dups, [(6, 101), (8, 101)]);
    assert!(g.sacks.is_empty());
    assert_eq!(g.throughput.iter().sum::<u64>(), l.stats.bytes[0]);
    assert_eq!(
        g.bars.first().map(|b| (b.start, b.end, b.syn)),
        Some((0, 1, true))
    );
}

/// A demo connection over a lossy link: the graph's retransmission bars are the ladder's
/// retransmissions, its throughput adds up to the bytes, SACK blocks show, and every RTT
/// sample is at least the link's one-way delay (the demo's pcap records each packet as it
/// is sent, so an ACK leaves at least one delay after the data did).
#[test]
fn lossy_demo_capture_graph_agrees_with_the_ladder() {
    let dir = temp_dir("lossy");
    let pcap = dir.join("lossy.pcap");
    let r = synack(&[
        "demo",
        "--loss",
        "3",
        "--seed",
        "5",
        "--bytes",
        "300000",
        "--pcap",
        path(&pcap),
    ]);
    assert!(r.status.success(), "{r:?}");
    for (d, k) in [(Dir::AtoB, 0), (Dir::BtoA, 1)] {
        let (g, l) = graph(&pcap, d);
        let count = |kind| g.bars.iter().filter(|b| b.kind == kind).count() as u64;
        let spurious = count(BarKind::SpuriousRetransmission);
        let resent = count(BarKind::Retransmission) + spurious;
        assert_eq!(resent, l.stats.retransmissions[k], "{d:?}");
        assert_eq!(spurious, l.stats.spurious[k], "{d:?}");
        assert!(resent > 0, "{d:?}: the loss shows");
        assert_eq!(g.throughput.iter().sum::<u64>(), l.stats.bytes[k]);
        assert!(!g.sacks.is_empty(), "{d:?}: SACK blocks");
        assert!(g.rtt.iter().any(|s| s.source == RttSource::Ack));
        assert!(g.rtt.iter().any(|s| s.source == RttSource::Timestamp));
        assert!(g.rtt.iter().all(|s| s.rtt_us >= 10_000), "{d:?}");
        let mut last = i64::MIN;
        for a in &g.acks {
            assert!(a.ack >= last, "{d:?}: the ACK line never falls");
            last = a.ack;
        }
    }
    let svg = dir.join("lossy.svg");
    let r = synack(&["trace", path(&pcap), "--tsg", path(&svg)]);
    assert!(r.status.success(), "{r:?}");
    let text = std::fs::read_to_string(&svg).expect("svg");
    assert!(
        text.contains(r##"stroke="#dc2626""##),
        "retransmission bars drawn"
    );
    assert!(text.contains(r#"class="seg sack""#), "SACK drawn");
    if browser_available() {
        let out = Command::new(root().join(".ci/check-svg"))
            .arg(&svg)
            .output()
            .expect(".ci/check-svg runs");
        assert!(out.status.success(), "{out:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tsg_cli_errors_say_what_to_do() {
    let r = synack(&[
        "trace",
        path(&fixture("refused.pcap")),
        "--tsg",
        "/nonexistent-dir/x.svg",
    ]);
    assert!(!r.status.success());
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(err.contains("cannot write /nonexistent-dir/x.svg"), "{err}");
    assert!(err.contains("check the directory exists"), "{err}");
    let r = synack(&[
        "trace",
        path(&fixture("refused.pcap")),
        "--tsg",
        "/tmp/x.svg",
        "--dir",
        "sideways",
    ]);
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("a2b"));
}

fn browser_available() -> bool {
    let found = ["chromium", "chromium-browser"].iter().any(|b| {
        Command::new("sh")
            .args(["-c", &format!("command -v {b}")])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !found {
        assert!(
            std::env::var("SYNACK_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "SYNACK_REQUIRE_BROWSER=1 but chromium is not installed (apt-get install -y chromium)"
        );
        eprintln!("skipped: chromium is not installed (apt-get install -y chromium)");
    }
    found
}

/// `--qlog` draws the sender's own view beneath the graph: its congestion window, bytes in
/// flight and ssthresh from the qlog the demo recorded in the same run, on the capture's
/// clock, with its recoveries shaded; a qlog of another run is said not to match.
#[test]
fn tsg_with_the_senders_qlog_draws_its_window_and_recoveries() {
    let dir = temp_dir("qlog");
    let (pcap, qlog, svg) = (dir.join("d.pcap"), dir.join("d.json"), dir.join("d.svg"));
    let out = synack(&[
        "demo",
        "--loss",
        "2",
        "--seed",
        "3",
        "--bytes",
        "150000",
        "--pcap",
        path(&pcap),
        "--qlog",
        path(&qlog),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = synack(&[
        "trace",
        path(&pcap),
        "--tsg",
        path(&svg),
        "--qlog",
        path(&qlog),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    let text = std::fs::read_to_string(&svg).unwrap();
    for class in [
        "view cwnd",
        "view in flight",
        "view ssthresh",
        "view recovery",
    ] {
        assert!(
            text.contains(&format!("class=\"{class}\"")),
            "no {class} in the graph"
        );
    }
    // The model: the sender's samples fall within the graph's time and start in slow start.
    let (mut g, _) = graph(&pcap, Dir::BtoA);
    let series = synack::qlog::read_series(&std::fs::read_to_string(&qlog).unwrap()).unwrap();
    assert!(g.attach_sender_view(&series));
    let v = g.sender_view.as_ref().unwrap();
    assert!(v.points.len() > 10);
    assert_eq!(v.points[0].phase, "slow_start");
    assert!(v.points.iter().all(|p| p.t_us <= g.duration_us));
    assert!(v.points.iter().any(|p| p.phase == "recovery"));
    // Another run's qlog names other ports: said, and the graph is drawn without it.
    let other = dir.join("o.json");
    let out = synack(&["demo", "--seed", "4", "--qlog", path(&other)]);
    assert!(out.status.success());
    let out = synack(&[
        "trace",
        path(&pcap),
        "--tsg",
        path(&svg),
        "--qlog",
        path(&other),
    ]);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("has no sender view of"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).ok();
}
