//! The `synack` command line: one file per subcommand.

pub mod demo;
mod link;
pub mod nc;
pub mod output;
pub mod serve;
pub mod trace;

use clap::{Parser, Subcommand};
use std::process::ExitCode;
use synack::time::Duration;

/// synack: a userspace TCP/IP stack.
#[derive(Parser, Debug)]
#[command(name = "synack", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log to stderr at LEVEL (error, warn, info, debug, trace) or by a filter such as
    /// `synack=debug`; default: `RUST_LOG`, else warnings only. Debug shows a span per
    /// connection. Lines that stderr cannot take at once are dropped, never waited for.
    #[arg(long, global = true, value_name = "LEVEL")]
    log: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run one connection's whole life on the simulated network and draw it as a ladder.
    Demo(demo::DemoArgs),
    /// Draw the TCP connections of a pcap/pcapng capture as ladders with both ends' states.
    Trace(trace::TraceArgs),
    /// Netcat over synack on a TUN device: stdin to the connection, the connection to stdout.
    Nc(nc::NcArgs),
    /// Serve echo, discard or source over synack on a TUN device until interrupted.
    Serve(serve::ServeArgs),
}

impl Cli {
    /// Runs the chosen subcommand and returns the process exit code.
    pub fn run(self) -> ExitCode {
        let _logging = match init_logging(self.log.as_deref()) {
            Ok(guard) => guard,
            Err(message) => {
                eprintln!("synack: {message}");
                return ExitCode::from(2);
            }
        };
        match self.command {
            Command::Demo(args) => demo::run(args),
            Command::Trace(args) => trace::run(args),
            Command::Nc(args) => nc::run(args),
            Command::Serve(args) => serve::run(args),
        }
    }
}

/// Lines the log queue holds before it drops new ones (stderr on a terminal that is not
/// being read, or a pipe nobody drains, must never stall the network).
const LOG_QUEUE_LINES: usize = 4096;

/// Installs the log subscriber: `level` (from `--log`), else `RUST_LOG`, else warnings. The
/// lines go through a bounded queue to a writer thread of their own, which the returned guard
/// flushes on exit; when the queue is full, lines are dropped.
fn init_logging(
    level: Option<&str>,
) -> Result<tracing_appender::non_blocking::WorkerGuard, String> {
    use tracing_subscriber::EnvFilter;
    let filter = match level {
        Some(l) => EnvFilter::try_new(l).map_err(|e| {
            format!("--log {l}: {e} (write a level such as warn or debug, or synack=debug)")
        })?,
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
    };
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(LOG_QUEUE_LINES)
        .thread_name("synack-log")
        .finish(std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init()
        .map_err(|e| format!("installing the logger: {e}"))?;
    Ok(guard)
}

/// Whether to colour a ladder: not with `--no-color`, nor when `NO_COLOR` is set (to
/// anything but the empty string), nor when stdout is not a terminal.
pub fn color_wanted(no_color: bool) -> bool {
    use std::io::IsTerminal as _;
    !no_color
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::io::stdout().is_terminal()
}

/// Parses durations such as `30s`, `250ms` or `2m` for clap.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (write e.g. 30s or 250ms)"))
}
