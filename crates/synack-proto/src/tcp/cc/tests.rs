//! Exact tests of the congestion controllers, HyStart++ and PRR, against values worked by
//! hand from the RFCs.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::float_cmp)]

use super::hystart::{CSS_ROUNDS, N_RTT_SAMPLE};
use super::*;

const MSS: usize = 1000;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// An ACK at `now_ms` of `acked` bytes, with SND.UNA/SND.NXT at the given offsets.
fn ack(now_ms: u64, acked: usize, una: u32, nxt: u32, rtt: Option<Duration>) -> AckSample {
    AckSample {
        now: Instant::from_millis(now_ms),
        acked,
        flight_before: 0,
        rtt,
        snd_una: SeqNum::new(una),
        snd_nxt: SeqNum::new(nxt),
        app_limited: false,
    }
}

/// A controller in congestion avoidance at `cwnd` bytes (NewReno via a timeout and slow start
/// is long-winded; set it through the recovery interface instead).
fn in_avoidance(mut cc: AnyCc, cwnd: usize, flight: usize) -> AnyCc {
    cc.set_cwnd(cwnd);
    cc.on_congestion_event(Instant::ZERO, flight);
    cc.on_recovery_end(Instant::ZERO);
    cc
}

// ---- RFC 6928 initial window ----

#[test]
fn rfc6928_initial_window_is_min_of_10_mss_and_max_of_2_mss_and_14600() {
    for alg in [CcAlgorithm::NewReno, CcAlgorithm::Cubic] {
        assert_eq!(AnyCc::new(alg, 1460).cwnd(), 14_600);
        assert_eq!(AnyCc::new(alg, 536).cwnd(), 5_360);
        assert_eq!(AnyCc::new(alg, 1448).cwnd(), 14_480);
        assert_eq!(AnyCc::new(alg, 9000).cwnd(), 18_000);
        assert_eq!(AnyCc::new(alg, 1460).ssthresh(), usize::MAX);
    }
}

#[test]
fn rfc6928_untouched_initial_window_follows_the_negotiated_mss() {
    let mut cc = AnyCc::new(CcAlgorithm::Cubic, 1460);
    cc.set_mss(1448);
    assert_eq!(cc.cwnd(), 14_480);
    cc.set_cwnd(20_000);
    cc.set_mss(1000);
    assert_eq!(cc.cwnd(), 20_000, "a window already moved is kept");
}

#[test]
fn cubic_is_the_default_algorithm() {
    assert_eq!(CcAlgorithm::default(), CcAlgorithm::Cubic);
    assert_eq!(
        crate::tcp::Config::default().congestion_control,
        CcAlgorithm::Cubic
    );
    assert_eq!(AnyCc::new(CcAlgorithm::default(), MSS).name(), "cubic");
    assert_eq!(AnyCc::new(CcAlgorithm::NewReno, MSS).name(), "newreno");
}

// ---- RFC 5681 / RFC 3465 NewReno ----

#[test]
fn rfc3465_slow_start_grows_by_bytes_acked_capped_at_two_smss() {
    let mut cc = AnyCc::new(CcAlgorithm::NewReno, MSS);
    cc.on_ack(&ack(0, 500, 0, 0, None));
    assert_eq!(cc.cwnd(), 10_500, "byte counting: +500");
    cc.on_ack(&ack(0, 2 * MSS, 0, 0, None));
    assert_eq!(cc.cwnd(), 12_500, "a delayed ACK of two segments: +2 SMSS");
    cc.on_ack(&ack(0, 5 * MSS, 0, 0, None));
    assert_eq!(
        cc.cwnd(),
        14_500,
        "a stretch ACK of five: capped at L = 2 SMSS"
    );
}

#[test]
fn rfc7661_an_application_limited_ack_does_not_grow_the_window() {
    for alg in [CcAlgorithm::NewReno, CcAlgorithm::Cubic] {
        let mut cc = AnyCc::new(alg, MSS);
        cc.on_ack(&AckSample {
            app_limited: true,
            ..ack(0, MSS, 0, 0, None)
        });
        assert_eq!(cc.cwnd(), 10_000, "{}", cc.name());
    }
}

#[test]
fn rfc3465_congestion_avoidance_adds_one_smss_per_window_acknowledged() {
    let mut cc = in_avoidance(AnyCc::new(CcAlgorithm::NewReno, MSS), 30_000, 20_000);
    assert_eq!((cc.cwnd(), cc.ssthresh()), (10_000, 10_000));
    for _ in 0..9 {
        cc.on_ack(&ack(0, MSS, 0, 0, None));
    }
    assert_eq!(cc.cwnd(), 10_000, "9 000 of 10 000 bytes acknowledged");
    cc.on_ack(&ack(0, MSS, 0, 0, None));
    assert_eq!(cc.cwnd(), 11_000, "a full window acknowledged: +1 SMSS");
}

#[test]
fn rfc5681_newreno_halves_the_flight_but_keeps_two_segments() {
    let mut cc = AnyCc::new(CcAlgorithm::NewReno, MSS);
    cc.on_congestion_event(Instant::ZERO, 20_000);
    assert_eq!(cc.ssthresh(), 10_000, "β = 0.5 of FlightSize, not of cwnd");
    cc.on_recovery_end(Instant::ZERO);
    assert_eq!(
        cc.cwnd(),
        10_000,
        "RFC 6937: cwnd = ssthresh at the end of recovery"
    );
    cc.on_congestion_event(Instant::ZERO, 3_000);
    assert_eq!(cc.ssthresh(), 2_000, "max(FlightSize / 2, 2·SMSS)");
}

#[test]
fn rfc5681_eq4_timeout_sets_the_loss_window_of_one_segment() {
    let mut cc = AnyCc::new(CcAlgorithm::NewReno, MSS);
    cc.on_rto(Instant::ZERO, 20_000);
    assert_eq!((cc.cwnd(), cc.ssthresh()), (1_000, 10_000));
    cc.on_spurious_congestion();
    assert_eq!((cc.cwnd(), cc.ssthresh()), (10_000, usize::MAX), "undone");
}

// ---- RFC 9438 CUBIC ----

#[test]
fn rfc9438_k_and_w_cubic_at_known_points() {
    // W_max = 100 segments, reduced to β·W_max = 70: K = ∛(30 / 0.4) = ∛75 ≈ 4.2172 s.
    let k = cubic::k(100.0, 70.0);
    assert!((k - 4.217_163_3).abs() < 1e-6, "{k}");
    assert!((k * k * k - 75.0).abs() < 1e-9);
    // W(0) = 0.4·(−∛75)³ + 100 = 70: the window starts where the reduction left it.
    assert!((cubic::w_cubic(0.0, k, 100.0) - 70.0).abs() < 1e-9);
    // W(K) = W_max: the plateau.
    assert_eq!(cubic::w_cubic(k, k, 100.0), 100.0);
    // One second past K: 100 + 0.4 = 100.4 (convex region).
    assert!((cubic::w_cubic(k + 1.0, k, 100.0) - 100.4).abs() < 1e-9);
    // Two K: symmetric to W(0), 130.
    assert!((cubic::w_cubic(2.0 * k, k, 100.0) - 130.0).abs() < 1e-9);
    // α_cubic = 3·0.3 / 1.7.
    assert!((cubic::ALPHA - 0.529_411_764_7).abs() < 1e-9);
    assert_eq!(cubic::k(50.0, 60.0), 0.0, "no negative K above W_max");
}

#[test]
fn rfc9438_4_6_beta_is_0_7_of_the_flight_and_w_max_is_the_window() {
    let mut cc = Cubic::new(MSS);
    cc.set_cwnd(100_000);
    cc.on_congestion_event(Instant::ZERO, 100_000);
    assert_eq!(cc.ssthresh(), 70_000);
    assert_eq!(cc.w_max(), 100.0);
    cc.on_recovery_end(Instant::ZERO);
    assert_eq!(cc.cwnd(), 70_000);
    assert!((cc.k().unwrap() - 4.217_163_3).abs() < 1e-6);
}

#[test]
fn rfc9438_4_7_fast_convergence_lowers_w_max_when_the_window_shrank() {
    let mut cc = Cubic::new(MSS);
    cc.set_cwnd(100_000);
    cc.on_congestion_event(Instant::ZERO, 100_000);
    cc.on_recovery_end(Instant::ZERO);
    // Another loss at 80 segments, below W_max = 100: W_max = 80·(1 + 0.7)/2 = 68.
    cc.set_cwnd(80_000);
    cc.on_congestion_event(Instant::ZERO, 80_000);
    assert!((cc.w_max() - 68.0).abs() < 1e-9, "{}", cc.w_max());
    assert_eq!(cc.ssthresh(), 56_000);
}

#[test]
fn rfc9438_4_4_concave_region_grows_toward_w_max() {
    let mut cc = in_avoidance(AnyCc::new(CcAlgorithm::Cubic, MSS), 100_000, 100_000);
    assert_eq!(cc.cwnd(), 70_000);
    // At t = K (4217.163 ms, no RTT known): target = W(K) = 100; one segment acked adds
    // (100 − 70)/70 segments = 428.57 bytes.
    cc.on_ack(&ack(4_218, MSS, 0, 0, None));
    assert_eq!(cc.cwnd(), 70_428);
}

#[test]
fn rfc9438_window_follows_w_cubic_one_rtt_ahead_or_w_est_whichever_is_larger() {
    // W_max = 100, cwnd_epoch = 70, RTT = 100 ms; every RTT the whole window is acknowledged,
    // so each ACK lifts cwnd to W_cubic(t + RTT) (§4.2; under 1.5·cwnd here) unless
    // W_cubic(t) is below the Reno estimate W_est, which grows by α per RTT, and by 1 once it
    // has reached cwnd_prior = 100 (§4.3).
    let mut cc = in_avoidance(AnyCc::new(CcAlgorithm::Cubic, MSS), 100_000, 100_000);
    let k = cubic::k(100.0, 70.0);
    let mut w_est = 70.0;
    let mut regions = String::new();
    for i in 0..=84u32 {
        let t = f64::from(i) / 10.0;
        let before = cc.cwnd();
        cc.on_ack(&ack(u64::from(i) * 100, before, 0, 0, Some(ms(100))));
        w_est += if w_est >= 100.0 { 1.0 } else { cubic::ALPHA };
        let want = if cubic::w_cubic(t, k, 100.0) < w_est {
            regions.push('R');
            w_est
        } else {
            regions.push(if t < k { 'c' } else { 'C' });
            cubic::w_cubic(t + 0.1, k, 100.0)
        };
        let want = want * MSS as f64;
        assert!(
            (cc.cwnd() as f64 - want).abs() < 1.0,
            "t = {t}: cwnd {} vs {want}",
            cc.cwnd()
        );
    }
    // Reno-friendly at t = 0, concave up to K (4.2 s), convex after; from 5.8 s W_est, which
    // reached cwnd_prior and grows by a segment per RTT, overtakes the still-flat cubic until
    // the cubic's slope 3·C·(t − K)² passes one segment per RTT and it catches up at 8.3 s.
    let want = format!("R{}{}{}CC", "c".repeat(42), "C".repeat(15), "R".repeat(25));
    assert_eq!(regions, want);
    // At t = 8.4 s: W_cubic(8.5) = 0.4·(8.5 − K)³ + 100 ≈ 131.4 segments.
    assert_eq!(cc.cwnd() / MSS, 131);
}

#[test]
fn rfc9438_4_2_target_is_clamped_to_one_and_a_half_cwnd() {
    let mut cc = in_avoidance(AnyCc::new(CcAlgorithm::Cubic, MSS), 100_000, 100_000);
    // Far in the convex region W(t) is huge; the target is 1.5·70 = 105, so one segment
    // acked adds (105 − 70)/70 = 0.5 segment.
    cc.on_ack(&ack(100_000, MSS, 0, 0, None));
    assert_eq!(cc.cwnd(), 70_500);
}

#[test]
fn rfc9438_4_3_reno_friendly_region_follows_w_est() {
    let mut cc = in_avoidance(AnyCc::new(CcAlgorithm::Cubic, MSS), 100_000, 100_000);
    // At t = 0 W_cubic = 70 exactly, below W_est = 70 + α·10/70 = 70.07563 after ten
    // segments: cwnd = W_est (70 075.63 bytes).
    cc.on_ack(&ack(0, 10 * MSS, 0, 0, None));
    assert_eq!(cc.cwnd(), 70_075);
}

#[test]
fn rfc9438_5_8_application_limited_time_does_not_count_in_t() {
    let mut a = in_avoidance(AnyCc::new(CcAlgorithm::Cubic, MSS), 100_000, 100_000);
    let mut b = a.clone();
    // `b` was application limited from its ACK at 1 s until its next at 4.218 s: that gap does
    // not count, so `b` at 4.218 s is where `a` is at 1 s.
    b.on_ack(&AckSample {
        app_limited: true,
        ..ack(1_000, MSS, 0, 0, None)
    });
    b.on_ack(&ack(4_218, MSS, 0, 0, None));
    a.on_ack(&ack(1_000, MSS, 0, 0, None));
    assert_eq!(a.cwnd(), b.cwnd());
    assert!(b.cwnd() < 70_428, "not the growth at t = K");
}

#[test]
fn rfc9438_4_8_timeout_sets_one_segment_and_the_next_epoch_starts_at_k_0() {
    let mut cc = Cubic::new(MSS);
    cc.set_cwnd(100_000);
    cc.on_rto(Instant::ZERO, 100_000);
    assert_eq!((cc.cwnd(), cc.ssthresh()), (1_000, 70_000));
    // Slow start back to ssthresh, then congestion avoidance: W_max = cwnd there, K = 0.
    let mut now = 0;
    while cc.cwnd() < cc.ssthresh() {
        now += 1;
        cc.on_ack(&ack(now, 2 * MSS, 0, 0, None));
    }
    assert_eq!(cc.cwnd(), 71_000);
    cc.on_ack(&ack(now, MSS, 0, 0, None));
    assert_eq!(cc.k(), Some(0.0));
    assert_eq!(cc.w_max(), 71.0);
}

#[test]
fn rfc9438_4_9_spurious_congestion_restores_the_window() {
    let mut cc = Cubic::new(MSS);
    cc.set_cwnd(100_000);
    cc.on_congestion_event(Instant::ZERO, 100_000);
    cc.set_cwnd(70_000);
    cc.on_spurious_congestion();
    assert_eq!((cc.cwnd(), cc.ssthresh()), (100_000, usize::MAX));
    assert_eq!(cc.w_max(), 0.0);
}

// ---- RFC 9406 HyStart++ ----

/// Feeds one round of `n` ACKs with RTT `rtt_ms`: the first ACK passes the previous round's
/// end (SND.UNA = `round`·100) and the round ends at the next multiple of 100.
fn hystart_round(h: &mut HyStart, round: u32, n: u32, rtt_ms: u64) -> Vec<Phase> {
    (0..n)
        .map(|i| {
            let una = round * 100 + i;
            h.on_ack(&ack(0, MSS, una, (round + 1) * 100, Some(ms(rtt_ms))))
        })
        .collect()
}

#[test]
fn rfc9406_rtt_increase_beyond_threshold_enters_css() {
    let mut h = HyStart::new();
    assert!(
        hystart_round(&mut h, 0, 10, 100)
            .iter()
            .all(|p| *p == Phase::SlowStart)
    );
    // RttThresh = clamp(100/8 = 12.5 ms, 4, 16): 112 ms stays in slow start.
    assert!(
        hystart_round(&mut h, 1, 10, 112)
            .iter()
            .all(|p| *p == Phase::SlowStart)
    );
    // Next round, against 112: threshold 14 ms; 126 ms exits at the 8th sample.
    let phases = hystart_round(&mut h, 2, 10, 126);
    let first_css = phases.iter().position(|p| *p == Phase::Css);
    assert_eq!(first_css, Some(N_RTT_SAMPLE as usize - 1));
    assert!(h.in_css());
}

#[test]
fn rfc9406_css_returns_to_slow_start_when_rtt_falls_below_baseline() {
    let mut h = HyStart::new();
    hystart_round(&mut h, 0, 8, 100);
    hystart_round(&mut h, 1, 8, 120);
    assert!(h.in_css(), "baseline 120 ms");
    let phases = hystart_round(&mut h, 2, 8, 110);
    assert_eq!(phases[6], Phase::Css);
    assert_eq!(phases[7], Phase::SlowStart, "8 samples below the baseline");
    assert!(!h.in_css());
}

#[test]
fn rfc9406_css_rounds_then_congestion_avoidance_at_the_current_window() {
    let mut cc = AnyCc::new(CcAlgorithm::Cubic, MSS);
    let mut una = 0;
    let mut round = |cc: &mut AnyCc, r: u32, rtt: u64| {
        for i in 0..8 {
            una = r * 100 + i;
            cc.on_ack(&ack(0, MSS, una, (r + 1) * 100, Some(ms(rtt))));
        }
    };
    round(&mut cc, 0, 100);
    assert_eq!(cc.cwnd(), 18_000, "slow start: +1 SMSS per segment acked");
    round(&mut cc, 1, 120);
    // 7 ACKs of slow start, then the 8th in CSS: +1000/4.
    assert_eq!(cc.cwnd(), 25_250);
    for r in 2..(1 + CSS_ROUNDS) {
        round(&mut cc, r, 120);
    }
    assert_eq!(cc.cwnd(), 25_250 + 4 * 8 * 250, "CSS grows at a quarter");
    assert_eq!(cc.ssthresh(), usize::MAX);
    round(&mut cc, 1 + CSS_ROUNDS, 120);
    assert_eq!(cc.ssthresh(), 33_250, "after CSS_ROUNDS: ssthresh = cwnd");
}

// ---- RFC 6937 PRR ----

#[test]
fn rfc6937_proportional_reduction_sends_on_every_other_ack_at_beta_half() {
    // The RFC's example: 20 segments in flight, one lost, ssthresh = 10; each ACK delivers
    // one segment. PRR sends ssthresh/RecoverFS = 1/2 segment per segment delivered.
    let mut prr = Prr::start(10 * MSS, 20 * MSS);
    let mut pipe = 19 * MSS;
    let mut sent = Vec::new();
    for _ in 0..16 {
        pipe -= MSS;
        let sndcnt = prr.on_ack(MSS, pipe, 10 * MSS, MSS);
        prr.on_sent(sndcnt);
        pipe += sndcnt;
        sent.push(sndcnt / MSS);
    }
    assert_eq!(sent, [1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0]);
    assert_eq!((prr.delivered(), prr.out()), (16 * MSS, 8 * MSS));
    assert_eq!(pipe, 11 * MSS);
}

#[test]
fn rfc6937_proportional_reduction_rounds_up_at_beta_0_7() {
    // CUBIC: ssthresh = 7 of RecoverFS = 10 segments; sndcnt = ⌈delivered·7/10⌉ − out, in
    // whole segments.
    let mut prr = Prr::start(7 * MSS, 10 * MSS);
    let mut sent = Vec::new();
    for _ in 0..4 {
        let sndcnt = prr.on_ack(MSS, 9 * MSS, 7 * MSS, MSS);
        prr.on_sent(sndcnt);
        sent.push(sndcnt);
    }
    assert_eq!(
        sent,
        [MSS, MSS, MSS, 0],
        "⌈0.7⌉, ⌈1.4⌉ − 1, ⌈2.1⌉ − 2, ⌈2.8⌉ − 3"
    );
}

#[test]
fn rfc6937_ssrb_catches_up_like_slow_start_when_pipe_falls_below_ssthresh() {
    // Heavy loss: pipe at 4 segments, far below ssthresh = 10.
    let mut prr = Prr::start(10 * MSS, 20 * MSS);
    // limit = max(prr_delivered − prr_out, DeliveredData) + MSS = 2; ssthresh − pipe = 6.
    assert_eq!(prr.on_ack(MSS, 4 * MSS, 10 * MSS, MSS), 2 * MSS);
    prr.on_sent(2 * MSS);
    assert_eq!(prr.on_ack(MSS, 5 * MSS, 10 * MSS, MSS), 2 * MSS);
    prr.on_sent(2 * MSS);
    // Only ssthresh − pipe = 1 segment is left to reach ssthresh.
    assert_eq!(prr.on_ack(3 * MSS, 9 * MSS, 10 * MSS, MSS), MSS);
    // At ssthresh: nothing more.
    assert_eq!(prr.on_ack(MSS, 10 * MSS, 10 * MSS, MSS), 0);
}

// ---- robustness ----

mod props {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Op {
        Ack {
            dt_ms: u64,
            acked: usize,
            rtt_ms: Option<u64>,
            app_limited: bool,
        },
        Congestion(usize),
        SetCwnd(usize),
        RecoveryEnd,
        Rto(usize),
        Spurious,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0u64..5_000, 0usize..4 << 20, proptest::option::of(0u64..100_000), any::<bool>())
                .prop_map(|(dt_ms, acked, rtt_ms, app_limited)| Op::Ack { dt_ms, acked, rtt_ms, app_limited }),
            1 => (0usize..1 << 30).prop_map(Op::Congestion),
            1 => (0usize..1 << 30).prop_map(Op::SetCwnd),
            1 => Just(Op::RecoveryEnd),
            1 => (0usize..1 << 30).prop_map(Op::Rto),
            1 => Just(Op::Spurious),
        ]
    }

    proptest! {
        /// Whatever the ACKs, RTTs and events, neither algorithm panics, cwnd stays at least
        /// one segment and ssthresh at least two (RFC 5681 §3.1) once set.
        #[test]
        fn windows_stay_sane_under_arbitrary_events(
            newreno in any::<bool>(),
            mss in 1usize..9_000,
            ops in proptest::collection::vec(op(), 1..200),
        ) {
            let alg = if newreno { CcAlgorithm::NewReno } else { CcAlgorithm::Cubic };
            let mut cc = AnyCc::new(alg, mss);
            let mut now = 0u64;
            let mut una = 0u32;
            for op in ops {
                match op {
                    Op::Ack { dt_ms, acked, rtt_ms, app_limited } => {
                        now += dt_ms;
                        una = una.wrapping_add(acked as u32);
                        cc.on_ack(&AckSample {
                            app_limited,
                            ..ack(now, acked, una, una.wrapping_add(1 << 20), rtt_ms.map(ms))
                        });
                    }
                    Op::Congestion(f) => cc.on_congestion_event(Instant::from_millis(now), f),
                    Op::SetCwnd(c) => cc.set_cwnd(c),
                    Op::RecoveryEnd => cc.on_recovery_end(Instant::from_millis(now)),
                    Op::Rto(f) => cc.on_rto(Instant::from_millis(now), f),
                    Op::Spurious => cc.on_spurious_congestion(),
                }
                prop_assert!(cc.cwnd() >= mss, "cwnd {} < mss {}", cc.cwnd(), mss);
                prop_assert!(cc.ssthresh() >= 2 * mss, "ssthresh {}", cc.ssthresh());
            }
        }
    }
}

#[test]
fn rfc6937_first_ack_of_recovery_always_allows_the_fast_retransmission() {
    // pipe exactly at ssthresh and nothing delivered beyond what was sent: sndcnt would be
    // 0, yet nothing has gone out in this recovery, so one segment may.
    let mut prr = Prr::start(10 * MSS, 20 * MSS);
    assert_eq!(prr.on_ack(0, 10 * MSS, 10 * MSS, MSS), MSS);
    prr.on_sent(MSS);
    assert_eq!(prr.on_ack(0, 10 * MSS, 10 * MSS, MSS), 0, "only the first");
}

// ---- Size: the controller lives in every connection ----

#[test]
fn the_default_controller_takes_56_bytes_in_a_connection() {
    // Window 32 (three 32-bit byte counts and HyStart++'s 20), CUBIC's SRTT, application-
    // limited stamp and avoidance pointer 24; NewReno fits within, BBR is boxed.
    assert!(size_of::<HyStart>() <= 20, "{}", size_of::<HyStart>());
    assert!(size_of::<Window>() <= 32, "{}", size_of::<Window>());
    assert!(size_of::<AnyCc>() <= 56, "{}", size_of::<AnyCc>());
}

#[test]
fn a_window_beyond_32_bits_saturates_and_a_restored_infinite_ssthresh_stays_infinite() {
    let mut w = Window::new(MSS);
    w.set_cwnd(usize::MAX);
    assert_eq!(w.cwnd(), u32::MAX as usize);
    w.grow(MSS);
    assert_eq!(w.cwnd(), u32::MAX as usize);
    w.set_ssthresh(1 << 40);
    assert_eq!(w.ssthresh(), u32::MAX as usize - 1, "finite stays finite");
    w.set_ssthresh(usize::MAX);
    assert_eq!(w.ssthresh(), usize::MAX);
}
