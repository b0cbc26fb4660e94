//! An in-memory wire: what the Interface sends comes out of the peer's
//! `rx`, what is put into its `tx` is captured (with the current time).
//! Public as [`crate::link::Memory`] and [`crate::link::Peer`].

use super::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[cfg(test)]
use std::thread::JoinHandle;
#[cfg(test)]
use std::time::Instant;

#[cfg(test)]
use crate::icmp;
use crate::netinfo::NIC;
use crate::{arp, ethernet, ipv4, parse};

/// The test NIC's MAC, the gateway's, its address, the gateway's, and
/// an address behind the gateway.
pub(crate) const OUR_MAC: ethernet::Addr = ethernet::Addr([2, 0, 0, 0, 0, 2]);
pub(crate) const GW_MAC: ethernet::Addr = ethernet::Addr([2, 0, 0, 0, 0, 1]);
pub(crate) const US: ipv4::Addr = ipv4::Addr([10, 0, 0, 2]);
pub(crate) const GW: ipv4::Addr = ipv4::Addr([10, 0, 0, 1]);
#[cfg(test)]
pub(crate) const FAR: ipv4::Addr = ipv4::Addr([10, 9, 9, 9]);

/// The NIC on the in-memory wire: `US`/24 with `OUR_MAC`, gateway `GW`.
pub(crate) fn nic() -> NIC {
    NIC {
        name: "test0".into(),
        description: "test0".into(),
        device: "test0".into(),
        index: 7,
        addr: US,
        prefix_len: 24,
        mac: OUR_MAC,
        gateway: Some(GW),
        mtu: 1500,
        kind: crate::netinfo::AdapterKind::Ethernet,
    }
}

/// The other end of a [`Memory`] link, driven by a test: it receives
/// every frame the [`crate::Interface`] sends and delivers frames to its
/// capture (timestamped when it sends them). `Send`: run it
/// on a thread of its own.
#[derive(Debug)]
pub struct Peer {
    /// Frames the Interface sent.
    pub(crate) rx: Receiver<Vec<u8>>,
    /// Frames to deliver to the Interface's capture, stamped when sent.
    pub(crate) tx: Sender<(Vec<u8>, Timestamp)>,
}

impl Peer {
    /// The next frame the Interface sent, waiting up to `timeout`; `None`
    /// if none came, or the Interface is gone and every frame was taken.
    pub fn recv(&self, timeout: Duration) -> Option<Vec<u8>> {
        self.rx.recv_timeout(timeout).ok()
    }

    /// The next frame the Interface sent, if one is there now.
    pub fn try_recv(&self) -> Option<Vec<u8>> {
        self.rx.try_recv().ok()
    }

    /// Delivers `frame` to the Interface's capture, as if it had come off
    /// the wire now: its capture timestamp is the time of this call, however
    /// late the capture thread takes it (as a NIC stamps a frame on
    /// arrival).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Disconnected`](crate::ErrorKind::Disconnected) when
    /// the Interface is gone.
    pub fn send(&self, frame: impl Into<Vec<u8>>) -> Result<(), crate::Error> {
        self.tx.send((frame.into(), Timestamp::now())).map_err(|_| {
            crate::Error::new(
                crate::ErrorKind::Disconnected,
                "the Interface on the in-memory link is gone",
            )
        })
    }

    /// If `frame` is an ARP request for `ip`, delivers the ARP reply that
    /// `ip` is at `mac` and returns true; else false. A peer standing in
    /// for a gateway calls it on every frame it receives.
    ///
    /// # Errors
    ///
    /// As [`Peer::send`].
    pub fn answer_arp(
        &self,
        frame: &[u8],
        ip: ipv4::Addr,
        mac: ethernet::Addr,
    ) -> Result<bool, crate::Error> {
        let Ok(parsed) = parse::run(frame, ethernet::Frame::parse) else {
            return Ok(false);
        };
        match &parsed.payload {
            ethernet::Payload::ARP(p)
                if p.operation == arp::Operation::Request && p.target_ip_addr == ip =>
            {
                let reply =
                    ethernet::Frame::new(parsed.src, mac, p.reply(mac).into_ethernet_payload());
                let bytes = reply.to_vec().map_err(crate::Error::from)?;
                self.send(bytes)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

/// An in-memory link for an [`crate::Interface`]: no NIC, no capture
/// library, no privileges. Made in a pair with the [`Peer`] that stands for
/// everything on the wire; open an Interface on it with
/// [`crate::Interface::on_link`] (and a [`crate::Pinger`] with
/// [`crate::Pinger::on_interface`]).
///
/// ```
/// use std::time::Duration;
/// use ersatz::{link::Memory, Interface};
///
/// let (link, peer) = Memory::new();
/// let interface = Interface::on_link(Memory::nic(), link);
/// // Frames the peer sends are captured; with nobody listening they are counted.
/// peer.send(vec![0u8; 60]).unwrap();
/// # let deadline = std::time::Instant::now() + Duration::from_secs(2);
/// # while interface.stats().captured == 0 && std::time::Instant::now() < deadline {
/// #     std::thread::sleep(Duration::from_millis(1));
/// # }
/// assert_eq!(interface.stats().captured, 1);
/// ```
pub struct Memory {
    pub(crate) link: Link,
}

impl std::fmt::Debug for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memory").finish_non_exhaustive()
    }
}

impl Memory {
    /// The address of [`Memory::nic`].
    pub const ADDR: ipv4::Addr = US;
    /// The MAC of [`Memory::nic`].
    pub const MAC: ethernet::Addr = OUR_MAC;
    /// The gateway of [`Memory::nic`].
    pub const GATEWAY: ipv4::Addr = GW;
    /// A MAC for the gateway, for a peer to answer ARP with.
    pub const GATEWAY_MAC: ethernet::Addr = GW_MAC;

    /// A new link and the peer at its other end.
    #[must_use]
    pub fn new() -> (Memory, Peer) {
        let (link, peer) = wire();
        (Memory { link }, peer)
    }

    /// A NIC to open on the link: `test0`, [`Memory::ADDR`] (10.0.0.2/24),
    /// [`Memory::MAC`] (02-00-00-00-00-02), gateway [`Memory::GATEWAY`]
    /// (10.0.0.1), MTU 1500.
    pub fn nic() -> NIC {
        nic()
    }
}

struct Tx(Mutex<Sender<Vec<u8>>>);
struct Rx {
    frames: Receiver<(Vec<u8>, Timestamp)>,
    current: Vec<u8>,
    stopped: Arc<AtomicBool>,
}
struct Stopper(Arc<AtomicBool>);

impl Transmit for Tx {
    fn send(&self, frame: &[u8]) -> Result<(), String> {
        self.0
            .lock()
            .map_err(|e| e.to_string())?
            .send(frame.to_vec())
            .map_err(|_| "the peer is gone".to_string())
    }
}

impl Receive for Rx {
    fn next(&mut self) -> Next<'_> {
        if self.stopped.load(Ordering::SeqCst) {
            return Next::Stopped;
        }
        match self.frames.recv_timeout(Duration::from_millis(2)) {
            Ok((frame, at)) => {
                self.current = frame;
                Next::Frame(&self.current, at)
            }
            Err(RecvTimeoutError::Timeout) => Next::Timeout,
            Err(RecvTimeoutError::Disconnected) => Next::Failed("wire cut".into()),
        }
    }
}

impl Stop for Stopper {
    fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

pub(crate) fn wire() -> (Link, Peer) {
    let (to_peer, from_us) = channel();
    let (to_us, from_peer) = channel();
    let stopped = Arc::new(AtomicBool::new(false));
    (
        Link {
            tx: Box::new(Tx(Mutex::new(to_peer))),
            rx: Box::new(Rx {
                frames: from_peer,
                current: Vec::new(),
                stopped: stopped.clone(),
            }),
            stop: Box::new(Stopper(stopped)),
            facts: facts(),
        },
        Peer {
            rx: from_us,
            tx: to_us,
        },
    )
}

/// What the in-memory wire says about itself as a capture.
pub(crate) fn facts() -> super::Facts {
    super::Facts::unbuffered("in-memory wire", "ersatz test link", Vec::new())
}

// Peers for tests of what runs on an Interface (the probe engine, sweeps).

/// A frame from `src_mac` to us.
#[cfg(test)]
pub(crate) fn to_us(src_mac: ethernet::Addr, payload: ethernet::Payload<'_>) -> Vec<u8> {
    ethernet::Frame::new(OUR_MAC, src_mac, payload)
        .to_vec()
        .unwrap()
}

/// A peer on the wire: answers the gateway's ARP, and hands every other
/// frame to `answer`,
/// which says what to send back and after how long; until `done`. Returns
/// how many frames `answer` saw.
#[cfg(test)]
pub(crate) fn serve(
    peer: Peer,
    answer: impl Fn(&ethernet::Frame<'_>) -> Vec<(Duration, Vec<u8>)> + Send + 'static,
    done: Arc<AtomicBool>,
) -> JoinHandle<u32> {
    std::thread::spawn(move || {
        let mut later: Vec<(Instant, Vec<u8>)> = Vec::new();
        let mut seen = 0;
        while !done.load(Ordering::SeqCst) {
            let now = Instant::now();
            later.retain(|(at, f)| *at > now || peer.send(f.clone()).is_err());
            let Ok(bytes) = peer.rx.recv_timeout(Duration::from_millis(1)) else {
                continue;
            };
            let frame = parse::run(&bytes, ethernet::Frame::parse).unwrap();
            if let ethernet::Payload::ARP(p) = &frame.payload {
                if p.target_ip_addr == GW {
                    let reply = arp::request(OUR_MAC, US, GW).reply(GW_MAC);
                    peer.send(to_us(GW_MAC, reply.into_ethernet_payload()))
                        .unwrap();
                    continue;
                }
            }
            seen += 1;
            for (delay, f) in answer(&frame) {
                // Without a delay: now, not after the next wait.
                if delay.is_zero() {
                    let _ = peer.send(f);
                } else {
                    later.push((now + delay, f));
                }
            }
        }
        seen
    })
}

/// The echo reply to an echo request frame, from its destination.
#[cfg(test)]
pub(crate) fn echo_reply(frame: &ethernet::Frame<'_>) -> Option<(ipv4::Addr, u16, Vec<u8>)> {
    let ethernet::Payload::IPv4(packet) = &frame.payload else {
        return None;
    };
    let ipv4::Payload::ICMP(icmp::Packet {
        header: icmp::Header::EchoRequest(echo),
        payload,
        ..
    }) = &packet.payload
    else {
        return None;
    };
    let reply = echo
        .into_echo_reply(payload.clone())
        .into_ipv4_payload()
        .into_packet(packet.dst, US);
    Some((
        packet.dst,
        echo.sequence_number,
        to_us(GW_MAC, reply.into_ethernet_payload()),
    ))
}

/// The ARP reply from `mac` to an ARP request frame.
#[cfg(test)]
pub(crate) fn arp_reply(frame: &ethernet::Frame<'_>, mac: ethernet::Addr) -> Option<Vec<u8>> {
    match &frame.payload {
        ethernet::Payload::ARP(p) if p.operation == arp::Operation::Request => {
            Some(to_us(mac, p.reply(mac).into_ethernet_payload()))
        }
        _ => None,
    }
}
