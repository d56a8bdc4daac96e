//! `synack demo`: the whole life of one connection on the simulated network, drawn as
//! the seed document's ladder (x, y, u, v, w) with both ends' states after every segment.
//!
//! Host A (client, 192.0.2.1) connects to host B (server, 192.0.2.2:80, in LISTEN) and sends
//! a message; B answers; A closes its sending side; B, in CLOSE-WAIT, still sends data that A
//! receives in FIN-WAIT-2; then B closes. A passes through TIME-WAIT before CLOSED.

use crate::sim::{Fate, HostId, LinkConfig, LinkStats, Network, PacketEvent, SimError};
use crate::stack::{ConnId, ListenerId, Secret, Stack, StackConfig};
use crate::tcp::{self, State};
use crate::time::{Duration, Instant};
use crate::trace::Dir as TraceDir;
use crate::trace::diagram::{self, Diagram, Item, Mark, Tone};
use crate::wire::{self, Checksum, TcpFlags};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

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
    Stack(#[from] crate::stack::StackError),
}

/// Direction of a segment.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Dir {
    /// From A (client) to B (server).
    AtoB,
    /// From B to A.
    BtoA,
}

/// One row of the ladder.
#[derive(Clone, Debug)]
pub struct Row {
    /// When the segment arrived (or was lost).
    pub time: Instant,
    /// What happened; `None` for a state change with no segment (a timer).
    pub segment: Option<SegmentRow>,
    /// A's state after the row.
    pub a_state: State,
    /// B's state after the row.
    pub b_state: State,
    /// A note for timer rows.
    pub note: Option<&'static str>,
}

/// The segment of a ladder row.
#[derive(Clone, Debug)]
pub struct SegmentRow {
    /// Direction.
    pub dir: Dir,
    /// Control bits.
    pub flags: TcpFlags,
    /// Absolute sequence number.
    pub seq: u32,
    /// Absolute acknowledgment number (meaningful with ACK).
    pub ack: u32,
    /// Payload length.
    pub len: usize,
    /// Window field.
    pub window: u16,
    /// What the link did with it.
    pub fate: Fate,
    /// It repeats sequence space already sent.
    pub retransmission: bool,
    /// MSS and window-scale options on SYNs, for display.
    pub syn_options: Option<String>,
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
    pub counters: (crate::stack::Counters, crate::stack::Counters),
    /// Retransmitted segments seen on the wire.
    pub retransmissions: usize,
    /// Virtual time at the end.
    pub finished_at: Instant,
    /// Bytes A sent, bytes B sent.
    pub bytes: (usize, usize),
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

    let server = SocketAddr::new(ADDR_B, PORT_B);
    let listener = net.host_mut(B).listen(server, 16)?;
    let mut apps = Apps::default();
    let now = net.now();
    apps.a = Some(net.host_mut(A).connect(now, server)?);
    let client = apps
        .a
        .and_then(|a| net.host(A).connection(a).map(|c| c.local()))
        .unwrap_or(SocketAddr::new(ADDR_A, 0));

    let mut ladder = Ladder::default();
    let mut a_time_wait = false;
    let limit = Instant::ZERO + Duration::from_secs(3600);
    loop {
        drive_apps(&mut net, listener, &mut apps, &script);
        let progressed = net.step();
        drive_apps(&mut net, listener, &mut apps, &script);
        let (a_state, b_state) = states(&net, &apps);
        a_time_wait |= a_state == State::TimeWait;
        let events = net.take_events();
        ladder.record(net.now(), &events, a_state, b_state);
        let done =
            apps.a_closed && apps.b_closed && a_state == State::Closed && b_state == State::Closed;
        if done || !progressed || net.now() > limit {
            break;
        }
    }
    net.flush_pcap()?;
    let (a_state, b_state) = states(&net, &apps);
    let rows = ladder.rows;
    let retransmissions = rows
        .iter()
        .filter(|r| r.segment.as_ref().is_some_and(|s| s.retransmission))
        .count();
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
        retransmissions,
        finished_at: net.now(),
        bytes: (script.request.len(), b_to_a.len()),
    })
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

/// Builds ladder rows from the simulator's packet log.
#[derive(Default)]
struct Ladder {
    rows: Vec<Row>,
    /// Highest sequence-space end seen per direction (A→B, B→A).
    high: [Option<u32>; 2],
    last_states: Option<(State, State)>,
}

impl Ladder {
    fn record(&mut self, now: Instant, events: &[PacketEvent], a: State, b: State) {
        let mut any = false;
        for ev in events {
            if let Some(seg) = self.segment_row(ev) {
                any = true;
                self.rows.push(Row {
                    time: ev.time,
                    segment: Some(seg),
                    a_state: a,
                    b_state: b,
                    note: None,
                });
            }
        }
        if !any && self.last_states.is_some_and(|s| s != (a, b)) {
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

    fn segment_row(&mut self, ev: &PacketEvent) -> Option<SegmentRow> {
        let dir = if ev.from == A { Dir::AtoB } else { Dir::BtoA };
        // Corrupted packets may no longer parse with checksums on; show what they claimed.
        let (_, seg) = wire::parse_ip_tcp(&ev.bytes, Checksum::Ignore).ok()?;
        let end = seg.seq + seg.seg_len();
        let slot = match dir {
            Dir::AtoB => &mut self.high[0],
            Dir::BtoA => &mut self.high[1],
        };
        let retransmission = seg.seg_len() > 0
            && ev.fate != Fate::Duplicate
            && slot.is_some_and(|h| end.before_eq(crate::tcp::SeqNum::new(h)));
        if ev.fate != Fate::Duplicate {
            *slot = Some(match *slot {
                Some(h) => end.max(crate::tcp::SeqNum::new(h)).get(),
                None => end.get(),
            });
        }
        let syn_options = seg.flags.syn().then(|| {
            let mut o = String::new();
            if let Some(mss) = seg.options.mss {
                let _ = write!(o, "mss {mss}");
            }
            if let Some(ws) = seg.options.window_scale {
                let _ = write!(o, "{}ws {ws}", if o.is_empty() { "" } else { ", " });
            }
            o
        });
        Some(SegmentRow {
            dir,
            flags: seg.flags,
            seq: seg.seq.get(),
            ack: seg.ack.get(),
            len: seg.payload.len(),
            window: seg.window,
            fate: ev.fate,
            retransmission,
            syn_options,
        })
    }
}

/// The seed document's symbols, found from the rows. u, v and w are used only from the
/// row that defines them on (before that the same numbers read x+k and y+k).
struct Symbols {
    x: Option<u32>,
    y: Option<u32>,
    /// (value, index of the defining row)
    u: Option<(u32, usize)>,
    v: Option<(u32, usize)>,
    w: Option<(u32, usize)>,
}

impl Symbols {
    fn find(rows: &[Row]) -> Self {
        let segs = || {
            rows.iter()
                .enumerate()
                .filter_map(|(i, r)| r.segment.as_ref().map(|s| (i, s)))
        };
        let x = segs()
            .find(|(_, s)| s.dir == Dir::AtoB && s.flags.syn())
            .map(|(_, s)| s.seq);
        let y = segs()
            .find(|(_, s)| s.dir == Dir::BtoA && s.flags.syn())
            .map(|(_, s)| s.seq);
        // FIN seq=u: the FIN itself sits after any data in its segment.
        let fin_of = |dir: Dir| {
            segs()
                .find(|(_, s)| s.dir == dir && s.flags.fin())
                .map(|(i, s)| (s.seq.wrapping_add(s.len as u32), i))
        };
        let u = fin_of(Dir::AtoB);
        let v = u.and_then(|(u, _)| {
            segs()
                .find(|(_, s)| s.dir == Dir::BtoA && s.flags.ack() && s.ack == u.wrapping_add(1))
                .map(|(i, s)| (s.seq, i))
        });
        let w = fin_of(Dir::BtoA);
        Symbols { x, y, u, v, w }
    }

    /// A sequence number in A's space (A's seq, or B's ack), as of row `row`.
    fn a_space(&self, n: u32, row: usize) -> String {
        if let Some((u, _)) = self.u.filter(|&(_, at)| row >= at) {
            if n == u {
                return "u".into();
            }
            if n == u.wrapping_add(1) {
                return "u+1".into();
            }
        }
        relative("x", self.x, n)
    }

    /// A sequence number in B's space (B's seq, or A's ack), as of row `row`.
    fn b_space(&self, n: u32, row: usize) -> String {
        if let Some((w, _)) = self.w.filter(|&(_, at)| row >= at) {
            if n == w {
                return "w".into();
            }
            if n == w.wrapping_add(1) {
                return "w+1".into();
            }
        }
        if let Some((v, _)) = self.v.filter(|&(_, at)| row >= at) {
            let k = n.wrapping_sub(v) as i32;
            if k >= 0 {
                return if k == 0 { "v".into() } else { format!("v+{k}") };
            }
        }
        relative("y", self.y, n)
    }
}

fn relative(name: &str, base: Option<u32>, n: u32) -> String {
    match base {
        Some(b) => match n.wrapping_sub(b) as i32 {
            0 => name.to_string(),
            k if k > 0 => format!("{name}+{k}"),
            k => format!("{name}{k}"),
        },
        None => n.to_string(),
    }
}

/// Consecutive plain data rows in one direction beyond this many are folded into one.
const FOLD_AFTER: usize = 8;

impl DemoReport {
    /// The ladder and summary as text for a terminal.
    pub fn render(&self) -> String {
        let sym = Symbols::find(&self.rows);
        let mut out = String::new();
        let o = &self.options;
        let _ = writeln!(
            out,
            "synack demo: A {} (client) ⇄ B {} (server), seed {}, loss {}%, corruption {}%, one-way delay {} ms, MSL {} s\n",
            self.client,
            self.server,
            o.seed,
            o.loss_percent,
            o.corrupt_percent,
            o.delay.as_millis(),
            o.msl.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "{:>10}  {:<13} {:<50} {:<13} absolute numbers",
            "time (ms)", "A", "", "B"
        );
        let _ = writeln!(
            out,
            "{:>10}  {:<13} {:<50} {:<13}",
            "", "CLOSED", "", "LISTEN"
        );
        let mut i = 0;
        while i < self.rows.len() {
            let run = self.foldable_run(i);
            if run > FOLD_AFTER {
                self.render_folded(&mut out, &sym, i, run);
                i += run;
                continue;
            }
            if let Some(row) = self.rows.get(i) {
                render_row(&mut out, &sym, i, row);
            }
            i += 1;
        }
        self.render_summary(&mut out, &sym);
        out
    }

    fn foldable_run(&self, start: usize) -> usize {
        let plain = |r: &Row| {
            r.segment.as_ref().is_some_and(|s| {
                s.len > 0
                    && !s
                        .flags
                        .intersects(TcpFlags::SYN | TcpFlags::FIN | TcpFlags::RST)
            })
        };
        let Some(first) = self.rows.get(start) else {
            return 0;
        };
        if !plain(first) {
            return 0;
        }
        self.rows
            .get(start..)
            .unwrap_or(&[])
            .iter()
            .take_while(|r| {
                plain(r)
                    || r.segment
                        .as_ref()
                        .is_some_and(|s| s.len == 0 && s.flags == TcpFlags::ACK)
            })
            .count()
    }

    fn render_folded(&self, out: &mut String, sym: &Symbols, start: usize, run: usize) {
        let rows = self.rows.get(start..start + run).unwrap_or(&[]);
        for (k, row) in rows.iter().enumerate().take(3) {
            render_row(out, sym, start + k, row);
        }
        let middle = rows.get(3..run.saturating_sub(2)).unwrap_or(&[]);
        let data: Vec<&SegmentRow> = middle
            .iter()
            .filter_map(|r| r.segment.as_ref())
            .filter(|s| s.len > 0)
            .collect();
        let acks = middle.len() - data.len();
        let bytes: usize = data.iter().map(|s| s.len).sum();
        let lost = middle
            .iter()
            .filter_map(|r| r.segment.as_ref())
            .filter(|s| s.fate != Fate::Delivered)
            .count();
        let rexmit = data.iter().filter(|s| s.retransmission).count();
        let (t0, t1) = (
            middle.first().map_or(Instant::ZERO, |r| r.time),
            middle.last().map_or(Instant::ZERO, |r| r.time),
        );
        let _ = writeln!(
            out,
            "{:>10}  {:<13} ⋮ {} data segments ({} bytes), {} ACKs, {} retransmitted, {} not delivered, over {:.3} ms",
            "",
            "",
            data.len(),
            bytes,
            acks,
            rexmit,
            lost,
            (t1 - t0).as_secs_f64() * 1000.0
        );
        let tail = run.saturating_sub(2).max(3);
        for (k, row) in rows.iter().enumerate().skip(tail) {
            render_row(out, sym, start + k, row);
        }
    }

    fn render_summary(&self, out: &mut String, sym: &Symbols) {
        let ok = |b: bool| if b { "yes" } else { "NO" };
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "symbols: x={} y={} u={} v={} w={}",
            opt(sym.x),
            opt(sym.y),
            opt(sym.u.map(|(v, _)| v)),
            opt(sym.v.map(|(v, _)| v)),
            opt(sym.w.map(|(v, _)| v))
        );
        let _ = writeln!(
            out,
            "A→B {} bytes intact: {}; B→A {} bytes intact: {}; half-close data received in FIN-WAIT-2: {}",
            self.bytes.0,
            ok(self.a_to_b_intact),
            self.bytes.1,
            ok(self.b_to_a_intact),
            ok(self.half_close_seen)
        );
        let _ = writeln!(
            out,
            "A passed TIME-WAIT: {}; both ends CLOSED: {}; finished at {:.3} s virtual time",
            ok(self.a_time_wait),
            ok(self.both_closed),
            self.finished_at.total_micros() as f64 / 1e6
        );
        let l = &self.link;
        let _ = writeln!(
            out,
            "link: {} packets sent, {} delivered, {} lost, {} corrupted; {} retransmissions",
            l.sent, l.delivered, l.lost, l.corrupted, self.retransmissions
        );
        let _ = writeln!(out, "counters A: {}", self.counters.0);
        let _ = writeln!(out, "counters B: {}", self.counters.1);
        let _ = writeln!(
            out,
            "result: {}",
            if self.success() { "OK" } else { "FAILED" }
        );
    }
}

impl DemoReport {
    /// The demo's ladder in the shared drawing model (for `synack demo --svg`), with the
    /// demo's own exact states rather than inferred ones.
    pub fn diagram(&self) -> Diagram {
        let sym = Symbols::find(&self.rows);
        let mut items = Vec::new();
        let mut i = 0;
        while i < self.rows.len() {
            let run = self.foldable_run(i);
            if run > FOLD_AFTER {
                for k in (i..i + 3).chain(i + run - 2..i + run) {
                    if k == i + run - 2 {
                        let middle = self.rows.get(i + 3..i + run - 2).unwrap_or(&[]);
                        let segs = middle.iter().filter_map(|r| r.segment.as_ref());
                        let (n, bytes) = segs
                            .filter(|s| s.len > 0)
                            .fold((0, 0), |(n, b), s| (n + 1, b + s.len));
                        let first = middle.first();
                        items.push(Item::Fold {
                            text: format!(
                                "{n} data segments ({bytes} bytes) and their ACKs over {:.3} ms",
                                middle.last().zip(first).map_or(0.0, |(l, f)| {
                                    (l.time - f.time).as_secs_f64() * 1000.0
                                })
                            ),
                            a: first.map_or("", |r| r.a_state.name()).into(),
                            b: first.map_or("", |r| r.b_state.name()).into(),
                        });
                    }
                    if let Some(row) = self.rows.get(k) {
                        items.push(diagram_item(&sym, k, row));
                    }
                }
                i += run;
            } else {
                if let Some(row) = self.rows.get(i) {
                    items.push(diagram_item(&sym, i, row));
                }
                i += 1;
            }
        }
        let mut summary = Vec::new();
        let rendered = self.render();
        let tail: Vec<&str> = rendered.lines().rev().take(5).collect();
        summary.extend(tail.into_iter().rev().map(str::to_string));
        Diagram {
            title: format!(
                "synack demo: seed {}, loss {}%, one-way delay {} ms",
                self.options.seed,
                self.options.loss_percent,
                self.options.delay.as_millis()
            ),
            a_name: format!("A {} (client)", self.client),
            b_name: format!("B {} (server)", self.server),
            initial: ("CLOSED".into(), "LISTEN".into()),
            items,
            summary,
        }
    }
}

fn diagram_item(sym: &Symbols, index: usize, row: &Row) -> Item {
    let time_ms = row.time.total_micros() as f64 / 1000.0;
    let (a, b) = (
        row.a_state.name().to_string(),
        row.b_state.name().to_string(),
    );
    let Some(s) = &row.segment else {
        return Item::Event {
            time_ms,
            note: row.note.unwrap_or("timer").into(),
            a,
            b,
        };
    };
    let (seq_sym, ack_sym) = match s.dir {
        Dir::AtoB => (sym.a_space(s.seq, index), sym.b_space(s.ack, index)),
        Dir::BtoA => (sym.b_space(s.seq, index), sym.a_space(s.ack, index)),
    };
    let ack = s.flags.ack().then_some(ack_sym);
    let mut marks = Vec::new();
    let mut mark = |text: &str, tone: Tone| {
        marks.push(Mark {
            text: text.into(),
            tone,
        })
    };
    if s.retransmission {
        mark("retransmission", Tone::Bad);
    }
    match s.fate {
        Fate::Delivered => {}
        Fate::Lost => mark("lost", Tone::Bad),
        Fate::Corrupted => mark("corrupted: dropped by checksum", Tone::Bad),
        Fate::Duplicate => mark("duplicate", Tone::Warn),
        other => mark(&format!("{other:?}"), Tone::Warn),
    }
    if let Some(o) = s.syn_options.as_ref().filter(|o| !o.is_empty()) {
        mark(o, Tone::Info);
    }
    let mut absolute = format!("seq={}", s.seq);
    if s.flags.ack() {
        let _ = write!(absolute, " ack={}", s.ack);
    }
    Item::Segment {
        time_ms,
        dir: match s.dir {
            Dir::AtoB => TraceDir::AtoB,
            Dir::BtoA => TraceDir::BtoA,
        },
        label: diagram::label(
            s.flags,
            &seq_sym,
            ack.as_deref(),
            u32::try_from(s.len).unwrap_or(u32::MAX),
            u32::from(s.window),
        ),
        lost: !matches!(s.fate, Fate::Delivered | Fate::Duplicate),
        marks,
        absolute,
        a,
        b,
    }
}

fn opt(v: Option<u32>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

fn render_row(out: &mut String, sym: &Symbols, index: usize, row: &Row) {
    let time = row.time.total_micros() as f64 / 1000.0;
    let Some(s) = &row.segment else {
        let _ = writeln!(
            out,
            "{:>10.3}  {:<13} {:<50} {:<13}",
            time,
            row.a_state.name(),
            format!("   ({})", row.note.unwrap_or("timer")),
            row.b_state.name()
        );
        return;
    };
    let (seq_sym, ack_sym) = match s.dir {
        Dir::AtoB => (sym.a_space(s.seq, index), sym.b_space(s.ack, index)),
        Dir::BtoA => (sym.b_space(s.seq, index), sym.a_space(s.ack, index)),
    };
    let mut label = format!("{} seq={seq_sym}", s.flags);
    if s.flags.ack() {
        let _ = write!(label, " ack={ack_sym}");
    }
    if s.len > 0 {
        let _ = write!(label, " len={}", s.len);
    }
    let _ = write!(label, " win={}", s.window);
    let lost = !matches!(s.fate, Fate::Delivered | Fate::Duplicate);
    let arrow = match (s.dir, lost) {
        (Dir::AtoB, false) => format!("── {label} ──▶"),
        (Dir::AtoB, true) => format!("── {label} ──✗"),
        (Dir::BtoA, false) => format!("◀── {label} ──"),
        (Dir::BtoA, true) => format!("✗── {label} ──"),
    };
    let mut marks = Vec::new();
    if s.retransmission {
        marks.push("retransmission".to_string());
    }
    match s.fate {
        Fate::Delivered => {}
        Fate::Lost => marks.push("lost".into()),
        Fate::Corrupted => marks.push("corrupted: dropped by checksum".into()),
        Fate::Duplicate => marks.push("duplicate".into()),
        other => marks.push(format!("{other:?}")),
    }
    if let Some(opts) = &s.syn_options
        && !opts.is_empty()
    {
        marks.push(opts.clone());
    }
    let mut abs = format!("seq={}", s.seq);
    if s.flags.ack() {
        let _ = write!(abs, " ack={}", s.ack);
    }
    let marks = if marks.is_empty() {
        String::new()
    } else {
        format!("  [{}]", marks.join("; "))
    };
    let pad = 50usize.saturating_sub(arrow.chars().count());
    let _ = writeln!(
        out,
        "{:>10.3}  {:<13} {}{} {:<13} {}{}",
        time,
        row.a_state.name(),
        arrow,
        " ".repeat(pad),
        row.b_state.name(),
        abs,
        marks
    );
}
