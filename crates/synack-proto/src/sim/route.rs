//! Where a packet is going: the destination address, read straight from the
//! IP header with just enough parsing to route, and no panics.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The destination address of an IPv4 or IPv6 packet, or `None` if the
/// version nibble is neither 4 nor 6 or the fixed header is truncated.
///
/// Only the fixed header is read; options, lengths and checksums are the
/// receiving host's business (a corrupted packet must still reach it).
pub fn destination(packet: &[u8]) -> Option<IpAddr> {
    match packet.first()? >> 4 {
        4 => {
            let dst: [u8; 4] = packet.get(16..20)?.try_into().ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(dst)))
        }
        6 => {
            let dst: [u8; 16] = packet.get(24..40)?.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(dst)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ipv4_destination() {
        let mut p = [0u8; 20];
        p[0] = 0x45;
        p[16..20].copy_from_slice(&[10, 0, 0, 2]);
        assert_eq!(
            destination(&p),
            Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)))
        );
    }

    #[test]
    fn reads_ipv6_destination() {
        let mut p = [0u8; 40];
        p[0] = 0x60;
        let dst = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
        p[24..40].copy_from_slice(&dst.octets());
        assert_eq!(destination(&p), Some(IpAddr::V6(dst)));
    }

    #[test]
    fn rejects_truncated_and_unknown_versions() {
        assert_eq!(destination(&[]), None);
        assert_eq!(destination(&[0x45; 19]), None);
        assert_eq!(destination(&[0x60; 39]), None);
        assert_eq!(destination(&[0x55; 60]), None);
    }
}
