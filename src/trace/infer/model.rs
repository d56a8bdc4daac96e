//! What inference produces: a [`Ladder`] of [`Row`]s, each with both ends' [`Inferred`]
//! states and its [`Marks`], plus how the connection ended and its [`Stats`].

use super::Symbols;
use crate::tcp::{SeqNum, State};
use crate::wire::TcpFlags;
use core::fmt;
use std::net::SocketAddr;

/// Direction of a segment.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum Dir {
    /// From A (the client, when known) to B.
    AtoB,
    /// From B to A.
    BtoA,
}

impl Dir {
    /// Index of the sending side: 0 for A, 1 for B.
    pub(super) fn sender(self) -> usize {
        match self {
            Dir::AtoB => 0,
            Dir::BtoA => 1,
        }
    }
    /// Index of the receiving side.
    pub(super) fn receiver(self) -> usize {
        1 - self.sender()
    }
}

/// A state as inferred: `None` when nothing shows it, `sure == false` when it rests on an
/// assumption (the capture started mid-connection). `Display` prints `ESTABLISHED?` or `?`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Inferred {
    /// The state, if any evidence shows it.
    pub state: Option<State>,
    /// False when the state rests on an assumption.
    pub sure: bool,
}

impl Inferred {
    /// A state known from the capture.
    pub const fn sure(state: State) -> Self {
        Inferred {
            state: Some(state),
            sure: true,
        }
    }
}

impl fmt::Display for Inferred {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match (self.state, self.sure) {
            (None, _) => "?".to_string(),
            (Some(s), true) => s.name().to_string(),
            (Some(s), false) => format!("{}?", s.name()),
        };
        f.pad(&s)
    }
}

/// Marks on a row.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Marks(u16);

impl Marks {
    /// Repeats sequence space already seen.
    pub const RETRANSMISSION: Marks = Marks(1);
    /// Fills a hole soon after later data (reordered on the way to the capture point).
    pub const OUT_OF_ORDER: Marks = Marks(1 << 1);
    /// Starts past sequence space the capture never saw.
    pub const PREVIOUS_NOT_CAPTURED: Marks = Marks(1 << 2);
    /// Acknowledges the same number with the same window while data is outstanding.
    pub const DUP_ACK: Marks = Marks(1 << 3);
    /// Advertises a zero window.
    pub const ZERO_WINDOW: Marks = Marks(1 << 4);
    /// Probes a zero window.
    pub const WINDOW_PROBE: Marks = Marks(1 << 5);
    /// A keep-alive (one byte or none, just below what was sent).
    pub const KEEP_ALIVE: Marks = Marks(1 << 6);
    /// Resets the connection.
    pub const RESET: Marks = Marks(1 << 7);
    /// A RST answering a SYN: connection refused.
    pub const REFUSED: Marks = Marks(1 << 8);
    /// Lost on the way. A capture cannot know this; `synack demo`'s simulator does.
    pub const LOST: Marks = Marks(1 << 9);
    /// Arrived damaged, and the receiver's checksum dropped it. Only a simulator knows.
    pub const CORRUPTED: Marks = Marks(1 << 10);
    /// A retransmission of sequence space the receiver had already acknowledged (always
    /// set together with [`Marks::RETRANSMISSION`]).
    pub const SPURIOUS: Marks = Marks(1 << 11);

    /// True if every mark in `other` is set.
    pub const fn contains(self, other: Marks) -> bool {
        self.0 & other.0 == other.0
    }
    /// True when no mark is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// Sets every mark in `other`.
    pub fn insert(&mut self, other: Marks) {
        self.0 |= other.0;
    }
    /// Clears every mark in `other`.
    pub fn remove(&mut self, other: Marks) {
        self.0 &= !other.0;
    }
}

/// One row of an inferred ladder: a segment and both states after it.
#[derive(Clone, Debug)]
pub struct Row {
    /// Microseconds since the connection's first captured segment.
    pub time_us: u64,
    /// Direction.
    pub dir: Dir,
    /// Control bits.
    pub flags: TcpFlags,
    /// Absolute sequence number.
    pub seq: SeqNum,
    /// Absolute acknowledgment number.
    pub ack: SeqNum,
    /// Payload length.
    pub len: u32,
    /// Payload bytes no earlier row of this direction covered: what the row adds to
    /// [`Stats::bytes`] (less than `len` for a retransmission, even one cut differently).
    pub new_bytes: u32,
    /// Window in bytes (scaled when both SYNs negotiated window scaling, else the raw field).
    pub window: u32,
    /// Options on SYNs, e.g. `mss 1460, sack, ts, ws 7`.
    pub syn_options: Option<String>,
    /// Marks.
    pub marks: Marks,
    /// For duplicate ACKs, which one in the series (1, 2, 3…).
    pub dup_ack: u32,
    /// A's state after the row.
    pub a: Inferred,
    /// B's state after the row.
    pub b: Inferred,
}

/// How a connection ended, as far as the capture shows.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Ending {
    /// FINs both ways, both acknowledged; `first` closed first.
    Closed { first: Dir },
    /// Both sent their FIN before receiving the other's.
    SimultaneousClose,
    /// A RST answered the SYN.
    Refused,
    /// A RST from the side `from` ended it.
    Reset { from: Dir },
    /// The capture ends with the connection still open (or closing).
    Open,
}

/// Counters for the summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Payload bytes seen for the first time, [A→B, B→A]: the unique sequence space the
    /// capture covered (what arrived, not what was resent, however the resend was cut; SYN
    /// and FIN take sequence space but are not bytes; a RST's payload is not stream data).
    pub bytes: [u64; 2],
    /// Segments [A→B, B→A].
    pub segments: [u64; 2],
    /// Retransmitted segments [A→B, B→A].
    pub retransmissions: [u64; 2],
    /// Of those, spurious ones: all their sequence space was acknowledged before [A→B, B→A].
    pub spurious: [u64; 2],
    /// Duplicate ACKs.
    pub dup_acks: u64,
    /// Zero-window advertisements.
    pub zero_windows: u64,
    /// Out-of-order segments.
    pub out_of_order: u64,
}

/// A connection with its inferred ladder.
#[derive(Clone, Debug)]
pub struct Ladder {
    /// 1-based connection number.
    pub number: usize,
    /// Endpoint A.
    pub a: SocketAddr,
    /// Endpoint B.
    pub b: SocketAddr,
    /// A opened the connection (its SYN was captured).
    pub a_is_client: bool,
    /// States before the first row.
    pub initial: (Inferred, Inferred),
    /// The rows.
    pub rows: Vec<Row>,
    /// Absolute time of the first segment, µs since the epoch.
    pub start_us: u64,
    /// Time of the last row.
    pub duration_us: u64,
    /// From the SYN to the ACK completing the handshake.
    pub handshake_rtt_us: Option<u64>,
    /// The symbols.
    pub symbols: Symbols,
    /// How it ended.
    pub ending: Ending,
    /// Counters.
    pub stats: Stats,
    /// The capture started after the handshake.
    pub starts_mid_connection: bool,
    /// Plain statements about what the capture does not show.
    pub notes: Vec<String>,
}
