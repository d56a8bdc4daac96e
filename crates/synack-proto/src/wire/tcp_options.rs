//! TCP options (RFC 9293 §3.2): parsing into and emitting from [`TcpOptions`].
//!
//! # Parsing
//!
//! * EOL (kind 0) ends the list; NOP (1) is skipped.
//! * MSS (2, len 4), window scale (3, len 3), SACK-permitted (4, len 2),
//!   SACK (5, len 2 + 8n with n in 1..=4) and timestamps (8, len 10) are decoded.
//!   A later duplicate overrides an earlier one.
//! * Other kinds are skipped by their length byte.
//! * A length byte of 0 or 1, an option running past the end of the header,
//!   or a known kind with the wrong length is [`WireError::BadOptionLength`].
//!   *Choice:* Linux silently ignores a known option with a bad length; we reject
//!   the segment instead, because a sender that gets the length of MSS wrong
//!   cannot be trusted to have framed the rest of the header right, and a typed
//!   error is easier to count and debug than silently dropped state.
//! * Window scale: RFC 7323 §2.3 — "If a Window Scale option is received with a
//!   shift.cnt value larger than 14, the TCP SHOULD log the error but MUST use 14
//!   instead of the specified value." Parse clamps to [`MAX_WINDOW_SCALE`].
//!
//! # Emitting
//!
//! Linux's layout: MSS; SACK-permitted + timestamps (or NOP NOP + either);
//! NOP + window scale; NOP NOP + SACK blocks. Every piece is a multiple of 4
//! bytes, so no trailing padding is needed. If the result would exceed 40 bytes,
//! SACK blocks are dropped from the end until it fits ([`TcpOptions::fitted`]).

use super::WireError;
use super::field::{array_at, set_bytes};
use super::tcp::{SackBlocks, TcpOptions, Timestamps};
use crate::wire::seq::SeqNum;

/// The most option bytes a TCP header can carry (60 − 20).
pub const MAX_OPTIONS_LEN: usize = 40;
/// The largest window scale shift honoured (RFC 7323 §2.3).
pub const MAX_WINDOW_SCALE: u8 = 14;

/// Option kinds.
pub mod kind {
    /// End of option list.
    pub const EOL: u8 = 0;
    /// No operation.
    pub const NOP: u8 = 1;
    /// Maximum segment size.
    pub const MSS: u8 = 2;
    /// Window scale.
    pub const WINDOW_SCALE: u8 = 3;
    /// SACK permitted.
    pub const SACK_PERMITTED: u8 = 4;
    /// SACK blocks.
    pub const SACK: u8 = 5;
    /// Timestamps.
    pub const TIMESTAMPS: u8 = 8;
}

const NOP: u8 = kind::NOP;

impl TcpOptions {
    /// Parses the options area of a TCP header (the bytes between 20 and the data offset).
    pub fn parse(mut bytes: &[u8]) -> Result<TcpOptions, WireError> {
        // Nearly every segment of a connection with timestamps carries exactly NOP NOP TS,
        // the layout we and Linux emit: recognised whole before the general walk (as Linux's
        // tcp_parse_aligned_timestamp), with the same result the walk would give.
        if let [
            kind::NOP,
            kind::NOP,
            kind::TIMESTAMPS,
            10,
            v0,
            v1,
            v2,
            v3,
            e0,
            e1,
            e2,
            e3,
        ] = *bytes
        {
            return Ok(TcpOptions {
                timestamps: Some(Timestamps {
                    tsval: u32::from_be_bytes([v0, v1, v2, v3]),
                    tsecr: u32::from_be_bytes([e0, e1, e2, e3]),
                }),
                ..TcpOptions::default()
            });
        }
        let mut opts = TcpOptions::default();
        loop {
            let (kind, len) = match bytes {
                [] | [kind::EOL, ..] => return Ok(opts),
                [kind::NOP, rest @ ..] => {
                    bytes = rest;
                    continue;
                }
                [_] => return Err(WireError::BadOptionLength),
                [kind, len, ..] => (*kind, usize::from(*len)),
            };
            if len < 2 {
                return Err(WireError::BadOptionLength);
            }
            let (option, rest) = bytes
                .split_at_checked(len)
                .ok_or(WireError::BadOptionLength)?;
            let data = option.get(2..).unwrap_or(&[]);
            match (kind, data.len()) {
                (kind::MSS, 2) => opts.mss = Some(u16::from_be_bytes(array_at(data, 0))),
                (kind::WINDOW_SCALE, 1) => {
                    opts.window_scale = data.first().map(|&s| s.min(MAX_WINDOW_SCALE));
                }
                (kind::SACK_PERMITTED, 0) => opts.sack_permitted = true,
                (kind::SACK, n) if n % 8 == 0 && (8..=32).contains(&n) => {
                    let mut blocks = SackBlocks::default();
                    for block in data.as_chunks::<8>().0 {
                        let left = u32::from_be_bytes(array_at(block, 0));
                        let right = u32::from_be_bytes(array_at(block, 4));
                        blocks.push(SeqNum::new(left), SeqNum::new(right));
                    }
                    opts.sack_blocks = blocks;
                }
                (kind::TIMESTAMPS, 8) => {
                    opts.timestamps = Some(Timestamps {
                        tsval: u32::from_be_bytes(array_at(data, 0)),
                        tsecr: u32::from_be_bytes(array_at(data, 4)),
                    });
                }
                (
                    kind::MSS
                    | kind::WINDOW_SCALE
                    | kind::SACK_PERMITTED
                    | kind::SACK
                    | kind::TIMESTAMPS,
                    _,
                ) => {
                    return Err(WireError::BadOptionLength);
                }
                _ => {} // unknown kind: skipped by its length
            }
            bytes = rest;
        }
    }

    /// Bytes taken by everything except SACK blocks, in the emitted layout.
    fn base_len(&self) -> usize {
        let mss = if self.mss.is_some() { 4 } else { 0 };
        let ts_sackperm = match (self.timestamps.is_some(), self.sack_permitted) {
            (true, _) => 12,
            (false, true) => 4,
            (false, false) => 0,
        };
        let ws = if self.window_scale.is_some() { 4 } else { 0 };
        mss + ts_sackperm + ws
    }

    /// How many SACK blocks fit in 40 bytes next to the other options.
    fn sack_blocks_that_fit(&self) -> usize {
        let room = MAX_OPTIONS_LEN.saturating_sub(self.base_len());
        // NOP NOP kind len + 8 per block.
        let fit = room.saturating_sub(4) / 8;
        self.sack_blocks.len().min(fit)
    }

    /// The options as they will actually be emitted: SACK blocks beyond what
    /// fits in 40 bytes are dropped from the end.
    pub fn fitted(&self) -> TcpOptions {
        let keep = self.sack_blocks_that_fit();
        let mut blocks = SackBlocks::default();
        for &(l, r) in self.sack_blocks.as_slice().iter().take(keep) {
            blocks.push(l, r);
        }
        TcpOptions {
            sack_blocks: blocks,
            ..*self
        }
    }

    /// The number of bytes [`TcpOptions::emit`] writes: a multiple of 4, at most 40.
    pub fn emitted_len(&self) -> usize {
        let n = self.sack_blocks_that_fit();
        self.base_len() + if n > 0 { 4 + 8 * n } else { 0 }
    }

    /// Writes the options (see the module doc for the layout) into `buf` and
    /// returns the length written. Returns [`WireError::BufferTooSmall`] (and
    /// writes nothing) if `buf` is shorter than [`TcpOptions::emitted_len`].
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let total = self.emitted_len();
        let out = buf.get_mut(..total).ok_or(WireError::BufferTooSmall)?;
        let mut w = Writer { buf: out, pos: 0 };
        if let Some(mss) = self.mss {
            let [hi, lo] = mss.to_be_bytes();
            w.put(&[kind::MSS, 4, hi, lo]);
        }
        match (self.timestamps, self.sack_permitted) {
            (Some(ts), sack_perm) => {
                if sack_perm {
                    w.put(&[kind::SACK_PERMITTED, 2]);
                } else {
                    w.put(&[NOP, NOP]);
                }
                w.put(&[kind::TIMESTAMPS, 10]);
                w.put(&ts.tsval.to_be_bytes());
                w.put(&ts.tsecr.to_be_bytes());
            }
            (None, true) => w.put(&[NOP, NOP, kind::SACK_PERMITTED, 2]),
            (None, false) => {}
        }
        if let Some(shift) = self.window_scale {
            w.put(&[NOP, kind::WINDOW_SCALE, 3, shift]);
        }
        let n = self.sack_blocks_that_fit();
        if n > 0 {
            // n <= 4, so the length byte is at most 34.
            let len = u8::try_from(2 + 8 * n).unwrap_or(u8::MAX);
            w.put(&[NOP, NOP, kind::SACK, len]);
            for &(left, right) in self.sack_blocks.as_slice().iter().take(n) {
                w.put(&left.get().to_be_bytes());
                w.put(&right.get().to_be_bytes());
            }
        }
        Ok(total)
    }
}

/// A cursor writing into a slice already known to be large enough.
struct Writer<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        set_bytes(self.buf, self.pos, bytes);
        self.pos += bytes.len();
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn aligned_timestamps_parse_like_any_other_layout() {
        let ts = [8, 10, 0, 0, 0, 7, 0x80, 0, 0, 9];
        let aligned: Vec<u8> = [1, 1].iter().chain(&ts).copied().collect();
        let trailing: Vec<u8> = ts.iter().chain(&[1, 1]).copied().collect();
        let fast = TcpOptions::parse(&aligned).unwrap();
        assert_eq!(fast, TcpOptions::parse(&trailing).unwrap());
        assert_eq!(
            fast.timestamps,
            Some(Timestamps {
                tsval: 7,
                tsecr: 0x8000_0009
            })
        );
    }

    fn sack(blocks: &[(u32, u32)]) -> SackBlocks {
        let mut s = SackBlocks::default();
        for &(l, r) in blocks {
            assert!(s.push(SeqNum::new(l), SeqNum::new(r)));
        }
        s
    }

    #[test]
    fn linux_syn_layout_is_mss_sackperm_ts_nop_ws() {
        let opts = TcpOptions {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            sack_blocks: SackBlocks::default(),
            timestamps: Some(Timestamps {
                tsval: 0x01020304,
                tsecr: 0,
            }),
        };
        let mut buf = [0u8; 40];
        let n = opts.emit(&mut buf).unwrap();
        assert_eq!(
            &buf[..n],
            &[
                2, 4, 0x05, 0xb4, 4, 2, 8, 10, 1, 2, 3, 4, 0, 0, 0, 0, 1, 3, 3, 7
            ]
        );
        assert_eq!(TcpOptions::parse(&buf[..n]).unwrap(), opts);
    }

    #[test]
    fn sack_blocks_beyond_40_bytes_are_dropped_from_the_end() {
        let four = sack(&[(1, 2), (3, 4), (5, 6), (7, 8)]);
        let with_ts = TcpOptions {
            timestamps: Some(Timestamps { tsval: 1, tsecr: 2 }),
            sack_blocks: four,
            ..TcpOptions::default()
        };
        // 12 (NOP NOP TS) + 4 + 3 × 8 = 40.
        assert_eq!(with_ts.emitted_len(), 40);
        assert_eq!(
            with_ts.fitted().sack_blocks,
            sack(&[(1, 2), (3, 4), (5, 6)])
        );
        let mut buf = [0u8; 40];
        let n = with_ts.emit(&mut buf).unwrap();
        assert_eq!(TcpOptions::parse(&buf[..n]).unwrap(), with_ts.fitted());

        let only_sack = TcpOptions {
            sack_blocks: four,
            ..TcpOptions::default()
        };
        assert_eq!(only_sack.emitted_len(), 36);
        assert_eq!(only_sack.fitted(), only_sack);

        let everything = TcpOptions {
            mss: Some(1),
            window_scale: Some(1),
            sack_permitted: true,
            ..with_ts
        };
        // 4 (MSS) + 12 (SACK-perm, TS) + 4 (NOP WS) + 4 + 2 × 8 = 40.
        assert_eq!(everything.fitted().sack_blocks, sack(&[(1, 2), (3, 4)]));
        assert_eq!(everything.emitted_len(), 40);
    }

    #[test]
    fn rfc7323_2_3_window_scale_above_14_is_clamped_to_14() {
        let opts = TcpOptions::parse(&[3, 3, 15, 0]).unwrap();
        assert_eq!(opts.window_scale, Some(14));
        assert_eq!(
            TcpOptions::parse(&[3, 3, 255]).unwrap().window_scale,
            Some(14)
        );
        assert_eq!(
            TcpOptions::parse(&[3, 3, 14]).unwrap().window_scale,
            Some(14)
        );
    }

    #[test]
    fn eol_stops_parsing_even_before_garbage() {
        let opts = TcpOptions::parse(&[2, 4, 0, 100, 0, 0xff, 0xff, 0xff]).unwrap();
        assert_eq!(opts.mss, Some(100));
    }

    #[test]
    fn unknown_kinds_are_skipped_by_length() {
        let opts = TcpOptions::parse(&[30, 4, 9, 9, 1, 1, 4, 2]).unwrap();
        assert!(opts.sack_permitted);
    }

    #[test]
    fn option_length_0_1_or_past_end_is_bad_option_length() {
        for bytes in [
            &[30u8, 0][..],
            &[30, 1],
            &[2, 1],
            &[30, 5, 0, 0],
            &[2],
            &[2, 4, 1],
        ] {
            assert_eq!(
                TcpOptions::parse(bytes),
                Err(WireError::BadOptionLength),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn known_kind_with_wrong_length_is_bad_option_length() {
        for bytes in [
            &[2u8, 3, 0][..],
            &[3, 4, 0, 0],
            &[4, 3, 0],
            &[5, 2],
            &[5, 9, 0, 0, 0, 0, 0, 0, 0],
            &[5, 42, 0],
            &[8, 8, 0, 0, 0, 0, 0, 0],
        ] {
            assert_eq!(
                TcpOptions::parse(bytes),
                Err(WireError::BadOptionLength),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn emit_into_short_buffer_is_buffer_too_small() {
        let opts = TcpOptions {
            mss: Some(1),
            ..TcpOptions::default()
        };
        assert_eq!(opts.emit(&mut [0u8; 3]), Err(WireError::BufferTooSmall));
    }
}
