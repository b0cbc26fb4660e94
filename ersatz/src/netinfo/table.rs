//! The platform-independent part of netinfo: prefix and mask arithmetic,
//! route selection over a list of route entries, parsing `/proc/net/route`,
//! and turning an adapter as the system describes it into a [`NIC`].
//!
//! Nothing here does I/O, so all of it is unit-tested on every platform.

use std::io;

use super::{Error, Route, Via, NIC};
use crate::{ethernet, ipv4};

/// The subnet mask of a prefix length (lengths above 32 count as 32).
pub(crate) fn mask(prefix_len: u8) -> ipv4::Addr {
    ipv4::Addr(mask_u32(prefix_len).to_be_bytes())
}

fn mask_u32(prefix_len: u8) -> u32 {
    match prefix_len {
        0 => 0,
        n => u32::MAX << (32 - u32::from(n.min(32))),
    }
}

/// The prefix length of a subnet mask, or `None` if its one bits are not
/// contiguous from the top (`255.0.255.0`).
pub(crate) fn prefix_len(mask: ipv4::Addr) -> Option<u8> {
    let m = u32::from_be_bytes(mask.0);
    let len = m.leading_ones();
    // Checked arithmetic: a shift by 32 is an overflow.
    (m.checked_shl(len).unwrap_or(0) == 0).then_some(len as u8)
}

/// Whether `a` is in the subnet `net`/`prefix_len`.
pub(crate) fn in_subnet(a: ipv4::Addr, net: ipv4::Addr, prefix_len: u8) -> bool {
    let m = mask_u32(prefix_len);
    u32::from_be_bytes(a.0) & m == u32::from_be_bytes(net.0) & m
}

/// Whether `a` is in 127.0.0.0/8.
pub(crate) fn is_loopback(a: ipv4::Addr) -> bool {
    a.0[0] == 127
}

/// One entry of a routing table. `K` names the interface: its name on Linux,
/// its index on Windows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RouteEntry<K> {
    /// The interface the route leaves through.
    pub iface: K,
    /// The destination network.
    pub destination: ipv4::Addr,
    /// Its prefix length (0 for a default route).
    pub prefix_len: u8,
    /// The router, or `None` when the destination is on-link.
    pub gateway: Option<ipv4::Addr>,
    /// Lower is preferred.
    pub metric: u32,
    /// Whether the route is usable (RTF_UP).
    pub up: bool,
    /// An unreachable, prohibit or blackhole route: matching it means no route.
    pub reject: bool,
}

impl<K> RouteEntry<K> {
    /// Whether this is a default route (0.0.0.0/0).
    pub fn is_default(&self) -> bool {
        self.prefix_len == 0
    }

    /// Whether the route covers `a`.
    pub fn covers(&self, a: ipv4::Addr) -> bool {
        in_subnet(a, self.destination, self.prefix_len)
    }
}

/// The route the system would take to `dest`: among the up entries that
/// cover it, the longest prefix, then the lowest metric, then the first in
/// table order. A reject entry can win (the caller reports no route then).
pub(crate) fn best_route<K>(entries: &[RouteEntry<K>], dest: ipv4::Addr) -> Option<&RouteEntry<K>> {
    let mut best: Option<&RouteEntry<K>> = None;
    for e in entries.iter().filter(|e| e.up && e.covers(dest)) {
        let better = match best {
            None => true,
            Some(b) => {
                (e.prefix_len, std::cmp::Reverse(e.metric))
                    > (b.prefix_len, std::cmp::Reverse(b.metric))
            }
        };
        if better {
            best = Some(e);
        }
    }
    best
}

/// The default route the system would take: among the up, non-reject
/// 0.0.0.0/0 entries, the lowest metric, then the first in table order.
pub(crate) fn best_default_route<K>(entries: &[RouteEntry<K>]) -> Option<&RouteEntry<K>> {
    let mut best: Option<&RouteEntry<K>> = None;
    for e in entries
        .iter()
        .filter(|e| e.up && !e.reject && e.is_default())
    {
        if best.is_none_or(|b| e.metric < b.metric) {
            best = Some(e);
        }
    }
    best
}

/// The gateway of the best default route through `iface`, if any.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) fn default_gateway_of<K: PartialEq>(
    entries: &[RouteEntry<K>],
    iface: &K,
) -> Option<ipv4::Addr> {
    let mut best: Option<&RouteEntry<K>> = None;
    for e in entries
        .iter()
        .filter(|e| e.up && !e.reject && e.is_default() && e.gateway.is_some() && e.iface == *iface)
    {
        if best.is_none_or(|b| e.metric < b.metric) {
            best = Some(e);
        }
    }
    best.and_then(|e| e.gateway)
}

/// `/proc/net/route` route flags (linux/route.h).
const RTF_UP: u32 = 0x0001;
const RTF_GATEWAY: u32 = 0x0002;
const RTF_REJECT: u32 = 0x0200;

/// Parses the text of Linux's `/proc/net/route`: a header line, then one
/// route a line, `Iface Destination Gateway Flags RefCnt Use Metric Mask MTU
/// Window IRTT`, addresses as the hex of the raw (network order) 32-bit value,
/// which on little-endian machines reads byte-reversed (`0100000A` is
/// 10.0.0.1). An interface of `*` marks a reject route (unreachable,
/// prohibit, blackhole).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) fn parse_proc_net_route(text: &str) -> Result<Vec<RouteEntry<String>>, io::Error> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() || (n == 0 && fields[0] == "Iface") {
            continue;
        }
        let bad = |why: &str| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("line {}: {why}: {line:?}", n + 1),
            )
        };
        if fields.len() < 8 {
            return Err(bad("fewer than 8 fields"));
        }
        let hex = |i: usize, what: &str| {
            u32::from_str_radix(fields[i], 16).map_err(|_| bad(&format!("{what} is not hex")))
        };
        // The kernel prints the __be32 as a host integer: its native-endian
        // bytes are the address in network order.
        let addr = |i: usize, what: &str| hex(i, what).map(|v| ipv4::Addr(v.to_ne_bytes()));
        let destination = addr(1, "destination")?;
        let gateway = addr(2, "gateway")?;
        let flags = hex(3, "flags")?;
        let metric: u32 = fields[6]
            .parse()
            .map_err(|_| bad("metric is not a number"))?;
        let mask = addr(7, "mask")?;
        let prefix_len = prefix_len(mask).ok_or_else(|| bad("mask is not contiguous"))?;
        let iface = fields[0];
        out.push(RouteEntry {
            iface: iface.to_string(),
            destination,
            prefix_len,
            gateway: (flags & RTF_GATEWAY != 0).then_some(gateway),
            metric,
            up: flags & RTF_UP != 0,
            reject: flags & RTF_REJECT != 0 || iface == "*",
        });
    }
    Ok(out)
}

/// An adapter as the system describes it, before deciding whether it can be
/// a [`NIC`].
/// The MTU assumed where the system does not say: Ethernet's.
pub(crate) const DEFAULT_MTU: u32 = 1500;

#[derive(Debug, Clone, PartialEq, Eq, Default)]

pub(crate) struct Adapter {
    /// [`NIC::name`].
    pub name: String,
    /// [`NIC::description`].
    pub description: String,
    /// [`NIC::device`].
    pub device: String,
    /// Other names [`Adapter::is_named`] accepts (Windows: the driver's description).
    pub aliases: Vec<String>,
    /// [`NIC::index`].
    pub index: u32,
    /// `None` for Ethernet and Wi-Fi; otherwise what it is, for [`Error::NotEthernet`].
    pub not_ethernet: Option<String>,
    /// The MAC, if it has one of 6 bytes.
    pub mac: Option<ethernet::Addr>,
    /// Its IPv4 addresses and prefix lengths, primary first.
    pub addrs: Vec<(ipv4::Addr, u8)>,
    /// [`NIC::gateway`].
    pub gateway: Option<ipv4::Addr>,
    /// [`NIC::mtu`]; 0 when unknown (taken as 1500).
    pub mtu: u32,
}

impl Adapter {
    /// The [`NIC`], or why this adapter cannot be one. The address chosen is
    /// `source` if it is one of the adapter's, else the first whose subnet
    /// holds `near` (the next hop), else the first whose subnet holds the
    /// gateway, else the primary one.
    pub fn to_nic(
        &self,
        via: Via,
        source: Option<ipv4::Addr>,
        near: Option<ipv4::Addr>,
    ) -> Result<NIC, Error> {
        if let Some(kind) = &self.not_ethernet {
            return Err(Error::NotEthernet {
                nic: self.description.clone(),
                kind: kind.clone(),
                via,
            });
        }
        let in_net = |a: Option<ipv4::Addr>| {
            a.and_then(|a| {
                self.addrs
                    .iter()
                    .find(|(net, len)| in_subnet(a, *net, *len))
            })
        };
        let &(addr, prefix_len) = source
            .and_then(|s| self.addrs.iter().find(|(a, _)| *a == s))
            .or_else(|| in_net(near))
            .or_else(|| in_net(self.gateway))
            .or_else(|| self.addrs.first())
            .ok_or_else(|| Error::NoIpv4Address {
                nic: self.description.clone(),
            })?;
        let mac = self
            .mac
            .filter(|m| *m != ethernet::Addr::zero())
            .ok_or_else(|| Error::NoMac {
                nic: self.description.clone(),
            })?;
        Ok(NIC {
            name: self.name.clone(),
            description: self.description.clone(),
            device: self.device.clone(),
            index: self.index,
            addr,
            prefix_len,
            mac,
            gateway: self.gateway,
            mtu: if self.mtu == 0 { DEFAULT_MTU } else { self.mtu },
        })
    }

    /// Every name the adapter answers to; a GUID also without its braces.
    fn names(&self) -> impl Iterator<Item = &str> {
        let bare = self
            .name
            .strip_prefix('{')
            .and_then(|n| n.strip_suffix('}'));
        [
            self.name.as_str(),
            self.description.as_str(),
            self.device.as_str(),
        ]
        .into_iter()
        .chain(bare)
        .chain(self.aliases.iter().map(String::as_str))
    }
}

/// The adapter called `name` (see [`super::nic_named`]): an exact match
/// first, then one ignoring ASCII case.
pub(crate) fn find_named<'a>(adapters: &'a [Adapter], name: &str) -> Option<&'a Adapter> {
    adapters
        .iter()
        .find(|a| a.names().any(|n| n == name))
        .or_else(|| {
            adapters
                .iter()
                .find(|a| a.names().any(|n| n.eq_ignore_ascii_case(name)))
        })
}

/// [`super::nic_named`] over a list of adapters.
pub(crate) fn nic_named(adapters: &[Adapter], name: &str) -> Result<NIC, Error> {
    find_named(adapters, name)
        .ok_or_else(|| Error::NoSuchNic(name.to_string()))?
        .to_nic(Via::Named, None, None)
}

/// [`super::nics`] over a list of adapters.
pub(crate) fn nics(adapters: &[Adapter]) -> Vec<NIC> {
    adapters
        .iter()
        .filter_map(|a| a.to_nic(Via::Named, None, None).ok())
        .collect()
}

/// [`Error::OwnAddress`] if `dest` is loopback or one of the adapters' addresses.
pub(crate) fn check_not_own(adapters: &[Adapter], dest: ipv4::Addr) -> Result<(), Error> {
    if is_loopback(dest)
        || adapters
            .iter()
            .any(|a| a.addrs.iter().any(|(x, _)| *x == dest))
    {
        return Err(Error::OwnAddress(dest));
    }
    Ok(())
}

/// [`super::route_to`] over a routing table and the adapters (the Linux way,
/// and Windows' when `GetBestRoute2` is not implemented; `K` is how a route
/// names its adapter).
pub(crate) fn route_to<K>(
    routes: &[RouteEntry<K>],
    adapters: &[Adapter],
    iface_of: impl Fn(&Adapter, &K) -> bool,
    dest: ipv4::Addr,
) -> Result<Route, Error>
where
    K: std::fmt::Display,
{
    check_not_own(adapters, dest)?;
    let entry = best_route(routes, dest)
        .filter(|e| !e.reject)
        .ok_or(Error::NoRoute(dest))?;
    let adapter = adapters
        .iter()
        .find(|a| iface_of(a, &entry.iface))
        .ok_or_else(|| Error::NoSuchNic(entry.iface.to_string()))?;
    let next_hop = entry.gateway.unwrap_or(dest);
    let nic = adapter.to_nic(Via::Route(dest), None, Some(next_hop))?;
    Ok(Route {
        nic,
        destination: dest,
        next_hop,
    })
}

/// [`super::default_route`] over a routing table and the adapters.
pub(crate) fn default_route<K>(
    routes: &[RouteEntry<K>],
    adapters: &[Adapter],
    iface_of: impl Fn(&Adapter, &K) -> bool,
) -> Result<Route, Error>
where
    K: std::fmt::Display,
{
    let entry = best_default_route(routes).ok_or(Error::NoDefaultRoute)?;
    let adapter = adapters
        .iter()
        .find(|a| iface_of(a, &entry.iface))
        .ok_or_else(|| Error::NoSuchNic(entry.iface.to_string()))?;
    let nic = adapter.to_nic(Via::DefaultRoute, None, entry.gateway)?;
    let gateway = entry.gateway.ok_or_else(|| Error::NoGateway {
        nic: adapter.description.clone(),
    })?;
    Ok(Route {
        nic: NIC {
            gateway: Some(gateway),
            ..nic
        },
        destination: ipv4::Addr([0; 4]),
        next_hop: gateway,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> ipv4::Addr {
        s.parse().unwrap()
    }

    #[test]
    fn masks_and_prefixes() {
        assert_eq!(mask(0), a("0.0.0.0"));
        assert_eq!(mask(1), a("128.0.0.0"));
        assert_eq!(mask(8), a("255.0.0.0"));
        assert_eq!(mask(24), a("255.255.255.0"));
        assert_eq!(mask(31), a("255.255.255.254"));
        assert_eq!(mask(32), a("255.255.255.255"));
        assert_eq!(mask(40), a("255.255.255.255"));
        for n in 0..=32 {
            assert_eq!(prefix_len(mask(n)), Some(n), "/{n}");
        }
        assert_eq!(prefix_len(a("255.0.255.0")), None);
        assert_eq!(prefix_len(a("0.0.0.1")), None);
        assert_eq!(prefix_len(a("255.255.255.253")), None);
    }

    #[test]
    fn subnets() {
        assert!(in_subnet(a("10.77.1.3"), a("10.77.1.2"), 24));
        assert!(!in_subnet(a("10.77.2.3"), a("10.77.1.2"), 24));
        assert!(in_subnet(a("8.8.8.8"), a("0.0.0.0"), 0));
        assert!(in_subnet(a("10.1.2.3"), a("10.1.2.3"), 32));
        assert!(!in_subnet(a("10.1.2.4"), a("10.1.2.3"), 32));
        assert!(is_loopback(a("127.0.0.1")) && is_loopback(a("127.255.1.2")));
        assert!(!is_loopback(a("128.0.0.1")));
    }

    /// From a namespace: two default routes (metric 50 on eth1, 100 on eth0),
    /// a connected /8 and /24, a /32 host route, a /16 via a gateway, a /16
    /// on a link that is down.
    const SAMPLE: &str = "\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT                                                       
eth1\t00000000\t0100000A\t0003\t0\t0\t50\t00000000\t0\t0\t0                                                                              
eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0                                                                             
eth1\t0000000A\t00000000\t0001\t0\t0\t0\t000000FF\t0\t0\t0                                                                               
eth1\t0302010A\t0100000A\t0007\t0\t0\t0\tFFFFFFFF\t0\t0\t0                                                                               
eth0\t0000030A\t0101A8C0\t0003\t0\t0\t5\t0000FFFF\t0\t0\t0                                                                               
eth2\t0000040A\t00000000\t0001\t0\t0\t7\t0000FFFF\t0\t0\t0                                                                               
eth0\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0                                                                               
";

    /// From a namespace: a tun device route, and prohibit, blackhole and
    /// unreachable routes (interface `*`).
    const SAMPLE_REJECT: &str = "\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT                                                       
tun0\t0000020A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0                                                                               
*\t0000610A\t00000000\t0201\t0\t0\t0\t0000FFFF\t0\t0\t0                                                                                  
*\t0000620A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0                                                                                  
*\t0000630A\t00000000\t0201\t0\t0\t0\t0000FFFF\t0\t0\t0                                                                                  
tun0\t000010AC\t00000000\t0001\t0\t0\t0\tFCFFFFFF\t0\t0\t0                                                                               
";

    fn entry(iface: &str, dst: &str, len: u8, gw: Option<&str>, metric: u32) -> RouteEntry<String> {
        RouteEntry {
            iface: iface.to_string(),
            destination: a(dst),
            prefix_len: len,
            gateway: gw.map(a),
            metric,
            up: true,
            reject: false,
        }
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn parses_proc_net_route() {
        let routes = parse_proc_net_route(SAMPLE).unwrap();
        assert_eq!(routes.len(), 7);
        assert_eq!(routes[0], entry("eth1", "0.0.0.0", 0, Some("10.0.0.1"), 50));
        assert_eq!(
            routes[1],
            entry("eth0", "0.0.0.0", 0, Some("192.168.1.1"), 100)
        );
        assert_eq!(routes[2], entry("eth1", "10.0.0.0", 8, None, 0));
        assert_eq!(
            routes[3],
            entry("eth1", "10.1.2.3", 32, Some("10.0.0.1"), 0)
        );
        assert_eq!(
            routes[4],
            entry("eth0", "10.3.0.0", 16, Some("192.168.1.1"), 5)
        );
        assert_eq!(routes[5], entry("eth2", "10.4.0.0", 16, None, 7));
        assert_eq!(routes[6], entry("eth0", "192.168.1.0", 24, None, 0));

        let rejects = parse_proc_net_route(SAMPLE_REJECT).unwrap();
        assert_eq!(
            rejects.iter().map(|r| r.reject).collect::<Vec<_>>(),
            [false, true, true, true, false]
        );
        assert_eq!(rejects[4].destination, a("172.16.0.0"));
        assert_eq!(rejects[4].prefix_len, 30);
    }

    #[test]
    fn parse_errors_name_the_line() {
        assert_eq!(parse_proc_net_route("").unwrap(), []);
        assert_eq!(parse_proc_net_route("Iface\tDestination\n").unwrap(), []);
        let e = parse_proc_net_route("Iface\nfoo\t0\t0\n").unwrap_err();
        assert!(e.to_string().contains("line 2: fewer than 8 fields"), "{e}");
        let e = parse_proc_net_route("eth0\tXYZ\t0\t1\t0\t0\t0\t0\n").unwrap_err();
        assert!(
            e.to_string().contains("line 1: destination is not hex"),
            "{e}"
        );
        let e = parse_proc_net_route("eth0\t0\t0\t1\t0\t0\tx\t0\n").unwrap_err();
        assert!(e.to_string().contains("metric is not a number"), "{e}");
        let e = parse_proc_net_route("eth0\t0\t0\t1\t0\t0\t0\t00FF00FF\n").unwrap_err();
        assert!(e.to_string().contains("mask is not contiguous"), "{e}");
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn longest_prefix_then_metric() {
        let routes = parse_proc_net_route(SAMPLE).unwrap();
        let best = |d: &str| {
            best_route(&routes, a(d)).map(|e| (e.iface.as_str(), e.destination, e.prefix_len))
        };
        // Default route of lowest metric (50 on eth1) for anything else.
        assert_eq!(best("8.8.8.8"), Some(("eth1", a("0.0.0.0"), 0)));
        // The /32 host route beats the connected /8.
        assert_eq!(best("10.1.2.3"), Some(("eth1", a("10.1.2.3"), 32)));
        assert_eq!(best("10.1.2.4"), Some(("eth1", a("10.0.0.0"), 8)));
        // The /16 via eth0 beats the /8 on eth1.
        assert_eq!(best("10.3.9.9"), Some(("eth0", a("10.3.0.0"), 16)));
        assert_eq!(best("192.168.1.77"), Some(("eth0", a("192.168.1.0"), 24)));
        assert_eq!(best("10.4.0.1"), Some(("eth2", a("10.4.0.0"), 16)));
        assert_eq!(best_default_route(&routes).map(|e| e.metric), Some(50));
        assert_eq!(
            default_gateway_of(&routes, &"eth0".to_string()),
            Some(a("192.168.1.1"))
        );
        assert_eq!(
            default_gateway_of(&routes, &"eth1".to_string()),
            Some(a("10.0.0.1"))
        );
        assert_eq!(default_gateway_of(&routes, &"eth2".to_string()), None);
    }

    #[test]
    fn metric_ties_and_down_routes() {
        let mut routes = vec![
            entry("a", "10.3.0.0", 16, Some("10.0.0.1"), 5),
            entry("b", "10.3.0.0", 16, Some("10.0.0.2"), 5),
            entry("c", "10.3.0.0", 16, Some("10.0.0.3"), 6),
            entry("d", "0.0.0.0", 0, Some("10.0.0.9"), 20),
            entry("e", "0.0.0.0", 0, Some("10.0.0.8"), 20),
        ];
        // Equal prefix and metric: the first in table order.
        assert_eq!(best_route(&routes, a("10.3.1.1")).unwrap().iface, "a");
        assert_eq!(best_default_route(&routes).unwrap().iface, "d");
        // A route that is not up is not used, whatever its prefix or metric.
        routes[0].up = false;
        routes[3].up = false;
        assert_eq!(best_route(&routes, a("10.3.1.1")).unwrap().iface, "b");
        assert_eq!(best_default_route(&routes).unwrap().iface, "e");
        assert_eq!(best_route(&routes, a("8.8.8.8")).unwrap().iface, "e");
        routes[4].up = false;
        assert_eq!(best_default_route(&routes), None);
        assert_eq!(best_route(&routes, a("8.8.8.8")), None);
        assert_eq!(best_route::<String>(&[], a("8.8.8.8")), None);
    }

    #[test]
    fn a_matching_reject_route_wins() {
        let mut routes = vec![
            entry("eth0", "0.0.0.0", 0, Some("10.0.0.1"), 0),
            entry("*", "10.99.0.0", 16, None, 0),
        ];
        routes[1].reject = true;
        assert!(best_route(&routes, a("10.99.1.1")).unwrap().reject);
        assert!(!best_route(&routes, a("10.98.1.1")).unwrap().reject);
        // A reject default route is no default route.
        routes[0].reject = true;
        assert_eq!(best_default_route(&routes), None);
    }

    fn eth(name: &str, addrs: &[(&str, u8)], gw: Option<&str>) -> Adapter {
        Adapter {
            name: name.to_string(),
            description: name.to_string(),
            device: name.to_string(),
            aliases: vec![],
            index: 2,
            not_ethernet: None,
            mac: Some(ethernet::Addr([2, 0, 0, 0, 0, 1])),
            addrs: addrs.iter().map(|(x, l)| (a(x), *l)).collect(),
            gateway: gw.map(a),
            mtu: 0,
        }
    }

    #[test]
    #[cfg(target_endian = "little")]
    fn routes_over_adapters() {
        let routes = parse_proc_net_route(SAMPLE).unwrap();
        let adapters = [
            eth("eth0", &[("192.168.1.10", 24)], Some("192.168.1.1")),
            eth(
                "eth1",
                &[("10.0.0.5", 8), ("10.0.0.6", 8)],
                Some("10.0.0.1"),
            ),
            eth("eth2", &[], None),
        ];
        let by_name = |ad: &Adapter, k: &String| ad.name == *k;
        let r = route_to(&routes, &adapters, by_name, a("8.8.8.8")).unwrap();
        assert_eq!(
            (r.nic.name.as_str(), r.next_hop, r.on_link()),
            ("eth1", a("10.0.0.1"), false)
        );
        assert_eq!((r.nic.addr, r.nic.prefix_len), (a("10.0.0.5"), 8));
        assert_eq!(r.nic.mask(), a("255.0.0.0"));
        let r = route_to(&routes, &adapters, by_name, a("192.168.1.77")).unwrap();
        assert_eq!(
            (r.nic.name.as_str(), r.next_hop),
            ("eth0", a("192.168.1.77"))
        );
        assert!(r.on_link() && r.nic.is_on_link(a("192.168.1.77")));
        assert!(!r.nic.is_on_link(a("192.168.2.77")));
        assert!(matches!(
            route_to(&routes, &adapters, by_name, a("10.0.0.6")),
            Err(Error::OwnAddress(x)) if x == a("10.0.0.6")
        ));
        assert!(matches!(
            route_to(&routes, &adapters, by_name, a("127.0.0.1")),
            Err(Error::OwnAddress(_))
        ));
        assert!(matches!(
            route_to(&routes, &adapters, by_name, a("10.4.0.1")),
            Err(Error::NoIpv4Address { nic }) if nic == "eth2"
        ));
        let d = default_route(&routes, &adapters, by_name).unwrap();
        assert_eq!(
            (d.nic.name.as_str(), d.next_hop, d.destination),
            ("eth1", a("10.0.0.1"), a("0.0.0.0"))
        );
        assert!(!d.on_link());
    }

    #[test]
    fn no_route_and_no_default_route() {
        let routes = vec![entry("eth0", "10.77.1.0", 24, None, 0)];
        let adapters = [eth("eth0", &[("10.77.1.2", 24)], None)];
        let by_name = |ad: &Adapter, k: &String| ad.name == *k;
        assert!(matches!(
            route_to(&routes, &adapters, by_name, a("10.99.0.1")),
            Err(Error::NoRoute(x)) if x == a("10.99.0.1")
        ));
        assert!(matches!(
            default_route(&routes, &adapters, by_name),
            Err(Error::NoDefaultRoute)
        ));
        assert!(route_to(&routes, &adapters, by_name, a("10.77.1.3"))
            .unwrap()
            .on_link());
        // A device-only default route has no gateway.
        let routes = vec![entry("eth0", "0.0.0.0", 0, None, 0)];
        assert!(matches!(
            default_route(&routes, &adapters, by_name),
            Err(Error::NoGateway { nic }) if nic == "eth0"
        ));
        // Reject routes are no route.
        let mut routes = vec![entry("*", "0.0.0.0", 0, None, 0)];
        routes[0].reject = true;
        assert!(matches!(
            route_to(&routes, &adapters, by_name, a("1.1.1.1")),
            Err(Error::NoRoute(_))
        ));
        assert!(matches!(
            default_route(&routes, &adapters, by_name),
            Err(Error::NoDefaultRoute)
        ));
    }

    #[test]
    fn adapters_that_cannot_be_nics() {
        let mut tun = eth("tun0", &[("172.16.0.2", 30)], None);
        tun.not_ethernet = Some("tunnel without link layer (ARPHRD 65534)".to_string());
        tun.mac = None;
        let routes = vec![entry("tun0", "0.0.0.0", 0, None, 0)];
        let by_name = |ad: &Adapter, k: &String| ad.name == *k;
        let e = route_to(&routes, std::slice::from_ref(&tun), by_name, a("1.2.3.4")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the route to 1.2.3.4 goes through tun0, which is not an Ethernet adapter \
             (tunnel without link layer (ARPHRD 65534)); sup needs an Ethernet or Wi-Fi adapter"
        );
        let e = default_route(&routes, std::slice::from_ref(&tun), by_name).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("the default route goes through tun0, which"),
            "{e}"
        );
        let e = nic_named(std::slice::from_ref(&tun), "tun0").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("tun0 is not an Ethernet adapter ("),
            "{e}"
        );

        let mut nomac = eth("eth0", &[("10.0.0.2", 24)], None);
        nomac.mac = Some(ethernet::Addr::zero());
        assert_eq!(
            nomac
                .to_nic(Via::Named, None, None)
                .unwrap_err()
                .to_string(),
            "eth0 has no MAC address"
        );
        nomac.mac = None;
        assert!(matches!(
            nomac.to_nic(Via::Named, None, None),
            Err(Error::NoMac { .. })
        ));
        assert_eq!(
            eth("eth0", &[], None)
                .to_nic(Via::Named, None, None)
                .unwrap_err()
                .to_string(),
            "eth0 has no IPv4 address"
        );
        assert_eq!(
            nics(&[tun, nomac, eth("eth1", &[("10.0.0.3", 24)], None)]).len(),
            1
        );
    }

    #[test]
    fn address_choice() {
        let ad = eth(
            "eth0",
            &[("10.0.0.5", 24), ("192.168.7.5", 24), ("172.16.0.5", 16)],
            Some("172.16.0.1"),
        );
        let pick = |s: Option<&str>, n: Option<&str>| {
            ad.to_nic(Via::Named, s.map(a), n.map(a)).unwrap().addr
        };
        assert_eq!(
            pick(Some("192.168.7.5"), Some("10.0.0.1")),
            a("192.168.7.5")
        );
        assert_eq!(pick(Some("1.1.1.1"), Some("10.0.0.1")), a("10.0.0.5"));
        assert_eq!(pick(None, Some("192.168.7.200")), a("192.168.7.5"));
        assert_eq!(pick(None, Some("8.8.8.8")), a("172.16.0.5"));
        assert_eq!(pick(None, None), a("172.16.0.5"));
        let ad = Adapter {
            gateway: None,
            ..ad
        };
        assert_eq!(
            ad.to_nic(Via::Named, None, None).unwrap().addr,
            a("10.0.0.5")
        );
    }

    #[test]
    fn names() {
        let win = Adapter {
            name: "{4D36E972-E325-11CE-BFC1-08002BE10318}".to_string(),
            description: "Ethernet 2".to_string(),
            device: r"\Device\NPF_{4D36E972-E325-11CE-BFC1-08002BE10318}".to_string(),
            aliases: vec!["Intel(R) Ethernet Connection I219-V".to_string()],
            ..eth("x", &[("10.0.0.5", 24)], None)
        };
        let lower = Adapter {
            name: "eth0".to_string(),
            description: "eth0".to_string(),
            device: "eth0".to_string(),
            ..eth("x", &[("10.0.0.6", 24)], None)
        };
        let upper = Adapter {
            name: "ETH0".to_string(),
            description: "ETH0".to_string(),
            device: "ETH0".to_string(),
            ..eth("x", &[("10.0.0.7", 24)], None)
        };
        let all = [win, lower, upper];
        let found = |n: &str| find_named(&all, n).map(|a| a.addrs[0].0);
        for n in [
            "{4D36E972-E325-11CE-BFC1-08002BE10318}",
            "4d36e972-e325-11ce-bfc1-08002be10318",
            "ethernet 2",
            r"\Device\NPF_{4D36E972-E325-11CE-BFC1-08002BE10318}",
            "Intel(R) Ethernet Connection I219-V",
        ] {
            assert_eq!(found(n), Some(a("10.0.0.5")), "{n}");
        }
        assert_eq!(found("eth0"), Some(a("10.0.0.6")));
        assert_eq!(found("ETH0"), Some(a("10.0.0.7")));
        assert_eq!(found("Eth0"), Some(a("10.0.0.6")));
        assert_eq!(found("eth"), None);
        assert_eq!(
            nic_named(&all, "wlan9").unwrap_err().to_string(),
            "no network adapter is called \"wlan9\" (by name, GUID, description or capture device)"
        );
    }

    #[test]
    fn error_messages() {
        assert_eq!(
            Error::NoDefaultRoute.to_string(),
            "no default route: this machine has no gateway configured"
        );
        assert_eq!(
            Error::OwnAddress(a("10.0.0.5")).to_string(),
            "10.0.0.5 is this machine's own address: it cannot be pinged on the wire"
        );
        assert_eq!(
            Error::NoRoute(a("10.99.0.1")).to_string(),
            "no route to 10.99.0.1: the routing table has no route that reaches it"
        );
        let os = Error::Os {
            what: "reading /proc/net/route",
            source: io::Error::new(io::ErrorKind::NotFound, "gone"),
        };
        assert_eq!(os.to_string(), "reading /proc/net/route failed: gone");
    }
}
