//! Tests for the simulated network, using a trivial scripted host.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;

use pcap_file::DataLink;
use pcap_file::pcap::PcapReader;

use super::*;
use crate::time::Duration;

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

fn us(n: u64) -> Instant {
    Instant::from_micros(n)
}

/// A minimal valid IPv4 packet (protocol 253, "experimentation") of `len`
/// bytes whose payload starts with `seq`.
fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, seq: u32, len: usize) -> Vec<u8> {
    assert!(len >= 24);
    let mut p = vec![0u8; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 253;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    let sum = checksum(&p[..20]);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    p[20..24].copy_from_slice(&seq.to_be_bytes());
    p
}

fn checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn seq_of(p: &[u8]) -> u32 {
    u32::from_be_bytes(p[20..24].try_into().unwrap())
}

/// A scripted host: sends what is queued, optionally paced by a timer,
/// optionally echoes, and records what it receives and when timers fire.
#[derive(Default)]
struct TestHost {
    addr: Option<Ipv4Addr>,
    /// Packets waiting for `poll_transmit`.
    outbox: VecDeque<Vec<u8>>,
    /// Pacing: on each tick, one packet moves from `paced` to `outbox`.
    paced: VecDeque<Vec<u8>>,
    interval: Duration,
    /// Pending deadlines, unsorted.
    timers: Vec<Instant>,
    /// Reply to each received packet with a 40-byte packet to its source.
    echo: bool,
    received: Vec<(Instant, Vec<u8>)>,
    /// (deadline, now) per fired timer.
    fired: Vec<(Instant, Instant)>,
}

impl TestHost {
    fn at(addr: Ipv4Addr) -> Self {
        TestHost {
            addr: Some(addr),
            ..Default::default()
        }
    }

    /// Queues `n` packets of `len` bytes to `dst`, all at once.
    fn burst(mut self, dst: Ipv4Addr, n: u32, len: usize) -> Self {
        let src = self.addr.unwrap();
        self.outbox.extend((0..n).map(|i| ipv4(src, dst, i, len)));
        self
    }

    /// Sends `n` packets of `len` bytes to `dst`, one every `interval` from time zero.
    fn paced(mut self, dst: Ipv4Addr, n: u32, len: usize, interval: Duration) -> Self {
        let src = self.addr.unwrap();
        self.paced.extend((0..n).map(|i| ipv4(src, dst, i, len)));
        self.interval = interval;
        self.timers.push(Instant::ZERO);
        self
    }
}

impl Endpoint for TestHost {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        self.received.push((now, packet.to_vec()));
        if self.echo && packet.len() >= 20 {
            let src: [u8; 4] = packet[12..16].try_into().unwrap();
            let seq = if packet.len() >= 24 {
                seq_of(packet)
            } else {
                0
            };
            self.outbox
                .push_back(ipv4(self.addr.unwrap(), Ipv4Addr::from(src), seq, 40));
        }
    }

    fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<usize> {
        let p = self.outbox.pop_front()?;
        let n = p.len().min(buf.len());
        buf[..n].copy_from_slice(&p[..n]);
        Some(p.len())
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.timers.iter().copied().min()
    }

    fn handle_timeout(&mut self, now: Instant) {
        let (due, later): (Vec<_>, Vec<_>) = self.timers.iter().partition(|&&t| t <= now);
        self.timers = later;
        for t in due {
            self.fired.push((t, now));
            if let Some(p) = self.paced.pop_front() {
                self.outbox.push_back(p);
                if !self.paced.is_empty() {
                    self.timers.push(now + self.interval);
                }
            }
        }
    }
}

/// A writer the test can read back after the network has taken it.
#[derive(Clone, Default)]
struct SharedBuf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Two hosts, A pacing `n` packets to B, B echoing, with every impairment on.
fn impaired_run(seed: u64, n: u32) -> (Vec<PacketEvent>, Vec<u8>, LinkStats) {
    let mut net = Network::new(seed);
    let a = net.add_host(
        &[A.into()],
        TestHost::at(A).paced(B, n, 200, Duration::from_micros(300)),
    );
    let b = net.add_host(
        &[B.into()],
        TestHost {
            echo: true,
            ..TestHost::at(B)
        },
    );
    let cfg = LinkConfig::default()
        .with_delay(Duration::from_millis(5))
        .with_jitter(Duration::from_millis(2))
        .with_loss(0.1)
        .with_duplicate(0.05)
        .with_corrupt(0.05)
        .with_bandwidth(10_000_000)
        .with_queue_limit(4000);
    net.set_link(a, b, cfg.clone());
    net.set_link(b, a, cfg);
    let pcap = SharedBuf::default();
    net.set_pcap(pcap.clone()).unwrap();
    net.set_recording(true);
    while net.step() {}
    let bytes = pcap.0.lock().unwrap().clone();
    (net.take_events(), bytes, net.stats())
}

#[test]
fn same_seed_gives_identical_events_and_pcap() {
    use sha2::{Digest, Sha256};
    let (e1, p1, s1) = impaired_run(42, 300);
    let (e2, p2, s2) = impaired_run(42, 300);
    assert_eq!(e1, e2);
    assert_eq!(Sha256::digest(&p1), Sha256::digest(&p2));
    assert_eq!(p1, p2);
    assert_eq!(s1, s2);
    // The scenario really exercised the impairments.
    assert!(
        s1.lost > 0 && s1.duplicated > 0 && s1.corrupted > 0,
        "{s1:?}"
    );
}

#[test]
fn different_seeds_differ() {
    let (e1, p1, _) = impaired_run(1, 300);
    let (e2, p2, _) = impaired_run(2, 300);
    assert_ne!(e1, e2);
    assert_ne!(p1, p2);
}

#[test]
fn ideal_link_delivers_after_one_millisecond_and_echo_returns() {
    let mut net = Network::new(0);
    let a = net.add_host(&[A.into()], TestHost::at(A).burst(B, 1, 60));
    let b = net.add_host(
        &[B.into()],
        TestHost {
            echo: true,
            ..TestHost::at(B)
        },
    );
    while net.step() {}
    assert_eq!(net.host(b).received.len(), 1);
    assert_eq!(net.host(b).received[0].0, ms(1));
    assert_eq!(net.host(a).received.len(), 1);
    assert_eq!(net.host(a).received[0].0, ms(2));
    assert_eq!(net.now(), ms(2));
    let s = net.stats();
    assert_eq!((s.sent, s.delivered), (2, 2));
    assert_eq!(net.link_stats(a, b).delivered, 1);
    assert_eq!(net.link_stats(b, a).delivered, 1);
}

#[test]
fn loss_rate_close_to_configured() {
    let n = 20_000;
    let mut net = Network::new(9);
    let a = net.add_host(&[A.into()], TestHost::at(A).burst(B, n, 40));
    let b = net.add_host(&[B.into()], TestHost::at(B));
    net.set_link(a, b, LinkConfig::default().with_loss(0.25));
    while net.step() {}
    let s = net.link_stats(a, b);
    assert_eq!(s.lost + s.delivered, u64::from(n));
    assert_eq!(net.host(b).received.len() as u64, s.delivered);
    let rate = s.lost as f64 / f64::from(n);
    assert!((rate - 0.25).abs() < 0.015, "loss rate {rate}");
}

#[test]
fn jitter_reorders_within_bounds() {
    let mut net = Network::new(3);
    let a = net.add_host(
        &[A.into()],
        TestHost::at(A).paced(B, 200, 40, Duration::from_micros(100)),
    );
    let b = net.add_host(&[B.into()], TestHost::at(B));
    let cfg = LinkConfig::default()
        .with_delay(Duration::from_millis(10))
        .with_jitter(Duration::from_millis(5));
    net.set_link(a, b, cfg);
    net.set_recording(true);
    while net.step() {}
    let seqs: Vec<u32> = net
        .host(b)
        .received
        .iter()
        .map(|(_, p)| seq_of(p))
        .collect();
    assert_eq!(seqs.len(), 200);
    assert!(seqs.windows(2).any(|w| w[0] > w[1]), "no reordering");
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..200).collect::<Vec<_>>());
    for e in net.take_events() {
        let extra = e.time - e.sent_at;
        assert!(extra >= Duration::from_millis(10) && extra <= Duration::from_millis(15));
    }
}

#[test]
fn duplicate_delivers_a_second_copy() {
    let mut net = Network::new(5);
    let a = net.add_host(&[A.into()], TestHost::at(A).burst(B, 50, 40));
    let b = net.add_host(&[B.into()], TestHost::at(B));
    net.set_link(a, b, LinkConfig::default().with_duplicate(1.0));
    net.set_recording(true);
    while net.step() {}
    assert_eq!(net.host(b).received.len(), 100);
    let s = net.link_stats(a, b);
    assert_eq!((s.sent, s.duplicated, s.delivered), (50, 50, 100));
    let events = net.take_events();
    let dups = events.iter().filter(|e| e.fate == Fate::Duplicate).count();
    let originals = events.iter().filter(|e| e.fate == Fate::Delivered).count();
    assert_eq!((dups, originals), (50, 50));
    for seq in 0..50 {
        let copies = net
            .host(b)
            .received
            .iter()
            .filter(|(_, p)| seq_of(p) == seq)
            .count();
        assert_eq!(copies, 2, "seq {seq}");
    }
}

#[test]
fn truncation_cuts_each_copy_to_a_random_shorter_prefix_and_is_counted() {
    let n = 200;
    let mut net = Network::new(12);
    let a = net.add_host(&[A.into()], TestHost::at(A).burst(B, n, 100));
    let b = net.add_host(&[B.into()], TestHost::at(B));
    net.set_link(a, b, LinkConfig::default().with_truncate(0.5));
    net.set_recording(true);
    while net.step() {}
    let events = net.take_events();
    assert_eq!(events.len(), n as usize);
    let mut lengths = std::collections::HashSet::new();
    for (i, e) in events.iter().enumerate() {
        let sent = ipv4(A, B, i as u32, 100);
        match e.fate {
            Fate::Truncated => {
                assert!(e.bytes.len() < sent.len(), "packet {i} not shorter");
                assert_eq!(e.bytes[..], sent[..e.bytes.len()], "packet {i}: a prefix");
                lengths.insert(e.bytes.len());
            }
            Fate::Delivered => assert_eq!(e.bytes, sent),
            other => panic!("packet {i}: {other:?}"),
        }
        assert_eq!(
            net.host(b).received[i].1,
            e.bytes,
            "host got what the log says"
        );
    }
    let truncated = events.iter().filter(|e| e.fate == Fate::Truncated).count();
    assert!(
        (60..140).contains(&truncated),
        "{truncated} of {n} truncated"
    );
    assert_eq!(net.link_stats(a, b).truncated, truncated as u64);
    // Cut anywhere: inside the header and inside the payload, down to nothing.
    assert!(lengths.iter().any(|&l| l < 20));
    assert!(lengths.iter().any(|&l| l > 20));
}

#[test]
fn truncated_copies_are_never_also_corrupted_so_the_counters_are_disjoint() {
    let mut net = Network::new(14);
    let a = net.add_host(&[A.into()], TestHost::at(A).burst(B, 300, 100));
    net.add_host(&[B.into()], TestHost::at(B));
    let cfg = LinkConfig::default().with_truncate(0.5).with_corrupt(0.5);
    net.set_link(a, HostId(1), cfg);
    net.set_recording(true);
    while net.step() {}
    let events = net.take_events();
    let count = |f: Fate| events.iter().filter(|e| e.fate == f).count() as u64;
    let s = net.link_stats(a, HostId(1));
    assert_eq!(
        (s.truncated, s.corrupted),
        (count(Fate::Truncated), count(Fate::Corrupted))
    );
    assert_eq!(s.truncated + s.corrupted + count(Fate::Delivered), 300);
    for e in events.iter().filter(|e| e.fate == Fate::Truncated) {
        let sent = ipv4(A, B, 0, 100);
        assert_eq!(
            e.bytes[..20.min(e.bytes.len())],
            sent[..20.min(e.bytes.len())]
        );
    }
}

#[test]
fn truncation_off_draws_no_randomness_so_old_seeds_replay_unchanged() {
    let run = |cfg: LinkConfig| {
        let mut net = Network::new(13);
        let a = net.add_host(&[A.into()], TestHost::at(A).burst(B, 100, 100));
        net.add_host(&[B.into()], TestHost::at(B));
        net.set_link(a, HostId(1), cfg);
        net.set_recording(true);
        while net.step() {}
        net.take_events()
    };
    let base = LinkConfig::default()
        .with_loss(0.2)
        .with_corrupt(0.2)
        .with_jitter(Duration::from_millis(3));
    assert_eq!(run(base.clone()), run(base.with_truncate(0.0)));
}

#[test]
fn corruption_flips_exactly_one_bit() {
    let n = 200;
    let mut net = Network::new(11);
    let a = net.add_host(&[A.into()], TestHost::at(A).burst(B, n, 100));
    let b = net.add_host(&[B.into()], TestHost::at(B));
    net.set_link(a, b, LinkConfig::default().with_corrupt(1.0));
    net.set_recording(true);
    while net.step() {}
    let events = net.take_events();
    assert_eq!(events.len(), n as usize);
    let mut flipped_bytes = std::collections::HashSet::new();
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.fate, Fate::Corrupted);
        let sent = ipv4(A, B, i as u32, 100);
        assert_eq!(e.bytes.len(), sent.len());
        let bits: u32 = sent
            .iter()
            .zip(&e.bytes)
            .map(|(x, y)| (x ^ y).count_ones())
            .sum();
        assert_eq!(bits, 1, "packet {i}");
        flipped_bytes.insert(sent.iter().zip(&e.bytes).position(|(x, y)| x != y));
        assert_eq!(
            net.host(b).received[i].1,
            e.bytes,
            "host got the corrupted bytes"
        );
    }
    // Anywhere in the packet, header included.
    assert!(flipped_bytes.iter().any(|p| p.unwrap() < 20));
    assert!(flipped_bytes.iter().any(|p| p.unwrap() >= 20));
    assert_eq!(net.link_stats(a, b).corrupted, u64::from(n));
}

#[test]
fn bandwidth_spaces_deliveries_by_serialisation_time() {
    // 1000 bytes at 8 Mbit/s take exactly 1 ms to serialise.
    let mut net = Network::new(0);
    let a = net.add_host(&[A.into()], TestHost::at(A).burst(B, 5, 1000));
    let b = net.add_host(&[B.into()], TestHost::at(B));
    net.set_link(a, b, LinkConfig::default().with_bandwidth(8_000_000));
    while net.step() {}
    let times: Vec<Instant> = net.host(b).received.iter().map(|(t, _)| *t).collect();
    // Delivered when the last bit is out (k ms) plus 1 ms propagation.
    assert_eq!(times, vec![ms(2), ms(3), ms(4), ms(5), ms(6)]);
}

#[test]
fn bandwidth_rounds_fractional_serialisation_without_drift() {
    // 100 bytes at 3 Mbit/s = 266.67 µs each; 3 take exactly 800 µs.
    let mut net = Network::new(0);
    let a = net.add_host(&[A.into()], TestHost::at(A).burst(B, 3, 100));
    let b = net.add_host(&[B.into()], TestHost::at(B));
    net.set_link(
        a,
        b,
        LinkConfig::default()
            .with_delay(Duration::ZERO)
            .with_bandwidth(3_000_000),
    );
    while net.step() {}
    let times: Vec<Instant> = net.host(b).received.iter().map(|(t, _)| *t).collect();
    assert_eq!(times, vec![us(267), us(534), us(800)]);
}

#[test]
fn bottleneck_queue_drops_tail() {
    let mut net = Network::new(0);
    let a = net.add_host(&[A.into()], TestHost::at(A).burst(B, 10, 1000));
    let b = net.add_host(&[B.into()], TestHost::at(B));
    net.set_link(
        a,
        b,
        LinkConfig::default()
            .with_bandwidth(8_000_000)
            .with_queue_limit(3000),
    );
    net.set_recording(true);
    while net.step() {}
    let seqs: Vec<u32> = net
        .host(b)
        .received
        .iter()
        .map(|(_, p)| seq_of(p))
        .collect();
    assert_eq!(seqs, vec![0, 1, 2]);
    let s = net.link_stats(a, b);
    assert_eq!((s.sent, s.delivered, s.queue_full), (10, 3, 7));
    let full = net.take_events();
    assert_eq!(full.iter().filter(|e| e.fate == Fate::QueueFull).count(), 7);
}

#[test]
fn unlimited_link_bounds_bytes_in_flight() {
    let mut net = Network::new(0);
    let a = net.add_host(&[A.into()], TestHost::at(A).burst(B, 10, 1000));
    let b = net.add_host(&[B.into()], TestHost::at(B));
    net.set_link(a, b, LinkConfig::default().with_queue_limit(5000));
    while net.step() {}
    let s = net.link_stats(a, b);
    assert_eq!((s.delivered, s.queue_full), (5, 5));
    // Once delivered, the buffer is free again.
    net.host_mut(a).outbox.push_back(ipv4(A, B, 99, 1000));
    while net.step() {}
    assert_eq!(net.link_stats(a, b).delivered, 6);
}

#[test]
fn packets_over_mtu_are_dropped_as_too_big() {
    let mut net = Network::new(0);
    let a = net.add_host(&[A.into()], TestHost::at(A).burst(B, 1, 1000));
    let b = net.add_host(&[B.into()], TestHost::at(B));
    net.host_mut(a).outbox.push_back(ipv4(A, B, 1, 576));
    net.set_link(a, b, LinkConfig::default().with_mtu(576));
    let pcap = SharedBuf::default();
    net.set_pcap(pcap.clone()).unwrap();
    net.set_recording(true);
    while net.step() {}
    assert_eq!(net.host(b).received.len(), 1);
    assert_eq!(seq_of(&net.host(b).received[0].1), 1);
    assert_eq!(net.link_stats(a, b).too_big, 1);
    let fates: Vec<Fate> = net.take_events().iter().map(|e| e.fate).collect();
    assert_eq!(fates, vec![Fate::TooBig, Fate::Delivered]);
    let bytes = pcap.0.lock().unwrap().clone();
    let mut reader = PcapReader::new(&bytes[..]).unwrap();
    assert_eq!(reader.next_packet().unwrap().unwrap().data.len(), 576);
    assert!(
        reader.next_packet().is_none(),
        "a too-big packet never hits the wire"
    );
}

#[test]
fn timers_fire_in_order_and_time_never_goes_backwards() {
    let mut net = Network::new(0);
    let h = net.add_host(
        &[A.into()],
        TestHost {
            timers: vec![ms(5), ms(1), ms(3), ms(3), ms(9)],
            ..TestHost::at(A)
        },
    );
    let mut last = net.now();
    net.advance_to(ms(4));
    assert_eq!(net.now(), ms(4));
    assert_eq!(
        net.host(h).fired,
        vec![(ms(1), ms(1)), (ms(3), ms(3)), (ms(3), ms(3))]
    );
    // A deadline already in the past fires at `now`, not before it.
    net.host_mut(h).timers.push(ms(2));
    while net.step() {
        assert!(net.now() >= last);
        last = net.now();
    }
    let fired = &net.host(h).fired;
    assert_eq!(fired[3..], [(ms(2), ms(4)), (ms(5), ms(5)), (ms(9), ms(9))]);
    assert!(fired.windows(2).all(|w| w[0].1 <= w[1].1));
    assert_eq!(net.now(), ms(9));
    assert!(!net.step(), "idle");
}

#[test]
fn deliveries_win_ties_with_timers() {
    let mut net = Network::new(0);
    let _a = net.add_host(&[A.into()], TestHost::at(A).burst(B, 1, 40));
    let b = net.add_host(
        &[B.into()],
        TestHost {
            timers: vec![ms(1)],
            ..TestHost::at(B)
        },
    );
    assert!(net.step());
    assert_eq!(net.host(b).received.len(), 1);
    assert!(net.host(b).fired.is_empty());
    assert!(net.step());
    assert_eq!(net.host(b).fired, vec![(ms(1), ms(1))]);
}

#[test]
fn run_until_stops_at_done_or_limit_or_idle() {
    let mut net = Network::new(0);
    let a = net.add_host(
        &[A.into()],
        TestHost::at(A).paced(B, 10, 40, Duration::from_millis(10)),
    );
    let b = net.add_host(&[B.into()], TestHost::at(B));
    let _ = a;
    assert!(net.run_until(ms(1000), |n| n.host(b).received.len() == 3));
    assert_eq!(net.now(), ms(21));
    assert!(!net.run_until(ms(35), |_| false));
    assert_eq!(net.now(), ms(35));
    assert_eq!(net.host(b).received.len(), 4);
    // A limit in the past never moves time backwards.
    assert!(!net.run_until(ms(1), |_| false));
    assert_eq!(net.now(), ms(35));
    // Idle: returns done's verdict.
    assert!(!net.run_until(ms(10_000), |_| false));
    assert_eq!(net.host(b).received.len(), 10);
    assert!(net.run_until(ms(10_000), |n| n.host(b).received.len() == 10));
}

#[test]
fn pcap_parses_back_with_raw_link_type_and_virtual_timestamps() {
    let mut net = Network::new(17);
    let a = net.add_host(
        &[A.into()],
        TestHost::at(A).paced(B, 100, 120, Duration::from_micros(250)),
    );
    let b = net.add_host(
        &[B.into()],
        TestHost {
            echo: true,
            ..TestHost::at(B)
        },
    );
    net.set_links(
        a,
        b,
        LinkConfig::default()
            .with_loss(0.2)
            .with_duplicate(0.1)
            .with_jitter(Duration::from_micros(700)),
    );
    let pcap = SharedBuf::default();
    net.set_pcap(pcap.clone()).unwrap();
    net.set_recording(true);
    while net.step() {}
    net.flush_pcap().unwrap();
    assert!(net.take_pcap_error().is_none());

    // What went onto a wire, in the order it went: delivered copies sorted
    // back into send order, plus lost packets.
    let events = net.take_events();
    let s = net.stats();
    let on_wire = (s.delivered + s.lost) as usize;
    assert_eq!(events.len(), on_wire);

    let bytes = pcap.0.lock().unwrap().clone();
    let mut reader = PcapReader::new(&bytes[..]).unwrap();
    assert_eq!(reader.header().datalink, DataLink::RAW);
    assert_eq!(u32::from(reader.header().datalink), 101);
    let mut records = Vec::new();
    while let Some(p) = reader.next_packet() {
        let p = p.unwrap();
        assert_eq!(p.orig_len as usize, p.data.len());
        records.push((p.timestamp, p.data.into_owned()));
    }
    assert_eq!(records.len(), on_wire);
    assert!(
        records.windows(2).all(|w| w[0].0 <= w[1].0),
        "timestamps monotonic"
    );
    let mut from_events: Vec<(Duration, Vec<u8>)> = events
        .iter()
        .map(|e| {
            (
                Duration::from_micros(e.sent_at.total_micros()),
                e.bytes.clone(),
            )
        })
        .collect();
    let mut sorted_records = records.clone();
    from_events.sort();
    sorted_records.sort();
    assert_eq!(sorted_records, from_events);
}

#[test]
fn pcap_to_file_writes_a_readable_file() {
    let path = std::env::temp_dir().join(format!("synack-sim-{}.pcap", std::process::id()));
    let mut net = Network::new(1);
    let _a = net.add_host(&[A.into()], TestHost::at(A).burst(B, 3, 64));
    let _b = net.add_host(&[B.into()], TestHost::at(B));
    net.pcap_to_file(&path).unwrap();
    while net.step() {}
    net.stop_pcap().unwrap();
    let file = std::fs::File::open(&path).unwrap();
    let mut reader = PcapReader::new(file).unwrap();
    let mut n = 0;
    while let Some(p) = reader.next_packet() {
        assert_eq!(p.unwrap().data.len(), 64);
        n += 1;
    }
    assert_eq!(n, 3);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn unroutable_and_garbage_packets_are_counted_not_panicked_on() {
    let mut net = Network::new(0);
    let a = net.add_host(&[A.into()], TestHost::at(A));
    let _b = net.add_host(&[B.into()], TestHost::at(B));
    let garbage = vec![
        vec![],
        vec![0x45; 19],
        vec![0x55; 60],
        vec![0x60; 39],
        ipv4(A, Ipv4Addr::new(192, 0, 2, 1), 0, 40),
        vec![0u8; SCRATCH_LEN + 1], // claims more than the buffer holds
    ];
    net.host_mut(a).outbox.extend(garbage);
    let seen = Rc::new(RefCell::new(0));
    let counter = seen.clone();
    net.set_observer(Box::new(move |_, _| *counter.borrow_mut() += 1));
    net.set_recording(true);
    while net.step() {}
    let s = net.stats();
    assert_eq!((s.sent, s.unroutable, s.delivered), (6, 6, 0));
    assert_eq!(*seen.borrow(), 6);
    let events = net.take_events();
    assert!(
        events
            .iter()
            .all(|e| e.fate == Fate::Unroutable && e.to.is_none())
    );
}

/// What an observer saw: the sender and the bytes.
type Emitted = (HostId, Vec<u8>);

#[test]
fn observer_sees_every_emitted_packet_before_impairment() {
    let mut net = Network::new(4);
    let a = net.add_host(&[A.into()], TestHost::at(A).burst(B, 20, 40));
    let b = net.add_host(&[B.into()], TestHost::at(B));
    net.set_link(a, b, LinkConfig::default().with_loss(1.0));
    let seen: Rc<RefCell<Vec<Emitted>>> = Rc::default();
    let sink = seen.clone();
    net.set_observer(Box::new(move |h, p| {
        sink.borrow_mut().push((h, p.to_vec()))
    }));
    while net.step() {}
    assert!(net.host(b).received.is_empty());
    let seen = seen.borrow();
    assert_eq!(seen.len(), 20);
    for (i, (h, p)) in seen.iter().enumerate() {
        assert_eq!(*h, a);
        assert_eq!(*p, ipv4(A, B, i as u32, 40));
    }
}

#[test]
fn ipv6_packets_route_by_destination() {
    let a6: IpAddr = "fd00::1".parse().unwrap();
    let b6: IpAddr = "fd00::2".parse().unwrap();
    let mut p = vec![0u8; 48];
    p[0] = 0x60;
    if let (IpAddr::V6(s), IpAddr::V6(d)) = (a6, b6) {
        p[8..24].copy_from_slice(&s.octets());
        p[24..40].copy_from_slice(&d.octets());
    }
    let mut net = Network::new(0);
    let a = net.add_host(&[a6], TestHost::default());
    let b = net.add_host(&[B.into(), b6], TestHost::default());
    net.host_mut(a).outbox.push_back(p.clone());
    while net.step() {}
    assert_eq!(net.host(b).received, vec![(ms(1), p)]);
}

#[test]
fn probabilities_are_clamped_or_rejected() {
    let bad = LinkConfig::default()
        .with_loss(1.5)
        .with_corrupt(f64::NAN)
        .with_truncate(-1.0);
    assert_eq!(bad.validate().unwrap_err().field, "loss");
    let c = bad.clamped();
    assert_eq!((c.loss, c.corrupt, c.truncate), (1.0, 0.0, 0.0));
    assert!(c.validate().is_ok());
    let mut net: Network<TestHost> = Network::new(0);
    let a = net.add_host(&[A.into()], TestHost::default());
    net.set_link(a, a, LinkConfig::default().with_duplicate(-3.0));
    assert_eq!(net.link_config(a, a).duplicate, 0.0);
}

proptest::proptest! {
    #[test]
    fn arbitrary_host_output_never_panics(
        seed: u64,
        packets in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..80), 0..40),
        loss in -0.5f64..1.5,
        corrupt in 0.0f64..1.0,
        bw in proptest::option::of(0u64..100_000),
        mtu in 0usize..100,
    ) {
        let mut net = Network::new(seed);
        let a = net.add_host(&[A.into()], TestHost::at(A));
        let b = net.add_host(&[B.into()], TestHost { echo: true, ..TestHost::at(B) });
        let cfg = LinkConfig {
            loss,
            corrupt,
            duplicate: 0.5,
            bandwidth_bps: bw,
            mtu,
            jitter: Duration::from_micros(500),
            ..LinkConfig::default()
        };
        net.set_links(a, b, cfg);
        net.set_recording(true);
        for mut p in packets {
            // Aim half of them at B so they get through routing.
            if p.len() >= 20 && p[0] & 1 == 0 {
                p[0] = 0x45;
                p[16..20].copy_from_slice(&B.octets());
            }
            net.host_mut(a).outbox.push_back(p);
        }
        let mut last = net.now();
        let mut steps = 0;
        while net.step() {
            proptest::prop_assert!(net.now() >= last);
            last = net.now();
            steps += 1;
            proptest::prop_assert!(steps < 10_000);
        }
        let s = net.stats();
        proptest::prop_assert_eq!(
            s.sent,
            s.lost + s.too_big + s.queue_full + s.unroutable + s.delivered - s.duplicated
        );
    }
}

#[test]
fn a_flooding_host_is_bounded_by_the_link_buffer() {
    // Emits a fresh 1000-byte packet every time it is polled, forever.
    struct Flood(Vec<u8>);
    impl Endpoint for Flood {
        fn handle_packet(&mut self, _: Instant, _: &[u8]) {}
        fn poll_transmit(&mut self, _: Instant, buf: &mut [u8]) -> Option<usize> {
            buf[..1000].copy_from_slice(&self.0);
            Some(1000)
        }
        fn poll_timeout(&self) -> Option<Instant> {
            None
        }
        fn handle_timeout(&mut self, _: Instant) {}
    }
    let mut net = Network::new(0);
    let a = net.add_host(&[A.into()], Flood(ipv4(A, B, 0, 1000)));
    let b = net.add_host(&[B.into()], Flood(ipv4(B, A, 0, 1000)));
    net.set_link(a, b, LinkConfig::default().with_queue_limit(10_000));
    net.set_link(
        b,
        a,
        LinkConfig::default()
            .with_bandwidth(8_000_000)
            .with_queue_limit(10_000),
    );
    for _ in 0..4 {
        assert!(net.step());
        // a→b: at most 10 packets in flight; b→a: at most 10 queued plus
        // one per ms of delay (1 ms) at 1 packet/ms.
        assert!(net.in_flight() <= 22, "{}", net.in_flight());
    }
    // Each drain took the per-drain maximum from both hosts and refused nearly all.
    assert!(net.stats().queue_full >= 4 * MAX_TRANSMITS_PER_DRAIN as u64 - 100);
}
