//! `frag_reassembly`: a `Reassembler` with small bounds fed crafted, corrupted and raw
//! fragments at arbitrary times; bounds, counters and the datagrams out checked after every
//! step. See `synack_fuzz::frag`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| synack_fuzz::frag::run(data));
