//! The run behind `synack demo`: the whole life of one connection on the simulated network,
//! drawn as the ladder (x, y, u, v, w) with both ends' states after every
//! segment.
//!
//! Host A (client, 192.0.2.1) connects to host B (server, 192.0.2.2:80, in LISTEN) and sends
//! a message; B answers; A closes its sending side; B, in CLOSE-WAIT, still sends data that A
//! receives in FIN-WAIT-2; then B closes. A passes through TIME-WAIT before CLOSED.
//!
//! The ladder is the one `synack trace` draws from the demo's own capture (same symbols,
//! marks, folds and renderers, from [`synack::trace`]), with what the simulator knows and a
//! capture cannot laid over it: both ends' exact states, which segments were lost or
//! corrupted, and the timers that change a state without a segment.
//!
//! This file uses only the `synack` library, never the rest of the command line, because
//! `tests/demo.rs` compiles it too (with `#[path]`) to check the run's exact values.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use synack::sim::{Fate, HostId, LinkConfig, LinkStats, Network, PacketEvent, SimError};
use synack::stack::{ConnId, ListenerId, Secret, Stack, StackConfig};
use synack::tcp::{self, State};
use synack::time::{Duration, Instant};
use synack::trace::diagram::{self, Diagram, Item};
use synack::trace::{self, Connection, Dir, Inferred, Ladder, Marks, Segment, Symbols};

/// Address of host A, the client.
pub const ADDR_A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
/// Address of host B, the server.
pub const ADDR_B: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
/// B's listening port.
pub const PORT_B: u16 = 80;

/// How the demo runs.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// Seed of the simulated network (loss pattern, ISN secret).
    pub seed: u64,
    /// Packet loss in percent, each direction.
    pub loss_percent: f64,
    /// Packets corrupted (one bit flipped) in percent, each direction; checksums catch them.
    pub corrupt_percent: f64,
    /// Size of each of the three messages (A's request, B's answer, B's half-close data);
    /// `None` uses short text messages.
    pub bytes: Option<usize>,
    /// Write every packet to this pcap file.
    pub pcap: Option<PathBuf>,
    /// Maximum segment lifetime (TIME-WAIT lasts twice this).
    pub msl: Duration,
    /// One-way delay of the link.
    pub delay: Duration,
    /// Turn both stacks' sender recorders on; the report carries their qlog document.
    pub record: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            seed: 1,
            loss_percent: 0.0,
            corrupt_percent: 0.0,
            bytes: None,
            pcap: None,
            msl: Duration::from_secs(30),
            delay: Duration::from_millis(10),
            record: false,
        }
    }
}

/// Why the demo could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A percentage option is not in 0..=100.
    #[error("--{0} must be a percentage from 0 to 100, got {1}")]
    BadPercentage(&'static str, f64),
    /// The capture file could not be written.
    #[error("cannot write the capture: {0}")]
    Pcap(#[from] SimError),
    /// The stack refused an application call (a bug in the demo).
    #[error("stack error: {0}")]
    Stack(#[from] synack::stack::StackError),
}

/// One row of the demo's record: a segment on the wire, or a state change no segment made.
#[derive(Clone, Debug)]
pub struct Row {
    /// When the segment arrived (or was lost), or the state changed.
    pub time: Instant,
    /// The segment; `None` for a state change with no segment (a timer).
    pub segment: Option<SegmentRow>,
    /// A's state after the row.
    pub a_state: State,
    /// B's state after the row.
    pub b_state: State,
    /// A note for timer rows.
    pub note: Option<&'static str>,
}

/// A segment on the wire and what the link did with it.
#[derive(Clone, Debug)]
pub struct SegmentRow {
    /// Direction.
    pub dir: Dir,
    /// What the link did with it.
    pub fate: Fate,
    /// The segment as `synack trace` decodes it from the demo's capture; for a corrupted
    /// packet, what its damaged bytes claim.
    pub segment: Segment,
}

/// The outcome of a demo run.
#[derive(Clone, Debug)]
pub struct DemoReport {
    /// The options used.
    pub options: DemoOptions,
    /// A's socket address.
    pub client: SocketAddr,
    /// B's socket address.
    pub server: SocketAddr,
    /// The ladder.
    pub rows: Vec<Row>,
    /// A's message arrived at B intact.
    pub a_to_b_intact: bool,
    /// B's answer and half-close data arrived at A intact.
    pub b_to_a_intact: bool,
    /// A went through TIME-WAIT.
    pub a_time_wait: bool,
    /// B received A's FIN and then sent data from CLOSE-WAIT, which A got in FIN-WAIT-2.
    pub half_close_seen: bool,
    /// Both ends reached CLOSED.
    pub both_closed: bool,
    /// Link counters.
    pub link: LinkStats,
    /// The stacks' own counters (what each dropped and why), A then B.
    pub counters: (synack::stack::Counters, synack::stack::Counters),
    /// Virtual time at the end.
    pub finished_at: Instant,
    /// Bytes A sent, bytes B sent.
    pub bytes: (usize, usize),
    /// Both senders' recorded inside view as a qlog document, if `record` was asked.
    pub qlog: Option<serde_json::Value>,
}

impl DemoReport {
    /// Both streams intact and both ends CLOSED, A by way of TIME-WAIT.
    pub fn success(&self) -> bool {
        self.a_to_b_intact && self.b_to_a_intact && self.a_time_wait && self.both_closed
    }
}

/// What the two applications have done so far.
#[derive(Default)]
struct Apps {
    a: Option<ConnId>,
    b: Option<ConnId>,
    a_sent: usize,
    a_rx: Vec<u8>,
    a_shut: bool,
    a_eof: bool,
    b_rx: Vec<u8>,
    b_eof: bool,
    b_answer_sent: usize,
    b_more_sent: usize,
    b_closed: bool,
    a_closed: bool,
    half_close_seen: bool,
}

struct Script {
    request: Vec<u8>,
    answer: Vec<u8>,
    more: Vec<u8>,
}

impl Script {
    fn new(bytes: Option<usize>, seed: u64) -> Self {
        match bytes {
            None => Script {
                request: b"hello from A".to_vec(),
                answer: b"hello from B".to_vec(),
                more: b"B still sends while A half-closed".to_vec(),
            },
            Some(n) => {
                let pattern = |k: u64| -> Vec<u8> {
                    (0..n as u64)
                        .map(|i| (i.wrapping_mul(2654435761).wrapping_add(k ^ seed) >> 7) as u8)
                        .collect()
                };
                Script {
                    request: pattern(1),
                    answer: pattern(2),
                    more: pattern(3),
                }
            }
        }
    }
}

const A: HostId = HostId(0);
const B: HostId = HostId(1);

/// Runs the demo and returns its report (the ladder is in `report.rows`).
pub fn run(options: &DemoOptions) -> Result<DemoReport, DemoError> {
    for (name, value) in [
        ("loss", options.loss_percent),
        ("corrupt", options.corrupt_percent),
    ] {
        if !(0.0..=100.0).contains(&value) {
            return Err(DemoError::BadPercentage(name, value));
        }
    }
    let script = Script::new(options.bytes, options.seed);
    let mut net: Network<Stack> = Network::new(options.seed);
    let stack_cfg = |host: u8| {
        // A fixed secret from the seed: the same seed replays the same run.
        let mut key = [host; 16];
        key[..8].copy_from_slice(&options.seed.to_le_bytes());
        let cfg = StackConfig {
            tcp: tcp::Config {
                msl: options.msl,
                ..tcp::Config::default()
            },
            ..StackConfig::default()
        };
        (cfg, Secret::from_bytes(key))
    };
    let (cfg_a, secret_a) = stack_cfg(0xa);
    let (cfg_b, secret_b) = stack_cfg(0xb);
    net.add_host(&[ADDR_A], Stack::new(cfg_a, secret_a, &[ADDR_A]));
    net.add_host(&[ADDR_B], Stack::new(cfg_b, secret_b, &[ADDR_B]));
    let link = LinkConfig::default()
        .with_delay(options.delay)
        .with_loss(options.loss_percent / 100.0)
        .with_corrupt(options.corrupt_percent / 100.0);
    net.set_links(A, B, link);
    if let Some(path) = &options.pcap {
        net.pcap_to_file(path)?;
    }
    net.set_recording(true);
    if options.record {
        // Room for every change of a long lossy demo; a bigger run drops the oldest.
        const SAMPLES: usize = 1 << 20;
        net.host_mut(A).set_recorder(Some(SAMPLES));
        net.host_mut(B).set_recorder(Some(SAMPLES));
    }

    let server = SocketAddr::new(ADDR_B, PORT_B);
    let listener = net.host_mut(B).listen(server, 16)?;
    let mut apps = Apps::default();
    let now = net.now();
    apps.a = Some(net.host_mut(A).connect(now, server)?);
    let client = apps
        .a
        .and_then(|a| net.host(A).connection(a).map(|c| c.local()))
        .unwrap_or(SocketAddr::new(ADDR_A, 0));

    let mut record = Record::default();
    let mut a_time_wait = false;
    let limit = Instant::ZERO + Duration::from_secs(3600);
    loop {
        drive_apps(&mut net, listener, &mut apps, &script);
        let progressed = net.step();
        drive_apps(&mut net, listener, &mut apps, &script);
        let (a_state, b_state) = states(&net, &apps);
        a_time_wait |= a_state == State::TimeWait;
        let events = net.take_events();
        record.add(net.now(), &events, a_state, b_state);
        let done =
            apps.a_closed && apps.b_closed && a_state == State::Closed && b_state == State::Closed;
        if done || !progressed || net.now() > limit {
            break;
        }
    }
    net.flush_pcap()?;
    let (a_state, b_state) = states(&net, &apps);
    let rows = record.rows;
    let mut b_to_a = script.answer.clone();
    b_to_a.extend_from_slice(&script.more);
    Ok(DemoReport {
        options: options.clone(),
        client,
        server,
        rows,
        a_to_b_intact: apps.b_rx == script.request && apps.b_eof,
        b_to_a_intact: apps.a_rx == b_to_a && apps.a_eof,
        a_time_wait,
        half_close_seen: apps.half_close_seen,
        both_closed: a_state == State::Closed && b_state == State::Closed,
        link: net.stats(),
        counters: (net.host(A).counters(), net.host(B).counters()),
        finished_at: net.now(),
        bytes: (script.request.len(), b_to_a.len()),
        qlog: qlog(&mut net, options),
    })
}

/// Both hosts' recorder logs as one qlog document (the simulator's clock is the capture's,
/// so the reference time is the Unix epoch).
fn qlog(net: &mut Network<Stack>, options: &DemoOptions) -> Option<serde_json::Value> {
    net.host_mut(A).recorder_mut()?.flush();
    net.host_mut(B).recorder_mut()?.flush();
    let (a, b) = (net.host(A).recorder()?, net.host(B).recorder()?);
    let title = format!(
        "synack demo --seed {} --loss {} --delay {:?}",
        options.seed, options.loss_percent, options.delay
    );
    let vantages = [
        synack::qlog::Vantage {
            name: "A (client)",
            kind: "client",
            recorder: a,
        },
        synack::qlog::Vantage {
            name: "B (server)",
            kind: "server",
            recorder: b,
        },
    ];
    Some(synack::qlog::document(&title, 0.0, &vantages))
}

fn states(net: &Network<Stack>, apps: &Apps) -> (State, State) {
    let a = apps.a.map_or(State::Closed, |id| net.host(A).state(id));
    let b = match apps.b {
        Some(id) => net.host(B).state(id),
        // Before accept: the embryonic connection if there is one, else the listener.
        None => {
            let stack = net.host(B);
            stack
                .connections()
                .next()
                .map_or(State::Listen, |id| stack.state(id))
        }
    };
    (a, b)
}

/// Both applications, driven after every simulator step.
fn drive_apps(net: &mut Network<Stack>, listener: ListenerId, apps: &mut Apps, s: &Script) {
    let now = net.now();
    let mut buf = [0u8; 16 * 1024];
    // A: send the request, read the answer, half-close once it is in, release on EOF.
    if let Some(a) = apps.a {
        let stack = net.host_mut(A);
        if apps.a_sent < s.request.len()
            && let Ok(n) = stack.send(now, a, s.request.get(apps.a_sent..).unwrap_or(&[]))
        {
            apps.a_sent += n;
        }
        loop {
            match stack.recv(now, a, &mut buf) {
                Ok(0) => {
                    if !apps.a_eof && apps.a_shut {
                        apps.a_eof = true;
                        apps.a_closed = true;
                        let _ = stack.close(now, a);
                    }
                    break;
                }
                Ok(n) => {
                    if stack.state(a) == State::FinWait2 && apps.a_rx.len() >= s.answer.len() {
                        apps.half_close_seen = true;
                    }
                    apps.a_rx.extend_from_slice(buf.get(..n).unwrap_or(&[]));
                }
                Err(_) => break,
            }
        }
        if !apps.a_shut && apps.a_rx.len() >= s.answer.len() && apps.a_sent == s.request.len() {
            apps.a_shut = true;
            let _ = stack.shutdown(now, a);
        }
    }
    // B: accept, read the request, answer; on A's FIN send more from CLOSE-WAIT, then close.
    let stack = net.host_mut(B);
    if apps.b.is_none() {
        apps.b = stack.accept(listener);
    }
    let Some(b) = apps.b else { return };
    loop {
        match stack.recv(now, b, &mut buf) {
            Ok(0) => {
                apps.b_eof = true;
                break;
            }
            Ok(n) => apps.b_rx.extend_from_slice(buf.get(..n).unwrap_or(&[])),
            Err(_) => break,
        }
    }
    if apps.b_rx.len() >= s.request.len()
        && apps.b_answer_sent < s.answer.len()
        && let Ok(n) = stack.send(now, b, s.answer.get(apps.b_answer_sent..).unwrap_or(&[]))
    {
        apps.b_answer_sent += n;
    }
    if apps.b_eof
        && apps.b_answer_sent == s.answer.len()
        && apps.b_more_sent < s.more.len()
        && let Ok(n) = stack.send(now, b, s.more.get(apps.b_more_sent..).unwrap_or(&[]))
    {
        apps.b_more_sent += n;
    }
    let all_acked = stack.connection(b).is_some_and(|c| c.send_queue() == 0);
    if apps.b_more_sent == s.more.len() && all_acked && !apps.b_closed {
        apps.b_closed = true;
        let _ = stack.close(now, b);
    }
}

/// pcap's link type for bare IP packets, which is what the simulator carries.
const RAW_IP: u32 = 101;

/// The rows, built from the simulator's packet log after every step.
#[derive(Default)]
struct Record {
    rows: Vec<Row>,
    last_states: Option<(State, State)>,
}

impl Record {
    fn add(&mut self, now: Instant, events: &[PacketEvent], a: State, b: State) {
        let before = self.rows.len();
        for ev in events {
            let len = u32::try_from(ev.bytes.len()).unwrap_or(u32::MAX);
            let Some(mut segment) = trace::capture::decode(RAW_IP, &ev.bytes, len) else {
                continue;
            };
            segment.time_us = ev.time.total_micros();
            self.rows.push(Row {
                time: ev.time,
                segment: Some(SegmentRow {
                    dir: if ev.from == A { Dir::AtoB } else { Dir::BtoA },
                    fate: ev.fate,
                    segment,
                }),
                a_state: a,
                b_state: b,
                note: None,
            });
        }
        if self.rows.len() == before && self.last_states.is_some_and(|s| s != (a, b)) {
            self.rows.push(Row {
                time: now,
                segment: None,
                a_state: a,
                b_state: b,
                note: Some(if a == State::Closed {
                    "2×MSL timer expires"
                } else {
                    "timer"
                }),
            });
        }
        self.last_states = Some((a, b));
    }
}

/// The mark for a segment that did not arrive intact, from what the link did with it.
fn undelivered(fate: Fate) -> Option<Marks> {
    match fate {
        Fate::Delivered | Fate::Duplicate => None,
        Fate::Corrupted | Fate::Truncated => Some(Marks::CORRUPTED),
        Fate::Lost | Fate::TooBig | Fate::QueueFull | Fate::Unroutable => Some(Marks::LOST),
    }
}

/// The row of a segment the receiver dropped as damaged: what its bytes claim, never
/// inferred from (a flipped bit could claim any sequence number or flag).
fn damaged_row(s: &Segment, dir: Dir) -> trace::Row {
    trace::Row {
        time_us: s.time_us,
        dir,
        flags: s.flags,
        seq: s.seq,
        ack: s.ack,
        len: s.len,
        new_bytes: 0,
        window: u32::from(s.window),
        syn_options: None,
        marks: Marks::CORRUPTED,
        dup_ack: 0,
        a: Inferred {
            state: None,
            sure: false,
        },
        b: Inferred {
            state: None,
            sure: false,
        },
    }
}

/// The ladder drawn for a demo run and the timer rows between its segments.
struct Drawing {
    /// What the capture shows (symbols, retransmissions, windows, options), with the
    /// simulator's exact states and fates in every row.
    ladder: Ladder,
    /// Timer rows, each after the given number of segment rows.
    events: Vec<(usize, Item)>,
}

impl Drawing {
    fn new(report: &DemoReport) -> Self {
        let intact = report
            .rows
            .iter()
            .filter_map(|r| r.segment.as_ref())
            .filter(|s| undelivered(s.fate) != Some(Marks::CORRUPTED))
            .map(|s| s.segment.clone())
            .collect();
        let mut ladder = trace::infer(&Connection {
            number: 1,
            a: report.client,
            b: report.server,
            segments: intact,
        });
        let mut inferred = std::mem::take(&mut ladder.rows).into_iter();
        // Where each inferred row lands once the damaged rows are back in between.
        let mut drawn_at = Vec::new();
        let mut events = Vec::new();
        for row in &report.rows {
            let (a, b) = (Inferred::sure(row.a_state), Inferred::sure(row.b_state));
            let Some(s) = &row.segment else {
                events.push((
                    ladder.rows.len(),
                    Item::Event {
                        time_ms: ms(row.time),
                        note: row.note.unwrap_or("timer").into(),
                        a: a.to_string(),
                        b: b.to_string(),
                    },
                ));
                continue;
            };
            let mark = undelivered(s.fate);
            let drawn = if mark == Some(Marks::CORRUPTED) {
                Some(damaged_row(&s.segment, s.dir))
            } else {
                drawn_at.push(ladder.rows.len());
                inferred.next()
            };
            if let Some(mut drawn) = drawn {
                drawn.time_us = row.time.total_micros();
                drawn.a = a;
                drawn.b = b;
                drawn.marks.insert(mark.unwrap_or_default());
                // The simulator records every packet: a gap the inference sees is only a
                // later segment lost (and so logged) before an earlier one arrived.
                drawn.marks.remove(Marks::PREVIOUS_NOT_CAPTURED);
                ladder.rows.push(drawn);
            }
        }
        let moved = |s: Option<(tcp::SeqNum, usize)>| {
            s.map(|(n, i)| (n, drawn_at.get(i).copied().unwrap_or(i)))
        };
        let sym = &mut ladder.symbols;
        (sym.u, sym.v, sym.w) = (moved(sym.u), moved(sym.v), moved(sym.w));
        ladder.initial = (Inferred::sure(State::Closed), Inferred::sure(State::Listen));
        Drawing { ladder, events }
    }

    fn retransmissions(&self) -> usize {
        self.ladder
            .rows
            .iter()
            .filter(|r| r.marks.contains(Marks::RETRANSMISSION))
            .count()
    }
}

fn ms(t: Instant) -> f64 {
    t.total_micros() as f64 / 1000.0
}

impl DemoReport {
    /// The ladder and summary as text for a terminal; `color` adds ANSI colours.
    pub fn render(&self, color: bool) -> String {
        trace::ladder::render(&self.diagram(), color)
    }

    /// The demo's ladder in the drawing model `synack trace` uses, for the terminal
    /// ([`DemoReport::render`]) and `synack demo --svg`.
    pub fn diagram(&self) -> Diagram {
        let drawing = Drawing::new(self);
        let o = &self.options;
        Diagram {
            title: format!(
                "synack demo: seed {}, loss {}%, corruption {}%, one-way delay {} ms, MSL {} s",
                o.seed,
                o.loss_percent,
                o.corrupt_percent,
                o.delay.as_millis(),
                o.msl.as_secs_f64()
            ),
            a_name: format!("A {} (client)", self.client),
            b_name: format!("B {} (server)", self.server),
            initial: (State::Closed.name().into(), State::Listen.name().into()),
            items: diagram::items(&drawing.ladder, true, &drawing.events),
            summary: self.summary(&drawing.ladder.symbols, drawing.retransmissions()),
        }
    }

    fn summary(&self, symbols: &Symbols, retransmissions: usize) -> Vec<String> {
        let ok = |b: bool| if b { "yes" } else { "NO" };
        let l = &self.link;
        vec![
            diagram::symbols_line(symbols),
            format!(
                "A→B {} bytes intact: {}; B→A {} bytes intact: {}; half-close data received in FIN-WAIT-2: {}",
                self.bytes.0,
                ok(self.a_to_b_intact),
                self.bytes.1,
                ok(self.b_to_a_intact),
                ok(self.half_close_seen)
            ),
            format!(
                "A passed TIME-WAIT: {}; both ends CLOSED: {}; finished at {:.3} s virtual time",
                ok(self.a_time_wait),
                ok(self.both_closed),
                self.finished_at.total_micros() as f64 / 1e6
            ),
            format!(
                "link: {} packets sent, {} delivered, {} lost, {} corrupted; {retransmissions} retransmissions",
                l.sent, l.delivered, l.lost, l.corrupted
            ),
            format!("counters A: {}", self.counters.0),
            format!("counters B: {}", self.counters.1),
            format!("result: {}", if self.success() { "OK" } else { "FAILED" }),
        ]
    }
}
