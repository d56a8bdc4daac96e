//! The IPv6 Fragment extension header (RFC 8200 §4.5): a zero-copy [`Ipv6FragmentHeader`]
//! view and an owned [`Ipv6FragmentRepr`].
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Next Header  |   Reserved    |      Fragment Offset    |Res|M|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         Identification                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The offset counts 8-octet units (13 bits), M says more fragments follow. The reserved
//! field and the two `Res` bits are "initialized to zero for transmission; ignored on
//! reception": [`Ipv6FragmentRepr::parse`] ignores them and `emit` writes zeros. Where the
//! header sits in a packet is found with
//! [`Ipv6Packet::fragment_header`](super::Ipv6Packet::fragment_header).
#![deny(missing_docs)]

use super::WireError;
use super::field::{set_u8, set_u16, set_u32, u8_at, u16_at, u32_at};

/// Field offsets.
mod off {
    pub(super) const NEXT_HEADER: usize = 0;
    pub(super) const RESERVED: usize = 1;
    pub(super) const OFFSET_M: usize = 2;
    pub(super) const IDENT: usize = 4;
}

/// The length of the Fragment header: always 8 bytes.
pub const HEADER_LEN: usize = 8;
/// The largest fragment offset in 8-octet units (13 bits).
pub const MAX_OFFSET_UNITS: u16 = 0x1fff;

const FLAG_M: u16 = 0x0001;
const RES_MASK: u16 = 0x0006;

/// A zero-copy view of an IPv6 Fragment header (the 8 bytes at its start; anything after
/// them is not part of the view's fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6FragmentHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6FragmentHeader<T> {
    /// Wraps a buffer without checking anything; accessors still never panic, but return 0
    /// for fields beyond the buffer.
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv6FragmentHeader { buffer }
    }

    /// Wraps a buffer after [`Ipv6FragmentHeader::check_len`].
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let header = Self::new_unchecked(buffer);
        header.check_len()?;
        Ok(header)
    }

    /// The buffer holds the 8 bytes of the header.
    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buf().len() < HEADER_LEN {
            return Err(WireError::Truncated);
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

    /// The type of the header after this one: the first header of the fragmentable part.
    pub fn next_header(&self) -> u8 {
        u8_at(self.buf(), off::NEXT_HEADER)
    }

    /// The 8-bit reserved field (ignored on reception).
    pub fn reserved(&self) -> u8 {
        u8_at(self.buf(), off::RESERVED)
    }

    /// The fragment offset field in 8-octet units, as on the wire (13 bits).
    pub fn offset_units(&self) -> u16 {
        u16_at(self.buf(), off::OFFSET_M) >> 3
    }

    /// The fragment offset in bytes (field × 8), as
    /// [`Ipv4Packet::frag_offset`](super::Ipv4Packet::frag_offset) gives it.
    pub fn frag_offset(&self) -> u16 {
        self.offset_units() << 3
    }

    /// The two `Res` bits (ignored on reception).
    pub fn res(&self) -> u8 {
        ((u16_at(self.buf(), off::OFFSET_M) & RES_MASK) >> 1) as u8
    }

    /// M: more fragments follow this one.
    pub fn more_frags(&self) -> bool {
        u16_at(self.buf(), off::OFFSET_M) & FLAG_M != 0
    }

    /// The 32-bit identification shared by every fragment of one packet.
    pub fn ident(&self) -> u32 {
        u32_at(self.buf(), off::IDENT)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6FragmentHeader<T> {
    fn buf_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Sets the Next Header.
    pub fn set_next_header(&mut self, next_header: u8) {
        set_u8(self.buf_mut(), off::NEXT_HEADER, next_header);
    }

    /// Sets the reserved field.
    pub fn set_reserved(&mut self, reserved: u8) {
        set_u8(self.buf_mut(), off::RESERVED, reserved);
    }

    /// Sets the offset (in 8-octet units; bits above the 13th are dropped) and the M flag;
    /// the `Res` bits become zero.
    pub fn set_offset_more(&mut self, offset_units: u16, more_frags: bool) {
        let v = ((offset_units & MAX_OFFSET_UNITS) << 3) | u16::from(more_frags);
        set_u16(self.buf_mut(), off::OFFSET_M, v);
    }

    /// Sets the identification.
    pub fn set_ident(&mut self, ident: u32) {
        set_u32(self.buf_mut(), off::IDENT, ident);
    }
}

/// The meaning of a Fragment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6FragmentRepr {
    /// The type of the first header of the fragmentable part.
    pub next_header: u8,
    /// Where this fragment's data goes in the fragmentable part, in 8-octet units
    /// (at most [`MAX_OFFSET_UNITS`]).
    pub offset_units: u16,
    /// M: more fragments follow.
    pub more_frags: bool,
    /// The identification shared by every fragment of one packet.
    pub ident: u32,
}

impl Ipv6FragmentRepr {
    /// Parses a header; only its length can be wrong (the reserved bits are ignored).
    pub fn parse<T: AsRef<[u8]>>(header: &Ipv6FragmentHeader<T>) -> Result<Self, WireError> {
        header.check_len()?;
        Ok(Ipv6FragmentRepr {
            next_header: header.next_header(),
            offset_units: header.offset_units(),
            more_frags: header.more_frags(),
            ident: header.ident(),
        })
    }

    /// The offset in bytes (units × 8).
    pub const fn offset_bytes(&self) -> usize {
        self.offset_units as usize * 8
    }

    /// An atomic fragment (offset 0, M clear): a whole packet that carries a Fragment
    /// header, processed in isolation from any other fragment (RFC 6946 §4).
    pub const fn is_atomic(&self) -> bool {
        self.offset_units == 0 && !self.more_frags
    }

    /// The emitted length: always [`HEADER_LEN`].
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the 8 bytes (reserved fields zero). Fails with [`WireError::BufferTooSmall`]
    /// on a buffer shorter than 8 bytes, and with [`WireError::PacketTooLong`] on an offset
    /// beyond 13 bits.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        header: &mut Ipv6FragmentHeader<T>,
    ) -> Result<(), WireError> {
        if header.buf().len() < HEADER_LEN {
            return Err(WireError::BufferTooSmall);
        }
        if self.offset_units > MAX_OFFSET_UNITS {
            return Err(WireError::PacketTooLong);
        }
        header.set_next_header(self.next_header);
        header.set_reserved(0);
        header.set_offset_more(self.offset_units, self.more_frags);
        header.set_ident(self.ident);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing, clippy::unwrap_used)]
    use super::*;

    #[test]
    fn rfc8200_4_5_fields_sit_where_the_figure_puts_them() {
        let bytes = [17, 0xaa, 0x05, 0x3f, 0xde, 0xad, 0xbe, 0xef];
        let h = Ipv6FragmentHeader::new_checked(&bytes[..]).unwrap();
        assert_eq!(h.next_header(), 17);
        assert_eq!(h.reserved(), 0xaa);
        assert_eq!(h.offset_units(), 0xa7, "0x053f >> 3");
        assert_eq!(h.frag_offset(), 0xa7 * 8);
        assert_eq!(h.res(), 0b11);
        assert!(h.more_frags());
        assert_eq!(h.ident(), 0xdead_beef);
        assert_eq!(
            Ipv6FragmentRepr::parse(&h).unwrap(),
            Ipv6FragmentRepr {
                next_header: 17,
                offset_units: 0xa7,
                more_frags: true,
                ident: 0xdead_beef,
            },
            "reserved bits are ignored on reception"
        );
    }

    #[test]
    fn emit_writes_zero_reserved_bits_and_parses_back() {
        let repr = Ipv6FragmentRepr {
            next_header: 6,
            offset_units: MAX_OFFSET_UNITS,
            more_frags: false,
            ident: 7,
        };
        let mut buf = [0xffu8; 8];
        repr.emit(&mut Ipv6FragmentHeader::new_unchecked(&mut buf[..]))
            .unwrap();
        assert_eq!(buf, [6, 0, 0xff, 0xf8, 0, 0, 0, 7]);
        let back = Ipv6FragmentRepr::parse(&Ipv6FragmentHeader::new_checked(&buf[..]).unwrap());
        assert_eq!(back, Ok(repr));
        assert_eq!(repr.offset_bytes(), 65528);
    }

    #[test]
    fn short_buffers_are_typed_errors_and_accessors_read_zero() {
        let short = [44u8, 0, 0];
        assert_eq!(
            Ipv6FragmentHeader::new_checked(&short[..]),
            Err(WireError::Truncated)
        );
        let h = Ipv6FragmentHeader::new_unchecked(&short[..]);
        assert_eq!((h.offset_units(), h.more_frags(), h.ident()), (0, false, 0));
        let repr = Ipv6FragmentRepr {
            next_header: 6,
            offset_units: 1,
            more_frags: true,
            ident: 1,
        };
        let mut small = [0u8; 7];
        assert_eq!(
            repr.emit(&mut Ipv6FragmentHeader::new_unchecked(&mut small[..])),
            Err(WireError::BufferTooSmall)
        );
        let too_far = Ipv6FragmentRepr {
            offset_units: MAX_OFFSET_UNITS + 1,
            ..repr
        };
        let mut buf = [0u8; 8];
        assert_eq!(
            too_far.emit(&mut Ipv6FragmentHeader::new_unchecked(&mut buf[..])),
            Err(WireError::PacketTooLong)
        );
    }

    #[test]
    fn rfc6946_offset_zero_without_m_is_an_atomic_fragment() {
        let atomic = Ipv6FragmentRepr {
            next_header: 6,
            offset_units: 0,
            more_frags: false,
            ident: 9,
        };
        assert!(atomic.is_atomic());
        assert!(
            !Ipv6FragmentRepr {
                more_frags: true,
                ..atomic
            }
            .is_atomic()
        );
        assert!(
            !Ipv6FragmentRepr {
                offset_units: 1,
                ..atomic
            }
            .is_atomic()
        );
    }
}
