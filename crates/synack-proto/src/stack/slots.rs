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
    /// The user let go of the handle (close/abort): free the slot once CLOSED.
    pub(super) released: bool,
    /// Still in the demux table.
    pub(super) demuxed: bool,
    /// Queued in `dirty`.
    pub(super) dirty: bool,
    /// The readiness last noted for the event queue.
    pub(super) readiness: Readiness,
    /// Queued in `events`.
    pub(super) evented: bool,
    /// Found the TIME-WAIT table full: ends once its output (the last ACK) has left.
    pub(super) end_time_wait: bool,
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

#[derive(Debug, Default)]
pub(super) struct Slot {
    pub(super) generation: u32,
    /// Boxed, so a free slot and the slot table's spare capacity cost 16 bytes each rather
    /// than a whole connection: the table grows by doubling.
    pub(super) entry: Option<Box<Entry>>,
}

impl Stack {
    /// Every live connection handle.
    pub fn connections(&self) -> impl Iterator<Item = ConnId> + '_ {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            s.entry.as_ref().map(|_| ConnId {
                index: i as u32,
                generation: s.generation,
            })
        })
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
        let entry = Entry {
            conn,
            listener,
            released: false,
            demuxed: true,
            dirty: false,
            readiness: Readiness::NONE,
            evented: false,
            end_time_wait: false,
            app_bytes: AppBytes::default(),
            buffers: 0,
        };
        let index = match self.free_slots.pop() {
            Some(i) => i,
            None => {
                // A slot made anew after the table was given back starts past every
                // generation its index had, so a stale handle never names a new connection.
                self.slots.push(Slot {
                    generation: self.generation_floor,
                    entry: None,
                });
                (self.slots.len() - 1) as u32
            }
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
        Ok(ConnId {
            index,
            generation: slot.generation,
        })
    }

    pub(super) fn entry(&self, id: ConnId) -> Option<&Entry> {
        let slot = self.slots.get(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.entry.as_deref()
    }

    pub(super) fn entry_mut(&mut self, id: ConnId) -> Option<&mut Entry> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.entry.as_deref_mut()
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
            e.released = true;
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
        let demuxed = core::mem::replace(&mut e.demuxed, false);
        let released = e.released;
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
            slot.generation = slot.generation.wrapping_add(1);
            self.free_slots.push(id.index);
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
        let highest = self.slots.iter().map(|s| s.generation).max().unwrap_or(0);
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
