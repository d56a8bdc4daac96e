//! The state shared by the runtime thread and every socket: the driver behind one lock, and who
//! waits for what.
//!
//! Every application call locks [`Core`], calls the [`Stack`], then [`Core::flush`]es: the
//! driver sends what the call queued and reads what arrived, and the stack's readiness
//! [`Event`]s wake exactly the tasks and threads waiting on the connections and listeners that
//! changed. A waiter registers (after its operation returned `WouldBlock`) before that flush,
//! under the same lock, so no wake-up is lost, and nothing is ever polled in a loop. Wakers are
//! only called once the lock is released ([`Shared::release`]): a woken task may run, or be
//! dropped, at once, and its socket's `Drop` takes the lock.

use super::waiters::Waiters;
use crate::net::{Clock, Device, Driver, DriverError, DriverStats};
use crate::stack::{ConnId, Event, ListenerId, Stack, StackError, UdpId};
use crate::time::Instant;
use crate::{tcp, udp};
use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};

/// What the core needs from a [`Driver`], whatever its device.
pub(crate) trait Drive: Send {
    fn poll(&mut self) -> Result<bool, DriverError>;
    fn stack(&self) -> &Stack;
    fn stack_mut(&mut self) -> &mut Stack;
    fn next_deadline(&self) -> Option<Instant>;
    fn clock(&self) -> Clock;
    fn flush_pcap(&mut self) -> Result<(), DriverError>;
    fn stats(&self) -> DriverStats;
}

impl<D: Device + Send> Drive for Driver<D> {
    fn poll(&mut self) -> Result<bool, DriverError> {
        Driver::poll(self)
    }
    fn stack(&self) -> &Stack {
        Driver::stack(self)
    }
    fn stack_mut(&mut self) -> &mut Stack {
        Driver::stack_mut(self)
    }
    fn next_deadline(&self) -> Option<Instant> {
        Driver::next_deadline(self)
    }
    fn clock(&self) -> Clock {
        *Driver::clock(self)
    }
    fn flush_pcap(&mut self) -> Result<(), DriverError> {
        Driver::flush_pcap(self)
    }
    fn stats(&self) -> DriverStats {
        Driver::stats(self)
    }
}

/// What an operation waits for when it would block.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Slot {
    /// Data, end of stream or an error on the connection.
    Read(ConnId),
    /// Send space, the end of the handshake, or an error on the connection.
    Write(ConnId),
    /// A connection in the listener's accept queue.
    Accept(ListenerId),
    /// The connection is CLOSED (reset, failed, or closed normally), and nothing else: what an
    /// in-place call waits on while its callback waits on something else.
    Closed(ConnId),
    /// A datagram (or an ICMP-reported error) queued on the UDP socket.
    UdpRead(UdpId),
    /// Room in the stack's UDP send queue.
    UdpWrite(UdpId),
    /// A new intercepted UDP flow's session to take.
    UdpAccept,
}

/// Waiters of one connection, by direction (a split stream reads and writes from two tasks).
#[derive(Debug, Default)]
struct ConnWaiters {
    read: Waiters,
    write: Waiters,
    closed: Waiters,
}

/// The driver and the waiters, behind the [`Shared`] lock.
pub(crate) struct Core {
    driver: Box<dyn Drive>,
    conns: HashMap<ConnId, ConnWaiters>,
    listeners: HashMap<ListenerId, Waiters>,
    udps: HashMap<UdpId, ConnWaiters>,
    udp_accept: Waiters,
    /// The deadline the runtime thread sleeps until; `None` while it sleeps without one.
    sleeping_until: Option<Instant>,
    /// Why the runtime stopped, once it has.
    stopped: Option<String>,
    /// Wakers to call once the lock is released.
    wakes: Vec<Waker>,
    /// The runtime thread must be woken once the lock is released (its deadline moved earlier).
    wake_runtime: bool,
    /// Times the runtime thread woke up.
    wakeups: u64,
}

impl Core {
    /// The current time on the driver's clock.
    pub(crate) fn now(&self) -> Instant {
        self.driver.clock().now()
    }

    /// The stack.
    pub(crate) fn stack(&self) -> &Stack {
        self.driver.stack()
    }

    /// The stack, for an application call; [`flush`](Self::flush) afterwards.
    pub(crate) fn stack_mut(&mut self) -> &mut Stack {
        self.driver.stack_mut()
    }

    /// The runtime's clock.
    pub(crate) fn clock(&self) -> Clock {
        self.driver.clock()
    }

    /// Fails once the runtime has stopped: nothing moves packets any more.
    pub(crate) fn check_running(&self) -> io::Result<()> {
        match &self.stopped {
            None => Ok(()),
            Some(why) => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                format!("synack runtime stopped: {why}"),
            )),
        }
    }

    /// Sends what the last calls queued, reads what arrived, runs due timers, and queues the
    /// wakers of whoever the resulting readiness events concern. If the next deadline moved
    /// before the one the runtime thread sleeps until, that thread is to be woken too.
    pub(crate) fn flush(&mut self) {
        if self.stopped.is_none()
            && let Err(e) = self.driver.poll()
        {
            tracing::error!(error = %e, "the device failed; the synack runtime stops");
            self.stop(e.to_string());
        }
        while let Some(ev) = self.driver.stack_mut().poll_event() {
            self.dispatch(ev);
        }
        let next = self.driver.next_deadline();
        if next.is_some_and(|n| self.sleeping_until.is_none_or(|s| n < s)) {
            self.wake_runtime = true;
        }
    }

    /// The runtime thread woke up (or started): flushes, and returns until when it sleeps next.
    pub(crate) fn prepare_sleep(&mut self) -> Option<Instant> {
        self.wakeups += 1;
        self.flush();
        self.sleeping_until = self.driver.next_deadline();
        self.wake_runtime = false;
        self.sleeping_until
    }

    /// Counters of the runtime thread and the device.
    pub(crate) fn stats(&self) -> super::RuntimeStats {
        super::RuntimeStats {
            wakeups: self.wakeups,
            device: self.driver.stats(),
        }
    }

    /// Whether the runtime has stopped.
    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.is_some()
    }

    /// Stops the runtime: every waiter is woken and every later call fails.
    pub(crate) fn stop(&mut self, why: String) {
        if self.stopped.is_none() {
            tracing::debug!(reason = %why, "synack runtime stopped");
            if let Err(e) = self.driver.flush_pcap() {
                tracing::warn!(error = %e, "flushing the pcap capture failed");
            }
            self.stopped = Some(why);
        }
        for w in self.conns.values_mut().chain(self.udps.values_mut()) {
            w.read.take_all(&mut self.wakes);
            w.write.take_all(&mut self.wakes);
            w.closed.take_all(&mut self.wakes);
        }
        for w in self.listeners.values_mut() {
            w.take_all(&mut self.wakes);
        }
        self.udp_accept.take_all(&mut self.wakes);
        self.wake_runtime = true;
    }

    fn dispatch(&mut self, ev: Event) {
        match ev {
            Event::Connection(id, r) => {
                let Some(w) = self.conns.get_mut(&id) else {
                    return;
                };
                if r.is_readable() || r.is_closed() {
                    w.read.take_all(&mut self.wakes);
                }
                if r.is_writable() || r.is_connected() || r.is_closed() {
                    w.write.take_all(&mut self.wakes);
                }
                if r.is_closed() {
                    w.closed.take_all(&mut self.wakes);
                }
            }
            Event::Acceptable(id) => {
                if let Some(w) = self.listeners.get_mut(&id) {
                    w.take_all(&mut self.wakes);
                }
            }
            Event::UdpAcceptable => self.udp_accept.take_all(&mut self.wakes),
            Event::Udp(id, r) => {
                let Some(w) = self.udps.get_mut(&id) else {
                    return;
                };
                if r.is_readable() {
                    w.read.take_all(&mut self.wakes);
                }
                if r.is_writable() {
                    w.write.take_all(&mut self.wakes);
                }
            }
        }
    }

    /// Starts tracking waiters of a UDP socket.
    pub(crate) fn add_udp(&mut self, id: UdpId) {
        self.udps.entry(id).or_default();
    }

    /// Forgets a UDP socket's waiters, returned to be dropped after the lock is released.
    #[must_use]
    pub(crate) fn remove_udp(&mut self, id: UdpId) -> Option<impl Sized + use<>> {
        self.udps.remove(&id)
    }

    /// Starts tracking waiters of a connection a socket now holds.
    pub(crate) fn add_conn(&mut self, id: ConnId) {
        self.conns.entry(id).or_default();
    }

    /// Forgets a connection's waiters (its socket is gone). They are returned to be dropped
    /// after the lock is released.
    #[must_use]
    pub(crate) fn remove_conn(&mut self, id: ConnId) -> Option<impl Sized + use<>> {
        self.conns.remove(&id)
    }

    /// Starts tracking waiters of a listener.
    pub(crate) fn add_listener(&mut self, id: ListenerId) {
        self.listeners.entry(id).or_default();
    }

    /// Forgets a listener's waiters, returned to be dropped after the lock is released.
    #[must_use]
    pub(crate) fn remove_listener(&mut self, id: ListenerId) -> Option<impl Sized + use<>> {
        self.listeners.remove(&id)
    }

    fn waiters(&mut self, slot: Slot) -> Option<&mut Waiters> {
        match slot {
            Slot::Read(id) => self.conns.get_mut(&id).map(|w| &mut w.read),
            Slot::Write(id) => self.conns.get_mut(&id).map(|w| &mut w.write),
            Slot::Closed(id) => self.conns.get_mut(&id).map(|w| &mut w.closed),
            Slot::UdpRead(id) => self.udps.get_mut(&id).map(|w| &mut w.read),
            Slot::UdpWrite(id) => self.udps.get_mut(&id).map(|w| &mut w.write),
            Slot::UdpAccept => Some(&mut self.udp_accept),
            Slot::Accept(id) => self.listeners.get_mut(&id),
        }
    }

    fn register(&mut self, slot: Slot, waker: &Waker) {
        let evicted = self.waiters(slot).and_then(|w| w.register(waker));
        self.wakes.extend(evicted);
    }

    fn deregister(&mut self, slot: Slot, waker: &Waker) {
        if let Some(w) = self.waiters(slot) {
            w.deregister(waker);
        }
    }
}

/// The lock around [`Core`] plus the runtime thread's wake-up.
pub(crate) struct Shared {
    core: Mutex<Core>,
    /// Wakes the runtime thread: a call moved the next deadline earlier, or shutdown.
    pub(crate) notify: tokio::sync::Notify,
    /// Names the tokio API resolves before asking the system.
    pub(crate) hosts: Option<Arc<super::Hosts>>,
}

/// An operation's outcome: `Err(StackError::Tcp(WouldBlock))` means wait on its [`Slot`].
pub(crate) type OpResult<T> = Result<T, StackError>;

fn would_block<T>(r: &OpResult<T>) -> bool {
    matches!(
        r,
        Err(StackError::Tcp(tcp::Error::WouldBlock) | StackError::Udp(udp::Error::WouldBlock))
    )
}

impl Shared {
    /// Shared state around a driver.
    pub(crate) fn new(driver: Box<dyn Drive>, hosts: Option<Arc<super::Hosts>>) -> Arc<Shared> {
        Arc::new(Shared {
            core: Mutex::new(Core {
                driver,
                conns: HashMap::new(),
                listeners: HashMap::new(),
                udps: HashMap::new(),
                udp_accept: Waiters::default(),
                sleeping_until: None,
                stopped: None,
                wakes: Vec::new(),
                wake_runtime: false,
                wakeups: 0,
            }),
            notify: tokio::sync::Notify::new(),
            hosts,
        })
    }

    /// Locks the core. A poisoned lock is taken anyway: no caller code runs under the lock, so
    /// a panic there cannot have left the stack half-updated by the caller.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Unlocks, then wakes whoever the work done under the lock made ready (and the runtime
    /// thread if its deadline moved earlier).
    pub(crate) fn release(&self, mut core: MutexGuard<'_, Core>) {
        let wakes = std::mem::take(&mut core.wakes);
        let wake_runtime = std::mem::replace(&mut core.wake_runtime, false);
        drop(core);
        wakes.into_iter().for_each(Waker::wake);
        if wake_runtime {
            self.notify.notify_one();
        }
    }

    /// Runs `f` on the stack, then flushes; fails if the runtime stopped.
    pub(crate) fn call<T>(&self, f: impl FnOnce(&mut Stack, Instant) -> T) -> io::Result<T> {
        let mut core = self.lock();
        if let Err(e) = core.check_running() {
            self.release(core);
            return Err(e);
        }
        let now = core.now();
        let r = f(core.stack_mut(), now);
        core.flush();
        self.release(core);
        Ok(r)
    }

    /// One attempt of `op` for an async caller: on `WouldBlock` the task's waker is registered
    /// on `slot` and the call is pending.
    pub(crate) fn poll_op<T>(
        &self,
        cx: &Context<'_>,
        slot: Slot,
        op: impl FnOnce(&mut Stack, Instant) -> OpResult<T>,
    ) -> Poll<io::Result<T>> {
        self.attempt(cx, |s, now| {
            let r = op(s, now);
            let wait = would_block(&r).then_some(slot);
            (r.map(|t| Poll::Ready(Ok(t))), wait)
        })
    }

    /// [`poll_op`](Self::poll_op) for an in-place call on connection `id`, whose callback may
    /// itself be pending on something else (`Ok(Pending)`): the task then waits for that, and
    /// also for the connection to close, so a reset is noticed even while the other side is
    /// stuck. `Err(WouldBlock)` waits on `slot` as `poll_op` does.
    pub(crate) fn poll_op_in_place<T>(
        &self,
        cx: &Context<'_>,
        slot: Slot,
        id: ConnId,
        op: impl FnOnce(&mut Stack, Instant) -> OpResult<Poll<io::Result<T>>>,
    ) -> Poll<io::Result<T>> {
        self.attempt(cx, |s, now| {
            let r = op(s, now);
            let wait = match &r {
                _ if would_block(&r) => Some(slot),
                Ok(Poll::Pending) => Some(Slot::Closed(id)),
                _ => None,
            };
            (r, wait)
        })
    }

    /// One attempt for an async caller: `op` runs on the stack and says which slot, if any,
    /// the task waits on; the waker is registered there before the flush (which may itself
    /// make the slot ready), and the call is then pending.
    fn attempt<T>(
        &self,
        cx: &Context<'_>,
        op: impl FnOnce(&mut Stack, Instant) -> (OpResult<Poll<io::Result<T>>>, Option<Slot>),
    ) -> Poll<io::Result<T>> {
        let mut core = self.lock();
        if let Err(e) = core.check_running() {
            self.release(core);
            return Poll::Ready(Err(e));
        }
        let now = core.now();
        let (r, wait) = op(core.stack_mut(), now);
        if let Some(slot) = wait {
            core.register(slot, cx.waker());
        }
        core.flush();
        self.release(core);
        match r {
            _ if wait.is_some() => Poll::Pending,
            Ok(r) => r,
            Err(e) => Poll::Ready(Err(e.into())),
        }
    }

    /// `op` for a blocking caller: retried each time `slot` becomes ready, until it does not
    /// block, `deadline` passes (`TimedOut`), or at once if `nonblocking` (`WouldBlock`).
    pub(crate) fn block_op<T>(
        &self,
        slot: Slot,
        deadline: Option<std::time::Instant>,
        nonblocking: bool,
        mut op: impl FnMut(&mut Stack, Instant) -> OpResult<T>,
    ) -> io::Result<T> {
        let parker = Arc::new(Parker::default());
        let waker = Waker::from(parker.clone());
        let result = loop {
            let mut core = self.lock();
            if let Err(e) = core.check_running() {
                self.release(core);
                break Err(e);
            }
            let now = core.now();
            let r = op(core.stack_mut(), now);
            let wait = would_block(&r) && !nonblocking;
            if wait {
                // Before flushing: the flush may itself make the slot ready.
                core.register(slot, &waker);
            }
            core.flush();
            self.release(core);
            if !would_block(&r) {
                break r.map_err(io::Error::from);
            }
            if !wait {
                break Err(io::ErrorKind::WouldBlock.into());
            }
            if !parker.park(deadline) {
                break Err(io::ErrorKind::TimedOut.into());
            }
        };
        let mut core = self.lock();
        core.deregister(slot, &waker);
        self.release(core);
        result
    }
}

/// Wakes a thread blocked in [`Shared::block_op`]: a flag and a condition variable of its own,
/// so a wake-up sent before the thread parks is kept, not lost.
#[derive(Default)]
struct Parker {
    woken: Mutex<bool>,
    cv: Condvar,
}

impl Parker {
    /// Sleeps until woken (`true`) or until `deadline` passes (`false`).
    fn park(&self, deadline: Option<std::time::Instant>) -> bool {
        let mut woken = self.woken.lock().unwrap_or_else(|e| e.into_inner());
        while !*woken {
            woken = match deadline {
                None => self.cv.wait(woken).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    let (g, _) = self
                        .cv
                        .wait_timeout(woken, left)
                        .unwrap_or_else(|e| e.into_inner());
                    g
                }
            };
        }
        *woken = false;
        true
    }
}

impl Wake for Parker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        *self.woken.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.cv.notify_all();
    }
}
