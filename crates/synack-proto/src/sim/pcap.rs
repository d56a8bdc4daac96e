//! The pcap writer: every packet that goes onto a simulated wire, as raw IP.
//!
//! The file uses link type `RAW` (DLT 101; Wireshark tells IPv4 from IPv6 by
//! the version nibble), microsecond timestamps equal to virtual time since
//! the epoch, a 65535-byte snap length, and little-endian headers regardless
//! of the host, so the same seed yields the same file byte for byte.

use std::cell::RefCell;
use std::io::{self, Write};
use std::rc::Rc;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, Endianness, TsResolution};

use super::SimError;
use crate::time::{Duration, Instant};

/// The snap length written in the header; no IP packet is longer.
pub const SNAPLEN: u32 = 65535;

/// A pcap stream that the network appends to.
pub(super) struct PcapSink {
    writer: PcapWriter<Shared>,
    /// A second handle on the writer's target: pcap-file 2.0's `PcapWriter`
    /// offers no `get_mut`, and we need to flush it.
    target: Shared,
}

/// The user's writer behind a shared handle.
#[derive(Clone)]
struct Shared(Rc<RefCell<Box<dyn Write>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.borrow_mut().write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.borrow_mut().flush()
    }
}

impl PcapSink {
    /// Writes the file header to `w`.
    pub fn new(w: Box<dyn Write>) -> Result<Self, SimError> {
        let header = PcapHeader {
            version_major: 2,
            version_minor: 4,
            ts_correction: 0,
            ts_accuracy: 0,
            snaplen: SNAPLEN,
            datalink: DataLink::RAW,
            ts_resolution: TsResolution::MicroSecond,
            endianness: Endianness::Little,
        };
        let target = Shared(Rc::new(RefCell::new(w)));
        let writer = PcapWriter::with_header(target.clone(), header)?;
        Ok(PcapSink { writer, target })
    }

    /// Appends one packet stamped with virtual time `at`. Packets longer than
    /// the snap length are truncated in the capture (`orig_len` keeps the
    /// real length).
    pub fn write(&mut self, at: Instant, packet: &[u8]) -> Result<(), SimError> {
        let orig_len = u32::try_from(packet.len()).unwrap_or(u32::MAX);
        let captured = packet.get(..SNAPLEN as usize).unwrap_or(packet);
        let ts = Duration::from_micros(at.total_micros());
        self.writer
            .write_packet(&PcapPacket::new(ts, orig_len, captured))?;
        Ok(())
    }

    /// Flushes the user's writer.
    pub fn flush(&mut self) -> Result<(), SimError> {
        self.target.flush()?;
        Ok(())
    }
}
