//! Writing to stdout and stderr without ever holding up the packet path: nothing on it may
//! wait on a terminal, a pipe or a log writer.
//!
//! A terminal that is not scrolling, or a pipe nobody reads, blocks `write` once its buffer is
//! full; if the loop that runs the stack made that call, every connection would stall with it.
//! So the loop never writes to a file descriptor itself:
//!
//! - [`Lines`] (reports, statistics, messages) hands each line to a writer thread of its own
//!   through a queue bounded in bytes; when the queue is full the line is dropped and counted,
//!   and the count is reported ([`Lines::dropped`], [`Lines::finish`]).
//! - [`DataOut`] (`nc`'s received bytes, which must not be dropped) hands chunks to a writer
//!   thread through a bounded channel; when it is full the loop stops reading the connection,
//!   so its receive window closes and only that connection waits (flow control), while the
//!   stack keeps running.

use std::io::{self, Write};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::mpsc as tokio_mpsc;
use tokio::sync::oneshot;

/// Bytes of lines a [`Lines`] queue holds before it drops: about 600 report lines.
pub const LINE_QUEUE_BYTES: usize = 64 * 1024;

/// How long exiting waits for queued output to be written before giving up on it.
pub const EXIT_FLUSH: Duration = Duration::from_secs(1);

/// What the loop and the writer thread share.
#[derive(Debug, Default)]
struct Counts {
    /// Bytes queued and not yet written.
    queued_bytes: AtomicUsize,
    /// Lines queued and not yet written.
    queued_lines: AtomicUsize,
    /// Lines dropped because the queue was full, or not written because writing failed.
    dropped: AtomicU64,
}

/// Lines for one output stream, written by a thread of their own; [`Lines::line`] never
/// blocks.
#[derive(Debug)]
pub struct Lines {
    tx: Option<mpsc::Sender<String>>,
    counts: Arc<Counts>,
    capacity: usize,
    done: mpsc::Receiver<()>,
    thread: Option<JoinHandle<()>>,
}

impl Lines {
    /// Lines for this process's stdout.
    pub fn stdout() -> Lines {
        Lines::to_fd(io::stdout().as_fd(), LINE_QUEUE_BYTES)
    }

    /// Lines for this process's stderr.
    pub fn stderr() -> Lines {
        Lines::to_fd(io::stderr().as_fd(), LINE_QUEUE_BYTES)
    }

    /// Lines written to a duplicate of `fd` (so the writer batches lines into one `write`,
    /// without the standard library's line buffering); if it cannot be duplicated, through
    /// the standard stream the caller passed (stdout or stderr).
    fn to_fd(fd: std::os::fd::BorrowedFd<'_>, capacity: usize) -> Lines {
        match fd.try_clone_to_owned() {
            Ok(owned) => Lines::new(std::fs::File::from(owned), capacity),
            Err(_) => Lines::new(io::sink(), capacity),
        }
    }

    /// Lines written to `out` by a new thread; at most `capacity` bytes wait in the queue (one
    /// line of any length is taken when the queue is empty).
    pub fn new<W: Write + Send + 'static>(out: W, capacity: usize) -> Lines {
        let (tx, rx) = mpsc::channel::<String>();
        let (done_tx, done) = mpsc::channel();
        let counts = Arc::new(Counts::default());
        let shared = counts.clone();
        let thread = std::thread::Builder::new()
            .name("synack-output".into())
            .spawn(move || {
                write_lines(out, &rx, &shared);
                let _ = done_tx.send(());
            })
            .ok();
        Lines {
            tx: thread.as_ref().map(|_| tx),
            counts,
            capacity,
            done,
            thread,
        }
    }

    /// Queues `line` (a newline is added); drops and counts it when the queue is full.
    pub fn line(&self, line: impl Into<String>) {
        let line = line.into();
        let len = line.len() + 1;
        let queued = self.counts.queued_bytes.load(Ordering::Acquire);
        let fits = queued == 0 || queued + len <= self.capacity;
        let sent = fits
            && self.tx.as_ref().is_some_and(|tx| {
                // Counted before sending, so the writer never subtracts more than was added.
                self.counts.queued_bytes.fetch_add(len, Ordering::AcqRel);
                self.counts.queued_lines.fetch_add(1, Ordering::AcqRel);
                if tx.send(line).is_ok() {
                    return true;
                }
                self.counts.queued_bytes.fetch_sub(len, Ordering::AcqRel);
                self.counts.queued_lines.fetch_sub(1, Ordering::AcqRel);
                false
            });
        if !sent {
            self.counts.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Lines dropped so far: the queue was full, or writing failed.
    pub fn dropped(&self) -> u64 {
        self.counts.dropped.load(Ordering::Relaxed)
    }

    /// Lets the writer finish what is queued, waiting at most `within`; returns how many lines
    /// were never written (dropped, or still queued when the time was up: a reader that does
    /// not read would otherwise keep the process from exiting).
    pub fn finish(mut self, within: Duration) -> u64 {
        self.tx = None;
        let finished = self.done.recv_timeout(within).is_ok();
        if finished && let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let unwritten = if finished {
            0
        } else {
            self.counts.queued_lines.load(Ordering::Acquire) as u64
        };
        self.dropped() + unwritten
    }
}

/// The writer thread: writes lines as they come, flushing whenever the queue is empty or
/// [`SETTLE_BYTES`] are buffered. A line counts as queued until the flush that wrote it.
fn write_lines<W: Write>(out: W, rx: &mpsc::Receiver<String>, counts: &Counts) {
    let mut w = Writer {
        out: io::BufWriter::with_capacity(2 * SETTLE_BYTES, out),
        failed: false,
        lines: 0,
        bytes: 0,
    };
    loop {
        let line = match rx.try_recv() {
            Ok(line) => line,
            Err(mpsc::TryRecvError::Empty) => {
                w.settle(counts);
                match rx.recv() {
                    Ok(line) => line,
                    Err(_) => break,
                }
            }
            Err(mpsc::TryRecvError::Disconnected) => break,
        };
        w.write(&line);
        if w.bytes >= SETTLE_BYTES {
            w.settle(counts);
        }
    }
    w.settle(counts);
}

/// Buffered bytes that make the writer flush even though more lines are queued.
const SETTLE_BYTES: usize = 8 * 1024;

/// The writer thread's buffer and what is in it.
struct Writer<W: Write> {
    out: io::BufWriter<W>,
    /// A write failed (the reader went away): later lines are dropped.
    failed: bool,
    /// Lines and bytes taken off the queue since the last flush.
    lines: usize,
    bytes: usize,
}

impl<W: Write> Writer<W> {
    fn write(&mut self, line: &str) {
        if !self.failed {
            self.failed = self
                .out
                .write_all(line.as_bytes())
                .and_then(|()| self.out.write_all(b"\n"))
                .is_err();
        }
        self.lines += 1;
        self.bytes += line.len() + 1;
    }

    /// Flushes, then takes what was written off the queue counts (as dropped, if it failed).
    fn settle(&mut self, counts: &Counts) {
        self.failed = self.failed || self.out.flush().is_err();
        if self.failed {
            counts
                .dropped
                .fetch_add(self.lines as u64, Ordering::Relaxed);
        }
        counts.queued_bytes.fetch_sub(self.bytes, Ordering::AcqRel);
        counts.queued_lines.fetch_sub(self.lines, Ordering::AcqRel);
        (self.lines, self.bytes) = (0, 0);
    }
}

/// Bytes for this process's stdout that must all arrive (`nc`'s received data), written by a
/// thread of their own through a bounded channel.
#[derive(Debug)]
pub struct DataOut {
    tx: Option<tokio_mpsc::Sender<Vec<u8>>>,
    /// The writer's outcome: it ends on a write error, or once `tx` is gone and all is written.
    done: Option<oneshot::Receiver<io::Result<()>>>,
}

/// Chunks a [`DataOut`] holds before the sender must wait: up to 1 MiB of 64 KiB reads.
pub const DATA_QUEUE_CHUNKS: usize = 16;

impl DataOut {
    /// Data for this process's stdout.
    pub fn stdout() -> DataOut {
        match io::stdout().as_fd().try_clone_to_owned() {
            Ok(fd) => DataOut::new(std::fs::File::from(fd)),
            Err(e) => DataOut::failed(e),
        }
    }

    /// Data written to `out` by a new thread.
    pub fn new<W: Write + Send + 'static>(mut out: W) -> DataOut {
        let (tx, mut rx) = tokio_mpsc::channel::<Vec<u8>>(DATA_QUEUE_CHUNKS);
        let (done_tx, done) = oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name("synack-stdout".into())
            .spawn(move || {
                let mut write = || -> io::Result<()> {
                    while let Some(chunk) = rx.blocking_recv() {
                        out.write_all(&chunk)?;
                        if rx.is_empty() {
                            out.flush()?;
                        }
                    }
                    out.flush()
                };
                let _ = done_tx.send(write());
            });
        match spawned {
            Ok(_) => DataOut {
                tx: Some(tx),
                done: Some(done),
            },
            Err(e) => DataOut::failed(e),
        }
    }

    /// A writer that has already failed with `e`.
    fn failed(e: io::Error) -> DataOut {
        let (done_tx, done) = oneshot::channel();
        let _ = done_tx.send(Err(e));
        DataOut {
            tx: None,
            done: Some(done),
        }
    }

    /// Whether a chunk can be queued now without waiting.
    pub fn has_room(&self) -> bool {
        self.tx
            .as_ref()
            .is_some_and(|tx| !tx.is_closed() && tx.capacity() > 0)
    }

    /// Queues `chunk`, which must fit ([`DataOut::has_room`]). An error means the writer has
    /// stopped; [`DataOut::outcome`] says why.
    pub fn send(&mut self, chunk: Vec<u8>) -> io::Result<()> {
        match self.tx.as_ref().map(|tx| tx.try_send(chunk)) {
            Some(Ok(())) => Ok(()),
            Some(Err(tokio_mpsc::error::TrySendError::Full(_))) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "stdout queue is full",
            )),
            Some(Err(tokio_mpsc::error::TrySendError::Closed(_))) | None => Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "stdout writer stopped",
            )),
        }
    }

    /// With `want_room`, waits until a chunk can be queued; either way returns the writer's
    /// error as soon as it stops (which it does only on an error). Cancel-safe.
    pub async fn ready(&mut self, want_room: bool) -> io::Result<()> {
        let Some(tx) = self.tx.as_ref() else {
            return self.outcome().await;
        };
        if want_room {
            if tx.reserve().await.is_ok() {
                return Ok(());
            }
        } else {
            tx.closed().await;
        }
        self.outcome().await
    }

    /// Lets the writer write everything queued and returns how that went; when it stopped on
    /// an error, that error. Cancel-safe.
    pub async fn outcome(&mut self) -> io::Result<()> {
        self.tx = None;
        let Some(done) = self.done.as_mut() else {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "stdout writer stopped",
            ));
        };
        let r = done
            .await
            .unwrap_or_else(|_| Err(io::Error::other("stdout writer panicked")));
        self.done = None;
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A writer that blocks every write until the test opens its gate, and keeps what it got.
    #[derive(Clone, Default)]
    struct Gated {
        open: Arc<(Mutex<bool>, std::sync::Condvar)>,
        got: Arc<Mutex<Vec<u8>>>,
    }

    impl Gated {
        fn open(&self) {
            *self.open.0.lock().unwrap() = true;
            self.open.1.notify_all();
        }

        fn text(&self) -> String {
            String::from_utf8(self.got.lock().unwrap().clone()).unwrap()
        }
    }

    impl Write for Gated {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let mut open = self.open.0.lock().unwrap();
            while !*open {
                open = self.open.1.wait(open).unwrap();
            }
            self.got.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_to_a_blocked_writer_never_block_and_the_excess_is_dropped_and_counted() {
        let w = Gated::default();
        // Room for ten 9-byte lines ("line NNN" and a newline).
        let lines = Lines::new(w.clone(), 90);
        let start = std::time::Instant::now();
        for i in 0..1000 {
            lines.line(format!("line {i:03}"));
        }
        assert!(start.elapsed() < Duration::from_secs(1), "line() blocked");
        let dropped = lines.dropped();
        assert_eq!(dropped, 990);
        w.open();
        assert_eq!(lines.finish(Duration::from_secs(10)), dropped);
        let text = w.text();
        assert_eq!(text.lines().count(), 10);
        assert!(text.starts_with("line 000\nline 001\n"), "{text}");
    }

    #[test]
    fn lines_finish_gives_up_on_a_writer_that_never_writes_and_counts_what_is_left() {
        let w = Gated::default();
        let lines = Lines::new(w, 1000);
        for i in 0..5 {
            lines.line(format!("line {i}"));
        }
        let start = std::time::Instant::now();
        let unwritten = lines.finish(Duration::from_millis(100));
        assert!(start.elapsed() < Duration::from_secs(5));
        assert_eq!(unwritten, 5);
    }

    #[test]
    fn a_line_longer_than_the_queue_is_taken_when_the_queue_is_empty() {
        let w = Gated::default();
        w.open();
        let lines = Lines::new(w.clone(), 10);
        lines.line("x".repeat(100));
        assert_eq!(lines.finish(Duration::from_secs(10)), 0);
        assert_eq!(w.text().len(), 101);
    }

    /// A writer that fails every write, like a pipe whose reader has gone.
    struct Broken;

    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(io::ErrorKind::BrokenPipe))
        }

        fn flush(&mut self) -> io::Result<()> {
            Err(io::Error::from(io::ErrorKind::BrokenPipe))
        }
    }

    #[test]
    fn lines_to_a_broken_pipe_are_counted_as_dropped() {
        let lines = Lines::new(Broken, 1000);
        for _ in 0..3 {
            lines.line("x");
        }
        assert_eq!(lines.finish(Duration::from_secs(10)), 3);
    }

    #[tokio::test]
    async fn data_out_reports_the_write_error_once_the_writer_stops() {
        let mut out = DataOut::new(Broken);
        out.send(b"hello".to_vec()).unwrap();
        let e = tokio::time::timeout(Duration::from_secs(10), out.ready(false))
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::BrokenPipe);
        assert!(!out.has_room());
    }

    #[tokio::test]
    async fn data_out_fills_up_without_blocking_and_delivers_everything_in_order() {
        let w = Gated::default();
        let mut out = DataOut::new(w.clone());
        let mut queued = 0u32;
        while out.has_room() {
            out.send(queued.to_le_bytes().to_vec()).unwrap();
            queued += 1;
        }
        assert!(queued as usize >= DATA_QUEUE_CHUNKS, "{queued}");
        w.open();
        tokio::time::timeout(Duration::from_secs(10), out.ready(true))
            .await
            .unwrap()
            .unwrap();
        out.send(queued.to_le_bytes().to_vec()).unwrap();
        out.outcome().await.unwrap();
        let got = w.got.lock().unwrap().clone();
        let want: Vec<u8> = (0..=queued).flat_map(u32::to_le_bytes).collect();
        assert_eq!(got, want);
    }
}
