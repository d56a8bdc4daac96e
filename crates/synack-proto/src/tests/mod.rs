//! End-to-end tests: two stacks on the simulated network, every emitted packet checked
//! against an independent parser (etherparse).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod cc;
mod delack;
mod flood;
mod hostile;
mod icmp;
mod icmp_errors;
mod memory;
mod properties;
mod rx_fold;
mod sack;
mod smoltcp;
mod soak;
mod stack;
mod udp;
mod wrap;

use crate::sim::{HostId, LinkConfig, Network};
use crate::stack::{ConnId, ListenerId, Secret, Stack, StackConfig};
use crate::tcp::{self, State};
use crate::time::{Duration, Instant};
use sha2::{Digest, Sha256};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

pub(crate) const A: HostId = HostId(0);
pub(crate) const B: HostId = HostId(1);
pub(crate) const IP_A: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
pub(crate) const IP_B: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2));
pub(crate) const IP6_A: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
pub(crate) const IP6_B: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2));

/// The secret [`pair`] gives host 1 (A) or 2 (B) of the network with `seed`: fixed, so a
/// seed replays exactly.
pub(crate) fn pair_secret(seed: u64, host: u8) -> [u8; 16] {
    [host ^ (seed as u8); 16]
}

/// The secret of stacks whose test does not care which it is: fixed, so runs replay.
pub(crate) const TEST_SECRET: [u8; 16] = [0x5a; 16];

/// Two stacks joined by a link, with the etherparse oracle watching every packet.
pub(crate) fn pair(seed: u64, tcp: tcp::Config, link: LinkConfig) -> Network<Stack> {
    let mut net = Network::new(seed);
    for (host, addrs) in [(1u8, [IP_A, IP6_A]), (2u8, [IP_B, IP6_B])] {
        let cfg = StackConfig {
            tcp,
            ..StackConfig::default()
        };
        let secret = Secret::from_bytes(pair_secret(seed, host));
        net.add_host(&addrs, Stack::new(cfg, secret, &addrs));
    }
    net.set_links(A, B, link);
    net.set_observer(Box::new(|_, bytes| {
        crate::wire::oracle::check_with_etherparse(bytes)
    }));
    net
}

/// One side of a bulk exchange: what it sends, what it got.
#[derive(Default)]
pub(crate) struct Side {
    pub conn: Option<ConnId>,
    pub out: Vec<u8>,
    pub sent: usize,
    pub shut: bool,
    /// The state `shutdown` was called in: ESTABLISHED means this side closed first.
    pub shut_in: Option<State>,
    pub got: Vec<u8>,
    pub eof: bool,
    pub released: bool,
    pub error: Option<tcp::Error>,
    pub saw_time_wait: bool,
}

impl Side {
    fn drive(&mut self, stack: &mut Stack, now: Instant, buf: &mut [u8]) {
        let Some(id) = self.conn else { return };
        if stack.state(id) == State::TimeWait {
            self.saw_time_wait = true;
        }
        if let Some(e) = stack.error(id) {
            self.error = Some(e);
        }
        while self.sent < self.out.len() {
            match stack.send(now, id, &self.out[self.sent..]) {
                Ok(n) if n > 0 => self.sent += n,
                _ => break,
            }
        }
        if self.sent == self.out.len() && !self.shut && stack.state(id) != State::SynSent {
            self.shut = true;
            self.shut_in = Some(stack.state(id));
            stack.shutdown(now, id).unwrap();
        }
        loop {
            match stack.recv(now, id, buf) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => self.got.extend_from_slice(&buf[..n]),
                Err(_) => break,
            }
        }
        if self.eof && self.shut && !self.released {
            self.released = true;
            stack.close(now, id).unwrap();
        }
    }
}

/// Outcome of [`exchange`].
pub(crate) struct Exchange {
    pub a: Side,
    pub b: Side,
    pub net: Network<Stack>,
    pub finished: bool,
}

/// A connects to B; each sends its stream and half-closes; each reads to EOF and closes.
/// Runs until both connections are gone or `limit` of virtual time passes.
pub(crate) fn exchange(
    net: Network<Stack>,
    server: SocketAddr,
    a_out: Vec<u8>,
    b_out: Vec<u8>,
    limit: Duration,
) -> Exchange {
    exchange_with(net, server, a_out, b_out, limit, |_, _, _| {})
}

/// [`exchange`] with `hook` called before every simulator step (to inject traffic, change links…).
pub(crate) fn exchange_with(
    mut net: Network<Stack>,
    server: SocketAddr,
    a_out: Vec<u8>,
    b_out: Vec<u8>,
    limit: Duration,
    mut hook: impl FnMut(&mut Network<Stack>, &Side, &Side),
) -> Exchange {
    let listener: ListenerId = net.host_mut(B).listen(server, 8).unwrap();
    let mut a = Side {
        out: a_out,
        ..Side::default()
    };
    let mut b = Side {
        out: b_out,
        ..Side::default()
    };
    let now = net.now();
    a.conn = Some(net.host_mut(A).connect(now, server).unwrap());
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = Instant::ZERO + limit;
    let mut finished = false;
    loop {
        let now = net.now();
        a.drive(net.host_mut(A), now, &mut buf);
        if b.conn.is_none() {
            b.conn = net.host_mut(B).accept(listener);
        }
        b.drive(net.host_mut(B), now, &mut buf);
        let gone = |side: &Side, stack: &Stack| {
            side.released && side.conn.is_none_or(|id| stack.connection(id).is_none())
        };
        if gone(&a, net.host(A)) && gone(&b, net.host(B)) {
            finished = true;
            break;
        }
        hook(&mut net, &a, &b);
        if a.error.is_some() || b.error.is_some() || net.now() > deadline || !net.step() {
            break;
        }
    }
    Exchange {
        a,
        b,
        net,
        finished,
    }
}

pub(crate) fn sha(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Asserts that `got` is exactly the stream `sent`.
///
/// Compares the bytes themselves (stronger than comparing digests, and a tenth of the cost on a
/// property case); on a difference it names the lengths, the first differing offset and both
/// SHA-256 digests, so a failure reads like the kernel tests' SHA-256 checks.
#[track_caller]
pub(crate) fn assert_same_stream(got: &[u8], sent: &[u8], what: &str) {
    if got == sent {
        return;
    }
    let first = got.iter().zip(sent).position(|(g, s)| g != s);
    panic!(
        "{what}: got {} bytes, sent {}; first difference at {:?}; sha256 got {:02x?}, sent {:02x?}",
        got.len(),
        sent.len(),
        first,
        sha(got),
        sha(sent)
    );
}

/// Deterministic pseudo-random bytes: xorshift64, eight bytes a step.
pub(crate) fn stream(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Asserts a finished exchange delivered both streams intact and closed cleanly.
pub(crate) fn assert_clean(x: &Exchange, what: &str) {
    assert!(x.a.error.is_none(), "{what}: A failed with {:?}", x.a.error);
    assert!(x.b.error.is_none(), "{what}: B failed with {:?}", x.b.error);
    assert!(x.finished, "{what}: did not finish by {:?}", x.net.now());
    assert_same_stream(&x.b.got, &x.a.out, &format!("{what}: A→B stream"));
    assert_same_stream(&x.a.got, &x.b.out, &format!("{what}: B→A stream"));
    assert!(
        x.a.saw_time_wait || x.b.saw_time_wait,
        "{what}: someone must pass TIME-WAIT"
    );
    for h in [A, B] {
        let c = x.net.host(h).counters();
        assert_eq!(
            (c.abort_on_timeout, c.estab_resets, c.attempt_fails),
            (0, 0, 0),
            "{what}: host {h:?} {c:?}"
        );
    }
    assert_eq!(
        x.net.host(A).connection_count(),
        0,
        "{what}: A leaked state"
    );
    assert_eq!(
        x.net.host(B).connection_count(),
        0,
        "{what}: B leaked state"
    );
}
