//! Readiness events: which connections and listeners an application may now make progress on.
//!
//! A runtime that parks application tasks (tokio wakers, a `Condvar`) needs to know whom to wake
//! after each `handle_packet`, `handle_timeout` or application call, without scanning every
//! connection. With events enabled ([`Stack::set_events`](super::Stack::set_events)), the stack
//! queues a connection when its [`Readiness`] changes and a listener when its accept queue gains
//! a connection; [`Stack::poll_event`](super::Stack::poll_event) hands them out. Each connection
//! and listener is queued at most once until polled, so the queue never holds more entries than
//! there are connections and listeners.

use super::{ConnId, ListenerId};
use crate::tcp::{Connection, State};

/// What an application may do on a connection without waiting.
///
/// "Readable" and "writable" mean that `recv` or `send` would not return `WouldBlock`: they
/// would move data, report end of stream, or report an error.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, Debug)]
pub struct Readiness(u8);

impl Readiness {
    /// Nothing is ready.
    pub const NONE: Readiness = Readiness(0);
    /// `recv` would not block: data, end of stream, or an error.
    pub const READABLE: Readiness = Readiness(1);
    /// `send` would not block: room in the send buffer, or an error.
    pub const WRITABLE: Readiness = Readiness(2);
    /// The handshake is over: the connection is synchronized, or it failed or closed.
    pub const CONNECTED: Readiness = Readiness(4);
    /// The connection is CLOSED (normally or with an error).
    pub const CLOSED: Readiness = Readiness(8);

    /// The readiness of `conn` now.
    pub fn of(conn: &Connection) -> Readiness {
        let state = conn.state();
        let failed = conn.error().is_some() || state == State::Closed;
        let mut r = Readiness::NONE;
        if failed || conn.recv_queue() > 0 || conn.is_recv_finished() {
            r = r | Readiness::READABLE;
        }
        // Outside the sending states `send` fails at once (Closing, NotConnected).
        if failed || !state.may_send() || conn.send_capacity() > 0 {
            r = r | Readiness::WRITABLE;
        }
        if failed || state.is_synchronized() {
            r = r | Readiness::CONNECTED;
        }
        if state == State::Closed {
            r = r | Readiness::CLOSED;
        }
        r
    }

    /// Every flag of `other` is set in `self`.
    pub const fn contains(self, other: Readiness) -> bool {
        self.0 & other.0 == other.0
    }

    /// `recv` would not block.
    pub const fn is_readable(self) -> bool {
        self.contains(Readiness::READABLE)
    }

    /// `send` would not block.
    pub const fn is_writable(self) -> bool {
        self.contains(Readiness::WRITABLE)
    }

    /// The handshake is over, one way or the other.
    pub const fn is_connected(self) -> bool {
        self.contains(Readiness::CONNECTED)
    }

    /// The connection is CLOSED.
    pub const fn is_closed(self) -> bool {
        self.contains(Readiness::CLOSED)
    }
}

impl core::ops::BitOr for Readiness {
    type Output = Readiness;
    fn bitor(self, rhs: Readiness) -> Readiness {
        Readiness(self.0 | rhs.0)
    }
}

/// Something an application may now make progress on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Event {
    /// The connection's readiness changed; this is its readiness now.
    Connection(ConnId, Readiness),
    /// The listener's accept queue holds a connection.
    Acceptable(ListenerId),
    /// The UDP socket's readiness may have changed; this is its readiness now (readable:
    /// a datagram or an error is queued; writable: the send queue has room).
    Udp(super::UdpId, Readiness),
    /// UDP interception has a new flow's session to take (`udp_accept`).
    UdpAcceptable,
}

/// A queued event, resolved to an [`Event`] when polled.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum EventKey {
    Connection(ConnId),
    Listener(ListenerId),
}

impl super::Stack {
    /// Turns readiness events on or off (off by default: a driver that never polls them must
    /// not pay for them). Turning them off drops any queued.
    pub fn set_events(&mut self, on: bool) {
        self.events_on = on;
        if !on {
            while self.poll_event().is_some() {}
        }
    }

    /// The next connection or listener an application may now make progress on; drain it after
    /// every `handle_packet`, `handle_timeout`, `poll_transmit` round and application call. A
    /// connection's [`Readiness`] is as of this call. Always `None` unless
    /// [`set_events`](Self::set_events) turned events on.
    pub fn poll_event(&mut self) -> Option<Event> {
        if core::mem::take(&mut self.udp.acceptable_event) {
            return Some(Event::UdpAcceptable);
        }
        while let Some(id) = self.udp.events.pop_front() {
            if let Some((id, r)) = self.udp_event(id) {
                return Some(Event::Udp(id, r));
            }
        }
        while let Some(key) = self.events.pop_front() {
            match key {
                EventKey::Connection(id) => {
                    if let Some(e) = self.entry_mut(id) {
                        e.evented = false;
                        return Some(Event::Connection(id, Readiness::of(&e.conn)));
                    }
                }
                EventKey::Listener(id) => {
                    if let Some(l) = self.listeners.get_mut(id.0).and_then(Option::as_mut) {
                        l.evented = false;
                        return Some(Event::Acceptable(id));
                    }
                }
            }
        }
        None
    }

    /// Whether [`poll_event`](Self::poll_event) may have an event to hand out (a driver that
    /// steps only the connections it is told about loops while this holds).
    pub fn has_events(&self) -> bool {
        self.udp.acceptable_event || !self.udp.events.is_empty() || !self.events.is_empty()
    }

    /// Queues the connection if its readiness changed since last noted. Connections nobody
    /// holds a handle to (embryonic, or released) are skipped.
    pub(super) fn note_readiness(&mut self, id: ConnId) {
        if !self.events_on {
            return;
        }
        let Some(e) = self.entry_mut(id) else { return };
        if e.marks.has(super::slots::Marks::RELEASED) || e.listener.is_some() {
            return;
        }
        let now = Readiness::of(&e.conn);
        if now == e.readiness {
            return;
        }
        e.readiness = now;
        if !e.evented {
            e.evented = true;
            self.events.push_back(EventKey::Connection(id));
        }
    }

    /// Queues the listener: its accept queue gained a connection.
    pub(super) fn note_acceptable(&mut self, id: ListenerId) {
        if !self.events_on {
            return;
        }
        if let Some(l) = self.listeners.get_mut(id.0).and_then(Option::as_mut)
            && !l.evented
        {
            l.evented = true;
            self.events.push_back(EventKey::Listener(id));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::sim::{LinkConfig, Network};
    use crate::stack::Stack;
    use crate::tcp::{self, State};
    use crate::tests::{A, B, IP_B, pair};
    use crate::time::Duration;
    use core::net::SocketAddr;

    fn net() -> Network<Stack> {
        let link = LinkConfig::default().with_delay(Duration::from_millis(1));
        let mut net = pair(3, tcp::Config::default(), link);
        net.host_mut(A).set_events(true);
        net.host_mut(B).set_events(true);
        net
    }

    fn settle(net: &mut Network<Stack>) {
        let limit = net.now() + Duration::from_secs(1);
        net.run_until(limit, |_| false);
    }

    fn drain(stack: &mut Stack) -> Vec<Event> {
        core::iter::from_fn(|| stack.poll_event()).collect()
    }

    #[test]
    fn events_are_off_until_a_driver_asks_for_them() {
        let mut net = pair(3, tcp::Config::default(), LinkConfig::default());
        let now = net.now();
        net.host_mut(A)
            .connect(now, SocketAddr::new(IP_B, 9))
            .unwrap();
        settle(&mut net);
        assert_eq!(net.host_mut(A).poll_event(), None);
    }

    #[test]
    fn events_report_each_readiness_change_once_per_poll() {
        let mut net = net();
        let lid = net.host_mut(B).listen(SocketAddr::new(IP_B, 7), 4).unwrap();
        let now = net.now();
        let ca = net
            .host_mut(A)
            .connect(now, SocketAddr::new(IP_B, 7))
            .unwrap();
        // Connecting: writable (data may be queued in SYN-SENT), not yet connected.
        let ready = Readiness::WRITABLE;
        assert_eq!(drain(net.host_mut(A)), [Event::Connection(ca, ready)]);
        settle(&mut net);
        let ready = Readiness::WRITABLE | Readiness::CONNECTED;
        assert_eq!(drain(net.host_mut(A)), [Event::Connection(ca, ready)]);
        // The embryonic connection is not reported; its listener is, once.
        assert_eq!(drain(net.host_mut(B)), [Event::Acceptable(lid)]);
        let cb = net.host_mut(B).accept(lid).unwrap();

        let now = net.now();
        net.host_mut(A).send(now, ca, b"hi").unwrap();
        net.host_mut(A).shutdown(now, ca).unwrap();
        settle(&mut net);
        // Data and FIN arrived: readable. Its send side is still open (CLOSE-WAIT).
        let events = drain(net.host_mut(B));
        assert_eq!(
            events.last(),
            Some(&Event::Connection(cb, ready | Readiness::READABLE))
        );
        let mut buf = [0u8; 8];
        assert_eq!(net.host_mut(B).recv(now, cb, &mut buf), Ok(2));
        // Only "hi" was read: the FIN is still to be consumed, readiness unchanged.
        assert_eq!(drain(net.host_mut(B)), []);
        assert_eq!(net.host_mut(B).recv(now, cb, &mut buf), Ok(0));
        net.host_mut(B).close(now, cb).unwrap();
        settle(&mut net);
        // A: FIN-WAIT-2 → TIME-WAIT; reading gives end of stream.
        assert_eq!(net.host(A).state(ca), State::TimeWait);
        let last = drain(net.host_mut(A)).pop().unwrap();
        assert!(matches!(last, Event::Connection(id, r) if id == ca && r.is_readable()));
    }
}
