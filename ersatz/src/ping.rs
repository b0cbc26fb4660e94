//! Echo probes: ICMP echo requests built by ersatz, replies matched by
//! source, identifier, sequence number and payload, ICMP errors matched
//! through the request they quote; and [`Session`], the ping `sup` runs.
//!
//! [`EchoProbe`] is the echo [`probe::Kind`] for the [`probe`] engine: to one
//! target (a ping) or to many under one identifier (a sweep). [`Session`]
//! drives the engine for one target the way ping.exe does: one request at a
//! time ([`Session::probe`], [`Session::run`]), or a window of requests in
//! flight like `ping -f` ([`Session::flood`]), and reports [`Event`]s in
//! ping's terms.
//!
//! What counts as received is stricter than `ping.exe`: only an echo reply
//! from the target, with good checksums and our exact payload, for a request
//! not answered before. Duplicates, damaged replies, late replies and ICMP
//! errors are reported as what they are and never counted.

use std::ops::ControlFlow;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use crate::interface::{self, EchoKey, InterfaceRef, Received, Sent, Subscription, Topic};
use crate::probe::{self, Answer, Engine, IcmpError, Inbox, Outcome, Pace, Plan};
use crate::{icmp, ipv4, Blob, Interface};

pub use crate::probe::{Damage, Statistics, MAX_IN_FLIGHT};

/// Windows ping's payload: this alphabet, repeated and cut to the size.
pub const PATTERN: &[u8] = b"abcdefghijklmnopqrstuvw";
/// Largest payload `ping.exe -l` accepts.
pub const MAX_SIZE: usize = 65500;

/// The payload of `size` bytes, as Windows ping fills it.
pub fn payload(size: usize) -> Vec<u8> {
    PATTERN.iter().copied().cycle().take(size).collect()
}

/// How to ping: [`Options::default`] and the builder-style setters.
///
/// ```
/// use std::time::Duration;
/// use ersatz::ping::Options;
///
/// let options = Options::default().size(56).ttl(64).timeout(Duration::from_secs(1));
/// assert_eq!((options.size, options.ttl, options.interval), (56, 64, Duration::from_secs(1)));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
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
    /// The events carry the frames' bytes ([`Event::Sent`]'s frame,
    /// [`Event::Captured`]), for hex dumps (off by default).
    pub keep_frames: bool,
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
            keep_frames: false,
        }
    }
}

impl Options {
    /// Sets [`Options::size`].
    #[must_use]
    pub fn size(mut self, size: usize) -> Self {
        self.size = size;
        self
    }

    /// Sets [`Options::ttl`].
    #[must_use]
    pub fn ttl(mut self, ttl: u8) -> Self {
        self.ttl = ttl;
        self
    }

    /// Sets [`Options::dont_fragment`].
    #[must_use]
    pub fn dont_fragment(mut self, dont_fragment: bool) -> Self {
        self.dont_fragment = dont_fragment;
        self
    }

    /// Sets [`Options::timeout`].
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets [`Options::interval`].
    #[must_use]
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Sets [`Options::identifier`].
    #[must_use]
    pub fn identifier(mut self, identifier: u16) -> Self {
        self.identifier = identifier;
        self
    }

    /// Sets [`Options::keep_frames`].
    #[must_use]
    pub fn keep_frames(mut self, keep_frames: bool) -> Self {
        self.keep_frames = keep_frames;
        self
    }
}

/// What an echo reply says besides its source and round-trip time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct EchoReply {
    /// The reply's TTL.
    pub ttl: u8,
    /// Payload bytes.
    pub bytes: usize,
}

/// Echo requests as a [`probe::Kind`]: each job is a target address; keys
/// are [`EchoKey`]s under one identifier, sequence numbers counting up from
/// 1 (skipping any still waiting from their last time round).
#[derive(Debug, Clone)]
pub struct EchoProbe {
    us: ipv4::Addr,
    /// The only target, if there is one (its listener is then keyed by peer too).
    target: Option<ipv4::Addr>,
    identifier: u16,
    payload: Arc<[u8]>,
    ttl: u8,
    dont_fragment: bool,
    /// IPv4 identification of sequence number 0; request `seq` has
    /// `ip_id + seq`, so that requests in flight never share one.
    ip_id: u16,
    next_seq: u16,
}

impl EchoProbe {
    /// Echo requests from `nic` with `options` (interval and timeout are
    /// the engine's [`Pace`]), to `target` only, or to any target (a sweep)
    /// when `None`.
    pub fn new(nic: &crate::netinfo::NIC, target: Option<ipv4::Addr>, options: &Options) -> Self {
        EchoProbe {
            us: nic.addr,
            target,
            identifier: options.identifier,
            payload: payload(options.size).into(),
            ttl: options.ttl,
            dont_fragment: options.dont_fragment,
            ip_id: rand::random(),
            next_seq: 1,
        }
    }

    /// The echo identifier of every request.
    pub fn identifier(&self) -> u16 {
        self.identifier
    }

    /// The echo request to `target` with `key` (for a kind that sends it
    /// its own way, e.g. to a MAC it learned).
    pub fn request(&self, target: ipv4::Addr, key: &EchoKey) -> ipv4::Packet<'_> {
        let mut packet = key
            .echo
            .into_echo_request(Blob::from(&self.payload[..]))
            .into_ipv4_payload()
            .into_packet(self.us, target);
        packet.ttl = self.ttl;
        packet.identification = self.ip_id.wrapping_add(key.echo.sequence_number);
        if self.dont_fragment {
            packet.flags = ipv4::DONT_FRAGMENT;
        }
        packet
    }
}

impl probe::Kind for EchoProbe {
    type Job = ipv4::Addr;
    type Key = EchoKey;
    type Reply = EchoReply;

    fn listen(&self, interface: &Interface, inbox: Inbox<EchoKey, EchoReply>) -> Vec<Subscription> {
        let topic = match self.target {
            // Keyed by target and identifier: one hash lookup per packet,
            // with any number of other listeners on the interface.
            Some(peer) => Topic::Echoes {
                peer,
                identifier: self.identifier,
            },
            None => Topic::Identifier(self.identifier),
        };
        let (us, identifier, payload) = (self.us, self.identifier, self.payload.clone());
        vec![interface.subscribe(topic, move |r| {
            match classify(r, us, identifier, &payload, &inbox) {
                Some(answer) => inbox.deliver(answer),
                None => ControlFlow::Continue(()),
            }
        })]
    }

    fn key(&mut self, target: &ipv4::Addr, in_use: &dyn Fn(&EchoKey) -> bool) -> EchoKey {
        let key = |seq| EchoKey {
            peer: *target,
            echo: icmp::Echo {
                identifier: self.identifier,
                sequence_number: seq,
            },
        };
        // Skip sequence numbers still waiting from their last time round
        // (there are at most MAX_IN_FLIGHT of them).
        let (seq, next) = probe::first_free(
            self.next_seq,
            |seq| in_use(&key(seq)),
            |seq| seq.wrapping_add(1),
        );
        self.next_seq = next;
        key(seq)
    }

    fn send(
        &mut self,
        interface: &Interface,
        target: &ipv4::Addr,
        key: &EchoKey,
    ) -> Result<Sent, interface::Error> {
        interface.send_packet(&self.request(*target, key))
    }
}

/// The filter run on the capture thread for packets with our identifier
/// (and the target, for one): echo replies, and ICMP errors (good
/// checksums) quoting one of our requests.
fn classify(
    r: &Received<'_>,
    us: ipv4::Addr,
    identifier: u16,
    payload: &[u8],
    inbox: &Inbox<EchoKey, EchoReply>,
) -> Option<Answer<EchoKey, EchoReply>> {
    let ipv4::Payload::ICMP(message) = &r.packet.payload else {
        return None;
    };
    match message.header {
        icmp::Header::EchoReply(echo) if echo.identifier == identifier => {
            let outcome = if !r.packet.checksum_ok {
                Outcome::Damaged(Damage::Ipv4Checksum)
            } else if !message.checksum_ok {
                Outcome::Damaged(Damage::IcmpChecksum)
            } else if &message.payload[..] != payload {
                Outcome::Damaged(Damage::Payload)
            } else {
                Outcome::Reply(EchoReply {
                    ttl: r.packet.ttl,
                    bytes: message.payload.len(),
                })
            };
            Some(Answer {
                key: EchoKey {
                    peer: r.packet.src,
                    echo,
                },
                from: r.packet.src,
                at: r.timestamp,
                outcome,
                frame: inbox.frame(r.frame),
            })
        }
        header if header.is_error() && message.checksum_ok && r.packet.checksum_ok => {
            let quote = message.original()?;
            let echo = quote.echo_request()?;
            if echo.identifier != identifier || quote.packet.src != us {
                return None;
            }
            let outcome = match header {
                icmp::Header::DestinationUnreachable { code, .. } => {
                    Outcome::Error(IcmpError::Unreachable(code))
                }
                icmp::Header::TimeExceeded { .. } => Outcome::Error(IcmpError::TtlExpired),
                _ => Outcome::Seen,
            };
            Some(Answer {
                key: EchoKey {
                    peer: quote.packet.dst,
                    echo,
                },
                from: r.packet.src,
                at: r.timestamp,
                outcome,
                frame: inbox.frame(r.frame),
            })
        }
        _ => None,
    }
}

/// An echo reply.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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

/// Something that happened during a session, in the order it happened.
/// New kinds may be added in minor releases: match with a `_` arm.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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

impl Event {
    /// The session event for an engine event, if it has one.
    fn of(event: &probe::Event<'_, EchoProbe>, us: ipv4::Addr, keep_frames: bool) -> Option<Self> {
        let reply = |a: &probe::Answered<'_, EchoProbe>| Reply {
            seq: a.probe.key.echo.sequence_number,
            from: a.from,
            bytes: a.reply.bytes,
            rtt: a.rtt,
            ttl: a.reply.ttl,
        };
        let seq = |key: &EchoKey| key.echo.sequence_number;
        Some(match event {
            probe::Event::Sent { probe, sent } => Event::Sent {
                seq: seq(probe.key),
                frame: if keep_frames {
                    sent.frame().to_vec()
                } else {
                    Vec::new()
                },
            },
            probe::Event::Reply(a) => Event::Reply(reply(a)),
            probe::Event::Duplicate(a) => Event::Duplicate(reply(a)),
            probe::Event::Late(a) => Event::Late(reply(a)),
            probe::Event::Damaged {
                probe,
                from,
                damage,
            } => Event::Damaged {
                seq: seq(probe.key),
                from: *from,
                damage: *damage,
            },
            probe::Event::Error {
                probe,
                from,
                error: IcmpError::Unreachable(code),
            } => Event::Unreachable {
                seq: seq(probe.key),
                from: *from,
                code: *code,
            },
            probe::Event::Error {
                probe,
                from,
                error: IcmpError::TtlExpired,
            } => Event::TtlExpired {
                seq: seq(probe.key),
                from: *from,
            },
            probe::Event::Timeout { probe, .. } => Event::Timeout {
                seq: seq(probe.key),
            },
            probe::Event::SendFailed { probe, error } => match (error, seq(probe.key)) {
                (interface::Error::ArpTimeout(_), seq) => Event::HostUnreachable { seq, from: us },
                (interface::Error::NeedsFragmentation { .. }, seq) => {
                    Event::NeedsFragmentation { seq }
                }
                (e, seq) => Event::SendFailed {
                    seq,
                    error: e.to_string(),
                },
            },
            probe::Event::Captured { frame } => Event::Captured {
                frame: frame.to_vec(),
            },
            // A reply to a request long forgotten: as before the engine, nothing.
            probe::Event::Stray { .. } => return None,
        })
    }
}

/// How [`Session::flood`] runs: [`Flood::default`] and the builder-style
/// setters.
///
/// ```
/// use std::time::Duration;
/// use ersatz::ping::Flood;
///
/// let flood = Flood::default().count(Some(1000)).window(16);
/// assert_eq!((flood.count, flood.window, flood.tick), (Some(1000), 16, Some(Duration::from_millis(10))));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
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

/// The default [`Flood::window`]: 128 requests in flight.
// Replies reach the session in batches (the capture thread naps between
// looks while busy: see `capture::BUSY`), so the window must cover a nap's
// worth of requests; in the lab 64 and 128 were 10-20% faster than 32, 256
// no faster than 128.
pub const FLOOD_WINDOW: usize = 128;

/// Largest [`Flood::window`].
pub const MAX_WINDOW: usize = 256;

impl Flood {
    /// Sets [`Flood::count`].
    #[must_use]
    pub fn count(mut self, count: Option<u32>) -> Self {
        self.count = count;
        self
    }

    /// Sets [`Flood::window`].
    #[must_use]
    pub fn window(mut self, window: usize) -> Self {
        self.window = window;
        self
    }

    /// Sets [`Flood::tick`].
    #[must_use]
    pub fn tick(mut self, tick: Option<Duration>) -> Self {
        self.tick = tick;
        self
    }
}

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

/// A ping of one target: the [`probe`] engine with [`EchoProbe`]s, reporting
/// ping's [`Event`]s. Call [`Session::probe`] for each request,
/// [`Session::run`] for several, or [`Session::flood`].
///
/// A session on a shared interface (`Arc<Interface>`) is a
/// `Session<'static>`: it borrows nothing, and can be stored in a struct
/// or moved to another thread. For a ping that checks everything in one
/// call, see [`crate::Pinger`], which is built on it.
///
/// ```no_run
/// use std::sync::{atomic::AtomicBool, Arc};
/// use ersatz::ping::{Event, Options, Session};
/// use ersatz::Interface;
///
/// # fn main() -> Result<(), ersatz::Error> {
/// let target = "10.77.2.2".parse()?;
/// let interface = Arc::new(Interface::open_for(target)?);
/// let mut session = Session::new(interface, target, Options::default());
/// session.run(Some(4), &AtomicBool::new(false), &mut |event: &Event| {
///     if let Event::Reply(reply) = event {
///         println!("{} bytes from {}: time={:?}", reply.bytes, reply.from, reply.rtt);
///     }
/// });
/// println!("{} of {} answered", session.statistics().received, session.statistics().sent);
/// # Ok(()) }
/// ```
pub struct Session<'i> {
    engine: Engine<'i, EchoProbe>,
    target: ipv4::Addr,
    options: Options,
    /// Whether the engine is at ping's lock step (else a flood's window).
    lock_step: bool,
}

/// The engine's plan for a session: `count` requests to the target (`None`:
/// until stopped), each event turned into ping's.
struct Requests<'f> {
    target: ipv4::Addr,
    count: Option<u32>,
    us: ipv4::Addr,
    keep_frames: bool,
    on_event: &'f mut dyn FnMut(&Event),
}

impl Plan<EchoProbe> for Requests<'_> {
    fn next(&mut self) -> Option<ipv4::Addr> {
        match &mut self.count {
            Some(0) => None,
            Some(n) => {
                *n -= 1;
                Some(self.target)
            }
            None => Some(self.target),
        }
    }

    fn event(&mut self, event: &probe::Event<'_, EchoProbe>) {
        if let Some(event) = Event::of(event, self.us, self.keep_frames) {
            (self.on_event)(&event);
        }
    }
}

impl<'i> Session<'i> {
    /// Starts listening for replies from `target` on `interface`, borrowed
    /// (`&Interface`) or shared (`Arc<Interface>`, for a session that
    /// borrows nothing). Nothing is sent yet. With
    /// [`Options::keep_frames`], the events carry the frames' bytes (for
    /// `-v` hex dumps).
    pub fn new(
        interface: impl Into<InterfaceRef<'i>>,
        target: ipv4::Addr,
        options: Options,
    ) -> Self {
        let interface = interface.into();
        let kind = EchoProbe::new(interface.nic(), Some(target), &options);
        let pace = Pace::lock_step(options.interval, options.timeout);
        Session {
            engine: Engine::new(interface, kind, pace, options.keep_frames),
            target,
            options,
            lock_step: true,
        }
    }

    /// The target.
    pub fn target(&self) -> ipv4::Addr {
        self.target
    }

    /// The statistics so far.
    pub fn statistics(&self) -> &Statistics {
        self.engine.statistics()
    }

    /// The options in force.
    pub fn options(&self) -> &Options {
        &self.options
    }

    fn requests<'f>(
        &self,
        count: Option<u32>,
        on_event: &'f mut dyn FnMut(&Event),
    ) -> Requests<'f> {
        Requests {
            target: self.target,
            count,
            us: self.engine.interface().nic().addr,
            keep_frames: self.options.keep_frames,
            on_event,
        }
    }

    /// Back to ping's lock step after a flood.
    fn lock_step(&mut self) {
        if !self.lock_step {
            self.engine
                .set_pace(Pace::lock_step(self.options.interval, self.options.timeout));
            self.lock_step = true;
        }
    }

    /// Sends the next request and waits for its outcome, reporting every
    /// event to `on_event` as it happens: first, until the interval since the
    /// previous request has passed, duplicates and late replies; then the
    /// request, and its reply, error or timeout. Returns early (with the
    /// request sent but unanswered) when `stop` is set.
    pub fn probe(&mut self, stop: &AtomicBool, on_event: &mut dyn FnMut(&Event)) {
        self.run(Some(1), stop, on_event);
    }

    /// Sends `count` requests (`None`: until `stop` is set) as
    /// [`Session::probe`] does, one after the other.
    pub fn run(&mut self, count: Option<u32>, stop: &AtomicBool, on_event: &mut dyn FnMut(&Event)) {
        self.lock_step();
        let mut plan = self.requests(count, on_event);
        self.engine.run(&mut plan, stop);
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
        self.engine
            .set_pace(Pace::flood(window, flood.tick, self.options.timeout));
        self.lock_step = false;
        let mut plan = self.requests(flood.count, on_event);
        self.engine.run(&mut plan, stop);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::memory::{self, nic, Peer, FAR, GW, GW_MAC, OUR_MAC, US};
    use crate::{arp, ethernet, parse};
    use std::sync::atomic::Ordering;
    use std::thread::JoinHandle;
    use std::time::Instant;

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
        ethernet::Frame::new(OUR_MAC, GW_MAC, packet.into_ethernet_payload())
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
                later.retain(|(at, f)| *at > now || peer.send(f.clone()).is_err());
                let Ok(bytes) = peer.rx.recv_timeout(Duration::from_millis(1)) else {
                    continue;
                };
                let frame_in = parse::run(&bytes, ethernet::Frame::parse).unwrap();
                let packet = match frame_in.payload {
                    ethernet::Payload::ARP(p) if p.target_ip_addr == GW => {
                        let reply = arp::request(OUR_MAC, US, GW).reply(GW_MAC);
                        let f =
                            ethernet::Frame::new(OUR_MAC, GW_MAC, reply.into_ethernet_payload());
                        peer.send(f.to_vec().unwrap()).unwrap();
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
                    echo.into_echo_reply(payload.clone())
                        .into_ipv4_payload()
                        .into_packet(FAR, US),
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
                        .into_ipv4_payload()
                        .into_packet(GW, US);
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
        let mut session = Session::new(&interface, FAR, options);
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
        let mut session = Session::new(&interface, FAR, options);
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
        let mut session = Session::new(&interface, FAR, options);
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
