//! The send path: the frames of
//! [`Interface::send_packet`](super::Interface::send_packet) and
//! [`Interface::send_arp_request`](super::Interface::send_arp_request), and
//! the [`Sent`] through which the capture thread hands over their capture
//! timestamps.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::{lock, Error, Shared, Timestamp};
use crate::{arp, ethernet, ipv4};

/// Destination, source, EtherType.
const ETHERNET_HEADER_LEN: usize = 14;

/// A frame we sent.
#[derive(Debug)]
pub struct Sent {
    frame: Vec<u8>,
    queued_at: Timestamp,
    key: OwnKey,
    /// Tells this frame's entry in [`InFlight`] from a later one with the same key.
    serial: u64,
    shared: Weak<Shared>,
}

impl Sent {
    /// The frame's bytes, as handed to the capture library (the first
    /// fragment's, for a packet that was fragmented).
    pub fn frame(&self) -> &[u8] {
        &self.frame
    }

    /// When `send_ipv4` handed the frame to the capture library (user-space
    /// clock, same time base as capture timestamps).
    pub fn queued_at(&self) -> Timestamp {
        self.queued_at
    }

    /// The capture timestamp of the frame itself, seen leaving by the capture
    /// handle, if it shows up within `wait`.
    ///
    /// It is handed over once: a later call returns `None` at once, as does
    /// a call after another frame with the same identification and
    /// destination (for ARP: the same address asked about) was sent, or
    /// after the Interface was dropped.
    pub fn wire_timestamp(&self, wait: Duration) -> Option<Timestamp> {
        let shared = self.shared.upgrade()?;
        let deadline = Instant::now().checked_add(wait);
        let mut in_flight = lock(&shared.sent);
        loop {
            let entry = in_flight.frames.get(&self.key)?;
            if entry.serial != self.serial {
                return None;
            }
            if let Some(at) = entry.at {
                in_flight.frames.remove(&self.key);
                return Some(at);
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => wait,
            };
            if left.is_zero() {
                return None;
            }
            in_flight.waiting += 1;
            in_flight = shared
                .sent_changed
                .wait_timeout(in_flight, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            in_flight.waiting -= 1;
        }
    }

    /// The best send time the platform gives: the capture timestamp of our
    /// own frame if the capture saw it within `wait`, else [`Sent::queued_at`].
    pub fn timestamp(&self, wait: Duration) -> Timestamp {
        self.wire_timestamp(wait).unwrap_or(self.queued_at)
    }
}

impl Drop for Sent {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            let mut in_flight = lock(&shared.sent);
            if in_flight
                .frames
                .get(&self.key)
                .is_some_and(|e| e.serial == self.serial)
            {
                in_flight.frames.remove(&self.key);
            }
        }
    }
}

/// How the capture thread recognises one of our frames coming back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum OwnKey {
    /// An IPv4 packet: its identification and destination.
    Ipv4(u16, ipv4::Addr),
    /// An ARP request: the address it asks about.
    Arp(ipv4::Addr),
}

/// Our frames whose [`Sent`] is alive, by [`OwnKey`]: no allocation per
/// frame (a channel each cost the sending thread of a flood measurably).
#[derive(Default)]
pub(super) struct InFlight {
    pub(super) frames: HashMap<OwnKey, OnWire>,
    next_serial: u64,
    /// Threads waiting in [`Sent::wire_timestamp`]: the capture thread
    /// wakes them only if there are any.
    pub(super) waiting: usize,
}

pub(super) struct OnWire {
    serial: u64,
    /// The capture timestamp, once the capture showed the frame.
    pub(super) at: Option<Timestamp>,
}

impl Shared {
    /// Our frame with `key` was captured at `at`: the first capture of it
    /// (or of its first fragment) is its send time.
    pub(super) fn stamp_own(&self, key: OwnKey, at: Timestamp) {
        let mut in_flight = lock(&self.sent);
        let waiting = in_flight.waiting > 0;
        if let Some(entry) = in_flight.frames.get_mut(&key).filter(|e| e.at.is_none()) {
            entry.at = Some(at);
            if waiting {
                self.sent_changed.notify_all();
            }
        }
    }
}

/// [`Interface::send_packet`](super::Interface::send_packet): `packet` in
/// one frame, or in fragments when it exceeds the NIC's MTU, to its next
/// hop's MAC.
/// Where a packet's frames go.
#[derive(Debug, Clone, Copy)]
pub(super) enum Hop {
    /// To the next hop the Interface's route says.
    Route,
    /// To this next hop (its MAC from our own ARP).
    Via(ipv4::Addr),
    /// To this MAC.
    Mac(ethernet::Addr),
}

pub(super) fn send_packet(
    shared: &Arc<Shared>,
    packet: &ipv4::Packet<'_>,
    hop: Hop,
) -> Result<Sent, Error> {
    shared.check_alive()?;
    let mac = match hop {
        Hop::Route => shared.resolve(shared.next_hop(packet.dst)?)?,
        Hop::Via(hop) => shared.resolve(hop)?,
        Hop::Mac(mac) => mac,
    };
    let mtu = usize::try_from(shared.nic.mtu).unwrap_or(usize::MAX);
    if packet.len() > mtu && packet.dont_fragment() {
        return Err(Error::NeedsFragmentation {
            len: packet.len(),
            mtu: shared.nic.mtu,
        });
    }
    // The common case, one frame, is written straight into the vector
    // the Sent keeps (no copy of the packet, no list of fragments).
    let (first, more) = if packet.len() <= mtu {
        let mut frame = Vec::with_capacity(ETHERNET_HEADER_LEN + packet.len());
        frame.extend_from_slice(&mac.0);
        frame.extend_from_slice(&shared.nic.mac.0);
        frame.extend_from_slice(&(ethernet::EtherType::IPv4 as u16).to_be_bytes());
        packet.append_to(&mut frame)?;
        (frame, Vec::new())
    } else {
        let mut frames = Vec::new();
        for fragment in packet.fragments(mtu).map_err(Error::Build)? {
            let frame =
                ethernet::Frame::new(mac, shared.nic.mac, ethernet::Payload::IPv4(fragment));
            frames.push(frame.to_vec().map_err(Error::Build)?);
        }
        let mut frames = frames.into_iter();
        (frames.next().unwrap_or_default(), frames.collect())
    };
    transmit(
        shared,
        OwnKey::Ipv4(packet.identification, packet.dst),
        first,
        &more,
    )
}

/// [`Interface::send_arp_request`](super::Interface::send_arp_request): a
/// broadcast "who has `target`?" from our address and MAC.
pub(super) fn send_arp_request(shared: &Arc<Shared>, target: ipv4::Addr) -> Result<Sent, Error> {
    shared.check_alive()?;
    let request = arp::request(shared.nic.mac, shared.nic.addr, target);
    let frame = ethernet::Frame::new(
        ethernet::Addr::broadcast(),
        shared.nic.mac,
        request.into_ethernet_payload(),
    )
    .to_vec()
    .map_err(Error::Build)?;
    transmit(shared, OwnKey::Arp(target), frame, &[])
}

/// Sends `first` and then `more`, keeping `first` in the [`Sent`] and its
/// `key` in [`InFlight`] for the capture thread to stamp.
fn transmit(
    shared: &Arc<Shared>,
    key: OwnKey,
    first: Vec<u8>,
    more: &[Vec<u8>],
) -> Result<Sent, Error> {
    let serial = {
        let mut in_flight = lock(&shared.sent);
        let serial = in_flight.next_serial;
        in_flight.next_serial += 1;
        in_flight.frames.insert(key, OnWire { serial, at: None });
        serial
    };
    let sent = Sent {
        frame: first,
        queued_at: Timestamp::now(),
        key,
        serial,
        shared: Arc::downgrade(shared),
    };
    // On failure, dropping `sent` forgets the entry.
    for bytes in std::iter::once(&sent.frame).chain(more) {
        shared.tx.send(bytes).map_err(Error::Send)?;
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::super::tests::{arp_reply, interface, next_sent};
    use super::*;
    use crate::capture::memory::{FAR, GW, GW_MAC, OUR_MAC, US};
    use crate::{arp, icmp};

    #[test]
    fn echo_goes_to_the_gateway_and_the_reply_to_the_listener() {
        let (interface, peer) = interface();
        // Teach the cache the gateway first.
        std::thread::scope(|s| {
            let asker = s.spawn(|| interface.resolve(GW));
            next_sent(&peer);
            peer.send(arp_reply(GW_MAC, GW)).unwrap();
            asker.join().unwrap().unwrap();
        });
        let echo = icmp::Echo {
            identifier: 9,
            sequence_number: 1,
        };
        let reply = interface.expect_ipv4(move |r| match &r.packet.payload {
            ipv4::Payload::ICMP(icmp::Packet {
                header: icmp::Header::EchoReply(e),
                ..
            }) if *e == echo && r.packet.src == FAR => Some(r.timestamp),
            _ => None,
        });
        let sent = interface
            .send_ipv4(echo.into_echo_request(&b"abc"[..]).into_ipv4_payload(), FAR)
            .unwrap();
        let out = next_sent(&peer);
        assert_eq!((out.dst, out.src), (GW_MAC, OUR_MAC));
        let ethernet::Payload::IPv4(request) = out.payload else {
            panic!("{out:?}")
        };
        assert_eq!((request.src, request.dst, request.ttl), (US, FAR, 128));
        // Our own frame coming back through the capture is a send time, not a reply.
        peer.send(
            ethernet::Frame::new(GW_MAC, OUR_MAC, ethernet::Payload::IPv4(request.clone()))
                .to_vec()
                .unwrap(),
        )
        .unwrap();
        let wire = sent
            .wire_timestamp(Duration::from_secs(2))
            .expect("own frame seen");
        assert!(wire >= sent.queued_at());
        // Handed over once, like a message.
        assert_eq!(sent.wire_timestamp(Duration::ZERO), None);
        // The one-frame fast path writes what the frame serializer writes.
        assert_eq!(
            sent.frame(),
            &ethernet::Frame::new(GW_MAC, OUR_MAC, ethernet::Payload::IPv4(request.clone()))
                .to_vec()
                .unwrap()[..]
        );
        assert!(reply.try_take().is_none());
        assert_eq!(interface.stats().own, 1);
        // The reply.
        let answer = echo
            .into_echo_reply(&b"abc"[..])
            .into_ipv4_payload()
            .into_packet(FAR, US);
        peer.send(
            ethernet::Frame::new(OUR_MAC, GW_MAC, answer.into_ethernet_payload())
                .to_vec()
                .unwrap(),
        )
        .unwrap();
        let at = reply.wait(Duration::from_secs(2)).unwrap();
        assert!(at >= wire);
        assert_eq!(interface.listeners(), 0);
    }

    #[test]
    fn on_link_destinations_get_their_own_mac() {
        let (interface, peer) = interface();
        let neighbour = ipv4::Addr([10, 0, 0, 3]);
        let neighbour_mac = ethernet::Addr([2, 0, 0, 0, 0, 3]);
        std::thread::scope(|s| {
            let sender = s.spawn(|| {
                interface.send_ipv4(
                    ipv4::Payload::Unknown(crate::Blob::from(&[1u8][..])),
                    neighbour,
                )
            });
            let request = next_sent(&peer);
            assert_eq!(
                request.payload,
                ethernet::Payload::ARP(arp::request(OUR_MAC, US, neighbour))
            );
            peer.send(arp_reply(neighbour_mac, neighbour)).unwrap();
            sender.join().unwrap().unwrap();
        });
        assert_eq!(next_sent(&peer).dst, neighbour_mac);
        assert_eq!(
            interface.cached_mac(GW),
            None,
            "the gateway was not involved"
        );
    }
}
