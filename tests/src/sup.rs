//! Running the real `sup` binary inside a lab namespace: finding it, running
//! it bounded, and what every test checks about any run (no hang, no crash,
//! no panic). Shared by tests/sup.rs, tests/flood.rs and tests/hostile.rs.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::Ns;

/// `target/<profile>/sup`, next to the test binary's `deps/` directory, and
/// not older than any of its sources. `cargo test` does not build it (it
/// builds only sup's unit-test harness): a missing or stale binary panics
/// with the advice to run `cargo build -p sup`, rather than testing old code.
pub fn sup_binary() -> &'static Path {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match FOUND.get_or_init(find_sup) {
        Ok(path) => path,
        Err(message) => panic!("{message}"),
    }
}

fn find_sup() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("path of the test binary: {e}"))?;
    // target/debug/deps/sup-0123abcd -> target/debug/sup
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| format!("no profile directory above {}", exe.display()))?;
    let sup = profile_dir.join(format!("sup{}", std::env::consts::EXE_SUFFIX));
    let build = "`cargo build -p sup` (cargo test does not build the sup binary)";
    let built = std::fs::metadata(&sup)
        .and_then(|m| m.modified())
        .map_err(|_| format!("{} is missing: build it first with {build}", sup.display()))?;
    // Cargo's dep-info next to the binary lists every source it was built
    // from (spaces in paths escaped as `\ `).
    let dep_info = std::fs::read_to_string(profile_dir.join("sup.d")).unwrap_or_default();
    let sources = dep_info
        .lines()
        .next()
        .unwrap_or_default()
        .replace("\\ ", "\u{0}")
        .split_once(": ")
        .map(|(_, list)| {
            list.split_whitespace()
                .map(|s| PathBuf::from(s.replace('\u{0}', " ")))
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
pub struct Run {
    /// `sup ARGS`, for messages.
    pub command: String,
    /// Exit code (-1 if a signal ended it).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    /// The lines of stdout.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// Everything about the run, for assertion messages. Lines over 200
    /// characters (a flood's progress line can have 100,000) are shown by
    /// their length only.
    pub fn show(&self) -> String {
        let stdout: String = self
            .stdout
            .lines()
            .map(|l| {
                if l.chars().count() > 200 {
                    format!("<{} characters>\n", l.chars().count())
                } else {
                    format!("{l}\n")
                }
            })
            .collect();
        format!(
            "`{}` exited with {} after {:.2?}\n--- stdout\n{stdout}--- stderr\n{}---",
            self.command, self.code, self.elapsed, self.stderr
        )
    }

    /// Asserts the exit code.
    pub fn expect_code(&self, code: i32) {
        assert_eq!(self.code, code, "exit code\n{}", self.show());
    }
}

/// Turns a finished process into a [`Run`], asserting that sup neither hung
/// (124/137: `timeout` stopped it), crashed (-1: a signal) nor panicked
/// (101, or a panic message or backtrace on stderr).
pub fn finish(command: String, out: Output, elapsed: Duration) -> Run {
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
    for bad in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
        assert!(!run.stderr.contains(bad), "{bad} on stderr\n{}", run.show());
    }
    run
}

/// Runs sup with `args` inside `ns`, bounded by `bound`, stdin empty.
pub fn run_sup<S: AsRef<OsStr>>(ns: &Ns, args: &[S], bound: Duration) -> Run {
    let started = Instant::now();
    let out = ns
        .command(bound, &sup_binary().to_string_lossy())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run sup through `timeout ip netns exec`");
    let shown: Vec<String> = args
        .iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect();
    finish(format!("sup {}", shown.join(" ")), out, started.elapsed())
}

/// Starts sup with `args` in `ns` in the background, its stdout and stderr
/// piped. `ip netns exec` execs sup, so the child's pid is sup's (for
/// signals); bound it with [`KillOnDrop::wait`].
pub fn spawn_sup(ns: &Ns, args: &[&str]) -> KillOnDrop {
    KillOnDrop(Some(
        std::process::Command::new("ip")
            .args(["netns", "exec", &ns.name])
            .arg(sup_binary())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sup"),
    ))
}

/// Asserts that sup refused its arguments with clap's one error (exit 2,
/// nothing on stdout, one `error:` line mentioning `mentions`, a pointer to
/// `--help`).
pub fn expect_clap_error(run: &Run, mentions: &str) {
    let show = run.show();
    run.expect_code(2);
    assert_eq!(run.stdout, "", "{show}");
    assert!(run.stderr.starts_with("error: "), "{show}");
    let errors = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .count();
    assert_eq!(errors, 1, "one error\n{show}");
    assert!(
        run.stderr.contains(mentions),
        "mentions {mentions:?}\n{show}"
    );
    assert!(run.stderr.contains("--help"), "{show}");
}

/// A child process killed (and reaped) if the test fails before it ends.
pub struct KillOnDrop(pub Option<Child>);

/// Runs this test binary's test `test` inside `ns` (with
/// [`crate::INSIDE_ENV`] set, so the test plays its inside part, and
/// `env`), and waits up to 20 s until it prints a line containing `ready`.
/// Returns the process (killed on drop) and a thread that returns
/// everything it printed once it exits. For the peers a test runs in a
/// namespace of its lab (a responder, a forger).
pub fn start_inside(
    ns: &Ns,
    timeout: Duration,
    test: &str,
    env: &[(&str, String)],
    ready: &'static str,
) -> (KillOnDrop, std::thread::JoinHandle<String>) {
    use std::io::{BufRead, BufReader};
    let exe = std::env::current_exe().expect("path of the test binary");
    let mut command = ns.command(timeout, &exe.to_string_lossy());
    command
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(crate::INSIDE_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = KillOnDrop(Some(
        command
            .spawn()
            .unwrap_or_else(|e| panic!("start {test} inside: {e}")),
    ));
    let stdout = child.child().stdout.take().expect("its stdout");
    let (is_ready, ready_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains(ready) {
                let _ = is_ready.send(());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    ready_rx
        .recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("{test} did not print {ready:?} within 20 s"));
    (child, reader)
}

impl KillOnDrop {
    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.0.as_ref().expect("child still owned").id()
    }

    /// Sends the child SIGINT (Ctrl+C).
    pub fn interrupt(&self) {
        let pid = self.pid().to_string();
        let killed = std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .expect("run kill");
        assert!(killed.success(), "kill -INT {pid}");
    }

    /// The child, while it is owned.
    pub fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("child still owned")
    }

    /// Waits at most `within` for the child (sup) to exit by itself, then
    /// checks it as [`finish`] does.
    pub fn wait(mut self, within: Duration, command: String, started: Instant) -> Run {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child().try_wait() {
                let child = self.0.take().expect("child");
                let out = child.wait_with_output().expect("collect sup's output");
                return finish(command, out, started.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("`{command}` did not exit within {within:?}");
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
