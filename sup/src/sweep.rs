//! The sweep mode, `sup 10.0.0.0/24` (or several targets, or a range):
//! which targets are alive, with fping's habits: a line per target as its
//! outcome is known and a summary line, or with `-a`/`-u` only the
//! addresses, in address order, so that it pipes.

use std::process::ExitCode;
use std::time::Duration;

use ersatz::port::Protocol;
use ersatz::probe::IcmpError;
use ersatz::sweep::{self, Failure as HostFailure, Host, Method, Options, Reach, Via};
use ersatz::{netinfo, ping};
use serde_json::{json, Value};

use crate::args::Args;
use crate::out::{emit, err, out, Failure};
use crate::report::{ms_value, unreachable_text};
use crate::setup::{self, Verbose};
use crate::target;

/// Sweeps the targets `args` name.
pub fn run(args: &Args) -> Result<ExitCode, Failure> {
    refuse_ping_options(args)?;
    let addrs = target::sweep(&args.targets, args.max_targets)?;
    let routes = netinfo::Routes::read()?;
    let planned = sweep::plan(&routes, &addrs)?;
    if args.arp {
        if let Some((addr, Reach::Via(hop))) = planned
            .targets
            .iter()
            .find(|(_, r)| matches!(r, Reach::Via(_)))
        {
            return Err(Failure(format!(
                "{addr} is not on-link: it is routed via {hop} on {}; --arp reaches only the local network",
                planned.route.nic.description
            )));
        }
    }
    if args.verbose {
        let count = |f: fn(&Reach) -> bool| planned.targets.iter().filter(|(_, r)| f(r)).count();
        err!("{}", crate::diagnose::nic_line(&planned.route.nic));
        err!(
            "sweep: {} targets, {} on-link (ARP), {} routed (ICMP echo), {} without a route, {} this host",
            planned.targets.len(),
            count(|r| *r == Reach::OnLink),
            count(|r| matches!(r, Reach::Via(_))),
            count(|r| *r == Reach::NoRoute),
            count(|r| *r == Reach::Local),
        );
    }
    let mut options = Options {
        timeout: Duration::from_millis(u64::from(args.timeout_ms(500))),
        retries: args.retries.unwrap_or(1),
        arp_only: args.arp,
        echo: ping::Options::default()
            .size(usize::from(args.size()))
            .ttl(args.ttl())
            .dont_fragment(args.dont_fragment),
        method: match args.port() {
            Some((Protocol::Tcp, port)) => Method::Tcp(port),
            Some((Protocol::Udp, port)) => Method::Udp(port),
            None => Method::Echo,
        },
        ..Options::default()
    };
    if let Some(rate) = args.rate {
        options.interval = Duration::from_secs(1) / rate;
        options.budget = None;
    }
    let opening = sweep::opening(&options);
    let setup = setup::open_with(
        planned.route.clone(),
        Verbose::without_arp(args.verbose),
        args.pcap.as_ref(),
        &opening,
    )?;
    let lists = args.alive_only || args.unreachable_only;
    let swept = sweep::run(&setup.interface, &planned, &options, &setup.halt, |host| {
        let line = || (!lists).then(|| line(host, args.arp, options.method));
        if !emit(args.json, || Some(host_json(host, options.method)), line) {
            setup.halt();
        }
    });
    if lists {
        let mut listed: Vec<_> = swept
            .hosts
            .iter()
            .filter(|h| {
                (args.alive_only && h.alive) || (args.unreachable_only && h.done && !h.alive)
            })
            .map(|h| h.addr)
            .collect();
        sweep::sort(&mut listed);
        for addr in listed {
            out!("{addr}");
        }
    }
    let interrupted = setup.interrupted();
    if args.json {
        out!(
            "{}",
            json!({"type": "summary", "targets": swept.hosts.len(), "alive": swept.alive(),
                "unreachable": swept.unreachable(), "unknown": swept.unknown(),
                "elapsed_ms": ms_value(swept.elapsed), "interrupted": interrupted})
        );
    } else {
        let mut summary = format!(
            "{} targets, {} alive, {} unreachable",
            swept.hosts.len(),
            swept.alive(),
            swept.unreachable()
        );
        if swept.unknown() > 0 {
            summary.push_str(&format!(", {} unknown", swept.unknown()));
        }
        summary.push_str(&format!(", {:.2} s", swept.elapsed.as_secs_f64()));
        if interrupted {
            summary.push_str(" (interrupted)");
        }
        // With -a or -u, stdout holds addresses only.
        if lists {
            err!("{summary}");
        } else {
            out!("{summary}");
        }
    }
    Ok(if swept.alive() > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A sweep sends each target at most `--retries` + 1 probes at `--rate`;
/// what paces and counts one target's pings means nothing here.
fn refuse_ping_options(args: &Args) -> Result<(), Failure> {
    let refused = [
        (args.forever, "-t"),
        (args.count.is_some(), "-n"),
        (args.interval_ms.is_some(), "--interval"),
        (args.flood, "--flood"),
        (args.trace, "--trace"),
        (args.histogram, "--histogram"),
    ];
    match refused.iter().find(|(given, _)| *given) {
        Some((_, option)) => Err(Failure(format!(
            "{option} applies to one target; a sweep sends each target one probe (and --retries more) at --rate"
        ))),
        None => Ok(()),
    }
}

/// Milliseconds as a sweep prints them: `0.052 ms`.
fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// What is wrong with an unreachable target, when more than silence.
fn failure_text(failure: &HostFailure) -> String {
    match failure {
        HostFailure::Icmp {
            error: IcmpError::Unreachable(code),
            from,
        } => format!(
            "{} from {from}",
            unreachable_text(*code).trim_end_matches('.')
        ),
        HostFailure::Icmp {
            error: IcmpError::TtlExpired,
            from,
        } => format!("TTL expired in transit from {from}"),
        HostFailure::NoRoute => "no route".into(),
        HostFailure::NotSent(why) => why.clone(),
        other => format!("{other:?}"),
    }
}

/// The line for a target whose outcome is known (`arp_only`: no echo
/// request was sent to on-link targets; `method`: what was).
pub fn line(host: &Host, arp_only: bool, method: Method) -> String {
    let addr = host.addr;
    if !host.alive {
        return match &host.failure {
            Some(f) => format!("{addr} is unreachable ({})", failure_text(f)),
            None => format!("{addr} is unreachable"),
        };
    }
    let late = if host.late { ", late" } else { "" };
    // `, port 443 open`: what the port probe's answer said.
    let port = match (host.port, method) {
        (Some(p), Method::Tcp(n) | Method::Udp(n)) => format!(", port {n} {}", p.state.name()),
        _ => String::new(),
    };
    let silence = match method {
        Method::Echo => "no echo reply".to_string(),
        Method::Tcp(n) => format!("port {n} filtered"),
        Method::Udp(n) => format!("port {n} open|filtered"),
    };
    let how = match (host.via, host.rtt, host.ttl, host.arp_rtt) {
        (Via::Local, ..) => "this host".to_string(),
        (_, Some(rtt), Some(ttl), _) => format!("{}, TTL {ttl}{port}{late}", ms(rtt)),
        (Via::Arp, _, _, Some(arp)) if arp_only => format!("ARP {}{late}", ms(arp)),
        (Via::Arp, _, _, Some(arp)) => format!("ARP {}, {silence}{late}", ms(arp)),
        _ => format!("no time{late}"),
    };
    let mut line = format!("{addr} is alive ({how})");
    if let Some(mac) = host.mac {
        line.push_str(&format!(" [{mac}]"));
    }
    if let Some(also) = host.also {
        line.push_str(&format!(" (address conflict: also at {also})"));
    }
    line
}

/// The port `method` probes (0 for echo).
fn port_number(method: Method) -> u16 {
    match method {
        Method::Tcp(n) | Method::Udp(n) => n,
        Method::Echo => 0,
    }
}

/// The JSON object for a target whose outcome is known.
fn host_json(host: &Host, method: Method) -> Value {
    json!({"type": "host", "addr": host.addr.to_string(), "alive": host.alive,
           "rtt_ms": host.best_rtt().map(ms_value), "ttl": host.ttl,
           "mac": host.mac.map(|m| m.to_string()), "via": host.via.name(),
           "error": host.failure.as_ref().map(failure_text), "late": host.late,
           "conflict": host.also.map(|m| m.to_string()),
           "port": (method != Method::Echo).then(|| port_number(method)),
           "state": host.port.map(|p| p.state.name())})
}

#[cfg(test)]
mod tests {
    use super::*;
    use ersatz::{ethernet, icmp, ipv4};

    fn host(addr: [u8; 4]) -> Host {
        Host {
            done: true,
            ..Host::new(ipv4::Addr(addr), Via::Icmp)
        }
    }

    #[test]
    fn lines_read_like_fping() {
        let mut h = host([10, 0, 0, 1]);
        h.alive = true;
        h.rtt = Some(Duration::from_micros(52));
        h.ttl = Some(64);
        assert_eq!(
            line(&h, false, Method::Echo),
            "10.0.0.1 is alive (0.052 ms, TTL 64)"
        );
        h.mac = Some(ethernet::Addr([2, 0, 0, 0, 0, 1]));
        h.via = Via::Arp;
        assert_eq!(
            line(&h, false, Method::Echo),
            "10.0.0.1 is alive (0.052 ms, TTL 64) [02-00-00-00-00-01]"
        );
        h.rtt = None;
        h.ttl = None;
        h.arp_rtt = Some(Duration::from_micros(41));
        h.also = Some(ethernet::Addr([2, 0, 0, 0, 0, 9]));
        assert_eq!(
            line(&h, true, Method::Echo),
            "10.0.0.1 is alive (ARP 0.041 ms) [02-00-00-00-00-01] (address conflict: also at 02-00-00-00-00-09)"
        );
        h.also = None;
        assert_eq!(
            line(&h, false, Method::Echo),
            "10.0.0.1 is alive (ARP 0.041 ms, no echo reply) [02-00-00-00-00-01]"
        );
        let mut u = host([10, 0, 9, 9]);
        assert_eq!(line(&u, false, Method::Echo), "10.0.9.9 is unreachable");
        u.failure = Some(HostFailure::Icmp {
            error: IcmpError::Unreachable(icmp::UnreachableCode::Net),
            from: ipv4::Addr([10, 0, 0, 1]),
        });
        assert_eq!(
            line(&u, false, Method::Echo),
            "10.0.9.9 is unreachable (Destination net unreachable from 10.0.0.1)"
        );
        u.failure = Some(HostFailure::NoRoute);
        assert_eq!(
            line(&u, false, Method::Echo),
            "10.0.9.9 is unreachable (no route)"
        );
        let mut me = host([10, 0, 0, 2]);
        me.alive = true;
        me.via = Via::Local;
        assert_eq!(
            line(&me, false, Method::Echo),
            "10.0.0.2 is alive (this host)"
        );
    }
}
