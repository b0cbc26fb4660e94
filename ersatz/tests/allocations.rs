//! The promise, counted: parsing a valid frame does not allocate (the
//! payloads borrow from the input), and serializing into a slice does not
//! either. A malformed frame may allocate (its error says where and why).
//!
//! `allocation_counter` (a dev-dependency) installs a counting global
//! allocator and counts per thread, so the other tests of this binary,
//! running beside these, do not disturb the counts.

use ersatz::wire::parse;
use ersatz::{ethernet, icmp, ipv4, tcp, udp};

/// How many allocations `f` made on this thread, and what it returned.
fn allocations<T>(f: impl FnOnce() -> T) -> (u64, T) {
    let mut value = None;
    let n = allocation_counter::count(|| value = Some(f()));
    (n, value.expect("the closure ran"))
}

/// The frames of the committed captures (one per pcap file).
fn captures() -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut frames = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("fixtures directory") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "pcap") {
            let pcap = std::fs::read(&path).expect("read pcap");
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            // 24-byte file header, 16-byte record header, then the frame.
            frames.push((name, pcap[40..].to_vec()));
        }
    }
    assert!(frames.len() >= 10, "the captures are there");
    frames
}

#[test]
fn parsing_valid_frames_does_not_allocate() {
    let (mut tcp_seen, mut udp_seen) = (0, 0);
    for (name, bytes) in captures() {
        let (n, frame) = allocations(|| ethernet::Frame::parse(&bytes));
        let (_, frame) = frame.unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(n, 0, "{name}: Frame::parse allocated {n} times");
        if let ethernet::Payload::IPv4(packet) = &frame.payload {
            let (n, _) = allocations(|| ipv4::Packet::parse(&bytes[14..]).is_ok());
            assert_eq!(n, 0, "{name}: ipv4::Packet::parse allocated");
            if let ipv4::Payload::ICMP(message) = &packet.payload {
                let (n, original) = allocations(|| message.original().is_some());
                assert_eq!(n, 0, "{name}: icmp::Packet::original allocated");
                assert_eq!(original, message.header.is_error(), "{name}");
                let at = bytes.len() - frame.padding.len() - message.len();
                let (n, ok) = allocations(|| icmp::Packet::parse(&bytes[at..]).is_ok());
                assert!(ok, "{name}");
                assert_eq!(n, 0, "{name}: icmp::Packet::parse allocated");
            }
            let at = 14 + packet.header_len();
            let (src, dst) = (packet.src, packet.dst);
            match &packet.payload {
                ipv4::Payload::TCP(segment) => {
                    let bytes = &bytes[at..at + segment.len()];
                    let (n, ok) = allocations(|| tcp::Packet::parse(bytes, src, dst).is_ok());
                    assert!(ok, "{name}");
                    assert_eq!(n, 0, "{name}: tcp::Packet::parse allocated");
                    let (n, ok) = allocations(|| tcp::View::parse(bytes, src, dst).is_ok());
                    assert!(ok, "{name}");
                    assert_eq!(n, 0, "{name}: tcp::View::parse allocated");
                    let (n, options) = allocations(|| segment.options_iter().count());
                    assert_eq!(options, segment.options_iter().count());
                    assert_eq!(n, 0, "{name}: reading the options allocated");
                    tcp_seen += 1;
                }
                ipv4::Payload::UDP(datagram) => {
                    let bytes = &bytes[at..at + datagram.len()];
                    let (n, ok) = allocations(|| udp::Packet::parse(bytes, src, dst).is_ok());
                    assert!(ok, "{name}");
                    assert_eq!(n, 0, "{name}: udp::Packet::parse allocated");
                    let (n, ok) = allocations(|| udp::View::parse(bytes, src, dst).is_ok());
                    assert!(ok, "{name}");
                    assert_eq!(n, 0, "{name}: udp::View::parse allocated");
                    udp_seen += 1;
                }
                _ => {}
            }
        }
    }
    assert_eq!((tcp_seen, udp_seen), (4, 2), "the TCP and UDP captures");
}

/// Building a SYN (options from their values, on the stack) and writing it
/// into a slice allocates nothing either.
#[test]
fn building_a_syn_does_not_allocate() {
    let (src, dst) = (ipv4::Addr([10, 0, 0, 1]), ipv4::Addr([10, 0, 0, 2]));
    let mut buf = [0u8; 128];
    // `into_packet` draws identifications from a generator made (and seeded,
    // which allocates) on a thread's first packet: make it first.
    let _ = ipv4::Payload::Unknown(ersatz::Blob::empty()).into_packet(src, dst);
    let (n, written) = allocations(|| {
        let options = tcp::OptionBytes::new(&[
            tcp::TcpOption::MaxSegmentSize(1460),
            tcp::TcpOption::SackPermitted,
            tcp::TcpOption::Timestamps { value: 1, echo: 0 },
            tcp::TcpOption::NoOperation,
            tcp::TcpOption::WindowScale(7),
        ])
        .expect("20 bytes fit");
        let syn = tcp::Packet::new(
            40000,
            80,
            1,
            0,
            tcp::Flags::SYN,
            64240,
            ersatz::Blob::from(&options[..]),
            ersatz::Blob::empty(),
        );
        let frame = ethernet::Frame::new(
            ethernet::Addr([2, 0, 0, 0, 0, 2]),
            ethernet::Addr([2, 0, 0, 0, 0, 1]),
            syn.into_ipv4_payload()
                .into_packet(src, dst)
                .into_ethernet_payload(),
        );
        frame.to_slice(&mut buf)
    });
    assert_eq!(written.ok(), Some(74));
    assert_eq!(n, 0, "building a SYN allocated {n} times");
    let (_, parsed) = ethernet::Frame::parse(&buf[..74]).expect("parses");
    let ethernet::Payload::IPv4(ip) = &parsed.payload else {
        panic!("not IPv4")
    };
    assert!(matches!(&ip.payload, ipv4::Payload::TCP(t) if t.checksum_ok));
}

#[test]
fn serializing_into_a_slice_does_not_allocate() {
    for (name, bytes) in captures() {
        let (_, frame) = ethernet::Frame::parse(&bytes).expect("parses");
        let mut out = vec![0u8; bytes.len()];
        let (n, written) = allocations(|| frame.to_slice(&mut out));
        assert_eq!(written.ok(), Some(bytes.len()), "{name}");
        assert_eq!(out, bytes, "{name}");
        assert_eq!(n, 0, "{name}: serializing allocated {n} times");
    }
}

/// `to_vec` makes its vector once, with room for every byte: written in
/// several pieces, a vector that starts empty grows (and is copied) on the
/// way, which made a frame's to_vec take 155 ns instead of 59.
#[test]
fn to_vec_allocates_once() {
    for (name, bytes) in captures() {
        let (_, frame) = ethernet::Frame::parse(&bytes).expect("parses");
        let (n, out) = allocations(|| frame.to_vec());
        assert_eq!(out.ok().as_deref(), Some(&bytes[..]), "{name}");
        assert_eq!(n, 1, "{name}: Frame::to_vec allocated {n} times");
        if let ethernet::Payload::IPv4(packet) = &frame.payload {
            let (n, out) = allocations(|| packet.to_vec());
            assert_eq!(out.map(|v| v.len()).ok(), Some(packet.len()), "{name}");
            assert_eq!(n, 1, "{name}: ipv4::Packet::to_vec allocated {n} times");
            if let ipv4::Payload::ICMP(message) = &packet.payload {
                let (n, out) = allocations(|| message.to_vec());
                assert_eq!(out.map(|v| v.len()).ok(), Some(message.len()), "{name}");
                assert_eq!(n, 1, "{name}: icmp::Packet::to_vec allocated {n} times");
            }
        }
    }
}

/// The counter counts: an error, which carries its context, allocates.
#[test]
fn a_malformed_frame_is_counted() {
    let (_, bytes) = captures()
        .into_iter()
        .find(|(name, _)| name == "echo_request.pcap")
        .expect("echo request capture");
    let short = &bytes[..40];
    let (n, result) = allocations(|| parse::run(short, ethernet::Frame::parse));
    assert!(result.is_err());
    assert!(n > 0, "an error was built without allocating?");
}
