//! An Interface on the in-memory wire with a peer that answers as a test
//! says: the setup of every engine and sweep unit test.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::capture::memory::{self, nic};
use crate::{ethernet, Interface};

/// The Interface and its peer; the peer stops when this drops.
pub(crate) struct Wired {
    pub interface: Interface,
    done: Arc<AtomicBool>,
    peer: Mutex<Option<JoinHandle<u32>>>,
}

impl Wired {
    /// The test NIC on the wire; `answer` says what the peer sends back to
    /// each frame (the gateway's ARP is answered for it): see
    /// [`memory::serve`].
    pub fn new(
        answer: impl Fn(&ethernet::Frame<'_>) -> Vec<(Duration, Vec<u8>)> + Send + 'static,
    ) -> Wired {
        let (link, wire) = memory::wire();
        let done = Arc::new(AtomicBool::new(false));
        let peer = memory::serve(wire, answer, done.clone());
        Wired {
            interface: Interface::with_link(nic(), None, link),
            done,
            peer: Mutex::new(Some(peer)),
        }
    }

    /// Stops the peer; returns how many frames it was handed (0 the second time).
    pub fn stop(&self) -> u32 {
        self.done.store(true, Ordering::SeqCst);
        let peer = self.peer.lock().ok().and_then(|mut p| p.take());
        peer.and_then(|p| p.join().ok()).unwrap_or(0)
    }
}

impl Drop for Wired {
    fn drop(&mut self) {
        self.stop();
    }
}
