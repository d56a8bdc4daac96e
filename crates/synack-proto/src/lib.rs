//! synack's sans-IO core: wire formats ([`wire`]), IP fragmentation and reassembly
//! ([`frag`]), the TCP state machine ([`tcp`]), the stack that demultiplexes packets to
//! connections and listeners ([`stack`]), virtual time ([`time`]) and the seeded network
//! simulator ([`sim`]).
//!
//! Nothing here reads a clock or touches a socket or a device: packets and the current
//! [`time::Instant`] go in; packets, timer deadlines and events come out. The `synack` crate
//! drives this core from TUN devices and offers socket APIs on top; this crate is for
//! programs that bring their own I/O.
//!
//! # Features
//!
//! `std` (on by default): the simulator ([`sim`]) with its pcap writer, and conversions of
//! the error types into `std::io::Error`. Without it the crate is `no_std` + `alloc`, for
//! embedded programs with an allocator; CI builds it that way so nothing in the core can
//! reach the standard library unnoticed.
#![cfg_attr(not(feature = "std"), no_std)]
// No `unsafe` anywhere but one audited module: the AVX2 checksum loops, the sum and the copy
// with its sum (`wire::checksum`'s `avx2`, which calls functions compiled for AVX2 after
// asking the CPU). `deny` rather than `forbid` so that module alone can allow it.
#![deny(unsafe_code)]

extern crate alloc;

pub mod frag;
pub mod stack;
pub mod tcp;
pub mod time;
pub mod udp;
pub mod wire;

#[cfg(feature = "std")]
pub mod pcap;
#[cfg(feature = "std")]
pub mod sim;

#[cfg(test)]
mod tests;
