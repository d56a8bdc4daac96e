//! The ladder's symbols for a connection (x, y, u, v, w) and the labels written with
//! them (`x+1`, `u`, `v+33`, `w+1`…).

use super::side::Side;
use super::{Dir, Row};
use crate::tcp::SeqNum;

/// The ladder's symbols for one connection (absolute values, with the index of the row
/// from which each applies; u, v and w read as x+k or y+k before that row).
#[derive(Clone, Copy, Debug, Default)]
pub struct Symbols {
    /// A's initial sequence number (or the first sequence number seen, if `primed`).
    pub x: Option<SeqNum>,
    /// B's initial sequence number (or the first seen).
    pub y: Option<SeqNum>,
    /// x and y are first-seen numbers, not ISNs: written x′ and y′.
    pub primed: bool,
    /// Who sent the first FIN.
    pub first_fin: Option<Dir>,
    /// Sequence number of the first FIN.
    pub u: Option<(SeqNum, usize)>,
    /// Sequence number of the other side's segment that acknowledges that FIN.
    pub v: Option<(SeqNum, usize)>,
    /// Sequence number of the second FIN (from the other side).
    pub w: Option<(SeqNum, usize)>,
}

/// Finds the symbols of a ladder's rows; `primed` when x and y are first-seen numbers.
pub(super) fn find_symbols<'r>(
    rows: impl Iterator<Item = (usize, &'r Row)> + Clone,
    sides: &[Side; 2],
    primed: bool,
) -> Symbols {
    let side = |d: Dir| sides.get(d.sender());
    let base = |d: Dir| side(d).and_then(|s| s.isn.or(s.first_seq));
    let fin_row = |d: Dir| {
        rows.clone()
            .find(|(_, r)| r.dir == d && r.flags.fin() && !r.flags.rst())
            .map(|(i, r)| (r.seq + r.len as usize, i))
    };
    let fins = [fin_row(Dir::AtoB), fin_row(Dir::BtoA)];
    let first_fin = match fins {
        [Some((_, a)), Some((_, b))] => Some(if a <= b { Dir::AtoB } else { Dir::BtoA }),
        [Some(_), None] => Some(Dir::AtoB),
        [None, Some(_)] => Some(Dir::BtoA),
        [None, None] => None,
    };
    let (u, v, w) = match first_fin {
        None => (None, None, None),
        Some(d) => {
            let other = if d == Dir::AtoB { Dir::BtoA } else { Dir::AtoB };
            let u = fins.get(d.sender()).copied().flatten();
            let v = u.and_then(|(u, at)| {
                rows.clone()
                    .filter(|&(i, _)| i >= at)
                    .find(|(_, r)| {
                        r.dir == other && r.flags.ack() && !r.flags.rst() && r.ack == u + 1
                    })
                    .map(|(i, r)| (r.seq, i))
            });
            let w = fins.get(other.sender()).copied().flatten();
            (u, v, w)
        }
    };
    Symbols {
        x: base(Dir::AtoB),
        y: base(Dir::BtoA),
        primed,
        first_fin,
        u,
        v,
        w,
    }
}

impl Symbols {
    /// A number in the sequence space of the side that sends in direction `space`, as of
    /// row `row`: `x+1`, `u`, `v+33`, `w+1`…
    pub fn label(&self, space: Dir, n: SeqNum, row: usize) -> String {
        let from = |s: Option<(SeqNum, usize)>| s.filter(|&(_, at)| row >= at).map(|(v, _)| v);
        let closer = self.first_fin == Some(space);
        if closer {
            if let Some(u) = from(self.u) {
                if n == u {
                    return "u".into();
                }
                if n == u + 1 {
                    return "u+1".into();
                }
            }
        } else if self.first_fin.is_some() {
            if let Some(w) = from(self.w) {
                if n == w {
                    return "w".into();
                }
                if n == w + 1 {
                    return "w+1".into();
                }
            }
            if let Some(v) = from(self.v) {
                let k = n - v;
                if k == 0 {
                    return "v".into();
                }
                if k > 0 {
                    return format!("v+{k}");
                }
            }
        }
        let (name, base) = match space {
            Dir::AtoB => (if self.primed { "x′" } else { "x" }, self.x),
            Dir::BtoA => (if self.primed { "y′" } else { "y" }, self.y),
        };
        match base {
            Some(b) => match n - b {
                0 => name.to_string(),
                k if k > 0 => format!("{name}+{k}"),
                k => format!("{name}{k}"),
            },
            None => n.to_string(),
        }
    }
}
