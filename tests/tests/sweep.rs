//! Sweeps end to end: `sup` with many targets, blocks and ranges, against
//! real kernels in the lab: a routed /24 where every address answers, the
//! host's own link with stations (one dropping every ping, two claiming one
//! address), dead addresses, names; fping's `-a`/`-u`, JSON, Ctrl+C, bad
//! targets; tcpdump counting what went over the wire.
//!
//! Run `cargo build -p sup` first (see tests/sup.rs).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use ersatz_e2e::sup::{run_sup, spawn_sup, Run};
use ersatz_e2e::{addrs, names, Lab, Ns};
use serde_json::Value;

const BOUND: Duration = Duration::from_secs(60);

fn sup(ns: &Ns, args: &[&str]) -> Run {
    run_sup(ns, args, BOUND)
}

/// The lines saying `X is alive ...`, by address.
fn alive(run: &Run) -> BTreeSet<String> {
    run.lines()
        .iter()
        .filter_map(|l| l.split_once(" is alive ").map(|(a, _)| a.to_string()))
        .collect()
}

fn unreachable(run: &Run) -> BTreeSet<String> {
    run.lines()
        .iter()
        .filter_map(|l| l.strip_suffix(" is unreachable").map(str::to_string))
        .collect()
}

/// The summary line's counts: targets, alive, unreachable.
fn summary(text: &str) -> (u32, u32, u32) {
    let line = text
        .lines()
        .find(|l| l.contains(" targets, "))
        .unwrap_or_else(|| panic!("no summary in {text}"));
    let n: Vec<u32> = line
        .split(", ")
        .take(3)
        .map(|p| p.split(' ').next().unwrap().parse().unwrap())
        .collect();
    (n[0], n[1], n[2])
}

fn set(addrs: &[&str]) -> BTreeSet<String> {
    addrs.iter().map(|a| a.to_string()).collect()
}

#[test]
fn a_routed_block_where_every_address_answers() {
    let lab = Lab::new();
    lab.add_routed_block();
    let dump = lab.gw.tcpdump("far0", "icmp");
    let run = sup(&lab.host, &[addrs::ROUTED_BLOCK]);
    let frames = dump.stop();
    run.expect_code(0);
    let expected: BTreeSet<String> = (1..=254).map(|i| format!("10.77.3.{i}")).collect();
    assert_eq!(alive(&run), expected, "{}", run.show());
    assert_eq!(summary(&run.stdout), (254, 254, 0));
    for line in run.lines().iter().filter(|l| l.contains(" is alive ")) {
        assert!(
            line.ends_with(", TTL 63)") && line.contains(" ms, "),
            "{line}"
        );
    }
    // Each address asked once (every first try answered), every frame clean.
    let requests = frames
        .iter()
        .filter(|f| f.contains("> 10.77.3.") && f.contains("ICMP echo request"))
        .count();
    assert_eq!(requests, 254, "{frames:#?}");
    assert!(
        !frames
            .iter()
            .any(|f| f.contains("bad cksum") || f.contains("wrong icmp cksum")),
        "{frames:#?}"
    );
}

/// The host's link with two more stations: .11 answers everything, .12
/// drops every ping.
fn lab_with_stations() -> Lab {
    let lab = Lab::new();
    lab.add_station("st1", "02:e5:a7:01:00:11", "10.77.1.11/24");
    let quiet = lab.add_station("st2", "02:e5:a7:01:00:12", "10.77.1.12/24");
    quiet.sh("sysctl -qw net.ipv4.icmp_echo_ignore_all=1");
    lab
}

#[test]
fn an_on_link_block_is_found_by_arp_even_behind_a_firewall() {
    let lab = lab_with_stations();
    let dump = lab.gw.tcpdump("host0", "");
    let run = sup(&lab.host, &["10.77.1.0/24"]);
    let frames = dump.stop();
    run.expect_code(0);
    let live = [
        "10.77.1.1",
        "10.77.1.2",
        "10.77.1.3",
        "10.77.1.11",
        "10.77.1.12",
    ];
    assert_eq!(alive(&run), set(&live), "{}", run.show());
    assert_eq!(unreachable(&run).len(), 249, "{}", run.show());
    assert_eq!(summary(&run.stdout), (254, 5, 249));
    let line = |addr: &str| {
        run.lines()
            .into_iter()
            .find(|l| l.starts_with(&format!("{addr} is ")))
            .unwrap_or_else(|| panic!("{addr}: {}", run.show()))
            .to_string()
    };
    assert!(
        line("10.77.1.3").ends_with(", TTL 64) [02-E5-A7-01-00-03]"),
        "{}",
        line("10.77.1.3")
    );
    assert_eq!(line("10.77.1.2"), "10.77.1.2 is alive (this host)");
    let quiet = line("10.77.1.12");
    assert!(
        quiet.starts_with("10.77.1.12 is alive (ARP ")
            && quiet.ends_with(" ms, no echo reply) [02-E5-A7-01-00-12]"),
        "{quiet}"
    );
    // Our ARP: the dead asked twice (one retry), the live once; nothing to
    // ourselves; one echo request to each live station but us.
    let asked = |addr: &str| {
        frames
            .iter()
            .filter(|f| f.contains(&format!("Request who-has {addr} tell 10.77.1.2")))
            .count()
    };
    assert_eq!(asked("10.77.1.3"), 1, "{frames:#?}");
    assert_eq!(asked("10.77.1.99"), 2, "{frames:#?}");
    assert_eq!(asked("10.77.1.2"), 0, "{frames:#?}");
    let total: usize = (1..=254).map(|i| asked(&format!("10.77.1.{i}"))).sum();
    assert_eq!(total, 4 + 249 * 2, "{frames:#?}");
    let echoes = frames
        .iter()
        .filter(|f| f.contains("10.77.1.2 > ") && f.contains("ICMP echo request"))
        .count();
    assert_eq!(echoes, 4, "{frames:#?}");
    assert!(
        !frames
            .iter()
            .any(|f| f.contains("bad cksum") || f.contains("wrong icmp cksum")),
        "{frames:#?}"
    );
}

#[test]
fn alive_and_unreachable_lists_pipe() {
    let lab = lab_with_stations();
    let run = sup(&lab.host, &["-a", "10.77.1.0/24"]);
    run.expect_code(0);
    assert_eq!(
        run.stdout,
        "10.77.1.1\n10.77.1.2\n10.77.1.3\n10.77.1.11\n10.77.1.12\n",
        "{}",
        run.show()
    );
    assert_eq!(summary(&run.stderr), (254, 5, 249));
    let run = sup(&lab.host, &["-u", "10.77.1.1-20"]);
    run.expect_code(0);
    let expected: String = (4..=20)
        .filter(|i| *i != 11 && *i != 12)
        .map(|i| format!("10.77.1.{i}\n"))
        .collect();
    assert_eq!(run.stdout, expected, "{}", run.show());
    assert_eq!(summary(&run.stderr), (20, 5, 15));
}

#[test]
fn two_stations_with_one_address_show_a_conflict() {
    let lab = Lab::new();
    lab.add_station("twin", "02:e5:a7:01:00:33", "10.77.1.3/24");
    let run = sup(&lab.host, &["10.77.1.1-5"]);
    run.expect_code(0);
    let line = run
        .lines()
        .into_iter()
        .find(|l| l.starts_with("10.77.1.3 is alive"))
        .unwrap_or_else(|| panic!("{}", run.show()))
        .to_string();
    let macs = ["02-E5-A7-01-00-03", "02-E5-A7-01-00-33"];
    assert!(
        line.contains("(address conflict: also at ") && macs.iter().all(|m| line.contains(m)),
        "{line}"
    );
}

#[test]
fn a_partly_dead_range_with_names_and_errors() {
    let lab = Lab::new();
    let _names = names::confine(&lab.host, &[(addrs::REMOTE, "remote.lab")]);
    // 10.77.2.1 (the gateway's far side), .2 and .10-.29 answer; .30-.40
    // are dead behind the gateway; 10.99.0.1 has no route at the gateway.
    let run = sup(
        &lab.host,
        &["10.77.2.1-40", "remote.lab", addrs::UNROUTED, "-w", "300"],
    );
    run.expect_code(0);
    let mut live = vec!["10.77.2.1".to_string(), "10.77.2.2".to_string()];
    live.extend((10..=29).map(|i| format!("10.77.2.{i}")));
    assert_eq!(alive(&run), live.into_iter().collect(), "{}", run.show());
    // remote.lab is 10.77.2.2, already in the range: asked once.
    assert_eq!(summary(&run.stdout), (41, 22, 19));
    assert!(
        run.lines()
            .contains(&"10.99.0.1 is unreachable (Destination net unreachable from 10.77.1.1)"),
        "{}",
        run.show()
    );
}

#[test]
fn json_objects_for_every_target() {
    let lab = lab_with_stations();
    let run = sup(
        &lab.host,
        &["--json", "10.77.1.11-13", addrs::REMOTE, addrs::UNROUTED],
    );
    run.expect_code(0);
    let lines: Vec<Value> = run
        .lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert_eq!(lines.len(), 6, "{}", run.show());
    let host = |addr: &str| {
        lines
            .iter()
            .find(|v| v["addr"] == addr)
            .unwrap_or_else(|| panic!("{addr}: {}", run.show()))
    };
    for v in &lines[..5] {
        assert_eq!(v["type"], "host");
        for key in ["addr", "alive", "rtt_ms", "ttl", "mac", "via", "error"] {
            assert!(v.get(key).is_some(), "{key} in {v}");
        }
    }
    let st1 = host("10.77.1.11");
    assert_eq!(
        (&st1["alive"], &st1["via"], &st1["ttl"]),
        (&Value::Bool(true), &"arp".into(), &64.into())
    );
    assert_eq!(st1["mac"], "02-E5-A7-01-00-11");
    let quiet = host("10.77.1.12");
    assert_eq!(
        (&quiet["alive"], &quiet["ttl"]),
        (&Value::Bool(true), &Value::Null)
    );
    assert!(
        quiet["rtt_ms"].as_f64().is_some(),
        "the ARP's time: {quiet}"
    );
    let dead = host("10.77.1.13");
    assert_eq!(
        (&dead["alive"], &dead["error"]),
        (&Value::Bool(false), &Value::Null)
    );
    let remote = host(addrs::REMOTE);
    assert_eq!(
        (&remote["via"], &remote["ttl"], &remote["mac"]),
        (&"icmp".into(), &63.into(), &Value::Null)
    );
    let unrouted = host(addrs::UNROUTED);
    assert_eq!(
        unrouted["error"],
        "Destination net unreachable from 10.77.1.1"
    );
    let summary = &lines[5];
    assert_eq!(summary["type"], "summary");
    assert_eq!(
        (
            &summary["targets"],
            &summary["alive"],
            &summary["unreachable"],
            &summary["interrupted"]
        ),
        (&5.into(), &3.into(), &2.into(), &Value::Bool(false))
    );
}

#[test]
fn ctrl_c_prints_what_is_known_and_the_summary() {
    let lab = Lab::new();
    lab.add_routed_block();
    // 254 targets at 20 a second: 12 s unless interrupted.
    let started = Instant::now();
    let sup = spawn_sup(&lab.host, &["--rate", "20", addrs::ROUTED_BLOCK]);
    std::thread::sleep(Duration::from_millis(1500));
    sup.interrupt();
    let run = sup.wait(
        Duration::from_secs(5),
        "sup --rate 20 10.77.3.0/24".into(),
        started,
    );
    run.expect_code(0);
    let found = alive(&run).len();
    assert!((10..100).contains(&found), "{found}: {}", run.show());
    let last = run.lines().last().copied().unwrap_or_default().to_string();
    assert!(
        last.starts_with("254 targets, ")
            && last.contains(" unknown, ")
            && last.ends_with(" (interrupted)"),
        "{last}"
    );
    assert!(run.elapsed < Duration::from_secs(5), "{}", run.show());
}

#[test]
fn bad_targets_are_one_sentence_and_exit_2() {
    let lab = Lab::new();
    for (args, message) in [
        (vec!["10.0.0.0/33"], "10.0.0.0/33: a prefix length is 0 to 32"),
        (vec!["10.0.0.9-10.0.0.1"], "10.0.0.9-10.0.0.1: the range ends before it starts"),
        (
            vec!["10.0.0.0/8"],
            "10.0.0.0/8 is 16777214 addresses, more than the 65536 a sweep takes: raise the limit with --max-targets N",
        ),
        (
            vec!["--max-targets", "100", "10.77.1.0/24"],
            "10.77.1.0/24 is 254 addresses, more than the 100 a sweep takes: raise the limit with --max-targets N",
        ),
        (
            vec!["-t", "10.77.1.0/24"],
            "-t applies to one target; a sweep sends each target one probe (and --retries more) at --rate",
        ),
        (
            vec!["--arp", "10.77.2.1-3"],
            "10.77.2.1 is not on-link: it is routed via 10.77.1.1 on lab0; --arp reaches only the local network",
        ),
        (vec!["224.0.0.1-3"], "sup sweeps hosts: 224.0.0.1-3 holds 224.0.0.1, a multicast address"),
    ] {
        let run = sup(&lab.host, &args);
        run.expect_code(2);
        assert_eq!(run.stdout, "", "{}", run.show());
        assert_eq!(run.stderr, format!("{message}\n"), "{}", run.show());
        assert!(run.elapsed < Duration::from_secs(5), "{}", run.show());
    }
}

#[test]
fn a_slash_16_is_swept_at_the_default_pace_with_flat_memory() {
    // 10.77.0.0/16 from the host: 10.77.1.0/24 on-link (the rest of the
    // /16 is routed via the gateway, which answers "unreachable" or ARPs
    // in vain). Bounded with --max-targets and a fast --rate so it fits a
    // test; the memory bound is the point.
    let lab = Lab::new();
    let run = sup(
        &lab.host,
        &[
            "-a",
            "--rate",
            "20000",
            "-w",
            "200",
            "--retries",
            "0",
            "10.77.0.0/16",
        ],
    );
    run.expect_code(0);
    assert!(run.stdout.contains("10.77.1.1\n"), "{}", run.show());
    let (targets, _, _) = summary(&run.stderr);
    assert_eq!(targets, 65_534);
}
