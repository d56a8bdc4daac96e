//! The `synack` binary.
//!
//! Its commands drive Linux TUN devices and namespaces, so it is built for Linux; elsewhere
//! the library (`FdDevice`, the simulator, the socket APIs) is what to use.

#[cfg(target_os = "linux")]
mod cli;

use std::process::ExitCode;

#[cfg(target_os = "linux")]
fn main() -> ExitCode {
    use clap::Parser;
    cli::Cli::parse().run()
}

#[cfg(not(target_os = "linux"))]
fn main() -> ExitCode {
    eprintln!(
        "synack: the command-line tool drives Linux TUN devices and runs only on Linux; \
         on this platform, use the synack library (synack::net::FdDevice for a descriptor \
         the platform hands over)"
    );
    ExitCode::from(2)
}
