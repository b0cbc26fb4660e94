//! Shared by the integration tests: the pcap fixtures, an independent reference
//! serializer, proptest strategies for frames built from random fields, and
//! mutations of valid frames.
//!
//! Every test file uses a different subset of this module.
#![allow(dead_code)]

pub mod pcap;

use std::fmt;
use std::path::PathBuf;

use ersatz::{arp, ethernet, icmp, ipv4, tcp, udp, Blob};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngSeed};

// ---------------------------------------------------------------------------
// Bytes that print as hex in proptest failures.

/// A byte vector whose `Debug` is one hex string (proptest prints failing
/// inputs with `Debug`; a list of 1,500 decimals is unreadable).
#[derive(Clone, PartialEq, Eq)]
pub struct Hex(pub Vec<u8>);

impl fmt::Debug for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hex({} bytes: {})", self.0.len(), hex(&self.0))
    }
}

/// `bytes` as lowercase hex, no separators.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Parses lowercase/uppercase hex (whitespace ignored).
pub fn unhex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(digits.len() % 2 == 0, "odd number of hex digits");
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

// ---------------------------------------------------------------------------
// Proptest configuration.

/// `cases` cases from a fixed seed, so that every run (and CI) tests the same
/// inputs; set `PROPTEST_RNG_SEED=<u64>` to explore others. No regression
/// files are written: a failure prints its (shrunk) input.
pub fn config(cases: u32) -> Config {
    let mut config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    if config.rng_seed == RngSeed::Random {
        config.rng_seed = RngSeed::Fixed(0x6572_7361_747a);
    }
    config
}

// ---------------------------------------------------------------------------
// Fixtures.

/// `ersatz/tests/fixtures`.
pub fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The one-frame fixtures (everything but `session.pcap`).
pub const FIXTURES: [&str; 17] = [
    "arp_request",
    "arp_reply",
    "echo_request",
    "echo_reply",
    "dest_unreachable",
    "time_exceeded",
    "ipv4_options_request",
    "ipv4_options_reply",
    "padded_request",
    "padded_reply",
    "tcp_syn",
    "tcp_syn_ack",
    "tcp_fin_data",
    "tcp_rst",
    "udp_datagram",
    "port_unreachable",
    "udp_zero_checksum",
];

/// The single frame of `fixtures/NAME.pcap`.
pub fn fixture(name: &str) -> Vec<u8> {
    let mut frames = pcap::read_frames(fixture_dir().join(format!("{name}.pcap")));
    assert_eq!(frames.len(), 1, "{name}.pcap should hold exactly one frame");
    frames.pop().unwrap()
}

/// Every frame of every `*.pcap` in the fixture directory (the session's 24
/// frames included), with `file#index` names.
pub fn all_fixture_frames() -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixture_dir())
        .expect("fixture directory")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 18,
        "expected the 18 fixture pcaps, found {files:?}"
    );
    let mut out = Vec::new();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        for (i, frame) in pcap::read_frames(&file).into_iter().enumerate() {
            out.push((format!("{name}#{i}"), frame));
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Checksums, computed by the `internet-checksum` crate (not by ersatz).

/// The Internet checksum of `data` (odd length padded with a zero byte).
pub fn inet_checksum(data: &[u8]) -> u16 {
    u16::from_be_bytes(internet_checksum::checksum(data))
}

/// The receiver's check: `data` including its checksum field sums to all ones.
pub fn inet_verify(data: &[u8]) -> bool {
    inet_checksum(data) == 0
}

/// Recomputes, in raw frame bytes, the IPv4 header checksum and (for an
/// unfragmented ICMP packet whose lengths are consistent) the ICMP checksum.
/// Used to make mutated frames whose checksums are right again, so that the
/// "exact bytes back" property is exercised on weird but valid-looking frames.
pub fn fix_checksums(frame: &mut [u8]) {
    if frame.len() < 14 + 20 || frame[12..14] != [0x08, 0x00] || frame[14] >> 4 != 4 {
        return;
    }
    let ip = &mut frame[14..];
    let hl = usize::from(ip[0] & 0x0f) * 4;
    if hl < 20 || hl > ip.len() {
        return;
    }
    ip[10..12].fill(0);
    let sum = inet_checksum(&ip[..hl]);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let fragment = ip[6] & 0x20 != 0 || u16::from_be_bytes([ip[6] & 0x1f, ip[7]]) != 0;
    if fragment || total > ip.len() || total < hl + 8 {
        return;
    }
    let (src, dst) = (
        [ip[12], ip[13], ip[14], ip[15]],
        [ip[16], ip[17], ip[18], ip[19]],
    );
    let protocol = ip[9];
    let body = &mut ip[hl..total];
    match protocol {
        1 => {
            body[2..4].fill(0);
            let sum = inet_checksum(body);
            body[2..4].copy_from_slice(&sum.to_be_bytes());
        }
        6 if body.len() >= 20 => {
            body[16..18].fill(0);
            let sum = transport_checksum(src, dst, 6, body);
            body[16..18].copy_from_slice(&sum.to_be_bytes());
        }
        17 => {
            let len = usize::from(u16::from_be_bytes([body[4], body[5]]));
            // A datagram without a checksum stays without one.
            if len < 8 || len > body.len() || body[6..8] == [0, 0] {
                return;
            }
            let datagram = &mut body[..len];
            datagram[6..8].fill(0);
            let sum = match transport_checksum(src, dst, 17, datagram) {
                0 => 0xffff,
                s => s,
            };
            datagram[6..8].copy_from_slice(&sum.to_be_bytes());
        }
        _ => {}
    }
}

/// The TCP or UDP checksum of `segment` (its checksum field zeroed) sent
/// from `src` to `dst`: the IPv4 pseudo-header and the segment, by the
/// `internet-checksum` crate.
pub fn transport_checksum(src: [u8; 4], dst: [u8; 4], protocol: u8, segment: &[u8]) -> u16 {
    let mut pseudo = Vec::with_capacity(12 + segment.len());
    pseudo.extend_from_slice(&src);
    pseudo.extend_from_slice(&dst);
    pseudo.extend_from_slice(&[0, protocol]);
    pseudo.extend_from_slice(&(segment.len() as u16).to_be_bytes());
    pseudo.extend_from_slice(segment);
    inet_checksum(&pseudo)
}

// ---------------------------------------------------------------------------
// An independent serializer: plain shifts and the `internet-checksum` crate,
// none of ersatz's bit fields, checksum or cookie-factory code.

/// Code and the 4 type-specific bytes of an ICMP header, written out by hand.
pub fn icmp_wire(h: &icmp::Header) -> (u8, [u8; 4]) {
    use icmp::Header as H;
    let echo = |e: &icmp::Echo| {
        let mut r = [0u8; 4];
        r[..2].copy_from_slice(&e.identifier.to_be_bytes());
        r[2..].copy_from_slice(&e.sequence_number.to_be_bytes());
        r
    };
    match h {
        H::EchoReply(e)
        | H::EchoRequest(e)
        | H::Timestamp(e)
        | H::TimestampReply(e)
        | H::InformationRequest(e)
        | H::InformationReply(e) => (0, echo(e)),
        H::DestinationUnreachable {
            code,
            unused,
            next_hop_mtu,
        } => {
            let [a, b] = unused.to_be_bytes();
            let [c, d] = next_hop_mtu.to_be_bytes();
            (u8::from(*code), [a, b, c, d])
        }
        H::SourceQuench { code, unused } => (*code, unused.to_be_bytes()),
        H::Redirect { code, gateway } => (u8::from(*code), gateway.0),
        H::TimeExceeded { code, unused } => (u8::from(*code), unused.to_be_bytes()),
        H::ParameterProblem {
            code,
            pointer,
            unused,
        } => (*code, [*pointer, unused[0], unused[1], unused[2]]),
        H::Other { code, rest } => (*code, *rest),
        unknown => panic!("new in ersatz, unknown to this reference code: {unknown:?}"),
    }
}

/// The type byte a header of this kind has on the wire (`None` for `Other`).
pub fn icmp_type_byte(h: &icmp::Header) -> Option<u8> {
    use icmp::Header as H;
    Some(match h {
        H::EchoReply(_) => 0,
        H::DestinationUnreachable { .. } => 3,
        H::SourceQuench { .. } => 4,
        H::Redirect { .. } => 5,
        H::EchoRequest(_) => 8,
        H::TimeExceeded { .. } => 11,
        H::ParameterProblem { .. } => 12,
        H::Timestamp(_) => 13,
        H::TimestampReply(_) => 14,
        H::InformationRequest(_) => 15,
        H::InformationReply(_) => 16,
        H::Other { .. } => return None,
        unknown => panic!("new in ersatz, unknown to this reference code: {unknown:?}"),
    })
}

/// An ICMP message's bytes.
pub fn reference_icmp(p: &icmp::Packet<'_>) -> Vec<u8> {
    let (code, rest) = icmp_wire(&p.header);
    let mut out = vec![u8::from(p.typ), code, 0, 0];
    out.extend_from_slice(&rest);
    out.extend_from_slice(&p.payload);
    let sum = inet_checksum(&out);
    out[2..4].copy_from_slice(&sum.to_be_bytes());
    out
}

/// A TCP segment's bytes, sent from `src` to `dst`.
pub fn reference_tcp(p: &tcp::Packet<'_>, src: ipv4::Addr, dst: ipv4::Addr) -> Vec<u8> {
    let options = padded_options(&p.options);
    let offset = ((20 + options.len()) / 4) as u16;
    let word = offset << 12 | u16::from(p.reserved) << 9 | p.flags.bits();
    let mut out = Vec::new();
    out.extend_from_slice(&p.src_port.to_be_bytes());
    out.extend_from_slice(&p.dst_port.to_be_bytes());
    out.extend_from_slice(&p.seq.to_be_bytes());
    out.extend_from_slice(&p.ack.to_be_bytes());
    out.extend_from_slice(&word.to_be_bytes());
    out.extend_from_slice(&p.window.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&p.urgent.to_be_bytes());
    out.extend_from_slice(&options);
    out.extend_from_slice(&p.payload);
    let sum = transport_checksum(src.0, dst.0, 6, &out);
    out[16..18].copy_from_slice(&sum.to_be_bytes());
    out
}

/// A UDP datagram's bytes, sent from `src` to `dst`: no checksum if its
/// field is 0, else the computed one (`ffff` for zero).
pub fn reference_udp(p: &udp::Packet<'_>, src: ipv4::Addr, dst: ipv4::Addr) -> Vec<u8> {
    let len = u16::try_from(8 + p.payload.len()).expect("datagram too long for the reference");
    let mut out = Vec::new();
    out.extend_from_slice(&p.src_port.to_be_bytes());
    out.extend_from_slice(&p.dst_port.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&p.payload);
    if p.checksum != 0 {
        let sum = match transport_checksum(src.0, dst.0, 17, &out) {
            0 => 0xffff,
            s => s,
        };
        out[6..8].copy_from_slice(&sum.to_be_bytes());
    }
    out
}

/// Options zero-padded to a whole number of 32-bit words.
pub fn padded_options(options: &[u8]) -> Vec<u8> {
    let mut o = options.to_vec();
    o.resize(options.len().div_ceil(4) * 4, 0);
    o
}

/// An IPv4 packet's bytes.
pub fn reference_ipv4(p: &ipv4::Packet<'_>) -> Vec<u8> {
    let options = padded_options(&p.options);
    let payload = match &p.payload {
        ipv4::Payload::ICMP(m) => reference_icmp(m),
        ipv4::Payload::TCP(t) => reference_tcp(t, p.src, p.dst),
        ipv4::Payload::UDP(u) => reference_udp(u, p.src, p.dst),
        ipv4::Payload::Unknown(b) => b.to_vec(),
        unknown => panic!("new in ersatz, unknown to this reference code: {unknown:?}"),
    };
    let hl = 20 + options.len();
    let total = u16::try_from(hl + payload.len()).expect("packet too long for the reference");
    let flags_frag = (u16::from(p.flags) << 13) | p.fragment_offset;
    let mut out = vec![(p.version << 4) | (hl / 4) as u8, (p.dscp << 2) | p.ecn];
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&p.identification.to_be_bytes());
    out.extend_from_slice(&flags_frag.to_be_bytes());
    out.push(p.ttl);
    out.push(u8::from(p.protocol));
    out.extend_from_slice(&[0, 0]);
    out.extend_from_slice(&p.src.0);
    out.extend_from_slice(&p.dst.0);
    out.extend_from_slice(&options);
    let sum = inet_checksum(&out);
    out[10..12].copy_from_slice(&sum.to_be_bytes());
    out.extend_from_slice(&payload);
    out
}

/// An Ethernet/IPv4 ARP packet's 28 bytes.
pub fn reference_arp(p: &arp::Packet) -> Vec<u8> {
    let op: u16 = match p.operation {
        arp::Operation::Request => 1,
        arp::Operation::Reply => 2,
        unknown => panic!("new in ersatz, unknown to this reference code: {unknown:?}"),
    };
    let mut out = vec![0, 1, 8, 0, 6, 4];
    out.extend_from_slice(&op.to_be_bytes());
    out.extend_from_slice(&p.sender_hw_addr.0);
    out.extend_from_slice(&p.sender_ip_addr.0);
    out.extend_from_slice(&p.target_hw_addr.0);
    out.extend_from_slice(&p.target_ip_addr.0);
    out
}

/// A frame's bytes.
pub fn reference_frame(f: &ethernet::Frame<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&f.dst.0);
    out.extend_from_slice(&f.src.0);
    let (ether_type, body) = match &f.payload {
        ethernet::Payload::IPv4(p) => (0x0800u16, reference_ipv4(p)),
        ethernet::Payload::ARP(p) => (0x0806, reference_arp(p)),
        ethernet::Payload::Unknown(t, b) => (*t, b.to_vec()),
        unknown => panic!("new in ersatz, unknown to this reference code: {unknown:?}"),
    };
    out.extend_from_slice(&ether_type.to_be_bytes());
    out.extend_from_slice(&body);
    out.extend_from_slice(&f.padding);
    out
}

// ---------------------------------------------------------------------------
// Frames as the parser sees them.

/// What parsing `f`'s bytes must give: the fields a serializer computes
/// (IHL, total length, options padding, both checksums) set from the reference
/// serializer, checksums marked correct, everything owned.
pub fn as_parsed(f: &ethernet::Frame<'_>) -> ethernet::Frame<'static> {
    let mut f = f.clone().into_owned();
    if let ethernet::Payload::IPv4(p) = &mut f.payload {
        let bytes = reference_ipv4(p);
        let options = padded_options(&p.options);
        p.ihl = ((20 + options.len()) / 4) as u8;
        p.length = u16::from_be_bytes([bytes[2], bytes[3]]);
        p.checksum = u16::from_be_bytes([bytes[10], bytes[11]]);
        p.checksum_ok = true;
        p.options = Blob::from(options);
        let (src, dst) = (p.src, p.dst);
        match &mut p.payload {
            ipv4::Payload::ICMP(m) => {
                let bytes = reference_icmp(m);
                m.checksum = u16::from_be_bytes([bytes[2], bytes[3]]);
                m.checksum_ok = true;
            }
            ipv4::Payload::TCP(t) => *t = tcp_as_parsed(t, src, dst),
            ipv4::Payload::UDP(u) => *u = udp_as_parsed(u, src, dst),
            ipv4::Payload::Unknown(_) => {}
            unknown => panic!("new in ersatz, unknown to this reference code: {unknown:?}"),
        }
    }
    f
}

/// What parsing the bytes of `t` (sent from `src` to `dst`) must give.
pub fn tcp_as_parsed(
    t: &tcp::Packet<'_>,
    src: ipv4::Addr,
    dst: ipv4::Addr,
) -> tcp::Packet<'static> {
    let bytes = reference_tcp(t, src, dst);
    let options = padded_options(&t.options);
    tcp::Packet {
        data_offset: ((20 + options.len()) / 4) as u8,
        checksum: u16::from_be_bytes([bytes[16], bytes[17]]),
        checksum_ok: true,
        options: Blob::from(options),
        ..t.clone().into_owned()
    }
}

/// What parsing the bytes of `u` (sent from `src` to `dst`) must give.
pub fn udp_as_parsed(
    u: &udp::Packet<'_>,
    src: ipv4::Addr,
    dst: ipv4::Addr,
) -> udp::Packet<'static> {
    let bytes = reference_udp(u, src, dst);
    udp::Packet {
        length: u16::from_be_bytes([bytes[4], bytes[5]]),
        checksum: u16::from_be_bytes([bytes[6], bytes[7]]),
        checksum_ok: true,
        ..u.clone().into_owned()
    }
}

/// `f` with every checksum field zeroed and marked correct: for comparing
/// frames that may differ only in their checksums.
pub fn without_checksums(f: &ethernet::Frame<'_>) -> ethernet::Frame<'static> {
    let mut f = f.clone().into_owned();
    if let ethernet::Payload::IPv4(p) = &mut f.payload {
        p.checksum = 0;
        p.checksum_ok = true;
        match &mut p.payload {
            ipv4::Payload::ICMP(m) => {
                m.checksum = 0;
                m.checksum_ok = true;
            }
            ipv4::Payload::TCP(t) => {
                t.checksum = 0;
                t.checksum_ok = true;
            }
            ipv4::Payload::UDP(u) => {
                u.checksum = 0;
                u.checksum_ok = true;
            }
            ipv4::Payload::Unknown(_) => {}
            unknown => panic!("new in ersatz, unknown to this reference code: {unknown:?}"),
        }
    }
    f
}

/// Whether every checksum ersatz verified in `f` was correct.
pub fn all_checksums_ok(f: &ethernet::Frame<'_>) -> bool {
    match &f.payload {
        ethernet::Payload::IPv4(p) => {
            p.checksum_ok
                && match &p.payload {
                    ipv4::Payload::ICMP(m) => m.checksum_ok,
                    ipv4::Payload::TCP(t) => t.checksum_ok,
                    ipv4::Payload::UDP(u) => u.checksum_ok,
                    ipv4::Payload::Unknown(_) => true,
                    unknown => panic!("new in ersatz, unknown to this reference code: {unknown:?}"),
                }
        }
        _ => true,
    }
}

/// Byte ranges of the checksum fields of a parsed frame, in its bytes.
pub fn checksum_fields(f: &ethernet::Frame<'_>) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    if let ethernet::Payload::IPv4(p) = &f.payload {
        out.push(14 + 10..14 + 12);
        let at = 14 + usize::from(p.ihl) * 4;
        match &p.payload {
            ipv4::Payload::ICMP(_) => out.push(at + 2..at + 4),
            ipv4::Payload::TCP(_) => out.push(at + 16..at + 18),
            ipv4::Payload::UDP(_) => out.push(at + 6..at + 8),
            ipv4::Payload::Unknown(_) => {}
            unknown => panic!("new in ersatz, unknown to this reference code: {unknown:?}"),
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Never-panic exercise of every parser.

/// Runs every parser on `bytes` and on the sub-slices where an IPv4 header,
/// an ICMP message or a quoted datagram may start, and everything that is
/// reachable from what they return (`original`, `echo_request`, `to_vec`,
/// error location). Panics only through the assertions it makes: a located
/// error lies inside the input.
pub fn exercise(bytes: &[u8]) {
    match ethernet::Frame::parse(bytes) {
        Ok((rest, f)) => {
            assert!(rest.is_empty(), "Frame::parse left {} bytes", rest.len());
            if let ethernet::Payload::IPv4(p) = &f.payload {
                exercise_ipv4(p);
            }
        }
        Err(e) => check_error(bytes, e),
    }
    let mut starts = vec![0, 14, 34, 42, 14 + 20 + 8 + 20];
    if let Some(b) = bytes.get(14) {
        let hl = usize::from(b & 0x0f) * 4;
        starts.extend([14 + hl, 14 + hl + 8]);
    }
    for start in starts {
        let s = &bytes[start.min(bytes.len())..];
        match ipv4::Packet::parse(s) {
            Ok((_, p)) => exercise_ipv4(&p),
            Err(e) => check_error(s, e),
        }
        match ipv4::Packet::parse_quoted(s) {
            Ok((_, p)) => exercise_ipv4(&p),
            Err(e) => check_error(s, e),
        }
        match icmp::Packet::parse(s) {
            Ok((_, m)) => exercise_icmp(&m),
            Err(e) => check_error(s, e),
        }
        match arp::Packet::parse(s) {
            Ok((_, a)) => {
                a.to_vec().expect("ARP serializes");
            }
            Err(e) => check_error(s, e),
        }
        let (src, dst) = (ipv4::Addr([10, 0, 0, 1]), ipv4::Addr([10, 0, 0, 2]));
        match tcp::Packet::parse(s, src, dst) {
            Ok((rest, t)) => {
                assert!(rest.is_empty(), "tcp::Packet::parse left bytes");
                exercise_tcp(&t, src, dst);
            }
            Err(e) => check_error(s, e),
        }
        match udp::Packet::parse(s, src, dst) {
            Ok((_, u)) => {
                u.to_vec(src, dst)
                    .expect("a parsed UDP datagram serializes");
            }
            Err(e) => check_error(s, e),
        }
    }
}

fn exercise_tcp(t: &tcp::Packet<'_>, src: ipv4::Addr, dst: ipv4::Addr) {
    t.to_vec(src, dst).expect("a parsed TCP segment serializes");
    let options: Vec<_> = t.options_iter().collect();
    assert!(options.len() <= t.options.len(), "more options than bytes");
    // The typed options written back are the raw ones, up to the padding
    // after an End of Option List (which `options` writes as zeros).
    let again = tcp::options(&options);
    let kept = t.options.len() - t.padding().len();
    assert_eq!(
        &again[..kept.min(again.len())],
        &t.options[..kept.min(again.len())]
    );
    let _ = t.clone().into_owned().options_iter().count();
}

fn exercise_ipv4(p: &ipv4::Packet<'_>) {
    let _ = p.to_vec().expect("a parsed IPv4 packet serializes");
    let _ = (p.is_fragment(), p.dont_fragment(), p.header_len(), p.len());
    match &p.payload {
        ipv4::Payload::ICMP(m) => exercise_icmp(m),
        ipv4::Payload::TCP(t) => exercise_tcp(t, p.src, p.dst),
        _ => {}
    }
}

fn exercise_icmp(m: &icmp::Packet<'_>) {
    let _ = m.to_vec().expect("a parsed ICMP message serializes");
    if let Some(q) = m.original() {
        assert!(m.header.is_error(), "original() of a non-error message");
        let _ = (q.echo_request(), q.ports(), q.tcp_seq());
        let _ = q.packet.to_vec();
    }
}

fn check_error(input: &[u8], e: ersatz::parse::Error<'_>) {
    let failure = e.locate(input);
    assert!(
        failure.offset <= input.len(),
        "error located at {} in {} bytes: {failure}",
        failure.offset,
        input.len()
    );
    let _ = (format!("{failure}"), format!("{e:?}"), format!("{e}"));
}

// ---------------------------------------------------------------------------
// Strategies: frames from random field values.

/// Random bytes, fast to generate: a length and a seed (shrinks by length),
/// or one repeated byte.
pub fn arb_bytes(max: usize) -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        4 => (0..=max, any::<u64>()).prop_map(|(n, seed)| seeded_bytes(n, seed)),
        1 => (0..=max, any::<u8>()).prop_map(|(n, b)| vec![b; n]),
    ]
    .boxed()
}

/// `n` bytes of SplitMix64 output from `seed`.
pub fn seeded_bytes(n: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(n);
    out
}

/// A random MAC.
pub fn arb_mac() -> impl Strategy<Value = ethernet::Addr> + Clone {
    any::<[u8; 6]>().prop_map(ethernet::Addr)
}

/// A random IPv4 address.
pub fn arb_ip() -> impl Strategy<Value = ipv4::Addr> + Clone {
    any::<[u8; 4]>().prop_map(ipv4::Addr)
}

/// A random echo identifier and sequence number.
pub fn arb_echo() -> impl Strategy<Value = icmp::Echo> + Clone {
    (any::<u16>(), any::<u16>()).prop_map(|(identifier, sequence_number)| icmp::Echo {
        identifier,
        sequence_number,
    })
}

/// A code: mostly the small, named ones.
fn arb_code() -> BoxedStrategy<u8> {
    prop_oneof![3 => 0u8..16, 1 => any::<u8>()].boxed()
}

/// An "unused" field: mostly zero, as it should be.
fn arb_unused_u32() -> BoxedStrategy<u32> {
    prop_oneof![3 => Just(0u32), 1 => any::<u32>()].boxed()
}

/// An ICMP type and header that ersatz would parse back as this very header:
/// every named kind, and [`icmp::Header::Other`] for types ersatz has no
/// layout for and for echo-like types with a non-zero code.
pub fn arb_icmp_header() -> BoxedStrategy<(icmp::Type, icmp::Header)> {
    use icmp::Header as H;
    let named = prop_oneof![
        arb_echo().prop_map(H::EchoRequest),
        arb_echo().prop_map(H::EchoReply),
        (
            arb_code(),
            prop_oneof![3 => Just(0u16), 1 => any::<u16>()],
            any::<u16>()
        )
            .prop_map(|(c, unused, next_hop_mtu)| H::DestinationUnreachable {
                code: c.into(),
                unused,
                next_hop_mtu,
            }),
        (arb_code(), arb_unused_u32()).prop_map(|(code, unused)| H::SourceQuench { code, unused }),
        (arb_code(), arb_ip()).prop_map(|(c, gateway)| H::Redirect {
            code: c.into(),
            gateway
        }),
        (arb_code(), arb_unused_u32()).prop_map(|(c, unused)| H::TimeExceeded {
            code: c.into(),
            unused
        }),
        (arb_code(), any::<u8>(), any::<[u8; 3]>()).prop_map(|(code, pointer, unused)| {
            H::ParameterProblem {
                code,
                pointer,
                unused,
            }
        }),
        arb_echo().prop_map(H::Timestamp),
        arb_echo().prop_map(H::TimestampReply),
        arb_echo().prop_map(H::InformationRequest),
        arb_echo().prop_map(H::InformationReply),
    ]
    .prop_map(|h| {
        let typ = icmp::Type::from(icmp_type_byte(&h).unwrap());
        (typ, h)
    });
    // Types without a layout in ersatz (the named-but-unlaid-out 9, 10, 17, 18
    // included), and the echo-like types with a code other than 0.
    let unlaid_out = prop_oneof![
        prop::sample::select(vec![1u8, 2, 6, 7, 9, 10, 17, 18, 19, 30, 40, 42, 253, 255]),
        17u8..=255,
    ];
    let other = prop_oneof![
        (unlaid_out, any::<u8>(), any::<[u8; 4]>()),
        (
            prop::sample::select(vec![0u8, 8, 13, 14, 15, 16]),
            1u8..=255,
            any::<[u8; 4]>()
        ),
    ]
    .prop_map(|(t, code, rest)| (icmp::Type::from(t), H::Other { code, rest }));
    prop_oneof![6 => named, 1 => other].boxed()
}

/// Options: a random whole number of words, 0 to 10 (40 bytes).
pub fn arb_options() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        2 => Just(Vec::new()),
        1 => (0usize..=10).prop_flat_map(|words| vec(any::<u8>(), words * 4)),
    ]
    .boxed()
}

/// Every IPv4 header field ersatz lets a caller choose.
#[derive(Debug, Clone)]
pub struct IpFields {
    pub src: ipv4::Addr,
    pub dst: ipv4::Addr,
    pub identification: u16,
    pub ttl: u8,
    pub dscp: u8,
    pub ecn: u8,
    pub flags: u8,
    pub fragment_offset: u16,
    pub options: Vec<u8>,
}

impl IpFields {
    /// Whether a packet with these fields is a fragment.
    pub fn is_fragment(&self) -> bool {
        self.flags & 1 != 0 || self.fragment_offset != 0
    }

    /// A packet with these fields, `protocol` and `payload` (the computed
    /// fields left at zero: the serializer must fill them in).
    pub fn packet(
        &self,
        protocol: ipv4::Protocol,
        payload: ipv4::Payload<'static>,
    ) -> ipv4::Packet<'static> {
        ipv4::Packet {
            version: 4,
            ihl: 0,
            dscp: self.dscp,
            ecn: self.ecn,
            length: 0,
            identification: self.identification,
            flags: self.flags,
            fragment_offset: self.fragment_offset,
            ttl: self.ttl,
            protocol,
            checksum: 0,
            checksum_ok: true,
            src: self.src,
            dst: self.dst,
            options: Blob::from(self.options.clone()),
            payload,
        }
    }
}

/// Random IPv4 header fields: mostly unfragmented (DF or nothing), sometimes
/// any flags (the reserved bit too) and offset.
pub fn arb_ip_fields() -> BoxedStrategy<IpFields> {
    (
        (arb_ip(), arb_ip(), any::<u16>(), any::<u8>()),
        (0u8..64, 0u8..4),
        prop_oneof![3 => Just(0u8), 3 => Just(2u8), 1 => 0u8..8],
        prop_oneof![6 => Just(0u16), 1 => 0u16..8192],
        arb_options(),
    )
        .prop_map(
            |((src, dst, identification, ttl), (dscp, ecn), flags, fragment_offset, options)| {
                IpFields {
                    src,
                    dst,
                    identification,
                    ttl,
                    dscp,
                    ecn,
                    flags,
                    fragment_offset,
                    options,
                }
            },
        )
        .boxed()
}

/// An echo request datagram as a router would quote it: whole (as Linux does)
/// or cut after the header and 8 bytes (RFC 792's minimum), with the echo it
/// carries.
pub fn arb_quote() -> BoxedStrategy<(Vec<u8>, icmp::Echo)> {
    (
        arb_ip_fields(),
        arb_echo(),
        arb_bytes(64),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(mut fields, echo, data, df, whole)| {
            fields.flags = if df { 2 } else { 0 };
            fields.fragment_offset = 0;
            let packet = fields.packet(
                ipv4::Protocol::ICMP,
                echo.into_echo_request(data).into_ipv4_payload(),
            );
            let mut bytes = reference_ipv4(&packet);
            if !whole {
                bytes.truncate(20 + padded_options(&fields.options).len() + 8);
            }
            (bytes, echo)
        })
        .boxed()
}

/// An ICMP message with a random header (every kind) and payload (0 to 1,500
/// bytes, odd lengths too; error messages often quote a real echo request,
/// whose echo is returned; timestamps carry their 12 bytes).
pub fn arb_icmp() -> BoxedStrategy<(icmp::Packet<'static>, Option<icmp::Echo>)> {
    (
        arb_icmp_header(),
        arb_bytes(1500),
        prop::option::weighted(0.5, arb_quote()),
    )
        .prop_map(|((typ, header), payload, quote)| {
            let (payload, echo) = match (header, quote) {
                (h, Some((q, echo))) if h.is_error() => (q, Some(echo)),
                (icmp::Header::Timestamp(_) | icmp::Header::TimestampReply(_), _) => {
                    (seeded_bytes(12, payload.len() as u64), None)
                }
                _ => (payload, None),
            };
            let mut m = icmp::Packet::new(header, Blob::from(payload));
            // `new` picks the type of every named header itself (that is
            // under test); `Other` needs its type set.
            if let icmp::Header::Other { .. } = header {
                m.typ = typ;
            }
            (m, echo)
        })
        .boxed()
}

/// What a built frame is, and what it quotes.
#[derive(Debug, Clone)]
pub struct Built {
    /// The frame, computed fields left at zero.
    pub frame: ethernet::Frame<'static>,
    /// For an ICMP error quoting an echo request: that echo.
    pub quoted_echo: Option<icmp::Echo>,
}

/// Typed TCP options: every kind, in random order, at most 40 bytes once
/// written.
pub fn arb_tcp_option_list() -> BoxedStrategy<Vec<tcp::TcpOption<'static>>> {
    use tcp::TcpOption as O;
    let option = prop_oneof![
        2 => Just(O::NoOperation),
        2 => any::<u16>().prop_map(O::MaxSegmentSize),
        2 => any::<u8>().prop_map(O::WindowScale),
        2 => Just(O::SackPermitted),
        1 => (any::<[(u32, u32); 4]>(), 1u8..=4).prop_map(|(mut blocks, count)| {
            for b in blocks.iter_mut().skip(usize::from(count)) {
                *b = (0, 0);
            }
            O::Sack { blocks, count }
        }),
        2 => (any::<u32>(), any::<u32>()).prop_map(|(value, echo)| O::Timestamps { value, echo }),
        1 => (
            prop::sample::select(vec![6u8, 7, 9, 19, 28, 29, 30, 34, 253, 254, 255]),
            vec(any::<u8>(), 0..8)
        )
            .prop_map(|(kind, data)| O::Unknown { kind, data: Blob::from(data) }),
    ];
    (vec(option, 0..8), any::<bool>())
        .prop_map(|(mut list, eol)| {
            // Keep what fits in 40 bytes (with an End of Option List).
            while tcp::options(&list).len() > 36 {
                list.pop();
            }
            if eol {
                list.push(O::EndOfList);
            }
            list
        })
        .boxed()
}

/// A random TCP segment: every field, options typed (as a kernel sends
/// them) or random bytes of a whole number of words, a payload of 0 to
/// 1,400 bytes (odd lengths too). Computed fields are left at zero.
pub fn arb_tcp() -> BoxedStrategy<tcp::Packet<'static>> {
    (
        (any::<u16>(), any::<u16>(), any::<u32>(), any::<u32>()),
        (
            prop_oneof![6 => Just(0u8), 1 => 0u8..8],
            0u16..0x200,
            any::<u16>(),
            any::<u16>(),
        ),
        prop_oneof![
            3 => arb_tcp_option_list().prop_map(|l| tcp::options(&l)),
            1 => arb_options(),
        ],
        arb_bytes(1400),
    )
        .prop_map(
            |(
                (src_port, dst_port, seq, ack),
                (reserved, flags, window, urgent),
                options,
                payload,
            )| {
                let mut t = tcp::Packet::new(
                    src_port,
                    dst_port,
                    seq,
                    ack,
                    tcp::Flags::from_bits(flags),
                    window,
                    Blob::from(options),
                    Blob::from(payload),
                );
                t.reserved = reserved;
                t.urgent = urgent;
                t.data_offset = 0;
                t
            },
        )
        .boxed()
}

/// A random UDP datagram: ports, a payload of 0 to 1,400 bytes, mostly
/// with a checksum, sometimes without (field 0).
pub fn arb_udp() -> BoxedStrategy<udp::Packet<'static>> {
    (
        any::<u16>(),
        any::<u16>(),
        arb_bytes(1400),
        prop::bool::weighted(0.8),
    )
        .prop_map(|(src_port, dst_port, payload, with_checksum)| {
            let mut u = udp::Packet::new(src_port, dst_port, Blob::from(payload));
            u.length = 0;
            if !with_checksum {
                u.checksum = udp::NO_CHECKSUM;
            }
            u
        })
        .boxed()
}

/// A random IPv4 packet: ICMP, TCP or UDP (unless fragmented) or another
/// protocol with raw bytes. Protocol 51 (AH) is left out: etherparse would
/// parse it as a header.
pub fn arb_ipv4() -> BoxedStrategy<(ipv4::Packet<'static>, Option<icmp::Echo>)> {
    (
        arb_ip_fields(),
        prop_oneof![5 => Just(0u8), 2 => Just(1u8), 1 => Just(2u8), 1 => Just(3u8)],
        arb_icmp(),
        any::<u8>(),
        arb_bytes(1500),
        (arb_tcp(), arb_udp()),
    )
        .prop_map(|(fields, kind, (m, echo), proto, raw, (t, u))| {
            if !fields.is_fragment() {
                match kind {
                    0 => {
                        return (
                            fields.packet(ipv4::Protocol::ICMP, m.into_ipv4_payload()),
                            echo,
                        )
                    }
                    1 => {
                        return (
                            fields.packet(ipv4::Protocol::TCP, t.into_ipv4_payload()),
                            None,
                        )
                    }
                    2 => {
                        return (
                            fields.packet(ipv4::Protocol::UDP, u.into_ipv4_payload()),
                            None,
                        )
                    }
                    _ => {}
                }
            }
            // A fragment may carry any protocol; a whole packet anything
            // but ICMP, TCP and UDP (which would be parsed).
            let proto = match proto {
                1 | 6 | 17 if !fields.is_fragment() => 253,
                51 => 50,
                p => p,
            };
            let payload = ipv4::Payload::Unknown(Blob::from(raw));
            (fields.packet(ipv4::Protocol::from(proto), payload), None)
        })
        .boxed()
}

/// A random Ethernet/IPv4 ARP request or reply.
pub fn arb_arp() -> BoxedStrategy<arp::Packet> {
    (any::<bool>(), arb_mac(), arb_ip(), arb_mac(), arb_ip())
        .prop_map(|(reply, sha, spa, tha, tpa)| arp::Packet {
            operation: if reply {
                arp::Operation::Reply
            } else {
                arp::Operation::Request
            },
            sender_hw_addr: sha,
            sender_ip_addr: spa,
            target_hw_addr: tha,
            target_ip_addr: tpa,
        })
        .boxed()
}

/// EtherTypes ersatz does not know, that etherparse does not interpret
/// either (no VLAN, IPv6, MACsec), 802.3 lengths included.
pub fn arb_unknown_ether_type() -> BoxedStrategy<u16> {
    any::<u16>()
        .prop_map(|t| match t {
            0x0800 | 0x0806 | 0x86dd | 0x8100 | 0x88a8 | 0x9100 | 0x88e5 => 0x88b5,
            t => t,
        })
        .boxed()
}

/// A random frame: IPv4 (mostly ICMP), ARP, or an unknown EtherType; IPv4 and
/// ARP sometimes padded with 1 to 40 random bytes.
pub fn arb_built() -> BoxedStrategy<Built> {
    let payload = prop_oneof![
        6 => arb_ipv4().prop_map(|(p, echo)| (p.into_ethernet_payload(), echo)),
        2 => arb_arp().prop_map(|a| (a.into_ethernet_payload(), None)),
        1 => (arb_unknown_ether_type(), arb_bytes(1500))
            .prop_map(|(t, b)| (ethernet::Payload::Unknown(t, Blob::from(b)), None)),
    ];
    (
        arb_mac(),
        arb_mac(),
        payload,
        prop_oneof![3 => Just(Vec::new()), 1 => vec(any::<u8>(), 1..=40)],
    )
        .prop_map(|(dst, src, (payload, quoted_echo), padding)| {
            let mut frame = ethernet::Frame::new(dst, src, payload);
            if !matches!(frame.payload, ethernet::Payload::Unknown(..)) {
                frame.padding = Blob::from(padding);
            }
            Built { frame, quoted_echo }
        })
        .boxed()
}

// ---------------------------------------------------------------------------
// Mutations of valid frames.

/// One change to a frame's bytes.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Flip one bit anywhere.
    FlipBit(Index, u8),
    /// Overwrite one byte anywhere.
    Overwrite(Index, u8),
    /// Flip a bit in the first 80 bytes (the headers).
    HeaderFlip(u8, u8),
    /// Overwrite a byte in the first 80 bytes.
    HeaderOverwrite(u8, u8),
    /// Cut the frame short.
    Truncate(Index),
    /// Append bytes.
    Extend(Vec<u8>),
    /// Insert bytes.
    Insert(Index, Vec<u8>),
    /// Remove up to this many bytes.
    Remove(Index, u8),
}

/// A random mutation.
pub fn arb_mutation() -> BoxedStrategy<Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Overwrite(i, b)),
        4 => (0u8..80, 0u8..8).prop_map(|(i, b)| Mutation::HeaderFlip(i, b)),
        4 => (0u8..80, any::<u8>()).prop_map(|(i, b)| Mutation::HeaderOverwrite(i, b)),
        2 => any::<Index>().prop_map(Mutation::Truncate),
        1 => vec(any::<u8>(), 1..64).prop_map(Mutation::Extend),
        1 => (any::<Index>(), vec(any::<u8>(), 1..8)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => (any::<Index>(), 1u8..8).prop_map(|(i, n)| Mutation::Remove(i, n)),
    ]
    .boxed()
}

/// Applies `m` to `bytes` (a no-op where it cannot apply, e.g. on an empty frame).
pub fn mutate(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len();
    match m {
        Mutation::FlipBit(i, bit) if len > 0 => bytes[i.index(len)] ^= 1 << bit,
        Mutation::Overwrite(i, b) if len > 0 => bytes[i.index(len)] = *b,
        Mutation::HeaderFlip(at, bit) if usize::from(*at) < len => {
            bytes[usize::from(*at)] ^= 1 << bit
        }
        Mutation::HeaderOverwrite(at, b) if usize::from(*at) < len => bytes[usize::from(*at)] = *b,
        Mutation::Truncate(i) => bytes.truncate(i.index(len + 1)),
        Mutation::Extend(more) => bytes.extend_from_slice(more),
        Mutation::Insert(i, more) => {
            let at = i.index(len + 1);
            bytes.splice(at..at, more.iter().copied());
        }
        Mutation::Remove(i, n) if len > 0 => {
            let at = i.index(len);
            let end = (at + usize::from(*n)).min(len);
            bytes.drain(at..end);
        }
        _ => {}
    }
}

/// Bytes of a valid frame to mutate: a real capture or a random built frame.
pub fn arb_valid_frame_bytes() -> BoxedStrategy<Vec<u8>> {
    let fixtures: Vec<Vec<u8>> = all_fixture_frames().into_iter().map(|(_, f)| f).collect();
    prop_oneof![
        1 => prop::sample::select(fixtures),
        2 => arb_built().prop_map(|b| b.frame.to_vec().expect("a built frame serializes")),
    ]
    .boxed()
}

/// A valid frame with 1 to 5 mutations, and half the time its checksums
/// recomputed afterwards (so that damaged lengths, IHLs, options, types...
/// reach the parser with good checksums).
pub fn arb_mutated() -> BoxedStrategy<Hex> {
    (
        arb_valid_frame_bytes(),
        vec(arb_mutation(), 1..=5),
        any::<bool>(),
    )
        .prop_map(|(mut bytes, mutations, fix)| {
            for m in &mutations {
                mutate(&mut bytes, m);
            }
            if fix {
                fix_checksums(&mut bytes);
            }
            Hex(bytes)
        })
        .boxed()
}
