//! synack: a userspace TCP/IP stack with a sans-IO core.
//!
//! The core ([`tcp`] and [`stack`]) never reads a clock and never touches a
//! socket or a device: packets and the current [`time::Instant`] go in, and
//! packets, timer deadlines and events come out. Drivers such as the seeded
//! simulator in [`sim`] sit around it.
//!
//! # Using synack as a library
//!
//! A [`runtime::Runtime`] runs a stack on any [`net::Device`] (a TUN interface, an
//! in-memory link, or your own) on a background thread. Sockets that mirror `std::net`
//! ([`blocking`]) and `tokio::net` ([`tokio_net`]) are created from it. The examples below
//! join two stacks, host A and host B, with an in-memory link, so they need no privileges;
//! on a TUN device, open it with [`runtime::Builder::build_with`] (see
//! `examples/echo_server.rs`).
//!
//! ## Blocking, like `std::net`
//!
//! ```
//! use std::io::{Read, Write};
//! use std::net::{Shutdown, SocketAddr};
//! use synack::blocking::{TcpListener, TcpStream};
//! use synack::net::MemoryDevice;
//! use synack::runtime::Runtime;
//!
//! # fn main() -> std::io::Result<()> {
//! let (link_a, link_b) = MemoryDevice::pair(1500, 1024);
//! let a = Runtime::builder().address([192, 0, 2, 1].into()).build(link_a)?;
//! let b = Runtime::builder().address([192, 0, 2, 2].into()).build(link_b)?;
//!
//! let listener = TcpListener::bind(&b, "192.0.2.2:7")?;
//! let server = std::thread::spawn(move || -> std::io::Result<()> {
//!     let (mut stream, _peer) = listener.accept()?;
//!     let mut request = String::new();
//!     stream.read_to_string(&mut request)?; // until the client's FIN
//!     stream.write_all(request.to_uppercase().as_bytes())?;
//!     Ok(()) // dropping the stream closes it
//! });
//!
//! let server_addr: SocketAddr = "192.0.2.2:7".parse().unwrap();
//! let mut stream = TcpStream::connect(&a, server_addr)?;
//! stream.write_all(b"hello")?;
//! stream.shutdown(Shutdown::Write)?; // half-close: FIN, and keep reading
//! let mut reply = String::new();
//! stream.read_to_string(&mut reply)?;
//! assert_eq!(reply, "HELLO");
//! server.join().unwrap()?;
//! # Ok(())
//! # }
//! ```
//!
//! ## Async, like `tokio::net`
//!
//! [`tokio_net::TcpStream`] implements `AsyncRead` and `AsyncWrite`, so tokio's utilities,
//! `tokio-rustls` and `hyper` work on it unchanged.
//!
//! ```
//! use synack::net::MemoryDevice;
//! use synack::runtime::Runtime;
//! use synack::tokio_net::{TcpListener, TcpStream};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # fn main() -> std::io::Result<()> {
//! let (link_a, link_b) = MemoryDevice::pair(1500, 1024);
//! let a = Runtime::builder().address([192, 0, 2, 1].into()).build(link_a)?;
//! let b = Runtime::builder().address([192, 0, 2, 2].into()).build(link_b)?;
//!
//! let app = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! app.block_on(async {
//!     let listener = TcpListener::bind(&b, "192.0.2.2:7").await?;
//!     tokio::spawn(async move {
//!         let (mut stream, _peer) = listener.accept().await?;
//!         let (mut rd, mut wr) = stream.split();
//!         tokio::io::copy(&mut rd, &mut wr).await?; // echo until the client's FIN
//!         wr.shutdown().await // then send ours
//!     });
//!
//!     let mut stream = TcpStream::connect(&a, "192.0.2.2:7").await?;
//!     stream.write_all(b"ping").await?;
//!     stream.shutdown().await?; // FIN
//!     let mut echo = Vec::new();
//!     stream.read_to_end(&mut echo).await?;
//!     assert_eq!(echo, b"ping");
//!     Ok(())
//! })
//! # }
//! ```
//!
//! ## The sans-IO stack itself
//!
//! Without a runtime, you own the loop: hand packets to [`stack::Stack::handle_packet`],
//! drain [`stack::Stack::poll_transmit`], and call [`stack::Stack::handle_timeout`] at
//! [`stack::Stack::poll_timeout`]. Here two stacks talk over a [`sim::Network`] whose
//! virtual clock jumps from event to event:
//!
//! ```
//! use synack::sim::{HostId, LinkConfig, Network};
//! use synack::stack::{Secret, Stack, StackConfig};
//! use synack::time::Duration;
//!
//! let (ip_a, ip_b) = ([192, 0, 2, 1].into(), [192, 0, 2, 2].into());
//! let mut net = Network::new(7);
//! // Fixed secrets make the simulation replay exactly; on a real network they must be
//! // random (`synack::net::random_secret()`).
//! let (secret_a, secret_b) = (Secret::from_bytes([1; 16]), Secret::from_bytes([2; 16]));
//! let a = net.add_host(&[ip_a], Stack::new(StackConfig::default(), secret_a, &[ip_a]));
//! let b = net.add_host(&[ip_b], Stack::new(StackConfig::default(), secret_b, &[ip_b]));
//! net.set_links(a, b, LinkConfig::default().with_delay(Duration::from_millis(10)));
//!
//! let listener = net.host_mut(b).listen((ip_b, 80).into(), 8).unwrap();
//! let now = net.now();
//! let conn = net.host_mut(a).connect(now, (ip_b, 80).into()).unwrap();
//! net.host_mut(a).send(now, conn, b"GET /").unwrap();
//! let limit = net.now() + Duration::from_secs(5);
//! net.run_until(limit, |n| n.host(b).connections().count() > 0);
//! net.run_until(limit, |_| false);
//! let accepted = net.host_mut(b).accept(listener).unwrap();
//! let mut buf = [0u8; 16];
//! let now = net.now();
//! assert_eq!(net.host_mut(b).recv(now, accepted, &mut buf), Ok(5));
//! assert_eq!(&buf[..5], b"GET /");
//! ```

pub mod blocking;
pub mod net;
pub mod qlog;
pub mod runtime;
#[cfg(feature = "simulation")]
pub mod simulation;
pub mod tokio_net;
pub mod trace;

// The sans-IO core lives in its own crate (`synack-proto`), which cannot reach I/O; its
// modules keep their paths here (`synack::tcp`, `synack::stack`, ...).
pub use synack_proto::{frag, pcap, sim, stack, tcp, time, udp, wire};
