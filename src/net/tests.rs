//! The driver loop over an in-memory device pair: two stacks in one runtime, real time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::*;
use crate::stack::{Stack, StackConfig};
use crate::tcp::{self, State};
use crate::time::Duration;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

const A: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1));
const B: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2));

fn driver(addr: IpAddr, dev: MemoryDevice, impair: Option<ImpairConfig>) -> Driver<MemoryDevice> {
    let cfg = StackConfig {
        tcp: tcp::Config {
            msl: Duration::from_millis(50),
            ..tcp::Config::default()
        },
        ..StackConfig::default()
    };
    Driver::new(
        Stack::new(cfg, &[addr]),
        dev,
        DriverOptions { impair, pcap: None },
    )
}

/// A sends `len` bytes to B, which sends them back; returns what A got back.
fn echo_over_memory(len: usize, impair: Option<ImpairConfig>) -> (Vec<u8>, Vec<u8>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let (da, db) = MemoryDevice::pair(1500, 1024);
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
            Stack::new(StackConfig::default(), &[A]),
            da,
            DriverOptions {
                impair: None,
                pcap: Some(PcapWriter::create(&file).unwrap()),
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
