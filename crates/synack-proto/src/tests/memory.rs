//! The memory cost of an idle established connection. Issue 4 asks for at most 512 bytes
//! each (a million in under 1 GiB); measured here at 550 by the stack's accounting (448 of
//! them the `Connection` struct), so the bounds below pin today's figures with a little room
//! and fail if someone regrows a connection. Lower them as the struct shrinks.

use super::{IP_A, IP_B};
use crate::stack::{Secret, Stack, StackConfig};
use crate::tcp::{Connection, State};
use crate::time::Instant;
use std::net::SocketAddr;

/// Bytes per idle established connection by the stack's own accounting (550 measured with
/// 10,000, 769 before issue 14's first memory round; issue 4's goal is 512).
const IDLE_BUDGET: usize = 560;
/// `size_of::<Connection>()` is 448 bytes (648 before issue 14's first memory round, 1,224
/// before that): 32-bit byte counts in the TCB and buffers, rarely used state (SACK report,
/// send scratch, pending RST, challenge-ACK window, path MTU search) and keep-alive
/// bookkeeping boxed only while in use, four timers in one shared slot, the RTO bounds read
/// from the shared configuration.
const CONNECTION_SIZE_BOUND: usize = 456;

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
fn ten_thousand_idle_established_connections_cost_at_most_560_bytes_each() {
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
