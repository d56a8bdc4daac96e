//! `synack serve`: a long-running concurrent echo, discard or source server on a TUN device.

use super::link::{self, Failure, LinkArgs};
use super::output::{self, Lines};
use clap::{Args, ValueEnum};
use std::net::SocketAddr;
use std::process::ExitCode;
use synack::net::{Driver, TunDevice};
use synack::stack::{ConnId, Event, Stack, StackError};
use synack::tcp::{self, State};
use synack::time::{Duration, Instant};

/// What the server does with each connection.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Send back everything received; close after the peer does.
    Echo,
    /// Read and drop everything; close after the peer does.
    Discard,
    /// Send --bytes bytes (a repeating 0,1,…,250 pattern), then close first.
    Source,
}

/// Options of `synack serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    link: LinkArgs,
    /// Port to listen on (TCP; UDP with --udp).
    #[arg(long)]
    port: u16,
    /// Serve UDP on the port instead of TCP: echo returns each datagram to its sender,
    /// discard drops it.
    #[arg(long)]
    udp: bool,
    /// What to do with each connection.
    #[arg(long, value_enum)]
    mode: Mode,
    /// With --mode source: bytes to send per connection (default: unlimited).
    #[arg(long)]
    bytes: Option<u64>,
    /// Maximum segment lifetime; TIME-WAIT lasts twice this.
    #[arg(long, default_value = "30s", value_parser = super::parse_duration)]
    msl: Duration,
    /// Accept backlog.
    #[arg(long, default_value_t = 128)]
    backlog: usize,
    /// Every SECONDS, print every listener and connection as a table, like `ss -tni`.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    stats: Option<u64>,
    /// Send and receive buffer of each connection, in bytes (default 64 KiB); bulk transfers
    /// over a fast link want more, e.g. 4194304.
    #[arg(long, value_name = "BYTES")]
    buffer: Option<usize>,
    /// The stack's memory budget for connection buffers, in bytes (default 64 MiB): past it
    /// buffers stop growing and are freed as soon as they empty, until the total falls below
    /// three quarters of it; 0 for no budget (StackConfig::memory_pressure).
    #[arg(long, value_name = "BYTES")]
    memory_pressure: Option<usize>,
}

/// The byte at offset `i` of what `--mode source` sends.
pub fn source_byte(i: u64) -> u8 {
    (i % SOURCE_PERIOD as u64) as u8
}

/// The period of the `--mode source` pattern.
const SOURCE_PERIOD: usize = 251;

/// `len` bytes of the source pattern and one more period, so that a slice of `len` bytes
/// can start at any phase.
fn source_pattern(len: usize) -> Vec<u8> {
    (0..(len + SOURCE_PERIOD) as u64).map(source_byte).collect()
}

/// Runs the server until SIGINT, SIGTERM or SIGHUP (exit 0), or a setup failure (exit 2).
pub fn run(args: ServeArgs) -> ExitCode {
    let out = Lines::stdout();
    let err = Lines::stderr();
    let result = link::runtime().and_then(|rt| rt.block_on(serve(args, &out, &err)));
    let status = match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => f.report("serve", &err),
    };
    // The lines still queued get a moment to be written; a reader that does not read at all
    // cannot keep the process from exiting.
    let dropped = out.finish(output::EXIT_FLUSH);
    if dropped > 0 {
        err.line(format!(
            "synack serve: {dropped} output line(s) dropped: stdout was not read fast enough"
        ));
    }
    err.finish(output::EXIT_FLUSH);
    status
}

/// One connection's progress.
struct Session {
    id: ConnId,
    peer: SocketAddr,
    started: Instant,
    bytes_in: u64,
    bytes_out: u64,
    /// Echo: bytes received and not yet queued back, and how much of them is queued.
    pending: Vec<u8>,
    pending_sent: usize,
    /// Source: bytes still to send (`None`: unlimited).
    to_send: Option<u64>,
    peer_eof: bool,
    shut: bool,
    /// Who closed first, decided when the first FIN is seen or sent.
    we_closed_first: Option<bool>,
    saw_time_wait: bool,
}

impl Session {
    fn new(stack: &Stack, id: ConnId, now: Instant, mode: Mode, bytes: Option<u64>) -> Self {
        Session {
            id,
            peer: stack
                .connection(id)
                .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |c| c.remote()),
            started: now,
            bytes_in: 0,
            bytes_out: 0,
            pending: Vec::new(),
            pending_sent: 0,
            to_send: if mode == Mode::Source { bytes } else { Some(0) },
            peer_eof: false,
            shut: false,
            we_closed_first: None,
            saw_time_wait: false,
        }
    }

    /// Moves data; returns true once the connection is over for its user: both FINs are
    /// done (TIME-WAIT, or CLOSED after LAST-ACK), or it was reset or timed out. TIME-WAIT
    /// itself is left to the stack.
    fn step(
        &mut self,
        stack: &mut Stack,
        now: Instant,
        mode: Mode,
        buf: &mut [u8],
        pattern: &[u8],
    ) -> bool {
        // Receive; in echo mode each chunk goes back before the next is read, and reading
        // goes on while it all went (so the peer's FIN is seen, and ours sent, in this same
        // turn rather than the next one).
        loop {
            if mode == Mode::Echo {
                self.send_pending(stack, now);
            }
            if self.peer_eof || (mode == Mode::Echo && self.pending_sent < self.pending.len()) {
                break;
            }
            if mode == Mode::Discard {
                // Discarded where it lies in the receive ring: no copy out (smoltcp's server in
                // bench/tun.sh discards the same way).
                match stack.recv_with(now, self.id, |a, b| (a.len() + b.len(), a.len() + b.len())) {
                    Ok(Some(n)) => self.bytes_in += n as u64,
                    Ok(None) => {
                        self.peer_eof = true;
                        self.we_closed_first.get_or_insert(false);
                    }
                    Err(_) => break,
                }
                continue;
            }
            // Echo reads only what the send buffer can take back at once, so nothing waits in
            // the server beside the stack's own buffers (a per-connection copy of up to 64 KiB
            // held by each of ten thousand connections was most of a gigabyte).
            let want = if mode == Mode::Echo {
                let room = stack.connection(self.id).map_or(0, |c| c.send_capacity());
                if room == 0 && stack.connection(self.id).is_none_or(|c| c.unread() != 0) {
                    break; // Full both ways: read once the peer has taken some of the echo.
                }
                room.clamp(1, buf.len())
            } else {
                buf.len()
            };
            let buf = &mut buf[..want];
            match stack.recv(now, self.id, buf) {
                Ok(0) => {
                    self.peer_eof = true;
                    self.we_closed_first.get_or_insert(false);
                }
                Ok(n) => {
                    self.bytes_in += n as u64;
                    if mode == Mode::Echo {
                        self.echo(stack, now, buf.get(..n).unwrap_or(&[]));
                    }
                }
                Err(_) => break,
            }
        }
        if mode == Mode::Source {
            self.send_source(stack, now, pattern);
        }
        let state = stack.state(self.id);
        if state == State::TimeWait {
            self.saw_time_wait = true;
        }
        let done_sending = match mode {
            Mode::Echo => self.peer_eof && self.pending_sent == self.pending.len(),
            Mode::Discard => self.peer_eof,
            Mode::Source => self.to_send == Some(0),
        };
        if done_sending && !self.shut && state.is_synchronized() {
            if stack.shutdown(now, self.id).is_ok() {
                self.we_closed_first.get_or_insert(true);
            }
            self.shut = true;
        }
        matches!(state, State::Closed | State::TimeWait)
    }

    /// Echo: sends `data` back; what the send buffer did not take waits in `pending`.
    fn echo(&mut self, stack: &mut Stack, now: Instant, data: &[u8]) {
        let sent = stack.send(now, self.id, data).unwrap_or(0);
        self.bytes_out += sent as u64;
        if let Some(rest) = data.get(sent..).filter(|r| !r.is_empty()) {
            self.pending.extend_from_slice(rest);
        }
    }

    /// Echo: sends back as much of the pending chunk as the send buffer takes, and lets go of
    /// its storage once it is all sent.
    fn send_pending(&mut self, stack: &mut Stack, now: Instant) {
        if self.pending.is_empty() {
            return;
        }
        while self.pending_sent < self.pending.len() {
            match stack.send(
                now,
                self.id,
                self.pending.get(self.pending_sent..).unwrap_or(&[]),
            ) {
                Ok(n) => {
                    self.pending_sent += n;
                    self.bytes_out += n as u64;
                }
                Err(_) => break,
            }
        }
        if self.pending_sent == self.pending.len() {
            self.pending = Vec::new();
            self.pending_sent = 0;
        }
    }

    fn send_source(&mut self, stack: &mut Stack, now: Instant, pattern: &[u8]) {
        let max = pattern.len().saturating_sub(SOURCE_PERIOD) as u64;
        loop {
            let want = self.to_send.map_or(max, |r| r.min(max)) as usize;
            if want == 0 {
                return;
            }
            // The pattern repeats every 251 bytes: start at this offset's place in it.
            let start = (self.bytes_out % SOURCE_PERIOD as u64) as usize;
            let chunk = pattern.get(start..start + want).unwrap_or(&[]);
            match stack.send(now, self.id, chunk) {
                Ok(n) => {
                    self.bytes_out += n as u64;
                    if let Some(r) = self.to_send.as_mut() {
                        *r -= n as u64;
                    }
                    if n < want {
                        return;
                    }
                }
                Err(_) => return,
            }
        }
    }

    /// The per-connection line; `open` when the server stops with the connection still open.
    fn summary(&self, error: Option<tcp::Error>, open: bool, now: Instant) -> String {
        let end = match error {
            _ if open => "open",
            None => "clean",
            Some(tcp::Error::Reset) => "reset",
            Some(tcp::Error::TimedOut) => "timeout",
            Some(tcp::Error::Refused) => "refused",
            Some(_) => "aborted",
        };
        let first = match self.we_closed_first {
            Some(true) => "us",
            Some(false) => "peer",
            None => "-",
        };
        format!(
            "conn peer={} in={} out={} end={end} closed_first={first} time_wait={} secs={:.3}",
            self.peer,
            self.bytes_in,
            self.bytes_out,
            if self.saw_time_wait { "yes" } else { "no" },
            (now - self.started).as_secs_f64(),
        )
    }
}

async fn serve(args: ServeArgs, out: &Lines, err: &Lines) -> Result<(), Failure> {
    if args.port == 0 {
        return Err(Failure::setup("--port 0 is not a port to listen on"));
    }
    if args.bytes.is_some() && args.mode != Mode::Source {
        return Err(Failure::setup("--bytes only applies to --mode source"));
    }
    if args.udp && args.mode == Mode::Source {
        return Err(Failure::setup(
            "--mode source is for TCP; with --udp use --mode echo or --mode discard",
        ));
    }
    if args.udp {
        return serve_udp(args, out, err).await;
    }
    let mut signals = link::Signals::catch()?;
    let mut driver = link::open(&args.link, args.msl)?;
    let ladder = link::LadderOut::new(&args.link, &mut driver, out, super::color_wanted(false));
    if let Some(bytes) = args.buffer {
        let tcp = tcp::Config {
            send_buffer: bytes,
            recv_buffer: bytes,
            ..driver.stack().config().tcp
        };
        driver.stack_mut().set_tcp_config(tcp);
    }
    if let Some(budget) = args.memory_pressure {
        driver
            .stack_mut()
            .set_memory_pressure((budget > 0).then_some(budget));
    }
    let local = SocketAddr::new(args.link.addr, args.port);
    let lid = driver
        .stack_mut()
        .listen(local, args.backlog)
        .map_err(|e| match e {
            StackError::AddrInUse => Failure::setup(format!("port {} is in use", args.port)),
            e => Failure::setup(format!("cannot listen on {local}: {e}")),
        })?;
    out.line(format!(
        "listening on {local} ({:?}) via {}{}",
        args.mode,
        driver.device().name(),
        if driver.device().offload() {
            " with offloads"
        } else {
            ""
        }
    ));
    driver.stack_mut().set_events(true);
    let mut sessions = Sessions::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut stats = args.stats.map(stats_interval);
    let pattern = source_pattern(buf.len());
    let mut memory = MemoryPeak::default();
    let result = loop {
        let stepped = step(
            &mut driver,
            lid,
            &mut sessions,
            &args,
            &mut buf,
            &pattern,
            out,
            &ladder,
            &mut memory,
        );
        if let Some(held) = memory.trim.take_emptied() {
            err.line(format!(
                "synack serve: no connection left: stack memory back to {held} bytes, heap trimmed"
            ));
        }
        match stepped {
            Err(e) => break Err(Failure::setup(e.to_string())),
            // Busy: a turn for signals and statistics, without sleeping. Tokio advances its
            // timers only when the task yields to it.
            Ok(true) => {
                tokio::task::yield_now().await;
                tokio::select! {
                    biased;
                    _ = signals.recv() => break Ok(()),
                    () = stats_tick(&mut stats) => print_stats(driver.stack(), driver.now(), out),
                    () = std::future::ready(()) => {}
                }
                continue;
            }
            Ok(false) => {}
        }
        tokio::select! {
            r = driver.wait() => if let Err(e) = r {
                break Err(Failure::setup(e.to_string()));
            },
            _ = signals.recv() => break Ok(()),
            () = stats_tick(&mut stats) => print_stats(driver.stack(), driver.now(), out),
        }
    };
    err.line(format!(
        "synack serve: stack memory: peak {} bytes with {} connection(s) (send queues {} \
         bytes, receive queues {}, largest cwnd {}), now {} bytes (Stack::memory_usage every \
         {} ms while busy)",
        memory.bytes,
        memory.connections,
        memory.send_queued,
        memory.recv_queued,
        memory.max_cwnd,
        driver.stack().memory_usage(),
        MEMORY_SAMPLE.as_millis()
    ));
    let stack = driver.stack();
    err.line(format!(
        "synack serve: connection buffers: peak {} bytes, budget {}, under memory pressure {} time(s)",
        memory.buffers,
        stack
            .config()
            .memory_pressure
            .map_or_else(|| "none".to_owned(), |b| format!("{b} bytes")),
        stack.counters().memory_pressure,
    ));
    // Stopping: the connections still open are reported as open, then reset, as the kernel
    // resets a process's connections when it exits; the RSTs are on the device before this
    // returns.
    let now = driver.now();
    for s in sessions.oldest_first() {
        out.line(s.summary(None, true, now));
    }
    let reset = link::reset_all(&mut driver);
    ladder.finish("serve", err);
    let c = driver.stack().counters();
    err.line(format!(
        "synack serve: stopped; {} connection(s) still open, {} reset; {} segments in, {} out, {} echo replies",
        sessions.len(),
        reset.sent,
        c.in_segs,
        c.out_segs,
        c.icmp_out_echo_reps
    ));
    if reset.dropped > 0 {
        err.line(format!(
            "synack serve: {} RST(s) not taken by the device",
            reset.dropped
        ));
    }
    err.line(format!("synack serve: counters: {c}"));
    if let Some(lost) = driver.qlog_lost().filter(|&n| n > 0) {
        err.line(format!(
            "synack serve: the qlog stream lost {lost} record(s) or sample(s): it was not \
             written fast enough"
        ));
    }
    driver
        .flush_pcap()
        .map_err(|e| Failure::setup(e.to_string()))?;
    result
}

/// `serve --udp`: a UDP echo or discard server on the port, answering ICMP echo as always,
/// until a signal.
async fn serve_udp(args: ServeArgs, out: &Lines, err: &Lines) -> Result<(), Failure> {
    let mut signals = link::Signals::catch()?;
    let mut driver = link::open(&args.link, args.msl)?;
    let local = SocketAddr::new(args.link.addr, args.port);
    let id = driver.stack_mut().udp_bind(local).map_err(|e| match e {
        StackError::AddrInUse => Failure::setup(format!("UDP port {} is in use", args.port)),
        e => Failure::setup(format!("cannot bind UDP {local}: {e}")),
    })?;
    out.line(format!(
        "listening on udp {local} ({:?}) via {}",
        args.mode,
        driver.device().name()
    ));
    let mut buf = vec![0u8; 65_536];
    let (mut datagrams, mut bytes) = (0u64, 0u64);
    let result = loop {
        let stepped = (|| -> Result<(), synack::net::DriverError> {
            driver.poll()?;
            loop {
                let now = driver.now();
                let stack = driver.stack_mut();
                while let Ok((n, from)) = stack.udp_recv_from(id, &mut buf) {
                    datagrams += 1;
                    bytes += n as u64;
                    if args.mode == Mode::Echo {
                        // A full send queue drops the echo, as a kernel's would.
                        let _ = stack.udp_send_to(now, id, &buf[..n], from);
                    }
                }
                if !driver.poll()? {
                    return Ok(());
                }
            }
        })();
        if let Err(e) = stepped {
            break Err(Failure::setup(e.to_string()));
        }
        tokio::select! {
            r = driver.wait() => if let Err(e) = r {
                break Err(Failure::setup(e.to_string()));
            },
            _ = signals.recv() => break Ok(()),
        }
    };
    let c = driver.stack().counters();
    err.line(format!(
        "synack serve: stopped; {datagrams} datagram(s), {bytes} bytes received; {} echo replies",
        c.icmp_out_echo_reps
    ));
    err.line(format!("synack serve: counters: {c}"));
    driver
        .flush_pcap()
        .map_err(|e| Failure::setup(e.to_string()))?;
    result
}

/// How often `serve` samples the stack's memory accounting for the peak it reports.
const MEMORY_SAMPLE: Duration = Duration::from_millis(50);

/// The largest figure of the stack's own memory accounting seen so far, sampled every
/// [`MEMORY_SAMPLE`] while the server works ([`Stack::memory_usage`] walks every connection,
/// so not on every wake-up); reported on stderr when the server stops.
#[derive(Default)]
struct MemoryPeak {
    bytes: usize,
    /// Connections served at that moment.
    connections: usize,
    /// At that moment, over every connection: bytes queued to send (unacknowledged or
    /// unsent), bytes received and not read, and the largest congestion window.
    send_queued: usize,
    recv_queued: usize,
    max_cwnd: usize,
    /// The most bytes of buffer storage the connections held ([`Stack::buffer_bytes`], a
    /// running total: read on every sample call, not only every [`MEMORY_SAMPLE`]).
    buffers: usize,
    next: Instant,
    trim: HeapTrim,
}

impl MemoryPeak {
    fn sample(&mut self, stack: &Stack, now: Instant, connections: usize) {
        self.buffers = self.buffers.max(stack.buffer_bytes());
        self.trim
            .note_connections(stack.connection_count(), || stack.memory_usage());
        if now < self.next {
            return;
        }
        self.next = now + MEMORY_SAMPLE;
        let bytes = stack.memory_usage();
        self.trim.note(bytes);
        if bytes > self.bytes {
            (self.bytes, self.connections) = (bytes, connections);
            let snapshot = stack.snapshot();
            let conns = snapshot.connections.iter();
            self.send_queued = conns.clone().map(|c| c.send_queue).sum();
            self.recv_queued = conns.clone().map(|c| c.recv_queue).sum();
            self.max_cwnd = conns.map(|c| c.cwnd).max().unwrap_or(0);
        }
    }
}

/// Hands freed heap memory back to the system once the stack's memory has fallen to half of
/// its high-water mark since the last time, and by at least [`HeapTrim::MIN`]: glibc keeps
/// freed chunks in its arenas, so without this a server's RSS stays where its busiest moment
/// left it (`bench/memory.sh`: 95x the idle RSS after ten thousand connections closed).
/// At most once per halving, so the call (which walks the heap) stays rare.
/// And once more when the stack's last connection is gone after a burst (the stack has then
/// given back its tables: `Stack::connection_count` 0), whatever the amount.
#[derive(Default)]
struct HeapTrim {
    high: usize,
    /// The stack held connections when last noted.
    busy: bool,
    /// The most the stack held since it last emptied after a burst.
    burst: usize,
    /// The stack's memory when it last emptied, until reported.
    emptied: Option<usize>,
}

impl HeapTrim {
    /// Less than this returned is not worth a walk of the heap.
    const MIN: usize = 16 << 20;
    /// A stack that held at least this much since it last emptied is trimmed when its last
    /// connection ends (a burst is over); a server of one connection at a time never is.
    const BURST: usize = 1 << 20;

    fn note(&mut self, bytes: usize) {
        self.high = self.high.max(bytes);
        self.burst = self.burst.max(bytes);
        if bytes <= self.high / 2 && self.high - bytes >= Self::MIN {
            trim_heap();
            self.high = bytes;
        }
    }

    /// The stack holds `connections` and `bytes` by its accounting: the heap is trimmed
    /// when the count falls to zero.
    fn note_connections(&mut self, connections: usize, bytes: impl FnOnce() -> usize) {
        if connections == 0 && self.busy && self.burst >= Self::BURST {
            trim_heap();
            let bytes = bytes();
            (self.high, self.burst) = (bytes, 0);
            self.emptied = Some(bytes);
        }
        self.busy = connections > 0;
    }

    /// The stack's memory when its last connection ended, if it ended since the last call.
    fn take_emptied(&mut self) -> Option<usize> {
        self.emptied.take()
    }
}

/// Returns the free memory at the top of the heap and in every arena to the system.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim_heap() {
    // SAFETY: malloc_trim only releases memory the allocator holds free; it takes no pointers
    // and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Other allocators return memory on their own terms.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim_heap() {}

/// Ticks every `secs` seconds, the first time `secs` from now.
fn stats_interval(secs: u64) -> tokio::time::Interval {
    let period = std::time::Duration::from_secs(secs);
    let mut i = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    i
}

/// The next `--stats` tick; never, without `--stats`.
async fn stats_tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// One `--stats` table: a heading with the time, the counts of connections and of output
/// lines dropped so far, then `ss -tni`-like rows.
fn print_stats(stack: &Stack, now: Instant, out: &Lines) {
    let snapshot = stack.snapshot();
    let table = snapshot.to_string();
    out.line(format!(
        "stats at {now}: {} connection(s), {} output line(s) dropped\n{}",
        snapshot.connections.len(),
        out.dropped(),
        table.trim_end()
    ));
}

/// The connections being served, by handle, and the ones with something to do.
#[derive(Default)]
struct Sessions {
    by_id: std::collections::HashMap<ConnId, Session>,
    /// Connections whose readiness changed (the stack's events) or that were just accepted:
    /// only these are stepped, so a turn costs what the turn's traffic costs, not a pass
    /// over every connection (ten thousand of those per packet batch left the device's
    /// queue overflowing and the peers in retransmission timeouts).
    ready: Vec<ConnId>,
}

impl Sessions {
    fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Every session, oldest first (for the lines printed when the server stops).
    fn oldest_first(&self) -> Vec<&Session> {
        let mut all: Vec<&Session> = self.by_id.values().collect();
        all.sort_by_key(|s| s.started);
        all
    }
}

/// Longest `step` keeps the server loop from its `select` while traffic keeps it busy, so
/// signals and `--stats` get their turn under load.
const STEP_MAX: Duration = Duration::from_millis(100);

/// Does all the work there is now; returns true if it stopped after [`STEP_MAX`] with work
/// left (the caller gives signals and statistics a turn and calls again at once).
#[expect(
    clippy::too_many_arguments,
    reason = "the server loop's state, passed as it is; a struct for one caller adds nothing"
)]
fn step(
    driver: &mut Driver<TunDevice>,
    lid: synack::stack::ListenerId,
    sessions: &mut Sessions,
    args: &ServeArgs,
    buf: &mut [u8],
    pattern: &[u8],
    out: &Lines,
    ladder: &link::LadderOut<'_>,
    memory: &mut MemoryPeak,
) -> Result<bool, synack::net::DriverError> {
    let started = driver.now();
    driver.poll()?;
    // A segment's ladder row before any report its arrival causes.
    ladder.drain();
    loop {
        let now = driver.now();
        let stack = driver.stack_mut();
        memory.sample(stack, now, sessions.len());
        while let Some(event) = stack.poll_event() {
            match event {
                Event::Acceptable(l) if l == lid => {
                    while let Some(id) = stack.accept(lid) {
                        sessions
                            .by_id
                            .insert(id, Session::new(stack, id, now, args.mode, args.bytes));
                        sessions.ready.push(id);
                    }
                }
                Event::Connection(id, _) => sessions.ready.push(id),
                _ => {}
            }
        }
        for id in std::mem::take(&mut sessions.ready) {
            let Some(s) = sessions.by_id.get_mut(&id) else {
                continue; // Already finished (an event queued twice in one turn).
            };
            if !s.step(stack, now, args.mode, buf, pattern) {
                continue;
            }
            // Never a blocking write here: this loop runs every connection.
            out.line(s.summary(stack.error(id), false, now));
            // Let go of it: the stack frees it, after TIME-WAIT if it is in it.
            let _ = stack.close(now, id);
            sessions.by_id.remove(&id);
            if sessions.by_id.is_empty() {
                // The last one: what the load held is freed now, and no wake-up may follow.
                sessions.by_id.shrink_to_fit();
                memory.next = now;
                memory.sample(stack, now, 0);
            }
        }
        // Go round again while packets keep arriving or leaving, or what the connections
        // just did changed their readiness: what just arrived must be read before the loop
        // sleeps, or its window stays shut.
        let moved = driver.poll()?;
        ladder.drain();
        if !moved && !driver.stack().has_events() {
            return Ok(false);
        }
        if driver.now() - started >= STEP_MAX {
            return Ok(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Cli, Command};
    use clap::Parser;

    fn parse(extra: &[&str]) -> Result<Cli, clap::Error> {
        let base = [
            "synack",
            "serve",
            "--tun",
            "tun0",
            "--addr",
            "198.18.0.2",
            "--port",
            "7",
        ];
        Cli::try_parse_from(base.iter().chain(["--mode", "echo"].iter()).chain(extra))
    }

    fn stats(cli: Cli) -> Option<u64> {
        match cli.command {
            Command::Serve(args) => args.stats,
            other => panic!("not serve: {other:?}"),
        }
    }

    #[test]
    fn serve_stats_takes_a_period_in_whole_seconds() {
        assert_eq!(stats(parse(&["--stats", "5"]).unwrap()), Some(5));
        assert_eq!(stats(parse(&[]).unwrap()), None);
    }

    #[test]
    fn serve_stats_rejects_zero_and_non_numbers() {
        for bad in ["0", "-1", "2s", "x"] {
            assert!(parse(&["--stats", bad]).is_err(), "--stats {bad}");
        }
        assert!(parse(&["--stats"]).is_err(), "--stats needs a value");
    }
}
