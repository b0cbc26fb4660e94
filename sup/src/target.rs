//! What the user asked to probe: an IPv4 address or a host name.

use std::net::ToSocketAddrs;

use ersatz::ipv4;

use crate::out::Failure;

/// The target's address, and the name it was given by (if it was a name).
pub fn resolve(target: &str) -> Result<(ipv4::Addr, Option<String>), Failure> {
    if let Ok(addr) = target.parse::<ipv4::Addr>() {
        return Ok((addr, None));
    }
    // An IPv6 address (with or without a zone, `fe80::1%eth0`).
    let v6 = target.split_once('%').map_or(target, |(addr, _)| addr);
    if v6.parse::<std::net::Ipv6Addr>().is_ok() {
        return Err(Failure(format!(
            "sup pings IPv4 addresses only: {target} is an IPv6 address."
        )));
    }
    let unknown = || {
        Failure(format!(
            "Ping request could not find host {target}. Please check the name and try again."
        ))
    };
    let looks_like_a_name = !target.is_empty()
        && target.len() <= 253
        && target
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    if !looks_like_a_name {
        return Err(unknown());
    }
    let found = (target, 0u16).to_socket_addrs().map_err(|_| unknown())?;
    found
        .filter_map(|a| match a.ip() {
            std::net::IpAddr::V4(v4) => Some(ipv4::Addr::from(v4)),
            std::net::IpAddr::V6(_) => None,
        })
        .next()
        .map(|a| (a, Some(target.to_string())))
        .ok_or_else(unknown)
}

/// Refuses what is not one host: the unspecified, broadcast and multicast
/// addresses.
pub fn one_host(target: ipv4::Addr) -> Result<(), Failure> {
    let ip = std::net::Ipv4Addr::from(target);
    if ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast() {
        return Err(Failure(format!(
            "sup pings one host: {target} is a {} address",
            if ip.is_multicast() {
                "multicast"
            } else if ip.is_broadcast() {
                "broadcast"
            } else {
                "unspecified"
            }
        )));
    }
    Ok(())
}
