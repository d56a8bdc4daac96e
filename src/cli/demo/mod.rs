//! `synack demo`: the command line; [`run`](mod@run) runs the connection and draws it.

mod run;

use clap::Args;
use run::DemoOptions;
use std::path::PathBuf;
use std::process::ExitCode;
use synack::time::Duration;

/// Options of `synack demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
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
    #[arg(long, default_value = "30s", value_parser = super::parse_duration)]
    msl: Duration,
    /// One-way delay of the simulated link (e.g. 10ms).
    #[arg(long, default_value = "10ms", value_parser = super::parse_duration)]
    delay: Duration,
    /// Also draw the ladder as an SVG picture (two timelines, slanted labelled arrows).
    #[arg(long, value_name = "OUT.svg")]
    svg: Option<PathBuf>,
    /// Write both senders' inside view (congestion window, ssthresh, bytes in flight, RTT,
    /// RTO, congestion phase, state), one event per change, as qlog-like JSON on the
    /// capture's clock.
    #[arg(long, value_name = "OUT.json")]
    qlog: Option<std::path::PathBuf>,
    /// No ANSI colours (also when NO_COLOR is set, or stdout is not a terminal).
    #[arg(long)]
    no_color: bool,
}

/// Runs the demo, prints the ladder, and exits 0 only on a clean, intact run.
pub fn run(args: DemoArgs) -> ExitCode {
    let options = DemoOptions {
        seed: args.seed,
        loss_percent: args.loss,
        corrupt_percent: args.corrupt,
        bytes: args.bytes,
        pcap: args.pcap.clone(),
        msl: args.msl,
        delay: args.delay,
        record: args.qlog.is_some(),
    };
    match run::run(&options) {
        Ok(report) => {
            print!("{}", report.render(super::color_wanted(args.no_color)));
            if let Some(path) = &args.svg {
                let svg = synack::trace::svg::render(&report.diagram());
                if let Err(e) = std::fs::write(path, svg) {
                    eprintln!("synack demo: cannot write {}: {e}", path.display());
                    return ExitCode::from(2);
                }
            }
            if let Some(path) = &args.qlog {
                let json = report
                    .qlog
                    .as_ref()
                    .map(|q| q.to_string())
                    .unwrap_or_default();
                if let Err(e) = std::fs::write(path, json) {
                    eprintln!("synack demo: cannot write {}: {e}", path.display());
                    return ExitCode::from(2);
                }
            }
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
