//! Wire formats: IPv4, IPv6 (with its Fragment header), TCP and its options, UDP, ICMP,
//! Internet checksums.
//!
//! # The Packet/Repr contract (STYLE R2, R9)
//!
//! Every protocol has two halves:
//!
//! * a zero-copy `XxxPacket<T: AsRef<[u8]>>` view whose `new_checked` validates
//!   every length the accessors depend on. Accessors never panic — not even on a
//!   `new_unchecked` view of a short buffer: they read through bounds-checked
//!   helpers that yield 0 (and setters that write nothing) out of range;
//! * an owned `XxxRepr` with `parse` (a typed [`WireError`] on any malformed
//!   input) and `emit` (writes exactly `buffer_len()`/`header_len()` bytes).
//!
//! Nothing in this module panics or reads out of bounds on any input.
//!
//! The stack mostly uses the convenience pairs [`parse_ip_tcp`] / [`emit_ip_tcp`],
//! [`parse_ip_udp`] / [`emit_ip_udp`] and [`icmp::parse_ip_icmp`] / [`icmp::emit_ip_icmp`].
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

pub mod checksum;
pub mod icmp;
pub mod ip;
pub mod ipv4;
pub mod ipv6;
pub mod ipv6_fragment;
pub mod seq;
pub mod tcp;
pub mod tcp_options;
pub mod udp;

#[cfg(test)]
pub(crate) mod oracle;
#[cfg(test)]
mod tests;

pub use icmp::{ErrorMessage, IcmpPacket, IcmpRepr, QuotedPacket};
pub use ip::{IpRepr, IpVersion, PROTOCOL_TCP, PROTOCOL_UDP};
pub use ipv4::{Ipv4Packet, Ipv4Repr};
pub use ipv6::{Ipv6Packet, Ipv6Repr};
pub use ipv6_fragment::{Ipv6FragmentHeader, Ipv6FragmentRepr};
pub use seq::SeqNum;
pub use tcp::{SackBlocks, TcpFlags, TcpOptions, TcpPacket, TcpRepr, Timestamps};
pub use udp::{UdpPacket, UdpRepr, emit_ip_udp, ip_udp_len, parse_ip_udp};

/// Why a packet could not be parsed or emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The buffer is shorter than the fixed header it should contain.
    #[error("buffer is shorter than the header")]
    Truncated,
    /// The IP version nibble is neither 4 nor 6 (or not the one expected).
    #[error("unexpected IP version")]
    BadVersion,
    /// IPv4 IHL below 5 words, or TCP data offset below 5 words.
    #[error("header length field is below the 20-byte minimum")]
    BadHeaderLength,
    /// The TCP data offset points past the end of the segment. (An IPv4 IHL
    /// past the end of the buffer is [`WireError::Truncated`].)
    #[error("header length field points past the end of the packet")]
    DataOffsetPastEnd,
    /// The IP length field lies: larger than the buffer, or smaller than the header.
    #[error("IP length field disagrees with the buffer or the header")]
    BadTotalLength,
    /// A checksum (IPv4 header or TCP with pseudo-header) does not verify.
    #[error("checksum mismatch")]
    BadChecksum,
    /// An IPv4 fragment (MF set or offset non-zero) or an IPv6 fragment header: the
    /// whole-packet parsers refuse it; [`crate::frag::Reassembler`] puts the fragments back
    /// together.
    #[error("fragmented packet (reassemble it first)")]
    Fragmented,
    /// A TCP option has length 0 or 1, runs past the end of the header, or has
    /// a length that is wrong for its (known) kind.
    #[error("malformed TCP option length")]
    BadOptionLength,
    /// The IP payload is not the protocol that was required (TCP, UDP or ICMP).
    #[error("unsupported IP protocol {0}")]
    UnsupportedProtocol(u8),
    /// The output buffer is too small for what is being emitted.
    #[error("output buffer too small")]
    BufferTooSmall,
    /// An IPv6 extension header synack does not walk (e.g. AH 51, ESP 50).
    #[error("unsupported IPv6 extension header {0}")]
    UnsupportedExtensionHeader(u8),
    /// More IPv6 extension headers than synack is willing to walk.
    #[error("too many IPv6 extension headers")]
    TooManyExtensionHeaders,
    /// Source and destination addresses (or an address and a header) are of different families.
    #[error("IPv4 and IPv6 addresses mixed in one packet")]
    AddressFamilyMismatch,
    /// The packet would not fit the IP length field (over 65535 bytes), or a UDP datagram
    /// its 16-bit length field.
    #[error("packet too long for the IP length field")]
    PacketTooLong,
    /// The UDP length field is below the 8-byte header or points past the end of the IP
    /// payload (RFC 768).
    #[error("UDP length field below 8 or past the end of the packet")]
    BadUdpLength,
    /// A UDP datagram over IPv6 with a zero checksum field: the checksum is mandatory over
    /// IPv6 and such datagrams must be discarded (RFC 8200 §8.1).
    #[error("zero UDP checksum over IPv6")]
    ZeroUdpChecksum,
    /// An ICMP error message the family's ICMP cannot carry: Packet Too Big over IPv4
    /// (IPv4 uses Destination Unreachable code 4), or an ICMPv4 Parameter Problem pointer
    /// above 255 (the field is one octet).
    #[error("ICMP message not representable in this address family")]
    IcmpNotRepresentable,
}

/// Whether parsing verifies checksums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checksum {
    /// Verify the IPv4 header checksum and the TCP, UDP or ICMP checksum; mismatches are
    /// [`WireError::BadChecksum`].
    Verify,
    /// Skip verification (e.g. checksum offload already did it).
    Ignore,
}

impl Checksum {
    /// True for [`Checksum::Verify`].
    pub const fn verify(self) -> bool {
        matches!(self, Checksum::Verify)
    }
}

/// Parses an IPv4 or IPv6 packet carrying TCP (the version nibble decides).
///
/// The IP total/payload length is honoured: bytes beyond it (link padding) are
/// ignored, and a length larger than the buffer is [`WireError::BadTotalLength`].
/// With [`Checksum::Verify`] the IPv4 header checksum and the TCP checksum (with
/// the pseudo-header) are verified. The IP protocol must be 6 (TCP); IPv6
/// hop-by-hop, routing and destination-options headers are skipped.
///
/// For IPv6 the returned [`Ipv6Repr`] describes the upper layer: `next_header`
/// is 6 and `payload_len` the TCP segment length (extension headers consumed).
pub fn parse_ip_tcp(bytes: &[u8], checksum: Checksum) -> Result<(IpRepr, TcpRepr<'_>), WireError> {
    let (ip, segment) = ip::parse_ip(bytes, checksum)?;
    let tcp = parse_tcp(&ip, segment, checksum)?;
    Ok((ip, tcp))
}

/// Parses the TCP segment carried by an already parsed IP header (see [`ip::parse_ip`]);
/// a protocol other than TCP is [`WireError::UnsupportedProtocol`].
pub fn parse_tcp<'a>(
    ip: &IpRepr,
    segment: &'a [u8],
    checksum: Checksum,
) -> Result<TcpRepr<'a>, WireError> {
    if ip.protocol() != PROTOCOL_TCP {
        return Err(WireError::UnsupportedProtocol(ip.protocol()));
    }
    let packet = TcpPacket::new_checked(segment)?;
    TcpRepr::parse(&packet, ip.src_addr(), ip.dst_addr(), checksum)
}

/// Parses the TCP segment carried by an already parsed IP header like [`parse_tcp`] with
/// [`Checksum::Verify`], but sums only the pseudo-header and the TCP header: the payload's
/// sum is left to the caller, who takes it while copying the payload
/// ([`checksum::copy_and_sum`]) and verifies with
/// `checksum::verifies(checksum::combine(&[partial, payload_sum]))`. The header is a
/// multiple of 4 bytes, so the payload's sum adds to it as it is.
///
/// Returns the segment, *unverified*, and that partial sum. Any error here is not a verdict:
/// the caller falls back to [`parse_tcp`], which reports a bad checksum before a bad option
/// as it always has.
pub fn parse_tcp_deferred<'a>(
    ip: &IpRepr,
    segment: &'a [u8],
) -> Result<(TcpRepr<'a>, u16), WireError> {
    if ip.protocol() != PROTOCOL_TCP {
        return Err(WireError::UnsupportedProtocol(ip.protocol()));
    }
    let packet = TcpPacket::new_checked(segment)?;
    TcpRepr::parse_deferred(&packet, ip.src_addr(), ip.dst_addr())
}

/// The number of bytes [`emit_ip_tcp`] writes: IP header + TCP header + options + payload.
pub fn ip_tcp_len(ip: &IpRepr, tcp: &TcpRepr<'_>) -> usize {
    ip.header_len() + tcp.buffer_len()
}

/// Writes an IP header, TCP header, options and payload into `buf`, with the
/// IPv4 header checksum and the TCP checksum filled in; returns the length written.
///
/// Only the addresses and TTL/hop limit of `ip` are used: the protocol is
/// always TCP and the payload length is computed from `tcp`.
pub fn emit_ip_tcp(ip: &IpRepr, tcp: &TcpRepr<'_>, buf: &mut [u8]) -> Result<usize, WireError> {
    let seg_len = tcp.buffer_len();
    let ip = ip.with_payload(PROTOCOL_TCP, seg_len)?;
    let header_len = ip.header_len();
    let total = header_len + seg_len;
    let out = buf.get_mut(..total).ok_or(WireError::BufferTooSmall)?;
    let (ip_buf, tcp_buf) = out.split_at_mut(header_len);
    ip.emit(ip_buf)?;
    tcp.emit(
        &mut TcpPacket::new_unchecked(tcp_buf),
        ip.src_addr(),
        ip.dst_addr(),
    );
    Ok(total)
}

/// Bounds-checked big-endian field access shared by the Packet views.
///
/// Reads out of range yield 0 and writes out of range do nothing, so an
/// accessor can never panic; `new_checked` guarantees they are in range.
pub(crate) mod field {
    /// The byte at `off`, or 0.
    pub(crate) fn u8_at(buf: &[u8], off: usize) -> u8 {
        buf.get(off).copied().unwrap_or(0)
    }

    /// `N` bytes at `off`, or zeros.
    pub(crate) fn array_at<const N: usize>(buf: &[u8], off: usize) -> [u8; N] {
        let mut out = [0u8; N];
        if let Some(src) = buf.get(off..off.saturating_add(N)) {
            out.copy_from_slice(src);
        }
        out
    }

    /// The big-endian u16 at `off`, or 0.
    pub(crate) fn u16_at(buf: &[u8], off: usize) -> u16 {
        u16::from_be_bytes(array_at(buf, off))
    }

    /// The big-endian u32 at `off`, or 0.
    pub(crate) fn u32_at(buf: &[u8], off: usize) -> u32 {
        u32::from_be_bytes(array_at(buf, off))
    }

    /// Writes `src` at `off` if it fits entirely.
    pub(crate) fn set_bytes(buf: &mut [u8], off: usize, src: &[u8]) {
        if let Some(dst) = buf.get_mut(off..off.saturating_add(src.len())) {
            copy_bytes(dst, src);
        }
    }

    /// Bytes per `copy_from_slice` in [`copy_bytes`]: at most the size above which glibc's
    /// `memmove` switches to `rep movsb` on the machines measured (4 KiB pieces still went
    /// that way there).
    const COPY_CHUNK: usize = 2048;

    /// Copies the first `min(dst.len(), src.len())` bytes of `src` into `dst`, in 2 KiB
    /// pieces: the payload copies between packets and rings.
    ///
    /// A whole 64 KiB payload copied at once goes through `rep movsb`, whose speed depends on
    /// how source and destination happen to be aligned: in `cargo bench --bench compare` the
    /// same MTU 65535 transfer ran at 8,300 or 3,200 MB/s depending only on which rows had
    /// run before it in the process (the heap layout, and with it the rings' alignment, had
    /// changed; `GLIBC_TUNABLES=glibc.cpu.x86_rep_movsb_threshold=…` raised out of reach gave
    /// 8,900 both ways). In pieces the vector loop copies at the same speed whatever the
    /// alignment: 7,900–8,200 MB/s both ways. Up to 2 KiB this is one plain copy.
    pub(crate) fn copy_bytes(dst: &mut [u8], src: &[u8]) {
        let n = dst.len().min(src.len());
        let (Some(dst), Some(src)) = (dst.get_mut(..n), src.get(..n)) else {
            return;
        };
        if n <= COPY_CHUNK {
            dst.copy_from_slice(src);
            return;
        }
        for (d, s) in dst.chunks_mut(COPY_CHUNK).zip(src.chunks(COPY_CHUNK)) {
            d.copy_from_slice(s);
        }
    }

    /// Writes a byte at `off` if in range.
    pub(crate) fn set_u8(buf: &mut [u8], off: usize, v: u8) {
        if let Some(b) = buf.get_mut(off) {
            *b = v;
        }
    }

    /// Writes a big-endian u16 at `off` if in range.
    pub(crate) fn set_u16(buf: &mut [u8], off: usize, v: u16) {
        set_bytes(buf, off, &v.to_be_bytes());
    }

    /// Writes a big-endian u32 at `off` if in range.
    pub(crate) fn set_u32(buf: &mut [u8], off: usize, v: u32) {
        set_bytes(buf, off, &v.to_be_bytes());
    }
}
