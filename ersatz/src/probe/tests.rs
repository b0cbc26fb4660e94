//! The engine over the in-memory wire, with echo and ARP probes and a peer
//! that answers as each test says. What only the engine does (retries, keys
//! used again, pacing, ending early, forgetting) is tested here; ping's own
//! accounting is tested in `ping.rs`, and all of it against real kernels in
//! the namespace lab (`tests/`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::testing::Wired;
use super::*;
use crate::arping::ArpProbe;
use crate::capture::memory::{self, arp_reply, echo_reply, nic, to_us, GW};
use crate::ping::{EchoProbe, Options};
use crate::{arp, ethernet};

/// Everything a run reported, in order, as short strings.
#[derive(Default)]
struct Log(Vec<String>);

impl Log {
    fn count(&self, prefix: &str) -> usize {
        self.0.iter().filter(|l| l.starts_with(prefix)).count()
    }
}

fn describe<K: Kind>(event: &Event<'_, K>) -> String
where
    K::Job: Debug,
{
    match event {
        Event::Sent { probe, .. } => format!("sent {:?} #{}", probe.job, probe.attempt),
        Event::Reply(a) => format!("reply {:?} #{} {:?}", a.probe.job, a.probe.attempt, a.reply),
        Event::Duplicate(a) => format!("duplicate {:?} {:?}", a.probe.job, a.reply),
        Event::Late(a) => format!("late {:?} #{}", a.probe.job, a.probe.attempt),
        Event::Damaged { probe, .. } => format!("damaged {:?}", probe.job),
        Event::Error { probe, .. } => format!("error {:?}", probe.job),
        Event::Timeout { probe, retry } => {
            format!("timeout {:?} #{} retry={retry}", probe.job, probe.attempt)
        }
        Event::SendFailed { probe, .. } => format!("failed {:?}", probe.job),
        Event::Stray { key, .. } => format!("stray {key:?}"),
        Event::Captured { .. } => "captured".into(),
    }
}

const A: ipv4::Addr = ipv4::Addr([10, 9, 0, 1]);
const B: ipv4::Addr = ipv4::Addr([10, 9, 0, 2]);
const C: ipv4::Addr = ipv4::Addr([10, 9, 0, 3]);

#[test]
fn retries_go_to_jobs_without_an_answer_and_only_to_them() {
    // A answers at once; B only its second request; C never.
    let tries = Arc::new(std::sync::Mutex::new(0u32));
    let counter = tries.clone();
    let wired = Wired::new(move |frame| {
        let Some((dst, _, reply)) = echo_reply(frame) else {
            return Vec::new();
        };
        match dst {
            A => vec![(Duration::ZERO, reply)],
            B => {
                let mut n = counter.lock().unwrap();
                *n += 1;
                if *n == 2 {
                    vec![(Duration::ZERO, reply)]
                } else {
                    Vec::new()
                }
            }
            _ => Vec::new(),
        }
    });
    let interface = &wired.interface;
    let kind = EchoProbe::new(&nic(), None, &Options::default());
    let pace = Pace {
        window: 16,
        interval: Duration::ZERO,
        timeout: Duration::from_millis(100),
        tries: 2,
        ..Pace::default()
    };
    let mut engine = Engine::new(interface, kind, pace, false);
    let mut log = Log::default();
    let mut plan = jobs([A, B, C], |e: &Event<'_, EchoProbe>| {
        log.0.push(describe(e))
    });
    let end = engine.run(&mut plan, &AtomicBool::new(false));
    let seen = wired.stop();
    assert_eq!(end, End::Done);
    let log = log.0;
    assert_eq!(seen, 5, "{log:#?}");
    assert_eq!(engine.statistics().sent, 5);
    assert_eq!(engine.statistics().received, 2);
    for line in [
        "reply 10.9.0.1 #0",
        "timeout 10.9.0.2 #0 retry=true",
        "reply 10.9.0.2 #1",
        "timeout 10.9.0.3 #0 retry=true",
        "timeout 10.9.0.3 #1 retry=false",
    ] {
        assert_eq!(
            log.iter().filter(|l| l.starts_with(line)).count(),
            1,
            "{line}: {log:#?}"
        );
    }
    assert!(
        !log.iter().any(|l| l.starts_with("sent 10.9.0.1 #1")),
        "{log:#?}"
    );
}

#[test]
fn the_interval_paces_a_window_of_probes() {
    let wired = Wired::new(|frame| {
        echo_reply(frame)
            .map(|(_, _, reply)| vec![(Duration::from_millis(30), reply)])
            .unwrap_or_default()
    });
    let interface = &wired.interface;
    let kind = EchoProbe::new(&nic(), None, &Options::default());
    let pace = Pace {
        window: 1000,
        interval: Duration::from_millis(10),
        timeout: Duration::from_secs(1),
        // The in-memory wire never shows our own frames: no waiting for them.
        own_frame_wait: Duration::ZERO,
        ..Pace::default()
    };
    let mut engine = Engine::new(interface, kind, pace, false);
    // The gateway's MAC first: the ARP wait is not what is measured.
    interface.resolve(GW).unwrap();
    let mut sent_at = Vec::new();
    let mut most_in_flight = 0;
    let mut waiting = 0i32;
    let targets: Vec<ipv4::Addr> = (1..=10).map(|i| ipv4::Addr([10, 9, 1, i])).collect();
    let mut plan = jobs(targets, |e: &Event<'_, EchoProbe>| match e {
        Event::Sent { .. } => {
            sent_at.push(Instant::now());
            waiting += 1;
            most_in_flight = most_in_flight.max(waiting);
        }
        Event::Reply(_) | Event::Timeout { .. } => waiting -= 1,
        _ => {}
    });
    let start = Instant::now();
    engine.run(&mut plan, &AtomicBool::new(false));
    let took = start.elapsed();
    assert_eq!(engine.statistics().received, 10);
    // Ten probes 10 ms apart, the last answered 30 ms later (the peer's
    // clock reads up to 1 ms early); a lock step would take 10 x 30 ms.
    assert!(
        took >= Duration::from_millis(115) && took < Duration::from_millis(290),
        "{took:?}"
    );
    // On schedule: never ahead of it. A late wake-up is made up by a
    // shorter next gap (seen under Wine on a loaded machine: 17.7 ms, then
    // 2.0 ms), so the gaps themselves are not bounded, only each send's
    // time since the first (the peer's clock may read up to 1 ms early).
    for (i, at) in sent_at.iter().enumerate() {
        let due = Duration::from_millis(10) * i as u32;
        assert!(
            *at - sent_at[0] + Duration::from_millis(1) >= due,
            "probe {i} ahead of its schedule: {sent_at:?}"
        );
    }
    assert!(
        most_in_flight >= 3,
        "a window, not a lock step: {most_in_flight}"
    );
}

#[test]
fn a_budget_lets_a_burst_go_then_holds_the_sustained_rate() {
    let wired = Wired::new(|frame| {
        echo_reply(frame)
            .map(|(_, _, reply)| vec![(Duration::ZERO, reply)])
            .unwrap_or_default()
    });
    let interface = &wired.interface;
    interface.resolve(GW).unwrap();
    let kind = EchoProbe::new(&nic(), None, &Options::default());
    let pace = Pace {
        window: 100,
        interval: Duration::ZERO,
        timeout: Duration::from_secs(1),
        own_frame_wait: Duration::ZERO,
        budget: Some(Budget {
            burst: 4,
            every: Duration::from_millis(40),
        }),
        ..Pace::default()
    };
    let mut engine = Engine::new(interface, kind, pace, false);
    let mut sent_at = Vec::new();
    let targets: Vec<ipv4::Addr> = (1..=7).map(|i| ipv4::Addr([10, 9, 2, i])).collect();
    let mut plan = jobs(targets, |e: &Event<'_, EchoProbe>| {
        if let Event::Sent { .. } = e {
            sent_at.push(Instant::now());
        }
    });
    engine.run(&mut plan, &AtomicBool::new(false));
    assert_eq!(engine.statistics().received, 7);
    let gaps: Vec<Duration> = sent_at.windows(2).map(|p| p[1] - p[0]).collect();
    // The burst: four back to back; then one per 40 ms.
    assert!(
        gaps[..3].iter().all(|g| *g < Duration::from_millis(20)),
        "{gaps:?}"
    );
    assert!(
        gaps[3..].iter().all(|g| *g >= Duration::from_millis(35)),
        "{gaps:?}"
    );
}

#[test]
fn a_key_waiting_holds_its_next_job_back() {
    // ARP's key is the address: three requests for one address never wait
    // at once, whatever the window.
    const MAC: ethernet::Addr = ethernet::Addr([2, 0, 0, 0, 0, 9]);
    let wired = Wired::new(|frame| {
        arp_reply(frame, MAC)
            .map(|r| vec![(Duration::from_millis(20), r)])
            .unwrap_or_default()
    });
    let interface = &wired.interface;
    let pace = Pace {
        window: 64,
        interval: Duration::ZERO,
        timeout: Duration::from_secs(1),
        ..Pace::default()
    };
    let mut engine = Engine::new(interface, ArpProbe::new(&nic()), pace, false);
    let (mut waiting, mut most) = (0i32, 0);
    let mut replies = Vec::new();
    let mut plan = jobs([A, A, A, B], |e: &Event<'_, ArpProbe>| match e {
        Event::Sent { probe, .. } if *probe.job == A => {
            waiting += 1;
            most = most.max(waiting);
        }
        Event::Reply(a) => {
            if *a.probe.job == A {
                waiting -= 1;
            }
            replies.push((a.probe.serial, *a.probe.job, a.reply.mac));
        }
        _ => {}
    });
    let start = Instant::now();
    engine.run(&mut plan, &AtomicBool::new(false));
    let took = start.elapsed();
    assert_eq!(most, 1);
    assert_eq!(engine.statistics().received, 4, "{replies:?}");
    // Three in a row for A (B goes at once, beside the first).
    assert!(took >= Duration::from_millis(60), "{took:?}");
    let serials: Vec<u64> = replies.iter().map(|r| r.0).collect();
    assert_eq!(serials.len(), 4);
    assert!(replies.iter().all(|r| r.2 == MAC));
}

#[test]
fn a_second_mac_for_an_address_is_a_duplicate() {
    const FIRST: ethernet::Addr = ethernet::Addr([2, 0, 0, 0, 0, 0x31]);
    const SECOND: ethernet::Addr = ethernet::Addr([2, 0, 0, 0, 0, 0x32]);
    let wired = Wired::new(|frame| {
        let mut out = Vec::new();
        out.extend(arp_reply(frame, FIRST).map(|r| (Duration::ZERO, r)));
        out.extend(arp_reply(frame, SECOND).map(|r| (Duration::from_millis(2), r)));
        // Noise that must not count: a gratuitous ARP and a reply to
        // another station, both for the address asked about.
        if let ethernet::Payload::ARP(p) = &frame.payload {
            let gratuitous = arp::Packet {
                operation: arp::Operation::Reply,
                sender_hw_addr: SECOND,
                sender_ip_addr: p.target_ip_addr,
                target_hw_addr: ethernet::Addr::broadcast(),
                target_ip_addr: p.target_ip_addr,
            };
            let elsewhere = arp::Packet {
                target_hw_addr: ethernet::Addr([2, 0, 0, 0, 0, 0x77]),
                target_ip_addr: ipv4::Addr([10, 0, 0, 77]),
                ..gratuitous
            };
            for noise in [gratuitous, elsewhere] {
                out.push((
                    Duration::from_millis(1),
                    to_us(SECOND, noise.into_ethernet_payload()),
                ));
            }
        }
        out
    });
    let interface = &wired.interface;
    let pace = Pace::lock_step(Duration::from_millis(50), Duration::from_millis(40));
    let mut engine = Engine::new(interface, ArpProbe::new(&nic()), pace, false);
    let mut log = Log::default();
    let mut plan = jobs([C, C], |e: &Event<'_, ArpProbe>| log.0.push(describe(e)));
    engine.run(&mut plan, &AtomicBool::new(false));
    let stats = engine.statistics();
    assert_eq!(
        (stats.sent, stats.received, stats.duplicates),
        (2, 2, 2),
        "{:#?}",
        log.0
    );
    assert_eq!(
        log.count("reply 10.9.0.3 #0 ArpReply { mac: 02-00-00-00-00-31 }"),
        2,
        "{:#?}",
        log.0
    );
    assert_eq!(
        log.count("duplicate 10.9.0.3 ArpReply { mac: 02-00-00-00-00-32 }"),
        2,
        "{:#?}",
        log.0
    );
    assert_eq!(log.count("timeout"), 0, "{:#?}", log.0);
}

/// A plan that is finished once anything answered.
struct UntilAnswered {
    answered: bool,
}

impl Plan<EchoProbe> for UntilAnswered {
    fn next(&mut self) -> Option<ipv4::Addr> {
        Some(A)
    }

    fn event(&mut self, event: &Event<'_, EchoProbe>) {
        self.answered |= matches!(event, Event::Reply(_));
    }

    fn finished(&self) -> bool {
        self.answered
    }
}

#[test]
fn a_plan_can_end_the_run_with_probes_waiting() {
    // Only the fifth request is answered.
    let wired = Wired::new(|frame| match echo_reply(frame) {
        Some((_, 5, reply)) => vec![(Duration::ZERO, reply)],
        _ => Vec::new(),
    });
    let interface = &wired.interface;
    let kind = EchoProbe::new(&nic(), None, &Options::default());
    let pace = Pace {
        window: 100,
        interval: Duration::from_millis(2),
        timeout: Duration::from_secs(10),
        ..Pace::default()
    };
    let mut engine = Engine::new(interface, kind, pace, false);
    let mut plan = UntilAnswered { answered: false };
    let start = Instant::now();
    let end = engine.run(&mut plan, &AtomicBool::new(false));
    assert_eq!(end, End::Finished);
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(engine.in_flight() >= 4, "{}", engine.in_flight());
}

#[test]
fn stop_ends_a_run_at_once() {
    let (link, _wire) = memory::wire();
    let interface = Interface::with_link(nic(), None, link);
    // Nobody answers: a run without stop would wait 4 s for each request.
    let kind = ArpProbe::new(&nic());
    let mut engine = Engine::new(&interface, kind, Pace::default(), false);
    let stop = AtomicBool::new(false);
    let mut events = 0;
    let start = Instant::now();
    let end = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(100));
            stop.store(true, Ordering::SeqCst);
        });
        let mut plan = jobs(std::iter::repeat(A), |_: &Event<'_, ArpProbe>| events += 1);
        engine.run(&mut plan, &stop)
    });
    assert_eq!(end, End::Stopped);
    let took = start.elapsed();
    assert!(took < Duration::from_millis(500), "{took:?}");
    // One request sent, nothing answered, no timeout yet (4 s).
    assert_eq!(engine.statistics().sent, 1);
    assert_eq!(events, 1);
}

#[test]
fn forgotten_probes_are_not_matched() {
    // With room to remember 2 probes, an answer to the first of 5 (which
    // comes after all were sent) finds nothing; one to the last is late.
    let wired = Wired::new(|frame| match echo_reply(frame) {
        Some((_, 1 | 5, reply)) => vec![(Duration::from_millis(60), reply)],
        _ => Vec::new(),
    });
    let interface = &wired.interface;
    let kind = EchoProbe::new(&nic(), None, &Options::default());
    let pace = Pace {
        window: 10,
        interval: Duration::ZERO,
        timeout: Duration::from_millis(20),
        memory: 2,
        ..Pace::default()
    };
    let mut engine = Engine::new(interface, kind, pace, false);
    let mut log = Log::default();
    let mut plan = jobs([A, A, A, A, A], |e: &Event<'_, EchoProbe>| {
        log.0.push(describe(e))
    });
    engine.run(&mut plan, &AtomicBool::new(false));
    // The answers come while a second run waits.
    std::thread::sleep(Duration::from_millis(100));
    let mut plan = jobs([], |e: &Event<'_, EchoProbe>| log.0.push(describe(e)));
    engine.run(&mut plan, &AtomicBool::new(false));
    assert_eq!(log.count("timeout"), 5, "{:#?}", log.0);
    assert_eq!(log.count("late"), 1, "{:#?}", log.0);
    assert_eq!(engine.remembered(), 2);
}
