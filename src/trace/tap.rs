//! `synack serve --ladder` and `synack nc --ladder`: the live ladder of a driver's own
//! connections, drawn from the packets it reads and writes, in the rows `synack trace -`
//! prints.
//!
//! The two ends share a bounded queue of lines:
//!
//! - [`LadderTap`] is the driver's [`PacketObserver`] ([`Driver::set_observer`]): on the
//!   packet path, it takes each packet apart (raw IP, as the capture records it), infers its
//!   row with a [`LiveLadder`] that summarizes each connection as soon as it ends, and queues
//!   the lines that makes. It never waits: the queue holds at most [`QUEUE_BYTES`], and a line
//!   that finds it full is dropped and counted.
//! - [`LadderLines`] is the application's end: [`LadderLines::drain`] takes the queued lines
//!   out, to be written by a thread that may wait on a terminal or a pipe (the CLI's `Lines`,
//!   which drops and counts again rather than block).
//!
//! Times are those of the capture the driver would write (`--pcap`): rows of a connection
//! count from its first packet, as in `synack trace`.
//!
//! [`Driver::set_observer`]: crate::net::Driver::set_observer

use super::capture;
use super::live::{LiveLadder, LiveOptions};
use crate::net::driver::PacketObserver;
use crate::time::Duration;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Bytes of lines the queue holds before it drops new ones: a few hundred rows.
pub const QUEUE_BYTES: usize = 64 * 1024;

/// pcap's link type for raw IP packets, as a TUN device carries them.
const LINKTYPE_RAW: u32 = 101;

/// The lines waiting for the application.
#[derive(Debug, Default)]
struct Queue {
    lines: VecDeque<String>,
    bytes: usize,
    dropped: u64,
}

impl Queue {
    /// Queues `line` if it fits (any one line fits an empty queue), else counts it dropped.
    fn push(&mut self, line: &str) {
        if self.bytes == 0 || self.bytes + line.len() <= QUEUE_BYTES {
            self.bytes += line.len();
            self.lines.push_back(line.to_owned());
        } else {
            self.dropped += 1;
        }
    }
}

/// What the two ends share.
#[derive(Debug)]
struct Shared {
    ladder: LiveLadder,
    queue: Queue,
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // Nothing holding the lock panics; if something ever did, its data is still whole.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The driver's end: a [`PacketObserver`] that turns packets into ladder lines.
#[derive(Debug)]
pub struct LadderTap {
    shared: Arc<Mutex<Shared>>,
}

/// The application's end: the lines the tap queued.
#[derive(Debug, Clone)]
pub struct LadderLines {
    shared: Arc<Mutex<Shared>>,
}

/// A tap for a driver and the handle that takes its lines; `opts` as for `synack trace -`.
pub fn ladder_tap(opts: LiveOptions) -> (LadderTap, LadderLines) {
    let shared = Arc::new(Mutex::new(Shared {
        ladder: LiveLadder::new(opts).retire_ended(),
        queue: Queue::default(),
    }));
    (
        LadderTap {
            shared: shared.clone(),
        },
        LadderLines { shared },
    )
}

impl PacketObserver for LadderTap {
    fn packet(&mut self, wall: Duration, packet: &[u8]) {
        let orig = u32::try_from(packet.len()).unwrap_or(u32::MAX);
        let Some(mut seg) = capture::decode(LINKTYPE_RAW, packet, orig) else {
            return;
        };
        seg.time_us = u64::try_from(wall.as_micros()).unwrap_or(u64::MAX);
        let mut shared = lock(&self.shared);
        let Shared { ladder, queue } = &mut *shared;
        let _ = ladder.push(&seg, &mut |line| {
            queue.push(line);
            Ok::<(), Infallible>(())
        });
    }
}

impl LadderLines {
    /// Takes every line queued so far, oldest first, to `out` (without newlines). The queue
    /// is released before `out` sees the first, so a slow `out` never holds up the tap.
    pub fn drain(&self, mut out: impl FnMut(String)) {
        let lines = {
            let mut shared = lock(&self.shared);
            shared.queue.bytes = 0;
            std::mem::take(&mut shared.queue.lines)
        };
        for line in lines {
            out(line);
        }
    }

    /// Lines dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        lock(&self.shared).queue.dropped
    }

    /// The traffic is over (the driver is about to stop): queues the summaries of the
    /// connections that have not ended, for [`LadderLines::drain`] to take.
    pub fn finish(&self) {
        let mut shared = lock(&self.shared);
        let Shared { ladder, queue } = &mut *shared;
        let _ = ladder.finish(&mut |line| {
            queue.push(line);
            Ok::<(), Infallible>(())
        });
    }
}
