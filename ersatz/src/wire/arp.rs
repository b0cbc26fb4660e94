//! ARP (RFC 826) for IPv4 over Ethernet: how a pinger learns the next hop's MAC.
//!
//! Only the Ethernet/IPv4 form exists on the links ersatz works with; an ARP
//! packet for any other hardware or protocol type is a parse error.

use std::io::Write;

use cookie_factory::WriteContext;
use derive_try_from_primitive::TryFromPrimitive;

use super::parse::{self, invalid, within};
use super::serialize::{self, put, BuildError};
use super::{ethernet, ipv4};

/// What the sender asks or answers. Operations may be added in later
/// versions (RFC 903's reverse ARP, say).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, TryFromPrimitive)]
#[repr(u16)]
#[non_exhaustive]
pub enum Operation {
    /// "Who has `target_ip_addr`? Tell `sender_ip_addr`."
    Request = 1,
    /// "`sender_ip_addr` is at `sender_hw_addr`."
    Reply = 2,
}

/// The link layer the addresses belong to. Types may be added in later
/// versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, TryFromPrimitive)]
#[repr(u16)]
#[non_exhaustive]
pub enum HardwareType {
    /// Ethernet (10 Mb and every speed since).
    Ethernet = 1,
}

/// Length of an Ethernet/IPv4 ARP packet on the wire.
pub const LEN: usize = 28;

/// Length of an Ethernet address, the only hardware address ARP carries here.
const HW_ADDR_LEN: u8 = 6;
/// Length of an IPv4 address, the only protocol address ARP carries here.
const PROTOCOL_ADDR_LEN: u8 = 4;

/// An Ethernet/IPv4 ARP packet.
///
/// ```
/// use ersatz::{arp, ethernet, ipv4};
///
/// let me = ethernet::Addr([2, 0, 0, 0, 0, 1]);
/// let request = arp::request(me, ipv4::Addr([10, 0, 0, 1]), ipv4::Addr([10, 0, 0, 254]));
/// let bytes = request.to_vec()?;
/// assert_eq!((bytes.len(), &bytes[6..8]), (arp::LEN, &[0, 1][..]));
///
/// let parsed = ersatz::parse::run(&bytes, arp::Packet::parse)?;
/// let reply = parsed.reply(ethernet::Addr([2, 0, 0, 0, 0, 0xfe]));
/// assert_eq!((reply.operation, reply.target_hw_addr), (arp::Operation::Reply, me));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Packet {
    /// Request or reply.
    pub operation: Operation,
    /// The sender's MAC.
    pub sender_hw_addr: ethernet::Addr,
    /// The sender's IPv4 address.
    pub sender_ip_addr: ipv4::Addr,
    /// The target's MAC (zero in a request: that is the question).
    pub target_hw_addr: ethernet::Addr,
    /// The target's IPv4 address.
    pub target_ip_addr: ipv4::Addr,
}

/// A request from `sender` asking who has `target_ip_addr` (the target's
/// MAC zero: that is the question).
#[must_use]
pub fn request(
    sender_hw_addr: ethernet::Addr,
    sender_ip_addr: ipv4::Addr,
    target_ip_addr: ipv4::Addr,
) -> Packet {
    Packet {
        operation: Operation::Request,
        sender_hw_addr,
        sender_ip_addr,
        target_hw_addr: ethernet::Addr::zero(),
        target_ip_addr,
    }
}

impl Packet {
    /// The reply to this request, from the station at `hw_addr`.
    #[must_use]
    pub fn reply(&self, hw_addr: ethernet::Addr) -> Packet {
        Packet {
            operation: Operation::Reply,
            sender_hw_addr: hw_addr,
            sender_ip_addr: self.target_ip_addr,
            target_hw_addr: self.sender_hw_addr,
            target_ip_addr: self.sender_ip_addr,
        }
    }

    /// This packet as the payload of an Ethernet frame (also
    /// `ethernet::Payload::from(packet)`).
    #[must_use]
    pub fn into_ethernet_payload(self) -> ethernet::Payload<'static> {
        ethernet::Payload::ARP(self)
    }

    /// The old name of [`Packet::into_ethernet_payload`].
    #[deprecated(since = "0.2.0", note = "renamed to into_ethernet_payload")]
    #[must_use]
    pub fn as_ethernet_payload(self) -> ethernet::Payload<'static> {
        self.into_ethernet_payload()
    }

    /// Parses 28 bytes of Ethernet/IPv4 ARP; the rest of the input follows.
    ///
    /// # Errors
    ///
    /// Fewer than 28 bytes, a hardware type other than Ethernet (with
    /// 6-byte addresses), a protocol type other than IPv4 (with 4-byte
    /// addresses), or an operation other than request and reply.
    pub fn parse(i: parse::Input<'_>) -> parse::Result<'_, Self> {
        within("ARP packet", i, Self::fields(i))
    }

    fn fields(start: parse::Input<'_>) -> parse::Result<'_, Self> {
        let (rest, b) = parse::array::<LEN>(start)?;
        let htype = u16::from_be_bytes([b[0], b[1]]);
        let ptype = u16::from_be_bytes([b[2], b[3]]);
        let (hlen, plen) = (b[4], b[5]);
        if HardwareType::try_from(htype).is_err() || hlen != HW_ADDR_LEN {
            return invalid(start, "hardware type is not Ethernet");
        }
        if ptype != ethernet::EtherType::IPv4 as u16 || plen != PROTOCOL_ADDR_LEN {
            return invalid(start, "protocol type is not IPv4");
        }
        let Ok(operation) = Operation::try_from(u16::from_be_bytes([b[6], b[7]])) else {
            return invalid(
                &start[6..],
                "operation is neither request (1) nor reply (2)",
            );
        };
        let mac = |at: usize| {
            ethernet::Addr([b[at], b[at + 1], b[at + 2], b[at + 3], b[at + 4], b[at + 5]])
        };
        let ip = |at: usize| ipv4::Addr([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        let packet = Packet {
            operation,
            sender_hw_addr: mac(8),
            sender_ip_addr: ip(14),
            target_hw_addr: mac(18),
            target_ip_addr: ip(24),
        };
        Ok((rest, packet))
    }

    /// The packet's [`LEN`] (28) bytes, in a new vector.
    ///
    /// # Errors
    ///
    /// None today: every ARP packet can be written (the `Result` is that
    /// of every `to_vec`).
    pub fn to_vec(&self) -> Result<Vec<u8>, BuildError> {
        serialize::to_vec(LEN, |out| self.write_to(out))
    }

    /// Writes the packet's [`LEN`] (28) bytes to the front of `buf` and says
    /// how many bytes it took.
    ///
    /// # Errors
    ///
    /// [`BuildError::BufferTooSmall`] if `buf` is shorter than 28 bytes.
    pub fn to_slice(&self, buf: &mut [u8]) -> Result<usize, BuildError> {
        serialize::to_slice(buf, || LEN, |out| self.write_to(out))
    }

    /// Writes the packet into a context held by reference: the 8 fixed
    /// bytes as one word, then the addresses as they are stored.
    #[inline(always)]
    pub(crate) fn write_to<W: Write>(&self, out: &mut WriteContext<W>) -> Result<(), BuildError> {
        let fixed = u64::from(HardwareType::Ethernet as u16) << 48
            | u64::from(ethernet::EtherType::IPv4 as u16) << 32
            | u64::from(HW_ADDR_LEN) << 24
            | u64::from(PROTOCOL_ADDR_LEN) << 16
            | u64::from(self.operation as u16);
        put(out, &fixed.to_be_bytes())?;
        put(out, &self.sender_hw_addr.0)?;
        put(out, &self.sender_ip_addr.0)?;
        put(out, &self.target_hw_addr.0)?;
        put(out, &self.target_ip_addr.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::fixtures;
    use crate::wire::parse::run;

    const HOST_MAC: ethernet::Addr = ethernet::Addr([0x02, 0xe5, 0xa7, 0x01, 0x00, 0x02]);
    const GW_MAC: ethernet::Addr = ethernet::Addr([0x02, 0xe5, 0xa7, 0x01, 0x00, 0x01]);
    const HOST: ipv4::Addr = ipv4::Addr([10, 77, 1, 2]);
    const GW: ipv4::Addr = ipv4::Addr([10, 77, 1, 1]);

    #[test]
    fn kernel_request_parses_and_we_build_the_same() {
        let body = &fixtures::arp_request()[14..];
        let packet = run(body, Packet::parse).unwrap();
        let ours = request(HOST_MAC, HOST, GW);
        assert_eq!(packet, ours);
        assert_eq!(ours.to_vec().unwrap(), body);
        let mut buf = [0u8; 30];
        assert_eq!(ours.to_slice(&mut buf), Ok(28));
        assert_eq!(&buf[..28], body);
        assert_eq!(
            ours.to_slice(&mut buf[..27]),
            Err(BuildError::BufferTooSmall {
                needed: 28,
                got: 27
            })
        );
    }

    #[test]
    fn kernel_reply_answers_our_request() {
        let body = &fixtures::arp_reply()[14..];
        let packet = run(body, Packet::parse).unwrap();
        assert_eq!(packet.operation, Operation::Reply);
        assert_eq!(packet.sender_hw_addr, GW_MAC);
        assert_eq!(packet.sender_ip_addr, GW);
        assert_eq!(packet.target_hw_addr, HOST_MAC);
        assert_eq!(packet.target_ip_addr, HOST);
        assert_eq!(packet, request(HOST_MAC, HOST, GW).reply(GW_MAC));
    }

    #[test]
    fn other_hardware_protocol_or_operation_is_an_error() {
        let body = fixtures::arp_request()[14..].to_vec();
        let with = |at: usize, value: u8| {
            let mut b = body.clone();
            b[at] = value;
            run(&b, Packet::parse).map_err(|e| e.to_string())
        };
        assert_eq!(
            with(1, 6),
            Err("ARP packet: hardware type is not Ethernet (at byte 0)".into())
        );
        assert_eq!(
            with(4, 8),
            Err("ARP packet: hardware type is not Ethernet (at byte 0)".into())
        );
        assert_eq!(
            with(2, 0x86),
            Err("ARP packet: protocol type is not IPv4 (at byte 0)".into())
        );
        assert_eq!(
            with(7, 3),
            Err("ARP packet: operation is neither request (1) nor reply (2) (at byte 6)".into())
        );
        assert_eq!(
            run(&body[..27], Packet::parse).map_err(|e| e.to_string()),
            Err("ARP packet: needs 28 bytes, has 27 (at byte 0)".into())
        );
    }

    #[test]
    #[allow(deprecated)]
    fn deprecated_name_gives_the_same_payload() {
        let ours = request(HOST_MAC, HOST, GW);
        assert_eq!(ours.as_ethernet_payload(), ours.into_ethernet_payload());
        assert_eq!(ethernet::Payload::from(ours), ours.into_ethernet_payload());
    }
}
