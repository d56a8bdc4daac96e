//! SACK and RACK-TLP end to end (RFC 2018, RFC 6675, RFC 8985): under reordering a SACK
//! sender retransmits far less than one that counts duplicate ACKs, and under random loss
//! it repairs losses without waiting for retransmission timeouts.

use super::*;
use crate::sim::LinkConfig;
use crate::stack::Counters;

/// 10 Mbit/s, 10 ms each way plus up to `jitter` of random extra delay, `loss` random loss.
fn link(jitter_ms: u64, loss: f64) -> LinkConfig {
    LinkConfig::default()
        .with_delay(Duration::from_millis(10))
        .with_jitter(Duration::from_millis(jitter_ms))
        .with_bandwidth(10_000_000)
        .with_loss(loss)
}

/// A 1 MiB transfer A → B (and 16 KiB back); A's counters and what the A → B link lost.
fn transfer(sack: bool, seed: u64, link: LinkConfig) -> (Counters, u64) {
    let cfg = tcp::Config {
        sack,
        send_buffer: 256 * 1024,
        recv_buffer: 256 * 1024,
        ..tcp::Config::default()
    };
    let net = pair(seed, cfg, link);
    let server = SocketAddr::new(IP_B, 80);
    let x = exchange(
        net,
        server,
        stream(1 << 20, seed),
        stream(16 * 1024, seed + 1),
        Duration::from_secs(300),
    );
    let what = format!("sack {sack} seed {seed}");
    assert_clean(&x, &what);
    (x.net.host(A).counters(), x.net.link_stats(A, B).lost)
}

#[test]
fn rfc8985_reordering_causes_few_spurious_retransmissions_with_sack_and_rack() {
    for seed in [1, 2, 3] {
        let (with, _) = transfer(true, seed, link(8, 0.0));
        let (without, _) = transfer(false, seed, link(8, 0.0));
        eprintln!(
            "seed {seed}: jitter, no loss: retransmissions with SACK+RACK {}, without {}",
            with.retrans_segs, without.retrans_segs
        );
        // Nothing is lost: every retransmission is spurious.
        assert!(
            with.retrans_segs * 4 <= without.retrans_segs.max(4),
            "seed {seed}: {} spurious retransmissions with SACK, {} without",
            with.retrans_segs,
            without.retrans_segs
        );
    }
}

#[test]
fn rfc6675_random_loss_is_repaired_without_retransmission_timeouts() {
    for (seed, loss) in [
        (1, 0.01),
        (2, 0.01),
        (3, 0.01),
        (1, 0.03),
        (2, 0.03),
        (3, 0.03),
    ] {
        let (c, lost) = transfer(true, seed, link(0, loss));
        let (old, old_lost) = transfer(false, seed, link(0, loss));
        eprintln!(
            "seed {seed}: {loss} loss: {lost} lost A→B, {} retransmitted, {} RTOs, {} SACK \
             recoveries, {} loss probes; without SACK: {old_lost} lost, {} retransmitted, \
             {} RTOs",
            c.retrans_segs,
            c.timeouts,
            c.sack_recovery,
            c.loss_probes,
            old.retrans_segs,
            old.timeouts
        );
        assert!(lost > 0 && c.sack_recovery > 0, "seed {seed}: {c:?}");
        assert!(
            c.timeouts * 10 <= lost,
            "seed {seed}: {} RTOs for {lost} losses",
            c.timeouts
        );
        assert!(
            c.retrans_segs <= 2 * lost,
            "seed {seed}: {} retransmissions for {lost} losses",
            c.retrans_segs
        );
    }
}
