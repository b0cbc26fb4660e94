//! `linux::hold_packet_sockets_until_exit`: the child it starts holds the
//! packet sockets and nothing else (not stdout: a pipe reader is not kept
//! waiting), and leaves when the process that started it has exited.
//!
//! `keeper_holds_only_packet_sockets` re-runs this test binary
//! (`--exact inner_keeper_body --ignored`, with `RAWSOCK_KEEPER_INNER` set)
//! as the process to exit. It opens a packet socket on `lo` (nothing is
//! sent), starts the keeper, prints the keeper's pid and waits for a line
//! on stdin before it exits. Needs root; as another user it prints why and
//! passes.
#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rawsock::linux::{hold_packet_sockets_until_exit, SendSocket};

const INNER_ENV: &str = "RAWSOCK_KEEPER_INNER";

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// What each descriptor of `pid` is (`/proc/PID/fd/N` link targets).
fn descriptors(pid: u32) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return found;
    };
    for entry in dir.flatten() {
        let fd = entry
            .file_name()
            .to_string_lossy()
            .parse()
            .unwrap_or(u32::MAX);
        let target = std::fs::read_link(entry.path())
            .map(|t| t.to_string_lossy().into_owned())
            .unwrap_or_default();
        found.push((fd, target));
    }
    found.sort();
    found
}

/// Kills a process (SIGKILL) when dropped, if it still runs.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if matches!(state(self.0), Some(s) if s != 'Z') {
            let _ = Command::new("kill")
                .args(["-KILL", &self.0.to_string()])
                .status();
        }
    }
}

/// `R` running, `S` sleeping, `Z` zombie...; None when gone.
fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}

#[test]
fn keeper_holds_only_packet_sockets() {
    if !is_root() {
        eprintln!("keeper_holds_only_packet_sockets: needs root (a packet socket), skipped");
        return;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut inner = Command::new("timeout")
        .args(["--kill-after=5", "30"])
        .arg(exe)
        .args([
            "--exact",
            "inner_keeper_body",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(INNER_ENV, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the inner test");
    let mut stdout = BufReader::new(inner.stdout.take().expect("stdout"));
    let mut keeper = None;
    let mut line = String::new();
    while stdout
        .read_line(&mut line)
        .expect("read the inner test's stdout")
        > 0
    {
        // libtest may print "test inner_keeper_body ... " first, on the
        // same line.
        if let Some((_, pid)) = line.trim().split_once("keeper ") {
            keeper = pid.parse::<u32>().ok();
            break;
        }
        line.clear();
    }
    let Some(keeper) = keeper else {
        let _ = inner.kill();
        let out = inner.wait_with_output().expect("the inner test's output");
        panic!(
            "the inner test printed no keeper pid: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // Whatever happens below, the keeper does not outlive the test.
    let _reaper = KillOnDrop(keeper);
    // While the inner process lives, the keeper holds a packet socket and
    // its pipe, and none of stdin, stdout, stderr.
    // (It closes the rest right after the fork: give it a moment.)
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut held = descriptors(keeper);
    while held.len() > 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
        held = descriptors(keeper);
    }
    assert!(
        held.iter().any(|(_, t)| t.starts_with("socket:")),
        "{held:?}"
    );
    assert!(held.iter().all(|(fd, _)| *fd > 2), "{held:?}");
    assert_eq!(held.len(), 2, "{held:?}");
    assert!(
        matches!(state(keeper), Some('S' | 'R')),
        "{:?}",
        state(keeper)
    );
    // It waits for the inner process, however long that lives.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        matches!(state(keeper), Some('S' | 'R')),
        "{:?}",
        state(keeper)
    );
    assert_eq!(descriptors(keeper), held);
    // Let the inner process exit: its stdout reaches EOF (the keeper does
    // not hold it), and the keeper leaves soon after.
    let mut stdin = inner.stdin.take().expect("stdin");
    stdin
        .write_all(b"exit\n")
        .expect("tell the inner test to exit");
    drop(stdin);
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).expect("stdout to EOF");
    let status = inner.wait().expect("wait for the inner test");
    let mut stderr = String::new();
    if let Some(mut e) = inner.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    assert!(status.success(), "{status}: {rest}\n{stderr}");
    // Then it leaves at once (releasing the socket takes the kernel a grace
    // period, some 10-16 ms): well within a second.
    let deadline = Instant::now() + Duration::from_secs(1);
    while matches!(state(keeper), Some('S' | 'R' | 'D')) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    // Gone, or a zombie waiting for init to reap it: either way it holds
    // no descriptors.
    assert!(
        matches!(state(keeper), None | Some('Z')),
        "{:?}",
        state(keeper)
    );
    assert_eq!(descriptors(keeper), vec![]);
}

/// The process that exits (run by `keeper_holds_only_packet_sockets`).
#[test]
#[ignore = "run by keeper_holds_only_packet_sockets"]
fn inner_keeper_body() {
    if std::env::var_os(INNER_ENV).is_none() {
        return;
    }
    let socket = SendSocket::open("lo").expect("a packet socket on lo");
    let keeper = hold_packet_sockets_until_exit()
        .expect("start the keeper")
        .expect("a keeper: a packet socket is open");
    println!("keeper {keeper}");
    std::io::stdout().flush().expect("flush");
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .expect("wait for the outer test");
    drop(socket);
}
