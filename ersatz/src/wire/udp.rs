//! UDP (RFC 768): the datagram with every header field.
//!
//! The length field bounds the datagram: bytes after it are not payload (they
//! are left to the caller as the rest of the input). The checksum covers the
//! IPv4 pseudo-header (source and destination address, protocol 17, length),
//! so parsing and serializing take the two addresses. A checksum of zero
//! means that the sender computed none: it is then not verified, and a
//! checksum that computes to zero goes out as `ffff`.

use std::io::Write;

use cookie_factory::{GenError, SerializeFn, WriteContext};

use super::blob::Blob;
use super::checksum::Checksum;
use super::ipv4;
use super::parse::{self, invalid, within};
use super::serialize::{self, put};

/// What errors inside a datagram say they were parsing.
const CONTEXT: &str = "UDP datagram";

/// Length of the header.
pub const HEADER_LEN: usize = 8;
/// The checksum field of a datagram sent without a checksum (RFC 768).
pub const NO_CHECKSUM: u16 = 0;
/// The IP protocol number, as it goes into the pseudo-header.
const PROTOCOL: u8 = 17;

/// The one's complement sum of the IPv4 pseudo-header of a datagram of
/// `len` bytes.
#[inline(always)]
fn pseudo_header(src: ipv4::Addr, dst: ipv4::Addr, len: u16) -> Checksum {
    let mut sum = Checksum::new();
    sum.add_u64(u64::from(u32::from_be_bytes(src.0)) << 32 | u64::from(u32::from_be_bytes(dst.0)))
        .add_u32(u32::from(PROTOCOL) << 16 | u32::from(len));
    sum
}

/// A UDP datagram, every header field as it was on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Length of header and payload, as parsed (computed on output).
    pub length: u16,
    /// Checksum as parsed. On output [`NO_CHECKSUM`] (0) is written as it is,
    /// a datagram without a checksum, as parsing one gives; any other value
    /// is replaced by the computed checksum (`ffff` where that is zero).
    /// [`Packet::new`] asks for one.
    pub checksum: u16,
    /// Whether the parsed checksum was correct (always true for
    /// [`NO_CHECKSUM`], which is not verified). A damaged datagram is still
    /// returned so that it can be reported; it must not be believed.
    pub checksum_ok: bool,
    /// The data after the header, up to the length.
    pub payload: Blob<'a>,
}

impl<'a> Packet<'a> {
    /// A datagram from `src_port` to `dst_port` carrying `payload`, with a
    /// checksum to be computed (the field is set to `ffff`: see
    /// [`Packet::checksum`]).
    #[inline]
    pub fn new(src_port: u16, dst_port: u16, payload: Blob<'a>) -> Self {
        Packet {
            src_port,
            dst_port,
            length: (HEADER_LEN + payload.len()).min(usize::from(u16::MAX)) as u16,
            checksum: 0xffff,
            checksum_ok: true,
            payload,
        }
    }

    /// Length on the wire: header and payload.
    pub fn len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }

    /// Never true: a datagram has at least its header.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// This datagram as the payload of an IPv4 packet.
    #[inline]
    pub fn into_ipv4_payload(self) -> ipv4::Payload<'a> {
        ipv4::Payload::UDP(self)
    }

    /// Detaches the datagram from the buffer it was parsed from.
    pub fn into_owned(self) -> Packet<'static> {
        Packet {
            payload: self.payload.into_owned(),
            ..self
        }
    }

    /// Parses a datagram sent from `src` to `dst`, bounded by its length
    /// field (what follows is returned as the remaining input), and
    /// verifies its checksum unless it is [`NO_CHECKSUM`]: the verdict is
    /// `checksum_ok`, a wrong checksum is not an error. Fails for fewer
    /// than 8 bytes, and for a length below 8 or past the input.
    #[inline]
    pub fn parse(i: parse::Input<'a>, src: ipv4::Addr, dst: ipv4::Addr) -> parse::Result<'a, Self> {
        let (rest, view) = View::parse(i, src, dst)?;
        Ok((rest, view.to_packet()))
    }

    /// Writes the datagram as sent from `src` to `dst`, computing the length
    /// and (unless `checksum` is [`NO_CHECKSUM`]) the checksum.
    ///
    /// Fails with `GenError::CustomError(`[`serialize::PACKET_TOO_LONG`]`)`
    /// for a datagram over 65,535 bytes.
    pub fn serialize<'s, W: Write + 's>(
        &'s self,
        src: ipv4::Addr,
        dst: ipv4::Addr,
    ) -> impl SerializeFn<W> + 's {
        serialize::in_place(move |out| self.write_to(out, src, dst))
    }

    /// Writes the datagram into a context held by reference (see
    /// [`serialize::in_place`]).
    #[inline(always)]
    pub(crate) fn write_to<W: Write>(
        &self,
        out: &mut WriteContext<W>,
        src: ipv4::Addr,
        dst: ipv4::Addr,
    ) -> Result<(), GenError> {
        put(out, &self.head(src, dst)?.to_be_bytes())?;
        put(out, &self.payload)
    }

    /// The 8-byte header as it goes on the wire, as one big-endian value.
    #[inline(always)]
    fn head(&self, src: ipv4::Addr, dst: ipv4::Addr) -> Result<u64, GenError> {
        let Ok(len) = u16::try_from(self.len()) else {
            return Err(GenError::CustomError(serialize::PACKET_TOO_LONG));
        };
        let head =
            u64::from(self.src_port) << 48 | u64::from(self.dst_port) << 32 | u64::from(len) << 16;
        let checksum = if self.checksum == NO_CHECKSUM {
            NO_CHECKSUM
        } else {
            match pseudo_header(src, dst, len)
                .add_u64(head)
                .add(&self.payload)
                .finish()
            {
                // Zero says "no checksum": RFC 768 sends its other form.
                0 => 0xffff,
                sum => sum,
            }
        };
        Ok(head | u64::from(checksum))
    }

    /// The datagram's bytes as sent from `src` to `dst`, in a new vector.
    pub fn to_vec(&self, src: ipv4::Addr, dst: ipv4::Addr) -> Result<Vec<u8>, GenError> {
        serialize::to_vec_sized(self.serialize(src, dst), self.len())
    }

    /// Writes the datagram as sent from `src` to `dst` to the front of `buf`
    /// (nothing is allocated) and says how many bytes it took. Fails with
    /// `GenError::BufferTooSmall` if it does not fit.
    pub fn to_slice(
        &self,
        buf: &mut [u8],
        src: ipv4::Addr,
        dst: ipv4::Addr,
    ) -> Result<usize, GenError> {
        serialize::to_slice(
            |out: WriteContext<serialize::SliceWriter<'_>>| self.serialize(src, dst)(out),
            buf,
        )
    }
}

/// A checked UDP datagram in a buffer: the 8-byte header is there, its
/// length is at least 8 and within the input, the checksum (pseudo-header
/// included) is verified unless it is [`NO_CHECKSUM`]; every field is read
/// from the buffer when asked (see [`ipv4::View`] for why views).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View<'a> {
    head: &'a [u8; HEADER_LEN],
    payload: &'a [u8],
    checksum_ok: bool,
}

impl<'a> View<'a> {
    /// Checks a datagram sent from `src` to `dst` and verifies its checksum;
    /// the rest is what follows its length. Fails as [`Packet::parse`]
    /// does, with the same messages.
    #[inline(always)]
    pub fn parse(i: parse::Input<'a>, src: ipv4::Addr, dst: ipv4::Addr) -> parse::Result<'a, Self> {
        match Self::plain(i, src, dst) {
            Some(done) => Ok(done),
            None => Self::parse_other(i),
        }
    }

    /// The checks of [`View::parse`]: `None` where it fails.
    #[inline(always)]
    fn plain(
        i: parse::Input<'a>,
        src: ipv4::Addr,
        dst: ipv4::Addr,
    ) -> Option<(parse::Input<'a>, Self)> {
        let (head, _) = i.split_first_chunk::<HEADER_LEN>()?;
        let length = u16::from_be_bytes([head[4], head[5]]);
        if usize::from(length) < HEADER_LEN || usize::from(length) > i.len() {
            return None;
        }
        let (datagram, rest) = i.split_at(usize::from(length));
        let checksum = u16::from_be_bytes([head[6], head[7]]);
        let checksum_ok =
            checksum == NO_CHECKSUM || pseudo_header(src, dst, length).add(datagram).finish() == 0;
        let view = View {
            head,
            payload: &datagram[HEADER_LEN..],
            checksum_ok,
        };
        Some((rest, view))
    }

    /// What is wrong with a datagram [`View::plain`] turned down, out of line.
    #[cold]
    #[inline(never)]
    fn parse_other(i: parse::Input<'a>) -> parse::Result<'a, Self> {
        within(CONTEXT, i, Self::explain(i))
    }

    fn explain(i: parse::Input<'a>) -> parse::Result<'a, Self> {
        let (_, head) = parse::array::<HEADER_LEN>(i)?;
        let length = usize::from(u16::from_be_bytes([head[4], head[5]]));
        if length < HEADER_LEN {
            return invalid(i, "length is below 8 bytes");
        }
        invalid(i, "length runs past the end of the input")
    }

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        u16::from_be_bytes([self.head[0], self.head[1]])
    }

    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        u16::from_be_bytes([self.head[2], self.head[3]])
    }

    /// Length of header and payload, as on the wire.
    #[inline]
    pub fn length(&self) -> u16 {
        u16::from_be_bytes([self.head[4], self.head[5]])
    }

    /// Checksum, as on the wire ([`NO_CHECKSUM`] for none).
    #[inline]
    pub fn checksum(&self) -> u16 {
        u16::from_be_bytes([self.head[6], self.head[7]])
    }

    /// Whether the checksum is correct (true when there is none). A damaged
    /// datagram must not be believed.
    #[inline]
    pub fn checksum_ok(&self) -> bool {
        self.checksum_ok
    }

    /// The data after the header, up to the length.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// The datagram as a value, exactly what [`Packet::parse`] gives.
    #[inline(always)]
    pub fn to_packet(&self) -> Packet<'a> {
        Packet {
            src_port: self.src_port(),
            dst_port: self.dst_port(),
            length: self.length(),
            checksum: self.checksum(),
            checksum_ok: self.checksum_ok,
            payload: Blob::from(self.payload),
        }
    }
}
