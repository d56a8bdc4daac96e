//! Buffer autotuning on a connection (see `tcp/autotune.rs`): the advertised window starts at
//! ten segments and grows with what the application reads per round trip; the send buffer
//! follows the congestion window; an idle connection returns to the initial sizes without
//! ever retracting the right edge it advertised (RFC 9293 §3.8.6.2.2, SHLD-14).

use super::*;

/// A 60,000-byte receive maximum (no window scaling, so windows are exact) and a 1 MiB send
/// maximum; everything else as [`cfg`].
fn tuned_cfg() -> Config {
    Config {
        recv_buffer: 60_000,
        send_buffer: 1 << 20,
        ..cfg()
    }
}

/// The peer sends `n` bytes from `from` (its sequence offset past IRS + 1) in MSS segments.
fn peer_sends(p: &mut Peer, from: usize, n: usize) {
    let data = pattern(n);
    for (i, chunk) in data.chunks(usize::from(MSS)).enumerate() {
        p.send(peer_data(
            IRS + 1 + from + i * usize::from(MSS),
            ISS + 1,
            chunk,
        ));
    }
}

#[test]
fn window_starts_at_ten_segments_under_a_larger_maximum() {
    let mut p = syn_sent_with(tuned_cfg());
    p.at(at(100));
    p.send(TcpRepr {
        seq: IRS,
        ack: ISS + 1,
        flags: TcpFlags::SYN | TcpFlags::ACK,
        options: syn_options(),
        ..peer()
    });
    p.expect(&[TcpRepr {
        seq: ISS + 1,
        ack: IRS + 1,
        window: 14_600,
        ..ours()
    }]);
}

#[test]
fn window_grows_to_twice_what_the_application_read_in_a_round_trip() {
    // The handshake took 100 ms (SRTT); its ACK at 100 ms began a round.
    let mut p = established_with(tuned_cfg());
    peer_sends(&mut p, 0, 14_600);
    let acks = p.out();
    assert_eq!(
        acks.last().map(|s| s.window),
        Some(0),
        "the initial window is full"
    );
    assert_eq!(read_all(&mut p.c).len(), 14_600);
    // Read within the round: the window reopens to the initial size only.
    p.expect(&[TcpRepr {
        seq: ISS + 1,
        ack: IRS + 1 + 14_600,
        window: 14_600,
        ..ours()
    }]);
    // A round trip later the next ACK measures the round: 14,600 read, so 29,200.
    p.at(at(200));
    peer_sends(&mut p, 14_600, 1460);
    p.advance(ms(40)); // the delayed ACK
    p.expect(&[TcpRepr {
        seq: ISS + 1,
        ack: IRS + 1 + 16_060,
        window: 29_200 - 1460,
        ..ours()
    }]);
}

#[test]
fn window_of_a_reader_that_does_not_read_stays_at_the_initial_size() {
    let mut p = established_with(tuned_cfg());
    for round in 0..5 {
        p.at(at(100 + 100 * round));
        // One segment per round trip arrives and is not read.
        peer_sends(&mut p, 1460 * round as usize, 1460);
        p.advance(ms(40));
        let out = p.out();
        assert_eq!(out.len(), 1);
        assert_eq!(
            usize::from(out[0].window),
            14_600 - 1460 * (round as usize + 1),
            "round {round}"
        );
    }
}

#[test]
fn idle_connection_returns_to_the_initial_window_without_retracting_its_right_edge() {
    let mut p = established_with(tuned_cfg());
    peer_sends(&mut p, 0, 14_600);
    let _ = p.out();
    read_all(&mut p.c);
    let _ = p.out();
    p.at(at(200));
    peer_sends(&mut p, 14_600, 1460);
    read_all(&mut p.c);
    p.advance(ms(40));
    // Grown to twice the 16,060 bytes read in the round: the right edge is RCV.NXT + 32,120.
    p.expect(&[TcpRepr {
        seq: ISS + 1,
        ack: IRS + 1 + 16_060,
        window: 32_120,
        ..ours()
    }]);
    let edge = IRS + 1 + 16_060 + 32_120;
    // A second with the receive buffer empty: its storage goes, and the limit with it.
    p.advance(RECLAIM_IDLE);
    assert_eq!(p.c.memory_usage(), core::mem::size_of::<Connection>());
    // The peer sends again: the window still reaches the edge already advertised...
    peer_sends(&mut p, 16_060, 1460);
    p.advance(ms(40));
    p.expect(&[TcpRepr {
        seq: ISS + 1,
        ack: IRS + 1 + 17_520,
        window: edge.since(IRS + 1 + 17_520) as u16,
        ..ours()
    }]);
    // ...and reading does not move it: RCV.NXT + 14,600 lies behind it.
    read_all(&mut p.c);
    p.expect_nothing();
}

#[test]
fn send_buffer_takes_twice_the_congestion_window() {
    let mut p = established_with(tuned_cfg());
    // cwnd is ten segments: the application may queue twice that.
    assert_eq!(p.c.cwnd(), 14_600);
    assert_eq!(p.c.send_capacity(), 29_200);
    assert_eq!(p.c.send(&pattern(40_000)), Ok(29_200));
    assert_eq!(p.c.send(b"x"), Err(crate::tcp::Error::WouldBlock));
    // The peer opens its window to 60,000: cwnd lets ten segments out; the ACK of three
    // grows cwnd in slow start by two segments (RFC 3465's L = 2), and the limit to twice
    // the new window.
    p.send(TcpRepr {
        seq: IRS + 1,
        ack: ISS + 1,
        window: 60_000,
        ..peer()
    });
    let out = p.out();
    assert_eq!(out.len(), 10);
    p.advance(ms(100));
    p.send(TcpRepr {
        seq: IRS + 1,
        ack: ISS + 1 + 4380,
        ..peer()
    });
    assert_eq!(p.c.cwnd(), 14_600 + 2920);
    assert_eq!(p.c.send_capacity(), 2 * (14_600 + 2920) - (29_200 - 4380));
}
