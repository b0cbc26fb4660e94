//! `sup --flood` end to end: the real binary in the lab's host namespace,
//! flooding the gateway's far side and the remote. What is asserted is
//! correctness (every request answered and counted once, 100% loss when
//! nobody answers, the statistics after Ctrl+C, exit codes), never speed:
//! tests/bench/run.sh measures that.
//!
//! As for tests/sup.rs, build the binary first: `cargo build -p sup`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ersatz_e2e::{addrs, Lab, Ns};
use serde_json::Value;

/// Bound on every sup run.
const BOUND: Duration = Duration::from_secs(60);

/// `target/<profile>/sup`, next to this test binary's `deps/` directory,
/// and not older than its sources (cargo test does not build it).
fn sup_binary() -> &'static Path {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match FOUND.get_or_init(find_sup) {
        Ok(path) => path,
        Err(message) => panic!("{message}"),
    }
}

fn find_sup() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("path of the test binary: {e}"))?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| format!("no profile directory above {}", exe.display()))?;
    let sup = profile_dir.join(format!("sup{}", std::env::consts::EXE_SUFFIX));
    let build = "`cargo build -p sup` (cargo test does not build the sup binary)";
    let built = std::fs::metadata(&sup)
        .and_then(|m| m.modified())
        .map_err(|_| format!("{} is missing: build it first with {build}", sup.display()))?;
    let dep_info = std::fs::read_to_string(profile_dir.join("sup.d")).unwrap_or_default();
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
    for source in sources {
        if let Ok(at) = std::fs::metadata(&source).and_then(|m| m.modified()) {
            if at > built {
                return Err(format!(
                    "{} is older than {}: rebuild it with {build}",
                    sup.display(),
                    source.display()
                ));
            }
        }
    }
    Ok(sup)
}

/// One finished run of sup.
#[derive(Debug)]
struct Run {
    command: String,
    code: i32,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Run {
    fn show(&self) -> String {
        // The progress line can be 100,000 characters: show its length only.
        let stdout: Vec<String> = self
            .stdout
            .lines()
            .map(|l| {
                if l.len() > 200 {
                    format!("<{} characters of progress>", l.len())
                } else {
                    l.to_string()
                }
            })
            .collect();
        format!(
            "`{}` exited with {} after {:.2?}\n--- stdout\n{}\n--- stderr\n{}---",
            self.command,
            self.code,
            self.elapsed,
            stdout.join("\n"),
            self.stderr
        )
    }
}

fn finish(command: String, out: std::process::Output, elapsed: Duration) -> Run {
    let run = Run {
        command,
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        elapsed,
    };
    assert!(
        matches!(run.code, 0..=2),
        "sup did not exit with 0, 1 or 2 (a hang, crash or panic?)\n{}",
        run.show()
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.show());
    run
}

fn sup(ns: &Ns, args: &[&str]) -> Run {
    let started = Instant::now();
    let out = ns
        .command(BOUND, &sup_binary().to_string_lossy())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run sup through `timeout ip netns exec`");
    finish(format!("sup {}", args.join(" ")), out, started.elapsed())
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
    // With nothing coming back, a window's worth at once, then one every
    // 10 ms, then the last one's 500 ms: about 2.2 s; not all at once, and
    // not a timeout per request (150 s).
    assert!(
        run.elapsed >= Duration::from_millis(1500) && run.elapsed < Duration::from_secs(15),
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

/// A child process killed (and reaped) if the test fails before it ends.
struct KillOnDrop(Option<Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn ctrl_c_during_a_flood_prints_the_statistics() {
    let lab = Lab::new();
    let args = ["--flood", "-t", addrs::REMOTE];
    let started = Instant::now();
    // `ip netns exec` execs sup: the child's pid is sup's.
    let mut child = KillOnDrop(Some(
        Command::new("ip")
            .args(["netns", "exec", &lab.host.name])
            .arg(sup_binary())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sup"),
    ));
    // Read the output as it comes: the progress line alone outgrows a pipe.
    let c = child.0.as_mut().expect("child");
    let readers = [
        read_all(c.stdout.take().expect("stdout")),
        read_all(c.stderr.take().expect("stderr")),
    ];
    std::thread::sleep(Duration::from_millis(1500));
    let pid = child.0.as_ref().expect("child").id().to_string();
    let killed = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("run kill");
    assert!(killed.success(), "kill -INT {pid}");
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
