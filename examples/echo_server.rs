//! An echo server on synack's tokio API, over a TUN device: the kernel's TCP is the client.
//!
//! Needs CAP_NET_ADMIN (run as root); a network namespace of your own keeps everything
//! contained:
//!
//! ```sh
//! cargo build --release --examples
//! ip netns add synack-ex
//! ip netns exec synack-ex target/release/examples/echo_server \
//!     --tun tun0 --addr 198.18.0.2 --kernel-addr 198.18.0.1/24 --port 7 &
//! echo hello | ip netns exec synack-ex nc -N 198.18.0.2 7
//! ```
//!
//! It serves until Ctrl-C, one task per connection, and prints a line per connection.

use std::io;
use std::net::{IpAddr, SocketAddr};
use synack::net::{TunConfig, TunDevice};
use synack::runtime::Runtime;
use synack::tokio_net::TcpListener;

struct Args {
    tun: String,
    addr: IpAddr,
    kernel_addr: Option<(IpAddr, u8)>,
    port: u16,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        tun: "tun0".into(),
        addr: IpAddr::from([198, 18, 0, 2]),
        kernel_addr: Some((IpAddr::from([198, 18, 0, 1]), 24)),
        port: 7,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--tun" => args.tun = value,
            "--addr" => args.addr = value.parse().map_err(|e| bad(&e))?,
            "--port" => args.port = value.parse().map_err(|e| bad(&e))?,
            "--kernel-addr" => {
                let (ip, prefix) = value.split_once('/').ok_or(bad(&"expected IP/PREFIX"))?;
                let ip = ip.parse().map_err(|e| bad(&e))?;
                args.kernel_addr = Some((ip, prefix.parse().map_err(|e| bad(&e))?));
            }
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(args)
}

fn main() -> io::Result<()> {
    let args = parse_args().map_err(io::Error::other)?;
    let tun = TunConfig {
        kernel_addr: args.kernel_addr,
        ..TunConfig::new(args.tun)
    };
    // The device is opened on the runtime's own thread (it registers with its event loop).
    let stack = Runtime::builder()
        .address(args.addr)
        .build_with(move || TunDevice::open(&tun).map_err(io::Error::other))?;
    let app = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    app.block_on(async {
        let listener = TcpListener::bind(&stack, SocketAddr::new(args.addr, args.port)).await?;
        println!("echo server listening on {}", listener.local_addr()?);
        loop {
            let (mut stream, peer) = tokio::select! {
                r = listener.accept() => r?,
                _ = tokio::signal::ctrl_c() => return Ok(()),
            };
            tokio::spawn(async move {
                let (mut r, mut w) = stream.split();
                let result = tokio::io::copy(&mut r, &mut w).await;
                let _ = tokio::io::AsyncWriteExt::shutdown(&mut w).await;
                match result {
                    Ok(n) => println!("{peer}: echoed {n} bytes"),
                    Err(e) => println!("{peer}: {e}"),
                }
            });
        }
    })
}
