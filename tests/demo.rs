//! `synack demo` end to end: the seven steps of a connection's life with exact values, lossy runs,
//! and the command line.

// The demo lives beside the command line it serves, not in the library; the tests compile
// the same file to check its exact values.
#[path = "../src/cli/demo/run.rs"]
mod demo;

use demo::{DemoOptions, DemoReport, Row};
use std::process::Command;
use synack::sim::Fate;
use synack::tcp::{SeqNum, State};
use synack::trace::diagram::{Diagram, Item};
use synack::trace::{Dir, Segment};

fn run(options: DemoOptions) -> DemoReport {
    demo::run(&options).expect("demo runs")
}

fn seg(row: &Row) -> &Segment {
    &row.segment.as_ref().expect("a segment row").segment
}

fn dir(row: &Row) -> Dir {
    row.segment.as_ref().expect("a segment row").dir
}

/// The default run's rows, checked against the seven steps one by one.
struct Seed {
    rows: Vec<Row>,
    x: SeqNum,
    y: SeqNum,
}

fn seed_run() -> Seed {
    let report = run(DemoOptions::default());
    assert!(report.success(), "{}", report.render(false));
    let rows = report.rows.clone();
    let x = seg(&rows[0]).seq;
    let y = seg(&rows[1]).seq;
    Seed { rows, x, y }
}

fn find(rows: &[Row], dir: Dir, pred: impl Fn(&Segment) -> bool) -> (usize, &Row) {
    rows.iter()
        .enumerate()
        .find(|(_, r)| {
            r.segment
                .as_ref()
                .is_some_and(|s| s.dir == dir && pred(&s.segment))
        })
        .expect("such a segment")
}

#[test]
fn seed_step_1_syn_seq_x_from_syn_sent_to_syn_received() {
    let s = seed_run();
    let r = &s.rows[0];
    let g = seg(r);
    assert_eq!(
        (dir(r), g.flags.to_string(), g.seq, g.len),
        (Dir::AtoB, "SYN".into(), s.x, 0)
    );
    assert_eq!((r.a_state, r.b_state), (State::SynSent, State::SynReceived));
}

#[test]
fn seed_step_2_syn_ack_seq_y_ack_x_plus_1() {
    let s = seed_run();
    let r = &s.rows[1];
    let g = seg(r);
    assert_eq!((dir(r), g.flags.to_string()), (Dir::BtoA, "SYN,ACK".into()));
    assert_eq!((g.seq, g.ack), (s.y, s.x + 1));
    assert_eq!(
        (r.a_state, r.b_state),
        (State::Established, State::SynReceived)
    );
}

#[test]
fn seed_step_3_ack_seq_x_plus_1_ack_y_plus_1_may_carry_data() {
    let s = seed_run();
    let r = &s.rows[2];
    let g = seg(r);
    assert_eq!(dir(r), Dir::AtoB);
    assert!(g.flags.ack() && !g.flags.syn());
    assert_eq!((g.seq, g.ack), (s.x + 1, s.y + 1));
    assert_eq!(
        g.len as usize,
        "hello from A".len(),
        "the handshake's ACK carries A's message"
    );
    assert_eq!(
        (r.a_state, r.b_state),
        (State::Established, State::Established)
    );
}

#[test]
fn seed_step_4_fin_seq_u_from_fin_wait_1_to_close_wait() {
    let s = seed_run();
    let (_, r) = find(&s.rows, Dir::AtoB, |g| g.flags.fin());
    let g = seg(r);
    assert_eq!(g.seq, s.x + (1 + 12), "u = x + 1 + A's 12 bytes");
    assert_eq!(g.len, 0);
    assert_eq!((r.a_state, r.b_state), (State::FinWait1, State::CloseWait));
}

#[test]
fn seed_step_5_ack_seq_v_ack_u_plus_1_moves_a_to_fin_wait_2() {
    let s = seed_run();
    let (_, fin) = find(&s.rows, Dir::AtoB, |g| g.flags.fin());
    let u = seg(fin).seq;
    let (_, r) = find(&s.rows, Dir::BtoA, |g| g.ack == u + 1);
    let g = seg(r);
    assert_eq!((g.flags.to_string(), g.len), ("ACK".into(), 0));
    assert_eq!(g.seq, s.y + (1 + 12), "v = y + 1 + B's 12-byte answer");
    assert_eq!((r.a_state, r.b_state), (State::FinWait2, State::CloseWait));
}

#[test]
fn seed_step_6_close_wait_side_keeps_sending_and_fin_wait_2_side_acknowledges() {
    let s = seed_run();
    let (_, fin) = find(&s.rows, Dir::AtoB, |g| g.flags.fin());
    let u = seg(fin).seq;
    let (i, r) = find(&s.rows, Dir::BtoA, |g| g.len > 0 && g.ack == u + 1);
    let g = seg(r);
    assert_eq!(g.seq, s.y + 13, "B's half-close data starts at v");
    assert_eq!((r.a_state, r.b_state), (State::FinWait2, State::CloseWait));
    let end = g.seq + g.len as usize;
    let (_, ack) = find(&s.rows[i..], Dir::AtoB, |a| a.ack == end);
    assert_eq!(
        seg(ack).seq,
        u + 1,
        "A acknowledges from FIN-WAIT-2 with seq=u+1"
    );
    assert_eq!(ack.a_state, State::FinWait2);
}

#[test]
fn seed_step_7_fin_seq_w_ack_u_plus_1_then_ack_seq_u_plus_1_ack_w_plus_1() {
    let s = seed_run();
    let (_, a_fin) = find(&s.rows, Dir::AtoB, |g| g.flags.fin());
    let u = seg(a_fin).seq;
    let (i, r) = find(&s.rows, Dir::BtoA, |g| g.flags.fin());
    let g = seg(r);
    let w = g.seq;
    assert_eq!(g.ack, u + 1, "FIN seq=w repeats ack=u+1");
    assert_eq!((r.a_state, r.b_state), (State::TimeWait, State::LastAck));
    let last = &s.rows[i + 1];
    let l = seg(last);
    assert_eq!((dir(last), l.flags.to_string()), (Dir::AtoB, "ACK".into()));
    assert_eq!((l.seq, l.ack), (u + 1, w + 1));
    assert_eq!(
        (last.a_state, last.b_state),
        (State::TimeWait, State::Closed)
    );
    // TIME-WAIT lasts exactly 2×MSL from when A entered it.
    let closed = s.rows.last().expect("rows");
    assert!(closed.segment.is_none());
    assert_eq!(
        (closed.a_state, closed.b_state),
        (State::Closed, State::Closed)
    );
    let entered = r.time;
    let msl = DemoOptions::default().msl;
    assert_eq!(closed.time, entered + msl * 2);
}

#[test]
fn demo_loss_20_seed_7_completes_intact_with_retransmissions_marked() {
    let report = run(DemoOptions {
        loss_percent: 20.0,
        seed: 7,
        ..DemoOptions::default()
    });
    assert!(report.success(), "{}", report.render(false));
    assert!(report.link.lost > 0);
    let drawn_marks = report.diagram().items.into_iter().flat_map(|i| match i {
        Item::Segment { marks, .. } => marks,
        _ => Vec::new(),
    });
    assert!(drawn_marks.into_iter().any(|m| m.text == "retransmission"));
    let text = report.render(false);
    assert!(text.contains("[retransmission"), "{text}");
    assert!(text.contains("lost"), "{text}");
    assert!(
        report
            .rows
            .iter()
            .any(|r| r.segment.as_ref().is_some_and(|s| s.fate == Fate::Lost))
    );
}

#[test]
fn demo_succeeds_over_many_seeds_with_loss_corruption_and_larger_messages() {
    for seed in 0..60 {
        let report = run(DemoOptions {
            seed,
            loss_percent: 20.0,
            corrupt_percent: 5.0,
            bytes: Some(20_000),
            ..DemoOptions::default()
        });
        assert!(report.success(), "seed {seed}:\n{}", report.render(false));
        assert!(report.half_close_seen, "seed {seed}");
    }
}

#[test]
fn demo_ladder_shows_the_seed_labels() {
    let text = run(DemoOptions::default()).render(false);
    for label in [
        "SYN seq=x ",
        "SYN,ACK seq=y ack=x+1 ",
        "ACK seq=x+1 ack=y+1 ",
        "FIN,ACK seq=u ",
        "ACK seq=v ack=u+1 ",
        "FIN,ACK seq=w ack=u+1 ",
        "ACK seq=u+1 ack=w+1 ",
        "result: OK",
    ] {
        assert!(text.contains(label), "missing {label:?} in\n{text}");
    }
}

#[test]
fn demo_folds_long_data_phases_into_a_summary_row() {
    let report = run(DemoOptions {
        bytes: Some(1_000_000),
        ..DemoOptions::default()
    });
    assert!(report.success());
    let text = report.render(false);
    assert!(text.contains("data segments ("), "{text}");
    assert!(
        text.lines().count() < 80,
        "folded ladder stays short:\n{text}"
    );
}

/// Every segment's label, absolute numbers and marks, as the diagram draws them.
fn drawn(d: &Diagram) -> Vec<String> {
    d.items
        .iter()
        .filter_map(|i| match i {
            Item::Segment {
                label,
                absolute,
                marks,
                ..
            } => Some(format!("{label} | {absolute} | {marks:?}")),
            _ => None,
        })
        .collect()
}

#[test]
fn demo_ladder_is_what_synack_trace_draws_from_the_demos_own_capture() {
    let dir = std::env::temp_dir().join(format!("synack-demo-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let pcap = dir.join("d.pcap");
    let report = run(DemoOptions {
        pcap: Some(pcap.clone()),
        ..DemoOptions::default()
    });
    let traced = synack::trace::trace_file(&pcap).expect("the demo's pcap traces");
    std::fs::remove_dir_all(&dir).ok();
    let [ladder] = traced.ladders.as_slice() else {
        panic!("one connection in the demo's capture")
    };
    // The states differ on purpose: the demo's are the simulator's, which include what the
    // application did at the same instant (A's shutdown as B's answer arrives).
    assert_eq!(
        drawn(&report.diagram()),
        drawn(&Diagram::from_ladder(ladder, true))
    );
}

#[test]
fn cli_demo_exits_zero_and_writes_a_pcap() {
    let dir = std::env::temp_dir().join(format!("synack-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let pcap = dir.join("d.pcap");
    let out = Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(["demo", "--loss", "20", "--seed", "7", "--pcap"])
        .arg(&pcap)
        .output()
        .expect("run synack");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&pcap).expect("pcap written");
    assert_eq!(
        &bytes[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "little-endian pcap magic"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Without `record` the demo keeps no sender log; with it, one trace per host.
#[test]
fn demo_records_both_senders_only_when_asked() {
    assert!(run(DemoOptions::default()).qlog.is_none());
    let report = run(DemoOptions {
        record: true,
        ..DemoOptions::default()
    });
    let doc = report.qlog.expect("recorded");
    let names: Vec<&str> = doc["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["vantage_point"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["client", "server"]);
}

/// `--qlog` writes both senders' inside view on the capture's clock: every event falls within
/// the capture's span, the client's log shows slow start, then recovery with the window cut
/// to ssthresh after the lossy link dropped data, and both end with nothing in flight.
#[test]
fn cli_demo_qlog_shows_each_senders_window_and_phases_on_the_captures_clock() {
    let dir = std::env::temp_dir().join(format!("synack-demo-qlog-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (pcap, qlog) = (dir.join("d.pcap"), dir.join("d.json"));
    let out = Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(["demo", "--loss", "5", "--bytes", "200000", "--pcap"])
        .arg(&pcap)
        .arg("--qlog")
        .arg(&qlog)
        .output()
        .expect("run synack");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&qlog).expect("qlog written")).expect("JSON");
    let mut reader = pcap_file::pcap::PcapReader::new(std::fs::File::open(&pcap).unwrap()).unwrap();
    let mut times = Vec::new();
    while let Some(p) = reader.next_packet() {
        times.push(p.unwrap().timestamp.as_secs_f64() * 1000.0);
    }
    std::fs::remove_dir_all(&dir).ok();
    let (first, last) = (times[0], times[times.len() - 1]);

    let traces = doc["traces"].as_array().expect("traces");
    assert_eq!(traces.len(), 2);
    for t in traces {
        assert_eq!(t["common_fields"]["reference_time"], 0.0);
        let events = t["events"].as_array().expect("events");
        // Past the last packet only TIME-WAIT's end (a state change without a segment).
        let closed = events
            .iter()
            .rfind(|e| e["name"] == "transport:connection_state_updated")
            .unwrap();
        assert_eq!(closed["data"]["new"], "CLOSED");
        for e in events {
            let at = e["time"].as_f64().expect("time");
            assert!(at >= first, "{at} ms before the first packet at {first}");
            assert!(
                at <= last || at == closed["time"],
                "{e} after the last packet at {last}"
            );
        }
        let metrics: Vec<&serde_json::Value> = events
            .iter()
            .filter(|e| e["name"] == "recovery:metrics_updated")
            .map(|e| &e["data"])
            .collect();
        assert_eq!(metrics.last().unwrap()["bytes_in_flight"], 0);
    }
    let client = traces[0]["events"].as_array().unwrap();
    let phases: Vec<&str> = client
        .iter()
        .filter(|e| e["name"] == "recovery:congestion_state_updated")
        .map(|e| e["data"]["new"].as_str().unwrap())
        .collect();
    assert_eq!(phases[..2], ["slow_start", "recovery"], "{phases:?}");
    let entered = client
        .iter()
        .position(|e| {
            e["name"] == "recovery:congestion_state_updated" && e["data"]["new"] == "recovery"
        })
        .unwrap();
    let cut = client[entered..]
        .iter()
        .find(|e| e["name"] == "recovery:metrics_updated")
        .map(|e| &e["data"])
        .unwrap();
    let peak = client[..entered]
        .iter()
        .filter_map(|e| e["data"]["congestion_window"].as_u64())
        .max()
        .unwrap();
    assert!(
        cut["ssthresh"].as_u64().unwrap() < peak,
        "{cut} after a peak of {peak}"
    );
}

#[test]
fn cli_demo_rejects_a_bad_percentage_with_a_clear_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(["demo", "--loss", "120"])
        .output()
        .expect("run synack");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--loss must be a percentage from 0 to 100"),
        "{err}"
    );
}
