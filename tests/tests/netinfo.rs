//! `ersatz::netinfo` against real kernels: each test re-runs itself inside a
//! namespace (see `Ns::run_inside`), where the inner run calls netinfo and
//! prints what it found, and the outer run checks that against what `ip` and
//! sysfs say in that same namespace. These tests only read tables: no packet
//! is sent.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use ersatz::netinfo::{self, Error, Route, Via, NIC};
use ersatz::{ethernet, ipv4};
use ersatz_e2e::{addrs, inside, Lab, Ns};

const INNER_TIMEOUT: Duration = Duration::from_secs(60);
/// Starts every line the inner run prints for the outer one (the test
/// harness may have printed on the same line before it).
const MARK: &str = "netinfo> ";

// ---- inner side: call netinfo, print one line per question ----

fn addr(s: &str) -> ipv4::Addr {
    s.parse().expect("a literal IPv4 address")
}

fn show_nic(n: &NIC) -> String {
    format!(
        "name={} description={} device={} index={} addr={}/{} mask={} mac={} gateway={}",
        n.name,
        n.description,
        n.device,
        n.index,
        n.addr,
        n.prefix_len,
        n.mask(),
        n.mac,
        n.gateway.map_or("none".to_string(), |g| g.to_string())
    )
}

/// The variant name of an error (`NoRoute`, `NotEthernet`, ...).
fn variant(e: &Error) -> String {
    let debug = format!("{e:?}");
    debug
        .split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_string()
}

fn show_error(e: &Error) -> String {
    let via = match e {
        Error::NotEthernet { via, kind, .. } => {
            let via = match via {
                Via::Route(a) => format!("route:{a}"),
                Via::DefaultRoute => "default".to_string(),
                Via::Named => "named".to_string(),
            };
            format!(" via={via} kind_has_65534={}", kind.contains("65534"))
        }
        _ => String::new(),
    };
    // The message goes last: it is the only field with spaces.
    format!("error={}{via} message={e}", variant(e))
}

fn show_route(key: &str, r: Result<Route, Error>) {
    match r {
        Ok(r) => println!(
            "{MARK}{key}: {} next_hop={} on_link={} destination={}",
            show_nic(&r.nic),
            r.next_hop,
            r.on_link(),
            r.destination
        ),
        Err(e) => println!("{MARK}{key}: {}", show_error(&e)),
    }
}

fn show_nic_result(key: &str, r: Result<NIC, Error>) {
    match r {
        Ok(n) => println!("{MARK}{key}: {}", show_nic(&n)),
        Err(e) => println!("{MARK}{key}: {}", show_error(&e)),
    }
}

fn show_nics() {
    match netinfo::nics() {
        Ok(all) => {
            let names: Vec<&str> = all.iter().map(|n| n.name.as_str()).collect();
            println!("{MARK}nics: names={}", names.join(","));
        }
        Err(e) => println!("{MARK}nics: {}", show_error(&e)),
    }
}

// ---- outer side: read the inner lines back ----

/// `key: a=1 b=2 message=free text` for every marked line of the inner output.
fn parse_inner(stdout: &str) -> HashMap<String, HashMap<String, String>> {
    let mut out = HashMap::new();
    for line in stdout.lines() {
        let Some((_, line)) = line.split_once(MARK) else {
            continue;
        };
        let Some((key, rest)) = line.split_once(": ") else {
            continue;
        };
        let (fields, message) = match rest.split_once(" message=") {
            Some((f, m)) => (f, Some(m)),
            None => (rest, None),
        };
        let mut map: HashMap<String, String> = fields
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if let Some(m) = message {
            map.insert("message".to_string(), m.to_string());
        }
        out.insert(key.to_string(), map);
    }
    out
}

fn run_inner(ns: &Ns, test: &str) -> HashMap<String, HashMap<String, String>> {
    let stdout = ns.run_inside_ok(test, &[], INNER_TIMEOUT);
    eprintln!("inner output of {test} in {}:\n{stdout}", ns.name);
    parse_inner(&stdout)
}

fn field<'a>(
    results: &'a HashMap<String, HashMap<String, String>>,
    key: &str,
    name: &str,
) -> &'a str {
    results
        .get(key)
        .unwrap_or_else(|| panic!("no `{key}` line in the inner output: {results:?}"))
        .get(name)
        .unwrap_or_else(|| panic!("no `{name}` in the `{key}` line: {:?}", results[key]))
}

/// The value after `"name":` in JSON text, as a string or a number (first occurrence).
fn json_value<'a>(json: &'a str, name: &str) -> &'a str {
    let pat = format!("\"{name}\":");
    let start = json
        .find(&pat)
        .unwrap_or_else(|| panic!("no {pat} in {json}"))
        + pat.len();
    let rest = &json[start..];
    if let Some(s) = rest.strip_prefix('"') {
        &s[..s.find('"').expect("a closing quote")]
    } else {
        let end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        &rest[..end]
    }
}

/// lab0's MAC as ersatz prints it (`02-E5-...`), from sysfs in the namespace.
fn sysfs_mac(ns: &Ns, ifname: &str) -> String {
    let mac: ethernet::Addr = ns.mac(ifname).parse().expect("sysfs prints a MAC");
    mac.to_string()
}

// ---- extra namespaces, deleted on drop (also when a test panics) ----

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A namespace of its own for one test. Its name starts like the lab's
/// (`ersatzlab<pid>-`), so one left behind by a killed run is removed by the
/// next `Lab::new`.
struct ExtraNs(Ns);

impl ExtraNs {
    fn new(role: &str, script: &str) -> ExtraNs {
        assert!(
            ersatz_e2e::is_root(),
            "these tests need root (ip netns add)"
        );
        let name = format!(
            "ersatzlab{}-netinfo{}-{role}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let out = Command::new("timeout")
            .args(["20", "ip", "netns", "add", &name])
            .stdin(Stdio::null())
            .output()
            .expect("run `ip netns add`");
        assert!(
            out.status.success(),
            "ip netns add {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // From here on, a panic drops `ns`, which deletes the namespace.
        let ns = ExtraNs(Ns { name });
        ns.0.sh(&format!(
            "set -e
            sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
            ip link set lo up
            {script}"
        ));
        ns
    }
}

impl Drop for ExtraNs {
    fn drop(&mut self) {
        let _ = Command::new("timeout")
            .args(["20", "ip", "netns", "del", &self.0.name])
            .stdin(Stdio::null())
            .output();
    }
}

// ---- the tests ----

/// In the lab's host: the remote is reached through lab0 via the gateway, the
/// neighbour on-link, and the host's own address is refused.
#[test]
fn netinfo_in_the_lab_host() {
    if inside() {
        show_route("remote", netinfo::route_to(addr(addrs::REMOTE)));
        show_route("neighbour", netinfo::route_to(addr(addrs::NEIGHBOUR)));
        show_route("default", netinfo::default_route());
        show_route("own", netinfo::route_to(addr(addrs::HOST)));
        show_route("loopback", netinfo::route_to(addr("127.0.0.1")));
        show_nic_result("named", netinfo::nic_named("lab0"));
        show_nic_result("named_lo", netinfo::nic_named("lo"));
        show_nic_result("named_absent", netinfo::nic_named("nosuch0"));
        show_nics();
        return;
    }
    let lab = Lab::new();
    let link = lab.host.sh("ip -j addr show dev lab0");
    let index = json_value(&link, "ifindex").to_string();
    let local = json_value(&link, "local").to_string();
    let prefix = json_value(&link, "prefixlen").to_string();
    let default = lab.host.sh("ip -j route show default");
    let gateway = json_value(&default, "gateway").to_string();
    assert_eq!(json_value(&default, "dev"), "lab0");
    assert_eq!(gateway, addrs::GW);
    assert_eq!(local, addrs::HOST);
    let mac = sysfs_mac(&lab.host, "lab0");
    assert_eq!(mac, "02-E5-A7-01-00-02");

    let r = run_inner(&lab.host, "netinfo_in_the_lab_host");
    for key in ["remote", "neighbour", "default", "named"] {
        assert_eq!(field(&r, key, "name"), "lab0", "{key}");
        assert_eq!(field(&r, key, "description"), "lab0", "{key}");
        assert_eq!(field(&r, key, "device"), "lab0", "{key}");
        assert_eq!(field(&r, key, "index"), index, "{key}");
        assert_eq!(field(&r, key, "addr"), format!("{local}/{prefix}"), "{key}");
        assert_eq!(field(&r, key, "mask"), "255.255.255.0", "{key}");
        assert_eq!(field(&r, key, "mac"), mac, "{key}");
        assert_eq!(field(&r, key, "gateway"), gateway, "{key}");
    }
    assert_eq!(field(&r, "remote", "next_hop"), gateway);
    assert_eq!(field(&r, "remote", "on_link"), "false");
    assert_eq!(field(&r, "remote", "destination"), addrs::REMOTE);
    assert_eq!(field(&r, "neighbour", "next_hop"), addrs::NEIGHBOUR);
    assert_eq!(field(&r, "neighbour", "on_link"), "true");
    assert_eq!(field(&r, "default", "next_hop"), gateway);
    assert_eq!(field(&r, "default", "destination"), "0.0.0.0");
    assert_eq!(field(&r, "own", "error"), "OwnAddress");
    assert_eq!(
        field(&r, "own", "message"),
        format!(
            "{} is this machine's own address: it cannot be pinged on the wire",
            addrs::HOST
        )
    );
    assert_eq!(field(&r, "loopback", "error"), "OwnAddress");
    assert_eq!(field(&r, "named_lo", "error"), "NotEthernet");
    assert_eq!(field(&r, "named_lo", "via"), "named");
    assert_eq!(field(&r, "named_absent", "error"), "NoSuchNic");
    // lo is not Ethernet: lab0 is the only usable adapter.
    assert_eq!(field(&r, "nics", "names"), "lab0");
}

/// A namespace whose only route, the default one, goes over a tun device
/// (ARPHRD_NONE, 65534): every way to reach it says it is not Ethernet.
#[test]
fn netinfo_over_a_tun_device() {
    if inside() {
        show_route("default", netinfo::default_route());
        show_route("route", netinfo::route_to(addr("192.0.2.7")));
        show_route("peer", netinfo::route_to(addr("172.16.0.1")));
        show_nic_result("named", netinfo::nic_named("tun0"));
        show_nics();
        return;
    }
    let ns = ExtraNs::new(
        "tun",
        "ip tuntap add mode tun tun0
        ip addr add 172.16.0.2/30 dev tun0
        ip link set tun0 up
        ip route add default dev tun0",
    );
    assert_eq!(ns.0.sh("cat /sys/class/net/tun0/type").trim(), "65534");
    assert!(ns
        .0
        .sh("ip -j route show default")
        .contains("\"dev\":\"tun0\""));

    let r = run_inner(&ns.0, "netinfo_over_a_tun_device");
    for key in ["default", "route", "peer", "named"] {
        assert_eq!(field(&r, key, "error"), "NotEthernet", "{key}");
        assert_eq!(field(&r, key, "kind_has_65534"), "true", "{key}");
    }
    assert_eq!(field(&r, "default", "via"), "default");
    assert_eq!(field(&r, "route", "via"), "route:192.0.2.7");
    assert_eq!(field(&r, "named", "via"), "named");
    assert_eq!(
        field(&r, "route", "message"),
        "the route to 192.0.2.7 goes through tun0, which is not an Ethernet adapter \
         (tunnel without link layer, e.g. tun or WireGuard, ARPHRD 65534); \
         sup needs an Ethernet or Wi-Fi adapter"
    );
    assert_eq!(field(&r, "nics", "names"), "");
}

/// A namespace with an Ethernet link but no default route: on-link addresses
/// are reached, anything else has no route, and there is no default route.
#[test]
fn netinfo_without_a_default_route() {
    if inside() {
        show_route("default", netinfo::default_route());
        show_route("unrouted", netinfo::route_to(addr(addrs::UNROUTED)));
        show_route("onlink", netinfo::route_to(addr("10.88.0.5")));
        show_nics();
        return;
    }
    // Both ends of the veth pair live in the namespace: nothing outside it.
    let ns = ExtraNs::new(
        "nodefault",
        "ip link add e0 type veth peer name e1
        ip link set e0 address 02:e5:a7:88:00:02
        ip addr add 10.88.0.2/24 dev e0
        ip link set e1 up
        ip link set e0 up",
    );
    assert_eq!(ns.0.sh("ip -j route show default").trim(), "[]");
    let index = json_value(&ns.0.sh("ip -j link show dev e0"), "ifindex").to_string();

    let r = run_inner(&ns.0, "netinfo_without_a_default_route");
    assert_eq!(field(&r, "default", "error"), "NoDefaultRoute");
    assert_eq!(
        field(&r, "default", "message"),
        "no default route: this machine has no gateway configured"
    );
    assert_eq!(field(&r, "unrouted", "error"), "NoRoute");
    assert_eq!(
        field(&r, "unrouted", "message"),
        format!(
            "no route to {}: the routing table has no route that reaches it",
            addrs::UNROUTED
        )
    );
    assert_eq!(field(&r, "onlink", "name"), "e0");
    assert_eq!(field(&r, "onlink", "index"), index);
    assert_eq!(field(&r, "onlink", "addr"), "10.88.0.2/24");
    assert_eq!(field(&r, "onlink", "mac"), "02-E5-A7-88-00-02");
    assert_eq!(field(&r, "onlink", "gateway"), "none");
    assert_eq!(field(&r, "onlink", "next_hop"), "10.88.0.5");
    assert_eq!(field(&r, "onlink", "on_link"), "true");
    // e1 is Ethernet but has no IPv4 address: not listed.
    assert_eq!(field(&r, "nics", "names"), "e0");
}
