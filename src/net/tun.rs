//! The Linux TUN device (`/dev/net/tun`, `IFF_TUN | IFF_NO_PI`): raw IPv4 and IPv6 packets.
//!
//! Opening creates the interface if it does not exist (it disappears when the last process
//! holding it closes it, unless it was made persistent with `ip tuntap`). With
//! [`TunConfig::kernel_addr`] the kernel's side of the link gets that address and prefix and
//! the link is brought up, so the kernel routes the prefix to the device; without it the
//! interface is left as it is, for the user to configure.
//!
//! With [`TunConfig::offload`] the device is opened with `IFF_VNET_HDR` and the TCP offloads
//! (see [`super::vnet`]), falling back to plain packets if the kernel refuses them.
//!
//! The `ioctl`s are in the `tun-rs` crate; the one `unsafe` here registers the descriptor with
//! Tokio's reactor.

use super::Device;
use super::vnet::{self, VNET_HDR_LEN, VnetHdr};
use crate::wire::Checksum;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::IpAddr;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// Packets the kernel queues for synack on a device it configures (`txqueuelen`; Linux's
/// default for TUN is 500). The device gives its senders no back-pressure: a packet that
/// finds the queue full is dropped, and each drop costs its sender a recovery, often a
/// retransmission timeout. A kernel sender bursts a whole window at once, and ten thousand
/// connections starting together burst ten thousand windows (even with offloads, where one
/// queued packet holds up to 64 KiB): 4,096 overflowed by tens of thousands of packets in
/// `bench/memory.sh`. A TCP sender's queued packets are clones sharing its send buffer, so a
/// deeper queue costs little memory for the bursts it absorbs.
const TX_QUEUE_LEN: u32 = 16384;

/// Most queues [`TunDevice::open_queues`] opens (Linux's `MAX_TAP_QUEUES`).
const MAX_QUEUES: usize = 256;

/// How to open a TUN device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunConfig {
    /// Interface name, e.g. `tun0` (at most 15 bytes).
    pub name: String,
    /// The kernel's address on the link and its prefix length; `None` leaves the interface's
    /// addresses, link state and queue length alone.
    pub kernel_addr: Option<(IpAddr, u8)>,
    /// The MTU to set along with the address (only with `kernel_addr`).
    pub mtu: u16,
    /// Ask for checksum and TCP segmentation offload (`IFF_VNET_HDR`, `TUNSETOFFLOAD` with
    /// `TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6`): the kernel then hands over and takes TCP
    /// segments of up to 64 KiB. If the kernel refuses, the device opens without them and says
    /// so as a `tracing` warning; [`TunDevice::offload`] tells which happened.
    pub offload: bool,
}

impl TunConfig {
    /// A configuration that opens `name` and leaves it unconfigured, MTU 1500, with checksum
    /// and segmentation offloads asked for (the fast path: 64 KiB segments both ways; a kernel
    /// that refuses them leaves the device without, as [`TunDevice::offload`] then says). Set
    /// [`offload`](Self::offload) to `false` to send and receive one MTU-sized packet at a time.
    pub fn new(name: impl Into<String>) -> Self {
        TunConfig {
            name: name.into(),
            kernel_addr: None,
            mtu: 1500,
            offload: true,
        }
    }
}

/// Why a TUN device could not be opened or configured.
#[derive(Debug, thiserror::Error)]
pub enum TunError {
    /// No permission to open `/dev/net/tun` or to create the interface.
    #[error(
        "no permission to open /dev/net/tun for {name}: CAP_NET_ADMIN is needed (run as root, \
         or inside a network namespace you own)"
    )]
    PermissionDenied {
        /// The interface name.
        name: String,
    },
    /// Another process holds the interface open.
    #[error("device {name} is busy: another process has it open")]
    Busy {
        /// The interface name.
        name: String,
    },
    /// `/dev/net/tun` does not exist (no TUN driver, or a container without the node).
    #[error("/dev/net/tun does not exist: the kernel has no TUN driver here")]
    NoDriver,
    /// The interface name is empty, too long or has invalid characters.
    #[error("bad interface name {name:?}: use 1 to 15 characters, no '/' or spaces")]
    BadName {
        /// The rejected name.
        name: String,
    },
    /// The prefix length is too long for the address family.
    #[error("bad prefix /{prefix} for {addr}: at most /32 for IPv4 and /128 for IPv6")]
    BadPrefix {
        /// The address.
        addr: IpAddr,
        /// The rejected prefix length.
        prefix: u8,
    },
    /// The interface exists with other flags than asked for: a TAP device, or a different
    /// multi-queue setting (one queue asked of a multi-queue device or the other way round).
    #[error(
        "device {name} exists with other flags (a TAP device, or another queue mode than asked): \
         delete it (ip link del {name}) or open it with as many queues as it was created with"
    )]
    Mismatch {
        /// The interface name.
        name: String,
    },
    /// A queue count of 0 or above 256 ([`TunDevice::open_queues`]).
    #[error("bad queue count {queues}: open 1 to 256 queues")]
    BadQueues {
        /// The rejected count.
        queues: usize,
    },
    /// Any other failure, with the step that failed.
    #[error("{step} {name}: {source}")]
    Io {
        /// What was being done.
        step: &'static str,
        /// The interface name.
        name: String,
        /// The system error.
        source: io::Error,
    },
}

/// An open TUN device.
///
/// Reads and writes go straight to the non-blocking descriptor; Tokio only reports
/// readability. (A readiness-gated write would drop the first packets: Tokio knows no
/// write readiness until the first event arrives.)
pub struct TunDevice {
    dev: AsyncFd<tun_rs::SyncDevice>,
    name: String,
    mtu: usize,
    /// Opened with `IFF_VNET_HDR` and the TCP offloads: every packet carries a
    /// [`VnetHdr`].
    offload: bool,
}

impl std::fmt::Debug for TunDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunDevice")
            .field("name", &self.name)
            .field("mtu", &self.mtu)
            .field("offload", &self.offload)
            .finish()
    }
}

/// One queue of an open TUN device, not yet registered with a Tokio reactor: it can move to
/// the thread whose runtime will drive it ([`TunDevice::open_queues`]).
pub struct TunQueue {
    dev: tun_rs::SyncDevice,
    name: String,
    mtu: usize,
    offload: bool,
}

impl std::fmt::Debug for TunQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunQueue")
            .field("name", &self.name)
            .field("mtu", &self.mtu)
            .field("offload", &self.offload)
            .finish()
    }
}

impl TunQueue {
    /// Registers the queue with the current Tokio runtime's reactor, making it a device.
    /// Must be called inside a Tokio runtime with I/O enabled.
    pub fn register(self) -> Result<TunDevice, TunError> {
        let TunQueue {
            dev,
            name,
            mtu,
            offload,
        } = self;
        // SAFETY: `SyncDevice` owns its descriptor, opened in `open_queues`, and closes it
        // only when dropped; it never replaces it, so the descriptor stays valid and the same
        // for as long as the `AsyncFd` owns the device.
        let dev =
            unsafe { AsyncFd::register_with_interest(dev, Interest::READABLE) }.map_err(|e| {
                TunError::Io {
                    step: "registering with the event loop",
                    name: name.clone(),
                    source: e.into(),
                }
            })?;
        Ok(TunDevice {
            dev,
            name,
            mtu,
            offload,
        })
    }
}

impl TunDevice {
    /// Opens (creating if absent) the interface and, with `kernel_addr`, configures it.
    /// Must be called inside a Tokio runtime with I/O enabled.
    pub fn open(cfg: &TunConfig) -> Result<TunDevice, TunError> {
        let mut queues = TunDevice::open_queues(cfg, 1)?;
        match queues.pop() {
            Some(q) => q.register(),
            None => Err(TunError::BadQueues { queues: 0 }),
        }
    }

    /// Opens the interface with `queues` queues (`IFF_MULTI_QUEUE`), for one stack per core:
    /// hand them to [`Builder::build_sharded`](crate::runtime::Builder::build_sharded)
    /// (`queues.into_iter().map(|q| move || q.register().map_err(io::Error::other))`), which
    /// runs a stack per queue on a thread of its own.
    ///
    /// The kernel picks the queue of each packet from the queue the flow's last packet was
    /// written on (for about 3 s, up to 4,096 flows), else from a hash of its addresses and
    /// ports seeded at random: a new connection's SYN, or a packet of one idle for a few
    /// seconds, may reach a queue other than the one its stack writes on. A sharded runtime
    /// hands such packets to the stack that owns the connection; stacks run on the queues by
    /// hand, each unaware of the others, would answer them with a RST. Unlike a single-queue
    /// device, a multi-queue one can be opened again by another process, which then takes a
    /// share of the flows. With `queues` = 1 this is [`open`](Self::open) without the
    /// registration. No runtime is needed here.
    ///
    /// Every queue of one device must be opened this way, all at once: a device created
    /// without `IFF_MULTI_QUEUE` cannot take a second queue. At most 256 queues (the kernel's
    /// limit is lower on some versions).
    pub fn open_queues(cfg: &TunConfig, queues: usize) -> Result<Vec<TunQueue>, TunError> {
        let name = cfg.name.clone();
        if !(1..=MAX_QUEUES).contains(&queues) {
            return Err(TunError::BadQueues { queues });
        }
        if name.is_empty()
            || name.len() > 15
            || name.contains(['/', ' ', '\0'])
            || name == "."
            || name == ".."
        {
            return Err(TunError::BadName { name });
        }
        if let Some((addr, prefix)) = cfg.kernel_addr {
            let max = if addr.is_ipv4() { 32 } else { 128 };
            if prefix > max {
                return Err(TunError::BadPrefix { addr, prefix });
            }
        }
        let (dev, offload) = open_device(&name, cfg.offload, queues > 1)?;
        let io = |step: &'static str| {
            let name = name.clone();
            move |source| TunError::Io { step, name, source }
        };
        if let Some((addr, prefix)) = cfg.kernel_addr {
            dev.set_mtu(cfg.mtu).map_err(io("setting the MTU of"))?;
            dev.set_tx_queue_len(TX_QUEUE_LEN)
                .map_err(io("setting the queue length of"))?;
            let added = match addr {
                IpAddr::V4(a) => dev.add_address_v4(a, prefix),
                IpAddr::V6(a) => dev.add_address_v6(a, prefix),
            };
            match added {
                Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                    return Err(TunError::PermissionDenied { name });
                }
                // Already there (a persistent device configured before): fine.
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
                r => r.map_err(io("adding the kernel address to"))?,
            }
            dev.enabled(true).map_err(io("bringing up"))?;
        }
        let mtu = dev.mtu().map_or(usize::from(cfg.mtu), usize::from);
        let mut devs = Vec::with_capacity(queues);
        for _ in 1..queues {
            devs.push(dev.try_clone().map_err(io("opening another queue of"))?);
        }
        devs.insert(0, dev);
        devs.into_iter()
            .map(|dev| {
                dev.set_nonblocking(true)
                    .map_err(io("making non-blocking"))?;
                Ok(TunQueue {
                    dev,
                    name: name.clone(),
                    mtu,
                    offload,
                })
            })
            .collect()
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the device runs with checksum and segmentation offload.
    pub fn offload(&self) -> bool {
        self.offload
    }

    /// Reads one packet with its `virtio_net_hdr` (offload only).
    fn recv_vnet(&self, buf: &mut [u8]) -> io::Result<Option<(usize, VnetHdr)>> {
        let mut hdr = [0u8; VNET_HDR_LEN];
        let mut iov = [IoSliceMut::new(&mut hdr), IoSliceMut::new(buf)];
        match self.dev.get_ref().recv_vectored(&mut iov) {
            Ok(n) => Ok(Some((
                n.saturating_sub(VNET_HDR_LEN),
                VnetHdr::decode(&hdr),
            ))),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes one packet after `hdr`, its first bytes taken from `head` (offload only).
    fn send_vnet(&self, hdr: &VnetHdr, head: &[u8], packet: &[u8]) -> io::Result<bool> {
        let hdr = hdr.encode();
        let rest = packet.get(head.len()..).unwrap_or(&[]);
        let iov = [IoSlice::new(&hdr), IoSlice::new(head), IoSlice::new(rest)];
        match self.dev.get_ref().send_vectored(&iov) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Opens the device, with offloads if asked and the kernel allows them; returns whether they
/// are on.
fn open_device(
    name: &str,
    offload: bool,
    multi_queue: bool,
) -> Result<(tun_rs::SyncDevice, bool), TunError> {
    let build = |offload: bool| {
        tun_rs::DeviceBuilder::new()
            .name(name)
            .layer(tun_rs::Layer::L3)
            .inherit_enable_state()
            .offload(offload)
            .multi_queue(multi_queue)
            .build_sync()
    };
    if offload {
        match build(true).map_err(|e| open_error(name, e)) {
            Ok(dev) => return Ok((dev, true)),
            Err(
                e @ (TunError::PermissionDenied { .. }
                | TunError::Busy { .. }
                | TunError::NoDriver
                | TunError::Mismatch { .. }),
            ) => return Err(e),
            Err(e) => tracing::warn!(
                interface = name,
                error = %e,
                "the kernel refused TUN offloads; continuing without them \
                 (one packet per MTU, checksums in software)"
            ),
        }
    }
    let dev = build(false).map_err(|e| open_error(name, e))?;
    Ok((dev, false))
}

fn open_error(name: &str, e: io::Error) -> TunError {
    let name = name.to_owned();
    match e.raw_os_error() {
        Some(libc::EPERM | libc::EACCES) => TunError::PermissionDenied { name },
        Some(libc::EBUSY) => TunError::Busy { name },
        Some(libc::ENOENT | libc::ENODEV) => TunError::NoDriver,
        // The name was checked before opening; the kernel's EINVAL is then about the flags.
        Some(libc::EINVAL) => TunError::Mismatch { name },
        _ => TunError::Io {
            step: "opening",
            name,
            source: e,
        },
    }
}

impl Device for TunDevice {
    async fn readable(&self) -> io::Result<()> {
        // The driver reads until `try_recv` returns `None` after this completes, so the
        // readiness can be cleared here: a packet arriving later raises a new event.
        let mut guard = self.dev.readable().await?;
        guard.clear_ready();
        Ok(())
    }

    fn try_recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        if self.offload {
            // A caller that cannot take a partial checksum gets it completed here; a
            // super-segment stays one packet.
            return Ok(self.recv_vnet(buf)?.map(|(n, hdr)| {
                if let Some(p) = buf.get_mut(..n) {
                    hdr.finish_checksum(p);
                }
                n
            }));
        }
        match self.dev.get_ref().recv(buf) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn try_recv_offload(&self, buf: &mut [u8]) -> io::Result<Option<(usize, Checksum)>> {
        if !self.offload {
            return Ok(self.try_recv(buf)?.map(|n| (n, Checksum::Verify)));
        }
        Ok(self.recv_vnet(buf)?.map(|(n, hdr)| {
            let csum = if hdr.checksum_trusted() {
                Checksum::Ignore
            } else {
                Checksum::Verify
            };
            (n, csum)
        }))
    }

    fn try_send_segmented(&self, packet: &[u8], segment_size: usize) -> io::Result<bool> {
        if !self.offload {
            return self.try_send(packet);
        }
        let mut head = [0u8; vnet::MAX_HEADERS];
        let (hdr, n) = vnet::for_transmit(packet, self.mtu, segment_size, &mut head);
        self.send_vnet(&hdr, head.get(..n).unwrap_or(&[]), packet)
    }

    fn max_packet(&self) -> usize {
        if self.offload { 65535 } else { self.mtu }
    }

    fn try_send(&self, packet: &[u8]) -> io::Result<bool> {
        if self.offload {
            return self.send_vnet(&VnetHdr::default(), &[], packet);
        }
        match self.dev.get_ref().send(packet) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn mtu(&self) -> usize {
        self.mtu
    }
}
