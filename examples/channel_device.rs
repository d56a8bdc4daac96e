//! Writing your own [`Device`]: synack over a pair of Tokio channels.
//!
//! A device is anything that carries raw IP packets: a TUN interface, a WireGuard tunnel, a
//! socket to another process, or, here, channels. It implements four methods: `readable`
//! (wait until a packet may be there), `try_recv` and `try_send` (never wait), and `mtu`.
//! `Runtime::builder().build(device)` then runs a whole stack on it.
//!
//! Two stacks are joined by a channel "wire" that, like a real one, drops packets when full.
//! Host B serves a blocking echo; host A is a tokio client. With `--lossy` the link between
//! them is the simulated network instead: 2% loss, 10–15 ms delay (so reordering) and 1%
//! duplication, from the runtime's seeded impairer.
//!
//! ```sh
//! cargo run --example channel_device
//! cargo run --example channel_device -- --lossy
//! ```

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;
use synack::net::{Device, ImpairConfig};
use synack::runtime::Runtime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// One end of a channel wire: packets sent here come out of the other end.
struct ChannelDevice {
    tx: mpsc::Sender<Vec<u8>>,
    rx: tokio::sync::Mutex<mpsc::Receiver<Vec<u8>>>,
    /// A packet `readable` took from the channel before `try_recv` asked for it.
    peeked: Mutex<Option<Vec<u8>>>,
}

impl ChannelDevice {
    /// Two ends; each direction holds at most `capacity` packets.
    fn pair(capacity: usize) -> (ChannelDevice, ChannelDevice) {
        let (a_tx, b_rx) = mpsc::channel(capacity);
        let (b_tx, a_rx) = mpsc::channel(capacity);
        let end = |tx, rx| ChannelDevice {
            tx,
            rx: tokio::sync::Mutex::new(rx),
            peeked: Mutex::new(None),
        };
        (end(a_tx, a_rx), end(b_tx, b_rx))
    }

    fn peeked(&self) -> std::sync::MutexGuard<'_, Option<Vec<u8>>> {
        self.peeked.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Device for ChannelDevice {
    /// Completes once a packet is waiting. Cancel-safe: `recv` is, and a received packet is
    /// parked in `peeked` before the future completes.
    async fn readable(&self) -> io::Result<()> {
        if self.peeked().is_some() {
            return Ok(());
        }
        let mut rx = self.rx.lock().await;
        match rx.recv().await {
            Some(p) => {
                *self.peeked() = Some(p);
                Ok(())
            }
            None => Err(io::ErrorKind::BrokenPipe.into()),
        }
    }

    fn try_recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let packet = match self.peeked().take() {
            Some(p) => p,
            None => {
                // `readable` holds the receiver while it waits; then nothing is queued anyway.
                let Ok(mut rx) = self.rx.try_lock() else {
                    return Ok(None);
                };
                match rx.try_recv() {
                    Ok(p) => p,
                    Err(_) => return Ok(None),
                }
            }
        };
        let n = packet.len().min(buf.len());
        buf[..n].copy_from_slice(&packet[..n]);
        Ok(Some(n))
    }

    fn try_send(&self, packet: &[u8]) -> io::Result<bool> {
        // A full channel drops the packet, like a full queue on a wire; TCP recovers.
        Ok(self.tx.try_send(packet.to_vec()).is_ok())
    }

    fn mtu(&self) -> usize {
        1500
    }
}

const A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
const B: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));

fn main() -> io::Result<()> {
    let lossy = std::env::args().any(|a| a == "--lossy");
    let (dev_a, dev_b) = ChannelDevice::pair(1024);
    let mut builder_a = Runtime::builder().address(A);
    if lossy {
        // The simulator's link model, in real time: 2% loss, 10–15 ms delay, 1% duplicates.
        builder_a = builder_a.impair(ImpairConfig {
            link: ImpairConfig::default()
                .link
                .with_loss(0.02)
                .with_delay(Duration::from_millis(10))
                .with_jitter(Duration::from_millis(5))
                .with_duplicate(0.01),
            seed: 1,
        });
    }
    let host_a = builder_a.build(dev_a)?;
    let host_b = Runtime::builder().address(B).build(dev_b)?;

    // Host B: a blocking echo server, one thread per connection.
    let listener = synack::blocking::TcpListener::bind(&host_b, SocketAddr::new(B, 7))?;
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 || stream.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = stream.shutdown(std::net::Shutdown::Write);
            });
        }
    });

    // Host A: a tokio client sends 1 MB, half-closes, and reads the echo.
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    client.block_on(async {
        let stream = synack::tokio_net::TcpStream::connect(&host_a, SocketAddr::new(B, 7)).await?;
        println!(
            "connected {} -> {}",
            stream.local_addr()?,
            stream.peer_addr()?
        );
        let data: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let (mut r, mut w) = stream.into_split();
        let sent = data.clone();
        let writer = tokio::spawn(async move {
            w.write_all(&sent).await?;
            w.shutdown().await
        });
        let started = std::time::Instant::now();
        let mut echo = Vec::new();
        r.read_to_end(&mut echo).await?;
        writer.await.map_err(io::Error::other)??;
        let retrans = host_a.with_stack(|s, _| s.counters().retrans_segs)?;
        println!(
            "echoed {} bytes intact: {} in {:.2?} ({} retransmissions)",
            echo.len(),
            echo == data,
            started.elapsed(),
            retrans
        );
        Ok(())
    })
}
