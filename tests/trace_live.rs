//! `synack trace -`: a pcap stream on stdin, fed through a pipe in small pieces with pauses,
//! as `tcpdump -U -w -` delivers it. Each row must appear once its record is complete (and
//! not before), long data phases fold as they go, and a stream cut mid-record still shows
//! everything before the cut.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::Duration;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/trace")
        .join(name)
}

/// `synack trace -` with piped stdin, and its stdout lines arriving on a channel.
fn spawn(extra: &[&str]) -> (Child, ChildStdin, Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(["trace", "-", "--no-color"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("synack runs");
    let stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, stdin, rx)
}

/// A row line: `[1]` then a time in ms.
fn is_row(line: &str) -> bool {
    line.strip_prefix("[1]")
        .and_then(|r| r.split_whitespace().next())
        .is_some_and(|t| t.parse::<f64>().is_ok())
}

/// The classic pcap's header and its records' byte ranges.
fn records(bytes: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let incl = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        out.push(at..at + 16 + incl);
        at += 16 + incl;
    }
    out
}

fn drain_rows(rx: &Receiver<String>, wait: Duration) -> Vec<String> {
    let mut rows = Vec::new();
    loop {
        match rx.recv_timeout(wait) {
            Ok(l) if is_row(&l) => {
                rows.push(l);
                return rows;
            }
            Ok(_) => {}
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return rows,
        }
    }
}

#[test]
fn each_row_appears_when_its_record_completes_through_a_slow_pipe() {
    let bytes = std::fs::read(fixture("halfclose-lo-ethernet.pcap")).expect("fixture");
    assert_eq!(&bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "a classic pcap");
    let recs = records(&bytes);
    assert_eq!(recs.len(), 12);
    let (mut child, mut stdin, rx) = spawn(&["--all"]);
    for chunk in bytes[..24].chunks(5) {
        stdin.write_all(chunk).unwrap();
        stdin.flush().unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut rows = Vec::new();
    for (k, r) in recs.iter().enumerate() {
        let rec = &bytes[r.clone()];
        let (most, last) = rec.split_at(rec.len() - 1);
        for chunk in most.chunks(7) {
            stdin.write_all(chunk).unwrap();
            stdin.flush().unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
        if k < 3 {
            // One byte short of a record: no row yet.
            assert!(
                drain_rows(&rx, Duration::from_millis(150)).is_empty(),
                "row {k} shown before its record was complete"
            );
        }
        stdin.write_all(last).unwrap();
        stdin.flush().unwrap();
        let got = drain_rows(&rx, Duration::from_secs(20));
        assert_eq!(got.len(), 1, "row {k} appears once its record is complete");
        rows.extend(got);
    }
    drop(stdin);
    let rest: Vec<String> = rx.iter().collect();
    assert!(child.wait().unwrap().success());
    assert!(rows[0].contains("SYN-SENT") && rows[0].contains("── SYN seq=0 win=65495 ──▶"));
    assert!(
        rows[3].contains("PSH,ACK seq=1 ack=1 len=12 win=65536"),
        "{}",
        rows[3]
    );
    assert!(rows[11].contains("TIME-WAIT") && rows[11].contains("CLOSED"));
    let rest = rest.join("\n");
    assert!(
        rest.contains("A→B 12 B in 7 segments, B→A 34 B in 5 segments"),
        "{rest}"
    );
    assert!(rest.contains("ended: closed normally"), "{rest}");
}

/// States as a stream shows them match the batch ladder's on captures where the batch
/// inference needs no lookahead (no crossing SYNs or FINs).
#[test]
fn live_states_match_the_batch_ladder() {
    for name in [
        "halfclose-lo-ethernet.pcap",
        "refused.pcap",
        "reset-linger0.pcap",
        "partial-overlap.pcap",
    ] {
        let t = synack::trace::trace_file(&fixture(name)).expect("traces");
        let batch: Vec<(String, String)> = t.ladders[0]
            .rows
            .iter()
            .map(|r| (r.a.to_string(), r.b.to_string()))
            .collect();
        let bytes = std::fs::read(fixture(name)).unwrap();
        let mut out = Vec::new();
        let opts = synack::trace::live::LiveOptions {
            color: false,
            fold: false,
            conn: None,
        };
        synack::trace::live::run(&bytes[..], &mut out, opts).expect("live");
        let text = String::from_utf8(out).unwrap();
        let live: Vec<(String, String)> = text
            .lines()
            .filter(|l| is_row(l))
            .map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                let b = w
                    .iter()
                    .rposition(|x| x.ends_with("──▶") || *x == "──")
                    .map(|i| w[i + 1].to_string())
                    .unwrap();
                (w[2].to_string(), b)
            })
            .collect();
        // Until B's first segment, B's state is an assumption (`SYN-RECEIVED?` after a
        // SYN it may never have been listening for); from then on both agree exactly.
        assert_eq!(live.len(), batch.len(), "{name}");
        let mut assumed = 0;
        for (k, (l, b)) in live.iter().zip(&batch).enumerate() {
            assert_eq!(l.0, b.0, "{name} row {k}: A");
            if l.1.ends_with('?') && !b.1.ends_with('?') {
                assumed += 1;
                continue;
            }
            assert_eq!(l.1, b.1, "{name} row {k}: B");
        }
        assert!(assumed <= 1, "{name}: {assumed} rows with B assumed");
    }
}

#[test]
fn long_data_phase_folds_as_it_goes_and_summary_matches_the_batch() {
    let dir = std::env::temp_dir().join(format!("synack-live-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("lossy.pcap");
    let r = Command::new(env!("CARGO_BIN_EXE_synack"))
        .args([
            "demo", "--loss", "3", "--seed", "5", "--bytes", "300000", "--pcap",
        ])
        .arg(&pcap)
        .output()
        .unwrap();
    assert!(r.status.success());
    let bytes = std::fs::read(&pcap).unwrap();
    let (mut child, mut stdin, rx) = spawn(&[]);
    let feeder = std::thread::spawn(move || {
        for chunk in bytes.chunks(1000) {
            if stdin.write_all(chunk).is_err() {
                break;
            }
        }
    });
    let lines: Vec<String> = rx.iter().collect();
    feeder.join().unwrap();
    assert!(child.wait().unwrap().success());
    let t = synack::trace::trace_file(&pcap).unwrap();
    let l = &t.ladders[0];
    let segments = l.rows.len();
    let folds = lines.iter().filter(|l| l.contains("⋮ ")).count();
    assert!(folds >= 2, "{lines:#?}");
    assert!(lines.len() < segments / 10, "{} lines", lines.len());
    let batch = synack::trace::diagram::summary_lines(l);
    for want in batch.iter().filter(|s| !s.starts_with("note")) {
        assert!(
            lines.iter().any(|x| x.ends_with(want.as_str())),
            "{want} not in {lines:#?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stream_cut_mid_record_shows_what_came_before() {
    let bytes = std::fs::read(fixture("halfclose-lo-ethernet.pcap")).unwrap();
    let (mut child, mut stdin, rx) = spawn(&["--all"]);
    stdin.write_all(&bytes[..bytes.len() - 10]).unwrap();
    drop(stdin);
    let lines: Vec<String> = rx.iter().collect();
    assert!(child.wait().unwrap().success());
    assert_eq!(lines.iter().filter(|l| is_row(l)).count(), 11);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("ended in the middle of a record"))
    );
}

#[test]
fn empty_stdin_and_graph_options_say_what_to_do() {
    let (child, stdin, _rx) = spawn(&[]);
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pipe a capture in"), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(["trace", "-", "--tsg", "x.svg"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("save the stream first"));
}

/// A record claiming more than any capture takes is a typed error, not an allocation.
#[test]
fn oversized_record_is_a_typed_error() {
    let mut bytes = std::fs::read(fixture("halfclose-lo-ethernet.pcap")).unwrap();
    bytes.truncate(24);
    bytes.extend_from_slice(&[
        0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0x7f,
    ]);
    let opts = synack::trace::live::LiveOptions {
        color: false,
        fold: true,
        conn: None,
    };
    let err = synack::trace::live::run(&bytes[..], &mut Vec::new(), opts).unwrap_err();
    assert_eq!(
        err,
        synack::trace::TraceError::RecordTooLarge {
            packet: 1,
            len: 0x7fff_ffff,
            max: synack::trace::live::MAX_RECORD
        }
    );
}
