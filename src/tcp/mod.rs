//! The TCP connection state machine (RFC 9293) and its parts.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

pub mod recv_buf;
pub mod send_buf;
pub mod seq;
