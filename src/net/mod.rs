//! Real-time drivers: the [`Stack`](crate::stack::Stack) on a real network device.
//!
//! The core never reads a clock; this module does. A [`Driver`] owns a [`Stack`], a
//! [`Device`] and a monotonic [`Clock`], and runs the sans-IO loop: packets read from the device
//! go to `handle_packet`, `handle_timeout` runs once `poll_timeout` has passed, and
//! `poll_transmit` is drained to the device. Between device and stack sit an optional seeded
//! [`Impairer`] (loss, delay, jitter, duplication, both directions) and an optional
//! [`PcapWriter`] recording every packet that crosses the device.
//!
//! [`TunDevice`] (Linux `/dev/net/tun`, `IFF_TUN | IFF_NO_PI`, optionally with
//! `IFF_VNET_HDR` checksum and segmentation offloads, see [`vnet`]) is the one real device;
//! [`MemoryDevice`] is an in-process pair for tests.
//!
//! [`Stack`]: crate::stack::Stack

pub mod device;
pub mod driver;
pub mod impair;
pub mod pcap;
pub mod tun;
pub mod vnet;

#[cfg(test)]
mod tests;

pub use device::{Device, MemoryDevice};
pub use driver::{Clock, Driver, DriverError, DriverOptions, DriverStats};
pub use impair::{ImpairConfig, ImpairError, Impairer};
pub use pcap::PcapWriter;
pub use tun::{TunConfig, TunDevice, TunError, TunQueue};

/// 16 random bytes for the RFC 6528 ISN secret (`StackConfig::isn_key`), from the OS; if
/// `/dev/urandom` cannot be read, the clock, which still differs between runs.
pub fn random_isn_key() -> [u8; 16] {
    use std::io::Read;
    let mut key = [0u8; 16];
    let ok = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut key));
    if ok.is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        key = t.to_le_bytes();
    }
    key
}
