//! ICMP (RFC 792): echo request and reply, and the error messages that tell a
//! pinger why its request did not arrive.
//!
//! Every message has the same 8-byte head (type, code, checksum, 4 bytes that
//! depend on the type) followed by a payload. [`Header`] gives those 4 bytes
//! meaning per type; messages ersatz has no layout for, and echo messages with
//! a non-zero code, are kept byte for byte as [`Header::Other`].

use std::io::Write;

use cookie_factory::WriteContext;

use super::blob::Blob;
use super::checksum::{self, Checksum};
use super::ipv4;
use super::parse::{self, within};
use super::serialize::{self, put, BuildError};

open_enum! {
    /// The message type.
    pub enum Type: u8 {
        /// Echo reply (RFC 792).
        EchoReply = 0,
        /// Destination unreachable (RFC 792).
        DestinationUnreachable = 3,
        /// Source quench (RFC 792, deprecated by RFC 6633).
        SourceQuench = 4,
        /// Redirect (RFC 792).
        Redirect = 5,
        /// Echo request (RFC 792).
        EchoRequest = 8,
        /// Router advertisement (RFC 1256).
        RouterAdvertisement = 9,
        /// Router solicitation (RFC 1256).
        RouterSolicitation = 10,
        /// Time exceeded (RFC 792).
        TimeExceeded = 11,
        /// Parameter problem (RFC 792).
        ParameterProblem = 12,
        /// Timestamp (RFC 792).
        Timestamp = 13,
        /// Timestamp reply (RFC 792).
        TimestampReply = 14,
        /// Information request (RFC 792, obsolete).
        InformationRequest = 15,
        /// Information reply (RFC 792, obsolete).
        InformationReply = 16,
        /// Address mask request (RFC 950).
        AddressMaskRequest = 17,
        /// Address mask reply (RFC 950).
        AddressMaskReply = 18,
    }
}

open_enum! {
    /// Why a destination is unreachable (RFC 792, RFC 1122, RFC 1812).
    pub enum UnreachableCode: u8 {
        /// Net unreachable.
        Net = 0,
        /// Host unreachable.
        Host = 1,
        /// Protocol unreachable.
        Protocol = 2,
        /// Port unreachable.
        Port = 3,
        /// Fragmentation needed and DF set.
        FragmentationNeeded = 4,
        /// Source route failed.
        SourceRouteFailed = 5,
        /// Destination network unknown.
        NetUnknown = 6,
        /// Destination host unknown.
        HostUnknown = 7,
        /// Source host isolated.
        SourceHostIsolated = 8,
        /// Communication with destination network administratively prohibited.
        NetProhibited = 9,
        /// Communication with destination host administratively prohibited.
        HostProhibited = 10,
        /// Network unreachable for type of service.
        NetTos = 11,
        /// Host unreachable for type of service.
        HostTos = 12,
        /// Communication administratively prohibited.
        CommunicationProhibited = 13,
        /// Host precedence violation.
        HostPrecedenceViolation = 14,
        /// Precedence cutoff in effect.
        PrecedenceCutoff = 15,
    }
}

open_enum! {
    /// What ran out (RFC 792).
    pub enum TimeExceededCode: u8 {
        /// Time to live exceeded in transit.
        TtlExceeded = 0,
        /// Fragment reassembly time exceeded.
        FragmentReassembly = 1,
    }
}

open_enum! {
    /// What a redirect is for (RFC 792).
    pub enum RedirectCode: u8 {
        /// Redirect datagrams for the network.
        Net = 0,
        /// Redirect datagrams for the host.
        Host = 1,
        /// Redirect for the type of service and network.
        TosNet = 2,
        /// Redirect for the type of service and host.
        TosHost = 3,
    }
}

/// Identifier and sequence number of an echo (and of the other query messages).
///
/// Built by a struct literal, it makes an echo request or reply:
///
/// ```
/// use ersatz::icmp;
///
/// let echo = icmp::Echo { identifier: 0x1234, sequence_number: 1 };
/// let request = echo.into_echo_request(&b"abcd"[..]);
/// assert_eq!(request.to_vec()?, [8, 0, 0x21, 0x04, 0x12, 0x34, 0, 1, b'a', b'b', b'c', b'd']);
/// # Ok::<(), ersatz::wire::BuildError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Echo {
    /// Identifier: which pinger (Windows uses one per process run).
    pub identifier: u16,
    /// Sequence number: which probe.
    pub sequence_number: u16,
}

impl Echo {
    /// An echo request with this identifier, sequence number and payload
    /// (its checksum is computed when it is written).
    #[inline]
    #[must_use]
    pub fn into_echo_request<'a>(self, payload: impl Into<Blob<'a>>) -> Packet<'a> {
        Packet::new(Header::EchoRequest(self), payload.into())
    }

    /// An echo reply with this identifier, sequence number and payload
    /// (its checksum is computed when it is written).
    #[inline]
    #[must_use]
    pub fn into_echo_reply<'a>(self, payload: impl Into<Blob<'a>>) -> Packet<'a> {
        Packet::new(Header::EchoReply(self), payload.into())
    }

    /// The old name of [`Echo::into_echo_request`].
    #[deprecated(since = "0.2.0", note = "renamed to into_echo_request")]
    #[inline]
    #[must_use]
    pub fn as_echo_request<'a>(self, payload: impl Into<Blob<'a>>) -> Packet<'a> {
        self.into_echo_request(payload)
    }

    /// The old name of [`Echo::into_echo_reply`].
    #[deprecated(since = "0.2.0", note = "renamed to into_echo_reply")]
    #[inline]
    #[must_use]
    pub fn as_echo_reply<'a>(self, payload: impl Into<Blob<'a>>) -> Packet<'a> {
        self.into_echo_reply(payload)
    }

    #[inline(always)]
    fn from_word(word: u32) -> Self {
        Echo {
            identifier: (word >> 16) as u16,
            sequence_number: word as u16,
        }
    }

    fn to_rest(self) -> [u8; 4] {
        let [a, b] = self.identifier.to_be_bytes();
        let [c, d] = self.sequence_number.to_be_bytes();
        [a, b, c, d]
    }
}

/// The code and the 4 type-specific bytes of a message, given meaning.
///
/// Message types may get their own variant in later versions (what is
/// [`Header::Other`] today, such as RFC 8335's extended echo, may not be
/// tomorrow): matches need a `_` arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Header {
    /// Echo reply (type 0, code 0).
    EchoReply(Echo),
    /// Destination unreachable (type 3). The payload quotes the original
    /// datagram: see [`Packet::original`].
    DestinationUnreachable {
        /// Why.
        code: UnreachableCode,
        /// The first two of the 4 bytes (zero by RFC 1191).
        unused: u16,
        /// For [`UnreachableCode::FragmentationNeeded`]: the next hop's MTU (RFC 1191).
        next_hop_mtu: u16,
    },
    /// Source quench (type 4).
    SourceQuench {
        /// Code (0).
        code: u8,
        /// The 4 bytes (zero).
        unused: u32,
    },
    /// Redirect (type 5).
    Redirect {
        /// What for.
        code: RedirectCode,
        /// The better gateway.
        gateway: ipv4::Addr,
    },
    /// Echo request (type 8, code 0).
    EchoRequest(Echo),
    /// Time exceeded (type 11): a router dropped the datagram as its TTL ran out.
    TimeExceeded {
        /// What ran out.
        code: TimeExceededCode,
        /// The 4 bytes (zero).
        unused: u32,
    },
    /// Parameter problem (type 12).
    ParameterProblem {
        /// Code (0: pointer indicates the error).
        code: u8,
        /// Offset of the offending byte in the original header.
        pointer: u8,
        /// The last 3 bytes (zero).
        unused: [u8; 3],
    },
    /// Timestamp (type 13, code 0); the payload holds the three timestamps.
    Timestamp(Echo),
    /// Timestamp reply (type 14, code 0).
    TimestampReply(Echo),
    /// Information request (type 15, code 0).
    InformationRequest(Echo),
    /// Information reply (type 16, code 0).
    InformationReply(Echo),
    /// Any other type, or a known type with a code it should not have: the
    /// code and the 4 bytes, raw.
    Other {
        /// The code.
        code: u8,
        /// The 4 type-specific bytes.
        rest: [u8; 4],
    },
}

impl Header {
    /// Gives the 4 type-specific bytes of a message of type `typ` their
    /// meaning. Echo and other query messages with a code other than 0, and
    /// types without a layout here, are [`Header::Other`].
    ///
    /// ```
    /// use ersatz::icmp::{Header, TimeExceededCode, Type};
    ///
    /// assert_eq!(
    ///     Header::from_wire(Type::TimeExceeded, 0, [0; 4]),
    ///     Header::TimeExceeded { code: TimeExceededCode::TtlExceeded, unused: 0 }
    /// );
    /// assert_eq!(Header::from_wire(Type::EchoRequest, 1, [0, 1, 0, 2]), Header::Other { code: 1, rest: [0, 1, 0, 2] });
    /// ```
    #[inline(always)]
    #[must_use]
    pub fn from_wire(typ: Type, code: u8, rest: [u8; 4]) -> Header {
        Self::from_word(typ, code, u32::from_be_bytes(rest))
    }

    /// [`Header::from_wire`] with the 4 bytes as one big-endian word.
    // Read from the buffer in one load: taken apart byte by byte for each
    // variant's fields, they cost the parser some 30 instructions a message.
    #[inline(always)]
    pub(crate) fn from_word(typ: Type, code: u8, word: u32) -> Header {
        match (typ, code) {
            (Type::EchoReply, 0) => Header::EchoReply(Echo::from_word(word)),
            (Type::EchoRequest, 0) => Header::EchoRequest(Echo::from_word(word)),
            (Type::Timestamp, 0) => Header::Timestamp(Echo::from_word(word)),
            (Type::TimestampReply, 0) => Header::TimestampReply(Echo::from_word(word)),
            (Type::InformationRequest, 0) => Header::InformationRequest(Echo::from_word(word)),
            (Type::InformationReply, 0) => Header::InformationReply(Echo::from_word(word)),
            (Type::DestinationUnreachable, code) => Header::DestinationUnreachable {
                code: code.into(),
                unused: (word >> 16) as u16,
                next_hop_mtu: word as u16,
            },
            (Type::SourceQuench, code) => Header::SourceQuench { code, unused: word },
            (Type::Redirect, code) => Header::Redirect {
                code: code.into(),
                gateway: ipv4::Addr(word.to_be_bytes()),
            },
            (Type::TimeExceeded, code) => Header::TimeExceeded {
                code: code.into(),
                unused: word,
            },
            (Type::ParameterProblem, code) => {
                let [pointer, a, b, c] = word.to_be_bytes();
                Header::ParameterProblem {
                    code,
                    pointer,
                    unused: [a, b, c],
                }
            }
            (_, code) => Header::Other {
                code,
                rest: word.to_be_bytes(),
            },
        }
    }

    /// The code and the 4 type-specific bytes, as they go on the wire: the
    /// inverse of [`Header::from_wire`].
    #[inline(always)]
    #[must_use]
    pub fn to_wire(&self) -> (u8, [u8; 4]) {
        match *self {
            Header::EchoReply(e)
            | Header::EchoRequest(e)
            | Header::Timestamp(e)
            | Header::TimestampReply(e)
            | Header::InformationRequest(e)
            | Header::InformationReply(e) => (0, e.to_rest()),
            Header::DestinationUnreachable {
                code,
                unused,
                next_hop_mtu,
            } => {
                let [a, b] = unused.to_be_bytes();
                let [c, d] = next_hop_mtu.to_be_bytes();
                (code.into(), [a, b, c, d])
            }
            Header::SourceQuench { code, unused } => (code, unused.to_be_bytes()),
            Header::Redirect { code, gateway } => (code.into(), gateway.0),
            Header::TimeExceeded { code, unused } => (code.into(), unused.to_be_bytes()),
            Header::ParameterProblem {
                code,
                pointer,
                unused: [a, b, c],
            } => (code, [pointer, a, b, c]),
            Header::Other { code, rest } => (code, rest),
        }
    }

    /// The type this header belongs to (`None` for [`Header::Other`]).
    #[must_use]
    pub fn typ(&self) -> Option<Type> {
        Some(match self {
            Header::EchoReply(_) => Type::EchoReply,
            Header::DestinationUnreachable { .. } => Type::DestinationUnreachable,
            Header::SourceQuench { .. } => Type::SourceQuench,
            Header::Redirect { .. } => Type::Redirect,
            Header::EchoRequest(_) => Type::EchoRequest,
            Header::TimeExceeded { .. } => Type::TimeExceeded,
            Header::ParameterProblem { .. } => Type::ParameterProblem,
            Header::Timestamp(_) => Type::Timestamp,
            Header::TimestampReply(_) => Type::TimestampReply,
            Header::InformationRequest(_) => Type::InformationRequest,
            Header::InformationReply(_) => Type::InformationReply,
            Header::Other { .. } => return None,
        })
    }

    /// Whether this is an error message, whose payload quotes the datagram
    /// that caused it.
    #[must_use]
    pub fn is_error(&self) -> bool {
        matches!(
            self,
            Header::DestinationUnreachable { .. }
                | Header::SourceQuench { .. }
                | Header::Redirect { .. }
                | Header::TimeExceeded { .. }
                | Header::ParameterProblem { .. }
        )
    }
}

/// Length of the head every message has.
pub const HEADER_LEN: usize = 8;

/// An ICMP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<'a> {
    /// The type byte, as on the wire; [`Packet::new`] keeps it in step with
    /// `header`.
    pub typ: Type,
    /// Checksum as parsed (computed on output).
    pub checksum: u16,
    /// Whether the parsed checksum was correct. A damaged message is still
    /// returned so it can be reported; it must not be believed.
    pub checksum_ok: bool,
    /// Code and type-specific bytes.
    pub header: Header,
    /// Everything after the 8-byte head (for error messages: the quote).
    pub payload: Blob<'a>,
}

impl<'a> Packet<'a> {
    /// A message with this header and payload; the type follows the header
    /// ([`Header::Other`] gets the reserved type 255: set `typ` yourself).
    /// The checksum is computed when it is written.
    ///
    /// ```
    /// use ersatz::{icmp, Blob};
    ///
    /// let mut message = icmp::Packet::new(icmp::Header::Other { code: 0, rest: [0; 4] }, Blob::empty());
    /// message.typ = icmp::Type::RouterSolicitation;
    /// assert_eq!(message.to_vec()?, [10, 0, 0xf5, 0xff, 0, 0, 0, 0]);
    /// # Ok::<(), ersatz::wire::BuildError>(())
    /// ```
    #[inline]
    #[must_use]
    pub fn new(header: Header, payload: Blob<'a>) -> Self {
        Packet {
            typ: header.typ().unwrap_or(Type::Other(255)),
            checksum: 0,
            checksum_ok: true,
            header,
            payload,
        }
    }

    /// Length on the wire.
    #[must_use]
    pub fn len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }

    /// Never true: a message has at least its head.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// This message as the payload of an IPv4 packet (also
    /// `ipv4::Payload::from(message)`).
    #[inline]
    #[must_use]
    pub fn into_ipv4_payload(self) -> ipv4::Payload<'a> {
        ipv4::Payload::ICMP(self)
    }

    /// The old name of [`Packet::into_ipv4_payload`].
    #[deprecated(since = "0.2.0", note = "renamed to into_ipv4_payload")]
    #[inline]
    #[must_use]
    pub fn as_ipv4_payload(self) -> ipv4::Payload<'a> {
        self.into_ipv4_payload()
    }

    /// Detaches the message from the buffer it was parsed from.
    #[must_use]
    pub fn into_owned(self) -> Packet<'static> {
        Packet {
            payload: self.payload.into_owned(),
            ..self
        }
    }

    /// For an error message, the datagram it quotes: the original IPv4 header
    /// and the first bytes of its payload (for an echo request, its identifier
    /// and sequence number: see [`Quote::echo_request`]). `None` for other
    /// messages, or when the quote is not an IPv4 header.
    #[must_use]
    pub fn original(&self) -> Option<Quote<'_>> {
        if !self.header.is_error() {
            return None;
        }
        let (_, packet) = ipv4::Packet::parse_quoted(&self.payload).ok()?;
        Some(Quote { packet })
    }

    /// Parses a whole message: everything after the 8-byte head is payload
    /// (the rest is empty). The checksum is verified: the verdict is
    /// `checksum_ok`, a wrong checksum is not an error.
    ///
    /// # Errors
    ///
    /// Fewer than 8 bytes.
    ///
    /// ```
    /// use ersatz::icmp;
    ///
    /// let bytes = [0, 0, 0x39, 0x9d, 0x5b, 0xf0, 0, 1, 0xab];
    /// let reply = ersatz::parse::run(&bytes, icmp::Packet::parse)?;
    /// assert_eq!(reply.header, icmp::Header::EchoReply(icmp::Echo { identifier: 0x5bf0, sequence_number: 1 }));
    /// assert_eq!((&reply.payload[..], reply.checksum_ok), (&[0xab][..], false));
    /// # Ok::<(), ersatz::parse::Failure>(())
    /// ```
    #[inline(always)]
    pub fn parse(i: parse::Input<'a>) -> parse::Result<'a, Self> {
        let (rest, view) = View::parse(i)?;
        Ok((rest, view.to_packet()))
    }

    /// Writes the message into a context held by reference, computing the
    /// checksum over head and payload (an odd length is padded with a zero
    /// byte for the sum only).
    #[inline(always)]
    pub(crate) fn write_to<W: Write>(&self, out: &mut WriteContext<W>) -> Result<(), BuildError> {
        put(out, &self.head().to_be_bytes())?;
        put(out, &self.payload)
    }

    /// The 8-byte head as it goes on the wire, as one big-endian value, the
    /// checksum (over head and payload) computed.
    // Built and summed in registers: a head assembled byte by byte in memory
    // and read back wide, by the checksum or by the copy to the output,
    // stalls the CPU's store forwarding.
    #[inline(always)]
    pub(crate) fn head(&self) -> u64 {
        let (code, rest) = self.header.to_wire();
        let word = u64::from(u8::from(self.typ)) << 56
            | u64::from(code) << 48
            | u64::from(u32::from_be_bytes(rest));
        let sum = Checksum::new()
            .add_u64(word)
            .add(&self.payload)
            .finish_like(self.checksum);
        word | u64::from(sum) << 32
    }

    /// The message's bytes, in a new vector, the checksum computed (a
    /// parsed message's `ffff` kept where `0000` would do as well).
    ///
    /// # Errors
    ///
    /// None today: every message can be written (the `Result` leaves room
    /// for checks to come).
    pub fn to_vec(&self) -> Result<Vec<u8>, BuildError> {
        serialize::to_vec(self.len(), |out| self.write_to(out))
    }

    /// Writes the message to the front of `buf` (a buffer kept for reuse:
    /// nothing is allocated) and says how many bytes it took.
    ///
    /// # Errors
    ///
    /// [`BuildError::BufferTooSmall`] if it does not fit.
    pub fn to_slice(&self, buf: &mut [u8]) -> Result<usize, BuildError> {
        serialize::to_slice(buf, || self.len(), |out| self.write_to(out))
    }
}

/// A checked ICMP message in a buffer: the 8-byte head is there and the
/// checksum over the whole message is verified; every field is read from
/// the buffer when asked ([`ipv4::View`] says why).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View<'a> {
    head: &'a [u8; HEADER_LEN],
    checksum_ok: bool,
    payload: &'a [u8],
}

impl<'a> View<'a> {
    /// Checks a whole message (everything after the head is payload) and
    /// verifies its checksum.
    ///
    /// # Errors
    ///
    /// As [`Packet::parse`]: fewer than 8 bytes.
    ///
    /// ```
    /// use ersatz::icmp;
    ///
    /// let (_, view) = icmp::View::parse(&[8, 0, 0xf7, 0xfd, 0, 1, 0, 1])?;
    /// assert_eq!(view.typ(), icmp::Type::EchoRequest);
    /// assert!(view.checksum_ok());
    /// # Ok::<(), ersatz::parse::Error>(())
    /// ```
    #[inline(always)]
    pub fn parse(i: parse::Input<'a>) -> parse::Result<'a, Self> {
        match Self::plain(i) {
            Some(view) => Ok((&i[i.len()..], view)),
            // Only a short message fails.
            None => within("ICMP message", i, parse::truncated(i, HEADER_LEN)),
        }
    }

    /// [`View::parse`] where failing needs no explaining: `None` for fewer
    /// than 8 bytes.
    #[inline(always)]
    pub(crate) fn plain(i: parse::Input<'a>) -> Option<Self> {
        let (head, payload) = i.split_first_chunk::<HEADER_LEN>()?;
        Some(View {
            head,
            checksum_ok: checksum::verify(i),
            payload,
        })
    }

    /// The type byte.
    #[inline(always)]
    pub fn typ(&self) -> Type {
        Type::from(self.head[0])
    }

    /// The code byte.
    #[inline]
    pub fn code(&self) -> u8 {
        self.head[1]
    }

    /// The checksum, as on the wire.
    #[inline]
    pub fn checksum(&self) -> u16 {
        u16::from_be_bytes([self.head[2], self.head[3]])
    }

    /// Whether the checksum is correct. A damaged message must not be
    /// believed.
    #[inline]
    pub fn checksum_ok(&self) -> bool {
        self.checksum_ok
    }

    /// Code and type-specific bytes, given meaning.
    #[inline]
    pub fn header(&self) -> Header {
        let h = self.head;
        let word = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
        // Echo replies and requests, what a pinger sees, are made here with
        // their variant known; every type through `from_word`, whose match
        // over all of them has LLVM put the enum together byte by byte in
        // one block shared by the variants (~35 instructions a message).
        // Both give the same header (tested for every type and code).
        match (h[0], h[1]) {
            (0, 0) => Header::EchoReply(Echo::from_word(word)),
            (8, 0) => Header::EchoRequest(Echo::from_word(word)),
            (typ, code) => Self::other_header(typ, code, word),
        }
    }

    /// [`View::header`] for every message that is not an echo, out of line.
    #[inline(never)]
    fn other_header(typ: u8, code: u8, word: u32) -> Header {
        Header::from_word(Type::from(typ), code, word)
    }

    /// Everything after the 8-byte head (for error messages: the quote).
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// The message as a value, exactly what [`Packet::parse`] gives.
    #[inline(always)]
    #[must_use]
    pub fn to_packet(&self) -> Packet<'a> {
        Packet {
            typ: self.typ(),
            checksum: self.checksum(),
            checksum_ok: self.checksum_ok,
            header: self.header(),
            payload: Blob::from(self.payload),
        }
    }
}

/// The datagram quoted by an ICMP error message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote<'a> {
    /// The original header; its payload holds only the quoted bytes, raw.
    pub packet: ipv4::Packet<'a>,
}

impl Quote<'_> {
    /// If the quoted datagram was an ICMP echo request, its identifier and
    /// sequence number: how a pinger knows which of its probes failed.
    #[must_use]
    pub fn echo_request(&self) -> Option<Echo> {
        if self.packet.protocol != ipv4::Protocol::ICMP || self.packet.is_fragment() {
            return None;
        }
        let ipv4::Payload::Unknown(bytes) = &self.packet.payload else {
            return None;
        };
        let head: &[u8; HEADER_LEN] = bytes.first_chunk()?;
        match Header::from_wire(
            Type::from(head[0]),
            head[1],
            [head[4], head[5], head[6], head[7]],
        ) {
            Header::EchoRequest(echo) => Some(echo),
            _ => None,
        }
    }

    /// The first quoted bytes of a TCP or UDP datagram: `None` for another
    /// protocol, for a fragment other than the first (it does not start
    /// with the header), or for fewer than `n` quoted bytes.
    fn transport_head(&self, n: usize) -> Option<&[u8]> {
        let protocol = self.packet.protocol;
        if !matches!(protocol, ipv4::Protocol::TCP | ipv4::Protocol::UDP)
            || self.packet.fragment_offset != 0
        {
            return None;
        }
        let ipv4::Payload::Unknown(bytes) = &self.packet.payload else {
            return None;
        };
        bytes.get(..n)
    }

    /// If the quoted datagram was TCP or UDP: its protocol, source port and
    /// destination port (the first 4 bytes after the quoted IPv4 header, which
    /// RFC 792's 8 quoted bytes always hold). How a prober knows which of its
    /// probes a port unreachable or a time exceeded answers. `None` for other
    /// protocols, a later fragment, or a quote too short.
    #[must_use]
    pub fn ports(&self) -> Option<(ipv4::Protocol, u16, u16)> {
        let head = self.transport_head(4)?;
        let (src, dst) = head.split_at(2);
        Some((
            self.packet.protocol,
            u16::from_be_bytes([src[0], src[1]]),
            u16::from_be_bytes([dst[0], dst[1]]),
        ))
    }

    /// If the quoted datagram was a TCP segment: its sequence number (bytes
    /// 4 to 8 after the quoted IPv4 header). `None` otherwise, or for a quote
    /// too short.
    #[must_use]
    pub fn tcp_seq(&self) -> Option<u32> {
        if self.packet.protocol != ipv4::Protocol::TCP {
            return None;
        }
        let head = self.transport_head(8)?;
        Some(u32::from_be_bytes([head[4], head[5], head[6], head[7]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fixtures;
    use crate::wire::parse::run;

    /// The ICMP message of a captured IPv4-in-Ethernet frame without options.
    fn icmp(frame: &[u8]) -> Packet<'_> {
        let ip = &frame[14..];
        let len = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        let header = usize::from(ip[0] & 0xf) * 4;
        run(&ip[header..len], Packet::parse).expect("fixture parses")
    }

    /// The view's echo shortcut gives what `from_wire` gives, for every type
    /// and code, and the head written back is the head read.
    #[test]
    fn view_header_agrees_with_from_wire_everywhere() {
        for typ in 0..=u8::MAX {
            for code in 0..=u8::MAX {
                for rest in [[0u8; 4], [0x11, 0x50, 0x00, 0x01], [0xff, 0x7f, 0x80, 0xfe]] {
                    let mut bytes = [typ, code, 0, 0, rest[0], rest[1], rest[2], rest[3]];
                    let sum = checksum::of(&bytes);
                    bytes[2..4].copy_from_slice(&sum.to_be_bytes());
                    let (_, view) = View::parse(&bytes).expect("8 bytes");
                    let expected = Header::from_wire(Type::from(typ), code, rest);
                    assert_eq!(view.header(), expected, "type {typ} code {code}");
                    assert_eq!(expected.to_wire(), (code, rest), "type {typ} code {code}");
                }
            }
        }
    }

    /// A view reads what the parsed message holds, for every ICMP capture;
    /// a message shorter than its head fails the same way for both.
    #[test]
    fn view_reads_what_parse_reads() {
        let mut seen = 0;
        for (name, frame) in fixtures::all() {
            if frame.get(23) != Some(&1) || frame[14] != 0x45 {
                continue; // not ICMP in IPv4 without options
            }
            let ip = &frame[14..];
            let len = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
            let bytes = &ip[20..len];
            let (_, view) = View::parse(bytes).expect("view");
            let packet = icmp(frame);
            assert_eq!(view.typ(), packet.typ, "{name}");
            assert_eq!(view.code(), packet.header.to_wire().0, "{name}");
            assert_eq!(view.checksum(), packet.checksum, "{name}");
            assert_eq!(view.checksum_ok(), packet.checksum_ok, "{name}");
            assert_eq!(view.header(), packet.header, "{name}");
            assert_eq!(view.payload(), &packet.payload[..], "{name}");
            assert_eq!(view.to_packet(), packet, "{name}");
            seen += 1;
        }
        assert_eq!(seen, 7, "echo request and reply, three errors, two padded");
        let short = [8u8, 0, 0, 0];
        assert_eq!(
            run(&short, View::parse).unwrap_err(),
            run(&short, Packet::parse).unwrap_err()
        );
    }

    #[test]
    fn echo_request_and_reply() {
        let req = icmp(fixtures::echo_request());
        let echo = Echo {
            identifier: 0x5bf0,
            sequence_number: 1,
        };
        assert_eq!(req.typ, Type::EchoRequest);
        assert_eq!(req.header, Header::EchoRequest(echo));
        assert_eq!((req.checksum, req.checksum_ok), (0x319e, true));
        assert_eq!(req.payload.len(), 56);
        let reply = icmp(fixtures::echo_reply());
        assert_eq!(reply.typ, Type::EchoReply);
        assert_eq!(reply.header, Header::EchoReply(echo));
        assert_eq!((reply.checksum, reply.checksum_ok), (0x399e, true));
        assert_eq!(reply.payload, req.payload);
        assert_eq!(reply.original(), None);
        // The kernel's reply is what we would build as the reply.
        assert_eq!(
            echo.into_echo_reply(req.payload.borrowed())
                .to_vec()
                .unwrap(),
            reply.to_vec().unwrap()
        );
    }

    #[test]
    fn net_unreachable_quotes_our_request() {
        let p = icmp(fixtures::dest_unreachable());
        assert_eq!(p.typ, Type::DestinationUnreachable);
        assert_eq!(
            p.header,
            Header::DestinationUnreachable {
                code: UnreachableCode::Net,
                unused: 0,
                next_hop_mtu: 0
            }
        );
        assert_eq!((p.checksum, p.checksum_ok), (0xfcff, true));
        let quote = p.original().expect("quotes the request");
        assert_eq!(quote.packet.src, ipv4::Addr([10, 77, 1, 2]));
        assert_eq!(quote.packet.dst, ipv4::Addr([10, 99, 0, 1]));
        assert_eq!(
            (quote.packet.ttl, quote.packet.identification),
            (64, 0xbccb)
        );
        assert!(quote.packet.checksum_ok);
        assert_eq!(
            quote.echo_request(),
            Some(Echo {
                identifier: 0x5bf8,
                sequence_number: 1
            })
        );
    }

    #[test]
    fn ttl_expired_quotes_ttl_1() {
        let p = icmp(fixtures::time_exceeded());
        assert_eq!(
            p.header,
            Header::TimeExceeded {
                code: TimeExceededCode::TtlExceeded,
                unused: 0
            }
        );
        assert_eq!((p.checksum, p.checksum_ok), (0xf4ff, true));
        let quote = p.original().unwrap();
        assert_eq!(quote.packet.ttl, 1);
        assert_eq!(quote.packet.dst, ipv4::Addr([10, 77, 2, 2]));
        assert_eq!(quote.echo_request().map(|e| e.identifier), Some(0x5c00));
    }

    #[test]
    fn port_unreachable_quotes_our_udp_ports() {
        let p = icmp(fixtures::port_unreachable());
        assert_eq!(
            p.header,
            Header::DestinationUnreachable {
                code: UnreachableCode::Port,
                unused: 0,
                next_hop_mtu: 0
            }
        );
        assert_eq!((p.checksum, p.checksum_ok), (0x14c7, true));
        let quote = p.original().expect("quotes the datagram");
        assert_eq!(quote.packet.protocol, ipv4::Protocol::UDP);
        assert_eq!(quote.ports(), Some((ipv4::Protocol::UDP, 60152, 33434)));
        assert_eq!((quote.tcp_seq(), quote.echo_request()), (None, None));
        // RFC 792's minimum quote (header + 8 bytes) still holds the ports;
        // 3 bytes do not.
        let short = Quote {
            packet: ipv4::Packet::parse_quoted(&p.payload[..28]).unwrap().1,
        };
        assert_eq!(short.ports(), quote.ports());
        let shorter = Quote {
            packet: ipv4::Packet::parse_quoted(&p.payload[..23]).unwrap().1,
        };
        assert_eq!(shorter.ports(), None);
        // An echo request's quote has no ports.
        let echo = icmp(fixtures::dest_unreachable());
        assert_eq!(echo.original().unwrap().ports(), None);
    }

    #[test]
    fn quoted_tcp_has_ports_and_sequence() {
        // The captured SYN, as a router would quote it (header + 8 bytes).
        let syn = &fixtures::tcp_syn()[14..];
        let quote = Quote {
            packet: ipv4::Packet::parse_quoted(&syn[..28]).unwrap().1,
        };
        assert_eq!(quote.ports(), Some((ipv4::Protocol::TCP, 33980, 7777)));
        assert_eq!(quote.tcp_seq(), Some(0x8df5_8561));
        let cut = Quote {
            packet: ipv4::Packet::parse_quoted(&syn[..27]).unwrap().1,
        };
        assert_eq!((cut.ports().is_some(), cut.tcp_seq()), (true, None));
        // A later fragment does not start with the header.
        let mut later = quote.clone();
        later.packet.fragment_offset = 1;
        assert_eq!((later.ports(), later.tcp_seq()), (None, None));
    }

    #[test]
    fn quote_of_header_and_8_bytes_is_enough() {
        let p = icmp(fixtures::time_exceeded());
        let short = Packet {
            payload: Blob::from(&p.payload[..28]),
            ..p.clone()
        };
        let quote = short.original().unwrap();
        assert_eq!(quote.packet.length, 84);
        assert_eq!(quote.echo_request(), p.original().unwrap().echo_request());
        let shorter = Packet {
            payload: Blob::from(&p.payload[..27]),
            ..p
        };
        assert_eq!(shorter.original().unwrap().echo_request(), None);
    }

    #[test]
    fn damaged_message_is_detected() {
        let mut frame = fixtures::echo_reply().to_vec();
        frame[60] ^= 0x01; // one bit of the payload
        let p = icmp(&frame);
        assert!(!p.checksum_ok);
        assert_eq!(p.checksum, 0x399e);
    }

    #[test]
    fn odd_payload_checksum_pads_with_zero() {
        let echo = Echo {
            identifier: 1,
            sequence_number: 2,
        };
        let bytes = echo.into_echo_request(&[0xab_u8][..]).to_vec().unwrap();
        // 0800 + 0000 + 0001 + 0002 + ab00 = b303 -> checksum 4cfc
        assert_eq!(bytes, [8, 0, 0x4c, 0xfc, 0, 1, 0, 2, 0xab]);
        let (_, back) = Packet::parse(&bytes).unwrap();
        assert!(back.checksum_ok);
    }

    #[test]
    fn unknown_types_and_odd_codes_keep_their_bytes() {
        for head in [
            [42u8, 7, 0, 0, 1, 2, 3, 4],
            [8, 1, 0, 0, 0, 1, 0, 2],
            [0, 9, 0, 0, 0, 1, 0, 2],
            [5, 1, 0, 0, 10, 0, 0, 1],
            [12, 0, 0, 0, 20, 0, 0, 0],
            [4, 0, 0, 0, 0, 0, 0, 0],
            [13, 0, 0, 0, 0, 1, 0, 1],
        ] {
            let mut bytes = head.to_vec();
            bytes.extend_from_slice(b"xyz");
            let sum = crate::wire::checksum::of(&bytes);
            bytes[2..4].copy_from_slice(&sum.to_be_bytes());
            let (_, p) = Packet::parse(&bytes).unwrap();
            assert!(p.checksum_ok);
            assert_eq!(p.to_vec().unwrap(), bytes, "{p:?}");
        }
        let (_, p) = Packet::parse(&[8, 1, 0, 0, 0, 1, 0, 2]).unwrap();
        assert_eq!(
            p.header,
            Header::Other {
                code: 1,
                rest: [0, 1, 0, 2]
            }
        );
        let (_, p) = Packet::parse(&[5, 1, 0, 0, 10, 0, 0, 1]).unwrap();
        assert_eq!(
            p.header,
            Header::Redirect {
                code: RedirectCode::Host,
                gateway: ipv4::Addr([10, 0, 0, 1])
            }
        );
        assert_eq!(Type::from(42), Type::Other(42));
        assert_eq!(u8::from(Type::Other(42)), 42);
    }

    /// The renamed builders: the old names give the same bytes.
    #[test]
    #[allow(deprecated)]
    fn deprecated_names_build_the_same_bytes() {
        let echo = Echo {
            identifier: 0x5bf0,
            sequence_number: 7,
        };
        let data = &b"0123456789"[..];
        assert_eq!(
            echo.as_echo_request(data).to_vec(),
            echo.into_echo_request(data).to_vec()
        );
        assert_eq!(
            echo.as_echo_reply(data).to_vec(),
            echo.into_echo_reply(data).to_vec()
        );
        let src = ipv4::Addr([10, 0, 0, 1]);
        let dst = ipv4::Addr([10, 0, 0, 2]);
        assert_eq!(
            echo.into_echo_request(data)
                .as_ipv4_payload()
                .to_vec(src, dst),
            echo.into_echo_request(data)
                .into_ipv4_payload()
                .to_vec(src, dst)
        );
    }

    #[test]
    fn too_short_is_an_error() {
        let err = run(&[8u8, 0, 0][..], Packet::parse).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ICMP message: needs 8 bytes, has 3 (at byte 0)"
        );
    }
}
