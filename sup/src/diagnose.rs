//! `sup --diagnose [TARGET]`: whether sup can ping from here and on which
//! path, measured (ersatz::diagnose does the work); and the same facts that
//! `-v` prints at the top of every run.

use std::process::ExitCode;

use ersatz::diagnose::{self, Diagnosis, NextHop, Verdict};
use ersatz::{capture, ipv4, netinfo};
use serde_json::{json, Value};

use crate::out::{err, out};
use crate::report::{ms, ms_value};

/// Diagnoses the route to `target` (the default route without one) and
/// prints what was found: 0 ready, 1 degraded, 2 cannot run.
pub fn run(target: Option<ipv4::Addr>, json: bool) -> ExitCode {
    let d = diagnose::run(target);
    if json {
        out!("{}", json_of(&d));
    } else {
        for line in lines(&d) {
            out!("{line}");
        }
    }
    ExitCode::from(match d.verdict() {
        Verdict::Ready => 0,
        Verdict::Degraded => 1,
        Verdict::CannotRun => 2,
    })
}

/// The diagnosis as text, one fact a line, the verdict last.
fn lines(d: &Diagnosis) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(route) = &d.route {
        lines.push(nic_line(&route.nic));
        lines.push(route_line(route));
    }
    match (&d.capture, &d.library) {
        (Some(facts), _) => lines.extend(capture_lines(facts)),
        (None, Some(l)) => lines.push(library_line(&l.path, &l.version)),
        (None, None) => {}
    }
    // The library loaded, but the capture ran without it (Linux).
    if let (Some(l), Some(facts)) = (&d.library, &d.capture) {
        if l.path != facts.library {
            lines.push(format!(
                "capture library: {} ({}), for {}",
                l.path,
                l.version,
                diagnose::NEEDS_LIBPCAP
            ));
        }
    }
    if let Some(hop) = &d.next_hop {
        lines.push(next_hop_line(hop));
    }
    if let Some(seen) = d.own_frames_seen {
        lines.push(own_frames_line(seen));
    }
    for degraded in d.degradations() {
        lines.push(format!("degraded: {degraded}"));
    }
    if let Some(f) = &d.failure {
        lines.push(format!("failed at {}: {}", f.stage, f.message));
    }
    let to = match d.target {
        Some(t) => t.to_string(),
        None => "the default route's gateway".to_string(),
    };
    lines.push(match d.verdict() {
        Verdict::Ready => format!("verdict: sup can ping {to} from here"),
        Verdict::Degraded => {
            format!("verdict: sup runs here, degraded as said above (the route to {to})")
        }
        Verdict::CannotRun => "verdict: sup cannot run here".to_string(),
    });
    lines
}

/// `NIC: lab0 (10.77.1.2/24, MAC) [name], Ethernet, MTU 1500, device D, index N` (Windows: the
/// name is the adapter's GUID).
pub fn nic_line(nic: &netinfo::NIC) -> String {
    format!(
        "NIC: {nic} [{}], {}, MTU {}, device {}, index {}",
        nic.name, nic.kind, nic.mtu, nic.device, nic.index
    )
}

/// `route: T is on-link` or `route: T via GW`.
pub fn route_line(route: &netinfo::Route) -> String {
    let to = match route.destination {
        ipv4::Addr([0, 0, 0, 0]) => "default".to_string(),
        t => t.to_string(),
    };
    match route.on_link() {
        true => format!("route: {to} is on-link"),
        false => format!("route: {to} via {}", route.next_hop),
    }
}

/// `capture: PATH (VERSION)`.
fn library_line(path: &str, version: &str) -> String {
    format!("capture: {path} ({version})")
}

/// What the capture handle does: the library, immediate mode, timestamps.
pub fn capture_lines(facts: &capture::Facts) -> Vec<String> {
    let wait = match facts.read_timeout {
        Some(t) => format!("up to {} ms", t.as_millis()),
        None => "a while".to_string(),
    };
    let immediate = match (facts.immediate, facts.immediate_available) {
        (true, _) => "on".to_string(),
        (false, true) => "off".to_string(),
        (false, false) => format!("not in this library (answers may wait {wait})"),
    };
    let precision = match facts.nanosecond_timestamps {
        true => "nanosecond",
        false => "microsecond",
    };
    let clock = facts
        .timestamp_type_in_use()
        .unwrap_or("the device's default");
    let timeout = match facts.read_timeout {
        Some(t) => format!("read timeout {} ms", t.as_millis()),
        None => "no read timeout (a stop wakes the reader)".to_string(),
    };
    let mut lines = vec![
        library_line(&facts.library, &facts.version),
        format!("capture: immediate mode {immediate}, {precision} timestamps ({clock}), {timeout}"),
    ];
    if let Some(w) = &facts.warning {
        lines.push(format!("capture: the library warned: {w}"));
    }
    lines
}

fn next_hop_line(hop: &NextHop) -> String {
    match hop.answer {
        Some((mac, rtt)) => format!(
            "next hop {} is at {mac} (our ARP, time={})",
            hop.addr,
            ms(rtt)
        ),
        None => format!(
            "next hop {}: no answer to {} ARP requests",
            hop.addr, hop.requests
        ),
    }
}

/// Whether the capture shows our own frames, and what RTTs are then.
pub fn own_frames_line(seen: bool) -> String {
    match seen {
        true => "own frames: seen by the capture (RTTs run from the wire time of each request)"
            .to_string(),
        false => {
            "own frames: not seen by the capture (RTTs run from the time each request was queued)"
                .to_string()
        }
    }
}

fn json_of(d: &Diagnosis) -> Value {
    let verdict = match d.verdict() {
        Verdict::Ready => "ready",
        Verdict::Degraded => "degraded",
        Verdict::CannotRun => "cannot run",
    };
    json!({
        "type": "diagnosis",
        "target": d.target.map(|t| t.to_string()),
        "library": d.library.as_ref().map(|l| json!({
            "path": l.path, "version": l.version,
            "immediate_available": l.immediate_available,
        })),
        "library_missing": d.library_missing,
        "capture": d.capture.as_ref().map(|c| json!({
            "immediate": c.immediate,
            "nanosecond_timestamps": c.nanosecond_timestamps,
            "read_timeout_ms": c.read_timeout.map(|t| t.as_millis() as u64),
            "timestamp_type": c.timestamp_type_in_use(),
            "offered_timestamp_types": c.offered_timestamp_types,
            "breakloop_wakes_reader": c.breakloop_wakes_reader,
            "library": c.library, "version": c.version,
            "warning": c.warning,
        })),
        "nic": d.route.as_ref().map(|r| json!({
            "name": r.nic.name, "description": r.nic.description,
            "device": r.nic.device, "index": r.nic.index,
            "addr": r.nic.addr.to_string(), "prefix_len": r.nic.prefix_len,
            "mac": r.nic.mac.to_string(), "mtu": r.nic.mtu,
            "kind": r.nic.kind.to_string(),
            "gateway": r.nic.gateway.map(|g| g.to_string()),
        })),
        "route": d.route.as_ref().map(|r| json!({
            "destination": r.destination.to_string(),
            "next_hop": r.next_hop.to_string(),
            "on_link": r.on_link(),
        })),
        "next_hop": d.next_hop.as_ref().map(|h| json!({
            "addr": h.addr.to_string(),
            "mac": h.answer.map(|(mac, _)| mac.to_string()),
            "time_ms": h.answer.map(|(_, rtt)| ms_value(rtt)),
            "requests": h.requests,
        })),
        "own_frames_seen": d.own_frames_seen,
        "degraded": d.degradations().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "failure": d.failure.as_ref().map(|f| json!({
            "stage": f.stage.to_string(), "message": f.message,
        })),
        "verdict": verdict,
    })
}

/// `-v`: the capture facts after the NIC is opened (stderr).
pub fn say_capture(facts: &capture::Facts) {
    for line in capture_lines(facts) {
        err!("{line}");
    }
}
