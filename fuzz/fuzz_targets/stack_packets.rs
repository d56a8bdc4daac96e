//! `stack_packets`: a whole `Stack` fed a sequence of packets (raw or crafted at its
//! connections), application calls and time steps; invariants checked after every step.
//! See `synack_fuzz::stack`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| synack_fuzz::stack::run(data));
