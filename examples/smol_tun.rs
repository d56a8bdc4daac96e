//! smoltcp 0.14 as a TCP discard server on a TUN device: the comparator of `bench/tun.sh`.
//!
//! `smol_tun --tun tun1 --addr 198.18.0.2/24 --port 5001 --buffer 4194304`
//!
//! The device must exist and be configured (the script creates it with `ip tuntap`, gives the
//! kernel its address and brings it up). One socket listens; each connection's data is read
//! and dropped, and the socket listens again when it closes. Prints `listening` once ready
//! and `conn BYTES` per connection. smoltcp's own loop: `Interface::poll`, then
//! `phy::wait` until the device is readable or `poll_delay` passes. Its TUN device has no
//! offloads (one packet per MTU, checksums in software), like synack's `--no-offload`.

use smoltcp::iface::{Config, Interface, SocketSet};
use smoltcp::phy::{Medium, TunTapInterface, wait as phy_wait};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{HardwareAddress, IpCidr};
use std::os::fd::AsRawFd;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut tun = String::from("tun1");
    let mut addr: Option<IpCidr> = None;
    let mut port = 5001u16;
    let mut buffer = 4 << 20;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_default();
        let ok = match flag.as_str() {
            "--tun" => {
                tun = value;
                true
            }
            "--addr" => {
                addr = value.parse().ok();
                addr.is_some()
            }
            "--port" => value.parse().map(|p| port = p).is_ok(),
            "--buffer" => value.parse().map(|b| buffer = b).is_ok(),
            _ => false,
        };
        if !ok {
            eprintln!("usage: smol_tun --tun NAME --addr IP/PREFIX [--port N] [--buffer BYTES]");
            return ExitCode::from(2);
        }
    }
    let Some(addr) = addr else {
        eprintln!("smol_tun: --addr IP/PREFIX is required");
        return ExitCode::from(2);
    };
    match run(&tun, addr, port, buffer) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("smol_tun: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(tun: &str, addr: IpCidr, port: u16, buffer: usize) -> std::io::Result<()> {
    let mut device = TunTapInterface::new(tun, Medium::Ip)?;
    let fd = device.as_raw_fd();
    let mut iface = Interface::new(Config::new(HardwareAddress::Ip), &mut device, now());
    iface.update_ip_addrs(|a| {
        let _ = a.push(addr);
    });
    let socket = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; buffer]),
        tcp::SocketBuffer::new(vec![0; 4096]),
    );
    let mut sockets = SocketSet::new(vec![]);
    let handle = sockets.add(socket);
    println!("listening");
    let mut received = 0u64;
    let mut was_open = false;
    loop {
        let t = now();
        iface.poll(t, &mut device, &mut sockets);
        let socket = sockets.get_mut::<tcp::Socket>(handle);
        if !socket.is_open() {
            if was_open {
                println!("conn {received}");
                received = 0;
            }
            socket
                .listen(port)
                .map_err(|e| std::io::Error::other(format!("listen: {e}")))?;
        }
        was_open = socket.is_active();
        while socket.can_recv() {
            let n = socket
                .recv(|data| (data.len(), data.len()))
                .map_err(|e| std::io::Error::other(format!("recv: {e}")))?;
            received += n as u64;
        }
        if socket.state() == tcp::State::CloseWait {
            socket.close();
        }
        phy_wait(fd, iface.poll_delay(now(), &sockets))?;
    }
}

fn now() -> Instant {
    Instant::now()
}
