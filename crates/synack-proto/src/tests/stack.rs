//! Stack-level behaviour: listeners and backlog, refused and reset connections, timeouts,
//! simultaneous open, IPv6, many connections at once.

use super::*;

fn quiet_link() -> LinkConfig {
    LinkConfig::default().with_delay(Duration::from_millis(1))
}

fn cfg() -> tcp::Config {
    tcp::Config {
        msl: Duration::from_millis(100),
        ..tcp::Config::default()
    }
}

fn run_until(
    net: &mut Network<Stack>,
    secs: u64,
    mut done: impl FnMut(&mut Network<Stack>) -> bool,
) -> bool {
    let limit = net.now() + Duration::from_secs(secs);
    net.run_until(limit, |n| done(n))
}

#[test]
fn rfc9293_3_10_7_1_connect_to_closed_port_is_refused() {
    let mut net = pair(1, cfg(), quiet_link());
    let now = net.now();
    let c = net
        .host_mut(A)
        .connect(now, SocketAddr::new(IP_B, 9))
        .unwrap();
    assert!(run_until(&mut net, 10, |n| n.host(A).state(c) == State::Closed));
    assert_eq!(net.host(A).error(c), Some(tcp::Error::Refused));
    assert_eq!(net.host(B).counters().out_rsts, 1);
    let mut buf = [0u8; 4];
    assert_eq!(
        net.host_mut(A).recv(now, c, &mut buf),
        Err(crate::stack::StackError::Tcp(tcp::Error::Refused))
    );
}

#[test]
fn rfc6298_5_syn_to_a_black_hole_times_out_after_syn_retries() {
    let mut net = pair(
        1,
        tcp::Config {
            syn_retries: 3,
            ..cfg()
        },
        quiet_link().with_loss(1.0),
    );
    let now = net.now();
    let c = net
        .host_mut(A)
        .connect(now, SocketAddr::new(IP_B, 80))
        .unwrap();
    assert!(run_until(&mut net, 600, |n| n.host(A).state(c) == State::Closed));
    assert_eq!(net.host(A).error(c), Some(tcp::Error::TimedOut));
    // 1 + 2 + 4 + 8 s of backoff: SYN at 0, 1, 3, 7; gives up at 15 s.
    assert_eq!(net.link_stats(A, B).sent, 4);
    assert_eq!(net.now().total_millis(), 15_000);
}

#[test]
fn one_listener_serves_many_connections_through_its_backlog() {
    let mut net = pair(3, cfg(), quiet_link());
    let server = SocketAddr::new(IP_B, 80);
    let l = net.host_mut(B).listen(server, 64).unwrap();
    let now = net.now();
    let clients: Vec<ConnId> = (0..50)
        .map(|_| net.host_mut(A).connect(now, server).unwrap())
        .collect();
    let mut accepted = Vec::new();
    assert!(run_until(&mut net, 10, |n| {
        while let Some(c) = n.host_mut(B).accept(l) {
            accepted.push(c);
        }
        accepted.len() == 50
            && clients
                .iter()
                .all(|&c| n.host(A).state(c) == State::Established)
    }));
    assert_eq!(accepted.len(), 50);
    let ports: std::collections::HashSet<u16> = clients
        .iter()
        .map(|&c| net.host(A).connection(c).unwrap().local().port())
        .collect();
    assert_eq!(ports.len(), 50, "distinct ephemeral ports");
}

#[test]
fn listen_overflow_drops_syns_beyond_the_backlog_and_counts_them() {
    let mut net = pair(4, cfg(), quiet_link());
    let server = SocketAddr::new(IP_B, 80);
    let _l = net.host_mut(B).listen(server, 2).unwrap();
    let now = net.now();
    let clients: Vec<ConnId> = (0..4)
        .map(|_| net.host_mut(A).connect(now, server).unwrap())
        .collect();
    run_until(&mut net, 2, |_| false);
    let established = clients
        .iter()
        .filter(|&&c| net.host(A).state(c) == State::Established)
        .count();
    assert_eq!(
        established, 2,
        "only the backlog's worth completes while nobody accepts"
    );
    assert!(net.host(B).counters().listen_overflows >= 2);
}

#[test]
fn rfc9293_3_10_5_abort_resets_the_peer() {
    let mut net = pair(5, cfg(), quiet_link());
    let server = SocketAddr::new(IP_B, 80);
    let l = net.host_mut(B).listen(server, 4).unwrap();
    let now = net.now();
    let c = net.host_mut(A).connect(now, server).unwrap();
    assert!(run_until(&mut net, 5, |n| n.host(A).state(c) == State::Established));
    let mut s = None;
    assert!(run_until(&mut net, 5, |n| {
        s = s.or_else(|| n.host_mut(B).accept(l));
        s.is_some()
    }));
    let s = s.unwrap();
    net.host_mut(A).abort(c);
    assert!(run_until(&mut net, 5, |n| n.host(B).state(s) == State::Closed));
    assert_eq!(net.host(B).error(s), Some(tcp::Error::Reset));
    assert_eq!(
        net.host(A).connection_count(),
        0,
        "aborted connection freed at once"
    );
}

/// A connected to B's listener on port 80; returns A's and B's handles.
fn connected(net: &mut Network<Stack>) -> (ConnId, ConnId) {
    let server = SocketAddr::new(IP_B, 80);
    let l = net.host_mut(B).listen(server, 4).unwrap();
    let now = net.now();
    let c = net.host_mut(A).connect(now, server).unwrap();
    let mut s = None;
    assert!(run_until(net, 5, |n| {
        s = s.or_else(|| n.host_mut(B).accept(l));
        s.is_some() && n.host(A).state(c) == State::Established
    }));
    (c, s.unwrap())
}

#[test]
fn rfc1122_4_2_2_13_close_with_unread_data_resets_the_peer() {
    let mut net = pair(7, cfg(), quiet_link());
    let (c, s) = connected(&mut net);
    let now = net.now();
    net.host_mut(A).send(now, c, b"never read").unwrap();
    assert!(run_until(&mut net, 5, |n| n
        .host(B)
        .connection(s)
        .is_some_and(|x| x.unread() == 10)));
    let now = net.now();
    net.host_mut(B).close(now, s).unwrap();
    assert_eq!(net.host(B).counters().abort_on_close, 1);
    assert!(run_until(&mut net, 5, |n| n.host(A).state(c) == State::Closed));
    assert_eq!(
        net.host(A).error(c),
        Some(tcp::Error::Reset),
        "the peer learns its data was not consumed"
    );
    assert_eq!(net.host(B).connection_count(), 0, "freed at once");
}

#[test]
fn rfc2525_2_17_data_arriving_after_close_resets_the_peer() {
    let mut net = pair(8, cfg(), quiet_link());
    let (c, s) = connected(&mut net);
    // B closes with nothing unread: a FIN, and A's side goes to CLOSE-WAIT.
    let now = net.now();
    net.host_mut(B).close(now, s).unwrap();
    assert!(run_until(&mut net, 5, |n| n.host(A).state(c) == State::CloseWait));
    // A still sends: nobody at B will read it, so B answers with a RST.
    let now = net.now();
    net.host_mut(A).send(now, c, b"too late").unwrap();
    assert!(run_until(&mut net, 5, |n| n.host(A).state(c) == State::Closed));
    assert_eq!(net.host(A).error(c), Some(tcp::Error::Reset));
    assert_eq!(net.host(B).counters().abort_on_data, 1);
    assert_eq!(net.host(B).connection_count(), 0);
}

#[test]
fn shutdown_then_close_after_reading_everything_ends_with_fins() {
    let mut net = pair(9, cfg(), quiet_link());
    let (c, s) = connected(&mut net);
    let now = net.now();
    net.host_mut(A).send(now, c, b"read me").unwrap();
    assert!(run_until(&mut net, 5, |n| n
        .host(B)
        .connection(s)
        .is_some_and(|x| x.unread() == 7)));
    let mut buf = [0u8; 16];
    let now = net.now();
    assert_eq!(net.host_mut(B).recv(now, s, &mut buf), Ok(7));
    let now = net.now();
    net.host_mut(B).close(now, s).unwrap();
    net.host_mut(A).close(now, c).unwrap();
    assert!(run_until(&mut net, 5, |n| n.host(A).connection_count()
        == 0
        && n.host(B).connection_count() == 0));
    assert_eq!(net.host(A).error(c), None);
    let (a, b) = (net.host(A).counters(), net.host(B).counters());
    assert_eq!(
        (a.abort_on_close, b.abort_on_close, a.out_rsts, b.out_rsts),
        (0, 0, 0, 0)
    );
}

#[test]
fn rfc9293_simultaneous_open_passes_syn_received_on_both_sides() {
    let mut net = pair(6, cfg(), quiet_link());
    let a_addr = SocketAddr::new(IP_A, 5000);
    let b_addr = SocketAddr::new(IP_B, 6000);
    let now = net.now();
    let a = net.host_mut(A).connect_from(now, a_addr, b_addr).unwrap();
    let b = net.host_mut(B).connect_from(now, b_addr, a_addr).unwrap();
    let mut seen = (false, false);
    assert!(run_until(&mut net, 5, |n| {
        seen.0 |= n.host(A).state(a) == State::SynReceived;
        seen.1 |= n.host(B).state(b) == State::SynReceived;
        n.host(A).state(a) == State::Established && n.host(B).state(b) == State::Established
    }));
    assert_eq!(seen, (true, true));
}

#[test]
fn rfc9293_simultaneous_close_passes_closing_on_both_sides() {
    let mut net = pair(7, cfg(), quiet_link().with_delay(Duration::from_millis(20)));
    let server = SocketAddr::new(IP_B, 80);
    let l = net.host_mut(B).listen(server, 4).unwrap();
    let now = net.now();
    let a = net.host_mut(A).connect(now, server).unwrap();
    let mut b = None;
    assert!(run_until(&mut net, 5, |n| {
        b = b.or_else(|| n.host_mut(B).accept(l));
        b.is_some() && n.host(A).state(a) == State::Established
    }));
    let b = b.unwrap();
    let now = net.now();
    net.host_mut(A).shutdown(now, a).unwrap();
    net.host_mut(B).shutdown(now, b).unwrap();
    let mut closing = (false, false);
    assert!(run_until(&mut net, 5, |n| {
        closing.0 |= n.host(A).state(a) == State::Closing;
        closing.1 |= n.host(B).state(b) == State::Closing;
        n.host(A).state(a) == State::TimeWait && n.host(B).state(b) == State::TimeWait
    }));
    assert_eq!(closing, (true, true));
}

#[test]
fn ipv6_exchange_delivers_intact() {
    let net = pair(8, cfg(), quiet_link());
    let x = exchange(
        net,
        SocketAddr::new(IP6_B, 80),
        stream(300_000, 1),
        stream(70_000, 2),
        Duration::from_secs(600),
    );
    assert_clean(&x, "ipv6");
}

#[test]
fn two_hundred_concurrent_connections_all_complete() {
    let mut net = pair(9, cfg(), quiet_link().with_loss(0.01));
    let server = SocketAddr::new(IP_B, 80);
    let l = net.host_mut(B).listen(server, 256).unwrap();
    let now = net.now();
    let mut sides: Vec<(Side, Side)> = (0..200)
        .map(|i| {
            let a = Side {
                conn: Some(net.host_mut(A).connect(now, server).unwrap()),
                out: stream(2000 + i * 37, i as u64),
                ..Side::default()
            };
            (a, Side::default())
        })
        .collect();
    let mut buf = vec![0u8; 8192];
    let deadline = Instant::ZERO + Duration::from_secs(600);
    let mut pending_b: Vec<ConnId> = Vec::new();
    while net.now() < deadline {
        let now = net.now();
        while let Some(c) = net.host_mut(B).accept(l) {
            pending_b.push(c);
        }
        // B echoes nothing but reads everything; match B sides by the client's port.
        for c in pending_b.drain(..) {
            let port = net.host(B).connection(c).unwrap().remote().port();
            let idx = sides
                .iter()
                .position(|(a, _)| {
                    net.host(A)
                        .connection(a.conn.unwrap())
                        .map(|x| x.local().port())
                        == Some(port)
                })
                .unwrap();
            sides[idx].1.conn = Some(c);
        }
        for (a, b) in sides.iter_mut() {
            a.drive(net.host_mut(A), now, &mut buf);
            b.drive(net.host_mut(B), now, &mut buf);
        }
        if sides.iter().all(|(a, b)| a.released && b.released)
            && net.host(A).connection_count() == 0
            && net.host(B).connection_count() == 0
        {
            break;
        }
        if !net.step() {
            break;
        }
    }
    for (i, (a, b)) in sides.iter().enumerate() {
        assert!(a.error.is_none() && b.error.is_none(), "conn {i} failed");
        assert_same_stream(&b.got, &a.out, &format!("conn {i} stream"));
        assert!(a.eof && b.eof, "conn {i} not closed");
    }
    assert_eq!(net.host(A).connection_count(), 0);
    assert_eq!(net.host(B).connection_count(), 0);
}

#[test]
fn corrupted_packets_are_counted_and_never_delivered_as_data() {
    let net = pair(10, cfg(), quiet_link().with_corrupt(0.2));
    let x = exchange(
        net,
        SocketAddr::new(IP_B, 80),
        stream(200_000, 3),
        stream(10_000, 4),
        Duration::from_secs(600),
    );
    assert_clean(&x, "corruption");
    let bad = x.net.host(A).counters().in_csum_errors
        + x.net.host(B).counters().in_csum_errors
        + x.net.host(A).counters().in_errs
        + x.net.host(B).counters().in_errs;
    assert!(bad > 0, "the checksum caught corrupted packets");
}

/// The syn a fresh stack keyed by `secret` sends first to B:80: its source port and ISN.
fn first_syn(secret: [u8; 16]) -> (u16, crate::tcp::SeqNum) {
    let mut s = Stack::new(StackConfig::default(), Secret::from_bytes(secret), &[IP_A]);
    s.connect(Instant::ZERO, SocketAddr::new(IP_B, 80)).unwrap();
    let mut buf = [0u8; 1500];
    let n = s.poll_transmit(Instant::ZERO, &mut buf).unwrap();
    let (_, segment) = crate::wire::ip::parse_ip(&buf[..n], crate::wire::Checksum::Verify).unwrap();
    let tcp = crate::wire::TcpPacket::new_checked(segment).unwrap();
    (tcp.src_port(), tcp.seq_number())
}

/// RFC 6528 §3 and RFC 6056 §3.3.3: ISNs and ephemeral ports come from a keyed hash, so
/// they are only as unpredictable as the key. The stack has no default key (it must be
/// handed a `Secret`); with the same key and clock it picks the same port and ISN, with
/// another key different ones; and the secret's `Debug` does not print its bytes.
#[test]
fn rfc6528_3_isn_and_port_depend_on_the_secret_which_debug_does_not_reveal() {
    let (port_a, isn_a) = first_syn([1; 16]);
    assert_eq!(
        first_syn([1; 16]),
        (port_a, isn_a),
        "same secret, same choices"
    );
    let (port_b, isn_b) = first_syn([2; 16]);
    assert!(
        port_b != port_a && isn_b != isn_a,
        "another secret, other choices"
    );
    let secret = Secret::from_bytes([0xab; 16]);
    let shown = format!("{secret:?}");
    assert!(!shown.to_lowercase().contains("abab"), "{shown}");
    assert_eq!(shown, format!("Secret({:016x})", secret.fingerprint()));
    let stack = Stack::new(StackConfig::default(), secret.clone(), &[IP_A]);
    assert_eq!(stack.secret_fingerprint(), secret.fingerprint());
}

/// An active open never takes a port a listener takes SYNs on, also one listening on the
/// unspecified address (only an exact-address listener was skipped before).
#[test]
fn connect_never_takes_the_port_of_a_wildcard_listener() {
    let cfg = StackConfig {
        ephemeral_ports: (50000, 50001),
        ..StackConfig::default()
    };
    let mut a = Stack::new(cfg, Secret::from_bytes([3; 16]), &[IP_A]);
    a.listen(SocketAddr::new(IpAddr::from([0u8; 4]), 50000), 4)
        .unwrap();
    let remote = SocketAddr::new(IP_B, 80);
    let t0 = Instant::ZERO;
    let c = a.connect(t0, remote).unwrap();
    assert_eq!(a.connection(c).unwrap().local().port(), 50001);
    assert!(a.is_listening(SocketAddr::new(IP_A, 50000)));
    assert_eq!(
        a.connect(t0, remote),
        Err(crate::stack::StackError::PortsExhausted)
    );
}
