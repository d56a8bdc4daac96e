//! Introspection: what every listener and connection is doing right now, like `ss -tni`.
//!
//! [`Stack::snapshot`] copies the figures out, so a driver can take one under its lock and
//! print it elsewhere; [`Snapshot`]'s `Display` renders the table `synack serve --stats` prints.

use super::{ConnId, ListenerId, Stack};
use crate::tcp::{Connection, State};
use crate::time::Duration;
use alloc::format;
use alloc::string::String;
use alloc::string::ToString;
use alloc::vec::Vec;
use core::fmt;
use core::net::SocketAddr;

/// One connection's figures, like a row of `ss -tni`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnInfo {
    /// The connection's handle.
    pub id: ConnId,
    /// Our address and port (for an intercepted connection, the peer's original destination).
    pub local: SocketAddr,
    /// The peer's address and port.
    pub remote: SocketAddr,
    /// RFC 9293 state.
    pub state: State,
    /// Bytes queued to send and not yet acknowledged (`ss` Send-Q).
    pub send_queue: usize,
    /// Bytes received and not yet read by the application (`ss` Recv-Q).
    pub recv_queue: usize,
    /// Smoothed round-trip time, once measured (RFC 6298).
    pub srtt: Option<Duration>,
    /// Current retransmission timeout, with backoff.
    pub rto: Duration,
    /// Largest payload one segment carries: the send MSS less TCP options (`ss` mss).
    pub mss: usize,
    /// Congestion window in bytes (RFC 5681).
    pub cwnd: usize,
    /// Slow-start threshold in bytes; `None` while still "arbitrarily high" (RFC 5681 §3.1).
    pub ssthresh: Option<usize>,
    /// The congestion control algorithm ("cubic", "newreno").
    pub cc: &'static str,
    /// The peer's advertised window in bytes, scaled (SND.WND).
    pub snd_wnd: usize,
    /// Segments retransmitted, for any reason.
    pub retransmits: u64,
    /// Retransmission timeouts that fired.
    pub timeouts: u64,
    /// Bytes sent and acknowledged by the peer (`ss` bytes_acked); after an abort or reset,
    /// also what was still queued and discarded.
    pub bytes_acked: u64,
    /// Bytes received in order from the peer, read or not (`ss` bytes_received).
    pub bytes_received: u64,
}

/// What the application moved through [`Stack::send`] and [`Stack::recv`] on one connection.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct AppBytes {
    /// Bytes accepted by `send`.
    pub sent: u64,
    /// Bytes returned by `recv`.
    pub read: u64,
}

impl ConnInfo {
    /// The figures of `conn`, known to the stack as `id`, whose application has sent and read
    /// `app` bytes: what was sent and is no longer queued was acknowledged; what was
    /// received is what was read plus what waits to be read.
    fn of(id: ConnId, conn: &Connection, app: AppBytes) -> Self {
        let stats = conn.stats();
        ConnInfo {
            id,
            local: conn.local(),
            remote: conn.remote(),
            state: conn.state(),
            send_queue: conn.send_queue(),
            recv_queue: conn.recv_queue(),
            srtt: conn.srtt(),
            rto: conn.rto(),
            mss: conn.max_payload(),
            cwnd: conn.cwnd(),
            ssthresh: Some(conn.ssthresh()).filter(|&t| t != usize::MAX),
            cc: conn.cc_name(),
            snd_wnd: usize::try_from(conn.tcb().snd_wnd).unwrap_or(usize::MAX),
            retransmits: stats.retransmits,
            timeouts: stats.timeouts,
            bytes_acked: app.sent.saturating_sub(conn.send_queue() as u64),
            bytes_received: app.read + conn.recv_queue() as u64,
        }
    }
}

/// One listener's queues, like a LISTEN row of `ss -tln`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenerInfo {
    /// The listener's handle.
    pub id: ListenerId,
    /// The address listened on; `None` for the intercepting listener, which takes any.
    pub local: Option<SocketAddr>,
    /// Embryonic (SYN-RECEIVED) connections it owns.
    pub syn_queue: usize,
    /// Established connections waiting for accept (`ss` Recv-Q of a listener).
    pub accept_queue: usize,
    /// Most connections the accept queue holds (`ss` Send-Q of a listener).
    pub backlog: usize,
}

/// Every listener and connection of a stack at one moment, in handle order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Listeners, including the intercepting one.
    pub listeners: Vec<ListenerInfo>,
    /// Connections in every state but CLOSED-and-freed (embryonic and TIME-WAIT included).
    pub connections: Vec<ConnInfo>,
}

impl Stack {
    /// The figures of one connection, if the handle is live.
    pub fn conn_info(&self, id: ConnId) -> Option<ConnInfo> {
        self.entry(id)
            .map(|e| ConnInfo::of(id, &e.conn, e.app_bytes))
    }

    /// A copy of every listener's and connection's figures (`ss -tni`).
    pub fn snapshot(&self) -> Snapshot {
        let listeners = self
            .listeners
            .iter()
            .enumerate()
            .filter_map(|(i, l)| {
                let l = l.as_ref()?;
                let id = ListenerId(i);
                Some(ListenerInfo {
                    id,
                    local: (self.intercept != Some(id)).then_some(l.local),
                    syn_queue: l.syn_queue,
                    accept_queue: l.accept_queue.len(),
                    backlog: l.backlog,
                })
            })
            .collect();
        let connections = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let e = s.entry.as_ref()?;
                Some(ConnInfo::of(e.id(i), &e.conn, e.app_bytes))
            })
            .collect();
        Snapshot {
            listeners,
            connections,
        }
    }
}

/// Column titles of the table.
const HEADER: [&str; COLUMNS] = [
    "State", "Recv-Q", "Send-Q", "Local", "Peer", "srtt-ms", "rto-ms", "mss", "cwnd", "ssthresh",
    "retrans", "acked", "received", "cc",
];

/// Columns of the table.
const COLUMNS: usize = 14;

/// Milliseconds with three decimals, exactly.
fn millis(d: Duration) -> String {
    let us = d.as_micros();
    format!("{}.{:03}", us / 1000, us % 1000)
}

fn listener_row(l: &ListenerInfo) -> [String; COLUMNS] {
    let local = l
        .local
        .map_or_else(|| "*:* (intercept)".into(), |a| a.to_string());
    let dash = || "-".to_string();
    [
        State::Listen.to_string(),
        l.accept_queue.to_string(),
        l.backlog.to_string(),
        local,
        "*:*".into(),
        dash(),
        dash(),
        dash(),
        dash(),
        dash(),
        format!("syn-q {}", l.syn_queue),
        dash(),
        dash(),
        dash(),
    ]
}

fn conn_row(c: &ConnInfo) -> [String; COLUMNS] {
    [
        c.state.to_string(),
        c.recv_queue.to_string(),
        c.send_queue.to_string(),
        c.local.to_string(),
        c.remote.to_string(),
        c.srtt.map_or_else(|| "-".into(), millis),
        millis(c.rto),
        c.mss.to_string(),
        c.cwnd.to_string(),
        c.ssthresh.map_or_else(|| "-".into(), |t| t.to_string()),
        c.retransmits.to_string(),
        c.bytes_acked.to_string(),
        c.bytes_received.to_string(),
        c.cc.to_string(),
    ]
}

impl fmt::Display for Snapshot {
    /// One header line, then one line per listener and per connection, in aligned columns.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header = HEADER.map(String::from);
        let rows: Vec<[String; COLUMNS]> = core::iter::once(header)
            .chain(self.listeners.iter().map(listener_row))
            .chain(self.connections.iter().map(conn_row))
            .collect();
        let mut widths = [0usize; COLUMNS];
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        for row in &rows {
            let mut line = String::new();
            for (cell, w) in row.iter().zip(widths) {
                line.push_str(&format!("{cell:<w$}  "));
            }
            writeln!(f, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
