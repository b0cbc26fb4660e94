//! The engine's loop and its memory of probes.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use super::{
    Answer, Answered, End, Event, Inbox, Kind, Outcome, Pace, Plan, Probe, Statistics,
    MAX_IN_FLIGHT, STOP_CHECK,
};

/// How far behind its schedule the pace may fall and still catch up (with
/// probes back to back); beyond, the schedule starts again from now.
const MAX_LAG: Duration = Duration::from_millis(2);
use crate::interface::{self, InterfaceRef, Sent, Subscription, Timestamp};
use crate::Interface;

/// One probe, from the moment its send is tried until it is forgotten.
struct State<J> {
    /// Which probe of the engine's life this is (keys may come round).
    serial: u64,
    job: J,
    attempt: u32,
    /// The frame, until its send time is known.
    sent: Option<Sent>,
    /// Its send time (capture timestamp of our own frame, else when queued).
    sent_at: Option<Timestamp>,
    /// When it times out.
    deadline: Option<Instant>,
    /// Sent and not settled yet: no answer, no ICMP error, no timeout.
    waiting: bool,
    answered: bool,
    /// Settled by an ICMP error; a genuine answer may still follow within
    /// the timeout (the error may be forged, or from a router that lies):
    /// it counts then, as with Linux ping.
    errored: bool,
}

impl<J> State<J> {
    /// The best send time known now, without waiting.
    fn sent_hint(&self) -> Option<Timestamp> {
        self.sent_at
            .or_else(|| self.sent.as_ref().map(Sent::queued_at))
    }
}

/// The probes remembered under one key, oldest first. Most keys hold one
/// (an echo's sequence number); a key used again (ARP's target) holds one
/// per use until they are forgotten.
struct Slot<J> {
    first: State<J>,
    more: Vec<State<J>>,
}

impl<J> Slot<J> {
    fn newest(&self) -> &State<J> {
        self.more.last().unwrap_or(&self.first)
    }

    fn get_mut(&mut self, serial: u64) -> Option<&mut State<J>> {
        if self.first.serial == serial {
            return Some(&mut self.first);
        }
        self.more.iter_mut().find(|p| p.serial == serial)
    }

    /// The probe an answer captured at `at` is for: the newest sent before
    /// it (an answer cannot precede its probe), else the oldest.
    fn answered_at(&mut self, at: Timestamp) -> &mut State<J> {
        if self.more.is_empty() {
            return &mut self.first;
        }
        let newest_before = self
            .more
            .iter()
            .rposition(|p| p.sent_hint().is_none_or(|t| t <= at));
        match newest_before {
            Some(i) => &mut self.more[i],
            None => &mut self.first,
        }
    }

    /// Removes the probe `serial`; returns whether the slot is empty now.
    fn remove(&mut self, serial: u64) -> bool {
        if self.first.serial == serial {
            if self.more.is_empty() {
                return true;
            }
            self.first = self.more.remove(0);
        } else {
            self.more.retain(|p| p.serial != serial);
        }
        false
    }
}

/// Hashes keys the engine chose itself (looked up once per answer): a
/// multiplication per word instead of SipHash, which showed in a flood's
/// profile. Lookups of keys from the network cannot add entries, so a
/// collision-seeking peer only slows its own lookups.
#[derive(Default)]
struct KeyHasher(u64);

const SPREAD: u64 = 0x9e37_79b9_7f4a_7c15;

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(SPREAD);
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }

    fn write_u16(&mut self, n: u16) {
        self.write_u64(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(SPREAD);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

type ByKey<K, V> = HashMap<K, V, BuildHasherDefault<KeyHasher>>;

/// The engine: one [`Kind`] of probe on one [`Interface`], at a [`Pace`].
///
/// It keeps its state between runs: a second [`Engine::run`] goes on where
/// the first stopped (sequence numbers, statistics, probes still waiting,
/// the interval since the last probe).
pub struct Engine<'i, K: Kind> {
    interface: InterfaceRef<'i>,
    kind: K,
    pace: Pace,
    inbox: Receiver<Answer<K::Key, K::Reply>>,
    _listening: Vec<Subscription>,
    probes: ByKey<K::Key, Slot<K::Job>>,
    /// The last `pace.memory` probes, oldest first.
    order: VecDeque<(K::Key, u64)>,
    /// Probes waiting for their outcome, by serial (so oldest first).
    in_flight: BTreeMap<u64, K::Key>,
    /// Jobs to try again, first served.
    retries: VecDeque<(K::Job, u32)>,
    /// The job to send next, when the pace allows.
    pending: Option<(K::Job, u32)>,
    /// Serial number of the next probe.
    serial: u64,
    last_send: Option<Instant>,
    /// When the next probe is due by the interval: the schedule, which a
    /// late wake-up does not push back (up to [`MAX_LAG`]), so the rate
    /// holds at sub-millisecond intervals.
    due: Option<Instant>,
    /// The budget's theoretical arrival time (GCRA): a probe may go once
    /// `now >= tat - (burst - 1) * every`; each probe moves it on by `every`.
    budget_tat: Option<Instant>,
    /// No probe before this (after a failed send).
    hold_until: Option<Instant>,
    stats: Statistics,
}

impl<'i, K: Kind> Engine<'i, K> {
    /// Starts listening for the kind's answers on `interface` (borrowed,
    /// `&Interface`, or shared, `Arc<Interface>`: an engine on a shared
    /// one borrows nothing and can be stored and moved). With
    /// `keep_frames`, events carry the frames' bytes (for hex dumps).
    pub fn new(
        interface: impl Into<InterfaceRef<'i>>,
        kind: K,
        pace: Pace,
        keep_frames: bool,
    ) -> Self {
        let interface = interface.into();
        let (tx, inbox) = mpsc::channel();
        let listening = kind.listen(&interface, Inbox::channel(tx, keep_frames));
        Engine {
            interface,
            kind,
            pace,
            inbox,
            _listening: listening,
            probes: ByKey::default(),
            order: VecDeque::new(),
            in_flight: BTreeMap::new(),
            retries: VecDeque::new(),
            pending: None,
            serial: 0,
            last_send: None,
            due: None,
            budget_tat: None,
            hold_until: None,
            stats: Statistics::default(),
        }
    }

    /// The statistics so far.
    pub fn statistics(&self) -> &Statistics {
        &self.stats
    }

    /// The pace in force.
    pub fn pace(&self) -> &Pace {
        &self.pace
    }

    /// Changes the pace (for the next run).
    pub fn set_pace(&mut self, pace: Pace) {
        self.pace = pace;
    }

    /// The kind of probe.
    pub fn kind(&self) -> &K {
        &self.kind
    }

    /// The interface probes go out on.
    pub fn interface(&self) -> &Interface {
        &self.interface
    }

    /// How many probes are remembered (waiting, or settled and kept for
    /// late answers).
    #[cfg(test)]
    pub(super) fn remembered(&self) -> usize {
        self.probes.values().map(|s| 1 + s.more.len()).sum()
    }

    /// After a run, keeps hearing answers (duplicates, late ones) until
    /// `after` has passed since the last probe was sent, or `stop` is set.
    /// Probes still waiting are not timed out. For a mode whose last
    /// probe's duplicates matter (an ARP conflict), as a lock step would
    /// hear them before its next probe.
    pub fn linger<P: Plan<K> + ?Sized>(
        &mut self,
        after: Duration,
        plan: &mut P,
        stop: &AtomicBool,
    ) {
        let Some(until) = self.last_send.map(|at| at + after) else {
            return;
        };
        loop {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            if let Ok(answer) = self.inbox.recv_timeout(left.min(STOP_CHECK)) {
                self.handle(answer, plan);
            }
        }
    }

    /// How many probes wait for their answer now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Probes the plan's jobs at the pace, reporting every event to the
    /// plan, until every job was probed and settled ([`End::Done`]), the
    /// plan says it is finished ([`End::Finished`]), or `stop` is set
    /// ([`End::Stopped`], probes may still be waiting: another run goes on
    /// with them).
    pub fn run<P: Plan<K> + ?Sized>(&mut self, plan: &mut P, stop: &AtomicBool) -> End {
        loop {
            if stop.load(Ordering::SeqCst) {
                return End::Stopped;
            }
            // Whatever came in, without blocking.
            while let Ok(answer) = self.inbox.try_recv() {
                self.handle(answer, plan);
            }
            let now = Instant::now();
            self.expire_due(now, plan);
            if plan.finished() {
                return End::Finished;
            }
            if self.pending.is_none() {
                self.pending = self
                    .retries
                    .pop_front()
                    .or_else(|| plan.next().map(|job| (job, 0)));
            }
            // (Asking for the next job may have finished the plan: a trace
            // giving up on a silent hop does it there.)
            if plan.finished() {
                return End::Finished;
            }
            let later = plan.later();
            if self.pending.is_none() && self.in_flight.is_empty() && later.is_none() {
                return End::Done;
            }
            let next_send = self.next_send(now);
            if next_send.is_some_and(|at| at <= now) {
                if let Some((job, attempt)) = self.pending.take() {
                    let probes = &self.probes;
                    let key = self.kind.key(&job, &|k| is_waiting(probes, k));
                    if is_waiting(&self.probes, &key) {
                        // Its key is still waiting: not before it settles.
                        self.pending = Some((job, attempt));
                    } else {
                        self.send(job, key, attempt, now, plan);
                        continue;
                    }
                }
            }
            // Nothing to do until an answer, the oldest deadline, or the
            // next send.
            let mut until = now + STOP_CHECK;
            if let Some(deadline) = self.oldest_deadline() {
                until = until.min(deadline);
            }
            if let Some(at) = next_send.filter(|&at| at > now) {
                until = until.min(at);
            }
            if let Some(at) = later {
                // A time already past (the plan has not caught up with it)
                // is asked again a millisecond on, not in a spin.
                until = until.min(at.max(now + Duration::from_millis(1)));
            }
            if let Ok(answer) = self
                .inbox
                .recv_timeout(until.saturating_duration_since(now))
            {
                self.handle(answer, plan);
            }
        }
    }

    /// When the pending job may go, if the window lets it go at all before
    /// something settles.
    fn next_send(&self, now: Instant) -> Option<Instant> {
        self.pending.as_ref()?;
        let waiting = self.in_flight.len();
        let paced = self
            .due
            .unwrap_or(now)
            .max(self.hold_until.unwrap_or(now))
            .max(self.budget_ready().unwrap_or(now));
        let at = if waiting < self.pace.window {
            paced
        } else {
            let tick = self.pace.tick?;
            if waiting >= MAX_IN_FLIGHT {
                return None;
            }
            paced.max(self.last_send.map_or(now, |at| at + tick))
        };
        Some(at)
    }

    /// When the budget lets the next probe go, if there is a budget and it
    /// was spent.
    fn budget_ready(&self) -> Option<Instant> {
        let budget = self.pace.budget?;
        let tat = self.budget_tat?;
        let tolerance = budget.every * budget.burst.saturating_sub(1);
        // Before the clock's origin: long ready.
        tat.checked_sub(tolerance)
    }

    fn oldest_deadline(&self) -> Option<Instant> {
        let (&serial, key) = self.in_flight.first_key_value()?;
        self.probe(key, serial).and_then(|p| p.deadline)
    }

    fn probe(&self, key: &K::Key, serial: u64) -> Option<&State<K::Job>> {
        let slot = self.probes.get(key)?;
        if slot.first.serial == serial {
            return Some(&slot.first);
        }
        slot.more.iter().find(|p| p.serial == serial)
    }

    fn probe_mut(&mut self, key: &K::Key, serial: u64) -> Option<&mut State<K::Job>> {
        self.probes.get_mut(key)?.get_mut(serial)
    }

    /// Times out, oldest first, the probes whose deadline has passed.
    fn expire_due<P: Plan<K> + ?Sized>(&mut self, now: Instant, plan: &mut P) {
        while let Some((&serial, &key)) = self.in_flight.first_key_value() {
            match self.probe(&key, serial).map(|p| (p.waiting, p.deadline)) {
                Some((true, Some(deadline))) if deadline > now => break,
                Some((true, _)) => self.expire(key, serial, plan),
                _ => {
                    self.in_flight.pop_first();
                }
            }
        }
    }

    /// Probe `serial` got no outcome in time.
    fn expire<P: Plan<K> + ?Sized>(&mut self, key: K::Key, serial: u64, plan: &mut P) {
        let Some(p) = self.probe(&key, serial).filter(|p| p.waiting) else {
            return;
        };
        let (job, attempt, answered) = (p.job.clone(), p.attempt, p.answered);
        self.settle(key, serial);
        let retry = !answered && attempt + 1 < self.pace.tries && plan.retry(&job);
        let probe = Probe {
            job: &job,
            key: &key,
            attempt,
            serial,
        };
        plan.event(&Event::Timeout { probe, retry });
        if retry {
            self.retries.push_back((job, attempt + 1));
        }
    }

    /// Sends a probe of `job` with `key`.
    fn send<P: Plan<K> + ?Sized>(
        &mut self,
        job: K::Job,
        key: K::Key,
        attempt: u32,
        now: Instant,
        plan: &mut P,
    ) {
        let serial = self.serial;
        self.serial += 1;
        self.stats.sent += 1;
        self.last_send = Some(now);
        // Late by a wake-up's jitter: the next is due on schedule (sooner),
        // catching up at most MAX_LAG; later than that, the pace restarts.
        let floor = now.checked_sub(MAX_LAG).unwrap_or(now);
        let scheduled = self.due.map_or(now, |due| due.max(floor));
        self.due = Some(scheduled + self.pace.interval);
        if let Some(budget) = self.pace.budget {
            let tat = self.budget_tat.map_or(now, |t| t.max(now));
            self.budget_tat = Some(tat + budget.every);
        }
        let result = self.kind.send(&self.interface, &job, &key);
        let probe = Probe {
            job: &job,
            key: &key,
            attempt,
            serial,
        };
        match &result {
            Ok(sent) => plan.event(&Event::Sent { probe, sent }),
            // Ctrl+C during an ARP wait: nothing to say.
            Err(interface::Error::Interrupted) => {}
            Err(error) => {
                plan.event(&Event::SendFailed { probe, error });
                self.hold_until = Some(now + self.pace.failure_pause());
            }
        }
        let sent = result.ok();
        let waiting = sent.is_some();
        let deadline = waiting.then(|| now + self.pace.timeout);
        let probe = State {
            serial,
            job,
            attempt,
            sent,
            sent_at: None,
            deadline,
            waiting,
            answered: false,
            errored: false,
        };
        match self.probes.get_mut(&key) {
            Some(slot) => slot.more.push(probe),
            None => {
                self.probes.insert(
                    key,
                    Slot {
                        first: probe,
                        more: Vec::new(),
                    },
                );
            }
        }
        if waiting {
            self.in_flight.insert(serial, key);
        }
        self.remember(key, serial);
    }

    /// Keeps the last `pace.memory` probes; older ones are forgotten once
    /// settled.
    fn remember(&mut self, key: K::Key, serial: u64) {
        self.order.push_back((key, serial));
        while self.order.len() > self.pace.memory.max(1) {
            let Some((old_key, old_serial)) = self.order.pop_front() else {
                break;
            };
            // One still waiting is forgotten when settled.
            if self.probe(&old_key, old_serial).is_some_and(|p| !p.waiting) {
                self.forget(old_key, old_serial);
            }
        }
    }

    fn forget(&mut self, key: K::Key, serial: u64) {
        if let Some(slot) = self.probes.get_mut(&key) {
            if slot.remove(serial) {
                self.probes.remove(&key);
            }
        }
    }

    /// Probe `serial` is no longer waiting (answered, refused, timed out).
    fn settle(&mut self, key: K::Key, serial: u64) {
        let memory = self.pace.memory.max(1) as u64;
        let newest = self.serial;
        let Some(p) = self.probe_mut(&key, serial) else {
            return;
        };
        if !std::mem::replace(&mut p.waiting, false) {
            return;
        }
        if let Some(sent) = p.sent.take() {
            // Kept for late answers; the capture has long seen the probe.
            p.sent_at.get_or_insert_with(|| {
                sent.wire_timestamp(Duration::ZERO)
                    .unwrap_or(sent.queued_at())
            });
        }
        self.in_flight.remove(&serial);
        // Waited past its turn in `order`: forget it now.
        if serial + memory < newest {
            self.forget(key, serial);
        }
    }

    /// Reports one answer.
    fn handle<P: Plan<K> + ?Sized>(&mut self, answer: Answer<K::Key, K::Reply>, plan: &mut P) {
        let Answer {
            key,
            from,
            at,
            outcome,
            frame,
        } = answer;
        if let Some(frame) = &frame {
            plan.event(&Event::Captured { frame });
        }
        let own_frame_wait = self.pace.own_frame_wait;
        let timeout = self.pace.timeout;
        // Not a probe of this run (or long forgotten).
        let Some(slot) = self.probes.get_mut(&key) else {
            if let Outcome::Reply(reply) = &outcome {
                plan.event(&Event::Stray {
                    key: &key,
                    from,
                    reply,
                });
            }
            return;
        };
        let state = slot.answered_at(at);
        let serial = state.serial;
        let attempt = state.attempt;
        match outcome {
            Outcome::Seen => {}
            Outcome::Damaged(damage) => {
                let probe = Probe {
                    job: &state.job,
                    key: &key,
                    attempt,
                    serial,
                };
                plan.event(&Event::Damaged {
                    probe,
                    from,
                    damage,
                })
            }
            Outcome::Error(error) => {
                if !state.waiting {
                    return;
                }
                state.errored = true;
                let job = state.job.clone();
                self.settle(key, serial);
                let probe = Probe {
                    job: &job,
                    key: &key,
                    attempt,
                    serial,
                };
                plan.event(&Event::Error { probe, from, error });
            }
            Outcome::Reply(reply) => {
                let sent_at = match (state.sent_at, &state.sent) {
                    (Some(t), _) => t,
                    (None, Some(sent)) => {
                        // When the answer is in, the capture has handed over
                        // our own frame (it came first); the wait is for
                        // platforms where that may not hold.
                        let t = sent
                            .wire_timestamp(Duration::ZERO)
                            .or_else(|| sent.wire_timestamp(own_frame_wait))
                            .unwrap_or(sent.queued_at());
                        state.sent_at = Some(t);
                        t
                    }
                    (None, None) => at,
                };
                let rtt = at.since(sent_at);
                let job = state.job.clone();
                let probe = Probe {
                    job: &job,
                    key: &key,
                    attempt,
                    serial,
                };
                let answered = Answered {
                    probe,
                    from,
                    rtt,
                    reply: &reply,
                };
                if state.answered {
                    self.stats.duplicates += 1;
                    plan.event(&Event::Duplicate(answered));
                    return;
                }
                state.answered = true;
                if !state.waiting && state.errored && rtt <= timeout {
                    // An ICMP error came first (its probe is settled and the
                    // run went on), but this is the answer, in time.
                    self.stats.add(rtt);
                    plan.event(&Event::Reply(answered));
                } else if !state.waiting {
                    // Timed out, or never sent.
                    plan.event(&Event::Late(answered));
                } else if rtt > timeout {
                    // In before we noticed, but past the timeout by the capture clock.
                    self.settle(key, serial);
                    let retry = false;
                    plan.event(&Event::Timeout { probe, retry });
                    plan.event(&Event::Late(answered));
                } else {
                    self.stats.add(rtt);
                    self.settle(key, serial);
                    plan.event(&Event::Reply(answered));
                }
            }
        }
    }
}

/// Whether a probe with `key` waits for its answer now (only the newest
/// with a key can).
fn is_waiting<K: Eq + Hash, J>(probes: &ByKey<K, Slot<J>>, key: &K) -> bool {
    probes.get(key).is_some_and(|s| s.newest().waiting)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_goes_to_the_newest_probe_sent_before_it() {
        let state = |serial, queued: u64| State {
            serial,
            job: (),
            attempt: 0,
            sent: None,
            sent_at: Some(Timestamp::from_unix(Duration::from_millis(queued))),
            deadline: None,
            waiting: false,
            answered: false,
            errored: false,
        };
        let at = |ms| Timestamp::from_unix(Duration::from_millis(ms));
        let mut slot = Slot {
            first: state(1, 100),
            more: vec![state(2, 200), state(3, 300)],
        };
        assert_eq!(slot.answered_at(at(250)).serial, 2);
        assert_eq!(slot.answered_at(at(300)).serial, 3);
        assert_eq!(slot.answered_at(at(999)).serial, 3);
        assert_eq!(slot.answered_at(at(150)).serial, 1);
        // Before every probe: the oldest (it cannot be an answer to any; the
        // oldest is the one it is most likely late for).
        assert_eq!(slot.answered_at(at(50)).serial, 1);
        assert!(!slot.remove(1));
        assert_eq!(slot.first.serial, 2);
        assert!(!slot.remove(3));
        assert!(slot.remove(2));
    }
}
