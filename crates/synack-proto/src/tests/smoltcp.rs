//! synack against smoltcp, an independent TCP implementation, over the simulated link.
//!
//! One host runs synack's [`Stack`], the other a smoltcp [`Interface`] with one TCP socket
//! ([`SmolHost`]). Each side sends its stream, half-closes, reads to EOF and releases; the
//! checks are those of the synack-only end-to-end tests ([`super::assert_clean`]): both
//! streams SHA-256-equal, FIN both ways with no RST and no timeout, synack's connection freed,
//! the side that closed first passes TIME-WAIT, and every packet synack emits is re-parsed by
//! the etherparse oracle. One reset is tolerated, and only with the link's record proving it:
//! of an end in CLOSING or LAST-ACK that never got the ACK of its FIN, by the other end after
//! that one's TIME-WAIT ran out while the link lost everything between them ([`wire_log`]).

mod host;
mod wire_log;

use super::*;
use crate::sim::{Fate, PacketEvent};
use crate::tcp::seq::SeqNum;
use ::smoltcp::socket::tcp as smol;
use host::{Host, SmolHost};
use std::cell::RefCell;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use wire_log::{Outlasted, Wire, fin_acked, time_wait_outlasted};

/// Socket buffers on both sides, so 8 MiB moves in a sane number of round trips.
const BUFFER: usize = 256 * 1024;
/// The port the server listens on.
const PORT: u16 = 443;

/// The smoltcp side's application: sends its stream, half-closes, reads to EOF. Mirrors
/// [`Side`]; smoltcp's `close` is a half-close and the socket frees itself.
#[derive(Default)]
struct SmolSide {
    out: Vec<u8>,
    sent: usize,
    shut: bool,
    /// The state `close` was called in: ESTABLISHED means this side closed first.
    shut_in: Option<smol::State>,
    got: Vec<u8>,
    eof: bool,
}

impl SmolSide {
    fn drive(&mut self, host: &mut SmolHost, now: Instant, buf: &mut [u8]) {
        let socket = host.socket();
        while self.sent < self.out.len() && socket.can_send() {
            match socket.send_slice(&self.out[self.sent..]) {
                Ok(n) if n > 0 => self.sent += n,
                _ => break,
            }
        }
        if self.sent == self.out.len() && !self.shut && socket.may_send() {
            self.shut = true;
            self.shut_in = Some(socket.state());
            socket.close();
        }
        while !self.eof {
            match socket.recv_slice(buf) {
                Ok(0) | Err(smol::RecvError::InvalidState) => break,
                Ok(n) => self.got.extend_from_slice(&buf[..n]),
                Err(smol::RecvError::Finished) => self.eof = true,
            }
        }
        host.poll(now);
    }
}

/// Which stack opens the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Client {
    Synack,
    Smol,
}

/// What one host put on the wire, tallied in send order before any impairment.
#[derive(Clone, Copy, Debug, Default)]
struct Tally {
    packets: u64,
    rsts: u64,
    not_tcp: u64,
    data_segments: u64,
    /// Data segments ending at or before the highest sequence number already sent.
    retransmitted: u64,
    highest_end: Option<SeqNum>,
}

impl Tally {
    fn count(&mut self, packet: &[u8]) {
        self.packets += 1;
        let sliced = etherparse::SlicedPacket::from_ip(packet)
            .unwrap_or_else(|e| panic!("etherparse rejects {packet:02x?}: {e}"));
        let Some(etherparse::TransportSlice::Tcp(tcp)) = sliced.transport else {
            // smoltcp answers a corrupted IPv6 Next Header with ICMPv6 Parameter Problem.
            self.not_tcp += 1;
            return;
        };
        self.rsts += u64::from(tcp.rst());
        if tcp.payload().is_empty() {
            return;
        }
        self.data_segments += 1;
        let end = SeqNum::new(tcp.sequence_number()) + tcp.payload().len();
        match self.highest_end {
            Some(h) if end.before_eq(h) => self.retransmitted += 1,
            _ => self.highest_end = Some(end),
        }
    }
}

/// Outcome of [`run`].
struct Run {
    synack: Side,
    smol: SmolSide,
    net: Network<Host>,
    synack_host: HostId,
    smol_host: HostId,
    finished: bool,
    /// When both ends had read the other's whole stream and its FIN.
    data_done: Option<Instant>,
    /// Per host, in [`HostId`] order.
    tally: [Tally; 2],
    /// RSTs sent by a host whose end of the connection still existed.
    rsts_open: u64,
    /// RSTs sent by a host whose end was already gone, answering a stale segment.
    rsts_stale: u64,
    /// Deliveries that overtook a packet sent earlier in the same direction.
    reordered: u64,
    /// Every packet, with what the link did to it.
    log: Vec<Wire>,
}

/// synack's defaults, with buffers for bulk. The default MSL is 30 s, not RFC 9293's nominal
/// 2 minutes, so TIME-WAIT lasts 60 s as in Linux; smoltcp's RTO backs off to 60 s, so under
/// heavy loss its retransmissions can outlast TIME-WAIT and draw a RST (see `wire_log`).
fn tcp_cfg() -> tcp::Config {
    tcp::Config {
        send_buffer: BUFFER,
        recv_buffer: BUFFER,
        ..tcp::Config::default()
    }
}

/// Host A (the client) connects to host B on [`PORT`]; one of them is synack, the other
/// smoltcp. Each sends its stream, half-closes, reads to EOF and releases. Runs until both
/// ends are gone, either fails, or `limit` of virtual time passes.
fn run(
    seed: u64,
    link: LinkConfig,
    client: Client,
    ipv6: bool,
    a_out: Vec<u8>,
    b_out: Vec<u8>,
    limit: Duration,
) -> Run {
    let server = SocketAddr::new(if ipv6 { IP6_B } else { IP_B }, PORT);
    let (addrs_a, addrs_b) = ([IP_A, IP6_A], [IP_B, IP6_B]);
    let synack = |addrs: &[IpAddr]| {
        let cfg = StackConfig {
            tcp: tcp_cfg(),
            ..StackConfig::default()
        };
        let secret = Secret::from_bytes([seed as u8; 16]);
        Host::Synack(Box::new(Stack::new(cfg, secret, addrs)))
    };
    let smol = |addrs: &[IpAddr]| Host::Smol(Box::new(SmolHost::new(seed, addrs)));
    let ((a, b), synack_host, smol_host) = match client {
        Client::Synack => ((synack(&addrs_a), smol(&addrs_b)), A, B),
        Client::Smol => ((smol(&addrs_a), synack(&addrs_b)), B, A),
    };
    let mut net = Network::new(seed);
    net.add_host(&addrs_a, a);
    net.add_host(&addrs_b, b);
    net.set_links(A, B, link);
    // SMOL_PCAP=FILE captures each run to FILE, replacing the last: a failing search stops
    // at its first failure, so FILE then holds the failing run (`synack trace FILE --all`).
    if let Ok(path) = std::env::var("SMOL_PCAP") {
        net.pcap_to_file(path).unwrap();
    }

    let tally = Rc::new(RefCell::new([Tally::default(); 2]));
    let t = tally.clone();
    net.set_observer(Box::new(move |from, bytes| {
        if from == synack_host {
            crate::wire::oracle::check_with_etherparse(bytes);
        }
        t.borrow_mut()[from.0].count(bytes);
    }));
    net.set_recording(true);

    let (mut synack_side, mut smol_side) = (Side::default(), SmolSide::default());
    let now = net.now();
    let listener = match client {
        Client::Synack => {
            synack_side.out = a_out;
            smol_side.out = b_out;
            net.host_mut(smol_host).smol().listen(PORT);
            let stack = net.host_mut(synack_host).stack();
            synack_side.conn = Some(stack.connect(now, server).unwrap());
            None
        }
        Client::Smol => {
            smol_side.out = a_out;
            synack_side.out = b_out;
            let l = net.host_mut(synack_host).stack().listen(server, 8).unwrap();
            let local_port = 49152 + (seed % 16000) as u16;
            net.host_mut(smol_host)
                .smol()
                .connect(now, server, local_port);
            Some(l)
        }
    };

    let mut buf = vec![0u8; 64 * 1024];
    let deadline = Instant::ZERO + limit;
    let (mut finished, mut data_done) = (false, None);
    let (mut reordered, mut newest_sent, mut log) = (0, [Instant::ZERO; 2], Vec::new());
    let (mut rsts_seen, mut rsts_open, mut rsts_stale) = ([0u64; 2], 0, 0);
    loop {
        let now = net.now();
        for ev in net.take_events() {
            reordered += u64::from(overtook(&ev, &mut newest_sent));
            log.push(Wire::new(&ev));
        }
        // A RST from a host whose end is already gone answers a stale segment, typically a
        // reordered ACK that arrives after the final ACK freed the passive closer: RFC 9293
        // §3.10.7.1 has a CLOSED port answer so. Any other RST is a failure.
        for h in [synack_host, smol_host] {
            let new = tally.borrow()[h.0].rsts - rsts_seen[h.0];
            rsts_seen[h.0] += new;
            let gone = match net.host(h) {
                Host::Synack(s) => synack_side
                    .conn
                    .is_some_and(|id| s.connection(id).is_none()),
                Host::Smol(m) => m.closed_cleanly && m.last == smol::State::Closed,
            };
            *(if gone {
                &mut rsts_stale
            } else {
                &mut rsts_open
            }) += new;
        }

        let stack = net.host_mut(synack_host).stack();
        if let Some(l) = listener
            && synack_side.conn.is_none()
        {
            synack_side.conn = stack.accept(l);
        }
        synack_side.drive(stack, now, &mut buf);
        smol_side.drive(net.host_mut(smol_host).smol(), now, &mut buf);
        if synack_side.eof && smol_side.eof {
            data_done.get_or_insert(now);
        }

        let stack = net.host(synack_host).stack_ref();
        let synack_gone = synack_side.released
            && synack_side
                .conn
                .is_none_or(|id| stack.connection(id).is_none());
        let smol = net.host(smol_host).smol_ref();
        let smol_gone = smol_side.shut && smol_side.eof && smol.state() == smol::State::Closed;
        if synack_gone && smol_gone {
            finished = true;
            break;
        }
        if synack_side.error.is_some()
            || smol.abnormal_close.is_some()
            || rsts_open > 0
            || net.now() > deadline
            || !net.step()
        {
            break;
        }
    }
    log.extend(net.take_events().iter().map(Wire::new));
    net.flush_pcap().unwrap();
    let tally = *tally.borrow();
    Run {
        synack: synack_side,
        smol: smol_side,
        net,
        synack_host,
        smol_host,
        finished,
        data_done,
        tally,
        rsts_open,
        rsts_stale,
        reordered,
        log,
    }
}

/// True if `ev` is a delivery that overtook a packet sent earlier in its direction.
fn overtook(ev: &PacketEvent, newest_sent: &mut [Instant; 2]) -> bool {
    if ev.to.is_none() || !matches!(ev.fate, Fate::Delivered) {
        return false;
    }
    let newest = &mut newest_sent[ev.from.0];
    let overtook = ev.sent_at < *newest;
    *newest = (*newest).max(ev.sent_at);
    overtook
}

/// smoltcp 0.14's TIME-WAIT: `CLOSE_DELAY` in `socket/tcp.rs`, restarted by each segment.
const SMOLTCP_TIME_WAIT: Duration = Duration::from_secs(10);

/// The resets [`assert_interop_clean`] tolerates, with the link's proof (see `wire_log`).
#[derive(Debug)]
enum Tolerated {
    /// smoltcp, in CLOSING or LAST-ACK, reset by synack after synack's 2 × MSL TIME-WAIT ran
    /// out while the link lost everything between them: no fault of either.
    SynackTimeWaitRanOut(Outlasted),
    /// synack, in CLOSING or LAST-ACK, reset by smoltcp after smoltcp's TIME-WAIT ran out:
    /// smoltcp's fault when that TIME-WAIT is shorter than 2 × MSL.
    SmoltcpTimeWaitRanOut(Outlasted),
}

impl Tolerated {
    fn brief(&self) -> String {
        let (who, o) = match self {
            Tolerated::SynackTimeWaitRanOut(o) => ("synack", o),
            Tolerated::SmoltcpTimeWaitRanOut(o) => ("smoltcp", o),
        };
        format!(
            "{who}'s TIME-WAIT ran out: it heard nothing from {:?} to {:?}, then sent {:?}",
            o.heard.time, o.answered.time, o.rst.seg
        )
    }
}

/// The checks of [`assert_clean`], for a synack ⇄ smoltcp run. One reset is tolerated, only
/// with the link's proof: an end whose FIN was never acknowledged, reset by the other after
/// that one's TIME-WAIT ran out ([`Tolerated`]).
fn assert_interop_clean(x: &Run, what: &str) -> Option<Tolerated> {
    let smol = x.net.host(x.smol_host).smol_ref();
    let stack = x.net.host(x.synack_host).stack_ref();
    assert!(
        x.synack.error.is_none(),
        "{what}: synack failed with {:?}",
        x.synack.error
    );
    // An end whose connection is gone though its FIN was never acknowledged was reset (RFC
    // 9293 §3.10.7.4 takes CLOSING and LAST-ACK to CLOSED on a RST without telling the user).
    let reset = |end: HostId, gone: bool| gone && fin_acked(&x.log, end) == Some(false);
    let synack_gone = x
        .synack
        .conn
        .is_some_and(|id| stack.connection(id).is_none());
    let synack_reset = reset(x.synack_host, synack_gone);
    let smol_reset = reset(x.smol_host, smol.state() == smol::State::Closed);
    assert!(
        smol.abnormal_close.is_none() || smol.abnormal_close == Some(smol::State::Closing),
        "{what}: smoltcp's socket went from {:?} to CLOSED",
        smol.abnormal_close
    );
    assert!(
        smol.abnormal_close.is_none() || smol_reset,
        "{what}: smoltcp went from CLOSING to CLOSED with its FIN acknowledged"
    );
    let outlasted = |holder: HostId, time_wait: Duration, holder_saw_time_wait: bool| {
        assert!(
            holder_saw_time_wait,
            "{what}: reset by an end that never reached TIME-WAIT"
        );
        time_wait_outlasted(&x.log, holder, time_wait).unwrap_or_else(|why| {
            panic!("{what}: an end reset in CLOSING or LAST-ACK, not because the other's TIME-WAIT ran out: {why}")
        })
    };
    let tolerated = match (synack_reset, smol_reset) {
        (false, false) => None,
        (false, true) => Some(Tolerated::SynackTimeWaitRanOut(outlasted(
            x.synack_host,
            tcp_cfg().msl * 2,
            x.synack.saw_time_wait,
        ))),
        (true, false) => Some(Tolerated::SmoltcpTimeWaitRanOut(outlasted(
            x.smol_host,
            SMOLTCP_TIME_WAIT,
            smol.saw_time_wait,
        ))),
        (true, true) => panic!("{what}: both ends reset"),
    };
    assert_eq!(x.rsts_open, 0, "{what}: RST during the connection");
    assert!(
        x.finished,
        "{what}: did not finish by {:?}: synack in {} (sent {}/{}, got {}, eof {}), \
         smoltcp in {} (sent {}/{}, got {}, eof {})",
        x.net.now(),
        x.synack.conn.map_or(State::Closed, |id| stack.state(id)),
        x.synack.sent,
        x.synack.out.len(),
        x.synack.got.len(),
        x.synack.eof,
        smol.state(),
        x.smol.sent,
        x.smol.out.len(),
        x.smol.got.len(),
        x.smol.eof,
    );
    assert_same_stream(
        &x.smol.got,
        &x.synack.out,
        &format!("{what}: synack→smoltcp stream"),
    );
    assert_same_stream(
        &x.synack.got,
        &x.smol.out,
        &format!("{what}: smoltcp→synack stream"),
    );
    let c = stack.counters();
    assert_eq!(
        (c.abort_on_timeout, c.estab_resets, c.attempt_fails),
        (0, 0, 0),
        "{what}: synack {c:?}"
    );
    assert_eq!(stack.connection_count(), 0, "{what}: synack leaked state");
    // RFC 9293 §3.6: the side that closes first (FIN from ESTABLISHED) passes TIME-WAIT,
    // unless it was reset while waiting for the ACK of its FIN.
    assert!(
        x.synack.shut_in != Some(State::Established) || x.synack.saw_time_wait || synack_reset,
        "{what}: synack closed first but never reached TIME-WAIT"
    );
    assert!(
        x.smol.shut_in != Some(smol::State::Established) || smol.saw_time_wait || smol_reset,
        "{what}: smoltcp closed first but never reached TIME-WAIT"
    );
    assert!(
        x.synack.saw_time_wait || smol.saw_time_wait,
        "{what}: someone must pass TIME-WAIT"
    );
    assert!(
        x.tally[x.synack_host.0].packets > 0,
        "{what}: the oracle saw no synack packet"
    );
    tolerated
}

const MIB: usize = 1 << 20;

fn clean_link() -> LinkConfig {
    LinkConfig::default().with_delay(Duration::from_millis(5))
}

/// 2% loss each way, and 5 ms of jitter on a 5 ms path, which reorders.
fn lossy_link() -> LinkConfig {
    clean_link()
        .with_jitter(Duration::from_millis(5))
        .with_loss(0.02)
}

/// The sweep's heaviest loss profile, and its name.
const HEAVY_LOSS: &str = "15% loss, 10 ms jitter";

fn heavy_loss_link() -> LinkConfig {
    clean_link()
        .with_loss(0.15)
        .with_jitter(Duration::from_millis(10))
}

/// 8 MiB each way, checked, with a one-line summary on stderr (`--nocapture` shows it).
fn bulk(seed: u64, link: LinkConfig, client: Client) -> Run {
    let x = run(
        seed,
        link,
        client,
        false,
        stream(8 * MIB, seed),
        stream(8 * MIB, !seed),
        Duration::from_secs(600),
    );
    let tolerated = assert_interop_clean(&x, &format!("seed {seed}, {client:?} client"));
    assert!(tolerated.is_none(), "{tolerated:?}");
    let (s, m) = (x.tally[x.synack_host.0], x.tally[x.smol_host.0]);
    eprintln!(
        "{client:?} client, seed {seed}: streams done at {:?}, closed at {:?} (virtual); synack sent {} packets ({} of {} \
         data segments retransmitted), smoltcp {} ({} of {}); {} lost, {} reordered, {} stale RSTs",
        x.data_done.unwrap_or_default(),
        x.net.now(),
        s.packets,
        s.retransmitted,
        s.data_segments,
        m.packets,
        m.retransmitted,
        m.data_segments,
        x.net.stats().lost,
        x.reordered,
        x.rsts_stale,
    );
    x
}

#[test]
fn synack_client_smoltcp_server_8mib_each_way() {
    let x = bulk(1, clean_link(), Client::Synack);
    assert_eq!(x.tally[0].retransmitted + x.tally[1].retransmitted, 0);
}

#[test]
fn smoltcp_client_synack_server_8mib_each_way() {
    let x = bulk(2, clean_link(), Client::Smol);
    assert_eq!(x.tally[0].retransmitted + x.tally[1].retransmitted, 0);
}

#[test]
fn synack_client_smoltcp_server_8mib_each_way_under_loss_and_reordering() {
    let x = bulk(3, lossy_link(), Client::Synack);
    assert!(x.net.stats().lost > 100 && x.reordered > 1000);
    assert!(x.tally.iter().all(|t| t.retransmitted > 0));
}

#[test]
fn smoltcp_client_synack_server_8mib_each_way_under_loss_and_reordering() {
    let x = bulk(4, lossy_link(), Client::Smol);
    assert!(x.net.stats().lost > 100 && x.reordered > 1000);
    assert!(x.tally.iter().all(|t| t.retransmitted > 0));
}

/// One run of the sweep below: the seed picks the family and the stream lengths. Returns the
/// run and its one-line description.
fn sweep_run(seed: u64, name: &str, link: &LinkConfig, client: Client) -> (Run, String) {
    // Seed 0 sends nothing either way: handshake and teardown alone.
    let ipv6 = seed % 2 == 1;
    let a_len = (seed % 400_000) as usize;
    let b_len = ((seed >> 32) % 400_000) as usize;
    let x = run(
        seed,
        link.clone(),
        client,
        ipv6,
        stream(a_len, seed),
        stream(b_len, !seed),
        SWEEP_LIMIT,
    );
    let what = format!(
        "seed {seed}, {name}, {client:?} client, {}, {a_len} B from A, {b_len} B from B",
        if ipv6 { "IPv6" } else { "IPv4" }
    );
    (x, what)
}

/// Virtual time a run of the sweep below may take. At 15% loss smoltcp spends most of a
/// transfer waiting out retransmission timeouts at its 60 s maximum (it keeps the backed-off
/// RTO until an RTT sample, which Karn's algorithm takes only from data beyond the highest it
/// ever sent, as RFC 6298 §5 allows), recovering a segment or two each time; 400 KB then
/// takes up to about 640 s, and TIME-WAIT adds 60.
const SWEEP_LIMIT: Duration = Duration::from_secs(1800);

/// Smaller exchanges over a handful of seeds, both roles, IPv4 and IPv6, and impairment
/// profiles beyond loss and jitter: duplication, corruption, a bandwidth bottleneck.
#[test]
fn interop_over_seeds_and_impairment_profiles() {
    let profiles = [
        ("5% loss", clean_link().with_loss(0.05)),
        (HEAVY_LOSS, heavy_loss_link()),
        (
            "20 ms jitter",
            clean_link().with_jitter(Duration::from_millis(20)),
        ),
        (
            "2% loss, 5 ms jitter, 5% duplicates",
            lossy_link().with_duplicate(0.05),
        ),
        (
            "1% loss, 2% corrupt",
            clean_link().with_loss(0.01).with_corrupt(0.02),
        ),
        (
            "10 Mbit/s, 32 KiB queue",
            LinkConfig::default()
                .with_delay(Duration::from_millis(10))
                .with_bandwidth(10_000_000)
                .with_queue_limit(32 * 1024),
        ),
    ];
    // SMOL_SEEDS=N runs a longer search (as PROPTEST_CASES does for the property tests), and
    // SMOL_SEEDS=FROM..TO a part of one; SMOL_KEEP_GOING=1 reports every failing case, not
    // only the first. SMOL_SEED=S runs that one seed alone, and SMOL_PROFILE / SMOL_CLIENT
    // (Synack or Smol) narrow it to one case.
    let env = |k| std::env::var(k).ok();
    let seeds: Vec<u64> = match env("SMOL_SEED").and_then(|v| v.parse().ok()) {
        Some(seed) => vec![seed],
        None => {
            let range = env("SMOL_SEEDS").unwrap_or_else(|| "16".into());
            let (from, to) = match range.split_once("..") {
                Some((from, to)) => (from.parse().unwrap(), to.parse().unwrap()),
                None => (0u64, range.parse().unwrap()),
            };
            (from..to)
                .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
                .collect()
        }
    };
    let (only_profile, only_client) = (env("SMOL_PROFILE"), env("SMOL_CLIENT"));
    let keep_going = env("SMOL_KEEP_GOING").is_some();
    let mut failed = Vec::new();
    for seed in seeds {
        for (name, link) in &profiles {
            if only_profile.as_ref().is_some_and(|p| p != name) {
                continue;
            }
            for client in [Client::Synack, Client::Smol] {
                if only_client
                    .as_ref()
                    .is_some_and(|c| *c != format!("{client:?}"))
                {
                    continue;
                }
                let (x, what) = sweep_run(seed, name, link, client);
                let checked = if keep_going {
                    std::panic::catch_unwind(AssertUnwindSafe(|| assert_interop_clean(&x, &what)))
                } else {
                    Ok(assert_interop_clean(&x, &what))
                };
                match checked {
                    Ok(Some(t)) => eprintln!("{what}: tolerated: {}", t.brief()),
                    Ok(None) => {}
                    Err(_) => failed.push(what),
                }
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{} failing cases:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

/// Regression for an interop failure at 15% loss (6 of 18,000 runs of the loop above with
/// `SMOL_SEEDS=1500`). smoltcp, in CLOSING after an RTO, retransmits only its first
/// unacknowledged data segment, never the FIN behind it. synack in TIME-WAIT used to restart the
/// 2×MSL timer only for a retransmitted FIN (RFC 9293 §3.10.7.4); when three ACKs in a row were
/// lost, TIME-WAIT ran out and the next retransmission drew a RST that reset smoltcp's socket.
/// Like Linux (`tcp_timewait_state_process`), any segment now restarts TIME-WAIT.
#[test]
fn time_wait_outlasts_a_peer_retransmitting_data_before_its_fin() {
    let seed = 5_996_145_150_944_485_248;
    let link = clean_link()
        .with_loss(0.15)
        .with_jitter(Duration::from_millis(10));
    let x = run(
        seed,
        link,
        Client::Smol,
        false,
        stream(85_248, seed),
        stream(86_334, !seed),
        Duration::from_secs(600),
    );
    let tolerated = assert_interop_clean(&x, "TIME-WAIT against smoltcp's CLOSING retransmissions");
    assert!(tolerated.is_none(), "{tolerated:?}");
}

/// The case of the loop above that made the `time_wait_outlasted` tolerance (1 of 36,000 runs
/// with `SMOL_SEEDS=3000`): no fault of either stack, pinned segment by segment. smoltcp closes
/// first (its FIN is queued behind its data), synack's FIN arrives, smoltcp is in CLOSING.
/// Then the link loses five packets in a row: synack's ACK of smoltcp's FIN, and smoltcp's
/// retransmissions at 8, 24 and 56 s after its last one (it retransmits its oldest data, not
/// the FIN; its RTO doubles up to 60 s). synack, having heard nothing for 2 × MSL = 60 s
/// (RFC 9293 §3.6 MUST-13, with the 30 s MSL of its defaults), frees the connection; the
/// retransmission 116 s after the FIN finds none and is answered, as RFC 9293 §3.10.7.1 says,
/// "<SEQ=SEG.ACK><CTL=RST>". That RST is lost too; the next one, 60 s later, arrives with
/// SEQ = smoltcp's RCV.NXT, and smoltcp, in CLOSING, rightly closes (§3.10.7.4, RFC 5961 §3.2).
/// A TIME-WAIT of RFC 9293's nominal 2 × 2 minutes would have been there to ACK it.
/// (Buffer autotuning moved the whole trajectory 40 ms later, one delayed ACK, from 55.370 s.)
#[test]
fn time_wait_can_run_out_before_smoltcp_hears_the_ack_of_its_fin_under_loss() {
    let x = run_time_wait_ran_out();
    let Some(Tolerated::SynackTimeWaitRanOut(o)) = assert_interop_clean(&x, "TIME-WAIT ran out")
    else {
        panic!("smoltcp was not reset after synack's TIME-WAIT ran out");
    };
    let ms = |ms: u64, us: u64| Instant::from_micros(ms * 1000 + us);
    let seg = |seq, ack: Option<u32>, len, fin, rst| {
        Some(wire_log::Seg {
            seq: SeqNum::new(seq),
            ack: ack.map(SeqNum::new),
            len,
            fin,
            rst,
        })
    };
    let (syn_nxt, smol_fin_end) = (2_686_812_773, 4_287_795_648);
    assert_eq!(o.fin_end, SeqNum::new(smol_fin_end));
    let hdr = |w: &Wire| (w.sent_at, w.time, w.arrived, w.seg);
    // synack's ACK of the FIN, lost at once.
    assert_eq!(
        o.lost_acks.iter().map(hdr).collect::<Vec<_>>(),
        [(
            ms(55_410, 324),
            ms(55_410, 324),
            false,
            seg(syn_nxt, Some(smol_fin_end), 0, false, false)
        )]
    );
    // smoltcp's last data with its FIN, which synack heard (and so entered TIME-WAIT)…
    assert_eq!(
        hdr(&o.heard),
        (
            ms(55_399, 965),
            ms(55_410, 324),
            true,
            seg(4_287_794_367, Some(syn_nxt), 1280, true, false)
        )
    );
    // …its retransmissions of the oldest unacknowledged data, all lost…
    let rexmit = seg(4_287_792_907, Some(syn_nxt), 1460, false, false);
    assert_eq!(
        o.lost_meanwhile.iter().map(hdr).collect::<Vec<_>>(),
        [63_399, 79_399, 111_399].map(|t| (ms(t, 965), ms(t, 965), false, rexmit))
    );
    // …the one after TIME-WAIT, and synack's RST for it: <SEQ=SEG.ACK><CTL=RST>, lost.
    assert_eq!(
        hdr(&o.answered),
        (ms(171_399, 965), ms(171_412, 642), true, rexmit)
    );
    let rst = seg(syn_nxt, None, 0, false, true);
    assert_eq!(
        hdr(&o.rst),
        (ms(171_412, 642), ms(171_412, 642), false, rst)
    );
    // The next RST is what reset smoltcp.
    assert_eq!(
        x.log.last().map(hdr),
        Some((ms(231_410, 439), ms(231_422, 938), true, rst))
    );
}

/// The tolerance is exact: the same run is not excused if synack's ACK of the FIN had got
/// through, if anything had reached synack less than TIME-WAIT before the segment its RST
/// answers, or if that RST were not <SEQ=SEG.ACK><CTL=RST>.
#[test]
fn time_wait_ran_out_is_excused_only_if_nothing_got_through_for_all_of_it() {
    let x = run_time_wait_ran_out();
    let synack = x.synack_host;
    let time_wait = tcp_cfg().msl * 2;
    let o = time_wait_outlasted(&x.log, synack, time_wait).unwrap();
    let at = |w: &Wire| {
        let same = |l: &&Wire| (l.sent_at, l.from, l.seg) == (w.sent_at, w.from, w.seg);
        x.log.iter().position(|l| same(&l)).unwrap()
    };
    let mutated = |i: usize, change: &dyn Fn(&mut Wire)| {
        let mut log = x.log.clone();
        change(&mut log[i]);
        time_wait_outlasted(&log, synack, time_wait)
    };
    let arrive_at = |t: Instant| {
        move |w: &mut Wire| {
            w.arrived = true;
            w.time = t;
        }
    };
    let ack = &o.lost_acks[0];
    let why = mutated(at(ack), &arrive_at(ack.time)).unwrap_err();
    assert!(why.contains("reached the other end"), "{why}");
    // smoltcp's last lost retransmission, had it arrived just inside TIME-WAIT before the
    // answered one, or just outside.
    let last = o.lost_meanwhile.last().unwrap();
    let inside = o.answered.time - time_wait + Duration::from_micros(1);
    let why = mutated(at(last), &arrive_at(inside)).unwrap_err();
    assert!(why.contains("cannot have run out"), "{why}");
    let outside = o.answered.time - time_wait - Duration::from_micros(1);
    assert!(mutated(at(last), &arrive_at(outside)).is_ok());
    let why = mutated(at(&o.rst), &|w: &mut Wire| {
        if let Some(s) = &mut w.seg {
            s.seq += 1;
        }
    })
    .unwrap_err();
    assert!(why.contains("<SEQ=SEG.ACK><CTL=RST>"), "{why}");
}

/// seed 16889621062611656942, 15% loss, 10 ms jitter, Smol client, IPv4, 56942 B from A,
/// 21343 B from B.
fn run_time_wait_ran_out() -> Run {
    sweep_run(
        16_889_621_062_611_656_942,
        HEAVY_LOSS,
        &heavy_loss_link(),
        Client::Smol,
    )
    .0
}

/// smoltcp's fault, found by `SMOL_SEEDS=0..20000` (seed index 2461): its TIME-WAIT lasts
/// 10 s (`CLOSE_DELAY`), restarted by each segment. RFC 9293 §3.6 (MUST-13): "When a
/// connection is closed actively, it MUST linger in the TIME-WAIT state for a time 2xMSL
/// (Maximum Segment Lifetime)", and §3.4.2 takes the MSL to be 2 minutes; 10 s is shorter than
/// the RTO backoff of any peer after a few losses. Both ends close at once; smoltcp's ACK of
/// synack's FIN is lost twice (8.9 s and 15.3 s); synack, in CLOSING, retransmits its FIN with
/// its RTO doubled to 12.8 s; that FIN reaches smoltcp 12.8 s after the previous one, after its
/// TIME-WAIT has ended, and smoltcp answers <SEQ=SEG.ACK><CTL=RST> (§3.10.7.1), which takes
/// synack from CLOSING to CLOSED (§3.10.7.4) without ever reaching TIME-WAIT. Any TIME-WAIT of
/// 2 × MSL for an MSL of 13 s or more would have ACKed it. The harness tolerates exactly this:
/// synack's FIN never acknowledged, synack reset by smoltcp's first RST, smoltcp silent for
/// longer than its 10 s before it.
///
/// The exact trajectory above was found and pinned against the stack of 2026-12-04 before
/// that session's loss-recovery changes (a tail loss probe now carries the last segment's
/// data, a FIN beyond a hole is acknowledged at once, RFC 6056 ports); with them the same
/// seed takes another path. The run is kept as a heavy-loss regression: it must end clean
/// or with a reset the link's record proves tolerable. Re-finding a seed that shows
/// smoltcp's 10 s TIME-WAIT again needs a fresh `SMOL_SEEDS` search.
#[test]
fn heavy_loss_seed_18108178315873015265_ends_clean_or_with_a_proven_tolerable_reset() {
    let (x, what) = sweep_run(
        18_108_178_315_873_015_265,
        HEAVY_LOSS,
        &heavy_loss_link(),
        Client::Synack,
    );
    assert_interop_clean(&x, &what);
}

/// Every other case the `SMOL_SEEDS=0..20000` search (240,000 runs) found failing, by finding:
/// (seed, client), all in the heavy-loss profile. Each is a tolerated reset, proved from the
/// link's record, or a transfer that only needed more than the old 600 s of virtual time.
const SYNACK_TIME_WAIT_RAN_OUT: [(u64, Client); 13] = [
    (8_891_568_278_343_297_766, Client::Smol),
    (15_479_288_911_853_555_025, Client::Synack),
    (3_906_708_359_701_820_588, Client::Smol),
    (5_804_370_253_447_741_654, Client::Smol),
    (5_310_655_344_441_831_481, Client::Synack),
    (3_106_641_397_980_142_853, Client::Synack),
    (6_484_228_560_546_238_967, Client::Synack),
    (14_056_186_429_059_271_060, Client::Smol),
    // smoltcp in LAST-ACK, not CLOSING, reset at 639 s: past the old 600 s limit, and a
    // reset the old check (smoltcp's state names alone) would have taken for a clean close.
    (17_096_427_291_986_386_294, Client::Smol),
    (591_109_690_982_151_110, Client::Synack),
    (719_210_844_851_291_696, Client::Smol),
    (754_617_132_981_105_997, Client::Synack),
    (7_064_253_169_273_384_401, Client::Smol),
];

/// Each ends clean or with a reset the link's record proves tolerable. (When they were found
/// each ended with synack's TIME-WAIT run out; this session's loss-recovery changes moved
/// some of them onto other paths, so which of the two is not pinned.)
#[test]
fn search_cases_where_synack_time_wait_ran_out_end_clean_or_tolerated_with_proof() {
    for (seed, client) in SYNACK_TIME_WAIT_RAN_OUT {
        let (x, what) = sweep_run(seed, HEAVY_LOSS, &heavy_loss_link(), client);
        let t = assert_interop_clean(&x, &what);
        assert!(
            matches!(t, None | Some(Tolerated::SynackTimeWaitRanOut(_))),
            "{what}: {t:?}"
        );
    }
}

/// smoltcp's 10 s TIME-WAIT again; here the link was silent for 100 s, longer than synack's
/// own TIME-WAIT too. With buffer autotuning (smaller windows at the start) the same seed
/// takes another path and ends clean, so which of the two is not pinned.
#[test]
fn search_cases_where_smoltcp_time_wait_ran_out_end_clean_or_tolerated_with_proof() {
    let (seed, client) = (7_098_905_790_789_264_132, Client::Synack);
    let (x, what) = sweep_run(seed, HEAVY_LOSS, &heavy_loss_link(), client);
    let t = assert_interop_clean(&x, &what);
    assert!(
        matches!(t, None | Some(Tolerated::SmoltcpTimeWaitRanOut(_))),
        "{what}: {t:?}"
    );
}

/// Runs that did not finish in 600 s of virtual time: smoltcp waiting out 60 s RTOs (see
/// [`SWEEP_LIMIT`]): every gap of more than 2 s between packets ends with one from smoltcp
/// (its RTO firing), none with one from synack. They finish clean within [`SWEEP_LIMIT`].
#[test]
fn search_cases_slower_than_600_s_finish_clean() {
    let slow = [
        (12_384_952_054_325_973_319, Client::Synack),
        (9_532_074_047_689_000_696, Client::Smol),
        (6_840_730_358_239_492_919, Client::Synack),
        (17_169_678_784_641_125_838, Client::Smol),
        (12_473_234_878_858_698_621, Client::Smol),
        (5_776_102_797_949_952_947, Client::Smol),
        (671_500_016_268_916_248, Client::Synack),
        (3_155_571_684_760_073_772, Client::Synack),
        (9_879_751_762_969_052_682, Client::Synack),
        (12_178_433_699_981_557_636, Client::Smol),
        (14_399_917_894_716_342_964, Client::Smol),
        (2_355_504_723_038_396_037, Client::Smol),
        (8_921_343_067_068_955_613, Client::Synack),
    ];
    for (seed, client) in slow {
        let (x, what) = sweep_run(seed, HEAVY_LOSS, &heavy_loss_link(), client);
        // When found, each took more than 600 s with every long gap ended by smoltcp's RTO;
        // this session's loss-recovery changes made some faster. They must finish clean.
        let t = assert_interop_clean(&x, &what);
        assert!(t.is_none(), "{what}: {t:?}");
    }
}

/// The link's record counts a packet as arrived by what the receiver's TCP accepts: a copy
/// corrupted only where no checksum covers it (an IPv6 flow label or hop limit) still
/// delivers its ACK. Counting such copies as lost made 30 clean IPv6 runs of the corrupting
/// profile look like resets (this seed among them).
#[test]
fn an_ack_corrupted_where_no_checksum_covers_still_acknowledges_the_fin() {
    let link = clean_link().with_loss(0.01).with_corrupt(0.02);
    let (x, what) = sweep_run(
        10_093_408_949_945_493_959,
        "1% loss, 2% corrupt",
        &link,
        Client::Synack,
    );
    // (When found, counting the damaged copies that passed their checksums as lost left one
    // end's FIN unacknowledged; the run's path has since moved, so that is not pinned.)
    assert!(
        [x.synack_host, x.smol_host]
            .iter()
            .all(|&end| fin_acked(&x.log, end) == Some(true))
    );
    let t = assert_interop_clean(&x, &what);
    assert!(t.is_none(), "{what}: {t:?}");
}
