//! The sender's inside view over time: congestion window, slow-start threshold, bytes in
//! flight, RTT estimate, RTO and the congestion controller's phase, sampled as the stack
//! runs, for drawing beside a capture's time-sequence graph (`synack trace`) or exporting as
//! qlog-like JSON.
//!
//! Off by default, and then it costs one branch per drained connection. Once on
//! ([`Stack::set_recorder`]), each connection is sampled every time its output has been
//! drained after an event (a segment in, a timer, an application call). The samples of one
//! connection at one instant fold into the last of them, and a sample is kept only if
//! something in it changed: so the log does not depend on how a driver batched the work of
//! an instant (how often it polled), and a simulation that replays its packets replays its
//! log. The log is bounded: past its capacity the oldest samples go and are counted
//! ([`Recorder::dropped`]).

use super::{ConnId, Stack};
use crate::tcp::{Connection, State};
use crate::time::{Duration, Instant};
use alloc::collections::{BTreeMap, VecDeque};
use core::net::SocketAddr;

/// What the congestion controller is doing, in qlog's terms
/// (`recovery:congestion_state_updated`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CongestionPhase {
    /// The window grows by what is acknowledged (below the slow-start threshold).
    SlowStart,
    /// The window grows by about a segment per round trip (or as the model says, for BBR).
    Avoidance,
    /// Fast recovery: a loss was detected and is being repaired (RFC 6675 / RFC 8985).
    Recovery,
}

impl CongestionPhase {
    /// qlog's name of the phase.
    pub fn name(self) -> &'static str {
        match self {
            CongestionPhase::SlowStart => "slow_start",
            CongestionPhase::Avoidance => "congestion_avoidance",
            CongestionPhase::Recovery => "recovery",
        }
    }
}

/// One connection's sender, at one moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SenderSample {
    /// When (the stack's time).
    pub at: Instant,
    /// The connection.
    pub conn: ConnId,
    /// Its state.
    pub state: State,
    /// Congestion window, bytes.
    pub cwnd: usize,
    /// Slow-start threshold, bytes; `None` while still unset (infinite).
    pub ssthresh: Option<usize>,
    /// Bytes sent and not yet acknowledged (SND.NXT − SND.UNA).
    pub in_flight: usize,
    /// The peer's receive window, bytes.
    pub snd_wnd: usize,
    /// Smoothed round-trip time, once measured.
    pub srtt: Option<Duration>,
    /// Retransmission timeout, before backoff.
    pub rto: Duration,
    /// The congestion controller's phase.
    pub phase: CongestionPhase,
    /// Segments retransmitted so far.
    pub retransmits: u64,
    /// Retransmission timeouts so far.
    pub timeouts: u64,
}

impl SenderSample {
    fn of(at: Instant, conn: ConnId, c: &Connection) -> Self {
        let tcb = c.tcb();
        let cwnd = c.cwnd();
        let ssthresh = Some(c.ssthresh()).filter(|&t| t != usize::MAX);
        let phase = if c.in_recovery() {
            CongestionPhase::Recovery
        } else if ssthresh.is_none_or(|t| cwnd < t) {
            CongestionPhase::SlowStart
        } else {
            CongestionPhase::Avoidance
        };
        let stats = c.stats();
        SenderSample {
            at,
            conn,
            state: c.state(),
            cwnd,
            ssthresh,
            in_flight: tcb.snd_nxt.since(tcb.snd_una),
            snd_wnd: tcb.snd_wnd as usize,
            srtt: c.srtt(),
            rto: c.rto(),
            phase,
            retransmits: stats.retransmits,
            timeouts: stats.timeouts,
        }
    }

    /// Equal in everything but the time.
    fn same_as(&self, other: &SenderSample) -> bool {
        SenderSample {
            at: self.at,
            ..*other
        } == *self
    }
}

/// The bounded log of [`SenderSample`]s, and each connection's addresses.
#[derive(Clone, Debug)]
pub struct Recorder {
    samples: VecDeque<SenderSample>,
    capacity: usize,
    dropped: u64,
    /// Each connection's last kept sample (to keep only changes) and its addresses. A freed
    /// connection's entry stays, so the log can still name it; bounded like the samples.
    conns: BTreeMap<ConnId, (SocketAddr, SocketAddr, Option<SenderSample>)>,
    /// The latest sample of each connection sampled at `instant`, not yet in the log.
    pending: BTreeMap<ConnId, SenderSample>,
    instant: Instant,
}

impl Recorder {
    /// An empty log keeping at most `capacity` samples (and as many connections).
    pub fn new(capacity: usize) -> Self {
        Recorder {
            samples: VecDeque::new(),
            capacity: capacity.max(1),
            dropped: 0,
            conns: BTreeMap::new(),
            pending: BTreeMap::new(),
            instant: Instant::ZERO,
        }
    }

    /// The samples kept, oldest first; those of the latest instant only after
    /// [`flush`](Self::flush) or a [`drain`](Self::drain) at a later time.
    pub fn samples(&self) -> impl ExactSizeIterator<Item = &SenderSample> + '_ {
        self.samples.iter()
    }

    /// Closes the latest instant: its samples join the log. (A run that is over calls it
    /// before reading the log; a live one drains with the time instead.)
    pub fn flush(&mut self) {
        for (id, sample) in core::mem::take(&mut self.pending) {
            let Some((_, _, last)) = self.conns.get_mut(&id) else {
                continue;
            };
            if last.is_some_and(|l| sample.same_as(&l)) {
                continue;
            }
            *last = Some(sample);
            if self.samples.len() >= self.capacity {
                self.samples.pop_front();
                self.dropped += 1;
            }
            self.samples.push_back(sample);
        }
    }

    /// Samples dropped because the log was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The local and remote address of a connection that has samples.
    pub fn addresses(&self, conn: ConnId) -> Option<(SocketAddr, SocketAddr)> {
        self.conns.get(&conn).map(|&(l, r, _)| (l, r))
    }

    /// Takes the samples out, leaving the log empty (connections' addresses are kept). `now`:
    /// the stack's time; samples of an instant before it are complete and come out too.
    pub fn drain(&mut self, now: Instant) -> impl Iterator<Item = SenderSample> + '_ {
        if now > self.instant {
            self.flush();
        }
        self.samples.drain(..)
    }

    fn note(&mut self, at: Instant, id: ConnId, c: &Connection) {
        if at > self.instant {
            self.flush();
            self.instant = at;
        }
        if !self.conns.contains_key(&id) {
            if self.conns.len() >= self.capacity {
                // Bounded: forget the lowest handle (its addresses and last sample).
                self.conns.pop_first();
            }
            self.conns.insert(id, (c.local(), c.remote(), None));
        }
        self.pending.insert(id, SenderSample::of(at, id, c));
    }
}

impl Stack {
    /// Turns the sender recorder on with room for `capacity` samples (replacing any log), or
    /// off with `None`. Off by default.
    pub fn set_recorder(&mut self, capacity: Option<usize>) {
        self.recorder = capacity.map(|c| alloc::boxed::Box::new(Recorder::new(c)));
    }

    /// The sender recorder's log, if on.
    pub fn recorder(&self) -> Option<&Recorder> {
        self.recorder.as_deref()
    }

    /// The sender recorder's log, if on, to drain.
    pub fn recorder_mut(&mut self) -> Option<&mut Recorder> {
        self.recorder.as_deref_mut()
    }

    /// Samples the connection if the recorder is on.
    pub(super) fn record(&mut self, now: Instant, id: ConnId) {
        let Some(mut rec) = self.recorder.take() else {
            return;
        };
        if let Some(e) = self.entry(id) {
            rec.note(now, id, &e.conn);
        }
        self.recorder = Some(rec);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;
    use crate::sim::{LinkConfig, Network};
    use crate::tcp;
    use crate::tests::{A, B, IP_B, pair};
    use alloc::vec;
    use alloc::vec::Vec;

    /// A sends `len` bytes to B over a 10 Mbit/s, 10 ms link whose queue holds 20 KB, so
    /// slow start overflows it; B reads everything. Returns the network and A's connection.
    fn transfer(len: usize, capacity: Option<usize>) -> (Network<Stack>, ConnId) {
        let link = LinkConfig::default()
            .with_delay(Duration::from_millis(10))
            .with_bandwidth(10_000_000)
            .with_queue_limit(20_000);
        let mut net = pair(7, tcp::Config::default(), link);
        net.host_mut(A).set_recorder(capacity);
        let lid = net.host_mut(B).listen(SocketAddr::new(IP_B, 9), 4).unwrap();
        let now = net.now();
        let ca = net
            .host_mut(A)
            .connect(now, SocketAddr::new(IP_B, 9))
            .unwrap();
        let data = vec![0x5a_u8; len];
        let (mut sent, mut got, mut cb) = (0, 0, None);
        let mut buf = vec![0u8; 65536];
        let limit = net.now() + Duration::from_secs(60);
        let done = net.run_until(limit, |net| {
            let now = net.now();
            if sent < len {
                sent += net.host_mut(A).send(now, ca, &data[sent..]).unwrap_or(0);
            }
            cb = cb.or_else(|| net.host_mut(B).accept(lid));
            if let Some(cb) = cb {
                while let Ok(n) = net.host_mut(B).recv(now, cb, &mut buf) {
                    if n == 0 {
                        break;
                    }
                    got += n;
                }
            }
            got == len && net.host_mut(A).connection(ca).unwrap().send_queue() == 0
        });
        assert!(done, "the transfer did not finish");
        net.host_mut(A).recorder_mut().unwrap().flush();
        (net, ca)
    }

    #[test]
    fn the_recorder_is_off_until_asked_for() {
        let link = LinkConfig::default();
        let net = pair(7, tcp::Config::default(), link);
        assert!(net.host(A).recorder().is_none());
    }

    #[test]
    fn samples_of_one_instant_fold_into_its_last() {
        let (net, ca) = transfer(100_000, Some(100_000));
        let rec = net.host(A).recorder().unwrap();
        let s: Vec<&SenderSample> = rec.samples().filter(|s| s.conn == ca).collect();
        for w in s.windows(2) {
            assert!(w[0].at < w[1].at, "two samples at {:?}", w[1].at);
        }
    }

    #[test]
    fn a_lossy_transfer_shows_slow_start_then_recovery_with_the_window_cut() {
        let (net, ca) = transfer(400_000, Some(100_000));
        let rec = net.host(A).recorder().unwrap();
        let s: Vec<SenderSample> = rec.samples().filter(|s| s.conn == ca).copied().collect();
        assert_eq!(rec.dropped(), 0);
        assert_eq!(
            rec.addresses(ca).map(|(_, r)| r),
            Some(SocketAddr::new(IP_B, 9))
        );
        // Only changes are kept, in time order.
        for w in s.windows(2) {
            assert!(
                !w[1].same_as(&w[0]),
                "an unchanged sample was kept: {:?}",
                w[1]
            );
            assert!(w[0].at <= w[1].at);
        }
        assert_eq!(s[0].phase, CongestionPhase::SlowStart);
        assert_eq!(s[0].ssthresh, None);
        let first_recovery = s
            .iter()
            .position(|x| x.phase == CongestionPhase::Recovery)
            .expect("the queue overflowed: a recovery");
        let peak = s[..first_recovery].iter().map(|x| x.cwnd).max().unwrap();
        let cut = &s[first_recovery];
        let ssthresh = cut.ssthresh.expect("ssthresh set on entering recovery");
        assert!(
            ssthresh < peak,
            "ssthresh {ssthresh} not below the peak {peak}"
        );
        assert!(
            s[first_recovery..]
                .iter()
                .any(|x| x.phase == CongestionPhase::Avoidance)
        );
        assert!(s.iter().any(|x| x.retransmits > 0));
        assert!(s.iter().map(|x| x.in_flight).max().unwrap() > 20_000);
        let last = s.last().unwrap();
        assert_eq!(last.in_flight, 0, "all acknowledged at the end");
        assert_eq!(last.state, State::Established);
        assert!(last.srtt.is_some_and(|r| r >= Duration::from_millis(20)));
    }

    #[test]
    fn the_log_keeps_its_newest_samples_within_its_capacity_and_counts_the_rest() {
        let (net, ca) = transfer(100_000, Some(16));
        let rec = net.host(A).recorder().unwrap();
        assert_eq!(rec.samples().len(), 16);
        assert!(rec.dropped() > 0);
        let last = rec.samples().last().unwrap();
        assert_eq!((last.conn, last.in_flight), (ca, 0));
    }
}
