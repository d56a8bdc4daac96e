//! Deterministic simulation of your own programs, over synack's real TCP, in virtual time.
//!
//! A [`Simulation`] is a network of named hosts joined by seeded links (loss, delay, jitter,
//! duplication, corruption, bandwidth, MTU: the simulator's [`LinkConfig`]). Each host runs a
//! real synack stack, and your `async` programs on it use the ordinary
//! [`tokio_net`](crate::tokio_net) sockets through the host's [`Handle`], so the same code runs
//! on a TUN device in production. Host names resolve (`"server:80"`) through a closed
//! [`Hosts`] table. Everything runs on one thread on Tokio's paused clock: time jumps to the
//! next timer whenever every task waits, so a minute of retransmissions takes milliseconds,
//! and the same seed gives the same run, packet for packet, on any machine.
//!
//! ```
//! use std::time::Duration;
//! use synack::sim::LinkConfig;
//! use synack::simulation::Simulation;
//! use synack::tokio_net::{TcpListener, TcpStream};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! let mut sim = Simulation::new(7);
//! sim.link_all(LinkConfig::default().with_delay(Duration::from_millis(20)).with_loss(0.1));
//! sim.host("server", |host| async move {
//!     let listener = TcpListener::bind(host.handle(), "0.0.0.0:7").await?;
//!     loop {
//!         let (mut stream, _) = listener.accept().await?;
//!         host.spawn(async move {
//!             let (mut r, mut w) = stream.split();
//!             tokio::io::copy(&mut r, &mut w).await?;
//!             w.shutdown().await
//!         });
//!     }
//! });
//! sim.client("client", |host| async move {
//!     let mut stream = TcpStream::connect(host.handle(), "server:7").await?;
//!     stream.write_all(&[42; 100_000]).await?;
//!     stream.shutdown().await?;
//!     let mut back = Vec::new();
//!     stream.read_to_end(&mut back).await?;
//!     assert_eq!(back, vec![42; 100_000]);
//!     Ok(())
//! });
//! let report = sim.run().expect("the run succeeds");
//! assert!(report.net.lost > 0, "10% loss, and TCP recovered from it");
//! ```
//!
//! Faults come from any program at any virtual time through [`Host::control`]: partition and
//! repair, hold and release, crash and restart a host, change a link. A failed run returns a
//! [`SimError`] with the seed and the command that replays it (`SYNACK_SIM_SEED=…`, which
//! overrides the seed given to [`Simulation::new`]).
//!
//! Determinism holds for what synack and the simulation control. Programs must not read the
//! system's clock or randomness, nor spawn threads; `tokio::select!` picks among ready
//! branches at random unless written with `biased;`. Libraries do too: hyper's server stamps
//! a `Date` header from the system clock unless built with `auto_date_header(false)`, and
//! rustls draws real random numbers, so TLS runs repeat in behaviour but not byte for byte.
//!
//! `SYNACK_SIM_SEED` replaces the seed of *every* simulation the process runs: a test that
//! loops over seeds then runs one seed each time.

mod world;

pub use world::NetStats;

use crate::net::Clock;
use crate::runtime::{Handle, Hosts, Runtime};
use crate::sim::LinkConfig;
use crate::stack::{Secret, StackConfig};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::{AbortHandle, JoinHandle};
use world::{Net, SimDevice};

/// The environment variable that replaces the seed given to [`Simulation::new`].
pub const SEED_VAR: &str = "SYNACK_SIM_SEED";

/// Capture timestamps start here (2026-01-01T00:00:00Z), the same in every run.
const PCAP_EPOCH: Duration = Duration::from_secs(1_767_225_600);

type Program = Rc<dyn Fn(Host) -> Pin<Box<dyn Future<Output = io::Result<()>>>>>;
type ClientProgram = Box<dyn FnOnce(Host) -> Pin<Box<dyn Future<Output = io::Result<()>>>>>;

struct HostSpec {
    name: String,
    addr: IpAddr,
    program: Option<Program>,
}

/// A network of simulated hosts and the programs they run; see the [module](self) docs.
pub struct Simulation {
    seed: u64,
    hosts: Vec<HostSpec>,
    clients: Vec<(usize, ClientProgram)>,
    default_link: LinkConfig,
    links: BTreeMap<(usize, usize), LinkConfig>,
    time_limit: Duration,
    settle: Duration,
    stack: StackConfig,
    pcap_dir: Option<PathBuf>,
    qlog_dir: Option<PathBuf>,
    replay: Option<String>,
}

impl std::fmt::Debug for Simulation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulation")
            .field("seed", &self.seed)
            .field("hosts", &self.hosts.len())
            .field("clients", &self.clients.len())
            .finish_non_exhaustive()
    }
}

/// How a successful run went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Report {
    /// The seed it ran with.
    pub seed: u64,
    /// Virtual time from the start until the last client finished (the
    /// [`settle`](Simulation::settle) time after it not included).
    pub elapsed: Duration,
    /// What the network did with the packets.
    pub net: NetStats,
}

/// Why a run failed: the seed, the virtual time, what failed, and how to replay it.
#[derive(Debug, thiserror::Error)]
#[error(
    "simulation failed at {:.3} s of virtual time: {what}\n  seed {seed}; replay with: {replay}",
    at.as_secs_f64()
)]
pub struct SimError {
    /// The seed of the run.
    pub seed: u64,
    /// The virtual time of the failure.
    pub at: Duration,
    /// What failed: a client's or a host program's error or panic, or the time limit.
    pub what: String,
    /// A command that runs the same simulation again with the same seed.
    pub replay: String,
}

impl Simulation {
    /// An empty simulation seeded with `seed`, or with `SYNACK_SIM_SEED` if that is set.
    /// Links are ideal until [`link_all`](Self::link_all) or [`link`](Self::link) say
    /// otherwise; runs stop after 10 minutes of virtual time.
    pub fn new(seed: u64) -> Simulation {
        let seed = std::env::var(SEED_VAR)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(seed);
        Simulation {
            seed,
            hosts: Vec::new(),
            clients: Vec::new(),
            default_link: LinkConfig::default(),
            links: BTreeMap::new(),
            time_limit: Duration::from_secs(600),
            settle: Duration::from_secs(1),
            stack: StackConfig::default(),
            pcap_dir: None,
            qlog_dir: None,
            replay: None,
        }
    }

    /// The seed this simulation runs with.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Every link, both ways, unless [`link`](Self::link) set it.
    pub fn link_all(&mut self, cfg: LinkConfig) -> &mut Self {
        self.default_link = cfg;
        self
    }

    /// The links between hosts `a` and `b`, both ways (hosts are added if new).
    pub fn link(&mut self, a: &str, b: &str, cfg: LinkConfig) -> &mut Self {
        let (a, b) = (self.host_index(a), self.host_index(b));
        self.links.insert((a, b), cfg.clone());
        self.links.insert((b, a), cfg);
        self
    }

    /// The stack configuration of every host.
    pub fn stack_config(&mut self, cfg: StackConfig) -> &mut Self {
        self.stack = cfg;
        self
    }

    /// The longest a run may take in virtual time before it fails.
    pub fn time_limit(&mut self, limit: Duration) -> &mut Self {
        self.time_limit = limit;
        self
    }

    /// The command a failed run prints to replay it, `{seed}` standing for the seed (e.g.
    /// `"cargo run --example sim -- --seed {seed}"`). By default, inside a test, the test's
    /// own `cargo test` command with `SYNACK_SIM_SEED` set.
    pub fn replay_command(&mut self, command: impl Into<String>) -> &mut Self {
        self.replay = Some(command.into());
        self
    }

    /// How long the network keeps running after the last client finished (1 s by default),
    /// so that closing handshakes complete in the captures and the counters.
    pub fn settle(&mut self, d: Duration) -> &mut Self {
        self.settle = d;
        self
    }

    /// Writes a capture per host into `dir`: `NAME.pcap`, and `NAME.N.pcap` for its Nth
    /// restart. Stamps are virtual time from a fixed epoch, so equal runs write equal files.
    pub fn pcap_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.pcap_dir = Some(dir.into());
        self
    }

    /// Writes each host's sender view (every connection's congestion window, bytes in
    /// flight, RTT, congestion phase and state, one event per change) into `dir` as qlog
    /// JSON-SEQ: `NAME.qlog`, and `NAME.N.qlog` for its Nth restart, on the captures' clock.
    pub fn qlog_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.qlog_dir = Some(dir.into());
        self
    }

    fn host_index(&mut self, name: &str) -> usize {
        if let Some(i) = self.hosts.iter().position(|h| h.name == name) {
            return i;
        }
        let i = self.hosts.len();
        // 198.18.0.1, 198.18.0.2, …: the benchmarking range (RFC 2544), 131,070 hosts.
        let n = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let addr = Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 0)) + n);
        self.hosts.push(HostSpec {
            name: name.to_owned(),
            addr: IpAddr::V4(addr),
            program: None,
        });
        i
    }

    /// The address of host `name` (added if new).
    pub fn addr(&mut self, name: &str) -> IpAddr {
        let i = self.host_index(name);
        self.hosts[i].addr
    }

    /// A host that runs `program` from the start, and again each time it is restarted after
    /// a crash ([`Control::crash`], [`Control::restart`]). A program that returns an error or
    /// panics fails the run; one that returns `Ok` leaves the host up, its stack answering.
    pub fn host<F, Fut>(&mut self, name: &str, program: F) -> &mut Self
    where
        F: Fn(Host) -> Fut + 'static,
        Fut: Future<Output = io::Result<()>> + 'static,
    {
        let i = self.host_index(name);
        self.hosts[i].program = Some(Rc::new(move |h| Box::pin(program(h))));
        self
    }

    /// A client: `program` runs once on host `name` (added if new). The run ends when every
    /// client has returned `Ok`, and fails as soon as one returns an error or panics.
    pub fn client<F, Fut>(&mut self, name: &str, program: F) -> &mut Self
    where
        F: FnOnce(Host) -> Fut + 'static,
        Fut: Future<Output = io::Result<()>> + 'static,
    {
        let i = self.host_index(name);
        self.clients
            .push((i, Box::new(move |h| Box::pin(program(h)))));
        self
    }

    /// Runs until every client has finished, one fails, or the time limit passes.
    pub fn run(self) -> Result<Report, SimError> {
        let seed = self.seed;
        let replay = replay_command(seed, self.replay.as_deref());
        let fail = |at: Duration, what: String| SimError {
            seed,
            at,
            what,
            replay: replay.clone(),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .map_err(|e| fail(Duration::ZERO, format!("starting the runtime: {e}")))?;
        let local = tokio::task::LocalSet::new();
        local.block_on(&rt, self.run_inner())
    }

    async fn run_inner(self) -> Result<Report, SimError> {
        let start = tokio::time::Instant::now();
        let seed = self.seed;
        let replay = replay_command(seed, self.replay.as_deref());
        let fail = move |what: String| SimError {
            seed,
            at: start.elapsed(),
            what,
            replay: replay.clone(),
        };
        let mut names = Hosts::new();
        let mut routes = BTreeMap::new();
        for (i, h) in self.hosts.iter().enumerate() {
            names.insert(h.name.clone(), h.addr);
            routes.insert(h.addr, i);
        }
        let net = Net::new(
            seed,
            self.default_link,
            self.links.clone(),
            routes,
            self.hosts.len(),
        );
        let (failures_tx, mut failures) = tokio::sync::mpsc::unbounded_channel();
        let ctl = Control {
            inner: Rc::new(Shared {
                net: net.clone(),
                seed,
                start,
                names: Arc::new(names.closed()),
                stack: self.stack,
                pcap_dir: self.pcap_dir.clone(),
                qlog_dir: self.qlog_dir.clone(),
                hosts: RefCell::new(
                    self.hosts
                        .into_iter()
                        .map(|h| HostSlot {
                            name: h.name,
                            addr: h.addr,
                            program: h.program,
                            runtime: None,
                            tasks: Vec::new(),
                            incarnation: 0,
                        })
                        .collect(),
                ),
                failures: failures_tx,
            }),
        };
        let network = tokio::task::spawn_local(network(net.clone()));
        let count = ctl.inner.hosts.borrow().len();
        for i in 0..count {
            ctl.boot(i)
                .map_err(|e| fail(format!("starting a host: {e}")))?;
        }
        let (done_tx, mut done) = tokio::sync::mpsc::unbounded_channel();
        let n_clients = self.clients.len();
        for (i, program) in self.clients {
            let host = ctl.host(i).map_err(|e| fail(e.to_string()))?;
            let name = host.name().to_owned();
            let task = tokio::task::spawn_local(program(host));
            let (failures, done_tx) = (ctl.inner.failures.clone(), done_tx.clone());
            tokio::task::spawn_local(async move {
                match task.await {
                    Ok(Ok(())) => {
                        let _ = done_tx.send(());
                    }
                    Ok(Err(e)) => {
                        let _ = failures.send(format!("client {name:?} failed: {e}"));
                    }
                    Err(e) => {
                        let _ = failures.send(format!("client {name:?} {}", join_error(e)));
                    }
                }
            });
        }
        let clients_done = async {
            for _ in 0..n_clients {
                if done.recv().await.is_none() {
                    break;
                }
            }
            Ok(())
        };
        let outcome = tokio::select! {
            biased;
            Some(what) = failures.recv() => Err(what),
            r = clients_done => r,
            () = tokio::time::sleep(self.time_limit) => Err(format!(
                "the clients had not finished after the time limit of {} s",
                self.time_limit.as_secs_f64()
            )),
        };
        let elapsed = start.elapsed();
        if outcome.is_ok() {
            tokio::time::sleep(self.settle).await;
        }
        let stats = net.lock().stats;
        ctl.shutdown();
        network.abort();
        match outcome {
            Ok(()) => Ok(Report {
                seed,
                elapsed,
                net: stats,
            }),
            Err(what) => Err(SimError {
                at: elapsed,
                ..fail(what)
            }),
        }
    }
}

fn join_error(e: tokio::task::JoinError) -> String {
    if e.is_panic() {
        let p = e.into_panic();
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "(no message)".into());
        format!("panicked: {msg}")
    } else {
        "was cancelled".into()
    }
}

/// The command that replays a run: the one given, or the test this thread runs, with the
/// seed fixed.
fn replay_command(seed: u64, given: Option<&str>) -> String {
    if let Some(cmd) = given {
        return cmd.replace("{seed}", &seed.to_string());
    }
    match std::thread::current().name() {
        Some(test) if test != "main" => {
            format!("{SEED_VAR}={seed} cargo test -- --exact {test}")
        }
        _ => format!("{SEED_VAR}={seed} <the same command>"),
    }
}

/// The network task: delivers packets when they are due.
async fn network(net: Arc<Net>) {
    loop {
        let notified = net.net_notify.notified();
        match net.deliver_due() {
            Some(at) => {
                tokio::select! {
                    biased;
                    () = tokio::time::sleep_until(at) => {}
                    () = notified => {}
                }
            }
            None => notified.await,
        }
    }
}

struct HostSlot {
    name: String,
    addr: IpAddr,
    program: Option<Program>,
    runtime: Option<Runtime>,
    tasks: Vec<AbortHandle>,
    incarnation: u32,
}

struct Shared {
    net: Arc<Net>,
    seed: u64,
    start: tokio::time::Instant,
    names: Arc<Hosts>,
    stack: StackConfig,
    pcap_dir: Option<PathBuf>,
    qlog_dir: Option<PathBuf>,
    hosts: RefCell<Vec<HostSlot>>,
    failures: tokio::sync::mpsc::UnboundedSender<String>,
}

/// Faults and inspection, from any program at any virtual time (see [`Host::control`]).
/// Hosts are named as they were added to the [`Simulation`]; an unknown name panics, failing
/// the run with the message.
#[derive(Clone)]
pub struct Control {
    inner: Rc<Shared>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("seed", &self.inner.seed)
            .finish_non_exhaustive()
    }
}

impl Control {
    fn index(&self, name: &str) -> usize {
        let hosts = self.inner.hosts.borrow();
        match hosts.iter().position(|h| h.name == name) {
            Some(i) => i,
            None => panic!("the simulation has no host named {name:?}"),
        }
    }

    /// Virtual time since the run started.
    pub fn elapsed(&self) -> Duration {
        self.inner.start.elapsed()
    }

    /// The run's seed.
    pub fn seed(&self) -> u64 {
        self.inner.seed
    }

    /// What the network did so far.
    pub fn net_stats(&self) -> NetStats {
        self.inner.net.lock().stats
    }

    /// Cuts `a` and `b` apart, both ways: packets between them vanish until
    /// [`repair`](Self::repair) (those already in flight still arrive).
    pub fn partition(&self, a: &str, b: &str) {
        let (a, b) = (self.index(a), self.index(b));
        self.inner.net.lock().set_partitioned(a, b, true);
    }

    /// Undoes [`partition`](Self::partition).
    pub fn repair(&self, a: &str, b: &str) {
        let (a, b) = (self.index(a), self.index(b));
        self.inner.net.lock().set_partitioned(a, b, false);
    }

    /// Cuts `name` off from every other host, both ways (a [`partition`](Self::partition)
    /// from each), until [`rejoin`](Self::rejoin).
    pub fn isolate(&self, name: &str) {
        self.set_isolated(name, true);
    }

    /// Undoes [`isolate`](Self::isolate): every link of `name` is repaired.
    pub fn rejoin(&self, name: &str) {
        self.set_isolated(name, false);
    }

    fn set_isolated(&self, name: &str, on: bool) {
        let i = self.index(name);
        let n = self.inner.hosts.borrow().len();
        let mut w = self.inner.net.lock();
        for j in (0..n).filter(|&j| j != i) {
            w.set_partitioned(i, j, on);
        }
    }

    /// Holds packets between `a` and `b`, both ways, until [`release`](Self::release).
    pub fn hold(&self, a: &str, b: &str) {
        let (a, b) = (self.index(a), self.index(b));
        self.inner.net.lock().hold(a, b);
    }

    /// Sends what [`hold`](Self::hold) kept, in order, onto the links.
    pub fn release(&self, a: &str, b: &str) {
        let (a, b) = (self.index(a), self.index(b));
        let due = self.inner.net.lock().release(a, b);
        if due.is_some() {
            self.inner.net.net_notify.notify_one();
        }
    }

    /// Changes the links between `a` and `b`, both ways, from now on.
    pub fn set_link(&self, a: &str, b: &str, cfg: LinkConfig) {
        let (a, b) = (self.index(a), self.index(b));
        let mut w = self.inner.net.lock();
        w.set_link(a, b, cfg.clone());
        w.set_link(b, a, cfg);
    }

    /// Crashes host `name`: its program and the tasks it started with [`Host::spawn`] stop,
    /// its stack vanishes with every connection (nothing is sent: peers find out by timeouts,
    /// or by resets once it is back), and packets to it are lost until
    /// [`restart`](Self::restart). Sockets that other tasks still hold fail with `NotConnected`.
    pub fn crash(&self, name: &str) {
        let i = self.index(name);
        let (runtime, tasks) = {
            let mut hosts = self.inner.hosts.borrow_mut();
            let Some(slot) = hosts.get_mut(i) else { return };
            (slot.runtime.take(), std::mem::take(&mut slot.tasks))
        };
        {
            let mut w = self.inner.net.lock();
            if let Some(inbox) = w.inboxes.get_mut(i) {
                inbox.up = false;
                inbox.packets.clear();
            }
        }
        for t in tasks {
            t.abort();
        }
        drop(runtime);
    }

    /// Starts host `name` again after a [`crash`](Self::crash): a fresh stack (new ISNs and
    /// ports, no connections) on the same address, running its program from the beginning.
    /// A host that is up is left alone.
    pub fn restart(&self, name: &str) {
        let i = self.index(name);
        let up = self
            .inner
            .hosts
            .borrow()
            .get(i)
            .is_some_and(|h| h.runtime.is_some());
        if !up && let Err(e) = self.boot(i) {
            let _ = self
                .inner
                .failures
                .send(format!("restarting {name:?}: {e}"));
        }
    }

    /// Whether host `name` is up.
    pub fn is_up(&self, name: &str) -> bool {
        let i = self.index(name);
        self.inner
            .hosts
            .borrow()
            .get(i)
            .is_some_and(|h| h.runtime.is_some())
    }

    /// Brings host `i` up: a stack, and its program if it has one.
    fn boot(&self, i: usize) -> io::Result<()> {
        let inner = &self.inner;
        let (name, addr, program, incarnation) = {
            let mut hosts = inner.hosts.borrow_mut();
            let slot = hosts
                .get_mut(i)
                .ok_or_else(|| io::Error::other("no such host"))?;
            slot.incarnation += 1;
            (
                slot.name.clone(),
                slot.addr,
                slot.program.clone(),
                slot.incarnation,
            )
        };
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&inner.seed.to_le_bytes());
        key[8..12].copy_from_slice(&u32::try_from(i).unwrap_or(u32::MAX).to_le_bytes());
        key[12..].copy_from_slice(&incarnation.to_le_bytes());
        let mut builder = Runtime::builder()
            .address(addr)
            .stack_config(inner.stack.clone())
            .secret(Secret::from_bytes(key))
            .hosts(inner.names.clone())
            .clock(Clock::with_unix_start(PCAP_EPOCH + inner.start.elapsed()));
        if let Some(dir) = &inner.pcap_dir {
            let file = if incarnation == 1 {
                dir.join(format!("{name}.pcap"))
            } else {
                dir.join(format!("{name}.{}.pcap", incarnation - 1))
            };
            let writer = crate::net::PcapWriter::create(&file).map_err(io::Error::other)?;
            builder = builder.pcap(writer);
        }
        if let Some(dir) = &inner.qlog_dir {
            let file = if incarnation == 1 {
                dir.join(format!("{name}.qlog"))
            } else {
                dir.join(format!("{name}.{}.qlog", incarnation - 1))
            };
            builder = builder.qlog(crate::qlog::QlogWriter::create(&file, &name)?);
        }
        {
            let mut w = inner.net.lock();
            if let Some(inbox) = w.inboxes.get_mut(i) {
                inbox.up = true;
            }
        }
        let device = SimDevice {
            net: inner.net.clone(),
            host: i,
            mtu: 1500,
        };
        let runtime = builder.spawn(device)?;
        let handle = runtime.handle().clone();
        if let Some(slot) = inner.hosts.borrow_mut().get_mut(i) {
            slot.runtime = Some(runtime);
        }
        if let Some(program) = program {
            let host = Host {
                name: name.clone(),
                addr,
                index: i,
                handle,
                control: self.clone(),
            };
            let failures = inner.failures.clone();
            let fut = program(host);
            let task = tokio::task::spawn_local(async move {
                let r = fut.await;
                if let Err(e) = r {
                    let _ = failures.send(format!("host {name:?}'s program failed: {e}"));
                }
            });
            self.watch_panics(i, task);
        }
        Ok(())
    }

    /// Reports a panic of a host's task as the run's failure; remembers it for a crash.
    fn watch_panics(&self, i: usize, task: JoinHandle<()>) {
        if let Some(slot) = self.inner.hosts.borrow_mut().get_mut(i) {
            slot.tasks.retain(|t| !t.is_finished());
            slot.tasks.push(task.abort_handle());
        }
        let failures = self.inner.failures.clone();
        let name = self
            .inner
            .hosts
            .borrow()
            .get(i)
            .map(|h| h.name.clone())
            .unwrap_or_default();
        tokio::task::spawn_local(async move {
            if let Err(e) = task.await
                && e.is_panic()
            {
                let _ = failures.send(format!("a task on host {name:?} {}", join_error(e)));
            }
        });
    }

    /// A [`Host`] for client programs on host `i`, which is up.
    fn host(&self, i: usize) -> io::Result<Host> {
        let hosts = self.inner.hosts.borrow();
        let slot = hosts
            .get(i)
            .ok_or_else(|| io::Error::other("no such host"))?;
        let handle = slot
            .runtime
            .as_ref()
            .map(|r| r.handle().clone())
            .ok_or_else(|| io::Error::other("host is down"))?;
        Ok(Host {
            name: slot.name.clone(),
            addr: slot.addr,
            index: i,
            handle,
            control: self.clone(),
        })
    }

    /// Stops every host at the end of a run.
    fn shutdown(&self) {
        let slots: Vec<_> = self
            .inner
            .hosts
            .borrow_mut()
            .iter_mut()
            .map(|h| (h.runtime.take(), std::mem::take(&mut h.tasks)))
            .collect();
        for (rt, tasks) in slots {
            for t in tasks {
                t.abort();
            }
            drop(rt);
        }
    }
}

/// What a program gets: the host it runs on, its stack's [`Handle`] for
/// [`tokio_net`](crate::tokio_net) sockets, and the simulation's [`Control`].
#[derive(Clone)]
pub struct Host {
    name: String,
    addr: IpAddr,
    index: usize,
    handle: Handle,
    control: Control,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("name", &self.name)
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Host {
    /// The host's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The host's address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The host's stack, for [`tokio_net`](crate::tokio_net) sockets.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// Faults and inspection.
    pub fn control(&self) -> &Control {
        &self.control
    }

    /// Spawns a task that belongs to this host: it stops if the host crashes, and a panic in
    /// it fails the run. (Tasks spawned with `tokio::task::spawn_local` outlive a crash; their
    /// sockets then fail with `NotConnected`.)
    /// Its result is dropped: a connection handler's error (a reset, a timeout) is the
    /// handler's to report; the harness only fails the run on a panic.
    pub fn spawn<F, T>(&self, fut: F)
    where
        F: Future<Output = io::Result<T>> + 'static,
        T: 'static,
    {
        let task = tokio::task::spawn_local(async move {
            let _ = fut.await;
        });
        self.control.watch_panics(self.index, task);
    }
}
