//! Recording frames to a pcap file as they are captured, for Wireshark and
//! `tcpdump -r`: nanosecond timestamps, Ethernet link type.
//!
//! The format is written by the `pcap-file` crate (pure Rust, the same
//! bytes on every platform, no second handle on the capture library and no
//! dependence on Npcap having `pcap_dump`). Records are staged in memory
//! and reach the file only whole: every 64 KiB or every second as the run
//! goes, and at [`Recorder::finish`]; the file never holds half a record.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use pcap_file::{DataLink, Endianness, TsResolution};

use super::Timestamp;

/// Staged bytes are written out once there are this many...
const STAGE: usize = 64 * 1024;
/// ...or this long after the last write.
const EVERY: Duration = Duration::from_secs(1);

/// The writer `pcap-file` writes into: a buffer the recorder empties into
/// the file after each whole record.
#[derive(Clone, Default)]
struct Stage(Arc<Mutex<Vec<u8>>>);

impl Stage {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn len(&self) -> usize {
        self.0.lock().map(|b| b.len()).unwrap_or(0)
    }
}

impl Write for Stage {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Frames going into a pcap file.
pub struct Recorder {
    pcap: PcapWriter<Stage>,
    stage: Stage,
    out: Box<dyn Write + Send>,
    written: Instant,
    frames: u64,
    snaplen: u32,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

fn pcap_error(e: pcap_file::PcapError) -> io::Error {
    io::Error::other(e.to_string())
}

impl Recorder {
    /// Creates (or truncates) the file at `path` and writes the pcap header
    /// at once, so that a path that cannot be written fails here, before
    /// anything is sent. Frames longer than `snaplen` are cut to it.
    ///
    /// # Errors
    ///
    /// What creating or writing the file says.
    pub fn create(path: &Path, snaplen: u32) -> io::Result<Recorder> {
        Recorder::new(File::create(path)?, snaplen)
    }

    /// A recorder writing to `out` (the header at once).
    ///
    /// # Errors
    ///
    /// What writing the header to `out` says.
    pub fn new<W: Write + Send + 'static>(out: W, snaplen: u32) -> io::Result<Recorder> {
        let header = PcapHeader {
            snaplen,
            datalink: DataLink::ETHERNET,
            ts_resolution: TsResolution::NanoSecond,
            // The machine's own byte order, as libpcap writes it.
            endianness: if cfg!(target_endian = "big") {
                Endianness::Big
            } else {
                Endianness::Little
            },
            ..PcapHeader::default()
        };
        let stage = Stage::default();
        let pcap = PcapWriter::with_header(stage.clone(), header).map_err(pcap_error)?;
        let mut recorder = Recorder {
            pcap,
            stage,
            out: Box::new(out),
            written: Instant::now(),
            frames: 0,
            snaplen,
        };
        recorder.write_out()?;
        Ok(recorder)
    }

    /// Records one frame captured at `at`.
    ///
    /// # Errors
    ///
    /// What writing the file says (the recorder should then be dropped).
    pub fn record(&mut self, frame: &[u8], at: Timestamp) -> io::Result<()> {
        let kept = &frame[..frame.len().min(self.snaplen as usize)];
        let orig_len = u32::try_from(frame.len()).unwrap_or(u32::MAX);
        let packet = PcapPacket::new(at.as_unix(), orig_len, kept);
        self.pcap.write_packet(&packet).map_err(pcap_error)?;
        self.frames += 1;
        if self.stage.len() >= STAGE || self.written.elapsed() >= EVERY {
            self.write_out()?;
        }
        Ok(())
    }

    /// Frames recorded so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Writes out what is staged and flushes the file; returns how many
    /// frames it holds.
    ///
    /// # Errors
    ///
    /// What writing the file says.
    pub fn finish(mut self) -> io::Result<u64> {
        self.write_out()?;
        self.out.flush()?;
        Ok(self.frames)
    }

    /// The staged whole records into the file.
    fn write_out(&mut self) -> io::Result<()> {
        let bytes = self.stage.take();
        self.written = Instant::now();
        if bytes.is_empty() {
            return Ok(());
        }
        self.out.write_all(&bytes)?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcap_file::pcap::PcapReader;

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn records_read_back_with_nanosecond_times_and_only_whole() {
        let out = Shared::default();
        let mut r = Recorder::new(out.clone(), 100).unwrap();
        // The header is in the file before any frame.
        assert_eq!(out.0.lock().unwrap().len(), 24);
        let at = Timestamp::from_unix(Duration::new(1_700_000_000, 123_456_789));
        r.record(&[1, 2, 3], at).unwrap();
        r.record(&[7; 150], at).unwrap();
        // Staged, not yet written (less than 64 KiB, less than a second).
        assert_eq!(out.0.lock().unwrap().len(), 24);
        assert_eq!(r.finish().unwrap(), 2);
        let bytes = out.0.lock().unwrap().clone();
        let mut reader = PcapReader::new(&bytes[..]).unwrap();
        assert_eq!(reader.header().ts_resolution, TsResolution::NanoSecond);
        let first = reader.next_packet().unwrap().unwrap();
        assert_eq!(
            (first.timestamp, &first.data[..]),
            (at.as_unix(), &[1, 2, 3][..])
        );
        // (pcap-file's reader refuses a record cut to the snaplen; tcpdump
        // takes it: read its header by hand.)
        let record = &bytes[24 + 16 + 3..];
        let incl = u32::from_ne_bytes(record[8..12].try_into().unwrap());
        let orig = u32::from_ne_bytes(record[12..16].try_into().unwrap());
        assert_eq!((incl, orig, record.len()), (100, 150, 16 + 100));
    }

    #[test]
    fn a_full_stage_goes_out_in_whole_records() {
        let out = Shared::default();
        let mut r = Recorder::new(out.clone(), 2000).unwrap();
        let at = Timestamp::from_unix(Duration::from_secs(1));
        for _ in 0..100 {
            r.record(&[0xab; 1000], at).unwrap();
        }
        // 64 KiB went out: a multiple of whole records (16 + 1000 bytes) after the header.
        let len = out.0.lock().unwrap().len();
        assert!(len > 24 && (len - 24) % 1016 == 0, "{len}");
        assert_eq!(r.finish().unwrap(), 100);
        assert_eq!(out.0.lock().unwrap().len(), 24 + 100 * 1016);
    }
}
