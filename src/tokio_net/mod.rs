//! Async sockets mirroring `tokio::net`: [`TcpListener`], [`TcpStream`] and [`UdpSocket`] over a synack
//! [`Runtime`](crate::runtime::Runtime).
//!
//! [`TcpStream`] implements Tokio's `AsyncRead` and `AsyncWrite`, so `tokio::io::copy`,
//! `AsyncReadExt`/`AsyncWriteExt`, `tokio_rustls` and `hyper` (through
//! `hyper_util::rt::TokioIo`) work on it unchanged. `poll_shutdown` sends a FIN (a half-close:
//! reading goes on); `poll_flush` has nothing to do, because a write hands its bytes to the
//! stack, which sends them at once. The futures need no particular executor: the synack
//! runtime wakes them when the stack reports the connection ready.
//!
//! The sockets are created from a [`Handle`](crate::runtime::Handle) (or `&Runtime`, which dereferences to one)
//! instead of an ambient runtime, because one process may run several stacks.

mod addr;
mod listener;
mod socket;
mod splice;
mod split;
mod stream;
mod udp;

pub use addr::ToSocketAddrs;
pub use listener::{PendingConnection, TcpListener};
pub use socket::TcpSocket;
pub use splice::copy_bidirectional;
pub use split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, WriteHalf};
pub use stream::TcpStream;
pub use udp::{UdpInterceptor, UdpSocket};
