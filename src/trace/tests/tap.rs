//! The live ladder of a driver's packets ([`crate::trace::tap`]): the same lines as
//! `synack trace -` for the same packets, a queue that drops and counts rather than grow,
//! and a ladder that forgets connections long ended.

use crate::net::driver::PacketObserver;
use crate::tcp::SeqNum;
use crate::trace::capture::Segment;
use crate::trace::live::{self, KEPT_ENDED, LiveLadder, LiveOptions, PcapStream};
use crate::trace::tap::{QUEUE_BYTES, ladder_tap};
use crate::wire::TcpFlags;
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

const OPTS: LiveOptions = LiveOptions {
    color: false,
    fold: true,
    conn: None,
};

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/trace")
        .join(name);
    std::fs::read(path).unwrap()
}

/// Every record of a raw-IP pcap, with its time in µs.
fn records(bytes: &[u8]) -> Vec<(u64, Vec<u8>)> {
    let magic: [u8; 4] = bytes[..4].try_into().unwrap();
    let mut s = PcapStream::new(&bytes[4..], magic).unwrap();
    assert_eq!(s.link(), 101, "raw IP, as a TUN device carries it");
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while let Some((t, _)) = s.next_record(&mut buf).unwrap() {
        out.push((t, buf.clone()));
    }
    out
}

/// The packets of a raw-IP capture through the tap give exactly the lines `synack trace -`
/// prints for the capture (a connection that ends is summarized as it ends, which for one
/// connection is where the stream's end puts it too).
#[test]
fn the_tap_draws_the_rows_trace_stdin_draws() {
    for name in ["heuristics-probes.pcap", "heuristics-retransmissions.pcap"] {
        let bytes = fixture(name);
        let mut want = Vec::new();
        live::run(&bytes[..], &mut want, OPTS).unwrap();
        let want: Vec<String> = String::from_utf8(want)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        let (mut tap, lines) = ladder_tap(OPTS);
        let mut got = Vec::new();
        for (t, p) in records(&bytes) {
            tap.packet(Duration::from_micros(t), &p);
            lines.drain(|l| got.push(l));
        }
        lines.finish();
        lines.drain(|l| got.push(l));
        assert_eq!(got, want, "{name}");
        assert_eq!(lines.dropped(), 0);
    }
}

/// Not drained, the queue fills to its bound, then drops and counts; draining empties it.
#[test]
fn a_queue_nobody_drains_drops_and_counts() {
    let bytes = fixture("heuristics-retransmissions.pcap");
    let packets = records(&bytes);
    let opts = LiveOptions {
        fold: false,
        ..OPTS
    };
    let (mut tap, lines) = ladder_tap(opts);
    // The same, drained after every packet: everything the ladder gives out.
    let (mut all_tap, all_lines) = ladder_tap(opts);
    let mut all = 0usize;
    for round in 0u16..400 {
        // The same connection again and again from another port of A's (40000), 10 s apart.
        let port = (40_000 + round).to_be_bytes();
        for (t, p) in &packets {
            let mut p = p.clone();
            let at = if p[20..22] == 40_000u16.to_be_bytes() {
                20
            } else {
                22
            };
            p[at..at + 2].copy_from_slice(&port);
            let t = Duration::from_micros(t + u64::from(round) * 10_000_000);
            tap.packet(t, &p);
            all_tap.packet(t, &p);
            all_lines.drain(|_| all += 1);
        }
    }
    assert_eq!(all_lines.dropped(), 0);
    let mut got = Vec::new();
    lines.drain(|l| got.push(l));
    let bytes: usize = got.iter().map(String::len).sum();
    assert!(bytes <= QUEUE_BYTES, "{bytes}");
    assert!(got.len() > 100, "{}", got.len());
    assert_eq!(lines.dropped() as usize + got.len(), all);
    assert!(all > 400 * packets.len());
    lines.drain(|_| panic!("drained already"));
}

const A: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 0));
const B: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 2), 80));

fn seg(t: u64, src: SocketAddr, dst: SocketAddr, flags: TcpFlags, seq: u32, ack: u32) -> Segment {
    Segment {
        time_us: t,
        src,
        dst,
        flags,
        seq: SeqNum::new(seq),
        ack: SeqNum::new(ack),
        len: 0,
        window: 65535,
        mss: None,
        window_scale: None,
        sack_permitted: false,
        timestamps: None,
        sack_blocks: Default::default(),
    }
}

/// A sink that keeps the lines.
fn sink(lines: &mut Vec<String>) -> impl FnMut(&str) -> Result<(), Infallible> + '_ {
    |l| {
        lines.push(l.to_owned());
        Ok(())
    }
}

/// A server's ladder runs for ever: each connection is summarized when it ends, and only
/// the last KEPT_ENDED ended ones are kept (for stray segments), whatever the number served.
#[test]
fn a_retiring_ladder_keeps_only_the_last_ended_connections() {
    let mut ladder = LiveLadder::new(OPTS).retire_ended();
    let mut lines = Vec::new();
    let (syn, ack, fin) = (TcpFlags::SYN, TcpFlags::ACK, TcpFlags::FIN | TcpFlags::ACK);
    let n = KEPT_ENDED as u16 + 100;
    for k in 0..n {
        let a = SocketAddr::new(A.ip(), 40_000 + k);
        let t = u64::from(k) * 1000;
        for s in [
            seg(t, a, B, syn, 100, 0),
            seg(t + 1, B, a, syn | ack, 500, 101),
            seg(t + 2, a, B, ack, 101, 501),
            seg(t + 3, a, B, fin, 101, 501),
            seg(t + 4, B, a, fin, 501, 102),
            seg(t + 5, a, B, ack, 102, 502),
        ] {
            ladder.push(&s, &mut sink(&mut lines)).unwrap();
        }
    }
    let ends = lines
        .iter()
        .filter(|l| l.contains("] end of connection"))
        .count();
    assert_eq!(ends, usize::from(n));
    assert_eq!(ladder.connections(), usize::from(n));
    assert_eq!(ladder.kept(), KEPT_ENDED);
    // A stray FIN of the last connection still shows, after its summary.
    let last = SocketAddr::new(A.ip(), 40_000 + n - 1);
    ladder
        .push(
            &seg(u64::from(n) * 1000, B, last, fin, 501, 102),
            &mut sink(&mut lines),
        )
        .unwrap();
    assert!(
        lines.last().unwrap().starts_with(&format!("[{n}] ")),
        "{lines:?}"
    );
    // Nothing is summarized twice at the end.
    let before = lines.len();
    ladder.finish(&mut sink(&mut lines)).unwrap();
    assert_eq!(lines.len(), before);
}

/// On every single-connection classic pcap kept as a fixture, a ladder that summarizes each
/// connection as it ends draws what `synack trace -` draws, where the connection ends with
/// its last segment or not at all (then the stream's end summarizes it). In the
/// simultaneous close, five segments cross after both ends are done: the same rows, after
/// the summary.
#[test]
fn a_retiring_ladder_draws_what_trace_stdin_draws() {
    for name in [
        "halfclose-lo-ethernet.pcap",
        "ipv6-halfclose-sll2.pcap",
        "partial-overlap.pcap",
        "refused.pcap",
        "reset-linger0.pcap",
        "simultaneous-close.pcap",
        "lossy-snap96.pcap",
        "tso-sender.pcap",
        "reorder-tun.pcap",
        "kernel-probes-keepalive.pcap",
    ] {
        let bytes = fixture(name);
        let mut want = Vec::new();
        live::run(&bytes[..], &mut want, OPTS).unwrap();
        let want: Vec<String> = String::from_utf8(want)
            .unwrap()
            .lines()
            .map(String::from)
            .collect();
        let mut ladder = LiveLadder::new(OPTS).retire_ended();
        let mut got = Vec::new();
        for seg in crate::trace::read_capture(&bytes[..]).unwrap().segments {
            ladder.push(&seg, &mut sink(&mut got)).unwrap();
        }
        ladder.finish(&mut sink(&mut got)).unwrap();
        let rows = |lines: &[String]| -> Vec<String> {
            lines
                .iter()
                .filter(|l| l.contains("──") || l.contains('⋮'))
                .cloned()
                .collect()
        };
        assert_eq!(rows(&got), rows(&want), "{name}");
        if name != "simultaneous-close.pcap" {
            assert_eq!(got, want, "{name}");
            continue;
        }
        let end = got
            .iter()
            .position(|l| l == "[1] end of connection 1")
            .unwrap();
        assert!(got[end - 1].contains("757.732  TIME-WAIT"), "{got:#?}");
        assert_eq!(got.len() - end, 6 + 5, "{got:#?}");
    }
}
