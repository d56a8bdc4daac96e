//! `examples/forward.rs` end to end: kernel clients whose traffic goes into a TUN device, the
//! forwarder intercepting every connection on it and splicing each to a kernel socket toward
//! its original destination, and kernel servers there.
//!
//! Three network namespaces, all created and deleted by the test (also on failure):
//! - `A` (client): holds the TUN device (198.18.0.1/24) and routes 198.51.100.0/24 into it;
//! - `B` (forwarder): runs `forward`, which opened the device before the test moved it to `A`
//!   (the open file keeps working across namespaces), so its own kernel sockets go out of `B`;
//! - `C` (server): 198.51.100.2, joined to `B` (198.51.100.1) by a veth pair.
//!
//! The clients and servers are `tests/interop/peer.py`; every stream is compared by length and
//! SHA-256 at both ends. Without root (or `ip`, `python3`, `/dev/net/tun`) the test prints why
//! and passes; with `SYNACK_REQUIRE_INTEROP=1` (as `.ci/run` sets) a skip is a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CLIENT_NET: &str = "198.18.0.1/24";
const SERVER: &str = "198.51.100.2";
const SERVER_NET: &str = "198.51.100.0/24";

// ---------------------------------------------------------------- environment

fn command_works(prog: &str, arg: &str) -> bool {
    Command::new(prog)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    })
}

/// False (after printing why) when the test cannot run here; panics instead when
/// `SYNACK_REQUIRE_INTEROP=1`.
fn can_run(test: &str) -> bool {
    let reason = if !is_root() {
        Some("not root: creating network namespaces and TUN devices needs it".to_string())
    } else if !Path::new("/dev/net/tun").exists() {
        Some("/dev/net/tun does not exist".into())
    } else {
        [("ip", "-V"), ("python3", "--version")]
            .into_iter()
            .find(|(p, a)| !command_works(p, a))
            .map(|(p, _)| format!("{p} is not installed"))
    };
    let Some(reason) = reason else { return true };
    if std::env::var("SYNACK_REQUIRE_INTEROP").as_deref() == Ok("1") {
        panic!("{test}: cannot run: {reason} (SYNACK_REQUIRE_INTEROP=1)");
    }
    let _ = writeln!(std::io::stderr(), "{test}: skipped: {reason}");
    false
}

/// The `forward` example, next to this test's binary (`cargo test` builds examples); built
/// with cargo if this run did not build it.
fn forward_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let path = profile_dir.join("examples").join("forward");
    if !path.exists() {
        let mut c = Command::new(env!("CARGO"));
        c.args(["build", "--example", "forward"])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if !cfg!(debug_assertions) {
            c.arg("--release");
        }
        assert!(
            c.status().unwrap().success(),
            "cargo build --example forward"
        );
    }
    assert!(path.exists(), "no forward example at {}", path.display());
    path
}

// ---------------------------------------------------------------- namespaces and processes

static NEXT_NS: AtomicUsize = AtomicUsize::new(0);

/// A network namespace, deleted on drop.
struct Netns {
    name: String,
}

impl Netns {
    fn new(tag: &str) -> Netns {
        let name = format!(
            "synack-fwd-{}-{}{tag}",
            std::process::id(),
            NEXT_NS.fetch_add(1, Ordering::Relaxed)
        );
        let ok = Command::new("ip").args(["netns", "add", &name]).status();
        assert!(ok.unwrap().success(), "ip netns add {name} failed");
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n NS ARGS…`; panics unless it succeeds.
    fn ip(&self, args: &[&str]) {
        let out = Command::new("ip")
            .args(["-n", &self.name])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ip -n {} {args:?}: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs `prog` in the namespace, reading its stdout lines.
    fn spawn(&self, prog: &str, args: &[&str]) -> Proc {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.name, prog])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let (err, sink) = (child.stderr.take().unwrap(), stderr.clone());
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = BufReader::new(err).read_to_string(&mut s);
            sink.lock().unwrap().push_str(&s);
        });
        Proc {
            what: format!("{prog} {}", args.join(" ")),
            child,
            lines,
            stderr,
        }
    }

    /// `tests/interop/peer.py ARGS…` in the namespace.
    fn peer(&self, args: &[&str]) -> Proc {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/peer.py");
        let mut all = vec![script.to_str().unwrap()];
        all.extend_from_slice(args);
        self.spawn("python3", &all)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// A child process; killed by its pid if still running when dropped.
struct Proc {
    what: String,
    child: Child,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Proc {
    /// Waits for a stdout line matching `pred`.
    fn expect_line(&mut self, pred: impl Fn(&str) -> bool, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if pred(&l) => return l,
                Ok(_) => {}
                Err(e) => {
                    std::thread::sleep(Duration::from_millis(50));
                    let how = match e {
                        RecvTimeoutError::Timeout => format!("nothing within {secs}s"),
                        RecvTimeoutError::Disconnected => {
                            format!("exited ({:?})", self.child.try_wait())
                        }
                    };
                    panic!(
                        "{}: {how}; stderr: {}",
                        self.what,
                        self.stderr.lock().unwrap()
                    );
                }
            }
        }
    }

    /// peer.py's report line as key=value pairs.
    fn report(&mut self, secs: u64) -> HashMap<String, String> {
        let line = self.expect_line(|l| l.contains("sent="), secs);
        line.split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

// ---------------------------------------------------------------- topology

/// The three namespaces with the forwarder running; fields drop in order: the forwarder is
/// killed before the namespaces go.
struct Topology {
    forward: Proc,
    a: Netns,
    _b: Netns,
    c: Netns,
}

fn topology() -> Topology {
    let binary = forward_binary();
    let (a, b, c) = (Netns::new("a"), Netns::new("b"), Netns::new("c"));
    // B ⇄ C: the forwarder's kernel sockets reach the servers over a veth pair.
    b.ip(&[
        "link", "add", "vb", "type", "veth", "peer", "name", "vc", "netns", &c.name,
    ]);
    b.ip(&["addr", "add", "198.51.100.1/24", "dev", "vb"]);
    b.ip(&["link", "set", "vb", "up"]);
    c.ip(&["addr", "add", &format!("{SERVER}/24"), "dev", "vc"]);
    c.ip(&["link", "set", "vc", "up"]);
    // The forwarder opens tun0 in B; the device then moves to A, where the clients are.
    let mut forward = b.spawn(binary.to_str().unwrap(), &["--tun", "tun0"]);
    forward.expect_line(|l| l.starts_with("forwarding on"), 20);
    b.ip(&["link", "set", "tun0", "netns", &a.name]);
    a.ip(&["addr", "add", CLIENT_NET, "dev", "tun0"]);
    a.ip(&["link", "set", "tun0", "up"]);
    a.ip(&["route", "add", SERVER_NET, "dev", "tun0"]);
    Topology {
        forward,
        a,
        _b: b,
        c,
    }
}

// ---------------------------------------------------------------- test

/// One client/server pair: the server's and the client's peer.py arguments.
struct Case {
    port: u16,
    server: Vec<&'static str>,
    client: Vec<&'static str>,
}

fn case(port: u16, server: &[&'static str], client: &[&'static str]) -> Case {
    Case {
        port,
        server: server.to_vec(),
        client: client.to_vec(),
    }
}

#[test]
fn forward_splices_concurrent_intercepted_connections_to_their_destinations_with_half_close() {
    if !can_run("forward") {
        return;
    }
    let mut t = topology();
    let mib = "1048576";
    let cases = [
        // Both directions at once, then both FINs.
        case(5001, &["--send", mib], &["--send", mib]),
        case(5002, &["--send", "300000"], &["--send", "700000"]),
        // The client half-closes first; the server only starts sending once that FIN arrived.
        case(
            5003,
            &["--send", mib, "--send-after-eof"],
            &["--send", "200000"],
        ),
        // The server half-closes first; the client answers after it.
        case(
            5004,
            &["--send", "400000"],
            &["--send", mib, "--send-after-eof"],
        ),
        // Only one direction carries data.
        case(5005, &["--send", "0"], &["--send", mib]),
        case(5006, &["--send", mib], &["--send", "0"]),
    ];
    let mut servers: Vec<Proc> = cases
        .iter()
        .map(|c| {
            let port = c.port.to_string();
            let mut args = vec!["listen", SERVER, port.as_str()];
            args.extend(&c.server);
            // A FIN that never arrives ends in a timeout error, which fails the test.
            args.extend(["--timeout", "60"]);
            t.c.peer(&args)
        })
        .collect();
    for s in &mut servers {
        s.expect_line(|l| l == "listening", 10);
    }
    let mut clients: Vec<Proc> = cases
        .iter()
        .map(|c| {
            let port = c.port.to_string();
            let mut args = vec!["connect", SERVER, port.as_str()];
            args.extend(&c.client);
            args.extend(["--timeout", "60"]);
            t.a.peer(&args)
        })
        .collect();
    // The forwarder's own account: "conn CLIENT -> DESTINATION up=U down=D", by destination.
    let mut spliced = HashMap::new();
    for _ in &cases {
        let line = t.forward.expect_line(|l| l.starts_with("conn "), 90);
        let field = |k: &str| {
            let v = line.split_whitespace().find_map(|w| w.strip_prefix(k));
            v.unwrap_or_else(|| panic!("no {k} in {line:?}")).to_owned()
        };
        let destination = line
            .split_whitespace()
            .nth(3)
            .unwrap_or_default()
            .to_owned();
        spliced.insert(destination, (field("up="), field("down=")));
    }
    for ((c, client), server) in cases.iter().zip(&mut clients).zip(&mut servers) {
        let (cr, sr) = (client.report(30), server.report(30));
        let what = format!("port {}: client {cr:?} server {sr:?}", c.port);
        assert!(
            !cr.contains_key("error") && !sr.contains_key("error"),
            "{what}"
        );
        assert_eq!(cr["sent"], sr["recv"], "{what}");
        assert_eq!(cr["recv"], sr["sent"], "{what}");
        assert_eq!(cr["sent_sha256"], sr["recv_sha256"], "up: {what}");
        assert_eq!(cr["recv_sha256"], sr["sent_sha256"], "down: {what}");
        assert_eq!(
            (cr["eofs"].as_str(), sr["eofs"].as_str()),
            ("1", "1"),
            "{what}"
        );
        // The client reached the original destination; the server saw the forwarder's socket.
        let destination = format!("{SERVER}:{}", c.port);
        assert_eq!(cr["peer"], destination, "{what}");
        assert_eq!(sr["local"], destination, "{what}");
        assert_eq!(sr["peer"].split(':').next(), Some("198.51.100.1"), "{what}");
        assert_eq!(
            spliced.get(&destination),
            Some(&(cr["sent"].clone(), cr["recv"].clone())),
            "forwarder's line for {destination}: {what}"
        );
    }
}

#[test]
fn forward_resets_an_intercepted_connection_whose_destination_refuses() {
    if !can_run("forward") {
        return;
    }
    let mut t = topology();
    // Nothing listens on port 5099 in C: the kernel there answers the forwarder with a RST.
    let mut client = t.a.peer(&[
        "connect",
        SERVER,
        "5099",
        "--send",
        "1000",
        "--timeout",
        "30",
    ]);
    let r = client.report(40);
    let error = r.get("error").map(String::as_str);
    assert!(
        matches!(error, Some("ECONNRESET" | "EPIPE" | "ECONNREFUSED")),
        "client: {r:?}"
    );
    let line = t.forward.expect_line(|l| l.starts_with("conn "), 20);
    assert!(line.contains("failed"), "{line}");
}
