//! `sup --trace` end to end over a path of three real routers
//! (`ersatz_e2e::chain`): the hops and their addresses against the chain's
//! topology, a router that sends no Time Exceeded, a router without a
//! route, `-h`, names from the namespace's hosts file, mtr's report checked
//! against what tcpdump saw, JSON, Ctrl+C, bad values.
//!
//! Run `cargo build -p sup` first (see tests/sup.rs).

use std::time::{Duration, Instant};

use ersatz_e2e::chain::{addrs, Chain};
use ersatz_e2e::names;
use ersatz_e2e::servers::Servers;
use ersatz_e2e::sup::{expect_clap_error, run_sup, spawn_sup, Run};
use ersatz_e2e::Ns;
use serde_json::Value;

const BOUND: Duration = Duration::from_secs(30);

fn sup(ns: &Ns, args: &[&str]) -> Run {
    run_sup(ns, args, BOUND)
}

/// The echo requests with TTL `ttl` that tcpdump saw leave the host (not
/// the quotes of them inside ICMP errors).
fn requests_with_ttl(frames: &[String], ttl: u8) -> usize {
    frames
        .iter()
        .filter(|f| {
            f.split_once(": ICMP ").is_some_and(|(head, tail)| {
                head.contains(&format!("ttl {ttl},"))
                    && head.contains(&format!(") {} > ", addrs::HOST))
                    && tail.starts_with("echo request")
            })
        })
        .count()
}

/// The hop lines: (ttl, the rest after the number).
fn hops(run: &Run) -> Vec<(u8, String)> {
    run.lines()
        .iter()
        .filter_map(|l| {
            let (ttl, rest) = l.trim_start().split_once(' ')?;
            Some((ttl.parse().ok()?, rest.to_string()))
        })
        .collect()
}

/// The three times of a hop line that answered, and who answered.
fn answered(rest: &str) -> (Vec<f64>, String) {
    let mut times = Vec::new();
    let mut words = rest.split_whitespace().peekable();
    while let Some(w) = words.peek() {
        match w.parse::<f64>() {
            Ok(t) => {
                times.push(t);
                words.next();
                assert_eq!(words.next(), Some("ms"), "{rest}");
            }
            Err(_) => break,
        }
    }
    (times, words.collect::<Vec<_>>().join(" "))
}

#[test]
fn every_hop_of_the_path_answers() {
    let chain = Chain::new();
    let dump = chain.host.tcpdump("lab0", "icmp");
    let run = sup(&chain.host, &["--trace", "-d", addrs::TARGET]);
    let frames = dump.stop();
    run.expect_code(0);
    let lines = run.lines();
    assert_eq!(lines[0], "", "{}", run.show());
    assert_eq!(
        lines[1],
        "Tracing route to 10.78.3.2 over a maximum of 30 hops",
        "{}",
        run.show()
    );
    assert_eq!(lines[2], "");
    assert_eq!(lines.last(), Some(&"Trace complete."), "{}", run.show());
    let hops = hops(&run);
    assert_eq!(hops.len(), 4, "{}", run.show());
    let path = [
        addrs::ROUTERS[0],
        addrs::ROUTERS[1],
        addrs::ROUTERS[2],
        addrs::TARGET,
    ];
    for ((ttl, rest), (expected_ttl, addr)) in hops.iter().zip((1..).zip(path)) {
        assert_eq!(*ttl, expected_ttl);
        let (times, who) = answered(rest);
        assert_eq!(times.len(), 3, "{rest}");
        assert!(times.iter().all(|t| *t > 0.0 && *t < 50.0), "{rest}");
        assert_eq!(who, addr, "{}", run.show());
    }
    // On the wire: clean checksums, TTLs from 1 up, and the replies.
    assert!(
        !frames
            .iter()
            .any(|f| f.contains("bad cksum") || f.contains("wrong icmp cksum")),
        "{frames:#?}"
    );
    for ttl in 1..=4 {
        assert_eq!(requests_with_ttl(&frames, ttl), 3, "ttl {ttl}: {frames:#?}");
    }
    assert_eq!(
        frames
            .iter()
            .filter(|f| f.contains("time exceeded in-transit"))
            .count(),
        9,
        "{frames:#?}"
    );
}

/// `--tcp`: SYNs through a path whose target drops every ping: the same
/// hops, the target's SYN-ACK (then our RST) or RST, nothing left half
/// open, no SYN answered with an RST for arriving while another was half
/// open (each probe its own source port).
#[test]
fn a_tcp_trace_reaches_a_target_that_drops_ping() {
    let chain = Chain::new();
    let _servers = Servers::start(&chain.target);
    chain
        .target
        .sh("sysctl -qw net.ipv4.icmp_echo_ignore_all=1");
    let dump = chain.host.tcpdump("lab0", "tcp or icmp");
    let run = sup(
        &chain.host,
        &["--trace", "-d", "--tcp", "443", addrs::TARGET],
    );
    let frames = dump.stop();
    run.expect_code(0);
    assert_eq!(
        run.lines()[1],
        "Tracing route to 10.78.3.2 on TCP port 443 over a maximum of 30 hops",
        "{}",
        run.show()
    );
    assert_eq!(
        run.lines().last(),
        Some(&"Trace complete: port 443 open."),
        "{}",
        run.show()
    );
    let hops = hops(&run);
    let path = [
        addrs::ROUTERS[0],
        addrs::ROUTERS[1],
        addrs::ROUTERS[2],
        addrs::TARGET,
    ];
    assert_eq!(hops.len(), 4, "{}", run.show());
    for ((_, rest), addr) in hops.iter().zip(path) {
        let (times, who) = answered(rest);
        assert_eq!((times.len(), who.as_str()), (3, addr), "{}", run.show());
    }
    let ours = |flags: &str| {
        frames
            .iter()
            .filter(|f| {
                f.contains(&format!("{}.", addrs::HOST))
                    && f.contains(" > 10.78.3.2.443: ")
                    && f.contains(flags)
            })
            .count()
    };
    let syn_acks = frames.iter().filter(|f| f.contains("Flags [S.],")).count();
    // Every probe with TTL 4 or more reaches the target: each SYN-ACK
    // gets our RST; none is an RST for a SYN that came at the wrong time.
    assert!(syn_acks >= 3, "{frames:#?}");
    assert!(ours("Flags [R],") >= syn_acks, "{frames:#?}");
    assert_eq!(
        frames
            .iter()
            .filter(|f| f.contains("10.78.3.2.443 > ") && f.contains("Flags [R."))
            .count(),
        0,
        "{frames:#?}"
    );
    assert!(ours("Flags [S],") >= 12, "{frames:#?}");
    assert!(
        !frames.iter().any(|f| f.contains("incorrect")),
        "{frames:#?}"
    );
    let half_open = chain.target.sh("ss -Htan state syn-recv");
    assert_eq!(half_open.trim(), "", "nothing half open");
    // A closed port: the RST ends the trace all the same.
    let run = sup(
        &chain.host,
        &["--trace", "-d", "--tcp", "81", "--json", addrs::TARGET],
    );
    run.expect_code(0);
    let summary: Value = serde_json::from_str(run.lines().last().copied().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{e}: {}", run.show()));
    assert_eq!(
        (
            &summary["reached"],
            &summary["hops"],
            &summary["port"],
            &summary["state"]
        ),
        (&true.into(), &4.into(), &81.into(), &"closed".into()),
        "{}",
        run.show()
    );
}

#[test]
fn a_silent_router_is_stars_and_costs_less_than_one_timeout() {
    let chain = Chain::new();
    chain.silence(1);
    let started = Instant::now();
    let run = sup(&chain.host, &["--trace", "-d", "-w", "1000", addrs::TARGET]);
    let took = started.elapsed();
    run.expect_code(0);
    let hops = hops(&run);
    assert_eq!(hops.len(), 4, "{}", run.show());
    assert_eq!(
        hops[1].1,
        "    *          *          *        Request timed out.",
        "{}",
        run.show()
    );
    assert_eq!(answered(&hops[3].1).1, addrs::TARGET);
    // Hops 3 and 4 answered in well under a millisecond: hop 2 is given up
    // long before its 1 s.
    assert!(
        took < Duration::from_millis(900),
        "{took:?}: {}",
        run.show()
    );
}

#[test]
fn every_hop_silent_costs_one_timeout_in_all() {
    let chain = Chain::new();
    // Nothing answers past r1 for an address r3 has no route to, once r3's
    // unreachable errors are dropped too.
    chain.routers[2].sh(
        "nft add table ip quiet && nft add chain ip quiet out '{ type filter hook output priority 0; }' && nft add rule ip quiet out icmp type destination-unreachable drop",
    );
    let started = Instant::now();
    let run = sup(
        &chain.host,
        &["--trace", "-d", "-w", "700", "-h", "6", addrs::UNROUTED],
    );
    let took = started.elapsed();
    run.expect_code(1);
    let hops = hops(&run);
    assert_eq!(hops.len(), 6, "{}", run.show());
    for (_, rest) in &hops[3..] {
        assert!(rest.ends_with("Request timed out."), "{}", run.show());
    }
    // Six hops, eighteen probes, waited out together: one -w, not six.
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_millis(1500),
        "{took:?}"
    );
}

#[test]
fn a_router_without_a_route_ends_the_trace() {
    let chain = Chain::new();
    let run = sup(&chain.host, &["--trace", "-d", addrs::UNROUTED]);
    run.expect_code(1);
    let hops = hops(&run);
    assert_eq!(hops.len(), 3, "{}", run.show());
    assert_eq!(
        hops[2].1,
        " 10.78.2.2  reports: Destination net unreachable.",
        "{}",
        run.show()
    );
    assert_eq!(run.lines().last(), Some(&"Trace complete."));
}

#[test]
fn max_hops_stops_the_trace() {
    let chain = Chain::new();
    let run = sup(&chain.host, &["--trace", "-d", "-h", "2", addrs::TARGET]);
    run.expect_code(1);
    assert_eq!(
        run.lines()[1],
        "Tracing route to 10.78.3.2 over a maximum of 2 hops"
    );
    let hops = hops(&run);
    assert_eq!(hops.iter().map(|h| h.0).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(answered(&hops[1].1).1, addrs::ROUTERS[1]);
}

#[test]
fn names_come_from_the_hosts_file() {
    let chain = Chain::new();
    let _names = names::confine(
        &chain.host,
        &[(addrs::TARGET, "target.lab"), (addrs::ROUTERS[1], "r2.lab")],
    );
    let run = sup(&chain.host, &["--trace", "target.lab"]);
    run.expect_code(0);
    let lines = run.lines();
    assert_eq!(
        lines[1],
        "Tracing route to target.lab [10.78.3.2]",
        "{}",
        run.show()
    );
    assert_eq!(lines[2], "over a maximum of 30 hops:");
    let hops = hops(&run);
    assert_eq!(
        answered(&hops[1].1).1,
        "r2.lab [10.78.1.2]",
        "{}",
        run.show()
    );
    assert_eq!(
        answered(&hops[0].1).1,
        addrs::ROUTERS[0],
        "no name: the address"
    );
    assert_eq!(answered(&hops[3].1).1, "target.lab [10.78.3.2]");
    assert!(run.elapsed < Duration::from_secs(5), "{}", run.show());
}

#[test]
fn the_report_counts_what_went_over_the_wire() {
    let chain = Chain::new();
    let dump = chain.host.tcpdump("lab0", "icmp");
    let run = sup(
        &chain.host,
        &[
            "--trace",
            "--report",
            "-d",
            "-n",
            "5",
            "--interval",
            "100",
            addrs::TARGET,
        ],
    );
    let frames = dump.stop();
    run.expect_code(0);
    let lines = run.lines();
    assert!(lines[0].starts_with("HOST: "), "{}", run.show());
    assert!(lines[0].ends_with("  Loss%   Snt    Last     Avg    Best    Wrst   StDev"));
    let rows: Vec<Vec<&str>> = lines[1..]
        .iter()
        .filter(|l| l.contains(".|-- "))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 4, "{}", run.show());
    let path = [
        addrs::ROUTERS[0],
        addrs::ROUTERS[1],
        addrs::ROUTERS[2],
        addrs::TARGET,
    ];
    for (i, row) in rows.iter().enumerate() {
        let ttl = i + 1;
        assert_eq!(row[0], format!("{ttl}.|--"));
        assert_eq!(row[1], path[i]);
        assert_eq!(row[2], "0.0%", "{}", run.show());
        let sent: usize = row[3].parse().unwrap();
        assert_eq!(sent, 5);
        let on_wire = requests_with_ttl(&frames, ttl as u8);
        assert_eq!(on_wire, sent, "ttl {ttl}: {frames:#?}");
        let figures: Vec<f64> = row[4..9].iter().map(|v| v.parse().unwrap()).collect();
        let [last, avg, best, worst, stdev] = figures[..] else {
            panic!("{row:?}")
        };
        assert!(
            best <= avg && avg <= worst && best <= last && last <= worst,
            "{row:?}"
        );
        assert!(stdev >= 0.0 && stdev <= worst - best + 0.001, "{row:?}");
    }
}

#[test]
fn json_hops_and_summary() {
    let chain = Chain::new();
    let run = sup(&chain.host, &["--trace", "-d", "--json", addrs::TARGET]);
    run.expect_code(0);
    let lines: Vec<Value> = run
        .lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert_eq!(lines.len(), 5, "{}", run.show());
    for (i, hop) in lines[..4].iter().enumerate() {
        assert_eq!(hop["type"], "hop");
        assert_eq!(hop["ttl"], i as u64 + 1);
        let probes = hop["probes"].as_array().unwrap();
        assert_eq!(probes.len(), 3);
        for p in probes {
            assert!(p["time_ms"].as_f64().is_some_and(|t| t > 0.0), "{hop}");
            assert!(p["from"].is_string(), "{hop}");
        }
        assert_eq!(hop["name"], Value::Null);
    }
    assert_eq!(lines[3]["probes"][0]["from"], addrs::TARGET);
    let summary = &lines[4];
    assert_eq!(
        (&summary["type"], &summary["reached"], &summary["hops"]),
        (&"summary".into(), &Value::Bool(true), &4.into())
    );
}

#[test]
fn ctrl_c_ends_a_report_that_runs_until_stopped() {
    let chain = Chain::new();
    let started = Instant::now();
    let sup = spawn_sup(
        &chain.host,
        &[
            "--trace",
            "--report",
            "-t",
            "-d",
            "--interval",
            "200",
            addrs::TARGET,
        ],
    );
    std::thread::sleep(Duration::from_millis(1200));
    sup.interrupt();
    let run = sup.wait(
        Duration::from_secs(5),
        "sup --trace --report -t".into(),
        started,
    );
    run.expect_code(0);
    let tables = run
        .lines()
        .iter()
        .filter(|l| l.starts_with("HOST: "))
        .count();
    // A table a cycle (about six), and the last one at the end.
    assert!(tables >= 3, "{}", run.show());
    assert_eq!(run.lines().last(), Some(&"Control-C"), "{}", run.show());
}

#[test]
fn bad_values_are_one_clap_error() {
    let chain = Chain::new();
    for (args, mentions) in [
        (vec!["--trace", "-h", "0", addrs::TARGET], "'0'"),
        (vec!["--trace", "-h", "256", addrs::TARGET], "256"),
        (vec!["--trace", "-w", "-1", addrs::TARGET], "-1"),
        (vec!["-h", "3", addrs::TARGET], "--trace"),
        (vec!["--trace", "--arp", addrs::TARGET], "--arp"),
    ] {
        let run = sup(&chain.host, &args);
        expect_clap_error(&run, mentions);
    }
}
