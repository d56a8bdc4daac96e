//! Initial sequence numbers per RFC 6528: ISN = M + F(localip, localport, remoteip, remoteport, secretkey),
//! where M is a 4-microsecond timer and F is a keyed hash (SipHash-2-4).

use super::seq::SeqNum;
use crate::time::Instant;
use core::hash::Hasher;
use core::net::{IpAddr, SocketAddr};
use siphasher::sip::SipHasher24;

/// Generates RFC 6528 initial sequence numbers from a secret key.
#[derive(Clone)]
pub struct IsnGenerator {
    key: [u8; 16],
}

impl IsnGenerator {
    /// A generator with the given secret. Drivers pass fresh random bytes; the
    /// simulator passes seeded ones so runs are reproducible.
    pub fn new(key: [u8; 16]) -> Self {
        IsnGenerator { key }
    }

    /// The ISN for a connection at time `now`.
    pub fn isn(&self, now: Instant, local: SocketAddr, remote: SocketAddr) -> SeqNum {
        let mut h = SipHasher24::new_with_key(&self.key);
        for addr in [local, remote] {
            match addr.ip() {
                IpAddr::V4(a) => h.write(&a.octets()),
                IpAddr::V6(a) => h.write(&a.octets()),
            }
            h.write_u16(addr.port());
        }
        // F: the low 32 bits of the keyed hash; M: a 4 µs clock, taken modulo 2^32 by SeqNum.
        let f = SeqNum::new(h.finish() as u32);
        f + (now.total_micros() / 4) as usize
    }
}

/// RFC 6056 §3.3.3 (Algorithm 3, "Simple Hash-Based Port Selection"): ephemeral ports
/// start at an offset that a keyed hash of the destination picks, so they are neither the
/// same nor in order from run to run, yet successive connections to one destination still
/// walk the whole range before a port is reused.
#[derive(Clone)]
pub struct PortPicker {
    key: [u8; 16],
    /// `next_ephemeral`: advanced once per port tried.
    next: u32,
}

impl PortPicker {
    /// A picker keyed by `key` (drivers pass random bytes, the simulator seeded ones).
    pub fn new(key: [u8; 16]) -> Self {
        PortPicker { key, next: 0 }
    }

    /// The candidate ports, in the order to try them, for a connection from `local` to
    /// `remote` within `lo..=hi`: every port of the range once.
    pub fn candidates(
        &mut self,
        local: IpAddr,
        remote: SocketAddr,
        (lo, hi): (u16, u16),
    ) -> impl Iterator<Item = u16> + '_ {
        let span = u32::from(hi.saturating_sub(lo)) + 1;
        let mut h = SipHasher24::new_with_key(&self.key);
        for ip in [local, remote.ip()] {
            match ip {
                IpAddr::V4(a) => h.write(&a.octets()),
                IpAddr::V6(a) => h.write(&a.octets()),
            }
        }
        h.write_u16(remote.port());
        let offset = h.finish() as u32;
        (0..span).map(move |_| {
            let port = offset.wrapping_add(self.next) % span;
            self.next = self.next.wrapping_add(1);
            lo.saturating_add(u16::try_from(port).unwrap_or(0))
        })
    }
}

impl core::fmt::Debug for PortPicker {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("PortPicker { key: <secret> }")
    }
}

impl core::fmt::Debug for IsnGenerator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("IsnGenerator { key: <secret> }")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6056_3_3_3_ports_start_at_a_keyed_offset_and_walk_the_whole_range() {
        let local = sa("192.0.2.1:0").ip();
        let remote = sa("192.0.2.2:80");
        let range = (49152, 65535);
        let first = |key| PortPicker::new(key).candidates(local, remote, range).next();
        // Not the bottom of the range, and another key starts elsewhere.
        assert_ne!(first([1; 16]), Some(49152));
        assert_ne!(first([1; 16]), first([2; 16]));
        // Successive connections to one destination take successive ports of the range.
        let mut p = PortPicker::new([1; 16]);
        let a = p.candidates(local, remote, range).next().unwrap_or(0);
        let b = p.candidates(local, remote, range).next().unwrap_or(0);
        assert!(a >= 49152);
        assert_eq!(u32::from(b), 49152 + (u32::from(a) - 49152 + 1) % 16384);
        // Every port once, none outside the range.
        let mut all: Vec<u16> = PortPicker::new([3; 16])
            .candidates(local, remote, (1000, 1099))
            .collect();
        all.sort_unstable();
        assert_eq!(all, (1000..=1099).collect::<Vec<u16>>());
    }

    fn sa(s: &str) -> SocketAddr {
        s.parse()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    #[test]
    fn rfc6528_isn_depends_on_tuple_key_and_clock() {
        let g = IsnGenerator::new([7; 16]);
        let a = sa("192.0.2.1:1000");
        let b = sa("192.0.2.2:80");
        let t = Instant::from_millis(1);
        let base = g.isn(t, a, b);
        assert_eq!(base, g.isn(t, a, b), "deterministic for the same inputs");
        assert_ne!(base, g.isn(t, sa("192.0.2.1:1001"), b), "port changes it");
        assert_ne!(
            base,
            IsnGenerator::new([8; 16]).isn(t, a, b),
            "key changes it"
        );
        // M advances one per 4 µs.
        assert_eq!(
            g.isn(t + crate::time::Duration::from_micros(400), a, b) - base,
            100
        );
    }
}
