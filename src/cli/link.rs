//! What `nc` and `serve` share: the TUN link options, opening the device, building the stack
//! and the driver, and turning failures into one-line messages with exit codes.

use super::output::Lines;
use clap::Args;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use synack::net::{Driver, DriverOptions, ImpairConfig, PcapWriter, TunConfig, TunDevice};
use synack::stack::{ConnId, Stack, StackConfig};
use synack::tcp;
use synack::time::Duration;
use synack::trace::tap::LadderLines;

/// Exit status for a connection that failed: refused, reset or timed out.
pub const EXIT_CONNECTION: u8 = 1;
/// Exit status for a setup problem: permissions, device busy, bad address, port in use.
pub const EXIT_SETUP: u8 = 2;

/// The TUN link options of `nc` and `serve`.
#[derive(Args, Debug, Clone)]
pub struct LinkArgs {
    /// TUN interface to open (created if absent), e.g. tun0.
    #[arg(long = "tun", value_name = "IFNAME")]
    pub tun: String,
    /// synack's own IP address on the link.
    #[arg(long, value_name = "IP")]
    pub addr: IpAddr,
    /// Give the kernel's side of the device this address and bring the link up (no `ip`
    /// command needed); without it the device is left for you to configure.
    #[arg(long, value_name = "IP/PREFIX", value_parser = parse_prefix)]
    pub kernel_addr: Option<(IpAddr, u8)>,
    /// Write every packet crossing the device to this pcap file (raw IP; Wireshark reads it).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// Stream every connection's sender view (congestion window, ssthresh, bytes in flight,
    /// RTT, RTO, congestion phase, state), one event per change, to this file as qlog
    /// JSON-SEQ on the clock of --pcap. Bounded: events the file cannot take fast enough are
    /// dropped and counted, never waited for.
    #[arg(long, value_name = "FILE")]
    pub qlog: Option<PathBuf>,
    /// Draw every connection as a live ladder, as `synack trace -` draws a capture: a row
    /// per segment crossing the device, with both ends' inferred states, and a summary when
    /// it ends (serve: on stdout, among its reports; nc: on stderr). The rows leave through
    /// a bounded queue: a terminal or pipe that cannot keep up loses rows (counted on
    /// stderr), never slows the stack.
    #[arg(long)]
    pub ladder: bool,
    /// Impair packets both ways with the simulator's link model, seeded: e.g.
    /// loss=2%,delay=10ms,jitter=5ms,duplicate=1%,corrupt=0.1%,truncate=0.1%,rate=100mbit,seed=7.
    #[arg(long, value_name = "SPEC")]
    pub impair: Option<ImpairConfig>,
    /// Don't use the TUN device's checksum and TCP segmentation offloads (IFF_VNET_HDR,
    /// segments of up to 64 KiB both ways), which are on by default, fall back to plain
    /// packets if the kernel refuses them, and are off with --impair (it works on wire-sized
    /// packets).
    #[arg(long)]
    pub no_offload: bool,
}

/// Parses `198.18.0.1/24` or `2001:db8::1/64`.
pub fn parse_prefix(s: &str) -> Result<(IpAddr, u8), String> {
    let (ip, prefix) = s
        .split_once('/')
        .ok_or_else(|| format!("{s:?} has no prefix: write e.g. 198.18.0.1/24"))?;
    let ip: IpAddr = ip
        .parse()
        .map_err(|_| format!("{ip:?} is not an IP address"))?;
    let prefix: u8 = prefix
        .parse()
        .map_err(|_| format!("{prefix:?} is not a prefix length"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    if prefix > max {
        return Err(format!("/{prefix} is too long for {ip} (at most /{max})"));
    }
    Ok((ip, prefix))
}

fn in_prefix(net: IpAddr, prefix: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}

/// A failure with its exit status and one-line message.
#[derive(Debug)]
pub struct Failure {
    /// Exit status.
    pub code: u8,
    /// What went wrong, and what to do.
    pub message: String,
}

impl Failure {
    /// A setup failure (exit 2).
    pub fn setup(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_SETUP,
            message: message.into(),
        }
    }

    /// A connection failure (exit 1).
    pub fn connection(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_CONNECTION,
            message: message.into(),
        }
    }

    /// Stopped by a signal: exit 128 + its number, as a shell reports a process it killed.
    pub fn signal(sig: Signal) -> Self {
        Failure {
            code: 128 + sig.number,
            message: format!("stopped by {}", sig.name),
        }
    }

    /// Queues `synack CMD: message` on `err` and returns the exit code.
    pub fn report(self, cmd: &str, err: &Lines) -> ExitCode {
        err.line(format!("synack {cmd}: {}", self.message));
        ExitCode::from(self.code)
    }
}

/// The one-line reason for a connection error.
pub fn describe(e: tcp::Error, remote: impl std::fmt::Display) -> String {
    match e {
        tcp::Error::Refused => format!("connection to {remote} refused"),
        tcp::Error::Reset => format!("connection with {remote} reset by the peer"),
        tcp::Error::TimedOut => format!("connection with {remote} timed out"),
        e => format!("connection with {remote}: {e}"),
    }
}

/// Checks the addresses, opens the device and builds the driver. Must run inside a Tokio
/// runtime.
pub fn open(args: &LinkArgs, msl: Duration) -> Result<Driver<TunDevice>, Failure> {
    if let Some((kernel, prefix)) = args.kernel_addr {
        if kernel.is_ipv4() != args.addr.is_ipv4() {
            return Err(Failure::setup(format!(
                "--addr {} and --kernel-addr {kernel}/{prefix} are of different families",
                args.addr
            )));
        }
        if kernel == args.addr {
            return Err(Failure::setup(format!(
                "--addr and --kernel-addr are both {kernel}: synack needs its own address"
            )));
        }
        if !in_prefix(kernel, prefix, args.addr) {
            return Err(Failure::setup(format!(
                "--addr {} is outside {kernel}/{prefix}: the kernel would not route to it",
                args.addr
            )));
        }
    }
    if args.addr.is_unspecified() || args.addr.is_multicast() || args.addr.is_loopback() {
        return Err(Failure::setup(format!(
            "--addr {} cannot be a host address on the link",
            args.addr
        )));
    }
    let device = TunDevice::open(&TunConfig {
        name: args.tun.clone(),
        kernel_addr: args.kernel_addr,
        mtu: 1500,
        offload: !args.no_offload && args.impair.is_none(),
    })
    .map_err(|e| Failure::setup(e.to_string()))?;
    let pcap = match &args.pcap {
        Some(path) => Some(
            PcapWriter::create(path)
                .map_err(|e| Failure::setup(format!("cannot write {}: {e}", path.display())))?,
        ),
        None => None,
    };
    let qlog = match &args.qlog {
        Some(path) => Some(
            synack::qlog::QlogWriter::create(path, &args.addr.to_string()).map_err(|e| {
                Failure::setup(format!(
                    "cannot write the qlog file {}: {e}; choose a writable path",
                    path.display()
                ))
            })?,
        ),
        None => None,
    };
    let tcp = tcp::Config {
        msl,
        mtu: synack::net::Device::mtu(&device),
        ..tcp::Config::default()
    };
    let cfg = StackConfig {
        tcp,
        ..StackConfig::default()
    };
    let secret = synack::net::random_secret().map_err(|e| Failure::setup(e.to_string()))?;
    let stack = Stack::new(cfg, secret, &[args.addr]);
    Ok(Driver::new(
        stack,
        device,
        DriverOptions {
            impair: args.impair.clone(),
            pcap,
            clock: None,
            qlog,
        },
    ))
}

/// `--ladder`'s rows on their way out: taken from the driver's tap
/// ([`synack::trace::tap`]) into `out`, whose writer thread writes them. Without the flag it
/// does nothing.
#[derive(Debug)]
pub struct LadderOut<'a> {
    tap: Option<LadderLines>,
    out: &'a Lines,
}

impl<'a> LadderOut<'a> {
    /// With `--ladder`: a tap on `driver`, its rows for `out`, in colour if `color`.
    pub fn new<D: synack::net::Device>(
        args: &LinkArgs,
        driver: &mut Driver<D>,
        out: &'a Lines,
        color: bool,
    ) -> Self {
        let tap = args.ladder.then(|| {
            let opts = synack::trace::live::LiveOptions {
                color,
                fold: true,
                conn: None,
            };
            let (tap, lines) = synack::trace::tap::ladder_tap(opts);
            driver.set_observer(Some(Box::new(tap)));
            lines
        });
        LadderOut { tap, out }
    }

    /// Hands the rows made so far to `out`. Never blocks: `out` drops what it cannot hold.
    pub fn drain(&self) {
        if let Some(t) = &self.tap {
            t.drain(|line| self.out.line(line));
        }
    }

    /// The traffic is over: the rows still queued, the summaries of the connections that
    /// did not end, and on `err` how many rows the tap's queue dropped.
    pub fn finish(&self, cmd: &str, err: &Lines) {
        let Some(t) = &self.tap else {
            return;
        };
        t.finish();
        self.drain();
        let dropped = t.dropped();
        if dropped > 0 {
            err.line(format!(
                "synack {cmd}: {dropped} ladder row(s) dropped: they were not written fast enough"
            ));
        }
    }
}

/// Whether to colour a ladder written to stderr: only on a terminal, and not with `NO_COLOR`
/// set (to anything but the empty string).
pub fn stderr_color() -> bool {
    use std::io::IsTerminal as _;
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// A signal that stops `nc` or `serve`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signal {
    /// Its name, e.g. `SIGTERM`.
    pub name: &'static str,
    /// Its number.
    pub number: u8,
}

/// SIGINT, SIGTERM and SIGHUP (`ssh` sends it to a ProxyCommand as it exits), caught so that
/// the process resets its connections before it exits instead of dying with them open.
#[derive(Debug)]
pub struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    /// Catches them from now on. Must run inside a Tokio runtime.
    pub fn catch() -> Result<Signals, Failure> {
        use tokio::signal::unix::{SignalKind, signal};
        let all = || -> std::io::Result<Signals> {
            Ok(Signals {
                int: signal(SignalKind::interrupt())?,
                term: signal(SignalKind::terminate())?,
                hup: signal(SignalKind::hangup())?,
            })
        };
        all().map_err(|e| Failure::setup(format!("cannot catch signals: {e}")))
    }

    /// The next signal. Cancel-safe.
    pub async fn recv(&mut self) -> Signal {
        let (name, number) = tokio::select! {
            _ = self.int.recv() => ("SIGINT", 2),
            _ = self.term.recv() => ("SIGTERM", 15),
            _ = self.hup.recv() => ("SIGHUP", 1),
        };
        Signal { name, number }
    }
}

/// What [`reset_all`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResetAll {
    /// RSTs written to the device.
    pub sent: u64,
    /// RSTs the device would not take.
    pub dropped: u64,
}

/// Aborts every connection the stack holds, as the kernel does for the sockets of a process
/// that exits: a RST for each one that is synchronized and not yet closing (RFC 9293
/// §3.10.5; TIME-WAIT, LAST-ACK and CLOSING are simply let go), written to the device before
/// this returns. A TUN write hands the packet to the kernel within the call.
pub fn reset_all<D: synack::net::Device>(driver: &mut Driver<D>) -> ResetAll {
    let ids: Vec<ConnId> = driver.stack().connections().collect();
    let before = driver.stats();
    let rsts_before = driver.stack().counters().out_rsts;
    for id in ids {
        driver.stack_mut().abort(id);
    }
    // Errors here are device errors: nothing more can be sent either way.
    let _ = driver.flush();
    let after = driver.stats();
    let rsts = driver.stack().counters().out_rsts - rsts_before;
    let dropped = after.out_dropped - before.out_dropped;
    ResetAll {
        sent: rsts.saturating_sub(dropped),
        dropped: dropped.min(rsts),
    }
}

/// A single-threaded Tokio runtime for one command.
pub fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::setup(format!("cannot start the event loop: {e}")))
}
