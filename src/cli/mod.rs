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
        match self.command {
            Command::Demo(args) => demo::run(args),
            Command::Trace(args) => trace::run(args),
            Command::Nc(args) => nc::run(args),
            Command::Serve(args) => serve::run(args),
        }
    }
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
