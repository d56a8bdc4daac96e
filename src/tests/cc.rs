//! Congestion control end to end: a bulk transfer over a lossy, rate-limited link completes
//! intact with each algorithm, repairing losses by fast retransmit as well as timeouts.

use super::*;
use crate::sim::LinkConfig;
use crate::tcp::cc::CcAlgorithm;

/// 10 Mbit/s, 5 ms each way, 2% random loss, a 64 KiB drop-tail queue.
fn lossy_link() -> LinkConfig {
    LinkConfig::default()
        .with_delay(Duration::from_millis(5))
        .with_bandwidth(10_000_000)
        .with_queue_limit(64 * 1024)
        .with_loss(0.02)
}

fn lossy_transfer_completes(alg: CcAlgorithm, seed: u64) {
    let cfg = tcp::Config {
        congestion_control: alg,
        send_buffer: 256 * 1024,
        recv_buffer: 256 * 1024,
        ..tcp::Config::default()
    };
    let net = pair(seed, cfg, lossy_link());
    let server = SocketAddr::new(IP_B, 80);
    let x = exchange(
        net,
        server,
        stream(1 << 20, seed),
        stream(64 * 1024, seed + 1),
        Duration::from_secs(120),
    );
    let what = format!("{alg:?} seed {seed}");
    assert_clean(&x, &what);
    let c = x.net.host(A).counters();
    assert!(
        c.fast_retrans > 0,
        "{what}: losses repaired by fast retransmit: {c:?}"
    );
}

#[test]
fn cubic_lossy_bulk_transfer_completes_intact() {
    for seed in [1, 2] {
        lossy_transfer_completes(CcAlgorithm::Cubic, seed);
    }
}

#[test]
fn newreno_lossy_bulk_transfer_completes_intact() {
    for seed in [1, 2] {
        lossy_transfer_completes(CcAlgorithm::NewReno, seed);
    }
}
