//! Fuzz harnesses for synack, shared by the libFuzzer targets in `fuzz_targets/` and the
//! seed-corpus generator (`examples/gen_corpus.rs`).
//!
//! * [`ops`]: the input language (an `arbitrary`-derived [`ops::Op`] sequence) and an
//!   encoder that writes inputs for given operations;
//! * [`stack`]: the `stack_packets` harness;
//! * [`conn`]: the `connection_segments` harness;
//! * [`frag`]: the `frag_reassembly` harness.

pub mod conn;
pub mod frag;
pub mod ops;
pub mod stack;
