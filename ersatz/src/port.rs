//! Port probes: is this TCP or UDP port of a host open, closed, or
//! filtered? What PsPing, nping, hping3 and `nmap -sS` ask, for hosts and
//! networks that drop ICMP echo.
//!
//! [`SynProbe`] sends a TCP SYN from a random source port, with the options
//! a real stack sends (MSS from the NIC's MTU, SACK permitted, timestamps,
//! window scale); a SYN-ACK acknowledging it says "open", an RST "closed",
//! silence "filtered". After a SYN-ACK we send the RST ourselves, as
//! `nmap -sS` does ([`ResetOpen`]), rather than leave it to the system,
//! whose firewall may drop the SYN-ACK silently (Windows' does): no
//! half-open connection is left behind. The initial sequence number of each
//! probe is a keyed hash of its ports and peer, so an answer is checked
//! (its acknowledgement number) on the capture thread without shared state.
//!
//! [`UdpProbe`] sends a datagram: an answer says "open", an ICMP port
//! unreachable "closed", silence "open or filtered" (as nmap words it).
//!
//! Answers are matched by the peer, its port and our source port (one
//! probe's key), found by a hash lookup on the capture thread
//! ([`Topic::Port`]); a segment with a bad checksum or the wrong
//! acknowledgement number is damaged, never counted; an RST for another
//! port is another key, never matched. The [`Interface`] must let the
//! probes' port through its capture filter: open it with [`opening`].

use std::ops::ControlFlow;
use std::time::Instant;

use crate::interface::{self, PortKey, Received, Sent, Subscription, Topic};
use crate::probe::{self, Answer, Damage, Event, IcmpError, Inbox, Outcome, Plan};
use crate::{icmp, ipv4, ping, tcp, udp, Blob, Interface};

/// TCP or UDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// TCP: a SYN.
    Tcp,
    /// UDP: a datagram.
    Udp,
}

impl Protocol {
    fn ip(self) -> ipv4::Protocol {
        match self {
            Protocol::Tcp => ipv4::Protocol::TCP,
            Protocol::Udp => ipv4::Protocol::UDP,
        }
    }

    /// `tcp` or `udp`, as BPF and people say it.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// How to open the [`Interface`] port probes of `protocol` to `port` run
/// on: that port's segments (to us and our own going out) let through the
/// capture filter.
pub fn opening(protocol: Protocol, port: u16) -> interface::Opening {
    let mut how = interface::Opening::default();
    how.capture.filter = Some(format!("{} and port {port}", protocol.name()));
    how
}

/// A probe's key: the peer, its port, our source port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortProbeKey {
    /// The target.
    pub peer: ipv4::Addr,
    /// The target's port.
    pub peer_port: u16,
    /// Our source port.
    pub our_port: u16,
}

/// What an answer says of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Something listens: a SYN-ACK, or a UDP answer.
    Open,
    /// Nothing listens: an RST, or an ICMP port unreachable.
    Closed,
}

impl State {
    /// `open` or `closed`.
    pub fn name(self) -> &'static str {
        match self {
            State::Open => "open",
            State::Closed => "closed",
        }
    }
}

/// An answer to a port probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortReply {
    /// The port's state.
    pub state: State,
    /// What said so: `SYN-ACK`, `RST`, `UDP reply`, `port unreachable`.
    pub what: &'static str,
    /// The answer's TTL.
    pub ttl: u8,
    /// For a SYN-ACK: the acknowledgement number (our RST's sequence number).
    pub ack: u32,
}

/// Source ports are drawn from the range systems use for their own
/// outgoing connections (Linux's default).
pub(crate) const EPHEMERAL: std::ops::Range<u16> = 32768..61000;

/// The initial sequence number of the probe with `key`: keyed by `secret`
/// so that no one can guess it, and found again from the key alone.
fn isn(secret: u64, key: &PortProbeKey) -> u32 {
    let mut h = secret;
    for word in [
        u64::from(u32::from_be_bytes(key.peer.0)),
        u64::from(key.peer_port) << 16 | u64::from(key.our_port),
    ] {
        h = (h ^ word).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h ^= h >> 29;
    }
    (h >> 32) as u32
}

/// Shared by both kinds: addresses, the port, what to send.
#[derive(Debug, Clone)]
struct Common {
    us: ipv4::Addr,
    port: u16,
    ttl: u8,
}

impl Common {
    fn key(&self, peer: ipv4::Addr, in_use: &dyn Fn(&PortProbeKey) -> bool) -> PortProbeKey {
        let mut key = PortProbeKey {
            peer,
            peer_port: self.port,
            our_port: 0,
        };
        for _ in 0..64 {
            key.our_port = rand::random_range(EPHEMERAL);
            if !in_use(&key) {
                break;
            }
        }
        key
    }

    /// Subscribes to `protocol` segments from our port and ICMP errors
    /// quoting them; `classify` says which probe each is for and what it
    /// says, on the capture thread.
    fn listen(
        &self,
        interface: &Interface,
        protocol: Protocol,
        inbox: Inbox<PortProbeKey, PortReply>,
        classify: impl Fn(&Received<'_>, &Common) -> Option<(PortProbeKey, Outcome<PortReply>)>
            + Send
            + 'static,
    ) -> Vec<Subscription> {
        let common = self.clone();
        let topic = Topic::Port(PortKey {
            protocol: protocol.ip(),
            port: common.port,
        });
        vec![interface.subscribe(topic, move |r| {
            let Some((key, outcome)) = classify(r, &common) else {
                return ControlFlow::Continue(());
            };
            inbox.deliver(Answer {
                key,
                from: r.packet.src,
                at: r.timestamp,
                outcome,
                frame: inbox.frame(r.frame),
            })
        })]
    }

    /// An ICMP error (good checksums) quoting one of our probes: its key
    /// and what it says. A port unreachable for UDP is the "closed" answer.
    fn error(
        &self,
        r: &Received<'_>,
        protocol: Protocol,
    ) -> Option<(PortProbeKey, Outcome<PortReply>)> {
        let ipv4::Payload::ICMP(m) = &r.packet.payload else {
            return None;
        };
        if !m.header.is_error() || !m.checksum_ok || !r.packet.checksum_ok {
            return None;
        }
        let quote = m.original()?;
        let (quoted, our_port, peer_port) = quote.ports()?;
        if quoted != protocol.ip() || quote.packet.src != self.us || peer_port != self.port {
            return None;
        }
        let key = PortProbeKey {
            peer: quote.packet.dst,
            peer_port,
            our_port,
        };
        let outcome = match m.header {
            icmp::Header::DestinationUnreachable {
                code: icmp::UnreachableCode::Port,
                ..
            } if protocol == Protocol::Udp => Outcome::Reply(PortReply {
                state: State::Closed,
                what: "port unreachable",
                ttl: r.packet.ttl,
                ack: 0,
            }),
            icmp::Header::DestinationUnreachable { code, .. } => {
                Outcome::Error(IcmpError::Unreachable(code))
            }
            icmp::Header::TimeExceeded { .. } => Outcome::Error(IcmpError::TtlExpired),
            _ => Outcome::Seen,
        };
        Some((key, outcome))
    }
}

/// TCP SYNs as a [`probe::Kind`]: each job a target address.
#[derive(Debug, Clone)]
pub struct SynProbe {
    common: Common,
    secret: u64,
    mss: u16,
    /// The timestamps option's clock.
    started: Instant,
    ts_base: u32,
}

impl SynProbe {
    /// SYNs from `nic` to `port` of each target, with IPv4 TTL `ttl`.
    pub fn new(nic: &crate::netinfo::NIC, port: u16, ttl: u8) -> SynProbe {
        SynProbe {
            common: Common {
                us: nic.addr,
                port,
                ttl,
            },
            secret: rand::random(),
            // The MTU less the IPv4 and TCP headers, as a stack announces it.
            mss: u16::try_from(nic.mtu.saturating_sub(40)).unwrap_or(u16::MAX),
            started: Instant::now(),
            ts_base: rand::random(),
        }
    }

    /// The RST that closes what a SYN-ACK to probe `key` opened (sequence
    /// number: the SYN-ACK's acknowledgement number).
    pub fn rst(&self, key: &PortProbeKey, ack: u32) -> ipv4::Packet<'static> {
        let rst = tcp::Packet::new(
            key.our_port,
            key.peer_port,
            ack,
            0,
            tcp::Flags::RST,
            0,
            Blob::from(&[][..]),
            Blob::from(&[][..]),
        );
        let mut packet = rst
            .into_ipv4_payload()
            .into_packet(self.common.us, key.peer);
        packet.ttl = self.common.ttl;
        packet.flags = ipv4::DONT_FRAGMENT;
        packet
    }

    /// Sends [`SynProbe::rst`] (routed as the Interface routes).
    pub fn reset(
        &self,
        interface: &Interface,
        key: &PortProbeKey,
        ack: u32,
    ) -> Result<Sent, interface::Error> {
        interface.send_packet(&self.rst(key, ack))
    }

    /// The SYN of probe `key`: options as Linux sends them, its sequence
    /// number keyed by a secret (found again from the key alone).
    pub fn segment(&self, key: &PortProbeKey) -> ipv4::Packet<'static> {
        self.syn(key, isn(self.secret, key))
    }

    /// The sequence number of probe `key`'s SYN.
    pub(crate) fn isn(&self, key: &PortProbeKey) -> u32 {
        isn(self.secret, key)
    }

    /// The SYN of probe `key` with sequence number `seq`.
    fn syn(&self, key: &PortProbeKey, seq: u32) -> ipv4::Packet<'static> {
        let ts = self
            .ts_base
            .wrapping_add(self.started.elapsed().as_millis() as u32);
        // Linux's order: MSS, SACK permitted, timestamps, NOP, window scale.
        let options = tcp::options(&[
            tcp::TcpOption::MaxSegmentSize(self.mss),
            tcp::TcpOption::SackPermitted,
            tcp::TcpOption::Timestamps { value: ts, echo: 0 },
            tcp::TcpOption::NoOperation,
            tcp::TcpOption::WindowScale(7),
        ]);
        let syn = tcp::Packet::new(
            key.our_port,
            key.peer_port,
            seq,
            0,
            tcp::Flags::SYN,
            64240,
            Blob::from(options),
            Blob::from(&[][..]),
        );
        let mut packet = syn
            .into_ipv4_payload()
            .into_packet(self.common.us, key.peer);
        packet.ttl = self.common.ttl;
        packet.flags = ipv4::DONT_FRAGMENT;
        packet
    }
}

impl probe::Kind for SynProbe {
    type Job = ipv4::Addr;
    type Key = PortProbeKey;
    type Reply = PortReply;

    fn listen(
        &self,
        interface: &Interface,
        inbox: Inbox<PortProbeKey, PortReply>,
    ) -> Vec<Subscription> {
        let secret = self.secret;
        self.common
            .listen(interface, Protocol::Tcp, inbox, move |r, common| {
                classify_tcp(r, common, secret)
            })
    }

    fn key(&mut self, target: &ipv4::Addr, in_use: &dyn Fn(&PortProbeKey) -> bool) -> PortProbeKey {
        self.common.key(*target, in_use)
    }

    fn send(
        &mut self,
        interface: &Interface,
        _: &ipv4::Addr,
        key: &PortProbeKey,
    ) -> Result<Sent, interface::Error> {
        interface.send_packet(&self.segment(key))
    }
}

/// On the capture thread: a TCP answer from the probed port to one of our
/// source ports, or an ICMP error quoting one of our SYNs.
fn classify_tcp(
    r: &Received<'_>,
    common: &Common,
    secret: u64,
) -> Option<(PortProbeKey, Outcome<PortReply>)> {
    Some(match &r.packet.payload {
        ipv4::Payload::TCP(t) if t.src_port == common.port => {
            let key = PortProbeKey {
                peer: r.packet.src,
                peer_port: t.src_port,
                our_port: t.dst_port,
            };
            let answers =
                t.flags.contains(tcp::Flags::ACK) && t.ack == isn(secret, &key).wrapping_add(1);
            let state = if t.flags.contains(tcp::Flags::RST) {
                (State::Closed, "RST")
            } else if t.flags.contains(tcp::Flags::SYN | tcp::Flags::ACK) {
                (State::Open, "SYN-ACK")
            } else {
                return None;
            };
            let outcome = if !r.packet.checksum_ok {
                Outcome::Damaged(Damage::Ipv4Checksum)
            } else if !t.checksum_ok {
                Outcome::Damaged(Damage::TcpChecksum)
            } else if !answers {
                Outcome::Damaged(Damage::AckNumber)
            } else {
                Outcome::Reply(PortReply {
                    state: state.0,
                    what: state.1,
                    ttl: r.packet.ttl,
                    ack: t.ack,
                })
            };
            (key, outcome)
        }
        _ => common.error(r, Protocol::Tcp)?,
    })
}

/// UDP datagrams as a [`probe::Kind`]: each job a target address.
#[derive(Debug, Clone)]
pub struct UdpProbe {
    common: Common,
    payload: Vec<u8>,
}

impl UdpProbe {
    /// Datagrams of `size` payload bytes (ping's alphabet) from `nic` to
    /// `port` of each target, with IPv4 TTL `ttl`.
    pub fn new(nic: &crate::netinfo::NIC, port: u16, size: usize, ttl: u8) -> UdpProbe {
        UdpProbe {
            common: Common {
                us: nic.addr,
                port,
                ttl,
            },
            payload: ping::payload(size.min(ping::MAX_SIZE)),
        }
    }
}

impl UdpProbe {
    /// The datagram of probe `key`.
    pub fn datagram(&self, key: &PortProbeKey) -> ipv4::Packet<'_> {
        let datagram = udp::Packet::new(key.our_port, key.peer_port, Blob::from(&self.payload[..]));
        let mut packet = datagram
            .into_ipv4_payload()
            .into_packet(self.common.us, key.peer);
        packet.ttl = self.common.ttl;
        packet
    }
}

impl probe::Kind for UdpProbe {
    type Job = ipv4::Addr;
    type Key = PortProbeKey;
    type Reply = PortReply;

    fn listen(
        &self,
        interface: &Interface,
        inbox: Inbox<PortProbeKey, PortReply>,
    ) -> Vec<Subscription> {
        self.common
            .listen(interface, Protocol::Udp, inbox, classify_udp)
    }

    fn key(&mut self, target: &ipv4::Addr, in_use: &dyn Fn(&PortProbeKey) -> bool) -> PortProbeKey {
        self.common.key(*target, in_use)
    }

    fn send(
        &mut self,
        interface: &Interface,
        _: &ipv4::Addr,
        key: &PortProbeKey,
    ) -> Result<Sent, interface::Error> {
        interface.send_packet(&self.datagram(key))
    }
}

/// On the capture thread: a UDP answer from the probed port to one of our
/// source ports, or an ICMP error quoting one of our datagrams.
fn classify_udp(r: &Received<'_>, common: &Common) -> Option<(PortProbeKey, Outcome<PortReply>)> {
    Some(match &r.packet.payload {
        ipv4::Payload::UDP(u) if u.src_port == common.port => {
            let key = PortProbeKey {
                peer: r.packet.src,
                peer_port: u.src_port,
                our_port: u.dst_port,
            };
            let outcome = if !r.packet.checksum_ok {
                Outcome::Damaged(Damage::Ipv4Checksum)
            } else if !u.checksum_ok {
                Outcome::Damaged(Damage::UdpChecksum)
            } else {
                Outcome::Reply(PortReply {
                    state: State::Open,
                    what: "UDP reply",
                    ttl: r.packet.ttl,
                    ack: 0,
                })
            };
            (key, outcome)
        }
        _ => common.error(r, Protocol::Udp)?,
    })
}

/// A [`probe::Kind`] whose answers may open a connection: the RST that
/// closes it.
pub trait Resets: probe::Kind {
    /// The RST for `reply` to probe `key`, if it opened something (a
    /// SYN-ACK).
    fn rst(&self, key: &Self::Key, reply: &Self::Reply) -> Option<ipv4::Packet<'static>>;
}

impl Resets for SynProbe {
    fn rst(&self, key: &PortProbeKey, reply: &PortReply) -> Option<ipv4::Packet<'static>> {
        (reply.state == State::Open).then(|| SynProbe::rst(self, key, reply.ack))
    }
}

/// A [`Plan`] for SYN probes that sends our RST after each SYN-ACK (also a
/// duplicate or late one) before the plan underneath hears of it.
pub struct ResetOpen<'i, K, P> {
    interface: &'i Interface,
    kind: K,
    plan: P,
    /// RSTs sent.
    pub resets: u32,
    /// RSTs that could not be sent.
    pub reset_failures: u32,
}

impl<'i, K, P> ResetOpen<'i, K, P> {
    /// Wraps `plan`; `kind` is a clone of the engine's (for the secret and
    /// addresses: the RST is built as the SYN was).
    pub fn new(interface: &'i Interface, kind: K, plan: P) -> Self {
        ResetOpen {
            interface,
            kind,
            plan,
            resets: 0,
            reset_failures: 0,
        }
    }

    /// The plan underneath.
    pub fn plan(&self) -> &P {
        &self.plan
    }

    /// The plan underneath, unwrapped.
    pub fn into_plan(self) -> P {
        self.plan
    }
}

impl<K: Resets, P: Plan<K>> Plan<K> for ResetOpen<'_, K, P> {
    fn next(&mut self) -> Option<K::Job> {
        self.plan.next()
    }

    fn event(&mut self, event: &Event<'_, K>) {
        if let Event::Reply(a) | Event::Duplicate(a) | Event::Late(a) = event {
            if let Some(rst) = self.kind.rst(a.probe.key, a.reply) {
                match self.interface.send_packet(&rst) {
                    Ok(_) => self.resets += 1,
                    Err(_) => self.reset_failures += 1,
                }
            }
        }
        self.plan.event(event);
    }

    fn finished(&self) -> bool {
        self.plan.finished()
    }

    fn later(&self) -> Option<Instant> {
        self.plan.later()
    }

    fn retry(&self, job: &K::Job) -> bool {
        self.plan.retry(job)
    }
}

#[cfg(test)]
mod tests {
    //! SYN and UDP probes over the in-memory wire, against a peer that
    //! answers each target in its own way: right, wrong (acknowledgement
    //! number, checksum, port) and with ICMP errors. The same against real
    //! kernels is in `tests/tests/port.rs`.

    use std::collections::BTreeMap;
    use std::sync::atomic::AtomicBool;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;
    use crate::capture::memory::{nic, to_us, GW_MAC, US};
    use crate::ethernet;
    use crate::probe::testing::Wired;
    use crate::probe::{jobs, End, Engine, Pace};

    const PORT: u16 = 8080;

    fn host(i: u8) -> ipv4::Addr {
        ipv4::Addr([10, 9, 0, i])
    }

    fn pace() -> Pace {
        Pace {
            window: 16,
            interval: Duration::ZERO,
            timeout: Duration::from_millis(150),
            own_frame_wait: Duration::ZERO,
            ..Pace::default()
        }
    }

    /// A frame to us from `from` carrying `payload`.
    fn from(from: ipv4::Addr, payload: ipv4::Payload<'_>) -> Vec<u8> {
        let mut packet = payload.into_packet(from, US);
        packet.ttl = 61;
        to_us(GW_MAC, packet.into_ethernet_payload())
    }

    /// A TCP segment from `peer:src_port` to our `dst_port`.
    fn segment(
        peer: ipv4::Addr,
        src_port: u16,
        dst_port: u16,
        ack: u32,
        flags: tcp::Flags,
    ) -> Vec<u8> {
        let t = tcp::Packet::new(
            src_port,
            dst_port,
            0x1234_5678,
            ack,
            flags,
            65160,
            Blob::from(&[][..]),
            Blob::from(&[][..]),
        );
        from(peer, t.into_ipv4_payload())
    }

    /// `frame` with a bit of its IPv4 payload's checksum at `at` flipped
    /// (offsets from the start of the transport header).
    fn broken(mut frame: Vec<u8>, at: usize) -> Vec<u8> {
        frame[ethernet::HEADER_LEN + 20 + at] ^= 0x40;
        frame
    }

    /// An ICMP error from `peer` quoting the packet in `request`.
    fn quoting(peer: ipv4::Addr, header: icmp::Header, request: &ipv4::Packet<'_>) -> Vec<u8> {
        let quote = request.to_vec().unwrap()[..28].to_vec();
        from(
            peer,
            icmp::Packet::new(header, Blob::from(quote)).into_ipv4_payload(),
        )
    }

    fn unreachable(code: icmp::UnreachableCode) -> icmp::Header {
        icmp::Header::DestinationUnreachable {
            code,
            unused: 0,
            next_hop_mtu: 0,
        }
    }

    /// What the run said of each target, in order.
    type Said = BTreeMap<ipv4::Addr, Vec<String>>;

    fn note<K: probe::Kind<Job = ipv4::Addr, Reply = PortReply>>(
        said: &mut Said,
        e: &Event<'_, K>,
    ) {
        let (job, what) = match e {
            Event::Reply(a) => (
                a.probe.job,
                format!("{} ({})", a.reply.state.name(), a.reply.what),
            ),
            Event::Duplicate(a) => (a.probe.job, format!("duplicate {}", a.reply.state.name())),
            Event::Damaged { probe, damage, .. } => (probe.job, format!("damaged {damage:?}")),
            Event::Error { probe, error, .. } => (probe.job, format!("error {error:?}")),
            Event::Timeout { probe, .. } => (probe.job, "timeout".to_string()),
            _ => return,
        };
        said.entry(*job).or_default().push(what);
    }

    #[test]
    fn syn_probes_tell_open_closed_and_filtered_and_never_count_a_wrong_answer() {
        // RSTs the peer got from us: (target, sequence number, our port).
        let resets = Arc::new(Mutex::new(Vec::new()));
        let got = resets.clone();
        let wired = Wired::new(move |frame| {
            let ethernet::Payload::IPv4(p) = &frame.payload else {
                return Vec::new();
            };
            let ipv4::Payload::TCP(t) = &p.payload else {
                return Vec::new();
            };
            if t.flags == tcp::Flags::RST {
                got.lock().unwrap().push((p.dst, t.seq, t.src_port));
                return Vec::new();
            }
            assert_eq!(t.flags, tcp::Flags::SYN);
            assert!(t.checksum_ok && p.checksum_ok);
            let ours = t.src_port;
            let right = t.seq.wrapping_add(1);
            let syn_ack = tcp::Flags::SYN | tcp::Flags::ACK;
            let rst_ack = tcp::Flags::RST | tcp::Flags::ACK;
            let now = Duration::ZERO;
            match p.dst.0[3] {
                // Open, the SYN-ACK sent twice (a retransmission).
                1 => {
                    let f = segment(p.dst, PORT, ours, right, syn_ack);
                    vec![(now, f.clone()), (Duration::from_millis(5), f)]
                }
                2 => vec![(now, segment(p.dst, PORT, ours, right, rst_ack))],
                // A SYN-ACK for some other SYN: wrong acknowledgement number.
                3 => vec![(
                    now,
                    segment(p.dst, PORT, ours, right.wrapping_add(1), syn_ack),
                )],
                // Right, but damaged on the way (its checksum no longer adds up).
                4 => vec![(now, broken(segment(p.dst, PORT, ours, right, syn_ack), 16))],
                // An RST from another port: not this probe's answer.
                5 => vec![(now, segment(p.dst, PORT + 1, ours, right, rst_ack))],
                6 => {
                    let code = icmp::UnreachableCode::CommunicationProhibited;
                    vec![(now, quoting(p.dst, unreachable(code), p))]
                }
                _ => Vec::new(),
            }
        });
        let interface = &wired.interface;
        let kind = SynProbe::new(&nic(), PORT, 64);
        let mut engine = Engine::new(interface, kind.clone(), pace(), false);
        let mut said = Said::new();
        let targets: Vec<_> = (1..=7).map(host).collect();
        let mut plan = ResetOpen::new(
            interface,
            kind,
            jobs(targets, |e: &Event<'_, SynProbe>| note(&mut said, e)),
        );
        let end = engine.run(&mut plan, &AtomicBool::new(false));
        assert_eq!(end, End::Done);
        let (resets_sent, failures) = (plan.resets, plan.reset_failures);
        drop(plan);
        wired.stop();
        let line = |i: u8| said.get(&host(i)).cloned().unwrap_or_default().join(", ");
        assert_eq!(line(1), "open (SYN-ACK), duplicate open");
        assert_eq!(line(2), "closed (RST)");
        assert_eq!(line(3), "damaged AckNumber, timeout");
        assert_eq!(line(4), "damaged TcpChecksum, timeout");
        assert_eq!(line(5), "timeout");
        assert_eq!(line(6), "error Unreachable(CommunicationProhibited)");
        assert_eq!(line(7), "timeout");
        assert_eq!(engine.statistics().sent, 7);
        assert_eq!(engine.statistics().received, 2);
        // Our RST closes host 1's half-open connection, once per SYN-ACK
        // (the peer retransmitted it: its connection was still half-open),
        // and no one else's.
        assert_eq!(failures, 0);
        assert_eq!(resets_sent, 2);
        let resets = resets.lock().unwrap();
        assert_eq!(resets.len(), 2, "{resets:?}");
        assert_eq!(resets[0], resets[1]);
        assert_eq!(resets[0].0, host(1));
    }

    #[test]
    fn the_reset_carries_the_acknowledged_sequence_number() {
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
                .push((t.flags, t.seq, t.src_port, t.dst_port));
            if t.flags != tcp::Flags::SYN {
                return Vec::new();
            }
            let ack = t.seq.wrapping_add(1);
            vec![(
                Duration::ZERO,
                segment(
                    p.dst,
                    PORT,
                    t.src_port,
                    ack,
                    tcp::Flags::SYN | tcp::Flags::ACK,
                ),
            )]
        });
        let interface = &wired.interface;
        let kind = SynProbe::new(&nic(), PORT, 64);
        let mut engine = Engine::new(interface, kind.clone(), pace(), false);
        let mut plan = ResetOpen::new(
            interface,
            kind,
            jobs([host(1)], |_: &Event<'_, SynProbe>| {}),
        );
        engine.run(&mut plan, &AtomicBool::new(false));
        let deadline = Instant::now() + Duration::from_secs(2);
        while seen.lock().unwrap().len() < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        wired.stop();
        let seen = seen.lock().unwrap();
        let [(syn, isn, sport, dport), (rst, seq, rsport, rdport)] = seen[..] else {
            panic!("{seen:?}");
        };
        assert_eq!((syn, dport), (tcp::Flags::SYN, PORT));
        assert!(EPHEMERAL.contains(&sport));
        assert_eq!((rst, seq), (tcp::Flags::RST, isn.wrapping_add(1)));
        assert_eq!((rsport, rdport), (sport, PORT));
    }

    #[test]
    fn udp_probes_tell_open_closed_and_silence_and_never_count_a_damaged_answer() {
        let wired = Wired::new(move |frame| {
            let ethernet::Payload::IPv4(p) = &frame.payload else {
                return Vec::new();
            };
            let ipv4::Payload::UDP(u) = &p.payload else {
                return Vec::new();
            };
            assert!(u.checksum_ok && p.checksum_ok);
            assert_eq!(&u.payload[..], &ping::payload(12)[..]);
            let answer = |src_port| {
                let d = udp::Packet::new(src_port, u.src_port, Blob::from(&b"pong"[..]));
                from(p.dst, d.into_ipv4_payload())
            };
            let now = Duration::ZERO;
            match p.dst.0[3] {
                1 => vec![(now, answer(PORT))],
                2 => vec![(
                    now,
                    quoting(p.dst, unreachable(icmp::UnreachableCode::Port), p),
                )],
                3 => vec![(now, broken(answer(PORT), 6))],
                4 => vec![(now, answer(PORT + 1))],
                5 => vec![(
                    now,
                    quoting(p.dst, unreachable(icmp::UnreachableCode::Host), p),
                )],
                _ => Vec::new(),
            }
        });
        let kind = UdpProbe::new(&nic(), PORT, 12, 64);
        let mut engine = Engine::new(&wired.interface, kind, pace(), false);
        let mut said = Said::new();
        let targets: Vec<_> = (1..=6).map(host).collect();
        let mut plan = jobs(targets, |e: &Event<'_, UdpProbe>| note(&mut said, e));
        assert_eq!(engine.run(&mut plan, &AtomicBool::new(false)), End::Done);
        wired.stop();
        let line = |i: u8| said.get(&host(i)).cloned().unwrap_or_default().join(", ");
        assert_eq!(line(1), "open (UDP reply)");
        assert_eq!(line(2), "closed (port unreachable)");
        assert_eq!(line(3), "damaged UdpChecksum, timeout");
        assert_eq!(line(4), "timeout");
        assert_eq!(line(5), "error Unreachable(Host)");
        assert_eq!(line(6), "timeout");
        assert_eq!(engine.statistics().received, 2);
    }

    #[test]
    fn the_isn_is_keyed_and_found_again_from_the_key() {
        let key = PortProbeKey {
            peer: host(1),
            peer_port: 80,
            our_port: 40000,
        };
        assert_eq!(isn(7, &key), isn(7, &key));
        assert_ne!(isn(7, &key), isn(8, &key));
        let other = PortProbeKey {
            our_port: 40001,
            ..key
        };
        assert_ne!(isn(7, &key), isn(7, &other));
    }
}
