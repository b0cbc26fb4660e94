//! Embedding ersatz: open the NIC that routes to a target, send ICMP echo
//! requests built byte by byte, and time the replies by their capture
//! timestamps.
//!
//! ```text
//! cargo run -p ersatz --example ping -- 10.77.2.2 [count]
//! ```
//! Needs the right to capture (root / CAP_NET_RAW, or an admin shell with
//! Npcap on Windows).

use std::process::ExitCode;
use std::time::Duration;

use ersatz::{icmp, ipv4, Interface};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(target) = args.next() else {
        eprintln!("usage: ping TARGET [COUNT]");
        return ExitCode::from(2);
    };
    let target: ipv4::Addr = match target.parse() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let count: u16 = match args.next().map(|c| c.parse()) {
        None => 4,
        Some(Ok(c)) => c,
        Some(Err(_)) => {
            eprintln!("COUNT must be a number from 0 to 65535");
            return ExitCode::from(2);
        }
    };
    let interface = match Interface::open_for(target) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let identifier = rand::random();
    let mut received = 0;
    for sequence_number in 1..=count {
        let echo = icmp::Echo {
            identifier,
            sequence_number,
        };
        // Expect before sending, so that no reply can slip past.
        let reply = interface.expect_ipv4(move |r| match &r.packet.payload {
            ipv4::Payload::ICMP(icmp::Packet {
                header: icmp::Header::EchoReply(e),
                checksum_ok: true,
                ..
            }) if *e == echo && r.packet.src == target => Some((r.timestamp, r.packet.ttl)),
            _ => None,
        });
        let payload = echo.into_echo_request(&b"abcdefghijklmnopqrstuvwabcdefghi"[..]);
        let sent = match interface.send_ipv4(payload.into_ipv4_payload(), target) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        };
        match reply.recv_timeout(Duration::from_secs(4)) {
            Ok((at, ttl)) => {
                let rtt = at.since(sent.timestamp(Duration::from_millis(100)));
                println!(
                    "Reply from {target}: bytes=32 time={:.3}ms TTL={ttl}",
                    rtt.as_secs_f64() * 1e3
                );
                received += 1;
            }
            Err(_) => println!("Request timed out."),
        }
        if sequence_number < count {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    if received > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
