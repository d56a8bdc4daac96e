//! What the trace calls each odd segment, exactly, on two small hand-made captures written by
//! tests/fixtures/trace/make-heuristics.py: out of order vs retransmission vs spurious
//! retransmission, and zero-window probes vs keep-alives (and the ACKs answering probes,
//! which are not duplicate ACKs).

use std::path::PathBuf;
use synack::trace::tsg::{self, BarKind};
use synack::trace::{self, Dir, Ladder, Marks};

fn ladder(name: &str) -> (Ladder, trace::Connection) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/trace")
        .join(name);
    let mut t = trace::trace_file_keeping(&path).expect("fixture traces");
    assert_eq!(t.ladders.len(), 1);
    (t.ladders.remove(0), t.connections.remove(0))
}

/// The rows carrying `m`.
fn marked(l: &Ladder, m: Marks) -> Vec<usize> {
    (0..l.rows.len())
        .filter(|&i| l.rows[i].marks.contains(m))
        .collect()
}

#[test]
fn reordered_vs_retransmitted_vs_spurious() {
    let (l, c) = ladder("heuristics-retransmissions.pcap");
    // Row 5 fills the hole 10 µs after the data past it: never seen, nobody asked for it.
    assert_eq!(marked(&l, Marks::OUT_OF_ORDER), [5]);
    assert_eq!(marked(&l, Marks::PREVIOUS_NOT_CAPTURED), [4]);
    // Row 10 resends what B asked for (ACK 401); row 12 resends it after B acknowledged it.
    assert_eq!(marked(&l, Marks::RETRANSMISSION), [10, 12]);
    assert_eq!(marked(&l, Marks::SPURIOUS), [12]);
    assert_eq!(l.stats.retransmissions, [2, 0]);
    assert_eq!(l.stats.spurious, [1, 0]);
    assert_eq!(l.stats.out_of_order, 1);
    assert_eq!(l.stats.bytes, [500, 0]);
    assert_eq!(marked(&l, Marks::DUP_ACK), Vec::<usize>::new());
    let summary = trace::diagram::summary_lines(&l);
    assert!(
        summary.contains(
            &"retransmissions: A→B 2, B→A 0 (spurious: A→B 1, B→A 0); duplicate ACKs 0; out of order 1; zero windows 0"
                .to_string()
        ),
        "{summary:#?}"
    );
    let g = tsg::build(&c, &l, Dir::AtoB);
    let odd: Vec<(usize, BarKind)> = g
        .bars
        .iter()
        .filter(|b| b.kind != BarKind::New)
        .map(|b| (b.row, b.kind))
        .collect();
    assert_eq!(
        odd,
        [
            (5, BarKind::OutOfOrder),
            (10, BarKind::Retransmission),
            (12, BarKind::SpuriousRetransmission)
        ]
    );
}

#[test]
fn zero_window_probes_vs_keep_alives() {
    let (l, c) = ladder("heuristics-probes.pcap");
    assert_eq!(marked(&l, Marks::ZERO_WINDOW), [4, 6, 8]);
    // A one-byte probe at SND.NXT (row 5), then bare ones at SND.UNA − 1 (rows 7 and 9).
    assert_eq!(marked(&l, Marks::WINDOW_PROBE), [5, 7, 9]);
    // After idle time with the window open: bare (row 13) and with one old byte (row 15).
    assert_eq!(marked(&l, Marks::KEEP_ALIVE), [13, 15]);
    // The zero windows repeated answer the probes; they are not duplicate ACKs.
    assert_eq!(marked(&l, Marks::DUP_ACK), Vec::<usize>::new());
    // Row 11 sends the probe's byte again with the data after it: how probing ends, not a
    // retransmission.
    assert_eq!(marked(&l, Marks::RETRANSMISSION), Vec::<usize>::new());
    assert_eq!(l.stats.bytes, [200, 0]);
    assert_eq!(l.stats.zero_windows, 3);
    let g = tsg::build(&c, &l, Dir::AtoB);
    let odd: Vec<(usize, BarKind)> = g
        .bars
        .iter()
        .filter(|b| b.kind != BarKind::New)
        .map(|b| (b.row, b.kind))
        .collect();
    // Bare probes and keep-alives take no sequence space, but are drawn (bars of no length).
    assert_eq!(
        odd,
        [
            (5, BarKind::WindowProbe),
            (7, BarKind::WindowProbe),
            (9, BarKind::WindowProbe),
            (13, BarKind::KeepAlive),
            (15, BarKind::KeepAlive)
        ]
    );
    let zero: Vec<usize> = g
        .events
        .iter()
        .filter(|e| e.kind == tsg::EventKind::ZeroWindow)
        .map(|e| e.row)
        .collect();
    assert_eq!(zero, [4, 6, 8]);
}

/// The generator script writes exactly the committed fixtures.
#[test]
fn fixtures_match_their_generator() {
    let dir = std::env::temp_dir().join(format!("synack-heur-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/trace");
    let Ok(out) = std::process::Command::new("python3")
        .arg(root.join("make-heuristics.py"))
        .arg(&dir)
        .output()
    else {
        eprintln!("skipped: python3 is not installed");
        return;
    };
    assert!(out.status.success(), "{out:?}");
    for name in ["heuristics-retransmissions.pcap", "heuristics-probes.pcap"] {
        assert_eq!(
            std::fs::read(dir.join(name)).unwrap(),
            std::fs::read(root.join(name)).unwrap(),
            "{name}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
