//! The receive checksum folded into the copy into the receive ring (issue 14 item 1): a
//! verified in-order segment is copied once, a corrupted one changes nothing, and every
//! other segment gets exactly what the verify-then-copy path gave it.

use super::*;
use crate::wire::{self, Checksum};

/// Two stacks joined by hand (no simulator), so a test decides what each packet meets.
struct Hands {
    a: Stack,
    b: Stack,
    now: Instant,
}

fn stack(ip: IpAddr, host: u8, recv_buffer: usize) -> Stack {
    let cfg = StackConfig {
        tcp: tcp::Config {
            recv_buffer,
            ..tcp::Config::default()
        },
        ..StackConfig::default()
    };
    Stack::new(cfg, Secret::from_bytes([host; 16]), &[ip])
}

/// Everything `s` has to send now.
fn drain(s: &mut Stack, now: Instant) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 70_000];
    while let Some(n) = s.poll_transmit(now, &mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

impl Hands {
    /// A connected pair: A's connection, B's accepted one.
    fn connected(recv_buffer: usize) -> (Hands, ConnId, ConnId) {
        let mut h = Hands {
            a: stack(IP_A, 1, 1 << 20),
            b: stack(IP_B, 2, recv_buffer),
            now: Instant::ZERO,
        };
        let l = h.b.listen(SocketAddr::new(IP_B, 80), 4).unwrap();
        let c = h.a.connect(h.now, SocketAddr::new(IP_B, 80)).unwrap();
        // Odd-sized tails go out at once, so a test knows which segments it holds.
        h.a.set_nodelay(h.now, c, true).unwrap();
        h.settle();
        let s = h.b.accept(l).unwrap();
        assert_eq!(h.a.state(c), State::Established);
        (h, c, s)
    }

    /// Delivers everything both ways until neither has anything to send.
    fn settle(&mut self) {
        for _ in 0..100 {
            let (ab, ba) = (drain(&mut self.a, self.now), drain(&mut self.b, self.now));
            if ab.is_empty() && ba.is_empty() {
                return;
            }
            ab.iter().for_each(|p| self.b.handle_packet(self.now, p));
            ba.iter().for_each(|p| self.a.handle_packet(self.now, p));
        }
        panic!("did not settle");
    }

    /// Sends 64 KB through and reads it, so A's congestion window has opened.
    fn warm(&mut self, c: ConnId, s: ConnId) {
        let data = stream(64 * 1024, 9);
        let mut got = Vec::new();
        let mut sent = 0;
        while got.len() < data.len() {
            sent += self.a.send(self.now, c, &data[sent..]).unwrap_or(0);
            self.settle();
            got.extend(read_all(&mut self.b, self.now, s));
        }
        assert_eq!(got, data);
    }

    /// A's data segments for `data`, not delivered.
    fn segments_from_a(&mut self, c: ConnId, data: &[u8]) -> Vec<Vec<u8>> {
        assert_eq!(self.a.send(self.now, c, data).unwrap(), data.len());
        drain(&mut self.a, self.now)
    }
}

/// What B's side of a connection looks like from outside: the TCB, the bytes readable.
fn snapshot(s: &Stack, id: ConnId) -> (String, usize, State) {
    let conn = s.connection(id).unwrap();
    (format!("{:?}", conn.tcb()), conn.recv_queue(), s.state(id))
}

/// The TCP header length of an IP packet (IPv4, no options).
fn tcp_header_len(packet: &[u8]) -> usize {
    usize::from(packet[20 + 12] >> 4) * 4
}

fn read_all(s: &mut Stack, now: Instant, id: ConnId) -> Vec<u8> {
    let mut out = vec![0u8; 1 << 20];
    let n = match s.recv(now, id, &mut out) {
        Err(crate::stack::StackError::Tcp(tcp::Error::WouldBlock)) => 0,
        r => r.unwrap(),
    };
    out.truncate(n);
    out
}

#[test]
fn good_in_order_segment_is_folded_and_delivers_the_same_bytes() {
    let (mut h, c, s) = Hands::connected(64 * 1024);
    h.warm(c, s);
    let data = stream(6000, 1);
    let segs = h.segments_from_a(c, &data);
    assert!(segs.len() >= 2, "several MSS-sized segments");
    let before = h.b.counters();
    for p in &segs {
        h.b.handle_packet(h.now, p);
    }
    let after = h.b.counters();
    assert_eq!(
        after.in_csum_folded - before.in_csum_folded,
        segs.len() as u64
    );
    assert_eq!(after.in_segs - before.in_segs, segs.len() as u64);
    assert_eq!(after.in_csum_errors, before.in_csum_errors);
    let got = read_all(&mut h.b, h.now, s);
    let first_diff = got.iter().zip(&data).position(|(a, b)| a != b);
    assert_eq!((got.len(), first_diff), (data.len(), None));
}

/// Flips one byte at `at` (from the IP header's start) of A's next data segment and shows
/// it to B: dropped, counted as a checksum error, no state changed, no ACK; the good copy
/// then goes through folded.
fn corrupted_copy_changes_nothing(at: impl Fn(&[u8]) -> usize) {
    let (mut h, c, s) = Hands::connected(64 * 1024);
    h.warm(c, s);
    // Some data held already, so "readable unchanged" means something.
    let first = stream(500, 2);
    for p in h.segments_from_a(c, &first) {
        h.b.handle_packet(h.now, &p);
    }
    let data = stream(1000, 3);
    let segs = h.segments_from_a(c, &data);
    assert_eq!(segs.len(), 1);
    let mut bad = segs[0].clone();
    let i = at(&bad);
    bad[i] ^= 0x20;
    let _owed_for_first = drain(&mut h.b, h.now);
    let counters = h.b.counters();
    let state = snapshot(&h.b, s);
    h.b.handle_packet(h.now, &bad);
    assert!(drain(&mut h.b, h.now).is_empty(), "no ACK emitted");
    let mut want = counters;
    want.in_csum_errors += 1;
    assert_eq!(h.b.counters(), want, "only TcpInCsumErrors moved");
    assert_eq!(
        snapshot(&h.b, s),
        state,
        "RCV.NXT, SND.UNA, windows, readable"
    );
    // The good copy is taken, folded.
    h.b.handle_packet(h.now, &segs[0]);
    assert_eq!(h.b.counters().in_csum_folded, want.in_csum_folded + 1);
    let mut all = first.clone();
    all.extend_from_slice(&data);
    assert_eq!(read_all(&mut h.b, h.now, s), all);
}

#[test]
fn corrupted_payload_byte_is_dropped_counted_and_changes_no_state() {
    corrupted_copy_changes_nothing(|p| p.len() - 7);
}

#[test]
fn corrupted_first_payload_byte_is_dropped_counted_and_changes_no_state() {
    corrupted_copy_changes_nothing(|p| 20 + tcp_header_len(p));
}

#[test]
fn corrupted_header_byte_is_dropped_counted_and_changes_no_state() {
    // The high byte of the window field: the segment parses, only the checksum is wrong.
    corrupted_copy_changes_nothing(|_| 20 + 14);
}

#[test]
fn out_of_order_segment_takes_the_plain_path_and_the_hole_fill_folds() {
    let (mut h, c, s) = Hands::connected(64 * 1024);
    h.warm(c, s);
    let data = stream(6000, 4);
    let segs = h.segments_from_a(c, &data);
    assert!(
        segs.len() >= 3,
        "{:?}",
        segs.iter().map(Vec::len).collect::<Vec<_>>()
    );
    let folded = h.b.counters().in_csum_folded;
    // The last segments first: out of order, not folded.
    for p in segs[1..].iter().rev() {
        h.b.handle_packet(h.now, p);
    }
    assert_eq!(h.b.counters().in_csum_folded, folded);
    assert_eq!(h.b.connection(s).unwrap().recv_queue(), 0);
    // The hole fill ends where the first out-of-order range starts: folded.
    h.b.handle_packet(h.now, &segs[0]);
    assert_eq!(h.b.counters().in_csum_folded, folded + 1);
    assert_eq!(read_all(&mut h.b, h.now, s), data);
}

/// Runs one packet schedule through two B stacks built alike: `folding` gets every packet
/// as it is ([`Stack::handle_packet`], verifying, folding where it may); `plain` gets
/// what the verify-then-copy path would have processed (the packet is verified apart and
/// handed over with [`Checksum::Ignore`], which never folds). Everything they send, their
/// states and counters (but the fold counter, and the checksum errors the plain one did
/// not see) must be the same.
fn same_as_plain_path(recv_buffer: usize, schedule: impl Fn(&[Vec<u8>]) -> Vec<Vec<u8>>) {
    let (mut h, c, s) = Hands::connected(recv_buffer);
    let (plain_h, _, s2) = Hands::connected(recv_buffer);
    assert_eq!(snapshot(&h.b, s), snapshot(&plain_h.b, s2));
    let mut plain = plain_h.b;
    let mut csum_dropped = 0;
    let mut folded_total = 0;
    for round in 0..20u64 {
        h.now += Duration::from_millis(1);
        let data = stream(5000, round);
        let _ = h.a.send(h.now, c, &data);
        let segs = drain(&mut h.a, h.now);
        for p in schedule(&segs) {
            h.b.handle_packet(h.now, &p);
            if wire::parse_ip_tcp(&p, Checksum::Verify).is_ok() {
                plain.handle_packet_with(h.now, &p, Checksum::Ignore);
            } else {
                csum_dropped += 1;
            }
        }
        let out = drain(&mut h.b, h.now);
        assert_eq!(
            out,
            drain(&mut plain, h.now),
            "round {round}: same segments out"
        );
        assert_eq!(snapshot(&h.b, s), snapshot(&plain, s2), "round {round}");
        let got = read_all(&mut h.b, h.now, s);
        assert_eq!(got, read_all(&mut plain, h.now, s2), "round {round}");
        for p in &out {
            h.a.handle_packet(h.now, p);
        }
    }
    let mut want = plain.counters();
    let got = h.b.counters();
    folded_total += got.in_csum_folded;
    want.in_csum_folded = got.in_csum_folded;
    want.in_csum_errors += csum_dropped;
    assert_eq!(got, want, "same counters but the fold's own");
    assert!(folded_total > 0, "some segments were folded");
}

/// A seeded shuffle with duplicates and a corrupted copy now and then.
fn shuffled(seed: u64) -> impl Fn(&[Vec<u8>]) -> Vec<Vec<u8>> {
    move |segs: &[Vec<u8>]| {
        let mut x = seed.wrapping_add(segs.len() as u64) | 1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut out: Vec<Vec<u8>> = segs.to_vec();
        for i in (1..out.len()).rev() {
            if next() % 3 == 0 {
                let j = (next() % (i as u64 + 1)) as usize;
                out.swap(i, j);
            }
        }
        let mut extra = Vec::new();
        for p in &out {
            if next() % 5 == 0 {
                let mut bad = p.clone();
                let i = (next() % p.len() as u64) as usize;
                bad[i.max(20)] ^= 1 << (next() % 8);
                extra.push(bad);
            }
            if next() % 7 == 0 {
                extra.push(p.clone());
            }
            extra.push(p.clone());
        }
        extra
    }
}

#[test]
fn in_order_stream_matches_the_verify_then_copy_path() {
    same_as_plain_path(64 * 1024, |segs| segs.to_vec());
}

#[test]
fn reordered_duplicated_and_corrupted_segments_match_the_verify_then_copy_path() {
    for seed in 1..6 {
        same_as_plain_path(64 * 1024, shuffled(seed));
    }
}

#[test]
fn window_overflowing_segments_match_the_verify_then_copy_path() {
    // A 6 KB buffer the application empties only once a round: later segments of a
    // 5 KB round overflow the window (partial fit) or find it closed.
    for seed in 1..4 {
        same_as_plain_path(6 * 1024, shuffled(seed));
    }
}

#[test]
fn deferred_parse_plus_payload_sum_verifies_exactly_when_parse_tcp_does() {
    let (mut h, c, _) = Hands::connected(64 * 1024);
    let segs = h.segments_from_a(c, &stream(1001, 5));
    let good = &segs[0];
    for i in 0..good.len() {
        let mut p = good.clone();
        p[i] ^= 0x01;
        let Ok((ip, tcp)) = wire::ip::parse_ip(&p, Checksum::Verify) else {
            continue; // the IP header itself broke
        };
        let plain = wire::parse_tcp(&ip, tcp, Checksum::Verify);
        match wire::parse_tcp_deferred(&ip, tcp) {
            Ok((seg, partial)) => {
                let sum = wire::checksum::sum(seg.payload);
                let ok = wire::checksum::verifies(wire::checksum::combine(&[partial, sum]));
                assert_eq!(ok, plain.is_ok(), "byte {i}");
                if let Ok(plain) = plain {
                    assert_eq!(plain, seg, "byte {i}");
                }
            }
            Err(_) => assert!(plain.is_err(), "byte {i}"),
        }
    }
}
