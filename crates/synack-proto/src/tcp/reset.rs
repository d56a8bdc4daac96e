//! The reset generation rules of RFC 9293 §3.10.7.1 (a segment arriving for no
//! connection, or for a connection in CLOSED).

use super::seq::SeqNum;
use crate::wire::{TcpFlags, TcpOptions, TcpRepr};

/// A RST to send: its sequence number and, when the ACK bit is set, its acknowledgment number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reset {
    /// SEG.SEQ of the RST.
    pub seq: SeqNum,
    /// SEG.ACK of the RST, when it carries ACK.
    pub ack: Option<SeqNum>,
}

/// The RST that answers `seg` when no connection exists (§3.10.7.1), or `None`:
/// "An incoming segment containing a RST is discarded."
///
/// "If the ACK bit is off, sequence number zero is used, <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
/// If the ACK bit is on, <SEQ=SEG.ACK><CTL=RST>."
pub fn reply_to(seg: &TcpRepr<'_>) -> Option<Reset> {
    if seg.flags.rst() {
        return None;
    }
    Some(if seg.flags.ack() {
        Reset {
            seq: seg.ack,
            ack: None,
        }
    } else {
        Reset {
            seq: SeqNum::new(0),
            ack: Some(seg.seq + seg.seg_len()),
        }
    })
}

impl Reset {
    /// The RST as a segment from `src_port` to `dst_port`.
    pub fn to_repr(self, src_port: u16, dst_port: u16) -> TcpRepr<'static> {
        let flags = match self.ack {
            Some(_) => TcpFlags::RST | TcpFlags::ACK,
            None => TcpFlags::RST,
        };
        TcpRepr {
            src_port,
            dst_port,
            seq: self.seq,
            ack: self.ack.unwrap_or_default(),
            flags,
            window: 0,
            urgent: 0,
            options: TcpOptions::default(),
            payload: &[],
        }
    }
}
