//! The platform-independent part of netinfo: prefix and mask arithmetic,
//! route selection over a list of route entries, parsing `/proc/net/route`,
//! and turning an adapter as the system describes it into a [`NIC`].
//!
//! Nothing here does I/O, so all of it is unit-tested on every platform.

use std::io;

use super::{AdapterKind, Error, Route, Via, NIC};
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
    /// [`NIC::kind`] (meaningful when `not_ethernet` is None).
    pub kind: AdapterKind,
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
            kind: self.kind,
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

/// `IF_TYPE_ETHERNET_CSMACD` and `IF_TYPE_IEEE80211` (ipifcons.h).
#[cfg_attr(not(windows), allow(dead_code))]
const IF_TYPE_ETHERNET_CSMACD: u32 = 6;
#[cfg_attr(not(windows), allow(dead_code))]
const IF_TYPE_IEEE80211: u32 = 71;

/// Windows: whether an adapter, as IP Helper describes it (`IfType`,
/// friendly name such as `Ethernet 2`, driver description such as
/// `Intel(R) Ethernet Connection I219-V`), carries the Ethernet frames
/// ersatz builds through Npcap: its kind, or what it is instead (for
/// [`Error::NotEthernet`]).
// * Ethernet (`IfType` 6), and adapters that present themselves as
//   Ethernet: Hyper-V's `vEthernet (...)` host adapters ("Hyper-V Virtual
//   Ethernet Adapter"), OpenVPN's TAP-Windows (tap-windows6's INF:
//   `*IfType = 0x6`, `*MediaType = 0x0 ; NdisMedium802_3`,
//   https://github.com/OpenVPN/tap-windows6/blob/master/src/OemVista.inf.in).
//   Npcap maps NdisMedium802_3 to `DLT_EN10MB` (`pcap_activate_npf`,
//   https://github.com/nmap/libpcap/blob/master/pcap-npf.c).
// * Except Npcap's legacy loopback adapter, a copy of Microsoft's KM-TEST
//   Loopback Adapter (`IfType` 6 with a MAC) named "Npcap Loopback
//   Adapter": Npcap captures and injects loopback traffic there with
//   `DLT_NULL` headers, not Ethernet
//   (https://npcap.com/guide/npcap-devguide.html#npcap-feature-loopback).
//   (Npcap's `\Device\NPF_Loopback` has no IP Helper adapter at all; the
//   "Loopback Pseudo-Interface 1" is `IfType` 24.)
// * Wi-Fi (`IfType` 71): outside monitor mode Npcap gives and takes "fake
//   Ethernet" headers
//   (https://npcap.com/guide/npcap-devguide.html#npcap-feature-dot11).
// * Not Wintun and WireGuard (`IfType` 53, `IF_TYPE_PROP_VIRTUAL`, medium
//   NdisMediumIP: https://github.com/WireGuard/wintun/blob/master/driver/wintun.inf),
//   which Npcap opens as `DLT_RAW`, nor PPP, tunnels, mobile broadband or
//   loopback.
#[cfg_attr(not(windows), allow(dead_code))]
pub(crate) fn windows_adapter_kind(
    if_type: u32,
    friendly_name: &str,
    driver: &str,
) -> Result<AdapterKind, String> {
    let has = |text: &str, what: &str| text.to_ascii_lowercase().contains(what);
    match if_type {
        IF_TYPE_ETHERNET_CSMACD => {
            if has(friendly_name, "npcap loopback adapter")
                || has(driver, "npcap loopback adapter")
                || has(driver, "km-test loopback")
            {
                Err(format!(
                    "Npcap's loopback adapter, which carries no Ethernet frames (DLT_NULL), IfType {if_type}"
                ))
            } else if has(driver, "hyper-v virtual ethernet adapter") {
                Ok(AdapterKind::HyperV)
            } else if has(driver, "tap-windows adapter") {
                Ok(AdapterKind::Tap)
            } else {
                Ok(AdapterKind::Ethernet)
            }
        }
        IF_TYPE_IEEE80211 => Ok(AdapterKind::WiFi),
        other => Err(windows_if_type(other)),
    }
}

/// What an adapter of `IfType` `t` is, for [`Error::NotEthernet`].
#[cfg_attr(not(windows), allow(dead_code))]
fn windows_if_type(t: u32) -> String {
    let what = match t {
        24 => "software loopback",
        23 => "PPP",
        131 => "tunnel",
        53 => "virtual adapter without Ethernet frames (raw IP), e.g. Wintun or WireGuard",
        243 | 244 => "mobile broadband",
        28 => "SLIP",
        37 => "ATM",
        9 => "token ring",
        1 => "other",
        _ => "not Ethernet",
    };
    format!("{what}, IfType {t}")
}

/// One row of Windows' `GetIpForwardTable2`, as far as routing needs it.
#[cfg_attr(not(windows), allow(dead_code))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WindowsRouteRow {
    /// `InterfaceIndex`.
    pub if_index: u32,
    /// `DestinationPrefix`.
    pub destination: ipv4::Addr,
    /// `DestinationPrefix.PrefixLength`.
    pub prefix_len: u8,
    /// `NextHop`; None when it is 0.0.0.0 (on-link).
    pub next_hop: Option<ipv4::Addr>,
    /// `Metric`: the route's metric *offset*.
    pub metric: u32,
}

/// An interface as routing sees it: index, IPv4 interface metric
/// (`Ipv4Metric` of `GetAdaptersAddresses`), and whether it is connected.
#[cfg_attr(not(windows), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WindowsInterface {
    pub index: u32,
    pub metric: u32,
    pub up: bool,
}

/// The route entries Windows compares: route plus interface metric, rows of
/// unknown interfaces dropped.
// The route entries Windows compares, from the forwarding table and the
// interfaces: rows of unknown interfaces are dropped, and each metric is
// the route's plus its interface's. MIB_IPFORWARD_ROW2's `Metric` "is
// the route metric offset ... the actual route metric used to compute
// the route preference is the summation of interface metric specified in
// the Metric member of the MIB_IPINTERFACE_ROW structure and the route
// metric offset": https://learn.microsoft.com/en-us/windows/win32/api/netioapi/ns-netioapi-mib_ipforward_row2
// (`route print` shows the sum). With the longest prefix first
// ([`best_route`]), this picks what `GetBestRoute2` picks among default
// routes of different metrics; equal sums are an equal-cost choice that
// Windows does not document, the first in table order here.
#[cfg_attr(not(windows), allow(dead_code))]
pub(crate) fn windows_routes(
    rows: &[WindowsRouteRow],
    interfaces: &[WindowsInterface],
) -> Vec<RouteEntry<u32>> {
    rows.iter()
        .filter_map(|row| {
            let interface = interfaces.iter().find(|i| i.index == row.if_index)?;
            Some(RouteEntry {
                iface: row.if_index,
                destination: row.destination,
                prefix_len: row.prefix_len.min(32),
                gateway: row.next_hop.filter(|g| g.0 != [0; 4]),
                metric: row.metric.saturating_add(interface.metric),
                up: interface.up,
                reject: false,
            })
        })
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

/// How the system picks the source address among an adapter's addresses
/// when a route names none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SourceRule {
    /// Linux: the address whose subnet holds the next hop (the primary one
    /// first: the kernel gives each connected route the preferred source
    /// of its subnet), see [`Adapter::to_nic`].
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    SubnetOfNextHop,
    /// Windows: [`windows_source`].
    #[cfg_attr(not(windows), allow(dead_code))]
    LongestMatch,
}

impl SourceRule {
    fn source(
        self,
        adapter: &Adapter,
        next_hop: ipv4::Addr,
        dest: ipv4::Addr,
    ) -> Option<ipv4::Addr> {
        match self {
            SourceRule::SubnetOfNextHop => None,
            SourceRule::LongestMatch => windows_source(&adapter.addrs, next_hop, dest),
        }
    }
}

/// How many leading bits `a` and `b` share.
fn common_prefix(a: ipv4::Addr, b: ipv4::Addr) -> u32 {
    (u32::from_be_bytes(a.0) ^ u32::from_be_bytes(b.0)).leading_zeros()
}

/// The source address Windows picks on an adapter with `addrs` for `dest`
/// through `next_hop`: the longest bit match with the next hop, then with
/// the destination, then the first.
// The source address Windows (Vista and later) gives a packet to `dest`
// leaving through an adapter with `addrs`, towards `next_hop` (the
// gateway, or `dest` itself on-link), when the program names none:
// the address with the most leading bits in common with the next hop,
// then with the destination; on a tie the first in the adapter's order.
// Not the first address whose subnet holds the next hop, as on Linux:
// with 192.168.1.14/24 and 192.168.1.68/24 and gateway 192.168.1.127,
// Windows sends from .68. "Prefer same address" does not arise (our own
// addresses are refused) and "prefer outgoing interface" is the adapter.
// https://support.microsoft.com/kb/969029 (archived at
// https://mskb.pkisolutions.com/kb/969029), and the networking team's
// "Source IP address selection on a Multi-Homed Windows Computer" (2009):
// http://blogs.technet.com/b/networking/archive/2009/04/25/source-ip-address-selection-on-a-multi-homed-windows-computer.aspx
// (Addresses marked SkipAsSource are not visible to GetAdaptersAddresses;
// where GetBestRoute2 works it names the source itself.)
#[cfg_attr(not(windows), allow(dead_code))]
pub(crate) fn windows_source(
    addrs: &[(ipv4::Addr, u8)],
    next_hop: ipv4::Addr,
    dest: ipv4::Addr,
) -> Option<ipv4::Addr> {
    let mut best: Option<(ipv4::Addr, (u32, u32))> = None;
    for &(a, _) in addrs {
        let score = (common_prefix(a, next_hop), common_prefix(a, dest));
        if best.is_none_or(|(_, b)| score > b) {
            best = Some((a, score));
        }
    }
    best.map(|(a, _)| a)
}

/// [`super::route_to`] over a routing table and the adapters (the Linux way,
/// and Windows' when `GetBestRoute2` is not implemented; `K` is how a route
/// names its adapter).
pub(crate) fn route_to<K>(
    routes: &[RouteEntry<K>],
    adapters: &[Adapter],
    iface_of: impl Fn(&Adapter, &K) -> bool,
    dest: ipv4::Addr,
    rule: SourceRule,
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
    let source = rule.source(adapter, next_hop, dest);
    let nic = adapter.to_nic(Via::Route(dest), source, Some(next_hop))?;
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
    rule: SourceRule,
) -> Result<Route, Error>
where
    K: std::fmt::Display,
{
    let entry = best_default_route(routes).ok_or(Error::NoDefaultRoute)?;
    let adapter = adapters
        .iter()
        .find(|a| iface_of(a, &entry.iface))
        .ok_or_else(|| Error::NoSuchNic(entry.iface.to_string()))?;
    let source = entry.gateway.and_then(|gw| rule.source(adapter, gw, gw));
    let nic = adapter.to_nic(Via::DefaultRoute, source, entry.gateway)?;
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
            kind: AdapterKind::Ethernet,
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
        let r = route_to(
            &routes,
            &adapters,
            by_name,
            a("8.8.8.8"),
            SourceRule::SubnetOfNextHop,
        )
        .unwrap();
        assert_eq!(
            (r.nic.name.as_str(), r.next_hop, r.on_link()),
            ("eth1", a("10.0.0.1"), false)
        );
        assert_eq!((r.nic.addr, r.nic.prefix_len), (a("10.0.0.5"), 8));
        assert_eq!(r.nic.mask(), a("255.0.0.0"));
        let r = route_to(
            &routes,
            &adapters,
            by_name,
            a("192.168.1.77"),
            SourceRule::SubnetOfNextHop,
        )
        .unwrap();
        assert_eq!(
            (r.nic.name.as_str(), r.next_hop),
            ("eth0", a("192.168.1.77"))
        );
        assert!(r.on_link() && r.nic.is_on_link(a("192.168.1.77")));
        assert!(!r.nic.is_on_link(a("192.168.2.77")));
        assert!(matches!(
            route_to(&routes, &adapters, by_name, a("10.0.0.6"), SourceRule::SubnetOfNextHop),
            Err(Error::OwnAddress(x)) if x == a("10.0.0.6")
        ));
        assert!(matches!(
            route_to(
                &routes,
                &adapters,
                by_name,
                a("127.0.0.1"),
                SourceRule::SubnetOfNextHop
            ),
            Err(Error::OwnAddress(_))
        ));
        assert!(matches!(
            route_to(&routes, &adapters, by_name, a("10.4.0.1"), SourceRule::SubnetOfNextHop),
            Err(Error::NoIpv4Address { nic }) if nic == "eth2"
        ));
        let d = default_route(&routes, &adapters, by_name, SourceRule::SubnetOfNextHop).unwrap();
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
            route_to(&routes, &adapters, by_name, a("10.99.0.1"), SourceRule::SubnetOfNextHop),
            Err(Error::NoRoute(x)) if x == a("10.99.0.1")
        ));
        assert!(matches!(
            default_route(&routes, &adapters, by_name, SourceRule::SubnetOfNextHop),
            Err(Error::NoDefaultRoute)
        ));
        assert!(route_to(
            &routes,
            &adapters,
            by_name,
            a("10.77.1.3"),
            SourceRule::SubnetOfNextHop
        )
        .unwrap()
        .on_link());
        // A device-only default route has no gateway.
        let routes = vec![entry("eth0", "0.0.0.0", 0, None, 0)];
        assert!(matches!(
            default_route(&routes, &adapters, by_name, SourceRule::SubnetOfNextHop),
            Err(Error::NoGateway { nic }) if nic == "eth0"
        ));
        // Reject routes are no route.
        let mut routes = vec![entry("*", "0.0.0.0", 0, None, 0)];
        routes[0].reject = true;
        assert!(matches!(
            route_to(
                &routes,
                &adapters,
                by_name,
                a("1.1.1.1"),
                SourceRule::SubnetOfNextHop
            ),
            Err(Error::NoRoute(_))
        ));
        assert!(matches!(
            default_route(&routes, &adapters, by_name, SourceRule::SubnetOfNextHop),
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
        let e = route_to(
            &routes,
            std::slice::from_ref(&tun),
            by_name,
            a("1.2.3.4"),
            SourceRule::SubnetOfNextHop,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "the route to 1.2.3.4 goes through tun0, which is not an Ethernet adapter \
             (tunnel without link layer (ARPHRD 65534)); sup needs an Ethernet or Wi-Fi adapter"
        );
        let e = default_route(
            &routes,
            std::slice::from_ref(&tun),
            by_name,
            SourceRule::SubnetOfNextHop,
        )
        .unwrap_err();
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

    // ---- Windows: tables shaped like IP Helper's on a laptop docked on
    // Ethernet with Wi-Fi also up, WSL's Hyper-V switch, an OpenVPN TAP, a
    // WireGuard tunnel, the loopback pseudo-interface and Npcap's legacy
    // loopback adapter (friendly names, GUIDs, automatic interface metrics
    // as `route print` shows them: 25 for 1 Gb/s Ethernet, 35 for Wi-Fi,
    // 75 for loopback, 5000 for WSL's switch).

    /// An adapter as windows.rs makes it from GetAdaptersAddresses.
    #[allow(clippy::too_many_arguments)]
    fn win(
        index: u32,
        guid: &str,
        friendly: &str,
        driver: &str,
        if_type: u32,
        addrs: &[(&str, u8)],
        gw: Option<&str>,
    ) -> Adapter {
        let kind = windows_adapter_kind(if_type, friendly, driver);
        Adapter {
            name: guid.to_string(),
            description: friendly.to_string(),
            device: format!(r"\Device\NPF_{guid}"),
            aliases: vec![driver.to_string()],
            index,
            not_ethernet: kind.as_ref().err().cloned(),
            kind: kind.unwrap_or_default(),
            mac: (if_type != 24 && if_type != 53).then_some(ethernet::Addr([
                0x14,
                0x0c,
                0x76,
                0x6a,
                0x71,
                index as u8,
            ])),
            addrs: addrs.iter().map(|(x, l)| (a(x), *l)).collect(),
            gateway: gw.map(a),
            mtu: 1500,
        }
    }

    fn laptop() -> Vec<Adapter> {
        vec![
            win(
                1,
                "{6B4B6B0E-1B2A-4C3D-9E8F-000000000001}",
                "Loopback Pseudo-Interface 1",
                "Software Loopback Interface 1",
                24,
                &[("127.0.0.1", 8)],
                None,
            ),
            win(
                12,
                "{4D36E972-E325-11CE-BFC1-08002BE10318}",
                "Ethernet 2",
                "Intel(R) Ethernet Connection (7) I219-V",
                6,
                // Two addresses on one subnet, the gateway of the KB969029 example.
                &[("192.168.1.14", 24), ("192.168.1.68", 24)],
                Some("192.168.1.127"),
            ),
            win(
                7,
                "{A1C3E5F7-0B2D-4F61-8A9C-7E5D3B1F2A40}",
                "Wi-Fi",
                "Intel(R) Wi-Fi 6 AX201 160MHz",
                71,
                &[("10.20.3.44", 16)],
                Some("10.20.0.1"),
            ),
            win(
                45,
                "{C08D1E2A-7F3B-4A5C-9D6E-1F2A3B4C5D6E}",
                "vEthernet (WSL)",
                "Hyper-V Virtual Ethernet Adapter",
                6,
                &[("172.29.96.1", 20)],
                None,
            ),
            win(
                20,
                "{E3D2C1B0-A9F8-4E7D-8C6B-5A4938271605}",
                "OpenVPN TAP-Windows6",
                "TAP-Windows Adapter V9",
                6,
                &[("10.8.0.6", 24)],
                None,
            ),
            win(
                30,
                "{F1E2D3C4-B5A6-4978-8695-A4B3C2D1E0F9}",
                "wg0",
                "WireGuard Tunnel",
                53,
                &[("10.66.66.2", 24)],
                None,
            ),
            win(
                16,
                "{0D8E4F55-3C1B-4B9A-AE63-2F1D0C9B8A77}",
                "Npcap Loopback Adapter",
                "Microsoft KM-TEST Loopback Adapter",
                6,
                &[("169.254.62.11", 16)],
                None,
            ),
        ]
    }

    fn interfaces() -> Vec<WindowsInterface> {
        [
            (1, 75),
            (12, 25),
            (7, 35),
            (45, 5000),
            (20, 35),
            (30, 5),
            (16, 25),
        ]
        .into_iter()
        .map(|(index, metric)| WindowsInterface {
            index,
            metric,
            up: true,
        })
        .collect()
    }

    fn row(if_index: u32, dst: &str, len: u8, hop: &str, metric: u32) -> WindowsRouteRow {
        WindowsRouteRow {
            if_index,
            destination: a(dst),
            prefix_len: len,
            next_hop: Some(a(hop)),
            metric,
        }
    }

    /// GetIpForwardTable2's IPv4 rows (route metric offsets; on-link routes
    /// have next hop 0.0.0.0), with two default routes.
    fn forward_table() -> Vec<WindowsRouteRow> {
        vec![
            row(12, "0.0.0.0", 0, "192.168.1.127", 0),
            row(7, "0.0.0.0", 0, "10.20.0.1", 0),
            row(1, "127.0.0.0", 8, "0.0.0.0", 256),
            row(1, "127.0.0.1", 32, "0.0.0.0", 256),
            row(12, "192.168.1.0", 24, "0.0.0.0", 256),
            row(12, "192.168.1.14", 32, "0.0.0.0", 256),
            row(12, "192.168.1.68", 32, "0.0.0.0", 256),
            row(12, "192.168.1.255", 32, "0.0.0.0", 256),
            row(7, "10.20.0.0", 16, "0.0.0.0", 256),
            row(45, "172.29.96.0", 20, "0.0.0.0", 256),
            row(20, "10.8.0.0", 24, "0.0.0.0", 256),
            row(30, "10.66.66.0", 24, "0.0.0.0", 0),
            row(16, "169.254.0.0", 16, "0.0.0.0", 256),
            row(12, "224.0.0.0", 4, "0.0.0.0", 256),
            row(7, "224.0.0.0", 4, "0.0.0.0", 256),
            row(12, "255.255.255.255", 32, "0.0.0.0", 256),
            // A row of an interface IP Helper did not list: dropped.
            row(99, "10.99.0.0", 16, "0.0.0.0", 0),
        ]
    }

    fn by_index(ad: &Adapter, k: &u32) -> bool {
        ad.index == *k
    }

    #[test]
    fn windows_route_metrics_are_route_plus_interface() {
        let routes = windows_routes(&forward_table(), &interfaces());
        assert_eq!(routes.len(), forward_table().len() - 1);
        assert!(routes.iter().all(|r| r.iface != 99));
        let metric = |iface: u32, dst: &str| {
            routes
                .iter()
                .find(|r| r.iface == iface && r.destination == a(dst))
                .map(|r| (r.metric, r.gateway))
        };
        assert_eq!(metric(12, "0.0.0.0"), Some((25, Some(a("192.168.1.127")))));
        assert_eq!(metric(7, "0.0.0.0"), Some((35, Some(a("10.20.0.1")))));
        // On-link: next hop 0.0.0.0 is no gateway.
        assert_eq!(metric(45, "172.29.96.0"), Some((5256, None)));
        assert_eq!(metric(1, "127.0.0.0"), Some((331, None)));
    }

    #[test]
    fn windows_two_default_routes_lowest_sum_wins() {
        let adapters = laptop();
        let rule = SourceRule::LongestMatch;
        // 25 (Ethernet 2) beats 35 (Wi-Fi).
        let routes = windows_routes(&forward_table(), &interfaces());
        let r = route_to(&routes, &adapters, by_index, a("8.8.8.8"), rule).unwrap();
        assert_eq!(
            (r.nic.description.as_str(), r.next_hop, r.nic.kind),
            ("Ethernet 2", a("192.168.1.127"), AdapterKind::Ethernet)
        );
        assert_eq!(
            r.nic.device,
            r"\Device\NPF_{4D36E972-E325-11CE-BFC1-08002BE10318}"
        );
        let d = default_route(&routes, &adapters, by_index, rule).unwrap();
        assert_eq!((d.nic.index, d.next_hop), (12, a("192.168.1.127")));

        // A route metric offset of 50 on the Ethernet default route: 75 > 35,
        // Wi-Fi wins, although Ethernet's interface metric is lower.
        let mut rows = forward_table();
        rows[0].metric = 50;
        let routes = windows_routes(&rows, &interfaces());
        let r = route_to(&routes, &adapters, by_index, a("8.8.8.8"), rule).unwrap();
        assert_eq!(
            (
                r.nic.description.as_str(),
                r.next_hop,
                r.nic.addr,
                r.nic.kind
            ),
            ("Wi-Fi", a("10.20.0.1"), a("10.20.3.44"), AdapterKind::WiFi)
        );

        // The interface metric alone can decide too: Wi-Fi at 10, Ethernet 25.
        let mut ifs = interfaces();
        ifs.iter_mut().find(|i| i.index == 7).unwrap().metric = 10;
        let routes = windows_routes(&forward_table(), &ifs);
        let d = default_route(&routes, &adapters, by_index, rule).unwrap();
        assert_eq!(d.nic.description, "Wi-Fi");

        // Ethernet unplugged (not up): its routes are not used.
        let mut ifs = interfaces();
        ifs.iter_mut().find(|i| i.index == 12).unwrap().up = false;
        let routes = windows_routes(&forward_table(), &ifs);
        let r = route_to(&routes, &adapters, by_index, a("8.8.8.8"), rule).unwrap();
        assert_eq!(r.nic.description, "Wi-Fi");
        // ... but a longer prefix still beats any metric.
        let routes = windows_routes(&forward_table(), &interfaces());
        let r = route_to(&routes, &adapters, by_index, a("10.20.9.9"), rule).unwrap();
        assert_eq!((r.nic.description.as_str(), r.on_link()), ("Wi-Fi", true));
    }

    #[test]
    fn windows_source_is_the_longest_match_with_the_next_hop() {
        let adapters = laptop();
        let routes = windows_routes(&forward_table(), &interfaces());
        // 192.168.1.14 shares 25 bits with the gateway .127, .68 shares 26
        // (KB969029's example): Windows sends from .68, Linux would take .14.
        let r = route_to(
            &routes,
            &adapters,
            by_index,
            a("8.8.8.8"),
            SourceRule::LongestMatch,
        )
        .unwrap();
        assert_eq!((r.nic.addr, r.nic.prefix_len), (a("192.168.1.68"), 24));
        let linux = route_to(
            &routes,
            &adapters,
            by_index,
            a("8.8.8.8"),
            SourceRule::SubnetOfNextHop,
        )
        .unwrap();
        assert_eq!(linux.nic.addr, a("192.168.1.14"));
        // On-link, the destination is the next hop.
        let r = route_to(
            &routes,
            &adapters,
            by_index,
            a("192.168.1.20"),
            SourceRule::LongestMatch,
        )
        .unwrap();
        assert_eq!(r.nic.addr, a("192.168.1.14"));
        let r = route_to(
            &routes,
            &adapters,
            by_index,
            a("192.168.1.70"),
            SourceRule::LongestMatch,
        )
        .unwrap();
        assert_eq!(r.nic.addr, a("192.168.1.68"));
        let d = default_route(&routes, &adapters, by_index, SourceRule::LongestMatch).unwrap();
        assert_eq!(d.nic.addr, a("192.168.1.68"));

        let addrs = [
            (a("10.0.0.5"), 24),
            (a("10.0.0.200"), 24),
            (a("10.1.0.5"), 16),
        ];
        // Next hop first, then the destination, then the adapter's order.
        assert_eq!(
            windows_source(&addrs, a("10.0.0.1"), a("8.8.8.8")),
            Some(a("10.0.0.5"))
        );
        assert_eq!(
            windows_source(&addrs, a("10.0.0.201"), a("8.8.8.8")),
            Some(a("10.0.0.200"))
        );
        let tie = [(a("10.0.0.4"), 24), (a("10.0.0.5"), 24)];
        assert_eq!(
            windows_source(&tie, a("10.0.0.1"), a("10.0.0.1")),
            Some(a("10.0.0.4"))
        );
        assert_eq!(
            windows_source(&tie, a("10.0.0.1"), a("10.0.0.5")),
            Some(a("10.0.0.5"))
        );
        assert_eq!(windows_source(&[], a("10.0.0.1"), a("10.0.0.1")), None);
    }

    #[test]
    fn windows_virtual_adapters() {
        let adapters = laptop();
        let routes = windows_routes(&forward_table(), &interfaces());
        let rule = SourceRule::LongestMatch;
        // WSL's Hyper-V switch and OpenVPN's TAP carry Ethernet frames.
        let r = route_to(&routes, &adapters, by_index, a("172.29.100.5"), rule).unwrap();
        assert_eq!(
            (r.nic.description.as_str(), r.nic.kind, r.on_link()),
            ("vEthernet (WSL)", AdapterKind::HyperV, true)
        );
        let r = route_to(&routes, &adapters, by_index, a("10.8.0.1"), rule).unwrap();
        assert_eq!(
            (r.nic.description.as_str(), r.nic.kind),
            ("OpenVPN TAP-Windows6", AdapterKind::Tap)
        );
        // WireGuard (Wintun-like, IfType 53): one sentence, no frame sent.
        let e = route_to(&routes, &adapters, by_index, a("10.66.66.1"), rule).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the route to 10.66.66.1 goes through wg0, which is not an Ethernet adapter \
             (virtual adapter without Ethernet frames (raw IP), e.g. Wintun or WireGuard, IfType 53); \
             sup needs an Ethernet or Wi-Fi adapter"
        );
        // Npcap's legacy loopback adapter, by route and by name.
        let e = route_to(&routes, &adapters, by_index, a("169.254.1.1"), rule).unwrap_err();
        assert!(e.to_string().contains("Npcap's loopback adapter"), "{e}");
        let e = nic_named(&adapters, "Npcap Loopback Adapter").unwrap_err();
        assert!(
            e.to_string().starts_with("Npcap Loopback Adapter is not an Ethernet adapter (Npcap's loopback adapter, which carries no Ethernet frames (DLT_NULL), IfType 6)"),
            "{e}"
        );
        // Loopback addresses never get that far.
        assert!(matches!(
            route_to(&routes, &adapters, by_index, a("127.0.0.1"), rule),
            Err(Error::OwnAddress(_))
        ));
        // Every usable NIC, by name: GUID without braces, friendly name,
        // driver description, capture device.
        let usable: Vec<String> = nics(&adapters).into_iter().map(|n| n.description).collect();
        assert_eq!(
            usable,
            [
                "Ethernet 2",
                "Wi-Fi",
                "vEthernet (WSL)",
                "OpenVPN TAP-Windows6"
            ]
        );
        for name in [
            "wi-fi",
            "a1c3e5f7-0b2d-4f61-8a9c-7e5d3b1f2a40",
            "Intel(R) Wi-Fi 6 AX201 160MHz",
            r"\Device\NPF_{A1C3E5F7-0B2D-4F61-8A9C-7E5D3B1F2A40}",
        ] {
            assert_eq!(
                nic_named(&adapters, name).unwrap().kind,
                AdapterKind::WiFi,
                "{name}"
            );
        }
    }

    #[test]
    fn windows_adapter_acceptance() {
        let cases: [(u32, &str, &str, Result<AdapterKind, &str>); 12] = [
            (
                6,
                "Ethernet 2",
                "Intel(R) Ethernet Connection (7) I219-V",
                Ok(AdapterKind::Ethernet),
            ),
            (
                6,
                "Ethernet",
                "Realtek USB GbE Family Controller",
                Ok(AdapterKind::Ethernet),
            ),
            (
                71,
                "Wi-Fi",
                "Intel(R) Wi-Fi 6 AX201 160MHz",
                Ok(AdapterKind::WiFi),
            ),
            (
                71,
                "Local Area Connection* 2",
                "Microsoft Wi-Fi Direct Virtual Adapter #2",
                Ok(AdapterKind::WiFi),
            ),
            (
                6,
                "vEthernet (WSL)",
                "Hyper-V Virtual Ethernet Adapter",
                Ok(AdapterKind::HyperV),
            ),
            (
                6,
                "vEthernet (Default Switch)",
                "Hyper-V Virtual Ethernet Adapter #2",
                Ok(AdapterKind::HyperV),
            ),
            (
                6,
                "OpenVPN TAP-Windows6",
                "TAP-Windows Adapter V9",
                Ok(AdapterKind::Tap),
            ),
            (
                53,
                "OpenVPN Wintun",
                "Wintun Userspace Tunnel",
                Err("e.g. Wintun or WireGuard, IfType 53"),
            ),
            (
                6,
                "Npcap Loopback Adapter",
                "Microsoft KM-TEST Loopback Adapter",
                Err("Npcap's loopback adapter"),
            ),
            (
                24,
                "Loopback Pseudo-Interface 1",
                "Software Loopback Interface 1",
                Err("software loopback, IfType 24"),
            ),
            (
                243,
                "Cellular",
                "Generic Mobile Broadband Adapter",
                Err("mobile broadband, IfType 243"),
            ),
            (
                131,
                "Teredo Tunneling Pseudo-Interface",
                "Teredo Tunneling Pseudo-Interface",
                Err("tunnel, IfType 131"),
            ),
        ];
        for (if_type, friendly, driver, want) in cases {
            let got = windows_adapter_kind(if_type, friendly, driver);
            match (want, &got) {
                (Ok(kind), Ok(k)) => assert_eq!(*k, kind, "{friendly}"),
                (Err(part), Err(text)) => assert!(text.contains(part), "{friendly}: {text}"),
                _ => panic!("{friendly}: got {got:?}, want {want:?}"),
            }
        }
        assert_eq!(AdapterKind::HyperV.to_string(), "Hyper-V virtual Ethernet");
    }
}
