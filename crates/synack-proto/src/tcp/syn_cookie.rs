//! SYN cookies (RFC 4987 §3.6): when a listener's SYN queue is full, the SYN,ACK's initial
//! sequence number encodes what the connection needs, so no state is kept until the
//! handshake's ACK returns it.
//!
//! The cookie is `H1 + SEG.SEQ + (t << 24) + ((H2(t) + mss_index) mod 2^24)`, as in Linux:
//! `t` counts 64-second periods (a cookie lives at most [`MAX_AGE`] periods), `H1` and `H2` are
//! SipHash-2-4 of the 4-tuple under a secret key, and `mss_index` picks one of eight MSS values.
//! When the SYN carried timestamps, the window scale and SACK-permitted are kept in the low six
//! bits of our SYN,ACK's TSval and come back in the ACK's TSecr.

use super::seq::SeqNum;
use crate::time::Instant;
use core::hash::Hasher;
use core::net::{IpAddr, SocketAddr};
use siphasher::sip::SipHasher24;

/// MSS values a cookie can encode; the largest not above the peer's MSS is used.
pub const MSS_TABLE: [u16; 8] = [536, 1220, 1300, 1360, 1400, 1440, 1460, 8960];

/// How many 64-second periods a cookie stays valid.
pub const MAX_AGE: u32 = 2;

/// Bits of TSval that carry options (window scale 4 bits, SACK-permitted 1 bit, 1 spare).
pub const TS_OPTION_BITS: u32 = 6;
const TS_MASK: u32 = (1 << TS_OPTION_BITS) - 1;
const NO_WSCALE: u32 = 0xf;
const COOKIE_BITS: u32 = 24;
const COOKIE_MASK: u32 = (1 << COOKIE_BITS) - 1;

/// What a cookie carries back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CookieOptions {
    /// The MSS to use (from [`MSS_TABLE`]).
    pub mss: u16,
    /// The peer's window scale, if both sides scale (known only with timestamps).
    pub window_scale: Option<u8>,
    /// The peer offered SACK (known only with timestamps).
    pub sack_permitted: bool,
}

/// Makes and checks SYN cookies under one secret.
#[derive(Clone)]
pub struct SynCookies {
    key: [u8; 16],
}

impl core::fmt::Debug for SynCookies {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SynCookies { key: <secret> }")
    }
}

fn period(now: Instant) -> u32 {
    (now.total_micros() / 64_000_000) as u32
}

impl SynCookies {
    /// Cookies under `key`.
    pub fn new(key: [u8; 16]) -> Self {
        SynCookies { key }
    }

    fn hash(&self, local: SocketAddr, remote: SocketAddr, salt: u32) -> u32 {
        let mut h = SipHasher24::new_with_key(&self.key);
        for addr in [local, remote] {
            match addr.ip() {
                IpAddr::V4(a) => h.write(&a.octets()),
                IpAddr::V6(a) => h.write(&a.octets()),
            }
            h.write_u16(addr.port());
        }
        h.write_u32(salt);
        h.finish() as u32
    }

    /// The ISS for our SYN,ACK to a SYN with sequence number `syn_seq` and MSS option `peer_mss`.
    pub fn make(
        &self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        syn_seq: SeqNum,
        peer_mss: u16,
    ) -> SeqNum {
        let index = MSS_TABLE.iter().rposition(|&m| m <= peer_mss).unwrap_or(0) as u32;
        let t = period(now);
        let low = self.hash(local, remote, t).wrapping_add(index) & COOKIE_MASK;
        let value = (t << COOKIE_BITS).wrapping_add(low);
        SeqNum::new(self.hash(local, remote, u32::MAX)) + syn_seq.get() as usize + value as usize
    }

    /// Checks the cookie returned in an ACK (`ack` = cookie + 1) for the SYN whose sequence
    /// number was `ack_seq - 1`. Returns the MSS it carries, or `None` for a forged or stale one.
    pub fn check(
        &self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        ack_seq: SeqNum,
        ack: SeqNum,
    ) -> Option<u16> {
        let cookie = ack - 1;
        let syn_seq = ack_seq - 1;
        let base = SeqNum::new(self.hash(local, remote, u32::MAX)) + syn_seq.get() as usize;
        let value = (cookie - base) as u32;
        let t = value >> COOKIE_BITS;
        let age = period(now).wrapping_sub(t) & 0xff;
        if age > MAX_AGE {
            return None;
        }
        let index = (value & COOKIE_MASK).wrapping_sub(self.hash(local, remote, t)) & COOKIE_MASK;
        MSS_TABLE.get(index as usize).copied()
    }
}

/// Our SYN,ACK's TSval carrying the peer's window scale and SACK-permitted in its low bits,
/// never ahead of `clock` (so the peer's PAWS never sees our later timestamps as old).
pub fn encode_ts(clock: u32, window_scale: Option<u8>, sack_permitted: bool) -> u32 {
    let ws = window_scale.map_or(NO_WSCALE, |s| u32::from(s.min(14)));
    let bits = ws | (u32::from(sack_permitted) << 4);
    let ts = (clock & !TS_MASK) | bits;
    if ts > clock && clock > TS_MASK {
        ts - (TS_MASK + 1)
    } else {
        ts
    }
}

/// The options kept in a returned TSecr (see [`encode_ts`]).
pub fn decode_ts(tsecr: u32) -> (Option<u8>, bool) {
    let ws = tsecr & 0xf;
    let window_scale = (ws != NO_WSCALE).then_some(ws.min(14) as u8);
    (window_scale, tsecr & 0x10 != 0)
}

/// The options a cookie ACK brings back: the MSS from the cookie, and window scale and SACK
/// from the TSecr when timestamps were used.
pub fn options(mss: u16, tsecr: Option<u32>) -> CookieOptions {
    let (window_scale, sack_permitted) = tsecr.map_or((None, false), decode_ts);
    CookieOptions {
        mss,
        window_scale,
        sack_permitted,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use crate::time::Duration;
    use proptest::prelude::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn rfc4987_3_6_cookie_round_trips_the_mss_and_expires() {
        let c = SynCookies::new([9; 16]);
        let (l, r) = (sa("192.0.2.2:80"), sa("198.18.3.4:5555"));
        let t0 = Instant::from_millis(1_000_000);
        let syn = SeqNum::new(4_000_000_000);
        let iss = c.make(t0, l, r, syn, 1460);
        assert_eq!(c.check(t0, l, r, syn + 1, iss + 1), Some(1460));
        assert_eq!(
            c.check(t0 + Duration::from_secs(64), l, r, syn + 1, iss + 1),
            Some(1460)
        );
        assert_eq!(
            c.check(t0 + Duration::from_secs(64 * 4), l, r, syn + 1, iss + 1),
            None,
            "stale"
        );
        assert_eq!(c.check(t0, l, r, syn + 1, iss + 100_000), None, "wrong ack");
        assert_eq!(c.check(t0, l, r, syn + 9, iss + 1), None, "wrong seq");
        assert_eq!(
            c.check(t0, l, sa("198.18.3.4:5556"), syn + 1, iss + 1),
            None
        );
        assert_eq!(
            c.check(t0, l, r, syn + 1, c.make(t0, l, r, syn, 1000) + 1),
            Some(536)
        );
    }

    #[test]
    fn rfc4987_timestamps_carry_window_scale_and_sack() {
        for (ws, sack) in [
            (None, false),
            (Some(7), true),
            (Some(14), false),
            (Some(0), true),
        ] {
            let ts = encode_ts(123_456_789, ws, sack);
            assert!(ts <= 123_456_789);
            assert_eq!(decode_ts(ts), (ws, sack));
        }
    }

    proptest! {
        #[test]
        fn forged_cookies_almost_never_validate(seq: u32, ack: u32, port in 1024u16..) {
            let c = SynCookies::new([1; 16]);
            let l = sa("192.0.2.2:80");
            let r = SocketAddr::new(sa("198.18.0.1:1").ip(), port);
            let now = Instant::from_millis(5_000_000);
            // A random ACK validates with probability 8 * 3 / 2^24; over proptest's cases a
            // hit would be a bug, not luck.
            prop_assert_eq!(c.check(now, l, r, SeqNum::new(seq), SeqNum::new(ack)), None);
        }
    }
}
