//! The TCP connection state machine (RFC 9293) and its parts. The parts that only the
//! connection and the stack use (`.rs` files in the table) are private to this crate.
//!
//! | RFC 9293 section | file |
//! |---|---|
//! | §3.3.1 sequence variables, §3.3.2 states | [`connection`] (`Tcb`), [`state`] |
//! | §3.4 sequence numbers, §3.4.1 ISN (RFC 6528) | [`seq`], `isn.rs` |
//! | §3.8.1 retransmission timeout (RFC 6298) | `rtt.rs`, `timer.rs` |
//! | buffer autotuning (Linux's dynamic right-sizing and `tcp_sndbuf_expand`) | `autotune.rs` |
//! | §3.8.6 window management, Nagle | [`output`](connection::Connection::poll_transmit) |
//! | §3.10.1–6 user calls | [`connection`] |
//! | §3.10.7 SEGMENT ARRIVES | `input` ([`Connection::handle_segment`]) |
//! | §3.10.7.1 resets for no connection | `reset.rs` |
//! | RFC 5681 / RFC 9438 congestion control, RFC 9406 HyStart++, RFC 6937 PRR | [`cc`] |
//! | RFC 5681 §3.2 / RFC 6582 fast retransmit and recovery | `recovery.rs` |
//! | RFC 2018 §4 / RFC 2883 SACK blocks we send | `sack_report.rs` |
//! | state used now and then, boxed only while in use (SACK report, pending RST, …) | `rare.rs` |
//! | RFC 6675 SACK scoreboard | `sack.rs` |
//! | RFC 8985 RACK-TLP, the transmission log | `rack.rs` |
//! | RFC 6675 SACK-based recovery driven by RACK-TLP | `loss.rs` |
//! | the connection's calls into [`cc`], `recovery.rs` and `loss.rs` | `congestion` |
//! | RFC 1191 / RFC 8201 packet too big, RFC 4821 §7.7 black holes | [`icmp`] |
//! | RFC 4821 packetization-layer PMTUD: the segment size searched back up | `plpmtud.rs` |
//! | the liveness invariant (no connection waits with nothing armed) | [`liveness`] |
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

pub(crate) mod autotune;
pub mod cc;
pub mod config;
mod congestion;
pub mod connection;
pub(crate) mod endpoints;
pub mod error;
pub mod icmp;
mod input;
pub(crate) mod isn;
pub mod liveness;
pub(crate) mod loss;
pub mod outcome;
mod output;
mod plpmtud;
pub(crate) mod rack;
mod rare;
pub(crate) mod recovery;
pub(crate) mod recv_buf;
pub(crate) mod reset;
pub(crate) mod rtt;
pub(crate) mod sack;
pub(crate) mod sack_report;
pub(crate) mod send_buf;
/// Sequence numbers live beside the wire formats that carry them; re-exported here, where
/// the state machine names them.
pub use crate::wire::seq;
pub mod state;
pub mod stats;
pub(crate) mod syn_cookie;
#[cfg(test)]
mod tests;
pub(crate) mod timer;

pub use config::{Config, Keepalive};
pub use connection::{Connection, RECLAIM_IDLE, Tcb};
pub use error::Error;
pub use icmp::IcmpError;
pub use liveness::Stall;
pub use outcome::Outcome;
pub use seq::SeqNum;
pub use state::State;
pub use stats::ConnStats;
