//! Unit tests of the trace inference: sequence-space coverage ([`super::seen`]), the
//! ladder built from hand-written segments ([`super::infer`]) and the rows drawn from it
//! ([`super::diagram`]), one file per topic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod diagram;
mod infer;
mod seen;
mod tap;
mod tsg;
