//! Traceroute on the [`probe`] engine: where on the path the packets go,
//! hop by hop, as `tracert` shows it, every hop probed at once, and as
//! `mtr`'s report (loss and round-trip times per hop over many cycles).
//!
//! Each probe is an ICMP echo request to the target with a small TTL: the
//! router where the TTL runs out answers "time exceeded", quoting it; the
//! target answers with an echo reply. Every probe keeps one identifier and
//! a checksum that does not change (the first two payload bytes make up for
//! the sequence number), so a load balancer that hashes the ICMP header
//! keeps all of them on one path, as Paris traceroute does. Answers are
//! matched by the request quoted in the error, or by the reply's sequence
//! number.
//!
//! Probes for every TTL go out together, paced; the trace ends at the first
//! hop where the target answers (or a router says it is unreachable). A
//! silent hop costs no more than one timeout, and less once hops beyond it
//! answered: its probes are given up after ten times the round-trip time of
//! those (at least [`Options::min_wait`]), as Linux traceroute does.
//!
//! ```no_run
//! use std::sync::atomic::AtomicBool;
//! use ersatz::{netinfo, trace, Interface};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let target = "10.78.3.2".parse()?;
//! let interface = Interface::open_route(netinfo::route_to(target)?)?;
//! let traced = trace::run(&interface, target, &trace::Options::default(), &AtomicBool::new(false), |_| {}, |_, _| {});
//! for hop in &traced.hops {
//!     println!("{:2} {:?}", hop.ttl, hop.hosts);
//! }
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

mod syn;

pub use syn::SynTraceProbe;

use crate::icmp::UnreachableCode;
use crate::interface::{self, EchoKey, Received, Sent, Subscription, Topic};
use crate::port::{self, PortReply, ResetOpen};
use crate::probe::{self, Answer, Damage, Engine, Event, Inbox, Outcome, Pace, Plan, Statistics};
use crate::{icmp, ipv4, ping, Blob, Interface};

/// How to trace.
#[derive(Debug, Clone)]
pub struct Options {
    /// The highest TTL tried (`-h`; 30 by default, as tracert).
    pub max_hops: u8,
    /// Probes per hop in each cycle (3 for a trace, 1 for a report).
    pub probes: u8,
    /// How long a probe waits for its answer at most (`-w`; 4 s by default).
    pub timeout: Duration,
    /// Payload bytes of each echo request (`-l`; 32 by default).
    pub size: usize,
    /// The echo identifier (random by default).
    pub identifier: u16,
    /// Cycles: `Some(1)` for a trace, `Some(n)` for a report, `None` to
    /// go on until stopped.
    pub cycles: Option<u32>,
    /// Time from the start of one cycle to the next.
    pub cycle_interval: Duration,
    /// Time between two probes of a cycle (they go out paced, not in a burst).
    pub interval: Duration,
    /// A probe of a silent hop is given up after this many times the
    /// round-trip time of an answer from beyond it...
    pub near: u32,
    /// ...but not before this.
    pub min_wait: Duration,
    /// What each probe is: an echo request (tracert, mtr) or a TCP SYN
    /// (tcptraceroute, `mtr --tcp`).
    pub method: Method,
}

/// What a trace sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    /// ICMP echo requests: the target answers with echo replies.
    #[default]
    Echo,
    /// TCP SYNs to this port, through firewalls that drop ICMP echo: the
    /// target answers with a SYN-ACK (then our RST) or an RST. See
    /// [`SynTraceProbe`].
    Tcp(u16),
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_hops: 30,
            probes: 3,
            timeout: Duration::from_secs(4),
            size: 32,
            identifier: rand::random(),
            cycles: Some(1),
            cycle_interval: Duration::from_secs(1),
            interval: Duration::from_micros(500),
            near: 10,
            min_wait: Duration::from_millis(5),
            method: Method::Echo,
        }
    }
}

/// Who answered a probe, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reached {
    /// A router: the probe's TTL ran out there (time exceeded).
    Router,
    /// The target: an echo reply.
    Target,
    /// A router or the target said the target is unreachable.
    Unreachable(UnreachableCode),
}

/// What an answer to a trace probe says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceReply {
    /// Who answered, and how.
    pub reached: Reached,
    /// For a TCP probe answered by the target: what it said of the port.
    pub port: Option<PortReply>,
}

/// One probe of a trace: its TTL, which of the hop's probes it is, and in
/// which cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Job {
    /// The cycle (0 for the first).
    pub cycle: u32,
    /// The TTL: the hop it asks about.
    pub ttl: u8,
    /// Which of the hop's probes in the cycle (0 for the first).
    pub n: u8,
}

/// Echo requests with a TTL as a [`probe::Kind`], to one target.
#[derive(Debug, Clone)]
pub struct TraceProbe {
    us: ipv4::Addr,
    target: ipv4::Addr,
    identifier: u16,
    size: usize,
    /// IPv4 identification of sequence number 0 (as ping's).
    ip_id: u16,
    next_seq: u16,
}

impl TraceProbe {
    /// Probes from `nic` to `target`.
    pub fn new(nic: &crate::netinfo::NIC, target: ipv4::Addr, options: &Options) -> Self {
        TraceProbe {
            us: nic.addr,
            target,
            identifier: options.identifier,
            size: options.size.min(ping::MAX_SIZE),
            ip_id: rand::random(),
            next_seq: 1,
        }
    }
}

/// The payload of the probe with sequence number `seq`: ping's alphabet,
/// its first two bytes the complement of `seq`, so that the ICMP checksum
/// is the same for every probe (seq + !seq = 0xffff in ones' complement).
/// Shorter than two bytes, it cannot make up for it.
pub fn payload(seq: u16, size: usize) -> Vec<u8> {
    let mut bytes = ping::payload(size);
    if size >= 2 {
        bytes[..2].copy_from_slice(&(!seq).to_be_bytes());
    }
    bytes
}

impl probe::Kind for TraceProbe {
    type Job = Job;
    type Key = EchoKey;
    type Reply = TraceReply;

    fn listen(
        &self,
        interface: &Interface,
        inbox: Inbox<EchoKey, TraceReply>,
    ) -> Vec<Subscription> {
        let (us, target, identifier, size) = (self.us, self.target, self.identifier, self.size);
        let topic = Topic::Echoes {
            peer: target,
            identifier,
        };
        vec![interface.subscribe(topic, move |r| {
            match classify(r, us, identifier, size, &inbox) {
                Some(answer) => inbox.deliver(answer),
                None => ControlFlow::Continue(()),
            }
        })]
    }

    fn key(&mut self, _: &Job, in_use: &dyn Fn(&EchoKey) -> bool) -> EchoKey {
        let key = |seq| EchoKey {
            peer: self.target,
            echo: icmp::Echo {
                identifier: self.identifier,
                sequence_number: seq,
            },
        };
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
        job: &Job,
        key: &EchoKey,
    ) -> Result<Sent, interface::Error> {
        let seq = key.echo.sequence_number;
        let mut packet = key
            .echo
            .into_echo_request(Blob::from(payload(seq, self.size)))
            .into_ipv4_payload()
            .into_packet(self.us, self.target);
        packet.ttl = job.ttl;
        packet.identification = self.ip_id.wrapping_add(seq);
        interface.send_packet(&packet)
    }
}

/// On the capture thread: an echo reply from the target, or an ICMP error
/// (good checksums) quoting one of our requests to it.
fn classify(
    r: &Received<'_>,
    us: ipv4::Addr,
    identifier: u16,
    size: usize,
    inbox: &Inbox<EchoKey, TraceReply>,
) -> Option<Answer<EchoKey, TraceReply>> {
    let ipv4::Payload::ICMP(message) = &r.packet.payload else {
        return None;
    };
    let (echo, peer, outcome) = match message.header {
        icmp::Header::EchoReply(echo) if echo.identifier == identifier => {
            let outcome = if !r.packet.checksum_ok {
                Outcome::Damaged(Damage::Ipv4Checksum)
            } else if !message.checksum_ok {
                Outcome::Damaged(Damage::IcmpChecksum)
            } else if message.payload[..] != payload(echo.sequence_number, size)[..] {
                Outcome::Damaged(Damage::Payload)
            } else {
                Outcome::Reply(TraceReply {
                    reached: Reached::Target,
                    port: None,
                })
            };
            (echo, r.packet.src, outcome)
        }
        header if header.is_error() && message.checksum_ok && r.packet.checksum_ok => {
            let quote = message.original()?;
            let echo = quote.echo_request()?;
            if echo.identifier != identifier || quote.packet.src != us {
                return None;
            }
            let reached = match header {
                icmp::Header::TimeExceeded { .. } => Reached::Router,
                icmp::Header::DestinationUnreachable { code, .. } => Reached::Unreachable(code),
                _ => return None,
            };
            (
                echo,
                quote.packet.dst,
                Outcome::Reply(TraceReply {
                    reached,
                    port: None,
                }),
            )
        }
        _ => return None,
    };
    Some(Answer {
        key: EchoKey { peer, echo },
        from: r.packet.src,
        at: r.timestamp,
        outcome,
        frame: inbox.frame(r.frame),
    })
}

/// The outcome of one probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probed {
    /// An answer: who, how, and the round-trip time.
    Answered {
        /// Who answered.
        from: ipv4::Addr,
        /// How.
        reached: Reached,
        /// Capture time of the answer minus the probe's.
        rtt: Duration,
    },
    /// No answer (timed out, or given up once hops beyond answered).
    Silent,
    /// It could not be sent.
    NotSent(String),
}

/// What is known of one hop.
#[derive(Debug, Clone, PartialEq)]
pub struct Hop {
    /// Its TTL.
    pub ttl: u8,
    /// The latest cycle's probes, in order (`None`: still waiting).
    pub probes: Vec<Option<Probed>>,
    /// Every answer over every cycle (sent, received, times, deviation).
    pub stats: Statistics,
    /// Every address that answered for this hop, in the order they first did.
    pub hosts: Vec<ipv4::Addr>,
    /// What the latest answer said (for `!N`-style flags).
    pub last: Option<Reached>,
}

impl Hop {
    fn new(ttl: u8, probes: u8) -> Hop {
        Hop {
            ttl,
            probes: vec![None; usize::from(probes)],
            stats: Statistics::default(),
            hosts: Vec::new(),
            last: None,
        }
    }

    /// The unreachable code, if a probe of the latest cycle got one.
    pub fn unreachable(&self) -> Option<(ipv4::Addr, UnreachableCode)> {
        self.probes.iter().flatten().find_map(|p| match p {
            Probed::Answered {
                from,
                reached: Reached::Unreachable(code),
                ..
            } => Some((*from, *code)),
            _ => None,
        })
    }
}

/// What a trace found.
#[derive(Debug, Clone)]
pub struct Traced {
    /// The hops up to the one where the trace ended (the target, or an
    /// unreachable answer), or up to the highest TTL.
    pub hops: Vec<Hop>,
    /// Whether the target answered.
    pub reached: bool,
    /// For TCP probes: what the target's latest answer said of the port.
    pub port: Option<port::State>,
    /// Cycles completed.
    pub cycles: u32,
    /// How the engine's run ended.
    pub end: probe::End,
}

/// Traces the route to `target` on `interface` (opened for it): calls
/// `on_answer` for each answer as it comes (e.g. to look up names while the
/// trace runs) and `on_cycle` with the hops after each completed cycle,
/// until the cycles are done or `stop` is set.
pub fn run(
    interface: &Interface,
    target: ipv4::Addr,
    options: &Options,
    stop: &AtomicBool,
    on_answer: impl FnMut(ipv4::Addr),
    on_cycle: impl FnMut(u32, &[Hop]),
) -> Traced {
    let nic = interface.nic();
    let mut trace = Trace::new(options, on_answer, on_cycle);
    let end = match options.method {
        Method::Echo => {
            let kind = TraceProbe::new(nic, target, options);
            engine(interface, kind, options).run(&mut trace, stop)
        }
        Method::Tcp(port) => {
            let kind = SynTraceProbe::new(nic, target, port);
            let mut plan = ResetOpen::new(interface, kind.clone(), trace);
            let mut engine = engine(interface, kind, options);
            let end = engine.run(&mut plan, stop);
            // The probes with TTLs beyond the target's reach it too, after
            // the trace is complete: their SYN-ACKs get our RST as well.
            let slowest = plan.plan().hops.iter().filter_map(|h| h.stats.max).max();
            let after = slowest.map_or(LINGER, |rtt| (rtt * 3 + LINGER).min(options.timeout));
            engine.linger(after, &mut plan, stop);
            trace = plan.into_plan();
            end
        }
    };
    let limit = usize::from(trace.end_ttl.unwrap_or(options.max_hops));
    trace.hops.truncate(limit);
    Traced {
        reached: trace.reached,
        port: trace.port,
        cycles: trace.completed,
        hops: trace.hops,
        end,
    }
}

/// How long a TCP trace listens after its last probe, beyond three times
/// the slowest answer, for SYN-ACKs to reset.
const LINGER: Duration = Duration::from_millis(10);

/// How to open the [`Interface`] a trace with `options` runs on: the SYNs'
/// port let through the capture filter, for TCP.
pub fn opening(options: &Options) -> interface::Opening {
    match options.method {
        Method::Echo => interface::Opening::default(),
        Method::Tcp(p) => port::opening(port::Protocol::Tcp, p),
    }
}

/// The engine of a trace: one try per probe, every TTL paced.
fn engine<'i, K: probe::Kind>(
    interface: &'i Interface,
    kind: K,
    options: &Options,
) -> Engine<'i, K> {
    let pace = Pace {
        interval: options.interval,
        window: 4096,
        tick: None,
        timeout: options.timeout,
        tries: 1,
        own_frame_wait: Duration::ZERO,
        memory: probe::MEMORY,
        budget: None,
    };
    Engine::new(interface, kind, pace, false)
}

/// The trace as the engine's [`Plan`].
struct Trace<A, C> {
    options: Options,
    hops: Vec<Hop>,
    /// The first TTL where the target answered or was unreachable.
    end_ttl: Option<u8>,
    reached: bool,
    /// What the target's latest answer said of the port (TCP).
    port: Option<port::State>,
    /// The cycle being sent, and the next probe of it (TTL, n).
    cycle: u32,
    next: (u16, u8),
    cycle_started: Instant,
    /// Cycles whose every probe (up to the end) is settled.
    completed: u32,
    /// Probes sent and not settled: when each went.
    waiting: BTreeMap<Job, Instant>,
    /// Jobs handed to the engine and not sent yet (it takes the next job
    /// before the pace lets it go).
    unsent: BTreeSet<Job>,
    on_answer: A,
    on_cycle: C,
}

impl<A: FnMut(ipv4::Addr), C: FnMut(u32, &[Hop])> Trace<A, C> {
    fn new(options: &Options, on_answer: A, on_cycle: C) -> Self {
        let hops = (1..=options.max_hops)
            .map(|ttl| Hop::new(ttl, options.probes))
            .collect();
        Trace {
            options: options.clone(),
            hops,
            end_ttl: None,
            reached: false,
            port: None,
            cycle: 0,
            next: (1, 0),
            cycle_started: Instant::now(),
            completed: 0,
            waiting: BTreeMap::new(),
            unsent: BTreeSet::new(),
            on_answer,
            on_cycle,
        }
    }

    fn limit(&self) -> u8 {
        self.end_ttl.unwrap_or(self.options.max_hops)
    }

    /// Whether every probe of the current cycle (up to the end) went out.
    fn cycle_sent(&self) -> bool {
        self.next.0 > u16::from(self.limit())
    }

    /// Whether every cycle that may run has been sent.
    fn all_cycles_sent(&self) -> bool {
        self.options
            .cycles
            .is_some_and(|n| self.cycle + 1 >= n && self.cycle_sent())
    }

    /// When the next cycle may start, if one is due at all.
    fn next_cycle_at(&self) -> Option<Instant> {
        let more = self.options.cycles.is_none_or(|n| self.cycle + 1 < n);
        (more && self.cycle_sent()).then(|| self.cycle_started + self.options.cycle_interval)
    }

    /// Records probe `job`'s outcome (if it is still waiting and counts).
    fn settle(&mut self, job: &Job, probed: Probed) {
        // Given up already, or never seen.
        if self.waiting.remove(job).is_none() {
            return;
        }
        let Some(hop) = self.hops.get_mut(usize::from(job.ttl) - 1) else {
            return;
        };
        if let Probed::Answered { from, reached, rtt } = &probed {
            hop.stats.add(*rtt);
            hop.last = Some(*reached);
            if !hop.hosts.contains(from) {
                hop.hosts.push(*from);
            }
            if *reached != Reached::Router {
                self.reached |= *reached == Reached::Target;
                self.end_ttl = Some(self.end_ttl.map_or(job.ttl, |e| e.min(job.ttl)));
            }
        }
        if job.cycle == self.cycle {
            if let Some(slot) = hop.probes.get_mut(usize::from(job.n)) {
                *slot = Some(probed);
            }
        }
        self.check_cycle();
    }

    /// Whether a job of the current cycle up to the end is still to go out.
    fn cycle_unsent(&self) -> bool {
        let limit = self.limit();
        self.unsent
            .iter()
            .any(|j| j.cycle == self.cycle && j.ttl <= limit)
    }

    /// Probes of the current cycle up to the end that still wait.
    fn cycle_waiting(&self) -> impl Iterator<Item = (&Job, &Instant)> {
        let (cycle, limit) = (self.cycle, self.limit());
        self.waiting
            .iter()
            .filter(move |(j, _)| j.cycle == cycle && j.ttl <= limit)
    }

    /// When the current cycle is all sent and settled up to the end: tell.
    fn check_cycle(&mut self) {
        if !self.cycle_sent() || self.completed > self.cycle {
            return;
        }
        if self.cycle_unsent() || self.cycle_waiting().next().is_some() {
            return;
        }
        self.completed = self.cycle + 1;
        let limit = usize::from(self.limit());
        (self.on_cycle)(self.cycle, &self.hops[..limit.min(self.hops.len())]);
    }

    /// When waiting probe `job` is given up: `near` times the longest
    /// round-trip time of the answers from beyond its hop this cycle (not
    /// before `min_wait`), if any came.
    fn give_up_at(&self, job: &Job, sent: Instant) -> Option<Instant> {
        let beyond = self.hops[usize::from(job.ttl)..usize::from(self.limit())]
            .iter()
            .flat_map(|h| h.probes.iter().flatten())
            .filter_map(|p| match p {
                Probed::Answered { rtt, .. } => Some(*rtt),
                _ => None,
            })
            .max()?;
        let wait = (beyond * self.options.near).max(self.options.min_wait);
        Some(sent + wait)
    }

    /// Gives up the silent probes whose time has come.
    fn give_up_silent(&mut self) {
        let now = Instant::now();
        let due: Vec<Job> = self
            .cycle_waiting()
            .filter(|(job, sent)| self.give_up_at(job, **sent).is_some_and(|at| at <= now))
            .map(|(job, _)| *job)
            .collect();
        for job in due {
            self.settle(&job, Probed::Silent);
        }
    }
}

impl<K, A, C> Plan<K> for Trace<A, C>
where
    K: probe::Kind<Job = Job, Reply = TraceReply>,
    A: FnMut(ipv4::Addr),
    C: FnMut(u32, &[Hop]),
{
    fn next(&mut self) -> Option<Job> {
        // Asked on every turn of the engine once all is sent: the time to
        // give up on a silent hop (see `later`) is noticed here.
        self.give_up_silent();
        if self.cycle_sent() {
            let at = self.next_cycle_at()?;
            if Instant::now() < at || self.completed <= self.cycle {
                return None;
            }
            // A new cycle: its probes start empty.
            self.cycle += 1;
            self.next = (1, 0);
            self.cycle_started = Instant::now();
            for hop in &mut self.hops {
                hop.probes.iter_mut().for_each(|p| *p = None);
            }
        }
        let (ttl, n) = self.next;
        self.next = if n + 1 < self.options.probes {
            (ttl, n + 1)
        } else {
            (ttl + 1, 0)
        };
        let job = Job {
            cycle: self.cycle,
            ttl: u8::try_from(ttl).unwrap_or(u8::MAX),
            n,
        };
        self.unsent.insert(job);
        Some(job)
    }

    fn event(&mut self, event: &Event<'_, K>) {
        match event {
            Event::Sent { probe, .. } => {
                self.unsent.remove(probe.job);
                self.waiting.insert(*probe.job, Instant::now());
                if let Some(hop) = self.hops.get_mut(usize::from(probe.job.ttl) - 1) {
                    hop.stats.sent += 1;
                }
            }
            Event::Reply(a) => {
                (self.on_answer)(a.from);
                if let Some(p) = a.reply.port {
                    self.port = Some(p.state);
                }
                let probed = Probed::Answered {
                    from: a.from,
                    reached: a.reply.reached,
                    rtt: a.rtt,
                };
                self.settle(a.probe.job, probed);
            }
            Event::Timeout { probe, .. } => self.settle(probe.job, Probed::Silent),
            Event::SendFailed { probe, error } => {
                self.unsent.remove(probe.job);
                self.waiting.insert(*probe.job, Instant::now());
                if let Some(hop) = self.hops.get_mut(usize::from(probe.job.ttl) - 1) {
                    hop.stats.sent += 1;
                }
                self.settle(probe.job, Probed::NotSent(error.to_string()));
            }
            _ => {}
        }
        self.give_up_silent();
    }

    fn finished(&self) -> bool {
        self.all_cycles_sent() && self.completed > self.cycle
    }

    fn later(&self) -> Option<Instant> {
        let give_up = self
            .cycle_waiting()
            .filter_map(|(job, sent)| self.give_up_at(job, *sent))
            .min();
        let cycle = self.next_cycle_at().filter(|_| self.completed > self.cycle);
        match (give_up, cycle) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[cfg(test)]
mod tests {
    //! Traces over the in-memory wire: the peer plays the routers of a
    //! path (time exceeded from the gateway, a silent hop, the target), and
    //! counts what it was sent.

    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::capture::memory::{to_us, GW, GW_MAC, US};
    use crate::probe::testing::Wired;
    use crate::{ethernet, icmp};

    const TARGET: ipv4::Addr = ipv4::Addr([10, 9, 9, 9]);

    /// What the peer does with a probe of `ttl`.
    #[derive(Clone, Copy)]
    enum Path {
        /// Hop 1 the gateway, hop 2 silent, the target at 3.
        SilentSecondHop,
        /// Hop 1 the gateway, then "net unreachable" from it.
        UnreachableAfterGateway,
    }

    /// An ICMP message from `from` quoting `request`.
    fn quoting(from: ipv4::Addr, header: icmp::Header, request: &ipv4::Packet<'_>) -> Vec<u8> {
        let quote = request.to_vec().unwrap()[..28].to_vec();
        let packet = icmp::Packet::new(header, Blob::from(quote))
            .into_ipv4_payload()
            .into_packet(from, US);
        to_us(GW_MAC, packet.into_ethernet_payload())
    }

    /// Runs a trace over `path`; returns it and the ICMP checksums of the
    /// requests the peer saw.
    fn trace(path: Path, options: Options) -> (Traced, Vec<u16>, Vec<u32>) {
        let checksums = Arc::new(Mutex::new(Vec::new()));
        let seen = checksums.clone();
        let wired = Wired::new(move |frame| {
            let ethernet::Payload::IPv4(p) = &frame.payload else {
                return Vec::new();
            };
            let ipv4::Payload::ICMP(m) = &p.payload else {
                return Vec::new();
            };
            let icmp::Header::EchoRequest(echo) = m.header else {
                return Vec::new();
            };
            seen.lock().unwrap().push(m.checksum);
            let now = Duration::ZERO;
            let exceeded = icmp::Header::TimeExceeded {
                code: icmp::TimeExceededCode::TtlExceeded,
                unused: 0,
            };
            let reply = || {
                let r = echo
                    .into_echo_reply(m.payload.clone())
                    .into_ipv4_payload()
                    .into_packet(TARGET, US);
                to_us(GW_MAC, r.into_ethernet_payload())
            };
            match (path, p.ttl) {
                (_, 1) => vec![(now, quoting(GW, exceeded, p))],
                (Path::SilentSecondHop, 2) => Vec::new(),
                (Path::SilentSecondHop, _) => vec![(Duration::from_millis(1), reply())],
                (Path::UnreachableAfterGateway, _) => {
                    let net = icmp::Header::DestinationUnreachable {
                        code: icmp::UnreachableCode::Net,
                        unused: 0,
                        next_hop_mtu: 0,
                    };
                    vec![(now, quoting(GW, net, p))]
                }
            }
        });
        let mut cycles = Vec::new();
        let traced = run(
            &wired.interface,
            TARGET,
            &options,
            &AtomicBool::new(false),
            |_| {},
            |cycle, _| cycles.push(cycle),
        );
        drop(wired);
        let checksums = checksums.lock().unwrap().clone();
        (traced, checksums, cycles)
    }

    fn options() -> Options {
        Options {
            max_hops: 8,
            timeout: Duration::from_secs(3),
            ..Options::default()
        }
    }

    #[test]
    fn a_silent_hop_costs_ten_round_trips_not_the_timeout() {
        let start = Instant::now();
        let (traced, checksums, cycles) = trace(Path::SilentSecondHop, options());
        let took = start.elapsed();
        assert!(traced.reached);
        assert_eq!(traced.end, probe::End::Finished);
        assert_eq!(cycles, [0]);
        assert_eq!(traced.hops.len(), 3);
        let [one, two, three] = &traced.hops[..] else {
            panic!("{traced:?}")
        };
        assert_eq!(one.hosts, [GW]);
        assert!(one.probes.iter().all(|p| matches!(
            p,
            Some(Probed::Answered {
                reached: Reached::Router,
                ..
            })
        )));
        assert!(
            two.probes.iter().all(|p| *p == Some(Probed::Silent)),
            "{two:?}"
        );
        assert_eq!(three.hosts, [TARGET]);
        assert_eq!(three.last, Some(Reached::Target));
        // Every probe of the last hop went out and was answered, though the
        // engine takes each job before it may send it.
        assert!(
            three
                .probes
                .iter()
                .all(|p| matches!(p, Some(Probed::Answered { .. }))),
            "{three:?}"
        );
        // The target answers in ~1 ms: hop 2 is given up after ~10 ms (the
        // first ARP for the gateway, 50 ms on this wire, comes first).
        assert!(took < Duration::from_millis(1000), "{took:?}");
        // One flow: every request had the same ICMP checksum.
        assert!(checksums.len() >= 9, "{checksums:?}");
        assert!(checksums.windows(2).all(|w| w[0] == w[1]), "{checksums:x?}");
    }

    #[test]
    fn an_unreachable_answer_ends_the_trace() {
        let (traced, _, _) = trace(Path::UnreachableAfterGateway, options());
        assert!(!traced.reached);
        assert_eq!(traced.hops.len(), 2);
        assert_eq!(
            traced.hops[1].unreachable(),
            Some((GW, icmp::UnreachableCode::Net))
        );
    }

    #[test]
    fn a_report_counts_every_cycle() {
        let (traced, _, cycles) = trace(
            Path::SilentSecondHop,
            Options {
                probes: 1,
                cycles: Some(4),
                cycle_interval: Duration::from_millis(30),
                ..options()
            },
        );
        assert_eq!(cycles, [0, 1, 2, 3]);
        assert_eq!(traced.cycles, 4);
        let sent: Vec<u32> = traced.hops.iter().map(|h| h.stats.sent).collect();
        let received: Vec<u32> = traced.hops.iter().map(|h| h.stats.received).collect();
        assert_eq!((sent, received), (vec![4, 4, 4], vec![4, 0, 4]));
        assert!(traced.hops[2].stats.stdev().is_some());
    }

    #[test]
    fn the_payload_keeps_the_checksum_whatever_the_sequence() {
        let sum = |seq: u16| {
            let packet = icmp::Echo {
                identifier: 0x1234,
                sequence_number: seq,
            }
            .into_echo_request(Blob::from(payload(seq, 32)));
            packet.to_vec().unwrap()[2..4].to_vec()
        };
        let first = sum(0);
        for seq in [1, 2, 0x00ff, 0x8000, 0xfffe, 0xffff] {
            assert_eq!(sum(seq), first, "seq {seq}");
        }
        assert_eq!(&payload(0x0102, 5)[..], &[0xfe, 0xfd, b'c', b'd', b'e']);
        assert_eq!(payload(7, 1), b"a");
    }

    #[test]
    fn a_tcp_trace_meets_routers_then_the_port_and_resets_what_it_opened() {
        use crate::tcp;
        // (flags, source port, sequence number) of every TCP segment seen.
        let seen = Arc::new(Mutex::new(Vec::new()));
        let got = seen.clone();
        let wired = Wired::new(move |frame| {
            let ethernet::Payload::IPv4(p) = &frame.payload else {
                return Vec::new();
            };
            let ipv4::Payload::TCP(t) = &p.payload else {
                return Vec::new();
            };
            got.lock()
                .unwrap()
                .push((t.flags, t.src_port, t.seq, p.ttl));
            if t.flags != tcp::Flags::SYN {
                return Vec::new();
            }
            let exceeded = icmp::Header::TimeExceeded {
                code: icmp::TimeExceededCode::TtlExceeded,
                unused: 0,
            };
            let answer = |ack: u32| {
                let a = tcp::Packet::new(
                    443,
                    t.src_port,
                    99,
                    ack,
                    tcp::Flags::SYN | tcp::Flags::ACK,
                    1000,
                    Blob::from(&[][..]),
                    Blob::from(&[][..]),
                );
                to_us(
                    GW_MAC,
                    a.into_ipv4_payload()
                        .into_packet(TARGET, US)
                        .into_ethernet_payload(),
                )
            };
            let now = Duration::ZERO;
            match p.ttl {
                1 => vec![(now, quoting(GW, exceeded, p))],
                // Another connection's SYN-ACK first (never counted), then
                // the right one.
                _ => vec![
                    (now, answer(t.seq.wrapping_add(7))),
                    (now, answer(t.seq.wrapping_add(1))),
                ],
            }
        });
        let options = Options {
            method: Method::Tcp(443),
            ..options()
        };
        let traced = run(
            &wired.interface,
            TARGET,
            &options,
            &AtomicBool::new(false),
            |_| {},
            |_, _| {},
        );
        // The peer reads our last RSTs after the run: wait for them (bounded).
        let count = |flags, min_ttl| {
            let seen = seen.lock().unwrap();
            seen.iter()
                .filter(|s| s.0 == flags && s.3 >= min_ttl)
                .count()
        };
        let deadline = Instant::now() + Duration::from_secs(2);
        while count(tcp::Flags::RST, 0) < count(tcp::Flags::SYN, 2) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(wired);
        assert!(traced.reached);
        assert_eq!(traced.port, Some(port::State::Open));
        assert_eq!(traced.hops.len(), 2);
        assert_eq!(traced.hops[0].hosts, [GW]);
        assert_eq!(traced.hops[1].hosts, [TARGET]);
        assert_eq!(traced.hops[1].stats.received, 3);
        let seen = seen.lock().unwrap();
        let syns: Vec<_> = seen.iter().filter(|s| s.0 == tcp::Flags::SYN).collect();
        // Each probe from a port of its own.
        let mut ports: Vec<u16> = syns.iter().map(|s| s.1).collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), syns.len());
        // Our RST after every SYN-ACK from the target that answered a
        // probe (every TTL from 2 reached it): from the probe's port, its
        // sequence number the probe's plus one.
        let rsts: Vec<_> = seen.iter().filter(|s| s.0 == tcp::Flags::RST).collect();
        let reached: Vec<_> = syns.iter().filter(|s| s.3 >= 2).collect();
        assert_eq!(rsts.len(), reached.len(), "{seen:?}");
        for syn in reached {
            assert!(
                rsts.iter()
                    .any(|r| r.1 == syn.1 && r.2 == syn.2.wrapping_add(1)),
                "{syn:?}: {seen:?}"
            );
        }
    }
}
