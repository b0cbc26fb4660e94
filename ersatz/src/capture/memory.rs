//! An in-memory wire: what the Interface sends comes out of `peer_rx`,
//! what is put into `peer_tx` is captured (with the current time).

use super::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use std::thread::JoinHandle;
use std::time::Instant;

use crate::netinfo::NIC;
use crate::{arp, ethernet, icmp, ipv4, parse};

/// The test NIC's MAC, the gateway's, its address, the gateway's, and
/// an address behind the gateway.
pub(crate) const OUR_MAC: ethernet::Addr = ethernet::Addr([2, 0, 0, 0, 0, 2]);
pub(crate) const GW_MAC: ethernet::Addr = ethernet::Addr([2, 0, 0, 0, 0, 1]);
pub(crate) const US: ipv4::Addr = ipv4::Addr([10, 0, 0, 2]);
pub(crate) const GW: ipv4::Addr = ipv4::Addr([10, 0, 0, 1]);
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

pub(crate) struct Peer {
    /// Frames the Interface sent.
    pub rx: Receiver<Vec<u8>>,
    /// Frames to deliver to the Interface's capture.
    pub tx: Sender<Vec<u8>>,
}

struct Tx(Mutex<Sender<Vec<u8>>>);
struct Rx {
    frames: Receiver<Vec<u8>>,
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
            Ok(frame) => {
                self.current = frame;
                Next::Frame(&self.current, Timestamp::now())
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
    super::Facts {
        library: "in-memory wire".into(),
        version: "ersatz test link".into(),
        immediate: true,
        immediate_available: true,
        nanosecond_timestamps: true,
        read_timeout: None,
        warning: None,
        breakloop_wakes_reader: true,
        timestamp_type: None,
        offered_timestamp_types: Vec::new(),
    }
}

// Peers for tests of what runs on an Interface (the probe engine, sweeps).

/// A frame from `src_mac` to us.
pub(crate) fn to_us(src_mac: ethernet::Addr, payload: ethernet::Payload<'_>) -> Vec<u8> {
    ethernet::Frame::new(OUR_MAC, src_mac, payload)
        .to_vec()
        .unwrap()
}

/// A peer on the wire: answers the gateway's ARP, and hands every other
/// frame to `answer`,
/// which says what to send back and after how long; until `done`. Returns
/// how many frames `answer` saw.
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
            later.retain(|(at, f)| *at > now || peer.tx.send(f.clone()).is_err());
            let Ok(bytes) = peer.rx.recv_timeout(Duration::from_millis(1)) else {
                continue;
            };
            let frame = parse::run(&bytes, ethernet::Frame::parse).unwrap();
            if let ethernet::Payload::ARP(p) = &frame.payload {
                if p.target_ip_addr == GW {
                    let reply = arp::request(OUR_MAC, US, GW).reply(GW_MAC);
                    peer.tx
                        .send(to_us(GW_MAC, reply.into_ethernet_payload()))
                        .unwrap();
                    continue;
                }
            }
            seen += 1;
            for (delay, f) in answer(&frame) {
                later.push((now + delay, f));
            }
        }
        seen
    })
}

/// The echo reply to an echo request frame, from its destination.
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
pub(crate) fn arp_reply(frame: &ethernet::Frame<'_>, mac: ethernet::Addr) -> Option<Vec<u8>> {
    match &frame.payload {
        ethernet::Payload::ARP(p) if p.operation == arp::Operation::Request => {
            Some(to_us(mac, p.reply(mac).into_ethernet_payload()))
        }
        _ => None,
    }
}
