//! `connection_segments`: one `tcp::Connection` fed crafted segments, user calls and
//! timeouts; invariants checked after every step. See `synack_fuzz::conn`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| synack_fuzz::conn::run(data));
