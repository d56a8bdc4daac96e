//! The `connection_segments` harness: one [`Connection`] fed crafted segments, user calls
//! and timeouts directly (no IP, no checksums), with the same invariants as the stack.

use crate::ops::{Anchor, Op, Setup, next_op};
use crate::stack::{LOCAL_V4, REMOTES_V4};
use arbitrary::{Arbitrary, Unstructured};
use std::net::SocketAddr;
use synack::tcp::{Connection, SeqNum};
use synack::time::{Duration, Instant};

/// Most operations one input runs.
const MAX_OPS: usize = 2000;

/// The `connection_segments` entry point. The first byte after the [`Setup`] chooses an
/// active (SYN-SENT) or passive (LISTEN) start.
pub fn run(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(setup) = Setup::arbitrary(&mut u) else {
        return;
    };
    let Ok(active) = bool::arbitrary(&mut u) else {
        return;
    };
    let cfg = setup.stack_config().tcp;
    let local = SocketAddr::new(LOCAL_V4, 80);
    let remote = SocketAddr::new(REMOTES_V4[0], 40000);
    let iss = SeqNum::new(0x1000_0000);
    let mut c = if active {
        Connection::connect(cfg, local, remote, iss)
    } else {
        Connection::listen(cfg, local, remote, iss)
    };
    let mut now = Instant::from_millis(1);
    let mut last_adv: Option<SeqNum> = None;
    // Bytes the application read, and bytes `send` took.
    let (mut read, mut written) = (0u64, 0u64);
    for _ in 0..MAX_OPS {
        let Some((op, _raw)) = next_op(&mut u) else {
            break;
        };
        match op {
            // Raw bytes need an IP layer; the stack target covers them.
            Op::Raw { .. }
            | Op::Listen { .. }
            | Op::Unlisten { .. }
            | Op::Connect { .. }
            | Op::Accept { .. } => {}
            Op::Segment(seg) => {
                let payload = seg.payload();
                let repr = seg.repr(
                    &Anchor::of(c.tcb()),
                    (remote.port(), local.port()),
                    &payload,
                );
                let sent_before = c.stats().challenge_acks;
                let out = c.handle_segment(now, &repr, u32::MAX);
                assert_eq!(
                    u64::from(out.challenge_acks),
                    c.stats().challenge_acks - sent_before,
                    "the outcome counts the challenge ACKs the segment drew"
                );
            }
            Op::Send { len, .. } => {
                let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
                if let Ok(n) = c.send(&data) {
                    written += n as u64;
                }
            }
            Op::Recv { len, .. } => {
                let mut b = vec![0u8; usize::from(len)];
                if let Ok(n) = c.recv(&mut b) {
                    assert!(n <= b.len());
                    read += n as u64;
                }
            }
            Op::Shutdown { .. } | Op::Close { .. } => c.close(),
            Op::Abort { .. } => c.abort(),
            Op::Advance { micros, timers } => {
                now += Duration::from_micros(u64::from(micros));
                if timers {
                    let _ = c.handle_timeout(now);
                }
            }
            Op::RunTimers => {
                let _ = c.handle_timeout(now);
            }
            Op::NextTimer => {
                if let Some(t) = c.poll_timeout() {
                    now = now.max(t);
                }
                let _ = c.handle_timeout(now);
            }
        }
        let mut sent = 0usize;
        let max_payload = c.max_payload().max(1);
        while let Some(seg) = c.poll_transmit(now) {
            sent += 1;
            assert!(sent < 100_000, "poll_transmit never returns None");
            assert!(seg.payload.len() <= max_payload, "segment over the MSS");
            assert!(seg.options.emitted_len() <= 40);
        }
        // The output is drained: the liveness invariant holds (no wait without a timer, no
        // timeout that resent nothing).
        if let Err(stall) = c.check_liveness() {
            panic!("liveness invariant broken at {now:?}: {stall}");
        }
        let t = c.tcb();
        assert!(
            t.snd_una.before_eq(t.snd_nxt) && t.snd_nxt.before_eq(t.snd_max),
            "in {}: SND.UNA {:?} <= SND.NXT {:?} <= SND.MAX {:?} broken",
            c.state(),
            t.snd_una,
            t.snd_nxt,
            t.snd_max
        );
        assert!(c.send_queue() <= cfg.send_buffer);
        assert!(c.recv_queue() <= cfg.recv_buffer);
        // The edge is fixed once the handshake is complete (our SYN acknowledged); before that
        // a SYN,ACK that acknowledges our ISS may replace a forged IRS and the window with it.
        if c.state().is_synchronized() && t.snd_una != t.iss {
            if let Some(prev) = last_adv {
                assert!(
                    prev.before_eq(t.rcv_adv),
                    "in {}: advertised right edge moved left: {prev:?} -> {:?}",
                    c.state(),
                    t.rcv_adv
                );
            }
            last_adv = Some(t.rcv_adv);
        } else {
            last_adv = None;
        }
        accounting(&c, read, written);
        let mem = c.memory_usage();
        assert!(
            mem <= std::mem::size_of::<Connection>() + cfg.send_buffer + cfg.recv_buffer + 65536,
            "connection memory {mem}"
        );
    }
}

/// Nothing lost inside the connection: every byte acknowledged to the peer (RCV.NXT) was
/// read or is waiting to be read, and every byte `send` took was acknowledged (SND.UNA) or
/// is still queued. The same rule as the stack harness's.
fn accounting(c: &Connection, read: u64, written: u64) {
    use synack::tcp::State::*;
    let t = c.tcb();
    let state = c.state();
    let fin_in = match state {
        Established | FinWait1 | FinWait2 => Some(0),
        CloseWait | Closing | LastAck | TimeWait => Some(1),
        _ => None,
    };
    if let Some(fin) = fin_in {
        assert_eq!(
            read + c.recv_queue() as u64 + 1 + fin,
            t.rcv_nxt.since(t.irs) as u64,
            "in {state}: read {read} + queued {} != RCV.NXT - IRS - SYN - FIN",
            c.recv_queue()
        );
    }
    if matches!(
        state,
        Established | CloseWait | FinWait1 | Closing | LastAck
    ) {
        let acked = (t.snd_una.since(t.iss) as u64).saturating_sub(1);
        assert_eq!(
            written,
            acked + c.send_queue() as u64,
            "in {state}: sent {written} != acknowledged {acked} + queued {}",
            c.send_queue()
        );
    }
}
