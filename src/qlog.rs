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
