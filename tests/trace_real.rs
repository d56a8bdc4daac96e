//! What the trace calls each odd segment of real captures, exactly: Linux kernels (and synack
//! over TUN) in network namespaces, each capture a committed fixture made once, as root, by
//! the script beside it in tests/fixtures/trace/ (these tests only read the files):
//!
//! - `tso-sender.pcap` (capture-tso-sender.sh): a bulk transfer seen at the sending host with
//!   segmentation offload on, so every data segment is a super-segment of several MSS;
//! - `reorder-tun.pcap` (capture-reorder-tun.sh): `synack serve --impair jitter=…` reorders
//!   its data on the way to a Linux receiver, captured on the TUN device in front of it;
//! - `kernel-probes-keepalive.pcap` (capture-probes-keepalive.sh): a Linux sender probing a
//!   zero window, then Linux keep-alives on the same idle connection.

use std::collections::BTreeSet;
use std::path::PathBuf;
use synack::trace::tsg::{self, BarKind, EventKind};
use synack::trace::{self, Connection, Dir, Ending, Ladder, Marks};

fn ladder(name: &str) -> (Ladder, Connection) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/trace")
        .join(name);
    let mut t = trace::trace_file_keeping(&path).expect("fixture traces");
    assert_eq!(t.ladders.len(), 1, "{name} holds one connection");
    assert_eq!(t.skipped, 0, "{name} holds only TCP");
    (t.ladders.remove(0), t.connections.remove(0))
}

/// The rows carrying `m`.
fn marked(l: &Ladder, m: Marks) -> Vec<usize> {
    (0..l.rows.len())
        .filter(|&i| l.rows[i].marks.contains(m))
        .collect()
}

/// The graph's bars that are not new data, as (row, kind).
fn odd_bars(g: &tsg::Tsg) -> Vec<(usize, BarKind)> {
    g.bars
        .iter()
        .filter(|b| b.kind != BarKind::New)
        .map(|b| (b.row, b.kind))
        .collect()
}

#[test]
fn tso_super_segments_at_the_sender_are_data_of_their_length_not_anomalies() {
    let (l, c) = ladder("tso-sender.pcap");
    let mss = c
        .segments
        .iter()
        .find(|s| s.flags.syn() && s.flags.ack())
        .and_then(|s| s.mss)
        .expect("the SYN,ACK announces an MSS");
    assert_eq!(mss, 1460);
    let data: Vec<(usize, u32)> = c
        .segments
        .iter()
        .enumerate()
        .filter(|(_, s)| s.src == l.a && s.len > 0)
        .map(|(i, s)| (i, s.len))
        .collect();
    // Every data segment the sender's interface saw is a super-segment the device cuts.
    assert_eq!(
        data,
        [
            (3, 7240),
            (5, 7240),
            (7, 14480),
            (9, 21720),
            (11, 27512),
            (12, 31856),
            (13, 5792),
            (15, 18432),
            (17, 65160),
            (18, 29048),
            (20, 63624),
            (22, 7896),
        ]
    );
    assert!(data.iter().all(|&(_, n)| n > u32::from(mss)));
    // Nothing odd about any of them, nor about the ACKs.
    let odd: Vec<usize> = (0..l.rows.len())
        .filter(|&i| !l.rows[i].marks.is_empty())
        .collect();
    assert_eq!(odd, Vec::<usize>::new());
    assert_eq!(l.rows.len(), 26);
    assert_eq!(l.stats.segments, [15, 11]);
    assert_eq!(l.stats.bytes, [300_000, 0]);
    assert_eq!(l.stats.retransmissions, [0, 0]);
    assert_eq!(l.stats.spurious, [0, 0]);
    assert_eq!((l.stats.out_of_order, l.stats.dup_acks), (0, 0));
    assert_eq!(l.ending, Ending::Closed { first: Dir::AtoB });
    let rows: Vec<u32> = data.iter().map(|&(i, _)| l.rows[i].new_bytes).collect();
    assert_eq!(rows, data.iter().map(|&(_, n)| n).collect::<Vec<_>>());
    assert!(
        trace::diagram::summary_lines(&l).contains(
            &"retransmissions: A→B 0, B→A 0; duplicate ACKs 0; out of order 0; zero windows 0"
                .to_string()
        )
    );

    // The graph: one bar per segment taking sequence space (the SYN, the twelve), all new,
    // together 300,000 bytes and the SYN's and FIN's numbers; the throughput plot adds up.
    let g = tsg::build(&c, &l, Dir::AtoB);
    assert_eq!(g.bars.len(), 13);
    assert_eq!(odd_bars(&g), []);
    let span: i64 = g.bars.iter().map(|b| b.end - b.start).sum();
    assert_eq!(span, 300_000 + 2);
    assert_eq!(g.throughput.iter().sum::<u64>(), 300_000);
    assert_eq!(
        g.bars.iter().map(|b| b.end - b.start).max(),
        Some(65_160),
        "the largest super-segment, 44 MSS-sized segments on the wire"
    );
    assert!(g.events.is_empty(), "{:?}", g.events);
}

/// What each data segment of one direction is, from the capture alone, where nothing is
/// lost before the capture point: one covering sequence space seen before is a resend; one
/// starting below the highest number seen without covering any is a reordered original.
fn ground_truth(c: &Connection, from: std::net::SocketAddr) -> (Vec<usize>, Vec<usize>) {
    let isn = c
        .segments
        .iter()
        .find(|s| s.src == from && s.flags.syn())
        .map(|s| s.seq)
        .expect("its SYN");
    let (mut seen, mut top) = (BTreeSet::new(), 0u32);
    let (mut reordered, mut resent) = (Vec::new(), Vec::new());
    for (i, s) in c.segments.iter().enumerate() {
        if s.src != from || s.len == 0 {
            continue;
        }
        let start = (s.seq - isn) as u32;
        let span: Vec<u32> = (start..start + s.len).collect();
        if span.iter().any(|b| seen.contains(b)) {
            resent.push(i);
        } else if start < top {
            reordered.push(i);
        }
        seen.extend(span);
        top = top.max(start + s.len);
    }
    (reordered, resent)
}

#[test]
fn reordering_by_the_path_is_out_of_order_not_retransmission() {
    let (l, c) = ladder("reorder-tun.pcap");
    let (reordered, resent) = ground_truth(&c, l.b);
    assert_eq!(
        reordered,
        [
            11, 13, 17, 19, 21, 31, 35, 37, 48, 54, 62, 64, 68, 70, 79, 81, 85, 91, 98, 102, 112,
            123, 125, 127, 131, 133, 141
        ]
    );
    assert_eq!(resent, [25, 27, 33]);
    // The Linux receiver asked for many of the late segments with duplicate ACKs (SACK)
    // before they came: they are still reordered originals, not resends.
    let asked: Vec<usize> = reordered
        .iter()
        .copied()
        .filter(|&i| l.rows[i - 1].marks.contains(Marks::DUP_ACK))
        .collect();
    assert!(asked.len() >= 10, "{asked:?}");
    assert_eq!(marked(&l, Marks::OUT_OF_ORDER), reordered);
    // synack's RACK took some reordering for loss at first, and resent what had arrived.
    assert_eq!(marked(&l, Marks::RETRANSMISSION), resent);
    assert_eq!(marked(&l, Marks::SPURIOUS), resent);
    assert_eq!(l.stats.retransmissions, [0, 3]);
    assert_eq!(l.stats.spurious, [0, 3]);
    assert_eq!(l.stats.out_of_order, 27);
    assert_eq!(l.stats.bytes, [0, 100_000]);
    assert_eq!(l.handshake_rtt_us, Some(42_525));
    assert_eq!(l.ending, Ending::Closed { first: Dir::BtoA });
    assert!(
        trace::diagram::summary_lines(&l).contains(
            &"retransmissions: A→B 0, B→A 3 (spurious: A→B 0, B→A 3); duplicate ACKs 24; out of order 27; zero windows 0"
                .to_string()
        ),
        "{:#?}",
        trace::diagram::summary_lines(&l)
    );
    let g = tsg::build(&c, &l, Dir::BtoA);
    let want: Vec<(usize, BarKind)> = reordered
        .iter()
        .map(|&i| (i, BarKind::OutOfOrder))
        .chain(resent.iter().map(|&i| (i, BarKind::SpuriousRetransmission)))
        .collect::<std::collections::BTreeMap<_, _>>()
        .into_iter()
        .collect();
    assert_eq!(odd_bars(&g), want);
}

#[test]
fn a_kernels_zero_window_probes_and_keep_alives_are_told_apart() {
    let (l, c) = ladder("kernel-probes-keepalive.pcap");
    let x = l.symbols.x.expect("A's ISN");
    assert_eq!(l.rows.len(), 38);
    // B's buffer fills: zero windows, answered by Linux's probes (tcp_send_probe0, backing
    // off 0.2, 0.4, 0.8 s), bare segments one below what B acknowledged (tcp_xmit_probe_skb).
    assert_eq!(marked(&l, Marks::ZERO_WINDOW), [8, 10, 13]);
    assert_eq!(marked(&l, Marks::WINDOW_PROBE), [9, 11, 12]);
    for i in [9, 11, 12] {
        let r = &l.rows[i];
        assert_eq!((r.dir, r.len, r.seq), (Dir::AtoB, 0, x + 4344), "row {i}");
    }
    // B answers the first and third; the second falls in B's 500 ms limit on ACKs to
    // out-of-window segments (tcp_invalid_ratelimit). The answers are not duplicate ACKs.
    assert_eq!(marked(&l, Marks::DUP_ACK), Vec::<usize>::new());
    // Once everything is read and the connection idles: the same bare segment one below
    // SND.NXT, with the window open, every second (TCP_KEEPIDLE, TCP_KEEPINTVL 1 s).
    assert_eq!(marked(&l, Marks::KEEP_ALIVE), [27, 29, 31, 33]);
    for i in [27, 29, 31, 33] {
        let r = &l.rows[i];
        assert_eq!((r.dir, r.len, r.seq), (Dir::AtoB, 0, x + 20_000), "row {i}");
    }
    // Row 7 resends a segment B's full buffer dropped (a tail loss probe, 5 ms later): a
    // real retransmission, and not a spurious one.
    assert_eq!(marked(&l, Marks::RETRANSMISSION), [7]);
    assert_eq!(l.stats.spurious, [0, 0]);
    assert_eq!(l.stats.bytes, [20_000, 0]);
    assert_eq!(l.stats.zero_windows, 3);
    assert_eq!(l.ending, Ending::Closed { first: Dir::AtoB });
    let g = tsg::build(&c, &l, Dir::AtoB);
    let zero: Vec<usize> = g
        .events
        .iter()
        .filter(|e| e.kind == EventKind::ZeroWindow)
        .map(|e| e.row)
        .collect();
    assert_eq!(zero, [8, 10, 13]);
    // Linux's probes and keep-alives carry no byte: drawn at their number, of no length.
    assert_eq!(
        odd_bars(&g),
        [
            (7, BarKind::Retransmission),
            (9, BarKind::WindowProbe),
            (11, BarKind::WindowProbe),
            (12, BarKind::WindowProbe),
            (27, BarKind::KeepAlive),
            (29, BarKind::KeepAlive),
            (31, BarKind::KeepAlive),
            (33, BarKind::KeepAlive),
        ]
    );
    assert!(
        g.bars
            .iter()
            .filter(|b| matches!(b.kind, BarKind::WindowProbe | BarKind::KeepAlive))
            .all(|b| b.start == b.end)
    );
}
