//! The port modes, `sup --tcp PORT TARGET` and `sup --udp PORT TARGET`:
//! ping.exe's lines for port probes (open, closed, filtered), for hosts
//! and networks that drop ICMP echo.

use std::process::ExitCode;
use std::time::Duration;

use ersatz::port::{self, PortReply, Protocol, ResetOpen, State, SynProbe, UdpProbe};
use ersatz::probe::{self, Answered, Engine, Event, IcmpError, Kind, Pace};
use ersatz::{interface, ipv4};
use serde_json::{json, Value};

use crate::args::Args;
use crate::out::{emit, err_raw, out, out_raw, Failure};
use crate::report::{
    hex_dump, histogram_text, ms, ms_value, statistics, summary_json, unreachable_text,
};
use crate::setup::{self, Verbose};

/// Probes `port` of `target` (called `name`, if it was a name).
pub fn run(
    args: &Args,
    target: ipv4::Addr,
    name: Option<&str>,
    protocol: Protocol,
    port: u16,
) -> Result<ExitCode, Failure> {
    let route = setup::route(target, args.verbose)?;
    let setup = setup::open_with(
        route,
        Verbose::with_arp(args.verbose),
        args.pcap.as_ref(),
        &port::opening(protocol, port),
    )?;
    let interface = &*setup.interface;
    let nic = interface.nic();
    let shown = match name {
        Some(name) => format!("{name} [{target}]"),
        None => target.to_string(),
    };
    let ttl = args.ttl();
    if args.json {
        out!(
            "{}",
            json!({"type": "start", "target": target.to_string(), "name": name,
                "protocol": protocol.name(), "port": port, "ttl": ttl,
                "bytes": if protocol == Protocol::Udp { u32::from(args.size_given.unwrap_or(0)) } else { 0 },
                "nic": nic.description, "source": nic.addr.to_string()})
        );
    } else {
        match protocol {
            Protocol::Tcp => out!("\nProbing {shown} on TCP port {port} with SYNs:"),
            Protocol::Udp => out!(
                "\nProbing {shown} on UDP port {port} with {} bytes of data:",
                args.size_given.unwrap_or(0)
            ),
        }
    }
    let pace = Pace::lock_step(
        Duration::from_millis(u64::from(args.interval_ms())),
        Duration::from_millis(u64::from(args.timeout_ms(4000))),
    );
    let count = (!args.forever).then_some(args.count() as usize);
    let jobs = std::iter::repeat_n(target, count.unwrap_or(usize::MAX));
    let mut tally = Tally::default();
    let us = nic.addr;
    let (stats, tally) = match protocol {
        Protocol::Tcp => {
            let kind = SynProbe::new(nic, port, ttl);
            let mut engine = Engine::new(interface, kind.clone(), pace, args.verbose);
            let print = |e: &Event<'_, SynProbe>| print(e, args, port, us, &setup, &mut tally);
            let mut plan = ResetOpen::new(interface, kind, probe::jobs(jobs, print));
            engine.run(&mut plan, &setup.halt);
            (engine.statistics().clone(), tally)
        }
        Protocol::Udp => {
            let size = usize::from(args.size_given.unwrap_or(0));
            let kind = UdpProbe::new(nic, port, size, ttl);
            let mut engine = Engine::new(interface, kind, pace, args.verbose);
            let print = |e: &Event<'_, UdpProbe>| print(e, args, port, us, &setup, &mut tally);
            let mut plan = probe::jobs(jobs, print);
            engine.run(&mut plan, &setup.halt);
            (engine.statistics().clone(), tally)
        }
    };
    let silent = match protocol {
        Protocol::Tcp => "filtered",
        Protocol::Udp => "open|filtered",
    };
    if args.json {
        let mut summary = summary_json(target, &stats, setup.interrupted());
        if let Some(fields) = summary.as_object_mut() {
            fields.insert("port".into(), port.into());
            fields.insert("open".into(), tally.open.into());
            fields.insert("closed".into(), tally.closed.into());
            fields.insert(silent.replace('|', "_"), tally.silent.into());
        }
        out!("{summary}");
    } else {
        let line = format!(
            "    Port {port}: {} open, {} closed, {} {silent} (no answer)\n",
            tally.open, tally.closed, tally.silent
        );
        out_raw!("{}", statistics(target, &stats, &line));
        if args.histogram {
            out_raw!("{}", histogram_text(&stats));
        }
        if setup.interrupted() {
            out!("Control-C");
        }
    }
    Ok(if stats.received > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// What the probes found, for the statistics.
#[derive(Default)]
struct Tally {
    open: u32,
    closed: u32,
    silent: u32,
}

/// The sequence number a probe is shown with: 1 for the first.
fn seq(serial: u64) -> u64 {
    serial + 1
}

/// Prints an event (and counts what it says of the port).
fn print<K>(
    event: &Event<'_, K>,
    args: &Args,
    port: u16,
    us: ipv4::Addr,
    setup: &setup::Setup,
    tally: &mut Tally,
) where
    K: Kind<Reply = PortReply> + ?Sized,
{
    match event {
        Event::Reply(a) => match a.reply.state {
            State::Open => tally.open += 1,
            State::Closed => tally.closed += 1,
        },
        Event::Timeout { .. } => tally.silent += 1,
        _ => {}
    }
    if !emit(
        args.json,
        || json_event(event, port, us),
        || text(event, port, us),
    ) {
        setup.halt();
    }
    if args.verbose {
        match event {
            Event::Sent { probe, sent } => err_raw!(
                "sent seq={} ({} bytes):\n{}",
                seq(probe.serial),
                sent.frame().len(),
                hex_dump(sent.frame())
            ),
            Event::Captured { frame } => {
                err_raw!("received ({} bytes):\n{}", frame.len(), hex_dump(frame))
            }
            _ => {}
        }
    }
}

fn reply_line<K: Kind<Reply = PortReply> + ?Sized>(
    a: &Answered<'_, K>,
    port: u16,
    suffix: &str,
) -> String {
    format!(
        "Reply from {}: port {port} {} ({}) time={} TTL={}{suffix}",
        a.from,
        a.reply.state.name(),
        a.reply.what,
        ms(a.rtt),
        a.reply.ttl
    )
}

/// The text line for an event, if it has one.
fn text<K: Kind<Reply = PortReply> + ?Sized>(
    event: &Event<'_, K>,
    port: u16,
    us: ipv4::Addr,
) -> Option<String> {
    Some(match event {
        Event::Reply(a) => reply_line(a, port, ""),
        Event::Duplicate(a) => reply_line(a, port, " (DUP!)"),
        Event::Damaged { from, damage, .. } => {
            format!(
                "Damaged reply from {from}: {}, not counted.",
                damage.describe()
            )
        }
        Event::Error {
            from,
            error: IcmpError::Unreachable(code),
            ..
        } => format!("Reply from {from}: {}", unreachable_text(*code)),
        Event::Error {
            from,
            error: IcmpError::TtlExpired,
            ..
        } => format!("Reply from {from}: TTL expired in transit."),
        Event::Timeout { .. } => "Request timed out.".into(),
        Event::SendFailed {
            error: interface::Error::ArpTimeout(_),
            ..
        } => format!("Reply from {us}: Destination host unreachable."),
        Event::SendFailed { error, .. } => format!("General failure: {error}."),
        _ => return None,
    })
}

fn reply_json<K: Kind<Reply = PortReply> + ?Sized>(
    kind: &str,
    a: &Answered<'_, K>,
    port: u16,
) -> Value {
    json!({"type": kind, "seq": seq(a.probe.serial), "from": a.from.to_string(), "port": port,
           "state": a.reply.state.name(), "via": a.reply.what, "time_ms": ms_value(a.rtt),
           "ttl": a.reply.ttl})
}

/// The JSON object for an event, if it has one.
fn json_event<K: Kind<Reply = PortReply> + ?Sized>(
    event: &Event<'_, K>,
    port: u16,
    us: ipv4::Addr,
) -> Option<Value> {
    Some(match event {
        Event::Reply(a) => reply_json("reply", a, port),
        Event::Duplicate(a) => reply_json("duplicate", a, port),
        Event::Late(a) => reply_json("late", a, port),
        Event::Damaged {
            probe,
            from,
            damage,
        } => json!({"type": "damaged", "seq": seq(probe.serial), "from": from.to_string(),
                    "reason": damage.describe()}),
        Event::Error {
            probe,
            from,
            error: IcmpError::Unreachable(code),
        } => json!({"type": "unreachable", "seq": seq(probe.serial), "from": from.to_string(),
                    "code": u8::from(*code), "message": unreachable_text(*code)}),
        Event::Error {
            probe,
            from,
            error: IcmpError::TtlExpired,
        } => json!({"type": "ttl_expired", "seq": seq(probe.serial), "from": from.to_string(),
                    "message": "TTL expired in transit."}),
        Event::Timeout { probe, .. } => json!({"type": "timeout", "seq": seq(probe.serial)}),
        Event::SendFailed {
            probe,
            error: interface::Error::ArpTimeout(_),
        } => json!({"type": "unreachable", "seq": seq(probe.serial), "from": us.to_string(),
                    "code": 1, "message": "Destination host unreachable."}),
        Event::SendFailed { probe, error } => {
            json!({"type": "error", "seq": seq(probe.serial), "message": error.to_string()})
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_line_goes_after_the_packets() {
        let mut s = ersatz::probe::Statistics::default();
        s.sent = 2;
        let text = statistics(
            ipv4::Addr([10, 0, 2, 2]),
            &s,
            "    Port 81: 0 open, 0 closed, 2 filtered (no answer)\n",
        );
        assert!(
            text.contains("(100% loss),\n    Port 81: 0 open, 0 closed, 2 filtered (no answer)\n"),
            "{text}"
        );
    }
}
