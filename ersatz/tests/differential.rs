//! Differential tests against etherparse, an independent implementation:
//! frames built by ersatz decode to the same fields there; on random and
//! mutated input both accept and reject the same frames and agree on every
//! field and checksum verdict; frames built by etherparse read back in ersatz.

mod common;

use std::fmt::Debug;

use common::*;
use ersatz::{arp, ethernet, icmp, ipv4, tcp, udp};
use etherparse::checksum::Sum16BitWords;
use etherparse::icmpv4::{DestUnreachableHeader, ParameterProblemHeader};
use etherparse::{
    ArpPacketSlice, Ethernet2Slice, Icmpv4Slice, Icmpv4Type, IpDscp, IpEcn, IpFragOffset,
    IpHeaders, IpNumber, Ipv4Header, Ipv4HeaderSlice, Ipv4Options, Ipv4Slice, LinkSlice, NetSlice,
    PacketBuilder, SlicedPacket, TcpHeader, TcpOptionElement, TcpOptionReadError, TcpSlice,
    TransportSlice, UdpHeader, UdpSlice,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};

fn check<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: Debug,
{
    let mut runner = TestRunner::new(config(cases));
    if let Err(e) = runner.run(&strategy, test) {
        panic!("{e}");
    }
}

fn fail(what: impl Debug) -> TestCaseError {
    TestCaseError::fail(format!("{what:?}"))
}

/// etherparse's checksum of `data` (its own `Sum16BitWords`).
fn ep_checksum(data: &[u8]) -> u16 {
    Sum16BitWords::new()
        .add_slice(data)
        .ones_complement()
        .to_be()
}

/// Whether ersatz's verdict on a checksum is right, given the stored value
/// and the one etherparse computes over the rest. Equal: correct; different:
/// wrong. Except a stored `ffff` where `0000` is computed: both are zero in
/// one's complement, RFC 1071's receiver check (and tcpdump) accepts it,
/// etherparse's field comparison does not; either verdict is allowed.
fn verdict_ok(checksum_ok: bool, stored: u16, computed: u16) -> bool {
    match (stored, computed) {
        (0xffff, 0x0000) => true,
        (s, c) => checksum_ok == (s == c),
    }
}

/// Whether etherparse would accept the same frame as ersatz's
/// `Frame::parse`: `None` where they cannot be compared (IPv4 protocol 51,
/// which etherparse parses as an Authentication Header).
fn etherparse_accepts(bytes: &[u8]) -> Option<bool> {
    let Ok(eth) = Ethernet2Slice::from_slice_without_fcs(bytes) else {
        return Some(false);
    };
    let body = eth.payload_slice();
    match eth.ether_type().0 {
        0x0800 => {
            if body.get(9) == Some(&51) {
                return None;
            }
            let Ok(ip) = Ipv4Slice::from_slice(body) else {
                return Some(false);
            };
            let payload = ip.payload();
            if payload.fragmented {
                return Some(true);
            }
            match payload.ip_number {
                // etherparse also insists that a timestamp (code 0) is
                // exactly 20 bytes; ersatz keeps any length. Both need the
                // 8-byte head.
                IpNumber::ICMP => Some(payload.payload.len() >= 8),
                IpNumber::TCP => Some(TcpSlice::from_slice(payload.payload).is_ok()),
                // etherparse takes a length of 0 to mean "the rest" (as for
                // IPv6 jumbograms); RFC 768 has no such length, ersatz
                // refuses it as below 8.
                IpNumber::UDP => Some(
                    UdpSlice::from_slice(payload.payload).is_ok()
                        && payload.payload[4..6] != [0, 0],
                ),
                _ => Some(true),
            }
        }
        0x0806 => Some(ArpPacketSlice::from_slice(body).is_ok_and(|a| {
            let a = a.to_packet();
            a.try_eth_ipv4().is_ok() && matches!(a.operation.0, 1 | 2)
        })),
        _ => Some(true),
    }
}

/// Compares frame `f` (what ersatz parsed from `bytes`, or what it was asked
/// to build, with computed fields filled in) with etherparse's view of `bytes`.
fn compare(bytes: &[u8], f: &ethernet::Frame<'_>) -> Result<(), TestCaseError> {
    let eth = Ethernet2Slice::from_slice_without_fcs(bytes).map_err(fail)?;
    prop_assert_eq!(eth.destination(), f.dst.0);
    prop_assert_eq!(eth.source(), f.src.0);
    prop_assert_eq!(eth.ether_type().0, f.payload.ether_type_raw());
    let body = eth.payload_slice();
    match &f.payload {
        ethernet::Payload::Unknown(_, b) => {
            prop_assert_eq!(body, &b[..]);
            prop_assert!(f.padding.is_empty());
        }
        ethernet::Payload::ARP(a) => {
            compare_arp(body, a)?;
            prop_assert_eq!(&body[arp::LEN..], &f.padding[..], "ARP padding");
            let sliced = SlicedPacket::from_ethernet(bytes).map_err(fail)?;
            let Some(NetSlice::Arp(s)) = &sliced.net else {
                return Err(fail(("SlicedPacket: no ARP", sliced.net)));
            };
            prop_assert_eq!(s.slice(), &body[..arp::LEN]);
        }
        ethernet::Payload::IPv4(p) => {
            let ip_len = compare_ipv4(body, p)?;
            prop_assert_eq!(&body[ip_len..], &f.padding[..], "IPv4 padding");
            compare_sliced(bytes, p)?;
        }
        unknown => return Err(fail(("new in ersatz, unknown to this comparison", unknown))),
    }
    Ok(())
}

fn compare_arp(body: &[u8], a: &arp::Packet) -> Result<(), TestCaseError> {
    let s = ArpPacketSlice::from_slice(body).map_err(fail)?;
    let e = s.to_packet().try_eth_ipv4().map_err(fail)?;
    let op = match a.operation {
        arp::Operation::Request => 1,
        arp::Operation::Reply => 2,
        unknown => return Err(fail(("new in ersatz, unknown to this comparison", unknown))),
    };
    prop_assert_eq!(e.operation.0, op);
    prop_assert_eq!(e.sender_mac, a.sender_hw_addr.0);
    prop_assert_eq!(e.sender_ipv4, a.sender_ip_addr.0);
    prop_assert_eq!(e.target_mac, a.target_hw_addr.0);
    prop_assert_eq!(e.target_ipv4, a.target_ip_addr.0);
    Ok(())
}

/// Compares the IPv4 packet at the start of `body`; returns its length.
fn compare_ipv4(body: &[u8], p: &ipv4::Packet<'_>) -> Result<usize, TestCaseError> {
    // Protocol 51: etherparse parses the payload as an Authentication Header,
    // which ersatz keeps raw; compare the IPv4 header only.
    let auth = u8::from(p.protocol) == 51;
    let s = if auth {
        None
    } else {
        Some(Ipv4Slice::from_slice(body).map_err(fail)?)
    };
    let h = match &s {
        Some(s) => s.header(),
        None => Ipv4HeaderSlice::from_slice(body).map_err(fail)?,
    };
    let flags = p.flags;
    prop_assert_eq!(h.version(), p.version);
    prop_assert_eq!(h.ihl(), p.ihl);
    prop_assert_eq!(h.dcp().value(), p.dscp);
    prop_assert_eq!(h.ecn().value(), p.ecn);
    prop_assert_eq!(h.total_len(), p.length);
    prop_assert_eq!(h.identification(), p.identification);
    prop_assert_eq!(h.slice()[6] >> 7, flags >> 2, "reserved flag");
    prop_assert_eq!(h.dont_fragment(), flags & 2 != 0, "DF");
    prop_assert_eq!(h.more_fragments(), flags & 1 != 0, "MF");
    prop_assert_eq!(h.fragments_offset().value(), p.fragment_offset);
    prop_assert_eq!(h.ttl(), p.ttl);
    prop_assert_eq!(h.protocol().0, u8::from(p.protocol));
    prop_assert_eq!(h.header_checksum(), p.checksum);
    prop_assert_eq!(h.source(), p.src.0);
    prop_assert_eq!(h.destination(), p.dst.0);
    prop_assert_eq!(h.options(), &p.options[..]);
    prop_assert_eq!(h.is_fragmenting_payload(), p.is_fragment());

    // etherparse's checksum over the raw header (checksum field zeroed)...
    let mut raw = h.slice().to_vec();
    raw[10..12].fill(0);
    let computed = ep_checksum(&raw);
    prop_assert!(
        verdict_ok(p.checksum_ok, p.checksum, computed),
        "header checksum_ok {} (stored {:04x}, etherparse computes {:04x})",
        p.checksum_ok,
        p.checksum,
        computed
    );
    // ...and from its decoded fields (which have no reserved flag).
    if flags & 4 == 0 {
        prop_assert_eq!(h.to_header().calc_header_checksum(), computed);
    }

    let total_len = usize::from(h.total_len());
    let Some(s) = &s else {
        return Ok(total_len);
    };
    let payload = s.payload().payload;
    match &p.payload {
        ipv4::Payload::Unknown(b) => {
            prop_assert_eq!(payload, &b[..]);
            // Kept raw while whole: only a UDP datagram shorter than the
            // payload (or a protocol ersatz does not parse).
            if !p.is_fragment() && p.protocol == ipv4::Protocol::UDP {
                let length = usize::from(u16::from_be_bytes([payload[4], payload[5]]));
                prop_assert!(length < payload.len(), "a whole UDP datagram kept raw");
            }
            prop_assert!(
                p.is_fragment()
                    || !matches!(p.protocol, ipv4::Protocol::ICMP | ipv4::Protocol::TCP),
                "a whole ICMP or TCP payload kept raw"
            );
        }
        ipv4::Payload::ICMP(m) => {
            prop_assert!(!p.is_fragment());
            compare_icmp(payload, m)?;
        }
        ipv4::Payload::TCP(t) => {
            prop_assert!(!p.is_fragment());
            compare_tcp(payload, t, p.src, p.dst)?;
        }
        ipv4::Payload::UDP(u) => {
            prop_assert!(!p.is_fragment());
            compare_udp(payload, u, p.src, p.dst)?;
        }
        unknown => return Err(fail(("new in ersatz, unknown to this comparison", unknown))),
    }
    Ok(total_len)
}

/// Compares the TCP segment `bytes` with what ersatz read from them.
fn compare_tcp(
    bytes: &[u8],
    t: &tcp::Packet<'_>,
    src: ipv4::Addr,
    dst: ipv4::Addr,
) -> Result<(), TestCaseError> {
    let s = TcpSlice::from_slice(bytes).map_err(fail)?;
    prop_assert_eq!(s.source_port(), t.src_port);
    prop_assert_eq!(s.destination_port(), t.dst_port);
    prop_assert_eq!(s.sequence_number(), t.seq);
    prop_assert_eq!(s.acknowledgment_number(), t.ack);
    prop_assert_eq!(s.data_offset(), t.data_offset);
    prop_assert_eq!((bytes[12] >> 1) & 7, t.reserved, "reserved bits");
    let f = t.flags;
    for (name, theirs, ours) in [
        ("FIN", s.fin(), tcp::Flags::FIN),
        ("SYN", s.syn(), tcp::Flags::SYN),
        ("RST", s.rst(), tcp::Flags::RST),
        ("PSH", s.psh(), tcp::Flags::PSH),
        ("ACK", s.ack(), tcp::Flags::ACK),
        ("URG", s.urg(), tcp::Flags::URG),
        ("ECE", s.ece(), tcp::Flags::ECE),
        ("CWR", s.cwr(), tcp::Flags::CWR),
        ("NS", s.ns(), tcp::Flags::NS),
    ] {
        prop_assert_eq!(theirs, f.contains(ours), "{} in {}", name, f);
    }
    prop_assert_eq!(s.window_size(), t.window);
    prop_assert_eq!(s.checksum(), t.checksum);
    prop_assert_eq!(s.urgent_pointer(), t.urgent);
    prop_assert_eq!(s.options(), &t.options[..]);
    prop_assert_eq!(s.payload(), &t.payload[..]);
    let computed = s.calc_checksum_ipv4(src.0, dst.0).map_err(fail)?;
    prop_assert!(
        verdict_ok(t.checksum_ok, t.checksum, computed),
        "TCP checksum_ok {} (stored {:04x}, etherparse computes {:04x})",
        t.checksum_ok,
        t.checksum,
        computed
    );
    compare_tcp_options(s.options(), t)
}

/// etherparse's typed options are ersatz's, up to where etherparse stops:
/// at the End of Option List (which it does not yield), or at an error
/// (an unknown kind, which ersatz keeps as `Unknown`, or a bad length,
/// where ersatz stops with `Malformed`).
fn compare_tcp_options(raw: &[u8], t: &tcp::Packet<'_>) -> Result<(), TestCaseError> {
    use tcp::TcpOption as O;
    let mut ours = t.options_iter();
    for theirs in etherparse::TcpOptionsIterator::from_slice(raw) {
        let mine = ours.next();
        match (theirs, mine) {
            (Ok(TcpOptionElement::Noop), Some(O::NoOperation)) => {}
            (Ok(TcpOptionElement::MaximumSegmentSize(a)), Some(O::MaxSegmentSize(b))) => {
                prop_assert_eq!(a, b)
            }
            (Ok(TcpOptionElement::WindowScale(a)), Some(O::WindowScale(b))) => {
                prop_assert_eq!(a, b)
            }
            (Ok(TcpOptionElement::SelectiveAcknowledgementPermitted), Some(O::SackPermitted)) => {}
            (
                Ok(TcpOptionElement::SelectiveAcknowledgement(first, rest)),
                Some(O::Sack { blocks, count }),
            ) => {
                let theirs: Vec<(u32, u32)> = std::iter::once(first)
                    .chain(rest.into_iter().flatten())
                    .collect();
                prop_assert_eq!(&theirs[..], &blocks[..usize::from(count)]);
            }
            (Ok(TcpOptionElement::Timestamp(v, e)), Some(O::Timestamps { value, echo })) => {
                prop_assert_eq!((v, e), (value, echo))
            }
            (Err(TcpOptionReadError::UnknownId(kind)), Some(O::Unknown { kind: k, .. })) => {
                prop_assert_eq!(kind, k);
                return Ok(());
            }
            (Err(_), Some(O::Malformed(_))) => return Ok(()),
            (theirs, mine) => return Err(fail(("different options", theirs, mine, raw))),
        }
    }
    // etherparse stopped at the end, or at an End of Option List.
    prop_assert!(
        matches!(ours.next(), None | Some(O::EndOfList)),
        "ersatz reads more options than etherparse: {:?}",
        raw
    );
    Ok(())
}

/// Compares the UDP datagram at the start of `bytes` with what ersatz read.
fn compare_udp(
    bytes: &[u8],
    u: &udp::Packet<'_>,
    src: ipv4::Addr,
    dst: ipv4::Addr,
) -> Result<(), TestCaseError> {
    let s = UdpSlice::from_slice(bytes).map_err(fail)?;
    prop_assert_eq!(s.source_port(), u.src_port);
    prop_assert_eq!(s.destination_port(), u.dst_port);
    prop_assert_eq!(s.length(), u.length);
    prop_assert_eq!(s.checksum(), u.checksum);
    prop_assert_eq!(s.payload(), &u.payload[..]);
    if u.checksum == udp::NO_CHECKSUM {
        prop_assert!(u.checksum_ok, "no checksum is not a wrong one");
    } else {
        let computed = s
            .to_header()
            .calc_checksum_ipv4_raw(src.0, dst.0, s.payload())
            .map_err(fail)?;
        prop_assert!(
            verdict_ok(u.checksum_ok, u.checksum, computed),
            "UDP checksum_ok {} (stored {:04x}, etherparse computes {:04x})",
            u.checksum_ok,
            u.checksum,
            computed
        );
    }
    Ok(())
}

fn is_timestamp(bytes: &[u8]) -> bool {
    matches!(bytes, [13 | 14, 0, ..])
}

fn compare_icmp(bytes: &[u8], m: &icmp::Packet<'_>) -> Result<(), TestCaseError> {
    let s = match Icmpv4Slice::from_slice(bytes) {
        Ok(s) => s,
        // etherparse wants a timestamp message to be 20 bytes long exactly;
        // compare the raw head then.
        Err(e) if is_timestamp(bytes) && bytes.len() >= 8 && bytes.len() != 20 => {
            let _ = e;
            prop_assert_eq!(bytes[0], u8::from(m.typ));
            let (code, rest) = icmp_wire(&m.header);
            prop_assert_eq!((bytes[1], &bytes[4..8]), (code, &rest[..]));
            prop_assert_eq!(&bytes[8..], &m.payload[..]);
            return Ok(());
        }
        Err(e) => return Err(fail(e)),
    };
    let (code, rest) = icmp_wire(&m.header);
    prop_assert_eq!(s.type_u8(), u8::from(m.typ));
    prop_assert_eq!(s.code_u8(), code);
    prop_assert_eq!(s.bytes5to8(), rest);
    prop_assert_eq!(s.checksum(), m.checksum);
    prop_assert_eq!(&s.slice()[8..], &m.payload[..]);

    // etherparse's checksum over the raw message.
    let raw = Icmpv4Type::Unknown {
        type_u8: s.type_u8(),
        code_u8: s.code_u8(),
        bytes5to8: s.bytes5to8(),
    };
    let computed = raw.calc_checksum(&s.slice()[8..]);
    prop_assert!(
        verdict_ok(m.checksum_ok, m.checksum, computed),
        "ICMP checksum_ok {} (stored {:04x}, etherparse computes {:04x})",
        m.checksum_ok,
        m.checksum,
        computed
    );
    // Where etherparse's decoded header encodes back to the same bytes (no
    // non-zero "unused" bytes), its typed checksum agrees too.
    let header = s.header();
    if header.to_bytes()[2..] == s.slice()[2..s.header_len()] {
        prop_assert_eq!(header.icmp_type.calc_checksum(s.payload()), computed);
    }
    compare_icmp_kind(&s.icmp_type(), &m.header)
}

/// Both give the message the same meaning.
fn compare_icmp_kind(ep: &Icmpv4Type, h: &icmp::Header) -> Result<(), TestCaseError> {
    use icmp::Header as H;
    match (ep, h) {
        (Icmpv4Type::EchoReply(e), H::EchoReply(x))
        | (Icmpv4Type::EchoRequest(e), H::EchoRequest(x)) => {
            prop_assert_eq!((e.id, e.seq), (x.identifier, x.sequence_number));
        }
        (
            Icmpv4Type::DestinationUnreachable(d),
            H::DestinationUnreachable {
                code, next_hop_mtu, ..
            },
        ) => {
            prop_assert_eq!(d.code_u8(), u8::from(*code));
            if let DestUnreachableHeader::FragmentationNeeded { next_hop_mtu: mtu } = d {
                prop_assert_eq!(*code, icmp::UnreachableCode::FragmentationNeeded);
                prop_assert_eq!(*mtu, *next_hop_mtu);
            }
        }
        (Icmpv4Type::Redirect(r), H::Redirect { code, gateway }) => {
            prop_assert_eq!(r.code.code_u8(), u8::from(*code));
            prop_assert_eq!(r.gateway_internet_address, gateway.0);
        }
        (Icmpv4Type::TimeExceeded(c), H::TimeExceeded { code, .. }) => {
            prop_assert_eq!(c.code_u8(), u8::from(*code));
        }
        (Icmpv4Type::ParameterProblem(pp), H::ParameterProblem { code, pointer, .. }) => {
            let expected = ParameterProblemHeader::from_values(*code, *pointer);
            prop_assert_eq!(Some(pp), expected.as_ref());
        }
        (Icmpv4Type::TimestampRequest(t), H::Timestamp(x))
        | (Icmpv4Type::TimestampReply(t), H::TimestampReply(x)) => {
            prop_assert_eq!((t.id, t.seq), (x.identifier, x.sequence_number));
        }
        // etherparse has no meaning for these; ersatz may (source quench,
        // information request/reply, codes etherparse does not name).
        (Icmpv4Type::Unknown { .. }, h) => {
            let known_to_etherparse = match h {
                H::EchoReply(_) | H::EchoRequest(_) | H::Timestamp(_) | H::TimestampReply(_) => {
                    true
                }
                H::DestinationUnreachable { code, .. } => u8::from(*code) <= 15,
                H::Redirect { code, .. } => u8::from(*code) <= 3,
                H::TimeExceeded { code, .. } => u8::from(*code) <= 1,
                H::ParameterProblem { code, .. } => *code <= 2,
                H::SourceQuench { .. }
                | H::InformationRequest(_)
                | H::InformationReply(_)
                | H::Other { .. } => false,
                unknown => {
                    return Err(fail(("new in ersatz, unknown to this comparison", unknown)))
                }
            };
            prop_assert!(!known_to_etherparse, "etherparse: unknown, ersatz: {:?}", h);
        }
        (ep, h) => return Err(fail(("different meanings", ep, h))),
    }
    Ok(())
}

/// The whole-packet slicer agrees where it applies (ICMP, whole, not a
/// timestamp of the wrong length).
fn compare_sliced(bytes: &[u8], p: &ipv4::Packet<'_>) -> Result<(), TestCaseError> {
    let ipv4::Payload::ICMP(m) = &p.payload else {
        return Ok(());
    };
    let hl = usize::from(p.ihl) * 4;
    let icmp_bytes = &bytes[14 + hl..14 + usize::from(p.length)];
    if is_timestamp(icmp_bytes) && icmp_bytes.len() != 20 {
        return Ok(());
    }
    let sliced = SlicedPacket::from_ethernet(bytes).map_err(fail)?;
    let Some(LinkSlice::Ethernet2(eth)) = &sliced.link else {
        return Err(fail(("no Ethernet link", &sliced.link)));
    };
    prop_assert_eq!(&eth.source()[..], &bytes[6..12]);
    let Some(NetSlice::Ipv4(ip)) = &sliced.net else {
        return Err(fail(("no IPv4", &sliced.net)));
    };
    prop_assert_eq!(ip.header().source(), p.src.0);
    prop_assert_eq!(ip.header().destination(), p.dst.0);
    let Some(TransportSlice::Icmpv4(s)) = &sliced.transport else {
        return Err(fail(("no ICMPv4", &sliced.transport)));
    };
    prop_assert_eq!(s.slice(), icmp_bytes);
    prop_assert_eq!(s.checksum(), m.checksum);
    Ok(())
}

// ---------------------------------------------------------------------------

#[test]
fn etherparse_decodes_frames_built_by_ersatz() {
    check(5000, arb_built(), |b| {
        let bytes = b.frame.to_vec().map_err(fail)?;
        let expected = as_parsed(&b.frame);
        prop_assert_eq!(etherparse_accepts(&bytes), Some(true));
        compare(&bytes, &expected)?;
        // and every checksum ersatz wrote is the one etherparse computes
        if let ethernet::Payload::IPv4(p) = &expected.payload {
            let mut header = bytes[14..14 + usize::from(p.ihl) * 4].to_vec();
            header[10..12].fill(0);
            prop_assert_eq!(p.checksum, ep_checksum(&header));
            let at = 14 + header.len();
            match &p.payload {
                ipv4::Payload::ICMP(m) => {
                    let message = &bytes[at..at + m.len()];
                    let raw = Icmpv4Type::Unknown {
                        type_u8: message[0],
                        code_u8: message[1],
                        bytes5to8: message[4..8].try_into().unwrap(),
                    };
                    prop_assert_eq!(m.checksum, raw.calc_checksum(&message[8..]));
                }
                ipv4::Payload::TCP(t) => {
                    let s = TcpSlice::from_slice(&bytes[at..at + t.len()]).map_err(fail)?;
                    let computed = s.calc_checksum_ipv4(p.src.0, p.dst.0).map_err(fail)?;
                    prop_assert_eq!(t.checksum, computed);
                }
                ipv4::Payload::UDP(u) if u.checksum != udp::NO_CHECKSUM => {
                    let s = UdpSlice::from_slice(&bytes[at..at + u.len()]).map_err(fail)?;
                    let computed = s
                        .to_header()
                        .calc_checksum_ipv4_raw(p.src.0, p.dst.0, s.payload())
                        .map_err(fail)?;
                    prop_assert_eq!(u.checksum, computed);
                }
                _ => {}
            }
        }
        Ok(())
    });
}

/// Random bytes behind an Ethernet header announcing IPv4 (often with a
/// plausible version/IHL byte), ARP or something else.
fn arb_random_frame() -> BoxedStrategy<Hex> {
    (
        vec(any::<u8>(), 12),
        prop::sample::select(vec![0x0800u16, 0x0806, 0x0800, 0x1234]),
        prop_oneof![Just(None), (0x45u8..=0x4f).prop_map(Some)],
        arb_bytes(200),
    )
        .prop_map(|(macs, et, first, tail)| {
            let mut v = macs;
            v.extend_from_slice(&et.to_be_bytes());
            v.extend(first);
            v.extend_from_slice(&tail);
            Hex(v)
        })
        .boxed()
}

/// Both accept or both reject `bytes` (where comparable), and when ersatz
/// accepts, they agree on every field and checksum verdict. Returns whether
/// ersatz accepted.
fn agree(bytes: &[u8]) -> Result<bool, TestCaseError> {
    let ersatz = ethernet::Frame::parse(bytes);
    if let Some(accepts) = etherparse_accepts(bytes) {
        prop_assert_eq!(
            ersatz.is_ok(),
            accepts,
            "ersatz: {:?}",
            ersatz.as_ref().map(|_| ()).map_err(|e| e.locate(bytes))
        );
    }
    if let Ok((_, f)) = &ersatz {
        compare(bytes, f)?;
    }
    Ok(ersatz.is_ok())
}

fn check_agreement(what: &str, cases: u32, strategy: BoxedStrategy<Hex>, min_each: u32) {
    let counts = std::cell::Cell::new([0u32; 2]);
    check(cases, strategy, |Hex(bytes)| {
        let accepted = agree(&bytes)?;
        let mut c = counts.get();
        c[usize::from(accepted)] += 1;
        counts.set(c);
        Ok(())
    });
    let [rejected, accepted] = counts.get();
    eprintln!("{what}: {accepted} accepted by both, {rejected} rejected");
    assert!(
        accepted >= min_each && rejected >= min_each,
        "{what}: too one-sided to compare much: {accepted} accepted, {rejected} rejected"
    );
}

#[test]
fn ersatz_and_etherparse_agree_on_mutated_frames() {
    check_agreement("mutated", 5000, arb_mutated(), 1000);
}

#[test]
fn ersatz_and_etherparse_agree_on_random_frames() {
    check_agreement("random", 1500, arb_random_frame(), 300);
}

// ---------------------------------------------------------------------------
// Frames built by etherparse, read by ersatz.

#[derive(Debug, Clone)]
struct EpFrame {
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    ip: IpFields,
    icmp: Icmpv4Type,
    payload: Vec<u8>,
}

fn arb_ep_icmp() -> BoxedStrategy<Icmpv4Type> {
    use etherparse::icmpv4::{RedirectCode, RedirectHeader, TimeExceededCode};
    use etherparse::IcmpEchoHeader;
    let echo = (any::<u16>(), any::<u16>()).prop_map(|(id, seq)| IcmpEchoHeader { id, seq });
    prop_oneof![
        4 => echo.clone().prop_map(Icmpv4Type::EchoRequest),
        4 => echo.prop_map(Icmpv4Type::EchoReply),
        1 => (0u8..16, any::<u16>()).prop_map(|(c, mtu)| Icmpv4Type::DestinationUnreachable(
            DestUnreachableHeader::from_values(c, mtu).unwrap()
        )),
        1 => (0u8..2).prop_map(|c| Icmpv4Type::TimeExceeded(TimeExceededCode::from_u8(c).unwrap())),
        1 => (0u8..4, any::<[u8; 4]>()).prop_map(|(c, gw)| Icmpv4Type::Redirect(RedirectHeader {
            code: RedirectCode::from_u8(c).unwrap(),
            gateway_internet_address: gw,
        })),
        1 => (0u8..3, any::<u8>()).prop_map(|(c, ptr)| Icmpv4Type::ParameterProblem(
            ParameterProblemHeader::from_values(c, ptr).unwrap()
        )),
        1 => (any::<u8>(), any::<u8>(), any::<[u8; 4]>()).prop_map(|(t, c, b)| {
            // Timestamps need their exact length; leave them out here.
            let type_u8 = if matches!(t, 13 | 14) { 42 } else { t };
            Icmpv4Type::Unknown { type_u8, code_u8: c, bytes5to8: b }
        }),
    ]
    .boxed()
}

fn arb_ep_frame() -> BoxedStrategy<EpFrame> {
    (
        any::<[u8; 6]>(),
        any::<[u8; 6]>(),
        arb_ip_fields(),
        arb_ep_icmp(),
        arb_bytes(1500),
    )
        .prop_map(|(src_mac, dst_mac, mut ip, icmp, payload)| {
            // etherparse's header has no reserved flag, and a fragment's
            // payload is not an ICMP message to ersatz.
            ip.flags &= 2;
            ip.fragment_offset = 0;
            EpFrame {
                src_mac,
                dst_mac,
                ip,
                icmp,
                payload,
            }
        })
        .boxed()
}

#[test]
fn ersatz_reads_frames_built_by_etherparse() {
    check(3000, arb_ep_frame(), |e| {
        let header = Ipv4Header {
            dscp: IpDscp::try_new(e.ip.dscp).unwrap(),
            ecn: IpEcn::try_new(e.ip.ecn).unwrap(),
            identification: e.ip.identification,
            dont_fragment: e.ip.flags & 2 != 0,
            more_fragments: false,
            fragment_offset: IpFragOffset::ZERO,
            time_to_live: e.ip.ttl,
            source: e.ip.src.0,
            destination: e.ip.dst.0,
            options: Ipv4Options::try_from(&e.ip.options[..]).unwrap(),
            ..Default::default()
        };
        let builder = PacketBuilder::ethernet2(e.src_mac, e.dst_mac)
            .ip(IpHeaders::Ipv4(header, Default::default()))
            .icmpv4(e.icmp.clone());
        let mut bytes = Vec::with_capacity(builder.size(e.payload.len()));
        builder.write(&mut bytes, &e.payload).map_err(fail)?;

        let (rest, f) = ethernet::Frame::parse(&bytes).map_err(|x| fail(x.locate(&bytes)))?;
        prop_assert!(rest.is_empty());
        prop_assert_eq!((f.dst.0, f.src.0), (e.dst_mac, e.src_mac));
        prop_assert_eq!(f.ether_type, Some(ethernet::EtherType::IPv4));
        prop_assert!(f.padding.is_empty());
        let ethernet::Payload::IPv4(p) = &f.payload else {
            return Err(fail(("not IPv4", &f.payload)));
        };
        prop_assert!(p.checksum_ok, "etherparse's header checksum rejected");
        prop_assert_eq!(p.ihl as usize, 5 + e.ip.options.len() / 4);
        prop_assert_eq!(
            usize::from(p.length),
            20 + e.ip.options.len() + 8 + e.payload.len()
        );
        prop_assert_eq!((p.dscp, p.ecn), (e.ip.dscp, e.ip.ecn));
        prop_assert_eq!(p.identification, e.ip.identification);
        prop_assert_eq!(p.flags, e.ip.flags);
        prop_assert_eq!(p.fragment_offset, 0);
        prop_assert_eq!(p.ttl, e.ip.ttl);
        prop_assert_eq!(p.protocol, ipv4::Protocol::ICMP);
        prop_assert_eq!((p.src, p.dst), (e.ip.src, e.ip.dst));
        prop_assert_eq!(&p.options[..], &e.ip.options[..]);
        let ipv4::Payload::ICMP(m) = &p.payload else {
            return Err(fail(("not ICMP", &p.payload)));
        };
        prop_assert!(m.checksum_ok, "etherparse's ICMP checksum rejected");
        prop_assert_eq!(&m.payload[..], &e.payload[..]);
        compare_icmp_kind(&e.icmp, &m.header)?;
        prop_assert_eq!(Hex(f.to_vec().map_err(fail)?), Hex(bytes.clone()));
        Ok(())
    });
}

#[test]
fn etherparse_echo_request_builder_matches_ersatz() {
    // The plain `ipv4(..).icmpv4_echo_request(..)` path: etherparse sets
    // DF and identification 0 by itself, ersatz's `into_packet` neither.
    check(
        500,
        (
            any::<[u8; 4]>(),
            any::<[u8; 4]>(),
            any::<u8>(),
            any::<u16>(),
            any::<u16>(),
            arb_bytes(200),
        ),
        |(src, dst, ttl, id, seq, payload)| {
            let builder = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
                .ipv4(src, dst, ttl)
                .icmpv4_echo_request(id, seq);
            let mut bytes = Vec::new();
            builder.write(&mut bytes, &payload).map_err(fail)?;
            let echo = icmp::Echo {
                identifier: id,
                sequence_number: seq,
            };
            let mut packet = echo
                .into_echo_request(payload.clone())
                .into_ipv4_payload()
                .into_packet(ipv4::Addr(src), ipv4::Addr(dst));
            packet.identification = 0;
            packet.flags = ipv4::DONT_FRAGMENT;
            packet.ttl = ttl;
            let frame = ethernet::Frame::new(
                ethernet::Addr([2, 0, 0, 0, 0, 2]),
                ethernet::Addr([2, 0, 0, 0, 0, 1]),
                packet.into_ethernet_payload(),
            );
            prop_assert_eq!(Hex(frame.to_vec().map_err(fail)?), Hex(bytes.clone()));
            let (_, parsed) = ethernet::Frame::parse(&bytes).map_err(fail)?;
            prop_assert!(all_checksums_ok(&parsed));
            prop_assert_eq!(&parsed, &as_parsed(&frame));
            Ok(())
        },
    );
}

// ---------------------------------------------------------------------------
// TCP and UDP built by etherparse, read by ersatz (and the other way round).

/// Options etherparse can write: what a kernel puts in a SYN, in any order.
fn arb_ep_tcp_options() -> BoxedStrategy<Vec<TcpOptionElement>> {
    let option = prop_oneof![
        Just(TcpOptionElement::Noop),
        any::<u16>().prop_map(TcpOptionElement::MaximumSegmentSize),
        any::<u8>().prop_map(TcpOptionElement::WindowScale),
        Just(TcpOptionElement::SelectiveAcknowledgementPermitted),
        (any::<(u32, u32)>(), any::<[Option<(u32, u32)>; 3]>()).prop_map(|(first, rest)| {
            // etherparse writes the blocks up to the first missing one.
            let mut rest = rest;
            if let Some(gap) = rest.iter().position(Option::is_none) {
                rest[gap..].fill(None);
            }
            TcpOptionElement::SelectiveAcknowledgement(first, rest)
        }),
        (any::<u32>(), any::<u32>()).prop_map(|(v, e)| TcpOptionElement::Timestamp(v, e)),
    ];
    vec(option, 0..5)
        .prop_map(|mut list| {
            let len = |l: &[TcpOptionElement]| -> usize {
                l.iter()
                    .map(|o| match o {
                        TcpOptionElement::Noop => 1,
                        TcpOptionElement::MaximumSegmentSize(_) => 4,
                        TcpOptionElement::WindowScale(_) => 3,
                        TcpOptionElement::SelectiveAcknowledgementPermitted => 2,
                        TcpOptionElement::SelectiveAcknowledgement(_, r) => {
                            10 + 8 * r.iter().flatten().count()
                        }
                        TcpOptionElement::Timestamp(..) => 10,
                    })
                    .sum()
            };
            while len(&list) > 40 {
                list.pop();
            }
            list
        })
        .boxed()
}

/// The same option, in ersatz's words.
fn ersatz_option(o: &TcpOptionElement) -> tcp::TcpOption<'static> {
    use tcp::TcpOption as O;
    match *o {
        TcpOptionElement::Noop => O::NoOperation,
        TcpOptionElement::MaximumSegmentSize(m) => O::MaxSegmentSize(m),
        TcpOptionElement::WindowScale(s) => O::WindowScale(s),
        TcpOptionElement::SelectiveAcknowledgementPermitted => O::SackPermitted,
        TcpOptionElement::SelectiveAcknowledgement(first, rest) => {
            let mut blocks = [(0, 0); 4];
            blocks[0] = first;
            let mut count = 1;
            for (slot, block) in blocks[1..].iter_mut().zip(rest.iter().flatten()) {
                *slot = *block;
                count += 1;
            }
            O::Sack { blocks, count }
        }
        TcpOptionElement::Timestamp(value, echo) => O::Timestamps { value, echo },
    }
}

#[derive(Debug, Clone)]
struct EpTcp {
    src: [u8; 4],
    dst: [u8; 4],
    ports: (u16, u16),
    seq: u32,
    ack: u32,
    flags: u16,
    window: u16,
    urgent: u16,
    options: Vec<TcpOptionElement>,
    payload: Vec<u8>,
}

fn arb_ep_tcp() -> BoxedStrategy<EpTcp> {
    (
        (any::<[u8; 4]>(), any::<[u8; 4]>(), any::<(u16, u16)>()),
        (
            any::<u32>(),
            any::<u32>(),
            0u16..0x200,
            any::<u16>(),
            any::<u16>(),
        ),
        arb_ep_tcp_options(),
        arb_bytes(1400),
    )
        .prop_map(
            |((src, dst, ports), (seq, ack, flags, window, urgent), options, payload)| EpTcp {
                src,
                dst,
                ports,
                seq,
                ack,
                flags,
                window,
                urgent,
                options,
                payload,
            },
        )
        .boxed()
}

#[test]
fn ersatz_reads_tcp_built_by_etherparse() {
    check(3000, arb_ep_tcp(), |e| {
        let mut header = TcpHeader::new(e.ports.0, e.ports.1, e.seq, e.window);
        let bit = |b: u16| e.flags & b != 0;
        header.acknowledgment_number = e.ack;
        (header.fin, header.syn, header.rst, header.psh) = (bit(1), bit(2), bit(4), bit(8));
        (header.ack, header.urg, header.ece, header.cwr) =
            (bit(0x10), bit(0x20), bit(0x40), bit(0x80));
        header.ns = bit(0x100);
        header.urgent_pointer = e.urgent;
        header.set_options(&e.options).map_err(fail)?;
        let builder = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4(e.src, e.dst, 64)
            .tcp_header(header);
        let mut bytes = Vec::with_capacity(builder.size(e.payload.len()));
        builder.write(&mut bytes, &e.payload).map_err(fail)?;

        let (_, f) = ethernet::Frame::parse(&bytes).map_err(|x| fail(x.locate(&bytes)))?;
        let ethernet::Payload::IPv4(p) = &f.payload else {
            return Err(fail(("not IPv4", &f.payload)));
        };
        let ipv4::Payload::TCP(t) = &p.payload else {
            return Err(fail(("not TCP", &p.payload)));
        };
        prop_assert!(t.checksum_ok, "etherparse's TCP checksum rejected");
        prop_assert_eq!((t.src_port, t.dst_port), e.ports);
        prop_assert_eq!(
            (t.seq, t.ack, t.window, t.urgent),
            (e.seq, e.ack, e.window, e.urgent)
        );
        prop_assert_eq!(t.flags.bits(), e.flags);
        prop_assert_eq!(&t.payload[..], &e.payload[..]);
        // The typed options are etherparse's, then End of Option List
        // padding, if any.
        let ours: Vec<_> = t.options_iter().collect();
        let theirs: Vec<_> = e.options.iter().map(ersatz_option).collect();
        prop_assert_eq!(&ours[..theirs.len()], &theirs[..]);
        prop_assert!(ours[theirs.len()..]
            .iter()
            .all(|o| *o == tcp::TcpOption::EndOfList));
        compare_tcp(&bytes[34..], t, p.src, p.dst)?;
        prop_assert_eq!(Hex(f.to_vec().map_err(fail)?), Hex(bytes.clone()));

        // ersatz builds the same segment from the same fields.
        let mut options = tcp::options(&theirs);
        options.resize(t.options.len(), 0);
        let mut ours = tcp::Packet::new(
            e.ports.0,
            e.ports.1,
            e.seq,
            e.ack,
            tcp::Flags::from_bits(e.flags),
            e.window,
            options.into(),
            e.payload.clone().into(),
        );
        ours.urgent = e.urgent;
        let built = ours.to_vec(p.src, p.dst).map_err(fail)?;
        prop_assert_eq!(Hex(built), Hex(bytes[34..].to_vec()));
        Ok(())
    });
}

#[test]
fn ersatz_reads_udp_built_by_etherparse() {
    check(
        3000,
        (
            any::<[u8; 4]>(),
            any::<[u8; 4]>(),
            any::<(u16, u16)>(),
            arb_bytes(1400),
        ),
        |(src, dst, ports, payload)| {
            let builder = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
                .ipv4(src, dst, 64)
                .udp(ports.0, ports.1);
            let mut bytes = Vec::with_capacity(builder.size(payload.len()));
            builder.write(&mut bytes, &payload).map_err(fail)?;
            let (_, f) = ethernet::Frame::parse(&bytes).map_err(|x| fail(x.locate(&bytes)))?;
            let ethernet::Payload::IPv4(p) = &f.payload else {
                return Err(fail(("not IPv4", &f.payload)));
            };
            let ipv4::Payload::UDP(u) = &p.payload else {
                return Err(fail(("not UDP", &p.payload)));
            };
            prop_assert!(u.checksum_ok, "etherparse's UDP checksum rejected");
            prop_assert_ne!(u.checksum, udp::NO_CHECKSUM);
            prop_assert_eq!((u.src_port, u.dst_port), ports);
            prop_assert_eq!(usize::from(u.length), 8 + payload.len());
            prop_assert_eq!(&u.payload[..], &payload[..]);
            compare_udp(&bytes[34..], u, p.src, p.dst)?;
            prop_assert_eq!(Hex(f.to_vec().map_err(fail)?), Hex(bytes.clone()));
            // ersatz builds the same datagram, and etherparse's header
            // (computed by it) is the one ersatz writes.
            let built = udp::Packet::new(ports.0, ports.1, payload.clone().into())
                .to_vec(p.src, p.dst)
                .map_err(fail)?;
            prop_assert_eq!(Hex(built.clone()), Hex(bytes[34..].to_vec()));
            let (header, _) = UdpHeader::from_slice(&built).map_err(fail)?;
            prop_assert_eq!(
                header.checksum,
                header
                    .calc_checksum_ipv4_raw(src, dst, &payload)
                    .map_err(fail)?
            );
            Ok(())
        },
    );
}
