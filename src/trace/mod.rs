//! `synack trace`: ladder diagrams of TCP connections from any capture.
//!
//! [`capture`] reads pcap and pcapng files down to TCP segments, [`conn`] groups them into
//! connections by 4-tuple, [`infer`](mod@infer) infers both endpoints' RFC 9293 states after every
//! segment, and [`ladder`] and [`svg`] draw the result for a terminal and as an SVG picture.
//! [`diagram`] is the drawing model both renderers share with `synack demo`. [`live`] draws
//! a pcap stream as it arrives (`synack trace -`), and [`tap`] the packets a driver sees
//! (`synack serve --ladder`, `synack nc --ladder`).
//!
//! Nothing here panics on any input: a file that is not a capture, is cut short or uses a link
//! type we do not take apart gives a [`TraceError`].
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

pub mod capture;
pub mod conn;
pub mod diagram;
pub mod html;
pub mod infer;
pub mod ladder;
pub mod live;
mod seen;
pub mod svg;
pub mod tap;
pub mod tsg;

pub use capture::{Capture, Segment, read_capture};
pub use conn::{Connection, group};
pub use infer::{Dir, Ending, Inferred, Ladder, Marks, Row, Symbols, infer};

use std::path::Path;

/// Why a capture could not be traced.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceError {
    /// The file could not be opened or read.
    #[error("cannot read the capture: {0}")]
    Io(String),
    /// The file is empty.
    #[error("the file is empty, not a pcap or pcapng capture")]
    Empty,
    /// The magic number is neither pcap's nor pcapng's.
    #[error(
        "not a pcap or pcapng capture (unknown magic number); save it as pcap or pcapng, e.g. with tcpdump -w or Wireshark"
    )]
    NotACapture,
    /// The file header is malformed.
    #[error("malformed capture header: {0}")]
    BadHeader(String),
    /// The file ends in the middle of a record.
    #[error(
        "the capture is truncated after {packets} complete packets (was it copied while still being written?)"
    )]
    Truncated {
        /// Complete packets before the cut.
        packets: usize,
    },
    /// A record is malformed.
    #[error("malformed record at packet {packet}: {what}")]
    Malformed {
        /// 1-based packet number.
        packet: usize,
        /// What is wrong.
        what: String,
    },
    /// A link type we do not take apart.
    #[error("unsupported link type {0} ({1}); supported: {sup}", sup = capture::SUPPORTED_LINKS)]
    UnsupportedLink(u32, String),
    /// A record of a pcap stream claims more bytes than any capture takes.
    #[error(
        "record {packet} of the stream claims {len} bytes (at most {max} taken): is stdin a pcap stream, e.g. from tcpdump -U -w -?"
    )]
    RecordTooLarge {
        /// 1-based packet number.
        packet: usize,
        /// The length it claims.
        len: usize,
        /// The most taken.
        max: usize,
    },
    /// `--conn` names a connection that is not there.
    #[error("no connection {asked}: the capture has {have} TCP connection(s)")]
    NoSuchConnection {
        /// The number asked for.
        asked: usize,
        /// How many there are.
        have: usize,
    },
}

/// Everything `synack trace` learned from one capture.
#[derive(Clone, Debug)]
pub struct Trace {
    /// Packets in the file.
    pub packets: usize,
    /// Packets that were not TCP.
    pub skipped: usize,
    /// One ladder per connection, numbered from 1 in order of first packet.
    pub ladders: Vec<Ladder>,
    /// The connections' segments, parallel to `ladders`, when asked for with
    /// [`trace_file_keeping`] (the time-sequence graph needs SACK blocks and timestamps,
    /// which the ladder does not keep); empty otherwise.
    pub connections: Vec<Connection>,
}

/// Reads, groups and infers a capture held in memory or any reader.
pub fn trace_reader<R: std::io::Read>(reader: R) -> Result<Trace, TraceError> {
    trace_reader_with(reader, false)
}

fn trace_reader_with<R: std::io::Read>(reader: R, keep: bool) -> Result<Trace, TraceError> {
    let capture = read_capture(reader)?;
    let connections = group(capture.segments);
    let ladders = connections.iter().map(infer).collect();
    Ok(Trace {
        packets: capture.packets,
        skipped: capture.skipped,
        ladders,
        connections: if keep { connections } else { Vec::new() },
    })
}

fn open(path: &Path) -> Result<std::io::BufReader<std::fs::File>, TraceError> {
    let file = std::fs::File::open(path)
        .map_err(|e| TraceError::Io(format!("{}: {e}", path.display())))?;
    Ok(std::io::BufReader::new(file))
}

/// The ladders of a capture, drawn with bounded memory ([`diagrams_reader`]).
#[derive(Clone, Debug)]
pub struct Drawn {
    /// Packets in the file.
    pub packets: usize,
    /// Packets that were not TCP.
    pub skipped: usize,
    /// One diagram per connection, numbered from 1 in order of first packet.
    pub diagrams: Vec<diagram::Diagram>,
    /// The time-sequence graph asked for with [`Draw::graph`], if that connection exists.
    pub graph: Option<tsg::Tsg>,
}

/// What [`draw_reader`] draws besides the ladders.
#[derive(Clone, Copy, Debug, Default)]
pub struct Draw {
    /// Fold long data phases.
    pub fold: bool,
    /// Also the time-sequence graph of this connection (1-based) in this direction (by
    /// default the one that carried more data).
    pub graph: Option<(usize, Option<Dir>)>,
}

/// One connection being drawn as the capture is read.
struct Drawing {
    inference: infer::StreamInference,
    items: diagram::ItemStream,
    /// Graph builders, A→B and B→A, for the connection asked for.
    graphs: Vec<tsg::TsgBuilder>,
}

/// Reads a capture and draws every connection's ladder as it goes, keeping only what the
/// drawing shows: the same diagrams as [`Diagram::from_ladder`](diagram::Diagram::from_ladder)
/// on [`trace_reader`]'s ladders, in memory bounded by the folded diagrams, not the capture
/// (see [`infer::StreamInference`] for the one approximation, on one-way captures).
pub fn diagrams_reader<R: std::io::Read>(reader: R, fold: bool) -> Result<Drawn, TraceError> {
    draw_reader(reader, Draw { fold, graph: None })
}

/// [`diagrams_reader`], and a time-sequence graph as [`Draw`] asks, built as the capture is
/// read: its memory grows with that connection's segments, not the whole capture's.
pub fn draw_reader<R: std::io::Read>(reader: R, draw: Draw) -> Result<Drawn, TraceError> {
    let mut grouper = conn::Grouper::default();
    let mut conns: Vec<Drawing> = Vec::new();
    let capture = capture::read_capture_with(reader, &mut |seg| {
        let at = grouper.assign(&seg);
        if at.new {
            let number = at.index + 1;
            let graphs = match draw.graph {
                Some((n, dir)) if n == number => [Dir::AtoB, Dir::BtoA]
                    .into_iter()
                    .filter(|d| dir.is_none_or(|want| want == *d))
                    .map(|d| tsg::TsgBuilder::new(number, at.a, at.b, d))
                    .collect(),
                _ => Vec::new(),
            };
            conns.push(Drawing {
                inference: infer::StreamInference::new(number, at.a, at.b),
                items: diagram::ItemStream::new(draw.fold),
                graphs,
            });
        }
        if let Some(d) = conns.get_mut(at.index) {
            let (items, graphs) = (&mut d.items, &mut d.graphs);
            d.inference.push(seg, &mut |i, seg, row, symbols| {
                items.push(i, row, symbols);
                for g in graphs.iter_mut() {
                    g.push(i, seg, row);
                }
            });
        }
    })?;
    let mut graph = None;
    let mut diagrams = Vec::with_capacity(conns.len());
    for d in conns {
        let Drawing {
            inference,
            mut items,
            mut graphs,
        } = d;
        let l = inference.finish(&mut |i, seg, row, symbols| {
            items.push(i, row, symbols);
            for g in graphs.iter_mut() {
                g.push(i, seg, row);
            }
        });
        if !graphs.is_empty() {
            let want = draw
                .graph
                .and_then(|(_, dir)| dir)
                .unwrap_or_else(|| tsg::busiest(&l));
            graph = graphs
                .into_iter()
                .map(|g| g.finish(l.duration_us))
                .find(|g| g.dir == want);
        }
        let rows = l.stats.segments.iter().sum::<u64>();
        diagrams.push(diagram::Diagram::from_parts(
            &l,
            usize::try_from(rows).unwrap_or(usize::MAX),
            items.finish(),
        ));
    }
    Ok(Drawn {
        packets: capture.packets,
        skipped: capture.skipped,
        diagrams,
        graph,
    })
}

/// [`draw_reader`] on a file.
pub fn draw_file(path: &Path, draw: Draw) -> Result<Drawn, TraceError> {
    draw_reader(open(path)?, draw)
}

/// Reads, groups and infers a capture file.
pub fn trace_file(path: &Path) -> Result<Trace, TraceError> {
    trace_reader(open(path)?)
}

/// Like [`trace_reader`], and keeps every connection's segments in [`Trace::connections`].
pub fn trace_reader_keeping<R: std::io::Read>(reader: R) -> Result<Trace, TraceError> {
    trace_reader_with(reader, true)
}

/// Like [`trace_file`], and keeps every connection's segments in [`Trace::connections`].
pub fn trace_file_keeping(path: &Path) -> Result<Trace, TraceError> {
    trace_reader_with(open(path)?, true)
}

#[cfg(test)]
mod tests;
