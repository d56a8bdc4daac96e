//! The blocking API's log lines, in a test binary of its own with a *global* subscriber.
//! `tracing` caches each callsite's interest process-wide when the callsite is first reached,
//! and while only one dispatcher exists it asks the default of the thread that reaches it
//! first (tracing-core 0.1.36, `Rebuilder::JustOne`). With a thread-scoped subscriber
//! (`with_default`) the accept thread, which has none, could reach `socket opened` before the
//! test thread and cache "never" for it: CI failed that way once. A global subscriber is
//! every thread's default, so the order of first use no longer matters.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr};
use std::thread;
use synack::blocking::{TcpListener, TcpStream};
use synack::net::MemoryDevice;
use synack::runtime::Runtime;

const A: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
const B: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2));

fn hosts() -> (Runtime, Runtime) {
    let (da, db) = MemoryDevice::pair(1500, 4096);
    let a = Runtime::builder().address(A).build(da).unwrap();
    let b = Runtime::builder().address(B).build(db).unwrap();
    (a, b)
}

/// A `Write` into a shared buffer, for capturing log lines.
#[derive(Clone, Default)]
struct LogBuf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Write for LogBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// With a `tracing` subscriber that asks for debug, each connection logs inside a span of
/// its own naming the connection and both addresses: opened, connected, shut down,
/// dropped. (Without one, the default, nothing is formatted at all.)
#[test]
fn connections_log_in_a_debug_span_of_their_own_when_a_subscriber_asks() {
    let logs = LogBuf::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only test in this binary");
    {
        let (a, b) = hosts();
        let listener = TcpListener::bind(&b, SocketAddr::new(B, 9)).unwrap();
        let server = thread::spawn(move || listener.accept().map(|(s, _)| s));
        let s = TcpStream::connect(&a, SocketAddr::new(B, 9)).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        drop(s);
        drop(server.join().unwrap());
    }
    let out = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = out.lines().filter(|l| l.contains("tcp{conn=")).collect();
    let remote = "remote=198.51.100.2:9";
    for what in [
        "socket opened",
        "connected",
        "shutdown: FIN",
        "socket dropped",
    ] {
        assert!(
            lines.iter().any(|l| l.contains(what) && l.contains(remote)),
            "no {what:?} in the connection's span: {out}"
        );
    }
}
