//! An HTTP GET client on synack's blocking API, over a TUN device: the kernel's web server
//! answers.
//!
//! Needs CAP_NET_ADMIN (run as root); a network namespace of your own keeps everything
//! contained. Serve a directory with the kernel's TCP on its side of the device, then fetch
//! from it with synack:
//!
//! ```sh
//! cargo build --release --examples
//! ip netns add synack-ex
//! ip netns exec synack-ex target/release/examples/http_get http://198.18.1.1:8000/ \
//!     --tun tun1 --addr 198.18.1.2 --kernel-addr 198.18.1.1/24 --serve-dir .
//! ```
//!
//! `--serve-dir DIR` starts `python3 -m http.server` on the kernel's address (in the same
//! namespace) once the device is up, for a self-contained try; without it, fetch from any
//! server the kernel side can reach. The response headers go to stderr, the body to stdout.
//! Only `http://IP[:PORT]/PATH` URLs: there is no DNS here.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::process::{Child, Command};
use std::time::Duration;
use synack::blocking::TcpStream;
use synack::net::{TunConfig, TunDevice};
use synack::runtime::Runtime;

struct Args {
    url: String,
    tun: String,
    addr: IpAddr,
    kernel_addr: Option<(IpAddr, u8)>,
    serve_dir: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        url: String::new(),
        tun: "tun1".into(),
        addr: IpAddr::from([198, 18, 1, 2]),
        kernel_addr: Some((IpAddr::from([198, 18, 1, 1]), 24)),
        serve_dir: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if !flag.starts_with("--") {
            args.url = flag;
            continue;
        }
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--tun" => args.tun = value,
            "--addr" => args.addr = value.parse().map_err(|e| bad(&e))?,
            "--serve-dir" => args.serve_dir = Some(value),
            "--kernel-addr" => {
                let (ip, prefix) = value.split_once('/').ok_or(bad(&"expected IP/PREFIX"))?;
                let ip = ip.parse().map_err(|e| bad(&e))?;
                args.kernel_addr = Some((ip, prefix.parse().map_err(|e| bad(&e))?));
            }
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if args.url.is_empty() {
        return Err(
            "usage: http_get http://IP[:PORT]/PATH [--tun NAME] [--addr IP] \
                    [--kernel-addr IP/PREFIX] [--serve-dir DIR]"
                .into(),
        );
    }
    Ok(args)
}

/// `http://IP[:PORT]/PATH` → (address, host header, path).
fn parse_url(url: &str) -> Result<(SocketAddr, String, String), String> {
    let rest = url.strip_prefix("http://").ok_or("only http:// URLs")?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = host
        .parse::<SocketAddr>()
        .or_else(|_| host.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 80)))
        .map_err(|_| format!("{host}: expected IP or IP:PORT (no DNS)"))?;
    Ok((addr, host.to_string(), path.to_string()))
}

/// Kills the kernel-side web server when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() -> io::Result<()> {
    let args = parse_args().map_err(io::Error::other)?;
    let (remote, host, path) = parse_url(&args.url).map_err(io::Error::other)?;
    let tun = TunConfig {
        kernel_addr: args.kernel_addr,
        ..TunConfig::new(args.tun)
    };
    let stack = Runtime::builder()
        .address(args.addr)
        .build_with(move || TunDevice::open(&tun).map_err(io::Error::other))?;
    let _server = match &args.serve_dir {
        Some(dir) => Some(start_server(dir, remote)?),
        None => None,
    };
    let mut stream = connect_retrying(&stack, remote, args.serve_dir.is_some())?;
    eprintln!(
        "connected {} -> {}",
        stream.local_addr()?,
        stream.peer_addr()?
    );
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: synack-http_get\r\n\
         Connection: close\r\n\r\n"
    )?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(response.len(), |i| i + 4);
    io::stderr().write_all(&response[..split])?;
    io::stdout().write_all(&response[split..])?;
    Ok(())
}

fn start_server(dir: &str, at: SocketAddr) -> io::Result<Server> {
    let child = Command::new("python3")
        .args(["-m", "http.server", "--bind", &at.ip().to_string()])
        .arg(at.port().to_string())
        .args(["--directory", dir])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    Ok(Server(child))
}

/// Connects; while a just-started server is not yet listening (refused), tries again.
fn connect_retrying(stack: &Runtime, remote: SocketAddr, retry: bool) -> io::Result<TcpStream> {
    let mut tries = if retry { 50 } else { 1 };
    loop {
        match TcpStream::connect_timeout(stack, remote, Duration::from_secs(10)) {
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused && tries > 1 => {
                tries -= 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            r => return r,
        }
    }
}
