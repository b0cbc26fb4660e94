//! Embedding ersatz: ping a target four times with [`ersatz::Pinger`], which
//! takes only a reply whose checksums, source, identifier, sequence number
//! and payload are right. README.md's "Embedding ersatz" quotes this file
//! from `use` on (ersatz/tests/readme.rs checks that they are the same).
//!
//! ```text
//! cargo run -p ersatz --example ping -- 10.77.2.2
//! ```
//! Needs the right to capture (root / CAP_NET_RAW, or an admin shell with
//! Npcap on Windows).

use std::time::Duration;

fn main() -> Result<(), ersatz::Error> {
    let target = std::env::args().nth(1).unwrap_or_default().parse()?;
    let pinger = ersatz::Pinger::open(target)?; // route, NIC, our own ARP
    for _ in 0..4 {
        match pinger.ping(b"abcdefghijklmnopqrstuvwabcdefghi", Duration::from_secs(1)) {
            Ok(reply) => println!("{reply}"), // Reply from 10.77.2.2: bytes=32 time=0.043ms TTL=63
            Err(e) if e.is_timeout() => println!("Request timed out."),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
