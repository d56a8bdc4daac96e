//! Interop with the Linux kernel's TCP over a TUN device.
//!
//! Each test creates its own network namespace (`synack-<pid>-<n>`), runs `synack` inside it on
//! `tun0` (so the device and all traffic stay in the namespace), runs the kernel's side in it
//! too (`tests/interop/peer.py`, `ping`, `nc`, `ss`, `nft`), and deletes everything afterwards,
//! also on failure: every spawned child is killed by its pid when its guard drops, then the
//! namespace is deleted.
//!
//! Without root (or without `ip`/`python3`/`/dev/net/tun`) the tests print why and pass; with
//! `SYNACK_REQUIRE_INTEROP=1` (as `.ci/run` sets) a skip is a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::{Netns, Proc, Report};

const SYNACK: &str = env!("CARGO_BIN_EXE_synack");
const KERNEL4: &str = "198.18.0.1";
const SYNACK4: &str = "198.18.0.2";
const KERNEL6: &str = "2001:db8::1";
const SYNACK6: &str = "2001:db8::2";
const MIB32: u64 = 32 << 20;
const IMPAIR: &str = "loss=2%,delay=10ms,jitter=5ms,duplicate=1%,seed=";

/// Bytes each way of the impaired transfers: 32 MiB, as the issue asks. They are the slowest
/// tests (the whole file took ~180 s on 2 cores before SACK and RACK-TLP, which tell the 5 ms
/// jitter from loss, and ~50 s since); `SYNACK_INTEROP_IMPAIRED_MIB=N` picks another size.
fn impaired_bytes() -> u64 {
    let mib = std::env::var("SYNACK_INTEROP_IMPAIRED_MIB")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(32);
    mib << 20
}

/// Whether the interop tests can run here: they all need python3 (the kernel's peer), some
/// `extra_tools` too.
fn can_run(test: &str, extra_tools: &[(&str, &str)]) -> bool {
    let mut tools = vec![("python3", "--version")];
    tools.extend_from_slice(extra_tools);
    support::can_run(test, &tools)
}

impl Netns {
    /// `synack serve` on tun0 of this namespace, once it says it is listening.
    fn serve(&self, v6: bool, port: u16, mode: &str, extra: &[&str]) -> Proc {
        let args = serve_args(v6, port, mode, extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut p = self.spawn(SYNACK, &args);
        p.expect_line(|l| l.starts_with("listening on"), 10);
        p
    }
}

/// The arguments of `synack serve` on tun0 (`--msl 500ms` unless `extra` sets it).
fn serve_args(v6: bool, port: u16, mode: &str, extra: &[&str]) -> Vec<String> {
    let (addr, kernel) = if v6 {
        (SYNACK6, format!("{KERNEL6}/64"))
    } else {
        (SYNACK4, format!("{KERNEL4}/24"))
    };
    let mut args: Vec<String> = [
        "serve",
        "--tun",
        "tun0",
        "--addr",
        addr,
        "--kernel-addr",
        &kernel,
        "--port",
        &port.to_string(),
        "--mode",
        mode,
    ]
    .map(String::from)
    .to_vec();
    if !extra.contains(&"--msl") {
        args.extend(["--msl".into(), "500ms".into()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// The per-connection line of `synack serve` after the connection ended.
fn serve_line(serve: &mut Proc, secs: u64) -> Report {
    Report::parse(&serve.expect_line(|l| l.starts_with("conn "), secs))
}

// ---------------------------------------------------------------- data

fn sha_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What `synack serve --mode source` and peer.py send: byte i is i % 251.
fn pattern(len: u64) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// A temporary file, removed on drop.
struct TempFile(PathBuf);

static NEXT_FILE: AtomicUsize = AtomicUsize::new(0);

impl TempFile {
    fn new(tag: &str) -> TempFile {
        TempFile(std::env::temp_dir().join(format!(
            "synack-interop-{}-{}-{tag}",
            std::process::id(),
            NEXT_FILE.fetch_add(1, Ordering::Relaxed)
        )))
    }

    /// A file of `len` pseudo-random bytes (xorshift), so reordering would show.
    fn random(len: u64) -> TempFile {
        let f = TempFile::new("in");
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let data: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        std::fs::write(&f.0, data).unwrap();
        f
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn stdin_from(f: &TempFile) -> Stdio {
    Stdio::from(std::fs::File::open(&f.0).unwrap())
}

/// `synack nc HOST PORT` in the namespace with stdin from `input` and stdout to a new file.
fn synack_nc(ns: &Netns, v6: bool, port: u16, input: Stdio, extra: &[&str]) -> (Proc, TempFile) {
    let out = TempFile::new("out");
    let args = nc_args(v6, port, extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let p = ns.spawn_with(SYNACK, &args, input, Some(&out.0));
    (p, out)
}

/// The arguments of `synack nc [extra] HOST PORT` on tun0, HOST being the kernel's address.
fn nc_args(v6: bool, port: u16, extra: &[&str]) -> Vec<String> {
    let (addr, kernel, host) = if v6 {
        (SYNACK6, format!("{KERNEL6}/64"), KERNEL6)
    } else {
        (SYNACK4, format!("{KERNEL4}/24"), KERNEL4)
    };
    let mut args: Vec<String> = [
        "nc",
        "--tun",
        "tun0",
        "--addr",
        addr,
        "--kernel-addr",
        &kernel,
    ]
    .map(String::from)
    .to_vec();
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend([host.to_string(), port.to_string()]);
    args
}

/// The kernel listens on its address, which exists only once synack has created tun0; so the
/// peer binds the wildcard address instead.
fn kernel_listener(ns: &Netns, v6: bool, port: u16, args: &[&str]) -> Proc {
    let any = if v6 { "::" } else { "0.0.0.0" };
    let port = port.to_string();
    let mut all = vec!["listen", any, &port];
    all.extend_from_slice(args);
    let mut p = ns.peer(&all);
    p.expect_line(|l| l == "listening", 10);
    p
}

fn timed<T>(name: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let r = f();
    eprintln!("{name}: {:.2}s", start.elapsed().as_secs_f64());
    r
}

// ---------------------------------------------------------------- cases

/// The kernel sends `bytes` to `synack serve --mode echo [extra]` and reads them back; returns
/// what serve printed on stderr (its counters).
fn kernel_client_echo(v6: bool, extra: &[&str], nft_drop: bool, bytes: u64, secs: u64) -> String {
    let ns = Netns::new("synack");
    let mut serve = ns.serve(v6, 7, "echo", extra);
    if nft_drop {
        add_nft_drop(&ns);
    }
    let host = if v6 { SYNACK6 } else { SYNACK4 };
    let mut peer = ns.peer(&[
        "connect",
        host,
        "7",
        "--send",
        &bytes.to_string(),
        "--timeout",
        &secs.to_string(),
    ]);
    let r = peer.report(secs);
    assert_eq!(r.get("error"), "", "{r:?}");
    assert_eq!(
        (r.num("sent"), r.num("recv"), r.num("eofs")),
        (bytes, bytes, 1)
    );
    assert_eq!(r.get("recv_sha256"), r.get("sent_sha256"));
    assert_eq!(r.get("sent_sha256"), sha_hex(&pattern(bytes)));
    let line = serve_line(&mut serve, 10);
    assert_eq!(
        (line.num("in"), line.num("out"), line.get("end")),
        (bytes, bytes, "clean"),
        "{line:?}"
    );
    serve.terminate();
    serve.stderr()
}

/// `synack nc [extra]` sends `bytes` to a kernel echo server and reads them back; returns
/// what nc printed on stderr.
fn synack_client_echo(v6: bool, extra: &[&str], nft_drop: bool, bytes: u64, secs: u64) -> String {
    let ns = Netns::new("synack");
    let mut server = kernel_listener(&ns, v6, 5001, &["--echo"]);
    let input = TempFile::random(bytes);
    let (mut nc, out) = synack_nc(&ns, v6, 5001, stdin_from(&input), extra);
    if nft_drop {
        // The rule goes in once tun0 exists; a dropped SYN is simply retransmitted.
        add_nft_drop(&ns);
    }
    let status = nc.wait(secs);
    assert!(status.success(), "synack nc: {status}: {}", nc.stderr());
    let r = server.report(10);
    assert_eq!(
        (r.num("recv"), r.num("sent"), r.num("eofs")),
        (bytes, bytes, 1)
    );
    let want = sha_hex(&std::fs::read(&input.0).unwrap());
    assert_eq!(r.get("recv_sha256"), want);
    assert_eq!(sha_hex(&std::fs::read(&out.0).unwrap()), want);
    nc.stderr()
}

/// nftables drops 2% of TCP packets the kernel sends and receives.
fn add_nft_drop(ns: &Netns) {
    ns.run_ok("nft", &["add", "table", "inet", "synack"]);
    for hook in ["input", "output"] {
        let spec = format!("{{ type filter hook {hook} priority 0 ; }}");
        ns.run_ok("nft", &["add", "chain", "inet", "synack", hook, &spec]);
        ns.run_ok(
            "nft",
            &[
                "add", "rule", "inet", "synack", hook, "meta", "l4proto", "tcp", "numgen",
                "random", "mod", "100", "<", "2", "drop",
            ],
        );
    }
}

#[test]
fn kernel_client_to_synack_server_32mib_each_way() {
    if can_run("kernel_client_to_synack_server", &[]) {
        timed("kernel_client_to_synack_server_32mib_each_way", || {
            kernel_client_echo(false, &[], false, MIB32, 60);
        });
    }
}

#[test]
fn synack_client_to_kernel_server_32mib_each_way() {
    if can_run("synack_client_to_kernel_server", &[]) {
        timed("synack_client_to_kernel_server_32mib_each_way", || {
            synack_client_echo(false, &[], false, MIB32, 60);
        });
    }
}

#[test]
fn ipv6_kernel_client_to_synack_server_32mib_each_way() {
    if can_run("ipv6_kernel_client_to_synack_server", &[]) {
        timed("ipv6_kernel_client_to_synack_server_32mib_each_way", || {
            kernel_client_echo(true, &[], false, MIB32, 60);
        });
    }
}

#[test]
fn ipv6_synack_client_to_kernel_server_32mib_each_way() {
    if can_run("ipv6_synack_client_to_kernel_server", &[]) {
        timed("ipv6_synack_client_to_kernel_server_32mib_each_way", || {
            synack_client_echo(true, &[], false, MIB32, 60);
        });
    }
}

#[test]
fn impaired_kernel_client_to_synack_server_each_way() {
    if can_run("impaired_kernel_client_to_synack_server", &[]) {
        let impair = format!("{IMPAIR}1");
        timed("impaired_kernel_client_to_synack_server_each_way", || {
            kernel_client_echo(false, &["--impair", &impair], false, impaired_bytes(), 600);
        });
    }
}

#[test]
fn impaired_synack_client_to_kernel_server_with_nft_drop_each_way() {
    if can_run(
        "impaired_synack_client_with_nft_drop",
        &[("nft", "--version")],
    ) {
        let impair = format!("{IMPAIR}2");
        timed(
            "impaired_synack_client_to_kernel_server_with_nft_drop_each_way",
            || {
                synack_client_echo(false, &["--impair", &impair], true, impaired_bytes(), 600);
            },
        );
    }
}

/// The `TcpInSegs`/`TcpOutSegs` counter from the stderr of `synack serve`.
fn counter(stderr: &str, name: &str) -> u64 {
    let mut words = stderr.split_whitespace();
    words
        .find(|w| *w == name)
        .and_then(|_| words.next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {stderr}"))
}

/// 32 MiB each way between the kernel and `synack serve [extra]` (SHA-256 both ways); returns
/// how many segments synack received and sent, one MSS being 1448 bytes with timestamps.
fn kernel_client_echo_segments(v6: bool, extra: &[&str]) -> (u64, u64, u64) {
    let stderr = kernel_client_echo(v6, extra, false, MIB32, 60);
    assert!(!stderr.contains("refused TUN offloads"), "{stderr}");
    let (segs_in, segs_out) = (
        counter(&stderr, "TcpInSegs"),
        counter(&stderr, "TcpOutSegs"),
    );
    (segs_in, segs_out, MIB32 / 1448)
}

/// By default (offloads on) both directions go in super-segments: far fewer segments than one
/// per MSS, in and out; the other 32 MiB tests above run this way too.
fn offload_kernel_client_echo(v6: bool) {
    let (segs_in, segs_out, one_per_mss) = kernel_client_echo_segments(v6, &[]);
    assert!(segs_in < one_per_mss / 4, "{segs_in} segments in");
    assert!(segs_out < one_per_mss / 4, "{segs_out} segments out");
}

#[test]
fn offloads_are_on_by_default_and_carry_super_segments_both_ways() {
    if can_run("offloads_are_on_by_default", &[]) {
        timed(
            "offloads_are_on_by_default_and_carry_super_segments_both_ways",
            || offload_kernel_client_echo(false),
        );
    }
}

#[test]
fn ipv6_offloads_are_on_by_default_and_carry_super_segments_both_ways() {
    if can_run("ipv6_offloads_are_on_by_default", &[]) {
        timed(
            "ipv6_offloads_are_on_by_default_and_carry_super_segments_both_ways",
            || offload_kernel_client_echo(true),
        );
    }
}

#[test]
fn no_offload_kernel_client_to_synack_server_32mib_each_way_in_mss_segments() {
    if can_run("no_offload_kernel_client_to_synack_server", &[]) {
        timed(
            "no_offload_kernel_client_to_synack_server_32mib_each_way",
            || {
                let (segs_in, segs_out, one_per_mss) =
                    kernel_client_echo_segments(false, &["--no-offload"]);
                assert!(segs_in >= one_per_mss, "{segs_in} segments in");
                assert!(segs_out >= one_per_mss, "{segs_out} segments out");
            },
        );
    }
}

#[test]
fn no_offload_synack_client_to_kernel_server_32mib_each_way() {
    if can_run("no_offload_synack_client_to_kernel_server", &[]) {
        timed(
            "no_offload_synack_client_to_kernel_server_32mib_each_way",
            || {
                synack_client_echo(false, &["--no-offload"], false, MIB32, 60);
            },
        );
    }
}

#[test]
fn half_close_kernel_shuts_write_side_while_synack_keeps_sending() {
    if !can_run("half_close_kernel_first", &[]) {
        return;
    }
    let ns = Netns::new("synack");
    let n = 4u64 << 20;
    // Without offloads: with them synack can send all 4 MiB and its FIN in a few ms, before a
    // loaded machine has run the peer's shutdown, and then synack closed first.
    let mut serve = ns.serve(
        false,
        19,
        "source",
        &["--bytes", &n.to_string(), "--no-offload"],
    );
    // The kernel sends 1000 bytes and shuts down its write side at once; synack keeps
    // sending its 4 MiB, then closes.
    let mut peer = ns.peer(&["connect", SYNACK4, "19", "--send", "1000"]);
    let r = peer.report(60);
    assert_eq!(r.get("error"), "", "{r:?}");
    assert_eq!((r.num("sent"), r.num("recv"), r.num("eofs")), (1000, n, 1));
    assert_eq!(r.get("data_after_eof"), "");
    assert_eq!(r.get("recv_sha256"), sha_hex(&pattern(n)));
    let line = serve_line(&mut serve, 10);
    assert_eq!(
        (line.num("in"), line.num("out"), line.get("end")),
        (1000, n, "clean"),
        "{line:?}"
    );
    assert_eq!(line.get("closed_first"), "peer", "{line:?}");
    serve.terminate();
}

/// `serve --mode discard` consumes in place (no copy out of the receive ring): every byte
/// the kernel sends is counted, the kernel sees its send complete and the connection close
/// cleanly, with offloads and without.
#[test]
fn serve_discard_counts_every_byte_and_closes_cleanly() {
    if !can_run("serve_discard", &[]) {
        return;
    }
    for extra in [&[][..], &["--no-offload"][..]] {
        let ns = Netns::new("synack");
        let n = 8u64 << 20;
        let mut serve = ns.serve(false, 9, "discard", extra);
        let mut peer = ns.peer(&["connect", SYNACK4, "9", "--send", &n.to_string()]);
        let r = peer.report(60);
        assert_eq!(r.get("error"), "", "{extra:?}: {r:?}");
        assert_eq!((r.num("sent"), r.num("recv"), r.num("eofs")), (n, 0, 1));
        let line = serve_line(&mut serve, 10);
        assert_eq!(
            (line.num("in"), line.num("out"), line.get("end")),
            (n, 0, "clean"),
            "{extra:?}: {line:?}"
        );
        serve.terminate();
    }
}

/// `serve --qlog` streams JSON-SEQ (RFC 7464: RS, JSON, LF per record): a header with the wall
/// clock's reference time, then each connection's sender view as it changes, from the
/// handshake to CLOSED, with its window and bytes in flight while it echoes 1 MiB.
#[test]
fn serve_qlog_streams_each_connections_sender_view_as_json_seq() {
    if !can_run("serve_qlog", &[]) {
        return;
    }
    let ns = Netns::new("synack");
    let qlog = TempFile::new("serve.qlog");
    let path = qlog.0.to_str().unwrap().to_owned();
    let mut serve = ns.serve(false, 7, "echo", &["--qlog", &path]);
    let n = 1u64 << 20;
    let mut peer = ns.peer(&["connect", SYNACK4, "7", "--send", &n.to_string()]);
    let r = peer.report(60);
    assert_eq!((r.get("error"), r.num("recv")), ("", n), "{r:?}");
    let line = serve_line(&mut serve, 10);
    assert_eq!(line.get("end"), "clean", "{line:?}");
    serve.terminate();

    let text = std::fs::read_to_string(&qlog.0).expect("qlog written");
    let records: Vec<serde_json::Value> = text
        .split('\u{1e}')
        .filter(|r| !r.is_empty())
        .map(|r| {
            assert!(r.ends_with('\n'), "a record ends with LF: {r:?}");
            serde_json::from_str(r).expect("each record is JSON")
        })
        .collect();
    let header = &records[0];
    assert_eq!(header["qlog_format"], "JSON-SEQ");
    let reference = header["trace"]["common_fields"]["reference_time"]
        .as_f64()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0;
    assert!(
        (now - reference).abs() < 600_000.0,
        "reference {reference} vs now {now}"
    );
    let states: Vec<&str> = records[1..]
        .iter()
        .filter(|e| e["name"] == "transport:connection_state_updated")
        .map(|e| e["data"]["new"].as_str().unwrap())
        .collect();
    assert_eq!(states.first(), Some(&"SYN-RECEIVED"), "{states:?}");
    assert!(states.contains(&"ESTABLISHED"), "{states:?}");
    assert_eq!(states.last(), Some(&"CLOSED"), "{states:?}");
    let metrics: Vec<&serde_json::Value> = records[1..]
        .iter()
        .filter(|e| e["name"] == "recovery:metrics_updated")
        .map(|e| &e["data"])
        .collect();
    assert!(
        metrics
            .iter()
            .any(|m| m["bytes_in_flight"].as_u64() > Some(0))
    );
    assert!(
        metrics
            .iter()
            .all(|m| m["congestion_window"].as_u64() > Some(0))
    );
    let mut times = records[1..].iter().map(|e| e["time"].as_f64().unwrap());
    let first = times.next().unwrap();
    assert!(
        times
            .fold((true, first), |(ok, t0), t| (ok && t >= t0, t))
            .0,
        "times never go back"
    );
}

#[test]
fn half_close_synack_shuts_write_side_while_kernel_keeps_sending() {
    if !can_run("half_close_synack_first", &[]) {
        return;
    }
    let ns = Netns::new("synack");
    let n = 4u64 << 20;
    // The kernel starts sending only after synack's FIN, so all of it flows over the
    // half-closed connection.
    let mut server = kernel_listener(
        &ns,
        false,
        5002,
        &["--send", &n.to_string(), "--send-after-eof"],
    );
    let input = TempFile::random(1000);
    let (mut nc, out) = synack_nc(&ns, false, 5002, stdin_from(&input), &[]);
    let status = nc.wait(60);
    assert!(status.success(), "synack nc: {status}: {}", nc.stderr());
    let r = server.report(10);
    assert_eq!((r.num("recv"), r.num("sent"), r.num("eofs")), (1000, n, 1));
    assert_eq!(r.get("data_after_eof"), "");
    assert_eq!(
        r.get("recv_sha256"),
        sha_hex(&std::fs::read(&input.0).unwrap())
    );
    let got = std::fs::read(&out.0).unwrap();
    assert_eq!(got.len() as u64, n);
    assert_eq!(sha_hex(&got), sha_hex(&pattern(n)));
}

/// Lines of `ss -tan state time-wait` in the namespace mentioning `needle`.
fn kernel_time_wait(ns: &Netns, needle: &str) -> Vec<String> {
    ns.run_ok("ss", &["-tan", "state", "time-wait"])
        .lines()
        .filter(|l| l.contains(needle))
        .map(str::to_owned)
        .collect()
}

#[test]
fn kernel_closes_first_and_the_kernel_holds_time_wait() {
    if !can_run("kernel_closes_first", &[("ss", "-V")]) {
        return;
    }
    let ns = Netns::new("synack");
    let mut serve = ns.serve(false, 7, "echo", &[]);
    // The kernel sends, shuts down (its FIN goes first), reads the echo, then closes.
    let mut peer = ns.peer(&["connect", SYNACK4, "7", "--send", "100000"]);
    let r = peer.report(30);
    assert_eq!(
        (r.num("sent"), r.num("recv"), r.num("eofs")),
        (100000, 100000, 1)
    );
    let line = serve_line(&mut serve, 10);
    assert_eq!(
        (
            line.get("end"),
            line.get("closed_first"),
            line.get("time_wait")
        ),
        ("clean", "peer", "no"),
        "{line:?}"
    );
    let local = r.get("local").to_owned();
    let tw = kernel_time_wait(&ns, &local);
    assert_eq!(tw.len(), 1, "kernel TIME-WAIT for {local}: {tw:?}");
    serve.terminate();
}

#[test]
fn synack_closes_first_reports_the_connection_at_time_wait_and_still_holds_it() {
    if !can_run("synack_closes_first", &[("ss", "-V")]) {
        return;
    }
    let ns = Netns::new("synack");
    // TIME-WAIT lasts 2 × 5 s; the stats table every second shows what synack holds.
    let mut serve = ns.serve(
        false,
        19,
        "source",
        &["--bytes", "100000", "--msl", "5s", "--stats", "1"],
    );
    // synack sends 100000 bytes and closes first; the kernel reads to the end, then closes.
    let mut peer = ns.peer(&["connect", SYNACK4, "19", "--shut", "after-eof"]);
    let r = peer.report(30);
    assert_eq!((r.num("recv"), r.num("eofs")), (100000, 1));
    // The kernel went CLOSE-WAIT → LAST-ACK → CLOSED: no TIME-WAIT on its side.
    let local = r.get("local").to_owned();
    assert!(kernel_time_wait(&ns, &local).is_empty());
    // The line comes once both FINs are done, as synack enters TIME-WAIT, not after it.
    let line = serve_line(&mut serve, 5);
    assert_eq!(
        (
            line.get("end"),
            line.get("closed_first"),
            line.get("time_wait")
        ),
        ("clean", "us", "yes"),
        "{line:?}"
    );
    assert!(
        line.get("secs").parse::<f64>().unwrap() < 5.0,
        "reported before TIME-WAIT ends: {line:?}"
    );
    // synack still holds the connection in TIME-WAIT.
    serve.expect_line(|l| l.contains("TIME-WAIT") && l.contains(&local), 5);
    // Stopping neither reports it again nor resets it.
    let rest = serve.terminate();
    assert!(rest.iter().all(|l| !l.starts_with("conn ")), "{rest:?}");
    let err = serve.stderr();
    assert!(err.contains("0 connection(s) still open, 0 reset"), "{err}");
}

#[test]
fn serve_stopped_reports_open_connections_as_open_and_resets_them() {
    if !can_run("serve_stopped_with_open_connections", &[]) {
        return;
    }
    for sig in ["TERM", "INT"] {
        let ns = Netns::new("synack");
        let mut serve = ns.serve(false, 7, "echo", &["--stats", "1"]);
        // The kernel sends 1000 bytes and keeps its side open, reading until EOF or an error.
        let mut peer = ns.peer(&["connect", SYNACK4, "7", "--send", "1000", "--shut", "never"]);
        serve.expect_line(|l| l.contains("ESTABLISHED"), 10);
        serve.signal(sig);
        assert!(serve.wait(10).success(), "{}", serve.stderr());
        std::thread::sleep(Duration::from_millis(50));
        let lines = serve.pending_lines();
        let open: Vec<Report> = lines
            .iter()
            .filter(|l| l.starts_with("conn "))
            .map(|l| Report::parse(l))
            .collect();
        assert_eq!(open.len(), 1, "SIG{sig}: {lines:?}");
        assert_eq!(open[0].get("end"), "open", "{:?}", open[0]);
        assert_eq!(open[0].num("in"), 1000, "{:?}", open[0]);
        let err = serve.stderr();
        assert!(err.contains("1 connection(s) still open, 1 reset"), "{err}");
        // The RST reached the kernel: its socket failed instead of staying ESTABLISHED.
        let r = peer.report(10);
        assert_eq!(r.get("error"), "ECONNRESET", "SIG{sig}: {r:?}");
    }
}

#[test]
fn connect_to_closed_port_is_refused_both_ways() {
    if !can_run("closed_port", &[]) {
        return;
    }
    let ns = Netns::new("synack");
    let mut serve = ns.serve(false, 7, "echo", &[]);
    // The kernel's client: synack answers the SYN to a closed port with RST → ECONNREFUSED.
    let mut peer = ns.peer(&["connect", SYNACK4, "8"]);
    let r = peer.report(10);
    assert_eq!(r.get("error"), "ECONNREFUSED", "{r:?}");
    serve.terminate();
    drop(serve);
    // synack's client: the kernel refuses; nc exits non-zero with "refused" in one line.
    let (mut nc, _out) = synack_nc(&ns, false, 9, Stdio::null(), &[]);
    let status = nc.wait(10);
    let err = nc.stderr();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("refused"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn kernel_abort_mid_transfer_is_reported_as_reset() {
    if !can_run("kernel_abort", &[]) {
        return;
    }
    let ns = Netns::new("synack");
    // Against synack serve: the kernel sends, then aborts with SO_LINGER 0 after 200 KB echoed.
    let mut serve = ns.serve(false, 7, "echo", &[]);
    let mut peer = ns.peer(&[
        "connect",
        SYNACK4,
        "7",
        "--send",
        "10000000",
        "--abort-after",
        "200000",
    ]);
    let r = peer.report(30);
    assert_eq!(r.get("aborted"), "true", "{r:?}");
    let line = serve_line(&mut serve, 10);
    assert_eq!(line.get("end"), "reset", "{line:?}");
    serve.terminate();
    drop(serve);
    // Against synack nc: the kernel server aborts after 200 KB; nc reports the reset.
    let mut server = kernel_listener(&ns, false, 5003, &["--abort-after", "200000"]);
    let input = TempFile::random(8 << 20);
    let (mut nc, _out) = synack_nc(&ns, false, 5003, stdin_from(&input), &[]);
    let status = nc.wait(30);
    let err = nc.stderr();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("reset"), "{err}");
    assert_eq!(server.report(10).get("aborted"), "true");
}

#[test]
fn ping_from_the_kernel_gets_replies_ipv4_and_ipv6() {
    if !can_run("ping", &[("ping", "-V")]) {
        return;
    }
    for v6 in [false, true] {
        let ns = Netns::new("synack");
        let mut serve = ns.serve(v6, 7, "echo", &[]);
        let host = if v6 { SYNACK6 } else { SYNACK4 };
        let out = ns.run_ok("ping", &["-c", "3", "-i", "0.2", "-W", "2", host]);
        assert!(out.contains("3 received"), "{out}");
        let rest = serve.terminate();
        assert!(rest.is_empty(), "{rest:?}");
        assert!(
            serve.stderr().contains("3 echo replies"),
            "{}",
            serve.stderr()
        );
    }
}

#[test]
fn pcap_of_a_transfer_opens_in_tshark() {
    if !can_run("pcap", &[("tshark", "--version")]) {
        return;
    }
    let ns = Netns::new("synack");
    let pcap = TempFile::new("cap.pcap");
    let path = pcap.0.to_str().unwrap().to_owned();
    let mut serve = ns.serve(false, 19, "source", &["--bytes", "50000", "--pcap", &path]);
    let mut peer = ns.peer(&["connect", SYNACK4, "19", "--shut", "after-eof"]);
    assert_eq!(peer.report(30).num("recv"), 50000);
    serve_line(&mut serve, 10);
    serve.terminate();
    let out = Command::new("tshark")
        .args([
            "-r",
            &path,
            "-o",
            "tcp.check_checksum:TRUE",
            "-o",
            "ip.check_checksum:TRUE",
        ])
        .args(["-Y", "tcp", "-T", "fields", "-e", "tcp.flags.str"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().count() > 10, "{text}");
    let bad = Command::new("tshark")
        .args([
            "-r",
            &path,
            "-o",
            "tcp.check_checksum:TRUE",
            "-o",
            "ip.check_checksum:TRUE",
        ])
        .args([
            "-Y",
            "_ws.malformed || ip.checksum_bad.expert || tcp.checksum_bad.expert",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&bad.stdout).trim(), "");
}

#[test]
fn kernel_nc_and_curl_reach_synack_serve() {
    if !can_run("nc_and_curl", &[("nc", "-h"), ("curl", "--version")]) {
        return;
    }
    let ns = Netns::new("synack");
    let mut echo = ns.serve(false, 7, "echo", &[]);
    // netcat-openbsd: -N shuts down the write side at stdin EOF, then reads the echo.
    let mut nc = ns.cmd("nc", &["-N", "-w", "5", SYNACK4, "7"]);
    let mut child = nc
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"hello over synack\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, b"hello over synack\n");
    assert_eq!(serve_line(&mut echo, 10).get("end"), "clean");
    echo.terminate();
    drop(echo);
    // curl reads what `--mode source` sends (no HTTP: --http0.9 takes the raw bytes).
    let mut source = ns.serve(false, 80, "source", &["--bytes", "300000"]);
    let url = format!("http://{SYNACK4}/");
    let out = ns
        .cmd("curl", &["-s", "--http0.9", "--max-time", "10", &url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, pattern(300000));
    assert_eq!(serve_line(&mut source, 10).get("end"), "clean");
    source.terminate();
}

#[test]
fn synack_nc_delivers_hello_to_kernel_nc_and_exits_zero() {
    if !can_run("synack_nc_to_kernel_nc", &[("nc", "-h")]) {
        return;
    }
    let ns = Netns::new("synack");
    // netcat-openbsd listening on the wildcard address (tun0 does not exist yet).
    let out = TempFile::new("knc");
    let mut knc = ns.spawn_with("nc", &["-l", "-p", "5004"], Stdio::null(), Some(&out.0));
    // Give nc a moment to listen; a SYN before that is refused and the test would say so.
    std::thread::sleep(Duration::from_millis(300));
    let input = TempFile::new("hello");
    std::fs::write(&input.0, b"hello").unwrap();
    let (mut nc, _) = synack_nc(&ns, false, 5004, stdin_from(&input), &[]);
    let status = nc.wait(10);
    assert!(status.success(), "synack nc: {status}: {}", nc.stderr());
    assert!(knc.wait(10).success(), "kernel nc: {}", knc.stderr());
    assert_eq!(std::fs::read(&out.0).unwrap(), b"hello");
}

/// `tests/interop/many.py`: many concurrent kernel echo clients.
fn many_script() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/many.py")
}

/// Bytes waiting in the pipe whose read end is `fd`, and the pipe's capacity.
fn pipe_fill(fd: &impl std::os::fd::AsRawFd) -> (usize, usize) {
    let fd = fd.as_raw_fd();
    let mut queued: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int through the pointer, which points at one.
    let r = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut queued) };
    assert_eq!(r, 0, "FIONREAD");
    // SAFETY: F_GETPIPE_SZ takes no argument and returns the capacity.
    let capacity = unsafe { libc::fcntl(fd, libc::F_GETPIPE_SZ) };
    assert!(capacity > 0, "F_GETPIPE_SZ");
    (queued as usize, capacity as usize)
}

#[test]
fn serve_with_its_stdout_pipe_unread_completes_every_connection_and_counts_dropped_lines() {
    use std::io::{BufRead, BufReader, Read};
    if !can_run("serve_stdout_unread", &[]) {
        return;
    }
    const CONNS: usize = 3000;
    let ns = Netns::new("synack");
    let args = serve_args(false, 7, "echo", &["--backlog", "256"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut serve = ns.spawn_raw(SYNACK, &args, Stdio::null(), Stdio::piped());
    let mut pipe = serve.child.stdout.take().unwrap();
    // Read the "listening" line, byte by byte so nothing after it is taken; then nobody
    // reads the pipe until every connection is done.
    let mut first = Vec::new();
    let mut byte = [0u8; 1];
    while first.last() != Some(&b'\n') {
        assert_eq!(
            pipe.read(&mut byte).unwrap(),
            1,
            "serve exited: {}",
            serve.stderr()
        );
        first.push(byte[0]);
    }
    assert!(first.starts_with(b"listening on"));
    // ~95 bytes a line: 3000 lines fill a 64 KiB pipe more than four times over.
    let many = many_script();
    let out = ns.run_ok(
        "python3",
        &[
            many.to_str().unwrap(),
            SYNACK4,
            "7",
            "--conns",
            &CONNS.to_string(),
            "--concurrency",
            "200",
            "--bytes",
            "1000",
            "--timeout",
            "10",
            "--fail-fast",
        ],
    );
    let r = Report::parse(&out);
    assert_eq!(
        (r.num("ok"), r.num("failed")),
        (CONNS as u64, 0),
        "{out}; serve: {}",
        serve.stderr()
    );
    // All that while the pipe was full and unread. (Full means every page slot is used: a
    // write that does not fit the last page starts a new one, so a full pipe may hold less
    // than its capacity.)
    let (queued, capacity) = pipe_fill(&pipe);
    assert!(queued >= capacity / 2, "pipe holds {queued} of {capacity}");
    // Now read it: every connection has its line, or was counted as dropped.
    let reader = std::thread::spawn(move || {
        BufReader::new(pipe)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    std::thread::sleep(Duration::from_millis(500));
    serve.signal("TERM");
    assert!(serve.wait(10).success(), "{}", serve.stderr());
    let lines = reader.join().unwrap();
    let conn_lines: Vec<Report> = lines
        .iter()
        .filter(|l| l.starts_with("conn "))
        .map(|l| Report::parse(l))
        .collect();
    assert!(
        conn_lines
            .iter()
            .all(|l| l.get("end") == "clean" && l.num("in") == 1000 && l.num("out") == 1000),
        "{conn_lines:?}"
    );
    let err = serve.stderr();
    let dropped: usize = err
        .lines()
        .find(|l| l.contains("output line(s) dropped"))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(dropped > 0, "the queue should have overflowed: {err}");
    assert_eq!(conn_lines.len() + dropped, CONNS, "{err}");
}

/// Kernel sockets in the namespace that are ESTABLISHED on local port `port`.
fn kernel_established(ns: &Netns, port: u16) -> Vec<String> {
    let filter = format!("( sport = :{port} )");
    ns.run_ok("ss", &["-tanH", "state", "established", &filter])
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Waits until the kernel has an ESTABLISHED socket on `port`; panics after 10 s.
fn await_kernel_established(ns: &Netns, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while kernel_established(ns, port).is_empty() {
        assert!(Instant::now() < deadline, "no connection on port {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn nc_exiting_because_its_stdout_is_closed_resets_the_connection() {
    if !can_run("nc_stdout_closed", &[("ss", "-V")]) {
        return;
    }
    let ns = Netns::new("synack");
    // The kernel sends 8 MiB and keeps its side open: without a RST it would wait for ever.
    let mut server = kernel_listener(&ns, false, 5005, &["--send", "8388608", "--shut", "never"]);
    let args = nc_args(false, 5005, &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // Stdin stays open (no FIN from nc); stdout is a pipe whose reader is gone at once.
    let mut nc = ns.spawn_raw(SYNACK, &args, Stdio::piped(), Stdio::piped());
    drop(nc.child.stdout.take());
    let status = nc.wait(20);
    let err = nc.stderr();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(
        err.contains("writing stdout") && err.contains("Broken pipe"),
        "{err}"
    );
    let r = server.report(10);
    assert!(
        ["ECONNRESET", "EPIPE"].contains(&r.get("error")),
        "the kernel's socket did not see the reset: {r:?}"
    );
    assert!(kernel_established(&ns, 5005).is_empty());
}

#[test]
fn nc_stopped_by_a_signal_resets_the_connection() {
    if !can_run("nc_signalled", &[("ss", "-V")]) {
        return;
    }
    for (sig, code) in [("TERM", 143), ("INT", 130), ("HUP", 129)] {
        let ns = Netns::new("synack");
        let mut server = kernel_listener(&ns, false, 5006, &["--shut", "never"]);
        let args = nc_args(false, 5006, &[]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut nc = ns.spawn_raw(SYNACK, &args, Stdio::piped(), Stdio::null());
        await_kernel_established(&ns, 5006);
        nc.signal(sig);
        let status = nc.wait(10);
        let err = nc.stderr();
        assert_eq!(status.code(), Some(code), "SIG{sig}: {err}");
        assert!(err.contains(&format!("stopped by SIG{sig}")), "{err}");
        let r = server.report(10);
        assert_eq!(r.get("error"), "ECONNRESET", "SIG{sig}: {r:?}");
        assert!(kernel_established(&ns, 5006).is_empty());
    }
}

/// A kernel UDP client (python3) against `synack serve --udp --mode echo`, both families:
/// datagrams of 1 byte up to 20,000 bytes (larger than the MTU: the kernel fragments them,
/// synack reassembles, and fragments its echo, which the kernel reassembles) come back
/// whole, from the server's address and port. `ping -s 4000` (a fragmented echo request)
/// gets its fragmented reply too (`ping -s 4000`).
#[test]
fn kernel_udp_client_and_ping_with_fragments_reach_synack_serve_udp() {
    if !can_run("serve --udp", &[("ping", "-V")]) {
        return;
    }
    const CLIENT: &str = "import socket,sys,hashlib\n\
        host=sys.argv[1]\n\
        fam=socket.AF_INET6 if ':' in host else socket.AF_INET\n\
        s=socket.socket(fam,socket.SOCK_DGRAM)\n\
        s.settimeout(5)\n\
        ok=0\n\
        for n in (1,0,100,1400,1500,4000,20000):\n\
        \x20   d=bytes((i*13)%251 for i in range(n))\n\
        \x20   s.sendto(d,(host,5300))\n\
        \x20   r,a=s.recvfrom(65535)\n\
        \x20   assert a[0]==host and a[1]==5300,a\n\
        \x20   assert hashlib.sha256(r).digest()==hashlib.sha256(d).digest(),(n,len(r))\n\
        \x20   ok+=1\n\
        print('ok',ok,flush=True)\n";
    for v6 in [false, true] {
        let ns = Netns::new("synack");
        let mut serve = ns.serve(v6, 5300, "echo", &["--udp"]);
        let host = if v6 { SYNACK6 } else { SYNACK4 };
        let out = ns.run_ok("python3", &["-c", CLIENT, host]);
        assert_eq!(out.trim(), "ok 7", "v6={v6}");
        let out = ns.run_ok(
            "ping",
            &["-c", "2", "-i", "0.2", "-W", "2", "-s", "4000", host],
        );
        assert!(out.contains("2 received"), "{out}");
        let rest = serve.terminate();
        assert!(rest.is_empty(), "{rest:?}");
        let stderr = serve.stderr();
        assert!(stderr.contains("7 datagram(s)"), "{stderr}");
        assert!(stderr.contains("2 echo replies"), "{stderr}");
    }
}

/// Waits until the kernel has its route into tun0 (an IPv6 prefix route appears a moment after
/// the address): datagrams sent before that draw no answer, as UDP loses them.
fn wait_for_tun_route(ns: &Netns, v6: bool) {
    let family = if v6 { "-6" } else { "-4" };
    let deadline = Instant::now() + Duration::from_secs(10);
    let routed = || {
        let out = ns
            .cmd("ip", &[family, "route", "show", "dev", "tun0"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).contains('/')
    };
    while !routed() {
        assert!(Instant::now() < deadline, "no route on tun0");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `synack nc -u` against a kernel UDP echo server: each line of stdin goes as a datagram and
/// the echoes are printed.
#[test]
fn synack_nc_u_sends_lines_as_datagrams_to_a_kernel_echo_server() {
    if !can_run("nc -u", &[]) {
        return;
    }
    const ECHO: &str = "import socket,sys\n\
        fam=socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET\n\
        s=socket.socket(fam,socket.SOCK_DGRAM)\n\
        s.bind((sys.argv[1],5400))\n\
        print('ready',flush=True)\n\
        while True:\n\
        \x20   d,a=s.recvfrom(65535)\n\
        \x20   s.sendto(d.upper(),a)\n";
    for v6 in [false, true] {
        let ns = Netns::new("synack");
        // The server binds the wildcard address: the kernel's own exists once nc made tun0.
        let any = if v6 { "::" } else { "0.0.0.0" };
        let mut server = ns.spawn("python3", &["-c", ECHO, any]);
        server.expect_line(|l| l == "ready", 10);
        let (mut nc, out) = synack_nc(&ns, v6, 5400, Stdio::piped(), &["-u"]);
        // The lines go once the kernel can answer: its route to synack's address is in
        // (an IPv6 prefix route appears a moment after the address), or the first replies
        // would be lost, as UDP loses them.
        wait_for_tun_route(&ns, v6);
        let mut stdin = nc.child.stdin.take().unwrap();
        stdin.write_all(b"hello\nudp world\n").unwrap();
        drop(stdin);
        assert!(nc.wait(20).success(), "{}", nc.stderr());
        let printed = std::fs::read_to_string(&out.0).unwrap();
        assert_eq!(printed, "HELLO\nUDP WORLD\n", "v6={v6}");
        drop(server);
    }
}

/// ICMP port unreachable both ways with the kernel: a kernel UDP client connected to a port
/// `synack serve --udp` does not serve gets `ConnectionRefused` from synack's error, and
/// `synack nc -u` to a port nothing listens on in the kernel ends with "connection refused".
#[test]
fn udp_to_a_closed_port_is_refused_both_ways() {
    if !can_run("udp refused", &[]) {
        return;
    }
    const CLIENT: &str = "import socket,sys\n\
        host=sys.argv[1]\n\
        fam=socket.AF_INET6 if ':' in host else socket.AF_INET\n\
        s=socket.socket(fam,socket.SOCK_DGRAM)\n\
        s.settimeout(5)\n\
        s.connect((host,5399))\n\
        s.send(b'x')\n\
        try:\n\
        \x20   s.recv(100)\n\
        \x20   print('answered')\n\
        except ConnectionRefusedError:\n\
        \x20   print('refused')\n";
    for v6 in [false, true] {
        let ns = Netns::new("synack");
        let mut serve = ns.serve(v6, 5300, "echo", &["--udp"]);
        let host = if v6 { SYNACK6 } else { SYNACK4 };
        let out = ns.run_ok("python3", &["-c", CLIENT, host]);
        assert_eq!(out.trim(), "refused", "v6={v6}");
        let rest = serve.terminate();
        assert!(rest.is_empty(), "{rest:?}");
        assert!(
            serve.stderr().contains("IcmpOutErrors 1"),
            "{}",
            serve.stderr()
        );
        drop(serve);
        // Nothing listens on the kernel's port 5398.
        let (mut nc, _out) = synack_nc(&ns, v6, 5398, Stdio::piped(), &["-u", "-w", "5s"]);
        wait_for_tun_route(&ns, v6);
        let mut stdin = nc.child.stdin.take().unwrap();
        stdin.write_all(b"hello\n").unwrap();
        let status = nc.wait(20);
        drop(stdin);
        assert!(!status.success(), "nc -u should fail");
        assert!(nc.stderr().contains("refused"), "{}", nc.stderr());
    }
}

/// Path MTU discovery (RFC 1191) across a hop with a smaller MTU: synack's namespace `S`
/// forwards between its TUN device and a veth of MTU 1280 toward a router `R`, and the kernel
/// client sits behind `R` on a 1500-byte link, so it offers an MSS of 1460. synack's
/// 1500-byte echo segments reach `S`'s kernel, which cannot forward them and sends ICMP
/// fragmentation needed back through the TUN device; synack lowers its segment size and the
/// 1 MiB echo completes, intact.
#[test]
fn pmtud_across_a_1280_byte_hop_lets_a_transfer_complete() {
    if !can_run("pmtud", &[]) {
        return;
    }
    let s = Netns::new("synack-pmtu-s");
    let r = Netns::new("synack-pmtu-r");
    let c = Netns::new("synack-pmtu-c");
    // S ⇄ R over MTU 1280; R ⇄ C over 1500.
    s.ip(&[
        "link", "add", "vs", "type", "veth", "peer", "name", "vr", "netns", &r.name,
    ]);
    s.ip(&["link", "set", "vs", "mtu", "1280", "up"]);
    s.ip(&["addr", "add", "198.51.100.1/30", "dev", "vs"]);
    r.ip(&["link", "set", "vr", "mtu", "1280", "up"]);
    r.ip(&["addr", "add", "198.51.100.2/30", "dev", "vr"]);
    r.ip(&[
        "link", "add", "vrc", "type", "veth", "peer", "name", "vc", "netns", &c.name,
    ]);
    r.ip(&["link", "set", "vrc", "up"]);
    r.ip(&["addr", "add", "198.51.100.5/30", "dev", "vrc"]);
    c.ip(&["link", "set", "vc", "up"]);
    c.ip(&["addr", "add", "198.51.100.6/30", "dev", "vc"]);
    c.ip(&["route", "add", "default", "via", "198.51.100.5"]);
    r.ip(&["route", "add", "198.18.0.0/24", "via", "198.51.100.1"]);
    for ns in [&s, &r] {
        ns.run_ok("sysctl", &["-qw", "net.ipv4.ip_forward=1"]);
    }
    let mut serve = s.serve(false, 7, "echo", &["--buffer", "262144"]);
    s.ip(&["route", "add", "198.51.100.4/30", "via", "198.51.100.2"]);
    let bytes: u64 = 1 << 20;
    let mut peer = c.peer(&[
        "connect",
        SYNACK4,
        "7",
        "--send",
        &bytes.to_string(),
        "--timeout",
        "60",
    ]);
    let report = peer.report(70);
    assert_eq!(report.get("error"), "", "{report:?}");
    assert_eq!((report.num("sent"), report.num("recv")), (bytes, bytes));
    assert_eq!(report.get("recv_sha256"), report.get("sent_sha256"));
    let line = serve_line(&mut serve, 10);
    assert_eq!(line.get("end"), "clean", "{line:?}");
    serve.terminate();
    let stderr = serve.stderr();
    assert!(
        counter(&stderr, "SynackIcmpErrorsBelieved") >= 1,
        "no ICMP error believed: {stderr}"
    );
}

// ---------------------------------------------------------------- --ladder

/// A live ladder row (`[N] time A-state ── label ──▶ B-state absolute…`) as (A's state,
/// label without its window, B's state, absolute sequence number), or `None` for another
/// line.
fn ladder_row(line: &str) -> Option<(String, String, String, u32)> {
    let w: Vec<&str> = line.split_whitespace().collect();
    w.get(1)?.parse::<f64>().ok()?;
    let a = w.get(2)?.to_string();
    let start = w.iter().position(|x| *x == "──" || *x == "◀──")?;
    let end = start + 1 + w[start + 1..].iter().position(|x| x.starts_with("──"))?;
    let label: Vec<&str> = w[start + 1..end]
        .iter()
        .copied()
        .filter(|x| !x.starts_with("win="))
        .collect();
    let b = w.get(end + 1)?.to_string();
    let seq = w.get(end + 2)?.strip_prefix("seq=")?.parse().ok()?;
    Some((a, label.join(" "), b, seq))
}

/// The value of `name=` on the `[N] symbols: …` line.
fn symbol(lines: &[String], name: &str) -> u32 {
    let line = lines
        .iter()
        .find(|l| l.contains("] symbols: "))
        .expect("a symbols line");
    Report::parse(line)
        .get(name)
        .parse()
        .unwrap_or_else(|_| panic!("{name} in {line}"))
}

/// The rows `lines` holds, and checks they draw one kernel-client connection's whole life
/// (A the client, which sent 1000 bytes and closed first; B the server), with the demo's
/// symbols and both ends' states, relative numbers in the rows and absolute ones beside.
fn assert_whole_life(lines: &[String], what: &str) {
    let rows: Vec<(String, String, String, u32)> =
        lines.iter().filter_map(|l| ladder_row(l)).collect();
    let at = |a: &str, label: &str, b: &str| {
        rows.iter()
            .position(|r| r.0 == a && r.1.starts_with(label) && r.2 == b)
            .unwrap_or_else(|| panic!("{what}: no row {a} | {label} | {b} in {lines:#?}"))
    };
    let syn = at("SYN-SENT", "SYN seq=0", "SYN-RECEIVED?");
    let syn_ack = at("ESTABLISHED", "SYN,ACK seq=0 ack=1", "SYN-RECEIVED");
    let ack = at("ESTABLISHED", "ACK seq=1 ack=1", "ESTABLISHED");
    // PSH or not, as the sender chose.
    let data = rows
        .iter()
        .position(|r| r.1.ends_with("ACK seq=1 ack=1 len=1000") && r.0 == r.2)
        .unwrap_or_else(|| panic!("{what}: no data row in {lines:#?}"));
    let fin_a = at("FIN-WAIT-1", "FIN,ACK seq=1001 ack=1", "CLOSE-WAIT");
    let fin_b = rows
        .iter()
        .position(|r| r.1.starts_with("FIN,ACK seq=1 ack=1002") && r.2 == "LAST-ACK")
        .unwrap_or_else(|| panic!("{what}: no FIN from B in {lines:#?}"));
    let last = at("TIME-WAIT", "ACK seq=1002 ack=2", "CLOSED");
    assert_eq!((syn, syn_ack, ack), (0, 1, 2), "{what}: {lines:#?}");
    assert!(ack < data && data < fin_a && fin_a < fin_b && fin_b < last);
    assert_eq!(last, rows.len() - 1, "{what}: {lines:#?}");
    // The summary's symbols name the absolute numbers the rows show.
    assert_eq!(symbol(lines, "x"), rows[syn].3, "{what}");
    assert_eq!(symbol(lines, "y"), rows[syn_ack].3, "{what}");
    assert_eq!(symbol(lines, "u"), rows[fin_a].3, "{what}");
    assert_eq!(symbol(lines, "w"), rows[fin_b].3, "{what}");
    for want in [
        "A→B 1000 B",
        "retransmissions: A→B 0, B→A 0",
        "A closed first; ended: closed normally, FIN and ACK both ways",
    ] {
        assert!(
            lines.iter().any(|l| l.contains(want)),
            "{what}: no {want:?} in {lines:#?}"
        );
    }
}

/// `serve --ladder`: a kernel client connects, sends 1000 bytes and closes; serve's stdout
/// draws the connection as `synack trace -` would (SYN, SYN,ACK, ACK, data, both FINs, the
/// last ACK, the states after each), its summary as it ends, and only then serve's own
/// report of it. With offloads and without.
#[test]
fn serve_ladder_draws_each_kernel_connection_live() {
    if !can_run("serve_ladder", &[]) {
        return;
    }
    for extra in [&["--ladder"][..], &["--ladder", "--no-offload"][..]] {
        let ns = Netns::new("synack");
        let mut serve = ns.serve(false, 9, "discard", extra);
        let mut peer = ns.peer(&["connect", SYNACK4, "9", "--send", "1000"]);
        assert_eq!(peer.report(30).get("error"), "");
        let seen = std::cell::RefCell::new(Vec::new());
        let report = serve.expect_line(
            |l| {
                seen.borrow_mut().push(l.to_owned());
                l.starts_with("conn ")
            },
            10,
        );
        let lines = seen.into_inner();
        assert_eq!(Report::parse(&report).get("end"), "clean");
        let header = lines
            .iter()
            .position(|l| l.starts_with("connection 1: A 198.18.0.1:") && l.ends_with(":9"))
            .unwrap_or_else(|| panic!("{extra:?}: no header in {lines:#?}"));
        let end = lines
            .iter()
            .position(|l| l == "[1] end of connection 1")
            .unwrap_or_else(|| panic!("{extra:?}: no summary in {lines:#?}"));
        assert!(header < end && end < lines.len() - 1, "{lines:#?}");
        assert_whole_life(&lines, &format!("serve {extra:?}"));
        serve.terminate();
    }
}

/// `nc --ladder`: synack is the client; the ladder goes to stderr (stdout carries the data).
#[test]
fn nc_ladder_draws_its_connection_on_stderr() {
    if !can_run("nc_ladder", &[]) {
        return;
    }
    let ns = Netns::new("synack");
    // The kernel reads to the end, then closes: synack's FIN goes first.
    let mut peer = kernel_listener(&ns, false, 5005, &["--shut", "after-eof"]);
    let input = TempFile::new("ladder-in");
    std::fs::write(&input.0, pattern(1000)).unwrap();
    let (mut nc, _) = synack_nc(&ns, false, 5005, stdin_from(&input), &["--ladder"]);
    assert!(nc.wait(20).success(), "{}", nc.stderr());
    assert_eq!(peer.report(10).num("recv"), 1000);
    let lines: Vec<String> = nc.stderr().lines().map(String::from).collect();
    assert!(
        lines[0].starts_with("connection 1: A 198.18.0.2:")
            && lines[0].ends_with(" B 198.18.0.1:5005"),
        "{lines:#?}"
    );
    assert_whole_life(&lines, "nc");
}

/// `serve --ladder` with its stdout never read: the rows are dropped and counted, and every
/// connection completes as it would without the ladder.
#[test]
fn serve_ladder_with_stdout_unread_never_holds_up_a_connection() {
    use std::io::Read;
    if !can_run("serve_ladder_unread", &[]) {
        return;
    }
    const CONNS: usize = 500;
    let ns = Netns::new("synack");
    let args = serve_args(false, 7, "echo", &["--backlog", "256", "--ladder"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut serve = ns.spawn_raw(SYNACK, &args, Stdio::null(), Stdio::piped());
    let mut pipe = serve.child.stdout.take().unwrap();
    let mut first = Vec::new();
    let mut byte = [0u8; 1];
    while first.last() != Some(&b'\n') {
        assert_eq!(pipe.read(&mut byte).unwrap(), 1, "{}", serve.stderr());
        first.push(byte[0]);
    }
    assert!(first.starts_with(b"listening on"));
    // About 20 lines of ~150 bytes per connection: the pipe is full after a few dozen.
    let many = many_script();
    let out = ns.run_ok(
        "python3",
        &[
            many.to_str().unwrap(),
            SYNACK4,
            "7",
            "--conns",
            &CONNS.to_string(),
            "--concurrency",
            "50",
            "--bytes",
            "1000",
            "--timeout",
            "10",
            "--fail-fast",
        ],
    );
    let r = Report::parse(&out);
    assert_eq!(
        (r.num("ok"), r.num("failed")),
        (CONNS as u64, 0),
        "{out}; serve: {}",
        serve.stderr()
    );
    let (queued, capacity) = pipe_fill(&pipe);
    assert!(queued >= capacity / 2, "pipe holds {queued} of {capacity}");
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        let _ = pipe.read_to_string(&mut all);
        all
    });
    serve.signal("TERM");
    assert!(serve.wait(10).success(), "{}", serve.stderr());
    let text = reader.join().unwrap();
    assert!(text.contains("[1] "), "the first rows were written");
    let err = serve.stderr();
    assert!(
        err.lines().any(|l| l.contains("output line(s) dropped")),
        "{err}"
    );
}
