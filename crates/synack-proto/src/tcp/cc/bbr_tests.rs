//! Exact tests of the BBR model against a fluid path: one ACK per millisecond delivering
//! 1000 bytes (1 MB/s) with a 10 ms RTT and 10,000 bytes in flight, so a round lasts 10 ms
//! and the BDP is 10,000 bytes.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::bbr::{Bbr, MaxFilter, Mode};
use super::{CongestionControl, RateSample};
use crate::time::{Duration, Instant};

const MSS: usize = 1000;
const BDP: usize = 10_000;

fn sample(t_ms: u64, delivered: usize, lost: usize, inflight: usize, rtt_ms: u64) -> RateSample {
    RateSample {
        now: Instant::from_millis(t_ms),
        delivered,
        lost,
        inflight,
        rtt: Some(Duration::from_millis(rtt_ms)),
        app_limited: false,
    }
}

/// One ACK per ms over `[from, to)`, each delivering 1000 bytes, `inflight` left, 10 ms RTT.
fn fluid(b: &mut Bbr, from: u64, to: u64, inflight: usize) {
    for t in from..to {
        b.on_rate_sample(&sample(t, MSS, 0, inflight, 10));
    }
}

/// A controller that left Startup and Drain: in ProbeBW at t = 141 ms.
fn in_probe_bw() -> Bbr {
    let mut b = Bbr::new(MSS);
    fluid(&mut b, 100, 142, BDP);
    assert_eq!(b.mode(), Mode::ProbeBw);
    b
}

#[test]
fn bbr_windowed_max_filter_keeps_the_best_rate_for_ten_rounds_then_expires_it() {
    let mut f = MaxFilter::default();
    f.update(1, 100, 10);
    for round in 2..=11 {
        f.update(round, 50, 10);
        assert_eq!(
            f.get(),
            100,
            "round {round}: still within 10 rounds of the best"
        );
    }
    f.update(12, 50, 10);
    assert_eq!(f.get(), 50, "the best is 11 rounds old");
    f.update(13, 70, 10);
    assert_eq!(f.get(), 70, "a better sample takes over at once");
}

#[test]
fn bbr_delivery_rate_is_bytes_delivered_over_one_round() {
    let mut b = Bbr::new(MSS);
    // The first ACK begins round 1 at 100 ms with 10,000 bytes in flight.
    fluid(&mut b, 100, 110, BDP);
    assert_eq!((b.rounds(), b.bandwidth()), (0, 0));
    // At 110 ms those 10,000 bytes are delivered and 10 ms passed: 1 MB/s.
    fluid(&mut b, 110, 111, BDP);
    assert_eq!(b.rounds(), 1);
    assert_eq!(b.bandwidth(), 1_000_000);
    assert_eq!(b.min_rtt(), Some(Duration::from_millis(10)));
    assert_eq!(b.bdp(), Some(BDP));
}

#[test]
fn bbr_min_rtt_filter_keeps_the_minimum_for_ten_seconds_then_probes_rtt() {
    let mut b = in_probe_bw();
    // RTT samples of 15 ms (a standing queue) do not replace the 10 ms minimum...
    b.on_rate_sample(&sample(5_000, MSS, 0, BDP, 15));
    b.on_rate_sample(&sample(10_100, MSS, 0, BDP, 15));
    assert_eq!(b.min_rtt(), Some(Duration::from_millis(10)));
    assert_eq!(b.mode(), Mode::ProbeBw);
    // ...until the minimum, taken at 100 ms, is more than 10 s old: the sample replaces it
    // and ProbeRTT begins with a window of 4 segments.
    b.on_rate_sample(&sample(10_101, MSS, 0, BDP, 15));
    assert_eq!(b.min_rtt(), Some(Duration::from_millis(15)));
    assert_eq!(b.mode(), Mode::ProbeRtt);
    assert_eq!(b.cwnd(), 4 * MSS);
}

#[test]
fn bbr_probe_rtt_holds_200_ms_and_a_round_at_4_segments_then_restores_the_window() {
    let mut b = in_probe_bw();
    fluid(&mut b, 142, 200, BDP);
    let before = b.cwnd();
    b.on_rate_sample(&sample(10_200, MSS, 0, BDP, 10));
    assert_eq!(b.mode(), Mode::ProbeRtt);
    // The flight falls to 4 segments at 10.21 s: the 200 ms hold starts.
    b.on_rate_sample(&sample(10_210, MSS, 0, 4 * MSS, 10));
    fluid(&mut b, 10_211, 10_410, 4 * MSS);
    assert_eq!((b.mode(), b.cwnd()), (Mode::ProbeRtt, 4 * MSS));
    b.on_rate_sample(&sample(10_410, MSS, 0, 4 * MSS, 10));
    assert_eq!(b.mode(), Mode::ProbeBw);
    assert_eq!(b.cwnd(), before);
}

#[test]
fn bbr_startup_drain_probe_bw_transitions() {
    let mut b = Bbr::new(MSS);
    assert_eq!(b.mode(), Mode::Startup);
    assert_eq!(b.pacing_gain(), 2885);
    // Rounds end at 110, 120, 130, 140 ms. Round 1 sets the plateau (1 MB/s); rounds 2-4
    // do not grow it by 25%: the pipe is full after the third and Startup ends.
    fluid(&mut b, 100, 140, BDP);
    assert_eq!((b.rounds(), b.mode()), (3, Mode::Startup));
    // Startup's window is 2.885 BDP + 3 segments.
    assert_eq!(b.target_cwnd(), Some(28_850 + 3 * MSS));
    fluid(&mut b, 140, 141, BDP + MSS);
    assert_eq!((b.rounds(), b.mode()), (4, Mode::Drain));
    // Drain lasts while more than a BDP is in flight...
    fluid(&mut b, 141, 145, BDP + MSS);
    assert_eq!(b.mode(), Mode::Drain);
    assert_eq!(b.cwnd(), BDP + 3 * MSS);
    // ...and ends once the flight is down to one BDP: ProbeBW, in a cruising phase.
    fluid(&mut b, 145, 146, BDP);
    assert_eq!((b.mode(), b.pacing_gain()), (Mode::ProbeBw, 1000));
    assert_eq!(
        b.ssthresh(),
        b.cwnd(),
        "ssthresh is finite once Startup is over"
    );
}

#[test]
fn bbr_probe_bw_cycles_its_pacing_gain_one_min_rtt_per_phase() {
    let mut b = in_probe_bw();
    let mut gains = vec![b.pacing_gain()];
    // Phase 2 began at 141 ms; each cruising phase lasts 10 ms.
    for t in (151..=211).step_by(10) {
        // The probe phase (1.25) only ends once 1.25 BDP is in flight.
        fluid(&mut b, t, t + 1, BDP * 5 / 4);
        gains.push(b.pacing_gain());
    }
    assert_eq!(gains, [1000, 1000, 1000, 1000, 1000, 1000, 1250, 750]);
    assert_eq!(b.pacing_rate(), 750_000);
}

#[test]
fn bbr_cwnd_is_gain_times_bdp_plus_quanta() {
    let mut b = Bbr::new(MSS);
    fluid(&mut b, 100, 111, BDP);
    // Startup: 2.885 BDP + 3 segments.
    assert_eq!(b.target_cwnd(), Some(28_850 + 3 * MSS));
    let mut b = in_probe_bw();
    // ProbeBW, unpaced: (pacing gain + 0.25) BDP + 3 segments, reached by growing per ACK.
    // Cruising (1.0): 1.25 BDP.
    fluid(&mut b, 142, 150, BDP);
    assert_eq!(b.target_cwnd(), Some(12_500 + 3 * MSS));
    assert_eq!(b.cwnd(), 12_500 + 3 * MSS);
    // Probing (1.25): 1.5 BDP; draining (0.75): 1.0 BDP.
    fluid(&mut b, 150, 211, BDP * 5 / 4);
    assert_eq!(b.pacing_gain(), 1250);
    assert_eq!(b.target_cwnd(), Some(15_000 + 3 * MSS));
    assert_eq!(b.cwnd(), 15_000 + 3 * MSS);
    fluid(&mut b, 211, 212, BDP * 5 / 4);
    assert_eq!(b.pacing_gain(), 750);
    assert_eq!(b.cwnd(), BDP + 3 * MSS, "lowered at once");
}

#[test]
fn bbr_random_loss_does_not_cut_the_window_below_the_model() {
    let mut b = in_probe_bw();
    fluid(&mut b, 142, 150, BDP);
    let model = 12_500 + 3 * MSS;
    assert_eq!(b.cwnd(), model);
    // Recovery starts and PRR tries to shrink the window: BBR keeps its own.
    b.on_congestion_event(Instant::from_millis(150), BDP);
    b.set_cwnd(5 * MSS);
    assert_eq!(b.cwnd(), model);
    // 1% of the bytes lost in a round (below the 2% threshold): nothing changes.
    for t in 150..160 {
        let lost = if t == 155 { 100 } else { 0 };
        b.on_rate_sample(&sample(t, MSS, lost, BDP, 10));
    }
    b.on_recovery_end(Instant::from_millis(160));
    fluid(&mut b, 160, 170, BDP);
    assert_eq!(b.cwnd(), model);
    assert_eq!(b.bandwidth(), 1_000_000);
}

#[test]
fn bbr_a_round_losing_over_2_percent_bounds_the_window_to_0_7_but_not_below_the_bdp() {
    let mut b = in_probe_bw();
    fluid(&mut b, 142, 150, BDP);
    let model = 12_500 + 3 * MSS;
    assert_eq!(b.cwnd(), model);
    // A round (151..=160 ms) that loses 500 of 10,500 bytes: 4.8%.
    fluid(&mut b, 150, 151, BDP);
    for t in 151..161 {
        let lost = if t == 155 { 500 } else { 0 };
        b.on_rate_sample(&sample(t, MSS, lost, BDP, 10));
    }
    assert_eq!(b.cwnd(), model * 7 / 10);
    assert!(b.cwnd() >= BDP);
    // Each clean round lifts the bound by an eighth, until it no longer binds.
    fluid(&mut b, 161, 171, BDP);
    assert_eq!(b.cwnd(), model * 7 / 10 + model * 7 / 10 / 8);
    fluid(&mut b, 171, 201, BDP);
    assert_eq!(b.cwnd(), model);
}

#[test]
fn bbr_timeout_restarts_from_one_segment_and_grows_back_to_the_model() {
    let mut b = in_probe_bw();
    fluid(&mut b, 142, 200, BDP);
    let model = b.cwnd();
    b.on_rto(Instant::from_millis(200), BDP);
    assert_eq!(b.cwnd(), MSS);
    b.on_rate_sample(&sample(300, MSS, 0, 0, 10));
    assert_eq!(b.cwnd(), 2 * MSS, "grows by what each ACK delivered");
    fluid(&mut b, 301, 330, MSS);
    assert_eq!(model, 12_500 + 3 * MSS);
    assert_eq!(
        b.cwnd(),
        b.target_cwnd().unwrap(),
        "back at the model's window"
    );
}

#[test]
fn bbr_is_registered_and_compact() {
    let cc = super::AnyCc::new(super::CcAlgorithm::Bbr, 1460);
    assert_eq!(cc.name(), "bbr");
    assert_eq!(cc.cwnd(), 14_600);
    assert_eq!(cc.ssthresh(), usize::MAX);
    // It sits in every connection (CUBIC's state is 176 bytes).
    assert!(
        core::mem::size_of::<Bbr>() <= 136,
        "{}",
        core::mem::size_of::<Bbr>()
    );
}
