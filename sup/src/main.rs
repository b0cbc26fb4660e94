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
use std::time::{Duration, Instant};

use clap::Parser;
use ersatz::ping::{Event, Flood, Options, Session};
use ersatz::{ipv4, netinfo, Interface};

use args::Args;

/// Set when stdout is gone (`sup -t | head`): sup then stops pinging,
/// as ping does, instead of panicking on the write.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

fn write_out(args: std::fmt::Arguments<'_>, newline: bool) {
    let mut stdout = std::io::stdout().lock();
    let result = stdout
        .write_fmt(args)
        .and_then(|()| {
            if newline {
                stdout.write_all(b"\n")
            } else {
                Ok(())
            }
        })
        .and_then(|()| stdout.flush());
    if result.is_err() {
        STDOUT_CLOSED.store(true, Ordering::SeqCst);
    }
}

fn write_err(args: std::fmt::Arguments<'_>, newline: bool) {
    let mut stderr = std::io::stderr().lock();
    // Nowhere left to report a failure to write stderr.
    let _ = stderr.write_fmt(args).and_then(|()| {
        if newline {
            stderr.write_all(b"\n")
        } else {
            Ok(())
        }
    });
}

/// `println!` that never panics (see [`STDOUT_CLOSED`]).
macro_rules! out {
    ($($t:tt)*) => { write_out(format_args!($($t)*), true) };
}
/// `print!` that never panics.
macro_rules! out_raw {
    ($($t:tt)*) => { write_out(format_args!($($t)*), false) };
}
/// `eprintln!` that never panics.
macro_rules! err {
    ($($t:tt)*) => { write_err(format_args!($($t)*), true) };
}
/// `eprint!` that never panics.
macro_rules! err_raw {
    ($($t:tt)*) => { write_err(format_args!($($t)*), false) };
}

/// `--flood`'s line of dots and backspaces, written in pieces (a write per
/// character would cost more than the ping): when 4 KiB have gathered or
/// 50 ms have passed, and at the end.
struct Progress {
    pending: String,
    flushed: Instant,
    pushes: u32,
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            pending: String::with_capacity(PROGRESS_BUFFER),
            flushed: Instant::now(),
            pushes: 0,
        }
    }
}

const PROGRESS_BUFFER: usize = 4096;
const PROGRESS_EVERY: Duration = Duration::from_millis(50);

impl Progress {
    fn push(&mut self, text: &str) {
        self.pending.push_str(text);
        self.pushes = self.pushes.wrapping_add(1);
        // The clock only every 16 pieces: at 100,000 a second, reading it
        // for each showed in the profile.
        if self.pending.len() >= PROGRESS_BUFFER
            || (self.pushes % 16 == 0 && self.flushed.elapsed() >= PROGRESS_EVERY)
        {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if !self.pending.is_empty() {
            out_raw!("{}", self.pending);
            self.pending.clear();
        }
        self.flushed = Instant::now();
    }

    /// Writes what is left and ends the line.
    fn finish(&mut self) {
        self.pending.push('\n');
        self.flush();
    }
}

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
                out!(
                    "{}",
                    serde_json::json!({"type": "fatal", "message": message})
                );
            }
            err!("{message}");
            ExitCode::from(2)
        }
    }
}

/// The target's address, and the name it was given by (if it was a name).
fn resolve(target: &str) -> Result<(ipv4::Addr, Option<String>), Failure> {
    if let Ok(addr) = target.parse::<ipv4::Addr>() {
        return Ok((addr, None));
    }
    // An IPv6 address (with or without a zone, `fe80::1%eth0`).
    let v6 = target.split_once('%').map_or(target, |(addr, _)| addr);
    if v6.parse::<std::net::Ipv6Addr>().is_ok() {
        return Err(Failure(format!(
            "sup pings IPv4 addresses only: {target} is an IPv6 address."
        )));
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
    let ip = std::net::Ipv4Addr::from(target);
    if ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast() {
        return Err(Failure(format!(
            "sup pings one host: {target} is a {} address",
            if ip.is_multicast() {
                "multicast"
            } else if ip.is_broadcast() {
                "broadcast"
            } else {
                "unspecified"
            }
        )));
    }
    let route = netinfo::route_to(target)?;
    let verbose = args.verbose;
    if verbose {
        err!(
            "NIC: {} [{}], device {}, index {}",
            route.nic,
            route.nic.name,
            route.nic.device,
            route.nic.index
        );
        match route.on_link() {
            true => err!("route: {target} is on-link"),
            false => err!("route: {target} via {}", route.next_hop),
        }
    }
    let next_hop = route.next_hop;
    let interface = Arc::new(Interface::open_route(route)?);
    if verbose {
        // Before Ctrl+C is wired to the interface: this wait is at most 3 s.
        match interface.resolve(next_hop) {
            Ok(mac) => err!("next hop {next_hop} is at {mac} (our ARP)"),
            Err(e) => err!("next hop {next_hop}: {e}"),
        }
    }

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        // Weak: the handler lives until the process ends, and the interface
        // must drop at the end of `run`, where it closes its two handles at
        // once (left to the exit, the kernel closes them one after the other).
        let interface = Arc::downgrade(&interface);
        ctrlc::set_handler(move || {
            stop.store(true, Ordering::SeqCst);
            // Ends a wait for ARP at once rather than after its 3 s.
            if let Some(interface) = interface.upgrade() {
                interface.interrupt();
            }
        })?;
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
        out!(
            "{}",
            serde_json::json!({"type": "start", "target": target.to_string(), "name": name,
                "bytes": args.size, "ttl": args.ttl, "identifier": options.identifier,
                "nic": interface.nic().description, "source": interface.nic().addr.to_string()})
        );
    } else {
        match &name {
            Some(name) => out!(
                "\nPinging {name} [{target}] with {} bytes of data:",
                args.size
            ),
            None => out!("\nPinging {target} with {} bytes of data:", args.size),
        }
    }
    let mut session = Session::new(&interface, target, options, verbose);
    let mut progress = Progress::default();
    // How long the flood took, first request to last outcome (--flood).
    let mut flood_time = None;
    let mut print = |event: &Event| {
        if args.flood {
            if !args.json {
                if let Some(text) = output::flood(event) {
                    progress.push(text);
                    if STDOUT_CLOSED.load(Ordering::Relaxed) {
                        // As after Ctrl+C: the flood ends and nobody reads the rest.
                        stop.store(true, Ordering::SeqCst);
                    }
                }
            }
        } else if args.json {
            if let Some(v) = output::json(event) {
                out!("{v}");
            }
        } else if let Some(line) = output::text(event) {
            out!("{line}");
        }
        if verbose {
            match event {
                Event::Sent { seq, frame } => {
                    err_raw!(
                        "sent seq={seq} ({} bytes):\n{}",
                        frame.len(),
                        output::hex_dump(frame)
                    )
                }
                Event::Captured { frame } => {
                    err_raw!(
                        "received ({} bytes):\n{}",
                        frame.len(),
                        output::hex_dump(frame)
                    )
                }
                Event::Late(r) => {
                    err!("late reply seq={} from {} after the timeout", r.seq, r.from)
                }
                _ => {}
            }
        }
    };
    if args.flood {
        let flood = Flood {
            count: (!args.forever).then_some(args.count),
            ..Flood::default()
        };
        let started = Instant::now();
        session.flood(&flood, &stop, &mut print);
        flood_time = Some(started.elapsed());
        if !args.json {
            progress.finish();
        }
    } else {
        let mut sent = 0u32;
        while args.forever || sent < args.count {
            session.probe(&stop, &mut print);
            sent += 1;
            if stop.load(Ordering::SeqCst) || STDOUT_CLOSED.load(Ordering::SeqCst) {
                break;
            }
        }
    }
    let stats = session.statistics();
    if args.json {
        let mut summary = output::summary_json(target, stats, stop.load(Ordering::SeqCst));
        if let (Some(took), Some(fields)) = (flood_time, summary.as_object_mut()) {
            fields.insert("elapsed_ms".into(), output::ms_value(took).into());
        }
        out!("{summary}");
    } else {
        out_raw!("{}", output::statistics(target, stats));
        if let Some(took) = flood_time {
            out!("{}", output::flood_rate(stats.sent, took));
        }
        if stop.load(Ordering::SeqCst) {
            out!("Control-C");
        }
    }
    Ok(if stats.received > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
