//! The real-time event loop around the sans-IO [`Stack`].
//!
//! # Loop
//!
//! [`Driver::poll`] does what can be done now, without waiting:
//! 1. reads the packets the device has ready and hands each to
//!    [`Stack::handle_packet_with`] (through the impairer, if any) with the time it was read,
//!    trusting its TCP checksum when the device vouches for it (checksum offload);
//! 2. releases impaired packets whose delay has passed, in either direction;
//! 3. runs [`Stack::handle_timeout`] if [`Stack::poll_timeout`] has passed and the device
//!    has been seen empty since (the packets still queued may hold the ACK that cancels the
//!    timer), or it passed 100 ms ago;
//! 4. drains [`Stack::poll_transmit_segmented`] to the device (through the impairer, if
//!    any), large TCP segments marked for the device to cut (segmentation offload);
//!
//! and repeats while any of that made progress, unless the stack holds readiness events for
//! the application ([`Stack::set_events`]): then it returns after the round (at most
//! 256 packets, `READ_BATCH`), so that under a sustained flood the application still reads what
//! arrived and the windows reopen, rather than waiting for a device that is never empty.
//! [`Driver::wait`] then sleeps until the device is
//! readable or the next deadline (a stack timer or an impaired packet) passes; it is
//! cancel-safe, so it can be raced against other events (stdin, a signal) in `tokio::select!`.
//!
//! An application loop is: `poll`; the application's calls through [`Driver::stack_mut`]
//! (read what arrived, queue what to send); `poll` again to send it; and `wait` only if that
//! second `poll` made no progress. If it did (new data arrived meanwhile), go round again
//! without waiting: data that arrived during the last `poll` would otherwise sit unread in a
//! full receive window until a timer fires (the delayed ACK, 40 ms later).
//!
//! The [`Clock`] here is where the stack's time comes from on a real device: `Instant` is
//! microseconds since the driver started. (The core never reads a clock; the socket APIs read
//! the wall clock only for their callers' timeouts.)

use super::device::Device;
use super::impair::{Direction, ImpairConfig, ImpairStats, Impairer};
use crate::stack::Stack;
use crate::time::{Duration, Instant};
use crate::wire::Checksum;
use std::io;
use synack_proto::pcap::{PcapError, PcapWriter};

/// Most packets read from the device per round before timers and transmits get a turn.
pub(crate) const READ_BATCH: usize = 256;
/// Longest a due timer waits for a device that keeps receiving to be drained.
const TIMER_WAIT_MAX: Duration = Duration::from_millis(100);
/// Largest packet handled (an IPv4 or IPv6 packet without jumbograms).
const MAX_PACKET: usize = 65535;
/// Room left for IP and TCP headers below a device's largest packet when sizing segments:
/// IPv6 (40) and TCP with the most options (60).
const MAX_HEADERS: usize = 100;
/// How often buffered capture data is flushed to the file.
const PCAP_FLUSH_EVERY: Duration = Duration::from_millis(200);

/// The monotonic clock of one driver and the wall-clock time it started (for pcap stamps).
///
/// It reads Tokio's clock (`tokio::time::Instant`), which is the system's monotonic clock
/// unless the runtime's time is paused: then it is the runtime's virtual time, as in the
/// [`simulation`](crate::simulation).
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    start: tokio::time::Instant,
    unix_start: Duration,
}

impl Clock {
    /// A clock whose epoch is now.
    pub fn new() -> Self {
        let unix_start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Clock::with_unix_start(unix_start)
    }

    /// A clock whose epoch is now, stamped in captures as `unix_start` after the Unix epoch
    /// instead of the wall-clock time: two runs in virtual time then write identical pcaps.
    pub fn with_unix_start(unix_start: Duration) -> Self {
        Clock {
            start: tokio::time::Instant::now(),
            unix_start,
        }
    }

    /// The time since the epoch.
    pub fn now(&self) -> Instant {
        let d = tokio::time::Instant::now().saturating_duration_since(self.start);
        Instant::from_micros(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
    }

    /// The Tokio instant of `at`, for sleeping until it.
    pub fn to_tokio(&self, at: Instant) -> tokio::time::Instant {
        let d = Duration::from_micros(at.total_micros());
        self.start.checked_add(d).unwrap_or(self.start)
    }

    /// The wall-clock time of `at`, since the Unix epoch.
    pub fn wall(&self, at: Instant) -> Duration {
        self.unix_start + Duration::from_micros(at.total_micros())
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

/// What to put between the device and the stack.
#[derive(Debug, Default)]
pub struct DriverOptions {
    /// Impair packets in both directions. Impairment works on wire-sized packets whose
    /// checksums the stack verifies: use it with a device without offloads.
    pub impair: Option<ImpairConfig>,
    /// Record every packet crossing the device.
    pub pcap: Option<PcapWriter>,
    /// The driver's clock; `None` starts one now ([`Clock::new`]).
    pub clock: Option<Clock>,
    /// Stream the stack's sender recorder (every connection's congestion window, bytes in
    /// flight, RTT, phase and state as they change) as qlog JSON-SEQ, on this clock.
    pub qlog: Option<crate::qlog::QlogWriter>,
}

/// Sees every packet crossing the device, where [`DriverOptions::pcap`] records it: each
/// packet read, before any impairment, and each packet written, after it
/// ([`Driver::set_observer`]; `serve --ladder` and `nc --ladder` draw their live ladder from
/// it with [`LadderTap`](crate::trace::tap::LadderTap)).
///
/// It runs on the packet path, so it must never wait: anything slow (a terminal, a file)
/// goes to another thread through a bounded queue that drops and counts.
pub trait PacketObserver: std::fmt::Debug + Send {
    /// `packet`, an IP packet (a segment the device cuts or merged, with offloads), was read
    /// from or written to the device at `wall`, the time since the Unix epoch.
    fn packet(&mut self, wall: Duration, packet: &[u8]);
}

/// Why the loop stopped.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// Reading or writing the device failed.
    #[error("device: {0}")]
    Device(#[from] io::Error),
    /// Writing the capture failed.
    #[error(transparent)]
    Pcap(#[from] PcapError),
}

/// Counters of packets crossing the device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DriverStats {
    /// Packets read from the device.
    pub packets_in: u64,
    /// Bytes read from the device.
    pub bytes_in: u64,
    /// Packets written to the device.
    pub packets_out: u64,
    /// Bytes written to the device.
    pub bytes_out: u64,
    /// Packets the device would not take (dropped).
    pub out_dropped: u64,
}

/// A [`Stack`] on a [`Device`], driven in real time.
#[derive(Debug)]
pub struct Driver<D: Device> {
    stack: Stack,
    device: D,
    clock: Clock,
    impair: Option<Impairer>,
    pcap: Option<PcapWriter>,
    pcap_flushed: Instant,
    rx: Vec<u8>,
    tx: Vec<u8>,
    stats: DriverStats,
    /// When the device was last seen empty.
    drained_at: Instant,
    /// The last read stopped at its budget rather than at an empty device.
    unread: bool,
    qlog: Option<crate::qlog::QlogWriter>,
    observer: Option<Box<dyn PacketObserver>>,
}

impl<D: Device> Driver<D> {
    /// A driver whose clock starts now.
    ///
    /// If the device segments large packets ([`Device::max_packet`] above its MTU) and no
    /// impairment is configured, the stack's connections send segments of up to that size
    /// ([`tcp::Config::tso_max`](crate::tcp::Config::tso_max)).
    pub fn new(mut stack: Stack, device: D, options: DriverOptions) -> Self {
        let max_packet = device.max_packet();
        // Outgoing UDP larger than this is fragmented.
        stack.set_mtu(device.mtu());
        if max_packet > device.mtu() && options.impair.is_none() {
            let tcp = crate::tcp::Config {
                tso_max: max_packet.saturating_sub(MAX_HEADERS),
                ..stack.config().tcp
            };
            stack.set_tcp_config(tcp);
        }
        let clock = options.clock.unwrap_or_default();
        let mut qlog = options.qlog;
        if let Some(q) = qlog.as_mut() {
            q.start(&mut stack, clock.wall(Instant::ZERO).as_secs_f64() * 1000.0);
        }
        Driver {
            stack,
            device,
            clock,
            qlog,
            impair: options.impair.map(Impairer::new),
            pcap: options.pcap,
            pcap_flushed: Instant::ZERO,
            rx: vec![0; MAX_PACKET],
            tx: vec![0; MAX_PACKET],
            stats: DriverStats::default(),
            drained_at: Instant::ZERO,
            unread: false,
            observer: None,
        }
    }

    /// Shows every packet crossing the device to `observer` from now on (`None`: to none),
    /// and returns the one it replaces.
    pub fn set_observer(
        &mut self,
        observer: Option<Box<dyn PacketObserver>>,
    ) -> Option<Box<dyn PacketObserver>> {
        std::mem::replace(&mut self.observer, observer)
    }

    /// The stack.
    pub fn stack(&self) -> &Stack {
        &self.stack
    }

    /// The stack, for application calls; run [`Driver::poll`] afterwards to send their output.
    pub fn stack_mut(&mut self) -> &mut Stack {
        &mut self.stack
    }

    /// The device.
    pub fn device(&self) -> &D {
        &self.device
    }

    /// The clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The current time on the driver's clock.
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// Device counters.
    pub fn stats(&self) -> DriverStats {
        self.stats
    }

    /// With a qlog stream: records it dropped (its queue was full) plus samples the stack's
    /// recorder dropped (more changes between two polls than it holds).
    pub fn qlog_lost(&self) -> Option<u64> {
        let q = self.qlog.as_ref()?;
        Some(q.dropped() + self.stack.recorder().map_or(0, |r| r.dropped()))
    }

    /// Impairment counters, if impairing.
    pub fn impair_stats(&self) -> Option<ImpairStats> {
        self.impair.as_ref().map(Impairer::stats)
    }

    /// Does all the work that can be done now (see the module docs); returns whether anything
    /// happened.
    pub fn poll(&mut self) -> Result<bool, DriverError> {
        let mut any = false;
        loop {
            let read = self.read_device(READ_BATCH)?;
            // The time is read again at each step (and for each packet read or sent): handling
            // a batch takes a while, and a deadline computed from a stale time fires early.
            let now = self.clock.now();
            let mut progress = read > 0;
            progress |= self.release_impaired(now)?;
            // A due timer fires once every packet that arrived before its deadline has been
            // handled, that is once the device has been seen empty after the deadline: the
            // ACK that cancels a loss probe or a retransmission may still be queued (the
            // process may just have been scheduled out, or be behind on a burst). So the
            // timers run with the time the device was last seen empty, a little behind the
            // clock, and only those due by then fire. A device that never drains holds a
            // timer back at most TIMER_WAIT_MAX.
            match self.stack.poll_timeout() {
                Some(t) if t <= now && now - t >= TIMER_WAIT_MAX => {
                    self.stack.handle_timeout(now);
                    progress = true;
                }
                // Only the timers due by then: a later one may be answered by what is queued.
                Some(t) if t <= self.drained_at => {
                    self.stack.handle_timeout(self.drained_at);
                    progress = true;
                }
                _ => {}
            }
            progress |= self.transmit()?;
            progress |= self.release_impaired(self.clock.now())?;
            if !progress {
                break;
            }
            any = true;
            // The application's turn: under a sustained flood the device is never empty, and
            // an application that waited for it would leave every window shut meanwhile.
            if self.stack.has_events() {
                break;
            }
        }
        if let Some(q) = self.qlog.as_mut() {
            q.drain(&mut self.stack, Some(self.clock.now()));
        }
        let now = self.clock.now();
        if now - self.pcap_flushed >= PCAP_FLUSH_EVERY {
            self.flush_pcap()?;
            self.pcap_flushed = now;
        }
        Ok(any)
    }

    /// The next time [`Driver::poll`] has work even if no packet arrives: now, if the last
    /// `poll` returned before the device was empty (to give the application its turn), since
    /// the device's readiness does not fire again for packets already queued.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.unread {
            return Some(self.clock.now());
        }
        let impaired = self.impair.as_ref().and_then(Impairer::next_due);
        match (self.stack.poll_timeout(), impaired) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Waits until the device may be readable or the next deadline passes. Cancel-safe.
    pub async fn wait(&self) -> Result<(), DriverError> {
        match self.next_deadline() {
            Some(t) => {
                tokio::select! {
                    r = self.device.readable() => r?,
                    () = tokio::time::sleep_until(self.clock.to_tokio(t)) => {}
                }
            }
            None => self.device.readable().await?,
        }
        Ok(())
    }

    /// Polls and waits until `done` returns `Some`, which it is asked after every poll.
    pub async fn run_until<T>(
        &mut self,
        mut done: impl FnMut(&mut Stack, Instant) -> Option<T>,
    ) -> Result<T, DriverError> {
        self.poll()?;
        loop {
            let now = self.clock.now();
            if let Some(t) = done(&mut self.stack, now) {
                self.poll()?;
                return Ok(t);
            }
            if !self.poll()? {
                self.wait().await?;
                self.poll()?;
            }
        }
    }

    /// Writes every packet the stack has queued to the device without reading it, and every
    /// outgoing packet the impairer still holds back at once, whatever its delay; incoming
    /// ones it holds are dropped. For a driver about to stop: what the stack sent last (the
    /// RSTs of aborted connections) must not go down with the process.
    pub fn flush(&mut self) -> Result<(), DriverError> {
        self.transmit()?;
        let now = self.clock.now();
        let end = Instant::from_micros(u64::MAX);
        while let Some((dir, packet)) = self.impair.as_mut().and_then(|i| i.pop_due(end)) {
            if dir == Direction::Out {
                self.send(now, &packet, usize::MAX)?;
            }
        }
        self.flush_pcap()
    }

    /// Writes buffered capture data to the file.
    pub fn flush_pcap(&mut self) -> Result<(), DriverError> {
        if let Some(p) = self.pcap.as_mut() {
            p.flush()
                .map_err(|e| PcapError::from(pcap_file::PcapError::IoError(e)))?;
        }
        Ok(())
    }

    /// Reads and handles up to `budget` packets, each at the time it was read; returns how
    /// many. Notes when it found the device empty.
    fn read_device(&mut self, budget: usize) -> Result<usize, DriverError> {
        let mut read = 0;
        self.unread = true;
        while read < budget {
            let Some((n, checksum)) = self.device.try_recv_offload(&mut self.rx)? else {
                self.drained_at = self.clock.now();
                self.unread = false;
                break;
            };
            read += 1;
            let now = self.clock.now();
            if self.pcap.is_some() && checksum == Checksum::Ignore {
                // The capture shows the checksum the segment would carry on a wire, not the
                // partial one the kernel left (the stack does not look at it).
                if let Some(p) = self.rx.get_mut(..n) {
                    super::vnet::fill_tcp_checksum(p);
                }
            }
            let packet = self.rx.get(..n).unwrap_or(&[]);
            self.stats.packets_in += 1;
            self.stats.bytes_in += n as u64;
            if let Some(p) = self.pcap.as_mut() {
                p.write(self.clock.wall(now), packet)?;
            }
            if let Some(o) = self.observer.as_mut() {
                o.packet(self.clock.wall(now), packet);
            }
            match self.impair.as_mut() {
                Some(imp) => imp.submit(now, Direction::In, packet),
                None => self.stack.handle_packet_with(now, packet, checksum),
            }
        }
        Ok(read)
    }

    fn release_impaired(&mut self, now: Instant) -> Result<bool, DriverError> {
        let mut progress = false;
        while let Some((dir, packet)) = self.impair.as_mut().and_then(|i| i.pop_due(now)) {
            progress = true;
            match dir {
                Direction::In => self.stack.handle_packet(now, &packet),
                Direction::Out => self.send(now, &packet, usize::MAX)?,
            }
        }
        Ok(progress)
    }

    /// Sends everything the stack has queued, each segment stamped with the time it leaves:
    /// writing a thousand segments takes milliseconds, and a send time taken before the
    /// batch would date the later ones early, and their loss probes and RACK deadlines with
    /// them.
    fn transmit(&mut self) -> Result<bool, DriverError> {
        let mut progress = false;
        let mut tx = std::mem::take(&mut self.tx);
        let result = (|| {
            loop {
                let now = self.clock.now();
                let Some(t) = self.stack.poll_transmit_segmented(now, &mut tx) else {
                    break;
                };
                progress = true;
                let packet = tx.get(..t.len).unwrap_or(&[]);
                match self.impair.as_mut() {
                    Some(imp) => imp.submit(now, Direction::Out, packet),
                    None => self.send(now, packet, t.segment_size)?,
                }
            }
            Ok(())
        })();
        self.tx = tx;
        result.map(|()| progress)
    }

    fn send(
        &mut self,
        now: Instant,
        packet: &[u8],
        segment_size: usize,
    ) -> Result<(), DriverError> {
        if !self.device.try_send_segmented(packet, segment_size)? {
            self.stats.out_dropped += 1;
            return Ok(());
        }
        self.stats.packets_out += 1;
        self.stats.bytes_out += packet.len() as u64;
        if let Some(p) = self.pcap.as_mut() {
            p.write(self.clock.wall(now), packet)?;
        }
        if let Some(o) = self.observer.as_mut() {
            o.packet(self.clock.wall(now), packet);
        }
        Ok(())
    }
}

impl<D: Device> Drop for Driver<D> {
    /// The capture is flushed, and the last instant's samples reach the qlog stream.
    fn drop(&mut self) {
        let _ = self.flush_pcap();
        if let Some(q) = self.qlog.as_mut() {
            q.drain(&mut self.stack, None);
        }
    }
}
