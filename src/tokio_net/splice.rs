//! Zero-copy faces of [`TcpStream`] and [`copy_bidirectional`], the splice a tun2socks or
//! proxy app runs between an intercepted connection and its outbound socket.
//!
//! `tokio::io::copy_bidirectional` moves each byte through a buffer of its own: the stack
//! copies it out of the receive ring into that buffer, then the kernel copies it from there
//! into its socket. [`copy_bidirectional`] hands the ring itself to the other side's
//! `poll_write` (and lets its `poll_read` fill the send ring), so each byte is copied once
//! less each way and no intermediate buffer exists.
//!
//! The price: the other side's `poll_read`/`poll_write` runs while the stack's lock is held,
//! so the stack's own task waits for at most one non-blocking call on it (a `send()` or
//! `recv()` system call for a kernel socket). Keep the other side non-blocking (any
//! `AsyncRead + AsyncWrite` is), and cheap per call (a TLS session is, a pipe to another
//! task is not the point).

use super::TcpStream;
use crate::runtime::socket::StreamSocket;
use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How many transfers one direction makes per poll before it yields to other tasks (the
/// stack's own task among them, on a single-threaded runtime).
const ROUNDS_PER_POLL: usize = 16;

impl TcpStream {
    /// RECEIVE in place: `f` gets a context for this task and the readable bytes where they lie in the receive ring, as
    /// up to two slices in order (the second is non-empty only when they wrap around the
    /// ring), and answers how many it consumed — `Ready(Ok(n))` — or `Pending` after
    /// registering `cx` with whatever it waits on (nothing is consumed), or an error of its
    /// own, which is returned as it is. `Ready(Ok(0))` without calling `f` is the end of the
    /// stream; `Pending` without calling `f` means nothing is readable yet (the task is woken
    /// when something is). After `f`'s `Pending` the task is also woken if the connection
    /// closes or is reset meanwhile, so a splice notices it even while the other side is
    /// stuck.
    ///
    /// `f` runs under the stack's lock: it must not block or wait (a non-blocking write to
    /// a socket is what it is for).
    pub fn poll_read_with(
        &self,
        cx: &mut Context<'_>,
        f: impl FnOnce(&mut Context<'_>, &[u8], &[u8]) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        self.socket.poll_recv_with(cx, f)
    }

    /// SEND in place: `f` gets a context for this task and free room in the send ring as one
    /// slice, writes the bytes to
    /// send at its start and answers how many — `Ready(Ok(n))`; `Ready(Ok(0))` when it has
    /// nothing more (its source ended) — or `Pending` after registering `cx` elsewhere, or an
    /// error of its own, which is returned as it is. `Pending` without calling `f` means the
    /// send buffer is full (the task is woken when it has room); writing after
    /// [`shutdown`](tokio::io::AsyncWriteExt::shutdown) or after the connection failed is an
    /// error, as for [`AsyncWrite::poll_write`]. After `f`'s `Pending` the task is also woken
    /// if the connection closes or is reset meanwhile.
    ///
    /// `f` runs under the stack's lock: it must not block or wait (a non-blocking read from
    /// a socket is what it is for).
    pub fn poll_write_with(
        &self,
        cx: &mut Context<'_>,
        f: impl FnOnce(&mut Context<'_>, &mut [u8]) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        self.socket.poll_send_with(cx, f)
    }
}

/// Copies data both ways between `stream` and `other` until both directions have ended, as
/// `tokio::io::copy_bidirectional` does — when one side's stream ends, the other side is
/// shut down for writing (a FIN), and reading the other way goes on — but without an
/// intermediate buffer: bytes go from the stack's receive ring straight into `other`'s
/// `poll_write`, and from `other`'s `poll_read` straight into the send ring. The price:
/// `other`'s calls run under the stack's lock, so they must not block (no `AsyncRead +
/// AsyncWrite` does), and the stack's task waits for at most one of them, a single
/// non-blocking system call for a kernel socket. Returns the bytes moved `stream` → `other` and
/// `other` → `stream`; the first error of either direction ends both.
pub async fn copy_bidirectional<T>(stream: &mut TcpStream, other: &mut T) -> io::Result<(u64, u64)>
where
    T: AsyncRead + AsyncWrite + Unpin + ?Sized,
{
    let mut out = Direction::default();
    let mut back = Direction::default();
    let socket = &*stream.socket;
    poll_fn(|cx| {
        let a = poll_out(socket, other, cx, &mut out)?;
        let b = poll_back(socket, other, cx, &mut back)?;
        match (a, b) {
            (Poll::Ready(()), Poll::Ready(())) => Poll::Ready(Ok((out.bytes, back.bytes))),
            _ => Poll::Pending,
        }
    })
    .await
}

/// Where one direction of a splice stands.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Moving bytes.
    #[default]
    Copying,
    /// The source ended: shutting the destination down.
    ShuttingDown,
    /// Both done.
    Done,
}

/// One direction's progress.
#[derive(Debug, Default)]
struct Direction {
    phase: Phase,
    bytes: u64,
    /// Bytes were written to `other` since its last flush.
    unflushed: bool,
}

/// `stream` → `other`: the receive ring into `other.poll_write`.
fn poll_out<T>(
    socket: &StreamSocket,
    other: &mut T,
    cx: &mut Context<'_>,
    dir: &mut Direction,
) -> Poll<io::Result<()>>
where
    T: AsyncWrite + Unpin + ?Sized,
{
    for _ in 0..ROUNDS_PER_POLL {
        match dir.phase {
            Phase::Copying => {
                match socket.poll_recv_with(cx, |cx, a, b| write_slices(other, cx, a, b)) {
                    Poll::Ready(Ok(0)) => dir.phase = Phase::ShuttingDown,
                    Poll::Ready(Ok(n)) => {
                        dir.bytes += n as u64;
                        dir.unflushed = true;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => {
                        // Nothing to read now, or `other` is full: what it holds should
                        // go out meanwhile (a no-op for a kernel socket, not for TLS).
                        if dir.unflushed {
                            ready!(Pin::new(&mut *other).poll_flush(cx))?;
                            dir.unflushed = false;
                        }
                        return Poll::Pending;
                    }
                }
            }
            Phase::ShuttingDown => {
                ready!(Pin::new(&mut *other).poll_shutdown(cx))?;
                dir.phase = Phase::Done;
            }
            Phase::Done => return Poll::Ready(Ok(())),
        }
    }
    // Still busy: let other tasks run, and come back at once.
    cx.waker().wake_by_ref();
    Poll::Pending
}

/// `other` → `stream`: `other.poll_read` into the send ring.
fn poll_back<T>(
    socket: &StreamSocket,
    other: &mut T,
    cx: &mut Context<'_>,
    dir: &mut Direction,
) -> Poll<io::Result<()>>
where
    T: AsyncRead + Unpin + ?Sized,
{
    for _ in 0..ROUNDS_PER_POLL {
        match dir.phase {
            Phase::Copying => {
                match socket.poll_send_with(cx, |cx, buf| read_into(other, cx, buf)) {
                    Poll::Ready(Ok(0)) => dir.phase = Phase::ShuttingDown,
                    Poll::Ready(Ok(n)) => dir.bytes += n as u64,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                }
            }
            Phase::ShuttingDown => {
                socket.shutdown_write()?;
                dir.phase = Phase::Done;
            }
            Phase::Done => return Poll::Ready(Ok(())),
        }
    }
    cx.waker().wake_by_ref();
    Poll::Pending
}

/// One write of `a` then `b` to `other` (vectored when it can); a write that takes nothing
/// of a non-empty buffer is `WriteZero`, as in `tokio::io::copy`.
fn write_slices<T>(
    other: &mut T,
    cx: &mut Context<'_>,
    a: &[u8],
    b: &[u8],
) -> Poll<io::Result<usize>>
where
    T: AsyncWrite + Unpin + ?Sized,
{
    let mut other = Pin::new(other);
    let n = if !b.is_empty() && other.is_write_vectored() {
        ready!(
            other
                .as_mut()
                .poll_write_vectored(cx, &[IoSlice::new(a), IoSlice::new(b)])
        )?
    } else {
        ready!(other.as_mut().poll_write(cx, a))?
    };
    if n == 0 {
        return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
    }
    Poll::Ready(Ok(n))
}

/// One read from `other` into `buf`; `Ok(0)` is its end of stream.
fn read_into<T>(other: &mut T, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>
where
    T: AsyncRead + Unpin + ?Sized,
{
    let mut rb = ReadBuf::new(buf);
    ready!(Pin::new(other).poll_read(cx, &mut rb))?;
    Poll::Ready(Ok(rb.filled().len()))
}
