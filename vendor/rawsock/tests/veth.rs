//! End-to-end test on a veth pair `a` <-> `b` inside a network namespace this
//! test creates (and always deletes, also when it fails).
//!
//! `veth_capture` builds the namespace and re-runs this test binary inside it
//! (`ip netns exec NS <this binary> --exact inner_veth_body --ignored`) with
//! `RAWSOCK_VETH_INNER` set; `inner_veth_body` does the capturing. Frames are
//! only ever sent on `a` and `b`, which exist only inside that namespace, and
//! the body checks that it is not running in the machine's own namespace.
//!
//! Needs root; as another user it prints why and passes.
#![cfg(target_os = "linux")]

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::panic::{self, AssertUnwindSafe};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rawsock::linux::{CaptureSocket, SendSocket};
use rawsock::{open_best_library, Breaker, Config, DataLink, Error, Interface, Library};

const INNER_ENV: &str = "RAWSOCK_VETH_INNER";
const OUTER_NETNS_ENV: &str = "RAWSOCK_VETH_OUTER_NETNS";
const NS_PREFIX: &str = "rawsock-test-";
/// IEEE 802 "local experimental" EtherTypes: requests and replies.
const ETHERTYPE_REQUEST: u16 = 0x88b5;
const ETHERTYPE_REPLY: u16 = 0x88b6;
const ROUNDS: u32 = 50;

// ---------------------------------------------------------------- outer side

/// Runs `ip ARGS` (bounded in time).
fn ip(args: &[&str]) -> Output {
    Command::new("timeout")
        .args(["--kill-after=5", "30", "ip"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run `timeout ip` (is iproute2 installed?)")
}

fn ip_ok(args: &[&str]) {
    let out = ip(args);
    assert!(
        out.status.success(),
        "ip {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace, deleted on drop.
struct Netns {
    name: String,
}

impl Netns {
    fn create() -> Netns {
        let mut h = RandomState::new().build_hasher();
        h.write_u128(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
        );
        let name = format!(
            "{NS_PREFIX}{}-{:08x}",
            std::process::id(),
            h.finish() as u32
        );
        ip_ok(&["netns", "add", &name]);
        // Created: from here on a panic drops it, which deletes it.
        let ns = Netns { name };
        // IPv6 off before the links exist (they inherit `default`), so no
        // router solicitation or DAD frame ever shows up; then the pair.
        ns.exec_ok(&[
            "sh",
            "-c",
            "set -e
             echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6
             echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6
             ip link add name a type veth peer name b
             ip link set dev a up
             ip link set dev b up
             ip link add name c type veth peer name d
             ip tuntap add dev t0 mode tun 2>/dev/null || true",
        ]);
        ns
    }

    fn exec_ok(&self, args: &[&str]) {
        let mut all = vec!["netns", "exec", &self.name];
        all.extend_from_slice(args);
        ip_ok(&all);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let out = ip(&["netns", "del", &self.name]);
        if !out.status.success() {
            eprintln!(
                "could not delete namespace {}: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// Deletes namespaces left by test processes that no longer exist.
fn remove_stale_namespaces() {
    let out = ip(&["netns", "list"]);
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        let Some(rest) = name.strip_prefix(NS_PREFIX) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or_default();
        if !pid.is_empty() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", name]);
        }
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn veth_capture() {
    if !is_root() {
        println!("skipped: veth_capture needs root (ip netns add, raw capture); run as root");
        return;
    }
    remove_stale_namespaces();
    let own_netns = std::fs::read_link("/proc/self/ns/net").expect("own netns");
    let ns = Netns::create();
    let exe = std::env::current_exe().expect("current test binary");
    let out = Command::new("timeout")
        .args(["--kill-after=5", "120", "ip", "netns", "exec", &ns.name])
        .arg(&exe)
        .args([
            "--exact",
            "inner_veth_body",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(INNER_ENV, &ns.name)
        .env(OUTER_NETNS_ENV, own_netns)
        .stdin(Stdio::null())
        .output()
        .expect("run the test body in the namespace");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        out.status.success(),
        "the test body failed in {} ({})",
        ns.name,
        out.status
    );
    assert!(
        stdout.contains("veth body: all checks passed"),
        "the test body did not run"
    );
    drop(ns);
}

// ---------------------------------------------------------------- inner side

/// Stops a receiving thread when dropped, so that a failing check never
/// leaves it blocked.
struct BreakOnDrop(Breaker);

impl Drop for BreakOnDrop {
    fn drop(&mut self) {
        self.0.break_loop();
    }
}

fn mac_of(ifname: &str) -> [u8; 6] {
    let text = std::fs::read_to_string(format!("/sys/class/net/{ifname}/address"))
        .expect("read the MAC address");
    let mut mac = [0u8; 6];
    for (byte, part) in mac.iter_mut().zip(text.trim().split(':')) {
        *byte = u8::from_str_radix(part, 16).expect("MAC address");
    }
    mac
}

/// A 64-byte frame `src` -> `dst` carrying `nonce` and `seq`.
fn frame(dst: [u8; 6], src: [u8; 6], ethertype: u16, nonce: u64, seq: u32) -> Vec<u8> {
    let mut f = Vec::with_capacity(64);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(&nonce.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.resize(64, 0x5a);
    f
}

/// The sequence number of one of our frames with `ethertype` and `nonce`.
fn parse(data: &[u8], ethertype: u16, nonce: u64) -> Option<u32> {
    if data.len() < 26 || data[12..14] != ethertype.to_be_bytes() {
        return None;
    }
    if data[14..22] != nonce.to_be_bytes() {
        return None;
    }
    Some(u32::from_be_bytes(data[22..26].try_into().ok()?))
}

struct Seen {
    seq: u32,
    at: Instant,
    timestamp: SystemTime,
    wire_len: u32,
    captured_len: usize,
}

/// Receives our frames on `interf` in a new thread until broken, reporting
/// each one on the returned channel.
fn spawn_receiver(
    mut interf: Interface,
    ethertype: u16,
    nonce: u64,
) -> (
    mpsc::Receiver<Seen>,
    thread::JoinHandle<Interface>,
    BreakOnDrop,
) {
    let breaker = BreakOnDrop(interf.breaker());
    let (tx, rx) = mpsc::channel();
    let handle = thread::spawn(move || {
        loop {
            match interf.receive() {
                Ok(Some(p)) => {
                    let at = Instant::now();
                    if let Some(seq) = parse(p.data(), ethertype, nonce) {
                        let _ = tx.send(Seen {
                            seq,
                            at,
                            timestamp: p.timestamp(),
                            wire_len: p.wire_len(),
                            captured_len: p.captured_len(),
                        });
                    }
                }
                Ok(None) => {}
                Err(Error::Broken) => break,
                Err(e) => panic!("receive on {}: {e}", interf.name()),
            }
        }
        interf
    });
    (rx, handle, breaker)
}

fn summary(label: &str, mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let pick = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let median = pick(0.5);
    println!(
        "{label}: n={} min {:.0} us, median {:.0} us, p90 {:.0} us, max {:.0} us",
        samples.len(),
        us(samples[0]),
        us(median),
        us(pick(0.9)),
        us(samples[samples.len() - 1])
    );
    (median, samples[samples.len() - 1])
}

fn abs_diff(a: SystemTime, b: SystemTime) -> Duration {
    a.duration_since(b)
        .or_else(|_| b.duration_since(a))
        .unwrap_or_default()
}

/// One-way a -> b: frames sent on `a` while a thread is blocked receiving on `b`.
fn one_way(lib: &Library, config: &Config, rounds: u32, label: &str) -> (Duration, Duration) {
    let (a_mac, b_mac) = (mac_of("a"), mac_of("b"));
    let nonce = rand_u64();
    let tx = lib.open_interface_with("a", config).expect("open a");
    let mut rx = lib.open_interface_with("b", config).expect("open b");
    assert_eq!(rx.data_link(), DataLink::Ethernet);
    assert_eq!(rx.immediate_mode(), config.immediate);
    rx.set_filter(&format!("ether proto {ETHERTYPE_REQUEST:#06x}"))
        .expect("filter");
    let nanos = rx.nanosecond_timestamps();
    // Linux libpcap offers `host` (plus `adapter*` where the NIC stamps in
    // hardware; a veth does not): never `host_hiprec`, so the default stays.
    println!(
        "{label}: time stamp types offered {:?}, set {:?}",
        rx.offered_timestamp_types(),
        rx.timestamp_type()
    );
    assert!(rx
        .offered_timestamp_types()
        .contains(&rawsock::TimestampType::Host));
    assert_eq!(rx.timestamp_type(), None);
    let (seen, receiver, breaker) = spawn_receiver(rx, ETHERTYPE_REQUEST, nonce);
    let mut latencies = Vec::new();
    let mut offsets = Vec::new();
    for seq in 0..rounds {
        thread::sleep(Duration::from_millis(20)); // the receiver is idle and blocked
        let f = frame(b_mac, a_mac, ETHERTYPE_REQUEST, nonce, seq);
        let sent_wall = SystemTime::now();
        let sent = Instant::now();
        tx.send(&f).expect("send on a");
        let s = seen
            .recv_timeout(Duration::from_secs(2))
            .unwrap_or_else(|_| panic!("{label}: frame {seq} not received within 2 s"));
        assert_eq!(s.seq, seq);
        assert_eq!((s.wire_len, s.captured_len), (64, 64));
        let now = SystemTime::now();
        assert!(
            abs_diff(s.timestamp, now) < Duration::from_secs(1),
            "time stamp {:?} is not within a second of now {now:?}",
            s.timestamp
        );
        latencies.push(s.at.duration_since(sent));
        offsets.push(abs_diff(s.timestamp, sent_wall));
    }
    drop(breaker);
    let mut rx = receiver.join().expect("receiver thread");
    let stats = rx.stats().expect("stats");
    println!(
        "{label}: nanosecond time stamps: {nanos}; stats {stats:?}; |capture time stamp - send time| max {:?}",
        offsets.iter().max().unwrap()
    );
    assert!(stats.received >= u64::from(rounds), "{stats:?}");
    summary(label, latencies)
}

/// Round trip: a thread blocked receiving replies on `a` while the main
/// thread sends requests with a `Sender` of the same handle; an echo thread
/// on `b` answers each request.
fn round_trip(lib: &Library) -> (Duration, Duration) {
    let (a_mac, b_mac) = (mac_of("a"), mac_of("b"));
    let nonce = rand_u64();
    let mut a = lib.open_interface("a").expect("open a");
    a.set_filter(&format!("ether proto {ETHERTYPE_REPLY:#06x}"))
        .expect("filter a");
    let a_sender = a.sender();
    let mut b = lib.open_interface("b").expect("open b");
    b.set_filter(&format!("ether proto {ETHERTYPE_REQUEST:#06x}"))
        .expect("filter b");
    let echo_breaker = BreakOnDrop(b.breaker());
    let echo = thread::spawn(move || loop {
        let reply = match b.receive() {
            Ok(Some(p)) => match parse(p.data(), ETHERTYPE_REQUEST, nonce) {
                Some(seq) => frame(a_mac, b_mac, ETHERTYPE_REPLY, nonce, seq),
                None => continue,
            },
            Ok(None) => continue,
            Err(Error::Broken) => return,
            Err(e) => panic!("echo receive: {e}"),
        };
        b.send(&reply).expect("echo send");
    });
    let (seen, receiver, breaker) = spawn_receiver(a, ETHERTYPE_REPLY, nonce);
    let mut rtts = Vec::new();
    for seq in 0..ROUNDS {
        thread::sleep(Duration::from_millis(20));
        let sent = Instant::now();
        a_sender
            .send(&frame(b_mac, a_mac, ETHERTYPE_REQUEST, nonce, seq))
            .expect("send on a");
        let s = seen
            .recv_timeout(Duration::from_secs(2))
            .unwrap_or_else(|_| panic!("reply {seq} not received within 2 s"));
        assert_eq!(s.seq, seq);
        rtts.push(s.at.duration_since(sent));
    }
    drop(breaker);
    drop(echo_breaker);
    receiver.join().expect("receiver thread");
    echo.join().expect("echo thread");
    summary("round trip a -> b -> a, immediate mode", rtts)
}

/// How a receive on an idle interface ended.
#[derive(Debug)]
enum Idle {
    /// It returned on its own with this result after this long.
    Returned(Result<bool, Error>, Duration),
    /// It was still blocked after the limit; a breaker then made it return
    /// this, this long after `break_loop`.
    Broken(Result<bool, Error>, Duration),
}

/// Runs one `receive` on an idle interface in a thread. If it has not
/// returned after `limit`, stops it with a breaker.
fn idle_receive(mut interf: Interface, limit: Duration) -> Idle {
    let breaker = interf.breaker();
    let guard = BreakOnDrop(interf.breaker());
    let (tx, rx) = mpsc::channel();
    let start = Instant::now();
    let t = thread::spawn(move || {
        let r = interf.receive().map(|p| p.is_some());
        let _ = tx.send((r, Instant::now()));
    });
    let idle = match rx.recv_timeout(limit) {
        Ok((r, at)) => Idle::Returned(r, at.duration_since(start)),
        Err(_) => {
            let asked = Instant::now();
            breaker.break_loop();
            let (r, at) = rx
                .recv_timeout(Duration::from_secs(2))
                .unwrap_or_else(|_| panic!("the breaker did not stop the receive within 2 s"));
            Idle::Broken(r, at.duration_since(asked))
        }
    };
    drop(guard);
    t.join().expect("idle receive thread");
    idle
}

fn rand_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish()
}

#[test]
#[ignore = "run by veth_capture inside its own network namespace"]
fn inner_veth_body() {
    let Ok(ns) = std::env::var(INNER_ENV) else {
        println!("skipped: inner_veth_body only runs inside veth_capture's namespace");
        return;
    };
    // Never run on the machine's own network: we must be in another namespace.
    let own = std::fs::read_link("/proc/self/ns/net").expect("own netns");
    let outer = std::env::var(OUTER_NETNS_ENV).expect("the outer test's netns");
    assert_ne!(
        own.to_string_lossy(),
        outer,
        "not inside the test namespace {ns}"
    );

    let lib = open_best_library().expect("libpcap");
    println!("library: {} ({})", lib.version(), lib.path());
    assert!(lib.supports_pcap_create() && lib.supports_immediate_mode());

    // 9. all_interfaces lists the pair.
    let devs = lib.all_interfaces().expect("all_interfaces");
    for name in ["a", "b"] {
        assert!(
            devs.iter().any(|d| d.name == name),
            "{name} not in {devs:?}"
        );
    }

    // 1./8. One-way latency with immediate mode, time stamps and lengths.
    let immediate = Config::default().require_ethernet(true);
    let (median, _) = one_way(&lib, &immediate, ROUNDS, "one way a -> b, immediate mode");
    assert!(
        median < Duration::from_millis(5),
        "immediate mode median {median:?} is not well under the 10 ms read timeout"
    );
    // The same without immediate mode, for comparison (frames may wait for
    // the read timeout there).
    let batched = Config::default().immediate(false);
    let (_, max) = one_way(&lib, &batched, 10, "one way a -> b, immediate mode off");
    assert!(
        max < Duration::from_millis(200),
        "without immediate mode a frame waited {max:?}, far beyond the 10 ms read timeout"
    );

    // 4. Send on a handle while another thread receives on it; a ping's RTT.
    let (rtt, _) = round_trip(&lib);
    assert!(rtt < Duration::from_millis(5), "median RTT {rtt:?}");

    // 3. Idle, immediate mode off: receive either times out with Ok(None)
    // within bounds or, where the platform's timer only runs once a frame
    // has arrived (Linux TPACKET_V3: the kernel does not wake the reader for
    // an empty block; pcap(3PCAP) documents this), stays blocked until a
    // breaker stops it.
    let nothing = "ether proto 0x88b7"; // nobody sends that
    for _ in 0..3 {
        let mut idle = lib.open_interface_with("b", &batched).expect("open b");
        idle.set_filter(nothing).expect("filter");
        let outcome = idle_receive(idle, Duration::from_secs(1));
        println!("idle receive, immediate mode off, 10 ms read timeout: {outcome:?}");
        match outcome {
            Idle::Returned(result, took) => {
                assert_eq!(result, Ok(false));
                assert!(took < Duration::from_secs(1), "{took:?}");
            }
            Idle::Broken(result, took) => {
                assert_eq!(result, Err(Error::Broken));
                assert!(took < Duration::from_millis(100), "{took:?}");
            }
        }
    }

    // 4. A Breaker stops a thread blocked in receive (immediate mode).
    {
        let mut interf = lib.open_interface("b").expect("open b");
        interf.set_filter(nothing).expect("filter");
        let breaker = interf.breaker();
        let timeouts = Arc::new(AtomicUsize::new(0));
        let counted = timeouts.clone();
        let (tx, rx) = mpsc::channel();
        let t = thread::spawn(move || loop {
            match interf.receive() {
                Ok(None) => {
                    counted.fetch_add(1, Ordering::Relaxed);
                }
                other => {
                    let _ = tx.send((other.map(|p| p.is_some()), Instant::now()));
                    return;
                }
            }
        });
        thread::sleep(Duration::from_millis(300));
        assert!(rx.try_recv().is_err(), "receive returned before the break");
        let asked = Instant::now();
        breaker.break_loop();
        let (result, returned) = rx
            .recv_timeout(Duration::from_secs(2))
            .unwrap_or_else(|_| panic!("the breaker did not stop the receive within 2 s"));
        t.join().expect("receiver thread");
        let took = returned.duration_since(asked);
        println!(
            "breaker: receive returned {result:?} {took:?} after break_loop \
             ({} read timeouts while idle for 300 ms in immediate mode)",
            timeouts.load(Ordering::Relaxed)
        );
        assert_eq!(result, Err(Error::Broken));
        assert!(took < Duration::from_millis(100), "{took:?}");
    }

    // 21. wait_readable: false on an idle handle, true once a frame is in,
    // and the frame is then received without blocking.
    {
        let (a_mac, b_mac) = (mac_of("a"), mac_of("b"));
        let nonce = rand_u64();
        let tx = lib.open_interface("a").expect("open a");
        let mut rx = lib.open_interface("b").expect("open b");
        rx.set_filter(&format!("ether proto {ETHERTYPE_REQUEST:#06x}"))
            .expect("filter");
        assert_eq!(rx.wait_readable(Duration::ZERO), Ok(Some(false)));
        let started = Instant::now();
        assert_eq!(rx.wait_readable(Duration::from_millis(50)), Ok(Some(false)));
        assert!(started.elapsed() >= Duration::from_millis(40));
        tx.send(&frame(b_mac, a_mac, ETHERTYPE_REQUEST, nonce, 7))
            .expect("send");
        assert_eq!(rx.wait_readable(Duration::from_secs(2)), Ok(Some(true)));
        let packet = rx.receive().expect("receive").expect("a frame");
        assert_eq!(parse(packet.data(), ETHERTYPE_REQUEST, nonce), Some(7));
        assert_eq!(rx.wait_readable(Duration::ZERO), Ok(Some(false)));
    }

    // 6. loop_infinite: stopped by a breaker; a panicking callback unwinds
    // out of it (not through C).
    {
        let (a_mac, b_mac) = (mac_of("a"), mac_of("b"));
        let nonce = rand_u64();
        let tx = lib.open_interface("a").expect("open a");
        let mut rx = lib.open_interface("b").expect("open b");
        rx.set_filter(&format!("ether proto {ETHERTYPE_REQUEST:#06x}"))
            .expect("filter");
        let breaker = BreakOnDrop(rx.breaker());
        let (seen_tx, seen) = mpsc::channel();
        let looper = thread::spawn(move || {
            let r = rx.loop_infinite(|p| {
                if let Some(seq) = parse(p.data(), ETHERTYPE_REQUEST, nonce) {
                    let _ = seen_tx.send(seq);
                }
            });
            (r, rx)
        });
        for seq in 0..5 {
            tx.send(&frame(b_mac, a_mac, ETHERTYPE_REQUEST, nonce, seq))
                .expect("send");
            assert_eq!(seen.recv_timeout(Duration::from_secs(2)), Ok(seq));
        }
        drop(breaker);
        let (r, mut rx) = looper.join().expect("loop thread");
        assert_eq!(r, Ok(()));

        let panicker = thread::spawn(move || {
            panic::catch_unwind(AssertUnwindSafe(|| {
                let _ = rx.loop_infinite(|p| panic!("callback panic on {} bytes", p.wire_len()));
            }))
        });
        thread::sleep(Duration::from_millis(50));
        tx.send(&frame(b_mac, a_mac, ETHERTYPE_REQUEST, nonce, 99))
            .expect("send");
        let payload = panicker
            .join()
            .expect("thread")
            .expect_err("the callback's panic must come out of loop_infinite");
        let text = payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default();
        assert_eq!(text, "callback panic on 64 bytes");
        println!("loop_infinite: stopped by breaker; callback panic resumed: {text:?}");
    }

    // 5. Filter errors carry pcap_geterr's text.
    {
        let mut interf = lib.open_interface("b").expect("open b");
        match interf.set_filter("this is not bpf") {
            Err(Error::Filter { filter, message }) => {
                println!("bad filter: {message}");
                assert_eq!(filter, "this is not bpf");
                assert!(!message.is_empty());
            }
            other => panic!("bad filter accepted: {other:?}"),
        }
        assert!(matches!(interf.send(&[]), Err(Error::InvalidArgument(_))));
    }

    // 10. Non-Ethernet devices are refused when asked; missing ones are NoSuchDevice.
    match lib.open_interface_with("any", &Config::default().require_ethernet(true)) {
        Err(Error::NotEthernet { device, data_link }) => {
            println!("\"any\" refused: data link {data_link}");
            assert_eq!(device, "any");
            assert_ne!(data_link, DataLink::Ethernet);
        }
        other => panic!("\"any\" was not refused: {other:?}"),
    }
    match lib.open_interface("rawsock-none0") {
        Err(e @ Error::NoSuchDevice { .. }) => println!("missing device: {e}"),
        other => panic!("expected NoSuchDevice: {other:?}"),
    }

    // 23. The Linux packet sockets (rawsock::linux).
    linux_sockets(&lib);

    println!("veth body: all checks passed");
}

/// Receives with `socket` until a frame `parse`s, or `Ok(None)` comes after
/// `wait` (nonblocking).
fn socket_frame(
    socket: &mut CaptureSocket,
    ethertype: u16,
    nonce: u64,
    wait: Duration,
) -> Option<(u32, Vec<u8>, u32, SystemTime)> {
    socket.set_nonblocking(true).expect("nonblocking");
    let deadline = Instant::now() + wait;
    loop {
        match socket.receive() {
            Ok(Some(p)) => {
                if let Some(seq) = parse_tagged(p.data(), ethertype, nonce) {
                    return Some((seq, p.data().to_vec(), p.wire_len(), p.timestamp()));
                }
            }
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(1)),
            Ok(None) => return None,
            Err(e) => panic!("receive: {e}"),
        }
    }
}

/// [`parse`], also through an 802.1Q tag.
fn parse_tagged(data: &[u8], ethertype: u16, nonce: u64) -> Option<u32> {
    if data.len() > 18 && data[12..14] == [0x81, 0x00] {
        let mut untagged = data[..12].to_vec();
        untagged.extend_from_slice(&data[16..]);
        return parse(&untagged, ethertype, nonce);
    }
    parse(data, ethertype, nonce)
}

fn linux_sockets(lib: &Library) {
    let (a_mac, b_mac) = (mac_of("a"), mac_of("b"));
    let nonce = rand_u64();
    let requests = format!("ether proto {ETHERTYPE_REQUEST:#06x} or vlan");
    let config = Config::default().snaplen(128);
    let tx = SendSocket::open("a").expect("send socket on a");
    let mut on_a = CaptureSocket::open(lib, "a", &config, &requests).expect("capture a");
    let mut on_b = CaptureSocket::open(lib, "b", &config, &requests).expect("capture b");
    // A libpcap handle next to them: the same frames, the same time stamps.
    let mut pcap_b = lib.open_interface_with("b", &config).expect("open b");
    pcap_b.set_filter(&requests).expect("filter");
    pcap_b.set_nonblocking(true).expect("nonblocking");

    let sent_at = SystemTime::now();
    tx.send(&frame(b_mac, a_mac, ETHERTYPE_REQUEST, nonce, 1))
        .expect("send");
    // Another EtherType: the filter keeps it out.
    tx.send(&frame(b_mac, a_mac, 0x88b7, nonce, 2))
        .expect("send");
    let (seq, data, wire_len, at_b) =
        socket_frame(&mut on_b, ETHERTYPE_REQUEST, nonce, Duration::from_secs(2))
            .expect("b captured the frame a sent");
    assert_eq!((seq, data.len(), wire_len), (1, 64, 64));
    assert!(abs_diff(at_b, sent_at) < Duration::from_secs(1), "{at_b:?}");
    // The capture on the sending device sees the frame leave (a socket
    // does not see what it sent itself; another one does).
    let (seq, _, _, at_a) =
        socket_frame(&mut on_a, ETHERTYPE_REQUEST, nonce, Duration::from_secs(2))
            .expect("a's capture saw the frame leave");
    assert_eq!(seq, 1);
    assert!(at_a <= at_b, "left at {at_a:?}, arrived at {at_b:?}");
    let pcap_frame = {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            match pcap_b.receive() {
                Ok(Some(p)) if parse(p.data(), ETHERTYPE_REQUEST, nonce) == Some(1) => {
                    break (p.data().to_vec(), p.timestamp());
                }
                Ok(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(1)),
                other => panic!(
                    "libpcap did not capture the frame: {:?}",
                    other.map(|p| p.is_some())
                ),
            }
        }
    };
    assert_eq!(
        pcap_frame,
        (data, at_b),
        "libpcap captured the same frame at the same time"
    );
    assert!(socket_frame(&mut on_b, 0x88b7, nonce, Duration::from_millis(50)).is_none());

    // A tagged frame: the kernel takes the tag out on receive; it is put back.
    let mut tagged = frame(b_mac, a_mac, ETHERTYPE_REQUEST, nonce, 3);
    tagged.splice(12..12, [0x81, 0x00, 0x01, 0x23]);
    tx.send(&tagged).expect("send tagged");
    let (seq, data, wire_len, _) =
        socket_frame(&mut on_b, ETHERTYPE_REQUEST, nonce, Duration::from_secs(2))
            .expect("b captured the tagged frame");
    assert_eq!((seq, wire_len), (3, 68));
    assert_eq!(data, tagged, "the tag is where it was on the wire");

    // The snap length cuts frames; the wire length stays.
    let mut long = frame(b_mac, a_mac, ETHERTYPE_REQUEST, nonce, 4);
    long.resize(300, 0x77);
    tx.send(&long).expect("send long");
    let (seq, data, wire_len, _) =
        socket_frame(&mut on_b, ETHERTYPE_REQUEST, nonce, Duration::from_secs(2))
            .expect("b captured the long frame");
    assert_eq!((seq, data.len(), wire_len), (4, 128, 300));
    assert_eq!(data, long[..128]);

    // A breaker stops a blocked receive, at once; one asked before the
    // receive makes it return at once, and is used up by it.
    on_b.set_nonblocking(false).expect("blocking");
    let breaker = on_b.breaker();
    breaker.break_loop();
    assert!(matches!(on_b.receive(), Err(Error::Broken)));
    let (result_tx, result) = mpsc::channel();
    let blocked = thread::spawn(move || {
        let r = on_b.receive().map(|p| p.is_some());
        let _ = result_tx.send((r, Instant::now()));
    });
    thread::sleep(Duration::from_millis(200));
    assert!(
        result.try_recv().is_err(),
        "receive returned before the break"
    );
    let asked = Instant::now();
    breaker.break_loop();
    let (r, returned) = result
        .recv_timeout(Duration::from_secs(2))
        .expect("the breaker stopped the receive");
    blocked.join().expect("receiver thread");
    println!(
        "socket breaker: {r:?} {:?} after break_loop",
        returned.duration_since(asked)
    );
    assert_eq!(r, Err(Error::Broken));
    assert!(returned.duration_since(asked) < Duration::from_millis(100));

    // Errors.
    match CaptureSocket::open(lib, "b", &config, "this is not bpf") {
        Err(Error::Filter { filter, message }) => {
            assert_eq!(filter, "this is not bpf");
            assert!(!message.is_empty());
        }
        other => panic!("bad filter accepted: {other:?}"),
    }
    match CaptureSocket::open(lib, "rawsock-none0", &config, &requests) {
        Err(Error::NoSuchDevice { .. }) => {}
        other => panic!("expected NoSuchDevice: {other:?}"),
    }
    assert!(matches!(
        SendSocket::open("rawsock-none0"),
        Err(Error::NoSuchDevice { .. })
    ));
    match CaptureSocket::open(lib, "c", &config, &requests) {
        Err(Error::OpeningInterface { message, .. }) => {
            println!("device down: {message}");
            assert!(message.contains("not up"), "{message}");
        }
        other => panic!("a device that is down was opened: {other:?}"),
    }
    if std::path::Path::new("/sys/class/net/t0").exists() {
        match CaptureSocket::open(lib, "t0", &config, &requests) {
            Err(Error::NotEthernet { data_link, .. }) => assert_eq!(data_link, DataLink::RawIp),
            other => panic!("tun device not refused: {other:?}"),
        }
        assert!(matches!(
            SendSocket::open("t0"),
            Err(Error::NotEthernet { .. })
        ));
    } else {
        println!("no tun device: NotEthernet of the sockets not checked");
    }
    assert!(matches!(tx.send(&[0; 13]), Err(Error::InvalidArgument(_))));
    println!(
        "linux sockets: frames, own frames, time stamps, VLAN tags, snap length, breaker, errors"
    );
}
