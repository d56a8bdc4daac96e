//! The `virtio_net_hdr` a TUN device opened with `IFF_VNET_HDR` puts before every packet, and
//! what synack writes there: checksum offload and TCP segmentation offload (GSO/TSO).
//!
//! The header is ten bytes in the host's byte order (Linux `include/uapi/linux/virtio_net.h`;
//! legacy TUN devices use native endianness unless `TUNSETVNETLE` says otherwise):
//! `flags: u8, gso_type: u8, hdr_len: u16, gso_size: u16, csum_start: u16, csum_offset: u16`.
//!
//! Receiving, the kernel hands over TCP super-segments of up to 64 KiB with `gso_type` set
//! and, usually, `NEEDS_CSUM`: the TCP checksum field holds only the pseudo-header sum, and the
//! packet is trusted as the kernel built it. Sending, a TCP segment larger than the MTU goes
//! with `gso_type` `TCPV4`/`TCPV6` and `gso_size` the payload per wire segment; the kernel
//! cuts it (or, delivering locally, takes it whole as if GRO had merged it). It also goes with
//! `NEEDS_CSUM` and the pseudo-header sum in its checksum field, as the kernel's own stack,
//! wireguard-go and gVisor do, so nobody sums its payload again.

use crate::wire::checksum;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Bytes of `struct virtio_net_hdr`.
pub const VNET_HDR_LEN: usize = 10;
/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: the checksum at `csum_start + csum_offset` is partial.
pub const F_NEEDS_CSUM: u8 = 1;
/// `VIRTIO_NET_HDR_F_DATA_VALID`: the checksum was verified.
pub const F_DATA_VALID: u8 = 2;
/// `VIRTIO_NET_HDR_GSO_NONE`.
pub const GSO_NONE: u8 = 0;
/// `VIRTIO_NET_HDR_GSO_TCPV4`.
pub const GSO_TCPV4: u8 = 1;
/// `VIRTIO_NET_HDR_GSO_TCPV6`.
pub const GSO_TCPV6: u8 = 4;
/// Offset of the checksum field in a TCP header.
const TCP_CSUM_OFFSET: u16 = 16;
/// Longest IP plus TCP header synack writes: IPv6 (40) or IPv4 with options (60), plus TCP
/// with options (60).
pub const MAX_HEADERS: usize = 120;

/// A decoded `virtio_net_hdr`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VnetHdr {
    /// `F_NEEDS_CSUM`, `F_DATA_VALID`.
    pub flags: u8,
    /// `GSO_NONE`, `GSO_TCPV4`, `GSO_TCPV6` (others are not used here).
    pub gso_type: u8,
    /// Bytes of headers (IP + TCP) before the payload that is cut.
    pub hdr_len: u16,
    /// Payload bytes per segment.
    pub gso_size: u16,
    /// Where checksumming starts (the TCP header).
    pub csum_start: u16,
    /// Where, from `csum_start`, the checksum goes.
    pub csum_offset: u16,
}

impl VnetHdr {
    /// Reads a header.
    pub fn decode(b: &[u8; VNET_HDR_LEN]) -> Self {
        let u16_at = |i: usize| u16::from_ne_bytes([b[i], b[i + 1]]);
        VnetHdr {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u16_at(2),
            gso_size: u16_at(4),
            csum_start: u16_at(6),
            csum_offset: u16_at(8),
        }
    }

    /// Writes the header.
    pub fn encode(&self) -> [u8; VNET_HDR_LEN] {
        let mut b = [0u8; VNET_HDR_LEN];
        b[0] = self.flags;
        b[1] = self.gso_type;
        for (i, v) in [
            self.hdr_len,
            self.gso_size,
            self.csum_start,
            self.csum_offset,
        ]
        .into_iter()
        .enumerate()
        {
            b[2 + 2 * i..4 + 2 * i].copy_from_slice(&v.to_ne_bytes());
        }
        b
    }

    /// Whether the kernel vouches for the packet's TCP checksum (partial or verified), so the
    /// stack must not verify it.
    pub fn checksum_trusted(&self) -> bool {
        self.flags & (F_NEEDS_CSUM | F_DATA_VALID) != 0
    }

    /// Completes a partial checksum in software (`NEEDS_CSUM`): sums from `csum_start` to the
    /// end, the field's pseudo-header sum included, and stores the complement. Returns false
    /// (and leaves `packet` alone) if the offsets lie outside it.
    pub fn finish_checksum(&self, packet: &mut [u8]) -> bool {
        if self.flags & F_NEEDS_CSUM == 0 {
            return true;
        }
        let start = usize::from(self.csum_start);
        let at = start + usize::from(self.csum_offset);
        if at + 2 > packet.len() {
            return false;
        }
        let Some(covered) = packet.get(start..) else {
            return false;
        };
        let c = checksum::checksum(covered).to_be_bytes();
        packet[at..at + 2].copy_from_slice(&c);
        true
    }
}

/// The IP and TCP header lengths, the pseudo-header sum and the GSO type of a TCP packet
/// (IPv4 without fragmentation, or IPv6 without extension headers); `None` for anything else.
fn tcp_layout(packet: &[u8]) -> Option<(usize, usize, u16, u8)> {
    let version = packet.first()? >> 4;
    let (ip_len, pseudo, gso) = match version {
        4 => {
            let ihl = usize::from(packet.first()? & 0x0f) * 4;
            let frag = u16::from_be_bytes([*packet.get(6)?, *packet.get(7)?]);
            // More-fragments or a fragment offset: not a whole segment.
            if *packet.get(9)? != 6 || frag & 0x3fff != 0 || ihl < 20 {
                return None;
            }
            let a = |i: usize| -> Option<Ipv4Addr> {
                let b: [u8; 4] = packet.get(i..i + 4)?.try_into().ok()?;
                Some(Ipv4Addr::from(b))
            };
            let tcp_len = u16::try_from(packet.len().checked_sub(ihl)?).ok()?;
            let p = checksum::pseudo_header_v4(a(12)?, a(16)?, 6, tcp_len);
            (ihl, p, GSO_TCPV4)
        }
        6 => {
            if *packet.get(6)? != 6 {
                return None;
            }
            let a = |i: usize| -> Option<Ipv6Addr> {
                let b: [u8; 16] = packet.get(i..i + 16)?.try_into().ok()?;
                Some(Ipv6Addr::from(b))
            };
            let tcp_len = u32::try_from(packet.len().checked_sub(40)?).ok()?;
            let p = checksum::pseudo_header_v6(&a(8)?, &a(24)?, 6, tcp_len);
            (40, p, GSO_TCPV6)
        }
        _ => return None,
    };
    let tcp_len = usize::from(packet.get(ip_len + 12)? >> 4) * 4;
    if tcp_len < 20 || ip_len + tcp_len > packet.len() {
        return None;
    }
    Some((ip_len, tcp_len, pseudo, gso))
}

/// Computes the TCP checksum of `packet` (IPv4 or IPv6 carrying TCP) from scratch and writes
/// it in, replacing a partial one; returns false, leaving `packet` alone, for anything else.
/// (For captures: the kernel's offloaded segments arrive with partial checksums.)
pub fn fill_tcp_checksum(packet: &mut [u8]) -> bool {
    let Some((ip_len, _, pseudo, _)) = tcp_layout(packet) else {
        return false;
    };
    let Ok(csum_start) = u16::try_from(ip_len) else {
        return false;
    };
    let at = ip_len + usize::from(TCP_CSUM_OFFSET);
    if let Some(field) = packet.get_mut(at..at + 2) {
        field.copy_from_slice(&pseudo.to_be_bytes());
    }
    let hdr = VnetHdr {
        flags: F_NEEDS_CSUM,
        csum_start,
        csum_offset: TCP_CSUM_OFFSET,
        ..VnetHdr::default()
    };
    hdr.finish_checksum(packet)
}

/// How to write `packet` (a complete IP packet with valid checksums) to a device with
/// offloads: the header, and the packet's first `n` bytes rewritten into `head` (the write is
/// `hdr`, `head[..n]`, `packet[n..]`). A TCP packet longer than `mtu` is marked for
/// segmentation into `segment_size`-byte payloads with a partial checksum; anything else goes
/// as it is, `GSO_NONE`, checksum complete (`n` = 0).
pub fn for_transmit(
    packet: &[u8],
    mtu: usize,
    segment_size: usize,
    head: &mut [u8; MAX_HEADERS],
) -> (VnetHdr, usize) {
    let whole = (VnetHdr::default(), 0);
    if packet.len() <= mtu {
        return whole;
    }
    let Some((ip_len, tcp_len, pseudo, gso_type)) = tcp_layout(packet) else {
        return whole;
    };
    let n = ip_len + tcp_len;
    let (Ok(gso_size), Ok(hdr_len), Ok(csum_start)) = (
        u16::try_from(segment_size),
        u16::try_from(n),
        u16::try_from(ip_len),
    ) else {
        return whole;
    };
    let (Some(dst), Some(src)) = (head.get_mut(..n), packet.get(..n)) else {
        return whole;
    };
    dst.copy_from_slice(src);
    let at = ip_len + usize::from(TCP_CSUM_OFFSET);
    dst[at..at + 2].copy_from_slice(&pseudo.to_be_bytes());
    let hdr = VnetHdr {
        flags: F_NEEDS_CSUM,
        gso_type,
        hdr_len,
        gso_size,
        csum_start,
        csum_offset: TCP_CSUM_OFFSET,
    };
    (hdr, n)
}
