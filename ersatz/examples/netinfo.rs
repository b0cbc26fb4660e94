//! Shows the route and the NIC that ersatz would use.
//!
//!     cargo run -p ersatz --example netinfo -- [DEST]
//!
//! With DEST (an IPv4 address): the route to it. Without: the default route,
//! then every usable adapter. Exits with 2 on an error (also when there is
//! no usable default route), after saying why.

use std::process::ExitCode;

use ersatz::ipv4;
use ersatz::netinfo::{self, Route, NIC};

fn print_nic(nic: &NIC) {
    println!("  name:        {}", nic.name);
    println!("  description: {}", nic.description);
    println!("  device:      {}", nic.device);
    println!("  index:       {}", nic.index);
    println!(
        "  address:     {}/{} (mask {})",
        nic.addr,
        nic.prefix_len,
        nic.mask()
    );
    println!("  MAC:         {}", nic.mac);
    match nic.gateway {
        Some(g) => println!("  gateway:     {g}"),
        None => println!("  gateway:     none"),
    }
}

fn print_route(what: &str, route: &Route) {
    println!("{what}");
    println!("  next hop:    {}", route.next_hop);
    println!(
        "  on-link:     {}",
        if route.on_link() { "yes" } else { "no" }
    );
    print_nic(&route.nic);
}

fn run(args: &[String]) -> Result<(), String> {
    match args {
        [] => {
            // The adapters are listed even when there is no usable default route.
            let default = netinfo::default_route();
            match &default {
                Ok(route) => print_route("default route:", route),
                Err(_) => println!("default route: none usable (see below)"),
            }
            let nics = netinfo::nics().map_err(|e| e.to_string())?;
            println!("\n{} usable adapter(s):", nics.len());
            for nic in &nics {
                println!("{}:", nic.description);
                print_nic(nic);
            }
            default.map(|_| ()).map_err(|e| e.to_string())
        }
        [dest] if dest != "-h" && dest != "--help" => {
            let dest: ipv4::Addr = dest.parse().map_err(|e| format!("{e}"))?;
            let route = netinfo::route_to(dest).map_err(|e| e.to_string())?;
            print_route(&format!("route to {dest}:"), &route);
            Ok(())
        }
        _ => Err("usage: netinfo [DEST]   (DEST: an IPv4 address; without it, the default route and all adapters)".into()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("netinfo: {e}");
            ExitCode::from(2)
        }
    }
}
