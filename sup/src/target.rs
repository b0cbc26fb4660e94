//! What the user asked to probe: an IPv4 address or a host name, or for a
//! sweep several, blocks (`10.0.0.0/24`) and ranges (`10.0.0.1-50`).

use std::collections::HashSet;
use std::net::ToSocketAddrs;

use ersatz::ipv4;
use ersatz::sweep::Spec;

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

/// What kind of address that is not one host `addr` is: multicast,
/// broadcast or unspecified.
fn not_a_host(addr: ipv4::Addr) -> Option<&'static str> {
    let ip = std::net::Ipv4Addr::from(addr);
    if ip.is_multicast() {
        Some("multicast")
    } else if ip.is_broadcast() {
        Some("broadcast")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else {
        None
    }
}

/// Refuses what is not one host: the unspecified, broadcast and multicast
/// addresses.
pub fn one_host(target: ipv4::Addr) -> Result<(), Failure> {
    match not_a_host(target) {
        Some(kind) => Err(Failure(format!(
            "sup pings one host: {target} is a {kind} address"
        ))),
        None => Ok(()),
    }
}

/// Whether the targets make a sweep: more than one, or a block or range.
pub fn is_sweep(targets: &[String]) -> Result<bool, Failure> {
    if targets.len() > 1 {
        return Ok(true);
    }
    for text in targets {
        if let Some(Spec::Block { .. } | Spec::Range { .. }) = Spec::parse(text)? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A sweep's addresses: blocks and ranges expanded, names resolved, each
/// address once, in the order given; at most `max` of them.
pub fn sweep(targets: &[String], max: u32) -> Result<Vec<ipv4::Addr>, Failure> {
    let mut specs = Vec::with_capacity(targets.len());
    let mut total: u64 = 0;
    for text in targets {
        let spec = match Spec::parse(text)? {
            Some(spec) => spec,
            None => Spec::Addr(resolve(text)?.0),
        };
        total += spec.len();
        if total > u64::from(max) {
            let what = if targets.len() == 1 {
                format!("{text} is {} addresses", spec.len())
            } else {
                format!("these targets are {total} addresses or more")
            };
            return Err(Failure(format!(
                "{what}, more than the {max} a sweep takes: raise the limit with --max-targets N"
            )));
        }
        specs.push((text, spec));
    }
    let mut seen = HashSet::with_capacity(total as usize);
    let mut addrs = Vec::with_capacity(total as usize);
    for (text, spec) in specs {
        for addr in spec.addrs() {
            if let Some(kind) = not_a_host(addr) {
                return Err(Failure(format!(
                    "sup sweeps hosts: {text} holds {addr}, a {kind} address"
                )));
            }
            if seen.insert(addr) {
                addrs.push(addr);
            }
        }
    }
    Ok(addrs)
}
