//! What the link did with every packet of a run, and the one loss pattern in which an end's
//! finite TIME-WAIT resets the other end.
//!
//! RFC 9293 §3.6 (MUST-13): "When a connection is closed actively, it MUST linger in the
//! TIME-WAIT state for a time 2xMSL (Maximum Segment Lifetime)", and §3.4.2: "For this
//! specification the MSL is taken to be 2 minutes. This is an engineering choice, and may be
//! changed if experience indicates it is desirable to do so." If every ACK of one end's FIN is
//! lost, and then every retransmission that end sends for as long as the other's TIME-WAIT,
//! TIME-WAIT ends with the first end still waiting for that ACK. Its next retransmission finds
//! no connection, and RFC 9293 §3.10.7.1 answers it "If the ACK bit is on,
//! <SEQ=SEG.ACK><CTL=RST>"; SEG.ACK is the waiting end's RCV.NXT, so the RST is acceptable
//! (RFC 5961 §3.2: "If the RST bit is set and the sequence number exactly matches the next
//! expected sequence number (RCV.NXT), then TCP MUST reset the connection"), and the waiting
//! end, in CLOSING or LAST-ACK, does as §3.10.7.4 says: "If the RST bit is set, then enter the
//! CLOSED state, delete the TCB, and return." Both streams and both FINs were delivered; only
//! the last ACK never came.
//!
//! Whose fault that is depends on how long the TIME-WAIT was. synack's is 2 × its default 30 s
//! MSL, 60 s as in Linux: an engineering choice the RFC allows, so no fault of either stack,
//! though smoltcp's RTO also tops out at 60 s (`RTTE_MAX_RTO`), so one lost ACK when smoltcp is
//! fully backed off is enough. smoltcp's is 10 s (`CLOSE_DELAY`): shorter than 2 × MSL for any
//! MSL the RFC contemplates, and than an RTO after a few backoffs: smoltcp's fault.
//! [`time_wait_outlasted`] recognises the pattern from the link's own record, and nothing else.

use crate::sim::{Fate, HostId, PacketEvent};
use crate::tcp::seq::SeqNum;
use crate::time::{Duration, Instant};
use crate::wire::Checksum;

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
    /// It reached the other host's TCP: delivered (intact, duplicated, or damaged where no
    /// checksum covers, like an IPv6 flow label) and a TCP segment whose checksums verify.
    pub arrived: bool,
    /// The header as it arrived (as sent, if lost); `None` if not TCP or failing its checksums.
    pub seg: Option<Seg>,
}

impl Wire {
    pub(super) fn new(ev: &PacketEvent) -> Wire {
        let seg = crate::wire::parse_ip_tcp(&ev.bytes, Checksum::Verify)
            .ok()
            .map(|(_, t)| Seg {
                seq: t.seq,
                ack: t.flags.ack().then_some(t.ack),
                len: t.payload.len(),
                fin: t.flags.fin(),
                rst: t.flags.rst(),
            });
        let delivered = ev.to.is_some()
            && matches!(
                ev.fate,
                Fate::Delivered | Fate::Duplicate | Fate::Corrupted | Fate::Truncated
            );
        Wire {
            sent_at: ev.sent_at,
            time: ev.time,
            from: ev.from,
            arrived: delivered && seg.is_some(),
            seg,
        }
    }
}

/// Whether the FIN `end` sent was acknowledged: `None` if it sent none, else whether an
/// intact packet from the other end that acknowledges it arrived at `end`.
pub(super) fn fin_acked(log: &[Wire], end: HostId) -> Option<bool> {
    let fin_end = first(log, |w| w.from == end, |s| s.fin)?
        .seg
        .map(|s| s.seq + s.len + 1)?;
    Some(log.iter().any(|w| {
        w.from != end
            && w.arrived
            && w.seg
                .is_some_and(|s| s.ack.is_some_and(|a| a.after_eq(fin_end)))
    }))
}

/// The first packet sent that `from` accepts and whose header `what` accepts.
fn first(log: &[Wire], from: impl Fn(&Wire) -> bool, what: fn(&Seg) -> bool) -> Option<Wire> {
    log.iter()
        .filter(|w| from(w) && w.seg.as_ref().is_some_and(what))
        .min_by_key(|w| w.sent_at)
        .copied()
}

/// The evidence that one end's TIME-WAIT ran out while the link lost everything between it
/// and the other end, which was still waiting for the ACK of its FIN.
#[derive(Debug)]
pub(super) struct Outlasted {
    /// The end of the waiting end's sequence space: its FIN's sequence number plus one.
    pub fin_end: SeqNum,
    /// The TIME-WAIT end's acknowledgments of that FIN, none of which arrived.
    pub lost_acks: Vec<Wire>,
    /// The last segment the TIME-WAIT end heard before falling silent…
    pub heard: Wire,
    /// …the waiting end's segments lost meanwhile…
    pub lost_meanwhile: Vec<Wire>,
    /// …the first it heard after TIME-WAIT, and the RST answering it.
    pub answered: Wire,
    pub rst: Wire,
}

/// Whether `log` (a run's record) shows that the TIME-WAIT of `holder`, `time_wait` long,
/// ran out while the other end still waited for the ACK of its FIN:
///
/// 1. `holder` acknowledged the other end's FIN, and none of those acknowledgments arrived
///    (had one arrived, the other end would have left CLOSING or LAST-ACK);
/// 2. `holder`'s first RST answers a segment that arrived at the instant it was sent, and is
///    `<SEQ=SEG.ACK><CTL=RST>` for it (RFC 9293 §3.10.7.1);
/// 3. before that segment, nothing had arrived at `holder` for longer than `time_wait`.
///
/// Otherwise says which of these fails.
pub(super) fn time_wait_outlasted(
    log: &[Wire],
    holder: HostId,
    time_wait: Duration,
) -> Result<Outlasted, String> {
    let fin = first(log, |w| w.from != holder, |s| s.fin).ok_or("the other end sent no FIN")?;
    let rst = first(log, |w| w.from == holder, |s| s.rst).ok_or("no RST from the TIME-WAIT end")?;
    let fin_end = fin.seg.map_or(SeqNum::new(0), |s| s.seq + s.len + 1);
    let mut lost_acks = Vec::new();
    for w in log
        .iter()
        .filter(|w| w.from == holder && fin.sent_at <= w.sent_at && w.sent_at < rst.sent_at)
    {
        if !w
            .seg
            .is_some_and(|s| s.ack.is_some_and(|a| a.after_eq(fin_end)))
        {
            continue;
        }
        if w.arrived {
            return Err(format!(
                "the packet sent at {:?} reached the other end and acknowledges its FIN",
                w.sent_at
            ));
        }
        lost_acks.push(*w);
    }
    if lost_acks.is_empty() {
        return Err("the other end's FIN was never acknowledged".into());
    }
    let mut heard: Vec<&Wire> = log
        .iter()
        .filter(|w| w.from != holder && w.arrived && w.time <= rst.sent_at)
        .collect();
    heard.sort_by_key(|w| w.time);
    let [.., heard, answered] = heard[..] else {
        return Err("nothing arrived before the RST".into());
    };
    if answered.time != rst.sent_at {
        return Err(format!(
            "the RST at {:?} answers no segment arriving then",
            rst.sent_at
        ));
    }
    if rst.seg.map(|s| Some(s.seq)) != answered.seg.map(|s| s.ack) {
        return Err(format!(
            "the RST {:?} is not <SEQ=SEG.ACK><CTL=RST> for {:?}",
            rst.seg, answered.seg
        ));
    }
    let quiet = answered.time - heard.time;
    if quiet <= time_wait {
        return Err(format!(
            "the TIME-WAIT end heard the other at {:?}, only {quiet:?} before its RST: \
             TIME-WAIT ({time_wait:?}) cannot have run out",
            heard.time
        ));
    }
    let lost_meanwhile = log
        .iter()
        .filter(|w| w.from != holder && heard.time < w.time && w.time < answered.time)
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
