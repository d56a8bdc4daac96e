//! [`infer`] on hand-written segments: bytes are the unique sequence space each way, and a
//! retransmission cut at other boundaries than the original is marked as one.

use crate::tcp::{SeqNum, State};
use crate::trace::capture::Segment;
use crate::trace::conn::Connection;
use crate::trace::infer::{Dir, Ending, Ladder, Marks, infer};
use crate::wire::TcpFlags;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

/// The client (TEST-NET-1, RFC 5737).
const A: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 49152));
/// The server.
const B: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), 80));

const ACK: TcpFlags = TcpFlags::ACK;

/// One segment `from` A (or B) at `t` µs: `flags`, absolute `seq` and `ack`, `len` bytes.
fn seg(t: u64, from: Dir, flags: TcpFlags, seq: SeqNum, ack: SeqNum, len: u32) -> Segment {
    let (src, dst) = match from {
        Dir::AtoB => (A, B),
        Dir::BtoA => (B, A),
    };
    Segment {
        time_us: 1_000_000 + t,
        src,
        dst,
        flags,
        seq,
        ack,
        len,
        window: 65535,
        mss: flags.syn().then_some(1460),
        window_scale: None,
        sack_permitted: false,
        timestamps: None,
        sack_blocks: Default::default(),
    }
}

fn ladder(segments: Vec<Segment>) -> Ladder {
    infer(&Connection {
        number: 1,
        a: A,
        b: B,
        segments,
    })
}

/// SYN, SYN,ACK, ACK with ISNs `x` and `y`.
fn handshake(x: SeqNum, y: SeqNum) -> Vec<Segment> {
    vec![
        seg(0, Dir::AtoB, TcpFlags::SYN, x, SeqNum::new(0), 0),
        seg(100, Dir::BtoA, TcpFlags::SYN | ACK, y, x + 1, 0),
        seg(200, Dir::AtoB, ACK, x + 1, y + 1, 0),
    ]
}

/// A's FIN after `end`, B's FIN, A's last ACK, from `t` µs.
fn close(t: u64, x_end: SeqNum, y: SeqNum) -> Vec<Segment> {
    let fin = TcpFlags::FIN | ACK;
    vec![
        seg(t, Dir::AtoB, fin, x_end, y + 1, 0),
        seg(t + 100, Dir::BtoA, fin, y + 1, x_end + 1, 0),
        seg(t + 200, Dir::AtoB, ACK, x_end + 1, y + 2, 0),
    ]
}

fn marked(l: &Ladder, m: Marks) -> Vec<usize> {
    (0..l.rows.len())
        .filter(|&i| l.rows[i].marks.contains(m))
        .collect()
}

/// The shape of tests/fixtures/trace/partial-overlap.pcap: [x+1001, x+2001) is lost before
/// the capture point, the two segments after it arrive, and after the RTO the sender resends
/// [x+1001, x+4001) collapsed into one segment, two thirds of it already captured.
#[test]
fn collapsed_retransmission_over_a_hole_counts_only_the_hole() {
    let (x, y) = (SeqNum::new(1000), SeqNum::new(5000));
    let mut segs = handshake(x, y);
    segs.extend([
        seg(1000, Dir::AtoB, ACK, x + 1, y + 1, 1000),
        seg(1010, Dir::AtoB, ACK, x + 2001, y + 1, 1000),
        seg(1020, Dir::AtoB, ACK, x + 3001, y + 1, 1000),
        seg(1100, Dir::BtoA, ACK, y + 1, x + 1001, 0),
        seg(1110, Dir::BtoA, ACK, y + 1, x + 1001, 0),
        seg(201_000, Dir::AtoB, ACK, x + 1001, y + 1, 3000),
        seg(201_100, Dir::BtoA, ACK, y + 1, x + 4001, 0),
    ]);
    segs.extend(close(300_000, x + 4001, y));
    let l = ladder(segs);
    assert_eq!(l.stats.bytes, [4000, 0]);
    assert_eq!(
        l.rows.iter().map(|r| r.new_bytes).collect::<Vec<_>>(),
        [0, 0, 0, 1000, 1000, 1000, 0, 0, 1000, 0, 0, 0, 0]
    );
    assert_eq!(marked(&l, Marks::PREVIOUS_NOT_CAPTURED), [4]);
    assert_eq!(marked(&l, Marks::RETRANSMISSION), [8]);
    assert_eq!(marked(&l, Marks::OUT_OF_ORDER), Vec::<usize>::new());
    assert_eq!(l.stats.retransmissions, [1, 0]);
    assert_eq!(l.ending, Ending::Closed { first: Dir::AtoB });
}

/// Resent at once, before any ACK asks for it: the part already captured still makes it a
/// retransmission, not a reordered original (originals never overlap each other).
#[test]
fn quick_partial_overlap_is_a_retransmission_not_out_of_order() {
    let (x, y) = (SeqNum::new(1000), SeqNum::new(5000));
    let mut segs = handshake(x, y);
    segs.extend([
        seg(1000, Dir::AtoB, ACK, x + 1, y + 1, 1000),
        seg(1010, Dir::AtoB, ACK, x + 2001, y + 1, 1000),
        seg(1020, Dir::AtoB, ACK, x + 1501, y + 1, 1000),
    ]);
    let l = ladder(segs);
    assert!(l.rows[5].marks.contains(Marks::RETRANSMISSION));
    assert!(!l.rows[5].marks.contains(Marks::OUT_OF_ORDER));
    assert_eq!(l.rows[5].new_bytes, 500);
    assert_eq!(l.stats.bytes, [2500, 0]);
}

/// A hole filled at once by a segment overlapping nothing captured is a reordered original.
#[test]
fn quick_fill_of_a_hole_without_overlap_stays_out_of_order() {
    let (x, y) = (SeqNum::new(1000), SeqNum::new(5000));
    let mut segs = handshake(x, y);
    segs.extend([
        seg(1000, Dir::AtoB, ACK, x + 1, y + 1, 1000),
        seg(1010, Dir::AtoB, ACK, x + 2001, y + 1, 1000),
        seg(1020, Dir::AtoB, ACK, x + 1001, y + 1, 1000),
    ]);
    let l = ladder(segs);
    assert_eq!(marked(&l, Marks::OUT_OF_ORDER), [5]);
    assert_eq!(marked(&l, Marks::RETRANSMISSION), Vec::<usize>::new());
    assert_eq!(l.stats.bytes, [3000, 0]);
}

/// The hole [x+1001, x+2001) opens at 1010 µs; the handshake took 200 µs. The receiver's
/// duplicate ACK asks for it at once, as a receiver does for any hole, made by loss or by the
/// path: a copy 40 µs after the hole opened, less than half the handshake's round trip, is
/// the late original, since a resend needs a whole round trip through the capture point.
#[test]
fn hole_filled_within_half_the_handshake_rtt_is_out_of_order_even_when_asked() {
    let (x, y) = (SeqNum::new(1000), SeqNum::new(5000));
    let mut segs = handshake(x, y);
    segs.extend([
        seg(1000, Dir::AtoB, ACK, x + 1, y + 1, 1000),
        seg(1010, Dir::AtoB, ACK, x + 2001, y + 1, 1000),
        seg(1020, Dir::BtoA, ACK, y + 1, x + 1001, 0),
        seg(1030, Dir::BtoA, ACK, y + 1, x + 1001, 0),
        seg(1050, Dir::AtoB, ACK, x + 1001, y + 1, 1000),
    ]);
    let l = ladder(segs);
    assert_eq!(l.handshake_rtt_us, Some(200));
    assert_eq!(marked(&l, Marks::DUP_ACK), [6]);
    assert_eq!(marked(&l, Marks::OUT_OF_ORDER), [7]);
    assert_eq!(marked(&l, Marks::RETRANSMISSION), Vec::<usize>::new());
}

/// The same hole filled 100 µs or more after it opened (half the handshake's 200 µs), asked
/// for or not: time enough for a resend, so a resend it is.
#[test]
fn hole_filled_after_half_the_handshake_rtt_is_a_retransmission() {
    let (x, y) = (SeqNum::new(1000), SeqNum::new(5000));
    for asked in [false, true] {
        let mut segs = handshake(x, y);
        segs.extend([
            seg(1000, Dir::AtoB, ACK, x + 1, y + 1, 1000),
            seg(1010, Dir::AtoB, ACK, x + 2001, y + 1, 1000),
        ]);
        if asked {
            segs.push(seg(1020, Dir::BtoA, ACK, y + 1, x + 1001, 0));
        }
        segs.push(seg(1110, Dir::AtoB, ACK, x + 1001, y + 1, 1000));
        let l = ladder(segs);
        let fill = l.rows.len() - 1;
        assert_eq!(marked(&l, Marks::RETRANSMISSION), [fill], "asked {asked}");
        assert_eq!(marked(&l, Marks::OUT_OF_ORDER), Vec::<usize>::new());
        assert_eq!(l.stats.bytes, [3000, 0]);
    }
}

/// A capture without the handshake has no round trip to go by: 3 ms, as Wireshark assumes.
#[test]
fn hole_filled_within_3_ms_without_a_handshake_is_out_of_order() {
    let (s, y) = (SeqNum::new(70_000), SeqNum::new(9));
    let l = ladder(vec![
        seg(0, Dir::AtoB, ACK, s, y, 1000),
        seg(10, Dir::AtoB, ACK, s + 2000, y, 1000),
        seg(2_900, Dir::AtoB, ACK, s + 1000, y, 500),
        seg(3_100, Dir::AtoB, ACK, s + 1500, y, 500),
    ]);
    assert_eq!(marked(&l, Marks::OUT_OF_ORDER), [2]);
    assert_eq!(marked(&l, Marks::RETRANSMISSION), [3]);
}

/// ISNs just below 2^32: data, a resend straddling the wrap cut differently, SYN and FIN.
#[test]
fn bytes_across_the_sequence_wrap_count_once_and_syn_fin_not_at_all() {
    let (x, y) = (SeqNum::new(u32::MAX - 1499), SeqNum::new(u32::MAX));
    let mut segs = handshake(x, y);
    segs.extend([
        seg(1000, Dir::AtoB, ACK, x + 1, y + 1, 1000),
        seg(1010, Dir::AtoB, ACK, x + 1001, y + 1, 1000), // crosses 2^32
        seg(1020, Dir::BtoA, ACK, y + 1, x + 1001, 10),   // B's data starts at 0 after the wrap
        seg(300_000, Dir::AtoB, ACK, x + 501, y + 11, 1000),
        seg(300_010, Dir::AtoB, ACK, x + 1501, y + 11, 1000), // 500 new past the front
        seg(300_100, Dir::BtoA, ACK, y + 1, x + 2501, 10),    // B's again: nothing new
    ]);
    let fin = TcpFlags::FIN | ACK;
    segs.extend([
        seg(400_000, Dir::AtoB, fin, x + 2501, y + 11, 0),
        seg(400_100, Dir::BtoA, fin, y + 11, x + 2502, 0),
        seg(400_200, Dir::AtoB, ACK, x + 2502, y + 12, 0),
        seg(600_000, Dir::BtoA, fin, y + 11, x + 2502, 0), // B's FIN again
    ]);
    let l = ladder(segs);
    assert_eq!(l.stats.bytes, [2500, 10]);
    assert_eq!(marked(&l, Marks::RETRANSMISSION), [6, 7, 8, 12]);
    assert_eq!(l.rows[7].new_bytes, 500);
    assert_eq!(l.rows[12].new_bytes, 0);
    let end = l.rows.last().unwrap();
    assert_eq!(end.b.state, Some(State::Closed));
}

/// Mid-connection: data below the first sequence number the capture saw is still new once.
#[test]
fn capture_starting_mid_connection_counts_earlier_data_once() {
    let (s, y) = (SeqNum::new(70_000), SeqNum::new(9));
    let l = ladder(vec![
        seg(0, Dir::AtoB, ACK, s, y, 1000),
        seg(10, Dir::BtoA, ACK, y, s, 0),
        seg(200_000, Dir::AtoB, ACK, s - 500, y, 1000),
        seg(200_010, Dir::AtoB, ACK, s - 1000, y, 2000),
    ]);
    assert!(l.starts_mid_connection);
    assert_eq!(l.stats.bytes, [2000, 0]);
    assert_eq!(
        l.rows.iter().map(|r| r.new_bytes).collect::<Vec<_>>(),
        [1000, 0, 500, 500]
    );
    assert_eq!(marked(&l, Marks::RETRANSMISSION), [2, 3]);
}
