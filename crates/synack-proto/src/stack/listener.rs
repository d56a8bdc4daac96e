//! A listening socket: a bounded SYN queue of embryonic connections and a bounded
//! accept queue of established ones (a real backlog, unlike one-socket-per-connection designs).

use super::held::HeldSyns;
use super::slots::Owner;
use super::{ConnId, FourTuple, ListenerId, Stack, StackError};
use crate::tcp::{self, Connection};
use crate::time::Instant;
use crate::wire::TcpRepr;
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::net::{IpAddr, SocketAddr};

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

impl Stack {
    /// LISTEN on `local` (an unspecified IP listens on every address) with an accept backlog.
    /// `local` must be one of the stack's addresses, or any address while the stack intercepts
    /// ([`intercept`](Self::intercept)); otherwise [`StackError::AddrNotAvailable`].
    pub fn listen(&mut self, local: SocketAddr, backlog: usize) -> Result<ListenerId, StackError> {
        // As std: an address the stack does not own cannot be listened on (EADDRNOTAVAIL),
        // unless it intercepts every destination (then an exact listener may pick one out).
        let owned = local.ip().is_unspecified()
            || self.addrs.contains(&local.ip())
            || self.intercept.is_some();
        if !owned {
            return Err(StackError::AddrNotAvailable);
        }
        if self.listen_map.contains_key(&local) {
            return Err(StackError::AddrInUse);
        }
        let id = self.add_listener(Listener::new(local, backlog));
        self.listen_map.insert(local, id);
        Ok(id)
    }

    /// [`listen`](Self::listen) with connection settings of its own for this listener's
    /// connections (buffer sizes, say) instead of the stack's
    /// [`StackConfig::tcp`](super::StackConfig::tcp).
    pub fn listen_with(
        &mut self,
        local: SocketAddr,
        backlog: usize,
        tcp: tcp::Config,
    ) -> Result<ListenerId, StackError> {
        let id = self.listen(local, backlog)?;
        if let Some(l) = self.listeners.get_mut(id.0).and_then(Option::as_mut) {
            l.tcp = Some(Arc::new(tcp));
        }
        Ok(id)
    }

    /// The connection settings of listener `lid`'s connections.
    pub(super) fn listener_tcp(&self, lid: ListenerId) -> Arc<tcp::Config> {
        self.listeners
            .get(lid.0)
            .and_then(Option::as_ref)
            .and_then(|l| l.tcp.clone())
            .unwrap_or_else(|| Arc::clone(&self.tcp))
    }

    /// Stops listening. Connections not yet accepted are reset.
    pub fn unlisten(&mut self, id: ListenerId) {
        let Some(listener) = self.listeners.get_mut(id.0).and_then(Option::take) else {
            return;
        };
        if self.intercept == Some(id) {
            self.intercept = None;
            // Undecided SYNs go unanswered, as if never received (the clients retry).
            self.held = HeldSyns::default();
        } else {
            self.listen_map.remove(&listener.local);
        }
        let owned: Vec<ConnId> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let e = s.entry.as_ref()?;
                (e.listener.map(Owner::id) == Some(id)).then(|| e.id(i))
            })
            .collect();
        for c in owned {
            self.abort(c);
        }
    }

    /// Takes the next established connection from a listener's accept queue.
    pub fn accept(&mut self, id: ListenerId) -> Option<ConnId> {
        let listener = self.listeners.get_mut(id.0)?.as_mut()?;
        let conn = listener.accept_queue.pop_front()?;
        if let Some(e) = self.entry_mut(conn) {
            e.listener = None;
        }
        Some(conn)
    }

    pub(super) fn on_listener_syn(
        &mut self,
        now: Instant,
        lid: ListenerId,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &TcpRepr<'_>,
    ) {
        let syn_backlog = self.cfg.syn_backlog;
        let Some(l) = self.listeners.get_mut(lid.0).and_then(Option::as_mut) else {
            return;
        };
        if l.accept_queue.len() >= l.backlog {
            self.counters.listen_overflows += 1;
            return;
        }
        if l.syn_queue >= syn_backlog {
            if self.cfg.syn_cookies {
                self.send_cookie(now, lid, local, remote, seg);
            } else {
                self.counters.listen_overflows += 1;
            }
            return;
        }
        let iss = self.isn.isn(now, local, remote);
        let mut conn = Connection::listen(self.listener_tcp(lid), local, remote, iss);
        // LISTEN → SYN-RECEIVED: nothing to account for, and a SYN draws no challenge ACK.
        let _ = conn.handle_segment(now, seg, u32::MAX);
        let Ok(id) = self.insert(conn, Some(lid)) else {
            self.counters.listen_overflows += 1;
            return;
        };
        if let Some(l) = self.listeners.get_mut(lid.0).and_then(Option::as_mut) {
            l.syn_queue += 1;
        }
        self.demux.insert(FourTuple { local, remote }, id);
        self.counters.passive_opens += 1;
        self.touch(id, now);
    }

    /// Embryonic connection `id` of listener `lid` left SYN-RECEIVED: it leaves the SYN queue,
    /// for the accept queue if its handshake `completed` (or is reset when that is full), and
    /// is let go if it closed instead, as nobody holds its handle.
    pub(super) fn handshake_ended(&mut self, lid: ListenerId, id: ConnId, completed: bool) {
        let Some(l) = self.listeners.get_mut(lid.0).and_then(Option::as_mut) else {
            return;
        };
        l.syn_queue = l.syn_queue.saturating_sub(1);
        if completed {
            if l.accept_queue.len() < l.backlog {
                l.accept_queue.push_back(id);
                self.note_acceptable(lid);
            } else {
                self.counters.listen_overflows += 1;
                self.abort(id);
            }
        } else {
            self.release(id);
            if let Some(e) = self.entry_mut(id) {
                e.listener = None;
            }
        }
    }

    /// Whether a listener (on `local` itself, or on its port at the unspecified address) would
    /// take a SYN to `local`: a port an active open must not take as its own.
    pub fn is_listening(&self, local: SocketAddr) -> bool {
        let any = match local {
            SocketAddr::V4(_) => IpAddr::from([0u8; 4]),
            SocketAddr::V6(_) => IpAddr::from([0u16; 8]),
        };
        self.listen_map.contains_key(&local)
            || self
                .listen_map
                .contains_key(&SocketAddr::new(any, local.port()))
    }

    /// The listener for a segment to `local` that matches no connection (the precedence is in the
    /// [`intercept`](super::intercept) module doc).
    pub(super) fn find_listener(&self, local: SocketAddr) -> Option<ListenerId> {
        if let Some(&id) = self.listen_map.get(&local) {
            return Some(id);
        }
        if self.addrs.contains(&local.ip()) {
            let any = match local {
                SocketAddr::V4(_) => IpAddr::from([0u8; 4]),
                SocketAddr::V6(_) => IpAddr::from([0u16; 8]),
            };
            if let Some(&id) = self.listen_map.get(&SocketAddr::new(any, local.port())) {
                return Some(id);
            }
        }
        self.intercept
    }

    /// Puts `listener` in a free listener slot.
    pub(super) fn add_listener(&mut self, listener: Listener) -> ListenerId {
        let id = match self.listeners.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                self.listeners.push(None);
                self.listeners.len() - 1
            }
        };
        if let Some(slot) = self.listeners.get_mut(id) {
            *slot = Some(listener);
        }
        ListenerId(id)
    }
}
