//! Wire formats: IPv4, IPv6, TCP and its options, Internet checksums.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

pub mod tcp;
