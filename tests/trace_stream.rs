//! `synack trace FILE` draws ladders as it reads, in bounded memory
//! ([`trace::diagrams_reader`]): the diagrams must be exactly those drawn from the whole
//! inferred ladders, folded or not, and the time-sequence graphs built as the capture is read
//! exactly those built from whole connections, on every fixture and on lossy demo captures.

use std::path::PathBuf;
use std::process::Command;
use synack::trace::{self, Dir, Draw, diagram::Diagram, tsg};

/// The graph built as the capture is read equals the one built from the whole connection.
fn same_graphs(name: &str, bytes: &[u8]) {
    let t = trace::trace_reader_keeping(bytes).expect("traces");
    for (k, (l, c)) in t.ladders.iter().zip(&t.connections).enumerate() {
        for dir in [None, Some(Dir::AtoB), Some(Dir::BtoA)] {
            let want = tsg::build(c, l, dir.unwrap_or_else(|| tsg::busiest(l)));
            let drawn = trace::draw_reader(
                bytes,
                Draw {
                    fold: true,
                    graph: Some((k + 1, dir)),
                },
            )
            .expect("draws");
            assert_eq!(drawn.graph.as_ref(), Some(&want), "{name} #{k} {dir:?}");
        }
    }
}

fn same_both_ways(name: &str, bytes: &[u8]) {
    same_graphs(name, bytes);
    let t = trace::trace_reader(bytes).expect("traces");
    for fold in [true, false] {
        let batch: Vec<Diagram> = t
            .ladders
            .iter()
            .map(|l| Diagram::from_ladder(l, fold))
            .collect();
        let drawn = trace::diagrams_reader(bytes, fold).expect("draws");
        assert_eq!((drawn.packets, drawn.skipped), (t.packets, t.skipped));
        assert_eq!(drawn.diagrams.len(), batch.len(), "{name}");
        for (k, (s, b)) in drawn.diagrams.iter().zip(&batch).enumerate() {
            assert_eq!(s.title, b.title, "{name} #{k} fold={fold}");
            assert_eq!(s.initial, b.initial, "{name} #{k} fold={fold}");
            assert_eq!(s.summary, b.summary, "{name} #{k} fold={fold}");
            for (i, (x, y)) in s.items.iter().zip(&b.items).enumerate() {
                assert_eq!(x, y, "{name} #{k} fold={fold} item {i}");
            }
            assert_eq!(s.items.len(), b.items.len(), "{name} #{k} fold={fold}");
        }
    }
}

#[test]
fn streamed_diagrams_equal_the_whole_ladders_on_every_fixture() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/trace");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).expect("fixtures") {
        let path = e.expect("entry").path();
        let name = path.display().to_string();
        if name.ends_with(".pcap") || name.ends_with(".pcapng") {
            same_both_ways(&name, &std::fs::read(&path).expect("read"));
            n += 1;
        }
    }
    assert!(n >= 11);
}

#[test]
fn streamed_diagrams_equal_the_whole_ladders_on_lossy_demo_captures() {
    let dir = std::env::temp_dir().join(format!("synack-stream-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    for (seed, loss) in [("1", "0"), ("5", "3"), ("9", "10")] {
        let pcap = dir.join(format!("demo-{seed}.pcap"));
        let r = Command::new(env!("CARGO_BIN_EXE_synack"))
            .args([
                "demo", "--seed", seed, "--loss", loss, "--bytes", "200000", "--pcap",
            ])
            .arg(&pcap)
            .output()
            .expect("demo runs");
        assert!(r.status.success(), "{r:?}");
        same_both_ways(
            &pcap.display().to_string(),
            &std::fs::read(&pcap).expect("read"),
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A capture of one direction only: no segment ever gets its lookahead, so past
/// `MAX_PENDING` the oldest are inferred without it. Every row still comes out, and the
/// counts match the whole-connection ladder's.
#[test]
fn one_way_capture_beyond_the_lookahead_queue_still_draws_every_row() {
    let dir = std::env::temp_dir().join(format!("synack-oneway-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let pcap = dir.join("demo.pcap");
    let r = Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(["demo", "--bytes", "40000000", "--pcap"])
        .arg(&pcap)
        .output()
        .expect("demo runs");
    assert!(r.status.success(), "{r:?}");
    let bytes = std::fs::read(&pcap).expect("read");
    assert_eq!(
        &bytes[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "a little-endian pcap"
    );
    let link = u32::from_le_bytes(bytes[20..24].try_into().unwrap());
    let mut one_way = bytes[..24].to_vec();
    let mut at = 24;
    let mut kept = 0usize;
    while at + 16 <= bytes.len() {
        let incl = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        let orig = u32::from_le_bytes(bytes[at + 12..at + 16].try_into().unwrap());
        let record = &bytes[at..at + 16 + incl];
        let seg = trace::capture::decode(link, &record[16..], orig).expect("TCP");
        if seg.src.port() != 80 {
            one_way.extend_from_slice(record);
            kept += 1;
        }
        at += 16 + incl;
    }
    assert!(kept > trace::infer::MAX_PENDING + 1000, "{kept} segments");
    let drawn = trace::diagrams_reader(&one_way[..], true).expect("draws");
    let t = trace::trace_reader(&one_way[..]).expect("traces");
    let (d, l) = (&drawn.diagrams[0], &t.ladders[0]);
    assert!(
        d.title.ends_with(&format!("{kept} segments")),
        "{}",
        d.title
    );
    let whole = Diagram::from_ladder(l, true);
    assert_eq!(d.summary[1..3], whole.summary[1..3]);
    let _ = std::fs::remove_dir_all(&dir);
}
