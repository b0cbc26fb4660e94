//! The ARP mode, `sup --arp TARGET`: arping's question ("is this host on
//! the local network at all?") asked with our own ARP requests, answered in
//! ping.exe's words with the MAC that answered.

use std::process::ExitCode;
use std::time::Duration;

use ersatz::arping::ArpProbe;
use ersatz::probe::{self, Answered, Engine, Event, Pace};
use ersatz::{ethernet, ipv4};
use serde_json::json;

use crate::args::Args;
use crate::out::{emit, err, err_raw, out, out_raw, Failure};
use crate::report::{hex_dump, histogram_text, ms, ms_value, statistics, summary_json};
use crate::setup::{self, Verbose};

/// ARP-pings `target` (called `name`, if it was a name) as `args` say.
pub fn run(args: &Args, target: ipv4::Addr, name: Option<&str>) -> Result<ExitCode, Failure> {
    let route = setup::route(target, args.verbose)?;
    if !route.on_link() {
        return Err(Failure(format!(
            "{target} is not on-link: it is routed via {} on {}; --arp reaches only the local network",
            route.next_hop, route.nic.description
        )));
    }
    let setup = setup::open(
        route,
        Verbose::without_arp(args.verbose),
        args.pcap.as_ref(),
    )?;
    let nic = setup.interface.nic();
    if args.json {
        out!(
            "{}",
            json!({"type": "start", "target": target.to_string(), "name": name, "via": "arp",
                "nic": nic.description, "source": nic.addr.to_string(), "mac": nic.mac.to_string()})
        );
    } else {
        let shown = match name {
            Some(name) => format!("{name} [{target}]"),
            None => target.to_string(),
        };
        out!(
            "\nPinging {shown} with ARP requests from {} [{}]:",
            nic.addr,
            nic.mac
        );
    }
    let pace_interval = Duration::from_millis(u64::from(args.interval_ms()));
    let timeout = Duration::from_millis(u64::from(args.timeout_ms(4000)));
    let pace = Pace::lock_step(pace_interval, timeout);
    let mut engine = Engine::new(&setup.interface, ArpProbe::new(nic), pace, args.verbose);
    // Every MAC that answered, in the order they first did.
    let mut macs: Vec<ethernet::Addr> = Vec::new();
    let count = (!args.forever).then_some(args.count() as usize);
    let requests = std::iter::repeat_n(target, count.unwrap_or(usize::MAX));
    let mut plan = probe::jobs(requests, |event: &Event<'_, ArpProbe>| {
        if let Event::Reply(a) | Event::Duplicate(a) = event {
            if !macs.contains(&a.reply.mac) {
                macs.push(a.reply.mac);
            }
        }
        if !emit(args.json, || json_event(event), || text(event)) {
            setup.halt();
        }
        if args.verbose {
            verbose_event(event);
        }
    });
    if engine.run(&mut plan, &setup.halt) == probe::End::Done {
        // A second station answering the last request (a conflict) is heard
        // as a lock step hears it for the others: until the next request
        // would have gone.
        engine.linger(pace_interval.min(timeout), &mut plan, &setup.halt);
    }
    let stats = engine.statistics();
    if args.json {
        let mut summary = summary_json(target, stats, setup.interrupted());
        if let Some(fields) = summary.as_object_mut() {
            fields.insert("duplicates".into(), stats.duplicates.into());
            let macs: Vec<String> = macs.iter().map(ToString::to_string).collect();
            fields.insert("macs".into(), macs.into());
        }
        out!("{summary}");
    } else {
        out_raw!(
            "{}",
            statistics(target, stats, &conflict(stats.duplicates, &macs))
        );
        if args.histogram {
            out_raw!("{}", histogram_text(stats));
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

/// The sequence number a mode shows for a probe: 1 for the first.
fn seq(serial: u64) -> u64 {
    serial + 1
}

fn reply_line(a: &Answered<'_, ArpProbe>, suffix: &str) -> String {
    format!(
        "Reply from {} [{}]: time={}{suffix}",
        a.from,
        a.reply.mac,
        ms(a.rtt)
    )
}

/// The text line for an event, if it has one.
fn text(event: &Event<'_, ArpProbe>) -> Option<String> {
    Some(match event {
        Event::Reply(a) => reply_line(a, ""),
        Event::Duplicate(a) => reply_line(a, " (DUP!)"),
        Event::Timeout { .. } => "Request timed out.".into(),
        Event::SendFailed { error, .. } => format!("General failure: {error}."),
        _ => return None,
    })
}

fn reply_json(kind: &str, a: &Answered<'_, ArpProbe>) -> serde_json::Value {
    json!({"type": kind, "seq": seq(a.probe.serial), "from": a.from.to_string(),
           "mac": a.reply.mac.to_string(), "time_ms": ms_value(a.rtt)})
}

/// The JSON object for an event, if it has one.
fn json_event(event: &Event<'_, ArpProbe>) -> Option<serde_json::Value> {
    Some(match event {
        Event::Reply(a) => reply_json("arp_reply", a),
        Event::Duplicate(a) => reply_json("arp_duplicate", a),
        Event::Late(a) => reply_json("arp_late", a),
        Event::Timeout { probe, .. } => json!({"type": "timeout", "seq": seq(probe.serial)}),
        Event::SendFailed { probe, error } => {
            json!({"type": "error", "seq": seq(probe.serial), "message": error.to_string()})
        }
        _ => return None,
    })
}

/// `-v`: frames sent and received, late replies, on stderr.
fn verbose_event(event: &Event<'_, ArpProbe>) {
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
        Event::Late(a) => err!(
            "late reply seq={} from {} [{}] after the timeout",
            seq(a.probe.serial),
            a.from,
            a.reply.mac
        ),
        _ => {}
    }
}

/// The statistics' line about duplicates: how many, and every MAC that
/// answered when more than one did (two stations claim the address).
fn conflict(duplicates: u32, macs: &[ethernet::Addr]) -> String {
    if duplicates == 0 && macs.len() < 2 {
        return String::new();
    }
    let mut line = format!("    Duplicates: {duplicates}");
    if macs.len() > 1 {
        let list: Vec<String> = macs.iter().map(ToString::to_string).collect();
        line.push_str(&format!(
            ", address conflict: {} MACs answered ({})",
            macs.len(),
            list.join(", ")
        ));
    }
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflicts_name_every_mac() {
        let a = ethernet::Addr([2, 0, 0, 0, 0, 3]);
        let b = ethernet::Addr([2, 0, 0, 0, 0, 4]);
        assert_eq!(conflict(0, &[a]), "");
        assert_eq!(conflict(2, &[a]), "    Duplicates: 2\n");
        assert_eq!(
            conflict(1, &[a, b]),
            "    Duplicates: 1, address conflict: 2 MACs answered (02-00-00-00-00-03, 02-00-00-00-00-04)\n"
        );
    }
}
