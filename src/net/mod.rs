//! Real-time drivers: the [`Stack`](crate::stack::Stack) on a real network device.
//!
//! The core never reads a clock; this module does. A [`Driver`] owns a [`Stack`], a
//! [`Device`] and a monotonic [`Clock`], and runs the sans-IO loop: packets read from the device
//! go to `handle_packet`, `handle_timeout` runs once `poll_timeout` has passed, and
//! `poll_transmit` is drained to the device. Between device and stack sit an optional seeded
//! [`Impairer`] (the simulator's link model, both directions) and an optional
//! [`PcapWriter`] recording every packet that crosses the device.
//!
//! [`TunDevice`] (Linux `/dev/net/tun`, `IFF_TUN | IFF_NO_PI`, optionally with
//! `IFF_VNET_HDR` checksum and segmentation offloads, see [`vnet`]) opens a device by name;
//! [`MemoryDevice`] is an in-process pair for tests. [`FdDevice`] (any Unix) takes a descriptor
//! someone else opened: the one Android's `VpnService` hands over, or iOS's and macOS's utun
//! with its 4-byte address-family header ([`Framing`]).
//!
//! The core, the simulator and the socket APIs build for every platform Rust and Tokio do;
//! [`TunDevice`] is Linux's, and [`FdDevice`] needs a Unix descriptor. On Windows, bring a
//! [`Device`] of your own (over wintun, for instance).
//!
//! [`Stack`]: crate::stack::Stack

pub mod device;
pub mod driver;
#[cfg(unix)]
pub mod fd;
pub mod impair;
#[cfg(target_os = "linux")]
pub mod tun;
pub mod vnet;

#[cfg(test)]
mod tests;

pub use device::{Device, MemoryDevice};
pub use driver::{Clock, Driver, DriverError, DriverOptions, DriverStats};
#[cfg(unix)]
pub use fd::{FdConfig, FdDevice, FdError, Framing};
pub use impair::{ImpairConfig, ImpairError, Impairer};
pub use synack_proto::pcap::{PcapError, PcapWriter};
#[cfg(target_os = "linux")]
pub use tun::{TunConfig, TunDevice, TunError, TunQueue};

/// A stack [`Secret`](crate::stack::Secret) of 16 bytes from the operating system's random
/// source (`getrandom(2)`), for RFC 6528 ISNs, SYN cookies and port offsets. Fails, rather
/// than falling back to something guessable, if the OS has no randomness to give.
pub fn random_secret() -> std::io::Result<crate::stack::Secret> {
    let mut key = [0u8; 16];
    getrandom::fill(&mut key).map_err(|e| {
        std::io::Error::other(format!(
            "no random bytes from the operating system for the stack's secret: {e}"
        ))
    })?;
    Ok(crate::stack::Secret::from_bytes(key))
}
