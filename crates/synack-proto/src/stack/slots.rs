//! The connection table: a slot per connection, named by a generation-checked [`ConnId`],
//! and the slot's bookkeeping beside the connection ([`Entry`]).

use super::events::Readiness;
use super::snapshot::AppBytes;
use super::{ConnId, FourTuple, ListenerId, Stack, StackError};
use crate::tcp::Connection;
use alloc::boxed::Box;
use alloc::vec::Vec;

#[derive(Debug)]
pub(super) struct Entry {
    pub(super) conn: Connection,
    /// The listener that owns this connection until it is accepted.
    pub(super) listener: Option<Owner>,
    /// The handle's generation: a [`ConnId`] names this entry only if its generation is
    /// this one. Kept here, not beside the slot's pointer, so a slot is 8 bytes; a free
    /// slot's next generation waits in the free list.
    pub(super) generation: u32,
    /// Released, still in the demux table, ending at once after TIME-WAIT's ACK: rarely
    /// read, one byte between them.
    pub(super) marks: Marks,
    /// Queued in `dirty`.
    pub(super) dirty: bool,
    /// The readiness last noted for the event queue.
    pub(super) readiness: Readiness,
    /// Queued in `events`.
    pub(super) evented: bool,
    /// Bytes the application handed to `send` and read with `recv` (for [`ConnInfo`]).
    pub(super) app_bytes: AppBytes,
    /// The connection's ring storage as last counted into [`Stack::buffer_bytes`]
    /// (saturating at 4 GiB − 1).
    pub(super) buffers: u32,
}

/// The listener that owns an entry, as a 32-bit index stored plus one: 4 bytes with its
/// `Option` (the zero is the niche), where an `Option<ListenerId>` (a `usize`) takes 16.
/// [`Stack::insert`] refuses a listener index of 2^32 − 1 or more (four billion listeners)
/// rather than truncate it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct Owner(core::num::NonZeroU32);

impl Owner {
    /// The owner for listener `id`, if its index fits.
    fn new(id: ListenerId) -> Option<Owner> {
        u32::try_from(id.0)
            .ok()
            .and_then(|i| i.checked_add(1))
            .and_then(core::num::NonZeroU32::new)
            .map(Owner)
    }

    /// The listener's handle.
    pub(super) fn id(self) -> ListenerId {
        ListenerId(usize::try_from(self.0.get() - 1).unwrap_or(usize::MAX))
    }
}

/// An [`Entry`]'s rarely read flags, one bit each.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(super) struct Marks(u8);

impl Marks {
    /// The user let go of the handle (close/abort): free the slot once CLOSED.
    pub(super) const RELEASED: u8 = 1;
    /// Still in the demux table.
    pub(super) const DEMUXED: u8 = 2;
    /// Found the TIME-WAIT table full: ends once its output (the last ACK) has left.
    pub(super) const END_TIME_WAIT: u8 = 4;

    /// Whether `bit` is set.
    pub(super) fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }

    /// Sets `bit`.
    pub(super) fn set(&mut self, bit: u8) {
        self.0 |= bit;
    }

    /// Clears `bit`, saying whether it was set.
    pub(super) fn take(&mut self, bit: u8) -> bool {
        let was = self.has(bit);
        self.0 &= !bit;
        was
    }
}

#[derive(Debug, Default)]
pub(super) struct Slot {
    /// Boxed, so a free slot and the slot table's spare capacity cost 8 bytes each rather
    /// than a whole connection: the table grows by doubling. The generation lives in the
    /// entry (and in the free list while the slot is free).
    pub(super) entry: Option<Box<Entry>>,
}

impl Entry {
    /// This entry's handle, when it sits in slot `index`.
    pub(super) fn id(&self, index: usize) -> ConnId {
        ConnId {
            index: index as u32,
            generation: self.generation,
        }
    }
}

impl Stack {
    /// Every live connection handle.
    pub fn connections(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some(s.entry.as_ref()?.id(i)))
    }

    pub(super) fn insert(
        &mut self,
        conn: Connection,
        listener: Option<ListenerId>,
    ) -> Result<ConnId, StackError> {
        if self.live >= self.cfg.max_connections {
            return Err(StackError::TooManyConnections);
        }
        let listener = listener
            .map(|l| Owner::new(l).ok_or(StackError::TooManyConnections))
            .transpose()?;
        let (index, generation) = match self.free_slots.pop() {
            Some(free) => free,
            None => {
                // A slot made anew after the table was given back starts past every
                // generation its index had, so a stale handle never names a new connection.
                self.slots.push(Slot { entry: None });
                ((self.slots.len() - 1) as u32, self.generation_floor)
            }
        };
        let entry = Entry {
            conn,
            listener,
            generation,
            marks: Marks(Marks::DEMUXED),
            dirty: false,
            readiness: Readiness::NONE,
            evented: false,
            app_bytes: AppBytes::default(),
            buffers: 0,
        };
        let slot = self
            .slots
            .get_mut(index as usize)
            .ok_or(StackError::TooManyConnections)?;
        slot.entry = Some(match self.pool.pop() {
            Some(mut boxed) => {
                self.pool_bytes = self.pool_bytes.saturating_sub(pooled_bytes(&boxed));
                let mut old = core::mem::replace(&mut *boxed, entry);
                boxed.conn.adopt_storage(&mut old.conn);
                boxed
            }
            None => Box::new(entry),
        });
        self.live += 1;
        Ok(ConnId { index, generation })
    }

    pub(super) fn entry(&self, id: ConnId) -> Option<&Entry> {
        let e = self.slots.get(id.index as usize)?.entry.as_deref()?;
        (e.generation == id.generation).then_some(e)
    }

    pub(super) fn entry_mut(&mut self, id: ConnId) -> Option<&mut Entry> {
        let e = self
            .slots
            .get_mut(id.index as usize)?
            .entry
            .as_deref_mut()?;
        (e.generation == id.generation).then_some(e)
    }

    pub(super) fn conn_mut(&mut self, id: ConnId) -> Result<&mut Connection, StackError> {
        self.entry_mut(id)
            .map(|e| &mut e.conn)
            .ok_or(StackError::InvalidHandle)
    }

    /// The user (or, for a connection never accepted, the stack) lets go of the handle: the
    /// slot is freed once the connection is CLOSED, and what it received is never read.
    pub(super) fn release(&mut self, id: ConnId) {
        if let Some(e) = self.entry_mut(id) {
            e.marks.set(Marks::RELEASED);
            e.conn.set_orphaned();
        }
    }

    /// Frees a CLOSED connection: out of the demux table at once, its slot once released.
    pub(super) fn reap(&mut self, id: ConnId) {
        let Some(e) = self.entry_mut(id) else { return };
        if !e.conn.is_closed() || e.dirty {
            return;
        }
        let tuple = FourTuple {
            local: e.conn.local(),
            remote: e.conn.remote(),
        };
        let demuxed = e.marks.take(Marks::DEMUXED);
        let released = e.marks.has(Marks::RELEASED);
        if demuxed {
            self.demux.remove_if(tuple, id);
        }
        if released && let Some(slot) = self.slots.get_mut(id.index as usize) {
            if let Some(e) = slot.entry.take() {
                self.counters.absorb(Default::default(), e.conn.stats());
                self.buffer_bytes = self.buffer_bytes.saturating_sub(e.buffers as usize);
                if self.pool.len() < self.cfg.connection_pool && !self.pressure {
                    self.pool_bytes += pooled_bytes(&e);
                    self.pool.push(e);
                }
            }
            self.free_slots
                .push((id.index, id.generation.wrapping_add(1)));
            self.live -= 1;
            self.timers.remove(id.index);
        }
        if self.live == 0 {
            self.shrink_tables();
        }
    }

    /// Gives back the closed connections kept for reuse
    /// ([`StackConfig::connection_pool`](super::StackConfig::connection_pool)) and their
    /// storage. The stack does so itself under memory pressure and when a burst ends.
    pub fn release_pool(&mut self) {
        self.pool = Vec::new();
        self.pool_bytes = 0;
    }

    /// The last connection is gone: the tables a burst of connections grew (slots, free
    /// list, demux, timer wheel, the dirty and event queues) go back to the size of a fresh
    /// stack, so a server's memory returns to its idle size after the burst. Only past
    /// [`SHRINK_FROM`] slots: a stack cycling through a connection or two keeps its small
    /// tables and allocates nothing per connection.
    fn shrink_tables(&mut self) {
        if self.slots.len() < SHRINK_FROM {
            return;
        }
        // Every slot is free now, so every next generation is in the free list.
        let highest = self.free_slots.iter().map(|&(_, g)| g).max().unwrap_or(0);
        self.generation_floor = self.generation_floor.max(highest.wrapping_add(1));
        self.slots = Vec::new();
        self.free_slots = Vec::new();
        self.release_pool();
        self.demux.shrink_to_fit();
        self.timers.shrink_if_empty();
        self.dirty.shrink_to_fit();
        self.events.shrink_to_fit();
        self.fired.shrink_to_fit();
    }
}

/// The memory a closed connection's entry holds in the pool: the entry and everything its
/// connection still owns.
fn pooled_bytes(e: &Entry) -> usize {
    core::mem::size_of::<Entry>() - core::mem::size_of::<Connection>() + e.conn.memory_usage()
}

/// Slots a stack must have grown to before its last connection's end gives the tables back
/// ([`Stack::shrink_tables`]).
const SHRINK_FROM: usize = 1024;

#[cfg(test)]
mod tests {
    use super::{Connection, Entry, Slot};
    use core::mem::size_of;

    /// An idle connection pays for its entry and for its share of the slot table, which
    /// grows by doubling: the generation sits in the entry's padding so a slot is a bare
    /// pointer (16 bytes when it sat beside the pointer: 13 more per connection at 10,000).
    #[test]
    fn a_slot_is_one_pointer_and_the_entry_adds_32_bytes_to_the_connection() {
        assert_eq!(size_of::<Slot>(), 8);
        assert!(
            size_of::<Entry>() <= size_of::<Connection>() + 32,
            "Entry {} B, Connection {} B",
            size_of::<Entry>(),
            size_of::<Connection>()
        );
    }
}
