//! Closing: the teardown's steps (FIN, ACK, FIN, ACK; half-close and TIME-WAIT) and the
//! §3.3.2 transitions through FIN-WAIT-1/2, CLOSING, CLOSE-WAIT, LAST-ACK and TIME-WAIT
//! (RFC 9293 §3.6, §3.10.4, §3.10.7.4 step eight, RFC 1337).

use super::*;

/// Two-MSL with [`cfg`]'s one-second MSL.
const TWO_MSL: Duration = Duration::from_secs(2);

#[test]
fn seed_steps_4_to_7_between_two_connections() {
    let mut pair = Pair::new(cfg(), cfg());
    pair.exchange();
    assert_eq!(
        (pair.a.state(), pair.b.state()),
        (State::Established, State::Established)
    );
    let u = ISS + 1;
    let y = IRS;

    // Step 4: A closes: <SEQ=u><CTL=FIN,ACK> → FIN-WAIT-1.
    pair.a.close();
    assert_eq!(pair.a.state(), State::FinWait1);
    let fin = pair.a_out();
    assert_eq!(
        fin,
        [Seg::from(TcpRepr {
            seq: u,
            ack: y + 1,
            flags: TcpFlags::FIN | TcpFlags::ACK,
            ..ours()
        })]
    );
    // Step 5: B acknowledges <ACK=u+1> → CLOSE-WAIT; A → FIN-WAIT-2.
    pair.deliver_b(&fin);
    assert_eq!(pair.b.state(), State::CloseWait);
    let ack = pair.b_out();
    let b_tmpl = TcpRepr {
        src_port: 80,
        dst_port: 49152,
        ..ours()
    };
    assert_eq!(
        ack,
        [Seg::from(TcpRepr {
            seq: y + 1,
            ack: u + 1,
            window: WND_AFTER_FIN,
            ..b_tmpl
        })]
    );
    pair.deliver_a(&ack);
    assert_eq!(pair.a.state(), State::FinWait2);
    let mut buf = [0u8; 8];
    assert_eq!(pair.b.recv(&mut buf), Ok(0), "B reads end of stream");

    // Step 6: the CLOSE-WAIT side still sends; the FIN-WAIT-2 side receives and acknowledges.
    assert_eq!(pair.b.send(b"late"), Ok(4));
    let data = pair.b_out();
    assert_eq!(
        data,
        [Seg::from(TcpRepr {
            seq: y + 1,
            ack: u + 1,
            flags: TcpFlags::PSH | TcpFlags::ACK,
            payload: b"late",
            window: WND_AFTER_FIN,
            ..b_tmpl
        })]
    );
    pair.deliver_a(&data);
    assert_eq!(read_all(&mut pair.a), b"late");
    // One segment: a delayed ACK, sent when its timer fires.
    assert!(pair.a_out().is_empty());
    assert!(pair.next_timer());
    let data_ack = pair.a_out();
    assert_eq!(
        data_ack,
        [Seg::from(TcpRepr {
            seq: u + 1,
            ack: y + 5,
            window: RCV_BUF as u16 - 4,
            ..ours()
        })]
    );
    pair.deliver_b(&data_ack);
    assert_eq!(pair.b.tcb().snd_una, y + 5);

    // Step 7: B closes: <SEQ=w><ACK=u+1><CTL=FIN,ACK> → LAST-ACK.
    let w = y + 5;
    pair.b.close();
    assert_eq!(pair.b.state(), State::LastAck);
    let fin_b = pair.b_out();
    assert_eq!(
        fin_b,
        [Seg::from(TcpRepr {
            seq: w,
            ack: u + 1,
            flags: TcpFlags::FIN | TcpFlags::ACK,
            window: WND_AFTER_FIN,
            ..b_tmpl
        })]
    );
    pair.deliver_a(&fin_b);
    // A: <SEQ=u+1><ACK=w+1><CTL=ACK> → TIME-WAIT; B → CLOSED.
    assert_eq!(pair.a.state(), State::TimeWait);
    let last = pair.a_out();
    assert_eq!(
        last,
        [Seg::from(TcpRepr {
            seq: u + 1,
            ack: w + 1,
            window: RCV_BUF as u16 - 5,
            ..ours()
        })]
    );
    pair.deliver_b(&last);
    assert_eq!(pair.b.state(), State::Closed);
    assert_eq!(pair.b.error(), None);
    assert!(pair.b.is_closed());
    // And A leaves TIME-WAIT after 2×MSL.
    let entered = pair.now;
    assert_eq!(pair.a.poll_timeout(), Some(entered + TWO_MSL));
    assert!(pair.next_timer());
    assert_eq!(pair.a.state(), State::Closed);
    assert_eq!(pair.a.error(), None);
}

#[test]
fn seed_step_4_fin_seq_u() {
    // ESTABLISHED → FIN-WAIT-1 with <SEQ=u><ACK=RCV.NXT><CTL=FIN,ACK>; u = SND.NXT.
    let p = fin_wait_1_state();
    assert_eq!(
        p.c.tcb().snd_nxt,
        ISS + 2,
        "the FIN takes one sequence number"
    );
    assert_eq!(p.c.poll_timeout(), Some(p.now + p.c.rto()), "FIN is timed");
}

#[test]
fn seed_step_5_ack_of_fin_is_u_plus_1() {
    // ESTABLISHED → CLOSE-WAIT: <ACK=u+1>, at once (not delayed).
    let mut p = close_wait_state();
    assert_eq!(p.c.tcb().rcv_nxt, IRS + 2);
    let mut buf = [0u8; 4];
    assert_eq!(p.c.recv(&mut buf), Ok(0));
    p.expect_nothing();
}

#[test]
fn seed_step_6_close_wait_side_still_sends() {
    let mut p = close_wait_state();
    assert_eq!(p.c.send(b"more"), Ok(4));
    p.expect(&[TcpRepr {
        seq: ISS + 1,
        ack: IRS + 2,
        flags: TcpFlags::PSH | TcpFlags::ACK,
        payload: b"more",
        window: WND_AFTER_FIN,
        ..ours()
    }]);
}

#[test]
fn seed_step_6_fin_wait_2_side_receives_and_acknowledges() {
    let mut p = fin_wait_2_state();
    p.send(peer_data(IRS + 1, ISS + 2, b"more"));
    p.state(State::FinWait2);
    p.expect_nothing();
    p.advance(ms(40));
    p.expect(&[TcpRepr {
        seq: ISS + 2,
        ack: IRS + 5,
        window: RCV_BUF as u16 - 4,
        ..ours()
    }]);
    assert_eq!(read_all(&mut p.c), b"more");
}

#[test]
fn seed_step_7_last_ack_then_closed() {
    // CLOSE-WAIT → LAST-ACK (FIN <SEQ=w><ACK=u+1>) → CLOSED on <ACK=w+1>.
    let mut p = last_ack_state();
    p.send(TcpRepr {
        seq: IRS + 2,
        ack: ISS + 2,
        ..peer()
    });
    p.state(State::Closed);
    p.expect_nothing();
    assert_eq!(p.c.error(), None);
    assert_eq!(p.c.poll_timeout(), None);
}

#[test]
fn rfc9293_3_10_7_4_fin_wait_1_ack_of_fin_enters_fin_wait_2() {
    let p = fin_wait_2_state();
    assert_eq!(p.c.tcb().snd_una, ISS + 2);
    assert_eq!(
        p.c.poll_timeout(),
        None,
        "FIN acknowledged: no retransmission timer"
    );
}

#[test]
fn rfc9293_3_10_7_4_fin_wait_1_fin_enters_closing_then_time_wait() {
    // Simultaneous close: FIN-WAIT-1 + FIN (our FIN not acked) → CLOSING; ACK of our FIN → TIME-WAIT.
    let mut p = closing_state();
    p.send(TcpRepr {
        seq: IRS + 2,
        ack: ISS + 2,
        ..peer()
    });
    p.state(State::TimeWait);
    p.expect_nothing();
    assert_eq!(p.c.poll_timeout(), Some(p.now + TWO_MSL));
}

#[test]
fn rfc9293_3_5_simultaneous_close_between_two_connections() {
    let mut pair = Pair::new(cfg(), cfg());
    pair.exchange();
    pair.a.close();
    pair.b.close();
    let fin_a = pair.a_out();
    let fin_b = pair.b_out();
    pair.deliver_b(&fin_a);
    pair.deliver_a(&fin_b);
    assert_eq!(
        (pair.a.state(), pair.b.state()),
        (State::Closing, State::Closing)
    );
    pair.exchange();
    assert_eq!(
        (pair.a.state(), pair.b.state()),
        (State::TimeWait, State::TimeWait)
    );
    assert!(pair.next_timer());
    assert_eq!(
        (pair.a.state(), pair.b.state()),
        (State::Closed, State::Closed)
    );
}

#[test]
fn rfc9293_3_10_7_4_fin_wait_1_fin_ack_together_enters_time_wait() {
    let mut p = fin_wait_1_state();
    p.send(TcpRepr {
        seq: IRS + 1,
        ack: ISS + 2,
        flags: TcpFlags::FIN | TcpFlags::ACK,
        ..peer()
    });
    p.state(State::TimeWait);
    p.expect(&[TcpRepr {
        seq: ISS + 2,
        ack: IRS + 2,
        window: WND_AFTER_FIN,
        ..ours()
    }]);
    assert_eq!(p.c.poll_timeout(), Some(p.now + TWO_MSL));
}

#[test]
fn rfc9293_3_10_7_4_fin_wait_2_fin_enters_time_wait() {
    let p = time_wait_state();
    assert_eq!(p.c.tcb().rcv_nxt, IRS + 2);
    assert_eq!(p.c.poll_timeout(), Some(p.now + TWO_MSL));
}

#[test]
fn rfc9293_3_10_7_4_established_fin_enters_close_wait() {
    let p = close_wait_state();
    assert!(p.c.is_recv_finished());
    assert_eq!(p.c.poll_timeout(), None);
}

#[test]
fn rfc9293_3_10_4_close_wait_close_enters_last_ack() {
    let mut p = last_ack_state();
    assert_eq!(p.c.tcb().snd_nxt, ISS + 2);
    assert_eq!(p.c.send(b"x"), Err(crate::tcp::Error::Closing));
}

#[test]
fn rfc9293_3_3_2_time_wait_closes_after_exactly_two_msl() {
    let mut p = time_wait_state();
    let entered = p.now;
    p.at(entered + TWO_MSL - Duration::from_micros(1));
    p.state(State::TimeWait);
    p.at(entered + TWO_MSL);
    p.state(State::Closed);
    p.expect_nothing();
    assert_eq!(p.c.error(), None);
    assert_eq!(p.c.poll_timeout(), None);
}

#[test]
fn rfc9293_3_10_7_4_time_wait_reacks_retransmitted_fin_and_restarts_2msl() {
    // "TIME-WAIT STATE: Remain in the TIME-WAIT state. Restart the 2 MSL time-wait timeout."
    let mut p = time_wait_state();
    p.advance(ms(1500));
    p.send(TcpRepr {
        seq: IRS + 1,
        ack: ISS + 2,
        flags: TcpFlags::FIN | TcpFlags::ACK,
        ..peer()
    });
    p.state(State::TimeWait);
    p.expect(&[TcpRepr {
        seq: ISS + 2,
        ack: IRS + 2,
        window: WND_AFTER_FIN,
        ..ours()
    }]);
    let restarted = p.now;
    assert_eq!(p.c.poll_timeout(), Some(restarted + TWO_MSL));
    p.at(restarted + TWO_MSL - ms(1));
    p.state(State::TimeWait);
    p.at(restarted + TWO_MSL);
    p.state(State::Closed);
}

#[test]
fn rfc1337_time_wait_ignores_rst() {
    let mut p = time_wait_state();
    let deadline = p.c.poll_timeout();
    p.send(TcpRepr {
        seq: IRS + 2,
        ack: ISS + 2,
        flags: TcpFlags::RST | TcpFlags::ACK,
        ..peer()
    });
    p.state(State::TimeWait);
    p.expect_nothing();
    assert_eq!(
        p.c.poll_timeout(),
        deadline,
        "the 2MSL timer is not cut short"
    );
    assert_eq!(p.c.error(), None);
}

#[test]
fn rfc9293_3_10_7_4_closing_and_last_ack_retransmit_fin_on_rto() {
    for (name, mut p) in [("closing", closing_state()), ("last-ack", last_ack_state())] {
        let rto = p.c.rto();
        let ack = p.c.tcb().rcv_nxt;
        p.advance(rto);
        assert_eq!(
            p.out(),
            [Seg::from(TcpRepr {
                seq: ISS + 1,
                ack,
                flags: TcpFlags::FIN | TcpFlags::ACK,
                window: WND_AFTER_FIN,
                ..ours()
            })],
            "{name}"
        );
    }
}

#[test]
fn rfc2525_2_17_new_data_at_a_released_fin_wait_2_connection_draws_a_rst() {
    let mut p = fin_wait_2_state();
    p.c.set_orphaned();
    p.send(peer_data(IRS + 1, ISS + 2, b"nobody reads this"));
    p.expect(&[TcpRepr {
        seq: ISS + 2,
        flags: TcpFlags::RST,
        window: 0,
        ..ours()
    }]);
    p.state(State::Closed);
    assert_eq!(p.c.error(), Some(crate::tcp::Error::Aborted));
    assert_eq!(p.c.stats().aborts_on_data, 1);
}

#[test]
fn rfc9293_3_10_7_4_a_half_closed_fin_wait_2_connection_still_takes_data() {
    let mut p = fin_wait_2_state();
    p.send(peer_data(IRS + 1, ISS + 2, b"still read"));
    p.state(State::FinWait2);
    assert_eq!(read_all(&mut p.c), b"still read");
    assert_eq!(p.c.stats().aborts_on_data, 0);
}
