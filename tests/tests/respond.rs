//! `sup --respond` end to end: a virtual host on the lab's host link that
//! the kernels of the neighbour and the gateway ping and arping, also with
//! fragmented requests; its MAC in their neighbour tables; tcpdump judging
//! its replies; a conflict and our own address refused. (A flood into it:
//! tests/hostile.rs.)
//!
//! Run `cargo build -p sup` first (see tests/sup.rs).

use std::time::{Duration, Instant};

use ersatz_e2e::sup::{run_sup, spawn_sup, KillOnDrop, Run};
use ersatz_e2e::{addrs, Lab, Ns};
use serde_json::Value;

const BOUND: Duration = Duration::from_secs(30);
/// The address sup answers for: on the host's link, nobody's.
const VIRTUAL: &str = "10.77.1.50";
const HOST_MAC: &str = "02:e5:a7:01:00:02";

/// Starts `sup --respond VIRTUAL extra...` in the host and waits until it
/// answers (its ARP for the address, 0.5 s, then the announcement).
fn respond(lab: &Lab, extra: &[&str]) -> (KillOnDrop, Instant) {
    let mut args = vec!["--respond"];
    args.extend_from_slice(extra);
    args.push(VIRTUAL);
    let started = Instant::now();
    let sup = spawn_sup(&lab.host, &args);
    // Bounded: until the neighbour's kernel gets an ARP answer for it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !lab
        .neighbour
        .sh_status(&format!("ping -n -q -c 1 -W 1 {VIRTUAL} >/dev/null"))
        .status
        .success()
    {
        assert!(
            Instant::now() < deadline,
            "sup --respond did not answer within 10 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (sup, started)
}

fn stop(sup: KillOnDrop, started: Instant) -> Run {
    sup.interrupt();
    sup.wait(Duration::from_secs(5), "sup --respond".into(), started)
}

/// The kernel's ping from `ns`: (sent, received) from its summary line.
fn kernel_ping(ns: &Ns, args: &str) -> (u32, u32) {
    let out = ns.sh_status(&format!("ping -n {args} {VIRTUAL}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or_else(|| panic!("ping {args}: {text}"));
    let n: Vec<u32> = line
        .split(", ")
        .take(2)
        .map(|p| p.split(' ').next().unwrap().parse().unwrap())
        .collect();
    (n[0], n[1])
}

#[test]
fn kernels_ping_and_arping_the_virtual_host() {
    let lab = Lab::new();
    let dump = lab.neighbour.tcpdump("lab0", "");
    let (sup, started) = respond(&lab, &[]);
    assert_eq!(kernel_ping(&lab.neighbour, "-c 3 -i 0.2 -W 1"), (3, 3));
    assert_eq!(kernel_ping(&lab.gw, "-c 2 -i 0.2 -W 1"), (2, 2));
    // Fragmented both ways: 3000 bytes of payload over a 1500-byte MTU.
    assert_eq!(
        kernel_ping(&lab.neighbour, "-c 2 -i 0.2 -W 1 -s 3000"),
        (2, 2)
    );
    // arping (iputils): two ARP requests, two replies from our MAC.
    let arping = lab
        .neighbour
        .sh(&format!("arping -c 2 -w 3 -I lab0 {VIRTUAL}"));
    assert!(arping.contains("Received 2 response(s)"), "{arping}");
    assert!(arping.to_lowercase().contains(HOST_MAC), "{arping}");
    let neigh = lab.neighbour.sh(&format!("ip neigh show {VIRTUAL}"));
    assert!(neigh.contains(HOST_MAC), "{neigh}");
    let run = stop(sup, started);
    let frames = dump.stop();
    run.expect_code(0);
    let lines = run.lines();
    assert_eq!(
        lines[1],
        format!(
            "Answering ARP and ping for {VIRTUAL} [02-E5-A7-01-00-02] on lab0 (Ctrl+C to stop):"
        ),
        "{}",
        run.show()
    );
    let from_nb = lines
        .iter()
        .filter(|l| l.starts_with("Answered echo request from 10.77.1.3: seq="))
        .count();
    // The 1 s probes of `respond` waiting, 3 and 2 more.
    assert!(from_nb >= 5, "{}", run.show());
    assert!(
        lines.contains(&"Answered echo request from 10.77.1.3: seq=1 bytes=3000"),
        "{}",
        run.show()
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Answered echo request from 10.77.1.1: ")),
        "{}",
        run.show()
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("Answered ARP from 10.77.1.3 [02-E5-A7-01-00-03]")),
        "{}",
        run.show()
    );
    let summary = lines
        .iter()
        .find(|l| l.starts_with("Answered ") && l.contains(" echo requests and "))
        .unwrap_or_else(|| panic!("{}", run.show()));
    assert!(
        summary.ends_with("0 over the rate (1000 a second), not answered."),
        "{summary}"
    );
    assert_eq!(lines.last(), Some(&"Control-C"));
    // tcpdump: our announcement, clean replies, fragments of 3000 bytes.
    assert!(
        frames
            .iter()
            .any(|f| f.contains(&format!("Request who-has {VIRTUAL} tell {VIRTUAL}"))),
        "a gratuitous ARP: {frames:#?}"
    );
    let replies: Vec<&String> = frames
        .iter()
        .filter(|f| f.contains(&format!("{VIRTUAL} > 10.77.1.3: ICMP echo reply")))
        .collect();
    // At least the one of `respond`'s wait, 3, and the 2 fragmented.
    assert!(replies.len() >= 6, "{frames:#?}");
    assert!(
        frames
            .iter()
            .all(|f| !f.contains("bad cksum") && !f.contains("wrong icmp cksum")),
        "{frames:#?}"
    );
    assert!(
        frames
            .iter()
            .any(|f| f.contains(&format!("{VIRTUAL} > 10.77.1.3")) && f.contains("flags [+]")),
        "the 3000-byte reply fragmented: {frames:#?}"
    );
}

#[test]
fn another_mac_answers_in_promiscuous_mode() {
    let lab = Lab::new();
    let (sup, started) = respond(&lab, &["--mac", "02:00:5e:10:00:50", "-q"]);
    assert_eq!(kernel_ping(&lab.neighbour, "-c 2 -i 0.2 -W 1"), (2, 2));
    let neigh = lab.neighbour.sh(&format!("ip neigh show {VIRTUAL}"));
    assert!(neigh.contains("02:00:5e:10:00:50"), "{neigh}");
    let run = stop(sup, started);
    run.expect_code(0);
    assert!(run.stderr.contains("promiscuous mode"), "{}", run.show());
    // -q: no line per request, only the header and the counts.
    assert!(
        !run.stdout.contains("Answered echo request"),
        "{}",
        run.show()
    );
    assert!(run.stdout.contains(" echo requests and "), "{}", run.show());
}

#[test]
fn json_objects_for_answers_and_the_counts() {
    let lab = Lab::new();
    let (sup, started) = respond(&lab, &["--json"]);
    assert_eq!(
        kernel_ping(&lab.neighbour, "-c 2 -i 0.2 -W 1 -s 100"),
        (2, 2)
    );
    let run = stop(sup, started);
    run.expect_code(0);
    let lines: Vec<Value> = run
        .lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert!(lines
        .iter()
        .any(|v| v["type"] == "start" && v["addr"] == VIRTUAL && v["mac"] == "02-E5-A7-01-00-02"));
    assert!(
        lines
            .iter()
            .any(|v| v["type"] == "echo" && v["from"] == addrs::NEIGHBOUR && v["bytes"] == 100),
        "{}",
        run.show()
    );
    let summary = lines.last().unwrap();
    assert_eq!(summary["type"], "summary");
    assert!(summary["echo"].as_u64().unwrap() >= 2, "{summary}");
    assert_eq!(summary["over_rate"], 0);
    assert_eq!(summary["interrupted"], true);
}

#[test]
fn an_address_in_use_is_refused() {
    let lab = Lab::new();
    // The neighbour has it: it answers our ARP.
    let run = run_sup(&lab.host, &["--respond", addrs::NEIGHBOUR], BOUND);
    run.expect_code(2);
    assert_eq!(
        run.stderr,
        "10.77.1.3 is already in use: 02-E5-A7-01-00-03 answered our ARP for it\n"
    );
    // Our own address.
    let run = run_sup(&lab.host, &["--respond", addrs::HOST], BOUND);
    run.expect_code(2);
    assert_eq!(
        run.stderr,
        "10.77.1.2 is this machine's own address: the system already answers for it\n"
    );
    // Not on the link.
    let run = run_sup(&lab.host, &["--respond", "10.77.2.50"], BOUND);
    run.expect_code(2);
    assert!(run.stderr.contains("is not on-link"), "{}", run.show());
}
