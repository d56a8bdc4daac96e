//! The routing rule, on hand-built packets: what goes where, and that nothing panics.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::*;

const A: [u8; 4] = [198, 18, 50, 1];
const B: [u8; 4] = [198, 18, 50, 2];

/// An IPv4 header (20 bytes) for `proto` from `src` to `dst`, then `l4`.
fn v4(proto: u8, src: [u8; 4], dst: [u8; 4], frag: u16, l4: &[u8]) -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 0, 0, 0];
    p.extend_from_slice(&frag.to_be_bytes());
    p.extend_from_slice(&[64, proto, 0, 0]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(l4);
    p
}

fn ports(sport: u16, dport: u16) -> Vec<u8> {
    let mut l4 = sport.to_be_bytes().to_vec();
    l4.extend_from_slice(&dport.to_be_bytes());
    l4.extend_from_slice(&[0; 16]);
    l4
}

fn sa(ip: [u8; 4], port: u16) -> SocketAddr {
    SocketAddr::from((ip, port))
}

#[test]
fn a_tcp_segment_from_the_peer_is_routed_by_its_tuple_seen_from_our_side() {
    let p = v4(TCP, B, A, 0, &ports(40000, 80));
    let want = Flow::Tcp {
        local: sa(A, 80),
        remote: sa(B, 40000),
    };
    assert_eq!(classify(&p), Some(want));
}

#[test]
fn an_icmp_error_is_routed_by_the_connection_it_quotes() {
    // Destination unreachable from B, quoting our segment A:50000 -> B:443.
    let quoted = v4(TCP, A, B, 0, &ports(50000, 443)[..8]);
    let mut icmp = vec![3, 1, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&quoted);
    let p = v4(ICMP, B, A, 0, &icmp);
    let want = Flow::Tcp {
        local: sa(A, 50000),
        remote: sa(B, 443),
    };
    assert_eq!(classify(&p), Some(want));
}

#[test]
fn udp_and_fragments_go_to_the_first_shard_and_echo_stays_where_it_is() {
    assert_eq!(
        classify(&v4(UDP, B, A, 0, &ports(5353, 53))),
        Some(Flow::First)
    );
    // More fragments set; then a later fragment (offset 185 × 8), which has no ports.
    assert_eq!(
        classify(&v4(TCP, B, A, 0x2000, &ports(1, 2))),
        Some(Flow::Fragment)
    );
    assert_eq!(classify(&v4(TCP, B, A, 185, &[0; 8])), Some(Flow::Fragment));
    assert_eq!(
        classify(&v4(ICMP, B, A, 0, &[8, 0, 0, 0, 0, 1, 0, 1])),
        None
    );
}

#[test]
fn an_ipv6_segment_behind_a_destination_options_header_is_routed_by_its_tuple() {
    let (src, dst) = (
        [0x20, 1, 0xd, 0xb8].repeat(4),
        [0x20, 1, 0xd, 0xb9].repeat(4),
    );
    let mut p = vec![0x60, 0, 0, 0, 0, 0, 60, 64];
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    p.extend_from_slice(&[TCP, 0, 1, 4, 0, 0, 0, 0]); // destination options, 8 bytes
    p.extend_from_slice(&ports(40000, 80));
    let ip = |b: &[u8]| IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(b).unwrap()));
    let want = Flow::Tcp {
        local: SocketAddr::new(ip(&dst), 80),
        remote: SocketAddr::new(ip(&src), 40000),
    };
    assert_eq!(classify(&p), Some(want));
}

#[test]
fn truncated_and_garbage_packets_never_panic() {
    let p = v4(TCP, B, A, 0, &ports(40000, 80));
    for n in 0..p.len() {
        let _ = classify(&p[..n]);
    }
    for first in 0..=255u8 {
        let _ = classify(&[first; 3]);
        let _ = classify(&[first; 60]);
    }
}

#[test]
fn the_owner_is_a_function_of_the_tuple_and_spreads_over_the_shards() {
    let r = Router::new([7; 16], 4, FragConfig::default());
    let mut seen = [0usize; 4];
    for port in 40000..40400 {
        let (l, rm) = (sa(A, 80), sa(B, port));
        let o = r.owner(l, rm);
        assert_eq!(o, r.owner(l, rm));
        seen[o] += 1;
    }
    assert!(seen.iter().all(|&n| n > 0), "{seen:?}");
    assert_eq!(
        Router::new([7; 16], 1, FragConfig::default()).owner(sa(A, 1), sa(B, 2)),
        0
    );
}

#[test]
fn a_full_hand_over_queue_drops_and_counts() {
    let r = Router::new([1; 16], 2, FragConfig::default());
    for _ in 0..HANDOVER_QUEUE + 5 {
        r.hand_over(1, &[0x45; 40], Checksum::Verify);
    }
    let inbox = &r.inboxes[1];
    assert_eq!(inbox.lock().len(), HANDOVER_QUEUE);
    assert_eq!(
        inbox.handed_over.load(Ordering::Relaxed),
        HANDOVER_QUEUE as u64
    );
    assert_eq!(inbox.drops.load(Ordering::Relaxed), 5);
}
