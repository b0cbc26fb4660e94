//! `sup` end to end: the real binary (`target/<profile>/sup`) run inside the
//! lab's host namespace, its stdout, stderr and exit code checked line by
//! line against ping.exe's wording (`sup/src/ping.rs`), and what it put on
//! the wire checked with tcpdump in the gateway.
//!
//! sup only ever runs inside a namespace of a lab built by the test (even for
//! argument errors), and host names are resolved from files placed in
//! `/etc/netns/<ns>/` (a hosts file, and a resolv.conf pointing at the
//! namespace's own loopback), so no frame, DNS query included, leaves the lab.
//!
//! The binary is not built by `cargo test` (it only builds sup's unit-test
//! harness): run `cargo build -p sup` first. A missing or stale binary fails
//! the tests with that advice rather than testing old code.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use ersatz_e2e::sup::{expect_clap_error, run_sup, spawn_sup, sup_binary, KillOnDrop, Run};
use ersatz_e2e::{addrs, names, Lab, Ns};
use serde_json::Value;

/// Bound on every sup run (the slowest case, an ARP failure, takes ~3 s a probe).
const BOUND: Duration = Duration::from_secs(30);

const HOST_MAC: &str = "02:e5:a7:01:00:02";
const GW_MAC: &str = "02:e5:a7:01:00:01";

// ---------------------------------------------------------------------------
// Finding and running sup

/// Runs sup with `args` inside `ns`, bounded by [`BOUND`].
fn sup(ns: &Ns, args: &[&str]) -> Run {
    run_sup(ns, args, BOUND)
}

// ---------------------------------------------------------------------------
// ping.exe's lines

/// A time as sup prints it (`0.043ms`, `8.7ms`): three decimals under 1 ms,
/// one from there on. Returns the milliseconds.
fn parse_ms(text: &str, context: &str) -> f64 {
    let number = text
        .strip_suffix("ms")
        .unwrap_or_else(|| panic!("{text:?} does not end in ms: {context}"));
    let (whole, decimals) = number
        .split_once('.')
        .unwrap_or_else(|| panic!("{text:?} has no decimals: {context}"));
    assert!(
        !whole.is_empty()
            && whole.bytes().all(|b| b.is_ascii_digit())
            && decimals.bytes().all(|b| b.is_ascii_digit()),
        "{text:?} is not a number of ms: {context}"
    );
    let ms: f64 = number.parse().expect("digits");
    match decimals.len() {
        // "1.000ms" is how 0.9996 ms rounds.
        3 => assert!(ms <= 1.0, "{text:?}: 3 decimals only under 1 ms: {context}"),
        1 => assert!(ms >= 1.0, "{text:?}: 1 decimal only from 1 ms: {context}"),
        _ => panic!("{text:?}: 3 decimals under 1 ms, else 1: {context}"),
    }
    ms
}

/// `Reply from A: bytes=N time=Tms TTL=X`.
#[derive(Debug, Clone, PartialEq)]
struct ReplyLine {
    from: String,
    bytes: usize,
    ms: f64,
    ttl: u8,
}

fn parse_reply(line: &str) -> Option<ReplyLine> {
    let rest = line.strip_prefix("Reply from ")?;
    let (from, rest) = rest.split_once(": bytes=")?;
    let (bytes, rest) = rest.split_once(" time=")?;
    let (time, ttl) = rest.split_once(" TTL=")?;
    Some(ReplyLine {
        from: from.to_string(),
        bytes: bytes.parse().ok()?,
        ms: parse_ms(time, line),
        ttl: ttl.parse().ok()?,
    })
}

/// The echo reply lines of a run (each checked to be well formed).
fn replies(run: &Run) -> Vec<ReplyLine> {
    run.lines()
        .into_iter()
        .filter(|l| l.starts_with("Reply from ") && l.contains(": bytes="))
        .map(|l| parse_reply(l).unwrap_or_else(|| panic!("bad reply line {l:?}\n{}", run.show())))
        .collect()
}

/// The statistics block, parsed and checked for consistency.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Statistics {
    sent: u32,
    received: u32,
    lost: u32,
    loss_percent: u32,
    /// Minimum, maximum, average.
    rtt: Option<(f64, f64, f64)>,
    control_c: bool,
}

/// Checks the output's frame: an empty line, `Pinging <shown> with <bytes>
/// bytes of data:`, event lines, then the statistics block for `target` to
/// the end (`Control-C` last if interrupted). Returns the event lines and the
/// statistics.
fn text_output<'r>(
    run: &'r Run,
    shown: &str,
    target: &str,
    bytes: u16,
) -> (Vec<&'r str>, Statistics) {
    let lines = run.lines();
    let show = run.show();
    assert!(lines.len() >= 4, "too few lines\n{show}");
    assert_eq!(lines[0], "", "an empty line first\n{show}");
    assert_eq!(
        lines[1],
        format!("Pinging {shown} with {bytes} bytes of data:"),
        "header\n{show}"
    );
    let heading = format!("Ping statistics for {target}:");
    let at = lines
        .iter()
        .position(|l| *l == heading)
        .unwrap_or_else(|| panic!("no {heading:?}\n{show}"));
    assert_eq!(
        lines[at - 1],
        "",
        "an empty line before the statistics\n{show}"
    );
    let events = lines[2..at - 1].to_vec();
    let packets = lines
        .get(at + 1)
        .and_then(|l| l.strip_prefix("    Packets: Sent = "))
        .unwrap_or_else(|| panic!("no Packets line after the heading\n{show}"));
    let numbers: Vec<u32> = packets
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().expect("digits"))
        .collect();
    let [sent, received, lost, loss_percent] = numbers[..] else {
        panic!("Packets line {packets:?}\n{show}");
    };
    assert_eq!(
        lines[at + 1],
        format!(
            "    Packets: Sent = {sent}, Received = {received}, Lost = {lost} ({loss_percent}% loss),"
        ),
        "Packets line\n{show}"
    );
    assert_eq!(lost, sent - received, "lost = sent - received\n{show}");
    assert_eq!(
        loss_percent,
        lost * 100 / sent,
        "loss percent, rounded down\n{show}"
    );
    let mut rest = &lines[at + 2..];
    let mut rtt = None;
    if rest.first() == Some(&"Approximate round trip times in milli-seconds:") {
        let times = rest
            .get(1)
            .and_then(|l| l.strip_prefix("    Minimum = "))
            .unwrap_or_else(|| panic!("no Minimum line\n{show}"));
        let (min, times) = times.split_once(", Maximum = ").expect("Maximum");
        let (max, avg) = times.split_once(", Average = ").expect("Average");
        let (min, max, avg) = (
            parse_ms(min, &show),
            parse_ms(max, &show),
            parse_ms(avg, &show),
        );
        assert!(min <= avg && avg <= max, "min <= avg <= max\n{show}");
        rtt = Some((min, max, avg));
        rest = &rest[2..];
    }
    assert_eq!(
        rtt.is_some(),
        received > 0,
        "round-trip block exactly when a reply came back\n{show}"
    );
    let control_c = rest.first() == Some(&"Control-C");
    if control_c {
        rest = &rest[1..];
    }
    assert!(rest.is_empty(), "nothing after the statistics\n{show}");
    let stats = Statistics {
        sent,
        received,
        lost,
        loss_percent,
        rtt,
        control_c,
    };
    (events, stats)
}

/// Checks a run whose every probe got an echo reply from `target` with `ttl`.
fn all_replied(run: &Run, target: &str, bytes: u16, ttl: u8, count: u32) -> Statistics {
    let (events, stats) = text_output(run, target, target, bytes);
    let show = run.show();
    assert_eq!(events.len(), count as usize, "one line per probe\n{show}");
    let mut min = f64::MAX;
    let mut max = 0f64;
    for line in &events {
        let reply = parse_reply(line).unwrap_or_else(|| panic!("{line:?} is no reply\n{show}"));
        assert_eq!(
            reply,
            ReplyLine {
                from: target.into(),
                bytes: bytes.into(),
                ms: reply.ms,
                ttl
            },
            "{show}"
        );
        min = min.min(reply.ms);
        max = max.max(reply.ms);
    }
    assert_eq!(
        (stats.sent, stats.received, stats.lost, stats.loss_percent),
        (count, count, 0, 0),
        "{show}"
    );
    let (smin, smax, _) = stats.rtt.expect("round trip times");
    // The statistics are over the unrounded times.
    assert!(
        (smin - min).abs() < 0.051 && (smax - max).abs() < 0.051,
        "Minimum/Maximum match the reply lines\n{show}"
    );
    assert!(!stats.control_c, "{show}");
    run.expect_code(0);
    assert_eq!(run.stderr, "", "nothing on stderr\n{show}");
    stats
}

/// Checks a run whose every probe got the same non-reply line `line`.
fn all_failed(run: &Run, target: &str, line: &str, count: u32) {
    let (events, stats) = text_output(run, target, target, 32);
    let show = run.show();
    assert_eq!(events, vec![line; count as usize], "{show}");
    assert_eq!(
        (stats.sent, stats.received, stats.lost, stats.loss_percent),
        (count, 0, count, 100),
        "{show}"
    );
    assert!(stats.rtt.is_none(), "{show}");
    run.expect_code(1);
    assert_eq!(run.stderr, "", "nothing on stderr\n{show}");
}

// ---------------------------------------------------------------------------
// tcpdump's view (`-nn -e -vv`, one line a frame)

/// The value after `key` up to the next `,` or `)` (`ttl 128`, `id 6229`).
fn field<'l>(line: &'l str, key: &str) -> Option<&'l str> {
    let at = line.find(key)? + key.len();
    let rest = &line[at..];
    Some(rest[..rest.find([',', ')']).unwrap_or(rest.len())].trim())
}

/// Frames from `src` to `dst` (IPv4 addresses).
fn frames_between<'f>(frames: &'f [String], src: &str, dst: &str) -> Vec<&'f str> {
    let needle = format!(" {src} > {dst}: ");
    frames
        .iter()
        .map(String::as_str)
        .filter(|f| f.contains(&needle))
        .collect()
}

/// Echo requests (first fragments) from the host to `dst`.
fn requests_to<'f>(frames: &'f [String], dst: &str) -> Vec<&'f str> {
    frames_between(frames, addrs::HOST, dst)
        .into_iter()
        .filter(|f| f.contains("ICMP echo request"))
        .collect()
}

/// Seconds since midnight of a tcpdump line's timestamp.
fn timestamp(frame: &str) -> f64 {
    let stamp = frame.split_whitespace().next().expect("timestamp");
    let parts: Vec<f64> = stamp
        .split(':')
        .map(|p| p.parse().expect("timestamp"))
        .collect();
    parts[0] * 3600.0 + parts[1] * 60.0 + parts[2]
}

// ---------------------------------------------------------------------------
// Names

/// Name resolution confined to the namespace, with `remote.lab`
/// (`ersatz_e2e::names`).
fn lab_names(lab: &Lab) -> names::Confined {
    names::confine(&lab.host, &[(addrs::REMOTE, "remote.lab")])
}

// ---------------------------------------------------------------------------
// Replies

#[test]
fn remote_replies_with_default_options() {
    let lab = Lab::new();
    let wire = lab.gw.tcpdump("host0", "icmp");
    let run = sup(&lab.host, &[addrs::REMOTE]);
    let frames = wire.stop();
    all_replied(&run, addrs::REMOTE, 32, 63, 4);
    // ping.exe's defaults: 4 requests a second apart.
    assert!(
        run.elapsed >= Duration::from_millis(2900),
        "1 s interval by default\n{}",
        run.show()
    );
    // On the wire: 4 requests, TTL 128, no DF, 32-byte payload (frame 74).
    let requests = requests_to(&frames, addrs::REMOTE);
    assert_eq!(requests.len(), 4, "{frames:#?}");
    for (i, r) in requests.iter().enumerate() {
        assert!(r.contains(&format!("{HOST_MAC} > {GW_MAC}")), "{r}");
        assert_eq!(field(r, "ttl "), Some("128"), "{r}");
        assert_eq!(field(r, "flags "), Some("[none]"), "{r}");
        assert!(r.contains(", length 74: "), "{r}");
        assert!(r.contains(&format!(", seq {}, length 40", i + 1)), "{r}");
    }
    assert_eq!(frames_between(&frames, addrs::REMOTE, addrs::HOST).len(), 4);
}

#[test]
fn gateway_and_on_link_neighbour_reply_with_ttl_64() {
    let lab = Lab::new();
    for target in [addrs::GW, addrs::NEIGHBOUR] {
        let run = sup(&lab.host, &["-n", "2", "--interval", "100", target]);
        all_replied(&run, target, 32, 64, 2);
    }
}

#[test]
fn count_sets_the_number_of_requests() {
    let lab = Lab::new();
    let wire = lab.gw.tcpdump("host0", "icmp");
    // -4 is accepted (sup only speaks IPv4).
    let run = sup(
        &lab.host,
        &["-n", "2", "-4", "--interval", "100", addrs::REMOTE],
    );
    let frames = wire.stop();
    all_replied(&run, addrs::REMOTE, 32, 63, 2);
    assert_eq!(requests_to(&frames, addrs::REMOTE).len(), 2, "{frames:#?}");
}

#[test]
fn payloads_of_0_and_1_bytes() {
    let lab = Lab::new();
    for size in [0u16, 1] {
        let s = size.to_string();
        let run = sup(
            &lab.host,
            &["-l", &s, "-n", "2", "--interval", "100", addrs::REMOTE],
        );
        all_replied(&run, addrs::REMOTE, size, 63, 2);
    }
}

#[test]
fn payload_of_1472_bytes_fills_one_frame() {
    let lab = Lab::new();
    let wire = lab.gw.tcpdump("host0", "icmp");
    let run = sup(
        &lab.host,
        &["-l", "1472", "-n", "2", "--interval", "100", addrs::REMOTE],
    );
    let frames = wire.stop();
    all_replied(&run, addrs::REMOTE, 1472, 63, 2);
    // 14 + 20 + 8 + 1472 = 1514: the largest unfragmented frame, both ways.
    for (src, dst) in [(addrs::HOST, addrs::REMOTE), (addrs::REMOTE, addrs::HOST)] {
        let frames = frames_between(&frames, src, dst);
        assert_eq!(frames.len(), 2, "{frames:#?}");
        for f in frames {
            assert!(f.contains("length 1514: "), "{f}");
            assert_eq!(field(f, "offset "), Some("0"), "{f}");
            assert_ne!(field(f, "flags "), Some("[+]"), "{f}");
        }
    }
}

/// Checks that the frames from `src` to `dst` are `count` packets, each in
/// fragments of the IP `lengths` given, in order, with offsets that add up and
/// More Fragments on all but the last.
fn fragmented(frames: &[String], src: &str, dst: &str, count: usize, lengths: &[&str]) {
    let frames = frames_between(frames, src, dst);
    assert_eq!(frames.len(), count * lengths.len(), "{frames:#?}");
    for packet in frames.chunks(lengths.len()) {
        let id = field(packet[0], "id ");
        let mut offset = 0;
        for (i, (f, length)) in packet.iter().zip(lengths).enumerate() {
            assert_eq!(field(f, "id "), id, "one IP id per packet: {f}");
            assert_eq!(field(f, "offset "), Some(&*offset.to_string()), "{f}");
            let last = i + 1 == lengths.len();
            assert_eq!(
                field(f, "flags "),
                Some(if last { "[none]" } else { "[+]" }),
                "{f}"
            );
            assert_eq!(field(f, "proto ICMP (1), length "), Some(*length), "{f}");
            offset += length.parse::<usize>().unwrap() - 20;
        }
    }
}

#[test]
fn payload_of_5000_bytes_is_fragmented_both_ways() {
    let lab = Lab::new();
    let wire = lab.gw.tcpdump("host0", "icmp");
    let run = sup(
        &lab.host,
        &["-l", "5000", "-n", "2", "--interval", "100", addrs::REMOTE],
    );
    let frames = wire.stop();
    all_replied(&run, addrs::REMOTE, 5000, 63, 2);
    // 5008 ICMP bytes: 1480 + 1480 + 1480 + 568.
    let lengths = ["1500", "1500", "1500", "588"];
    fragmented(&frames, addrs::HOST, addrs::REMOTE, 2, &lengths);
    fragmented(&frames, addrs::REMOTE, addrs::HOST, 2, &lengths);
}

#[test]
fn payload_of_65500_bytes_is_fragmented_both_ways() {
    let lab = Lab::new();
    for target in [addrs::REMOTE, addrs::GW] {
        let run = sup(
            &lab.host,
            &[
                "-l",
                "65500",
                "-n",
                "2",
                "-w",
                "1000",
                "--interval",
                "100",
                target,
            ],
        );
        let ttl = if target == addrs::GW { 64 } else { 63 };
        all_replied(&run, target, 65500, ttl, 2);
    }
}

// ---------------------------------------------------------------------------
// Options on the wire

#[test]
fn ttl_option_sets_the_ttl_on_the_wire() {
    let lab = Lab::new();
    let wire = lab.gw.tcpdump("host0", "icmp");
    let run = sup(
        &lab.host,
        &["-i", "64", "-n", "2", "--interval", "100", addrs::REMOTE],
    );
    all_replied(&run, addrs::REMOTE, 32, 63, 2);
    // One router on the way: TTL 2 is just enough.
    let run = sup(
        &lab.host,
        &["-i", "2", "-n", "1", "--interval", "100", addrs::REMOTE],
    );
    let frames = wire.stop();
    all_replied(&run, addrs::REMOTE, 32, 63, 1);
    let ttls: Vec<_> = requests_to(&frames, addrs::REMOTE)
        .iter()
        .map(|r| field(r, "ttl "))
        .collect();
    assert_eq!(ttls, [Some("64"), Some("64"), Some("2")], "{frames:#?}");
}

#[test]
fn ttl_1_expires_at_the_gateway() {
    let lab = Lab::new();
    let run = sup(
        &lab.host,
        &["-i", "1", "-n", "2", "--interval", "100", addrs::REMOTE],
    );
    all_failed(
        &run,
        addrs::REMOTE,
        "Reply from 10.77.1.1: TTL expired in transit.",
        2,
    );
}

#[test]
fn dont_fragment_is_set_on_the_wire() {
    let lab = Lab::new();
    let wire = lab.gw.tcpdump("host0", "icmp");
    let run = sup(
        &lab.host,
        &[
            "-f",
            "-l",
            "1472",
            "-n",
            "2",
            "--interval",
            "100",
            addrs::REMOTE,
        ],
    );
    let frames = wire.stop();
    all_replied(&run, addrs::REMOTE, 1472, 63, 2);
    let requests = requests_to(&frames, addrs::REMOTE);
    assert_eq!(requests.len(), 2, "{frames:#?}");
    for r in requests {
        assert_eq!(field(r, "flags "), Some("[DF]"), "{r}");
    }
}

#[test]
fn dont_fragment_too_big_is_refused_without_sending() {
    let lab = Lab::new();
    let wire = lab.gw.tcpdump("host0", "icmp");
    for size in ["5000", "1473"] {
        let run = sup(
            &lab.host,
            &[
                "-f",
                "-l",
                size,
                "-n",
                "2",
                "--interval",
                "100",
                addrs::REMOTE,
            ],
        );
        let (events, stats) =
            text_output(&run, addrs::REMOTE, addrs::REMOTE, size.parse().unwrap());
        assert_eq!(
            events,
            ["Packet needs to be fragmented but DF set."; 2],
            "{}",
            run.show()
        );
        assert_eq!((stats.sent, stats.received, stats.lost), (2, 0, 2));
        assert!(stats.rtt.is_none());
        run.expect_code(1);
    }
    let frames = wire.stop();
    assert!(
        frames_between(&frames, addrs::HOST, addrs::REMOTE).is_empty(),
        "nothing sent: {frames:#?}"
    );
}

#[test]
fn interval_spaces_the_requests() {
    let lab = Lab::new();
    let wire = lab.gw.tcpdump("host0", "icmp");
    let run = sup(&lab.host, &["-n", "5", "--interval", "100", addrs::REMOTE]);
    let frames = wire.stop();
    all_replied(&run, addrs::REMOTE, 32, 63, 5);
    assert!(
        run.elapsed < Duration::from_millis(2500),
        "5 requests 100 ms apart\n{}",
        run.show()
    );
    let at: Vec<f64> = requests_to(&frames, addrs::REMOTE)
        .iter()
        .map(|r| timestamp(r))
        .collect();
    assert_eq!(at.len(), 5, "{frames:#?}");
    for pair in at.windows(2) {
        let gap = (pair[1] - pair[0]).rem_euclid(86_400.0); // past midnight
        assert!(
            (0.095..0.5).contains(&gap),
            "{gap} s between requests: {at:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// Failures

#[test]
fn timeouts_when_the_remote_ignores_echoes() {
    let lab = Lab::new();
    lab.remote.sh("sysctl -qw net.ipv4.icmp_echo_ignore_all=1");
    let wire = lab.gw.tcpdump("host0", "icmp");
    let run = sup(
        &lab.host,
        &["-n", "3", "-w", "300", "--interval", "100", addrs::REMOTE],
    );
    let frames = wire.stop();
    all_failed(&run, addrs::REMOTE, "Request timed out.", 3);
    // -w bounds each wait: 3 x 300 ms (the default 4 s would take 12 s).
    assert!(
        run.elapsed >= Duration::from_millis(850) && run.elapsed < Duration::from_secs(4),
        "-w 300, three times\n{}",
        run.show()
    );
    assert_eq!(requests_to(&frames, addrs::REMOTE).len(), 3, "{frames:#?}");
    assert!(frames_between(&frames, addrs::REMOTE, addrs::HOST).is_empty());
}

#[test]
fn partial_loss_still_exits_0() {
    let lab = Lab::new();
    // The first reply makes the remote deaf: seq 2 and 3 time out.
    let started = Instant::now();
    let mut child = KillOnDrop(Some(
        lab.host
            .command(BOUND, &sup_binary().to_string_lossy())
            .args(["-n", "3", "-w", "200", "--interval", "600", addrs::REMOTE])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sup"),
    ));
    let stdout = child.child().stdout.take().expect("stdout");
    let mut seen = String::new();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        seen.push_str(&line);
        seen.push('\n');
        if line.starts_with("Reply from ") {
            lab.remote.sh("sysctl -qw net.ipv4.icmp_echo_ignore_all=1");
        }
    }
    let mut run = child.wait(BOUND, "sup -n 3 -w 200 --interval 600".into(), started);
    run.stdout = seen;
    let (events, stats) = text_output(&run, addrs::REMOTE, addrs::REMOTE, 32);
    assert!(parse_reply(events[0]).is_some(), "{}", run.show());
    assert_eq!(events[1..], ["Request timed out."; 2], "{}", run.show());
    // ping.exe rounds the loss down: 2 of 3 is 66%.
    assert_eq!(
        (stats.sent, stats.received, stats.lost, stats.loss_percent),
        (3, 1, 2, 66),
        "{}",
        run.show()
    );
    assert!(stats.rtt.is_some());
    run.expect_code(0);
}

#[test]
fn unrouted_net_is_unreachable_from_the_gateway() {
    let lab = Lab::new();
    let run = sup(
        &lab.host,
        &[
            "-n",
            "2",
            "-w",
            "1000",
            "--interval",
            "100",
            addrs::UNROUTED,
        ],
    );
    all_failed(
        &run,
        addrs::UNROUTED,
        "Reply from 10.77.1.1: Destination net unreachable.",
        2,
    );
}

#[test]
fn arp_failure_is_host_unreachable_from_our_own_address() {
    let lab = Lab::new();
    let wire = lab.gw.tcpdump("host0", "arp or icmp");
    let run = sup(&lab.host, &["-n", "1", addrs::ABSENT]);
    let frames = wire.stop();
    all_failed(
        &run,
        addrs::ABSENT,
        "Reply from 10.77.1.2: Destination host unreachable.",
        1,
    );
    let asked = frames
        .iter()
        .filter(|f| {
            f.contains(&format!(
                "Request who-has {} tell {}",
                addrs::ABSENT,
                addrs::HOST
            ))
        })
        .count();
    assert!(asked >= 1, "our ARP requests on the wire: {frames:#?}");
    assert!(
        frames_between(&frames, addrs::HOST, addrs::ABSENT).is_empty(),
        "no echo request without a MAC: {frames:#?}"
    );
}

// ---------------------------------------------------------------------------
// Names

#[test]
fn host_name_from_the_hosts_file() {
    let lab = Lab::new();
    let _names = lab_names(&lab);
    let run = sup(&lab.host, &["-n", "2", "--interval", "100", "remote.lab"]);
    let (events, stats) = text_output(&run, "remote.lab [10.77.2.2]", addrs::REMOTE, 32);
    assert_eq!(events.len(), 2, "{}", run.show());
    for line in events {
        assert_eq!(
            parse_reply(line).map(|r| (r.from, r.bytes, r.ttl)),
            Some((addrs::REMOTE.to_string(), 32, 63)),
            "{}",
            run.show()
        );
    }
    assert_eq!((stats.sent, stats.received), (2, 2));
    run.expect_code(0);
    let run = sup(&lab.host, &["--json", "-n", "1", "remote.lab"]);
    let start = json_lines(&run).remove(0);
    assert_eq!(start["name"], "remote.lab", "{}", run.show());
    assert_eq!(start["target"], addrs::REMOTE, "{}", run.show());
}

#[test]
fn unknown_host_name_exits_2() {
    let lab = Lab::new();
    let _names = lab_names(&lab);
    // `ip netns exec` puts our files in place of /etc's.
    let seen = lab.host.sh("cat /etc/resolv.conf /etc/nsswitch.conf");
    assert!(
        seen.starts_with("nameserver 127.0.0.1\n") && seen.contains("hosts: files dns\n"),
        "{seen}"
    );
    let dns = lab.gw.tcpdump("host0", "port 53");
    let message =
        "Ping request could not find host nosuch.lab. Please check the name and try again.";
    let run = sup(&lab.host, &["nosuch.lab"]);
    run.expect_code(2);
    assert_eq!(run.stdout, "", "{}", run.show());
    assert_eq!(run.stderr, format!("{message}\n"), "{}", run.show());
    assert!(run.elapsed < Duration::from_secs(5), "{}", run.show());
    let run = sup(&lab.host, &["--json", "nosuch.lab"]);
    run.expect_code(2);
    let lines = json_lines(&run);
    assert_eq!(lines.len(), 1, "{}", run.show());
    assert_eq!(
        lines[0],
        serde_json::json!({"type": "fatal", "message": message})
    );
    assert_eq!(run.stderr, format!("{message}\n"), "{}", run.show());
    assert!(
        dns.stop().is_empty(),
        "no DNS query left the host namespace"
    );
}

// ---------------------------------------------------------------------------
// Ctrl+C

/// Runs `sup -t <extra> <target>` and sends it SIGINT (Ctrl+C) after 1.1 s;
/// returns the run and how long sup took to exit after the signal.
fn interrupted(lab: &Lab, extra: &[&str], target: &str) -> (Run, Duration) {
    let mut args = vec!["-t"];
    args.extend_from_slice(extra);
    args.push(target);
    let started = Instant::now();
    let child = spawn_sup(&lab.host, &args);
    std::thread::sleep(Duration::from_millis(1100));
    child.interrupt();
    let signalled = Instant::now();
    let run = child.wait(
        Duration::from_secs(10),
        format!("sup {} (SIGINT after 1.1 s)", args.join(" ")),
        started,
    );
    (run, signalled.elapsed())
}

#[test]
fn ctrl_c_prints_the_statistics() {
    let lab = Lab::new();
    let (run, _) = interrupted(&lab, &["--interval", "100"], addrs::REMOTE);
    let (events, stats) = text_output(&run, addrs::REMOTE, addrs::REMOTE, 32);
    let show = run.show();
    assert!(stats.control_c, "Control-C last\n{show}");
    assert!(stats.sent >= 5, "{show}");
    // The last request may be cut short between sending and its reply.
    assert!(stats.received + 1 >= stats.sent, "{show}");
    assert_eq!(events.len() as u32, stats.received, "{show}");
    for line in events {
        assert!(parse_reply(line).is_some(), "{line}\n{show}");
    }
    run.expect_code(0);
}

#[test]
fn ctrl_c_in_json_marks_the_summary_interrupted() {
    let lab = Lab::new();
    let (run, _) = interrupted(&lab, &["--interval", "100", "--json"], addrs::REMOTE);
    let lines = json_lines(&run);
    let summary = lines.last().expect("summary");
    check_keys(summary, SUMMARY_KEYS);
    assert_eq!(summary["interrupted"], true, "{}", run.show());
    assert!(summary["sent"].as_u64().unwrap() >= 5, "{}", run.show());
    run.expect_code(0);
}

#[test]
fn ctrl_c_during_arp_exits_promptly() {
    let lab = Lab::new();
    let (run, exit_after) = interrupted(&lab, &[], addrs::ABSENT);
    let (_, stats) = text_output(&run, addrs::ABSENT, addrs::ABSENT, 32);
    assert!(stats.control_c, "{}", run.show());
    assert_eq!(stats.received, 0, "{}", run.show());
    run.expect_code(1);
    assert!(
        exit_after < Duration::from_millis(500),
        "exited {exit_after:.2?} after SIGINT\n{}",
        run.show()
    );
}

// ---------------------------------------------------------------------------
// A closed stdout

/// Runs sup with `args`, reads `keep` lines of its stdout and closes it.
fn closed_stdout(lab: &Lab, args: &[&str], keep: usize) -> Run {
    let started = Instant::now();
    let mut child = KillOnDrop(Some(
        lab.host
            .command(BOUND, &sup_binary().to_string_lossy())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sup"),
    ));
    let stdout = child.child().stdout.take().expect("stdout");
    let kept: Vec<String> = BufReader::new(stdout)
        .lines()
        .take(keep)
        .map_while(Result::ok)
        .collect();
    // The reader (and with it the pipe's only read end) is gone here, as
    // after `sup ... | head -n 2`.
    let mut run = child.wait(
        BOUND,
        format!("sup {} | head -n {keep}", args.join(" ")),
        started,
    );
    run.stdout = kept.join("\n") + "\n";
    run
}

#[test]
fn closed_stdout_is_not_a_panic() {
    let lab = Lab::new();
    for (args, keep) in [
        (&["-n", "4", "--interval", "100", addrs::REMOTE][..], 2),
        (
            &["--json", "-n", "4", "--interval", "100", addrs::REMOTE][..],
            1,
        ),
    ] {
        // `finish` fails on a panic message or an exit code other than 0, 1, 2.
        let run = closed_stdout(&lab, args, keep);
        assert!(run.elapsed < Duration::from_secs(5), "{}", run.show());
    }
}

// ---------------------------------------------------------------------------
// Duplicate, damaged and late replies, from a responder built on ersatz

/// How the responder in the remote answers echo request `seq` (per run):
/// 1 twice, 2 with a wrong payload only, 3 after [`LATE`], 4 once.
const LATE: Duration = Duration::from_millis(300);
/// Env var that makes the inner run of [`odd_replies_are_reported_not_counted`]
/// the responder; its value is how many requests to answer before exiting.
const RESPONDER_ENV: &str = "SUP_E2E_RESPONDER";

/// The inner half: answers echo requests from the host in the remote
/// namespace itself (the kernel there ignores them), oddly on purpose.
fn respond_oddly(requests: usize) {
    use ersatz::{icmp, ipv4, Interface};
    let interface = Interface::open_default().expect("open the remote's NIC");
    let host: ipv4::Addr = addrs::HOST.parse().expect("host address");
    let inbox = interface.listen_ipv4(move |r| match &r.packet.payload {
        ipv4::Payload::ICMP(icmp::Packet {
            header: icmp::Header::EchoRequest(echo),
            payload,
            ..
        }) if r.packet.src == host => Some((*echo, payload.to_vec())),
        _ => None,
    });
    println!("RESPONDER READY");
    let reply = |echo: icmp::Echo, payload: &[u8]| {
        interface
            .send_ipv4(echo.into_echo_reply(payload).into_ipv4_payload(), host)
            .expect("send a reply");
    };
    for _ in 0..requests {
        let (echo, payload) = inbox
            .wait(Duration::from_secs(20))
            .expect("an echo request within 20 s");
        match echo.sequence_number {
            1 => {
                reply(echo, &payload);
                reply(echo, &payload);
            }
            2 => {
                let mut wrong = payload.clone();
                wrong[0] ^= 0x20;
                reply(echo, &wrong);
            }
            3 => {
                std::thread::sleep(LATE);
                reply(echo, &payload);
            }
            _ => reply(echo, &payload),
        }
        println!("ANSWERED {}", echo.sequence_number);
    }
}

/// Starts the responder in the remote namespace and waits until it listens.
fn start_responder(lab: &Lab, requests: usize) -> (KillOnDrop, std::thread::JoinHandle<String>) {
    ersatz_e2e::sup::start_inside(
        &lab.remote,
        BOUND,
        "odd_replies_are_reported_not_counted",
        &[(RESPONDER_ENV, requests.to_string())],
        "RESPONDER READY",
    )
}

#[test]
fn odd_replies_are_reported_not_counted() {
    if ersatz_e2e::inside() {
        let requests = std::env::var(RESPONDER_ENV).expect("responder count");
        respond_oddly(requests.parse().expect("a count"));
        return;
    }
    let lab = Lab::new();
    lab.remote.sh("sysctl -qw net.ipv4.icmp_echo_ignore_all=1");
    let (responder, answered) = start_responder(&lab, 8);
    let args = ["-n", "4", "-w", "150", "--interval", "450", addrs::REMOTE];

    let run = sup(&lab.host, &[&["-v"][..], &args].concat());
    let show = run.show();
    let (events, stats) = text_output(&run, addrs::REMOTE, addrs::REMOTE, 32);
    assert_eq!(events.len(), 6, "{show}");
    // The responder's replies leave with TTL 128 and cross the gateway.
    let reply = parse_reply(events[0]).unwrap_or_else(|| panic!("{show}"));
    assert_eq!(
        (reply.from.as_str(), reply.bytes, reply.ttl),
        (addrs::REMOTE, 32, 127)
    );
    let dup = events[1]
        .strip_suffix(" (DUP!)")
        .and_then(parse_reply)
        .unwrap_or_else(|| panic!("a (DUP!) line second\n{show}"));
    assert_eq!((dup.from.as_str(), dup.ttl), (addrs::REMOTE, 127));
    assert_eq!(
        events[2..5],
        [
            "Damaged reply from 10.77.2.2: payload differs from the request, not counted.",
            "Request timed out.",
            "Request timed out.",
        ],
        "{show}"
    );
    // The late reply to seq 3 shows on stderr with -v only.
    assert!(
        run.stderr
            .lines()
            .any(|l| l == "late reply seq=3 from 10.77.2.2 after the timeout"),
        "{show}"
    );
    assert!(parse_reply(events[5]).is_some(), "{show}");
    assert_eq!(
        (stats.sent, stats.received, stats.lost, stats.loss_percent),
        (4, 2, 2, 50),
        "duplicates, damaged and late replies are not counted\n{show}"
    );
    run.expect_code(0);

    let run = sup(&lab.host, &[&["--json"][..], &args].concat());
    let lines = json_lines(&run);
    let kinds: Vec<(&str, u64)> = lines[1..lines.len() - 1]
        .iter()
        .map(|v| (v["type"].as_str().unwrap(), v["seq"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("reply", 1),
            ("duplicate", 1),
            ("damaged", 2),
            ("timeout", 2),
            ("timeout", 3),
            ("late", 3),
            ("reply", 4)
        ],
        "{}",
        run.show()
    );
    for v in &lines[1..lines.len() - 1] {
        match v["type"].as_str().unwrap() {
            "reply" | "duplicate" | "late" => check_keys(v, REPLY_KEYS),
            "damaged" => {
                check_keys(v, &["type", "seq", "from", "reason"]);
                assert_eq!(v["reason"], "payload differs from the request");
            }
            _ => check_keys(v, TIMEOUT_KEYS),
        }
    }
    let summary = lines.last().unwrap();
    assert_eq!(
        (&summary["received"], &summary["lost"]),
        (&2.into(), &2.into())
    );
    run.expect_code(0);

    let out = responder.wait(BOUND, "responder".into(), Instant::now());
    let answered = answered.join().expect("responder output");
    assert!(answered.contains("ANSWERED 4"), "responder:\n{answered}");
    assert_eq!(out.code, 0, "responder:\n{answered}");
}

// ---------------------------------------------------------------------------
// --json

const START_KEYS: &[&str] = &[
    "type",
    "target",
    "name",
    "bytes",
    "ttl",
    "identifier",
    "nic",
    "source",
];
const REPLY_KEYS: &[&str] = &["type", "seq", "from", "bytes", "time_ms", "ttl"];
const TIMEOUT_KEYS: &[&str] = &["type", "seq"];
const UNREACHABLE_KEYS: &[&str] = &["type", "seq", "from", "code", "message"];
const TTL_EXPIRED_KEYS: &[&str] = &["type", "seq", "from", "message"];
const ERROR_KEYS: &[&str] = &["type", "seq", "message"];
const SUMMARY_KEYS: &[&str] = &[
    "type",
    "target",
    "sent",
    "received",
    "lost",
    "loss_percent",
    "min_ms",
    "max_ms",
    "avg_ms",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "jitter_ms",
    "interrupted",
];
const FATAL_KEYS: &[&str] = &["type", "message"];

/// Every stdout line as JSON (each must parse).
fn json_lines(run: &Run) -> Vec<Value> {
    run.lines()
        .into_iter()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}\n{}", run.show()))
        })
        .collect()
}

fn check_keys(v: &Value, keys: &[&str]) {
    let have: BTreeSet<&str> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect();
    let want: BTreeSet<&str> = keys.iter().copied().collect();
    assert_eq!(have, want, "fields of {v}");
}

/// A run's JSON: a start object, events of `kind`, a summary; returns the events.
fn json_run(run: &Run, target: &str, kind: &str, keys: &[&str], count: usize) -> Vec<Value> {
    let lines = json_lines(run);
    let show = run.show();
    assert_eq!(
        lines.len(),
        count + 2,
        "start, {count} x {kind}, summary\n{show}"
    );
    let start = &lines[0];
    check_keys(start, START_KEYS);
    assert_eq!(start["type"], "start");
    assert_eq!(start["target"], target);
    assert_eq!(start["source"], addrs::HOST);
    assert_eq!(start["nic"], "lab0");
    assert!(start["identifier"].is_u64());
    let events = lines[1..=count].to_vec();
    for (i, e) in events.iter().enumerate() {
        check_keys(e, keys);
        assert_eq!(e["type"], kind, "{show}");
        assert_eq!(e["seq"], i + 1, "{show}");
    }
    let summary = &lines[count + 1];
    check_keys(summary, SUMMARY_KEYS);
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["target"], target);
    assert_eq!(summary["sent"], count);
    assert_eq!(summary["interrupted"], false);
    assert_eq!(run.stderr, "", "{show}");
    events
}

/// A summary of `count` requests that all failed.
fn all_lost(run: &Run, count: usize) {
    let summary = json_lines(run).pop().expect("summary");
    assert_eq!(
        summary,
        serde_json::json!({"type": "summary", "target": summary["target"], "sent": count,
            "received": 0, "lost": count, "loss_percent": 100, "min_ms": null,
            "max_ms": null, "avg_ms": null, "p50_ms": null, "p90_ms": null, "p99_ms": null,
            "jitter_ms": null, "interrupted": false})
    );
    run.expect_code(1);
}

#[test]
fn json_lines_for_every_outcome() {
    let lab = Lab::new();
    let remote = addrs::REMOTE;
    std::thread::scope(|scope| {
        // The ARP failure takes 3 s: alongside the rest.
        let arp = scope.spawn(|| sup(&lab.host, &["--json", "-n", "1", addrs::ABSENT]));

        let run = sup(
            &lab.host,
            &["--json", "-n", "2", "--interval", "100", remote],
        );
        let start = &json_lines(&run)[0];
        assert_eq!(
            (&start["name"], &start["bytes"], &start["ttl"]),
            (&Value::Null, &Value::from(32), &Value::from(128))
        );
        for r in json_run(&run, remote, "reply", REPLY_KEYS, 2) {
            assert_eq!(
                (&r["from"], &r["bytes"], &r["ttl"]),
                (&remote.into(), &32.into(), &63.into())
            );
            assert!(r["time_ms"].as_f64().is_some_and(|t| t > 0.0), "{r}");
        }
        let summary = json_lines(&run).pop().unwrap();
        let (min, max, avg) = (
            summary["min_ms"].as_f64().unwrap(),
            summary["max_ms"].as_f64().unwrap(),
            summary["avg_ms"].as_f64().unwrap(),
        );
        assert!(min <= avg && avg <= max, "{summary}");
        assert_eq!(
            (
                &summary["received"],
                &summary["lost"],
                &summary["loss_percent"]
            ),
            (&2.into(), &0.into(), &0.into())
        );
        run.expect_code(0);

        let run = sup(&lab.host, &["--json", "-n", "1", "-i", "1", remote]);
        for e in json_run(&run, remote, "ttl_expired", TTL_EXPIRED_KEYS, 1) {
            assert_eq!(e["from"], addrs::GW);
            assert_eq!(e["message"], "TTL expired in transit.");
        }
        all_lost(&run, 1);

        let run = sup(&lab.host, &["--json", "-n", "1", addrs::UNROUTED]);
        for e in json_run(&run, addrs::UNROUTED, "unreachable", UNREACHABLE_KEYS, 1) {
            assert_eq!(e["from"], addrs::GW);
            assert_eq!(e["code"], 0);
            assert_eq!(e["message"], "Destination net unreachable.");
        }
        all_lost(&run, 1);

        let run = sup(
            &lab.host,
            &["--json", "-n", "1", "-f", "-l", "5000", remote],
        );
        for e in json_run(&run, remote, "error", ERROR_KEYS, 1) {
            assert_eq!(e["message"], "Packet needs to be fragmented but DF set.");
        }
        all_lost(&run, 1);

        lab.remote.sh("sysctl -qw net.ipv4.icmp_echo_ignore_all=1");
        let run = sup(
            &lab.host,
            &[
                "--json",
                "-n",
                "2",
                "-w",
                "200",
                "--interval",
                "100",
                remote,
            ],
        );
        json_run(&run, remote, "timeout", TIMEOUT_KEYS, 2);
        all_lost(&run, 2);

        // Fatal: one object on stdout, the sentence on stderr, exit 2. Our own
        // address needs no name lookup.
        let run = sup(&lab.host, &["--json", addrs::HOST]);
        let lines = json_lines(&run);
        assert_eq!(lines.len(), 1, "{}", run.show());
        check_keys(&lines[0], FATAL_KEYS);
        assert_eq!(lines[0]["type"], "fatal");
        let message = lines[0]["message"].as_str().unwrap();
        assert!(message.contains(addrs::HOST), "{message}");
        assert_eq!(run.stderr, format!("{message}\n"), "{}", run.show());
        run.expect_code(2);

        let run = arp.join().expect("the ARP run");
        for e in json_run(&run, addrs::ABSENT, "unreachable", UNREACHABLE_KEYS, 1) {
            assert_eq!(e["from"], addrs::HOST);
            assert_eq!(e["code"], 1);
            assert_eq!(e["message"], "Destination host unreachable.");
        }
        all_lost(&run, 1);
    });
}

// ---------------------------------------------------------------------------
// -v

/// The hex dump following the stderr line `heading` (`  0000  02 e5 ...`).
fn hex_dump(stderr: &str, heading: &str) -> Vec<u8> {
    let mut lines = stderr.lines().skip_while(|l| *l != heading);
    assert_eq!(lines.next(), Some(heading), "no {heading:?} in:\n{stderr}");
    let mut bytes = Vec::new();
    for (i, line) in lines.take_while(|l| l.starts_with("  ")).enumerate() {
        let mut words = line.split_whitespace();
        assert_eq!(words.next(), Some(&*format!("{:04x}", i * 16)), "{line}");
        bytes.extend(words.map(|w| u8::from_str_radix(w, 16).expect("hex byte")));
    }
    bytes
}

fn mac_text(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([bytes[at], bytes[at + 1]])
}

#[test]
fn verbose_shows_nic_route_arp_and_frames() {
    let lab = Lab::new();
    let wire = lab.gw.tcpdump("host0", "icmp");
    let run = sup(&lab.host, &["-v", "-n", "1", addrs::REMOTE]);
    let frames = wire.stop();
    let stderr = &run.stderr;
    let show = run.show();
    all_replied_verbose(&run);
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        lines[0].starts_with("NIC: lab0 ")
            && lines[0].contains("10.77.1.2")
            && lines[0].contains("02-E5-A7-01-00-02"),
        "{show}"
    );
    assert_eq!(lines[1], "route: 10.77.2.2 via 10.77.1.1", "{show}");
    // What the capture does (as --diagnose says it), then our ARP. A plain
    // run captures through ersatz's own packet sockets (no libpcap, no
    // ring): each frame at once, the kernel's nanosecond stamps, no read
    // timeout (an eventfd wakes the reader for a stop).
    assert!(
        lines[2].starts_with("capture: Linux packet sockets (kernel "),
        "{show}"
    );
    assert_eq!(
        lines[3],
        "capture: immediate mode on, nanosecond timestamps (host), no read timeout (a stop wakes the reader)",
        "{show}"
    );
    assert_eq!(
        lines[4], "next hop 10.77.1.1 is at 02-E5-A7-01-00-01 (our ARP)",
        "{show}"
    );
    assert_eq!(
        lines[5], "own frames: seen by the capture (RTTs run from the wire time of each request)",
        "{show}"
    );

    // The dumps are the frames tcpdump saw at the gateway.
    let sent = hex_dump(stderr, "sent seq=1 (74 bytes):");
    let received = hex_dump(stderr, "received (74 bytes):");
    assert_eq!((sent.len(), received.len()), (74, 74), "{show}");
    assert!(
        lines[7].starts_with("  0000  02 e5 a7 01 00 01 02 e5 a7 01 00 02 08 00 45"),
        "the first dump line: gateway MAC, ours, IPv4\n{show}"
    );
    let request = requests_to(&frames, addrs::REMOTE);
    let reply = frames_between(&frames, addrs::REMOTE, addrs::HOST);
    assert_eq!((request.len(), reply.len()), (1, 1), "{frames:#?}");
    for (dump, frame, ttl) in [(&sent, request[0], "128"), (&received, reply[0], "63")] {
        let macs = format!("{} > {}", mac_text(&dump[6..12]), mac_text(&dump[0..6]));
        assert!(frame.contains(&macs), "{macs} in {frame}");
        assert_eq!(field(frame, "ttl "), Some(ttl), "{frame}");
        assert_eq!(dump[22].to_string(), ttl);
        assert_eq!(
            field(frame, "id "),
            Some(&*u16_at(dump, 18).to_string()),
            "{frame}"
        );
        let echo = format!(", id {}, seq 1, length 40", u16_at(dump, 38));
        assert!(frame.contains(&echo), "{echo} in {frame}");
        assert_eq!(&dump[42..], b"abcdefghijklmnopqrstuvwabcdefghi");
    }
    assert_eq!(mac_text(&sent[..6]), GW_MAC);
    assert_eq!(mac_text(&received[..6]), HOST_MAC);
}

/// `-v` leaves stdout as without it.
fn all_replied_verbose(run: &Run) {
    let (events, stats) = text_output(run, addrs::REMOTE, addrs::REMOTE, 32);
    assert_eq!(events.len(), 1, "{}", run.show());
    assert!(parse_reply(events[0]).is_some(), "{}", run.show());
    assert_eq!((stats.sent, stats.received), (1, 1));
    run.expect_code(0);
}

// ---------------------------------------------------------------------------
// Arguments

#[test]
fn bad_arguments_are_one_clap_error_and_exit_2() {
    let lab = Lab::new();
    let cases: &[(&[&str], &str)] = &[
        (&["-l", "65501", addrs::REMOTE], "65501"),
        (&["-i", "0", addrs::REMOTE], "'0'"),
        (&["-i", "256", addrs::REMOTE], "256"),
        (&["-n", "0", addrs::REMOTE], "'0'"),
        (&["-n", "abc", addrs::REMOTE], "abc"),
        (&["-w", "-1", addrs::REMOTE], "-1"),
        (&["-w", "0", addrs::REMOTE], "'0'"),
        (&["--interval", "0", addrs::REMOTE], "'0'"),
        (&[], "<TARGET>"),
        (&["--bogus", addrs::REMOTE], "--bogus"),
        // (Two targets were refused here until they became a sweep: tests/sweep.rs.)
        (&["-a", "--json", addrs::REMOTE], "--json"),
    ];
    for (args, mentions) in cases {
        let run = sup(&lab.host, args);
        let show = run.show();
        expect_clap_error(&run, mentions);
        assert!(run.stderr.contains("--help"), "{show}");
    }
    let help = sup(&lab.host, &["--help"]);
    help.expect_code(0);
    assert!(help.stdout.contains("Exit codes:"), "{}", help.show());
    let version = sup(&lab.host, &["--version"]);
    version.expect_code(0);
    assert!(version.stdout.starts_with("sup "), "{}", version.show());
}

#[test]
fn negative_timeout_is_a_bad_value_for_w() {
    let lab = Lab::new();
    let run = sup(&lab.host, &["-w", "-1", addrs::REMOTE]);
    run.expect_code(2);
    assert!(
        run.stderr
            .starts_with("error: invalid value '-1' for '--timeout <timeout>'"),
        "{}",
        run.show()
    );
}

// ---------------------------------------------------------------------------
// Next to the kernel's ping

/// (min, avg, max) in ms.
fn summary_ms(times: &[f64]) -> (f64, f64, f64) {
    let min = times.iter().copied().fold(f64::MAX, f64::min);
    let max = times.iter().copied().fold(0.0, f64::max);
    (min, times.iter().sum::<f64>() / times.len() as f64, max)
}

#[test]
fn rtt_next_to_kernel_ping() {
    const COUNT: u32 = 10;
    let lab = Lab::new();
    let mut table = vec![format!(
        "{:<12} {:<6} {:>3} {:>9} {:>9} {:>9}",
        "target", "tool", "n", "min ms", "avg ms", "max ms"
    )];
    for target in [addrs::GW, addrs::REMOTE] {
        let n = COUNT.to_string();
        let run = sup(&lab.host, &["-n", &n, "--interval", "50", target]);
        let ttl = if target == addrs::GW { 64 } else { 63 };
        all_replied(&run, target, 32, ttl, COUNT);
        let ours: Vec<f64> = replies(&run).iter().map(|r| r.ms).collect();

        let out = lab
            .host
            .sh(&format!("ping -n -c {COUNT} -i 0.05 -W 2 -s 32 {target}"));
        let kernel: Vec<f64> = out
            .lines()
            .filter_map(|l| l.split_once(" time=").map(|(_, t)| t))
            .map(|t| t.trim_end_matches(" ms").parse().expect("ping's time"))
            .collect();
        assert_eq!(kernel.len(), COUNT as usize, "kernel ping:\n{out}");

        for (tool, times) in [("sup", &ours), ("ping", &kernel)] {
            let (min, avg, max) = summary_ms(times);
            table.push(format!(
                "{target:<12} {tool:<6} {:>3} {min:>9.3} {avg:>9.3} {max:>9.3}",
                times.len()
            ));
        }
    }
    println!(
        "RTT, sup next to the kernel's ping (32-byte payload):\n{}",
        table.join("\n")
    );
}

#[test]
fn broadcast_multicast_and_unspecified_targets_are_refused() {
    let lab = Lab::new();
    let wire = lab.gw.tcpdump("host0", "icmp");
    for (target, kind) in [
        ("255.255.255.255", "broadcast"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),
    ] {
        let run = sup(&lab.host, &["-n", "1", target]);
        run.expect_code(2);
        assert_eq!(run.stdout, "", "{}", run.show());
        assert_eq!(
            run.stderr,
            format!("sup pings one host: {target} is a {kind} address\n"),
            "{}",
            run.show()
        );
    }
    assert!(wire.stop().is_empty(), "nothing was sent");
}

#[test]
fn histogram_percentiles_and_jitter() {
    let lab = Lab::new();
    let run = sup(
        &lab.host,
        &["-n", "30", "--interval", "10", "--histogram", addrs::GW],
    );
    run.expect_code(0);
    let lines = run.lines();
    let at = lines
        .iter()
        .position(|l| l.starts_with("Percentiles: "))
        .unwrap_or_else(|| panic!("{}", run.show()));
    // Right after the statistics block.
    assert!(
        lines[at - 1].starts_with("    Minimum = "),
        "{}",
        run.show()
    );
    let stats = replies(&run);
    let (min, max) = (
        stats.iter().map(|r| r.ms).fold(f64::MAX, f64::min),
        stats.iter().map(|r| r.ms).fold(0.0, f64::max),
    );
    let p: Vec<f64> = lines[at]
        .trim_start_matches("Percentiles: ")
        .split(", ")
        .map(|part| parse_ms(part.split(" = ").nth(1).unwrap(), lines[at]))
        .collect();
    assert_eq!(p.len(), 3, "{}", lines[at]);
    // Within the replies' range (times are printed rounded) and in order.
    assert!(p[0] <= p[1] && p[1] <= p[2], "{}", lines[at]);
    assert!(
        p[0] >= min - 0.001 && p[2] <= max + 0.001,
        "{} ({min}..{max})",
        lines[at]
    );
    assert!(
        lines[at + 1].starts_with("Jitter (RFC 3550): "),
        "{}",
        run.show()
    );
    assert_eq!(lines[at + 2], "Round trip times in milli-seconds:");
    let rows: Vec<&&str> = lines[at + 3..]
        .iter()
        .take_while(|l| l.starts_with("  "))
        .collect();
    assert!(!rows.is_empty() && rows.len() <= 12, "{}", run.show());
    let counted: u64 = rows
        .iter()
        .map(|r| r.split_whitespace().last().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(counted, 30, "{}", run.show());
    assert!(
        lines.iter().all(|l| l.chars().count() <= 80),
        "{}",
        run.show()
    );
    // JSON always has the figures.
    let run = sup(
        &lab.host,
        &["-n", "5", "--interval", "10", "--json", addrs::GW],
    );
    let summary = json_lines(&run).pop().unwrap();
    for key in ["p50_ms", "p90_ms", "p99_ms", "jitter_ms"] {
        assert!(
            summary[key].as_f64().is_some_and(|v| v > 0.0),
            "{key}: {summary}"
        );
    }
}

// ---------------------------------------------------------------------------
// --diagnose

/// `--diagnose` in the lab: what `ip` says about the NIC and route, the
/// gateway's MAC from our ARP, immediate mode and nanosecond timestamps
/// (Linux libpcap), our own frames seen; exit 0. Nothing but ARP is sent.
#[test]
fn diagnose_reports_the_path_and_says_ready() {
    let lab = Lab::new();
    let wire = lab.gw.tcpdump("host0", "ether src 02:e5:a7:01:00:02");
    let run = sup(&lab.host, &["--diagnose", addrs::REMOTE]);
    let json = sup(&lab.host, &["--diagnose", "--json"]);
    let frames = wire.stop();
    run.expect_code(0);
    let show = run.show();
    let lines = run.lines();
    let index = lab.host.sh("cat /sys/class/net/lab0/ifindex");
    assert_eq!(
        lines[0],
        format!(
            "NIC: lab0 (10.77.1.2/24, 02-E5-A7-01-00-02) [lab0], Ethernet, MTU 1500, device lab0, index {}",
            index.trim()
        ),
        "{show}"
    );
    assert_eq!(lines[1], "route: 10.77.2.2 via 10.77.1.1", "{show}");
    assert!(
        lines[2].starts_with("capture: Linux packet sockets (kernel "),
        "{show}"
    );
    assert_eq!(
        lines[3],
        "capture: immediate mode on, nanosecond timestamps (host), no read timeout (a stop wakes the reader)"
    );
    // libpcap, loaded as the loader resolved it, for the bulk paths.
    assert!(
        lines[4].starts_with("capture library: /") && lines[4].contains("libpcap.so"),
        "{show}"
    );
    assert!(
        lines[5].starts_with("next hop 10.77.1.1 is at 02-E5-A7-01-00-01 (our ARP, time="),
        "{show}"
    );
    assert_eq!(
        lines[6],
        "own frames: seen by the capture (RTTs run from the wire time of each request)"
    );
    assert_eq!(lines[7], "verdict: sup can ping 10.77.2.2 from here");
    assert_eq!(lines.len(), 8, "{show}");

    json.expect_code(0);
    let v: Value = serde_json::from_str(json.stdout.trim()).expect("one JSON object");
    assert_eq!(v["type"], "diagnosis", "{}", json.show());
    assert_eq!(v["target"], Value::Null);
    assert_eq!(v["route"]["destination"], "0.0.0.0");
    assert_eq!(v["route"]["next_hop"], addrs::GW);
    assert_eq!(v["nic"]["mac"], "02-E5-A7-01-00-02");
    assert_eq!(v["nic"]["mtu"], 1500);
    assert_eq!(v["next_hop"]["mac"], "02-E5-A7-01-00-01");
    assert_eq!(v["next_hop"]["requests"], 1);
    assert!(v["next_hop"]["time_ms"].as_f64().is_some_and(|t| t > 0.0));
    assert_eq!(v["capture"]["immediate"], true);
    assert_eq!(v["capture"]["nanosecond_timestamps"], true);
    assert_eq!(v["capture"]["timestamp_type"], "host");
    assert_eq!(v["capture"]["read_timeout_ms"], Value::Null);
    assert_eq!(v["nic"]["kind"], "Ethernet");
    assert!(v["library"]["path"]
        .as_str()
        .is_some_and(|p| p.starts_with('/')));
    assert_eq!(v["library"]["immediate_available"], true);
    assert_eq!(v["own_frames_seen"], true);
    assert_eq!(v["degraded"], serde_json::json!([]));
    assert_eq!(v["failure"], Value::Null);
    assert_eq!(v["verdict"], "ready");

    // One ARP request per run, nothing else from us (the host's kernel
    // may answer the gateway's ARP: not ours).
    let ours: Vec<&String> = frames.iter().filter(|f| !f.contains(" Reply ")).collect();
    assert_eq!(ours.len(), 2, "{frames:#?}");
    for f in ours {
        assert!(
            f.contains("Request who-has 10.77.1.1 tell 10.77.1.2"),
            "{f}"
        );
    }
}

/// A next hop that answers no ARP: named, three requests, exit 1.
#[test]
fn diagnose_names_a_silent_next_hop() {
    let lab = Lab::new();
    let run = sup(&lab.host, &["--diagnose", addrs::ABSENT]);
    run.expect_code(1);
    let show = run.show();
    let lines = run.lines();
    assert!(
        lines.contains(&"next hop 10.77.1.99: no answer to 3 ARP requests"),
        "{show}"
    );
    assert!(
        lines.contains(
            &"degraded: 10.77.1.99 did not answer our ARP requests: every ping through it will fail (Destination host unreachable)"
        ),
        "{show}"
    );
    assert_eq!(
        lines.last(),
        Some(&"verdict: sup runs here, degraded as said above (the route to 10.77.1.99)")
    );
}

/// No route: the stage and the error, exit 2; no NIC opened. With --json,
/// the failure in the object.
#[test]
fn diagnose_without_a_route_cannot_run() {
    let lab = Lab::new();
    lab.host.sh("ip route del default");
    let run = sup(&lab.host, &["--diagnose"]);
    run.expect_code(2);
    let lines = run.lines();
    assert_eq!(lines.len(), 3, "{}", run.show());
    // The library as the loader resolved it (libpcap.so.0.8 is a link).
    assert!(
        lines[0].starts_with("capture: /") && lines[0].contains("/libpcap.so."),
        "{}",
        run.show()
    );
    assert!(lines[1].starts_with("failed at route: "), "{}", run.show());
    assert_eq!(lines[2], "verdict: sup cannot run here");
    let json = sup(&lab.host, &["--diagnose", "--json", addrs::REMOTE]);
    json.expect_code(2);
    let v: Value = serde_json::from_str(json.stdout.trim()).expect("one JSON object");
    assert_eq!(v["failure"]["stage"], "route", "{}", json.show());
    assert_eq!(v["verdict"], "cannot run");
    assert_eq!(v["capture"], Value::Null);
    let two = sup(&lab.host, &["--diagnose", addrs::GW, addrs::REMOTE]);
    two.expect_code(2);
    assert_eq!(two.stderr.trim(), "--diagnose takes one TARGET at most");
}
