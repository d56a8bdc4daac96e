//! Tests for fragmentation and reassembly, one file per topic, named after the clause they
//! prove. Fragments are built by hand here ([`support`]), not by [`super::fragment_ipv4`],
//! so the reassembler and the fragmenter check each other; etherparse checks both
//! (`oracle`).
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

mod bounds;
mod fragmenter;
mod malformed;
mod oracle;
mod overlap;
mod properties;
mod reassembly;
mod support;
mod timeout;
