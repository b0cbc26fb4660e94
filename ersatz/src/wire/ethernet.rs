//! Ethernet II frames and MAC addresses.
//!
//! A frame is parsed down to its payload (IPv4 or ARP), and whatever follows
//! the payload's own length (the padding a NIC adds to reach 60 bytes, or a
//! trailer) is kept apart in [`Frame::padding`]: it is never payload, and it is
//! written back as it was.

use std::fmt;
use std::io::Write;
use std::str::FromStr;

use cookie_factory::WriteContext;
use derive_try_from_primitive::TryFromPrimitive;

use super::blob::Blob;
use super::parse::{self, within};
use super::serialize::{self, put, BuildError};
use super::{arp, ipv4};

/// The context of frame parse errors.
const FRAME: &str = "Ethernet frame";

/// Length of the Ethernet II head: destination, source, EtherType.
pub const HEADER_LEN: usize = 14;

/// A MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Addr(pub [u8; 6]);

impl Addr {
    /// `00-00-00-00-00-00`, the unknown target of an ARP request.
    #[must_use]
    pub const fn zero() -> Self {
        Addr([0; 6])
    }

    /// `FF-FF-FF-FF-FF-FF`, every station on the link.
    #[must_use]
    pub const fn broadcast() -> Self {
        Addr([0xff; 6])
    }

    /// Whether this is the broadcast address.
    pub fn is_broadcast(&self) -> bool {
        *self == Self::broadcast()
    }

    /// Whether the group bit is set (multicast or broadcast).
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }

    /// Parses 6 bytes; the rest of the input follows.
    ///
    /// # Errors
    ///
    /// [`parse::Reason::Truncated`] for fewer than 6 bytes.
    ///
    /// ```
    /// use ersatz::ethernet::Addr;
    ///
    /// let (rest, mac) = Addr::parse(&[0x14, 0x0c, 0x76, 0x6a, 0x71, 0xbd, 0x08])?;
    /// assert_eq!((mac.to_string(), rest), ("14-0C-76-6A-71-BD".to_string(), &[0x08][..]));
    /// # Ok::<(), ersatz::parse::Error>(())
    /// ```
    pub fn parse(i: parse::Input<'_>) -> parse::Result<'_, Self> {
        let (i, bytes) = parse::array::<6>(i)?;
        Ok((i, Addr(*bytes)))
    }
}

impl fmt::Display for Addr {
    /// Like Windows: `14-0C-76-6A-71-BD`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02X}-{b:02X}-{c:02X}-{d:02X}-{e:02X}-{g:02X}")
    }
}

impl fmt::Debug for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a string is not a MAC address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a MAC address: expected six hex pairs separated by '-' or ':', like 14-0C-76-6A-71-BD")]
pub struct ParseAddrError(pub String);

impl FromStr for Addr {
    type Err = ParseAddrError;

    /// Accepts `14-0C-76-6A-71-BD` (Windows) and `14:0c:76:6a:71:bd` (Unix),
    /// in either case; one separator throughout.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseAddrError(s.to_string());
        let sep = if s.contains('-') { '-' } else { ':' };
        let mut out = [0u8; 6];
        let mut parts = s.split(sep);
        for byte in out.iter_mut() {
            let part = parts.next().ok_or_else(err)?;
            if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(err());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| err())?;
        }
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(Addr(out))
    }
}

/// The EtherTypes ersatz understands; others are kept raw in
/// [`Payload::Unknown`]. More may be added in later versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, TryFromPrimitive)]
#[repr(u16)]
#[non_exhaustive]
pub enum EtherType {
    /// Internet Protocol version 4.
    IPv4 = 0x0800,
    /// Address Resolution Protocol.
    ARP = 0x0806,
}

/// What an Ethernet frame carries. Protocols may be added in later
/// versions (what is `Unknown` today may get its own variant).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Payload<'a> {
    /// An IPv4 packet.
    IPv4(ipv4::Packet<'a>),
    /// An ARP packet.
    ARP(arp::Packet),
    /// Any other EtherType (or an 802.3 length), with all the bytes after it.
    Unknown(u16, Blob<'a>),
}

impl<'a> Payload<'a> {
    /// The EtherType this payload goes out with.
    #[must_use]
    pub fn ether_type_raw(&self) -> u16 {
        match self {
            Payload::IPv4(_) => EtherType::IPv4 as u16,
            Payload::ARP(_) => EtherType::ARP as u16,
            Payload::Unknown(t, _) => *t,
        }
    }

    /// Length on the wire.
    #[must_use]
    pub fn len(&self) -> usize {
        match self {
            Payload::IPv4(p) => p.len(),
            Payload::ARP(_) => arp::LEN,
            Payload::Unknown(_, b) => b.len(),
        }
    }

    /// Whether there are no bytes at all (only an `Unknown` payload can be
    /// empty).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Detaches the payload from the buffer it was parsed from.
    #[must_use]
    pub fn into_owned(self) -> Payload<'static> {
        match self {
            Payload::IPv4(p) => Payload::IPv4(p.into_owned()),
            Payload::ARP(p) => Payload::ARP(p),
            Payload::Unknown(t, b) => Payload::Unknown(t, b.into_owned()),
        }
    }

    #[inline(always)]
    fn write_to<W: Write>(&self, out: &mut WriteContext<W>) -> Result<(), BuildError> {
        match self {
            Payload::IPv4(p) => p.write_to(out),
            Payload::ARP(p) => p.write_to(out),
            Payload::Unknown(_, b) => put(out, b),
        }
    }
}

impl<'a> From<ipv4::Packet<'a>> for Payload<'a> {
    /// The packet as the payload of a frame: [`ipv4::Packet::into_ethernet_payload`].
    #[inline]
    fn from(packet: ipv4::Packet<'a>) -> Self {
        Payload::IPv4(packet)
    }
}

impl From<arp::Packet> for Payload<'_> {
    /// The packet as the payload of a frame: [`arp::Packet::into_ethernet_payload`].
    #[inline]
    fn from(packet: arp::Packet) -> Self {
        Payload::ARP(packet)
    }
}

/// An Ethernet II frame (without preamble and frame check sequence, as
/// captured).
///
/// ```
/// use ersatz::{arp, ethernet, ipv4};
///
/// let mac = ethernet::Addr([2, 0, 0, 0, 0, 1]);
/// let who_has = arp::request(mac, ipv4::Addr([10, 0, 0, 1]), ipv4::Addr([10, 0, 0, 254]));
/// let frame = ethernet::Frame::new(ethernet::Addr::broadcast(), mac, who_has.into());
/// let bytes = frame.to_vec()?;
/// assert_eq!((bytes.len(), &bytes[12..14]), (42, &[0x08, 0x06][..]));
///
/// let parsed = ersatz::parse::run(&bytes, ethernet::Frame::parse)?;
/// assert_eq!(parsed, frame);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<'a> {
    /// Destination MAC.
    pub dst: Addr,
    /// Source MAC.
    pub src: Addr,
    /// The EtherType, if ersatz knows it. On output the EtherType comes from
    /// the payload ([`Payload::ether_type_raw`]), so it can never disagree.
    pub ether_type: Option<EtherType>,
    /// What the frame carries.
    pub payload: Payload<'a>,
    /// Bytes after the payload's own end: Ethernet padding up to the 60-byte
    /// minimum, or a trailer. Not part of the payload; written back as is.
    pub padding: Blob<'a>,
}

impl<'a> Frame<'a> {
    /// A frame carrying `payload`, without padding; `ether_type` follows
    /// the payload.
    #[inline]
    #[must_use]
    pub fn new(dst: Addr, src: Addr, payload: Payload<'a>) -> Self {
        Frame {
            dst,
            src,
            ether_type: EtherType::try_from(payload.ether_type_raw()).ok(),
            payload,
            padding: Blob::empty(),
        }
    }

    /// Parses a whole captured frame: every byte ends up in a field, so the
    /// remaining input is always empty. IPv4 and ARP payloads are parsed
    /// (see [`ipv4::Packet::parse`], [`arp::Packet::parse`]), other
    /// EtherTypes kept raw; checksums are verified and the verdicts given
    /// (`checksum_ok`), a wrong checksum is not an error.
    ///
    /// # Errors
    ///
    /// A frame shorter than its 14-byte head, or whose IPv4 or ARP payload
    /// does not parse; the [`parse::Error`] names the layers it was in.
    ///
    /// ```
    /// use ersatz::{ethernet, ipv4};
    ///
    /// let bytes = [
    ///     0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00, // Ethernet
    ///     0x45, 0, 0, 20, 0x12, 0x34, 0x40, 0, 64, 253, 0x13, 0xb7, 10, 0, 0, 1, 10, 0, 0, 2,
    ///     0, 0, 0, 0, 0, 0, // padding
    /// ];
    /// // The error borrows `bytes`; `locate` makes an owned one of it.
    /// let (_, frame) = ethernet::Frame::parse(&bytes).map_err(|e| e.locate(&bytes))?;
    /// let ethernet::Payload::IPv4(ip) = &frame.payload else { panic!("not IPv4") };
    /// assert!(ip.checksum_ok && ip.dont_fragment());
    /// assert_eq!((ip.src, frame.padding.len()), (ipv4::Addr([10, 0, 0, 1]), 6));
    /// # Ok::<(), ersatz::parse::Failure>(())
    /// ```
    #[inline(always)]
    pub fn parse(i: parse::Input<'a>) -> parse::Result<'a, Self> {
        match Self::parse_plain(i) {
            Some(done) => Ok(done),
            None => Self::parse_any(i),
        }
    }

    /// The frame almost every capture is (an ICMP message in an IPv4 packet
    /// with a 20-byte header), recognised with a few comparisons and built
    /// without any error plumbing; `None` for anything else, or anything
    /// wrong, which [`Frame::parse_any`] then parses, or explains. Both give
    /// the same frame wherever this one answers (tested).
    #[inline(always)]
    fn parse_plain(i: parse::Input<'a>) -> Option<(parse::Input<'a>, Self)> {
        let view = View::plain(i)?;
        if view.ether_type_raw() != EtherType::IPv4 as u16 {
            return None;
        }
        let (rest, packet, message) = ipv4::View::plain_icmp(view.payload())?;
        let frame = Frame {
            dst: view.dst(),
            src: view.src(),
            ether_type: Some(EtherType::IPv4),
            payload: Payload::IPv4(packet.with_payload(ipv4::Payload::ICMP(message.to_packet()))),
            padding: Blob::from(rest),
        };
        Some((&rest[rest.len()..], frame))
    }

    /// Any frame, or the error that says what is wrong with it.
    #[inline(always)]
    fn parse_any(i: parse::Input<'a>) -> parse::Result<'a, Self> {
        let (_, view) = View::parse(i)?;
        let (dst, src, body) = (view.dst(), view.src(), view.payload());
        let ether_type = view.ether_type();
        // Each arm builds the whole frame in one expression from parts that
        // were read first (`ipv4::View`): the packet is not moved out of one
        // result into the next.
        match ether_type {
            Some(EtherType::IPv4) => {
                let (rest, packet) = within(FRAME, i, ipv4::View::parse(body))?;
                macro_rules! frame {
                    ($payload:expr) => {
                        Frame {
                            dst,
                            src,
                            ether_type,
                            payload: Payload::IPv4(packet.with_payload($payload)),
                            padding: Blob::from(rest),
                        }
                    };
                }
                let end = &rest[rest.len()..];
                let (_, payload) = within(FRAME, i, packet.parse_payload())?;
                Ok((end, frame!(payload)))
            }
            Some(EtherType::ARP) => {
                let (rest, packet) = within(FRAME, i, arp::Packet::parse(body))?;
                let frame = Frame {
                    dst,
                    src,
                    ether_type,
                    payload: Payload::ARP(packet),
                    padding: Blob::from(rest),
                };
                Ok((&rest[rest.len()..], frame))
            }
            None => {
                let frame = Frame {
                    dst,
                    src,
                    ether_type,
                    payload: Payload::Unknown(view.ether_type_raw(), Blob::from(body)),
                    padding: Blob::empty(),
                };
                Ok((&body[body.len()..], frame))
            }
        }
    }

    /// Length on the wire: head, payload, padding.
    #[must_use]
    pub fn len(&self) -> usize {
        HEADER_LEN + self.payload.len() + self.padding.len()
    }

    /// Never true: a frame has at least its head.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the frame: header, payload, padding.
    #[inline(always)]
    fn write_to<W: Write>(&self, out: &mut WriteContext<W>) -> Result<(), BuildError> {
        // Field by field, each copied as it is stored (an address read
        // as part of a wider word, just after it was stored, stalls the
        // CPU's store forwarding).
        put(out, &self.dst.0)?;
        put(out, &self.src.0)?;
        put(out, &self.payload.ether_type_raw().to_be_bytes())?;
        self.payload.write_to(out)?;
        if self.padding.is_empty() {
            Ok(())
        } else {
            put(out, &self.padding)
        }
    }

    /// The frame's bytes, in a new vector: head, payload (lengths and
    /// checksums computed, see [`ipv4::Packet::to_vec`]), padding.
    ///
    /// # Errors
    ///
    /// [`BuildError::TooLong`] or [`BuildError::OutOfRange`] if the IPv4
    /// packet inside cannot be written.
    pub fn to_vec(&self) -> Result<Vec<u8>, BuildError> {
        serialize::to_vec(self.len(), |out| self.write_to(out))
    }

    /// Writes the frame to the front of `buf` (a buffer kept for reuse:
    /// nothing is allocated) and says how many bytes it took.
    ///
    /// # Errors
    ///
    /// [`BuildError::BufferTooSmall`] if it does not fit (what was written
    /// into `buf` is then meaningless), and as [`Frame::to_vec`].
    ///
    /// ```
    /// use ersatz::{ethernet, Blob};
    ///
    /// let frame = ethernet::Frame::new(
    ///     ethernet::Addr::broadcast(),
    ///     ethernet::Addr([2, 0, 0, 0, 0, 1]),
    ///     ethernet::Payload::Unknown(0x88b5, Blob::from(&b"hello"[..])),
    /// );
    /// let mut buf = [0u8; 1514];
    /// let n = frame.to_slice(&mut buf)?;
    /// assert_eq!(&buf[12..n], b"\x88\xb5hello");
    /// assert!(frame.to_slice(&mut buf[..18]).is_err());
    /// # Ok::<(), ersatz::wire::BuildError>(())
    /// ```
    pub fn to_slice(&self, buf: &mut [u8]) -> Result<usize, BuildError> {
        serialize::to_slice(buf, || self.len(), |out| self.write_to(out))
    }

    /// Writes the frame at the end of `vec` (which grows as it must).
    ///
    /// # Errors
    ///
    /// As [`Frame::to_vec`]; `vec` is then left as it was.
    pub fn append_to(&self, vec: &mut Vec<u8>) -> Result<(), BuildError> {
        serialize::append(vec, self.len(), |out| self.write_to(out))
    }

    /// Detaches the frame from the buffer it was parsed from.
    #[must_use]
    pub fn into_owned(self) -> Frame<'static> {
        Frame {
            dst: self.dst,
            src: self.src,
            ether_type: self.ether_type,
            payload: self.payload.into_owned(),
            padding: self.padding.into_owned(),
        }
    }
}

/// A checked Ethernet II frame in a buffer: the 14-byte head is there, and
/// the fields are read when asked (see [`ipv4::View`] for why views). The
/// payload is everything after the head: where Ethernet padding starts is
/// for the payload to say (the IPv4 total length does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View<'a> {
    head: &'a [u8; HEADER_LEN],
    payload: &'a [u8],
}

impl<'a> View<'a> {
    /// Checks that the head is there. The rest is empty: the view's
    /// payload is every byte after the head.
    ///
    /// # Errors
    ///
    /// As [`Frame::parse`] for a frame shorter than 14 bytes.
    ///
    /// ```
    /// use ersatz::ethernet;
    ///
    /// let bytes = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06, 0, 1];
    /// let view = ersatz::parse::run(&bytes, ethernet::View::parse)?;
    /// assert!(view.dst().is_broadcast());
    /// assert_eq!(view.ether_type(), Some(ethernet::EtherType::ARP));
    /// assert_eq!(view.payload(), &[0, 1]);
    /// # Ok::<(), ersatz::parse::Failure>(())
    /// ```
    #[inline(always)]
    pub fn parse(i: parse::Input<'a>) -> parse::Result<'a, Self> {
        let (payload, head) = within(FRAME, i, parse::array::<HEADER_LEN>(i))?;
        Ok((&payload[payload.len()..], View { head, payload }))
    }

    /// [`View::parse`] where failing needs no explaining.
    #[inline(always)]
    fn plain(i: parse::Input<'a>) -> Option<Self> {
        let (head, payload) = i.split_first_chunk::<HEADER_LEN>()?;
        Some(View { head, payload })
    }

    /// Destination MAC.
    #[inline]
    pub fn dst(&self) -> Addr {
        let h = self.head;
        Addr([h[0], h[1], h[2], h[3], h[4], h[5]])
    }

    /// Source MAC.
    #[inline]
    pub fn src(&self) -> Addr {
        let h = self.head;
        Addr([h[6], h[7], h[8], h[9], h[10], h[11]])
    }

    /// The EtherType, as on the wire.
    #[inline]
    pub fn ether_type_raw(&self) -> u16 {
        u16::from_be_bytes([self.head[12], self.head[13]])
    }

    /// The EtherType, if ersatz knows it.
    #[inline]
    pub fn ether_type(&self) -> Option<EtherType> {
        EtherType::try_from(self.ether_type_raw()).ok()
    }

    /// Everything after the head, padding included.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fixtures;
    use crate::wire::parse::run;

    fn parse(bytes: &[u8]) -> Frame<'_> {
        run(bytes, Frame::parse).expect("fixture parses")
    }

    /// The shortcut answers for the pings among the captures (so that the
    /// agreement tests below test something) and only for them.
    #[test]
    fn plain_path_takes_exactly_the_plain_icmp_captures() {
        for (name, bytes) in fixtures::all() {
            let plain = Frame::parse_plain(bytes);
            let expected = matches!(
                name,
                "echo_request.pcap"
                    | "echo_reply.pcap"
                    | "dest_unreachable.pcap"
                    | "time_exceeded.pcap"
                    | "padded_request.pcap"
                    | "padded_reply.pcap"
                    | "port_unreachable.pcap"
            );
            assert_eq!(plain.is_some(), expected, "{name}");
            if let Some(done) = plain {
                assert_eq!(Ok(done), Frame::parse_any(bytes), "{name}");
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(8192))]
        /// Wherever the shortcut answers, the general parser gives the same
        /// frame: captures with single bits flipped or bytes overwritten in
        /// the heads the shortcut decides on (Ethernet, IPv4, ICMP), cut
        /// short or extended.
        #[test]
        fn plain_path_agrees_with_the_general_one(
            which in 0usize..17,
            edits in proptest::collection::vec((0usize..42, 0u8..8, proptest::option::of(proptest::num::u8::ANY)), 0..4),
            cut in 0usize..120,
            extra in proptest::collection::vec(proptest::num::u8::ANY, 0..8),
        ) {
            let mut bytes = fixtures::all()[which].1.to_vec();
            for (at, bit, value) in edits {
                if let Some(byte) = bytes.get_mut(at) {
                    *byte = value.unwrap_or(*byte ^ (1 << bit));
                }
            }
            bytes.truncate(cut.max(1));
            bytes.extend(extra);
            if let Some(done) = Frame::parse_plain(&bytes) {
                proptest::prop_assert_eq!(Ok(done), Frame::parse_any(&bytes));
            }
            let ip = &bytes[HEADER_LEN.min(bytes.len())..];
            if let Some((rest, view)) = ipv4::View::plain(ip) {
                proptest::prop_assert_eq!(Ok((rest, view)), ipv4::View::parse_any(ip, false));
            }
            if let Some((rest, view, message)) = ipv4::View::plain_icmp(ip) {
                let packet = view.with_payload(ipv4::Payload::ICMP(message.to_packet()));
                proptest::prop_assert_eq!(Ok((rest, packet)), ipv4::Packet::parse_any(ip));
            }
        }
    }

    /// A view reads what the parsed frame holds, for every capture, and a
    /// short frame fails the same way.
    #[test]
    fn view_reads_what_parse_reads() {
        for (name, bytes) in fixtures::all() {
            let frame = parse(bytes);
            let (rest, view) = View::parse(bytes).expect("view");
            assert!(rest.is_empty(), "{name}");
            assert_eq!(view.dst(), frame.dst, "{name}");
            assert_eq!(view.src(), frame.src, "{name}");
            assert_eq!(view.ether_type(), frame.ether_type, "{name}");
            assert_eq!(
                view.ether_type_raw(),
                frame.payload.ether_type_raw(),
                "{name}"
            );
            assert_eq!(view.payload(), &bytes[HEADER_LEN..], "{name}");
        }
        let short = &fixtures::echo_request()[..13];
        assert_eq!(
            run(short, View::parse).unwrap_err(),
            run(short, Frame::parse).unwrap_err()
        );
    }

    #[test]
    fn every_capture_reserializes_byte_for_byte() {
        for (name, bytes) in fixtures::all() {
            let frame = parse(bytes);
            assert_eq!(frame.to_vec().unwrap(), bytes, "{name}");
        }
    }

    #[test]
    fn arp_request_is_broadcast() {
        let frame = parse(fixtures::arp_request());
        assert_eq!(frame.dst, Addr::broadcast());
        assert_eq!(frame.src, "02:e5:a7:01:00:02".parse().unwrap());
        assert_eq!(frame.ether_type, Some(EtherType::ARP));
        assert!(matches!(frame.payload, Payload::ARP(_)));
        assert!(frame.padding.is_empty());
    }

    #[test]
    fn padding_is_not_payload() {
        let bytes = fixtures::padded_request();
        assert_eq!(bytes.len(), 60);
        let frame = parse(bytes);
        assert_eq!(&*frame.padding, &[0u8; 18]);
        let Payload::IPv4(ip) = &frame.payload else {
            panic!("not IPv4: {frame:?}")
        };
        assert_eq!(ip.length, 28);
        let crate::ipv4::Payload::ICMP(icmp) = &ip.payload else {
            panic!("not ICMP: {ip:?}")
        };
        assert!(icmp.payload.is_empty());
        assert!(icmp.checksum_ok);
        // Without its padding it is the same packet.
        let unpadded = parse(&bytes[..42]);
        assert_eq!(unpadded.payload, frame.payload);
        assert!(unpadded.padding.is_empty());
    }

    #[test]
    fn unknown_ether_type_keeps_its_bytes() {
        let mut bytes = fixtures::echo_request().to_vec();
        bytes[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
        let frame = parse(&bytes);
        assert_eq!(frame.ether_type, None);
        assert_eq!(
            frame.payload,
            Payload::Unknown(0x86dd, Blob::from(&bytes[14..]))
        );
        assert_eq!(frame.to_vec().unwrap(), bytes);
    }

    #[test]
    fn errors_say_where() {
        let bytes = &fixtures::echo_request()[..40];
        let err = run(bytes, Frame::parse).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Ethernet frame > IPv4 packet: total length runs past the end of the frame (at byte 14)"
        );
        let err = run(&bytes[..13], Frame::parse).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Ethernet frame: needs 14 bytes, has 13 (at byte 0)"
        );
        let mut short_icmp = fixtures::padded_request()[..42].to_vec();
        short_icmp[16..18].copy_from_slice(&24u16.to_be_bytes());
        let err = run(&short_icmp, Frame::parse).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Ethernet frame > IPv4 packet > ICMP message: needs 8 bytes, has 4 (at byte 34)"
        );
    }

    #[test]
    fn addr_text_forms() {
        let a: Addr = "14-0C-76-6A-71-BD".parse().unwrap();
        assert_eq!(a, Addr([0x14, 0x0c, 0x76, 0x6a, 0x71, 0xbd]));
        assert_eq!(a.to_string(), "14-0C-76-6A-71-BD");
        assert_eq!("14:0c:76:6a:71:bd".parse::<Addr>(), Ok(a));
        for bad in [
            "",
            "14-0C-76-6A-71",
            "14-0C-76-6A-71-BD-00",
            "14:0C-76:6A-71:BD",
            "1-0C-76-6A-71-BD",
            "+1-0C-76-6A-71-BD",
            "zz-0C-76-6A-71-BD",
        ] {
            let err = bad.parse::<Addr>().unwrap_err();
            assert!(err.to_string().contains("is not a MAC address"), "{bad}");
        }
        assert!(Addr::broadcast().is_broadcast() && Addr::broadcast().is_multicast());
        assert!(!Addr::zero().is_multicast());
    }

    #[test]
    fn into_owned_outlives_the_buffer() {
        let bytes = fixtures::dest_unreachable().to_vec();
        let owned = parse(&bytes).into_owned();
        let expected = parse(fixtures::dest_unreachable());
        drop(bytes);
        assert_eq!(owned, expected);
    }
}
