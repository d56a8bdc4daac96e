//! The batch inference with bounded memory: segments go in one at a time, each row comes
//! out as soon as what [`infer`](super::infer) looks ahead for has arrived, and nothing but
//! a short queue and the rows the symbols need is kept.
//!
//! The batch inference looks ahead twice: for B's first segment (it decides both states
//! before the first row) and, for each segment, for the next one its receiver sent (it shows
//! whether a SYN or FIN crossed). Both arrive soon in any two-way capture, so segments wait
//! in a queue until then. A capture of one direction only would make the queue grow: past
//! [`MAX_PENDING`] segments the oldest is inferred without its lookahead.

use super::model::Row;
use super::symbols::Symbols;
use super::{Connection, Inference, Ladder, Opening};
use crate::tcp::SeqNum;
use crate::trace::capture::Segment;
use crate::wire::TcpFlags;
use std::borrow::Cow;
use std::collections::VecDeque;
use std::net::SocketAddr;

/// Most segments waiting for their lookahead.
pub const MAX_PENDING: usize = 1 << 14;

/// Most rows kept for the symbols (SYNs, FINs, RSTs and the first ACKs of FINs).
const MAX_KEPT: usize = 256;

/// What the stream knows of one side's sequence space: the batch inference's symbol base.
#[derive(Clone, Copy, Debug, Default)]
struct Base {
    isn: Option<SeqNum>,
    first_seq: Option<SeqNum>,
}

impl Base {
    fn see(&mut self, seg: &Segment) {
        if seg.flags.syn() && !seg.flags.rst() {
            self.isn = Some(seg.seq);
        }
        if self.first_seq.is_none() && !seg.flags.rst() {
            self.first_seq = Some(seg.seq);
        }
    }
    fn get(self) -> Option<SeqNum> {
        self.isn.or(self.first_seq)
    }
}

/// The inference of one connection, fed one segment at a time, giving the same rows as
/// [`infer`](super::infer) on the whole connection (within [`MAX_PENDING`]).
#[derive(Debug)]
pub struct StreamInference {
    number: usize,
    a: SocketAddr,
    b: SocketAddr,
    inner: Option<Inference<'static>>,
    /// Segments not yet inferred, each with the next segment its receiver sent, once seen.
    /// Those still waiting are all of one direction, at the back.
    pending: VecDeque<(Segment, Option<Segment>)>,
    /// The first segment from B, once seen.
    b_first: Option<Segment>,
    bases: [Base; 2],
    rows: usize,
    kept: Vec<(usize, Row)>,
}

impl StreamInference {
    /// A connection between `a` and `b` (as [`crate::trace::conn::Grouper`] named them).
    pub fn new(number: usize, a: SocketAddr, b: SocketAddr) -> Self {
        StreamInference {
            number,
            a,
            b,
            inner: None,
            pending: VecDeque::new(),
            b_first: None,
            bases: [Base::default(); 2],
            rows: 0,
            kept: Vec::new(),
        }
    }

    /// Rows given out so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Takes the next segment; `out` gets every row that can be inferred now, with its index,
    /// its segment and the symbols as far as they are known (enough to label it).
    pub fn push(&mut self, seg: Segment, out: &mut dyn FnMut(usize, &Segment, &Row, &Symbols)) {
        let from_a = seg.src == self.a;
        if let Some(b) = self.bases.get_mut(usize::from(!from_a)) {
            b.see(&seg);
        }
        for (waiting, reply) in self.pending.iter_mut().rev() {
            if reply.is_some() || waiting.src == seg.src {
                break;
            }
            *reply = Some(seg.clone());
        }
        if !from_a && self.b_first.is_none() {
            self.b_first = Some(seg.clone());
        }
        self.pending.push_back((seg, None));
        if self.inner.is_none() && (self.b_first.is_some() || self.pending.len() > MAX_PENDING) {
            self.start();
        }
        self.drain(false, out);
    }

    /// The first segment and B's first decide how the capture opens.
    fn start(&mut self) {
        self.inner = Some(self.fresh());
    }

    fn fresh(&self) -> Inference<'static> {
        let mut head: Vec<Segment> = self
            .pending
            .front()
            .map(|(s, _)| s.clone())
            .into_iter()
            .collect();
        head.extend(self.b_first.clone());
        let opening = Opening::of(&Connection {
            number: self.number,
            a: self.a,
            b: self.b,
            segments: head,
        });
        let conn = Connection {
            number: self.number,
            a: self.a,
            b: self.b,
            segments: Vec::new(),
        };
        let mut inner = Inference::with_opening(Cow::Owned(conn), opening);
        // The batch inference takes the earliest timestamp; captures are in time order, and a
        // later, earlier-stamped segment only shifts the origin by its difference.
        inner.start_us = self.pending.front().map_or(0, |(s, _)| s.time_us);
        inner
    }

    /// Infers queued segments whose lookahead has arrived (all of them at the end).
    fn drain(&mut self, all: bool, out: &mut dyn FnMut(usize, &Segment, &Row, &Symbols)) {
        let Some(inner) = self.inner.as_mut() else {
            return;
        };
        while let Some((_, reply)) = self.pending.front() {
            if reply.is_none() && !all && self.pending.len() <= MAX_PENDING {
                break;
            }
            let Some((seg, reply)) = self.pending.pop_front() else {
                break;
            };
            inner.step(&seg, reply.as_ref());
            let Some(row) = inner.rows.pop() else {
                continue;
            };
            let index = self.rows;
            self.rows += 1;
            if wanted_for_symbols(&row, &self.kept) && self.kept.len() < MAX_KEPT {
                self.kept.push((index, row.clone()));
            }
            let mut symbols = inner.symbols_of(self.kept.iter().map(|(i, r)| (*i, r)));
            symbols.x = self.bases.first().and_then(|b| b.get());
            symbols.y = self.bases.get(1).and_then(|b| b.get());
            out(index, &seg, &row, &symbols);
        }
    }

    /// Infers what is still queued and gives the ladder, without rows (they went to `out`).
    pub fn finish(mut self, out: &mut dyn FnMut(usize, &Segment, &Row, &Symbols)) -> Ladder {
        if self.inner.is_none() {
            self.start();
        }
        self.drain(true, out);
        let inner = match self.inner.take() {
            Some(inner) => inner,
            None => self.fresh(),
        };
        let mut symbols = inner.symbols_of(self.kept.iter().map(|(i, r)| (*i, r)));
        symbols.x = self.bases.first().and_then(|b| b.get());
        symbols.y = self.bases.get(1).and_then(|b| b.get());
        inner.finish_with(symbols)
    }
}

/// SYN, FIN and RST rows, and the first ACK from each side of a FIN kept before.
fn wanted_for_symbols(r: &Row, kept: &[(usize, Row)]) -> bool {
    if r.flags
        .intersects(TcpFlags::SYN | TcpFlags::FIN | TcpFlags::RST)
    {
        return true;
    }
    r.flags.ack()
        && kept.iter().any(|(_, f)| {
            f.dir != r.dir && f.flags.fin() && !f.flags.rst() && r.ack == f.seq + f.len as usize + 1
        })
        && !kept
            .iter()
            .any(|(_, o)| o.dir == r.dir && !o.flags.fin() && o.flags.ack() && o.ack == r.ack)
}
