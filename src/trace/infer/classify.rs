//! Marks a segment earns from what its direction and the other have shown before: resent or
//! reordered sequence space, probes and keep-alives, duplicate ACKs, and the window.

use super::Marks;
use super::side::Side;
use crate::trace::capture::Segment;
use crate::wire::TcpFlags;

/// Classifies the segment's sequence space against what its sender `s` has shown before,
/// records it, and returns how many payload bytes it shows for the first time: its payload
/// minus every part an earlier segment already covered, however differently that one was cut.
///
/// `t` is the segment's time and `irtt_us` the handshake's round trip, if known.
pub(super) fn sequence(
    s: &mut Side,
    r: &Side,
    seg: &Segment,
    t: u64,
    irtt_us: Option<u64>,
    marks: &mut Marks,
) -> u64 {
    let flags = seg.flags;
    let seg_len = seg.seg_len();
    let end = seg.seq + seg_len as usize;
    if s.first_seq.is_none() && !flags.rst() {
        s.first_seq = Some(seg.seq);
    }
    let mut new_bytes = 0;
    if seg_len > 0 && !flags.rst() {
        let peer_window_zero = r.window == Some(0);
        match s.snd_max {
            None => {}
            Some(max) => {
                let small = seg.len <= 1 && !flags.intersects(TcpFlags::SYN | TcpFlags::FIN);
                if peer_window_zero && small && seg.seq.after_eq(max - 1) {
                    marks.insert(Marks::WINDOW_PROBE);
                    if seg.len == 1 {
                        s.probe_byte = Some(seg.seq);
                    }
                } else if small && seg.seq + 1 == max && s.seen.covers(seg.seq, seg_len) {
                    marks.insert(Marks::KEEP_ALIVE);
                } else if seg.seq.after(max) {
                    marks.insert(Marks::PREVIOUS_NOT_CAPTURED);
                    s.open_hole(max, t);
                } else if seg.seq.before(max) {
                    // The byte of a one-byte zero-window probe, sent again at the head of
                    // the data once the window opens, is how probing works, not a resend.
                    let after_probe = s.probe_byte == Some(seg.seq)
                        && seg.len > 1
                        && !s.seen.overlaps(seg.seq + 1, seg_len - 1);
                    if after_probe {
                        s.probe_byte = None;
                    } else if s.seen.overlaps(seg.seq, seg_len) {
                        // Any part shown before makes it a resend, even when the rest is
                        // new to the capture (a retransmission cut at other boundaries
                        // than the original, some of which was lost before the capture
                        // point): an original transmission never overlaps another.
                        marks.insert(Marks::RETRANSMISSION);
                    } else if filled_soon(s, seg, t, irtt_us) {
                        marks.insert(Marks::OUT_OF_ORDER);
                    } else {
                        // Never seen, and the hole is old: lost before the capture point
                        // and sent again.
                        marks.insert(Marks::RETRANSMISSION);
                    }
                }
            }
        }
        // Everything in it acknowledged already: the sender resent what had arrived.
        if marks.contains(Marks::RETRANSMISSION) && r.highest_ack.is_some_and(|a| a.after_eq(end)) {
            marks.insert(Marks::SPURIOUS);
        }
        // SYN and FIN take sequence space but are not bytes (RFC 9293 §3.4).
        let data = seg.seq + usize::from(flags.syn());
        if flags.syn() {
            s.seen.add(seg.seq, 1);
        }
        new_bytes = s.seen.add(data, seg.len);
        if flags.fin() {
            s.seen.add(data + seg.len as usize, 1);
        }
        if s.snd_max.is_none_or(|m| end.after(m)) {
            s.snd_max = Some(end);
        }
    } else if seg_len == 0 && !flags.rst() {
        match s.snd_max {
            None => {
                s.snd_max = Some(seg.seq);
                s.seen.anchor(seg.seq);
            }
            // One below SND.NXT with nothing in it: Linux's zero-window probe, or a
            // keep-alive when the window is open.
            // Or one below what the receiver acknowledged (SND.UNA - 1, Linux's
            // tcp_xmit_probe_skb) while a one-byte probe is outstanding.
            Some(m) if seg.seq + 1 == m || r.highest_ack.is_some_and(|a| seg.seq + 1 == a) => {
                if r.window == Some(0) {
                    marks.insert(Marks::WINDOW_PROBE);
                } else {
                    marks.insert(Marks::KEEP_ALIVE);
                }
            }
            Some(_) => {}
        }
    }
    new_bytes
}

/// Whether a segment that fills a hole, overlapping nothing captured before, is a reordered
/// original rather than a resend of data lost before the capture point: it arrived less
/// than half a handshake round trip after the hole opened (3 ms when the handshake was not
/// captured, as Wireshark assumes). A resend needs at least one round trip through the
/// capture point: the data past the hole on to the receiver, its duplicate ACKs back to the
/// sender, the resend back here. So how soon the hole is filled decides, not whether the
/// receiver asked for the bytes: a receiver asks at once for a hole the path made, just as
/// for one a loss made.
fn filled_soon(s: &Side, seg: &Segment, t: u64, irtt_us: Option<u64>) -> bool {
    let threshold = irtt_us.map_or(3_000, |rtt| rtt / 2);
    s.hole_opened(seg.seq)
        .is_some_and(|opened| t.saturating_sub(opened) < threshold)
}

/// Duplicate ACKs: a bare ACK repeating the sender's last one while the peer has data
/// outstanding. Returns which one in the series it is (0 when it is none).
pub(super) fn dup_ack(s: &mut Side, r: &Side, seg: &Segment, marks: &mut Marks) -> u32 {
    let flags = seg.flags;
    let mut dup_ack = 0;
    let bare_ack = flags.ack() && seg.seg_len() == 0 && !flags.rst();
    let probe = marks.contains(Marks::WINDOW_PROBE) || marks.contains(Marks::KEEP_ALIVE);
    if bare_ack && !probe {
        let outstanding = r.snd_max.is_some_and(|m| m.after(seg.ack));
        // A zero window repeated answers a window probe: not a duplicate ACK (Wireshark's
        // rule too: the window must be open and unchanged).
        if s.last_ack == Some((seg.ack, seg.window)) && outstanding && seg.window != 0 {
            s.dup_acks += 1;
            dup_ack = s.dup_acks;
            marks.insert(Marks::DUP_ACK);
        } else {
            s.dup_acks = 0;
        }
    } else if flags.ack() && s.last_ack.is_none_or(|(a, _)| seg.ack != a) {
        s.dup_acks = 0;
    }
    if flags.ack() && !flags.rst() {
        s.last_ack = Some((seg.ack, seg.window));
        if s.highest_ack.is_none_or(|h| seg.ack.after(h)) {
            s.highest_ack = Some(seg.ack);
        }
    }
    dup_ack
}

/// The window in bytes: scaled only when both SYNs carried the option (RFC 7323 §2.2).
pub(super) fn window(s: &mut Side, r: &Side, seg: &Segment, marks: &mut Marks) -> u32 {
    let flags = seg.flags;
    if flags.syn() {
        s.ws = seg.window_scale;
    }
    let both_scale = s.ws.is_some() && r.ws.is_some();
    let window = if flags.syn() || !both_scale {
        u32::from(seg.window)
    } else {
        u32::from(seg.window)
            .checked_shl(u32::from(s.ws.unwrap_or(0).min(14)))
            .unwrap_or(u32::MAX)
    };
    if !flags.rst() {
        s.window = Some(window);
        if window == 0 {
            marks.insert(Marks::ZERO_WINDOW);
        }
    }
    window
}
