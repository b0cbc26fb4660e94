//! IPv4 (RFC 791): addresses, the packet with every header field, options kept.
//!
//! The total length bounds the packet: bytes after it (Ethernet padding) are
//! left to the caller. On output, IHL, total length and header checksum are
//! computed from the other fields.

use std::cell::Cell;
use std::fmt;
use std::io::Write;
use std::net::Ipv4Addr;
use std::str::FromStr;

use cookie_factory::WriteContext;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::bits::Bits;
use super::blob::Blob;
use super::checksum::{self, Checksum};
use super::parse::{self, invalid, within};
use super::serialize::{self, check_field, put, too_long, BuildError};
use super::{ethernet, icmp, tcp, udp};

/// An IPv4 address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Addr(pub [u8; 4]);

impl Addr {
    /// Parses 4 bytes; the rest of the input follows.
    ///
    /// # Errors
    ///
    /// [`parse::Reason::Truncated`] for fewer than 4 bytes.
    ///
    /// ```
    /// use ersatz::ipv4::Addr;
    ///
    /// let (_, addr) = Addr::parse(&[10, 77, 1, 2])?;
    /// assert_eq!(addr, "10.77.1.2".parse().unwrap());
    /// assert!(Addr::parse(&[10, 77, 1]).is_err());
    /// # Ok::<(), ersatz::parse::Error>(())
    /// ```
    #[inline]
    pub fn parse(i: parse::Input<'_>) -> parse::Result<'_, Self> {
        let (i, bytes) = parse::array::<4>(i)?;
        Ok((i, Addr(*bytes)))
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d] = self.0;
        write!(f, "{a}.{b}.{c}.{d}")
    }
}

impl fmt::Debug for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a string is not an IPv4 address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an IPv4 address (expected four numbers 0-255, like 10.0.0.1)")]
pub struct ParseAddrError(pub String);

impl FromStr for Addr {
    type Err = ParseAddrError;

    /// Dotted quad, as `std::net::Ipv4Addr` reads it (no octal, no shorthand).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ipv4Addr::from_str(s)
            .map(Addr::from)
            .map_err(|_| ParseAddrError(s.to_string()))
    }
}

impl From<Ipv4Addr> for Addr {
    fn from(a: Ipv4Addr) -> Self {
        Addr(a.octets())
    }
}

impl From<Addr> for Ipv4Addr {
    fn from(a: Addr) -> Self {
        Ipv4Addr::from(a.0)
    }
}

impl From<[u8; 4]> for Addr {
    fn from(a: [u8; 4]) -> Self {
        Addr(a)
    }
}

open_enum! {
    /// The protocol of the payload (IANA "Assigned Internet Protocol Numbers").
    pub enum Protocol: u8 {
        /// Internet Control Message Protocol.
        ICMP = 1,
        /// Internet Group Management Protocol.
        IGMP = 2,
        /// Transmission Control Protocol.
        TCP = 6,
        /// User Datagram Protocol.
        UDP = 17,
        /// Generic Routing Encapsulation.
        GRE = 47,
        /// Encapsulating Security Payload.
        ESP = 50,
        /// Reserved; what ersatz puts on a packet whose payload has no protocol.
        Reserved = 255,
    }
}

/// The "Don't Fragment" flag, in [`Packet::flags`].
pub const DONT_FRAGMENT: u8 = 0b010;
/// The "More Fragments" flag, in [`Packet::flags`].
pub const MORE_FRAGMENTS: u8 = 0b001;

/// The largest value of [`Packet::flags`] (3 bits).
pub const MAX_FLAGS: u8 = 0b111;
/// The largest [`Packet::fragment_offset`] (13 bits).
pub const MAX_FRAGMENT_OFFSET: u16 = 0x1fff;
/// The largest [`Packet::dscp`] (6 bits).
pub const MAX_DSCP: u8 = 0x3f;
/// The largest [`Packet::ecn`] (2 bits).
pub const MAX_ECN: u8 = 0b11;

/// More Fragments and the fragment offset in the header's fourth 16-bit word:
/// a packet is a fragment when any of them is set.
const FRAGMENT_BITS: u16 = 0x3fff;

/// Whether flags and offset make a fragment: More Fragments set, or a
/// non-zero offset.
#[inline]
fn is_fragment(flags: u8, fragment_offset: u16) -> bool {
    flags & MORE_FRAGMENTS != 0 || fragment_offset != 0
}

/// A fresh identification for [`Payload::into_packet`]: random, from a
/// small, fast generator per thread (rand's `SmallRng`), seeded on first
/// use from the operating system's randomness.
///
/// `rand::random()` on every packet went through `ThreadRng`: a call that
/// may unwind, made after the caller built the payload and before the
/// packet holding it exists, so the payload was parked on the stack around
/// it and moved after it (a wide read of narrow stores, which stalls the
/// CPU): 6 ns of the 38 it took to build and serialize an echo reply. Here
/// nothing on the way can unwind: the generator lives in a `Cell` (no
/// borrow to fail), the thread-local needs no initialisation, and the one
/// call, the seeding, cannot unwind (see [`identification_seed`]). An
/// identification needs to differ from its neighbours, not to resist
/// prediction.
#[inline]
fn random_identification() -> u16 {
    thread_local! {
        static IDENTIFICATIONS: Cell<Option<SmallRng>> = const { Cell::new(None) };
    }
    IDENTIFICATIONS.with(|ids| {
        let mut rng = ids
            .take()
            .unwrap_or_else(|| SmallRng::seed_from_u64(identification_seed()));
        let id = rng.random();
        ids.set(Some(rng));
        id
    })
}

/// A seed from the operating system's randomness (rand's `ThreadRng`).
///
/// `extern "C"`: a panic cannot unwind out of it (it aborts), so calls to
/// it need no unwinding path; see [`random_identification`]. `ThreadRng`
/// panics only if the operating system has no randomness to give.
#[cold]
#[inline(never)]
extern "C" fn identification_seed() -> u64 {
    rand::random()
}

/// The TTL ersatz gives new packets: 128, like Windows.
pub const DEFAULT_TTL: u8 = 128;

/// Length of the header without options.
pub const MIN_HEADER_LEN: usize = 20;
/// Longest options field: IHL is at most 15 words.
pub const MAX_OPTIONS_LEN: usize = 40;

/// What an IPv4 packet carries. Protocols may be added in later versions
/// (what is `Unknown` today may get its own variant).
// An explicit tag byte. Left to itself, rustc keeps the variant in a niche
// of the largest one (TCP's first `Cow`), and every test of it (the
// serializer's two matches, dropping a frame) first decodes that word
// (~6 instructions) before its jump table: with TCP and UDP added, the
// echo-reply build took 29 instructions more (benches/README.md); with the
// tag, 10 more, and the SYN's build 18 fewer than with the niche.
#[derive(Debug, Clone, PartialEq, Eq)]
#[repr(u8)]
#[non_exhaustive]
pub enum Payload<'a> {
    /// An ICMP message.
    ICMP(icmp::Packet<'a>),
    /// A TCP segment.
    TCP(tcp::Packet<'a>),
    /// A UDP datagram.
    UDP(udp::Packet<'a>),
    /// Any other protocol, a fragment, a quote, or a UDP datagram whose
    /// length leaves bytes of the payload over: the raw bytes.
    Unknown(Blob<'a>),
}

impl<'a> Payload<'a> {
    /// Length on the wire.
    #[inline]
    #[must_use]
    pub fn len(&self) -> usize {
        match self {
            Payload::ICMP(p) => p.len(),
            Payload::TCP(p) => p.len(),
            Payload::UDP(p) => p.len(),
            Payload::Unknown(b) => b.len(),
        }
    }

    /// Whether there are no bytes at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The protocol number this payload goes out with.
    #[inline]
    #[must_use]
    pub fn protocol(&self) -> Protocol {
        match self {
            Payload::ICMP(_) => Protocol::ICMP,
            Payload::TCP(_) => Protocol::TCP,
            Payload::UDP(_) => Protocol::UDP,
            Payload::Unknown(_) => Protocol::Reserved,
        }
    }

    /// A new packet from `src` to `dst` carrying this payload, as Windows
    /// makes them: random identification, TTL 128, no flags, no options.
    /// Set its fields before writing it to change any of that.
    ///
    /// ```
    /// use ersatz::{ipv4, udp, Blob};
    ///
    /// let datagram = udp::Packet::new(40000, 33434, Blob::from(&b"probe"[..]));
    /// let mut packet = datagram.into_ipv4_payload().into_packet(
    ///     ipv4::Addr([10, 0, 0, 1]),
    ///     ipv4::Addr([10, 0, 0, 2]),
    /// );
    /// assert_eq!((packet.ttl, packet.len()), (128, 20 + 8 + 5));
    /// packet.ttl = 1;
    /// packet.flags = ipv4::DONT_FRAGMENT;
    /// let bytes = packet.to_vec()?;
    /// assert_eq!((bytes[6], bytes[8], bytes[9]), (0x40, 1, 17));
    /// # Ok::<(), ersatz::wire::BuildError>(())
    /// ```
    #[inline]
    #[must_use]
    pub fn into_packet(self, src: Addr, dst: Addr) -> Packet<'a> {
        Packet {
            version: 4,
            ihl: 5,
            dscp: 0,
            ecn: 0,
            length: (MIN_HEADER_LEN + self.len()).min(usize::from(u16::MAX)) as u16,
            identification: random_identification(),
            flags: 0,
            fragment_offset: 0,
            ttl: DEFAULT_TTL,
            protocol: self.protocol(),
            checksum: 0,
            checksum_ok: true,
            src,
            dst,
            options: Blob::empty(),
            payload: self,
        }
    }

    /// The old name of [`Payload::into_packet`].
    #[deprecated(since = "0.2.0", note = "renamed to into_packet")]
    #[inline]
    #[must_use]
    pub fn as_packet(self, src: Addr, dst: Addr) -> Packet<'a> {
        self.into_packet(src, dst)
    }

    /// Detaches the payload from the buffer it was parsed from.
    #[must_use]
    pub fn into_owned(self) -> Payload<'static> {
        match self {
            Payload::ICMP(p) => Payload::ICMP(p.into_owned()),
            Payload::TCP(p) => Payload::TCP(p.into_owned()),
            Payload::UDP(p) => Payload::UDP(p.into_owned()),
            Payload::Unknown(b) => Payload::Unknown(b.into_owned()),
        }
    }

    /// The payload's bytes as carried from `src` to `dst` (TCP and UDP sum
    /// the addresses into their checksums), in a new vector.
    ///
    /// # Errors
    ///
    /// As the TCP segment's or UDP datagram's `to_vec`.
    pub fn to_vec(&self, src: Addr, dst: Addr) -> Result<Vec<u8>, BuildError> {
        serialize::to_vec(self.len(), |out| self.write_to(out, src, dst))
    }

    #[inline(always)]
    fn write_to<W: Write>(
        &self,
        out: &mut WriteContext<W>,
        src: Addr,
        dst: Addr,
    ) -> Result<(), BuildError> {
        match self {
            Payload::ICMP(p) => p.write_to(out),
            Payload::TCP(p) => p.write_to(out, src, dst),
            Payload::UDP(p) => p.write_to(out, src, dst),
            Payload::Unknown(b) => put(out, b),
        }
    }
}

impl<'a> From<icmp::Packet<'a>> for Payload<'a> {
    /// The message as the payload of a packet: [`icmp::Packet::into_ipv4_payload`].
    #[inline]
    fn from(message: icmp::Packet<'a>) -> Self {
        Payload::ICMP(message)
    }
}

impl<'a> From<tcp::Packet<'a>> for Payload<'a> {
    /// The segment as the payload of a packet: [`tcp::Packet::into_ipv4_payload`].
    #[inline]
    fn from(segment: tcp::Packet<'a>) -> Self {
        Payload::TCP(segment)
    }
}

impl<'a> From<udp::Packet<'a>> for Payload<'a> {
    /// The datagram as the payload of a packet: [`udp::Packet::into_ipv4_payload`].
    #[inline]
    fn from(datagram: udp::Packet<'a>) -> Self {
        Payload::UDP(datagram)
    }
}

/// An IPv4 packet, every header field as it was on the wire.
///
/// The bit fields of the header are plain integers; on output a value
/// wider than its field ([`MAX_DSCP`], [`MAX_ECN`], [`MAX_FLAGS`],
/// [`MAX_FRAGMENT_OFFSET`], 15 for `version`) is refused with
/// [`BuildError::OutOfRange`], never cut. Parsed packets always hold values
/// that fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Version: 4 (4 bits; written as it is).
    pub version: u8,
    /// Header length in 32-bit words, as parsed (computed from `options` on
    /// output, whatever this holds).
    pub ihl: u8,
    /// Differentiated Services Code Point (6 bits: at most [`MAX_DSCP`]; the
    /// DSCP, not the old TOS byte: EF is 46).
    pub dscp: u8,
    /// Explicit Congestion Notification (2 bits: at most [`MAX_ECN`]).
    pub ecn: u8,
    /// Total length, as parsed (computed on output).
    pub length: u16,
    /// Identification, for reassembly.
    pub identification: u16,
    /// Flags (3 bits): reserved, [`DONT_FRAGMENT`], [`MORE_FRAGMENTS`].
    pub flags: u8,
    /// Fragment offset in 8-byte units (13 bits: at most
    /// [`MAX_FRAGMENT_OFFSET`]).
    pub fragment_offset: u16,
    /// Time to live.
    pub ttl: u8,
    /// Protocol of the payload.
    pub protocol: Protocol,
    /// Header checksum as parsed (computed on output).
    pub checksum: u16,
    /// Whether the parsed header checksum was correct. A packet with a wrong
    /// checksum is still returned, so that it can be reported; it must not be
    /// believed.
    pub checksum_ok: bool,
    /// Source address.
    pub src: Addr,
    /// Destination address.
    pub dst: Addr,
    /// Options, raw (a multiple of 4 bytes when parsed; zero-padded on output).
    pub options: Blob<'a>,
    /// The payload.
    pub payload: Payload<'a>,
}

impl<'a> Packet<'a> {
    /// Whether the Don't Fragment flag is set.
    #[must_use]
    pub fn dont_fragment(&self) -> bool {
        self.flags & DONT_FRAGMENT != 0
    }

    /// Whether this is a fragment (More Fragments set, or a non-zero offset):
    /// then the payload is not parsed, as it is not a whole message.
    #[must_use]
    pub fn is_fragment(&self) -> bool {
        is_fragment(self.flags, self.fragment_offset)
    }

    /// Header length on output, options padded to whole words.
    #[must_use]
    pub fn header_len(&self) -> usize {
        MIN_HEADER_LEN + self.options.len().div_ceil(4) * 4
    }

    /// Total length on output.
    #[must_use]
    pub fn len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Never true: a packet has at least its header.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// This packet as the payload of an Ethernet frame (also
    /// `ethernet::Payload::from(packet)`).
    #[inline]
    #[must_use]
    pub fn into_ethernet_payload(self) -> ethernet::Payload<'a> {
        ethernet::Payload::IPv4(self)
    }

    /// The old name of [`Packet::into_ethernet_payload`].
    #[deprecated(since = "0.2.0", note = "renamed to into_ethernet_payload")]
    #[inline]
    #[must_use]
    pub fn as_ethernet_payload(self) -> ethernet::Payload<'a> {
        self.into_ethernet_payload()
    }

    /// Detaches the packet from the buffer it was parsed from.
    #[must_use]
    pub fn into_owned(self) -> Packet<'static> {
        Packet {
            options: self.options.into_owned(),
            payload: self.payload.into_owned(),
            ..self
        }
    }

    /// Parses a packet. The total length bounds it: what follows is returned
    /// as the remaining input. ICMP, TCP and UDP payloads are parsed (unless
    /// fragmented; TCP and UDP checksums with this packet's addresses);
    /// other protocols are kept raw, and so is a UDP datagram whose length
    /// leaves bytes of the payload over (so that every byte is kept). The
    /// header checksum is verified: the verdict is `checksum_ok`, a wrong
    /// checksum is not an error.
    ///
    /// # Errors
    ///
    /// A version other than 4, a header length below 5 words or past the
    /// input, a total length shorter than the header or past the input, or
    /// an ICMP, TCP or UDP payload that does not parse.
    ///
    /// ```
    /// use ersatz::{icmp, ipv4};
    ///
    /// let request = icmp::Echo { identifier: 1, sequence_number: 9 }
    ///     .into_echo_request(Vec::from(&b"abc"[..]))
    ///     .into_ipv4_payload()
    ///     .into_packet(ipv4::Addr([10, 0, 0, 1]), ipv4::Addr([10, 0, 0, 2]));
    /// let bytes = request.to_vec()?;
    /// let (rest, packet) = ipv4::Packet::parse(&bytes).map_err(|e| e.locate(&bytes))?;
    /// assert!(rest.is_empty() && packet.checksum_ok);
    /// assert_eq!((packet.ttl, packet.protocol), (128, ipv4::Protocol::ICMP));
    /// assert_eq!(packet.to_vec()?, bytes, "written back byte for byte");
    ///
    /// let mut damaged = bytes.clone();
    /// damaged[8] = 1; // the TTL, changed without fixing the checksum
    /// let packet = ersatz::parse::run(&damaged, ipv4::Packet::parse)?;
    /// assert!(!packet.checksum_ok);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline(always)]
    pub fn parse(i: parse::Input<'a>) -> parse::Result<'a, Self> {
        if let Some((rest, view, message)) = View::plain_icmp(i) {
            return Ok((rest, view.with_payload(Payload::ICMP(message.to_packet()))));
        }
        Self::parse_any(i)
    }

    /// [`Packet::parse`] without its shortcut for plain ICMP packets.
    #[inline(always)]
    pub(crate) fn parse_any(i: parse::Input<'a>) -> parse::Result<'a, Self> {
        let (rest, view) = View::parse_any(i, false)?;
        Ok((rest, view.to_packet()?))
    }

    /// Parses the original datagram quoted by an ICMP error message: its header
    /// in full, then as many payload bytes as were quoted (RFC 792: at least 8),
    /// so the total length may run past the end. The payload stays raw.
    ///
    /// # Errors
    ///
    /// As [`Packet::parse`], except that a total length past the input is
    /// not one.
    pub fn parse_quoted(i: parse::Input<'a>) -> parse::Result<'a, Self> {
        let (rest, view) = View::parse_quoted(i)?;
        Ok((rest, view.to_packet()?))
    }

    /// Writes the packet into a context held by reference, computing IHL,
    /// total length and header checksum.
    #[inline(always)]
    pub(crate) fn write_to<W: Write>(&self, out: &mut WriteContext<W>) -> Result<(), BuildError> {
        self.head()?.write(out)?;
        self.payload.write_to(out, self.src, self.dst)
    }

    /// The header as it goes on the wire: IHL, total length and checksum
    /// computed, options zero-padded to whole words.
    #[inline(always)]
    pub(crate) fn head<'s>(&'s self) -> Result<Head<'s>, BuildError> {
        if self.options.len() > MAX_OPTIONS_LEN {
            return Err(too_long(
                "IPv4 options",
                self.options.len(),
                MAX_OPTIONS_LEN,
            ));
        }
        let Ok(total) = u16::try_from(self.len()) else {
            return Err(too_long("IPv4 packet", self.len(), usize::from(u16::MAX)));
        };
        self.check_fields()?;
        let header_len = self.header_len();
        let mut word0 = Bits::<2>::default();
        word0
            .put_bits(0, 4, u16::from(self.version))
            .put_bits(4, 4, (header_len / 4) as u16)
            .put_bits(8, 6, u16::from(self.dscp))
            .put_bits(14, 2, u16::from(self.ecn));
        let mut word3 = Bits::<2>::default();
        word3
            .put_bits(0, 3, u16::from(self.flags))
            .put_bits(3, 13, self.fragment_offset);
        // The fixed header as three big-endian words, built and summed in
        // registers (see icmp::Packet::head for why).
        let first = u64::from(u16::from_be_bytes(word0.into_bytes())) << 48
            | u64::from(total) << 32
            | u64::from(self.identification) << 16
            | u64::from(u16::from_be_bytes(word3.into_bytes()));
        let second = u64::from(u16::from_be_bytes([self.ttl, u8::from(self.protocol)])) << 48
            | u64::from(u32::from_be_bytes(self.src.0));
        let third = u32::from_be_bytes(self.dst.0);
        // The zero padding after the options adds nothing to the sum (an odd
        // last byte is summed as if padded).
        let sum = Checksum::new()
            .add_u64(first)
            .add_u64(second)
            .add_u32(third)
            .add(&self.options)
            .finish_like(self.checksum);
        Ok(Head {
            fixed: (first, second | u64::from(sum) << 32, third),
            options: &self.options,
            padding: header_len - MIN_HEADER_LEN - self.options.len(),
        })
    }

    /// Refuses bit fields wider than the header has room for.
    #[inline(always)]
    fn check_fields(&self) -> Result<(), BuildError> {
        // One test for all of them, on the bits above each field's width
        // (without branches between the fields: five tests in a row cost
        // the echo build ~40 instructions); which one it was, out of line.
        let over = u16::from(self.version >> 4)
            | u16::from(self.dscp >> 6)
            | u16::from(self.ecn >> 2)
            | u16::from(self.flags >> 3)
            | self.fragment_offset >> 13;
        if over != 0 {
            return Err(self.field_out_of_range());
        }
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn field_out_of_range(&self) -> BuildError {
        let checks = [
            ("version", u16::from(self.version), 0xf),
            ("dscp", u16::from(self.dscp), u16::from(MAX_DSCP)),
            ("ecn", u16::from(self.ecn), u16::from(MAX_ECN)),
            ("flags", u16::from(self.flags), u16::from(MAX_FLAGS)),
            ("fragment_offset", self.fragment_offset, MAX_FRAGMENT_OFFSET),
        ];
        checks
            .into_iter()
            .find_map(|(field, value, max)| check_field(field, value, max).err())
            .unwrap_or(BuildError::OutOfRange {
                field: "version",
                value: u16::from(self.version),
                max: 0xf,
            })
    }

    /// The packet's bytes, in a new vector: IHL, total length and header
    /// checksum computed, options zero-padded to whole words, the payload
    /// written as its own `to_vec` would (TCP and UDP with this packet's
    /// addresses).
    ///
    /// # Errors
    ///
    /// [`BuildError::TooLong`] for options over 40 bytes or a packet over
    /// 65,535; [`BuildError::OutOfRange`] for a bit field wider than its
    /// field (see [`Packet`]); and as the payload's `to_vec`.
    ///
    /// ```
    /// use ersatz::{ipv4, wire::BuildError, Blob};
    ///
    /// let mut packet = ipv4::Payload::Unknown(Blob::from(&[1u8, 2, 3][..]))
    ///     .into_packet(ipv4::Addr([10, 0, 0, 1]), ipv4::Addr([10, 0, 0, 2]));
    /// let bytes = packet.to_vec()?;
    /// assert_eq!(&bytes[..4], &[0x45, 0, 0, 23]);
    ///
    /// packet.dscp = 0xb8; // a TOS byte, not a DSCP
    /// assert_eq!(
    ///     packet.to_vec(),
    ///     Err(BuildError::OutOfRange { field: "dscp", value: 0xb8, max: 63 })
    /// );
    /// # Ok::<(), BuildError>(())
    /// ```
    pub fn to_vec(&self) -> Result<Vec<u8>, BuildError> {
        serialize::to_vec(self.len(), |out| self.write_to(out))
    }

    /// Writes the packet to the front of `buf` (a buffer kept for reuse:
    /// nothing is allocated) and says how many bytes it took.
    ///
    /// # Errors
    ///
    /// [`BuildError::BufferTooSmall`] if it does not fit, and as
    /// [`Packet::to_vec`].
    pub fn to_slice(&self, buf: &mut [u8]) -> Result<usize, BuildError> {
        serialize::to_slice(buf, || self.len(), |out| self.write_to(out))
    }

    /// Writes the packet at the end of `vec` (after an Ethernet head
    /// written there, say), which grows as it must.
    ///
    /// # Errors
    ///
    /// As [`Packet::to_vec`]; `vec` is then left as it was.
    ///
    /// ```
    /// use ersatz::{ipv4, Blob};
    ///
    /// let packet = ipv4::Payload::Unknown(Blob::empty())
    ///     .into_packet(ipv4::Addr([10, 0, 0, 1]), ipv4::Addr([10, 0, 0, 2]));
    /// let mut frame = vec![0xff; 12];
    /// frame.extend_from_slice(&[0x08, 0x00]);
    /// packet.append_to(&mut frame)?;
    /// assert_eq!((frame.len(), frame[14]), (34, 0x45));
    /// # Ok::<(), ersatz::wire::BuildError>(())
    /// ```
    pub fn append_to(&self, vec: &mut Vec<u8>) -> Result<(), BuildError> {
        serialize::append(vec, self.len(), |out| self.write_to(out))
    }

    /// Splits the packet into fragments whose total length is at most `mtu`
    /// (RFC 791): the payload is serialized once and cut at multiples of 8
    /// bytes; every fragment but the last has More Fragments set; options
    /// with the "copied" flag go into every fragment, the others only into
    /// the first. A packet that fits is returned whole (as one fragment).
    ///
    /// # Errors
    ///
    /// [`BuildError::TooLong`] for a packet over 65,535 bytes;
    /// [`BuildError::CannotFragment`] if `mtu` leaves no room for 8 bytes of
    /// payload after a fragment's header, or the offsets would not fit 13
    /// bits; and as the payload's `to_vec`.
    ///
    /// ```
    /// use ersatz::{ipv4, Blob};
    ///
    /// let packet = ipv4::Payload::Unknown(Blob::from(vec![7u8; 3000]))
    ///     .into_packet(ipv4::Addr([10, 0, 0, 1]), ipv4::Addr([10, 0, 0, 2]));
    /// let fragments = packet.fragments(1500)?;
    /// assert_eq!(fragments.len(), 3);
    /// assert!(fragments.iter().all(|f| f.len() <= 1500 && f.is_fragment()));
    /// assert_eq!(fragments[1].fragment_offset, 1480 / 8);
    /// # Ok::<(), ersatz::wire::BuildError>(())
    /// ```
    pub fn fragments(&self, mtu: usize) -> Result<Vec<Packet<'static>>, BuildError> {
        if self.len() <= mtu {
            return Ok(vec![self.clone().into_owned()]);
        }
        if self.len() > usize::from(u16::MAX) {
            return Err(too_long("IPv4 packet", self.len(), usize::from(u16::MAX)));
        }
        let payload = self.payload.to_vec(self.src, self.dst)?;
        if payload.is_empty() {
            // Over the MTU with its header alone: nothing to cut.
            return Err(BuildError::CannotFragment { mtu });
        }
        let first_options = self.options.to_vec();
        let later_options = copied_options(&self.options);
        let room = |options: &[u8]| {
            mtu.saturating_sub(MIN_HEADER_LEN + options.len().div_ceil(4) * 4) / 8 * 8
        };
        let base = usize::from(self.fragment_offset) * 8;
        let mut out = Vec::new();
        let mut at = 0;
        while at < payload.len() {
            let options = if at == 0 {
                &first_options
            } else {
                &later_options
            };
            let room = room(options);
            if room == 0 {
                return Err(BuildError::CannotFragment { mtu });
            }
            let end = (at + room).min(payload.len());
            let last = end == payload.len();
            let offset = (base + at) / 8;
            let Some(offset) = u16::try_from(offset)
                .ok()
                .filter(|&o| o <= MAX_FRAGMENT_OFFSET)
            else {
                return Err(BuildError::CannotFragment { mtu });
            };
            let mut flags = self.flags;
            if !last {
                flags |= MORE_FRAGMENTS;
            }
            out.push(Packet {
                flags,
                fragment_offset: offset,
                options: Blob::from(options.clone()),
                payload: Payload::Unknown(Blob::from(payload[at..end].to_vec())),
                ..self.clone().into_owned()
            });
            at = end;
        }
        Ok(out)
    }
}

/// The options of `options` that RFC 791 copies into every fragment (type
/// byte with the high "copied" bit), in order; stops at End of Option List.
fn copied_options(options: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&typ) = options.get(i) {
        let len = match typ {
            0 => break,
            1 => 1,
            _ => usize::from(options.get(i + 1).copied().unwrap_or(0)).max(2),
        };
        let Some(option) = options.get(i..i + len) else {
            break;
        };
        if typ & 0x80 != 0 {
            out.extend_from_slice(option);
        }
        i += len;
    }
    out
}

/// A header ready for the wire ([`Packet::head`]).
pub(crate) struct Head<'s> {
    /// The fixed 20 bytes, checksum included, as big-endian values: bytes
    /// 0-7, 8-15 and 16-19.
    pub(crate) fixed: (u64, u64, u32),
    /// The options, as they are.
    pub(crate) options: &'s [u8],
    /// Zero bytes after the options, to a whole number of words (0-3).
    pub(crate) padding: usize,
}

impl Head<'_> {
    /// Writes the header: the fixed words, the options, their padding.
    #[inline(always)]
    pub(crate) fn write<W: Write>(&self, out: &mut WriteContext<W>) -> Result<(), BuildError> {
        let (first, second, third) = self.fixed;
        put(out, &first.to_be_bytes())?;
        put(out, &second.to_be_bytes())?;
        put(out, &third.to_be_bytes())?;
        if self.options.is_empty() {
            return Ok(());
        }
        // Eight bytes at a time, as options built on the stack were stored
        // (`tcp::OptionBytes`): one copy of a run-time length read them
        // back wider, which stalls the CPU's store forwarding.
        let mut words = self.options.chunks_exact(8);
        for word in &mut words {
            if let Ok(word) = <&[u8; 8]>::try_from(word) {
                put(out, word)?;
            }
        }
        match words.remainder() {
            [] => {}
            &[a, b, c, d] => put(out, &[a, b, c, d])?,
            rest => put(out, rest)?,
        }
        // A copy of a run-time length, even of nothing, is a call.
        match self.padding {
            0 => Ok(()),
            n => put(out, &[0; 3][..n]),
        }
    }
}

/// A checked IPv4 packet in a buffer: the header found valid (version 4, a
/// header length of at least 5 words that the input holds, a total length
/// that covers the header and fits the input), the header checksum
/// verified, and every field read from the buffer when asked.
///
/// [`Packet::parse`] is a view made into a value; a view costs no more than
/// the checks, which is all a receiver needs to decide whether a packet is
/// for it ([`View::to_packet`] builds the [`Packet`] afterwards).
///
/// ```
/// use ersatz::{icmp, ipv4};
///
/// let bytes = icmp::Echo { identifier: 3, sequence_number: 4 }
///     .into_echo_reply(&b"data"[..])
///     .into_ipv4_payload()
///     .into_packet(ipv4::Addr([10, 0, 0, 2]), ipv4::Addr([10, 0, 0, 1]))
///     .to_vec()?;
/// let view = ersatz::parse::run(&bytes, ipv4::View::parse)?;
/// assert!(view.checksum_ok() && view.carries_icmp());
/// assert_eq!(view.dst(), ipv4::Addr([10, 0, 0, 1]));
/// let message = ersatz::parse::run(view.payload(), icmp::View::parse)?;
/// assert_eq!(message.header(), icmp::Header::EchoReply(icmp::Echo { identifier: 3, sequence_number: 4 }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View<'a> {
    /// The input the packet starts at (error positions are given from it).
    start: parse::Input<'a>,
    /// The fixed 20 bytes of the header.
    fixed: &'a [u8; MIN_HEADER_LEN],
    options: &'a [u8],
    /// The bytes after the header, up to the total length.
    payload: &'a [u8],
    checksum_ok: bool,
    quoted: bool,
}

impl<'a> View<'a> {
    /// Checks a packet (see [`View`]) and verifies its header checksum. The
    /// rest is what follows the total length.
    ///
    /// # Errors
    ///
    /// As [`Packet::parse`] for the header, with the same messages (the
    /// payload is not looked at).
    #[inline(always)]
    pub fn parse(i: parse::Input<'a>) -> parse::Result<'a, Self> {
        match Self::plain(i) {
            Some(done) => Ok(done),
            None => Self::parse_other(i),
        }
    }

    /// [`View::parse_any`] for what [`View::plain`] turned down, out of
    /// line: the general checks and their errors then take no registers
    /// or stack from the plain path around them.
    #[inline(never)]
    fn parse_other(i: parse::Input<'a>) -> parse::Result<'a, Self> {
        Self::parse_any(i, false)
    }

    /// Checks the original datagram quoted by an ICMP error message (see
    /// [`Packet::parse_quoted`]): the total length may run past the end.
    ///
    /// # Errors
    ///
    /// As [`Packet::parse_quoted`] for the header.
    pub fn parse_quoted(i: parse::Input<'a>) -> parse::Result<'a, Self> {
        Self::parse_any(i, true)
    }

    /// The header almost every packet has: 20 bytes (version 4, IHL 5) and
    /// a total length from 20 to what the input holds. `None` for anything
    /// else, or anything wrong: [`View::parse_any`] then checks it, or says
    /// what is wrong. Where this answers, both give the same view (tested).
    #[inline(always)]
    pub(crate) fn plain(start: parse::Input<'a>) -> Option<(parse::Input<'a>, Self)> {
        let (fixed, _) = start.split_first_chunk::<MIN_HEADER_LEN>()?;
        let length = usize::from(u16::from_be_bytes([fixed[2], fixed[3]]));
        if fixed[0] != 0x45 || length < MIN_HEADER_LEN || length > start.len() {
            return None;
        }
        let (body, rest) = start.split_at(length);
        let view = View {
            start,
            fixed,
            options: &[],
            payload: &body[MIN_HEADER_LEN..],
            checksum_ok: checksum::verify_array(fixed),
            quoted: false,
        };
        Some((rest, view))
    }

    /// The packet almost every capture carries: [`View::plain`], carrying
    /// a whole ICMP message (not a fragment) whose 8-byte head is there.
    /// `None` otherwise; both views are then made the general way.
    #[inline(always)]
    pub(crate) fn plain_icmp(
        start: parse::Input<'a>,
    ) -> Option<(parse::Input<'a>, Self, icmp::View<'a>)> {
        let (rest, view) = Self::plain(start)?;
        if !view.carries_icmp() {
            return None;
        }
        Some((rest, view, icmp::View::plain(view.payload)?))
    }

    /// Any packet, or the error that says what is wrong with it.
    #[inline(always)]
    pub(crate) fn parse_any(start: parse::Input<'a>, quoted: bool) -> parse::Result<'a, Self> {
        within(Self::context(quoted), start, Self::read(start, quoted))
    }

    /// What errors inside this packet say they were parsing.
    #[inline(always)]
    pub(crate) fn what(&self) -> &'static str {
        Self::context(self.quoted)
    }

    #[inline(always)]
    fn context(quoted: bool) -> &'static str {
        if quoted {
            "quoted IPv4 packet"
        } else {
            "IPv4 packet"
        }
    }

    #[inline(always)]
    fn read(start: parse::Input<'a>, quoted: bool) -> parse::Result<'a, Self> {
        let (_, fixed) = parse::array::<MIN_HEADER_LEN>(start)?;
        let word0 = Bits::from_bytes([fixed[0], fixed[1]]);
        let version = word0.get_bits(0, 4);
        let ihl = word0.get_bits(4, 4);
        if version != 4 {
            return invalid(start, "version is not 4");
        }
        let header_len = usize::from(ihl) * 4;
        if header_len < MIN_HEADER_LEN {
            return invalid(start, "header length (IHL) is below 5 words");
        }
        let length = u16::from_be_bytes([fixed[2], fixed[3]]);
        if usize::from(length) < header_len {
            return invalid(start, "total length is shorter than the header");
        }
        let Some(header) = start.get(..header_len) else {
            return within("options", start, parse::truncated(start, header_len));
        };
        let end = if usize::from(length) <= start.len() {
            usize::from(length)
        } else if quoted {
            start.len()
        } else {
            return invalid(start, "total length runs past the end of the frame");
        };
        let (body, rest) = start.split_at(end);
        let view = View {
            start,
            fixed,
            options: &header[MIN_HEADER_LEN..],
            payload: &body[header_len..],
            // Without options the length is a constant: no loop.
            checksum_ok: if header_len == MIN_HEADER_LEN {
                checksum::verify_array(fixed)
            } else {
                checksum::verify(header)
            },
            quoted,
        };
        Ok((rest, view))
    }

    #[inline(always)]
    fn word0(&self) -> Bits<2> {
        Bits::from_bytes([self.fixed[0], self.fixed[1]])
    }

    #[inline(always)]
    fn word3(&self) -> Bits<2> {
        Bits::from_bytes([self.fixed[6], self.fixed[7]])
    }

    /// Version: 4.
    #[inline]
    #[must_use]
    pub fn version(&self) -> u8 {
        self.word0().get_bits(0, 4) as u8
    }

    /// Header length in 32-bit words.
    #[inline]
    #[must_use]
    pub fn ihl(&self) -> u8 {
        self.word0().get_bits(4, 4) as u8
    }

    /// Differentiated Services Code Point (6 bits).
    #[inline]
    #[must_use]
    pub fn dscp(&self) -> u8 {
        self.word0().get_bits(8, 6) as u8
    }

    /// Explicit Congestion Notification (2 bits).
    #[inline]
    #[must_use]
    pub fn ecn(&self) -> u8 {
        self.word0().get_bits(14, 2) as u8
    }

    /// Total length, as on the wire (for a quote, possibly more than the
    /// input held).
    #[inline]
    pub fn length(&self) -> u16 {
        u16::from_be_bytes([self.fixed[2], self.fixed[3]])
    }

    /// Identification.
    #[inline]
    pub fn identification(&self) -> u16 {
        u16::from_be_bytes([self.fixed[4], self.fixed[5]])
    }

    /// Flags (3 bits): reserved, [`DONT_FRAGMENT`], [`MORE_FRAGMENTS`].
    #[inline]
    #[must_use]
    pub fn flags(&self) -> u8 {
        self.word3().get_bits(0, 3) as u8
    }

    /// Fragment offset in 8-byte units (13 bits).
    #[inline]
    #[must_use]
    pub fn fragment_offset(&self) -> u16 {
        self.word3().get_bits(3, 13)
    }

    /// Whether this is a fragment (More Fragments set, or a non-zero offset).
    #[inline]
    pub fn is_fragment(&self) -> bool {
        // The same test as [`Packet::is_fragment`], on the word as it is:
        // More Fragments is its bit 13, the offset its low 13 bits. Asked of
        // every packet, so no field is unpacked for it.
        let word3 = u16::from_be_bytes([self.fixed[6], self.fixed[7]]);
        word3 & FRAGMENT_BITS != 0
    }

    /// Time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.fixed[8]
    }

    /// Protocol of the payload.
    #[inline]
    pub fn protocol(&self) -> Protocol {
        Protocol::from(self.fixed[9])
    }

    /// Header checksum, as on the wire.
    #[inline]
    pub fn checksum(&self) -> u16 {
        u16::from_be_bytes([self.fixed[10], self.fixed[11]])
    }

    /// Whether the header checksum is correct. A packet with a wrong one
    /// must not be believed.
    #[inline]
    pub fn checksum_ok(&self) -> bool {
        self.checksum_ok
    }

    /// Source address.
    #[inline]
    pub fn src(&self) -> Addr {
        let f = self.fixed;
        Addr([f[12], f[13], f[14], f[15]])
    }

    /// Destination address.
    #[inline]
    pub fn dst(&self) -> Addr {
        let f = self.fixed;
        Addr([f[16], f[17], f[18], f[19]])
    }

    /// The options, raw.
    #[inline]
    pub fn options(&self) -> &'a [u8] {
        self.options
    }

    /// The bytes after the header, up to the total length (for a quote, as
    /// many as were quoted).
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// Whether [`Packet::parse`] would parse the payload as an ICMP message:
    /// protocol ICMP, not a fragment, not a quote.
    #[inline(always)]
    pub fn carries_icmp(&self) -> bool {
        !self.quoted && self.protocol() == Protocol::ICMP && !self.is_fragment()
    }

    /// The packet as a value, exactly what [`Packet::parse`] (or, for a
    /// quote, [`Packet::parse_quoted`]) gives: its ICMP, TCP or UDP payload
    /// parsed.
    ///
    /// # Errors
    ///
    /// An ICMP, TCP or UDP payload that does not parse, reported inside
    /// this packet's context ("IPv4 packet > TCP segment: ...").
    #[inline(always)]
    pub fn to_packet(&self) -> std::result::Result<Packet<'a>, parse::Error<'a>> {
        if self.carries_icmp() {
            let (_, message) = within(self.what(), self.start, icmp::View::parse(self.payload))?;
            Ok(self.with_payload(Payload::ICMP(message.to_packet())))
        } else {
            let (_, payload) = self.parse_payload()?;
            Ok(self.with_payload(payload))
        }
    }

    /// The payload as [`Packet::parse`] gives it, an error in it reported
    /// inside this packet's context. The rest is empty.
    ///
    /// Always inlined: out of line, its result was built in a temporary and
    /// moved into the frame (`ethernet::Frame::parse`), ~40 instructions
    /// for a TCP segment.
    #[inline(always)]
    pub(crate) fn parse_payload(&self) -> parse::Result<'a, Payload<'a>> {
        let end = &self.payload[self.payload.len()..];
        if self.quoted || self.is_fragment() {
            return Ok((end, Payload::Unknown(Blob::from(self.payload))));
        }
        let (src, dst) = (self.src(), self.dst());
        match self.protocol() {
            Protocol::ICMP => {
                let (_, message) =
                    within(self.what(), self.start, icmp::View::parse(self.payload))?;
                Ok((end, Payload::ICMP(message.to_packet())))
            }
            Protocol::TCP => {
                let (_, segment) = within(
                    self.what(),
                    self.start,
                    tcp::View::parse(self.payload, src, dst),
                )?;
                Ok((end, Payload::TCP(segment.to_packet())))
            }
            Protocol::UDP => {
                let (rest, datagram) = within(
                    self.what(),
                    self.start,
                    udp::View::parse(self.payload, src, dst),
                )?;
                if rest.is_empty() {
                    Ok((end, Payload::UDP(datagram.to_packet())))
                } else {
                    Ok((end, Payload::Unknown(Blob::from(self.payload))))
                }
            }
            _ => Ok((end, Payload::Unknown(Blob::from(self.payload)))),
        }
    }

    /// The packet around `payload`.
    #[inline(always)]
    pub(crate) fn with_payload(&self, payload: Payload<'a>) -> Packet<'a> {
        Packet {
            version: self.version(),
            ihl: self.ihl(),
            dscp: self.dscp(),
            ecn: self.ecn(),
            length: self.length(),
            identification: self.identification(),
            flags: self.flags(),
            fragment_offset: self.fragment_offset(),
            ttl: self.ttl(),
            protocol: self.protocol(),
            checksum: self.checksum(),
            checksum_ok: self.checksum_ok,
            src: self.src(),
            dst: self.dst(),
            options: Blob::from(self.options),
            payload,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fixtures;
    use crate::wire::parse::run;
    use crate::wire::BuildError;

    fn ip(frame: &[u8]) -> Packet<'_> {
        run(&frame[14..], Packet::parse).expect("fixture parses")
    }

    /// A view reads what the parsed packet holds, for every IPv4 capture and
    /// for every quote inside the ICMP errors; a damaged header fails the
    /// same way for both.
    #[test]
    fn view_reads_what_parse_reads() {
        fn same(name: &str, view: &View<'_>, p: &Packet<'_>) {
            assert_eq!(view.version(), p.version, "{name}");
            assert_eq!(view.ihl(), p.ihl, "{name}");
            assert_eq!(view.dscp(), p.dscp, "{name}");
            assert_eq!(view.ecn(), p.ecn, "{name}");
            assert_eq!(view.length(), p.length, "{name}");
            assert_eq!(view.identification(), p.identification, "{name}");
            assert_eq!(view.flags(), p.flags, "{name}");
            assert_eq!(view.fragment_offset(), p.fragment_offset, "{name}");
            assert_eq!(view.is_fragment(), p.is_fragment(), "{name}");
            assert_eq!(view.ttl(), p.ttl, "{name}");
            assert_eq!(view.protocol(), p.protocol, "{name}");
            assert_eq!(view.checksum(), p.checksum, "{name}");
            assert_eq!(view.checksum_ok(), p.checksum_ok, "{name}");
            assert_eq!((view.src(), view.dst()), (p.src, p.dst), "{name}");
            assert_eq!(view.options(), &p.options[..], "{name}");
            assert_eq!(view.to_packet().as_ref(), Ok(p), "{name}");
        }
        let mut quotes = 0;
        for (name, frame) in fixtures::all() {
            let Ok((rest, view)) = View::parse(&frame[14..]) else {
                continue;
            };
            let (packet_rest, packet) = Packet::parse(&frame[14..]).expect("parses");
            assert_eq!(rest, packet_rest, "{name}");
            assert_eq!(view.payload().len(), packet.payload.len(), "{name}");
            same(name, &view, &packet);
            if let Payload::ICMP(message) = &packet.payload {
                if message.header.is_error() {
                    let (_, quoted) = View::parse_quoted(&message.payload).expect("quote");
                    let (_, original) = Packet::parse_quoted(&message.payload).expect("quote");
                    let Payload::Unknown(raw) = &original.payload else {
                        panic!("{name}: a quote's payload stays raw");
                    };
                    assert_eq!(quoted.payload(), &raw[..], "{name}");
                    same(name, &quoted, &original);
                    quotes += 1;
                }
            }
        }
        assert_eq!(
            quotes, 3,
            "the net and port unreachable and time-exceeded captures"
        );
        let mut bad = fixtures::echo_request()[14..].to_vec();
        bad[0] = 0x55;
        assert_eq!(
            run(&bad, View::parse).unwrap_err(),
            run(&bad, Packet::parse).unwrap_err()
        );
    }

    #[test]
    fn echo_request_header_fields() {
        let p = ip(fixtures::echo_request());
        assert_eq!(p.version, 4);
        assert_eq!(p.ihl, 5);
        assert_eq!((p.dscp, p.ecn), (0, 0));
        assert_eq!(p.length, 84);
        assert_eq!(p.identification, 0x0141);
        assert_eq!(p.flags, DONT_FRAGMENT);
        assert!(p.dont_fragment() && !p.is_fragment());
        assert_eq!(p.fragment_offset, 0);
        assert_eq!(p.ttl, 64);
        assert_eq!(p.protocol, Protocol::ICMP);
        assert_eq!((p.checksum, p.checksum_ok), (0x21cb, true));
        assert_eq!(p.src, Addr([10, 77, 1, 2]));
        assert_eq!(p.dst, "10.77.2.2".parse().unwrap());
        assert!(p.options.is_empty());
        assert!(matches!(p.payload, Payload::ICMP(_)));
    }

    #[test]
    fn reply_from_behind_the_gateway_has_ttl_63() {
        let p = ip(fixtures::echo_reply());
        assert_eq!((p.ttl, p.flags, p.identification), (63, 0, 0x565c));
        assert_eq!((p.checksum, p.checksum_ok), (0x0db0, true));
    }

    #[test]
    fn error_message_header_has_dscp_cs6() {
        let p = ip(fixtures::dest_unreachable());
        assert_eq!((p.dscp, p.ecn), (48, 0));
        assert_eq!((p.length, p.checksum, p.checksum_ok), (112, 0x199b, true));
    }

    #[test]
    fn record_route_options_are_kept() {
        let p = ip(fixtures::options_request());
        assert_eq!(p.ihl, 15);
        assert_eq!(p.length, 124);
        assert_eq!(p.options.len(), 40);
        // NOP, then Record Route: type 7, length 39, pointer 8 (our own address in slot 1).
        assert_eq!(&p.options[..4], &[1, 7, 39, 8]);
        assert_eq!(&p.options[4..8], &[10, 77, 1, 2]);
        assert!(p.checksum_ok);
        let reply = ip(fixtures::options_reply());
        assert_eq!(&reply.options[..3], &[7, 39, 24]);
        assert_eq!(reply.options[39], 0, "End of Option List");
        let Payload::ICMP(icmp) = &reply.payload else {
            panic!("{reply:?}")
        };
        assert_eq!(icmp.len(), 64);
    }

    #[test]
    fn total_length_bounds_the_packet() {
        let frame = fixtures::padded_request();
        let (rest, p) = Packet::parse(&frame[14..]).unwrap();
        assert_eq!(p.length, 28);
        assert_eq!(rest, &[0u8; 18]);
        assert_eq!(p.len(), 28);
    }

    #[test]
    fn damaged_header_is_detected_not_hidden() {
        let mut frame = fixtures::echo_reply().to_vec();
        frame[14 + 8] = 200; // TTL changed in flight, checksum not updated
        let p = ip(&frame);
        assert_eq!(p.ttl, 200);
        assert!(!p.checksum_ok);
        assert_eq!(p.checksum, 0x0db0);
    }

    #[test]
    fn impossible_headers_are_errors() {
        let good = &fixtures::echo_request()[14..];
        let err = |bytes: &[u8]| run(bytes, Packet::parse).unwrap_err().to_string();
        let mut b = good.to_vec();
        b[0] = 0x65;
        assert_eq!(err(&b), "IPv4 packet: version is not 4 (at byte 0)");
        b[0] = 0x44;
        assert_eq!(
            err(&b),
            "IPv4 packet: header length (IHL) is below 5 words (at byte 0)"
        );
        let mut b = good.to_vec();
        b[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert_eq!(
            err(&b),
            "IPv4 packet: total length is shorter than the header (at byte 0)"
        );
        let mut b = good[..30].to_vec();
        b[0] = 0x46;
        b[2..4].copy_from_slice(&30u16.to_be_bytes());
        assert_eq!(
            err(&b[..22]),
            "IPv4 packet > options: needs 24 bytes, has 22 (at byte 0)"
        );
        assert_eq!(
            err(&good[..19]),
            "IPv4 packet: needs 20 bytes, has 19 (at byte 0)"
        );
    }

    #[test]
    fn fragments_keep_their_payload_raw() {
        let mut b = fixtures::echo_request()[14..].to_vec();
        b[6] |= 0x20; // More Fragments
        b[10..12].copy_from_slice(&[0, 0]);
        let sum = checksum::of(&b[..20]);
        b[10..12].copy_from_slice(&sum.to_be_bytes());
        let (_, p) = Packet::parse(&b).unwrap();
        assert!(p.checksum_ok);
        assert!(p.is_fragment());
        assert_eq!(p.payload, Payload::Unknown(Blob::from(&b[20..])));
        assert_eq!(p.to_vec().unwrap(), b);
    }

    #[test]
    fn into_packet_is_like_windows() {
        let payload = Payload::Unknown(Blob::from(&[1u8, 2, 3]));
        let a = payload
            .clone()
            .into_packet(Addr([1, 2, 3, 4]), Addr([5, 6, 7, 8]));
        assert_eq!(a.ttl, 128);
        assert_eq!(a.len(), 23);
        let bytes = a.to_vec().unwrap();
        assert_eq!(bytes[..4], [0x45, 0, 0, 23]);
        assert!(checksum::verify(&bytes[..20]));
        // Identifications are random: 8 packets are not all alike.
        let ids: std::collections::HashSet<u16> = (0..8)
            .map(|_| payload.clone().into_packet(a.src, a.dst).identification)
            .collect();
        assert!(ids.len() > 1);
    }

    #[test]
    fn identifications_are_spread_and_differ_between_threads() {
        fn draw(n: usize) -> Vec<u16> {
            (0..n).map(|_| random_identification()).collect()
        }
        // 4,096 draws from 65,536 values: ~123 repeats expected if uniform;
        // a stuck or short-period generator would repeat far more.
        let many = draw(4096);
        let distinct: std::collections::HashSet<_> = many.iter().collect();
        assert!(distinct.len() > 3800, "{} distinct", distinct.len());
        // Every bit of the identification takes both values.
        let (or, and) = many
            .iter()
            .fold((0, u16::MAX), |(o, a), &id| (o | id, a & id));
        assert_eq!((or, and), (u16::MAX, 0));
        // Each thread seeds its own generator.
        let other = std::thread::spawn(|| draw(16)).join().expect("thread");
        assert_ne!(draw(16), other);
    }

    #[test]
    fn options_are_padded_and_limited() {
        let mut p =
            Payload::Unknown(Blob::empty()).into_packet(Addr([1, 1, 1, 1]), Addr([2, 2, 2, 2]));
        p.options = Blob::from(&[0x94u8, 4, 0, 0, 1][..]);
        let bytes = p.to_vec().unwrap();
        assert_eq!(bytes[0], 0x47);
        assert_eq!(&bytes[20..28], &[0x94, 4, 0, 0, 1, 0, 0, 0]);
        assert!(checksum::verify(&bytes[..28]));
        p.options = Blob::from(vec![1u8; 41]);
        assert_eq!(
            p.to_vec(),
            Err(BuildError::TooLong {
                what: "IPv4 options",
                len: 41,
                max: 40
            })
        );
        p.options = Blob::empty();
        p.payload = Payload::Unknown(Blob::from(vec![0u8; 65516]));
        assert_eq!(
            p.to_vec(),
            Err(BuildError::TooLong {
                what: "IPv4 packet",
                len: 65536,
                max: 65535
            })
        );
        p.payload = Payload::Unknown(Blob::from(vec![0u8; 65515]));
        assert_eq!(p.to_vec().unwrap().len(), 65535);
    }

    #[test]
    fn fragments_cut_at_multiples_of_8_and_reassemble() {
        let data: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        let mut p = icmp::Echo {
            identifier: 1,
            sequence_number: 2,
        }
        .into_echo_request(Blob::from(data))
        .into_ipv4_payload()
        .into_packet(Addr([10, 0, 0, 1]), Addr([10, 0, 0, 2]));
        // A copied option (Security-like type 0x82) and a not-copied one (Record Route).
        p.options = Blob::from(vec![0x82, 4, 0, 0, 7, 7, 4, 0, 0, 0, 0, 0]);
        let whole = p.to_vec().unwrap();
        let frags = p.fragments(1500).unwrap();
        assert_eq!(frags.len(), 3);
        let mut joined = Vec::new();
        for (i, f) in frags.iter().enumerate() {
            let bytes = f.to_vec().unwrap();
            assert!(bytes.len() <= 1500);
            assert_eq!(f.identification, p.identification);
            assert!(f.is_fragment());
            let last = i == frags.len() - 1;
            assert_eq!(f.flags & 1 == 1, !last);
            assert_eq!(usize::from(f.fragment_offset) * 8, joined.len());
            let expected_options: &[u8] = if i == 0 { &p.options } else { &[0x82, 4, 0, 0] };
            assert_eq!(&*f.options, expected_options);
            let (_, back) = Packet::parse(&bytes).unwrap();
            assert!(back.checksum_ok);
            if !last {
                assert_eq!(f.payload.len() % 8, 0);
            }
            let Payload::Unknown(b) = &f.payload else {
                panic!()
            };
            joined.extend_from_slice(b);
        }
        assert_eq!(joined, &whole[p.header_len()..]);
        // Fits: one piece, unchanged.
        assert_eq!(p.fragments(65535).unwrap(), vec![p.clone()]);
        assert_eq!(p.fragments(27), Err(BuildError::CannotFragment { mtu: 27 }));
        // Offsets past 13 bits are refused, not cut.
        let mut late = p.clone();
        late.fragment_offset = MAX_FRAGMENT_OFFSET - 8;
        assert_eq!(
            late.fragments(1500),
            Err(BuildError::CannotFragment { mtu: 1500 })
        );
    }

    /// Bit fields over their width are refused, each by its name, never
    /// cut; the widest values that fit go out as they are.
    #[test]
    fn fields_wider_than_the_header_are_refused() {
        let base =
            Payload::Unknown(Blob::empty()).into_packet(Addr([1, 1, 1, 1]), Addr([2, 2, 2, 2]));
        let mut widest = base.clone();
        (
            widest.dscp,
            widest.ecn,
            widest.flags,
            widest.fragment_offset,
        ) = (63, 3, 7, 0x1fff);
        let bytes = widest.to_vec().expect("fits");
        assert_eq!(&bytes[..2], &[0x45, 0xff]);
        assert_eq!(&bytes[6..8], &[0xff, 0xff]);
        let mut buf = [0u8; 20];
        type Set = fn(&mut Packet<'_>);
        let cases: [(Set, &str, u16, u16); 5] = [
            (|p| p.version = 16, "version", 16, 15),
            (|p| p.dscp = 0xb8, "dscp", 0xb8, 63),
            (|p| p.ecn = 4, "ecn", 4, 3),
            (|p| p.flags = 8, "flags", 8, 7),
            (
                |p| p.fragment_offset = 0x2000,
                "fragment_offset",
                0x2000,
                0x1fff,
            ),
        ];
        for (set, field, value, max) in cases {
            let mut p = base.clone();
            set(&mut p);
            let refused = Err(BuildError::OutOfRange { field, value, max });
            assert_eq!(p.to_vec(), refused, "{field}");
            assert_eq!(
                p.to_slice(&mut buf).map(|_| ()),
                refused.map(|_: Vec<u8>| ())
            );
        }
        // IHL is computed, whatever the field holds.
        let mut p = base.clone();
        p.ihl = 200;
        assert_eq!(p.to_vec().expect("ihl is not written")[0], 0x45);
    }

    /// The renamed builder: the old name gives the same packet.
    #[test]
    #[allow(deprecated)]
    fn deprecated_names_build_the_same_bytes() {
        let payload = Payload::Unknown(Blob::from(&[9u8, 8, 7][..]));
        let (src, dst) = (Addr([10, 0, 0, 1]), Addr([10, 0, 0, 2]));
        let mut old = payload.clone().as_packet(src, dst);
        let new = payload.into_packet(src, dst);
        old.identification = new.identification;
        assert_eq!(old.to_vec(), new.to_vec());
        let old_frame = old.clone().as_ethernet_payload();
        assert_eq!(old_frame, new.clone().into_ethernet_payload());
        assert_eq!(old_frame, ethernet::Payload::from(new));
    }

    #[test]
    fn payloads_convert_with_from() {
        let (src, dst) = (Addr([10, 0, 0, 1]), Addr([10, 0, 0, 2]));
        let message = icmp::Echo::default().into_echo_request(Blob::empty());
        assert_eq!(Payload::from(message.clone()), message.into_ipv4_payload());
        let segment =
            tcp::Packet::new(1, 2, 3, 4, tcp::Flags::SYN, 5, Blob::empty(), Blob::empty());
        assert_eq!(Payload::from(segment.clone()), segment.into_ipv4_payload());
        let datagram = udp::Packet::new(1, 2, Blob::empty());
        assert_eq!(
            Payload::from(datagram.clone()).to_vec(src, dst),
            datagram.to_vec(src, dst)
        );
    }

    #[test]
    fn addr_text_and_std_conversions() {
        let a: Addr = "8.8.8.8".parse().unwrap();
        assert_eq!(a.to_string(), "8.8.8.8");
        assert_eq!(Ipv4Addr::from(a), Ipv4Addr::new(8, 8, 8, 8));
        assert_eq!(Addr::from(Ipv4Addr::new(10, 0, 0, 1)), Addr([10, 0, 0, 1]));
        for bad in ["", "8.8.8", "8.8.8.256", "08.8.8.8", "8.8.8.8 ", "host.lab"] {
            let e = bad.parse::<Addr>().unwrap_err();
            assert_eq!(e, ParseAddrError(bad.to_string()));
            assert!(e.to_string().contains("is not an IPv4 address"));
        }
    }

    #[test]
    fn unknown_protocols_keep_their_number() {
        let mut b = fixtures::echo_request()[14..].to_vec();
        b[9] = 253;
        let (_, p) = Packet::parse(&b).unwrap();
        assert_eq!(p.protocol, Protocol::Other(253));
        assert_eq!(u8::from(p.protocol), 253);
        assert!(matches!(p.payload, Payload::Unknown(_)));
        assert!(!p.checksum_ok);
    }
}
