//! ARP (RFC 826) for IPv4 over Ethernet: how a pinger learns the next hop's MAC.
//!
//! Only the Ethernet/IPv4 form exists on the links ersatz works with; an ARP
//! packet for any other hardware or protocol type is a parse error.

use std::io::Write;

use cookie_factory::{GenError, SerializeFn, WriteContext};
use derive_try_from_primitive::TryFromPrimitive;
use nom::number::complete::{be_u16 as parse_u16, be_u8 as parse_u8};

use super::parse::{self, context, invalid};
use super::serialize::{self, put};
use super::{ethernet, ipv4};

/// What the sender asks or answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, TryFromPrimitive)]
#[repr(u16)]
pub enum Operation {
    /// "Who has `target_ip_addr`? Tell `sender_ip_addr`."
    Request = 1,
    /// "`sender_ip_addr` is at `sender_hw_addr`."
    Reply = 2,
}

/// The link layer the addresses belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, TryFromPrimitive)]
#[repr(u16)]
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

/// A request from `sender` asking who has `target_ip_addr`.
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
    pub fn reply(&self, hw_addr: ethernet::Addr) -> Packet {
        Packet {
            operation: Operation::Reply,
            sender_hw_addr: hw_addr,
            sender_ip_addr: self.target_ip_addr,
            target_hw_addr: self.sender_hw_addr,
            target_ip_addr: self.sender_ip_addr,
        }
    }

    /// This packet as the payload of an Ethernet frame.
    pub fn as_ethernet_payload(self) -> ethernet::Payload<'static> {
        ethernet::Payload::ARP(self)
    }

    /// Parses 28 bytes of Ethernet/IPv4 ARP.
    pub fn parse(i: parse::Input<'_>) -> parse::Result<'_, Self> {
        context("ARP packet", |i| {
            let start = i;
            let (i, htype) = parse_u16(i)?;
            let (i, ptype) = parse_u16(i)?;
            let (i, hlen) = parse_u8(i)?;
            let (i, plen) = parse_u8(i)?;
            if HardwareType::try_from(htype).is_err() || hlen != HW_ADDR_LEN {
                return invalid(start, "hardware type is not Ethernet");
            }
            if ptype != ethernet::EtherType::IPv4 as u16 || plen != PROTOCOL_ADDR_LEN {
                return invalid(start, "protocol type is not IPv4");
            }
            let op_at = i;
            let (i, op) = parse_u16(i)?;
            let Ok(operation) = Operation::try_from(op) else {
                return invalid(op_at, "operation is neither request (1) nor reply (2)");
            };
            let (i, sender_hw_addr) = ethernet::Addr::parse(i)?;
            let (i, sender_ip_addr) = ipv4::Addr::parse(i)?;
            let (i, target_hw_addr) = ethernet::Addr::parse(i)?;
            let (i, target_ip_addr) = ipv4::Addr::parse(i)?;
            Ok((
                i,
                Packet {
                    operation,
                    sender_hw_addr,
                    sender_ip_addr,
                    target_hw_addr,
                    target_ip_addr,
                },
            ))
        })(i)
    }

    /// Writes [`LEN`] (28) bytes.
    pub fn serialize<W: Write>(&self) -> impl SerializeFn<W> {
        let packet = *self;
        serialize::in_place(move |out| packet.write_to(out))
    }

    /// Writes the packet into a context held by reference (see
    /// [`serialize::in_place`]): the 8 fixed bytes as one word, then the
    /// addresses as they are stored.
    #[inline(always)]
    pub(crate) fn write_to<W: Write>(&self, out: &mut WriteContext<W>) -> Result<(), GenError> {
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
    use crate::wire::parse::run;
    use crate::wire::{fixtures, serialize};

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
        assert_eq!(serialize::to_vec(ours.serialize()).unwrap(), body);
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
        assert!(run(&body[..27], Packet::parse).is_err());
    }
}
