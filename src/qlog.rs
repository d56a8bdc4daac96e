//! The sender recorder's log ([`synack::stack::recorder`](crate::stack::recorder)) as
//! qlog-like JSON: one trace per host, one event per change, in qlog's recovery and
//! transport vocabulary, on the same clock as the host's pcap capture.
//!
//! qlog (draft-ietf-quic-qlog-main-schema) is QUIC's; TCP has no schema of its own, so the
//! names follow qlog's where they mean the same (`recovery:metrics_updated` with
//! `congestion_window`, `ssthresh`, `bytes_in_flight`, `smoothed_rtt`;
//! `recovery:congestion_state_updated`; `transport:connection_state_updated`) and each event
//! names its TCP connection by its two addresses (`conn`).
//!
//! Times are milliseconds from `common_fields.reference_time`, itself milliseconds since the
//! Unix epoch of the stack's `Instant::ZERO`: for the simulator, whose captures are stamped
//! with its own clock, that is 0, so event times and capture times are the same axis.

use crate::stack::ConnId;
use crate::stack::recorder::{Recorder, SenderSample};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;

/// One host's log, named for the trace's vantage point.
#[derive(Clone, Copy, Debug)]
pub struct Vantage<'a> {
    /// The trace's name, e.g. "client" or "198.18.0.1".
    pub name: &'a str,
    /// qlog's vantage point type: "client", "server" or "network".
    pub kind: &'a str,
    /// The host's recorder.
    pub recorder: &'a Recorder,
}

/// The qlog document of the given hosts' logs. `reference_time_ms`: Unix time of the stack's
/// `Instant::ZERO`, in milliseconds (0 for the simulator).
pub fn document(title: &str, reference_time_ms: f64, vantages: &[Vantage<'_>]) -> Value {
    let traces: Vec<Value> = vantages
        .iter()
        .map(|v| trace(v, reference_time_ms))
        .collect();
    json!({
        "qlog_version": "0.3",
        "qlog_format": "JSON",
        "title": title,
        "description": "synack sender recorder: one event per change of a connection's sender",
        "traces": traces,
    })
}

fn trace(v: &Vantage<'_>, reference_time_ms: f64) -> Value {
    let mut encoder = Encoder::default();
    let mut events = Vec::with_capacity(v.recorder.samples().len());
    for s in v.recorder.samples() {
        encoder.encode(s, v.recorder.addresses(s.conn), &mut events);
    }
    json!({
        "title": v.name,
        "vantage_point": { "name": v.name, "type": v.kind },
        "common_fields": common_fields(reference_time_ms),
        "samples_dropped": v.recorder.dropped(),
        "events": events,
    })
}

fn common_fields(reference_time_ms: f64) -> Value {
    json!({ "reference_time": reference_time_ms, "time_format": "relative" })
}

/// The first record of a JSON-SEQ qlog stream (RFC 7464: each record is RS, the JSON text,
/// LF) of one host, whose events follow as records of their own ([`Encoder`]).
pub fn stream_header(title: &str, reference_time_ms: f64, name: &str, kind: &str) -> Value {
    json!({
        "qlog_version": "0.3",
        "qlog_format": "JSON-SEQ",
        "title": title,
        "trace": {
            "vantage_point": { "name": name, "type": kind },
            "common_fields": common_fields(reference_time_ms),
        },
    })
}

/// Turns samples into qlog events one at a time, remembering each connection's previous
/// sample to report state and phase changes as events of their own.
#[derive(Debug, Default)]
pub struct Encoder {
    last: HashMap<ConnId, SenderSample>,
}

impl Encoder {
    /// Appends the events of `s` to `out`: a state change and a congestion-phase change when
    /// there is one, then the metrics. `addresses`: the connection's local and remote
    /// address, if known.
    pub fn encode(
        &mut self,
        s: &SenderSample,
        addresses: Option<(SocketAddr, SocketAddr)>,
        out: &mut Vec<Value>,
    ) {
        let conn = match addresses {
            Some((local, remote)) => format!("{local}-{remote}"),
            None => format!("{:?}", s.conn),
        };
        let time = s.at.total_micros() as f64 / 1000.0;
        let before = self.last.insert(s.conn, *s);
        if s.state == crate::tcp::State::Closed {
            // The handle is not reused before its generation changes; forget it.
            self.last.remove(&s.conn);
        }
        if before.is_none_or(|b| b.state != s.state) {
            out.push(json!({
                "time": time,
                "name": "transport:connection_state_updated",
                "data": { "conn": conn, "old": before.map(|b| b.state.name()), "new": s.state.name() },
            }));
        }
        if before.is_none_or(|b| b.phase != s.phase) {
            out.push(json!({
                "time": time,
                "name": "recovery:congestion_state_updated",
                "data": { "conn": conn, "old": before.map(|b| b.phase.name()), "new": s.phase.name() },
            }));
        }
        out.push(json!({
            "time": time,
            "name": "recovery:metrics_updated",
            "data": {
                "conn": conn,
                "congestion_window": s.cwnd,
                "ssthresh": s.ssthresh,
                "bytes_in_flight": s.in_flight,
                "peer_window": s.snd_wnd,
                "smoothed_rtt": s.srtt.map(|d| d.as_secs_f64() * 1000.0),
                "rto": s.rto.as_secs_f64() * 1000.0,
                "retransmits": s.retransmits,
                "timeouts": s.timeouts,
            },
        }));
    }
}

/// A host's qlog JSON-SEQ stream to a file, written by a thread of its own through a bounded
/// queue: the driver that feeds it ([`DriverOptions::qlog`](crate::net::DriverOptions::qlog))
/// never waits for the file; records that find the queue full are dropped and counted.
#[derive(Debug)]
pub struct QlogWriter {
    name: String,
    tx: Option<std::sync::mpsc::SyncSender<String>>,
    thread: Option<std::thread::JoinHandle<()>>,
    dropped: u64,
    encoder: Encoder,
    samples: Vec<SenderSample>,
    events: Vec<Value>,
}

impl QlogWriter {
    /// Records that wait for the writer thread before new ones are dropped.
    pub const QUEUE: usize = 1 << 14;
    /// Samples the stack's recorder holds between two drains.
    pub const SAMPLES: usize = 1 << 16;

    /// A stream to a new file at `path`, for the host called `name`.
    pub fn create(path: &std::path::Path, name: &str) -> std::io::Result<QlogWriter> {
        let file = std::fs::File::create(path)?;
        let (tx, rx) = std::sync::mpsc::sync_channel::<String>(Self::QUEUE);
        let thread = std::thread::Builder::new()
            .name("synack-qlog".into())
            .spawn(move || {
                use std::io::Write;
                let mut out = std::io::BufWriter::new(file);
                while let Ok(mut record) = rx.recv() {
                    loop {
                        if out.write_all(record.as_bytes()).is_err() {
                            return;
                        }
                        match rx.try_recv() {
                            Ok(next) => record = next,
                            // Caught up (or the stream ended): what was written goes to disk.
                            Err(_) => break,
                        }
                    }
                    let _ = out.flush();
                }
            })?;
        Ok(QlogWriter {
            name: name.to_owned(),
            tx: Some(tx),
            thread: Some(thread),
            dropped: 0,
            encoder: Encoder::default(),
            samples: Vec::new(),
            events: Vec::new(),
        })
    }

    /// Records (header and events) dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    fn send(&mut self, record: &Value) {
        let sent = self
            .tx
            .as_ref()
            .is_some_and(|tx| tx.try_send(format!("\u{1e}{record}\n")).is_ok());
        if !sent {
            self.dropped += 1;
        }
    }

    /// Turns the stack's recorder on and writes the stream's header; `reference_time_ms`:
    /// Unix time of the stack's `Instant::ZERO`.
    pub fn start(&mut self, stack: &mut crate::stack::Stack, reference_time_ms: f64) {
        stack.set_recorder(Some(Self::SAMPLES));
        let title = format!("synack on {}", self.name);
        let header = stream_header(&title, reference_time_ms, &self.name, "network");
        self.send(&header);
    }

    /// Moves what the stack's recorder holds into the stream: the samples of instants before
    /// `now` (the stack's time), or all of them with `None` (the stream ends).
    pub fn drain(&mut self, stack: &mut crate::stack::Stack, now: Option<crate::time::Instant>) {
        let Some(rec) = stack.recorder_mut() else {
            return;
        };
        if now.is_none() {
            rec.flush();
        }
        self.samples
            .extend(rec.drain(now.unwrap_or(crate::time::Instant::ZERO)));
        let mut samples = std::mem::take(&mut self.samples);
        for s in samples.drain(..) {
            let addresses = stack.recorder().and_then(|r| r.addresses(s.conn));
            let mut events = std::mem::take(&mut self.events);
            self.encoder.encode(&s, addresses, &mut events);
            for e in events.drain(..) {
                self.send(&e);
            }
            self.events = events;
        }
        self.samples = samples;
    }
}

impl Drop for QlogWriter {
    /// Ends the stream: the writer thread writes what is queued and closes the file.
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Every record sent is written, in order, or counted as dropped (the writer thread once
    /// lost every record it found waiting after one it had just written).
    #[test]
    fn the_writer_writes_every_record_in_order_or_counts_it_dropped() {
        let path = std::env::temp_dir().join(format!("synack-qlog-{}.qlog", std::process::id()));
        let n = 50_000u64;
        let dropped = {
            let mut w = QlogWriter::create(&path, "test").unwrap();
            for i in 0..n {
                w.send(&json!({ "i": i }));
            }
            w.dropped()
        };
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).ok();
        let got: Vec<u64> = text
            .split('\u{1e}')
            .filter(|r| !r.is_empty())
            .map(|r| {
                serde_json::from_str::<Value>(r).unwrap()["i"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        assert_eq!(got.len() as u64 + dropped, n);
        assert!(got.len() >= QlogWriter::QUEUE, "{} written", got.len());
        assert!(got.windows(2).all(|w| w[0] < w[1]), "in order");
        assert_eq!(got.first(), Some(&0));
    }
}
