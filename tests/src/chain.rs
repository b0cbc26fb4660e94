//! A path of routers for traceroute tests: real Linux kernels forwarding
//! hop by hop, each link its own /24, deleted on drop (also on failure).
//!
//! ```text
//!   host 10.78.0.2 ─ r1 10.78.0.1 | 10.78.1.1 ─ r2 10.78.1.2 | 10.78.2.1 ─ r3 10.78.2.2 | 10.78.3.1 ─ target 10.78.3.2
//! ```
//!
//! Every router forwards toward the target by default and back toward the
//! host by a route for each link behind it; the last router has no default route,
//! so an address outside 10.78.0.0/16 is "net unreachable" there (hop 3).
//! Nothing leaves the chain: no namespace has a route out of it.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::{must, remove_stale_labs, Ns, COUNTER, PREFIX};

/// The addresses of a chain of three routers.
pub mod addrs {
    /// Where the code under test runs.
    pub const HOST: &str = "10.78.0.2";
    /// The routers, as the host's probes meet them (their near side).
    pub const ROUTERS: [&str; 3] = ["10.78.0.1", "10.78.1.2", "10.78.2.2"];
    /// The end of the path.
    pub const TARGET: &str = "10.78.3.2";
    /// Outside every route of the last router: net unreachable at hop 3.
    pub const UNROUTED: &str = "10.99.0.1";
}

/// A running chain; dropping it deletes every namespace it made.
#[derive(Debug)]
pub struct Chain {
    /// Unique id (part of every namespace name).
    pub id: String,
    /// `lab0` 10.78.0.2/24, default via 10.78.0.1.
    pub host: Ns,
    /// r1, r2, r3.
    pub routers: Vec<Ns>,
    /// `lab0` 10.78.3.2/24.
    pub target: Ns,
}

impl Chain {
    /// Builds the chain (host, three routers, target). Panics (after
    /// cleaning up) if it cannot, e.g. when not root.
    pub fn new() -> Chain {
        assert!(crate::is_root(), "the chain lab needs root (ip netns add)");
        remove_stale_labs();
        let id = format!(
            "{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let ns = |role: &str| Ns {
            name: format!("{PREFIX}{id}-{role}"),
        };
        // From here on, a panic drops `chain`, which deletes what exists so far.
        let mut chain = Chain {
            host: ns("host"),
            routers: Vec::new(),
            target: ns("target"),
            id: id.clone(),
        };
        must(&["netns", "add", &chain.host.name]);
        for i in 1..=3 {
            let r = ns(&format!("r{i}"));
            must(&["netns", "add", &r.name]);
            chain.routers.push(r);
        }
        must(&["netns", "add", &chain.target.name]);
        let quiet =
            "sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
            sysctl -qw net.ipv4.icmp_ratelimit=0";
        // Links first, each made inside the router on its host side and its
        // other end moved: link i is 10.78.i.0/24, .1 on the host side.
        chain.routers[0].sh(&format!(
            "ip link add left type veth peer name lab0 netns {}",
            chain.host.name
        ));
        for (i, r) in chain.routers.iter().enumerate() {
            let (next, peer) = match chain.routers.get(i + 1) {
                Some(n) => (&n.name, "left"),
                None => (&chain.target.name, "lab0"),
            };
            r.sh(&format!(
                "ip link add right type veth peer name {peer} netns {next}"
            ));
        }
        // Then addresses, then routes (a gateway must be on a link that is up).
        for (i, r) in chain.routers.iter().enumerate() {
            let (left, right) = (i, i + 1);
            let near = if i == 0 { 1 } else { 2 };
            r.sh(&format!(
                "set -e
                {quiet}
                sysctl -qw net.ipv4.ip_forward=1 net.ipv4.icmp_ratemask=0
                sysctl -qw net.ipv4.icmp_msgs_per_sec=100000 net.ipv4.icmp_msgs_burst=100000
                ip link set lo up
                ip addr add 10.78.{left}.{near}/24 dev left
                ip addr add 10.78.{right}.1/24 dev right
                ip link set left up
                ip link set right up"
            ));
        }
        for (ns, addr, gw) in [
            (&chain.host, "10.78.0.2/24", "10.78.0.1"),
            (&chain.target, "10.78.3.2/24", "10.78.3.1"),
        ] {
            ns.sh(&format!(
                "set -e
                {quiet}
                ip link set lo up
                ip addr add {addr} dev lab0
                ip link set lab0 up
                ip route add default via {gw}"
            ));
            ns.full_checksums("lab0");
        }
        let last = chain.routers.len() - 1;
        for (i, r) in chain.routers.iter().enumerate() {
            // Back toward the host: every link before this router's.
            for link in 0..i {
                r.sh(&format!("ip route add 10.78.{link}.0/24 via 10.78.{i}.1"));
            }
            if i < last {
                r.sh(&format!("ip route add default via 10.78.{}.2", i + 1));
            }
        }
        chain.wait_for_links();
        chain
    }

    /// Every namespace of the chain.
    pub fn namespaces(&self) -> Vec<&Ns> {
        std::iter::once(&self.host)
            .chain(&self.routers)
            .chain([&self.target])
            .collect()
    }

    /// Makes router `i` (0 for r1) send no Time Exceeded (an nftables rule
    /// in its namespace): a hop that forwards but never answers a trace.
    pub fn silence(&self, i: usize) {
        self.routers[i].sh("set -e
            nft add table ip quiet
            nft add chain ip quiet out '{ type filter hook output priority 0; }'
            nft add rule ip quiet out icmp type time-exceeded drop");
    }

    /// Waits (bounded) until the kernel's ping crosses the whole path.
    fn wait_for_links(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = self
                .host
                .sh_status("ping -n -q -c 1 -W 1 10.78.3.2 >/dev/null");
            if out.status.success() {
                for ns in self.namespaces() {
                    ns.sh("ip neigh flush all");
                }
                return;
            }
            if Instant::now() >= deadline {
                let state: String = self
                    .namespaces()
                    .iter()
                    .map(|n| {
                        format!(
                            "{}:\n{}\n",
                            n.name,
                            String::from_utf8_lossy(&n.sh_status("ip -br addr; ip route").stdout)
                        )
                    })
                    .collect();
                panic!(
                    "chain {}: the path did not come up within 10 s\n{state}",
                    self.id
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Default for Chain {
    fn default() -> Self {
        Chain::new()
    }
}

impl Drop for Chain {
    fn drop(&mut self) {
        for n in self.namespaces() {
            let _ = crate::ip(&["netns", "del", &n.name]);
        }
    }
}
