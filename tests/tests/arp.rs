//! `sup --arp` end to end: our own ARP requests to real kernels on the
//! lab's host link, their answers in ping.exe's words with the MAC that gave
//! them, and what went over the wire as tcpdump saw it.
//!
//! Run `cargo build -p sup` first (see tests/sup.rs).

use std::time::Duration;

use ersatz_e2e::sup::{run_sup, spawn_sup, Run};
use ersatz_e2e::{addrs, Lab, Ns};
use serde_json::Value;

const BOUND: Duration = Duration::from_secs(30);
const HOST_MAC: &str = "02:e5:a7:01:00:02";
const GW_MAC: &str = "02-E5-A7-01-00-01";
const NB_MAC: &str = "02-E5-A7-01-00-03";
const TWIN_MAC: &str = "02-E5-A7-01-00-33";

fn sup(ns: &Ns, args: &[&str]) -> Run {
    run_sup(ns, args, BOUND)
}

/// The reply lines: (address, MAC, ms, duplicate).
fn replies(run: &Run) -> Vec<(String, String, f64, bool)> {
    run.lines()
        .iter()
        .filter_map(|l| l.strip_prefix("Reply from "))
        .map(|rest| {
            let (addr, rest) = rest.split_once(" [").expect("[MAC]");
            let (mac, rest) = rest.split_once("]: time=").expect("time");
            let (time, dup) = match rest.strip_suffix(" (DUP!)") {
                Some(t) => (t, true),
                None => (rest, false),
            };
            let ms: f64 = time
                .strip_suffix("ms")
                .and_then(|t| t.parse().ok())
                .unwrap_or_else(|| panic!("{time:?}: {}", run.show()));
            (addr.to_string(), mac.to_string(), ms, dup)
        })
        .collect()
}

/// The packets line of the statistics.
fn packets(run: &Run) -> &str {
    run.lines()
        .into_iter()
        .find(|l| l.starts_with("    Packets: "))
        .unwrap_or_else(|| panic!("no statistics: {}", run.show()))
}

#[test]
fn a_neighbour_answers_our_arp_requests() {
    let lab = Lab::new();
    let dump = lab.neighbour.tcpdump("lab0", "arp");
    let run = sup(
        &lab.host,
        &["--arp", "-n", "3", "--interval", "100", addrs::NEIGHBOUR],
    );
    let frames = dump.stop();
    run.expect_code(0);
    let lines = run.lines();
    assert_eq!(lines[0], "", "{}", run.show());
    assert_eq!(
        lines[1],
        format!("Pinging 10.77.1.3 with ARP requests from 10.77.1.2 [02-E5-A7-01-00-02]:"),
        "{}",
        run.show()
    );
    let got = replies(&run);
    assert_eq!(got.len(), 3, "{}", run.show());
    for (addr, mac, ms, dup) in &got {
        assert_eq!(
            (addr.as_str(), mac.as_str(), *dup),
            (addrs::NEIGHBOUR, NB_MAC, false)
        );
        assert!(*ms > 0.0 && *ms < 50.0, "{}", run.show());
    }
    assert_eq!(
        packets(&run),
        "    Packets: Sent = 3, Received = 3, Lost = 0 (0% loss),"
    );
    assert!(run.stdout.contains("Approximate round trip times"));
    // On the wire: exactly our three broadcast requests and their replies.
    let requests: Vec<&String> = frames
        .iter()
        .filter(|f| f.contains("Request who-has 10.77.1.3 tell 10.77.1.2"))
        .collect();
    assert_eq!(requests.len(), 3, "{frames:#?}");
    for r in &requests {
        assert!(
            r.contains(&format!("{HOST_MAC} > ff:ff:ff:ff:ff:ff")),
            "{r}"
        );
    }
    assert_eq!(
        frames
            .iter()
            .filter(|f| f.contains("Reply 10.77.1.3 is-at 02:e5:a7:01:00:03"))
            .count(),
        3,
        "{frames:#?}"
    );
}

#[test]
fn a_host_that_drops_every_ping_still_answers_arp() {
    let lab = Lab::new();
    lab.neighbour
        .sh("sysctl -qw net.ipv4.icmp_echo_ignore_all=1");
    let ping = sup(&lab.host, &["-n", "1", "-w", "300", addrs::NEIGHBOUR]);
    ping.expect_code(1);
    assert!(
        ping.stdout.contains("Request timed out."),
        "{}",
        ping.show()
    );
    let arp = sup(
        &lab.host,
        &["--arp", "-n", "2", "--interval", "50", addrs::NEIGHBOUR],
    );
    arp.expect_code(0);
    assert_eq!(replies(&arp).len(), 2, "{}", arp.show());
}

#[test]
fn the_gateway_answers_with_its_bridge_mac() {
    let lab = Lab::new();
    let run = sup(&lab.host, &["--arp", "-n", "1", addrs::GW]);
    run.expect_code(0);
    let got = replies(&run);
    assert_eq!(got.len(), 1, "{}", run.show());
    assert_eq!((got[0].0.as_str(), got[0].1.as_str()), (addrs::GW, GW_MAC));
}

#[test]
fn an_absent_host_times_out_and_exits_1() {
    let lab = Lab::new();
    let run = sup(
        &lab.host,
        &[
            "--arp",
            "-n",
            "2",
            "-w",
            "200",
            "--interval",
            "300",
            addrs::ABSENT,
        ],
    );
    run.expect_code(1);
    let lines = run.lines();
    assert_eq!(
        lines.iter().filter(|l| **l == "Request timed out.").count(),
        2,
        "{}",
        run.show()
    );
    assert_eq!(
        packets(&run),
        "    Packets: Sent = 2, Received = 0, Lost = 2 (100% loss),"
    );
    assert!(!run.stdout.contains("Approximate"), "{}", run.show());
}

#[test]
fn a_routed_target_is_refused_in_one_sentence() {
    let lab = Lab::new();
    let dump = lab.gw.tcpdump("br0", &format!("ether src {HOST_MAC}"));
    let run = sup(&lab.host, &["--arp", addrs::REMOTE]);
    let frames = dump.stop();
    run.expect_code(2);
    assert_eq!(run.stdout, "", "{}", run.show());
    assert_eq!(
        run.stderr,
        "10.77.2.2 is not on-link: it is routed via 10.77.1.1 on lab0; --arp reaches only the local network\n"
    );
    assert!(frames.is_empty(), "nothing sent: {frames:#?}");
    // With --json, the same sentence as a fatal object.
    let run = sup(&lab.host, &["--arp", "--json", addrs::REMOTE]);
    run.expect_code(2);
    let v: Value = serde_json::from_str(run.stdout.trim()).expect("one JSON object");
    assert_eq!(v["type"], "fatal");
    assert!(v["message"].as_str().unwrap().contains("is not on-link"));
}

#[test]
fn options_that_mean_nothing_for_arp_are_refused() {
    let lab = Lab::new();
    for extra in [["--flood"], ["-l"], ["-i"], ["-f"]] {
        let mut args = vec!["--arp"];
        args.extend(extra);
        if extra[0] == "-l" || extra[0] == "-i" {
            args.push("64");
        }
        args.push(addrs::NEIGHBOUR);
        let run = sup(&lab.host, &args);
        run.expect_code(2);
        assert!(run.stderr.contains("cannot be used with"), "{}", run.show());
    }
}

#[test]
fn two_stations_with_one_address_are_a_conflict() {
    let lab = Lab::new();
    let _twin = lab.add_station("twin", "02:e5:a7:01:00:33", "10.77.1.3/24");
    let run = sup(
        &lab.host,
        &["--arp", "-n", "3", "--interval", "100", addrs::NEIGHBOUR],
    );
    run.expect_code(0);
    let got = replies(&run);
    // Every request: one answer counted, the other station's marked.
    assert_eq!(got.len(), 6, "{}", run.show());
    assert_eq!(got.iter().filter(|r| r.3).count(), 3, "{}", run.show());
    let macs: std::collections::BTreeSet<&str> = got.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(
        macs,
        [NB_MAC, TWIN_MAC].into_iter().collect(),
        "{}",
        run.show()
    );
    assert_eq!(
        packets(&run),
        "    Packets: Sent = 3, Received = 3, Lost = 0 (0% loss),"
    );
    let conflict = run
        .lines()
        .into_iter()
        .find(|l| l.starts_with("    Duplicates: "))
        .unwrap_or_else(|| panic!("{}", run.show()))
        .to_string();
    assert!(
        conflict.starts_with("    Duplicates: 3, address conflict: 2 MACs answered (")
            && conflict.contains(NB_MAC)
            && conflict.contains(TWIN_MAC),
        "{conflict}"
    );
}

#[test]
fn json_lines_for_replies_and_timeouts() {
    let lab = Lab::new();
    let run = sup(
        &lab.host,
        &[
            "--arp",
            "--json",
            "-n",
            "2",
            "--interval",
            "50",
            addrs::NEIGHBOUR,
        ],
    );
    run.expect_code(0);
    let lines: Vec<Value> = run
        .lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert_eq!(lines.len(), 4, "{}", run.show());
    assert_eq!(lines[0]["type"], "start");
    assert_eq!(lines[0]["via"], "arp");
    assert_eq!(lines[0]["mac"], "02-E5-A7-01-00-02");
    for (i, v) in lines[1..3].iter().enumerate() {
        assert_eq!(v["type"], "arp_reply", "{v}");
        assert_eq!(v["seq"], i as u64 + 1);
        assert_eq!(v["from"], addrs::NEIGHBOUR);
        assert_eq!(v["mac"], NB_MAC);
        assert!(v["time_ms"].as_f64().is_some_and(|t| t > 0.0), "{v}");
    }
    let summary = &lines[3];
    assert_eq!(summary["type"], "summary");
    assert_eq!(
        (summary["sent"].as_u64(), summary["received"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(summary["duplicates"], 0);
    assert_eq!(summary["macs"], serde_json::json!([NB_MAC]));
    assert_eq!(summary["interrupted"], false);

    let run = sup(
        &lab.host,
        &["--arp", "--json", "-n", "1", "-w", "100", addrs::ABSENT],
    );
    run.expect_code(1);
    let v: Value = serde_json::from_str(run.lines()[1]).expect("JSON");
    assert_eq!(v, serde_json::json!({"type": "timeout", "seq": 1}));
}

#[test]
fn ctrl_c_prints_the_statistics() {
    let lab = Lab::new();
    let sup = spawn_sup(
        &lab.host,
        &["--arp", "-t", "--interval", "100", addrs::NEIGHBOUR],
    );
    std::thread::sleep(Duration::from_millis(600));
    sup.interrupt();
    let run = sup.wait(
        Duration::from_secs(5),
        "sup --arp -t".into(),
        std::time::Instant::now(),
    );
    run.expect_code(0);
    assert_eq!(run.lines().last(), Some(&"Control-C"), "{}", run.show());
    assert!(replies(&run).len() >= 3, "{}", run.show());
    assert!(packets(&run).starts_with("    Packets: Sent = "));
}
