//! The memory cost of an idle established connection. Issue 4 asks for at most 512 bytes
//! each (a million in under 1 GiB); measured here at 497 by the stack's accounting (408 of
//! them the `Connection` struct), so the bounds below hold that goal and fail if someone
//! regrows a connection: two more 8-byte steps of the struct would pass it. Lower them as
//! the struct shrinks.

use super::{IP_A, IP_B};
use crate::stack::{Secret, Stack, StackConfig};
use crate::tcp::{Connection, State};
use crate::time::Instant;
use std::net::SocketAddr;

/// Bytes per idle established connection by the stack's own accounting: issue 4's goal
/// (497 measured with 10,000 since a slot is a bare pointer, 510 before; 550 before issue
/// 14's second memory round, 769 before its first).
const IDLE_BUDGET: usize = 512;
/// `size_of::<Connection>()` is 408 bytes (448 before issue 14's second memory round, 648
/// before its first, 1,224 before that): 32-bit byte counts in the TCB, buffers and
/// congestion window, rarely used state (SACK report, send scratch, pending RST,
/// challenge-ACK window, path MTU search) and keep-alive bookkeeping boxed only while in
/// use, four timers in one shared slot tagged in its low bits, the RTT probe's send time
/// behind a sentinel, the RTO bounds read from the shared configuration. Two 8-byte steps
/// up would cost an idle connection 513 bytes, past [`IDLE_BUDGET`].
const CONNECTION_SIZE_BOUND: usize = 408;

const T0: Instant = Instant::ZERO;

/// Moves packets both ways until neither stack has any to send.
fn shuttle(a: &mut Stack, b: &mut Stack) {
    let mut buf = vec![0u8; 2048];
    loop {
        let mut moved = false;
        while let Some(n) = a.poll_transmit(T0, &mut buf) {
            b.handle_packet(T0, &buf[..n]);
            moved = true;
        }
        while let Some(n) = b.poll_transmit(T0, &mut buf) {
            a.handle_packet(T0, &buf[..n]);
            moved = true;
        }
        if !moved {
            return;
        }
    }
}

fn host(ip: std::net::IpAddr, key: u8) -> Stack {
    Stack::new(StackConfig::default(), Secret::from_bytes([key; 16]), &[ip])
}

#[test]
fn connection_struct_stays_within_its_size_bound() {
    let size = size_of::<Connection>();
    assert!(
        size <= CONNECTION_SIZE_BOUND,
        "size_of::<Connection>() = {size}, bound {CONNECTION_SIZE_BOUND}"
    );
}

#[test]
fn ten_thousand_idle_established_connections_cost_at_most_512_bytes_each() {
    const N: usize = 10_000;
    const BATCH: usize = 200; // under the default SYN backlog of 256
    let (mut a, mut b) = (host(IP_A, 1), host(IP_B, 2));
    let server = SocketAddr::new(IP_B, 80);
    let l = b.listen(server, BATCH).unwrap();
    let (a0, b0) = (a.memory_usage(), b.memory_usage());
    let mut accepted = Vec::with_capacity(N);
    for start in (0..N).step_by(BATCH) {
        for i in start..start + BATCH {
            let local = SocketAddr::new(IP_A, 1024 + i as u16);
            a.connect_from(T0, local, server).unwrap();
        }
        shuttle(&mut a, &mut b);
        while let Some(id) = b.accept(l) {
            accepted.push(id);
        }
    }
    assert_eq!(accepted.len(), N);
    assert!(accepted.iter().all(|&id| b.state(id) == State::Established));
    let accepted_bytes = accepted.capacity() * size_of_val(&accepted[0]);
    let client = (a.memory_usage() - a0) / N;
    let server = (b.memory_usage() - b0) / N;
    eprintln!(
        "{N} idle established connections: {client} B each (client), {server} B each \
         (server); size_of::<Connection>() = {}; accept list {accepted_bytes} B not counted",
        size_of::<Connection>()
    );
    assert!(client <= IDLE_BUDGET, "client side: {client} B each");
    assert!(server <= IDLE_BUDGET, "server side: {server} B each");
}

/// `n` echo connections from A to B over a 10 ms link, each A sending `size` bytes that B
/// echoes back, B's stack under `budget`. Returns B's peak buffer storage (by its running
/// total), B's counters, and checks that every byte came back and both stacks freed
/// everything.
fn echo_under_budget(
    n: usize,
    size: usize,
    budget: Option<usize>,
) -> (usize, crate::stack::Counters) {
    use super::{A, B, assert_same_stream, stream};
    use crate::sim::{LinkConfig, Network};
    use crate::stack::ConnId;
    use crate::tcp;
    use crate::time::Duration;
    let mut net = Network::new(7);
    for (host, ip, budget) in [(1u8, IP_A, None), (2u8, IP_B, budget)] {
        let cfg = StackConfig {
            tcp: tcp::Config {
                send_buffer: 1 << 20,
                recv_buffer: 1 << 20,
                ..tcp::Config::default()
            },
            memory_pressure: budget,
            ..StackConfig::default()
        };
        net.add_host(
            &[ip],
            Stack::new(cfg, Secret::from_bytes([host; 16]), &[ip]),
        );
    }
    net.set_links(
        A,
        B,
        LinkConfig {
            delay: Duration::from_millis(10),
            ..LinkConfig::default()
        },
    );
    let server = SocketAddr::new(IP_B, 7);
    let l = net.host_mut(B).listen(server, 64).unwrap();
    struct Client {
        id: ConnId,
        out: Vec<u8>,
        sent: usize,
        got: Vec<u8>,
        closed: bool,
    }
    let mut clients: Vec<Client> = (0..n)
        .map(|i| Client {
            id: net.host_mut(A).connect(T0, server).unwrap(),
            out: stream(size, i as u64),
            sent: 0,
            got: Vec::new(),
            closed: false,
        })
        .collect();
    // Server side: what was read and not yet echoed, per connection (B's application).
    let mut servers: Vec<(ConnId, Vec<u8>, bool)> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut peak = 0;
    let limit = Instant::ZERO + Duration::from_secs(120);
    loop {
        let now = net.now();
        let a = net.host_mut(A);
        for c in clients.iter_mut().filter(|c| !c.closed) {
            while c.sent < c.out.len() {
                match a.send(now, c.id, &c.out[c.sent..]) {
                    Ok(k) if k > 0 => c.sent += k,
                    _ => break,
                }
            }
            if c.sent == c.out.len() && a.state(c.id) == tcp::State::Established {
                let _ = a.shutdown(now, c.id);
            }
            loop {
                match a.recv(now, c.id, &mut buf) {
                    Ok(0) => {
                        a.close(now, c.id).unwrap();
                        c.closed = true;
                        break;
                    }
                    Ok(k) => c.got.extend_from_slice(&buf[..k]),
                    Err(_) => break,
                }
            }
        }
        let b = net.host_mut(B);
        while let Some(id) = b.accept(l) {
            servers.push((id, Vec::new(), false));
        }
        for (id, pending, done) in servers.iter_mut().filter(|s| !s.2) {
            // Echo: read only what can be written back (a server that keeps a bounded
            // amount of its own), as `synack serve --mode echo` does.
            if !pending.is_empty()
                && let Ok(k) = b.send(now, *id, pending)
            {
                pending.drain(..k);
            }
            if pending.is_empty() {
                match b.recv(now, *id, &mut buf[..16 * 1024]) {
                    Ok(0) => {
                        b.close(now, *id).unwrap();
                        *done = true;
                    }
                    Ok(k) => {
                        let sent = b.send(now, *id, &buf[..k]).unwrap_or(0);
                        pending.extend_from_slice(&buf[sent..k]);
                    }
                    Err(_) => {}
                }
            }
        }
        peak = peak.max(b.buffer_bytes());
        let all_gone = clients.iter().all(|c| c.closed)
            && servers.len() == n
            && servers.iter().all(|s| s.2)
            && net.host(A).connections().count() == 0
            && net.host(B).connections().count() == 0;
        if all_gone || net.now() > limit || !net.step() {
            break;
        }
    }
    for (i, c) in clients.iter().enumerate() {
        assert_same_stream(&c.got, &c.out, &format!("connection {i} echoed"));
    }
    let b = net.host(B);
    assert_eq!(b.connections().count(), 0, "every server connection freed");
    assert_eq!(b.buffer_bytes(), 0, "the running total is back at zero");
    assert!(!b.under_memory_pressure());
    (peak, b.counters())
}

#[test]
fn memory_pressure_stops_buffer_growth_and_frees_empty_buffers_with_every_byte_intact() {
    const N: usize = 24;
    const SIZE: usize = 512 * 1024;
    let (free, c) = echo_under_budget(N, SIZE, None);
    assert_eq!(c.memory_pressure, 0);
    let budget = 256 * 1024;
    let (held, c) = echo_under_budget(N, SIZE, Some(budget));
    eprintln!(
        "{N} echo connections of {SIZE} B: peak buffers {free} B without a budget, {held} B under {budget}"
    );
    assert!(c.memory_pressure >= 1, "the budget was passed: {c:?}");
    assert!(
        free > 4 * budget,
        "without a budget the buffers grow: {free}"
    );
    assert!(
        held < free / 4,
        "under the budget they stay smaller: {held} vs {free}"
    );
}

/// A burst of 10,000 connections, all closed: the stack's tables (slots, demux, timer wheel,
/// queues) go back to a fresh stack's size, and no handle of the burst names a connection
/// made afterwards in a slot made anew.
#[test]
fn a_stack_whose_last_connection_ended_is_back_at_its_fresh_size() {
    const N: usize = 10_000;
    const BATCH: usize = 200;
    let (mut a, mut b) = (host(IP_A, 1), host(IP_B, 2));
    let server = SocketAddr::new(IP_B, 80);
    let l = b.listen(server, BATCH).unwrap();
    let fresh = b.memory_usage();
    let mut accepted = Vec::new();
    for start in (0..N).step_by(BATCH) {
        for i in start..start + BATCH {
            a.connect_from(T0, SocketAddr::new(IP_A, 1024 + i as u16), server)
                .unwrap();
        }
        shuttle(&mut a, &mut b);
        while let Some(id) = b.accept(l) {
            accepted.push(id);
        }
    }
    assert_eq!(accepted.len(), N);
    let busy = b.memory_usage();
    for id in a.connections().collect::<Vec<_>>() {
        a.close(T0, id).unwrap();
    }
    shuttle(&mut a, &mut b);
    for &id in &accepted {
        b.close(T0, id).unwrap();
    }
    shuttle(&mut a, &mut b);
    assert_eq!(b.connection_count(), 0);
    let after = b.memory_usage();
    eprintln!("server stack: {fresh} B fresh, {busy} B with {N} connections, {after} B after");
    assert!(after <= fresh + 4096, "{after} B after, {fresh} B fresh");
    // New connections reuse slot 0.. anew: the burst's handles stay stale.
    a.connect_from(T0, SocketAddr::new(IP_A, 40_000), server)
        .unwrap();
    shuttle(&mut a, &mut b);
    let new = b.accept(l).unwrap();
    assert!(
        !accepted.contains(&new),
        "{new:?} was a handle of the burst"
    );
    assert!(accepted.iter().all(|&id| b.connection(id).is_none()));
    assert_eq!(b.state(new), State::Established);
}
/// A closed connection's entry and rings wait in the pool (counted in `memory_usage`) and
/// the next connection takes them; `release_pool` gives them back.
#[test]
fn closed_connections_are_pooled_for_the_next_and_released_on_demand() {
    let (mut a, mut b) = (host(IP_A, 1), host(IP_B, 2));
    let server = SocketAddr::new(IP_B, 80);
    let l = b.listen(server, 8).unwrap();
    let fresh = b.memory_usage();
    let lifecycle = |a: &mut Stack, b: &mut Stack, port: u16| {
        let ca = a
            .connect_from(T0, SocketAddr::new(IP_A, port), server)
            .unwrap();
        shuttle(a, b);
        let cb = b.accept(l).unwrap();
        a.send(T0, ca, b"request").unwrap();
        shuttle(a, b);
        let mut buf = [0u8; 16];
        assert_eq!(b.recv(T0, cb, &mut buf).unwrap(), 7);
        // A reused ring shows only what this connection received.
        assert_eq!(&buf[..7], b"request");
        b.send(T0, cb, b"reply").unwrap();
        shuttle(a, b);
        assert_eq!(a.recv(T0, ca, &mut buf).unwrap(), 5);
        assert_eq!(&buf[..5], b"reply");
        // The client closes first: TIME-WAIT is its, the server's connection ends at once.
        a.close(T0, ca).unwrap();
        shuttle(a, b);
        b.close(T0, cb).unwrap();
        shuttle(a, b);
        assert_eq!(b.connection_count(), 0);
    };
    lifecycle(&mut a, &mut b, 1000);
    let pooled = b.memory_usage();
    assert!(
        pooled > fresh + size_of::<Connection>() + 2 * 2048,
        "the closed connection and its two rings wait in the pool: {pooled} B, {fresh} B fresh"
    );
    // The next connection takes them: the pool is empty again while it lives, and holds
    // one entry again once it closed.
    lifecycle(&mut a, &mut b, 1001);
    assert_eq!(b.memory_usage(), pooled);
    b.release_pool();
    assert!(
        b.memory_usage() < fresh + 256,
        "{} B after release",
        b.memory_usage()
    );
}
