//! The demux table: 4-tuple → connection, a keyed hash map with a one-entry cache in front.
//!
//! Consecutive segments mostly belong to the same connection (a bulk transfer, a burst of a
//! handshake), so the last tuple looked up is remembered and compared before hashing, as
//! 4.4BSD's `tcp_last_inpcb` did: a hit costs a comparison instead of a keyed SipHash of the
//! tuple. Every insert and removal of the cached tuple updates the cache, so it never names a
//! connection the table does not.

use super::{ConnId, FourTuple};
use std::collections::HashMap;
use std::collections::hash_map::Entry;

/// 4-tuple → connection, with the last lookup cached.
#[derive(Debug, Default)]
pub(super) struct Demux {
    map: HashMap<FourTuple, ConnId>,
    /// The last tuple found and its connection; always equal to the map's entry.
    last: Option<(FourTuple, ConnId)>,
}

impl Demux {
    /// The connection of `tuple`, remembering it for the next lookup.
    pub(super) fn get(&mut self, tuple: &FourTuple) -> Option<ConnId> {
        if let Some((t, id)) = self.last
            && t == *tuple
        {
            return Some(id);
        }
        let id = self.map.get(tuple).copied()?;
        self.last = Some((*tuple, id));
        Some(id)
    }

    /// Whether `tuple` has a connection.
    pub(super) fn contains(&self, tuple: &FourTuple) -> bool {
        self.last.is_some_and(|(t, _)| t == *tuple) || self.map.contains_key(tuple)
    }

    /// Maps `tuple` to `id` (replacing any previous connection).
    pub(super) fn insert(&mut self, tuple: FourTuple, id: ConnId) {
        self.map.insert(tuple, id);
        self.last = Some((tuple, id));
    }

    /// Removes `tuple` if it still maps to `id` (a newer connection may have taken it).
    pub(super) fn remove_if(&mut self, tuple: FourTuple, id: ConnId) {
        if let Entry::Occupied(e) = self.map.entry(tuple)
            && *e.get() == id
        {
            e.remove();
            if self.last.is_some_and(|(t, _)| t == tuple) {
                self.last = None;
            }
        }
    }

    /// Buckets allocated (for memory accounting).
    pub(super) fn capacity(&self) -> usize {
        self.map.capacity()
    }
}
