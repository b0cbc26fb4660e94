//! The embedder's path end to end: README.md's example, `ersatz/examples/ping.rs`
//! (an [`ersatz::Pinger`]), run in the lab's host namespace. It pings the
//! remote through the gateway and prints the replies; then the remote
//! stops answering (`icmp_echo_ignore_all`) and a forger in the gateway
//! answers each echo request with a reply whose ICMP checksum is right and
//! whose IPv4 header checksum is wrong: the example must print
//! "Request timed out.", never a reply. tcpdump on the host's link shows
//! that the forged replies did reach the host, so the test cannot pass
//! because nothing came.
//!
//! The forger is this test binary again, inside the gateway namespace,
//! with an ersatz [`Interface`] on the bridge (`br0`) that captures the
//! host's echo requests to the remote and sends the forged frames straight
//! to the host's MAC. Nothing leaves the lab: the example runs in the host
//! namespace, the forger in the gateway's, both bounded in time.
//!
//! The example binary is not built by `cargo test` of this crate: run
//! `cargo build -p ersatz --example ping` first (`cargo test --workspace`
//! builds it). A missing or stale binary fails the test with that advice.
//! The second test runs the same example built for Windows under Wine
//! (`cargo build -p ersatz --example ping --target x86_64-pc-windows-gnu`;
//! see tests/wine/README.md).

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use ersatz::{ethernet, icmp, interface, ipv4, netinfo, Interface};
use ersatz_e2e::sup::KillOnDrop;
use ersatz_e2e::{addrs, inside, windows_exe, Lab, Ns, Wine};

/// Bound on every process the test starts.
const BOUND: Duration = Duration::from_secs(30);
/// Tells the inner run to be the forger; its value is how many requests to answer.
const FORGER_ENV: &str = "ERSATZ_E2E_FORGER";
/// The example's pings (it sends four, each waiting up to 1 s).
const PINGS: usize = 4;
/// Where the IPv4 header checksum is in a frame: Ethernet header 14 bytes, then 10.
const IPV4_CHECKSUM: usize = 14 + 10;

/// `target/<profile>/examples/ping`, not older than any of its sources.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("path of the test binary");
    // target/debug/deps/embed-0123abcd -> target/debug/examples/ping
    let examples = exe
        .parent()
        .and_then(Path::parent)
        .expect("a profile directory above the test binary")
        .join("examples");
    let binary = examples.join(format!("ping{}", std::env::consts::EXE_SUFFIX));
    let build = "`cargo build -p ersatz --example ping`";
    let built = std::fs::metadata(&binary)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| panic!("{} is missing: build it with {build}", binary.display()));
    // Cargo's dep-info lists every source it was built from.
    let dep_info = std::fs::read_to_string(examples.join("ping.d")).unwrap_or_default();
    let sources = dep_info
        .lines()
        .next()
        .and_then(|l| l.split_once(": "))
        .map(|(_, list)| {
            list.split_whitespace()
                .map(PathBuf::from)
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    assert!(
        !sources.is_empty(),
        "no sources in {}/ping.d: rebuild with {build}",
        examples.display()
    );
    for source in sources {
        if let Ok(at) = std::fs::metadata(&source).and_then(|m| m.modified()) {
            assert!(
                at <= built,
                "{} is older than {}: rebuild it with {build}",
                binary.display(),
                source.display()
            );
        }
    }
    binary
}

/// Runs the example in `ns` against `target`, bounded.
fn run_example(ns: &Ns, binary: &Path, target: &str) -> (Output, String) {
    let out = ns
        .command(BOUND, &binary.to_string_lossy())
        .arg(target)
        .stdin(Stdio::null())
        .output()
        .expect("run the example");
    let show = show(&format!("ping {target}"), &out);
    (out, show)
}

/// A finished run, for messages.
fn show(what: &str, out: &Output) -> String {
    format!(
        "{what}: {}\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The inner half: the forger, in the gateway namespace. Answers `requests`
/// echo requests from the host to the remote, each with the exact reply
/// the remote would send (TTL 63 after the gateway, ICMP checksum right)
/// but with its IPv4 header checksum spoiled.
fn forge(requests: usize) {
    let host: ipv4::Addr = addrs::HOST.parse().expect("host address");
    let remote: ipv4::Addr = addrs::REMOTE.parse().expect("remote address");
    let route = netinfo::route_to(host).expect("the gateway's route to the host (br0)");
    let mut how = interface::Opening::default();
    // The host's requests go to the remote, not to us: let them through the
    // capture filter and offer them to the listener.
    how.also_for.push(remote);
    how.capture.filter = Some(format!("icmp and dst host {remote}"));
    let interface = Interface::open_route_with(route, &how).expect("open br0 in the gateway");
    let requests_in = interface.listen_ipv4(move |r| match &r.packet.payload {
        ipv4::Payload::ICMP(icmp::Packet {
            header: icmp::Header::EchoRequest(echo),
            payload,
            ..
        }) if r.packet.src == host && r.packet.dst == remote => {
            Some((*echo, payload.to_vec(), r.src_mac))
        }
        _ => None,
    });
    println!("FORGER READY");
    for _ in 0..requests {
        let (echo, payload, host_mac) = requests_in
            .wait(Duration::from_secs(20))
            .expect("an echo request within 20 s");
        let mut packet = echo
            .into_echo_reply(&payload[..])
            .into_ipv4_payload()
            .into_packet(remote, host);
        packet.ttl = 63;
        let mut frame = ethernet::Frame::new(
            host_mac,
            interface.nic().mac,
            packet.into_ethernet_payload(),
        )
        .to_vec()
        .expect("build the reply");
        frame[IPV4_CHECKSUM] ^= 0xff;
        interface.send_frame(&frame).expect("send the forged reply");
        println!("FORGED {}", echo.sequence_number);
    }
}

/// Starts the forger in the gateway and waits until it listens; the
/// thread returns everything it printed.
fn start_forger(lab: &Lab, requests: usize) -> (KillOnDrop, std::thread::JoinHandle<String>) {
    ersatz_e2e::sup::start_inside(
        &lab.gw,
        BOUND,
        "the_example_pings_and_refuses_a_forged_reply",
        &[(FORGER_ENV, requests.to_string())],
        "FORGER READY",
    )
}

/// `Reply from 10.77.2.2: bytes=32 time=0.043ms TTL=63`: the time, if the
/// rest is as expected.
fn reply_time(line: &str) -> Option<f64> {
    let rest = line.strip_prefix(&format!("Reply from {}: bytes=32 time=", addrs::REMOTE))?;
    let ms = rest.strip_suffix("ms TTL=63")?;
    ms.parse().ok()
}

#[test]
fn the_example_pings_and_refuses_a_forged_reply() {
    if inside() {
        let requests = std::env::var(FORGER_ENV).expect("the forger's request count");
        forge(requests.parse().expect("a count"));
        return;
    }
    let binary = example_binary();
    let lab = Lab::new();
    pings_then_refuses_forgeries(&lab, &|| run_example(&lab.host, &binary, addrs::REMOTE));
}

/// The same, with the example built for Windows, under Wine in the host
/// namespace (Wine's IPHLPAPI and `wpcap.dll` over the lab's libpcap).
#[test]
fn the_example_under_wine_pings_and_refuses_a_forged_reply() {
    let exe = windows_exe("examples/ping.exe");
    let lab = Lab::new();
    let wine = Wine::new(&lab.host);
    pings_then_refuses_forgeries(&lab, &|| {
        let out = wine.run(&exe, &[addrs::REMOTE], BOUND);
        let show = show("wine ping.exe", &out);
        (out, show)
    });
}

/// What both tests check: `run` (the example, pinging the remote from the
/// host) prints four replies; then, with the remote silent and the forger
/// answering, four timeouts, while tcpdump on the host's link shows the
/// forged replies arriving.
fn pings_then_refuses_forgeries(lab: &Lab, run: &dyn Fn() -> (Output, String)) {
    // The remote answers: four replies, through the gateway (TTL 63).
    let (out, show) = run();
    assert!(out.status.success(), "{show}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), PINGS, "{show}");
    for line in &lines {
        let ms = reply_time(line).unwrap_or_else(|| panic!("not a reply line: {line}\n{show}"));
        assert!(ms > 0.0 && ms < 1000.0, "{show}");
    }

    // The remote falls silent; the forger answers every request instead.
    lab.remote.sh("sysctl -qw net.ipv4.icmp_echo_ignore_all=1");
    let tcpdump = lab.host.tcpdump("lab0", "icmp");
    let (forger, forged) = start_forger(lab, PINGS);
    let (out, show) = run();
    let frames = tcpdump.stop();
    let forged = {
        let status = forger.wait(BOUND, "forger".into(), std::time::Instant::now());
        status.expect_code(0);
        forged.join().expect("the forger's output")
    };
    lab.remote.sh("sysctl -qw net.ipv4.icmp_echo_ignore_all=0");
    let frames_text = frames.join("\n");
    assert!(out.status.success(), "{show}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        ["Request timed out."; PINGS],
        "a forged reply was taken\n{show}\n--- forger\n{forged}\n--- tcpdump on the host\n{frames_text}"
    );
    assert_eq!(
        forged.lines().filter(|l| l.starts_with("FORGED ")).count(),
        PINGS,
        "{forged}"
    );

    // The forged replies did reach the host's link: echo replies from the
    // remote, their IPv4 header checksum bad, their ICMP checksum good.
    let requests = frames
        .iter()
        .filter(|f| {
            f.contains(&format!(
                "{} > {}: ICMP echo request",
                addrs::HOST,
                addrs::REMOTE
            ))
        })
        .count();
    let replies: Vec<&String> = frames
        .iter()
        .filter(|f| {
            f.contains(&format!(
                "{} > {}: ICMP echo reply",
                addrs::REMOTE,
                addrs::HOST
            ))
        })
        .collect();
    assert_eq!(requests, PINGS, "{frames_text}");
    assert_eq!(replies.len(), PINGS, "{frames_text}");
    for reply in replies {
        assert!(
            reply.contains("bad cksum"),
            "IPv4 checksum not bad: {reply}"
        );
        assert!(
            !reply.contains("wrong icmp cksum"),
            "ICMP checksum not good: {reply}"
        );
    }
}
