//! What the link did with every packet of a run, and the one loss pattern in which a
//! TIME-WAIT of finite length resets a peer that did nothing wrong.
//!
//! RFC 9293 §3.6 (MUST-13): "When a connection is closed actively, it MUST linger in the
//! TIME-WAIT state for a time 2xMSL (Maximum Segment Lifetime)", and §3.4.2: "For this
//! specification the MSL is taken to be 2 minutes. This is an engineering choice, and may be
//! changed if experience indicates it is desirable to do so." synack's default MSL is 30 s,
//! so TIME-WAIT lasts 60 s, like Linux's `TCP_TIMEWAIT_LEN`; smoltcp's RTO backs off to 60 s
//! (`RTTE_MAX_RTO`). If every ACK of the peer's FIN is lost, and then every retransmission
//! the peer sends for 2 × MSL, TIME-WAIT ends with the peer still waiting for that ACK. Its
//! next retransmission finds no connection, and RFC 9293 §3.10.7.1 answers it "If the ACK
//! bit is on, <SEQ=SEG.ACK><CTL=RST>"; SEG.ACK is the peer's RCV.NXT, so the RST is
//! acceptable (RFC 5961 §3.2: "If the RST bit is set and the sequence number exactly matches
//! the next expected sequence number (RCV.NXT), then TCP MUST reset the connection"), and
//! the peer in CLOSING does as §3.10.7.4 says: "If the RST bit is set, then enter the CLOSED
//! state, delete the TCB, and return." Every segment is what the RFCs prescribe; both streams
//! and both FINs were delivered; only the peer's last ACK never came. [`time_wait_outlasted`]
//! recognises exactly that from the link's own record, and nothing else.

use crate::sim::{Fate, HostId, PacketEvent};
use crate::tcp::seq::SeqNum;
use crate::time::{Duration, Instant};

/// The TCP header fields of one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Seg {
    pub seq: SeqNum,
    /// The acknowledgment number, if the ACK bit is on.
    pub ack: Option<SeqNum>,
    pub len: usize,
    pub fin: bool,
    pub rst: bool,
}

/// One packet as the link handled it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Wire {
    pub sent_at: Instant,
    /// When it arrived, or was dropped.
    pub time: Instant,
    pub from: HostId,
    /// It reached the other host: intact, duplicated, or damaged (a damaged copy counts as
    /// arrived, so the record never claims more loss than there was).
    pub arrived: bool,
    /// The header as it arrived (as sent, if lost); `None` if not TCP or damaged.
    pub seg: Option<Seg>,
}

impl Wire {
    pub(super) fn new(ev: &PacketEvent) -> Wire {
        let arrived = ev.to.is_some()
            && matches!(
                ev.fate,
                Fate::Delivered | Fate::Duplicate | Fate::Corrupted | Fate::Truncated
            );
        let damaged = matches!(ev.fate, Fate::Corrupted | Fate::Truncated);
        let seg = etherparse::SlicedPacket::from_ip(&ev.bytes)
            .ok()
            .and_then(|p| match p.transport {
                Some(etherparse::TransportSlice::Tcp(t)) if !damaged => Some(Seg {
                    seq: SeqNum::new(t.sequence_number()),
                    ack: t.ack().then(|| SeqNum::new(t.acknowledgment_number())),
                    len: t.payload().len(),
                    fin: t.fin(),
                    rst: t.rst(),
                }),
                _ => None,
            });
        Wire {
            sent_at: ev.sent_at,
            time: ev.time,
            from: ev.from,
            arrived,
            seg,
        }
    }
}

/// The evidence that TIME-WAIT ran out while the link lost everything between the ends.
#[derive(Debug)]
pub(super) struct Outlasted {
    /// The end of the peer's sequence space: its FIN's sequence number plus one.
    pub fin_end: SeqNum,
    /// synack's acknowledgments of that FIN, none of which arrived.
    pub lost_acks: Vec<Wire>,
    /// The last segment synack heard before falling silent…
    pub heard: Wire,
    /// …the peer's segments lost while it was silent…
    pub lost_meanwhile: Vec<Wire>,
    /// …the first it heard after TIME-WAIT, and synack's RST answering it.
    pub answered: Wire,
    pub rst: Wire,
}

/// Whether `log` (a run's record, `synack` one end, the peer the other) shows that synack's
/// TIME-WAIT, `time_wait` long, ran out while the peer still waited for the ACK of its FIN:
///
/// 1. synack acknowledged the peer's FIN, and none of those acknowledgments arrived (had
///    one arrived, the peer would have left CLOSING for TIME-WAIT);
/// 2. synack's first RST answers a segment that arrived at the instant it was sent, and is
///    `<SEQ=SEG.ACK><CTL=RST>` for it (RFC 9293 §3.10.7.1);
/// 3. before that segment, nothing had arrived at synack for longer than `time_wait`.
///
/// Otherwise says which of these fails.
pub(super) fn time_wait_outlasted(
    log: &[Wire],
    synack: HostId,
    time_wait: Duration,
) -> Result<Outlasted, String> {
    let first = |from_synack: bool, what: fn(&Seg) -> bool| {
        log.iter()
            .filter(|w| (w.from == synack) == from_synack && w.seg.as_ref().is_some_and(what))
            .min_by_key(|w| w.sent_at)
            .copied()
    };
    let fin = first(false, |s| s.fin).ok_or("the peer sent no FIN")?;
    let rst = first(true, |s| s.rst).ok_or("synack sent no RST")?;
    let fin_end = fin.seg.map_or(SeqNum::new(0), |s| s.seq + s.len + 1);
    let mut lost_acks = Vec::new();
    for w in log
        .iter()
        .filter(|w| w.from == synack && fin.sent_at <= w.sent_at && w.sent_at < rst.sent_at)
    {
        // A damaged packet might have carried the acknowledgment.
        if !w
            .seg
            .is_none_or(|s| s.ack.is_some_and(|a| a.after_eq(fin_end)))
        {
            continue;
        }
        if w.arrived {
            return Err(format!(
                "synack's packet sent at {:?} reached the peer and may acknowledge its FIN",
                w.sent_at
            ));
        }
        lost_acks.push(*w);
    }
    if lost_acks.is_empty() {
        return Err("synack never acknowledged the peer's FIN".into());
    }
    let mut heard: Vec<&Wire> = log
        .iter()
        .filter(|w| w.from != synack && w.arrived && w.time <= rst.sent_at)
        .collect();
    heard.sort_by_key(|w| w.time);
    let [.., heard, answered] = heard[..] else {
        return Err("synack heard nothing before its RST".into());
    };
    if answered.time != rst.sent_at {
        return Err(format!(
            "synack's RST at {:?} answers no segment arriving then",
            rst.sent_at
        ));
    }
    if rst.seg.map(|s| Some(s.seq)) != answered.seg.map(|s| s.ack) {
        return Err(format!(
            "synack's RST {:?} is not <SEQ=SEG.ACK><CTL=RST> for {:?}",
            rst.seg, answered.seg
        ));
    }
    let quiet = answered.time - heard.time;
    if quiet <= time_wait {
        return Err(format!(
            "synack heard the peer at {:?}, only {quiet:?} before its RST: TIME-WAIT ({time_wait:?}) \
             cannot have run out",
            heard.time
        ));
    }
    let lost_meanwhile = log
        .iter()
        .filter(|w| w.from != synack && heard.time < w.time && w.time < answered.time)
        .filter(|w| !w.arrived)
        .copied()
        .collect();
    Ok(Outlasted {
        fin_end,
        lost_acks,
        heard: *heard,
        lost_meanwhile,
        answered: *answered,
        rst,
    })
}
