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
