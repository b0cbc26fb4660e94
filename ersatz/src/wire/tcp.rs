//! TCP (RFC 9293): the segment with every header field, its options kept
//! byte for byte and readable as typed options.
//!
//! The checksum covers the IPv4 pseudo-header (source and destination
//! address, protocol 6, segment length), so parsing and serializing take the
//! two addresses. On output the data offset and the checksum are computed
//! from the other fields; options are zero-padded to whole words.

use std::borrow::Cow;
use std::fmt;
use std::io::Write;
use std::num::NonZeroU8;
use std::ops::{BitAnd, BitOr, BitOrAssign};

use cookie_factory::WriteContext;

use super::bits::Bits;
use super::blob::Blob;
use super::checksum::Checksum;
use super::ipv4::{self, Head};
use super::parse::{self, invalid, within};
use super::serialize::{self, check_field, put, too_long, BuildError};

/// What errors inside a segment say they were parsing.
const CONTEXT: &str = "TCP segment";

/// Length of the header without options.
pub const MIN_HEADER_LEN: usize = 20;
/// Longest options field: the data offset is at most 15 words.
pub const MAX_OPTIONS_LEN: usize = 40;
/// The largest [`Packet::reserved`] (3 bits).
pub const MAX_RESERVED: u8 = 0b111;
/// The IP protocol number, as it goes into the pseudo-header.
const PROTOCOL: u8 = 6;

/// The 9 control bits of a segment, as a set.
///
/// `Display` and `Debug` print the set bits in wire order, lowest first, as
/// `SYN|ACK`, and `-` for none.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(u16);

impl Flags {
    /// No more data from the sender.
    pub const FIN: Flags = Flags(0x001);
    /// Synchronize sequence numbers.
    pub const SYN: Flags = Flags(0x002);
    /// Reset the connection.
    pub const RST: Flags = Flags(0x004);
    /// Push function.
    pub const PSH: Flags = Flags(0x008);
    /// The acknowledgment number is significant.
    pub const ACK: Flags = Flags(0x010);
    /// The urgent pointer is significant.
    pub const URG: Flags = Flags(0x020);
    /// ECN-Echo (RFC 3168).
    pub const ECE: Flags = Flags(0x040);
    /// Congestion Window Reduced (RFC 3168).
    pub const CWR: Flags = Flags(0x080);
    /// ECN nonce (RFC 3540, historic).
    pub const NS: Flags = Flags(0x100);

    /// The 9 bits a set can hold.
    const ALL: u16 = 0x1ff;

    /// Names, in wire order (lowest bit first).
    const NAMES: [(Flags, &'static str); 9] = [
        (Flags::FIN, "FIN"),
        (Flags::SYN, "SYN"),
        (Flags::RST, "RST"),
        (Flags::PSH, "PSH"),
        (Flags::ACK, "ACK"),
        (Flags::URG, "URG"),
        (Flags::ECE, "ECE"),
        (Flags::CWR, "CWR"),
        (Flags::NS, "NS"),
    ];

    /// The empty set.
    #[inline]
    pub const fn empty() -> Flags {
        Flags(0)
    }

    /// Whether every flag of `other` is set here.
    #[inline]
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether no flag is set.
    #[inline]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The bits, as in the header's 9 low bits of bytes 12-13 (`FIN` is 1,
    /// `NS` is 0x100).
    #[inline]
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// The set of the 9 low bits of `bits` (higher bits are dropped).
    #[inline]
    pub const fn from_bits(bits: u16) -> Flags {
        Flags(bits & Self::ALL)
    }
}

impl BitOr for Flags {
    type Output = Flags;
    #[inline]
    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

impl BitOrAssign for Flags {
    #[inline]
    fn bitor_assign(&mut self, rhs: Flags) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for Flags {
    type Output = Flags;
    #[inline]
    fn bitand(self, rhs: Flags) -> Flags {
        Flags(self.0 & rhs.0)
    }
}

impl fmt::Display for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("-");
        }
        let mut first = true;
        for (flag, name) in Self::NAMES {
            if self.contains(flag) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// One option of a segment (RFC 9293 3.2, RFC 7323, RFC 2018), given meaning.
///
/// Kinds may get their own variant in later versions (what is `Unknown`
/// today may not be tomorrow): matches need a `_` arm.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TcpOption<'a> {
    /// End of option list (kind 0): what follows is padding.
    EndOfList,
    /// No-operation (kind 1), between options to align them.
    NoOperation,
    /// Maximum segment size (kind 2, length 4).
    MaxSegmentSize(u16),
    /// Window scale shift count (kind 3, length 3, RFC 7323).
    WindowScale(u8),
    /// Selective acknowledgments permitted (kind 4, length 2, RFC 2018).
    SackPermitted,
    /// Selective acknowledgment blocks (kind 5, length 2 + 8 per block,
    /// RFC 2018).
    Sack {
        /// Left and right edges; the first `count` are meaningful, the rest
        /// zero when parsed.
        blocks: [(u32, u32); 4],
        /// How many blocks (1 to 4 when parsed; written as at most 4).
        count: u8,
    },
    /// Timestamps (kind 8, length 10, RFC 7323).
    Timestamps {
        /// The sender's timestamp value (TSval).
        value: u32,
        /// The timestamp echo reply (TSecr).
        echo: u32,
    },
    /// Any other kind, with the bytes after its kind and length.
    Unknown {
        /// The kind byte.
        kind: u8,
        /// The option's data (its length is 2 + this many bytes).
        data: Blob<'a>,
    },
    /// The rest of the options from an option whose length is impossible (below
    /// 2, past the end, or wrong for its kind), or a kind byte without its
    /// length: the iterator yields it and stops.
    Malformed(Blob<'a>),
}

impl TcpOption<'_> {
    /// Detaches the option from the buffer it was parsed from.
    #[must_use]
    pub fn into_owned(self) -> TcpOption<'static> {
        match self {
            TcpOption::EndOfList => TcpOption::EndOfList,
            TcpOption::NoOperation => TcpOption::NoOperation,
            TcpOption::MaxSegmentSize(m) => TcpOption::MaxSegmentSize(m),
            TcpOption::WindowScale(s) => TcpOption::WindowScale(s),
            TcpOption::SackPermitted => TcpOption::SackPermitted,
            TcpOption::Sack { blocks, count } => TcpOption::Sack { blocks, count },
            TcpOption::Timestamps { value, echo } => TcpOption::Timestamps { value, echo },
            TcpOption::Unknown { kind, data } => TcpOption::Unknown {
                kind,
                data: data.into_owned(),
            },
            TcpOption::Malformed(b) => TcpOption::Malformed(b.into_owned()),
        }
    }

    /// Hands the option's bytes to `push`, a few at a time, as big-endian
    /// values: `push(value, n)` takes the `n` (1 to 8) low bytes of `value`.
    /// An `Unknown` option's data is cut at 253 bytes (its length byte holds
    /// at most 255); a `Malformed` one is handed on as it is.
    #[inline(always)]
    fn encode(&self, push: &mut impl FnMut(u64, u32)) {
        match self {
            TcpOption::EndOfList => push(0, 1),
            TcpOption::NoOperation => push(1, 1),
            TcpOption::MaxSegmentSize(mss) => push(0x0204_0000 | u64::from(*mss), 4),
            TcpOption::WindowScale(shift) => push(0x03_0300 | u64::from(*shift), 3),
            TcpOption::SackPermitted => push(0x0402, 2),
            TcpOption::Sack { blocks, count } => {
                let n = usize::from(*count).min(blocks.len());
                push(0x0500 | (2 + 8 * n as u64), 2);
                for (left, right) in blocks.iter().take(n) {
                    push(u64::from(*left) << 32 | u64::from(*right), 8);
                }
            }
            TcpOption::Timestamps { value, echo } => {
                push(0x080a << 32 | u64::from(*value), 6);
                push(u64::from(*echo), 4);
            }
            TcpOption::Unknown { kind, data } => {
                let data = &data[..data.len().min(253)];
                push(u64::from(*kind) << 8 | (2 + data.len() as u64), 2);
                for &b in data {
                    push(u64::from(b), 1);
                }
            }
            TcpOption::Malformed(bytes) => {
                for &b in bytes.iter() {
                    push(u64::from(b), 1);
                }
            }
        }
    }
}

/// The option bytes of `list`, for building a segment: each option encoded
/// in order, then zero bytes (End of Option List) to a multiple of 4.
/// Options that take more than the 40 bytes a header holds are all encoded
/// (writing the segment will refuse them).
///
/// ```
/// use ersatz::tcp::{options, TcpOption};
///
/// let bytes = options(&[TcpOption::MaxSegmentSize(1460), TcpOption::WindowScale(7)]);
/// assert_eq!(bytes, [2, 4, 0x05, 0xb4, 3, 3, 7, 0]);
/// ```
#[must_use]
pub fn options(list: &[TcpOption<'_>]) -> Vec<u8> {
    if let Some(bytes) = OptionBytes::new(list) {
        return bytes.to_vec();
    }
    // More than a header holds (serializing will refuse them): the slow way.
    let mut bytes = Vec::new();
    let mut push = |value: u64, n: u32| {
        bytes.extend_from_slice(&value.to_be_bytes()[8 - n as usize..]);
    };
    for option in list {
        option.encode(&mut push);
    }
    bytes.resize(bytes.len().div_ceil(4) * 4, 0);
    bytes
}

/// The option bytes of a list, built on the stack: what [`options`] makes,
/// without allocating, for lists that fit the 40 bytes a header has room
/// for. Dereferences to the bytes.
///
/// ```
/// use ersatz::tcp::{OptionBytes, TcpOption};
///
/// let mut bytes = OptionBytes::default();
/// assert!(bytes.set(&[TcpOption::SackPermitted]));
/// assert_eq!(&bytes[..], &[4, 2, 0, 0]);
/// assert!(OptionBytes::new(&vec![TcpOption::Timestamps { value: 1, echo: 2 }; 5]).is_none());
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct OptionBytes {
    bytes: [u8; MAX_OPTIONS_LEN],
    /// The length plus one: never zero, so that an `Option<OptionBytes>`
    /// is no bigger, and unwrapping it need not copy the bytes (a copy
    /// reads them back wider than they were stored: see
    /// [`OptionBytes::new`]).
    end: NonZeroU8,
}

impl OptionBytes {
    /// The bytes of `list`, padded as [`options`] pads them; `None` if they
    /// take more than 40 bytes. [`OptionBytes::set`] writes them into a
    /// value already in place instead.
    // (Moved out of the `Option`, the bytes are copied once.)
    #[inline]
    #[must_use]
    pub fn new(list: &[TcpOption<'_>]) -> Option<OptionBytes> {
        let mut o = OptionBytes::default();
        o.set(list).then_some(o)
    }

    /// Replaces the bytes with those of `list`, padded as [`options`] pads
    /// them, in place; `false` (and no bytes) if they take more than 40.
    // The options are gathered in a register and stored 8 aligned bytes at
    // a time, as the checksum and the write to the output read them back:
    // stored at their own offsets and widths (or copied afterwards, as a
    // value returned is), they were read back wider, which stalls the CPU's
    // store forwarding, and each store of a run-time length was a call
    // (perf: 25 of the 90 ns a SYN took to build).
    #[inline]
    pub fn set(&mut self, list: &[TcpOption<'_>]) -> bool {
        let bytes = &mut self.bytes;
        // Bytes not yet stored, first byte highest; how many; bytes stored.
        let (mut pending, mut count, mut stored) = (0u64, 0u32, 0usize);
        let mut overflow = false;
        let mut push = |value: u64, n: u32| {
            let room = 8 - count;
            if n < room {
                pending |= value << (8 * (room - n));
                count += n;
                return;
            }
            let over = n - room;
            let word = pending | value >> (8 * over);
            match bytes.get_mut(stored..stored + 8) {
                Some(slot) => slot.copy_from_slice(&word.to_be_bytes()),
                None => overflow = true,
            }
            stored += 8;
            pending = if over == 0 {
                0
            } else {
                value << (8 * (8 - over))
            };
            count = over;
        };
        for option in list {
            option.encode(&mut push);
        }
        let len = stored + count as usize;
        // The rest of the last word is zero: the padding.
        match self.bytes.get_mut(stored..stored + 8) {
            Some(slot) if !overflow && len <= MAX_OPTIONS_LEN => {
                if count > 0 {
                    slot.copy_from_slice(&pending.to_be_bytes());
                }
                self.end = NonZeroU8::MIN.saturating_add((len.div_ceil(4) * 4) as u8);
                true
            }
            _ if !overflow && len == MAX_OPTIONS_LEN => {
                self.end = NonZeroU8::MIN.saturating_add(MAX_OPTIONS_LEN as u8);
                true
            }
            _ => {
                self.end = NonZeroU8::MIN;
                false
            }
        }
    }
}

impl Default for OptionBytes {
    /// No options.
    #[inline]
    fn default() -> Self {
        OptionBytes {
            bytes: [0; MAX_OPTIONS_LEN],
            end: NonZeroU8::MIN,
        }
    }
}

impl std::ops::Deref for OptionBytes {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        &self.bytes[..usize::from(self.end.get() - 1)]
    }
}

impl fmt::Debug for OptionBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&Blob::from(&self[..]), f)
    }
}

/// The typed options of raw option bytes: see [`Packet::options_iter`].
#[derive(Debug, Clone)]
pub struct Options<'a> {
    rest: &'a [u8],
}

impl<'a> Options<'a> {
    /// Reads `bytes` (a segment's options field) as options. Never panics,
    /// whatever the bytes.
    ///
    /// ```
    /// use ersatz::tcp::{Options, TcpOption};
    ///
    /// let list: Vec<_> = Options::new(&[1, 2, 4, 5, 0xb4, 0]).collect();
    /// assert_eq!(list, [TcpOption::NoOperation, TcpOption::MaxSegmentSize(1460), TcpOption::EndOfList]);
    /// ```
    #[inline]
    #[must_use]
    pub fn new(bytes: &'a [u8]) -> Self {
        Options { rest: bytes }
    }

    /// Ends the list on what is left, which is malformed.
    #[cold]
    fn malformed(&mut self) -> Option<TcpOption<'a>> {
        let rest = std::mem::take(&mut self.rest);
        Some(TcpOption::Malformed(Blob::from(rest)))
    }
}

impl<'a> Iterator for Options<'a> {
    type Item = TcpOption<'a>;

    fn next(&mut self) -> Option<TcpOption<'a>> {
        let (&kind, after) = self.rest.split_first()?;
        match kind {
            0 => {
                self.rest = &[];
                return Some(TcpOption::EndOfList);
            }
            1 => {
                self.rest = after;
                return Some(TcpOption::NoOperation);
            }
            _ => {}
        }
        let Some(&len) = after.first() else {
            return self.malformed();
        };
        let len = usize::from(len);
        if len < 2 || len > self.rest.len() {
            return self.malformed();
        }
        let (option, rest) = self.rest.split_at(len);
        let data = &option[2..];
        let parsed = match (kind, data) {
            (2, &[a, b]) => TcpOption::MaxSegmentSize(u16::from_be_bytes([a, b])),
            (3, &[shift]) => TcpOption::WindowScale(shift),
            (4, &[]) => TcpOption::SackPermitted,
            (5, _) if !data.is_empty() && data.len() <= 32 && data.len() % 8 == 0 => {
                let mut blocks = [(0, 0); 4];
                for (block, edges) in blocks.iter_mut().zip(data.chunks_exact(8)) {
                    let (left, right) = edges.split_at(4);
                    *block = (be_u32(left), be_u32(right));
                }
                TcpOption::Sack {
                    blocks,
                    count: (data.len() / 8) as u8,
                }
            }
            (8, _) if data.len() == 8 => {
                let (value, echo) = data.split_at(4);
                TcpOption::Timestamps {
                    value: be_u32(value),
                    echo: be_u32(echo),
                }
            }
            (2 | 3 | 4 | 5 | 8, _) => return self.malformed(),
            (kind, data) => TcpOption::Unknown {
                kind,
                data: Blob::from(data),
            },
        };
        self.rest = rest;
        Some(parsed)
    }
}

/// A big-endian `u32` from 4 bytes (fewer are zero-extended at the front;
/// callers pass exactly 4).
#[inline]
fn be_u32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0, |word, &b| (word << 8) | u32::from(b))
}

/// Where the padding after an End of Option List starts in `options`, if
/// the list has one.
fn padding_start(options: &[u8]) -> Option<usize> {
    let mut walk = Options::new(options);
    loop {
        let before = walk.rest.len();
        match walk.next()? {
            TcpOption::EndOfList => return Some(options.len() - before + 1),
            TcpOption::Malformed(_) => return None,
            _ => {}
        }
    }
}

/// The typed options of an options field held by a packet: borrowed from
/// the input when parsed (nothing is copied), or owned.
enum OwnedOrBorrowed<'a, 's> {
    Borrowed(Options<'a>),
    Owned(Options<'s>),
}

impl<'a> Iterator for OwnedOrBorrowed<'a, '_> {
    type Item = TcpOption<'a>;

    #[inline]
    fn next(&mut self) -> Option<TcpOption<'a>> {
        match self {
            OwnedOrBorrowed::Borrowed(o) => o.next(),
            OwnedOrBorrowed::Owned(o) => o.next().map(TcpOption::into_owned),
        }
    }
}

/// The one's complement sum of the IPv4 pseudo-header of a segment of
/// `len` bytes.
#[inline(always)]
fn pseudo_header(src: ipv4::Addr, dst: ipv4::Addr, len: u16) -> Checksum {
    let mut sum = Checksum::new();
    sum.add_u64(u64::from(u32::from_be_bytes(src.0)) << 32 | u64::from(u32::from_be_bytes(dst.0)))
        .add_u32(u32::from(PROTOCOL) << 16 | u32::from(len));
    sum
}

/// A TCP segment, every header field as it was on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (significant with [`Flags::ACK`]).
    pub ack: u32,
    /// Header length in 32-bit words, as parsed (computed from `options` on
    /// output, like IPv4's IHL, whatever this holds).
    pub data_offset: u8,
    /// The 3 reserved bits after the data offset (zero by RFC 9293; at most
    /// [`MAX_RESERVED`], a wider value is refused on output with
    /// [`BuildError::OutOfRange`]).
    pub reserved: u8,
    /// The control bits.
    pub flags: Flags,
    /// Receive window.
    pub window: u16,
    /// Checksum as parsed (computed on output, over the IPv4 pseudo-header
    /// too).
    pub checksum: u16,
    /// Whether the parsed checksum was correct. A damaged segment is still
    /// returned so that it can be reported; it must not be believed.
    pub checksum_ok: bool,
    /// Urgent pointer (significant with [`Flags::URG`]).
    pub urgent: u16,
    /// The options, raw, padding included (a multiple of 4 bytes when
    /// parsed; zero-padded on output). [`Packet::options_iter`] reads them.
    pub options: Blob<'a>,
    /// The data after the header.
    pub payload: Blob<'a>,
}

impl<'a> Packet<'a> {
    /// A segment with these fields: data offset from the options, reserved
    /// bits and urgent pointer zero, checksum to be computed.
    ///
    /// `options` are option bytes as [`options`] or [`OptionBytes`] make
    /// them (any bytes go: they are zero-padded to whole words on output).
    ///
    /// ```
    /// use ersatz::tcp::{self, Flags, TcpOption};
    /// use ersatz::{ipv4, Blob};
    ///
    /// let (src, dst) = (ipv4::Addr([10, 0, 0, 1]), ipv4::Addr([10, 0, 0, 2]));
    /// let options = tcp::options(&[TcpOption::MaxSegmentSize(1460)]);
    /// let syn = tcp::Packet::new(40000, 80, 1, 0, Flags::SYN, 64240, options.into(), Blob::empty());
    /// let bytes = syn.to_vec(src, dst)?;
    /// assert_eq!((bytes.len(), bytes[12], bytes[13]), (24, 0x60, 0x02));
    ///
    /// let back = ersatz::parse::run(&bytes, |i| tcp::Packet::parse(i, src, dst))?;
    /// assert!(back.checksum_ok && back.flags.contains(Flags::SYN));
    /// assert_eq!(back.options_iter().next(), Some(TcpOption::MaxSegmentSize(1460)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[allow(clippy::too_many_arguments)] // one per header field a caller sets
    #[inline]
    #[must_use]
    pub fn new(
        src_port: u16,
        dst_port: u16,
        seq: u32,
        ack: u32,
        flags: Flags,
        window: u16,
        options: Blob<'a>,
        payload: Blob<'a>,
    ) -> Self {
        Packet {
            src_port,
            dst_port,
            seq,
            ack,
            data_offset: ((header_len(options.len()) / 4) & 0xf) as u8,
            reserved: 0,
            flags,
            window,
            checksum: 0,
            checksum_ok: true,
            urgent: 0,
            options,
            payload,
        }
    }

    /// The options, typed: End of Option List ends them (what follows it is
    /// [`Packet::padding`]); an option whose length is impossible ends them
    /// as [`TcpOption::Malformed`] with the bytes left. Never panics.
    pub fn options_iter(&self) -> impl Iterator<Item = TcpOption<'a>> + '_ {
        match &self.options.0 {
            Cow::Borrowed(bytes) => OwnedOrBorrowed::Borrowed(Options::new(bytes)),
            Cow::Owned(bytes) => OwnedOrBorrowed::Owned(Options::new(bytes)),
        }
    }

    /// The bytes after an End of Option List (empty if there is none).
    pub fn padding(&self) -> &[u8] {
        match padding_start(&self.options) {
            Some(at) => self.options.get(at..).unwrap_or_default(),
            None => &[],
        }
    }

    /// Header length on output, options padded to whole words.
    #[inline]
    #[must_use]
    pub fn header_len(&self) -> usize {
        header_len(self.options.len())
    }

    /// Length on the wire: header and payload.
    #[inline]
    #[must_use]
    pub fn len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Never true: a segment has at least its header.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// This segment as the payload of an IPv4 packet (also
    /// `ipv4::Payload::from(segment)`).
    #[inline]
    #[must_use]
    pub fn into_ipv4_payload(self) -> ipv4::Payload<'a> {
        ipv4::Payload::TCP(self)
    }

    /// Detaches the segment from the buffer it was parsed from.
    #[must_use]
    pub fn into_owned(self) -> Packet<'static> {
        Packet {
            options: self.options.into_owned(),
            payload: self.payload.into_owned(),
            ..self
        }
    }

    /// Parses a whole segment sent from `src` to `dst` (everything after the
    /// header is payload) and verifies its checksum, pseudo-header included:
    /// the verdict is `checksum_ok`, a wrong checksum is not an error.
    ///
    /// # Errors
    ///
    /// Fewer than 20 bytes, a data offset below 5 words or past the input,
    /// and a segment over 65,535 bytes (its length would not fit the
    /// pseudo-header).
    #[inline]
    pub fn parse(i: parse::Input<'a>, src: ipv4::Addr, dst: ipv4::Addr) -> parse::Result<'a, Self> {
        let (rest, view) = View::parse(i, src, dst)?;
        Ok((rest, view.to_packet()))
    }

    /// Writes the segment as sent from `src` to `dst` into a context held
    /// by reference, computing the data offset and the checksum.
    #[inline(always)]
    pub(crate) fn write_to<W: Write>(
        &self,
        out: &mut WriteContext<W>,
        src: ipv4::Addr,
        dst: ipv4::Addr,
    ) -> Result<(), BuildError> {
        self.head(src, dst)?.write(out)?;
        // A copy of a run-time length, even of nothing, is a call: a SYN
        // has no data.
        if self.payload.is_empty() {
            return Ok(());
        }
        put(out, &self.payload)
    }

    /// The header as it goes on the wire, built and summed in registers (see
    /// `icmp::Packet::head` for why).
    #[inline(always)]
    fn head(&self, src: ipv4::Addr, dst: ipv4::Addr) -> Result<Head<'_>, BuildError> {
        let options: &[u8] = &self.options;
        if options.len() > MAX_OPTIONS_LEN {
            return Err(too_long("TCP options", options.len(), MAX_OPTIONS_LEN));
        }
        let header_len = header_len(options.len());
        let Ok(len) = u16::try_from(header_len + self.payload.len()) else {
            return Err(too_long(
                "TCP segment",
                header_len + self.payload.len(),
                usize::from(u16::MAX),
            ));
        };
        check_field(
            "reserved",
            u16::from(self.reserved),
            u16::from(MAX_RESERVED),
        )?;
        let mut word6 = Bits::<2>::default();
        word6
            .put_bits(0, 4, (header_len / 4) as u16)
            .put_bits(4, 3, u16::from(self.reserved))
            .put_bits(7, 9, self.flags.bits());
        let first =
            u64::from(self.src_port) << 48 | u64::from(self.dst_port) << 32 | u64::from(self.seq);
        let second = u64::from(self.ack) << 32
            | u64::from(u16::from_be_bytes(word6.into_bytes())) << 16
            | u64::from(self.window);
        let mut sum = pseudo_header(src, dst, len);
        sum.add_u64(first)
            .add_u64(second)
            .add_u32(u32::from(self.urgent));
        // The padding's zeros add nothing, but an odd length of options
        // would shift the payload's words: its last byte goes in alone,
        // as the high half of a word.
        match options.split_last() {
            Some((&last, even)) if options.len() % 2 == 1 => {
                sum.add(even).add_u16(u16::from(last) << 8);
            }
            _ => {
                sum.add(options);
            }
        }
        let checksum = sum.add(&self.payload).finish_like(self.checksum);
        Ok(Head {
            fixed: (
                first,
                second,
                u32::from(checksum) << 16 | u32::from(self.urgent),
            ),
            options,
            padding: header_len - MIN_HEADER_LEN - options.len(),
        })
    }

    /// The segment's bytes as sent from `src` to `dst`, in a new vector:
    /// data offset and checksum (pseudo-header included) computed, options
    /// zero-padded to whole words.
    ///
    /// # Errors
    ///
    /// [`BuildError::TooLong`] for options over 40 bytes or a segment over
    /// 65,535; [`BuildError::OutOfRange`] for `reserved` over 3 bits.
    pub fn to_vec(&self, src: ipv4::Addr, dst: ipv4::Addr) -> Result<Vec<u8>, BuildError> {
        serialize::to_vec(self.len(), |out| self.write_to(out, src, dst))
    }

    /// Writes the segment as sent from `src` to `dst` to the front of `buf`
    /// (nothing is allocated) and says how many bytes it took.
    ///
    /// # Errors
    ///
    /// [`BuildError::BufferTooSmall`] if it does not fit, and as
    /// [`Packet::to_vec`].
    pub fn to_slice(
        &self,
        buf: &mut [u8],
        src: ipv4::Addr,
        dst: ipv4::Addr,
    ) -> Result<usize, BuildError> {
        serialize::to_slice(buf, || self.len(), |out| self.write_to(out, src, dst))
    }
}

/// The header length of a segment with `options` bytes of options, padded.
#[inline(always)]
fn header_len(options: usize) -> usize {
    MIN_HEADER_LEN + options.div_ceil(4) * 4
}

/// A checked TCP segment in a buffer: 20 bytes at least, a data offset of
/// at least 5 words that the input holds, the checksum (pseudo-header
/// included) verified, every field read from the buffer when asked (see
/// [`ipv4::View`] for why views).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View<'a> {
    fixed: &'a [u8; MIN_HEADER_LEN],
    options: &'a [u8],
    payload: &'a [u8],
    checksum_ok: bool,
}

impl<'a> View<'a> {
    /// Checks a whole segment sent from `src` to `dst` and verifies its
    /// checksum.
    ///
    /// # Errors
    ///
    /// As [`Packet::parse`], with the same messages.
    ///
    /// ```
    /// use ersatz::{ipv4, tcp, Blob};
    ///
    /// let (src, dst) = (ipv4::Addr([10, 0, 0, 1]), ipv4::Addr([10, 0, 0, 2]));
    /// let rst = tcp::Packet::new(80, 40000, 0, 2, tcp::Flags::RST | tcp::Flags::ACK, 0, Blob::empty(), Blob::empty());
    /// let bytes = rst.to_vec(src, dst)?;
    /// let view = ersatz::parse::run(&bytes, |i| tcp::View::parse(i, src, dst))?;
    /// assert!(view.checksum_ok() && view.flags().contains(tcp::Flags::RST));
    /// let other = ersatz::parse::run(&bytes, |i| tcp::View::parse(i, src, ipv4::Addr([10, 0, 0, 3])))?;
    /// assert!(!other.checksum_ok(), "the pseudo-header counts");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline(always)]
    pub fn parse(i: parse::Input<'a>, src: ipv4::Addr, dst: ipv4::Addr) -> parse::Result<'a, Self> {
        match Self::plain(i, src, dst) {
            Some(view) => Ok((&i[i.len()..], view)),
            None => Self::parse_other(i),
        }
    }

    /// The checks of [`View::parse`]: `None` where it fails.
    #[inline(always)]
    fn plain(i: parse::Input<'a>, src: ipv4::Addr, dst: ipv4::Addr) -> Option<Self> {
        let (fixed, _) = i.split_first_chunk::<MIN_HEADER_LEN>()?;
        let header_len = usize::from(Bits::from_bytes([fixed[12]]).get_bits(0, 4)) * 4;
        if header_len < MIN_HEADER_LEN || header_len > i.len() {
            return None;
        }
        let len = u16::try_from(i.len()).ok()?;
        let (header, payload) = i.split_at(header_len);
        let sum = pseudo_header(src, dst, len).add(i).finish();
        Some(View {
            fixed,
            options: &header[MIN_HEADER_LEN..],
            payload,
            checksum_ok: sum == 0,
        })
    }

    /// What is wrong with a segment [`View::plain`] turned down, out of line.
    #[cold]
    #[inline(never)]
    fn parse_other(i: parse::Input<'a>) -> parse::Result<'a, Self> {
        within(CONTEXT, i, Self::explain(i))
    }

    fn explain(i: parse::Input<'a>) -> parse::Result<'a, Self> {
        let (_, fixed) = parse::array::<MIN_HEADER_LEN>(i)?;
        let header_len = usize::from(Bits::from_bytes([fixed[12]]).get_bits(0, 4)) * 4;
        if header_len < MIN_HEADER_LEN {
            return invalid(i, "data offset is below 5 words");
        }
        if header_len > i.len() {
            return within("options", i, parse::truncated(i, header_len));
        }
        invalid(i, "longer than 65,535 bytes")
    }

    #[inline(always)]
    fn word6(&self) -> Bits<2> {
        Bits::from_bytes([self.fixed[12], self.fixed[13]])
    }

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        u16::from_be_bytes([self.fixed[0], self.fixed[1]])
    }

    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        u16::from_be_bytes([self.fixed[2], self.fixed[3]])
    }

    /// Sequence number.
    #[inline]
    pub fn seq(&self) -> u32 {
        let f = self.fixed;
        u32::from_be_bytes([f[4], f[5], f[6], f[7]])
    }

    /// Acknowledgment number.
    #[inline]
    pub fn ack(&self) -> u32 {
        let f = self.fixed;
        u32::from_be_bytes([f[8], f[9], f[10], f[11]])
    }

    /// Header length in 32-bit words.
    #[inline]
    #[must_use]
    pub fn data_offset(&self) -> u8 {
        self.word6().get_bits(0, 4) as u8
    }

    /// The 3 reserved bits.
    #[inline]
    #[must_use]
    pub fn reserved(&self) -> u8 {
        self.word6().get_bits(4, 3) as u8
    }

    /// The control bits.
    #[inline]
    #[must_use]
    pub fn flags(&self) -> Flags {
        Flags::from_bits(self.word6().get_bits(7, 9))
    }

    /// Receive window.
    #[inline]
    pub fn window(&self) -> u16 {
        u16::from_be_bytes([self.fixed[14], self.fixed[15]])
    }

    /// Checksum, as on the wire.
    #[inline]
    pub fn checksum(&self) -> u16 {
        u16::from_be_bytes([self.fixed[16], self.fixed[17]])
    }

    /// Whether the checksum is correct. A damaged segment must not be
    /// believed.
    #[inline]
    pub fn checksum_ok(&self) -> bool {
        self.checksum_ok
    }

    /// Urgent pointer.
    #[inline]
    pub fn urgent(&self) -> u16 {
        u16::from_be_bytes([self.fixed[18], self.fixed[19]])
    }

    /// The options, raw, padding included.
    #[inline]
    pub fn options(&self) -> &'a [u8] {
        self.options
    }

    /// The options, typed (see [`Packet::options_iter`]).
    #[inline]
    pub fn options_iter(&self) -> Options<'a> {
        Options::new(self.options)
    }

    /// The data after the header.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// The segment as a value, exactly what [`Packet::parse`] gives.
    #[inline(always)]
    #[must_use]
    pub fn to_packet(&self) -> Packet<'a> {
        Packet {
            src_port: self.src_port(),
            dst_port: self.dst_port(),
            seq: self.seq(),
            ack: self.ack(),
            data_offset: self.data_offset(),
            reserved: self.reserved(),
            flags: self.flags(),
            window: self.window(),
            checksum: self.checksum(),
            checksum_ok: self.checksum_ok,
            urgent: self.urgent(),
            options: Blob::from(self.options),
            payload: Blob::from(self.payload),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fixtures;
    use crate::wire::parse::run;

    const HOST: ipv4::Addr = ipv4::Addr([10, 77, 1, 2]);
    const REMOTE: ipv4::Addr = ipv4::Addr([10, 77, 2, 2]);

    /// The segment of a captured frame (IPv4 without options), with the
    /// packet's addresses.
    fn segment(frame: &[u8]) -> (Packet<'_>, ipv4::Addr, ipv4::Addr) {
        let ip = &frame[14..];
        let len = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        let src = ipv4::Addr([ip[12], ip[13], ip[14], ip[15]]);
        let dst = ipv4::Addr([ip[16], ip[17], ip[18], ip[19]]);
        let p = run(&ip[20..len], |i| Packet::parse(i, src, dst)).expect("fixture parses");
        (p, src, dst)
    }

    /// Every TCP capture: the view reads what the packet holds, and the
    /// segment written back is the captured one, byte for byte.
    #[test]
    fn captures_reserialize_exactly_and_views_agree() {
        let mut seen = 0;
        for (name, frame) in fixtures::all() {
            if frame[23] != 6 {
                continue;
            }
            let (p, src, dst) = segment(frame);
            assert!(p.checksum_ok, "{name}");
            let bytes = &frame[34..];
            assert_eq!(p.to_vec(src, dst).unwrap(), bytes, "{name}");
            let mut buf = [0u8; 128];
            assert_eq!(
                p.to_slice(&mut buf, src, dst).ok(),
                Some(bytes.len()),
                "{name}"
            );
            assert_eq!(&buf[..bytes.len()], bytes, "{name}");
            let (rest, v) = View::parse(bytes, src, dst).expect("view");
            assert!(rest.is_empty());
            assert_eq!(
                (v.src_port(), v.dst_port(), v.seq(), v.ack()),
                (p.src_port, p.dst_port, p.seq, p.ack),
                "{name}"
            );
            assert_eq!(
                (v.data_offset(), v.reserved(), v.flags(), v.window()),
                (p.data_offset, p.reserved, p.flags, p.window),
                "{name}"
            );
            assert_eq!(
                (v.checksum(), v.checksum_ok(), v.urgent()),
                (p.checksum, p.checksum_ok, p.urgent),
                "{name}"
            );
            assert_eq!(v.options(), &p.options[..], "{name}");
            assert_eq!(v.payload(), &p.payload[..], "{name}");
            assert!(v.options_iter().eq(p.options_iter()), "{name}");
            assert_eq!(v.to_packet(), p, "{name}");
            // The IPv4 packet carries it as its payload.
            let (_, ip) = ipv4::Packet::parse(&frame[14..]).unwrap();
            assert_eq!(ip.payload, Payload::TCP(p.clone()), "{name}");
            seen += 1;
        }
        assert_eq!(seen, 4, "SYN, SYN-ACK, FIN with data, RST");
    }

    use ipv4::Payload;

    #[test]
    fn syn_has_linux_options() {
        let (p, src, dst) = segment(fixtures::tcp_syn());
        assert_eq!((src, dst), (HOST, REMOTE));
        assert_eq!((p.src_port, p.dst_port), (33980, 7777));
        assert_eq!((p.seq, p.ack), (0x8df5_8561, 0));
        assert_eq!((p.data_offset, p.reserved), (10, 0));
        assert_eq!(p.flags, Flags::SYN);
        assert_eq!(p.flags.to_string(), "SYN");
        assert_eq!((p.window, p.urgent), (64240, 0));
        assert_eq!((p.checksum, p.checksum_ok), (0xe319, true));
        assert!(p.payload.is_empty());
        assert_eq!(
            p.options_iter().collect::<Vec<_>>(),
            [
                TcpOption::MaxSegmentSize(1460),
                TcpOption::SackPermitted,
                TcpOption::Timestamps {
                    value: 2_095_652_599,
                    echo: 0
                },
                TcpOption::NoOperation,
                TcpOption::WindowScale(10),
            ]
        );
        assert!(p.padding().is_empty());
        // The options written from their values are the kernel's bytes.
        let list: Vec<_> = p.options_iter().collect();
        assert_eq!(options(&list), &p.options[..]);
        assert_eq!(OptionBytes::new(&list).as_deref(), Some(&p.options[..]));
        // And the whole SYN built from the captured values is the capture.
        let built = Packet::new(
            33980,
            7777,
            0x8df5_8561,
            0,
            Flags::SYN,
            64240,
            Blob::from(options(&list)),
            Blob::empty(),
        );
        assert_eq!(built.to_vec(src, dst).unwrap(), &fixtures::tcp_syn()[34..]);
    }

    #[test]
    fn syn_ack_echoes_the_timestamp() {
        let (p, src, dst) = segment(fixtures::tcp_syn_ack());
        assert_eq!((src, dst), (REMOTE, HOST));
        assert_eq!((p.src_port, p.dst_port), (7777, 33980));
        assert_eq!((p.seq, p.ack), (0x2f3a_10d4, 0x8df5_8562));
        assert_eq!(p.flags, Flags::SYN | Flags::ACK);
        assert_eq!(format!("{:?}", p.flags), "SYN|ACK");
        assert_eq!((p.window, p.checksum), (65160, 0xbafb));
        assert!(p.options_iter().any(|o| o
            == TcpOption::Timestamps {
                value: 3_856_531_080,
                echo: 2_095_652_599
            }));
    }

    #[test]
    fn fin_carries_the_data() {
        let (p, _, _) = segment(fixtures::tcp_fin_data());
        assert_eq!((p.seq, p.ack), (0x2f3a_10d5, 0x8df5_8562));
        assert_eq!(p.data_offset, 8);
        assert_eq!(p.flags, Flags::FIN | Flags::PSH | Flags::ACK);
        assert_eq!(p.flags.to_string(), "FIN|PSH|ACK");
        assert!(p.flags.contains(Flags::FIN | Flags::ACK));
        assert!(!p.flags.contains(Flags::SYN));
        assert_eq!((p.window, p.checksum), (64, 0x332d));
        assert_eq!(&p.payload[..], b"ersatz tcp fixture: data with the FIN\n");
        assert_eq!(
            p.options_iter().collect::<Vec<_>>(),
            [
                TcpOption::NoOperation,
                TcpOption::NoOperation,
                TcpOption::Timestamps {
                    value: 3_856_531_080,
                    echo: 2_095_652_599
                },
            ]
        );
    }

    #[test]
    fn rst_for_a_closed_port() {
        let (p, _, _) = segment(fixtures::tcp_rst());
        assert_eq!((p.src_port, p.dst_port), (7778, 57910));
        assert_eq!((p.seq, p.ack), (0, 0x9255_22c7));
        assert_eq!(p.data_offset, 5);
        assert_eq!(p.flags, Flags::RST | Flags::ACK);
        assert_eq!((p.window, p.checksum, p.checksum_ok), (0, 0xe27d, true));
        assert!(p.options.is_empty() && p.payload.is_empty());
        assert_eq!(p.options_iter().count(), 0);
    }

    #[test]
    fn damaged_segment_is_detected_not_hidden() {
        let frame = fixtures::tcp_fin_data();
        let mut bytes = frame[34..].to_vec();
        *bytes.last_mut().unwrap() ^= 1;
        let (_, p) = Packet::parse(&bytes, REMOTE, HOST).unwrap();
        assert!(!p.checksum_ok);
        assert_eq!(p.checksum, 0x332d);
        // The pseudo-header counts: the same bytes from another address fail.
        let (_, p) = Packet::parse(&frame[34..], REMOTE, ipv4::Addr([10, 77, 1, 3])).unwrap();
        assert!(!p.checksum_ok);
        // Written back, the checksum is right again.
        let (_, again) = Packet::parse(&bytes, REMOTE, HOST).unwrap();
        let fixed = again.to_vec(REMOTE, HOST).unwrap();
        let (_, p) = Packet::parse(&fixed, REMOTE, HOST).unwrap();
        assert!(p.checksum_ok);
    }

    #[test]
    fn impossible_headers_are_errors() {
        let good = &fixtures::tcp_syn()[34..];
        let err = |bytes: &[u8]| {
            run(bytes, |i| Packet::parse(i, HOST, REMOTE))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(&good[..12]),
            "TCP segment: needs 20 bytes, has 12 (at byte 0)"
        );
        let mut b = good.to_vec();
        b[12] = 0x40;
        assert_eq!(
            err(&b),
            "TCP segment: data offset is below 5 words (at byte 0)"
        );
        assert_eq!(
            err(&good[..30]),
            "TCP segment > options: needs 40 bytes, has 30 (at byte 0)"
        );
        let long = vec![0x50u8; 65536];
        assert_eq!(
            err(&long),
            "TCP segment: longer than 65,535 bytes (at byte 0)"
        );
        // Inside a frame, the contexts and the position add up.
        let mut frame = fixtures::tcp_rst().to_vec();
        frame.truncate(14 + 20 + 12);
        frame[16..18].copy_from_slice(&32u16.to_be_bytes());
        let failure = run(&frame, crate::ethernet::Frame::parse).unwrap_err();
        assert_eq!(
            failure.to_string(),
            "Ethernet frame > IPv4 packet > TCP segment: needs 20 bytes, has 12 (at byte 34)"
        );
        // A view fails the same way.
        for bytes in [&good[..12], &b[..], &good[..30]] {
            assert_eq!(
                run(bytes, |i| View::parse(i, HOST, REMOTE)
                    .map(|(r, _)| (r, ()))),
                run(bytes, |i| Packet::parse(i, HOST, REMOTE)
                    .map(|(r, _)| (r, ())))
            );
        }
    }

    #[test]
    fn flags_are_a_set_of_nine_bits() {
        assert_eq!(Flags::default(), Flags::empty());
        assert_eq!(Flags::empty().to_string(), "-");
        assert_eq!(Flags::from_bits(0xffff).bits(), 0x1ff);
        assert_eq!(
            Flags::from_bits(0x1ff).to_string(),
            "FIN|SYN|RST|PSH|ACK|URG|ECE|CWR|NS"
        );
        let mut f = Flags::SYN;
        f |= Flags::ACK;
        assert_eq!(f.bits(), 0x12);
        assert_eq!(f & Flags::ACK, Flags::ACK);
        assert_eq!(f & Flags::RST, Flags::empty());
        assert!(f.contains(Flags::empty()));
        // Written where the wire has them, next to data offset and reserved.
        let mut p = Packet::new(
            1,
            2,
            3,
            4,
            Flags::NS | Flags::FIN,
            5,
            Blob::empty(),
            Blob::empty(),
        );
        p.reserved = 0b101;
        let bytes = p.to_vec(HOST, REMOTE).unwrap();
        assert_eq!(&bytes[12..14], &[0x5b, 0x01]);
        let (_, back) = Packet::parse(&bytes, HOST, REMOTE).unwrap();
        assert_eq!((back.flags, back.reserved), (Flags::NS | Flags::FIN, 5));
        p.reserved = 8;
        assert_eq!(
            p.to_vec(HOST, REMOTE),
            Err(BuildError::OutOfRange {
                field: "reserved",
                value: 8,
                max: 7
            })
        );
    }

    #[test]
    fn options_padding_and_malformed_lists() {
        let list = [
            TcpOption::MaxSegmentSize(536),
            TcpOption::Sack {
                blocks: [(1, 2), (3, 4), (0, 0), (0, 0)],
                count: 2,
            },
            TcpOption::Unknown {
                kind: 30,
                data: Blob::from(&[9u8, 9][..]),
            },
            TcpOption::EndOfList,
        ];
        let bytes = options(&list);
        assert_eq!(bytes.len(), 4 + 18 + 4 + 1 + 1);
        assert_eq!(&bytes[..6], &[2, 4, 2, 24, 5, 18]);
        assert_eq!(&bytes[22..], &[30, 4, 9, 9, 0, 0]);
        let p = Packet::new(
            1,
            2,
            0,
            0,
            Flags::SYN,
            0,
            Blob::from(bytes.clone()),
            Blob::empty(),
        );
        assert_eq!(p.data_offset, 12);
        assert_eq!(p.options_iter().collect::<Vec<_>>(), list);
        assert_eq!(p.padding(), &[0]);
        assert_eq!(OptionBytes::new(&list).as_deref(), Some(&bytes[..]));
        // Set again in place, shorter: the old bytes are gone.
        let mut stack = OptionBytes::new(&list).unwrap();
        assert!(stack.set(&[TcpOption::NoOperation, TcpOption::WindowScale(2)]));
        assert_eq!(&stack[..], &[1, 3, 3, 2]);
        assert!(stack.set(&[]));
        assert!(stack.is_empty());
        let ten = vec![TcpOption::Timestamps { value: 7, echo: 9 }; 4];
        assert!(stack.set(&ten));
        assert_eq!(&stack[..], &options(&ten)[..]);
        assert_eq!(stack.len(), 40);
        // Too many for a header: no stack bytes, and serializing refuses.
        let many = vec![TcpOption::Timestamps { value: 1, echo: 2 }; 5];
        assert_eq!(OptionBytes::new(&many), None);
        assert!(!stack.set(&many));
        assert!(stack.is_empty());
        let mut over = many.clone();
        over.truncate(4);
        over.push(TcpOption::NoOperation);
        assert!(!stack.set(&over), "41 bytes");
        let too_long = Packet::new(
            1,
            2,
            0,
            0,
            Flags::SYN,
            0,
            options(&many).into(),
            Blob::empty(),
        );
        assert_eq!(
            too_long.to_vec(HOST, REMOTE),
            Err(BuildError::TooLong {
                what: "TCP options",
                len: 52,
                max: 40
            })
        );
        // Lengths that are impossible end the list with what is left.
        for (raw, expected) in [
            (
                &[2u8, 4, 1][..],
                vec![TcpOption::Malformed(Blob::from(&[2u8, 4, 1][..]))],
            ),
            (
                &[1, 2, 3, 4],
                vec![
                    TcpOption::NoOperation,
                    TcpOption::Malformed(Blob::from(&[2u8, 3, 4][..])),
                ],
            ),
            (
                &[30, 1, 0, 0],
                vec![TcpOption::Malformed(Blob::from(&[30u8, 1, 0, 0][..]))],
            ),
            (
                &[1, 1, 1, 30],
                vec![TcpOption::NoOperation; 3]
                    .into_iter()
                    .chain([TcpOption::Malformed(Blob::from(&[30u8][..]))])
                    .collect(),
            ),
            (
                &[5, 10, 0, 0, 0, 1, 0, 0, 0, 2, 5, 11],
                vec![
                    TcpOption::Sack {
                        blocks: [(1, 2), (0, 0), (0, 0), (0, 0)],
                        count: 1,
                    },
                    TcpOption::Malformed(Blob::from(&[5u8, 11][..])),
                ],
            ),
            (
                &[8, 10, 0, 0],
                vec![TcpOption::Malformed(Blob::from(&[8u8, 10, 0, 0][..]))],
            ),
            (
                &[4, 3, 0, 0],
                vec![TcpOption::Malformed(Blob::from(&[4u8, 3, 0, 0][..]))],
            ),
            (&[0, 7, 7, 7], vec![TcpOption::EndOfList]),
        ] {
            let got: Vec<_> = Options::new(raw).collect();
            assert_eq!(got, expected, "{raw:?}");
            // Written back, the bytes up to the padding are the raw ones.
            assert_eq!(
                &options(&got)[..raw.len() - padding_after(raw)],
                &raw[..raw.len() - padding_after(raw)]
            );
        }
        // An owned packet reads its options the same way.
        let owned = p.clone().into_owned();
        assert!(owned.options_iter().eq(p.options_iter()));
    }

    fn padding_after(raw: &[u8]) -> usize {
        padding_start(raw).map_or(0, |at| raw.len() - at)
    }

    #[test]
    fn odd_options_are_padded_and_summed_as_padded() {
        // 3 bytes of options: one zero byte of padding follows them, and the
        // payload's words stay aligned in the checksum.
        let p = Packet::new(
            1000,
            80,
            7,
            0,
            Flags::SYN,
            1024,
            Blob::from(&[3u8, 3, 7][..]),
            Blob::from(&b"abc"[..]),
        );
        assert_eq!(p.data_offset, 6);
        let bytes = p.to_vec(HOST, REMOTE).unwrap();
        assert_eq!(bytes.len(), 24 + 3);
        assert_eq!(&bytes[20..24], &[3, 3, 7, 0]);
        let (_, back) = Packet::parse(&bytes, HOST, REMOTE).unwrap();
        assert!(back.checksum_ok);
        assert_eq!(back.options_iter().next(), Some(TcpOption::WindowScale(7)));
    }
}
