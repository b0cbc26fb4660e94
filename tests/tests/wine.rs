//! The Windows builds of ersatz's examples, run under Wine in the namespace
//! lab: Wine's IPHLPAPI reads the host namespace's adapters and routes, and
//! Wine's `wpcap.dll` forwards to the host's libpcap, so the Windows code
//! paths of `ersatz::netinfo` and of the capture backend meet real kernels.
//!
//! The `.exe`s come from `cargo build --workspace --all-targets --target
//! x86_64-pc-windows-gnu` (tests/run-all.sh runs it before `cargo test`);
//! without them, or without Wine, these tests fail saying so. Each test makes
//! its own lab and a fresh Wine prefix inside the lab's host namespace
//! ([`Wine`]); no frame leaves the lab.
//!
//! What Wine cannot tell about real Windows and Npcap (immediate mode,
//! whether Npcap shows our sent frames to the second handle, real adapter
//! GUIDs and names, administrator rights) is listed in tests/wine/README.md.
#![cfg(target_os = "linux")]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

use ersatz_e2e::chain::{self, Chain};
use ersatz_e2e::servers::Servers;
use ersatz_e2e::{addrs, target_dir, windows_exe, Lab, Ns, Wine};

/// Bound on every Windows program run (they take well under a second).
const BOUND: Duration = Duration::from_secs(60);

/// Status, stdout and stderr of a run, for assertion messages.
fn show(out: &Output) -> String {
    format!(
        "{}\n--- stdout:\n{}--- stderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `exe` under Wine and prints how long it took.
fn run(wine: &Wine, exe: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let start = Instant::now();
    let out = wine.run_with_env(&windows_exe(exe), args, env, BOUND);
    println!(
        "wine {exe} {}: {:.2} s, {}",
        args.join(" "),
        start.elapsed().as_secs_f64(),
        out.status
    );
    out
}

/// A lab and a fresh Wine prefix in its host namespace (dropped first).
fn lab_with_wine() -> (Lab, Wine) {
    // Fail before building anything if the programs are missing.
    for exe in [
        "examples/netinfo.exe",
        "examples/list_interfs.exe",
        "sup.exe",
    ] {
        windows_exe(exe);
    }
    let lab = Lab::new();
    let start = Instant::now();
    let wine = Wine::new(&lab.host);
    println!(
        "fresh Wine prefix in {}: {:.2} s",
        lab.host.name,
        start.elapsed().as_secs_f64()
    );
    (lab, wine)
}

/// The `  key:   value` lines of netinfo.exe's output, for the block that
/// starts with `header`.
fn netinfo_block(out: &str, header: &str) -> HashMap<String, String> {
    out.lines()
        .skip_while(|l| !l.starts_with(header))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.trim().split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// What the host namespace's kernel says about the route to `dst`.
struct KernelRoute {
    via: Option<String>,
    dev: String,
    src: String,
}

fn kernel_route(ns: &Ns, dst: &str) -> KernelRoute {
    let out = ns.sh(&format!("ip route get {dst}"));
    let words: Vec<&str> = out.split_whitespace().collect();
    let after = |key: &str| {
        words
            .iter()
            .position(|w| *w == key)
            .map(|i| words[i + 1].to_string())
    };
    KernelRoute {
        via: after("via"),
        dev: after("dev").expect("dev in `ip route get`"),
        src: after("src").expect("src in `ip route get`"),
    }
}

/// A GUID in braces, as Windows names adapters: `{8-4-4-4-12}` hex digits.
fn is_braced_guid(s: &str) -> bool {
    let Some(inner) = s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
        return false;
    };
    let groups: Vec<&str> = inner.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups
            .iter()
            .all(|g| g.chars().all(|c| c.is_ascii_hexdigit()))
}

#[test]
fn netinfo_exe_reports_the_host_namespace() {
    let (lab, wine) = lab_with_wine();
    let host = &lab.host;

    // The kernel's view, in the same namespace.
    let remote = kernel_route(host, addrs::REMOTE);
    let via = remote
        .via
        .clone()
        .expect("the remote is behind the gateway");
    assert_eq!((via.as_str(), remote.dev.as_str()), (addrs::GW, "lab0"));
    let ifindex = host
        .sh(&format!("cat /sys/class/net/{}/ifindex", remote.dev))
        .trim()
        .to_string();
    // `2: lab0    inet 10.77.1.2/24 brd ... scope global lab0 ...`
    let addr_line = host.sh(&format!("ip -o -4 addr show dev {}", remote.dev));
    let words: Vec<&str> = addr_line.split_whitespace().collect();
    let cidr = words[words.iter().position(|w| *w == "inet").unwrap() + 1];
    assert_eq!(cidr, format!("{}/24", remote.src));
    let default_gw = host.sh("ip route show default");
    assert!(
        default_gw.starts_with(&format!("default via {} dev lab0", addrs::GW)),
        "{default_gw}"
    );
    let mac = host.mac(&remote.dev).to_uppercase().replace(':', "-");

    let check_nic = |nic: &HashMap<String, String>, what: &str| {
        assert_eq!(nic["description"], remote.dev, "{what}");
        assert_eq!(nic["index"], ifindex, "{what}");
        assert_eq!(
            nic["address"],
            format!("{cidr} (mask 255.255.255.0)"),
            "{what}"
        );
        assert_eq!(nic["MAC"], mac, "{what}");
        assert_eq!(nic["gateway"], addrs::GW, "{what}");
        assert!(is_braced_guid(&nic["name"]), "{what}: {:?}", nic["name"]);
        assert_eq!(
            nic["device"],
            format!(r"\Device\NPF_{}", nic["name"]),
            "{what}: the pcap device carries the adapter's GUID"
        );
    };

    // The route to the remote: via the gateway.
    let out = run(&wine, "examples/netinfo.exe", &[addrs::REMOTE], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", show(&out));
    let to_remote = netinfo_block(&stdout, &format!("route to {}:", addrs::REMOTE));
    assert_eq!(to_remote["next hop"], via, "{stdout}");
    assert_eq!(to_remote["on-link"], "no", "{stdout}");
    check_nic(&to_remote, &stdout);
    let guid = to_remote["name"].clone();

    // The route to the gateway: on-link.
    let out = run(&wine, "examples/netinfo.exe", &[addrs::GW], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", show(&out));
    let to_gw = netinfo_block(&stdout, &format!("route to {}:", addrs::GW));
    assert_eq!(to_gw["next hop"], addrs::GW, "{stdout}");
    assert_eq!(to_gw["on-link"], "yes", "{stdout}");
    check_nic(&to_gw, &stdout);
    assert_eq!(to_gw["name"], guid);

    // No argument: the default route, and lab0 as the only usable adapter
    // (Wine lists `lo` too, as a loopback adapter, which is not usable).
    let out = run(&wine, "examples/netinfo.exe", &[], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", show(&out));
    let default = netinfo_block(&stdout, "default route:");
    assert_eq!(default["next hop"], addrs::GW, "{stdout}");
    check_nic(&default, &stdout);
    assert_eq!(default["name"], guid);
    assert!(stdout.contains("\n1 usable adapter(s):\n"), "{stdout}");
    check_nic(&netinfo_block(&stdout, "lab0:"), &stdout);

    // Wine's pcap_findalldevs (rawsock's list_interfs example): the same
    // device, described by its Linux name.
    let out = run(&wine, "examples/list_interfs.exe", &[], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        stdout
            .lines()
            .next()
            .is_some_and(|l| l.starts_with("libpcap version") && l.ends_with("(wpcap.dll)")),
        "{stdout}"
    );
    let devices: Vec<&str> = stdout.lines().skip(1).collect();
    assert!(
        devices.contains(&format!(r"\Device\NPF_{guid}, lab0").as_str()),
        "{stdout}"
    );
    assert!(
        devices.iter().all(|d| d.starts_with(r"\Device\NPF_{")),
        "{stdout}"
    );
}

/// The Linux build of sup, next to this test binary (tests/run-all.sh
/// builds it before `cargo test`).
fn linux_sup() -> PathBuf {
    let path = target_dir().join("debug").join("sup");
    assert!(
        path.is_file(),
        "{} is missing: `cargo build -p sup` first",
        path.display()
    );
    path
}

/// sup's output with every number that is a time replaced by `T`, and
/// Windows line ends (if any) made Unix ones: what must be the same on both
/// systems.
fn without_times(stdout: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(stdout).replace("\r\n", "\n");
    text.lines()
        .map(|line| {
            let mut out = String::new();
            let mut rest = line;
            // `time=0.043ms`, `Minimum = 0.041ms`, ...: digits and dots before `ms`.
            while let Some(at) = rest.find("ms") {
                let head = &rest[..at];
                let number_start = head
                    .rfind(|c: char| !(c.is_ascii_digit() || c == '.'))
                    .map_or(0, |i| i + 1);
                if number_start < at {
                    out.push_str(&head[..number_start]);
                    out.push('T');
                } else {
                    out.push_str(head);
                }
                out.push_str("ms");
                rest = &rest[at + 2..];
            }
            out.push_str(rest);
            out
        })
        .collect()
}

/// The `time=..ms` values of `Reply from` lines, in milliseconds.
fn reply_times(stdout: &[u8]) -> Vec<f64> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter(|l| l.starts_with("Reply from ") && l.contains(" time="))
        .map(|l| {
            let t = l.split(" time=").nth(1).expect("time=");
            t[..t.find("ms").expect("ms")]
                .parse()
                .unwrap_or_else(|_| panic!("a time in {l:?}"))
        })
        .collect()
}

/// Runs Linux sup in `ns` with `args`, bounded, output through files like Wine's.
fn run_linux_sup(ns: &Ns, args: &[&str]) -> Output {
    let out = ns
        .command(BOUND, &linux_sup().to_string_lossy())
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run Linux sup");
    println!("linux sup {}: {}", args.join(" "), out.status);
    out
}

/// Runs `sup.exe` under Wine and Linux sup with the same `args`: both exit
/// with `code`, print the same lines (times aside), one of them `line`,
/// nothing on stderr from sup.exe, and reply times under 100 ms (no
/// immediate mode under Wine: the 1-10 ms read timeout bounds the delay,
/// never the 1 s of upstream rawsock).
fn same_as_linux(host: &Ns, wine: &Wine, args: &[&str], code: i32, line: &str) {
    let windows = run(wine, "sup.exe", args, &[]);
    let linux = run_linux_sup(host, args);
    assert_eq!(
        windows.status.code(),
        Some(code),
        "sup.exe {args:?}: {}",
        show(&windows)
    );
    assert_eq!(
        linux.status.code(),
        Some(code),
        "sup {args:?}: {}",
        show(&linux)
    );
    let lines = without_times(&windows.stdout);
    assert_eq!(
        lines,
        without_times(&linux.stdout),
        "sup.exe vs sup {args:?}:\n{}\n{}",
        show(&windows),
        show(&linux)
    );
    assert!(
        lines.iter().any(|l| l == line),
        "{line:?} in sup.exe {args:?}: {}",
        show(&windows)
    );
    assert!(
        windows.stderr.is_empty(),
        "sup.exe {args:?}: {}",
        show(&windows)
    );
    for ms in reply_times(&windows.stdout) {
        assert!(
            (0.0..100.0).contains(&ms),
            "time={ms}ms: {}",
            show(&windows)
        );
    }
}

/// `sup.exe` under Wine and Linux sup, same lab, same arguments: the same
/// lines (times aside) and the same exit code, for replies from the gateway
/// and the remote, "Destination net unreachable" from the gateway, "TTL
/// expired in transit", and our own ARP going unanswered.
#[test]
fn sup_exe_prints_what_linux_sup_prints() {
    let (lab, wine) = lab_with_wine();
    let our_mac = lab.host.mac("lab0");
    let gw_mac = lab.gw.mac("br0");
    let at_gw = lab.gw.tcpdump("host0", "");
    // Arguments (the target's address filled in), exit code, a line it must print.
    let cases = [
        (
            format!("-n 3 --interval 100 {}", addrs::GW),
            0,
            "Reply from 10.77.1.1: bytes=32 time=Tms TTL=64",
        ),
        (
            format!("-n 3 --interval 100 -l 100 {}", addrs::REMOTE),
            0,
            "Reply from 10.77.2.2: bytes=100 time=Tms TTL=63",
        ),
        (
            format!("-n 2 --interval 100 -w 1000 {}", addrs::UNROUTED),
            1,
            "Reply from 10.77.1.1: Destination net unreachable.",
        ),
        (
            format!("-n 2 --interval 100 -w 1000 -i 1 {}", addrs::REMOTE),
            1,
            "Reply from 10.77.1.1: TTL expired in transit.",
        ),
        (
            format!("-n 1 -w 500 {}", addrs::ABSENT),
            1,
            "Reply from 10.77.1.2: Destination host unreachable.",
        ),
    ];
    let mut exe_requests = 0;
    for (args, code, line) in &cases {
        let args: Vec<&str> = args.split_whitespace().collect();
        let code = *code;
        same_as_linux(&lab.host, &wine, &args, code, line);
        if code == 0 {
            exe_requests += args[1].parse::<usize>().expect("-n N");
        }
    }
    let frames = at_gw.stop();
    let all = frames.join("\n");
    for frame in &frames {
        assert!(
            !frame.contains("bad cksum") && !frame.contains("wrong icmp cksum"),
            "{frame}"
        );
    }
    // Every echo request that left the host went to the gateway's MAC:
    // twice the replying probes (sup.exe and sup), and the others.
    let requests: Vec<&String> = frames
        .iter()
        // The outer header's addresses come right before the first `: ICMP`
        // (an ICMP error quotes a request further on).
        .filter(|l| {
            l.split_once(": ICMP ").is_some_and(|(head, tail)| {
                head.contains(&format!(") {} > ", addrs::HOST)) && tail.starts_with("echo request")
            })
        })
        .collect();
    assert_eq!(requests.len(), 2 * (exe_requests + 2 + 2), "{all}");
    assert!(
        requests
            .iter()
            .all(|l| l.contains(&format!("{our_mac} > {gw_mac},"))),
        "{all}"
    );
    // Our own ARP: each run asks for its next hop, broadcast.
    let arps = frames
        .iter()
        .filter(|l| {
            l.contains(&format!("{our_mac} > ff:ff:ff:ff:ff:ff,"))
                && l.contains(&format!("tell {}", addrs::HOST))
        })
        .count();
    // 4 runs ARP the gateway once each per system; ABSENT is asked 3 times.
    assert_eq!(arps, 2 * (4 + 3), "{all}");
}

/// `sup.exe --arp` and Linux `sup --arp`, same lab, same arguments: the
/// same lines (times aside), the same exit codes, for a neighbour that
/// answers, an address nobody has, and a routed target (refused); and our
/// ARP requests on the wire, broadcast from our MAC.
#[test]
fn sup_exe_arp_prints_what_linux_sup_prints() {
    let (lab, wine) = lab_with_wine();
    let our_mac = lab.host.mac("lab0");
    let at_nb = lab.neighbour.tcpdump("lab0", "arp");
    let cases = [
        (
            format!("--arp -n 2 --interval 100 {}", addrs::NEIGHBOUR),
            0,
            "Reply from 10.77.1.3 [02-E5-A7-01-00-03]: time=Tms",
        ),
        (
            format!("--arp -n 1 -w 300 {}", addrs::ABSENT),
            1,
            "Request timed out.",
        ),
    ];
    for (args, code, line) in &cases {
        let args: Vec<&str> = args.split_whitespace().collect();
        same_as_linux(&lab.host, &wine, &args, *code, line);
    }
    let routed = ["--arp", addrs::REMOTE];
    let windows = run(&wine, "sup.exe", &routed, &[]);
    let linux = run_linux_sup(&lab.host, &routed);
    assert_eq!(windows.status.code(), Some(2), "{}", show(&windows));
    assert_eq!(linux.status.code(), Some(2), "{}", show(&linux));
    assert_eq!(
        String::from_utf8_lossy(&windows.stderr).replace("\r\n", "\n"),
        String::from_utf8_lossy(&linux.stderr),
        "{}\n{}",
        show(&windows),
        show(&linux)
    );
    let frames = at_nb.stop();
    let asked = |target: &str| {
        frames
            .iter()
            .filter(|f| {
                f.contains(&format!("{our_mac} > ff:ff:ff:ff:ff:ff,"))
                    && f.contains(&format!("who-has {target} tell {}", addrs::HOST))
            })
            .count()
    };
    // Each system: two requests for the neighbour, one for the absent address.
    assert_eq!(asked(addrs::NEIGHBOUR), 4, "{frames:#?}");
    assert_eq!(asked(addrs::ABSENT), 2, "{frames:#?}");
}

/// A sweep by `sup.exe` and by Linux sup, same lab, same targets: the same
/// lines (times and order aside, which answer comes first is a race), the
/// same summary counts, the same exit code; and `-a` byte for byte.
#[test]
fn sup_exe_sweeps_like_linux_sup() {
    let (lab, wine) = lab_with_wine();
    let targets = [
        "10.77.1.1-5",
        addrs::REMOTE,
        "10.77.2.9-11",
        addrs::UNROUTED,
    ];
    let mask = |stdout: &[u8]| {
        // A sweep writes `0.052 ms`: without the space, the times go as in ping's lines.
        let text = String::from_utf8_lossy(stdout).replace(" ms", "ms");
        let mut lines: Vec<String> = without_times(text.as_bytes())
            .into_iter()
            .map(|l| match l.rsplit_once(", ") {
                // "10 targets, 6 alive, 4 unreachable, 1.02 s"
                Some((head, tail)) if tail.ends_with(" s") => format!("{head}, T s"),
                _ => l,
            })
            .collect();
        lines.sort();
        lines
    };
    let windows = run(&wine, "sup.exe", &targets, &[]);
    let linux = run_linux_sup(&lab.host, &targets);
    assert_eq!(windows.status.code(), Some(0), "{}", show(&windows));
    assert_eq!(linux.status.code(), Some(0), "{}", show(&linux));
    let lines = mask(&windows.stdout);
    assert_eq!(
        lines,
        mask(&linux.stdout),
        "{}\n{}",
        show(&windows),
        show(&linux)
    );
    for expected in [
        "10 targets, 6 alive, 4 unreachable, T s",
        "10.77.1.2 is alive (this host)",
        "10.77.1.3 is alive (Tms, TTL 64) [02-E5-A7-01-00-03]",
        "10.77.2.10 is alive (Tms, TTL 63)",
        "10.77.1.4 is unreachable",
        "10.99.0.1 is unreachable (Destination net unreachable from 10.77.1.1)",
    ] {
        assert!(
            lines.iter().any(|l| l == expected),
            "{expected:?}: {}",
            show(&windows)
        );
    }
    let mut alive = vec!["-a"];
    alive.extend(targets);
    let windows = run(&wine, "sup.exe", &alive, &[]);
    let linux = run_linux_sup(&lab.host, &alive);
    assert_eq!(
        String::from_utf8_lossy(&windows.stdout).replace("\r\n", "\n"),
        String::from_utf8_lossy(&linux.stdout),
        "{}\n{}",
        show(&windows),
        show(&linux)
    );
    assert_eq!(
        String::from_utf8_lossy(&linux.stdout),
        "10.77.1.1\n10.77.1.2\n10.77.1.3\n10.77.2.2\n10.77.2.10\n10.77.2.11\n"
    );
}

/// A trace by `sup.exe` and by Linux sup over the chain of three routers:
/// the same hops from the same routers, times aside (and the spaces a
/// time's digits take).
#[test]
fn sup_exe_traces_like_linux_sup() {
    windows_exe("sup.exe");
    let chain = Chain::new();
    let wine = Wine::new(&chain.host);
    let words = |stdout: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(stdout)
            .lines()
            .map(|l| {
                let mut w: Vec<&str> = l.split_whitespace().collect();
                for i in 0..w.len() {
                    if w.get(i + 1) == Some(&"ms") && w[i].parse::<f64>().is_ok() {
                        w[i] = "T";
                    }
                }
                w.join(" ")
            })
            .collect()
    };
    for (args, code) in [
        (vec!["--trace", "-d", chain::addrs::TARGET], 0),
        (
            vec!["--trace", "-d", "-w", "500", chain::addrs::UNROUTED],
            1,
        ),
        // SYNs to a closed port: the target's RST ends it.
        (
            vec!["--trace", "-d", "--tcp", "81", chain::addrs::TARGET],
            0,
        ),
    ] {
        let windows = run(&wine, "sup.exe", &args, &[]);
        if args.contains(&chain::addrs::UNROUTED) {
            // r3's "net unreachable" goes through the kernel's ip_error
            // limit (net.ipv4.route.error_cost: one a second per source,
            // a burst of five, global, not settable in a namespace); the
            // run just made spent the burst on its 28 probes past r2. Wait
            // for one token so Linux sup gets its answer too.
            std::thread::sleep(Duration::from_millis(1100));
        }
        let linux = run_linux_sup(&chain.host, &args);
        assert_eq!(windows.status.code(), Some(code), "{}", show(&windows));
        assert_eq!(linux.status.code(), Some(code), "{}", show(&linux));
        let lines = words(&windows.stdout);
        assert_eq!(
            lines,
            words(&linux.stdout),
            "{}\n{}",
            show(&windows),
            show(&linux)
        );
        assert!(windows.stderr.is_empty(), "{}", show(&windows));
        if code == 0 {
            assert!(
                lines.contains(&"4 T ms T ms T ms 10.78.3.2".to_string()),
                "{}",
                show(&windows)
            );
            let complete = if args.contains(&"--tcp") {
                "Trace complete: port 81 closed."
            } else {
                "Trace complete."
            };
            assert_eq!(lines.last().map(String::as_str), Some(complete));
        } else {
            assert!(
                lines.contains(&"3 10.78.2.2 reports: Destination net unreachable.".to_string()),
                "{}",
                show(&windows)
            );
        }
    }
}

/// `sup.exe --tcp` and `--udp` and Linux sup against the remote's
/// kernel: an open port (SYN-ACK, our RST after it), a closed one (RST),
/// UDP answered by an echo server and refused by a port unreachable.
#[test]
fn sup_exe_probes_ports_like_linux_sup() {
    let (lab, wine) = lab_with_wine();
    let _servers = Servers::start(&lab.remote);
    let remote = addrs::REMOTE;
    for (args, line) in [
        (
            ["--tcp", "443", "-n", "2", remote],
            "Reply from 10.77.2.2: port 443 open (SYN-ACK) time=Tms TTL=63",
        ),
        (
            ["--tcp", "81", "-n", "2", remote],
            "Reply from 10.77.2.2: port 81 closed (RST) time=Tms TTL=63",
        ),
        (
            ["--udp", "7", "-n", "2", remote],
            "Reply from 10.77.2.2: port 7 open (UDP reply) time=Tms TTL=63",
        ),
        (
            ["--udp", "9", "-n", "2", remote],
            "Reply from 10.77.2.2: port 9 closed (port unreachable) time=Tms TTL=63",
        ),
    ] {
        same_as_linux(&lab.host, &wine, &args, 0, line);
    }
    let half_open = lab.remote.sh("ss -Htan state syn-recv");
    assert_eq!(half_open.trim(), "", "nothing half open");
}

/// `sup.exe --respond`: a virtual host the neighbour's kernel pings, under
/// Wine, through Wine's IPHLPAPI and wpcap.dll.
#[test]
fn sup_exe_answers_a_kernel_ping() {
    let (lab, wine) = lab_with_wine();
    let running = wine.spawn(
        &windows_exe("sup.exe"),
        &["--respond", "10.77.1.50"],
        &[],
        BOUND,
    );
    // Bounded: until the neighbour's kernel gets an answer (Wine's start,
    // then the responder's 0.5 s check for a conflict).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !lab
        .neighbour
        .sh_status("ping -n -q -c 1 -W 1 10.77.1.50 >/dev/null")
        .status
        .success()
    {
        assert!(
            Instant::now() < deadline,
            "sup.exe --respond did not answer"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let ping = lab.neighbour.sh("ping -n -c 3 -i 0.2 -W 1 10.77.1.50");
    assert!(ping.contains("3 packets transmitted, 3 received"), "{ping}");
    let pid = running.pid().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("run kill");
    assert!(killed.success(), "kill -INT {pid}");
    let out = running.wait(Duration::from_secs(15));
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
    assert!(
        text.contains(
            "Answering ARP and ping for 10.77.1.50 [02-E5-A7-01-00-02] on lab0 (Ctrl+C to stop):"
        ),
        "{}",
        show(&out)
    );
    let answered = text
        .lines()
        .filter(|l| l.starts_with("Answered echo request from 10.77.1.3: seq="))
        .count();
    assert!(answered >= 4, "{}", show(&out));
}

/// `sup.exe -v`: the NIC, route and next hop's MAC it reports are what
/// `ip` says in the same namespace, with the adapter's GUID as its name.
#[test]
fn sup_exe_verbose_shows_iphlpapi_and_arp() {
    let (lab, wine) = lab_with_wine();
    let host = &lab.host;
    let ifindex = host
        .sh("cat /sys/class/net/lab0/ifindex")
        .trim()
        .to_string();
    let mac = host.mac("lab0").to_uppercase().replace(':', "-");
    let gw_mac = lab.gw.mac("br0").to_uppercase().replace(':', "-");
    for (dst, route) in [
        (addrs::GW, format!("route: {} is on-link", addrs::GW)),
        (
            addrs::REMOTE,
            format!("route: {} via {}", addrs::REMOTE, addrs::GW),
        ),
    ] {
        let out = run(&wine, "sup.exe", &["-v", "-n", "1", dst], &[]);
        assert!(out.status.success(), "{}", show(&out));
        let stderr = String::from_utf8_lossy(&out.stderr).replace("\r\n", "\n");
        let lines: Vec<&str> = stderr.lines().collect();
        // `NIC: lab0 (10.77.1.2/24, MAC) [{GUID}], Ethernet, MTU 1500, device \Device\NPF_{GUID}, index N`
        let nic = lines.first().copied().unwrap_or_default();
        let prefix = format!("NIC: lab0 ({}/24, {mac}) [", addrs::HOST);
        let rest = nic
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{nic:?} starts with {prefix:?}: {}", show(&out)));
        let (guid, rest) = rest.split_once("], ").expect("], ");
        assert!(is_braced_guid(guid), "{guid:?}");
        // IPHLPAPI's IfType for the veth: Ethernet (Wine says 6).
        assert_eq!(
            rest,
            format!(r"Ethernet, MTU 1500, device \Device\NPF_{guid}, index {ifindex}"),
            "{}",
            show(&out)
        );
        assert_eq!(
            lines.get(1).copied(),
            Some(route.as_str()),
            "{}",
            show(&out)
        );
        // Wine's wpcap.dll has no pcap_set_immediate_mode: -v says so.
        assert_eq!(
            lines.get(3).copied(),
            Some("capture: immediate mode not in this library (answers may wait up to 2 ms), nanosecond timestamps (host), read timeout 2 ms"),
            "{}",
            show(&out)
        );
        assert_eq!(
            lines.get(4).copied(),
            Some(format!("next hop {} is at {gw_mac} (our ARP)", addrs::GW).as_str()),
            "{}",
            show(&out)
        );
        assert_eq!(
            lines.get(5).copied(),
            Some("own frames: seen by the capture (RTTs run from the wire time of each request)"),
            "{}",
            show(&out)
        );
        // The degraded path, named as --diagnose names it, never silent.
        assert_eq!(
            lines.get(6).copied(),
            Some("degraded: no immediate mode: answers may wait up to 2 ms in the capture buffer before sup sees them (RTTs still come from capture timestamps)"),
            "{}",
            show(&out)
        );
        // Then a hex dump of the request sent and of the reply.
        assert!(stderr.contains("sent seq=1 (74 bytes):"), "{}", show(&out));
        assert!(stderr.contains("received (74 bytes):"), "{}", show(&out));
    }
}

/// `sup.exe --diagnose` names Wine's degraded path (no immediate mode in
/// its wpcap.dll) and exits 1; the facts it shares with Linux sup (NIC as
/// IPHLPAPI gives it, route, the gateway's MAC from our ARP, own frames
/// seen) are there. Without wpcap.dll: cannot run, exit 2, in one object
/// with --json.
#[test]
fn sup_exe_diagnose_names_the_missing_immediate_mode() {
    let (lab, wine) = lab_with_wine();
    let gw_mac = lab.gw.mac("br0").to_uppercase().replace(':', "-");
    let out = run(&wine, "sup.exe", &["--diagnose", addrs::REMOTE], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("NIC: lab0 (10.77.1.2/24, "),
        "{}",
        show(&out)
    );
    assert_eq!(
        lines[1],
        format!("route: {} via {}", addrs::REMOTE, addrs::GW)
    );
    // The file the loader mapped (GetModuleFileNameW), not the name asked.
    assert!(
        lines[2]
            .to_ascii_lowercase()
            .starts_with(r"capture: c:\windows\system32\")
            && lines[2].contains("wpcap.dll"),
        "{}",
        show(&out)
    );
    assert!(
        lines[4].starts_with(&format!(
            "next hop {} is at {gw_mac} (our ARP, time=",
            addrs::GW
        )),
        "{}",
        show(&out)
    );
    for line in [
        "capture: immediate mode not in this library (answers may wait up to 2 ms), nanosecond timestamps (host), read timeout 2 ms",
        "own frames: seen by the capture (RTTs run from the wire time of each request)",
        "degraded: no immediate mode: answers may wait up to 2 ms in the capture buffer before sup sees them (RTTs still come from capture timestamps)",
        "verdict: sup runs here, degraded as said above (the route to 10.77.2.2)",
    ] {
        assert!(lines.contains(&line), "{line}\n{}", show(&out));
    }
    let out = run(
        &wine,
        "sup.exe",
        &["--diagnose", "--json"],
        &[("WINEDLLOVERRIDES", "wpcap=d")],
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["failure"]["stage"], "capture library", "{}", show(&out));
    assert_eq!(v["verdict"], "cannot run");
}

/// With Wine's `wpcap.dll` disabled, as on a PC without Npcap, sup.exe says
/// so in one sentence with exit code 2, and sends nothing.
#[test]
fn sup_exe_without_wpcap_says_npcap_is_missing() {
    let (lab, wine) = lab_with_wine();
    let our_mac = lab.host.mac("lab0");
    let at_gw = lab.gw.tcpdump("host0", "");
    for args in [
        &["-n", "1", addrs::GW][..],
        &["--json", "-n", "1", addrs::GW][..],
    ] {
        let out = run(&wine, "sup.exe", args, &[("WINEDLLOVERRIDES", "wpcap=d")]);
        assert_eq!(out.status.code(), Some(2), "{}", show(&out));
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).trim_end(),
            "Npcap is not installed (https://npcap.com)",
            "{}",
            show(&out)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        if args[0] == "--json" {
            assert_eq!(
                stdout.trim_end(),
                r#"{"message":"Npcap is not installed (https://npcap.com)","type":"fatal"}"#,
                "{}",
                show(&out)
            );
        } else {
            assert!(stdout.is_empty(), "{}", show(&out));
        }
    }
    let frames = at_gw.stop();
    assert!(
        frames.iter().all(|f| !f.contains(&format!("{our_mac} > "))),
        "{frames:#?}"
    );
}

/// Where wpcap.dll is looked for (rawsock's `load_library`): Npcap's
/// `System32\Npcap\wpcap.dll` first, then `wpcap.dll` from System32 only.
/// A copy of Wine's wpcap.dll in `System32\Npcap` is the one loaded; and a
/// DLL named wpcap.dll planted beside sup.exe is never loaded: with Wine's
/// own hidden (`wpcap=n`: native DLLs only, and System32 holds only Wine's
/// builtin placeholder), sup.exe says Npcap is missing. (A bare
/// `LoadLibrary("wpcap.dll")`, as before, loaded the planted one and said
/// "wpcap.dll is not a usable packet capture library".)
#[test]
fn wpcap_dll_comes_from_system32_npcap_never_from_beside_the_exe() {
    let (_lab, wine) = lab_with_wine();
    let system32 = wine.prefix().join("drive_c/windows/system32");
    let npcap = system32.join("Npcap");
    std::fs::create_dir_all(&npcap).expect("create System32\\Npcap");
    std::fs::copy(system32.join("wpcap.dll"), npcap.join("wpcap.dll"))
        .expect("copy Wine's wpcap.dll into System32\\Npcap");
    let out = run(&wine, "examples/list_interfs.exe", &[], &[]);
    assert!(out.status.success(), "{}", show(&out));
    let first = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        first.ends_with(r"(c:\windows\system32\npcap\wpcap.dll)"),
        "{}",
        show(&out)
    );
    std::fs::remove_dir_all(&npcap).expect("remove System32\\Npcap");

    let planted = wine.prefix().join("drive_c/planted");
    std::fs::create_dir_all(&planted).expect("create the planted directory");
    std::fs::copy(windows_exe("sup.exe"), planted.join("sup.exe")).expect("copy sup.exe");
    // Any DLL that is not a capture library: the Rust std shim.
    std::fs::copy(
        system32.join("bcryptprimitives.dll"),
        planted.join("wpcap.dll"),
    )
    .expect("plant a wpcap.dll");
    let out = wine.run_with_env(
        &planted.join("sup.exe"),
        &["-n", "1", addrs::GW],
        &[("WINEDLLOVERRIDES", "wpcap=n")],
        BOUND,
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        "Npcap is not installed (https://npcap.com)",
        "{}",
        show(&out)
    );
}

/// sup.exe imports only DLLs every Windows 10/11 has (the list in
/// sup/windows-imports.txt, which sup/dist.sh checks the release build
/// against): nothing to ship beside it. Nothing links `wpcap.dll` or
/// `Packet.dll` at build time: sup.exe starts on a PC without Npcap (and
/// says so, above), because ersatz loads it at run time. The imports are
/// read from the PE file with mingw's objdump.
#[test]
fn sup_exe_imports_only_dlls_every_windows_has() {
    let allowed: Vec<String> = include_str!("../../sup/windows-imports.txt")
        .lines()
        .filter_map(|l| l.split('#').next())
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_ascii_lowercase)
        .collect();
    assert!(allowed.contains(&"kernel32.dll".to_string()), "{allowed:?}");
    assert!(
        allowed
            .iter()
            .all(|d| d != "wpcap.dll" && d != "packet.dll"),
        "{allowed:?}"
    );
    let exe = windows_exe("sup.exe");
    let out = std::process::Command::new("x86_64-w64-mingw32-objdump")
        .arg("-p")
        .arg(&exe)
        .output()
        .expect("run x86_64-w64-mingw32-objdump (binutils-mingw-w64-x86-64)");
    assert!(out.status.success(), "{}", show(&out));
    let dlls: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("DLL Name: "))
        .map(str::to_ascii_lowercase)
        .collect();
    assert!(dlls.contains(&"iphlpapi.dll".to_string()), "{dlls:?}");
    let others: Vec<&String> = dlls.iter().filter(|d| !allowed.contains(d)).collect();
    assert!(
        others.is_empty(),
        "sup.exe imports DLLs a Windows PC may not have: {others:?} (all: {dlls:?})"
    );
}

/// Ctrl+C (SIGINT, which Wine turns into a console Ctrl+C event) during
/// `sup.exe -t`: the statistics block, `Control-C`, and exit code 0 for
/// the replies that came, as on Linux and as ping.exe does.
#[test]
fn sup_exe_ctrl_c_prints_the_statistics() {
    let (_lab, wine) = lab_with_wine();
    let running = wine.spawn(
        &windows_exe("sup.exe"),
        &["-t", "--interval", "200", addrs::GW],
        &[],
        BOUND,
    );
    // Wine starts the program in well under a second here; then a few
    // replies.
    std::thread::sleep(Duration::from_millis(2500));
    let pid = running.pid().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("run kill");
    assert!(killed.success(), "kill -INT {pid}");
    let signalled = Instant::now();
    let out = running.wait(Duration::from_secs(15));
    println!("sup.exe ended {:.2?} after SIGINT", signalled.elapsed());
    let lines = without_times(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(
        lines.last().map(String::as_str),
        Some("Control-C"),
        "{}",
        show(&out)
    );
    let replies = lines
        .iter()
        .filter(|l| *l == "Reply from 10.77.1.1: bytes=32 time=Tms TTL=64")
        .count();
    assert!(replies >= 2, "{}", show(&out));
    // The request in flight when Ctrl+C came (if any) is sent, not answered.
    let counted = |sent: usize| {
        let lost = sent - replies;
        format!(
            "    Packets: Sent = {sent}, Received = {replies}, Lost = {lost} ({}% loss),",
            lost * 100 / sent
        )
    };
    assert!(
        lines.contains(&counted(replies)) || lines.contains(&counted(replies + 1)),
        "{} replies counted: {}",
        replies,
        show(&out)
    );
}
