//! Embedding ersatz: ping a target four times with [`ersatz::Pinger`], which
//! takes only a reply whose checksums, source, identifier, sequence number
//! and payload are right. README.md's "Embedding ersatz" quotes this file
//! from `use` on (ersatz/tests/readme.rs checks that they are the same).
//!
//! ```text
//! cargo run -p ersatz --example ping -- 10.77.2.2 [count]
//! ```
//! Needs the right to capture (root / CAP_NET_RAW, or an admin shell with
//! Npcap on Windows). Exit code 0 if a reply came, 1 if none did.

use std::{process::ExitCode, time::Duration};

fn main() -> Result<ExitCode, ersatz::Error> {
    let mut args = std::env::args().skip(1);
    let target = args.next().unwrap_or_default().parse()?;
    let count = args.next().and_then(|n| n.parse().ok()).unwrap_or(4);
    let pinger = ersatz::Pinger::open(target)?; // route, NIC, our own ARP
    let mut received = 0;
    for _ in 0..count {
        match pinger.ping(b"abcdefghijklmnopqrstuvwabcdefghi", Duration::from_secs(1)) {
            Ok(r) => {
                received += 1;
                let ms = r.rtt.as_secs_f64() * 1e3;
                println!(
                    "Reply from {}: bytes={} time={ms:.3}ms TTL={}",
                    r.from, r.bytes, r.ttl
                );
            }
            Err(e) if e.is_timeout() => println!("Request timed out."),
            Err(e) => return Err(e),
        }
    }
    Ok(ExitCode::from(u8::from(received == 0)))
}
