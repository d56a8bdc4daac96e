//! Unit tests of the trace inference: sequence-space coverage ([`super::seen`]) and the
//! ladder built from hand-written segments ([`super::infer`]), one file per topic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod infer;
mod seen;
