//! A small replicated key-value service in `synack::simulation`, with its leader partitioned
//! away: three replicas elect a leader by terms and heartbeats over TCP, two clients write
//! keys and read them back; the leader is cut off from both followers for 5 s of virtual time,
//! its clients time out and fail over, the other two elect a new leader, and after the repair
//! the old leader steps down and catches up. Every acknowledged write must then be on the
//! leader with its value. The service is in `kv.rs`; `tests/simulation_protocols.rs` runs it
//! too.
//!
//! ```sh
//! cargo run --release --example sim_kv -- --seed 7
//! ```

mod kv;

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut seed = 7;
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next().map(|v| v.parse())) {
            ("--seed", Some(Ok(s))) => seed = s,
            _ => {
                eprintln!("usage: sim_kv [--seed N]");
                return ExitCode::from(2);
            }
        }
    }
    match kv::run(seed) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}"); // what failed, when, the seed and the replay command
            ExitCode::FAILURE
        }
    }
}
