//! `synack nc`: netcat over synack on a TUN device.

use super::link::{self, Failure, LinkArgs, Signals};
use super::output::{self, DataOut, Lines};
use clap::Args;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use synack::net::{Driver, TunDevice};
use synack::stack::{ConnId, StackError};
use synack::tcp::{self, State};
use synack::time::Duration;
use tokio::sync::mpsc;

/// Options of `synack nc`.
#[derive(Args, Debug)]
pub struct NcArgs {
    /// Listen on PORT and serve one connection instead of connecting.
    #[arg(short = 'l', long = "listen")]
    listen: bool,
    /// UDP: each line of stdin goes as one datagram, and what comes back is printed; with
    /// -l, prints the datagrams that arrive and sends stdin's lines to the last sender.
    #[arg(short = 'u', long = "udp")]
    udp: bool,
    /// With -u: after stdin ends, wait this long for more datagrams before exiting.
    #[arg(short = 'w', long = "wait", default_value = "1s", value_parser = super::parse_duration)]
    wait: Duration,
    #[command(flatten)]
    link: LinkArgs,
    /// Maximum segment lifetime. When given, nc waits out TIME-WAIT (2×MSL) before exiting;
    /// without it nc exits as soon as both FINs are exchanged.
    #[arg(long, value_parser = super::parse_duration)]
    msl: Option<Duration>,
    /// `HOST PORT` to connect to, or with -l `PORT` (or `ADDR PORT`, ADDR being --addr).
    #[arg(value_name = "[HOST] PORT", num_args = 1..=2, required = true)]
    target: Vec<String>,
}

/// Runs `nc`: 0 on a clean close, 1 on refused/reset/timeout or a failed write to stdout, 2
/// on a setup problem, 128 + N when stopped by signal N (SIGINT, SIGTERM, SIGHUP). Whatever
/// the way out, a connection still open is reset first.
pub fn run(args: NcArgs) -> ExitCode {
    let err = Lines::stderr();
    let result = link::runtime().and_then(|rt| rt.block_on(nc(args, &err)));
    let status = match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => f.report("nc", &err),
    };
    err.finish(output::EXIT_FLUSH);
    status
}

fn parse_port(s: &str) -> Result<u16, Failure> {
    s.parse()
        .map_err(|_| Failure::setup(format!("{s:?} is not a port number (1-65535)")))
        .and_then(|p| {
            if p == 0 {
                Err(Failure::setup("port 0 is not a port to use"))
            } else {
                Ok(p)
            }
        })
}

fn io_failure(e: synack::net::DriverError) -> Failure {
    Failure::connection(e.to_string())
}

/// Reads stdin on its own thread (a blocking read), in chunks, into a bounded channel.
fn stdin_reader() -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel(4);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx
                        .blocking_send(buf.get(..n).unwrap_or(&[]).to_vec())
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
    });
    rx
}

async fn nc(args: NcArgs, err: &Lines) -> Result<(), Failure> {
    let (remote, local_port) = match (args.listen, args.target.as_slice()) {
        (false, [host, port]) => {
            let ip: IpAddr = host
                .parse()
                .map_err(|_| Failure::setup(format!("{host:?} is not an IP address")))?;
            (Some(SocketAddr::new(ip, parse_port(port)?)), None)
        }
        (false, _) => return Err(Failure::setup("connect needs HOST and PORT")),
        (true, [port]) => (None, Some(parse_port(port)?)),
        (true, [addr, port]) => {
            if addr.parse::<IpAddr>().ok() != Some(args.link.addr) {
                return Err(Failure::setup(format!(
                    "can only listen on --addr {}, not {addr}",
                    args.link.addr
                )));
            }
            (None, Some(parse_port(port)?))
        }
        (true, _) => return Err(Failure::setup("listen needs PORT")),
    };
    let mut signals = Signals::catch()?;
    let mut driver = link::open(&args.link, args.msl.unwrap_or(Duration::from_secs(30)))?;
    // stdout carries the connection's data: the ladder goes to stderr.
    let ladder = link::LadderOut::new(&args.link, &mut driver, err, link::stderr_color());
    if args.udp {
        return udp(&mut driver, &args, remote, local_port, &mut signals).await;
    }
    let result = connect_and_transfer(
        &mut driver,
        &args,
        remote,
        local_port,
        &mut signals,
        &ladder,
    )
    .await;
    // Every way out (an error, a signal, the end): what is still open is reset, as the
    // kernel resets the connections of a process that exits, and the RST is on the device
    // before the process is gone. A connection that closed cleanly needs none.
    let reset = link::reset_all(&mut driver);
    ladder.finish("nc", err);
    if reset.dropped > 0 && result.is_ok() {
        return Err(Failure::connection("the device did not take the final RST"));
    }
    result
}

async fn connect_and_transfer(
    driver: &mut Driver<TunDevice>,
    args: &NcArgs,
    remote: Option<SocketAddr>,
    local_port: Option<u16>,
    signals: &mut Signals,
    ladder: &link::LadderOut<'_>,
) -> Result<(), Failure> {
    let now = driver.now();
    let (conn, peer) = match (remote, local_port) {
        (Some(remote), _) => {
            if remote.is_ipv4() != args.link.addr.is_ipv4() {
                return Err(Failure::setup(format!(
                    "{} and --addr {} are of different families",
                    remote.ip(),
                    args.link.addr
                )));
            }
            let c = driver
                .stack_mut()
                .connect(now, remote)
                .map_err(|e| Failure::setup(format!("cannot connect to {remote}: {e}")))?;
            (c, remote)
        }
        (None, Some(port)) => tokio::select! {
            r = accept_one(driver, port) => r?,
            sig = signals.recv() => return Err(Failure::signal(sig)),
        },
        (None, None) => return Err(Failure::setup("nothing to connect to")),
    };
    transfer(driver, conn, peer, args.msl.is_some(), signals, ladder).await
}

async fn accept_one(
    driver: &mut Driver<TunDevice>,
    port: u16,
) -> Result<(ConnId, SocketAddr), Failure> {
    let local = SocketAddr::new(driver.stack().addresses()[0], port);
    let lid = driver.stack_mut().listen(local, 1).map_err(|e| match e {
        StackError::AddrInUse => Failure::setup(format!("port {port} is in use")),
        e => Failure::setup(format!("cannot listen on {local}: {e}")),
    })?;
    let conn = driver
        .run_until(|stack, _| stack.accept(lid))
        .await
        .map_err(io_failure)?;
    // One connection only: later SYNs are refused.
    driver.stack_mut().unlisten(lid);
    let peer = driver
        .stack()
        .connection(conn)
        .map(|c| c.remote())
        .ok_or_else(|| Failure::connection("the accepted connection vanished"))?;
    Ok((conn, peer))
}

fn write_failure(e: std::io::Error) -> Failure {
    Failure::connection(format!("writing stdout: {e}"))
}

/// Copies stdin to the connection and the connection to stdout until both directions are
/// closed. Stdout is written by a thread of its own: when it falls behind, the connection is
/// left unread (its window closes) while the stack keeps running.
async fn transfer(
    driver: &mut Driver<TunDevice>,
    conn: ConnId,
    peer: SocketAddr,
    wait_time_wait: bool,
    signals: &mut Signals,
    ladder: &link::LadderOut<'_>,
) -> Result<(), Failure> {
    let mut input = stdin_reader();
    let mut stdout = DataOut::stdout();
    let mut pending: Vec<u8> = Vec::new();
    let mut sent = 0usize;
    let mut stdin_eof = false;
    let mut shut = false;
    let mut peer_eof = false;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        driver.poll().map_err(io_failure)?;
        ladder.drain();
        let now = driver.now();
        let stack = driver.stack_mut();
        // Connection → stdout, while the stdout queue has room.
        let mut stdout_stopped = false;
        while !peer_eof && stdout.has_room() {
            match stack.recv(now, conn, &mut buf) {
                Ok(0) => peer_eof = true,
                Ok(n) => {
                    if stdout.send(buf.get(..n).unwrap_or(&[]).to_vec()).is_err() {
                        stdout_stopped = true;
                        break;
                    }
                }
                Err(StackError::Tcp(tcp::Error::WouldBlock)) => break,
                Err(StackError::Tcp(e)) => {
                    return Err(Failure::connection(link::describe(e, peer)));
                }
                Err(e) => return Err(Failure::connection(e.to_string())),
            }
        }
        if stdout_stopped {
            return Err(write_failure(stdout.outcome().await.err().unwrap_or_else(
                || std::io::Error::new(std::io::ErrorKind::BrokenPipe, "stdout writer stopped"),
            )));
        }
        if let Some(e) = stack.error(conn) {
            return Err(Failure::connection(link::describe(e, peer)));
        }
        // stdin → connection.
        while sent < pending.len() {
            match stack.send(now, conn, pending.get(sent..).unwrap_or(&[])) {
                Ok(n) => sent += n,
                Err(StackError::Tcp(tcp::Error::WouldBlock)) => break,
                Err(StackError::Tcp(e)) => {
                    return Err(Failure::connection(link::describe(e, peer)));
                }
                Err(e) => return Err(Failure::connection(e.to_string())),
            }
        }
        let state = stack.state(conn);
        // EOF on stdin: half-close once everything is queued (and the handshake is done, as
        // CLOSE in SYN-SENT would abandon the connection).
        if stdin_eof && sent == pending.len() && !shut && state.is_synchronized() {
            stack
                .shutdown(now, conn)
                .map_err(|e| Failure::connection(e.to_string()))?;
            shut = true;
        }
        let state = stack.state(conn);
        let both_fins = shut && peer_eof && matches!(state, State::TimeWait | State::Closed);
        if both_fins && (!wait_time_wait || state == State::Closed) {
            driver.poll().map_err(io_failure)?;
            ladder.drain();
            // Everything received is written out before exiting (a signal still stops it).
            return tokio::select! {
                r = stdout.outcome() => r.map_err(write_failure),
                sig = signals.recv() => Err(Failure::signal(sig)),
            };
        }
        if state == State::Closed && !both_fins {
            return Err(Failure::connection(format!(
                "connection with {peer} closed unexpectedly"
            )));
        }
        let progressed = driver.poll().map_err(io_failure)?;
        ladder.drain();
        let want_input = !stdin_eof && sent == pending.len();
        if want_input {
            match input.try_recv() {
                Ok(c) => {
                    pending = c;
                    sent = 0;
                    continue;
                }
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    stdin_eof = true;
                    continue;
                }
                Err(mpsc::error::TryRecvError::Empty) => {}
            }
        }
        if progressed {
            // Data may have arrived in that poll: read it before sleeping.
            continue;
        }
        let want_room = !peer_eof && !stdout.has_room();
        tokio::select! {
            r = driver.wait() => r.map_err(io_failure)?,
            chunk = input.recv(), if want_input => match chunk {
                Some(c) => {
                    pending = c;
                    sent = 0;
                }
                None => stdin_eof = true,
            },
            r = stdout.ready(want_room) => r.map_err(write_failure)?,
            sig = signals.recv() => return Err(Failure::signal(sig)),
        }
    }
}

/// `nc -u`: datagrams. Connecting, each line of stdin (its newline kept, as netcat sends
/// it) goes as one datagram to the peer, and every datagram that comes back is written to
/// stdout; an ICMP port unreachable for the peer ends it with "connection refused".
/// Listening, arriving datagrams are written out and stdin's lines go to the last sender.
/// After stdin ends, nc waits `--wait` for more, then exits.
async fn udp(
    driver: &mut Driver<TunDevice>,
    args: &NcArgs,
    remote: Option<SocketAddr>,
    local_port: Option<u16>,
    signals: &mut Signals,
) -> Result<(), Failure> {
    let any = if args.link.addr.is_ipv4() {
        IpAddr::from([0u8; 4])
    } else {
        IpAddr::from([0u16; 8])
    };
    let local = SocketAddr::new(any, local_port.unwrap_or(0));
    let id = driver.stack_mut().udp_bind(local).map_err(|e| match e {
        StackError::AddrInUse => Failure::setup(format!("UDP port {} is in use", local.port())),
        e => Failure::setup(format!("cannot bind UDP {local}: {e}")),
    })?;
    let mut peer = remote;
    if let Some(r) = remote {
        driver
            .stack_mut()
            .udp_connect(id, r)
            .map_err(|e| Failure::setup(format!("cannot send to {r}: {e}")))?;
    }
    let mut input = stdin_reader();
    let mut stdout = DataOut::stdout();
    let mut lines: std::collections::VecDeque<Vec<u8>> = std::collections::VecDeque::new();
    let mut partial: Vec<u8> = Vec::new();
    let mut stdin_eof = false;
    let mut quiet_since: Option<tokio::time::Instant> = None;
    let mut buf = vec![0u8; 65_536];
    loop {
        driver.poll().map_err(io_failure)?;
        let now = driver.now();
        let stack = driver.stack_mut();
        loop {
            match stack.udp_recv_from(id, &mut buf) {
                Ok((n, from)) => {
                    quiet_since = None;
                    if remote.is_none() {
                        peer = Some(from);
                    }
                    if stdout.send(buf.get(..n).unwrap_or(&[]).to_vec()).is_err() {
                        return Err(write_failure(std::io::Error::new(
                            std::io::ErrorKind::BrokenPipe,
                            "stdout writer stopped",
                        )));
                    }
                }
                Err(StackError::Udp(synack::udp::Error::WouldBlock)) => break,
                Err(StackError::Udp(synack::udp::Error::ConnectionRefused)) => {
                    let to = peer.map_or_else(String::new, |p| format!(" by {p}"));
                    return Err(Failure::connection(format!("connection refused{to}")));
                }
                Err(e) => return Err(Failure::connection(e.to_string())),
            }
        }
        while let Some(line) = lines.front() {
            let Some(to) = peer else { break };
            match stack.udp_send_to(now, id, line, to) {
                Ok(_) => {
                    lines.pop_front();
                }
                Err(StackError::Udp(synack::udp::Error::WouldBlock)) => break,
                Err(e) => return Err(Failure::connection(e.to_string())),
            }
        }
        if driver.poll().map_err(io_failure)? {
            continue;
        }
        let all_sent = lines.is_empty() || peer.is_none();
        if stdin_eof && all_sent {
            let since = *quiet_since.get_or_insert_with(tokio::time::Instant::now);
            let wait = args.wait;
            if since.elapsed() >= wait {
                return tokio::select! {
                    r = stdout.outcome() => r.map_err(write_failure),
                    sig = signals.recv() => Err(Failure::signal(sig)),
                };
            }
        }
        let deadline = quiet_since.map(|s| s + args.wait);
        tokio::select! {
            r = driver.wait() => r.map_err(io_failure)?,
            chunk = input.recv(), if !stdin_eof => match chunk {
                Some(c) => {
                    partial.extend_from_slice(&c);
                    while let Some(i) = partial.iter().position(|&b| b == b'\n') {
                        let rest = partial.split_off(i + 1);
                        lines.push_back(std::mem::replace(&mut partial, rest));
                    }
                }
                None => {
                    stdin_eof = true;
                    if !partial.is_empty() {
                        lines.push_back(std::mem::take(&mut partial));
                    }
                }
            },
            () = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            } => {}
            sig = signals.recv() => return Err(Failure::signal(sig)),
        }
    }
}
