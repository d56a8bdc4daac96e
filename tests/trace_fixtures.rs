//! `synack trace` on captures kept under tests/fixtures/trace/: exact states, symbols and
//! marks, every link type we ship a fixture for, bad input, and a never-panic property.

use proptest::prelude::*;
use std::path::PathBuf;
use std::process::Command;
use synack::trace::diagram::{Diagram, Item};
use synack::trace::{self, Ending, Ladder, Marks, TraceError};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/trace")
        .join(name)
}

fn only_ladder(name: &str) -> Ladder {
    let t = trace::trace_file(&fixture(name)).expect("fixture traces");
    assert_eq!(t.ladders.len(), 1, "{name} holds one connection");
    t.ladders.into_iter().next().expect("one ladder")
}

/// (label, A's state, B's state) of every row, unfolded.
fn rows(l: &Ladder) -> Vec<(String, String, String)> {
    Diagram::from_ladder(l, false)
        .items
        .into_iter()
        .filter_map(|i| match i {
            Item::Segment { label, a, b, .. } => Some((label, a, b)),
            _ => None,
        })
        .collect()
}

fn labels_and_states(l: &Ladder) -> Vec<String> {
    rows(l)
        .into_iter()
        .map(|(label, a, b)| format!("{a} | {label} | {b}"))
        .collect()
}

const HALF_CLOSE: [&str; 12] = [
    "SYN-SENT | SYN seq=x win=65495 | SYN-RECEIVED",
    "ESTABLISHED | SYN,ACK seq=y ack=x+1 win=65483 | SYN-RECEIVED",
    "ESTABLISHED | ACK seq=x+1 ack=y+1 win=65536 | ESTABLISHED",
    "ESTABLISHED | PSH,ACK seq=x+1 ack=y+1 len=12 win=65536 | ESTABLISHED",
    "ESTABLISHED | ACK seq=y+1 ack=x+13 win=65536 | ESTABLISHED",
    "FIN-WAIT-1 | FIN,ACK seq=u ack=y+1 win=65536 | CLOSE-WAIT",
    "FIN-WAIT-2 | PSH,ACK seq=v ack=u+1 len=10 win=65536 | CLOSE-WAIT",
    "FIN-WAIT-2 | ACK seq=u+1 ack=v+10 win=65536 | CLOSE-WAIT",
    "FIN-WAIT-2 | PSH,ACK seq=v+10 ack=u+1 len=24 win=65536 | CLOSE-WAIT",
    "FIN-WAIT-2 | ACK seq=u+1 ack=v+34 win=65536 | CLOSE-WAIT",
    "TIME-WAIT | FIN,ACK seq=w ack=u+1 win=65536 | LAST-ACK",
    "TIME-WAIT | ACK seq=u+1 ack=w+1 win=65536 | CLOSED",
];

#[test]
fn ethernet_pcap_half_close_follows_the_seed_states_and_symbols() {
    let l = only_ladder("halfclose-lo-ethernet.pcap");
    assert_eq!(labels_and_states(&l), HALF_CLOSE);
    assert_eq!(
        (l.initial.0.to_string(), l.initial.1.to_string()),
        ("CLOSED".into(), "LISTEN".into())
    );
    assert!(l.a_is_client);
    assert_eq!(
        l.ending,
        Ending::Closed {
            first: trace::Dir::AtoB
        }
    );
    assert_eq!(l.stats.bytes, [12, 34]);
    assert_eq!(l.stats.retransmissions, [0, 0]);
    assert_eq!(l.handshake_rtt_us, Some(89));
    assert_eq!(l.duration_us, 152_175);
    assert_eq!(
        l.rows[0].syn_options.as_deref(),
        Some("mss 65495, sack, ts, ws 10")
    );
}

#[test]
fn pcapng_gives_the_same_ladder_and_microsecond_times() {
    let ng = only_ladder("halfclose.pcapng");
    let pcap = only_ladder("halfclose-lo-ethernet.pcap");
    assert_eq!(labels_and_states(&ng), labels_and_states(&pcap));
    assert_eq!(ng.start_us, pcap.start_us);
    assert_eq!(ng.duration_us, pcap.duration_us);
}

#[test]
fn sll2_ipv6_half_close() {
    let l = only_ladder("ipv6-halfclose-sll2.pcap");
    assert!(l.a.is_ipv6() && l.b.is_ipv6());
    let got = labels_and_states(&l);
    let states: Vec<String> = got
        .iter()
        .map(|r| {
            let parts: Vec<&str> = r.split(" | ").collect();
            format!("{} {}", parts[0], parts[2])
        })
        .collect();
    assert_eq!(
        states,
        [
            "SYN-SENT SYN-RECEIVED",
            "ESTABLISHED SYN-RECEIVED",
            "ESTABLISHED ESTABLISHED",
            "ESTABLISHED ESTABLISHED",
            "ESTABLISHED ESTABLISHED",
            "FIN-WAIT-1 CLOSE-WAIT",
            "FIN-WAIT-2 CLOSE-WAIT",
            "FIN-WAIT-2 CLOSE-WAIT",
            "FIN-WAIT-2 CLOSE-WAIT",
            "FIN-WAIT-2 CLOSE-WAIT",
            "TIME-WAIT LAST-ACK",
            "TIME-WAIT CLOSED",
        ]
    );
    assert!(got[1].contains("SYN,ACK seq=y ack=x+1 "));
    assert!(got[10].contains("FIN,ACK seq=w ack=u+1 "));
    assert!(got[11].contains("ACK seq=u+1 ack=w+1 "));
    assert_eq!(
        l.rows[0].syn_options.as_deref(),
        Some("mss 1440, sack, ts, ws 10")
    );
}

#[test]
fn refused_connect_is_rst_to_syn_and_the_server_was_closed() {
    let l = only_ladder("refused.pcap");
    assert_eq!(
        labels_and_states(&l),
        [
            "SYN-SENT | SYN seq=x win=64240 | CLOSED",
            "CLOSED | RST,ACK seq=0 ack=x+1 win=0 | CLOSED",
        ]
    );
    assert_eq!(l.initial.1.to_string(), "CLOSED");
    assert!(l.rows[1].marks.contains(Marks::REFUSED));
    assert_eq!(l.ending, Ending::Refused);
}

#[test]
fn so_linger_zero_close_resets_both_ends() {
    let l = only_ladder("reset-linger0.pcap");
    let got = labels_and_states(&l);
    assert_eq!(
        got[5],
        "CLOSED | RST,ACK seq=x+101 ack=y+1 win=64512 | CLOSED"
    );
    assert!(l.rows[5].marks.contains(Marks::RESET));
    assert_eq!(
        l.ending,
        Ending::Reset {
            from: trace::Dir::AtoB
        }
    );
}

#[test]
fn crossed_fins_are_a_simultaneous_close_through_closing() {
    let l = only_ladder("simultaneous-close.pcap");
    let got = labels_and_states(&l);
    // A's FIN and B's FIN cross: B's FIN acknowledges only x+1453, not A's FIN.
    assert_eq!(
        got[9],
        "FIN-WAIT-1 | FIN,ACK seq=u ack=y+1 win=64512 | ESTABLISHED"
    );
    assert_eq!(
        got[10],
        "FIN-WAIT-1 | FIN,ACK seq=w ack=x+1453 win=68608 | FIN-WAIT-1"
    );
    assert!(got.iter().any(|r| r.ends_with("| CLOSING")), "{got:#?}");
    let last = got.last().expect("rows");
    assert!(
        last.starts_with("TIME-WAIT") && last.ends_with("TIME-WAIT"),
        "{last}"
    );
    assert_eq!(l.ending, Ending::SimultaneousClose);
}

#[test]
fn lossy_snapped_capture_marks_the_gap_and_the_retransmissions() {
    let l = only_ladder("lossy-snap96.pcap");
    assert_eq!(
        l.stats.bytes[0], 3_000_000,
        "payload lengths come from the IP header"
    );
    let gap = l
        .rows
        .iter()
        .position(|r| r.marks.contains(Marks::PREVIOUS_NOT_CAPTURED))
        .expect("a segment after a dropped one");
    // The hole is filled 3 µs later, with a handshake RTT of 31 µs and no duplicate ACK:
    // the original, captured late (its IP ID, 0x2b72, is below the 0x2b9f of the segment
    // past it), not a resend, however B's last ACK named its first byte.
    assert!(l.rows[gap + 1].marks.contains(Marks::OUT_OF_ORDER));
    assert!(!l.rows[gap + 1].marks.contains(Marks::RETRANSMISSION));
    let got = labels_and_states(&l);
    let n = got.len();
    assert_eq!(
        got[n - 3],
        "TIME-WAIT | FIN,ACK seq=w ack=u+1 win=3140608 | LAST-ACK"
    );
    assert!(
        l.rows[n - 2].marks.contains(Marks::RETRANSMISSION),
        "the FIN again: A's ACK was dropped"
    );
    assert_eq!(
        got[n - 1],
        "TIME-WAIT | ACK seq=u+1 ack=w+1 win=64512 | CLOSED"
    );
    assert_eq!(l.stats.retransmissions, [0, 1]);
    assert_eq!(l.stats.out_of_order, 1);
    // Folded, the 3 MB transfer is a short diagram, and the fold counts the bytes its rows
    // show first, like the total: the late original inside it shows its 65160 bytes there.
    let folded = Diagram::from_ladder(&l, true);
    assert!(folded.items.len() < 20);
    let fold = folded
        .items
        .iter()
        .find_map(|i| match i {
            Item::Fold { text, .. } => Some(text.clone()),
            _ => None,
        })
        .expect("a fold");
    assert!(
        fold.starts_with("51 data segments (A→B 2926408 B (2.9 MB), B→A 0 B)"),
        "{fold}"
    );
    let shown: u64 = l.rows.iter().map(|r| u64::from(r.new_bytes)).sum();
    assert_eq!(shown, 3_000_000);
}

/// Made by capture-partial-overlap.sh: Linux kernels on both ends, a router between them
/// dropping the 200-byte segment before the capture point, SACK off, so at the RTO the client
/// resends the hole collapsed with the two segments after it.
#[test]
fn retransmission_cut_across_captured_segments_counts_each_byte_once() {
    let l = only_ladder("partial-overlap.pcap");
    let got = labels_and_states(&l);
    assert_eq!(
        got[3..11],
        [
            "ESTABLISHED | PSH,ACK seq=x+1 ack=y+1 len=100 win=64512 | ESTABLISHED",
            "ESTABLISHED | ACK seq=y+1 ack=x+101 win=65536 | ESTABLISHED",
            "ESTABLISHED | PSH,ACK seq=x+301 ack=y+1 len=300 win=64512 | ESTABLISHED",
            "ESTABLISHED | ACK seq=y+1 ack=x+101 win=65536 | ESTABLISHED",
            "ESTABLISHED | PSH,ACK seq=x+601 ack=y+1 len=400 win=64512 | ESTABLISHED",
            "ESTABLISHED | ACK seq=y+1 ack=x+101 win=65536 | ESTABLISHED",
            "ESTABLISHED | PSH,ACK seq=x+101 ack=y+1 len=900 win=64512 | ESTABLISHED",
            "ESTABLISHED | ACK seq=y+1 ack=x+1001 win=66560 | ESTABLISHED",
        ]
    );
    // 100 + 200 + 300 + 400 written; the 900-byte resend adds only the 200 never captured.
    assert_eq!(l.stats.bytes, [1000, 0]);
    assert_eq!(
        l.rows.iter().map(|r| r.new_bytes).collect::<Vec<_>>(),
        [0, 0, 0, 100, 0, 300, 0, 400, 0, 200, 0, 0, 0, 0]
    );
    let marks: Vec<Marks> = l.rows.iter().map(|r| r.marks).collect();
    assert!(marks[5].contains(Marks::PREVIOUS_NOT_CAPTURED));
    assert!(marks[9].contains(Marks::RETRANSMISSION));
    assert!(!marks[9].contains(Marks::OUT_OF_ORDER));
    assert_eq!(l.stats.retransmissions, [1, 0]);
    assert_eq!(l.stats.out_of_order, 0);
    assert_eq!(
        l.ending,
        Ending::Closed {
            first: trace::Dir::AtoB
        }
    );
    // The summary line says the same.
    let d = Diagram::from_ladder(&l, false);
    assert!(
        d.summary
            .iter()
            .any(|s| s.contains("A→B 1000 B (1.0 kB) in 8 segments")),
        "{:?}",
        d.summary
    );
}

#[test]
fn capture_starting_mid_connection_says_so_instead_of_guessing() {
    let l = only_ladder("mid-connection.pcap");
    assert!(l.starts_mid_connection);
    assert_eq!(l.initial.0.to_string(), "ESTABLISHED?");
    let got = labels_and_states(&l);
    assert_eq!(
        got[0],
        "FIN-WAIT-1? | FIN,ACK seq=u ack=y′ win=64 | CLOSE-WAIT?"
    );
    assert_eq!(got[6], "TIME-WAIT? | ACK seq=u+1 ack=w+1 win=64 | CLOSED");
    assert!(
        l.notes
            .iter()
            .any(|n| n.contains("capture starts mid-connection"))
    );
}

fn synack(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .expect("synack runs")
}

#[test]
fn cli_prints_the_ladder_without_colour_when_not_a_tty() {
    let f = fixture("halfclose-lo-ethernet.pcap");
    let out = synack(&["trace", f.to_str().expect("utf-8 path")]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(!text.contains('\x1b'), "no colour into a pipe");
    assert!(text.contains("◀── SYN,ACK seq=y ack=x+1 win=65483 ──"));
    assert!(text.contains("A closed first; ended: closed normally"));
}

#[test]
fn cli_conn_out_of_range_and_bad_files_are_one_line_errors() {
    let dir = std::env::temp_dir().join(format!("synack-trace-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let good = std::fs::read(fixture("halfclose-lo-ethernet.pcap")).expect("fixture");
    let mut unsupported = good.clone();
    unsupported[20..24].copy_from_slice(&147u32.to_le_bytes());
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "text.pcap",
            b"hello, not a capture\n".to_vec(),
            "not a pcap or pcapng capture",
        ),
        ("empty.pcap", Vec::new(), "empty"),
        (
            "cut.pcap",
            good[..good.len() - 7].to_vec(),
            "truncated after 11 complete packets",
        ),
        ("link.pcap", unsupported, "unsupported link type 147"),
    ];
    for (name, bytes, want) in cases {
        let p = dir.join(name);
        std::fs::write(&p, bytes).expect("write");
        let out = synack(&["trace", p.to_str().expect("utf-8")]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}");
        assert_eq!(err.lines().count(), 1, "{name}: {err}");
        assert!(
            err.starts_with("synack trace: ") && err.contains(want),
            "{name}: {err}"
        );
    }
    let f = fixture("refused.pcap");
    let out = synack(&["trace", f.to_str().expect("utf-8"), "--conn", "2"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no connection 2"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn errors_are_typed() {
    assert_eq!(
        trace::trace_reader(&b"\x0a\x0d\x0d\x0a"[..])
            .err()
            .map(|e| matches!(e, TraceError::Truncated { .. } | TraceError::BadHeader(_))),
        Some(true)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = trace::trace_reader(&bytes[..]);
        let mut pcap = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0];
        pcap.extend_from_slice(&bytes);
        let _ = trace::trace_reader(&pcap[..]);
    }

    #[test]
    fn mutated_fixtures_never_panic(
        which in 0usize..9,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..24),
        cut in any::<prop::sample::Index>(),
    ) {
        let names = [
            "halfclose-lo-ethernet.pcap", "halfclose.pcapng", "ipv6-halfclose-sll2.pcap",
            "refused.pcap", "reset-linger0.pcap", "simultaneous-close.pcap",
            "lossy-snap96.pcap", "mid-connection.pcap", "partial-overlap.pcap",
        ];
        let mut bytes = std::fs::read(fixture(names[which])).expect("fixture");
        for (at, v) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= v;
        }
        if let Ok(t) = trace::trace_reader(&bytes[..]) {
            for l in &t.ladders {
                let d = Diagram::from_ladder(l, true);
                let _ = trace::ladder::render(&d, true);
                let _ = trace::svg::render(&d);
            }
        }
        let n = cut.index(bytes.len() + 1);
        let _ = trace::trace_reader(&bytes[..n]);
    }
}
