//! Grouping segments into TCP connections by 4-tuple, both directions together.
//!
//! A new connection starts on the same 4-tuple when a SYN without ACK arrives after the
//! previous connection ended (RST, or FINs both ways) with a different initial sequence number.

use super::capture::Segment;
use std::collections::HashMap;
use std::net::SocketAddr;

/// The segments of one connection, in capture order.
#[derive(Clone, Debug)]
pub struct Connection {
    /// 1-based number in order of each connection's first packet.
    pub number: usize,
    /// Endpoint A: the one that sent the first SYN (the client), or else the sender of the
    /// first captured segment (the receiver of the first SYN,ACK when only that was seen).
    pub a: SocketAddr,
    /// Endpoint B: the other one.
    pub b: SocketAddr,
    /// The segments.
    pub segments: Vec<Segment>,
}

#[derive(Default, Debug)]
struct Ends {
    fin_a: bool,
    fin_b: bool,
    rst: bool,
    /// Endpoint A of the connection.
    a: Option<SocketAddr>,
    /// A's and B's SYNs without ACK, by sequence number, to tell a resent SYN from a new one.
    syns: Vec<(SocketAddr, crate::tcp::SeqNum)>,
}

/// Assigns segments to connections one at a time, as [`group`] does for a whole capture:
/// what a live capture needs.
#[derive(Default, Debug)]
pub struct Grouper {
    /// The connection each 4-tuple (in address order) is on now: its index and its ends.
    by_tuple: HashMap<(SocketAddr, SocketAddr), (usize, Ends)>,
    /// Connections assigned so far.
    count: usize,
}

/// Where [`Grouper::assign`] put a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Assigned {
    /// 0-based index of the connection (its number is one more).
    pub index: usize,
    /// The segment opens a new connection.
    pub new: bool,
    /// Endpoint A of the connection.
    pub a: SocketAddr,
    /// Endpoint B.
    pub b: SocketAddr,
}

/// The 4-tuple of `x` and `y`, either way round.
fn tuple(x: SocketAddr, y: SocketAddr) -> (SocketAddr, SocketAddr) {
    if x <= y { (x, y) } else { (y, x) }
}

impl Grouper {
    /// The connection `seg` belongs to.
    pub fn assign(&mut self, seg: &Segment) -> Assigned {
        let key = tuple(seg.src, seg.dst);
        let fresh_syn = seg.flags.syn() && !seg.flags.ack();
        let existing = self.by_tuple.get(&key).filter(|(_, e)| {
            // A SYN on an ended connection's 4-tuple: the same SYN again is a
            // retransmission, a different one opens a new connection.
            !fresh_syn
                || !(e.rst || (e.fin_a && e.fin_b))
                || e.syns
                    .iter()
                    .any(|&(src, seq)| src == seg.src && seq == seg.seq)
        });
        let new = existing.is_none();
        if new {
            let a = if seg.flags.syn() && seg.flags.ack() {
                seg.dst
            } else {
                seg.src
            };
            let ends = Ends {
                a: Some(a),
                ..Ends::default()
            };
            self.by_tuple.insert(key, (self.count, ends));
            self.count += 1;
        }
        let (mut index, mut a) = (self.count.saturating_sub(1), seg.src);
        if let Some((i, e)) = self.by_tuple.get_mut(&key) {
            index = *i;
            a = e.a.unwrap_or(seg.src);
            if seg.flags.rst() {
                e.rst = true;
            }
            if seg.flags.fin() {
                if seg.src == a {
                    e.fin_a = true;
                } else {
                    e.fin_b = true;
                }
            }
            if fresh_syn && !e.syns.contains(&(seg.src, seg.seq)) && e.syns.len() < 16 {
                e.syns.push((seg.src, seg.seq));
            }
        }
        let b = if a == seg.src { seg.dst } else { seg.src };
        Assigned { index, new, a, b }
    }

    /// Forgets connection `index` between `a` and `b`: a later segment on its 4-tuple opens
    /// a new connection. (A live ladder forgets connections long ended, to stay bounded.)
    pub fn forget(&mut self, a: SocketAddr, b: SocketAddr, index: usize) {
        let key = tuple(a, b);
        if self.by_tuple.get(&key).is_some_and(|(i, _)| *i == index) {
            self.by_tuple.remove(&key);
        }
    }
}

/// Splits segments into connections, numbered by first packet.
pub fn group(segments: Vec<Segment>) -> Vec<Connection> {
    let mut conns: Vec<Connection> = Vec::new();
    let mut grouper = Grouper::default();
    for seg in segments {
        let at = grouper.assign(&seg);
        if at.new {
            conns.push(Connection {
                number: conns.len() + 1,
                a: at.a,
                b: at.b,
                segments: Vec::new(),
            });
        }
        if let Some(c) = conns.get_mut(at.index) {
            c.segments.push(seg);
        }
    }
    conns
}
