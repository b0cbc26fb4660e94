//! Windows: adapters from `GetAdaptersAddresses`, the route from
//! `GetBestRoute2` (or, where that is not implemented, as under Wine 8.0, a
//! longest-prefix match over `GetIpForwardTable2`), the default route from
//! `GetIpForwardTable2`, all through `windows-sys` (no hand-written bindings).
//!
//! Every structure the system returns is copied into owned Rust values
//! ([`Adapter`], [`RouteEntry`]) right away, inside the lifetime of the
//! buffer that holds it; the platform-independent logic in `table` does the
//! rest.
//!
//! This is the crate's only module with `unsafe` code: FFI calls and reads
//! of the structures they fill. Every unsafe block states why it is sound.
#![deny(clippy::undocumented_unsafe_blocks)]

use std::ffi::CStr;
use std::io;
use std::mem::size_of;
use std::ptr;

use windows_sys::Win32::Foundation::{
    ERROR_BUFFER_OVERFLOW, ERROR_HOST_UNREACHABLE, ERROR_NETWORK_UNREACHABLE, ERROR_NOT_FOUND,
    ERROR_NOT_SUPPORTED, ERROR_NO_DATA, NO_ERROR, WIN32_ERROR,
};
use windows_sys::Win32::NetworkManagement::IpHelper::{
    FreeMibTable, GetAdaptersAddresses, GetBestRoute2, GetIpForwardTable2,
    GAA_FLAG_INCLUDE_GATEWAYS, GAA_FLAG_SKIP_ANYCAST, GAA_FLAG_SKIP_DNS_SERVER,
    GAA_FLAG_SKIP_MULTICAST, IP_ADAPTER_ADDRESSES_LH, MIB_IPFORWARD_ROW2, MIB_IPFORWARD_TABLE2,
};
use windows_sys::Win32::NetworkManagement::Ndis::IfOperStatusUp;
use windows_sys::Win32::Networking::WinSock::{
    AF_INET, SOCKADDR_IN, SOCKADDR_INET, SOCKET_ADDRESS,
};

use super::table::{self, Adapter, RouteEntry, SourceRule, WindowsInterface, WindowsRouteRow};
use super::{Error, Route, Via, NIC};
use crate::{ethernet, ipv4};

/// First guess for the `GetAdaptersAddresses` buffer (Microsoft suggests 15 KB).
const INITIAL_BUFFER: usize = 16 * 1024;
/// `GetAdaptersAddresses` calls before giving up while adapters keep appearing.
const MAX_TRIES: usize = 4;
/// Bound on every linked list walked (adapters, addresses): never loop forever.
const MAX_LIST: usize = 4096;
/// Bound on a NUL-terminated wide string read.
const MAX_WSTR: usize = 1024;

fn os(what: &'static str, code: WIN32_ERROR) -> Error {
    Error::Os {
        what,
        source: io::Error::from_raw_os_error(code as i32),
    }
}

/// An adapter and whether it is connected (routes over a disconnected one are
/// not used).
struct Listed {
    adapter: Adapter,
    up: bool,
    metric: u32,
}

/// The IPv4 address in a `SOCKET_ADDRESS`, if it holds one.
///
/// # Safety
/// `sa.lpSockaddr` is null or points to `sa.iSockaddrLength` readable bytes.
unsafe fn socket_address_v4(sa: &SOCKET_ADDRESS) -> Option<ipv4::Addr> {
    let len = usize::try_from(sa.iSockaddrLength).ok()?;
    if sa.lpSockaddr.is_null() || len < size_of::<SOCKADDR_IN>() {
        return None;
    }
    // SAFETY: non-null and at least a SOCKADDR_IN long (caller's contract);
    // read_unaligned makes no alignment assumption.
    let sin = unsafe { ptr::read_unaligned(sa.lpSockaddr.cast::<SOCKADDR_IN>()) };
    (sin.sin_family == AF_INET).then(|| in_addr(&sin))
}

fn in_addr(sin: &SOCKADDR_IN) -> ipv4::Addr {
    // SAFETY: every variant of the IN_ADDR union is plain bytes of the same
    // 4-byte storage; S_addr holds them in network order.
    let raw = unsafe { sin.sin_addr.S_un.S_addr };
    ipv4::Addr(raw.to_ne_bytes())
}

fn sockaddr_inet_v4(a: &SOCKADDR_INET) -> Option<ipv4::Addr> {
    // SAFETY: si_family overlays the family field of both variants, and
    // every bit pattern is a valid u16.
    let family = unsafe { a.si_family };
    // SAFETY: the family says the Ipv4 variant is the one written; it is
    // plain data.
    (family == AF_INET).then(|| in_addr(unsafe { &a.Ipv4 }))
}

/// A NUL-terminated UTF-16 string, lossily (bounded by [`MAX_WSTR`]).
///
/// # Safety
/// `p` is null or points to a NUL-terminated UTF-16 string.
unsafe fn wide(p: *const u16) -> String {
    if p.is_null() {
        return String::new();
    }
    let mut len = 0;
    // SAFETY: the string is NUL-terminated (caller's contract) and we stop
    // at the NUL, so every unit read is inside it.
    while len < MAX_WSTR && unsafe { *p.add(len) } != 0 {
        len += 1;
    }
    // SAFETY: the `len` units before the NUL were just read.
    String::from_utf16_lossy(unsafe { std::slice::from_raw_parts(p, len) })
}

/// Every adapter with IPv4 enabled, from `GetAdaptersAddresses`.
fn adapters() -> Result<Vec<Listed>, Error> {
    let flags = GAA_FLAG_INCLUDE_GATEWAYS
        | GAA_FLAG_SKIP_ANYCAST
        | GAA_FLAG_SKIP_MULTICAST
        | GAA_FLAG_SKIP_DNS_SERVER;
    let mut size = INITIAL_BUFFER as u32;
    for _ in 0..MAX_TRIES {
        // u64 elements: the structures need 8-byte alignment.
        let mut buf = vec![0u64; (size as usize).div_ceil(8)];
        let first = buf.as_mut_ptr().cast::<IP_ADAPTER_ADDRESSES_LH>();
        let mut len = (buf.len() * 8) as u32;
        // SAFETY: `first` points to `len` writable, 8-aligned bytes that
        // outlive the call; the reserved argument is null as documented.
        let rc =
            unsafe { GetAdaptersAddresses(AF_INET as u32, flags, ptr::null(), first, &mut len) };
        match rc {
            NO_ERROR => {
                // SAFETY: on success the buffer holds a valid list starting
                // at `first`, and `buf` lives until `collect` returns.
                return Ok(unsafe { collect(first) });
            }
            ERROR_NO_DATA => return Ok(Vec::new()),
            ERROR_BUFFER_OVERFLOW => size = len.max(size.saturating_mul(2)),
            rc => return Err(os("GetAdaptersAddresses (listing network adapters)", rc)),
        }
    }
    Err(os(
        "GetAdaptersAddresses (listing network adapters, the list kept growing)",
        ERROR_BUFFER_OVERFLOW,
    ))
}

/// Copies the adapter list into owned values.
///
/// # Safety
/// `first` is null or the head of a list `GetAdaptersAddresses` wrote into a
/// buffer that is alive.
unsafe fn collect(first: *const IP_ADAPTER_ADDRESSES_LH) -> Vec<Listed> {
    let mut out = Vec::new();
    let mut p = first;
    while !p.is_null() && out.len() < MAX_LIST {
        // SAFETY: a non-null node of the list (caller's contract).
        let a = unsafe { &*p };
        let name = if a.AdapterName.is_null() {
            String::new()
        } else {
            // SAFETY: non-null, and AdapterName is a NUL-terminated ANSI
            // string in the buffer.
            unsafe { CStr::from_ptr(a.AdapterName.cast()) }
                .to_string_lossy()
                .into_owned()
        };
        // SAFETY: FriendlyName and Description are NUL-terminated wide
        // strings in the buffer (or null).
        let (friendly, driver) = unsafe { (wide(a.FriendlyName), wide(a.Description)) };
        // SAFETY: both union variants are plain integers; IfIndex is the
        // second u32 of the first 8 bytes.
        let index = unsafe { a.Anonymous1.Anonymous.IfIndex };
        let mac = (a.PhysicalAddressLength == 6).then(|| {
            let mut m = [0u8; 6];
            m.copy_from_slice(&a.PhysicalAddress[..6]);
            ethernet::Addr(m)
        });
        let mut addrs = Vec::new();
        let mut u = a.FirstUnicastAddress;
        while !u.is_null() && addrs.len() < MAX_LIST {
            // SAFETY: a non-null node of the unicast list in the buffer.
            let ua = unsafe { &*u };
            // SAFETY: Address points to iSockaddrLength bytes in the buffer.
            if let Some(addr) = unsafe { socket_address_v4(&ua.Address) } {
                addrs.push((addr, ua.OnLinkPrefixLength.min(32)));
            }
            u = ua.Next;
        }
        let mut gateway = None;
        let mut g = a.FirstGatewayAddress;
        let mut seen = 0;
        while gateway.is_none() && !g.is_null() && seen < MAX_LIST {
            // SAFETY: a non-null node of the gateway list in the buffer.
            let ga = unsafe { &*g };
            // SAFETY: Address points to iSockaddrLength bytes in the buffer.
            gateway = unsafe { socket_address_v4(&ga.Address) }.filter(|g| g.0 != [0; 4]);
            g = ga.Next;
            seen += 1;
        }
        let kind = table::windows_adapter_kind(a.IfType, &friendly, &driver);
        out.push(Listed {
            adapter: Adapter {
                // Npcap names the capture device of adapter {GUID}
                // \Device\NPF_{GUID} (pcap_findalldevs:
                // https://npcap.com/guide/npcap-devguide.html, "Npcap's
                // loopback adapter device is reported ... as
                // \Device\NPF_Loopback").
                device: format!(r"\Device\NPF_{name}"),
                name,
                description: friendly,
                aliases: vec![driver],
                index,
                not_ethernet: kind.as_ref().err().cloned(),
                kind: kind.unwrap_or_default(),
                mac,
                addrs,
                gateway,
                mtu: a.Mtu,
            },
            // Routes over an adapter that is not up are not used (its
            // OperStatus, https://learn.microsoft.com/en-us/windows/win32/api/iptypes/ns-iptypes-ip_adapter_addresses_lh).
            up: a.OperStatus == IfOperStatusUp,
            metric: a.Ipv4Metric,
        });
        p = a.Next;
    }
    out
}

fn owned(listed: Vec<Listed>) -> Vec<Adapter> {
    listed.into_iter().map(|l| l.adapter).collect()
}

fn by_index(a: &Adapter, index: &u32) -> bool {
    a.index == *index
}

/// The IPv4 routes of connected adapters, with the metric Windows compares:
/// the route's plus its interface's.
fn routes(adapters: &[Listed]) -> Result<Vec<RouteEntry<u32>>, Error> {
    let mut table: *mut MIB_IPFORWARD_TABLE2 = ptr::null_mut();
    // SAFETY: `table` is a valid out-pointer; on success it receives a table
    // that we free with FreeMibTable below.
    let rc = unsafe { GetIpForwardTable2(AF_INET, &mut table) };
    if rc != NO_ERROR {
        return Err(os("GetIpForwardTable2 (reading the routing table)", rc));
    }
    if table.is_null() {
        return Ok(Vec::new());
    }
    // SAFETY: on success `table` points to NumEntries rows laid out from
    // `Table` on; we only read them before freeing.
    let rows: Vec<MIB_IPFORWARD_ROW2> = unsafe {
        let n = (*table).NumEntries as usize;
        let first = ptr::addr_of!((*table).Table).cast::<MIB_IPFORWARD_ROW2>();
        std::slice::from_raw_parts(first, n).to_vec()
    };
    // SAFETY: allocated by GetIpForwardTable2, freed once, not used after.
    unsafe { FreeMibTable(table.cast()) };
    let rows: Vec<WindowsRouteRow> = rows
        .iter()
        .filter_map(|row| {
            Some(WindowsRouteRow {
                if_index: row.InterfaceIndex,
                destination: sockaddr_inet_v4(&row.DestinationPrefix.Prefix)?,
                prefix_len: row.DestinationPrefix.PrefixLength,
                next_hop: sockaddr_inet_v4(&row.NextHop),
                metric: row.Metric,
            })
        })
        .collect();
    let interfaces: Vec<WindowsInterface> = adapters
        .iter()
        .map(|l| WindowsInterface {
            index: l.adapter.index,
            // IP_ADAPTER_ADDRESSES' Ipv4Metric: "The IPv4 interface metric
            // for the adapter address", the MIB_IPINTERFACE_ROW Metric that
            // route metrics are offsets from:
            // https://learn.microsoft.com/en-us/windows/win32/api/iptypes/ns-iptypes-ip_adapter_addresses_lh
            metric: l.metric,
            up: l.up,
        })
        .collect();
    Ok(table::windows_routes(&rows, &interfaces))
}

fn sockaddr_inet(a: ipv4::Addr) -> SOCKADDR_INET {
    // SAFETY: SOCKADDR_INET is plain data; all zeroes is a valid value.
    let mut s: SOCKADDR_INET = unsafe { std::mem::zeroed() };
    s.Ipv4.sin_family = AF_INET;
    s.Ipv4.sin_addr.S_un.S_addr = u32::from_ne_bytes(a.0);
    s
}

/// The adapters (and, for the fallback, the forwarding table) read once,
/// for many route lookups.
pub struct Snapshot {
    adapters: Vec<Adapter>,
    /// Needed only if GetBestRoute2 is not implemented; read while the
    /// listing (with the interface metrics) is at hand.
    routes: Result<Vec<RouteEntry<u32>>, String>,
}

pub fn snapshot() -> Result<Snapshot, Error> {
    let listed = adapters()?;
    let routes = routes(&listed).map_err(|e| e.to_string());
    Ok(Snapshot {
        adapters: owned(listed),
        routes,
    })
}

pub fn route_to(destination: ipv4::Addr) -> Result<Route, Error> {
    route_in(&snapshot()?, destination)
}

pub fn route_in(snapshot: &Snapshot, destination: ipv4::Addr) -> Result<Route, Error> {
    let adapters = &snapshot.adapters;
    table::check_not_own(adapters, destination)?;
    let dest = sockaddr_inet(destination);
    // SAFETY: plain data; all zeroes is valid. GetBestRoute2 fills them.
    let mut row: MIB_IPFORWARD_ROW2 = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut source: SOCKADDR_INET = unsafe { std::mem::zeroed() };
    // SAFETY: every pointer is valid for the call: the optional luid and
    // source are null (any interface, any source), `dest` is readable, `row`
    // and `source` writable.
    // GetBestRoute2 gives the route and the "best source IP address"
    // Windows would use:
    // https://learn.microsoft.com/en-us/windows/win32/api/netioapi/nf-netioapi-getbestroute2
    let rc = unsafe { GetBestRoute2(ptr::null(), 0, ptr::null(), &dest, 0, &mut row, &mut source) };
    match rc {
        NO_ERROR => {}
        ERROR_NOT_FOUND | ERROR_NETWORK_UNREACHABLE | ERROR_HOST_UNREACHABLE => {
            return Err(Error::NoRoute(destination))
        }
        // A stub that is there but does nothing (Wine 8.0; on Windows this
        // error only means "no IPv4 stack", per the page above): the same
        // answer from the forwarding table, by longest prefix, then route
        // plus interface metric, and the source address by Windows' rule
        // (table::windows_routes, table::windows_source).
        ERROR_NOT_SUPPORTED => {
            return match &snapshot.routes {
                Ok(routes) => table::route_to(
                    routes,
                    adapters,
                    by_index,
                    destination,
                    SourceRule::LongestMatch,
                ),
                Err(e) => Err(Error::Os {
                    what: "GetIpForwardTable2 (reading the routing table)",
                    source: io::Error::other(e.clone()),
                }),
            }
        }
        rc => return Err(os("GetBestRoute2 (finding the route)", rc)),
    }
    let adapter = adapters
        .iter()
        .find(|a| by_index(a, &row.InterfaceIndex))
        .ok_or_else(|| Error::NoSuchNic(format!("interface index {}", row.InterfaceIndex)))?;
    let next_hop = sockaddr_inet_v4(&row.NextHop)
        .filter(|g| g.0 != [0; 4])
        .unwrap_or(destination);
    let nic = adapter.to_nic(
        Via::Route(destination),
        sockaddr_inet_v4(&source),
        Some(next_hop),
    )?;
    Ok(Route {
        nic,
        destination,
        next_hop,
    })
}

pub fn default_route() -> Result<Route, Error> {
    let listed = adapters()?;
    let routes = routes(&listed)?;
    table::default_route(&routes, &owned(listed), by_index, SourceRule::LongestMatch)
}

pub fn nic_named(name: &str) -> Result<NIC, Error> {
    table::nic_named(&owned(adapters()?), name)
}

pub fn nics() -> Result<Vec<NIC>, Error> {
    Ok(table::nics(&owned(adapters()?)))
}
