//! ARP probes: "who has this address?" asked with our own ARP requests, the
//! way `arping` asks, to learn whether a host on the local network is
//! there even when its firewall drops every ping.
//!
//! [`ArpProbe`] is the ARP [`probe::Kind`]: each job is an on-link address;
//! its key is that address (ARP has no sequence numbers: an answer goes to
//! the latest request for its address sent before it was captured). Only an
//! ARP reply from the address asked about, to our address and MAC, counts:
//! requests, gratuitous ARP, replies to other stations and replies for
//! other addresses are ignored. A second reply to one request is a
//! duplicate; from another MAC it means two stations claim the address (an
//! address conflict, what `arping -D` looks for).

use std::ops::ControlFlow;

use crate::interface::{self, ReceivedArp, Sent, Subscription};
use crate::netinfo::NIC;
use crate::probe::{self, Answer, Inbox, Outcome};
use crate::{arp, ethernet, ipv4, Interface};

/// What an ARP reply says: who has the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpReply {
    /// The MAC address that answered.
    pub mac: ethernet::Addr,
}

/// ARP requests as a [`probe::Kind`]: each job is an on-link address.
#[derive(Debug, Clone)]
pub struct ArpProbe {
    us: ipv4::Addr,
    mac: ethernet::Addr,
}

impl ArpProbe {
    /// ARP requests from `nic`'s address and MAC.
    pub fn new(nic: &NIC) -> Self {
        ArpProbe {
            us: nic.addr,
            mac: nic.mac,
        }
    }
}

impl probe::Kind for ArpProbe {
    type Job = ipv4::Addr;
    type Key = ipv4::Addr;
    type Reply = ArpReply;

    fn listen(
        &self,
        interface: &Interface,
        inbox: Inbox<ipv4::Addr, ArpReply>,
    ) -> Vec<Subscription> {
        let (us, mac) = (self.us, self.mac);
        vec![
            interface.subscribe_arp(move |r| match classify(r, us, mac, &inbox) {
                Some(answer) => inbox.deliver(answer),
                None => ControlFlow::Continue(()),
            }),
        ]
    }

    fn key(&mut self, target: &ipv4::Addr, _: &dyn Fn(&ipv4::Addr) -> bool) -> ipv4::Addr {
        *target
    }

    fn send(
        &mut self,
        interface: &Interface,
        target: &ipv4::Addr,
        _: &ipv4::Addr,
    ) -> Result<Sent, interface::Error> {
        interface.send_arp_request(*target)
    }
}

/// An ARP reply to us, from a unicast station: the answer to whatever we
/// asked its sender's address (the engine finds out whether we did).
fn classify(
    r: &ReceivedArp<'_>,
    us: ipv4::Addr,
    mac: ethernet::Addr,
    inbox: &Inbox<ipv4::Addr, ArpReply>,
) -> Option<Answer<ipv4::Addr, ArpReply>> {
    let p = &r.packet;
    let to_us = p.operation == arp::Operation::Reply
        && p.target_ip_addr == us
        && p.target_hw_addr == mac
        && p.sender_ip_addr != us;
    let from_a_station =
        !p.sender_hw_addr.is_multicast() && p.sender_hw_addr != ethernet::Addr::zero();
    (to_us && from_a_station).then(|| Answer {
        key: p.sender_ip_addr,
        from: p.sender_ip_addr,
        at: r.timestamp,
        outcome: Outcome::Reply(ArpReply {
            mac: p.sender_hw_addr,
        }),
        frame: inbox.frame(r.frame),
    })
}
