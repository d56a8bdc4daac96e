//! The time-sequence graph, the HTML page and the live reader never panic, whatever the
//! capture: fixtures with random bytes flipped and cut anywhere, and random bytes after a
//! valid pcap header.

use proptest::prelude::*;
use std::path::PathBuf;
use synack::trace::{self, Dir, live, tsg};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/trace")
        .join(name);
    std::fs::read(path).expect("fixture")
}

const NAMES: [&str; 11] = [
    "halfclose-lo-ethernet.pcap",
    "halfclose.pcapng",
    "ipv6-halfclose-sll2.pcap",
    "refused.pcap",
    "reset-linger0.pcap",
    "simultaneous-close.pcap",
    "lossy-snap96.pcap",
    "mid-connection.pcap",
    "partial-overlap.pcap",
    "heuristics-retransmissions.pcap",
    "heuristics-probes.pcap",
];

/// Everything this branch draws, from one capture in memory.
fn draw_all(bytes: &[u8]) {
    if let Ok(t) = trace::trace_reader_keeping(bytes) {
        for (l, c) in t.ladders.iter().zip(&t.connections) {
            for d in [Dir::AtoB, Dir::BtoA] {
                let g = tsg::build(c, l, d);
                let svg = tsg::svg::render(&g);
                assert!(svg.trim_end().ends_with("</svg>"));
                let _ = trace::html::render(c, l, d, true);
            }
        }
    }
    for fold in [true, false] {
        let _ = trace::diagrams_reader(bytes, fold);
    }
    let opts = live::LiveOptions {
        color: true,
        fold: true,
        conn: None,
    };
    let mut out = Vec::new();
    let _ = live::run(bytes, &mut out, opts);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn mutated_fixtures_never_panic_the_graph_page_or_live_reader(
        which in 0usize..NAMES.len(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..24),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = fixture(NAMES[which]);
        for (at, v) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= v;
        }
        draw_all(&bytes);
        let n = cut.index(bytes.len() + 1);
        draw_all(&bytes[..n]);
    }

    #[test]
    fn random_records_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let mut pcap = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 101, 0, 0, 0];
        pcap.extend_from_slice(&bytes);
        draw_all(&pcap);
        draw_all(&bytes);
    }
}
