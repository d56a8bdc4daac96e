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

    /// A stream written by the writer reads back as one series per connection, with the
    /// phase and state in force at each point.
    #[test]
    fn a_stream_reads_back_as_one_series_per_connection() {
        use crate::sim::LinkConfig;
        use crate::stack::{Secret, Stack, StackConfig};
        let path = std::env::temp_dir().join(format!("synack-qlog-rt-{}.qlog", std::process::id()));
        let (a, b): (std::net::IpAddr, std::net::IpAddr) =
            ([192, 0, 2, 1].into(), [192, 0, 2, 2].into());
        let mut net = crate::sim::Network::new(3);
        let ha = net.add_host(
            &[a],
            Stack::new(StackConfig::default(), Secret::from_bytes([1; 16]), &[a]),
        );
        let hb = net.add_host(
            &[b],
            Stack::new(StackConfig::default(), Secret::from_bytes([2; 16]), &[b]),
        );
        net.set_links(
            ha,
            hb,
            LinkConfig::default().with_delay(crate::time::Duration::from_millis(5)),
        );
        let mut w = QlogWriter::create(&path, "a").unwrap();
        w.start(net.host_mut(ha), 0.0);
        let lid = net.host_mut(hb).listen((b, 9).into(), 4).unwrap();
        let now = net.now();
        let ca = net.host_mut(ha).connect(now, (b, 9).into()).unwrap();
        let limit = now + crate::time::Duration::from_secs(5);
        net.run_until(limit, |net| {
            let _ = net.host_mut(hb).accept(lid);
            net.host(ha).state(ca) == crate::tcp::State::Established
        });
        let now = net.now();
        net.host_mut(ha).send(now, ca, &[7; 5000]).unwrap();
        net.run_until(now + crate::time::Duration::from_secs(1), |_| false);
        w.drain(net.host_mut(ha), None);
        drop(w);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).ok();
        let series = read_series(&text).unwrap();
        assert_eq!(series.len(), 1);
        let s = &series[0];
        assert_eq!(
            (s.vantage.as_str(), s.conn.ends_with("192.0.2.2:9")),
            ("a", true)
        );
        assert_eq!(s.points[0].state, "SYN-SENT");
        assert_eq!(s.points[0].phase, "slow_start");
        assert!(
            s.points.iter().any(|p| p.in_flight > 2 * 1448),
            "{:#?}",
            s.points
        );
        assert_eq!(s.points.last().unwrap().in_flight, 0);
        assert!(s.points.windows(2).all(|w| w[0].time_ms < w[1].time_ms));
        assert!(matches!(read_series("{}"), Err(QlogError::NotQlog)));
        assert!(matches!(
            read_series("\u{1e}{oops"),
            Err(QlogError::Json { record: 1, .. })
        ));
    }
}

/// One connection's sender as a qlog file recorded it: the metrics after every change, and
/// the congestion phase and state in force at each.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SenderSeries {
    /// The trace's vantage point name (the host).
    pub vantage: String,
    /// The connection as the events name it: `LOCAL-REMOTE`.
    pub conn: String,
    /// Unix time of the trace's time zero, in milliseconds.
    pub reference_time_ms: f64,
    /// The samples, in time order.
    pub points: Vec<SeriesPoint>,
}

/// One sample of a [`SenderSeries`].
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesPoint {
    /// Milliseconds from the trace's reference time.
    pub time_ms: f64,
    /// Congestion window, bytes.
    pub cwnd: u64,
    /// Slow-start threshold, bytes, once set.
    pub ssthresh: Option<u64>,
    /// Bytes in flight.
    pub in_flight: u64,
    /// The peer's window, bytes.
    pub peer_window: u64,
    /// Smoothed RTT, milliseconds, once measured.
    pub srtt_ms: Option<f64>,
    /// Retransmission timeout, milliseconds.
    pub rto_ms: f64,
    /// qlog's name of the congestion phase then (`slow_start`, `congestion_avoidance`,
    /// `recovery`).
    pub phase: String,
    /// The TCP state then (`ESTABLISHED`, …).
    pub state: String,
}

/// Why a qlog file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum QlogError {
    /// A record is not JSON.
    #[error("record {record} is not JSON: {source}")]
    Json {
        /// 1-based record number.
        record: usize,
        /// What the parser said.
        source: serde_json::Error,
    },
    /// Neither a qlog document (`traces`) nor a JSON-SEQ stream (header with `trace`).
    #[error(
        "not a qlog file from synack: expected a document with \"traces\" or a JSON-SEQ stream \
         whose first record has \"trace\" (write one with --qlog)"
    )]
    NotQlog,
}

/// Reads a qlog document (`synack demo --qlog`) or JSON-SEQ stream (`serve`/`nc --qlog`,
/// `Simulation::qlog_dir`) into one series per connection and vantage point, in order of
/// first appearance. Events other than synack's three are skipped.
pub fn read_series(text: &str) -> Result<Vec<SenderSeries>, QlogError> {
    let mut traces: Vec<(String, f64, Vec<Value>)> = Vec::new();
    if text.trim_start().starts_with('\u{1e}') {
        let mut records = text.split('\u{1e}').filter(|r| !r.trim().is_empty());
        let header: Value = match records.next() {
            Some(r) => {
                serde_json::from_str(r).map_err(|source| QlogError::Json { record: 1, source })?
            }
            None => return Err(QlogError::NotQlog),
        };
        let trace = header.get("trace").ok_or(QlogError::NotQlog)?;
        let mut events = Vec::new();
        for (i, r) in records.enumerate() {
            events.push(serde_json::from_str(r).map_err(|source| QlogError::Json {
                record: i + 2,
                source,
            })?);
        }
        traces.push((vantage_name(trace), reference_time(trace), events));
    } else {
        let doc: Value =
            serde_json::from_str(text).map_err(|source| QlogError::Json { record: 1, source })?;
        let list = doc
            .get("traces")
            .and_then(Value::as_array)
            .ok_or(QlogError::NotQlog)?;
        for t in list {
            let events = t
                .get("events")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            traces.push((vantage_name(t), reference_time(t), events));
        }
    }
    let mut out: Vec<SenderSeries> = Vec::new();
    for (vantage, reference, events) in traces {
        // Each connection's phase and state in force, by connection.
        let mut now: HashMap<String, (String, String)> = HashMap::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for e in &events {
            let (Some(name), Some(data)) = (e.get("name").and_then(Value::as_str), e.get("data"))
            else {
                continue;
            };
            let Some(conn) = data.get("conn").and_then(Value::as_str) else {
                continue;
            };
            let new = || {
                data.get("new")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned()
            };
            let entry = now.entry(conn.to_owned()).or_default();
            match name {
                "transport:connection_state_updated" => entry.1 = new(),
                "recovery:congestion_state_updated" => entry.0 = new(),
                "recovery:metrics_updated" => {
                    let (phase, state) = entry.clone();
                    let u = |k: &str| data.get(k).and_then(Value::as_u64);
                    let f = |k: &str| data.get(k).and_then(Value::as_f64);
                    let point = SeriesPoint {
                        time_ms: e.get("time").and_then(Value::as_f64).unwrap_or(0.0),
                        cwnd: u("congestion_window").unwrap_or(0),
                        ssthresh: u("ssthresh"),
                        in_flight: u("bytes_in_flight").unwrap_or(0),
                        peer_window: u("peer_window").unwrap_or(0),
                        srtt_ms: f("smoothed_rtt"),
                        rto_ms: f("rto").unwrap_or(0.0),
                        phase,
                        state,
                    };
                    let i = *index.entry(conn.to_owned()).or_insert_with(|| {
                        out.push(SenderSeries {
                            vantage: vantage.clone(),
                            conn: conn.to_owned(),
                            reference_time_ms: reference,
                            points: Vec::new(),
                        });
                        out.len() - 1
                    });
                    if let Some(s) = out.get_mut(i) {
                        s.points.push(point);
                    }
                }
                _ => {}
            }
        }
    }
    Ok(out)
}

fn vantage_name(trace: &Value) -> String {
    trace
        .pointer("/vantage_point/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

fn reference_time(trace: &Value) -> f64 {
    trace
        .pointer("/common_fields/reference_time")
        .and_then(Value::as_f64)
        .unwrap_or(0.0)
}
