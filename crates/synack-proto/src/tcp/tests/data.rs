//! Segment text: §3.10.7.4 steps one (acceptability, trimming) and seven (queueing), delayed
//! ACKs (§3.8.6.3, RFC 5681 §4.2), Nagle (§3.7.4) and the MSS (§3.7.1).

use super::*;

fn ack_from_us(ack: SeqNum, window: usize) -> TcpRepr<'static> {
    TcpRepr {
        seq: ISS + 1,
        ack,
        window: window as u16,
        ..ours()
    }
}

#[test]
fn rfc9293_3_10_7_4_old_duplicate_gets_ack_with_rcv_nxt() {
    let mut p = established_state();
    p.send(peer_data(IRS + 1, ISS + 1, b"abc"));
    p.expect_nothing(); // delayed
    p.send(peer_data(IRS + 1, ISS + 1, b"abc"));
    p.expect(&[ack_from_us(IRS + 4, RCV_BUF - 3)]);
    assert_eq!(
        read_all(&mut p.c),
        b"abc",
        "the duplicate is not queued twice"
    );
    assert_eq!(p.c.stats().dropped_segments, 1);
}

#[test]
fn rfc9293_3_10_7_4_partially_duplicate_segment_is_trimmed() {
    let mut p = established_state();
    p.send(peer_data(IRS + 1, ISS + 1, b"abc"));
    p.send(peer_data(IRS + 2, ISS + 1, b"BCdef"));
    assert_eq!(p.c.tcb().rcv_nxt, IRS + 7);
    // Second data segment: an immediate ACK.
    p.expect(&[ack_from_us(IRS + 7, RCV_BUF - 6)]);
    assert_eq!(read_all(&mut p.c), b"abcdef", "only the new part is queued");
}

#[test]
fn rfc5681_4_2_out_of_order_segment_is_held_and_acked_at_once() {
    let mut p = established_state();
    p.send(peer_data(IRS + 4, ISS + 1, b"def"));
    // Out of order: immediate duplicate ACK; out-of-order bytes don't shrink the window.
    p.expect(&[ack_from_us(IRS + 1, RCV_BUF)]);
    assert_eq!(p.c.recv_queue(), 0);
    p.send(peer_data(IRS + 1, ISS + 1, b"abc"));
    // The hole is filled: immediate ACK of everything.
    p.expect(&[ack_from_us(IRS + 7, RCV_BUF - 6)]);
    assert_eq!(read_all(&mut p.c), b"abcdef");
}

#[test]
fn rfc9293_3_10_7_4_data_beyond_window_is_trimmed() {
    let mut p = established_state();
    let first = pattern(3000);
    p.send(peer_data(IRS + 1, ISS + 1, &first[..1460]));
    p.send(peer_data(IRS + 1461, ISS + 1, &first[1460..2920]));
    p.expect(&[ack_from_us(IRS + 2921, RCV_BUF - 2920)]);
    // 1176 bytes of room left; the peer sends 1460.
    let more = vec![0xAB; 1460];
    p.send(peer_data(IRS + 2921, ISS + 1, &more));
    assert_eq!(p.c.tcb().rcv_nxt, IRS + 1 + RCV_BUF);
    p.advance(ms(40));
    p.expect(&[ack_from_us(IRS + 1 + RCV_BUF, 0)]);
    let got = read_all(&mut p.c);
    assert_eq!(got.len(), RCV_BUF);
    assert_eq!(&got[..2920], &first[..2920]);
    assert!(got[2920..].iter().all(|&b| b == 0xAB));
}

/// ESTABLISHED with our receive buffer full (window 0) and 10 bytes of ours in flight.
fn zero_window_receiver() -> Peer {
    let mut p = established_state();
    assert_eq!(p.c.send(b"0123456789"), Ok(10));
    assert_eq!(p.out().len(), 1);
    let fill = pattern(RCV_BUF);
    for (i, chunk) in fill.chunks(1024).enumerate() {
        p.send(peer_data(IRS + 1 + i * 1024, ISS + 1, chunk));
    }
    let _acks = p.out();
    assert_eq!(p.c.tcb().rcv_nxt, IRS + 1 + RCV_BUF);
    p
}

#[test]
fn rfc9293_3_10_7_4_zero_window_drops_text_but_processes_ack() {
    // "If the RCV.WND is zero, no segments will be acceptable, but special allowance should be
    // made to accept valid ACKs, URGs, and RSTs"; an unacceptable segment gets an ACK.
    let mut p = zero_window_receiver();
    p.send(peer_data(IRS + 1 + RCV_BUF, ISS + 11, b"z"));
    assert_eq!(p.c.tcb().snd_una, ISS + 11, "the ACK field is processed");
    assert_eq!(p.c.recv_queue(), RCV_BUF, "the text is dropped");
    assert_eq!(p.c.tcb().rcv_nxt, IRS + 1 + RCV_BUF);
    p.expect(&[TcpRepr {
        seq: ISS + 11,
        ack: IRS + 1 + RCV_BUF,
        window: 0,
        ..ours()
    }]);
}

#[test]
fn rfc9293_3_10_7_4_zero_window_probe_below_rcv_nxt_gets_ack() {
    // A Linux-style probe (SEG.SEQ = RCV.NXT - 1, no text) is unacceptable: ACK with window 0.
    let mut p = zero_window_receiver();
    p.send(TcpRepr {
        seq: IRS + RCV_BUF,
        ack: ISS + 11,
        ..peer()
    });
    p.expect(&[TcpRepr {
        seq: ISS + 11,
        ack: IRS + 1 + RCV_BUF,
        window: 0,
        ..ours()
    }]);
}

#[test]
fn rfc9293_3_10_7_4_fin_carrying_data() {
    let mut p = established_state();
    p.send(TcpRepr {
        seq: IRS + 1,
        ack: ISS + 1,
        flags: TcpFlags::FIN | TcpFlags::PSH | TcpFlags::ACK,
        payload: b"bye",
        ..peer()
    });
    p.state(State::CloseWait);
    p.expect(&[ack_from_us(IRS + 5, RCV_BUF - 4)]);
    let mut buf = [0u8; 16];
    assert_eq!(p.c.recv(&mut buf), Ok(3));
    assert_eq!(&buf[..3], b"bye");
    assert_eq!(p.c.recv(&mut buf), Ok(0));
}

#[test]
fn rfc9293_3_10_7_4_out_of_order_fin_waits_for_the_hole() {
    let mut p = established_state();
    p.send(TcpRepr {
        seq: IRS + 4,
        ack: ISS + 1,
        flags: TcpFlags::FIN | TcpFlags::ACK,
        payload: b"def",
        ..peer()
    });
    p.state(State::Established);
    p.expect(&[ack_from_us(IRS + 1, RCV_BUF)]);
    p.send(peer_data(IRS + 1, ISS + 1, b"abc"));
    p.state(State::CloseWait);
    p.expect(&[ack_from_us(IRS + 8, RCV_BUF - 7)]);
    assert_eq!(read_all(&mut p.c), b"abcdef");
}

#[test]
fn rfc9293_3_8_6_3_one_segment_delays_the_ack() {
    let mut p = established_state();
    let t0 = p.now;
    p.send(peer_data(IRS + 1, ISS + 1, b"hello"));
    p.expect_nothing();
    assert_eq!(p.c.poll_timeout(), Some(t0 + ms(40)));
    p.at(t0 + ms(39));
    p.expect_nothing();
    p.at(t0 + ms(40));
    p.expect(&[ack_from_us(IRS + 6, RCV_BUF - 5)]);
    assert_eq!(p.c.poll_timeout(), None);
}

#[test]
fn rfc5681_4_2_two_segments_are_acked_at_once() {
    let mut p = established_state();
    p.send(peer_data(IRS + 1, ISS + 1, b"hello"));
    p.expect_nothing();
    p.advance(ms(10));
    p.send(peer_data(IRS + 6, ISS + 1, b"world"));
    p.expect(&[ack_from_us(IRS + 11, RCV_BUF - 10)]);
    assert_eq!(
        p.c.poll_timeout(),
        None,
        "the delayed-ACK timer is cancelled"
    );
}

#[test]
fn rfc9293_3_8_6_3_a_coalesced_segment_of_two_full_segments_is_acked_at_once() {
    let cfg = Config {
        recv_buffer: 16 * 1024,
        ..cfg()
    };
    let mut p = established_with(cfg);
    // What a TUN device with offloads hands over: two full-sized segments in one.
    let data = pattern(2 * MSS as usize);
    p.send(peer_data(IRS + 1, ISS + 1, &data));
    let out = p.out();
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].ack, IRS + 1 + data.len());
    assert_eq!(p.c.poll_timeout(), None, "no delayed ACK pending");
    // One full-sized segment alone still waits.
    p.send(peer_data(
        IRS + 1 + data.len(),
        ISS + 1,
        &data[..MSS as usize],
    ));
    p.expect_nothing();
}

#[test]
fn rfc9293_3_8_6_3_outgoing_data_carries_the_pending_ack() {
    let mut p = established_state();
    p.send(peer_data(IRS + 1, ISS + 1, b"ping"));
    assert_eq!(p.c.send(b"pong"), Ok(4));
    p.expect(&[TcpRepr {
        seq: ISS + 1,
        ack: IRS + 5,
        flags: TcpFlags::PSH | TcpFlags::ACK,
        window: (RCV_BUF - 4) as u16,
        payload: b"pong",
        ..ours()
    }]);
    assert_eq!(
        p.c.poll_timeout(),
        Some(p.now + p.c.rto()),
        "only the RTO remains"
    );
}

#[test]
fn rfc9293_3_7_4_nagle_holds_a_small_segment_until_acked() {
    let mut p = established_state();
    assert_eq!(p.c.send(b"first"), Ok(5));
    p.expect(&[TcpRepr {
        seq: ISS + 1,
        ack: IRS + 1,
        flags: TcpFlags::PSH | TcpFlags::ACK,
        payload: b"first",
        ..ours()
    }]);
    assert_eq!(p.c.send(b"second"), Ok(6));
    p.expect_nothing();
    p.send(TcpRepr {
        seq: IRS + 1,
        ack: ISS + 6,
        ..peer()
    });
    p.expect(&[TcpRepr {
        seq: ISS + 6,
        ack: IRS + 1,
        flags: TcpFlags::PSH | TcpFlags::ACK,
        payload: b"second",
        ..ours()
    }]);
}

#[test]
fn rfc9293_3_7_4_nodelay_sends_the_small_segment_at_once() {
    let mut p = established_with(Config {
        nodelay: true,
        ..cfg()
    });
    assert_eq!(p.c.send(b"first"), Ok(5));
    assert_eq!(p.out().len(), 1);
    assert_eq!(p.c.send(b"second"), Ok(6));
    p.expect(&[TcpRepr {
        seq: ISS + 6,
        ack: IRS + 1,
        flags: TcpFlags::PSH | TcpFlags::ACK,
        payload: b"second",
        ..ours()
    }]);
}

#[test]
fn rfc9293_3_7_1_segments_never_exceed_the_peers_smaller_mss() {
    let mut p = established_with_mss(cfg(), 536);
    assert_eq!(p.c.tcb().send_mss, 536);
    let data = pattern(2000);
    assert_eq!(p.c.send(&data), Ok(2000));
    let seg = |off: usize, len: usize, flags: TcpFlags| {
        Seg::from(TcpRepr {
            seq: ISS + 1 + off,
            ack: IRS + 1,
            flags,
            payload: &data[off..off + len],
            ..ours()
        })
    };
    // Three full segments; Nagle holds the 392-byte tail while they are unacknowledged.
    assert_eq!(
        p.out(),
        [
            seg(0, 536, TcpFlags::ACK),
            seg(536, 536, TcpFlags::ACK),
            seg(1072, 536, TcpFlags::ACK),
        ]
    );
    p.send(TcpRepr {
        seq: IRS + 1,
        ack: ISS + 1 + 1608,
        ..peer()
    });
    assert_eq!(p.out(), [seg(1608, 392, TcpFlags::PSH | TcpFlags::ACK)]);
}

#[test]
fn rfc9293_3_7_1_missing_mss_option_means_536() {
    let mut p = syn_sent_state();
    p.send(TcpRepr {
        seq: IRS,
        ack: ISS + 1,
        flags: TcpFlags::SYN | TcpFlags::ACK,
        ..peer()
    });
    assert_eq!(p.c.tcb().send_mss, 536);
}

#[test]
fn rfc5681_4_2_a_fin_beyond_a_hole_is_acknowledged_at_once() {
    let mut p = established_state();
    // The peer's FIN arrives with 100 bytes missing before it: a duplicate ACK at once says
    // where the hole starts (it may be the peer's loss probe for a lost tail).
    p.send(TcpRepr {
        seq: IRS + 101,
        ack: ISS + 1,
        flags: TcpFlags::ACK | TcpFlags::FIN,
        ..peer()
    });
    p.expect(&[TcpRepr {
        seq: ISS + 1,
        ack: IRS + 1,
        ..ours()
    }]);
    p.state(State::Established);
    // The missing bytes fill the hole: the FIN is taken in order.
    p.send(peer_data(IRS + 1, ISS + 1, &pattern(100)));
    assert_eq!(p.c.state(), State::CloseWait);
}

/// Buffer storage follows the load: emptied by an ACK it stays allocated (a bulk sender's
/// buffer empties on every ACK that catches up with it, and must not be freed and regrown
/// each time), and is released once it has stayed empty for `RECLAIM_IDLE`; a write in
/// between restarts the wait. Received data read by the application is reclaimed alike.
#[test]
fn empty_buffers_are_released_after_staying_empty_for_reclaim_idle() {
    let mut p = established_state();
    let data = [7u8; 1000];
    assert_eq!(p.c.send(&data), Ok(1000));
    assert_eq!(p.out().len(), 1);
    p.advance(ms(10));
    p.send(TcpRepr {
        seq: IRS + 1,
        ack: ISS + 1001,
        ..peer()
    });
    let held = p.c.memory_usage();
    assert!(
        p.c.tx.allocated_bytes() >= 1000,
        "kept while it may fill again"
    );
    assert_eq!(p.c.poll_timeout(), Some(p.now + RECLAIM_IDLE));
    // Half a second later the application writes again: the wait restarts when that is ACKed.
    p.advance(ms(500));
    assert_eq!(p.c.send(&data[..100]), Ok(100));
    assert_eq!(p.out().len(), 1);
    p.advance(ms(10));
    p.send(TcpRepr {
        seq: IRS + 1,
        ack: ISS + 1101,
        ..peer()
    });
    let emptied = p.now;
    p.at(emptied + RECLAIM_IDLE - ms(1));
    assert!(p.c.tx.allocated_bytes() > 0, "not yet");
    p.at(emptied + RECLAIM_IDLE);
    assert_eq!(p.c.tx.allocated_bytes(), 0, "released");
    assert!(p.c.memory_usage() < held);
    assert_eq!(p.c.poll_timeout(), None, "idle: nothing armed");
    // Received data, once read, is reclaimed the same way.
    p.send(TcpRepr {
        seq: IRS + 1,
        ack: ISS + 1101,
        flags: TcpFlags::PSH | TcpFlags::ACK,
        payload: b"hello",
        ..peer()
    });
    let mut buf = [0u8; 16];
    assert_eq!(p.c.recv(&mut buf), Ok(5));
    let _ = p.out();
    assert!(p.c.rx.allocated_bytes() > 0);
    let read_at = p.now;
    p.at(read_at + RECLAIM_IDLE);
    let _ = p.out();
    assert_eq!(p.c.rx.allocated_bytes(), 0, "released");
    assert_eq!(p.c.poll_timeout(), None, "idle: nothing armed");
}

/// `peek` copies readable data without consuming it: the window stays shrunk, nothing is
/// sent, and `recv` then returns the same bytes; at the end of the stream it returns 0.
#[test]
fn peek_leaves_the_data_for_the_next_recv_and_sends_no_window_update() {
    let mut p = established_state();
    p.send(TcpRepr {
        seq: IRS + 1,
        ack: ISS + 1,
        flags: TcpFlags::PSH | TcpFlags::ACK,
        payload: b"hello",
        ..peer()
    });
    let _ = p.out();
    let mut buf = [0u8; 3];
    assert_eq!(p.c.peek(&mut buf), Ok(3));
    assert_eq!(&buf, b"hel");
    let mut all = [0u8; 16];
    assert_eq!(p.c.peek(&mut all), Ok(5));
    p.expect_nothing();
    assert_eq!(p.c.recv_queue(), 5);
    assert_eq!(p.c.recv(&mut all), Ok(5));
    assert_eq!(&all[..5], b"hello");
    assert_eq!(p.c.peek(&mut all), Err(crate::tcp::Error::WouldBlock));
    p.send(TcpRepr {
        seq: IRS + 6,
        ack: ISS + 1,
        flags: TcpFlags::FIN | TcpFlags::ACK,
        ..peer()
    });
    assert_eq!(p.c.recv(&mut all), Ok(0));
    assert_eq!(p.c.peek(&mut all), Ok(0), "end of stream");
}

/// `recv_with` hands the readable bytes over where they lie, frees only what the callback
/// says it consumed, and opens the window exactly as `recv` does: reading a full buffer in
/// place sends the same window update as `rfc9293_3_8_6_2_2_window_update_after_reading_a_full_buffer`.
#[test]
fn recv_with_reads_in_place_and_opens_the_window_as_recv_does() {
    let mut p = established_state();
    let fill = pattern(RCV_BUF);
    for (i, chunk) in fill.chunks(1024).enumerate() {
        p.send(peer_data(IRS + 1 + i * 1024, ISS + 1, chunk));
    }
    let acks = p.out();
    assert_eq!(acks.last().map(|s| s.window), Some(0));
    // A callback that takes nothing changes nothing.
    assert_eq!(
        p.c.recv_with(|a, b| (0, a.len() + b.len())),
        Ok(Some(RCV_BUF))
    );
    p.expect_nothing();
    assert_eq!(p.c.recv_queue(), RCV_BUF);
    // Taking everything, in as many calls as the ring's slices need.
    let mut got = Vec::new();
    while let Ok(Some(n)) = p.c.recv_with(|a, b| {
        got.extend_from_slice(a);
        got.extend_from_slice(b);
        (a.len() + b.len(), a.len() + b.len())
    }) {
        assert!(n > 0);
    }
    assert_eq!(got, fill);
    p.expect(&[TcpRepr {
        seq: ISS + 1,
        ack: IRS + 1 + RCV_BUF,
        window: RCV_BUF as u16,
        ..ours()
    }]);
    assert_eq!(
        p.c.recv_with(|_, _| -> (usize, ()) { unreachable!("nothing readable") }),
        Err(crate::tcp::Error::WouldBlock)
    );
}

/// A callback claiming more than it was given is clamped: only the readable bytes go.
#[test]
fn recv_with_clamps_an_overclaiming_callback_and_then_reports_end_of_stream() {
    let mut p = established_state();
    p.send(TcpRepr {
        seq: IRS + 1,
        ack: ISS + 1,
        flags: TcpFlags::FIN | TcpFlags::PSH | TcpFlags::ACK,
        payload: b"hello",
        ..peer()
    });
    let _ = p.out();
    assert_eq!(
        p.c.recv_with(|a, b| (usize::MAX, (a.to_vec(), b.len()))),
        Ok(Some((b"hello".to_vec(), 0)))
    );
    assert_eq!(p.c.recv_queue(), 0);
    assert_eq!(
        p.c.recv_with(|_, _| -> (usize, ()) { unreachable!("end of stream") }),
        Ok(None),
        "the peer's FIN is the end of the stream"
    );
}

/// `send_with` queues what the callback wrote into the ring, and it goes out as `send`'s
/// bytes would: one segment carrying them.
#[test]
fn send_with_queues_bytes_written_in_place_and_they_go_out() {
    let mut p = established_state();
    let room = p.c.send_with(|buf| {
        buf[..5].copy_from_slice(b"hello");
        (5, buf.len())
    });
    assert!(matches!(room, Ok(n) if n >= 5 && n <= p.c.send_capacity() + 5));
    p.expect(&[TcpRepr {
        seq: ISS + 1,
        ack: IRS + 1,
        flags: TcpFlags::PSH | TcpFlags::ACK,
        payload: b"hello",
        ..ours()
    }]);
}

/// The same refusals as `send`: a full buffer is `WouldBlock` without calling back, and after
/// CLOSE writing is `Closing`.
#[test]
fn send_with_refuses_as_send_does_when_full_and_after_close() {
    let mut p = established_state();
    let mut queued = 0;
    while let Ok(n) = p.c.send_with(|buf| {
        buf.fill(7);
        (buf.len(), buf.len())
    }) {
        assert!(n > 0);
        queued += n;
    }
    assert_eq!(p.c.send_capacity(), 0);
    assert_eq!(queued, p.c.send_queue());
    assert_eq!(
        p.c.send_with(|_| -> (usize, ()) { unreachable!("full") }),
        Err(crate::tcp::Error::WouldBlock)
    );
    p.c.close();
    assert_eq!(
        p.c.send_with(|_| -> (usize, ()) { unreachable!("closed") }),
        Err(crate::tcp::Error::Closing)
    );
}
