//! Two connections over a lossy, reordering channel chosen by proptest: both byte streams
//! arrive intact and both sides close cleanly, A (the first to close) through TIME-WAIT.

use super::*;
use proptest::prelude::*;

/// One-way delay of the channel; a "reordered" segment takes this much longer again.
const DELAY: Duration = Duration::from_millis(10);
const REORDER_EXTRA: Duration = Duration::from_millis(25);
/// Segments beyond this many get no impairment, so every run terminates.
const MAX_FAULTS: usize = 300;
/// Hard bound on simulation steps.
const MAX_STEPS: usize = 50_000;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Side {
    A,
    B,
}

struct Channel {
    /// (delivery time, destination, tie-break order, segment).
    in_flight: Vec<(Instant, Side, u64, Seg)>,
    fates: Vec<u8>,
    sent: usize,
    order: u64,
}

impl Channel {
    /// Fate 0 drops a segment, fate 1 delays it past later ones; others deliver after DELAY.
    fn push(&mut self, now: Instant, to: Side, seg: Seg) {
        let fate = self.fates.get(self.sent).copied().unwrap_or(u8::MAX);
        self.sent += 1;
        let at = match fate {
            0 => return,
            1 => now + DELAY + REORDER_EXTRA,
            _ => now + DELAY,
        };
        self.order += 1;
        self.in_flight.push((at, to, self.order, seg));
    }

    fn next_delivery(&self) -> Option<Instant> {
        self.in_flight.iter().map(|(t, ..)| *t).min()
    }

    /// Removes and returns the segments due at `now`, in (time, send order).
    fn due(&mut self, now: Instant) -> Vec<(Side, Seg)> {
        let (mut due, rest): (Vec<_>, Vec<_>) =
            self.in_flight.drain(..).partition(|(t, ..)| *t <= now);
        self.in_flight = rest;
        due.sort_by_key(|(t, _, o, _)| (*t, *o));
        due.into_iter().map(|(_, side, _, s)| (side, s)).collect()
    }
}

/// Application state of one endpoint: what is left to send, what was received.
struct App {
    to_send: Vec<u8>,
    sent: usize,
    received: Vec<u8>,
    eof: bool,
}

impl App {
    fn pump(&mut self, c: &mut Connection) {
        if self.sent < self.to_send.len()
            && let Ok(n) = c.send(&self.to_send[self.sent..])
        {
            self.sent += n;
        }
        let mut buf = [0u8; 2048];
        loop {
            match c.recv(&mut buf) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.received.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
    }
}

struct Outcome {
    a_received: Vec<u8>,
    b_received: Vec<u8>,
    a_saw_time_wait: bool,
    states: (State, State),
    errors: (Option<crate::tcp::Error>, Option<crate::tcp::Error>),
    steps: usize,
}

fn run(data_a: Vec<u8>, data_b: Vec<u8>, fates: Vec<u8>, iss_a: u32, iss_b: u32) -> Outcome {
    let config = Config {
        recv_buffer: 2048,
        ..cfg()
    };
    let mut a = Connection::connect(config, LOCAL, REMOTE, SeqNum::new(iss_a));
    let mut b = Connection::listen(config, REMOTE, LOCAL, SeqNum::new(iss_b));
    let mut app_a = App {
        to_send: data_a,
        sent: 0,
        received: Vec::new(),
        eof: false,
    };
    let mut app_b = App {
        to_send: data_b,
        sent: 0,
        received: Vec::new(),
        eof: false,
    };
    let mut ch = Channel {
        in_flight: Vec::new(),
        fates,
        sent: 0,
        order: 0,
    };
    let mut now = Instant::ZERO;
    let mut a_saw_time_wait = false;
    let mut steps = 0;
    while steps < MAX_STEPS {
        steps += 1;
        app_a.pump(&mut a);
        app_b.pump(&mut b);
        // A closes once all its data is queued; B only after A's FIN (so A closes first).
        if app_a.sent == app_a.to_send.len() && a.state() == State::Established {
            a.close();
        }
        if app_b.sent == app_b.to_send.len() && app_b.eof && b.state() == State::CloseWait {
            b.close();
        }
        for s in drain(&mut a, now) {
            ch.push(now, Side::B, s);
        }
        for s in drain(&mut b, now) {
            ch.push(now, Side::A, s);
        }
        a_saw_time_wait |= a.state() == State::TimeWait;
        if a.state() == State::Closed && b.state() == State::Closed && ch.in_flight.is_empty() {
            break;
        }
        let Some(next) = [ch.next_delivery(), a.poll_timeout(), b.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
        else {
            break; // Nothing can ever happen again.
        };
        now = now.max(next);
        for (to, s) in ch.due(now) {
            match to {
                Side::A => {
                    let _ = a.handle_segment(now, &s.repr(), u32::MAX);
                }
                Side::B => {
                    let _ = b.handle_segment(now, &s.repr(), u32::MAX);
                }
            }
            a_saw_time_wait |= a.state() == State::TimeWait;
        }
        let _ = a.handle_timeout(now);
        let _ = b.handle_timeout(now);
    }
    app_a.pump(&mut a);
    app_b.pump(&mut b);
    Outcome {
        a_received: app_a.received,
        b_received: app_b.received,
        a_saw_time_wait,
        states: (a.state(), b.state()),
        errors: (a.error(), b.error()),
        steps,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn rfc9293_reliable_transfer_and_clean_close_over_a_lossy_reordering_channel(
        data_a in proptest::collection::vec(any::<u8>(), 0..6000),
        data_b in proptest::collection::vec(any::<u8>(), 0..6000),
        fates in proptest::collection::vec(0u8..10, 0..MAX_FAULTS),
        iss_a: u32,
        iss_b: u32,
    ) {
        let out = run(data_a.clone(), data_b.clone(), fates, iss_a, iss_b);
        prop_assert!(out.steps < MAX_STEPS, "did not finish in {} steps", MAX_STEPS);
        prop_assert_eq!(out.errors, (None, None));
        prop_assert_eq!(out.states, (State::Closed, State::Closed));
        prop_assert!(out.a_saw_time_wait, "A closed first, so A passes TIME-WAIT");
        prop_assert!(out.b_received == data_a, "B received {} of {} bytes", out.b_received.len(), data_a.len());
        prop_assert!(out.a_received == data_b, "A received {} of {} bytes", out.a_received.len(), data_b.len());
    }
}

#[test]
fn lossless_channel_transfers_both_ways() {
    let out = run(
        pattern(10_000),
        pattern(7_000),
        Vec::new(),
        u32::MAX - 100,
        5,
    );
    assert_eq!(out.errors, (None, None));
    assert_eq!(out.states, (State::Closed, State::Closed));
    assert!(out.a_saw_time_wait);
    assert_eq!(out.b_received, pattern(10_000));
    assert_eq!(out.a_received, pattern(7_000));
}

#[test]
fn every_third_segment_lost_and_every_fifth_reordered_still_completes() {
    let fates: Vec<u8> = (0..MAX_FAULTS)
        .map(|i| match (i % 3, i % 5) {
            (0, _) => 0,
            (_, 0) => 1,
            _ => 9,
        })
        .collect();
    let out = run(pattern(5_000), pattern(3_000), fates, 0, u32::MAX);
    assert_eq!(out.errors, (None, None));
    assert_eq!(out.states, (State::Closed, State::Closed));
    assert!(out.a_saw_time_wait);
    assert_eq!(out.b_received, pattern(5_000));
    assert_eq!(out.a_received, pattern(3_000));
}
