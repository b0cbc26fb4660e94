//! The echo mode, `sup TARGET`: ping.exe's lines with sub-millisecond
//! times, `--flood`'s dots, or one JSON object per line.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use ersatz::interface::Opening;
use ersatz::ipv4;
use ersatz::ping::{Event, Flood, Options, Reply, Session};
use serde_json::{json, Value};

use crate::args::Args;
use crate::out::{emit, err, err_raw, out, out_raw, stdout_closed, Failure};
use crate::report::{
    hex_dump, histogram_text, ms, ms_value, statistics, summary_json, unreachable_text,
};
use crate::setup::{self, Verbose};

/// Pings `target` (called `name`, if it was a name) as `args` say.
pub fn run(args: &Args, target: ipv4::Addr, name: Option<&str>) -> Result<ExitCode, Failure> {
    let verbose = args.verbose;
    let route = setup::route(target, verbose)?;
    // A flood captures through a ring: slower to open and close, cheaper
    // per frame.
    let mut how = Opening::default();
    how.capture.bulk = args.flood;
    let setup = setup::open_with(route, Verbose::with_arp(verbose), args.pcap.as_ref(), &how)?;
    let interface = &setup.interface;
    let options = Options::default()
        .size(usize::from(args.size()))
        .ttl(args.ttl())
        .dont_fragment(args.dont_fragment)
        .timeout(Duration::from_millis(u64::from(args.timeout_ms(4000))))
        .interval(Duration::from_millis(u64::from(args.interval_ms())))
        .keep_frames(verbose);
    if args.json {
        out!(
            "{}",
            json!({"type": "start", "target": target.to_string(), "name": name,
                "bytes": args.size(), "ttl": args.ttl(), "identifier": options.identifier,
                "nic": interface.nic().description, "source": interface.nic().addr.to_string()})
        );
    } else {
        match name {
            Some(name) => out!(
                "\nPinging {name} [{target}] with {} bytes of data:",
                args.size()
            ),
            None => out!("\nPinging {target} with {} bytes of data:", args.size()),
        }
    }
    let mut session = Session::new(interface, target, options);
    let mut progress = Progress::default();
    let mut print = |event: &Event| {
        let open = if args.flood {
            if let Some(text) = flood(event).filter(|_| !args.json) {
                progress.push(text);
            }
            !stdout_closed()
        } else {
            emit(args.json, || json(event), || text(event))
        };
        if !open {
            // As after Ctrl+C: nobody reads the rest.
            setup.halt();
        }
        if verbose {
            verbose_event(event);
        }
    };
    // How long the flood took, first request to last outcome (--flood).
    let mut flood_time = None;
    let count = (!args.forever).then_some(args.count());
    if args.flood {
        let flood = Flood::default().count(count);
        let started = Instant::now();
        session.flood(&flood, &setup.halt, &mut print);
        flood_time = Some(started.elapsed());
        if !args.json {
            progress.finish();
        }
    } else {
        session.run(count, &setup.halt, &mut print);
    }
    let stats = session.statistics();
    if args.json {
        let mut summary = summary_json(target, stats, setup.interrupted());
        if let (Some(took), Some(fields)) = (flood_time, summary.as_object_mut()) {
            fields.insert("elapsed_ms".into(), ms_value(took).into());
        }
        out!("{summary}");
    } else {
        out_raw!("{}", statistics(target, stats, ""));
        if args.histogram {
            out_raw!("{}", histogram_text(stats));
        }
        if let Some(took) = flood_time {
            out!("{}", flood_rate(stats.sent, took));
        }
        if setup.interrupted() {
            out!("Control-C");
        }
    }
    Ok(if stats.received > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `-v`: the frames sent and received, and late replies, on stderr.
fn verbose_event(event: &Event) {
    match event {
        Event::Sent { seq, frame } => {
            err_raw!(
                "sent seq={seq} ({} bytes):\n{}",
                frame.len(),
                hex_dump(frame)
            )
        }
        Event::Captured { frame } => {
            err_raw!("received ({} bytes):\n{}", frame.len(), hex_dump(frame))
        }
        Event::Late(r) => {
            err!("late reply seq={} from {} after the timeout", r.seq, r.from)
        }
        _ => {}
    }
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

fn reply_line(r: &Reply, suffix: &str) -> String {
    format!(
        "Reply from {}: bytes={} time={} TTL={}{suffix}",
        r.from,
        r.bytes,
        ms(r.rtt),
        r.ttl
    )
}

/// The text line for an event, if it has one (sent and captured frames and
/// late replies only show with -v).
pub fn text(event: &Event) -> Option<String> {
    Some(match event {
        Event::Reply(r) => reply_line(r, ""),
        Event::Duplicate(r) => reply_line(r, " (DUP!)"),
        Event::Damaged { from, damage, .. } => {
            format!(
                "Damaged reply from {from}: {}, not counted.",
                damage.describe()
            )
        }
        Event::Unreachable { from, code, .. } => {
            format!("Reply from {from}: {}", unreachable_text(*code))
        }
        Event::TtlExpired { from, .. } => format!("Reply from {from}: TTL expired in transit."),
        Event::HostUnreachable { from, .. } => {
            format!("Reply from {from}: Destination host unreachable.")
        }
        Event::NeedsFragmentation { .. } => "Packet needs to be fragmented but DF set.".into(),
        Event::Timeout { .. } => "Request timed out.".into(),
        Event::SendFailed { error, .. } => format!("General failure: {error}."),
        Event::Sent { .. } | Event::Captured { .. } | Event::Late(_) => return None,
        _ => return None,
    })
}

/// What `--flood` prints for an event, as `ping -f` does: a '.' for each
/// request, a backspace for each reply (erasing its dot), `E` for an ICMP
/// error or a request that could not be sent, `C` for a damaged reply.
pub fn flood(event: &Event) -> Option<&'static str> {
    Some(match event {
        Event::Sent { .. } => ".",
        Event::Reply(_) => "\x08 \x08",
        Event::Damaged { .. } => "\x08C",
        Event::Unreachable { .. } | Event::TtlExpired { .. } => "\x08E",
        Event::HostUnreachable { .. }
        | Event::NeedsFragmentation { .. }
        | Event::SendFailed { .. } => "E",
        Event::Duplicate(_) | Event::Late(_) | Event::Timeout { .. } | Event::Captured { .. } => {
            return None
        }
        _ => return None,
    })
}

fn reply_json(kind: &str, r: &Reply) -> Value {
    json!({"type": kind, "seq": r.seq, "from": r.from.to_string(), "bytes": r.bytes,
           "time_ms": ms_value(r.rtt), "ttl": r.ttl})
}

/// The JSON object for an event, if it has one.
pub fn json(event: &Event) -> Option<Value> {
    Some(match event {
        Event::Reply(r) => reply_json("reply", r),
        Event::Duplicate(r) => reply_json("duplicate", r),
        Event::Late(r) => reply_json("late", r),
        Event::Damaged { seq, from, damage } => {
            json!({"type": "damaged", "seq": seq, "from": from.to_string(), "reason": damage.describe()})
        }
        Event::Unreachable { seq, from, code } => json!({"type": "unreachable", "seq": seq,
            "from": from.to_string(), "code": u8::from(*code), "message": unreachable_text(*code)}),
        Event::TtlExpired { seq, from } => {
            json!({"type": "ttl_expired", "seq": seq, "from": from.to_string(),
            "message": "TTL expired in transit."})
        }
        Event::HostUnreachable { seq, from } => json!({"type": "unreachable", "seq": seq,
            "from": from.to_string(), "code": 1, "message": "Destination host unreachable."}),
        Event::NeedsFragmentation { seq } => json!({"type": "error", "seq": seq,
            "message": "Packet needs to be fragmented but DF set."}),
        Event::Timeout { seq } => json!({"type": "timeout", "seq": seq}),
        Event::SendFailed { seq, error } => json!({"type": "error", "seq": seq, "message": error}),
        Event::Sent { .. } | Event::Captured { .. } => return None,
        _ => return None,
    })
}

/// The line `--flood` adds after the statistics: how many requests went
/// out in how long (first request to last outcome), as `ping -f` reports.
pub fn flood_rate(sent: u32, took: Duration) -> String {
    let rate = match took.as_secs_f64() {
        s if s > 0.0 => f64::from(sent) / s,
        _ => 0.0,
    };
    format!(
        "Flood: {sent} requests in {}, {rate:.0} requests/s",
        ms(took)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flood_marks_and_rate() {
        assert_eq!(
            flood(&Event::Sent {
                seq: 1,
                frame: Vec::new()
            }),
            Some(".")
        );
        assert_eq!(flood(&Event::Timeout { seq: 1 }), None);
        assert_eq!(
            flood_rate(20_000, Duration::from_millis(250)),
            "Flood: 20000 requests in 250.0ms, 80000 requests/s"
        );
        assert_eq!(
            flood_rate(0, Duration::ZERO),
            "Flood: 0 requests in 0.000ms, 0 requests/s"
        );
    }
}
