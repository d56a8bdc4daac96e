//! The [`Device`] abstraction: something IP packets are read from and written to.

use crate::wire::Checksum;
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

/// A network device carrying raw IP packets (no link-layer header).
///
/// The driver waits with [`readable`](Device::readable) and then reads with
/// [`try_recv`](Device::try_recv) until it returns `None`; writes never wait, because a
/// device that cannot take a packet right now drops it, like a full queue on a wire, and
/// TCP recovers.
pub trait Device {
    /// Completes when a packet may be ready to read. Spurious wake-ups are allowed; the future
    /// must be cancel-safe (dropping it loses nothing).
    fn readable(&self) -> impl Future<Output = io::Result<()>> + Send;

    /// Reads one packet into `buf` if one is ready: `Ok(Some(len))`, or `Ok(None)` if none is.
    fn try_recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>>;

    /// Writes one packet without waiting: `Ok(true)` if the device took it, `Ok(false)` if it
    /// would have blocked (the packet is dropped).
    fn try_send(&self, packet: &[u8]) -> io::Result<bool>;

    /// The largest IP packet the device carries.
    fn mtu(&self) -> usize;

    /// Like [`try_recv`](Device::try_recv), and also says whether the device vouches for the
    /// packet's TCP checksum ([`Checksum::Ignore`]: checked, or left partial by a sender on the
    /// same host) or the stack must verify it ([`Checksum::Verify`], the default). A device with
    /// receive offload may return TCP segments larger than the MTU.
    fn try_recv_offload(&self, buf: &mut [u8]) -> io::Result<Option<(usize, Checksum)>> {
        Ok(self.try_recv(buf)?.map(|n| (n, Checksum::Verify)))
    }

    /// Like [`try_send`](Device::try_send), for a packet that may be a TCP segment longer than
    /// the MTU (up to [`max_packet`](Device::max_packet)), which the device cuts into segments
    /// of `segment_size` payload bytes. The default sends the packet as it is.
    fn try_send_segmented(&self, packet: &[u8], segment_size: usize) -> io::Result<bool> {
        let _ = segment_size;
        self.try_send(packet)
    }

    /// The largest packet [`try_send_segmented`](Device::try_send_segmented) takes: above
    /// [`mtu`](Device::mtu) only for a device with segmentation offload.
    fn max_packet(&self) -> usize {
        self.mtu()
    }
}

/// Shared state of one direction of a [`MemoryDevice`] pair.
#[derive(Debug, Default)]
struct Queue {
    packets: Mutex<VecDeque<Vec<u8>>>,
    notify: Notify,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, VecDeque<Vec<u8>>> {
        // A poisoned lock only means another thread panicked mid-push; the queue is intact.
        self.packets.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One end of an in-process point-to-point link: what one end sends, the other reads.
///
/// Each direction holds at most `capacity` packets; further sends are dropped.
#[derive(Debug, Clone)]
pub struct MemoryDevice {
    rx: Arc<Queue>,
    tx: Arc<Queue>,
    capacity: usize,
    mtu: usize,
}

impl MemoryDevice {
    /// Two connected ends.
    pub fn pair(mtu: usize, capacity: usize) -> (MemoryDevice, MemoryDevice) {
        let a = Arc::new(Queue::default());
        let b = Arc::new(Queue::default());
        (
            MemoryDevice {
                rx: a.clone(),
                tx: b.clone(),
                capacity,
                mtu,
            },
            MemoryDevice {
                rx: b,
                tx: a,
                capacity,
                mtu,
            },
        )
    }
}

impl Device for MemoryDevice {
    fn readable(&self) -> impl Future<Output = io::Result<()>> + Send {
        let rx = self.rx.clone();
        async move {
            loop {
                let notified = rx.notify.notified();
                if !rx.lock().is_empty() {
                    return Ok(());
                }
                notified.await;
            }
        }
    }

    fn try_recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let Some(p) = self.rx.lock().pop_front() else {
            return Ok(None);
        };
        Ok(Some(copy_packet(&p, buf)))
    }

    fn try_send(&self, packet: &[u8]) -> io::Result<bool> {
        let mut q = self.tx.lock();
        if q.len() >= self.capacity {
            return Ok(false);
        }
        q.push_back(packet.to_vec());
        drop(q);
        self.tx.notify.notify_waiters();
        Ok(true)
    }

    fn mtu(&self) -> usize {
        self.mtu
    }
}

/// Copies `packet` into `buf` (cut short if `buf` is smaller, as a datagram read is); returns
/// the length copied.
pub(crate) fn copy_packet(packet: &[u8], buf: &mut [u8]) -> usize {
    let n = packet.len().min(buf.len());
    if let (Some(dst), Some(src)) = (buf.get_mut(..n), packet.get(..n)) {
        dst.copy_from_slice(src);
    }
    n
}
