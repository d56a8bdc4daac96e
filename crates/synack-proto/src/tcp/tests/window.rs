//! Window management (RFC 9293 §3.8.6): the advertised window, receiver-side silly window
//! avoidance (§3.8.6.2.2), zero windows and the persist timer (§3.8.6.1).

use super::*;

#[test]
fn rfc9293_3_8_6_window_advertised_is_free_buffer_space() {
    let mut p = established_state();
    let data = pattern(2000);
    p.send(peer_data(IRS + 1, ISS + 1, &data[..1000]));
    p.send(peer_data(IRS + 1001, ISS + 1, &data[1000..]));
    p.expect(&[TcpRepr {
        seq: ISS + 1,
        ack: IRS + 2001,
        window: (RCV_BUF - 2000) as u16,
        ..ours()
    }]);
}

#[test]
fn rfc9293_3_8_6_2_2_window_grows_only_in_sws_avoiding_steps() {
    // The window opens once it can grow by min(RCV.BUFF / 2, Eff.snd.MSS) = min(2048, 1460).
    let mut p = established_state();
    let data = pattern(2000);
    p.send(peer_data(IRS + 1, ISS + 1, &data[..1000]));
    p.send(peer_data(IRS + 1001, ISS + 1, &data[1000..]));
    let _ = p.out();
    let mut buf = [0u8; 1000];
    assert_eq!(p.c.recv(&mut buf), Ok(1000));
    p.expect_nothing(); // +1000 < 1460: no update
    assert_eq!(p.c.recv(&mut buf[..459]), Ok(459));
    p.expect_nothing(); // +1459
    assert_eq!(p.c.recv(&mut buf[..1]), Ok(1));
    p.expect(&[TcpRepr {
        seq: ISS + 1,
        ack: IRS + 2001,
        window: (RCV_BUF - 2000 + 1460) as u16,
        ..ours()
    }]);
    // The rest, 540 more: not enough for another update on its own…
    assert_eq!(p.c.recv(&mut buf), Ok(540));
    p.expect_nothing();
    // …so the right edge stays put: 5 more bytes arrive and the window says exactly 5 less.
    p.send(peer_data(IRS + 2001, ISS + 1, b"12345"));
    p.advance(ms(40));
    p.expect(&[TcpRepr {
        seq: ISS + 1,
        ack: IRS + 2006,
        window: (RCV_BUF - 2000 + 1460 - 5) as u16,
        ..ours()
    }]);
}

#[test]
fn rfc9293_3_8_6_2_2_window_update_after_reading_a_full_buffer() {
    let mut p = established_state();
    let fill = pattern(RCV_BUF);
    for (i, chunk) in fill.chunks(1024).enumerate() {
        p.send(peer_data(IRS + 1 + i * 1024, ISS + 1, chunk));
    }
    let acks = p.out();
    assert_eq!(acks.last().map(|s| s.window), Some(0));
    assert_eq!(read_all(&mut p.c), fill);
    p.expect(&[TcpRepr {
        seq: ISS + 1,
        ack: IRS + 1 + RCV_BUF,
        window: RCV_BUF as u16,
        ..ours()
    }]);
}

#[test]
fn rfc9293_3_8_6_1_zero_window_persist_probe_then_reopen_resumes() {
    let mut p = established_state();
    assert_eq!(p.c.send(b"a"), Ok(1));
    assert_eq!(p.out().len(), 1);
    assert_eq!(p.c.send(b"bcd"), Ok(3)); // Nagle holds it
    p.expect_nothing();
    p.advance(ms(50));
    // The peer acknowledges "a" and closes its window.
    p.send(TcpRepr {
        seq: IRS + 1,
        ack: ISS + 2,
        window: 0,
        ..peer()
    });
    p.expect_nothing();
    let rto = p.c.rto();
    let due = p.now + rto;
    assert_eq!(
        p.c.poll_timeout(),
        Some(due),
        "persist timer armed for one RTO"
    );
    p.at(due);
    // The probe: SEG.SEQ = SND.UNA - 1, no text.
    let probe = TcpRepr {
        seq: ISS + 1,
        ack: IRS + 1,
        ..ours()
    };
    p.expect(&[probe]);
    assert_eq!(p.c.stats().window_probes, 1);
    // Unanswered: the next probe backs off to 2 × RTO.
    assert_eq!(p.c.poll_timeout(), Some(due + rto * 2));
    p.at(due + rto * 2);
    p.expect(&[probe]);
    // The answer reopens the window; the held data goes out.
    p.send(TcpRepr {
        seq: IRS + 1,
        ack: ISS + 2,
        window: PEER_WND,
        ..peer()
    });
    p.expect(&[TcpRepr {
        seq: ISS + 2,
        ack: IRS + 1,
        flags: TcpFlags::PSH | TcpFlags::ACK,
        payload: b"bcd",
        ..ours()
    }]);
    assert_eq!(p.c.state(), State::Established);
    assert_eq!(p.c.error(), None);
}

#[test]
fn rfc9293_3_8_6_1_send_into_a_closed_window_arms_the_persist_timer() {
    // The window is already zero when the user sends: SEND must not leave the data stranded
    // with no timer (a deadlock if the peer's window update is lost).
    let mut p = established_state();
    p.send(TcpRepr {
        seq: IRS + 1,
        ack: ISS + 1,
        window: 0,
        ..peer()
    });
    p.expect_nothing();
    assert_eq!(p.c.poll_timeout(), None, "idle: nothing to send yet");
    assert_eq!(p.c.send(b"x"), Ok(1));
    p.expect_nothing();
    let due = p.now + p.c.rto();
    assert_eq!(p.c.poll_timeout(), Some(due), "persist timer armed by SEND");
    p.at(due);
    p.expect(&[TcpRepr {
        seq: ISS,
        ack: IRS + 1,
        ..ours()
    }]);
}

#[test]
fn rfc9293_3_10_7_4_old_segment_does_not_update_the_send_window() {
    // "If SND.WL1 < SEG.SEQ or (SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK), set SND.WND".
    let mut p = established_state();
    p.send(peer_data(IRS + 1, ISS + 1, b"abc"));
    assert_eq!(p.c.tcb().snd_wl1, IRS + 1);
    // An older segment (reordered) with a smaller window must not shrink SND.WND.
    p.send(TcpRepr {
        seq: IRS,
        ack: ISS + 1,
        window: 100,
        ..peer()
    });
    assert_eq!(p.c.tcb().snd_wnd, u32::from(PEER_WND));
    // A newer one does.
    p.send(TcpRepr {
        seq: IRS + 4,
        ack: ISS + 1,
        window: 100,
        ..peer()
    });
    assert_eq!(p.c.tcb().snd_wnd, 100);
}
