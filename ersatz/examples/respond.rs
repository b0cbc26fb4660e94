//! Embedding ersatz: a virtual host. Answers ARP and ping for an address
//! on the local network that this machine does not own, for some seconds,
//! then says how many requests it answered.
//!
//! ```text
//! cargo run -p ersatz --example respond -- 10.77.1.50 [seconds]
//! ```
//! Needs the right to capture (root / CAP_NET_RAW, or an admin shell with
//! Npcap on Windows).

use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ersatz::respond::{self, Answered, Options, Responder};
use ersatz::{ipv4, netinfo, Interface};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(Ok(addr)) = args.next().map(|a| a.parse::<ipv4::Addr>()) else {
        eprintln!("usage: respond ADDRESS [SECONDS]");
        return ExitCode::from(2);
    };
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(10);
    match respond(addr, Duration::from_secs(seconds)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

fn respond(addr: ipv4::Addr, how_long: Duration) -> Result<(), Box<dyn std::error::Error>> {
    // The NIC whose network holds the address, opened so that the packets
    // to `addr` reach the responder.
    let options = Options::new(addr);
    let route = netinfo::route_to(addr)?;
    let interface = Arc::new(Interface::open_route_with(
        route,
        &respond::opening(&options),
    )?);
    let responder = Responder::start(interface, &options, |answered| {
        if let Answered::Echo { from, seq, .. } = answered {
            println!("echo request from {from}, seq {seq}: answered");
        }
    })?;
    println!(
        "answering for {addr} as {} for {how_long:?}",
        responder.mac()
    );
    std::thread::sleep(how_long);
    let c = responder.counters();
    println!(
        "{} echo requests and {} ARP requests answered, {} over the rate",
        c.echo.load(Ordering::Relaxed),
        c.arp.load(Ordering::Relaxed),
        c.over_rate.load(Ordering::Relaxed)
    );
    Ok(())
}
