//! Self-diagnosis: can this machine ping from here, and on which path?
//!
//! [`run`] does what every ping does before its first probe, one stage at a
//! time, and keeps what each stage found: the capture library (path,
//! version, immediate mode), the route to the target and its NIC, the
//! handles' facts ([`capture::Facts`]: immediate mode, timestamp
//! precision), one ARP exchange with the next hop, and a measured answer to
//! "does the capture show our own frames?" (our ARP request is the frame
//! looked for). The first stage that fails ends the diagnosis
//! ([`Diagnosis::failure`]); everything sup can still run on, but degraded,
//! is a [`Degradation`]. [`Diagnosis::verdict`] sums it up.
//!
//! ```no_run
//! use ersatz::diagnose::{self, Verdict};
//!
//! let diagnosis = diagnose::run(None); // the default route
//! for d in diagnosis.degradations() {
//!     println!("degraded: {d}");
//! }
//! if diagnosis.verdict() == Verdict::CannotRun {
//!     eprintln!("{}", diagnosis.failure.as_ref().map_or("", |f| &f.message));
//! }
//! ```

use std::fmt;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use crate::arping::ArpProbe;
use crate::interface::{ARP_INTERVAL, ARP_TRIES};
use crate::probe::{self, Engine, Event, Pace};
use crate::{capture, ethernet, ipv4, netinfo, Interface};

/// What sup cannot do on Linux without libpcap: the captures that need its
/// ring (floods, a virtual host, sweeps faster than
/// `sweep::BULK_INTERVAL` allows) or its filter compiler (TCP and UDP
/// probes, whose filter adds their port).
pub const NEEDS_LIBPCAP: &str =
    "floods, --respond, TCP/UDP probes (--tcp, --udp, -p) and sweeps faster than 10,000 targets/s";

/// How long after our ARP request the capture may take to show it.
pub const OWN_FRAME_WAIT: Duration = Duration::from_millis(200);

/// What one diagnosis found, stage by stage; a stage not reached is `None`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Diagnosis {
    /// The target asked about; `None`: the default route's gateway.
    pub target: Option<ipv4::Addr>,
    /// The capture library, as loaded.
    pub library: Option<Library>,
    /// Why the capture library could not be loaded, where sup runs without
    /// it (Linux: ICMP and ARP pings, sweeps and traces capture through
    /// packet sockets of ersatz's own; [`NEEDS_LIBPCAP`] need libpcap).
    /// Elsewhere that is a [`Stage::Library`] failure.
    pub library_missing: Option<String>,
    /// The route to the target (or the default route) and its NIC.
    pub route: Option<netinfo::Route>,
    /// What the opened capture handles do.
    pub capture: Option<capture::Facts>,
    /// The ARP exchange with the route's next hop.
    pub next_hop: Option<NextHop>,
    /// Whether the capture showed our own ARP request going out (`None`:
    /// nothing was sent).
    pub own_frames_seen: Option<bool>,
    /// The stage that failed, if one did: sup cannot run.
    pub failure: Option<Failure>,
}

/// The capture library as loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Library {
    /// Its path: the file the loader mapped where the system says
    /// (Linux: `/proc/self/maps`), else what was asked of the loader.
    pub path: String,
    /// Its version string (`pcap_lib_version`).
    pub version: String,
    /// Whether it has `pcap_set_immediate_mode`.
    pub immediate_available: bool,
}

/// The ARP exchange with the next hop.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NextHop {
    /// Its address: the gateway, or the target when it is on-link.
    pub addr: ipv4::Addr,
    /// Its MAC and the round trip of the ARP request it answered; `None`
    /// when it answered none of [`ARP_TRIES`] requests.
    pub answer: Option<(ethernet::Addr, Duration)>,
    /// ARP requests sent.
    pub requests: u32,
}

/// A stage of the diagnosis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stage {
    /// Loading the capture library.
    Library,
    /// Finding the route and its NIC.
    Route,
    /// Opening the NIC for capture.
    Open,
    /// Sending our ARP request.
    Send,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Library => "capture library",
            Stage::Route => "route",
            Stage::Open => "opening the NIC",
            Stage::Send => "sending",
        })
    }
}

/// Why sup cannot run here.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Failure {
    /// Where it failed.
    pub stage: Stage,
    /// What went wrong, in one sentence (the error sup would print).
    pub message: String,
}

/// A path sup can run on, but degraded: each says what changes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Degradation {
    /// No immediate mode: frames may wait up to the read timeout in the
    /// library's buffer before sup sees them.
    NoImmediateMode {
        /// The read timeout that bounds the wait, if the library has one.
        read_timeout: Option<Duration>,
    },
    /// Capture timestamps come from a coarse clock (`host_lowprec`: Npcap's
    /// `KeQuerySystemTime`, steps of 10-16 ms): RTTs are that coarse.
    LowPrecisionTimestamps,
    /// Capture timestamps come from a clock that is not kept on the system
    /// clock (Npcap's default `host_hiprec_unsynced`), and the capture does
    /// not show our own frames, so each RTT subtracts a system-clock send
    /// time from a capture time: it is off by the clocks' drift.
    UnsyncedTimestamps,
    /// The adapter is not Ethernet but carries Ethernet frames (Wi-Fi
    /// outside monitor mode, Hyper-V, TAP-Windows): sup treats it as
    /// Ethernet; the driver decides what really goes on the air or wire.
    EthernetLike(netinfo::AdapterKind),
    /// No capture library, where sup runs without one (see
    /// [`Diagnosis::library_missing`]): [`NEEDS_LIBPCAP`] cannot run, the
    /// rest does.
    NoCaptureLibrary(String),
    /// The capture does not show our own frames: RTTs start when a request
    /// is handed to the library (queue time), not when it leaves.
    OwnFramesNotSeen,
    /// The library warned when the capture was activated.
    ActivationWarning(String),
    /// The next hop answered none of our ARP requests: nothing beyond it
    /// can be reached.
    NextHopSilent(ipv4::Addr),
}

impl fmt::Display for Degradation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Degradation::NoImmediateMode {
                read_timeout: Some(t),
            } => write!(
                f,
                "no immediate mode: answers may wait up to {} ms in the capture buffer before sup sees them (RTTs still come from capture timestamps)",
                t.as_millis()
            ),
            Degradation::NoImmediateMode { read_timeout: None } => f.write_str(
                "no immediate mode: answers may wait in the capture buffer before sup sees them (RTTs still come from capture timestamps)",
            ),
            Degradation::LowPrecisionTimestamps => f.write_str(
                "capture timestamps come from a coarse clock (host_lowprec, steps of 10-16 ms on Windows): RTTs are that coarse",
            ),
            Degradation::UnsyncedTimestamps => f.write_str(
                "capture timestamps are not on the system clock (host_hiprec_unsynced) and our own frames are not captured: RTTs mix two clocks and drift",
            ),
            Degradation::EthernetLike(kind) => write!(
                f,
                "the NIC is a {kind} adapter: sup sends it Ethernet frames, as the capture library takes them; the adapter's driver decides what leaves"
            ),
            Degradation::NoCaptureLibrary(why) => write!(
                f,
                "no capture library ({why}): ICMP and ARP pings, sweeps and traces run; {NEEDS_LIBPCAP} cannot"
            ),
            Degradation::OwnFramesNotSeen => f.write_str(
                "the capture does not show our own frames: RTTs start when a request is queued, not when it leaves (a little longer than the wire's)",
            ),
            Degradation::ActivationWarning(w) => write!(f, "the capture library warned: {w}"),
            Degradation::NextHopSilent(a) => write!(
                f,
                "{a} did not answer our ARP requests: every ping through it will fail (Destination host unreachable)"
            ),
        }
    }
}

/// The sum of a diagnosis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// sup can ping from here, on its best path.
    Ready,
    /// sup runs, but something degrades it (see [`Diagnosis::degradations`]).
    Degraded,
    /// sup cannot run (see [`Diagnosis::failure`]).
    CannotRun,
}

impl Diagnosis {
    fn new(target: Option<ipv4::Addr>) -> Self {
        Diagnosis {
            target,
            library: None,
            library_missing: None,
            route: None,
            capture: None,
            next_hop: None,
            own_frames_seen: None,
            failure: None,
        }
    }

    fn fail(mut self, stage: Stage, message: impl fmt::Display) -> Self {
        self.failure = Some(Failure {
            stage,
            message: message.to_string(),
        });
        self
    }

    /// Every degraded path found, in the order the stages ran.
    pub fn degradations(&self) -> Vec<Degradation> {
        let mut found = Vec::new();
        if let Some(why) = &self.library_missing {
            found.push(Degradation::NoCaptureLibrary(why.clone()));
        }
        found.extend(degradations_of(
            self.route.as_ref().map(|r| &r.nic),
            self.capture.as_ref(),
            self.own_frames_seen,
        ));
        if let Some(hop) = &self.next_hop {
            if hop.answer.is_none() {
                // In the order the stages ran: before the own-frame measure.
                let at = found
                    .iter()
                    .position(|d| *d == Degradation::OwnFramesNotSeen)
                    .unwrap_or(found.len());
                found.insert(at, Degradation::NextHopSilent(hop.addr));
            }
        }
        found
    }

    /// Ready, degraded, or cannot run.
    pub fn verdict(&self) -> Verdict {
        if self.failure.is_some() {
            Verdict::CannotRun
        } else if self.degradations().is_empty() {
            Verdict::Ready
        } else {
            Verdict::Degraded
        }
    }
}

/// The degraded paths that an opened NIC shows: its kind, what its capture
/// does, and (when measured) whether the capture showed our own frames.
/// What `sup -v` names at the top of a run; [`Diagnosis::degradations`]
/// adds the library and next-hop stages to it.
pub fn degradations_of(
    nic: Option<&netinfo::NIC>,
    facts: Option<&capture::Facts>,
    own_frames_seen: Option<bool>,
) -> Vec<Degradation> {
    let mut found = Vec::new();
    if let Some(kind) = nic.map(|n| n.kind) {
        if kind != netinfo::AdapterKind::Ethernet {
            found.push(Degradation::EthernetLike(kind));
        }
    }
    if let Some(facts) = facts {
        if !facts.immediate {
            found.push(Degradation::NoImmediateMode {
                read_timeout: facts.read_timeout,
            });
        }
        // Microseconds are not a degradation: sup prints RTTs in whole
        // microseconds, and Npcap before 1.83 offers no nanoseconds
        // (nmap/npcap#804 added them). A coarse or
        // drifting clock is.
        let in_use = facts.timestamp_type_in_use();
        if in_use == Some("host_lowprec") {
            found.push(Degradation::LowPrecisionTimestamps);
        }
        let unsynced = matches!(in_use, Some("host_hiprec_unsynced" | "adapter_unsynced"))
            // Npcap's default when nothing was set.
            || (facts.timestamp_type.is_none()
                && facts
                    .offered_timestamp_types
                    .iter()
                    .any(|t| t == "host_hiprec_unsynced"));
        if unsynced && own_frames_seen == Some(false) {
            found.push(Degradation::UnsyncedTimestamps);
        }
        if let Some(w) = &facts.warning {
            found.push(Degradation::ActivationWarning(w.clone()));
        }
    }
    if own_frames_seen == Some(false) {
        found.push(Degradation::OwnFramesNotSeen);
    }
    found
}

/// Diagnoses the path to `target` (`None`: the default route's gateway):
/// loads the library, finds the route, opens the NIC, and asks the next hop
/// for its MAC with our own ARP request. Never fails: a stage that cannot
/// be done is [`Diagnosis::failure`]. Takes up to [`ARP_TRIES`] ×
/// [`ARP_INTERVAL`] when the next hop is silent (asked as
/// [`Interface::resolve`] asks), a few milliseconds otherwise.
pub fn run(target: Option<ipv4::Addr>) -> Diagnosis {
    let mut diagnosis = Diagnosis::new(target);
    match capture::library() {
        Ok(library) => {
            diagnosis.library = Some(Library {
                path: capture::loaded_path(library),
                version: library.version(),
                immediate_available: library.supports_immediate_mode(),
            })
        }
        // Linux's plain runs capture without the library.
        Err(e) if cfg!(target_os = "linux") => diagnosis.library_missing = Some(e.to_string()),
        Err(e) => return diagnosis.fail(Stage::Library, e),
    }
    let route = match target {
        Some(t) => netinfo::route_to(t),
        None => netinfo::default_route(),
    };
    let route = match route {
        Ok(r) => r,
        Err(e) => return diagnosis.fail(Stage::Route, e),
    };
    diagnosis.route = Some(route.clone());
    let next_hop = route.next_hop;
    let interface = match Interface::open_route(route) {
        Ok(i) => i,
        Err(e) => return diagnosis.fail(Stage::Open, e),
    };
    diagnosis.capture = Some(interface.capture_facts().clone());
    match ask_next_hop(&interface, next_hop) {
        Ok((hop, own)) => {
            diagnosis.next_hop = Some(hop);
            diagnosis.own_frames_seen = Some(own);
            diagnosis
        }
        Err(message) => diagnosis.fail(Stage::Send, message),
    }
}

/// Asks `next_hop` for its MAC with our own ARP requests (up to
/// [`ARP_TRIES`], stopping at the first answer) on the engine, and
/// measures whether the capture showed our request going out. Returns what
/// the exchange found and that measure; an error when no request could be
/// sent.
pub fn ask_next_hop(
    interface: &Interface,
    next_hop: ipv4::Addr,
) -> Result<(NextHop, bool), String> {
    let own_before = interface.stats().own;
    let mut pace = Pace::lock_step(ARP_INTERVAL, ARP_INTERVAL);
    pace.tries = ARP_TRIES;
    let mut engine = Engine::new(interface, ArpProbe::new(interface.nic()), pace, false);
    let mut answer = None;
    let mut requests = 0;
    let mut failed = None;
    engine.run(
        &mut probe::jobs(
            std::iter::once(next_hop),
            |event: &Event<'_, ArpProbe>| match event {
                Event::Sent { .. } => requests += 1,
                Event::Reply(a) if answer.is_none() => answer = Some((a.reply.mac, a.rtt)),
                Event::SendFailed { error, .. } => failed = Some(error.to_string()),
                _ => {}
            },
        ),
        &AtomicBool::new(false),
    );
    if requests == 0 {
        return Err(failed.unwrap_or_else(|| "no ARP request could be sent".into()));
    }
    // Our request shows up within microseconds where the capture shows our
    // frames at all; by the time an answer came, it has.
    let deadline = Instant::now() + OWN_FRAME_WAIT;
    while interface.stats().own == own_before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    let own = interface.stats().own > own_before;
    Ok((
        NextHop {
            addr: next_hop,
            answer,
            requests,
        },
        own,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::memory::{arp_reply, GW, GW_MAC};
    use crate::probe::testing::Wired;

    const HOP: ipv4::Addr = ipv4::Addr([10, 0, 0, 5]);
    const HOP_MAC: ethernet::Addr = ethernet::Addr([2, 0, 0, 0, 0, 5]);

    /// A next hop on the in-memory wire that answers ARP (or not), on a link
    /// that shows our own frames (or not).
    fn exchange(answers: bool, shows_own: bool) -> (NextHop, bool, u32) {
        let wired = Wired::new(move |frame| {
            let mut back = Vec::new();
            if shows_own {
                if let Ok(own) = frame.to_vec() {
                    back.push((Duration::ZERO, own));
                }
            }
            if answers {
                if let Some(reply) = arp_reply(frame, HOP_MAC) {
                    back.push((Duration::from_millis(2), reply));
                }
            }
            back
        });
        let (hop, own) = ask_next_hop(&wired.interface, HOP).expect("sent");
        let frames = wired.stop();
        (hop, own, frames)
    }

    #[test]
    fn an_answering_hop_on_a_link_that_shows_our_frames() {
        let (hop, own, frames) = exchange(true, true);
        assert_eq!(hop.addr, HOP);
        let (mac, rtt) = hop.answer.expect("answered");
        assert_eq!(mac, HOP_MAC);
        // The peer answers 2 ms after the start of the 1 ms wait in which
        // it got our request (memory::serve): at least 1 ms after it.
        assert!(
            rtt >= Duration::from_millis(1) && rtt < Duration::from_secs(1),
            "{rtt:?}"
        );
        assert_eq!((hop.requests, frames), (1, 1));
        assert!(own);
    }

    #[test]
    fn own_frames_not_shown_are_measured_as_such() {
        let (hop, own, _) = exchange(true, false);
        assert!(hop.answer.is_some());
        assert!(!own);
    }

    #[test]
    fn a_silent_hop_is_asked_three_times() {
        let (hop, own, frames) = exchange(false, true);
        assert_eq!(hop.answer, None);
        assert_eq!((hop.requests, frames), (ARP_TRIES, ARP_TRIES));
        assert!(own);
    }

    fn facts() -> capture::Facts {
        capture::Facts {
            library: "libpcap.so.1".into(),
            version: "libpcap version 1.10.3".into(),
            immediate: true,
            immediate_available: true,
            nanosecond_timestamps: true,
            read_timeout: Some(Duration::from_millis(2)),
            warning: None,
            breakloop_wakes_reader: true,
            timestamp_type: None,
            offered_timestamp_types: vec!["host".into()],
        }
    }

    fn reached(facts: capture::Facts, answer: bool, own: bool) -> Diagnosis {
        let mut d = Diagnosis::new(Some(HOP));
        d.capture = Some(facts);
        d.next_hop = Some(NextHop {
            addr: GW,
            answer: answer.then_some((GW_MAC, Duration::from_micros(40))),
            requests: 1,
        });
        d.own_frames_seen = Some(own);
        d
    }

    #[test]
    fn verdicts() {
        let ready = reached(facts(), true, true);
        assert_eq!(ready.degradations(), vec![]);
        assert_eq!(ready.verdict(), Verdict::Ready);

        let mut wine = facts();
        wine.immediate = false;
        wine.immediate_available = false;
        wine.nanosecond_timestamps = false;
        wine.warning = Some("promiscuous mode not supported".into());
        let degraded = reached(wine, false, false);
        assert_eq!(
            degraded.degradations(),
            vec![
                Degradation::NoImmediateMode {
                    read_timeout: Some(Duration::from_millis(2))
                },
                Degradation::ActivationWarning("promiscuous mode not supported".into()),
                Degradation::NextHopSilent(GW),
                Degradation::OwnFramesNotSeen,
            ]
        );
        assert_eq!(degraded.verdict(), Verdict::Degraded);
        assert!(degraded.degradations()[0]
            .to_string()
            .contains("up to 2 ms"));

        // Microseconds alone are not a degradation (Npcap before 1.83 offers
        // nanoseconds; sup prints whole microseconds).
        let mut npcap = facts();
        npcap.nanosecond_timestamps = false;
        npcap.timestamp_type = Some("host_hiprec".into());
        npcap.offered_timestamp_types = [
            "host",
            "host_lowprec",
            "host_hiprec",
            "host_hiprec_unsynced",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(reached(npcap.clone(), true, true).verdict(), Verdict::Ready);
        // Npcap's default clock drifts: it matters only when RTTs mix it
        // with the system clock (own frames not captured).
        npcap.timestamp_type = None;
        assert_eq!(reached(npcap.clone(), true, true).verdict(), Verdict::Ready);
        assert_eq!(
            reached(npcap.clone(), true, false).degradations(),
            vec![
                Degradation::UnsyncedTimestamps,
                Degradation::OwnFramesNotSeen
            ]
        );
        // The coarse clock always does.
        npcap.timestamp_type = Some("host_lowprec".into());
        assert_eq!(
            reached(npcap, true, true).degradations(),
            vec![Degradation::LowPrecisionTimestamps]
        );

        let failed = Diagnosis::new(None).fail(Stage::Route, "no default route");
        assert_eq!(failed.verdict(), Verdict::CannotRun);
        assert_eq!(failed.failure.map(|f| f.stage), Some(Stage::Route));
    }

    #[test]
    fn adapters_carrying_ethernet_frames_are_named() {
        let route = |kind| {
            let mut nic = crate::capture::memory::nic();
            nic.kind = kind;
            netinfo::Route {
                destination: HOP,
                next_hop: GW,
                nic,
            }
        };
        let mut d = reached(facts(), true, true);
        d.route = Some(route(netinfo::AdapterKind::Ethernet));
        assert_eq!(d.verdict(), Verdict::Ready);
        d.route = Some(route(netinfo::AdapterKind::WiFi));
        assert_eq!(
            d.degradations(),
            vec![Degradation::EthernetLike(netinfo::AdapterKind::WiFi)]
        );
        assert!(d.degradations()[0].to_string().contains("Wi-Fi adapter"));
    }

    #[test]
    fn no_library_is_a_degradation_where_sup_runs_without_one() {
        let mut d = reached(facts(), true, true);
        d.library_missing = Some("libpcap.so.1: not found".into());
        assert_eq!(d.verdict(), Verdict::Degraded);
        assert!(d.degradations()[0]
            .to_string()
            .contains("floods, --respond, TCP/UDP probes"));
    }
}
