//! The trace mode, `sup --trace TARGET`: tracert's lines (every hop probed
//! at once, sub-millisecond times), or with `--report` mtr's table of loss
//! and times per hop after `-n` cycles (with `-t`, reprinted every cycle
//! until Ctrl+C), or JSON.

use std::process::ExitCode;
use std::time::Duration;

use ersatz::icmp::UnreachableCode;
use ersatz::ipv4;
use ersatz::trace::{self, Hop, Method, Options, Probed, Reached};
use serde_json::{json, Value};

use crate::args::Args;
use crate::names::Names;
use crate::out::{out, out_raw, Failure};
use crate::report::{ms_value, unreachable_text};
use crate::setup::{self, Verbose};

/// How long the names may keep the output waiting, at most, after the trace.
const NAME_WAIT: Duration = Duration::from_secs(1);

/// Traces the route to `target` (called `name`, if it was a name).
pub fn run(args: &Args, target: ipv4::Addr, name: Option<&str>) -> Result<ExitCode, Failure> {
    let route = setup::route(target, args.verbose)?;
    let max_hops = args.max_hops.unwrap_or(30);
    let report = args.report;
    let options = Options {
        max_hops,
        probes: if report { 1 } else { 3 },
        timeout: Duration::from_millis(u64::from(args.timeout_ms(4000))),
        size: usize::from(args.size()),
        cycles: match (report, args.forever) {
            (false, _) => Some(1),
            (true, true) => None,
            (true, false) => Some(args.count.unwrap_or(10)),
        },
        cycle_interval: Duration::from_millis(u64::from(args.interval_ms())),
        method: args.tcp.map_or(Method::Echo, Method::Tcp),
        ..Options::default()
    };
    let opening = trace::opening(&options);
    let setup = setup::open_with(
        route,
        Verbose::with_arp(args.verbose),
        args.pcap.as_ref(),
        &opening,
    )?;
    // tcptraceroute's words: `on TCP port 443`.
    let on = args
        .tcp
        .map(|port| format!(" on TCP port {port}"))
        .unwrap_or_default();
    if !args.json && !report {
        match name {
            Some(name) => {
                out!("\nTracing route to {name} [{target}]{on}\nover a maximum of {max_hops} hops:\n")
            }
            None => out!("\nTracing route to {target}{on} over a maximum of {max_hops} hops\n"),
        }
    }
    let mut names = Names::new(!args.no_names);
    let (forever, json) = (options.cycles.is_none(), args.json);
    let traced = trace::run(
        &setup.interface,
        target,
        &options,
        &setup.halt,
        |from| names.ask(from),
        |cycle, hops| {
            // `--report -t`: the table every cycle (names as found so far).
            if forever {
                if json {
                    report_json(hops, cycle + 1, None);
                } else {
                    out_raw!("{}", report_table(hops, &Names::new(false)));
                }
            }
        },
    );
    names.wait(NAME_WAIT);
    if report {
        if json {
            report_json(&traced.hops, traced.cycles, Some(&names));
        } else {
            out_raw!("{}", report_table(&traced.hops, &names));
        }
    } else if json {
        for hop in &traced.hops {
            out!("{}", hop_json(hop, &names));
        }
    } else {
        for hop in &traced.hops {
            out!("{}", hop_line(hop, &names));
        }
        match (args.tcp, traced.port) {
            (Some(port), Some(state)) => out!("\nTrace complete: port {port} {}.", state.name()),
            _ => out!("\nTrace complete."),
        }
    }
    if json {
        let mut summary = json!({"type": "summary", "target": target.to_string(),
            "reached": traced.reached, "hops": traced.hops.len(), "cycles": traced.cycles,
            "interrupted": setup.interrupted()});
        if let Some(port) = args.tcp {
            summary["protocol"] = "tcp".into();
            summary["port"] = port.into();
            summary["state"] = traced.port.map(|s| s.name()).into();
        }
        out!("{summary}");
    } else if setup.interrupted() {
        out!("Control-C");
    }
    Ok(if traced.reached {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Milliseconds as a trace prints them: three decimals under 1 ms, one above.
fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 1.0 {
        format!("{ms:.3}")
    } else {
        format!("{ms:.1}")
    }
}

/// One of tracert's probe columns.
fn cell(probe: &Option<Probed>) -> String {
    match probe {
        Some(Probed::Answered { rtt, .. }) => format!("{:>8} ms", ms(*rtt)),
        _ => "    *      ".to_string(),
    }
}

/// tracert's line for a hop.
pub fn hop_line(hop: &Hop, names: &Names) -> String {
    if let Some((from, code)) = hop.unreachable() {
        return format!(
            "{:>3}  {}  reports: {}",
            hop.ttl,
            names.show(from),
            unreachable_text(code)
        );
    }
    let cells: String = hop.probes.iter().map(cell).collect();
    let failed = hop.probes.iter().flatten().find_map(|p| match p {
        Probed::NotSent(why) => Some(why),
        _ => None,
    });
    let who = if !hop.hosts.is_empty() {
        let shown: Vec<String> = hop.hosts.iter().map(|a| names.show(*a)).collect();
        shown.join(", ")
    } else if let Some(why) = failed {
        format!("General failure: {why}.")
    } else {
        "Request timed out.".to_string()
    };
    format!("{:>3} {cells}  {who}", hop.ttl)
}

/// The JSON object for a hop of a trace.
fn hop_json(hop: &Hop, names: &Names) -> Value {
    let probes: Vec<Value> = hop
        .probes
        .iter()
        .map(|p| match p {
            Some(Probed::Answered { from, rtt, .. }) => {
                json!({"from": from.to_string(), "time_ms": ms_value(*rtt)})
            }
            _ => json!({"from": null, "time_ms": null}),
        })
        .collect();
    let name = hop.hosts.first().and_then(|a| names.get(*a));
    let mut v = json!({"type": "hop", "ttl": hop.ttl, "probes": probes, "name": name});
    if let (Some((_, code)), Some(fields)) = (hop.unreachable(), v.as_object_mut()) {
        fields.insert("reports".into(), unreachable_text(code).into());
    }
    v
}

/// traceroute's flag for an unreachable answer (`!N` and its kin).
fn flag(code: UnreachableCode) -> String {
    match code {
        UnreachableCode::Net => "!N".into(),
        UnreachableCode::Host => "!H".into(),
        UnreachableCode::Protocol => "!P".into(),
        UnreachableCode::Port => String::new(),
        UnreachableCode::FragmentationNeeded => "!F".into(),
        UnreachableCode::SourceRouteFailed => "!S".into(),
        UnreachableCode::NetProhibited
        | UnreachableCode::HostProhibited
        | UnreachableCode::CommunicationProhibited => "!X".into(),
        other => format!("!<{}>", u8::from(other)),
    }
}

fn report_flag(hop: &Hop) -> String {
    match hop.last {
        Some(Reached::Unreachable(code)) => flag(code),
        _ => String::new(),
    }
}

/// A time column of the report: three decimals under 1 ms, one above.
fn column(d: Option<Duration>) -> String {
    d.map(ms).unwrap_or_default()
}

/// mtr's report: a line per hop, more hosts of a hop on lines of their own.
pub fn report_table(hops: &[Hop], names: &Names) -> String {
    let mut out = format!(
        "HOST: {:<30}  Loss%   Snt    Last     Avg    Best    Wrst   StDev\n",
        hostname()
    );
    for hop in hops {
        let s = &hop.stats;
        let lost = if s.sent == 0 {
            0.0
        } else {
            f64::from(s.sent - s.received.min(s.sent)) * 100.0 / f64::from(s.sent)
        };
        let host = match hop.hosts.first() {
            Some(a) => format!("{} {}", names.show(*a), report_flag(hop))
                .trim_end()
                .to_string(),
            None => "???".to_string(),
        };
        out.push_str(&format!(
            "{:>3}.|-- {:<28} {:>5.1}% {:>5} {:>7} {:>7} {:>7} {:>7} {:>7}\n",
            hop.ttl,
            host,
            lost,
            s.sent,
            column(s.last),
            column(s.average()),
            column(s.min),
            column(s.max),
            column(s.stdev()),
        ));
        for more in hop.hosts.iter().skip(1) {
            out.push_str(&format!("        {}\n", names.show(*more)));
        }
    }
    out
}

/// The report as JSON: a `hop` object per line of the table.
fn report_json(hops: &[Hop], cycles: u32, names: Option<&Names>) {
    for hop in hops {
        let s = &hop.stats;
        let loss = if s.sent == 0 {
            0.0
        } else {
            f64::from(s.sent - s.received.min(s.sent)) * 100.0 / f64::from(s.sent)
        };
        let host = hop.hosts.first();
        let name = host.and_then(|a| names.and_then(|n| n.get(*a)));
        out!(
            "{}",
            json!({"type": "hop", "ttl": hop.ttl, "host": host.map(ToString::to_string),
                "hosts": hop.hosts.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "name": name, "cycles": cycles, "sent": s.sent, "received": s.received,
                "loss_percent": (loss * 10.0).round() / 10.0,
                "last_ms": s.last.map(ms_value), "avg_ms": s.average().map(ms_value),
                "best_ms": s.min.map(ms_value), "worst_ms": s.max.map(ms_value),
                "stdev_ms": s.stdev().map(ms_value), "flags": report_flag(hop)})
        );
    }
}

/// This machine's name, for the report's first line (as mtr prints it).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(from: [u8; 4], us: u64) -> Option<Probed> {
        Some(Probed::Answered {
            from: ipv4::Addr(from),
            reached: Reached::Router,
            rtt: Duration::from_micros(us),
        })
    }

    fn hop(ttl: u8, probes: Vec<Option<Probed>>, hosts: &[[u8; 4]]) -> Hop {
        Hop {
            ttl,
            probes,
            stats: Default::default(),
            hosts: hosts.iter().map(|a| ipv4::Addr(*a)).collect(),
            last: None,
        }
    }

    #[test]
    fn lines_are_laid_out_as_tracert_lays_them_out() {
        let names = Names::new(false);
        let h = hop(
            1,
            vec![
                answered([10, 0, 1, 1], 51),
                answered([10, 0, 1, 1], 43),
                answered([10, 0, 1, 1], 40),
            ],
            &[[10, 0, 1, 1]],
        );
        assert_eq!(
            hop_line(&h, &names),
            "  1    0.051 ms   0.043 ms   0.040 ms  10.0.1.1"
        );
        let silent = hop(2, vec![Some(Probed::Silent); 3], &[]);
        assert_eq!(
            hop_line(&silent, &names),
            "  2     *          *          *        Request timed out."
        );
        let slow = hop(
            3,
            vec![
                answered([10, 0, 2, 2], 12_345),
                Some(Probed::Silent),
                answered([10, 0, 2, 2], 1_000),
            ],
            &[[10, 0, 2, 2]],
        );
        assert_eq!(
            hop_line(&slow, &names),
            "  3     12.3 ms    *           1.0 ms  10.0.2.2"
        );
        let unreachable = hop(
            4,
            vec![
                Some(Probed::Answered {
                    from: ipv4::Addr([10, 0, 0, 1]),
                    reached: Reached::Unreachable(UnreachableCode::Net),
                    rtt: Duration::from_micros(80),
                }),
                Some(Probed::Silent),
                Some(Probed::Silent),
            ],
            &[[10, 0, 0, 1]],
        );
        assert_eq!(
            hop_line(&unreachable, &names),
            "  4  10.0.0.1  reports: Destination net unreachable."
        );
    }
}
