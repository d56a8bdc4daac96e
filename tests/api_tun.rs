//! A hyper HTTP/1.1 server on synack's tokio API over a TUN device, fetched by the kernel's
//! own TCP with `curl`.
//!
//! The test creates a network namespace (`synack-api-<pid>-<n>`), opens `tun0` in it (the
//! runtime's device-opening closure runs on a thread that has entered the namespace, so the
//! device and all traffic stay there), serves HTTP from this process, runs `curl` in the
//! namespace, and deletes the namespace afterwards, also on failure.
//!
//! Without root (or without `ip`, `curl`, `/dev/net/tun`) the test prints why and passes; with
//! `SYNACK_REQUIRE_INTEROP=1` (as `.ci/run` sets) a skip is a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::process::{Command, Output};
use support::Netns;
use synack::net::{TunConfig, TunDevice};
use synack::runtime::Runtime;
use synack::tokio_net::TcpListener;

const KERNEL: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const SYNACK: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// Size of the large response: enough for many windows and congestion-control rounds.
const BIG: usize = 4 << 20;

/// False (after printing why) when the test cannot run here; see [`support::can_run`].
fn can_run(test: &str) -> bool {
    support::can_run(test, &[("curl", "--version")])
}

impl Netns {
    /// Starts a synack runtime whose TUN device is created inside the namespace.
    fn runtime(&self) -> Runtime {
        let path = format!("/run/netns/{}", self.name);
        // A fresh thread enters the namespace; the runtime thread it spawns inherits it, and
        // opens the device there. This thread and the test's own stay where they were.
        std::thread::spawn(move || {
            let ns = std::fs::File::open(&path).expect("open the namespace");
            // SAFETY: setns only changes this thread's network namespace; the descriptor is
            // valid for the call (owned by `ns`).
            let r = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
            let tun = TunConfig {
                kernel_addr: Some((IpAddr::V4(KERNEL), 24)),
                ..TunConfig::new("tun0")
            };
            Runtime::builder()
                .address(IpAddr::V4(SYNACK))
                .build_with(move || TunDevice::open(&tun).map_err(std::io::Error::other))
                .expect("start synack on tun0")
        })
        .join()
        .expect("runtime thread")
    }
}

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = match req.uri().path() {
        "/hello" => Bytes::from_static(b"hello from synack\n"),
        "/big" => Bytes::from((0..BIG).map(|i| (i % 251) as u8).collect::<Vec<u8>>()),
        _ => Bytes::from_static(b"not found\n"),
    };
    Ok(Response::new(Full::new(body)))
}

/// Serves HTTP/1.1 with hyper on every connection the listener accepts.
async fn serve(listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        tokio::spawn(async move {
            let service = hyper::service::service_fn(handle);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// `curl` in the namespace, off the async threads.
async fn curl(ns: &Netns, args: &[&str]) -> Output {
    let mut argv = vec!["curl", "-sS", "--max-time", "60"];
    argv.extend_from_slice(args);
    let argv: Vec<String> = argv.into_iter().map(String::from).collect();
    let name = ns.name.clone();
    tokio::task::spawn_blocking(move || {
        Command::new("ip")
            .args(["netns", "exec", &name])
            .args(&argv)
            .output()
            .expect("spawn curl")
    })
    .await
    .expect("curl thread")
}

#[tokio::test]
async fn hyper_http1_server_on_synack_over_tun_serves_kernel_curl() {
    if !can_run("hyper_http1_server_on_synack_over_tun_serves_kernel_curl") {
        return;
    }
    let ns = Netns::new("synack-api");
    let rt = ns.runtime();
    let listener = TcpListener::bind(&rt, SocketAddr::new(IpAddr::V4(SYNACK), 80))
        .await
        .unwrap();
    let server = tokio::spawn(serve(listener));

    let out = curl(&ns, &["http://198.18.0.2/hello"]).await;
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from synack\n");

    // A large body, and two requests on one kept-alive connection.
    let fmt = "%{size_download} %{num_connects}\n";
    let url = "http://198.18.0.2/big";
    let out = curl(
        &ns,
        &["-o", "/dev/null", "-o", "/dev/null", "-w", fmt, url, url],
    )
    .await;
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(report, format!("{BIG} 1\n{BIG} 0\n"), "curl -w report");
    server.abort();
    drop(rt);
}

/// RFC 1122 §4.2.2.13 and RFC 2525 §2.17, as Linux: dropping a stream whose received data
/// was not all read resets the connection, so the kernel peer's `recv` fails with
/// ECONNRESET instead of seeing a clean end of stream.
#[tokio::test]
async fn dropping_a_stream_with_unread_data_resets_the_kernel_peer() {
    use tokio::io::AsyncReadExt;
    if !can_run("dropping_a_stream_with_unread_data_resets_the_kernel_peer") {
        return;
    }
    let ns = Netns::new("synack-rst");
    let rt = ns.runtime();
    let listener = TcpListener::bind(&rt, SocketAddr::new(IpAddr::V4(SYNACK), 81))
        .await
        .unwrap();
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        // One byte of "hello" is read: the other four are in, and left unread.
        let mut first = [0u8; 1];
        stream.read_exact(&mut first).await.unwrap();
        drop(stream);
        first
    });
    let script = "import socket\n\
        s = socket.create_connection(('198.18.0.2', 81), timeout=20)\n\
        s.sendall(b'hello')\n\
        try:\n    d = s.recv(100)\n    print('eof' if d == b'' else 'data')\n\
        except ConnectionResetError:\n    print('reset')\n";
    let name = ns.name.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("ip")
            .args(["netns", "exec", &name, "python3", "-c", script])
            .output()
            .expect("spawn python3")
    })
    .await
    .unwrap();
    assert_eq!(server.await.unwrap(), *b"h");
    assert!(
        out.status.success(),
        "python3: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "reset\n");
    drop(rt);
}

/// A device created with one queue cannot take a multi-queue opener (nor the other way
/// round): the kernel's EINVAL becomes `TunError::Mismatch`, which says what to do, and no
/// retry without offloads hides it. A second multi-queue opener is let in, as the kernel
/// allows.
#[test]
fn tun_queue_mode_mismatch_is_a_clear_error() {
    if !can_run("tun_queue_mode_mismatch_is_a_clear_error") {
        return;
    }
    let ns = Netns::new("synack-mq");
    let path = format!("/run/netns/{}", ns.name);
    std::thread::spawn(move || {
        let f = std::fs::File::open(&path).expect("open the namespace");
        // SAFETY: setns only changes this thread's network namespace; the descriptor is
        // valid for the call (owned by `f`).
        let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
        let cfg = TunConfig::new("tun0");
        let single = TunDevice::open_queues(&cfg, 1).expect("one queue");
        let e = TunDevice::open_queues(&cfg, 2).unwrap_err();
        assert!(matches!(e, synack::net::TunError::Mismatch { .. }), "{e}");
        assert!(e.to_string().contains("ip link del tun0"), "{e}");
        drop(single);
        let cfg = TunConfig::new("tun1");
        let multi = TunDevice::open_queues(&cfg, 2).expect("two queues");
        assert_eq!(multi.len(), 2);
        let e = TunDevice::open_queues(&cfg, 1).unwrap_err();
        assert!(matches!(e, synack::net::TunError::Mismatch { .. }), "{e}");
        let more = TunDevice::open_queues(&cfg, 2).expect("a second multi-queue opener");
        assert_eq!(more.len(), 2);
    })
    .join()
    .expect("namespace thread");
}
