//! [`Pinger`]: the shortest way to ping from Rust with ersatz, checking
//! everything a reply must pass.
//!
//! ```no_run
//! use std::time::Duration;
//! use ersatz::Pinger;
//!
//! # fn main() -> Result<(), ersatz::Error> {
//! let pinger = Pinger::open("10.77.2.2".parse()?)?; // route, NIC, our own ARP
//! let reply = pinger.ping(b"hello", Duration::from_secs(4))?;
//! println!("{} bytes from {}: time={:?} TTL={}", reply.bytes, reply.from, reply.rtt, reply.ttl);
//! # Ok(()) }
//! ```
//!
//! A [`Pinger`] owns its [`Interface`] through an `Arc`: it is `Send +
//! Sync`, can be stored and moved, and pinged from several threads at once
//! (each [`Pinger::ping`] has its own sequence number). [`Pinger::run`] is
//! the long-running form: ping.exe's session ([`crate::ping::Session`]) as an
//! iterator of [`Event`]s, with a [`Stop`] handle.

use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::capture::Timestamp;
use crate::interface::{EchoKey, Received};
use crate::ping::{Event, Options, Session, Statistics};
use crate::{icmp, ipv4, Blob, Error, ErrorKind, Interface};

/// The largest payload of one echo request: an IPv4 packet holds at most
/// 65,535 bytes, less 20 of IPv4 header and 8 of ICMP header.
pub const MAX_PAYLOAD: usize = 65_535 - 20 - 8;

/// Pings one target through an [`Interface`] it shares: open it with
/// [`Pinger::open`] (or on an Interface of yours with
/// [`Pinger::on_interface`]), then [`Pinger::ping`] or [`Pinger::run`].
///
/// [`Pinger::ping`] takes only the reply: an echo reply whose IPv4 header
/// checksum and ICMP checksum are right, from the target, with this
/// pinger's identifier and the request's sequence number, carrying the
/// request's payload byte for byte. Anything else (a damaged or forged
/// reply, an ICMP error, a reply to another request) is ignored, and the
/// wait goes on until the reply or the timeout.
pub struct Pinger {
    interface: Arc<Interface>,
    target: ipv4::Addr,
    identifier: u16,
    ttl: u8,
    next_seq: AtomicU16,
    /// IPv4 identification of sequence number 0: request `seq` has
    /// `ip_id + seq`, so that requests in flight never share one (their
    /// capture timestamps are found by it).
    ip_id: u16,
}

impl std::fmt::Debug for Pinger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pinger")
            .field("nic", &self.interface.nic().name)
            .field("target", &self.target)
            .field("identifier", &self.identifier)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// An echo reply that passed every check of [`Pinger::ping`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reply {
    /// Who answered: the target.
    pub from: ipv4::Addr,
    /// Round-trip time: the reply's capture time minus the request's (the
    /// time it was captured leaving, or where the capture does not show our
    /// own frames, the time it was handed to the capture library).
    pub rtt: Duration,
    /// The reply's time to live.
    pub ttl: u8,
    /// Payload bytes (the same as the request's).
    pub bytes: usize,
    /// The echo sequence number of the request and reply.
    pub sequence_number: u16,
    /// When the reply was captured.
    pub at: Timestamp,
}

impl std::fmt::Display for Reply {
    /// As ping.exe says it: `Reply from 10.77.2.2: bytes=32 time=0.043ms TTL=63`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Reply from {}: bytes={} time={:.3}ms TTL={}",
            self.from,
            self.bytes,
            self.rtt.as_secs_f64() * 1e3,
            self.ttl
        )
    }
}

impl Pinger {
    /// Opens the NIC that routes to `target` and learns its next hop's MAC
    /// with our own ARP request ([`Interface::open_for`]).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), ersatz::Error> {
    /// let pinger = ersatz::Pinger::open("10.77.2.2".parse()?)?;
    /// assert_eq!(pinger.target().to_string(), "10.77.2.2");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Route`] when no route or NIC reaches `target` (or it is
    /// this machine's own address), [`ErrorKind::Capture`] or
    /// [`ErrorKind::PermissionDenied`] when the NIC cannot be opened for raw
    /// frames (no capture library, not root / administrator),
    /// [`ErrorKind::ArpTimeout`] when the next hop answers no ARP request.
    pub fn open(target: ipv4::Addr) -> Result<Pinger, Error> {
        let interface = Interface::open_for(target)?;
        Ok(Pinger::on_interface(Arc::new(interface), target))
    }

    /// A pinger of `target` on an Interface already open (a real NIC's, or
    /// one on an in-memory link, [`Interface::on_link`]). Nothing is sent:
    /// the next hop's MAC is asked for on the first ping if the Interface
    /// has not learned it yet.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use ersatz::{link::Memory, Interface, Pinger};
    ///
    /// let (link, _peer) = Memory::new();
    /// let interface = Arc::new(Interface::on_link(Memory::nic(), link));
    /// let pinger = Pinger::on_interface(interface, "10.9.9.9".parse().unwrap());
    /// assert_eq!(pinger.interface().nic().addr, Memory::ADDR);
    /// ```
    pub fn on_interface(interface: Arc<Interface>, target: ipv4::Addr) -> Pinger {
        Pinger {
            interface,
            target,
            identifier: rand::random(),
            ttl: ipv4::DEFAULT_TTL,
            // Random, like the identifier: two pingers that happen to share
            // an identifier (1 in 65,536) then still number apart.
            next_seq: AtomicU16::new(rand::random()),
            ip_id: rand::random(),
        }
    }

    /// Sets the time to live of the requests (128 by default, like Windows).
    #[must_use]
    pub fn ttl(mut self, ttl: u8) -> Self {
        self.ttl = ttl;
        self
    }

    /// Sets the echo identifier of [`Pinger::ping`]'s requests (random by
    /// default). Replies are told apart by identifier and sequence number:
    /// two pingers of one Interface and target must not share one, or each
    /// may take the other's replies.
    #[must_use]
    pub fn identifier(mut self, identifier: u16) -> Self {
        self.identifier = identifier;
        self
    }

    /// The target.
    pub fn target(&self) -> ipv4::Addr {
        self.target
    }

    /// The echo identifier of [`Pinger::ping`]'s requests.
    pub fn echo_identifier(&self) -> u16 {
        self.identifier
    }

    /// The Interface the pinger sends and captures through.
    pub fn interface(&self) -> &Arc<Interface> {
        &self.interface
    }

    /// Sends one echo request carrying `payload` and waits up to `timeout`
    /// (from the moment it was sent) for its reply. Several threads may
    /// ping at once through one pinger: each request has a sequence number
    /// of its own (they wrap after 65,536 requests). Before the first
    /// request, the next hop's MAC may have to be learned with our own ARP
    /// (up to [`crate::interface::ARP_TRIES`] requests a second apart),
    /// which comes before the timeout starts.
    ///
    /// Only the reply is taken: an echo reply from the target whose IPv4
    /// header checksum and ICMP checksum are right, with our identifier and
    /// this request's sequence number, carrying `payload` byte for byte.
    /// Anything else is ignored and the wait goes on.
    ///
    /// ```no_run
    /// # fn main() -> Result<(), ersatz::Error> {
    /// use std::time::Duration;
    /// let pinger = ersatz::Pinger::open("10.77.2.2".parse()?)?;
    /// match pinger.ping(b"are you there?", Duration::from_secs(1)) {
    ///     Ok(reply) => println!("time={:?} TTL={}", reply.rtt, reply.ttl),
    ///     Err(e) if e.is_timeout() => println!("Request timed out."),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Timeout`] when no such reply came within `timeout`;
    /// [`ErrorKind::InvalidInput`] when `payload` is longer than
    /// [`MAX_PAYLOAD`]; what sending can fail with
    /// ([`Interface::send_packet`]): [`ErrorKind::ArpTimeout`] (the next hop
    /// answers no ARP), [`ErrorKind::Route`] (no gateway for a routed
    /// target), [`ErrorKind::Send`], [`ErrorKind::Interrupted`].
    pub fn ping(&self, payload: &[u8], timeout: Duration) -> Result<Reply, Error> {
        if payload.len() > MAX_PAYLOAD {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "a payload of {} bytes does not fit in one echo request (at most {MAX_PAYLOAD})",
                    payload.len()
                ),
            ));
        }
        let sequence_number = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let echo = icmp::Echo {
            identifier: self.identifier,
            sequence_number,
        };
        let key = EchoKey {
            peer: self.target,
            echo,
        };
        let expected: Arc<[u8]> = payload.into();
        let target = self.target;
        // Filed before sending, so that no reply can slip past.
        let reply = self
            .interface
            .expect_echo(key, move |r| accept(r, target, echo, &expected));
        let mut packet = echo
            .into_echo_request(Blob::from(payload))
            .into_ipv4_payload()
            .into_packet(self.interface.nic().addr, self.target);
        packet.ttl = self.ttl;
        packet.identification = self.ip_id.wrapping_add(sequence_number);
        let sent = self.interface.send_packet(&packet)?;
        // (A timeout too long for the clock waits for ever.)
        let waited = match Instant::now().checked_add(timeout) {
            Some(deadline) => reply.wait_until(deadline),
            None => reply.wait_forever(),
        };
        let (at, ttl, bytes) = waited.map_err(|e| match e.kind() {
            ErrorKind::Timeout => Error::timeout(timeout),
            _ => e,
        })?;
        // Our own frame was captured before the reply, if the capture shows
        // our frames at all: no need to wait for its timestamp.
        let sent_at = sent.timestamp(Duration::ZERO);
        Ok(Reply {
            from: target,
            rtt: at.since(sent_at),
            ttl,
            bytes,
            sequence_number,
            at,
        })
    }

    /// Pings the way ping.exe does, `count` times (`None`: until
    /// [`Stop::stop`]), one request every `interval`, each waiting up to 4
    /// seconds for its reply; the events come out of the returned
    /// iterator. See [`Pinger::run_with`].
    ///
    /// ```no_run
    /// # fn main() -> Result<(), ersatz::Error> {
    /// use std::time::Duration;
    /// use ersatz::ping::Event;
    /// let pinger = ersatz::Pinger::open("10.77.2.2".parse()?)?;
    /// for event in pinger.run(Some(4), Duration::from_secs(1)) {
    ///     match event {
    ///         Event::Reply(r) => println!("Reply from {}: time={:?}", r.from, r.rtt),
    ///         Event::Timeout { .. } => println!("Request timed out."),
    ///         _ => {}
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn run(&self, count: Option<u32>, interval: Duration) -> Run {
        self.run_with(count, Options::default().interval(interval).ttl(self.ttl))
    }

    /// Pings as [`Pinger::run`] does, with every option of
    /// [`crate::ping::Session`] (payload size, TTL, Don't Fragment, timeout,
    /// interval): ping.exe's session on the pinger's Interface, reporting
    /// every [`Event`] (replies, duplicates, damaged and late replies, ICMP
    /// errors, timeouts) through the returned iterator. The run has an echo
    /// identifier of its own, so that it and [`Pinger::ping`] never take
    /// each other's replies.
    ///
    /// Nothing is sent until the iterator is first advanced. Each request's
    /// events come out once it is settled (its reply, error or timeout),
    /// preceded by whatever came in between (duplicates, late replies).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), ersatz::Error> {
    /// use std::time::Duration;
    /// use ersatz::ping::{Event, Options};
    /// let pinger = ersatz::Pinger::open("10.77.2.2".parse()?)?;
    /// let options = Options::default().size(1400).dont_fragment(true).timeout(Duration::from_secs(1));
    /// let mut run = pinger.run_with(None, options); // until stopped
    /// let stop = run.stop_handle();
    /// std::thread::spawn(move || {
    ///     std::thread::sleep(Duration::from_secs(10));
    ///     stop.stop();
    /// });
    /// for event in run.by_ref() {
    ///     if let Event::NeedsFragmentation { .. } = event {
    ///         println!("1400 bytes do not fit the MTU");
    ///     }
    /// }
    /// println!("{} of {} answered", run.statistics().received, run.statistics().sent);
    /// # Ok(()) }
    /// ```
    pub fn run_with(&self, count: Option<u32>, options: Options) -> Run {
        let mut options = options;
        while options.identifier == self.identifier {
            options.identifier = rand::random();
        }
        Run {
            session: Session::new(self.interface.clone(), self.target, options),
            left: count,
            stop: Stop::default(),
            ready: std::collections::VecDeque::new(),
        }
    }
}

/// Whether `r` is the reply to echo request `echo` to `target` carrying
/// `payload`: its capture time, TTL and payload length if so.
fn accept(
    r: &Received<'_>,
    target: ipv4::Addr,
    echo: icmp::Echo,
    payload: &[u8],
) -> Option<(Timestamp, u8, usize)> {
    let ipv4::Payload::ICMP(message) = &r.packet.payload else {
        return None;
    };
    let icmp::Header::EchoReply(answered) = message.header else {
        return None;
    };
    let whole = r.packet.checksum_ok
        && message.checksum_ok
        && r.packet.src == target
        && answered == echo
        && message.payload[..] == *payload;
    whole.then_some((r.timestamp, r.packet.ttl, message.payload.len()))
}

/// Stops a [`Run`] from anywhere (another thread, a Ctrl+C handler):
/// the request in progress is left unanswered and the iterator ends.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<AtomicBool>);

impl Stop {
    /// Stops the run.
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether [`Stop::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// The events of [`Pinger::run`], in the order they happened; ends after
/// the last request is settled, or at once after [`Stop::stop`]. Owns what
/// it needs (`Send`, `'static`): move it to another thread if you like.
#[must_use = "nothing is sent until the iterator is advanced"]
pub struct Run {
    session: Session<'static>,
    left: Option<u32>,
    stop: Stop,
    ready: std::collections::VecDeque<Event>,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run")
            .field("target", &self.session.target())
            .field("left", &self.left)
            .field("stopped", &self.stop.is_stopped())
            .finish_non_exhaustive()
    }
}

impl Run {
    /// A handle that stops this run.
    pub fn stop_handle(&self) -> Stop {
        self.stop.clone()
    }

    /// What was sent and received so far (ping.exe's statistics).
    pub fn statistics(&self) -> &Statistics {
        self.session.statistics()
    }
}

impl Iterator for Run {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(event);
            }
            if self.stop.is_stopped() || self.left == Some(0) {
                return None;
            }
            if let Some(n) = &mut self.left {
                *n -= 1;
            }
            let ready = &mut self.ready;
            self.session
                .probe(&self.stop.0, &mut |event| ready.push_back(event.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinger_and_run_are_send_and_sync_or_send() {
        fn send_sync<T: Send + Sync + 'static>() {}
        fn send<T: Send + 'static>() {}
        send_sync::<Pinger>();
        send::<Run>();
        send_sync::<Stop>();
    }
}
