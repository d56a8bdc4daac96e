//! The driver loop over an in-memory device pair: two stacks in one runtime, real time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::*;
use crate::stack::{ConnId, Secret, Stack, StackConfig};

/// The secret of these tests' stacks: fixed, so runs replay.
const TEST_SECRET: [u8; 16] = [0x5a; 16];
use crate::tcp::{self, State};
use crate::time::Duration;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

const A: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1));
const B: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2));

fn driver<D: Device>(addr: IpAddr, dev: D, impair: Option<ImpairConfig>) -> Driver<D> {
    let cfg = StackConfig {
        tcp: tcp::Config {
            msl: Duration::from_millis(50),
            ..tcp::Config::default()
        },
        ..StackConfig::default()
    };
    Driver::new(
        Stack::new(cfg, Secret::from_bytes(TEST_SECRET), &[addr]),
        dev,
        DriverOptions {
            impair,
            ..DriverOptions::default()
        },
    )
}

/// A sends `len` bytes to B, which sends them back; returns what A got back.
fn echo_over_memory(len: usize, impair: Option<ImpairConfig>) -> (Vec<u8>, Vec<u8>) {
    let (da, db) = MemoryDevice::pair(1500, 1024);
    echo_over(da, db, len, impair)
}

/// Like [`echo_over_memory`] over any pair of devices.
fn echo_over<D: Device>(
    da: D,
    db: D,
    len: usize,
    impair: Option<ImpairConfig>,
) -> (Vec<u8>, Vec<u8>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let mut a = driver(A, da, impair);
        let mut b = driver(B, db, None);
        let lid = b.stack_mut().listen(SocketAddr::new(B, 7), 8).unwrap();
        let now = a.now();
        let ca = a.stack_mut().connect(now, SocketAddr::new(B, 7)).unwrap();
        let data: Vec<u8> = (0..len).map(|i| (i * 7 % 256) as u8).collect();
        let (mut sent, mut got, mut cb, mut echo) = (0, Vec::new(), None, Vec::new());
        let mut buf = vec![0u8; 65536];
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            a.poll().unwrap();
            b.poll().unwrap();
            let now = a.now();
            if sent < data.len() {
                if let Ok(n) = a.stack_mut().send(now, ca, &data[sent..]) {
                    sent += n;
                }
                if sent == data.len() {
                    a.stack_mut().shutdown(now, ca).unwrap();
                }
            }
            while let Ok(n) = a.stack_mut().recv(now, ca, &mut buf) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            let now = b.now();
            if cb.is_none() {
                cb = b.stack_mut().accept(lid);
            }
            if let Some(c) = cb {
                let s = b.stack_mut();
                while let Ok(n) = s.recv(now, c, &mut buf) {
                    if n == 0 {
                        if s.state(c) == State::CloseWait && echo.is_empty() {
                            s.shutdown(now, c).unwrap();
                        }
                        break;
                    }
                    echo.extend_from_slice(&buf[..n]);
                }
                if let Ok(n) = s.send(now, c, &echo) {
                    echo.drain(..n);
                }
            }
            a.poll().unwrap();
            b.poll().unwrap();
            if a.stack().state(ca) == State::TimeWait || a.stack().state(ca) == State::Closed {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "transfer stalled");
            tokio::select! {
                r = a.wait() => r.unwrap(),
                r = b.wait() => r.unwrap(),
            }
        }
        (data, got)
    })
}

#[test]
fn echo_round_trip_over_a_memory_link() {
    let (sent, got) = echo_over_memory(300_000, None);
    assert_eq!(got, sent);
}

#[test]
fn echo_round_trip_survives_loss_delay_jitter_and_duplication() {
    let impair = "loss=2%,delay=2ms,jitter=1ms,dup=1%,seed=5"
        .parse()
        .unwrap();
    let (sent, got) = echo_over_memory(200_000, Some(impair));
    assert_eq!(got, sent);
}

#[test]
fn pcap_records_both_directions_as_raw_ip() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let file = std::env::temp_dir().join(format!("synack-driver-{}.pcap", std::process::id()));
    rt.block_on(async {
        let (da, db) = MemoryDevice::pair(1500, 64);
        let mut a = Driver::new(
            Stack::new(
                StackConfig::default(),
                Secret::from_bytes(TEST_SECRET),
                &[A],
            ),
            da,
            DriverOptions {
                pcap: Some(PcapWriter::create(&file).unwrap()),
                ..DriverOptions::default()
            },
        );
        let now = a.now();
        // A SYN to a closed port of a silent peer: one packet out.
        a.stack_mut().connect(now, SocketAddr::new(B, 9)).unwrap();
        a.poll().unwrap();
        // A packet in: an echo request to A, answered.
        let req = crate::wire::icmp::IcmpRepr::EchoRequest(crate::wire::icmp::Echo {
            ident: 1,
            seq_no: 1,
            data: b"hi",
        });
        let mut pkt = [0u8; 64];
        let n = crate::wire::icmp::emit_ip_icmp(B, A, 64, &req, &mut pkt).unwrap();
        db.try_send(&pkt[..n]).unwrap();
        a.poll().unwrap();
        assert_eq!(a.stats().packets_in, 1);
        assert_eq!(a.stats().packets_out, 2);
        a.flush_pcap().unwrap();
    });
    let bytes = std::fs::read(&file).unwrap();
    std::fs::remove_file(&file).unwrap();
    let mut reader = pcap_file::pcap::PcapReader::new(&bytes[..]).unwrap();
    assert_eq!(reader.header().datalink, pcap_file::DataLink::RAW);
    let mut count = 0;
    while let Some(p) = reader.next_packet() {
        let p = p.unwrap();
        assert!(p.data[0] >> 4 == 4);
        count += 1;
    }
    assert_eq!(count, 3);
}

/// A memory link that behaves like a TUN device with offloads: it takes TCP segments of up to
/// 64 KiB, delivers them whole with the partial checksum (pseudo-header only) the kernel would
/// leave, and vouches for every checksum it delivers.
struct OffloadMemory {
    inner: MemoryDevice,
    /// Payload sizes of the packets sent above the MTU, and their segment size.
    big: std::sync::Arc<std::sync::Mutex<Vec<(usize, usize)>>>,
}

impl Device for OffloadMemory {
    fn readable(&self) -> impl std::future::Future<Output = std::io::Result<()>> + Send {
        self.inner.readable()
    }
    fn try_recv(&self, buf: &mut [u8]) -> std::io::Result<Option<usize>> {
        self.inner.try_recv(buf)
    }
    fn try_recv_offload(
        &self,
        buf: &mut [u8],
    ) -> std::io::Result<Option<(usize, crate::wire::Checksum)>> {
        Ok(self
            .inner
            .try_recv(buf)?
            .map(|n| (n, crate::wire::Checksum::Ignore)))
    }
    fn try_send(&self, packet: &[u8]) -> std::io::Result<bool> {
        self.inner.try_send(packet)
    }
    fn try_send_segmented(&self, packet: &[u8], segment_size: usize) -> std::io::Result<bool> {
        let mut head = [0u8; vnet::MAX_HEADERS];
        let (hdr, n) = vnet::for_transmit(packet, self.mtu(), segment_size, &mut head);
        if hdr.gso_type != vnet::GSO_NONE {
            let payload = packet.len() - usize::from(hdr.hdr_len);
            self.big.lock().unwrap().push((payload, segment_size));
        }
        let mut partial = head[..n].to_vec();
        partial.extend_from_slice(&packet[n..]);
        self.inner.try_send(&partial)
    }
    fn mtu(&self) -> usize {
        self.inner.mtu()
    }
    fn max_packet(&self) -> usize {
        65535
    }
}

#[test]
fn offload_link_carries_64k_segments_with_partial_checksums_intact() {
    let (da, db) = MemoryDevice::pair(1500, 1024);
    let big = std::sync::Arc::default();
    let wrap = |inner| OffloadMemory {
        inner,
        big: std::sync::Arc::clone(&big),
    };
    let (sent, got) = echo_over(wrap(da), wrap(db), 2_000_000, None);
    assert!(got == sent, "echoed data differs");
    let big = big.lock().unwrap();
    // Both ends sent large segments, cut at whole segments (1448: MSS 1460 less timestamps)
    // except at the end of the data.
    assert!(big.len() > 20, "{} large segments", big.len());
    assert!(big.iter().any(|&(len, _)| len > 32 * 1024));
    let whole = big.iter().filter(|&&(len, seg)| len % seg == 0).count();
    assert!(whole + 4 >= big.len(), "{big:?}");
    assert!(big.iter().all(|&(_, seg)| seg == 1448), "{big:?}");
}

#[test]
fn vnet_header_round_trips_in_host_order() {
    let hdr = vnet::VnetHdr {
        flags: vnet::F_NEEDS_CSUM,
        gso_type: vnet::GSO_TCPV6,
        hdr_len: 72,
        gso_size: 1428,
        csum_start: 40,
        csum_offset: 16,
    };
    assert_eq!(vnet::VnetHdr::decode(&hdr.encode()), hdr);
    assert_eq!(hdr.encode()[..2], [1, 4]);
    assert!(hdr.checksum_trusted());
    assert!(!vnet::VnetHdr::default().checksum_trusted());
}

/// A TCP/IPv4 packet with `payload` bytes, valid checksums, as the stack emits it.
fn tcp_packet(payload: usize) -> Vec<u8> {
    use crate::wire::{IpRepr, TcpFlags, TcpRepr};
    let data = vec![0xa5u8; payload];
    let seg = TcpRepr {
        src_port: 7,
        dst_port: 40000,
        seq: crate::tcp::SeqNum::new(1),
        ack: crate::tcp::SeqNum::new(2),
        flags: TcpFlags::ACK,
        window: 100,
        urgent: 0,
        options: Default::default(),
        payload: &data,
    };
    let ip = IpRepr::new(B, A, 6, seg.buffer_len(), 64).unwrap();
    let mut buf = vec![0u8; 65535];
    let n = crate::wire::emit_ip_tcp(&ip, &seg, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

#[test]
fn vnet_transmit_marks_large_tcp_for_gso_with_a_partial_checksum_that_completes() {
    let packet = tcp_packet(10 * 1448);
    let mut head = [0u8; vnet::MAX_HEADERS];
    let (hdr, n) = vnet::for_transmit(&packet, 1500, 1448, &mut head);
    assert_eq!(
        hdr,
        vnet::VnetHdr {
            flags: vnet::F_NEEDS_CSUM,
            gso_type: vnet::GSO_TCPV4,
            hdr_len: 40,
            gso_size: 1448,
            csum_start: 20,
            csum_offset: 16,
        }
    );
    assert_eq!(n, 40);
    let mut partial = head[..n].to_vec();
    partial.extend_from_slice(&packet[n..]);
    assert_ne!(
        partial, packet,
        "the checksum field holds the pseudo-header sum"
    );
    // The stack takes it only when told the checksum is the device's business.
    assert!(crate::wire::parse_ip_tcp(&partial, crate::wire::Checksum::Verify).is_err());
    assert!(crate::wire::parse_ip_tcp(&partial, crate::wire::Checksum::Ignore).is_ok());
    // Completing it, as the kernel does, gives back the stack's packet exactly.
    assert!(hdr.finish_checksum(&mut partial));
    assert_eq!(partial, packet);
}

#[test]
fn vnet_fill_tcp_checksum_turns_a_partial_checksum_into_the_full_one() {
    let packet = tcp_packet(3000);
    let mut head = [0u8; vnet::MAX_HEADERS];
    let (_, n) = vnet::for_transmit(&packet, 1500, 1448, &mut head);
    let mut partial = head[..n].to_vec();
    partial.extend_from_slice(&packet[n..]);
    assert!(vnet::fill_tcp_checksum(&mut partial));
    assert_eq!(partial, packet);
    let mut not_tcp = vec![0x45u8; 40];
    assert!(!vnet::fill_tcp_checksum(&mut not_tcp));
}

#[test]
fn vnet_transmit_leaves_packets_within_the_mtu_alone() {
    let packet = tcp_packet(1460);
    let mut head = [0u8; vnet::MAX_HEADERS];
    assert_eq!(
        vnet::for_transmit(&packet, 1500, 1460, &mut head),
        (vnet::VnetHdr::default(), 0)
    );
}

#[test]
fn vnet_finish_checksum_refuses_offsets_outside_the_packet() {
    let mut packet = tcp_packet(0);
    let hdr = vnet::VnetHdr {
        flags: vnet::F_NEEDS_CSUM,
        csum_start: 30,
        csum_offset: 16,
        ..Default::default()
    };
    let before = packet.clone();
    assert!(!hdr.finish_checksum(&mut packet));
    assert_eq!(packet, before);
}

#[test]
fn flush_puts_an_aborted_connections_rst_on_the_device_at_once_even_past_a_delay() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (da, db) = MemoryDevice::pair(1500, 1024);
        // A's packets wait 20 ms in its impairer, both ways.
        let mut a = driver(A, da, Some("delay=20ms".parse().unwrap()));
        let mut b = driver(B, db, None);
        let lid = b.stack_mut().listen(SocketAddr::new(B, 7), 8).unwrap();
        let now = a.now();
        let ca = a.stack_mut().connect(now, SocketAddr::new(B, 7)).unwrap();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut accepted = None;
        let cb = loop {
            a.poll().unwrap();
            b.poll().unwrap();
            accepted = accepted.or_else(|| b.stack_mut().accept(lid));
            if let Some(c) = accepted
                && a.stack().state(ca) == State::Established
            {
                break c;
            }
            assert!(tokio::time::Instant::now() < deadline, "no handshake");
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        };
        a.stack_mut().abort(ca);
        a.flush().unwrap();
        // No waiting: the RST is on B's side of the link already.
        b.poll().unwrap();
        assert_eq!(b.stack().error(cb), Some(tcp::Error::Reset));
    });
}

/// Drivers A and B on `da` and `db`, with a connection from A to B's port 7 established and
/// accepted: A's handle and B's.
fn established(
    da: MemoryDevice,
    db: MemoryDevice,
) -> (Driver<MemoryDevice>, Driver<MemoryDevice>, ConnId, ConnId) {
    let mut a = driver(A, da, None);
    let mut b = driver(B, db, None);
    let lid = b.stack_mut().listen(SocketAddr::new(B, 7), 8).unwrap();
    let now = a.now();
    let ca = a.stack_mut().connect(now, SocketAddr::new(B, 7)).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut accepted = None;
    while accepted.is_none() || a.stack().state(ca) != State::Established {
        a.poll().unwrap();
        b.poll().unwrap();
        accepted = accepted.or_else(|| b.stack_mut().accept(lid));
        assert!(std::time::Instant::now() < deadline, "no handshake");
    }
    (a, b, ca, accepted.unwrap())
}

#[test]
fn a_due_loss_probe_waits_for_the_ack_queued_behind_a_batch_of_packets() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (da, db) = MemoryDevice::pair(1500, 4 * driver::READ_BATCH);
        let (mut a, mut b, ca, _) = established(da, db);
        // Three segments out: a loss probe is armed 2·SRTT + 2 ms ahead (SRTT is µs here).
        let now = a.now();
        let data = vec![7u8; 3 * 1448];
        assert_eq!(a.stack_mut().send(now, ca, &data).unwrap(), data.len());
        a.poll().unwrap();
        // Before B's ACK, a batch and more of other packets lands on A's device (not even IP).
        for _ in 0..driver::READ_BATCH + 10 {
            assert!(b.device().try_send(&[0u8; 20]).unwrap());
        }
        b.poll().unwrap();
        // A is scheduled out past the probe's deadline; the ACK waits on its device.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(a.stack().poll_timeout().is_some_and(|t| t <= a.now()));
        while a.poll().unwrap() {}
        let stats = a.stack().connection(ca).unwrap().stats();
        assert_eq!(
            (stats.tlp_probes, stats.retransmits),
            (0, 0),
            "the probe fired before the ACK behind the batch was read"
        );
        // All acknowledged: no loss timer, only the empty buffers' reclaim a second later.
        let idle = crate::tcp::RECLAIM_IDLE - crate::time::Duration::from_millis(50);
        assert!(
            a.stack().poll_timeout().is_none_or(|t| t >= a.now() + idle),
            "all acknowledged: nothing but the reclaim armed"
        );
    });
}

/// With readiness events on, `poll` hands the application its turn after one batch of a
/// device that keeps delivering, instead of draining it first: a server whose device is
/// never empty under load would otherwise leave every connection unread and its window shut
/// (10,000 echo connections over TUN spent minutes in retransmission timeouts so). With events
/// off it drains the device as before.
#[test]
fn poll_gives_the_application_its_turn_after_a_batch_when_events_are_pending() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let flood = 3 * driver::READ_BATCH;
        let (da, db) = MemoryDevice::pair(1500, flood + 64);
        let (mut a, mut b, ca, cb) = established(da, db);
        b.stack_mut().set_events(true);
        while b.stack_mut().poll_event().is_some() {}

        // A data segment, then a flood of three batches of other packets behind it.
        let now = a.now();
        assert_eq!(a.stack_mut().send(now, ca, b"ping").unwrap(), 4);
        a.poll().unwrap();
        for _ in 0..flood {
            assert!(a.device().try_send(&[0u8; 20]).unwrap());
        }
        let before = b.stats().packets_in;
        assert!(b.poll().unwrap());
        let read = b.stats().packets_in - before;
        assert_eq!(
            read,
            driver::READ_BATCH as u64,
            "one batch, then the application's turn"
        );
        // The device's readiness will not fire again for what is queued: poll has work now.
        assert!(b.next_deadline().is_some_and(|t| t <= b.now()));
        assert_eq!(
            b.stack_mut().poll_event(),
            Some(crate::stack::Event::Connection(
                cb,
                crate::stack::Readiness::of(b.stack().connection(cb).unwrap())
            ))
        );
        let mut buf = [0u8; 8];
        let now = b.now();
        assert_eq!(b.stack_mut().recv(now, cb, &mut buf).unwrap(), 4);

        // Events off: the rest of the flood is drained in one call.
        b.stack_mut().set_events(false);
        assert!(b.poll().unwrap());
        assert_eq!(b.stats().packets_in - before, flood as u64 + 1);
    });
}

/// The runtime shares its device behind an `Arc`; the driver must still see the device's
/// offloads through it (it once did not, and every socket-API transfer over TUN went out in
/// 1,500-byte writes).
#[test]
fn runtime_sends_large_segments_on_an_offload_device() {
    use crate::blocking::{TcpListener, TcpStream};
    use crate::runtime::Runtime;
    use std::io::{Read, Write};
    let (da, db) = MemoryDevice::pair(1500, 1024);
    let big = std::sync::Arc::default();
    let wrap = |inner| OffloadMemory {
        inner,
        big: std::sync::Arc::clone(&big),
    };
    let a = Runtime::builder().address(A).build(wrap(da)).unwrap();
    let b = Runtime::builder().address(B).build(wrap(db)).unwrap();
    let listener = TcpListener::bind(&b, (B, 9)).unwrap();
    let sent: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let writer = {
        let (a, sent) = (a.handle().clone(), sent.clone());
        std::thread::spawn(move || {
            let mut s = TcpStream::connect(&a, (B, 9)).unwrap();
            s.write_all(&sent).unwrap();
        })
    };
    let (mut s, _) = listener.accept().unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    writer.join().unwrap();
    assert!(got == sent, "data differs");
    let big = big.lock().unwrap();
    assert!(big.iter().any(|&(len, _)| len > 16 * 1024), "{big:?}");
}

/// Bad arguments are refused before anything is opened, with an error that says what to
/// change (no root or TUN driver needed to see it).
#[test]
fn tun_open_queues_refuses_bad_counts_names_and_prefixes_before_opening() {
    let cfg = TunConfig::new("tun0");
    for queues in [0, 257] {
        let e = TunDevice::open_queues(&cfg, queues).unwrap_err();
        assert!(
            matches!(e, TunError::BadQueues { queues: q } if q == queues),
            "{e}"
        );
        assert_eq!(
            e.to_string(),
            format!("bad queue count {queues}: open 1 to 256 queues")
        );
    }
    let long = TunConfig::new("a-name-of-16-chr");
    assert!(matches!(
        TunDevice::open_queues(&long, 2),
        Err(TunError::BadName { .. })
    ));
    let wide = TunConfig {
        kernel_addr: Some((IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)), 33)),
        ..TunConfig::new("tun0")
    };
    assert!(matches!(
        TunDevice::open_queues(&wide, 2),
        Err(TunError::BadPrefix { prefix: 33, .. })
    ));
}
