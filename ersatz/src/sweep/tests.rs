//! A sweep over the in-memory wire, against a peer that plays every kind of
//! target: on-link hosts that answer ARP and ping, ARP only, nothing; routed
//! hosts that answer at once, only a second try, late, with an ICMP error,
//! never; this machine; no route; a router that never answers ARP.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::capture::memory::{arp_reply, echo_reply, nic, to_us, GW, GW_MAC, US};
use crate::probe::testing::Wired;
use crate::{icmp, Blob};

fn a(last: u8) -> ipv4::Addr {
    ipv4::Addr([10, 0, 0, last])
}

fn far(last: u8) -> ipv4::Addr {
    ipv4::Addr([10, 9, 9, last])
}

fn mac(last: u8) -> ethernet::Addr {
    ethernet::Addr([2, 0, 0, 0, 0, last])
}

/// Net unreachable from the gateway, quoting `frame`'s packet.
fn net_unreachable(frame: &ethernet::Frame<'_>) -> Option<Vec<u8>> {
    let ethernet::Payload::IPv4(packet) = &frame.payload else {
        return None;
    };
    let quote = packet.to_vec().ok()?[..28].to_vec();
    let error = icmp::Packet::new(
        icmp::Header::DestinationUnreachable {
            code: icmp::UnreachableCode::Net,
            unused: 0,
            next_hop_mtu: 0,
        },
        Blob::from(quote),
    )
    .into_ipv4_payload()
    .into_packet(GW, US);
    Some(to_us(GW_MAC, error.into_ethernet_payload()))
}

struct Outcome {
    swept: Swept,
    reports: Vec<Host>,
    /// Frames the peer saw per destination (IPv4) or address asked (ARP).
    frames: HashMap<ipv4::Addr, u32>,
    /// Most frames to one target at once before it answered or timed out.
    took: Duration,
}

fn sweep(targets: Vec<(ipv4::Addr, Reach)>, options: Options) -> Outcome {
    let frames: Arc<Mutex<HashMap<ipv4::Addr, u32>>> = Arc::default();
    let seen = frames.clone();
    let tries: Arc<Mutex<HashMap<ipv4::Addr, u32>>> = Arc::default();
    let wired = Wired::new(move |frame| {
        let target = match &frame.payload {
            ethernet::Payload::ARP(p) => p.target_ip_addr,
            ethernet::Payload::IPv4(p) => p.dst,
            _ => return Vec::new(),
        };
        *seen.lock().unwrap().entry(target).or_default() += 1;
        let now = Duration::ZERO;
        match (target.0[2], target.0[3]) {
            // On-link: answers ARP and ping.
            (0, 3) => arp_reply(frame, mac(3))
                .or_else(|| echo_reply(frame).map(|e| e.2))
                .map(|f| vec![(now, f)])
                .unwrap_or_default(),
            // On-link: ARP only (drops every ping).
            (0, 4) => arp_reply(frame, mac(4))
                .map(|f| vec![(now, f)])
                .unwrap_or_default(),
            // On-link: two stations answer ARP.
            (0, 6) => arp_reply(frame, mac(6))
                .map(|f| {
                    let twin = arp_reply(frame, mac(0x66)).unwrap();
                    vec![(now, f), (Duration::from_millis(1), twin)]
                })
                .or_else(|| echo_reply(frame).map(|e| vec![(now, e.2)]))
                .unwrap_or_default(),
            // Routed: answers at once.
            (9, 1) => echo_reply(frame)
                .map(|e| vec![(now, e.2)])
                .unwrap_or_default(),
            // Routed: answers only the second try.
            (9, 2) => {
                let mut tries = tries.lock().unwrap();
                let n = tries.entry(target).or_default();
                *n += 1;
                match (*n, echo_reply(frame)) {
                    (2, Some(e)) => vec![(now, e.2)],
                    _ => Vec::new(),
                }
            }
            // Routed: the router says the net is unreachable.
            (9, 3) => net_unreachable(frame)
                .map(|f| vec![(now, f)])
                .unwrap_or_default(),
            // Routed: answers each try 150 ms late (after its 100 ms).
            (9, 4) => echo_reply(frame)
                .map(|e| vec![(Duration::from_millis(150), e.2)])
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    });
    let interface = &wired.interface;
    let planned = Planned {
        route: netinfo::Route {
            nic: nic(),
            destination: a(3),
            next_hop: a(3),
        },
        targets,
    };
    let mut reports = Vec::new();
    let swept = run(
        interface,
        &planned,
        &options,
        &AtomicBool::new(false),
        |h| reports.push(h.clone()),
    );
    let took = swept.elapsed;
    let frames = frames.lock().unwrap().clone();
    Outcome {
        swept,
        reports,
        frames,
        took,
    }
}

fn options() -> Options {
    Options {
        timeout: Duration::from_millis(100),
        ..Options::default()
    }
}

fn host(o: &Outcome, addr: ipv4::Addr) -> &Host {
    o.swept.hosts.iter().find(|h| h.addr == addr).unwrap()
}

#[test]
fn every_kind_of_target_gets_its_outcome() {
    let targets = vec![
        (a(3), Reach::OnLink),
        (a(4), Reach::OnLink),
        (a(5), Reach::OnLink),
        (a(6), Reach::OnLink),
        (US, Reach::Local),
        (far(1), Reach::Via(GW)),
        (far(2), Reach::Via(GW)),
        (far(3), Reach::Via(GW)),
        (far(4), Reach::Via(GW)),
        (far(5), Reach::Via(GW)),
        (ipv4::Addr([10, 8, 0, 1]), Reach::NoRoute),
    ];
    let o = sweep(targets, options());
    let h = |x| host(&o, x);
    // Alive by ARP, with the echo's RTT and TTL.
    assert!(h(a(3)).alive && h(a(3)).via == Via::Arp, "{:?}", h(a(3)));
    assert_eq!(h(a(3)).mac, Some(mac(3)));
    assert_eq!(h(a(3)).ttl, Some(128), "the peer's TTL");
    assert!(h(a(3)).rtt.is_some() && h(a(3)).arp_rtt.is_some());
    // Alive by ARP though it drops every ping: no RTT of its own, no TTL.
    assert!(h(a(4)).alive && h(a(4)).via == Via::Arp, "{:?}", h(a(4)));
    assert_eq!((h(a(4)).rtt, h(a(4)).ttl), (None, None));
    assert!(h(a(4)).arp_rtt.is_some());
    // Silent on-link: unreachable after its two ARP tries.
    assert!(!h(a(5)).alive && h(a(5)).done && h(a(5)).failure.is_none());
    // Two stations: the second MAC is kept.
    assert_eq!((h(a(6)).mac, h(a(6)).also), (Some(mac(6)), Some(mac(0x66))));
    // This machine.
    assert!(h(US).alive && h(US).via == Via::Local);
    // Routed: at once; on the second try; refused by the router; late.
    assert!(h(far(1)).alive && h(far(1)).via == Via::Icmp && h(far(1)).ttl == Some(128));
    assert!(h(far(2)).alive && !h(far(2)).late, "{:?}", h(far(2)));
    assert_eq!(
        h(far(3)).failure,
        Some(Failure::Icmp {
            error: IcmpError::Unreachable(icmp::UnreachableCode::Net),
            from: GW
        })
    );
    assert!(!h(far(3)).alive);
    assert!(h(far(4)).alive && h(far(4)).late, "{:?}", h(far(4)));
    assert!(!h(far(5)).alive && h(far(5)).done);
    assert_eq!(h(ipv4::Addr([10, 8, 0, 1])).failure, Some(Failure::NoRoute));
    assert_eq!(
        (o.swept.alive(), o.swept.unreachable(), o.swept.unknown()),
        (7, 4, 0)
    );
    // Tries: 1 + 1 retry for the silent ones, one each for the others
    // (plus the on-link echo).
    assert_eq!(o.frames.get(&a(5)), Some(&2));
    assert_eq!(o.frames.get(&far(5)), Some(&2));
    assert_eq!(o.frames.get(&far(1)), Some(&1));
    assert_eq!(o.frames.get(&far(3)), Some(&1));
    assert_eq!(o.frames.get(&a(3)), Some(&2), "ARP then echo");
    assert_eq!(
        o.frames.get(&a(4)),
        Some(&2),
        "ARP, then one echo, not retried"
    );
    assert_eq!(o.frames.get(&US), None);
    // Each target reported once, but the late one: unreachable when its
    // second try timed out, or alive at once if the first late answer came
    // before that.
    for h in &o.swept.hosts {
        let n = o.reports.iter().filter(|r| r.addr == h.addr).count();
        assert!(
            n == 1 || (h.addr == far(4) && n <= 2),
            "{h:?} reported {n} times"
        );
    }
    assert_eq!(
        o.reports
            .iter()
            .rev()
            .find(|r| r.addr == far(4))
            .map(|r| r.alive),
        Some(true)
    );
}

#[test]
fn arp_only_sends_no_echo() {
    let o = sweep(
        vec![(a(3), Reach::OnLink), (a(4), Reach::OnLink)],
        Options {
            arp_only: true,
            ..options()
        },
    );
    assert_eq!(o.frames.get(&a(3)), Some(&1));
    assert!(host(&o, a(3)).alive && host(&o, a(3)).ttl.is_none());
    assert_eq!(o.swept.alive(), 2);
}

#[test]
fn a_router_without_arp_fails_its_targets_once() {
    // 10.0.0.77 never answers our ARP: the first target waits out the
    // Interface's three tries, the others fail at once.
    let hop = a(77);
    let targets = (1..=5).map(|i| (far(100 + i), Reach::Via(hop))).collect();
    let o = sweep(targets, options());
    assert_eq!(o.swept.unreachable(), 5);
    for h in &o.swept.hosts {
        match &h.failure {
            Some(Failure::NotSent(why)) => {
                assert!(why.contains("no ARP reply from 10.0.0.77"), "{why}")
            }
            other => panic!("{h:?}: {other:?}"),
        }
    }
    assert!(o.took < Duration::from_secs(5), "{:?}", o.took);
    // Only the router's ARP went out (three tries), no echo request.
    assert_eq!(o.frames.get(&hop), Some(&3));
    assert!(o.frames.keys().all(|k| *k == hop), "{:?}", o.frames);
}

#[test]
fn the_pace_holds_one_frame_per_target_and_the_rate() {
    // 40 silent on-link targets, 2 tries each, 5 ms apart: at least 80
    // frames x 5 ms, never two at once to one target.
    let targets: Vec<_> = (10..50).map(|i| (a(i), Reach::OnLink)).collect();
    let o = sweep(
        targets,
        Options {
            interval: Duration::from_millis(5),
            budget: None,
            timeout: Duration::from_millis(50),
            ..options()
        },
    );
    assert_eq!(o.swept.unreachable(), 40);
    assert!(o.frames.values().all(|n| *n == 2), "{:?}", o.frames);
    assert!(o.took >= Duration::from_millis(79 * 5), "{:?}", o.took);
    assert_eq!(o.swept.statistics.sent, 80);
}

/// The answer of a TCP stack at `from` to a SYN in `frame`: a SYN-ACK
/// (`open`) or an RST (closed), acknowledging it.
fn syn_answer(
    frame: &ethernet::Frame<'_>,
    from_mac: ethernet::Addr,
    open: bool,
) -> Option<Vec<u8>> {
    let ethernet::Payload::IPv4(p) = &frame.payload else {
        return None;
    };
    let crate::ipv4::Payload::TCP(t) = &p.payload else {
        return None;
    };
    if t.flags != crate::tcp::Flags::SYN {
        return None;
    }
    let flags = if open {
        crate::tcp::Flags::SYN | crate::tcp::Flags::ACK
    } else {
        crate::tcp::Flags::RST | crate::tcp::Flags::ACK
    };
    let answer = crate::tcp::Packet::new(
        t.dst_port,
        t.src_port,
        7,
        t.seq.wrapping_add(1),
        flags,
        1000,
        Blob::from(&[][..]),
        Blob::from(&[][..]),
    );
    let packet = answer.into_ipv4_payload().into_packet(p.dst, US);
    Some(to_us(from_mac, packet.into_ethernet_payload()))
}

#[test]
fn a_tcp_sweep_finds_open_and_closed_ports_alive_and_resets_what_it_opened() {
    // RSTs the peer got: (to, sequence number).
    let resets: Arc<Mutex<Vec<(ipv4::Addr, u32)>>> = Arc::default();
    let got = resets.clone();
    // Acknowledgement numbers the peer sent in SYN-ACKs, by target.
    let acks: Arc<Mutex<HashMap<ipv4::Addr, u32>>> = Arc::default();
    let sent = acks.clone();
    let wired = Wired::new(move |frame| {
        let now = Duration::ZERO;
        if let ethernet::Payload::IPv4(p) = &frame.payload {
            if let crate::ipv4::Payload::TCP(t) = &p.payload {
                if t.flags == crate::tcp::Flags::RST {
                    got.lock().unwrap().push((p.dst, t.seq));
                    return Vec::new();
                }
                if t.flags == crate::tcp::Flags::SYN && matches!(p.dst.0[3], 3 | 1) {
                    sent.lock().unwrap().insert(p.dst, t.seq.wrapping_add(1));
                }
            }
        }
        let target = match &frame.payload {
            ethernet::Payload::ARP(p) => p.target_ip_addr,
            ethernet::Payload::IPv4(p) => p.dst,
            _ => return Vec::new(),
        };
        let answer = match (target.0[2], target.0[3]) {
            // On-link, port open.
            (0, 3) => arp_reply(frame, mac(3)).or_else(|| syn_answer(frame, mac(3), true)),
            // On-link, drops the SYN: alive by ARP all the same.
            (0, 4) => arp_reply(frame, mac(4)),
            // Routed: open, closed; silent; answers ping only (not here).
            (9, 1) => syn_answer(frame, GW_MAC, true),
            (9, 2) => syn_answer(frame, GW_MAC, false),
            (9, 4) => echo_reply(frame).map(|e| e.2),
            _ => None,
        };
        answer.map(|f| vec![(now, f)]).unwrap_or_default()
    });
    let targets = vec![
        (a(3), Reach::OnLink),
        (a(4), Reach::OnLink),
        (far(1), Reach::Via(GW)),
        (far(2), Reach::Via(GW)),
        (far(3), Reach::Via(GW)),
        (far(4), Reach::Via(GW)),
    ];
    let planned = Planned {
        route: netinfo::Route {
            nic: nic(),
            destination: a(3),
            next_hop: a(3),
        },
        targets,
    };
    let options = Options {
        method: Method::Tcp(443),
        ..options()
    };
    let swept = run(
        &wired.interface,
        &planned,
        &options,
        &AtomicBool::new(false),
        |_| {},
    );
    wired.stop();
    let h = |x: ipv4::Addr| swept.hosts.iter().find(|h| h.addr == x).unwrap();
    let state = |x| h(x).port.map(|p| (p.state, p.what));
    assert!(h(a(3)).alive && h(a(3)).via == Via::Arp);
    assert_eq!(state(a(3)), Some((port::State::Open, "SYN-ACK")));
    assert!(h(a(4)).alive && h(a(4)).port.is_none(), "{:?}", h(a(4)));
    assert!(h(far(1)).alive && h(far(1)).via == Via::Tcp);
    assert_eq!(state(far(1)), Some((port::State::Open, "SYN-ACK")));
    assert_eq!(h(far(1)).ttl, Some(128), "the peer's TTL");
    assert!(h(far(2)).alive);
    assert_eq!(state(far(2)), Some((port::State::Closed, "RST")));
    assert!(!h(far(3)).alive && h(far(3)).done);
    assert!(!h(far(4)).alive, "an echo reply is no answer to a SYN");
    assert_eq!(swept.alive(), 4);
    // One RST per SYN-ACK, with its acknowledgement number, to the host
    // that sent it; none to the closed port.
    let mut resets = resets.lock().unwrap().clone();
    resets.sort();
    let acks = acks.lock().unwrap();
    assert_eq!(resets, vec![(a(3), acks[&a(3)]), (far(1), acks[&far(1)])]);
}
