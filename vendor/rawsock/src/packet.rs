use std::fmt::{Display, Formatter, Result as FmtResult};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A captured frame, borrowed from the library's buffer.
///
/// It is valid until the next receive on the same [`crate::Interface`] (the
/// borrow checker enforces that). Use [`BorrowedPacket::into_owned`] to keep it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BorrowedPacket<'a> {
    data: &'a [u8],
    wire_len: u32,
    timestamp: SystemTime,
}

impl<'a> BorrowedPacket<'a> {
    /// A packet of `data` (the captured bytes), originally `wire_len` bytes
    /// long on the wire, captured at `timestamp`.
    pub fn new(data: &'a [u8], wire_len: u32, timestamp: SystemTime) -> Self {
        BorrowedPacket {
            data,
            wire_len,
            timestamp,
        }
    }

    /// The captured bytes (`caplen` of them).
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// How many bytes were captured (pcap's `caplen`); at most the snap length.
    pub fn captured_len(&self) -> usize {
        self.data.len()
    }

    /// How long the frame was on the wire (pcap's `len`).
    pub fn wire_len(&self) -> u32 {
        self.wire_len
    }

    /// Whether the snap length cut the frame short.
    pub fn is_truncated(&self) -> bool {
        (self.data.len() as u64) < u64::from(self.wire_len)
    }

    /// When the library time-stamped the frame (with nanosecond resolution
    /// if [`crate::Interface::nanosecond_timestamps`], microseconds otherwise).
    pub fn timestamp(&self) -> SystemTime {
        self.timestamp
    }

    /// Copies the packet.
    pub fn into_owned(self) -> OwnedPacket {
        OwnedPacket {
            data: self.data.to_vec(),
            wire_len: self.wire_len,
            timestamp: self.timestamp,
        }
    }
}

impl AsRef<[u8]> for BorrowedPacket<'_> {
    fn as_ref(&self) -> &[u8] {
        self.data
    }
}

impl Display for BorrowedPacket<'_> {
    /// The captured bytes in hex, two digits each.
    fn fmt(&self, f: &mut Formatter<'_>) -> FmtResult {
        hex(self.data, f)
    }
}

/// A captured frame that owns its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedPacket {
    data: Vec<u8>,
    wire_len: u32,
    timestamp: SystemTime,
}

impl OwnedPacket {
    /// A packet of `data`, originally `wire_len` bytes long, captured at `timestamp`.
    pub fn new(data: Vec<u8>, wire_len: u32, timestamp: SystemTime) -> Self {
        OwnedPacket {
            data,
            wire_len,
            timestamp,
        }
    }

    /// The captured bytes.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// How many bytes were captured (pcap's `caplen`).
    pub fn captured_len(&self) -> usize {
        self.data.len()
    }

    /// How long the frame was on the wire (pcap's `len`).
    pub fn wire_len(&self) -> u32 {
        self.wire_len
    }

    /// Whether the snap length cut the frame short.
    pub fn is_truncated(&self) -> bool {
        (self.data.len() as u64) < u64::from(self.wire_len)
    }

    /// When the library time-stamped the frame.
    pub fn timestamp(&self) -> SystemTime {
        self.timestamp
    }

    /// The borrowed view of this packet.
    pub fn as_borrowed(&self) -> BorrowedPacket<'_> {
        BorrowedPacket::new(&self.data, self.wire_len, self.timestamp)
    }

    /// The captured bytes, by value.
    pub fn into_data(self) -> Vec<u8> {
        self.data
    }
}

impl From<BorrowedPacket<'_>> for OwnedPacket {
    fn from(packet: BorrowedPacket<'_>) -> Self {
        packet.into_owned()
    }
}

impl AsRef<[u8]> for OwnedPacket {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

impl Display for OwnedPacket {
    /// The captured bytes in hex, two digits each.
    fn fmt(&self, f: &mut Formatter<'_>) -> FmtResult {
        hex(&self.data, f)
    }
}

fn hex(data: &[u8], f: &mut Formatter<'_>) -> FmtResult {
    for b in data {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

/// Converts a pcap header time stamp: seconds since the epoch plus a
/// fraction in nanoseconds (`nanos`) or microseconds. Out-of-range fractions
/// are carried into the seconds; unrepresentable times give the epoch.
pub(crate) fn timestamp_from_pcap(secs: i64, frac: i64, nanos: bool) -> SystemTime {
    let (per_sec, ns_per_unit) = if nanos {
        (1_000_000_000, 1)
    } else {
        (1_000_000, 1_000)
    };
    let Some(secs) = secs.checked_add(frac.div_euclid(per_sec)) else {
        return UNIX_EPOCH;
    };
    // rem_euclid is in [0, per_sec), so this is in [0, 1e9).
    let sub = Duration::from_nanos((frac.rem_euclid(per_sec) * ns_per_unit) as u64);
    let whole = if secs >= 0 {
        UNIX_EPOCH.checked_add(Duration::from_secs(secs.unsigned_abs()))
    } else {
        UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))
    };
    whole.and_then(|t| t.checked_add(sub)).unwrap_or(UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micro_and_nano_timestamps() {
        let micro = timestamp_from_pcap(1_700_000_000, 123_456, false);
        assert_eq!(
            micro.duration_since(UNIX_EPOCH).unwrap(),
            Duration::new(1_700_000_000, 123_456_000)
        );
        let nano = timestamp_from_pcap(1_700_000_000, 123_456_789, true);
        // Windows' SystemTime counts 100 ns steps (FILETIME), so the last two
        // digits are lost there; Npcap only stamps microseconds anyway.
        let expected = if cfg!(windows) {
            123_456_700
        } else {
            123_456_789
        };
        assert_eq!(
            nano.duration_since(UNIX_EPOCH).unwrap(),
            Duration::new(1_700_000_000, expected)
        );
    }

    #[test]
    fn odd_timestamps_do_not_panic() {
        assert_eq!(
            timestamp_from_pcap(1, 1_500_000, false),
            UNIX_EPOCH + Duration::new(2, 500_000_000)
        );
        assert_eq!(
            timestamp_from_pcap(-1, 0, true),
            UNIX_EPOCH - Duration::from_secs(1)
        );
        assert_eq!(
            timestamp_from_pcap(0, -1, false),
            UNIX_EPOCH - Duration::from_micros(1)
        );
        let _ = timestamp_from_pcap(i64::MAX, i64::MAX, true);
        let _ = timestamp_from_pcap(i64::MIN, i64::MIN, false);
    }

    #[test]
    fn packet_accessors() {
        let ts = UNIX_EPOCH + Duration::from_secs(5);
        let bytes = [0x00, 0x0a, 0xff];
        let p = BorrowedPacket::new(&bytes, 60, ts);
        assert_eq!(p.captured_len(), 3);
        assert_eq!(p.wire_len(), 60);
        assert!(p.is_truncated());
        assert_eq!(p.to_string(), "000aff");
        let owned = p.into_owned();
        assert_eq!(owned.data(), &bytes);
        assert_eq!(owned.as_borrowed(), p);
        assert_eq!(owned.timestamp(), ts);
        assert!(!BorrowedPacket::new(&bytes, 3, ts).is_truncated());
    }
}
