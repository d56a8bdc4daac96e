//! ICMP errors about our segments: RFC 5927 §4.1 (believe only a quoted sequence number in
//! SND.UNA..SND.NXT; hard errors abort only in SYN-SENT), RFC 1122 §4.2.3.9 (soft errors are
//! reported when the connection gives up) and RFC 1191/8201 (path MTU discovery).

use super::*;
use crate::tcp::{Error, IcmpError};

const PORT_UNREACHABLE: IcmpError = IcmpError::Unreachable {
    hard: true,
    port: true,
};
const HOST_UNREACHABLE: IcmpError = IcmpError::Unreachable {
    hard: false,
    port: false,
};

#[test]
fn rfc5927_4_1_a_hard_error_about_our_syn_aborts_the_connect_as_refused() {
    let mut p = syn_sent_state();
    assert!(p.c.handle_icmp_error(p.now, PORT_UNREACHABLE, ISS));
    p.state(State::Closed);
    assert_eq!(p.c.error(), Some(Error::Refused));
    p.expect_nothing();
}

#[test]
fn rfc5927_4_1_an_error_quoting_a_sequence_number_we_did_not_send_is_ignored() {
    let mut p = syn_sent_state();
    for seq in [ISS + 1, ISS - 1, ISS + 100_000] {
        assert!(
            !p.c.handle_icmp_error(p.now, PORT_UNREACHABLE, seq),
            "{seq:?}"
        );
    }
    p.state(State::SynSent);
    let mut p = established_state();
    assert_eq!(p.c.send(b"abc"), Ok(3));
    let _ = p.out();
    // SND.UNA = ISS+1, SND.NXT = ISS+4: ISS+4 itself is not outstanding.
    assert!(!p.c.handle_icmp_error(p.now, PORT_UNREACHABLE, ISS + 4));
    assert!(!p.c.handle_icmp_error(p.now, PORT_UNREACHABLE, ISS));
    p.state(State::Established);
}

#[test]
fn rfc5927_4_1_a_hard_error_on_an_established_connection_is_only_soft() {
    let mut p = established_state();
    assert_eq!(p.c.send(b"abc"), Ok(3));
    let _ = p.out();
    assert!(p.c.handle_icmp_error(p.now, PORT_UNREACHABLE, ISS + 1));
    p.state(State::Established);
    assert_eq!(p.c.error(), None);
}

#[test]
fn rfc1122_4_2_3_9_a_soft_error_is_what_a_connection_that_gives_up_reports() {
    let mut p = established_with(Config {
        max_retries: 2,
        ..cfg()
    });
    assert_eq!(p.c.send(b"x"), Ok(1));
    let _ = p.out();
    assert!(p.c.handle_icmp_error(p.now, HOST_UNREACHABLE, ISS + 1));
    p.state(State::Established);
    for _ in 0..3 {
        let t = p.c.poll_timeout().unwrap();
        p.at(t);
        let _ = p.out();
    }
    p.state(State::Closed);
    assert_eq!(p.c.error(), Some(Error::Unreachable));
}

#[test]
fn rfc1122_4_2_3_9_a_soft_error_while_connecting_waits_for_the_syn_retries() {
    let mut p = syn_sent_state();
    assert!(p.c.handle_icmp_error(p.now, HOST_UNREACHABLE, ISS));
    p.state(State::SynSent);
    while let Some(t) = p.c.poll_timeout() {
        p.at(t);
        let _ = p.out();
    }
    assert_eq!(p.c.error(), Some(Error::Unreachable));
}

#[test]
fn rfc1191_packet_too_big_shrinks_segments_and_resends_the_oldest_at_once() {
    let mut p = established_state();
    let data = pattern(2 * 1460);
    assert_eq!(p.c.send(&data), Ok(data.len()));
    assert_eq!(p.out().len(), 2);
    assert!(p.c.handle_icmp_error(p.now, IcmpError::PacketTooBig { mtu: 1280 }, ISS + 1));
    assert_eq!(p.c.max_payload(), 1240);
    p.expect(&[TcpRepr {
        seq: ISS + 1,
        ack: IRS + 1,
        payload: &data[..1240],
        ..ours()
    }]);
    // Larger MTUs later do not grow it back (that is PLPMTUD's job).
    assert!(p.c.handle_icmp_error(p.now, IcmpError::PacketTooBig { mtu: 1500 }, ISS + 1));
    assert_eq!(p.c.max_payload(), 1240);
}

#[test]
fn rfc1191_a_forged_tiny_mtu_is_floored_at_552_bytes() {
    let mut p = established_state();
    assert_eq!(p.c.send(&pattern(1460)), Ok(1460));
    let _ = p.out();
    assert!(p.c.handle_icmp_error(p.now, IcmpError::PacketTooBig { mtu: 68 }, ISS + 1));
    assert_eq!(p.c.max_payload(), 512);
}

#[test]
fn rfc4821_7_7_a_third_timeout_with_a_full_segment_out_halves_the_segment_size() {
    let mut p = established_state();
    let data = pattern(4 * 1460);
    assert_eq!(p.c.send(&data), Ok(data.len()));
    assert!(!p.out().is_empty());
    let mut resent = Vec::new();
    for _ in 0..3 {
        let t = p.c.poll_timeout().unwrap();
        p.at(t);
        resent.push(p.out().first().map(|s| s.payload.len()));
    }
    // Two timeouts resend full segments; the third suspects a black hole.
    assert_eq!(resent, [Some(1460), Some(1460), Some(1024)]);
    assert_eq!(p.c.tcb().send_mss, 1024);
    p.state(State::Established);
}

#[test]
fn black_hole_detection_leaves_small_segments_and_syns_alone_and_can_be_turned_off() {
    // One small segment outstanding: not a black-hole symptom.
    let mut p = established_state();
    assert_eq!(p.c.send(b"x"), Ok(1));
    let _ = p.out();
    for _ in 0..3 {
        let t = p.c.poll_timeout().unwrap();
        p.at(t);
        let _ = p.out();
    }
    assert_eq!(p.c.tcb().send_mss, 1460);
    // Turned off: full segments time out three times and keep their size.
    let mut p = established_with(Config {
        black_hole_detection: false,
        ..cfg()
    });
    assert_eq!(p.c.send(&pattern(2 * 1460)), Ok(2 * 1460));
    let _ = p.out();
    for _ in 0..3 {
        let t = p.c.poll_timeout().unwrap();
        p.at(t);
        let _ = p.out();
    }
    assert_eq!(p.c.tcb().send_mss, 1460);
}

// ---- RFC 4821 packetization-layer PMTUD: the search back up ----

/// The probe interval of these tests: ten seconds rather than ten minutes.
const INTERVAL: Duration = Duration::from_secs(10);

fn plpmtud_cfg() -> Config {
    Config {
        mtu_probe_interval: INTERVAL,
        ..cfg()
    }
}

/// `p` (just ESTABLISHED) after two full segments timed out three times, black-hole
/// detection lowered the segment size to 1024, and the peer acknowledged both: nothing is in
/// flight and the search rests until `p.now + INTERVAL`.
fn black_holed(mut p: Peer) -> Peer {
    let data = pattern(2 * 1460);
    assert_eq!(p.c.send(&data), Ok(data.len()));
    let _ = p.out();
    // The third retransmission timeout (with SACK, loss probes fire between them).
    while p.c.stats().timeouts < 3 {
        let t = p.c.poll_timeout().unwrap();
        p.at(t);
        let _ = p.out();
    }
    assert_eq!(p.c.tcb().send_mss, 1024);
    p.send(ack_of(ISS + 1 + data.len()));
    p.expect_nothing();
    p
}

/// The user sends `n` bytes and the peer acknowledges each segment as it arrives, until all
/// are: the payload lengths sent, in order.
fn transfer(p: &mut Peer, n: usize) -> Vec<usize> {
    assert_eq!(p.c.send(&pattern(n)), Ok(n));
    let mut lens = Vec::new();
    loop {
        let out = p.out();
        if out.is_empty() {
            break;
        }
        for s in &out {
            lens.push(s.payload.len());
            p.send(TcpRepr {
                seq: IRS + 1,
                ack: s.seq + s.payload.len(),
                ..peer()
            });
        }
    }
    assert_eq!(p.c.send_queue(), 0, "all acknowledged");
    lens
}

/// What [`black_holed`] leaves, after a 16 KiB transfer at the lowered size has grown the
/// window, at the end of the interval: the next new segment may be a probe.
fn interval_over(p: Peer) -> Peer {
    let mut p = black_holed(p);
    let reduced_at = p.now;
    // (With segmentation offload, in bursts of whole segments.)
    let lens = transfer(&mut p, 16 * 1024);
    assert!(
        lens.iter().all(|&n| n > 0 && n.is_multiple_of(1024)),
        "{lens:?}"
    );
    p.at(reduced_at + INTERVAL);
    p
}

/// Our data segment of `data` (queued from `una` on) from byte `from` to byte `to`.
fn data_at(data: &[u8], una: SeqNum, from: usize, to: usize) -> TcpRepr<'_> {
    TcpRepr {
        seq: una + from,
        ack: IRS + 1,
        payload: &data[from..to],
        ..ours()
    }
}

/// The peer's cumulative ACK of `ack`.
fn ack_of(ack: SeqNum) -> TcpRepr<'static> {
    TcpRepr {
        seq: IRS + 1,
        ack,
        ..peer()
    }
}

/// 8 KiB queued once the interval is over: the probe at the negotiated MSS, then three
/// segments of the lowered size (whose duplicate ACKs would report the probe's loss), all
/// cwnd admits. Returns SND.UNA before them and the data.
fn probe_sent(p: &mut Peer) -> (SeqNum, Vec<u8>) {
    let una = p.c.tcb().snd_una;
    let data = pattern(8 * 1024);
    assert_eq!(p.c.send(&data), Ok(data.len()));
    p.expect(&[
        data_at(&data, una, 0, 1460),
        data_at(&data, una, 1460, 2484),
        data_at(&data, una, 2484, 3508),
        data_at(&data, una, 3508, 4532),
    ]);
    assert_eq!(
        p.c.tcb().send_mss,
        1024,
        "not before the probe is acknowledged"
    );
    (una, data)
}

#[test]
fn rfc4821_search_raises_the_segment_size_after_the_probe_interval_when_the_probe_is_acked() {
    let mut p = interval_over(established_with(plpmtud_cfg()));
    let (una, data) = probe_sent(&mut p);
    p.send(ack_of(una + 1460));
    assert_eq!(p.c.tcb().send_mss, 1460);
    assert_eq!(p.c.stats().mtu_probes_acked, 1);
    assert!(
        p.c.rare.plpmtud().is_none(),
        "back at the negotiated MSS: nothing left to search"
    );
    // What follows goes at the full size.
    p.expect(&[data_at(&data, una, 4532, 5992)]);
}

#[test]
fn rfc4821_search_no_probe_before_the_interval() {
    let mut p = black_holed(established_with(plpmtud_cfg()));
    let reduced_at = p.now;
    // Nothing is armed for the search: an idle connection is not woken for it.
    while let Some(t) = p.c.poll_timeout() {
        p.at(t);
    }
    p.at(reduced_at + INTERVAL - ms(1));
    assert!(transfer(&mut p, 16 * 1024).iter().all(|&n| n == 1024));
    assert!(transfer(&mut p, 16 * 1024).iter().all(|&n| n == 1024));
    p.at(reduced_at + INTERVAL);
    assert_eq!(transfer(&mut p, 16 * 1024).first(), Some(&1460));
    assert_eq!(p.c.tcb().send_mss, 1460);
}

/// After [`probe_sent`]: the probe is dropped, the three after it arrive. Three duplicate
/// ACKs resend the probe's bytes at the lowered size, without a recovery; then everything
/// is acknowledged (the output is not drained).
fn probe_lost(p: &mut Peer, una: SeqNum, data: &[u8]) {
    let (cwnd, ssthresh) = (p.c.cwnd(), p.c.ssthresh());
    for _ in 0..3 {
        p.send(ack_of(una));
    }
    p.expect(&[data_at(data, una, 0, 1024)]);
    assert_eq!(p.c.tcb().send_mss, 1024, "the size known to work");
    assert_eq!(p.c.stats().mtu_probes_lost, 1);
    // A probe too big for the path says nothing of congestion.
    assert!(!p.c.in_recovery());
    assert_eq!((p.c.cwnd(), p.c.ssthresh()), (cwnd, ssthresh));
    assert_eq!(p.c.stats().fast_retransmits, 0);
    // Its ACK sends the rest of the probe's bytes at once, as a partial ACK would. New data
    // waits: the next probe is due, and cwnd has no room yet for it and three after it.
    p.send(ack_of(una + 1024));
    p.expect(&[data_at(data, una, 1024, 2048)]);
    p.send(ack_of(una + 4532));
    assert_eq!(p.c.tcb().send_mss, 1024);
}

#[test]
fn rfc4821_search_a_lost_probe_keeps_the_lower_size_and_narrows_the_range() {
    let mut p = interval_over(established_with(plpmtud_cfg()));
    let (una, data) = probe_sent(&mut p);
    probe_lost(&mut p, una, &data);
    // The range is now (1024, 1459]: the next probe goes without waiting, at its midpoint
    // 1024 + ⌈435 / 2⌉ = 1242, three segments of 1024 after it.
    let all = [data, pattern(4096)].concat();
    assert_eq!(p.c.send(&all[8192..]), Ok(4096));
    p.expect(&[
        data_at(&all, una, 4532, 5774),
        data_at(&all, una, 5774, 6798),
        data_at(&all, una, 6798, 7822),
        data_at(&all, una, 7822, 8846),
    ]);
    p.send(ack_of(una + 5774));
    assert_eq!(p.c.tcb().send_mss, 1242);
    assert_eq!(p.c.stats().mtu_probes_acked, 1);
}

#[test]
fn rfc4821_search_with_sack_a_lost_probe_is_resent_without_a_recovery() {
    let mut p = interval_over(super::sack::established_sack_with(Config {
        sack: true,
        ..plpmtud_cfg()
    }));
    let (una, data) = probe_sent(&mut p);
    let (cwnd, ssthresh) = (p.c.cwnd(), p.c.ssthresh());
    // 50 ms on, the segment after the probe is SACKed: RACK finds the probe lost, and
    // nothing else. NextSeg resends its two pieces at the lowered size (new data waits for
    // room for the next probe).
    p.advance(ms(50));
    let mut sack_blocks = crate::wire::tcp::SackBlocks::default();
    sack_blocks.push(una + 1460, una + 2484);
    p.send(TcpRepr {
        options: TcpOptions {
            sack_blocks,
            ..TcpOptions::default()
        },
        ..ack_of(una)
    });
    p.expect(&[
        data_at(&data, una, 0, 1024),
        data_at(&data, una, 1024, 1460),
    ]);
    assert_eq!(p.c.stats().mtu_probes_lost, 1);
    assert!(!p.c.in_recovery());
    assert_eq!((p.c.cwnd(), p.c.ssthresh()), (cwnd, ssthresh));
    assert_eq!(p.c.stats().sack_recoveries, 0);
    assert_eq!(p.c.tcb().send_mss, 1024);
}

#[test]
fn rfc4821_search_stops_when_the_range_is_narrow() {
    let mut p = interval_over(established_with(plpmtud_cfg()));
    let (una, data) = probe_sent(&mut p);
    probe_lost(&mut p, una, &data);
    // (1024, 1459] is halved, a probe going as soon as the last one is acknowledged and
    // cwnd has room for it and three segments of the size before: 1242, 1351, 1405, 1432,
    // 1446, 1453.
    assert_eq!(transfer(&mut p, 0), [1242, 1024, 1024, 370]);
    assert_eq!(p.c.tcb().send_mss, 1242);
    let lens = transfer(&mut p, 16 * 1024);
    assert_eq!(
        lens,
        [
            1351, 1242, 1242, 1242, 1351, 1351, 1351, 1351, 1405, 1351, 1351, 1351, 445
        ]
    );
    let lens = transfer(&mut p, 16 * 1024);
    assert_eq!(
        lens,
        [
            1432, 1405, 1405, 1405, 1446, 1432, 1432, 1432, 1453, 1446, 1446, 650
        ]
    );
    // (1453, 1459] is narrower than 8 bytes: the search rests.
    assert_eq!(p.c.tcb().send_mss, 1453);
    let s = p.c.stats();
    assert_eq!((s.mtu_probes_acked, s.mtu_probes_lost), (6, 1));
    let rested_at = p.now;
    let mut rest = vec![1453; 11];
    rest.push(401);
    assert_eq!(transfer(&mut p, 16 * 1024), rest);
    p.at(rested_at + INTERVAL - ms(1));
    assert_eq!(transfer(&mut p, 16 * 1024), rest);
    // The next round starts again from the top: the path may carry it by now.
    p.at(rested_at + INTERVAL);
    assert_eq!(transfer(&mut p, 16 * 1024).first(), Some(&1460));
    assert_eq!(p.c.tcb().send_mss, 1460);
    assert!(p.c.rare.plpmtud().is_none());
}

#[test]
fn rfc8201_4_a_size_lowered_by_packet_too_big_is_probed_again_after_the_interval() {
    let mut p = established_with(plpmtud_cfg());
    let data = pattern(2 * 1460);
    assert_eq!(p.c.send(&data), Ok(data.len()));
    assert_eq!(p.out().len(), 2);
    assert!(p.c.handle_icmp_error(p.now, IcmpError::PacketTooBig { mtu: 1280 }, ISS + 1));
    p.expect(&[data_at(&data, ISS + 1, 0, 1240)]);
    p.send(ack_of(ISS + 1 + data.len()));
    let lowered_at = p.now;
    assert!(transfer(&mut p, 16 * 1024).iter().all(|&n| n <= 1240));
    p.at(lowered_at + INTERVAL);
    assert_eq!(transfer(&mut p, 16 * 1024).first(), Some(&1460));
    assert_eq!(p.c.tcb().send_mss, 1460);
    assert_eq!(p.c.stats().mtu_probes_acked, 1);
}

#[test]
fn rfc4821_search_a_packet_too_big_about_a_probe_caps_the_search() {
    let mut p = interval_over(established_with(plpmtud_cfg()));
    let (una, data) = probe_sent(&mut p);
    // A router's next hop carries 1400-byte packets (MSS 1360): the probe was too big.
    assert!(p.c.handle_icmp_error(p.now, IcmpError::PacketTooBig { mtu: 1400 }, una));
    assert_eq!(p.c.tcb().send_mss, 1024, "the size that works stays");
    p.expect_nothing();
    probe_lost(&mut p, una, &data);
    // The next probe halves (1024, 1360], not (1024, 1459]: 1024 + 168.
    assert_eq!(p.out()[0], Seg::from(data_at(&data, una, 4532, 5724)));
}

#[test]
fn rfc4821_search_a_probe_reaches_a_segmenting_device_whole() {
    let mut p = interval_over(established_with(Config {
        tso_max: 64 * 1024,
        ..plpmtud_cfg()
    }));
    assert_eq!(p.c.send(&pattern(8 * 1024)), Ok(8 * 1024));
    // (payload, what a device may cut it into): the probe whole, then a burst of 1024s.
    let mut sent = Vec::new();
    while let Some(seg) = p.c.poll_transmit(p.now) {
        let len = seg.payload.len();
        sent.push((len, p.c.segment_size()));
    }
    assert_eq!(sent, [(1460, 1460), (4 * 1024, 1024)]);
}
