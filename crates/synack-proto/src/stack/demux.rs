//! The demux table: 4-tuple → connection, a keyed hash map with a one-entry cache in front.
//!
//! Consecutive segments mostly belong to the same connection (a bulk transfer, a burst of a
//! handshake), so the last tuple looked up is remembered and compared before hashing, as
//! 4.4BSD's `tcp_last_inpcb` did: a hit costs a comparison instead of a keyed SipHash of the
//! tuple. Every insert and removal of the cached tuple updates the cache, so it never names a
//! connection the table does not.
//!
//! All-IPv4 tuples (nearly every connection) are keyed by a packed 12-byte [`V4Key`], so a
//! table entry takes 20 bytes instead of the 72 of a pair of `SocketAddr`s plus the id;
//! other tuples go in a second table keyed by the full [`FourTuple`].

use super::ConnId;
use core::hash::{BuildHasher, Hasher};
use core::net::{IpAddr, SocketAddr};
use hashbrown::HashMap;
use hashbrown::hash_map::Entry;
use siphasher::sip::SipHasher13;

/// SipHash-1-3 under a secret key, as std's `RandomState` (which `no_std` lacks) is: a peer
/// that cannot learn the key cannot choose tuples that land in one bucket.
#[derive(Clone, Debug)]
pub(super) struct KeyedState {
    k0: u64,
    k1: u64,
}

impl KeyedState {
    /// A hash key derived from the stack's [`Secret`](super::Secret), so the table's
    /// key is as secret as the ISN key and unrelated to it.
    pub(super) fn from_secret(secret: &[u8; 16]) -> KeyedState {
        let derive = |label: &[u8]| {
            let mut h = siphasher::sip::SipHasher24::new_with_key(secret);
            h.write(b"synack demux key ");
            h.write(label);
            h.finish()
        };
        KeyedState {
            k0: derive(b"0"),
            k1: derive(b"1"),
        }
    }
}

impl BuildHasher for KeyedState {
    type Hasher = SipHasher13;
    fn build_hasher(&self) -> SipHasher13 {
        SipHasher13::new_with_keys(self.k0, self.k1)
    }
}

/// An all-IPv4 4-tuple packed: local and remote address, then local and remote port.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct V4Key {
    ips: [u32; 2],
    ports: u32,
}

/// The same three words `FourTuple`'s hash feeds the keyed SipHash.
impl core::hash::Hash for V4Key {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        let [l, r] = self.ips;
        state.write_u64((u64::from(l) << 32) | u64::from(r));
        state.write_u32(self.ports);
    }
}

/// The packed key of an all-IPv4 tuple.
fn v4_key(t: &FourTuple) -> Option<V4Key> {
    match (t.local, t.remote) {
        (SocketAddr::V4(l), SocketAddr::V4(r)) => Some(V4Key {
            ips: [l.ip().to_bits(), r.ip().to_bits()],
            ports: (u32::from(l.port()) << 16) | u32::from(r.port()),
        }),
        _ => None,
    }
}

/// 4-tuple → connection, with the last lookup cached.
#[derive(Debug)]
pub(super) struct Demux {
    /// All-IPv4 tuples.
    v4: HashMap<V4Key, ConnId, KeyedState>,
    /// Every other tuple (IPv6 or mixed).
    map: HashMap<FourTuple, ConnId, KeyedState>,
    /// The last tuple found and its connection; always equal to the map's entry.
    last: Option<(FourTuple, ConnId)>,
}

impl Demux {
    /// An empty table whose hash is keyed from `secret`.
    pub(super) fn new(secret: &[u8; 16]) -> Demux {
        let state = KeyedState::from_secret(secret);
        Demux {
            v4: HashMap::with_hasher(state.clone()),
            map: HashMap::with_hasher(state),
            last: None,
        }
    }

    /// The connection of `tuple`, remembering it for the next lookup.
    pub(super) fn get(&mut self, tuple: &FourTuple) -> Option<ConnId> {
        if let Some((t, id)) = self.last
            && t == *tuple
        {
            return Some(id);
        }
        let id = match v4_key(tuple) {
            Some(k) => self.v4.get(&k),
            None => self.map.get(tuple),
        }
        .copied()?;
        self.last = Some((*tuple, id));
        Some(id)
    }

    /// Whether `tuple` has a connection.
    pub(super) fn contains(&self, tuple: &FourTuple) -> bool {
        self.last.is_some_and(|(t, _)| t == *tuple)
            || match v4_key(tuple) {
                Some(k) => self.v4.contains_key(&k),
                None => self.map.contains_key(tuple),
            }
    }

    /// Maps `tuple` to `id` (replacing any previous connection).
    pub(super) fn insert(&mut self, tuple: FourTuple, id: ConnId) {
        match v4_key(&tuple) {
            Some(k) => self.v4.insert(k, id),
            None => self.map.insert(tuple, id),
        };
        self.last = Some((tuple, id));
    }

    /// Removes `tuple` if it still maps to `id` (a newer connection may have taken it).
    pub(super) fn remove_if(&mut self, tuple: FourTuple, id: ConnId) {
        let removed = match v4_key(&tuple) {
            Some(k) => remove_if(self.v4.entry(k), id),
            None => remove_if(self.map.entry(tuple), id),
        };
        if removed && self.last.is_some_and(|(t, _)| t == tuple) {
            self.last = None;
        }
    }

    /// Heap bytes of both tables (hashbrown: a control byte per bucket besides the entry).
    /// Gives back the room the tables grew to beyond what they hold now.
    pub(super) fn shrink_to_fit(&mut self) {
        self.v4.shrink_to_fit();
        self.map.shrink_to_fit();
    }

    pub(super) fn memory_usage(&self) -> usize {
        self.v4.capacity() * (size_of::<(V4Key, ConnId)>() + 1)
            + self.map.capacity() * (size_of::<(FourTuple, ConnId)>() + 1)
    }
}

/// Removes an occupied entry that maps to `id`; whether it did.
fn remove_if<K>(entry: Entry<'_, K, ConnId, KeyedState>, id: ConnId) -> bool {
    match entry {
        Entry::Occupied(e) if *e.get() == id => {
            e.remove();
            true
        }
        _ => false,
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct FourTuple {
    pub(super) local: SocketAddr,
    pub(super) remote: SocketAddr,
}

/// Hashes the addresses and ports as three words (IPv4) instead of the derived field by
/// field walk, which fed SipHash a dozen small writes per lookup: demux hashing was ~18%
/// of a connection lifecycle's instructions. The hasher is still the keyed SipHash.
impl core::hash::Hash for FourTuple {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        let ports = (u32::from(self.local.port()) << 16) | u32::from(self.remote.port());
        match (self.local.ip(), self.remote.ip()) {
            (IpAddr::V4(l), IpAddr::V4(r)) => {
                state.write_u64((u64::from(l.to_bits()) << 32) | u64::from(r.to_bits()));
            }
            (l, r) => {
                state.write_u128(ip_bits(l));
                state.write_u128(ip_bits(r));
            }
        }
        state.write_u32(ports);
    }
}

/// An address as 128 bits (IPv4 in the low 32).
fn ip_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(a.to_bits()),
        IpAddr::V6(a) => a.to_bits(),
    }
}
