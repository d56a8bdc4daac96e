//! The `frag_reassembly` harness: a [`Reassembler`] with small bounds fed an arbitrary
//! sequence of fragments (crafted, corrupted or raw) at arbitrary times, with the bounds
//! and the counters checked after every step.
//!
//! The input is read byte by byte (a missing byte reads as 0), so a seed is easy to write
//! by hand ([`SEEDS`]):
//!
//! * 7 bytes of configuration: most datagrams `1 + b % 8`, most fragments `b % 16`, most
//!   bytes `u16 × 2`, largest datagram `u16`, timeout `1 + b × 40` ms;
//! * then operations, each a byte `op` and its arguments:
//!   * `op % 8` in 0..=3, a **fragment**: `flags` (bit 0 IPv6, bit 1 M, bit 2 an IPv4
//!     option or an IPv6 hop-by-hop header, bit 3 TCP instead of UDP, bit 4 other bytes),
//!     `ident % 4`, offset in 8-octet units, data length, time step × 16 ms;
//!   * 4, a **raw** packet: a length byte, then that many bytes;
//!   * 5, a **corrupted** fragment: the fragment's five bytes, then a position and an XOR
//!     mask applied to one byte of it;
//!   * 6, **expire**: a u16 time step in ms, then [`Reassembler::expire`] until `None`;
//!   * 7, a step of a whole timeout, then expire.
//!
//! Checks: at most `max_datagrams` datagrams and `max_bytes` bytes after every call; a
//! deadline exists exactly when something is held, and none is left due after `expire`;
//! every call that is not `NotFragmented` counts one `ReasmReqds`, every error exactly one
//! drop reason, every datagram out one `ReasmOKs`; every datagram out parses as an
//! unfragmented packet within the largest length, and cutting it again with
//! `fragment_ipv4`/`fragment_ipv6` and reassembling gives it back; after a last timeout
//! nothing is held.

use synack_proto::frag::{
    FragConfig, FragCounters, FragError, Reassembler, fragment_ipv4, fragment_ipv6,
};
use synack_proto::time::{Duration, Instant};
use synack_proto::wire::{Ipv4Packet, Ipv6Packet};

/// Most operations one input runs.
const MAX_OPS: usize = 4000;

/// Hand-written seeds (name, bytes) for `fuzz/corpus/frag_reassembly/`.
pub const SEEDS: &[(&str, &[u8])] = &[
    // 8 datagrams, 15 fragments, 65534 bytes, 65535 long, 10 s; IPv4 0..8, 16..24 (last),
    // 8..16: complete.
    (
        "seed-v4-out-of-order",
        &[
            7, 15, 0x7f, 0xff, 0xff, 0xff, 0xfa, 0, 0b010, 1, 0, 8, 1, 0, 0b000, 1, 2, 8, 1, 0,
            0b010, 1, 1, 8, 1,
        ],
    ),
    // IPv6 with a hop-by-hop header, three fragments in reverse, then a duplicate.
    (
        "seed-v6-reverse-duplicate",
        &[
            7, 15, 0x7f, 0xff, 0xff, 0xff, 0xfa, 0, 0b0101, 2, 4, 5, 1, 0, 0b0111, 2, 2, 16, 1, 0,
            0b0111, 2, 0, 16, 1, 0, 0b0111, 2, 0, 16, 1,
        ],
    ),
    // An overlap, then the fragment that would have completed it, then a timeout.
    (
        "seed-overlap-then-timeout",
        &[
            7, 15, 0x7f, 0xff, 0xff, 0xff, 0x10, 0, 0b010, 3, 0, 16, 1, 0, 0b010, 3, 1, 16, 1, 0,
            0b000, 3, 2, 8, 1, 7,
        ],
    ),
    // Tight bounds (2 datagrams, 4 fragments, 1000 bytes) and a flood of first fragments.
    (
        "seed-flood-small-bounds",
        &[
            1, 4, 0x01, 0xf4, 0x01, 0x00, 0x20, 0, 0b010, 0, 0, 192, 0, 0, 0b010, 1, 0, 192, 0, 0,
            0b010, 2, 0, 192, 0, 0, 0b010, 3, 0, 192, 0, 6, 0xff, 0xff, 0, 0b011, 0, 0, 192, 0, 0,
            0b011, 1, 0, 192, 0, 7,
        ],
    ),
    // A tiny first IPv6 fragment of TCP (RFC 7112), a corrupted checksum, a raw packet.
    (
        "seed-tiny-corrupt-raw",
        &[
            7, 15, 0x7f, 0xff, 0xff, 0xff, 0x10, 0, 0b1011, 0, 0, 8, 1, 5, 0b010, 0, 0, 8, 1, 10,
            0xff, 4, 4, 0x45, 0, 0, 4,
        ],
    ),
];

/// A cursor over the input: bytes in order, 0 once it runs out.
struct Input<'a> {
    data: &'a [u8],
}

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.byte(), self.byte()])
    }

    fn bytes(&mut self, n: usize) -> &[u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }
}

/// One crafted fragment's parameters.
struct Spec {
    flags: u8,
    ident: u8,
    units: u8,
    len: u8,
}

impl Spec {
    fn read(input: &mut Input<'_>) -> (Spec, u64) {
        let spec = Spec {
            flags: input.byte(),
            ident: input.byte() % 4,
            units: input.byte(),
            len: input.byte(),
        };
        (spec, u64::from(input.byte()) * 16)
    }

    /// The packet: data bytes depend only on (ident, absolute offset, bit 4), so
    /// duplicates and re-cuts carry equal bytes and bit 4 makes overlaps that differ.
    fn packet(&self) -> Vec<u8> {
        let v6 = self.flags & 1 != 0;
        let more = self.flags & 2 != 0;
        let extra = self.flags & 4 != 0;
        let proto = if self.flags & 8 != 0 { 6 } else { 17 };
        let flip = if self.flags & 16 != 0 { 0xff } else { 0 };
        let offset = usize::from(self.units) * 8;
        let data: Vec<u8> = (0..usize::from(self.len))
            .map(|i| ((offset + i) as u8 ^ self.ident.wrapping_mul(37)) ^ flip)
            .collect();
        if v6 {
            let mut payload = Vec::new();
            if extra {
                payload.extend([44, 0, 1, 4, 0, 0, 0, 0]);
            }
            let om = (u16::from(self.units) << 3) | u16::from(more);
            payload.extend([proto, 0]);
            payload.extend(om.to_be_bytes());
            payload.extend(u32::from(self.ident).to_be_bytes());
            payload.extend(&data);
            let mut packet = vec![0u8; 40 + payload.len()];
            let mut p = Ipv6Packet::new_unchecked(&mut packet[..]);
            p.set_version_tc_flow(6, 0, 0);
            p.set_payload_len(payload.len() as u16);
            p.set_next_header(if extra { 0 } else { 44 });
            p.set_hop_limit(64);
            p.set_src_addr([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1].into());
            p.set_dst_addr([0x2001, 0xdb8, 0, 0, 0, 0, 0, 2].into());
            packet[40..].copy_from_slice(&payload);
            packet
        } else {
            let header_len = if extra { 24 } else { 20 };
            let mut packet = vec![0u8; header_len + data.len()];
            if extra {
                packet[20..24].copy_from_slice(&[0x94, 4, 0, 0]);
            }
            packet[header_len..].copy_from_slice(&data);
            let total = packet.len() as u16;
            let mut p = Ipv4Packet::new_unchecked(&mut packet[..]);
            p.set_version_ihl(4, (header_len / 4) as u8);
            p.set_total_len(total);
            p.set_ident(u16::from(self.ident));
            p.set_flags_frag(false, more, (offset & 0xffff) as u16);
            p.set_ttl(64);
            p.set_protocol(proto);
            p.set_src_addr([192, 0, 2, 1].into());
            p.set_dst_addr([192, 0, 2, 2].into());
            p.fill_checksum();
            packet
        }
    }
}

/// The drop reasons: each error adds one to exactly one of them.
fn drops(c: &FragCounters) -> u64 {
    c.reasm_duplicates
        + c.reasm_abandoned_drops
        + c.in_hdr_errors
        + c.reasm_too_long
        + c.reasm_overlaps
        + c.reasm_inconsistent
        + c.reasm_too_many_fragments
        + c.reasm_no_room
}

/// The reassembler under test and the clock.
struct Harness {
    r: Reassembler,
    now: Instant,
}

impl Harness {
    fn check(&self) {
        let cfg = self.r.config();
        assert!(
            self.r.len() <= cfg.max_datagrams,
            "{} datagrams",
            self.r.len()
        );
        assert!(
            self.r.memory_usage() <= cfg.max_bytes,
            "{} bytes held, bound {}",
            self.r.memory_usage(),
            cfg.max_bytes
        );
        assert_eq!(self.r.is_empty(), self.r.memory_usage() == 0);
        assert_eq!(self.r.is_empty(), self.r.poll_timeout().is_none());
    }

    fn insert(&mut self, packet: &[u8]) {
        let before = *self.r.counters();
        let out = self.r.insert(self.now, packet);
        let after = *self.r.counters();
        self.check();
        let reqds = after.reasm_reqds - before.reasm_reqds;
        let dropped = drops(&after) - drops(&before);
        let oks = after.reasm_oks - before.reasm_oks;
        match &out {
            Err(FragError::NotFragmented) => assert_eq!((reqds, dropped, oks), (0, 0, 0)),
            Err(e) => assert_eq!((reqds, dropped, oks), (1, 1, 0), "{e:?}"),
            Ok(None) => assert_eq!((reqds, dropped, oks), (1, 0, 0)),
            Ok(Some(_)) => assert_eq!((reqds, dropped, oks), (1, 0, 1)),
        }
        if let Ok(Some(datagram)) = out {
            let atomic = after.reasm_atomic > before.reasm_atomic;
            self.check_datagram(datagram.packet(), atomic);
        }
    }

    /// A datagram out parses as an unfragmented packet, within the largest length unless
    /// it was an atomic fragment, and survives being cut and reassembled again.
    fn check_datagram(&self, packet: &[u8], atomic: bool) {
        let max_len = self.r.config().max_datagram_len.min(65535);
        match packet.first().map(|b| b >> 4) {
            Some(4) => {
                let p = Ipv4Packet::new_checked(packet).expect("datagram out parses");
                assert_eq!(usize::from(p.total_len()), packet.len());
                assert!(!p.more_frags() && p.frag_offset() == 0);
                assert!(p.verify_checksum());
                assert!(packet.len() <= max_len);
            }
            Some(6) => {
                let p = Ipv6Packet::new_checked(packet).expect("datagram out parses");
                assert_eq!(usize::from(p.payload_len()) + 40, packet.len());
                assert!(atomic || usize::from(p.payload_len()) <= max_len);
            }
            other => panic!("datagram out of version {other:?}"),
        }
        for mtu in [68, 200, 1280] {
            let cut = if packet[0] >> 4 == 4 {
                fragment_ipv4(packet, mtu)
            } else {
                fragment_ipv6(packet, mtu, 7)
            };
            let Ok(mut cut) = cut else { continue };
            if cut.count() < 2 {
                continue;
            }
            let mut again = Reassembler::new(FragConfig {
                max_fragments: 1 << 16,
                ..FragConfig::default()
            });
            let mut buf = vec![0u8; mtu];
            let mut whole = None;
            while let Some(len) = cut.write_next(&mut buf).expect("buffer of the MTU") {
                assert!(len <= mtu);
                match again.insert(self.now, &buf[..len]) {
                    Ok(Some(d)) => whole = Some(d),
                    Ok(None) => {}
                    Err(e) => panic!("a fragment we cut is refused: {e:?}"),
                }
            }
            assert_eq!(
                whole.expect("our fragments complete").packet(),
                packet,
                "cut and reassembled at MTU {mtu}"
            );
        }
    }

    fn expire(&mut self) {
        while let Some(te) = self.r.expire(self.now) {
            assert!(!te.invoking_packet.is_empty());
            assert!(te.invoking_packet.len() <= 1232);
            self.check();
        }
        self.check();
        if let Some(at) = self.r.poll_timeout() {
            assert!(at > self.now, "a deadline left due after expire");
        }
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut input = Input { data };
    let cfg = FragConfig {
        max_datagrams: 1 + usize::from(input.byte() % 8),
        max_fragments: usize::from(input.byte() % 16),
        max_bytes: usize::from(input.u16()) * 2,
        max_datagram_len: usize::from(input.u16()),
        timeout: Duration::from_millis(1 + u64::from(input.byte()) * 40),
    };
    let timeout = cfg.timeout;
    let mut h = Harness {
        r: Reassembler::new(cfg),
        now: Instant::ZERO,
    };
    for _ in 0..MAX_OPS {
        if input.data.is_empty() {
            break;
        }
        match input.byte() % 8 {
            0..=3 => {
                let (spec, dt) = Spec::read(&mut input);
                h.now += Duration::from_millis(dt);
                h.insert(&spec.packet());
            }
            4 => {
                let len = usize::from(input.byte());
                let raw = input.bytes(len).to_vec();
                h.insert(&raw);
            }
            5 => {
                let (spec, dt) = Spec::read(&mut input);
                let mut packet = spec.packet();
                let at = usize::from(input.byte()) % packet.len();
                packet[at] ^= input.byte();
                h.now += Duration::from_millis(dt);
                h.insert(&packet);
            }
            6 => {
                h.now += Duration::from_millis(u64::from(input.u16()));
                h.expire();
            }
            _ => {
                h.now += timeout;
                h.expire();
            }
        }
    }
    h.now += timeout;
    h.expire();
    assert!(h.r.is_empty(), "everything times out");
}
