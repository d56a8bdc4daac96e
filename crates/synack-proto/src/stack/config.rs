//! The stack's settings ([`StackConfig`]) and its [`Secret`].

use crate::tcp;
use core::fmt;

/// [`StackConfig::memory_pressure`]'s default: 64 MiB of buffers (a thousand connections
/// with 64 KiB in flight, or four bulk transfers at their 8 MiB maxima).
pub const DEFAULT_MEMORY_PRESSURE: usize = 64 << 20;

/// Stack-wide configuration.
#[derive(Clone, Debug)]
pub struct StackConfig {
    /// Settings every new connection starts from.
    pub tcp: tcp::Config,
    /// Most embryonic (SYN-RECEIVED) connections per listener.
    pub syn_backlog: usize,
    /// Most connections the stack holds at once.
    pub max_connections: usize,
    /// Ephemeral port range for `connect` (RFC 6335: 49152–65535).
    pub ephemeral_ports: (u16, u16),
    /// TTL / hop limit of outgoing packets.
    pub hop_limit: u8,
    /// Most connectionless replies (RSTs, SYN-cookie SYN,ACKs) waiting to be sent.
    pub max_pending_rsts: usize,
    /// Answer SYNs with SYN cookies when a listener's SYN queue is full (RFC 4987 §3.6).
    pub syn_cookies: bool,
    /// Most challenge ACKs per second across all connections (RFC 5961 §7).
    pub challenge_ack_limit: u32,
    /// Most connections in TIME-WAIT; beyond it a connection entering TIME-WAIT ends at once.
    pub max_time_wait: usize,
    /// UDP sockets and queues.
    pub udp: super::UdpConfig,
    /// Bounds of IP fragment reassembly.
    pub frag: crate::frag::FragConfig,
    /// The device's MTU: outgoing UDP datagrams larger than it are fragmented (IPv4) or get
    /// a fragment header (IPv6). TCP's segment size is set apart, in `tcp`.
    pub mtu: usize,
    /// The stack-wide budget of connection buffer storage (send and receive rings), in
    /// bytes, past which the stack is under memory pressure (Linux's `tcp_mem[1]`): buffers
    /// stop growing and are freed as soon as they empty, until the total falls below three
    /// quarters of it ([`Stack::under_memory_pressure`](super::Stack::under_memory_pressure)).
    /// Nothing is refused or dropped: each connection keeps a window of four segments.
    /// `None`: no budget, buffers grow to their configured maxima whatever the total.
    pub memory_pressure: Option<usize>,
    /// Most closed connections kept for reuse: a new connection takes a closed one's boxed
    /// table entry and its ring storage (up to 16 KiB a ring) instead of allocating and
    /// zeroing its own, so a lifecycle in steady state allocates less. The pool's memory is
    /// counted in [`Stack::memory_usage`](super::Stack::memory_usage) and given back under
    /// memory pressure, when the last connection of a burst ends, and by
    /// [`Stack::release_pool`](super::Stack::release_pool). 0: no pool.
    pub connection_pool: usize,
}

impl Default for StackConfig {
    fn default() -> Self {
        StackConfig {
            tcp: tcp::Config::default(),
            syn_backlog: 256,
            max_connections: 1 << 20,
            ephemeral_ports: (49152, 65535),
            hop_limit: 64,
            max_pending_rsts: 256,
            syn_cookies: true,
            challenge_ack_limit: 1000,
            max_time_wait: 65536,
            udp: super::UdpConfig::default(),
            frag: crate::frag::FragConfig::default(),
            mtu: 1500,
            memory_pressure: Some(DEFAULT_MEMORY_PRESSURE),
            connection_pool: 64,
        }
    }
}

/// The stack's secret: it keys RFC 6528 initial sequence numbers, SYN cookies (RFC 4987),
/// the ephemeral-port offsets (RFC 6056) and the demux table's hash.
///
/// There is no default: a stack built with a key everyone knows has predictable ISNs and
/// forgeable cookies, so the caller hands one in. On a real network it must be random bytes
/// from the operating system (the `synack` runtime does this); a simulation may use a fixed
/// one to be reproducible. Its `Debug` output does not show the bytes.
#[derive(Clone)]
pub struct Secret([u8; 16]);

impl Secret {
    /// A secret from 16 bytes: random ones on a real network, fixed ones only where
    /// reproducibility matters more than secrecy (simulations, tests, captures).
    pub const fn from_bytes(bytes: [u8; 16]) -> Secret {
        Secret(bytes)
    }

    /// A digest of the secret that reveals nothing of it: tells whether two stacks share
    /// their secret (a log line, a test) without printing it.
    pub fn fingerprint(&self) -> u64 {
        use core::hash::Hasher;
        let mut h = siphasher::sip::SipHasher24::new_with_key(&self.0);
        h.write(b"synack secret fingerprint");
        h.finish()
    }

    /// A key for one use, derived from the secret so that one secret configures them all.
    pub(super) fn derive(&self, mask: u8) -> [u8; 16] {
        self.0.map(|b| b ^ mask)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({:016x})", self.fingerprint())
    }
}
