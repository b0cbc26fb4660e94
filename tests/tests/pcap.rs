//! `--pcap FILE` end to end: what sup wrote, read back by tcpdump, against
//! sup's own lines (frames, and times to the microsecond), for the echo,
//! sweep and trace modes; an unwritable path refused before anything is
//! sent; Ctrl+C leaving a whole file.
//!
//! Run `cargo build -p sup` first (see tests/sup.rs).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use ersatz_e2e::chain::{self, Chain};
use ersatz_e2e::sup::{run_sup, spawn_sup, Run};
use ersatz_e2e::{addrs, Lab, Ns};

const BOUND: Duration = Duration::from_secs(30);
const HOST_MAC: &str = "02:e5:a7:01:00:02";

fn sup(ns: &Ns, args: &[&str]) -> Run {
    run_sup(ns, args, BOUND)
}

/// A file name of this test, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str) -> TempFile {
        TempFile(std::env::temp_dir().join(format!("sup-pcap-{}-{name}.pcap", std::process::id())))
    }

    fn arg(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temp path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// tcpdump's reading of the file: one line a frame, nanosecond epoch times
/// first. Panics (with tcpdump's words) if tcpdump finds it damaged.
fn read_back(file: &TempFile) -> Vec<String> {
    let out = Command::new("timeout")
        .args(["20", "tcpdump", "-nn", "-e", "-tt", "--nano", "-r"])
        .arg(&file.0)
        .output()
        .expect("run tcpdump -r");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tcpdump -r: {stderr}");
    assert!(!stderr.contains("truncated"), "tcpdump -r: {stderr}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// The frame's time in seconds (tcpdump -tt --nano: `1764750000.123456789`).
fn seconds(line: &str) -> f64 {
    line.split_whitespace()
        .next()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("a time in {line}"))
}

fn count(frames: &[String], needle: &str) -> usize {
    frames.iter().filter(|f| f.contains(needle)).count()
}

#[test]
fn an_echo_run_is_recorded_with_its_own_times() {
    let lab = Lab::new();
    let file = TempFile::new("echo");
    let run = sup(
        &lab.host,
        &[
            "-n",
            "3",
            "--interval",
            "50",
            "--pcap",
            file.arg(),
            addrs::REMOTE,
        ],
    );
    run.expect_code(0);
    assert_eq!(run.stderr, "", "{}", run.show());
    let frames = read_back(&file);
    // Our ARP for the gateway and its answer, three requests, three replies.
    assert_eq!(
        count(&frames, "Request who-has 10.77.1.1 tell 10.77.1.2"),
        1,
        "{frames:#?}"
    );
    assert_eq!(
        count(&frames, "Reply 10.77.1.1 is-at 02:e5:a7:01:00:01"),
        1,
        "{frames:#?}"
    );
    let requests: Vec<&String> = frames
        .iter()
        .filter(|f| f.contains("10.77.1.2 > 10.77.2.2: ICMP echo request"))
        .collect();
    let replies: Vec<&String> = frames
        .iter()
        .filter(|f| f.contains("10.77.2.2 > 10.77.1.2: ICMP echo reply"))
        .collect();
    assert_eq!((requests.len(), replies.len()), (3, 3), "{frames:#?}");
    assert!(requests
        .iter()
        .all(|r| r.contains(&format!("{HOST_MAC} > "))));
    // Each reply's time minus its request's is the time sup printed.
    let printed: Vec<f64> = run
        .lines()
        .iter()
        .filter_map(|l| l.split(" time=").nth(1))
        .map(|t| t.split("ms").next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(printed.len(), 3, "{}", run.show());
    for (i, ms) in printed.iter().enumerate() {
        let seq = format!(", seq {},", i + 1);
        let request = requests.iter().find(|r| r.contains(&seq)).unwrap();
        let reply = replies.iter().find(|r| r.contains(&seq)).unwrap();
        let from_file = (seconds(reply) - seconds(request)) * 1e3;
        assert!(
            (from_file - ms).abs() <= 0.0011,
            "seq {}: file {from_file:.6} ms, sup {ms} ms",
            i + 1
        );
    }
}

#[test]
fn an_unwritable_path_is_refused_before_anything_is_sent() {
    let lab = Lab::new();
    let dump = lab.gw.tcpdump("host0", &format!("ether src {HOST_MAC}"));
    let run = sup(
        &lab.host,
        &["--pcap", "/nonexistent-dir/x.pcap", addrs::REMOTE],
    );
    let frames = dump.stop();
    run.expect_code(2);
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        "cannot write the capture file /nonexistent-dir/x.pcap: No such file or directory (os error 2)\n"
    );
    assert!(frames.is_empty(), "nothing sent: {frames:#?}");
}

#[test]
fn ctrl_c_leaves_a_whole_file() {
    let lab = Lab::new();
    let file = TempFile::new("ctrlc");
    let started = Instant::now();
    let sup = spawn_sup(
        &lab.host,
        &["-t", "--interval", "20", "--pcap", file.arg(), addrs::GW],
    );
    std::thread::sleep(Duration::from_millis(700));
    sup.interrupt();
    let run = sup.wait(Duration::from_secs(5), "sup -t --pcap".into(), started);
    run.expect_code(0);
    let frames = read_back(&file);
    let replies = run
        .lines()
        .iter()
        .filter(|l| l.starts_with("Reply from"))
        .count();
    let recorded = count(&frames, "10.77.1.1 > 10.77.1.2: ICMP echo reply");
    assert!(replies >= 10, "{}", run.show());
    // Every reply sup printed is in the file (one more may have come in
    // as it stopped).
    assert!(
        recorded >= replies && recorded <= replies + 1,
        "{recorded} vs {replies}"
    );
}

#[test]
fn a_sweep_is_recorded() {
    let lab = Lab::new();
    let file = TempFile::new("sweep");
    let run = sup(&lab.host, &["10.77.1.1-4", "--pcap", file.arg()]);
    run.expect_code(0);
    let frames = read_back(&file);
    // .1 and .3 answer our ARP, then one echo each; .4 is asked twice.
    for ip in ["10.77.1.1", "10.77.1.3"] {
        assert_eq!(
            count(&frames, &format!("Request who-has {ip} tell 10.77.1.2")),
            1,
            "{frames:#?}"
        );
        assert_eq!(
            count(&frames, &format!("Reply {ip} is-at")),
            1,
            "{frames:#?}"
        );
        assert_eq!(
            count(&frames, &format!("{ip} > 10.77.1.2: ICMP echo reply")),
            1,
            "{frames:#?}"
        );
    }
    assert_eq!(
        count(&frames, "Request who-has 10.77.1.4 tell 10.77.1.2"),
        2,
        "{frames:#?}"
    );
}

#[test]
fn a_trace_is_recorded() {
    let chain = Chain::new();
    let file = TempFile::new("trace");
    let run = sup(
        &chain.host,
        &["--trace", "-d", "--pcap", file.arg(), chain::addrs::TARGET],
    );
    run.expect_code(0);
    let frames = read_back(&file);
    for router in &chain::addrs::ROUTERS {
        assert_eq!(
            count(
                &frames,
                &format!("{router} > 10.78.0.2: ICMP time exceeded in-transit")
            ),
            3,
            "{frames:#?}"
        );
    }
    assert!(
        count(&frames, "10.78.3.2 > 10.78.0.2: ICMP echo reply") >= 3,
        "{frames:#?}"
    );
}
