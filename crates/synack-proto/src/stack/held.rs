//! Deferred handshakes: an interceptor that holds each SYN until the application decides
//! ([`Stack::intercept_deferred`]).
//!
//! A tun2socks or proxy application learns where a client meant to go from its SYN, and can
//! only then find out whether that destination accepts connections. With an ordinary
//! interceptor the handshake completes first, so a client of a refused destination sees a
//! reset after connecting. A deferring interceptor answers nothing: it holds the SYN (the
//! client retransmits it while it waits, which is ignored), the application dials the
//! destination, and then either completes the handshake ([`Stack::complete_held`]: SYN,ACK
//! now, a connection the application owns) or refuses it ([`Stack::refuse_held`]:
//! `<SEQ=0><ACK=SYN+1><CTL=RST,ACK>`, which the client reports as "connection refused").
//!
//! Held SYNs are bounded by [`StackConfig::syn_backlog`](super::StackConfig::syn_backlog)
//! (beyond it a SYN is dropped and counted as a listen overflow, and the client retries), a RST
//! from the client forgets its SYN, and a SYN left undecided for [`HELD_SYN_TIMEOUT`] is
//! forgotten (the client has given up by then). They take no connection slot and no buffer.

use super::{ListenerId, Stack, StackError};
use crate::stack::ConnId;
use crate::tcp::Connection;
use crate::tcp::reset::Reset;
use crate::time::{Duration, Instant};
use crate::wire::TcpRepr;
use alloc::sync::Arc;
use core::net::SocketAddr;

/// How long a held SYN waits for the application's decision before it is forgotten (the
/// BSD connection-establishment timer; a Linux client gives up after about 127 s).
pub const HELD_SYN_TIMEOUT: Duration = Duration::from_secs(75);

/// A SYN held by a deferring interceptor, as the application sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeldSyn {
    /// The handle to complete or refuse it with.
    pub id: HeldId,
    /// Where the client meant to go (the SYN's destination).
    pub local: SocketAddr,
    /// The client.
    pub remote: SocketAddr,
}

/// Names one held SYN ([`Stack::complete_held`], [`Stack::refuse_held`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HeldId(u64);

/// A held SYN, its payload dropped (data on a SYN is sent again after the SYN,ACK).
#[derive(Debug)]
pub(super) struct Held {
    id: HeldId,
    local: SocketAddr,
    remote: SocketAddr,
    arrived: Instant,
    syn: TcpRepr<'static>,
    /// Handed to the application by [`Stack::next_held`] already.
    offered: bool,
}

/// The held SYNs of the deferring interceptor.
#[derive(Debug, Default)]
pub(super) struct HeldSyns {
    /// Whether the interceptor defers handshakes.
    pub(super) on: bool,
    queue: alloc::collections::VecDeque<Held>,
    next_id: u64,
}

impl HeldSyns {
    pub(super) fn memory_usage(&self) -> usize {
        self.queue.capacity() * core::mem::size_of::<Held>()
    }

    fn position(&self, local: SocketAddr, remote: SocketAddr) -> Option<usize> {
        self.queue
            .iter()
            .position(|h| h.local == local && h.remote == remote)
    }

    fn take(&mut self, id: HeldId) -> Option<Held> {
        let i = self.queue.iter().position(|h| h.id == id)?;
        self.queue.remove(i)
    }

    /// Forgets SYNs undecided for longer than [`HELD_SYN_TIMEOUT`].
    fn expire(&mut self, now: Instant) {
        while self
            .queue
            .front()
            .is_some_and(|h| now.saturating_duration_since(h.arrived) >= HELD_SYN_TIMEOUT)
        {
            self.queue.pop_front();
        }
    }
}

impl Stack {
    /// Like [`Stack::intercept`], but the handshake waits for the application: every SYN is
    /// held and offered by [`Stack::next_held`], and nothing is answered until
    /// [`Stack::complete_held`] (SYN,ACK now, a connection the caller owns) or
    /// [`Stack::refuse_held`] (`<SEQ=0><ACK=SYN+1><CTL=RST,ACK>`: "connection refused").
    ///
    /// A tun2socks or proxy application can so dial the client's destination before answering
    /// the client, and refuse it as that destination refused. The client's retransmitted SYNs
    /// are ignored while it waits. Held SYNs are bounded by
    /// [`StackConfig::syn_backlog`](super::StackConfig::syn_backlog) (beyond it a SYN is dropped
    /// and counted as a listen overflow; the client retries), a RST from the client forgets
    /// its SYN, and one left undecided for [`HELD_SYN_TIMEOUT`] is forgotten. They take no
    /// connection slot and no buffer.
    pub fn intercept_deferred(&mut self, backlog: usize) -> Result<ListenerId, StackError> {
        let id = self.intercept(backlog)?;
        self.held.on = true;
        Ok(id)
    }

    /// The next held SYN not yet offered, if any (each is offered once).
    pub fn next_held(&mut self, now: Instant) -> Option<HeldSyn> {
        self.held.expire(now);
        let h = self.held.queue.iter_mut().find(|h| !h.offered)?;
        h.offered = true;
        Some(HeldSyn {
            id: h.id,
            local: h.local,
            remote: h.remote,
        })
    }

    /// Completes a held handshake: the SYN,ACK goes out now, and the returned connection (in
    /// SYN-RECEIVED, ESTABLISHED once the client's ACK arrives) belongs to the caller, as
    /// one from [`Stack::connect`] does. `InvalidHandle` if the SYN is no longer held (the
    /// client reset it, or it expired).
    pub fn complete_held(&mut self, now: Instant, id: HeldId) -> Result<ConnId, StackError> {
        let h = self.held.take(id).ok_or(StackError::InvalidHandle)?;
        let iss = self.isn.isn(now, h.local, h.remote);
        let mut conn = Connection::listen(Arc::clone(&self.tcp), h.local, h.remote, iss);
        // LISTEN → SYN-RECEIVED: nothing to account for, and a SYN draws no challenge ACK.
        let _ = conn.handle_segment(now, &h.syn, u32::MAX);
        let cid = self.insert(conn, None)?;
        self.demux.insert(
            super::FourTuple {
                local: h.local,
                remote: h.remote,
            },
            cid,
        );
        self.counters.passive_opens += 1;
        self.touch(cid, now);
        Ok(cid)
    }

    /// Refuses a held handshake: `<SEQ=0><ACK=SYN+1><CTL=RST,ACK>` to the client, as a host
    /// with nothing listening answers. `InvalidHandle` if the SYN is no longer held.
    pub fn refuse_held(&mut self, id: HeldId) -> Result<(), StackError> {
        let h = self.held.take(id).ok_or(StackError::InvalidHandle)?;
        let reset = Reset {
            seq: crate::tcp::SeqNum::new(0),
            ack: Some(h.syn.seq + 1),
        };
        self.queue_reset(h.local, h.remote, reset);
        Ok(())
    }

    /// Number of SYNs held now.
    pub fn held_count(&self) -> usize {
        self.held.queue.len()
    }

    /// A SYN for the deferring interceptor `lid`: held (a retransmission of one already held
    /// is ignored), unless as many are held as the SYN backlog allows.
    pub(super) fn hold_syn(
        &mut self,
        now: Instant,
        lid: ListenerId,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &TcpRepr<'_>,
    ) {
        self.held.expire(now);
        if self.held.position(local, remote).is_some() {
            return;
        }
        if self.held.queue.len() >= self.cfg.syn_backlog {
            self.counters.listen_overflows += 1;
            return;
        }
        let id = HeldId(self.held.next_id);
        self.held.next_id += 1;
        self.held.queue.push_back(Held {
            id,
            local,
            remote,
            arrived: now,
            syn: TcpRepr {
                payload: &[],
                ..*seg
            },
            offered: false,
        });
        self.note_acceptable(lid);
    }

    /// A RST from a client whose SYN is held: it gave up, so the SYN is forgotten. `true` if
    /// there was one.
    pub(super) fn forget_held(&mut self, local: SocketAddr, remote: SocketAddr) -> bool {
        match self.held.position(local, remote) {
            Some(i) => {
                self.held.queue.remove(i);
                true
            }
            None => false,
        }
    }
}
