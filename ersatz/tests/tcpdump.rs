//! tcpdump as a third, independent reader: a few hundred varied frames built
//! by ersatz go into a pcap file, `tcpdump -nn -vv -e -tt -r FILE` must decode
//! each of them as intended and find no bad checksum; a deliberately damaged
//! file shows that it would notice one.
//!
//! tcpdump is required: CI installs it (`tests/run-all.sh`). Without it this
//! test fails, it does not skip.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::pcap;
use ersatz::{arp, ethernet, icmp, ipv4, tcp, udp, Blob};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Timestamp of the first frame of a file; frame `i` is `FIRST_SEC + i`
/// seconds and `i` microseconds (see `pcap::to_bytes`).
const FIRST_SEC: u32 = 1_700_000_000;

fn tcpdump() -> PathBuf {
    let candidates = ["/usr/bin/tcpdump", "/usr/sbin/tcpdump"]
        .into_iter()
        .map(PathBuf::from)
        .chain(
            std::env::var_os("PATH")
                .into_iter()
                .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
                .map(|d| d.join("tcpdump")),
        );
    for path in candidates {
        if path.is_file() {
            return path;
        }
    }
    panic!(
        "tcpdump not found (looked in /usr/bin, /usr/sbin and $PATH). This test \
         checks ersatz's frames with tcpdump and must not pass without it: \
         install it with `apt-get install tcpdump` (CI installs it)."
    );
}

/// A fresh directory under cargo's scratch space for integration tests.
fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("ersatz-tcpdump-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs tcpdump on `frames` written to `dir/name.pcap`; returns one string
/// per record (a record is its first line and the indented lines after it).
fn tcpdump_records(dir: &Path, name: &str, frames: &[Vec<u8>]) -> Vec<String> {
    let file = dir.join(format!("{name}.pcap"));
    pcap::write_frames(&file, frames, FIRST_SEC);
    // The file must read back as what we meant to write.
    assert_eq!(pcap::read_frames(&file), frames);
    let out = Command::new(tcpdump())
        .args(["-nn", "-vv", "-e", "-tt", "-r"])
        .arg(&file)
        .output()
        .expect("running tcpdump");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "tcpdump failed ({}) on {}:\n{stderr}\n{stdout}",
        out.status,
        file.display()
    );
    let mut records: Vec<String> = Vec::new();
    for line in stdout.lines() {
        if line.starts_with(char::is_whitespace) {
            let last = records
                .last_mut()
                .unwrap_or_else(|| panic!("continuation line first: {line:?}"));
            last.push('\n');
            last.push_str(line);
        } else {
            records.push(line.to_string());
        }
    }
    records
}

fn mac(a: ethernet::Addr) -> String {
    a.0.map(|b| format!("{b:02x}")).join(":")
}

/// A frame and what tcpdump must print for it.
struct Case {
    bytes: Vec<u8>,
    what: String,
    expect: Vec<String>,
    /// Whether the whole datagram is there (no quote cut short), so tcpdump
    /// must not print a truncation mark.
    complete: bool,
}

struct Gen {
    rng: StdRng,
}

impl Gen {
    fn unicast_mac(&mut self) -> ethernet::Addr {
        let mut m: [u8; 6] = self.rng.random();
        m[0] = (m[0] & 0xfc) | 0x02;
        ethernet::Addr(m)
    }

    fn ip(&mut self) -> ipv4::Addr {
        ipv4::Addr([
            10,
            self.rng.random(),
            self.rng.random(),
            self.rng.random_range(1..255),
        ])
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        self.rng.fill(&mut v[..]);
        v
    }

    /// Well-formed options: NOPs and an EOL, or Record Route with some
    /// slots filled, padded to whole words.
    fn options(&mut self) -> Vec<u8> {
        let mut o = match self.rng.random_range(0..4) {
            0 | 1 => Vec::new(),
            2 => {
                let mut o = vec![1u8; self.rng.random_range(1..8)];
                o.push(0);
                o
            }
            _ => {
                let slots = self.rng.random_range(1..=9u8);
                let filled = self.rng.random_range(0..=slots);
                let mut o = vec![1, 7, 3 + 4 * slots, 4 + 4 * filled];
                for i in 0..slots {
                    if i < filled {
                        o.extend_from_slice(&self.ip().0);
                    } else {
                        o.extend_from_slice(&[0; 4]);
                    }
                }
                o
            }
        };
        o.resize(o.len().div_ceil(4) * 4, 0);
        assert!(o.len() <= 40);
        o
    }

    fn payload_len(&mut self) -> usize {
        const LENS: [usize; 12] = [0, 1, 2, 7, 8, 9, 31, 32, 56, 57, 1000, 1472];
        if self.rng.random_bool(0.5) {
            LENS[self.rng.random_range(0..LENS.len())]
        } else {
            self.rng.random_range(0..=1472)
        }
    }

    /// An echo request or reply; returns the case and the IPv4 packet.
    fn echo(&mut self, request: bool) -> (Case, ipv4::Packet<'static>) {
        let (src_mac, dst_mac) = (self.unicast_mac(), self.unicast_mac());
        let (src, dst) = (self.ip(), self.ip());
        let echo = icmp::Echo {
            identifier: self.rng.random(),
            sequence_number: self.rng.random(),
        };
        let n = self.payload_len();
        let data = self.bytes(n);
        let message = if request {
            echo.into_echo_request(data)
        } else {
            echo.into_echo_reply(data)
        };
        let mut p = message.into_ipv4_payload().into_packet(src, dst);
        p.ttl = self.rng.random_range(1..=255);
        p.dscp = self.rng.random_range(0..64);
        p.ecn = self.rng.random_range(0..4);
        let df = self.rng.random_bool(0.5);
        p.flags = if df { ipv4::DONT_FRAGMENT } else { 0 };
        p.options = Blob::from(self.options());
        let ip_len = p.len();
        let mut frame = ethernet::Frame::new(dst_mac, src_mac, p.clone().into_ethernet_payload());
        if 14 + ip_len < 60 && self.rng.random_bool(0.5) {
            frame.padding = Blob::from(vec![0u8; 60 - 14 - ip_len]);
        }
        let bytes = frame.to_vec().unwrap();
        let kind = if request { "request" } else { "reply" };
        let expect = vec![
            format!(
                "{} > {}, ethertype IPv4 (0x0800), length {}: ",
                mac(src_mac),
                mac(dst_mac),
                bytes.len()
            ),
            format!("(tos 0x{:x},", (p.dscp << 2) | p.ecn),
            format!(
                "ttl {}, id {}, offset 0, flags [{}], proto ICMP (1), length {ip_len}",
                p.ttl,
                p.identification,
                if df { "DF" } else { "none" }
            ),
            format!(
                "{src} > {dst}: ICMP echo {kind}, id {}, seq {}, length {}",
                echo.identifier,
                echo.sequence_number,
                8 + n
            ),
        ];
        let what = format!(
            "echo {kind}, {n} data bytes, {} option bytes",
            p.options.len()
        );
        let case = Case {
            bytes,
            what,
            expect,
            complete: true,
        };
        (case, p)
    }

    /// An ICMP error from a router quoting `original` (an echo request),
    /// whole (as Linux does) or header + 8 bytes (RFC 792's minimum).
    fn error(&mut self, original: &ipv4::Packet<'_>) -> Case {
        let ipv4::Payload::ICMP(request) = &original.payload else {
            unreachable!()
        };
        let icmp::Header::EchoRequest(echo) = request.header else {
            unreachable!()
        };
        let mut quote = original.to_vec().unwrap();
        let whole = self.rng.random_bool(0.5);
        if !whole {
            quote.truncate(original.header_len() + 8);
        }
        let (src, dst) = (original.src, original.dst);
        let (header, says) = match self.rng.random_range(0..5) {
            0 => (
                icmp::Header::DestinationUnreachable {
                    code: icmp::UnreachableCode::Net,
                    unused: 0,
                    next_hop_mtu: 0,
                },
                format!("ICMP net {dst} unreachable"),
            ),
            1 => (
                icmp::Header::DestinationUnreachable {
                    code: icmp::UnreachableCode::Host,
                    unused: 0,
                    next_hop_mtu: 0,
                },
                format!("ICMP host {dst} unreachable"),
            ),
            2 => {
                let mtu = self.rng.random_range(68..1500);
                (
                    icmp::Header::DestinationUnreachable {
                        code: icmp::UnreachableCode::FragmentationNeeded,
                        unused: 0,
                        next_hop_mtu: mtu,
                    },
                    format!("ICMP {dst} unreachable - need to frag (mtu {mtu})"),
                )
            }
            3 => (
                icmp::Header::TimeExceeded {
                    code: icmp::TimeExceededCode::TtlExceeded,
                    unused: 0,
                },
                "ICMP time exceeded in-transit".to_string(),
            ),
            _ => (
                icmp::Header::TimeExceeded {
                    code: icmp::TimeExceededCode::FragmentReassembly,
                    unused: 0,
                },
                "ICMP ip reassembly time exceeded".to_string(),
            ),
        };
        let router = self.ip();
        let mut p = icmp::Packet::new(header, Blob::from(quote))
            .into_ipv4_payload()
            .into_packet(router, src);
        p.dscp = 48;
        p.ttl = 64;
        let (router_mac, host_mac) = (self.unicast_mac(), self.unicast_mac());
        let bytes = ethernet::Frame::new(host_mac, router_mac, p.clone().into_ethernet_payload())
            .to_vec()
            .unwrap();
        Case {
            expect: vec![
                format!(
                    "{} > {}, ethertype IPv4 (0x0800), length {}: ",
                    mac(router_mac),
                    mac(host_mac),
                    bytes.len()
                ),
                format!(
                    "(tos 0xc0, ttl 64, id {}, offset 0, flags [none], proto ICMP (1), length {}",
                    p.identification,
                    p.len()
                ),
                format!("{router} > {src}: {says}"),
                format!(
                    "{src} > {dst}: ICMP echo request, id {}, seq {}",
                    echo.identifier, echo.sequence_number
                ),
            ],
            bytes,
            what: format!(
                "{says}, quoting {} bytes",
                if whole { "all" } else { "header + 8" }
            ),
            complete: whole,
        }
    }

    /// A port away from the well-known ones, so that tcpdump does not
    /// decode the payload as some application's.
    fn port(&mut self) -> u16 {
        self.rng.random_range(40000..60000)
    }

    /// An Ethernet frame from random MACs carrying `payload` from `src` to
    /// `dst` with a random TTL; returns the frame's bytes, the IPv4 packet
    /// and the first line tcpdump prints for it.
    fn ipv4_frame(
        &mut self,
        payload: ipv4::Payload<'static>,
        src: ipv4::Addr,
        dst: ipv4::Addr,
        proto: &str,
    ) -> (Vec<u8>, Vec<String>) {
        let mut p = payload.into_packet(src, dst);
        p.ttl = self.rng.random_range(1..=255);
        p.flags = ipv4::DONT_FRAGMENT;
        let (src_mac, dst_mac) = (self.unicast_mac(), self.unicast_mac());
        let bytes = ethernet::Frame::new(dst_mac, src_mac, p.clone().into_ethernet_payload())
            .to_vec()
            .unwrap();
        let expect = vec![
            format!(
                "{} > {}, ethertype IPv4 (0x0800), length {}: ",
                mac(src_mac),
                mac(dst_mac),
                bytes.len()
            ),
            format!(
                "ttl {}, id {}, offset 0, flags [DF], proto {proto}, length {}",
                p.ttl,
                p.identification,
                p.len()
            ),
        ];
        (bytes, expect)
    }

    /// A TCP segment as a kernel sends them: a SYN with Linux's options, its
    /// SYN-ACK, an RST for a closed port, or data with the timestamps.
    fn tcp(&mut self, kind: u8) -> Case {
        use tcp::{Flags, TcpOption};
        let (src, dst) = (self.ip(), self.ip());
        let (sport, dport) = (self.port(), self.port());
        let (seq, ack, window): (u32, u32, u16) =
            (self.rng.random(), self.rng.random(), self.rng.random());
        let (mss, shift) = (
            self.rng.random_range(536..=9000u16),
            self.rng.random_range(0..=14u8),
        );
        let (value, echo): (u32, u32) = (self.rng.random(), self.rng.random());
        let syn_options = |echo| {
            vec![
                TcpOption::MaxSegmentSize(mss),
                TcpOption::SackPermitted,
                TcpOption::Timestamps { value, echo },
                TcpOption::NoOperation,
                TcpOption::WindowScale(shift),
            ]
        };
        let syn_printed = |echo| {
            format!("options [mss {mss},sackOK,TS val {value} ecr {echo},nop,wscale {shift}]")
        };
        let n = if kind == 3 {
            self.rng.random_range(1..=1400)
        } else {
            0
        };
        let data = self.bytes(n);
        let (flags, printed_flags, ack, window, options, printed_options, what) = match kind {
            0 => (
                Flags::SYN,
                "S",
                0,
                window,
                syn_options(0),
                Some(syn_printed(0)),
                "SYN",
            ),
            1 => (
                Flags::SYN | Flags::ACK,
                "S.",
                ack,
                window,
                syn_options(echo),
                Some(syn_printed(echo)),
                "SYN-ACK",
            ),
            2 => (Flags::RST | Flags::ACK, "R.", ack, 0, vec![], None, "RST"),
            _ => (
                Flags::PSH | Flags::ACK,
                "P.",
                ack,
                window,
                vec![
                    TcpOption::NoOperation,
                    TcpOption::NoOperation,
                    TcpOption::Timestamps { value, echo },
                ],
                Some(format!("options [nop,nop,TS val {value} ecr {echo}]")),
                "data",
            ),
        };
        let segment = tcp::Packet::new(
            sport,
            dport,
            seq,
            ack,
            flags,
            window,
            Blob::from(tcp::options(&options)),
            Blob::from(data),
        );
        let checksum = {
            let bytes = segment.to_vec(src, dst).unwrap();
            u16::from_be_bytes([bytes[16], bytes[17]])
        };
        let (bytes, mut expect) = self.ipv4_frame(segment.into_ipv4_payload(), src, dst, "TCP (6)");
        // tcpdump prints a segment with data as the range of its sequence.
        let printed_seq = if n == 0 {
            seq.to_string()
        } else {
            format!("{seq}:{}", seq.wrapping_add(n as u32))
        };
        let mut line = format!(
            "{src}.{sport} > {dst}.{dport}: Flags [{printed_flags}], cksum 0x{checksum:04x} (correct), seq {printed_seq}"
        );
        if flags.contains(Flags::ACK) {
            line += &format!(", ack {ack}");
        }
        line += &format!(", win {window}");
        if let Some(o) = printed_options {
            line += &format!(", {o}");
        }
        line += &format!(", length {n}");
        expect.push(line);
        Case {
            bytes,
            what: format!("TCP {what} ({flags}), {n} data bytes"),
            expect,
            complete: true,
        }
    }

    /// A UDP datagram with a checksum, or without one (field 0).
    fn udp(&mut self, with_checksum: bool) -> Case {
        let (src, dst) = (self.ip(), self.ip());
        let (sport, dport) = (self.port(), self.port());
        let n = self.rng.random_range(0..=1400);
        let mut datagram = udp::Packet::new(sport, dport, Blob::from(self.bytes(n)));
        if !with_checksum {
            datagram.checksum = udp::NO_CHECKSUM;
        }
        let (bytes, mut expect) =
            self.ipv4_frame(datagram.into_ipv4_payload(), src, dst, "UDP (17)");
        let sum = if with_checksum {
            "udp sum ok"
        } else {
            "no cksum"
        };
        expect.push(format!(
            "{src}.{sport} > {dst}.{dport}: [{sum}] UDP, length {n}"
        ));
        Case {
            bytes,
            what: format!("UDP, {n} data bytes, {sum}"),
            expect,
            complete: true,
        }
    }

    fn arp(&mut self) -> Case {
        let (sha, tha) = (self.unicast_mac(), self.unicast_mac());
        let (spa, tpa) = (self.ip(), self.ip());
        let request = arp::request(sha, spa, tpa);
        let padded = self.rng.random_bool(0.5);
        // tcpdump's "length" is everything after the Ethernet header.
        let len = if padded { 28 + 18 } else { 28 };
        let (packet, dst, says) = if self.rng.random_bool(0.5) {
            (
                request,
                ethernet::Addr::broadcast(),
                format!("Request who-has {tpa} tell {spa}, length {len}"),
            )
        } else {
            (
                request.reply(tha),
                sha,
                format!("Reply {tpa} is-at {}, length {len}", mac(tha)),
            )
        };
        let src = packet.sender_hw_addr;
        let mut frame = ethernet::Frame::new(dst, src, packet.into_ethernet_payload());
        if padded {
            frame.padding = Blob::from(vec![0u8; 18]);
        }
        let bytes = frame.to_vec().unwrap();
        Case {
            expect: vec![
                format!(
                    "{} > {}, ethertype ARP (0x0806), length {}: ",
                    mac(src),
                    mac(dst),
                    bytes.len()
                ),
                says.clone(),
            ],
            bytes,
            what: says,
            complete: true,
        }
    }
}

/// 400 frames: echo requests and replies (all payload lengths, options,
/// padding), errors quoting one of those requests, ARP requests and replies,
/// TCP SYNs with options, SYN-ACKs, RSTs and data segments, UDP datagrams
/// with and without a checksum.
fn cases() -> Vec<Case> {
    let mut g = Gen {
        rng: StdRng::seed_from_u64(0x0074_6370_6475_6d70),
    };
    let mut cases = Vec::new();
    for i in 0..400 {
        let case = match i % 10 {
            0 => g.echo(true).0,
            1 => g.echo(false).0,
            2 => {
                let (_, request) = g.echo(true);
                g.error(&request)
            }
            3 => g.arp(),
            4 => g.tcp(0),
            5 => g.tcp(1),
            6 => {
                let kind = g.rng.random_range(2..=3);
                g.tcp(kind)
            }
            7 => g.udp(true),
            8 => g.udp(false),
            _ => g.tcp(0),
        };
        cases.push(case);
    }
    cases
}

#[test]
fn tcpdump_reads_every_frame_with_good_checksums() {
    let dir = scratch_dir("good");
    let cases = cases();
    let frames: Vec<Vec<u8>> = cases.iter().map(|c| c.bytes.clone()).collect();
    let records = tcpdump_records(&dir, "ersatz", &frames);
    assert_eq!(
        records.len(),
        cases.len(),
        "one tcpdump record per frame expected:\n{}",
        records.join("\n")
    );
    for (i, (case, record)) in cases.iter().zip(&records).enumerate() {
        let context = || {
            format!(
                "frame {i} ({}), bytes {}\ntcpdump said:\n{record}",
                case.what,
                common::hex(&case.bytes)
            )
        };
        let stamp = format!("{}.{:06} ", FIRST_SEC + i as u32, i);
        assert!(
            record.starts_with(&stamp),
            "expected {stamp:?}: {}",
            context()
        );
        for bad in [
            "bad cksum",
            "wrong icmp cksum",
            "incorrect",
            "bad udp cksum",
        ] {
            assert!(!record.contains(bad), "{bad}: {}", context());
        }
        if case.complete {
            assert!(!record.contains("[|"), "truncated: {}", context());
        }
        for expected in &case.expect {
            assert!(
                record.contains(expected.as_str()),
                "missing {expected:?}: {}",
                context()
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn tcpdump_reports_damaged_checksums() {
    // Self-check: the same reading must flag a frame ersatz did not make
    // right, or the test above could not fail.
    let dir = scratch_dir("damaged");
    let mut g = Gen {
        rng: StdRng::seed_from_u64(7),
    };
    let (good, _) = g.echo(true);
    let hl = 14 + usize::from(good.bytes[14] & 0x0f) * 4;
    let mut bad_ip = good.bytes.clone();
    bad_ip[14 + 10] ^= 0x01; // IPv4 header checksum
    let mut bad_icmp = good.bytes.clone();
    bad_icmp[hl + 2] ^= 0x80; // ICMP checksum
    let mut bad_data = good.bytes.clone();
    *bad_data.last_mut().unwrap() ^= 0x01; // last data byte (or the id/seq)
    let syn = g.tcp(0).bytes;
    let mut bad_tcp = syn.clone();
    bad_tcp[34 + 16] ^= 0x01; // TCP checksum
    let mut bad_tcp_address = syn.clone();
    bad_tcp_address[14 + 19] ^= 0x01; // destination address: the pseudo-header
    bad_tcp_address[14 + 10..14 + 12].fill(0);
    let sum = common::inet_checksum(&bad_tcp_address[14..34]);
    bad_tcp_address[14 + 10..14 + 12].copy_from_slice(&sum.to_be_bytes());
    let datagram = g.udp(true).bytes;
    let mut bad_udp = datagram.clone();
    *bad_udp.last_mut().unwrap() ^= 0x01;
    let frames = vec![
        good.bytes.clone(),
        bad_ip,
        bad_icmp,
        bad_data,
        syn,
        bad_tcp,
        bad_tcp_address,
        datagram,
        bad_udp,
    ];
    let records = tcpdump_records(&dir, "damaged", &frames);
    assert_eq!(records.len(), 9, "{}", records.join("\n"));
    assert!(
        !records[0].contains("cksum"),
        "undamaged frame: {}",
        records[0]
    );
    assert!(records[1].contains("bad cksum"), "{}", records[1]);
    assert!(records[2].contains("wrong icmp cksum"), "{}", records[2]);
    assert!(records[3].contains("wrong icmp cksum"), "{}", records[3]);
    assert!(records[4].contains("(correct)"), "{}", records[4]);
    assert!(records[5].contains("(incorrect"), "{}", records[5]);
    assert!(records[6].contains("(incorrect"), "{}", records[6]);
    assert!(records[7].contains("[udp sum ok]"), "{}", records[7]);
    assert!(records[8].contains("[bad udp cksum"), "{}", records[8]);
    std::fs::remove_dir_all(&dir).unwrap();
}
