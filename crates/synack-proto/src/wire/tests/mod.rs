//! Tests for the wire module as a whole: round trips, the etherparse oracle,
//! malformed input and fuzzing. Per-file unit tests live next to their code.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod fragment;
mod fuzz;
mod icmp;
mod icmp_error;
mod malformed;
mod roundtrip;
mod support;
mod udp;

/// The payload copy in pieces copies exactly what one `copy_from_slice` would, at and around
/// the piece size and for unequal lengths (the shorter one wins, nothing panics).
#[test]
fn payload_copy_in_pieces_equals_one_copy() {
    let src: alloc::vec::Vec<u8> = (0..70_000u32).map(|i| (i * 31 + i / 2047) as u8).collect();
    for len in [0, 1, 2047, 2048, 2049, 4096, 4097, 65_483, 70_000] {
        let mut dst = alloc::vec![0u8; len];
        crate::wire::field::copy_bytes(&mut dst, &src[..len]);
        assert_eq!(dst, src[..len], "{len} bytes");
    }
    let mut short = [0u8; 3000];
    crate::wire::field::copy_bytes(&mut short, &src);
    assert_eq!(short[..], src[..3000]);
    let mut long = alloc::vec![7u8; 5000];
    crate::wire::field::copy_bytes(&mut long, &src[..4500]);
    assert_eq!(long[..4500], src[..4500]);
    assert!(long[4500..].iter().all(|&b| b == 7));
}
