//! `sup --flood` end to end: the real binary in the lab's host namespace,
//! flooding the gateway's far side and the remote. What is asserted is
//! correctness (every request answered and counted once, 100% loss when
//! nobody answers, the statistics after Ctrl+C, exit codes), never speed:
//! tests/bench/run.sh measures that.
//!
//! As for tests/sup.rs, build the binary first: `cargo build -p sup`.

use std::time::{Duration, Instant};

use ersatz_e2e::sup::{finish, run_sup, spawn_sup, Run};
use ersatz_e2e::{addrs, Lab, Ns};
use serde_json::Value;

/// Bound on every sup run.
const BOUND: Duration = Duration::from_secs(60);

fn sup(ns: &Ns, args: &[&str]) -> Run {
    run_sup(ns, args, BOUND)
}

/// The flood's text output, checked line by line: the header, one progress
/// line, the statistics block, the rate line, `Control-C` if interrupted.
#[derive(Debug)]
struct Flood {
    /// Requests sent ('.' in the progress line).
    dots: usize,
    /// Replies counted (backspace, space, backspace).
    erased: usize,
    sent: u32,
    received: u32,
    loss_percent: u32,
    control_c: bool,
}

fn flood_output(run: &Run, target: &str) -> Flood {
    let show = run.show();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines.len() >= 7, "too few lines\n{show}");
    assert_eq!(lines[0], "", "{show}");
    assert_eq!(
        lines[1],
        format!("Pinging {target} with 32 bytes of data:"),
        "{show}"
    );
    let progress = lines[2];
    assert!(
        progress.chars().all(|c| matches!(c, '.' | '\u{8}' | ' ')),
        "the progress line has only dots and erased dots\n{show}"
    );
    let erased = progress.matches("\u{8} \u{8}").count();
    assert_eq!(lines[3], "", "{show}");
    assert_eq!(lines[4], format!("Ping statistics for {target}:"), "{show}");
    let numbers: Vec<u32> = lines[5]
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().expect("digits"))
        .collect();
    let [sent, received, lost, loss_percent] = numbers[..] else {
        panic!("Packets line {:?}\n{show}", lines[5]);
    };
    assert_eq!(
        lines[5],
        format!(
            "    Packets: Sent = {sent}, Received = {received}, Lost = {lost} ({loss_percent}% loss),"
        ),
        "{show}"
    );
    assert_eq!(lost, sent - received, "{show}");
    let mut rest = &lines[6..];
    if received > 0 {
        assert_eq!(
            rest.first(),
            Some(&"Approximate round trip times in milli-seconds:"),
            "{show}"
        );
        assert!(rest[1].starts_with("    Minimum = "), "{show}");
        rest = &rest[2..];
    }
    let rate = rest.first().unwrap_or(&"");
    assert!(
        rate.starts_with(&format!("Flood: {sent} requests in ")) && rate.ends_with(" requests/s"),
        "the rate line\n{show}"
    );
    let control_c = rest.get(1) == Some(&"Control-C");
    assert_eq!(rest.len(), 1 + usize::from(control_c), "{show}");
    Flood {
        dots: progress.matches('.').count(),
        erased,
        sent,
        received,
        loss_percent,
        control_c,
    }
}

#[test]
fn flood_of_20000_to_the_remote_gets_every_reply() {
    let lab = Lab::new();
    let run = sup(&lab.host, &["--flood", "-n", "20000", addrs::REMOTE]);
    let show = run.show();
    let flood = flood_output(&run, addrs::REMOTE);
    assert_eq!((flood.sent, flood.received), (20_000, 20_000), "{show}");
    // A dot per request, and each erased by its reply.
    assert_eq!((flood.dots, flood.erased), (20_000, 20_000), "{show}");
    assert!(!flood.control_c, "{show}");
    assert_eq!(run.code, 0, "{show}");
    assert_eq!(run.stderr, "", "{show}");
}

#[test]
fn flood_to_the_gateway_in_json_is_start_and_summary() {
    let lab = Lab::new();
    let run = sup(&lab.host, &["--flood", "--json", "-n", "5000", addrs::GW]);
    let show = run.show();
    let lines: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}\n{show}")))
        .collect();
    assert_eq!(lines.len(), 2, "{show}");
    assert_eq!(lines[0]["type"], "start", "{show}");
    let summary = &lines[1];
    assert_eq!(summary["type"], "summary", "{show}");
    assert_eq!(summary["sent"], 5000, "{show}");
    assert_eq!(summary["received"], 5000, "{show}");
    assert_eq!(summary["interrupted"], false, "{show}");
    assert!(
        summary["elapsed_ms"].as_f64().is_some_and(|ms| ms > 0.0),
        "{show}"
    );
    assert!(summary["min_ms"].as_f64().is_some(), "{show}");
    assert_eq!(run.code, 0, "{show}");
}

#[test]
fn flood_to_a_deaf_remote_is_all_lost_and_paced() {
    let lab = Lab::new();
    lab.remote.sh("sysctl -qw net.ipv4.icmp_echo_ignore_all=1");
    let run = sup(
        &lab.host,
        &["--flood", "-n", "300", "-w", "500", addrs::REMOTE],
    );
    let show = run.show();
    let flood = flood_output(&run, addrs::REMOTE);
    assert_eq!(
        (flood.sent, flood.received, flood.loss_percent),
        (300, 0, 100),
        "{show}"
    );
    assert_eq!((flood.dots, flood.erased), (300, 0), "{show}");
    assert_eq!(run.code, 1, "{show}");
    // With nothing coming back: a window's worth (128) at once, then one
    // every 10 ms (~50 by 500 ms), then the first 128 time out and free the
    // window (78 more at once), then one more as each ticked request times
    // out, 10 ms apart (the last 44): the last is sent at ~0.94 s and times
    // out at ~1.44 s. Not all at once (0.5 s), and not a timeout per
    // request (150 s).
    assert!(
        run.elapsed >= Duration::from_millis(1300) && run.elapsed < Duration::from_secs(15),
        "{show}"
    );
}

/// Reads a pipe to its end on a thread of its own.
fn read_all(mut pipe: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

#[test]
fn ctrl_c_during_a_flood_prints_the_statistics() {
    let lab = Lab::new();
    let args = ["--flood", "-t", addrs::REMOTE];
    let started = Instant::now();
    let mut child = spawn_sup(&lab.host, &args);
    // Read the output as it comes: the progress line alone outgrows a pipe.
    let c = child.0.as_mut().expect("child");
    let readers = [
        read_all(c.stdout.take().expect("stdout")),
        read_all(c.stderr.take().expect("stderr")),
    ];
    std::thread::sleep(Duration::from_millis(1500));
    child.interrupt();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        let c = child.0.as_mut().expect("child");
        if let Ok(Some(status)) = c.try_wait() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "sup did not exit within 10 s of SIGINT"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let [stdout, stderr] = readers.map(|r| r.join().expect("reader thread"));
    let out = std::process::Output {
        status,
        stdout,
        stderr,
    };
    let run = finish(
        format!("sup {} (SIGINT after 1.5 s)", args.join(" ")),
        out,
        started.elapsed(),
    );
    let show = run.show();
    let flood = flood_output(&run, addrs::REMOTE);
    assert!(flood.control_c, "Control-C last\n{show}");
    assert!(flood.sent >= 1000, "{show}");
    // Those in flight when it stopped are lost; no more than a window.
    assert!(
        flood.received <= flood.sent && flood.received + 128 >= flood.sent,
        "{show}"
    );
    assert_eq!(flood.dots as u32, flood.sent, "{show}");
    assert_eq!(flood.erased as u32, flood.received, "{show}");
    assert_eq!(run.code, 0, "{show}");
}
