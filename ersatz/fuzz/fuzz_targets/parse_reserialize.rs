//! Parse arbitrary bytes as every ersatz wire type, and check what ersatz
//! promises about the result (see the crate docs, "Untrusted input never
//! panics"):
//!
//! - no parser panics (libFuzzer reports any panic, including arithmetic
//!   overflow: cargo fuzz builds with debug assertions on);
//! - anything `parse` returns serializes again (`to_vec` is `Ok`);
//! - when every checksum in it was correct, serializing gives back exactly the
//!   bytes that were parsed;
//! - the serialized bytes parse again, to the same value except for the
//!   checksum fields (which serializing computes, so they are then all correct);
//! - `icmp::Packet::original` and `Quote::echo_request`, `Quote::ports` and
//!   `Quote::tcp_seq` agree with the bytes;
//! - the checked views (`ethernet::View`, `ipv4::View`, `icmp::View`,
//!   `tcp::View`, `udp::View`) agree with the packet values: same rest, same
//!   fields, same errors;
//! - TCP segments and UDP datagrams parsed on their own (and inside IPv4)
//!   round-trip like the rest, and a segment's typed options written back
//!   are its option bytes up to the padding.
//!
//! Any mismatch panics, which is how libFuzzer reports it.
//!
//! A checksum field of `ffff` where `0000` was computed (the other one's
//! complement zero) is correct too, and must come back as `ffff`: ersatz
//! keeps it (`Checksum::finish_like`). The fuzzer found that case first.

#![no_main]

use ersatz::{arp, ethernet, icmp, ipv4, tcp, udp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    check_frame(data);
    check_ipv4(data);
    check_quoted(data);
    check_icmp(data);
    check_arp(data);
    check_views(data);
    check_tcp(data);
    check_udp(data);
});

/// The addresses a segment or datagram parsed on its own is taken to come
/// from and go to (the pseudo-header needs some).
const SRC: ipv4::Addr = ipv4::Addr([10, 0, 0, 1]);
const DST: ipv4::Addr = ipv4::Addr([10, 0, 0, 2]);

/// Where a packet parses, its view parses to the same rest and builds the
/// same packet; where the view fails, the packet fails with the same error;
/// where the view parses but the packet does not (a bad ICMP payload), the
/// view's `to_packet` fails with the packet's error.
fn check_views(data: &[u8]) {
    match (ipv4::View::parse(data), ipv4::Packet::parse(data)) {
        (Ok((rest, view)), Ok((packet_rest, packet))) => {
            assert_eq!(rest, packet_rest, "ipv4::View rest");
            assert_eq!(view.to_packet(), Ok(packet), "ipv4::View::to_packet");
        }
        (Ok((_, view)), Err(e)) => assert_eq!(view.to_packet().err(), Some(e)),
        (Err(e), Err(packet_e)) => assert_eq!(e, packet_e, "ipv4::View error"),
        (Err(e), Ok(_)) => panic!("ipv4::View fails where Packet parses: {e:?}"),
    }
    match (
        ipv4::View::parse_quoted(data),
        ipv4::Packet::parse_quoted(data),
    ) {
        (Ok((rest, view)), Ok((packet_rest, packet))) => {
            assert_eq!(rest, packet_rest, "quoted ipv4::View rest");
            assert_eq!(view.to_packet(), Ok(packet), "quoted ipv4::View::to_packet");
        }
        (Err(e), Err(packet_e)) => assert_eq!(e, packet_e, "quoted ipv4::View error"),
        (view, packet) => panic!("quoted: view {view:?}, packet {packet:?}"),
    }
    match (icmp::View::parse(data), icmp::Packet::parse(data)) {
        (Ok((rest, view)), Ok((packet_rest, packet))) => {
            assert_eq!(rest, packet_rest, "icmp::View rest");
            assert_eq!(view.to_packet(), packet, "icmp::View::to_packet");
        }
        (Err(e), Err(packet_e)) => assert_eq!(e, packet_e, "icmp::View error"),
        (view, packet) => panic!("icmp: view {view:?}, packet {packet:?}"),
    }
    match (
        tcp::View::parse(data, SRC, DST),
        tcp::Packet::parse(data, SRC, DST),
    ) {
        (Ok((rest, view)), Ok((packet_rest, packet))) => {
            assert_eq!(rest, packet_rest, "tcp::View rest");
            assert!(view.options_iter().eq(packet.options_iter()), "tcp options");
            assert_eq!(view.to_packet(), packet, "tcp::View::to_packet");
        }
        (Err(e), Err(packet_e)) => assert_eq!(e, packet_e, "tcp::View error"),
        (view, packet) => panic!("tcp: view {view:?}, packet {packet:?}"),
    }
    match (
        udp::View::parse(data, SRC, DST),
        udp::Packet::parse(data, SRC, DST),
    ) {
        (Ok((rest, view)), Ok((packet_rest, packet))) => {
            assert_eq!(rest, packet_rest, "udp::View rest");
            assert_eq!(view.to_packet(), packet, "udp::View::to_packet");
        }
        (Err(e), Err(packet_e)) => assert_eq!(e, packet_e, "udp::View error"),
        (view, packet) => panic!("udp: view {view:?}, packet {packet:?}"),
    }
    match ethernet::View::parse(data) {
        Ok((_, view)) => {
            assert!(data.len() >= 14);
            if let Ok((_, frame)) = ethernet::Frame::parse(data) {
                assert_eq!((view.dst(), view.src()), (frame.dst, frame.src));
                assert_eq!(view.ether_type(), frame.ether_type);
            }
        }
        Err(_) => assert!(data.len() < 14, "ethernet::View fails on 14+ bytes"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Asserts `actual == expected` byte for byte, with both in hex on failure.
fn assert_same_bytes(what: &str, actual: &[u8], expected: &[u8]) {
    assert!(
        actual == expected,
        "{what}: re-serialized bytes differ from the input\n input: {}\noutput: {}",
        hex(expected),
        hex(actual),
    );
}

/// Clears the fields that serializing computes instead of copying: the
/// checksums and their verdicts.
fn strip_ipv4(ip: &mut ipv4::Packet<'_>) {
    ip.checksum = 0;
    ip.checksum_ok = true;
    match &mut ip.payload {
        ipv4::Payload::ICMP(m) => strip_icmp(m),
        ipv4::Payload::TCP(t) => strip_tcp(t),
        ipv4::Payload::UDP(u) => strip_udp(u),
        ipv4::Payload::Unknown(_) => {}
        unknown => panic!("new in ersatz, unknown to this target: {unknown:?}"),
    }
}

fn strip_tcp(t: &mut tcp::Packet<'_>) {
    t.checksum = 0;
    t.checksum_ok = true;
}

/// A UDP checksum of 0 (none) stays 0 when written: only a present one is
/// computed.
fn strip_udp(u: &mut udp::Packet<'_>) {
    if u.checksum != udp::NO_CHECKSUM {
        u.checksum = 0xffff;
    }
    u.checksum_ok = true;
}

fn strip_icmp(m: &mut icmp::Packet<'_>) {
    m.checksum = 0;
    m.checksum_ok = true;
}

fn strip_frame(mut frame: ethernet::Frame<'_>) -> ethernet::Frame<'_> {
    if let ethernet::Payload::IPv4(ip) = &mut frame.payload {
        strip_ipv4(ip);
    }
    frame
}

fn ipv4_checksums_ok(ip: &ipv4::Packet<'_>) -> bool {
    ip.checksum_ok
        && match &ip.payload {
            ipv4::Payload::ICMP(m) => m.checksum_ok,
            ipv4::Payload::TCP(t) => t.checksum_ok,
            ipv4::Payload::UDP(u) => u.checksum_ok,
            ipv4::Payload::Unknown(_) => true,
            unknown => panic!("new in ersatz, unknown to this target: {unknown:?}"),
        }
}

fn frame_checksums_ok(frame: &ethernet::Frame<'_>) -> bool {
    match &frame.payload {
        ethernet::Payload::IPv4(ip) => ipv4_checksums_ok(ip),
        ethernet::Payload::ARP(_) | ethernet::Payload::Unknown(..) => true,
        unknown => panic!("new in ersatz, unknown to this target: {unknown:?}"),
    }
}

fn check_frame(data: &[u8]) {
    let Ok((rest, frame)) = ethernet::Frame::parse(data) else {
        return;
    };
    assert!(rest.is_empty(), "Frame::parse left {} bytes", rest.len());

    let bytes = frame
        .to_vec()
        .unwrap_or_else(|e| panic!("to_vec failed on a parsed frame: {e:?}\n{frame:#?}"));
    assert_eq!(
        bytes.len(),
        data.len(),
        "re-serialized frame has another length"
    );
    if frame_checksums_ok(&frame) {
        assert_same_bytes("ethernet::Frame", &bytes, data);
    }

    // Serializing into a slice gives the same bytes, and a slice one byte too
    // short is an error, not a panic.
    let mut buf = vec![0u8; bytes.len()];
    let n = frame.to_slice(&mut buf).expect("to_slice");
    assert_eq!(n, bytes.len());
    assert_same_bytes("Frame via to_slice", &buf, &bytes);
    if !buf.is_empty() {
        let short = buf.len() - 1;
        assert!(
            frame.to_slice(&mut buf[..short]).is_err(),
            "to_slice into a too-short buffer succeeded"
        );
    }
    // And so does appending to a vector that holds something already.
    let mut appended = vec![0xa5u8; 3];
    frame.append_to(&mut appended).expect("append_to");
    assert_eq!(&appended[..3], &[0xa5; 3]);
    assert_same_bytes("Frame via append_to", &appended[3..], &bytes);

    let (rest, again) = ethernet::Frame::parse(&bytes).unwrap_or_else(|e| {
        panic!(
            "re-serialized frame does not parse: {e:?}\n input: {}\noutput: {}",
            hex(data),
            hex(&bytes)
        )
    });
    assert!(rest.is_empty());
    assert!(
        frame_checksums_ok(&again),
        "re-serialized frame has a bad checksum: {}",
        hex(&bytes)
    );
    let again_bytes = again.to_vec().expect("to_vec of the re-parsed frame");
    assert_same_bytes("re-parsed Frame", &again_bytes, &bytes);
    assert_eq!(strip_frame(frame.clone()), strip_frame(again));

    assert_eq!(frame.clone().into_owned(), frame);

    if let ethernet::Payload::IPv4(ip) = &frame.payload {
        match &ip.payload {
            ipv4::Payload::ICMP(m) => check_original(m),
            ipv4::Payload::TCP(t) => check_options(t),
            _ => {}
        }
    }
}

fn check_ipv4(data: &[u8]) {
    let Ok((rest, ip)) = ipv4::Packet::parse(data) else {
        return;
    };
    let consumed = data.len() - rest.len();
    assert_eq!(
        consumed,
        usize::from(ip.length),
        "IPv4 packet bounded by total length"
    );
    let input = &data[..consumed];

    let bytes = ip
        .to_vec()
        .unwrap_or_else(|e| panic!("to_vec failed on a parsed IPv4 packet: {e:?}\n{ip:#?}"));
    assert_eq!(bytes.len(), consumed);
    if ipv4_checksums_ok(&ip) {
        assert_same_bytes("ipv4::Packet", &bytes, input);
    }
    let (rest, mut again) = ipv4::Packet::parse(&bytes)
        .unwrap_or_else(|e| panic!("re-serialized IPv4 packet does not parse: {e:?}"));
    assert!(rest.is_empty());
    assert!(
        ipv4_checksums_ok(&again),
        "re-serialized IPv4 packet has a bad checksum"
    );
    let mut first = ip.clone();
    strip_ipv4(&mut first);
    strip_ipv4(&mut again);
    assert_eq!(first, again);

    match &ip.payload {
        ipv4::Payload::ICMP(m) => check_original(m),
        ipv4::Payload::TCP(t) => check_options(t),
        ipv4::Payload::UDP(u) => {
            // Whole: a datagram shorter than the payload is kept raw.
            assert_eq!(u.len(), consumed - ip.header_len(), "UDP fills the payload");
        }
        ipv4::Payload::Unknown(_) => {}
        unknown => panic!("new in ersatz, unknown to this target: {unknown:?}"),
    }
}

/// A segment's typed options, written back, are its option bytes up to the
/// padding after an End of Option List (written back as zeros); owned, it
/// reads the same options.
fn check_options(t: &tcp::Packet<'_>) {
    let list: Vec<_> = t.options_iter().collect();
    let again = tcp::options(&list);
    let kept = t.options.len() - t.padding().len();
    assert!(again.len() >= kept, "options shrank");
    assert_same_bytes("tcp options", &again[..kept], &t.options[..kept]);
    if let Some(stack) = tcp::OptionBytes::new(&list) {
        assert_same_bytes("tcp::OptionBytes", &stack, &again);
    }
    assert!(t.clone().into_owned().options_iter().eq(t.options_iter()));
}

fn check_tcp(data: &[u8]) {
    let Ok((rest, t)) = tcp::Packet::parse(data, SRC, DST) else {
        return;
    };
    assert!(rest.is_empty());
    let bytes = t
        .to_vec(SRC, DST)
        .unwrap_or_else(|e| panic!("to_vec failed on a parsed TCP segment: {e:?}\n{t:#?}"));
    if t.checksum_ok {
        assert_same_bytes("tcp::Packet", &bytes, data);
    }
    assert_eq!(bytes.len(), data.len());
    let (_, mut again) = tcp::Packet::parse(&bytes, SRC, DST)
        .unwrap_or_else(|e| panic!("re-serialized TCP segment does not parse: {e:?}"));
    assert!(
        again.checksum_ok,
        "re-serialized TCP segment has a bad checksum"
    );
    let mut first = t.clone();
    strip_tcp(&mut first);
    strip_tcp(&mut again);
    assert_eq!(first, again);
    check_options(&t);
}

fn check_udp(data: &[u8]) {
    let Ok((rest, u)) = udp::Packet::parse(data, SRC, DST) else {
        return;
    };
    let consumed = data.len() - rest.len();
    assert_eq!(
        consumed,
        usize::from(u.length),
        "UDP datagram bounded by its length"
    );
    let bytes = u
        .to_vec(SRC, DST)
        .unwrap_or_else(|e| panic!("to_vec failed on a parsed UDP datagram: {e:?}\n{u:#?}"));
    if u.checksum_ok {
        assert_same_bytes("udp::Packet", &bytes, &data[..consumed]);
    }
    let (_, mut again) = udp::Packet::parse(&bytes, SRC, DST)
        .unwrap_or_else(|e| panic!("re-serialized UDP datagram does not parse: {e:?}"));
    assert!(
        again.checksum_ok,
        "re-serialized UDP datagram has a bad checksum"
    );
    let mut first = u.clone();
    strip_udp(&mut first);
    strip_udp(&mut again);
    assert_eq!(first, again);
}

fn check_quoted(data: &[u8]) {
    let Ok((rest, ip)) = ipv4::Packet::parse_quoted(data) else {
        return;
    };
    assert!(
        matches!(ip.payload, ipv4::Payload::Unknown(_)),
        "a quoted packet's payload stays raw"
    );
    assert!(data.len() - rest.len() <= usize::from(ip.length));
    // The total length is recomputed from what was quoted, so only check that
    // it serializes and parses back.
    let bytes = ip
        .to_vec()
        .unwrap_or_else(|e| panic!("to_vec failed on a quoted IPv4 packet: {e:?}\n{ip:#?}"));
    let (_, again) = ipv4::Packet::parse_quoted(&bytes)
        .unwrap_or_else(|e| panic!("re-serialized quoted packet does not parse: {e:?}"));
    assert_eq!(again.options, ip.options);
    assert_eq!(again.payload, ip.payload);
    check_quote(&icmp::Quote { packet: ip });
}

fn check_icmp(data: &[u8]) {
    let Ok((rest, m)) = icmp::Packet::parse(data) else {
        return;
    };
    assert!(rest.is_empty());
    let bytes = m
        .to_vec()
        .unwrap_or_else(|e| panic!("to_vec failed on a parsed ICMP message: {e:?}\n{m:#?}"));
    if m.checksum_ok {
        assert_same_bytes("icmp::Packet", &bytes, data);
    }
    let (rest, mut again) = icmp::Packet::parse(&bytes)
        .unwrap_or_else(|e| panic!("re-serialized ICMP message does not parse: {e:?}"));
    assert!(rest.is_empty());
    assert!(
        again.checksum_ok,
        "re-serialized ICMP message has a bad checksum"
    );
    let mut first = m.clone();
    strip_icmp(&mut first);
    strip_icmp(&mut again);
    assert_eq!(first, again);
    check_original(&m);
}

fn check_arp(data: &[u8]) {
    let Ok((rest, p)) = arp::Packet::parse(data) else {
        return;
    };
    assert_eq!(data.len() - rest.len(), arp::LEN);
    let bytes = p.to_vec().expect("ARP serialize");
    assert_same_bytes("arp::Packet", &bytes, &data[..arp::LEN]);
    let (_, again) = arp::Packet::parse(&bytes).expect("re-serialized ARP parses");
    assert_eq!(again, p);
}

/// `original()` is there exactly for error messages whose payload parses as a
/// quoted IPv4 header.
fn check_original(m: &icmp::Packet<'_>) {
    let quote = m.original();
    if !m.header.is_error() {
        assert!(quote.is_none(), "original() of a non-error message");
        return;
    }
    let parsed = ipv4::Packet::parse_quoted(&m.payload).ok();
    assert_eq!(
        quote.as_ref().map(|q| &q.packet),
        parsed.as_ref().map(|(_, p)| p),
        "original() disagrees with parse_quoted on the payload"
    );
    if let Some(q) = &quote {
        check_quote(q);
    }
}

/// `echo_request()` is the identifier and sequence number of a quoted,
/// unfragmented ICMP echo request (type 8, code 0), and nothing else;
/// `ports()` and `tcp_seq()` the first bytes of a quoted TCP or UDP header.
fn check_quote(q: &icmp::Quote<'_>) {
    check_echo_quote(q);
    let ip = &q.packet;
    let ipv4::Payload::Unknown(body) = &ip.payload else {
        panic!("quoted payload is not raw");
    };
    let transport =
        matches!(ip.protocol, ipv4::Protocol::TCP | ipv4::Protocol::UDP) && ip.fragment_offset == 0;
    let ports = (transport && body.len() >= 4).then(|| {
        (
            ip.protocol,
            u16::from_be_bytes([body[0], body[1]]),
            u16::from_be_bytes([body[2], body[3]]),
        )
    });
    assert_eq!(q.ports(), ports, "Quote::ports");
    let seq = (transport && ip.protocol == ipv4::Protocol::TCP && body.len() >= 8)
        .then(|| u32::from_be_bytes([body[4], body[5], body[6], body[7]]));
    assert_eq!(q.tcp_seq(), seq, "Quote::tcp_seq");
}

fn check_echo_quote(q: &icmp::Quote<'_>) {
    let echo = q.echo_request();
    let ip = &q.packet;
    let ipv4::Payload::Unknown(body) = &ip.payload else {
        panic!("quoted payload is not raw");
    };
    let expected = (ip.protocol == ipv4::Protocol::ICMP
        && !ip.is_fragment()
        && body.len() >= icmp::HEADER_LEN
        && body[0] == 8
        && body[1] == 0)
        .then(|| icmp::Echo {
            identifier: u16::from_be_bytes([body[4], body[5]]),
            sequence_number: u16::from_be_bytes([body[6], body[7]]),
        });
    assert_eq!(echo, expected, "Quote::echo_request");
}
