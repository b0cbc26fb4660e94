//! TCP SYN probes for traces (tcptraceroute, `mtr --tcp`): through
//! firewalls that drop ICMP echo but let a served port's SYNs in.
//!
//! Each probe is a SYN to the target's port from a source port of its own
//! (its key), as `mtr --tcp` sends them: the probes of every TTL go out at
//! once, and SYNs of one connection arriving while the target holds the
//! previous one half open would be answered with an RST for the wrong
//! reason. The cost: a router that balances load by ports may send probes
//! of one trace different ways (Paris traceroute's fixed flow is kept for
//! ICMP, not here). A router where the TTL runs out quotes the SYN's ports
//! and sequence number in its "time exceeded"; the target answers with a
//! SYN-ACK or an RST acknowledging the sequence number plus one, checked
//! against the keyed sequence number of [`SynProbe`]. Our RST follows each
//! SYN-ACK ([`crate::port::ResetOpen`]).

use std::ops::ControlFlow;

use super::{Job, Reached, TraceReply};
use crate::interface::{self, PortKey, Received, Sent, Subscription, Topic};
use crate::port::{PortProbeKey, PortReply, Resets, State, SynProbe, EPHEMERAL};
use crate::probe::{self, Answer, Damage, Inbox, Outcome};
use crate::{icmp, ipv4, tcp, Interface};

/// TCP SYNs with a TTL as a [`probe::Kind`], to one port of one target;
/// the key of a probe is its source port.
#[derive(Debug, Clone)]
pub struct SynTraceProbe {
    syn: SynProbe,
    target: ipv4::Addr,
    port: u16,
    us: ipv4::Addr,
    next_port: u16,
    /// IPv4 identification of the first probe.
    ip_id: u16,
}

impl SynTraceProbe {
    /// SYNs from `nic` to `port` of `target`.
    pub fn new(nic: &crate::netinfo::NIC, target: ipv4::Addr, port: u16) -> Self {
        SynTraceProbe {
            syn: SynProbe::new(nic, port, 64),
            target,
            port,
            us: nic.addr,
            next_port: rand::random_range(EPHEMERAL),
            ip_id: rand::random(),
        }
    }

    fn flow(&self, our_port: u16) -> PortProbeKey {
        PortProbeKey {
            peer: self.target,
            peer_port: self.port,
            our_port,
        }
    }
}

impl probe::Kind for SynTraceProbe {
    type Job = Job;
    type Key = u16;
    type Reply = TraceReply;

    fn listen(&self, interface: &Interface, inbox: Inbox<u16, TraceReply>) -> Vec<Subscription> {
        let probe = self.clone();
        let topic = Topic::Port(PortKey {
            protocol: ipv4::Protocol::TCP,
            port: self.port,
        });
        vec![
            interface.subscribe(topic, move |r| match classify(r, &probe, &inbox) {
                Some(answer) => inbox.deliver(answer),
                None => ControlFlow::Continue(()),
            }),
        ]
    }

    fn key(&mut self, _: &Job, in_use: &dyn Fn(&u16) -> bool) -> u16 {
        let (port, after) = probe::first_free(self.next_port, |p| in_use(&p), next);
        self.next_port = after;
        port
    }

    fn send(
        &mut self,
        interface: &Interface,
        job: &Job,
        key: &u16,
    ) -> Result<Sent, interface::Error> {
        let mut packet = self.syn.segment(&self.flow(*key));
        packet.ttl = job.ttl;
        packet.identification = self.ip_id.wrapping_add(*key);
        interface.send_packet(&packet)
    }
}

/// The source port after `port`, round the ephemeral range.
fn next(port: u16) -> u16 {
    if port + 1 >= EPHEMERAL.end {
        EPHEMERAL.start
    } else {
        port + 1
    }
}

impl Resets for SynTraceProbe {
    fn rst(&self, key: &u16, reply: &TraceReply) -> Option<ipv4::Packet<'static>> {
        let p = reply.port?;
        (p.state == State::Open).then(|| self.syn.rst(&self.flow(*key), p.ack))
    }
}

/// On the capture thread: the target's SYN-ACK or RST to one of our
/// source ports, or an ICMP error (good checksums) quoting one of our SYNs.
fn classify(
    r: &Received<'_>,
    probe: &SynTraceProbe,
    inbox: &Inbox<u16, TraceReply>,
) -> Option<Answer<u16, TraceReply>> {
    let (key, outcome) = match &r.packet.payload {
        ipv4::Payload::TCP(t) => {
            if r.packet.src != probe.target
                || t.src_port != probe.port
                || !t.flags.contains(tcp::Flags::ACK)
            {
                return None;
            }
            let (state, what) = if t.flags.contains(tcp::Flags::RST) {
                (State::Closed, "RST")
            } else if t.flags.contains(tcp::Flags::SYN) {
                (State::Open, "SYN-ACK")
            } else {
                return None;
            };
            let expected = probe.syn.isn(&probe.flow(t.dst_port)).wrapping_add(1);
            let outcome = if !r.packet.checksum_ok {
                Outcome::Damaged(Damage::Ipv4Checksum)
            } else if !t.checksum_ok {
                Outcome::Damaged(Damage::TcpChecksum)
            } else if t.ack != expected {
                Outcome::Damaged(Damage::AckNumber)
            } else {
                Outcome::Reply(TraceReply {
                    reached: Reached::Target,
                    port: Some(PortReply {
                        state,
                        what,
                        ttl: r.packet.ttl,
                        ack: t.ack,
                    }),
                })
            };
            (t.dst_port, outcome)
        }
        ipv4::Payload::ICMP(m) if m.header.is_error() => {
            if !m.checksum_ok || !r.packet.checksum_ok {
                return None;
            }
            let quote = m.original()?;
            let (protocol, our_port, peer_port) = quote.ports()?;
            if protocol != ipv4::Protocol::TCP
                || quote.packet.src != probe.us
                || quote.packet.dst != probe.target
                || peer_port != probe.port
                || quote.tcp_seq() != Some(probe.syn.isn(&probe.flow(our_port)))
            {
                return None;
            }
            let reached = match m.header {
                icmp::Header::TimeExceeded { .. } => Reached::Router,
                icmp::Header::DestinationUnreachable { code, .. } => Reached::Unreachable(code),
                _ => return None,
            };
            let port = None;
            (our_port, Outcome::Reply(TraceReply { reached, port }))
        }
        _ => return None,
    };
    Some(Answer {
        key,
        from: r.packet.src,
        at: r.timestamp,
        outcome,
        frame: inbox.frame(r.frame),
    })
}
