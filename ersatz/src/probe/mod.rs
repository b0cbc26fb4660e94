//! The probe engine: what every mode of a packet-level prober shares.
//!
//! A *probe* is a frame sent to learn something, and a *key* that its
//! answers carry (an echo request's peer, identifier and sequence number;
//! the address an ARP request asks for). The engine sends probes at a pace,
//! matches what comes back to them by key, and reports every event: sent,
//! answered (with the round-trip time from capture timestamps), duplicated,
//! damaged, refused by an ICMP error, late, timed out, retried, failed to
//! send. It counts the [`Statistics`] every mode prints.
//!
//! What differs between modes is split in two traits:
//!
//! - a [`Kind`] of probe says how to key, send and recognise one probe
//!   ([`crate::ping::EchoProbe`], [`crate::arping::ArpProbe`]): it files one
//!   listener on the [`Interface`] that turns captured packets into
//!   [`Answer`]s, found by a hash lookup on the capture thread whatever the
//!   number of probes waiting;
//! - a [`Plan`] says what to probe next (the *jobs*: one target after the
//!   other, every address of a subnet, every TTL of a path), hears every
//!   [`Event`], and may end the run early.
//!
//! How fast is the [`Pace`]: the shortest time between two probes (ping's
//! interval, a sweep's rate), how many may wait for an answer at once (1 for
//! ping's lock step, 128 for a flood, thousands for a sweep), a tick that
//! sends past a full window (`ping -f`), the timeout of each probe, how many
//! tries a job gets, and how many settled probes are remembered so that a
//! late answer or a duplicate is still recognised.
//!
//! The engine runs on the caller's thread ([`Engine::run`]) until the plan
//! has nothing more to send and nothing is waiting, the plan says it is
//! finished, or `stop` is set (Ctrl+C).
//!
//! ## Driving it directly
//!
//! ```no_run
//! use std::sync::atomic::AtomicBool;
//! use ersatz::probe::{self, Engine, Event, Pace};
//! use ersatz::{arping::ArpProbe, Interface};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let target = "10.77.1.3".parse()?;
//! let interface = Interface::open_route(ersatz::netinfo::route_to(target)?)?;
//! let kind = ArpProbe::new(interface.nic());
//! let mut engine = Engine::new(&interface, kind, Pace::default(), false);
//! // Three ARP requests, one a second, each waiting up to 4 s.
//! let mut plan = probe::jobs(std::iter::repeat(target).take(3), |event: &Event<'_, ArpProbe>| {
//!     if let Event::Reply(answer) = event {
//!         println!("{} is at {} ({:?})", answer.from, answer.reply.mac, answer.rtt);
//!     }
//! });
//! engine.run(&mut plan, &AtomicBool::new(false));
//! println!("{} of {} answered", engine.statistics().received, engine.statistics().sent);
//! # Ok(()) }
//! ```

mod engine;
pub mod histogram;
mod statistics;

use std::fmt::Debug;
use std::hash::Hash;
use std::ops::ControlFlow;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Duration;

pub use engine::Engine;
pub use statistics::Statistics;

use crate::interface::{self, Sent, Subscription, Timestamp};
use crate::{icmp, ipv4, Interface};

/// A kind of probe: how to key it, send it, and recognise its answers.
pub trait Kind {
    /// What the [`Plan`] asks to probe: a target address, a TTL, nothing at
    /// all (one target fixed in the kind). Kept with each probe for events.
    type Job: Clone + Debug;
    /// What answers carry back to find their probe. Two probes never wait
    /// with the same key at once (the engine holds a job back until its key
    /// is free); a key may be used again later (ARP's target address), and
    /// then an answer goes to the latest probe sent before it was captured.
    type Key: Copy + Eq + Hash + Debug + Send + 'static;
    /// What an answer says besides its source and round-trip time.
    type Reply: Debug + Send + 'static;

    /// Files the listener(s) that turn captured packets into [`Answer`]s
    /// for `inbox`. Called once, when the engine is made; the engine keeps
    /// the subscriptions until it is dropped.
    fn listen(
        &self,
        interface: &Interface,
        inbox: Inbox<Self::Key, Self::Reply>,
    ) -> Vec<Subscription>;

    /// The key for the next probe of `job`; `in_use` tells which keys are
    /// waiting for an answer now (a kind that numbers its probes skips them).
    fn key(&mut self, job: &Self::Job, in_use: &dyn Fn(&Self::Key) -> bool) -> Self::Key;

    /// Builds and sends the probe.
    ///
    /// # Errors
    ///
    /// What [`Interface::send_packet`] says: no ARP answer from the next
    /// hop, too big for Don't Fragment, the capture library refused.
    fn send(
        &mut self,
        interface: &Interface,
        job: &Self::Job,
        key: &Self::Key,
    ) -> Result<Sent, interface::Error>;
}

/// What to probe, and what to do with what happens.
pub trait Plan<K: Kind + ?Sized> {
    /// The next job to probe, or `None` when there is none now (the run
    /// ends once nothing is waiting either).
    fn next(&mut self) -> Option<K::Job>;

    /// Everything that happens, in order.
    fn event(&mut self, event: &Event<'_, K>);

    /// Whether the run may end now, with probes still waiting (a trace that
    /// reached its target). Asked after every event.
    fn finished(&self) -> bool {
        false
    }

    /// When the plan may have something new to say without an event: a
    /// job not due yet (the next cycle of a report), or [`Plan::finished`]
    /// turning true (a trace that stops waiting for a silent hop once
    /// later hops answered). While it is `Some`, the run does not end for
    /// lack of jobs, and the engine asks again by then.
    fn later(&self) -> Option<std::time::Instant> {
        None
    }

    /// Whether `job`, whose probe timed out, gets its next try (within
    /// [`Pace::tries`]; every job does unless the plan says no).
    fn retry(&self, job: &K::Job) -> bool {
        let _ = job;
        true
    }
}

/// For [`Kind::key`]: the first of `start`, `next(start)`, ... (at most
/// 65,536 of them) that is not `in_use` (its probe still waiting from its
/// last time round), and the one to start from next time. Sequence numbers
/// and source ports count up this way.
pub fn first_free<T: Copy>(start: T, in_use: impl Fn(T) -> bool, next: impl Fn(T) -> T) -> (T, T) {
    let mut candidate = start;
    for _ in 0..=u16::MAX {
        if !in_use(candidate) {
            break;
        }
        candidate = next(candidate);
    }
    (candidate, next(candidate))
}

/// A [`Plan`] from an iterator of jobs and a closure that hears the events.
#[derive(Debug)]
pub struct Jobs<I, F> {
    jobs: I,
    on_event: F,
}

/// The plan that probes `jobs` in order and hands every event to `on_event`.
pub fn jobs<I, F>(jobs: I, on_event: F) -> Jobs<I::IntoIter, F>
where
    I: IntoIterator,
{
    Jobs {
        jobs: jobs.into_iter(),
        on_event,
    }
}

impl<K, I, F> Plan<K> for Jobs<I, F>
where
    K: Kind + ?Sized,
    I: Iterator<Item = K::Job>,
    F: FnMut(&Event<'_, K>),
{
    fn next(&mut self) -> Option<K::Job> {
        self.jobs.next()
    }

    fn event(&mut self, event: &Event<'_, K>) {
        (self.on_event)(event)
    }
}

/// What is wrong with a damaged answer (it is reported, never counted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Damage {
    /// The IPv4 header checksum is wrong.
    Ipv4Checksum,
    /// The ICMP checksum is wrong.
    IcmpChecksum,
    /// The payload is not the one we sent.
    Payload,
    /// The TCP checksum is wrong.
    TcpChecksum,
    /// The UDP checksum is wrong.
    UdpChecksum,
    /// A TCP answer acknowledges another sequence number than our probe's.
    AckNumber,
}

impl Damage {
    /// A short description.
    pub fn describe(&self) -> &'static str {
        match self {
            Damage::Ipv4Checksum => "bad IPv4 header checksum",
            Damage::IcmpChecksum => "bad ICMP checksum",
            Damage::Payload => "payload differs from the request",
            Damage::TcpChecksum => "bad TCP checksum",
            Damage::UdpChecksum => "bad UDP checksum",
            Damage::AckNumber => "acknowledges another sequence number",
        }
    }
}

/// An ICMP error quoting a probe: it settles the probe (a genuine answer
/// may still follow within the timeout, and then counts: anyone on the
/// path can forge an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IcmpError {
    /// Destination Unreachable, with its code.
    Unreachable(icmp::UnreachableCode),
    /// Time Exceeded in transit (the TTL ran out).
    TtlExpired,
}

/// What the capture thread found out about a probe.
#[derive(Debug)]
pub enum Outcome<R> {
    /// Its answer.
    Reply(R),
    /// An answer with its key that is damaged.
    Damaged(Damage),
    /// An ICMP error quoting it.
    Error(IcmpError),
    /// Something with its key that says nothing about it (an ICMP error of
    /// another type quoting it): only shown, with the frame.
    Seen,
}

/// A captured packet with a probe's key, as a [`Kind`]'s listener hands it
/// to the engine.
#[derive(Debug)]
pub struct Answer<K, R> {
    /// The key of the probe it answers.
    pub key: K,
    /// Who sent it.
    pub from: ipv4::Addr,
    /// When it was captured.
    pub at: Timestamp,
    /// What it says.
    pub outcome: Outcome<R>,
    /// The frame's bytes, if the engine keeps frames ([`Inbox::keep_frames`]).
    pub frame: Option<Vec<u8>>,
}

/// Where a [`Kind`]'s listener hands [`Answer`]s to the engine.
pub struct Inbox<K, R> {
    deliver: Arc<Deliver<K, R>>,
    keep_frames: bool,
}

type Deliver<K, R> = dyn Fn(Answer<K, R>) -> ControlFlow<()> + Send + Sync;

impl<K, R> Clone for Inbox<K, R> {
    fn clone(&self) -> Self {
        Inbox {
            deliver: self.deliver.clone(),
            keep_frames: self.keep_frames,
        }
    }
}

impl<K, R> Debug for Inbox<K, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbox")
            .field("keep_frames", &self.keep_frames)
            .finish_non_exhaustive()
    }
}

impl<K: Send + 'static, R: Send + 'static> Inbox<K, R> {
    fn channel(tx: Sender<Answer<K, R>>, keep_frames: bool) -> Self {
        Inbox {
            deliver: Arc::new(move |answer| match tx.send(answer) {
                Ok(()) => ControlFlow::Continue(()),
                Err(_) => ControlFlow::Break(()),
            }),
            keep_frames,
        }
    }

    /// An inbox for another kind's answers, turned into this one's by
    /// `into`: how a kind made of other kinds (an ARP probe then an echo
    /// probe for each target of a sweep) lets each of them listen.
    pub fn map<K2, R2, F>(&self, into: F) -> Inbox<K2, R2>
    where
        F: Fn(Answer<K2, R2>) -> Answer<K, R> + Send + Sync + 'static,
    {
        let deliver = self.deliver.clone();
        Inbox {
            deliver: Arc::new(move |answer| deliver(into(answer))),
            keep_frames: self.keep_frames,
        }
    }
}

impl<K, R> Inbox<K, R> {
    /// Whether answers should carry their frames (for hex dumps).
    pub fn keep_frames(&self) -> bool {
        self.keep_frames
    }

    /// The frame's bytes if frames are kept.
    pub fn frame(&self, frame: &[u8]) -> Option<Vec<u8>> {
        self.keep_frames.then(|| frame.to_vec())
    }

    /// Hands an answer to the engine: [`ControlFlow::Break`] once the
    /// engine is gone (the listener should leave; that is what a listener
    /// filter's result says).
    pub fn deliver(&self, answer: Answer<K, R>) -> ControlFlow<()> {
        (self.deliver)(answer)
    }
}

impl<K, R> Answer<K, R> {
    /// The same answer under another kind's key and reply (see [`Inbox::map`]).
    pub fn map<K2, R2>(
        self,
        key: impl FnOnce(K) -> K2,
        reply: impl FnOnce(R) -> R2,
    ) -> Answer<K2, R2> {
        Answer {
            key: key(self.key),
            from: self.from,
            at: self.at,
            outcome: match self.outcome {
                Outcome::Reply(r) => Outcome::Reply(reply(r)),
                Outcome::Damaged(d) => Outcome::Damaged(d),
                Outcome::Error(e) => Outcome::Error(e),
                Outcome::Seen => Outcome::Seen,
            },
            frame: self.frame,
        }
    }
}

/// Which probe an event is about.
#[derive(Debug)]
pub struct Probe<'a, K: Kind + ?Sized> {
    /// Its job.
    pub job: &'a K::Job,
    /// Its key.
    pub key: &'a K::Key,
    /// Which try of the job it is (0 for the first).
    pub attempt: u32,
    /// Which probe of the engine's life it is: 0 for the first sent (or
    /// tried), counting up by one (a mode's sequence numbers).
    pub serial: u64,
}

impl<K: Kind + ?Sized> Clone for Probe<'_, K> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K: Kind + ?Sized> Copy for Probe<'_, K> {}

/// An answer matched to its probe.
#[derive(Debug)]
pub struct Answered<'a, K: Kind + ?Sized> {
    /// The probe it answers.
    pub probe: Probe<'a, K>,
    /// Who answered.
    pub from: ipv4::Addr,
    /// Capture time of the answer minus the probe's send time.
    pub rtt: Duration,
    /// What the answer says.
    pub reply: &'a K::Reply,
}

/// Something that happened during a run, in the order it happened.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a, K: Kind + ?Sized> {
    /// A probe went out.
    Sent {
        /// The probe.
        probe: Probe<'a, K>,
        /// The frame as sent.
        sent: &'a Sent,
    },
    /// The answer to a probe, within its timeout: counted as received (also
    /// after an ICMP error for the same probe).
    Reply(Answered<'a, K>),
    /// Another answer to a probe that was already answered: not counted.
    Duplicate(Answered<'a, K>),
    /// An answer to a probe that had already timed out: not counted.
    Late(Answered<'a, K>),
    /// An answer with a probe's key that is damaged: not counted.
    Damaged {
        /// The probe.
        probe: Probe<'a, K>,
        /// Who it claims to come from.
        from: ipv4::Addr,
        /// What is wrong.
        damage: Damage,
    },
    /// An ICMP error quoting a probe that was waiting: settles it.
    Error {
        /// The probe.
        probe: Probe<'a, K>,
        /// Who sent the error.
        from: ipv4::Addr,
        /// What it says.
        error: IcmpError,
    },
    /// No answer within the timeout.
    Timeout {
        /// The probe.
        probe: Probe<'a, K>,
        /// Whether the job gets another try.
        retry: bool,
    },
    /// The probe could not be sent.
    SendFailed {
        /// The probe that was not sent.
        probe: Probe<'a, K>,
        /// Why.
        error: &'a interface::Error,
    },
    /// An answer whose key matches no probe the engine remembers (sent
    /// too long ago, see [`Pace::memory`], or by another run): its probe
    /// is unknown, so it has no round-trip time. A mode that keeps its own
    /// record of every target (a sweep) can still count it.
    Stray {
        /// The answer's key.
        key: &'a K::Key,
        /// Who answered.
        from: ipv4::Addr,
        /// What the answer says.
        reply: &'a K::Reply,
    },
    /// A frame the listener took, before it is matched (only when the
    /// engine keeps frames: for hex dumps).
    Captured {
        /// The frame's bytes.
        frame: &'a [u8],
    },
}

/// How fast and how patiently the engine probes.
#[derive(Debug, Clone)]
pub struct Pace {
    /// Shortest time from one probe to the next (ping's interval; one over
    /// a sweep's rate).
    pub interval: Duration,
    /// Most probes waiting for an answer at once (1: lock step).
    pub window: usize,
    /// With the window full and nothing coming back, still send a probe
    /// this often, as `ping -f` does every 10 ms (up to [`MAX_IN_FLIGHT`]
    /// waiting). `None`: never exceed the window.
    pub tick: Option<Duration>,
    /// How long each probe waits for its answer.
    pub timeout: Duration,
    /// Tries per job: 1, plus the retries after a timeout.
    pub tries: u32,
    /// How long an answer waits for the capture of its own probe's frame
    /// (the send time), where the capture may show it late; a flood cannot wait.
    pub own_frame_wait: Duration,
    /// Settled probes remembered for duplicates and late answers (probes
    /// still waiting are remembered until settled, whatever their age).
    pub memory: usize,
    /// A sustained rate below the interval's, with a burst: see [`Budget`].
    pub budget: Option<Budget>,
}

/// A rate with a burst allowance (a token bucket): up to `burst` probes go
/// at the [`Pace::interval`], after which one probe per `every`; time
/// without probes earns the allowance back at that rate. A sweep's default
/// (see `sup`'s README): a /24 goes at full speed, a /16 at a pace whose
/// unanswered addresses a router's neighbour table can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Probes that may go back to back.
    pub burst: u32,
    /// The sustained spacing.
    pub every: Duration,
}

/// Most probes waiting at once, ticks included (a dead target with a long
/// timeout): beyond, the next probe waits for one to time out.
pub const MAX_IN_FLIGHT: usize = 4096;

/// How long an answer waits for the capture of its probe by default: on
/// Linux it is always there first.
pub const OWN_FRAME_WAIT: Duration = Duration::from_millis(50);

/// How many settled probes are remembered by default.
pub const MEMORY: usize = 1024;

/// How often a wait looks at the stop flag.
const STOP_CHECK: Duration = Duration::from_millis(20);

impl Default for Pace {
    /// ping.exe's: one probe at a time, a second apart, 4 s for each answer.
    fn default() -> Self {
        Pace::lock_step(Duration::from_secs(1), Duration::from_secs(4))
    }
}

impl Pace {
    /// One probe at a time: the next goes when the last is settled and
    /// `interval` has passed since it was sent.
    pub fn lock_step(interval: Duration, timeout: Duration) -> Pace {
        Pace {
            interval,
            window: 1,
            tick: None,
            timeout,
            tries: 1,
            own_frame_wait: OWN_FRAME_WAIT,
            memory: MEMORY,
            budget: None,
        }
    }

    /// As fast as answers come back, up to `window` waiting, plus one per
    /// `tick` when none do.
    pub fn flood(window: usize, tick: Option<Duration>, timeout: Duration) -> Pace {
        Pace {
            interval: Duration::ZERO,
            window: window.max(1),
            tick,
            timeout,
            tries: 1,
            own_frame_wait: Duration::ZERO,
            memory: MEMORY,
            budget: None,
        }
    }

    /// After a probe could not be sent, the next waits this long (besides
    /// the interval): a failing send is not retried at full speed.
    fn failure_pause(&self) -> Duration {
        match self.tick {
            Some(tick) => tick,
            None if self.window > 1 => STOP_CHECK,
            None => Duration::ZERO,
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Every job was probed and settled.
    Done,
    /// The plan said it was finished.
    Finished,
    /// `stop` was set.
    Stopped,
}

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
