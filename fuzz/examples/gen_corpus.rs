//! Writes the seed corpus under `fuzz/corpus/<target>/seed-*` from real traffic.
//!
//! Runs short exchanges on the simulated network between a plain stack (host A) and a
//! stack built exactly like the `stack_packets` harness's (host B), records everything B
//! sees (packets, time, application calls) as an operation sequence, and checks that
//! replaying the sequence through the harness emits exactly the packets B emitted: so a
//! seed drives the fuzzed stack through a whole real connection. Every packet on the wire
//! also becomes a `wire_parse` seed. `connection_segments` gets hand-written sequences, and
//! `frag_reassembly` the hand-written `synack_fuzz::frag::SEEDS`.
//!
//! Run from `fuzz/`: `cargo run --release --example gen_corpus` (it replaces old seeds).

use std::net::SocketAddr;
use std::path::Path;
use synack::sim::{Endpoint, HostId, LinkConfig, Network};
use synack::stack::{ConnId, ListenerId, Secret, Stack, StackConfig};
use synack::tcp::State;
use synack::time::{Duration, Instant};
use synack_fuzz::ops::{Encoder, Op, Seg, SeqSel, Setup, Target, TsSel, next_op};
use synack_fuzz::stack::{Harness, ISN_KEY, LOCAL_V4, LOCAL_V6, REMOTES_V4, REMOTES_V6};

/// Host B: the harness's stack, with everything it sees recorded as operations.
struct Recorder {
    stack: Stack,
    last: Instant,
    ops: Vec<(Op, Vec<u8>)>,
    emitted: Vec<Vec<u8>>,
    /// Packets taken from the stack, not yet handed to the network.
    pending: std::collections::VecDeque<Vec<u8>>,
}

impl Recorder {
    fn at(&mut self, now: Instant) {
        let gap = now - self.last;
        if gap > Duration::ZERO {
            let micros = u32::try_from(gap.as_micros()).expect("gap fits in u32 µs");
            self.ops.push((
                Op::Advance {
                    micros,
                    timers: false,
                },
                Vec::new(),
            ));
            self.last = now;
        }
    }
    /// Logs an application call made at `now` (call [`Recorder::pull`] right after it).
    fn op(&mut self, now: Instant, op: Op) {
        self.at(now);
        self.ops.push((op, Vec::new()));
    }
    /// Drains the stack, as the harness does after every operation.
    fn pull(&mut self, now: Instant) {
        let mut buf = vec![0u8; 65536];
        while let Some(n) = self.stack.poll_transmit(now, &mut buf) {
            self.emitted.push(buf[..n].to_vec());
            self.pending.push_back(buf[..n].to_vec());
        }
    }
}

impl Endpoint for Recorder {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        self.at(now);
        let len = u16::try_from(packet.len()).expect("packet under 64 KiB");
        self.ops.push((Op::Raw { len }, packet.to_vec()));
        self.stack.handle_packet(now, packet);
        self.pull(now);
    }
    fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<usize> {
        let p = self.pending.pop_front()?;
        buf.get_mut(..p.len())?.copy_from_slice(&p);
        Some(p.len())
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.stack.poll_timeout()
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.at(now);
        self.ops.push((Op::RunTimers, Vec::new()));
        self.stack.handle_timeout(now);
        self.pull(now);
    }
}

/// One recorded exchange.
struct Scenario {
    name: &'static str,
    setup: Setup,
    v6: bool,
    /// B listens (true) or connects (false).
    b_listens: bool,
    a_bytes: usize,
    b_bytes: usize,
    link: LinkConfig,
    seed: u64,
}

const A: HostId = HostId(0);
const B: HostId = HostId(1);

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| i as u8).collect()
}

/// Runs a scenario; returns the encoded input and every packet on the wire.
fn record(s: &Scenario) -> (Vec<u8>, Vec<Vec<u8>>) {
    let b_cfg = s.setup.stack_config();
    let a_cfg = StackConfig {
        tcp: b_cfg.tcp,
        ..StackConfig::default()
    };
    let a_addrs = [REMOTES_V4[0], REMOTES_V6[0]];
    let b_addrs = [LOCAL_V4, LOCAL_V6];
    let mut net: Network<Box<dyn AnyHost>> = Network::new(s.seed);
    net.add_host(
        &a_addrs,
        Box::new(Plain(Stack::new(
            a_cfg,
            Secret::from_bytes([1; 16]),
            &a_addrs,
        ))),
    );
    net.add_host(
        &b_addrs,
        Box::new(Recorder {
            stack: Stack::new(b_cfg, Secret::from_bytes(ISN_KEY), &b_addrs),
            last: Instant::ZERO,
            ops: Vec::new(),
            emitted: Vec::new(),
            pending: Default::default(),
        }),
    );
    net.set_links(A, B, s.link.clone());
    let wire = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let w = wire.clone();
    net.set_observer(Box::new(move |_, bytes| {
        w.borrow_mut().push(bytes.to_vec())
    }));

    let (a_ip, b_ip) = if s.v6 {
        (REMOTES_V6[0], LOCAL_V6)
    } else {
        (REMOTES_V4[0], LOCAL_V4)
    };
    let port = 80;
    // The listening side and the connecting side.
    let mut b_listener: Option<ListenerId> = None;
    let mut a_listener: Option<ListenerId> = None;
    let mut a_conn: Option<ConnId> = None;
    let mut b_conn: Option<ConnId> = None;
    if s.b_listens {
        let rec = net.host_mut(B).recorder().expect("B records");
        b_listener = Some(
            rec.stack
                .listen(SocketAddr::new(b_ip, port), 4)
                .expect("listen"),
        );
        rec.op(
            Instant::ZERO,
            Op::Listen {
                port: 0,
                v6: s.v6,
                any: false,
                backlog: 4,
            },
        );
        rec.pull(Instant::ZERO);
        a_conn = Some(
            net.host_mut(A)
                .stack()
                .connect(Instant::ZERO, SocketAddr::new(b_ip, port))
                .expect("connect"),
        );
    } else {
        a_listener = Some(
            net.host_mut(A)
                .stack()
                .listen(SocketAddr::new(a_ip, port), 4)
                .expect("listen"),
        );
        let rec = net.host_mut(B).recorder().expect("B records");
        b_conn = Some(
            rec.stack
                .connect(Instant::ZERO, SocketAddr::new(a_ip, port))
                .expect("connect"),
        );
        rec.op(
            Instant::ZERO,
            Op::Connect {
                remote: 0,
                port,
                v6: s.v6,
            },
        );
        rec.pull(Instant::ZERO);
    }

    let a_out = pattern(s.a_bytes);
    let (mut a_sent, mut a_shut, mut a_closed) = (0usize, false, false);
    let (mut b_sent, mut b_shut, mut b_closed, mut b_eof) = (0usize, false, false, false);
    let mut buf = vec![0u8; 65536];
    let limit = Instant::from_millis(120_000);
    loop {
        let now = net.now();
        // Host A: a plain application.
        {
            let a = net.host_mut(A).stack();
            if a_conn.is_none()
                && let Some(l) = a_listener
            {
                a_conn = a.accept(l);
            }
            if let Some(id) = a_conn {
                while a_sent < a_out.len() {
                    match a.send(now, id, &a_out[a_sent..]) {
                        Ok(n) if n > 0 => a_sent += n,
                        _ => break,
                    }
                }
                if a_sent == a_out.len() && !a_shut && a.state(id) != State::SynSent {
                    a_shut = true;
                    let _ = a.shutdown(now, id);
                }
                let mut eof = false;
                while let Ok(n) = a.recv(now, id, &mut buf) {
                    if n == 0 {
                        eof = true;
                        break;
                    }
                }
                if eof && a_shut && !a_closed {
                    a_closed = true;
                    let _ = a.close(now, id);
                }
            }
        }
        // Host B: the same application, every call recorded.
        {
            let rec = net.host_mut(B).recorder().expect("B records");
            if b_conn.is_none()
                && let Some(l) = b_listener
            {
                b_conn = rec.stack.accept(l);
                if b_conn.is_some() {
                    rec.op(now, Op::Accept { listener: 0 });
                    rec.pull(now);
                }
            }
            if let Some(id) = b_conn {
                while b_sent < s.b_bytes && rec.stack.state(id) != State::SynSent {
                    let len = (s.b_bytes - b_sent).min(1000) as u16;
                    rec.op(now, Op::Send { conn: 0, len });
                    let r = rec.stack.send(now, id, &pattern(usize::from(len)));
                    rec.pull(now);
                    match r {
                        Ok(n) if n == usize::from(len) => b_sent += n,
                        // A partial send would replay as a different stream position;
                        // none happens with these sizes.
                        Ok(0) | Err(_) => break,
                        Ok(n) => panic!("partial send {n} of {len}"),
                    }
                }
                if b_sent == s.b_bytes && !b_shut && rec.stack.state(id) != State::SynSent {
                    b_shut = true;
                    rec.op(now, Op::Shutdown { conn: 0 });
                    let _ = rec.stack.shutdown(now, id);
                    rec.pull(now);
                }
                if rec.stack.connection(id).is_some_and(|c| c.recv_queue() > 0)
                    || (!b_eof
                        && rec
                            .stack
                            .connection(id)
                            .is_some_and(|c| c.is_recv_finished()))
                {
                    let mut got = vec![0u8; 4096];
                    loop {
                        rec.op(now, Op::Recv { conn: 0, len: 4096 });
                        let r = rec.stack.recv(now, id, &mut got);
                        rec.pull(now);
                        match r {
                            Ok(0) => {
                                b_eof = true;
                                break;
                            }
                            Ok(_) => {}
                            Err(_) => break,
                        }
                    }
                }
                if b_eof && b_shut && !b_closed {
                    b_closed = true;
                    rec.op(now, Op::Close { conn: 0 });
                    let _ = rec.stack.close(now, id);
                    rec.pull(now);
                }
            }
        }
        let idle = a_closed && b_closed && net.host(A).count() == 0 && net.host(B).count() == 0;
        if idle || net.now() > limit || !net.step() {
            break;
        }
    }
    assert!(a_closed && b_closed, "{}: exchange did not finish", s.name);
    let rec = net.host_mut(B).recorder().expect("B records");
    let mut enc = Encoder::default();
    enc.setup(&s.setup);
    for (op, raw) in &rec.ops {
        enc.op(op, raw);
    }
    let input = enc.out;
    check_replay(s, &input, &rec.ops, &rec.emitted);
    let packets = wire.borrow().clone();
    (input, packets)
}

/// Decodes `input` (must give back `ops`) and replays it through the harness, which must
/// emit exactly what B emitted in the simulation.
fn check_replay(s: &Scenario, input: &[u8], ops: &[(Op, Vec<u8>)], emitted: &[Vec<u8>]) {
    let mut u = arbitrary::Unstructured::new(input);
    let setup: Setup = arbitrary::Arbitrary::arbitrary(&mut u).expect("setup decodes");
    assert_eq!(setup, s.setup);
    let mut h = Harness::new(&setup);
    h.emitted = Some(Vec::new());
    for (want, want_raw) in ops {
        let (op, raw) = next_op(&mut u).expect("op decodes");
        assert_eq!(
            (&op, raw),
            (want, want_raw.as_slice()),
            "{}: encoding",
            s.name
        );
        h.step(&op, raw);
    }
    assert!(u.is_empty(), "{}: trailing bytes", s.name);
    let got = h.emitted.take().unwrap_or_default();
    assert_eq!(
        got.len(),
        emitted.len(),
        "{}: replay emitted a different count",
        s.name
    );
    for (i, (g, e)) in got.iter().zip(emitted).enumerate() {
        if g != e {
            let pg = synack::wire::parse_ip_tcp(g, synack::wire::Checksum::Ignore);
            let pe = synack::wire::parse_ip_tcp(e, synack::wire::Checksum::Ignore);
            panic!("{}: replay packet {i} differs:\n{pg:?}\n{pe:?}", s.name);
        }
    }
}

/// A host of either kind, so one network holds both.
trait AnyHost: Endpoint {
    fn recorder(&mut self) -> Option<&mut Recorder>;
    fn stack(&mut self) -> &mut Stack;
    fn count(&self) -> usize;
}

struct Plain(Stack);

impl Endpoint for Plain {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        self.0.handle_packet(now, packet)
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.0.poll_transmit(now, buf)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.0.poll_timeout()
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.0.handle_timeout(now)
    }
}

impl AnyHost for Plain {
    fn recorder(&mut self) -> Option<&mut Recorder> {
        None
    }
    fn stack(&mut self) -> &mut Stack {
        &mut self.0
    }
    fn count(&self) -> usize {
        self.0.connection_count()
    }
}

impl AnyHost for Recorder {
    fn recorder(&mut self) -> Option<&mut Recorder> {
        Some(self)
    }
    fn stack(&mut self) -> &mut Stack {
        &mut self.stack
    }
    fn count(&self) -> usize {
        self.stack.connection_count()
    }
}

impl Endpoint for Box<dyn AnyHost> {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        (**self).handle_packet(now, packet)
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        (**self).poll_transmit(now, buf)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        (**self).poll_timeout()
    }
    fn handle_timeout(&mut self, now: Instant) {
        (**self).handle_timeout(now)
    }
}

/// Hand-written `connection_segments` inputs: handshakes, data, FINs, RSTs.
fn connection_seeds() -> Vec<(&'static str, Vec<u8>)> {
    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    const FIN: u8 = 0x01;
    const RST: u8 = 0x04;
    const PSH: u8 = 0x08;
    let seg = |flags: u8, seq: SeqSel, ack: SeqSel, len: u16, syn_opts: bool| Seg {
        target: Target::Conn(0),
        flags,
        seq,
        ack,
        window: 65535,
        mss: syn_opts.then_some(1460),
        window_scale: syn_opts.then_some(7),
        sack_permitted: syn_opts,
        sack: None,
        timestamps: Some((TsSel::Raw(1000), TsSel::Raw(0))),
        payload_len: len,
        payload_seed: 7,
        bad_checksum: false,
    };
    let est = |flags, len| seg(flags, SeqSel::RcvNxt(0), SeqSel::SndNxt(0), len, false);
    let passive = [
        Op::Segment(seg(SYN, SeqSel::Raw(5000), SeqSel::Raw(0), 0, true)),
        Op::Segment(est(ACK, 0)),
        Op::Segment(est(ACK | PSH, 1000)),
        Op::Send { conn: 0, len: 3000 },
        Op::Advance {
            micros: 40_000,
            timers: true,
        },
        Op::Segment(est(ACK, 0)),
        Op::Recv { conn: 0, len: 4096 },
        Op::Segment(est(ACK | FIN, 0)),
        Op::Close { conn: 0 },
        Op::Segment(est(ACK, 0)),
    ];
    let active = [
        Op::Segment(seg(
            SYN | ACK,
            SeqSel::Raw(9000),
            SeqSel::SndNxt(0),
            0,
            true,
        )),
        Op::Send {
            conn: 0,
            len: 20000,
        },
        Op::Segment(est(ACK, 500)),
        Op::Segment(seg(
            ACK,
            SeqSel::RcvNxt(1000),
            SeqSel::SndUna(0),
            500,
            false,
        )),
        Op::Segment(est(ACK, 0)),
        Op::Segment(est(ACK, 0)),
        Op::Segment(est(ACK, 0)),
        Op::NextTimer,
        Op::NextTimer,
        Op::Close { conn: 0 },
        Op::Segment(est(ACK | FIN, 0)),
        Op::Advance {
            micros: 2_000_000,
            timers: true,
        },
    ];
    let reset = [
        Op::Segment(seg(
            SYN | ACK,
            SeqSel::Raw(9000),
            SeqSel::SndNxt(0),
            0,
            true,
        )),
        Op::Segment(est(RST, 0)),
        Op::Segment(seg(RST, SeqSel::RcvNxt(100), SeqSel::Raw(0), 0, false)),
    ];
    let mut out = Vec::new();
    for (name, active_open, ops) in [
        ("passive", false, &passive[..]),
        ("active", true, &active[..]),
        ("reset", true, &reset[..]),
    ] {
        for (tag, setup) in [
            ("", Setup::default()),
            (
                "-small",
                Setup {
                    small: true,
                    no_timestamps: true,
                    ..Setup::default()
                },
            ),
        ] {
            let mut e = Encoder::default();
            e.setup(&setup);
            e.out.push(u8::from(active_open));
            for op in ops {
                e.op(op, &[]);
            }
            out.push((format!("{name}{tag}").leak() as &str, e.out));
        }
    }
    out
}

/// Hand-written `stack_packets` inputs for paths real exchanges rarely take: a SYN flood
/// answered with SYN cookies and a cookie ACK completing the handshake; a zero window
/// probed by the persist timer; an in-window RST.
fn stack_seeds() -> Vec<(String, Vec<u8>)> {
    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    const RST: u8 = 0x04;
    let seg = |target, flags, seq, ack, window, syn_opts: bool| Seg {
        target,
        flags,
        seq,
        ack,
        window,
        mss: syn_opts.then_some(1400),
        window_scale: syn_opts.then_some(6),
        sack_permitted: syn_opts,
        sack: None,
        timestamps: Some((TsSel::Raw(77_000), TsSel::Recent(0))),
        payload_len: 0,
        payload_seed: 3,
        bad_checksum: false,
    };
    let mut flood = vec![Op::Listen {
        port: 0,
        v6: false,
        any: false,
        backlog: 7,
    }];
    for remote in 0..5u8 {
        let from = Target::Listener {
            listener: 0,
            remote,
        };
        flood.push(Op::Segment(seg(
            from,
            SYN,
            SeqSel::Raw(1000 * u32::from(remote)),
            SeqSel::Raw(0),
            65535,
            true,
        )));
    }
    // The fifth SYN found the SYN queue full and got a cookie; answer it.
    let last = Target::Listener {
        listener: 0,
        remote: 4,
    };
    flood.push(Op::Segment(seg(
        last,
        ACK,
        SeqSel::RcvNxt(0),
        SeqSel::SndNxt(0),
        500,
        false,
    )));
    flood.push(Op::Accept { listener: 0 });
    flood.push(Op::Send { conn: 0, len: 2000 });
    flood.push(Op::Segment(seg(
        Target::Conn(0),
        RST,
        SeqSel::RcvNxt(0),
        SeqSel::Raw(0),
        0,
        false,
    )));

    let conn = Target::Conn(0);
    let zero_window = vec![
        Op::Connect {
            remote: 0,
            port: 443,
            v6: true,
        },
        Op::Segment(seg(
            conn,
            SYN | ACK,
            SeqSel::Raw(5),
            SeqSel::SndNxt(0),
            1000,
            true,
        )),
        Op::Send { conn: 0, len: 3000 },
        Op::Segment(seg(
            conn,
            ACK,
            SeqSel::RcvNxt(0),
            SeqSel::SndNxt(0),
            0,
            false,
        )),
        Op::NextTimer,
        Op::NextTimer,
        Op::NextTimer,
        Op::Segment(seg(
            conn,
            ACK,
            SeqSel::RcvNxt(0),
            SeqSel::SndNxt(0),
            65535,
            false,
        )),
        Op::Shutdown { conn: 0 },
        Op::NextTimer,
    ];
    let mut out = Vec::new();
    for (name, ops) in [("cookie-flood", flood), ("zero-window", zero_window)] {
        let mut e = Encoder::default();
        e.setup(&Setup::default());
        for op in &ops {
            e.op(op, &[]);
        }
        out.push((name.to_string(), e.out));
    }
    out
}

/// `wire_parse` seeds for formats no simulated connection carries: a UDP datagram in each
/// family, and an ICMP error about the first recorded TCP packet of each family (IPv4
/// "fragmentation needed" with a next-hop MTU, ICMPv6 Packet Too Big), sent back by its
/// destination; so the deterministic CI run starts inside the UDP and ICMP-error parsers.
fn wire_seeds(tcp_packets: &[(String, Vec<u8>)]) -> Vec<(String, Vec<u8>)> {
    use synack::wire::icmp::{self, ErrorMessage};
    use synack::wire::{Checksum, IpRepr, UdpRepr, emit_ip_udp, parse_ip_tcp};
    let mut out = Vec::new();
    for v6 in [false, true] {
        let family = if v6 { "v6" } else { "v4" };
        let Some((_, offending)) = tcp_packets
            .iter()
            .find(|(_, p)| p.first().is_some_and(|b| (b >> 4 == 6) == v6))
        else {
            continue;
        };
        let (ip, _) = parse_ip_tcp(offending, Checksum::Verify).expect("a recorded TCP packet");
        let mut buf = vec![0u8; 1500];
        let udp = UdpRepr {
            src_port: 5353,
            dst_port: 53,
            payload: b"\x12\x34\x01\x00\x00\x01\x00\x00",
        };
        let header = IpRepr::new(ip.src_addr(), ip.dst_addr(), 17, 0, 64).expect("one family");
        let n = emit_ip_udp(&header, &udp, &mut buf).expect("a small datagram");
        out.push((format!("udp-{family}"), buf[..n].to_vec()));
        let message = if v6 {
            ErrorMessage::PacketTooBig { mtu: 1280 }
        } else {
            ErrorMessage::DstUnreachable {
                code: icmp::V4_UNREACH_FRAG_NEEDED,
                next_hop_mtu: 576,
            }
        };
        let n = icmp::emit_ip_icmp_error(ip.dst_addr(), 64, &message, offending, &mut buf)
            .expect("an error about a recorded packet");
        out.push((format!("icmp-error-{family}"), buf[..n].to_vec()));
    }
    out
}

fn write_dir(dir: &Path, files: &[(String, Vec<u8>)]) {
    std::fs::create_dir_all(dir).expect("mkdir");
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        if entry.file_name().to_string_lossy().starts_with("seed-") {
            std::fs::remove_file(entry.path()).expect("rm old seed");
        }
    }
    for (name, bytes) in files {
        std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("write seed");
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let base = LinkConfig::default().with_delay(Duration::from_millis(5));
    let small = Setup {
        small: true,
        ..Setup::default()
    };
    let plain = Setup {
        no_timestamps: true,
        no_window_scaling: true,
        nodelay: true,
        ..Setup::default()
    };
    let scenarios = [
        (
            "v4-server",
            Setup::default(),
            false,
            true,
            3000,
            2000,
            base.clone(),
            1,
        ),
        (
            "v6-server",
            Setup::default(),
            true,
            true,
            1500,
            4000,
            base.clone(),
            2,
        ),
        (
            "v4-client",
            Setup::default(),
            false,
            false,
            2500,
            2500,
            base.clone(),
            3,
        ),
        (
            "v6-client-plain",
            plain,
            true,
            false,
            2000,
            3000,
            base.clone(),
            4,
        ),
        (
            "v4-server-small",
            small,
            false,
            true,
            6000,
            3000,
            base.clone(),
            5,
        ),
        (
            "v4-server-lossy",
            small,
            false,
            true,
            6000,
            2000,
            base.clone()
                .with_loss(0.15)
                .with_jitter(Duration::from_millis(8)),
            6,
        ),
        (
            "v4-client-lossy",
            Setup::default(),
            false,
            false,
            4000,
            4000,
            base.clone()
                .with_loss(0.1)
                .with_duplicate(0.1)
                .with_jitter(Duration::from_millis(8)),
            7,
        ),
        (
            "v6-server-lossy",
            plain,
            true,
            true,
            3000,
            3000,
            base.clone()
                .with_loss(0.1)
                .with_jitter(Duration::from_millis(8)),
            8,
        ),
        (
            "v4-empty",
            Setup::default(),
            false,
            true,
            0,
            0,
            base.clone(),
            9,
        ),
        (
            "v4-client-empty",
            small,
            false,
            false,
            0,
            10,
            base.clone(),
            10,
        ),
    ];
    let mut stack_files = Vec::new();
    let mut wire_files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (name, setup, v6, b_listens, a_bytes, b_bytes, link, seed) in scenarios {
        let s = Scenario {
            name,
            setup,
            v6,
            b_listens,
            a_bytes,
            b_bytes,
            link,
            seed,
        };
        let (input, packets) = record(&s);
        println!("{name}: {} bytes, {} packets", input.len(), packets.len());
        stack_files.push((name.to_string(), input));
        // Distinct packet shapes: flags, options length and family; at most 8 per scenario.
        let mut kept = 0;
        for p in packets {
            let Ok((ip, tcp)) = synack::wire::parse_ip_tcp(&p, synack::wire::Checksum::Verify)
            else {
                continue;
            };
            let key = (
                ip.src_addr().is_ipv6(),
                tcp.flags.bits(),
                tcp.header_len(),
                tcp.payload.is_empty(),
            );
            if kept < 8 && seen.insert(key) {
                kept += 1;
                wire_files.push((format!("{name}-{}", wire_files.len()), p));
            }
        }
    }
    stack_files.extend(stack_seeds());
    let extra = wire_seeds(&wire_files);
    wire_files.extend(extra);
    let conn_files: Vec<(String, Vec<u8>)> = connection_seeds()
        .into_iter()
        .map(|(n, b)| (n.to_string(), b))
        .collect();
    write_dir(&root.join("stack_packets"), &stack_files);
    write_dir(&root.join("wire_parse"), &wire_files);
    write_dir(&root.join("connection_segments"), &conn_files);
    let frag_files: Vec<(String, Vec<u8>)> = synack_fuzz::frag::SEEDS
        .iter()
        .map(|(n, b)| (n.trim_start_matches("seed-").to_string(), b.to_vec()))
        .collect();
    write_dir(&root.join("frag_reassembly"), &frag_files);
    println!(
        "wrote {} stack_packets, {} wire_parse, {} connection_segments, {} frag_reassembly seeds",
        stack_files.len(),
        wire_files.len(),
        conn_files.len(),
        frag_files.len()
    );
}
