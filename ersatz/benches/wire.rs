//! ersatz against etherparse and smoltcp, on the same bytes: a real 98-byte
//! ICMP echo reply frame (tests/fixtures/echo_reply.pcap).
//!
//! - `parse_echo_reply_98B`: parse it with checksums verified, read the echo
//!   identifier and sequence number: ersatz's packet values and its checked
//!   views, smoltcp's checked view and its `Repr`s (owned field values, as
//!   ersatz's packets);
//! - `build_echo_reply_98B`: build the same frame (same MACs, addresses,
//!   identification, TTL, echo id/seq, payload) into a reused buffer;
//! - `checksum_1500B`, `checksum_64KiB`: the Internet checksum alone;
//! - `ersatz_parts`: ersatz's parse and serialize taken apart, to see what
//!   dominates;
//! - `parse_syn_74B`, `build_syn_74B`: the same for a real 74-byte TCP SYN
//!   (tests/fixtures/tcp_syn.pcap: Linux's options MSS, SACK permitted,
//!   timestamps, NOP, window scale): parse with both checksums verified
//!   (TCP's over the pseudo-header), read the ports, the sequence number,
//!   the SYN flag and the MSS option; build it from its field values,
//!   options included, into a reused buffer.
//!
//! Every contender is checked once against the fixture before it is timed.
//! Run with `cargo bench -p ersatz` (see benches/README.md).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ersatz::wire::checksum;
use ersatz::{ethernet, icmp, ipv4, tcp};

/// The capture: 24-byte pcap header, 16-byte record header, 98-byte frame.
const PCAP: &[u8] = include_bytes!("../tests/fixtures/echo_reply.pcap");
const FRAME: &[u8] = PCAP.split_at(40).1;

const DST_MAC: [u8; 6] = [0x02, 0xe5, 0xa7, 0x01, 0x00, 0x02];
const SRC_MAC: [u8; 6] = [0x02, 0xe5, 0xa7, 0x01, 0x00, 0x01];
const SRC_IP: [u8; 4] = [10, 77, 2, 2];
const DST_IP: [u8; 4] = [10, 77, 1, 2];
const IP_ID: u16 = 0x565c;
const TTL: u8 = 63;
const ECHO_ID: u16 = 0x5bf0;
const ECHO_SEQ: u16 = 1;

/// The 56 echo data bytes, after Ethernet (14), IPv4 (20) and ICMP (8) heads.
fn echo_data() -> &'static [u8] {
    &FRAME[42..]
}

// ---------------------------------------------------------------- parsing

/// ersatz verifies both checksums while parsing.
fn parse_ersatz(frame: &[u8]) -> Option<(u16, u16)> {
    let (_, f) = ethernet::Frame::parse(frame).ok()?;
    let ethernet::Payload::IPv4(ip) = &f.payload else {
        return None;
    };
    let ipv4::Payload::ICMP(m) = &ip.payload else {
        return None;
    };
    if !ip.checksum_ok || !m.checksum_ok {
        return None;
    }
    match m.header {
        icmp::Header::EchoReply(e) => Some((e.identifier, e.sequence_number)),
        _ => None,
    }
}

/// ersatz's checked views: lengths checked, both checksums verified, the
/// echo fields read from the buffer; no packet value is built.
fn parse_ersatz_view(frame: &[u8]) -> Option<(u16, u16)> {
    let (_, eth) = ethernet::View::parse(frame).ok()?;
    if eth.ether_type() != Some(ethernet::EtherType::IPv4) {
        return None;
    }
    let (_, ip) = ipv4::View::parse(eth.payload()).ok()?;
    if !ip.checksum_ok() || !ip.carries_icmp() {
        return None;
    }
    let (_, m) = icmp::View::parse(ip.payload()).ok()?;
    if !m.checksum_ok() {
        return None;
    }
    match m.header() {
        icmp::Header::EchoReply(e) => Some((e.identifier, e.sequence_number)),
        _ => None,
    }
}

fn parse_smoltcp(frame: &[u8]) -> Option<(u16, u16)> {
    use smoltcp::wire::{EthernetFrame, EthernetProtocol, Icmpv4Message, Icmpv4Packet, Ipv4Packet};
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EthernetProtocol::Ipv4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    if !ip.verify_checksum() {
        return None;
    }
    let m = Icmpv4Packet::new_checked(ip.payload()).ok()?;
    if !m.verify_checksum() || m.msg_type() != Icmpv4Message::EchoReply {
        return None;
    }
    Some((m.echo_ident(), m.echo_seq_no()))
}

/// smoltcp's eager path: every layer's `Repr` (owned field values, like
/// ersatz's packets), checksums verified by `Ipv4Repr::parse` and
/// `Icmpv4Repr::parse`.
fn parse_smoltcp_repr(frame: &[u8]) -> Option<(u16, u16)> {
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::wire::{
        EthernetFrame, EthernetProtocol, EthernetRepr, Icmpv4Packet, Icmpv4Repr, Ipv4Packet,
        Ipv4Repr,
    };
    let checksums = ChecksumCapabilities::default();
    let eth = EthernetFrame::new_checked(frame).ok()?;
    let eth_repr = EthernetRepr::parse(&eth).ok()?;
    if eth_repr.ethertype != EthernetProtocol::Ipv4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    let ip_repr = Ipv4Repr::parse(&ip, &checksums).ok()?;
    let m = Icmpv4Packet::new_checked(ip.payload()).ok()?;
    let repr = Icmpv4Repr::parse(&m, &checksums).ok()?;
    black_box((&eth_repr, &ip_repr));
    match repr {
        Icmpv4Repr::EchoReply { ident, seq_no, .. } => Some((ident, seq_no)),
        _ => None,
    }
}

/// etherparse slices without looking at checksums; with `verify`, both are
/// recomputed with etherparse's own functions and compared.
fn parse_etherparse(frame: &[u8], verify: bool) -> Option<(u16, u16)> {
    use etherparse::{Icmpv4Type, NetSlice, SlicedPacket, TransportSlice};
    let p = SlicedPacket::from_ethernet(frame).ok()?;
    let Some(NetSlice::Ipv4(ip)) = &p.net else {
        return None;
    };
    let Some(TransportSlice::Icmpv4(m)) = &p.transport else {
        return None;
    };
    if verify {
        let header = ip.header();
        if header.to_header().calc_header_checksum() != header.header_checksum() {
            return None;
        }
        if m.icmp_type().calc_checksum(m.payload()) != m.checksum() {
            return None;
        }
    }
    match m.icmp_type() {
        Icmpv4Type::EchoReply(e) => Some((e.id, e.seq)),
        _ => None,
    }
}

fn bench_parse(c: &mut Criterion) {
    let expected = Some((ECHO_ID, ECHO_SEQ));
    assert_eq!(parse_ersatz(FRAME), expected);
    assert_eq!(parse_ersatz_view(FRAME), expected);
    assert_eq!(parse_smoltcp(FRAME), expected);
    assert_eq!(parse_smoltcp_repr(FRAME), expected);
    assert_eq!(parse_etherparse(FRAME, false), expected);
    assert_eq!(parse_etherparse(FRAME, true), expected);
    // The checking variants do reject a damaged checksum.
    let mut bad = FRAME.to_vec();
    bad[60] ^= 1;
    assert_eq!(parse_ersatz(&bad), None);
    assert_eq!(parse_ersatz_view(&bad), None);
    assert_eq!(parse_smoltcp(&bad), None);
    assert_eq!(parse_smoltcp_repr(&bad), None);
    assert_eq!(parse_etherparse(&bad, true), None);

    let mut g = c.benchmark_group("parse_echo_reply_98B");
    g.bench_function("ersatz Frame::parse", |b| {
        b.iter(|| parse_ersatz(black_box(FRAME)))
    });
    g.bench_function("ersatz View::parse (checked view)", |b| {
        b.iter(|| parse_ersatz_view(black_box(FRAME)))
    });
    g.bench_function("smoltcp new_checked+verify", |b| {
        b.iter(|| parse_smoltcp(black_box(FRAME)))
    });
    g.bench_function("smoltcp Repr::parse (eager)", |b| {
        b.iter(|| parse_smoltcp_repr(black_box(FRAME)))
    });
    g.bench_function("etherparse SlicedPacket, no checksums", |b| {
        b.iter(|| parse_etherparse(black_box(FRAME), false))
    });
    g.bench_function("etherparse SlicedPacket + checksums", |b| {
        b.iter(|| parse_etherparse(black_box(FRAME), true))
    });
    g.finish();
}

// --------------------------------------------------------------- building

/// The frame as a value, through ersatz's builder API. `into_packet` draws a
/// random identification (as Windows does); it is then set to the capture's.
fn ersatz_frame(data: &[u8]) -> ethernet::Frame<'_> {
    let echo = icmp::Echo {
        identifier: ECHO_ID,
        sequence_number: ECHO_SEQ,
    };
    let mut packet = echo
        .into_echo_reply(data)
        .into_ipv4_payload()
        .into_packet(ipv4::Addr(SRC_IP), ipv4::Addr(DST_IP));
    packet.identification = IP_ID;
    packet.ttl = TTL;
    ethernet::Frame::new(
        ethernet::Addr(DST_MAC),
        ethernet::Addr(SRC_MAC),
        packet.into_ethernet_payload(),
    )
}

fn ersatz_to_slice(frame: &ethernet::Frame<'_>, buf: &mut [u8]) -> usize {
    frame.to_slice(buf).expect("fits")
}

fn build_ersatz(data: &[u8], buf: &mut [u8]) -> usize {
    let frame = ersatz_frame(data);
    ersatz_to_slice(&frame, buf)
}

fn build_smoltcp(data: &[u8], buf: &mut [u8]) -> usize {
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::wire::{
        EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, Icmpv4Packet, Icmpv4Repr,
        IpProtocol, Ipv4Address, Ipv4Packet, Ipv4Repr,
    };
    let icmp_repr = Icmpv4Repr::EchoReply {
        ident: ECHO_ID,
        seq_no: ECHO_SEQ,
        data,
    };
    let ip_repr = Ipv4Repr {
        src_addr: Ipv4Address::from(SRC_IP),
        dst_addr: Ipv4Address::from(DST_IP),
        next_header: IpProtocol::Icmp,
        payload_len: icmp_repr.buffer_len(),
        hop_limit: TTL,
    };
    let eth_repr = EthernetRepr {
        src_addr: EthernetAddress(SRC_MAC),
        dst_addr: EthernetAddress(DST_MAC),
        ethertype: EthernetProtocol::Ipv4,
    };
    let len = eth_repr.buffer_len() + ip_repr.buffer_len() + icmp_repr.buffer_len();
    let mut frame = EthernetFrame::new_unchecked(&mut buf[..len]);
    eth_repr.emit(&mut frame);
    let mut ip = Ipv4Packet::new_unchecked(frame.payload_mut());
    // Ipv4Repr always writes identification 0 and DF; set the capture's
    // values, then compute the header checksum once.
    ip_repr.emit(&mut ip, &ChecksumCapabilities::ignored());
    ip.set_ident(IP_ID);
    ip.set_dont_frag(false);
    ip.fill_checksum();
    let mut icmp = Icmpv4Packet::new_unchecked(ip.payload_mut());
    icmp_repr.emit(&mut icmp, &ChecksumCapabilities::default());
    len
}

fn build_etherparse(data: &[u8], out: &mut Vec<u8>) {
    use etherparse::{IpHeaders, IpNumber, Ipv4Extensions, Ipv4Header, PacketBuilder};
    // `PacketBuilder::ipv4` sets identification 0 and DF; give it a whole
    // header instead. Length and checksums are computed by `write`.
    let mut header = Ipv4Header::new(0, TTL, IpNumber::ICMP, SRC_IP, DST_IP).expect("header");
    header.identification = IP_ID;
    header.dont_fragment = false;
    let builder = PacketBuilder::ethernet2(SRC_MAC, DST_MAC)
        .ip(IpHeaders::Ipv4(header, Ipv4Extensions::default()))
        .icmpv4_echo_reply(ECHO_ID, ECHO_SEQ);
    out.clear();
    builder.write(out, data).expect("write");
}

fn bench_build(c: &mut Criterion) {
    let data = echo_data();
    let mut buf = [0u8; 128];
    let n = build_ersatz(data, &mut buf);
    assert_eq!(&buf[..n], FRAME, "ersatz builds the captured frame");
    buf.fill(0);
    let n = build_smoltcp(data, &mut buf);
    assert_eq!(&buf[..n], FRAME, "smoltcp builds the captured frame");
    let mut vec = Vec::with_capacity(128);
    build_etherparse(data, &mut vec);
    assert_eq!(vec, FRAME, "etherparse builds the captured frame");

    let mut g = c.benchmark_group("build_echo_reply_98B");
    g.bench_function("ersatz Frame value + to_slice", |b| {
        b.iter(|| build_ersatz(black_box(data), black_box(&mut buf)))
    });
    g.bench_function("smoltcp Repr::emit", |b| {
        b.iter(|| build_smoltcp(black_box(data), black_box(&mut buf)))
    });
    g.bench_function("etherparse PacketBuilder::write", |b| {
        b.iter(|| build_etherparse(black_box(data), black_box(&mut vec)))
    });
    g.finish();
}

// --------------------------------------------------------------- checksum

/// Pseudo-random bytes whose checksum field (bytes 2..4, as in ICMP) is
/// filled in, so that every implementation has a known answer: zero / valid.
fn checksum_input(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    let mut data: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    data[2..4].fill(0);
    let sum = checksum::of(&data);
    data[2..4].copy_from_slice(&sum.to_be_bytes());
    data
}

fn smoltcp_sum_ok(data: &[u8]) -> bool {
    // `smoltcp::wire::ip::checksum::data` is `pub(crate)` in 0.12; the public
    // way to run it over a buffer is a packet's `verify_checksum`, which is
    // exactly `checksum::data(buffer) == !0`.
    smoltcp::wire::Icmpv4Packet::new_unchecked(data).verify_checksum()
}

fn etherparse_sum(data: &[u8]) -> u16 {
    etherparse::checksum::Sum16BitWords::new()
        .add_slice(data)
        .ones_complement()
}

fn bench_checksum(c: &mut Criterion) {
    for (name, len) in [("checksum_1500B", 1500), ("checksum_64KiB", 64 * 1024)] {
        let data = checksum_input(len);
        assert_eq!(checksum::of(&data), 0);
        assert!(checksum::verify(&data));
        assert!(smoltcp_sum_ok(&data));
        assert_eq!(internet_checksum::checksum(&data), [0, 0]);
        assert_eq!(etherparse_sum(&data), 0);

        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Bytes(len as u64));
        let data = &data[..];
        g.bench_with_input(
            BenchmarkId::new("ersatz checksum::of", len),
            data,
            |b, d| b.iter(|| checksum::of(black_box(d))),
        );
        g.bench_with_input(
            BenchmarkId::new("smoltcp checksum::data", len),
            data,
            |b, d| b.iter(|| smoltcp_sum_ok(black_box(d))),
        );
        g.bench_with_input(BenchmarkId::new("internet-checksum", len), data, |b, d| {
            b.iter(|| internet_checksum::checksum(black_box(d)))
        });
        g.bench_with_input(
            BenchmarkId::new("etherparse Sum16BitWords", len),
            data,
            |b, d| b.iter(|| etherparse_sum(black_box(d))),
        );
        g.finish();
    }
}

// ------------------------------------------------------------ ersatz parts

/// What ersatz's parse and build spend their time on. Parsed values are
/// returned whole (criterion keeps them), so that no field's work can be
/// optimized away.
fn bench_ersatz_parts(c: &mut Criterion) {
    let data = echo_data();
    let ip_bytes = &FRAME[14..];
    let icmp_bytes = &FRAME[34..];
    let frame = ersatz_frame(data);
    let mut buf = [0u8; 128];

    let mut g = c.benchmark_group("ersatz_parts");
    g.bench_function("Frame::parse (98 B)", |b| {
        b.iter(|| ethernet::Frame::parse(black_box(FRAME)))
    });
    g.bench_function("ipv4::Packet::parse (84 B)", |b| {
        b.iter(|| ipv4::Packet::parse(black_box(ip_bytes)))
    });
    g.bench_function("icmp::Packet::parse (64 B)", |b| {
        b.iter(|| icmp::Packet::parse(black_box(icmp_bytes)))
    });
    g.bench_function("checksum::verify (20 B header)", |b| {
        b.iter(|| checksum::verify(black_box(&ip_bytes[..20])))
    });
    g.bench_function("checksum::verify (64 B ICMP)", |b| {
        b.iter(|| checksum::verify(black_box(icmp_bytes)))
    });
    // The bit fields as plain integers, read from a checked view (what
    // `bits::Bits` does inside; it is crate-private since 0.2.0).
    let (_, header) = ipv4::View::parse(ip_bytes).expect("the capture parses");
    g.bench_function("ipv4::View bit fields x6 (words 0 and 3)", |b| {
        b.iter(|| {
            let v = black_box(&header);
            (
                v.version(),
                v.ihl(),
                v.dscp(),
                v.ecn(),
                v.flags(),
                v.fragment_offset(),
            )
        })
    });
    g.bench_function("build Frame value only", |b| {
        b.iter(|| ersatz_frame(black_box(data)))
    });
    g.bench_function("to_slice of a built Frame", |b| {
        b.iter(|| ersatz_to_slice(black_box(&frame), black_box(&mut buf)))
    });
    g.bench_function("to_slice of its icmp::Packet (64 B)", |b| {
        let ethernet::Payload::IPv4(ip) = &frame.payload else {
            unreachable!()
        };
        let ipv4::Payload::ICMP(m) = &ip.payload else {
            unreachable!()
        };
        b.iter(|| black_box(m).to_slice(black_box(&mut buf)))
    });
    g.bench_function("Frame::to_vec (allocates)", |b| {
        b.iter(|| black_box(&frame).to_vec())
    });
    g.finish();
}

// -------------------------------------------------------------------- SYN

/// The SYN capture: 24-byte pcap header, 16-byte record header, 74-byte frame.
const SYN_PCAP: &[u8] = include_bytes!("../tests/fixtures/tcp_syn.pcap");
const SYN_FRAME: &[u8] = SYN_PCAP.split_at(40).1;

const SYN_DST_MAC: [u8; 6] = [0x02, 0xe5, 0xa7, 0x01, 0x00, 0x01];
const SYN_SRC_MAC: [u8; 6] = [0x02, 0xe5, 0xa7, 0x01, 0x00, 0x02];
const SYN_SRC_IP: [u8; 4] = [10, 77, 1, 2];
const SYN_DST_IP: [u8; 4] = [10, 77, 2, 2];
const SYN_IP_ID: u16 = 0x6bd6;
const SYN_TTL: u8 = 64;
const SYN_SRC_PORT: u16 = 33980;
const SYN_DST_PORT: u16 = 7777;
const SYN_SEQ: u32 = 0x8df5_8561;
const SYN_WINDOW: u16 = 64240;
const SYN_MSS: u16 = 1460;
const SYN_TSVAL: u32 = 2_095_652_599;
const SYN_WSCALE: u8 = 10;

/// What every SYN parser reads: ports, sequence number, MSS.
type SynFields = (u16, u16, u32, u16);

/// ersatz's checked views: lengths checked, both checksums verified, the
/// fields read from the buffer, the options walked to the MSS.
fn syn_ersatz_view(frame: &[u8]) -> Option<SynFields> {
    let (_, eth) = ethernet::View::parse(frame).ok()?;
    if eth.ether_type() != Some(ethernet::EtherType::IPv4) {
        return None;
    }
    let (_, ip) = ipv4::View::parse(eth.payload()).ok()?;
    if !ip.checksum_ok() || ip.protocol() != ipv4::Protocol::TCP || ip.is_fragment() {
        return None;
    }
    let (_, t) = tcp::View::parse(ip.payload(), ip.src(), ip.dst()).ok()?;
    if !t.checksum_ok() || !t.flags().contains(tcp::Flags::SYN) {
        return None;
    }
    let mss = t.options_iter().find_map(|o| match o {
        tcp::TcpOption::MaxSegmentSize(m) => Some(m),
        _ => None,
    })?;
    Some((t.src_port(), t.dst_port(), t.seq(), mss))
}

/// ersatz's values: the whole frame parsed, the segment's options walked.
fn syn_ersatz(frame: &[u8]) -> Option<SynFields> {
    let (_, f) = ethernet::Frame::parse(frame).ok()?;
    let ethernet::Payload::IPv4(ip) = &f.payload else {
        return None;
    };
    let ipv4::Payload::TCP(t) = &ip.payload else {
        return None;
    };
    if !ip.checksum_ok || !t.checksum_ok || !t.flags.contains(tcp::Flags::SYN) {
        return None;
    }
    let mss = t.options_iter().find_map(|o| match o {
        tcp::TcpOption::MaxSegmentSize(m) => Some(m),
        _ => None,
    })?;
    Some((t.src_port, t.dst_port, t.seq, mss))
}

fn syn_smoltcp(frame: &[u8]) -> Option<SynFields> {
    use smoltcp::wire::{
        EthernetFrame, EthernetProtocol, IpAddress, IpProtocol, Ipv4Packet, TcpOption, TcpPacket,
    };
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EthernetProtocol::Ipv4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    if !ip.verify_checksum() || ip.next_header() != IpProtocol::Tcp {
        return None;
    }
    let t = TcpPacket::new_checked(ip.payload()).ok()?;
    let (src, dst) = (
        IpAddress::Ipv4(ip.src_addr()),
        IpAddress::Ipv4(ip.dst_addr()),
    );
    if !t.verify_checksum(&src, &dst) || !t.syn() {
        return None;
    }
    let mut options = t.options();
    while !options.is_empty() {
        let (rest, option) = TcpOption::parse(options).ok()?;
        match option {
            TcpOption::MaxSegmentSize(mss) => {
                return Some((t.src_port(), t.dst_port(), t.seq_number().0 as u32, mss))
            }
            TcpOption::EndOfList => break,
            _ => options = rest,
        }
    }
    None
}

/// smoltcp's eager path: every layer's `Repr` (checksums verified by
/// `Ipv4Repr::parse` and `TcpRepr::parse`, which parses every option).
fn syn_smoltcp_repr(frame: &[u8]) -> Option<SynFields> {
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::wire::{
        EthernetFrame, EthernetProtocol, EthernetRepr, IpAddress, Ipv4Packet, Ipv4Repr, TcpControl,
        TcpPacket, TcpRepr,
    };
    let checksums = ChecksumCapabilities::default();
    let eth = EthernetFrame::new_checked(frame).ok()?;
    let eth_repr = EthernetRepr::parse(&eth).ok()?;
    if eth_repr.ethertype != EthernetProtocol::Ipv4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    let ip_repr = Ipv4Repr::parse(&ip, &checksums).ok()?;
    let t = TcpPacket::new_checked(ip.payload()).ok()?;
    let repr = TcpRepr::parse(
        &t,
        &IpAddress::Ipv4(ip_repr.src_addr),
        &IpAddress::Ipv4(ip_repr.dst_addr),
        &checksums,
    )
    .ok()?;
    black_box((&eth_repr, &ip_repr));
    if repr.control != TcpControl::Syn {
        return None;
    }
    Some((
        repr.src_port,
        repr.dst_port,
        repr.seq_number.0 as u32,
        repr.max_seg_size?,
    ))
}

/// etherparse slices; with `verify`, both checksums are recomputed with its
/// own functions and compared.
fn syn_etherparse(frame: &[u8], verify: bool) -> Option<SynFields> {
    use etherparse::{NetSlice, SlicedPacket, TcpOptionElement, TransportSlice};
    let p = SlicedPacket::from_ethernet(frame).ok()?;
    let Some(NetSlice::Ipv4(ip)) = &p.net else {
        return None;
    };
    let Some(TransportSlice::Tcp(t)) = &p.transport else {
        return None;
    };
    if verify {
        let header = ip.header();
        if header.to_header().calc_header_checksum() != header.header_checksum() {
            return None;
        }
        let sum = t
            .calc_checksum_ipv4(header.source(), header.destination())
            .ok()?;
        if sum != t.checksum() {
            return None;
        }
    }
    if !t.syn() {
        return None;
    }
    let mss = t.options_iterator().find_map(|o| match o {
        Ok(TcpOptionElement::MaximumSegmentSize(m)) => Some(m),
        _ => None,
    })?;
    Some((
        t.source_port(),
        t.destination_port(),
        t.sequence_number(),
        mss,
    ))
}

fn bench_parse_syn(c: &mut Criterion) {
    let expected = Some((SYN_SRC_PORT, SYN_DST_PORT, SYN_SEQ, SYN_MSS));
    assert_eq!(syn_ersatz_view(SYN_FRAME), expected);
    assert_eq!(syn_ersatz(SYN_FRAME), expected);
    assert_eq!(syn_smoltcp(SYN_FRAME), expected);
    assert_eq!(syn_smoltcp_repr(SYN_FRAME), expected);
    assert_eq!(syn_etherparse(SYN_FRAME, false), expected);
    assert_eq!(syn_etherparse(SYN_FRAME, true), expected);
    // The checking variants do reject a damaged TCP checksum.
    let mut bad = SYN_FRAME.to_vec();
    bad[70] ^= 1;
    assert_eq!(syn_ersatz_view(&bad), None);
    assert_eq!(syn_ersatz(&bad), None);
    assert_eq!(syn_smoltcp(&bad), None);
    assert_eq!(syn_smoltcp_repr(&bad), None);
    assert_eq!(syn_etherparse(&bad, true), None);

    let mut g = c.benchmark_group("parse_syn_74B");
    g.bench_function("ersatz View::parse (checked view)", |b| {
        b.iter(|| syn_ersatz_view(black_box(SYN_FRAME)))
    });
    g.bench_function("ersatz Frame::parse", |b| {
        b.iter(|| syn_ersatz(black_box(SYN_FRAME)))
    });
    g.bench_function("smoltcp new_checked+verify", |b| {
        b.iter(|| syn_smoltcp(black_box(SYN_FRAME)))
    });
    g.bench_function("smoltcp Repr::parse (eager)", |b| {
        b.iter(|| syn_smoltcp_repr(black_box(SYN_FRAME)))
    });
    g.bench_function("etherparse SlicedPacket, no checksums", |b| {
        b.iter(|| syn_etherparse(black_box(SYN_FRAME), false))
    });
    g.bench_function("etherparse SlicedPacket + checksums", |b| {
        b.iter(|| syn_etherparse(black_box(SYN_FRAME), true))
    });
    g.finish();
}

/// The SYN through ersatz's builder: options from their values (on the
/// stack, `tcp::OptionBytes::set`), the segment, `into_packet` (random
/// identification, then set to the capture's), the frame, `to_slice`.
fn build_syn_ersatz(tsval: u32, buf: &mut [u8]) -> usize {
    let mut options = tcp::OptionBytes::default();
    let fits = options.set(&[
        tcp::TcpOption::MaxSegmentSize(SYN_MSS),
        tcp::TcpOption::SackPermitted,
        tcp::TcpOption::Timestamps {
            value: tsval,
            echo: 0,
        },
        tcp::TcpOption::NoOperation,
        tcp::TcpOption::WindowScale(SYN_WSCALE),
    ]);
    assert!(fits, "20 bytes");
    let syn = tcp::Packet::new(
        SYN_SRC_PORT,
        SYN_DST_PORT,
        SYN_SEQ,
        0,
        tcp::Flags::SYN,
        SYN_WINDOW,
        ersatz::Blob::from(&options[..]),
        ersatz::Blob::empty(),
    );
    let mut packet = syn
        .into_ipv4_payload()
        .into_packet(ipv4::Addr(SYN_SRC_IP), ipv4::Addr(SYN_DST_IP));
    packet.identification = SYN_IP_ID;
    packet.ttl = SYN_TTL;
    packet.flags = ipv4::DONT_FRAGMENT;
    let frame = ethernet::Frame::new(
        ethernet::Addr(SYN_DST_MAC),
        ethernet::Addr(SYN_SRC_MAC),
        packet.into_ethernet_payload(),
    );
    frame.to_slice(buf).expect("fits")
}

/// smoltcp's `TcpRepr::emit` (options in its own order: MSS, window scale,
/// SACK permitted, timestamps, End of Option List; same length).
fn build_syn_smoltcp(tsval: u32, buf: &mut [u8]) -> usize {
    use smoltcp::phy::ChecksumCapabilities;
    use smoltcp::wire::{
        EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, IpAddress, IpProtocol,
        Ipv4Address, Ipv4Packet, Ipv4Repr, TcpControl, TcpPacket, TcpRepr, TcpSeqNumber,
        TcpTimestampRepr,
    };
    let tcp_repr = TcpRepr {
        src_port: SYN_SRC_PORT,
        dst_port: SYN_DST_PORT,
        control: TcpControl::Syn,
        seq_number: TcpSeqNumber(SYN_SEQ as i32),
        ack_number: None,
        window_len: SYN_WINDOW,
        window_scale: Some(SYN_WSCALE),
        max_seg_size: Some(SYN_MSS),
        sack_permitted: true,
        sack_ranges: [None; 3],
        timestamp: Some(TcpTimestampRepr::new(tsval, 0)),
        payload: &[],
    };
    let (src, dst) = (Ipv4Address::from(SYN_SRC_IP), Ipv4Address::from(SYN_DST_IP));
    let ip_repr = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Tcp,
        payload_len: tcp_repr.buffer_len(),
        hop_limit: SYN_TTL,
    };
    let eth_repr = EthernetRepr {
        src_addr: EthernetAddress(SYN_SRC_MAC),
        dst_addr: EthernetAddress(SYN_DST_MAC),
        ethertype: EthernetProtocol::Ipv4,
    };
    let len = eth_repr.buffer_len() + ip_repr.buffer_len() + tcp_repr.buffer_len();
    let mut frame = EthernetFrame::new_unchecked(&mut buf[..len]);
    eth_repr.emit(&mut frame);
    let mut ip = Ipv4Packet::new_unchecked(frame.payload_mut());
    // Ipv4Repr writes identification 0 (and DF, as the capture has): set the
    // capture's identification, then compute the header checksum once.
    ip_repr.emit(&mut ip, &ChecksumCapabilities::ignored());
    ip.set_ident(SYN_IP_ID);
    ip.fill_checksum();
    let mut segment = TcpPacket::new_unchecked(ip.payload_mut());
    tcp_repr.emit(
        &mut segment,
        &IpAddress::Ipv4(src),
        &IpAddress::Ipv4(dst),
        &ChecksumCapabilities::default(),
    );
    len
}

/// etherparse's `PacketBuilder` with a whole IPv4 header and TCP options
/// (in Linux's order).
fn build_syn_etherparse(tsval: u32, out: &mut Vec<u8>) {
    use etherparse::{
        IpHeaders, IpNumber, Ipv4Extensions, Ipv4Header, PacketBuilder, TcpOptionElement,
    };
    let mut header =
        Ipv4Header::new(0, SYN_TTL, IpNumber::TCP, SYN_SRC_IP, SYN_DST_IP).expect("header");
    header.identification = SYN_IP_ID;
    header.dont_fragment = true;
    let builder = PacketBuilder::ethernet2(SYN_SRC_MAC, SYN_DST_MAC)
        .ip(IpHeaders::Ipv4(header, Ipv4Extensions::default()))
        .tcp(SYN_SRC_PORT, SYN_DST_PORT, SYN_SEQ, SYN_WINDOW)
        .syn()
        .options(&[
            TcpOptionElement::MaximumSegmentSize(SYN_MSS),
            TcpOptionElement::SelectiveAcknowledgementPermitted,
            TcpOptionElement::Timestamp(tsval, 0),
            TcpOptionElement::Noop,
            TcpOptionElement::WindowScale(SYN_WSCALE),
        ])
        .expect("options fit");
    out.clear();
    builder.write(out, &[]).expect("write");
}

fn bench_build_syn(c: &mut Criterion) {
    let mut buf = [0u8; 128];
    let n = build_syn_ersatz(SYN_TSVAL, &mut buf);
    assert_eq!(&buf[..n], SYN_FRAME, "ersatz builds the captured SYN");
    let mut vec = Vec::with_capacity(128);
    build_syn_etherparse(SYN_TSVAL, &mut vec);
    assert_eq!(vec, SYN_FRAME, "etherparse builds the captured SYN");
    buf.fill(0);
    let n = build_syn_smoltcp(SYN_TSVAL, &mut buf);
    // smoltcp orders the options its own way: same length, same fields.
    assert_eq!(n, SYN_FRAME.len());
    assert_eq!(&buf[..50], &SYN_FRAME[..50], "up to the TCP checksum");
    assert_eq!(&buf[52..54], &SYN_FRAME[52..54], "urgent pointer");
    let expected = Some((SYN_SRC_PORT, SYN_DST_PORT, SYN_SEQ, SYN_MSS));
    assert_eq!(syn_ersatz_view(&buf[..n]), expected);
    assert_eq!(syn_etherparse(&buf[..n], true), expected);

    let mut g = c.benchmark_group("build_syn_74B");
    g.bench_function("ersatz Frame value + to_slice", |b| {
        b.iter(|| build_syn_ersatz(black_box(SYN_TSVAL), black_box(&mut buf)))
    });
    g.bench_function("smoltcp Repr::emit", |b| {
        b.iter(|| build_syn_smoltcp(black_box(SYN_TSVAL), black_box(&mut buf)))
    });
    g.bench_function("etherparse PacketBuilder::write", |b| {
        b.iter(|| build_syn_etherparse(black_box(SYN_TSVAL), black_box(&mut vec)))
    });
    g.finish();
}

criterion_group!(
    benches,
    bench_parse,
    bench_build,
    bench_checksum,
    bench_ersatz_parts,
    bench_parse_syn,
    bench_build_syn
);
criterion_main!(benches);
