//! Linux: routes from `/proc/net/route`, adapters from `getifaddrs`.
//!
//! `getifaddrs` gives one `AF_PACKET` entry a link (index, ARP hardware type,
//! MAC) and one `AF_INET` entry an IPv4 address (with its netmask). Both come
//! from rtnetlink, and `/proc/net/route` is per network namespace, so
//! everything is read from the calling thread's namespace. The hardware type
//! is the one `/sys/class/net/IF/type` shows; sysfs itself is read only for
//! links without a hardware address (tun, WireGuard), to name their type.

use std::collections::BTreeMap;

use nix::ifaddrs::getifaddrs;
use nix::net::if_::if_nametoindex;

use super::table::{self, Adapter, RouteEntry};
use super::{Error, Route, NIC};
use crate::{ethernet, ipv4};

const PROC_NET_ROUTE: &str = "/proc/net/route";

/// `ARPHRD_ETHER` (linux/if_arp.h): Ethernet, and Wi-Fi in managed mode.
const ARPHRD_ETHER: u16 = 1;

/// What a link of ARP hardware type `t` is, for [`Error::NotEthernet`].
fn kind(t: u16) -> String {
    let what = match t {
        772 => "loopback",
        65534 => "tunnel without link layer, e.g. tun or WireGuard",
        512 => "PPP",
        768 => "IPIP tunnel",
        769 => "IPv6-in-IPv4 tunnel",
        776 => "SIT tunnel",
        778 => "GRE tunnel",
        823 => "IPv6 GRE tunnel",
        519 => "raw IP, e.g. a mobile broadband modem",
        32 => "InfiniBand",
        280 => "CAN bus",
        801..=804 => "802.11 in monitor mode",
        65535 => "no hardware type",
        _ => "not Ethernet",
    };
    format!("{what}, ARPHRD {t}")
}

/// Every link with its addresses, by index. The gateway of each is that of
/// its best default route in `routes`.
fn adapters(routes: &[RouteEntry<String>]) -> Result<Vec<Adapter>, Error> {
    let entries = getifaddrs().map_err(|e| Error::Os {
        what: "getifaddrs (listing network interfaces)",
        source: e.into(),
    })?;
    let mut links: BTreeMap<String, Adapter> = BTreeMap::new();
    for entry in entries {
        // An address's entry carries its label (`eth0:1` for an alias);
        // interface names never contain ':'.
        let name = match entry.interface_name.split_once(':') {
            Some((base, _)) => base.to_string(),
            None => entry.interface_name.clone(),
        };
        let adapter = links.entry(name.clone()).or_insert_with(|| Adapter {
            name: name.clone(),
            description: name.clone(),
            device: name.clone(),
            // Until the link's AF_PACKET entry says otherwise.
            not_ethernet: Some("no link-layer information".to_string()),
            gateway: table::default_gateway_of(routes, &name),
            ..Adapter::default()
        });
        let Some(address) = entry.address else {
            continue;
        };
        if let Some(link) = address.as_link_addr() {
            adapter.index = u32::try_from(link.ifindex()).unwrap_or(0);
            adapter.not_ethernet = (link.hatype() != ARPHRD_ETHER).then(|| kind(link.hatype()));
            adapter.mac = match (link.halen(), link.addr()) {
                (6, Some(mac)) => Some(ethernet::Addr(mac)),
                _ => None,
            };
        } else if let Some(sin) = address.as_sockaddr_in() {
            let addr = ipv4::Addr(sin.ip().octets());
            let prefix_len = entry
                .netmask
                .as_ref()
                .and_then(|m| m.as_sockaddr_in())
                .and_then(|m| table::prefix_len(ipv4::Addr(m.ip().octets())))
                .unwrap_or(32);
            adapter.addrs.push((addr, prefix_len));
        }
    }
    for adapter in links.values_mut() {
        if adapter.index == 0 {
            no_link_address(adapter);
        }
        adapter.mtu = sysfs_u32(adapter, "mtu").unwrap_or(0);
    }
    let mut out: Vec<Adapter> = links.into_values().collect();
    out.sort_by_key(|a| a.index);
    Ok(out)
}

/// A number from `/sys/class/net/IF/FILE`, trusted only if sysfs shows the
/// adapter's own index there, i.e. was mounted in this namespace.
fn sysfs_u32(adapter: &Adapter, file: &str) -> Option<u32> {
    let read = |file: &str| {
        std::fs::read_to_string(format!("/sys/class/net/{}/{file}", adapter.name))
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
    };
    match read("ifindex") {
        Some(i) if i == adapter.index && i != 0 => read(file),
        _ => None,
    }
}

/// Completes a link that has no `AF_PACKET` entry: glibc makes one only for
/// links with a hardware address, so tun, WireGuard and IPIP links have
/// none. The index comes from `if_nametoindex`; the hardware type (only
/// used in the message) from sysfs, trusted only if sysfs shows the same
/// index, i.e. was mounted in this namespace.
fn no_link_address(adapter: &mut Adapter) {
    adapter.index = if_nametoindex(adapter.name.as_str()).unwrap_or(0);
    let hatype = sysfs_u32(adapter, "type").and_then(|t| u16::try_from(t).ok());
    adapter.not_ethernet = Some(match hatype {
        Some(ARPHRD_ETHER) | None => "no link-layer address".to_string(),
        Some(t) => kind(t),
    });
}

fn routes() -> Result<Vec<RouteEntry<String>>, Error> {
    let os = |source| Error::Os {
        what: "reading /proc/net/route",
        source,
    };
    let text = std::fs::read_to_string(PROC_NET_ROUTE).map_err(os)?;
    table::parse_proc_net_route(&text).map_err(os)
}

fn by_name(a: &Adapter, name: &String) -> bool {
    a.name == *name
}

/// The routing table and the adapters read once, for many route lookups.
pub struct Snapshot {
    routes: Vec<RouteEntry<String>>,
    adapters: Vec<Adapter>,
}

pub fn snapshot() -> Result<Snapshot, Error> {
    let routes = routes()?;
    let adapters = adapters(&routes)?;
    Ok(Snapshot { routes, adapters })
}

pub fn route_to(destination: ipv4::Addr) -> Result<Route, Error> {
    route_in(&snapshot()?, destination)
}

pub fn route_in(snapshot: &Snapshot, destination: ipv4::Addr) -> Result<Route, Error> {
    table::route_to(
        &snapshot.routes,
        &snapshot.adapters,
        by_name,
        destination,
        table::SourceRule::SubnetOfNextHop,
    )
}

pub fn default_route() -> Result<Route, Error> {
    let routes = routes()?;
    table::default_route(
        &routes,
        &adapters(&routes)?,
        by_name,
        table::SourceRule::SubnetOfNextHop,
    )
}

pub fn nic_named(name: &str) -> Result<NIC, Error> {
    table::nic_named(&adapters(&routes()?)?, name)
}

pub fn nics() -> Result<Vec<NIC>, Error> {
    Ok(table::nics(&adapters(&routes()?)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever this machine's network looks like, the calls answer without
    /// panicking, and every NIC they give is consistent.
    #[test]
    fn netinfo_reads_this_machine() {
        let all = adapters(&routes().unwrap()).unwrap();
        let lo = all.iter().find(|a| a.name == "lo").expect("a loopback");
        assert_eq!(lo.not_ethernet.as_deref(), Some("loopback, ARPHRD 772"));
        assert!(lo.addrs.contains(&("127.0.0.1".parse().unwrap(), 8)));
        assert!(lo.index >= 1);
        for nic in nics().unwrap() {
            assert_eq!(nic_named(&nic.name).unwrap(), nic);
            assert!(matches!(route_to(nic.addr), Err(Error::OwnAddress(_))));
        }
        assert!(matches!(
            route_to("127.0.0.1".parse().unwrap()),
            Err(Error::OwnAddress(_))
        ));
        assert!(matches!(nic_named("lo"), Err(Error::NotEthernet { .. })));
        assert!(matches!(
            nic_named("no-such-nic-here"),
            Err(Error::NoSuchNic(_))
        ));
        let _ = default_route();
        assert_eq!(
            kind(65534),
            "tunnel without link layer, e.g. tun or WireGuard, ARPHRD 65534"
        );
    }
}
