//! Host network information: which NIC routes to a target, its IPv4 address,
//! prefix, MAC and default gateway, read from the operating system's own
//! tables.
//!
//! This is what a packet-level pinger needs before it can send its first
//! frame: the adapter to open (see [`NIC::device`]), the source address and
//! MAC to put in the frames, and the next hop whose MAC it must learn with
//! ARP. Nothing here sends or receives a packet; every function only reads
//! tables, so each call sees the current state (nothing is cached).
//!
//! ```no_run
//! # fn main() -> Result<(), ersatz::netinfo::Error> {
//! let route = ersatz::netinfo::route_to("192.0.2.7".parse().unwrap())?;
//! println!(
//!     "{} via {} on {} ({}, {}/{}, MAC {})",
//!     route.destination,
//!     route.next_hop,
//!     route.nic.description,
//!     route.nic.device,
//!     route.nic.addr,
//!     route.nic.prefix_len,
//!     route.nic.mac,
//! );
//! # Ok(())
//! # }
//! ```
//!
//! ## Where the answers come from
//!
//! | | Linux | Windows |
//! |---|---|---|
//! | route | `/proc/net/route` (the main table), longest prefix, then lowest metric | `GetBestRoute2`; the default route from `GetIpForwardTable2` |
//! | adapters | `getifaddrs` (addresses, netmasks, index, MAC, link type) | `GetAdaptersAddresses` (GUID, friendly name, addresses, MAC, `IfType`, gateway) |
//! | pcap device | the interface name | `\Device\NPF_{GUID}` |
//!
//! On Linux, policy routing rules (`ip rule`) and tables other than `main`
//! are not consulted. Everything is read from the network namespace the
//! calling thread is in.
//!
//! Only Ethernet adapters (which on both systems includes Wi-Fi in its normal
//! mode, virtual Ethernet, bridges and Hyper-V switches) can carry the frames
//! ersatz builds; a route over a VPN, tunnel, PPP or loopback adapter is
//! [`Error::NotEthernet`].
//!
//! Every error names what was missing in one sentence, ready to be shown to
//! the user as it is.

use std::fmt;

use crate::{ethernet, ipv4};

mod table;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
use linux as sys;

#[cfg(windows)]
#[allow(unsafe_code)]
mod windows;
#[cfg(windows)]
use windows as sys;

#[cfg(not(any(target_os = "linux", windows)))]
mod sys {
    //! Platforms without an implementation: every call says so.
    use super::{Error, Route, NIC};
    use crate::ipv4;

    pub struct Snapshot;
    pub fn snapshot() -> Result<Snapshot, Error> {
        Err(Error::Unsupported)
    }
    pub fn route_in(_: &Snapshot, _: ipv4::Addr) -> Result<Route, Error> {
        Err(Error::Unsupported)
    }
    pub fn route_to(_: ipv4::Addr) -> Result<Route, Error> {
        Err(Error::Unsupported)
    }
    pub fn default_route() -> Result<Route, Error> {
        Err(Error::Unsupported)
    }
    pub fn nic_named(_: &str) -> Result<NIC, Error> {
        Err(Error::Unsupported)
    }
    pub fn nics() -> Result<Vec<NIC>, Error> {
        Err(Error::Unsupported)
    }
}

/// A network adapter that can carry Ethernet frames, with the IPv4 address
/// it sends from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NIC {
    /// The system's name for the adapter. Linux: the interface name (`eth0`);
    /// Windows: the adapter GUID in braces (`{4D36E972-...}`, the `AdapterName`).
    pub name: String,
    /// The name a person knows it by. Windows: the friendly name (`Ethernet 2`,
    /// `Wi-Fi`); Linux: the same as [`name`](NIC::name).
    pub description: String,
    /// What to open for capture (pcap). Linux: the interface name; Windows:
    /// `\Device\NPF_{GUID}` (Npcap).
    pub device: String,
    /// The interface index.
    pub index: u32,
    /// The adapter's IPv4 address: the one in the subnet of the next hop (for
    /// a route) or of the gateway, else its primary one.
    pub addr: ipv4::Addr,
    /// The length of the prefix (subnet) of [`addr`](NIC::addr), 0 to 32.
    pub prefix_len: u8,
    /// The adapter's MAC address.
    pub mac: ethernet::Addr,
    /// The adapter's default gateway, if it has one.
    pub gateway: Option<ipv4::Addr>,
    /// The largest IPv4 packet the adapter sends in one frame (1500 for
    /// Ethernet); larger packets are fragmented.
    pub mtu: u32,
    /// What sort of Ethernet adapter it is (Windows tells Wi-Fi, Hyper-V
    /// and TAP-Windows adapters apart; on Linux every one is `Ethernet`).
    pub kind: AdapterKind,
}

/// What sort of adapter a [`NIC`] is. Each carries Ethernet frames through
/// the capture library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AdapterKind {
    /// Ethernet, or anything the system presents as Ethernet.
    #[default]
    Ethernet,
    /// Wi-Fi (Windows `IF_TYPE_IEEE80211`): Npcap gives and takes Ethernet
    /// frames outside monitor mode.
    WiFi,
    /// A Hyper-V virtual Ethernet adapter (`vEthernet (WSL)`,
    /// `vEthernet (Default Switch)`).
    HyperV,
    /// An OpenVPN TAP-Windows adapter (Ethernet frames).
    Tap,
}

impl fmt::Display for AdapterKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AdapterKind::Ethernet => "Ethernet",
            AdapterKind::WiFi => "Wi-Fi",
            AdapterKind::HyperV => "Hyper-V virtual Ethernet",
            AdapterKind::Tap => "TAP-Windows",
        })
    }
}

impl NIC {
    /// The subnet mask of [`addr`](NIC::addr), e.g. `255.255.255.0` for a /24.
    pub fn mask(&self) -> ipv4::Addr {
        table::mask(self.prefix_len)
    }

    /// Whether `a` is in this adapter's subnet (reachable without a router).
    pub fn is_on_link(&self, a: ipv4::Addr) -> bool {
        table::in_subnet(a, self.addr, self.prefix_len)
    }
}

impl fmt::Display for NIC {
    /// `Ethernet 2 (10.0.0.5/24, 14-0C-76-6A-71-BD)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}/{}, {})",
            self.description, self.addr, self.prefix_len, self.mac
        )
    }
}

/// How to reach a destination: through which adapter, and to which next hop
/// (whose MAC address ARP must find).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Route {
    /// The adapter to send through.
    pub nic: NIC,
    /// Where the packets are going; `0.0.0.0` for [`default_route`].
    pub destination: ipv4::Addr,
    /// Who receives the frames: a gateway, or the destination itself when it
    /// is on-link.
    pub next_hop: ipv4::Addr,
}

impl Route {
    /// Whether the destination is on the adapter's link (no router between):
    /// the next hop is the destination itself.
    pub fn on_link(&self) -> bool {
        self.next_hop == self.destination
    }
}

/// How the adapter an error is about was reached (it shapes the message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Via {
    /// The route to this address goes through it.
    Route(ipv4::Addr),
    /// The default route goes through it.
    DefaultRoute,
    /// It was asked for by name ([`nic_named`]).
    Named,
}

/// Why the route or the adapter could not be found. Each message is one
/// sentence that names what is missing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No default route (no gateway) is configured.
    #[error("no default route: this machine has no gateway configured")]
    NoDefaultRoute,
    /// The default route names no gateway (a device-only default route).
    #[error("the default route goes through {nic} but names no gateway")]
    NoGateway {
        /// The adapter of the default route.
        nic: String,
    },
    /// Nothing in the routing table reaches this address (or it is reached
    /// only by an unreachable, prohibit or blackhole route).
    #[error("no route to {0}: the routing table has no route that reaches it")]
    NoRoute(ipv4::Addr),
    /// The adapter has no IPv4 address to send from.
    #[error("{nic} has no IPv4 address")]
    NoIpv4Address {
        /// The adapter.
        nic: String,
    },
    /// The adapter has no (Ethernet) MAC address.
    #[error("{nic} has no MAC address")]
    NoMac {
        /// The adapter.
        nic: String,
    },
    /// The adapter is not an Ethernet (or Wi-Fi) adapter: a VPN, tunnel
    /// (Wintun, tun), PPP or loopback adapter cannot carry Ethernet frames.
    #[error("{}", not_ethernet(via, nic, kind))]
    NotEthernet {
        /// The adapter.
        nic: String,
        /// What it is instead, e.g. `tunnel without link layer (ARPHRD 65534)`.
        kind: String,
        /// How it was reached.
        via: Via,
    },
    /// The target is one of this machine's own addresses (or loopback): the
    /// system answers it internally, nothing goes on the wire.
    #[error("{0} is this machine's own address: it cannot be pinged on the wire")]
    OwnAddress(ipv4::Addr),
    /// No adapter has this name, GUID, description or capture device name.
    #[error("no network adapter is called {0:?} (by name, GUID, description or capture device)")]
    NoSuchNic(String),
    /// A system call failed or a system table could not be read.
    #[error("{what} failed: {source}")]
    Os {
        /// What was being done, e.g. `reading /proc/net/route`.
        what: &'static str,
        /// What the system said.
        source: std::io::Error,
    },
    /// This operating system has no implementation (only Linux and Windows do).
    #[error("finding routes and adapters is not supported on this operating system (only Linux and Windows)")]
    Unsupported,
}

fn not_ethernet(via: &Via, nic: &str, kind: &str) -> String {
    let tail = "sup needs an Ethernet or Wi-Fi adapter";
    match via {
        Via::Route(a) => format!(
            "the route to {a} goes through {nic}, which is not an Ethernet adapter ({kind}); {tail}"
        ),
        Via::DefaultRoute => format!(
            "the default route goes through {nic}, which is not an Ethernet adapter ({kind}); {tail}"
        ),
        Via::Named => format!("{nic} is not an Ethernet adapter ({kind}); {tail}"),
    }
}

/// The best route to `destination`: the adapter it leaves through and the next
/// hop. Like the system's own choice: longest matching prefix, then lowest
/// metric.
///
/// Errors: [`Error::OwnAddress`] for this machine's own addresses and
/// 127.0.0.0/8, [`Error::NoRoute`] when nothing reaches it,
/// [`Error::NotEthernet`] when the route goes through a VPN, tunnel, PPP or
/// loopback adapter, [`Error::NoIpv4Address`] / [`Error::NoMac`] when the
/// adapter lacks them, [`Error::Os`] when a table cannot be read.
pub fn route_to(destination: ipv4::Addr) -> Result<Route, Error> {
    sys::route_to(destination)
}

/// The routing table and adapters, read once for many lookups (a sweep of
/// thousands of targets): [`Routes::route_to`] answers as [`route_to`] does,
/// from what was read, without reading the system's tables again (on
/// Windows it still asks `GetBestRoute2` for each destination, which is
/// quick; listing the adapters is what is slow).
pub struct Routes(sys::Snapshot);

impl Routes {
    /// Reads the tables.
    ///
    /// # Errors
    ///
    /// [`Error::Os`] when a table cannot be read.
    pub fn read() -> Result<Self, Error> {
        sys::snapshot().map(Routes)
    }

    /// The best route to `destination`, as [`route_to`] finds it.
    ///
    /// # Errors
    ///
    /// As for [`route_to`].
    pub fn route_to(&self, destination: ipv4::Addr) -> Result<Route, Error> {
        sys::route_in(&self.0, destination)
    }
}

impl fmt::Debug for Routes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Routes")
    }
}

/// The default route: its adapter, with [`Route::next_hop`] the gateway and
/// [`Route::destination`] `0.0.0.0`. With several default routes, the one of
/// lowest metric.
///
/// Errors: [`Error::NoDefaultRoute`] when there is none, [`Error::NoGateway`]
/// when it names no gateway, and as for [`route_to`].
pub fn default_route() -> Result<Route, Error> {
    sys::default_route()
}

/// The adapter called `name`: its system name (Linux interface name, Windows
/// GUID with or without braces), its description (Windows friendly name or
/// driver description) or its pcap device name (`\Device\NPF_{GUID}`). An
/// exact match wins over one that ignores ASCII case.
///
/// Errors: [`Error::NoSuchNic`], and [`Error::NotEthernet`],
/// [`Error::NoIpv4Address`] or [`Error::NoMac`] when the adapter exists but
/// cannot be used.
pub fn nic_named(name: &str) -> Result<NIC, Error> {
    sys::nic_named(name)
}

/// Every Ethernet (or Wi-Fi) adapter that has an IPv4 address and a MAC, in
/// the system's order.
pub fn nics() -> Result<Vec<NIC>, Error> {
    sys::nics()
}
