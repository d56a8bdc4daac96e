//! The time-sequence graph model ([`crate::trace::tsg`]) on hand-written segments: exact
//! bars, ACK and window steps, SACK blocks, events, bands, throughput and RTT samples.

use crate::tcp::{SeqNum, State};
use crate::trace::capture::Segment;
use crate::trace::conn::Connection;
use crate::trace::infer::{Dir, Inferred, infer};
use crate::trace::tsg::{
    AckPoint, Band, Bar, BarKind, Event, EventKind, RttSample, RttSource, SackMark, Tsg, build,
    busiest,
};
use crate::wire::{SackBlocks, TcpFlags, Timestamps};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

const A: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 49152));
const B: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), 80));
const ACK: TcpFlags = TcpFlags::ACK;

/// One segment `from` A (or B) at `t` µs, window 1000 unless changed.
fn seg(t: u64, from: Dir, flags: TcpFlags, seq: SeqNum, ack: SeqNum, len: u32) -> Segment {
    let (src, dst) = match from {
        Dir::AtoB => (A, B),
        Dir::BtoA => (B, A),
    };
    Segment {
        time_us: 5_000_000 + t,
        src,
        dst,
        flags,
        seq,
        ack,
        len,
        window: 1000,
        mss: None,
        window_scale: None,
        sack_permitted: false,
        timestamps: None,
        sack_blocks: SackBlocks::default(),
    }
}

fn ts(mut s: Segment, tsval: u32, tsecr: u32) -> Segment {
    s.timestamps = Some(Timestamps { tsval, tsecr });
    s
}

fn sack(mut s: Segment, blocks: &[(SeqNum, SeqNum)]) -> Segment {
    for &(l, r) in blocks {
        s.sack_blocks.push(l, r);
    }
    s
}

fn graph(segments: Vec<Segment>, dir: Dir) -> Tsg {
    let conn = Connection {
        number: 1,
        a: A,
        b: B,
        segments,
    };
    build(&conn, &infer(&conn), dir)
}

fn handshake(x: SeqNum, y: SeqNum) -> Vec<Segment> {
    vec![
        seg(0, Dir::AtoB, TcpFlags::SYN, x, SeqNum::new(0), 0),
        seg(100, Dir::BtoA, TcpFlags::SYN | ACK, y, x + 1, 0),
        seg(200, Dir::AtoB, ACK, x + 1, y + 1, 0),
    ]
}

fn bar(row: usize, t_us: u64, start: i64, end: i64, kind: BarKind) -> Bar {
    Bar {
        row,
        t_us,
        start,
        end,
        kind,
        syn: false,
        fin: false,
    }
}

fn ack(row: usize, t_us: u64, ack: i64, window: u32) -> AckPoint {
    AckPoint {
        row,
        t_us,
        ack,
        window,
        window_edge: ack + i64::from(window),
    }
}

fn sample(row: usize, t_us: u64, rtt_us: u64, source: RttSource) -> RttSample {
    RttSample {
        row,
        t_us,
        rtt_us,
        source,
    }
}

/// An ISN 100 below 2^32: the bars keep climbing through the wrap (relative 1, 101, 201),
/// and so do the ACKs, never falling back to 0.
#[test]
fn relative_sequence_numbers_climb_through_the_2_32_wrap() {
    let (x, y) = (SeqNum::new(u32::MAX - 100), SeqNum::new(7));
    let mut segs = handshake(x, y);
    segs.extend([
        seg(1000, Dir::AtoB, ACK, x + 1, y + 1, 100),
        seg(1010, Dir::AtoB, ACK, x + 101, y + 1, 100), // crosses 2^32
        seg(1020, Dir::AtoB, ACK, x + 201, y + 1, 100),
        seg(1100, Dir::BtoA, ACK, y + 1, x + 301, 0),
    ]);
    let g = graph(segs, Dir::AtoB);
    assert_eq!(g.base, x);
    assert_eq!(
        g.bars,
        [
            Bar {
                syn: true,
                ..bar(0, 0, 0, 1, BarKind::New)
            },
            bar(3, 1000, 1, 101, BarKind::New),
            bar(4, 1010, 101, 201, BarKind::New),
            bar(5, 1020, 201, 301, BarKind::New),
        ]
    );
    assert_eq!(g.acks, [ack(1, 100, 1, 1000), ack(6, 1100, 301, 1000)]);
}

/// More than 4 GiB in one direction: offsets go past 2^32 instead of wrapping to 0.
#[test]
fn relative_sequence_numbers_pass_4_gib() {
    let x = SeqNum::new(10);
    let mut segs = vec![seg(0, Dir::AtoB, ACK, x, SeqNum::new(1), 0)];
    let step = 1u64 << 30;
    for k in 0..5u64 {
        // A 1 GiB stride is far beyond any real segment, but the unwrapping only needs
        // successive numbers less than 2^31 apart.
        segs.push(seg(
            10 * (k + 1),
            Dir::AtoB,
            ACK,
            x + usize::try_from(k * step).unwrap(),
            SeqNum::new(1),
            1,
        ));
    }
    let g = graph(segs, Dir::AtoB);
    let starts: Vec<i64> = g.bars.iter().map(|b| b.start).collect();
    assert_eq!(starts, [0, 1 << 30, 2 << 30, 3 << 30, 4 << 30]);
}

/// RFC 7323 §2.2: the window of a segment other than a SYN is shifted by the sender's scale
/// when both SYNs carried the option; the SYN's own window is not.
#[test]
fn rfc7323_2_2_window_line_is_ack_plus_scaled_window() {
    let (x, y) = (SeqNum::new(1000), SeqNum::new(5000));
    let mut segs = handshake(x, y);
    segs[0].window_scale = Some(7);
    segs[1].window_scale = Some(3);
    segs[1].window = 4000;
    segs.extend([
        seg(1000, Dir::AtoB, ACK, x + 1, y + 1, 500),
        seg(1100, Dir::BtoA, ACK, y + 1, x + 501, 0),
    ]);
    let g = graph(segs, Dir::AtoB);
    assert_eq!(g.acks, [ack(1, 100, 1, 4000), ack(4, 1100, 501, 8000)]);
    assert_eq!(g.acks[1].window_edge, 8501);
}

/// Karn's rule (RFC 6298 §3): the ACK covering a resent segment gives no data→ACK sample;
/// the one before it, covering only first copies, does.
#[test]
fn rfc6298_karn_no_sample_from_an_ack_covering_a_retransmission() {
    let (x, y) = (SeqNum::new(1000), SeqNum::new(5000));
    let mut segs = handshake(x, y);
    segs.extend([
        seg(1000, Dir::AtoB, ACK, x + 1, y + 1, 100),
        seg(1100, Dir::AtoB, ACK, x + 101, y + 1, 100),
        seg(21_000, Dir::BtoA, ACK, y + 1, x + 101, 0),
        seg(300_000, Dir::AtoB, ACK, x + 101, y + 1, 100),
        seg(320_000, Dir::BtoA, ACK, y + 1, x + 201, 0),
    ]);
    let g = graph(segs, Dir::AtoB);
    assert_eq!(
        g.bars[3],
        bar(6, 300_000, 101, 201, BarKind::Retransmission)
    );
    assert_eq!(
        g.rtt,
        [
            sample(1, 100, 100, RttSource::Ack),
            sample(5, 21_000, 20_000, RttSource::Ack)
        ]
    );
}

/// RFC 7323 §4: TSecr names the copy that arrived, so the resent segment's round trip is
/// measured from the resend, where Karn's rule gives nothing.
#[test]
fn rfc7323_4_timestamps_time_the_retransmission_karn_cannot() {
    let (x, y) = (SeqNum::new(1000), SeqNum::new(5000));
    let segs = vec![
        ts(
            seg(0, Dir::AtoB, TcpFlags::SYN, x, SeqNum::new(0), 0),
            10,
            0,
        ),
        ts(
            seg(100, Dir::BtoA, TcpFlags::SYN | ACK, y, x + 1, 0),
            900,
            10,
        ),
        ts(seg(200, Dir::AtoB, ACK, x + 1, y + 1, 0), 11, 900),
        ts(seg(1000, Dir::AtoB, ACK, x + 1, y + 1, 100), 11, 900),
        ts(seg(300_000, Dir::AtoB, ACK, x + 1, y + 1, 100), 310, 900),
        ts(seg(320_000, Dir::BtoA, ACK, y + 1, x + 101, 0), 1220, 310),
    ];
    let g = graph(segs, Dir::AtoB);
    assert_eq!(g.bars[2].kind, BarKind::Retransmission);
    assert_eq!(
        g.rtt,
        [
            sample(1, 100, 100, RttSource::Ack),
            sample(1, 100, 100, RttSource::Timestamp),
            sample(5, 320_000, 20_000, RttSource::Timestamp),
        ]
    );
}

/// RFC 2018: each SACK block is kept at its relative edges; the repeated ACKs are marked
/// duplicate ACKs at the ACK number, and the hole's resend is a retransmission bar.
#[test]
fn rfc2018_sack_blocks_and_duplicate_acks_are_placed_exactly() {
    let (x, y) = (SeqNum::new(1000), SeqNum::new(5000));
    let mut segs = handshake(x, y);
    segs.extend([
        seg(1000, Dir::AtoB, ACK, x + 1, y + 1, 100),
        seg(1010, Dir::AtoB, ACK, x + 101, y + 1, 100),
        seg(1020, Dir::AtoB, ACK, x + 201, y + 1, 100),
        seg(1100, Dir::BtoA, ACK, y + 1, x + 101, 0),
        sack(
            seg(1110, Dir::BtoA, ACK, y + 1, x + 101, 0),
            &[(x + 201, x + 301)],
        ),
        seg(50_000, Dir::AtoB, ACK, x + 101, y + 1, 100),
        seg(50_100, Dir::BtoA, ACK, y + 1, x + 301, 0),
    ]);
    let g = graph(segs, Dir::AtoB);
    assert_eq!(
        g.sacks,
        [SackMark {
            row: 7,
            t_us: 1110,
            start: 201,
            end: 301
        }]
    );
    assert_eq!(
        g.events,
        [Event {
            row: 7,
            t_us: 1110,
            seq: 101,
            kind: EventKind::DupAck
        }]
    );
    assert_eq!(g.bars[4], bar(8, 50_000, 101, 201, BarKind::Retransmission));
}

/// A zero window sits on the ACK line; a RST from the receiver at its ACK number.
#[test]
fn zero_window_and_receiver_reset_are_events_at_the_ack() {
    let (x, y) = (SeqNum::new(1000), SeqNum::new(5000));
    let mut segs = handshake(x, y);
    let mut zero = seg(1100, Dir::BtoA, ACK, y + 1, x + 101, 0);
    zero.window = 0;
    segs.extend([
        seg(1000, Dir::AtoB, ACK, x + 1, y + 1, 100),
        zero,
        seg(2000, Dir::BtoA, TcpFlags::RST | ACK, y + 1, x + 101, 0),
    ]);
    let g = graph(segs, Dir::AtoB);
    assert_eq!(
        g.events,
        [
            Event {
                row: 4,
                t_us: 1100,
                seq: 101,
                kind: EventKind::ZeroWindow
            },
            Event {
                row: 5,
                t_us: 2000,
                seq: 101,
                kind: EventKind::ReceiverReset
            },
        ]
    );
    assert_eq!(g.acks.last(), Some(&ack(4, 1100, 101, 0)));
}

/// Linux probes a zero window, and keeps an idle connection alive, with a bare segment one
/// below SND.UNA: no sequence space, yet a mark at its number, in its own colour, so a real
/// kernel's probes show in the graph as a BSD stack's one-byte probes do.
#[test]
fn bare_window_probes_and_keep_alives_are_bars_without_length() {
    let (x, y) = (SeqNum::new(1000), SeqNum::new(5000));
    let mut segs = handshake(x, y);
    let mut zero = seg(1100, Dir::BtoA, ACK, y + 1, x + 101, 0);
    zero.window = 0;
    segs.extend([
        seg(1000, Dir::AtoB, ACK, x + 1, y + 1, 100),
        zero.clone(),
        seg(201_100, Dir::AtoB, ACK, x + 100, y + 1, 0),
        seg(201_200, Dir::BtoA, ACK, y + 1, x + 101, 0),
        seg(9_000_000, Dir::AtoB, ACK, x + 100, y + 1, 0),
    ]);
    let g = graph(segs, Dir::AtoB);
    assert_eq!(
        g.bars,
        [
            Bar {
                syn: true,
                ..bar(0, 0, 0, 1, BarKind::New)
            },
            bar(3, 1000, 1, 101, BarKind::New),
            bar(5, 201_100, 100, 100, BarKind::WindowProbe),
            bar(7, 9_000_000, 100, 100, BarKind::KeepAlive),
        ]
    );
    // No bytes, and no round-trip sample from the ACKs answering them.
    assert_eq!(g.throughput.iter().sum::<u64>(), 100);
    assert_eq!(
        g.rtt,
        [
            sample(1, 100, 100, RttSource::Ack),
            sample(4, 1100, 100, RttSource::Ack)
        ]
    );
}

/// Each end's inferred state after every row, merged into spans from the row that entered
/// it to the row that left it; the last runs to the last segment.
#[test]
fn inferred_states_become_bands_along_the_time_axis() {
    let (x, y) = (SeqNum::new(1000), SeqNum::new(5000));
    let fin = TcpFlags::FIN | ACK;
    let mut segs = handshake(x, y);
    segs.extend([
        seg(1000, Dir::AtoB, ACK, x + 1, y + 1, 100),
        seg(5000, Dir::AtoB, fin, x + 101, y + 1, 0),
        seg(5100, Dir::BtoA, fin, y + 1, x + 102, 0),
        seg(5200, Dir::AtoB, ACK, x + 102, y + 2, 0),
    ]);
    let g = graph(segs, Dir::AtoB);
    let band = |start_us, end_us, s| Band {
        start_us,
        end_us,
        state: Inferred::sure(s),
    };
    assert_eq!(
        g.sender_bands,
        [
            band(0, 100, State::SynSent),
            band(100, 5000, State::Established),
            band(5000, 5100, State::FinWait1),
            band(5100, 5200, State::TimeWait),
        ]
    );
    assert_eq!(
        g.receiver_bands,
        [
            band(0, 200, State::SynReceived),
            band(200, 5000, State::Established),
            band(5000, 5100, State::CloseWait),
            band(5100, 5200, State::LastAck),
            band(5200, 5200, State::Closed),
        ]
    );
}

/// Throughput: the duration splits into 100 buckets (here 52 µs each); each holds the new
/// bytes sent in it, so a resend adds nothing.
#[test]
fn throughput_buckets_hold_new_bytes_only() {
    let (x, y) = (SeqNum::new(1000), SeqNum::new(5000));
    let mut segs = handshake(x, y);
    segs.extend([
        seg(1000, Dir::AtoB, ACK, x + 1, y + 1, 100),
        seg(1010, Dir::AtoB, ACK, x + 101, y + 1, 300),
        seg(5000, Dir::AtoB, ACK, x + 1, y + 1, 100),
        seg(5100, Dir::BtoA, ACK, y + 1, x + 401, 0),
    ]);
    let g = graph(segs, Dir::AtoB);
    assert_eq!(g.bucket_us, 52); // ceil(5101 / 100)
    let nonzero: Vec<(usize, u64)> = g
        .throughput
        .iter()
        .copied()
        .enumerate()
        .filter(|&(_, b)| b > 0)
        .collect();
    assert_eq!(nonzero, [(19, 400)]); // 1000 / 52 = 19, 1010 / 52 = 19
    assert_eq!(g.rate(19), 400.0 * 1e6 / 52.0);
}

/// Without `--dir`, the graph shows the direction that carried more data.
#[test]
fn default_direction_is_the_one_with_more_data() {
    let (x, y) = (SeqNum::new(1000), SeqNum::new(5000));
    let mut segs = handshake(x, y);
    segs.extend([
        seg(1000, Dir::AtoB, ACK, x + 1, y + 1, 10),
        seg(1100, Dir::BtoA, ACK, y + 1, x + 11, 2000),
    ]);
    let conn = Connection {
        number: 1,
        a: A,
        b: B,
        segments: segs,
    };
    assert_eq!(busiest(&infer(&conn)), Dir::BtoA);
    let g = graph(conn.segments, Dir::BtoA);
    assert_eq!((g.sender, g.receiver, g.base), (B, A, y));
    assert_eq!(g.bars[1], bar(4, 1100, 1, 2001, BarKind::New));
}

/// Nothing at all, or only garbage, draws an empty graph instead of failing.
#[test]
fn empty_and_rst_only_connections_give_empty_graphs() {
    let g = graph(Vec::new(), Dir::AtoB);
    assert!(g.bars.is_empty() && g.acks.is_empty() && g.rtt.is_empty());
    let g = graph(
        vec![seg(
            0,
            Dir::BtoA,
            TcpFlags::RST,
            SeqNum::new(9),
            SeqNum::new(0),
            0,
        )],
        Dir::AtoB,
    );
    assert_eq!(g.events.len(), 1);
    let svg = crate::trace::tsg::svg::render(&g);
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
}

/// Sequence offsets far from 0 over a range of one byte: the axis ticks are counted, so the
/// renderer ends even where a small step vanishes in a float's precision.
#[test]
fn axis_far_from_zero_with_a_tiny_range_still_ends() {
    let mut g = graph(Vec::new(), Dir::AtoB);
    g.bars.push(bar(0, 0, 1 << 57, (1 << 57) + 1, BarKind::New));
    g.duration_us = u64::MAX;
    let svg = crate::trace::tsg::svg::render(&g);
    assert!(svg.trim_end().ends_with("</svg>"));
    assert!(svg.matches("class=\"grid\"").count() <= 65);
}
