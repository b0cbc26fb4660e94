//! A ping session over an [`Interface`]: echo requests built by ersatz,
//! replies matched by source, identifier, sequence number and payload, ICMP
//! errors matched through the request they quote, and the statistics
//! `ping.exe` prints. `sup` is a thin command line over this module.
//!
//! What counts as received is stricter than `ping.exe`: only an echo reply
//! from the target, with good checksums and our exact payload, for a request
//! not answered before. Duplicates, damaged replies, late replies and ICMP
//! errors are reported as what they are and never counted.

use std::collections::{HashMap, VecDeque};
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
    /// The reply to the current request. Counted as received.
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

/// The filter run on the capture thread: echo replies carrying our
/// identifier from the target, and ICMP errors quoting one of our requests.
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

/// How many past requests are remembered for duplicates and late replies.
const MEMORY: usize = 1024;

struct Probe {
    sent: Option<Sent>,
    answered: bool,
    timed_out: bool,
}

/// A running ping: call [`Session::probe`] for each request.
pub struct Session<'i> {
    interface: &'i Interface,
    target: ipv4::Addr,
    options: Options,
    payload: Arc<[u8]>,
    inbox: Expectation<Incoming>,
    next_seq: u16,
    next_send: Option<Instant>,
    probes: HashMap<u16, Probe>,
    order: VecDeque<u16>,
    stats: Statistics,
    keep_frames: bool,
}

/// How often a wait looks at the stop flag.
const STOP_CHECK: Duration = Duration::from_millis(20);

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
        let inbox = interface
            .listen_ipv4(move |r| classify(r, target, us, identifier, &expected, keep_frames));
        Session {
            interface,
            target,
            options,
            payload,
            inbox,
            next_seq: 1,
            next_send: None,
            probes: HashMap::new(),
            order: VecDeque::new(),
            stats: Statistics::default(),
            keep_frames,
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
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        let started = Instant::now();
        self.next_send = Some(started + self.options.interval);
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
                if let Some(p) = self.probes.get_mut(&seq) {
                    p.sent = Some(sent);
                }
            }
            Err(Error::ArpTimeout(_)) => {
                on_event(&Event::HostUnreachable {
                    seq,
                    from: self.interface.nic().addr,
                });
                return;
            }
            Err(Error::Interrupted) => return,
            Err(Error::NeedsFragmentation { .. }) => {
                on_event(&Event::NeedsFragmentation { seq });
                return;
            }
            Err(e) => {
                on_event(&Event::SendFailed {
                    seq,
                    error: e.to_string(),
                });
                return;
            }
        }
        let deadline = Instant::now() + self.options.timeout;
        if !self.drain_until(deadline, Some(seq), stop, on_event) && !stop.load(Ordering::SeqCst) {
            if let Some(p) = self.probes.get_mut(&seq) {
                p.timed_out = true;
            }
            on_event(&Event::Timeout { seq });
        }
    }

    fn remember(&mut self, seq: u16) {
        self.probes.insert(
            seq,
            Probe {
                sent: None,
                answered: false,
                timed_out: false,
            },
        );
        self.order.push_back(seq);
        while self.order.len() > MEMORY {
            if let Some(old) = self.order.pop_front() {
                self.probes.remove(&old);
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
            if self.handle(incoming, current, on_event) {
                return true;
            }
        }
    }

    /// Reports one incoming message; true if it settles request `current`.
    fn handle(
        &mut self,
        incoming: Incoming,
        current: Option<u16>,
        on_event: &mut dyn FnMut(&Event),
    ) -> bool {
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
                let Some(probe) = self.probes.get_mut(&seq) else {
                    return false; // not a request of this run (or long forgotten)
                };
                if let Some(damage) = damage {
                    on_event(&Event::Damaged { seq, from, damage });
                    return false;
                }
                let sent_at = probe
                    .sent
                    .as_ref()
                    .map(|s| s.timestamp(Duration::from_millis(50)))
                    .unwrap_or(at);
                let reply = Reply {
                    seq,
                    from,
                    bytes,
                    rtt: at.since(sent_at),
                    ttl,
                };
                if probe.answered {
                    on_event(&Event::Duplicate(reply));
                    false
                } else if probe.timed_out || Some(seq) != current {
                    probe.answered = true;
                    on_event(&Event::Late(reply));
                    false
                } else {
                    probe.answered = true;
                    self.stats.add(reply.rtt);
                    on_event(&Event::Reply(reply));
                    true
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
                if Some(seq) != current {
                    return false;
                }
                match header {
                    icmp::Header::DestinationUnreachable { code, .. } => {
                        on_event(&Event::Unreachable { seq, from, code })
                    }
                    icmp::Header::TimeExceeded { .. } => on_event(&Event::TtlExpired { seq, from }),
                    _ => return false,
                }
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
