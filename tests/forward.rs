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

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use support::{Netns, Proc};

const CLIENT_NET: &str = "198.18.0.1/24";
const SERVER: &str = "198.51.100.2";
const SERVER_NET: &str = "198.51.100.0/24";

/// False (after printing why) when the test cannot run here; see [`support::can_run`].
fn can_run(test: &str) -> bool {
    support::can_run(test, &[("python3", "--version")])
}

/// The example `name`, next to this test's binary (`cargo test` builds examples); built
/// with cargo if this run did not build it.
fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let path = profile_dir.join("examples").join(name);
    if !path.exists() {
        let mut c = Command::new(env!("CARGO"));
        c.args(["build", "--example", name])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if !cfg!(debug_assertions) {
            c.arg("--release");
        }
        assert!(
            c.status().unwrap().success(),
            "cargo build --example {name}"
        );
    }
    assert!(path.exists(), "no {name} example at {}", path.display());
    path
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

/// The namespaces, with the forwarder running on `threads` threads (one queue of the device
/// and one stack each).
fn topology(threads: usize) -> Topology {
    let binary = example_binary("forward");
    let (a, b, c) = (
        Netns::new("synack-fwd-a"),
        Netns::new("synack-fwd-b"),
        Netns::new("synack-fwd-c"),
    );
    // B ⇄ C: the forwarder's kernel sockets reach the servers over a veth pair.
    b.ip(&[
        "link", "add", "vb", "type", "veth", "peer", "name", "vc", "netns", &c.name,
    ]);
    b.ip(&["addr", "add", "198.51.100.1/24", "dev", "vb"]);
    b.ip(&["link", "set", "vb", "up"]);
    c.ip(&["addr", "add", &format!("{SERVER}/24"), "dev", "vc"]);
    c.ip(&["link", "set", "vc", "up"]);
    // The forwarder opens tun0 in B; the device then moves to A, where the clients are.
    let threads = threads.to_string();
    let mut forward = b.spawn(
        binary.to_str().unwrap(),
        &["--tun", "tun0", "--threads", &threads],
    );
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
    let mut t = topology(1);
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

/// The forwarder defers each handshake until the destination answered: a refusing
/// destination gets the client a RST to its SYN, so its `connect()` fails with
/// ECONNREFUSED, exactly as if it had reached the destination itself (with the handshake
/// completed first it would connect and then be reset).
#[test]
fn forward_refuses_the_clients_syn_when_the_destination_refuses() {
    if !can_run("forward") {
        return;
    }
    let mut t = topology(1);
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
    assert_eq!(r.get("error"), "ECONNREFUSED", "client: {r:?}");
    assert_eq!(r.get("local"), "", "connect() itself failed: {r:?}");
    let line = t.forward.expect_line(|l| l.starts_with("conn "), 20);
    assert!(line.contains("failed"), "{line}");
}

/// With two threads the forwarder opens two queues of the device, with a stack on each, and
/// the kernel hashes every connection to one of them; each stack must see all the packets of
/// its own connections, both ways. Many short connections (connect, 1,000 bytes, half-close,
/// the echo read back and checked, close) all succeed, and both threads carry some: all of
/// them landing on one queue would take a coin falling the same way `CONNECTIONS - 1` times.
#[test]
fn forward_on_two_threads_spreads_connections_over_both_queues() {
    if !can_run("forward") {
        return;
    }
    const CONNECTIONS: usize = 40;
    let mut t = topology(2);
    let loadgen = example_binary("loadgen");
    let loadgen = loadgen.to_str().unwrap();
    let mut server = t.c.spawn(loadgen, &["serve", &format!("{SERVER}:5010")]);
    server.expect_line(|l| l.starts_with("listening"), 10);
    let mut client = t.a.spawn(
        loadgen,
        &[
            "connect",
            &format!("{SERVER}:5010"),
            "--concurrency",
            "4",
            "--seconds",
            "1",
            "--size",
            "1000",
        ],
    );
    let status = client.wait(60);
    assert!(status.success(), "loadgen: {status}: {}", client.stderr());
    assert_eq!(client.stderr(), "", "no connection may fail");
    // loadgen prints connections per second over its one second: at least CONNECTIONS ran.
    let lines = client.pending_lines();
    let rate: f64 = lines
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0.0);
    assert!(
        rate >= CONNECTIONS as f64,
        "loadgen made too few connections: {lines:?}"
    );
    let mut threads = HashMap::new();
    for _ in 0..CONNECTIONS {
        let line = t.forward.expect_line(|l| l.starts_with("conn "), 30);
        assert!(!line.contains("failed"), "{line}");
        let thread = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("thread="));
        let thread = thread.unwrap_or_else(|| panic!("no thread= in {line:?}"));
        *threads.entry(thread.to_owned()).or_insert(0) += 1;
    }
    assert_eq!(threads.len(), 2, "connections per thread: {threads:?}");
}

/// A kernel UDP echo server in `C` (python3), and a kernel client in `A` whose datagrams go
/// into the device: the forwarder intercepts the flow, relays it through a kernel UDP socket,
/// and the echoes come back from the server's address. One datagram is larger than the MTU
/// both ways (fragmented by the client's kernel, reassembled by synack; fragmented by synack,
/// reassembled by the client's kernel).
#[test]
fn forward_relays_udp_flows_to_their_destinations_and_back() {
    if !can_run("forward") {
        return;
    }
    let t = topology(1);
    const ECHO: &str = "import socket,sys\n\
        s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
        s.bind(('198.51.100.2',5300))\n\
        print('ready',flush=True)\n\
        while True:\n\
        \x20   d,a=s.recvfrom(65535)\n\
        \x20   s.sendto(d,a)\n";
    const CLIENT: &str = "import socket,hashlib\n\
        s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
        s.settimeout(5)\n\
        ok=0\n\
        for n in (1,100,1400,4000,20000):\n\
        \x20   d=bytes((i*7)%251 for i in range(n))\n\
        \x20   for attempt in range(5):\n\
        \x20       s.sendto(d,('198.51.100.2',5300))\n\
        \x20       try:\n\
        \x20           r,a=s.recvfrom(65535)\n\
        \x20           break\n\
        \x20       except socket.timeout:\n\
        \x20           continue\n\
        \x20   assert a==('198.51.100.2',5300),a\n\
        \x20   assert hashlib.sha256(r).digest()==hashlib.sha256(d).digest(),(n,len(r))\n\
        \x20   ok+=1\n\
        print('ok',ok,flush=True)\n";
    let mut server = t.c.spawn("python3", &["-c", ECHO]);
    server.expect_line(|l| l == "ready", 10);
    let mut client = t.a.spawn("python3", &["-c", CLIENT]);
    let line = client.expect_line(|l| l.starts_with("ok"), 60);
    assert_eq!(line, "ok 5");
    assert!(client.wait(10).success());
}

/// A DNS query through the forwarder: a kernel resolver stub in `A` asks a small DNS server in
/// `C` (python3, answering every A query with 192.0.2.53) for `example.test`; the query goes
/// into the device, the forwarder relays the flow, and the answer comes back from the server's
/// address with the client's query id.
#[test]
fn forward_carries_a_dns_query_to_its_server_and_the_answer_back() {
    if !can_run("forward") {
        return;
    }
    let t = topology(1);
    const SERVER_PY: &str = "import socket\n\
        s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
        s.bind(('198.51.100.2',53))\n\
        print('ready',flush=True)\n\
        while True:\n\
        \x20   q,a=s.recvfrom(512)\n\
        \x20   end=q.index(b'\\0',12)+5\n\
        \x20   r=q[:2]+b'\\x81\\x80'+q[4:6]+b'\\0\\x01\\0\\0\\0\\0'+q[12:end]\n\
        \x20   r+=b'\\xc0\\x0c\\0\\x01\\0\\x01\\0\\0\\0\\x3c\\0\\x04'+bytes([192,0,2,53])\n\
        \x20   s.sendto(r,a)\n";
    const CLIENT_PY: &str = "import socket,struct\n\
        q=struct.pack('>HHHHHH',0x4242,0x0100,1,0,0,0)\n\
        q+=b''.join(bytes([len(p)])+p for p in (b'example',b'test'))+b'\\0'+struct.pack('>HH',1,1)\n\
        s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
        s.settimeout(5)\n\
        s.sendto(q,('198.51.100.2',53))\n\
        r,a=s.recvfrom(512)\n\
        assert a==('198.51.100.2',53),a\n\
        ident,flags,qd,an=struct.unpack('>HHHH',r[:8])\n\
        assert (ident,qd,an)==(0x4242,1,1),(ident,qd,an)\n\
        print('answer',socket.inet_ntoa(r[-4:]),flush=True)\n";
    let mut server = t.c.spawn("python3", &["-c", SERVER_PY]);
    server.expect_line(|l| l == "ready", 10);
    let mut client = t.a.spawn("python3", &["-c", CLIENT_PY]);
    let line = client.expect_line(|l| l.starts_with("answer"), 30);
    assert_eq!(line, "answer 192.0.2.53");
}
