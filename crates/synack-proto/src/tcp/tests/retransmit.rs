//! Retransmission (RFC 9293 §3.8.1, RFC 6298, RFC 5681 §3.2 fast retransmit, Karn's rule).

use super::*;
use crate::tcp::error::Error;

/// Asserts `out` is exactly one SYN with seq = ISS, and returns it. (Its window field is
/// checked by `seed_step_1_syn_consumes_one_sequence_number`, not here.)
#[track_caller]
fn one_syn(out: Vec<Seg>) -> Seg {
    assert_eq!(out.len(), 1, "{out:?}");
    let syn = out.into_iter().next().unwrap();
    assert_eq!(
        (syn.seq, syn.flags, syn.options),
        (ISS, TcpFlags::SYN, syn_options())
    );
    syn
}

#[test]
fn rfc6298_5_syn_is_retransmitted_with_doubling_backoff_then_times_out() {
    let mut p = Peer::new(Connection::connect(cfg(), LOCAL, REMOTE, ISS));
    let first = one_syn(p.out());
    // Initial RTO 1 s (RFC 6298 §2.1), doubled each time (§5.5), capped at max_rto = 60 s.
    let expiries = [1, 3, 7, 15, 31, 63];
    assert_eq!(cfg().syn_retries as usize, expiries.len());
    for secs in expiries {
        let t = Instant::from_millis(secs * 1000);
        assert_eq!(p.c.poll_timeout(), Some(t));
        p.at(t - Duration::from_micros(1));
        p.expect_nothing();
        p.at(t);
        assert_eq!(
            p.out(),
            std::slice::from_ref(&first),
            "the identical SYN again at {secs} s"
        );
    }
    assert_eq!(p.c.stats().retransmits, 6);
    // The seventh expiry, 60 s (max_rto) later, gives up.
    let t = Instant::from_millis(123_000);
    assert_eq!(p.c.poll_timeout(), Some(t));
    p.at(t);
    p.state(State::Closed);
    assert_eq!(p.c.error(), Some(Error::TimedOut));
    p.expect_nothing();
    assert_eq!(p.c.poll_timeout(), None);
}

#[test]
fn rfc6298_5_syn_ack_is_retransmitted() {
    let mut p = syn_received_state();
    p.at(at(1000));
    p.expect(&[TcpRepr {
        seq: ISS,
        ack: IRS + 1,
        flags: TcpFlags::SYN | TcpFlags::ACK,
        options: syn_options(),
        ..ours()
    }]);
    assert_eq!(p.c.poll_timeout(), Some(at(3000)));
}

#[test]
fn rfc6298_5_4_data_is_retransmitted_with_identical_bytes() {
    let mut p = established_state();
    assert_eq!(p.c.rto(), ms(300), "SRTT 100 ms + 4 × RTTVAR 50 ms");
    let t0 = p.now;
    assert_eq!(p.c.send(b"hello"), Ok(5));
    let first = p.out();
    assert_eq!(p.c.poll_timeout(), Some(t0 + ms(300)));
    p.at(t0 + ms(299));
    p.expect_nothing();
    p.at(t0 + ms(300));
    assert_eq!(p.out(), first);
    // Backed off: 600 ms.
    assert_eq!(p.c.poll_timeout(), Some(t0 + ms(900)));
    p.at(t0 + ms(900));
    assert_eq!(p.out(), first);
    assert_eq!(p.c.stats().timeouts, 2);
    assert_eq!(p.c.stats().retransmits, 2);
}

#[test]
fn rfc6298_5_4_fin_is_retransmitted() {
    let mut p = fin_wait_1_state();
    let rto = p.c.rto();
    p.advance(rto);
    p.expect(&[TcpRepr {
        seq: ISS + 1,
        ack: IRS + 1,
        flags: TcpFlags::FIN | TcpFlags::ACK,
        ..ours()
    }]);
    p.state(State::FinWait1);
    assert_eq!(p.c.tcb().snd_nxt, ISS + 2);
}

#[test]
fn rfc6298_5_data_retransmission_gives_up_after_max_retries() {
    let mut p = established_with(Config {
        max_retries: 2,
        ..cfg()
    });
    assert_eq!(p.c.send(b"x"), Ok(1));
    let _ = p.out();
    for _ in 0..2 {
        let t = p.c.poll_timeout().unwrap();
        p.at(t);
        assert_eq!(p.out().len(), 1);
    }
    let t = p.c.poll_timeout().unwrap();
    p.at(t);
    p.state(State::Closed);
    assert_eq!(p.c.error(), Some(Error::TimedOut));
}

#[test]
fn rfc5681_3_2_three_duplicate_acks_fast_retransmit_the_head() {
    let mut p = established_state();
    let data = pattern(4 * 1460);
    assert_eq!(p.c.send(&data), Ok(data.len()));
    let sent = p.out();
    assert_eq!(sent.len(), 4);
    let dup = TcpRepr {
        seq: IRS + 1,
        ack: ISS + 1,
        ..peer()
    };
    p.send(dup);
    p.send(dup);
    p.expect_nothing();
    p.send(dup);
    p.expect(&[TcpRepr {
        seq: ISS + 1,
        ack: IRS + 1,
        payload: &data[..1460],
        ..ours()
    }]);
    assert_eq!(p.c.stats().fast_retransmits, 1);
    // The timer was not what sent it.
    assert_eq!(p.c.stats().timeouts, 0);
}

#[test]
fn rfc6298_2_rtt_sample_updates_srtt() {
    // The handshake: SYN at 0, SYN,ACK at 100 ms.
    let mut p = established_state();
    assert_eq!(p.c.srtt(), Some(ms(100)));
    assert_eq!(p.c.send(b"x"), Ok(1));
    let _ = p.out();
    p.advance(ms(50));
    p.send(TcpRepr {
        seq: IRS + 1,
        ack: ISS + 2,
        ..peer()
    });
    // SRTT = 7/8 × 100 + 1/8 × 50 = 93.75 ms.
    assert_eq!(p.c.srtt(), Some(Duration::from_micros(93_750)));
}

#[test]
fn karn_no_sample_from_a_retransmitted_syn() {
    let mut p = syn_sent_state();
    p.at(at(1000));
    one_syn(p.out());
    p.at(at(1050));
    p.send(TcpRepr {
        seq: IRS,
        ack: ISS + 1,
        flags: TcpFlags::SYN | TcpFlags::ACK,
        options: syn_options(),
        ..peer()
    });
    p.state(State::Established);
    assert_eq!(p.c.srtt(), None, "ambiguous: the ACK may be for either SYN");
}

#[test]
fn karn_no_sample_from_retransmitted_data() {
    let mut p = established_state();
    assert_eq!(p.c.send(b"x"), Ok(1));
    let _ = p.out();
    p.advance(ms(300));
    assert_eq!(p.out().len(), 1, "retransmitted");
    p.advance(ms(20));
    p.send(TcpRepr {
        seq: IRS + 1,
        ack: ISS + 2,
        ..peer()
    });
    assert_eq!(p.c.srtt(), Some(ms(100)), "unchanged by the ambiguous ACK");
    // All acknowledged: no loss timer, only the reclaim of the empty send buffer.
    assert_eq!(p.c.poll_timeout(), Some(p.now + RECLAIM_IDLE));
}

#[test]
fn the_retry_count_saturates_at_255_which_exceeds_every_limit() {
    use crate::tcp::connection::Retransmit;
    let mut r = Retransmit::default();
    assert_eq!(r.rtt_probe(), None, "nothing timed at first");
    r.retries = 15;
    assert!(!r.retries_exceed(15) && r.retries_exceed(14));
    r.retries = r.retries.saturating_add(u8::MAX);
    assert_eq!(r.retries, u8::MAX);
    assert!(r.retries_exceed(1000), "a limit above 254 acts as 254");
    assert!(!Retransmit::default().retries_exceed(1000));
}
