//! Real protocol crates inside `synack::simulation`: hyper's HTTP/1.1 client and server and
//! tokio-rustls, unchanged, on simulated hosts over synack's TCP, under loss, in virtual time.
//! They see the failure modes of a real network, not a hang: a `tokio::time::timeout` that
//! fires during a partition, a response that arrives late because TCP retransmitted across
//! one, a reset from a server that crashed and came back. The replicated key-value service of
//! `examples/sim_kv` runs here too, for a few seeds.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[path = "../examples/sim_kv/kv.rs"]
mod kv;

mod tls;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};
use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::time::Duration;
use synack::sim::LinkConfig;
use synack::simulation::{Host, Report, Simulation};
use synack::tokio_net::{TcpListener, TcpStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::{TlsAcceptor, TlsConnector};

const SERVER: &str = "server";
const CLIENT: &str = "client";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// 20–50 ms one way (20 ms plus up to 30 ms of jitter, so packets reorder) and 10% loss.
fn lossy() -> LinkConfig {
    LinkConfig::default()
        .with_delay(ms(20))
        .with_jitter(ms(30))
        .with_loss(0.1)
}

fn run(sim: Simulation) -> Report {
    sim.run().unwrap_or_else(|e| panic!("{e}"))
}

/// `len` bytes that depend on `salt`, so a body meant for another request is caught.
fn pattern(len: usize, salt: u64) -> Vec<u8> {
    let mut x = salt.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn other(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> io::Error {
    io::Error::other(e)
}

// ---- HTTP/1.1 with hyper -------------------------------------------------------------------

/// Answers a POST with `x-want` bytes of `pattern(_, x-salt)`, and tells the client the
/// SHA-256 of the body it received (`x-got-sha256`), so both directions are checked.
async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let number = |name: &str| -> u64 {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let (want, salt) = (number("x-want"), number("x-salt"));
    let body = req.into_body().collect().await?.to_bytes();
    let response = Response::builder()
        .header("x-got-sha256", sha256_hex(&body))
        .body(Full::new(Bytes::from(pattern(want as usize, salt))))
        .expect("a valid response");
    Ok(response)
}

/// An HTTP server host: hyper on every accepted connection. `starts` counts the program's
/// starts (one more per restart), `accepted` the connections.
fn http_server(sim: &mut Simulation, starts: Rc<Cell<u32>>, accepted: Rc<Cell<u32>>) {
    sim.host(SERVER, move |host: Host| {
        let accepted = accepted.clone();
        starts.set(starts.get() + 1);
        async move {
            let listener = TcpListener::bind(host.handle(), "0.0.0.0:80").await?;
            loop {
                let (stream, _) = listener.accept().await?;
                accepted.set(accepted.get() + 1);
                host.spawn(async move {
                    hyper::server::conn::http1::Builder::new()
                        // hyper's `date` header reads the system's clock: one second
                        // boundary between two runs and their captures differ.
                        .auto_date_header(false)
                        .serve_connection(TokioIo::new(stream), hyper::service::service_fn(handle))
                        .await
                        .map_err(other)
                });
            }
        }
    });
}

type Sender = SendRequest<Full<Bytes>>;

/// A new connection to the server, its hyper driver running as a task of `host`.
async fn connect(host: &Host) -> io::Result<Sender> {
    let stream = TcpStream::connect(host.handle(), "server:80").await?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(other)?;
    host.spawn(async move { conn.await.map_err(other) });
    Ok(sender)
}

/// Sends `up` bytes, asks for `want` back; returns the response once its head arrived, and
/// the body the server must answer with.
async fn send(
    sender: &mut Sender,
    up: usize,
    want: usize,
    salt: u64,
) -> io::Result<(Response<Incoming>, Vec<u8>)> {
    let body = pattern(up, !salt);
    let sha = sha256_hex(&body);
    let req = Request::post("http://server/")
        .header("host", SERVER)
        .header("x-want", want)
        .header("x-salt", salt)
        .body(Full::new(Bytes::from(body)))
        .map_err(other)?;
    sender.ready().await.map_err(other)?;
    let resp = sender.send_request(req).await.map_err(other)?;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["x-got-sha256"].to_str().map_err(other)?,
        sha,
        "request {salt}: the server got other bytes than were sent"
    );
    Ok((resp, pattern(want, salt)))
}

/// One request and its whole response, every byte of both bodies checked.
async fn exchange(sender: &mut Sender, up: usize, want: usize, salt: u64) -> io::Result<()> {
    let (resp, expect) = send(sender, up, want, salt).await?;
    let body = resp.into_body().collect().await.map_err(other)?.to_bytes();
    assert!(body == expect, "request {salt}: the response body differs");
    Ok(())
}

/// Reads at least `n` bytes of `body`; returns them.
async fn read_some(body: &mut Incoming, n: usize) -> io::Result<Vec<u8>> {
    let mut got = Vec::new();
    while got.len() < n {
        let frame = body.frame().await.ok_or_else(|| other("body ended"))?;
        if let Ok(data) = frame.map_err(other)?.into_data() {
            got.extend_from_slice(&data);
        }
    }
    Ok(got)
}

/// Request and response body sizes: empty, one byte, around one segment, many windows, 1 MiB.
const SIZES: [(usize, usize); 10] = [
    (0, 0),
    (100, 1),
    (1_000, 1_460),
    (1_461, 4_096),
    (10_000, 65_536),
    (65_537, 100),
    (0, 300_000),
    (200_000, 10_000),
    (5_000, 1 << 20),
    (300, 100_000),
];

/// 50 requests on one kept-alive connection; the run's report and the number of connections.
fn keep_alive_run(seed: u64, pcap_dir: &std::path::Path) -> (Report, u32) {
    let mut sim = Simulation::new(seed);
    sim.link_all(lossy()).pcap_dir(pcap_dir);
    let (starts, accepted) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    http_server(&mut sim, starts.clone(), accepted.clone());
    sim.client(CLIENT, |host| async move {
        let mut sender = connect(&host).await?;
        for i in 0..50 {
            let (up, want) = SIZES[i % SIZES.len()];
            exchange(&mut sender, up, want, i as u64).await?;
        }
        Ok(())
    });
    let report = run(sim);
    assert_eq!(starts.get(), 1);
    (report, accepted.get())
}

#[test]
fn hyper_keep_alive_50_requests_up_to_1_mib_under_10_percent_loss_every_body_checked() {
    let dirs = ["a", "b"].map(|run| {
        let dir =
            std::env::temp_dir().join(format!("synack-sim-hyper-{}-{run}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    });
    let (report, accepted) = keep_alive_run(12, &dirs[0]);
    println!("{report:?}");
    assert_eq!(accepted, 1, "all 50 requests on one kept-alive connection");
    // About 7.7 MB down and 1.4 MB up: thousands of packets, a tenth of them lost.
    assert!(report.net.lost > report.net.sent / 20, "{:?}", report.net);
    assert!(
        (ms(5_000)..ms(300_000)).contains(&report.elapsed),
        "virtual time {:?}",
        report.elapsed
    );
    // hyper on synack in the simulation replays exactly: the same seed gives the same run,
    // packet for packet.
    let (again, _) = keep_alive_run(12, &dirs[1]);
    assert_eq!(again, report);
    for host in [SERVER, CLIENT] {
        let file = format!("{host}.pcap");
        let (a, b) = (
            std::fs::read(dirs[0].join(&file)),
            std::fs::read(dirs[1].join(&file)),
        );
        assert!(a.unwrap() == b.unwrap(), "{file} differs between two runs");
    }
    for dir in dirs {
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
fn hyper_client_timeout_fires_in_a_partition_mid_response_then_works_after_repair() {
    let mut sim = Simulation::new(3);
    sim.link_all(lossy());
    let (starts, accepted) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    http_server(&mut sim, starts, accepted.clone());
    sim.client(CLIENT, |host| async move {
        let ctl = host.control().clone();
        let mut sender = connect(&host).await?;
        let (resp, expect) = send(&mut sender, 0, 1 << 20, 1).await?;
        let mut body = resp.into_body();
        let first = read_some(&mut body, 100_000).await?;
        assert!(first[..] == expect[..first.len()]);
        ctl.partition(CLIENT, SERVER);
        let cut = ctl.elapsed();
        let rest = tokio::time::timeout(Duration::from_secs(10), body.collect()).await;
        assert!(rest.is_err(), "the response finished across a partition");
        // The timeout is the program's own, on virtual time: exactly 10 s later.
        assert_eq!(ctl.elapsed() - cut, Duration::from_secs(10));
        assert!(ctl.net_stats().partitioned > 0);
        drop(sender); // gives up on that connection
        ctl.repair(CLIENT, SERVER);
        let mut sender = connect(&host).await?;
        exchange(&mut sender, 1_000, 200_000, 2).await
    });
    let report = run(sim);
    println!("{report:?}");
    assert_eq!(
        accepted.get(),
        2,
        "the second request came on a new connection"
    );
}

#[test]
fn hyper_response_outlasts_a_5_s_partition_and_arrives_late_by_retransmission() {
    let mut sim = Simulation::new(5);
    sim.link_all(lossy());
    let (starts, accepted) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    http_server(&mut sim, starts, accepted.clone());
    sim.client(CLIENT, |host| async move {
        let ctl = host.control().clone();
        let mut sender = connect(&host).await?;
        let (resp, expect) = send(&mut sender, 0, 1 << 20, 1).await?;
        let mut body = resp.into_body();
        let mut got = read_some(&mut body, 100_000).await?;
        ctl.partition(CLIENT, SERVER);
        let cut = ctl.elapsed();
        let healer = ctl.clone();
        tokio::task::spawn_local(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            healer.repair(CLIENT, SERVER);
        });
        let rest = tokio::time::timeout(Duration::from_secs(120), body.collect())
            .await
            .map_err(other)?
            .map_err(other)?;
        got.extend_from_slice(&rest.to_bytes());
        assert!(got == expect, "the late response differs");
        let waited = ctl.elapsed() - cut;
        println!("the response finished {waited:?} after the partition began");
        // Nothing crossed for 5 s; then TCP's backed-off retransmission timer found the
        // path open again.
        assert!(waited > Duration::from_secs(5), "{waited:?}");
        // The same connection carries on.
        exchange(&mut sender, 10, 10, 2).await
    });
    run(sim);
    assert_eq!(accepted.get(), 1, "the connection survived the partition");
}

#[test]
fn hyper_client_gets_an_error_when_the_server_crashes_mid_response_and_succeeds_after_restart() {
    let mut sim = Simulation::new(9);
    sim.link_all(lossy());
    let (starts, accepted) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    http_server(&mut sim, starts.clone(), accepted.clone());
    sim.client(CLIENT, |host| async move {
        let ctl = host.control().clone();
        let mut sender = connect(&host).await?;
        let (resp, _) = send(&mut sender, 0, 1 << 20, 1).await?;
        let mut body = resp.into_body();
        read_some(&mut body, 100_000).await?;
        ctl.crash(SERVER);
        assert!(!ctl.is_up(SERVER));
        ctl.restart(SERVER);
        let rest = tokio::time::timeout(Duration::from_secs(60), body.collect()).await;
        let err = match rest {
            Ok(Ok(_)) => panic!("a whole response from a server that crashed"),
            Ok(Err(e)) => e,
            Err(_) => panic!("no error within 60 s: the client should have been reset"),
        };
        // The fresh stack answers the client's next segment with a reset, and hyper passes
        // that on as the body's error.
        let io = std::error::Error::source(&err)
            .and_then(|s| s.downcast_ref::<io::Error>())
            .map(io::Error::kind);
        println!("after the crash: {err} ({io:?})");
        assert_eq!(io, Some(io::ErrorKind::ConnectionReset), "{err}");
        assert!(sender.ready().await.is_err(), "the connection is gone");
        let mut sender = connect(&host).await?;
        exchange(&mut sender, 1_000, 300_000, 2).await
    });
    run(sim);
    assert_eq!(
        starts.get(),
        2,
        "the server program ran again after the restart"
    );
    assert_eq!(
        accepted.get(),
        2,
        "one connection before the crash, one after"
    );
}

// ---- TLS with tokio-rustls -----------------------------------------------------------------

/// Writes `out` and closes (close_notify, then FIN) while reading the peer's bytes to its
/// close_notify: both directions at once.
async fn duplex<S>(tls: S, out: Vec<u8>) -> io::Result<Vec<u8>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite,
{
    let (mut r, mut w) = tokio::io::split(tls);
    let write = async {
        w.write_all(&out).await?;
        w.shutdown().await
    };
    let read = async {
        let mut got = Vec::new();
        r.read_to_end(&mut got).await?;
        Ok(got)
    };
    let (wrote, got) = tokio::join!(write, read);
    wrote?;
    got
}

const TLS_UP: usize = 300 << 10;
const TLS_DOWN: usize = 400 << 10;

#[test]
fn tokio_rustls_handshake_and_300_kib_each_way_under_10_percent_loss() {
    // rcgen's key and rustls' handshake use the system's randomness: this run's bytes differ
    // from run to run (its packet sizes and timing do not), so no capture is compared here.
    let (server_cfg, client_cfg) = tls::configs();
    let mut sim = Simulation::new(21);
    sim.link_all(lossy());
    let served = Rc::new(Cell::new(0u32));
    let served2 = served.clone();
    sim.host(SERVER, move |host| {
        let acceptor = TlsAcceptor::from(server_cfg.clone());
        let served = served2.clone();
        async move {
            let listener = TcpListener::bind(host.handle(), "0.0.0.0:443").await?;
            let (tcp, _) = listener.accept().await?;
            let tls = acceptor.accept(tcp).await?;
            assert_eq!(
                tls.get_ref().1.protocol_version(),
                Some(tokio_rustls::rustls::ProtocolVersion::TLSv1_3)
            );
            let got = duplex(tls, pattern(TLS_DOWN, 2)).await?;
            assert!(got == pattern(TLS_UP, 1), "the server got other bytes");
            served.set(served.get() + 1);
            Ok(())
        }
    });
    sim.client(CLIENT, move |host| async move {
        let tcp = TcpStream::connect(host.handle(), "server:443").await?;
        let name = ServerName::try_from(tls::NAME).map_err(other)?;
        let tls = TlsConnector::from(client_cfg).connect(name, tcp).await?;
        let got = duplex(tls, pattern(TLS_UP, 1)).await?;
        assert!(got == pattern(TLS_DOWN, 2), "the client got other bytes");
        Ok(())
    });
    let report = run(sim);
    println!("{report:?}");
    assert_eq!(served.get(), 1, "the server checked what it received");
    assert!(report.net.lost > 0, "{:?}", report.net);
}

// ---- the replicated key-value service of examples/sim_kv ------------------------------------

#[test]
fn kv_leader_partitioned_away_keeps_every_acknowledged_write() {
    for seed in [1, 7, 13] {
        let summary = kv::run(seed).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        println!("{summary}");
        assert!(summary.timeouts > 0, "clients of the old leader timed out");
        assert!(summary.failovers > 0, "clients found the new leader");
        assert_ne!(summary.old_leader, summary.new_leader);
        assert!(summary.acknowledged > 100, "{summary}");
    }
}
