//! Reading capture files: pcap and pcapng, through the `pcap-file` crate, down to TCP segments.
//!
//! Link-layer headers (Ethernet with 802.1Q/802.1ad tags, Linux cooked SLL and SLL2, BSD
//! loopback, raw IP) are taken apart here with bounds-checked code; IP and TCP are parsed by
//! [`crate::wire::parse_ip_tcp`] with checksums ignored (captures taken on the sending host
//! carry offloaded, i.e. unfilled, checksums). Packets that are not TCP are counted and skipped.

use super::TraceError;
use crate::tcp::SeqNum;
use crate::wire::{self, Checksum, SackBlocks, TcpFlags, Timestamps};
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::{DataLink, PcapError};
use std::io::Read;
use std::net::{IpAddr, SocketAddr};

/// One TCP segment read from a capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Capture timestamp in microseconds since the Unix epoch.
    pub time_us: u64,
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// Control bits.
    pub flags: TcpFlags,
    /// Sequence number.
    pub seq: SeqNum,
    /// Acknowledgment number (meaningful with ACK).
    pub ack: SeqNum,
    /// Payload length (from the IP length fields, so right even for snapped packets).
    pub len: u32,
    /// Window field as sent (unscaled).
    pub window: u16,
    /// MSS option.
    pub mss: Option<u16>,
    /// Window-scale option.
    pub window_scale: Option<u8>,
    /// SACK-permitted option.
    pub sack_permitted: bool,
    /// Timestamps option (RFC 7323), if carried.
    pub timestamps: Option<Timestamps>,
    /// SACK blocks carried (RFC 2018), each `[left, right)`.
    pub sack_blocks: SackBlocks,
}

impl Segment {
    /// Sequence space the segment occupies: payload plus one for SYN and one for FIN.
    pub fn seg_len(&self) -> u32 {
        self.len + u32::from(self.flags.syn()) + u32::from(self.flags.fin())
    }
}

/// What a capture file held.
#[derive(Clone, Debug, Default)]
pub struct Capture {
    /// The TCP segments, in file order.
    pub segments: Vec<Segment>,
    /// Packets read in all.
    pub packets: usize,
    /// Packets skipped because they are not TCP over IPv4/IPv6 (ARP, UDP, ICMP, fragments…).
    pub skipped: usize,
    /// Link-layer types seen, by DLT number.
    pub link_types: Vec<u32>,
}

/// Reads a whole capture (pcap or pcapng, told apart by the magic number).
pub fn read_capture<R: Read>(reader: R) -> Result<Capture, TraceError> {
    let mut segments = Vec::new();
    let mut capture = read_capture_with(reader, &mut |s| segments.push(s))?;
    capture.segments = segments;
    Ok(capture)
}

/// Reads a capture and hands each TCP segment to `sink` as it is read, keeping none: the
/// [`Capture`] returned holds only the counts.
pub fn read_capture_with<R: Read>(
    mut reader: R,
    sink: &mut dyn FnMut(Segment),
) -> Result<Capture, TraceError> {
    let mut magic = [0u8; 4];
    let mut got = 0;
    while got < magic.len() {
        let rest = magic.get_mut(got..).unwrap_or(&mut []);
        match reader.read(rest) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(TraceError::Io(e.to_string())),
        }
    }
    if got == 0 {
        return Err(TraceError::Empty);
    }
    let head = magic.get(..got).unwrap_or(&[]).to_vec();
    let chained = std::io::Cursor::new(head).chain(reader);
    match magic {
        [0x0a, 0x0d, 0x0d, 0x0a] => read_pcapng(chained, sink),
        [0xd4, 0xc3, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0xc3, 0xd4]
        | [0x4d, 0x3c, 0xb2, 0xa1]
        | [0xa1, 0xb2, 0x3c, 0x4d] => read_pcap(chained, sink),
        _ => Err(TraceError::NotACapture),
    }
}

fn read_pcap<R: Read>(reader: R, sink: &mut dyn FnMut(Segment)) -> Result<Capture, TraceError> {
    let mut pcap = PcapReader::new(reader).map_err(|e| header_error(&e))?;
    let link = u32::from(pcap.header().datalink);
    check_link(link)?;
    let mut capture = Capture {
        link_types: vec![link],
        ..Capture::default()
    };
    let nanos = pcap.header().ts_resolution == pcap_file::TsResolution::NanoSecond;
    // Raw records: pcap-file's checked packets reject every packet a snap length cut short
    // (orig_len > snaplen), which is exactly what `tcpdump -s 96` writes.
    while let Some(packet) = pcap.next_raw_packet() {
        let packet = packet.map_err(|e| packet_error(&e, capture.packets))?;
        let frac = u64::from(packet.ts_frac);
        let frac_us = if nanos { frac / 1000 } else { frac };
        let time_us = u64::from(packet.ts_sec)
            .saturating_mul(1_000_000)
            .saturating_add(frac_us);
        capture.add(link, time_us, &packet.data, packet.orig_len, sink);
    }
    Ok(capture)
}

/// One pcapng interface: its link type and timestamp units per second.
#[derive(Clone, Copy)]
struct Interface {
    link: u32,
    units_per_sec: u128,
}

fn read_pcapng<R: Read>(reader: R, sink: &mut dyn FnMut(Segment)) -> Result<Capture, TraceError> {
    let mut ng = PcapNgReader::new(reader).map_err(|e| header_error(&e))?;
    let mut capture = Capture::default();
    let mut interfaces: Vec<Interface> = Vec::new();
    while let Some(block) = ng.next_block() {
        let block = block.map_err(|e| packet_error(&e, capture.packets))?;
        match block {
            Block::SectionHeader(_) => interfaces.clear(),
            Block::InterfaceDescription(idb) => {
                let link = u32::from(idb.linktype);
                check_link(link)?;
                if !capture.link_types.contains(&link) {
                    capture.link_types.push(link);
                }
                let mut units_per_sec: u128 = 1_000_000;
                for opt in &idb.options {
                    if let InterfaceDescriptionOption::IfTsResol(r) = opt {
                        units_per_sec = ts_units(*r);
                    }
                }
                interfaces.push(Interface {
                    link,
                    units_per_sec,
                });
            }
            Block::EnhancedPacket(epb) => {
                let iface = usize::try_from(epb.interface_id)
                    .ok()
                    .and_then(|i| interfaces.get(i))
                    .ok_or(TraceError::Malformed {
                        packet: capture.packets + 1,
                        what: "packet names an interface that was never described".into(),
                    })?;
                // pcap-file hands the raw 64-bit timestamp over as nanoseconds; the real
                // unit is the interface's if_tsresol (microseconds unless it says otherwise).
                let raw = epb.timestamp.as_nanos();
                let micros = raw.saturating_mul(1_000_000) / iface.units_per_sec.max(1);
                let time_us = u64::try_from(micros).unwrap_or(u64::MAX);
                let link = iface.link;
                capture.add(link, time_us, &epb.data, epb.original_len, sink);
            }
            Block::SimplePacket(spb) => {
                let link = interfaces.first().map_or(0, |i| i.link);
                capture.add(link, 0, &spb.data, spb.original_len, sink);
            }
            Block::Packet(pb) => {
                let iface = interfaces.get(usize::from(pb.interface_id));
                let (link, units) = iface.map_or((1, 1_000_000), |i| (i.link, i.units_per_sec));
                let micros = u128::from(pb.timestamp).saturating_mul(1_000_000) / units.max(1);
                let time_us = u64::try_from(micros).unwrap_or(u64::MAX);
                capture.add(link, time_us, &pb.data, pb.original_len, sink);
            }
            _ => {}
        }
    }
    Ok(capture)
}

/// if_tsresol: 10^-n seconds, or 2^-n when the top bit is set; absurd values clamp.
fn ts_units(r: u8) -> u128 {
    let n = u32::from(r & 0x7f);
    if r & 0x80 == 0 {
        10u128.checked_pow(n.min(30)).unwrap_or(1_000_000)
    } else {
        1u128.checked_shl(n.min(100)).unwrap_or(1_000_000)
    }
}

fn header_error(e: &PcapError) -> TraceError {
    match e {
        PcapError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            TraceError::Truncated { packets: 0 }
        }
        PcapError::IoError(io) => TraceError::Io(io.to_string()),
        other => TraceError::BadHeader(other.to_string()),
    }
}

fn packet_error(e: &PcapError, packets: usize) -> TraceError {
    match e {
        PcapError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            TraceError::Truncated { packets }
        }
        PcapError::IoError(io) => TraceError::Io(io.to_string()),
        other => TraceError::Malformed {
            packet: packets + 1,
            what: other.to_string(),
        },
    }
}

/// Link types `synack trace` takes apart.
pub const SUPPORTED_LINKS: &str = "Ethernet (1), BSD loopback (0, 108), raw IP (101, 12, 14, 228, 229), Linux cooked SLL (113) and SLL2 (276)";

fn check_link(link: u32) -> Result<(), TraceError> {
    match link {
        0 | 1 | 12 | 14 | 101 | 108 | 113 | 228 | 229 | 276 => Ok(()),
        other => Err(TraceError::UnsupportedLink(other, link_name(other))),
    }
}

fn link_name(link: u32) -> String {
    match DataLink::from(link) {
        DataLink::Unknown(n) => format!("unknown type {n}"),
        known => format!("{known:?}"),
    }
}

impl Capture {
    fn add(
        &mut self,
        link: u32,
        time_us: u64,
        data: &[u8],
        orig_len: u32,
        sink: &mut dyn FnMut(Segment),
    ) {
        self.packets += 1;
        match decode(link, data, orig_len) {
            Some(mut seg) => {
                seg.time_us = time_us;
                sink(seg);
            }
            None => self.skipped += 1,
        }
    }
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;

fn be16(b: &[u8], off: usize) -> Option<u16> {
    let s = b.get(off..off.checked_add(2)?)?;
    Some(u16::from_be_bytes([*s.first()?, *s.get(1)?]))
}

/// The IP packet inside a link-layer frame, if it is IPv4 or IPv6.
pub fn ip_payload(link: u32, data: &[u8]) -> Option<&[u8]> {
    match link {
        // Ethernet, with any number of VLAN tags (bounded by the frame).
        1 => {
            let mut off = 12;
            let mut ethertype = be16(data, off)?;
            while ethertype == ETHERTYPE_VLAN || ethertype == ETHERTYPE_QINQ {
                off += 4;
                ethertype = be16(data, off)?;
            }
            ip_by_ethertype(ethertype, data.get(off + 2..)?)
        }
        // BSD loopback: a 4-byte address family in host (0) or network (108) order.
        0 | 108 => {
            let body = data.get(4..)?;
            ip_by_version(body)
        }
        // Raw IP under its several numbers.
        12 | 14 | 101 | 228 | 229 => ip_by_version(data),
        // Linux cooked v1: protocol at 14, 16-byte header.
        113 => ip_by_ethertype(be16(data, 14)?, data.get(16..)?),
        // Linux cooked v2: protocol at 0, 20-byte header.
        276 => ip_by_ethertype(be16(data, 0)?, data.get(20..)?),
        _ => None,
    }
}

fn ip_by_ethertype(ethertype: u16, body: &[u8]) -> Option<&[u8]> {
    match ethertype {
        ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => Some(body),
        _ => None,
    }
}

fn ip_by_version(body: &[u8]) -> Option<&[u8]> {
    match body.first()? >> 4 {
        4 | 6 => Some(body),
        _ => None,
    }
}

/// Decodes one frame into a segment (time left at 0), or `None` if it is not TCP.
///
/// A frame cut short by the capture's snap length is padded with zeros up to the length the
/// IP header declares, so its headers still parse and its payload length is the real one.
pub fn decode(link: u32, data: &[u8], orig_len: u32) -> Option<Segment> {
    let ip = ip_payload(link, data)?;
    let snapped = usize::try_from(orig_len).is_ok_and(|o| o > data.len());
    let padded;
    let ip = if snapped {
        let declared = match ip.first()? >> 4 {
            4 => usize::from(be16(ip, 2)?),
            _ => usize::from(be16(ip, 4)?) + 40,
        };
        if declared > ip.len() {
            let mut v = ip.to_vec();
            v.resize(declared, 0);
            padded = v;
            padded.as_slice()
        } else {
            ip
        }
    } else {
        ip
    };
    let (ipr, tcp) = wire::parse_ip_tcp(ip, Checksum::Ignore).ok()?;
    Some(Segment {
        time_us: 0,
        src: SocketAddr::new(ipr.src_addr(), tcp.src_port),
        dst: SocketAddr::new(ipr.dst_addr(), tcp.dst_port),
        flags: tcp.flags,
        seq: tcp.seq,
        ack: tcp.ack,
        len: u32::try_from(tcp.payload.len()).unwrap_or(u32::MAX),
        window: tcp.window,
        mss: tcp.options.mss,
        window_scale: tcp.options.window_scale,
        sack_permitted: tcp.options.sack_permitted,
        timestamps: tcp.options.timestamps,
        sack_blocks: tcp.options.sack_blocks,
    })
}

/// True if the address is IPv6.
pub fn is_v6(a: &SocketAddr) -> bool {
    matches!(a.ip(), IpAddr::V6(_))
}
