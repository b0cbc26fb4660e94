//! UDP (RFC 768): the datagram with every header field.
//!
//! The length field bounds the datagram: bytes after it are not payload (they
//! are left to the caller as the rest of the input). The checksum covers the
//! IPv4 pseudo-header (source and destination address, protocol 17, length),
//! so parsing and serializing take the two addresses. A checksum of zero
//! means that the sender computed none: it is then not verified, and a
//! checksum that computes to zero goes out as `ffff`.

use std::io::Write;

use cookie_factory::WriteContext;

use super::blob::Blob;
use super::checksum::Checksum;
use super::ipv4;
use super::parse::{self, invalid, within};
use super::serialize::{self, put, too_long, BuildError};

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
    ///
    /// ```
    /// use ersatz::{ipv4, udp, Blob};
    ///
    /// let (src, dst) = (ipv4::Addr([10, 0, 0, 1]), ipv4::Addr([10, 0, 0, 2]));
    /// let datagram = udp::Packet::new(40000, 53, Blob::from(&b"query"[..]));
    /// let bytes = datagram.to_vec(src, dst)?;
    /// assert_eq!(&bytes[..6], &[0x9c, 0x40, 0, 53, 0, 13]);
    ///
    /// let back = ersatz::parse::run(&bytes, |i| udp::Packet::parse(i, src, dst))?;
    /// assert!(back.checksum_ok);
    /// assert_eq!(&back.payload[..], b"query");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    #[must_use]
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
    #[inline]
    #[must_use]
    pub fn len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }

    /// Never true: a datagram has at least its header.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// This datagram as the payload of an IPv4 packet (also
    /// `ipv4::Payload::from(datagram)`).
    #[inline]
    #[must_use]
    pub fn into_ipv4_payload(self) -> ipv4::Payload<'a> {
        ipv4::Payload::UDP(self)
    }

    /// Detaches the datagram from the buffer it was parsed from.
    #[must_use]
    pub fn into_owned(self) -> Packet<'static> {
        Packet {
            payload: self.payload.into_owned(),
            ..self
        }
    }

    /// Parses a datagram sent from `src` to `dst`, bounded by its length
    /// field (what follows is returned as the remaining input), and
    /// verifies its checksum unless it is [`NO_CHECKSUM`]: the verdict is
    /// `checksum_ok`, a wrong checksum is not an error.
    ///
    /// # Errors
    ///
    /// Fewer than 8 bytes, or a length field below 8 or past the input.
    #[inline]
    pub fn parse(i: parse::Input<'a>, src: ipv4::Addr, dst: ipv4::Addr) -> parse::Result<'a, Self> {
        let (rest, view) = View::parse(i, src, dst)?;
        Ok((rest, view.to_packet()))
    }

    /// Writes the datagram as sent from `src` to `dst` into a context held
    /// by reference, computing the length and (unless `checksum` is
    /// [`NO_CHECKSUM`]) the checksum.
    #[inline(always)]
    pub(crate) fn write_to<W: Write>(
        &self,
        out: &mut WriteContext<W>,
        src: ipv4::Addr,
        dst: ipv4::Addr,
    ) -> Result<(), BuildError> {
        put(out, &self.head(src, dst)?.to_be_bytes())?;
        put(out, &self.payload)
    }

    /// The 8-byte header as it goes on the wire, as one big-endian value.
    #[inline(always)]
    fn head(&self, src: ipv4::Addr, dst: ipv4::Addr) -> Result<u64, BuildError> {
        let Ok(len) = u16::try_from(self.len()) else {
            return Err(too_long("UDP datagram", self.len(), usize::from(u16::MAX)));
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

    /// The datagram's bytes as sent from `src` to `dst`, in a new vector:
    /// length and (unless `checksum` is [`NO_CHECKSUM`]) checksum computed.
    ///
    /// # Errors
    ///
    /// [`BuildError::TooLong`] for a datagram over 65,535 bytes.
    pub fn to_vec(&self, src: ipv4::Addr, dst: ipv4::Addr) -> Result<Vec<u8>, BuildError> {
        serialize::to_vec(self.len(), |out| self.write_to(out, src, dst))
    }

    /// Writes the datagram as sent from `src` to `dst` to the front of `buf`
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
    /// the rest is what follows its length.
    ///
    /// # Errors
    ///
    /// As [`Packet::parse`], with the same messages.
    ///
    /// ```
    /// use ersatz::{ipv4, udp, Blob};
    ///
    /// let (src, dst) = (ipv4::Addr([10, 0, 0, 1]), ipv4::Addr([10, 0, 0, 2]));
    /// let mut bytes = udp::Packet::new(1, 2, Blob::from(&b"x"[..])).to_vec(src, dst)?;
    /// bytes.extend_from_slice(&[0; 3]); // padding after the datagram
    /// let (rest, view) = udp::View::parse(&bytes, src, dst).map_err(|e| e.locate(&bytes))?;
    /// assert_eq!((view.length(), view.payload(), rest), (9, &b"x"[..], &[0u8; 3][..]));
    /// assert!(udp::View::parse(&bytes[..7], src, dst).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
    #[must_use]
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fixtures;
    use crate::wire::parse::run;

    const HOST: ipv4::Addr = ipv4::Addr([10, 77, 1, 2]);
    const GW: ipv4::Addr = ipv4::Addr([10, 77, 1, 1]);
    const REMOTE: ipv4::Addr = ipv4::Addr([10, 77, 2, 2]);

    fn datagram(frame: &[u8], src: ipv4::Addr, dst: ipv4::Addr) -> Packet<'_> {
        let ip = &frame[14..];
        let len = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        run(&ip[20..len], |i| Packet::parse(i, src, dst)).expect("fixture parses")
    }

    #[test]
    fn kernel_datagram() {
        let frame = fixtures::udp_datagram();
        let p = datagram(frame, HOST, REMOTE);
        assert_eq!((p.src_port, p.dst_port, p.length), (60152, 33434, 27));
        assert_eq!((p.checksum, p.checksum_ok), (0x2d9a, true));
        assert_eq!(&p.payload[..], b"ersatz udp fixture\n");
        assert_eq!(p.to_vec(HOST, REMOTE).unwrap(), &frame[34..]);
        // Built from its values, it is the kernel's datagram.
        let built = Packet::new(60152, 33434, Blob::from(&b"ersatz udp fixture\n"[..]));
        assert_eq!(built.to_vec(HOST, REMOTE).unwrap(), &frame[34..]);
        let (_, ip) = ipv4::Packet::parse(&frame[14..]).unwrap();
        assert_eq!(ip.payload, ipv4::Payload::UDP(p));
    }

    #[test]
    fn zero_checksum_means_none_and_stays_none() {
        let frame = fixtures::udp_zero_checksum();
        let p = datagram(frame, HOST, GW);
        assert_eq!((p.src_port, p.dst_port, p.length), (40000, 33435, 40));
        assert_eq!((p.checksum, p.checksum_ok), (NO_CHECKSUM, true));
        assert_eq!(&p.payload[..], b"ersatz udp fixture, no checksum\n");
        // Not verified: from any address, and with its data changed.
        let mut bytes = frame[34..].to_vec();
        bytes[12] ^= 0xff;
        let (_, damaged) = Packet::parse(&bytes, REMOTE, REMOTE).unwrap();
        assert!(damaged.checksum_ok);
        // Written back without one.
        assert_eq!(p.to_vec(HOST, GW).unwrap(), &frame[34..]);
        assert_eq!(
            ipv4::Packet::parse(&frame[14..])
                .unwrap()
                .1
                .to_vec()
                .unwrap(),
            &frame[14..]
        );
    }

    #[test]
    fn a_checksum_computing_to_zero_goes_out_as_ffff() {
        // Find a payload whose checksum computes to 0: the word at the end
        // makes the sum whatever it needs to be.
        let mut payload = vec![0u8, 0];
        let zero = Packet::new(1, 2, Blob::from(payload.clone()));
        let bytes = zero.to_vec(HOST, REMOTE).unwrap();
        let sum = u16::from_be_bytes([bytes[6], bytes[7]]);
        // Adding the current checksum to the data brings the sum to ffff:
        // the checksum then computes to zero.
        payload.copy_from_slice(&sum.to_be_bytes());
        let p = Packet::new(1, 2, Blob::from(payload));
        let bytes = p.to_vec(HOST, REMOTE).unwrap();
        assert_eq!(&bytes[6..8], &[0xff, 0xff]);
        let (_, back) = Packet::parse(&bytes, HOST, REMOTE).unwrap();
        assert!(back.checksum_ok);
        assert_eq!(back.to_vec(HOST, REMOTE).unwrap(), bytes);
    }

    #[test]
    fn length_bounds_the_datagram() {
        let frame = fixtures::udp_datagram();
        let mut bytes = frame[34..].to_vec();
        bytes.extend_from_slice(&[0xee; 5]);
        let (rest, p) = Packet::parse(&bytes, HOST, REMOTE).unwrap();
        assert_eq!(rest, &[0xee; 5]);
        assert!(p.checksum_ok);
        assert_eq!(p.len(), 27);
        let (view_rest, view) = View::parse(&bytes, HOST, REMOTE).unwrap();
        assert_eq!(view_rest, rest);
        assert_eq!(
            (
                view.src_port(),
                view.dst_port(),
                view.length(),
                view.checksum()
            ),
            (p.src_port, p.dst_port, p.length, p.checksum)
        );
        assert_eq!((view.checksum_ok(), view.payload()), (true, &p.payload[..]));
        assert_eq!(view.to_packet(), p);
        // In an IPv4 packet, a datagram shorter than the payload is kept raw,
        // every byte of it.
        let mut ip = frame[14..].to_vec();
        ip.extend_from_slice(&[0xee; 5]);
        let total = ip.len() as u16;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        ip[10..12].fill(0);
        let sum = crate::wire::checksum::of(&ip[..20]);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        let (_, packet) = ipv4::Packet::parse(&ip).unwrap();
        assert_eq!(
            packet.payload,
            ipv4::Payload::Unknown(Blob::from(&ip[20..]))
        );
        assert_eq!(packet.to_vec().unwrap(), ip);
    }

    #[test]
    fn impossible_lengths_are_errors() {
        let good = &fixtures::udp_datagram()[34..];
        let err = |bytes: &[u8]| {
            run(bytes, |i| Packet::parse(i, HOST, REMOTE))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(&good[..7]),
            "UDP datagram: needs 8 bytes, has 7 (at byte 0)"
        );
        let mut b = good.to_vec();
        b[4..6].copy_from_slice(&7u16.to_be_bytes());
        assert_eq!(err(&b), "UDP datagram: length is below 8 bytes (at byte 0)");
        b[4..6].copy_from_slice(&28u16.to_be_bytes());
        assert_eq!(
            err(&b),
            "UDP datagram: length runs past the end of the input (at byte 0)"
        );
        for bytes in [&good[..7], &b[..]] {
            assert_eq!(
                run(bytes, |i| View::parse(i, HOST, REMOTE)
                    .map(|(r, _)| (r, ()))),
                run(bytes, |i| Packet::parse(i, HOST, REMOTE)
                    .map(|(r, _)| (r, ())))
            );
        }
        let mut frame = fixtures::udp_datagram().to_vec();
        frame[38..40].copy_from_slice(&0u16.to_be_bytes());
        assert_eq!(
            run(&frame, crate::ethernet::Frame::parse)
                .unwrap_err()
                .to_string(),
            "Ethernet frame > IPv4 packet > UDP datagram: length is below 8 bytes (at byte 34)"
        );
    }

    #[test]
    fn damaged_datagram_is_detected_not_hidden() {
        let frame = fixtures::udp_datagram();
        let mut bytes = frame[34..].to_vec();
        bytes[10] ^= 4;
        let (_, p) = Packet::parse(&bytes, HOST, REMOTE).unwrap();
        assert!(!p.checksum_ok);
        let (_, p) = Packet::parse(&frame[34..], HOST, GW).unwrap();
        assert!(!p.checksum_ok, "the pseudo-header counts");
        assert_eq!(
            Packet::new(1, 2, Blob::from(vec![0u8; 65528])).to_vec(HOST, REMOTE),
            Err(BuildError::TooLong {
                what: "UDP datagram",
                len: 65536,
                max: 65535
            })
        );
        assert_eq!(
            Packet::new(1, 2, Blob::from(vec![0u8; 65527]))
                .to_vec(HOST, REMOTE)
                .map(|v| v.len())
                .ok(),
            Some(65535)
        );
    }
}
