//! RFC 5681 §3.2 fast retransmit, RFC 6582 NewReno recovery and RFC 6937 PRR on a real
//! connection: which segments go out on each duplicate and partial ACK, and the window after.

use super::*;
use crate::tcp::cc::CcAlgorithm;

const SEG: usize = MSS as usize;

/// ESTABLISHED with `alg`, the peer's window opened to 65535, and 20 segments queued of which
/// the initial window (10) is in flight.
fn ten_in_flight(alg: CcAlgorithm) -> (Peer, Vec<u8>) {
    let mut p = established_with(Config {
        congestion_control: alg,
        send_buffer: 64 * 1024,
        ..cfg()
    });
    p.send(TcpRepr {
        seq: IRS + 1,
        ack: ISS + 1,
        window: u16::MAX,
        ..peer()
    });
    let data = pattern(20 * SEG);
    assert_eq!(p.c.send(&data), Ok(data.len()));
    let out = p.out();
    assert_eq!(out.len(), 10, "RFC 6928: ten segments");
    (p, data)
}

fn dupack() -> TcpRepr<'static> {
    TcpRepr {
        seq: IRS + 1,
        ack: ISS + 1,
        window: u16::MAX,
        ..peer()
    }
}

/// Our data segment number `n` (0-based).
fn data_seg(data: &[u8], n: usize) -> TcpRepr<'_> {
    TcpRepr {
        seq: ISS + 1 + n * SEG,
        ack: IRS + 1,
        payload: &data[n * SEG..(n + 1) * SEG],
        ..ours()
    }
}

#[test]
fn rfc6937_cubic_recovery_retransmits_then_sends_one_segment_per_dupack() {
    let (mut p, data) = ten_in_flight(CcAlgorithm::Cubic);
    p.send(dupack());
    p.send(dupack());
    p.expect_nothing();
    // Third: ssthresh = 0.7 · 14600 = 10220. pipe = 10 − 3 delivered − 1 lost = 6 segments,
    // below ssthresh, so PRR-SSRB allows one: the fast retransmission.
    p.send(dupack());
    p.expect(&[data_seg(&data, 0)]);
    assert!(p.c.in_recovery());
    assert_eq!(p.c.ssthresh(), 10_220);
    assert_eq!(p.c.cwnd(), 10_220, "pipe 8760 + sndcnt 1460");
    // Each further dupack: one delivered, one new segment out (packet conservation).
    p.send(dupack());
    p.expect(&[data_seg(&data, 10)]);
    p.send(dupack());
    p.expect(&[data_seg(&data, 11)]);
    // The full ACK of everything before recovery began: cwnd = ssthresh (RFC 6937 §3).
    p.send(TcpRepr {
        ack: ISS + 1 + 10 * SEG,
        ..dupack()
    });
    assert!(!p.c.in_recovery());
    assert_eq!(p.c.cwnd(), 10_220);
    assert_eq!(p.c.stats().fast_retransmits, 1);
    assert_eq!(p.c.cc_name(), "cubic");
}

#[test]
fn rfc6937_newreno_recovery_halves_the_sending_rate() {
    let (mut p, data) = ten_in_flight(CcAlgorithm::NewReno);
    p.send(dupack());
    p.send(dupack());
    p.send(dupack());
    // ssthresh = 7300; pipe 6 segments is above it: proportional reduction,
    // sndcnt = ⌈1 · 5/10⌉ = 1 segment, the retransmission.
    p.expect(&[data_seg(&data, 0)]);
    assert_eq!(p.c.ssthresh(), 7_300);
    // ⌈2 · 5/10⌉ − 1 = 0.
    p.send(dupack());
    p.expect_nothing();
    // pipe = 5 segments = ssthresh: nothing to catch up.
    p.send(dupack());
    p.expect_nothing();
    // pipe = 4 segments: one more to reach ssthresh.
    p.send(dupack());
    p.expect(&[data_seg(&data, 10)]);
    assert_eq!(p.c.cc_name(), "newreno");
}

#[test]
fn rfc6582_partial_ack_retransmits_the_next_hole_at_once() {
    let (mut p, data) = ten_in_flight(CcAlgorithm::Cubic);
    for _ in 0..3 {
        p.send(dupack());
    }
    p.expect(&[data_seg(&data, 0)]);
    // The retransmission filled the first hole; the receiver still lacks segment 3.
    p.send(TcpRepr {
        ack: ISS + 1 + 3 * SEG,
        ..dupack()
    });
    let out = p.out();
    assert_eq!(out.first(), Some(&Seg::from(data_seg(&data, 3))), "{out:?}");
    assert!(p.c.in_recovery(), "still short of `recover`");
    assert_eq!(
        p.c.stats().fast_retransmits,
        1,
        "a partial ACK is no new event"
    );
}

#[test]
fn rfc5681_3_1_timeout_in_recovery_ends_it_with_a_one_segment_window() {
    let (mut p, data) = ten_in_flight(CcAlgorithm::Cubic);
    for _ in 0..3 {
        p.send(dupack());
    }
    p.expect(&[data_seg(&data, 0)]);
    let t = p.c.poll_timeout().unwrap();
    p.at(t);
    p.expect(&[data_seg(&data, 0)]);
    assert!(!p.c.in_recovery());
    assert_eq!(p.c.cwnd(), SEG);
    assert_eq!(p.c.ssthresh(), 10_220, "already reduced by the recovery");
}

#[test]
fn rfc6582_4_only_the_first_partial_ack_restarts_the_retransmission_timer() {
    let (mut p, data) = ten_in_flight(CcAlgorithm::Cubic);
    for _ in 0..3 {
        p.send(dupack());
    }
    p.expect(&[data_seg(&data, 0)]);
    p.advance(ms(10));
    p.send(TcpRepr {
        ack: ISS + 1 + 3 * SEG,
        ..dupack()
    });
    let _ = p.out();
    let deadline = p.c.poll_timeout().unwrap();
    assert_eq!(
        deadline,
        p.now + p.c.rto(),
        "the first partial ACK restarts it"
    );
    p.advance(ms(10));
    p.send(TcpRepr {
        ack: ISS + 1 + 5 * SEG,
        ..dupack()
    });
    let _ = p.out();
    assert_eq!(
        p.c.poll_timeout(),
        Some(deadline),
        "Impatient: later ones do not"
    );
    // So a window with many holes ends in a timeout rather than one repair per round trip.
    p.at(deadline);
    assert_eq!(p.c.stats().timeouts, 1);
    assert!(!p.c.in_recovery());
}
