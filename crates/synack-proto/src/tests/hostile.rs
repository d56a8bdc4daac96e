//! Hostile peers and off-path attackers (issue 5): blind RST/SYN/data injection (RFC 5961),
//! every queue driven to its bound from the network side, and dead or idle peers timing out.

use super::*;
use crate::stack::{Secret, StackConfig};
use crate::tcp::SeqNum;
use crate::wire::{self, Checksum, TcpFlags, TcpOptions, TcpRepr};

/// xorshift64*, for attack traffic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn emit(src: SocketAddr, dst: SocketAddr, seg: &TcpRepr<'_>) -> Vec<u8> {
    let ip = wire::IpRepr::new(src.ip(), dst.ip(), 6, seg.buffer_len(), 64).unwrap();
    let mut buf = vec![0u8; wire::ip_tcp_len(&ip, seg)];
    let n = wire::emit_ip_tcp(&ip, seg, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

fn blank(src: SocketAddr, dst: SocketAddr) -> TcpRepr<'static> {
    TcpRepr {
        src_port: src.port(),
        dst_port: dst.port(),
        seq: SeqNum::new(0),
        ack: SeqNum::new(0),
        flags: TcpFlags::ACK,
        window: 65535,
        urgent: 0,
        options: TcpOptions::default(),
        payload: &[],
    }
}

/// A forged segment with the right 4-tuple and random sequence numbers.
fn forged(rng: &mut Rng, src: SocketAddr, dst: SocketAddr) -> Vec<u8> {
    let r = rng.next();
    let flags = match r % 4 {
        0 => TcpFlags::RST,
        1 => TcpFlags::SYN,
        2 => TcpFlags::ACK | TcpFlags::PSH,
        _ => TcpFlags::RST | TcpFlags::ACK,
    };
    let seg = TcpRepr {
        seq: SeqNum::new((r >> 16) as u32),
        ack: SeqNum::new(rng.next() as u32),
        flags,
        payload: if flags.psh() { b"EVIL" } else { &[] },
        ..blank(src, dst)
    };
    emit(src, dst, &seg)
}

#[test]
fn rfc5961_blind_rst_syn_and_data_across_the_sequence_space_never_disturb_a_transfer() {
    let tcp = tcp::Config {
        msl: Duration::from_millis(500),
        ..tcp::Config::default()
    };
    let link = LinkConfig::default()
        .with_delay(Duration::from_millis(5))
        .with_bandwidth(10_000_000);
    let net = pair(11, tcp, link);
    let server = SocketAddr::new(IP_B, 80);
    let mut rng = Rng(0xdead_beef);
    let mut forged_count = 0u64;
    let mut next_attack = Instant::ZERO;
    let x = exchange_with(
        net,
        server,
        stream(2_000_000, 5),
        stream(500_000, 6),
        Duration::from_secs(600),
        |net, a, _| {
            // RFC 5961 defends synchronized connections; the handshake itself is RFC 9293's.
            let Some(client) = a
                .conn
                .and_then(|c| net.host(A).connection(c))
                .filter(|c| c.state().is_synchronized() && c.state() != State::TimeWait)
                .map(|c| c.local())
            else {
                return;
            };
            // The attacker's rate is set in virtual time: 40 segments each way per millisecond
            // (the transfer takes under 3 s of virtual time with SACK recovery).
            let now = net.now();
            if now < next_attack {
                return;
            }
            next_attack = now + Duration::from_millis(1);
            for _ in 0..40 {
                let to_b = forged(&mut rng, client, server);
                net.host_mut(B).handle_packet(now, &to_b);
                let to_a = forged(&mut rng, server, client);
                net.host_mut(A).handle_packet(now, &to_a);
                forged_count += 2;
            }
        },
    );
    assert_clean(&x, "blind attack");
    let (ca, cb) = (x.net.host(A).counters(), x.net.host(B).counters());
    eprintln!(
        "blind attack: {forged_count} forged segments, {:?} virtual",
        x.net.now()
    );
    assert!(forged_count > 60_000, "{forged_count} forged segments");
    assert_eq!(ca.rsts_accepted + cb.rsts_accepted, 0);
    assert!(
        ca.challenge_acks + cb.challenge_acks > 0,
        "forged SYNs drew challenge ACKs"
    );
    // Per connection at most 10 challenge ACKs per second (RFC 5961 §7).
    let secs = x.net.now().total_millis() / 1000 + 1;
    assert!(
        ca.challenge_acks <= 10 * secs && cb.challenge_acks <= 10 * secs,
        "{ca:?} {cb:?}"
    );
}

/// A scripted peer talking to one stack directly, without the simulator.
struct RawPeer {
    stack: Stack,
    listener: crate::stack::ListenerId,
    now: Instant,
    me: SocketAddr,
    them: SocketAddr,
}

impl RawPeer {
    fn new(cfg: StackConfig, port: u16) -> Self {
        let mut stack = Stack::new(cfg, Secret::from_bytes(TEST_SECRET), &[IP_B]);
        let them = SocketAddr::new(IP_B, port);
        let listener = stack.listen(them, 16).unwrap();
        RawPeer {
            stack,
            listener,
            now: Instant::ZERO,
            me: SocketAddr::new(IP_A, 40000),
            them,
        }
    }

    fn send(&mut self, seg: TcpRepr<'_>) {
        let bytes = emit(self.me, self.them, &seg);
        self.stack.handle_packet(self.now, &bytes);
    }

    /// Everything the stack sends, as (flags, seq, ack, window, payload length).
    fn recv(&mut self) -> Vec<(TcpFlags, SeqNum, SeqNum, u16, usize)> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 70_000];
        while let Some(n) = self.stack.poll_transmit(self.now, &mut buf) {
            let (_, s) = wire::parse_ip_tcp(&buf[..n], Checksum::Verify).unwrap();
            out.push((s.flags, s.seq, s.ack, s.window, s.payload.len()));
        }
        out
    }

    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(t) = self.stack.poll_timeout().filter(|&t| t <= end) {
            self.now = t.max(self.now);
            self.stack.handle_timeout(self.now);
            let _ = self.recv();
        }
        self.now = end;
    }

    /// Handshake from our ISN 1000; returns the stack's ISS and the accepted connection.
    fn connect(&mut self) -> (SeqNum, ConnId) {
        self.send(TcpRepr {
            seq: SeqNum::new(1000),
            flags: TcpFlags::SYN,
            options: TcpOptions {
                mss: Some(1460),
                ..TcpOptions::default()
            },
            ..blank(self.me, self.them)
        });
        let syn_ack = self.recv()[0];
        assert_eq!(syn_ack.0, TcpFlags::SYN | TcpFlags::ACK);
        self.send(TcpRepr {
            seq: SeqNum::new(1001),
            ack: syn_ack.1 + 1,
            ..blank(self.me, self.them)
        });
        let id = self.stack.accept(self.listener).unwrap();
        (syn_ack.1, id)
    }
}

fn small_cfg() -> StackConfig {
    StackConfig {
        tcp: tcp::Config {
            recv_buffer: 16 * 1024,
            send_buffer: 16 * 1024,
            max_ooo_ranges: 8,
            ..tcp::Config::default()
        },
        ..StackConfig::default()
    }
}

#[test]
fn bounded_reassembly_under_a_byte_at_a_time_peer_with_holes() {
    let mut p = RawPeer::new(small_cfg(), 80);
    let (_, id) = p.connect();
    // One byte at every other offset: each a new hole, far more than the range table holds.
    for k in 0..5000usize {
        p.send(TcpRepr {
            seq: SeqNum::new(1001) + (2 * k + 1),
            ack: p.stack.connection(id).unwrap().tcb().snd_nxt,
            payload: b"x",
            ..blank(p.me, p.them)
        });
        let _ = p.recv();
        let c = p.stack.connection(id).unwrap();
        assert!(
            c.memory_usage() < 16 * 1024 + 8 * 16 + 4096,
            "{}",
            c.memory_usage()
        );
    }
    // The in-order byte is still accepted with the table full (smoltcp #452).
    p.send(TcpRepr {
        seq: SeqNum::new(1001),
        ack: p.stack.connection(id).unwrap().tcb().snd_nxt,
        payload: b"y",
        ..blank(p.me, p.them)
    });
    let acks = p.recv();
    assert!(
        acks.iter().any(|s| s.2.get() > 1001),
        "RCV.NXT advanced: {acks:?}"
    );
    assert_eq!(p.stack.state(id), State::Established);
}

#[test]
fn zero_window_forever_is_probed_with_bounded_memory_and_never_gives_up_while_answered() {
    let mut p = RawPeer::new(small_cfg(), 80);
    let (iss, id) = p.connect();
    // The application keeps writing; the peer advertises a zero window and answers probes.
    let data = vec![1u8; 100_000];
    let taken = p.stack.send(p.now, id, &data).unwrap();
    assert!(
        taken <= 16 * 1024,
        "the send buffer is bounded: took {taken}"
    );
    let first = p.recv();
    let sent: usize = first.iter().map(|s| s.4).sum();
    p.send(TcpRepr {
        seq: SeqNum::new(1001),
        ack: iss + 1 + sent,
        window: 0,
        ..blank(p.me, p.them)
    });
    for _ in 0..200 {
        p.advance(Duration::from_secs(30));
        // Answer whatever probe came with the same zero window.
        p.send(TcpRepr {
            seq: SeqNum::new(1001),
            ack: iss + 1 + sent,
            window: 0,
            ..blank(p.me, p.them)
        });
        let _ = p.recv();
        assert!(p.stack.connection(id).unwrap().send_queue() <= 16 * 1024);
    }
    assert_eq!(
        p.stack.state(id),
        State::Established,
        "alive after 100 minutes of zero window"
    );
    assert!(p.stack.counters().win_probes > 10);
    assert!(p.stack.memory_usage() < 256 * 1024);
}

#[test]
fn peer_that_never_acks_data_times_out_as_configured() {
    let mut cfg = small_cfg();
    cfg.tcp.max_retries = 5;
    let mut p = RawPeer::new(cfg, 80);
    let (_, id) = p.connect();
    p.stack.send(p.now, id, b"hello?").unwrap();
    let _ = p.recv();
    p.advance(Duration::from_secs(600));
    assert_eq!(p.stack.error(id), Some(tcp::Error::TimedOut));
    assert_eq!(p.stack.counters().abort_on_timeout, 1);
}

#[test]
fn ack_of_data_never_sent_is_challenged_and_changes_nothing() {
    let mut p = RawPeer::new(small_cfg(), 80);
    let (iss, id) = p.connect();
    p.send(TcpRepr {
        seq: SeqNum::new(1001),
        ack: iss + 1_000_000,
        payload: b"data",
        ..blank(p.me, p.them)
    });
    let out = p.recv();
    assert_eq!(out.len(), 1, "one challenge ACK: {out:?}");
    assert_eq!(
        (out[0].1, out[0].2),
        (iss + 1, SeqNum::new(1001)),
        "data not accepted"
    );
    let c = p.stack.connection(id).unwrap();
    assert_eq!((c.tcb().snd_una, c.recv_queue()), (iss + 1, 0));
}

#[test]
fn rfc5961_7_global_challenge_ack_limit_caps_all_connections_together() {
    let cfg = StackConfig {
        challenge_ack_limit: 25,
        ..small_cfg()
    };
    let mut p = RawPeer::new(cfg, 80);
    let mut conns = Vec::new();
    for port in 0..10u16 {
        p.me = SocketAddr::new(IP_A, 41000 + port);
        conns.push((p.me, p.connect()));
    }
    let mut challenges = 0;
    for (me, (_, _)) in &conns {
        p.me = *me;
        for k in 0..20u32 {
            p.send(TcpRepr {
                seq: SeqNum::new(5_000_000 + k),
                flags: TcpFlags::SYN,
                ..blank(p.me, p.them)
            });
            challenges += p.recv().len();
        }
    }
    assert_eq!(
        challenges, 25,
        "the stack-wide budget, not 10 per connection × 10"
    );
    assert_eq!(p.stack.counters().challenge_acks, 25);
    // A second later the budget is back.
    p.advance(Duration::from_secs(1));
    p.send(TcpRepr {
        seq: SeqNum::new(9),
        flags: TcpFlags::SYN,
        ..blank(p.me, p.them)
    });
    assert_eq!(p.recv().len(), 1);
}

fn keepalive_cfg() -> tcp::Config {
    tcp::Config {
        keepalive: Some(tcp::Keepalive {
            idle: Duration::from_secs(10),
            interval: Duration::from_secs(2),
            probes: 3,
        }),
        ..tcp::Config::default()
    }
}

fn established_pair(seed: u64, tcp: tcp::Config) -> (Network<Stack>, ConnId, ConnId) {
    let mut net = pair(seed, tcp, LinkConfig::default());
    let server = SocketAddr::new(IP_B, 80);
    let l = net.host_mut(B).listen(server, 4).unwrap();
    let now = net.now();
    let a = net.host_mut(A).connect(now, server).unwrap();
    let mut b = None;
    let limit = net.now() + Duration::from_secs(5);
    assert!(net.run_until(limit, |n| {
        b = b.or_else(|| n.host_mut(B).accept(l));
        b.is_some() && n.host(A).state(a) == State::Established
    }));
    (net, a, b.unwrap())
}

#[test]
fn rfc9293_3_8_4_keepalive_keeps_an_idle_connection_and_detects_a_dead_peer() {
    let (mut net, a, _b) = established_pair(12, keepalive_cfg());
    // Idle but alive: probes are answered, the connection stays up for an hour.
    let hour = net.now() + Duration::from_secs(3600);
    net.run_until(hour, |_| false);
    assert_eq!(net.host(A).state(a), State::Established);
    // Both ends probe after 10 s of silence, and each probe resets the other's idle timer.
    let probes = net.host(A).counters().keepalive_probes + net.host(B).counters().keepalive_probes;
    assert!(probes >= 300, "{probes} keep-alive probes in an hour");
    // The peer vanishes: after 10 s idle and 3 probes 2 s apart, A gives up.
    net.set_links(A, B, LinkConfig::default().with_loss(1.0));
    let t0 = net.now();
    let later = t0 + Duration::from_secs(60);
    net.run_until(later, |n| n.host(A).state(a) == State::Closed);
    assert_eq!(net.host(A).error(a), Some(tcp::Error::TimedOut));
    let took = net.now() - t0;
    assert!(
        took <= Duration::from_secs(10 + 3 * 2 + 2),
        "gave up after {took:?}"
    );
}

#[test]
fn orphaned_fin_wait_2_times_out_and_frees_the_connection() {
    let tcp = tcp::Config {
        fin_wait_2_timeout: Duration::from_secs(30),
        ..tcp::Config::default()
    };
    let (mut net, a, _b) = established_pair(13, tcp);
    let now = net.now();
    net.host_mut(A).close(now, a).unwrap();
    let soon = now + Duration::from_secs(1);
    net.run_until(soon, |n| n.host(A).state(a) == State::FinWait2);
    assert_eq!(net.host(A).state(a), State::FinWait2, "B never closes");
    let later = now + Duration::from_secs(40);
    net.run_until(later, |n| n.host(A).connection_count() == 0);
    assert_eq!(net.host(A).connection_count(), 0);
}

#[test]
fn time_wait_table_is_bounded() {
    let mut net = pair(14, tcp::Config::default(), LinkConfig::default());
    let cfg = StackConfig {
        max_time_wait: 5,
        ..StackConfig::default()
    };
    *net.host_mut(A) = Stack::new(cfg, Secret::from_bytes([7; 16]), &[IP_A, IP6_A]);
    let server = SocketAddr::new(IP_B, 80);
    let l = net.host_mut(B).listen(server, 64).unwrap();
    let mut peak = 0;
    for _ in 0..20 {
        let now = net.now();
        let a = net.host_mut(A).connect(now, server).unwrap();
        let mut b = None;
        let limit = now + Duration::from_secs(5);
        net.run_until(limit, |n| {
            b = b.or_else(|| n.host_mut(B).accept(l));
            b.is_some() && n.host(A).state(a) == State::Established
        });
        let now = net.now();
        net.host_mut(A).close(now, a).unwrap();
        let b = b.unwrap();
        net.run_until(now + Duration::from_millis(50), |_| false);
        let now = net.now();
        net.host_mut(B).close(now, b).unwrap();
        net.run_until(now + Duration::from_millis(50), |_| false);
        let tw = net
            .host(A)
            .connections()
            .filter(|&c| net.host(A).state(c) == State::TimeWait)
            .count();
        peak = peak.max(tw);
    }
    assert_eq!(peak, 5);
    assert_eq!(net.host(A).counters().tw_overflow, 15);
}

/// A pair (link seed `seed`) whose host A holds at most `max_time_wait` connections in
/// TIME-WAIT, and B's listener on port 80.
fn time_wait_limited(seed: u64, max_time_wait: usize) -> (Network<Stack>, ListenerId) {
    let mut net = pair(seed, tcp::Config::default(), LinkConfig::default());
    let cfg = StackConfig {
        max_time_wait,
        ..StackConfig::default()
    };
    *net.host_mut(A) = Stack::new(cfg, Secret::from_bytes([seed as u8; 16]), &[IP_A, IP6_A]);
    let l = net
        .host_mut(B)
        .listen(SocketAddr::new(IP_B, 80), 8)
        .unwrap();
    (net, l)
}

/// A connection that finds the TIME-WAIT table full ends at once, but only after the ACK of
/// the peer's FIN has left (Linux's `tcp_fin` sends it before `tcp_time_wait`): before, the
/// pending ACK was thrown away with the connection, the peer sat in LAST-ACK retransmitting
/// its FIN for a whole RTO and then took a RST for a clean close.
#[test]
fn rfc9293_3_10_7_4_time_wait_overflow_still_acks_the_peers_fin() {
    let (mut net, l) = time_wait_limited(16, 0);
    for _ in 0..3 {
        let (a, b) = established(&mut net, l);
        let now = net.now();
        net.host_mut(A).close(now, a).unwrap();
        net.run_until(now + Duration::from_millis(50), |_| false);
        assert_eq!(net.host(B).state(b), State::CloseWait);
        let now = net.now();
        net.host_mut(B).close(now, b).unwrap();
        // Well inside B's first retransmission timeout (1 s): only the ACK can close it.
        net.run_until(now + Duration::from_millis(50), |_| false);
        assert_eq!(net.host(B).state(b), State::Closed);
        assert_eq!(
            net.host(B).error(b),
            None,
            "closed by the ACK, not by a RST"
        );
        assert_eq!(net.host(A).state(a), State::Closed);
    }
    assert_eq!(net.host(A).counters().tw_overflow, 3);
    assert_eq!(net.host(A).counters().out_rsts, 0);
    assert_eq!(net.host(B).counters().in_rsts, 0);
}

/// Opens a connection from A to B:80 through listener `l`: A's and B's handles once A is
/// ESTABLISHED and B has accepted it.
fn established(net: &mut Network<Stack>, l: ListenerId) -> (ConnId, ConnId) {
    let server = SocketAddr::new(IP_B, 80);
    let now = net.now();
    let a = net.host_mut(A).connect(now, server).unwrap();
    let mut b = None;
    net.run_until(now + Duration::from_secs(5), |n| {
        b = b.or_else(|| n.host_mut(B).accept(l));
        b.is_some() && n.host(A).state(a) == State::Established
    });
    (a, b.unwrap())
}

/// Opens a connection from A to B:80, closes it from A first (A ends in TIME-WAIT) and
/// returns A's handle.
fn a_in_time_wait(net: &mut Network<Stack>, l: ListenerId) -> ConnId {
    let (a, b) = established(net, l);
    let now = net.now();
    net.host_mut(A).close(now, a).unwrap();
    net.run_until(now + Duration::from_millis(50), |_| false);
    let now = net.now();
    net.host_mut(B).close(now, b).unwrap();
    net.run_until(now + Duration::from_millis(50), |_| false);
    assert_eq!(net.host(A).state(a), State::TimeWait);
    a
}

/// Aborting a connection in TIME-WAIT takes it out of the TIME-WAIT count: with room for one,
/// the next connection to reach TIME-WAIT still gets its full 2×MSL (before, the aborted one
/// stayed counted, so the table filled with connections that were gone and every later
/// TIME-WAIT was cut short).
#[test]
fn aborting_a_time_wait_connection_frees_its_place_in_the_time_wait_table() {
    let (mut net, l) = time_wait_limited(15, 1);
    for _ in 0..3 {
        let a = a_in_time_wait(&mut net, l);
        net.host_mut(A).abort(a);
        assert_eq!(net.host(A).counters().tw_overflow, 0);
    }
}

#[test]
fn syn_fin_to_a_listener_is_dropped_and_counted_not_answered() {
    let mut net = pair(3, tcp::Config::default(), LinkConfig::default());
    let server = SocketAddr::new(IP_B, 80);
    net.host_mut(B).listen(server, 8).unwrap();
    let client = SocketAddr::new(IP_A, 40000);
    let seg = TcpRepr {
        seq: SeqNum::new(1234),
        flags: TcpFlags::SYN | TcpFlags::FIN,
        ..blank(client, server)
    };
    let now = net.now();
    let b = net.host_mut(B);
    b.handle_packet(now, &emit(client, server, &seg));
    let mut buf = [0u8; 2048];
    assert_eq!(b.poll_transmit(now, &mut buf), None, "no SYN,ACK, no RST");
    assert_eq!(b.counters().in_syn_fin, 1);
    assert!(
        b.snapshot().connections.is_empty(),
        "no connection was created"
    );
}
