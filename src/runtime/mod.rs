//! The runtime: a [`Stack`] on any [`Device`], driven on a background thread, shared by the
//! [`blocking`](crate::blocking) and [`tokio_net`](crate::tokio_net) sockets.
//!
//! [`Builder::build`] moves a [`Driver`] into shared state and starts a thread running a
//! current-thread Tokio runtime that waits for the device, the stack's next timer, or a wake-up
//! from an application call; [`Builder::spawn`] runs the same loop as a task on the
//! application's own Tokio runtime instead (no second thread, no cross-thread wake-ups: the
//! fast choice for a forwarder on a `current_thread` runtime). Sockets call the stack directly under one lock (so a `write` sends
//! its segment at once, on the caller's thread), and the stack's readiness events
//! ([`Stack::poll_event`]) wake exactly the tasks and threads waiting on what changed: Tokio
//! wakers for async sockets, a condition variable for blocking ones. Nothing polls in a loop.
//!
//! Any [`Device`] works: [`TunDevice`](crate::net::TunDevice) for the kernel,
//! [`MemoryDevice`](crate::net::MemoryDevice) for two stacks in one process, or your own (see
//! `examples/channel_device.rs`). Packet loss, delay and reordering between the device and the
//! stack come from [`Builder::impair`]; a capture from [`Builder::pcap`]. A device's
//! `try_recv` and `try_send` run under the stack's lock, on the runtime thread or on whichever
//! application thread just made a call, so they must not wait, and must not call synack's
//! sockets (that would deadlock); `readable` runs on the runtime thread only, without the lock.
//!
//! Dropping the [`Runtime`] stops the thread; sockets still open then fail with
//! `NotConnected`.

mod core;
mod shard;
pub(crate) mod socket;
pub(crate) mod udp;
mod waiters;

use crate::net::{Clock, Device, Driver, DriverOptions, DriverStats, ImpairConfig, PcapWriter};
use crate::stack::{Secret, Stack, StackConfig};
use crate::time::Instant;
use crate::wire::Checksum;
use core::Shared;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

pub use shard::{HANDOVER_QUEUE, ShardStats, Sharded};

/// A device shared by the driver (which reads and writes it under the lock) and the runtime
/// thread (which waits on it without the lock).
impl<D: Device + Send + Sync> Device for Arc<D> {
    fn readable(&self) -> impl Future<Output = io::Result<()>> + Send {
        (**self).readable()
    }
    fn try_recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        (**self).try_recv(buf)
    }
    fn try_send(&self, packet: &[u8]) -> io::Result<bool> {
        (**self).try_send(packet)
    }
    fn mtu(&self) -> usize {
        (**self).mtu()
    }
    // The offload methods must be forwarded too: their defaults would hide a TUN device's
    // segmentation and checksum offloads from the driver (1,500-byte writes instead of 64 KiB).
    fn try_recv_offload(&self, buf: &mut [u8]) -> io::Result<Option<(usize, Checksum)>> {
        (**self).try_recv_offload(buf)
    }
    fn try_send_segmented(&self, packet: &[u8], segment_size: usize) -> io::Result<bool> {
        (**self).try_send_segmented(packet, segment_size)
    }
    fn max_packet(&self) -> usize {
        (**self).max_packet()
    }
}

/// Configures and starts a [`Runtime`].
#[derive(Debug, Default)]
pub struct Builder {
    cfg: StackConfig,
    addrs: Vec<IpAddr>,
    options: DriverOptions,
    secret: Option<Secret>,
    hosts: Option<Arc<Hosts>>,
}

impl Builder {
    /// A builder with the default [`StackConfig`] and no address.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Adds an address the stack owns (at least one is needed to connect or to be reached).
    pub fn address(mut self, addr: IpAddr) -> Builder {
        self.addrs.push(addr);
        self
    }

    /// Replaces the stack configuration.
    pub fn stack_config(mut self, cfg: StackConfig) -> Builder {
        self.cfg = cfg;
        self
    }

    /// Keys the stack with this secret instead of random bytes from the OS (for
    /// reproducible captures only: a known secret makes ISNs, ephemeral ports and the demux
    /// table's hash predictable and SYN cookies forgeable; see [`Secret`]).
    pub fn secret(mut self, secret: Secret) -> Builder {
        self.secret = Some(secret);
        self
    }

    /// Impairs packets between the device and the stack, both ways, seeded, with the
    /// simulator's link model: loss, delay, jitter, duplication, corruption, truncation, a
    /// bottleneck rate and its buffer (see [`ImpairConfig`]). The stack then sends wire-sized
    /// segments, not 64 KiB ones, even on a device with segmentation offload.
    pub fn impair(mut self, cfg: ImpairConfig) -> Builder {
        self.options.impair = Some(cfg);
        self
    }

    /// Records every packet crossing the device.
    pub fn pcap(mut self, writer: PcapWriter) -> Builder {
        self.options.pcap = Some(writer);
        self
    }

    /// Streams every connection's sender view (congestion window, ssthresh, bytes in
    /// flight, RTT, RTO, congestion phase, state), one event per change, as qlog JSON-SEQ
    /// on the runtime's clock (the clock of [`pcap`](Self::pcap)).
    pub fn qlog(mut self, writer: crate::qlog::QlogWriter) -> Builder {
        self.options.qlog = Some(writer);
        self
    }

    /// A table of host names the tokio API resolves before the system's resolver (see
    /// [`Hosts`]).
    pub fn hosts(mut self, hosts: Arc<Hosts>) -> Builder {
        self.hosts = Some(hosts);
        self
    }

    /// The clock the stack runs on (by default one started when the runtime starts, stamping
    /// captures with the wall-clock time). [`Clock::with_unix_start`] gives captures fixed
    /// stamps, for runs in virtual time that must write identical files.
    pub fn clock(mut self, clock: Clock) -> Builder {
        self.options.clock = Some(clock);
        self
    }

    /// Starts the stack on `device` in a background thread.
    pub fn build<D: Device + Send + Sync + 'static>(self, device: D) -> io::Result<Runtime> {
        self.build_with(move || Ok(device))
    }

    /// Starts the stack as a task on the current Tokio runtime instead of a thread of its own.
    ///
    /// The stack's task and the application's tasks then share the runtime's threads: waking
    /// a socket's task is a push onto a run queue rather than a wake-up of another thread, and
    /// the device's readiness comes from the same reactor as the application's own sockets.
    /// On a `current_thread` runtime this is the fastest way to run synack (a forwarder
    /// splicing intercepted connections to kernel sockets moves twice the data this way); with
    /// a thread of its own ([`build`](Self::build)), the stack keeps running while the
    /// application's tasks are busy. Blocking sockets still work from other threads, but must
    /// not be used on the runtime's own threads (they would block the stack's task too).
    ///
    /// Must be called from within a Tokio runtime (`ErrorKind::Other` otherwise). A device
    /// that registers with a reactor (such as [`TunDevice`](crate::net::TunDevice)) is opened
    /// on this runtime beforehand. Dropping the [`Runtime`] stops the task.
    pub fn spawn<D: Device + Send + Sync + 'static>(self, device: D) -> io::Result<Runtime> {
        let rt = tokio::runtime::Handle::try_current().map_err(|_| {
            io::Error::other(
                "synack::runtime::Builder::spawn must be called within a Tokio runtime \
                 (use Builder::build for a runtime thread of its own)",
            )
        })?;
        let device = Arc::new(device);
        let shared = self.shared(device.clone())?;
        // Detached: the task ends by itself once the Runtime is dropped.
        rt.spawn(run(shared.clone(), device));
        Ok(Runtime {
            handle: Handle {
                shared,
                shard: None,
            },
            thread: None,
        })
    }

    /// The stack and its driver on `device`, ready to run. The stack's secret is the one
    /// [`secret`](Self::secret) set, else random bytes from the OS.
    fn shared<D: Device + Send + Sync + 'static>(self, device: Arc<D>) -> io::Result<Arc<Shared>> {
        let secret = match self.secret {
            Some(s) => s,
            None => crate::net::random_secret()?,
        };
        let mut stack = Stack::new(self.cfg, secret, &self.addrs);
        stack.set_events(true);
        let driver = Driver::new(stack, device, self.options);
        Ok(Shared::new(Box::new(driver), self.hosts))
    }

    /// Starts the stack in a background thread on the device `open` returns. `open` runs on
    /// that thread inside its Tokio runtime, as devices registered with a Tokio reactor (such
    /// as [`TunDevice`](crate::net::TunDevice)) must be; its error is returned here.
    pub fn build_with<D, F>(self, open: F) -> io::Result<Runtime>
    where
        D: Device + Send + Sync + 'static,
        F: FnOnce() -> io::Result<D> + Send + 'static,
    {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("synack-runtime".into())
            .spawn(move || {
                let opened = {
                    let _context = rt.enter();
                    open()
                };
                let device = match opened {
                    Ok(d) => Arc::new(d),
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                let shared = match self.shared(device.clone()) {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                if tx.send(Ok(shared.clone())).is_ok() {
                    rt.block_on(run(shared, device));
                }
            })?;
        let started = rx.recv().unwrap_or_else(|_| {
            Err(io::Error::other(
                "the synack runtime thread failed to start",
            ))
        });
        match started {
            Ok(shared) => Ok(Runtime {
                handle: Handle {
                    shared,
                    shard: None,
                },
                thread: Some(thread),
            }),
            Err(e) => {
                let _ = thread.join();
                Err(e)
            }
        }
    }
}

/// The runtime thread: flush, then sleep until the device is readable, the next deadline
/// passes, or an application call moves that deadline earlier.
async fn run<D: Device + Send + Sync>(shared: Arc<Shared>, device: Arc<D>) {
    loop {
        let notified = shared.notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let (deadline, clock) = {
            let mut core = shared.lock();
            if core.is_stopped() {
                shared.release(core);
                return;
            }
            let sleep = (core.prepare_sleep(), core.clock());
            shared.release(core);
            sleep
        };
        let sleep = async {
            match deadline {
                Some(t) => tokio::time::sleep_until(clock.to_tokio(t)).await,
                None => std::future::pending().await,
            }
        };
        // Biased: the same order every turn, so a run in virtual time repeats exactly (each
        // branch only ends the wait; the next turn does whatever is due).
        tokio::select! {
            biased;
            r = device.readable() => {
                if let Err(e) = r {
                    let mut core = shared.lock();
                    core.stop(format!("device: {e}"));
                    shared.release(core);
                    return;
                }
            }
            () = sleep => {}
            () = &mut notified => {}
        }
    }
}

/// A cheap, cloneable reference to a running stack; sockets are created from it.
///
/// A [`Runtime`] dereferences to its `Handle`, so `&runtime` works wherever `&Handle` is asked.
#[derive(Clone)]
pub struct Handle {
    pub(crate) shared: Arc<Shared>,
    /// The shards this handle stands for, on a [`Sharded`] runtime.
    pub(crate) shard: Option<shard::ShardRef>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle").finish_non_exhaustive()
    }
}

impl Handle {
    /// The host table names are resolved in first, if the runtime has one.
    pub fn hosts(&self) -> Option<&Hosts> {
        self.shared.hosts.as_deref()
    }

    /// Runs `f` on the stack (at the runtime clock's current time) and sends whatever it
    /// queued: for inspection (counters, connection states) and for calls the socket types do
    /// not wrap. Fails if the runtime stopped.
    pub fn with_stack<T>(&self, f: impl FnOnce(&mut Stack, Instant) -> T) -> io::Result<T> {
        self.shared.call(f)
    }

    /// The addresses the stack owns.
    pub fn addresses(&self) -> Vec<IpAddr> {
        self.shared.lock().stack().addresses().to_vec()
    }

    /// Counters of the runtime thread and the packets crossing the device.
    pub fn stats(&self) -> RuntimeStats {
        self.shared.lock().stats()
    }
}

/// Counters of a [`Runtime`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuntimeStats {
    /// Times the background thread woke up: for the device, a timer, or an application call
    /// that moved the next timer earlier. An idle stack does not wake (nothing polls).
    pub wakeups: u64,
    /// Packets and bytes read from and written to the device.
    pub device: DriverStats,
}

/// A running stack: its background thread and a [`Handle`] to it. Dropping it stops the thread.
#[derive(Debug)]
pub struct Runtime {
    handle: Handle,
    /// The stack's thread ([`Builder::build`]); `None` for a task ([`Builder::spawn`]).
    thread: Option<JoinHandle<()>>,
}

impl Runtime {
    /// A [`Builder`].
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// A handle to the stack, to create sockets with from anywhere.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl std::ops::Deref for Runtime {
    type Target = Handle;
    fn deref(&self) -> &Handle {
        &self.handle
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let shared = &self.handle.shared;
        let mut core = shared.lock();
        core.stop("the Runtime was dropped".into());
        shared.release(core);
        // A thread is joined; a task ends by itself at its next turn (it sees the stop), and
        // cannot be waited for here, as this may run on the task's own runtime thread.
        // Not from the runtime's own thread, though: a thread cannot wait for itself (it
        // ends by itself once this returns and its loop sees the stop).
        if let Some(t) = self.thread.take()
            && t.thread().id() != std::thread::current().id()
        {
            let _ = t.join();
        }
    }
}

/// A static table of host names, consulted by the tokio API's `connect`, `bind` and
/// `send_to` before the system's resolver: `/etc/hosts` for one runtime. The
/// [`simulation`](crate::simulation) gives every host one with all the simulated hosts' names,
/// [`closed`](Self::closed) so that no name ever reaches a real resolver.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hosts {
    names: std::collections::BTreeMap<String, Vec<IpAddr>>,
    closed: bool,
}

impl Hosts {
    /// An empty, open table.
    pub fn new() -> Hosts {
        Hosts::default()
    }

    /// Adds `addr` to `name`'s addresses (tried in the order added).
    pub fn insert(&mut self, name: impl Into<String>, addr: IpAddr) {
        self.names.entry(name.into()).or_default().push(addr);
    }

    /// A table that answers every name itself: a name it lacks fails with `NotFound` instead of
    /// going to the system's resolver.
    pub fn closed(mut self) -> Hosts {
        self.closed = true;
        self
    }

    /// Whether names missing from the table fail rather than go to the system's resolver.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// `name`'s addresses, if the table has it.
    pub fn get(&self, name: &str) -> Option<&[IpAddr]> {
        self.names.get(name).map(Vec::as_slice)
    }
}
