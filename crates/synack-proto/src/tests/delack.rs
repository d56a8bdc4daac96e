//! Delayed ACKs never stall a sender: bulk transfers at every MTU and buffer size, with Nagle
//! on, move at least a window per few round trips instead of one window per delayed-ACK timeout.

use super::*;
use crate::sim::LinkConfig;

/// One-way delay of the link: a round trip of 2 ms, against a 40 ms delayed-ACK timer.
const DELAY: Duration = Duration::from_millis(1);

fn bulk_moves_at_window_speed(mtu: usize, buffer: usize) {
    let cfg = tcp::Config {
        send_buffer: buffer,
        recv_buffer: buffer,
        ..tcp::Config::default()
    };
    let link = LinkConfig::default().with_delay(DELAY).with_mtu(mtu);
    let net = pair(7, cfg, link);
    let server = SocketAddr::new(IP_B, 80);
    let len = 2 << 20;
    let mut delivered = None;
    let x = exchange_with(
        net,
        server,
        stream(len, 1),
        stream(len / 4, 2),
        Duration::from_secs(600),
        |net, a, b| {
            if delivered.is_none() && a.eof && b.eof {
                delivered = Some(net.now());
            }
        },
    );
    let what = format!("MTU {mtu}, {buffer} B buffers");
    assert_clean(&x, &what);
    // A window per three round trips at the least (the link has no rate limit, so a round trip
    // is what a window costs); one 40 ms delayed-ACK wait per window would be 20 times this.
    let windows = len.div_ceil(buffer) as u64;
    let bound = Duration::from_millis(3 * 2 * windows + 100);
    let took = delivered.expect("both streams delivered") - Instant::ZERO;
    assert!(took <= bound, "{what}: took {took:?}, bound {bound:?}");
}

#[test]
fn delayed_acks_never_stall_a_sender_at_mtu_1500() {
    for buffer in [1024, 4 * 1024, 16 * 1024, 64 * 1024, 1 << 20] {
        bulk_moves_at_window_speed(1500, buffer);
    }
}

#[test]
fn delayed_acks_never_stall_a_sender_at_mtu_9000() {
    for buffer in [4 * 1024, 16 * 1024, 64 * 1024, 1 << 20] {
        bulk_moves_at_window_speed(9000, buffer);
    }
}

#[test]
fn delayed_acks_never_stall_a_sender_at_mtu_65535() {
    for buffer in [4 * 1024, 64 * 1024, 100 * 1024, 1 << 20] {
        bulk_moves_at_window_speed(65535, buffer);
    }
}
