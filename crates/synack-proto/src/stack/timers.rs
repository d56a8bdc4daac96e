//! Connection timers across the stack: each connection's next deadline in the timer wheel.

use super::{ConnId, Stack};
use crate::time::Instant;

impl Stack {
    /// The earliest time `handle_timeout` should be called. When the next deadline is more
    /// than ~64 ms away this may be earlier than it (the timer wheel's slot start); calling
    /// `handle_timeout` then does nothing but make the answer more precise.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.timers.next_deadline(),
            self.udp_next_deadline(),
            self.frag.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs every connection timer due at `now`, and ends the intercepted UDP sessions idle
    /// for their timeout.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.udp_expire(now);
        while let Some(expired) = self.frag.expire(now) {
            self.on_reassembly_timeout(now, expired);
        }
        let mut fired = core::mem::take(&mut self.fired);
        loop {
            self.timers.expire(now, &mut fired);
            if fired.is_empty() {
                break;
            }
            for index in fired.drain(..) {
                // The wheel holds only live slots' timers (a freed slot's is removed).
                let Some(e) = self
                    .slots
                    .get_mut(index as usize)
                    .and_then(|s| s.entry.as_deref_mut())
                else {
                    continue;
                };
                let id = e.id(index as usize);
                let out = e.conn.handle_timeout(now);
                self.on_outcome(id, out);
                self.touch(id, now);
            }
        }
        self.fired = fired;
    }

    /// Puts the connection's next deadline in the timer wheel (or takes it out).
    pub(super) fn schedule(&mut self, id: ConnId, _now: Instant) {
        let Some(e) = self.entry(id) else { return };
        match e.conn.poll_timeout() {
            Some(at) if self.timers.deadline(id.index) != Some(at) => {
                self.timers.insert(id.index, at);
            }
            Some(_) => {}
            None => {
                self.timers.remove(id.index);
            }
        }
    }
}
