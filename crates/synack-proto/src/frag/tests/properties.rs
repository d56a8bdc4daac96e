//! Properties over random datagrams, MTUs, orders and streams: fragmenting then
//! reassembling in any order gives the datagram back, and no stream of fragments breaks a
//! bound.

use super::fragmenter::collect;
use super::support::*;
use crate::frag::{FragConfig, FragError, fragment_ipv4, fragment_ipv6};
use crate::time::Duration;
use crate::wire::ip::parse_ip;
use crate::wire::{Checksum, Ipv4Packet, Ipv6Packet};
use proptest::prelude::*;

/// Shuffles `items` with a seeded Fisher–Yates (splitmix64), and repeats the ones
/// `dup_every` picks (exact duplicates).
fn shuffled<T: Clone>(items: &[T], seed: u64, dup_every: usize) -> Vec<T> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut out: Vec<T> = items.to_vec();
    if dup_every > 0 {
        out.extend(items.iter().step_by(dup_every).cloned());
    }
    for i in (1..out.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        out.swap(i, j);
    }
    out
}

/// Feeds `frags` in order: exactly one completes the datagram, equal to `want`; the rest
/// are kept or dropped as duplicates. Duplicates after completion start a new datagram.
fn reassembles_to(frags: &[Vec<u8>], want: &[u8]) -> Result<(), TestCaseError> {
    let mut r = Checked::new(FragConfig {
        max_fragments: 10_000,
        ..FragConfig::default()
    });
    let mut done = 0;
    for f in frags {
        match r.insert(t(0), f) {
            Ok(Some(out)) => {
                prop_assert_eq!(out.packet(), want);
                done += 1;
            }
            Ok(None) | Err(FragError::Duplicate) => {}
            Err(e) => prop_assert!(false, "{:?}", e),
        }
    }
    prop_assert!(done >= 1, "the datagram never completed");
    Ok(())
}

proptest! {
    #[test]
    fn ipv4_fragment_shuffle_reassemble_is_the_identity(
        len in 1usize..9000,
        mtu in 68usize..1600,
        copied_option: bool,
        seed: u64,
        dup_every in 0usize..4,
    ) {
        // A copied option (router alert) and one that is not (a 4-octet NOP run).
        let options: &[u8] = if copied_option { &[0x94, 4, 0, 0] } else { &[1, 1, 1, 1] };
        let data = payload(len);
        let packet = v4_datagram(len as u16, options, &data);
        let frags = collect(fragment_ipv4(&packet, mtu).unwrap(), mtu);
        prop_assert!(frags.iter().all(|f| f.len() <= mtu));
        if frags.len() == 1 {
            prop_assert_eq!(&frags[0], &packet);
            return Ok(());
        }
        reassembles_to(&shuffled(&frags, seed, dup_every), &packet)?;
    }

    #[test]
    fn ipv6_fragment_shuffle_reassemble_is_the_identity(
        len in 1usize..9000,
        mtu in 64usize..1600,
        hop_by_hop: bool,
        dest_opts: bool,
        ident: u32,
        seed: u64,
        dup_every in 0usize..4,
    ) {
        let mut chain = Vec::new();
        let mut kinds = Vec::new();
        if hop_by_hop { kinds.push(HOP_BY_HOP); }
        if dest_opts { kinds.push(DEST_OPTS); }
        for (i, _) in kinds.iter().enumerate() {
            chain.extend(ext8(kinds.get(i + 1).copied().unwrap_or(UDP)));
        }
        chain.extend(payload(len));
        let packet = v6_datagram(kinds.first().copied().unwrap_or(UDP), &chain);
        let frags = match fragment_ipv6(&packet, mtu, ident) {
            Ok(f) => collect(f, mtu),
            Err(e) => {
                // The per-fragment headers, the Fragment header and the chain through the
                // UDP header (RFC 7112) must fit.
                let per_fragment = 40 + 8 * usize::from(hop_by_hop);
                let chain = 8 * usize::from(dest_opts) + 8;
                prop_assert_eq!(e, FragError::MtuTooSmall);
                prop_assert!(mtu < per_fragment + 8 + chain, "{}", mtu);
                return Ok(());
            }
        };
        prop_assert!(frags.iter().all(|f| f.len() <= mtu));
        if frags.len() == 1 {
            prop_assert_eq!(&frags[0], &packet);
            return Ok(());
        }
        reassembles_to(&shuffled(&frags, seed, dup_every), &packet)?;
    }

    /// Arbitrary fragments at arbitrary times into small bounds: every bound holds after
    /// every call (checked by [`Checked`]), every datagram that comes out parses as an
    /// unfragmented packet within the largest length, and everything is freed once the
    /// last deadline passes.
    #[test]
    fn arbitrary_fragment_streams_keep_every_bound(
        ops in prop::collection::vec(
            (any::<bool>(), 0u32..4, 0usize..24, 0usize..80, any::<bool>(), 0u64..4000, any::<bool>()),
            1..200,
        ),
    ) {
        let cfg = FragConfig {
            max_datagrams: 3,
            max_bytes: 3000,
            max_datagram_len: 160,
            max_fragments: 5,
            timeout: Duration::from_secs(10),
        };
        let mut r = Checked::new(cfg.clone());
        let mut now = 0;
        for (v6, ident, units, len, more, dt, expire) in ops {
            now += dt;
            let data = payload(len);
            let packet = if v6 {
                v6_frag(ident, units * 8, more, &data)
            } else {
                v4_frag(ident as u16, units * 8, more, &data)
            };
            if let Ok(Some(out)) = r.insert(t(now), &packet) {
                let (ip, _) = parse_ip(out.packet(), Checksum::Verify)
                    .map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
                let counted = match ip {
                    crate::wire::IpRepr::V4(_) => {
                        usize::from(Ipv4Packet::new_checked(out.packet()).unwrap().total_len())
                    }
                    crate::wire::IpRepr::V6(_) => {
                        usize::from(Ipv6Packet::new_checked(out.packet()).unwrap().payload_len())
                    }
                };
                prop_assert!(counted <= cfg.max_datagram_len);
            }
            if expire {
                let _ = r.expire_all(t(now));
            }
            if let Some(at) = r.r.poll_timeout() {
                prop_assert!(at > t(now) || !expire, "a deadline left due after expire");
            }
        }
        let _ = r.expire_all(t(now) + cfg.timeout);
        prop_assert!(r.r.is_empty());
        prop_assert_eq!(r.r.memory_usage(), 0);
        let c = r.r.counters();
        prop_assert!(c.reasm_oks <= c.reasm_reqds);
    }
}
