//! `synack::simulation`: user programs on simulated hosts over synack's TCP, in virtual time.
//!
//! What the harness promises, each shown here: data arrives intact through loss that a
//! stream without retransmission would hang on; the same seed writes the same captures, byte
//! for byte; partitions, held links, crashes and restarts show programs the failures a real
//! network shows them (timeouts, resets, delays); names resolve to simulated hosts and
//! nothing else; a failed run names its seed and the command that replays it; and a thousand
//! hosts with ten thousand connections run in seconds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sha2::{Digest, Sha256};
use std::io;
use std::time::Duration;
use synack::sim::LinkConfig;
use synack::simulation::{Host, SEED_VAR, Simulation};
use synack::tokio_net::{TcpListener, TcpStream, UdpSocket};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ salt).collect()
}

/// A server program: echoes every connection on port 7 until the client's FIN.
async fn echo_server(host: Host) -> io::Result<()> {
    let listener = TcpListener::bind(host.handle(), "0.0.0.0:7").await?;
    loop {
        let (mut stream, _) = listener.accept().await?;
        host.spawn(async move {
            let (mut r, mut w) = stream.split();
            tokio::io::copy(&mut r, &mut w).await?;
            w.shutdown().await
        });
    }
}

/// Sends `data` to `server:7` and returns what comes back.
async fn echo_once(host: &Host, data: &[u8]) -> io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(host.handle(), "server:7").await?;
    let (mut r, mut w) = stream.split();
    let send = async {
        w.write_all(data).await?;
        w.shutdown().await
    };
    let mut back = Vec::new();
    let (sent, read) = tokio::join!(send, r.read_to_end(&mut back));
    sent?;
    read?;
    Ok(back)
}

/// 1 MiB each way through 20% loss, 40 ms of delay with jitter, and duplication: the
/// streams hash-equal. A TCP without retransmission (turmoil's) would hang on the first
/// lost segment.
#[test]
fn echo_of_1_mib_through_20_percent_loss_arrives_intact() {
    let mut sim = Simulation::new(1);
    sim.link_all(
        LinkConfig::default()
            .with_delay(Duration::from_millis(40))
            .with_jitter(Duration::from_millis(5))
            .with_loss(0.2)
            .with_duplicate(0.01),
    );
    sim.host("server", echo_server);
    sim.client("client", |host| async move {
        let data = pattern(1 << 20, 0);
        let back = echo_once(&host, &data).await?;
        assert_eq!(Sha256::digest(&back), Sha256::digest(&data));
        Ok(())
    });
    let report = sim.run().unwrap();
    assert!(report.net.lost > 100, "{report:?}");
    assert!(report.net.duplicated > 0, "{report:?}");
    assert!(report.elapsed > Duration::from_secs(1), "{report:?}");
}

/// Runs three clients echoing through a lossy link, capturing every host (pcap and qlog),
/// and returns the SHA-256 of each capture file, by name.
fn captured_run(seed: u64, dir: &std::path::Path) -> Vec<(String, String)> {
    let mut sim = Simulation::new(seed);
    sim.link_all(
        LinkConfig::default()
            .with_delay(Duration::from_millis(10))
            .with_jitter(Duration::from_millis(3))
            .with_loss(0.05),
    );
    sim.pcap_dir(dir).qlog_dir(dir);
    sim.host("server", echo_server);
    for c in 0..3u8 {
        sim.client(&format!("client{c}"), move |host| async move {
            let data = pattern(200_000, c);
            assert_eq!(echo_once(&host, &data).await?, data);
            Ok(())
        });
    }
    sim.run().unwrap();
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            let bytes = std::fs::read(p).unwrap();
            assert!(bytes.len() > 24, "{} holds packets", p.display());
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let hex: String = Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            (name, hex)
        })
        .collect()
}

fn temp_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("synack-sim-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The same seed writes the same captures byte for byte (timestamps included); another
/// seed writes different ones.
#[test]
fn same_seed_writes_identical_pcaps_and_another_seed_does_not() {
    if std::env::var(SEED_VAR).is_ok() {
        return; // the seed is what this test varies
    }
    let (a, b, c) = (temp_dir("a"), temp_dir("b"), temp_dir("c"));
    let first = captured_run(11, &a);
    let second = captured_run(11, &b);
    let other = captured_run(12, &c);
    assert_eq!(first.len(), 8, "a capture and a qlog per host: {first:?}");
    assert_eq!(first, second, "same seed, same bytes");
    for (x, y) in first.iter().zip(&other) {
        assert_ne!(x.1, y.1, "seed 12 differs from seed 11 in {}", x.0);
    }
    // `synack trace` reads them: the server saw the three connections, each closed.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_synack"))
        .args(["trace", "--no-color"])
        .arg(a.join("server.pcap"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("3 TCP connection(s)"), "{text}");
    assert_eq!(text.matches("closed normally").count(), 3, "{text}");
    // The server's qlog: a JSON-SEQ header, then three connections' sender views from
    // SYN-RECEIVED to CLOSED, recoveries among them (5 % loss), all on the capture's clock.
    let qlog = std::fs::read_to_string(a.join("server.qlog")).unwrap();
    let records: Vec<serde_json::Value> = qlog
        .split('\u{1e}')
        .filter(|r| !r.is_empty())
        .map(|r| serde_json::from_str(r).unwrap())
        .collect();
    assert_eq!(records[0]["qlog_format"], "JSON-SEQ");
    let states = |new: &str| {
        records
            .iter()
            .filter(|e| {
                e["name"] == "transport:connection_state_updated" && e["data"]["new"] == new
            })
            .count()
    };
    assert_eq!((states("SYN-RECEIVED"), states("CLOSED")), (3, 3));
    assert!(records.iter().any(|e| e["data"]["new"] == "recovery"));
    for d in [a, b, c] {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// A partition makes a writer's connection time out after its retransmissions (RFC 6298
/// back-off: minutes of virtual time, milliseconds of real time); after the repair a new
/// connection goes through.
#[test]
fn partition_times_the_connection_out_and_repair_lets_a_new_one_through() {
    let mut sim = Simulation::new(3);
    sim.link_all(LinkConfig::default().with_delay(Duration::from_millis(25)));
    sim.host("server", echo_server);
    sim.client("client", |host| async move {
        let ctl = host.control().clone();
        let mut stream = TcpStream::connect(host.handle(), "server:7").await?;
        stream.write_all(b"before").await?;
        let mut buf = [0u8; 6];
        stream.read_exact(&mut buf).await?;
        ctl.partition("client", "server");
        let cut = ctl.elapsed();
        stream.write_all(b"during").await?;
        let err = stream.read_exact(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        let waited = ctl.elapsed() - cut;
        assert!(waited > Duration::from_secs(60), "gave up after {waited:?}");
        ctl.repair("client", "server");
        assert_eq!(echo_once(&host, b"after").await?, b"after");
        Ok(())
    });
    let report = sim.run().unwrap();
    assert!(report.net.partitioned > 5, "{report:?}");
}

/// Held traffic waits and then arrives: the request is answered, seconds late.
#[test]
fn held_link_delays_delivery_until_release() {
    let mut sim = Simulation::new(4);
    sim.link_all(LinkConfig::default().with_delay(Duration::from_millis(5)));
    sim.host("server", echo_server);
    sim.client("holder", |host| async move {
        let ctl = host.control();
        ctl.hold("client", "server");
        tokio::time::sleep(Duration::from_secs(3)).await;
        ctl.release("client", "server");
        Ok(())
    });
    sim.client("client", |host| async move {
        let start = host.control().elapsed();
        assert_eq!(echo_once(&host, b"late").await?, b"late");
        let took = host.control().elapsed() - start;
        assert!(took >= Duration::from_secs(3), "answered after {took:?}");
        assert!(took < Duration::from_secs(10), "answered after {took:?}");
        Ok(())
    });
    sim.run().unwrap();
}

/// A crashed host sends nothing and its connections vanish; restarted, its fresh stack
/// answers the old connection's next segment with a RST, so the peer sees a reset, and a
/// new connection reaches the restarted program.
#[test]
fn crash_and_restart_resets_the_peers_connection_and_serves_anew() {
    let mut sim = Simulation::new(5);
    sim.link_all(LinkConfig::default().with_delay(Duration::from_millis(10)));
    sim.host("server", echo_server);
    sim.client("client", |host| async move {
        let ctl = host.control().clone();
        let mut stream = TcpStream::connect(host.handle(), "server:7").await?;
        stream.write_all(b"one").await?;
        let mut buf = [0u8; 3];
        stream.read_exact(&mut buf).await?;
        ctl.crash("server");
        assert!(!ctl.is_up("server"));
        tokio::time::sleep(Duration::from_secs(1)).await;
        ctl.restart("server");
        assert!(ctl.is_up("server"));
        stream.write_all(b"two").await?;
        let err = stream.read_exact(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset, "{err}");
        assert_eq!(echo_once(&host, b"three").await?, b"three");
        Ok(())
    });
    sim.run().unwrap();
}

/// Names resolve to simulated hosts only: an unknown one fails with `NotFound`, never a
/// real DNS query.
#[test]
fn unknown_names_fail_with_not_found_and_never_reach_a_real_resolver() {
    let mut sim = Simulation::new(6);
    sim.host("server", echo_server);
    sim.client("client", |host| async move {
        let err = TcpStream::connect(host.handle(), "localhost:7")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
        let addr = host.handle().hosts().unwrap().get("server").unwrap()[0];
        let stream = TcpStream::connect(host.handle(), (addr, 7)).await?;
        assert_eq!(stream.peer_addr()?.ip(), addr);
        Ok(())
    });
    sim.run().unwrap();
}

/// A failing client fails the run with the seed, the virtual time and the command that
/// replays it; the time limit fails a run that never ends.
#[test]
fn a_failed_run_names_its_seed_and_the_replay_command() {
    let mut sim = Simulation::new(99);
    let seed = sim.seed();
    sim.client("client", |_host| async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        Err(io::Error::other("the answer was wrong"))
    });
    let err = sim.run().unwrap_err();
    assert_eq!(err.seed, seed);
    assert_eq!(err.at, Duration::from_secs(2));
    assert!(err.what.contains("the answer was wrong"), "{err}");
    let test = "a_failed_run_names_its_seed_and_the_replay_command";
    assert_eq!(
        err.replay,
        format!("{SEED_VAR}={seed} cargo test -- --exact {test}")
    );
    assert!(err.to_string().contains(&err.replay), "{err}");

    let mut sim = Simulation::new(99);
    sim.time_limit(Duration::from_secs(30));
    sim.client("client", |_host| std::future::pending());
    let err = sim.run().unwrap_err();
    assert_eq!(err.at, Duration::from_secs(30));
    assert!(err.what.contains("time limit"), "{err}");

    let mut sim = Simulation::new(99);
    sim.client("client", |_host| async move {
        assert_eq!(1 + 1, 3, "arithmetic");
        Ok(())
    });
    let err = sim.run().unwrap_err();
    assert!(
        err.what.contains("panicked") && err.what.contains("arithmetic"),
        "{err}"
    );
}

/// 1,000 hosts, each a server and a client of ten others picked by the seed: 10,000
/// connections, each echoing 1 KiB, all checked. The figure for the README is printed.
#[test]
fn a_thousand_hosts_and_ten_thousand_connections() {
    const HOSTS: usize = 1000;
    const PER_HOST: usize = 10;
    let mut sim = Simulation::new(8);
    sim.link_all(
        LinkConfig::default()
            .with_delay(Duration::from_millis(20))
            .with_loss(0.01),
    );
    let done = std::rc::Rc::new(std::cell::Cell::new(0usize));
    for h in 0..HOSTS {
        let name = format!("h{h}");
        sim.host(&name, echo_server);
    }
    for h in 0..HOSTS {
        let done = done.clone();
        sim.client(&format!("h{h}"), move |host| async move {
            let mut conns = Vec::new();
            for k in 0..PER_HOST {
                // A fixed spread of peers: deterministic, and never the host itself.
                let peer = (h + 1 + k * 97) % HOSTS;
                let host = host.clone();
                conns.push(async move {
                    let data = pattern(1024, (h + k) as u8);
                    let mut s = TcpStream::connect(host.handle(), format!("h{peer}:7")).await?;
                    let (mut r, mut w) = s.split();
                    w.write_all(&data).await?;
                    w.shutdown().await?;
                    let mut back = Vec::new();
                    r.read_to_end(&mut back).await?;
                    assert_eq!(back, data);
                    Ok::<_, io::Error>(())
                });
            }
            for c in conns {
                c.await?;
                done.set(done.get() + 1);
            }
            Ok(())
        });
    }
    let started = std::time::Instant::now();
    let report = sim.run().unwrap();
    let wall = started.elapsed();
    assert_eq!(done.get(), HOSTS * PER_HOST);
    println!(
        "{HOSTS} hosts, {} connections: {:.1} s virtual, {:.2} s wall, {} packets, {} lost",
        HOSTS * PER_HOST,
        report.elapsed.as_secs_f64(),
        wall.as_secs_f64(),
        report.net.sent,
        report.net.lost
    );
}

/// `isolate` cuts a host off from everyone: a new connection to it times out (its SYNs
/// vanish), and after `rejoin` it is reached again.
#[test]
fn isolate_cuts_a_host_off_from_every_other_until_rejoin() {
    let mut sim = Simulation::new(9);
    sim.link_all(LinkConfig::default().with_delay(Duration::from_millis(10)));
    sim.host("server", echo_server);
    sim.client("client", |host| async move {
        let ctl = host.control();
        ctl.isolate("server");
        let err = TcpStream::connect(host.handle(), "server:7")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
        ctl.rejoin("server");
        assert_eq!(echo_once(&host, b"back").await?, b"back");
        Ok(())
    });
    let report = sim.run().unwrap();
    assert!(
        report.net.partitioned >= 3,
        "the SYN and its retransmissions: {report:?}"
    );
}

/// UDP works in the simulation too, with its real failure modes: a datagram is lost
/// without a word (the program's own timeout and retry see it through 30% loss), one
/// larger than the MTU is fragmented and reassembled, and a datagram to a port nobody
/// listens on comes back as `ConnectionRefused` on a connected socket.
#[test]
fn udp_request_and_retry_through_loss_fragments_and_a_refused_port() {
    let mut sim = Simulation::new(10);
    sim.link_all(
        LinkConfig::default()
            .with_delay(Duration::from_millis(15))
            .with_loss(0.3),
    );
    sim.host("server", |host| async move {
        let socket = UdpSocket::bind(host.handle(), "0.0.0.0:53").await?;
        let mut buf = vec![0u8; 65536];
        loop {
            let (n, from) = socket.recv_from(&mut buf).await?;
            socket.send_to(&buf[..n], from).await?;
        }
    });
    sim.client("client", |host| async move {
        let socket = UdpSocket::bind(host.handle(), "0.0.0.0:0").await?;
        socket.connect("server:53").await?;
        let mut retries = 0;
        for i in 0..20u8 {
            let request = pattern(if i % 5 == 0 { 4000 } else { 100 }, i);
            let mut buf = vec![0u8; 65536];
            loop {
                socket.send(&request).await?;
                let wait = Duration::from_millis(200);
                match tokio::time::timeout(wait, socket.recv(&mut buf)).await {
                    Ok(Err(e)) => return Err(e),
                    Ok(Ok(n)) if buf[..n] == request[..] => break,
                    Ok(_) => {} // a late answer to an earlier try: ask again
                    Err(_) => retries += 1,
                }
            }
        }
        assert!(
            retries > 3,
            "30% loss each way makes some tries fail: {retries}"
        );
        let closed = UdpSocket::bind(host.handle(), "0.0.0.0:0").await?;
        closed.connect("server:9").await?;
        let mut buf = [0u8; 16];
        let mut refused = false;
        for _ in 0..10 {
            closed.send(b"anyone?").await?;
            match tokio::time::timeout(Duration::from_millis(200), closed.recv(&mut buf)).await {
                Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    refused = true;
                    break;
                }
                _ => {}
            }
        }
        assert!(refused, "port unreachable reported");
        Ok(())
    });
    sim.run().unwrap();
}
