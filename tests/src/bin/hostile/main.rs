//! `hostile`: a hostile host for the namespace lab (`tests/tests/hostile.rs`).
//!
//! Runs in the lab's gateway namespace on the bridge port facing the host
//! (`host0`) and injects frames towards the host through an AF_PACKET socket,
//! while sup pings a real target from there:
//!
//! ```text
//! hostile MODE --ifname host0 --host-mac M --host-ip A --gw-mac M --gw-ip A
//!              [--seconds S] [--rate N] [--variants V,V,...] [--before] [--after]
//! ```
//!
//! - `echo`: sniffs the host's echo requests and answers each at once with
//!   the forged `--variants` (see [`modes::Variant`]), racing the real reply;
//! - `arp`: claims the gateway's address for another MAC, in every form of
//!   unsolicited ARP, `--before` the host resolved the gateway (stopping
//!   while a request of the host's is unanswered, when a claim would be an
//!   answer) and/or `--after` (a burst right behind the gateway's real reply,
//!   then steadily);
//! - `malformed`: every kind of broken frame, `--rate` frames a second;
//! - `flood`: unrelated UDP and ARP noise, `--rate` frames a second (0: as
//!   fast as it goes);
//! - `ping-flood`: echo requests to `--host-ip` (a virtual host's address,
//!   at `--host-mac`) from the gateway's, `--rate` a second;
//! - `respond`: not hostile, the target itself, answering late: run in the
//!   remote's namespace (on `lab0`, `--gw-mac` the gateway's MAC there), it
//!   answers the host's echo requests after `--delay-ms`, so that forged
//!   replies come first.
//!
//! It prints `READY` once its sockets are open, stops when its stdin closes
//! or after `--seconds` (20 by default), whichever comes first, and prints
//! `STATS key=value ...` last.
//!
//! Every frame it sends is addressed to the host's MAC (`respond`: the
//! gateway's) or to the broadcast address, leaves through the interface
//! named (a veth whose peer is in the lab), and it refuses to run outside a namespace named like a lab's.

#[cfg(target_os = "linux")]
mod frames;
#[cfg(target_os = "linux")]
mod modes;
#[cfg(target_os = "linux")]
mod raw;

#[cfg(target_os = "linux")]
fn main() -> std::process::ExitCode {
    match modes::Config::from_args(std::env::args().skip(1)).and_then(modes::run) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("hostile: {message}");
            std::process::ExitCode::from(2)
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn main() -> std::process::ExitCode {
    eprintln!("hostile: Linux only (AF_PACKET sockets in a network namespace)");
    std::process::ExitCode::from(2)
}
