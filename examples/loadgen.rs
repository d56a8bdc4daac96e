//! Loadgen: the kernel-socket client and server the benchmarks in `bench/` drive synack with.
//!
//! Uses only `tokio::net`, so the same program measures the kernel path and the synack path
//! side by side:
//!
//! ```sh
//! loadgen serve ADDR                                  # echo server: echoes until EOF
//! loadgen connect ADDR [--concurrency N] [--seconds S] [--size BYTES]
//! loadgen pingpong ADDR [--seconds S] [--size BYTES]
//! ```
//!
//! `serve` prints `listening on ADDR` and echoes every connection until its EOF, then closes.
//! `connect` keeps N connections in flight: each connects, sends BYTES, half-closes, reads the
//! echo to EOF and closes; it prints connections per second (completed, echo checked) on
//! stdout, and failures on stderr. `pingpong` holds one connection with Nagle off and sends
//! one BYTES-sized request at a time, waiting for the echo; it prints
//! `REQUESTS_PER_SECOND P50_US P99_US`.

use clap::{Parser, Subcommand};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Kernel-socket load for synack's benchmarks.
#[derive(Parser, Debug)]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Echo server: echoes every connection until its EOF.
    Serve {
        /// Address to listen on.
        addr: SocketAddr,
    },
    /// Connections per second: connect, request, half-close, read the echo, close.
    Connect {
        /// Server address.
        addr: SocketAddr,
        /// Connections in flight at once.
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
        /// How long to run.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Request size in bytes.
        #[arg(long, default_value_t = 64)]
        size: usize,
    },
    /// One small request and its echo at a time: requests per second and latency.
    Pingpong {
        /// Server address.
        addr: SocketAddr,
        /// How long to run.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Request size in bytes.
        #[arg(long, default_value_t = 64)]
        size: usize,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> io::Result<()> {
    match Args::parse().cmd {
        Cmd::Serve { addr } => serve(addr).await,
        Cmd::Connect {
            addr,
            concurrency,
            seconds,
            size,
        } => connect(addr, concurrency.max(1), seconds, size).await,
        Cmd::Pingpong {
            addr,
            seconds,
            size,
        } => pingpong(addr, seconds, size.max(1)).await,
    }
}

async fn serve(addr: SocketAddr) -> io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (mut s, _) = listener.accept().await?;
        tokio::spawn(async move {
            let _ = s.set_nodelay(true);
            let (mut r, mut w) = s.split();
            let _ = tokio::io::copy(&mut r, &mut w).await;
        });
    }
}

/// One connection of `connect`: the echo must come back whole.
async fn one_connection(addr: SocketAddr, request: &[u8]) -> io::Result<()> {
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(request).await?;
    s.shutdown().await?;
    let mut echo = Vec::with_capacity(request.len());
    s.read_to_end(&mut echo).await?;
    if echo != request {
        return Err(io::Error::other(format!(
            "echo of {} bytes came back as {} bytes",
            request.len(),
            echo.len()
        )));
    }
    Ok(())
}

async fn connect(
    addr: SocketAddr,
    concurrency: usize,
    seconds: f64,
    size: usize,
) -> io::Result<()> {
    let request: Arc<[u8]> = (0..size).map(|i| i as u8).collect();
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (request, done, failed, stop) =
                (request.clone(), done.clone(), failed.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    match one_connection(addr, &request).await {
                        Ok(()) => done.fetch_add(1, Ordering::Relaxed),
                        Err(e) => {
                            if failed.fetch_add(1, Ordering::Relaxed) < 5 {
                                eprintln!("loadgen: connection failed: {e}");
                            }
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            0
                        }
                    };
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let counted = done.load(Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    let failed = failed.load(Ordering::Relaxed);
    if failed > 0 {
        eprintln!("loadgen: {failed} connections failed");
    }
    println!("{:.0}", counted as f64 / elapsed);
    Ok(())
}

async fn pingpong(addr: SocketAddr, seconds: f64, size: usize) -> io::Result<()> {
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let request: Vec<u8> = (0..size).map(|i| i as u8).collect();
    let mut reply = vec![0u8; size];
    let mut latencies = Vec::new();
    let start = Instant::now();
    let limit = Duration::from_secs_f64(seconds);
    while start.elapsed() < limit {
        let t = Instant::now();
        s.write_all(&request).await?;
        s.read_exact(&mut reply).await?;
        latencies.push(t.elapsed());
        if reply != request {
            return Err(io::Error::other("the echo differs from the request"));
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
    println!(
        "{:.0} {:.1} {:.1}",
        latencies.len() as f64 / elapsed,
        pct(50).as_secs_f64() * 1e6,
        pct(99).as_secs_f64() * 1e6
    );
    Ok(())
}
