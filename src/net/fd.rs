//! A device from a descriptor someone else opened: Android's `VpnService`, iOS's and macOS's
//! utun (`NEPacketTunnelProvider`), or a TUN device opened by the embedding program.
//!
//! Mobile platforms do not let an app open a TUN device by name; they hand it an open
//! descriptor that carries IP packets, one per `read`/`write`. Android's
//! (`VpnService.Builder.establish()`, then `ParcelFileDescriptor.detachFd()`) carries bare
//! packets, [`Framing::Raw`]. utun's carries each packet behind a 4-byte header holding the
//! address family in network byte order, [`Framing::AfHeader`]: `AF_INET` (2) or `AF_INET6`
//! (30 on Apple's systems, 10 on Linux; the platform's own value is written). To get such a
//! descriptor from the platform, or to open a utun on macOS, use the platform's API or the
//! `tun-rs` crate (`into_raw_fd`), then hand it over as an [`OwnedFd`].
//!
//! The descriptor is switched to non-blocking mode and registered with the Tokio reactor of
//! the runtime that creates the device; it is closed when the device is dropped. Reads are
//! checked: a packet shorter than its header, or whose header names another family than its
//! IP version nibble, is dropped and counted ([`FdDevice::framing_errors`]), never handed to
//! the stack half-parsed.

use super::Device;
use std::fs::File;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// Length of utun's address-family header.
pub const AF_HEADER_LEN: usize = 4;

/// How packets are framed on the descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Framing {
    /// Bare IPv4 and IPv6 packets (Linux TUN with `IFF_NO_PI`, Android's `VpnService`).
    #[default]
    Raw,
    /// Each packet follows a 4-byte address-family header in network byte order (utun on
    /// iOS and macOS; the BSDs' `tun` in `TUNSIFHEAD` mode).
    AfHeader,
}

/// How to build an [`FdDevice`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdConfig {
    /// The largest IP packet the descriptor carries (the MTU the platform was told, e.g.
    /// `VpnService.Builder.setMtu`). Packets the stack sends are at most this long.
    pub mtu: usize,
    /// How packets are framed.
    pub framing: Framing,
}

impl Default for FdConfig {
    /// MTU 1500, bare packets.
    fn default() -> Self {
        FdConfig {
            mtu: 1500,
            framing: Framing::Raw,
        }
    }
}

/// Why a descriptor could not become a device.
#[derive(Debug, thiserror::Error)]
pub enum FdError {
    /// An MTU the stack cannot use.
    #[error("bad MTU {mtu}: use 576 to 65535 (1280 or more for IPv6)")]
    BadMtu {
        /// The rejected MTU.
        mtu: usize,
    },
    /// The descriptor could not be made non-blocking.
    #[error("making the descriptor non-blocking: {0}")]
    NonBlocking(#[source] io::Error),
    /// The descriptor could not be registered with the Tokio reactor: no runtime with I/O
    /// enabled on this thread, or a descriptor `epoll` does not take (a regular file).
    #[error(
        "registering the descriptor with the event loop (create the device inside a Tokio \
         runtime with I/O enabled, from a TUN or socket descriptor): {0}"
    )]
    Register(#[source] io::Error),
}

/// A [`Device`] over a descriptor that carries one IP packet per read and write.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::os::fd::{FromRawFd, OwnedFd};
/// use synack::net::{FdConfig, FdDevice, Framing};
/// use synack::runtime::Runtime;
///
/// let fd: i32 = 42; // from VpnService (Android) or the utun socket (iOS), via JNI or FFI
/// // SAFETY: the platform handed this descriptor over, open, for us to own.
/// let fd = unsafe { OwnedFd::from_raw_fd(fd) };
/// let cfg = FdConfig { mtu: 1500, framing: Framing::Raw };
/// let runtime = Runtime::builder()
///     .address([198, 18, 0, 2].into())
///     .build_with(move || FdDevice::new(fd, cfg).map_err(std::io::Error::other))?;
/// # Ok(())
/// # }
/// ```
pub struct FdDevice {
    fd: AsyncFd<File>,
    cfg: FdConfig,
    framing_errors: AtomicU64,
}

impl std::fmt::Debug for FdDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FdDevice")
            .field("fd", &self.fd.get_ref().as_raw_fd())
            .field("cfg", &self.cfg)
            .field("framing_errors", &self.framing_errors())
            .finish()
    }
}

impl FdDevice {
    /// Takes ownership of `fd`, makes it non-blocking and registers it with the current Tokio
    /// runtime's reactor (so call it inside one with I/O enabled, e.g. in the closure of
    /// [`Builder::build_with`](crate::runtime::Builder::build_with)).
    pub fn new(fd: OwnedFd, cfg: FdConfig) -> Result<FdDevice, FdError> {
        if !(576..=65535).contains(&cfg.mtu) {
            return Err(FdError::BadMtu { mtu: cfg.mtu });
        }
        set_nonblocking(&fd).map_err(FdError::NonBlocking)?;
        // SAFETY: the `File` owns the descriptor (moved in from `fd`) and closes it only when
        // dropped, which is after the `AsyncFd` that owns it deregisters; it is never replaced.
        let fd = unsafe { AsyncFd::register_with_interest(File::from(fd), Interest::READABLE) }
            .map_err(|e| FdError::Register(e.into()))?;
        Ok(FdDevice {
            fd,
            cfg,
            framing_errors: AtomicU64::new(0),
        })
    }

    /// How packets are framed on the descriptor.
    pub fn framing(&self) -> Framing {
        self.cfg.framing
    }

    /// Packets read and dropped because their framing was wrong: shorter than the header, or
    /// a header naming another family than the packet's IP version.
    pub fn framing_errors(&self) -> u64 {
        self.framing_errors.load(Ordering::Relaxed)
    }

    /// Reads one framed packet.
    fn recv_framed(&self, buf: &mut [u8]) -> io::Result<Received> {
        let mut file = self.fd.get_ref();
        let read = match self.cfg.framing {
            Framing::Raw => file.read(buf).map(Received::Packet),
            Framing::AfHeader => {
                let mut hdr = [0u8; AF_HEADER_LEN];
                let mut iov = [IoSliceMut::new(&mut hdr), IoSliceMut::new(buf)];
                file.read_vectored(&mut iov)
                    .map(|n| match n.checked_sub(AF_HEADER_LEN) {
                        Some(len) if header_matches(hdr, buf.get(..len).unwrap_or(&[])) => {
                            Received::Packet(len)
                        }
                        _ => Received::BadFraming,
                    })
            }
        };
        match read {
            Err(e) if would_block(&e) => Ok(Received::Nothing),
            r => r,
        }
    }
}

/// What one read of the descriptor gave.
enum Received {
    /// A packet of this length.
    Packet(usize),
    /// A packet dropped for its framing.
    BadFraming,
    /// Nothing to read now.
    Nothing,
}

/// The header utun puts before `packet`: its address family, from the IP version nibble.
fn af_header(packet: &[u8]) -> Option<[u8; AF_HEADER_LEN]> {
    let family = match packet.first()? >> 4 {
        4 => libc::AF_INET,
        6 => libc::AF_INET6,
        _ => return None,
    };
    u32::try_from(family).ok().map(u32::to_be_bytes)
}

/// Whether a received header names the family of the packet behind it.
fn header_matches(hdr: [u8; AF_HEADER_LEN], packet: &[u8]) -> bool {
    af_header(packet) == Some(hdr)
}

/// Whether a failed read or write means "not now" (utun says `ENOBUFS` when its queue is
/// full; Linux TUN says `EAGAIN`).
fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock || e.raw_os_error() == Some(libc::ENOBUFS)
}

fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    let raw = fd.as_raw_fd();
    // SAFETY: `fcntl` with F_GETFL/F_SETFL only reads and sets the descriptor's status flags;
    // `raw` is open for the duration of the call (borrowed from `fd`).
    let flags = unsafe { libc::fcntl(raw, libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(raw, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl Device for FdDevice {
    async fn readable(&self) -> io::Result<()> {
        // The driver reads until `try_recv` returns `None` after this completes, so the
        // readiness can be cleared here: a packet arriving later raises a new event.
        let mut guard = self.fd.readable().await?;
        guard.clear_ready();
        Ok(())
    }

    fn try_recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        // A packet dropped for its framing is skipped; every read consumes one, so this ends.
        loop {
            match self.recv_framed(buf)? {
                Received::Packet(n) => return Ok(Some(n)),
                Received::Nothing => return Ok(None),
                Received::BadFraming => {
                    self.framing_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    fn try_send(&self, packet: &[u8]) -> io::Result<bool> {
        let mut file = self.fd.get_ref();
        let sent = match self.cfg.framing {
            Framing::Raw => file.write(packet),
            Framing::AfHeader => {
                let Some(hdr) = af_header(packet) else {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        "not an IPv4 or IPv6 packet: no address family for its utun header",
                    ));
                };
                file.write_vectored(&[IoSlice::new(&hdr), IoSlice::new(packet)])
            }
        };
        match sent {
            Ok(_) => Ok(true),
            Err(e) if would_block(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn mtu(&self) -> usize {
        self.cfg.mtu
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utun_header_is_the_platform_address_family_in_network_byte_order() {
        let v4 = [0x45, 0, 0, 20];
        let v6 = [0x60, 0, 0, 0];
        assert_eq!(
            af_header(&v4),
            Some((libc::AF_INET as u32).to_be_bytes()),
            "AF_INET"
        );
        assert_eq!(af_header(&v6), Some((libc::AF_INET6 as u32).to_be_bytes()));
        assert_eq!(af_header(&[0x50]), None, "IP version 5 has no family");
        assert_eq!(af_header(&[]), None, "an empty packet has no family");
        assert!(header_matches((libc::AF_INET as u32).to_be_bytes(), &v4));
        assert!(!header_matches((libc::AF_INET6 as u32).to_be_bytes(), &v4));
    }
}
