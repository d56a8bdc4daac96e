//! Opening: the handshake's three steps (SYN seq=x; SYN,ACK seq=y ack=x+1; ACK), and the
//! §3.3.2 transitions out of CLOSED, LISTEN, SYN-SENT and SYN-RECEIVED (RFC 9293 §3.5,
//! §3.10.1, §3.10.7.2, §3.10.7.3).

use super::*;

fn syn_from_us() -> TcpRepr<'static> {
    TcpRepr {
        seq: ISS,
        ack: SeqNum::new(0),
        flags: TcpFlags::SYN,
        options: syn_options(),
        ..ours()
    }
}

fn syn_ack_from_us() -> TcpRepr<'static> {
    TcpRepr {
        seq: ISS,
        ack: IRS + 1,
        flags: TcpFlags::SYN | TcpFlags::ACK,
        options: syn_options(),
        ..ours()
    }
}

fn syn_from_peer() -> TcpRepr<'static> {
    TcpRepr {
        seq: IRS,
        ack: SeqNum::new(0),
        flags: TcpFlags::SYN,
        options: syn_options(),
        ..peer()
    }
}

fn syn_ack_from_peer() -> TcpRepr<'static> {
    TcpRepr {
        seq: IRS,
        ack: ISS + 1,
        flags: TcpFlags::SYN | TcpFlags::ACK,
        options: syn_options(),
        ..peer()
    }
}

#[test]
fn seed_step_1_syn_consumes_one_sequence_number() {
    // CLOSED → SYN-SENT: <SEQ=x><CTL=SYN>, advertising the whole receive buffer.
    let mut p = Peer::new(Connection::connect(cfg(), LOCAL, REMOTE, ISS));
    p.state(State::SynSent);
    p.expect(&[syn_from_us()]);
    let tcb = *p.c.tcb();
    assert_eq!((tcb.iss, tcb.snd_una, tcb.snd_nxt), (ISS, ISS, ISS + 1));
}

#[test]
fn seed_step_2_syn_ack_acknowledges_x_plus_1() {
    // LISTEN → SYN-RECEIVED: <SEQ=y><ACK=x+1><CTL=SYN,ACK> (here we are the listener: our
    // ISS answers the peer's IRS).
    let mut p = listen_state();
    p.send(syn_from_peer());
    p.state(State::SynReceived);
    p.expect(&[syn_ack_from_us()]);
    let tcb = *p.c.tcb();
    assert_eq!((tcb.irs, tcb.rcv_nxt), (IRS, IRS + 1));
    assert_eq!((tcb.snd_una, tcb.snd_nxt), (ISS, ISS + 1));
}

#[test]
fn seed_step_3_ack_completes_and_may_carry_data_active_side() {
    // Data queued in SYN-SENT rides on the handshake's final ACK: <SEQ=x+1><ACK=y+1>.
    let mut p = syn_sent_state();
    assert_eq!(p.c.send(b"hello"), Ok(5));
    p.expect_nothing();
    p.send(syn_ack_from_peer());
    p.state(State::Established);
    p.expect(&[TcpRepr {
        seq: ISS + 1,
        ack: IRS + 1,
        flags: TcpFlags::PSH | TcpFlags::ACK,
        payload: b"hello",
        ..ours()
    }]);
}

#[test]
fn seed_step_3_ack_completes_and_may_carry_data_passive_side() {
    // SYN-RECEIVED → ESTABLISHED on <SEQ=x+1><ACK=y+1> carrying text: the text is queued.
    let mut p = syn_received_state();
    p.send(TcpRepr {
        seq: IRS + 1,
        ack: ISS + 1,
        payload: b"hello",
        ..peer()
    });
    p.state(State::Established);
    assert_eq!(p.c.tcb().rcv_nxt, IRS + 6);
    assert_eq!(read_all(&mut p.c), b"hello");
}

#[test]
fn seed_steps_1_to_3_between_two_connections() {
    let mut pair = Pair::new(cfg(), cfg());
    let syn = pair.a_out();
    assert_eq!(syn, [Seg::from(syn_from_us())]);
    pair.deliver_b(&syn);
    assert_eq!(pair.b.state(), State::SynReceived);
    let syn_ack = pair.b_out();
    assert_eq!(
        syn_ack,
        [Seg::from(TcpRepr {
            src_port: 80,
            dst_port: 49152,
            seq: IRS,
            ack: ISS + 1,
            flags: TcpFlags::SYN | TcpFlags::ACK,
            options: syn_options(),
            ..ours()
        })]
    );
    pair.deliver_a(&syn_ack);
    assert_eq!(pair.a.state(), State::Established);
    let ack = pair.a_out();
    assert_eq!(
        ack,
        [Seg::from(TcpRepr {
            seq: ISS + 1,
            ack: IRS + 1,
            ..ours()
        })]
    );
    pair.deliver_b(&ack);
    assert_eq!(pair.b.state(), State::Established);
    assert!(pair.b_out().is_empty());
    assert_eq!(
        pair.b.tcb().snd_wnd as usize,
        RCV_BUF,
        "B learns A's window from the ACK"
    );
    assert_eq!(
        pair.a.tcb().snd_wnd as usize,
        RCV_BUF,
        "A learns B's window from the SYN,ACK"
    );
}

#[test]
fn rfc9293_3_10_1_closed_open_active_enters_syn_sent() {
    let p = syn_sent_state();
    assert_eq!(p.c.error(), None);
    assert_eq!(
        p.c.poll_timeout(),
        Some(at(1000)),
        "SYN timer = initial RTO"
    );
}

#[test]
fn rfc9293_3_10_7_2_listen_syn_enters_syn_received() {
    // Table: what LISTEN does with each kind of segment.
    let cases: [(&str, TcpRepr<'static>, State, Vec<Seg>); 5] = [
        (
            "syn",
            syn_from_peer(),
            State::SynReceived,
            vec![syn_ack_from_us().into()],
        ),
        (
            "rst is ignored",
            TcpRepr {
                seq: IRS,
                flags: TcpFlags::RST,
                ..peer()
            },
            State::Listen,
            vec![],
        ),
        (
            "ack gets <SEQ=SEG.ACK><CTL=RST>",
            TcpRepr {
                seq: IRS,
                ack: ISS + 77,
                ..peer()
            },
            State::Listen,
            vec![
                TcpRepr {
                    seq: ISS + 77,
                    ack: SeqNum::new(0),
                    flags: TcpFlags::RST,
                    window: 0,
                    ..ours()
                }
                .into(),
            ],
        ),
        (
            "bare text is dropped",
            TcpRepr {
                seq: IRS,
                flags: TcpFlags::PSH,
                payload: b"x",
                ..peer()
            },
            State::Listen,
            vec![],
        ),
        (
            "syn,fin is dropped (Linux, FreeBSD)",
            TcpRepr {
                seq: IRS,
                flags: TcpFlags::SYN | TcpFlags::FIN,
                options: syn_options(),
                ..peer()
            },
            State::Listen,
            vec![],
        ),
    ];
    for (name, seg, state, out) in cases {
        let mut p = listen_state();
        p.send(seg);
        assert_eq!(p.out(), out, "{name}");
        assert_eq!(p.c.state(), state, "{name}");
    }
}

#[test]
fn rfc9293_3_10_7_3_syn_sent_syn_ack_establishes() {
    let mut p = syn_sent_state();
    p.at(at(100));
    p.send(syn_ack_from_peer());
    p.state(State::Established);
    p.expect(&[TcpRepr {
        seq: ISS + 1,
        ack: IRS + 1,
        ..ours()
    }]);
    let tcb = *p.c.tcb();
    assert_eq!((tcb.snd_una, tcb.snd_nxt), (ISS + 1, ISS + 1));
    assert_eq!((tcb.irs, tcb.rcv_nxt), (IRS, IRS + 1));
    assert_eq!(tcb.snd_wnd, u32::from(PEER_WND));
    assert_eq!(tcb.send_mss, u32::from(MSS));
    assert_eq!(p.c.poll_timeout(), None, "nothing outstanding, no timer");
}

#[test]
fn rfc9293_3_10_7_3_syn_sent_syn_without_ack_enters_syn_received() {
    // Simultaneous open, one side: SYN-SENT + SYN → SYN-RECEIVED, SYN,ACK <SEQ=ISS><ACK=RCV.NXT>.
    let mut p = syn_sent_state();
    p.send(syn_from_peer());
    p.state(State::SynReceived);
    p.expect(&[syn_ack_from_us()]);
}

#[test]
fn rfc9293_3_5_figure_8_simultaneous_open_syn_ack_establishes() {
    // Figure 8 line 6: SYN-RECEIVED receives <SEQ=300><ACK=101><CTL=SYN,ACK> → ESTABLISHED.
    let mut p = syn_sent_state();
    p.send(syn_from_peer());
    p.expect(&[syn_ack_from_us()]);
    p.send(syn_ack_from_peer());
    p.state(State::Established);
    let out = p.out();
    let ack = Seg::from(TcpRepr {
        seq: ISS + 1,
        ack: IRS + 1,
        ..ours()
    });
    assert!(out.is_empty() || out == [ack], "at most an ACK: {out:?}");
}

#[test]
fn rfc9293_3_5_simultaneous_open_between_two_connections() {
    let mut a = Connection::connect(cfg(), LOCAL, REMOTE, ISS);
    let mut b = Connection::connect(cfg(), REMOTE, LOCAL, IRS);
    let now = Instant::ZERO;
    let syn_a = drain(&mut a, now);
    let syn_b = drain(&mut b, now);
    // The SYNs cross.
    for s in &syn_b {
        let _ = a.handle_segment(now, &s.repr(), u32::MAX);
    }
    for s in &syn_a {
        let _ = b.handle_segment(now, &s.repr(), u32::MAX);
    }
    assert_eq!(
        (a.state(), b.state()),
        (State::SynReceived, State::SynReceived)
    );
    for _ in 0..10 {
        let from_a = drain(&mut a, now);
        let from_b = drain(&mut b, now);
        for s in &from_b {
            let _ = a.handle_segment(now, &s.repr(), u32::MAX);
        }
        for s in &from_a {
            let _ = b.handle_segment(now, &s.repr(), u32::MAX);
        }
    }
    assert_eq!(
        (a.state(), b.state()),
        (State::Established, State::Established)
    );
    assert_eq!((a.tcb().snd_una, a.tcb().rcv_nxt), (ISS + 1, IRS + 1));
    assert_eq!((b.tcb().snd_una, b.tcb().rcv_nxt), (IRS + 1, ISS + 1));
}

#[test]
fn rfc9293_3_10_7_4_syn_received_ack_establishes() {
    let mut p = syn_received_state();
    p.send(TcpRepr {
        seq: IRS + 1,
        ack: ISS + 1,
        ..peer()
    });
    p.state(State::Established);
    p.expect_nothing();
    let tcb = *p.c.tcb();
    assert_eq!((tcb.snd_una, tcb.snd_wnd), (ISS + 1, u32::from(PEER_WND)));
    assert_eq!(p.c.poll_timeout(), None);
}

#[test]
fn rfc9293_3_10_7_4_syn_received_unacceptable_ack_gets_rst() {
    // "If the segment acknowledgment is not acceptable, form a reset segment <SEQ=SEG.ACK><CTL=RST>."
    let mut p = syn_received_state();
    p.send(TcpRepr {
        seq: IRS + 1,
        ack: ISS + 5,
        ..peer()
    });
    p.state(State::SynReceived);
    p.expect(&[TcpRepr {
        seq: ISS + 5,
        ack: SeqNum::new(0),
        flags: TcpFlags::RST,
        window: 0,
        ..ours()
    }]);
}

#[test]
fn rfc9293_3_10_7_4_syn_received_retransmitted_syn_gets_syn_ack_again() {
    let mut p = syn_received_state();
    p.send(syn_from_peer());
    p.state(State::SynReceived);
    p.expect(&[syn_ack_from_us()]);
}

#[test]
fn rfc9293_3_10_4_syn_received_close_enters_fin_wait_1() {
    // "SYN-RECEIVED: If no SENDs have been issued and there is no pending data to send, then
    // form a FIN segment and send it, and enter FIN-WAIT-1 state."
    let mut p = syn_received_state();
    p.c.close();
    p.state(State::FinWait1);
    p.expect(&[TcpRepr {
        seq: ISS + 1,
        ack: IRS + 1,
        flags: TcpFlags::FIN | TcpFlags::ACK,
        ..ours()
    }]);
    // The peer's ACK of SYN and FIN together → FIN-WAIT-2.
    p.send(TcpRepr {
        seq: IRS + 1,
        ack: ISS + 2,
        ..peer()
    });
    p.state(State::FinWait2);
}

#[test]
fn rfc9293_3_10_4_syn_received_close_still_retransmits_syn_ack() {
    // Our SYN,ACK is lost; after CLOSE the retransmission from SND.UNA = ISS must still be the
    // SYN,ACK (a FIN without SYN at ISS would be nonsense to the peer).
    let mut p = syn_received_state();
    p.c.close();
    let _fin = p.out();
    p.at(at(1000));
    let out = p.out();
    assert!(
        !out.is_empty(),
        "something is retransmitted at the initial RTO"
    );
    assert_eq!(out[0], Seg::from(syn_ack_from_us()));
}

#[test]
fn rfc9293_3_10_4_listen_close_enters_closed() {
    let mut p = listen_state();
    p.c.close();
    p.state(State::Closed);
    p.expect_nothing();
    assert!(p.c.is_closed());
}

#[test]
fn rfc9293_3_10_4_syn_sent_close_enters_closed() {
    let mut p = syn_sent_state();
    p.c.close();
    p.state(State::Closed);
    p.expect_nothing();
    assert_eq!(p.c.poll_timeout(), None, "the SYN timer is gone");
    let mut p = closed_state();
    p.at(at(5000));
    p.expect_nothing();
}

#[test]
fn fuzz_regression_syn_ack_acking_syn_and_fin_in_syn_received_close_reaches_fin_wait_2() {
    // Found by the connection_segments fuzz target: after a CLOSE in SYN-RECEIVED the FIN goes
    // out at ISS+1; a SYN,ACK repeating the peer's SYN and acknowledging both (ACK = ISS+2) must
    // move us to FIN-WAIT-2 with the FIN acknowledged, not leave FIN-WAIT-1 with SND.UNA past it.
    let mut p = syn_received_state();
    p.c.close();
    p.state(State::FinWait1);
    let _ = p.out();
    p.send(TcpRepr {
        seq: IRS,
        ack: ISS + 2,
        flags: TcpFlags::SYN | TcpFlags::ACK,
        ..peer()
    });
    p.state(State::FinWait2);
    assert_eq!(p.c.tcb().snd_una, ISS + 2);
    assert_eq!(p.c.send_queue(), 0);
}

#[test]
fn syn_fin_in_syn_sent_is_dropped_not_taken_as_a_simultaneous_open() {
    let mut p = syn_sent_state();
    p.send(TcpRepr {
        seq: IRS,
        flags: TcpFlags::SYN | TcpFlags::FIN,
        options: syn_options(),
        ..peer()
    });
    p.expect_nothing();
    p.state(State::SynSent);
}
