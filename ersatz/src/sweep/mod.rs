//! Sweeps: which of many targets are there, as `fping -g`, `nmap -sn` and
//! `arp-scan` find out, on the [`probe`] engine.
//!
//! Each target is reached the way the routes say ([`Reach`]): an on-link
//! target is asked with our own ARP request (alive = it answered ARP,
//! whatever its firewall does with ICMP), then sent one echo request for
//! its round-trip time and TTL (which may go unanswered without making it
//! dead); a routed target is sent echo requests through its router. Each
//! probe is tried again after its timeout ([`Options::retries`]); an answer
//! that comes late, within the run, still counts. Probes go at a paced rate,
//! never more than one frame per target at a time, and answers find their
//! probes by a hash lookup, so the cost per answer is flat whatever the
//! number of targets. Memory is one [`Host`] per target plus the probes in
//! flight.
//!
//! ```no_run
//! use std::sync::atomic::AtomicBool;
//! use ersatz::{netinfo, sweep, Interface};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let spec = sweep::Spec::parse("10.77.1.0/24")?.ok_or("not a block")?;
//! let routes = netinfo::Routes::read()?;
//! let targets: Vec<_> = spec.addrs().collect();
//! let plan = sweep::plan(&routes, &targets)?;
//! let interface = Interface::open_route(plan.route.clone())?;
//! let result = sweep::run(&interface, &plan, &sweep::Options::default(), &AtomicBool::new(false), |host| {
//!     if host.alive {
//!         println!("{} is alive", host.addr);
//!     }
//! });
//! println!("{} of {} alive", result.alive(), result.hosts.len());
//! # Ok(()) }
//! ```

mod targets;

use std::collections::VecDeque;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

pub use targets::{sort, Error as TargetError, Spec};

use crate::arping::{ArpProbe, ArpReply};
use crate::interface::{self, EchoKey, Sent, Subscription};
use crate::netinfo::{self, Route, Routes};
use crate::ping::{self, EchoProbe, EchoReply};
use crate::port::{self, PortProbeKey, PortReply, SynProbe, UdpProbe};
use crate::probe::{self, Budget, Engine, Event, IcmpError, Inbox, Pace, Plan};
use crate::{ethernet, ipv4, Interface};

/// How a target is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// It is this machine's own address: alive, nothing to send.
    Local,
    /// On the NIC's link: asked with ARP.
    OnLink,
    /// Through this router: asked with ICMP echo.
    Via(ipv4::Addr),
    /// No route leads to it: unreachable, nothing to send.
    NoRoute,
}

/// Why a sweep cannot go ahead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Nothing to sweep.
    #[error("no targets")]
    NoTargets,
    /// Every target is this machine or has no route: no NIC to open.
    #[error("no target has a route")]
    NothingRoutable,
    /// The targets leave through different NICs.
    #[error(
        "{addr} is reached through {other}, {first} through {nic}: sweep one network at a time"
    )]
    OtherNic {
        /// The first target on another NIC.
        addr: ipv4::Addr,
        /// Its NIC.
        other: String,
        /// The first routable target.
        first: ipv4::Addr,
        /// The sweep's NIC.
        nic: String,
    },
    /// A route could not be looked up (other than "no route").
    #[error(transparent)]
    NetInfo(#[from] netinfo::Error),
}

/// Where each target is, and the NIC they all leave through.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The route of the first routable target: open its NIC
    /// ([`Interface::open_route`]).
    pub route: Route,
    /// Every target with how it is reached, in the order given.
    pub targets: Vec<(ipv4::Addr, Reach)>,
}

/// Looks up how each target is reached (the routing table read once).
///
/// # Errors
///
/// [`Error::OtherNic`] when the targets leave through different NICs,
/// [`Error::NothingRoutable`] when none has a route, and what a route
/// lookup says other than "no route" or "own address".
pub fn plan(routes: &Routes, targets: &[ipv4::Addr]) -> Result<Planned, Error> {
    if targets.is_empty() {
        return Err(Error::NoTargets);
    }
    let mut first: Option<Route> = None;
    let mut planned = Vec::with_capacity(targets.len());
    for &addr in targets {
        let reach = match routes.route_to(addr) {
            Ok(route) => {
                let reach = if route.on_link() {
                    Reach::OnLink
                } else {
                    Reach::Via(route.next_hop)
                };
                match &first {
                    Some(f) if f.nic.index != route.nic.index => {
                        return Err(Error::OtherNic {
                            addr,
                            other: route.nic.description,
                            first: f.destination,
                            nic: f.nic.description.clone(),
                        })
                    }
                    Some(_) => {}
                    None => first = Some(route),
                }
                reach
            }
            Err(netinfo::Error::OwnAddress(_)) => Reach::Local,
            Err(netinfo::Error::NoRoute(_)) => Reach::NoRoute,
            Err(e) => return Err(e.into()),
        };
        planned.push((addr, reach));
    }
    Ok(Planned {
        route: first.ok_or(Error::NothingRoutable)?,
        targets: planned,
    })
}

/// How to sweep.
#[derive(Debug, Clone)]
pub struct Options {
    /// How long each probe waits for its answer (500 ms by default).
    pub timeout: Duration,
    /// Tries after the first, per probe (1 by default).
    pub retries: u32,
    /// Shortest time between two probes.
    pub interval: Duration,
    /// A sustained rate under a burst, on top of `interval` (see [`Budget`]).
    pub budget: Option<Budget>,
    /// Ask on-link targets with ARP only (no echo request for RTT and TTL).
    pub arp_only: bool,
    /// The echo requests' payload, TTL and identifier (its interval and
    /// timeout play no part).
    pub echo: ping::Options,
    /// What is sent after an ARP answer, or through the router: echo
    /// requests, or port probes (`nmap -PS`/`-PU`).
    pub method: Method,
}

/// What a sweep asks each target with, beyond ARP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    /// ICMP echo requests: alive = an echo reply.
    #[default]
    Echo,
    /// TCP SYNs to this port: alive = a SYN-ACK (open) or an RST (closed);
    /// our RST follows each SYN-ACK.
    Tcp(u16),
    /// UDP datagrams to this port: alive = a UDP answer (open) or a port
    /// unreachable (closed).
    Udp(u16),
}

impl Method {
    fn via(self) -> Via {
        match self {
            Method::Echo => Via::Icmp,
            Method::Tcp(_) => Via::Tcp,
            Method::Udp(_) => Via::Udp,
        }
    }
}

/// How to open the [`Interface`] a sweep with `options` runs on: the
/// probes' port let through the capture filter, for port probes, and a
/// capture for many frames a second when the probes are faster than
/// [`BULK_INTERVAL`] apart.
pub fn opening(options: &Options) -> interface::Opening {
    let mut how = match options.method {
        Method::Echo => interface::Opening::default(),
        Method::Tcp(p) => port::opening(port::Protocol::Tcp, p),
        Method::Udp(p) => port::opening(port::Protocol::Udp, p),
    };
    how.capture.bulk = options.interval < BULK_INTERVAL;
    how
}

/// Probes closer together than this (over 10,000 a second, each with our
/// own frame and an answer to capture) make a sweep's capture a bulk one
/// ([`crate::capture::Opening::bulk`]): slower to open and close, cheaper
/// per frame.
pub const BULK_INTERVAL: Duration = Duration::from_micros(100);

/// Most probes of a sweep waiting at once: 20,000 a second with 500 ms
/// timeouts, in about 3 MB.
pub const WINDOW: usize = 16_384;

/// The default [`Options::interval`]: 2,000 probes a second.
pub const INTERVAL: Duration = Duration::from_micros(500);

/// The default [`Options::budget`]: 512 probes back to back (at the
/// interval), then 150 a second. A Linux-based router holds 1,024
/// neighbour entries by default (`gc_thresh3`) and keeps an unanswered one
/// about 3 s; a sweep through it into dead addresses must leave room for
/// everyone else: 512 + 3 x 150 = 962.
pub const BUDGET: Budget = Budget {
    burst: 512,
    every: Duration::from_nanos(1_000_000_000 / 150),
};

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: Duration::from_millis(500),
            retries: 1,
            interval: INTERVAL,
            budget: Some(BUDGET),
            arp_only: false,
            echo: ping::Options::default(),
            method: Method::Echo,
        }
    }
}

/// How a target was found alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// It answered our ARP request (on-link).
    Arp,
    /// It answered our echo request (routed).
    Icmp,
    /// It answered our TCP SYN (routed).
    Tcp,
    /// It answered our UDP datagram (routed).
    Udp,
    /// It is this machine.
    Local,
}

impl Via {
    /// `arp`, `icmp`, `tcp`, `udp` or `local`.
    pub fn name(&self) -> &'static str {
        match self {
            Via::Arp => "arp",
            Via::Icmp => "icmp",
            Via::Tcp => "tcp",
            Via::Udp => "udp",
            Via::Local => "local",
        }
    }
}

/// Why a target is unreachable, when more is known than silence.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// An ICMP error quoting our request.
    Icmp {
        /// What it said.
        error: IcmpError,
        /// Who said it.
        from: ipv4::Addr,
    },
    /// No route leads to it.
    NoRoute,
    /// The probe could not be sent (e.g. the router did not answer our ARP).
    NotSent(String),
}

/// What a sweep found out about one target.
#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    /// The target.
    pub addr: ipv4::Addr,
    /// Whether it answered.
    pub alive: bool,
    /// How it answered.
    pub via: Via,
    /// The echo reply's (or port answer's) round-trip time.
    pub rtt: Option<Duration>,
    /// The ARP reply's round-trip time (on-link).
    pub arp_rtt: Option<Duration>,
    /// The echo reply's (or port answer's) TTL.
    pub ttl: Option<u8>,
    /// What the port probe's answer said (port probes only).
    pub port: Option<PortReply>,
    /// The MAC that answered our ARP (on-link).
    pub mac: Option<ethernet::Addr>,
    /// Another MAC that answered our ARP for the same address: two stations
    /// claim it (an address conflict).
    pub also: Option<ethernet::Addr>,
    /// Whether its answer came after its timeout (or from a probe the
    /// engine no longer remembered).
    pub late: bool,
    /// Why it is unreachable, when more is known than silence.
    pub failure: Option<Failure>,
    /// Whether its outcome is known.
    pub done: bool,
}

impl Host {
    /// A target not probed yet: not alive, outcome unknown.
    pub fn new(addr: ipv4::Addr, via: Via) -> Host {
        Host {
            addr,
            alive: false,
            via,
            rtt: None,
            arp_rtt: None,
            ttl: None,
            port: None,
            mac: None,
            also: None,
            late: false,
            failure: None,
            done: false,
        }
    }

    /// The best round-trip time known: the echo's, else the ARP's.
    pub fn best_rtt(&self) -> Option<Duration> {
        self.rtt.or(self.arp_rtt)
    }
}

/// What a sweep found.
#[derive(Debug, Clone)]
pub struct Swept {
    /// One per target, in the order given.
    pub hosts: Vec<Host>,
    /// First probe to last outcome.
    pub elapsed: Duration,
    /// How the engine's run ended ([`probe::End::Stopped`]: not every
    /// outcome is known).
    pub end: probe::End,
    /// The probes' statistics.
    pub statistics: probe::Statistics,
}

impl Swept {
    /// Targets found alive.
    pub fn alive(&self) -> usize {
        self.hosts.iter().filter(|h| h.alive).count()
    }

    /// Targets known to be unreachable.
    pub fn unreachable(&self) -> usize {
        self.hosts.iter().filter(|h| h.done && !h.alive).count()
    }

    /// Targets whose outcome is not known (the sweep was stopped).
    pub fn unknown(&self) -> usize {
        self.hosts.iter().filter(|h| !h.done).count()
    }
}

/// Sweeps the planned targets on `interface` (opened for `planned.route`),
/// calling `on_host` for each target as its outcome is known (again, for a
/// target found unreachable, if a late answer then shows it alive), until
/// every outcome is known or `stop` is set.
pub fn run<F: FnMut(&Host)>(
    interface: &Interface,
    planned: &Planned,
    options: &Options,
    stop: &AtomicBool,
    on_host: F,
) -> Swept {
    let nic = interface.nic();
    let ttl = options.echo.ttl;
    let second = match options.method {
        Method::Echo => Second::Echo(EchoProbe::new(nic, None, &options.echo)),
        Method::Tcp(p) => Second::Syn(SynProbe::new(nic, p, ttl)),
        Method::Udp(p) => Second::Udp(UdpProbe::new(nic, p, options.echo.size, ttl)),
    };
    let resets = match &second {
        Second::Syn(syn) => Some((interface, syn.clone())),
        _ => None,
    };
    let kind = SweepProbe {
        arp: ArpProbe::new(nic),
        second,
    };
    let pace = Pace {
        interval: options.interval,
        window: WINDOW,
        tick: None,
        timeout: options.timeout,
        tries: options.retries.saturating_add(1),
        own_frame_wait: Duration::ZERO,
        memory: probe::MEMORY,
        budget: options.budget,
    };
    let mut engine = Engine::new(interface, kind, pace, false);
    let mut sweep = Sweep::new(&planned.targets, options, resets, on_host);
    let started = Instant::now();
    let end = engine.run(&mut sweep, stop);
    Swept {
        hosts: sweep.hosts,
        elapsed: started.elapsed(),
        end,
        statistics: engine.statistics().clone(),
    }
}

/// One probe of a sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Job {
    /// Which target (its index in the plan).
    pub index: u32,
    /// Its address.
    pub addr: ipv4::Addr,
    /// What is sent.
    pub stage: Stage,
}

/// What a sweep sends a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Our ARP request (on-link).
    Arp,
    /// An echo request (or port probe) to the MAC that answered our ARP
    /// (on-link).
    ProbeTo(ethernet::Addr),
    /// An echo request (or port probe) through this router.
    ProbeVia(ipv4::Addr),
}

/// A sweep probe's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Key {
    /// The address asked about.
    Arp(ipv4::Addr),
    /// The echo exchange.
    Echo(EchoKey),
    /// The port probe.
    Port(PortProbeKey),
}

impl Key {
    fn addr(&self) -> ipv4::Addr {
        match self {
            Key::Arp(a) => *a,
            Key::Echo(k) => k.peer,
            Key::Port(k) => k.peer,
        }
    }
}

/// A sweep probe's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// To our ARP request.
    Arp(ArpReply),
    /// To our echo request.
    Echo(EchoReply),
    /// To our port probe.
    Port(PortReply),
}

/// ARP requests then echo requests (or port probes), or those alone, as
/// a [`probe::Kind`]: made of [`ArpProbe`] and [`EchoProbe`] (under one
/// identifier for every target), [`SynProbe`] or [`UdpProbe`].
#[derive(Debug)]
pub struct SweepProbe {
    arp: ArpProbe,
    second: Second,
}

/// What goes after ARP, or through the router.
#[derive(Debug)]
enum Second {
    Echo(EchoProbe),
    Syn(SynProbe),
    Udp(UdpProbe),
}

impl probe::Kind for SweepProbe {
    type Job = Job;
    type Key = Key;
    type Reply = Reply;

    fn listen(&self, interface: &Interface, inbox: Inbox<Key, Reply>) -> Vec<Subscription> {
        let arp = inbox.map(|a: probe::Answer<ipv4::Addr, ArpReply>| a.map(Key::Arp, Reply::Arp));
        let mut listening = self.arp.listen(interface, arp);
        let port =
            || inbox.map(|a: probe::Answer<PortProbeKey, PortReply>| a.map(Key::Port, Reply::Port));
        listening.extend(match &self.second {
            Second::Echo(echo) => echo.listen(
                interface,
                inbox.map(|a: probe::Answer<EchoKey, EchoReply>| a.map(Key::Echo, Reply::Echo)),
            ),
            Second::Syn(syn) => syn.listen(interface, port()),
            Second::Udp(udp) => udp.listen(interface, port()),
        });
        listening
    }

    fn key(&mut self, job: &Job, in_use: &dyn Fn(&Key) -> bool) -> Key {
        if job.stage == Stage::Arp {
            return Key::Arp(job.addr);
        }
        let port_in_use = |k: &PortProbeKey| in_use(&Key::Port(*k));
        match &mut self.second {
            Second::Echo(echo) => Key::Echo(echo.key(&job.addr, &|k| in_use(&Key::Echo(*k)))),
            Second::Syn(syn) => Key::Port(syn.key(&job.addr, &port_in_use)),
            Second::Udp(udp) => Key::Port(udp.key(&job.addr, &port_in_use)),
        }
    }

    fn send(
        &mut self,
        interface: &Interface,
        job: &Job,
        key: &Key,
    ) -> Result<Sent, interface::Error> {
        let packet = match (&self.second, key) {
            (_, Key::Arp(_)) => return interface.send_arp_request(job.addr),
            (Second::Echo(echo), Key::Echo(k)) => echo.request(job.addr, k),
            (Second::Syn(syn), Key::Port(k)) => syn.segment(k),
            (Second::Udp(udp), Key::Port(k)) => udp.datagram(k),
            _ => {
                return Err(interface::Error::Send(format!(
                    "{key:?} is not this sweep's"
                )))
            }
        };
        match job.stage {
            Stage::ProbeTo(mac) => interface.send_packet_to(&packet, mac),
            Stage::ProbeVia(hop) => interface.send_packet_via(&packet, hop),
            Stage::Arp => interface.send_arp_request(job.addr),
        }
    }
}

/// The sweep as the engine's [`Plan`]: every target once, then what its
/// answers call for.
struct Sweep<'t, F> {
    targets: &'t [(ipv4::Addr, Reach)],
    hosts: Vec<Host>,
    /// The next target not yet started.
    next: usize,
    /// Echo requests after ARP answers.
    queue: VecDeque<Job>,
    /// Routers our ARP got no answer from, and what sending said.
    dead_hops: Vec<(ipv4::Addr, String)>,
    arp_only: bool,
    /// (address, index) by address, for answers the engine no longer
    /// matches to a probe.
    by_addr: Vec<(u32, u32)>,
    /// For SYNs: where our RST after a SYN-ACK goes, and how it is built.
    resets: Option<(&'t Interface, SynProbe)>,
    on_host: F,
}

impl<'t, F: FnMut(&Host)> Sweep<'t, F> {
    fn new(
        targets: &'t [(ipv4::Addr, Reach)],
        options: &Options,
        resets: Option<(&'t Interface, SynProbe)>,
        on_host: F,
    ) -> Self {
        let hosts = targets
            .iter()
            .map(|&(addr, reach)| {
                let via = match reach {
                    Reach::OnLink => Via::Arp,
                    Reach::Local => Via::Local,
                    Reach::Via(_) | Reach::NoRoute => options.method.via(),
                };
                Host::new(addr, via)
            })
            .collect();
        let mut by_addr: Vec<(u32, u32)> = targets
            .iter()
            .enumerate()
            .map(|(i, (a, _))| (u32::from_be_bytes(a.0), i as u32))
            .collect();
        by_addr.sort_unstable();
        Sweep {
            targets,
            hosts,
            next: 0,
            queue: VecDeque::new(),
            dead_hops: Vec::new(),
            arp_only: options.arp_only,
            by_addr,
            resets,
            on_host,
        }
    }

    fn index_of(&self, addr: ipv4::Addr) -> Option<usize> {
        let n = u32::from_be_bytes(addr.0);
        self.by_addr
            .binary_search_by_key(&n, |(a, _)| *a)
            .ok()
            .map(|i| self.by_addr[i].1 as usize)
    }

    /// The outcome of target `i` is known (or has changed): report it.
    fn report(&mut self, i: usize) {
        let host = &mut self.hosts[i];
        host.done = true;
        (self.on_host)(host);
    }

    fn unreachable(&mut self, i: usize, failure: Option<Failure>) {
        if self.hosts[i].done {
            return;
        }
        self.hosts[i].failure = failure;
        self.report(i);
    }

    /// An answer to target `i`'s probe of `stage` (`None`: the engine no
    /// longer knew which).
    fn answered(
        &mut self,
        i: usize,
        stage: Option<Stage>,
        rtt: Option<Duration>,
        reply: &Reply,
        late: bool,
    ) {
        let was_done = self.hosts[i].done;
        let host = &mut self.hosts[i];
        match *reply {
            Reply::Arp(ArpReply { mac }) => {
                if host.alive {
                    if host.mac != Some(mac) && host.also.is_none() {
                        host.also = Some(mac);
                    }
                    return;
                }
                host.alive = true;
                host.via = Via::Arp;
                host.mac = Some(mac);
                host.arp_rtt = rtt;
                host.late = late;
                host.failure = None;
                if self.arp_only || was_done || stage.is_none() {
                    self.report(i);
                } else {
                    self.queue.push_back(Job {
                        index: i as u32,
                        addr: host.addr,
                        stage: Stage::ProbeTo(mac),
                    });
                }
            }
            Reply::Echo(EchoReply { ttl, .. }) => self.alive(i, stage, rtt, ttl, None, late),
            Reply::Port(p) => self.alive(i, stage, rtt, p.ttl, Some(p), late),
        }
    }

    /// Target `i` answered an echo request or port probe of `stage`.
    fn alive(
        &mut self,
        i: usize,
        stage: Option<Stage>,
        rtt: Option<Duration>,
        ttl: u8,
        port: Option<PortReply>,
        late: bool,
    ) {
        let follow_up = matches!(stage, Some(Stage::ProbeTo(_)));
        let host = &mut self.hosts[i];
        if host.done && host.alive {
            return;
        }
        if host.alive && !follow_up {
            // On-link and alive by ARP: an answer the engine no longer
            // matched adds nothing certain.
            return;
        }
        host.alive = true;
        if !follow_up && host.via != Via::Arp {
            host.late = late;
        }
        host.rtt = rtt;
        host.ttl = Some(ttl);
        host.port = port;
        host.failure = None;
        self.report(i);
    }

    /// Our RST after a SYN-ACK to a SYN of `stage` (`None`: the engine no
    /// longer knew which; routed as the Interface routes), closing what it
    /// opened: nothing is left half open.
    fn reset(&self, key: &Key, reply: &Reply, stage: Option<Stage>) {
        let (Some((interface, syn)), Key::Port(key), Reply::Port(p)) = (&self.resets, key, reply)
        else {
            return;
        };
        if p.state != port::State::Open {
            return;
        }
        let rst = syn.rst(key, p.ack);
        // Best effort: a failure here changes nothing of what was found.
        let _ = match stage {
            Some(Stage::ProbeTo(mac)) => interface.send_packet_to(&rst, mac),
            Some(Stage::ProbeVia(hop)) => interface.send_packet_via(&rst, hop),
            _ => interface.send_packet(&rst),
        };
    }

    /// Target `i`'s probe of `stage` is over without an answer.
    fn silent(&mut self, i: usize, stage: Stage, failure: Option<Failure>) {
        match stage {
            // Alive by ARP; the echo only adds RTT and TTL.
            Stage::ProbeTo(_) => {
                if !self.hosts[i].done {
                    self.report(i);
                }
            }
            Stage::Arp | Stage::ProbeVia(_) => self.unreachable(i, failure),
        }
    }
}

impl<F: FnMut(&Host)> Plan<SweepProbe> for Sweep<'_, F> {
    fn next(&mut self) -> Option<Job> {
        loop {
            if let Some(job) = self.queue.pop_front() {
                return Some(job);
            }
            let i = self.next;
            let &(addr, reach) = self.targets.get(i)?;
            self.next += 1;
            let index = i as u32;
            match reach {
                Reach::Local => {
                    self.hosts[i].alive = true;
                    self.report(i);
                }
                Reach::NoRoute => self.unreachable(i, Some(Failure::NoRoute)),
                Reach::OnLink => {
                    return Some(Job {
                        index,
                        addr,
                        stage: Stage::Arp,
                    })
                }
                Reach::Via(hop) => {
                    // The router did not answer our ARP for an earlier
                    // target: not 3 s more for each of the others.
                    if let Some((_, why)) = self.dead_hops.iter().find(|(h, _)| *h == hop) {
                        let failure = Failure::NotSent(why.clone());
                        self.unreachable(i, Some(failure));
                        continue;
                    }
                    return Some(Job {
                        index,
                        addr,
                        stage: Stage::ProbeVia(hop),
                    });
                }
            }
        }
    }

    /// The echo request (or port probe) after an ARP answer is asked once:
    /// the target is alive already, the echo only adds RTT and TTL.
    fn retry(&self, job: &Job) -> bool {
        !matches!(job.stage, Stage::ProbeTo(_))
    }

    fn event(&mut self, event: &Event<'_, SweepProbe>) {
        match event {
            Event::Reply(a) | Event::Late(a) => {
                let job = a.probe.job;
                self.reset(a.probe.key, a.reply, Some(job.stage));
                let late = matches!(event, Event::Late(_));
                let (i, stage) = (job.index as usize, Some(job.stage));
                self.answered(i, stage, Some(a.rtt), a.reply, late);
            }
            Event::Duplicate(a) => {
                self.reset(a.probe.key, a.reply, Some(a.probe.job.stage));
                if let Reply::Arp(ArpReply { mac }) = a.reply {
                    let host = &mut self.hosts[a.probe.job.index as usize];
                    if host.mac != Some(*mac) && host.also.is_none() {
                        host.also = Some(*mac);
                    }
                }
            }
            Event::Stray { key, reply, .. } => {
                self.reset(key, reply, None);
                if let Some(i) = self.index_of(key.addr()) {
                    self.answered(i, None, None, reply, true);
                }
            }
            Event::Error { probe, from, error } => {
                let failure = Failure::Icmp {
                    error: *error,
                    from: *from,
                };
                self.silent(probe.job.index as usize, probe.job.stage, Some(failure));
            }
            Event::Timeout {
                probe,
                retry: false,
            } => self.silent(probe.job.index as usize, probe.job.stage, None),
            Event::SendFailed { probe, error } => {
                let why = error.to_string();
                if let (Stage::ProbeVia(hop), interface::Error::ArpTimeout(_)) =
                    (probe.job.stage, error)
                {
                    self.dead_hops.push((hop, why.clone()));
                }
                self.silent(
                    probe.job.index as usize,
                    probe.job.stage,
                    Some(Failure::NotSent(why)),
                );
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
