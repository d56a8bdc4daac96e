//! Resets: §3.10.7.1 (no connection), §3.10.7.2–3 (LISTEN, SYN-SENT), RFC 5961 §3–§5
//! (blind RST, SYN and data injection) and ABORT (§3.10.5).

use super::*;
use crate::tcp::error::Error;
use crate::tcp::reset::{self, Reset};

/// Builds a connection in some state.
type Make = fn() -> Peer;

fn rst_from_us(seq: SeqNum) -> TcpRepr<'static> {
    TcpRepr {
        seq,
        ack: SeqNum::new(0),
        flags: TcpFlags::RST,
        window: 0,
        ..ours()
    }
}

fn challenge_ack(p: &Peer) -> TcpRepr<'static> {
    TcpRepr {
        seq: p.c.tcb().snd_nxt,
        ack: p.c.tcb().rcv_nxt,
        ..ours()
    }
}

#[test]
fn rfc9293_3_10_7_1_reply_to() {
    let s = SeqNum::new(500);
    let a = SeqNum::new(9_000);
    let cases: [(&str, TcpRepr<'static>, Option<Reset>); 7] = [
        (
            "ack",
            TcpRepr {
                seq: s,
                ack: a,
                ..peer()
            },
            Some(Reset { seq: a, ack: None }),
        ),
        (
            "ack with data",
            TcpRepr {
                seq: s,
                ack: a,
                payload: b"abc",
                ..peer()
            },
            Some(Reset { seq: a, ack: None }),
        ),
        (
            "syn without ack: <SEQ=0><ACK=SEG.SEQ+SEG.LEN>",
            TcpRepr {
                seq: s,
                flags: TcpFlags::SYN,
                ..peer()
            },
            Some(Reset {
                seq: SeqNum::new(0),
                ack: Some(s + 1),
            }),
        ),
        (
            "syn,fin with text and no ack counts SYN, text and FIN",
            TcpRepr {
                seq: s,
                flags: TcpFlags::SYN | TcpFlags::FIN,
                payload: b"abcdefghij",
                ..peer()
            },
            Some(Reset {
                seq: SeqNum::new(0),
                ack: Some(s + 12),
            }),
        ),
        (
            "bare segment without ack",
            TcpRepr {
                seq: s,
                flags: TcpFlags::NONE,
                ..peer()
            },
            Some(Reset {
                seq: SeqNum::new(0),
                ack: Some(s),
            }),
        ),
        (
            "rst is never answered",
            TcpRepr {
                seq: s,
                flags: TcpFlags::RST,
                ..peer()
            },
            None,
        ),
        (
            "rst,ack is never answered",
            TcpRepr {
                seq: s,
                ack: a,
                flags: TcpFlags::RST | TcpFlags::ACK,
                ..peer()
            },
            None,
        ),
    ];
    for (name, seg, want) in cases {
        assert_eq!(reset::reply_to(&seg), want, "{name}");
    }
    // The segments themselves.
    let r = Reset { seq: a, ack: None }.to_repr(49152, 80);
    assert_eq!(Seg::from(r), Seg::from(rst_from_us(a)));
    let r = Reset {
        seq: SeqNum::new(0),
        ack: Some(s + 1),
    }
    .to_repr(49152, 80);
    assert_eq!(
        Seg::from(r),
        Seg::from(TcpRepr {
            seq: SeqNum::new(0),
            ack: s + 1,
            flags: TcpFlags::RST | TcpFlags::ACK,
            window: 0,
            ..ours()
        })
    );
}

#[test]
fn rfc9293_3_10_7_1_closed_answers_with_rst() {
    let mut p = closed_state();
    p.send(TcpRepr {
        seq: IRS,
        ack: ISS + 9,
        payload: b"x",
        ..peer()
    });
    p.expect(&[rst_from_us(ISS + 9)]);
    p.send(TcpRepr {
        seq: IRS,
        flags: TcpFlags::RST,
        ..peer()
    });
    p.expect_nothing();
    p.state(State::Closed);
}

#[test]
fn rfc9293_3_10_7_2_listen_ack_gets_rst_seq_seg_ack() {
    let mut p = listen_state();
    p.send(TcpRepr {
        seq: IRS,
        ack: ISS + 123,
        ..peer()
    });
    p.expect(&[rst_from_us(ISS + 123)]);
}

#[test]
fn rfc9293_3_10_7_3_syn_sent_unacceptable_ack_gets_rst_seq_seg_ack() {
    // "If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset <SEQ=SEG.ACK><CTL=RST> (unless the
    // RST bit is set, if so drop the segment and return)"; the state is unchanged.
    for (name, ack, flags, out) in [
        (
            "ack = ISS",
            ISS,
            TcpFlags::ACK,
            vec![Seg::from(rst_from_us(ISS))],
        ),
        (
            "ack > SND.NXT",
            ISS + 2,
            TcpFlags::SYN | TcpFlags::ACK,
            vec![Seg::from(rst_from_us(ISS + 2))],
        ),
        (
            "ack far behind",
            ISS - 1000,
            TcpFlags::ACK,
            vec![Seg::from(rst_from_us(ISS - 1000))],
        ),
        (
            "rst with bad ack is dropped",
            ISS + 2,
            TcpFlags::RST | TcpFlags::ACK,
            vec![],
        ),
    ] {
        let mut p = syn_sent_state();
        p.send(TcpRepr {
            seq: IRS,
            ack,
            flags,
            ..peer()
        });
        assert_eq!(p.out(), out, "{name}");
        assert_eq!(p.c.state(), State::SynSent, "{name}");
        assert_eq!(p.c.error(), None, "{name}");
    }
}

#[test]
fn rfc9293_3_10_7_3_syn_sent_rst_with_acceptable_ack_is_refused() {
    let mut p = syn_sent_state();
    p.send(TcpRepr {
        seq: SeqNum::new(0),
        ack: ISS + 1,
        flags: TcpFlags::RST | TcpFlags::ACK,
        ..peer()
    });
    p.state(State::Closed);
    p.expect_nothing();
    assert_eq!(p.c.error(), Some(Error::Refused));
    assert_eq!(p.c.send(b"x"), Err(Error::Refused));
    assert_eq!(p.c.poll_timeout(), None);
}

#[test]
fn rfc9293_3_10_7_3_syn_sent_rst_without_ack_is_dropped() {
    let mut p = syn_sent_state();
    p.send(TcpRepr {
        seq: IRS,
        flags: TcpFlags::RST,
        ..peer()
    });
    p.state(State::SynSent);
    p.expect_nothing();
}

#[test]
fn rfc5961_3_2_rst_at_rcv_nxt_resets_each_synchronized_state() {
    // (state, error reported): §3.10.7.4 "second, check the RST bit" per state.
    let cases: [(&str, Make, State, Option<Error>); 7] = [
        (
            "established",
            established_state,
            State::Closed,
            Some(Error::Reset),
        ),
        (
            "fin-wait-1",
            fin_wait_1_state,
            State::Closed,
            Some(Error::Reset),
        ),
        (
            "fin-wait-2",
            fin_wait_2_state,
            State::Closed,
            Some(Error::Reset),
        ),
        (
            "close-wait",
            close_wait_state,
            State::Closed,
            Some(Error::Reset),
        ),
        ("closing", closing_state, State::Closed, None),
        ("last-ack", last_ack_state, State::Closed, None),
        (
            "time-wait (RFC 1337)",
            time_wait_state,
            State::TimeWait,
            None,
        ),
    ];
    for (name, make, state, error) in cases {
        let mut p = make();
        let rcv_nxt = p.c.tcb().rcv_nxt;
        p.send(TcpRepr {
            seq: rcv_nxt,
            flags: TcpFlags::RST,
            ..peer()
        });
        assert_eq!(p.c.state(), state, "{name}");
        assert_eq!(p.c.error(), error, "{name}");
        assert_eq!(p.out(), [], "{name}: a RST is never answered");
    }
}

#[test]
fn rfc5961_3_2_rst_in_window_but_not_exact_gets_challenge_ack() {
    for offset in [1usize, 100, RCV_BUF - 1] {
        let mut p = established_state();
        p.send(TcpRepr {
            seq: IRS + 1 + offset,
            flags: TcpFlags::RST,
            ..peer()
        });
        p.state(State::Established);
        let want = challenge_ack(&p);
        p.expect(&[want]);
        assert_eq!(p.c.error(), None);
        assert_eq!(p.c.stats().challenge_acks, 1);
    }
}

#[test]
fn rfc5961_3_2_rst_out_of_window_is_silently_dropped() {
    for seq in [IRS + 1 + RCV_BUF, IRS, IRS - 5000, IRS + 1 + 100_000] {
        let mut p = established_state();
        p.send(TcpRepr {
            seq,
            flags: TcpFlags::RST | TcpFlags::ACK,
            ack: ISS + 1,
            ..peer()
        });
        p.state(State::Established);
        p.expect_nothing();
        assert_eq!(p.c.stats().challenge_acks, 0, "seq {seq}");
    }
}

#[test]
fn rfc5961_7_challenge_acks_are_rate_limited() {
    let limit = cfg().challenge_ack_limit;
    let mut p = established_state();
    let mut sent = 0;
    for i in 0..(limit + 5) {
        p.send(TcpRepr {
            seq: IRS + 2 + i as usize,
            flags: TcpFlags::RST,
            ..peer()
        });
        sent += p.out().len();
    }
    assert_eq!(
        sent, limit as usize,
        "at most {limit} challenge ACKs per second"
    );
    assert_eq!(p.c.stats().challenge_acks, u64::from(limit));
    // A second later the budget is back.
    p.advance(Duration::from_secs(1));
    p.send(TcpRepr {
        seq: IRS + 50,
        flags: TcpFlags::RST,
        ..peer()
    });
    let want = challenge_ack(&p);
    p.expect(&[want]);
    p.state(State::Established);
}

#[test]
fn rfc5961_4_2_syn_in_synchronized_state_gets_challenge_ack() {
    for (name, seq) in [
        ("in window", IRS + 10),
        ("at RCV.NXT", IRS + 1),
        ("old", IRS),
    ] {
        let mut p = established_state();
        p.send(TcpRepr {
            seq,
            flags: TcpFlags::SYN,
            options: syn_options(),
            ..peer()
        });
        assert_eq!(p.c.state(), State::Established, "{name}");
        let want = challenge_ack(&p);
        assert_eq!(p.out(), [Seg::from(want)], "{name}");
        assert_eq!(p.c.error(), None, "{name}");
        assert_eq!(p.c.tcb().rcv_nxt, IRS + 1, "{name}");
    }
}

#[test]
fn rfc5961_5_2_ack_of_unsent_data_is_acked_and_dropped() {
    let mut p = established_state();
    p.send(peer_data(IRS + 1, ISS + 100, b"injected"));
    p.state(State::Established);
    let want = challenge_ack(&p);
    p.expect(&[want]);
    assert_eq!(p.c.recv_queue(), 0, "the text is dropped with the segment");
    assert_eq!(p.c.tcb().rcv_nxt, IRS + 1);
    assert_eq!(p.c.tcb().snd_una, ISS + 1);
}

#[test]
fn rfc9293_3_10_5_abort_sends_rst_seq_snd_nxt() {
    let mut p = established_state();
    assert_eq!(p.c.send(b"0123456789"), Ok(10));
    assert_eq!(p.out().len(), 1);
    p.c.abort();
    p.state(State::Closed);
    p.expect(&[rst_from_us(ISS + 11)]);
    assert_eq!(p.c.error(), Some(Error::Aborted));
    assert_eq!(p.c.poll_timeout(), None);
    assert!(p.c.is_closed());
}

#[test]
fn rfc9293_3_10_5_abort_in_each_state() {
    // RST in SYN-RECEIVED and the synchronized states that still have a peer; none otherwise.
    let cases: [(&str, Make, Option<SeqNum>); 9] = [
        ("listen", listen_state, None),
        ("syn-sent", syn_sent_state, None),
        ("syn-received", syn_received_state, Some(ISS + 1)),
        ("established", established_state, Some(ISS + 1)),
        ("fin-wait-1", fin_wait_1_state, Some(ISS + 2)),
        ("fin-wait-2", fin_wait_2_state, Some(ISS + 2)),
        ("close-wait", close_wait_state, Some(ISS + 1)),
        ("closing", closing_state, None),
        ("time-wait", time_wait_state, None),
    ];
    for (name, make, rst) in cases {
        let mut p = make();
        p.c.abort();
        assert_eq!(p.c.state(), State::Closed, "{name}");
        let want: Vec<Seg> = rst.map(|s| Seg::from(rst_from_us(s))).into_iter().collect();
        assert_eq!(p.out(), want, "{name}");
    }
}
