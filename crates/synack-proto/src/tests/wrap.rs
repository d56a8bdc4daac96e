//! Sequence-number wrap (RFC 9293 §3.4, RFC 7323 §5): a transfer of more than 4 GiB crosses the
//! 32-bit sequence space with the byte stream intact, starting from an ISN just below 2^32.

use super::*;
use crate::tcp::SeqNum;
use crate::tcp::isn::IsnGenerator;

/// The stream: a pseudo-random block of prime length repeated, so the receiver checks every
/// byte as it arrives at memcmp speed without storing anything. Data misplaced by any amount
/// that is not a multiple of the prime (2^32, in particular) is caught.
const BLOCK: usize = 1_048_583;

fn block() -> Vec<u8> {
    stream(BLOCK, 77)
}

/// Fills `out` with the stream from `offset` on.
fn fill(block: &[u8], offset: u64, out: &mut [u8]) {
    let mut at = (offset % BLOCK as u64) as usize;
    let mut done = 0;
    while done < out.len() {
        let n = (BLOCK - at).min(out.len() - done);
        out[done..done + n].copy_from_slice(&block[at..at + n]);
        done += n;
        at = 0;
    }
}

#[test]
fn rfc7323_more_than_4_gib_crosses_the_sequence_wrap_intact_from_an_isn_just_below_2_32() {
    const TOTAL: u64 = (4u64 << 30) + (64 << 20); // 4 GiB + 64 MiB: more than the whole space
    let block = block();
    let mut expect = vec![0u8; 256 * 1024];
    let tcp = tcp::Config {
        mtu: 65535,
        send_buffer: 1 << 20,
        recv_buffer: 1 << 20,
        msl: Duration::from_millis(100),
        ..tcp::Config::default()
    };
    let link = LinkConfig::default()
        .with_mtu(65535)
        .with_queue_limit(64 << 20);
    let mut net = pair(21, tcp, link);
    let server = SocketAddr::new(IP_B, 80);
    let l = net.host_mut(B).listen(server, 4).unwrap();

    // Choose the moment of connect so that A's RFC 6528 ISN (keyed hash + 4 µs clock) lands
    // 1000 below 2^32: the stream crosses the wrap after 1000 bytes and again 4 GiB later.
    let key = crate::tests::pair_secret(21, 1);
    let local = SocketAddr::new(IP_A, net.host(A).config().ephemeral_ports.0);
    let f = IsnGenerator::new(key).isn(Instant::ZERO, local, server);
    let target = SeqNum::new(u32::MAX - 999);
    let ticks = u64::from((target - f) as u32);
    net.advance_to(Instant::from_micros(ticks * 4));
    let now = net.now();
    let a = net.host_mut(A).connect_from(now, local, server).unwrap();
    assert_eq!(net.host(A).connection(a).unwrap().tcb().iss, target);

    let mut chunk = vec![0u8; 256 * 1024];
    let mut buf = vec![0u8; 256 * 1024];
    let (mut sent, mut got) = (0u64, 0u64);
    let mut b = None;
    let (mut a_shut, mut b_shut) = (false, false);
    let deadline = net.now() + Duration::from_secs(3600);
    let (mut wraps, mut last_una) = (0, target.get());
    while net.now() < deadline {
        let now = net.now();
        // A: keep the send buffer full with the stream's next bytes.
        while sent < TOTAL {
            let n = chunk.len().min((TOTAL - sent) as usize);
            fill(&block, sent, &mut chunk[..n]);
            match net.host_mut(A).send(now, a, &chunk[..n]) {
                Ok(k) if k > 0 => sent += k as u64,
                _ => break,
            }
        }
        if sent == TOTAL && !a_shut {
            a_shut = true;
            net.host_mut(A).shutdown(now, a).unwrap();
        }
        if let Some(una) = net.host(A).connection(a).map(|c| c.tcb().snd_una.get()) {
            // SND.UNA only moves forward (modulo 2^32): a smaller raw value is a wrap.
            wraps += usize::from(una < last_una);
            last_una = una;
        }
        // B: check every byte against the stream as it arrives.
        if b.is_none() {
            b = net.host_mut(B).accept(l);
        }
        if let Some(bid) = b {
            loop {
                match net.host_mut(B).recv(now, bid, &mut buf) {
                    Ok(0) => {
                        if !b_shut {
                            b_shut = true;
                            net.host_mut(B).shutdown(now, bid).unwrap();
                        }
                        break;
                    }
                    Ok(n) => {
                        fill(&block, got, &mut expect[..n]);
                        assert!(buf[..n] == expect[..n], "bytes from offset {got} differ");
                        got += n as u64;
                    }
                    Err(_) => break,
                }
            }
        }
        if b_shut && net.host(A).state(a) == State::TimeWait {
            break;
        }
        if !net.step() {
            break;
        }
    }
    assert_eq!(got, TOTAL, "every byte arrived, in order and intact");
    assert_eq!(
        wraps, 2,
        "SND.UNA wrapped twice: 1000 bytes in, and 4 GiB later"
    );
    assert!(net.host(A).error(a).is_none());
    let c = net.host(B).counters();
    assert_eq!((c.paws_estab, c.estab_resets), (0, 0), "{c:?}");
}
