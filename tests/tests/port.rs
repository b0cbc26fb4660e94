//! `sup --tcp` and `sup --udp` end to end, against the remote's kernel: a
//! listener (open), a port without one (closed), an nftables drop
//! (filtered), a host that drops every ping still answering; tcpdump at the
//! gateway seeing our SYN, the SYN-ACK and our RST, clean checksums, no
//! SYN-ACK sent twice, and `ss` showing nothing left half open; UDP closed
//! and open (an echo server in the lab).
//!
//! Run `cargo build -p sup` first (see tests/sup.rs).

use std::time::Duration;

use ersatz_e2e::servers::Servers;
use ersatz_e2e::sup::{expect_clap_error, run_sup, Run};
use ersatz_e2e::{addrs, Lab, Ns};
use serde_json::Value;

const BOUND: Duration = Duration::from_secs(30);

fn sup(ns: &Ns, args: &[&str]) -> Run {
    run_sup(ns, args, BOUND)
}

fn replies<'r>(run: &'r Run, what: &str) -> Vec<&'r str> {
    run.stdout
        .lines()
        .filter(|l| l.starts_with("Reply from 10.77.2.2: ") && l.contains(what))
        .collect()
}

fn port_line(run: &Run) -> String {
    run.lines()
        .into_iter()
        .find(|l| l.starts_with("    Port "))
        .unwrap_or_else(|| panic!("{}", run.show()))
        .to_string()
}

#[test]
fn an_open_port_is_syn_ack_then_our_rst_and_nothing_half_open() {
    let lab = Lab::new();
    let _servers = Servers::start(&lab.remote);
    let dump = lab.gw.tcpdump("far0", "tcp port 443");
    let run = sup(
        &lab.host,
        &[
            "--tcp",
            "443",
            "-n",
            "3",
            "--interval",
            "100",
            addrs::REMOTE,
        ],
    );
    let frames = dump.stop();
    run.expect_code(0);
    assert_eq!(
        run.lines()[1],
        "Probing 10.77.2.2 on TCP port 443 with SYNs:"
    );
    let open = replies(&run, "port 443 open (SYN-ACK) time=");
    assert_eq!(open.len(), 3, "{}", run.show());
    assert!(
        open.iter().all(|l| l.ends_with(" TTL=63")),
        "{}",
        run.show()
    );
    assert_eq!(
        port_line(&run),
        "    Port 443: 3 open, 0 closed, 0 filtered (no answer)"
    );
    // On the wire: each probe a SYN with a stack's options, one SYN-ACK
    // (never sent again), our RST with the SYN-ACK's acknowledgement.
    let ours = |flags: &str| {
        frames
            .iter()
            .filter(|f| {
                f.contains("10.77.1.2.") && f.contains(" > 10.77.2.2.443:") && f.contains(flags)
            })
            .count()
    };
    assert_eq!(ours("Flags [S],"), 3, "{frames:#?}");
    assert!(
        frames
            .iter()
            .filter(|f| f.contains("Flags [S],"))
            .all(|f| f.contains("mss 1460,sackOK,TS val") && f.contains("nop,wscale 7")),
        "{frames:#?}"
    );
    let syn_acks = frames.iter().filter(|f| f.contains("Flags [S.],")).count();
    assert_eq!(syn_acks, 3, "no SYN-ACK sent twice: {frames:#?}");
    // Ours, and the host kernel's own (it knows no such connection).
    assert!(ours("Flags [R],") >= 3, "{frames:#?}");
    assert!(
        !frames
            .iter()
            .any(|f| f.contains("incorrect") || f.contains("bad cksum")),
        "{frames:#?}"
    );
    let half_open = lab.remote.sh("ss -Htan state syn-recv");
    assert_eq!(half_open.trim(), "", "nothing half open");
}

#[test]
fn a_closed_port_is_an_rst_and_a_dropped_one_is_filtered() {
    let lab = Lab::new();
    let run = sup(
        &lab.host,
        &["--tcp", "81", "-n", "2", "--interval", "100", addrs::REMOTE],
    );
    run.expect_code(0);
    assert_eq!(
        replies(&run, "port 81 closed (RST) time=").len(),
        2,
        "{}",
        run.show()
    );
    assert_eq!(
        port_line(&run),
        "    Port 81: 0 open, 2 closed, 0 filtered (no answer)"
    );
    lab.remote.sh(
        "nft add table ip f && nft add chain ip f in '{ type filter hook input priority 0; }' && nft add rule ip f in tcp dport 444 drop",
    );
    let run = sup(
        &lab.host,
        &[
            "--tcp",
            "444",
            "-n",
            "2",
            "-w",
            "300",
            "--interval",
            "100",
            addrs::REMOTE,
        ],
    );
    run.expect_code(1);
    assert_eq!(
        run.lines()
            .iter()
            .filter(|l| **l == "Request timed out.")
            .count(),
        2,
        "{}",
        run.show()
    );
    assert_eq!(
        port_line(&run),
        "    Port 444: 0 open, 0 closed, 2 filtered (no answer)"
    );
}

#[test]
fn a_host_that_drops_every_ping_answers_a_syn() {
    let lab = Lab::new();
    lab.remote.sh("sysctl -qw net.ipv4.icmp_echo_ignore_all=1");
    let ping = sup(&lab.host, &["-n", "1", "-w", "300", addrs::REMOTE]);
    ping.expect_code(1);
    let run = sup(&lab.host, &["--tcp", "22", "-n", "1", addrs::REMOTE]);
    run.expect_code(0);
    assert_eq!(
        replies(&run, "port 22 closed (RST)").len(),
        1,
        "{}",
        run.show()
    );
}

#[test]
fn udp_open_closed_and_open_or_filtered() {
    let lab = Lab::new();
    let _servers = Servers::start(&lab.remote);
    let run = sup(
        &lab.host,
        &[
            "--udp",
            "7",
            "-l",
            "20",
            "-n",
            "2",
            "--interval",
            "100",
            addrs::REMOTE,
        ],
    );
    run.expect_code(0);
    assert_eq!(
        run.lines()[1],
        "Probing 10.77.2.2 on UDP port 7 with 20 bytes of data:"
    );
    assert_eq!(
        replies(&run, "port 7 open (UDP reply) time=").len(),
        2,
        "{}",
        run.show()
    );
    let run = sup(
        &lab.host,
        &["--udp", "9", "-n", "2", "--interval", "100", addrs::REMOTE],
    );
    run.expect_code(0);
    assert_eq!(
        replies(&run, "port 9 closed (port unreachable) time=").len(),
        2,
        "{}",
        run.show()
    );
    lab.remote.sh(
        "nft add table ip f && nft add chain ip f in '{ type filter hook input priority 0; }' && nft add rule ip f in udp dport 10 drop",
    );
    let run = sup(
        &lab.host,
        &["--udp", "10", "-n", "1", "-w", "300", addrs::REMOTE],
    );
    run.expect_code(1);
    assert_eq!(
        port_line(&run),
        "    Port 10: 0 open, 0 closed, 1 open|filtered (no answer)"
    );
}

#[test]
fn json_replies_carry_port_and_state() {
    let lab = Lab::new();
    let _servers = Servers::start(&lab.remote);
    let run = sup(
        &lab.host,
        &[
            "--tcp",
            "443",
            "--json",
            "-n",
            "2",
            "--interval",
            "100",
            addrs::REMOTE,
        ],
    );
    run.expect_code(0);
    let lines: Vec<Value> = run
        .lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert_eq!(lines.len(), 4, "{}", run.show());
    assert_eq!(
        (&lines[0]["protocol"], &lines[0]["port"]),
        (&"tcp".into(), &443.into())
    );
    for (i, v) in lines[1..3].iter().enumerate() {
        assert_eq!(v["type"], "reply");
        assert_eq!(v["seq"], i as u64 + 1);
        assert_eq!(
            (&v["port"], &v["state"], &v["via"]),
            (&443.into(), &"open".into(), &"SYN-ACK".into())
        );
        assert!(v["time_ms"].as_f64().is_some_and(|t| t > 0.0));
    }
    let summary = &lines[3];
    assert_eq!(
        (&summary["open"], &summary["closed"], &summary["filtered"]),
        (&2.into(), &0.into(), &0.into())
    );
}

#[test]
fn bad_ports_and_mixes_are_refused() {
    let lab = Lab::new();
    for (args, mentions) in [
        (vec!["--tcp", "0", addrs::REMOTE], "'0'"),
        (vec!["--tcp", "65536", addrs::REMOTE], "65536"),
        (vec!["--udp", "-1", addrs::REMOTE], "-1"),
        (vec!["--tcp", "80", "--udp", "53", addrs::REMOTE], "--udp"),
        (vec!["--tcp", "80", "--arp", addrs::REMOTE], "--arp"),
        (vec!["--tcp", "80", "--flood", addrs::REMOTE], "--flood"),
    ] {
        let run = sup(&lab.host, &args);
        expect_clap_error(&run, mentions);
    }
}

/// The `is alive` lines of a sweep, by address.
fn alive_lines(run: &Run) -> std::collections::BTreeMap<String, String> {
    run.lines()
        .into_iter()
        .filter_map(|l| {
            let (addr, _) = l.split_once(" is alive (")?;
            Some((addr.to_string(), l.to_string()))
        })
        .collect()
}

#[test]
fn a_tcp_sweep_finds_hosts_that_drop_ping_and_leaves_nothing_half_open() {
    let lab = Lab::new();
    lab.add_routed_block();
    let _servers = Servers::start(&lab.remote);
    lab.remote.sh("sysctl -qw net.ipv4.icmp_echo_ignore_all=1");
    // Ping finds no one there.
    let run = sup(&lab.host, &["-w", "200", "10.77.3.1-4"]);
    run.expect_code(1);
    assert!(alive_lines(&run).is_empty(), "{}", run.show());
    let dump = lab.gw.tcpdump("far0", "tcp");
    let run = sup(&lab.host, &["--tcp", "443", addrs::ROUTED_BLOCK]);
    let frames = dump.stop();
    run.expect_code(0);
    let alive = alive_lines(&run);
    assert_eq!(alive.len(), 254, "{}", run.show());
    assert!(
        alive
            .values()
            .all(|l| l.ends_with(", TTL 63, port 443 open)") && l.contains(" ms, ")),
        "{}",
        run.show()
    );
    assert_eq!(
        run.lines()
            .last()
            .map(|l| l.split(", ").take(3).collect::<Vec<_>>().join(", ")),
        Some("254 targets, 254 alive, 0 unreachable".to_string()),
        "{}",
        run.show()
    );
    let count = |flags: &str| frames.iter().filter(|f| f.contains(flags)).count();
    assert_eq!(count("Flags [S],"), 254, "one SYN each: {frames:#?}");
    assert_eq!(count("Flags [S.],"), 254, "no SYN-ACK sent twice");
    assert!(count("Flags [R],") >= 254, "our RST after each SYN-ACK");
    assert!(
        !frames.iter().any(|f| f.contains("incorrect")),
        "{frames:#?}"
    );
    let half_open = lab.remote.sh("ss -Htan state syn-recv");
    assert_eq!(half_open.trim(), "", "nothing half open");
    // A closed port is an answer too.
    let run = sup(&lab.host, &["--tcp", "81", "10.77.3.1-3"]);
    run.expect_code(0);
    let alive = alive_lines(&run);
    assert_eq!(alive.len(), 3, "{}", run.show());
    assert!(alive.values().all(|l| l.ends_with(", port 81 closed)")));
}

#[test]
fn a_udp_sweep_on_link_and_routed_and_its_json() {
    let lab = Lab::new();
    let _servers = Servers::start(&lab.remote);
    // The gateway (on-link: ARP, then UDP) has nothing on port 7; the
    // remote (routed) echoes.
    let run = sup(&lab.host, &["--udp", "7", addrs::GW, addrs::REMOTE]);
    run.expect_code(0);
    let alive = alive_lines(&run);
    let gw = &alive[addrs::GW];
    assert!(
        gw.ends_with(", TTL 64, port 7 closed) [02-E5-A7-01-00-01]"),
        "{}",
        run.show()
    );
    let remote = &alive[addrs::REMOTE];
    assert!(remote.ends_with(", TTL 63, port 7 open)"), "{}", run.show());
    let run = sup(
        &lab.host,
        &[
            "--udp",
            "9",
            "--json",
            "-w",
            "300",
            addrs::REMOTE,
            "10.77.2.99",
        ],
    );
    run.expect_code(0);
    let hosts: Vec<Value> = run
        .lines()
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .filter(|v| v["type"] == "host")
        .collect();
    assert_eq!(hosts.len(), 2, "{}", run.show());
    let by = |addr: &str| {
        hosts
            .iter()
            .find(|h| h["addr"] == addr)
            .unwrap_or_else(|| panic!("{addr}: {}", run.show()))
    };
    let remote = by(addrs::REMOTE);
    assert_eq!(
        (
            &remote["alive"],
            &remote["via"],
            &remote["port"],
            &remote["state"]
        ),
        (&true.into(), &"udp".into(), &9.into(), &"closed".into())
    );
    let nobody = by("10.77.2.99");
    assert_eq!(
        (&nobody["alive"], &nobody["port"], &nobody["state"]),
        (&false.into(), &9.into(), &Value::Null)
    );
}
