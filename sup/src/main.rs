//! `sup`: the ping a network engineer would rather use. A thin command line
//! over `ersatz`: arguments in, ping.exe's lines out; the work is done by
//! `ersatz::ping::Session` on an `ersatz::Interface`.

mod args;
mod output;

use std::io::Write;
use std::net::ToSocketAddrs;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use ersatz::ping::{Event, Options, Session};
use ersatz::{ipv4, netinfo, Interface};

use args::Args;

/// Why sup could not run: one sentence a person can act on.
struct Failure(String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.to_string())
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let json = args.json;
    match run(args) {
        Ok(code) => code,
        Err(Failure(message)) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"type": "fatal", "message": message})
                );
            }
            eprintln!("{message}");
            ExitCode::from(2)
        }
    }
}

/// The target's address, and the name it was given by (if it was a name).
fn resolve(target: &str) -> Result<(ipv4::Addr, Option<String>), Failure> {
    if let Ok(addr) = target.parse::<ipv4::Addr>() {
        return Ok((addr, None));
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

fn run(args: Args) -> Result<ExitCode, Failure> {
    let (target, name) = resolve(&args.target)?;
    let route = netinfo::route_to(target)?;
    let verbose = args.verbose;
    if verbose {
        eprintln!(
            "NIC: {} [{}], device {}, index {}",
            route.nic, route.nic.name, route.nic.device, route.nic.index
        );
        match route.on_link() {
            true => eprintln!("route: {target} is on-link"),
            false => eprintln!("route: {target} via {}", route.next_hop),
        }
    }
    let next_hop = route.next_hop;
    let interface = Interface::open_route(route)?;
    if verbose {
        match interface.resolve(next_hop) {
            Ok(mac) => eprintln!("next hop {next_hop} is at {mac} (our ARP)"),
            Err(e) => eprintln!("next hop {next_hop}: {e}"),
        }
    }

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))?;
    }
    let options = Options {
        size: usize::from(args.size),
        ttl: args.ttl,
        dont_fragment: args.dont_fragment,
        timeout: Duration::from_millis(u64::from(args.timeout_ms)),
        interval: Duration::from_millis(u64::from(args.interval_ms)),
        ..Options::default()
    };
    if args.json {
        println!(
            "{}",
            serde_json::json!({"type": "start", "target": target.to_string(), "name": name,
                "bytes": args.size, "ttl": args.ttl, "identifier": options.identifier,
                "nic": interface.nic().description, "source": interface.nic().addr.to_string()})
        );
    } else {
        match &name {
            Some(name) => println!(
                "\nPinging {name} [{target}] with {} bytes of data:",
                args.size
            ),
            None => println!("\nPinging {target} with {} bytes of data:", args.size),
        }
    }
    let mut session = Session::new(&interface, target, options, verbose);
    let mut print = |event: &Event| {
        if args.json {
            if let Some(v) = output::json(event) {
                println!("{v}");
            }
        } else if let Some(line) = output::text(event) {
            println!("{line}");
        }
        if verbose {
            match event {
                Event::Sent { seq, frame } => {
                    eprint!(
                        "sent seq={seq} ({} bytes):\n{}",
                        frame.len(),
                        output::hex_dump(frame)
                    )
                }
                Event::Captured { frame } => {
                    eprint!(
                        "received ({} bytes):\n{}",
                        frame.len(),
                        output::hex_dump(frame)
                    )
                }
                Event::Late(r) => {
                    eprintln!("late reply seq={} from {} after the timeout", r.seq, r.from)
                }
                _ => {}
            }
        }
        // A closed stdout (sup | head) is not worth a panic.
        let _ = std::io::stdout().flush();
    };
    let mut sent = 0u32;
    while args.forever || sent < args.count {
        session.probe(&stop, &mut print);
        sent += 1;
        if stop.load(Ordering::SeqCst) {
            break;
        }
    }
    let stats = session.statistics();
    if args.json {
        println!(
            "{}",
            output::summary_json(target, stats, stop.load(Ordering::SeqCst))
        );
    } else {
        print!("{}", output::statistics(target, stats));
        if stop.load(Ordering::SeqCst) {
            println!("Control-C");
        }
    }
    let _ = std::io::stdout().flush();
    Ok(if stats.received > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
