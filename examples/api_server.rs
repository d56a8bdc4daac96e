//! The server side of `bench/api.sh`: `synack serve`'s discard, source and echo modes written
//! against the socket APIs, so that the API layer's cost over the same TUN device is a number.
//!
//! ```sh
//! api_server --tun tun0 --addr 198.18.0.2 --kernel-addr 198.18.0.1/24 --port 5001 \
//!     --api tokio|tokio-thread|blocking --mode discard|source|echo [--buffer BYTES]
//! ```
//!
//! * `tokio`: the stack runs as a task on the application's single-threaded Tokio runtime
//!   ([`Builder::spawn`](synack::runtime::Builder::spawn)), one task per connection;
//! * `tokio-thread`: the same tasks, with the stack on a thread of its own
//!   ([`Builder::build_with`](synack::runtime::Builder::build_with));
//! * `blocking`: `synack::blocking` sockets, one OS thread per connection;
//! * `sharded`: `--shards N` stacks on N threads over an `N`-queue device
//!   ([`Builder::build_sharded`](synack::runtime::Builder::build_sharded)), each shard with its
//!   own listener and its connections' tasks on its thread (`bench/shards.sh`). `--echo-port`
//!   adds an echo listener beside the main one.
//!
//! `discard` reads and drops until EOF, `source` writes until the peer goes, `echo` echoes
//! until EOF. Reads and writes move up to 1 MiB at a time, as `bench/tun_client.py` does.
//! Prints `listening on ADDR` once ready, and serves until killed.

use clap::{Parser, ValueEnum};
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use synack::net::{TunConfig, TunDevice};
use synack::runtime::Runtime;
use synack::stack::StackConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Serves discard, source or echo over a TUN device through one of synack's socket APIs.
#[derive(Parser, Debug)]
struct Args {
    /// TUN interface to open (created if absent).
    #[arg(long, value_name = "IFNAME")]
    tun: String,
    /// The stack's address.
    #[arg(long, value_name = "IP")]
    addr: IpAddr,
    /// Address and prefix to give the kernel's side of the device.
    #[arg(long, value_name = "IP/PREFIX")]
    kernel_addr: Option<String>,
    /// Port to listen on.
    #[arg(long, default_value_t = 5001)]
    port: u16,
    /// Which socket API serves.
    #[arg(long, value_enum, default_value_t = Api::Tokio)]
    api: Api,
    /// What to do with each connection.
    #[arg(long, value_enum, default_value_t = Mode::Discard)]
    mode: Mode,
    /// Send and receive buffer of each connection, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
    buffer: usize,
    /// With `--api sharded`: the number of shards (device queues, stacks and threads).
    #[arg(long, value_name = "N", default_value_t = 1)]
    shards: usize,
    /// With `--api sharded`: also echo connections on this port.
    #[arg(long, value_name = "PORT")]
    echo_port: Option<u16>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Api {
    Tokio,
    TokioThread,
    Blocking,
    Sharded,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Mode {
    Discard,
    Source,
    Echo,
}

/// Bytes moved per read or write call.
const CHUNK: usize = 1 << 20;

/// Bytes an echo moves per call.
const ECHO_CHUNK: usize = 16 * 1024;

fn main() -> io::Result<()> {
    let args = Args::parse();
    let kernel_addr = match &args.kernel_addr {
        None => None,
        Some(s) => {
            let bad = || io::Error::other(format!("--kernel-addr {s}: expected IP/PREFIX"));
            let (ip, prefix) = s.split_once('/').ok_or_else(bad)?;
            Some((
                ip.parse().map_err(|_| bad())?,
                prefix.parse().map_err(|_| bad())?,
            ))
        }
    };
    let tun = TunConfig {
        kernel_addr,
        ..TunConfig::new(&args.tun)
    };
    let mut cfg = StackConfig::default();
    cfg.tcp.send_buffer = args.buffer;
    cfg.tcp.recv_buffer = args.buffer;
    let builder = Runtime::builder().address(args.addr).stack_config(cfg);
    let local = SocketAddr::new(args.addr, args.port);
    let app = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match args.api {
        Api::Blocking => {
            let open = move || TunDevice::open(&tun).map_err(io::Error::other);
            serve_blocking(builder.build_with(open)?, local, args.mode)
        }
        Api::TokioThread => {
            let open = move || TunDevice::open(&tun).map_err(io::Error::other);
            let stack = builder.build_with(open)?;
            app.block_on(serve_tokio(stack, local, args.mode))
        }
        Api::Sharded => {
            let queues =
                TunDevice::open_queues(&tun, args.shards.max(1)).map_err(io::Error::other)?;
            let sharded = builder.build_sharded(
                queues
                    .into_iter()
                    .map(|q| move || q.register().map_err(io::Error::other)),
            )?;
            let echo = args.echo_port.map(|p| SocketAddr::new(args.addr, p));
            app.block_on(serve_sharded(sharded, local, args.mode, echo))
        }
        Api::Tokio => app.block_on(async {
            let device = TunDevice::open(&tun).map_err(io::Error::other)?;
            serve_tokio(builder.spawn(device)?, local, args.mode).await
        }),
    }
}

async fn serve_tokio(stack: Runtime, local: SocketAddr, mode: Mode) -> io::Result<()> {
    let listener = synack::tokio_net::TcpListener::bind(&stack, local).await?;
    println!("listening on {}", listener.local_addr()?);
    accept_loop(listener, mode).await
}

/// One listener per shard (and one echo listener each, if asked), each served by a task on
/// its shard's thread, with its connections' tasks beside it.
async fn serve_sharded(
    sharded: synack::runtime::Sharded,
    local: SocketAddr,
    mode: Mode,
    echo: Option<SocketAddr>,
) -> io::Result<()> {
    let mut loops = Vec::new();
    for i in 0..sharded.len() {
        let Some(handle) = sharded.shard(i) else {
            break;
        };
        let listener = synack::tokio_net::TcpListener::bind(handle, local).await?;
        loops.extend(sharded.spawn_on(i, accept_loop(listener, mode)));
        if let Some(at) = echo {
            let listener = synack::tokio_net::TcpListener::bind(handle, at).await?;
            loops.extend(sharded.spawn_on(i, accept_loop(listener, Mode::Echo)));
        }
    }
    println!("listening on {local} ({} shards)", sharded.len());
    for l in loops {
        l.await
            .map_err(|_| io::Error::other("a serving task panicked"))??;
    }
    Ok(())
}

/// Serves every connection `listener` accepts in `mode`, each in a task of its own.
async fn accept_loop(listener: synack::tokio_net::TcpListener, mode: Mode) -> io::Result<()> {
    loop {
        let (s, _) = listener.accept().await?;
        tokio::spawn(serve_one(s, mode));
    }
}

/// Discards, sources or echoes one connection, then closes it.
async fn serve_one(mut s: synack::tokio_net::TcpStream, mode: Mode) {
    let _ = match mode {
        Mode::Discard => {
            let mut buf = vec![0u8; CHUNK];
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break Ok(()),
                    Ok(_) => {}
                }
            }
        }
        Mode::Source => {
            let buf = vec![0u8; CHUNK];
            loop {
                if let Err(e) = s.write_all(&buf).await {
                    break Err(e);
                }
            }
        }
        // Echo serves small requests (the connection-rate and ping-pong runs): a 1 MiB buffer
        // per connection, zeroed, cost more than the connection itself (a profile of the
        // connection-rate run had 30% of the server in memset, and page faults on two threads).
        Mode::Echo => {
            let (mut r, mut w) = s.split();
            tokio::io::copy_buf(
                &mut tokio::io::BufReader::with_capacity(ECHO_CHUNK, &mut r),
                &mut w,
            )
            .await
            .map(drop)
        }
    };
    let _ = s.shutdown().await;
}

fn serve_blocking(stack: Runtime, local: SocketAddr, mode: Mode) -> io::Result<()> {
    let listener = synack::blocking::TcpListener::bind(&stack, local)?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (mut s, _) = listener.accept()?;
        std::thread::spawn(move || {
            let mut buf = vec![0u8; CHUNK];
            match mode {
                Mode::Source => while s.write_all(&buf).is_ok() {},
                Mode::Discard | Mode::Echo => loop {
                    let n = match s.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if matches!(mode, Mode::Echo) && s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                },
            }
            let _ = s.shutdown(std::net::Shutdown::Write);
        });
    }
}
