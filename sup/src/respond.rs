//! The responder mode, `sup --respond ADDR`: a virtual host answering ARP
//! and ping for an address the system does not own, until Ctrl+C.

use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ersatz::respond::{self, Answered, Options, Responder};
use ersatz::{ipv4, netinfo};
use serde_json::json;

use crate::args::Args;
use crate::out::{err, out, Failure};
use crate::setup::{self, Verbose};

/// Answers for `addr` as `args` say.
pub fn run(args: &Args, addr: ipv4::Addr) -> Result<ExitCode, Failure> {
    let route = match netinfo::route_to(addr) {
        Err(netinfo::Error::OwnAddress(_)) => {
            return Err(Failure(format!(
                "{addr} is this machine's own address: the system already answers for it"
            )))
        }
        other => other?,
    };
    if !route.on_link() {
        return Err(Failure(format!(
            "{addr} is not on-link: it is routed via {} on {}; --respond answers on the local network only",
            route.next_hop, route.nic.description
        )));
    }
    let nic_name = route.nic.description.clone();
    let mut options = Options::new(addr);
    options.mac = args.mac;
    options.ttl = args.ttl_given.unwrap_or(64);
    options.rate = args.rate.unwrap_or(1000);
    let setup = setup::open_with(
        route,
        Verbose::without_arp(args.verbose),
        args.pcap.as_ref(),
        &respond::opening(&options),
    )?;
    let (json, quiet) = (args.json, args.quiet);
    let mut responder = Responder::start(setup.interface.clone(), &options, move |a| {
        if quiet {
            return;
        }
        if json {
            out!("{}", answer_json(a));
        } else {
            if let Some(line) = answer_line(a) {
                out!("{line}");
            }
        }
    })
    .map_err(|e| Failure(e.to_string()))?;
    let mac = responder.mac();
    if json {
        out!(
            "{}",
            json!({"type": "start", "addr": addr.to_string(), "mac": mac.to_string(),
                "nic": nic_name, "promiscuous": args.mac.is_some(), "ttl": options.ttl,
                "rate": options.rate})
        );
    } else {
        out!("\nAnswering ARP and ping for {addr} [{mac}] on {nic_name} (Ctrl+C to stop):");
        if args.mac.is_some() {
            err!("Capturing in promiscuous mode: frames to {mac} are not the NIC's own.");
        }
    }
    while !setup.halt.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(20));
    }
    responder.stop();
    let c = responder.counters();
    let (echo, arp, over) = (
        c.echo.load(Ordering::Relaxed),
        c.arp.load(Ordering::Relaxed),
        c.over_rate.load(Ordering::Relaxed),
    );
    if json {
        out!(
            "{}",
            json!({"type": "summary", "addr": addr.to_string(), "echo": echo, "arp": arp,
                "over_rate": over, "failed": c.failed.load(Ordering::Relaxed),
                "interrupted": setup.interrupted()})
        );
    } else {
        out!(
            "\nAnswered {echo} echo requests and {arp} ARP requests for {addr}; {over} over the rate ({} a second), not answered.",
            options.rate
        );
        if setup.interrupted() {
            out!("Control-C");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The line for an answer.
fn answer_line(a: &Answered) -> Option<String> {
    Some(match a {
        Answered::Echo {
            from, seq, bytes, ..
        } => format!("Answered echo request from {from}: seq={seq} bytes={bytes}"),
        Answered::Arp { from, mac } => format!("Answered ARP from {from} [{mac}]"),
        _ => return None,
    })
}

fn answer_json(a: &Answered) -> serde_json::Value {
    match a {
        Answered::Echo {
            from,
            identifier,
            seq,
            bytes,
        } => json!({"type": "echo", "from": from.to_string(), "identifier": identifier,
                    "seq": seq, "bytes": bytes}),
        Answered::Arp { from, mac } => {
            json!({"type": "arp", "from": from.to_string(), "mac": mac.to_string()})
        }
        _ => json!({"type": "other"}),
    }
}
