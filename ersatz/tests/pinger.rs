//! How an embedder unit-tests code that uses a [`Pinger`]: on an in-memory
//! link ([`ersatz::link::Memory`]), no root, no NIC. The peer stands for the
//! gateway and whatever is behind it: it answers our ARP for the gateway and
//! each echo request as the test says (rightly, or forged in some way).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ersatz::link::{Memory, Peer};
use ersatz::ping::Event;
use ersatz::{ethernet, icmp, ipv4, parse, ErrorKind, Interface, Pinger};

/// Behind the gateway.
const TARGET: ipv4::Addr = ipv4::Addr([10, 9, 9, 9]);

/// How the peer answers an echo request.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Answer {
    Right,
    /// A reply whose IPv4 header checksum is wrong (the ICMP checksum right).
    BadIpv4Checksum,
    /// A reply whose ICMP checksum is wrong (the IPv4 one right).
    BadIcmpChecksum,
    /// A reply with another payload (checksums right).
    OtherPayload,
    /// A reply from another address (checksums right).
    OtherSource,
    /// A forged reply with a bad IPv4 checksum at once, the right one 50 ms later.
    ForgedThenRight,
    Never,
}

/// The echo request in `frame`, if it is one: destination, echo, payload.
fn echo_request(frame: &[u8]) -> Option<(ipv4::Addr, icmp::Echo, Vec<u8>)> {
    let frame = parse::run(frame, ethernet::Frame::parse).ok()?;
    let ethernet::Payload::IPv4(packet) = &frame.payload else {
        return None;
    };
    let ipv4::Payload::ICMP(icmp::Packet {
        header: icmp::Header::EchoRequest(echo),
        payload,
        ..
    }) = &packet.payload
    else {
        return None;
    };
    Some((packet.dst, *echo, payload.to_vec()))
}

/// The reply frame from `from` to us, with checksums right.
fn reply(from: ipv4::Addr, echo: icmp::Echo, payload: &[u8]) -> Vec<u8> {
    let mut packet = echo
        .into_echo_reply(payload)
        .into_ipv4_payload()
        .into_packet(from, Memory::ADDR);
    packet.ttl = REPLY_TTL;
    ethernet::Frame::new(
        Memory::MAC,
        Memory::GATEWAY_MAC,
        packet.into_ethernet_payload(),
    )
    .to_vec()
    .expect("a reply frame")
}

/// The TTL of the peer's replies (not ours: the reply's TTL is read).
const REPLY_TTL: u8 = 57;

/// IPv4 header checksum, ICMP checksum: where they are in a reply frame
/// (Ethernet header 14 bytes, IPv4 header 20).
const IPV4_CHECKSUM: usize = 14 + 10;
const ICMP_CHECKSUM: usize = 14 + 20 + 2;

/// Runs the peer until `done`; counts the echo requests it saw.
fn serve(peer: Peer, answer: Answer, done: Arc<AtomicBool>) -> JoinHandle<u32> {
    std::thread::spawn(move || {
        let mut later: Vec<(Instant, Vec<u8>)> = Vec::new();
        let mut requests = 0;
        while !done.load(Ordering::SeqCst) {
            let now = Instant::now();
            later.retain(|(at, f)| *at > now || peer.send(f.clone()).is_err());
            let Some(frame) = peer.recv(Duration::from_millis(1)) else {
                continue;
            };
            if peer
                .answer_arp(&frame, Memory::GATEWAY, Memory::GATEWAY_MAC)
                .expect("the Interface is there")
            {
                continue;
            }
            let Some((dst, echo, payload)) = echo_request(&frame) else {
                continue;
            };
            requests += 1;
            let mut bytes = reply(dst, echo, &payload);
            match answer {
                Answer::Right => later.push((now, bytes)),
                Answer::BadIpv4Checksum => {
                    bytes[IPV4_CHECKSUM] ^= 0x55;
                    later.push((now, bytes));
                }
                Answer::BadIcmpChecksum => {
                    bytes[ICMP_CHECKSUM] ^= 0x55;
                    later.push((now, bytes));
                }
                Answer::OtherPayload => {
                    let mut other = payload.clone();
                    other.reverse();
                    other.push(b'!');
                    later.push((now, reply(dst, echo, &other)));
                }
                Answer::OtherSource => {
                    later.push((now, reply(ipv4::Addr([10, 9, 9, 10]), echo, &payload)));
                }
                Answer::ForgedThenRight => {
                    let mut forged = bytes.clone();
                    forged[IPV4_CHECKSUM] ^= 0x55;
                    later.push((now, forged));
                    later.push((now + Duration::from_millis(50), bytes));
                }
                Answer::Never => {}
            }
        }
        requests
    })
}

/// A pinger of [`TARGET`] on an in-memory link whose peer answers as `answer` says.
fn pinger(answer: Answer) -> (Pinger, Arc<AtomicBool>, JoinHandle<u32>) {
    let (link, peer) = Memory::new();
    let interface = Arc::new(Interface::on_link(Memory::nic(), link));
    let done = Arc::new(AtomicBool::new(false));
    let peer = serve(peer, answer, done.clone());
    (Pinger::on_interface(interface, TARGET), done, peer)
}

fn finish(done: Arc<AtomicBool>, peer: JoinHandle<u32>) -> u32 {
    done.store(true, Ordering::SeqCst);
    peer.join().expect("the peer thread")
}

#[test]
fn ping_takes_the_right_reply() {
    let (pinger, done, peer) = pinger(Answer::Right);
    let reply = pinger
        .ping(b"hello", Duration::from_secs(2))
        .expect("a reply");
    assert_eq!((reply.from, reply.bytes, reply.ttl), (TARGET, 5, REPLY_TTL));
    // Numbered from a random start, one up per request.
    let first = reply.sequence_number;
    assert!(reply.rtt < Duration::from_secs(2), "{reply:?}");
    let reply = pinger.ping(b"", Duration::from_secs(2)).expect("a reply");
    assert_eq!(
        (reply.bytes, reply.sequence_number),
        (0, first.wrapping_add(1))
    );
    // A timeout past what the clock can count waits for the reply, no panic.
    let reply = pinger.ping(b"x", Duration::MAX).expect("a reply");
    assert_eq!(reply.sequence_number, first.wrapping_add(2));
    // A payload that no packet can hold is refused before anything is sent.
    let e = pinger
        .ping(
            &vec![0; ersatz::pinger::MAX_PAYLOAD + 1],
            Duration::from_secs(1),
        )
        .expect_err("too long");
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(finish(done, peer), 3);
}

#[test]
fn ping_ignores_forged_and_wrong_replies_until_the_timeout() {
    for answer in [
        Answer::BadIpv4Checksum,
        Answer::BadIcmpChecksum,
        Answer::OtherPayload,
        Answer::OtherSource,
        Answer::Never,
    ] {
        let (pinger, done, peer) = pinger(answer);
        let offered_before = pinger.interface().stats().offered;
        let started = Instant::now();
        let e = pinger
            .ping(
                b"abcdefghijklmnopqrstuvwabcdefghi",
                Duration::from_millis(300),
            )
            .expect_err("no reply may be taken");
        let waited = started.elapsed();
        assert_eq!(e.kind(), ErrorKind::Timeout, "{answer:?}: {e}");
        // The wait went on to the timeout (it did not end at the forged reply).
        assert!(
            waited >= Duration::from_millis(300),
            "{answer:?}: {waited:?}"
        );
        assert_eq!(finish(done, peer), 1, "{answer:?}");
        // The forged reply did reach the Interface: the test cannot pass
        // because nothing came.
        let offered = pinger.interface().stats().offered - offered_before;
        let expected = u64::from(answer != Answer::Never);
        assert_eq!(offered, expected, "{answer:?}");
    }
}

#[test]
fn ping_waits_past_a_forged_reply_for_the_right_one() {
    let (pinger, done, peer) = pinger(Answer::ForgedThenRight);
    let started = Instant::now();
    let reply = pinger
        .ping(b"payload", Duration::from_secs(2))
        .expect("the right reply, after the forged one");
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert_eq!((reply.from, reply.bytes), (TARGET, 7));
    finish(done, peer);
    // Both came in; only the right one was taken.
    assert_eq!(pinger.interface().stats().offered, 2);
}

#[test]
fn one_pinger_pings_from_two_threads() {
    fn send_sync<T: Send + Sync + 'static>(_: &T) {}
    let (pinger, done, peer) = pinger(Answer::Right);
    send_sync(&pinger);
    let pinger = Arc::new(pinger);
    let answered = Arc::new(AtomicU32::new(0));
    let threads: Vec<_> = (0..2u8)
        .map(|i| {
            let (pinger, answered) = (pinger.clone(), answered.clone());
            std::thread::spawn(move || {
                let mut seqs = Vec::new();
                for n in 0..20u8 {
                    let payload = [i, n, 0x42];
                    let reply = pinger
                        .ping(&payload, Duration::from_secs(2))
                        .expect("a reply");
                    assert_eq!(reply.bytes, 3);
                    answered.fetch_add(1, Ordering::SeqCst);
                    seqs.push(reply.sequence_number);
                }
                seqs
            })
        })
        .collect();
    let mut seqs: Vec<u16> = threads
        .into_iter()
        .flat_map(|t| t.join().expect("a pinging thread"))
        .collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(
        seqs.len(),
        40,
        "every ping had a sequence number of its own"
    );
    assert_eq!(answered.load(Ordering::SeqCst), 40);
    assert_eq!(finish(done, peer), 40);
}

#[test]
fn run_iterates_ping_exe_events_and_stops_when_asked() {
    let (pinger, done, peer) = pinger(Answer::Right);
    let events: Vec<Event> = pinger.run(Some(3), Duration::from_millis(10)).collect();
    let sent = events
        .iter()
        .filter(|e| matches!(e, Event::Sent { .. }))
        .count();
    let replies: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Reply(r) => Some((r.seq, r.from, r.bytes)),
            _ => None,
        })
        .collect();
    assert_eq!(sent, 3, "{events:?}");
    assert_eq!(replies, [(1, TARGET, 32), (2, TARGET, 32), (3, TARGET, 32)]);

    // Until stopped: the stop handle ends it from another thread.
    let mut run = pinger.run(None, Duration::from_millis(10));
    let stop = run.stop_handle();
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        stop.stop();
    });
    let started = Instant::now();
    let n = run.by_ref().count();
    stopper.join().expect("the stopping thread");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(n >= 2, "{n} events");
    assert!(run.statistics().received >= 1);
    finish(done, peer);
}

#[test]
fn run_does_not_count_a_forged_reply() {
    let (pinger, done, peer) = pinger(Answer::BadIpv4Checksum);
    let options = ersatz::ping::Options::default()
        .timeout(Duration::from_millis(200))
        .interval(Duration::from_millis(10));
    let mut run = pinger.run_with(Some(2), options);
    let events: Vec<Event> = run.by_ref().collect();
    assert_eq!(run.statistics().received, 0, "{events:?}");
    let damaged = events
        .iter()
        .filter(|e| matches!(e, Event::Damaged { .. }))
        .count();
    let timeouts = events
        .iter()
        .filter(|e| matches!(e, Event::Timeout { .. }))
        .count();
    assert_eq!((damaged, timeouts), (2, 2), "{events:?}");
    finish(done, peer);
}
