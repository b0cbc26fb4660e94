//! What every mode prints alike: times, ping.exe's statistics block, the
//! JSON summary, hex dumps.

use std::fmt::Write as _;
use std::time::Duration;

use ersatz::icmp::UnreachableCode;
use ersatz::ipv4;
use ersatz::probe::Statistics;
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

/// The statistics block, as ping.exe prints it (the round-trip part only
/// when a reply came back); `extra` lines (indented, each ending in a
/// newline) go after the packet counts.
pub fn statistics(target: ipv4::Addr, s: &Statistics, extra: &str) -> String {
    let mut out = format!(
        "\nPing statistics for {target}:\n    Packets: Sent = {}, Received = {}, Lost = {} ({}% loss),\n{extra}",
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
            statistics(ipv4::Addr([10, 0, 2, 2]), &s, ""),
            "\nPing statistics for 10.0.2.2:\n    Packets: Sent = 4, Received = 0, Lost = 4 (100% loss),\n"
        );
        assert_eq!(
            statistics(ipv4::Addr([10, 0, 2, 2]), &s, "    More.\n"),
            "\nPing statistics for 10.0.2.2:\n    Packets: Sent = 4, Received = 0, Lost = 4 (100% loss),\n    More.\n"
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
    fn hex_dump_lines() {
        assert_eq!(
            hex_dump(&[0xff; 17]),
            format!("  0000 {}\n  0010  ff\n", " ff".repeat(16))
        );
    }
}
