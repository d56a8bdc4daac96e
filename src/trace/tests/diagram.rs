//! [`diagram::items`]: rows no segment makes (a simulator's timers) are drawn where they
//! happened and never folded away, and marks only a simulator knows are drawn.

use crate::tcp::SeqNum;
use crate::trace::capture::Segment;
use crate::trace::conn::Connection;
use crate::trace::diagram::{self, FOLD_AFTER, Item};
use crate::trace::infer::{Dir, Ladder, Marks, infer};
use crate::wire::TcpFlags;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

/// The client (TEST-NET-1, RFC 5737).
const A: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 49152));
/// The server.
const B: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), 80));

fn seg(t: u64, from: Dir, flags: TcpFlags, seq: SeqNum, ack: SeqNum, len: u32) -> Segment {
    let (src, dst) = match from {
        Dir::AtoB => (A, B),
        Dir::BtoA => (B, A),
    };
    Segment {
        time_us: t,
        src,
        dst,
        flags,
        seq,
        ack,
        len,
        window: 65535,
        mss: None,
        window_scale: None,
        sack_permitted: false,
        timestamps: None,
        sack_blocks: Default::default(),
    }
}

/// A handshake, then `n` data segments from A that B does not answer.
fn handshake_then_data(n: u32) -> Ladder {
    let (x, y) = (SeqNum::new(1000), SeqNum::new(5000));
    let mut segments = vec![
        seg(0, Dir::AtoB, TcpFlags::SYN, x, SeqNum::new(0), 0),
        seg(10, Dir::BtoA, TcpFlags::SYN | TcpFlags::ACK, y, x + 1, 0),
        seg(20, Dir::AtoB, TcpFlags::ACK, x + 1, y + 1, 0),
    ];
    for k in 0..n {
        let at = x + (1 + 100 * k as usize);
        segments.push(seg(
            30 + u64::from(k),
            Dir::AtoB,
            TcpFlags::ACK,
            at,
            y + 1,
            100,
        ));
    }
    infer(&Connection {
        number: 1,
        a: A,
        b: B,
        segments,
    })
}

fn timer(note: &str) -> Item {
    Item::Event {
        time_ms: 1.0,
        note: note.into(),
        a: "ESTABLISHED".into(),
        b: "ESTABLISHED".into(),
    }
}

fn is_fold(i: &Item) -> bool {
    matches!(i, Item::Fold { .. })
}

#[test]
fn a_long_data_phase_folds_without_events() {
    let l = handshake_then_data(3 * FOLD_AFTER as u32);
    let items = diagram::items(&l, true, &[]);
    assert_eq!(items.iter().filter(|i| is_fold(i)).count(), 1);
}

#[test]
fn events_are_drawn_after_their_row_and_split_a_fold_around_them() {
    let l = handshake_then_data(3 * FOLD_AFTER as u32);
    let at = 3 + FOLD_AFTER + 3;
    let items = diagram::items(
        &l,
        true,
        &[(at, timer("mid")), (l.rows.len(), timer("end"))],
    );
    let mid = items
        .iter()
        .position(|i| *i == timer("mid"))
        .expect("drawn");
    // The row just before the event is drawn, not folded away.
    let Some(Item::Segment { label, .. }) = mid.checked_sub(1).and_then(|k| items.get(k)) else {
        panic!("a segment before the event: {items:?}")
    };
    assert!(label.contains("seq=x+1001 "), "{label}");
    assert_eq!(items.last(), Some(&timer("end")));
    assert_eq!(items.iter().filter(|i| is_fold(i)).count(), 2);
}

#[test]
fn lost_and_corrupted_rows_are_drawn_as_not_arriving() {
    let mut l = handshake_then_data(2);
    if let Some(r) = l.rows.get_mut(3) {
        r.marks.insert(Marks::LOST);
    }
    if let Some(r) = l.rows.get_mut(4) {
        r.marks.insert(Marks::CORRUPTED);
    }
    let drawn: Vec<(bool, Vec<String>)> = diagram::items(&l, false, &[])
        .into_iter()
        .filter_map(|i| match i {
            Item::Segment { lost, marks, .. } => {
                Some((lost, marks.into_iter().map(|m| m.text).collect()))
            }
            _ => None,
        })
        .skip(3)
        .collect();
    assert_eq!(
        drawn,
        [
            (true, vec!["lost".to_string()]),
            (true, vec!["corrupted: dropped by checksum".to_string()])
        ]
    );
}
