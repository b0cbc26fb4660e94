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
    let p = |q| s.percentile(q).map(ms_value);
    json!({"type": "summary", "target": target.to_string(), "sent": s.sent, "received": s.received,
           "lost": s.lost(), "loss_percent": s.loss_percent(),
           "min_ms": s.min.map(ms_value), "max_ms": s.max.map(ms_value), "avg_ms": s.average().map(ms_value),
           "p50_ms": p(50.0), "p90_ms": p(90.0), "p99_ms": p(99.0), "jitter_ms": s.jitter().map(ms_value),
           "interrupted": interrupted})
}

/// Rows of `--histogram`: at most this many.
const HISTOGRAM_ROWS: usize = 12;
/// Columns of a full bar (each row fits 80 columns).
const BAR: usize = 40;

/// What `--histogram` adds after the statistics block: percentiles, the
/// jitter (RFC 3550), and the round-trip times in up to 12 rows of equal
/// logarithmic width between the fastest and the slowest, with bars.
pub fn histogram_text(s: &Statistics) -> String {
    let (Some(min), Some(max)) = (s.min, s.max) else {
        return String::new();
    };
    let p = |q| s.percentile(q).map(ms).unwrap_or_default();
    let mut out = format!(
        "Percentiles: p50 = {}, p90 = {}, p99 = {}\n",
        p(50.0),
        p(90.0),
        p(99.0)
    );
    if let Some(j) = s.jitter() {
        let _ = writeln!(out, "Jitter (RFC 3550): {}", ms(j));
    }
    // Row edges: min x (max/min)^(k/rows), the last row closed at max.
    let (lo, hi) = (min.as_secs_f64().max(1e-9), max.as_secs_f64().max(1e-9));
    let rows = if hi / lo < 1.01 { 1 } else { HISTOGRAM_ROWS };
    let edge = |k: usize| lo * (hi / lo).powf(k as f64 / rows as f64);
    let mut counts = vec![0u64; rows];
    for (from, to, n) in s.histogram().buckets() {
        // A bucket goes to the row of its geometric middle.
        let middle = (from.as_secs_f64() * to.as_secs_f64()).sqrt();
        let row = (0..rows).rev().find(|&k| middle >= edge(k)).unwrap_or(0);
        counts[row] += u64::from(n);
    }
    let most = counts.iter().copied().max().unwrap_or(0).max(1);
    let _ = writeln!(out, "Round trip times in milli-seconds:");
    for (k, n) in counts.iter().enumerate() {
        let bar = if *n == 0 {
            0
        } else {
            ((*n as f64 / most as f64) * BAR as f64).round().max(1.0) as usize
        };
        let row_ms = |x: f64| format!("{:.3}", x * 1e3);
        let _ = writeln!(
            out,
            "  {:>9} - {:<9} {:<BAR$} {n:>8}",
            row_ms(edge(k)),
            row_ms(edge(k + 1)),
            "#".repeat(bar)
        );
    }
    out
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
    fn histogram_rows_fit_80_columns_and_count_every_reply() {
        let mut s = Statistics::default();
        assert_eq!(histogram_text(&s), "");
        for us in (20..=200).chain([1_000, 5_000]) {
            s.sent += 1;
            s.add(Duration::from_micros(us));
        }
        let text = histogram_text(&s);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("Percentiles: p50 = 0.1"), "{text}");
        assert!(lines[1].starts_with("Jitter (RFC 3550): "), "{text}");
        assert_eq!(lines[2], "Round trip times in milli-seconds:");
        let rows = &lines[3..];
        assert_eq!(rows.len(), 12, "{text}");
        assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
        let counted: u64 = rows
            .iter()
            .map(|r| r.split_whitespace().last().unwrap().parse::<u64>().unwrap())
            .sum();
        assert_eq!(counted, 183);
        assert!(rows[0].trim_start().starts_with("0.020 - "), "{text}");
        assert!(rows[11].contains(" - 5.000 "), "{text}");
        // The tallest bar is full width.
        assert!(rows.iter().any(|r| r.contains(&"#".repeat(BAR))), "{text}");
    }

    #[test]
    fn hex_dump_lines() {
        assert_eq!(
            hex_dump(&[0xff; 17]),
            format!("  0000 {}\n  0010  ff\n", " ff".repeat(16))
        );
    }
}
