//! What sup prints: ping.exe's wording with sub-millisecond times, or one
//! JSON object per line.

use std::fmt::Write as _;
use std::time::Duration;

use ersatz::icmp::UnreachableCode;
use ersatz::ipv4;
use ersatz::ping::{Event, Reply, Statistics};
use serde_json::{json, Value};

/// Milliseconds as sup prints them: three decimals under 1 ms, one above.
pub fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 1.0 {
        format!("{ms:.3}ms")
    } else {
        format!("{ms:.1}ms")
    }
}

/// Milliseconds for JSON: a number, rounded to the microsecond.
pub fn ms_value(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// ping.exe's sentence for an ICMP Destination Unreachable code.
pub fn unreachable_text(code: UnreachableCode) -> String {
    match code {
        UnreachableCode::Net => "Destination net unreachable.".into(),
        UnreachableCode::Host => "Destination host unreachable.".into(),
        UnreachableCode::Protocol => "Destination protocol unreachable.".into(),
        UnreachableCode::Port => "Destination port unreachable.".into(),
        UnreachableCode::FragmentationNeeded => "Packet needs to be fragmented but DF set.".into(),
        UnreachableCode::SourceRouteFailed => "Source route failed.".into(),
        UnreachableCode::NetUnknown => "Destination net unknown.".into(),
        UnreachableCode::HostUnknown => "Destination host unknown.".into(),
        UnreachableCode::NetProhibited
        | UnreachableCode::HostProhibited
        | UnreachableCode::CommunicationProhibited => {
            "Communication administratively prohibited.".into()
        }
        other => format!("Destination unreachable (code {}).", u8::from(other)),
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
    })
}

/// The statistics block, as ping.exe prints it (the round-trip part only
/// when a reply came back).
pub fn statistics(target: ipv4::Addr, s: &Statistics) -> String {
    let mut out = format!(
        "\nPing statistics for {target}:\n    Packets: Sent = {}, Received = {}, Lost = {} ({}% loss),\n",
        s.sent,
        s.received,
        s.lost(),
        s.loss_percent()
    );
    if let (Some(min), Some(max), Some(avg)) = (s.min, s.max, s.average()) {
        let _ = write!(
            out,
            "Approximate round trip times in milli-seconds:\n    Minimum = {}, Maximum = {}, Average = {}\n",
            ms(min),
            ms(max),
            ms(avg)
        );
    }
    out
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

/// The final JSON object.
pub fn summary_json(target: ipv4::Addr, s: &Statistics, interrupted: bool) -> Value {
    json!({"type": "summary", "target": target.to_string(), "sent": s.sent, "received": s.received,
           "lost": s.lost(), "loss_percent": s.loss_percent(),
           "min_ms": s.min.map(ms_value), "max_ms": s.max.map(ms_value), "avg_ms": s.average().map(ms_value),
           "interrupted": interrupted})
}

/// A hex dump, 16 bytes a line, with offsets.
pub fn hex_dump(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (i, line) in bytes.chunks(16).enumerate() {
        let _ = write!(out, "  {:04x} ", i * 16);
        for b in line {
            let _ = write!(out, " {b:02x}");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_have_sub_millisecond_precision() {
        assert_eq!(ms(Duration::from_micros(43)), "0.043ms");
        assert_eq!(ms(Duration::from_nanos(999_400)), "0.999ms");
        assert_eq!(ms(Duration::from_micros(8_700)), "8.7ms");
        assert_eq!(ms(Duration::from_millis(1234)), "1234.0ms");
    }

    #[test]
    fn statistics_block_like_ping_exe() {
        let mut s = Statistics::default();
        s.sent = 4;
        assert_eq!(
            statistics(ipv4::Addr([10, 0, 2, 2]), &s),
            "\nPing statistics for 10.0.2.2:\n    Packets: Sent = 4, Received = 0, Lost = 4 (100% loss),\n"
        );
    }

    #[test]
    fn unreachable_codes_read_like_windows() {
        assert_eq!(
            unreachable_text(UnreachableCode::Net),
            "Destination net unreachable."
        );
        assert_eq!(
            unreachable_text(UnreachableCode::Other(99)),
            "Destination unreachable (code 99)."
        );
    }

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

    #[test]
    fn hex_dump_lines() {
        assert_eq!(
            hex_dump(&[0xff; 17]),
            format!("  0000 {}\n  0010  ff\n", " ff".repeat(16))
        );
    }
}
