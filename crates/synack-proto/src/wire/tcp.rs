//! The TCP header (RFC 9293 §3.1): a zero-copy [`TcpPacket`] view and an owned [`TcpRepr`].
//!
//! The shared types ([`TcpFlags`], [`TcpOptions`], [`SackBlocks`], [`Timestamps`],
//! [`TcpRepr`]) are used across the crate; options are parsed and emitted in
//! [`super::tcp_options`].

use super::field::{set_bytes, set_u8, set_u16, set_u32, u8_at, u16_at, u32_at};
use super::{Checksum, WireError, checksum, ip::PROTOCOL_TCP};
use crate::wire::seq::SeqNum;
use core::fmt;
use core::net::IpAddr;

/// The TCP control bits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(u8);

impl TcpFlags {
    /// No flags.
    pub const NONE: TcpFlags = TcpFlags(0);
    /// FIN: no more data from sender.
    pub const FIN: TcpFlags = TcpFlags(0x01);
    /// SYN: synchronize sequence numbers.
    pub const SYN: TcpFlags = TcpFlags(0x02);
    /// RST: reset the connection.
    pub const RST: TcpFlags = TcpFlags(0x04);
    /// PSH: push function.
    pub const PSH: TcpFlags = TcpFlags(0x08);
    /// ACK: the acknowledgment field is significant.
    pub const ACK: TcpFlags = TcpFlags(0x10);
    /// URG: the urgent pointer field is significant.
    pub const URG: TcpFlags = TcpFlags(0x20);
    /// ECE: ECN-Echo (RFC 3168).
    pub const ECE: TcpFlags = TcpFlags(0x40);
    /// CWR: congestion window reduced (RFC 3168).
    pub const CWR: TcpFlags = TcpFlags(0x80);

    /// Flags from the raw byte 13 of the header.
    pub const fn from_bits(bits: u8) -> Self {
        TcpFlags(bits)
    }
    /// The raw byte.
    pub const fn bits(self) -> u8 {
        self.0
    }
    /// True if every flag in `other` is set.
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }
    /// True if any flag in `other` is set.
    pub const fn intersects(self, other: TcpFlags) -> bool {
        self.0 & other.0 != 0
    }
    /// SYN is set.
    pub const fn syn(self) -> bool {
        self.contains(Self::SYN)
    }
    /// ACK is set.
    pub const fn ack(self) -> bool {
        self.contains(Self::ACK)
    }
    /// FIN is set.
    pub const fn fin(self) -> bool {
        self.contains(Self::FIN)
    }
    /// RST is set.
    pub const fn rst(self) -> bool {
        self.contains(Self::RST)
    }
    /// PSH is set.
    pub const fn psh(self) -> bool {
        self.contains(Self::PSH)
    }
}

impl core::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl core::ops::BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.0 |= rhs.0;
    }
}

impl fmt::Display for TcpFlags {
    /// Wireshark-like: `SYN,ACK`, `FIN,ACK`, `RST`, `.` for none.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(TcpFlags, &str); 8] = [
            (TcpFlags::SYN, "SYN"),
            (TcpFlags::FIN, "FIN"),
            (TcpFlags::RST, "RST"),
            (TcpFlags::PSH, "PSH"),
            (TcpFlags::ACK, "ACK"),
            (TcpFlags::URG, "URG"),
            (TcpFlags::ECE, "ECE"),
            (TcpFlags::CWR, "CWR"),
        ];
        let mut first = true;
        for (flag, name) in NAMES {
            if self.contains(flag) {
                if !first {
                    f.write_str(",")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str(".")?;
        }
        Ok(())
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The RFC 7323 timestamps option.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Timestamps {
    /// TSval: the sender's timestamp clock.
    pub tsval: u32,
    /// TSecr: the echoed TSval of the peer.
    pub tsecr: u32,
}

/// Up to four SACK blocks (RFC 2018), each `[left, right)`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct SackBlocks {
    blocks: [(SeqNum, SeqNum); 4],
    len: u8,
}

impl SackBlocks {
    /// The blocks present, in wire order.
    pub fn as_slice(&self) -> &[(SeqNum, SeqNum)] {
        self.blocks.get(..usize::from(self.len)).unwrap_or(&[])
    }
    /// Appends a block; returns false (and changes nothing) when four are already held.
    pub fn push(&mut self, left: SeqNum, right: SeqNum) -> bool {
        match self.blocks.get_mut(usize::from(self.len)) {
            Some(slot) => {
                *slot = (left, right);
                self.len += 1;
                true
            }
            None => false,
        }
    }
    /// Number of blocks.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }
    /// No blocks.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The TCP options synack understands. Unknown options are skipped by their length on parse.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct TcpOptions {
    /// Maximum segment size (kind 2), only meaningful on SYNs.
    pub mss: Option<u16>,
    /// Window scale shift count (kind 3), only meaningful on SYNs.
    pub window_scale: Option<u8>,
    /// SACK-permitted (kind 4), only meaningful on SYNs.
    pub sack_permitted: bool,
    /// SACK blocks (kind 5).
    pub sack_blocks: SackBlocks,
    /// Timestamps (kind 8).
    pub timestamps: Option<Timestamps>,
}

/// An owned, high-level view of a TCP segment: the header fields plus a borrowed payload.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TcpRepr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number of the first octet (or of the SYN).
    pub seq: SeqNum,
    /// Acknowledgment number; meaningful only when `flags` has ACK (otherwise emitted as 0).
    pub ack: SeqNum,
    /// Control bits.
    pub flags: TcpFlags,
    /// The window field, as on the wire (unscaled).
    pub window: u16,
    /// The urgent pointer (synack never sends urgent data; kept for round-trips).
    pub urgent: u16,
    /// Options.
    pub options: TcpOptions,
    /// Segment text.
    pub payload: &'a [u8],
}

impl TcpRepr<'_> {
    /// SEG.LEN: the payload length plus one for SYN and one for FIN (RFC 9293 §3.4).
    pub fn seg_len(&self) -> usize {
        self.payload.len() + usize::from(self.flags.syn()) + usize::from(self.flags.fin())
    }
}

mod off {
    pub(super) const SRC_PORT: usize = 0;
    pub(super) const DST_PORT: usize = 2;
    pub(super) const SEQ: usize = 4;
    pub(super) const ACK: usize = 8;
    pub(super) const DATA_OFFSET: usize = 12;
    pub(super) const FLAGS: usize = 13;
    pub(super) const WINDOW: usize = 14;
    pub(super) const CHECKSUM: usize = 16;
    pub(super) const URGENT: usize = 18;
}

/// The length of a TCP header without options.
pub const HEADER_LEN: usize = 20;

/// A zero-copy view of a TCP segment (header, options, payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wraps a buffer without checking; accessors still never panic.
    pub const fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }

    /// Wraps a buffer after [`TcpPacket::check_len`].
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// At least 20 bytes, data offset ≥ 5 words, header within the buffer.
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buf().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let header_len = self.header_len();
        if header_len < HEADER_LEN {
            return Err(WireError::BadHeaderLength);
        }
        if header_len > len {
            return Err(WireError::DataOffsetPastEnd);
        }
        Ok(())
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn buf(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        u16_at(self.buf(), off::SRC_PORT)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        u16_at(self.buf(), off::DST_PORT)
    }

    /// Sequence number.
    pub fn seq_number(&self) -> SeqNum {
        SeqNum::new(u32_at(self.buf(), off::SEQ))
    }

    /// Acknowledgment number (whatever is on the wire, ACK flag or not).
    pub fn ack_number(&self) -> SeqNum {
        SeqNum::new(u32_at(self.buf(), off::ACK))
    }

    /// The data offset field in 32-bit words.
    pub fn data_offset(&self) -> u8 {
        u8_at(self.buf(), off::DATA_OFFSET) >> 4
    }

    /// The header length in bytes (data offset × 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.data_offset()) * 4
    }

    /// The control bits (byte 13; the reserved bits of byte 12 are ignored).
    pub fn flags(&self) -> TcpFlags {
        TcpFlags::from_bits(u8_at(self.buf(), off::FLAGS))
    }

    /// The (unscaled) window field.
    pub fn window(&self) -> u16 {
        u16_at(self.buf(), off::WINDOW)
    }

    /// The checksum field.
    pub fn checksum(&self) -> u16 {
        u16_at(self.buf(), off::CHECKSUM)
    }

    /// The urgent pointer.
    pub fn urgent(&self) -> u16 {
        u16_at(self.buf(), off::URGENT)
    }

    /// The raw options bytes (20 up to the data offset; empty if out of range).
    pub fn options(&self) -> &[u8] {
        self.buf().get(HEADER_LEN..self.header_len()).unwrap_or(&[])
    }

    /// The payload (after the data offset; empty if out of range).
    pub fn payload(&self) -> &[u8] {
        self.buf().get(self.header_len()..).unwrap_or(&[])
    }

    /// True if the checksum verifies with the pseudo-header for `src` → `dst`
    /// over the whole buffer. False for mixed address families or a segment too
    /// long for the IPv4 pseudo-header.
    pub fn verify_checksum(&self, src: IpAddr, dst: IpAddr) -> bool {
        match pseudo_header(src, dst, self.buf().len()) {
            Ok(pseudo) => {
                checksum::verifies(checksum::combine(&[pseudo, checksum::sum(self.buf())]))
            }
            Err(_) => false,
        }
    }
}

/// The folded pseudo-header sum for a TCP segment of `len` bytes.
fn pseudo_header(src: IpAddr, dst: IpAddr, len: usize) -> Result<u16, WireError> {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let len = u16::try_from(len).map_err(|_| WireError::PacketTooLong)?;
            Ok(checksum::pseudo_header_v4(s, d, PROTOCOL_TCP, len))
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let len = u32::try_from(len).map_err(|_| WireError::PacketTooLong)?;
            Ok(checksum::pseudo_header_v6(&s, &d, PROTOCOL_TCP, len))
        }
        _ => Err(WireError::AddressFamilyMismatch),
    }
}

impl<'a> TcpPacket<&'a [u8]> {
    /// Like [`TcpPacket::payload`], but borrowing from the underlying buffer.
    pub fn payload_slice(&self) -> &'a [u8] {
        self.buffer.get(self.header_len()..).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    fn buf_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Sets the source port.
    pub fn set_src_port(&mut self, port: u16) {
        set_u16(self.buf_mut(), off::SRC_PORT, port);
    }

    /// Sets the destination port.
    pub fn set_dst_port(&mut self, port: u16) {
        set_u16(self.buf_mut(), off::DST_PORT, port);
    }

    /// Sets the sequence number.
    pub fn set_seq_number(&mut self, seq: SeqNum) {
        set_u32(self.buf_mut(), off::SEQ, seq.get());
    }

    /// Sets the acknowledgment number.
    pub fn set_ack_number(&mut self, ack: SeqNum) {
        set_u32(self.buf_mut(), off::ACK, ack.get());
    }

    /// Sets the header length in bytes (rounded down to a multiple of 4; the
    /// reserved bits are cleared).
    pub fn set_header_len(&mut self, len: usize) {
        let words = u8::try_from(len / 4).unwrap_or(0x0f).min(0x0f);
        set_u8(self.buf_mut(), off::DATA_OFFSET, words << 4);
    }

    /// Sets the control bits.
    pub fn set_flags(&mut self, flags: TcpFlags) {
        set_u8(self.buf_mut(), off::FLAGS, flags.bits());
    }

    /// Sets the window field.
    pub fn set_window(&mut self, window: u16) {
        set_u16(self.buf_mut(), off::WINDOW, window);
    }

    /// Sets the checksum field directly.
    pub fn set_checksum(&mut self, value: u16) {
        set_u16(self.buf_mut(), off::CHECKSUM, value);
    }

    /// Sets the urgent pointer.
    pub fn set_urgent(&mut self, urgent: u16) {
        set_u16(self.buf_mut(), off::URGENT, urgent);
    }

    /// The mutable options area (20 up to the data offset).
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        self.buf_mut().get_mut(HEADER_LEN..end).unwrap_or(&mut [])
    }

    /// The mutable payload (after the data offset).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        self.buf_mut().get_mut(start..).unwrap_or(&mut [])
    }

    /// Computes and stores the checksum over the whole buffer with the
    /// pseudo-header for `src` → `dst`. Writes 0 for mixed address families.
    pub fn fill_checksum(&mut self, src: IpAddr, dst: IpAddr) {
        self.set_checksum(0);
        let value = match pseudo_header(src, dst, self.buf().len()) {
            Ok(pseudo) => checksum::finish(checksum::combine(&[pseudo, checksum::sum(self.buf())])),
            Err(_) => 0,
        };
        self.set_checksum(value);
    }
}

impl<'a> TcpRepr<'a> {
    /// Parses a checked segment. With [`Checksum::Verify`] the checksum is
    /// verified against the pseudo-header of `src` → `dst` (the whole packet
    /// buffer is the segment, so pass exactly the IP payload).
    /// The ack field is kept even when ACK is not set.
    pub fn parse(
        packet: &TcpPacket<&'a [u8]>,
        src: IpAddr,
        dst: IpAddr,
        checksum: Checksum,
    ) -> Result<TcpRepr<'a>, WireError> {
        packet.check_len()?;
        if checksum.verify() {
            if src.is_ipv4() != dst.is_ipv4() {
                return Err(WireError::AddressFamilyMismatch);
            }
            if !packet.verify_checksum(src, dst) {
                return Err(WireError::BadChecksum);
            }
        }
        Ok(TcpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq: packet.seq_number(),
            ack: packet.ack_number(),
            flags: packet.flags(),
            window: packet.window(),
            urgent: packet.urgent(),
            options: TcpOptions::parse(packet.options())?,
            payload: packet.payload_slice(),
        })
    }
}

impl<'a> TcpRepr<'a> {
    /// Parses a checked segment without verifying its checksum, and returns the folded sum
    /// of the pseudo-header for `src` → `dst` and the TCP header (options included, checksum
    /// field as received): everything the checksum covers but the payload (see
    /// [`super::parse_tcp_deferred`]).
    pub fn parse_deferred(
        packet: &TcpPacket<&'a [u8]>,
        src: IpAddr,
        dst: IpAddr,
    ) -> Result<(TcpRepr<'a>, u16), WireError> {
        let pseudo = pseudo_header(src, dst, packet.buf().len())?;
        let repr = TcpRepr::parse(packet, src, dst, Checksum::Ignore)?;
        let header = packet.buf().get(..packet.header_len()).unwrap_or_default();
        Ok((repr, checksum::combine(&[pseudo, checksum::sum(header)])))
    }
}

impl TcpRepr<'_> {
    /// The emitted header length: 20 plus the options (a multiple of 4, ≤ 60).
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options.emitted_len()
    }

    /// Header plus payload: what [`TcpRepr::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Writes header, options, payload and checksum into `packet`, whose buffer
    /// must be exactly [`TcpRepr::buffer_len`] bytes (the checksum covers the whole
    /// buffer). A shorter buffer gets a truncated, invalid segment but never a panic;
    /// use [`super::emit_ip_tcp`] for a checked emit.
    ///
    /// The ack field is written as 0 when `flags` lacks ACK. SACK blocks that do
    /// not fit in 40 option bytes are dropped ([`TcpOptions::fitted`]).
    pub fn emit(&self, packet: &mut TcpPacket<&mut [u8]>, src: IpAddr, dst: IpAddr) {
        let header_len = self.header_len();
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_seq_number(self.seq);
        packet.set_ack_number(if self.flags.ack() {
            self.ack
        } else {
            SeqNum::new(0)
        });
        packet.set_header_len(header_len);
        packet.set_flags(self.flags);
        packet.set_window(self.window);
        packet.set_urgent(self.urgent);
        // Cannot fail: options_mut() spans exactly emitted_len() bytes when the
        // buffer is large enough; otherwise the segment is truncated anyway.
        let _ = self.options.emit(packet.options_mut());
        if packet.buf().len() != header_len + self.payload.len() {
            // Not the documented buffer: whatever fits, and a checksum over what is there.
            set_bytes(packet.payload_mut(), 0, self.payload);
            packet.fill_checksum(src, dst);
            return;
        }
        // The payload is summed while it is copied (one pass over it, not two); the header
        // is a multiple of 4 bytes, so the payload's sum adds to the header's as it is.
        packet.set_checksum(0);
        let payload_sum = checksum::copy_and_sum(packet.payload_mut(), self.payload);
        let header_sum = checksum::sum(packet.buf().get(..header_len).unwrap_or_default());
        let value = match pseudo_header(src, dst, packet.buf().len()) {
            Ok(pseudo) => checksum::finish(checksum::combine(&[pseudo, header_sum, payload_sum])),
            Err(_) => 0,
        };
        packet.set_checksum(value);
    }
}
