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

#[derive(Default)]
struct Ends {
    fin_a: bool,
    fin_b: bool,
    rst: bool,
}

/// Splits segments into connections, numbered by first packet.
pub fn group(segments: Vec<Segment>) -> Vec<Connection> {
    let mut conns: Vec<Connection> = Vec::new();
    let mut ends: Vec<Ends> = Vec::new();
    let mut by_tuple: HashMap<(SocketAddr, SocketAddr), usize> = HashMap::new();
    for seg in segments {
        let key = if seg.src <= seg.dst {
            (seg.src, seg.dst)
        } else {
            (seg.dst, seg.src)
        };
        let fresh_syn = seg.flags.syn() && !seg.flags.ack();
        let existing = by_tuple.get(&key).copied().filter(|&i| {
            if !fresh_syn || !ends.get(i).is_some_and(|e| e.rst || (e.fin_a && e.fin_b)) {
                return true;
            }
            // A SYN on an ended connection's 4-tuple: the same SYN again is a retransmission,
            // a different one opens a new connection.
            conns.get(i).is_some_and(|c| {
                c.segments.iter().any(|s| {
                    s.src == seg.src && s.flags.syn() && !s.flags.ack() && s.seq == seg.seq
                })
            })
        });
        let index = match existing {
            Some(i) => i,
            None => {
                let (a, b) = if seg.flags.syn() && seg.flags.ack() {
                    (seg.dst, seg.src)
                } else {
                    (seg.src, seg.dst)
                };
                conns.push(Connection {
                    number: conns.len() + 1,
                    a,
                    b,
                    segments: Vec::new(),
                });
                ends.push(Ends::default());
                by_tuple.insert(key, conns.len() - 1);
                conns.len() - 1
            }
        };
        if let (Some(c), Some(e)) = (conns.get_mut(index), ends.get_mut(index)) {
            if seg.flags.rst() {
                e.rst = true;
            }
            if seg.flags.fin() {
                if seg.src == c.a {
                    e.fin_a = true;
                } else {
                    e.fin_b = true;
                }
            }
            c.segments.push(seg);
        }
    }
    conns
}
