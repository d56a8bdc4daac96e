//! The one pcap writer: every packet as raw IP, for Wireshark and `synack trace`.
//!
//! Link type `RAW` (DLT 101; Wireshark tells IPv4 from IPv6 by the version nibble),
//! microsecond timestamps, a 65535-byte snap length, and little-endian headers whatever the
//! host, so the simulator's captures (stamped with virtual time) are the same bytes for the
//! same seed. The `synack` crate's device driver uses the same writer, stamped with the wall
//! clock. Needs the `std` feature.

use pcap_file::pcap::{PcapHeader, PcapPacket};
use pcap_file::{DataLink, Endianness, TsResolution};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The snap length written in the header; no IP packet is longer.
pub const SNAPLEN: u32 = 65535;

/// Why a capture could not be written.
#[derive(Debug, thiserror::Error)]
#[error("pcap: {0}")]
pub struct PcapError(#[from] pcap_file::PcapError);

/// The user's writer behind a shared handle: pcap-file 2.0's `PcapWriter` has no `get_mut`,
/// and flushing needs one.
#[derive(Clone)]
struct Shared(Arc<Mutex<Box<dyn Write + Send>>>);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Box<dyn Write + Send>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.lock().write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.lock().write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.lock().flush()
    }
}

/// Appends packets to a pcap stream.
pub struct PcapWriter {
    writer: pcap_file::pcap::PcapWriter<Shared>,
    target: Shared,
}

impl std::fmt::Debug for PcapWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PcapWriter")
    }
}

impl PcapWriter {
    /// Writes the file header to `w`.
    pub fn new(w: Box<dyn Write + Send>) -> Result<Self, PcapError> {
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
        let target = Shared(Arc::new(Mutex::new(w)));
        Ok(PcapWriter {
            writer: pcap_file::pcap::PcapWriter::with_header(target.clone(), header)?,
            target,
        })
    }

    /// Creates (truncates) `path` and writes the file header.
    pub fn create(path: &Path) -> Result<Self, PcapError> {
        let f = File::create(path).map_err(pcap_file::PcapError::IoError)?;
        Self::new(Box::new(BufWriter::with_capacity(1 << 16, f)))
    }

    /// Appends one packet stamped `ts` (since the Unix epoch). Packets longer than the snap
    /// length are truncated in the capture (`orig_len` keeps the real length).
    pub fn write(&mut self, ts: Duration, packet: &[u8]) -> Result<(), PcapError> {
        let orig_len = u32::try_from(packet.len()).unwrap_or(u32::MAX);
        let captured = packet.get(..SNAPLEN as usize).unwrap_or(packet);
        self.writer
            .write_packet(&PcapPacket::new(ts, orig_len, captured))?;
        Ok(())
    }

    /// Flushes buffered packets to the writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.target.flush()
    }
}
