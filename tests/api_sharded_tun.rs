//! The sharded runtime on a real two-queue TUN device, against the kernel's own queue
//! choice: Linux keeps a flow on the queue its replies were last written from only while the
//! flow is active (`tun_flow_update`; entries expire after 3 s idle), then picks the queue by
//! a hash seeded at boot. So after an idle pause about half the connections' packets arrive
//! on the shard that does not own them: they must be handed over, not reset.
//!
//! The test creates a network namespace (`shd-api-<pid>-<n>`), opens a two-queue `shd0` in
//! it, echoes on every shard, and drives thirty-two kernel connections from python3; it deletes
//! the namespace afterwards, also on failure. Without root it prints why and passes; with
//! `SYNACK_REQUIRE_INTEROP=1` (as `.ci/run` sets) a skip is a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use support::Netns;
use synack::net::{TunConfig, TunDevice};
use synack::runtime::{Runtime, Sharded};
use synack::tokio_net::TcpListener;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KERNEL: Ipv4Addr = Ipv4Addr::new(198, 18, 50, 1);
const SYNACK: Ipv4Addr = Ipv4Addr::new(198, 18, 50, 2);

/// Thirty-two connections (so that "about half are handed over" fails to hold by chance
/// about once in 2^32 runs, not once in 2^16 as with sixteen): each sends a line and reads
/// its echo, then all pause for `idle` seconds (the kernel's flow entries expire), then
/// each does it again. Prints `ok N`.
const CLIENT: &str = r#"
import socket, sys, time
idle = float(sys.argv[1])
conns = [socket.create_connection(("198.18.50.2", 7), timeout=10) for _ in range(32)]
def round(tag):
    for i, s in enumerate(conns):
        msg = f"{tag} {i}\n".encode()
        s.sendall(msg)
        got = b""
        while len(got) < len(msg):
            chunk = s.recv(64)
            if not chunk:
                raise SystemExit(f"connection {i} closed")
            got += chunk
        assert got == msg, (got, msg)
round("first")
print("first", flush=True)
sys.stdin.readline()
time.sleep(idle)
round("second")
print(f"ok {len(conns)}", flush=True)
"#;

/// A two-shard runtime on a two-queue TUN device opened inside `ns`.
fn sharded_in(ns: &Netns) -> Sharded {
    let path = format!("/run/netns/{}", ns.name);
    std::thread::spawn(move || {
        let f = std::fs::File::open(&path).expect("open the namespace");
        // SAFETY: setns only changes this thread's network namespace (the shard threads it
        // spawns inherit it); the descriptor is valid for the call (owned by `f`).
        let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns: {}", io::Error::last_os_error());
        let tun = TunConfig {
            kernel_addr: Some((IpAddr::V4(KERNEL), 24)),
            ..TunConfig::new("shd0")
        };
        let queues = TunDevice::open_queues(&tun, 2).expect("open shd0 with two queues");
        Runtime::builder()
            .address(IpAddr::V4(SYNACK))
            .build_sharded(
                queues
                    .into_iter()
                    .map(|q| move || q.register().map_err(io::Error::other)),
            )
            .expect("start two shards on shd0")
    })
    .join()
    .expect("runtime thread")
}

fn rsts(sharded: &Sharded) -> u64 {
    (0..sharded.len())
        .map(|i| {
            let h = sharded.shard(i).unwrap();
            h.with_stack(|s, _| s.counters().out_rsts).unwrap()
        })
        .sum()
}

fn handed_over(sharded: &Sharded) -> u64 {
    sharded.stats().iter().map(|s| s.handed_over).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kernel_connections_idle_past_the_flow_expiry_are_handed_over_not_reset() {
    let test = "kernel_connections_idle_past_the_flow_expiry_are_handed_over_not_reset";
    if !support::can_run(test, &[("python3", "--version")]) {
        return;
    }
    let ns = Netns::new("shd-api");
    let sharded = sharded_in(&ns);
    let listener = TcpListener::bind(&sharded, SocketAddr::new(IpAddr::V4(SYNACK), 7))
        .await
        .unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 256];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    // Past TUN_FLOW_EXPIRE (3 s) and the garbage collector's whole-second rounding.
    let mut client = ns.spawn_with(
        "python3",
        &["-c", CLIENT, "5"],
        std::process::Stdio::piped(),
        None,
    );
    client.expect_line(|l| l == "first", 30);
    // New connections' SYNs land on a queue of the kernel's choosing: about half are handed
    // over at once.
    let before = handed_over(&sharded);
    assert!(before > 0, "no SYN was handed over: {:?}", sharded.stats());
    let mut stdin = client.child.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, b"go\n").unwrap();
    client.expect_line(|l| l == "ok 32", 60);
    let after = handed_over(&sharded);
    assert!(
        after > before,
        "nothing was handed over after the idle pause: {:?}",
        sharded.stats()
    );
    assert_eq!(
        rsts(&sharded),
        0,
        "a shard reset a connection it does not own"
    );
}
