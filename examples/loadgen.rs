//! Loadgen: the kernel-socket client and server the benchmarks in `bench/` drive synack with.
//!
//! Uses only `tokio::net`, so the same program measures the kernel path and the synack path
//! side by side:
//!
//! ```sh
//! loadgen serve ADDR                                  # echo server: echoes until EOF
//! loadgen connect ADDR [--concurrency N] [--seconds S] [--size BYTES]
//! loadgen pingpong ADDR [--seconds S] [--size BYTES]
//! loadgen discard ADDR                                # discard server: reads until EOF
//! loadgen bulk ADDR [--connections N] [--seconds S] [--threads T]
//! loadgen echo-many ADDR [--connections N] [--max-size BYTES] [--seed S] [--connecting C]
//! ```
//!
//! `serve` prints `listening on ADDR` and echoes every connection until its EOF, then closes.
//! `connect` keeps N connections in flight: each connects, sends BYTES, half-closes, reads the
//! echo to EOF and closes; it prints connections per second (completed, echo checked) on
//! stdout, and failures on stderr. `pingpong` holds one connection with Nagle off and sends
//! one BYTES-sized request at a time, waiting for the echo; it prints
//! `REQUESTS_PER_SECOND P50_US P99_US`. `bulk` opens N connections at once, each writing
//! 256 KiB at a time for S seconds, then half-closes and waits for the server to close; it
//! prints the aggregate Gbit/s (bytes written over the time until the last connection
//! closed), on T threads (default 2) so the client is not one core's worth.
//!
//! `echo-many` (bench/memory.sh) opens N connections, at most C connecting at a time, and
//! once all are open starts them together: each sends a seeded pseudo-random stream of a
//! random length from 1 byte to BYTES, half-closes, and reads the echo to EOF while it
//! sends, comparing every byte with the stream it sent. It prints `OK FAILED BYTES SECONDS`
//! (connections whose echo came back whole, those that did not, bytes echoed intact, and
//! the seconds from the start to the last EOF) and exits 1 if any failed.

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
    /// Discard server: reads every connection until its EOF, then closes it.
    Discard {
        /// Address to listen on.
        addr: SocketAddr,
    },
    /// Many connections sending at once: aggregate throughput.
    Bulk {
        /// Server address (a discard server).
        addr: SocketAddr,
        /// Connections at once.
        #[arg(long, default_value_t = 16)]
        connections: usize,
        /// How long each sends.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Client threads.
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
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
    /// Many concurrent echo connections of random sizes, every byte of every echo checked.
    EchoMany {
        /// Server address.
        addr: SocketAddr,
        /// Connections, all open at once.
        #[arg(long, default_value_t = 10_000)]
        connections: usize,
        /// The largest stream one connection sends (sizes are uniform in 1..=BYTES).
        #[arg(long, value_name = "BYTES", default_value_t = 256 * 1024)]
        max_size: usize,
        /// Seed of the sizes and contents.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Connections in their handshake at once (the server's backlog must hold them).
        #[arg(long, default_value_t = 256)]
        connecting: usize,
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

fn main() -> io::Result<()> {
    let cmd = Args::parse().cmd;
    let threads = match &cmd {
        Cmd::Bulk { threads, .. } => (*threads).max(1),
        _ => 1,
    };
    let rt = if threads > 1 {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    };
    rt.block_on(run(cmd))
}

async fn run(cmd: Cmd) -> io::Result<()> {
    match cmd {
        Cmd::Serve { addr } => serve(addr).await,
        Cmd::Discard { addr } => discard(addr).await,
        Cmd::Bulk {
            addr,
            connections,
            seconds,
            ..
        } => bulk(addr, connections.max(1), seconds).await,
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
        Cmd::EchoMany {
            addr,
            connections,
            max_size,
            seed,
            connecting,
        } => echo_many(addr, connections, max_size.max(1), seed, connecting.max(1)).await,
    }
}

async fn discard(addr: SocketAddr) -> io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (mut s, _) = listener.accept().await?;
        tokio::spawn(async move {
            let mut buf = vec![0u8; 256 * 1024];
            while let Ok(n) = s.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        });
    }
}

/// `connections` streams to a discard server at once, each writing for `seconds`; prints the
/// aggregate Gbit/s. Fails if any connection fails.
async fn bulk(addr: SocketAddr, connections: usize, seconds: f64) -> io::Result<()> {
    let mut streams = Vec::new();
    for _ in 0..connections {
        streams.push(TcpStream::connect(addr).await?);
    }
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(seconds);
    let tasks: Vec<_> = streams
        .into_iter()
        .map(|mut s| {
            tokio::spawn(async move {
                let data = vec![0x5au8; 256 * 1024];
                let mut sent = 0u64;
                while Instant::now() < until {
                    s.write_all(&data).await?;
                    sent += data.len() as u64;
                }
                s.shutdown().await?;
                // The server closes once it has read everything: then it all arrived.
                let mut rest = [0u8; 64];
                while s.read(&mut rest).await? > 0 {}
                Ok::<u64, io::Error>(sent)
            })
        })
        .collect();
    let mut total = 0u64;
    for t in tasks {
        total += t.await.map_err(io::Error::other)??;
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!("{:.2}", total as f64 * 8.0 / elapsed / 1e9);
    Ok(())
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

/// SplitMix64: the seeded sizes and contents of `echo-many` (no dependency needed).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Fills `buf` with the next bytes of the stream.
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// Chunk size of `echo-many`'s writes and reads (small: ten thousand connections hold two
/// each).
const ECHO_CHUNK: usize = 8 * 1024;

/// Writes `len` bytes of the stream `seed` in chunks, then half-closes.
async fn send_stream(
    mut w: tokio::net::tcp::OwnedWriteHalf,
    seed: u64,
    len: usize,
) -> io::Result<()> {
    let mut stream = SplitMix(seed);
    let mut buf = vec![0u8; ECHO_CHUNK];
    let mut left = len;
    while left > 0 {
        // Whole 8-byte words per chunk, so the reader's generator stays in step.
        let n = left.min(ECHO_CHUNK);
        stream.fill(&mut buf[..n]);
        w.write_all(&buf[..n]).await?;
        left -= n;
    }
    w.shutdown().await
}

/// Reads the echo to EOF and checks it is exactly `len` bytes of the stream `seed`.
async fn check_echo(
    mut r: tokio::net::tcp::OwnedReadHalf,
    seed: u64,
    len: usize,
) -> io::Result<()> {
    let mut stream = SplitMix(seed);
    let mut want = vec![0u8; ECHO_CHUNK];
    let (mut have, mut used) = (0, 0); // bytes of `want` generated, and compared
    let mut buf = vec![0u8; ECHO_CHUNK];
    let mut got = 0;
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        let mut off = 0;
        while off < n {
            if used == have {
                // The next chunk exactly as the sender generated it.
                have = (len - got).min(ECHO_CHUNK);
                if have == 0 {
                    return Err(io::Error::other("the echo is longer than what was sent"));
                }
                stream.fill(&mut want[..have]);
                used = 0;
            }
            let k = (n - off).min(have - used);
            if buf[off..off + k] != want[used..used + k] {
                return Err(io::Error::other(format!(
                    "the echo differs within bytes {got}..{}",
                    got + k
                )));
            }
            off += k;
            used += k;
            got += k;
        }
    }
    if got != len {
        return Err(io::Error::other(format!(
            "echo of {len} bytes came back as {got}"
        )));
    }
    Ok(())
}

async fn echo_many(
    addr: SocketAddr,
    connections: usize,
    max_size: usize,
    seed: u64,
    connecting: usize,
) -> io::Result<()> {
    let mut rng = SplitMix(seed);
    let plan: Vec<(u64, usize)> = (0..connections)
        .map(|_| (rng.next(), 1 + (rng.next() % max_size as u64) as usize))
        .collect();
    // Open every connection first, `connecting` at a time.
    let gate = Arc::new(tokio::sync::Semaphore::new(connecting));
    let opens: Vec<_> = plan
        .iter()
        .map(|_| {
            let gate = gate.clone();
            tokio::spawn(async move {
                let _permit = gate.acquire().await;
                TcpStream::connect(addr).await
            })
        })
        .collect();
    let mut streams = Vec::with_capacity(connections);
    let mut failed = 0u64;
    for o in opens {
        match o.await.map_err(io::Error::other)? {
            Ok(s) => streams.push(Some(s)),
            Err(e) => {
                if failed < 5 {
                    eprintln!("loadgen: connect failed: {e}");
                }
                failed += 1;
                streams.push(None);
            }
        }
    }
    eprintln!(
        "loadgen: {} connections open",
        streams.iter().flatten().count()
    );
    // Then all of them at once.
    let start = Instant::now();
    let tasks: Vec<_> = streams
        .into_iter()
        .zip(plan)
        .filter_map(|(s, (seed, len))| s.map(|s| (s, seed, len)))
        .map(|(s, seed, len)| {
            tokio::spawn(async move {
                let (r, w) = s.into_split();
                let sending = tokio::spawn(send_stream(w, seed, len));
                let checked = check_echo(r, seed, len).await;
                let sent = sending.await.map_err(io::Error::other).and_then(|r| r);
                checked.and(sent).map(|()| (len, start.elapsed()))
            })
        })
        .collect();
    let (mut ok, mut bytes) = (0u64, 0u64);
    let mut took = Vec::with_capacity(tasks.len());
    for t in tasks {
        match t.await.map_err(io::Error::other)? {
            Ok((len, time)) => {
                ok += 1;
                bytes += len as u64;
                took.push(time);
            }
            Err(e) => {
                if failed < 5 {
                    eprintln!("loadgen: echo failed: {e}");
                }
                failed += 1;
            }
        }
    }
    // How long each connection took from the common start to its whole echo checked: the
    // tail is where a stalled connection shows.
    took.sort_unstable();
    let at = |q: f64| {
        let i = ((took.len() as f64 * q) as usize).min(took.len().saturating_sub(1));
        took.get(i).map_or(0.0, |d| d.as_secs_f64())
    };
    eprintln!(
        "loadgen: connection times: median {:.2} s, p99 {:.2} s, p99.9 {:.2} s, slowest {:.2} s",
        at(0.5),
        at(0.99),
        at(0.999),
        at(1.0)
    );
    println!("{ok} {failed} {bytes} {:.2}", start.elapsed().as_secs_f64());
    if failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}
