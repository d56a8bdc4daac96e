//! Forward: the core of a tun2socks app.
//!
//! Opens a TUN device and intercepts every TCP connection that arrives on it whatever its
//! destination, deferring each handshake ([`TcpListener::intercept_deferred`]): with the
//! client's SYN still unanswered it dials the original destination (the SYN's
//! `local_addr()`) from a kernel socket, and only then completes the client's handshake and
//! splices the two with [`synack::tokio_net::copy_bidirectional`], which moves the bytes
//! between the stack's rings and the kernel socket without a buffer between (`--splice
//! buffered` uses `tokio::io::copy_bidirectional_with_sizes` instead); if the destination refuses
//! or cannot be reached, the client's SYN gets a RST, so the client sees "connection refused"
//! as it would from the destination itself. A half-close travels through: when one side sends
//! its FIN, the other side's write half is shut down and the opposite direction keeps flowing.
//!
//! UDP flows are intercepted too ([`UdpInterceptor`]): each new flow (a client and an original
//! destination) gets a kernel UDP socket connected to that destination, and datagrams go
//! both ways until the flow is idle for a minute, so DNS and QUIC pass through as well.
//!
//! With more than one thread (`--threads`, by default one per core) the device is opened with
//! that many queues ([`TunDevice::open_queues`]) and run as a sharded runtime
//! ([`Builder::build_sharded`](synack::runtime::Builder::build_sharded)): each thread runs a
//! stack of its own on its own queue, and its interceptor's accept loop and the splices of its
//! connections as tasks beside it. A connection belongs to the shard its 4-tuple hashes to;
//! the kernel keeps a flow on the queue its replies come from, and a packet that lands on
//! another queue anyway (a new SYN, or a flow idle for more than the kernel's 3 s) is handed
//! to the owner rather than reset. UDP flows are served by the first thread.
//!
//! ```sh
//! forward --tun tun0 [--addr 198.18.0.2] [--threads N] [--stats SECONDS]
//! ```
//!
//! Prints `forwarding on IFNAME (N threads)` once the device is open, then one line per connection
//! (and `udp CLIENT -> DESTINATION up=DATAGRAMS down=DATAGRAMS` per UDP flow when it ends):
//! `conn CLIENT -> DESTINATION up=BYTES down=BYTES thread=N` (up: client to destination; N:
//! the thread that carried it) or
//! `conn CLIENT -> DESTINATION failed: REASON`. Route the traffic to intercept into the device;
//! the kernel sockets must not route back into it (see the README's "Interception" section,
//! which runs the device in one network namespace and the forwarder's sockets in another).

use clap::Parser;
use std::io;
use std::net::IpAddr;
use std::time::Duration;
use synack::net::{TunConfig, TunDevice};
use synack::runtime::{Handle, Runtime};
use synack::stack::StackConfig;
use synack::stack::UdpInterceptConfig;
use synack::tokio_net::{PendingConnection, TcpListener, UdpInterceptor, UdpSocket};

/// Splices every TCP connection arriving on a TUN device to its original destination.
#[derive(Parser, Debug, Clone)]
struct Args {
    /// TUN interface to open (created if absent).
    #[arg(long, value_name = "IFNAME")]
    tun: String,
    /// The stack's own address (intercepted connections do not need it).
    #[arg(long, value_name = "IP", default_value = "198.18.0.2")]
    addr: IpAddr,
    /// Send and receive buffer of each intercepted connection, in bytes. Storage grows with
    /// what is held (an idle connection holds none), so this caps memory, and bounds what
    /// one connection carries per round trip.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
    buffer: usize,
    /// Threads, each with a queue of the device and a stack of its own (default: one per core).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Every SECONDS, print every connection of the stack as a table, like `ss -tni`.
    #[arg(long, value_name = "SECONDS")]
    stats: Option<u64>,
    /// How each connection's bytes move between the stack and the kernel socket.
    #[arg(long, value_enum, default_value_t = Splice::ZeroCopy)]
    splice: Splice,
}

/// The two ways to splice a connection.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum Splice {
    /// `synack::tokio_net::copy_bidirectional`: the kernel socket reads from the stack's
    /// receive ring and writes into its send ring.
    ZeroCopy,
    /// `tokio::io::copy_bidirectional_with_sizes` with a 256 KiB buffer each way.
    Buffered,
}

/// How long a kernel connection to the original destination may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// With `--splice buffered`: bytes each direction of a splice moves per read (tokio's default is 8 KiB: every read and
/// write is a call into the stack and a system call on the kernel socket, so fewer, larger ones
/// are cheaper).
const COPY_BUF: usize = 256 * 1024;

/// Most connections waiting to be accepted.
const BACKLOG: usize = 1024;

fn main() -> io::Result<()> {
    let args = Args::parse();
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let queues =
        TunDevice::open_queues(&TunConfig::new(&args.tun), threads).map_err(io::Error::other)?;
    let mut cfg = StackConfig::default();
    cfg.tcp.send_buffer = args.buffer;
    cfg.tcp.recv_buffer = args.buffer;
    // One stack per queue, each on a thread of its own; a packet that lands on the queue of a
    // stack that does not own its connection is handed to the owner.
    let sharded = Runtime::builder()
        .address(args.addr)
        .stack_config(cfg)
        .build_sharded(
            queues
                .into_iter()
                .map(|q| move || q.register().map_err(io::Error::other)),
        )?;
    let main_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    main_rt.block_on(async {
        // Each client's SYN waits unanswered until its destination has answered ours. One
        // interceptor per shard, served by a task on that shard's thread, beside its stack:
        // waking a splice is then a run-queue push, not a wake-up of another thread.
        let mut loops = Vec::new();
        for thread in 0..sharded.len() {
            let Some(handle) = sharded.shard(thread) else {
                break;
            };
            let listener = TcpListener::intercept_deferred(handle, BACKLOG).await?;
            let splice = args.splice;
            let accept = async move {
                loop {
                    match listener.accept_syn().await {
                        Ok(pending) => drop(tokio::spawn(forward(pending, thread, splice))),
                        Err(e) => return Err::<(), io::Error>(e),
                    }
                }
            };
            loops.extend(sharded.spawn_on(thread, accept));
            if let Some(secs) = args.stats {
                sharded.spawn_on(thread, print_stats(handle.clone(), secs));
            }
        }
        // UDP flows are all served by the first shard (the sharded runtime routes UDP there).
        let udp = UdpInterceptor::new(&sharded, UdpInterceptConfig::default()).await?;
        sharded.spawn_on(0, async move {
            while let Ok((session, client, destination)) = udp.accept().await {
                tokio::spawn(relay(session, client, destination));
            }
        });
        println!("forwarding on {} ({threads} threads)", args.tun);
        for l in loops {
            match l.await {
                Ok(r) => r?,
                Err(_) => return Err(io::Error::other("a forwarding task panicked")),
            }
        }
        Ok::<_, io::Error>(())
    })
}

/// Dials the original destination of one intercepted connection, then completes the client's
/// handshake and splices the two, or refuses the client as the destination refused us; prints
/// how it went.
async fn forward(pending: PendingConnection, thread: usize, splice: Splice) {
    let (client, destination) = (pending.peer_addr(), pending.local_addr());
    let outbound =
        tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(destination))
            .await
            .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()));
    let mut outbound = match outbound {
        Ok(s) => s,
        Err(e) => {
            // The client learns what we learnt: a RST to its SYN ("connection refused").
            let _ = pending.refuse();
            println!("conn {client} -> {destination} failed: {e}");
            return;
        }
    };
    let mut stream = match pending.accept().await {
        Ok(s) => s,
        Err(e) => {
            println!("conn {client} -> {destination} failed: {e}");
            return;
        }
    };
    let _ = outbound.set_nodelay(true);
    let _ = stream.set_nodelay(true);
    let copied = match splice {
        Splice::ZeroCopy => synack::tokio_net::copy_bidirectional(&mut stream, &mut outbound).await,
        Splice::Buffered => {
            tokio::io::copy_bidirectional_with_sizes(&mut stream, &mut outbound, COPY_BUF, COPY_BUF)
                .await
        }
    };
    match copied {
        Ok((up, down)) => {
            println!("conn {client} -> {destination} up={up} down={down} thread={thread}");
        }
        Err(e) => {
            let _ = stream.abort();
            println!("conn {client} -> {destination} failed: {e}");
        }
    }
}

/// Relays one intercepted UDP flow through a kernel socket connected to its original
/// destination, until the flow's session ends (idle) or a socket fails; prints how it went.
async fn relay(
    session: UdpSocket,
    client: std::net::SocketAddr,
    destination: std::net::SocketAddr,
) {
    let bind: std::net::SocketAddr = if destination.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let outbound = match tokio::net::UdpSocket::bind(bind).await {
        Ok(s) => s,
        Err(e) => {
            println!("udp {client} -> {destination} failed: {e}");
            return;
        }
    };
    if let Err(e) = outbound.connect(destination).await {
        println!("udp {client} -> {destination} failed: {e}");
        return;
    }
    let (mut up, mut down) = (0u64, 0u64);
    let mut from_client = vec![0u8; 65_536];
    let mut from_destination = vec![0u8; 65_536];
    let why = loop {
        tokio::select! {
            r = session.recv(&mut from_client) => match r {
                Ok(n) => {
                    // A destination that refuses (ICMP) is the client's business, not ours.
                    let _ = outbound.send(&from_client[..n]).await;
                    up += 1;
                }
                Err(e) => break e,
            },
            r = outbound.recv(&mut from_destination) => match r {
                Ok(n) => {
                    if let Err(e) = session.send(&from_destination[..n]).await {
                        break e;
                    }
                    down += 1;
                }
                // ICMP port unreachable from the destination: keep relaying.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
                Err(e) => break e,
            },
        }
    };
    println!("udp {client} -> {destination} up={up} down={down} ended: {why}");
}

/// Prints the stack's snapshot table every `secs` seconds.
async fn print_stats(handle: Handle, secs: u64) {
    let mut tick = tokio::time::interval(Duration::from_secs(secs.max(1)));
    tick.tick().await;
    loop {
        tick.tick().await;
        match handle.with_stack(|s, _| s.snapshot()) {
            Ok(snapshot) => println!("{snapshot}"),
            Err(_) => return,
        }
    }
}
