//! Exact snapshot contents for a known exchange on the simulated network.
// Tests may panic: the stack's no-panic lints are for code that meets network input.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::sim::{LinkConfig, Network};
use crate::stack::{ConnInfo, ListenerInfo, Snapshot, Stack};
use crate::tcp::{self, State};
use crate::tests::{A, B, IP_B, pair};
use crate::time::{Duration, Instant};
use std::net::SocketAddr;

const SERVER: SocketAddr = SocketAddr::new(IP_B, 80);

/// A 10 ms one-way link, so every round trip is exactly 20 ms.
fn net() -> Network<Stack> {
    pair(
        7,
        tcp::Config::default(),
        LinkConfig::default().with_delay(Duration::from_millis(10)),
    )
}

#[test]
fn snapshot_reports_queues_rtt_and_windows_of_a_known_exchange() {
    let mut net = net();
    let l = net.host_mut(B).listen(SERVER, 8).unwrap();
    let c = net.host_mut(A).connect(Instant::ZERO, SERVER).unwrap();
    // SYN at 0 ms, SYN,ACK at 10 ms, ACK at 20 ms reaching B at 30 ms: one 20 ms RTT sample
    // on each side.
    let limit = Instant::from_millis(1000);
    assert!(
        net.run_until(limit, |n| n.host(B).snapshot().listeners[0].accept_queue
            == 1)
    );
    let s = net.host_mut(B).accept(l).unwrap();
    let now = net.now();
    assert_eq!(net.host_mut(A).send(now, c, &[7u8; 100]).unwrap(), 100);
    // Stop when B holds the 100 bytes: its ACK is still in flight, so A's send queue is full.
    assert!(net.run_until(limit, |n| n.host(B).conn_info(s).unwrap().recv_queue == 100));
    assert_eq!(net.now(), Instant::from_millis(40));

    let a = net.host(A).snapshot();
    let client = a.connections[0].local;
    let rtt = Some(Duration::from_millis(20));
    // RFC 6298 §2.2: RTO = SRTT + 4 × RTTVAR = 20 + 4 × 10 = 60 ms, raised to the 200 ms floor.
    let rto = Duration::from_millis(200);
    let want_a = ConnInfo {
        id: c,
        local: client,
        remote: SERVER,
        state: State::Established,
        send_queue: 100,
        recv_queue: 0,
        srtt: rtt,
        rto,
        // 1500 − 40 header bytes − 12 bytes of timestamp option.
        mss: 1448,
        // RFC 6928: min(10 × MSS, max(2 × MSS, 14600)) = 14480 for MSS 1448.
        cwnd: 14480,
        ssthresh: None,
        cc: "cubic",
        // B's SYN,ACK window, which RFC 7323 §2.2 never scales; no later segment from B yet:
        // the autotuned initial window, ten segments of 1460 bytes.
        snd_wnd: 14_600,
        retransmits: 0,
        timeouts: 0,
        bytes_acked: 0,
        bytes_received: 0,
    };
    assert_eq!(
        a,
        Snapshot {
            listeners: vec![],
            connections: vec![want_a],
        }
    );
    let b = net.host(B).snapshot();
    assert_eq!(
        b.listeners,
        [ListenerInfo {
            id: l,
            local: Some(SERVER),
            syn_queue: 0,
            accept_queue: 0,
            backlog: 8,
        }]
    );
    assert_eq!(
        b.connections,
        [ConnInfo {
            id: s,
            local: SERVER,
            remote: client,
            send_queue: 0,
            recv_queue: 100,
            // A's autotuned initial window in its data segment (ten segments of 1460 bytes
            // under its 64 KiB maximum): 7300 << window scale 1.
            snd_wnd: 14_600,
            bytes_received: 100,
            ..a.connections[0].clone()
        }]
    );

    // B reads 40 bytes; once its ACK is back, A's 100 bytes count as acknowledged.
    let now = net.now();
    assert_eq!(net.host_mut(B).recv(now, s, &mut [0u8; 40]).unwrap(), 40);
    assert!(net.run_until(limit, |n| n.host(A).conn_info(c).unwrap().send_queue == 0));
    let a = net.host(A).conn_info(c).unwrap();
    assert_eq!((a.send_queue, a.bytes_acked, a.bytes_received), (0, 100, 0));
    let b = net.host(B).conn_info(s).unwrap();
    assert_eq!(
        (b.recv_queue, b.bytes_acked, b.bytes_received),
        (60, 0, 100)
    );
}

#[test]
fn snapshot_table_has_one_aligned_row_per_listener_and_connection() {
    let mut net = net();
    net.host_mut(B).listen(SERVER, 8).unwrap();
    net.host_mut(B).intercept(4).unwrap();
    let c = net.host_mut(A).connect(Instant::ZERO, SERVER).unwrap();
    let limit = Instant::from_millis(1000);
    assert!(net.run_until(limit, |n| n.host(A).state(c) == State::Established));
    assert!(
        net.run_until(limit, |n| n.host(B).snapshot().listeners[0].accept_queue
            == 1)
    );
    let port = net.host(A).conn_info(c).unwrap().local.port();
    let want = format!(
        "\
State        Recv-Q  Send-Q  Local            Peer                srtt-ms  rto-ms   mss   cwnd   ssthresh  retrans  acked  received  cc
LISTEN       1       8       198.51.100.2:80  *:*                 -        -        -     -      -         syn-q 0  -      -         -
LISTEN       0       4       *:* (intercept)  *:*                 -        -        -     -      -         syn-q 0  -      -         -
ESTABLISHED  0       0       198.51.100.2:80  198.51.100.1:{port}  20.000   200.000  1448  14480  -         0        0      0         cubic
"
    );
    let got = net.host(B).snapshot().to_string();
    assert_eq!(got, want, "\n{got}");
}
