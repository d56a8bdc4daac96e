//! `FdDevice`: synack on a descriptor somebody else opened, as Android's `VpnService` and
//! iOS's utun hand one over, with the kernel as the peer.
//!
//! Each test creates a network namespace, opens `tun0` in it *itself* (`/dev/net/tun`,
//! `TUNSETIFF` with `IFF_TUN | IFF_NO_PI`, as Android's `VpnService` does before handing the
//! descriptor to the app) and configures the kernel's side with `ip`. Then:
//! - Android: the descriptor goes straight to `FdDevice` ([`Framing::Raw`]);
//! - iOS / macOS: `FdDevice` gets one end of a datagram socket pair ([`Framing::AfHeader`]),
//!   and a shim relays between the other end and the TUN descriptor, adding utun's 4-byte
//!   address-family header towards synack and checking and stripping it towards the kernel.
//!
//! Over each, the kernel pings synack (4,000-byte echoes: fragments both ways), sends 4 MiB
//! over TCP that synack echoes (SHA-256 checked both ways), and exchanges UDP datagrams.
//! The namespace (and with it the device) is deleted afterwards, also on failure.
//!
//! Without root (or without `ip`, `ping`, `/dev/net/tun`) the tests print why and pass; with
//! `SYNACK_REQUIRE_INTEROP=1` (as `.ci/run` sets) a skip is a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use support::Netns;
use synack::net::{FdConfig, FdDevice, Framing};
use synack::runtime::Runtime;
use synack::tokio_net::{TcpListener, UdpSocket};

const KERNEL: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const SYNACK: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const KERNEL6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const SYNACK6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
/// Bytes the kernel sends over TCP and synack echoes.
const TCP_BYTES: usize = 4 << 20;

fn can_run(test: &str) -> bool {
    support::can_run(test, &[("ping", "-V"), ("python3", "--version")])
}

/// Opens `tun0` (`IFF_TUN | IFF_NO_PI`) inside the namespace, on a thread that entered it,
/// and returns its descriptor: what `VpnService.Builder.establish()` gives an Android app.
fn open_tun_in(ns: &Netns) -> OwnedFd {
    let path = format!("/run/netns/{}", ns.name);
    let fd = std::thread::spawn(move || {
        let netns = std::fs::File::open(&path).expect("open the namespace");
        // SAFETY: setns only changes this thread's network namespace; the descriptor is
        // valid for the call (owned by `netns`).
        let r = unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
        let tun = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/net/tun")
            .expect("open /dev/net/tun");
        // struct ifreq: 16 bytes of name, then the flags (a short) in a 24-byte union.
        let mut ifr = [0u8; 40];
        ifr[..4].copy_from_slice(b"tun0");
        let flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
        ifr[16..18].copy_from_slice(&flags.to_ne_bytes());
        // SAFETY: TUNSETIFF reads and writes one `struct ifreq`, which `ifr` is large
        // enough for; the descriptor is open.
        let r = unsafe { libc::ioctl(tun.as_raw_fd(), libc::TUNSETIFF, ifr.as_mut_ptr()) };
        assert_eq!(r, 0, "TUNSETIFF: {}", std::io::Error::last_os_error());
        OwnedFd::from(tun)
    })
    .join()
    .expect("tun thread");
    ns.ip(&["addr", "add", &format!("{KERNEL}/24"), "dev", "tun0"]);
    ns.ip(&[
        "addr",
        "add",
        &format!("{KERNEL6}/64"),
        "dev",
        "tun0",
        "nodad",
    ]);
    ns.ip(&["link", "set", "tun0", "up"]);
    fd
}

/// A runtime on `FdDevice::new(fd, cfg)`; the device is also returned, to read its counters.
fn runtime_on(fd: OwnedFd, framing: Framing) -> (Runtime, Arc<FdDevice>) {
    let slot = Arc::new(OnceLock::new());
    let out = slot.clone();
    let rt = Runtime::builder()
        .address(IpAddr::V4(SYNACK))
        .address(IpAddr::V6(SYNACK6))
        .build_with(move || {
            let cfg = FdConfig { mtu: 1500, framing };
            let dev = Arc::new(FdDevice::new(fd, cfg).map_err(std::io::Error::other)?);
            let _ = out.set(dev.clone());
            Ok(dev)
        })
        .expect("start synack on the descriptor");
    let dev = slot.get().expect("the device was made").clone();
    (rt, dev)
}

/// TCP echo on port 7 and UDP echo on port 7, on synack.
async fn serve_echo(rt: &Runtime) -> (tokio::task::JoinHandle<()>, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind(rt, SocketAddr::new(IpAddr::V4(SYNACK), 7))
        .await
        .unwrap();
    let tcp = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let (mut r, mut w) = stream.into_split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
                let _ = tokio::io::AsyncWriteExt::shutdown(&mut w).await;
            });
        }
    });
    let mut echoes = Vec::new();
    for addr in [IpAddr::V4(SYNACK), IpAddr::V6(SYNACK6)] {
        let udp = UdpSocket::bind(rt, SocketAddr::new(addr, 7)).await.unwrap();
        echoes.push(async move {
            let mut buf = vec![0u8; 65536];
            while let Ok((n, from)) = udp.recv_from(&mut buf).await {
                let _ = udp.send_to(&buf[..n], from).await;
            }
        });
    }
    let udp = tokio::spawn(async move {
        let [v4, v6]: [_; 2] = echoes.try_into().ok().unwrap();
        tokio::join!(v4, v6);
    });
    (tcp, udp)
}

/// What the kernel does against synack over the device: fragmented pings (IPv4 and IPv6),
/// a TCP echo of 4 MiB with both streams hashed, and UDP datagrams echoed over IPv4 and
/// IPv6 (the largest fragmented).
async fn kernel_exercises_synack(ns: &Netns) {
    for target in [SYNACK.to_string(), SYNACK6.to_string()] {
        let name = ns.name.clone();
        let ping = tokio::task::spawn_blocking(move || {
            std::process::Command::new("ip")
                .args(["netns", "exec", &name, "ping", "-c", "3", "-i", "0.2"])
                .args(["-W", "5", "-s", "4000", &target])
                .output()
                .expect("spawn ping")
        })
        .await
        .unwrap();
        let text = String::from_utf8_lossy(&ping.stdout);
        assert!(ping.status.success(), "ping -s 4000: {text}");
        assert!(text.contains("3 received"), "{text}");
    }

    let script = format!(
        "import hashlib, socket, threading\n\
         data = bytes(i % 251 for i in range({TCP_BYTES}))\n\
         s = socket.create_connection(('{SYNACK}', 7), timeout=60)\n\
         t = threading.Thread(target=lambda: (s.sendall(data), s.shutdown(socket.SHUT_WR)))\n\
         t.start()\n\
         got = bytearray()\n\
         while True:\n    d = s.recv(65536)\n    if not d: break\n    got += d\n\
         t.join()\n\
         ok = hashlib.sha256(got).digest() == hashlib.sha256(data).digest()\n\
         print('tcp', len(got), 'ok' if ok else 'differs')\n\
         for fam, host in ((socket.AF_INET, '{SYNACK}'), (socket.AF_INET6, '{SYNACK6}')):\n    \
             u = socket.socket(fam, socket.SOCK_DGRAM)\n    \
             u.settimeout(5)\n    \
             for size in (1, 512, 1400, 3000):\n        \
                 msg = bytes((size + i) % 256 for i in range(size))\n        \
                 u.sendto(msg, (host, 7))\n        \
                 back, _ = u.recvfrom(65536)\n        \
                 print('udp', size, 'ok' if back == msg else 'differs')\n"
    );
    let out = tokio::task::spawn_blocking({
        let name = ns.name.clone();
        move || {
            std::process::Command::new("ip")
                .args(["netns", "exec", &name, "python3", "-c", &script])
                .output()
                .expect("spawn python3")
        }
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "kernel client: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "tcp {TCP_BYTES} ok\n{}",
            "udp 1 ok\nudp 512 ok\nudp 1400 ok\nudp 3000 ok\n".repeat(2)
        )
    );
}

/// Android: `VpnService` hands over a TUN descriptor carrying bare IP packets.
#[tokio::test]
async fn android_style_tun_descriptor_carries_ping_tcp_and_udp_with_the_kernel() {
    if !can_run("android_style_tun_descriptor_carries_ping_tcp_and_udp_with_the_kernel") {
        return;
    }
    let ns = Netns::new("synack-fd");
    let fd = open_tun_in(&ns);
    let (rt, dev) = runtime_on(fd, Framing::Raw);
    let (tcp, udp) = serve_echo(&rt).await;
    kernel_exercises_synack(&ns).await;
    assert_eq!(dev.framing_errors(), 0);
    tcp.abort();
    udp.abort();
    drop(rt);
}

/// The test's stand-in for utun: relays between a TUN descriptor (bare packets) and a
/// datagram socket (packets behind a 4-byte address-family header), on two threads that
/// stop when `stop` is set. Counts what synack wrote with a wrong header.
struct UtunShim {
    stop: Arc<AtomicBool>,
    bad_headers: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// `poll(2)` for readability, 100 ms at most; whether `fd` is readable.
fn readable(fd: RawFd) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, for the duration of the call.
    unsafe { libc::poll(&mut p, 1, 100) > 0 }
}

fn read_fd(fd: RawFd, buf: &mut [u8]) -> isize {
    // SAFETY: `buf` is valid for writes of its length; `fd` is open while the shim runs.
    unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) }
}

fn write_fd(fd: RawFd, buf: &[u8]) -> isize {
    // SAFETY: `buf` is valid for reads of its length; `fd` is open while the shim runs.
    unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) }
}

/// The address family utun writes before `packet` on this platform.
fn family_of(packet: &[u8]) -> u32 {
    match packet.first().map(|b| b >> 4) {
        Some(6) => libc::AF_INET6 as u32,
        _ => libc::AF_INET as u32,
    }
}

impl UtunShim {
    fn start(tun: OwnedFd, sock: OwnedFd) -> UtunShim {
        let stop = Arc::new(AtomicBool::new(false));
        let bad_headers = Arc::new(AtomicU64::new(0));
        let tun = Arc::new(tun);
        let sock = Arc::new(sock);
        // Kernel → synack: add the header.
        let up = {
            let (stop, tun, sock) = (stop.clone(), tun.clone(), sock.clone());
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 4 + 65536];
                while !stop.load(Ordering::Relaxed) {
                    if !readable(tun.as_raw_fd()) {
                        continue;
                    }
                    let n = read_fd(tun.as_raw_fd(), &mut buf[4..]);
                    let Ok(n) = usize::try_from(n) else { continue };
                    let family = family_of(&buf[4..4 + n]);
                    buf[..4].copy_from_slice(&family.to_be_bytes());
                    write_fd(sock.as_raw_fd(), &buf[..4 + n]);
                }
            })
        };
        // synack → kernel: check and strip the header.
        let down = {
            let (stop, bad) = (stop.clone(), bad_headers.clone());
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 4 + 65536];
                while !stop.load(Ordering::Relaxed) {
                    if !readable(sock.as_raw_fd()) {
                        continue;
                    }
                    let n = read_fd(sock.as_raw_fd(), &mut buf);
                    let Ok(n) = usize::try_from(n) else { continue };
                    if n < 4 || buf[..4] != family_of(&buf[4..n]).to_be_bytes() {
                        bad.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    write_fd(tun.as_raw_fd(), &buf[4..n]);
                }
            })
        };
        UtunShim {
            stop,
            bad_headers,
            threads: vec![up, down],
        }
    }
}

impl Drop for UtunShim {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// A connected `AF_UNIX` datagram socket pair: one packet per read and write, as utun.
fn datagram_pair() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors socketpair writes.
    let r = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_DGRAM, 0, fds.as_mut_ptr()) };
    assert_eq!(r, 0, "socketpair: {}", std::io::Error::last_os_error());
    // SAFETY: socketpair succeeded, so both are open descriptors that nothing else owns.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

/// iOS and macOS: utun's descriptor carries each packet behind a 4-byte address-family
/// header. Badly framed reads (shorter than the header, or a header naming the other
/// family) are dropped and counted, and what synack writes always has the right header.
#[tokio::test]
async fn utun_style_descriptor_with_af_header_carries_ping_tcp_and_udp_with_the_kernel() {
    if !can_run("utun_style_descriptor_with_af_header_carries_ping_tcp_and_udp_with_the_kernel") {
        return;
    }
    let ns = Netns::new("synack-utun");
    let tun = open_tun_in(&ns);
    let (ours, shims) = datagram_pair();
    // Two badly framed packets wait before any good one: a 2-byte read, and an IPv4
    // packet behind the IPv6 header.
    write_fd(shims.as_raw_fd(), &[0, 0]);
    let mut wrong = (libc::AF_INET6 as u32).to_be_bytes().to_vec();
    wrong.extend_from_slice(&[0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0]);
    wrong.extend_from_slice(&KERNEL.octets());
    wrong.extend_from_slice(&SYNACK.octets());
    write_fd(shims.as_raw_fd(), &wrong);
    let (rt, dev) = runtime_on(ours, Framing::AfHeader);
    assert_eq!(dev.framing(), Framing::AfHeader);
    let shim = UtunShim::start(tun, shims);
    let (tcp, udp) = serve_echo(&rt).await;
    kernel_exercises_synack(&ns).await;
    assert_eq!(dev.framing_errors(), 2, "the two badly framed reads");
    assert_eq!(
        shim.bad_headers.load(Ordering::Relaxed),
        0,
        "synack's headers"
    );
    tcp.abort();
    udp.abort();
    drop(rt);
    drop(shim);
}

/// An MTU the stack cannot use is refused with an error that says what to pass.
#[tokio::test]
async fn fd_device_refuses_an_unusable_mtu() {
    let (a, _b) = datagram_pair();
    let cfg = FdConfig {
        mtu: 100,
        framing: Framing::Raw,
    };
    let err = FdDevice::new(a, cfg).unwrap_err();
    assert_eq!(
        err.to_string(),
        "bad MTU 100: use 576 to 65535 (1280 or more for IPv6)"
    );
}
