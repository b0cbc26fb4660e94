//! `sup`: the ping a network engineer would rather use. A thin command line
//! over `ersatz`: arguments in, the mode's lines out; the work is done by
//! `ersatz`'s probe engine on an `ersatz::Interface`.
//!
//! One file per mode, each with its own text and JSON output: `ping.rs`
//! (echo, and `--flood`), `arp.rs` (`--arp`), `sweep.rs` (many targets),
//! `trace.rs` (`--trace`, with `names.rs` for its reverse lookups),
//! `respond.rs` (`--respond`), `diagnose.rs` (`--diagnose`, and the facts
//! `-v` prints). What they share: `out.rs`
//! (writing without panics), `target.rs` (names and addresses), `setup.rs`
//! (route, NIC, Ctrl+C), `report.rs` (times, the statistics block).

mod args;
mod arp;
mod diagnose;
mod names;
mod out;
mod ping;
mod port;
mod report;
mod respond;
mod setup;
mod sweep;
mod target;
mod trace;

use std::process::ExitCode;

use clap::Parser;

use args::Args;
use out::{err, out, Failure};

fn main() -> ExitCode {
    let args = Args::parse();
    let json = args.json;
    match run(&args) {
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

/// Picks the mode and runs it.
fn run(args: &Args) -> Result<ExitCode, Failure> {
    if args.diagnose {
        let target = match args.targets.as_slice() {
            [] => None,
            [one] => Some(target::resolve(one)?.0),
            _ => return Err(Failure("--diagnose takes one TARGET at most".into())),
        };
        return Ok(diagnose::run(target, args.json));
    }
    if args.sweep_options() || target::is_sweep(&args.targets)? {
        return sweep::run(args);
    }
    let text = args.targets.first().map_or("", String::as_str);
    let (target, name) = target::resolve(text)?;
    target::one_host(target)?;
    if args.respond {
        respond::run(args, target)
    } else if args.arp {
        arp::run(args, target, name.as_deref())
    } else if args.trace {
        trace::run(args, target, name.as_deref())
    } else if let Some((protocol, port)) = args.port() {
        port::run(args, target, name.as_deref(), protocol, port)
    } else {
        ping::run(args, target, name.as_deref())
    }
}
