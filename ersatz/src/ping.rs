//! A ping session over an [`Interface`]: echo requests built by ersatz,
//! replies matched by source, identifier, sequence number and payload, ICMP
//! errors matched through the request they quote, and the statistics
//! `ping.exe` prints. `sup` is a thin command line over this module.
//!
//! Two ways to run one: [`Session::probe`], one request at a time (send,
//! wait for its outcome, wait out the interval), and [`Session::flood`],
//! which keeps a window of requests in flight like `ping -f`. Replies reach
//! the session through one keyed listener ([`Interface::listen_echoes`]),
//! so the capture thread finds it with a hash lookup.
//!
//! What counts as received is stricter than `ping.exe`: only an echo reply
//! from the target, with good checksums and our exact payload, for a request
//! not answered before. Duplicates, damaged replies, late replies and ICMP
//! errors are reported as what they are and never counted.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::interface::{Error, Expectation, Received, Sent, Timestamp};
use crate::{icmp, ipv4, Blob, Interface};

/// Windows ping's payload: this alphabet, repeated and cut to the size.
pub const PATTERN: &[u8] = b"abcdefghijklmnopqrstuvw";
/// Largest payload `ping.exe -l` accepts.
pub const MAX_SIZE: usize = 65500;

/// The payload of `size` bytes, as Windows ping fills it.
pub fn payload(size: usize) -> Vec<u8> {
    PATTERN.iter().copied().cycle().take(size).collect()
}

/// How to ping.
#[derive(Debug, Clone)]
pub struct Options {
    /// Payload bytes (`-l`, 0 to [`MAX_SIZE`]; 32 by default).
    pub size: usize,
    /// Time to live of the requests (`-i`; 128 by default, like Windows).
    pub ttl: u8,
    /// Set Don't Fragment (`-f`).
    pub dont_fragment: bool,
    /// How long to wait for each reply (`-w`; 4 s by default).
    pub timeout: Duration,
    /// Time from one request to the next (1 s by default, like ping.exe).
    pub interval: Duration,
    /// The echo identifier (random per run by default).
    pub identifier: u16,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            size: 32,
            ttl: ipv4::DEFAULT_TTL,
            dont_fragment: false,
            timeout: Duration::from_secs(4),
            interval: Duration::from_secs(1),
            identifier: rand::random(),
        }
    }
}

/// An echo reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Sequence number.
    pub seq: u16,
    /// Who answered.
    pub from: ipv4::Addr,
    /// Payload bytes.
    pub bytes: usize,
    /// Round-trip time: reply capture time minus request capture time.
    pub rtt: Duration,
    /// The reply's TTL.
    pub ttl: u8,
}

/// What is wrong with a damaged reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage {
    /// The IPv4 header checksum is wrong.
    Ipv4Checksum,
    /// The ICMP checksum is wrong.
    IcmpChecksum,
    /// The payload is not the one we sent.
    Payload,
}

impl Damage {
    /// A short description.
    pub fn describe(&self) -> &'static str {
        match self {
            Damage::Ipv4Checksum => "bad IPv4 header checksum",
            Damage::IcmpChecksum => "bad ICMP checksum",
            Damage::Payload => "payload differs from the request",
        }
    }
}

/// Something that happened during a session, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A request went out.
    Sent {
        /// Sequence number.
        seq: u16,
        /// The first frame's bytes (for hex dumps).
        frame: Vec<u8>,
    },
    /// The reply to a request, within its timeout. Counted as received
    /// (also after an ICMP error for the same request: the error may be
    /// forged, the reply is the proof).
    Reply(Reply),
    /// Another reply to a request that was already answered.
    Duplicate(Reply),
    /// A reply to a request that had already timed out.
    Late(Reply),
    /// A reply that matched a request but is damaged: not counted.
    Damaged {
        /// Sequence number.
        seq: u16,
        /// Who it claims to come from.
        from: ipv4::Addr,
        /// What is wrong.
        damage: Damage,
    },
    /// A router (or the target) said the destination is unreachable.
    Unreachable {
        /// Sequence number of the request it quotes.
        seq: u16,
        /// Who said so.
        from: ipv4::Addr,
        /// Why.
        code: icmp::UnreachableCode,
    },
    /// A router dropped the request as its TTL ran out.
    TtlExpired {
        /// Sequence number of the request it quotes.
        seq: u16,
        /// The router.
        from: ipv4::Addr,
    },
    /// Our own ARP request for the on-link target got no answer.
    HostUnreachable {
        /// Sequence number.
        seq: u16,
        /// Our address (as ping.exe says it).
        from: ipv4::Addr,
    },
    /// The request was larger than the MTU and Don't Fragment was set.
    NeedsFragmentation {
        /// Sequence number.
        seq: u16,
    },
    /// No reply within the timeout.
    Timeout {
        /// Sequence number.
        seq: u16,
    },
    /// The request could not be sent.
    SendFailed {
        /// Sequence number.
        seq: u16,
        /// Why.
        error: String,
    },
    /// A frame we captured for this session (for hex dumps).
    Captured {
        /// The frame's bytes.
        frame: Vec<u8>,
    },
}

/// The counts and round-trip times of a session.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Statistics {
    /// Requests sent (or attempted: an ARP failure counts).
    pub sent: u32,
    /// Echo replies received (not duplicates, damaged or late ones).
    pub received: u32,
    /// Smallest round-trip time.
    pub min: Option<Duration>,
    /// Largest round-trip time.
    pub max: Option<Duration>,
    total: Duration,
}

impl Statistics {
    /// Requests without a reply.
    pub fn lost(&self) -> u32 {
        self.sent.saturating_sub(self.received)
    }

    /// Lost requests in percent, rounded down as ping.exe does.
    pub fn loss_percent(&self) -> u32 {
        match self.sent {
            0 => 0,
            sent => (u64::from(self.lost()) * 100 / u64::from(sent)) as u32,
        }
    }

    /// Mean round-trip time.
    pub fn average(&self) -> Option<Duration> {
        (self.received > 0).then(|| self.total / self.received)
    }

    fn add(&mut self, rtt: Duration) {
        self.received += 1;
        self.total += rtt;
        self.min = Some(self.min.map_or(rtt, |m| m.min(rtt)));
        self.max = Some(self.max.map_or(rtt, |m| m.max(rtt)));
    }
}

/// What the capture thread hands the session.
enum Incoming {
    Echo {
        seq: u16,
        from: ipv4::Addr,
        ttl: u8,
        bytes: usize,
        at: Timestamp,
        damage: Option<Damage>,
        frame: Vec<u8>,
    },
    Error {
        seq: u16,
        from: ipv4::Addr,
        header: icmp::Header,
        frame: Vec<u8>,
    },
}

/// The filter run on the capture thread for packets keyed by the target and
/// our identifier ([`Interface::listen_echoes`]): echo replies from the
/// target, and ICMP errors (good checksums) quoting one of our requests.
fn classify(
    r: &Received<'_>,
    target: ipv4::Addr,
    us: ipv4::Addr,
    identifier: u16,
    payload: &[u8],
    keep_frames: bool,
) -> Option<Incoming> {
    let ipv4::Payload::ICMP(message) = &r.packet.payload else {
        return None;
    };
    let frame = || {
        if keep_frames {
            r.frame.to_vec()
        } else {
            Vec::new()
        }
    };
    match message.header {
        icmp::Header::EchoReply(echo)
            if echo.identifier == identifier && r.packet.src == target =>
        {
            let damage = if !r.packet.checksum_ok {
                Some(Damage::Ipv4Checksum)
            } else if !message.checksum_ok {
                Some(Damage::IcmpChecksum)
            } else if &message.payload[..] != payload {
                Some(Damage::Payload)
            } else {
                None
            };
            Some(Incoming::Echo {
                seq: echo.sequence_number,
                from: r.packet.src,
                ttl: r.packet.ttl,
                bytes: message.payload.len(),
                at: r.timestamp,
                damage,
                frame: frame(),
            })
        }
        header if header.is_error() && message.checksum_ok && r.packet.checksum_ok => {
            let quote = message.original()?;
            let echo = quote.echo_request()?;
            (echo.identifier == identifier && quote.packet.src == us && quote.packet.dst == target)
                .then(|| Incoming::Error {
                    seq: echo.sequence_number,
                    from: r.packet.src,
                    header,
                    frame: frame(),
                })
        }
        _ => None,
    }
}

/// Hashes the session's own sequence numbers (keys it chose, looked up
/// once per reply): one multiplication instead of SipHash, which showed in
/// the flood's profile.
#[derive(Default)]
struct SeqHasher(u64);

impl Hasher for SeqHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u16(&mut self, n: u16) {
        self.0 = (self.0 ^ u64::from(n)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type BySeq<V> = HashMap<u16, V, BuildHasherDefault<SeqHasher>>;

/// How many past requests are remembered for duplicates and late replies
/// (requests still waiting are remembered until settled, whatever their age).
const MEMORY: usize = 1024;

struct Probe {
    /// Which request of the session this is (sequence numbers come round).
    serial: u64,
    /// The request, until its send time is known.
    sent: Option<Sent>,
    /// Its send time (capture timestamp of our own frame, else when queued).
    sent_at: Option<Timestamp>,
    /// When it times out.
    deadline: Option<Instant>,
    /// Sent and not settled yet: no reply, no ICMP error, no timeout.
    waiting: bool,
    answered: bool,
    /// Settled by an ICMP error. A genuine echo reply may still follow
    /// within the timeout (the error may be forged, or from a router that
    /// lies): it counts then, as with Linux ping.
    errored: bool,
}

/// How [`Session::flood`] runs.
#[derive(Debug, Clone)]
pub struct Flood {
    /// Requests to send; `None`: until `stop` is set.
    pub count: Option<u32>,
    /// Most requests in flight (sent, not yet answered, failed or timed
    /// out) before the next one waits for a reply; 1 to [`MAX_WINDOW`].
    pub window: usize,
    /// With the window full (replies not coming), still send a request this
    /// often, as `ping -f` does every 10 ms (up to [`MAX_IN_FLIGHT`] in
    /// flight). `None`: never exceed the window. Also the pause after a
    /// request could not be sent.
    pub tick: Option<Duration>,
}

/// The default [`Flood::window`]. Replies reach the session in batches (the
/// capture thread naps between looks while busy: see
/// [`crate::capture::BUSY`]), so the window must cover a nap's worth of
/// requests; in the lab 64 and 128 were 10-20% faster than 32, 256 no
/// faster than 128.
pub const FLOOD_WINDOW: usize = 128;

/// Largest [`Flood::window`].
pub const MAX_WINDOW: usize = 256;
/// Most requests in flight in a flood, ticks included (a dead target with a
/// long timeout): beyond, the next request waits for one to time out.
pub const MAX_IN_FLIGHT: usize = 4096;

impl Default for Flood {
    /// Until stopped, up to [`FLOOD_WINDOW`] in flight, one more every 10 ms
    /// when none come back.
    fn default() -> Self {
        Flood {
            count: None,
            window: FLOOD_WINDOW,
            tick: Some(Duration::from_millis(10)),
        }
    }
}

/// A running ping: call [`Session::probe`] for each request, or
/// [`Session::flood`] once.
pub struct Session<'i> {
    interface: &'i Interface,
    target: ipv4::Addr,
    options: Options,
    payload: Arc<[u8]>,
    inbox: Expectation<Incoming>,
    next_seq: u16,
    /// IPv4 identification of request 0; request `seq` has `ip_id + seq`, so
    /// that requests in flight never share one.
    ip_id: u16,
    next_send: Option<Instant>,
    /// Serial number of the next request.
    serial: u64,
    probes: BySeq<Probe>,
    /// The last [`MEMORY`] requests, oldest first.
    order: VecDeque<u16>,
    /// Requests waiting for their outcome, by serial (so oldest first).
    in_flight: BTreeSet<(u64, u16)>,
    stats: Statistics,
    keep_frames: bool,
    /// How long a reply waits for the capture of its request: see
    /// [`OWN_FRAME_WAIT`]; zero in a flood, which cannot wait.
    own_frame_wait: Duration,
}

/// How often a wait looks at the stop flag.
const STOP_CHECK: Duration = Duration::from_millis(20);

/// How long a reply waits for the capture of its own request (the send
/// time): on Linux it is always there first.
const OWN_FRAME_WAIT: Duration = Duration::from_millis(50);

impl<'i> Session<'i> {
    /// Starts listening for replies from `target`. With `keep_frames`, the
    /// events carry the frames' bytes (for `-v` hex dumps).
    pub fn new(
        interface: &'i Interface,
        target: ipv4::Addr,
        options: Options,
        keep_frames: bool,
    ) -> Self {
        let payload: Arc<[u8]> = payload(options.size).into();
        let identifier = options.identifier;
        let us = interface.nic().addr;
        let expected = payload.clone();
        // Keyed by target and identifier: one hash lookup per packet, with
        // any number of other listeners on the interface.
        let inbox = interface.listen_echoes(target, identifier, move |r| {
            classify(r, target, us, identifier, &expected, keep_frames)
        });
        Session {
            interface,
            target,
            options,
            payload,
            inbox,
            next_seq: 1,
            ip_id: rand::random(),
            next_send: None,
            serial: 0,
            probes: BySeq::default(),
            order: VecDeque::new(),
            in_flight: BTreeSet::new(),
            stats: Statistics::default(),
            keep_frames,
            own_frame_wait: OWN_FRAME_WAIT,
        }
    }

    /// The statistics so far.
    pub fn statistics(&self) -> &Statistics {
        &self.stats
    }

    /// The options in force.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Sends the next request and waits for its outcome, reporting every
    /// event to `on_event` as it happens: first, until the interval since the
    /// previous request has passed, duplicates and late replies; then the
    /// request, and its reply, error or timeout. Returns early (with the
    /// request sent but unanswered) when `stop` is set.
    pub fn probe(&mut self, stop: &AtomicBool, on_event: &mut dyn FnMut(&Event)) {
        if let Some(at) = self.next_send {
            self.drain_until(at, None, stop, on_event);
        }
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let started = Instant::now();
        self.next_send = Some(started + self.options.interval);
        let Some((seq, deadline)) = self.send_next(started, on_event) else {
            return;
        };
        if !self.drain_until(deadline, Some(seq), stop, on_event) && !stop.load(Ordering::SeqCst) {
            self.expire(seq, on_event);
        }
    }

    /// Pings as fast as replies come back, like `ping -f`: keeps up to
    /// `flood.window` requests in flight, sends the next as soon as one is
    /// settled (and at least every `flood.tick`), until `flood.count`
    /// requests were sent and each was answered or timed out, or `stop` is
    /// set. `Options::interval` plays no part; `Options::timeout` still
    /// bounds each wait.
    ///
    /// Accounting is as exact as [`Session::probe`]'s: a reply counts only
    /// if it matches a request in flight (source, identifier, sequence
    /// number, payload, checksums) and came within the timeout by the
    /// capture clock; duplicates, damaged and late replies are reported, not
    /// counted. Every event is reported as it happens (`Sent` for each request).
    pub fn flood(&mut self, flood: &Flood, stop: &AtomicBool, on_event: &mut dyn FnMut(&Event)) {
        let window = flood.window.clamp(1, MAX_WINDOW);
        self.own_frame_wait = Duration::ZERO;
        let mut sent = 0u32;
        let mut last_send: Option<Instant> = None;
        let mut hold_until: Option<Instant> = None;
        loop {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            // Whatever came in, without blocking.
            while let Ok(incoming) = self.inbox.try_recv() {
                self.handle(incoming, on_event);
            }
            let now = Instant::now();
            // Time out, oldest first.
            while let Some(&(serial, seq)) = self.in_flight.first() {
                match self.probes.get(&seq).filter(|p| p.serial == serial) {
                    Some(p) if p.deadline.is_some_and(|d| d > now) => break,
                    Some(_) => self.expire(seq, on_event),
                    None => {
                        self.in_flight.pop_first();
                    }
                }
            }
            let more = flood.count.is_none_or(|c| sent < c);
            if !more && self.in_flight.is_empty() {
                return;
            }
            let ticked = match (flood.tick, last_send) {
                (Some(tick), Some(at)) => now >= at + tick,
                _ => false,
            };
            let room =
                self.in_flight.len() < window || (ticked && self.in_flight.len() < MAX_IN_FLIGHT);
            if more && room && hold_until.is_none_or(|t| now >= t) {
                sent += 1;
                last_send = Some(now);
                if self.send_next(now, on_event).is_none() {
                    // Could not send: not at full speed either.
                    hold_until = Some(now + flood.tick.unwrap_or(STOP_CHECK));
                }
                continue;
            }
            // Nothing to do until a reply, the oldest deadline, the next tick.
            let mut until = now + STOP_CHECK;
            if let Some(&(_, seq)) = self.in_flight.first() {
                if let Some(deadline) = self.probes.get(&seq).and_then(|p| p.deadline) {
                    until = until.min(deadline);
                }
            }
            if more {
                if let (Some(tick), Some(at)) = (flood.tick, last_send) {
                    until = until.min(at + tick);
                }
                if let Some(t) = hold_until {
                    until = until.min(t.max(now));
                }
            }
            if let Ok(incoming) = self
                .inbox
                .recv_timeout(until.saturating_duration_since(now))
            {
                self.handle(incoming, on_event);
            }
        }
    }

    /// Sends the next request; returns its sequence number and deadline if
    /// it left.
    fn send_next(
        &mut self,
        now: Instant,
        on_event: &mut dyn FnMut(&Event),
    ) -> Option<(u16, Instant)> {
        // Skip sequence numbers still waiting from their last time round.
        while self.probes.get(&self.next_seq).is_some_and(|p| p.waiting) {
            self.next_seq = self.next_seq.wrapping_add(1);
        }
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.stats.sent += 1;
        self.remember(seq);
        let echo = icmp::Echo {
            identifier: self.options.identifier,
            sequence_number: seq,
        };
        let mut packet = echo
            .as_echo_request(Blob::from(&self.payload[..]))
            .as_ipv4_payload()
            .as_packet(self.interface.nic().addr, self.target);
        packet.ttl = self.options.ttl;
        packet.identification = self.ip_id.wrapping_add(seq);
        if self.options.dont_fragment {
            packet.flags = ipv4::DONT_FRAGMENT;
        }
        match self.interface.send_packet(&packet) {
            Ok(sent) => {
                on_event(&Event::Sent {
                    seq,
                    frame: if self.keep_frames {
                        sent.frame().to_vec()
                    } else {
                        Vec::new()
                    },
                });
                let deadline = now + self.options.timeout;
                let p = self.probes.get_mut(&seq)?;
                p.sent = Some(sent);
                p.deadline = Some(deadline);
                p.waiting = true;
                self.in_flight.insert((p.serial, seq));
                Some((seq, deadline))
            }
            Err(Error::ArpTimeout(_)) => {
                on_event(&Event::HostUnreachable {
                    seq,
                    from: self.interface.nic().addr,
                });
                None
            }
            Err(Error::Interrupted) => None,
            Err(Error::NeedsFragmentation { .. }) => {
                on_event(&Event::NeedsFragmentation { seq });
                None
            }
            Err(e) => {
                on_event(&Event::SendFailed {
                    seq,
                    error: e.to_string(),
                });
                None
            }
        }
    }

    /// Request `seq` is no longer waiting (answered, failed or timed out).
    fn settle(&mut self, seq: u16) {
        let Some(p) = self.probes.get_mut(&seq) else {
            return;
        };
        if !std::mem::replace(&mut p.waiting, false) {
            return;
        }
        self.in_flight.remove(&(p.serial, seq));
        if let Some(sent) = p.sent.take() {
            // Kept for late replies; the capture has long seen the request.
            p.sent_at.get_or_insert_with(|| {
                sent.wire_timestamp(Duration::ZERO)
                    .unwrap_or(sent.queued_at())
            });
        }
        // Waited past its turn in `order`: forget it now.
        if p.serial + (MEMORY as u64) < self.serial {
            self.probes.remove(&seq);
        }
    }

    /// Request `seq` got no outcome in time.
    fn expire(&mut self, seq: u16, on_event: &mut dyn FnMut(&Event)) {
        if self.probes.get(&seq).is_some_and(|p| p.waiting) {
            self.settle(seq);
            on_event(&Event::Timeout { seq });
        }
    }

    fn remember(&mut self, seq: u16) {
        let serial = self.serial;
        self.serial += 1;
        self.probes.insert(
            seq,
            Probe {
                serial,
                sent: None,
                sent_at: None,
                deadline: None,
                waiting: false,
                answered: false,
                errored: false,
            },
        );
        self.order.push_back(seq);
        while self.order.len() > MEMORY {
            if let Some(old) = self.order.pop_front() {
                // One still waiting is forgotten when settled.
                if self.probes.get(&old).is_some_and(|p| !p.waiting) {
                    self.probes.remove(&old);
                }
            }
        }
    }

    /// Handles what arrives until `until`; returns true as soon as request
    /// `current` (if any) got its outcome (a reply or an ICMP error).
    fn drain_until(
        &mut self,
        until: Instant,
        current: Option<u16>,
        stop: &AtomicBool,
        on_event: &mut dyn FnMut(&Event),
    ) -> bool {
        loop {
            if stop.load(Ordering::SeqCst) {
                return false;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let Ok(incoming) = self.inbox.recv_timeout(left.min(STOP_CHECK)) else {
                continue;
            };
            let settled = self.handle(incoming, on_event);
            if settled.is_some() && settled == current {
                return true;
            }
        }
    }

    /// Reports one incoming message; returns the sequence number of the
    /// request it settles (a reply, an ICMP error, or a reply past the
    /// timeout), if any.
    fn handle(&mut self, incoming: Incoming, on_event: &mut dyn FnMut(&Event)) -> Option<u16> {
        match incoming {
            Incoming::Echo {
                seq,
                from,
                ttl,
                bytes,
                at,
                damage,
                frame,
            } => {
                if self.keep_frames {
                    on_event(&Event::Captured { frame });
                }
                // Not a request of this run (or long forgotten).
                let probe = self.probes.get_mut(&seq)?;
                if let Some(damage) = damage {
                    on_event(&Event::Damaged { seq, from, damage });
                    return None;
                }
                let sent_at = match (probe.sent_at, &probe.sent) {
                    (Some(t), _) => t,
                    (None, Some(sent)) => {
                        // When the reply is in, the capture has handed over our
                        // own frame (it came first); the wait is for platforms
                        // where that may not hold.
                        let t = sent
                            .wire_timestamp(Duration::ZERO)
                            .or_else(|| sent.wire_timestamp(self.own_frame_wait))
                            .unwrap_or(sent.queued_at());
                        probe.sent_at = Some(t);
                        t
                    }
                    (None, None) => at,
                };
                let reply = Reply {
                    seq,
                    from,
                    bytes,
                    rtt: at.since(sent_at),
                    ttl,
                };
                if probe.answered {
                    on_event(&Event::Duplicate(reply));
                    return None;
                }
                probe.answered = true;
                if !probe.waiting && probe.errored && reply.rtt <= self.options.timeout {
                    // An ICMP error came first (its probe is settled and the
                    // session went on), but this is the echo reply, in time.
                    self.stats.add(reply.rtt);
                    on_event(&Event::Reply(reply));
                    None
                } else if !probe.waiting {
                    // Timed out, or never sent.
                    on_event(&Event::Late(reply));
                    None
                } else if reply.rtt > self.options.timeout {
                    // In before we noticed, but past the timeout by the capture clock.
                    self.settle(seq);
                    on_event(&Event::Timeout { seq });
                    on_event(&Event::Late(reply));
                    Some(seq)
                } else {
                    self.stats.add(reply.rtt);
                    self.settle(seq);
                    on_event(&Event::Reply(reply));
                    Some(seq)
                }
            }
            Incoming::Error {
                seq,
                from,
                header,
                frame,
            } => {
                if self.keep_frames {
                    on_event(&Event::Captured { frame });
                }
                let probe = self.probes.get_mut(&seq).filter(|p| p.waiting)?;
                if matches!(
                    header,
                    icmp::Header::DestinationUnreachable { .. } | icmp::Header::TimeExceeded { .. }
                ) {
                    probe.errored = true;
                }
                match header {
                    icmp::Header::DestinationUnreachable { code, .. } => {
                        self.settle(seq);
                        on_event(&Event::Unreachable { seq, from, code });
                    }
                    icmp::Header::TimeExceeded { .. } => {
                        self.settle(seq);
                        on_event(&Event::TtlExpired { seq, from });
                    }
                    _ => return None,
                }
                Some(seq)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::memory::{self, nic, Peer, FAR, GW, GW_MAC, OUR_MAC, US};
    use crate::{arp, ethernet, parse};
    use std::thread::JoinHandle;

    /// How the peer answers echo request `seq`.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Answer {
        Once,
        Twice,
        /// A reply with a bad ICMP checksum at once, the good one after 1 ms.
        DamagedThenGood,
        Never,
        After(Duration),
        /// "Destination host unreachable" from the gateway.
        Unreachable,
        /// "Destination host unreachable" at once (forged, say), then the
        /// real reply after the delay.
        UnreachableThenReply(Duration),
    }

    fn frame(packet: ipv4::Packet<'_>) -> Vec<u8> {
        ethernet::Frame::new(OUR_MAC, GW_MAC, packet.as_ethernet_payload())
            .to_vec()
            .unwrap()
    }

    /// The gateway and the far host over the in-memory wire: answers our ARP
    /// for the gateway, and each echo request as `answer` says, until `done`.
    fn peer(
        peer: Peer,
        answer: impl Fn(u16) -> Answer + Send + 'static,
        done: Arc<AtomicBool>,
    ) -> JoinHandle<u32> {
        std::thread::spawn(move || {
            let mut later: Vec<(Instant, Vec<u8>)> = Vec::new();
            let mut requests = 0;
            while !done.load(Ordering::SeqCst) {
                let now = Instant::now();
                later.retain(|(at, f)| *at > now || peer.tx.send(f.clone()).is_err());
                let Ok(bytes) = peer.rx.recv_timeout(Duration::from_millis(1)) else {
                    continue;
                };
                let frame_in = parse::run(&bytes, ethernet::Frame::parse).unwrap();
                let packet = match frame_in.payload {
                    ethernet::Payload::ARP(p) if p.target_ip_addr == GW => {
                        let reply = arp::request(OUR_MAC, US, GW).reply(GW_MAC);
                        let f = ethernet::Frame::new(OUR_MAC, GW_MAC, reply.as_ethernet_payload());
                        peer.tx.send(f.to_vec().unwrap()).unwrap();
                        continue;
                    }
                    ethernet::Payload::IPv4(p) => p,
                    _ => continue,
                };
                let ipv4::Payload::ICMP(icmp::Packet {
                    header: icmp::Header::EchoRequest(echo),
                    payload,
                    ..
                }) = &packet.payload
                else {
                    continue;
                };
                requests += 1;
                let reply = frame(
                    echo.as_echo_reply(payload.clone())
                        .as_ipv4_payload()
                        .as_packet(FAR, US),
                );
                let now = Instant::now();
                match answer(echo.sequence_number) {
                    Answer::Once => later.push((now, reply)),
                    Answer::Twice => {
                        later.push((now, reply.clone()));
                        later.push((now, reply));
                    }
                    Answer::DamagedThenGood => {
                        let mut bad = reply.clone();
                        bad[14 + 20 + 2] ^= 0xff;
                        later.push((now, bad));
                        later.push((now + Duration::from_millis(1), reply));
                    }
                    Answer::Never => {}
                    Answer::After(delay) => later.push((now + delay, reply)),
                    Answer::Unreachable | Answer::UnreachableThenReply(_) => {
                        if let Answer::UnreachableThenReply(delay) = answer(echo.sequence_number) {
                            later.push((now + delay, reply));
                        }
                        let quote = packet.to_vec().unwrap()[..28].to_vec();
                        let error = icmp::Packet::new(
                            icmp::Header::DestinationUnreachable {
                                code: icmp::UnreachableCode::Host,
                                unused: 0,
                                next_hop_mtu: 0,
                            },
                            Blob::from(quote),
                        )
                        .as_ipv4_payload()
                        .as_packet(GW, US);
                        later.push((now, frame(error)));
                    }
                }
            }
            requests
        })
    }

    /// What a flood reported, counted by kind.
    #[derive(Debug, Default)]
    struct Tally {
        sent: u32,
        replies: u32,
        duplicates: u32,
        late: u32,
        damaged: u32,
        timeouts: u32,
        unreachable: u32,
        /// Most requests sent and not yet settled, by the events.
        most_in_flight: u32,
    }

    impl Tally {
        fn add(&mut self, event: &Event) {
            match event {
                Event::Sent { .. } => self.sent += 1,
                Event::Reply(_) => self.replies += 1,
                Event::Duplicate(_) => self.duplicates += 1,
                Event::Late(_) => self.late += 1,
                Event::Damaged { .. } => self.damaged += 1,
                Event::Timeout { .. } => self.timeouts += 1,
                Event::Unreachable { .. } => self.unreachable += 1,
                _ => {}
            }
            // (A reply after an ICMP error settles its request a second time.)
            let settled = self.replies + self.timeouts + self.unreachable;
            self.most_in_flight = self.most_in_flight.max(self.sent.saturating_sub(settled));
        }
    }

    /// Runs a flood against a peer answering as `answer` says.
    fn flood_with(
        answer: impl Fn(u16) -> Answer + Send + 'static,
        flood: Flood,
        timeout: Duration,
        stop_after: Option<u32>,
    ) -> (Tally, Statistics, Duration, u32) {
        let (link, wire) = memory::wire();
        let interface = Interface::with_link(nic(), None, link);
        let done = Arc::new(AtomicBool::new(false));
        let peer = peer(wire, answer, done.clone());
        let options = Options {
            timeout,
            ..Options::default()
        };
        let mut session = Session::new(&interface, FAR, options, false);
        let stop = AtomicBool::new(false);
        let mut tally = Tally::default();
        let started = Instant::now();
        session.flood(&flood, &stop, &mut |event| {
            tally.add(event);
            if stop_after.is_some_and(|n| tally.sent >= n) {
                stop.store(true, Ordering::SeqCst);
            }
        });
        let took = started.elapsed();
        done.store(true, Ordering::SeqCst);
        let requests = peer.join().unwrap();
        (tally, session.statistics().clone(), took, requests)
    }

    #[test]
    fn flood_counts_every_reply_once() {
        let (tally, stats, _, requests) = flood_with(
            |_| Answer::Once,
            Flood {
                count: Some(2000),
                window: 16,
                ..Flood::default()
            },
            Duration::from_secs(2),
            None,
        );
        assert_eq!((stats.sent, stats.received, requests), (2000, 2000, 2000));
        assert_eq!((tally.sent, tally.replies, tally.timeouts), (2000, 2000, 0));
        assert!(tally.most_in_flight <= 16, "{tally:?}");
    }

    #[test]
    fn flood_keeps_the_window_full_not_lock_step() {
        // Every reply takes 5 ms: lock-step would need 320 ms for 64.
        let (tally, stats, took, _) = flood_with(
            |_| Answer::After(Duration::from_millis(5)),
            Flood {
                count: Some(64),
                window: 8,
                tick: None,
            },
            Duration::from_secs(2),
            None,
        );
        assert_eq!((stats.sent, stats.received), (64, 64));
        assert_eq!(tally.most_in_flight, 8, "{tally:?}");
        assert!(took < Duration::from_millis(250), "{took:?}");
    }

    #[test]
    fn flood_accounting_is_exact() {
        let answer = |seq: u16| match seq % 10 {
            0 => Answer::Twice,
            1 => Answer::DamagedThenGood,
            2 => Answer::Never,
            3 => Answer::After(Duration::from_millis(700)),
            4 => Answer::Unreachable,
            _ => Answer::Once,
        };
        let (tally, stats, _, requests) = flood_with(
            answer,
            Flood {
                count: Some(200),
                window: 16,
                ..Flood::default()
            },
            // Long enough for a busy test machine never to delay a reply past it.
            Duration::from_millis(300),
            None,
        );
        assert_eq!(requests, 200);
        // Seq 1 to 200: 20 of each kind.
        assert_eq!(stats.sent, 200);
        assert_eq!(stats.received, 140, "{tally:?}");
        assert_eq!(tally.replies, 140);
        assert_eq!(tally.duplicates, 20, "{tally:?}");
        assert_eq!(tally.damaged, 20, "{tally:?}");
        // Never, and too late: timed out.
        assert_eq!(tally.timeouts, 40, "{tally:?}");
        assert_eq!(tally.unreachable, 20, "{tally:?}");
        assert!(tally.late <= 20, "{tally:?}");
        assert_eq!(stats.lost(), 60);
    }

    #[test]
    fn echo_reply_after_an_icmp_error_still_counts_within_the_timeout() {
        // Every request: an "unreachable" at once (forged, say), then the
        // real reply; for odd ones 20 ms later (in time), for even ones
        // 150 ms later (past the 100 ms timeout: late, not counted). The
        // requests go 60 ms apart, so both come while the session runs.
        let (link, wire) = memory::wire();
        let interface = Interface::with_link(nic(), None, link);
        let done = Arc::new(AtomicBool::new(false));
        let answer = |seq: u16| {
            Answer::UnreachableThenReply(Duration::from_millis(if seq % 2 == 1 { 20 } else { 150 }))
        };
        let peer = peer(wire, answer, done.clone());
        let options = Options {
            timeout: Duration::from_millis(100),
            interval: Duration::from_millis(60),
            ..Options::default()
        };
        let mut session = Session::new(&interface, FAR, options, false);
        let stop = AtomicBool::new(false);
        let mut tally = Tally::default();
        for _ in 0..6 {
            session.probe(&stop, &mut |e| tally.add(e));
        }
        // What a session still running would see of the last requests.
        std::thread::sleep(Duration::from_millis(200));
        session.probe(&stop, &mut |e| tally.add(e));
        done.store(true, Ordering::SeqCst);
        peer.join().unwrap();
        assert_eq!(tally.sent, 7, "{tally:?}");
        assert_eq!(tally.unreachable, 7, "{tally:?}");
        // Seq 1, 3 and 5 (7 ends the session before its reply).
        assert_eq!(tally.replies, 3, "{tally:?}");
        assert_eq!(session.statistics().received, 3, "{tally:?}");
        assert_eq!(tally.late, 3, "seq 2, 4, 6: {tally:?}");
        assert_eq!(tally.timeouts, 0, "an error settles its request: {tally:?}");
    }

    #[test]
    fn flood_ticks_when_nothing_comes_back() {
        let (tally, stats, took, requests) = flood_with(
            |_| Answer::Never,
            Flood {
                count: Some(20),
                window: 4,
                tick: Some(Duration::from_millis(10)),
            },
            Duration::from_millis(100),
            None,
        );
        assert_eq!((stats.sent, stats.received, requests), (20, 0, 20));
        assert_eq!(tally.timeouts, 20);
        // 4 at once, then one a tick (16 ticks), then the last timeout.
        assert!(
            took >= Duration::from_millis(250) && took < Duration::from_secs(2),
            "{took:?}"
        );
        assert!(
            tally.most_in_flight > 4,
            "ticks go past the window: {tally:?}"
        );
    }

    #[test]
    fn flood_without_tick_never_exceeds_the_window() {
        let (tally, stats, _, _) = flood_with(
            |seq| {
                if seq % 2 == 0 {
                    Answer::Never
                } else {
                    Answer::Once
                }
            },
            Flood {
                count: Some(40),
                window: 4,
                tick: None,
            },
            Duration::from_millis(200),
            None,
        );
        assert_eq!((stats.sent, stats.received), (40, 20));
        assert!(tally.most_in_flight <= 4, "{tally:?}");
    }

    #[test]
    fn flood_stops_when_asked() {
        let (tally, stats, took, _) = flood_with(
            |_| Answer::Once,
            Flood::default(),
            Duration::from_secs(2),
            Some(500),
        );
        assert!(stats.sent >= 500 && tally.sent == stats.sent, "{tally:?}");
        assert!(took < Duration::from_secs(10), "{took:?}");
    }

    #[test]
    fn flood_past_65536_requests_wraps_sequence_numbers() {
        let (tally, stats, _, _) = flood_with(
            |_| Answer::Once,
            Flood {
                count: Some(66_000),
                ..Flood::default()
            },
            Duration::from_secs(2),
            None,
        );
        assert_eq!((stats.sent, stats.received), (66_000, 66_000));
        assert_eq!(tally.duplicates + tally.late, 0);
    }

    #[test]
    fn probe_is_lock_step_and_counts_its_reply() {
        let (link, wire) = memory::wire();
        let interface = Interface::with_link(nic(), None, link);
        let done = Arc::new(AtomicBool::new(false));
        let answer = |seq: u16| {
            if seq == 2 {
                Answer::Never
            } else {
                Answer::Twice
            }
        };
        let peer = peer(wire, answer, done.clone());
        let options = Options {
            timeout: Duration::from_millis(200),
            interval: Duration::from_millis(10),
            ..Options::default()
        };
        let mut session = Session::new(&interface, FAR, options, false);
        let stop = AtomicBool::new(false);
        let mut tally = Tally::default();
        for _ in 0..3 {
            session.probe(&stop, &mut |e| tally.add(e));
        }
        done.store(true, Ordering::SeqCst);
        peer.join().unwrap();
        assert_eq!((tally.sent, tally.replies, tally.timeouts), (3, 2, 1));
        // The second copy of reply 1 shows up as a duplicate before request 2.
        assert!(tally.duplicates >= 1, "{tally:?}");
        assert_eq!(session.statistics().received, 2);
    }

    #[test]
    fn payload_is_windows_alphabet() {
        assert_eq!(payload(32), b"abcdefghijklmnopqrstuvwabcdefghi");
        assert_eq!(payload(0), b"");
        assert_eq!(payload(25), b"abcdefghijklmnopqrstuvwab");
        assert_eq!(payload(MAX_SIZE).len(), MAX_SIZE);
    }

    #[test]
    fn statistics_like_ping_exe() {
        let mut s = Statistics::default();
        assert_eq!((s.lost(), s.loss_percent(), s.average()), (0, 0, None));
        s.sent = 3;
        s.add(Duration::from_micros(41));
        s.add(Duration::from_micros(52));
        assert_eq!(s.lost(), 1);
        assert_eq!(s.loss_percent(), 33);
        assert_eq!(s.min, Some(Duration::from_micros(41)));
        assert_eq!(s.max, Some(Duration::from_micros(52)));
        assert_eq!(s.average(), Some(Duration::from_nanos(46_500)));
    }
}
