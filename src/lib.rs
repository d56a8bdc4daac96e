//! synack: a userspace TCP/IP stack with a sans-IO core.
//!
//! The core ([`tcp`] and [`stack`]) never reads a clock and never touches a
//! socket or a device: packets and the current [`time::Instant`] go in, and
//! packets, timer deadlines and events come out. Drivers such as the seeded
//! simulator in [`sim`] sit around it.

pub mod blocking;
pub mod demo;
pub mod net;
pub mod runtime;
pub mod sim;
pub mod stack;
pub mod tcp;
pub mod time;
pub mod tokio_net;
pub mod trace;
pub mod wire;

#[cfg(test)]
mod tests;
