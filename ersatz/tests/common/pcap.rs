//! A tiny classic-pcap reader and writer (no crates): enough for the fixtures
//! and for handing frames to tcpdump.
//!
//! Format (<https://www.tcpdump.org/manpages/pcap-savefile.5.html>): a 24-byte
//! file header (magic, version 2.4, thiszone, sigfigs, snaplen, linktype), then
//! per record a 16-byte header (ts_sec, ts_usec, incl_len, orig_len) and
//! `incl_len` bytes of frame.

use std::path::Path;

/// Microsecond-timestamp magic, as written in the file's own byte order.
pub const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
/// Nanosecond-timestamp magic.
pub const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// LINKTYPE_ETHERNET.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// Snap length written by [`write`] (and used by the fixtures).
pub const SNAPLEN: u32 = 262_144;

/// One captured record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Seconds since the epoch.
    pub ts_sec: u32,
    /// Microseconds (or nanoseconds for a nanosecond file).
    pub ts_frac: u32,
    /// Length of the frame on the wire (`orig_len`).
    pub orig_len: u32,
    /// The captured bytes (`incl_len` of them).
    pub data: Vec<u8>,
}

/// A whole classic pcap file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// Whether the file is big-endian.
    pub big_endian: bool,
    /// Whether timestamps are in nanoseconds.
    pub nanos: bool,
    /// Snap length.
    pub snaplen: u32,
    /// Link type (1 = Ethernet).
    pub linktype: u32,
    /// The records, in file order.
    pub records: Vec<Record>,
}

/// Parses a classic pcap file from memory. Either byte order, micro- or
/// nanosecond timestamps. Errors (not panics) on anything malformed, including
/// a truncated last record.
pub fn parse(bytes: &[u8]) -> Result<File, String> {
    if bytes.len() < 24 {
        return Err(format!(
            "pcap file header needs 24 bytes, has {}",
            bytes.len()
        ));
    }
    let magic_le = u32::from_le_bytes(bytes[0..4].try_into().unwrap());
    let (big_endian, nanos) = match magic_le {
        MAGIC_MICROS => (false, false),
        MAGIC_NANOS => (false, true),
        m if m.swap_bytes() == MAGIC_MICROS => (true, false),
        m if m.swap_bytes() == MAGIC_NANOS => (true, true),
        m => return Err(format!("not a classic pcap file (magic {m:08x})")),
    };
    let u16_at = |at: usize| {
        let b: [u8; 2] = bytes[at..at + 2].try_into().unwrap();
        if big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        }
    };
    let u32_at = |at: usize| {
        let b: [u8; 4] = bytes[at..at + 4].try_into().unwrap();
        if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    };
    let (major, minor) = (u16_at(4), u16_at(6));
    if (major, minor) != (2, 4) {
        return Err(format!("unsupported pcap version {major}.{minor}"));
    }
    let snaplen = u32_at(16);
    let linktype = u32_at(20);
    let mut records = Vec::new();
    let mut at = 24;
    while at < bytes.len() {
        if bytes.len() - at < 16 {
            return Err(format!("record header at byte {at} is truncated"));
        }
        let ts_sec = u32_at(at);
        let ts_frac = u32_at(at + 4);
        let incl_len = u32_at(at + 8) as usize;
        let orig_len = u32_at(at + 12);
        at += 16;
        if bytes.len() - at < incl_len {
            return Err(format!(
                "record at byte {} says {incl_len} bytes, only {} left",
                at - 16,
                bytes.len() - at
            ));
        }
        records.push(Record {
            ts_sec,
            ts_frac,
            orig_len,
            data: bytes[at..at + incl_len].to_vec(),
        });
        at += incl_len;
    }
    Ok(File {
        big_endian,
        nanos,
        snaplen,
        linktype,
        records,
    })
}

/// Reads every frame of the classic pcap file at `path`.
pub fn read_frames(path: impl AsRef<Path>) -> Vec<Vec<u8>> {
    let path = path.as_ref();
    let bytes =
        std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let file = parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        file.linktype,
        LINKTYPE_ETHERNET,
        "{}: not an Ethernet capture",
        path.display()
    );
    file.records.into_iter().map(|r| r.data).collect()
}

/// Serializes frames as a little-endian, microsecond, linktype-1 pcap file.
/// Frame `i` gets the timestamp `first_sec + i` seconds, `i` microseconds.
pub fn to_bytes(frames: &[Vec<u8>], first_sec: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + frames.iter().map(|f| f.len() + 16).sum::<usize>());
    out.extend_from_slice(&MAGIC_MICROS.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes()); // thiszone
    out.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
    out.extend_from_slice(&SNAPLEN.to_le_bytes());
    out.extend_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    for (i, frame) in frames.iter().enumerate() {
        let i = u32::try_from(i).expect("too many frames");
        let len = u32::try_from(frame.len()).expect("frame too long");
        assert!(len <= SNAPLEN, "frame longer than the snap length");
        out.extend_from_slice(&(first_sec + i).to_le_bytes());
        out.extend_from_slice(&(i % 1_000_000).to_le_bytes());
        out.extend_from_slice(&len.to_le_bytes()); // incl_len
        out.extend_from_slice(&len.to_le_bytes()); // orig_len
        out.extend_from_slice(frame);
    }
    out
}

/// Writes frames to `path` as by [`to_bytes`].
pub fn write_frames(path: impl AsRef<Path>, frames: &[Vec<u8>], first_sec: u32) {
    let path = path.as_ref();
    std::fs::write(path, to_bytes(frames, first_sec))
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}
