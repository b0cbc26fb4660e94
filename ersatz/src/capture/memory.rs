//! An in-memory wire: what the Interface sends comes out of `peer_rx`,
//! what is put into `peer_tx` is captured (with the current time).

use super::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::netinfo::NIC;
use crate::{ethernet, ipv4};

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
        },
        Peer {
            rx: from_us,
            tx: to_us,
        },
    )
}
