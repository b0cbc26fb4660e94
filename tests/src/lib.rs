//! A throwaway network lab for end-to-end tests: real Linux kernels in network
//! namespaces, connected with veth pairs, created per test and deleted when
//! the [`Lab`] is dropped (also when the test panics).
//!
//! ```text
//!   host  10.77.1.2/24 ─┐                        ┌─ remote 10.77.2.2/24
//!   (default via .1.1)  │   gw (ip_forward=1)    │  + 10.77.2.10-.29/24
//!                       ├─ br0 10.77.1.1/24      │  (default via .2.1)
//!   neighbour 10.77.1.3 ┘       10.77.2.1/24 ────┘
//! ```
//!
//! Nothing here touches the machine's own interfaces: every link is created
//! inside the lab's namespaces, and the gateway has no default route, so no
//! packet can leave the lab. Namespace names carry the process id and a
//! counter, so tests running in parallel never collide; labs left behind by a
//! process that died are removed by the next `Lab::new`.

use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub mod chain;
pub mod names;
pub mod servers;
pub mod sup;

pub mod addrs {
    //! The lab's fixed addresses (the namespaces are isolated, so every lab
    //! can use the same ones).
    /// The host, where the code under test runs.
    pub const HOST: &str = "10.77.1.2";
    /// The gateway's address on the host's link.
    pub const GW: &str = "10.77.1.1";
    /// The gateway's address towards the remote.
    pub const GW_FAR: &str = "10.77.2.1";
    /// An on-link neighbour of the host.
    pub const NEIGHBOUR: &str = "10.77.1.3";
    /// An on-link address nobody answers for.
    pub const ABSENT: &str = "10.77.1.99";
    /// The remote, one router away.
    pub const REMOTE: &str = "10.77.2.2";
    /// A network the gateway has no route to.
    pub const UNROUTED: &str = "10.99.0.1";
    /// How many extra addresses the remote has (10.77.2.10 and up).
    pub const REMOTE_EXTRA: u8 = 20;
    /// A /24 behind the remote where every address answers, after
    /// [`crate::Lab::add_routed_block`].
    pub const ROUTED_BLOCK: &str = "10.77.3.0/24";
}

/// Prefix of every namespace a lab creates.
const PREFIX: &str = "ersatzlab";
/// Bound on every command the lab runs.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

/// One network namespace of the lab.
#[derive(Debug, Clone)]
pub struct Ns {
    /// The namespace's name (for `ip netns exec`).
    pub name: String,
}

impl Ns {
    /// A command that runs inside this namespace, bounded by `timeout`.
    pub fn command(&self, timeout: Duration, program: &str) -> Command {
        let mut cmd = Command::new("timeout");
        cmd.args(["--kill-after=2", &format!("{}", timeout.as_secs_f64())])
            .args(["ip", "netns", "exec", &self.name, program]);
        cmd
    }

    /// Runs a shell script inside the namespace; panics with its output if it fails.
    pub fn sh(&self, script: &str) -> String {
        let out = self.sh_status(script);
        assert!(
            out.status.success(),
            "in {}: `{script}` failed ({}):\n{}{}",
            self.name,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a shell script inside the namespace and returns its output, whatever its status.
    pub fn sh_status(&self, script: &str) -> Output {
        self.command(COMMAND_TIMEOUT, "sh")
            .args(["-c", script])
            .stdin(Stdio::null())
            .output()
            .expect("run `timeout ip netns exec` (is iproute2 installed?)")
    }

    /// Makes this namespace a station: `lab0` up at `mac` and `addr`
    /// (CIDR), default route via `gw`, no IPv6, no ICMP rate limit, and
    /// checksums computed before frames leave (see [`Ns::full_checksums`]).
    pub fn station(&self, mac: &str, addr: &str, gw: &str) {
        self.sh(&format!(
            "set -e
            sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
            sysctl -qw net.ipv4.icmp_ratelimit=0
            ip link set lo up
            ip link set lab0 address {mac}
            ip addr add {addr} dev lab0
            ip link set lab0 up
            ip route add default via {gw}"
        ));
        self.full_checksums("lab0");
    }

    /// Has the kernel compute TCP and UDP checksums itself before frames
    /// leave `ifname`. A veth offloads them by default: a segment crosses
    /// the namespaces with its checksum unfinished, which the next kernel
    /// accepts (it knows) but a capture, and so ersatz, rightly sees as
    /// wrong. Real NICs finish them in hardware.
    pub fn full_checksums(&self, ifname: &str) {
        let out = self.sh_status(&format!("ethtool -K {ifname} tx off"));
        assert!(
            out.status.success(),
            "ethtool -K {ifname} tx off in {} (apt-get install ethtool): {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The MAC address of `ifname` in this namespace, as `ip` prints it (`02:..`).
    pub fn mac(&self, ifname: &str) -> String {
        self.sh(&format!("cat /sys/class/net/{ifname}/address"))
            .trim()
            .to_string()
    }
}

/// A running lab; dropping it deletes every namespace it made.
#[derive(Debug)]
pub struct Lab {
    /// Unique id of this lab (part of every namespace name).
    pub id: String,
    /// Where the code under test runs: `lab0` 10.77.1.2/24, default via 10.77.1.1.
    pub host: Ns,
    /// The router: `br0` 10.77.1.1/24 (bridging host and neighbour), `far0` 10.77.2.1/24.
    pub gw: Ns,
    /// An on-link neighbour of the host: `lab0` 10.77.1.3/24.
    pub neighbour: Ns,
    /// One router away: `lab0` 10.77.2.2/24 and 10.77.2.10 ... 10.77.2.29.
    pub remote: Ns,
    /// Stations added to the host's link by [`Lab::add_station`].
    extra: std::sync::Mutex<Vec<Ns>>,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn ip(args: &[&str]) -> Output {
    Command::new("timeout")
        .arg(format!("{}", COMMAND_TIMEOUT.as_secs()))
        .arg("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run `ip` (is iproute2 installed?)")
}

fn must(args: &[&str]) {
    let out = ip(args);
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Deletes labs whose creating process no longer exists.
fn remove_stale_labs() {
    let out = ip(&["netns", "list"]);
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or_default();
        if !pid.is_empty() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", name]);
        }
    }
}

impl Lab {
    /// Builds the lab. Panics (after cleaning up) if it cannot, e.g. when not root.
    pub fn new() -> Lab {
        assert!(
            is_root(),
            "the namespace lab needs root (ip netns add); run the tests as root"
        );
        remove_stale_labs();
        let id = format!(
            "{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let ns = |role: &str| Ns {
            name: format!("{PREFIX}{id}-{role}"),
        };
        // From here on, a panic drops `lab`, which deletes what exists so far.
        let lab = Lab {
            host: ns("host"),
            gw: ns("gw"),
            neighbour: ns("nb"),
            remote: ns("remote"),
            extra: std::sync::Mutex::default(),
            id,
        };
        for n in lab.namespaces() {
            must(&["netns", "add", &n.name]);
        }
        let (h, n, r) = (&lab.host.name, &lab.neighbour.name, &lab.remote.name);
        // Each veth pair is created inside the gateway and one end moved to its peer
        // namespace: no link ever exists in the root namespace.
        lab.gw.sh(&format!(
            "set -e
            sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
            sysctl -qw net.ipv4.ip_forward=1 net.ipv4.icmp_ratelimit=0 net.ipv4.icmp_ratemask=0
            ip link set lo up
            ip link add br0 type bridge
            ip link set br0 address 02:e5:a7:01:00:01
            ip link add host0 type veth peer name lab0 netns {h}
            ip link add nb0 type veth peer name lab0 netns {n}
            ip link add far0 type veth peer name lab0 netns {r}
            ip link set far0 address 02:e5:a7:02:00:01
            ip link set host0 master br0
            ip link set nb0 master br0
            ip addr add 10.77.1.1/24 dev br0
            ip addr add 10.77.2.1/24 dev far0
            for l in br0 host0 nb0 far0; do ip link set $l up; done"
        ));
        for (ns, mac, addr, gw) in [
            (&lab.host, "02:e5:a7:01:00:02", "10.77.1.2/24", "10.77.1.1"),
            (
                &lab.neighbour,
                "02:e5:a7:01:00:03",
                "10.77.1.3/24",
                "10.77.1.1",
            ),
            (
                &lab.remote,
                "02:e5:a7:02:00:02",
                "10.77.2.2/24",
                "10.77.2.1",
            ),
        ] {
            ns.station(mac, addr, gw);
        }
        let extra: String = (0..addrs::REMOTE_EXTRA)
            .map(|i| format!("ip addr add 10.77.2.{}/24 dev lab0\n", 10 + i))
            .collect();
        lab.remote.sh(&format!("set -e\n{extra}"));
        lab.wait_for_links();
        lab
    }

    /// The four namespaces.
    pub fn namespaces(&self) -> [&Ns; 4] {
        [&self.host, &self.gw, &self.neighbour, &self.remote]
    }

    /// Waits (bounded) until the bridge forwards: the kernel's own ping from
    /// host to remote answers.
    fn wait_for_links(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = self
                .host
                .sh_status("ping -n -q -c 1 -W 1 10.77.2.2 >/dev/null && ping -n -q -c 1 -W 1 10.77.1.3 >/dev/null");
            if out.status.success() {
                // Start every test from empty neighbour caches, so ARP is ours to observe.
                for ns in self.namespaces() {
                    ns.sh("ip neigh flush all");
                }
                return;
            }
            assert!(
                Instant::now() < deadline,
                "lab {}: links did not come up within 10 s",
                self.id
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Lab {
    /// Gives the remote 10.77.3.1 to 10.77.3.254, each a /32 on its
    /// loopback, and the gateway a route to 10.77.3.0/24 through it: a
    /// routed /24 where every address answers (sweeps).
    pub fn add_routed_block(&self) {
        self.remote
            .sh("set -e; for i in $(seq 1 254); do ip addr add 10.77.3.$i/32 dev lo; done");
        self.gw.sh("ip route add 10.77.3.0/24 via 10.77.2.2");
    }

    /// Adds a station to the host's link (the gateway's bridge): a new
    /// namespace `role` with `lab0` at `mac` and `addr` (CIDR), default
    /// route via the gateway. Deleted with the lab.
    pub fn add_station(&self, role: &str, mac: &str, addr: &str) -> Ns {
        let ns = Ns {
            name: format!("{PREFIX}{}-{role}", self.id),
        };
        must(&["netns", "add", &ns.name]);
        self.extra
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(ns.clone());
        let port = format!("st{}", self.extra.lock().map(|e| e.len()).unwrap_or(0));
        self.gw.sh(&format!(
            "set -e
            ip link add {port} type veth peer name lab0 netns {}
            ip link set {port} master br0
            ip link set {port} up",
            ns.name
        ));
        ns.station(mac, addr, addrs::GW);
        // Bounded: until the bridge forwards to it (its port leaves the
        // learning state at once: the lab's bridge has no STP).
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ns
            .sh_status("ping -n -q -c 1 -W 1 10.77.1.1 >/dev/null")
            .status
            .success()
        {
            assert!(Instant::now() < deadline, "{} did not come up", ns.name);
            std::thread::sleep(Duration::from_millis(50));
        }
        for n in self.namespaces().into_iter().chain([&ns]) {
            n.sh("ip neigh flush all");
        }
        ns
    }
}

impl Default for Lab {
    fn default() -> Self {
        Lab::new()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let extra = std::mem::take(&mut *self.extra.lock().unwrap_or_else(|e| e.into_inner()));
        for n in self.namespaces().into_iter().chain(&extra) {
            // Deleting a namespace removes the veth ends inside it, and with them their peers.
            let _ = ip(&["netns", "del", &n.name]);
        }
    }
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// Whether a namespace of this name exists.
pub fn namespace_exists(name: &str) -> bool {
    String::from_utf8_lossy(&ip(&["netns", "list"]).stdout)
        .lines()
        .any(|l| l.split_whitespace().next() == Some(name))
}

/// Environment variable that tells a re-executed test binary it is the part
/// that runs inside a namespace (see [`Ns::run_inside`]).
pub const INSIDE_ENV: &str = "ERSATZ_E2E_INSIDE";

/// Whether this process is a test body re-executed inside a lab namespace.
pub fn inside() -> bool {
    std::env::var_os(INSIDE_ENV).is_some()
}

impl Ns {
    /// Runs test `test_name` of the current test binary again, inside this
    /// namespace, with [`INSIDE_ENV`] set (plus `env`), bounded by `timeout`.
    ///
    /// A test uses it like this: the outer run builds the lab and calls
    /// `run_inside`; the inner run (`ersatz_e2e::inside()` is true) does the
    /// work that must see the namespace's network (opening a capture, reading
    /// routes) and prints what the outer run asserts on.
    pub fn run_inside(&self, test_name: &str, env: &[(&str, &str)], timeout: Duration) -> Output {
        let exe = std::env::current_exe().expect("path of the test binary");
        let mut cmd = self.command(timeout, &exe.to_string_lossy());
        cmd.args([test_name, "--exact", "--nocapture", "--test-threads=1"])
            .env(INSIDE_ENV, "1")
            .stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output()
            .expect("re-run the test binary inside the namespace")
    }

    /// As [`Ns::run_inside`], but panics with the inner output unless the
    /// inner test passed; returns its stdout.
    pub fn run_inside_ok(
        &self,
        test_name: &str,
        env: &[(&str, &str)],
        timeout: Duration,
    ) -> String {
        let out = self.run_inside(test_name, env, timeout);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "inside {}: {test_name} failed ({}):\n{stdout}\n{}",
            self.name,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }
}

/// A `tcpdump -w` running in a namespace; [`Tcpdump::stop`] ends it and
/// returns what `tcpdump -nn -e -vv -r` makes of the capture.
pub struct Tcpdump {
    child: Option<std::process::Child>,
    file: std::path::PathBuf,
}

impl Ns {
    /// Starts capturing on `ifname` (with a BPF `filter`, may be empty) and
    /// waits until tcpdump is listening. Bounded: it stops by itself after
    /// `COMMAND_TIMEOUT` times three.
    pub fn tcpdump(&self, ifname: &str, filter: &str) -> Tcpdump {
        use std::io::{BufRead, BufReader};
        let file = std::env::temp_dir().join(format!(
            "{}-{ifname}-{}.pcap",
            self.name,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let mut child = self
            .command(COMMAND_TIMEOUT * 3, "tcpdump")
            // Immediate mode: else frames wait in a ring-buffer block that a
            // quick stop throws away. In immediate mode each ring slot is
            // snaplen long: with the default 262,144 bytes the default 2 MB
            // buffer holds 8 frames and a burst is dropped. Lab frames are
            // at most 1514 bytes (MTU 1500): 2048 keeps them whole (so
            // checksums can still be judged), 8 MB holds 4,096.
            .args(["-i", ifname, "--immediate-mode", "-U", "-nn"])
            .args(["-s", "2048", "-B", "8192", "-w"])
            .arg(&file)
            .args(filter.split_whitespace())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tcpdump (apt-get install tcpdump)");
        let stderr = child.stderr.take().expect("tcpdump's stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("listening on") {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(10))
            .expect("tcpdump did not start listening within 10 s");
        Tcpdump {
            child: Some(child),
            file,
        }
    }
}

impl Tcpdump {
    /// Stops the capture (SIGTERM: tcpdump flushes and exits) and returns the
    /// decoded frames, one line each (`-nn -e -vv`, continuation lines joined).
    pub fn stop(mut self) -> Vec<String> {
        self.terminate();
        let out = Command::new("timeout")
            .args(["20", "tcpdump", "-nn", "-e", "-vv", "-r"])
            .arg(&self.file)
            .output()
            .expect("run tcpdump -r");
        assert!(
            out.status.success(),
            "tcpdump -r: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut frames: Vec<String> = Vec::new();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if line.starts_with(char::is_whitespace) {
                if let Some(last) = frames.last_mut() {
                    last.push(' ');
                    last.push_str(line.trim());
                    continue;
                }
            }
            frames.push(line.to_string());
        }
        frames
    }

    fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Frames still in flight reach the capture first.
            std::thread::sleep(Duration::from_millis(100));
            // `timeout` passes the TERM on to tcpdump.
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Tcpdump {
    fn drop(&mut self) {
        self.terminate();
        let _ = std::fs::remove_file(&self.file);
    }
}

/// Windows programs of this workspace, run under Wine inside a lab namespace.
///
/// [`Wine::new`] makes a fresh Wine prefix from inside the namespace (so its
/// wineserver, and with it Wine's IPHLPAPI, sees that namespace's network:
/// a prefix whose wineserver runs elsewhere reports the other namespace's
/// adapters and routes) and installs the test-only `bcryptprimitives.dll`
/// (`tests/wine/`; Wine 8.0 lacks it and every Rust program needs it).
/// [`Wine::run`] runs an `.exe` there; dropping the `Wine` kills the
/// prefix's wineserver (and every Windows process left in it) and deletes
/// the prefix.
///
/// Wine's `wpcap.dll` forwards to the host's libpcap, so a program that
/// captures through Npcap's API captures on the namespace's interfaces.
///
/// ```no_run
/// use std::time::Duration;
/// use ersatz_e2e::{windows_exe, Lab, Wine};
///
/// let lab = Lab::new();
/// let wine = Wine::new(&lab.host); // after the lab: dropped before it
/// let out = wine.run(&windows_exe("examples/netinfo.exe"), &["10.77.2.2"], Duration::from_secs(60));
/// assert!(out.status.success());
/// ```
#[derive(Debug)]
pub struct Wine {
    ns: Ns,
    /// Holds the prefix and the output files of each run.
    dir: std::path::PathBuf,
    runs: AtomicU32,
}

/// Bound on making a Wine prefix (about 3 s on an idle machine).
const WINEBOOT_TIMEOUT: Duration = Duration::from_secs(120);
/// DLL overrides of every Wine run: no Mono and no Gecko (a faster prefix,
/// and Wine never offers to download them).
const WINE_BASE_OVERRIDES: &str = "mscoree,mshtml=";

/// Where cargo puts its output: the nearest ancestor of this test binary
/// holding cargo's `CACHEDIR.TAG` (so `CARGO_TARGET_DIR` is honoured), else
/// the workspace's `target/`.
pub fn target_dir() -> std::path::PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.ancestors()
                .skip(1)
                .find(|d| d.join("CACHEDIR.TAG").is_file())
                .map(std::path::Path::to_path_buf)
        })
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join("target")
        })
}

/// The cross-compiled Windows target whose programs run under [`Wine`].
pub const WINDOWS_TARGET: &str = "x86_64-pc-windows-gnu";

/// A Windows program of this workspace built for [`WINDOWS_TARGET`] (debug),
/// e.g. `windows_exe("examples/ping.exe")` or `windows_exe("sup.exe")`.
/// Panics, saying how to build it, if it is not there.
pub fn windows_exe(relative: &str) -> std::path::PathBuf {
    let path = target_dir()
        .join(WINDOWS_TARGET)
        .join("debug")
        .join(relative);
    assert!(
        path.is_file(),
        "{} is missing: build the Windows programs first with \
         `cargo build --workspace --all-targets --target {WINDOWS_TARGET}` \
         (tests/run-all.sh does, before `cargo test`)",
        path.display()
    );
    path
}

impl Wine {
    /// Makes a fresh prefix inside `ns`. Panics with what to install if
    /// Wine or mingw (for the shim) is missing, or if the prefix cannot be
    /// made within two minutes.
    pub fn new(ns: &Ns) -> Wine {
        let found = Command::new("sh")
            .args(["-c", "command -v wine && command -v wineserver"])
            .stdout(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(
            found,
            "wine is not installed: tests/run-all.sh installs it \
             (apt-get install wine wine64; 64-bit only, no i386 needed)"
        );
        let shim = Command::new("timeout")
            .arg("180")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/wine/build-shim.sh"))
            .env("CARGO_TARGET_DIR", target_dir())
            .stdin(Stdio::null())
            .output()
            .expect("run tests/wine/build-shim.sh");
        assert!(
            shim.status.success(),
            "building the bcryptprimitives.dll shim failed ({}): {}",
            shim.status,
            String::from_utf8_lossy(&shim.stderr)
        );
        let shim = std::path::PathBuf::from(String::from_utf8_lossy(&shim.stdout).trim());
        let dir = std::env::temp_dir().join(format!(
            "{}-wine-{}",
            ns.name,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        remove_stale_wine_dirs();
        let _ = std::fs::remove_dir_all(&dir);
        // From here on, a panic drops `wine`, which deletes the directory.
        let wine = Wine {
            ns: ns.clone(),
            dir,
            runs: AtomicU32::new(0),
        };
        let system32 = wine.prefix().join("drive_c/windows/system32");
        std::fs::create_dir_all(&system32).expect("create the Wine prefix directory");
        std::fs::copy(&shim, system32.join("bcryptprimitives.dll"))
            .expect("copy the bcryptprimitives.dll shim into the prefix");
        let log = wine.dir.join("wineboot.log");
        let file = |p: &std::path::Path| std::fs::File::create(p).expect("create a Wine log file");
        let status = wine
            .command(WINEBOOT_TIMEOUT, "wineboot", &[])
            .arg("-i")
            .stdout(file(&log))
            .stderr(file(&log.with_extension("err")))
            .status()
            .expect("run wineboot");
        assert!(
            status.success(),
            "wineboot -i in {} failed ({status}): {}{}",
            ns.name,
            std::fs::read_to_string(&log).unwrap_or_default(),
            std::fs::read_to_string(log.with_extension("err")).unwrap_or_default()
        );
        wine
    }

    /// The Wine prefix (`WINEPREFIX`).
    pub fn prefix(&self) -> std::path::PathBuf {
        self.dir.join("prefix")
    }

    /// A Wine command inside the namespace, in this prefix, bounded by `timeout`.
    fn command(&self, timeout: Duration, program: &str, env: &[(&str, &str)]) -> Command {
        let mut cmd = self.ns.command(timeout, program);
        let mut overrides = WINE_BASE_OVERRIDES.to_string();
        cmd.env("WINEPREFIX", self.prefix())
            .env("WINEDEBUG", "-all")
            .stdin(Stdio::null());
        for (k, v) in env {
            if *k == "WINEDLLOVERRIDES" {
                overrides = format!("{overrides};{v}");
            } else {
                cmd.env(k, v);
            }
        }
        cmd.env("WINEDLLOVERRIDES", overrides);
        cmd
    }

    /// Runs `exe` with `args` under Wine, bounded by `timeout` (exit code
    /// 124 when it expires). Its output goes through files: through a pipe,
    /// the wineserver that outlives the program would hold it open.
    pub fn run(&self, exe: &std::path::Path, args: &[&str], timeout: Duration) -> Output {
        self.run_with_env(exe, args, &[], timeout)
    }

    /// As [`Wine::run`], with more environment variables, e.g.
    /// `("WINEDLLOVERRIDES", "wpcap=d")` to hide Wine's `wpcap.dll` (added to
    /// the overrides every run has), or `("WINEDEBUG", "+pcap")`.
    pub fn run_with_env(
        &self,
        exe: &std::path::Path,
        args: &[&str],
        env: &[(&str, &str)],
        timeout: Duration,
    ) -> Output {
        let running = self.spawn(exe, args, env, timeout);
        running.wait(timeout + Duration::from_secs(5))
    }

    /// Starts `exe` under Wine in the background, bounded by `timeout`,
    /// its output going to files. The child's pid is `timeout`'s, which
    /// passes SIGINT and SIGTERM on to the program (Wine turns SIGINT into
    /// a Ctrl+C event).
    pub fn spawn(
        &self,
        exe: &std::path::Path,
        args: &[&str],
        env: &[(&str, &str)],
        timeout: Duration,
    ) -> WineRun {
        let n = self.runs.fetch_add(1, Ordering::Relaxed);
        let out = self.dir.join(format!("run{n}.out"));
        let err = self.dir.join(format!("run{n}.err"));
        let file =
            |p: &std::path::Path| std::fs::File::create(p).expect("create a Wine output file");
        let child = self
            .command(timeout, "wine", env)
            .arg(exe)
            .args(args)
            .stdout(file(&out))
            .stderr(file(&err))
            .spawn()
            .expect("run wine");
        WineRun {
            child: Some(child),
            out,
            err,
        }
    }
}

/// A program running under [`Wine`] ([`Wine::spawn`]); killed if dropped
/// before it ended.
#[derive(Debug)]
pub struct WineRun {
    child: Option<std::process::Child>,
    out: std::path::PathBuf,
    err: std::path::PathBuf,
}

impl WineRun {
    /// The pid of the process that forwards signals to the program.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, std::process::Child::id)
    }

    /// Waits at most `within` for the program to end; panics if it does not.
    pub fn wait(mut self, within: Duration) -> Output {
        let mut child = self.child.take().expect("still running");
        let deadline = Instant::now() + within;
        let status = loop {
            if let Ok(Some(status)) = child.try_wait() {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the Wine program did not end within {within:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Output {
            status,
            stdout: std::fs::read(&self.out).unwrap_or_default(),
            stderr: std::fs::read(&self.err).unwrap_or_default(),
        }
    }
}

impl Drop for WineRun {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Deletes the prefixes (some 700 MB each) that a test process which died
/// without dropping its [`Wine`] left in the temporary directory.
fn remove_stale_wine_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or_default();
        if name.contains("-wine-")
            && !pid.is_empty()
            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = Command::new("timeout")
                .args(["20", "wineserver", "-k"])
                .env("WINEPREFIX", entry.path().join("prefix"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

impl Drop for Wine {
    fn drop(&mut self) {
        // Kills the wineserver and every process of the prefix (it outlives
        // the last program by a few seconds, and Wine's services with it).
        let _ = Command::new("timeout")
            .args(["20", "wineserver", "-k"])
            .env("WINEPREFIX", self.prefix())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
