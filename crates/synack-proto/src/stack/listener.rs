//! A listening socket: a bounded SYN queue of embryonic connections and a bounded
//! accept queue of established ones (a real backlog, unlike one-socket-per-connection designs).

use super::ConnId;
use crate::tcp;
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use core::net::SocketAddr;

/// A listener and its two queues.
#[derive(Debug)]
pub(super) struct Listener {
    pub local: SocketAddr,
    /// Most connections waiting in `accept_queue`.
    pub backlog: usize,
    /// Embryonic (SYN-RECEIVED) connections this listener owns.
    pub syn_queue: usize,
    /// Established connections not yet accepted.
    pub accept_queue: VecDeque<ConnId>,
    /// Queued in the stack's readiness events.
    pub evented: bool,
    /// The settings of this listener's connections, when not the stack's
    /// ([`Stack::listen_with`](super::Stack::listen_with)).
    pub tcp: Option<Arc<tcp::Config>>,
}

impl Listener {
    pub fn new(local: SocketAddr, backlog: usize) -> Self {
        Listener {
            local,
            backlog: backlog.max(1),
            syn_queue: 0,
            accept_queue: VecDeque::new(),
            evented: false,
            tcp: None,
        }
    }
}
