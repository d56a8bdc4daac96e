//! Selective acknowledgments: negotiation (RFC 2018 §2), the receiver's SACK blocks
//! (RFC 2018 §4) and D-SACK (RFC 2883), and SACK-based loss recovery (RFC 6675).

use super::*;
use crate::wire::tcp::{SackBlocks, Timestamps};

fn sack_cfg() -> Config {
    Config {
        sack: true,
        ..cfg()
    }
}

fn sack_syn_options() -> TcpOptions {
    TcpOptions {
        sack_permitted: true,
        ..syn_options()
    }
}

/// ESTABLISHED with SACK negotiated (our SYN and the peer's SYN,ACK both offered it).
pub(super) fn established_sack() -> Peer {
    established_sack_with(sack_cfg())
}

pub(super) fn established_sack_with(cfg: Config) -> Peer {
    established_sack_after(cfg, HANDSHAKE_RTT)
}

/// ESTABLISHED with SACK negotiated, the SYN,ACK arriving `rtt` after our SYN (SRTT = `rtt`).
fn established_sack_after(cfg: Config, rtt: Duration) -> Peer {
    let mut p = Peer::new(Connection::connect(cfg, LOCAL, REMOTE, ISS));
    p.expect(&[TcpRepr {
        seq: ISS,
        flags: TcpFlags::SYN,
        options: sack_syn_options(),
        ..ours()
    }]);
    p.at(Instant::ZERO + rtt);
    p.send(TcpRepr {
        seq: IRS,
        ack: ISS + 1,
        flags: TcpFlags::SYN | TcpFlags::ACK,
        options: sack_syn_options(),
        ..peer()
    });
    p.state(State::Established);
    assert!(p.c.tcb().sack_ok);
    p.expect(&[TcpRepr {
        seq: ISS + 1,
        ack: IRS + 1,
        ..ours()
    }]);
    p
}

fn peer_ts() -> TcpOptions {
    TcpOptions {
        timestamps: Some(Timestamps { tsval: 5, tsecr: 0 }),
        ..TcpOptions::default()
    }
}

/// ESTABLISHED with SACK and timestamps negotiated.
fn established_sack_ts() -> Peer {
    let cfg = Config {
        timestamps: true,
        ..sack_cfg()
    };
    let mut p = Peer::new(Connection::connect(cfg, LOCAL, REMOTE, ISS));
    assert_eq!(p.out().len(), 1);
    p.send(TcpRepr {
        seq: IRS,
        ack: ISS + 1,
        flags: TcpFlags::SYN | TcpFlags::ACK,
        options: TcpOptions {
            timestamps: Some(Timestamps { tsval: 1, tsecr: 0 }),
            ..sack_syn_options()
        },
        ..peer()
    });
    p.state(State::Established);
    assert!(p.c.tcb().sack_ok && p.c.tcb().ts_ok);
    assert_eq!(p.out().len(), 1);
    p
}

#[test]
fn rfc2018_2_syn_offers_sack_permitted_and_both_offers_enable_it() {
    let p = established_sack();
    assert!(p.c.tcb().sack_ok);
}

#[test]
fn rfc2018_2_sack_is_off_unless_the_peer_offers_it_too() {
    let mut p = Peer::new(Connection::connect(sack_cfg(), LOCAL, REMOTE, ISS));
    p.expect(&[TcpRepr {
        seq: ISS,
        flags: TcpFlags::SYN,
        options: sack_syn_options(),
        ..ours()
    }]);
    p.send(TcpRepr {
        seq: IRS,
        ack: ISS + 1,
        flags: TcpFlags::SYN | TcpFlags::ACK,
        options: syn_options(),
        ..peer()
    });
    p.state(State::Established);
    assert!(!p.c.tcb().sack_ok);
}

#[test]
fn rfc2018_2_syn_ack_carries_sack_permitted_only_if_the_syn_did() {
    for (offered, want) in [(true, true), (false, false)] {
        let mut p = listen_with(sack_cfg());
        let options = if offered {
            sack_syn_options()
        } else {
            syn_options()
        };
        p.send(TcpRepr {
            seq: IRS,
            flags: TcpFlags::SYN,
            options,
            ..peer()
        });
        p.expect(&[TcpRepr {
            seq: ISS,
            ack: IRS + 1,
            flags: TcpFlags::SYN | TcpFlags::ACK,
            options: TcpOptions {
                sack_permitted: want,
                ..syn_options()
            },
            ..ours()
        }]);
        assert_eq!(p.c.tcb().sack_ok, want);
    }
}

#[test]
fn rfc2018_2_config_sack_off_neither_offers_nor_accepts() {
    let mut p = listen_state();
    p.send(TcpRepr {
        seq: IRS,
        flags: TcpFlags::SYN,
        options: sack_syn_options(),
        ..peer()
    });
    p.expect(&[TcpRepr {
        seq: ISS,
        ack: IRS + 1,
        flags: TcpFlags::SYN | TcpFlags::ACK,
        options: syn_options(),
        ..ours()
    }]);
    assert!(!p.c.tcb().sack_ok);
}

/// Our ACK at `ack` with our window `wnd` and these SACK blocks (offsets from IRS).
fn sack_ack(ack: SeqNum, wnd: usize, blocks: &[(usize, usize)]) -> TcpRepr<'static> {
    let mut sack_blocks = SackBlocks::default();
    for &(l, r) in blocks {
        sack_blocks.push(IRS + l, IRS + r);
    }
    TcpRepr {
        seq: ISS + 1,
        ack,
        window: wnd as u16,
        options: TcpOptions {
            sack_blocks,
            ..TcpOptions::default()
        },
        ..ours()
    }
}

#[test]
fn rfc2018_4_out_of_order_data_is_acked_at_once_with_its_block() {
    let mut p = established_sack();
    p.send(peer_data(IRS + 101, ISS + 1, &[1; 100]));
    p.expect(&[sack_ack(IRS + 1, RCV_BUF, &[(101, 201)])]);
}

#[test]
fn rfc2018_4_sack_blocks_report_most_recent_first() {
    let mut p = established_sack();
    let mut out = Vec::new();
    for i in 0..5 {
        p.send(peer_data(IRS + 101 + 200 * i, ISS + 1, &[1; 100]));
        out = p.out();
        assert_eq!(
            out.len(),
            1,
            "an immediate ACK for each out-of-order segment"
        );
    }
    assert_eq!(
        out[0],
        Seg::from(sack_ack(
            IRS + 1,
            RCV_BUF,
            &[(901, 1001), (701, 801), (501, 601), (301, 401)]
        ))
    );
    // A segment extending an older block moves that block to the front.
    p.send(peer_data(IRS + 201, ISS + 1, &[1; 50]));
    p.expect(&[sack_ack(
        IRS + 1,
        RCV_BUF,
        &[(101, 251), (901, 1001), (701, 801), (501, 601)],
    )]);
    // The hole at the front is filled: the reported blocks shrink to what is left.
    p.send(peer_data(IRS + 1, ISS + 1, &[1; 100]));
    p.expect(&[sack_ack(
        IRS + 251,
        RCV_BUF - 250,
        &[(901, 1001), (701, 801), (501, 601), (301, 401)],
    )]);
}

#[test]
fn rfc2018_4_with_timestamps_only_three_blocks_fit() {
    let mut p = established_sack_ts();
    for i in 0..4 {
        p.send(TcpRepr {
            options: peer_ts(),
            ..peer_data(IRS + 101 + 200 * i, ISS + 1, &[1; 100])
        });
    }
    let out = p.out();
    let last = out.last().unwrap();
    assert_eq!(last.ack, IRS + 1);
    assert!(last.options.timestamps.is_some());
    let want: Vec<_> = [(701, 801), (501, 601), (301, 401)]
        .iter()
        .map(|&(l, r)| (IRS + l, IRS + r))
        .collect();
    assert_eq!(last.options.sack_blocks.as_slice(), &want[..]);
}

#[test]
fn rfc2883_4_duplicate_below_rcv_nxt_is_reported_in_a_dsack_block() {
    let mut p = established_sack();
    p.send(peer_data(IRS + 1, ISS + 1, &[1; 100]));
    p.send(peer_data(IRS + 101, ISS + 1, &[1; 100]));
    p.expect(&[sack_ack(IRS + 201, RCV_BUF - 200, &[])]);
    // The peer retransmits the first segment (our ACK was lost): D-SACK, at once.
    p.send(peer_data(IRS + 1, ISS + 1, &[1; 100]));
    p.expect(&[sack_ack(IRS + 201, RCV_BUF - 200, &[(1, 101)])]);
    // Reported once only.
    p.send(peer_data(IRS + 201, ISS + 1, &[1; 100]));
    p.send(peer_data(IRS + 301, ISS + 1, &[1; 100]));
    p.expect(&[sack_ack(IRS + 401, RCV_BUF - 400, &[])]);
}

#[test]
fn rfc2883_4_partial_duplicate_reports_only_the_duplicated_part() {
    let mut p = established_sack();
    p.send(peer_data(IRS + 1, ISS + 1, &[1; 100]));
    p.send(peer_data(IRS + 51, ISS + 1, &[1; 100]));
    p.expect(&[sack_ack(IRS + 151, RCV_BUF - 150, &[(51, 101)])]);
}

#[test]
fn rfc2883_4_duplicate_out_of_order_data_is_followed_by_its_block() {
    let mut p = established_sack();
    p.send(peer_data(IRS + 101, ISS + 1, &[1; 200]));
    p.send(peer_data(IRS + 501, ISS + 1, &[1; 100]));
    p.out();
    p.send(peer_data(IRS + 201, ISS + 1, &[1; 100]));
    p.expect(&[sack_ack(
        IRS + 1,
        RCV_BUF,
        &[(201, 301), (101, 301), (501, 601)],
    )]);
}

#[test]
fn rfc2018_no_sack_blocks_when_sack_was_not_negotiated() {
    let mut p = established_state();
    p.send(peer_data(IRS + 101, ISS + 1, &[1; 100]));
    p.expect(&[sack_ack(IRS + 1, RCV_BUF, &[])]);
}

#[test]
fn sack_and_rack_cost_an_idle_connection_48_bytes_inline_and_no_heap() {
    use core::mem::size_of;
    let (loss, report) = (
        size_of::<super::super::loss::Loss>(),
        size_of::<super::super::sack_report::SackReport>(),
    );
    eprintln!(
        "size_of::<Connection>() = {}, of which Loss {loss}, SackReport {report}",
        size_of::<Connection>()
    );
    assert!(
        loss <= 16 && report <= 32,
        "Loss {loss}, SackReport {report}"
    );
    let mut p = established_sack();
    p.c.send(&[7; 100]).unwrap();
    p.out();
    assert!(
        p.c.loss.allocated_bytes() > 0,
        "data in flight: a flight is allocated"
    );
    p.send(peer_sack(ISS + 101, &[]));
    assert_eq!(p.c.loss.allocated_bytes(), 0, "all acknowledged: released");
}

// ---- the sender: SACK-based recovery (RFC 6675) and RACK-TLP (RFC 8985) ----

const SEG: usize = MSS as usize;

/// Segment `i` of a transfer starting at ISS + 1: `[start, end)`.
fn seg(i: usize) -> (SeqNum, SeqNum) {
    (ISS + 1 + i * SEG, ISS + 1 + (i + 1) * SEG)
}

/// The peer's ACK of `ack` with SACK blocks.
fn peer_sack(ack: SeqNum, blocks: &[(SeqNum, SeqNum)]) -> TcpRepr<'static> {
    let mut sack_blocks = SackBlocks::default();
    for &(l, r) in blocks {
        sack_blocks.push(l, r);
    }
    TcpRepr {
        seq: IRS + 1,
        ack,
        options: TcpOptions {
            sack_blocks,
            ..TcpOptions::default()
        },
        ..peer()
    }
}

/// Our data segment `i` of `data` (PSH on the last one).
fn data_seg(data: &[u8], i: usize) -> TcpRepr<'_> {
    let end = ((i + 1) * SEG).min(data.len());
    TcpRepr {
        seq: seg(i).0,
        ack: IRS + 1,
        flags: if end == data.len() {
            TcpFlags::ACK | TcpFlags::PSH
        } else {
            TcpFlags::ACK
        },
        payload: &data[i * SEG..end],
        ..ours()
    }
}

/// Our data segment `i` of `data`, the last one, carrying our FIN too.
fn data_fin_seg(data: &[u8], i: usize) -> TcpRepr<'_> {
    TcpRepr {
        flags: TcpFlags::ACK | TcpFlags::PSH | TcpFlags::FIN,
        ..data_seg(data, i)
    }
}

/// SACK negotiated, SRTT 100 ms from the handshake, and `n` full segments sent at 100 ms.
fn in_flight(n: usize) -> (Peer, Vec<u8>) {
    let mut p = established_sack();
    let data = pattern(n * SEG);
    assert_eq!(p.c.send(&data), Ok(data.len()));
    let out = p.out();
    assert_eq!(out.len(), n);
    (p, data)
}

#[test]
fn rfc6675_three_sacked_segments_above_a_hole_start_recovery_and_retransmit_it() {
    let (mut p, data) = in_flight(5);
    p.advance(ms(50));
    p.send(peer_sack(ISS + 1, &[(seg(1).0, seg(1).1)]));
    p.expect_nothing();
    p.send(peer_sack(ISS + 1, &[(seg(1).0, seg(2).1)]));
    p.expect_nothing();
    assert!(!p.c.in_recovery());
    // The third SACKed segment: DupThresh reached, the hole at SND.UNA is lost.
    p.send(peer_sack(ISS + 1, &[(seg(1).0, seg(3).1)]));
    p.expect(&[data_seg(&data, 0)]);
    assert!(p.c.in_recovery());
    let s = p.c.stats();
    assert_eq!((s.sack_recoveries, s.retransmits, s.timeouts), (1, 1, 0));
    // The cumulative ACK reaches RecoveryPoint (SND.MAX): recovery ends, cwnd = ssthresh.
    p.advance(ms(50));
    p.send(peer_sack(seg(4).1, &[]));
    assert!(!p.c.in_recovery());
    assert_eq!(p.c.cwnd(), p.c.ssthresh());
    assert_eq!(
        p.c.loss.allocated_bytes(),
        0,
        "nothing outstanding: no scoreboard memory"
    );
    p.expect_nothing();
}

#[test]
fn rfc8985_6_2_reordering_within_the_window_is_not_a_loss() {
    let (mut p, _) = in_flight(5);
    p.advance(ms(50));
    p.send(peer_sack(ISS + 1, &[(seg(1).0, seg(1).1)]));
    p.expect_nothing();
    // The "missing" segment arrives 5 ms later, inside RACK's min_RTT/4 window.
    p.advance(ms(5));
    p.send(peer_sack(seg(1).1, &[]));
    assert!(p.c.loss.rack.reordering_seen());
    p.advance(ms(20));
    p.expect_nothing();
    assert_eq!(p.c.stats().retransmits, 0);
}

#[test]
fn rfc8985_6_2_the_rack_timer_marks_a_lone_hole_lost_after_rtt_plus_reo_wnd() {
    let (mut p, data) = in_flight(5);
    p.advance(ms(50));
    p.send(peer_sack(ISS + 1, &[(seg(1).0, seg(1).1)]));
    p.expect_nothing();
    // Segment 0 went out at 100 ms; RACK.rtt is 50 ms and reo_wnd min_RTT/4 = 12.5 ms.
    p.at(Instant::from_micros(162_499));
    p.expect_nothing();
    p.at(Instant::from_micros(162_500));
    p.expect(&[data_seg(&data, 0)]);
    assert!(p.c.in_recovery());
    assert_eq!(p.c.stats().rack_lost_bytes, SEG as u64);
}

#[test]
fn rfc8985_7_tail_loss_probe_resends_the_last_segment_then_rack_repairs_the_tail() {
    let (mut p, data) = in_flight(2);
    // PTO = 2·SRTT + 2 ms = 202 ms after the last transmission, before the RTO (300 ms).
    p.at(Instant::from_micros(301_999));
    p.expect_nothing();
    p.at(at(302));
    p.expect(&[data_seg(&data, 1)]);
    assert_eq!(p.c.stats().tlp_probes, 1);
    // The probe's SACK shows segment 0 missing: RACK marks it lost, recovery resends it.
    p.at(at(350));
    p.send(peer_sack(ISS + 1, &[seg(1)]));
    p.expect(&[data_seg(&data, 0)]);
    p.at(at(400));
    p.send(peer_sack(seg(1).1, &[]));
    assert!(!p.c.in_recovery());
    let s = p.c.stats();
    assert_eq!((s.timeouts, s.retransmits, s.sack_recoveries), (0, 2, 1));
}

/// The round trip over a TUN device or loopback: tens of microseconds.
const FAST_RTT: Duration = Duration::from_micros(20);

#[test]
fn rfc8985_7_2_a_probe_over_a_microsecond_round_trip_still_waits_2_srtt_plus_2_ms() {
    let mut p = established_sack_after(sack_cfg(), FAST_RTT);
    let data = pattern(3 * SEG);
    assert_eq!(p.c.send(&data), Ok(data.len()));
    assert_eq!(p.out().len(), 3);
    // 2·SRTT is 40 µs, less than either end takes to be scheduled: the ACK cannot be
    // overdue that soon. Linux waits 2·SRTT + 2 ms (TCP_TIMEOUT_MIN).
    let sent = p.now;
    assert_eq!(p.c.poll_timeout(), Some(sent + FAST_RTT * 2 + ms(2)));
    p.at(sent + ms(2));
    p.expect_nothing();
    p.at(sent + FAST_RTT * 2 + ms(2));
    p.expect(&[data_seg(&data, 2)]);
    assert_eq!(p.c.stats().tlp_probes, 1);
}

#[test]
fn rfc8985_7_2_a_tail_with_a_fin_acked_a_millisecond_later_over_a_fast_link_is_sent_once() {
    let mut p = established_sack_after(sack_cfg(), FAST_RTT);
    let data = pattern(2 * SEG);
    assert_eq!(p.c.send(&data), Ok(data.len()));
    p.c.close();
    let tail = data_fin_seg(&data, 1);
    p.expect(&[data_seg(&data, 0), tail]);
    // The peer takes a millisecond to answer: 50 × SRTT, yet no reason to probe (the probe
    // used to resend the FIN 40 µs after it left, on every connection).
    p.advance(ms(1));
    p.expect_nothing();
    p.send(TcpRepr {
        seq: IRS + 1,
        ack: seg(1).1 + 1,
        ..peer()
    });
    p.state(State::FinWait2);
    p.advance(ms(500));
    p.expect_nothing();
    let s = p.c.stats();
    assert_eq!((s.tlp_probes, s.retransmits, s.timeouts), (0, 0, 0));
}

#[test]
fn rfc8985_7_2_a_lone_small_segment_with_its_fin_waits_for_a_delayed_ack_before_a_probe() {
    let mut p = established_sack_after(sack_cfg(), FAST_RTT);
    let data = pattern(100);
    assert_eq!(p.c.send(&data), Ok(data.len()));
    p.c.close();
    p.expect(&[data_fin_seg(&data, 0)]);
    // One segment: the receiver may delay its ACK (Linux does, after a FIN, expecting its
    // application to answer), so the probe waits WCDelAckT (200 ms), here capped by the RTO.
    p.advance(ms(199));
    p.expect_nothing();
    assert_eq!(p.c.stats().tlp_probes, 0);
}

#[test]
fn rfc6675_5_1_rto_resends_only_what_was_not_sacked() {
    let (mut p, data) = in_flight(5);
    p.advance(ms(50));
    // Segments 1–4 SACKed: segment 0 is lost and resent at once...
    p.send(peer_sack(ISS + 1, &[(seg(1).0, seg(4).1)]));
    p.expect(&[data_seg(&data, 0)]);
    // ...and the retransmission is lost too: the RTO (armed at 100 ms, 300 ms) fires.
    p.at(at(400));
    p.expect(&[data_seg(&data, 0)]);
    let s = p.c.stats();
    assert_eq!((s.timeouts, s.retransmits), (1, 2));
    assert_eq!(p.c.cwnd(), SEG);
    p.at(at(450));
    p.send(peer_sack(seg(4).1, &[]));
    p.expect_nothing();
    assert_eq!(p.c.send_queue(), 0);
}

#[test]
fn rfc2018_sack_blocks_outside_snd_una_snd_max_are_ignored() {
    let (mut p, _) = in_flight(2);
    p.advance(ms(50));
    let beyond = (seg(2).0, seg(5).1);
    let below = (ISS + 1 - 3000, ISS + 1 - 1000);
    // (Two duplicate ACKs: a third would start recovery on DupThresh alone.)
    p.send(peer_sack(ISS + 1, &[beyond, below]));
    p.send(peer_sack(ISS + 1, &[beyond]));
    p.expect_nothing();
    assert!(!p.c.in_recovery());
    assert!(p.c.loss.sb.is_empty());
    assert_eq!(p.c.stats().sack_blocks_invalid, 3);
}

#[test]
fn rfc2018_data_segments_leave_room_for_the_sack_blocks_they_carry() {
    let mut p = established_sack();
    p.send(peer_data(IRS + 101, ISS + 1, &[1; 100]));
    p.out();
    let data = pattern(SEG);
    p.c.send(&data).unwrap();
    let out = p.out();
    assert_eq!(
        out[0].payload.len(),
        SEG - 12,
        "one SACK block: 2 NOPs + 10 bytes"
    );
    assert_eq!(out[0].options.sack_blocks.len(), 1);
}

#[test]
fn rfc6675_5_dupthresh_duplicate_acks_without_sack_blocks_still_start_recovery() {
    let (mut p, data) = in_flight(5);
    p.advance(ms(50));
    p.send(peer_sack(ISS + 1, &[]));
    p.send(peer_sack(ISS + 1, &[]));
    p.expect_nothing();
    p.send(peer_sack(ISS + 1, &[]));
    p.expect(&[data_seg(&data, 0)]);
    assert!(p.c.in_recovery());
}

#[test]
fn rfc6675_a_segmentation_offload_burst_is_logged_and_repaired_per_mss() {
    let mut p = established_sack_with(Config {
        tso_max: 4 * SEG,
        ..sack_cfg()
    });
    let data = pattern(4 * SEG);
    assert_eq!(p.c.send(&data), Ok(4 * SEG));
    let out = p.out();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].payload.len(), 4 * SEG);
    assert_eq!(
        p.c.loss.rack.log().len(),
        4,
        "one record per MSS the peer will SACK"
    );
    // The peer got all but the first MSS: only that is resent.
    p.advance(ms(50));
    p.send(peer_sack(ISS + 1, &[(seg(1).0, seg(3).1)]));
    p.expect(&[data_seg(&data, 0)]);
}

/// Two full segments, the second with our FIN, sent at 100 ms; the first is acknowledged
/// at 150 ms and the second lost.
fn lost_tail_with_fin() -> (Peer, Vec<u8>) {
    // The tail goes again at full size on every timeout: black-hole detection (which halves
    // the segment size at the third) is off, as these tests are about RFC 6675's window.
    let mut p = established_sack_with(Config {
        black_hole_detection: false,
        ..sack_cfg()
    });
    let data = pattern(2 * SEG);
    assert_eq!(p.c.send(&data), Ok(data.len()));
    p.c.close();
    let tail = data_fin_seg(&data, 1);
    p.expect(&[data_seg(&data, 0), tail]);
    p.advance(ms(50));
    p.send(peer_sack(seg(1).0, &[]));
    p.expect_nothing();
    (p, data)
}

#[test]
fn rfc8985_7_3_the_loss_probe_of_a_tail_with_a_fin_carries_its_data_too() {
    let (mut p, data) = lost_tail_with_fin();
    let tail = data_fin_seg(&data, 1);
    // PTO = 2·SRTT after the ACK: the probe resends the whole last segment, not the FIN alone.
    p.advance(ms(300));
    p.expect(&[tail]);
    assert_eq!(p.c.stats().tlp_probes, 1);
}

#[test]
fn rfc6675_5_1_after_an_rto_a_one_mss_window_resends_a_lost_segment_that_carries_the_fin() {
    let (mut p, data) = lost_tail_with_fin();
    let tail = data_fin_seg(&data, 1);
    // The probe is lost too; every RTO resends the segment (MSS bytes + FIN) in a window of
    // one MSS. It used to need MSS + 1 of room and never went.
    p.advance(ms(300));
    p.expect(&[tail]);
    for timeouts in 1..=3 {
        let due = p.c.poll_timeout().expect("the RTO is armed");
        p.at(due);
        // Everything is marked lost and nothing is in flight until the drain resends it:
        // a drain that sent nothing would leave exactly this, the stall of issue 18.
        assert_eq!(
            p.c.check_liveness(),
            Err(crate::tcp::Stall::LostNotResent {
                state: State::FinWait1,
                lost: SEG + 1
            })
        );
        p.expect(&[tail]);
        assert_eq!(p.c.cwnd(), SEG);
        assert_eq!(p.c.stats().timeouts, timeouts);
    }
    p.send(TcpRepr {
        seq: IRS + 1,
        ack: seg(1).1 + 1,
        ..peer()
    });
    p.state(State::FinWait2);
}
