//! RFC 7323 timestamps: negotiation, echoing, RTT measurement and PAWS.

use super::*;
use crate::wire::Timestamps;

/// Our TSval at `t`: milliseconds plus the per-connection offset (the ISS).
fn our_ts(t: Instant) -> u32 {
    (t.total_millis() as u32).wrapping_add(ISS.get())
}

fn ts(tsval: u32, tsecr: u32) -> TcpOptions {
    TcpOptions {
        timestamps: Some(Timestamps { tsval, tsecr }),
        ..TcpOptions::default()
    }
}

fn ts_cfg() -> Config {
    Config {
        timestamps: true,
        ..cfg()
    }
}

/// ESTABLISHED with timestamps: the peer's SYN,ACK carried TSval=500 at 100 ms.
fn established_ts() -> Peer {
    let mut p = Peer::new(Connection::connect(ts_cfg(), LOCAL, REMOTE, ISS));
    p.expect(&[TcpRepr {
        seq: ISS,
        flags: TcpFlags::SYN,
        options: TcpOptions {
            timestamps: Some(Timestamps {
                tsval: our_ts(Instant::ZERO),
                tsecr: 0,
            }),
            ..syn_options()
        },
        ..ours()
    }]);
    p.at(Instant::ZERO + HANDSHAKE_RTT);
    p.send(TcpRepr {
        seq: IRS,
        ack: ISS + 1,
        flags: TcpFlags::SYN | TcpFlags::ACK,
        options: TcpOptions {
            timestamps: Some(Timestamps {
                tsval: 500,
                tsecr: our_ts(Instant::ZERO),
            }),
            ..syn_options()
        },
        ..peer()
    });
    p.state(State::Established);
    p.expect(&[TcpRepr {
        seq: ISS + 1,
        ack: IRS + 1,
        options: ts(our_ts(p.now), 500),
        ..ours()
    }]);
    p
}

#[test]
fn rfc7323_3_2_syn_offers_timestamps_and_every_later_segment_echoes_ts_recent() {
    let mut p = established_ts();
    p.c.send(b"abc").unwrap();
    p.expect(&[TcpRepr {
        seq: ISS + 1,
        ack: IRS + 1,
        flags: TcpFlags::ACK | TcpFlags::PSH,
        options: ts(our_ts(p.now), 500),
        payload: b"abc",
        ..ours()
    }]);
}

#[test]
fn rfc7323_3_2_no_timestamps_unless_both_sides_offer_them() {
    // The peer's SYN,ACK has no timestamps: neither do our later segments.
    let mut p = Peer::new(Connection::connect(ts_cfg(), LOCAL, REMOTE, ISS));
    let _ = p.out();
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
        ..ours()
    }]);
}

#[test]
fn rfc7323_3_2_syn_ack_carries_timestamps_only_if_the_syn_did() {
    let mut with = listen_with(ts_cfg());
    with.send(TcpRepr {
        seq: IRS,
        flags: TcpFlags::SYN,
        options: TcpOptions {
            timestamps: Some(Timestamps {
                tsval: 77,
                tsecr: 0,
            }),
            ..syn_options()
        },
        ..peer()
    });
    let out = with.out();
    assert_eq!(
        out[0].options.timestamps,
        Some(Timestamps {
            tsval: our_ts(Instant::ZERO),
            tsecr: 77
        })
    );
    let mut without = listen_with(ts_cfg());
    without.send(TcpRepr {
        seq: IRS,
        flags: TcpFlags::SYN,
        options: syn_options(),
        ..peer()
    });
    assert_eq!(without.out()[0].options.timestamps, None);
}

#[test]
fn rfc7323_5_3_paws_drops_a_segment_with_an_old_timestamp_and_acks() {
    let mut p = established_ts();
    p.send(TcpRepr {
        seq: IRS + 1,
        ack: ISS + 1,
        options: ts(499, our_ts(p.now)),
        payload: b"old duplicate",
        ..peer()
    });
    p.expect(&[TcpRepr {
        seq: ISS + 1,
        ack: IRS + 1,
        options: ts(our_ts(p.now), 500),
        ..ours()
    }]);
    assert_eq!(
        p.c.recv_queue(),
        0,
        "the old duplicate's text was not accepted"
    );
    assert_eq!(p.c.stats().paws_drops, 1);
}

#[test]
fn rfc7323_5_3_paws_compares_modulo_2_32() {
    // TS.Recent = 500; a TSval just past 2^32 wraps to a small number but is "newer" only if
    // within 2^31 ahead. u32::MAX is 501 behind 500 modulo 2^32: old.
    let mut p = established_ts();
    p.send(TcpRepr {
        seq: IRS + 1,
        ack: ISS + 1,
        options: ts(u32::MAX, 0),
        payload: b"x",
        ..peer()
    });
    assert_eq!(p.c.stats().paws_drops, 1);
    assert_eq!(p.c.recv_queue(), 0);
}

#[test]
fn rfc7323_4_3_ts_recent_follows_in_order_segments_and_is_echoed() {
    let mut p = established_ts();
    p.send(TcpRepr {
        seq: IRS + 1,
        ack: ISS + 1,
        options: ts(600, our_ts(p.now)),
        payload: b"1",
        ..peer()
    });
    p.send(TcpRepr {
        seq: IRS + 2,
        ack: ISS + 1,
        options: ts(601, our_ts(p.now)),
        payload: b"2",
        ..peer()
    });
    // Two segments: ACK at once; it echoes TS.Recent. Last.ACK.sent was IRS+1 when the first
    // arrived, so 600 was taken; the second (SEQ=IRS+2 > Last.ACK.sent) leaves it at 600.
    p.expect(&[TcpRepr {
        seq: ISS + 1,
        ack: IRS + 3,
        window: RCV_BUF as u16 - 2,
        options: ts(our_ts(p.now), 600),
        ..ours()
    }]);
}

#[test]
fn rfc7323_4_1_every_ack_of_new_data_is_an_rtt_sample() {
    let mut p = established_ts();
    let sent_at = p.now;
    p.c.send(b"abc").unwrap();
    let _ = p.out();
    p.advance(Duration::from_millis(40));
    p.send(TcpRepr {
        seq: IRS + 1,
        ack: ISS + 4,
        options: ts(510, our_ts(sent_at)),
        ..peer()
    });
    // First sample 100 ms (the SYN,ACK), then 40 ms: SRTT = 7/8*100 + 1/8*40 = 92.5 ms.
    assert_eq!(p.c.srtt(), Some(Duration::from_micros(92_500)));
}

#[test]
fn rfc7323_payload_leaves_room_for_the_timestamp_option() {
    let mut p = established_ts();
    p.c.send(&[7u8; 3000]).unwrap();
    let out = p.out();
    assert!(out.len() >= 2);
    assert_eq!(out[0].payload.len(), usize::from(MSS) - 12);
}
