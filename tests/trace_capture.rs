//! `synack trace` on real kernel-to-kernel connections captured with tcpdump, live.
//!
//! As root, each scenario gets its own network namespace (`synack-trace-<pid>-<n>`, loopback
//! only, deleted by a Drop guard also on failure); python3 sockets make the traffic, tcpdump
//! captures it, and the inferred ladders are checked: a half-close, a refused connect, a
//! reset (SO_LINGER 0), a simultaneous close (FINs held back by a slow token bucket so they
//! cross) and a lossy transfer (nftables drops 5% of TCP packets at input). Only processes
//! this test started are stopped, by pid. Without root, ip, tcpdump, nft, tc or python3 it
//! prints why and skips, unless `SYNACK_REQUIRE_INTEROP=1`, when it fails.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use synack::tcp::State;
use synack::trace::{self, Ending, Ladder, Marks};

const SCRIPT: &str = r#"
import socket, struct, sys, threading, time
mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
def listener():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port)); s.listen(4); return s
if mode == 'halfclose':
    s = listener(); c = socket.create_connection((host, port)); a, _ = s.accept()
    c.sendall(b'hello from A'); a.recv(100); time.sleep(0.02)
    c.shutdown(socket.SHUT_WR); a.recv(100)
    a.sendall(b'B still sends while A half-closed'); c.recv(100); time.sleep(0.02)
    a.close(); c.recv(100); c.close()
elif mode == 'refused':
    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try: c.connect((host, port))
    except ConnectionRefusedError: pass
elif mode == 'reset':
    s = listener(); c = socket.create_connection((host, port)); a, _ = s.accept()
    c.sendall(b'x' * 100); a.recv(100)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0)); c.close()
elif mode == 'simclose':
    s = listener(); c = socket.create_connection((host, port)); a, _ = s.accept()
    c.sendall(b'ping'); a.recv(10); time.sleep(0.3)
    c.sendall(b'y' * 4000)   # drains the token bucket: both FINs queue behind this
    c.shutdown(socket.SHUT_WR); a.shutdown(socket.SHUT_WR)
    time.sleep(1.5); c.close(); a.close()
elif mode == 'bulk':
    s = listener(); c = socket.create_connection((host, port)); a, _ = s.accept()
    def rd():
        while a.recv(1 << 20): pass
        a.close()
    t = threading.Thread(target=rd); t.start()
    c.sendall(b'z' * 10_000_000); c.shutdown(socket.SHUT_WR); t.join(); c.close()
"#;

/// Skips with a reason, or fails when interop is required.
fn skip(why: &str) {
    assert!(
        std::env::var("SYNACK_REQUIRE_INTEROP").as_deref() != Ok("1"),
        "SYNACK_REQUIRE_INTEROP=1 but {why}"
    );
    eprintln!("skipped: {why}");
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("command runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A namespace with only loopback up, deleted on drop.
struct Netns(String);

impl Netns {
    fn new(n: usize) -> Netns {
        let name = format!("synack-trace-{}-{n}", std::process::id());
        run(Command::new("ip").args(["netns", "add", &name]));
        let ns = Netns(name);
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        // An Ethernet-sized MTU so segments look like the wire's (loopback's is 64 KiB).
        ns.exec(&["ip", "link", "set", "lo", "mtu", "1500"]);
        ns
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0]).args(args);
        c
    }

    fn exec(&self, args: &[&str]) {
        run(&mut self.cmd(args));
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.0])
            .stderr(Stdio::null())
            .status();
    }
}

/// A process this test started; stopped by its pid on drop.
struct Started(Child);

impl Started {
    fn stop(&mut self) {
        let pid = self.0.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            self.stop();
        }
    }
}

/// Captures one scenario in a fresh namespace and returns the capture file.
fn capture(dir: &Path, n: usize, mode: &str, setup: &[&[&str]]) -> PathBuf {
    let ns = Netns::new(n);
    for args in setup {
        ns.exec(args);
    }
    let pcap = dir.join(format!("{mode}.pcap"));
    let mut tcpdump = Started(
        // --immediate-mode: without it libpcap's TPACKET_V3 ring hands packets over in
        // blocks, up to a second late, and stopping tcpdump loses whatever is still waiting.
        ns.cmd(&[
            "tcpdump",
            "-i",
            "lo",
            "--immediate-mode",
            "-U",
            "-Z",
            "root",
            "-s",
            "128",
            "-w",
        ])
        .arg(&pcap)
        .arg("tcp")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tcpdump starts"),
    );
    // tcpdump writes the file header once it is listening.
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::metadata(&pcap).map_or(true, |m| m.len() < 24) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let script = dir.join("scenario.py");
    let out = ns
        .cmd(&["timeout", "30", "python3"])
        .arg(&script)
        .args([mode, "127.0.0.1", "8080"])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{mode}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until_ended(&pcap);
    tcpdump.stop();
    let mut report = String::new();
    if let Some(mut err) = tcpdump.0.stderr.take() {
        let _ = err.read_to_string(&mut report);
    }
    println!(
        "{mode}: tcpdump says: {}",
        report.trim().replace('\n', "; ")
    );
    drop(ns);
    pcap
}

/// Waits until the capture file shows every connection in it ended (or 15 s pass): a fixed
/// pause lost the end of a lossy transfer whenever tcpdump fell behind on a busy machine.
fn wait_until_ended(pcap: &Path) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        let ended = trace::trace_file(pcap).is_ok_and(|t| {
            !t.ladders.is_empty() && t.ladders.iter().all(|l| l.ending != Ending::Open)
        });
        if ended {
            // A moment for stragglers; what may follow the end (a FIN resent because its ACK
            // was dropped) is not needed.
            std::thread::sleep(Duration::from_millis(100));
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ladder(pcap: &Path) -> Ladder {
    let t = trace::trace_file(pcap).expect("the capture traces");
    assert_eq!(t.ladders.len(), 1, "{}: one connection", pcap.display());
    let out = Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(["trace", "--no-color"])
        .arg(pcap)
        .output()
        .expect("synack trace runs");
    assert!(out.status.success());
    println!("{}", String::from_utf8_lossy(&out.stdout));
    t.ladders.into_iter().next().expect("one")
}

/// The distinct states a side went through, in order.
fn path(l: &Ladder, a: bool) -> Vec<String> {
    let first = if a { l.initial.0 } else { l.initial.1 };
    let mut out = vec![first.to_string()];
    for r in &l.rows {
        let s = if a { r.a } else { r.b }.to_string();
        if out.last() != Some(&s) {
            out.push(s);
        }
    }
    out
}

fn labels(l: &Ladder) -> Vec<String> {
    trace::diagram::Diagram::from_ladder(l, false)
        .items
        .into_iter()
        .filter_map(|i| match i {
            trace::diagram::Item::Segment { label, .. } => Some(label),
            _ => None,
        })
        .collect()
}

const CLOSER: [&str; 6] = [
    "CLOSED",
    "SYN-SENT",
    "ESTABLISHED",
    "FIN-WAIT-1",
    "FIN-WAIT-2",
    "TIME-WAIT",
];
const OTHER: [&str; 6] = [
    "LISTEN",
    "SYN-RECEIVED",
    "ESTABLISHED",
    "CLOSE-WAIT",
    "LAST-ACK",
    "CLOSED",
];

#[test]
fn kernel_connections_captured_live_give_the_rfc_ladders() {
    if !is_root() {
        return skip("not root (network namespaces need it)");
    }
    for tool in ["ip", "tcpdump", "python3", "nft", "tc", "timeout"] {
        if !have(tool) {
            return skip(&format!(
                "{tool} is not installed (apt-get install -y tcpdump nftables iproute2 python3)"
            ));
        }
    }
    let dir = std::env::temp_dir().join(format!("synack-trace-live-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("scenario.py"), SCRIPT).expect("script");

    // Half-close: A sends and shuts down its side; B still sends, then closes.
    let l = ladder(&capture(&dir, 1, "halfclose", &[]));
    assert_eq!(path(&l, true), CLOSER);
    assert_eq!(path(&l, false), OTHER);
    let got = labels(&l);
    assert!(got[0].starts_with("SYN seq=x "), "{got:?}");
    assert!(got[1].starts_with("SYN,ACK seq=y ack=x+1 "), "{got:?}");
    assert!(got[2].starts_with("ACK seq=x+1 ack=y+1 "), "{got:?}");
    assert!(got.iter().any(|g| g.starts_with("FIN,ACK seq=u ack=y+")));
    assert!(
        got.iter()
            .any(|g| g.starts_with("PSH,ACK seq=v ack=u+1 len=33 "))
    );
    assert!(got.iter().any(|g| g.starts_with("FIN,ACK seq=w ack=u+1 ")));
    assert!(
        got.last()
            .is_some_and(|g| g.starts_with("ACK seq=u+1 ack=w+1 "))
    );
    assert_eq!(l.stats.bytes, [12, 33]);
    assert_eq!(
        l.ending,
        Ending::Closed {
            first: trace::Dir::AtoB
        }
    );

    // Refused: nobody listens, the kernel answers the SYN with RST.
    let l = ladder(&capture(&dir, 2, "refused", &[]));
    assert_eq!(path(&l, true), ["CLOSED", "SYN-SENT", "CLOSED"]);
    assert_eq!(path(&l, false), ["CLOSED"]);
    assert!(l.rows[1].marks.contains(Marks::REFUSED));
    assert_eq!(l.ending, Ending::Refused);

    // SO_LINGER 0: close() sends RST instead of FIN.
    let l = ladder(&capture(&dir, 3, "reset", &[]));
    assert_eq!(
        path(&l, true),
        ["CLOSED", "SYN-SENT", "ESTABLISHED", "CLOSED"]
    );
    assert_eq!(
        path(&l, false),
        ["LISTEN", "SYN-RECEIVED", "ESTABLISHED", "CLOSED"]
    );
    let last = l.rows.last().expect("rows");
    assert!(last.flags.rst() && last.marks.contains(Marks::RESET));
    assert_eq!(
        labels(&l).last().map(String::as_str),
        Some("RST,ACK seq=x+101 ack=y+1 win=64512")
    );
    assert_eq!(
        l.ending,
        Ending::Reset {
            from: trace::Dir::AtoB
        }
    );

    // Simultaneous close: a slow token bucket holds both FINs until both are sent.
    let tbf: &[&str] = &[
        "tc", "qdisc", "add", "dev", "lo", "root", "tbf", "rate", "80kbit", "burst", "1600",
        "limit", "200000",
    ];
    let l = ladder(&capture(&dir, 4, "simclose", &[tbf]));
    let crossed = l
        .rows
        .iter()
        .any(|r| r.flags.fin() && r.dir == trace::Dir::BtoA)
        && l.symbols.w.is_some()
        && l.rows.iter().any(|r| {
            r.dir == trace::Dir::BtoA
                && r.flags.fin()
                && l.symbols.u.is_some_and(|(u, _)| r.ack != u + 1)
        });
    assert!(crossed, "the token bucket made the FINs cross");
    assert!(
        l.rows
            .iter()
            .any(|r| r.a.state == Some(State::Closing) || r.b.state == Some(State::Closing)),
        "crossed FINs pass CLOSING"
    );
    assert_eq!(l.ending, Ending::SimultaneousClose);
    let end = l.rows.last().expect("rows");
    assert_eq!(
        (end.a.state, end.b.state),
        (Some(State::TimeWait), Some(State::TimeWait))
    );

    // Lossy: nftables drops 5% of TCP packets. At the input hook, after tcpdump saw them:
    // a drop at output is refused to the sending TCP, which just sends the same data again
    // as new (no retransmission, no gap), so the input hook is where loss looks like loss.
    let nft: [&[&str]; 3] = [
        &["nft", "add", "table", "inet", "t"],
        &[
            "nft",
            "add",
            "chain",
            "inet",
            "t",
            "c",
            "{ type filter hook input priority 0; }",
        ],
        &[
            "nft", "add", "rule", "inet", "t", "c", "meta", "l4proto", "tcp", "numgen", "random",
            "mod", "100", "<", "5", "drop",
        ],
    ];
    let l = ladder(&capture(&dir, 5, "bulk", &nft));
    assert_eq!(
        l.stats.bytes[0], 10_000_000,
        "every byte shows once (snap 128, sizes from IP)"
    );
    let rexmit: u64 = l.stats.retransmissions.iter().sum();
    let dup_acks = l.stats.dup_acks;
    assert!(
        rexmit > 0,
        "retransmissions {rexmit}, duplicate ACKs {dup_acks}"
    );
    let marked = l
        .rows
        .iter()
        .filter(|r| r.marks.contains(Marks::RETRANSMISSION))
        .count() as u64;
    assert_eq!(marked, rexmit, "every retransmission is marked on its row");
    let a = path(&l, true);
    assert_eq!(
        a.get(..3).map(|s| s.to_vec()),
        Some(CLOSER[..3].iter().map(|s| s.to_string()).collect()),
        "{a:?}"
    );
    assert!(
        a.contains(&"FIN-WAIT-1".into()) && a.last().is_some_and(|s| s == "TIME-WAIT"),
        "{a:?}"
    );
    let b = path(&l, false);
    assert!(
        b.contains(&"CLOSE-WAIT".into()) && b.contains(&"LAST-ACK".into()),
        "{b:?}"
    );

    let _ = std::fs::remove_dir_all(&dir);
}
