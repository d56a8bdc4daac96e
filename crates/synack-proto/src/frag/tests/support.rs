//! Hand-built datagrams and fragments, and a reassembler that checks its bounds after
//! every call.

use crate::frag::{FragConfig, FragError, Reassembled, Reassembler};
use crate::time::Instant;
use crate::wire::{Ipv4Packet, Ipv6Packet};
use std::net::{Ipv4Addr, Ipv6Addr};

pub(super) const V4_SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub(super) const V4_DST: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
pub(super) const V6_SRC: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
pub(super) const V6_DST: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0xabcd, 2);

/// UDP: its header is 8 octets, so any first fragment holds it.
pub(super) const UDP: u8 = 17;
pub(super) const TCP: u8 = 6;
pub(super) const HOP_BY_HOP: u8 = 0;
pub(super) const DEST_OPTS: u8 = 60;
pub(super) const ROUTING: u8 = 43;

/// `ms` milliseconds after the epoch.
pub(super) fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

/// `len` bytes no two neighbouring 8-octet blocks of which are alike.
pub(super) fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// An IPv4 header: no DF, TTL 64, protocol UDP, these options (a multiple of 4 octets).
fn v4_header(ident: u16, options: &[u8]) -> Vec<u8> {
    assert_eq!(options.len() % 4, 0);
    let mut h = vec![0u8; 20 + options.len()];
    h[20..].copy_from_slice(options);
    let mut p = Ipv4Packet::new_unchecked(&mut h[..]);
    p.set_version_ihl(4, ((20 + options.len()) / 4) as u8);
    p.set_ident(ident);
    p.set_ttl(64);
    p.set_protocol(UDP);
    p.set_src_addr(V4_SRC);
    p.set_dst_addr(V4_DST);
    h
}

/// A whole IPv4 datagram (DF clear, so it may be fragmented).
pub(super) fn v4_datagram(ident: u16, options: &[u8], data: &[u8]) -> Vec<u8> {
    v4_packet(v4_header(ident, options), 0, false, data)
}

/// An IPv4 fragment: `data` at byte `offset`, MF as `more`, no options.
pub(super) fn v4_frag(ident: u16, offset: usize, more: bool, data: &[u8]) -> Vec<u8> {
    v4_packet(v4_header(ident, &[]), offset, more, data)
}

/// An IPv4 fragment with these options in its header.
pub(super) fn v4_frag_opts(
    ident: u16,
    options: &[u8],
    offset: usize,
    more: bool,
    data: &[u8],
) -> Vec<u8> {
    v4_packet(v4_header(ident, options), offset, more, data)
}

fn v4_packet(mut header: Vec<u8>, offset: usize, more: bool, data: &[u8]) -> Vec<u8> {
    let total = header.len() + data.len();
    header.extend_from_slice(data);
    let mut p = Ipv4Packet::new_unchecked(&mut header[..]);
    p.set_total_len(total as u16);
    p.set_flags_frag(false, more, offset as u16);
    p.fill_checksum();
    header
}

/// Cuts `data` at every `chunk` bytes into IPv4 fragments (by hand, not by the fragmenter).
pub(super) fn v4_split(ident: u16, data: &[u8], chunk: usize) -> Vec<Vec<u8>> {
    let n = data.len().div_ceil(chunk);
    (0..n)
        .map(|i| {
            let end = ((i + 1) * chunk).min(data.len());
            v4_frag(ident, i * chunk, i + 1 < n, &data[i * chunk..end])
        })
        .collect()
}

/// A fixed IPv6 header (hop limit 64) followed by `payload`, whose first header is `next`.
fn v6_packet(next: u8, payload: &[u8]) -> Vec<u8> {
    let mut packet = vec![0u8; 40 + payload.len()];
    let mut p = Ipv6Packet::new_unchecked(&mut packet[..]);
    p.set_version_tc_flow(6, 0, 0);
    p.set_payload_len(payload.len() as u16);
    p.set_next_header(next);
    p.set_hop_limit(64);
    p.set_src_addr(V6_SRC);
    p.set_dst_addr(V6_DST);
    packet[40..].copy_from_slice(payload);
    packet
}

/// A whole IPv6 packet carrying `data` as protocol `proto`.
pub(super) fn v6_datagram(proto: u8, data: &[u8]) -> Vec<u8> {
    v6_packet(proto, data)
}

/// The 8 bytes of a Fragment header.
pub(super) fn frag_header(next: u8, offset: usize, more: bool, ident: u32) -> [u8; 8] {
    let units = (offset / 8) as u16;
    let om = (units << 3) | u16::from(more);
    let [a, b] = om.to_be_bytes();
    let [c, d, e, f] = ident.to_be_bytes();
    [next, 0, a, b, c, d, e, f]
}

/// An IPv6 fragment of a packet of protocol `proto`: `data` at byte `offset` of the
/// fragmentable part, M as `more`.
pub(super) fn v6_frag_of(proto: u8, ident: u32, offset: usize, more: bool, data: &[u8]) -> Vec<u8> {
    let mut payload = frag_header(proto, offset, more, ident).to_vec();
    payload.extend_from_slice(data);
    v6_packet(44, &payload)
}

/// An IPv6 fragment of a UDP packet.
pub(super) fn v6_frag(ident: u32, offset: usize, more: bool, data: &[u8]) -> Vec<u8> {
    v6_frag_of(UDP, ident, offset, more, data)
}

/// Cuts `data` (a UDP packet's payload) at every `chunk` bytes into IPv6 fragments.
pub(super) fn v6_split(ident: u32, data: &[u8], chunk: usize) -> Vec<Vec<u8>> {
    let n = data.len().div_ceil(chunk);
    (0..n)
        .map(|i| {
            let end = ((i + 1) * chunk).min(data.len());
            v6_frag(ident, i * chunk, i + 1 < n, &data[i * chunk..end])
        })
        .collect()
}

/// An 8-byte extension header (Hdr Ext Len 0) naming `next`.
pub(super) fn ext8(next: u8) -> [u8; 8] {
    [next, 0, 1, 4, 0, 0, 0, 0]
}

/// A reassembler whose bounds are checked after every call.
pub(super) struct Checked {
    pub(super) r: Reassembler,
}

impl Checked {
    pub(super) fn new(cfg: FragConfig) -> Self {
        Checked {
            r: Reassembler::new(cfg),
        }
    }

    pub(super) fn default() -> Self {
        Checked::new(FragConfig::default())
    }

    fn check(&self) {
        let cfg = self.r.config();
        assert!(
            self.r.len() <= cfg.max_datagrams,
            "{} datagrams",
            self.r.len()
        );
        assert!(
            self.r.memory_usage() <= cfg.max_bytes,
            "{} bytes over {}",
            self.r.memory_usage(),
            cfg.max_bytes
        );
        assert_eq!(
            self.r.is_empty(),
            self.r.memory_usage() == 0,
            "memory is charged exactly while something is held"
        );
        if let Some(at) = self.r.poll_timeout() {
            assert!(!self.r.is_empty(), "a deadline with nothing held: {at:?}");
        }
    }

    pub(super) fn insert(
        &mut self,
        now: Instant,
        packet: &[u8],
    ) -> Result<Option<Reassembled>, FragError> {
        let out = self.r.insert(now, packet);
        self.check();
        out
    }

    /// Inserts every fragment; all but the last must be kept, the last must complete.
    pub(super) fn reassemble(&mut self, now: Instant, fragments: &[Vec<u8>]) -> Vec<u8> {
        let (last, rest) = fragments.split_last().unwrap();
        for (i, f) in rest.iter().enumerate() {
            assert_eq!(
                self.insert(now, f),
                Ok(None),
                "fragment {i} of {}",
                fragments.len()
            );
        }
        self.insert(now, last)
            .expect("the last fragment is taken")
            .expect("the last fragment completes the datagram")
            .into_vec()
    }

    pub(super) fn expire_all(&mut self, now: Instant) -> Vec<crate::frag::TimeExceeded> {
        let mut out = Vec::new();
        while let Some(te) = self.r.expire(now) {
            out.push(te);
            self.check();
        }
        self.check();
        out
    }
}
