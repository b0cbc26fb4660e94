//! `sup`: a packet-level ping. For now it only tells how it will be used.

use std::process::ExitCode;

const USAGE: &str = "\
Usage: sup [-t] [-n count] [-l size] [-w timeout] [-i TTL] [-f] target

sup pings with frames it builds itself (Ethernet, ARP, IPv4, ICMP),
sent and captured through Npcap (Windows) or libpcap (Linux).
Sending is not wired up yet: this build only parses its arguments.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help" || a == "-?") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    eprintln!("{USAGE}");
    ExitCode::from(2)
}
