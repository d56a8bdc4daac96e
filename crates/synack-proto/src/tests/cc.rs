//! Congestion control end to end: a bulk transfer over a lossy, rate-limited link completes
//! intact with each algorithm, repairing losses by fast retransmit as well as timeouts; on a
//! randomly lossy long fat path BBR keeps the link busy where CUBIC cannot.

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
fn bbr_lossy_bulk_transfer_completes_intact() {
    for seed in [1, 2] {
        lossy_transfer_completes(CcAlgorithm::Bbr, seed);
    }
}

#[test]
fn bbr_without_sack_lossy_bulk_transfer_completes_intact() {
    // NewReno recovery on duplicate ACKs instead of RACK: BBR still sees every ACK's delivery.
    for seed in [1, 2] {
        let cfg = tcp::Config {
            congestion_control: CcAlgorithm::Bbr,
            sack: false,
            send_buffer: 256 * 1024,
            recv_buffer: 256 * 1024,
            ..tcp::Config::default()
        };
        let net = pair(seed, cfg, lossy_link());
        let x = exchange(
            net,
            SocketAddr::new(IP_B, 80),
            stream(1 << 20, seed),
            stream(64 * 1024, seed + 1),
            Duration::from_secs(120),
        );
        assert_clean(&x, &format!("seed {seed}"));
    }
}

#[test]
fn newreno_lossy_bulk_transfer_completes_intact() {
    for seed in [1, 2] {
        lossy_transfer_completes(CcAlgorithm::NewReno, seed);
    }
}

/// 20 Mbit/s, 10 ms each way, a queue deep enough (4 MiB) that slow start never overflows it
/// within the transfer: only the queueing delay can end slow start.
fn deep_queue_link() -> LinkConfig {
    LinkConfig::default()
        .with_delay(Duration::from_millis(10))
        .with_bandwidth(20_000_000)
        .with_queue_limit(4 << 20)
}

/// Runs an 8 MiB upload over [`deep_queue_link`] and returns A's (cwnd, ssthresh) at the first
/// moment ssthresh was set, and A's retransmissions.
fn slow_start_exit(alg: CcAlgorithm) -> (Option<(usize, usize)>, u64) {
    let cfg = tcp::Config {
        congestion_control: alg,
        send_buffer: 4 << 20,
        recv_buffer: 4 << 20,
        ..tcp::Config::default()
    };
    let net = pair(7, cfg, deep_queue_link());
    let mut exit = None;
    let x = exchange_with(
        net,
        SocketAddr::new(IP_B, 80),
        stream(8 << 20, 7),
        Vec::new(),
        Duration::from_secs(120),
        |net, a, _| {
            let conn = a.conn.and_then(|id| net.host(A).connection(id));
            if let Some(c) = conn
                && exit.is_none()
                && c.ssthresh() != usize::MAX
            {
                exit = Some((c.cwnd(), c.ssthresh()));
            }
        },
    );
    assert_clean(&x, &format!("{alg:?}"));
    eprintln!("{alg:?}: left slow start at (cwnd, ssthresh) = {exit:?}");
    (exit, x.net.host(A).counters().retrans_segs)
}

#[test]
fn rfc9406_hystart_ends_slow_start_on_rising_rtt_before_any_loss() {
    for alg in [CcAlgorithm::Cubic, CcAlgorithm::NewReno] {
        let (exit, retrans) = slow_start_exit(alg);
        assert_eq!(retrans, 0, "{alg:?}: nothing was lost");
        let (cwnd, ssthresh) = exit.unwrap_or_else(|| panic!("{alg:?}: never left slow start"));
        // CSS ended with ssthresh = cwnd, above the path's 50 KB BDP, without ever
        // filling the 4 MiB queue.
        assert_eq!(cwnd, ssthresh, "{alg:?}");
        assert!(
            ssthresh > 50_000 && ssthresh < 4 << 20,
            "{alg:?}: {ssthresh}"
        );
    }
}

/// A long fat lossy path: 100 Mbit/s, 10 ms each way, 1% random loss each way, a drop-tail
/// queue of one BDP (250 KB).
fn long_fat_lossy_link() -> LinkConfig {
    LinkConfig::default()
        .with_delay(Duration::from_millis(10))
        .with_bandwidth(100_000_000)
        .with_queue_limit(250_000)
        .with_loss(0.01)
}

/// Bytes B received from A in `secs` simulated seconds of an upload over
/// [`long_fat_lossy_link`] with `alg`.
fn lossy_goodput(alg: CcAlgorithm, secs: u64) -> usize {
    let cfg = tcp::Config {
        congestion_control: alg,
        send_buffer: 1 << 20,
        recv_buffer: 1 << 20,
        ..tcp::Config::default()
    };
    let net = pair(11, cfg, long_fat_lossy_link());
    let x = exchange(
        net,
        SocketAddr::new(IP_B, 80),
        stream((16 << 20) * secs as usize, 11),
        Vec::new(),
        Duration::from_secs(secs),
    );
    let got = x.b.got.len();
    assert_eq!(
        x.b.got[..],
        x.a.out[..got],
        "{alg:?}: the bytes arrive intact"
    );
    eprintln!("{alg:?}: {got} bytes in {secs} s");
    got
}

#[test]
fn bbr_keeps_a_randomly_lossy_long_fat_path_busy_where_cubic_cannot() {
    let secs = 5;
    let bbr = lossy_goodput(CcAlgorithm::Bbr, secs);
    let cubic = lossy_goodput(CcAlgorithm::Cubic, secs);
    assert!(bbr >= 3 * cubic, "bbr {bbr} vs cubic {cubic}");
    // At least 70% of the link's 12.5 MB/s, in the simulator's time (Startup included).
    assert!(bbr as u64 >= secs * 12_500_000 * 7 / 10, "bbr {bbr}");
}
