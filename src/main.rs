//! The `synack` command line.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use synack::demo::{self, DemoOptions};
use synack::time::Duration;

/// synack: a userspace TCP/IP stack.
#[derive(Parser, Debug)]
#[command(name = "synack", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run one connection's whole life on the simulated network and draw it as a ladder.
    Demo {
        /// Seed of the simulated network (loss pattern, ISN secret).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Packet loss in percent, in each direction.
        #[arg(long, default_value_t = 0.0)]
        loss: f64,
        /// Packets corrupted (one bit flipped) in percent, in each direction.
        #[arg(long, default_value_t = 0.0)]
        corrupt: f64,
        /// Size of each message in bytes (default: short text messages).
        #[arg(long)]
        bytes: Option<usize>,
        /// Write every packet to this pcap file (Wireshark reads it).
        #[arg(long)]
        pcap: Option<PathBuf>,
        /// Maximum segment lifetime; TIME-WAIT lasts twice this (e.g. 30s, 500ms).
        #[arg(long, default_value = "30s", value_parser = parse_duration)]
        msl: Duration,
        /// One-way delay of the simulated link (e.g. 10ms).
        #[arg(long, default_value = "10ms", value_parser = parse_duration)]
        delay: Duration,
    },
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (write e.g. 30s or 250ms)"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo {
            seed,
            loss,
            corrupt,
            bytes,
            pcap,
            msl,
            delay,
        } => {
            let options = DemoOptions {
                seed,
                loss_percent: loss,
                corrupt_percent: corrupt,
                bytes,
                pcap,
                msl,
                delay,
            };
            match demo::run(&options) {
                Ok(report) => {
                    print!("{}", report.render());
                    if report.success() {
                        ExitCode::SUCCESS
                    } else {
                        eprintln!(
                            "synack demo: the connection did not complete cleanly (see the summary above)"
                        );
                        ExitCode::FAILURE
                    }
                }
                Err(e) => {
                    eprintln!("synack demo: {e}");
                    ExitCode::from(2)
                }
            }
        }
    }
}
