//! The packet log: what happened to each packet, for tests and visualisation.

use core::cmp::Ordering;

use super::HostId;
use crate::time::Instant;

/// What the network did with one packet (or one copy of it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fate {
    /// Delivered intact.
    Delivered,
    /// Dropped in transit by the loss impairment.
    Lost,
    /// Delivered with one bit flipped (an original or a duplicate copy;
    /// corruption takes precedence over [`Fate::Duplicate`]).
    Corrupted,
    /// Delivered cut short by the truncate impairment (never also corrupted; takes
    /// precedence over [`Fate::Duplicate`]).
    Truncated,
    /// The extra copy made by the duplicate impairment, delivered intact.
    Duplicate,
    /// Dropped at the sender: larger than the link MTU.
    TooBig,
    /// Dropped at the sender: the link buffer was full.
    QueueFull,
    /// Dropped at the sender: no host owns the destination, or the packet
    /// is not a parsable IPv4/IPv6 packet.
    Unroutable,
}

/// One entry of the packet log.
///
/// Recorded when the packet is delivered (`time` is the delivery time) or
/// dropped (`time == sent_at`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketEvent {
    /// When the sending host emitted the packet.
    pub sent_at: Instant,
    /// When it was delivered, or dropped.
    pub time: Instant,
    /// The sending host.
    pub from: HostId,
    /// The receiving host; `None` if unroutable.
    pub to: Option<HostId>,
    /// The bytes as delivered (after corruption), or as sent if dropped.
    pub bytes: Vec<u8>,
    /// What happened.
    pub fate: Fate,
}

/// A copy waiting on the wire, ordered by delivery time and then by the
/// order it was scheduled in, so ties resolve the same way every run.
#[derive(Debug)]
pub(super) struct Scheduled {
    pub at: Instant,
    pub seq: u64,
    pub sent_at: Instant,
    pub from: usize,
    pub to: usize,
    pub bytes: Vec<u8>,
    pub fate: Fate,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Scheduled {}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}
